-- Upstream URL rules (upstreams.url; src/url_check.c, docs/design.md).
-- Table-driven: every url is INSERTed into upstreams through vreg_test.err,
-- so the output shows 'ok' or the SQLSTATE and the exact message. Refused
-- rows leave the tables unchanged; messages never echo any part of the url.
\set VERBOSITY terse
SET client_min_messages = warning;
SELECT vreg_test.reset();

CREATE TEMP TABLE url_cases (n serial, url text NOT NULL, expect_ok boolean NOT NULL);
INSERT INTO url_cases (url, expect_ok) VALUES
  -- accepted
  ('https://registry-1.docker.io', true),
  ('https://ghcr.io', true),
  ('https://quay.io/', true),
  ('http://registry.example.com:5000/v2/', true),
  ('https://8.8.8.8/', true),
  ('https://[2001:db8::1]:443/', true),        -- documentation space: accepted (not internal)
  ('http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/', false), -- Teredo (2001::/32 in 2001::/23): reserved
  ('http://[2001::1]/', false),                 -- 2001::/23 IETF protocol assignments
  ('http://[100::1]/', false),                  -- 100::/64 discard-only
  ('https://[2001:4860:4860::8888]/', true),    -- a public address next to 2001::/23
  ('https://example.com/path?x=1', true),
  ('HTTPS://Mirror.GCR.io.', true),            -- scheme any case, one trailing dot
  ('https://public.ecr.aws:00443/', true),      -- leading zeros in the port
  ('http://100.128.0.1/', true),               -- just outside 100.64/10
  ('http://172.32.0.1/', true),                -- just outside 172.16/12
  ('http://198.20.0.1/', true),                -- just outside 198.18/15
  ('http://1.256/', true),                     -- 1.0.1.0: two-part IPv4, public
  ('http://[::ffff:8.8.8.8]/', true),          -- mapped public address
  ('http://127.0.0.1.nip.io/', true),          -- a DNS name: only the service can resolve it
  ('https://' || repeat('a', 63) || '.io/', true),
  -- scheme
  ('ftp://x.io', false),
  ('https:example.com', false),
  ('://example.com', false),
  ('', false),
  -- authority
  ('https://', false),
  ('https://:443/', false),
  ('https:///v2/', false),
  ('http://user:pw@registry.example.com/', false),
  ('http://alice:s3cret@registry.example.com/', false),
  ('http://tok3n@registry.example.com/', false),
  ('http://host:0/', false),
  ('http://host:65536/', false),
  ('http://host:/', false),
  ('http://host:80a/', false),
  ('http://a:b:c/', false),
  -- characters anywhere
  ('http://exa mple.com/', false),
  ('http://example.com/a b', false),
  (E'http://example.com/\t', false),
  (E'http://example.com\x01/', false),
  ('http://bücher.example/', false),
  ('http://example.com/%2e%2e/', false),
  ('http://[fe80::1%eth0]/', false),
  ('http://example.com\@localhost/', false),
  -- host names
  ('http://foo_bar.example.com/', false),
  ('http://-a.example.com/', false),
  ('http://a-.example.com/', false),
  ('http://a..example.com/', false),
  ('http://./', false),
  ('https://' || repeat('a', 64) || '.io/', false),
  ('https://' || repeat('abcdefghi.', 25) || 'io/', false),  -- 263 characters: the length CHECK answers first
  ('http://localhost/', false),
  ('http://localhost./', false),
  ('http://LOCALHOST:5000/', false),
  ('http://registry.localhost/', false),
  -- IPv4 in every inet_aton encoding
  ('http://2130706433/', false),
  ('http://0x7f.1/', false),
  ('http://0177.0.0.1/', false),
  ('http://127.1/', false),
  ('http://127.0.0.1./', false),
  ('http://0x7F000001/', false),
  ('http://0/', false),
  ('http://0.0.0.0/', false),
  ('http://10.0.0.1:5000/', false),
  ('http://100.64.0.1/', false),
  ('http://169.254.169.254/latest', false),
  ('http://172.16.0.1/', false),
  ('http://172.31.255.255/', false),
  ('http://192.0.0.8/', false),
  ('http://192.168.1.1/', false),
  ('http://198.18.0.1/', false),
  ('http://224.0.0.1/', false),
  ('http://240.0.0.1/', false),
  ('http://255.255.255.255/', false),
  ('http://09.1/', false),                     -- numeric last label, bad octal
  ('http://1.2.3.4.5/', false),
  ('http://256.1.1.1/', false),
  ('http://1.16777216/', false),
  ('http://99999999999999999999/', false),
  ('http://example.0x10/', false),             -- numeric last label, not an address
  -- IPv6
  ('http://[::1]/', false),
  ('http://[::]/', false),
  ('http://[::ffff:127.0.0.1]/', false),
  ('http://[::ffff:7f00:1]/', false),
  ('http://[::127.0.0.1]/', false),
  ('http://[::ffff:0:7f00:1]/', false),
  ('http://[64:ff9b::a9fe:a9fe]/', false),     -- NAT64 of 169.254.169.254
  ('http://[2002:c0a8:101::1]/', false),       -- 6to4 of 192.168.1.1
  ('http://[fe80::1]/', false),
  ('http://[fc00::1]/', false),
  ('http://[fd12:3456::1]/', false),
  ('http://[fec0::1]/', false),
  ('http://[ff02::1]/', false),
  ('http://[::1/', false),
  ('http://[::1]x/', false),
  ('http://[not:an:address]/', false),
  ('http://::1/', false);

