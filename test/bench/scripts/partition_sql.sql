-- The same answer in SQL (bounds read from the catalog per key).
SELECT count(DISTINCT vreg_bench.sql_partition(g)) FROM generate_series(1::bigint, :keys) g;
