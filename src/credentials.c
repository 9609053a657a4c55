/*
 * credentials.c
 *		Upstream credentials: validation of the plaintext jsonb, sealing in a
 *		BEFORE INSERT OR UPDATE trigger, the keyed uniqueness fingerprint,
 *		upstream_credentials() and rotate_credentials().
 *
 * What is stored in upstreams.credentials is NULL or an envelope (envelope.h)
 * sealed under the keyring's highest key, bound to (group_id, id) by the
 * associated data. credentials_fingerprint is a keyed BLAKE2b hash
 * (crypto_generichash) of the canonical plaintext under a dedicated secret;
 * the secret lives in containers_vreg.credentials_secret as an envelope
 * sealed under the keyring, so it survives rotation, removal of old keys and
 * dump/restore, and is itself re-sealed by rotation.
 *
 * Short-lived secrets (plaintext, fingerprint secret) are allocated in a
 * memory context whose reset callback wipes them (sodium_memzero), so they
 * are wiped on success and on error alike. No buffer that held plaintext is
 * freed or grown without being wiped first: the trigger's detoasted copy of
 * the submitted jsonb is registered for wiping, the jsonb that
 * upstream_credentials() returns is built in one allocation of its exact
 * size (no repalloc growth), and rotate_credentials() and
 * reset_credentials_secret() reset a per-row context, so a batch holds one
 * row's plaintext at a time. No message names a value.
 *
 * reset_credentials_secret() is the way out when the fingerprint secret does
 * not open (a restore onto a server with other keys): a fresh secret,
 * fingerprints computed again, and the credentials no key opens cleared.
 */
#include "postgres.h"

#include <sodium.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#include "containers_vreg.h"
#include "cred_rules.h"
#include "credentials.h"
#include "envelope.h"
#include "keyring.h"
#include "vreg_common.h"

/* ---------------------------------------------------------------------
 * Wiped memory
 * --------------------------------------------------------------------- */

typedef struct WipeChunk
{
	MemoryContextCallback cb;
	void	   *ptr;
	Size		len;
} WipeChunk;

static void
wipe_chunk(void *arg)
{
	WipeChunk  *w = (WipeChunk *) arg;

	sodium_memzero(w->ptr, w->len);
}

/*
 * Wipe len bytes at ptr when cxt is reset or deleted (on success and on error
 * alike: an aborted transaction deletes the context). ptr must live at least
 * as long as cxt, i.e. be allocated in cxt.
 */
static void
secret_register(MemoryContext cxt, void *ptr, Size len)
{
	WipeChunk  *w = MemoryContextAlloc(cxt, sizeof(WipeChunk));

	w->ptr = ptr;
	w->len = len;
	w->cb.func = wipe_chunk;
	w->cb.arg = w;
	MemoryContextRegisterResetCallback(cxt, &w->cb);
}

/* palloc0 in cxt; the bytes are wiped when cxt is reset or deleted. */
static void *
secret_alloc(MemoryContext cxt, Size len)
{
	void	   *ptr = MemoryContextAllocZero(cxt, len);

	secret_register(cxt, ptr, len);
	return ptr;
}

/* A child context for one operation's secrets; delete it when done. */
static MemoryContext
secret_context(void)
{
	return AllocSetContextCreate(CurrentMemoryContext, "containers_vreg secrets",
								 ALLOCSET_SMALL_SIZES);
}

/* ---------------------------------------------------------------------
 * Reading the submitted jsonb
 * --------------------------------------------------------------------- */

/* Name the row in messages: "upstream 7 of group 1" (ids are not secret). */
#define ROW_FMT "upstream " INT64_FORMAT " of group " INT64_FORMAT

static bool
is_envelope_member(const char *key, int len)
{
	int			i;

	for (i = 0; i < (int) lengthof(vreg_env_members); i++)
		if ((int) strlen(vreg_env_members[i]) == len &&
			memcmp(vreg_env_members[i], key, len) == 0)
			return true;
	return false;
}

static void
refuse_not_object(const char *what)
{
	char		accepted[128];

	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid credentials for %s: not a JSON object", what),
			 errdetail("Accepted keys: %s (or null, {} or empty strings for none).",
					   vreg_cred_accepted_keys(accepted, sizeof(accepted)))));
}

/* Does the object carry any envelope member (then it is taken as an envelope)? */
static bool
jsonb_is_envelope(Jsonb *jb)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		found = false;

	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		return false;
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		if (tok == WJB_KEY && is_envelope_member(v.val.string.val, v.val.string.len))
			found = true;
	return found;
}

static const char *
numeric_text(JsonbValue *v, size_t *len)
{
	char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out,
														NumericGetDatum(v->val.numeric)));

	*len = strlen(s);
	return s;
}

/*
 * Decode a sealed-looking jsonb into env. Returns NULL, or what is wrong with
 * it (a fixed sentence, never its bytes).
 */
static const char *
envelope_problem(Jsonb *jb, VregEnvelope *env)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	VregEnvelopeFields f;
	const char *problem = NULL;
	int			member = -1;

	memset(&f, 0, sizeof(f));
	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		problem = "an envelope is a JSON object";
	else
	{
		it = JsonbIteratorInit(&jb->root);
		while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
		{
			if (tok == WJB_KEY)
			{
				int			i;

				member = -1;
				for (i = 0; i < (int) lengthof(vreg_env_members); i++)
					if ((int) strlen(vreg_env_members[i]) == v.val.string.len &&
						memcmp(vreg_env_members[i], v.val.string.val, v.val.string.len) == 0)
						member = i;
				if (member < 0 && problem == NULL)
					problem = "an envelope has only the members v, kid, nonce and ct";
			}
			else if (tok == WJB_VALUE && member >= 0)
			{
				bool		numeric = (member <= 1);

				if (numeric && v.type == jbvNumeric)
				{
					if (member == 0)
						f.v = numeric_text(&v, &f.vlen);
					else
						f.kid = numeric_text(&v, &f.kidlen);
				}
				else if (!numeric && v.type == jbvString)
				{
					if (member == 2)
					{
						f.nonce = v.val.string.val;
						f.noncelen = v.val.string.len;
					}
					else
					{
						f.ct = v.val.string.val;
						f.ctlen = v.val.string.len;
					}
				}
				else if (problem == NULL)
					problem = numeric ? "envelope members v and kid must be numbers"
						: "envelope members nonce and ct must be strings";
			}
		}
	}
	if (problem == NULL)
		problem = vreg_env_decode(&f, env);
	return problem;
}

