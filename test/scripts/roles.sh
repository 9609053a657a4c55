#!/usr/bin/env bash
# The README's "Roles and grants" block, run word for word, then what each
# role can and cannot do. Needs the shared test cluster (PGHOST/PGPORT) with a
# keyring (test/cluster.conf.d/keyring.sh).
set -uo pipefail
: "${PGC_BINDIR:?run from test/run_all.sh}"
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
PSQL=("$PGC_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1)
DB=vreg_roles
n=0 fails=0
ok()     { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; echo "#   got: $2"; }
# as ROLE SQL -> output, or "SQLSTATE: message"
as() {
  local role=$1 sql=$2 out
  if out=$("${PSQL[@]}" -d "$DB" -v VERBOSITY=verbose -c "SET ROLE $role" -c "$sql" 2>&1); then
    echo "$out"
  else
    sed -n 's/^ERROR:  \([0-9A-Z]\{5\}\): \(.*\)/\1: \2/p' <<<"$out" | head -1
  fi
}
expect() {  # desc got want-prefix
  if [[ "$2" == "$3"* ]]; then ok "$1"; else not_ok "$1" "$2 (want $3...)"; fi
}

"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" >/dev/null
for r in vreg_request vreg_fetcher vreg_worker vreg_admin; do
  "${PSQL[@]}" -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null
done
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB" >/dev/null
"${PSQL[@]}" -d "$DB" -c "CREATE EXTENSION containers_vreg" >/dev/null

grants=$(sed -n '/<!-- grants:begin -->/,/<!-- grants:end -->/p' "$TOP/README.md" | sed '/^```/d;/^<!--/d')
if [ -z "$grants" ]; then not_ok "README has the grants block" "empty"; exit 1; fi
if out=$("${PSQL[@]}" -d "$DB" -c "$grants" 2>&1); then ok "the README's grants run as written"
else not_ok "the README's grants run as written" "$out"; exit 1; fi

# data, as the owner
"${PSQL[@]}" -d "$DB" >/dev/null <<'SQL'
INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (1, 10, 'hub');
INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials)
VALUES (1, 20, 'https://registry-1.docker.io', '{"username": "bot", "password": "RolesCanary-1"}');
INSERT INTO containers_vreg.upstreams (group_id, id, url) VALUES (1, 21, 'https://ghcr.io');
SELECT containers_vreg.attach_upstream(1, 10, 20);
SQL

# request path
expect "vreg_request: resolve (miss)" "$(as vreg_request "SELECT result FROM containers_vreg.resolve(1, 10, 'alpine/manifests/3')")" "miss"
expect "vreg_request: claim_fetch" "$(as vreg_request "SELECT containers_vreg.claim_fetch(1, 20, 'alpine/manifests/3')")" "t"
expect "vreg_request: upsert_cache_entry" "$(as vreg_request "SELECT relative_path FROM containers_vreg.upsert_cache_entry(1, 20, 'alpine/manifests/3', 10, 'f', decode(repeat('ab', 20), 'hex'))")" "/library/alpine/manifests/3"
expect "vreg_request: resolve (hit)" "$(as vreg_request "SELECT result FROM containers_vreg.resolve(1, 10, 'library/alpine/manifests/3')")" "hit"
expect "vreg_request: record_download" "$(as vreg_request "SELECT containers_vreg.record_download(1, (SELECT entry_id FROM containers_vreg.resolve(1, 10, 'alpine/manifests/3')))")" ""
expect "vreg_request: registry_upstreams has no credentials" "$(as vreg_request "SELECT string_agg(column_name::text, ',' ORDER BY column_name) FROM (SELECT (jsonb_each(to_jsonb(t))).key AS column_name FROM containers_vreg.registry_upstreams(1, 10) t) s")" "cache_validity_hours,name,position,upstream_id,url"
expect "vreg_request cannot read upstreams" "$(as vreg_request "SELECT credentials FROM containers_vreg.upstreams")" "42501"
expect "vreg_request cannot read cache_entries" "$(as vreg_request "SELECT count(*) FROM containers_vreg.cache_entries")" "42501"
expect "vreg_request cannot open credentials" "$(as vreg_request "SELECT containers_vreg.upstream_credentials(1, 20)")" "42501"
expect "vreg_request cannot write a table" "$(as vreg_request "DELETE FROM containers_vreg.registry_upstreams")" "42501"
expect "vreg_request cannot disable a trigger" "$(as vreg_request "ALTER TABLE containers_vreg.registry_upstreams DISABLE TRIGGER USER")" "42501"
expect "vreg_request cannot set session_replication_role" "$(as vreg_request "SET session_replication_role = replica")" "42501"
expect "vreg_request cannot reorder upstreams" "$(as vreg_request "SELECT containers_vreg.move_upstream(1, 10, 20, 1)")" "42501"
expect "vreg_request cannot rotate keys" "$(as vreg_request "SELECT containers_vreg.rotate_credentials()")" "42501"
# Once the module is loaded in a session, the setting is superuser-only. (Before
# that, PostgreSQL shows a placeholder with the file's path: a path, never key bytes.)
expect "vreg_request cannot see the keyring setting" "$(as vreg_request "SELECT count(*) FROM containers_vreg.resolve(1, 10, 'alpine/manifests/3'); SELECT current_setting('containers_vreg.keyring_file')")" "42501"
expect "no key bytes in pg_settings" "$(as vreg_request "SELECT count(*) FROM pg_settings WHERE setting ~ '[0-9a-f]{64}'")" "0"

