#!/usr/bin/env bash
# The `make demo` replay (scripts/demo.sh --no-cluster) against the running
# test cluster, on the shipped trace test/data/demo-trace.tsv, with exact
# numbers. Expected values come from the trace itself (awk) where they can,
# and from test/data/README.md where they need knowledge of the data (the 4
# requests answered by a digest cached under another image name).
set -uo pipefail
cd "${TOP:?TOP must be the repository root}"
PSQL=("$PGC_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1)
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
DB=vreg_demo_smoke
TRACE=test/data/demo-trace.tsv

"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" || exit 1
"${PSQL[@]}" -d "$DB" -c "CREATE EXTENSION containers_vreg" || exit 1
if [ "$("${PSQL[@]}" -d "$DB" -c "SELECT to_regprocedure('containers_vreg.resolve(bigint,bigint,text)') IS NULL")" = t ]; then
  echo "ok 1 # SKIP containers_vreg.resolve does not exist yet"
  "${PSQL[@]}" -d postgres -c "DROP DATABASE $DB"
  exit 0
fi

if ! bash scripts/demo.sh --no-cluster --dbname "$DB" --trace "$TRACE" --quiet; then
  echo "not ok 1 - demo replay of $TRACE"; exit 1
fi
echo "ok 1 - demo replay of $TRACE"

n=1
check() {  # description, expected, sql
  n=$((n + 1))
  local got
  got=$("${PSQL[@]}" -d "$DB" -c "$3" 2>&1)
  if [ "$got" = "$2" ]; then echo "ok $n - $1"; else echo "not ok $n - $1: expected '$2', got '$got'"; fi
}

# from the trace file
rows=$(awk 'NR > 1' "$TRACE" | wc -l)
paths=$(awk -F'\t' 'NR > 1 { print $1 "/" ($3 == "blob" ? "blobs" : "manifests") "/" $2 }' "$TRACE" | sort -u | wc -l)
tags=$(awk -F'\t' 'NR > 1 && $3 == "tag_manifest" { print $1 "/" $2 }' "$TRACE" | sort -u | wc -l)
tag_rows=$(awk -F'\t' 'NR > 1 && $3 == "tag_manifest"' "$TRACE" | wc -l)
blob_bytes=$(awk -F'\t' 'NR > 1 && $3 == "blob" { print $4 "\t" $6 }' "$TRACE" | sort -u | awk -F'\t' '{ s += $2 } END { printf "%d", s }')
# test/data/README.md: traefik's two Alpine base layers and httpd's Debian
# base layer and 32-byte layer are cached already (under alpine and redis).
same_digest_other_name=4
misses=$((paths - same_digest_other_name))

check "the trace has 142 requests" "142" "SELECT count(*) FROM vreg_demo.trace"
check "pass 1 (cold): $rows requests, $((rows - misses)) hits, 0 stale, $misses misses" \
  "$rows|$((rows - misses))|0|$misses" "SELECT requests, hits, stale, misses FROM vreg_demo.passes WHERE pass = 1"
check "pass 1: every tag manifest is a miss once ($tags tags), its repeats are hits" \
  "$tags|$((tag_rows - tags))" \
  "SELECT count(*) FILTER (WHERE result = 'miss'), count(*) FILTER (WHERE result = 'hit') FROM vreg_demo.requests WHERE pass = 1 AND kind = 'tag_manifest'"
check "pass 1: debian:trixie's platform manifest and layer come from debian:latest's entries" "hit|hit" \
  "SELECT string_agg(q.result, '|' ORDER BY q.seq) FROM vreg_demo.requests q JOIN vreg_demo.trace t USING (seq)
    WHERE q.pass = 1 AND t.seq > (SELECT seq FROM vreg_demo.trace WHERE repository = 'library/debian' AND reference = 'trixie')
      AND t.seq <= (SELECT seq FROM vreg_demo.trace WHERE repository = 'library/debian' AND reference = 'trixie') + 2"
check "pass 1: the blob bytes fetched are each distinct layer once ($blob_bytes bytes)" "$blob_bytes" \
  "SELECT sum(bytes) FROM vreg_demo.requests WHERE pass = 1 AND kind = 'blob' AND result = 'miss'"
check "pass 2 (warm): all $rows requests are hits" "$rows|$rows|0|0|0" \
  "SELECT requests, hits, stale, misses, bytes_fetched FROM vreg_demo.passes WHERE pass = 2"
check "pass 3 (tags aged): stale exactly once per tag manifest ($tags), everything else hits" \
  "$rows|$((rows - tags))|$tags|0" "SELECT requests, hits, stale, misses FROM vreg_demo.passes WHERE pass = 3"
check "pass 3: only tag manifests are stale, each tag path once" "$tags|$tags|0" \
  "SELECT count(*), count(DISTINCT path), count(*) FILTER (WHERE kind <> 'tag_manifest') FROM vreg_demo.requests WHERE pass = 3 AND result = 'stale'"
check "the cache holds $misses live entries: $tags tag manifests, 27 manifests by digest, 76 blobs" \
  "$misses|$tags|27|76" \
  "SELECT count(*), count(*) FILTER (WHERE relative_path ~ '/manifests/[^/:]+\$'),
          count(*) FILTER (WHERE relative_path ~ '/manifests/[^/]+:'), count(*) FILTER (WHERE relative_path ~ '/blobs/')
     FROM containers_vreg.cache_entries WHERE group_id = 42 AND status = 0"
check "debian:latest and debian:trixie are two entries with one digest" "2|1" \
  "SELECT count(*), count(DISTINCT digest) FROM containers_vreg.cache_entries
    WHERE group_id = 42 AND relative_path IN ('/library/debian/manifests/latest', '/library/debian/manifests/trixie')"
check "a traefik layer resolves to the mirror's entry cached under alpine (position 1)" \
  "hit|1|/library/alpine/blobs/sha256:e2de96513ba9eb53b431787ec8a65cdde380ac4772a3e4c4b714dcfde2a102b5" \
  "SELECT result, position, relative_path FROM containers_vreg.resolve(42, (SELECT id FROM containers_vreg.registries WHERE group_id = 42),
     'library/traefik/blobs/sha256:e2de96513ba9eb53b431787ec8a65cdde380ac4772a3e4c4b714dcfde2a102b5')"
check "Docker-Hub-only images were fetched from position 2, the rest from the mirror" "1|89|2|25" \
  "SELECT string_agg(ru.position || '|' || c, '|' ORDER BY ru.position) FROM
     (SELECT upstream_id, count(*) AS c FROM vreg_demo.requests WHERE pass = 1 AND result = 'miss' GROUP BY 1) m
     JOIN containers_vreg.registry_upstreams ru ON ru.group_id = 42 AND ru.upstream_id = m.upstream_id"
check "after flush_downloads, every hit and stale hit is counted once" \
  "$(( (rows - misses) + rows + rows ))" \
  "SELECT sum(downloads_count) FROM containers_vreg.cache_entries WHERE group_id = 42"

"${PSQL[@]}" -d postgres -c "DROP DATABASE $DB"
