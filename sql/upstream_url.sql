-- Upstream URL rules (DESIGN section 3, upstreams.url; src/url_check.c).
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
SELECT vreg_test.reset();
