-- SQL: the partition of each key by testing every partition's real bounds
-- with satisfies_hash_partition (bounds read from the catalog once per statement).
WITH parts AS MATERIALIZED (
  SELECT i.inhrelid::regclass AS part,
         (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'modulus (\d+)'))[1]::int AS modulus,
         (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'remainder (\d+)'))[1]::int AS remainder
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = 'containers_vreg.cache_entries'::regclass)
SELECT count((SELECT p.part FROM parts p
               WHERE satisfies_hash_partition('containers_vreg.cache_entries'::regclass, p.modulus, p.remainder, g * 7919)))
  FROM generate_series(1::bigint, :keys) g;
