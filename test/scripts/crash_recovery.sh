#!/usr/bin/env bash
# Crash recovery: on a cluster of its own
# with fsync and synchronous_commit on, six clients run concurrent attaches,
# moves, detaches, upserts, record_download, flushes, marks, purges, claims
# with finish/fail, upstream delete + re-insert and credential writes. Every
# transaction is one statement (a DO block) that also inserts a marker row
# (vreg_crash.acked); the client writes "ack <seq> <kind>" to its log only
# after the server answered the statement (= COMMIT returned). Mid-load the
# postmaster and all its children get SIGKILL; the server restarts (crash
# recovery) and then:
#   * every invariant holds (test/sql-checks/invariants.sql);
#   * every transaction a client saw commit is there, and nothing that a
#     client did not see commit is there except at most its one in-flight one;
#   * per client, the downloads of its own counter entry (downloads_count +
#     rows still in download_buffer) equal its committed record_download
#     transactions exactly, and its own upstream's credential opens to the
#     password of its last committed credential write.
set -uo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
. "$TOP/scripts/pgcluster.sh"
. "$TOP/test/scripts/credentials_lib.bash"
. "$TOP/test/sql-checks/invariants.bash"

CLIENTS=6
TXNS=20000         # per client: more than it can run before the kill
MIN_COMMITTED=3000 # kill once this many transactions committed in total

pgc_init "$TOP/.pgtmp/crash" || { echo "not ok 1 - initdb"; exit 1; }
pgc_write_keyring "$PGC_DIR/keyring" 1
pgc_conf "containers_vreg.keyring_file = '$PGC_DIR/keyring'"
pgc_conf "fsync = on"
pgc_conf "synchronous_commit = on"
pgc_conf "full_page_writes = on"
pgc_startonly || { echo "not ok 1 - cluster start"; exit 1; }
trap pgc_stop EXIT
DB=postgres
W=$PGC_DIR/work
rm -rf "$W"; mkdir -p "$W"

q $DB "CREATE EXTENSION containers_vreg" >/dev/null || exit 1
"$PGC_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d $DB -v clients=$CLIENTS <<'SQL' || { echo "not ok 1 - setup"; exit 1; }
CREATE SCHEMA vreg_crash;
CREATE TABLE vreg_crash.acked (client int, seq int, kind text, entry_id bigint, PRIMARY KEY (client, seq));
-- entries that a committed finish_destruction deleted (written in that transaction)
CREATE TABLE vreg_crash.finished (group_id bigint, entry_id bigint);
CREATE TABLE vreg_crash.counter (client int PRIMARY KEY, entry_id bigint NOT NULL);
-- groups 1..3: registries g*10+1, g*10+2; upstreams g*100+1..6 with credentials;
-- registry 1 links upstreams 1-4, registry 2 links 3-6.
INSERT INTO containers_vreg.registries (group_id, id, name)
SELECT g, g * 10 + r, 'reg' || r FROM generate_series(1, 3) g, generate_series(1, 2) r;
INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials)
SELECT g, g * 100 + k, 'https://u' || k || '.g' || g || '.example.com',
       jsonb_build_object('username', 'u', 'password', 'p' || g || k)
  FROM generate_series(1, 3) g, generate_series(1, 6) k;
SELECT count(containers_vreg.attach_upstream(g, g * 10 + r, g * 100 + k)) AS links
  FROM (SELECT g, r, k FROM generate_series(1, 3) g, generate_series(1, 2) r, generate_series(1, 6) k
         WHERE (r = 1 AND k <= 4) OR (r = 2 AND k >= 3) ORDER BY g, r, k) s \gset
SELECT count(*) FROM (
  SELECT containers_vreg.upsert_cache_entry(g, g * 100 + k, 'seed/i' || i || '/manifests/latest',
                                            i, 'f', decode(repeat('ab', 20), 'hex'))
    FROM generate_series(1, 3) g, generate_series(1, 6) k, generate_series(1, 20) i) s \gset
-- group 9: one upstream and one counter entry per client, touched only by that client
INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials)
SELECT 9, 900 + c, 'https://c' || c || '.example.com',
       jsonb_build_object('username', 'c' || c, 'password', 's0')
  FROM generate_series(1, :clients) c;
