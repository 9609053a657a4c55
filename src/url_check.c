/*
 * url_check.c
 *		Upstream URL rules (docs/design.md, "Upstream URLs"), in pure C.
 *
 * No server headers: a standalone test or a libFuzzer target links this file
 * as it is. The input is a byte buffer of any length that need not be
 * NUL-terminated; nothing is copied except the host of an IP literal, into a
 * bounded stack buffer after its length was checked.
 *
 * The URL is parsed the way a WHATWG URL parser (what curl, Go and browsers
 * converge on) would see it for the parts that decide where a connection
 * goes, and refused whenever that reading could differ between parsers:
 *
 *	 <scheme> "://" <authority> [ ("/" | "?" | "#") <rest> ]
 *	 scheme    = "http" | "https"				(case-insensitive)
 *	 authority = host [ ":" port ]				(no "@": no userinfo)
 *	 host      = dns-name | ipv4 | "[" ipv6 "]"
 *	 port      = 1*DIGIT, value 1..65535
 *
 * A host whose last label is a number (decimal, 0x hex or leading-0 octal) is
 * an IPv4 address in the inet_aton sense (1 to 4 parts: 2130706433, 0x7f.1,
 * 0177.0.0.1, 127.1 are all 127.0.0.1), exactly as WHATWG's "ends in a
 * number" rule says; if it does not parse as one, the host is invalid. Any
 * address that is unspecified, loopback, private, shared (CGNAT), link-local,
 * multicast or reserved is refused; so are IPv6 addresses that embed such an
 * IPv4 address (mapped, compatible, SIIT, NAT64 64:ff9b::/96, 6to4).
 *
 * Decisions where the design is silent:
 *	 - '_' is refused in host names (not a valid host name character, and no
 *	   public CA issues a certificate for one);
 *	 - documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
 *	   2001:db8::/32) are accepted: they are not internal networks, so they
 *	   are no server-side request forgery risk, and tests can use them;
 *	 - single-label names ("registry") and names that a resolver maps to a
 *	   private address (127.0.0.1.nip.io) are accepted: the database cannot
 *	   resolve DNS, the service must check the resolved address at connect
 *	   time;
 *	 - '%' is refused anywhere (not only in the host), and so are '' and the
 *	   other characters RFC 3986 never allows unencoded;
 *	 - an empty port ("host:/"), which WHATWG reads as the default port, is
 *	   refused; leading zeros in a port are accepted.
 *
 * Every message is a static sentence that never contains any part of the URL
 * (an upstream URL may carry a token in its path or query).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "url_check.h"

#define DNS_NAME_MAX	253
#define DNS_LABEL_MAX	63

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int
is_hex(unsigned char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int
hex_value(unsigned char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return c - 'A' + 10;
}

static unsigned char
to_lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char) (c - 'A' + 'a') : c;
}

/* Case-insensitive comparison of s[0..len) with a lower-case literal. */
static int
equals_ci(const char *s, size_t len, const char *lit)
{
	size_t		n = strlen(lit);
	size_t		i;

	if (len != n)
		return 0;
	for (i = 0; i < n; i++)
		if (to_lower((unsigned char) s[i]) != (unsigned char) lit[i])
			return 0;
	return 1;
}

/*
 * Whole-URL character rules. Returns a problem or NULL.
 *
 * Refused anywhere: NUL, other control characters, whitespace, non-ASCII,
 * '%' (percent-encoding can hide a host, a userinfo or a dot segment from
 * one parser and not another; '%' is also how an IPv6 zone id is written),
 * and the characters RFC 3986 never allows unencoded ('\' in particular,
 * which WHATWG parsers read as '/').
 */
static const char *
check_characters(const unsigned char *u, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
	{
		unsigned char c = u[i];

		if (c == '\0')
			return "the URL contains a NUL byte";
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v')
			return "the URL contains whitespace";
		if (c < 0x20 || c == 0x7f)
			return "the URL contains a control character";
		if (c >= 0x80)
			return "the URL contains a non-ASCII character (give an international domain name in punycode)";
		if (c == '%')
			return "the URL contains a percent sign (percent-encoding and IPv6 zone IDs are not accepted)";
		if (c == '\\' || c == '"' || c == '<' || c == '>' || c == '^' ||
			c == '`' || c == '{' || c == '|' || c == '}')
			return "the URL contains a character that is not allowed in a URL";
	}
	return NULL;
}

