#!/usr/bin/env bash
# test/fuzz/run.sh -- build the libFuzzer targets and run each for a while.
#
#   test/fuzz/run.sh [SECONDS [RUNS]] [TARGET...]
#
# SECONDS per target (default 60), RUNS caps the executions per target
# (default: no cap). Each target starts from a temporary copy of its seed
# corpus (test/fuzz/corpus/<target>/), so the corpus a run grows never dirties
# the repository; a crash or property violation is kept as
# test/fuzz/bin/crashes/<target>/crash-<sha1> (gitignored) and reported.
# Prints one TAP line per target: `ok N - fuzz <target> (...)` or
# `not ok N - fuzz <target>: <artifact path>`. Exits 1 when any target failed.
set -uo pipefail
cd "$(dirname "$0")"
FUZZ_DIR=$(pwd)
seconds=${1:-60}
runs=${2:-0}
shift $(( $# > 2 ? 2 : $# ))
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(oci_path url_check envelope cred_rules)

if ! command -v "${CLANG:-clang}" >/dev/null 2>&1; then
  echo "ok 1 # SKIP clang not installed: install clang and its libFuzzer runtime (Debian: make deps as root) to run it"
  exit 0
fi
if ! make -s -C "$FUZZ_DIR" >"$FUZZ_DIR/bin.build.log" 2>&1; then
  cat "$FUZZ_DIR/bin.build.log"
  echo "not ok 1 - fuzz targets build"
  rm -f "$FUZZ_DIR/bin.build.log"
  exit 1
fi
rm -f "$FUZZ_DIR/bin.build.log"

work=$(mktemp -d "${TMPDIR:-/tmp}/vreg-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
n=0 bad=0
for t in "${targets[@]}"; do
  n=$((n + 1))
  crashes="$FUZZ_DIR/bin/crashes/$t"
  mkdir -p "$crashes" "$work/$t"
  cp "$FUZZ_DIR/corpus/$t"/* "$work/$t"/ 2>/dev/null
  log="$work/$t.log"
  opts=(-max_total_time="$seconds" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048
        -max_len=4096 -artifact_prefix="$crashes/")
  [ "$runs" -gt 0 ] && opts+=(-runs="$runs")
  # -close_fd_mask=1: the targets' stdout is not ours; sanitizer reports go to stderr
  "$FUZZ_DIR/bin/fuzz_$t" "${opts[@]}" -close_fd_mask=1 "$work/$t" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  secs=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1 | cut -d' ' -f2)
  units=$(ls "$work/$t" | wc -l)
  artifact=$(sed -n 's/^.*Test unit written to \(.*\)$/\1/p' "$log" | tail -1)
  if [ "$rc" -eq 0 ] && [ -z "$artifact" ]; then
    echo "ok $n - fuzz $t (${execs:-0} execs, ${secs:-0}/s, cov ${cov:-0}, corpus $units)"
  else
    bad=$((bad + 1))
    echo "not ok $n - fuzz $t: ${artifact:-exit $rc, no artifact}"
    grep -E 'property violated|ERROR: (AddressSanitizer|libFuzzer)|runtime error|SUMMARY' "$log" | head -5 | sed 's/^/# /'
  fi
done
[ "$bad" -eq 0 ]
