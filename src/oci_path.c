/*
 * oci_path.c
 *		OCI distribution request paths, digests and ETags (pure C).
 *
 * See oci_path.h for the grammar. Every function works on (pointer, length)
 * pairs, reads nothing beyond them and allocates nothing, so a fuzzer can
 * call it on arbitrary bytes.
 */
#include <string.h>

#include "oci_path.h"

/* Every relative path this module builds fits the byte limit it enforces. */
_Static_assert(VREG_OCI_RELPATH_BUFSIZE - 1 <= VREG_OCI_MAX_PATH,
			   "relative paths must fit VREG_OCI_MAX_PATH");

/*
 * The reasons below are whole sentences (the fuzzer compares them byte for
 * byte with this file's literals), so they spell the limits out: these
 * assertions keep them equal to the definitions.
 */
_Static_assert(VREG_OCI_MAX_PATH == 1024, "the path reason says 1024 bytes");
_Static_assert(VREG_OCI_MAX_NAME == 255, "the name reasons say 255 characters");
_Static_assert(VREG_OCI_MAX_TAG == 128, "the tag reason says 128 characters");

#define IS_LOWER_ALNUM(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= '0' && (c) <= '9'))
#define IS_HEX_LOWER(c) (((c) >= 'a' && (c) <= 'f') || ((c) >= '0' && (c) <= '9'))
#define IS_TAG_FIRST(c) (IS_LOWER_ALNUM(c) || ((c) >= 'A' && (c) <= 'Z') || (c) == '_')
#define IS_TAG_CHAR(c) (IS_TAG_FIRST(c) || (c) == '.' || (c) == '-')

static const char *const path_shape =
"the path must be <name>/manifests/<reference> or <name>/blobs/<digest>";

const char	vreg_oci_v2_prefix_problem[] =
"the repository name starts with v2/, the version prefix of the registry API's URLs";

/* Find the last occurrence of c in s[0..len), or NULL. */
static const char *
last_char(const char *s, size_t len, char c)
{
	while (len > 0)
	{
		len--;
		if (s[len] == c)
			return s + len;
	}
	return NULL;
}

/* component = [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)* ; len > 0 */
static const char *
component_problem(const char *s, size_t len)
{
	size_t		i = 0;

	for (;;)
	{
		size_t		start = i;

		while (i < len && IS_LOWER_ALNUM(s[i]))
			i++;
		if (i == start)
			return "a repository name component must start and end with a lowercase letter or digit, with single '.', '_' or '__' or dashes between";
		if (i == len)
			return NULL;
		/* separator */
		if (s[i] == '.')
			i++;
		else if (s[i] == '_')
			i += (i + 1 < len && s[i + 1] == '_') ? 2 : 1;
		else if (s[i] == '-')
		{
			while (i < len && s[i] == '-')
				i++;
		}
		else
			return "a repository name component must start and end with a lowercase letter or digit, with single '.', '_' or '__' or dashes between";
		if (i == len)
			return "a repository name component must start and end with a lowercase letter or digit, with single '.', '_' or '__' or dashes between";
	}
}

static const char *
name_problem(const char *s, size_t len)
{
	size_t		start = 0;
	size_t		i;

	if (len == 0)
		return "the repository name is empty";
	if (len > VREG_OCI_MAX_NAME)
		return "the repository name is longer than 255 characters";
	for (i = 0; i < len; i++)
		if (s[i] >= 'A' && s[i] <= 'Z')
			return "the repository name must be lowercase";
	for (i = 0; i <= len; i++)
	{
		if (i == len || s[i] == '/')
		{
			const char *problem;

			if (i == start)
				return "the repository name has an empty component";
			problem = component_problem(s + start, i - start);
			if (problem)
				return problem;
			start = i + 1;
		}
	}
	return NULL;
}

static const char *
tag_problem(const char *s, size_t len)
{
	size_t		i;

	if (len > VREG_OCI_MAX_TAG)
		return "the tag is longer than 128 characters";
	if (!IS_TAG_FIRST(s[0]))
		return "a tag must start with a letter, a digit or '_'";
	for (i = 1; i < len; i++)
		if (!IS_TAG_CHAR(s[i]))
			return "a tag may only contain letters, digits, '_', '.' and '-'";
	return NULL;
}

static bool
lower_hex(const char *s, size_t len)
{
	size_t		i;

	for (i = 0; i < len; i++)
		if (!IS_HEX_LOWER(s[i]))
			return false;
	return true;
}

const char *
vreg_oci_digest_problem(const char *s, size_t len)
{
	const char *colon = memchr(s, ':', len);
	size_t		alg_len;
	const char *enc;
	size_t		enc_len;

	if (colon == NULL)
		return "a digest must be <algorithm>:<hex>";
	alg_len = (size_t) (colon - s);
	enc = colon + 1;
	enc_len = len - alg_len - 1;
	if (alg_len == 0)
		return "the digest has no algorithm";
	if (alg_len == 6 && memcmp(s, "sha256", 6) == 0)
		return (enc_len == 64 && lower_hex(enc, enc_len)) ? NULL :
			"a sha256 digest must be sha256: followed by 64 lowercase hexadecimal digits";
	if (alg_len == 6 && memcmp(s, "sha512", 6) == 0)
		return (enc_len == 128 && lower_hex(enc, enc_len)) ? NULL :
			"a sha512 digest must be sha512: followed by 128 lowercase hexadecimal digits";
	return "the digest algorithm is not supported (only sha256 and sha512 are)";
}