/*
 * The reasons that containers_vreg.allow_local_upstreams can lift: named
 * once, so that vreg_url_problem_is_local() cannot drift from them.
 */
static const char local_localhost[] = "the host is localhost";
static const char local_loopback[] = "the host is a loopback address";
static const char local_private[] = "the host is a private address";
static const char local_shared[] = "the host is a shared (carrier-grade NAT) address";

/* ---------------------------------------------------------------------------
 * Address classes
 * ------------------------------------------------------------------------- */

static const char *
ipv4_problem(uint32_t a)
{
	if ((a >> 24) == 0)
		return "the host is an unspecified address";	/* 0.0.0.0/8 */
	if ((a >> 24) == 127)
		return local_loopback;	/* 127.0.0.0/8 */
	if ((a >> 24) == 10 ||		/* 10.0.0.0/8 */
		(a >> 20) == 0xAC1 ||	/* 172.16.0.0/12 */
		(a >> 16) == 0xC0A8)	/* 192.168.0.0/16 */
		return local_private;
	if ((a >> 22) == (0x6440 >> 6)) /* 100.64.0.0/10 */
		return local_shared;
	if ((a >> 16) == 0xA9FE)	/* 169.254.0.0/16 */
		return "the host is a link-local address";
	if ((a >> 28) == 0xE)		/* 224.0.0.0/4 */
		return "the host is a multicast address";
	if ((a >> 28) == 0xF ||		/* 240.0.0.0/4, 255.255.255.255 */
		(a >> 8) == 0xC00000 || /* 192.0.0.0/24 */
		(a >> 17) == (0xC612 >> 1)) /* 198.18.0.0/15 */
		return "the host is a reserved address";
	return NULL;
}

static uint32_t
v4_at(const unsigned char *b)
{
	return ((uint32_t) b[0] << 24) | ((uint32_t) b[1] << 16) |
		((uint32_t) b[2] << 8) | (uint32_t) b[3];
}

static const char *
ipv6_problem(const unsigned char *b)
{
	static const unsigned char zero[16] = {0};
	int			i;

	if (memcmp(b, zero, 16) == 0)
		return "the host is an unspecified address";	/* :: */
	if (memcmp(b, zero, 15) == 0 && b[15] == 1)
		return local_loopback;	/* ::1 */
	if (b[0] == 0xff)
		return "the host is a multicast address";	/* ff00::/8 */
	if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80)
		return "the host is a link-local address";	/* fe80::/10 */
	if ((b[0] & 0xfe) == 0xfc ||	/* fc00::/7 unique local */
		(b[0] == 0xfe && (b[1] & 0xc0) == 0xc0))	/* fec0::/10 site-local */
		return local_private;

	/* ::a.b.c.d (compatible) and ::ffff:a.b.c.d (mapped): first 80 bits zero */
	if (memcmp(b, zero, 10) == 0)
	{
		if ((b[10] == 0 && b[11] == 0) || (b[10] == 0xff && b[11] == 0xff))
			return ipv4_problem(v4_at(b + 12));
	}
	/* ::ffff:0:a.b.c.d (SIIT, RFC 2765) */
	if (memcmp(b, zero, 8) == 0 && b[8] == 0xff && b[9] == 0xff &&
		b[10] == 0 && b[11] == 0)
		return ipv4_problem(v4_at(b + 12));
	/* 64:ff9b::/96 (NAT64 well-known prefix, RFC 6052) */
	if (b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b)
	{
		if (b[4] == 0x00 && b[5] == 0x01)
			return local_private; /* 64:ff9b:1::/48 local-use */
		for (i = 4; i < 12; i++)
			if (b[i] != 0)
				return "the host is a reserved address";
		return ipv4_problem(v4_at(b + 12));
	}
	/* 2002::/16 (6to4): the IPv4 address is bits 16..47 */
	if (b[0] == 0x20 && b[1] == 0x02)
		return ipv4_problem(v4_at(b + 2));
	/*
	 * 2001::/23 (IETF protocol assignments, RFC 2928): includes Teredo
	 * 2001::/32, whose client address is an obfuscated IPv4 address.
	 */
	if (b[0] == 0x20 && b[1] == 0x01 && (b[2] & 0xfe) == 0x00)
		return "the host is a reserved address";
	/* 100::/64 (discard-only, RFC 6666) */
	if (b[0] == 0x01 && memcmp(b + 1, zero, 7) == 0)
		return "the host is a reserved address";
	return NULL;
}

