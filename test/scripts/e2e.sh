#!/usr/bin/env bash
# End to end: real pulls through the reference registry service
# (test/e2e/registry-service) in front of real upstream registries (Debian's
# docker-registry on loopback: one anonymous, one with htpasswd basic auth,
# one with bearer token auth by test/e2e/token-server),
# with images built offline (test/e2e/make-images) and pushed and pulled with
# skopeo. Every check asserts exact values (digests, bytes, request counts in
# the upstreams' access logs). Own PostgreSQL cluster (and a streaming
# replica); every wait is bounded; a missing tool skips the whole file.
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$TOP"
n=0 fails=0
ok()     { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/#   /' <<<"$2" | head -30; }
check()  { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "expected: $3
got:      $2"; fi; }

for tool in docker-registry skopeo htpasswd curl pg_basebackup; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "${PGC_BINDIR:-/nonexistent}/$tool" ] \
    || { echo "ok 1 - end-to-end pulls # SKIP $tool is not installed (make deps)"; exit 0; }
done
/usr/bin/python3 -c 'import psycopg' 2>/dev/null \
  || { echo "ok 1 - end-to-end pulls # SKIP python3-psycopg is not installed (make deps)"; exit 0; }

. scripts/pgcluster.sh
[ -n "${PGC_BINDIR:-}" ] && [ -x "$PGC_BINDIR/pg_ctl" ] || { pgc_private_tree "$TOP/.pgtmp" && make -s install PG_CONFIG="$PGC_PG_CONFIG" >/dev/null; }
E2E="$TOP/.pgtmp/e2e"
rm -rf "$E2E"; mkdir -p "$E2E/pull" "$E2E/direct" "$E2E/objects"
. test/e2e/lib.sh
start=$SECONDS
REPLICA_DIR=
cleanup() {
  e2e_stop_all
  if [ -n "$REPLICA_DIR" ] && [ -f "$REPLICA_DIR/postmaster.pid" ]; then
    pgc_as_owner "$PGC_BINDIR/pg_ctl" -D "$REPLICA_DIR" -m immediate -w stop >/dev/null 2>&1
  fi
  pgc_stop
}
trap cleanup EXIT
# a test that goes wrong must not hang: the whole file has 8 minutes
( trap 'exit 0' TERM; for _ in $(seq 1 480); do sleep 1; done
  echo "not ok - e2e took more than 8 minutes: stopped"; kill -TERM $$ ) & WATCHDOG=$!
E2E_PIDS+=($WATCHDOG)

# -- the database: own cluster, keyring, local upstreams allowed --------------
pgc_init "$E2E/pg" >/dev/null || { not_ok "cluster starts"; exit 1; }
for f in test/cluster.conf.d/*.sh; do . "$f"; done
pgc_conf "containers_vreg.allow_local_upstreams = on"
pgc_startonly || { not_ok "cluster starts"; exit 1; }
chmod 755 "$E2E"
PSQL=("$PGC_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -d vreg)
"$PGC_BINDIR/psql" -X -q -d postgres -c "CREATE DATABASE vreg" || exit 1
"${PSQL[@]}" -c "CREATE EXTENSION containers_vreg" || exit 1
grants=$(sed -n '/<!-- grants:begin -->/,/<!-- grants:end -->/p' README.md | sed '/^```/d;/^<!--/d')
"${PSQL[@]}" -c "$grants" >/dev/null || { not_ok "the README's grants run"; exit 1; }
"${PSQL[@]}" >/dev/null <<'SQL' || exit 1
CREATE ROLE e2e_request LOGIN IN ROLE vreg_request;
CREATE ROLE e2e_fetcher LOGIN IN ROLE vreg_fetcher;
CREATE ROLE e2e_worker LOGIN IN ROLE vreg_worker;
SQL
conn() { echo "host=$PGHOST port=$PGPORT dbname=vreg user=$1"; }
sql() { "${PSQL[@]}" -c "$1"; }

# -- upstreams and images -------------------------------------------------------
P1=$(e2e_free_port); P2=$(e2e_free_port); P3=$(e2e_free_port)
E2E_SERVICE_PORT=$(e2e_free_port)
/usr/bin/python3 test/e2e/make-images "$E2E/oci" --big-mib 64 || { not_ok "images build"; exit 1; }
e2e_registry_start up1 "$P1" && e2e_registry_start up2 "$P2" alice:s3cret && e2e_registry_start up3 "$P3" \
  || { not_ok "upstream registries start" "$(tail -5 "$E2E"/up*/access.log)"; exit 1; }
C2=(--dest-creds alice:s3cret)
{ e2e_push "$P1" multi e2e/multi:latest --all &&
  e2e_push "$P1" base-a e2e/base-a:latest && e2e_push "$P1" base-b e2e/base-b:latest &&
  e2e_push "$P1" docker e2e/docker:latest --format v2s2 &&
  e2e_push "$P1" big e2e/big:latest &&
  e2e_push "$P1" retag-v1 e2e/retag:latest && e2e_push "$P1" corrupt e2e/corrupt:latest &&
  e2e_push "$P1" base-a e2e/both:latest && e2e_push "$P2" base-b e2e/both:latest "${C2[@]}" &&
  e2e_push "$P2" only2 e2e/only2:latest "${C2[@]}" && e2e_push "$P2" retag-v1 e2e/retag0:latest "${C2[@]}" &&
  e2e_push "$P3" only3 e2e/only2:latest; } || { not_ok "images pushed with skopeo"; exit 1; }
ok "images built offline and pushed with skopeo to three loopback registries ($((SECONDS - start)) s)"

# a fourth registry with bearer token auth: the token server issues RS256
# tokens (x5c: its self-signed certificate, the registry's rootcertbundle);
# tokens live 15 s, so the service's reuse and renewal are both seen
TOKEN=yes
/usr/bin/python3 -c 'import jwt, cryptography' 2>/dev/null || TOKEN=
if [ -n "$TOKEN" ]; then
  P4=$(e2e_free_port); PT=$(e2e_free_port)
  C4=(--dest-creds bob:t0ken)
  { e2e_token_server_start "$PT" bob:t0ken 15 && e2e_registry_start up4 "$P4" "token=$PT"; } \
    || { not_ok "the token server and the token-auth registry start" "$(tail -5 "$E2E/token/server.log" "$E2E/up4/access.log")"; exit 1; }
  { e2e_push "$P4" base-a e2e/tok:latest "${C4[@]}" && e2e_push "$P4" base-b e2e/tok:other "${C4[@]}" &&
    e2e_push "$P4" docker e2e/tok:third --format v2s2 "${C4[@]}" && e2e_push "$P4" only2 e2e/tokwrong:latest "${C4[@]}"; } \
    || { not_ok "images pushed with skopeo to the token-auth registry"; exit 1; }
  ok "token server and a registry with bearer token auth; images pushed through a token"
fi

sql "INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (42, 1, 'e2e');
     INSERT INTO containers_vreg.upstreams (group_id, id, url, name, cache_validity_hours, credentials) VALUES
       (42, 11, 'http://127.0.0.1:$P1', 'anonymous', 24, NULL),
       (42, 12, 'http://127.0.0.1:$P2', 'basic', 0, '{\"username\": \"alice\", \"password\": \"s3cret\"}');
     SELECT containers_vreg.attach_upstream(42, 1, 11), containers_vreg.attach_upstream(42, 1, 12);" >/dev/null \
  || { not_ok "group 42: registry 1 with upstreams at positions 1 and 2"; exit 1; }

