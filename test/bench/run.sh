#!/usr/bin/env bash
# `make bench` (the README's performance section): generate a cache of SCALE entries,
# run pgbench custom scripts (prepared mode) side by side in one run, print a
# table of throughput and latency percentiles and the ratios with their goals,
# and plot resolve throughput and p99 latency against table size.
#
# Environment (all optional):
#   SCALE=200000          cache_entries rows to generate (rounded to the layout)
#   BENCH_SECONDS=10      duration of each pgbench run
#   BENCH_SCALING=1       also grow the table to SCALE x BENCH_SCALE_FACTOR (10,
#                         at most 10: the generator leaves room for 10) and rerun
#   BENCH_MEM_CALLS=1000000, BENCH_MEM_BASE=10000
#                         resolve calls in one session for the memory check
#   BENCH_CLIENTS=4 BENCH_JOBS=2   pgbench clients/threads (2-core machine)
#   BENCH_PARTITION_KEYS=10000     group ids per routing statement
#   BENCH_SHARED_BUFFERS=1GB       own cluster only
#   BENCH_OUT=test/bench/out       where results-<scale>.md and the plot go
#   BENCH_WAIT_LOAD=1.5, BENCH_WAIT_MAX=1200
#                         wait for a quieter machine before the timed runs
#                         (load average), and before each line (run queue)
#   BENCH_SMOKE=1         a smoke run (make test): the same figures, but no
#                         PASS/MISS verdict on the goals (a tiny, short run on
#                         a shared test cluster says nothing about them)
#   PGHOST and PGPORT both set: use that running server (the extension must be
#   installable there; test/scripts/bench_smoke.sh does this); otherwise
#   install into a private PostgreSQL tree under .pgtmp/bench and start a
#   throwaway cluster tuned for benchmarking (fsync = off: numbers are for
#   the database work, not for the disk).
set -euo pipefail
cd "$(dirname "$0")/../.."
TOP=$(pwd)
BENCH=$TOP/test/bench
SCALE=${SCALE:-200000}
SECS=${BENCH_SECONDS:-10}
SCALING=${BENCH_SCALING:-1}
XF=${BENCH_SCALE_FACTOR:-10}
MEM_CALLS=${BENCH_MEM_CALLS:-1000000}
MEM_BASE=${BENCH_MEM_BASE:-10000}
CLIENTS=${BENCH_CLIENTS:-4}
JOBS=${BENCH_JOBS:-2}
KEYS=${BENCH_PARTITION_KEYS:-10000}
OUT=${BENCH_OUT:-$BENCH/out}
DB=${BENCH_DB:-vreg_bench}
SMOKE=${BENCH_SMOKE:-0}
. scripts/pgcluster.sh

# Layout (test/bench/gen.sql): ng groups x 5 upstreams x m entries.
NG=$(( SCALE / 5000 > 2 ? SCALE / 5000 : 2 ))
M=$(( SCALE / (NG * 5) / 10 * 10 ))
[ "$M" -ge 20 ] || M=20
MMAX=$(( M * 10 ))
ROWS=$(( NG * 5 * M ))

mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vreg-bench.XXXXXX")
chmod 755 "$WORK"

if [ -n "${PGHOST:-}" ] && [ -n "${PGPORT:-}" ]; then
  CLUSTER="running server $PGHOST:$PGPORT (settings as found)"
  trap 'rm -rf "$WORK"' EXIT