/* ---------------------------------------------------------------------------
 * IPv4 in the WHATWG / inet_aton sense
 * ------------------------------------------------------------------------- */

/*
 * Is the part s[0..len) a number in the WHATWG sense: all decimal digits, or
 * "0x"/"0X" followed by hex digits (possibly none)?
 */
static int
part_looks_numeric(const char *s, size_t len)
{
	size_t		i;

	if (len == 0)
		return 0;
	for (i = 0; i < len && is_digit((unsigned char) s[i]); i++)
		;
	if (i == len)
		return 1;
	if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
	{
		for (i = 2; i < len && is_hex((unsigned char) s[i]); i++)
			;
		return i == len;
	}
	return 0;
}

/*
 * Parse one part: 0x hex, leading-0 octal, or decimal. Values above
 * 0xFFFFFFFF are failures (no part of a valid address can be that large).
 * Returns 1 on success.
 */
static int
parse_ipv4_part(const char *s, size_t len, uint64_t *out)
{
	unsigned	radix = 10;
	uint64_t	v = 0;
	size_t		i = 0;

	if (len == 0)
		return 0;
	if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
	{
		radix = 16;
		i = 2;
	}
	else if (len >= 2 && s[0] == '0')
	{
		radix = 8;
		i = 1;
	}
	for (; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];
		unsigned	d;

		if (radix == 16 && is_hex(c))
			d = (unsigned) hex_value(c);
		else if (is_digit(c) && (unsigned) (c - '0') < radix)
			d = (unsigned) (c - '0');
		else
			return 0;
		v = v * radix + d;
		if (v > 0xFFFFFFFFu)
			return 0;
	}
	*out = v;
	return 1;
}

/* Parse host (trailing dot already removed) as 1..4 parts. Returns 1 on success. */
static int
parse_ipv4(const char *h, size_t len, uint32_t *out)
{
	uint64_t	parts[4];
	int			n = 0;
	size_t		start = 0;
	size_t		i;
	uint64_t	addr;
	int			k;

	for (i = 0; i <= len; i++)
	{
		if (i == len || h[i] == '.')
		{
			if (n == 4)
				return 0;
			if (!parse_ipv4_part(h + start, i - start, &parts[n]))
				return 0;
			n++;
			start = i + 1;
		}
	}
	for (k = 0; k < n - 1; k++)
		if (parts[k] > 255)
			return 0;
	if (parts[n - 1] >= ((uint64_t) 1 << (8 * (5 - n))))
		return 0;
	addr = parts[n - 1];
	for (k = 0; k < n - 1; k++)
		addr += parts[k] << (8 * (3 - k));
	*out = (uint32_t) addr;
	return 1;
}

/* ---------------------------------------------------------------------------
 * Hosts
 * ------------------------------------------------------------------------- */

static const char *
check_ipv6_literal(const char *h, size_t len)
{
	char		buf[64];
	unsigned char addr[16];

	/* the longest textual IPv6 address is 45 characters */
	if (len == 0 || len > 45)
		return "the host is not a valid IPv6 address";
	memcpy(buf, h, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET6, buf, addr) != 1)
		return "the host is not a valid IPv6 address";
	return ipv6_problem(addr);
}

static const char *
check_name_or_ipv4(const char *h, size_t len)
{
	size_t		i;
	size_t		label_start;
	size_t		last_start;
	uint32_t	v4;

	if (len == 0)
		return "the URL has no host";
	/* one trailing dot is the root of the DNS tree: "example.com." */
	if (h[len - 1] == '.')
		len--;
	if (len == 0)
		return "the host is not a valid host name";

	/* WHATWG: if the last label is a number, the whole host is an IPv4 address */
	last_start = len;
	while (last_start > 0 && h[last_start - 1] != '.')
		last_start--;
	if (part_looks_numeric(h + last_start, len - last_start))
	{
		if (!parse_ipv4(h, len, &v4))
			return "the host is not a valid IPv4 address";
		return ipv4_problem(v4);
	}

	if (len > DNS_NAME_MAX)
		return "the host name is longer than 253 characters";
	label_start = 0;
	for (i = 0; i <= len; i++)
	{
		if (i == len || h[i] == '.')
		{
			size_t		l = i - label_start;

			if (l == 0)
				return "the host name has an empty label";
			if (l > DNS_LABEL_MAX)
				return "a label of the host name is longer than 63 characters";
			if (h[label_start] == '-' || h[i - 1] == '-')
				return "a label of the host name starts or ends with a hyphen";
			label_start = i + 1;
		}
		else if (!is_alpha((unsigned char) h[i]) && !is_digit((unsigned char) h[i]) &&
				 h[i] != '-')
			return "the host name contains a character other than letters, digits, hyphens and dots";
	}

	/* localhost and *.localhost (RFC 6761), any case */
	if (equals_ci(h, len, "localhost") ||
		(len > 10 && equals_ci(h + len - 10, 10, ".localhost")))
		return local_localhost;
	return NULL;
}

