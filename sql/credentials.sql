-- Upstream credentials: validation, sealing, binding to the row and its url
-- (envelope format 2), fingerprint uniqueness, url-change rule, API, privileges.
-- The test cluster's keyring (test/cluster.conf.d/keyring.sh) has keys 1 and
-- 2, so everything written here is sealed under key 2. Rotation and key
-- removal run in test/scripts/credentials_rotation.sh on a cluster of their own.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT vreg_test.reset();

-- The error with its detail, to assert that messages list the accepted keys.
CREATE FUNCTION pg_temp.err_detail(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; det text;
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
  RETURN st || ': ' || msg || ' | ' || det;
END $$;
-- Shape of what is stored: never plaintext.
CREATE FUNCTION pg_temp.stored(g bigint, u bigint) RETURNS text LANGUAGE sql AS $$
  SELECT CASE WHEN credentials IS NULL THEN 'null'
              ELSE (SELECT string_agg(k, ',' ORDER BY k) FROM jsonb_object_keys(credentials) k)
                   || ' kid=' || (credentials->>'kid') END
         || ' fp=' || octet_length(credentials_fingerprint)
    FROM containers_vreg.upstreams WHERE group_id = g AND id = u
$$;

-- valid plaintext is sealed ----------------------------------------------------
INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials)
  VALUES (1, 101, 'https://ghcr.io', '{"username": "bob", "password": "pw-101-secret"}');
SELECT pg_temp.stored(1, 101);
SELECT position('pw-101-secret' IN credentials::text) = 0 AS no_plaintext,
       position('bob' IN credentials::text) = 0 AS no_username,
       length(credentials->>'nonce') AS nonce_b64_chars,
       length(decode(credentials->>'ct', 'base64')) AS ct_bytes  -- 1 + (1+8+2+3) + (1+8+2+13) + 16 tag
  FROM containers_vreg.upstreams WHERE id = 101;
SELECT containers_vreg.upstream_credentials(1, 101);

-- no credentials: NULL, {}, empty strings ---------------------------------------
INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials) VALUES
  (1, 102, 'https://a.example.com', NULL),
  (1, 103, 'https://b.example.com', '{}'),
  (1, 104, 'https://c.example.com', '{"username": "", "password": ""}'),
  (1, 105, 'https://d.example.com', '{"username": ""}');
SELECT id, pg_temp.stored(1, id), containers_vreg.upstream_credentials(1, id) IS NULL AS none
  FROM containers_vreg.upstreams WHERE id BETWEEN 102 AND 105 ORDER BY id;

-- every invalid case: 22023, message names the problem, never a value ------------
SELECT vreg_test.state() AS s0 \gset
SELECT c AS credentials, vreg_test.err(format(
         $$INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials) VALUES (1, 110, 'https://e.example.com', %L)$$, c)) AS err
  FROM (VALUES
    ('{"username": "user-x"}'),                               -- one without the other
    ('{"password": "pw-x"}'),
    ('{"username": "user-x", "password": ""}'),
    ('{"username": "", "password": "pw-x"}'),
    ('{"username": 42, "password": "pw-x"}'),                 -- non-strings
    ('{"username": "user-x", "password": null}'),
    ('{"username": ["user-x"], "password": "pw-x"}'),
    ('{"username": "user-x", "password": {"p": "pw-x"}}'),
    ('{"username": "user-x", "password": true}'),
    ('{"username": "user-x", "password": "pw-x", "token": "tok-x"}'), -- unknown keys
    ('{"user": "user-x", "pass": "pw-x"}'),
    ('"pw-x"'),                                               -- not an object
    ('["user-x", "pw-x"]'),
    ('null'),
    ('7')
  ) AS t(c);
-- too long (511 characters; the second in two-byte characters)
SELECT vreg_test.err(format($$INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials) VALUES (1, 110, 'https://e.example.com', %L)$$, c))
  FROM (VALUES (jsonb_build_object('username', repeat('u', 511), 'password', 'pw-x')),
               (jsonb_build_object('username', 'user-x', 'password', repeat('é', 511)))) AS t(c);
