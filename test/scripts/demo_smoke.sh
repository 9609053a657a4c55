#!/usr/bin/env bash
# `make demo`, both modes, with exact values.
#
# Real pulls (scripts/demo.sh --installed, its own cluster, upstreams and
# service): each pull's summary line, against the image layout that
# test/e2e/make-images writes (digests, objects per image). Skipped when the
# end-to-end tools are missing, as test/scripts/e2e.sh is.
#
# The trace replay (scripts/demo_trace.sh --no-cluster) against the running
# test cluster, on the shipped trace test/data/demo-trace.tsv. Expected values
# come from the trace itself (awk) where they can, and from
# test/data/README.md where they need knowledge of the data (the 4 requests
# answered by a digest cached under another image name).
set -uo pipefail
cd "${TOP:?TOP must be the repository root}"
PSQL=("$PGC_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1)
export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
DB=vreg_demo_smoke
TRACE=test/data/demo-trace.tsv

# -- real pulls -------------------------------------------------------------------
n=0
tools=yes
for tool in docker-registry skopeo curl; do command -v "$tool" >/dev/null 2>&1 || tools="no $tool"; done
/usr/bin/python3 -c 'import psycopg' 2>/dev/null || tools="no python3-psycopg"
if [ "$tools" != yes ]; then
  n=$((n + 1)); echo "ok $n - make demo's real pulls # SKIP $tools (make deps)"
else
  out=$(timeout 300 bash scripts/demo.sh --installed 2>&1); rc=$?
  n=$((n + 1))
  if [ "$rc" -eq 0 ]; then echo "ok $n - make demo (scripts/demo.sh --installed) exits 0"
  else echo "not ok $n - make demo exits $rc"; tail -30 <<<"$out" | sed 's/^/#   /'; fi
  layout=$(mktemp -d)
  /usr/bin/python3 test/e2e/make-images "$layout/oci" --big-mib 1
  # per tag: "<tag> <manifest digest> <objects: manifest + config + layers>"
  declare -A digest objects
  while read -r tag d k; do digest[$tag]=$d; objects[$tag]=$k; done < <(/usr/bin/python3 - "$layout/oci" <<'PY'
import json, sys
root = sys.argv[1]
for m in json.load(open(root + "/index.json"))["manifests"]:
    body = json.load(open(root + "/blobs/sha256/" + m["digest"][7:]))
    print(m["annotations"]["org.opencontainers.image.ref.name"], m["digest"], 2 + len(body.get("layers", [])))
PY
)
  rm -rf "$layout"
  pull_line() { sed -n "/^-- pull $1:/,/summary:/p" <<<"$out" | sed -n 's/^ *summary: //p'; }
  req_line() { sed -n "/^-- pull $1:/,/summary:/p" <<<"$out" | sed -n 's/^ *requests that reached the upstreams (their access logs): //p'; }
  dcheck() { n=$((n + 1)); if [ "$2" = "$3" ]; then echo "ok $n - $1"; else echo "not ok $n - $1"; echo "#   expected: $3"; echo "#   got:      $2"; fi; }
  a=${objects[base-a]} b=${objects[base-b]} x=${objects[only2]} v2=${objects[retag-v2]}
  dcheck "pull 1, demo/app cold: all $a objects fetched from position 1, $a upstream requests" "$(pull_line 1)" \
    "objects $a, cache hits 0, fetched $a, upstream requests $a (position 1: $a, position 2: 0), digest ${digest[base-a]}"
  dcheck "pull 2, demo/tool cold: its base layer is a hit (demo/app's), $((b - 1)) fetched" "$(pull_line 2)" \
    "objects $b, cache hits 1, fetched $((b - 1)), upstream requests $((b - 1)) (position 1: $((b - 1)), position 2: 0), digest ${digest[base-b]}"
  dcheck "  the shared layer is listed as demo/app's entry" \
    "$(sed -n '/^-- pull 2:/,/summary:/p' <<<"$out" | grep -c 'cache hit (fetched earlier from position 1), the same digest cached for demo/app$')" 1
  dcheck "pull 3, demo/extra: position 1 answers 404 to each of its $x objects, position 2 serves them" \
    "$(pull_line 3) | $(req_line 3)" \
    "objects $x, cache hits 0, fetched $x, upstream requests $((2 * x)) (position 1: $x, position 2: $x), digest ${digest[only2]} | position 1: $x GET answered 404; position 2: $x GET answered 200"
  dcheck "pull 4, demo/app warm: $a hits, no upstream request" "$(pull_line 4)" \
    "objects $a, cache hits $a, fetched 0, upstream requests 0 (position 1: 0, position 2: 0), digest ${digest[base-a]}"
  dcheck "pull 5, after the re-push with validity 24: the old digest, no upstream request" "$(pull_line 5)" \
    "objects $a, cache hits $a, fetched 0, upstream requests 0 (position 1: 0, position 2: 0), digest ${digest[base-a]}"
  dcheck "pull 6, validity 0: the new digest; one HEAD finds the change, $v2 GETs fetch it" \
    "$(pull_line 6) | $(req_line 6)" \
    "objects $v2, cache hits 0, fetched $v2, upstream requests $((v2 + 1)) (position 1: $((v2 + 1)), position 2: 0), digest ${digest[retag-v2]} | position 1: $v2 GET answered 200, 1 HEAD answered 200; position 2: none"
  live=$((a + (b - 1) + x + v2 - 1))
  dcheck "at the end: $live live entries and as many objects (the replaced manifest's object deleted)" \
    "$(sed -n 's/^live entries: \([0-9]*\), objects in storage: \([0-9]*\) .*/\1 \2/p' <<<"$out")" "$live $live"
  demo_dir=$(sed -n 's#.*(socket in \(.*\)/pg/sock)$#\1#p' <<<"$out")
  dcheck "everything it started is stopped and its directory removed" \
    "$([ -n "$demo_dir" ] && [ ! -e "$demo_dir" ] && echo removed)" removed
fi

# -- the trace replay --------------------------------------------------------------
"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" || exit 1
"${PSQL[@]}" -d "$DB" -c "CREATE EXTENSION containers_vreg" || exit 1
if [ "$("${PSQL[@]}" -d "$DB" -c "SELECT to_regprocedure('containers_vreg.resolve(bigint,bigint,text)') IS NULL")" = t ]; then
  echo "ok $((n + 1)) # SKIP containers_vreg.resolve does not exist yet"
  "${PSQL[@]}" -d postgres -c "DROP DATABASE $DB"
  exit 0
fi

n=$((n + 1))
if ! bash scripts/demo_trace.sh --no-cluster --dbname "$DB" --trace "$TRACE" --quiet; then
  echo "not ok $n - demo replay of $TRACE"; exit 1
fi
echo "ok $n - demo replay of $TRACE"

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
