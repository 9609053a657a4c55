-- Upstream positions (registry_upstreams; rules in docs/design.md): every
-- rule with exact expected positions, every bad input with its SQLSTATE and
-- the tables unchanged.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT vreg_test.reset();

-- Fixed ids, so that error messages are stable whatever ran before.
INSERT INTO containers_vreg.registries (group_id, id, name)
VALUES (1, 101, 'r1'), (1, 102, 'r2'), (1, 103, 'r3'), (2, 111, 'other');
INSERT INTO containers_vreg.upstreams (group_id, id, url, name)
SELECT 1, 200 + i, 'https://' || chr(96 + i) || '.example.com', chr(64 + i) FROM generate_series(1, 6) i;
INSERT INTO containers_vreg.upstreams (group_id, id, url, name) VALUES (2, 211, 'https://x.example.com', 'X');

-- 'A1 B2 C3': a registry's links as upstream name || position, in position order.
CREATE FUNCTION pg_temp.ord(r bigint, g bigint DEFAULT 1) RETURNS text LANGUAGE sql AS $$
  SELECT coalesce(string_agg(u.name || l.position, ' ' ORDER BY l.position, u.name), '(none)')
    FROM containers_vreg.registry_upstreams l
    JOIN containers_vreg.upstreams u ON u.group_id = l.group_id AND u.id = l.upstream_id
   WHERE l.group_id = g AND l.registry_id = r $$;
-- Reset registry r to A1 B2 C3 D4.
CREATE FUNCTION pg_temp.abcd(r bigint) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM containers_vreg.registry_upstreams WHERE group_id = 1 AND registry_id = r;
  PERFORM containers_vreg.attach_upstream(1, r, u) FROM generate_series(201, 204) u;
  RETURN pg_temp.ord(r);
END $$;

-- attach_upstream appends at n + 1 ----------------------------------------------
SELECT containers_vreg.attach_upstream(1, 101, 201) AS a, containers_vreg.attach_upstream(1, 101, 202) AS b;
SELECT containers_vreg.attach_upstream(1, 101, 203) AS c;
SELECT containers_vreg.attach_upstream(1, 101, 204) AS d;
SELECT pg_temp.ord(101);
SELECT * FROM containers_vreg.registry_upstreams(1, 101);
SELECT containers_vreg.attach_upstream(1, 101, 205) AS e;   -- 5th: fine
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err('SELECT containers_vreg.attach_upstream(1, 101, 206)');  -- 6th: 23514
SELECT vreg_test.err('INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id) VALUES (1, 101, 206)');  -- 23514
SELECT vreg_test.err('INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position) VALUES (1, 101, 206, 2)');  -- 23514
SELECT vreg_test.err('SELECT containers_vreg.attach_upstream(NULL, 101, 206)');  -- 22004
SELECT vreg_test.err('SELECT containers_vreg.attach_upstream(1, NULL, 206)');    -- 22004
SELECT vreg_test.err('SELECT containers_vreg.attach_upstream(1, 101, NULL)');    -- 22004
SELECT vreg_test.err('SELECT containers_vreg.attach_upstream(1, 999, 206)');     -- P0002 unknown registry
SELECT vreg_test.err('SELECT containers_vreg.attach_upstream(1, 111, 206)');     -- P0002 registry of group 2
SELECT vreg_test.err('SELECT containers_vreg.attach_upstream(1, 102, 999)');     -- P0002 unknown upstream
SELECT vreg_test.err('SELECT containers_vreg.attach_upstream(1, 102, 211)');     -- P0002 upstream of group 2
SELECT vreg_test.err('SELECT containers_vreg.attach_upstream(1, 101, 203)');     -- 23505 already linked
SELECT vreg_test.state() = :'s0' AS unchanged;
SELECT pg_temp.ord(101);
-- ON CONFLICT DO NOTHING on an existing link of a full registry is a no-op, not 23514
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id)
VALUES (1, 101, 203) ON CONFLICT (group_id, registry_id, upstream_id) DO NOTHING;
SELECT vreg_test.state() = :'s0' AS unchanged;

