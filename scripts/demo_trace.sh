#!/usr/bin/env bash
# `make demo-trace` (and `make demo TRACE=FILE`): install containers_vreg,
# start a throwaway PostgreSQL, and replay a trace of real image pulls the way
# a registry service would, in PL/pgSQL (scripts/demo.sql). `make demo`
# itself pulls real images through the reference service (scripts/demo.sh).
#
#   scripts/demo_trace.sh [--trace FILE]
#       as root: `make install` into the system PostgreSQL 15 tree; otherwise
#       into a private copy of it under .pgtmp/demo (nothing to install as
#       root). Starts a cluster in a temporary directory (under ${TMPDIR:-/tmp},
#       which the server's OS user can enter wherever the checkout is), stops
#       and removes it at the end.
#   scripts/demo_trace.sh --no-cluster --dbname DB [--trace FILE] [--quiet]
#       replay into an existing database (PGHOST/PGPORT/PGUSER of a running
#       server where the extension is installable); used by the tests.
#
# FILE has the 7-column format of test/data/demo-trace.tsv (header line
# first); see test/data/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
TOP=$(pwd)

TRACE=test/data/demo-trace.tsv
CLUSTER=1
DBNAME=demo
QUIET=0
GROUP_ID=42
while [ $# -gt 0 ]; do
  case "$1" in
    --trace) TRACE=${2:?--trace needs a file}; shift 2 ;;
    --no-cluster) CLUSTER=0; shift ;;
    --dbname) DBNAME=${2:?--dbname needs a name}; shift 2 ;;
    --quiet) QUIET=1; shift ;;
    *) echo "usage: $0 [--trace FILE] [--no-cluster --dbname DB] [--quiet]" >&2; exit 2 ;;
  esac
done

HEADER=$'repository\treference\tkind\tdigest\tmedia_type\tsize_bytes\tplatform'
if [ ! -r "$TRACE" ]; then
  echo "demo: cannot read trace file $TRACE" >&2; exit 1
fi
if [ "$(head -n 1 "$TRACE" | tr -d '\r')" != "$HEADER" ]; then
  echo "demo: $TRACE is not a trace file: its first line must be the header" >&2
  echo "      $(printf '%s' "$HEADER" | tr '\t' ' ')  (tab-separated)" >&2
  exit 1
fi

. scripts/pgcluster.sh
say() { [ "$QUIET" -eq 1 ] || echo "$@"; }

if [ "$CLUSTER" -eq 1 ]; then
  pgc_demo_install
  DEMO_DIR=$(pgc_demo_dir)
  cleanup() { pgc_stop; rm -rf "$DEMO_DIR"; }
  trap cleanup EXIT
  say "== throwaway cluster"
  pgc_init "$DEMO_DIR" >/dev/null
  pgc_startonly
  say "   PostgreSQL $("$PGC_BINDIR/postgres" --version | awk '{print $3}') on port $PGPORT, socket in $PGHOST"
fi

PSQL=("$PGC_BINDIR/psql" -X -q -v ON_ERROR_STOP=1)
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
# shorten sha256 digests in printed paths: sha256:e2de96513ba9...
short() { echo "regexp_replace($1, '(sha256:[0-9a-f]{12})[0-9a-f]+', '\\1...')"; }
"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DBNAME" -c "CREATE DATABASE $DBNAME" >/dev/null
"${PSQL[@]}" -d "$DBNAME" -c "CREATE EXTENSION containers_vreg" >/dev/null
if [ "$("${PSQL[@]}" -d "$DBNAME" -At -c "SELECT to_regprocedure('containers_vreg.resolve(bigint,bigint,text)') IS NULL")" = t ]; then
  echo "demo: this build of containers_vreg has no request path (containers_vreg.resolve) yet" >&2
  exit 1
fi
"${PSQL[@]}" -d "$DBNAME" -f scripts/demo.sql >/dev/null
tail -n +2 "$TRACE" | tr -d '\r' | "${PSQL[@]}" -d "$DBNAME" -c \
  "\\copy vreg_demo.trace (repository, reference, kind, digest, media_type, size_bytes, platform) FROM STDIN"
q() { "${PSQL[@]}" -d "$DBNAME" -At -c "$1"; }

ROWS=$(q "SELECT count(*) FROM vreg_demo.trace")
REGISTRY=$(q "SELECT vreg_demo.setup($GROUP_ID)")
say "== group $GROUP_ID, registry $REGISTRY; upstreams in position order:"
[ "$QUIET" -eq 1 ] || "${PSQL[@]}" -d "$DBNAME" -c "
  SELECT ru.position, u.id AS upstream, u.url, u.name, u.cache_validity_hours AS validity_hours,
         (SELECT string_agg(replace(c.repository, 'library/', ''), ' ' ORDER BY c.repository)
            FROM vreg_demo.catalog c WHERE c.url = u.url) AS \"has (simulated)\"
    FROM containers_vreg.registry_upstreams ru
    JOIN containers_vreg.upstreams u ON u.group_id = ru.group_id AND u.id = ru.upstream_id
   WHERE ru.group_id = $GROUP_ID AND ru.registry_id = $REGISTRY ORDER BY ru.position"

