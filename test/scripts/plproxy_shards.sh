#!/usr/bin/env bash
# Scale-out with PL/Proxy (docs/design.md, "Partitions and scale"; README "routing"): two shard
# servers (normal installs of containers_vreg, nothing else) and a router server (plproxy + sql/router/containers_vreg_router.sql), each
# a throwaway cluster on a free loopback port. Groups are created and a pull
# trace is replayed through the router, and the same through one single
# server; then every group's rows must be on exactly one shard, the one
# cache_entry_shard(group_id, 2) names, and the results must equal the single
# server's. Shards get the same cluster settings (test/cluster.conf.d, e.g.
# the keyring) as the main test cluster.
#
# Needs: PGC_BINDIR with containers_vreg and plproxy installed (make test's
# private tree is a copy of /usr/lib/postgresql/15, which holds plproxy.so).
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$TOP"
. scripts/pgcluster.sh

BASE=$TOP/.pgtmp/plproxy
SHARDS=2
GROUPS_LIST="1 2 3 4 5 6 -42 1000003 -9223372036854775808 9223372036854775807"
TRACE_ROWS_PER_GROUP=${TRACE_ROWS_PER_GROUP:-40}
TRACE=${TRACE:-}
for t in "$TOP/test/data/oci-pulls/official-images.tsv" /work/shared/data/oci-pulls/official-images.tsv; do
  [ -z "$TRACE" ] && [ -r "$t" ] && TRACE=$t
done

n=0
ok()   { n=$((n + 1)); echo "ok $n - $*"; }
nok()  { n=$((n + 1)); echo "not ok $n - $*"; fail=1; }
skip() { n=$((n + 1)); echo "ok $n # SKIP $*"; }
fail=0

declare -A HOST PORT
KEYRING_CONF=
started=()
stop_all() {
  local d
  for d in "${started[@]}"; do
    pgc_as_owner "$PGC_BINDIR/pg_ctl" -D "$d/data" -m fast -w stop >/dev/null 2>&1 || true
  done
}
trap 'declare -F e2e_stop_all >/dev/null && e2e_stop_all; stop_all' EXIT