SELECT vreg_test.state() AS s0 \gset
CREATE TEMP TABLE url_results AS
SELECT n, url, expect_ok,
       vreg_test.err(format('INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, %L)', url)) AS result
  FROM url_cases WHERE NOT expect_ok ORDER BY n;
SELECT vreg_test.state() = :'s0' AS refused_left_tables_unchanged;
-- every refused url of the list, in order, with the outcome (control
-- characters shown as '?', long urls cut at 48 characters)
SELECT n, CASE WHEN char_length(url) > 48 THEN left(url, 45) || '...' ELSE url END AS url, result
  FROM (SELECT n, regexp_replace(url, '[[:cntrl:]]', '?', 'g') AS url, result FROM url_results) r
 ORDER BY n;
-- no message contains a user name, a password, a token or a host
SELECT count(*) AS echoing FROM url_results
 WHERE result ~ '(alice|s3cret|tok3n|pw|example|localhost\.|127\.|0x7f|::1|bücher|eth0|%2e)';

INSERT INTO url_results
SELECT n, url, expect_ok,
       vreg_test.err(format('INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, %L)', url))
  FROM url_cases WHERE expect_ok ORDER BY n;
SELECT n, CASE WHEN char_length(url) > 48 THEN left(url, 45) || '...' ELSE url END AS url, result
  FROM url_results WHERE expect_ok ORDER BY n;
SELECT count(*) AS mismatches FROM url_results WHERE (result = 'ok') <> expect_ok;
SELECT count(*) AS stored FROM containers_vreg.upstreams WHERE group_id = 1;

-- the length limit is its own CHECK; an UPDATE is checked like an INSERT
SELECT vreg_test.state() AS s1 \gset
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, 'https://a.io/' || repeat('p', 243))$$); -- 256 chars
SELECT vreg_test.err($$UPDATE containers_vreg.upstreams SET url = 'http://[::1]/' WHERE group_id = 1 AND url = 'https://ghcr.io'$$);
SELECT vreg_test.state() = :'s1' AS unchanged;
INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, 'https://a.io/' || repeat('p', 242)) RETURNING char_length(url);

-- the function itself: NULL in, NULL out; true for a good url
SELECT containers_vreg.check_upstream_url(NULL) IS NULL AS null_is_null,
       containers_vreg.check_upstream_url('https://quay.io') AS good;
