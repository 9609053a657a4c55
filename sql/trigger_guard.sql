-- Trigger functions act only as the triggers the extension defines.
-- * A role with nothing but USAGE on the schema cannot attach any of them to
--   a table of its own: none is executable by PUBLIC (42501). (Before, it
--   could attach the SECURITY DEFINER credentials trigger and use it as a
--   fingerprint oracle and envelope mint with the owner's rights.)
-- * A role that may attach them (the owner, a superuser, a role granted
--   EXECUTE) gets 39P01 from every one of them on any relation but its own
--   table (or a partition of it), and at any other timing, level or event,
--   with no row written anywhere.
-- * The extension's own triggers keep firing for roles without EXECUTE, on
--   the tables and on cache_entries' partitions at any depth.
\set VERBOSITY terse
SELECT vreg_test.reset();
TRUNCATE containers_vreg.fetch_leases, containers_vreg.usage_deltas;
GRANT USAGE ON SCHEMA vreg_test TO PUBLIC;

-- fire(create_trigger, dml): create the trigger, run the statement; 'ok' or
-- 'SQLSTATE: message'. Either way it is rolled back, trigger included.
CREATE FUNCTION vreg_test.fire(create_trigger text, dml text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  BEGIN
    EXECUTE create_trigger;
    EXECUTE dml;
    RAISE EXCEPTION USING ERRCODE = 'VRGOK', MESSAGE = 'ok';
  EXCEPTION WHEN OTHERS THEN
    IF SQLSTATE = 'VRGOK' THEN
      RETURN 'ok';
    END IF;
    -- a temporary schema's number depends on the session
    RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, 'pg_temp_[0-9]+', 'pg_temp_N');
  END;
END $$;

-- Upstream 7 of group 42 with credentials, one live entry of it, a lease.
INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials)
VALUES (42, 7, 'https://ghcr.io', '{"username": "bot", "password": "hunter2"}');
INSERT INTO containers_vreg.cache_entries
  (group_id, id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
VALUES (42, 70, 7, '/library/alpine/manifests/3.21', 10, 'f', 'groups/42/e70',
        '\x0000000000000000000000000000000000000000');
SELECT containers_vreg.claim_fetch(42, 7, 'library/alpine/manifests/3.22') AS leased;
SELECT vreg_test.state() AS s0 \gset
CREATE FUNCTION vreg_test.side_tables() RETURNS text LANGUAGE sql AS $$
  SELECT concat_ws(' | ',
    (SELECT string_agg(d::text, ',' ORDER BY d::text) FROM containers_vreg.usage_deltas d),
    (SELECT string_agg(l.relative_path, ',') FROM containers_vreg.fetch_leases l),
    (SELECT count(*) FROM containers_vreg.credentials_secret))
$$;
SELECT vreg_test.side_tables() AS side0 \gset

-- 1. The trigger functions of the extension; none is executable by PUBLIC,
-- nor is the check the PL/pgSQL ones call.
SELECT p.proname, p.prosecdef AS security_definer,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_can_execute
  FROM pg_proc p
  JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
  JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'containers_vreg'
 WHERE p.prorettype = 'trigger'::regtype OR p.proname = 'check_trigger_context'
 ORDER BY 1;
-- every trigger of the extension uses one of them
SELECT t.tgrelid::regclass AS tbl, t.tgname, t.tgfoid::regproc AS function
  FROM pg_trigger t
 WHERE NOT t.tgisinternal AND t.tgrelid IN (SELECT c.oid FROM pg_class c WHERE c.relnamespace = 'containers_vreg'::regnamespace
                       AND c.relname IN ('registries', 'upstreams', 'registry_upstreams', 'cache_entries'))
 ORDER BY 1, 2;

-- 2. The oracle, for every trigger function: a table of the caller's own with
-- every column any of them reads, one row in it, a trigger at the function's
-- own timing, level and event, then the statement that fires it.
CREATE TABLE vreg_test.oracle_cases (fn text, timing text, dml text);
INSERT INTO vreg_test.oracle_cases VALUES
  ('row_guard', 'BEFORE UPDATE ON %s FOR EACH ROW', 'UPDATE %s SET name = ''x'''),
  ('registries_limit', 'BEFORE INSERT ON %s FOR EACH ROW', 'INSERT INTO %s (group_id, id) VALUES (42, 98)'),
  ('cache_entries_status_guard', 'BEFORE UPDATE ON %s FOR EACH ROW', 'UPDATE %s SET status = 0'),
  ('positions_before_insert', 'BEFORE INSERT ON %s FOR EACH ROW', 'INSERT INTO %s (group_id, id, registry_id, upstream_id) VALUES (42, 98, 1, 7)'),
  ('positions_before_update', 'BEFORE UPDATE ON %s FOR EACH ROW', 'UPDATE %s SET position = 2'),
  ('positions_after_update', 'AFTER UPDATE ON %s REFERENCING OLD TABLE AS vreg_old_links NEW TABLE AS vreg_new_links FOR EACH STATEMENT', 'UPDATE %s SET position = 2'),
  ('positions_after_delete', 'AFTER DELETE ON %s REFERENCING OLD TABLE AS vreg_old_links FOR EACH STATEMENT', 'DELETE FROM %s'),
  ('positions_check', 'AFTER INSERT ON %s FOR EACH ROW', 'INSERT INTO %s (group_id, id, registry_id, upstream_id, position) VALUES (42, 98, 1, 7, 9)'),
  ('upstreams_lock_registries', 'BEFORE DELETE ON %s FOR EACH ROW', 'DELETE FROM %s'),
  ('upstreams_credentials', 'BEFORE INSERT OR UPDATE ON %s FOR EACH ROW',
   'INSERT INTO %s (group_id, id, url, credentials) VALUES (42, 99, ''https://ghcr.io'', ''{"username": "bot", "password": "hunter2"}'')'),
  ('upstreams_mark_entries', 'AFTER DELETE ON %s FOR EACH ROW', 'DELETE FROM %s'),
  ('upstreams_url_network', 'BEFORE INSERT OR UPDATE ON %s FOR EACH ROW',
   'INSERT INTO %s (group_id, id, url) VALUES (42, 99, ''http://127.0.0.1:5000'')'),
  ('upstreams_url_changed', 'AFTER UPDATE ON %s FOR EACH ROW', 'UPDATE %s SET url = ''https://quay.io'''),
  ('cache_entries_release_fetch_lease', 'AFTER INSERT ON %s FOR EACH ROW',
   'INSERT INTO %s (group_id, id, upstream_id, relative_path, status) VALUES (42, 98, 7, ''/library/alpine/manifests/3.22'', 0)'),
  ('cache_entries_track_usage', 'AFTER INSERT ON %s FOR EACH ROW',
   'INSERT INTO %s (group_id, id, upstream_id, status, size) VALUES (42, 98, 7, 0, 1099511627776)'),
  ('cache_entries_truncate_usage', 'AFTER TRUNCATE ON %s FOR EACH STATEMENT', 'TRUNCATE %s');
GRANT SELECT ON vreg_test.oracle_cases TO PUBLIC;

CREATE FUNCTION vreg_test.oracle(tbl text) RETURNS TABLE (fn text, result text)
LANGUAGE sql AS $$
  SELECT c.fn, vreg_test.fire(
           format('CREATE TRIGGER oracle ' || c.timing || ' EXECUTE FUNCTION containers_vreg.%I()', tbl, c.fn),
           format(c.dml, tbl))
    FROM vreg_test.oracle_cases c ORDER BY c.fn
$$;
CREATE FUNCTION vreg_test.oracle_table(tbl text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE TABLE %s (group_id bigint, id bigint, url text, credentials jsonb,
                    credentials_fingerprint bytea, name text, registry_id bigint, upstream_id bigint,
                    position smallint, status smallint, size bigint, relative_path text,
                    updated_at timestamptz)', tbl);
  EXECUTE format('INSERT INTO %s (group_id, id, url, upstream_id, registry_id, position, status, size)
                  VALUES (42, 7, ''https://ghcr.io'', 7, 1, 1, 2, 1)', tbl);
END $$;
CREATE FUNCTION vreg_test.oracle_rows(tbl text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  res text;
BEGIN
  EXECUTE format('SELECT string_agg(concat_ws(''/'', group_id, id, status, credentials IS NULL,
                    credentials_fingerprint IS NULL), '', '') FROM %s', tbl) INTO res;
  RETURN res;
END $$;

-- 2a. A role with only USAGE on the schema (and TEMP, as every role has).
CREATE ROLE regress_vreg_oracle;
GRANT USAGE ON SCHEMA containers_vreg TO regress_vreg_oracle;
SET ROLE regress_vreg_oracle;
SELECT vreg_test.oracle_table('pg_temp.o');
SELECT * FROM vreg_test.oracle('pg_temp.o');
SELECT vreg_test.oracle_rows('pg_temp.o') AS oracle_rows;
RESET ROLE;
SELECT vreg_test.state() = :'s0' AS tables_unchanged, vreg_test.side_tables() = :'side0' AS side_tables_unchanged;

-- 2b. A superuser may attach them: each one refuses the foreign table.
SELECT vreg_test.oracle_table('pg_temp.o2');
SELECT * FROM vreg_test.oracle('pg_temp.o2');
SELECT vreg_test.oracle_rows('pg_temp.o2') AS oracle_rows;
SELECT vreg_test.state() = :'s0' AS tables_unchanged, vreg_test.side_tables() = :'side0' AS side_tables_unchanged;
SELECT status AS entry_70_status FROM containers_vreg.cache_entries WHERE group_id = 42 AND id = 70;

-- 2c. Another table of the extension's schema is not theirs either.
SELECT vreg_test.fire($$CREATE TRIGGER oracle BEFORE INSERT ON containers_vreg.registries FOR EACH ROW EXECUTE FUNCTION containers_vreg.upstreams_credentials()$$,
                      $$INSERT INTO containers_vreg.registries (group_id, name) VALUES (42, 'r')$$) AS credentials_on_registries;
SELECT vreg_test.fire($$CREATE TRIGGER oracle AFTER DELETE ON containers_vreg.registries FOR EACH ROW EXECUTE FUNCTION containers_vreg.upstreams_mark_entries()$$,
                      $$INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (42, 7, 'r'); DELETE FROM containers_vreg.registries$$) AS mark_entries_on_registries;

-- 3. Their own table at another timing, level or event.
SELECT t.what, vreg_test.fire(t.create_trigger, t.dml) AS result
  FROM (VALUES
    (1, 'credentials AFTER INSERT', 'CREATE TRIGGER wrong AFTER INSERT ON containers_vreg.upstreams FOR EACH ROW EXECUTE FUNCTION containers_vreg.upstreams_credentials()',
        'INSERT INTO containers_vreg.upstreams (group_id, id, url) VALUES (42, 8, ''https://quay.io'')'),
    (2, 'credentials FOR EACH STATEMENT', 'CREATE TRIGGER wrong BEFORE INSERT ON containers_vreg.upstreams FOR EACH STATEMENT EXECUTE FUNCTION containers_vreg.upstreams_credentials()',
        'INSERT INTO containers_vreg.upstreams (group_id, id, url) VALUES (42, 8, ''https://quay.io'')'),
    (3, 'credentials BEFORE DELETE', 'CREATE TRIGGER wrong BEFORE DELETE ON containers_vreg.upstreams FOR EACH ROW EXECUTE FUNCTION containers_vreg.upstreams_credentials()',
        'DELETE FROM containers_vreg.upstreams WHERE id = 7'),
    (4, 'mark_entries BEFORE DELETE', 'CREATE TRIGGER wrong BEFORE DELETE ON containers_vreg.upstreams FOR EACH ROW EXECUTE FUNCTION containers_vreg.upstreams_mark_entries()',
        'DELETE FROM containers_vreg.upstreams WHERE id = 7'),
    (5, 'row_guard BEFORE INSERT', 'CREATE TRIGGER wrong BEFORE INSERT ON containers_vreg.registries FOR EACH ROW EXECUTE FUNCTION containers_vreg.row_guard()',
        'INSERT INTO containers_vreg.registries (group_id, name) VALUES (42, ''r'')'),
    (6, 'truncate_usage AFTER DELETE', 'CREATE TRIGGER wrong AFTER DELETE ON containers_vreg.cache_entries FOR EACH STATEMENT EXECUTE FUNCTION containers_vreg.cache_entries_truncate_usage()',
        'DELETE FROM containers_vreg.cache_entries WHERE id = 0'),
    (7, 'positions_after_delete FOR EACH ROW', 'CREATE TRIGGER wrong AFTER DELETE ON containers_vreg.registry_upstreams FOR EACH ROW EXECUTE FUNCTION containers_vreg.positions_after_delete()',
        'INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (42, 1, ''r''); INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id) VALUES (42, 1, 7); DELETE FROM containers_vreg.registry_upstreams'))
    AS t(n, what, create_trigger, dml)
 ORDER BY t.n;
SELECT vreg_test.state() = :'s0' AS tables_unchanged, vreg_test.side_tables() = :'side0' AS side_tables_unchanged;

-- 4. Called directly by a role that may execute them: 39P01 from the C ones,
-- PL/pgSQL's own 0A000 from the others.
SELECT vreg_test.err('SELECT containers_vreg.upstreams_credentials()') AS upstreams_credentials,
       vreg_test.err('SELECT containers_vreg.upstreams_mark_entries()') AS upstreams_mark_entries;

-- 5. Partitions count as cache_entries: a row written straight into the
-- group's partition fires the cloned row triggers, which pass.
SELECT containers_vreg.cache_entry_partition(42) AS partition_of_42 \gset
INSERT INTO :partition_of_42 (group_id, id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
VALUES (42, 71, 7, '/library/alpine/manifests/3.22', 5, 'f', 'groups/42/e71',
        '\x0000000000000000000000000000000000000000');
UPDATE :partition_of_42 SET status = 2 WHERE id = 71;
SELECT vreg_test.err(format('UPDATE %s SET status = 0 WHERE id = 71', :'partition_of_42')) AS back_to_live;
SELECT * FROM containers_vreg.group_usage(42);
SELECT count(*) AS leases_left FROM containers_vreg.fetch_leases;
-- ... and so does a partition of a partition (rolled back).
BEGIN;
SELECT containers_vreg.cache_entry_partition_index(42, 16) AS r42 \gset
ALTER TABLE containers_vreg.cache_entries DETACH PARTITION :partition_of_42;
CREATE TABLE containers_vreg.scratch_sub PARTITION OF containers_vreg.cache_entries
  FOR VALUES WITH (MODULUS 16, REMAINDER :r42) PARTITION BY HASH (group_id);
CREATE TABLE containers_vreg.scratch_sub_0 PARTITION OF containers_vreg.scratch_sub FOR VALUES WITH (MODULUS 2, REMAINDER 0);
CREATE TABLE containers_vreg.scratch_sub_1 PARTITION OF containers_vreg.scratch_sub FOR VALUES WITH (MODULUS 2, REMAINDER 1);
SELECT (containers_vreg.upsert_cache_entry(42, 7, 'library/alpine/manifests/3.23', 5, 'f',
         '\x0000000000000000000000000000000000000000')).status AS upserted_status;
SELECT tableoid::regclass::text LIKE 'containers_vreg.scratch_sub_%' AS in_sub_partition, status
  FROM containers_vreg.cache_entries WHERE relative_path = '/library/alpine/manifests/3.23';
UPDATE containers_vreg.cache_entries SET status = 2 WHERE relative_path = '/library/alpine/manifests/3.23';
SELECT regexp_replace(vreg_test.err($$UPDATE containers_vreg.cache_entries SET status = 0 WHERE relative_path = '/library/alpine/manifests/3.23'$$),
                      'entry [0-9]+', 'entry N') AS back_to_live;
SELECT live_entries, pending_entries FROM containers_vreg.group_usage(42) WHERE upstream_id = 7;
ROLLBACK;

-- 6. Roles without EXECUTE on any trigger function: their writes fire every
-- trigger of the tables (credentials sealed, limits, positions, marks).
CREATE ROLE regress_vreg_tg_writer;
GRANT USAGE ON SCHEMA containers_vreg TO regress_vreg_tg_writer;
GRANT SELECT, INSERT, UPDATE, DELETE ON containers_vreg.registries, containers_vreg.upstreams,
      containers_vreg.registry_upstreams TO regress_vreg_tg_writer;
GRANT USAGE ON SEQUENCE containers_vreg.registries_id_seq, containers_vreg.upstreams_id_seq,
      containers_vreg.registry_upstreams_id_seq TO regress_vreg_tg_writer;
SET ROLE regress_vreg_tg_writer;
INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials)
VALUES (42, 8, 'https://quay.io', '{"username": "w", "password": "TriggerGuardCanary"}');
SELECT credentials ? 'ct' AS sealed, credentials::text LIKE '%TriggerGuardCanary%' AS plaintext_stored,
       octet_length(credentials_fingerprint) AS fingerprint_bytes
  FROM containers_vreg.upstreams WHERE group_id = 42 AND id = 8;
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url, credentials) VALUES (42, 'https://quay.io', '{"username": "w", "password": "TriggerGuardCanary"}')$$) AS duplicate;
INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (42, 1, 'r');
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id) VALUES (42, 1, 7), (42, 1, 8);
UPDATE containers_vreg.registry_upstreams SET position = 1 WHERE upstream_id = 8;
SELECT string_agg(upstream_id || '@' || position, ' ' ORDER BY position) AS links
  FROM containers_vreg.registry_upstreams WHERE group_id = 42;
SELECT vreg_test.err($$UPDATE containers_vreg.registries SET group_id = 43$$) AS group_change;
SELECT vreg_test.err($$INSERT INTO containers_vreg.registries (group_id, name) SELECT 42, 'r' || g FROM generate_series(1, 5) g$$) AS sixth_registry;
DELETE FROM containers_vreg.upstreams WHERE group_id = 42 AND id = 7;
SELECT string_agg(upstream_id || '@' || position, ' ' ORDER BY position) AS links
  FROM containers_vreg.registry_upstreams WHERE group_id = 42;
RESET ROLE;
SELECT id, status FROM containers_vreg.cache_entries WHERE group_id = 42 ORDER BY id;

DROP OWNED BY regress_vreg_oracle, regress_vreg_tg_writer;
DROP ROLE regress_vreg_oracle;
DROP ROLE regress_vreg_tg_writer;
DROP TABLE pg_temp.o2;
DROP FUNCTION vreg_test.fire(text, text), vreg_test.oracle(text), vreg_test.oracle_table(text),
  vreg_test.oracle_rows(text), vreg_test.side_tables();
DROP TABLE vreg_test.oracle_cases;
SELECT vreg_test.reset();