-- move_upstream: moves up, down, to the ends and beyond the last -------------
SELECT pg_temp.abcd(102);
SELECT containers_vreg.move_upstream(1, 102, 201, 3) AS a_to_3;
SELECT pg_temp.ord(102);                                   -- B1 C2 A3 D4
SELECT pg_temp.abcd(102);
SELECT containers_vreg.move_upstream(1, 102, 204, 2) AS d_to_2;
SELECT pg_temp.ord(102);                                   -- A1 D2 B3 C4
SELECT pg_temp.abcd(102);
SELECT containers_vreg.move_upstream(1, 102, 202, 10) AS b_to_10;
SELECT pg_temp.ord(102);                                   -- A1 C2 D3 B4 (capped at n)
SELECT pg_temp.abcd(102);
SELECT vreg_test.state() AS s0 \gset
SELECT string_agg(xmin::text, ',' ORDER BY id) AS x0 FROM containers_vreg.registry_upstreams WHERE registry_id = 102 \gset
SELECT containers_vreg.move_upstream(1, 102, 201, 1) AS a_to_1;
SELECT vreg_test.state() = :'s0' AS unchanged,
       string_agg(xmin::text, ',' ORDER BY id) = :'x0' AS no_row_updated
  FROM containers_vreg.registry_upstreams WHERE registry_id = 102;
SELECT containers_vreg.move_upstream(1, 102, 204, 1) AS d_to_1, pg_temp.ord(102) AS after;
SELECT containers_vreg.move_upstream(1, 102, 204, 4) AS d_to_4, pg_temp.ord(102) AS after;
SELECT pg_temp.ord(101) AS r1_untouched;
-- bad input: nothing changes
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err('SELECT containers_vreg.move_upstream(1, 102, 201, 0)');       -- 22023
SELECT vreg_test.err('SELECT containers_vreg.move_upstream(1, 102, 201, -5)');      -- 22023
SELECT vreg_test.err('SELECT containers_vreg.move_upstream(1, 102, 201, NULL)');    -- 22004
SELECT vreg_test.err('SELECT containers_vreg.move_upstream(NULL, 102, 201, 1)');    -- 22004
SELECT vreg_test.err('SELECT containers_vreg.move_upstream(1, NULL, 201, 1)');      -- 22004
SELECT vreg_test.err('SELECT containers_vreg.move_upstream(1, 102, NULL, 1)');      -- 22004
SELECT vreg_test.err('SELECT containers_vreg.move_upstream(1, 102, 205, 1)');       -- P0002 not linked
SELECT vreg_test.err('SELECT containers_vreg.move_upstream(1, 102, 999, 1)');       -- P0002 unknown upstream
SELECT vreg_test.err('SELECT containers_vreg.move_upstream(1, 111, 211, 1)');       -- P0002 registry of group 2
SELECT vreg_test.err('SELECT containers_vreg.move_upstream(2, 102, 201, 1)');       -- P0002 registry of group 1 asked as group 2
SELECT vreg_test.err('SELECT containers_vreg.move_upstream(1, 999, 201, 1)');       -- P0002 unknown registry
SELECT vreg_test.state() = :'s0' AS unchanged;

-- a plain one-row UPDATE of position is a move --------------------------------
SELECT pg_temp.abcd(102);
UPDATE containers_vreg.registry_upstreams SET position = 3 WHERE registry_id = 102 AND upstream_id = 201;
SELECT pg_temp.ord(102);                                   -- B1 C2 A3 D4
SELECT pg_temp.abcd(102);
UPDATE containers_vreg.registry_upstreams SET position = 2 WHERE registry_id = 102 AND upstream_id = 204;
SELECT pg_temp.ord(102);                                   -- A1 D2 B3 C4
SELECT pg_temp.abcd(102);
UPDATE containers_vreg.registry_upstreams SET position = 10 WHERE registry_id = 102 AND upstream_id = 202
  RETURNING position;                                      -- capped: 4
