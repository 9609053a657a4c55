#!/usr/bin/env bash
# The 0.3.0 indexes of cache_entries built, and its byte-limit CHECK
# constraints on cache_entries and fetch_leases added and validated, before
# the update, without blocking writers (scripts/prebuild-0.3.0-indexes.sql),
# then adopted by ALTER EXTENSION containers_vreg UPDATE:
#   * writers run through the whole prebuild without an error;
#   * after it the constraints exist, validated, on every partition;
#   * the update keeps the prebuilt indexes and constraints (same OIDs),
#     builds nothing, reads no row of cache_entries or fetch_leases, and the
#     result defines every member exactly as a fresh 0.3.0 install;
#   * what the update locks and reads, with and without the prebuild;
#   * a constraint left not validated, or validated but defined otherwise,
#     is replaced by the update (and only that one);
#   * a row over a new byte limit stops the prebuild at its validation (the
#     constraint stays NOT VALID) and then the update (23514, still 0.2.0);
#   * a leftover invalid index (a failed concurrent build) is dropped and
#     built again, by the prebuild script and by the update alike;
#   * a parent index of another definition under the new name stops the
#     update (55000) and leaves the database at 0.2.0.
# Needs the shared test cluster (PGHOST/PGPORT).
set -uo pipefail
: "${PGC_BINDIR:?run from test/run_all.sh}"
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$TOP"
PSQL=("$PGC_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1)
WORK=$(mktemp -d); chmod 755 "$WORK"
WRITER=""
cleanup() { [ -n "$WRITER" ] && kill "$WRITER" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
n=0 fails=0
ok()     { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; [ -n "${2:-}" ] && sed 's/^/#   /' <<<"$2" | head -40; }
check()  { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "expected: $3
got:      $2"; fi; }

DB=vreg_prebuild
new_db() {  # a 0.2.0 database with 4 groups x 2 upstreams x 500 entries
  "${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
  "${PSQL[@]}" -d "$DB" >/dev/null <<'SQL'
CREATE EXTENSION containers_vreg VERSION '0.2.0';
INSERT INTO containers_vreg.upstreams (group_id, id, url)
SELECT g, g * 10 + k, 'https://mirror' || k || '.example.com' FROM generate_series(1, 4) g, generate_series(1, 2) k;
INSERT INTO containers_vreg.registries (group_id, id, name) SELECT g, g * 10, 'r' FROM generate_series(1, 4) g;
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id)
SELECT g, g * 10, g * 10 + k FROM generate_series(1, 4) g, generate_series(1, 2) k ORDER BY 1, 3;
SELECT count(containers_vreg.upsert_cache_entry(g, g * 10 + k,
         'img' || i % 7 || '/blobs/sha256:' || encode(sha256(int8send(i / 2)), 'hex'),
         100, 'f', decode(repeat('ab', 20), 'hex')))
  FROM generate_series(1, 4) g, generate_series(1, 2) k, generate_series(1, 500) i;
SQL
}
q() { "${PSQL[@]}" -d "$DB" -c "$1"; }
# OIDs of the new parent indexes and their partitions' indexes
new_oids() {
  q "SELECT string_agg(c.oid::text, ',' ORDER BY c.relname) FROM pg_class c
      WHERE c.relnamespace = 'containers_vreg'::regnamespace
        AND (c.relname IN ('cache_entries_live_path_upstream_key', 'cache_entries_live_digest_upstream_idx')
             OR c.relname ~ '_group_id_(relative_path|digest)_upstream_id_idx$')"
}
# what ALTER EXTENSION UPDATE holds on cache_entries and its partitions,
# then on fetch_leases, then how many sequential scans (index builds and
# constraint checks: each reads every row) it made of cache_entries'
# partitions and fetch_leases (rolled back)
update_locks() {
  "${PSQL[@]}" -d "$DB" <<'SQL'
BEGIN;
ALTER EXTENSION containers_vreg UPDATE;
SELECT string_agg(DISTINCT m.mode, ' ' ORDER BY m.mode)
  FROM (SELECT l.mode FROM pg_locks l
         WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation'
           AND l.relation IN (SELECT 'containers_vreg.cache_entries'::regclass
                              UNION ALL SELECT inhrelid FROM pg_inherits
                               WHERE inhparent = 'containers_vreg.cache_entries'::regclass)) m;
SELECT string_agg(DISTINCT l.mode, ' ' ORDER BY l.mode) FROM pg_locks l
 WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation'
   AND l.relation = 'containers_vreg.fetch_leases'::regclass;
SELECT sum(seq_scan) FROM pg_stat_xact_user_tables
 WHERE schemaname = 'containers_vreg' AND relname ~ '^(cache_entries_[0-9]+|fetch_leases)$';
ROLLBACK;
SQL
}
# the constraints' OIDs and validation, parent tables and partitions
con_oids() {
  q "SELECT string_agg(k.oid::text || ':' || k.convalidated, ',' ORDER BY k.conrelid::regclass::text, k.conname)
       FROM pg_constraint k
      WHERE k.conname IN ('cache_entries_relative_path_check', 'cache_entries_object_storage_key_check',
                          'fetch_leases_relative_path_check')"
}
con_state() {  # name|tables that have it|all validated
  q "SELECT conname || '|' || count(*) || '|' || bool_and(convalidated) FROM pg_constraint
      WHERE conname IN ('cache_entries_relative_path_check', 'cache_entries_object_storage_key_check',
                        'fetch_leases_relative_path_check')
      GROUP BY conname ORDER BY conname"
}
PREBUILT="cache_entries_live_digest_upstream_idx: valid
cache_entries_live_path_upstream_key: valid
cache_entries_object_storage_key_check: validated
cache_entries_relative_path_check: validated
fetch_leases_relative_path_check: validated"
members() { "${PSQL[@]}" -d "$1" -f test/sql-checks/extension_members.sql; }

"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS vreg_prebuild_fresh" -c "CREATE DATABASE vreg_prebuild_fresh" >/dev/null
"${PSQL[@]}" -d vreg_prebuild_fresh -c "CREATE EXTENSION containers_vreg" >/dev/null
members vreg_prebuild_fresh > "$WORK/fresh.txt"

# 1. the plain update: builds the indexes, under SHARE, and drops the old ones
new_db
# (other sections of the update take locks of their own: only SHARE, which
# only an index build takes here, is looked at)
locks=$(update_locks)
check "without a prebuild the update takes SHARE on cache_entries (the build), and ACCESS EXCLUSIVE" \
  "$(sed -n 1p <<<"$locks" | grep -ow 'ShareLock')|$(sed -n 1p <<<"$locks" | grep -ow 'AccessExclusiveLock')" "ShareLock|AccessExclusiveLock"
check "without a prebuild the update reads every partition 3 times (2 index builds, 1 check of both constraints) and fetch_leases once" \
  "$(sed -n 3p <<<"$locks")" "49"

# 2. prebuild with a writer running all along
cat > "$WORK/upsert.sql" <<'EOF'
\set g random(1, 4)
\set k random(1, 2)
\set i random(1, 600)
SELECT id FROM containers_vreg.upsert_cache_entry(:g, :g * 10 + :k, 'img' || :i % 7 || '/blobs/sha256:' || encode(sha256(int8send(:i / 2)), 'hex'), 100, 'f', decode(repeat('cd', 20), 'hex'));
EOF
"$PGC_BINDIR/pgbench" -n -c 2 -j 1 -T 600 -f "$WORK/upsert.sql" "$DB" > "$WORK/writer.log" 2>&1 &
WRITER=$!
sleep 1
if out=$("$PGC_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -f scripts/prebuild-0.3.0-indexes.sql 2>&1); then
  check "the prebuild script builds both parent indexes, valid, and adds the constraints, validated" "$out" "$PREBUILT"
else
  not_ok "the prebuild script runs" "$out"
fi
sleep 1
kill -TERM "$WRITER" 2>/dev/null; wait "$WRITER" 2>/dev/null; WRITER=""
if grep -qiE 'error|abort' "$WORK/writer.log"; then
  not_ok "writers ran through the prebuild without an error" "$(grep -iE 'error|abort' "$WORK/writer.log" | head -5)"
else
  ok "writers ran through the prebuild without an error"
fi
check "every partition has both new indexes, attached, under a fresh install's names" \
  "$(q "SELECT count(*) FILTER (WHERE i.inhparent IS NOT NULL), count(*) FROM pg_class c
          LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
         WHERE c.relnamespace = 'containers_vreg'::regnamespace
           AND c.relname ~ '^cache_entries_[0-9]+_group_id_(relative_path|digest)_upstream_id_idx$'")" "32|32"
check "the constraints are on cache_entries, its 16 partitions and fetch_leases, validated" "$(con_state)" \
  "cache_entries_object_storage_key_check|17|true
cache_entries_relative_path_check|17|true
fetch_leases_relative_path_check|1|true"
check "and defined as in a fresh 0.3.0 install" \
  "$(members "$DB" | grep -E '^constraint .*(relative_path|object_storage_key)_check')" \
  "$(grep -E '^constraint .*(relative_path|object_storage_key)_check' "$WORK/fresh.txt")"
cons=$(con_oids)
out=$("$PGC_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -f scripts/prebuild-0.3.0-indexes.sql 2>&1)
check "running the prebuild script again changes nothing" "$out|$(con_oids)" "$PREBUILT|$cons"

# 3. the update adopts them
before=$(new_oids)
locks=$(update_locks)
check "after the prebuild the update builds nothing: no SHARE lock on cache_entries" \
  "$(sed -n 1p <<<"$locks" | grep -ow 'ShareLock')|$(sed -n 1p <<<"$locks" | grep -ow 'AccessExclusiveLock')" "|AccessExclusiveLock"
check "after the prebuild the update locks cache_entries, its partitions and fetch_leases as without it, and reads none of their rows" \
  "$locks" "AccessExclusiveLock ShareUpdateExclusiveLock
AccessExclusiveLock ShareUpdateExclusiveLock
0"
if out=$(q "ALTER EXTENSION containers_vreg UPDATE" 2>&1); then ok "ALTER EXTENSION containers_vreg UPDATE after the prebuild"
else not_ok "ALTER EXTENSION containers_vreg UPDATE after the prebuild" "$out"; fi
check "the update kept the prebuilt indexes (same OIDs)" "$(new_oids)" "$before"
check "the update kept the prebuilt constraints (same OIDs, validated)" "$(con_oids)" "$cons"
check "the old indexes are gone" \
  "$(q "SELECT count(*) FROM pg_class WHERE relname IN ('cache_entries_live_path_key', 'cache_entries_live_digest_idx')")" "0"
members "$DB" > "$WORK/prebuilt.txt"
if d=$(diff "$WORK/fresh.txt" "$WORK/prebuilt.txt"); then ok "every member defined exactly as in a fresh 0.3.0 install"
else not_ok "every member defined exactly as in a fresh 0.3.0 install (< fresh, > prebuilt)" "$d"; fi
check "resolve answers with the new indexes" \
  "$(q "SELECT r.result FROM containers_vreg.resolve(2, 20, 'img3/blobs/sha256:' || encode(sha256(int8send(5)), 'hex')) r")" "hit"

# 4. a leftover of a failed concurrent build: invalid, under a partition index's name
new_db
q "CREATE INDEX cache_entries_03_group_id_digest_upstream_id_idx ON containers_vreg.cache_entries_03 (group_id, digest, upstream_id) WHERE status = 0 AND digest IS NOT NULL" >/dev/null
q "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'containers_vreg.cache_entries_03_group_id_digest_upstream_id_idx'::regclass" >/dev/null
if out=$(q "ALTER EXTENSION containers_vreg UPDATE" 2>&1); then ok "the update drops an invalid leftover and builds the index again"
else not_ok "the update drops an invalid leftover and builds the index again" "$out"; fi
check "all new indexes valid after that update" \
  "$(q "SELECT bool_and(i.indisvalid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
         WHERE c.relname ~ '(_group_id_(relative_path|digest)_upstream_id_idx|_live_(path|digest)_upstream_(key|idx))$'")" "t"
members "$DB" > "$WORK/leftover.txt"
if d=$(diff "$WORK/fresh.txt" "$WORK/leftover.txt"); then ok "and every member is defined as in a fresh install"
else not_ok "and every member is defined as in a fresh install" "$d"; fi
new_db
q "CREATE INDEX cache_entries_05_group_id_relative_path_upstream_id_idx ON containers_vreg.cache_entries_05 (group_id, relative_path, upstream_id) WHERE status = 0" >/dev/null
q "UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'containers_vreg.cache_entries_05_group_id_relative_path_upstream_id_idx'::regclass" >/dev/null
out=$("$PGC_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -f scripts/prebuild-0.3.0-indexes.sql 2>&1)
check "the prebuild script replaces an invalid leftover too (by then not unique: it is rebuilt as unique)" \
  "$out
$(q "SELECT indisunique AND indisvalid FROM pg_index WHERE indexrelid = 'containers_vreg.cache_entries_05_group_id_relative_path_upstream_id_idx'::regclass")" \
  "$PREBUILT
t"

# 5. constraints the update must not keep: one not validated (the prebuild
# stopped before VALIDATE), one validated but defined otherwise
new_db
out=$("$PGC_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$DB" -f scripts/prebuild-0.3.0-indexes.sql 2>&1)
check "the prebuild script" "$out" "$PREBUILT"
q "ALTER TABLE containers_vreg.cache_entries DROP CONSTRAINT cache_entries_relative_path_check,
     ADD CONSTRAINT cache_entries_relative_path_check
       CHECK (octet_length(relative_path) BETWEEN 1 AND 1024 AND left(relative_path, 1) = '/') NOT VALID" >/dev/null
q "ALTER TABLE containers_vreg.fetch_leases DROP CONSTRAINT fetch_leases_relative_path_check,
     ADD CONSTRAINT fetch_leases_relative_path_check CHECK (octet_length(relative_path) BETWEEN 1 AND 1024)" >/dev/null
keep=$(q "SELECT string_agg(oid::text, ',' ORDER BY oid) FROM pg_constraint WHERE conname = 'cache_entries_object_storage_key_check'")
gone=$(q "SELECT string_agg(oid::text, ',' ORDER BY oid) FROM pg_constraint WHERE conname IN ('cache_entries_relative_path_check', 'fetch_leases_relative_path_check')")
locks=$(update_locks)
check "the update then reads every partition once (the constraint not validated) and fetch_leases once (the one defined otherwise)" \
  "$(sed -n 3p <<<"$locks")" "17"
if out=$(q "ALTER EXTENSION containers_vreg UPDATE" 2>&1); then ok "ALTER EXTENSION containers_vreg UPDATE with those leftovers"
else not_ok "ALTER EXTENSION containers_vreg UPDATE with those leftovers" "$out"; fi
check "the update replaced both (no OID left) and kept the good one (same OIDs)" \
  "$(q "SELECT count(*) FROM pg_constraint WHERE oid = ANY ('{$gone}'::oid[])")|$(q "SELECT string_agg(oid::text, ',' ORDER BY oid) FROM pg_constraint WHERE conname = 'cache_entries_object_storage_key_check'")" \
  "0|$keep"
check "all three constraints validated everywhere" "$(con_state)" \
  "cache_entries_object_storage_key_check|17|true
cache_entries_relative_path_check|17|true
fetch_leases_relative_path_check|1|true"
members "$DB" > "$WORK/replaced.txt"
if d=$(diff "$WORK/fresh.txt" "$WORK/replaced.txt"); then ok "and every member is defined as in a fresh install"
else not_ok "and every member is defined as in a fresh install" "$d"; fi

# 6. a row over the new byte limit (a raw INSERT: 300 four-byte characters)
new_db
q "INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
   VALUES (3, 31, '/' || repeat(U&'\+01F600', 300), 1, 'f', containers_vreg.object_storage_prefix(3) || 'raw', decode(repeat('ab', 20), 'hex'))" >/dev/null
out=$("$PGC_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=1 -v VERBOSITY=terse -d "$DB" -f scripts/prebuild-0.3.0-indexes.sql 2>&1)
check "the prebuild stops at the validation, naming the constraint" \
  "$(grep -o 'ERROR:.*' <<<"$out" | sed 's/"cache_entries_[0-9]*"/"cache_entries_NN"/')" \
  'ERROR:  check constraint "cache_entries_relative_path_check" of relation "cache_entries_NN" is violated by some row'
bad=$(grep -o 'relation "cache_entries_[0-9]*"' <<<"$out" | grep -o 'cache_entries_[0-9]*')
check "the constraint stays NOT VALID on that partition and the parent (the new one: new rows are checked)" \
  "$(q "SELECT string_agg(convalidated::text, ',' ORDER BY conrelid::regclass::text) FROM pg_constraint
         WHERE conname = 'cache_entries_relative_path_check'
           AND conrelid IN ('containers_vreg.cache_entries'::regclass, 'containers_vreg.${bad:-none}'::regclass)")|$(q "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'cache_entries_relative_path_check' AND conrelid = 'containers_vreg.cache_entries'::regclass")" \
  "false,false|CHECK ((((octet_length(relative_path) >= 1) AND (octet_length(relative_path) <= 1024)) AND (\"left\"(relative_path, 1) = '/'::text))) NOT VALID"
out=$("${PSQL[@]}" -d "$DB" -c "\\set VERBOSITY sqlstate" -c "ALTER EXTENSION containers_vreg UPDATE" 2>&1)
check "the update then fails too: 23514, and the database stays at 0.2.0" \
  "$out|$(q "SELECT extversion FROM pg_extension WHERE extname = 'containers_vreg'")" "ERROR:  23514|0.2.0"

# 7. an index of another definition under the new name stops the update
new_db
q "CREATE INDEX cache_entries_live_digest_upstream_idx ON containers_vreg.cache_entries (group_id, digest)" >/dev/null
out=$("${PSQL[@]}" -d "$DB" -c "\\set VERBOSITY sqlstate" -c "ALTER EXTENSION containers_vreg UPDATE" 2>&1)
check "an index of another definition under the new name: 55000" "$out" "ERROR:  55000"
check "and the database stays at 0.2.0" "$(q "SELECT extversion FROM pg_extension WHERE extname = 'containers_vreg'")" "0.2.0"

"${PSQL[@]}" -d postgres -c "DROP DATABASE $DB" -c "DROP DATABASE vreg_prebuild_fresh" >/dev/null
[ "$fails" -eq 0 ]
