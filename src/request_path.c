/*
 * request_path.c
 *		The read side of the request path (DESIGN section 5): resolve(), and
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
"           AND e.status OPERATOR(pg_catalog.=) 0"
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
"           AND e.status OPERATOR(pg_catalog.=) 0"
"           AND e.digest OPERATOR(pg_catalog.=) $5"
"           AND (e.relative_path OPERATOR(pg_catalog.~~) $6) OPERATOR(pg_catalog.=) $7"
"         ORDER BY (e.relative_path OPERATOR(pg_catalog.=) p.path) DESC, e.id"
"         LIMIT 1"
RESOLVE_QUERY_TAIL;

#define RESOLVE_NARGS 7
#define RESOLVE_NCOLS 11		/* columns of the result row */

static SPIPlanPtr resolve_tag_plan = NULL;
static SPIPlanPtr resolve_digest_plan = NULL;

void
vreg_parse_request_path_or_error(const char *path, size_t len, VregOciPath *out)
{
	const char *problem = vreg_oci_parse_path(path, len, out);

	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid request path: %s", problem),
				 errhint("A request path is what the client asked for under /v2/: <name>/manifests/<tag or digest> or <name>/blobs/<digest>, with a lowercase repository name and a sha256 or sha512 digest.")));
}

static void
refuse_null(FunctionCallInfo fcinfo, int argno, const char *argname)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be NULL", argname)));
}

static void
no_such_registry(int64 group_id, int64 registry_id)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("registry " INT64_FORMAT " does not exist in group " INT64_FORMAT,
					registry_id, group_id)));
}

