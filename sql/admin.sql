-- create_registry, create_upstream, update_upstream and delete_upstream: the
-- same rows and the same refusals (with their SQLSTATEs) as the INSERT,
-- UPDATE and DELETE they run; every refused call leaves the tables unchanged.
\set VERBOSITY terse
SELECT vreg_test.reset();
-- The tests after this one name rows by the ids the sequences give them:
-- every sequence is put back at the end as it is now.
CREATE TEMP TABLE admin_sequences AS
  SELECT 'containers_vreg.registries_id_seq'::regclass AS seq, last_value, is_called FROM containers_vreg.registries_id_seq
  UNION ALL SELECT 'containers_vreg.upstreams_id_seq', last_value, is_called FROM containers_vreg.upstreams_id_seq
  UNION ALL SELECT 'containers_vreg.registry_upstreams_id_seq', last_value, is_called FROM containers_vreg.registry_upstreams_id_seq
  UNION ALL SELECT 'containers_vreg.cache_entries_id_seq', last_value, is_called FROM containers_vreg.cache_entries_id_seq;

-- 1. create_registry: the id of the inserted row.
SELECT containers_vreg.create_registry(7, 'containers', 'images of group 7') AS r1 \gset
SELECT id = :r1 AS id_returned, group_id, name, description
  FROM containers_vreg.registries WHERE group_id = 7;
SELECT containers_vreg.create_registry(7, 'second') AS r2 \gset
SELECT :r2 > :r1 AS second_id_later, description IS NULL AS no_description
  FROM containers_vreg.registries WHERE group_id = 7 AND id = :r2;
