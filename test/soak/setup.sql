-- Data for the soak (test/soak/run.sh): groups 1..:groups, each with
-- registries g*10+1 and g*10+2 and upstreams g*100+1..4 (with credentials),
-- every upstream linked to both registries (in opposite orders), and a few
-- cached entries per upstream. Group 1000 holds the counted entry: only
-- test/soak/counted.sql touches it, and each of its transactions also adds a
-- row to soak_ledger, so after the run its downloads_count must equal the
-- ledger's row count exactly (pgbench's per-script counts are not exact).
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS containers_vreg;
INSERT INTO containers_vreg.registries (group_id, id, name)
SELECT g, g * 10 + r, 'registry ' || r FROM generate_series(1, :groups) g, generate_series(1, 2) r;
INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials)
SELECT g, g * 100 + k, 'https://u' || k || '.g' || g || '.example.com',
       jsonb_build_object('username', 'bot' || k, 'password', 'pw-' || g || '-' || k)
  FROM generate_series(1, :groups) g, generate_series(1, 4) k;
SELECT count(containers_vreg.attach_upstream(g, g * 10 + r, g * 100 + k)) AS links
  FROM (SELECT g, r, k FROM generate_series(1, :groups) g, generate_series(1, 2) r, generate_series(1, 4) k
         ORDER BY g, r, CASE WHEN r = 1 THEN k ELSE -k END) s \gset
SELECT count(containers_vreg.upsert_cache_entry(g, g * 100 + k, 'img' || (p % 20) || '/manifests/v' || p,
                                                p * 1000, 'file', decode(repeat('ab', 20), 'hex'))) AS seeded
  FROM generate_series(1, :groups) g, generate_series(1, 4) k, generate_series(1, 50) p \gset
INSERT INTO containers_vreg.upstreams (group_id, id, url) VALUES (1000, 100001, 'https://counted.example.com');
SELECT (containers_vreg.upsert_cache_entry(1000, 100001, 'counted/manifests/latest', 1, 'file',
                                           decode(repeat('cd', 20), 'hex'))).id AS counted \gset
CREATE TABLE public.soak_ledger (n bigint);
\echo counted :counted