SELECT vreg_test.err($$SELECT containers_vreg.check_upstream_url('http://[::1]/')$$);
-- containers_vreg.allow_local_upstreams: off by default, superuser-only.
-- Off: loopback and private hosts are refused with the message above. On (a
-- superuser's SET): they are accepted; link-local (cloud metadata),
-- unspecified, multicast and reserved stay refused. The CHECK constraint calls
-- check_upstream_url(url, true) and never depends on the setting.
SHOW containers_vreg.allow_local_upstreams;
SELECT setting, context, vartype FROM pg_settings WHERE name = 'containers_vreg.allow_local_upstreams';
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, 'http://127.0.0.1:5000')$$) AS off_loopback;
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, 'http://localhost:5000')$$) AS off_localhost;
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, 'https://10.1.2.3')$$) AS off_private;
SELECT containers_vreg.check_upstream_url('http://127.0.0.1:5000', true) AS fn_allow_local,
       containers_vreg.check_upstream_url('http://[fd00::1]/', true) AS fn_allow_ula;
SELECT vreg_test.err($$SELECT containers_vreg.check_upstream_url('http://169.254.169.254/', true)$$) AS fn_link_local;
SET containers_vreg.allow_local_upstreams = on;
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, 'http://127.0.0.1:5000')$$) AS on_loopback,
       vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, 'http://localhost:5001/')$$) AS on_localhost,
       vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, 'https://192.168.1.10')$$) AS on_private,
       vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, 'http://[::1]:5000')$$) AS on_v6_loopback;
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, 'http://169.254.169.254/')$$) AS on_link_local,
       vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, 'http://0.0.0.0/')$$) AS on_unspecified,
       vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, 'http://u:p@127.0.0.1/')$$) AS on_userinfo;
RESET containers_vreg.allow_local_upstreams;
-- rows written while it was on stay; an update that keeps the url is not
-- checked again, one that changes it to another local host is
SELECT vreg_test.err($$UPDATE containers_vreg.upstreams SET name = 'dev' WHERE group_id = 1 AND url = 'http://127.0.0.1:5000'$$) AS keep_url;
SELECT vreg_test.err($$UPDATE containers_vreg.upstreams SET url = 'http://127.0.0.2:5000' WHERE group_id = 1 AND url = 'http://127.0.0.1:5000'$$) AS change_url;
-- a restore: a superuser with check_function_bodies = off, as pg_dump's
-- scripts and pg_restore set it, is let through with the setting off
SET check_function_bodies = off;
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, 'http://127.0.0.3:5000')$$) AS restore_superuser;
RESET check_function_bodies;
SELECT url FROM containers_vreg.upstreams WHERE group_id = 1 AND url ~ ':500[0-9]' ORDER BY url;
-- a non-superuser can neither SET it nor pass as a restore
CREATE ROLE regress_vreg_local NOLOGIN;
GRANT USAGE ON SCHEMA containers_vreg, vreg_test TO regress_vreg_local;
GRANT INSERT (group_id, url) ON containers_vreg.upstreams TO regress_vreg_local;
GRANT USAGE ON SEQUENCE containers_vreg.upstreams_id_seq TO regress_vreg_local;
SET ROLE regress_vreg_local;
SELECT vreg_test.err($$SET containers_vreg.allow_local_upstreams = on$$) AS non_superuser_set;
SHOW containers_vreg.allow_local_upstreams;
SET check_function_bodies = off;
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, 'http://127.0.0.4:5000')$$) AS non_superuser_restore;
SELECT vreg_test.err($$INSERT INTO containers_vreg.upstreams (group_id, url) VALUES (1, 'https://registry.example.org')$$) AS non_superuser_public;
RESET check_function_bodies;
RESET ROLE;
REVOKE ALL ON containers_vreg.upstreams FROM regress_vreg_local;
REVOKE ALL ON SEQUENCE containers_vreg.upstreams_id_seq FROM regress_vreg_local;
REVOKE ALL ON SCHEMA containers_vreg, vreg_test FROM regress_vreg_local;
DROP ROLE regress_vreg_local;
SELECT vreg_test.reset();
