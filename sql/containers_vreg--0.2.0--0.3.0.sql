-- containers_vreg 0.2.0 -> 0.3.0 (security and correctness release).
-- Every change to sql/install/ since 0.2.0 is repeated here; test/scripts/upgrade.sh
-- checks that 0.2.0 (and 0.1.0) plus the update scripts define every extension
-- member exactly as a fresh 0.3.0 install does.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION containers_vreg UPDATE TO '0.3.0'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- One index descent per pull: the live-path and live-digest indexes of
-- cache_entries lead with the path (digest) and end with upstream_id, so
-- that one descent finds the live entries of every upstream of the group.
--
-- Building them takes a SHARE lock on cache_entries (writers wait, readers
-- do not) for the length of the build. To build them beforehand without
-- blocking writers, run scripts/prebuild-0.3.0-indexes.sql with psql (one
-- CREATE INDEX CONCURRENTLY per partition, then the parent index attached):
-- an index found here under its name, valid and of exactly this definition,
-- is kept and not built again. A leftover of a failed concurrent build
-- (invalid, under the name a partition's index would get) is dropped first,
-- so that the parent index never adopts it.
DO $$
DECLARE
  want record;
  part record;
  have record;
BEGIN
  FOR want IN
    SELECT * FROM (VALUES
      ('cache_entries_live_path_upstream_key', '_group_id_relative_path_upstream_id_idx',
       'CREATE UNIQUE INDEX cache_entries_live_path_upstream_key ON ONLY @extschema@.cache_entries USING btree (group_id, relative_path, upstream_id) WHERE (status = 0)',
       'CREATE UNIQUE INDEX cache_entries_live_path_upstream_key ON @extschema@.cache_entries (group_id, relative_path, upstream_id) WHERE status = 0'),
      ('cache_entries_live_digest_upstream_idx', '_group_id_digest_upstream_id_idx',
       'CREATE INDEX cache_entries_live_digest_upstream_idx ON ONLY @extschema@.cache_entries USING btree (group_id, digest, upstream_id) WHERE ((status = 0) AND (digest IS NOT NULL))',
       'CREATE INDEX cache_entries_live_digest_upstream_idx ON @extschema@.cache_entries (group_id, digest, upstream_id) WHERE status = 0 AND digest IS NOT NULL')
    ) AS w(name, child_suffix, def, ddl)
  LOOP
    SELECT i.indexrelid, i.indisvalid, pg_catalog.pg_get_indexdef(i.indexrelid) AS def INTO have
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
     WHERE c.relname = want.name AND c.relnamespace = '@extschema@'::pg_catalog.regnamespace;
    IF FOUND THEN
      IF have.def IS DISTINCT FROM want.def OR NOT have.indisvalid THEN
        RAISE EXCEPTION 'index @extschema@.% exists but is %', want.name,
          CASE WHEN have.def IS DISTINCT FROM want.def THEN 'defined otherwise: ' || have.def
               ELSE 'not valid (a partition has no index attached to it)' END
          USING ERRCODE = 'object_not_in_prerequisite_state',
                HINT = 'Finish scripts/prebuild-0.3.0-indexes.sql, or drop the index; then update again.';
      END IF;
      CONTINUE;                 -- built beforehand: keep it
    END IF;
    FOR part IN
      SELECT ic.oid::pg_catalog.regclass AS idx
        FROM pg_catalog.pg_inherits h
        JOIN pg_catalog.pg_class pc ON pc.oid = h.inhrelid
        JOIN pg_catalog.pg_class ic ON ic.relname = pc.relname || want.child_suffix
                                   AND ic.relnamespace = pc.relnamespace
        JOIN pg_catalog.pg_index i ON i.indexrelid = ic.oid AND i.indrelid = pc.oid
       WHERE h.inhparent = '@extschema@.cache_entries'::pg_catalog.regclass
         AND NOT i.indisvalid
    LOOP
      EXECUTE pg_catalog.format('DROP INDEX %s', part.idx);
    END LOOP;
    -- adopts every valid per-partition index of this definition, builds the rest
    EXECUTE want.ddl;
    IF NOT (SELECT i.indisvalid FROM pg_catalog.pg_index i
             WHERE i.indexrelid = pg_catalog.to_regclass('@extschema@.' || want.name)) THEN
      RAISE EXCEPTION 'index @extschema@.% is not valid after its build', want.name
        USING ERRCODE = 'object_not_in_prerequisite_state',
              HINT = 'A partition has an invalid index of the same definition (a failed CREATE INDEX CONCURRENTLY): drop it and update again.';
    END IF;
  END LOOP;
END
$$;
DROP INDEX IF EXISTS @extschema@.cache_entries_live_path_key;
DROP INDEX IF EXISTS @extschema@.cache_entries_live_digest_idx;