/* Decode as envelope_problem(), refusing (22023) a malformed envelope; what names it. */
static void
decode_envelope(Jsonb *jb, VregEnvelope *env, const char *what)
{
	const char *problem = envelope_problem(jb, env);

	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed credentials envelope for %s: %s", what, problem),
				 errdetail("A JSON object with any of the members v, kid, nonce or ct is taken as a sealed envelope {\"v\": 1, \"kid\": <key id>, \"nonce\": \"<base64>\", \"ct\": \"<base64>\"}."),
				 errhint("Write plaintext credentials as {\"username\": \"...\", \"password\": \"...\"}; they are sealed on write.")));
}

/*
 * Validate plaintext credentials (22023 on any problem, never naming a
 * value). Returns true with *set filled when there are credentials, false for
 * none. The set points into jb.
 */
static bool
validate_plaintext(Jsonb *jb, VregCredSet *set, const char *what)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	VregCredItem *items;
	int			nitems = 0;
	int			key_index;
	VregCredStatus status;
	char		accepted[128];
	char		problem[256];

	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		refuse_not_object(what);
	items = palloc0(sizeof(VregCredItem) * (JB_ROOT_COUNT(jb) + 1));
	it = JsonbIteratorInit(&jb->root);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
		{
			items[nitems].key = v.val.string.val;
			items[nitems].keylen = v.val.string.len;
		}
		else if (tok == WJB_VALUE)
		{
			VregCredItem *item = &items[nitems++];

			item->is_string = (v.type == jbvString);
			if (item->is_string)
			{
				item->val = v.val.string.val;
				item->vallen = v.val.string.len;
				item->nchars = pg_mbstrlen_with_len(v.val.string.val, v.val.string.len);
			}
		}
	}
	status = vreg_cred_validate(items, nitems, set, &key_index);
	pfree(items);
	if (status == VREG_CRED_OK)
		return true;
	if (status == VREG_CRED_NONE)
		return false;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid credentials for %s: %s", what,
					vreg_cred_problem(status, key_index, set->present, problem, sizeof(problem))),
			 errdetail("Accepted keys: %s, both non-empty strings of at most %d characters, or none (null, {} or empty strings).",
					   vreg_cred_accepted_keys(accepted, sizeof(accepted)), VREG_CRED_MAX_CHARS)));
	return false;				/* keep compiler quiet */
}

/* ---------------------------------------------------------------------
 * Sealing and opening
 * --------------------------------------------------------------------- */

static size_t
row_ad(int64 group_id, int64 upstream_id, uint8 *ad)
{
	int64_t		ids[2] = {group_id, upstream_id};

	return vreg_env_ad(VREG_ENV_DOMAIN_UPSTREAM, ids, 2, ad, VREG_ENV_AD_MAX);
}

static size_t
secret_ad(uint8 *ad)
{
	int64_t		ids[1] = {1};

	return vreg_env_ad(VREG_ENV_DOMAIN_SECRET, ids, 1, ad, VREG_ENV_AD_MAX);
}

/* Seal pt and return the envelope as jsonb (allocated in CurrentMemoryContext). */
static Jsonb *
seal_to_jsonb(const uint8 *pt, size_t ptlen, const uint8 *ad, size_t adlen)
{
	VregEnvelope *env = palloc(sizeof(VregEnvelope));
	size_t		cap;
	char	   *text;

	vreg_keyring_seal(env, pt, ptlen, ad, adlen);
	cap = VREG_ENV_TEXT_MAX(env->ctlen);
	text = palloc(cap);
	if (vreg_env_format(env, text, cap) == 0)
		elog(ERROR, "envelope buffer too small");
	pfree(env);
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

/* Open an envelope into a wiped buffer in scxt; *result says whether it opened. */
static uint8 *
try_open(const VregEnvelope *env, const uint8 *ad, size_t adlen,
		 MemoryContext scxt, size_t *ptlen, VregOpenResult *result)
{
	uint8	   *pt = secret_alloc(scxt, env->ctlen);

	*result = vreg_keyring_open(env, pt, env->ctlen, ptlen, ad, adlen);
	return pt;
}

/* Why an envelope did not open, for messages (names the key id, never a key). */
static char *
open_failure(const VregEnvelope *env, VregOpenResult result)
{
	if (result == VREG_OPEN_NO_KEY)
		return psprintf("key %u is not in the keyring", env->kid);
	return psprintf("the envelope does not authenticate under key %u", env->kid);
}

/* What to do when the fingerprint secret does not open. */
#define SECRET_HINT \
	"If this database was restored from a server with another keyring, put that server's keys into the keyring file. If they are lost, containers_vreg.reset_credentials_secret() replaces the secret and clears the credentials that no key opens."

/*
 * Open an envelope into a wiped buffer in scxt; errors name the key id when
 * the key is missing (55000) and say "does not authenticate" when it does not
 * (22000). what names the row; hint replaces the default hint when not NULL.
 */
static uint8 *
open_envelope(const VregEnvelope *env, const uint8 *ad, size_t adlen,
			  MemoryContext scxt, size_t *ptlen, const char *what, const char *hint)
{
	VregOpenResult result;
	uint8	   *pt = try_open(env, ad, adlen, scxt, ptlen, &result);

	if (result == VREG_OPEN_NO_KEY)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot open %s: %s", what, open_failure(env, result)),
				 hint ? errhint("%s", hint) :
				 errhint("Put key %u back into the keyring file and reload the configuration; once rotate_credentials() returns 0 the key may be removed.",
						 env->kid)));
	if (result == VREG_OPEN_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("cannot open %s: %s", what, open_failure(env, result)),
				 errdetail("The envelope was altered, belongs to another row, or key %u in the keyring is not the key it was sealed with.",
						   env->kid),
				 hint ? errhint("%s", hint) : 0));
	return pt;
}

/* ---------------------------------------------------------------------
 * The fingerprint secret (containers_vreg.credentials_secret, one row)
 * --------------------------------------------------------------------- */

