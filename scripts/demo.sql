-- containers_vreg demo: a registry service's request loop, simulated inside
-- the server. Loaded by scripts/demo_trace.sh (and by test/scripts/demo_smoke.sh,
-- test/scripts/real_data.sh) into a database where the extension exists.
-- Everything the demo adds lives in the schema vreg_demo; the extension's
-- own tables are only written through its API functions, except the one
-- UPDATE that ages the tag manifests before pass 3 (a clock that moves 25
-- hours forward, which a demo cannot wait for).
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS vreg_demo CASCADE;
CREATE SCHEMA vreg_demo;

-- The trace: 7 columns of test/data/demo-trace.tsv (see test/data/README.md),
-- plus the row number.
CREATE TABLE vreg_demo.trace (
  seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  repository text NOT NULL,
  reference  text NOT NULL,
  kind       text NOT NULL CHECK (kind IN ('tag_manifest', 'platform_manifest', 'blob')),
  digest     text NOT NULL,
  media_type text NOT NULL,
  size_bytes text,
  platform   text
);

-- What each simulated upstream "has": the fetch tries the registry's
-- upstreams in position order and takes the first one that has the
-- repository ('*' = every repository).
CREATE TABLE vreg_demo.catalog (url text NOT NULL, repository text NOT NULL);
INSERT INTO vreg_demo.catalog (url, repository)
SELECT 'https://mirror.gcr.io', 'library/' || name
  FROM unnest(ARRAY['alpine', 'busybox', 'debian', 'nginx', 'node', 'postgres',
                    'python', 'redis', 'ubuntu']) AS name
UNION ALL
SELECT 'https://registry-1.docker.io', '*';

-- One row per replayed request.
CREATE TABLE vreg_demo.requests (
  pass        int    NOT NULL,
  seq         bigint NOT NULL,
  path        text   NOT NULL,
  kind        text   NOT NULL,
  result      text   NOT NULL,   -- hit | stale | miss
  upstream_id bigint,            -- the upstream that served (hit, stale) or was fetched from (miss)
  bytes       bigint NOT NULL,
  PRIMARY KEY (pass, seq)
);

-- A group with one registry and two upstreams: mirror.gcr.io at position 1
-- (Google's pull-through mirror of Docker Hub, which holds popular images
-- only) and Docker Hub at position 2. Returns the registry id.
CREATE FUNCTION vreg_demo.setup(p_group bigint) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_registry bigint;
  v_mirror   bigint;
  v_hub      bigint;
BEGIN
  INSERT INTO containers_vreg.registries (group_id, name, description)
  VALUES (p_group, 'containers', 'Docker official images through one URL')
  RETURNING id INTO v_registry;
  INSERT INTO containers_vreg.upstreams (group_id, url, name)
  VALUES (p_group, 'https://mirror.gcr.io', 'Google mirror of Docker Hub')
  RETURNING id INTO v_mirror;
  INSERT INTO containers_vreg.upstreams (group_id, url, name)
  VALUES (p_group, 'https://registry-1.docker.io', 'Docker Hub')
  RETURNING id INTO v_hub;
  INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position)
  VALUES (p_group, v_registry, v_mirror, 1), (p_group, v_registry, v_hub, 2);
  RETURN v_registry;
END $$;

-- The simulated fetch: the first upstream of the registry, in position
-- order, whose catalog has the repository.
CREATE FUNCTION vreg_demo.fetch_from(p_group bigint, p_registry bigint, p_repository text)
RETURNS bigint LANGUAGE sql STABLE AS $$
  SELECT u.id
    FROM containers_vreg.registry_upstreams ru
    JOIN containers_vreg.upstreams u ON u.group_id = ru.group_id AND u.id = ru.upstream_id
   WHERE ru.group_id = p_group AND ru.registry_id = p_registry
     AND EXISTS (SELECT 1 FROM vreg_demo.catalog c
                  WHERE c.url = u.url AND c.repository IN (p_repository, '*'))
   ORDER BY ru.position
   LIMIT 1
$$;

