#!/usr/bin/env bash
# Sustained mixed load: `make soak DURATION=<seconds>`.
#
#   test/soak/run.sh [DURATION]     default 60 seconds; SOAK_CLIENTS (8), SOAK_GROUPS (16)
#
# 8 pgbench clients run a weighted mix of the request path and the lifecycle
# (resolve, resolve + record_download, upsert_cache_entry, move_upstream,
# purge_upstream, mark_for_destruction, claim_for_destruction +
# finish_destruction, flush_downloads, and record_download on one counted
# entry) with --max-tries, so serialization failures and deadlocks are retried
# as an application would. Then it flushes the download buffer and checks:
# pgbench aborted no client; the server logged no error other than 40001 or
# 40P01 (counted by SQLSTATE from the server log, written with
# log_error_verbosity = verbose for this database); every invariant of
# test/sql-checks/invariants.sql holds; the counted entry's downloads_count
# equals the committed counted.sql transactions exactly.
#
# Uses the server in PGHOST when PGHOST is set (a fresh database vreg_soak;
# make test does this); otherwise installs into a private PostgreSQL tree under
# .pgtmp/soak and starts a throwaway cluster there.
set -uo pipefail
cd "$(dirname "$0")/../.."
TOP=$(pwd)
DURATION=${1:-${DURATION:-60}}
CLIENTS=${SOAK_CLIENTS:-8}
GROUPS_N=${SOAK_GROUPS:-16}
SOAK=$TOP/test/soak
. scripts/pgcluster.sh
. test/scripts/credentials_lib.bash
. test/sql-checks/invariants.bash

started_here=0
if [ -z "${PGHOST:-}" ]; then
  started_here=1
  echo "# private PostgreSQL tree and throwaway cluster under .pgtmp/soak"
  pgc_private_tree "$TOP/.pgtmp/soak" || exit 1
  make -s install PG_CONFIG="$PGC_PG_CONFIG" >"$TOP/.pgtmp/soak/install.log" 2>&1 \
    || { cat "$TOP/.pgtmp/soak/install.log"; exit 1; }
  pgc_init "$TOP/.pgtmp/soak/cluster" || exit 1
  pgc_write_keyring "$PGC_DIR/keyring" 1
  pgc_conf "containers_vreg.keyring_file = '$PGC_DIR/keyring'"
  pgc_startonly || exit 1
fi
# stop only a cluster this script started, never the caller's
cleanup() { rm -rf "${OUT:-}"; if [ "$started_here" -eq 1 ]; then pgc_stop; fi; }
trap cleanup EXIT
DB=vreg_soak
LOG=${PGC_DIR:+$PGC_DIR/server.log}
"$PGC_BINDIR/psql" -X -q -d postgres -c "SET client_min_messages = warning" \
  -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" \
  -c "ALTER DATABASE $DB SET log_error_verbosity = verbose" || exit 1
counted=$("$PGC_BINDIR/psql" -X -q -At -v groups="$GROUPS_N" -d $DB -f "$SOAK/setup.sql" | sed -n 's/^counted //p')
[ -n "$counted" ] || { tap_fail "soak setup"; exit 1; }

log_from=0
[ -n "$LOG" ] && [ -r "$LOG" ] && log_from=$(stat -c %s "$LOG")
OUT=$(mktemp -d)
echo "# soak: $CLIENTS clients, $DURATION s, $GROUPS_N groups, PostgreSQL $("$PGC_PG_CONFIG" --version | awk '{print $2}')"
"$PGC_BINDIR/pgbench" -n -c "$CLIENTS" -j 2 -T "$DURATION" --max-tries=100 --failures-detailed \
  -D groups="$GROUPS_N" -D counted="$counted" \
  -f "$SOAK/resolve.sql@30" -f "$SOAK/pull.sql@20" -f "$SOAK/upsert.sql@20" \
  -f "$SOAK/counted.sql@5" -f "$SOAK/move.sql@8" -f "$SOAK/mark.sql@6" \
  -f "$SOAK/purge.sql@1" -f "$SOAK/claim.sql@6" -f "$SOAK/flush.sql@4" \
  $DB >"$OUT/pgbench.out" 2>"$OUT/pgbench.err"
rc=$?
sed 's/^/# /' "$OUT/pgbench.out" | grep -E 'processed|failed|retried|retries|tps = |SQL script|transactions \(' | grep -vE 'latency| - (number of|total number of) [a-z ]*: 0( |$)'
grep -v '^pgbench: client .* retr' "$OUT/pgbench.err" | head -20 | sed 's/^/# stderr: /'

total=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$OUT/pgbench.out")
failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$OUT/pgbench.out")
retried=$(sed -n 's/^number of transactions retried: \([0-9]*\).*/\1/p' "$OUT/pgbench.out")
counted_tx=$(awk '/^SQL script [0-9]+: .*counted.sql/ { on = 1; next } /^SQL script/ { on = 0 }
                  on && /^ - [0-9]+ transactions/ { print $2; exit }' "$OUT/pgbench.out")
expect_eq "pgbench ran to the end (no client aborted)" "$rc:$(grep -c 'aborted' "$OUT/pgbench.err")" "0:0"
expect_eq "no transaction failed after its retries" "${failed:-missing}" "0"

# Errors the server logged during the run, by SQLSTATE.
if [ -n "$LOG" ] && [ -r "$LOG" ]; then
  tail -c +"$((log_from + 1))" "$LOG" | sed -n 's/.*\(ERROR\|FATAL\|PANIC\):  \([0-9A-Z]\{5\}\): .*/\2/p' \
    | sort | uniq -c | awk '{ print $2, $1 }' > "$OUT/errors"
  echo "# server errors by SQLSTATE: $(awk '{ printf "%s %s%s, ", $1, $2, ($1 == "40001" || $1 == "40P01") ? " (retried)" : "" }' "$OUT/errors")total $(awk '{ s += $2 } END { print s + 0 }' "$OUT/errors")"
  expect_eq "no error other than serialization failures and deadlocks (retried)" \
    "$(awk '$1 != "40001" && $1 != "40P01" { printf "%s:%s ", $1, $2 }' "$OUT/errors")" ""
else
  echo "ok - no server log readable here: errors are judged by pgbench alone # SKIP"
fi

"$PGC_BINDIR/psql" -X -q -At -d $DB -c "SELECT containers_vreg.flush_downloads()" >/dev/null
vreg_invariants $DB
# Exact: every committed counted.sql transaction wrote one ledger row and
# one buffered download (flushed above). pgbench's own per-script counts are
# not used: they can miss a few transactions (its processed total is exact).
got_dl=$(q $DB "SELECT downloads_count FROM containers_vreg.cache_entries WHERE group_id = 1000 AND id = $counted")
ledger=$(q $DB "SELECT count(*) FROM public.soak_ledger")
expect_eq "the counted entry's downloads_count equals its committed record_download transactions ($ledger; pgbench counted ${counted_tx:-?})" "$got_dl" "$ledger"
echo "# soak result: $total transactions in $DURATION s ($CLIENTS clients), retried $retried, failed ${failed:-?}; entries by status: $(q $DB "SELECT string_agg(status || ':' || n, ' ' ORDER BY status) FROM (SELECT status, count(*) n FROM containers_vreg.cache_entries GROUP BY 1) s")"
