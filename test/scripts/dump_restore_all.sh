#!/usr/bin/env bash
# Dump and restore of everything (docs/design.md, "Dump and restore"): a database
# that uses every feature (registries up to the 5-per-group limit, upstreams
# with and without sealed credentials, re-sealed and cleared credentials, links
# attached / moved / detached in mixed order, cache entries through the API:
# tags, digests, Docker Hub library/ names, ETags, key replacement, mark_checked,
# downloads, pending / processing / error entries, a deleted upstream's
# entries, fetch leases, usage counters) is dumped and restored into a new
# database three ways: pg_dump -Fc + pg_restore, pg_dump plain + psql, and
# pg_dump -Fc + pg_restore --jobs 2. For each, every row of every user-data
# table is compared (ordered md5 per table, row by row on a mismatch), and the
# restored database must behave the same: sequences continue, credentials open
# with the same keyring and are not sealed twice, uniqueness and limits still
# refuse, positions are 1..n as before, derived state (download buffer, fetch
# leases) is empty, usage counters equal (refilled by the row triggers while
# loading, and again after rebuild_usage), resolve answers the same.
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$TOP/test/scripts/credentials_lib.bash"
: "${PGC_BINDIR:?}" "${PGHOST:?}" "${PGPORT:?}"
B=$PGC_BINDIR
SRC=vreg_dumpall_src
DSTS="vreg_dumpall_fc vreg_dumpall_plain vreg_dumpall_par vreg_dumpall_par1"
WORK=$(mktemp -d)
chmod 755 "$WORK"
dropall() { for d in $SRC $DSTS; do "$B/dropdb" --if-exists "$d" >/dev/null 2>&1; done; }
trap 'dropall; rm -rf "$WORK"' EXIT
dropall
"$B/createdb" "$SRC" || exit 1
psql_f() { "$B/psql" -X -q -v ON_ERROR_STOP=1 -d "$@"; }

# ---------------------------------------------------------------- source data
psql_f "$SRC" >"$WORK/build.log" 2>&1 <<'SQL' || { cat "$WORK/build.log"; tap_fail "build the source database"; exit 1; }
CREATE EXTENSION containers_vreg;
SET client_min_messages = warning;
-- what was written as credentials, to compare upstream_credentials against
CREATE SCHEMA dumpall_ref;
CREATE TABLE dumpall_ref.written (group_id bigint, name text, creds jsonb, PRIMARY KEY (group_id, name));
CREATE TABLE dumpall_ref.groups (group_id bigint PRIMARY KEY, registries int);
INSERT INTO dumpall_ref.groups VALUES (1001, 5), (1002, 2), (-7, 1), (9223372036854775807, 3);

INSERT INTO containers_vreg.registries (group_id, name, description)
SELECT g.group_id, 'reg-' || r, CASE WHEN r % 2 = 0 THEN 'registry ' || r END
  FROM dumpall_ref.groups g, generate_series(1, g.registries) r;

-- upstreams: Docker Hub (two host spellings, one never fresh), credentials on
-- ghcr / quay / two on one private url (different credentials), one without
INSERT INTO dumpall_ref.written
SELECT g.group_id, n, CASE WHEN n IN ('ghcr', 'quay', 'priv1', 'priv2', 'gone', 'resealed', 'moved')
                           THEN jsonb_build_object('username', 'user-' || g.group_id || '-' || n,
                                                   'password', 'pw-' || md5(g.group_id || n)) END
  FROM dumpall_ref.groups g,
       unnest(ARRAY['hub', 'hub0', 'ghcr', 'quay', 'priv1', 'priv2', 'priv3', 'gone', 'resealed', 'moved']) n;
