-- ---------------------------------------------------------------------------
-- Credentials (DESIGN section 4). Until sealing lands, a non-NULL
-- credentials value is refused: plaintext must never be stored.
-- ---------------------------------------------------------------------------
CREATE FUNCTION @extschema@.upstreams_refuse_credentials() RETURNS trigger
LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
  IF NEW.credentials IS NOT NULL THEN
    RAISE EXCEPTION 'upstream credentials are not supported yet'
      USING ERRCODE = 'feature_not_supported',
            DETAIL = 'Credentials would be stored in plaintext.';
  END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER upstreams_refuse_credentials BEFORE INSERT OR UPDATE ON @extschema@.upstreams
  FOR EACH ROW EXECUTE FUNCTION @extschema@.upstreams_refuse_credentials();
