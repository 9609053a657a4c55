-- Data model (docs/design.md): every CHECK, key and limit, with a passing
-- and a failing case; every failing statement leaves the tables unchanged.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT vreg_test.reset();

-- registries ------------------------------------------------------------------
INSERT INTO containers_vreg.registries (group_id, name) VALUES (1, 'docker') RETURNING group_id, name, description;
SELECT vreg_test.err($$INSERT INTO containers_vreg.registries (group_id, name) VALUES (1, '')$$); -- 23514
SELECT vreg_test.err($$INSERT INTO containers_vreg.registries (group_id, name) VALUES (1, '   ')$$); -- 23514 blank
SELECT vreg_test.err($$INSERT INTO containers_vreg.registries (group_id, name) VALUES (1, repeat('n', 256))$$); -- 23514
INSERT INTO containers_vreg.registries (group_id, name) VALUES (1, repeat('n', 255)) RETURNING char_length(name);
SELECT vreg_test.err($$INSERT INTO containers_vreg.registries (group_id, name, description) VALUES (1, 'd', repeat('d', 1025))$$); -- 23514
SELECT vreg_test.err($$INSERT INTO containers_vreg.registries (group_id, name) VALUES (1, 'docker')$$); -- 23505
INSERT INTO containers_vreg.registries (group_id, name) VALUES (2, 'docker') RETURNING group_id, name;  -- other group: fine
SELECT vreg_test.err($$INSERT INTO containers_vreg.registries (group_id, name) VALUES (NULL, 'x')$$); -- 23502
SELECT group_id, count(*) FROM containers_vreg.registries GROUP BY 1 ORDER BY 1;

-- at most 5 registries per group
INSERT INTO containers_vreg.registries (group_id, name) VALUES (1, 'r3'), (1, 'r4'), (1, 'r5');
SELECT vreg_test.err($$INSERT INTO containers_vreg.registries (group_id, name) VALUES (1, 'r6')$$); -- 23514 limit
SELECT vreg_test.err($$INSERT INTO containers_vreg.registries (group_id, name) VALUES (3, 'a'), (3, 'b'), (3, 'c'), (3, 'd'), (3, 'e'), (3, 'f')$$); -- one statement: 23514
SELECT group_id, count(*) FROM containers_vreg.registries GROUP BY 1 ORDER BY 1;

-- group_id never changes; updated_at moves
SELECT vreg_test.err($$UPDATE containers_vreg.registries SET group_id = 9 WHERE group_id = 2$$); -- 23514
BEGIN;
UPDATE containers_vreg.registries SET updated_at = '2000-01-01', created_at = '2000-01-01' WHERE group_id = 2;
SELECT updated_at = now() AS updated_at_is_now, created_at = '2000-01-01' AS created_kept FROM containers_vreg.registries WHERE group_id = 2;
ROLLBACK;

-- upstreams -------------------------------------------------------------------
INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, 'https://registry-1.docker.io')
  RETURNING group_id, url, cache_validity_hours, credentials, name, description;
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, 'ftp://example.com')$$); -- 23514
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, 'https://' || repeat('a', 248) || '.io')$$); -- 23514 length
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url, cache_validity_hours) VALUES (1, 'https://ghcr.io', -1)$$); -- 23514
INSERT INTO containers_vreg.upstreams (group_id, url, cache_validity_hours) VALUES (1, 'https://ghcr.io', 0) RETURNING cache_validity_hours;
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url, name) VALUES (1, 'https://quay.io', repeat('q', 256))$$); -- 23514
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url, description) VALUES (1, 'https://quay.io', repeat('q', 1025))$$); -- 23514
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, 'https://registry-1.docker.io')$$); -- 23505 same url, no credentials
INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (2, 'https://registry-1.docker.io') RETURNING group_id;
SELECT group_id, url FROM containers_vreg.upstreams ORDER BY group_id, url;

-- registry_upstreams: composite foreign keys keep links inside one group
SELECT vreg_test.err($$INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id)
SELECT 1, r.id, u.id FROM containers_vreg.registries r, containers_vreg.upstreams u
 WHERE r.group_id = 1 AND r.name = 'docker' AND u.group_id = 2$$); -- 23503
SELECT vreg_test.err($$INSERT INTO containers_vreg.registry_upstreams (group_id, registry_id, upstream_id, position)
SELECT 1, r.id, u.id, 6 FROM containers_vreg.registries r, containers_vreg.upstreams u
 WHERE r.group_id = 1 AND r.name = 'docker' AND u.group_id = 1 AND u.url = 'https://ghcr.io'$$); -- 23514
