-- C: the partition of each key, from the relcache bounds (containers_vreg.cache_entry_partition).
SELECT count(containers_vreg.cache_entry_partition(g * 7919)) FROM generate_series(1::bigint, :keys) g;