/* Read the sealed secret with the latest snapshot; NULL when there is none. */
static Jsonb *
fetch_secret_envelope(bool for_update)
{
	int			ret;
	bool		isnull;
	Datum		d;

	ret = SPI_execute_snapshot(SPI_prepare(for_update
										   ? "SELECT secret FROM containers_vreg.credentials_secret WHERE id = 1 FOR UPDATE"
										   : "SELECT secret FROM containers_vreg.credentials_secret WHERE id = 1",
										   0, NULL),
							   NULL, NULL, GetLatestSnapshot(), InvalidSnapshot,
							   false, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading the credentials secret failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		return NULL;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? NULL : DatumGetJsonbPCopy(d);
}

/*
 * The fingerprint secret into a wiped buffer in scxt. With create, the first
 * caller makes one (under an advisory lock, so concurrent first writers agree
 * on one secret, at any isolation level).
 */
static uint8 *
get_fp_secret(MemoryContext scxt, bool create)
{
	Jsonb	   *jb;
	uint8		ad[VREG_ENV_AD_MAX];
	size_t		adlen = secret_ad(ad);
	uint8	   *secret;
	size_t		len = 0;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	jb = fetch_secret_envelope(false);
	if (jb == NULL && create)
	{
		vreg_lock_group_key(1, VREG_LOCKCLASS_CREDENTIALS_SECRET);
		jb = fetch_secret_envelope(false);
		if (jb == NULL)
		{
			uint8	   *fresh = secret_alloc(scxt, VREG_FP_SECRET_BYTES);
			Oid			argtypes[1] = {JSONBOID};
			Datum		args[1];
			int			ret;

			randombytes_buf(fresh, VREG_FP_SECRET_BYTES);
			jb = seal_to_jsonb(fresh, VREG_FP_SECRET_BYTES, ad, adlen);
			args[0] = JsonbPGetDatum(jb);
			ret = SPI_execute_with_args("INSERT INTO containers_vreg.credentials_secret (id, secret) VALUES (1, $1)",
										1, argtypes, args, NULL, false, 0);
			if (ret != SPI_OK_INSERT)
				elog(ERROR, "storing the credentials secret failed: %s", SPI_result_code_string(ret));
			SPI_finish();
			return fresh;
		}
	}
	if (jb == NULL)
	{
		SPI_finish();
		return NULL;
	}
	{
		VregEnvelope *env = palloc(sizeof(VregEnvelope));

		decode_envelope(jb, env, "the credentials fingerprint secret");
		secret = open_envelope(env, ad, adlen, scxt, &len, "the credentials fingerprint secret",
							   SECRET_HINT);
		pfree(env);
	}
	if (len != VREG_FP_SECRET_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("the credentials fingerprint secret has the wrong length")));
	SPI_finish();
	return secret;
}

/* ---------------------------------------------------------------------
 * The trigger
 * --------------------------------------------------------------------- */

typedef struct UpstreamCols
{
	int			group_id;
	int			id;
	int			url;
	int			credentials;
	int			fingerprint;
} UpstreamCols;

static int
col(Relation rel, const char *name)
{
	int			attnum = SPI_fnumber(RelationGetDescr(rel), name);

	if (attnum <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist",
						name, RelationGetRelationName(rel))));
	return attnum;
}

static bool
col_changed(HeapTuple oldtup, HeapTuple newtup, TupleDesc td, int attnum)
{
	Form_pg_attribute att = TupleDescAttr(td, attnum - 1);
	bool		oldnull,
				newnull;
	Datum		o = heap_getattr(oldtup, attnum, td, &oldnull);
	Datum		n = heap_getattr(newtup, attnum, td, &newnull);

	if (oldnull || newnull)
		return oldnull != newnull;
	return !datum_image_eq(o, n, att->attbyval, att->attlen);
}

/* A new fingerprint: keyed BLAKE2b of the canonical plaintext under secret. */
static bytea *
fingerprint(const uint8 *pt, size_t ptlen, const uint8 *secret)
{
	bytea	   *fp = (bytea *) palloc(VARHDRSZ + VREG_FINGERPRINT_BYTES);

	SET_VARSIZE(fp, VARHDRSZ + VREG_FINGERPRINT_BYTES);
	crypto_generichash((unsigned char *) VARDATA(fp), VREG_FINGERPRINT_BYTES,
					   pt, ptlen, secret, VREG_FP_SECRET_BYTES);
	return fp;
}

PG_FUNCTION_INFO_V1(containers_vreg_upstreams_credentials);

/*
 * BEFORE INSERT OR UPDATE FOR EACH ROW on upstreams (and nowhere else: the
 * function is SECURITY DEFINER, so vreg_trigger_check refuses any other
 * relation before a secret is touched).
 *
 * credentials (new value):
 *	NULL, {} or empty strings  -> NULL, fingerprint '\x'
 *	plaintext                  -> validated, sealed under the sealing key and
 *								  bound to (group_id, id); fingerprint computed
 *	an envelope that was supplied (INSERT, COPY, restore, or an UPDATE that
 *	changes it)                -> checked for structure and stored as it is,
 *								  with the fingerprint that came with it
 * On UPDATE, a url change without newly supplied credentials clears them, and
 * the fingerprint cannot be changed on its own.
 *
 * Wiping: every buffer of this function that holds plaintext lives in scxt
 * and is wiped when scxt is deleted (here, or by the abort of the
 * transaction): the detoasted copy of the submitted jsonb (detoasting copies
 * a short-header, compressed or out-of-line value and returns the tuple's own
 * bytes otherwise; only a copy is ours to wipe), the canonical plaintext, an
 * opened envelope and the fingerprint secret. The submitted value itself
 * belongs to the executor's tuple, like the statement text.
 */
