#!/usr/bin/env bash
# Envelopes of format 1, as 0.1.0 and 0.2.0 sealed them (bound to group_id and
# id, not to the url), on a cluster of its own whose keyring is the fixed
# test key of test/data/credentials_format1.env (written once by
# test/data/gen_credentials_format1.c, not by the code under test). They are
# restored as they are, still open, survive a dump and restore, are refused
# when an UPDATE supplies one (so an old envelope cannot be moved onto a new
# url, nor an older password written back), and rotate_credentials() re-seals
# them in format 2, bound to the url, counting each although the key does not
# change.
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$TOP/scripts/pgcluster.sh"
. "$TOP/test/scripts/credentials_lib.bash"
. "$TOP/test/data/credentials_format1.env"

pgc_init "$TOP/.pgtmp/cred-format1" || { echo "not ok 1 - initdb"; exit 1; }
KR="$PGC_DIR/keyring"
pgc_write_keyring_text "$KR" "$KEY1"
pgc_conf "containers_vreg.keyring_file = '$KR'"
pgc_startonly || { echo "not ok 1 - cluster start"; exit 1; }
trap pgc_stop EXIT
B=$PGC_BINDIR
DB=vreg_format1 DB2=vreg_format1_restored
for d in $DB $DB2; do "$B/createdb" "$d" || exit 1; done
q $DB "CREATE EXTENSION containers_vreg" || exit 1

pw() { q "$1" "SELECT containers_vreg.upstream_credentials(42, $2)->>'password'"; }
formats="SELECT string_agg(id || '=v' || coalesce(credentials->>'v', '-') || 'k' || coalesce(credentials->>'kid', '-'), ' ' ORDER BY id) FROM containers_vreg.upstreams"

# 1. what a dump of 0.2.0 restores: the secret and two upstreams, in format 1
q $DB "INSERT INTO containers_vreg.credentials_secret (id, secret) VALUES (1, '$SECRET_ENV');
  INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials, credentials_fingerprint) VALUES
    (42, 3, 'https://ghcr.io', '$ENV_42_3', '\\x$ENV_42_3_FP'),
    (42, 4, 'https://quay.io', '$ENV_42_4', '\\x$ENV_42_4_FP')" || exit 1
expect_eq "format 1 envelopes inserted are stored as they are" "$(q $DB "$formats")" "3=v1k1 4=v1k1"
expect_eq "format 1 envelopes open as before" "$(pw $DB 3) $(pw $DB 4)" "format1-pw-3 format1-pw-4"
expect_match "their fingerprints are the module's: the same credentials on the same url are refused (23505)" \
  "$(qerr $DB "INSERT INTO containers_vreg.upstreams (group_id, url, credentials) VALUES (42, 'https://ghcr.io', '{\"username\": \"ci-bot\", \"password\": \"format1-pw-3\"}')")" "^23505: "
q $DB "UPDATE containers_vreg.upstreams SET name = 'renamed' WHERE group_id = 42 AND id = 3" || tap_fail "rename"
expect_eq "an UPDATE of other columns keeps a format 1 envelope" "$(q $DB "$formats"); $(pw $DB 3)" "3=v1k1 4=v1k1; format1-pw-3"

# 2. dump and restore keep them as they are, and they open there
"$B/pg_dump" $DB | "$B/psql" -X -q -v ON_ERROR_STOP=1 -d $DB2 >/dev/null 2>&1 || tap_fail "dump and restore"
expect_eq "after a dump and restore: still format 1, and they open" "$(q $DB2 "$formats"); $(pw $DB2 3) $(pw $DB2 4)" \
  "3=v1k1 4=v1k1; format1-pw-3 format1-pw-4"

# 3. an UPDATE refuses every format 1 envelope (22023), whatever it holds
e=$(qerr $DB "UPDATE containers_vreg.upstreams SET credentials = '$ENV_42_3_OLD', credentials_fingerprint = '\\x$ENV_42_3_OLD_FP' WHERE group_id = 42 AND id = 3")
expect_eq "an older password of the row, in format 1, is refused (22023)" "$e" \
  "22023: credentials envelope of format 1 for upstream 3 of group 42 is not bound to its URL"
