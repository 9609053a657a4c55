-- Escalation checks: roles granted only what README's
-- "Roles and grants" grants cannot run their own code inside a SECURITY
-- DEFINER function through search_path, create objects in containers_vreg,
-- call trigger functions, read the fingerprint secret, create or detach
-- partitions, or use hash_partition_for on a table they cannot read.
\set VERBOSITY terse
SELECT vreg_test.reset();

CREATE ROLE regress_vreg_request NOLOGIN;
GRANT USAGE ON SCHEMA vreg_test TO PUBLIC;
GRANT USAGE ON SCHEMA containers_vreg TO regress_vreg_request;
GRANT EXECUTE ON FUNCTION
  containers_vreg.resolve(bigint, bigint, text),
  containers_vreg.upsert_cache_entry(bigint, bigint, text, bigint, text, bytea, text, text, bytea, text),
  containers_vreg.mark_checked(bigint, bigint),
  containers_vreg.record_download(bigint, bigint),
  containers_vreg.claim_fetch(bigint, bigint, text, interval),
  containers_vreg.registry_upstreams(bigint, bigint)
TO regress_vreg_request;
CREATE ROLE regress_vreg_worker NOLOGIN;
GRANT USAGE ON SCHEMA containers_vreg TO regress_vreg_worker;
GRANT EXECUTE ON FUNCTION
  containers_vreg.flush_downloads(),
  containers_vreg.mark_unused(bigint, integer, integer)
TO regress_vreg_worker;
CREATE ROLE regress_vreg_admin NOLOGIN;
GRANT USAGE ON SCHEMA containers_vreg TO regress_vreg_admin;
GRANT SELECT, INSERT, UPDATE, DELETE ON containers_vreg.registries TO regress_vreg_admin;
GRANT EXECUTE ON FUNCTION
  containers_vreg.attach_upstream(bigint, bigint, bigint),
  containers_vreg.registry_upstreams(bigint, bigint)
TO regress_vreg_admin;

-- Fixture: registry 1001 with upstream 2001; upstream 2002 not linked yet.
INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (1, 1001, 'r');
INSERT INTO containers_vreg.upstreams (group_id, id, url, cache_validity_hours) VALUES
  (1, 2001, 'https://registry.example.com', 0),
  (1, 2002, 'https://ghcr.io', 24);
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id) VALUES (1, 1001, 2001);

-- 1. A schema of the attacker's own, first in search_path, with look-alikes
-- of every pg_catalog function and operator the API uses unqualified. Each
-- one records that it was called (and then behaves like the original).
CREATE SCHEMA regress_vreg_evil AUTHORIZATION regress_vreg_request;
GRANT USAGE ON SCHEMA regress_vreg_evil TO PUBLIC;
SET ROLE regress_vreg_request;
CREATE TABLE regress_vreg_evil.called (what text);
GRANT INSERT, SELECT ON regress_vreg_evil.called TO PUBLIC;
CREATE FUNCTION regress_vreg_evil.eq8(bigint, bigint) RETURNS boolean LANGUAGE sql
  AS $$ INSERT INTO regress_vreg_evil.called VALUES ('=(bigint,bigint)'); SELECT $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE OPERATOR regress_vreg_evil.= (LEFTARG = bigint, RIGHTARG = bigint, FUNCTION = regress_vreg_evil.eq8);
CREATE FUNCTION regress_vreg_evil.eqtext(text, text) RETURNS boolean LANGUAGE sql
  AS $$ INSERT INTO regress_vreg_evil.called VALUES ('=(text,text)'); SELECT $1 OPERATOR(pg_catalog.=) $2 $$;
CREATE OPERATOR regress_vreg_evil.= (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_vreg_evil.eqtext);
CREATE FUNCTION regress_vreg_evil.cat(text, text) RETURNS text LANGUAGE sql
  AS $$ INSERT INTO regress_vreg_evil.called VALUES ('||'); SELECT $1 OPERATOR(pg_catalog.||) $2 $$;
