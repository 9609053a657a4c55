#!/usr/bin/env bash
# The project's test command (`make test`, called by .ci/run).
#
# Installs the extension into a private copy of the PostgreSQL tree in the
# checkout's scratch directory .pgtmp (no system directory is written, so
# several checkouts can test at once; see scripts/pgcluster.sh for where it
# lives), starts a throwaway cluster, and runs the harness self-test,
# pg_regress, the isolation specs and every test/scripts/*.sh.
#
# Prints one line per group. Details (compiler lines, per-test lines, diffs,
# a script's output) only for a group that failed, or for every group with
# V=1 (make test V=1). The last line is `N passed, N failed`, or
# `N passed, N failed, N skipped` when tests were skipped: CI reads it.
#
# ONLY="group ..." (make test ONLY="pg_regress upgrade") runs just those
# groups (harness, pg_regress, isolation, or a test/scripts name) on the same
# set-up: a quick loop while developing; CI always runs everything.
set -uo pipefail
cd "$(dirname "$0")/.."
TOP=$(pwd)
V=${V:-0}
[ "$V" = 0 ] && V=
. scripts/pgcluster.sh

passed=0 failed=0 skipped=0
failures=()
t_start=$SECONDS

summary() {
  if [ ${#failures[@]} -gt 0 ]; then echo "failed: ${failures[*]}"; fi
  if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
  else
    echo "$passed passed, $failed failed"
  fi
}
# setup_failed STEP [LOG]: a step every test needs failed
setup_failed() {
  echo "$1: FAILED"
  [ -n "${2:-}" ] && [ -s "$2" ] && sed 's/^/  /' "$2"
  failed=$((failed + 1)); failures+=("$1")
  summary
  exit 1
}
secs() { echo "in $(( SECONDS - $1 )) s"; }
ONLY=${ONLY:-}
wanted() { [ -z "$ONLY" ] || [[ " $ONLY " == *" $1 "* ]]; }

# ---- build and install --------------------------------------------------------
t=$SECONDS
pgc_scratch || setup_failed "scratch directory"
TMP=$PGC_SCRATCH
LOGS=$TMP/logs
rm -rf "$LOGS"; mkdir -p "$LOGS"
{ pgc_private_tree "$TMP" && make install PG_CONFIG="$PGC_PG_CONFIG"; } >"$LOGS/build.log" 2>&1 \
  || setup_failed "build" "$LOGS/build.log"
warnings=$(grep -c 'warning:' "$LOGS/build.log")
echo "build: ok, PostgreSQL $("$PGC_PG_CONFIG" --version | awk '{ print $2 }')$([ "$warnings" -gt 0 ] && echo ", $warnings compiler warnings (V=1 shows them)") $(secs "$t")"
[ -n "$V" ] && sed 's/^/  /' "$LOGS/build.log"

# ---- the throwaway cluster ----------------------------------------------------
pgc_init "$TMP/cluster" 2>"$LOGS/cluster.log" || setup_failed "cluster" "$LOGS/cluster.log"
for f in test/cluster.conf.d/*.sh; do [ -e "$f" ] && . "$f"; done
pgc_startonly 2>>"$LOGS/cluster.log" || setup_failed "cluster" "$LOGS/cluster.log"
trap pgc_stop EXIT
export PGHOST PGPORT PGUSER PGC_BINDIR PGC_PG_CONFIG PGC_DIR PGC_SCRATCH TOP
echo "cluster: port $PGPORT, data in $PGC_DIR"

# ---- TAP groups ---------------------------------------------------------------
# tap_group NAME LOG RC: count the TAP lines of LOG ("ok", "not ok", "# SKIP")
# and print the group's line; its output too when it failed or with V=1.
tap_group() {
  local name=$1 log=$2 rc=$3 t0=$4 p f s total reasons line
  p=$(grep -cE '^ok( |$)' "$log")
  f=$(grep -cE '^not ok( |$)' "$log")
  s=$(grep -cE '^ok .*# SKIP' "$log")
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  if [ "$rc" -eq 0 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then p=1; fi
  p=$((p - s))
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  reasons=$(sed -n 's/^ok .*# SKIP *//p' "$log" | sort -u | paste -sd ';' | sed 's/;/; /g')
  if [ "$f" -gt 0 ]; then
    failures+=("$name")
    line="$name: FAILED ($f failed, $p passed$([ "$s" -gt 0 ] && echo ", $s skipped"))"
  elif [ "$p" -eq 0 ] && [ "$s" -gt 0 ]; then
    line="$name: skipped ($reasons)"
  else
    line="$name: ok ($p$([ "$s" -gt 0 ] && echo ", $s skipped: $reasons"))"
  fi
  echo "$line $(secs "$t0")"
  if [ "$f" -gt 0 ] || [ -n "$V" ]; then
    sed 's/^/  /' "$log"
    [ "$rc" -ne 0 ] && [ "$f" -gt 0 ] && echo "  (exit status $rc)"
  fi
}

# The harness itself: a checkout the server's OS user cannot enter.
t=$SECONDS
if wanted harness; then
  bash test/harness/selftest.sh >"$LOGS/harness.log" 2>&1
  tap_group harness "$LOGS/harness.log" $? "$t"
fi

# ---- pg_regress and isolation -------------------------------------------------
# pg_regress_group NAME LOG RC DIFFS: "test x ... ok" / "... FAILED" lines
pg_regress_group() {
  local name=$1 log=$2 rc=$3 diffs=$4 t0=$5 p f bad
  p=$(grep -cE '\.\.\. ok( |$)' "$log")
  f=$(grep -cE '\.\.\. (FAILED|failed)' "$log")
  bad=$(grep -E '\.\.\. (FAILED|failed)' "$log" | sed -e 's/\.\.\..*//' -e 's/^test //' | xargs)
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; bad="(exit status $rc)"; fi
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$f" -gt 0 ]; then
    failures+=("$name")
    echo "$name: $p passed, $f failed: $bad $(secs "$t0")"
  else
    echo "$name: $p passed $(secs "$t0")"
  fi
  if [ "$f" -gt 0 ] || [ -n "$V" ]; then
    sed 's/^/  /' "$log"
    if [ -s "$diffs" ]; then echo "  ---- $diffs"; head -c 20000 "$diffs"; fi
  fi
}

rm -rf results output_iso regression.diffs regression.out
t=$SECONDS
# KEYRING_MISSING= : this cluster has the keyring, so every test runs (see Makefile)
if wanted pg_regress; then
  make installcheck ISOLATION= KEYRING_MISSING= PG_CONFIG="$PGC_PG_CONFIG" >"$LOGS/pg_regress.log" 2>&1
  pg_regress_group pg_regress "$LOGS/pg_regress.log" $? regression.diffs "$t"
fi
t=$SECONDS
if wanted isolation; then
  make installcheck REGRESS= PG_CONFIG="$PGC_PG_CONFIG" >"$LOGS/isolation.log" 2>&1
  pg_regress_group isolation "$LOGS/isolation.log" $? output_iso/regression.diffs "$t"
fi

# ---- scripted tests -----------------------------------------------------------
for s in test/scripts/*.sh; do
  [ -e "$s" ] || continue
  name=$(basename "$s" .sh)
  wanted "$name" || continue
  t=$SECONDS
  bash "$s" >"$LOGS/script-$name.log" 2>&1
  tap_group "$name" "$LOGS/script-$name.log" $? "$t"
done

echo "(logs: $LOGS; $(( (SECONDS - t_start) / 60 )) min $(( (SECONDS - t_start) % 60 )) s)"
summary
[ "$failed" -eq 0 ]
