-- ---------------------------------------------------------------------------
-- Routing (DESIGN sections 5 and 6): where a group's rows live, as the
-- partition PostgreSQL routes them to on this server and as the shard that
-- owns the group when PL/Proxy spreads groups over several servers.
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.cache_entry_partition(group_id bigint) RETURNS regclass
  AS 'MODULE_PATHNAME', 'containers_vreg_cache_entry_partition'
  LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.cache_entry_partition(bigint) IS
  'cache_entry_partition(group_id bigint) -> regclass. The partition of containers_vreg.cache_entries that PostgreSQL itself routes a row with this group_id to, computed in C from the table''s real partition key and bounds (the key''s hash support function with HASH_PARTITION_SEED, then the bound lookup of get_partition_for_tuple), so it stays right after the partitions are changed (another modulus, mixed moduli). NULL in, NULL out. Cached per backend, dropped on relcache invalidation of the table. Errors: 42501 without SELECT privilege on cache_entries (checked before the table is locked, so a role that may not read it cannot hold a lock on it); 23514 when no partition accepts the group (as an INSERT would fail, e.g. a partition was detached); 0A000 when the chosen partition is itself partitioned.';

CREATE FUNCTION @extschema@.hash_partition_for(parent regclass, key bigint) RETURNS regclass
  AS 'MODULE_PATHNAME', 'containers_vreg_hash_partition_for'
  LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.hash_partition_for(regclass, bigint) IS
  'hash_partition_for(parent regclass, key bigint) -> regclass. The leaf partition of any table hash-partitioned on one bigint column that PostgreSQL routes a row with partition key = key to (same code as cache_entry_partition; useful for a copy of cache_entries being re-partitioned). NULL in, NULL out. Errors: 42P01 unknown table; 42501 no SELECT privilege on it (checked before it is locked); 42809 not partitioned; 0A000 not hash-partitioned, key not a single column, or the chosen partition is itself partitioned; 42804 key column not bigint; 23514 no partition accepts the key. Rule: DESIGN section 5.';

CREATE FUNCTION @extschema@.cache_entry_partition_index(group_id bigint, modulus integer) RETURNS integer
  AS 'MODULE_PATHNAME', 'containers_vreg_cache_entry_partition_index'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.cache_entry_partition_index(bigint, integer) IS
  'cache_entry_partition_index(group_id bigint, modulus integer) -> integer. The remainder (0 .. modulus-1) that PostgreSQL''s hash partitioning gives a bigint key for this modulus: hashint8extended(group_id, HASH_PARTITION_SEED) combined with hash_combine64, modulo modulus; a partition FOR VALUES WITH (MODULUS m, REMAINDER r) takes the group exactly when this returns r. Reads no catalog. NULL in, NULL out. Errors: 22023 when modulus < 1. Rule: DESIGN section 5.';

CREATE FUNCTION @extschema@.cache_entry_shard(group_id bigint, shards integer) RETURNS integer
  AS 'MODULE_PATHNAME', 'containers_vreg_cache_entry_shard'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.cache_entry_shard(bigint, integer) IS
  'cache_entry_shard(group_id bigint, shards integer) -> integer. The shard (0 .. shards-1) that owns the group when groups are spread over shards servers (PL/Proxy: RUN ON cache_entry_shard(group_id, 1024) works for any power-of-two cluster of up to 1024 shards, since PL/Proxy masks with shards-1). Taken from the high 32 bits of the partition row hash, bits that the local hash partitioning (power-of-two modulus up to 2^32) does not use, so every shard still fills all of its partitions evenly. NULL in, NULL out. Errors: 22023 unless shards is a power of two between 1 and 1024. Rule: DESIGN section 6.';