CREATE OPERATOR regress_vreg_evil.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_vreg_evil.cat);
CREATE FUNCTION regress_vreg_evil.now() RETURNS timestamptz LANGUAGE sql
  AS $$ INSERT INTO regress_vreg_evil.called VALUES ('now'); SELECT pg_catalog.now() $$;
CREATE FUNCTION regress_vreg_evil.clock_timestamp() RETURNS timestamptz LANGUAGE sql
  AS $$ INSERT INTO regress_vreg_evil.called VALUES ('clock_timestamp'); SELECT pg_catalog.clock_timestamp() $$;
CREATE FUNCTION regress_vreg_evil.gen_random_uuid() RETURNS uuid LANGUAGE sql
  AS $$ INSERT INTO regress_vreg_evil.called VALUES ('gen_random_uuid'); SELECT pg_catalog.gen_random_uuid() $$;
CREATE FUNCTION regress_vreg_evil.coalesce(text, text) RETURNS text LANGUAGE sql
  AS $$ INSERT INTO regress_vreg_evil.called VALUES ('coalesce'); SELECT $1 $$;
CREATE FUNCTION regress_vreg_evil.make_interval(days integer) RETURNS interval LANGUAGE sql
  AS $$ INSERT INTO regress_vreg_evil.called VALUES ('make_interval'); SELECT pg_catalog.make_interval(days => $1) $$;
CREATE FUNCTION regress_vreg_evil.count(bigint) RETURNS bigint LANGUAGE sql
  AS $$ INSERT INTO regress_vreg_evil.called VALUES ('count'); SELECT 0::bigint $$;
SET search_path = regress_vreg_evil, pg_catalog;
-- the look-alikes do win for the attacker's own statements
SELECT 1::bigint = 1::bigint AS own_eq, (SELECT count(*) FROM called) AS called_by_own_statement;
DELETE FROM regress_vreg_evil.called;

-- The request path as the request role, under that search_path.
SELECT (containers_vreg.resolve(1, 1001, 'alpine/manifests/3.21')).result AS cold;
SELECT containers_vreg.claim_fetch(1, 2001, 'alpine/manifests/3.21') AS won_fetch;
SELECT relative_path, size, starts_with(object_storage_key, 'groups/1/upstreams/2001/') AS generated_key
  FROM containers_vreg.upsert_cache_entry(1, 2001, 'alpine/manifests/3.21', 42, 'f',
       '\x0000000000000000000000000000000000000000', NULL, '"sha256:0000000000000000000000000000000000000000000000000000000000000000"');
SELECT result, relative_path, size, digest FROM containers_vreg.resolve(1, 1001, 'alpine/manifests/3.21');
SELECT containers_vreg.record_download(1, (containers_vreg.resolve(1, 1001, 'alpine/manifests/3.21')).entry_id);
SELECT containers_vreg.mark_checked(1, (containers_vreg.resolve(1, 1001, 'alpine/manifests/3.21')).entry_id);
SELECT * FROM containers_vreg.registry_upstreams(1, 1001);
RESET ROLE;
SET ROLE regress_vreg_worker;
SELECT containers_vreg.flush_downloads() AS flushed;
SELECT * FROM containers_vreg.mark_unused(1, 1);
RESET ROLE;
RESET search_path;
SELECT downloads_count, status FROM containers_vreg.cache_entries WHERE group_id = 1;
-- No look-alike ran inside any of those calls.
SELECT count(*) AS hostile_calls FROM regress_vreg_evil.called;

-- The admin under the same search_path. attach_upstream pins search_path,
-- and so do the positions triggers (the deferred constraint trigger
-- registry_upstreams_slot_check fires at COMMIT, after the function has
-- returned): the request role's look-alike operator never runs.
SET search_path = regress_vreg_evil, pg_catalog;
SET ROLE regress_vreg_admin;
SELECT containers_vreg.attach_upstream(1, 1001, 2002) AS attached_at;
RESET ROLE;
RESET search_path;
SELECT "position", upstream_id FROM containers_vreg.registry_upstreams(1, 1001);
SELECT what, count(*) AS hostile_calls_at_commit FROM regress_vreg_evil.called GROUP BY what ORDER BY what;

