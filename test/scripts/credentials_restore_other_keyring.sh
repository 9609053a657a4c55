#!/usr/bin/env bash
# Restore onto a server whose keyring has other keys, on a cluster of its own
# (the keyring file changes as the story goes; swapping the file is what
# moving to a new server means for the extension).
#
# The source server seals under key 1 <A>. The new server got its own key 1
# <B> from the README's key setup. After pg_restore the fingerprint secret
# does not open, so every write of credentials fails (the lockout: 22000, and
# rotate_credentials() has nothing to do). reset_credentials_secret() is the
# way out without key A: a dry run lists what would happen, a real run that
# would make two upstreams collide fails with 23505 and changes nothing, and
# once that is resolved it replaces the secret, clears what no key opens and
# recomputes the fingerprints of what still opens (key 2 <C>, found again),
# after which writes, uniqueness and rotation work.
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$TOP/scripts/pgcluster.sh"
. "$TOP/test/scripts/credentials_lib.bash"

pgc_init "$TOP/.pgtmp/cred-restore" || { echo "not ok 1 - initdb"; exit 1; }
KR="$PGC_DIR/keyring"
pgc_write_keyring "$KR" 1
KA=$(grep '^1 ' "$KR")
pgc_conf "containers_vreg.keyring_file = '$KR'"
pgc_startonly || { echo "not ok 1 - cluster start"; exit 1; }
WORK=$(mktemp -d)
chmod 755 "$WORK"
trap 'pgc_stop; rm -rf "$WORK"' EXIT
B=$PGC_BINDIR
SRC=vreg_src DST1=vreg_new_server DST2=vreg_key2_found
for d in $SRC $DST1 $DST2; do "$B/createdb" "$d" || exit 1; done

# verbose DB SQL: SQLSTATE, message and hint of the error (or "ok")
verbose() {
  local out
  if out=$("$B/psql" -X -At -q -v ON_ERROR_STOP=1 -v VERBOSITY=verbose -d "$1" -c "$2" 2>&1); then echo ok
  else printf '%s\n' "$out" | sed -n 's/^ERROR:  //p; s/^HINT:  /HINT: /p' | tr '\n' ' '; fi
}
creds() { echo "{\"username\": \"$1\", \"password\": \"$2\"}"; }
upstreams="SELECT string_agg(group_id || '/' || id || '=' || coalesce(credentials->>'kid', 'none'), ' ' ORDER BY group_id, id) FROM containers_vreg.upstreams"
digest="SELECT md5(concat_ws('|', (SELECT string_agg(u::text, ',' ORDER BY group_id, id) FROM containers_vreg.upstreams u),
                                  (SELECT secret::text FROM containers_vreg.credentials_secret)))"
report="SELECT string_agg(coalesce(group_id || '/' || upstream_id, 'secret') || ' ' || action || coalesce(' kid=' || key_id, ''), ', ')
          FROM containers_vreg.reset_credentials_secret"

# 1. the source server, key 1 <A>: the secret and every credential under it
q $SRC "CREATE EXTENSION containers_vreg" || exit 1
q $SRC "INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials) VALUES
  (42, 10, 'https://ghcr.io', '$(creds bot pw-10)'),
  (42, 11, 'https://quay.io', '$(creds u11 pw-11)'),
  (42, 12, 'https://registry-1.docker.io', NULL),
  (43, 20, 'https://ghcr.io', '$(creds u20 pw-20)'),
  (43, 21, 'https://ghcr.io', '$(creds u21 pw-21)'),
  (44, 40, 'https://ghcr.io', NULL),
  (44, 41, 'https://ghcr.io', '$(creds u41 pw-41)')" || exit 1
expect_eq "source: the secret and every credential sealed under key 1" \
  "$(q $SRC "SELECT secret->>'kid' FROM containers_vreg.credentials_secret"); $(q $SRC "$upstreams")" \
  "1; 42/10=1 42/11=1 42/12=none 43/20=1 43/21=1 44/40=none 44/41=1"
"$B/pg_dump" -Fc -f "$WORK/a.dump" $SRC || { tap_fail "pg_dump"; exit 1; }

