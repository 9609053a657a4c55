/*
 * request_path.c
 *		The read side of the request path (docs/design.md, "The request
 *		path"): resolve(), and
 *		the small path helpers that upsert_cache_entry() and the service use.
 *
 * resolve() is the hot path: one call per client request. It answers with
 * direct index scans (resolve_scan.c: no SPI, planner or executor). When
 * those cannot answer (an index the scans rely on is missing or defined
 * otherwise, cache_entries is not hash-partitioned on group_id alone, the
 * group's partition is missing or itself partitioned) it runs the planned query
 * below: one SPI statement, prepared once per backend and kept
 * (SPI_keepplan; the plan cache re-plans it when a table or index it uses
 * changes), that checks the registry and probes each linked upstream at
 * most once, in position order. Both give the same answer; the query is the
 * reference for the semantics.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/parsenodes.h"
#include "utils/builtins.h"

#include "request_path.h"
#include "resolve_scan.h"
#include "vreg_common.h"

/*
 * The query shared by both plans: the registry row (so that an unknown
 * registry gives no row at all), then its links in position order, each
 * joined with at most one live entry of that upstream. %s is the entry probe.
 * The Docker Hub form of the path ($4) is picked once per upstream.
 * Everything is schema-qualified, operators included, so the caller's
 * search_path cannot change what the query means.
 */
#define RESOLVE_QUERY_HEAD \
"SELECT x.id, x.upstream_id, x.position, x.relative_path, x.object_storage_key," \
"       x.file, x.size, x.content_type, x.upstream_etag, x.digest, x.stale" \
"  FROM containers_vreg.registries r" \
"  LEFT JOIN LATERAL (" \
"    SELECT ru.position, e.*" \
"      FROM containers_vreg.registry_upstreams ru" \
"      JOIN containers_vreg.upstreams u" \
"        ON u.group_id OPERATOR(pg_catalog.=) ru.group_id" \
"       AND u.id OPERATOR(pg_catalog.=) ru.upstream_id" \
"      CROSS JOIN LATERAL (SELECT CASE WHEN containers_vreg.is_docker_hub_url(u.url)" \
"                                      THEN $4 ELSE $3 END AS path) p" \
"      CROSS JOIN LATERAL ("

#define RESOLVE_QUERY_TAIL \
"      ) e" \
"     WHERE ru.group_id OPERATOR(pg_catalog.=) $1" \
"       AND ru.registry_id OPERATOR(pg_catalog.=) r.id" \
"     ORDER BY ru.position" \
"     LIMIT 1) x ON true" \
" WHERE r.group_id OPERATOR(pg_catalog.=) $1 AND r.id OPERATOR(pg_catalog.=) $2"

#define ENTRY_COLUMNS \
"e.id, e.upstream_id, e.relative_path, e.object_storage_key, e.file, e.size," \
" e.content_type, e.upstream_etag, e.digest"

/* Tag manifest: the live entry at exactly this path; stale after the validity. */
static const char *const resolve_tag_query =
RESOLVE_QUERY_HEAD
"        SELECT " ENTRY_COLUMNS ","
"               (u.cache_validity_hours OPERATOR(pg_catalog.=) 0"
"                OR e.upstream_checked_at"
"                   OPERATOR(pg_catalog.+) pg_catalog.make_interval(hours => u.cache_validity_hours)"
"                   OPERATOR(pg_catalog.<) pg_catalog.now()) AS stale"
"          FROM containers_vreg.cache_entries e"
"         WHERE e.group_id OPERATOR(pg_catalog.=) $1"
"           AND e.upstream_id OPERATOR(pg_catalog.=) ru.upstream_id"
"           AND e.status OPERATOR(pg_catalog.=) 0 /* live */"
"           AND e.relative_path OPERATOR(pg_catalog.=) p.path"
RESOLVE_QUERY_TAIL;

/*
 * Digest path: any live entry of the upstream with this digest and the same
 * kind ($7: blob entries end in /blobs/<digest>, $6 is that LIKE pattern),
 * the exact path first, then the lowest id. Never stale.
 */
