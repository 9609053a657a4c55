-- SQL: a SQL function with the same contract as cache_entry_partition
-- (vreg_bench.sql_partition, created by routing.sh): reads the partitions'
-- real bounds from the catalog on every call and tests them with
-- satisfies_hash_partition.
SELECT count(vreg_bench.sql_partition(g * 7919)) FROM generate_series(1::bigint, :keys) g;
