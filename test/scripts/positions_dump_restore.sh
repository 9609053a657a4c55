#!/usr/bin/env bash
# Dump/restore round trip of the upstream order (docs/design.md, "Upstream order"):
# registries whose links were inserted, moved and deleted in mixed order are
# dumped with pg_dump -Fc and restored with pg_restore into a new database
# (CREATE EXTENSION comes from the dump); every (group, registry, upstream,
# position) must be the same. Then the rows of each registry are re-inserted
# in reverse and in shuffled order with explicit positions: same order again.
set -uo pipefail
: "${PGC_BINDIR:?}" "${PGHOST:?}" "${PGPORT:?}"
B=$PGC_BINDIR
TMPD=$(mktemp -d)
trap 'rm -rf "$TMPD"; "$B/dropdb" --if-exists vreg_pos_src >/dev/null 2>&1; "$B/dropdb" --if-exists vreg_pos_dst >/dev/null 2>&1' EXIT
n=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); echo "not ok $n - $1"; }
psql_src() { "$B/psql" -X -q -v ON_ERROR_STOP=1 -d vreg_pos_src "$@"; }
psql_dst() { "$B/psql" -X -q -v ON_ERROR_STOP=1 -d vreg_pos_dst "$@"; }

"$B/dropdb" --if-exists vreg_pos_src >/dev/null 2>&1
"$B/dropdb" --if-exists vreg_pos_dst >/dev/null 2>&1
"$B/createdb" vreg_pos_src || exit 1

psql_src <<'SQL' || { notok "build source data"; exit 1; }
CREATE EXTENSION containers_vreg;
SET client_min_messages = warning;
-- three groups, 2..4 registries each, 6 upstreams each
INSERT INTO containers_vreg.registries (group_id, name)
SELECT g, 'reg-' || r FROM generate_series(1, 3) g, generate_series(1, g + 1) r;
INSERT INTO containers_vreg.upstreams (group_id, url, name)
SELECT g, 'https://u' || u || '.example.com', 'u' || u FROM generate_series(1, 3) g, generate_series(1, 6) u;
-- links attached, moved, detached, deleted in a mixed order
DO $$
DECLARE r record; u bigint; i int := 0;
BEGIN
  FOR r IN SELECT group_id, id FROM containers_vreg.registries ORDER BY id LOOP
    FOR u IN SELECT id FROM containers_vreg.upstreams WHERE group_id = r.group_id ORDER BY (id * 7 + r.id) % 11 LIMIT 5 LOOP
      PERFORM containers_vreg.attach_upstream(r.group_id, r.id, u);
    END LOOP;
    i := i + 1;
    PERFORM containers_vreg.move_upstream(r.group_id, r.id,
      (SELECT upstream_id FROM containers_vreg.registry_upstreams WHERE group_id = r.group_id AND registry_id = r.id AND position = 1),
      1 + i % 5);
    UPDATE containers_vreg.registry_upstreams SET position = 1
     WHERE group_id = r.group_id AND registry_id = r.id AND position = 5;
    IF i % 2 = 0 THEN
      PERFORM containers_vreg.detach_upstream(r.group_id, r.id,
        (SELECT upstream_id FROM containers_vreg.registry_upstreams WHERE group_id = r.group_id AND registry_id = r.id AND position = 2));
    END IF;
  END LOOP;
END $$;
-- an upstream deleted (its links cascade), a registry deleted, a reinsert at a taken position
DELETE FROM containers_vreg.upstreams WHERE group_id = 2 AND name = 'u3';
DELETE FROM containers_vreg.registries WHERE group_id = 3 AND name = 'reg-4';
DELETE FROM containers_vreg.registry_upstreams
 WHERE (group_id, registry_id) = (SELECT group_id, id FROM containers_vreg.registries WHERE group_id = 1 AND name = 'reg-1')
   AND position = 3;
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position)
SELECT 1, r.id, u.id, 1 FROM containers_vreg.registries r, containers_vreg.upstreams u
 WHERE r.group_id = 1 AND r.name = 'reg-1' AND u.group_id = 1
   AND u.id NOT IN (SELECT upstream_id FROM containers_vreg.registry_upstreams WHERE registry_id = r.id)
 ORDER BY u.id LIMIT 1;