static const char *const resolve_digest_query =
RESOLVE_QUERY_HEAD
"        SELECT " ENTRY_COLUMNS ", false AS stale"
"          FROM containers_vreg.cache_entries e"
"         WHERE e.group_id OPERATOR(pg_catalog.=) $1"
"           AND e.upstream_id OPERATOR(pg_catalog.=) ru.upstream_id"
"           AND e.status OPERATOR(pg_catalog.=) 0 /* live */"
"           AND e.digest OPERATOR(pg_catalog.=) $5"
"           AND (e.relative_path OPERATOR(pg_catalog.~~) $6) OPERATOR(pg_catalog.=) $7"
"         ORDER BY (e.relative_path OPERATOR(pg_catalog.=) p.path) DESC, e.id"
"         LIMIT 1"
RESOLVE_QUERY_TAIL;

#define RESOLVE_NARGS 7
#define RESOLVE_NCOLS 11		/* columns of the result row */

/*
 * A generic plan: the partition is pruned at executor start from $1, and no
 * call pays for planning.
 */
static VregPlan resolve_tag_plan = {
	resolve_tag_query, RESOLVE_NARGS,
	{INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID},
	CURSOR_OPT_GENERIC_PLAN
};
static VregPlan resolve_digest_plan = {
	resolve_digest_query, RESOLVE_NARGS,
	{INT8OID, INT8OID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, BOOLOID},
	CURSOR_OPT_GENERIC_PLAN
};

/* What resolve() looks for, in the forms the lookups need. */
typedef struct ResolvePaths
{
	VregOciPath parsed;
	char		relpath[VREG_OCI_RELPATH_BUFSIZE];	/* names as given */
	char		hubpath[VREG_OCI_RELPATH_BUFSIZE];	/* with library/ for Docker Hub */
	char	   *digest;			/* NULL for a tag manifest */
} ResolvePaths;

void
vreg_parse_request_path_or_error(const char *path, size_t len, VregOciPath *out)
{
	const char *problem = vreg_oci_parse_path(path, len, out);

	if (problem == vreg_oci_v2_prefix_problem)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid request path: %s", problem),
				 errhint("Pass the part of the request path after /v2/ (for GET /v2/library/alpine/manifests/latest pass library/alpine/manifests/latest); a repository whose name starts with v2/ cannot be cached.")));
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid request path: %s", problem),
				 errhint("A request path is what the client asked for under /v2/: <name>/manifests/<tag or digest> or <name>/blobs/<digest>, with a lowercase repository name and a sha256 or sha512 digest.")));
}

/*
 * The blessed descriptor of resolve()'s result row, built once per backend
 * and function OID: the OUT columns of a function cannot change under its
 * OID (CREATE OR REPLACE refuses another row type), and a blessed
 * descriptor's record type stays registered for the life of the backend.
 */
static TupleDesc
resolve_result_desc(FunctionCallInfo fcinfo)
{
	static Oid	cached_fn = InvalidOid;
	static TupleDesc cached_desc = NULL;
	Oid			fn = fcinfo->flinfo != NULL ? fcinfo->flinfo->fn_oid : InvalidOid;
	TupleDesc	outdesc;
	MemoryContext oldcxt;

	if (OidIsValid(fn) && fn == cached_fn)
		return cached_desc;
	if (get_call_result_type(fcinfo, NULL, &outdesc) != TYPEFUNC_COMPOSITE ||
		outdesc->natts != RESOLVE_NCOLS)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("containers_vreg.resolve() must be declared with %d OUT columns", RESOLVE_NCOLS)));
	if (!OidIsValid(fn))
		return BlessTupleDesc(outdesc);
	oldcxt = MemoryContextSwitchTo(TopMemoryContext);
	outdesc = BlessTupleDesc(CreateTupleDescCopy(outdesc));
	MemoryContextSwitchTo(oldcxt);
	if (cached_desc != NULL)
		FreeTupleDesc(cached_desc);
	cached_fn = fn;
	cached_desc = outdesc;
	return outdesc;
}

/* Parse the request path (22023) into the forms the lookups need. */
static void
resolve_paths(text *path, ResolvePaths *p)
{
	vreg_parse_request_path_or_error(VARDATA_ANY(path), VARSIZE_ANY_EXHDR(path), &p->parsed);
	vreg_oci_relative_path(&p->parsed, false, p->relpath);
	vreg_oci_relative_path(&p->parsed, true, p->hubpath);
	p->digest = p->parsed.kind == VREG_OCI_TAG_MANIFEST ? NULL
		: pnstrdup(p->parsed.reference, p->parsed.reference_len);
}

