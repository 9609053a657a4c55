#!/usr/bin/env bash
# Benchmark (the README's performance section): keys per second of the C routing function
# containers_vreg.cache_entry_partition against the same answer computed in
# SQL, side by side in one run, over many keys per statement so that the round
# trip does not hide the difference. Prints keys/s and the ratios.
#
#   test/bench/routing.sh [KEYS [TRANSACTIONS]]    defaults: 100000 keys, 5 statements
#
# Uses the server in PGHOST/PGPORT when BENCH_USE_RUNNING=1 (the extension must
# be installable there); otherwise installs into a private PostgreSQL tree under
# .pgtmp/bench and starts a throwaway cluster.
set -euo pipefail
cd "$(dirname "$0")/../.."
TOP=$(pwd)
KEYS=${1:-100000}
TXNS=${2:-5}
BENCH=$TOP/test/bench
. scripts/pgcluster.sh

if [ "${BENCH_USE_RUNNING:-0}" != 1 ]; then
  make -s >/dev/null   # compile against the system headers (the private tree has none)
  pgc_private_tree "$TOP/.pgtmp/bench"
  make -s install PG_CONFIG="$PGC_PG_CONFIG" >/dev/null
  pgc_start "$TOP/.pgtmp/bench/cluster"
fi
DB=vreg_bench_routing
psql -X -q -d postgres -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
psql -X -q -d "$DB" -v ON_ERROR_STOP=1 <<'SQL'
CREATE EXTENSION containers_vreg;
CREATE SCHEMA vreg_bench;
-- What an application would write without the C function: same contract,
-- real bounds read from the catalog on every call.
CREATE FUNCTION vreg_bench.sql_partition(group_id bigint) RETURNS regclass
LANGUAGE sql STABLE AS $$
  SELECT i.inhrelid::regclass
    FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = 'containers_vreg.cache_entries'::regclass
     AND satisfies_hash_partition(i.inhparent,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'modulus (\d+)'))[1]::int,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'remainder (\d+)'))[1]::int,
           group_id)
$$;
SQL

# The three must agree before they are timed.
psql -X -q -At -d "$DB" -v ON_ERROR_STOP=1 <<'SQL' | { read -r bad; [ "$bad" = 0 ] || { echo "SQL and C disagree on $bad keys" >&2; exit 1; }; }
WITH parts AS MATERIALIZED (
  SELECT i.inhrelid::regclass AS part,
         (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'modulus (\d+)'))[1]::int AS modulus,
         (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'remainder (\d+)'))[1]::int AS remainder
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = 'containers_vreg.cache_entries'::regclass),
arr AS (SELECT array_agg(part ORDER BY remainder) AS parts, max(modulus) AS modulus FROM parts)
SELECT count(*) FROM generate_series(-5000::bigint, 5000) g, arr a
 WHERE containers_vreg.cache_entry_partition(g * 7919) IS DISTINCT FROM vreg_bench.sql_partition(g * 7919)
    OR containers_vreg.cache_entry_partition(g * 7919) IS DISTINCT FROM
         (SELECT p.part FROM parts p WHERE satisfies_hash_partition('containers_vreg.cache_entries'::regclass, p.modulus, p.remainder, g * 7919))
    OR containers_vreg.cache_entry_partition(g * 7919) IS DISTINCT FROM
         a.parts[1 + ((hashint8extended(g * 7919, 8816678312871386365)::numeric + 18446744073709551616 + 5305509591434766563)
                      % 18446744073709551616 % a.modulus)::int];
SQL

run() {  # $1: script, $2: keys per statement; prints keys per second
  local tps keys=${2:-$KEYS}
  tps=$("$PGC_BINDIR/pgbench" -n -t "$TXNS" -D keys="$keys" -f "$BENCH/$1" "$DB" 2>&1 \
        | sed -n 's/^tps = \([0-9.]*\) .*/\1/p' | head -1)
  [ -n "$tps" ] || { echo "pgbench failed for $1" >&2; exit 1; }
  awk -v t="$tps" -v k="$keys" 'BEGIN { printf "%.0f\n", t * k }'
}

z=$(run routing_floor.sql)
c=$(run routing_c.sql)
q=$(run routing_sql_function.sql $(( KEYS / 20 > 0 ? KEYS / 20 : 1 )))
s=$(run routing_sql_satisfies.sql)
f=$(run routing_sql_formula.sql)
echo "routing benchmark: $KEYS keys per statement (SQL function: $(( KEYS / 20 > 0 ? KEYS / 20 : 1 ))), $TXNS statements each, PostgreSQL $("$PGC_PG_CONFIG" --version | awk '{print $2}')"
printf '%-58s %12s keys/s\n' "floor: generate_series + count, no routing" "$z"
printf '%-58s %12s keys/s\n' "C cache_entry_partition(group_id)" "$c"
printf '%-58s %12s keys/s\n' "SQL function, same contract (bounds read per call)" "$q"
printf '%-58s %12s keys/s\n' "SQL set query, satisfies_hash_partition, bounds hoisted" "$s"
printf '%-58s %12s keys/s\n' "SQL set query, hash formula, one modulus only" "$f"
awk -v c="$c" -v q="$q" -v s="$s" -v f="$f" 'BEGIN {
  printf "ratio C / SQL function (same contract):            %.1f\n", c / q;
  printf "ratio C / SQL set query satisfies_hash_partition:  %.1f\n", c / s;
  printf "ratio C / SQL set query hash formula:              %.1f\n", c / f }'
# The statement floor bounds the set-query ratios; per-key routing cost with
# the floor subtracted compares the routing work itself.
awk -v z="$z" -v c="$c" -v s="$s" -v f="$f" 'BEGIN {
  nc = 1e9 / c - 1e9 / z; ns = 1e9 / s - 1e9 / z; nf = 1e9 / f - 1e9 / z;
  if (nc < 1) nc = 1;
  printf "routing cost per key, floor subtracted: C %.0f ns, SQL satisfies_hash_partition %.0f ns (%.1fx), SQL hash formula %.0f ns (%.1fx)\n", nc, ns, ns / nc, nf, nf / nc }'
psql -X -q -d postgres -c "DROP DATABASE $DB"
