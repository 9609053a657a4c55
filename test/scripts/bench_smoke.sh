#!/usr/bin/env bash
# `make bench` smoke test: a tiny run of test/bench/run.sh
# against the running test cluster. It checks that the benchmark runs and
# prints its tables; it asserts no timing and prints no verdict on the goals
# (BENCH_SMOKE=1: they are judged from full runs).
set -uo pipefail
cd "${TOP:?TOP must be the repository root}"
out=$TOP/.pgtmp/bench-smoke
rm -rf "$out"
log=$(BENCH_SMOKE=1 SCALE=2000 BENCH_SECONDS=1 BENCH_SCALING=0 BENCH_MEM_BASE=200 BENCH_MEM_CALLS=2000 \
      BENCH_PARTITION_KEYS=100 BENCH_OUT="$out" BENCH_DB=vreg_bench_smoke bash test/bench/run.sh 2>&1)
rc=$?
echo "$log" | sed 's/^/# /'
n=0
t() { n=$((n + 1)); if eval "$2"; then echo "ok $n - $1"; else echo "not ok $n - $1"; fi; }
t "test/bench/run.sh exits 0" '[ "$rc" -eq 0 ]'
t "it prints the results table header" 'echo "$log" | grep -qF "| run | clients | tps | avg ms | p50 ms | p99 ms |"'
t "resolve, the bare probe and the 2-round-trip way each got a tps number" \
  '[ "$(echo "$log" | grep -cE "^\| (resolve hit, blob at pos 5 of 5|probe, generic plan \(pos 5\)|app: 2 round trips \(pos 5\)) \| [0-9]+ \| [0-9]+ \|")" -eq 3 ]'
t "it prints the ratios table, figures only (no PASS/MISS: goals are judged by make bench)" \
  '[ "$(echo "$log" | grep -E "^\|( [^|]+ \|){3}$" | grep -vc "^| ratio |")" -eq 18 ] && ! echo "$log" | grep -qE "\| (PASS|MISS) \|"'
t "the memory line counts every resolve call as a hit" 'echo "$log" | grep -q "^Memory: 2000 of 2000 resolve calls were hits"'
t "results-2000.md is written" '[ -s "$out/results-2000.md" ]'
"$PGC_BINDIR/psql" -X -q -d postgres -c "DROP DATABASE IF EXISTS vreg_bench_smoke" >/dev/null 2>&1
exit 0