e2e_service_start --db "$(conn e2e_request)" --fetcher-db "$(conn e2e_fetcher)" --worker-db "$(conn e2e_worker)" \
  || { not_ok "the service starts" "$(tail -20 "$E2E/service.log")"; exit 1; }
ok "registry-service listens on 127.0.0.1:$E2E_SERVICE_PORT (request, fetcher and worker roles)"

SVC="127.0.0.1:$E2E_SERVICE_PORT"
VR="virtual_registries/container/42/1"
pull() {  # IMAGE DIR [skopeo options]: through the service
  local img=$1 dir=$2; shift 2
  rm -rf "$dir"; timeout 120 skopeo copy -q --src-tls-verify=false "$@" "docker://$SVC/$VR/$img" "dir:$dir" 2>&1
}
direct() {  # PORT IMAGE DIR [options]: straight from an upstream
  local port=$1 img=$2 dir=$3; shift 3
  rm -rf "$dir"; timeout 120 skopeo copy -q --src-tls-verify=false "$@" "docker://127.0.0.1:$port/$img" "dir:$dir" 2>&1
}
same_dirs() { diff -r "$1" "$2" >/dev/null 2>&1 && echo same || echo "differ: $(diff -rq "$1" "$2" 2>&1 | head -3)"; }
M1=$(e2e_mark up1); M2=$(e2e_mark up2)

# -- 8 concurrent cold pulls of one image (one 64 MiB layer) ---------------------
pulls=()
for i in 1 2 3 4 5 6 7 8; do pull e2e/big:latest "$E2E/pull/big$i" >"$E2E/pull/big$i.log" 2>&1 & pulls+=($!); done
for j in "${pulls[@]}"; do wait "$j"; done
per_path=$(tail -n +"$((M1 + 1))" "$E2E/up1/access.log" | grep -E '"GET /v2/e2e/big/' | sed -E 's/.*"GET ([^ ]+) .*/\1/' | sort | uniq -c | awk '{print $1}' | sort -u | tr '\n' ' ')
n_paths=$(tail -n +"$((M1 + 1))" "$E2E/up1/access.log" | grep -E '"GET /v2/e2e/big/' | sed -E 's/.*"GET ([^ ]+) .*/\1/' | sort -u | wc -l)
direct "$P1" e2e/big:latest "$E2E/direct/big" >/dev/null
all_same=same
for i in 1 2 3 4 5 6 7 8; do r=$(same_dirs "$E2E/pull/big$i" "$E2E/direct/big"); [ "$r" = same ] || all_same="pull $i: $r $(cat "$E2E/pull/big$i.log")"; done
check "8 concurrent cold pulls of e2e/big: all 8 equal a direct copy (digests and bytes)" "$all_same" same
big_layer=$(ls -S "$E2E/direct/big" | head -1)
check "its largest layer is at least 64 MiB" "$([ "$(stat -c %s "$E2E/direct/big/$big_layer")" -ge $((64 * 1024 * 1024)) ] && echo yes)" yes
check "8 concurrent cold pulls: each of the $n_paths manifests and blobs fetched from the upstream exactly once" "$per_path" "1 "

# -- cold pulls of every image: equal to a direct copy ---------------------------
base_layer=$(/usr/bin/python3 - "$E2E/oci" <<'PY'
import json, sys
root = sys.argv[1]
idx = json.load(open(root + "/index.json"))
d = [m for m in idx["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == "base-a"][0]
m = json.load(open(root + "/blobs/sha256/" + d["digest"][7:]))
print(m["layers"][0]["digest"])
PY
)
M1=$(e2e_mark up1)
declare -A cold
for img in multi base-a base-b docker; do
  cold[$img]=$(pull "e2e/$img:latest" "$E2E/pull/$img" $([ $img = multi ] && echo --all))
done
shared=$(tail -n +"$((M1 + 1))" "$E2E/up1/access.log" | grep -cE "\"GET /v2/e2e/base-[ab]/blobs/$base_layer HTTP" || true)
for img in multi base-a base-b docker; do
  direct "$P1" "e2e/$img:latest" "$E2E/direct/$img" $([ $img = multi ] && echo --all) >/dev/null
  check "cold pull of e2e/$img: digests and bytes equal a direct copy from the upstream" \
    "$(same_dirs "$E2E/pull/$img" "$E2E/direct/$img")${cold[$img]}" same
done
index_files=$(ls "$E2E/pull/multi" | grep -c 'manifest.json')
check "the multi-platform OCI index came with both platform manifests" "$index_files" 3

check "the base layer shared by e2e/base-a and e2e/base-b was fetched from the upstream once" "$shared" 1

# manifests: upstream's media type and digest, HEAD and GET agree
hdrs() { grep -iE '^(content-type|content-length|docker-content-digest):' | tr -d '\r' | tr 'A-Z' 'a-z' | sort; }
for img in multi docker base-a; do
  up=$(curl -s -I -H "Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json" "http://127.0.0.1:$P1/v2/e2e/$img/manifests/latest" | hdrs)
  head=$(curl -s -I "http://$SVC/v2/$VR/e2e/$img/manifests/latest" | hdrs)
  get=$(curl -s -D - -o /dev/null "http://$SVC/v2/$VR/e2e/$img/manifests/latest" | hdrs)
  check "e2e/$img manifest: Content-Type, Content-Length, Docker-Content-Digest as the upstream's, HEAD = GET" \
    "$head|$get" "$up|$up"
done
check "e2e/docker is served as a Docker schema 2 manifest" \
  "$(curl -s -I "http://$SVC/v2/$VR/e2e/docker/manifests/latest" | grep -i '^content-type' | tr -d '\r')" \
  "Content-Type: application/vnd.docker.distribution.manifest.v2+json"
blob_head=$(curl -s -I "http://$SVC/v2/$VR/e2e/base-a/blobs/$base_layer" | hdrs)
blob_get=$(curl -s -D - -o /dev/null "http://$SVC/v2/$VR/e2e/base-a/blobs/$base_layer" | hdrs)
check "a blob: HEAD and GET give the same headers" "$blob_head" "$blob_get"

# -- warm pulls: nothing reaches the upstreams -----------------------------------
W1=$(e2e_mark up1); W2=$(e2e_mark up2)
warm=""
for img in multi base-a base-b docker big; do
  out=$(pull "e2e/$img:latest" "$E2E/pull/warm-$img" $([ $img = multi ] && echo --all)) || warm+=" $img:$out"
  [ "$(same_dirs "$E2E/pull/warm-$img" "$E2E/direct/$img")" = same ] || warm+=" $img differs"
done
check "warm pulls of all five images equal the direct copies" "$warm" ""
check "warm pulls: no request reached either upstream (access logs)" \
  "$(e2e_requests_since up1 "$W1") $(e2e_requests_since up2 "$W2")" "0 0"

# -- requests the service refuses; database errors give their connection back ------
# each of these fails in the database (P0002 unknown group, 22023 bad path):
# 20 of them, more than the request pool's 8 connections, then a pull
codes=""
for i in $(seq 1 10); do
  codes+="$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://$SVC/v2/virtual_registries/container/12345/1/a/manifests/latest") "
  codes+="$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://$SVC/v2/$VR/e2e/UPPER/manifests/latest") "