INSERT INTO vreg_crash.counter
SELECT c, (containers_vreg.upsert_cache_entry(9, 900 + c, 'counter/c' || c || '/manifests/latest',
                                              1, 'f', decode(repeat('cd', 20), 'hex'))).id
  FROM generate_series(1, :clients) c;
CHECKPOINT;
SQL

# One script per client: TXNS one-statement transactions, each followed by
# the acknowledgement that psql prints only when the statement succeeded.
gen_client() {  # $1: client number
  awk -v c="$1" -v n=$TXNS 'BEGIN {
    srand(c * 7919);
    for (s = 1; s <= n; s++) {
      x = rand(); g = 1 + int(rand() * 3); r = g * 10 + 1 + int(rand() * 2);
      k = 1 + int(rand() * 6); u = g * 100 + k;
      linked = "(SELECT l.upstream_id FROM containers_vreg.registry_upstreams l WHERE l.group_id = " g " AND l.registry_id = " r " ORDER BY random() LIMIT 1)";
      if (x < 0.22) { kind = "upsert";
        body = "e := (containers_vreg.upsert_cache_entry(" g ", " u ", \x27crash/c" c "/manifests/s" s "\x27, " s ", \x27f\x27, decode(repeat(\x27ab\x27, 20), \x27hex\x27))).id;";
      } else if (x < 0.32) { kind = "upsert_hot";
        body = "PERFORM containers_vreg.upsert_cache_entry(" g ", " (g * 100 + 3 + int(rand() * 2)) ", \x27crash/hot/manifests/h" int(rand() * 3) "\x27, " s ", \x27f\x27, decode(repeat(\x27ab\x27, 20), \x27hex\x27));";
      } else if (x < 0.50) { kind = "download";
        body = "PERFORM containers_vreg.record_download(9, (SELECT entry_id FROM vreg_crash.counter WHERE client = " c "));";
      } else if (x < 0.54) { kind = "flush";
        body = "PERFORM containers_vreg.flush_downloads();";
      } else if (x < 0.59) { kind = "attach";
        body = "PERFORM containers_vreg.attach_upstream(" g ", " r ", (SELECT u.id FROM containers_vreg.upstreams u WHERE u.group_id = " g " AND NOT EXISTS (SELECT FROM containers_vreg.registry_upstreams l WHERE l.group_id = " g " AND l.registry_id = " r " AND l.upstream_id = u.id) ORDER BY random() LIMIT 1));";
      } else if (x < 0.67) { kind = "move";
        body = "PERFORM containers_vreg.move_upstream(" g ", " r ", " linked ", " (1 + int(rand() * 5)) ");";
      } else if (x < 0.70) { kind = "move_dml";
        body = "UPDATE containers_vreg.registry_upstreams SET position = " (1 + int(rand() * 4)) " WHERE group_id = " g " AND registry_id = " r " AND upstream_id = " linked ";";
      } else if (x < 0.74) { kind = "detach";
        body = "PERFORM containers_vreg.detach_upstream(" g ", " r ", " linked ");";
      } else if (x < 0.79) { kind = "cred_shared";
        body = "UPDATE containers_vreg.upstreams SET credentials = jsonb_build_object(\x27username\x27, \x27c" c "\x27, \x27password\x27, \x27c" c "s" s "\x27) WHERE group_id = " g " AND id = " u ";";
      } else if (x < 0.85) { kind = "cred";
        body = "UPDATE containers_vreg.upstreams SET credentials = jsonb_build_object(\x27username\x27, \x27c" c "\x27, \x27password\x27, \x27s" s "\x27) WHERE group_id = 9 AND id = " (900 + c) ";";
      } else if (x < 0.89) { kind = "mark";
        body = "PERFORM containers_vreg.mark_for_destruction(" g ", (SELECT e.id FROM containers_vreg.cache_entries e WHERE e.group_id = " g " AND e.status = 0 ORDER BY random() LIMIT 1));";
      } else if (x < 0.95) { kind = "claim_finish";
        body = "FOR rec IN SELECT * FROM containers_vreg.claim_for_destruction(3) LOOP IF containers_vreg.finish_destruction(rec.group_id, rec.entry_id) THEN INSERT INTO vreg_crash.finished VALUES (rec.group_id, rec.entry_id); END IF; END LOOP;";
      } else if (x < 0.97) { kind = "claim_fail";
        body = "FOR rec IN SELECT * FROM containers_vreg.claim_for_destruction(1) LOOP PERFORM containers_vreg.fail_destruction(rec.group_id, rec.entry_id); END LOOP;";
      } else if (x < 0.98) { kind = "purge";
        body = "PERFORM containers_vreg.purge_upstream(" g ", " u ");";
      } else { kind = "reinsert_upstream";
        body = "DELETE FROM containers_vreg.upstreams WHERE group_id = " g " AND id = " u "; INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials) VALUES (" g ", " u ", \x27https://u" k ".g" g ".example.com\x27, jsonb_build_object(\x27username\x27, \x27u\x27, \x27password\x27, \x27r" c "s" s "\x27));";
      }
      printf "DO $$DECLARE rec record; e bigint; BEGIN %s INSERT INTO vreg_crash.acked VALUES (%d, %d, \x27%s\x27, e); END$$;\n", body, c, s, kind;
      printf "\\if :ERROR\n\\else\n\\echo ack %d %s\n\\endif\n", s, kind;
    }
  }'
}