Datum
containers_vreg_upstreams_credentials(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = vreg_trigger_check(fcinfo, "upstreams_credentials");
	Relation	rel;
	TupleDesc	td;
	UpstreamCols c;
	HeapTuple	oldtup = NULL,
				newtup,
				result;
	bool		is_update;
	bool		isnull;
	Datum		creds;
	bool		creds_null;
	int64		group_id,
				upstream_id;
	char		what[128];
	Datum		newvals[2];
	bool		newnulls[2] = {false, false};
	int			cols[2];
	bytea	   *empty_fp;
	MemoryContext scxt;
	MemoryContext oldcxt;
	Jsonb	   *jb;

	rel = trigdata->tg_relation;
	td = RelationGetDescr(rel);
	c.group_id = col(rel, "group_id");
	c.id = col(rel, "id");
	c.url = col(rel, "url");
	c.credentials = col(rel, "credentials");
	c.fingerprint = col(rel, "credentials_fingerprint");
	cols[0] = c.credentials;
	cols[1] = c.fingerprint;

	is_update = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event);
	if (is_update)
	{
		oldtup = trigdata->tg_trigtuple;
		newtup = trigdata->tg_newtuple;
	}
	else
		newtup = trigdata->tg_trigtuple;

	creds = heap_getattr(newtup, c.credentials, td, &creds_null);
	{
		Datum		g = heap_getattr(newtup, c.group_id, td, &isnull);

		if (isnull)
			return PointerGetDatum(newtup);	/* NOT NULL reports it */
		group_id = DatumGetInt64(g);
		g = heap_getattr(newtup, c.id, td, &isnull);
		if (isnull)
			return PointerGetDatum(newtup);
		upstream_id = DatumGetInt64(g);
	}
	snprintf(what, sizeof(what), ROW_FMT, upstream_id, group_id);
	empty_fp = (bytea *) palloc(VARHDRSZ);
	SET_VARSIZE(empty_fp, VARHDRSZ);

	/* No credentials: NULL and an empty fingerprint. */
	newvals[0] = (Datum) 0;
	newnulls[0] = true;
	newvals[1] = PointerGetDatum(empty_fp);
	if (creds_null)
		return PointerGetDatum(heap_modify_tuple_by_cols(newtup, td, 2, cols, newvals, newnulls));

	scxt = secret_context();
	oldcxt = MemoryContextSwitchTo(scxt);
	jb = DatumGetJsonbP(creds);
	MemoryContextSwitchTo(oldcxt);
	if ((Pointer) jb != DatumGetPointer(creds))
		secret_register(scxt, jb, VARSIZE(jb));

	if (jsonb_is_envelope(jb))
	{
		bool		supplied = !is_update ||
			col_changed(oldtup, newtup, td, c.credentials);

		if (!supplied)
		{
			/* UPDATE that does not touch credentials. */
			if (col_changed(oldtup, newtup, td, c.url))
				result = heap_modify_tuple_by_cols(newtup, td, 2, cols, newvals, newnulls);
			else
			{
				if (col_changed(oldtup, newtup, td, c.id))
					ereport(ERROR,
							(errcode(ERRCODE_CHECK_VIOLATION),
							 errmsg("the id of upstream " INT64_FORMAT " of group " INT64_FORMAT " cannot change while it has credentials",
									DatumGetInt64(heap_getattr(oldtup, c.id, td, &isnull)), group_id),
							 errdetail("Sealed credentials are bound to the upstream's id."),
							 errhint("Supply the credentials again in the same statement, or set them to NULL.")));
				if (col_changed(oldtup, newtup, td, c.fingerprint))
					ereport(ERROR,
							(errcode(ERRCODE_GENERATED_ALWAYS),
							 errmsg("credentials_fingerprint of " ROW_FMT " cannot be changed on its own",
									upstream_id, group_id),
							 errdetail("The fingerprint is computed when credentials are written.")));
				result = newtup;
			}
		}
		else if (is_update)
		{
			/*
			 * An UPDATE that writes an envelope (rotation, recovery, or one
			 * copied by hand): it must open on this row, and the fingerprint
			 * is computed again from what it holds, so that uniqueness
			 * compares what is really stored.
			 */
			VregEnvelope *env = palloc(sizeof(VregEnvelope));
			uint8		ad[VREG_ENV_AD_MAX];
			size_t		adlen = row_ad(group_id, upstream_id, ad);
			size_t		ptlen = 0;
			uint8	   *pt;
			VregCredSet set;
			const char *problem;

			decode_envelope(jb, env, what);
			pt = open_envelope(env, ad, adlen, scxt, &ptlen, what, NULL);
			problem = vreg_cred_parse_canonical(pt, ptlen, &set);
			if (problem != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_DATA_EXCEPTION),
						 errmsg("credentials of %s opened but are not valid: %s",
								what, problem)));
			newvals[0] = creds;
			newnulls[0] = false;
			newvals[1] = PointerGetDatum(fingerprint(pt, ptlen, get_fp_secret(scxt, true)));
			pfree(env);
			result = heap_modify_tuple_by_cols(newtup, td, 2, cols, newvals, newnulls);
		}
		else
		{
			/* An envelope supplied as it is (restore, COPY). */
			VregEnvelope *env = palloc(sizeof(VregEnvelope));
			Datum		fp;

			decode_envelope(jb, env, what);
			pfree(env);
			fp = heap_getattr(newtup, c.fingerprint, td, &isnull);
			if (isnull || VARSIZE_ANY_EXHDR(DatumGetPointer(fp)) != VREG_FINGERPRINT_BYTES)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("sealed credentials for %s come without their credentials_fingerprint", what),
						 errdetail("A sealed envelope is stored as it is only together with the %d-byte fingerprint it was written with (as pg_dump writes them).",
								   VREG_FINGERPRINT_BYTES),
						 errhint("Write plaintext credentials as {\"username\": \"...\", \"password\": \"...\"}; they are sealed on write.")));
			result = newtup;
		}
	}
	else
	{
		VregCredSet set;

		if (!validate_plaintext(jb, &set, what))
			result = heap_modify_tuple_by_cols(newtup, td, 2, cols, newvals, newnulls);
		else
		{
			uint8	   *canon = secret_alloc(scxt, VREG_CRED_CANON_MAX);
			size_t		canonlen = vreg_cred_canonical(&set, canon, VREG_CRED_CANON_MAX);
			uint8		ad[VREG_ENV_AD_MAX];
			size_t		adlen = row_ad(group_id, upstream_id, ad);

			if (canonlen == 0)
				elog(ERROR, "canonical credentials buffer too small");
			newvals[1] = PointerGetDatum(fingerprint(canon, canonlen, get_fp_secret(scxt, true)));
			newvals[0] = JsonbPGetDatum(seal_to_jsonb(canon, canonlen, ad, adlen));
			newnulls[0] = false;
			result = heap_modify_tuple_by_cols(newtup, td, 2, cols, newvals, newnulls);
		}
	}
	MemoryContextDelete(scxt);	/* wipes the plaintext copies and the secret */
	return PointerGetDatum(result);
}

/* ---------------------------------------------------------------------
 * upstream_credentials(group_id, upstream_id)
 * --------------------------------------------------------------------- */