INSERT INTO containers_vreg.upstreams (group_id, url, name, cache_validity_hours, credentials, description)
SELECT group_id,
       CASE name WHEN 'hub' THEN 'https://registry-1.docker.io' WHEN 'hub0' THEN 'https://index.docker.io'
                 WHEN 'ghcr' THEN 'https://ghcr.io' WHEN 'quay' THEN 'https://quay.io'
                 WHEN 'gone' THEN 'https://gone.example.com' WHEN 'resealed' THEN 'https://resealed.example.com'
                 WHEN 'moved' THEN 'https://moved.example.com:8443/v2'
                 ELSE 'https://registry.example.com' END,
       name, CASE name WHEN 'hub0' THEN 0 WHEN 'quay' THEN 1 ELSE 24 END, creds,
       CASE WHEN name = 'priv3' THEN 'no credentials' END
  FROM dumpall_ref.written ORDER BY md5(group_id || name);
-- credentials replaced (sealed again, new fingerprint) and cleared by a url change
UPDATE dumpall_ref.written SET creds = jsonb_build_object('username', 'second-' || group_id, 'password', 'pw2-' || md5(name || group_id))
 WHERE name = 'resealed';
UPDATE containers_vreg.upstreams u SET credentials = w.creds
  FROM dumpall_ref.written w WHERE w.group_id = u.group_id AND w.name = u.name AND u.name = 'resealed';
UPDATE containers_vreg.upstreams SET url = 'https://moved-elsewhere.example.com' WHERE name = 'moved';
UPDATE dumpall_ref.written SET creds = NULL WHERE name = 'moved';

-- links: attached in a scrambled order, moved by the API and by plain UPDATE,
-- detached, one inserted at a taken position
DO $$
DECLARE r record; u bigint; i int := 0;
BEGIN
  FOR r IN SELECT group_id, id FROM containers_vreg.registries ORDER BY md5(id::text) LOOP
    i := i + 1;
    FOR u IN SELECT id FROM containers_vreg.upstreams
              WHERE group_id = r.group_id AND name NOT IN ('gone')
              ORDER BY md5(id::text || r.id) LIMIT 2 + i % 4 LOOP
      PERFORM containers_vreg.attach_upstream(r.group_id, r.id, u);
    END LOOP;
    -- every registry links gone and hub (so entries resolve)
    FOR u IN SELECT id FROM containers_vreg.upstreams WHERE group_id = r.group_id AND name IN ('gone', 'hub')
              AND id NOT IN (SELECT upstream_id FROM containers_vreg.registry_upstreams WHERE registry_id = r.id) LOOP
      IF (SELECT count(*) FROM containers_vreg.registry_upstreams WHERE registry_id = r.id) < 5 THEN
        PERFORM containers_vreg.attach_upstream(r.group_id, r.id, u);
      END IF;
    END LOOP;
    PERFORM containers_vreg.move_upstream(r.group_id, r.id,
      (SELECT upstream_id FROM containers_vreg.registry_upstreams WHERE registry_id = r.id AND position = 1), 1 + i % 5);
    UPDATE containers_vreg.registry_upstreams SET position = 1
     WHERE registry_id = r.id AND position = (SELECT max(position) FROM containers_vreg.registry_upstreams WHERE registry_id = r.id);
    IF i % 3 = 0 THEN
      PERFORM containers_vreg.detach_upstream(r.group_id, r.id,
        (SELECT upstream_id FROM containers_vreg.registry_upstreams WHERE registry_id = r.id AND position = 2));
      INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position)
      SELECT r.group_id, r.id, id, 1 FROM containers_vreg.upstreams
       WHERE group_id = r.group_id AND name = 'priv3'
         AND id NOT IN (SELECT upstream_id FROM containers_vreg.registry_upstreams WHERE registry_id = r.id);
    END IF;
  END LOOP;
END $$;

-- cache entries through the API
CREATE FUNCTION dumpall_ref.hex(t text) RETURNS text LANGUAGE sql IMMUTABLE
  AS $f$ SELECT encode(sha256(convert_to(t, 'UTF8')), 'hex') $f$;
CREATE FUNCTION dumpall_ref.sha1(t text) RETURNS bytea LANGUAGE sql IMMUTABLE
  AS $f$ SELECT decode(md5(t) || left(md5(t || 'x'), 8), 'hex') $f$;