-- the detail lists the accepted keys
SELECT pg_temp.err_detail($$INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials) VALUES (1, 110, 'https://e.example.com', '{"username": "user-x", "token": "tok-x"}')$$);
SELECT pg_temp.err_detail($$INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials) VALUES (1, 110, 'https://e.example.com', '[1]')$$);
-- the same rules on UPDATE
SELECT vreg_test.err($$UPDATE containers_vreg.upstreams SET credentials = '{"password": "pw-x"}' WHERE id = 101$$);
SELECT vreg_test.state() = :'s0' AS unchanged;

-- limits count characters, not bytes: 510 two-byte characters are fine
INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials)
  VALUES (1, 111, 'https://f.example.com', jsonb_build_object('username', 'ünï', 'password', repeat('é', 510)));
SELECT (containers_vreg.upstream_credentials(1, 111)->>'password') = repeat('é', 510) AS long_utf8_round_trip,
       containers_vreg.upstream_credentials(1, 111)->>'username' AS username;

-- fingerprint uniqueness (23505), without plaintext --------------------------------
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials) VALUES (1, 120, 'https://ghcr.io', '{"password": "pw-101-secret", "username": "bob"}')$$);
INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials) VALUES
  (1, 121, 'https://ghcr.io', '{"username": "bob", "password": "other"}'),       -- other password
  (1, 122, 'https://quay.io', '{"username": "bob", "password": "pw-101-secret"}'),-- other url
  (2, 123, 'https://ghcr.io', '{"username": "bob", "password": "pw-101-secret"}'),-- other group
  (1, 124, 'https://ghcr.io', NULL);                                              -- none
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials) VALUES (1, 125, 'https://ghcr.io', '{}')$$);
-- the detail names the upstream it collides with and says "without credentials"
-- where the index would show the empty fingerprint as \x; never a value
SELECT pg_temp.err_detail($$INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials) VALUES (1, 126, 'https://ghcr.io', '{"username": "bob", "password": "other"}')$$);
SELECT pg_temp.err_detail($$INSERT INTO containers_vreg.upstreams (group_id, id, url) VALUES (1, 126, 'https://ghcr.io')$$);
SELECT pg_temp.err_detail($$UPDATE containers_vreg.upstreams SET url = 'https://ghcr.io' WHERE id = 122$$); -- a new url clears the credentials
SELECT count(DISTINCT credentials_fingerprint) AS fingerprints, count(DISTINCT credentials->>'nonce') AS nonces
  FROM containers_vreg.upstreams WHERE id IN (101, 122, 123);
SELECT (SELECT credentials_fingerprint FROM containers_vreg.upstreams WHERE id = 101)
     = (SELECT credentials_fingerprint FROM containers_vreg.upstreams WHERE id = 122) AS same_fp_same_plaintext;

-- the fingerprint secret: one sealed row ------------------------------------------
SELECT count(*) AS rows, bool_and(secret ?& array['v', 'kid', 'nonce', 'ct']) AS sealed,
       min(secret->>'kid') AS kid FROM containers_vreg.credentials_secret;

