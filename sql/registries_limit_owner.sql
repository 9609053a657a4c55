-- The limit of 5 registries per group counts as the table's owner, not as the
-- inserting role: a role with INSERT but no SELECT on registries can create
-- registries (and is refused a 6th), and a row-level security policy that
-- hides rows from the inserting role does not hide them from the count.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT vreg_test.reset();

CREATE ROLE regress_vreg_inserter NOLOGIN;
GRANT USAGE ON SCHEMA containers_vreg TO regress_vreg_inserter;
GRANT INSERT ON containers_vreg.registries TO regress_vreg_inserter;
GRANT USAGE ON SCHEMA vreg_test TO regress_vreg_inserter;

-- INSERT without SELECT: five registries, then the limit
SET ROLE regress_vreg_inserter;
SELECT vreg_test.err(format($$INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (9, %s, 'r%s')$$, i, i)) AS insert_only
  FROM generate_series(901, 906) i;
SELECT vreg_test.err('SELECT count(*) FROM containers_vreg.registries') AS no_select;
RESET ROLE;
SELECT count(*) AS registries_of_group_9 FROM containers_vreg.registries WHERE group_id = 9;

-- row-level security hiding every row from the role: the limit still holds
GRANT SELECT ON containers_vreg.registries TO regress_vreg_inserter;
ALTER TABLE containers_vreg.registries ENABLE ROW LEVEL SECURITY;
CREATE POLICY regress_hide ON containers_vreg.registries FOR SELECT TO regress_vreg_inserter USING (false);
CREATE POLICY regress_insert ON containers_vreg.registries FOR INSERT TO regress_vreg_inserter WITH CHECK (true);
INSERT INTO containers_vreg.registries (group_id, id, name)
SELECT 10, i, 'r' || i FROM generate_series(1001, 1005) i;
SET ROLE regress_vreg_inserter;
SELECT count(*) AS rows_the_role_sees FROM containers_vreg.registries WHERE group_id = 10;
SELECT vreg_test.err($$INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (10, 1006, 'sixth')$$) AS sixth_under_rls;
SELECT vreg_test.err($$INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (11, 1101, 'first')$$) AS other_group;
RESET ROLE;
SELECT group_id, count(*) FROM containers_vreg.registries WHERE group_id IN (10, 11) GROUP BY 1 ORDER BY 1;
-- nor one that applies to the owner itself (FORCE ROW LEVEL SECURITY, a
-- non-superuser owner), undone by the rollback
BEGIN;
CREATE ROLE regress_vreg_owner NOLOGIN;
GRANT USAGE ON SCHEMA containers_vreg TO regress_vreg_owner;
ALTER TABLE containers_vreg.registries OWNER TO regress_vreg_owner;
ALTER TABLE containers_vreg.registries FORCE ROW LEVEL SECURITY;
CREATE POLICY regress_hide_from_owner ON containers_vreg.registries FOR SELECT TO regress_vreg_owner USING (false);
SET LOCAL ROLE regress_vreg_owner;
SELECT count(*) AS rows_the_owner_sees FROM containers_vreg.registries WHERE group_id = 10;
SET LOCAL ROLE regress_vreg_inserter;
SELECT vreg_test.err($$INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (10, 1006, 'sixth')$$) AS sixth_under_forced_rls;
ROLLBACK;

-- back to normal
ALTER TABLE containers_vreg.registries DISABLE ROW LEVEL SECURITY;
DROP POLICY regress_hide ON containers_vreg.registries;
DROP POLICY regress_insert ON containers_vreg.registries;
SELECT relrowsecurity, relforcerowsecurity FROM pg_class WHERE oid = 'containers_vreg.registries'::regclass;
REVOKE ALL ON containers_vreg.registries FROM regress_vreg_inserter;
REVOKE USAGE ON SCHEMA containers_vreg FROM regress_vreg_inserter;
REVOKE USAGE ON SCHEMA vreg_test FROM regress_vreg_inserter;
DROP ROLE regress_vreg_inserter;
SELECT vreg_test.reset();
