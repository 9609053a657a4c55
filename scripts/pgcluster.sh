# Sourced by the demo, the test runner and the benchmarks: a throwaway
# PostgreSQL cluster on a free loopback port with its socket in a private
# directory. initdb refuses root, so as root the server runs as 'postgres'.
#
#   pgc_scratch            make sure the checkout's scratch directory .pgtmp
#                          exists where the server's OS user can use it; sets
#                          PGC_SCRATCH to its physical path (see below)
#   pgc_private_tree DIR   copy the PostgreSQL install tree under DIR, so that
#                          `make install PG_CONFIG=$PGC_PG_CONFIG` touches no
#                          system directory (the tree is relocatable)
#   pgc_start DIR [conf]   initdb DIR/data, start; sets PGHOST PGPORT PGUSER
#   pgc_stop               stop it (also runs on EXIT when started here)
#   pgc_demo_install       make install for make demo (system tree as root)
#   pgc_demo_dir           a new temporary directory for a demo's servers
#   pgc_clean_scratch      remove the scratch directory (make clean)
#
# The server gets physical, absolute paths only, and every command that runs
# as the server's OS user runs from / : the checkout may live where that user
# cannot enter (root's home, mode 0700). For the same reason .pgtmp is a real
# directory only when the server's OS user can enter the checkout; otherwise
# it is a symbolic link to a fresh `mktemp -d` under ${TMPDIR:-/tmp}, which
# `make clean` removes with the link.

PG_MAJOR=${PG_MAJOR:-15}
# The PostgreSQL to build and test against: PG_CONFIG when given (make
# PG_CONFIG=...), else Debian's PostgreSQL $PG_MAJOR, else pg_config on PATH.
if [ -z "${PGC_SYSTEM_PG_CONFIG:-}" ]; then
  if [ -n "${PG_CONFIG:-}" ] && [ "$PG_CONFIG" != pg_config ]; then
    PGC_SYSTEM_PG_CONFIG=$PG_CONFIG
  elif [ -x "/usr/lib/postgresql/$PG_MAJOR/bin/pg_config" ]; then
    PGC_SYSTEM_PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
  else
    PGC_SYSTEM_PG_CONFIG=$(command -v pg_config || echo pg_config)
  fi
fi
PGC_SYSTEM_BINDIR=${PGC_SYSTEM_BINDIR:-$("$PGC_SYSTEM_PG_CONFIG" --bindir 2>/dev/null || echo "/usr/lib/postgresql/$PG_MAJOR/bin")}
PGC_BINDIR=${PGC_BINDIR:-$PGC_SYSTEM_BINDIR}
PGC_PG_CONFIG=${PGC_PG_CONFIG:-$PGC_BINDIR/pg_config}
# The checkout this file belongs to.
PGC_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PGC_OWNER=postgres

# Run a command as the server's OS user (postgres when we are root), from /.
pgc_as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    (cd / && runuser -u "$PGC_OWNER" -- "$@")
  else
    "$@"
  fi
}

# pgc_owner_can_enter DIR: the server's OS user can reach and read DIR.
pgc_owner_can_enter() {
  pgc_as_owner test -d "$1" -a -x "$1" -a -r "$1" 2>/dev/null
}

pgc_scratch() {
  local link="$PGC_TOP/.pgtmp" target
  if [ -L "$link" ] && [ ! -d "$link" ]; then
    rm -f "$link"            # its temporary directory was cleaned away
  fi
  if [ ! -e "$link" ]; then
    if pgc_owner_can_enter "$PGC_TOP"; then
      (umask 022; mkdir "$link")
    else
      target=$(mktemp -d "${TMPDIR:-/tmp}/containers_vreg.XXXXXX") || return 1
      chmod 755 "$target"
      ln -s "$target" "$link"
    fi
  fi
  PGC_SCRATCH=$(cd "$link" && pwd -P)
  if ! pgc_owner_can_enter "$PGC_SCRATCH"; then
    echo "pgcluster: the server's OS user ($PGC_OWNER) cannot enter $PGC_SCRATCH" >&2
    if [ -L "$link" ]; then
      echo "  set TMPDIR to a directory it can enter, then: make clean" >&2
    else
      echo "  remove it (make clean): it is then made where $PGC_OWNER can enter it" >&2
    fi
    return 1
  fi
  export PGC_SCRATCH
}

# pgc_physical DIR: create DIR (mode 755 parents) and print its physical path.
pgc_physical() {
  (umask 022; mkdir -p "$1") && (cd "$1" && pwd -P)
}