-- UPDATE rules ------------------------------------------------------------------
-- a change of other columns keeps the envelope as it is
SELECT credentials AS env101 FROM containers_vreg.upstreams WHERE id = 101 \gset
UPDATE containers_vreg.upstreams SET name = 'renamed' WHERE id = 101;
SELECT credentials = :'env101'::jsonb AS kept FROM containers_vreg.upstreams WHERE id = 101;
-- new plaintext: sealed again with a fresh nonce, fingerprint follows
UPDATE containers_vreg.upstreams SET credentials = '{"username": "bob", "password": "pw-101-secret"}' WHERE id = 101;
SELECT credentials <> :'env101'::jsonb AS resealed, pg_temp.stored(1, 101) FROM containers_vreg.upstreams WHERE id = 101;
-- a url change without new credentials clears them
UPDATE containers_vreg.upstreams SET url = 'https://ghcr2.example.com' WHERE id = 121;
SELECT pg_temp.stored(1, 121), containers_vreg.upstream_credentials(1, 121) AS creds;
-- a url change with new credentials in the same statement keeps those
UPDATE containers_vreg.upstreams SET url = 'https://ghcr3.example.com', credentials = '{"username": "carol", "password": "pw-c"}' WHERE id = 122;
SELECT pg_temp.stored(1, 122), containers_vreg.upstream_credentials(1, 122);
-- the fingerprint never changes on its own; the id cannot change under an envelope
SELECT vreg_test.state() AS s1 \gset
SELECT vreg_test.err($$UPDATE containers_vreg.upstreams SET credentials_fingerprint = '\x' WHERE id = 101$$);
SELECT vreg_test.err($$UPDATE containers_vreg.upstreams SET id = 199 WHERE id = 101$$);
SELECT vreg_test.state() = :'s1' AS unchanged;
-- setting NULL clears the fingerprint too
UPDATE containers_vreg.upstreams SET credentials = NULL WHERE id = 122;
SELECT pg_temp.stored(1, 122);

-- envelopes are bound to their row -------------------------------------------------
INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials)
  VALUES (1, 130, 'https://h.example.com', '{"username": "dave", "password": "pw-130"}');
-- Written through the table, another row's envelope is refused at once: an
-- UPDATE that supplies an envelope must open on its own row (22000).
SELECT vreg_test.err($$UPDATE containers_vreg.upstreams u SET credentials = s.credentials, credentials_fingerprint = s.credentials_fingerprint
  FROM containers_vreg.upstreams s WHERE u.id = 130 AND s.id = 101$$);
-- At-rest tampering (a disk, a backup, a superuser with the trigger off) is
-- caught when opening.
ALTER TABLE containers_vreg.upstreams DISABLE TRIGGER upstreams_credentials;
-- swap: 130 gets 101's envelope (and fingerprint): stored, but does not open
UPDATE containers_vreg.upstreams u SET credentials = s.credentials, credentials_fingerprint = s.credentials_fingerprint
  FROM containers_vreg.upstreams s WHERE u.id = 130 AND s.id = 101;
SELECT vreg_test.err('SELECT containers_vreg.upstream_credentials(1, 130)');
-- the same envelope still opens on its own row
SELECT containers_vreg.upstream_credentials(1, 101);
-- one flipped character in ct / nonce; kid changed to the other key; kid unknown
ALTER TABLE containers_vreg.upstreams ENABLE ALWAYS TRIGGER upstreams_credentials;
UPDATE containers_vreg.upstreams SET credentials = '{"username": "dave", "password": "pw-130"}' WHERE id = 130;
SELECT credentials AS env130 FROM containers_vreg.upstreams WHERE id = 130 \gset
-- each of these through the table: refused at once
SELECT vreg_test.err(format('UPDATE containers_vreg.upstreams SET credentials = %L WHERE id = 130', e))
  FROM (VALUES (jsonb_set(:'env130'::jsonb, '{kid}', '1')), (jsonb_set(:'env130'::jsonb, '{kid}', '9'))) AS t(e);
ALTER TABLE containers_vreg.upstreams DISABLE TRIGGER upstreams_credentials;
UPDATE containers_vreg.upstreams SET credentials = jsonb_set(credentials, '{ct}',
  to_jsonb(overlay(credentials->>'ct' PLACING CASE WHEN substr(credentials->>'ct', 5, 1) = 'A' THEN 'B' ELSE 'A' END FROM 5 FOR 1)))
  WHERE id = 130;
SELECT vreg_test.err('SELECT containers_vreg.upstream_credentials(1, 130)');
UPDATE containers_vreg.upstreams SET credentials = jsonb_set(:'env130'::jsonb, '{nonce}',
  to_jsonb(overlay(credentials->>'nonce' PLACING CASE WHEN substr(credentials->>'nonce', 3, 1) = 'A' THEN 'B' ELSE 'A' END FROM 3 FOR 1)))
  WHERE id = 130;