SELECT vreg_test.state() AS s0 \gset
-- every table rule, with its SQLSTATE, and nothing written
SELECT vreg_test.err($$SELECT containers_vreg.create_registry(7, 'containers')$$) AS duplicate_name;
SELECT vreg_test.err($$SELECT containers_vreg.create_registry(7, '   ')$$) AS blank_name;
SELECT vreg_test.err($$SELECT containers_vreg.create_registry(7, '')$$) AS empty_name;
SELECT vreg_test.err($$SELECT containers_vreg.create_registry(7, repeat('n', 256))$$) AS long_name;
SELECT vreg_test.err($$SELECT containers_vreg.create_registry(7, 'd', repeat('d', 1025))$$) AS long_description;
SELECT vreg_test.err($$SELECT containers_vreg.create_registry(NULL, 'x')$$) AS null_group;
SELECT vreg_test.err($$SELECT containers_vreg.create_registry(7, NULL)$$) AS null_name;
SELECT vreg_test.state() = :'s0' AS unchanged;
-- the 6th registry of a group (the limit of 5 is the table's trigger)
SELECT containers_vreg.create_registry(7, 'r' || g) IS NOT NULL AS created FROM generate_series(3, 5) g;
SELECT vreg_test.state() AS s1 \gset
SELECT vreg_test.err($$SELECT containers_vreg.create_registry(7, 'sixth')$$) AS sixth_registry;
SELECT vreg_test.state() = :'s1' AS unchanged;
SELECT count(*) AS registries_of_group_7 FROM containers_vreg.registries WHERE group_id = 7;

-- 2. create_upstream: defaults as the table's, credentials sealed.
SELECT containers_vreg.create_upstream(7, 'https://registry-1.docker.io') AS u1 \gset
SELECT id = :u1 AS id_returned, url, name, description IS NULL AS no_description,
       cache_validity_hours, credentials IS NULL AS no_credentials
  FROM containers_vreg.upstreams WHERE group_id = 7 AND id = :u1;
SELECT containers_vreg.create_upstream(7, 'https://ghcr.io', 'GitHub', 'private images', 0::smallint,
  '{"username": "ci-bot", "password": "AdminCanary-1"}') AS u2 \gset
SELECT url, name, description, cache_validity_hours,
       credentials ? 'ct' AS sealed, credentials::text NOT LIKE '%AdminCanary%' AS no_plaintext,
       octet_length(credentials_fingerprint) > 0 AS fingerprint
  FROM containers_vreg.upstreams WHERE group_id = 7 AND id = :u2;
SELECT containers_vreg.upstream_credentials(7, :u2) AS opened;
SELECT vreg_test.state() AS s2 \gset
SELECT vreg_test.err($$SELECT containers_vreg.create_upstream(7, 'https://registry-1.docker.io', 'again')$$) AS same_url_no_credentials;
SELECT vreg_test.err($$SELECT containers_vreg.create_upstream(7, 'https://ghcr.io', 'again', NULL, 24::smallint, '{"username": "ci-bot", "password": "AdminCanary-1"}')$$) AS same_url_same_credentials;
SELECT vreg_test.err($$SELECT containers_vreg.create_upstream(7, 'ftp://ghcr.io')$$) AS bad_scheme;
SELECT vreg_test.err($$SELECT containers_vreg.create_upstream(7, 'http://169.254.169.254/latest')$$) AS link_local;
SELECT vreg_test.err($$SELECT containers_vreg.create_upstream(7, 'https://u:p@ghcr.io')$$) AS userinfo;
SELECT vreg_test.err($$SELECT containers_vreg.create_upstream(7, 'https://' || repeat('a', 250) || '.io')$$) AS long_url;
SELECT vreg_test.err($$SELECT containers_vreg.create_upstream(7, 'http://127.0.0.1:5000')$$) AS local_refused;
SELECT vreg_test.err($$SELECT containers_vreg.create_upstream(7, 'https://quay.io', repeat('n', 256))$$) AS long_name;
SELECT vreg_test.err($$SELECT containers_vreg.create_upstream(7, 'https://quay.io', '', repeat('d', 1025))$$) AS long_description;
SELECT vreg_test.err($$SELECT containers_vreg.create_upstream(7, 'https://quay.io', '', NULL, (-1)::smallint)$$) AS negative_validity;
SELECT vreg_test.err($$SELECT containers_vreg.create_upstream(7, 'https://quay.io', '', NULL, 24::smallint, '{"username": "u"}')$$) AS half_credentials;
SELECT vreg_test.err($$SELECT containers_vreg.create_upstream(NULL, 'https://quay.io')$$) AS null_group;
SELECT vreg_test.err($$SELECT containers_vreg.create_upstream(7, NULL)$$) AS null_url;
SELECT vreg_test.err($$SELECT containers_vreg.create_upstream(7, 'https://quay.io', NULL)$$) AS null_name;
SELECT vreg_test.err($$SELECT containers_vreg.create_upstream(7, 'https://quay.io', '', NULL, NULL)$$) AS null_validity;
SELECT vreg_test.state() = :'s2' AS unchanged;
-- A CHECK error of a row with credentials shows no row (the envelope), the
-- same error as the INSERT's otherwise.
DO $$
BEGIN
  PERFORM containers_vreg.create_upstream(7, 'https://quay.io', '', repeat('d', 1025), 24::smallint,
    '{"username": "u", "password": "AdminCanary-2"}');
EXCEPTION WHEN check_violation THEN
  DECLARE m text; d text; h text; c text;
  BEGIN
    GET STACKED DIAGNOSTICS m = MESSAGE_TEXT, d = PG_EXCEPTION_DETAIL, h = PG_EXCEPTION_HINT, c = CONSTRAINT_NAME;
    RAISE NOTICE 'message: %; constraint: %; detail: "%"; hint: %', m, c, d, h;
  END;
END $$;
-- The local-network rule follows containers_vreg.allow_local_upstreams.
SET containers_vreg.allow_local_upstreams = on;
SELECT containers_vreg.create_upstream(7, 'http://127.0.0.1:5000', 'local') AS u3 \gset
RESET containers_vreg.allow_local_upstreams;
SELECT url, name FROM containers_vreg.upstreams WHERE group_id = 7 AND id = :u3;

-- 3. update_upstream: NULL keeps, a value sets, clear_credentials clears.
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id) VALUES (7, :r1, :u2);
INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
VALUES (7, :u2, '/library/alpine/manifests/3.21', 10, 'f', 'groups/7/admin-e1', '\x0000000000000000000000000000000000000000');
SELECT credentials AS envelope, credentials_fingerprint AS fingerprint
  FROM containers_vreg.upstreams WHERE group_id = 7 AND id = :u2 \gset
-- nothing given: the row is not touched
SELECT updated_at AS before FROM containers_vreg.upstreams WHERE group_id = 7 AND id = :u2 \gset
SELECT containers_vreg.update_upstream(7, :u2);
SELECT updated_at = :'before' AS not_touched FROM containers_vreg.upstreams WHERE group_id = 7 AND id = :u2;
-- name and validity set, the rest kept (credentials too: the same envelope)
SELECT containers_vreg.update_upstream(7, :u2, name => 'GitHub (ci)', cache_validity_hours => 12::smallint);
SELECT url, name, description, cache_validity_hours, credentials = :'envelope'::jsonb AS same_envelope,
       updated_at > :'before' AS updated_at_moved
  FROM containers_vreg.upstreams WHERE group_id = 7 AND id = :u2;