SELECT pg_temp.ord(102);                                   -- A1 C2 D3 B4
SELECT pg_temp.abcd(102);
UPDATE containers_vreg.registry_upstreams SET position = position - 1 WHERE registry_id = 102 AND upstream_id = 203;
SELECT pg_temp.ord(102);                                   -- A1 C2 B3 D4
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err('UPDATE containers_vreg.registry_upstreams SET position = 0 WHERE registry_id = 102 AND upstream_id = 201');     -- 22023
SELECT vreg_test.err('UPDATE containers_vreg.registry_upstreams SET position = NULL WHERE registry_id = 102 AND upstream_id = 201');  -- 23502
SELECT vreg_test.err('UPDATE containers_vreg.registry_upstreams SET registry_id = 101 WHERE registry_id = 102 AND upstream_id = 206'); -- no row: ok
SELECT vreg_test.err('UPDATE containers_vreg.registry_upstreams SET registry_id = 103 WHERE registry_id = 102 AND upstream_id = 201'); -- 23514
SELECT vreg_test.err('UPDATE containers_vreg.registry_upstreams SET upstream_id = 206 WHERE registry_id = 102 AND upstream_id = 201'); -- 23514
SELECT vreg_test.err('UPDATE containers_vreg.registry_upstreams SET group_id = 2 WHERE registry_id = 102 AND upstream_id = 201');      -- 23514
SELECT vreg_test.state() = :'s0' AS unchanged;
-- an UPDATE that changes no position moves nothing (updated_at still moves)
UPDATE containers_vreg.registry_upstreams SET updated_at = now() WHERE registry_id = 102;
SELECT pg_temp.ord(102);

-- several positions in one UPDATE (GitLab reorders that way): taken as given
SELECT pg_temp.abcd(102);
UPDATE containers_vreg.registry_upstreams l SET position = CASE l.upstream_id WHEN 201 THEN 4 WHEN 202 THEN 3 WHEN 203 THEN 2 ELSE 1 END
 WHERE l.registry_id = 102;
SELECT pg_temp.ord(102);                                   -- D1 C2 B3 A4
UPDATE containers_vreg.registry_upstreams l SET position = CASE l.upstream_id WHEN 201 THEN 1 WHEN 204 THEN 4 END
 WHERE l.registry_id = 102 AND l.upstream_id IN (201, 204);
SELECT pg_temp.ord(102);                                   -- A1 C2 B3 D4 (a swap)
-- ... and must leave 1..n at commit: a gap or a duplicate is refused (23514 / 23505)
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err($$SET CONSTRAINTS containers_vreg.registry_upstreams_slot_check IMMEDIATE;
  UPDATE containers_vreg.registry_upstreams l SET position = CASE l.upstream_id WHEN 201 THEN 2 ELSE 3 END
   WHERE l.registry_id = 102 AND l.upstream_id IN (201, 203)$$);                    -- 1 missing: 23514
SELECT vreg_test.err($$SET CONSTRAINTS ALL IMMEDIATE;
  UPDATE containers_vreg.registry_upstreams l SET position = CASE l.upstream_id WHEN 201 THEN 2 ELSE 2 END
   WHERE l.registry_id = 102 AND l.upstream_id IN (201, 203)$$);                    -- duplicate 2: 23514 (checked before the unique key)
SELECT vreg_test.state() = :'s0' AS unchanged;
-- the same refused at COMMIT of an explicit transaction (here the deferred unique key fires first)
BEGIN;
UPDATE containers_vreg.registry_upstreams l SET position = CASE l.upstream_id WHEN 201 THEN 2 ELSE 3 END
 WHERE l.registry_id = 102 AND l.upstream_id IN (201, 203);