pgc_private_tree() {
  local root d top pgc=$PGC_SYSTEM_PG_CONFIG
  pgc_scratch || return 1
  root=$(pgc_physical "$1") || return 1
  # Mirror the install's own absolute paths under $root: the binaries find
  # lib/ and share/ relative to themselves, as pg_config does.
  for d in $("$pgc" --bindir) $("$pgc" --pkglibdir) $("$pgc" --sharedir); do
    top=${d#/}; top=${top%%/*}
    rm -rf "${root:?}/$top"
  done
  for d in $("$pgc" --bindir) $("$pgc" --pkglibdir) $("$pgc" --sharedir); do
    (umask 022; mkdir -p "$root$(dirname "$d")") && cp -a "$d" "$root$d" || return 1
  done
  # headers are only read: the relocated pg_config points here, so link them
  for d in $("$pgc" --includedir) $("$pgc" --pkgincludedir) $("$pgc" --includedir-server); do
    if [ ! -e "$root$d" ]; then
      (umask 022; mkdir -p "$root$(dirname "$d")") && ln -s "$d" "$root$d" || return 1
    fi
  done
  PGC_BINDIR="$root$("$pgc" --bindir)"
  PGC_PG_CONFIG="$PGC_BINDIR/pg_config"
  export PGC_BINDIR PGC_PG_CONFIG
}

# pgc_demo_install: `make install` for a demo: as root into the system
# PostgreSQL tree, otherwise into a private copy of it under .pgtmp/demo.
pgc_demo_install() {
  if [ "$(id -u)" -eq 0 ]; then
    echo "== make install (into the system PostgreSQL $PG_MAJOR tree)"
    make -s -C "$PGC_TOP" install PG_CONFIG="$PGC_SYSTEM_PG_CONFIG" >/dev/null
  else
    echo "== make install (not root: into a private copy of PostgreSQL $PG_MAJOR under .pgtmp/demo)"
    pgc_private_tree "$PGC_TOP/.pgtmp/demo" && make -s -C "$PGC_TOP" install PG_CONFIG="$PGC_PG_CONFIG" >/dev/null
  fi
}

# pgc_demo_dir: print a new temporary directory the server's OS user can
# reach even when the checkout lives under /root (pgc_as_owner runs the
# server's commands from /).
pgc_demo_dir() {
  local d
  d=$(mktemp -d "${TMPDIR:-/tmp}/containers_vreg-demo.XXXXXX") && chmod 755 "$d" && echo "$d"
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
  case $dir in "$PGC_TOP"/.pgtmp|"$PGC_TOP"/.pgtmp/*) pgc_scratch || return 1 ;; esac
  dir=$(pgc_physical "$dir") || return 1
  rm -rf "$dir/data" "$dir/sock" "$dir/server.log"
  mkdir -p "$dir/data" "$dir/sock"
  if [ "$(id -u)" -eq 0 ]; then chown "$PGC_OWNER": "$dir" "$dir/data" "$dir/sock"; fi
  chmod 700 "$dir/data"
  if ! pgc_owner_can_enter "$dir/data"; then
    echo "pgcluster: the server's OS user ($PGC_OWNER) cannot enter $dir/data" >&2
    return 1
  fi
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

# Remove .pgtmp (and its temporary directory), unless a server still runs
# from it: that one is named, with the command that stops it.
pgc_clean_scratch() {
  local link="$PGC_TOP/.pgtmp" dir pidfile pid live=0
  [ -e "$link" ] || [ -L "$link" ] || return 0
  dir=$(cd "$link" 2>/dev/null && pwd -P) || dir=
  if [ -n "$dir" ]; then
    while IFS= read -r pidfile; do
      pid=$(head -1 "$pidfile" 2>/dev/null)
      if [ -n "$pid" ] && [ -d "/proc/$pid" ]; then
        live=1
        echo "not removing $link: a server runs from $(dirname "$pidfile")" >&2
        echo "  stop it: $( [ "$(id -u)" -eq 0 ] && echo "runuser -u $PGC_OWNER -- ")pg_ctl -D $(dirname "$pidfile") stop" >&2
      fi
    done < <(find "$dir" -name postmaster.pid -path '*/data/postmaster.pid' 2>/dev/null)
  fi
  [ "$live" -eq 0 ] || return 1
  if [ -L "$link" ]; then
    case $dir in */containers_vreg.*) rm -rf "$dir" ;; esac
    rm -f "$link"
  else
    rm -rf "$link"
  fi
}
