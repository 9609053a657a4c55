-- SQL: PostgreSQL's hash formula written out (hashint8extended with
-- HASH_PARTITION_SEED, hash_combine64(0, h) = h + 0x49a0f4dd15e5a8e3 mod 2^64,
-- then % modulus); valid only while all partitions share one modulus.
WITH parts AS MATERIALIZED (
  SELECT array_agg(i.inhrelid::regclass ORDER BY (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'remainder (\d+)'))[1]::int) AS parts,
         max((regexp_match(pg_get_expr(c.relpartbound, c.oid), 'modulus (\d+)'))[1]::int) AS modulus
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = 'containers_vreg.cache_entries'::regclass)
SELECT count(p.parts[1 + ((hashint8extended(g * 7919, 8816678312871386365)::numeric
                           + 18446744073709551616 + 5305509591434766563)
                          % 18446744073709551616 % p.modulus)::int])
  FROM generate_series(1::bigint, :keys) g, parts p;