-- description '' is stored as given; NULL keeps it
SELECT containers_vreg.update_upstream(7, :u2, description => '');
SELECT description = '' AS empty_description FROM containers_vreg.upstreams WHERE group_id = 7 AND id = :u2;
SELECT containers_vreg.update_upstream(7, :u2, description => 'private images');
-- new credentials: sealed again, another fingerprint
SELECT containers_vreg.update_upstream(7, :u2, credentials => '{"username": "ci-bot", "password": "AdminCanary-3"}');
SELECT credentials <> :'envelope'::jsonb AS new_envelope, credentials::text NOT LIKE '%AdminCanary%' AS no_plaintext,
       credentials_fingerprint <> :'fingerprint'::bytea AS new_fingerprint
  FROM containers_vreg.upstreams WHERE group_id = 7 AND id = :u2;
SELECT containers_vreg.upstream_credentials(7, :u2)->>'password' AS opened;
-- the same url again does not clear them (the column is set, not changed)
SELECT containers_vreg.update_upstream(7, :u2, url => 'https://ghcr.io');
SELECT credentials IS NOT NULL AS kept FROM containers_vreg.upstreams WHERE group_id = 7 AND id = :u2;
SELECT vreg_test.state() AS s3 \gset
-- refusals, each leaving the tables unchanged
SELECT vreg_test.err(format('SELECT containers_vreg.update_upstream(7, %s, credentials => %L, clear_credentials => true)', :u2, '{"username": "a", "password": "b"}')) AS both_credentials_and_clear;
SELECT vreg_test.err(format('SELECT containers_vreg.update_upstream(7, %s, clear_credentials => NULL)', :u2)) AS null_clear;
SELECT vreg_test.err(format('SELECT containers_vreg.update_upstream(7, %s, credentials => %L)', :u2, '{}')) AS empty_credentials;
SELECT vreg_test.err(format('SELECT containers_vreg.update_upstream(7, %s, credentials => %L)', :u2, '{"username": "", "password": ""}')) AS empty_strings;
SELECT vreg_test.err($$SELECT containers_vreg.update_upstream(NULL, 1, name => 'x')$$) AS null_group;
SELECT vreg_test.err($$SELECT containers_vreg.update_upstream(7, NULL, name => 'x')$$) AS null_upstream;
SELECT vreg_test.err($$SELECT containers_vreg.update_upstream(7, -1, name => 'x')$$) AS unknown_upstream;
SELECT vreg_test.err($$SELECT containers_vreg.update_upstream(7, -1)$$) AS unknown_upstream_nothing_to_change;
SELECT vreg_test.err(format('SELECT containers_vreg.update_upstream(8, %s, name => %L)', :u2, 'x')) AS other_group;
SELECT vreg_test.err(format('SELECT containers_vreg.update_upstream(7, %s, url => %L)', :u2, 'http://10.0.0.1')) AS private_url;
SELECT vreg_test.err(format('SELECT containers_vreg.update_upstream(7, %s, url => %L)', :u2, 'https://registry-1.docker.io')) AS duplicate_url;
SELECT vreg_test.err(format('SELECT containers_vreg.update_upstream(7, %s, cache_validity_hours => -5::smallint)', :u2)) AS negative_validity;
SELECT vreg_test.err(format('SELECT containers_vreg.update_upstream(7, %s, name => repeat(%L, 256))', :u2, 'n')) AS long_name;
SELECT vreg_test.err(format('SELECT containers_vreg.update_upstream(7, %s, credentials => %L)', :u2, '{"password": "p"}')) AS half_credentials;
SELECT vreg_test.state() = :'s3' AS unchanged;
-- a url change: the credentials are cleared and the live entries marked
-- pending destruction, as the table's triggers do for the same UPDATE
SELECT containers_vreg.update_upstream(7, :u2, url => 'https://europe-docker.pkg.dev');
SELECT url, name, credentials IS NULL AS credentials_cleared, credentials_fingerprint = '\x' AS no_fingerprint
  FROM containers_vreg.upstreams WHERE group_id = 7 AND id = :u2;
SELECT relative_path, status FROM containers_vreg.cache_entries WHERE group_id = 7 AND upstream_id = :u2;
-- a url change with new credentials keeps the new ones
SELECT containers_vreg.update_upstream(7, :u2, url => 'https://ghcr.io',
  credentials => '{"username": "ci-bot", "password": "AdminCanary-4"}');
SELECT containers_vreg.upstream_credentials(7, :u2)->>'password' AS opened;
-- clear_credentials
SELECT containers_vreg.update_upstream(7, :u2, clear_credentials => true);
SELECT url, credentials IS NULL AS cleared, credentials_fingerprint = '\x' AS no_fingerprint
  FROM containers_vreg.upstreams WHERE group_id = 7 AND id = :u2;