SELECT count(*) FROM containers_vreg.registry_upstreams;

-- cache_entries -----------------------------------------------------------------
SELECT count(*) AS partitions FROM pg_inherits WHERE inhparent = 'containers_vreg.cache_entries'::regclass;
SELECT containers_vreg.object_storage_prefix(42), containers_vreg.object_storage_prefix(-7), containers_vreg.object_storage_prefix(NULL);
CREATE TEMP TABLE ce_ok AS SELECT 1::bigint AS group_id, 5::bigint AS upstream_id, '/library/alpine/blobs/sha256:' || repeat('a', 64) AS relative_path,
  10::bigint AS size, 'f' AS file, 'groups/1/k1' AS object_storage_key, decode(repeat('00', 20), 'hex') AS file_sha1;
INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
  SELECT * FROM ce_ok RETURNING status, content_type, downloads_count, digest;
-- each broken column, one at a time
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
  SELECT group_id, upstream_id, 'library/x', size, file, 'groups/1/k2', file_sha1 FROM ce_ok$$); -- no leading slash
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
  SELECT group_id, upstream_id, '/' || repeat('p', 1024), size, file, 'groups/1/k2', file_sha1 FROM ce_ok$$); -- too long
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
  SELECT group_id, upstream_id, '/x/blobs/y', -1, file, 'groups/1/k2', file_sha1 FROM ce_ok$$); -- negative size
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
  SELECT group_id, upstream_id, '/x/blobs/y', size, file, 'groups/2/k2', file_sha1 FROM ce_ok$$); -- other group's prefix
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
  SELECT group_id, upstream_id, '/x/blobs/y', size, file, 'groups/1/../2/k', file_sha1 FROM ce_ok$$); -- traversal
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
  SELECT group_id, upstream_id, '/x/blobs/y', size, file, 'groups/1/', file_sha1 FROM ce_ok$$); -- prefix only
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
  SELECT group_id, upstream_id, '/x/blobs/y', size, file, 'groups/1/k2', '\x00'::bytea FROM ce_ok$$); -- sha1 length
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1, file_md5)
  SELECT group_id, upstream_id, '/x/blobs/y', size, file, 'groups/1/k2', file_sha1, '\x00'::bytea FROM ce_ok$$); -- md5 length
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1, digest)
  SELECT group_id, upstream_id, '/x/blobs/y', size, file, 'groups/1/k2', file_sha1, 'sha256:ABC' FROM ce_ok$$); -- digest
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1, status)
  SELECT group_id, upstream_id, '/x/blobs/y', size, file, 'groups/1/k2', file_sha1, 4 FROM ce_ok$$); -- status
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1, content_type)
  SELECT group_id, upstream_id, '/x/blobs/y', size, file, 'groups/1/k2', file_sha1, repeat('c', 256) FROM ce_ok$$); -- content type
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1, upstream_etag)
  SELECT group_id, upstream_id, '/x/blobs/y', size, file, 'groups/1/k2', file_sha1, repeat('e', 256) FROM ce_ok$$); -- etag
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
  SELECT group_id, upstream_id, relative_path, size, file, 'groups/1/k2', file_sha1 FROM ce_ok$$); -- second live entry: 23505
SELECT vreg_test.err($$INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1)
  SELECT group_id, upstream_id, '/x/blobs/y', size, file, object_storage_key, file_sha1 FROM ce_ok$$); -- key reused: 23505
-- any number of non-live entries for one path
INSERT INTO containers_vreg.cache_entries (group_id, upstream_id, relative_path, size, file, object_storage_key, file_sha1, status)
  SELECT group_id, upstream_id, relative_path, size, file, 'groups/1/k' || s, file_sha1, 2 FROM ce_ok, generate_series(3, 4) s;
SELECT status, count(*) FROM containers_vreg.cache_entries GROUP BY 1 ORDER BY 1;
-- object_storage_key never changes
SELECT vreg_test.err($$UPDATE containers_vreg.cache_entries SET object_storage_key = 'groups/1/other' WHERE object_storage_key = 'groups/1/k1'$$);
-- rows go to the partition PostgreSQL routes the group to
SELECT tableoid::regclass FROM containers_vreg.cache_entries WHERE object_storage_key = 'groups/1/k1';
