/*
 * fuzz_oci_path.c
 *		libFuzzer target for src/oci_path.c: request paths, digests, ETags and
 *		the Docker Hub host test.
 *
 * Properties asserted on every input (besides "no crash, no sanitizer
 * report"):
 *	 - every problem is one of the module's static sentences, never a pointer
 *	   into the input;
 *	 - an accepted path is at most VREG_OCI_MAX_PATH (1024) bytes, the byte
 *	   limit of the relative_path column, and so is its relative path;
 *	 - an accepted path has a 1..255 character lowercase name of valid
 *	   components, a non-empty reference, a 1..128 character tag or a digest of
 *	   the right length for its algorithm (sha256: 64, sha512: 128 lowercase
 *	   hex digits), and a blob is always addressed by digest;
 *	 - an accepted name never starts with "v2/" (the API prefix passed along);
 *	 - normalizing is idempotent: the relative path (with and without the
 *	   Docker Hub "library/" prefix) parses again, to the same kind and the
 *	   same relative path, and fits VREG_OCI_RELPATH_BUFSIZE; the only path
 *	   refused for normalizing is a one-component name longer than 247
 *	   characters under Docker Hub (regression: corpus/oci_path/
 *	   regression-hub-library-prefix, the first finding of this target);
 *	 - an accepted digest has the right length; an ETag yields a digest inside
 *	   the ETag that is itself accepted;
 *	 - a Docker Hub URL stays one with a path appended.
 */
#include "oci_path_messages.h"
#define FUZZ_KNOWN_MESSAGES
#include "fuzz_common.h"

#include "oci_path.h"

#define IS_LOWER_ALNUM(c) (((c) >= 'a' && (c) <= 'z') || ((c) >= '0' && (c) <= '9'))

static void
check_problem(const char *problem, const void *in, size_t len)
{
	if (problem == NULL)
		return;
	CHECK(!fuzz_points_into(problem, in, len));
	CHECK(fuzz_known_message(problem));
}

static void
check_digest(const char *d, size_t len)
{
	size_t		i,
				hex;

	if (len >= 7 && memcmp(d, "sha256:", 7) == 0)
		hex = 64;
	else if (len >= 7 && memcmp(d, "sha512:", 7) == 0)
		hex = 128;
	else
	{
		CHECK(!"digest algorithm is sha256 or sha512");
		return;
	}
	CHECK(len == 7 + hex);
	for (i = 7; i < len; i++)
		CHECK((d[i] >= '0' && d[i] <= '9') || (d[i] >= 'a' && d[i] <= 'f'));
}

/* Relative path of p, re-parsed: must parse to the same relative path. */
static void
check_normalized(const VregOciPath *p, int docker_hub)
{
	char	   *buf = malloc(VREG_OCI_RELPATH_BUFSIZE);
	char	   *again = malloc(VREG_OCI_RELPATH_BUFSIZE);
	char	   *copy;
	size_t		n,
				n2;
	VregOciPath q;
	const char *problem;

	if (buf == NULL || again == NULL)
		abort();
	n = vreg_oci_relative_path(p, docker_hub, buf);
	CHECK(n < VREG_OCI_RELPATH_BUFSIZE);
	CHECK(n <= VREG_OCI_MAX_PATH);
	CHECK(strlen(buf) == n);
	CHECK(buf[0] == '/');

	copy = fuzz_dup(buf, n);
	problem = vreg_oci_parse_path(copy, n, &q);
	if (problem != NULL)
		fprintf(stderr, "normalized path (docker_hub=%d) refused: %s\n", docker_hub, problem);
	CHECK(problem == NULL);
	CHECK(q.kind == p->kind);
	CHECK(q.reference_len == p->reference_len &&
		  memcmp(q.reference, p->reference, p->reference_len) == 0);
	n2 = vreg_oci_relative_path(&q, docker_hub, again);
	CHECK(n2 == n && memcmp(buf, again, n + 1) == 0);
	if (docker_hub)
		CHECK(!q.one_component);
	free(copy);
	free(buf);
	free(again);
}

