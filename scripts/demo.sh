#!/usr/bin/env bash
# `make demo`: real image pulls through the reference registry service
# (test/e2e/registry-service) on containers_vreg, in front of two upstream
# registries (Debian's docker-registry) on loopback, with images built offline
# (test/e2e/make-images) and pushed and pulled with skopeo. For each pull it
# prints what came from where (a cache hit, or fetched from the upstream at
# position N) and how many requests reached the upstreams (their access logs).
#
#   scripts/demo.sh              as root: `make install` into the system
#                                PostgreSQL 15 tree (otherwise into a private
#                                copy under .pgtmp/demo); then everything runs
#                                in a temporary directory under ${TMPDIR:-/tmp}
#                                and is stopped and removed at the end
#   scripts/demo.sh --installed  use the PostgreSQL of PGC_BINDIR as it is
#                                (make test: the extension is installed there)
#   scripts/demo.sh --trace FILE ...   the trace replay: scripts/demo_trace.sh
#
# Needs docker-registry, skopeo, curl and /usr/bin/python3 with psycopg
# (`make demo` installs them with scripts/deps.sh). Every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$(pwd)
INSTALL=1
case "${1:-}" in
  --trace|--no-cluster) exec bash scripts/demo_trace.sh "$@" ;;
  --installed) INSTALL=0 ;;
  "") ;;
  *) echo "usage: $0 [--installed] | --trace FILE [...]" >&2; exit 2 ;;
esac

for tool in docker-registry skopeo curl; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "demo: $tool is not installed; as root, make demo installs it (Debian package: $tool)" >&2; exit 1; }
done
/usr/bin/python3 -c 'import psycopg' 2>/dev/null || {
  echo "demo: /usr/bin/python3 cannot import psycopg; as root, make demo installs it (Debian package: python3-psycopg)" >&2; exit 1; }

. scripts/pgcluster.sh
[ "$INSTALL" -eq 0 ] || pgc_demo_install
# one directory for the cluster, the upstreams, the objects and the pulls
E2E=$(pgc_demo_dir)
. test/e2e/lib.sh
cleanup() { set +e; e2e_stop_all; pgc_stop; rm -rf "$E2E"; }
trap cleanup EXIT

