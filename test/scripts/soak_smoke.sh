#!/usr/bin/env bash
# CI's one minute of the sustained mixed load: test/soak/run.sh
# for 60 s against the test cluster (PGHOST), asserting no aborted client, no
# error other than retried serialization failures/deadlocks, every invariant,
# and an exact download count. `make soak DURATION=...` runs it longer.
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
exec bash "$TOP/test/soak/run.sh" "${SOAK_SMOKE_SECONDS:-60}"
