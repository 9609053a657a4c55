#!/usr/bin/env bash
# What containers_vreg needs to build, demo and test.
#
#   scripts/deps.sh [build|demo|demo-trace|test|e2e|bench|soak|fuzz|all]   (default: all)
#
# Checks for the commands, headers and server files themselves, so it is a
# quiet no-op wherever they are present, whatever the system. Only when
# something is missing, and apt-get exists, and we are root, it installs the
# Debian packages that provide them; otherwise it prints what is missing and
# exits 1 if the target cannot work without it (optional things, such as
# clang for the fuzz smoke test, are only reported: their tests skip).
#
#   build  make, a C compiler, pg_config, the server headers, libsodium
#   demo-trace  build + initdb, pg_ctl, postgres, psql (+ runuser and a
#          postgres OS user when run as root: the server never runs as root)
#   demo   demo-trace + the tools of its real pulls: docker-registry, skopeo,
#          curl, Debian's python3 with psycopg
#   test   demo-trace + pg_regress, pg_isolation_regress, pgbench, pg_dump,
#          pg_restore, pgrep, PL/Proxy; optional: clang with libFuzzer
#   bench  demo-trace + pgbench; optional: pgcrypto, gnuplot
#   soak   demo-trace + pgbench, pgrep
#   e2e    demo + pg_basebackup and the end-to-end tools: htpasswd, and
#          Debian's python3 with jwt and cryptography (the token server of
#          the bearer-token checks)
#   fuzz   clang with libFuzzer
#   all    everything above
set -uo pipefail
target=${1:-all}
case $target in build|demo|demo-trace|test|e2e|bench|soak|fuzz|all) ;; *)
  echo "usage: $0 [build|demo|demo-trace|test|e2e|bench|soak|fuzz|all]" >&2; exit 2 ;;
esac

PG_MAJOR=${PG_MAJOR:-15}
find_pg_config() {
  if [ -n "${PG_CONFIG:-}" ] && [ "$PG_CONFIG" != pg_config ]; then echo "$PG_CONFIG"
  elif [ -x "/usr/lib/postgresql/$PG_MAJOR/bin/pg_config" ]; then echo "/usr/lib/postgresql/$PG_MAJOR/bin/pg_config"
  else command -v pg_config; fi
}
CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || CC=gcc
CLANG=${CLANG:-clang}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

locate_pg() {
  pgc=$(find_pg_config) bindir= pgxs=
  if [ -n "$pgc" ]; then
    bindir=$("$pgc" --bindir 2>/dev/null); pgxs=$(dirname "$("$pgc" --pgxs 2>/dev/null)")/../..
  fi
}

# probe NAME: 0 when present
probe() {
  case $1 in
    make) command -v make ;;
    cc) command -v "$CC" ;;
    pg_config) [ -n "$pgc" ] && "$pgc" --version ;;
    server-headers) [ -n "$pgc" ] && [ -r "$("$pgc" --includedir-server)/postgres.h" ] ;;
    libsodium)
      printf '#include <sodium.h>\nint main(void) { return sodium_init(); }\n' > "$work/s.c"
      "$CC" "$work/s.c" -o "$work/s" -lsodium ;;
    initdb|pg_ctl|postgres|psql|pgbench|pg_dump|pg_restore|pg_basebackup) [ -n "$pgc" ] && [ -x "$bindir/$1" ] ;;
    docker-registry|skopeo|htpasswd|curl) command -v "$1" ;;
    psycopg) /usr/bin/python3 -c 'import psycopg' ;;
    python3-jwt) /usr/bin/python3 -c 'import jwt' ;;
    python3-cryptography) /usr/bin/python3 -c 'import cryptography' ;;
    pg_regress) [ -n "$pgc" ] && [ -x "$pgxs/src/test/regress/pg_regress" ] ;;
    pg_isolation_regress) [ -n "$pgc" ] && [ -x "$pgxs/src/test/isolation/pg_isolation_regress" ] ;;
    plproxy|pgcrypto) [ -n "$pgc" ] && [ -r "$("$pgc" --sharedir)/extension/$1.control" ] ;;
    runuser) [ "$(id -u)" -ne 0 ] || command -v runuser ;;
    postgres-user) [ "$(id -u)" -ne 0 ] || id postgres ;;
    pgrep) command -v pgrep ;;
    gnuplot) command -v gnuplot ;;
    libfuzzer)
      command -v "$CLANG" || return 1
      printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }\n' > "$work/f.c"
      "$CLANG" -fsanitize=fuzzer,address,undefined "$work/f.c" -o "$work/f" ;;
  esac
} >/dev/null 2>&1

# The Debian package that provides NAME.
package() {
  case $1 in
    make) echo make ;;
    cc) echo gcc ;;
    pg_config|server-headers|pg_regress) echo "postgresql-server-dev-$PG_MAJOR" ;;
    libsodium) echo libsodium-dev ;;
    initdb|pg_ctl|postgres|pgbench|pgcrypto|postgres-user) echo "postgresql-$PG_MAJOR" ;;
    psql|pg_dump|pg_restore|pg_basebackup|pg_isolation_regress) echo "postgresql-client-$PG_MAJOR" ;;
    docker-registry|skopeo|curl) echo "$1" ;;
    htpasswd) echo apache2-utils ;;
    psycopg) echo python3-psycopg ;;
    python3-jwt|python3-cryptography) echo "$1" ;;
    plproxy) echo "postgresql-$PG_MAJOR-plproxy" ;;
    runuser) echo util-linux ;;
    pgrep) echo procps ;;
    gnuplot) echo gnuplot-nox ;;
    libfuzzer) echo clang "libclang-rt-$( (clang --version 2>/dev/null || echo 'version 14') | sed -n 's/.*version \([0-9]*\).*/\1/p' | head -1)-dev" ;;
  esac
}