GROUP=42 REGISTRY=1
pgc_init "$E2E/pg" >/dev/null
pgc_conf "containers_vreg.allow_local_upstreams = on"    # the upstreams are on loopback
pgc_startonly
echo "== throwaway PostgreSQL $("$PGC_BINDIR/postgres" --version | awk '{print $3}') on port $PGPORT (socket in $PGHOST)"
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
PSQL=("$PGC_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -d vreg)
sql() { "${PSQL[@]}" -c "$1"; }
"$PGC_BINDIR/psql" -X -q -d postgres -c "CREATE DATABASE vreg"
sql "CREATE EXTENSION containers_vreg"
# the README's roles, and one login per role for the service
sql "$(sed -n '/<!-- grants:begin -->/,/<!-- grants:end -->/p' README.md | sed '/^```/d;/^<!--/d')" >/dev/null
sql "CREATE ROLE demo_request LOGIN IN ROLE vreg_request;
     CREATE ROLE demo_fetcher LOGIN IN ROLE vreg_fetcher;
     CREATE ROLE demo_worker LOGIN IN ROLE vreg_worker;"
conn() { echo "host=$PGHOST port=$PGPORT dbname=vreg user=$1"; }

echo "== two upstream registries (docker-registry on loopback), images built offline and pushed with skopeo"
P1=$(e2e_free_port); P2=$(e2e_free_port); E2E_SERVICE_PORT=$(e2e_free_port)
/usr/bin/python3 test/e2e/make-images "$E2E/oci" --big-mib 1
e2e_registry_start up1 "$P1" || { echo "demo: the upstream registry did not start" >&2; tail -5 "$E2E/up1/access.log" >&2; exit 1; }
e2e_registry_start up2 "$P2" || { echo "demo: the upstream registry did not start" >&2; tail -5 "$E2E/up2/access.log" >&2; exit 1; }
e2e_push "$P1" base-a demo/app:latest
e2e_push "$P1" base-b demo/tool:latest
e2e_push "$P2" only2 demo/extra:latest
sql "INSERT INTO containers_vreg.registries (group_id, id, name) VALUES ($GROUP, $REGISTRY, 'demo');
     INSERT INTO containers_vreg.upstreams (group_id, id, url, name, cache_validity_hours) VALUES
       ($GROUP, 11, 'http://127.0.0.1:$P1', 'first', 24),
       ($GROUP, 12, 'http://127.0.0.1:$P2', 'second', 24);
     SELECT containers_vreg.attach_upstream($GROUP, $REGISTRY, 11), containers_vreg.attach_upstream($GROUP, $REGISTRY, 12);" >/dev/null
echo "   group $GROUP, registry $REGISTRY; upstreams in position order (cache validity 24 hours):"
echo "   position 1: upstream 11, http://127.0.0.1:$P1  has demo/app:latest, demo/tool:latest (same base layer)"
echo "   position 2: upstream 12, http://127.0.0.1:$P2  has demo/extra:latest"

e2e_service_start --db "$(conn demo_request)" --fetcher-db "$(conn demo_fetcher)" --worker-db "$(conn demo_worker)" \
  || { echo "demo: the registry service did not start" >&2; tail -20 "$E2E/service.log" >&2; exit 1; }
SVC="127.0.0.1:$E2E_SERVICE_PORT"
VR="virtual_registries/container/$GROUP/$REGISTRY"
echo "== test/e2e/registry-service on $SVC (database roles demo_request, demo_fetcher, demo_worker)"

# image NAME-EXPR: the SQL for the image name of a relative path (/NAME/blobs/...)
image() { echo "regexp_replace($1, '^/(.*)/(blobs|manifests)/.*\$', '\\1')"; }
# answered NAME MARK: the upstream's GET/HEAD requests since MARK, by method and status
answered() {
  tail -n +"$(($2 + 1))" "$E2E/$1/access.log" | grep -E '"(GET|HEAD) /v2/[^ ]+ HTTP' | grep -vE '"(GET|HEAD) /v2/ HTTP' \
    | awk '{ print substr($6, 2) " answered " $9 }' | sort | uniq -c \
    | awk 'BEGIN { s = "none" } { s = (NR == 1 ? "" : s ", ") $1 " " $2 " " $3 " " $4 } END { print s }'
}
pulls=0
pull() {  # IMAGE TITLE
  local img=$1 title=$2 s_mark m1 m2 since paths list r1 r2 digest out
  pulls=$((pulls + 1))
  echo
  echo "-- pull $pulls: $img, $title"
  echo "   \$ skopeo copy docker://$SVC/$VR/$img dir:..."
  s_mark=$(wc -l < "$E2E/service.log"); m1=$(e2e_mark up1); m2=$(e2e_mark up2)
  since=$(sql "SELECT clock_timestamp()")
  rm -rf "$E2E/pull"
  if ! out=$(timeout 120 skopeo copy -q --src-tls-verify=false "docker://$SVC/$VR/$img" "dir:$E2E/pull" 2>&1); then
    echo "demo: the pull failed: $out" >&2; tail -20 "$E2E/service.log" >&2; return 1
  fi
  # the paths the service was asked for, in order, once each
  paths=$(tail -n +"$((s_mark + 1))" "$E2E/service.log" | sed -nE "s#.*\"GET /v2/$VR/([^ ]+) HTTP/1\.1\" 200 .*#\1#p" | awk '!seen[$0]++')
  list=$(sed "s/'/''/g; s/.*/'&'/" <<<"$paths" | paste -sd,)
  sql "SELECT format('   %-44s %s', regexp_replace(p.path, '(sha256:[0-9a-f]{12})[0-9a-f]+', '\\1...'), CASE
          WHEN e.created_at >= '$since' THEN 'fetched from the upstream at position ' || r.position
          WHEN e.upstream_checked_at >= '$since' THEN 'revalidated with the upstream at position ' || r.position || ' (unchanged), served from the cache'
          ELSE 'cache hit (fetched earlier from position ' || r.position || ')'
               || CASE WHEN $(image e.relative_path) <> $(image "'/' || p.path")
                       THEN ', the same digest cached for ' || $(image e.relative_path) ELSE '' END
        END)
         FROM unnest(ARRAY[$list]) WITH ORDINALITY p(path, n)
         CROSS JOIN LATERAL containers_vreg.resolve($GROUP, $REGISTRY, p.path) r
         LEFT JOIN containers_vreg.cache_entries e ON e.group_id = $GROUP AND e.id = r.entry_id
        ORDER BY p.n"
  r1=$(e2e_requests_since up1 "$m1"); r2=$(e2e_requests_since up2 "$m2")
  echo "   requests that reached the upstreams (their access logs): position 1: $(answered up1 "$m1"); position 2: $(answered up2 "$m2")"
  digest=$(sha256sum < "$E2E/pull/manifest.json" | awk '{print "sha256:" $1}')
  sql "SELECT format('   summary: objects %s, cache hits %s, fetched %s, upstream requests %s (position 1: %s, position 2: %s), digest %s',
                     count(*), count(*) FILTER (WHERE e.created_at < '$since'), count(*) FILTER (WHERE e.created_at >= '$since'),
                     $r1 + $r2, $r1, $r2, '$digest')
         FROM unnest(ARRAY[$list]) p(path)
         CROSS JOIN LATERAL containers_vreg.resolve($GROUP, $REGISTRY, p.path) r
         LEFT JOIN containers_vreg.cache_entries e ON e.group_id = $GROUP AND e.id = r.entry_id"
}