# fetcher
expect "vreg_fetcher opens credentials" "$(as vreg_fetcher "SELECT containers_vreg.upstream_credentials(1, 20)->>'password'")" "RolesCanary-1"
expect "vreg_fetcher cannot resolve" "$(as vreg_fetcher "SELECT containers_vreg.resolve(1, 10, 'alpine/manifests/3')")" "42501"

# worker
expect "vreg_worker flushes downloads" "$(as vreg_worker "SELECT containers_vreg.flush_downloads()")" "1"
expect "vreg_worker claims nothing while all is live" "$(as vreg_worker "SELECT count(*) FROM containers_vreg.claim_for_destruction(10)")" "0"
expect "vreg_worker: unreferenced_objects names the key no entry has" "$(as vreg_worker "SELECT string_agg(k, ',') FROM containers_vreg.unreferenced_objects(1, ARRAY['groups/1/left-by-a-crash']) k")" "groups/1/left-by-a-crash"
expect "vreg_request cannot ask for unreferenced objects" "$(as vreg_request "SELECT containers_vreg.unreferenced_objects(1, ARRAY['groups/1/x'])")" "42501"
expect "vreg_worker cannot open credentials" "$(as vreg_worker "SELECT containers_vreg.upstream_credentials(1, 20)")" "42501"