COMMIT;
SELECT vreg_test.state() = :'s0' AS unchanged;
-- a reorder split over two statements of one transaction is fine when it ends as 1..n
BEGIN;
UPDATE containers_vreg.registry_upstreams l SET position = CASE l.upstream_id WHEN 201 THEN 3 ELSE 1 END
 WHERE l.registry_id = 102 AND l.upstream_id IN (201, 203);
UPDATE containers_vreg.registry_upstreams l SET position = CASE l.upstream_id WHEN 202 THEN 4 ELSE 2 END
 WHERE l.registry_id = 102 AND l.upstream_id IN (202, 204);
COMMIT;
SELECT pg_temp.ord(102);                                   -- C1 D2 A3 B4

-- INSERT ----------------------------------------------------------------------
SELECT pg_temp.abcd(102);
DELETE FROM containers_vreg.registry_upstreams WHERE registry_id = 102 AND upstream_id = 204;
-- without a position (or NULL): appended at n + 1
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id) VALUES (1, 102, 205) RETURNING position;
DELETE FROM containers_vreg.registry_upstreams WHERE registry_id = 102 AND upstream_id = 205;
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position) VALUES (1, 102, 205, NULL) RETURNING position;
SELECT pg_temp.ord(102);                                   -- A1 B2 C3 E4
-- an explicit taken position: inserted there, the later links move down
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position) VALUES (1, 102, 204, 2) RETURNING position;
SELECT pg_temp.ord(102);                                   -- A1 D2 B3 C4 E5
-- two rows of one statement, several in one registry, rows arriving without position
DELETE FROM containers_vreg.registry_upstreams WHERE registry_id IN (102, 103);
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id)
VALUES (1, 103, 203), (1, 102, 202), (1, 103, 201), (1, 102, 201), (1, 103, 206);
SELECT pg_temp.ord(102) AS r2, pg_temp.ord(103) AS r3;    -- B1 A2 / C1 A2 F3
-- explicit positions, all free, arriving in reverse and in random order: kept exactly
DELETE FROM containers_vreg.registry_upstreams WHERE registry_id IN (102, 103);
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position)
VALUES (1, 102, 205, 5), (1, 102, 201, 4), (1, 102, 204, 3), (1, 102, 203, 2), (1, 102, 202, 1);
SELECT pg_temp.ord(102);                                   -- B1 C2 D3 A4 E5
BEGIN;
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position) VALUES (1, 103, 206, 2);
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position) VALUES (1, 103, 202, 4);
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position) VALUES (1, 103, 205, 1);
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position) VALUES (1, 103, 201, 3);
COMMIT;
SELECT pg_temp.ord(103);                                   -- E1 F2 A3 B4
-- bad inserts
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err('INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position) VALUES (1, 103, 203, 0)');  -- 23514 check
SELECT vreg_test.err('INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position) VALUES (1, 103, 203, 6)');  -- 23514 check
SELECT vreg_test.err($$SET CONSTRAINTS ALL IMMEDIATE;
  INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position) VALUES (1, 101, 206, 5)$$);  -- 23514 limit
DELETE FROM containers_vreg.registry_upstreams WHERE registry_id = 101 AND upstream_id IN (204, 205);
SELECT pg_temp.ord(101);                                   -- A1 B2 C3
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err($$SET CONSTRAINTS containers_vreg.registry_upstreams_slot_check IMMEDIATE;
  INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position) VALUES (1, 101, 206, 5)$$);  -- free but leaves a gap: 23514
SELECT vreg_test.err('INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id) VALUES (1, 103, 201)');  -- 23505 linked
SELECT vreg_test.err('INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id) VALUES (1, 999, 201)');  -- 23503 registry
SELECT vreg_test.err('INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id) VALUES (1, 103, 999)');  -- 23503 upstream
SELECT vreg_test.err('INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id) VALUES (1, 103, NULL)'); -- 23502
SELECT vreg_test.state() = :'s0' AS unchanged;

