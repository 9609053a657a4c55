/*
 * limits.c
 *		limits(): the limits of vreg_limits.h as a set, so that the
 *		regression test sql/limits.sql can check that the SQL side (CHECK
 *		constraints, argument checks of the PL/pgSQL functions) agrees with
 *		the C side at every boundary.
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"

#include "cred_rules.h"
#include "oci_path.h"
#include "vreg_limits.h"

typedef struct NamedLimit
{
	const char *name;
	int64		value;
} NamedLimit;

static const NamedLimit limits[] = {
	{"registries_per_group", VREG_MAX_REGISTRIES_PER_GROUP},
	{"upstreams_per_registry", VREG_MAX_UPSTREAMS_PER_REGISTRY},
	{"entry_size_bytes", VREG_MAX_ENTRY_SIZE},
	{"path_bytes", VREG_MAX_PATH_BYTES},
	{"request_path_bytes", VREG_OCI_MAX_PATH},
	{"key_bytes", VREG_MAX_KEY_BYTES},
	{"name_chars", VREG_MAX_NAME_CHARS},
	{"description_chars", VREG_MAX_DESCRIPTION_CHARS},
	{"url_chars", VREG_MAX_URL_CHARS},
	{"file_chars", VREG_MAX_FILE_CHARS},
	{"etag_chars", VREG_MAX_ETAG_CHARS},
	{"content_type_chars", VREG_MAX_CONTENT_TYPE_CHARS},
	{"credential_chars", VREG_CRED_MAX_CHARS},
	{"sha1_bytes", VREG_SHA1_BYTES},
	{"md5_bytes", VREG_MD5_BYTES},
	{"modulus", VREG_MAX_MODULUS},
	{"shards", VREG_MAX_SHARDS},
	{"keep_days", VREG_MAX_KEEP_DAYS},
	{"lease_days", VREG_MAX_LEASE_DAYS},
	{"object_keys_per_call", VREG_MAX_OBJECT_KEYS_PER_CALL},
};

PG_FUNCTION_INFO_V1(containers_vreg_limits);

/* limits() -> setof (name text, value bigint), in the order above. */
Datum
containers_vreg_limits(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			i;

	InitMaterializedSRF(fcinfo, 0);
	for (i = 0; i < (int) lengthof(limits); i++)
	{
		Datum		values[2];
		bool		nulls[2] = {false, false};

		values[0] = CStringGetTextDatum(limits[i].name);
		values[1] = Int64GetDatum(limits[i].value);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