expect_eq "... and the row keeps its credentials" "$(pw $DB 3)" "format1-pw-3"
# the attack: a url change clears the credentials, the old envelope written back
q $DB "UPDATE containers_vreg.upstreams SET url = 'https://attacker.example.net' WHERE group_id = 42 AND id = 4" || tap_fail "url change"
e=$(qerr $DB "UPDATE containers_vreg.upstreams SET credentials = '$ENV_42_4', credentials_fingerprint = '\\x$ENV_42_4_FP' WHERE group_id = 42 AND id = 4")
expect_eq "the old envelope written back after a url change is refused (22023)" "$e" \
  "22023: credentials envelope of format 1 for upstream 4 of group 42 is not bound to its URL"
e=$(qerr $DB "UPDATE containers_vreg.upstreams SET url = 'https://attacker2.example.net', credentials = '$ENV_42_4' WHERE group_id = 42 AND id = 4")
expect_eq "... also in the statement that changes the url (22023)" "$e" \
  "22023: credentials envelope of format 1 for upstream 4 of group 42 is not bound to its URL"
expect_eq "... so the upstream on the new url has no credentials" "$(q $DB "$formats")" "3=v1k1 4=v-k-"

# 4. the residual risk, until rotation: an INSERT stores a format 1 envelope as
#    it is (a restore needs that), and format 1 binds no url
q $DB "DELETE FROM containers_vreg.upstreams WHERE group_id = 42 AND id = 4;
  INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials, credentials_fingerprint)
  VALUES (42, 4, 'https://attacker.example.net', '$ENV_42_4', '\\x$ENV_42_4_FP')" || tap_fail "insert"
expect_eq "a format 1 envelope inserted on another url of its row opens (documented residual risk)" "$(pw $DB 4)" "format1-pw-4"
q $DB "DELETE FROM containers_vreg.upstreams WHERE group_id = 42 AND id = 4;
  INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials, credentials_fingerprint)
  VALUES (42, 4, 'https://quay.io', '$ENV_42_4', '\\x$ENV_42_4_FP')" || tap_fail "insert back"

# 5. rotation converts them, under the same key, and counts each
fps=$(q $DB "SELECT string_agg(encode(credentials_fingerprint, 'hex'), ',' ORDER BY id) FROM containers_vreg.upstreams")
expect_eq "rotate_credentials(1) re-seals one format 1 envelope under the sealing key: 1" "$(q $DB "SELECT containers_vreg.rotate_credentials(1)")" "1"
expect_eq "in (group_id, id) order, bound to its url now" "$(q $DB "$formats")" "3=v2k1 4=v1k1"
expect_eq "repeat until 0: 1, then 0" "$(q $DB "SELECT containers_vreg.rotate_credentials()") $(q $DB "SELECT containers_vreg.rotate_credentials()")" "1 0"
expect_eq "every envelope is format 2 under key 1, and opens to what was written" "$(q $DB "$formats"); $(pw $DB 3) $(pw $DB 4)" \
  "3=v2k1 4=v2k1; format1-pw-3 format1-pw-4"
expect_eq "fingerprints unchanged (they are of the plaintext)" \
  "$(q $DB "SELECT string_agg(encode(credentials_fingerprint, 'hex'), ',' ORDER BY id) FROM containers_vreg.upstreams")" "$fps"
expect_eq "the fingerprint secret keeps format 1 (it belongs to no url)" \
  "$(q $DB "SELECT secret->>'v' || 'k' || (secret->>'kid') FROM containers_vreg.credentials_secret")" "1k1"

# 6. once converted, the envelope is bound to the url
env3=$(q $DB "SELECT credentials FROM containers_vreg.upstreams WHERE group_id = 42 AND id = 3")
q $DB "DELETE FROM containers_vreg.upstreams WHERE group_id = 42 AND id = 3;
  INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials, credentials_fingerprint)
  VALUES (42, 3, 'https://attacker.example.net', '$env3', '\\x$ENV_42_3_FP')" || tap_fail "insert converted"
expect_match "the converted envelope inserted on another url does not open (22000)" \
  "$(qerr $DB "SELECT containers_vreg.upstream_credentials(42, 3)")" \
  "^22000: cannot open the credentials of upstream 3 of group 42: the envelope does not authenticate under key 1"