# 2. the new server: its own key 1 <B>, as the README's key setup makes it
pgc_write_keyring "$KR" 1
if "$B/pg_restore" --exit-on-error -d $DST1 "$WORK/a.dump" 2>"$WORK/restore.err"; then tap_ok "pg_restore onto the new server"
else tap_fail "pg_restore onto the new server" "$(head -3 "$WORK/restore.err")"; fi

# 3. the lockout
e=$(verbose $DST1 "UPDATE containers_vreg.upstreams SET credentials = '$(creds bot pw)' WHERE group_id = 42 AND id = 10")
expect_match "lockout: writing credentials again fails (22000, the secret does not open)" "$e" \
  "^22000: cannot open the credentials fingerprint secret: the envelope does not authenticate under key 1"
expect_match "the error's hint names reset_credentials_secret()" "$e" "HINT: .*containers_vreg\.reset_credentials_secret\(\)"
e=$(qerr $DST1 "INSERT INTO containers_vreg.upstreams (group_id, url, credentials) VALUES (42, 'https://gcr.io', '$(creds n pw)')")
expect_match "lockout: a new upstream with credentials fails (22000)" "$e" "^22000: cannot open the credentials fingerprint secret"
expect_eq "lockout: rotate_credentials() has nothing to do (0)" "$(q $DST1 "SELECT containers_vreg.rotate_credentials()")" "0"
e=$(qerr $DST1 "SELECT containers_vreg.upstream_credentials(42, 10)")
expect_match "the restored envelopes do not open either (22000)" "$e" "^22000: cannot open the credentials of upstream 10 of group 42: the envelope does not authenticate under key 1"

# 4. the function is the owner's: PUBLIC cannot run it
expect_eq "reset_credentials_secret() is not executable by PUBLIC" \
  "$(q $DST1 "SELECT has_function_privilege('public', 'containers_vreg.reset_credentials_secret(boolean)', 'EXECUTE')")" "f"
q $DST1 "CREATE ROLE vreg_restore_nobody; GRANT USAGE ON SCHEMA containers_vreg TO vreg_restore_nobody" >/dev/null 2>&1
e=$(qerr $DST1 "SET ROLE vreg_restore_nobody; SELECT * FROM containers_vreg.reset_credentials_secret()")
expect_match "a role without the grant gets 42501" "$e" "^42501: "
q $DST1 "DROP OWNED BY vreg_restore_nobody; DROP ROLE vreg_restore_nobody" >/dev/null 2>&1

# 4b. group 45: two upstreams whose envelopes no key opens (copies of 42/10's,
#     inserted as they are, as a restore does), and after them an upstream of
#     the same url without credentials: once cleared, all three collide
q $DST1 "INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials, credentials_fingerprint)
  SELECT 45, i, 'https://harbor.example.com', u.credentials, decode(repeat(to_hex(i), 32), 'hex')
    FROM containers_vreg.upstreams u, (VALUES (50), (51)) AS v(i) WHERE u.group_id = 42 AND u.id = 10;
  INSERT INTO containers_vreg.upstreams (group_id, id, url) VALUES (45, 52, 'https://harbor.example.com')" \
  || tap_fail "group 45 inserted"

# 5. dry run: what would happen, nothing changed
before=$(q $DST1 "$digest")
expect_eq "dry run: secret replaced, every envelope cleared, collisions named" \
  "$(q $DST1 "$report()")" \
  "secret replaced kid=1, 42/10 cleared kid=1, 42/11 cleared kid=1, 43/20 conflict kid=1, 43/21 conflict kid=1, 44/41 conflict kid=1, 45/50 conflict kid=1, 45/51 conflict kid=1"
expect_eq "dry run: the detail says why and with whom" \
  "$(q $DST1 "SELECT detail FROM containers_vreg.reset_credentials_secret(true) WHERE upstream_id IN (11, 41) ORDER BY upstream_id")" \
  "the envelope does not authenticate under key 1