DO $$
DECLARE u record; k int; img text; e containers_vreg.cache_entries;
BEGIN
  FOR u IN SELECT group_id, id, name FROM containers_vreg.upstreams
            WHERE name IN ('hub', 'hub0', 'ghcr', 'quay', 'priv1', 'gone') ORDER BY md5(id::text) LOOP
    FOR k IN 1..4 LOOP
      img := CASE k WHEN 1 THEN 'alpine' WHEN 2 THEN 'library/debian' WHEN 3 THEN 'team/app' ELSE 'nginx' END;
      -- tag manifest: strong digest ETag, weak digest ETag, opaque ETag, none
      PERFORM containers_vreg.upsert_cache_entry(u.group_id, u.id, img || '/manifests/v' || k, 1000 + k,
        'manifest-' || k || '.json', dumpall_ref.sha1(img || k), 'application/vnd.oci.image.index.v1+json',
        CASE k WHEN 1 THEN '"sha256:' || dumpall_ref.hex(img || 'idx') || '"'
               WHEN 2 THEN 'W/"sha256:' || dumpall_ref.hex(img || 'idx') || '"'
               WHEN 3 THEN '"opaque-' || k || '"' END,
        CASE WHEN k % 2 = 0 THEN decode(md5(img), 'hex') END);
      -- manifest by digest and a blob
      PERFORM containers_vreg.upsert_cache_entry(u.group_id, u.id,
        img || '/manifests/sha256:' || dumpall_ref.hex(img || 'm' || k), 500 + k, 'platform.json',
        dumpall_ref.sha1(img || 'm'), 'application/vnd.oci.image.manifest.v1+json');
      PERFORM containers_vreg.upsert_cache_entry(u.group_id, u.id,
        img || '/blobs/sha256:' || dumpall_ref.hex('layer' || k), 3000000 * k, 'layer.tar.gz',
        dumpall_ref.sha1('layer' || k), NULL);
    END LOOP;
    -- re-upsert (size and ETag change, key kept), then a key replacement:
    -- the old live entry becomes pending destruction (status 2)
    PERFORM containers_vreg.upsert_cache_entry(u.group_id, u.id, 'team/app/manifests/v3', 4242,
      'manifest-3b.json', dumpall_ref.sha1('v3b'), NULL, '"opaque-3b"');
    PERFORM containers_vreg.upsert_cache_entry(u.group_id, u.id, 'nginx/manifests/v4', 777,
      'manifest-4b.json', dumpall_ref.sha1('v4b'), 'application/json', NULL, NULL,
      containers_vreg.object_storage_prefix(u.group_id) || 'replaced/' || u.id || '/nginx-v4');
    -- downloads (flushed below) and revalidation
    SELECT * INTO e FROM containers_vreg.cache_entries
     WHERE group_id = u.group_id AND upstream_id = u.id AND status = 0 ORDER BY id LIMIT 1;
    PERFORM containers_vreg.record_download(u.group_id, e.id) FROM generate_series(1, 1 + u.id % 4);
    PERFORM containers_vreg.mark_checked(u.group_id, e.id);
  END LOOP;
END $$;
SELECT containers_vreg.flush_downloads() > 0 AS flushed \gset
-- lifecycle: marked, purged, claimed (1), failed (3), finished (row gone)
SELECT count(*) FROM (SELECT containers_vreg.mark_for_destruction(group_id, id) FROM containers_vreg.cache_entries
  WHERE status = 0 AND relative_path LIKE '%/blobs/%' AND id % 3 = 0) s;
SELECT containers_vreg.purge_upstream(group_id, id) FROM containers_vreg.upstreams WHERE name = 'quay' AND group_id = 1002;
CREATE TABLE dumpall_ref.claimed AS SELECT * FROM containers_vreg.claim_for_destruction(6, '1 hour');
SELECT containers_vreg.fail_destruction(group_id, entry_id) FROM dumpall_ref.claimed ORDER BY entry_id LIMIT 2;
SELECT containers_vreg.finish_destruction(group_id, entry_id) FROM dumpall_ref.claimed ORDER BY entry_id DESC LIMIT 1;
-- an upstream with entries deleted: its live entries become pending
DELETE FROM containers_vreg.upstreams WHERE name = 'gone' AND group_id IN (1001, -7);
DELETE FROM dumpall_ref.written WHERE name = 'gone' AND group_id IN (1001, -7);
-- fetch leases for cold paths, one Docker Hub short name
SELECT containers_vreg.claim_fetch(group_id, id, 'busybox/manifests/latest', '1 hour') FROM containers_vreg.upstreams WHERE name IN ('hub', 'ghcr');
-- usage counters compacted for one group, left as deltas for the others
SELECT containers_vreg.compact_usage(1001);
-- a download recorded after the last flush: derived state, not dumped
SELECT containers_vreg.record_download(group_id, id) FROM containers_vreg.cache_entries WHERE status = 0 ORDER BY id LIMIT 1;
SQL