-- 2. What the request role cannot do (tables unchanged).
SELECT vreg_test.state() AS s0 \gset
SET ROLE regress_vreg_request;
SELECT vreg_test.err('CREATE TABLE containers_vreg.x (a int)') AS create_table;
SELECT vreg_test.err('CREATE FUNCTION containers_vreg.now() RETURNS timestamptz LANGUAGE sql AS ''SELECT pg_catalog.now()''') AS create_function;
SELECT vreg_test.err('CREATE VIEW containers_vreg.v AS SELECT 1') AS create_view;
SELECT vreg_test.err('SELECT containers_vreg.row_guard()') AS row_guard;
SELECT vreg_test.err('SELECT containers_vreg.positions_check()') AS positions_check;
SELECT vreg_test.err('SELECT containers_vreg.upstreams_credentials()') AS upstreams_credentials;
SELECT vreg_test.err('SELECT containers_vreg.cache_entries_track_usage()') AS track_usage;
SELECT vreg_test.err('SELECT * FROM containers_vreg.credentials_secret') AS read_secret;
SELECT vreg_test.err('SELECT credentials FROM containers_vreg.upstreams') AS read_envelopes;
SELECT vreg_test.err('SELECT containers_vreg.upstream_credentials(1, 2001)') AS open_credentials;
SELECT vreg_test.err('SELECT containers_vreg.create_hash_partitions(''containers_vreg.cache_entries'', 32)') AS create_partitions;
SELECT vreg_test.err('ALTER TABLE containers_vreg.cache_entries DETACH PARTITION containers_vreg.cache_entries_00') AS detach;
SELECT vreg_test.err('DROP TABLE containers_vreg.cache_entries_00') AS drop_partition;
SELECT vreg_test.err('ALTER TABLE containers_vreg.cache_entries DISABLE TRIGGER USER') AS disable_trigger;
SELECT vreg_test.err('SET session_replication_role = replica') AS replica;
SELECT vreg_test.err('UPDATE containers_vreg.cache_entries SET status = 0') AS write_entries;
RESET ROLE;
SELECT vreg_test.state() = :'s0' AS unchanged;

-- 3. hash_partition_for is executable by whoever may use the schema; it must
-- not lock or describe a table the caller cannot read (42501), and works on
-- one it can read.
CREATE TABLE public.regress_vreg_private (k bigint) PARTITION BY HASH (k);
CREATE TABLE public.regress_vreg_private_0 PARTITION OF public.regress_vreg_private
  FOR VALUES WITH (MODULUS 1, REMAINDER 0);
SET ROLE regress_vreg_request;
BEGIN;
SELECT vreg_test.err('SELECT containers_vreg.hash_partition_for(''public.regress_vreg_private'', 1)') AS no_select;
SELECT vreg_test.err('SELECT containers_vreg.hash_partition_for(''containers_vreg.cache_entries'', 1)') AS no_select_on_entries;
SELECT count(*) AS locks_held FROM pg_locks
 WHERE locktype = 'relation' AND pid = pg_backend_pid()
   AND relation IN ('public.regress_vreg_private'::regclass, 'containers_vreg.cache_entries'::regclass);
COMMIT;
RESET ROLE;
GRANT SELECT ON public.regress_vreg_private TO regress_vreg_request;
SET ROLE regress_vreg_request;
SELECT containers_vreg.hash_partition_for('public.regress_vreg_private', 1);
RESET ROLE;

-- Clean up the roles (cluster-wide objects).
DROP TABLE public.regress_vreg_private;
DROP SCHEMA regress_vreg_evil CASCADE;
DROP OWNED BY regress_vreg_request, regress_vreg_worker, regress_vreg_admin;
DROP ROLE regress_vreg_request, regress_vreg_worker, regress_vreg_admin;