static SPIPlanPtr
prepare_resolve_plan(const char *query)
{
	Oid			argtypes[RESOLVE_NARGS] = {INT8OID, INT8OID, TEXTOID, TEXTOID,
	TEXTOID, TEXTOID, BOOLOID};
	SPIPlanPtr	plan;

	/*
	 * A generic plan: the partition is pruned at executor start from $1, and
	 * no call pays for planning.
	 */
	plan = SPI_prepare_cursor(query, RESOLVE_NARGS, argtypes, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "containers_vreg: SPI_prepare failed for resolve: %s",
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "containers_vreg: SPI_keepplan failed for resolve");
	return plan;
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
	int64		group_id;
	int64		registry_id;
	text	   *path;
	VregOciPath parsed;
	char		relpath[VREG_OCI_RELPATH_BUFSIZE];
	char		hubpath[VREG_OCI_RELPATH_BUFSIZE];
	char		blobpattern[VREG_OCI_RELPATH_BUFSIZE];
	char	   *digest = NULL;
	Datum		args[RESOLVE_NARGS];
	char		argnulls[RESOLVE_NARGS];
	bool		is_digest;
	SPIPlanPtr	plan;
	TupleDesc	outdesc;
	Datum		outvalues[RESOLVE_NCOLS];
	bool		outnulls[RESOLVE_NCOLS];
	HeapTuple	outtuple;
	MemoryContext callercxt = CurrentMemoryContext;
	int			rc;
	int			i;

	refuse_null(fcinfo, 0, "group_id");
	refuse_null(fcinfo, 1, "registry_id");
	refuse_null(fcinfo, 2, "path");
	group_id = PG_GETARG_INT64(0);
	registry_id = PG_GETARG_INT64(1);
	path = PG_GETARG_TEXT_PP(2);

	if (get_call_result_type(fcinfo, NULL, &outdesc) != TYPEFUNC_COMPOSITE ||
		outdesc->natts != RESOLVE_NCOLS)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("containers_vreg.resolve() must be declared with %d OUT columns", RESOLVE_NCOLS)));
	outdesc = BlessTupleDesc(outdesc);

	vreg_parse_request_path_or_error(VARDATA_ANY(path), VARSIZE_ANY_EXHDR(path), &parsed);
	vreg_oci_relative_path(&parsed, false, relpath);
	vreg_oci_relative_path(&parsed, true, hubpath);
	is_digest = parsed.kind != VREG_OCI_TAG_MANIFEST;
	if (is_digest)
		digest = pnstrdup(parsed.reference, parsed.reference_len);

	/* the direct index scans, unless they cannot answer */
	{
		VregResolveRequest req;

		req.group_id = group_id;
		req.registry_id = registry_id;
		req.relpath = relpath;
		req.hubpath = hubpath;
		req.digest = digest;
		req.is_blob = parsed.kind == VREG_OCI_BLOB;
		switch (vreg_resolve_scan(&req, outdesc, &outtuple))
		{
			case VREG_RESOLVE_SCAN_DONE:
				PG_RETURN_DATUM(HeapTupleGetDatum(outtuple));
			case VREG_RESOLVE_SCAN_NO_REGISTRY:
				no_such_registry(group_id, registry_id);
				break;
			case VREG_RESOLVE_SCAN_FALLBACK:
				break;
		}
	}

	memset(argnulls, ' ', sizeof(argnulls));
	args[0] = Int64GetDatum(group_id);
	args[1] = Int64GetDatum(registry_id);
	args[2] = CStringGetTextDatum(relpath);
	args[3] = CStringGetTextDatum(hubpath);
	if (is_digest)
	{
		snprintf(blobpattern, sizeof(blobpattern), "%%/blobs/%s", digest);
		args[4] = CStringGetTextDatum(digest);
		args[5] = CStringGetTextDatum(blobpattern);
		args[6] = BoolGetDatum(parsed.kind == VREG_OCI_BLOB);
	}
	else
	{
		args[4] = args[5] = args[6] = (Datum) 0;
		argnulls[4] = argnulls[5] = argnulls[6] = 'n';
	}

	if ((rc = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "containers_vreg: SPI_connect failed: %s", SPI_result_code_string(rc));

	if (is_digest)
	{
		if (resolve_digest_plan == NULL)
			resolve_digest_plan = prepare_resolve_plan(resolve_digest_query);
		plan = resolve_digest_plan;
	}
	else
	{
		if (resolve_tag_plan == NULL)
			resolve_tag_plan = prepare_resolve_plan(resolve_tag_query);
		plan = resolve_tag_plan;
	}

	rc = SPI_execute_plan(plan, args, argnulls, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "containers_vreg: resolve query failed: %s", SPI_result_code_string(rc));

	if (SPI_processed == 0)
		no_such_registry(group_id, registry_id);

	{
		HeapTuple	row = SPI_tuptable->vals[0];
		TupleDesc	rowdesc = SPI_tuptable->tupdesc;
		bool		isnull;
		bool		stale;
		MemoryContext spicxt;

		(void) SPI_getbinval(row, rowdesc, 1, &isnull);
		if (isnull)
		{
			/* miss: only result is set */
			for (i = 1; i < RESOLVE_NCOLS; i++)
			{
				outvalues[i] = (Datum) 0;
				outnulls[i] = true;
			}
			stale = false;
		}
		else
		{
			/* SPI columns 1..10 are the result columns 2..11 */
			for (i = 1; i < RESOLVE_NCOLS; i++)
				outvalues[i] = SPI_getbinval(row, rowdesc, i, &outnulls[i]);
			stale = DatumGetBool(SPI_getbinval(row, rowdesc, RESOLVE_NCOLS, &isnull));
			stale = stale && !isnull;
		}
		outvalues[0] = CStringGetTextDatum(outnulls[1] ? "miss" : stale ? "stale" : "hit");
		outnulls[0] = false;

		/* heap_form_tuple copies the values into the caller's memory */
		spicxt = MemoryContextSwitchTo(callercxt);
		outtuple = heap_form_tuple(outdesc, outvalues, outnulls);
		MemoryContextSwitchTo(spicxt);
	}

	SPI_finish();
	PG_RETURN_DATUM(HeapTupleGetDatum(outtuple));
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
				 errhint("Docker Hub names are limited to 255 characters including the library/ prefix.")));
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
