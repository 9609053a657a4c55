#!/usr/bin/env bash
# pg_dump / pg_restore round trip of credentials, on the shared test
# cluster and its stable keyring: every credential readable afterwards, the
# envelopes and fingerprints copied as they are (not sealed twice), duplicate
# detection still working, and no plaintext anywhere in the dump.
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$TOP/test/scripts/credentials_lib.bash"
B="$PGC_BINDIR"
SRC=vreg_cred_dump_src DST=vreg_cred_dump_dst
WORK=$(mktemp -d)
chmod 755 "$WORK"
cleanup() { "$B/dropdb" --if-exists "$SRC"; "$B/dropdb" --if-exists "$DST"; rm -rf "$WORK"; }
trap cleanup EXIT
"$B/dropdb" --if-exists "$SRC"; "$B/dropdb" --if-exists "$DST"
"$B/createdb" "$SRC" && "$B/createdb" "$DST" || exit 1

q $SRC "CREATE EXTENSION containers_vreg" || exit 1
q $SRC "INSERT INTO containers_vreg.upstreams (group_id, url, credentials)
        SELECT g, 'https://r' || i || '.example.com',
               CASE WHEN i % 3 = 0 THEN NULL
                    ELSE jsonb_build_object('username', 'user-' || g || '-' || i, 'password', 'DumpCanary-' || g || '-' || i) END
        FROM generate_series(1, 3) g, generate_series(1, 6) i" || exit 1

listing="SELECT string_agg(group_id || '/' || id || '=' || coalesce(containers_vreg.upstream_credentials(group_id, id)::text, 'none'), ' ' ORDER BY group_id, id) FROM containers_vreg.upstreams"
stored="SELECT md5(string_agg(group_id || '/' || id || coalesce(credentials::text, '-') || encode(credentials_fingerprint, 'hex'), ',' ORDER BY group_id, id)) FROM containers_vreg.upstreams"
secret="SELECT md5(secret::text) FROM containers_vreg.credentials_secret"
before=$(q $SRC "$listing"); stored_before=$(q $SRC "$stored"); secret_before=$(q $SRC "$secret")
expect_eq "source has 12 upstreams with credentials" "$(q $SRC "SELECT count(credentials) FROM containers_vreg.upstreams")" "12"

"$B/pg_dump" -Fc -f "$WORK/dump" "$SRC" || { tap_fail "pg_dump"; exit 1; }
if "$B/pg_restore" --exit-on-error -d "$DST" "$WORK/dump" 2>"$WORK/restore.err"; then
  tap_ok "pg_restore succeeds"
else
  tap_fail "pg_restore succeeds" "$(head -5 "$WORK/restore.err")"
fi

expect_eq "every credential readable after restore" "$(q $DST "$listing")" "$before"
expect_eq "envelopes and fingerprints restored as they were (not sealed twice)" "$(q $DST "$stored")" "$stored_before"
expect_eq "fingerprint secret restored as it was" "$(q $DST "$secret")" "$secret_before"
e=$(qerr $DST "INSERT INTO containers_vreg.upstreams (group_id, url, credentials) VALUES (2, 'https://r4.example.com', '{\"username\": \"user-2-4\", \"password\": \"DumpCanary-2-4\"}')")
expect_match "restored fingerprints still refuse a duplicate (23505)" "$e" "^23505: "
e=$(qerr $DST "INSERT INTO containers_vreg.upstreams (group_id, url, credentials) VALUES (2, 'https://r4.example.com', '{\"username\": \"user-2-4\", \"password\": \"other\"}')")
expect_eq "other credentials on the same url are accepted after restore" "$e" "ok"
e=$(qerr $DST "INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, 'https://r3.example.com')")
expect_match "two upstreams without credentials on one url still refused (23505)" "$e" "^23505: "

# what a dump holds: no plaintext (custom and plain formats)
"$B/pg_dump" -Fp -f "$WORK/dump.sql" "$SRC" || tap_fail "plain pg_dump"
expect_eq "plain dump holds envelopes" "$(grep -c '"nonce"' "$WORK/dump.sql" | tr -d ' ')" "13"
expect_nomatch "plain dump holds no password" "$(cat "$WORK/dump.sql")" "DumpCanary"
expect_nomatch "plain dump holds no username" "$(cat "$WORK/dump.sql")" "user-1-1"
expect_nomatch "custom dump holds no password" "$("$B/pg_restore" -f - "$WORK/dump")" "DumpCanary"