SQL

Q="SELECT string_agg(format('%s/%s/%s=%s', group_id, registry_id, upstream_id, position), ' ' ORDER BY group_id, registry_id, position) FROM containers_vreg.registry_upstreams"
before=$(psql_src -At -c "$Q")
links=$(psql_src -At -c "SELECT count(*) FROM containers_vreg.registry_upstreams")
regs=$(psql_src -At -c "SELECT count(DISTINCT registry_id) FROM containers_vreg.registry_upstreams")
if [ "$links" -ge 10 ] && [ "$regs" -ge 6 ]; then ok "source has $links links in $regs registries"; else notok "source too small: $links links, $regs registries"; fi
echo "# source: $before"

# Scramble the physical order of the rows (updates move tuples) so that a
# restore does not get them in position order by accident.
psql_src -c "UPDATE containers_vreg.registry_upstreams SET updated_at = now() WHERE position % 2 = 1" \
         -c "VACUUM containers_vreg.registry_upstreams" >/dev/null
phys=$(psql_src -At -c "SELECT string_agg(position::text, '' ORDER BY ctid) FROM containers_vreg.registry_upstreams")
echo "# physical order of positions in the source table: $phys"

if "$B/pg_dump" -Fc -d vreg_pos_src -f "$TMPD/dump" 2>"$TMPD/dump.err"; then ok "pg_dump -Fc"; else cat "$TMPD/dump.err"; notok "pg_dump -Fc"; fi
"$B/createdb" vreg_pos_dst || exit 1
if "$B/pg_restore" --exit-on-error -d vreg_pos_dst "$TMPD/dump" 2>"$TMPD/restore.err"; then
  ok "pg_restore into a new database"
else
  cat "$TMPD/restore.err"; notok "pg_restore into a new database"
fi
after=$(psql_dst -At -c "$Q")
if [ -n "$before" ] && [ "$before" = "$after" ]; then
  ok "every (group, registry, upstream, position) is the same after restore"
else
  echo "# before: $before"; echo "# after:  $after"
  notok "every (group, registry, upstream, position) is the same after restore"
fi

# Rows arriving in any order with explicit positions keep exactly those positions.
for order in "position DESC" "md5(id::text)" "upstream_id DESC"; do
  res=$(psql_dst -At <<SQL
CREATE TEMP TABLE saved AS SELECT id, group_id, registry_id, upstream_id, position FROM containers_vreg.registry_upstreams;
BEGIN;
DELETE FROM containers_vreg.registry_upstreams;
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position)
SELECT group_id, registry_id, upstream_id, position FROM saved ORDER BY $order;
COMMIT;
$Q;
SQL
)
  if [ "$res" = "$before" ]; then ok "re-insert ordered by $order keeps every position"; else echo "# got: $res"; notok "re-insert ordered by $order keeps every position"; fi
done
# ... also one row per statement, in shuffled order
res=$(psql_dst -At <<SQL
CREATE TEMP TABLE saved AS SELECT group_id, registry_id, upstream_id, position FROM containers_vreg.registry_upstreams;
BEGIN;
DELETE FROM containers_vreg.registry_upstreams;
DO \$\$ DECLARE s record; BEGIN
  FOR s IN SELECT * FROM saved ORDER BY md5(upstream_id::text || position::text) LOOP
    INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position)
    VALUES (s.group_id, s.registry_id, s.upstream_id, s.position);
  END LOOP;
END \$\$;
COMMIT;
$Q;
SQL
)
if [ "$res" = "$before" ]; then ok "row-by-row re-insert in shuffled order keeps every position"; else echo "# got: $res"; notok "row-by-row re-insert in shuffled order keeps every position"; fi
[ "$n" -gt 0 ]