pids=()
for c in $(seq 1 $CLIENTS); do
  gen_client "$c" > "$W/client$c.sql"
  "$PGC_BINDIR/psql" -X -q -At -v ON_ERROR_STOP=0 -v VERBOSITY=sqlstate -d $DB -f "$W/client$c.sql" \
    > "$W/client$c.log" 2> "$W/client$c.err" &
  pids+=($!)
done

# Wait (polling, no fixed sleep) until enough has committed, then SIGKILL the
# postmaster and every child of it at once, as a power cut would.
committed=0
for _ in $(seq 1 600); do
  committed=$(q $DB "SELECT count(*) FROM vreg_crash.acked" 2>/dev/null || echo 0)
  [ "${committed:-0}" -ge $MIN_COMMITTED ] && break
  sleep 0.1
done
running=0
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && running=$((running + 1)); done
pm=$(head -1 "$PGC_DIR/data/postmaster.pid")
children=$(pgrep -P "$pm" | xargs)
kill -9 "$pm" $children
expect_eq "all $CLIENTS clients were mid-load when the postmaster got SIGKILL (>= $MIN_COMMITTED committed)" "$running" "$CLIENTS"
for p in "${pids[@]}"; do wait "$p"; done
for p in $pm $children; do
  for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
done

pgc_startonly 2>"$W/restart.err" || { cat "$W/restart.err"; tap_fail "restart after the crash"; exit 1; }
expect_match "the restart ran crash recovery" "$(cat "$PGC_DIR/server.log")" "database system was interrupted|not properly shut down"
lost=$(grep -c 'server closed the connection\|connection to server was lost\|terminating connection' "$W"/client*.err | awk -F: '{ s += $2 } END { print s + 0 }')
expect_eq "every client lost its connection at the kill" "$( [ "$lost" -ge $CLIENTS ] && echo yes || echo "$lost")" "yes"

# What the clients saw commit, into a table next to what the database has.
for c in $(seq 1 $CLIENTS); do sed -n "s/^ack \([0-9]*\) \(.*\)$/$c\t\1\t\2/p" "$W/client$c.log"; done > "$W/acks.tsv"
acks=$(wc -l < "$W/acks.tsv")
errs=$(cat "$W"/client*.err | sed -n 's/^psql:.*ERROR:  \([0-9A-Z]\{5\}\)$/\1/p' | sort | uniq -c | awk '{ printf "%s %s, ", $2, $1 }')
echo "# transactions acknowledged by the server before the kill: $acks; refused (a rule or a lost race), by SQLSTATE: ${errs:-none}"
echo "# by kind: $(cut -f3 "$W/acks.tsv" | sort | uniq -c | awk '{ printf "%s %s, ", $2, $1 }')"
"$PGC_BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -d $DB -c "CREATE TABLE vreg_crash.seen (client int, seq int, kind text)" \
  -c "\\copy vreg_crash.seen FROM '$W/acks.tsv'" >/dev/null || tap_fail "load the client logs"
