-- Floor: the same statement without any routing (generate_series + count).
SELECT count(g * 7919) FROM generate_series(1::bigint, :keys) g;