-- DELETE: later links move up; other registries untouched ---------------------
SELECT pg_temp.abcd(102);
SELECT pg_temp.ord(101) AS r1, pg_temp.ord(103) AS r3;
DELETE FROM containers_vreg.registry_upstreams WHERE registry_id = 102 AND upstream_id = 202;
SELECT pg_temp.ord(102);                                   -- A1 C2 D3
SELECT pg_temp.abcd(102);
DELETE FROM containers_vreg.registry_upstreams WHERE registry_id = 102 AND upstream_id IN (201, 203);
SELECT pg_temp.ord(102);                                   -- B1 D2
SELECT pg_temp.abcd(102);
DELETE FROM containers_vreg.registry_upstreams WHERE registry_id = 102 AND upstream_id = 204;
SELECT pg_temp.ord(102);                                   -- A1 B2 C3 (last one: nothing moves)
SELECT pg_temp.ord(101) AS r1, pg_temp.ord(103) AS r3;     -- untouched
-- detach_upstream
SELECT pg_temp.abcd(102);
SELECT containers_vreg.detach_upstream(1, 102, 201);
SELECT pg_temp.ord(102);                                   -- B1 C2 D3
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err('SELECT containers_vreg.detach_upstream(1, 102, 201)');     -- P0002 not linked
SELECT vreg_test.err('SELECT containers_vreg.detach_upstream(1, 111, 211)');     -- P0002 registry of group 2
SELECT vreg_test.err('SELECT containers_vreg.detach_upstream(1, 999, 202)');     -- P0002 unknown registry
SELECT vreg_test.err('SELECT containers_vreg.detach_upstream(NULL, 102, 202)');  -- 22004
SELECT vreg_test.err('SELECT containers_vreg.detach_upstream(1, NULL, 202)');    -- 22004
SELECT vreg_test.err('SELECT containers_vreg.detach_upstream(1, 102, NULL)');    -- 22004
SELECT vreg_test.state() = :'s0' AS unchanged;
-- deleting an upstream: its links cascade, each affected registry closes ranks
SELECT pg_temp.abcd(102);
SELECT pg_temp.ord(101) AS r1, pg_temp.ord(102) AS r2, pg_temp.ord(103) AS r3;
DELETE FROM containers_vreg.upstreams WHERE group_id = 1 AND id = 202;
SELECT pg_temp.ord(101) AS r1, pg_temp.ord(102) AS r2, pg_temp.ord(103) AS r3;
INSERT INTO containers_vreg.upstreams (group_id, id, url, name) VALUES (1, 202, 'https://b.example.com', 'B');
-- a plain DELETE of a registry removes its links and keeps its upstreams
SELECT count(*) AS upstreams FROM containers_vreg.upstreams WHERE group_id = 1;
DELETE FROM containers_vreg.registries WHERE group_id = 1 AND id = 103;
SELECT count(*) AS upstreams FROM containers_vreg.upstreams WHERE group_id = 1;
SELECT count(*) AS links_of_r3 FROM containers_vreg.registry_upstreams WHERE registry_id = 103;

