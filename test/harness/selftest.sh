#!/usr/bin/env bash
# Harness self-test (test/run_all.sh runs it first): scripts/pgcluster.sh
# works from a checkout the server's OS user cannot enter, such as one in
# root's home (mode 0700 on Debian). A copy of it in a 0700 "home" builds a
# private PostgreSQL tree and starts a cluster the way make test does, from a
# working directory inside that home; then:
#   * the checkout's .pgtmp links to a directory outside the home;
#   * initdb of the private tree ran, as the server's OS user, and the server answers;
#   * no command complained about its working directory or a permission;
#   * pgc_clean_scratch (make clean) removes the link and its directory;
#   * in a checkout that user can enter, .pgtmp is a plain directory.
# As another user than root the server runs as that user, who can enter the
# checkout: nothing to test.
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
n=0
ok()     { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/#   /' <<<"$2"; }
check()  { if eval "$2"; then ok "$1"; else not_ok "$1" "${3:-}"; fi; }

if [ "$(id -u)" -ne 0 ]; then
  echo "ok 1 # SKIP not root: the server runs as this user, who can enter the checkout (run make test as root to test this)"
  exit 0
fi

base=$(mktemp -d "${PGC_SCRATCH:-${TMPDIR:-/tmp}}/selftest.XXXXXX")
chmod 755 "$base"
trap 'rm -rf "$base"' EXIT
home=$base/home
mkdir -p "$home/checkout/scripts" "$base/tmp"
chmod 700 "$home"
chmod 755 "$home/checkout" "$base/tmp"
cp "$TOP/scripts/pgcluster.sh" "$home/checkout/scripts/"

# in_checkout SCRIPT: run SCRIPT with bash, in the copy, with the system
# PostgreSQL (not make test's private tree) and a temporary directory of ours
in_checkout() {
  (cd "$home/checkout" && env -u PGC_BINDIR -u PGC_PG_CONFIG -u PGC_SCRATCH -u PGC_DIR \
     -u PGHOST -u PGPORT TMPDIR="$base/tmp" bash -c "$1" 2>&1)
}

out=$(in_checkout '
  . scripts/pgcluster.sh
  trap pgc_stop EXIT
  pgc_private_tree "$PGC_TOP/.pgtmp" || exit 1
  echo "link $(readlink "$PGC_TOP/.pgtmp")"
  echo "bindir $PGC_BINDIR"
  pgc_init "$PGC_TOP/.pgtmp/cluster" || exit 1
  pgc_startonly || exit 1
  echo "answer $("$PGC_BINDIR/psql" -X -At -d postgres -c "SELECT current_user || 42")"
  pgc_stop
  pgc_clean_scratch && echo cleaned
')
link=$(sed -n 's/^link //p' <<<"$out")
check "in an unreadable checkout, .pgtmp links to a directory outside it ($link)" \
  '[ -n "$link" ] && [[ $link == "$base/tmp/"* ]]' "$out"
check "the private tree is in that directory" \
  '[[ $(sed -n "s/^bindir //p" <<<"$out") == "$link/"* ]]' "$out"
check "initdb ran and the server, as postgres, answers" 'grep -qx "answer postgres42" <<<"$out"' "$out"
check "no command complained about its directory or a permission" \
  '! grep -qiE "could not change directory|permission denied|could not identify current directory" <<<"$out"' "$out"
check "pgc_clean_scratch removed the link and its directory" \
  'grep -qx cleaned <<<"$out" && [ ! -e "$home/checkout/.pgtmp" ] && [ ! -L "$home/checkout/.pgtmp" ] && [ -z "$(ls -A "$base/tmp")" ]' "$out"

chmod 755 "$home"
out=$(in_checkout '. scripts/pgcluster.sh && pgc_scratch && ls -ld "$PGC_TOP/.pgtmp" && pgc_clean_scratch')
check "in a checkout postgres can enter, .pgtmp is a plain directory" \
  'grep -q "^d" <<<"$out"' "$out"
check "and make clean removes it" '[ ! -e "$home/checkout/.pgtmp" ]' "$out"