/*
 * The result row from the planned query's one row (SPI_tuptable), formed in
 * callercxt: a miss sets only result; SPI columns 1..10 are the result
 * columns 2..11, column 11 says whether a hit is stale.
 */
static HeapTuple
resolve_row_from_spi(TupleDesc outdesc, MemoryContext callercxt)
{
	HeapTuple	row = SPI_tuptable->vals[0];
	TupleDesc	rowdesc = SPI_tuptable->tupdesc;
	Datum		outvalues[RESOLVE_NCOLS];
	bool		outnulls[RESOLVE_NCOLS];
	bool		isnull;
	bool		stale = false;
	MemoryContext spicxt;
	HeapTuple	outtuple;
	int			i;

	(void) SPI_getbinval(row, rowdesc, 1, &isnull);
	for (i = 1; i < RESOLVE_NCOLS; i++)
	{
		outvalues[i] = isnull ? (Datum) 0 : SPI_getbinval(row, rowdesc, i, &outnulls[i]);
		if (isnull)
			outnulls[i] = true;
	}
	if (!isnull)
	{
		stale = DatumGetBool(SPI_getbinval(row, rowdesc, RESOLVE_NCOLS, &isnull));
		stale = stale && !isnull;
	}
	/* heap_form_tuple copies the values into the caller's memory */
	spicxt = MemoryContextSwitchTo(callercxt);
	outvalues[0] = CStringGetTextDatum(outnulls[1] ? "miss" : stale ? "stale" : "hit");
	outnulls[0] = false;
	outtuple = heap_form_tuple(outdesc, outvalues, outnulls);
	MemoryContextSwitchTo(spicxt);
	return outtuple;
}

/*
 * resolve() by the planned query: the reference for the semantics, run when
 * the direct index scans cannot answer.
 */
static HeapTuple
resolve_planned(int64 group_id, int64 registry_id, const ResolvePaths *p, TupleDesc outdesc)
{
	MemoryContext callercxt = CurrentMemoryContext;
	char		blobpattern[VREG_OCI_RELPATH_BUFSIZE];
	Datum		args[RESOLVE_NARGS];
	char		argnulls[RESOLVE_NARGS];
	HeapTuple	outtuple;

	memset(argnulls, ' ', sizeof(argnulls));
	args[0] = Int64GetDatum(group_id);
	args[1] = Int64GetDatum(registry_id);
	args[2] = CStringGetTextDatum(p->relpath);
	args[3] = CStringGetTextDatum(p->hubpath);
	if (p->digest != NULL)
	{
		snprintf(blobpattern, sizeof(blobpattern), "%%/blobs/%s", p->digest);
		args[4] = CStringGetTextDatum(p->digest);
		args[5] = CStringGetTextDatum(blobpattern);
		args[6] = BoolGetDatum(p->parsed.kind == VREG_OCI_BLOB);
	}
	else
	{
		args[4] = args[5] = args[6] = (Datum) 0;
		argnulls[4] = argnulls[5] = argnulls[6] = 'n';
	}

	vreg_spi_connect();
	if (vreg_spi_run(p->digest != NULL ? &resolve_digest_plan : &resolve_tag_plan,
					 args, argnulls, VREG_SPI_READ, 1) != SPI_OK_SELECT)
		elog(ERROR, "resolve query did not return rows");
	if (SPI_processed == 0)
		vreg_registry_not_found(group_id, registry_id);
	outtuple = resolve_row_from_spi(outdesc, callercxt);
	SPI_finish();
	return outtuple;
}

PG_FUNCTION_INFO_V1(containers_vreg_resolve);

/*
 * resolve(group_id bigint, registry_id bigint, path text) -> one row
 * (result, entry_id, upstream_id, position, relative_path, object_storage_key,
 *	file, size, content_type, upstream_etag, digest)
 */