-- delete_registry: also deletes the upstreams linked to no other registry -----
INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (1, 104, 'r4');
INSERT INTO containers_vreg.upstreams (group_id, id, url, name) VALUES (1, 207, 'https://g.example.com', 'G'), (1, 208, 'https://h.example.com', 'H');
SELECT containers_vreg.attach_upstream(1, 104, u) FROM unnest(ARRAY[207, 201, 208]) u;
SELECT pg_temp.ord(104) AS r4, pg_temp.ord(101) AS r1, pg_temp.ord(102) AS r2;
SELECT containers_vreg.delete_registry(1, 104) AS upstreams_deleted;   -- G and H
SELECT name FROM containers_vreg.upstreams WHERE group_id = 1 ORDER BY name;
SELECT pg_temp.ord(101) AS r1, pg_temp.ord(102) AS r2;
SELECT vreg_test.state() AS s0 \gset
SELECT vreg_test.err('SELECT containers_vreg.delete_registry(1, 104)');     -- P0002 gone
SELECT vreg_test.err('SELECT containers_vreg.delete_registry(1, 111)');     -- P0002 registry of group 2
SELECT vreg_test.err('SELECT containers_vreg.delete_registry(NULL, 101)');  -- 22004
SELECT vreg_test.err('SELECT containers_vreg.delete_registry(1, NULL)');    -- 22004
SELECT vreg_test.state() = :'s0' AS unchanged;
-- a registry without upstreams
INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (1, 105, 'r5');
SELECT containers_vreg.delete_registry(1, 105) AS upstreams_deleted;

-- registry_upstreams(): position order, no credentials ------------------------
SELECT * FROM containers_vreg.registry_upstreams(1, 102);
SELECT * FROM containers_vreg.registry_upstreams(2, 111);
SELECT pg_get_function_result('containers_vreg.registry_upstreams(bigint, bigint)'::regprocedure);
SELECT vreg_test.err('SELECT * FROM containers_vreg.registry_upstreams(1, 111)');   -- P0002
SELECT vreg_test.err('SELECT * FROM containers_vreg.registry_upstreams(NULL, 102)'); -- 22004
SELECT vreg_test.err('SELECT * FROM containers_vreg.registry_upstreams(1, NULL)');   -- 22004

-- the API is not executable by PUBLIC
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_can_execute
  FROM pg_proc p
 WHERE p.pronamespace = 'containers_vreg'::regnamespace
   AND p.proname IN ('attach_upstream', 'move_upstream', 'detach_upstream', 'delete_registry', 'registry_upstreams')
 ORDER BY 1;

-- plain DML by a role with table privileges only (the triggers' own shifts
-- run as the table owner, as RI triggers do)
CREATE ROLE vreg_positions_dml;
GRANT USAGE ON SCHEMA containers_vreg TO vreg_positions_dml;
GRANT SELECT, INSERT, UPDATE, DELETE ON containers_vreg.registry_upstreams TO vreg_positions_dml;
GRANT USAGE ON SEQUENCE containers_vreg.registry_upstreams_id_seq TO vreg_positions_dml;
SELECT pg_temp.abcd(102);
SET ROLE vreg_positions_dml;
UPDATE containers_vreg.registry_upstreams SET position = 1 WHERE registry_id = 102 AND upstream_id = 203;
DELETE FROM containers_vreg.registry_upstreams WHERE registry_id = 102 AND upstream_id = 201;
INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position) VALUES (1, 102, 205, 1);
RESET ROLE;
SELECT pg_temp.ord(102);                                   -- E1 C2 B3 D4
DROP OWNED BY vreg_positions_dml;
DROP ROLE vreg_positions_dml;

-- REPEATABLE READ: decisions use the latest committed links (single session here;
-- the concurrent cases are in test/isolation/specs/positions_*.spec)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT containers_vreg.move_upstream(1, 102, 204, 1) AS d_to_1;
SELECT containers_vreg.detach_upstream(1, 102, 205);
SELECT containers_vreg.attach_upstream(1, 102, 205) AS e;
COMMIT;
SELECT pg_temp.ord(102);                                   -- D1 C2 B3 E4

-- invariant over everything this test left behind: no row
SELECT group_id, registry_id, array_agg(position ORDER BY position) AS positions
  FROM containers_vreg.registry_upstreams GROUP BY 1, 2
HAVING min(position) <> 1 OR max(position) <> count(*) OR count(DISTINCT position) <> count(*);
SELECT count(*) AS links FROM containers_vreg.registry_upstreams;