static void
fuzz_path(const char *in, size_t len)
{
	VregOciPath p;
	const char *problem = vreg_oci_parse_path(in, len, &p);
	size_t		i;

	check_problem(problem, in, len);
	if (problem != NULL)
		return;

	/* within the byte limit, so the stored relative_path passes its CHECK */
	CHECK(len <= VREG_OCI_MAX_PATH);

	/* everything points into the input */
	CHECK(p.name >= in && p.name + p.name_len <= in + len);
	CHECK(p.reference >= in && p.reference + p.reference_len <= in + len);

	/* name: 1..255, lowercase components separated by single '/' */
	CHECK(p.name_len >= 1 && p.name_len <= VREG_OCI_MAX_NAME);
	CHECK(IS_LOWER_ALNUM(p.name[0]) && IS_LOWER_ALNUM(p.name[p.name_len - 1]));
	for (i = 0; i < p.name_len; i++)
	{
		char		c = p.name[i];

		CHECK(IS_LOWER_ALNUM(c) || c == '.' || c == '_' || c == '-' || c == '/');
		if (c == '/')
			CHECK(IS_LOWER_ALNUM(p.name[i - 1]) && IS_LOWER_ALNUM(p.name[i + 1]));
	}
	CHECK(p.one_component == (memchr(p.name, '/', p.name_len) == NULL));
	CHECK(p.one_component || memcmp(p.name, "v2/", 3) != 0);

	/* reference */
	CHECK(p.reference_len >= 1);
	switch (p.kind)
	{
		case VREG_OCI_TAG_MANIFEST:
			CHECK(p.reference_len <= VREG_OCI_MAX_TAG);
			CHECK(memchr(p.reference, ':', p.reference_len) == NULL);
			CHECK(p.reference[0] != '.' && p.reference[0] != '-');
			break;
		case VREG_OCI_DIGEST_MANIFEST:
		case VREG_OCI_BLOB:
			check_digest(p.reference, p.reference_len);
			break;
		default:
			CHECK(!"kind is one of the three");
	}

	/* the whole input was consumed: "/"? name "/" kind "/" reference */
	{
		size_t		lead = (len > 0 && in[0] == '/') ? 1 : 0;
		size_t		kind_len = p.kind == VREG_OCI_BLOB ? 5 : 9;

		CHECK(lead + p.name_len + 1 + kind_len + 1 + p.reference_len == len);
	}

	/* normalizing is refused only for a one-component name too long for library/ */
	CHECK(vreg_oci_relative_path_problem(&p, false) == NULL);
	check_normalized(&p, 0);
	problem = vreg_oci_relative_path_problem(&p, true);
	check_problem(problem, in, len);
	if (problem == NULL)
		check_normalized(&p, 1);
	else
		CHECK(p.one_component && p.name_len > VREG_OCI_MAX_NAME - 8);
}

static void
fuzz_digest_and_etag(const char *in, size_t len)
{
	const char *problem = vreg_oci_digest_problem(in, len);
	const char *d = NULL;
	size_t		dlen = 0;

	check_problem(problem, in, len);
	if (problem == NULL)
		check_digest(in, len);

	if (vreg_oci_etag_digest(in, len, &d, &dlen))
	{
		CHECK(d >= in && d + dlen <= in + len);
		CHECK(vreg_oci_digest_problem(d, dlen) == NULL);
		check_digest(d, dlen);
		/* a digest is its own ETag */
		if (problem == NULL)
			CHECK(d == in && dlen == len);
	}
	else
		CHECK(problem != NULL);
}

static void
fuzz_hub_url(const char *in, size_t len)
{
	if (vreg_oci_is_docker_hub_url(in, len))
	{
		static const char tail[] = "/v2/library/alpine/manifests/latest";
		char	   *longer = malloc(len + sizeof(tail));
		size_t		i;

		if (longer == NULL)
			abort();
		memcpy(longer, in, len);
		/* only the authority decides: a path after it changes nothing */
		for (i = 0; i < len && in[i] != '/' && in[i] != '?' && in[i] != '#'; i++)
			;
		if (i + 2 < len && in[i] == '/' && in[i + 1] == '/')
		{
			size_t		end = i + 2;

			while (end < len && in[end] != '/' && in[end] != '?' && in[end] != '#')
				end++;
			memcpy(longer, in, end);
			memcpy(longer + end, tail, sizeof(tail) - 1);
			CHECK(vreg_oci_is_docker_hub_url(longer, end + sizeof(tail) - 1));
		}
		free(longer);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *) data;

	fuzz_path(in, size);
	fuzz_digest_and_etag(in, size);
	fuzz_hub_url(in, size);
	return 0;
}