-- 4. delete_upstream: true, then false; the links cascade and later
-- positions move up; the live entries are marked.
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id) VALUES (7, :r1, :u1);
SELECT position, upstream_id = :u1 AS is_u1 FROM containers_vreg.registry_upstreams(7, :r1);
INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
VALUES (7, :u2, '/library/alpine/manifests/3.22', 10, 'f', 'groups/7/admin-e2', '\x0000000000000000000000000000000000000000');
SELECT vreg_test.state() AS s4 \gset
SELECT vreg_test.err($$SELECT containers_vreg.delete_upstream(NULL, 1)$$) AS null_group;
SELECT vreg_test.err($$SELECT containers_vreg.delete_upstream(7, NULL)$$) AS null_upstream;
SELECT containers_vreg.delete_upstream(8, :u2) AS other_group;
SELECT vreg_test.state() = :'s4' AS unchanged;
SELECT containers_vreg.delete_upstream(7, :u2) AS deleted;
SELECT containers_vreg.delete_upstream(7, :u2) AS deleted_again;
SELECT position, upstream_id = :u1 AS is_u1 FROM containers_vreg.registry_upstreams(7, :r1);
SELECT relative_path, status FROM containers_vreg.cache_entries WHERE group_id = 7 AND upstream_id = :u2 ORDER BY 1;

-- 5. The caller's rights decide (SECURITY INVOKER): a role with EXECUTE but
-- no table privilege gets 42501; one with the column grants can.
CREATE ROLE vreg_admin_t NOLOGIN;
GRANT USAGE ON SCHEMA containers_vreg, vreg_test TO vreg_admin_t;
GRANT EXECUTE ON FUNCTION containers_vreg.create_registry(bigint, text, text),
  containers_vreg.create_upstream(bigint, text, text, text, smallint, jsonb),
  containers_vreg.update_upstream(bigint, bigint, text, text, text, smallint, jsonb, boolean),
  containers_vreg.delete_upstream(bigint, bigint) TO vreg_admin_t;
SET ROLE vreg_admin_t;
SELECT vreg_test.err($$SELECT containers_vreg.create_registry(9, 'x')$$) AS no_table_privilege;
SELECT vreg_test.err($$SELECT containers_vreg.create_upstream(9, 'https://quay.io')$$) AS no_table_privilege;
SELECT vreg_test.err(format('SELECT containers_vreg.update_upstream(7, %s, name => %L)', :u1, 'x')) AS no_table_privilege;
SELECT vreg_test.err(format('SELECT containers_vreg.delete_upstream(7, %s)', :u1)) AS no_table_privilege;
RESET ROLE;
GRANT SELECT (group_id, id), UPDATE (name) ON containers_vreg.upstreams TO vreg_admin_t;
SET ROLE vreg_admin_t;
SELECT vreg_test.err(format('SELECT containers_vreg.update_upstream(7, %s, name => %L)', :u1, 'Docker Hub')) AS name_granted;
SELECT vreg_test.err(format('SELECT containers_vreg.update_upstream(7, %s, description => %L)', :u1, 'x')) AS description_not_granted;
RESET ROLE;
SELECT name FROM containers_vreg.upstreams WHERE group_id = 7 AND id = :u1;
-- row-level security applies: a policy hiding group 7 makes its upstream unknown
ALTER TABLE containers_vreg.upstreams ENABLE ROW LEVEL SECURITY;
CREATE POLICY admin_t_not_7 ON containers_vreg.upstreams TO vreg_admin_t USING (group_id <> 7);
SET ROLE vreg_admin_t;
SELECT vreg_test.err(format('SELECT containers_vreg.update_upstream(7, %s, name => %L)', :u1, 'hidden')) AS hidden_by_policy;
RESET ROLE;
DROP POLICY admin_t_not_7 ON containers_vreg.upstreams;
ALTER TABLE containers_vreg.upstreams DISABLE ROW LEVEL SECURITY;
REVOKE ALL ON containers_vreg.upstreams FROM vreg_admin_t;
REVOKE ALL ON SCHEMA containers_vreg, vreg_test FROM vreg_admin_t;
REVOKE ALL ON FUNCTION containers_vreg.create_registry(bigint, text, text),
  containers_vreg.create_upstream(bigint, text, text, text, smallint, jsonb),
  containers_vreg.update_upstream(bigint, bigint, text, text, text, smallint, jsonb, boolean),
  containers_vreg.delete_upstream(bigint, bigint) FROM vreg_admin_t;
DROP ROLE vreg_admin_t;

SELECT vreg_test.reset();
SELECT count(setval(seq, last_value, is_called)) AS sequences_restored FROM admin_sequences;
DROP TABLE admin_sequences;
