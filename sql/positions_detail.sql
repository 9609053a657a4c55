-- The commit-time positions check names the positions it found in its DETAIL.
-- The list comes from an SPI result; it must be copied out before SPI_finish
-- frees the SPI memory (a build with CLOBBER_FREED_MEMORY printed garbage).
-- The exact DETAIL text is asserted, through the client's error report and
-- through GET STACKED DIAGNOSTICS.
SET client_min_messages = warning;
SELECT vreg_test.reset();

INSERT INTO containers_vreg.registries (group_id, id, name) VALUES (3, 301, 'detail');
INSERT INTO containers_vreg.upstreams (group_id, id, url)
SELECT 3, 310 + i, 'https://u' || i || '.example.com' FROM generate_series(1, 4) i;
SELECT containers_vreg.attach_upstream(3, 301, u) FROM generate_series(311, 314) u;

-- SQLSTATE, message and detail of a statement's error
CREATE FUNCTION pg_temp.err_detail(stmt text) RETURNS TABLE (state text, message text, detail text)
LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE stmt;
  RETURN QUERY SELECT 'ok', NULL::text, NULL::text;
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
  GET STACKED DIAGNOSTICS message = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
  RETURN NEXT;
END $$;

-- checked at the end of the statement: 1 missing and 3 twice; 1 and 2 missing, 4 three times
SELECT * FROM pg_temp.err_detail($$SET CONSTRAINTS containers_vreg.registry_upstreams_slot_check IMMEDIATE;
  UPDATE containers_vreg.registry_upstreams l SET position = CASE l.upstream_id WHEN 311 THEN 3 ELSE 2 END
   WHERE l.group_id = 3 AND l.registry_id = 301 AND l.upstream_id IN (311, 312)$$);
SELECT * FROM pg_temp.err_detail($$SET CONSTRAINTS containers_vreg.registry_upstreams_slot_check IMMEDIATE;
  UPDATE containers_vreg.registry_upstreams l SET position = 4
   WHERE l.group_id = 3 AND l.registry_id = 301 AND l.upstream_id IN (311, 312)$$);

-- at COMMIT, as a client sees it (message, detail and hint)
BEGIN;
UPDATE containers_vreg.registry_upstreams l SET position = CASE l.upstream_id WHEN 311 THEN 2 ELSE 4 END
 WHERE l.group_id = 3 AND l.registry_id = 301 AND l.upstream_id IN (311, 312);
COMMIT;
-- nothing changed
SELECT string_agg(upstream_id || '@' || position, ' ' ORDER BY position) AS links
  FROM containers_vreg.registry_upstreams WHERE group_id = 3 AND registry_id = 301;
