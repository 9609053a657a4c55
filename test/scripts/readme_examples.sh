#!/usr/bin/env bash
# Every SQL example of the README runs as written, in order, on a fresh
# cluster, and shows what it really returns (test/scripts/readme_blocks.py
# says exactly what runs and what is checked).
#
# The environment is what the README's shell steps set up:
#   * a fresh cluster ("main") with a keyring holding key 1 only (the README's
#     key setup), named by containers_vreg.keyring_file; the examples run in
#     its database vreg, which starts without the extension (the README's
#     first block creates it);
#   * scale-out, if PL/Proxy is installed: shard 0 is the database shard0 of
#     the main cluster, shard 1 the database vreg of a second cluster with the
#     same keyring, and the router the database router of that second
#     cluster (roles are per cluster, and no role name of the README is
#     created twice on one cluster, so two clusters stand for three servers).
#     The README's router block names the shards "host=shard0 dbname=vreg"
#     and "host=shard1 dbname=vreg"; those two connection strings are the only
#     text this test changes.
#
# Needs PGC_BINDIR with containers_vreg installed (make test's private tree).
set -uo pipefail
: "${PGC_BINDIR:?run from test/run_all.sh (or set PGC_BINDIR to a tree with containers_vreg installed)}"
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$TOP"
. scripts/pgcluster.sh
. test/scripts/credentials_lib.bash

# The scratch directory's physical path: the servers, running as postgres,
# may not be able to enter the checkout (scripts/pgcluster.sh).
[ -n "${PGC_SCRATCH:-}" ] || pgc_scratch || { echo "Bail out! no scratch directory"; exit 1; }
BASE=$PGC_SCRATCH/readme
started=()
stop_all() { local d; for d in "${started[@]}"; do PGC_DIR=$d pgc_stop; done; }
trap stop_all EXIT
die() { echo "Bail out! $*"; exit 1; }

declare -A HOST PORT
KEYRING=$BASE/keyring
start_server() {  # $1: name
  pgc_init "$BASE/$1" || return 1
  pgc_conf "containers_vreg.keyring_file = '$KEYRING'"
  pgc_startonly || return 1
  started+=("$PGC_DIR")
  HOST[$1]=$PGHOST
  PORT[$1]=$PGPORT
}
createdb_on() {  # $1: server, $2: database
  "$PGC_BINDIR/psql" -X -q -h "${HOST[$1]}" -p "${PORT[$1]}" -U postgres -d postgres \
    -v ON_ERROR_STOP=1 -c "CREATE DATABASE $2" >/dev/null
}

mkdir -p "$BASE"
if [ "$(id -u)" -eq 0 ]; then chown "${PGC_OWNER:-postgres}": "$BASE"; fi
pgc_write_keyring "$KEYRING" 1

start_server main || die "could not start the main cluster"
createdb_on main vreg || die "createdb vreg"
args=(--psql "$PGC_BINDIR/psql" --target "main=${HOST[main]}:${PORT[main]}:vreg")

if [ -e "$("$PGC_PG_CONFIG" --pkglibdir)/plproxy.so" ]; then
  start_server second || die "could not start the second cluster"
  createdb_on main shard0 && createdb_on second vreg && createdb_on second router || die "createdb"
  args+=(--target "shards=${HOST[main]}:${PORT[main]}:shard0,${HOST[second]}:${PORT[second]}:vreg"
         --target "router=${HOST[second]}:${PORT[second]}:router"
         --subst "host=shard0 dbname=vreg" "host=127.0.0.1 port=${PORT[main]} dbname=shard0"
         --subst "host=shard1 dbname=vreg" "host=127.0.0.1 port=${PORT[second]} dbname=vreg")
else
  args+=(--skip "shards=PL/Proxy is not installed" --skip "router=PL/Proxy is not installed")
fi

/usr/bin/python3 test/scripts/readme_blocks.py README.md "${args[@]}"