# ------------------------------------------------------------- what to compare
# Every table and sequence registered with pg_extension_config_dump (the
# cache_entries partitions one by one), plus the test's reference table.
TABLES=$(q $SRC "SELECT string_agg(c.oid::regclass::text, ' ' ORDER BY c.relname)
                   FROM pg_extension e, unnest(e.extconfig) x(oid) JOIN pg_class c ON c.oid = x.oid
                  WHERE e.extname = 'containers_vreg' AND c.relkind = 'r'")
SEQS=$(q $SRC "SELECT string_agg(c.oid::regclass::text, ' ' ORDER BY c.relname)
                 FROM pg_extension e, unnest(e.extconfig) x(oid) JOIN pg_class c ON c.oid = x.oid
                WHERE e.extname = 'containers_vreg' AND c.relkind = 'S'")
TABLES="$TABLES dumpall_ref.written"
# tables of the schema that are not dumped: exactly the derived state
expect_eq "tables not registered for dump are exactly the derived state" \
  "$(q $SRC "SELECT string_agg(c.relname, ' ' ORDER BY c.relname) FROM pg_class c
              WHERE c.relnamespace = 'containers_vreg'::regnamespace AND c.relkind = 'r'
                AND c.oid <> ALL ((SELECT extconfig FROM pg_extension WHERE extname = 'containers_vreg')::oid[])")" \
  "download_buffer fetch_leases usage_deltas"
expect_eq "registered tables: 4 + 16 partitions + credentials_secret (+ reference)" "$(wc -w <<<"$TABLES" | tr -d ' ')" "21"

rows_of() {  # db table -> every row as text, in C order
  q "$1" "SELECT t::text FROM ONLY $2 t ORDER BY t::text COLLATE \"C\""
}
digest_of() {  # db table -> "<rows> <md5>"
  q "$1" "SELECT count(*) || ' ' || coalesce(md5(string_agg(t::text, E'\n' ORDER BY t::text COLLATE \"C\")), '-') FROM ONLY $2 t"
}
LINKS="SELECT string_agg(format('%s/%s/%s=%s', group_id, registry_id, upstream_id, position), ' ' ORDER BY group_id, registry_id, position) FROM containers_vreg.registry_upstreams"
INVARIANT="SELECT count(*) FROM (SELECT registry_id, count(*) AS n, array_agg(position ORDER BY position) AS p
             FROM containers_vreg.registry_upstreams GROUP BY 1) s
            WHERE n > 5 OR p <> ARRAY(SELECT generate_series(1, n::int)::smallint)"
CREDS="SELECT string_agg(u.group_id || '/' || u.id || '=' || coalesce(containers_vreg.upstream_credentials(u.group_id, u.id)::text, 'none'), ' ' ORDER BY u.group_id, u.id) FROM containers_vreg.upstreams u"
WRITTEN="SELECT string_agg(u.group_id || '/' || u.id || '=' || coalesce(w.creds::text, 'none'), ' ' ORDER BY u.group_id, u.id) FROM containers_vreg.upstreams u JOIN dumpall_ref.written w USING (group_id, name)"
ENVELOPES="SELECT md5(string_agg(group_id || '/' || id || coalesce(credentials::text, '-') || coalesce(encode(credentials_fingerprint, 'hex'), '-'), ',' ORDER BY group_id, id)) FROM containers_vreg.upstreams"
KIDS="SELECT string_agg(DISTINCT k, ',') FROM (SELECT credentials->>'kid' FROM containers_vreg.upstreams WHERE credentials IS NOT NULL UNION ALL SELECT secret->>'kid' FROM containers_vreg.credentials_secret) s(k)"
USAGE="SELECT string_agg(g.group_id || ':' || coalesce(u.upstream_id::text, 'total') || '=' || u.live_entries || '/' || u.live_bytes || '/' || u.pending_entries || '/' || u.pending_bytes, ' ' ORDER BY g.group_id, u.upstream_id NULLS LAST)
         FROM (SELECT DISTINCT group_id FROM containers_vreg.upstreams UNION SELECT DISTINCT group_id FROM containers_vreg.cache_entries) g,
              containers_vreg.group_usage(g.group_id) u"
COUNTED="SELECT string_agg(format('%s:%s=%s/%s/%s/%s', group_id, upstream_id, le, lb, pe, pb), ' ' ORDER BY group_id, upstream_id)
           FROM (SELECT group_id, upstream_id, count(*) FILTER (WHERE status = 0) le, coalesce(sum(size) FILTER (WHERE status = 0), 0) lb,
                        count(*) FILTER (WHERE status <> 0) pe, coalesce(sum(size) FILTER (WHERE status <> 0), 0) pb
                   FROM containers_vreg.cache_entries GROUP BY 1, 2) s"
USAGE_PER_UPSTREAM="SELECT string_agg(format('%s:%s=%s/%s/%s/%s', g.group_id, u.upstream_id, u.live_entries, u.live_bytes, u.pending_entries, u.pending_bytes), ' ' ORDER BY g.group_id, u.upstream_id)
         FROM (SELECT DISTINCT group_id FROM containers_vreg.cache_entries) g, containers_vreg.group_usage(g.group_id) u
        WHERE u.upstream_id IS NOT NULL AND (u.live_entries, u.pending_entries) <> (0, 0)"
# resolve: every registry x every stored path, plus short Docker Hub names,
# digests asked under another name, and misses
q $SRC "CREATE TABLE dumpall_ref.paths AS
        SELECT DISTINCT relative_path AS path FROM containers_vreg.cache_entries
        UNION SELECT 'alpine/manifests/v1' UNION SELECT 'nginx/manifests/v4' UNION SELECT 'busybox/manifests/latest'
        UNION SELECT 'other/image/blobs/sha256:' || dumpall_ref.hex('layer2')
        UNION SELECT 'other/manifests/sha256:' || dumpall_ref.hex('alpineidx')
        UNION SELECT 'missing/blobs/sha256:' || dumpall_ref.hex('none')" || tap_fail "resolve path list"
RESOLVE="SELECT count(*) || ' ' || md5(string_agg(r.group_id || '/' || r.id || ' ' || p.path || ' ' || x::text, E'\n' ORDER BY r.group_id, r.id, p.path))
           FROM containers_vreg.registries r, dumpall_ref.paths p, containers_vreg.resolve(r.group_id, r.id, p.path) x"
RESOLVE_KINDS="SELECT string_agg(result || '=' || n, ' ' ORDER BY result) FROM (SELECT x.result, count(*) n
           FROM containers_vreg.registries r, dumpall_ref.paths p, containers_vreg.resolve(r.group_id, r.id, p.path) x GROUP BY 1) s"

