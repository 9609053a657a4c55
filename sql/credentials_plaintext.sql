-- The plaintext jsonb that upstream_credentials() returns is built in one
-- allocation of its exact size (so that no grown-and-freed copy of the
-- plaintext is left unwiped). It must be exactly the jsonb PostgreSQL builds
-- for the same object: equal, same text, same size on disk, same key order,
-- usable by every operator, for any value the rules accept (escapes, control
-- characters, 2-, 3- and 4-byte characters, 1 and 510 characters).
\set VERBOSITY terse
SELECT vreg_test.reset();

CREATE TABLE pg_temp.cases (id bigint, username text, password text);
INSERT INTO pg_temp.cases VALUES
  (1, 'bot', 'hunter2'),
  (2, 'u', 'p'),
  (3, 'quote"back\slash/solidus', E'tab\tnewline\ncr\rbell\x07'),
  (4, 'é', '日本語'),
  (5, repeat('😀', 510), repeat('😀', 510)),
  (6, repeat('x', 510), repeat('é', 510)),
  (7, E'\u0001\u001f', '{"username": "nested", "v": 1}'),
  (8, 'password', 'username');
-- and 200 more of random lengths (1..510) and characters
INSERT INTO pg_temp.cases
SELECT 100 + i,
       (SELECT string_agg(chr(32 + (random() * 2000)::int), '') FROM generate_series(1, 1 + (random() * 509)::int) WHERE i > 0),
       (SELECT string_agg(chr(32 + (random() * 90)::int), '') FROM generate_series(1, 1 + (random() * 509)::int) WHERE i > 0)
  FROM generate_series(1, 200) i;

INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials)
SELECT 5, id, 'https://r' || id || '.example.com', jsonb_build_object('username', username, 'password', password)
  FROM pg_temp.cases;

SELECT c.id, o = e AS equal, o::text = e::text AS same_text,
       pg_column_size(o) AS size, pg_column_size(o) = pg_column_size(e) AS same_size,
       o->>'username' = c.username AND o->>'password' = c.password AS values_match,
       (SELECT string_agg(k, ',') FROM jsonb_object_keys(o) k) AS key_order,
       o @> e AND e @> o AS contains, o ? 'username' AND o ? 'password' AS has_keys,
       jsonb_typeof(o) AS type
  FROM pg_temp.cases c,
       LATERAL (SELECT containers_vreg.upstream_credentials(5, c.id) AS o,
                       jsonb_build_object('username', c.username, 'password', c.password) AS e) x
 WHERE c.id < 100
 ORDER BY c.id;

-- the random ones: every one identical
SELECT count(*) AS random_cases,
       count(*) FILTER (WHERE o = e AND o::text = e::text AND pg_column_size(o) = pg_column_size(e)
                          AND o->>'username' = c.username AND o->>'password' = c.password) AS identical
  FROM pg_temp.cases c,
       LATERAL (SELECT containers_vreg.upstream_credentials(5, c.id) AS o,
                       jsonb_build_object('username', c.username, 'password', c.password) AS e) x
 WHERE c.id >= 100;

-- its text form parses back to it, and deleting a key gives the expected object
SELECT delete_key_ok, text_ok
  FROM (SELECT bool_and(containers_vreg.upstream_credentials(5, id)::text::jsonb = containers_vreg.upstream_credentials(5, id)) AS text_ok,
               bool_and(containers_vreg.upstream_credentials(5, id) - 'username' = jsonb_build_object('password', password)) AS delete_key_ok
          FROM pg_temp.cases) s;

SELECT vreg_test.reset();
