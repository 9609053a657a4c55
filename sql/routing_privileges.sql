-- The routing functions lock nothing a caller may not read. cache_entry_partition
-- and hash_partition_for need SELECT on the partitioned table (42501, the same
-- wording for both) and check it before taking the lock, so a role without it
-- cannot hold an AccessShareLock on cache_entries open and block DDL.
-- cache_entry_partition_index and cache_entry_shard read no catalog and lock
-- nothing. Each case runs in an open transaction and lists the relation locks
-- that transaction holds on cache_entries and its partitions.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT vreg_test.reset();

CREATE ROLE regress_vreg_router NOLOGIN;
GRANT USAGE ON SCHEMA containers_vreg TO regress_vreg_router;

-- relation locks this backend holds on cache_entries or any of its partitions
CREATE FUNCTION vreg_test.entries_locks() RETURNS text
LANGUAGE sql AS $$
  SELECT coalesce(string_agg(l.relation::regclass::text || ' ' || l.mode, ', ' ORDER BY 1), 'none')
    FROM pg_locks l
   WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted
     AND (l.relation = 'containers_vreg.cache_entries'::regclass
          OR l.relation IN (SELECT inhrelid FROM pg_inherits
                             WHERE inhparent = 'containers_vreg.cache_entries'::regclass))
$$;
GRANT USAGE ON SCHEMA vreg_test TO regress_vreg_router;

-- without SELECT: 42501 and no lock, in the same open transaction
BEGIN;
SET LOCAL ROLE regress_vreg_router;
SELECT vreg_test.err('SELECT containers_vreg.cache_entry_partition(42)') AS partition;
SELECT vreg_test.err($$SELECT containers_vreg.hash_partition_for('containers_vreg.cache_entries', 42)$$) AS hash_partition_for;
SELECT vreg_test.entries_locks() AS locks_held;
-- the pure functions answer and lock nothing either
SELECT containers_vreg.cache_entry_partition_index(42, 16) AS remainder,
       containers_vreg.cache_entry_shard(42, 4) AS shard;
SELECT vreg_test.entries_locks() AS locks_held;
COMMIT;

-- the hint, in full
\set VERBOSITY default
SET ROLE regress_vreg_router;
SELECT containers_vreg.cache_entry_partition(42);
SELECT containers_vreg.hash_partition_for('containers_vreg.cache_entries', 42);
RESET ROLE;
\set VERBOSITY terse

-- with SELECT: the answer, and the lock a query on the table would take
GRANT SELECT ON containers_vreg.cache_entries TO regress_vreg_router;
BEGIN;
SET LOCAL ROLE regress_vreg_router;
SELECT containers_vreg.cache_entry_partition(42) AS partition;
SELECT vreg_test.entries_locks() AS locks_held;
-- REVOKE inside the transaction: refused again at the next call, although
-- the table is already locked and the privilege was checked before
RESET ROLE;
REVOKE SELECT ON containers_vreg.cache_entries FROM regress_vreg_router;
SET LOCAL ROLE regress_vreg_router;
SELECT vreg_test.err('SELECT containers_vreg.cache_entry_partition(42)') AS after_revoke;
COMMIT;

-- privilege through a role membership, and its removal within a transaction
CREATE ROLE regress_vreg_readers NOLOGIN;
GRANT SELECT ON containers_vreg.cache_entries TO regress_vreg_readers;
GRANT regress_vreg_readers TO regress_vreg_router;
BEGIN;
SET LOCAL ROLE regress_vreg_router;
SELECT containers_vreg.cache_entry_partition(42) AS via_membership;
RESET ROLE;
REVOKE regress_vreg_readers FROM regress_vreg_router;
SET LOCAL ROLE regress_vreg_router;
SELECT vreg_test.err('SELECT containers_vreg.cache_entry_partition(42)') AS after_membership_revoked;
COMMIT;

-- a privileged caller first, then an unprivileged one in the same transaction
BEGIN;
SELECT containers_vreg.cache_entry_partition(42) AS as_owner;
SET LOCAL ROLE regress_vreg_router;
SELECT vreg_test.err('SELECT containers_vreg.cache_entry_partition(42)') AS then_without_select;
COMMIT;

REVOKE USAGE ON SCHEMA vreg_test FROM regress_vreg_router;
DROP FUNCTION vreg_test.entries_locks();
REVOKE USAGE ON SCHEMA containers_vreg FROM regress_vreg_router;
REVOKE SELECT ON containers_vreg.cache_entries FROM regress_vreg_readers;
DROP ROLE regress_vreg_router, regress_vreg_readers;