const char *
vreg_oci_parse_path(const char *path, size_t len, VregOciPath *out)
{
	const char *end;
	const char *slash_ref;
	const char *slash_kind;
	const char *kind;
	size_t		kind_len;
	const char *problem;
	size_t		i;

	/* in bytes: the limit exists for the index on relative_path */
	if (len > VREG_OCI_MAX_PATH)
		return "the path is longer than 1024 bytes";
	if (len > 0 && path[0] == '/')
	{
		path++;
		len--;
	}
	if (len == 0)
		return "the path is empty";
	for (i = 0; i < len; i++)
		if ((unsigned char) path[i] <= 0x20 || (unsigned char) path[i] >= 0x7f)
			return "the path contains a space, a control character or a non-ASCII character";
	end = path + len;

	slash_ref = last_char(path, len, '/');
	if (slash_ref == NULL)
		return path_shape;
	slash_kind = last_char(path, (size_t) (slash_ref - path), '/');
	if (slash_kind == NULL)
		return path_shape;
	kind = slash_kind + 1;
	kind_len = (size_t) (slash_ref - kind);

	memset(out, 0, sizeof(*out));
	out->name = path;
	out->name_len = (size_t) (slash_kind - path);
	out->reference = slash_ref + 1;
	out->reference_len = (size_t) (end - out->reference);

	if (kind_len == 9 && memcmp(kind, "manifests", 9) == 0)
		out->kind = VREG_OCI_TAG_MANIFEST;
	else if (kind_len == 5 && memcmp(kind, "blobs", 5) == 0)
		out->kind = VREG_OCI_BLOB;
	else
		return path_shape;

	problem = name_problem(out->name, out->name_len);
	if (problem)
		return problem;
	out->one_component = memchr(out->name, '/', out->name_len) == NULL;
	/* "/v2/<name>/..." passed whole: refused rather than cached as another name */
	if (!out->one_component && memcmp(out->name, "v2/", 3) == 0)
		return vreg_oci_v2_prefix_problem;

	if (out->reference_len == 0)
		return "the reference is empty";
	if (memchr(out->reference, ':', out->reference_len) != NULL)
	{
		problem = vreg_oci_digest_problem(out->reference, out->reference_len);
		if (problem)
			return problem;
		if (out->kind == VREG_OCI_TAG_MANIFEST)
			out->kind = VREG_OCI_DIGEST_MANIFEST;
		return NULL;
	}
	if (out->kind == VREG_OCI_BLOB)
		return "a blob must be addressed by a digest (<name>/blobs/<algorithm>:<hex>)";
	return tag_problem(out->reference, out->reference_len);
}

size_t
vreg_oci_relative_path(const VregOciPath *p, bool docker_hub, char *buf)
{
	size_t		n = 0;
	const char *kind = p->kind == VREG_OCI_BLOB ? "/blobs/" : "/manifests/";
	size_t		kind_len = strlen(kind);

	buf[n++] = '/';
	if (docker_hub && p->one_component)
	{
		memcpy(buf + n, VREG_OCI_LIBRARY_PREFIX, sizeof(VREG_OCI_LIBRARY_PREFIX) - 1);
		n += sizeof(VREG_OCI_LIBRARY_PREFIX) - 1;
	}
	memcpy(buf + n, p->name, p->name_len);
	n += p->name_len;
	memcpy(buf + n, kind, kind_len);
	n += kind_len;
	memcpy(buf + n, p->reference, p->reference_len);
	n += p->reference_len;
	buf[n] = '\0';
	return n;
}

const char *
vreg_oci_relative_path_problem(const VregOciPath *p, bool docker_hub)
{
	if (docker_hub && p->one_component &&
		sizeof(VREG_OCI_LIBRARY_PREFIX) - 1 + p->name_len > VREG_OCI_MAX_NAME)
		return "the repository name is longer than 255 characters once Docker Hub's library/ prefix is added";
	return NULL;
}

bool
vreg_oci_etag_digest(const char *etag, size_t len, const char **digest, size_t *digest_len)
{
	if (len >= 2 && etag[0] == 'W' && etag[1] == '/')
	{
		etag += 2;
		len -= 2;
	}
	if (len >= 2 && etag[0] == '"' && etag[len - 1] == '"')
	{
		etag++;
		len -= 2;
	}
	if (len == 0 || vreg_oci_digest_problem(etag, len) != NULL)
		return false;
	*digest = etag;
	*digest_len = len;
	return true;
}

static bool
ascii_ieq(const char *a, size_t alen, const char *b)
{
	size_t		i;

	if (alen != strlen(b))
		return false;
	for (i = 0; i < alen; i++)
	{
		char		c = a[i];

		if (c >= 'A' && c <= 'Z')
			c = (char) (c - 'A' + 'a');
		if (c != b[i])
			return false;
	}
	return true;
}

bool
vreg_oci_is_docker_hub_url(const char *url, size_t len)
{
	size_t		i = 0;
	size_t		host_start;

	/* scheme "://" */
	while (i < len && ((url[i] >= 'a' && url[i] <= 'z') || (url[i] >= 'A' && url[i] <= 'Z')))
		i++;
	if (i == 0 || len - i < 3 || memcmp(url + i, "://", 3) != 0)
		return false;
	i += 3;
	host_start = i;
	while (i < len && url[i] != '/' && url[i] != ':' && url[i] != '?' &&
		   url[i] != '#' && url[i] != '@')
		i++;
	if (i < len && url[i] == '@')
		return false;			/* userinfo: refused by the table anyway */
	len = i - host_start;
	url += host_start;
	if (len > 0 && url[len - 1] == '.')
		len--;
	return ascii_ieq(url, len, "registry-1.docker.io") ||
		ascii_ieq(url, len, "docker.io") ||
		ascii_ieq(url, len, "index.docker.io");
}
