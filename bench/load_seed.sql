-- Load-test data on top of bench/crm_seed.sql, run as the superuser (RLS does not apply) in one
-- transaction by bench/load.py. Parameters, set on the session by load.py before this runs:
--   bench.orgs           organisations (1,000)
--   bench.password_hash  one argon2id hash (Keel's parameters) of the members' shared password,
--                        computed once: every member signs in with it through the authorization server
--
-- Per organisation n (ids derivable as in crm_seed.sql):
--   members      the 10 members of crm_seed.sql get the password (user k: md5('keel-bench-user-n-k'))
--   100 leads    md5('keel-bench-lead-n-l'), owned by the reps (every 9th by the manager), over the
--                last year: new, working, qualified, disqualified (with a reason) and a few converted
--   300 audit    events of the last 150 days, as the members' work through the web app leaves them:
--                records created and changed, deals moved, activities logged, a few exports
--
-- The audit trail's chain trigger is off for the load: rows are numbered per (organisation, category)
-- chain here and carry zero hashes, and audit_chains continues each chain from its last row, so the
-- rows the API appends during the load are chained by the trigger as usual.

SET LOCAL synchronous_commit = off;
SET LOCAL work_mem = '256MB';

UPDATE keel.users SET password_hash = current_setting('bench.password_hash')
WHERE email LIKE '%@bench.example';

CREATE FUNCTION pg_temp.h(label text, m int) RETURNS int
LANGUAGE sql IMMUTABLE AS $$ SELECT (abs(hashtext(label)::bigint) % m)::int $$;

INSERT INTO keel.leads (id, org_id, first_name, last_name, company, title, email, phone, country, source,
                        status, disqualified_reason, owner_id, assignee_id, tags, created_at, updated_at,
                        converted_at)
SELECT md5('keel-bench-lead-' || l.n || '-' || l.l)::uuid,
       md5('keel-bench-org-' || l.n)::uuid,
       l.first_name,
       l.last_name,
       l.company,
       (ARRAY['Head of Operations', 'IT Manager', 'Founder', 'Purchasing', NULL])[1 + l.l % 5],
       lower(l.first_name || '.' || l.last_name || '@' || replace(lower(l.company), ' ', '') || '.example'),
       CASE WHEN l.l % 3 <> 0 THEN '+4940' || (1000000 + pg_temp.h('lead-phone-' || l.n || '-' || l.l, 8999999)) END,
       (ARRAY['DE', 'FR', 'GB', 'ES', 'IT', 'NL', 'US'])[1 + l.l % 7],
       (ARRAY['web', 'event', 'referral', 'outbound', 'partner'])[1 + l.l % 5],
       l.status,
       CASE WHEN l.status = 'disqualified' THEN (ARRAY['No budget', 'Not a fit', 'No answer'])[1 + l.l % 3] END,
       md5('keel-bench-user-' || l.n || '-' || CASE WHEN l.l % 9 = 0 THEN 2 ELSE 3 + l.l % 8 END)::uuid,
       NULL::uuid,
       CASE WHEN l.l % 4 = 0 THEN ARRAY['hot']::varchar(50)[] WHEN l.l % 7 = 0 THEN ARRAY['event-2026']::varchar(50)[]
            ELSE '{}'::varchar(50)[] END,
       l.created_at,
       l.created_at + interval '1 day',
       CASE WHEN l.status = 'converted' THEN l.created_at + interval '10 days' END
FROM (
    SELECT n, l,
           (ARRAY['Maria', 'Lucas', 'Sofia', 'Jan', 'Emma', 'Omar', 'Yuki', 'Pablo', 'Ingrid', 'Raj'])[1 + pg_temp.h('lf-' || n || '-' || l, 10)] AS first_name,
           (ARRAY['Becker', 'Rossi', 'Dubois', 'Nowak', 'Tanaka', 'Silva', 'Hansen', 'Patel', 'Murphy', 'Kaya'])[1 + pg_temp.h('ll-' || n || '-' || l, 10)] AS last_name,
           (ARRAY['Harbor', 'Summit', 'Meridian', 'Kestrel', 'Juniper', 'Ironwood'])[1 + l % 6] || ' '
               || (ARRAY['Freight', 'Dental', 'Studios', 'Bakery', 'Metals', 'Clinics', 'Hotels'])[1 + (l / 6 + n) % 7] AS company,
           CASE WHEN l % 20 = 0 THEN 'converted'
                ELSE (ARRAY['new', 'new', 'new', 'new', 'working', 'working', 'working', 'qualified', 'qualified',
                            'disqualified'])[1 + pg_temp.h('ls-' || n || '-' || l, 10)] END AS status,
           now() - (pg_temp.h('lead-created-' || n || '-' || l, 365 * 24) || ' hours')::interval AS created_at
    FROM generate_series(1, current_setting('bench.orgs')::int) AS n, generate_series(1, 100) AS l
) AS l
ORDER BY l.created_at;

ALTER TABLE keel.audit_events DISABLE TRIGGER audit_chain;
INSERT INTO keel.audit_events
    (id, org_id, category, created_at, actor, client_id, action, entity_type, entity_id, request_id, ip,
     user_agent, before, after, seq, prev_hash, hash)
SELECT gen_random_uuid(),
       md5('keel-bench-org-' || e.n)::uuid,
       e.category,
       e.created_at,
       'user:' || md5('keel-bench-user-' || e.n || '-' || e.member)::uuid,
       'keel-web',
       e.action,
       e.entity_type,
       md5('keel-bench-' || e.entity_type || '-' || e.n || '-' || e.record)::uuid::text,
       md5('request-' || e.n || '-' || e.i),
       ('10.' || (e.n % 250) || '.' || (e.member * 7) || '.' || (1 + e.i % 253))::inet,
       'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36',
       CASE WHEN e.action LIKE '%.updated' OR e.action = 'deal.stage_changed'
            THEN jsonb_build_object('title', 'Buyer', 'phone', '+4930' || (1000000 + e.i)) END,
       CASE WHEN e.category = 'access' THEN jsonb_build_object('filter', jsonb_build_object('tag', 'vip'))
            ELSE jsonb_build_object('title', 'Head of Sales', 'phone', '+4930' || (2000000 + e.i), 'tags',
                                    jsonb_build_array('vip')) END,
       row_number() OVER (PARTITION BY e.n, e.category ORDER BY e.created_at),
       decode(repeat('00', 32), 'hex'),
       decode(repeat('00', 32), 'hex')
FROM (
    SELECT n, i, a.action, a.entity_type,
           CASE WHEN a.action LIKE 'crm_export.%' THEN 'access' ELSE 'general' END AS category,
           2 + pg_temp.h('audit-member-' || n || '-' || i, 9) AS member,
           1 + pg_temp.h('audit-record-' || n || '-' || i, CASE a.entity_type WHEN 'contact' THEN 1000 ELSE 200 END) AS record,
           now() - (pg_temp.h('audit-at-' || n || '-' || i, 150 * 24 * 60) || ' minutes')::interval AS created_at
    FROM generate_series(1, current_setting('bench.orgs')::int) AS n,
         generate_series(1, 300) AS i,
         LATERAL (SELECT (ARRAY['contact.created', 'contact.updated', 'contact.updated', 'deal.created',
                                'deal.stage_changed', 'deal.stage_changed', 'account.updated', 'activity.created',
                                'activity.created', 'crm_export.contacts'])[1 + i % 10] AS action) AS pick,
         LATERAL (SELECT pick.action AS action,
                         CASE split_part(pick.action, '.', 1) WHEN 'crm_export' THEN 'contact'
                              ELSE split_part(pick.action, '.', 1) END AS entity_type) AS a
) AS e
ORDER BY e.created_at;
INSERT INTO keel.audit_chains (org_id, category, seq, hash)
SELECT org_id, category, max(seq), decode(repeat('00', 32), 'hex') FROM keel.audit_events GROUP BY 1, 2;
ALTER TABLE keel.audit_events ENABLE TRIGGER audit_chain;