/* Order of jsonb object keys: shorter first, then bytewise (lengthCompareJsonbString). */
static int
jsonb_key_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return memcmp(a, b, alen);
}

/*
 * Build {"username": ..., "password": ...} from a parsed canonical form, in
 * one allocation of its exact size. (pushJsonbValue/JsonbValueToJsonb grow
 * their buffer with repalloc, which frees the smaller copies of the plaintext
 * without wiping them.) The bytes are PostgreSQL's jsonb format for an
 * object whose keys and values are all strings: the container header, 2n
 * JEntries (the keys in jsonb key order, then their values in the same
 * order), then the key bytes and the value bytes in that order; strings need
 * no padding, and every JB_OFFSET_STRIDE'th JEntry holds the end offset of
 * its data instead of its length. The result is the function's answer: the
 * caller owns it.
 */
static Jsonb *
set_to_jsonb(const VregCredSet *set)
{
	int			order[VREG_CRED_MAX_KEYS];
	int			n = 0;
	int			i,
				j,
				k;
	Size		datalen = 0;
	Size		total;
	Jsonb	   *jb;
	char	   *data;
	uint32		off = 0;

	for (i = 0; i < vreg_cred_nkeys; i++)
	{
		const char *name = vreg_cred_keys[i].name;

		if (!(set->present & (1u << i)))
			continue;
		/* insertion sort by jsonb key order */
		for (j = n; j > 0; j--)
		{
			const char *prev = vreg_cred_keys[order[j - 1]].name;

			if (jsonb_key_cmp(prev, strlen(prev), name, strlen(name)) < 0)
				break;
			order[j] = order[j - 1];
		}
		order[j] = i;
		n++;
		datalen += strlen(name) + set->len[i];
	}
	if (datalen > JENTRY_OFFLENMASK)
		elog(ERROR, "credentials too long for jsonb");
	total = offsetof(Jsonb, root) + offsetof(JsonbContainer, children) +
		2 * n * sizeof(JEntry) + datalen;
	jb = palloc(total);
	SET_VARSIZE(jb, total);
	jb->root.header = (uint32) n | JB_FOBJECT;
	data = (char *) &jb->root.children[2 * n];
	for (k = 0; k < 2 * n; k++)
	{
		int			key = order[k % n];
		const char *bytes = k < n ? vreg_cred_keys[key].name : set->val[key];
		size_t		len = k < n ? strlen(vreg_cred_keys[key].name) : set->len[key];

		memcpy(data + off, bytes, len);
		off += len;
		jb->root.children[k] = JENTRY_ISSTRING |
			((k % JB_OFFSET_STRIDE) == 0 ? (off | JENTRY_HAS_OFF) : (uint32) len);
	}
	return jb;
}

/* Open one upstream's envelope into plaintext canonical bytes in scxt. */
static uint8 *
open_upstream(Jsonb *jb, int64 group_id, int64 upstream_id, MemoryContext scxt,
			  size_t *ptlen)
{
	VregEnvelope *env = palloc(sizeof(VregEnvelope));
	uint8		ad[VREG_ENV_AD_MAX];
	size_t		adlen = row_ad(group_id, upstream_id, ad);
	char		what[128];
	uint8	   *pt;

	snprintf(what, sizeof(what), ROW_FMT, upstream_id, group_id);
	decode_envelope(jb, env, what);
	snprintf(what, sizeof(what), "credentials of " ROW_FMT, upstream_id, group_id);
	pt = open_envelope(env, ad, adlen, scxt, ptlen, what, NULL);
	pfree(env);
	return pt;
}

PG_FUNCTION_INFO_V1(containers_vreg_upstream_credentials);

Datum
containers_vreg_upstream_credentials(PG_FUNCTION_ARGS)
{
	int64		group_id = PG_GETARG_INT64(0);
	int64		upstream_id = PG_GETARG_INT64(1);
	Oid			argtypes[2] = {INT8OID, INT8OID};
	Datum		args[2];
	int			ret;
	bool		isnull;
	Datum		d;
	Jsonb	   *jb;
	Jsonb	   *result;
	MemoryContext callcxt = CurrentMemoryContext;
	MemoryContext scxt;
	uint8	   *pt;
	size_t		ptlen = 0;
	VregCredSet set;
	const char *problem;

	args[0] = Int64GetDatum(group_id);
	args[1] = Int64GetDatum(upstream_id);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	ret = SPI_execute_with_args("SELECT credentials FROM containers_vreg.upstreams WHERE group_id = $1 AND id = $2",
								2, argtypes, args, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading upstream credentials failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg(ROW_FMT " does not exist", upstream_id, group_id)));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
	{
		SPI_finish();
		PG_RETURN_NULL();
	}
	jb = DatumGetJsonbP(d);

	scxt = AllocSetContextCreate(callcxt, "containers_vreg secrets", ALLOCSET_SMALL_SIZES);
	pt = open_upstream(jb, group_id, upstream_id, scxt, &ptlen);
	problem = vreg_cred_parse_canonical(pt, ptlen, &set);
	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("credentials of " ROW_FMT " opened but are not valid: %s",
						upstream_id, group_id, problem)));
	{
		MemoryContext old = MemoryContextSwitchTo(callcxt);

		result = set_to_jsonb(&set);
		MemoryContextSwitchTo(old);
	}
	MemoryContextDelete(scxt);	/* wipes the plaintext */
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}

/* ---------------------------------------------------------------------
 * rotate_credentials(batch_size)
 * --------------------------------------------------------------------- */

/*
 * Open one upstream's envelope (a jsonb Datum) and seal its plaintext again
 * under the sealing key. Everything of the row (the plaintext, the envelope's
 * detoasted copy, the new envelope) is allocated in rowcxt: the caller resets
 * it after each row, which wipes the plaintext, so a batch never holds more
 * than one row's plaintext.
 */
static Jsonb *
reseal_upstream(Datum envelope, int64 group_id, int64 upstream_id, MemoryContext rowcxt)
{
	MemoryContext old = MemoryContextSwitchTo(rowcxt);
	uint8		ad[VREG_ENV_AD_MAX];
	size_t		adlen = row_ad(group_id, upstream_id, ad);
	size_t		ptlen = 0;
	uint8	   *pt = open_upstream(DatumGetJsonbP(envelope), group_id, upstream_id, rowcxt, &ptlen);
	Jsonb	   *sealed = seal_to_jsonb(pt, ptlen, ad, adlen);

	MemoryContextSwitchTo(old);
	return sealed;
}