# admin
expect "vreg_admin creates a registry" "$(as vreg_admin "INSERT INTO containers_vreg.registries (group_id, name) VALUES (1, 'second') RETURNING name")" "second"
expect "vreg_admin renames a registry" "$(as vreg_admin "UPDATE containers_vreg.registries SET name = 'renamed' WHERE group_id = 1 AND name = 'second' RETURNING name")" "renamed"
expect "vreg_admin cannot change a registry's id (column grants)" "$(as vreg_admin "UPDATE containers_vreg.registries SET id = nextval('containers_vreg.registries_id_seq') WHERE group_id = 1 AND name = 'renamed'")" "42501"
expect "vreg_admin cannot choose a registry's id on insert" "$(as vreg_admin "INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (1, 999, 'chosen')")" "42501"
expect "vreg_admin creates an upstream with credentials" "$(as vreg_admin "INSERT INTO containers_vreg.upstreams (group_id, url, credentials) VALUES (1, 'https://quay.io', '{\"username\": \"u\", \"password\": \"RolesCanary-2\"}') RETURNING url")" "https://quay.io"
expect "vreg_admin's credentials are sealed at rest" "$("${PSQL[@]}" -d "$DB" -c "SELECT credentials ? 'ct' AND credentials::text NOT LIKE '%RolesCanary-2%' FROM containers_vreg.upstreams WHERE url = 'https://quay.io'")" "t"
expect "vreg_admin cannot read the credentials column" "$(as vreg_admin "SELECT credentials FROM containers_vreg.upstreams")" "42501"
expect "vreg_admin cannot open credentials" "$(as vreg_admin "SELECT containers_vreg.upstream_credentials(1, 20)")" "42501"
expect "vreg_admin attaches an upstream" "$(as vreg_admin "SELECT containers_vreg.attach_upstream(1, 10, 21)")" "2"
expect "vreg_admin moves it first" "$(as vreg_admin "SELECT containers_vreg.move_upstream(1, 10, 21, 1)")" "1"
expect "vreg_admin's plain DML still meets the rules (6th registry)" "$(as vreg_admin "INSERT INTO containers_vreg.registries (group_id, name) SELECT 1, 'r' || g FROM generate_series(1, 4) g")" "23514"
# admin functions (SECURITY INVOKER): the README's column grants decide
expect "vreg_admin: create_registry" "$(as vreg_admin "SELECT containers_vreg.create_registry(2, 'by function') > 0")" "t"
expect "vreg_admin: create_upstream with credentials" "$(as vreg_admin "SELECT containers_vreg.create_upstream(2, 'https://quay.io', 'quay', NULL, 24::smallint, '{\"username\": \"u\", \"password\": \"RolesCanary-3\"}') > 0")" "t"
u2=$("${PSQL[@]}" -d "$DB" -c "SELECT id FROM containers_vreg.upstreams WHERE group_id = 2")
expect "  its credentials are sealed at rest" "$("${PSQL[@]}" -d "$DB" -c "SELECT credentials ? 'ct' AND credentials::text NOT LIKE '%RolesCanary-3%' FROM containers_vreg.upstreams WHERE group_id = 2")" "t"
expect "vreg_admin: update_upstream (name, validity)" "$(as vreg_admin "SELECT 'done' FROM containers_vreg.update_upstream(2, $u2, name => 'renamed', cache_validity_hours => 1::smallint)")" "done"
expect "  name and validity changed" "$("${PSQL[@]}" -d "$DB" -c "SELECT name || ' ' || cache_validity_hours FROM containers_vreg.upstreams WHERE group_id = 2")" "renamed 1"
expect "vreg_admin: update_upstream (url, clearing the credentials)" "$(as vreg_admin "SELECT 'done' FROM containers_vreg.update_upstream(2, $u2, url => 'https://ghcr.io')")" "done"
expect "  the credentials are cleared" "$("${PSQL[@]}" -d "$DB" -c "SELECT credentials IS NULL FROM containers_vreg.upstreams WHERE group_id = 2")" "t"
expect "vreg_admin: update_upstream of an unknown upstream" "$(as vreg_admin "SELECT containers_vreg.update_upstream(2, -1, name => 'x')")" "P0002"
expect "vreg_admin: delete_upstream" "$(as vreg_admin "SELECT containers_vreg.delete_upstream(2, $u2)")" "t"
expect "vreg_admin: the functions meet the rules (6th registry)" "$(as vreg_admin "SELECT containers_vreg.create_registry(1, 'r' || g) FROM generate_series(1, 4) g")" "23514"
for call in "create_registry(2, 'x')" "create_upstream(2, 'https://quay.io')" "update_upstream(1, 21, name => 'x')" "delete_upstream(1, 21)"; do
  expect "vreg_request cannot call ${call%%(*}" "$(as vreg_request "SELECT containers_vreg.$call")" "42501"
done
expect "vreg_worker cannot call create_registry" "$(as vreg_worker "SELECT containers_vreg.create_registry(2, 'x')")" "42501"
expect "vreg_admin cannot write cache entries" "$(as vreg_admin "UPDATE containers_vreg.cache_entries SET status = 2")" "42501"
expect "vreg_admin cannot rotate keys" "$(as vreg_admin "SELECT containers_vreg.rotate_credentials()")" "42501"

# PUBLIC
"${PSQL[@]}" -d "$DB" -c "CREATE ROLE vreg_nobody NOLOGIN" >/dev/null 2>&1
expect "PUBLIC cannot use the schema" "$(as vreg_nobody "SELECT containers_vreg.object_storage_prefix(1)")" "42501"
leak=$("${PSQL[@]}" -d "$DB" -c "
  SELECT string_agg(p.oid::regprocedure::text, ', ')
    FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'containers_vreg'
   WHERE p.prosecdef AND has_function_privilege('vreg_nobody', p.oid, 'EXECUTE')
     AND p.prorettype <> 'trigger'::regtype")
expect "no SECURITY DEFINER function is executable by PUBLIC" "${leak:-none}" "none"
nopath=$("${PSQL[@]}" -d "$DB" -c "
  SELECT string_agg(p.oid::regprocedure::text, ', ')
    FROM pg_proc p JOIN pg_depend d ON d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e'
    JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'containers_vreg'
   WHERE p.prosecdef AND NOT coalesce(p.proconfig::text[] @> ARRAY['search_path=pg_catalog, pg_temp'], false)")
expect "every SECURITY DEFINER function pins search_path" "${nopath:-none}" "none"

"${PSQL[@]}" -d postgres -c "DROP DATABASE $DB" >/dev/null
for r in vreg_request vreg_fetcher vreg_worker vreg_admin vreg_nobody; do
  "${PSQL[@]}" -d postgres -c "DROP ROLE IF EXISTS $r" >/dev/null
done
[ "$fails" -eq 0 ]
