-- containers_vreg 0.2.0 -> 0.3.0 (security and correctness release).
-- Every change to sql/install/ since 0.2.0 is repeated here; test/scripts/upgrade.sh
-- checks that 0.2.0 (and 0.1.0) plus the update scripts define every extension
-- member exactly as a fresh 0.3.0 install does.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION containers_vreg UPDATE TO '0.3.0'" to load this file. \quit

-- ---------------------------------------------------------------------------
-- containers_vreg.allow_local_upstreams: the local-network rule moves from the
-- CHECK constraint (which must not depend on a setting) to a trigger; the
-- CHECK keeps every rule that holds whatever the setting.
-- ---------------------------------------------------------------------------
ALTER TABLE @extschema@.upstreams DROP CONSTRAINT upstreams_url_rules_check;
DROP FUNCTION @extschema@.check_upstream_url(text);
CREATE FUNCTION @extschema@.check_upstream_url(url text, allow_local boolean DEFAULT false)
  RETURNS boolean
  AS 'MODULE_PATHNAME', 'containers_vreg_check_upstream_url'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.check_upstream_url(text, boolean) IS
  'check_upstream_url(url text, allow_local boolean DEFAULT false) -> boolean. Returns true for an acceptable upstream URL; otherwise raises SQLSTATE 23514 (check_violation) with a message naming the problem: scheme other than http/https, missing or malformed host, userinfo, bad port, whitespace or control characters, or a host that is localhost or a loopback / private / link-local / unspecified / multicast / reserved address, in any encoding (decimal 2130706433, hex 0x7f.1, octal, IPv4-mapped IPv6 [::ffff:127.0.0.1]). With allow_local true, localhost, loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7, fec0::/10) and shared (100.64/10) hosts are accepted; link-local (cloud metadata), unspecified, multicast and reserved never are. Immutable: depends on its arguments only. The CHECK constraint on upstreams.url calls it with allow_local true; the trigger upstreams_url_network applies the setting containers_vreg.allow_local_upstreams. NULL in, NULL out. The database cannot resolve DNS: the service must re-check the resolved address at connect time.';
ALTER TABLE @extschema@.upstreams
  ADD CONSTRAINT upstreams_url_rules_check CHECK (@extschema@.check_upstream_url(url, true));

CREATE FUNCTION @extschema@.upstreams_url_network() RETURNS trigger
  AS 'MODULE_PATHNAME', 'containers_vreg_upstreams_url_network'
  LANGUAGE C SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION @extschema@.upstreams_url_network() IS
  'Trigger (internal): BEFORE INSERT OR UPDATE OF url row trigger on upstreams refusing (SQLSTATE 23514, the message of check_upstream_url) a url whose host is localhost, loopback, private or shared address space unless the setting containers_vreg.allow_local_upstreams (superuser-only, off by default) is on. An UPDATE that leaves url unchanged is not checked again. A superuser session with check_function_bodies = off (what pg_dump scripts and pg_restore set) is a restore and is let through, so a dump with local upstreams restores on a server with the setting off.';
CREATE TRIGGER upstreams_url_network BEFORE INSERT OR UPDATE OF url ON @extschema@.upstreams
  FOR EACH ROW EXECUTE FUNCTION @extschema@.upstreams_url_network();