SELECT vreg_test.err('SELECT containers_vreg.upstream_credentials(1, 130)');
UPDATE containers_vreg.upstreams SET credentials = jsonb_set(:'env130'::jsonb, '{kid}', '1') WHERE id = 130;
SELECT vreg_test.err('SELECT containers_vreg.upstream_credentials(1, 130)');
UPDATE containers_vreg.upstreams SET credentials = jsonb_set(:'env130'::jsonb, '{kid}', '9') WHERE id = 130;
SELECT vreg_test.err('SELECT containers_vreg.upstream_credentials(1, 130)');
ALTER TABLE containers_vreg.upstreams ENABLE ALWAYS TRIGGER upstreams_credentials;
SELECT vreg_test.err('SELECT containers_vreg.rotate_credentials()');
UPDATE containers_vreg.upstreams SET credentials = :'env130' WHERE id = 130;
SELECT containers_vreg.upstream_credentials(1, 130);

-- envelopes are bound to their URL -------------------------------------------------
-- Every envelope is written in format 2, whose associated data binds the url
-- too: credentials never open for a host they were not given for.
CREATE FUNCTION pg_temp.err_hint(stmt text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE st text; msg text; det text; hint text;
BEGIN
  EXECUTE stmt;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL, hint = PG_EXCEPTION_HINT;
  RETURN st || ': ' || msg || ' | ' || det || ' | ' || hint;
END $$;
INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials)
  VALUES (1, 150, 'https://registry.example.com', '{"username": "frank", "password": "pw-150"}');
SELECT credentials->'v' AS format FROM containers_vreg.upstreams WHERE id = 150;
SELECT credentials AS env150, credentials_fingerprint AS fp150 FROM containers_vreg.upstreams WHERE id = 150 \gset
-- The attack in two statements: a url change clears the credentials, then the
-- old envelope is written back. It does not open for the new url (22000).
UPDATE containers_vreg.upstreams SET url = 'https://attacker.example.net' WHERE id = 150;
SELECT pg_temp.stored(1, 150);
SELECT pg_temp.err_hint(format('UPDATE containers_vreg.upstreams SET credentials = %L WHERE id = 150', :'env150'));
SELECT pg_temp.err_hint(format('UPDATE containers_vreg.upstreams SET credentials = %L, credentials_fingerprint = %L WHERE id = 150', :'env150', :'fp150'));
SELECT pg_temp.stored(1, 150), containers_vreg.upstream_credentials(1, 150) AS creds;
-- ... nor when the url and the old envelope come in one statement
SELECT vreg_test.err(format($$UPDATE containers_vreg.upstreams SET url = 'https://attacker2.example.net', credentials = %L WHERE id = 150$$, :'env150'));
-- The same as DELETE and INSERT with the explicit id: an inserted envelope is
-- stored as it is (a restore), but it does not open for the attacker's url.
DELETE FROM containers_vreg.upstreams WHERE id = 150;
INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials, credentials_fingerprint)
  VALUES (1, 150, 'https://attacker.example.net', :'env150', :'fp150');
SELECT vreg_test.err('SELECT containers_vreg.upstream_credentials(1, 150)');
-- rotation leaves it as it is (format 2 under the sealing key): still shut
SELECT containers_vreg.rotate_credentials() AS rotated,
       vreg_test.err('SELECT containers_vreg.upstream_credentials(1, 150)') AS still_shut;
-- on its own row and url it opens
DELETE FROM containers_vreg.upstreams WHERE id = 150;
INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials, credentials_fingerprint)
  VALUES (1, 150, 'https://registry.example.com', :'env150', :'fp150');
