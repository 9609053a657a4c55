-- ---------------------------------------------------------------------------
-- The limits of the data model as the C code has them (src/vreg_limits.h),
-- for the regression test that checks the CHECK constraints and argument
-- checks above against them (sql/limits.sql). Internal.
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.limits(OUT name text, OUT value bigint)
RETURNS SETOF record
  AS 'MODULE_PATHNAME', 'containers_vreg_limits'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.limits() IS
  'limits() -> setof (name text, value bigint). Internal: every limit of the data model as the C code defines it (src/vreg_limits.h; sizes in bytes, text in characters or bytes as the name says, lease and keep in days), so a test can check that the CHECK constraints and argument checks agree. No errors; not executable by PUBLIC.';
REVOKE ALL ON FUNCTION @extschema@.limits() FROM PUBLIC;
