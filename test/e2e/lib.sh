# Sourced by test/scripts/e2e.sh and scripts/demo.sh: upstream registries
# (Debian's docker-registry, CNCF distribution) on loopback, the test images
# pushed with skopeo, and the reference registry service. Every wait has a
# timeout; everything started here is stopped by e2e_stop_all (by pid).
#
#   e2e_registry_start NAME PORT [USER:PASSWORD]   htpasswd basic auth when given
#   e2e_registry_start NAME PORT token=PORT        bearer token auth by the token server
#   e2e_token_server_start PORT USER:PASSWORD [EXPIRES_IN]
#                                                  test/e2e/token-server; $E2E/token/cert.pem
#   e2e_registry_requests NAME [REGEX]             lines in its access log
#   e2e_push NAME TAG REPO:TAG [skopeo options]    from the OCI layout $E2E/oci
#   e2e_service_start [extra options]              the service on $E2E_SERVICE_PORT
#   e2e_stop_all
: "${E2E:?set E2E to a work directory}"
E2E_PIDS=()
PY=/usr/bin/python3
E2E_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

e2e_wait_http() {  # URL SECONDS: until it answers at all
  local deadline=$((SECONDS + $2))
  while [ $SECONDS -lt $deadline ]; do
    curl -s -o /dev/null -m 2 "$1" && return 0
    sleep 0.2
  done
  return 1
}

e2e_registry_start() {
  local name=$1 port=$2 cred=${3:-} dir="$E2E/$1" auth=""
  mkdir -p "$dir/data"
  if [ "${cred#token=}" != "$cred" ]; then
    auth=$(printf 'auth:\n  token:\n    realm: http://127.0.0.1:%s/token\n    service: e2e-%s\n    issuer: e2e-token-server\n    rootcertbundle: %s\n' \
      "${cred#token=}" "$name" "$E2E/token/cert.pem")
  elif [ -n "$cred" ]; then
    htpasswd -Bbc "$dir/htpasswd" "${cred%%:*}" "${cred#*:}" >/dev/null 2>&1 || return 1
    auth=$(printf 'auth:\n  htpasswd:\n    realm: %s\n    path: %s\n' "$name" "$dir/htpasswd")
  fi
  cat > "$dir/config.yml" <<YML
version: 0.1
log:
  level: warn
  formatter: text
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $dir/data
  delete:
    enabled: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:$port
  secret: e2e-$name
$auth
YML
  docker-registry serve "$dir/config.yml" >>"$dir/access.log" 2>&1 &
  echo $! > "$dir/pid"
  E2E_PIDS+=($!)
  e2e_wait_http "http://127.0.0.1:$port/v2/" 30
}

e2e_token_server_start() {  # PORT USER:PASSWORD [EXPIRES_IN]: writes $E2E/token/cert.pem before it listens
  local dir="$E2E/token"
  mkdir -p "$dir"
  "$E2E_HERE/token-server" --listen "127.0.0.1:$1" --dir "$dir" --user "$2" --issuer e2e-token-server \
    --expires-in "${3:-300}" >>"$dir/server.log" 2>&1 &
  E2E_PIDS+=($!)
  e2e_wait_http "http://127.0.0.1:$1/" 30 && [ -s "$dir/cert.pem" ]
}

e2e_token_mark() { [ -f "$E2E/token/requests.log" ] && wc -l < "$E2E/token/requests.log" || echo 0; }
e2e_token_requests_since() {  # MARK [AGENT]: "status user account scopes service", one line per token request
  tail -n +"$(($1 + 1))" "$E2E/token/requests.log" 2>/dev/null | "$PY" -c '
import json, sys
for line in sys.stdin:
    e = json.loads(line)
    if len(sys.argv) < 2 or e["agent"] == sys.argv[1]:
        print(e["status"], e["user"], e["account"], ",".join(e["scope"]), e["service"])' ${2:+"$2"}
}

e2e_registry_stop() {  # NAME: stop (the upstream is "down")
  local pid; pid=$(cat "$E2E/$1/pid" 2>/dev/null) || return 0
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -f "$E2E/$1/pid"
}

e2e_registry_requests() {  # NAME [REGEX]: access-log request lines (pushes excluded by the caller's mark)
  grep -E '"(GET|HEAD) /v2/[^ ]+ HTTP' "$E2E/$1/access.log" | grep -cE "${2:-.}" || true
}

e2e_mark() { wc -l < "$E2E/$1/access.log"; }       # NAME: current log length
e2e_requests_since() {  # NAME MARK [REGEX]: GET/HEAD lines after MARK
  tail -n +"$(($2 + 1))" "$E2E/$1/access.log" | grep -E '"(GET|HEAD) /v2/[^ ]+ HTTP' \
    | grep -vE '"(GET|HEAD) /v2/ HTTP' | grep -cE "${3:-.}" || true
}

e2e_push() {  # NAME(port) TAG DEST [options]
  local port=$1 tag=$2 dest=$3; shift 3
  timeout 120 skopeo copy -q --dest-tls-verify=false "$@" "oci:$E2E/oci:$tag" "docker://127.0.0.1:$port/$dest"
}

e2e_service_start() {
  "$E2E_HERE/registry-service" --listen "127.0.0.1:$E2E_SERVICE_PORT" --objects "$E2E/objects" \
    --worker-interval "${E2E_WORKER_INTERVAL:-1}" "$@" >>"$E2E/service.log" 2>&1 &
  E2E_SERVICE_PID=$!
  E2E_PIDS+=($!)
  e2e_wait_http "http://127.0.0.1:$E2E_SERVICE_PORT/v2/" 30
}

e2e_service_stop() {  # [SIGNAL]
  [ -n "${E2E_SERVICE_PID:-}" ] || return 0
  kill -"${1:-TERM}" "$E2E_SERVICE_PID" 2>/dev/null
  local i; for i in $(seq 1 100); do kill -0 "$E2E_SERVICE_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$E2E_SERVICE_PID" 2>/dev/null; wait "$E2E_SERVICE_PID" 2>/dev/null
  E2E_SERVICE_PID=
}

e2e_stop_all() {
  local p
  for p in "${E2E_PIDS[@]}"; do kill "$p" 2>/dev/null; done
  for p in "${E2E_PIDS[@]}"; do wait "$p" 2>/dev/null; done
  E2E_PIDS=()
}

e2e_free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$(( 20000 + RANDOM % 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  return 1
}