SELECT containers_vreg.upstream_credentials(1, 150);
-- An UPDATE refuses an envelope of format 1 (22023) before opening it: format
-- 1 binds no url. (test/scripts/credentials_format1.sh opens, refuses and
-- rotates real ones.)
SELECT pg_temp.err_hint(format('UPDATE containers_vreg.upstreams SET credentials = %L WHERE id = 150',
                               jsonb_set(:'env150'::jsonb, '{v}', '1')));
-- A format 2 envelope relabelled as format 1 does not open: the formats'
-- associated data differ.
DELETE FROM containers_vreg.upstreams WHERE id = 150;
INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials, credentials_fingerprint)
  VALUES (1, 150, 'https://registry.example.com', jsonb_set(:'env150'::jsonb, '{v}', '1'), :'fp150');
SELECT vreg_test.err('SELECT containers_vreg.upstream_credentials(1, 150)');
DELETE FROM containers_vreg.upstreams WHERE id = 150;
-- The trigger runs before the url's CHECKs: a url too long to bind (over 1020
-- bytes) is refused as too long (23514), like the CHECK does a shorter one.
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials)
  VALUES (1, 151, 'https://' || repeat('a', 1100) || '.io', '{"username": "u", "password": "p"}')$$);
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials)
  VALUES (1, 151, 'https://' || repeat('a', 300) || '.io', '{"username": "u", "password": "p"}')$$);

-- malformed envelopes are refused on write (22023) --------------------------------
SELECT vreg_test.state() AS s2 \gset
SELECT vreg_test.err(format('UPDATE containers_vreg.upstreams SET credentials = %L WHERE id = 130', e))
  FROM (VALUES
    (:'env130'::jsonb - 'ct'),
    (:'env130'::jsonb - 'v'),
    (jsonb_set(:'env130'::jsonb, '{v}', '3')),
    (jsonb_set(:'env130'::jsonb, '{v}', '"1"')),
    (jsonb_set(:'env130'::jsonb, '{kid}', '0')),
    (jsonb_set(:'env130'::jsonb, '{kid}', '-2')),
    (jsonb_set(:'env130'::jsonb, '{kid}', '2.5')),
    (jsonb_set(:'env130'::jsonb, '{kid}', '"2"')),
    (jsonb_set(:'env130'::jsonb, '{kid}', '2147483648')),
    (jsonb_set(:'env130'::jsonb, '{nonce}', '"AAAA"')),
    (jsonb_set(:'env130'::jsonb, '{nonce}', '42')),
    (jsonb_set(:'env130'::jsonb, '{ct}', '"!!!!"')),
    (jsonb_set(:'env130'::jsonb, '{ct}', to_jsonb(' ' || (:'env130'::jsonb->>'ct')))),
    (jsonb_set(:'env130'::jsonb, '{ct}', '"AAAAAAAAAAAAAAAAAAAAAA=="')),
    (jsonb_set(:'env130'::jsonb, '{ct}', '"AAB="')),
    (:'env130'::jsonb || '{"extra": 1}'),
    (:'env130'::jsonb || '{"password": "pw-x"}'),
    ('{"v": 1}'::jsonb)
  ) AS t(e);
-- an envelope inserted without its fingerprint
SELECT vreg_test.err(format($$INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials) VALUES (1, 131, 'https://i.example.com', %L)$$, :'env130'));
SELECT vreg_test.state() = :'s2' AS unchanged;

-- an envelope arriving with its fingerprint (as pg_restore or COPY write it) is
-- stored as it is: not sealed twice
SELECT credentials AS env101, credentials_fingerprint AS fp101 FROM containers_vreg.upstreams WHERE id = 101 \gset
DELETE FROM containers_vreg.upstreams WHERE id = 101;
INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials, credentials_fingerprint)
  VALUES (1, 101, 'https://ghcr.io', :'env101', :'fp101');
SELECT credentials = :'env101'::jsonb AS verbatim, credentials_fingerprint = :'fp101'::bytea AS same_fp,
       containers_vreg.upstream_credentials(1, 101) FROM containers_vreg.upstreams WHERE id = 101;
