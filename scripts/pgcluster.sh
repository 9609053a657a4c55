# Sourced by the demo, the test runner and the benchmarks: a throwaway
# PostgreSQL cluster on a free loopback port with its socket in a private
# directory. initdb refuses root, so as root the server runs as 'postgres'.
#
#   pgc_private_tree DIR   copy the PostgreSQL install tree under DIR, so that
#                          `make install PG_CONFIG=$PGC_PG_CONFIG` touches no
#                          system directory (the tree is relocatable)
#   pgc_start DIR [conf]   initdb DIR/data, start; sets PGHOST PGPORT PGUSER
#   pgc_stop               stop it (also runs on EXIT when started here)

PG_MAJOR=${PG_MAJOR:-15}
PGC_SYSTEM_BINDIR=${PGC_SYSTEM_BINDIR:-/usr/lib/postgresql/$PG_MAJOR/bin}
PGC_BINDIR=${PGC_BINDIR:-$PGC_SYSTEM_BINDIR}
PGC_PG_CONFIG=${PGC_PG_CONFIG:-$PGC_BINDIR/pg_config}

pgc_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

pgc_private_tree() {
  local root=$1
  rm -rf "$root/usr"
  mkdir -p "$root/usr/lib/postgresql" "$root/usr/share/postgresql"
  cp -a "/usr/lib/postgresql/$PG_MAJOR" "$root/usr/lib/postgresql/"
  cp -a "/usr/share/postgresql/$PG_MAJOR" "$root/usr/share/postgresql/"
  # headers are only read: the relocated pg_config points here, so link them
  ln -s /usr/include "$root/usr/include"
  PGC_BINDIR="$root/usr/lib/postgresql/$PG_MAJOR/bin"
  PGC_PG_CONFIG="$PGC_BINDIR/pg_config"
  export PGC_BINDIR PGC_PG_CONFIG
}

pgc_free_port() {
  local port
  for _ in $(seq 1 200); do
    port=$(( 20000 + RANDOM % 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"; return 0
    fi
  done
  echo "no free port found" >&2; return 1
}

# pgc_init DIR: initdb only (DIR/data), socket dir DIR/sock, port chosen.
pgc_init() {
  local dir=$1
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  rm -rf "$dir/data" "$dir/sock" "$dir/server.log"
  mkdir -p "$dir/data" "$dir/sock"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir" "$dir/data" "$dir/sock"; fi
  chmod 700 "$dir/data"
  pgc_as_owner "$PGC_BINDIR/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; return 1; }
  PGC_DIR=$dir
  PGPORT=$(pgc_free_port)
  PGHOST="$dir/sock"
  PGUSER=postgres
  export PGC_DIR PGPORT PGHOST PGUSER
  cat >> "$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PGPORT
unix_socket_directories = '$PGHOST'
fsync = off
max_connections = 100
max_prepared_transactions = 10
log_min_messages = warning
CONF
}

pgc_conf() { echo "$*" >> "$PGC_DIR/data/postgresql.conf"; }

pgc_startonly() {
  pgc_as_owner "$PGC_BINDIR/pg_ctl" -D "$PGC_DIR/data" -l "$PGC_DIR/server.log" -w -t 60 start >/dev/null \
    || { tail -50 "$PGC_DIR/server.log" >&2; return 1; }
}

pgc_start() {
  pgc_init "$1" || return 1
  pgc_startonly || return 1
  trap pgc_stop EXIT
}

pgc_stop() {
  if [ -n "${PGC_DIR:-}" ] && [ -f "$PGC_DIR/data/postmaster.pid" ]; then
    pgc_as_owner "$PGC_BINDIR/pg_ctl" -D "$PGC_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
}