Datum
containers_vreg_resolve(PG_FUNCTION_ARGS)
{
	int64		group_id = vreg_arg_int64(fcinfo, 0, "group_id");
	int64		registry_id = vreg_arg_int64(fcinfo, 1, "registry_id");
	TupleDesc	outdesc;
	ResolvePaths paths;
	VregResolveRequest req;
	HeapTuple	outtuple;

	/* 1. the arguments and the result row */
	if (PG_ARGISNULL(2))
		vreg_refuse_null("path");
	outdesc = resolve_result_desc(fcinfo);

	/* 2. the request path */
	resolve_paths(PG_GETARG_TEXT_PP(2), &paths);

	/* 3. the direct index scans, unless they cannot answer */
	req.group_id = group_id;
	req.registry_id = registry_id;
	req.relpath = paths.relpath;
	req.hubpath = paths.hubpath;
	req.digest = paths.digest;
	req.is_blob = paths.parsed.kind == VREG_OCI_BLOB;
	switch (vreg_resolve_scan(&req, outdesc, &outtuple))
	{
		case VREG_RESOLVE_SCAN_DONE:
			PG_RETURN_DATUM(HeapTupleGetDatum(outtuple));
		case VREG_RESOLVE_SCAN_NO_REGISTRY:
			vreg_registry_not_found(group_id, registry_id);
		case VREG_RESOLVE_SCAN_FALLBACK:
			break;
	}

	/* 4. the planned query */
	PG_RETURN_DATUM(HeapTupleGetDatum(resolve_planned(group_id, registry_id, &paths, outdesc)));
}

PG_FUNCTION_INFO_V1(containers_vreg_parse_request_path);

/*
 * parse_request_path(path text, docker_hub boolean) -> (relative_path text,
 * kind text, digest text). STRICT in SQL.
 */
Datum
containers_vreg_parse_request_path(PG_FUNCTION_ARGS)
{
	text	   *path = PG_GETARG_TEXT_PP(0);
	bool		docker_hub = PG_GETARG_BOOL(1);
	VregOciPath parsed;
	const char *problem;
	char		relpath[VREG_OCI_RELPATH_BUFSIZE];
	TupleDesc	outdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (get_call_result_type(fcinfo, NULL, &outdesc) != TYPEFUNC_COMPOSITE ||
		outdesc->natts != 3)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("containers_vreg.parse_request_path() must be declared with 3 OUT columns")));
	outdesc = BlessTupleDesc(outdesc);

	vreg_parse_request_path_or_error(VARDATA_ANY(path), VARSIZE_ANY_EXHDR(path), &parsed);
	problem = vreg_oci_relative_path_problem(&parsed, docker_hub);
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid request path: %s", problem),
				 errhint("Docker Hub names are limited to %d characters including the library/ prefix.",
						 VREG_OCI_MAX_NAME)));
	vreg_oci_relative_path(&parsed, docker_hub, relpath);
	values[0] = CStringGetTextDatum(relpath);
	switch (parsed.kind)
	{
		case VREG_OCI_TAG_MANIFEST:
			values[1] = CStringGetTextDatum("tag_manifest");
			break;
		case VREG_OCI_DIGEST_MANIFEST:
			values[1] = CStringGetTextDatum("digest_manifest");
			break;
		default:
			values[1] = CStringGetTextDatum("blob");
			break;
	}
	if (parsed.kind == VREG_OCI_TAG_MANIFEST)
	{
		values[2] = (Datum) 0;
		nulls[2] = true;
	}
	else
		values[2] = PointerGetDatum(cstring_to_text_with_len(parsed.reference,
															 (int) parsed.reference_len));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(outdesc, values, nulls)));
}

PG_FUNCTION_INFO_V1(containers_vreg_etag_digest);

/* etag_digest(etag text) -> text: the digest an ETag names, or NULL. STRICT. */
Datum
containers_vreg_etag_digest(PG_FUNCTION_ARGS)
{
	text	   *etag = PG_GETARG_TEXT_PP(0);
	const char *digest;
	size_t		digest_len;

	if (!vreg_oci_etag_digest(VARDATA_ANY(etag), VARSIZE_ANY_EXHDR(etag), &digest, &digest_len))
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(digest, (int) digest_len));
}

PG_FUNCTION_INFO_V1(containers_vreg_is_docker_hub_url);

/* is_docker_hub_url(url text) -> boolean. STRICT. */
Datum
containers_vreg_is_docker_hub_url(PG_FUNCTION_ARGS)
{
	text	   *url = PG_GETARG_TEXT_PP(0);

	PG_RETURN_BOOL(vreg_oci_is_docker_hub_url(VARDATA_ANY(url), VARSIZE_ANY_EXHDR(url)));
}