# What NAME is for, when it is optional.
why() {
  case $1 in
    libfuzzer) echo "the fuzz tests are skipped" ;;
    docker-registry|skopeo|htpasswd|curl|psycopg|pg_basebackup) echo "the end-to-end pulls and the demo's real pulls are skipped" ;;
    python3-jwt|python3-cryptography) echo "the end-to-end bearer-token checks are skipped" ;;
    gnuplot) echo "make bench draws no plot" ;;
    pgcrypto) echo "make bench skips the pgcrypto comparison" ;;
  esac
}

build="make cc pg_config server-headers libsodium"
server="initdb pg_ctl postgres psql runuser postgres-user"
required= optional=
case $target in
  build) required=$build ;;
  demo)  required="$build $server docker-registry skopeo curl psycopg" ;;
  demo-trace) required="$build $server" ;;
  test)  required="$build $server pg_regress pg_isolation_regress pgbench pg_dump pg_restore pgrep plproxy"; optional="libfuzzer docker-registry skopeo htpasswd curl psycopg python3-jwt python3-cryptography pg_basebackup" ;;
  e2e)   required="$build $server docker-registry skopeo htpasswd curl psycopg python3-jwt python3-cryptography pg_basebackup" ;;
  bench) required="$build $server pgbench"; optional="pgcrypto gnuplot" ;;
  soak)  required="$build $server pgbench pgrep" ;;
  fuzz)  required="libfuzzer" ;;
  all)   required="$build $server pg_regress pg_isolation_regress pgbench pg_dump pg_restore pgrep plproxy"
         optional="libfuzzer pgcrypto gnuplot docker-registry skopeo htpasswd curl psycopg python3-jwt python3-cryptography pg_basebackup" ;;
esac

check() {
  missing_req=() missing_opt=()
  local n
  locate_pg
  for n in $required; do probe "$n" || missing_req+=("$n"); done
  for n in $optional; do probe "$n" || missing_opt+=("$n"); done
}
packages_for() {
  local n
  for n in "$@"; do package "$n"; done | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/ $//'
}
# label NAME...: what they are, comma-separated
label() {
  local n out=()
  for n in "$@"; do
    case $n in
      cc) out+=("a C compiler ($CC)") ;;
      server-headers) out+=("the PostgreSQL server headers (postgres.h)") ;;
      libsodium) out+=("libsodium (sodium.h, -lsodium)") ;;
      postgres-user) out+=("a postgres OS user") ;;
      plproxy) out+=("PL/Proxy") ;;
      libfuzzer) out+=("clang with libFuzzer") ;;
      psycopg) out+=("psycopg for /usr/bin/python3") ;;
      python3-jwt) out+=("jwt for /usr/bin/python3") ;;
      python3-cryptography) out+=("cryptography for /usr/bin/python3") ;;
      *) out+=("$n") ;;
    esac
  done
  local IFS=,; echo "${out[*]}" | sed 's/,/, /g'
}
check
[ ${#missing_req[@]} -eq 0 ] && [ ${#missing_opt[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  pkgs=$(packages_for "${missing_req[@]}" "${missing_opt[@]}")
  echo "containers_vreg: missing $(label "${missing_req[@]}" "${missing_opt[@]}"); installing $pkgs"
  export DEBIAN_FRONTEND=noninteractive
  # postgresql-common would create and start a 'main' cluster; only the binaries are wanted.
  mkdir -p /etc/postgresql-common
  if ! grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf; then
    echo 'create_main_cluster = false' >> /etc/postgresql-common/createcluster.conf
  fi
  # docker-registry's package would start a system registry on port 5000; the
  # tests start their own on free loopback ports, so no service starts here.
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod 755 "$policy"
    trap 'rm -rf "$work" "$policy"' EXIT
  fi
  apt-get update -qq && apt-get install -y -qq $pkgs >/dev/null
  check
fi

for n in "${missing_opt[@]}"; do
  echo "containers_vreg: optional, not found: $(label "$n") ($(why "$n"); Debian: $(package "$n"))"
done
if [ ${#missing_req[@]} -gt 0 ]; then
  echo "containers_vreg: make $target needs, and did not find: $(label "${missing_req[@]}")" >&2
  if command -v apt-get >/dev/null 2>&1; then
    echo "  as root: apt-get install $(packages_for "${missing_req[@]}")   (or run make $target as root)" >&2
  else
    echo "  Debian packages, for reference: $(packages_for "${missing_req[@]}"); install the equivalents" >&2
    case " ${missing_req[*]} " in *" pg_config "*|*" initdb "*)
      echo "  (or point PG_CONFIG at the pg_config of the PostgreSQL to use)" >&2 ;;
    esac
  fi
  exit 1
fi
exit 0
