-- Search bench data (bench/search.py), run right after bench/crm_seed.sql in the same transaction, so its
-- temporary word and member tables are still there. Organisation 1 grows to bench.search_contacts
-- contacts (100,000): the same names, owners and mail providers as crm_seed.sql's contacts without an
-- account, each e-mail made unique by the contact's number ("maria.garcia1234@mail.example").
INSERT INTO keel.contacts (id, org_id, first_name, last_name, title, email, phone, owner_id, assignee_id,
                           tags, created_at, updated_at)
SELECT md5('keel-bench-contact-1-' || c.c)::uuid,
       o.id,
       f.name,
       l.name,
       (ARRAY['CEO', 'CFO', 'CTO', 'Head of Sales', 'Buyer', 'Engineer', 'Office Manager', NULL, NULL])[1 + c.c % 9],
       lower(f.name || '.' || l.name) || c.c || '@'
           || (ARRAY['mail.example', 'post.example', 'inbox.example'])[1 + c.c % 3],
       NULL,
       owner.id,
       NULL::uuid,
       '{}',
       c.created_at, c.created_at
FROM (
    SELECT c,
           1 + pg_temp.h('first-1-' || c, (SELECT count(*) FROM first_names)::int) AS first_name,
           1 + pg_temp.h('last-1-' || c, (SELECT count(*) FROM last_names)::int) AS last_name,
           now() - interval '1095 days'
               + (pg_temp.h('contact-created-1-' || c, 1090 * 24) || ' hours')::interval AS created_at
    FROM generate_series(1001, current_setting('bench.search_contacts')::int) AS c
) AS c
JOIN org_ids AS o ON o.n = 1
JOIN first_names AS f ON f.i = c.first_name
JOIN last_names AS l ON l.i = c.last_name
JOIN member_ids AS owner ON owner.n = 1 AND owner.k = 2 + c.c % 9
ORDER BY c.created_at;
