-- Routing (docs/scaling.md): cache_entry_partition names exactly the
-- partition PostgreSQL routes a row to, for the installed layout and after
-- re-partitioning; cache_entry_partition_index is PostgreSQL's remainder;
-- cache_entry_shard spreads every shard over all partitions.
\set VERBOSITY terse
SELECT vreg_test.reset();

-- 1. Exactness on the installed table (modulus 16): >= 100,000 distinct groups,
-- including 0, negatives, both bigint extremes and keys spread over the range.
CREATE TABLE vreg_test.routing_keys (g bigint PRIMARY KEY);
INSERT INTO vreg_test.routing_keys
SELECT g FROM generate_series(-50000, 50000) g
UNION SELECT g * 9223372036854775 FROM generate_series(-1000, 1000) g
UNION VALUES (-9223372036854775808), (9223372036854775807), (-9223372036854775807),
             (4294967295), (4294967296), (-4294967296), (2147483648), (-2147483649);
SELECT count(*) >= 100000 AS enough_keys,
       count(*) FILTER (WHERE g < 0) > 50000 AS has_negatives,
       bool_or(g = 0) AND bool_or(g = -9223372036854775808) AND bool_or(g = 9223372036854775807) AS has_extremes
  FROM vreg_test.routing_keys;

INSERT INTO containers_vreg.cache_entries
       (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
SELECT g, 1, '/library/alpine/manifests/3.21', 0, 'f', containers_vreg.object_storage_prefix(g) || 'k',
       '\x0102030405060708090a0b0c0d0e0f1011121314'::bytea
  FROM vreg_test.routing_keys;

SELECT count(*) AS rows,
       count(DISTINCT tableoid) AS partitions_used,
       count(*) FILTER (WHERE tableoid::regclass IS DISTINCT FROM containers_vreg.cache_entry_partition(group_id)) AS mismatches,
       count(*) FILTER (WHERE tableoid::regclass IS DISTINCT FROM
         format('containers_vreg.cache_entries_%s', lpad(containers_vreg.cache_entry_partition_index(group_id, 16)::text, 2, '0'))::regclass) AS index_mismatches
  FROM containers_vreg.cache_entries;

-- a few fixed answers (these never change: the hash is PostgreSQL's own)
SELECT g, containers_vreg.cache_entry_partition(g), containers_vreg.cache_entry_partition_index(g, 16) AS r16,
       containers_vreg.cache_entry_partition_index(g, 32) AS r32, containers_vreg.cache_entry_shard(g, 4) AS shard4
  FROM unnest(ARRAY[0, 1, -1, 42, -9223372036854775808, 9223372036854775807]::bigint[]) g;

-- cache invalidation on the real table: a detached partition means no
-- partition for its groups (23514, as an INSERT gets), and a rollback brings
-- the old answer back in the same backend.
BEGIN;
ALTER TABLE containers_vreg.cache_entries DETACH PARTITION containers_vreg.cache_entries_05;
SELECT vreg_test.err('SELECT containers_vreg.cache_entry_partition(-1)') AS detached;
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
  VALUES (-1, 1, '/a/manifests/b', 0, 'f', 'groups/-1/z', '\x0102030405060708090a0b0c0d0e0f1011121314')$$) AS insert_detached;
SELECT containers_vreg.cache_entry_partition(1) AS other_groups_still_route;
ROLLBACK;
SELECT containers_vreg.cache_entry_partition(-1) AS after_rollback;
SELECT vreg_test.reset();

-- 2. Same install code path, another modulus: 32 partitions in a scratch table.
CREATE TABLE vreg_test.routing32 (group_id bigint NOT NULL) PARTITION BY HASH (group_id);
SELECT containers_vreg.create_hash_partitions('vreg_test.routing32', 32);
INSERT INTO vreg_test.routing32 SELECT g FROM vreg_test.routing_keys;
SELECT count(*) AS rows, count(DISTINCT tableoid) AS partitions_used,
       count(*) FILTER (WHERE tableoid::regclass IS DISTINCT FROM containers_vreg.hash_partition_for('vreg_test.routing32', group_id)) AS mismatches,
       count(*) FILTER (WHERE tableoid::regclass IS DISTINCT FROM
         format('vreg_test.routing32_%s', lpad(containers_vreg.cache_entry_partition_index(group_id, 32)::text, 2, '0'))::regclass) AS index_mismatches
  FROM vreg_test.routing32;

-- 3. Mixed moduli, built from the same path and then split in place:
-- modulus 8, then remainder 3 split into 16/3 + 16/11, then 16/11 into 32/11 + 32/27.
-- The same backend answered for the old layout first: the cache must follow.
CREATE TABLE vreg_test.routing_mixed (group_id bigint NOT NULL) PARTITION BY HASH (group_id);
SELECT containers_vreg.create_hash_partitions('vreg_test.routing_mixed', 8);
SELECT containers_vreg.hash_partition_for('vreg_test.routing_mixed', 1) AS before_split;
ALTER TABLE vreg_test.routing_mixed DETACH PARTITION vreg_test.routing_mixed_03;
SELECT min(g) AS gap_group FROM generate_series(0, 100) g
 WHERE containers_vreg.cache_entry_partition_index(g, 8) = 3 \gset
SELECT :gap_group AS gap_group, vreg_test.err(format('SELECT containers_vreg.hash_partition_for(%L, %s)', 'vreg_test.routing_mixed', :gap_group)) AS gap;
SELECT containers_vreg.hash_partition_for('vreg_test.routing_mixed', 1) AS other_groups_still_route;
CREATE TABLE vreg_test.routing_mixed_16_03 PARTITION OF vreg_test.routing_mixed FOR VALUES WITH (MODULUS 16, REMAINDER 3);
CREATE TABLE vreg_test.routing_mixed_32_11 PARTITION OF vreg_test.routing_mixed FOR VALUES WITH (MODULUS 32, REMAINDER 11);
CREATE TABLE vreg_test.routing_mixed_32_27 PARTITION OF vreg_test.routing_mixed FOR VALUES WITH (MODULUS 32, REMAINDER 27);
INSERT INTO vreg_test.routing_mixed SELECT g FROM vreg_test.routing_keys;
SELECT tableoid::regclass AS partition, count(*) > 2000 AS filled,
       count(*) FILTER (WHERE tableoid::regclass IS DISTINCT FROM containers_vreg.hash_partition_for('vreg_test.routing_mixed', group_id)) AS mismatches
  FROM vreg_test.routing_mixed GROUP BY 1 ORDER BY 1::text;

-- 4. cache_entry_partition_index equals PostgreSQL's own remainder test for
-- moduli that are not powers of two as well.
SELECT m, count(*) FILTER (WHERE NOT satisfies_hash_partition('vreg_test.routing32'::regclass, m,
         containers_vreg.cache_entry_partition_index(g, m), g)) AS mismatches
  FROM vreg_test.routing_keys, (VALUES (1), (7), (16), (1000), (2147483647)) v(m)
 WHERE g % 10 = 0
 GROUP BY m ORDER BY m;

-- 5. Shards use other hash bits: with 16 partitions and 4 shards every shard
-- fills all 16 partitions, evenly. (Taking the shard from the low bits, as
-- partition_index(g, 4) would, puts each shard in only 4 partitions.)
WITH k AS (SELECT containers_vreg.cache_entry_shard(g, 4) AS s,
                  containers_vreg.cache_entry_partition_index(g, 16) AS p FROM generate_series(1, 100000) g),
     cells AS (SELECT s, p, count(*) AS n FROM k GROUP BY s, p)
SELECT count(*) AS cells, count(DISTINCT s) AS shards,
       min(n) > 0.9 * 100000 / 64 AND max(n) < 1.1 * 100000 / 64 AS even
  FROM cells;
SELECT count(DISTINCT (p % 4, p)) AS low_bit_cells
  FROM (SELECT containers_vreg.cache_entry_partition_index(g, 16) AS p FROM generate_series(1, 100000) g) k;
-- every shard number in range and used; doubling the shards splits each
-- shard in two; PL/Proxy's mask of shard(g, 1024) is shard(g, n)
SELECT n, min(s) AS lo, max(s) AS hi, count(DISTINCT s) AS used,
       count(*) FILTER (WHERE containers_vreg.cache_entry_shard(g, n * 2) % n <> s) AS split_mismatches,
       count(*) FILTER (WHERE containers_vreg.cache_entry_shard(g, 1024) & (n - 1) <> s) AS mask_mismatches
  FROM (VALUES (1), (2), (4), (16), (512)) v(n),
       LATERAL (SELECT g, containers_vreg.cache_entry_shard(g, n) AS s FROM generate_series(-20000, 20000) g) k
 GROUP BY n ORDER BY n;

-- 6. NULL in, NULL out; bad input: specific SQLSTATEs.
SELECT containers_vreg.cache_entry_partition(NULL) IS NULL AS p_null,
       containers_vreg.cache_entry_partition_index(NULL, 16) IS NULL AS i_null,
       containers_vreg.cache_entry_partition_index(1, NULL) IS NULL AS i_null2,
       containers_vreg.cache_entry_shard(NULL, 4) IS NULL AS s_null,
       containers_vreg.hash_partition_for(NULL, 1) IS NULL AS h_null;
SELECT vreg_test.err('SELECT containers_vreg.cache_entry_partition_index(1, 0)');
SELECT vreg_test.err('SELECT containers_vreg.cache_entry_partition_index(1, -16)');
SELECT vreg_test.err('SELECT containers_vreg.cache_entry_shard(1, 0)');
SELECT vreg_test.err('SELECT containers_vreg.cache_entry_shard(1, 3)');
SELECT vreg_test.err('SELECT containers_vreg.cache_entry_shard(1, -4)');
SELECT vreg_test.err('SELECT containers_vreg.cache_entry_shard(1, 2048)');
SELECT containers_vreg.cache_entry_shard(1, 1) AS one_shard, containers_vreg.cache_entry_shard(1, 1024) BETWEEN 0 AND 1023 AS max_shards;
CREATE TABLE vreg_test.routing_plain (group_id bigint);
CREATE TABLE vreg_test.routing_list (group_id bigint) PARTITION BY LIST (group_id);
CREATE TABLE vreg_test.routing_int4 (group_id integer) PARTITION BY HASH (group_id);
CREATE TABLE vreg_test.routing_expr (group_id bigint) PARTITION BY HASH ((group_id + 1));
CREATE TABLE vreg_test.routing_two (group_id bigint, id bigint) PARTITION BY HASH (group_id, id);
CREATE TABLE vreg_test.routing_empty (group_id bigint) PARTITION BY HASH (group_id);
CREATE TABLE vreg_test.routing_sub (group_id bigint) PARTITION BY HASH (group_id);
CREATE TABLE vreg_test.routing_sub_0 PARTITION OF vreg_test.routing_sub
  FOR VALUES WITH (MODULUS 1, REMAINDER 0) PARTITION BY HASH (group_id);
SELECT vreg_test.err($$SELECT containers_vreg.hash_partition_for('vreg_test.routing_plain', 1)$$);
SELECT vreg_test.err($$SELECT containers_vreg.hash_partition_for('vreg_test.routing_list', 1)$$);
SELECT vreg_test.err($$SELECT containers_vreg.hash_partition_for('vreg_test.routing_int4', 1)$$);
SELECT vreg_test.err($$SELECT containers_vreg.hash_partition_for('vreg_test.routing_expr', 1)$$);
SELECT vreg_test.err($$SELECT containers_vreg.hash_partition_for('vreg_test.routing_two', 1)$$);
SELECT vreg_test.err($$SELECT containers_vreg.hash_partition_for('vreg_test.routing_empty', 1)$$);
SELECT vreg_test.err($$SELECT containers_vreg.hash_partition_for('vreg_test.routing_sub', 1)$$);
SELECT vreg_test.err($$SELECT containers_vreg.hash_partition_for(4000000000::oid::regclass, 1)$$);
-- the extension's own table is still answered after all that
SELECT containers_vreg.cache_entry_partition(42);

DROP TABLE vreg_test.routing_keys, vreg_test.routing32, vreg_test.routing_mixed, vreg_test.routing_mixed_03,
  vreg_test.routing_plain, vreg_test.routing_list, vreg_test.routing_int4, vreg_test.routing_expr,
  vreg_test.routing_two, vreg_test.routing_empty, vreg_test.routing_sub;
