-- ---------------------------------------------------------------------------
-- Routing (docs/design.md, "Partitions and scale"): where a group's rows live, as the
-- partition PostgreSQL routes them to on this server and as the shard that
-- owns the group when PL/Proxy spreads groups over several servers.
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.cache_entry_partition(group_id bigint) RETURNS regclass
  AS 'MODULE_PATHNAME', 'containers_vreg_cache_entry_partition'
  LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.cache_entry_partition(bigint) IS
  'cache_entry_partition(group_id bigint) -> regclass. The partition of cache_entries that PostgreSQL routes the group''s rows to, computed from the table''s real partition bounds (cached until they change). NULL in, NULL out. Errors: 42501 no SELECT on cache_entries (checked before the table is locked); 23514 no partition takes the group; 0A000 that partition is itself partitioned.';

CREATE FUNCTION @extschema@.hash_partition_for(parent regclass, key bigint) RETURNS regclass
  AS 'MODULE_PATHNAME', 'containers_vreg_hash_partition_for'
  LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.hash_partition_for(regclass, bigint) IS
  'hash_partition_for(parent regclass, key bigint) -> regclass. The leaf partition of any table hash-partitioned on one bigint column that PostgreSQL routes key to. NULL in, NULL out. Errors: 42P01 unknown table; 42501 no SELECT on it (checked before it is locked); 42809 not partitioned; 0A000 not hash-partitioned on one column, or the partition is itself partitioned; 42804 key column not bigint; 23514 no partition takes the key.';

CREATE FUNCTION @extschema@.cache_entry_partition_index(group_id bigint, modulus integer) RETURNS integer
  AS 'MODULE_PATHNAME', 'containers_vreg_cache_entry_partition_index'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.cache_entry_partition_index(bigint, integer) IS
  'cache_entry_partition_index(group_id bigint, modulus integer) -> integer. The remainder 0..modulus - 1 that PostgreSQL''s hash partitioning gives the group: a partition FOR VALUES WITH (MODULUS m, REMAINDER r) takes it exactly when this returns r. Reads no catalog; NULL in, NULL out. Errors: 22023 modulus below 1.';

CREATE FUNCTION @extschema@.cache_entry_shard(group_id bigint, shards integer) RETURNS integer
  AS 'MODULE_PATHNAME', 'containers_vreg_cache_entry_shard'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.cache_entry_shard(bigint, integer) IS
  'cache_entry_shard(group_id bigint, shards integer) -> integer. The shard 0..shards - 1 that owns the group when groups are spread over shards servers (PL/Proxy: RUN ON cache_entry_shard(group_id, 1024)), taken from hash bits that the local partitioning does not use, so every shard still fills all of its partitions. NULL in, NULL out. Errors: 22023 unless shards is a power of two from 1 to 1024.';