-- ... and the restored fingerprint still refuses a duplicate
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, id, url, credentials) VALUES (1, 132, 'https://ghcr.io', '{"username": "bob", "password": "pw-101-secret"}')$$);
-- COPY seals plaintext like INSERT
COPY containers_vreg.upstreams (group_id, id, url, credentials) FROM stdin;
3	140	https://j.example.com	{"username": "erin", "password": "pw-copy"}
3	141	https://k.example.com	\N
\.
SELECT id, pg_temp.stored(3, id), containers_vreg.upstream_credentials(3, id)
  FROM containers_vreg.upstreams WHERE group_id = 3 ORDER BY id;

-- API errors ----------------------------------------------------------------------
SELECT vreg_test.err('SELECT containers_vreg.upstream_credentials(1, 999999)');    -- P0002
SELECT vreg_test.err('SELECT containers_vreg.upstream_credentials(2, 101)');       -- P0002 other group
SELECT containers_vreg.upstream_credentials(NULL, 101) IS NULL AS null_in_null_out;
SELECT containers_vreg.rotate_credentials();                                        -- all under key 2 already
SELECT vreg_test.err('SELECT containers_vreg.rotate_credentials(0)');              -- 22023
SELECT vreg_test.err('SELECT containers_vreg.rotate_credentials(-5)');             -- 22023
SELECT vreg_test.err('SELECT containers_vreg.rotate_credentials(NULL)');           -- 22004

-- privileges: PUBLIC cannot open credentials or rotate; a granted role needs no
-- table privileges; the keyring setting is superuser-only
DROP ROLE IF EXISTS vreg_cred_nogrant;
DROP ROLE IF EXISTS vreg_cred_fetcher;
CREATE ROLE vreg_cred_nogrant;
CREATE ROLE vreg_cred_fetcher;
GRANT USAGE ON SCHEMA containers_vreg, vreg_test TO vreg_cred_nogrant, vreg_cred_fetcher;
GRANT SELECT ON containers_vreg.upstreams TO vreg_cred_nogrant;
GRANT EXECUTE ON FUNCTION containers_vreg.upstream_credentials(bigint, bigint) TO vreg_cred_fetcher;
SELECT r, has_function_privilege(r, 'containers_vreg.upstream_credentials(bigint, bigint)', 'EXECUTE') AS can_open,
       has_function_privilege(r, 'containers_vreg.rotate_credentials(integer)', 'EXECUTE') AS can_rotate
  FROM unnest(array['vreg_cred_nogrant', 'vreg_cred_fetcher']) r;
SET ROLE vreg_cred_nogrant;
SELECT vreg_test.err('SELECT containers_vreg.upstream_credentials(1, 101)');       -- 42501
SELECT vreg_test.err('SELECT containers_vreg.rotate_credentials()');               -- 42501
SELECT vreg_test.err('SELECT * FROM containers_vreg.credentials_secret');          -- 42501
SELECT position('pw-101-secret' IN credentials::text) = 0 AS table_shows_no_plaintext
  FROM containers_vreg.upstreams WHERE id = 101;
SELECT vreg_test.err('SHOW containers_vreg.keyring_file');                         -- 42501
SELECT count(*) AS visible_settings FROM pg_settings WHERE name = 'containers_vreg.keyring_file';
SELECT vreg_test.err($$SET containers_vreg.keyring_file = '/tmp/x'$$);             -- 42501/55P02
RESET ROLE;
SET ROLE vreg_cred_fetcher;
SELECT containers_vreg.upstream_credentials(1, 101);
SELECT vreg_test.err('SELECT credentials FROM containers_vreg.upstreams');         -- 42501: no table privilege needed or given
RESET ROLE;
SELECT vreg_test.err($$SET containers_vreg.keyring_file = '/tmp/x'$$);             -- 55P02 even for a superuser: reload only
DROP OWNED BY vreg_cred_nogrant;
DROP OWNED BY vreg_cred_fetcher;
DROP ROLE vreg_cred_nogrant;
DROP ROLE vreg_cred_fetcher;

SELECT vreg_test.reset();