else
  echo "== build and install into a private PostgreSQL tree (.pgtmp/bench)"
  make -s >/dev/null
  pgc_private_tree "$TOP/.pgtmp/bench"
  make -s install PG_CONFIG="$PGC_PG_CONFIG" >/dev/null
  pgc_init "$TOP/.pgtmp/bench/cluster" >/dev/null
  # Throwaway keyring for upstream_credentials (one key, id 1).
  key=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
  echo "1 $key" > "$PGC_DIR/keyring"
  chmod 600 "$PGC_DIR/keyring"
  [ "$(id -u)" -ne 0 ] || chown postgres: "$PGC_DIR/keyring"
  SB=${BENCH_SHARED_BUFFERS:-1GB}
  # only when this build has the setting (PostgreSQL warns about an unknown
  # name under the extension's reserved prefix)
  if grep -qs '"containers_vreg.keyring_file"' src/*.c; then
    pgc_conf "containers_vreg.keyring_file = '$PGC_DIR/keyring'"
  fi
  pgc_conf "shared_buffers = $SB"
  pgc_conf "work_mem = 64MB"
  pgc_conf "maintenance_work_mem = 512MB"
  pgc_conf "max_wal_size = 8GB"
  pgc_conf "checkpoint_timeout = 30min"
  pgc_conf "jit = off"
  pgc_startonly
  trap 'pgc_stop; rm -rf "$WORK"' EXIT
  CLUSTER="throwaway cluster: shared_buffers = $SB, fsync = off, jit = off, max_wal_size = 8GB"
fi
PSQL=("$PGC_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1)
PGBENCH="$PGC_BINDIR/pgbench"
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
q() { "${PSQL[@]}" -d "$DB" -c "$1"; }
have() { [ "$(q "SELECT to_regprocedure('$1') IS NOT NULL")" = t ]; }

echo "== database $DB: $ROWS entries ($NG groups x 5 upstreams x $M entries), $CLUSTER"
"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
q "CREATE EXTENSION containers_vreg"
if ! have 'containers_vreg.resolve(bigint,bigint,text)'; then
  echo "bench: this build has no containers_vreg.resolve; nothing to measure" >&2; exit 1
fi
HAVE_PGCRYPTO=0
q "CREATE EXTENSION pgcrypto" 2>/dev/null && HAVE_PGCRYPTO=1
"${PSQL[@]}" -d "$DB" -f "$BENCH/gen.sql"

# Seeds: repository names and blob sizes from the real pull data.
SEED=$TOP/../shared/data/oci-pulls/official-images.tsv
[ -r "$SEED" ] || SEED=$TOP/test/data/demo-trace.tsv
awk -F'\t' 'NR > 1 && $1 ~ /^[a-z0-9._\/-]+$/ { print $1 }' "$SEED" | sort -u \
  | awk '{ print NR "\t" $0 }' > "$WORK/names.tsv"
awk -F'\t' 'NR > 1 && $3 == "blob" && $6 ~ /^[0-9]+$/ { print $6 }' "$SEED" | sort -u \
  | awk '{ print NR "\t" $0 }' > "$WORK/sizes.tsv"
[ -s "$WORK/sizes.tsv" ] || printf '1\t1048576\n' > "$WORK/sizes.tsv"
"${PSQL[@]}" -d "$DB" -c "\\copy vreg_bench.names FROM '$WORK/names.tsv'" \
  -c "\\copy vreg_bench.sizes FROM '$WORK/sizes.tsv'"
NN=$(q "SELECT count(*) FROM vreg_bench.names")
NAMES=$(q "SELECT quote_literal(array_agg(name ORDER BY n)::text) || '::text[]' FROM vreg_bench.names")
echo "   seeds: $NN repository names and $(wc -l < "$WORK/sizes.tsv") blob sizes from ${SEED#"$TOP"/}"

# Scripts with the names inlined (a constant array: folded at plan time).
mkdir -p "$WORK/scripts"
for f in "$BENCH"/scripts/*.sql; do
  sed -e "s|@NAMES@|$NAMES|g" -e "s|@NN@|$NN|g" "$f" > "$WORK/scripts/$(basename "$f")"
done

t0=$(date +%s)
q "SELECT vreg_bench.setup($NG, $MMAX)"
GEN=$(q "SELECT vreg_bench.fill(0, $M)")
q "ANALYZE"
q "CHECKPOINT"
GEN_SECS=$(( $(date +%s) - t0 ))
echo "   generated $GEN entries in ${GEN_SECS} s (set-based INSERT ... SELECT, then ANALYZE)"

# The scripts' keys must be what the generator wrote, before anything is timed.
check_keys() {
  local got
  got=$(q "WITH k AS (SELECT 2 AS g, 5 AS k, $M - 1 AS i)
    SELECT r.result || ' ' || r.position || ' ' || (r.entry_id = ((k.g - 1) * 5 + k.k - 1)::bigint * $MMAX + k.i + 1)
      FROM k, vreg_bench.names nm,
           LATERAL containers_vreg.resolve(k.g, (k.g - 1) * 5 + 5,
             '/' || nm.name || '/blobs/sha256:' || vreg_bench.hex(k.g::bigint * 1099511627776 + k.k::bigint * 68719476736 + k.i / 3)) r
     WHERE nm.n = 1 + (k.i * 7 + k.k) % $NN")
  [ "$got" = "hit 5 true" ] || { echo "bench: generated keys do not resolve as the scripts expect: '$got'" >&2; exit 1; }
}
check_keys

# On a shared machine, wait (at most BENCH_WAIT_MAX seconds, default 1200)
# for the 1-minute load average to fall below BENCH_WAIT_LOAD before timing.
if [ -n "${BENCH_WAIT_LOAD:-}" ]; then
  waited=0
  while awk -v l="$BENCH_WAIT_LOAD" '{ exit !($1 >= l) }' /proc/loadavg && [ "$waited" -lt "${BENCH_WAIT_MAX:-1200}" ]; do
    sleep 15; waited=$((waited + 15))
  done
  echo "   waited ${waited} s for the load average to fall below $BENCH_WAIT_LOAD: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
RES=$WORK/results.txt
: > "$RES"
FAILED=0
# bench NAME SCRIPT CLIENTS JOBS [pgbench -D options]: one timed run; appends
# name|clients|tps|avg|p50|p99 (ms) to $RES.
# quiet: with BENCH_WAIT_LOAD set, before each line wait (at most 20 s) until
# the machine's run queue is nearly empty (other work would skew this line)
quiet() {
  [ -n "${BENCH_WAIT_LOAD:-}" ] || return 0
  local t=0 busy
  while [ "$t" -lt 20 ]; do
    busy=$(for _ in 1 2 3 4 5 6 7 8 9 10; do awk '{ split($4, r, "/"); print r[1] - 1 }' /proc/loadavg; sleep 0.2; done |
           awk '{ s += $1 } END { printf "%.1f", s / NR }')
    awk -v b="$busy" 'BEGIN { exit !(b <= 1.0) }' && return 0
    sleep 3; t=$((t + 5))
  done
}
bench() {
  local name=$1 script=$2 c=$3 j=$4 d=$WORK/run-$1
  shift 4
  mkdir -p "$d"
  quiet
  if ! (cd "$d" && "$PGBENCH" -n -M prepared -c "$c" -j "$j" -T "$SECS" -l --log-prefix="$d/log" \
          -D ng="$NG" -D m="$CUR_M" -D keys="$KEYS" "$@" -f "$WORK/scripts/$script" "$DB") >"$d/out" 2>&1; then
    echo "   $name: pgbench failed:" >&2; grep -m3 -iE 'error|fatal' "$d/out" >&2 || tail -5 "$d/out" >&2
    FAILED=1; echo "$name|$c|failed|||" >> "$RES"; return 0
  fi
  local tps
  tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' "$d/out" | head -1)
  # a run too short or too loaded to log a transaction leaves no log file: the
  # line then has its tps only, instead of stopping the whole run (set -e)
  { cat "$d"/log.* 2>/dev/null || true; } | awk '{ print $3 }' | sort -n > "$d/lat"
  awk -v name="$name" -v c="$c" -v tps="$tps" '
    { v[NR] = $1; s += $1 }
    END {
      if (NR == 0) { printf "%s|%s|%s|||\n", name, c, tps; exit }
      p50 = v[int((NR - 1) * 0.50) + 1]; p99 = v[int((NR - 1) * 0.99) + 1]
      t = (tps + 0 < 100) ? sprintf("%.2f", tps) : sprintf("%.0f", tps)   # keep slow lines non-zero
      printf "%s|%s|%s|%.3f|%.3f|%.3f\n", name, c, t, s / NR / 1000, p50 / 1000, p99 / 1000
    }' "$d/lat" >> "$RES"
  echo "   $(tail -1 "$RES" | awk -F'|' '{ printf "%-34s %3s clients %9s tps  avg %s ms  p50 %s ms  p99 %s ms", $1, $2, $3, $4, $5, $6 }')"
}
skip() { echo "$1|-|skipped ($2)|||" >> "$RES"; echo "   $1: skipped ($2)"; }
# mixed LABEL A_SCRIPT A_K B_SCRIPT B_K [PGOPTIONS]: the goal ratio "A / B",
# measured interleaved: one pgbench run of both scripts, each transaction
# picking one at random, so both see the same machine (another process's
# load cannot favour one side). The ratio is B's median latency over A's
# (throughput of A relative to B). A_K / B_K: the upstream position k the
# script reads (- when it sets its own). Appends LABEL|p50 A|p50 B|ratio.
MIX=$WORK/mixed.txt
: > "$MIX"
mixed() {
  local label=$1 d=$WORK/mix-$RANDOM opts=${6:-$PGOPTIONS}
  mkdir -p "$d"
  { [ "$3" = - ] || echo "\\set k $3"; cat "$WORK/scripts/$2"; } > "$d/a.sql"
  { [ "$5" = - ] || echo "\\set k $5"; cat "$WORK/scripts/$4"; } > "$d/b.sql"
  quiet
  if ! (cd "$d" && PGOPTIONS=$opts "$PGBENCH" -n -M prepared -c "$CLIENTS" -j "$JOBS" -T $(( SECS * 2 )) -l --log-prefix="$d/log" \
          -D ng="$NG" -D m="$CUR_M" -f "$d/a.sql@1" -f "$d/b.sql@1" "$DB") >"$d/out" 2>&1; then
    echo "   $label: pgbench failed:" >&2; grep -m3 -iE 'error|fatal' "$d/out" >&2 || tail -5 "$d/out" >&2
    FAILED=1; echo "$label|||" >> "$MIX"; return 0
  fi
  local p0 p1
  p0=$(cat "$d"/log.* | awk '$4 == 0 { print $3 }' | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR - 1) / 2) + 1] }')
  p1=$(cat "$d"/log.* | awk '$4 == 1 { print $3 }' | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR - 1) / 2) + 1] }')
  awk -v label="$label" -v a="$p0" -v b="$p1" 'BEGIN { printf "%s|%.3f|%.3f|%.2f\n", label, a / 1000, b / 1000, (a > 0) ? b / a : 0 }' >> "$MIX"
  echo "   interleaved: $(tail -1 "$MIX" | awk -F'|' '{ printf "%-58s p50 %s ms vs %s ms: %s", $1, $2, $3, $4 }')"
}
mix_of() { awk -F'|' -v n="$1" '$1 == n { print $4 }' "$MIX"; }
tps_of() { awk -F'|' -v n="$1" '$1 == n { print $3 }' "$RES"; }

echo "== pgbench, -M prepared, $SECS s each, $CLIENTS clients / $JOBS threads unless said"
CUR_M=$M
# The floor: the bare probe of the winning entry, with the generic plan forced
# as resolve's kept plan is (with default plan_cache_mode a prepared statement
# on the partitioned table keeps being planned per call, which is slower).
GENERIC="$PGOPTIONS -c plan_cache_mode=force_generic_plan"
PGOPTIONS=$GENERIC bench "probe, generic plan (pos 5)" probe.sql "$CLIENTS" "$JOBS" -D k=5
PGOPTIONS=$GENERIC bench "probe by digest, generic plan (pos 5)" probe_digest.sql "$CLIENTS" "$JOBS" -D k=5
bench "resolve hit, blob at pos 5 of 5" resolve_hit.sql "$CLIENTS" "$JOBS" -D k=5
bench "resolve hit, blob at pos 1 of 5" resolve_hit.sql "$CLIENTS" "$JOBS" -D k=1
bench "resolve hit, tag at pos 5 of 5" resolve_tag.sql "$CLIENTS" "$JOBS" -D k=5
bench "app: 2 round trips (pos 5)" app_two_trips.sql "$CLIENTS" "$JOBS" -D k=5
bench "resolve miss, 5 upstreams" resolve_miss.sql "$CLIENTS" "$JOBS"
bench "upsert_cache_entry (update)" upsert.sql "$CLIENTS" "$JOBS"
bench "INSERT ON CONFLICT DO UPDATE" insert_on_conflict.sql "$CLIENTS" "$JOBS"
bench "record_download, 16 on 1 entry" download.sql 16 "$JOBS" -D eid=4 -D spread=0
bench "record_download, 16 on 16 entries" download.sql 16 "$JOBS" -D eid=4 -D spread=1
q "SELECT containers_vreg.flush_downloads()" >/dev/null
if have 'containers_vreg.cache_entry_partition(bigint)'; then
  bench "cache_entry_partition (C), $KEYS keys" partition_c.sql 1 1
  bench "partition in SQL, $KEYS keys" partition_sql.sql 1 1
else
  skip "cache_entry_partition (C), $KEYS keys" "function containers_vreg.cache_entry_partition not installed"
fi
CRED_SKIP=""
if ! have 'containers_vreg.upstream_credentials(bigint,bigint)'; then
  CRED_SKIP="function containers_vreg.upstream_credentials not installed"
elif [ "$HAVE_PGCRYPTO" -ne 1 ]; then
  CRED_SKIP="extension pgcrypto not available"
elif ! q "UPDATE containers_vreg.upstreams SET credentials = '{\"username\": \"bench-user\", \"password\": \"bench-password-0123456789\"}' WHERE group_id = 1 AND id = 1" 2>"$WORK/cred.err"; then
  CRED_SKIP="cannot seal credentials here: $(head -1 "$WORK/cred.err")"
fi
if [ -z "$CRED_SKIP" ]; then
  q "CREATE TABLE vreg_bench.pgp AS SELECT 1 AS id, pgp_sym_encrypt('{\"username\": \"bench-user\", \"password\": \"bench-password-0123456789\"}', 'bench-passphrase') AS c"
  bench "upstream_credentials (libsodium)" cred_sodium.sql "$CLIENTS" "$JOBS"
  bench "pgp_sym_decrypt (pgcrypto)" cred_pgcrypto.sql "$CLIENTS" "$JOBS"
else
  skip "upstream_credentials (libsodium)" "$CRED_SKIP"
fi

mix_goals() {  # PREFIX: the interleaved goal ratios at the current size
  local g="$PGOPTIONS -c plan_cache_mode=force_generic_plan"
  mixed "${1}resolve hit (pos 5) / bare probe" resolve_hit.sql 5 probe.sql 5 "$g"
  mixed "${1}resolve hit at pos 1 / at pos 5" resolve_hit.sql 1 resolve_hit.sql 5
  mixed "${1}resolve miss / resolve hit (pos 5)" resolve_miss.sql - resolve_hit.sql 5
  mixed "${1}resolve hit (pos 5) / 2 round trips" resolve_hit.sql 5 app_two_trips.sql 5
  mixed "${1}upsert_cache_entry / INSERT ON CONFLICT" upsert.sql - insert_on_conflict.sql -
}
echo "== the goal ratios, interleaved (both sides in one pgbench run, $(( SECS * 2 )) s each)"
mix_goals ""

echo "== memory: one session, $MEM_BASE then $MEM_CALLS resolve calls"
MEM=$("${PSQL[@]}" -d "$DB" -F ' ' <<SQL
SELECT vreg_bench.resolve_loop($MEM_BASE) AS hits \gset
SELECT vreg_bench.proc_status('VmRSS') AS rss1, vreg_bench.proc_status('RssAnon') AS anon1, vreg_bench.context_bytes() / 1024 AS ctx1 \gset
SELECT vreg_bench.resolve_loop($MEM_CALLS - $MEM_BASE) AS hits2 \gset
SELECT :hits + :hits2, :rss1, :anon1, :ctx1, vreg_bench.proc_status('VmRSS'), vreg_bench.proc_status('RssAnon'), vreg_bench.context_bytes() / 1024;
SQL
)
read -r MEM_HITS RSS1 ANON1 CTX1 RSS2 ANON2 CTX2 <<< "$MEM"
echo "   $MEM_HITS of $MEM_CALLS calls were hits; VmRSS $RSS1 -> $RSS2 kB, RssAnon $ANON1 -> $ANON2 kB, memory contexts $CTX1 -> $CTX2 kB"

# ---- index sizes and writers: this shape against the one before -------------
# The live-path and live-digest indexes led with upstream_id before
# (group_id, upstream_id, relative_path / digest). Build that shape on the
# same rows, drop this one, time the writers again, then put this one back.
idx_mb() {  # the partitioned index's size summed over its partitions, MB
  q "SELECT round(sum(pg_relation_size(i.inhrelid)) / 1048576.0, 1) FROM pg_inherits i
      WHERE i.inhparent = 'containers_vreg.$1'::regclass"
}
SHAPES=${BENCH_SHAPES:-1}
SIZES=""
# shape PATH_NAME DIGEST_NAME "cols of the path key" "cols of the digest key":
# build both indexes (CREATE INDEX on the parent), print the seconds it took
shape() {
  local t0; t0=$(date +%s)
  q "CREATE UNIQUE INDEX $1 ON containers_vreg.cache_entries ($3) WHERE status = 0"
  q "CREATE INDEX $2 ON containers_vreg.cache_entries ($4) WHERE status = 0 AND digest IS NOT NULL"
  echo $(( $(date +%s) - t0 ))
}
if [ "$SHAPES" = 1 ]; then
  echo "== index shapes: the writers and sizes with the previous shape (upstream_id second)"
  LOADED_PATH=$(idx_mb cache_entries_live_path_upstream_key); LOADED_DIGEST=$(idx_mb cache_entries_live_digest_upstream_idx)
  OLD_BUILD=$(shape bench_old_path_key bench_old_digest_idx "group_id, upstream_id, relative_path" "group_id, upstream_id, digest")
  OLD_PATH=$(idx_mb bench_old_path_key); OLD_DIGEST=$(idx_mb bench_old_digest_idx)
  q "DROP INDEX containers_vreg.cache_entries_live_path_upstream_key, containers_vreg.cache_entries_live_digest_upstream_idx"
  q "CHECKPOINT"
  bench "previous shape: upsert_cache_entry (update)" upsert.sql "$CLIENTS" "$JOBS"
  bench "previous shape: INSERT ON CONFLICT DO UPDATE" insert_on_conflict.sql "$CLIENTS" "$JOBS"
  NEW_BUILD=$(shape cache_entries_live_path_upstream_key cache_entries_live_digest_upstream_idx "group_id, relative_path, upstream_id" "group_id, digest, upstream_id")
  NEW_PATH=$(idx_mb cache_entries_live_path_upstream_key); NEW_DIGEST=$(idx_mb cache_entries_live_digest_upstream_idx)
  q "DROP INDEX containers_vreg.bench_old_path_key, containers_vreg.bench_old_digest_idx"
  q "CHECKPOINT"
  SIZES="Index sizes at $ROWS entries, all 16 partitions, each shape freshly built by CREATE INDEX on the same rows: live-path $OLD_PATH MB (group_id, upstream_id, relative_path) -> $NEW_PATH MB (group_id, relative_path, upstream_id); live-digest $OLD_DIGEST MB (group_id, upstream_id, digest) -> $NEW_DIGEST MB (group_id, digest, upstream_id). As loaded by the generator's inserts (page splits), this shape was $LOADED_PATH MB and $LOADED_DIGEST MB. Building both took $OLD_BUILD s (previous shape) and $NEW_BUILD s (this one)."
  echo "   $SIZES"
fi

# ---- scaling: the same lines on a table 10 times larger ------------------------
SCALES=$WORK/scales.dat
lat_of() { awk -F'|' -v n="$1" '$1 == n { printf "%s %s", $5, $6 }' "$RES"; }
scale_row() {  # rows, line-name prefix: rows, then p50 p99 of probe, pos 1, pos 5, miss
  echo "$1 $(lat_of "${2}probe, generic plan (pos 5)") $(lat_of "${2}resolve hit, blob at pos 1 of 5") $(lat_of "${2}resolve hit, blob at pos 5 of 5") $(lat_of "${2}resolve miss, 5 upstreams")"
}
scale_row "$ROWS" "" > "$SCALES"
if [ "$SCALING" = 1 ]; then
  echo "== scaling: growing the table to $(( ROWS * XF )) entries"
  t0=$(date +%s)
  q "SELECT vreg_bench.fill($M, $(( M * XF )))" >/dev/null
  q "ANALYZE"
  q "CHECKPOINT"
  echo "   added $(( ROWS * (XF - 1) )) entries in $(( $(date +%s) - t0 )) s"
  CUR_M=$(( M * XF ))
  PGOPTIONS=$GENERIC bench "x${XF}: probe, generic plan (pos 5)" probe.sql "$CLIENTS" "$JOBS" -D k=5
  bench "x${XF}: resolve hit, blob at pos 5 of 5" resolve_hit.sql "$CLIENTS" "$JOBS" -D k=5
  bench "x${XF}: resolve hit, blob at pos 1 of 5" resolve_hit.sql "$CLIENTS" "$JOBS" -D k=1
  bench "x${XF}: resolve miss, 5 upstreams" resolve_miss.sql "$CLIENTS" "$JOBS"
  PGOPTIONS=$GENERIC bench "x${XF}: probe by digest, generic plan (pos 5)" probe_digest.sql "$CLIENTS" "$JOBS" -D k=5
  bench "x${XF}: resolve hit, tag at pos 5 of 5" resolve_tag.sql "$CLIENTS" "$JOBS" -D k=5
  bench "x${XF}: app: 2 round trips (pos 5)" app_two_trips.sql "$CLIENTS" "$JOBS" -D k=5
  bench "x${XF}: upsert_cache_entry (update)" upsert.sql "$CLIENTS" "$JOBS"
  bench "x${XF}: INSERT ON CONFLICT DO UPDATE" insert_on_conflict.sql "$CLIENTS" "$JOBS"
  mix_goals "x${XF}: "
  scale_row "$(( ROWS * XF ))" "x${XF}: " >> "$SCALES"
fi

# ---- the table ---------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else print "" }'; }
RAT=$WORK/ratios.txt
: > "$RAT"
# goal: ">= x" or "<= x" or "report"
add_ratio() {  # label, value, goal
  local verdict
  if [ -z "$2" ]; then verdict="skipped"
  elif [ "$3" = report ]; then verdict="(reported)"
  else verdict=$(awk -v v="$2" -v g="$3" 'BEGIN { split(g, p, " "); ok = (p[1] == ">=") ? v >= p[2] : v <= p[2]; print ok ? "PASS" : "MISS" }')
  fi
  echo "$1|${2:--}|$3|$verdict" >> "$RAT"
}
H5=$(tps_of "resolve hit, blob at pos 5 of 5"); H1=$(tps_of "resolve hit, blob at pos 1 of 5")
PROBE=$(tps_of "probe, generic plan (pos 5)")
UP=$(tps_of "upsert_cache_entry (update)"); IOC=$(tps_of "INSERT ON CONFLICT DO UPDATE")
add_ratio "resolve hit (pos 5 of 5) / bare probe of that entry (generic plan), interleaved" "$(mix_of "resolve hit (pos 5) / bare probe")" ">= 0.9"
add_ratio "  the same from the sequential lines (tps)" "$(ratio "$H5" "$PROBE")" "report"
add_ratio "resolve hit (pos 5 of 5) / bare descent by digest (generic plan)" "$(ratio "$H5" "$(tps_of "probe by digest, generic plan (pos 5)")")" "report"
add_ratio "resolve hit at pos 1 / at pos 5, interleaved" "$(mix_of "resolve hit at pos 1 / at pos 5")" ">= 0.95"
add_ratio "  the same from the sequential lines (tps)" "$(ratio "$H1" "$H5")" "report"
add_ratio "resolve miss (5 upstreams) / resolve hit (pos 5), interleaved" "$(mix_of "resolve miss / resolve hit (pos 5)")" ">= 0.9"
add_ratio "  the same from the sequential lines (tps)" "$(ratio "$(tps_of "resolve miss, 5 upstreams")" "$H5")" "report"
add_ratio "resolve hit (pos 5 of 5) / application's 2 round trips, interleaved" "$(mix_of "resolve hit (pos 5) / 2 round trips")" ">= 1.5"
add_ratio "upsert_cache_entry / INSERT ON CONFLICT DO UPDATE, interleaved" "$(mix_of "upsert_cache_entry / INSERT ON CONFLICT")" ">= 0.9"
add_ratio "  the same from the sequential lines (tps)" "$(ratio "$UP" "$IOC")" "report"
if [ "$SHAPES" = 1 ]; then
  add_ratio "upsert_cache_entry: this index shape / the previous one" "$(ratio "$UP" "$(tps_of "previous shape: upsert_cache_entry (update)")")" "report"
  add_ratio "INSERT ON CONFLICT: this index shape / the previous one" "$(ratio "$IOC" "$(tps_of "previous shape: INSERT ON CONFLICT DO UPDATE")")" "report"
fi
add_ratio "record_download: 16 clients on 1 entry / on 16 entries" "$(ratio "$(tps_of "record_download, 16 on 1 entry")" "$(tps_of "record_download, 16 on 16 entries")")" ">= 0.8"
add_ratio "cache_entry_partition (C) / SQL, keys per second" "$(ratio "$(tps_of "cache_entry_partition (C), $KEYS keys")" "$(tps_of "partition in SQL, $KEYS keys")")" ">= 10"
add_ratio "upstream_credentials (libsodium) / pgp_sym_decrypt" "$(ratio "$(tps_of "upstream_credentials (libsodium)")" "$(tps_of "pgp_sym_decrypt (pgcrypto)")")" "report"
if [ "$SCALING" = 1 ]; then
  R10=$(ratio "$(tps_of "x${XF}: resolve hit, blob at pos 5 of 5")" "$H5")
  P10=$(ratio "$(tps_of "x${XF}: probe, generic plan (pos 5)")" "$PROBE")
  add_ratio "resolve hit (pos 5) at $(( ROWS * XF )) / at $ROWS rows" "$R10" "report"
  add_ratio "bare probe at $(( ROWS * XF )) / at $ROWS rows" "$P10" "report"
  add_ratio "cost growth: resolve's x${XF} ratio / the bare probe's, interleaved" "$(ratio "$(mix_of "x${XF}: resolve hit (pos 5) / bare probe")" "$(mix_of "resolve hit (pos 5) / bare probe")")" ">= 0.95"
  add_ratio "  the same from the sequential lines (tps)" "$(ratio "$R10" "$P10")" "report"
  X5=$(tps_of "x${XF}: resolve hit, blob at pos 5 of 5")
  add_ratio "at $(( ROWS * XF )): resolve hit (pos 5) / bare probe, interleaved" "$(mix_of "x${XF}: resolve hit (pos 5) / bare probe")" ">= 0.9"
  add_ratio "at $(( ROWS * XF )): resolve hit at pos 1 / at pos 5, interleaved" "$(mix_of "x${XF}: resolve hit at pos 1 / at pos 5")" ">= 0.95"
  add_ratio "at $(( ROWS * XF )): resolve miss / resolve hit (pos 5), interleaved" "$(mix_of "x${XF}: resolve miss / resolve hit (pos 5)")" ">= 0.9"
  add_ratio "at $(( ROWS * XF )): resolve hit (pos 5) / application's 2 round trips, interleaved" "$(mix_of "x${XF}: resolve hit (pos 5) / 2 round trips")" ">= 1.5"
  add_ratio "at $(( ROWS * XF )): upsert_cache_entry / INSERT ON CONFLICT, interleaved" "$(mix_of "x${XF}: upsert_cache_entry / INSERT ON CONFLICT")" ">= 0.9"
  add_ratio "  at $(( ROWS * XF )), resolve hit (pos 5) / bare probe from the sequential lines (tps)" "$(ratio "$X5" "$(tps_of "x${XF}: probe, generic plan (pos 5)")")" "report"
else
  add_ratio "cost growth: resolve's x${XF} ratio / the bare probe's (BENCH_SCALING=0)" "" ">= 0.95"
fi
add_ratio "backend memory contexts after $MEM_CALLS / after $MEM_BASE resolve calls" "$(ratio "$CTX2" "$CTX1")" "<= 1.1"
add_ratio "backend RssAnon after $MEM_CALLS / after $MEM_BASE resolve calls" "$(ratio "$ANON2" "$ANON1")" "<= 1.1"

PGVER=$("$PGC_BINDIR/postgres" --version | awk '{ print $3 }')
MD=$OUT/results-$SCALE.md
{
  echo "containers_vreg benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'), PostgreSQL $PGVER, $(nproc) cores, load average $LOAD_START when the timed runs began, $(cut -d' ' -f1-3 /proc/loadavg) at the end"
  echo
  echo "Command: \`make bench SCALE=$SCALE\` (BENCH_SECONDS=$SECS BENCH_SCALING=$SCALING BENCH_SCALE_FACTOR=$XF BENCH_MEM_CALLS=$MEM_CALLS); $CLUSTER."
  echo "Data: $ROWS cache entries ($NG groups, 5 upstreams and 5 registries each, registries with 1..5 upstreams), generated in ${GEN_SECS} s. pgbench -M prepared, -T $SECS per line."
  echo
  echo "| run | clients | tps | avg ms | p50 ms | p99 ms |"
  echo "|---|---:|---:|---:|---:|---:|"
  awk -F'|' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$RES"
  echo
  echo "Interleaved pairs (one pgbench run of $(( SECS * 2 )) s, $CLIENTS clients, each transaction picks one of the two scripts at random; ratio = B's median latency / A's):"
  echo
  echo "| A / B | A p50 ms | B p50 ms | ratio |"
  echo "|---|---:|---:|---:|"
  awk -F'|' '{ printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4 }' "$MIX"
  echo
  if [ "$SMOKE" = 1 ]; then
    echo "Smoke run: figures only. The goals are judged by a full \`make bench\`, not by $SECS s runs on $ROWS entries."
    echo
    echo "| ratio | value | goal |"
    echo "|---|---:|---|"
    awk -F'|' '{ g = $3; gsub(/>=/, "≥", g); gsub(/<=/, "≤", g); printf "| %s | %s | %s |\n", $1, $2, g }' "$RAT"
  else
    echo "| ratio | value | goal | verdict |"
    echo "|---|---:|---|---|"
    awk -F'|' '{ g = $3; gsub(/>=/, "≥", g); gsub(/<=/, "≤", g); printf "| %s | %s | %s | %s |\n", $1, $2, g, $4 }' "$RAT"
  fi
  echo
  echo "Memory: $MEM_HITS of $MEM_CALLS resolve calls were hits; backend VmRSS $RSS1 kB after $MEM_BASE calls, $RSS2 kB after $MEM_CALLS (VmRSS counts the shared buffers the backend touched); RssAnon (private memory) $ANON1 kB -> $ANON2 kB; allocated in memory contexts (pg_backend_memory_contexts) $CTX1 kB -> $CTX2 kB."
  if [ "$(awk -F'|' '$1 ~ /partition/ && $3 ~ /^[0-9]/' "$RES" | wc -l)" -gt 0 ]; then
    echo "Routing: tps of the routing lines is statements per second of $KEYS keys each."
  fi
  if [ -n "$SIZES" ]; then echo "$SIZES"; fi
  echo
  echo "Latency against table size (ms; rows, then p50 and p99 of: bare probe, resolve pos 1, resolve pos 5, resolve miss):"
  echo
  echo '```'
  cat "$SCALES"
  echo '```'
} > "$MD"
echo
cat "$MD"

# ---- the plot ----------------------------------------------------------------
PNG=$OUT/resolve-scaling-$SCALE.png
if command -v gnuplot >/dev/null; then
  gnuplot <<GP 2>"$WORK/gnuplot.err" || { echo "bench: gnuplot failed: $(head -3 "$WORK/gnuplot.err")" >&2; }
set terminal pngcairo size 900,520 font "sans,10" noenhanced
set output "$PNG"
set title "containers_vreg resolve latency against table size, pgbench -M prepared, $CLIENTS clients, $(nproc) cores"
set xlabel "cache_entries rows"
set logscale x
set format x "%.0s%c"
set xrange [$(awk 'NR == 1 { print $1 / 2 }' "$SCALES"):$(awk 'END { print $1 * 2 }' "$SCALES")]
set ylabel "latency (ms); solid p50, dashed p99"
set yrange [0:*]
set key top left
set grid
plot "$SCALES" using 1:2 with linespoints lw 2 pt 7 lc rgb "black" title "bare probe p50", \
     "$SCALES" using 1:3 with linespoints lw 1 pt 7 dt 2 lc rgb "black" title "bare probe p99", \
     "$SCALES" using 1:4 with linespoints lw 2 pt 5 lc rgb "#1f77b4" title "resolve hit pos 1 p50", \
     "$SCALES" using 1:5 with linespoints lw 1 pt 5 dt 2 lc rgb "#1f77b4" title "resolve hit pos 1 p99", \
     "$SCALES" using 1:6 with linespoints lw 2 pt 9 lc rgb "#d62728" title "resolve hit pos 5 p50", \
     "$SCALES" using 1:7 with linespoints lw 1 pt 9 dt 2 lc rgb "#d62728" title "resolve hit pos 5 p99", \
     "$SCALES" using 1:8 with linespoints lw 2 pt 13 lc rgb "#2ca02c" title "resolve miss p50", \
     "$SCALES" using 1:9 with linespoints lw 1 pt 13 dt 2 lc rgb "#2ca02c" title "resolve miss p99"
GP
  if [ -s "$PNG" ]; then echo "plot: ${PNG#"$TOP"/}"; fi
else
  echo "plot: skipped (gnuplot not installed; scripts/deps.sh installs gnuplot-nox)"
fi
cp "$SCALES" "$OUT/resolve-scaling-$SCALE.dat"
echo "table: ${MD#"$TOP"/}"
if [ "$FAILED" -ne 0 ]; then echo "bench: some pgbench runs failed (see above)" >&2; exit 1; fi