done
check "20 requests failing in the database (10 unknown group, 10 bad path) answer 404 and 400" \
  "$(tr ' ' '\n' <<<"$codes" | grep . | sort | uniq -c | awk '{print $2 "x" $1}' | tr '\n' ' ')" "400x10 404x10 "
check "  their bodies: the database's messages" \
  "$(curl -s -m 10 "http://$SVC/v2/virtual_registries/container/12345/1/a/manifests/latest") $(curl -s -m 10 "http://$SVC/v2/$VR/e2e/UPPER/manifests/latest")" \
  '{"errors": [{"code": "NAME_UNKNOWN", "message": "registry 1 of group 12345 does not exist"}]} {"errors": [{"code": "NAME_INVALID", "message": "invalid request path: the repository name must be lowercase"}]}'
docker_digest=$(sql "SELECT digest FROM containers_vreg.cache_entries WHERE group_id = 42 AND relative_path = '/e2e/docker/manifests/latest' AND status = 0")
check "  then a pull still works: the manifest (200, its digest) and a pull with skopeo within 20 s" \
  "$(curl -s -m 10 -D - -o /dev/null "http://$SVC/v2/$VR/e2e/docker/manifests/latest" | grep -iE '^(HTTP|docker-content-digest)' | tr -d '\r' | awk '{print $2}' | tr '\n' ' ')$(rm -rf "$E2E/pull/after-errors"; timeout 20 skopeo copy -q --src-tls-verify=false "docker://$SVC/$VR/e2e/docker:latest" "dir:$E2E/pull/after-errors" 2>&1; same_dirs "$E2E/pull/after-errors" "$E2E/direct/docker")" \
  "200 $docker_digest same"
check "  the service holds at most 16 connections of the request role (its request and read pools, 8 each)" \
  "$([ "$(sql "SELECT count(*) FROM pg_stat_activity WHERE usename = 'e2e_request'")" -le 16 ] && echo "at most 16")" "at most 16"

# ids beyond bigint, percent-encoding and control characters are refused by the service:
# DESCRIPTION|PATH AFTER /v2/|BODY AND STATUS
while IFS='|' read -r what path want; do
  check "$what" "$(curl -s -m 10 -w ' %{http_code}' "http://$SVC/v2/$path")" "$want"
done <<'CASES'
a group id beyond 64 bits: 404 NAME_UNKNOWN naming it|virtual_registries/container/99999999999999999999/1/e2e/docker/manifests/latest|{"errors": [{"code": "NAME_UNKNOWN", "message": "no such group: the group id 99999999999999999999 is not a 64-bit integer"}]} 404
a registry id of 2^63: 404 NAME_UNKNOWN naming it|virtual_registries/container/42/9223372036854775808/e2e/docker/manifests/latest|{"errors": [{"code": "NAME_UNKNOWN", "message": "no such registry: the registry id 9223372036854775808 is not a 64-bit integer"}]} 404
a registry id of 2^63 - 1 reaches the database: 404 NAME_UNKNOWN|virtual_registries/container/42/9223372036854775807/e2e/docker/manifests/latest|{"errors": [{"code": "NAME_UNKNOWN", "message": "registry 9223372036854775807 of group 42 does not exist"}]} 404
a percent-encoded name: 400 NAME_INVALID|virtual_registries/container/42/1/e2e%2Fdocker/manifests/latest|{"errors": [{"code": "NAME_INVALID", "message": "the request path must be printable ASCII without percent-encoding (OCI names and references never need a '%' or a control character)"}]} 400
a percent-encoded reference: 400 NAME_INVALID|virtual_registries/container/42/1/e2e/docker/manifests/lat%65st|{"errors": [{"code": "NAME_INVALID", "message": "the request path must be printable ASCII without percent-encoding (OCI names and references never need a '%' or a control character)"}]} 400
an encoded '/' that would change the route: 400 NAME_INVALID, not 404|virtual_registries/container/42/1/e2e%2Fmanifests/latest|{"errors": [{"code": "NAME_INVALID", "message": "the request path must be printable ASCII without percent-encoding (OCI names and references never need a '%' or a control character)"}]} 400
CASES

