-- containers_vreg 0.2.0 -> 0.3.0 (security and correctness release).
-- Every change to sql/install/ since 0.2.0 is repeated here; test/scripts/upgrade.sh
-- checks that 0.2.0 (and 0.1.0) plus the update scripts define every extension
-- member exactly as a fresh 0.3.0 install does.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION containers_vreg UPDATE TO '0.3.0'" to load this file. \quit

-- cache_entry_partition() requires SELECT on cache_entries before it locks the
-- table (as hash_partition_for() does); its comment names the new 42501.
COMMENT ON FUNCTION @extschema@.cache_entry_partition(bigint) IS
  'cache_entry_partition(group_id bigint) -> regclass. The partition of containers_vreg.cache_entries that PostgreSQL itself routes a row with this group_id to, computed in C from the table''s real partition key and bounds (the key''s hash support function with HASH_PARTITION_SEED, then the bound lookup of get_partition_for_tuple), so it stays right after the partitions are changed (another modulus, mixed moduli). NULL in, NULL out. Cached per backend, dropped on relcache invalidation of the table. Errors: 42501 without SELECT privilege on cache_entries (checked before the table is locked, so a role that may not read it cannot hold a lock on it); 23514 when no partition accepts the group (as an INSERT would fail, e.g. a partition was detached); 0A000 when the chosen partition is itself partitioned.';

-- registries_limit() counts as the table's owner (row-level security not
-- applied); its comment says so.
COMMENT ON FUNCTION @extschema@.registries_limit() IS
  'Trigger (internal): BEFORE INSERT row trigger on registries refusing (SQLSTATE 23514) a 6th registry in a group. Serialises inserts per group with a transaction-level advisory lock and counts with the latest snapshot, so it holds under any isolation level; counts as the table''s owner without row-level security, so the inserting role needs no SELECT and no policy can hide rows from the count. Rule: at most 5 registries per top-level group, as GitLab''s container registry allows.';
