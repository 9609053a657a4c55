-- The usage counters' per-group lock (compact_usage, rebuild_usage) lives in
-- the extension's private lock space, like every lock of the extension: in
-- pg_locks an advisory lock whose objsubid is the extension's class 30292 and
-- whose classid/objid are the high/low halves of group_id. pg_advisory_lock()
-- takes only objsubid 1 (bigint key) or 2 (two int4 keys), so no application
-- lock can collide with it.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT vreg_test.reset();

-- group 7, and a group whose id needs the high half (2^33 + 5)
INSERT INTO containers_vreg.upstreams (group_id, id, url) VALUES (7, 70, 'https://ghcr.io'), (8589934597, 71, 'https://ghcr.io');
INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
SELECT g, u, '/a/manifests/' || i, 10, 'f', containers_vreg.object_storage_prefix(g) || 'k' || i, decode(repeat('11', 20), 'hex')
  FROM (VALUES (7::bigint, 70::bigint), (8589934597, 71)) v(g, u), generate_series(1, 3) i;
CREATE VIEW pg_temp.my_advisory_locks AS
  SELECT classid, objid, objsubid, mode, granted
    FROM pg_locks
   WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
   ORDER BY objsubid, classid, objid;

-- compact_usage: one lock per group it folds, in the private class
BEGIN;
SELECT containers_vreg.compact_usage(7) AS removed;
SELECT * FROM pg_temp.my_advisory_locks;
SELECT count(*) FILTER (WHERE classid = 30292) AS in_application_space,
       count(*) FILTER (WHERE objsubid IN (1, 2)) AS application_classes
  FROM pg_temp.my_advisory_locks;
COMMIT;
SELECT count(*) AS held_after_commit FROM pg_temp.my_advisory_locks;

-- rebuild_usage of every group: one lock per group, keyed by the whole id (a
-- 32-bit hash of it gave groups 7 and 2^33 + 5 one and the same lock)
BEGIN;
SELECT containers_vreg.rebuild_usage() AS groups;
SELECT * FROM pg_temp.my_advisory_locks;
COMMIT;

-- an application's lock on the numbers the old code used is a different lock:
-- both are held side by side, and group_usage is unchanged by either call
BEGIN;
SELECT pg_advisory_xact_lock(30292, hashint8(7));
SELECT containers_vreg.compact_usage(NULL) AS removed;
SELECT * FROM pg_temp.my_advisory_locks;
COMMIT;
SELECT * FROM containers_vreg.group_usage(7);

-- the helper itself: internal (not executable by PUBLIC), NULL refused
SELECT has_function_privilege('public', 'containers_vreg.lock_group_usage(bigint)', 'EXECUTE') AS public_may_execute;
SELECT vreg_test.err('SELECT containers_vreg.lock_group_usage(NULL)');
BEGIN;
SELECT containers_vreg.lock_group_usage(-1);
SELECT * FROM pg_temp.my_advisory_locks;
COMMIT;
SELECT vreg_test.reset();