-- One pass over the trace, the way the registry service handles each request:
--   resolve -> hit:   serve from object storage, count the download
--           -> stale: revalidate with the upstream (If-None-Match: the ETag);
--                     simulated answer "304 Not Modified": mark_checked, serve
--           -> miss:  fetch from the first upstream that has it, store it,
--                     upsert_cache_entry
CREATE FUNCTION vreg_demo.replay(p_group bigint, p_registry bigint, p_pass int)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  t       vreg_demo.trace;
  r       record;
  v_path  text;
  v_up    bigint;
  v_size  bigint;
  v_hex   text;
  v_entry containers_vreg.cache_entries;
BEGIN
  FOR t IN SELECT * FROM vreg_demo.trace ORDER BY seq LOOP
    v_path := t.repository
              || CASE WHEN t.kind = 'blob' THEN '/blobs/' ELSE '/manifests/' END
              || t.reference;
    SELECT * INTO r FROM containers_vreg.resolve(p_group, p_registry, v_path);
    IF r.result = 'hit' THEN
      PERFORM containers_vreg.record_download(p_group, r.entry_id);
      INSERT INTO vreg_demo.requests VALUES (p_pass, t.seq, v_path, t.kind, 'hit', r.upstream_id, r.size);
    ELSIF r.result = 'stale' THEN
      PERFORM containers_vreg.mark_checked(p_group, r.entry_id);
      PERFORM containers_vreg.record_download(p_group, r.entry_id);
      INSERT INTO vreg_demo.requests VALUES (p_pass, t.seq, v_path, t.kind, 'stale', r.upstream_id, r.size);
    ELSIF r.result = 'miss' THEN
      v_up := vreg_demo.fetch_from(p_group, p_registry, t.repository);
      IF v_up IS NULL THEN
        RAISE EXCEPTION 'no upstream of registry % has %', p_registry, t.repository;
      END IF;
      v_hex := split_part(t.digest, ':', 2);
      -- manifests: the source gives no size; a deterministic 512..4607 bytes
      v_size := coalesce(nullif(t.size_bytes, '')::bigint,
                         512 + ('x' || substr(v_hex, 1, 3))::bit(12)::int);
      v_entry := containers_vreg.upsert_cache_entry(
        p_group, v_up, v_path, v_size,
        t.digest,                                   -- file: the stored file's name
        decode(substr(v_hex, 1, 40), 'hex'),        -- file_sha1: 20 bytes (simulated)
        t.media_type,
        CASE WHEN t.kind = 'blob' THEN NULL ELSE '"' || t.digest || '"' END);
      INSERT INTO vreg_demo.requests VALUES (p_pass, t.seq, v_path, t.kind, 'miss', v_up, v_size);
    ELSE
      RAISE EXCEPTION 'resolve returned %', r.result;
    END IF;
  END LOOP;
END $$;

-- Move the clock: every live tag manifest of the group was last checked
-- (its upstream's cache_validity_hours + 1) hours ago. Returns the count.
CREATE FUNCTION vreg_demo.age_tag_manifests(p_group bigint) RETURNS bigint
LANGUAGE sql AS $$
  WITH aged AS (
    UPDATE containers_vreg.cache_entries e
       SET upstream_checked_at = now() - make_interval(hours => u.cache_validity_hours + 1)
      FROM containers_vreg.upstreams u
     WHERE e.group_id = p_group AND e.status = 0
       AND u.group_id = e.group_id AND u.id = e.upstream_id
       AND e.relative_path ~ '/manifests/[^/:]+$'       -- a tag, not a digest
    RETURNING 1)
  SELECT count(*) FROM aged
$$;

-- Per-pass summary.
CREATE VIEW vreg_demo.passes AS
SELECT pass,
       count(*)                                   AS requests,
       count(*) FILTER (WHERE result = 'hit')     AS hits,
       count(*) FILTER (WHERE result = 'stale')   AS stale,
       count(*) FILTER (WHERE result = 'miss')    AS misses,
       coalesce(sum(bytes) FILTER (WHERE result <> 'miss'), 0) AS bytes_from_cache,
       coalesce(sum(bytes) FILTER (WHERE result = 'miss'), 0)  AS bytes_fetched
  FROM vreg_demo.requests
 GROUP BY pass;
