#!/usr/bin/env bash
# How long ALTER EXTENSION containers_vreg UPDATE (0.2.0 -> current) takes on
# a big table, what it blocks, and the same with the indexes built and the
# constraints added and validated beforehand by
# scripts/prebuild-0.3.0-indexes.sql. A throwaway cluster as in
# test/bench/run.sh; the data is the benchmark's (test/bench/gen.sql),
# written at 0.2.0. While each step runs, two pgbench clients keep going, one
# resolving (a reader) and one storing entries (a writer), each logging every
# transaction: the longest transaction of each during the step is how long
# that step kept readers or writers waiting.
#
#   SCALE=10000000 bash test/bench/upgrade_big.sh      (default SCALE=1000000)
#
# Prints a table and writes it to $BENCH_OUT/upgrade-<scale>.md. Its own
# private tree and cluster (.pgtmp/upgrade), so that it can run beside
# `make bench`; the cluster is removed after a run that got to the end
# (BENCH_KEEP=1 keeps it), kept after a failure for BENCH_REUSE=1.
set -euo pipefail
cd "$(dirname "$0")/../.."
TOP=$(pwd)
BENCH=$TOP/test/bench
SCALE=${SCALE:-1000000}
OUT=${BENCH_OUT:-$BENCH/out}
. scripts/pgcluster.sh
NG=$(( SCALE / 5000 > 2 ? SCALE / 5000 : 2 ))
M=$(( SCALE / (NG * 5) / 10 * 10 ))
[ "$M" -ge 20 ] || M=20
ROWS=$(( NG * 5 * M ))
mkdir -p "$OUT"; OUT=$(cd "$OUT" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/vreg-upgrade.XXXXXX"); chmod 755 "$WORK"

echo "== build and install into a private PostgreSQL tree (.pgtmp/upgrade)"
make -s >/dev/null
pgc_private_tree "$TOP/.pgtmp/upgrade"
make -s install PG_CONFIG="$PGC_PG_CONFIG" >/dev/null
SB=${BENCH_SHARED_BUFFERS:-1GB}
# BENCH_REUSE=1: the cluster and both databases of an earlier run at this
# SCALE are still there (still at 0.2.0: a failed update changed nothing)
REUSE=0
if [ "${BENCH_REUSE:-0}" = 1 ] && [ -f "$TOP/.pgtmp/upgrade/cluster/data/PG_VERSION" ]; then
  REUSE=1
  PGC_DIR=$TOP/.pgtmp/upgrade/cluster
  PGPORT=$(sed -n 's/^port = //p' "$PGC_DIR/data/postgresql.conf" | tail -1)
  PGHOST=$PGC_DIR/sock PGUSER=postgres
  export PGC_DIR PGPORT PGHOST PGUSER
  SB=$(sed -n 's/^shared_buffers = //p' "$PGC_DIR/data/postgresql.conf" | tail -1)
else
  pgc_init "$TOP/.pgtmp/upgrade/cluster" >/dev/null
  pgc_conf "shared_buffers = $SB"
  pgc_conf "maintenance_work_mem = 512MB"
  pgc_conf "max_wal_size = 8GB"
  pgc_conf "checkpoint_timeout = 30min"
  pgc_conf "jit = off"
fi
pgc_startonly
LOAD=""
DONE=0
cleanup() {
  kill $LOAD 2>/dev/null || true
  pgc_stop
  rm -rf "$WORK"
  if [ "$DONE" = 1 ] && [ "${BENCH_KEEP:-0}" != 1 ]; then rm -rf "${PGC_DIR:?}"; fi
}
trap cleanup EXIT
PSQL=("$PGC_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1)
export PGOPTIONS="-c client_min_messages=warning"

# data at 0.2.0
DB=vreg_upgrade
if [ "$REUSE" = 0 ]; then
"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
"${PSQL[@]}" -d "$DB" -c "CREATE EXTENSION containers_vreg VERSION '0.2.0'" -f "$BENCH/gen.sql"
SEED=$TOP/../shared/data/oci-pulls/official-images.tsv
[ -r "$SEED" ] || SEED=$TOP/test/data/demo-trace.tsv
awk -F'\t' 'NR > 1 && $1 ~ /^[a-z0-9._\/-]+$/ { print $1 }' "$SEED" | sort -u | awk '{ print NR "\t" $0 }' > "$WORK/names.tsv"
printf '1\t1048576\n' > "$WORK/sizes.tsv"
"${PSQL[@]}" -d "$DB" -c "\\copy vreg_bench.names FROM '$WORK/names.tsv'" -c "\\copy vreg_bench.sizes FROM '$WORK/sizes.tsv'"
t0=$(date +%s)
"${PSQL[@]}" -d "$DB" -c "SELECT vreg_bench.setup($NG, $(( M * 10 )))" -c "SELECT vreg_bench.fill(0, $M)" -c "ANALYZE" >/dev/null
echo "== $ROWS entries at 0.2.0 in $(( $(date +%s) - t0 )) s"
"${PSQL[@]}" -d postgres -c "CHECKPOINT"
t0=$(date +%s)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE ${DB}_pre TEMPLATE $DB"
echo "   copied for the prebuild run in $(( $(date +%s) - t0 )) s"
else
  awk -F'\t' 'NR > 1 && $1 ~ /^[a-z0-9._\/-]+$/ { print $1 }' "$TOP/../shared/data/oci-pulls/official-images.tsv" 2>/dev/null | sort -u | awk '{ print NR "\t" $0 }' > "$WORK/names.tsv"
  [ -s "$WORK/names.tsv" ] || "${PSQL[@]}" -d "$DB" -c "SELECT n || E'\t' || name FROM vreg_bench.names ORDER BY n" > "$WORK/names.tsv"
  echo "== reusing the $ROWS entries of the earlier run"
fi
NN=$(wc -l < "$WORK/names.tsv")
NAMES=$("${PSQL[@]}" -d "$DB" -c "SELECT quote_literal(array_agg(name ORDER BY n)::text) || '::text[]' FROM vreg_bench.names")
for f in resolve_hit.sql upsert.sql; do
  sed -e "s|@NAMES@|$NAMES|g" -e "s|@NN@|$NN|g" "$BENCH/scripts/$f" > "$WORK/$f"
done

# step NAME DB COMMAND...: run the command with a reader and a writer going;
# appends "name|seconds|reader max ms|writer max ms|reader txns|writer txns"
RES=$WORK/steps.txt
: > "$RES"
step() {
  local name=$1 db=$2 d=$WORK/step-$RANDOM
  shift 2
  mkdir -p "$d"
  (cd "$d" && exec "$PGC_BINDIR/pgbench" -n -M prepared -c 1 -T 3600 -l --log-prefix=r -D ng="$NG" -D m="$M" -D k=5 -f "$WORK/resolve_hit.sql" "$db" >/dev/null 2>&1) &
  local reader=$!
  (cd "$d" && exec "$PGC_BINDIR/pgbench" -n -M prepared -c 1 -T 3600 -l --log-prefix=w -D ng="$NG" -D m="$M" -f "$WORK/upsert.sql" "$db" >/dev/null 2>&1) &
  local writer=$!
  LOAD="$reader $writer"
  sleep 3
  local t0 t1; t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N)
  sleep 3
  kill -TERM $reader $writer 2>/dev/null || true; wait $reader $writer 2>/dev/null || true; LOAD=""
  # pgbench log: client txno latency_us script_no epoch_s epoch_us (a += 0:
  # mawk compares -v values and fields against an unset variable as strings)
  local rmax wmax rn wn
  read -r rmax rn < <(cat "$d"/r.* 2>/dev/null | awk -v a="$t0" -v b="$t1" 'BEGIN { a += 0; b += 0; m = 0 } { e = $5 + $6 / 1e6; s = e - $3 / 1e6; if (e >= a && s <= b) { n++; if ($3 + 0 > m) m = $3 + 0 } } END { printf "%.0f %d\n", m / 1000, n }')
  read -r wmax wn < <(cat "$d"/w.* 2>/dev/null | awk -v a="$t0" -v b="$t1" 'BEGIN { a += 0; b += 0; m = 0 } { e = $5 + $6 / 1e6; s = e - $3 / 1e6; if (e >= a && s <= b) { n++; if ($3 + 0 > m) m = $3 + 0 } } END { printf "%.0f %d\n", m / 1000, n }')
  echo "$name|$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')|$rmax|$wmax|$rn|$wn" >> "$RES"
  echo "   $(tail -1 "$RES")"
}
# update_noting_locks DB FILE: the update, and before its COMMIT the locks it
# holds on cache_entries and its partitions (written to FILE)
update_noting_locks() {
  "${PSQL[@]}" -d "$1" -o "$2" <<'SQL'
BEGIN;
ALTER EXTENSION containers_vreg UPDATE;
SELECT string_agg(DISTINCT l.mode, ', ' ORDER BY l.mode) FROM pg_locks l
 WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation'
   AND l.relation IN (SELECT 'containers_vreg.cache_entries'::regclass UNION ALL
                      SELECT inhrelid FROM pg_inherits WHERE inhparent = 'containers_vreg.cache_entries'::regclass);
COMMIT;
SQL
}

echo "== the update as it is"
step "ALTER EXTENSION containers_vreg UPDATE (builds the indexes)" "$DB" \
  update_noting_locks "$DB" "$WORK/locks-plain"
echo "== indexes and constraints prebuilt"
step "psql -f scripts/prebuild-0.3.0-indexes.sql" "${DB}_pre" \
  "${PSQL[@]}" -d "${DB}_pre" -f scripts/prebuild-0.3.0-indexes.sql
step "then ALTER EXTENSION containers_vreg UPDATE" "${DB}_pre" \
  update_noting_locks "${DB}_pre" "$WORK/locks-pre"
LOCKS_PLAIN=$(cat "$WORK/locks-plain")
LOCKS_PRE=$(cat "$WORK/locks-pre")

MD=$OUT/upgrade-$SCALE.md
{
  echo "containers_vreg 0.2.0 -> $(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" containers_vreg.control) update on $ROWS cache entries, $(date -u '+%Y-%m-%d %H:%M UTC'), PostgreSQL $("$PGC_BINDIR/postgres" --version | awk '{ print $3 }'), $(nproc) cores, shared_buffers = $SB, maintenance_work_mem = 512MB, load average $(cut -d' ' -f1-3 /proc/loadavg) at the end"
  echo
  echo "Command: \`SCALE=$SCALE bash test/bench/upgrade_big.sh\`. During each step one pgbench client resolves (reader) and one calls upsert_cache_entry (writer); the longest transaction of each that overlapped the step is how long the step made it wait."
  echo
  echo "| step | seconds | reader's longest ms | writer's longest ms | reader txns | writer txns |"
  echo "|---|---:|---:|---:|---:|---:|"
  awk -F'|' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$RES"
  echo
  echo "Locks the update holds on cache_entries and its partitions until it commits: $LOCKS_PLAIN (with the indexes and constraints prebuilt: $LOCKS_PRE)."
} > "$MD"
echo; cat "$MD"
DONE=1
