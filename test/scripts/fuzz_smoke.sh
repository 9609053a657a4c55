#!/usr/bin/env bash
# A short libFuzzer run of every pure-C parser target (test/fuzz/): built with
# clang -fsanitize=fuzzer,address,undefined, each from a temporary copy of its
# seed corpus, for at most 10 seconds or 300000 inputs. One TAP line per
# target; `not ok` names the crash input. `make fuzz` runs them longer.
# Skips cleanly when clang is not installed.
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
exec bash "$TOP/test/fuzz/run.sh" "${FUZZ_SMOKE_SECONDS:-10}" "${FUZZ_SMOKE_RUNS:-300000}"