# ------------------------------------------------------- the source, asserted
src_status=$(q $SRC "SELECT string_agg(status || ':' || n, ' ' ORDER BY status) FROM (SELECT status, count(*) n FROM containers_vreg.cache_entries GROUP BY 1) s")
echo "# source entries by status: $src_status"
expect_match "source has live (0), processing (1), pending (2) and error (3) entries" "$src_status" "^0:[0-9]+ 1:[0-9]+ 2:[0-9]+ 3:[0-9]+$"
expect_eq "source: group 1001 has 5 registries (the limit)" "$(q $SRC "SELECT count(*) FROM containers_vreg.registries WHERE group_id = 1001")" "5"
expect_match "source: a 6th registry in group 1001 is refused (23514)" "$(qerr $SRC "INSERT INTO containers_vreg.registries (group_id, name) VALUES (1001, 'sixth')")" "^23514: "
expect_match "source: Docker Hub short names stored as library/, entries of a deleted upstream, downloads, ETag digests" \
  "$(q $SRC "SELECT count(*) FILTER (WHERE relative_path LIKE '/library/alpine/%') > 0, count(*) FILTER (WHERE relative_path LIKE '/alpine/%') > 0,
                    count(*) FILTER (WHERE upstream_id NOT IN (SELECT id FROM containers_vreg.upstreams)) > 0,
                    sum(downloads_count) > 0, count(*) FILTER (WHERE digest IS NOT NULL AND relative_path LIKE '%/manifests/v%') > 0
               FROM containers_vreg.cache_entries")" "^t\|t\|t\|t\|t$"