say "== replaying $ROWS requests from $TRACE"
say "   pass 1: cold cache"
q "SELECT vreg_demo.replay($GROUP_ID, $REGISTRY, 1)" >/dev/null
say "   pass 2: warm cache"
q "SELECT vreg_demo.replay($GROUP_ID, $REGISTRY, 2)" >/dev/null
AGED=$(q "SELECT vreg_demo.age_tag_manifests($GROUP_ID)")
say "   pass 3: warm, after $AGED tag manifests were last checked longer ago than their validity"
q "SELECT vreg_demo.replay($GROUP_ID, $REGISTRY, 3)" >/dev/null
FLUSHED=$(q "SELECT containers_vreg.flush_downloads()")
say "   flush_downloads(): $FLUSHED entries updated"

[ "$QUIET" -eq 1 ] && exit 0

show() { echo; echo "-- $1"; "${PSQL[@]}" -d "$DBNAME" -c "$2"; }

show "requests per pass (bytes served from the cache against bytes fetched from upstreams)" "
  SELECT pass, requests, hits, stale, misses,
         pg_size_pretty(bytes_from_cache) AS from_cache,
         pg_size_pretty(bytes_fetched) AS fetched
    FROM vreg_demo.passes ORDER BY pass"

show "pass 1 by kind: why a cold cache still has hits (the same path again, or the same digest under another image name)" "
  SELECT kind, count(*) AS requests,
         count(*) FILTER (WHERE result = 'hit') AS hits,
         count(*) FILTER (WHERE result = 'miss') AS misses,
         pg_size_pretty(sum(bytes) FILTER (WHERE result = 'hit')) AS from_cache,
         pg_size_pretty(sum(bytes) FILTER (WHERE result = 'miss')) AS fetched
    FROM vreg_demo.requests WHERE pass = 1 GROUP BY kind ORDER BY kind DESC"

show "which upstream fetched (pass 1 misses) and served (all hits)" "
  SELECT ru.position, u.url,
         count(*) FILTER (WHERE q.result = 'miss') AS fetches,
         pg_size_pretty(coalesce(sum(q.bytes) FILTER (WHERE q.result = 'miss'), 0)) AS fetched,
         count(*) FILTER (WHERE q.result <> 'miss') AS served_from_cache
    FROM vreg_demo.requests q
    JOIN containers_vreg.upstreams u ON u.group_id = $GROUP_ID AND u.id = q.upstream_id
    JOIN containers_vreg.registry_upstreams ru
      ON ru.group_id = u.group_id AND ru.upstream_id = u.id AND ru.registry_id = $REGISTRY
   GROUP BY ru.position, u.url ORDER BY ru.position"

show "the cache: entries per partition (one group lives in one partition)" "
  SELECT tableoid::regclass AS partition, count(*) AS entries,
         count(*) FILTER (WHERE relative_path ~ '/manifests/[^/:]+\$') AS tag_manifests,
         count(*) FILTER (WHERE relative_path ~ '/manifests/[^/]+:') AS digest_manifests,
         count(*) FILTER (WHERE relative_path ~ '/blobs/') AS blobs,
         count(DISTINCT digest) AS distinct_digests,
         pg_size_pretty(sum(size)) AS stored
    FROM containers_vreg.cache_entries WHERE group_id = $GROUP_ID AND status = 0
   GROUP BY 1 ORDER BY 1"

show "example resolve() calls (what the service asks on each request)" "
  SELECT $(short x.asked) AS asked, r.result, r.entry_id AS entry, r.position,
         $(short r.relative_path) AS relative_path, r.size, $(short r.digest) AS digest
    FROM (VALUES
      (1, 'library/debian/manifests/trixie'),
      (2, 'library/debian/manifests/latest'),
      (3, (SELECT path FROM vreg_demo.requests WHERE pass = 1 AND path LIKE 'library/traefik/blobs/%' AND result = 'hit' ORDER BY seq LIMIT 1)),
      (4, 'library/hello-world/manifests/linux'),
      (5, 'library/not-in-the-trace/manifests/latest')) AS x(n, asked),
    LATERAL containers_vreg.resolve($GROUP_ID, $REGISTRY, x.asked) r
   WHERE x.asked IS NOT NULL
   ORDER BY x.n"

show "most downloaded entries (after flush_downloads)" "
  SELECT $(short relative_path) AS relative_path, downloads_count, pg_size_pretty(size) AS size
    FROM containers_vreg.cache_entries WHERE group_id = $GROUP_ID AND status = 0
   ORDER BY downloads_count DESC, relative_path LIMIT 5"

echo
echo "The cluster is stopped and removed now. Replay another trace: make demo TRACE=<file>; real pulls: make demo"