the envelope does not authenticate under key 1; it would then have the same URL as upstream 40, both without credentials"
# Every collision a real run would meet is named, not one partner per row:
# removing only the upstream a pair names would leave 45/50 against 45/52.
expect_eq "dry run: a conflict names every upstream it would collide with, also one without credentials" \
  "$(q $DST1 "SELECT upstream_id || ': ' || detail FROM containers_vreg.reset_credentials_secret(true) WHERE group_id = 45 ORDER BY upstream_id")" \
  "50: the envelope does not authenticate under key 1; it would then have the same URL as upstreams 51, 52, all without credentials
51: the envelope does not authenticate under key 1; it would then have the same URL as upstreams 50, 52, all without credentials"
expect_eq "dry run: nothing changed" "$(q $DST1 "$digest")" "$before"

# 6. a real run that would break uniqueness: 23505 naming both, nothing changed
e=$(verbose $DST1 "SELECT * FROM containers_vreg.reset_credentials_secret(false)")
expect_match "real run with collisions: 23505 naming both upstreams" "$e" \
  "^23505: upstream 20 of group 43 would have the same URL as upstream 21, both without credentials"
expect_eq "real run with collisions: nothing changed (all or nothing)" "$(q $DST1 "$digest")" "$before"
expect_match "NULL dry_run is refused (22004)" "$(qerr $DST1 "SELECT * FROM containers_vreg.reset_credentials_secret(NULL)")" "^22004: "

# 7. resolve the collisions (a url change clears credentials without the secret), then the real run
q $DST1 "DELETE FROM containers_vreg.upstreams WHERE group_id = 43 AND id = 21" || tap_fail "delete upstream 21"
q $DST1 "UPDATE containers_vreg.upstreams SET url = 'https://mirror.ghcr.io' WHERE group_id = 44 AND id = 41" || tap_fail "move upstream 41"
q $DST1 "DELETE FROM containers_vreg.upstreams WHERE group_id = 45 AND id = 51" || tap_fail "delete upstream 51"
expect_match "with one of group 45's three left over, a dry run still reports it, and a real run fails (23505)" \
  "$(q $DST1 "SELECT string_agg(upstream_id || ' ' || action, ', ') FROM containers_vreg.reset_credentials_secret(true) WHERE group_id = 45"); $(qerr $DST1 "SELECT * FROM containers_vreg.reset_credentials_secret(false)")" \
  "^50 conflict; 23505: upstream 50 of group 45 would have the same URL as upstream 52, both without credentials$"
q $DST1 "DELETE FROM containers_vreg.upstreams WHERE group_id = 45 AND id = 52" || tap_fail "delete upstream 52"
expect_eq "real run: secret replaced, the envelopes no key opens cleared" \
  "$(q $DST1 "$report(false)")" "secret replaced kid=1, 42/10 cleared kid=1, 42/11 cleared kid=1, 43/20 cleared kid=1, 45/50 cleared kid=1"
expect_eq "afterwards: no credentials left, no fingerprint" \
  "$(q $DST1 "SELECT count(credentials) || ' ' || count(*) FILTER (WHERE credentials_fingerprint <> '') FROM containers_vreg.upstreams")" "0 0"
expect_eq "afterwards: the new secret is sealed under key 1 <B> and opens" \
  "$(q $DST1 "SELECT secret->>'kid' FROM containers_vreg.credentials_secret")" "1"

# 8. the README's advice now works: write the credentials again
expect_eq "writing credentials again works" \
  "$(qerr $DST1 "UPDATE containers_vreg.upstreams SET credentials = '$(creds bot pw)' WHERE group_id = 42 AND id = 10")" "ok"
expect_eq "and they open" "$(q $DST1 "SELECT containers_vreg.upstream_credentials(42, 10)->>'password'")" "pw"
expect_eq "a new upstream with credentials works" \
  "$(qerr $DST1 "INSERT INTO containers_vreg.upstreams (group_id, url, credentials) VALUES (42, 'https://gcr.io', '$(creds n pw)')")" "ok"
expect_match "the same credentials on the same url are refused again (23505)" \
  "$(qerr $DST1 "INSERT INTO containers_vreg.upstreams (group_id, url, credentials) VALUES (42, 'https://ghcr.io', '$(creds bot pw)')")" "^23505: "
expect_eq "rotate_credentials() finds nothing to do" "$(q $DST1 "SELECT containers_vreg.rotate_credentials()")" "0"

