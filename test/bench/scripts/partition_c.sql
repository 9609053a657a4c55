-- C routing over :keys group ids in one statement.
SELECT count(DISTINCT containers_vreg.cache_entry_partition(g)) FROM generate_series(1::bigint, :keys) g;