PG_FUNCTION_INFO_V1(containers_vreg_rotate_credentials);

Datum
containers_vreg_rotate_credentials(PG_FUNCTION_ARGS)
{
	int32		batch_size;
	uint32		sealing_kid;
	int64		changed = 0;
	MemoryContext scxt;
	MemoryContext rowcxt;
	Jsonb	   *jb;
	uint64		i,
				n;
	int			ret;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("batch_size must not be null")));
	batch_size = PG_GETARG_INT32(0);
	if (batch_size < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be at least 1, not %d", batch_size)));

	sealing_kid = vreg_keyring_sealing_kid();
	scxt = secret_context();
	rowcxt = AllocSetContextCreate(scxt, "containers_vreg row secrets", ALLOCSET_SMALL_SIZES);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* The fingerprint secret first, so old keys can go as soon as we return 0. */
	jb = fetch_secret_envelope(true);
	if (jb != NULL)
	{
		VregEnvelope *env = palloc(sizeof(VregEnvelope));

		decode_envelope(jb, env, "the credentials fingerprint secret");
		if (env->kid != sealing_kid)
		{
			uint8		ad[VREG_ENV_AD_MAX];
			size_t		adlen = secret_ad(ad);
			size_t		len = 0;
			uint8	   *secret = open_envelope(env, ad, adlen, scxt, &len,
											   "the credentials fingerprint secret",
											   SECRET_HINT);
			Jsonb	   *sealed = seal_to_jsonb(secret, len, ad, adlen);
			Oid			argtypes[1] = {JSONBOID};
			Datum		args[1];

			args[0] = JsonbPGetDatum(sealed);
			ret = SPI_execute_with_args("UPDATE containers_vreg.credentials_secret SET secret = $1 WHERE id = 1",
										1, argtypes, args, NULL, false, 0);
			if (ret != SPI_OK_UPDATE)
				elog(ERROR, "re-sealing the credentials secret failed: %s", SPI_result_code_string(ret));
			changed++;
		}
		pfree(env);
	}

	if (changed < batch_size)
	{
		Oid			argtypes[2] = {INT4OID, INT8OID};
		Datum		args[2];
		SPITupleTable *tt;

		args[0] = Int32GetDatum((int32) sealing_kid);
		args[1] = Int64GetDatum(batch_size - changed);
		ret = SPI_execute_with_args("SELECT group_id, id, credentials FROM containers_vreg.upstreams"
									" WHERE credentials IS NOT NULL"
									" AND credentials->'kid' IS DISTINCT FROM pg_catalog.to_jsonb($1)"
									" ORDER BY group_id, id LIMIT $2 FOR UPDATE",
									2, argtypes, args, NULL, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "selecting credentials to rotate failed: %s", SPI_result_code_string(ret));
		tt = SPI_tuptable;
		n = SPI_processed;
		for (i = 0; i < n; i++)
		{
			bool		isnull;
			int64		group_id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull));
			int64		upstream_id = DatumGetInt64(SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull));
			Datum		row = SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull);
			Oid			uargtypes[3] = {INT8OID, INT8OID, JSONBOID};
			Datum		uargs[3];

			uargs[0] = Int64GetDatum(group_id);
			uargs[1] = Int64GetDatum(upstream_id);
			uargs[2] = JsonbPGetDatum(reseal_upstream(row, group_id, upstream_id, rowcxt));
			ret = SPI_execute_with_args("UPDATE containers_vreg.upstreams SET credentials = $3"
										" WHERE group_id = $1 AND id = $2",
										3, uargtypes, uargs, NULL, false, 0);
			if (ret != SPI_OK_UPDATE)
				elog(ERROR, "re-sealing credentials failed: %s", SPI_result_code_string(ret));
			MemoryContextReset(rowcxt); /* wipes this row's plaintext */
			changed++;
		}
	}
	SPI_finish();
	MemoryContextDelete(scxt);
	PG_RETURN_INT64(changed);
}

/* ---------------------------------------------------------------------
 * reset_credentials_secret(dry_run)
 * --------------------------------------------------------------------- */

/*
 * Run a read-only query with the latest snapshot, as the secret is read: a
 * real run reads after its table locks, so under REPEATABLE READ too it sees
 * every credential committed before it.
 */
static void
select_latest(const char *sql, int nargs, Oid *argtypes, Datum *args)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);
	int			ret;

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	ret = SPI_execute_snapshot(plan, args, NULL, GetLatestSnapshot(), InvalidSnapshot,
							   true, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading the credentials failed: %s", SPI_result_code_string(ret));
}

/* What happens to one upstream with credentials. */
typedef struct ResetRow
{
	int64		group_id;
	int64		upstream_id;
	int32		kid;			/* key id of its envelope, 0 when malformed */
	bool		opens;			/* opens: fingerprint recomputed; else cleared */
	char	   *why;			/* why it does not open, or "opens under key N" */
	bytea	   *fp;				/* fingerprint under the new secret, or '\x' */
	Jsonb	   *sealed;			/* re-sealed envelope (not in a dry run) */
	int64		conflict_with;	/* upstream it would collide with, or 0 */
} ResetRow;

/*
 * Look at one envelope with the current keyring and the new secret; nothing
 * is raised for an envelope that does not open. Plaintext only in rowcxt,
 * which the caller resets (and so wipes) after each row.
 */
static void
reset_examine(ResetRow *r, Datum envelope, const uint8 *secret, bool dry_run,
			  MemoryContext rowcxt)
{
	VregEnvelope *env = palloc(sizeof(VregEnvelope));
	const char *problem;

	problem = envelope_problem(DatumGetJsonbP(envelope), env);
	if (problem != NULL)
	{
		r->why = psprintf("malformed envelope: %s", problem);
		pfree(env);
		return;
	}
	r->kid = (int32) env->kid;
	{
		MemoryContext old = MemoryContextSwitchTo(rowcxt);
		uint8		ad[VREG_ENV_AD_MAX];
		size_t		adlen = row_ad(r->group_id, r->upstream_id, ad);
		size_t		ptlen = 0;
		VregOpenResult result;
		uint8	   *pt = try_open(env, ad, adlen, rowcxt, &ptlen, &result);
		VregCredSet set;

		MemoryContextSwitchTo(old);
		if (result != VREG_OPEN_OK)
			r->why = open_failure(env, result);
		else if ((problem = vreg_cred_parse_canonical(pt, ptlen, &set)) != NULL)
			r->why = psprintf("it opens but holds no valid credentials: %s", problem);
		else
		{
			r->opens = true;
			r->why = psprintf("it opens under key %u", env->kid);
			r->fp = fingerprint(pt, ptlen, secret);
			if (!dry_run)
				r->sealed = seal_to_jsonb(pt, ptlen, ad, adlen);
		}
	}
	pfree(env);
}

