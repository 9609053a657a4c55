#!/usr/bin/env bash
# The project's test command (`make test`, called by .ci/run).
#
# Installs the extension into a private copy of the PostgreSQL tree in the
# checkout's scratch directory .pgtmp (no system directory is written, so
# several checkouts can test at once; see scripts/pgcluster.sh for where it
# lives), starts a throwaway cluster, runs the harness self-test, pg_regress,
# the isolation specs and every test/scripts/*.sh, and ends with the line
# `N passed, N failed`.
set -uo pipefail
cd "$(dirname "$0")/.."
TOP=$(pwd)
. scripts/pgcluster.sh

passed=0 failed=0 skipped=0
failures=()
count_pg_regress() {  # $1: output file, $2: suite name
  local p f
  # pg_regress 15 prints "test name ... ok" or "     name ... FAILED"
  p=$(grep -cE '\.\.\. ok( |$)' "$1" || true)
  f=$(grep -cE '\.\.\. (FAILED|failed)' "$1" || true)
  passed=$((passed + p)); failed=$((failed + f))
  if [ "$f" -gt 0 ]; then failures+=("$2: $(grep -E '\.\.\. (FAILED|failed)' "$1" | sed 's/\.\.\..*//' | xargs)"); fi
}

echo "== private PostgreSQL tree and build"
pgc_scratch || { echo "0 passed, 1 failed"; exit 1; }
TMP=$PGC_SCRATCH
pgc_private_tree "$TMP" || { echo "0 passed, 1 failed"; exit 1; }
if ! make -s install PG_CONFIG="$PGC_PG_CONFIG" >"$TMP/install.log" 2>&1; then
  cat "$TMP/install.log"; echo "0 passed, 1 failed"; exit 1
fi

echo "== throwaway cluster"
pgc_init "$TMP/cluster" || { echo "0 passed, 1 failed"; exit 1; }
for f in test/cluster.conf.d/*.sh; do [ -e "$f" ] && . "$f"; done
pgc_startonly || { echo "0 passed, 1 failed"; exit 1; }
trap pgc_stop EXIT
export PGHOST PGPORT PGUSER PGC_BINDIR PGC_PG_CONFIG PGC_DIR PGC_SCRATCH TOP

echo "== pg_regress and isolation"
rm -rf results output_iso regression.diffs regression.out
make -s installcheck PG_CONFIG="$PGC_PG_CONFIG" >"$TMP/installcheck.log" 2>&1
rc=$?
cat "$TMP/installcheck.log"
count_pg_regress "$TMP/installcheck.log" "pg_regress"
if [ "$rc" -ne 0 ] && ! grep -qE '\.\.\. (FAILED|failed)' "$TMP/installcheck.log"; then
  failed=$((failed + 1)); failures+=("installcheck (exit $rc)")
fi
for d in regression.diffs output_iso/regression.diffs; do
  if [ -s "$d" ]; then echo "---- $d"; head -c 20000 "$d"; fi
done

echo "== scripted tests"
for t in test/harness/selftest.sh test/scripts/*.sh; do
  [ -e "$t" ] || continue
  name=$(basename "$t" .sh)
  out="$TMP/script-$name.log"
  echo "-- $name"
  bash "$t" >"$out" 2>&1
  rc=$?
  cat "$out"
  p=$(grep -cE '^ok( |$)' "$out" || true)
  f=$(grep -cE '^not ok( |$)' "$out" || true)
  s=$(grep -cE '^ok .*# SKIP' "$out" || true)
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  if [ "$rc" -eq 0 ] && [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then p=1; fi
  passed=$((passed + p - s)); failed=$((failed + f)); skipped=$((skipped + s))
  [ "$f" -gt 0 ] && failures+=("$name")
done

echo
if [ ${#failures[@]} -gt 0 ]; then echo "failed: ${failures[*]}"; fi
if [ "$skipped" -gt 0 ]; then
  echo "$passed passed, $failed failed, $skipped skipped"
else
  echo "$passed passed, $failed failed"
fi
[ "$failed" -eq 0 ]