# an upstream whose Content-Type would inject a header (folded onto a second line)
PF=$(e2e_free_port)
cat > "$E2E/evil-upstream.py" <<'PY'
import hashlib, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
BODY = b'{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json", "config": {}, "layers": []}'
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path != "/v2/e2e/evil/manifests/latest":
            body = b"{}" if self.path == "/v2/" else b"not found"
            self.send_response(200 if self.path == "/v2/" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.wfile.write(b"HTTP/1.1 200 OK\r\n"
                         b"Content-Type: application/vnd.oci.image.manifest.v1+json\r\n X-Evil: injected\r\n"
                         b"Docker-Content-Digest: sha256:" + hashlib.sha256(BODY).hexdigest().encode() + b"\r\n"
                         b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)
    def log_message(self, *args):
        pass
HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
"$PY" "$E2E/evil-upstream.py" "$PF" & E2E_PIDS+=($!)
e2e_wait_http "http://127.0.0.1:$PF/v2/" 30 || not_ok "the fake upstream starts"
sql "INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (42, 3, 'e2e-evil');
     INSERT INTO containers_vreg.upstreams (group_id, id, url, name, cache_validity_hours, credentials) VALUES
       (42, 14, 'http://127.0.0.1:$PF', 'evil', 24, NULL);
     SELECT containers_vreg.attach_upstream(42, 3, 14);" >/dev/null || not_ok "group 42: registry 3 with the fake upstream"
resp=$(curl -s -m 10 -D - "http://$SVC/v2/virtual_registries/container/42/3/e2e/evil/manifests/latest" | tr -d '\r')
check "an upstream Content-Type with CR/LF: 502 with a clear message, no X-Evil header" \
  "$(head -1 <<<"$resp" | awk '{print $2}') $(grep -ci '^x-evil' <<<"$resp") $(tail -1 <<<"$resp")" \
  '502 0 {"errors": [{"code": "UNSUPPORTED", "message": "the upstream sent an invalid Content-Type (not a media type of at most 255 printable bytes); nothing was cached"}]}'
check "  nothing is cached (no entry, no lease, no object, no temporary file)" \
  "$(sql "SELECT count(*) FROM containers_vreg.cache_entries WHERE group_id = 42 AND upstream_id = 14") $(sql "SELECT count(*) FROM containers_vreg.fetch_leases WHERE group_id = 42 AND upstream_id = 14") $(find "$E2E/objects/groups/42/upstreams/14" -type f 2>/dev/null | wc -l) $(ls -A "$E2E/objects/.tmp" | wc -l)" \
  "0 0 0 0"
# a media type stored with CR/LF (before the service checked it) is never sent back
docker_type=$(sql "SELECT content_type FROM containers_vreg.cache_entries WHERE group_id = 42 AND relative_path = '/e2e/docker/manifests/latest' AND status = 0")
sql "UPDATE containers_vreg.cache_entries SET content_type = E'application/json\r\nX-Evil: injected' WHERE group_id = 42 AND relative_path = '/e2e/docker/manifests/latest' AND status = 0" >/dev/null
resp=$(curl -s -m 10 -D - "http://$SVC/v2/$VR/e2e/docker/manifests/latest" | tr -d '\r')
check "a stored media type with CR/LF: 502, no X-Evil header" \
  "$(head -1 <<<"$resp" | awk '{print $2}') $(grep -ci '^x-evil' <<<"$resp") $(tail -1 <<<"$resp")" \
  '502 0 {"errors": [{"code": "UNSUPPORTED", "message": "the cached entry'"'"'s media type is invalid"}]}'
sql "UPDATE containers_vreg.cache_entries SET content_type = '$docker_type' WHERE group_id = 42 AND relative_path = '/e2e/docker/manifests/latest' AND status = 0" >/dev/null

# the worker compacts the usage counters (compact_usage) on its first pass and
# every --compact-interval seconds
e2e_service_stop
usage_rows() { sql "SELECT count(*) FROM containers_vreg.usage_deltas"; }
deltas=$(usage_rows)
usage=$(sql "SELECT * FROM containers_vreg.group_usage(42)")
e2e_service_start --db "$(conn e2e_request)" --fetcher-db "$(conn e2e_fetcher)" --worker-db "$(conn e2e_worker)" \
  || not_ok "the service restarts"
for i in $(seq 1 40); do [ "$(usage_rows)" -le 1 ] && break; sleep 0.25; done
check "after a worker pass: the usage deltas are compacted to one row (upstream 11's: the only one with entries so far); group_usage unchanged" \
  "$([ "$deltas" -gt 1 ] && echo "more before") $(usage_rows) $([ "$(sql "SELECT * FROM containers_vreg.group_usage(42)")" = "$usage" ] && echo same)" \
  "more before 1 same"

# -- order: position 1 first; position 2 with sealed credentials (fetcher role) --
pull e2e/both:latest "$E2E/pull/both" >/dev/null; direct "$P1" e2e/both:latest "$E2E/direct/both" >/dev/null
check "e2e/both (on both upstreams, different content) comes from position 1" "$(same_dirs "$E2E/pull/both" "$E2E/direct/both")" same
out=$(pull e2e/only2:latest "$E2E/pull/only2"); direct "$P2" e2e/only2:latest "$E2E/direct/only2" --src-creds alice:s3cret >/dev/null
check "e2e/only2 (position 2 only, basic auth with sealed credentials) equals a direct copy" "$(same_dirs "$E2E/pull/only2" "$E2E/direct/only2")$out" same
check "its entries are upstream 12's (position 2)" \
  "$(sql "SELECT DISTINCT upstream_id FROM containers_vreg.cache_entries WHERE group_id = 42 AND relative_path LIKE '/e2e/only2/%'")" 12
check "the upstream saw a 401 challenge, then authenticated requests" \
  "$(tail -n +"$((M2 + 1))" "$E2E/up2/access.log" | grep -E '"GET /v2/e2e/only2/manifests/latest HTTP.*containers_vreg-registry-service' | awk '{print $9}' | tr '\n' ' ')" "401 200 "

# -- a re-pushed tag ------------------------------------------------------------
old=$(curl -s -I "http://$SVC/v2/$VR/e2e/retag/manifests/latest" | grep -i docker-content-digest | tr -d '\r' | awk '{print $2}')
e2e_push "$P1" retag-v2 e2e/retag:latest
new_up=$(curl -s -I -H "Accept: application/vnd.oci.image.manifest.v1+json" "http://127.0.0.1:$P1/v2/e2e/retag/manifests/latest" | grep -i docker-content-digest | tr -d '\r' | awk '{print $2}')
old_key=$(sql "SELECT object_storage_key FROM containers_vreg.cache_entries WHERE group_id = 42 AND relative_path = '/e2e/retag/manifests/latest' AND status = 0")
R1=$(e2e_mark up1)
now=$(curl -s -I "http://$SVC/v2/$VR/e2e/retag/manifests/latest" | grep -i docker-content-digest | tr -d '\r' | awk '{print $2}')
check "validity 24: after the re-push the old digest is still served, without asking the upstream" \
  "$now $(e2e_requests_since up1 "$R1")" "$old 0"
sql "UPDATE containers_vreg.cache_entries SET upstream_checked_at = now() - interval '25 hours' WHERE group_id = 42 AND relative_path = '/e2e/retag/manifests/latest' AND status = 0"
out=$(pull e2e/retag:latest "$E2E/pull/retag"); direct "$P1" e2e/retag:latest "$E2E/direct/retag" >/dev/null
check "once stale: the pull serves the new digest and image" \
  "$(curl -s -I "http://$SVC/v2/$VR/e2e/retag/manifests/latest" | grep -i docker-content-digest | tr -d '\r' | awk '{print $2}') $(same_dirs "$E2E/pull/retag" "$E2E/direct/retag")$out" "$new_up same"
check "  (old and new digests differ)" "$([ "$old" != "$new_up" ] && echo yes)" yes
sleep 3
check "the replaced manifest's object was queued and deleted by the worker; the new one has a new key" \
  "$([ -e "$E2E/objects/$old_key" ] && echo present || echo deleted) $(sql "SELECT count(*) FROM containers_vreg.cache_entries WHERE group_id = 42 AND object_storage_key = '$old_key'") $(sql "SELECT object_storage_key <> '$old_key' FROM containers_vreg.cache_entries WHERE group_id = 42 AND relative_path = '/e2e/retag/manifests/latest' AND status = 0")" \
  "deleted 0 t"

pull e2e/retag0:latest "$E2E/pull/retag0" >/dev/null
old0=$(sql "SELECT digest FROM containers_vreg.cache_entries WHERE group_id = 42 AND relative_path = '/e2e/retag0/manifests/latest' AND status = 0")
e2e_push "$P2" retag-v2 e2e/retag0:latest "${C2[@]}"
R2=$(e2e_mark up2)
new0=$(curl -s -I "http://$SVC/v2/$VR/e2e/retag0/manifests/latest" | grep -i docker-content-digest | tr -d '\r' | awk '{print $2}')
check "validity 0: the next pull after a re-push serves the new digest" \
  "$([ "$new0" != "$old0" ] && [ "$new0" = "$new_up" ] && echo new)" new
R2=$(e2e_mark up2)
reval_code=$(curl -s -o /dev/null -D "$E2E/reval.headers" -w '%{http_code}' "http://$SVC/v2/$VR/e2e/retag0/manifests/latest")
reval=$(tr -d '\r' < "$E2E/reval.headers" | awk 'tolower($1) == "docker-content-digest:" {print $2}')
check "an unchanged tag is revalidated with one HEAD and no GET" \
  "$(e2e_requests_since up2 "$R2" '"HEAD /v2/e2e/retag0/manifests/latest HTTP/1.1" (200|304)') $(e2e_requests_since up2 "$R2" '"GET ')" "1 0"
check "  and served: the upstream's 304 (or 200 with the same digest) answers the client 200 with the stored digest" \
  "$reval_code $reval" "200 $new0"

# -- upstream down; content that does not match its digest ----------------------
sql "UPDATE containers_vreg.cache_entries SET upstream_checked_at = now() - interval '25 hours' WHERE group_id = 42 AND relative_path = '/e2e/multi/manifests/latest' AND status = 0"
e2e_registry_stop up1
out=$(pull e2e/multi:latest "$E2E/pull/multi-down" --all)
check "upstream down: a cached (stale) tag is still served" "$(same_dirs "$E2E/pull/multi-down" "$E2E/direct/multi")$out" same
body=$(curl -s -w ' %{http_code}' "http://$SVC/v2/$VR/e2e/nothere/manifests/latest")
check "upstream down: a miss answers 503 with a clear body" \
  "$(sed -E 's/.*"message": "([^"]*)".* ([0-9]+)$/\2 \1/' <<<"$body" | cut -c1-60)" \
  "503 no upstream could serve the request: upstream 1: the ups"
e2e_registry_start up1 "$P1" || not_ok "up1 restarts"
layer=$(/usr/bin/python3 - "$E2E/oci" <<'PY'
import json, sys
root = sys.argv[1]
idx = json.load(open(root + "/index.json"))
d = [m for m in idx["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == "corrupt"][0]
print(json.load(open(root + "/blobs/sha256/" + d["digest"][7:]))["layers"][0]["digest"])
PY
)
f="$E2E/up1/data/docker/registry/v2/blobs/sha256/${layer:7:2}/${layer:7}/data"
printf 'XXXX' | dd of="$f" bs=1 seek=100 conv=notrunc 2>/dev/null
out=$(pull e2e/corrupt:latest "$E2E/pull/corrupt"); rc=$?
code=$(curl -s -o "$E2E/corrupt.body" -w '%{http_code}' "http://$SVC/v2/$VR/e2e/corrupt/blobs/$layer")
check "bytes not matching the digest: the client gets an error (skopeo fails; 502 DIGEST_INVALID)" \
  "$([ $rc -ne 0 ] && echo failed) $code $(grep -o DIGEST_INVALID "$E2E/corrupt.body")" "failed 502 DIGEST_INVALID"
check "  and nothing is cached (no entry, no object, no temporary file)" \
  "$(sql "SELECT count(*) FROM containers_vreg.cache_entries WHERE group_id = 42 AND digest = '$layer'") $(ls -A "$E2E/objects/.tmp" | wc -l)" "0 0"

# -- credentials -----------------------------------------------------------------
sql "UPDATE containers_vreg.upstreams SET credentials = '{\"username\": \"alice\", \"password\": \"wrong\"}' WHERE group_id = 42 AND id = 12"
e2e_push "$P2" only2 e2e/newonly2:latest "${C2[@]}"
body=$(curl -s -w ' %{http_code}' "http://$SVC/v2/$VR/e2e/newonly2/manifests/latest")
check "a wrong password: the upstream's 401 becomes a clear error" \
  "$(grep -o '401); check the upstream.s username and password"' <<<"$body" | head -1) ${body##* }" \
  "401); check the upstream's username and password\" 502"
live12=$(sql "SELECT count(*) FROM containers_vreg.cache_entries WHERE group_id = 42 AND upstream_id = 12 AND status = 0")
sql "UPDATE containers_vreg.upstreams SET url = 'http://127.0.0.1:$P3' WHERE group_id = 42 AND id = 12"
check "a url change clears the credentials and takes all $live12 live entries of the old host out of service" \
  "$(sql "SELECT credentials IS NULL FROM containers_vreg.upstreams WHERE group_id = 42 AND id = 12") $(sql "SELECT count(*) FROM containers_vreg.cache_entries WHERE group_id = 42 AND upstream_id = 12 AND status = 0")" "t 0"
out=$(pull e2e/only2:latest "$E2E/pull/only3"); direct "$P3" e2e/only2:latest "$E2E/direct/only3" >/dev/null
check "the next pull of e2e/only2 comes from the new host, not from the old host's cache" \
  "$(same_dirs "$E2E/pull/only3" "$E2E/direct/only3")$(same_dirs "$E2E/pull/only3" "$E2E/direct/only2" | head -1 | cut -c1-6)$out" "samediffer"

# -- bearer token auth ------------------------------------------------------------
if [ -z "$TOKEN" ]; then
  ok "bearer token auth # SKIP python3-jwt or python3-cryptography is not installed (make deps)"
else
  sql "INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (42, 2, 'e2e-token');
       INSERT INTO containers_vreg.upstreams (group_id, id, url, name, cache_validity_hours, credentials) VALUES
         (42, 13, 'http://127.0.0.1:$P4', 'token', 24, '{\"username\": \"bob\", \"password\": \"t0ken\"}');
       SELECT containers_vreg.attach_upstream(42, 2, 13);" >/dev/null \
    || not_ok "group 42: registry 2 with the token-auth upstream"
  VR2="virtual_registries/container/42/2"
  AGENT=containers_vreg-registry-service
  pull2() {  # IMAGE DIR: through the service, registry 2
    rm -rf "$2"; timeout 120 skopeo copy -q --src-tls-verify=false "docker://$SVC/$VR2/$1" "dir:$2" 2>&1
  }
  # the statuses of the service's requests to up4 after MARK, one a line
  statuses4() { tail -n +"$(($1 + 1))" "$E2E/up4/access.log" | grep -F "\"$AGENT\"" | grep -E '"(GET|HEAD) /v2/' | awk '{print $9}'; }
  T0=$(e2e_token_mark); M4=$(e2e_mark up4)
  out=$(pull2 e2e/tok:latest "$E2E/pull/tok"); issued_by=$SECONDS
  out2=$(pull2 e2e/tok:other "$E2E/pull/tok-other")
  direct "$P4" e2e/tok:latest "$E2E/direct/tok" --src-creds bob:t0ken >/dev/null
  direct "$P4" e2e/tok:other "$E2E/direct/tok-other" --src-creds bob:t0ken >/dev/null
  check "token auth: a cold pull of e2e/tok through the service equals a direct copy (digests and bytes)" \
    "$(same_dirs "$E2E/pull/tok" "$E2E/direct/tok")$out" same
  check "token auth: a second tag of the same repository, pulled within the token's lifetime, equals a direct copy" \
    "$(same_dirs "$E2E/pull/tok-other" "$E2E/direct/tok-other")$out2" same
  check "the token server saw exactly one token request from the service for both pulls: status, user, account, scope, service" \
    "$(e2e_token_requests_since "$T0" "$AGENT")" "200 bob bob repository:e2e/tok:pull e2e-up4"
  s4=$(statuses4 "$M4")
  check "the registry challenged the service once (its first request: 401), then took the token: every other request 200" \
    "$(head -1 <<<"$s4") $(grep -c '^401$' <<<"$s4") $(grep -vcE '^(200|401)$' <<<"$s4")" "401 1 0"
  check "the token entries are upstream 13's" \
    "$(sql "SELECT string_agg(DISTINCT upstream_id::text, ',') FROM containers_vreg.cache_entries WHERE group_id = 42 AND relative_path LIKE '/e2e/tok/%'")" 13
  W4=$(e2e_mark up4); WT=$(e2e_token_mark)
  out=$(pull2 e2e/tok:latest "$E2E/pull/tok-warm")
  check "token auth: a warm pull equals the direct copy and makes 0 requests to the registry and 0 to the token server" \
    "$(same_dirs "$E2E/pull/tok-warm" "$E2E/direct/tok")$out $(e2e_requests_since up4 "$W4") $(e2e_token_requests_since "$WT" | wc -l)" "same 0 0"
  # the token (expires_in 15) is not sent in its last tenth: past 13.5 s a new one is fetched
  while [ $SECONDS -le $((issued_by + 15)) ]; do sleep 0.5; done
  T1=$(e2e_token_mark); M4=$(e2e_mark up4)
  out=$(pull2 e2e/tok:third "$E2E/pull/tok-third"); direct "$P4" e2e/tok:third "$E2E/direct/tok-third" --src-creds bob:t0ken >/dev/null
  s4=$(statuses4 "$M4")
  check "after the token's lifetime: the next cold pull gets one new token (one 401, one token request) and equals a direct copy" \
    "$(same_dirs "$E2E/pull/tok-third" "$E2E/direct/tok-third")$out $(grep -c '^401$' <<<"$s4") $(e2e_token_requests_since "$T1" "$AGENT")" \
    "same 1 200 bob bob repository:e2e/tok:pull e2e-up4"
  # a wrong password: the token server's 401 becomes the service's clear error
  sql "UPDATE containers_vreg.upstreams SET credentials = '{\"username\": \"bob\", \"password\": \"wrong\"}' WHERE group_id = 42 AND id = 13"
  T2=$(e2e_token_mark)
  body=$(curl -s -w ' %{http_code}' "http://$SVC/v2/$VR2/e2e/tokwrong/manifests/latest")
  check "token auth, wrong password: the client gets 502 UNAUTHORIZED naming the token service's 401" \
    "$(sed -E 's/.*"code": "([A-Z]+)", "message": "([^"]*)".* ([0-9]+)$/\3 \1 \2/' <<<"$body")" \
    "502 UNAUTHORIZED the upstream's token service refused the stored credentials (401); check the upstream's username and password"
  check "  the token server refused the service's request for that scope (account bob, no user authenticated)" \
    "$(e2e_token_requests_since "$T2" "$AGENT")" "401 None bob repository:e2e/tokwrong:pull e2e-up4"
  out=$(pull2 e2e/tokwrong:latest "$E2E/pull/tokwrong"); rc=$?
  check "  skopeo fails, and nothing is cached (no entry, no lease, no temporary file)" \
    "$([ $rc -ne 0 ] && echo failed) $(sql "SELECT count(*) FROM containers_vreg.cache_entries WHERE group_id = 42 AND relative_path LIKE '/e2e/tokwrong/%'") $(sql "SELECT count(*) FROM containers_vreg.fetch_leases WHERE group_id = 42 AND upstream_id = 13") $(ls -A "$E2E/objects/.tmp" | wc -l)" \
    "failed 0 0 0"
fi

# -- kill -9 mid-pull, delete an upstream, the worker: storage == live entries ---
objects_vs_entries() {
  local files entries
  files=$(cd "$E2E/objects" && find . -path ./.tmp -prune -o -type f -print | sed 's|^\./||' | sort)
  entries=$(sql "SELECT object_storage_key FROM containers_vreg.cache_entries WHERE group_id = 42 AND status = 0 ORDER BY 1" | sort)
  if [ "$files" = "$entries" ] && [ -z "$(sql "SELECT 1 FROM containers_vreg.cache_entries WHERE status <> 0 LIMIT 1")" ]; then
    echo "match $(wc -l <<<"$files")"
  else
    echo "mismatch: $(diff <(echo "$files") <(echo "$entries") | head -5 | tr '\n' ' ')"
  fi
}
wait_worker() { local i; for i in $(seq 1 60); do [ -z "$(sql "SELECT 1 FROM containers_vreg.cache_entries WHERE status <> 0 LIMIT 1")" ] && return 0; sleep 0.5; done; return 1; }
sql "SELECT containers_vreg.purge_upstream(42, 11)" >/dev/null
wait_worker
pull e2e/big:latest "$E2E/pull/big-killed" >/dev/null 2>&1 &
kpull=$!
for i in $(seq 1 100); do [ -n "$(ls -A "$E2E/objects/.tmp" 2>/dev/null)" ] && break; sleep 0.1; done
e2e_service_stop KILL
wait $kpull 2>/dev/null
e2e_service_start --db "$(conn e2e_request)" --fetcher-db "$(conn e2e_fetcher)" --worker-db "$(conn e2e_worker)" \
  || not_ok "the service restarts after SIGKILL"
wait_worker
check "after SIGKILL mid-pull and a restart: the object directory and the live entries match exactly" "$(objects_vs_entries | cut -c1-5)" match
sql "DELETE FROM containers_vreg.upstreams WHERE group_id = 42 AND id = 12" >/dev/null
wait_worker
check "after deleting an upstream and a worker pass: the object directory and the live entries match exactly" "$(objects_vs_entries | cut -c1-5)" match

# -- the sweep: objects that no entry names (a kill between rename and store) --
check "the running worker's sweeps (orphan age 1 hour) deleted nothing so far" \
  "$(grep -c '^sweep: deleted' "$E2E/service.log")" 0
out=$(pull e2e/docker:latest "$E2E/pull/sweep-docker")
e2e_service_stop
sql "SELECT containers_vreg.mark_for_destruction(42, (SELECT min(id) FROM containers_vreg.cache_entries WHERE group_id = 42 AND status = 0))" >/dev/null
# every object is 2 hours old; then the state a kill between the rename and
# store_cache_entry leaves: a file under a fresh key of the group, once old
# and once just written; and an old file outside any group's key layout
find "$E2E/objects" -path "$E2E/objects/.tmp" -prune -o -type f -exec touch -d '2 hours ago' {} +
old_orphan="groups/42/upstreams/11/$(cat /proc/sys/kernel/random/uuid)"
young_orphan="groups/42/upstreams/11/$(cat /proc/sys/kernel/random/uuid)"
printf 'left by a kill' > "$E2E/objects/$old_orphan"; touch -d '2 hours ago' "$E2E/objects/$old_orphan"
printf 'in flight' > "$E2E/objects/$young_orphan"
printf 'not an object' > "$E2E/objects/notes.txt"; touch -d '2 hours ago' "$E2E/objects/notes.txt"
entries_present() {  # every live and pending entry of group 42 has its file: "<live> <pending> <missing>"
  local k missing=0
  for k in $(sql "SELECT object_storage_key FROM containers_vreg.cache_entries WHERE group_id = 42"); do
    [ -f "$E2E/objects/$k" ] || missing=$((missing + 1))
  done
  echo "$(sql "SELECT count(*) FILTER (WHERE status = 0), count(*) FILTER (WHERE status <> 0) FROM containers_vreg.cache_entries WHERE group_id = 42" | tr '|' ' ') $missing"
}
before=$(entries_present)
sweep=$("$E2E_HERE/registry-service" --db "$(conn e2e_request)" --worker-db "$(conn e2e_worker)" \
  --objects "$E2E/objects" --orphan-age 60 --sweep-once 2>>"$E2E/service.log")
after=$(entries_present)
check "a sweep (orphan age 60 s) after a pull of e2e/docker and one entry marked pending: it deleted 1 object" "$sweep$out" 1
check "  the old object no entry names is deleted, the young one kept, the file outside the key layout kept" \
  "$([ -e "$E2E/objects/$old_orphan" ] && echo present || echo deleted) $([ -e "$E2E/objects/$young_orphan" ] && echo present || echo deleted) $([ -e "$E2E/objects/notes.txt" ] && echo present || echo deleted)" \
  "deleted present present"
live=${before%% *}
check "  every live and pending entry's file is kept ($live live, 1 pending, 0 missing)" \
  "$before|$after|$([ "$live" -gt 1 ] && echo several)" "$live 1 0|$live 1 0|several"
check "  the sweep logged the deletion" "$(grep -c "^sweep: deleted $old_orphan " "$E2E/service.log")" 1
rm -f "$E2E/objects/notes.txt"
sweep=$("$E2E_HERE/registry-service" --db "$(conn e2e_request)" --worker-db "$(conn e2e_worker)" \
  --objects "$E2E/objects" --orphan-age 0 --sweep-once 2>>"$E2E/service.log")
files=$(cd "$E2E/objects" && find . -path ./.tmp -prune -o -type f -print | sed 's|^\./||' | sort)
entries=$(sql "SELECT object_storage_key FROM containers_vreg.cache_entries WHERE group_id = 42 ORDER BY 1" | sort)
check "a sweep with orphan age 0 deletes the young one too: the object directory equals the live and pending entries" \
  "$sweep $([ "$files" = "$entries" ] && echo match || echo "mismatch: $(diff <(echo "$files") <(echo "$entries") | head -5 | tr '\n' ' ')")" "1 match"
e2e_service_start --db "$(conn e2e_request)" --fetcher-db "$(conn e2e_fetcher)" --worker-db "$(conn e2e_worker)" \
  || not_ok "the service restarts after the sweep"
wait_worker
check "after the worker destroyed the pending entry: the object directory and the live entries match exactly" "$(objects_vs_entries | cut -c1-5)" match

# store_cache_entry fails after the object was renamed to its key: an error
# the server reports (rolled back) -> the service deletes the object; the
# connection lost mid-store (the outcome unknown to the service) -> it keeps
# the object, and the sweep deletes it since no entry names it
"${PSQL[@]}" >/dev/null <<'SQL' || not_ok "the store-fault trigger is created"
CREATE FUNCTION public.e2e_store_fault() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.relative_path = '/e2e/base-b/manifests/latest' THEN
    RAISE EXCEPTION 'e2e: store refused' USING ERRCODE = 'invalid_parameter_value';
  ELSIF NEW.relative_path = '/e2e/base-a/manifests/latest' THEN
    PERFORM pg_terminate_backend(pg_backend_pid());   -- the connection dies mid-store
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER e2e_store_fault BEFORE INSERT ON containers_vreg.cache_entries
  FOR EACH ROW EXECUTE FUNCTION public.e2e_store_fault();
SQL
extra_files() {  # files of group 42 that no entry names
  comm -23 <(cd "$E2E/objects" && find groups/42 -type f | sort) \
           <(sql "SELECT object_storage_key FROM containers_vreg.cache_entries WHERE group_id = 42" | sort)
}
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$SVC/v2/$VR/e2e/base-b/manifests/latest")
check "store_cache_entry refused by the server (22023): the pull fails (503) and the service deleted the object" \
  "$code $(extra_files | wc -l)" "503 0"
kept_before=$(grep -c 'outcome unknown' "$E2E/service.log")
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$SVC/v2/$VR/e2e/base-a/manifests/latest")
kept=$(extra_files)
check "the connection lost during store_cache_entry: the pull fails (503), the object is kept (1 file no entry names) and logged" \
  "$code $(wc -l <<<"$kept") $(grep -c "store_cache_entry of $kept: outcome unknown" "$E2E/service.log") $kept_before" "503 1 1 0"
sql "DROP TRIGGER e2e_store_fault ON containers_vreg.cache_entries; DROP FUNCTION public.e2e_store_fault()"
sweep=$("$E2E_HERE/registry-service" --db "$(conn e2e_request)" --worker-db "$(conn e2e_worker)" \
  --objects "$E2E/objects" --orphan-age 0 --sweep-once 2>>"$E2E/service.log")
check "  the sweep deletes it: the object directory and the live entries match exactly" \
  "$sweep $([ -e "$E2E/objects/$kept" ] && echo present || echo deleted) $(objects_vs_entries | cut -c1-5)" "1 deleted match"

# -- a url change while a fetch from the old host is running ---------------------
# A slow fake upstream (it answers 3 s after the request) serves a tag
# manifest; 1 s into the fetch the upstream's url is pointed at another host.
# The fetch's lease is gone with the change, so store_cache_entry refuses
# (55000): the service deletes the verified object and answers 503, and the
# next pull fetches from the new host. Nothing of the old host is served.
cat > "$E2E/fake-upstream.py" <<'PY'
import hashlib, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, delay, body, log = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3].encode(), sys.argv[4]
trickle = float(sys.argv[5]) if len(sys.argv) > 5 else 0   # seconds to send the body over
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if not self.path.endswith("/manifests/latest"):
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        with open(log, "a") as f:
            f.write(self.path + "\n")
        time.sleep(delay)
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
        self.send_header("Docker-Content-Digest", "sha256:" + hashlib.sha256(body).hexdigest())
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if trickle <= 0:
            self.wfile.write(body); return
        n = 40
        for i in range(n):
            self.wfile.write(body[i * len(body) // n:(i + 1) * len(body) // n]); self.wfile.flush()
            time.sleep(trickle / n)
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
PY
PA=$(e2e_free_port); PB=$(e2e_free_port)
/usr/bin/python3 "$E2E/fake-upstream.py" "$PA" 3 '{"host": "old"}' "$E2E/fake-old.log" 2>>"$E2E/fake.log" & E2E_PIDS+=($!)
/usr/bin/python3 "$E2E/fake-upstream.py" "$PB" 0 '{"host": "new"}' "$E2E/fake-new.log" 2>>"$E2E/fake.log" & E2E_PIDS+=($!)
sql "INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (43, 1, 'fence');
     INSERT INTO containers_vreg.upstreams (group_id, id, url, name) VALUES (43, 31, 'http://127.0.0.1:$PA', 'slow');
     SELECT containers_vreg.attach_upstream(43, 1, 31);" >/dev/null || not_ok "group 43: registry 1 with the slow upstream"
for _ in $(seq 1 50); do
  curl -s -o /dev/null "http://127.0.0.1:$PA/" && curl -s -o /dev/null "http://127.0.0.1:$PB/" && break; sleep 0.1
done
FENCE_URL="http://$SVC/v2/virtual_registries/container/43/1/e2e/slow/manifests/latest"
curl -s -o "$E2E/fence-1.body" -w '%{http_code}' "$FENCE_URL" > "$E2E/fence-1.code" & fence_curl=$!
for _ in $(seq 1 100); do [ -s "$E2E/fake-old.log" ] && break; sleep 0.05; done
sleep 1
sql "UPDATE containers_vreg.upstreams SET url = 'http://127.0.0.1:$PB' WHERE group_id = 43 AND id = 31" >/dev/null
wait "$fence_curl"
check "a fetch from the old host running across the url change: 503, the body says nothing was cached" \
  "$(cat "$E2E/fence-1.code") $(grep -c 'the upstream changed while the object was fetched; nothing was cached, retry' "$E2E/fence-1.body")" "503 1"
check "  no entry of the upstream is live and no object of group 43 is left in storage" \
  "$(sql "SELECT count(*) FROM containers_vreg.cache_entries WHERE group_id = 43 AND status = 0") $(find "$E2E/objects/groups/43" -type f 2>/dev/null | wc -l)" "0 0"
code2=$(curl -s -o "$E2E/fence-2.body" -w '%{http_code}' "$FENCE_URL")
code3=$(curl -s -o "$E2E/fence-3.body" -w '%{http_code}' "$FENCE_URL")
check "  the next pulls fetch from the new host and serve its manifest, never the old one" \
  "$code2 $(cat "$E2E/fence-2.body") $code3 $(cat "$E2E/fence-3.body") $(wc -l < "$E2E/fake-old.log") $(wc -l < "$E2E/fake-new.log")" \
  '200 {"host": "new"} 200 {"host": "new"} 1 1'
check "  one live entry, with the new host's digest" \
  "$(sql "SELECT count(*), min(digest) FROM containers_vreg.cache_entries WHERE group_id = 43 AND status = 0" | tr '|' ' ')" \
  "1 sha256:$(printf '%s' '{"host": "new"}' | sha256sum | cut -c1-64)"

# -- a download longer than the fetch lease ---------------------------------------
# The service with --fetch-lease 3 (the worker prunes expired leases every
# second) pulls a manifest that a fake upstream trickles over 8 s. The lease
# is renewed every second, so it is never pruned: 200, the entry live. An
# expired lease of another path, made 1 s into the download, is pruned
# meanwhile: the prune ran during the download.
e2e_service_stop
e2e_service_start --db "$(conn e2e_request)" --fetcher-db "$(conn e2e_fetcher)" --worker-db "$(conn e2e_worker)" \
  --fetch-lease 3 || not_ok "the service restarts with --fetch-lease 3"
TRICKLE_BODY="{\"trickle\": \"$(head -c 3000 /dev/zero | tr '\0' x)\"}"
PT=$(e2e_free_port)
/usr/bin/python3 "$E2E/fake-upstream.py" "$PT" 0 "$TRICKLE_BODY" "$E2E/fake-trickle.log" 8 2>>"$E2E/fake.log" & E2E_PIDS+=($!)
sql "INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (44, 1, 'trickle');
     INSERT INTO containers_vreg.upstreams (group_id, id, url, name) VALUES (44, 41, 'http://127.0.0.1:$PT', 'trickle');
     SELECT containers_vreg.attach_upstream(44, 1, 41);" >/dev/null || not_ok "group 44: registry 1 with the trickling upstream"
for _ in $(seq 1 50); do curl -s -o /dev/null "http://127.0.0.1:$PT/" && break; sleep 0.1; done
TRICKLE_URL="http://$SVC/v2/virtual_registries/container/44/1/e2e/trickle/manifests/latest"
t0=$SECONDS
curl -s -o "$E2E/trickle.body" -w '%{http_code}' "$TRICKLE_URL" > "$E2E/trickle.code" & trickle_curl=$!
for _ in $(seq 1 100); do [ -s "$E2E/fake-trickle.log" ] && break; sleep 0.05; done
sleep 1
sql "INSERT INTO containers_vreg.fetch_leases (group_id, upstream_id, relative_path, leased_until)
     VALUES (44, 41, '/e2e/trickle/manifests/expired', now() - interval '1 minute')" >/dev/null
sleep 4
mid_lease=$(sql "SELECT count(*) FROM containers_vreg.fetch_leases
                  WHERE group_id = 44 AND relative_path = '/e2e/trickle/manifests/latest' AND leased_until > clock_timestamp()")
wait "$trickle_curl"
check "a download of 8 s with a 3 s lease: 200, the lease renewed (alive 5 s in), the body the upstream's" \
  "$(cat "$E2E/trickle.code") $mid_lease $([ $((SECONDS - t0)) -ge 7 ] && echo slow) $(cmp -s "$E2E/trickle.body" <(printf '%s' "$TRICKLE_BODY") && echo same)" \
  "200 1 slow same"
check "  the entry is live with the body's digest, its lease consumed, and the worker's prune ran meanwhile" \
  "$(sql "SELECT count(*), min(digest) FROM containers_vreg.cache_entries WHERE group_id = 44 AND status = 0" | tr '|' ' ') $(sql "SELECT count(*) FROM containers_vreg.fetch_leases WHERE group_id = 44")" \
  "1 sha256:$(printf '%s' "$TRICKLE_BODY" | sha256sum | cut -c1-64) 0"

# -- resolve on a streaming replica, writes on the primary -----------------------
REPLICA_DIR="$E2E/replica"
RPORT=$(pgc_free_port)
mkdir -p "$REPLICA_DIR"; chmod 700 "$REPLICA_DIR"; [ "$(id -u)" -eq 0 ] && chown postgres: "$REPLICA_DIR"
if pgc_as_owner "$PGC_BINDIR/pg_basebackup" -h "$PGHOST" -p "$PGPORT" -U postgres -D "$REPLICA_DIR" -R -X stream >/dev/null 2>&1; then
  echo "port = $RPORT" >> "$REPLICA_DIR/postgresql.conf"
  pgc_as_owner "$PGC_BINDIR/pg_ctl" -D "$REPLICA_DIR" -l "$E2E/pg/replica.log" -w -t 60 start >/dev/null
  e2e_service_stop
  e2e_service_start --db "$(conn e2e_request)" --fetcher-db "$(conn e2e_fetcher)" --worker-db "$(conn e2e_worker)" \
    --read-db "host=$PGHOST port=$RPORT dbname=vreg user=e2e_request"
  out=$(pull e2e/base-a:latest "$E2E/pull/replica-a"); out2=$(pull e2e/base-a:latest "$E2E/pull/replica-a2")
  check "resolve on a streaming replica (pg_basebackup -R), writes on the primary: cold and warm pulls equal a direct copy" \
    "$("$PGC_BINDIR/psql" -X -At -h "$PGHOST" -p "$RPORT" -d vreg -c 'SELECT pg_is_in_recovery()') $(same_dirs "$E2E/pull/replica-a" "$E2E/direct/base-a") $(same_dirs "$E2E/pull/replica-a2" "$E2E/direct/base-a")$out$out2" \
    "t same same"
else
  not_ok "pg_basebackup -R of the primary"
fi

ok "end-to-end run took $((SECONDS - start)) s"
kill "$WATCHDOG" 2>/dev/null
[ "$fails" -eq 0 ]
