/*
 * resolve_scan.h
 *		resolve()'s lookup by direct index scans (no SPI, planner or executor).
 */
#ifndef RESOLVE_SCAN_H
#define RESOLVE_SCAN_H

#include "postgres.h"

#include "access/htup.h"
#include "access/tupdesc.h"

typedef enum VregResolveScanResult
{
	VREG_RESOLVE_SCAN_DONE,		/* *result is set */
	VREG_RESOLVE_SCAN_NO_REGISTRY,	/* the registry is not in the group */
	VREG_RESOLVE_SCAN_FALLBACK	/* cannot answer: run the planned query */
} VregResolveScanResult;

/* What resolve() looks for; paths and digest are NUL-terminated. */
typedef struct VregResolveRequest
{
	int64		group_id;
	int64		registry_id;
	const char *relpath;		/* canonical path, names kept as given */
	const char *hubpath;		/* the same with library/ for Docker Hub */
	const char *digest;			/* NULL for a tag manifest */
	bool		is_blob;		/* digest path: blobs/ rather than manifests/ */
} VregResolveRequest;

/*
 * Answer resolve() with index scans under the active snapshot: the
 * registry's links in position order through registry_upstreams_position_key
 * (the registry row through registries_pkey only when it has none: a link
 * implies its registry), the group's one cache_entries partition
 * through one descent of the child of cache_entries_live_path_upstream_key
 * (tags) or cache_entries_live_digest_upstream_idx (digests), and the
 * winning upstream through upstreams_pkey. On DONE,
 * *result is the 11-column result row of outdesc, allocated in the caller's
 * memory context. FALLBACK (nothing was returned or raised) when a table or
 * index the scans rely on is missing or defined otherwise than they rely on
 * (see resolve_scan.c), when cache_entries is not hash-partitioned on
 * group_id alone, when the group's partition is missing or itself
 * partitioned, or when no snapshot is active.
 */
extern VregResolveScanResult vreg_resolve_scan(const VregResolveRequest *req,
											   TupleDesc outdesc,
											   HeapTuple *result);

#endif							/* RESOLVE_SCAN_H */
