#!/usr/bin/env bash
# Key rotation and removal: on a cluster of its own, so the shared
# test cluster keeps a stable keyring. Key 1 seals; key 2 is added (picked up
# in the same session after pg_reload_conf()); rotation in batches keeps every
# row readable; with key 1 removed a row still sealed under it fails naming
# key 1, and fingerprints stay comparable; then keyring file errors are clear
# (file, line, SQLSTATE) and never show key material.
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$TOP/scripts/pgcluster.sh"
. "$TOP/test/scripts/credentials_lib.bash"

pgc_init "$TOP/.pgtmp/cred-rotation" || { echo "not ok 1 - initdb"; exit 1; }
KR="$PGC_DIR/keyring"
pgc_write_keyring "$KR" 1
K1=$(grep '^1 ' "$KR")
pgc_conf "containers_vreg.keyring_file = '$KR'"
pgc_startonly || { echo "not ok 1 - cluster start"; exit 1; }
trap pgc_stop EXIT
DB=postgres

# set_keyring_file PATH: change the setting in postgresql.conf, reload, and wait
# (by polling new sessions, no sleeps) until new sessions see it
set_keyring_file() {
  local i
  pgc_conf "containers_vreg.keyring_file = '$1'"
  q $DB "SELECT pg_reload_conf()" >/dev/null
  for i in $(seq 1 1000); do
    [ "$(q $DB "LOAD 'containers_vreg'; SHOW containers_vreg.keyring_file" 2>/dev/null)" = "$1" ] && return 0
  done
  echo "# setting not picked up"; return 1
}
q $DB "CREATE EXTENSION containers_vreg" || exit 1

pw_list() { q $DB "SELECT string_agg(id || ':' || (containers_vreg.upstream_credentials(group_id, id)->>'password'), ',' ORDER BY id) FROM containers_vreg.upstreams"; }
kid_list() { q $DB "SELECT string_agg(DISTINCT credentials->>'kid', ',') FROM containers_vreg.upstreams"; }

# 1. key 1 only: five upstreams sealed under it
q $DB "INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials)
       SELECT 1, i, 'https://r' || i || '.example.com', jsonb_build_object('username', 'u' || i, 'password', 'pw' || i)
       FROM generate_series(1, 5) i"
expect_eq "rows sealed under key 1" "$(kid_list)" "1"
expect_eq "fingerprint secret sealed under key 1" "$(q $DB "SELECT secret->>'kid' FROM containers_vreg.credentials_secret")" "1"

# 2. add key 2 and reload: the same session seals under key 2 at its next use
cat > "$PGC_DIR/add_key2.sh" <<SH
. "$TOP/test/scripts/credentials_lib.bash"
pgc_write_keyring_text "$KR" "$K1"$'\\n'"\$(pgc_keyring_line 2)"
SH
out=$("$PGC_BINDIR/psql" -X -At -q -v ON_ERROR_STOP=1 -d $DB <<SQL
SELECT containers_vreg.upstream_credentials(1, 1)->>'password';
\! bash $PGC_DIR/add_key2.sh
SELECT pg_reload_conf();
INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials)
  VALUES (1, 6, 'https://r6.example.com', '{"username": "u6", "password": "pw6"}') RETURNING credentials->>'kid';
SQL
)
expect_eq "after adding key 2 and reload, one session reads key 1's row then seals under key 2" "$(echo $out)" "pw1 t 2"
expect_eq "every row readable with keys 1 and 2" "$(pw_list)" "1:pw1,2:pw2,3:pw3,4:pw4,5:pw5,6:pw6"

# 3. rotate a first batch of 2: the secret, then row 1
expect_eq "rotate_credentials(2) re-seals 2 envelopes" "$(q $DB "SELECT containers_vreg.rotate_credentials(2)")" "2"
expect_eq "secret now under key 2" "$(q $DB "SELECT secret->>'kid' FROM containers_vreg.credentials_secret")" "2"
expect_eq "rows under key 1 after the first batch" \
  "$(q $DB "SELECT string_agg(id::text, ',' ORDER BY id) FROM containers_vreg.upstreams WHERE credentials->>'kid' = '1'")" "2,3,4,5"
K2=$(grep '^2 ' "$KR")
fp_before=$(q $DB "SELECT string_agg(encode(credentials_fingerprint, 'hex'), ',' ORDER BY id) FROM containers_vreg.upstreams")

# 4. remove key 1 (rows 2..5 still sealed under it), reload, new sessions
pgc_write_keyring_text "$KR" "$K2"
q $DB "SELECT pg_reload_conf()" >/dev/null
e=$(qerr $DB "SELECT containers_vreg.upstream_credentials(1, 2)")
expect_match "key 1 removed: a row sealed under it fails naming key 1 (55000)" "$e" "^55000: .*upstream 2 of group 1.*key 1 is not in the keyring"
e=$(qerr $DB "SELECT containers_vreg.rotate_credentials()")
expect_match "rotation fails naming key 1 too" "$e" "^55000: .*key 1 is not in the keyring"
expect_eq "rows under key 2 still open" \
  "$(q $DB "SELECT containers_vreg.upstream_credentials(1, 1)->>'password' || ',' || (containers_vreg.upstream_credentials(1, 6)->>'password')")" "pw1,pw6"