pull demo/app:latest "cold cache"
pull demo/tool:latest "cold, but its base layer is demo/app's"
pull demo/extra:latest "cold, only the upstream at position 2 has it"
pull demo/app:latest "warm cache"
echo
echo "== the tag demo/app:latest is re-pushed upstream with a new image"
e2e_push "$P1" retag-v2 demo/app:latest
pull demo/app:latest "after the re-push; its tag was checked less than 24 hours ago"
sql "UPDATE containers_vreg.upstreams SET cache_validity_hours = 0 WHERE group_id = $GROUP AND id = 11"
echo
echo "== cache validity of upstream 11 set to 0: every pull of a tag asks the upstream whether it changed"
pull demo/app:latest "after the re-push, validity 0"

# the replaced manifest's object goes through the destruction queue
for _ in $(seq 1 50); do
  [ "$(sql "SELECT count(*) FROM containers_vreg.cache_entries WHERE group_id = $GROUP AND status <> 0")" = 0 ] && break
  sleep 0.2
done
echo
echo "-- the cache now"
"$PGC_BINDIR/psql" -X -q -d vreg -c "
  SELECT ru.position, regexp_replace(e.relative_path, '(sha256:[0-9a-f]{12})[0-9a-f]+', '\\1...') AS relative_path,
         e.size, e.downloads_count AS downloads
    FROM containers_vreg.cache_entries e
    JOIN containers_vreg.registry_upstreams ru
      ON ru.group_id = e.group_id AND ru.upstream_id = e.upstream_id AND ru.registry_id = $REGISTRY
   WHERE e.group_id = $GROUP AND e.status = 0 ORDER BY ru.position, e.id"
objects=$(cd "$E2E/objects" && find . -path ./.tmp -prune -o -type f -print | wc -l)
echo "live entries: $(sql "SELECT count(*) FROM containers_vreg.cache_entries WHERE group_id = $GROUP AND status = 0"), objects in storage: $objects (the replaced manifest's object was deleted by the service's worker)"
echo
echo "Everything is stopped and removed now. The trace replay: make demo TRACE=<file> (or make demo-trace)"
