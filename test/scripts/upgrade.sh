#!/usr/bin/env bash
# Extension upgrade from every released version to the current one:
#   * every install and upgrade script starts with the psql guard;
#   * there is an update path from each released version to the current one;
#   * a database on the old version, with data in every table, keeps its data
#     through ALTER EXTENSION containers_vreg UPDATE and still serves pulls;
#   * every extension member (functions, tables, columns, constraints, indexes,
#     triggers, sequences, grants, comments, dumped-config registrations) is
#     defined exactly as in a fresh install of the current version
#     (test/sql-checks/extension_members.sql; pg_dump --schema-only cannot tell).
# Needs the shared test cluster (PGHOST/PGPORT) with its keyring.
set -uo pipefail
: "${PGC_BINDIR:?run from test/run_all.sh}"
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$TOP"
PSQL=("$PGC_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1)
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
n=0 fails=0
ok()     { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/#   /' <<<"$2" | head -40; }

current=$(sed -n "s/^default_version[[:space:]]*=[[:space:]]*'\([^']*\)'.*/\1/p" containers_vreg.control)

# 1. the guard line
missing=""
for f in sql/containers_vreg--*.sql; do
  head -8 "$f" | grep -q '^\\echo Use ".*containers_vreg.*" to load this file\. \\quit$' || missing+=" $f"
done
if [ -z "$missing" ]; then ok "every install and upgrade script starts with the psql guard"
else not_ok "every install and upgrade script starts with the psql guard" "missing in:$missing"; fi

# data through the API, in every table (registries, upstreams with credentials,
# ordered links, live / pending / counted cache entries)
load_data() {
  "${PSQL[@]}" -d "$1" >/dev/null <<'SQL'
INSERT INTO containers_vreg.registries (group_id, name, description) VALUES (7, 'hub', 'all of it'), (8, 'other', NULL);
INSERT INTO containers_vreg.upstreams (group_id, url, name, cache_validity_hours, credentials)
VALUES (7, 'https://registry-1.docker.io', 'Docker Hub', 12, '{"username": "bot", "password": "UpgradeCanary"}'),
       (7, 'https://ghcr.io', 'GitHub', 0, NULL),
       (7, 'https://quay.io', 'Quay', 24, NULL),
       (8, 'https://ghcr.io', 'GitHub', 24, NULL);
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id)
SELECT u.group_id, r.id, u.id FROM containers_vreg.upstreams u JOIN containers_vreg.registries r USING (group_id)
 ORDER BY u.id DESC;
SELECT containers_vreg.upsert_cache_entry(7, u.id, 'library/alpine/manifests/3.21', 1638, 'manifest.json',
         decode(repeat('a1', 20), 'hex'), 'application/vnd.oci.image.index.v1+json',
         '"sha256:' || repeat('ab', 32) || '"')
  FROM containers_vreg.upstreams u WHERE u.group_id = 7 AND u.name = 'Docker Hub';
SELECT containers_vreg.upsert_cache_entry(7, u.id, 'library/alpine/blobs/sha256:' || repeat('cd', 32), 3849738,
         'layer.tar.gz', decode(repeat('b2', 20), 'hex'), 'application/vnd.oci.image.layer.v1.tar+gzip')
  FROM containers_vreg.upstreams u WHERE u.group_id = 7;
SELECT containers_vreg.record_download(7, id) FROM containers_vreg.cache_entries WHERE group_id = 7;
SELECT containers_vreg.flush_downloads();
SELECT containers_vreg.record_download(7, min(id)) FROM containers_vreg.cache_entries WHERE group_id = 7;
SELECT containers_vreg.mark_for_destruction(7, max(id)) FROM containers_vreg.cache_entries WHERE group_id = 7;
SQL
}
data_digest() {
  "${PSQL[@]}" -d "$1" -c "
    SELECT md5(concat_ws('|',
      (SELECT string_agg(t::text, ',' ORDER BY t.group_id, t.id) FROM containers_vreg.registries t),
      (SELECT string_agg(t::text, ',' ORDER BY t.group_id, t.id) FROM containers_vreg.upstreams t),
      (SELECT string_agg(t::text, ',' ORDER BY t.group_id, t.id) FROM containers_vreg.registry_upstreams t),
      (SELECT string_agg(t::text, ',' ORDER BY t.group_id, t.id) FROM containers_vreg.cache_entries t),
      (SELECT count(*) FROM containers_vreg.download_buffer)))"
}
members() { "${PSQL[@]}" -d "$1" -f test/sql-checks/extension_members.sql; }

"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS vreg_fresh" -c "CREATE DATABASE vreg_fresh" >/dev/null
"${PSQL[@]}" -d vreg_fresh -c "CREATE EXTENSION containers_vreg" >/dev/null
if ! members vreg_fresh > "$WORK/fresh.txt" 2>"$WORK/fresh.err"; then
  not_ok "member definitions can be listed" "$(cat "$WORK/fresh.err")"; exit 1
fi
nmembers=$(wc -l < "$WORK/fresh.txt")
if [ "$nmembers" -ge 200 ]; then ok "a fresh $current install has $nmembers member definitions to compare"
else not_ok "a fresh $current install has member definitions to compare" "only $nmembers lines"; exit 1; fi

released=$(ls sql/containers_vreg--*.sql | sed -n 's|^sql/containers_vreg--\([0-9][0-9.]*\)\.sql$|\1|p' | grep -vx "$current" | sort -V)
[ -n "$released" ] || { ok "no released version before $current # SKIP"; exit 0; }

for v in $released; do
  db="vreg_from_${v//./_}"
  path=$("${PSQL[@]}" -d vreg_fresh -c "SELECT path FROM pg_extension_update_paths('containers_vreg') WHERE source = '$v' AND target = '$current'")
  if [ -n "$path" ]; then ok "$v: update path to $current ($path)"; else not_ok "$v: update path to $current" "none"; continue; fi

  "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  if ! out=$("${PSQL[@]}" -d "$db" -c "CREATE EXTENSION containers_vreg VERSION '$v'" 2>&1); then
    not_ok "$v: installs" "$out"; continue
  fi
  if ! out=$(load_data "$db" 2>&1); then not_ok "$v: data loads through the $v API" "$out"; continue; fi
  before=$(data_digest "$db")
  if out=$("${PSQL[@]}" -d "$db" -c "ALTER EXTENSION containers_vreg UPDATE" 2>&1); then
    ok "$v: ALTER EXTENSION containers_vreg UPDATE"
  else
    not_ok "$v: ALTER EXTENSION containers_vreg UPDATE" "$out"; continue
  fi
  got=$("${PSQL[@]}" -d "$db" -c "SELECT extversion FROM pg_extension WHERE extname = 'containers_vreg'")
  [ "$got" = "$current" ] && ok "$v: now at $current" || not_ok "$v: now at $current" "got $got"
  after=$(data_digest "$db")
  [ "$before" = "$after" ] && ok "$v: every row of every table unchanged by the update" \
                           || not_ok "$v: every row of every table unchanged by the update" "$before -> $after"
  members "$db" > "$WORK/upgraded-$v.txt" 2>&1
  if d=$(diff "$WORK/fresh.txt" "$WORK/upgraded-$v.txt"); then
    ok "$v: all $nmembers member definitions equal a fresh $current install"
  else
    not_ok "$v: all $nmembers member definitions equal a fresh $current install (< fresh, > upgraded)" "$d"
  fi
  smoke=$("${PSQL[@]}" -d "$db" -c "
    SELECT r.result || ' ' || (containers_vreg.upstream_credentials(7, r.upstream_id)->>'password')
      FROM containers_vreg.registries g, containers_vreg.resolve(7, g.id, 'alpine/manifests/3.21') r
     WHERE g.group_id = 7" 2>&1)
  [ "$smoke" = "hit UpgradeCanary" ] && ok "$v: after the update, resolve hits and credentials open" \
                                     || not_ok "$v: after the update, resolve hits and credentials open" "$smoke"
  "${PSQL[@]}" -d postgres -c "DROP DATABASE $db" >/dev/null
done
"${PSQL[@]}" -d postgres -c "DROP DATABASE vreg_fresh" >/dev/null
[ "$fails" -eq 0 ]