expect_eq "more than $MIN_COMMITTED transactions were acknowledged" "$( [ "$acks" -ge $MIN_COMMITTED ] && echo yes || echo "$acks")" "yes"

vreg_invariants $DB

expect_eq "every transaction a client saw commit is in the database (missing markers)" \
  "$(q $DB "SELECT count(*) FROM vreg_crash.seen s LEFT JOIN vreg_crash.acked a USING (client, seq)
             WHERE a.client IS NULL OR a.kind <> s.kind")" "0"
expect_eq "nothing committed that no client saw, except at most one in-flight transaction per client" \
  "$(q $DB "SELECT count(*) FROM (SELECT a.client FROM vreg_crash.acked a
                                    LEFT JOIN vreg_crash.seen s USING (client, seq)
                                   WHERE s.client IS NULL GROUP BY a.client HAVING count(*) > 1
                                      OR min(a.seq) <= (SELECT max(seq) FROM vreg_crash.seen x WHERE x.client = a.client)) b")" "0"
expect_eq "per client: downloads_count + buffered downloads of its counter entry = its committed record_download transactions" \
  "$(q $DB "SELECT string_agg(format('%s:%s/%s', c.client,
                    e.downloads_count + (SELECT count(*) FROM containers_vreg.download_buffer b
                                          WHERE b.group_id = 9 AND b.entry_id = c.entry_id),
                    (SELECT count(*) FROM vreg_crash.acked a WHERE a.client = c.client AND a.kind = 'download')), ' ' ORDER BY c.client)
             FROM vreg_crash.counter c JOIN containers_vreg.cache_entries e ON e.group_id = 9 AND e.id = c.entry_id
            WHERE e.downloads_count + (SELECT count(*) FROM containers_vreg.download_buffer b
                                        WHERE b.group_id = 9 AND b.entry_id = c.entry_id)
                  <> (SELECT count(*) FROM vreg_crash.acked a WHERE a.client = c.client AND a.kind = 'download')")" ""
echo "# committed record_download: $(q $DB "SELECT count(*) FROM vreg_crash.acked WHERE kind = 'download'"), of which flushed into downloads_count: $(q $DB "SELECT sum(e.downloads_count) FROM vreg_crash.counter c JOIN containers_vreg.cache_entries e ON e.group_id = 9 AND e.id = c.entry_id"), still buffered: $(q $DB "SELECT count(*) FROM containers_vreg.download_buffer WHERE group_id = 9")"
expect_eq "per client: its upstream's credential opens to the password of its last committed credential write" \
  "$(q $DB "SELECT count(*) FROM generate_series(1, $CLIENTS) c
             WHERE containers_vreg.upstream_credentials(9, 900 + c)->>'password'
                   IS DISTINCT FROM coalesce((SELECT 's' || max(seq) FROM vreg_crash.acked a
                                               WHERE a.client = c AND a.kind = 'cred'), 's0')")" "0"
expect_eq "every committed upsert's entry is still there, unless a committed finish_destruction deleted it" \
  "$(q $DB "SELECT count(*) FROM vreg_crash.acked a
             WHERE a.kind = 'upsert'
               AND NOT EXISTS (SELECT FROM containers_vreg.cache_entries e
                                WHERE e.id = a.entry_id AND e.relative_path = '/crash/c' || a.client || '/manifests/s' || a.seq)
               AND NOT EXISTS (SELECT FROM vreg_crash.finished f WHERE f.entry_id = a.entry_id)")" "0"
expect_eq "no entry that a committed finish_destruction deleted came back" \
  "$(q $DB "SELECT count(*) FROM vreg_crash.finished f JOIN containers_vreg.cache_entries e USING (group_id)
             WHERE e.id = f.entry_id")" "0"
echo "# entries after recovery by status: $(q $DB "SELECT string_agg(status || ':' || n, ' ' ORDER BY status) FROM (SELECT status, count(*) n FROM containers_vreg.cache_entries GROUP BY 1) s"); links: $(q $DB "SELECT count(*) FROM containers_vreg.registry_upstreams")"