buf=$(q $SRC "SELECT count(*) FROM containers_vreg.download_buffer")
leases=$(q $SRC "SELECT count(*) FROM containers_vreg.fetch_leases")
expect_match "source has derived state: buffered downloads ($buf), fetch leases ($leases), usage deltas" \
  "$buf $leases $(q $SRC "SELECT count(*) > 0 FROM containers_vreg.usage_deltas")" "^[1-9][0-9]* [1-9][0-9]* t$"
expect_eq "source: 38 upstreams, 22 with sealed credentials" "$(q $SRC "SELECT count(*) || ' ' || count(credentials) FROM containers_vreg.upstreams")" "38 22"
expect_eq "source: every credential opens to what was written" "$(q $SRC "$CREDS")" "$(q $SRC "$WRITTEN")"
expect_eq "source: positions are 1..n in every registry" "$(q $SRC "$INVARIANT")" "0"
expect_eq "source: group_usage equals the entries counted" "$(q $SRC "$USAGE_PER_UPSTREAM")" "$(q $SRC "$COUNTED")"

declare -A BEFORE
for t in $TABLES; do BEFORE[$t]=$(digest_of $SRC "$t"); done
for s in $SEQS; do BEFORE[$s]=$(q $SRC "SELECT last_value || '/' || is_called FROM $s"); done
links_before=$(q $SRC "$LINKS"); creds_before=$(q $SRC "$CREDS"); written=$(q $SRC "$WRITTEN")
env_before=$(q $SRC "$ENVELOPES"); usage_before=$(q $SRC "$USAGE"); resolve_before=$(q $SRC "$RESOLVE")
echo "# source resolve results: $(q $SRC "$RESOLVE_KINDS")"
expect_match "source resolve covers hits, stale hits and misses" "$(q $SRC "$RESOLVE_KINDS")" "^hit=[0-9]+ miss=[0-9]+ stale=[0-9]+$"
expect_eq "source: every envelope and the fingerprint secret sealed under key 2 (the highest)" "$(q $SRC "$KIDS")" "2"
maxid() { q "$1" "SELECT max(id) FROM $2"; }

# ------------------------------------------------------------------- the dumps
"$B/pg_dump" -Fc -f "$WORK/dump.fc" "$SRC" 2>"$WORK/dump.err" && tap_ok "pg_dump -Fc" || tap_fail "pg_dump -Fc" "$(head -3 "$WORK/dump.err")"
"$B/pg_dump" -Fp -f "$WORK/dump.sql" "$SRC" 2>"$WORK/dump.err" && tap_ok "pg_dump plain" || tap_fail "pg_dump plain" "$(head -3 "$WORK/dump.err")"
awk '/^COPY containers_vreg\./ {on = 1} on {print} /^\\\.$/ {on = 0}' "$WORK/dump.sql" >"$WORK/vreg-data.sql"
expect_eq "the plain dump creates the extension; its containers_vreg data holds envelopes, no plaintext" \
  "$(grep -c '^CREATE EXTENSION IF NOT EXISTS containers_vreg' "$WORK/dump.sql") $(grep -c '^COPY containers_vreg' "$WORK/vreg-data.sql") $(grep -c 'pw-\|pw2-\|user-1001' "$WORK/vreg-data.sql")" "1 20 0"

