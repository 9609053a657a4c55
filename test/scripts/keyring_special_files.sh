#!/usr/bin/env bash
# A keyring path that names something other than a regular file is refused at
# once with F0000 ("not a regular file"), never waited on: a FIFO used to hang
# the backend in open() beyond statement_timeout and pg_terminate_backend().
# Also a directory (F0000), and a symbolic link to a good keyring is followed.
# Runs on the shared test cluster: the setting is changed with ALTER SYSTEM and
# reset (and the real keyring used again) on exit; every psql call runs under
# `timeout`, so a regression fails this test instead of hanging CI.
set -uo pipefail
: "${PGC_BINDIR:?run from test/run_all.sh}"
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$TOP/test/scripts/credentials_lib.bash"
B="$PGC_BINDIR"
DB=vreg_keyring_special
WORK="$PGC_DIR/keyring-special"
FIFO="$WORK/k.fifo"
failed=0
# the shared TAP helpers, remembering a failure for the exit status
eval "$(declare -f tap_fail | sed '1s/tap_fail/tap_fail_print/')"
tap_fail() { failed=1; tap_fail_print "$@"; }

# psql with a hard limit: statement_timeout is 2 s, the wrapper 20 s
tq()    { timeout 20 "$B/psql" -X -At -q -v ON_ERROR_STOP=1 -d "$DB" -c "$1"; }
tqerr() {  # "SQLSTATE: message", "ok", or "timeout"
  local out rc
  out=$(PGOPTIONS="-c statement_timeout=2s" timeout 20 "$B/psql" -X -At -q -v ON_ERROR_STOP=1 \
          -v VERBOSITY=verbose -d "$DB" -c "$1" 2>&1)
  rc=$?
  if [ $rc -eq 124 ]; then echo timeout
  elif [ $rc -eq 0 ]; then echo ok
  else printf '%s\n' "$out" | sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\): /\1: /p' | head -1
  fi
}
set_keyring() {  # $1: path; waits until new sessions see it
  local i
  tq "ALTER SYSTEM SET containers_vreg.keyring_file = '$1'" >/dev/null
  tq "SELECT pg_reload_conf()" >/dev/null
  for i in $(seq 1 50); do
    [ "$(tq "SHOW containers_vreg.keyring_file")" = "$1" ] && return 0
    sleep 0.1
  done
  return 1
}
cleanup() {
  # a backend stuck opening the FIFO for reading is released by one writer
  [ -p "$FIFO" ] && timeout 5 bash -c "exec 3>'$FIFO'" 2>/dev/null
  timeout 20 "$B/psql" -X -q -d postgres -c "ALTER SYSTEM RESET containers_vreg.keyring_file" -c "SELECT pg_reload_conf()" >/dev/null
  timeout 20 "$B/dropdb" --if-exists "$DB"
  rm -rf "$WORK"
}
trap cleanup EXIT

"$B/dropdb" --if-exists "$DB"
"$B/createdb" "$DB" || { echo "not ok 1 - createdb"; exit 1; }
mkdir -p "$WORK"
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$WORK"; fi
tq "CREATE EXTENSION containers_vreg" >/dev/null || { echo "not ok 1 - create extension"; exit 1; }
tq "INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials)
    VALUES (1, 1, 'https://ghcr.io', '{\"username\": \"bot\", \"password\": \"secret\"}')" >/dev/null
real=$(tq "SHOW containers_vreg.keyring_file")
expect_eq "credentials readable with the real keyring" \
  "$(tq "SELECT containers_vreg.upstream_credentials(1, 1)->>'password'")" "secret"

# a FIFO owned by the server's OS user, mode 0600 (as a keyring would be)
mkfifo -m 600 "$FIFO"
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$FIFO"; fi
set_keyring "$FIFO" || tap_fail "the setting names the FIFO"
start=$(date +%s%N)
e=$(tqerr "SELECT containers_vreg.upstream_credentials(1, 1)")
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect_eq "a FIFO is refused with F0000, not a regular file" "$e" \
  "F0000: keyring file \"$FIFO\" is not a regular file"
expect_eq "the refusal comes at once, before the 2 s statement_timeout" \
  "$([ "$elapsed_ms" -lt 2000 ] && echo yes || echo "no: ${elapsed_ms} ms")" "yes"
e=$(tqerr "INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials)
           VALUES (1, 2, 'https://quay.io', '{\"username\": \"bot\", \"password\": \"secret\"}')")
expect_eq "sealing refuses the FIFO too (F0000)" "$e" \
  "F0000: keyring file \"$FIFO\" is not a regular file"
expect_eq "the server still answers" "$(tq "SELECT 1")" "1"

# a directory
set_keyring "$WORK" || tap_fail "the setting names the directory"
expect_eq "a directory is refused with F0000" \
  "$(tqerr "SELECT containers_vreg.upstream_credentials(1, 1)")" \
  "F0000: keyring file \"$WORK\" is not a regular file"

# a symbolic link to the real keyring is followed
ln -s "$real" "$WORK/link.keyring"
set_keyring "$WORK/link.keyring" || tap_fail "the setting names the link"
expect_eq "a symbolic link to the keyring is followed" \
  "$(tq "SELECT containers_vreg.upstream_credentials(1, 1)->>'password'")" "secret"

# the real keyring again
set_keyring "$real" || tap_fail "the setting names the real keyring again"
expect_eq "credentials readable with the real keyring again" \
  "$(tq "SELECT containers_vreg.upstream_credentials(1, 1)->>'password'")" "secret"
exit $failed
