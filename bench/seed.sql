-- Bench data, run as the superuser (RLS does not apply) in one transaction by bench/run.py.
-- Placeholders filled by run.py: {orgs}, {events}, {key_base}.
--
-- Organisation n (1..{orgs}) is derivable from n alone, so the pgbench scripts can pick a random
-- organisation without a lookup table:
--   id     = md5('keel-bench-org-' || n)::uuid          (looks random, like gen_random_uuid())
--   secret = '{key_base}' || lpad(n::text, 6, '0')       (starts with keel_sk_, ~50 chars)
--   api_keys.secret_hash = sha256(secret), exactly what keel.identity.service.hash_secret computes.

SET LOCAL synchronous_commit = off;
SET LOCAL work_mem = '256MB';
SET LOCAL maintenance_work_mem = '512MB';

INSERT INTO keel.organizations (id, name, slug, status, settings, created_at, updated_at)
SELECT md5('keel-bench-org-' || n)::uuid,
       'Bench Organisation ' || n,
       'bench-org-' || lpad(n::text, 6, '0'),
       'active',
       jsonb_build_object('locale', (ARRAY['en-GB', 'fr-FR', 'de-DE', 'es-ES'])[1 + n % 4],
                          'default_currency', (ARRAY['GBP', 'EUR', 'USD'])[1 + n % 3]),
       now() - interval '400 days' + n * interval '1 minute',
       now() - interval '400 days' + n * interval '1 minute'
FROM generate_series(1, {orgs}) AS n;

INSERT INTO keel.api_keys (id, org_id, name, prefix, secret_hash, created_by, created_at)
SELECT md5('keel-bench-key-' || n)::uuid,
       md5('keel-bench-org-' || n)::uuid,
       'Bench key',
       left('{key_base}' || lpad(n::text, 6, '0'), 12),
       sha256(convert_to('{key_base}' || lpad(n::text, 6, '0'), 'UTF8')),
       'platform:bench',
       now() - interval '400 days' + n * interval '1 minute'
FROM generate_series(1, {orgs}) AS n;

-- {events} audit rows, round-robin over the organisations, created_at uniformly over the last year.
-- Inserted in created_at order, as an append-only log would be written: the heap is time-ordered
-- and every organisation's rows are interleaved with everybody else's. The chain trigger is off for
-- the seed: rows are numbered per chain here and carry zero hashes (the bench measures reads, and a
-- million trigger calls in one transaction would make the seed, not the bench, the long part).
ALTER TABLE keel.audit_events DISABLE TRIGGER audit_chain;
INSERT INTO keel.audit_events
    (id, org_id, category, created_at, actor, action, entity_type, entity_id, request_id, ip, user_agent,
     before, after, seq, prev_hash, hash)
SELECT gen_random_uuid(),
       md5('keel-bench-org-' || org_n)::uuid,
       category,
       created_at,
       CASE WHEN g % 5 = 0 THEN 'system'
            ELSE 'api_key:' || md5('keel-bench-key-' || org_n)::uuid END,
       (ARRAY['contact.created', 'contact.updated', 'deal.created', 'deal.stage_changed',
              'invoice.issued', 'invoice.paid', 'order.created', 'order.shipped',
              'organization.updated', 'api_key.issued'])[1 + g % 10],
       (ARRAY['contact', 'contact', 'deal', 'deal', 'invoice', 'invoice', 'order', 'order',
              'organization', 'api_key'])[1 + g % 10],
       md5('entity-' || (g / 7))::uuid::text,
       md5('request-' || g),
       ('10.' || (g % 250) || '.' || (g / 250 % 250) || '.' || (1 + g % 253))::inet,
       (ARRAY['keel-sdk-python/1.4.2', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36',
              'curl/8.5.0', 'keel-sdk-node/2.0.1'])[1 + g % 4],
       CASE WHEN g % 10 IN (1, 3, 7) THEN
            jsonb_build_object('status', 'open', 'amount', (g % 9973) * 10,
                               'owner', 'user-' || (g % 37))
       END,
       jsonb_build_object('status', (ARRAY['open', 'won', 'paid', 'shipped'])[1 + g % 4],
                          'amount', (g % 9973) * 10 + 5, 'owner', 'user-' || (g % 41),
                          'name', 'Record ' || g),
       row_number() OVER (PARTITION BY org_n, category ORDER BY created_at),
       decode(repeat('00', 32), 'hex'),
       decode(repeat('00', 32), 'hex')
FROM (
    SELECT g,
           1 + g % {orgs} AS org_n,
           (ARRAY['general', 'general', 'general', 'general', 'money', 'money', 'general', 'general',
                  'security', 'security'])[1 + g % 10] AS category,
           now() - random() * interval '365 days' AS created_at
    FROM generate_series(1, {events}) AS g
) AS src
ORDER BY created_at;
INSERT INTO keel.audit_chains (org_id, category, seq, hash)
SELECT org_id, category, max(seq), decode(repeat('00', 32), 'hex') FROM keel.audit_events GROUP BY 1, 2;
ALTER TABLE keel.audit_events ENABLE TRIGGER audit_chain;