check_restored() {  # db label
  local d=$1 l=$2 t got r
  for t in $TABLES; do
    got=$(digest_of "$d" "$t")
    if [ "$got" = "${BEFORE[$t]}" ]; then
      tap_ok "$l: $t: ${got%% *} rows identical"
    else
      diff <(rows_of $SRC "$t") <(rows_of "$d" "$t") | head -20 | sed 's/^/#   /'
      tap_fail "$l: $t: rows differ" "$got (want ${BEFORE[$t]})"
    fi
  done
  for t in $SEQS; do
    expect_eq "$l: $t at the same value" "$(q "$d" "SELECT last_value || '/' || is_called FROM $t")" "${BEFORE[$t]}"
  done
  expect_eq "$l: positions exactly as before" "$(q "$d" "$LINKS")" "$links_before"
  expect_eq "$l: positions are 1..n in every registry" "$(q "$d" "$INVARIANT")" "0"
  expect_eq "$l: every credential opens to the plaintext written ($(q "$d" "SELECT count(*) FROM containers_vreg.upstreams") upstreams)" "$(q "$d" "$CREDS")" "$written"
  expect_eq "$l: envelopes and fingerprints byte-identical (nothing sealed twice)" "$(q "$d" "$ENVELOPES")" "$env_before"
  expect_eq "$l: rotate_credentials finds nothing to re-seal (all under key 2) and changes nothing" \
    "$(q "$d" "SELECT containers_vreg.rotate_credentials(1000)") $(q "$d" "$KIDS") $(q "$d" "$ENVELOPES")" "0 2 $env_before"
  expect_eq "$l: download_buffer and fetch_leases empty (derived state not dumped)" \
    "$(q "$d" "SELECT (SELECT count(*) FROM containers_vreg.download_buffer) || ' ' || (SELECT count(*) FROM containers_vreg.fetch_leases)")" "0 0"
  expect_match "$l: usage deltas refilled by the row triggers while loading" "$(q "$d" "SELECT count(*) FROM containers_vreg.usage_deltas")" "^[1-9]"
  expect_eq "$l: group_usage equal to the source's, straight after restore" "$(q "$d" "$USAGE")" "$usage_before"
  q "$d" "SELECT containers_vreg.rebuild_usage()" >/dev/null
  expect_eq "$l: group_usage equal again after rebuild_usage()" "$(q "$d" "$USAGE")" "$usage_before"
  expect_eq "$l: resolve identical for every registry x path ($(cut -d' ' -f1 <<<"$resolve_before") calls)" "$(q "$d" "$RESOLVE")" "$resolve_before"
  # writes after the restore
  r=$(q "$d" "INSERT INTO containers_vreg.registries (group_id, name) VALUES (1002, 'after-restore') RETURNING id" 2>&1)
  expect_eq "$l: a new registry gets a fresh id (max was $(maxid $SRC containers_vreg.registries))" "$(( r > $(maxid $SRC containers_vreg.registries) ))" "1"
  expect_match "$l: a 6th registry in group 1001 still refused (23514)" "$(qerr "$d" "INSERT INTO containers_vreg.registries (group_id, name) VALUES (1001, 'sixth')")" "^23514: "
  r=$(q "$d" "INSERT INTO containers_vreg.upstreams (group_id, url, name, credentials) VALUES (1002, 'https://new.example.com', 'new', '{\"username\": \"n\", \"password\": \"after\"}') RETURNING id" 2>&1)
  expect_eq "$l: a new upstream gets a fresh id and its credentials open" \
    "$(( r > $(maxid $SRC containers_vreg.upstreams) )) $(q "$d" "SELECT containers_vreg.upstream_credentials(1002, $r)->>'password'")" "1 after"
  expect_eq "$l: a new link gets a fresh id and position n + 1" \
    "$(q "$d" "SELECT containers_vreg.attach_upstream(1002, $(q "$d" "SELECT id FROM containers_vreg.registries WHERE group_id = 1002 AND name = 'after-restore'"), $r)") $(( $(maxid "$d" containers_vreg.registry_upstreams) > $(maxid $SRC containers_vreg.registry_upstreams) ))" "1 1"
  r=$(q "$d" "SELECT id FROM containers_vreg.upsert_cache_entry(1002, $r, 'fresh/manifests/1', 10, 'f', '\\x$(printf '%040d' 0)')" 2>&1)
  expect_eq "$l: a new cache entry gets a fresh id" "$(( r > $(maxid $SRC containers_vreg.cache_entries) ))" "1"
  expect_match "$l: duplicate credentials on one url still refused (23505)" \
    "$(qerr "$d" "INSERT INTO containers_vreg.upstreams (group_id, url, credentials) SELECT group_id, 'https://ghcr.io', creds FROM dumpall_ref.written WHERE group_id = 1001 AND name = 'ghcr'")" "^23505: "
  expect_match "$l: a second upstream without credentials on one url still refused (23505)" \
    "$(qerr "$d" "INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1002, 'https://registry.example.com')")" "^23505: "
}