e=$(qerr $DB "INSERT INTO containers_vreg.upstreams (group_id, url, credentials) VALUES (1, 'https://r3.example.com', '{\"username\": \"u3\", \"password\": \"pw3\"}')")
expect_match "fingerprint stays comparable without key 1: duplicate refused (23505)" "$e" "^23505: "
expect_eq "a new upstream is sealed under key 2" \
  "$(q $DB "INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials) VALUES (1, 7, 'https://r7.example.com', '{\"username\": \"u7\", \"password\": \"pw7\"}') RETURNING credentials->>'kid'")" "2"

# 5. another key under id 1 does not open; the right key 1 back: rotate the
#    rest in batches of 3 until 0
pgc_write_keyring_text "$KR" "$(pgc_keyring_line 1)"$'\n'"$K2"
e=$(qerr $DB "SELECT containers_vreg.upstream_credentials(1, 2)")
expect_match "a different key under id 1 does not open (22000)" "$e" "^22000: .*does not authenticate under key 1"
pgc_write_keyring_text "$KR" "$K1"$'\n'"$K2"
q $DB "SELECT pg_reload_conf()" >/dev/null
runs=$(q $DB "SELECT containers_vreg.rotate_credentials(3)"),$(q $DB "SELECT containers_vreg.rotate_credentials(3)"),$(q $DB "SELECT containers_vreg.rotate_credentials(3)")
expect_eq "rotate_credentials(3) returns 3, 1, then 0" "$runs" "3,1,0"
expect_eq "all rows under key 2" "$(kid_list)" "2"
expect_eq "every row readable after rotation" "$(pw_list)" "1:pw1,2:pw2,3:pw3,4:pw4,5:pw5,6:pw6,7:pw7"
expect_eq "fingerprints unchanged by rotation" \
  "$(q $DB "SELECT string_agg(encode(credentials_fingerprint, 'hex'), ',' ORDER BY id) FROM containers_vreg.upstreams WHERE id <= 6")" "$fp_before"

# 6. key 1 removed for good: everything still opens, duplicates still refused
pgc_write_keyring_text "$KR" "$K2"
expect_eq "every row readable with key 2 alone" "$(pw_list)" "1:pw1,2:pw2,3:pw3,4:pw4,5:pw5,6:pw6,7:pw7"
e=$(qerr $DB "INSERT INTO containers_vreg.upstreams (group_id, url, credentials) VALUES (1, 'https://r5.example.com', '{\"username\": \"u5\", \"password\": \"pw5\"}')")
expect_match "duplicate still refused after rotation and removal (23505)" "$e" "^23505: "
expect_eq "nothing left to rotate" "$(q $DB "SELECT containers_vreg.rotate_credentials()")" "0"

# 7. keyring file errors: clear, at use, naming file and line, never the key
errs=""
check_err() {  # desc keyring-text-or-action regex
  local e
  e=$(qerr $DB "SELECT containers_vreg.upstream_credentials(1, 1)")
  errs="$errs $e"
  expect_match "$1" "$e" "$2"
}
pgc_write_keyring_text "$KR" "# comment"$'\n\n'"$K2"$'\n'"3 not-a-key"
check_err "bad key on line 4 (F0000, file and line named)" "^F0000: keyring file \"$KR\", line 4: the key must be exactly 64 hexadecimal digits"
pgc_write_keyring_text "$KR" "$K2"$'\n'"x${K1#1}"
check_err "bad key id (F0000, line 2)" "^F0000: keyring file .*line 2: the key id must be a whole number"
pgc_write_keyring_text "$KR" "$K2"$'\n'"0${K1#1}"
check_err "key id 0 refused (F0000)" "^F0000: keyring file .*line 2: the key id"
pgc_write_keyring_text "$KR" "$K2"$'\n'"$K2"
check_err "duplicate key id (F0000)" "^F0000: keyring file .*line 2: key id 2 appears more than once"
pgc_write_keyring_text "$KR" "$K2 trailing"
check_err "extra field (F0000)" "^F0000: keyring file .*line 1: expected"
pgc_write_keyring_text "$KR" "# only a comment"
check_err "no keys (F0000)" "^F0000: keyring file .*contains no keys"
pgc_write_keyring_text "$KR" "$K2"
chmod 644 "$KR"
check_err "group/world readable file refused (F0000)" "^F0000: keyring file .*has group or world access"
chmod 600 "$KR"
if [ "$(id -u)" -eq 0 ]; then
  chown root: "$KR"
  check_err "file the server cannot read (42501)" "^42501: could not open keyring file"
  chown postgres: "$KR"
fi
mv "$KR" "$KR.away"
check_err "missing file (58P01)" "^58P01: could not stat keyring file \"$KR\": No such file or directory"
mv "$KR.away" "$KR"
set_keyring_file ""
check_err "no keyring configured (55000)" "^55000: no keyring is configured"
set_keyring_file "$KR"
expect_eq "fixed keyring works again without restart" "$(q $DB "SELECT containers_vreg.upstream_credentials(1, 1)->>'password'")" "pw1"

# no key material in any error or in the server log
for k in "${K1#1 }" "${K2#2 }"; do
  expect_nomatch "errors do not show key ${k:0:4}..." "$errs" "$k"
  expect_nomatch "server log does not show key ${k:0:4}..." "$(cat "$PGC_DIR/server.log")" "$k"
done
expect_nomatch "pg_settings does not show the key" "$(q $DB "SELECT string_agg(setting, ' ') FROM pg_settings WHERE name LIKE 'containers_vreg.%'")" "${K2#2 }"