/*
 * Which upstreams would break UNIQUE (group_id, url, credentials_fingerprint)
 * with the fingerprints in rows (every other upstream keeps its own): sets
 * conflict_with and returns how many rows have one.
 */
static int
reset_find_conflicts(ResetRow *rows, int nrows)
{
	Datum	   *groups = palloc(sizeof(Datum) * (nrows + 1));
	Datum	   *ids = palloc(sizeof(Datum) * (nrows + 1));
	Datum	   *fps = palloc(sizeof(Datum) * (nrows + 1));
	Oid			argtypes[3] = {INT8ARRAYOID, INT8ARRAYOID, BYTEAARRAYOID};
	Datum		args[3];
	int			nconflicts = 0;
	uint64		i;
	int			j;

	for (j = 0; j < nrows; j++)
	{
		groups[j] = Int64GetDatum(rows[j].group_id);
		ids[j] = Int64GetDatum(rows[j].upstream_id);
		fps[j] = PointerGetDatum(rows[j].fp);
	}
	args[0] = PointerGetDatum(construct_array(groups, nrows, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[1] = PointerGetDatum(construct_array(ids, nrows, INT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	args[2] = PointerGetDatum(construct_array(fps, nrows, BYTEAOID, -1, false, TYPALIGN_INT));
	select_latest("WITH c AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3))"
				  "             AS c(group_id, id, fp)),"
				  " f AS (SELECT u.group_id, u.id, u.url, (c.id IS NOT NULL) AS changed,"
				  "              COALESCE(c.fp, u.credentials_fingerprint) AS fp"
				  "         FROM containers_vreg.upstreams u"
				  "         LEFT JOIN c ON c.group_id OPERATOR(pg_catalog.=) u.group_id"
				  "                    AND c.id OPERATOR(pg_catalog.=) u.id)"
				  " SELECT a.group_id, a.id, pg_catalog.min(b.id)"
				  "   FROM f a JOIN f b ON b.group_id OPERATOR(pg_catalog.=) a.group_id"
				  "    AND b.url OPERATOR(pg_catalog.=) a.url AND b.fp OPERATOR(pg_catalog.=) a.fp"
				  "    AND b.id OPERATOR(pg_catalog.<>) a.id"
				  "  WHERE a.changed GROUP BY 1, 2",
				  3, argtypes, args);
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		HeapTuple	tup = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		int64		g = DatumGetInt64(SPI_getbinval(tup, desc, 1, &isnull));
		int64		id = DatumGetInt64(SPI_getbinval(tup, desc, 2, &isnull));

		for (j = 0; j < nrows; j++)
			if (rows[j].group_id == g && rows[j].upstream_id == id)
			{
				rows[j].conflict_with = DatumGetInt64(SPI_getbinval(tup, desc, 3, &isnull));
				nconflicts++;
			}
	}
	return nconflicts;
}

/* Store the new secret and the examined rows (through the credentials trigger). */
static void
reset_apply(const uint8 *secret, ResetRow *rows, int nrows)
{
	uint8		ad[VREG_ENV_AD_MAX];
	size_t		adlen = secret_ad(ad);
	Oid			argtypes[3] = {JSONBOID, INT8OID, INT8OID};
	Datum		args[3];
	SPIPlanPtr	set_plan,
				clear_plan;
	int			ret;
	int			j;

	args[0] = JsonbPGetDatum(seal_to_jsonb(secret, VREG_FP_SECRET_BYTES, ad, adlen));
	ret = SPI_execute_with_args("INSERT INTO containers_vreg.credentials_secret AS s (id, secret) VALUES (1, $1)"
								" ON CONFLICT (id) DO UPDATE SET secret = EXCLUDED.secret, created_at = pg_catalog.now()",
								1, argtypes, args, NULL, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "storing the new credentials secret failed: %s", SPI_result_code_string(ret));

	/*
	 * A re-sealed envelope goes through the credentials trigger like any
	 * UPDATE: it must open on its row, and the trigger computes its
	 * fingerprint under the secret just stored, which must be the one
	 * computed here.
	 */
	set_plan = SPI_prepare("UPDATE containers_vreg.upstreams SET credentials = $1"
						   " WHERE group_id OPERATOR(pg_catalog.=) $2 AND id OPERATOR(pg_catalog.=) $3"
						   " RETURNING credentials_fingerprint", 3, argtypes);
	clear_plan = SPI_prepare("UPDATE containers_vreg.upstreams SET credentials = NULL"
							 " WHERE group_id OPERATOR(pg_catalog.=) $1 AND id OPERATOR(pg_catalog.=) $2"
							 " RETURNING credentials_fingerprint", 2, argtypes + 1);
	if (set_plan == NULL || clear_plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	for (j = 0; j < nrows; j++)
	{
		ResetRow   *r = &rows[j];
		bool		isnull;
		Datum		stored;

		args[0] = JsonbPGetDatum(r->sealed);
		args[1] = Int64GetDatum(r->group_id);
		args[2] = Int64GetDatum(r->upstream_id);
		if (r->opens)
			ret = SPI_execute_plan(set_plan, args, NULL, false, 0);
		else
			ret = SPI_execute_plan(clear_plan, args + 1, NULL, false, 0);
		if (ret != SPI_OK_UPDATE_RETURNING || SPI_processed != 1)
			elog(ERROR, "updating " ROW_FMT " failed: %s", r->upstream_id, r->group_id,
				 SPI_result_code_string(ret));
		stored = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull || !datum_image_eq(stored, PointerGetDatum(r->fp), false, -1))
			elog(ERROR, "the stored fingerprint of " ROW_FMT " is not the one computed",
				 r->upstream_id, r->group_id);
	}
}

PG_FUNCTION_INFO_V1(containers_vreg_reset_credentials_secret);

/*
 * reset_credentials_secret(dry_run boolean DEFAULT true) -> setof (group_id,
 * upstream_id, key_id, action, detail).
 *
 * The way out when the fingerprint secret does not open under the current
 * keyring (a restore on a server with other keys): every credential write
 * needs the secret, so none would work again. A fresh secret is sealed under
 * the sealing key; every upstream whose envelope opens gets its fingerprint
 * computed under it (and is re-sealed under the sealing key); the others are
 * cleared (credentials NULL, no fingerprint). When the new fingerprints
 * would make two upstreams of a group equal in url and credentials, a dry run
 * reports it and a real run fails (23505) without changing anything. A real
 * run holds SHARE ROW EXCLUSIVE locks on upstreams and credentials_secret, so
 * no credential is written meanwhile; it is one statement, so all or nothing.
 */
Datum
containers_vreg_reset_credentials_secret(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		dry_run;
	uint32		sealing_kid;
	MemoryContext scxt;
	MemoryContext rowcxt;
	uint8	   *secret;
	char	   *old_secret;
	Jsonb	   *jb;
	ResetRow   *rows;
	int			nrows;
	int			nconflicts;
	int			ret;
	int			j;
	bytea	   *empty_fp;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("dry_run must not be null")));
	dry_run = PG_GETARG_BOOL(0);
	InitMaterializedSRF(fcinfo, 0);

	sealing_kid = vreg_keyring_sealing_kid();
	scxt = secret_context();
	rowcxt = AllocSetContextCreate(scxt, "containers_vreg row secrets", ALLOCSET_SMALL_SIZES);
	secret = secret_alloc(scxt, VREG_FP_SECRET_BYTES);
	randombytes_buf(secret, VREG_FP_SECRET_BYTES);
	empty_fp = (bytea *) palloc(VARHDRSZ);
	SET_VARSIZE(empty_fp, VARHDRSZ);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!dry_run)
	{
		ret = SPI_execute("LOCK TABLE containers_vreg.upstreams, containers_vreg.credentials_secret"
						  " IN SHARE ROW EXCLUSIVE MODE", false, 0);
		if (ret != SPI_OK_UTILITY)
			elog(ERROR, "locking the credentials failed: %s", SPI_result_code_string(ret));
	}

	/* The old secret, for the report. */
	jb = fetch_secret_envelope(false);
	if (jb == NULL)
		old_secret = "there was none";
	else
	{
		VregEnvelope *env = palloc(sizeof(VregEnvelope));
		const char *problem = envelope_problem(jb, env);

		if (problem != NULL)
			old_secret = psprintf("malformed envelope: %s", problem);
		else
		{
			uint8		ad[VREG_ENV_AD_MAX];
			size_t		adlen = secret_ad(ad);
			size_t		len = 0;
			VregOpenResult result;

			(void) try_open(env, ad, adlen, rowcxt, &len, &result);
			old_secret = result == VREG_OPEN_OK ? psprintf("it opened under key %u", env->kid)
				: open_failure(env, result);
			MemoryContextReset(rowcxt); /* wipes the old secret */
		}
		pfree(env);
	}

	/* Every upstream with credentials. */
	select_latest("SELECT group_id, id, credentials FROM containers_vreg.upstreams"
				  " WHERE credentials IS NOT NULL ORDER BY group_id, id", 0, NULL, NULL);
	nrows = (int) SPI_processed;
	rows = palloc0(sizeof(ResetRow) * (nrows + 1));
	{
		SPITupleTable *tt = SPI_tuptable;

		for (j = 0; j < nrows; j++)
		{
			bool		isnull;
			ResetRow   *r = &rows[j];

			r->group_id = DatumGetInt64(SPI_getbinval(tt->vals[j], tt->tupdesc, 1, &isnull));
			r->upstream_id = DatumGetInt64(SPI_getbinval(tt->vals[j], tt->tupdesc, 2, &isnull));
			r->fp = empty_fp;
			reset_examine(r, SPI_getbinval(tt->vals[j], tt->tupdesc, 3, &isnull), secret, dry_run,
						  rowcxt);
			MemoryContextReset(rowcxt); /* wipes this row's plaintext */
		}
	}

	nconflicts = nrows > 0 ? reset_find_conflicts(rows, nrows) : 0;
	if (nconflicts > 0 && !dry_run)
	{
		for (j = 0; rows[j].conflict_with == 0; j++)
			;
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("upstream " INT64_FORMAT " of group " INT64_FORMAT " would have the same url and %s as upstream " INT64_FORMAT,
						rows[j].upstream_id, rows[j].group_id,
						rows[j].opens ? "credentials" : "no credentials", rows[j].conflict_with),
				 errdetail("%d upstreams would break the rule that no two upstreams of a group have the same url and the same credentials; nothing was changed.",
						   nconflicts),
				 errhint("List them with SELECT * FROM containers_vreg.reset_credentials_secret(true), delete one upstream of each pair or change its url, then run it again.")));
	}
	if (!dry_run)
		reset_apply(secret, rows, nrows);

	/* The report: the secret first, then one row per upstream. */
	{
		Datum		values[5];
		bool		nulls[5] = {true, true, false, false, false};

		values[2] = Int32GetDatum((int32) sealing_kid);
		values[3] = CStringGetTextDatum("replaced");
		values[4] = CStringGetTextDatum(psprintf("old secret: %s; the new one is sealed under key %u",
												 old_secret, sealing_kid));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		for (j = 0; j < nrows; j++)
		{
			ResetRow   *r = &rows[j];
			const char *action = r->conflict_with ? "conflict" : r->opens ? "recomputed" : "cleared";
			char	   *detail = r->why;

			if (r->conflict_with)
				detail = psprintf("%s; it would then have the same url and %s as upstream " INT64_FORMAT,
								  r->why, r->opens ? "credentials" : "no credentials",
								  r->conflict_with);
			values[0] = Int64GetDatum(r->group_id);
			values[1] = Int64GetDatum(r->upstream_id);
			values[2] = Int32GetDatum(r->kid);
			values[3] = CStringGetTextDatum(action);
			values[4] = CStringGetTextDatum(detail);
			nulls[0] = nulls[1] = false;
			nulls[2] = (r->kid == 0);
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	SPI_finish();
	MemoryContextDelete(scxt);	/* wipes the new secret */
	return (Datum) 0;
}