# 1. custom format, pg_restore
"$B/createdb" vreg_dumpall_fc || exit 1
if "$B/pg_restore" --exit-on-error -d vreg_dumpall_fc "$WORK/dump.fc" 2>"$WORK/restore.err"; then
  tap_ok "pg_restore -Fc into a new database"; check_restored vreg_dumpall_fc "pg_restore"
else
  tap_fail "pg_restore -Fc into a new database" "$(head -5 "$WORK/restore.err")"
fi
# 2. plain format, psql
"$B/createdb" vreg_dumpall_plain || exit 1
if psql_f vreg_dumpall_plain -f "$WORK/dump.sql" >"$WORK/psql.out" 2>"$WORK/restore.err"; then
  tap_ok "plain dump restored with psql"; check_restored vreg_dumpall_plain "plain+psql"
else
  tap_fail "plain dump restored with psql" "$(head -5 "$WORK/restore.err")"
fi
# 3. custom format, parallel pg_restore (partitions load in any order).
# pg_dump orders the data of extension tables by their foreign keys, but gives
# each TABLE DATA archive entry only its table as a dependency, so a parallel
# pg_restore may load registry_upstreams before the registries or upstreams it
# references, and the extension's foreign key (created by CREATE EXTENSION,
# before any data) refuses it. Supported procedure: everything else with
# --jobs, then registry_upstreams' data on its own (README, reliability).
"$B/createdb" vreg_dumpall_par || exit 1
"$B/createdb" vreg_dumpall_par1 || exit 1
if "$B/pg_restore" --exit-on-error --jobs 2 -d vreg_dumpall_par1 "$WORK/dump.fc" 2>"$WORK/restore1.err"; then
  echo "# note: a one-step pg_restore --jobs 2 happened to load the tables in a working order this time"
else
  echo "# note: a one-step pg_restore --jobs 2 failed (a PostgreSQL limitation, see above): $(grep -m1 'ERROR' "$WORK/restore1.err")"
fi
"$B/dropdb" vreg_dumpall_par1
"$B/pg_restore" -l "$WORK/dump.fc" >"$WORK/all.list"
grep -v ' TABLE DATA containers_vreg registry_upstreams ' "$WORK/all.list" >"$WORK/par.list"
grep ' TABLE DATA containers_vreg registry_upstreams ' "$WORK/all.list" >"$WORK/links.list"
expect_eq "the archive lists registry_upstreams' data once" "$(grep -c . "$WORK/links.list")" "1"
if "$B/pg_restore" --exit-on-error --jobs 2 -L "$WORK/par.list" -d vreg_dumpall_par "$WORK/dump.fc" 2>"$WORK/restore.err" &&
   "$B/pg_restore" --exit-on-error -L "$WORK/links.list" -d vreg_dumpall_par "$WORK/dump.fc" 2>>"$WORK/restore.err"; then
  tap_ok "pg_restore --jobs 2, then registry_upstreams' data, into a new database"; check_restored vreg_dumpall_par "pg_restore -j2"
else
  tap_fail "pg_restore --jobs 2, then registry_upstreams' data, into a new database" "$(head -5 "$WORK/restore.err")"
fi
[ "$tap_n" -gt 0 ]
