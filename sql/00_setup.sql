-- Test helpers shared by every pg_regress test (tests run in one database,
-- in name order). vreg_test.err(sql) runs a statement and returns 'ok' or
-- '<SQLSTATE>: <message>', so expected outputs assert the exact SQLSTATE;
-- vreg_test.state() is a digest of every table, to assert that a refused
-- statement left the tables unchanged.
CREATE SCHEMA vreg_test;

CREATE FUNCTION vreg_test.err(stmt text) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE FUNCTION vreg_test.state() RETURNS text
LANGUAGE sql AS $$
  SELECT md5(concat_ws('|',
    (SELECT string_agg(t::text, ',' ORDER BY t.group_id, t.id) FROM containers_vreg.registries t),
    (SELECT string_agg(t::text, ',' ORDER BY t.group_id, t.id) FROM containers_vreg.upstreams t),
    (SELECT string_agg(t::text, ',' ORDER BY t.group_id, t.id) FROM containers_vreg.registry_upstreams t),
    (SELECT string_agg(t::text, ',' ORDER BY t.group_id, t.id) FROM containers_vreg.cache_entries t)))
$$;

-- Start every test from empty tables.
CREATE FUNCTION vreg_test.reset() RETURNS void
LANGUAGE sql AS $$
  TRUNCATE containers_vreg.registries, containers_vreg.upstreams,
           containers_vreg.registry_upstreams, containers_vreg.cache_entries;
$$;

SELECT vreg_test.err('SELECT 1/0');
SELECT vreg_test.state() IS NOT NULL AS state_works;
