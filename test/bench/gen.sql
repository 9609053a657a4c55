-- Benchmark data generator (the README's performance section). Loaded by
-- test/bench/run.sh into a database where containers_vreg is installed.
--
-- Layout (every id is computable, so pgbench scripts can pick random keys
-- without a lookup):
--   groups          g = 1 .. ng
--   upstreams       id (g-1)*5 + k, k = 1..5           (5 per group)
--   registries      id (g-1)*5 + r, r = 1..5           (5 per group, the limit)
--   links           registry r has upstreams 1..r at positions 1..r, so
--                   registries have 1..5 upstreams; registry 5 has all five
--   cache entries   per (group, upstream k): i = 0 .. m-1, id
--                   ((g-1)*5 + k-1) * mmax + i + 1 (mmax leaves room for x10)
--                   i % 10 = 0     tag manifest    /<name>/manifests/v<i>
--                   i % 10 = 1, 2  digest manifest /<name>/manifests/sha256:<hex>
--                   else           blob            /<name>/blobs/sha256:<hex>
--                   name = names[1 + (i*7 + k) % nnames] (real repository
--                   names from the pull data); a blob's digest is shared by
--                   the three consecutive i of one i/3 bucket, i.e. the same
--                   layer cached under up to three image names.
--   digest value    h = g * 2^40 + k * 2^36 + (blob: i/3, manifest: 2^35 + i),
--                   hex = encode(sha256(int8send(h)), 'hex') (64 hex digits)
CREATE SCHEMA vreg_bench;

CREATE TABLE vreg_bench.names (n integer PRIMARY KEY, name text NOT NULL);
CREATE TABLE vreg_bench.sizes (n integer PRIMARY KEY, size bigint NOT NULL);
CREATE TABLE vreg_bench.layout (ng integer NOT NULL, mmax bigint NOT NULL, m integer NOT NULL);

CREATE FUNCTION vreg_bench.hex(h bigint) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  AS $$ SELECT encode(sha256(int8send(h)), 'hex') $$;

-- Groups, upstreams, registries and links, all with explicit ids and positions.
CREATE FUNCTION vreg_bench.setup(p_ng integer, p_mmax bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO vreg_bench.layout VALUES (p_ng, p_mmax, 0);
  INSERT INTO containers_vreg.upstreams (group_id, id, url, cache_validity_hours, name)
  SELECT g, (g - 1) * 5 + k, format('https://mirror%s.g%s.example.com/', k, g), 24, 'upstream ' || k
    FROM generate_series(1, p_ng) g, generate_series(1, 5) k
   ORDER BY 1, 2;
  INSERT INTO containers_vreg.registries (group_id, id, name)
  SELECT g, (g - 1) * 5 + r, 'registry ' || r
    FROM generate_series(1, p_ng) g, generate_series(1, 5) r
   ORDER BY 1, 2;
  INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position)
  SELECT g, (g - 1) * 5 + r, (g - 1) * 5 + k, k
    FROM generate_series(1, p_ng) g, generate_series(1, 5) r, generate_series(1, 5) k
   WHERE k <= r
   ORDER BY 1, 2, 4;
  PERFORM setval('containers_vreg.upstreams_id_seq', p_ng * 5);
  PERFORM setval('containers_vreg.registries_id_seq', p_ng * 5);
END $$;

-- Entries i = p_from .. p_to - 1 of every (group, upstream): one set-based INSERT.
CREATE FUNCTION vreg_bench.fill(p_from integer, p_to integer) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
  v_ng integer;
  v_mmax bigint;
  v_nnames integer := (SELECT count(*) FROM vreg_bench.names);
  v_nsizes integer := (SELECT count(*) FROM vreg_bench.sizes);
  v_rows bigint;
BEGIN
  SELECT ng, mmax INTO v_ng, v_mmax FROM vreg_bench.layout;
  INSERT INTO containers_vreg.cache_entries AS e
         (group_id, id, upstream_id, relative_path, status, upstream_checked_at, upstream_etag,
          size, file, object_storage_key, content_type, file_md5, file_sha1, digest,
          downloads_count, downloaded_at)
  SELECT g, x.id, x.u,
         '/' || nm.name || CASE WHEN i % 10 = 0 THEN '/manifests/v' || i
                                WHEN i % 10 < 3 THEN '/manifests/sha256:' || x.hex
                                ELSE '/blobs/sha256:' || x.hex END,
         0,
         now() - make_interval(hours => (i % 48)),
         CASE WHEN i % 10 < 3 THEN '"sha256:' || x.hex || '"' END,
         CASE WHEN i % 10 < 3 THEN 512 + (x.h % 7000) ELSE sz.size END,
         'cas/sha256/' || substr(x.hex, 1, 2) || '/' || x.hex,
         'groups/' || g || '/upstreams/' || x.u || '/' || x.id,
         CASE WHEN i % 10 < 3 THEN 'application/vnd.oci.image.manifest.v1+json'
              ELSE 'application/vnd.oci.image.layer.v1.tar+gzip' END,
         substr(sha256(int8send(x.id)), 1, 16),
         substr(sha256(int8send(-x.id)), 1, 20),
         'sha256:' || x.hex,
         i % 100,
         now() - make_interval(days => (i % 90))
    FROM generate_series(1, v_ng) g,
         generate_series(1, 5) k,
         generate_series(p_from, p_to - 1) i,
         LATERAL (SELECT ((g - 1) * 5 + k - 1)::bigint * v_mmax + i + 1 AS id,
                         (g - 1) * 5 + k AS u,
                         h.h, vreg_bench.hex(h.h) AS hex
                    FROM (SELECT g::bigint * 1099511627776 + k::bigint * 68719476736
                                 + CASE WHEN i % 10 < 3 THEN 34359738368 + i ELSE i / 3 END AS h) h) x,
         LATERAL (SELECT name FROM vreg_bench.names WHERE n = 1 + (i * 7 + k) % v_nnames) nm,
         LATERAL (SELECT size FROM vreg_bench.sizes WHERE n = 1 + (x.h % v_nsizes)::integer) sz;
  GET DIAGNOSTICS v_rows = ROW_COUNT;
  UPDATE vreg_bench.layout SET m = greatest(m, p_to);
  PERFORM setval('containers_vreg.cache_entries_id_seq', v_ng::bigint * 5 * v_mmax + 1);
  RETURN v_rows;
END $$;

-- Backend memory from /proc/self/status (kB): VmRSS counts the shared
-- buffers this backend touched, RssAnon only its private memory.
CREATE FUNCTION vreg_bench.proc_status(field text) RETURNS bigint
LANGUAGE sql AS $$
  SELECT (regexp_match(pg_read_file('/proc/self/status'), field || ':\s+(\d+) kB'))[1]::bigint
$$;

-- n resolve calls in this backend on random blob hits (registry 5).
CREATE FUNCTION vreg_bench.resolve_loop(p_calls integer) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
  v_ng integer; v_m integer; v_nnames integer := (SELECT count(*) FROM vreg_bench.names);
  v_names text[] := (SELECT array_agg(x.name ORDER BY x.n) FROM vreg_bench.names x);
  g integer; k integer; i integer; hits integer := 0; r text;
BEGIN
  SELECT ng, m INTO v_ng, v_m FROM vreg_bench.layout;
  FOR c IN 1 .. p_calls LOOP
    g := 1 + (random() * (v_ng - 1))::integer;
    k := 1 + (c % 5);
    i := 10 * (random() * (v_m / 10 - 1))::integer + 3 + c % 7;
    SELECT result INTO r FROM containers_vreg.resolve(g, (g - 1) * 5 + 5,
      '/' || v_names[1 + (i * 7 + k) % v_nnames] || '/blobs/sha256:'
      || vreg_bench.hex(g::bigint * 1099511627776 + k::bigint * 68719476736 + i / 3));
    IF r = 'hit' THEN hits := hits + 1; END IF;
  END LOOP;
  RETURN hits;
END $$;

-- What an application computes without cache_entry_partition: same
-- contract, bounds read from the catalog on every call (routing helper's idea).
CREATE FUNCTION vreg_bench.sql_partition(group_id bigint) RETURNS regclass
LANGUAGE sql STABLE AS $$
  SELECT i.inhrelid::regclass
    FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = 'containers_vreg.cache_entries'::regclass
     AND satisfies_hash_partition(i.inhparent,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'modulus (\d+)'))[1]::int,
           (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'remainder (\d+)'))[1]::int,
           group_id)
$$;

-- Memory allocated by this backend's memory contexts (bytes): what a per-call
-- leak would grow, without the allocator's and the OS's page accounting.
CREATE FUNCTION vreg_bench.context_bytes() RETURNS bigint
LANGUAGE sql AS $$ SELECT sum(total_bytes)::bigint FROM pg_backend_memory_contexts $$;