start_server() {  # $1: name
  pgc_init "$BASE/$1" || return 1
  for f in test/cluster.conf.d/*.sh; do [ -e "$f" ] && . "$f"; done
  # one keyring for every server: the first one's (the last setting wins)
  if grep -q '^containers_vreg.keyring_file' "$PGC_DIR/data/postgresql.conf"; then
    if [ -z "$KEYRING_CONF" ]; then
      KEYRING_CONF=$(grep '^containers_vreg.keyring_file' "$PGC_DIR/data/postgresql.conf" | tail -1)
    else
      pgc_conf "$KEYRING_CONF"
    fi
  fi
  pgc_startonly || return 1
  started+=("$PGC_DIR")
  HOST[$1]=$PGHOST
  PORT[$1]=$PGPORT
}

sq() {  # $1: server, $2: database, rest: psql arguments (not "q": test/cluster.conf.d may source a lib defining q)
  local s=$1 d=$2; shift 2
  psql -X -q -At -v ON_ERROR_STOP=1 -h "${HOST[$s]}" -p "${PORT[$s]}" -U postgres -d "$d" "$@"
}

die() { echo "Bail out! $*"; exit 1; }

mkdir -p "$BASE"
for s in s0 s1 router; do start_server "$s" || die "could not start server $s"; done

# Shards: a normal install and nothing else (every function the router
# forwards is the extension's). The single-server reference is another
# database on s0, set up the same way.
for target in "s0 vreg" "s1 vreg" "s0 single"; do
  set -- $target
  sq "$1" postgres -c "CREATE DATABASE $2" || die "createdb $2 on $1"
  sq "$1" "$2" -c "CREATE EXTENSION containers_vreg" || die "shard set-up of $2 on $1"
done

# Router: plproxy, the extension (row types and cache_entry_shard; its tables
# stay empty), the cluster definition, the forwarders.
sq router postgres -c "CREATE DATABASE router" || die "createdb router"
sq router router <<SQL || die "router set-up"
CREATE EXTENSION plproxy;
CREATE EXTENSION containers_vreg;
CREATE SERVER vreg FOREIGN DATA WRAPPER plproxy OPTIONS (
  connection_lifetime '1800',
  p0 'host=127.0.0.1 port=${PORT[s0]} dbname=vreg user=postgres',
  p1 'host=127.0.0.1 port=${PORT[s1]} dbname=vreg user=postgres');
CREATE USER MAPPING FOR PUBLIC SERVER vreg;
\i sql/router/containers_vreg_router.sql
SQL

# The driver, in the router database (API = vreg_router) and in the single
# database (API = containers_vreg): the same calls in another schema.
driver_sql() {
cat <<'SQL'
CREATE SCHEMA vreg_trace;
CREATE TABLE vreg_trace.trace (repository text, reference text, kind text, digest text,
  media_type text, size_bytes text, platform text);
CREATE TABLE vreg_trace.groups (group_id bigint PRIMARY KEY, registry_id bigint, hub_id bigint, mirror_id bigint);
CREATE TABLE vreg_trace.log (pass int, group_id bigint, seq int, path text, result text, position smallint,
  relative_path text, file text, size bigint, content_type text, upstream_etag text, digest text);

CREATE FUNCTION vreg_trace.setup(api text, admin text, group_ids bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE g bigint; r bigint; h bigint; m bigint;
BEGIN
  FOREACH g IN ARRAY group_ids LOOP
    EXECUTE format('SELECT %I.create_registry($1, $2)', api) INTO r USING g, 'registry of group ' || g;
    -- even groups revalidate tags on every pull (validity 0): their second pass is stale
    EXECUTE format('SELECT %I.create_upstream($1, $2, $3, NULL, $4)', api) INTO h
      USING g, 'https://registry-1.docker.io', 'docker hub', CASE WHEN g % 2 = 0 THEN 0 ELSE 24 END::smallint;
    EXECUTE format('SELECT %I.create_upstream($1, $2, $3)', api) INTO m USING g, 'https://mirror.gcr.io', 'mirror';
    -- the extension's own attach_upstream (forwarded as it is by the router)
    EXECUTE format('SELECT %I.attach_upstream($1, $2, $3)', admin) USING g, r, h;
    EXECUTE format('SELECT %I.attach_upstream($1, $2, $3)', admin) USING g, r, m;
    INSERT INTO vreg_trace.groups VALUES (g, r, h, m);
  END LOOP;
END $$;

-- One pass over each group's slice of the trace: resolve; on a miss fetch
-- from the first upstream (upsert); a stale hit is revalidated unchanged
-- (mark_checked); every served request counts a download.
CREATE FUNCTION vreg_trace.replay(api text, pass int, rows_per_group int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  gr record; t record; r record; e record; path text; i int := 0;
BEGIN
  FOR gr IN SELECT * FROM vreg_trace.groups ORDER BY group_id LOOP
    i := i + 1;
    -- a few tags, then a slice of platform manifests and blobs
    FOR t IN SELECT row_number() OVER () AS seq, * FROM
               ((SELECT * FROM vreg_trace.trace WHERE kind = 'tag_manifest' OFFSET (i * 5) % 21 LIMIT 5)
                UNION ALL
                (SELECT * FROM vreg_trace.trace WHERE kind <> 'tag_manifest' OFFSET (i * 97) % 900 LIMIT rows_per_group - 5)) s LOOP
      path := '/' || t.repository || CASE t.kind WHEN 'blob' THEN '/blobs/' ELSE '/manifests/' END || t.reference;
      EXECUTE format('SELECT * FROM %I.resolve($1, $2, $3)', api) INTO r USING gr.group_id, gr.registry_id, path;
      IF r.entry_id IS NULL THEN
        EXECUTE format('SELECT * FROM %I.upsert_cache_entry($1, $2, $3, $4, $5, $6, $7, $8)', api) INTO e
          USING gr.group_id, gr.hub_id, path, coalesce(nullif(t.size_bytes, '')::bigint, 1000),
                'files/' || t.digest, decode(substr(t.digest, 8, 40), 'hex'), t.media_type,
                CASE WHEN t.kind <> 'blob' THEN '"' || t.digest || '"' END;
        EXECUTE format('SELECT %I.record_download($1, $2)', api) USING gr.group_id, e.id;
      ELSE
        IF r.result ILIKE '%stale%' THEN
          EXECUTE format('SELECT %I.mark_checked($1, $2)', api) USING gr.group_id, r.entry_id;
        END IF;
        EXECUTE format('SELECT %I.record_download($1, $2)', api) USING gr.group_id, r.entry_id;
      END IF;
      INSERT INTO vreg_trace.log VALUES (pass, gr.group_id, t.seq, path, r.result, r.position,
        r.relative_path, r.file, r.size, r.content_type, r.upstream_etag, r.digest);
    END LOOP;
  END LOOP;
END $$;
SQL
}

# What a group owns, without ids and timestamps (ids are per server).
group_state_sql() {  # $1: group id
cat <<SQL
SELECT 'registry|' || name || '|' || coalesce(description, '') FROM containers_vreg.registries WHERE group_id = $1
UNION ALL
SELECT 'upstream|' || url || '|' || name || '|' || cache_validity_hours FROM containers_vreg.upstreams WHERE group_id = $1
UNION ALL
SELECT 'link|' || r.name || '|' || u.name || '|' || l.position
  FROM containers_vreg.registry_upstreams l
  JOIN containers_vreg.registries r ON r.group_id = l.group_id AND r.id = l.registry_id
  JOIN containers_vreg.upstreams u ON u.group_id = l.group_id AND u.id = l.upstream_id
 WHERE l.group_id = $1
UNION ALL
SELECT 'entry|' || concat_ws('|', u.name, e.relative_path, e.status, e.size, e.file, e.content_type,
       e.upstream_etag, e.digest, e.downloads_count, e.tableoid::regclass = containers_vreg.cache_entry_partition(e.group_id))
  FROM containers_vreg.cache_entries e JOIN containers_vreg.upstreams u ON u.group_id = e.group_id AND u.id = e.upstream_id
 WHERE e.group_id = $1
ORDER BY 1;
SQL
}

has_request_path=$(sq s0 vreg -c "SELECT to_regproc('containers_vreg.resolve') IS NOT NULL
  AND to_regproc('containers_vreg.upsert_cache_entry') IS NOT NULL
  AND to_regproc('containers_vreg.mark_checked') IS NOT NULL
  AND to_regproc('containers_vreg.record_download') IS NOT NULL")

groups_array="{$(echo $GROUPS_LIST | tr ' ' ',')}"
for db in "router router" "s0 single"; do
  set -- $db
  driver_sql | sq "$1" "$2" || die "driver set-up in $2"
done

# 1. admin calls through the router
if sq router router -c "SELECT vreg_trace.setup('vreg_router', 'vreg_router', '$groups_array')" >/dev/null &&
   sq s0 single -c "SELECT vreg_trace.setup('containers_vreg', 'containers_vreg', '$groups_array')" >/dev/null; then
  ok "registries, upstreams and links created through the router for ${GROUPS_LIST// /, }"
else
  nok "admin calls through the router"
fi

# 2. a shard's error reaches the router's client with its SQLSTATE
state=$(sq router router -c "\\set VERBOSITY verbose" -c "SELECT vreg_router.create_registry(1, ' ')" 2>&1 | sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\):.*/\1/p' | head -1)
if [ "$state" = 23514 ]; then ok "a refused admin call keeps SQLSTATE 23514 through the router"
else nok "a refused admin call keeps SQLSTATE 23514 through the router (got: $state)"; fi

# 3. the pull trace
if [ "$has_request_path" != t ]; then
  skip "request path not installed (containers_vreg.resolve / upsert_cache_entry / mark_checked / record_download missing)"
elif [ -z "$TRACE" ]; then
  skip "no pull trace (official-images.tsv) found: put it in test/data/oci-pulls/ to run it"
else
  good=1
  for db in "router router vreg_router" "s0 single containers_vreg"; do
    set -- $db
    sq "$1" "$2" -c "\\copy vreg_trace.trace FROM '$TRACE' WITH (FORMAT csv, DELIMITER E'\\t', HEADER true, QUOTE E'\\x01')" \
      -c "SELECT vreg_trace.replay('$3', 1, $TRACE_ROWS_PER_GROUP)" \
      -c "SELECT vreg_trace.replay('$3', 2, $TRACE_ROWS_PER_GROUP)" >/dev/null || good=0
  done
  log_sql="SELECT concat_ws('|', pass, group_id, seq, path, result, position, relative_path, file, size, content_type, upstream_etag, digest) FROM vreg_trace.log ORDER BY pass, group_id, seq"
  sq router router -c "$log_sql" > "$BASE/router.log" || good=0
  sq s0 single -c "$log_sql" > "$BASE/single.log" || good=0
  lines=$(wc -l < "$BASE/router.log")
  if [ "$good" = 1 ] && [ "$lines" -gt 0 ] && diff -u "$BASE/single.log" "$BASE/router.log" > "$BASE/trace.diff"; then
    ok "pull trace through the router ($lines requests): every resolve equals the single server's"
  else
    nok "pull trace through the router differs from the single server"; head -40 "$BASE/trace.diff"
  fi
fi

# 4. every group's rows on exactly one shard, the one cache_entry_shard names,
#    and equal to the single server's rows
placed=1 used0=0 used1=0
for g in $GROUPS_LIST; do
  gl="'$g'::bigint"
  want=$(sq s0 vreg -c "SELECT containers_vreg.cache_entry_shard($gl, $SHARDS)")
  via=$(sq router router -c "SELECT vreg_router.shard_of($gl) & ($SHARDS - 1)")
  c0=$(sq s0 vreg -c "SELECT (SELECT count(*) FROM containers_vreg.registries WHERE group_id = $gl) + (SELECT count(*) FROM containers_vreg.upstreams WHERE group_id = $gl) + (SELECT count(*) FROM containers_vreg.registry_upstreams WHERE group_id = $gl) + (SELECT count(*) FROM containers_vreg.cache_entries WHERE group_id = $gl)")
  c1=$(sq s1 vreg -c "SELECT (SELECT count(*) FROM containers_vreg.registries WHERE group_id = $gl) + (SELECT count(*) FROM containers_vreg.upstreams WHERE group_id = $gl) + (SELECT count(*) FROM containers_vreg.registry_upstreams WHERE group_id = $gl) + (SELECT count(*) FROM containers_vreg.cache_entries WHERE group_id = $gl)")
  if [ "$want" = 0 ]; then have=$c0 other=$c1; used0=1; else have=$c1 other=$c0; used1=1; fi
  if [ "$want" != "$via" ] || [ "${have:-0}" -eq 0 ] || [ "${other:-1}" -ne 0 ]; then
    placed=0; echo "# group $g: shard $want (router hash $via), rows on s0=$c0 s1=$c1"
  fi
  group_state_sql "$gl" | sq "s$want" vreg > "$BASE/g$g.shard" 2>&1
  group_state_sql "$gl" | sq s0 single > "$BASE/g$g.single" 2>&1
  if ! diff -u "$BASE/g$g.single" "$BASE/g$g.shard" > "$BASE/g$g.diff"; then
    placed=0; echo "# group $g: rows differ from the single server"; head -20 "$BASE/g$g.diff"
  fi
done
if [ "$placed" = 1 ] && [ "$used0" = 1 ] && [ "$used1" = 1 ]; then
  ok "every group's rows are on exactly one shard, cache_entry_shard(group_id, $SHARDS), equal to the single server's; both shards used"
else
  nok "group placement (used s0=$used0 s1=$used1)"
fi

# 5. the router itself stores nothing
empty=$(sq router router -c "SELECT (SELECT count(*) FROM containers_vreg.registries) + (SELECT count(*) FROM containers_vreg.upstreams) + (SELECT count(*) FROM containers_vreg.cache_entries)")
if [ "$empty" = 0 ]; then ok "the router database holds no rows"; else nok "the router database holds $empty rows"; fi

# 6. credentials: sealed by the owning shard; every shard has the same keyring,
#    so an envelope copied to another shard (moving a group) opens there too
if [ "$(sq s0 vreg -c "SELECT to_regprocedure('containers_vreg.upstream_credentials(bigint,bigint)') IS NOT NULL")" != t ]; then
  skip "credentials not installed"
else
  cred_ok=1
  for g in $GROUPS_LIST; do
    gl="'$g'::bigint"
    own=$(sq s0 vreg -c "SELECT containers_vreg.cache_entry_shard($gl, $SHARDS)")
    other=$((1 - own))
    uid=$(sq router router -c "SELECT vreg_router.create_upstream($gl, 'https://ghcr.io', 'ghcr', NULL, 24::smallint, '{\"username\": \"user$g\", \"password\": \"secret$g\"}')") || { cred_ok=0; break; }
    plain=$(sq "s$own" vreg -c "SELECT containers_vreg.upstream_credentials($gl, $uid)->>'username'")
    sealed=$(sq "s$own" vreg -c "SELECT credentials::text NOT LIKE '%secret%' FROM containers_vreg.upstreams WHERE group_id = $gl AND id = $uid")
    row=$(sq "s$own" vreg -c "SELECT format('%L::jsonb, %L::bytea', credentials::text, credentials_fingerprint) FROM containers_vreg.upstreams WHERE group_id = $gl AND id = $uid")
    copied=$(sq "s$other" vreg -c "INSERT INTO containers_vreg.upstreams (group_id, id, url, name, credentials, credentials_fingerprint) VALUES ($gl, $uid, 'https://ghcr.io', 'ghcr', $row)" \
                               -c "SELECT containers_vreg.upstream_credentials($gl, $uid)->>'password'" \
                               -c "DELETE FROM containers_vreg.upstreams WHERE group_id = $gl AND id = $uid")
    if [ "$plain" != "user$g" ] || [ "$sealed" != t ] || [ "$copied" != "secret$g" ]; then
      cred_ok=0; echo "# group $g: opened on shard $own: '$plain', sealed: '$sealed', copied to shard $other opens: '$copied'"
    fi
    [ "$g" = 2 ] && break   # groups 1 and 2 are on different shards
  done
  if [ "$cred_ok" = 1 ]; then ok "credentials sealed through the router open on the owning shard and, copied, on the other (one keyring)"
  else nok "credentials across shards"; fi
fi

# helpers of sections 7 and 8
direct() {  # $1: shard, $2: SQL: its result, rolled back
  sq "$1" vreg -c "BEGIN" -c "$2" -c "ROLLBACK"
}
routed() { sq router router -c "$1"; }
is() {  # description, expected, got
  if [ "$3" = "$2" ]; then ok "$1"; else nok "$1"; echo "#   expected: $2"; echo "#   got:      $3"; fi
}
same() {  # description, expected, direct (or one-server) result, router (or shard) result
  if [ "$3" = "$2" ] && [ "$4" = "$2" ]; then ok "$1"
  else nok "$1"; echo "#   expected:        $2"; echo "#   directly:        $3"; echo "#   routed:          $4"; fi
}

# 7. the admin calls: each one through the router lands on the shard that
#    owns the group (its rows appear there and nowhere else) and returns
#    exactly what the same call returns on one server (the single database):
#    ids are each server's next sequence value, refusals the same SQLSTATE,
#    rows alike. Two fresh groups, one on each shard.
on_single() { sq s0 single -c "$1"; }
state_or_err() {  # server db sql: the result, or the SQLSTATE of its error
  local out
  if out=$(sq "$1" "$2" -c "\\set VERBOSITY verbose" -c "$3" 2>&1); then echo "$out"
  else sed -n 's/^ERROR: *\([0-9A-Z]\{5\}\):.*/\1/p' <<<"$out" | head -1; fi
}
next_id() {  # server db sequence: the id its next nextval returns
  sq "$1" "$2" -c "SELECT CASE WHEN is_called THEN last_value + 1 ELSE last_value END FROM containers_vreg.$3"
}
admin_both() {  # description, expected, SQL with API for the schema: through the router and on one server
  local r1 r2
  r1=$(state_or_err router router "${3//API/vreg_router}")
  r2=$(state_or_err s0 single "${3//API/containers_vreg}")
  if [ "$r1" = "$2" ] && [ "$r2" = "$2" ]; then ok "$1"
  else nok "$1"; echo "#   expected:         $2"; echo "#   through router:   $r1"; echo "#   on one server:    $r2"; fi
}
declare -A AG
for g in $(seq 7000 7040); do
  sh=$(sq s0 vreg -c "SELECT containers_vreg.cache_entry_shard($g, $SHARDS)")
  [ -z "${AG[$sh]:-}" ] && AG[$sh]=$g
done
upstream_row="SELECT concat_ws('|', url, name, coalesce(description, '-'), cache_validity_hours, credentials IS NOT NULL) FROM containers_vreg.upstreams"
for sh in 0 1; do
  g=${AG[$sh]} other=s$((1 - sh))
  rows_other="SELECT (SELECT count(*) FROM containers_vreg.registries WHERE group_id = $g) + (SELECT count(*) FROM containers_vreg.upstreams WHERE group_id = $g)"
  want="$(next_id "s$sh" vreg registries_id_seq) $(next_id s0 single registries_id_seq)"
  same "create_registry, group $g (shard $sh): the owning shard's next registry id through the router, the single server's on one server" \
    "$want" "$want" \
    "$(routed "SELECT vreg_router.create_registry($g, 'admin', 'first')") $(on_single "SELECT containers_vreg.create_registry($g, 'admin', 'first')")"
  want="$(next_id "s$sh" vreg upstreams_id_seq) $(next_id s0 single upstreams_id_seq)"
  cred="'{\"username\": \"admin$g\", \"password\": \"AdminSecret$g\"}'"
  same "create_upstream with credentials, group $g: the owning shard's next upstream id, the single server's" \
    "$want" "$want" \
    "$(routed "SELECT vreg_router.create_upstream($g, 'https://ghcr.io', 'ghcr', 'first', 12::smallint, $cred)") $(on_single "SELECT containers_vreg.create_upstream($g, 'https://ghcr.io', 'ghcr', 'first', 12::smallint, $cred)")"
  UR=$(sq "s$sh" vreg -c "SELECT id FROM containers_vreg.upstreams WHERE group_id = $g")
  US=$(on_single "SELECT id FROM containers_vreg.upstreams WHERE group_id = $g")
  RR=$(sq "s$sh" vreg -c "SELECT id FROM containers_vreg.registries WHERE group_id = $g")
  RS=$(on_single "SELECT id FROM containers_vreg.registries WHERE group_id = $g")
  same "  the rows are on shard $sh only, sealed there (the owner opens them), as on one server" \
    "admin|first 0|https://ghcr.io|ghcr|first|12|t|admin$g" \
    "$(on_single "SELECT name || '|' || description FROM containers_vreg.registries WHERE group_id = $g") 0|$(on_single "$upstream_row WHERE group_id = $g")|$(on_single "SELECT containers_vreg.upstream_credentials($g, $US)->>'username'")" \
    "$(sq "s$sh" vreg -c "SELECT name || '|' || description FROM containers_vreg.registries WHERE group_id = $g") $(sq "$other" vreg -c "$rows_other")|$(sq "s$sh" vreg -c "$upstream_row WHERE group_id = $g")|$(sq "s$sh" vreg -c "SELECT containers_vreg.upstream_credentials($g, $UR)->>'username'")"
  before_shard=$(group_state_sql "$g" | sq "s$sh" vreg); before_single=$(group_state_sql "$g" | sq s0 single)
  admin_both "  refused alike, group $g: a duplicate registry name (23505)" 23505 "SELECT API.create_registry($g, 'admin')"
  admin_both "  refused alike, group $g: a blank registry name (23514)" 23514 "SELECT API.create_registry($g, ' ')"
  admin_both "  refused alike, group $g: an ftp url (23514)" 23514 "SELECT API.create_upstream($g, 'ftp://ghcr.io')"
  admin_both "  refused alike, group $g: a local url (23514)" 23514 "SELECT API.create_upstream($g, 'http://127.0.0.1:5000')"
  admin_both "  refused alike, group $g: the same url and credentials again (23505)" 23505 "SELECT API.create_upstream($g, 'https://ghcr.io', 'again', NULL, 24::smallint, $cred)"
  admin_both "  refused alike, group $g: update of an upstream the group does not have (P0002)" P0002 "SELECT API.update_upstream($g, -1, name => 'x')"
  admin_both "  refused alike, group $g: credentials and clear_credentials together (22023)" 22023 "SELECT API.update_upstream($g, -1, credentials => $cred, clear_credentials => true)"
  same "  and nothing changed, on the shard and on one server" "$before_single" \
    "$(group_state_sql "$g" | sq s0 single)" "$(group_state_sql "$g" | sq "s$sh" vreg)"
  [ "$before_shard" = "$before_single" ] || nok "group $g: shard and single server differ before the refusals"
  admin_upd() {  # description, expected row, named arguments
    local r1 r2
    routed "SELECT vreg_router.update_upstream($g, $UR, $3)" >/dev/null
    on_single "SELECT containers_vreg.update_upstream($g, $US, $3)" >/dev/null
    same "$1" "$2" "$(on_single "$upstream_row WHERE group_id = $g")" "$(sq "s$sh" vreg -c "$upstream_row WHERE group_id = $g")"
  }
  admin_upd "update_upstream, group $g: name and validity set, the rest kept (credentials too)" \
    "https://ghcr.io|renamed|first|6|t" "name => 'renamed', cache_validity_hours => 6::smallint"
  admin_upd "  a url change clears the credentials, as the table's trigger does" \
    "https://quay.io|renamed|first|6|f" "url => 'https://quay.io'"
  admin_upd "  new credentials with a url change are kept" \
    "https://ghcr.io|renamed|first|6|t" "url => 'https://ghcr.io', credentials => $cred"
  admin_upd "  clear_credentials clears them, description '' is stored" \
    "https://ghcr.io|renamed||6|f" "description => '', clear_credentials => true"
  routed "SELECT vreg_router.attach_upstream($g, $RR, $UR)" >/dev/null
  on_single "SELECT containers_vreg.attach_upstream($g, $RS, $US)" >/dev/null
  same "delete_upstream, group $g: true, then false; its link is gone on shard $sh, as on one server" \
    "t f 0 0" \
    "$(on_single "SELECT containers_vreg.delete_upstream($g, $US)") $(on_single "SELECT containers_vreg.delete_upstream($g, $US)") $(on_single "SELECT count(*) FROM containers_vreg.registry_upstreams WHERE group_id = $g") 0" \
    "$(routed "SELECT vreg_router.delete_upstream($g, $UR)") $(routed "SELECT vreg_router.delete_upstream($g, $UR)") $(sq "s$sh" vreg -c "SELECT count(*) FROM containers_vreg.registry_upstreams WHERE group_id = $g") $(sq "$other" vreg -c "$rows_other")"
  for i in 2 3 4 5; do routed "SELECT vreg_router.create_registry($g, 'r$i')" >/dev/null; on_single "SELECT containers_vreg.create_registry($g, 'r$i')" >/dev/null; done
  admin_both "  a 6th registry of group $g is refused alike (23514)" 23514 "SELECT API.create_registry($g, 'sixth')"
  same "  group $g's rows on shard $sh equal the single server's" \
    "$(group_state_sql "$g" | sq s0 single)" "$(group_state_sql "$g" | sq s0 single)" "$(group_state_sql "$g" | sq "s$sh" vreg)"
done

# 8. the reference service's calls (test/e2e/registry-service) through the
#    router: each goes to the shard that owns the group and returns what that
#    shard's own function returns. The direct call runs first, on the owning
#    shard, in a transaction that is rolled back; then the router's call.
if [ "$has_request_path" != t ] || [ "$(sq s0 vreg -c "SELECT to_regproc('containers_vreg.store_cache_entry') IS NOT NULL")" != t ]; then
  skip "request path not installed: the service's calls through the router"
else
  declare -A OWN MIRROR REG ENTRY
  SHA1="'\\x6b1d1b3a7f3e0b52ad1b4e6d4d0a2b8f3c9e1a77'::bytea"
  DIGEST="sha256:$(printf '%064d' 7)"
  for g in 1 2; do
    OWN[$g]=s$(sq s0 vreg -c "SELECT containers_vreg.cache_entry_shard($g, $SHARDS)")
    MIRROR[$g]=$(routed "SELECT mirror_id FROM vreg_trace.groups WHERE group_id = $g")
    REG[$g]=$(routed "SELECT registry_id FROM vreg_trace.groups WHERE group_id = $g")
  done
  [ "${OWN[1]}" != "${OWN[2]}" ] || nok "groups 1 and 2 are on different shards"
  uuid="regexp_replace(%s, '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\$', '<uuid>')"
  for g in 1 2; do
    s=${OWN[$g]} m=${MIRROR[$g]} P="e2e/rt$g/manifests/latest"
    other=s$((1 - ${s#s}))
    prefix=$(sq "$s" vreg -c "SELECT containers_vreg.object_storage_prefix($g)")
    call="containers_vreg.begin_fetch($g, $m, '$P')"
    same "begin_fetch, group $g (shard ${s#s}): a key under the group's prefix, from the owning shard" \
      "${prefix}upstreams/$m/<uuid>" \
      "$(direct "$s" "SELECT $(printf "$uuid" "$call")")" \
      "$(routed "SELECT $(printf "$uuid" "${call/containers_vreg./vreg_router.}")")"
    same "  the lease is on shard ${s#s} only; a second begin_fetch gets NULL, directly and through the router" \
      "1 0|" \
      "$(sq "$s" vreg -c "SELECT count(*) FROM containers_vreg.fetch_leases WHERE group_id = $g") $(sq "$other" vreg -c "SELECT count(*) FROM containers_vreg.fetch_leases WHERE group_id = $g")|$(direct "$s" "SELECT $call")" \
      "1 0|$(routed "SELECT ${call/containers_vreg./vreg_router.}")"
    call="containers_vreg.release_fetch($g, $m, '$P')"
    same "release_fetch, group $g: true while the lease is held" t "$(direct "$s" "SELECT $call")" "$(routed "SELECT ${call/containers_vreg./vreg_router.}")"
    same "  then false (it is given back on shard ${s#s})" f "$(direct "$s" "SELECT $call")" "$(routed "SELECT ${call/containers_vreg./vreg_router.}")"
    key=$(routed "SELECT vreg_router.begin_fetch($g, $m, '$P')")
    call="containers_vreg.renew_fetch($g, $m, '$P', '$key', '1 minute')"
    same "renew_fetch, group $g: true for the holder's key, on the owning shard" t "$(direct "$s" "SELECT $call")" "$(routed "SELECT ${call/containers_vreg./vreg_router.}")"
    call="containers_vreg.store_cache_entry($g, $m, '$P', '$key', 419, $SHA1, 'application/vnd.oci.image.manifest.v1+json', '$DIGEST')"
    cols="relative_path, object_storage_key, size, content_type, digest, status"
    same "store_cache_entry, group $g: the live row stored under the key" \
      "/$P|$key|419|application/vnd.oci.image.manifest.v1+json|$DIGEST|0" \
      "$(direct "$s" "SELECT concat_ws('|', $cols) FROM $call")" \
      "$(routed "SELECT concat_ws('|', $cols) FROM ${call/containers_vreg./vreg_router.}")"
    ENTRY[$g]=$(sq "$s" vreg -c "SELECT id FROM containers_vreg.cache_entries WHERE group_id = $g AND relative_path = '/$P'")
    call="containers_vreg.unreferenced_objects($g, ARRAY['$key', '${prefix}left-by-a-crash'])"
    same "unreferenced_objects, group $g: the stored key is named on shard ${s#s}, the other one is not" \
      "${prefix}left-by-a-crash" "$(direct "$s" "SELECT $call")" "$(routed "SELECT ${call/containers_vreg./vreg_router.}")"
    same "  the row is shard ${s#s}'s (one download counted there); resolve through the router: a hit at position 2" \
      "1 0 1|hit|${ENTRY[$g]}|2" \
      "$(sq "$s" vreg -c "SELECT count(*) FROM containers_vreg.cache_entries WHERE group_id = $g AND relative_path = '/$P'") $(sq "$other" vreg -c "SELECT count(*) FROM containers_vreg.cache_entries WHERE group_id = $g") $(sq "$s" vreg -c "SELECT count(*) FROM containers_vreg.download_buffer WHERE group_id = $g AND entry_id = ${ENTRY[$g]}")|$(sq "$s" vreg -c "SELECT concat_ws('|', result, entry_id, position) FROM containers_vreg.resolve($g, ${REG[$g]}, '$P')")" \
      "1 0 1|$(routed "SELECT concat_ws('|', result, entry_id, position) FROM vreg_router.resolve($g, ${REG[$g]}, '$P')")"
  done

  # the worker: flush on every shard, claim from every shard, end on the owner
  n0=$(direct s0 "SELECT containers_vreg.flush_downloads()"); n1=$(direct s1 "SELECT containers_vreg.flush_downloads()")
  same "flush_downloads: the sum of every shard's count ($n0 + $n1, both > 0)" \
    "$((n0 + n1))" "$([ "$n0" -gt 0 ] && [ "$n1" -gt 0 ] && echo $((n0 + n1)))" "$(routed "SELECT vreg_router.flush_downloads()")"
  is "  and every shard's download buffer is empty" "0 0" \
    "$(sq s0 vreg -c "SELECT count(*) FROM containers_vreg.download_buffer") $(sq s1 vreg -c "SELECT count(*) FROM containers_vreg.download_buffer")"
  for g in 1 2; do sq "${OWN[$g]}" vreg -c "SELECT containers_vreg.mark_for_destruction($g, ${ENTRY[$g]})" >/dev/null; done
  claim="SELECT concat_ws('|', group_id, entry_id, object_storage_key) FROM %s.claim_for_destruction(100, '5 minutes')"
  same "claim_for_destruction: the pending entry of group 1 and of group 2, each from its shard" \
    "$(printf '%s\n' "1|${ENTRY[1]}|$(sq "${OWN[1]}" vreg -c "SELECT object_storage_key FROM containers_vreg.cache_entries WHERE group_id = 1 AND id = ${ENTRY[1]}")" "2|${ENTRY[2]}|$(sq "${OWN[2]}" vreg -c "SELECT object_storage_key FROM containers_vreg.cache_entries WHERE group_id = 2 AND id = ${ENTRY[2]}")" | sort)" \
    "$({ direct s0 "$(printf "$claim" containers_vreg)"; direct s1 "$(printf "$claim" containers_vreg)"; } | sort)" \
    "$(routed "$(printf "$claim" vreg_router)" | sort)"
  same "fail_destruction (group 1) and finish_destruction (group 2): true" "t t" \
    "$(sq "${OWN[1]}" vreg -c "BEGIN" -c "SELECT containers_vreg.fail_destruction(1, ${ENTRY[1]})" -c "ROLLBACK") $(direct "${OWN[2]}" "SELECT containers_vreg.finish_destruction(2, ${ENTRY[2]})")" \
    "$(routed "SELECT vreg_router.fail_destruction(1, ${ENTRY[1]})") $(routed "SELECT vreg_router.finish_destruction(2, ${ENTRY[2]})")"
  is "  on the owning shards: group 1's entry in error (status 3), group 2's deleted" "3 0" \
    "$(sq "${OWN[1]}" vreg -c "SELECT status FROM containers_vreg.cache_entries WHERE group_id = 1 AND id = ${ENTRY[1]}") $(sq "${OWN[2]}" vreg -c "SELECT count(*) FROM containers_vreg.cache_entries WHERE group_id = 2 AND id = ${ENTRY[2]}")"
  for g in 1 2; do routed "SELECT vreg_router.begin_fetch($g, ${MIRROR[$g]}, 'e2e/expired/manifests/latest', NULL, '1 millisecond')" >/dev/null; done
  sleep 0.2
  same "prune_fetch_leases: the expired lease of each shard, summed" 2 \
    "$(( $(direct s0 "SELECT containers_vreg.prune_fetch_leases()") + $(direct s1 "SELECT containers_vreg.prune_fetch_leases()") ))" \
    "$(routed "SELECT vreg_router.prune_fetch_leases()")"
fi

# 9. the reference service itself, its database the router (--schema
#    vreg_router: the same calls, in the router's schema): real pulls from a
#    docker-registry upstream on loopback, for a group on each shard.
tools=yes
for tool in docker-registry skopeo curl; do command -v "$tool" >/dev/null 2>&1 || tools="no $tool"; done
/usr/bin/python3 -c 'import psycopg' 2>/dev/null || tools="no python3-psycopg"
if [ "$has_request_path" != t ] || [ "$(sq s0 vreg -c "SELECT to_regproc('containers_vreg.store_cache_entry') IS NOT NULL")" != t ]; then
  skip "request path not installed: the registry service on the router"
elif [ "$tools" != yes ]; then
  skip "the registry service on the router: $tools (make deps)"
else
  E2E=$BASE/e2e
  rm -rf "$E2E"; mkdir -p "$E2E"
  . test/e2e/lib.sh
  # upstreams on loopback: the shards check the url, the service reads the router's setting
  for db in "s0 vreg" "s1 vreg" "router router"; do
    set -- $db
    sq "$1" "$2" -c "LOAD 'containers_vreg'" -c "ALTER DATABASE $2 SET containers_vreg.allow_local_upstreams = on" || nok "allow_local_upstreams on $2"
  done
  UP=$(e2e_free_port); E2E_SERVICE_PORT=$(e2e_free_port)
  /usr/bin/python3 test/e2e/make-images "$E2E/oci" --big-mib 1 >/dev/null
  if ! e2e_registry_start up "$UP" || ! e2e_push "$UP" base-a e2e/app:latest; then
    nok "an upstream registry with e2e/app:latest"
  else
    # one group on each shard
    declare -A SG
    for g in $(seq 100 140); do
      sh=$(sq s0 vreg -c "SELECT containers_vreg.cache_entry_shard($g, $SHARDS)")
      [ -z "${SG[$sh]:-}" ] && SG[$sh]=$g
    done
    declare -A SREG
    for sh in 0 1; do
      g=${SG[$sh]}
      SREG[$g]=$(routed "SELECT vreg_router.create_registry($g, 'e2e')")
      u=$(routed "SELECT vreg_router.create_upstream($g, 'http://127.0.0.1:$UP', 'local')")
      routed "SELECT vreg_router.attach_upstream($g, ${SREG[$g]}, $u)" >/dev/null
    done
    if ! e2e_service_start --db "host=127.0.0.1 port=${PORT[router]} dbname=router user=postgres" --schema vreg_router; then
      nok "registry-service on the router starts"; tail -20 "$E2E/service.log"
    else
      SVC=127.0.0.1:$E2E_SERVICE_PORT
      rm -rf "$E2E/direct"; timeout 120 skopeo copy -q --src-tls-verify=false "docker://127.0.0.1:$UP/e2e/app:latest" "dir:$E2E/direct"
      for sh in 0 1; do
        g=${SG[$sh]} r=${SREG[${SG[$sh]}]}
        got=""
        for pass in cold warm; do
          m=$(e2e_mark up)
          rm -rf "$E2E/$g-$pass"
          out=$(timeout 120 skopeo copy -q --src-tls-verify=false "docker://$SVC/virtual_registries/container/$g/$r/e2e/app:latest" "dir:$E2E/$g-$pass" 2>&1)
          got+="$pass: $(diff -r "$E2E/direct" "$E2E/$g-$pass" >/dev/null 2>&1 && echo same || echo "differs $out"), $(e2e_requests_since up "$m") upstream requests; "
        done
        # base-a: manifest, config and two layers
        is "registry-service on the router, group $g (shard $sh): a cold pull equal to a direct copy (4 upstream requests), a warm one (none)" \
          "cold: same, 4 upstream requests; warm: same, 0 upstream requests; " "$got"
        for _ in $(seq 1 50); do
          [ "$(sq "s$sh" vreg -c "SELECT coalesce(sum(downloads_count), 0) FROM containers_vreg.cache_entries WHERE group_id = $g")" = 8 ] && break
          sleep 0.1
        done
        is "  its 4 entries are on shard $sh only, and the service's worker (flush_downloads through the router) counted 8 downloads" \
          "4 0 8" \
          "$(sq "s$sh" vreg -c "SELECT count(*) FROM containers_vreg.cache_entries WHERE group_id = $g AND status = 0") $(sq "s$((1 - sh))" vreg -c "SELECT count(*) FROM containers_vreg.cache_entries WHERE group_id = $g") $(sq "s$sh" vreg -c "SELECT sum(downloads_count) FROM containers_vreg.cache_entries WHERE group_id = $g")"
      done
    fi
  fi
  e2e_stop_all
fi

exit $fail
