#!/usr/bin/env bash
# No secret in the server log: on a cluster of its own with
# log_min_messages = debug5, log_statement = 'none' and
# log_min_error_statement = panic (the settings the README recommends), write
# credentials, read them, rotate, and have writes refused (unknown key, too
# long, one without the other, duplicate); then no log line carries a
# username, a password or key material.
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$TOP/scripts/pgcluster.sh"
. "$TOP/test/scripts/credentials_lib.bash"

pgc_init "$TOP/.pgtmp/cred-log" || { echo "not ok 1 - initdb"; exit 1; }
KR="$PGC_DIR/keyring"
pgc_write_keyring "$KR" 1 2
pgc_conf "containers_vreg.keyring_file = '$KR'"
pgc_conf "log_min_messages = debug5"
pgc_conf "log_statement = 'none'"
pgc_conf "log_min_error_statement = panic"
pgc_startonly || { echo "not ok 1 - cluster start"; exit 1; }
trap pgc_stop EXIT
DB=postgres
U=LogCanaryUser$RANDOM P=LogCanaryPass$RANDOM

q $DB "CREATE EXTENSION containers_vreg" >/dev/null || exit 1
q $DB "INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials) VALUES (1, 1, 'https://ghcr.io', '{\"username\": \"$U\", \"password\": \"$P\"}')"
expect_eq "credentials written and read back" "$(q $DB "SELECT containers_vreg.upstream_credentials(1, 1)->>'password'")" "$P"
e1=$(qerr $DB "INSERT INTO containers_vreg.upstreams (group_id, url, credentials) VALUES (1, 'https://quay.io', '{\"username\": \"$U\", \"password\": \"$P\", \"token\": \"$P\"}')")
expect_match "unknown key refused (22023), named, its value not" "$e1" "^22023: invalid credentials for upstream [0-9]+ of group 1: unknown key \"token\"$"
e2=$(qerr $DB "INSERT INTO containers_vreg.upstreams (group_id, url, credentials) VALUES (1, 'https://quay.io', '{\"username\": \"$U\", \"password\": \"$P$(printf 'x%.0s' $(seq 1 510))\"}')")
expect_match "too long refused (22023)" "$e2" "^22023: "
e3=$(qerr $DB "INSERT INTO containers_vreg.upstreams (group_id, url, credentials) VALUES (1, 'https://quay.io', '{\"password\": \"$P\"}')")
expect_match "password without username refused (22023)" "$e3" "^22023: "
e4=$(qerr $DB "INSERT INTO containers_vreg.upstreams (group_id, url, credentials) VALUES (1, 'https://ghcr.io', '{\"username\": \"$U\", \"password\": \"$P\"}')")
expect_match "duplicate refused (23505)" "$e4" "^23505: "
e5=$(qerr $DB "UPDATE containers_vreg.upstreams SET credentials = jsonb_set(credentials, '{kid}', '9') WHERE id = 1")
expect_match "tampered envelope refused on write (55000: key 9 not in the keyring)" "$e5" "^55000: "
# at-rest tampering (the trigger off, as a disk or a backup would be) is caught on open
q $DB "ALTER TABLE containers_vreg.upstreams DISABLE TRIGGER upstreams_credentials;
       UPDATE containers_vreg.upstreams SET credentials = jsonb_set(credentials, '{kid}', '1') WHERE id = 1;
       ALTER TABLE containers_vreg.upstreams ENABLE ALWAYS TRIGGER upstreams_credentials" >/dev/null
e6=$(qerr $DB "SELECT containers_vreg.upstream_credentials(1, 1)")
expect_match "tampered envelope fails to open (22000)" "$e6" "^22000: "
q $DB "UPDATE containers_vreg.upstreams SET credentials = '{\"username\": \"$U\", \"password\": \"$P\"}' WHERE id = 1" >/dev/null
expect_eq "rotation with nothing to do" "$(q $DB "SELECT containers_vreg.rotate_credentials()")" "0"
expect_nomatch "client-side errors name no value" "$e1 $e2 $e3 $e4 $e5 $e6" "LogCanary"

pgc_stop
log=$(cat "$PGC_DIR/server.log")
expect_match "the server log is at debug level (the test can see what is logged)" "$log" "DEBUG:  "
expect_match "the refused statements' errors reached the log" "$log" "invalid credentials for upstream"
expect_eq "no log line carries the password" "$(grep -c "$P" "$PGC_DIR/server.log")" "0"
expect_eq "no log line carries the username" "$(grep -c "$U" "$PGC_DIR/server.log")" "0"
for k in $(grep -v '^#' "$KR" | cut -d' ' -f2); do
  expect_eq "no log line carries key ${k:0:4}..." "$(grep -c "$k" "$PGC_DIR/server.log")" "0"
done