/* ---------------------------------------------------------------------------
 * Entry points
 * ------------------------------------------------------------------------- */

/*
 * The host classes that "allow local upstreams" lets in: names and addresses
 * of this machine and of private networks (localhost, loopback, RFC 1918,
 * unique-local and site-local IPv6, shared CGNAT space), in every encoding
 * above. Never let in: unspecified, link-local (169.254.169.254 is the
 * cloud metadata service), multicast and reserved addresses.
 */
int
vreg_url_problem_is_local(const char *problem)
{
	return problem != NULL &&
		(strcmp(problem, local_localhost) == 0 ||
		 strcmp(problem, local_loopback) == 0 ||
		 strcmp(problem, local_private) == 0 ||
		 strcmp(problem, local_shared) == 0);
}

const char *
vreg_url_problem_opts(const char *url, size_t len, int allow_local)
{
	const char *problem = vreg_url_problem(url, len);

	if (allow_local && vreg_url_problem_is_local(problem))
		return NULL;
	return problem;
}

const char *
vreg_url_problem(const char *url, size_t len)
{
	const unsigned char *u = (const unsigned char *) url;
	const char *problem;
	size_t		pos;
	size_t		auth_start;
	size_t		auth_end;
	size_t		host_end;
	size_t		i;

	if (url == NULL || len == 0)
		return "the URL is empty";
	problem = check_characters(u, len);
	if (problem != NULL)
		return problem;

	/* scheme */
	for (pos = 0; pos < len && u[pos] != ':'; pos++)
		;
	if (pos == len || !(equals_ci(url, pos, "http") || equals_ci(url, pos, "https")))
		return "the scheme must be http or https";
	if (len - pos < 3 || u[pos + 1] != '/' || u[pos + 2] != '/')
		return "the scheme must be followed by ://";

	/* authority: up to the first '/', '?' or '#' */
	auth_start = pos + 3;
	for (auth_end = auth_start; auth_end < len; auth_end++)
		if (u[auth_end] == '/' || u[auth_end] == '?' || u[auth_end] == '#')
			break;
	if (auth_end == auth_start)
		return "the URL has no host";
	for (i = auth_start; i < auth_end; i++)
		if (u[i] == '@')
			return "the URL contains a user name or password";

	/* host and optional port */
	if (u[auth_start] == '[')
	{
		for (host_end = auth_start; host_end < auth_end && u[host_end] != ']'; host_end++)
			;
		if (host_end == auth_end)
			return "the host is not a valid IPv6 address";
		host_end++;				/* past ']' */
		if (host_end < auth_end && u[host_end] != ':')
			return "the host is not a valid IPv6 address";
	}
	else
	{
		for (host_end = auth_start; host_end < auth_end && u[host_end] != ':'; host_end++)
			;
	}
	if (host_end == auth_start)
		return "the URL has no host";
	if (host_end < auth_end)
	{
		/* ":" port: 1..65535, digits only, leading zeros allowed */
		uint32_t	port = 0;

		if (host_end + 1 == auth_end)
			return "the port must be a number from 1 to 65535";
		for (i = host_end + 1; i < auth_end; i++)
		{
			if (!is_digit(u[i]))
				return "the port must be a number from 1 to 65535";
			port = port * 10 + (uint32_t) (u[i] - '0');
			if (port > 65535)
				return "the port must be a number from 1 to 65535";
		}
		if (port == 0)
			return "the port must be a number from 1 to 65535";
	}

	if (u[auth_start] == '[')
		return check_ipv6_literal(url + auth_start + 1, host_end - auth_start - 2);
	return check_name_or_ipv4(url + auth_start, host_end - auth_start);
}
