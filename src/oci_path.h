/*
 * oci_path.h
 *		OCI distribution request paths, digests and ETags (pure C, no server
 *		headers: a standalone test or fuzzer links oci_path.c alone).
 *
 * Grammar (distribution/reference and the OCI distribution spec):
 *	 path      = ["/"] name "/manifests/" reference | ["/"] name "/blobs/" digest,
 *	             printable ASCII, at most 1024 bytes
 *	 name      = component *("/" component), at most 255 characters
 *	 component = [a-z0-9]+ ((\.|_|__|-+) [a-z0-9]+)*
 *	 reference = tag | digest
 *	 tag       = [A-Za-z0-9_][A-Za-z0-9._-]{0,127}
 *	 digest    = "sha256:" 64 lowercase hex | "sha512:" 128 lowercase hex
 * The path is split at its last two '/'-separated components, so a name may
 * itself contain a component called "manifests" or "blobs".
 *
 * A name of two or more components whose first component is "v2" is refused
 * (vreg_oci_v2_prefix_problem): such a path is what a client asked for with
 * the API's "/v2/" still in front, and taking it as a name would build a
 * second cache of every image. A one-component name "v2" cannot arise that
 * way and is accepted.
 */
#ifndef OCI_PATH_H
#define OCI_PATH_H

#include <stdbool.h>
#include <stddef.h>

#include "vreg_limits.h"

/*
 * Longest request path accepted, in bytes: the byte limit of
 * cache_entries.relative_path (a btree entry is limited in bytes, not
 * characters). An accepted path is printable ASCII, so its length in bytes
 * and in characters agree; the relative path built from it (at most
 * VREG_OCI_RELPATH_BUFSIZE - 1 bytes) is always within the limit too.
 */
#define VREG_OCI_MAX_PATH VREG_MAX_PATH_BYTES
/* Longest repository name (distribution's NameTotalLengthMax). */
#define VREG_OCI_MAX_NAME 255
/* Longest tag. */
#define VREG_OCI_MAX_TAG 128
/* "library/" prepended to one-component Docker Hub names. */
#define VREG_OCI_LIBRARY_PREFIX "library/"
/* Room for any relative path built by vreg_oci_relative_path(). */
#define VREG_OCI_RELPATH_BUFSIZE (1 + sizeof(VREG_OCI_LIBRARY_PREFIX) + VREG_OCI_MAX_NAME + 16 + 7 + 128 + 1)

typedef enum VregOciKind
{
	VREG_OCI_TAG_MANIFEST = 1,	/* <name>/manifests/<tag> */
	VREG_OCI_DIGEST_MANIFEST,	/* <name>/manifests/<digest> */
	VREG_OCI_BLOB				/* <name>/blobs/<digest> */
} VregOciKind;

typedef struct VregOciPath
{
	VregOciKind kind;
	const char *name;			/* points into the parsed input */
	size_t		name_len;
	const char *reference;		/* tag or digest, points into the input */
	size_t		reference_len;
	bool		one_component;	/* name has no '/' (Docker Hub "library/") */
} VregOciPath;

/*
 * Parse path (len bytes, not necessarily NUL-terminated). Returns NULL and
 * fills *out on success, otherwise a static English sentence naming the
 * problem (never containing any part of the input).
 */
extern const char *vreg_oci_parse_path(const char *path, size_t len, VregOciPath *out);

/*
 * The problem vreg_oci_parse_path() returns for a name that starts with "v2/",
 * so that a caller can add a hint saying what to pass instead.
 */
extern const char vreg_oci_v2_prefix_problem[];

/* NULL when s (len bytes) is a supported digest, else the problem. */
extern const char *vreg_oci_digest_problem(const char *s, size_t len);

/*
 * Write the canonical relative path "/<name>/<manifests|blobs>/<reference>"
 * of p into buf (at least VREG_OCI_RELPATH_BUFSIZE bytes), NUL-terminated,
 * with "library/" prepended to a one-component name when docker_hub is true.
 * Returns the length written (without the NUL).
 */
extern size_t vreg_oci_relative_path(const VregOciPath *p, bool docker_hub, char *buf);

/*
 * NULL when the relative path of p (with "library/" prepended when docker_hub
 * says so) is itself a valid path, else the problem: a one-component name of
 * more than 255 - 8 characters is too long once "library/" is prepended
 * (found by test/fuzz/fuzz_oci_path.c).
 */
extern const char *vreg_oci_relative_path_problem(const VregOciPath *p, bool docker_hub);

/*
 * If etag (len bytes) is a supported digest once a weak "W/" prefix and
 * surrounding double quotes are stripped, set *digest / *digest_len to it
 * (pointing into etag) and return true; otherwise return false.
 */
extern bool vreg_oci_etag_digest(const char *etag, size_t len,
								 const char **digest, size_t *digest_len);

/*
 * True when url's host is Docker Hub (registry-1.docker.io, docker.io or
 * index.docker.io, any case, one trailing dot allowed).
 */
extern bool vreg_oci_is_docker_hub_url(const char *url, size_t len);

#endif							/* OCI_PATH_H */