# 9. key 2 <C> was added on the source before the dump; the new server finds
#    it in the secret store (key 1 <A> stays lost): what key 2 sealed is kept
pgc_write_keyring_text "$KR" "$KA"
q $SRC "DELETE FROM containers_vreg.upstreams WHERE id IN (21, 41)" || exit 1
pgc_write_keyring_text "$KR" "$KA"$'\n'"$(pgc_keyring_line 2)"
KC=$(grep '^2 ' "$KR")
q $SRC "INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials) VALUES (42, 30, 'https://gcr.io', '$(creds u30 pw-30)')" || exit 1
expect_eq "source: upstream 30 sealed under key 2, the secret still under key 1" \
  "$(q $SRC "SELECT secret->>'kid' FROM containers_vreg.credentials_secret"); $(q $SRC "$upstreams")" \
  "1; 42/10=1 42/11=1 42/12=none 42/30=2 43/20=1 44/40=none"
fp30=$(q $SRC "SELECT encode(credentials_fingerprint, 'hex') FROM containers_vreg.upstreams WHERE id = 30")
"$B/pg_dump" -Fc -f "$WORK/ac.dump" $SRC || { tap_fail "pg_dump"; exit 1; }
pgc_write_keyring_text "$KR" "$(pgc_keyring_line 1)"$'\n'"$KC"
"$B/pg_restore" --exit-on-error -d $DST2 "$WORK/ac.dump" 2>"$WORK/restore2.err" || tap_fail "pg_restore with key 2" "$(head -3 "$WORK/restore2.err")"
expect_match "with key 2 found, a write still fails: the secret was under key 1 (22000)" \
  "$(qerr $DST2 "UPDATE containers_vreg.upstreams SET credentials = '$(creds u30 new)' WHERE id = 30")" "^22000: cannot open the credentials fingerprint secret"
expect_eq "upstream 30 itself opens under key 2" "$(q $DST2 "SELECT containers_vreg.upstream_credentials(42, 30)->>'password'")" "pw-30"
expect_eq "real run: upstream 30 kept with its fingerprint recomputed, the rest cleared" \
  "$(q $DST2 "$report(false)")" "secret replaced kid=2, 42/10 cleared kid=1, 42/11 cleared kid=1, 42/30 recomputed kid=2, 43/20 cleared kid=1"
expect_eq "upstream 30 still opens to what was written" "$(q $DST2 "SELECT containers_vreg.upstream_credentials(42, 30)->>'password'")" "pw-30"
expect_match "its fingerprint changed (new secret)" \
  "$(q $DST2 "SELECT encode(credentials_fingerprint, 'hex') <> '$fp30' AND octet_length(credentials_fingerprint) = 32 FROM containers_vreg.upstreams WHERE id = 30")" "^t$"
expect_match "its credentials on its url are refused again (23505: the new fingerprint is right)" \
  "$(qerr $DST2 "INSERT INTO containers_vreg.upstreams (group_id, url, credentials) VALUES (42, 'https://gcr.io', '$(creds u30 pw-30)')")" "^23505: "
expect_eq "other credentials on that url are accepted" \
  "$(qerr $DST2 "INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials) VALUES (42, 31, 'https://gcr.io', '$(creds u30 other)')")" "ok"
expect_eq "every stored credential opens; the secret and every envelope under key 2" \
  "$(q $DST2 "SELECT count(*) FILTER (WHERE containers_vreg.upstream_credentials(group_id, id) IS NOT NULL) || ' ' || (SELECT secret->>'kid' FROM containers_vreg.credentials_secret) || ' ' || string_agg(DISTINCT credentials->>'kid', ',') FROM containers_vreg.upstreams WHERE credentials IS NOT NULL")" \
  "2 2 2"
expect_eq "rotate_credentials() finds nothing to do" "$(q $DST2 "SELECT containers_vreg.rotate_credentials()")" "0"
expect_eq "a second dry run only recomputes" "$(q $DST2 "$report()")" \
  "secret replaced kid=2, 42/30 recomputed kid=2, 42/31 recomputed kid=2"
