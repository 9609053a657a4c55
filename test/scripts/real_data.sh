#!/usr/bin/env bash
# Replays the full real-data file ../shared/data/oci-pulls/official-images.tsv
# (when present next to the repository) through the demo and checks the
# counts its README states against what the cache holds. Skips when the file
# is not there, or when the request path does not exist yet.
set -uo pipefail
cd "${TOP:?TOP must be the repository root}"
DATA="$TOP/../shared/data/oci-pulls/official-images.tsv"
if [ ! -r "$DATA" ]; then
  echo "ok 1 # SKIP shared data not present: put official-images.tsv in ../shared/data/oci-pulls/ next to the checkout to run it"; exit 0
fi
PSQL=("$PGC_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1)
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
DB=vreg_real_data

"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" || exit 1
"${PSQL[@]}" -d "$DB" -c "CREATE EXTENSION containers_vreg" || exit 1
if [ "$("${PSQL[@]}" -d "$DB" -c "SELECT to_regprocedure('containers_vreg.resolve(bigint,bigint,text)') IS NULL")" = t ]; then
  echo "ok 1 # SKIP containers_vreg.resolve does not exist yet"
  "${PSQL[@]}" -d postgres -c "DROP DATABASE $DB"
  exit 0
fi
if ! bash scripts/demo_trace.sh --no-cluster --dbname "$DB" --trace "$DATA" --quiet; then
  echo "not ok 1 - replay of official-images.tsv"; exit 1
fi
echo "ok 1 - replay of official-images.tsv"

n=1
check() {  # description, expected, sql
  n=$((n + 1))
  local got
  got=$("${PSQL[@]}" -d "$DB" -c "$3" 2>&1)
  if [ "$got" = "$2" ]; then echo "ok $n - $1"; else echo "not ok $n - $1: expected '$2', got '$got'"; fi
}
q_live="FROM containers_vreg.cache_entries WHERE group_id = 42 AND status = 0"

# The numbers of ../shared/data/oci-pulls/README.md ("Counts").
check "1247 data rows: 26 tags, 308 platform manifests, 913 blobs" "1247|26|308|913" \
  "SELECT count(*), count(*) FILTER (WHERE kind = 'tag_manifest'), count(*) FILTER (WHERE kind = 'platform_manifest'),
          count(*) FILTER (WHERE kind = 'blob') FROM vreg_demo.trace"
check "1223 distinct request paths, all requested in pass 1" "1223" \
  "SELECT count(DISTINCT path) FROM vreg_demo.requests WHERE pass = 1"
check "889 distinct (repository, blob digest) pairs in the requests" "889" \
  "SELECT count(*) FROM (SELECT DISTINCT repository, digest FROM vreg_demo.trace WHERE kind = 'blob') d"
check "the cache holds 26 tag manifests, 308 manifests by digest and 855 blobs (one per distinct blob digest)" \
  "1189|26|308|855" \
  "SELECT count(*), count(*) FILTER (WHERE relative_path ~ '/manifests/[^/:]+\$'),
          count(*) FILTER (WHERE relative_path ~ '/manifests/[^/]+:'), count(*) FILTER (WHERE relative_path ~ '/blobs/') $q_live"
check "the cached blobs add up to 17,788,652,983 bytes (total size of the distinct blobs)" "17788652983" \
  "SELECT sum(size) $q_live AND relative_path ~ '/blobs/'"
check "the 2 debian tags share one digest: 1188 distinct digests among 1189 entries" "1188" \
  "SELECT count(DISTINCT digest) $q_live"
check "pass 1: 58 blob hits = 24 repeated rows + 34 layers already cached under another repository" "58|24|34" \
  "SELECT count(*) FILTER (WHERE result = 'hit'), 913 - 889, 889 - 855 FROM vreg_demo.requests WHERE pass = 1 AND kind = 'blob'"
check "pass 1: 1189 misses, pass 2: 1247 hits, pass 3: 26 stale tag manifests and 1221 hits" \
  "1|1247|58|0|1189
2|1247|1247|0|0
3|1247|1221|26|0" \
  "SELECT pass, requests, hits, stale, misses FROM vreg_demo.passes ORDER BY pass"
check "pass 3: only tag manifests are stale" "0" \
  "SELECT count(*) FROM vreg_demo.requests WHERE pass = 3 AND result = 'stale' AND kind <> 'tag_manifest'"

"${PSQL[@]}" -d postgres -c "DROP DATABASE $DB"
