/*
 * credentials.c
 *		Upstream credentials: validation of the plaintext jsonb, sealing in a
 *		BEFORE INSERT OR UPDATE trigger, the keyed uniqueness fingerprint,
 *		upstream_credentials() and rotate_credentials().
 *
 * What is stored in upstreams.credentials is NULL or an envelope (envelope.h)
 * sealed under the keyring's highest key, bound to (group_id, id, url) by the
 * associated data (format 2): credentials never open for a host they were not
 * given for. Envelopes of format 1, bound to (group_id, id) only, are what
 * 0.1.0 and 0.2.0 wrote: they still open, rotate_credentials() re-seals them
 * as format 2, and an UPDATE refuses them. credentials_fingerprint is a keyed BLAKE2b hash
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

/*
 * Whose envelope a message is about: an upstream's credentials, or the
 * fingerprint secret (is_secret). Every message names it in a whole
 * sentence of its own, never a value.
 */
typedef struct CredOwner
{
	bool		is_secret;
	int64		group_id;
	int64		upstream_id;
	const char *url;			/* the upstream's current URL (not terminated) */
	size_t		urllen;
} CredOwner;

static const CredOwner fp_secret_owner = {true, 0, 0, NULL, 0};

/* The fingerprint secret is sealed in format 1: it belongs to no URL. */
#define VREG_SECRET_ENV_VERSION VREG_ENV_V1

static CredOwner
upstream_owner(int64 group_id, int64 upstream_id, text *url)
{
	CredOwner	o = {false, group_id, upstream_id, VARDATA_ANY(url), VARSIZE_ANY_EXHDR(url)};

	return o;
}

/* Refuse (22023) a malformed envelope, as decoded by envelope_problem(). */
static void
decode_envelope(Jsonb *jb, VregEnvelope *env, const CredOwner *owner)
{
	const char *problem = envelope_problem(jb, env);

	if (problem == NULL && owner->is_secret && env->version != VREG_SECRET_ENV_VERSION)
		problem = "the secret is sealed in format 1 (v must be 1)";
	if (problem == NULL)
		return;
	if (owner->is_secret)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("malformed envelope of the credentials fingerprint secret: %s", problem),
				 errdetail("The secret is stored as a sealed envelope {\"v\": 1, \"kid\": <key id>, \"nonce\": \"<base64>\", \"ct\": \"<base64>\"}.")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("malformed credentials envelope for upstream %lld of group %lld: %s",
					(long long) owner->upstream_id, (long long) owner->group_id, problem),
			 errdetail("A JSON object with any of the members v, kid, nonce or ct is taken as a sealed envelope {\"v\": 2, \"kid\": <key id>, \"nonce\": \"<base64>\", \"ct\": \"<base64>\"}."),
			 errhint("Write plaintext credentials as {\"username\": \"...\", \"password\": \"...\"}; they are sealed on write.")));
}

/* The first item whose key is not in the key table (there is one). */
static const VregCredItem *
unknown_item(const VregCredItem *items, int nitems)
{
	int			n,
				k;

	for (n = 0; n < nitems; n++)
	{
		for (k = 0; k < vreg_cred_nkeys; k++)
			if (strlen(vreg_cred_keys[k].name) == items[n].keylen &&
				memcmp(vreg_cred_keys[k].name, items[n].key, items[n].keylen) == 0)
				break;
		if (k == vreg_cred_nkeys)
			return &items[n];
	}
	return &items[0];
}

/*
 * Refuse (22023) credentials that break the rules of cred_rules.c: the
 * message names the rule and the key (an unknown key by its name, clipped to
 * 64 bytes), never a value.
 */
static void
refuse_plaintext(int64 group_id, int64 upstream_id, VregCredStatus status, int key_index,
				 const VregCredSet *set, const VregCredItem *items, int nitems)
{
	char		accepted[128];
	char		problem[256];

	vreg_cred_accepted_keys(accepted, sizeof(accepted));
	if (status == VREG_CRED_UNKNOWN_KEY)
	{
		const VregCredItem *item = unknown_item(items, nitems);
		int			len = pg_mbcliplen(item->key, (int) item->keylen, 64);

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid credentials for upstream %lld of group %lld: unknown key \"%.*s\"",
						(long long) upstream_id, (long long) group_id, len, item->key),
				 errdetail("Accepted keys: %s, both non-empty strings of at most %d characters, or none (null, {} or empty strings).",
						   accepted, VREG_CRED_MAX_CHARS)));
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid credentials for upstream %lld of group %lld: %s",
					(long long) upstream_id, (long long) group_id,
					vreg_cred_problem(status, key_index, set->present, problem, sizeof(problem))),
			 errdetail("Accepted keys: %s, both non-empty strings of at most %d characters, or none (null, {} or empty strings).",
					   accepted, VREG_CRED_MAX_CHARS)));
}

/*
 * Validate plaintext credentials (22023 on any problem, never naming a
 * value). Returns true with *set filled when there are credentials, false for
 * none. The set points into jb.
 */
static bool
validate_plaintext(Jsonb *jb, VregCredSet *set, int64 group_id, int64 upstream_id)
{
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	VregCredItem *items;
	int			nitems = 0;
	int			key_index;
	VregCredStatus status;
	char		accepted[128];

	if (!JB_ROOT_IS_OBJECT(jb) || JB_ROOT_IS_SCALAR(jb))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid credentials for upstream %lld of group %lld: not a JSON object",
						(long long) upstream_id, (long long) group_id),
				 errdetail("Accepted keys: %s (or null, {} or empty strings for none).",
						   vreg_cred_accepted_keys(accepted, sizeof(accepted)))));
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
	if (status != VREG_CRED_OK && status != VREG_CRED_NONE)
		refuse_plaintext(group_id, upstream_id, status, key_index, set, items, nitems);
	pfree(items);
	return status == VREG_CRED_OK;
}

/* ---------------------------------------------------------------------
 * Sealing and opening
 * --------------------------------------------------------------------- */

/*
 * An upstream's associated data in the given format: format 1 binds
 * (group_id, id), format 2 (group_id, id, url). A URL too long to bind is
 * longer than the 255 characters the table allows (23514).
 */
static size_t
row_ad(const CredOwner *owner, int version, uint8 *ad)
{
	int64_t		ids[2] = {owner->group_id, owner->upstream_id};
	size_t		adlen;

	if (version == VREG_ENV_V1)
		return vreg_env_ad(VREG_ENV_DOMAIN_UPSTREAM, ids, 2, ad, VREG_ENV_AD_MAX);
	adlen = vreg_env_ad_upstream_v2(owner->group_id, owner->upstream_id,
									owner->url, owner->urllen, ad, VREG_ENV_AD_MAX);
	if (adlen == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("URL of upstream %lld of group %lld is longer than 255 characters",
						(long long) owner->upstream_id, (long long) owner->group_id)));
	return adlen;
}

static size_t
secret_ad(uint8 *ad)
{
	int64_t		ids[1] = {1};

	return vreg_env_ad(VREG_ENV_DOMAIN_SECRET, ids, 1, ad, VREG_ENV_AD_MAX);
}

/* The associated data binding an envelope of the given format to its owner. */
static size_t
owner_ad(const CredOwner *owner, int version, uint8 *ad)
{
	if (owner->is_secret)
		return version == VREG_SECRET_ENV_VERSION ? secret_ad(ad) : 0;
	return row_ad(owner, version, ad);
}

/*
 * Seal pt for owner (an upstream in format 2, the secret in format 1) and
 * return the envelope as jsonb (allocated in CurrentMemoryContext).
 */
static Jsonb *
seal_to_jsonb(const uint8 *pt, size_t ptlen, const CredOwner *owner)
{
	VregEnvelope *env = palloc(sizeof(VregEnvelope));
	uint8		ad[VREG_ENV_AD_MAX];
	int			version = owner->is_secret ? VREG_SECRET_ENV_VERSION : VREG_ENV_V2;
	size_t		adlen = owner_ad(owner, version, ad);
	size_t		cap;
	char	   *text;

	env->version = version;
	vreg_keyring_seal(env, pt, ptlen, ad, adlen);
	cap = VREG_ENV_TEXT_MAX(env->ctlen);
	text = palloc(cap);
	if (vreg_env_format(env, text, cap) == 0)
		elog(ERROR, "envelope buffer too small");
	pfree(env);
	return DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(text)));
}

/*
 * Open an envelope of owner (with the associated data of the envelope's
 * format) into a wiped buffer in scxt; *result says whether it opened.
 */
static uint8 *
try_open(const VregEnvelope *env, const CredOwner *owner,
		 MemoryContext scxt, size_t *ptlen, VregOpenResult *result)
{
	uint8		ad[VREG_ENV_AD_MAX];
	size_t		adlen = owner_ad(owner, env->version, ad);
	uint8	   *pt = secret_alloc(scxt, env->ctlen);

	*result = vreg_keyring_open(env, pt, env->ctlen, ptlen, ad, adlen);
	return pt;
}

/* Why an envelope did not open, for reset_credentials_secret()'s report. */
static char *
open_failure(const VregEnvelope *env, VregOpenResult result)
{
	if (result == VREG_OPEN_NO_KEY)
		return psprintf("key %u is not in the keyring", env->kid);
	return psprintf("the envelope does not authenticate under key %u", env->kid);
}

/* The fingerprint secret did not open: 55000 or 22000, with the way out. */
static void
refuse_secret(const VregEnvelope *env, VregOpenResult result)
{
	if (result == VREG_OPEN_NO_KEY)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot open the credentials fingerprint secret: key %u is not in the keyring",
						env->kid),
				 errhint("If this database was restored from a server with another keyring, put that server's keys into the keyring file. If they are lost, containers_vreg.reset_credentials_secret() replaces the secret and clears the credentials that no key opens.")));
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("cannot open the credentials fingerprint secret: the envelope does not authenticate under key %u",
					env->kid),
			 errdetail("The envelope was altered, belongs to another row, or key %u in the keyring is not the key it was sealed with.",
					   env->kid),
			 errhint("If this database was restored from a server with another keyring, put that server's keys into the keyring file. If they are lost, containers_vreg.reset_credentials_secret() replaces the secret and clears the credentials that no key opens.")));
}

/*
 * Open an envelope into a wiped buffer in scxt. Errors: the key is missing
 * (55000, naming the key id) or the envelope does not authenticate (22000).
 */
static uint8 *
open_envelope(const VregEnvelope *env, const CredOwner *owner, MemoryContext scxt,
			  size_t *ptlen)
{
	VregOpenResult result;
	uint8	   *pt = try_open(env, owner, scxt, ptlen, &result);

	if (result == VREG_OPEN_OK)
		return pt;
	if (owner->is_secret)
		refuse_secret(env, result);
	if (result == VREG_OPEN_NO_KEY)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot open the credentials of upstream %lld of group %lld: key %u is not in the keyring",
						(long long) owner->upstream_id, (long long) owner->group_id, env->kid),
				 errhint("Put key %u back into the keyring file and reload the configuration; once rotate_credentials() returns 0 the key may be removed.",
						 env->kid)));
	if (env->version == VREG_ENV_V2)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("cannot open the credentials of upstream %lld of group %lld: the envelope does not authenticate under key %u",
						(long long) owner->upstream_id, (long long) owner->group_id, env->kid),
				 errdetail("The envelope was altered, belongs to another row or to another URL, or key %u in the keyring is not the key it was sealed with.",
						   env->kid),
				 errhint("An envelope of format 2 is bound to the upstream's group, id and URL: it opens only on the row and the URL it was sealed for. Write the plaintext credentials again for this URL.")));
	ereport(ERROR,
			(errcode(ERRCODE_DATA_EXCEPTION),
			 errmsg("cannot open the credentials of upstream %lld of group %lld: the envelope does not authenticate under key %u",
					(long long) owner->upstream_id, (long long) owner->group_id, env->kid),
			 errdetail("The envelope was altered, belongs to another row, or key %u in the keyring is not the key it was sealed with.",
					   env->kid)));
	return NULL;				/* keep compiler quiet */
}

/*
 * Open a decoded upstream envelope (format 1 without, format 2 with the
 * owner's URL) into plaintext canonical bytes in scxt, and parse them into
 * *set (pointers into the plaintext). Errors as open_envelope(); 22000 when
 * what opens is no valid set of credentials.
 */
static uint8 *
open_decoded(const VregEnvelope *env, const CredOwner *owner, MemoryContext scxt,
			 size_t *ptlen, VregCredSet *set)
{
	uint8	   *pt = open_envelope(env, owner, scxt, ptlen);
	const char *problem = vreg_cred_parse_canonical(pt, *ptlen, set);

	if (problem != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_EXCEPTION),
				 errmsg("credentials of upstream %lld of group %lld opened but are not valid: %s",
						(long long) owner->upstream_id, (long long) owner->group_id, problem)));
	return pt;
}

/* Decode (22023 when malformed) and open an upstream's envelope, as open_decoded(). */
static uint8 *
open_upstream(Jsonb *jb, const CredOwner *owner, MemoryContext scxt,
			  size_t *ptlen, VregCredSet *set)
{
	VregEnvelope *env = palloc(sizeof(VregEnvelope));
	uint8	   *pt;

	decode_envelope(jb, env, owner);
	pt = open_decoded(env, owner, scxt, ptlen, set);
	pfree(env);
	return pt;
}

/* ---------------------------------------------------------------------
 * The fingerprint secret (containers_vreg.credentials_secret, one row)
 * --------------------------------------------------------------------- */

/* Read the sealed secret with the latest snapshot; NULL when there is none. */
static Jsonb *
fetch_secret_envelope(bool for_update)
{
	static VregPlan read_plan = {
		"SELECT secret FROM containers_vreg.credentials_secret WHERE id = 1", 0
	};
	static VregPlan lock_plan = {
		"SELECT secret FROM containers_vreg.credentials_secret WHERE id = 1 FOR UPDATE", 0
	};
	bool		isnull;
	Datum		d;

	if (vreg_spi_run(for_update ? &lock_plan : &read_plan, NULL, NULL, VREG_SPI_LATEST, 1)
		!= SPI_OK_SELECT)
		elog(ERROR, "reading the credentials secret returned no rows");
	if (SPI_processed == 0)
		return NULL;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? NULL : DatumGetJsonbPCopy(d);
}

/* Store a fresh fingerprint secret (wiped in scxt) and return it. */
static uint8 *
create_fp_secret(MemoryContext scxt)
{
	static VregPlan insert_plan = {
		"INSERT INTO containers_vreg.credentials_secret (id, secret) VALUES (1, $1)",
		1, {JSONBOID}
	};
	uint8	   *fresh = secret_alloc(scxt, VREG_FP_SECRET_BYTES);
	Datum		arg;

	randombytes_buf(fresh, VREG_FP_SECRET_BYTES);
	arg = JsonbPGetDatum(seal_to_jsonb(fresh, VREG_FP_SECRET_BYTES, &fp_secret_owner));
	if (vreg_spi_run(&insert_plan, &arg, NULL, VREG_SPI_WRITE, 0) != SPI_OK_INSERT)
		elog(ERROR, "storing the credentials secret inserted nothing");
	return fresh;
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
	uint8	   *secret = NULL;
	size_t		len = 0;

	vreg_spi_connect();
	jb = fetch_secret_envelope(false);
	if (jb == NULL && create)
	{
		vreg_lock_group_key(1, VREG_LOCKCLASS_CREDENTIALS_SECRET);
		jb = fetch_secret_envelope(false);
		if (jb == NULL)
			secret = create_fp_secret(scxt);
	}
	if (jb != NULL)
	{
		VregEnvelope *env = palloc(sizeof(VregEnvelope));

		decode_envelope(jb, env, &fp_secret_owner);
		secret = open_envelope(env, &fp_secret_owner, scxt, &len);
		pfree(env);
		if (len != VREG_FP_SECRET_BYTES)
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("the credentials fingerprint secret has the wrong length")));
	}
	SPI_finish();
	return secret;
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

/* The fingerprint of no credentials: empty. */
static bytea *
empty_fingerprint(void)
{
	bytea	   *fp = (bytea *) palloc(VARHDRSZ);

	SET_VARSIZE(fp, VARHDRSZ);
	return fp;
}

/* ---------------------------------------------------------------------
 * The trigger
 * --------------------------------------------------------------------- */

/* One firing of the trigger: the row, its columns and what it will store. */
typedef struct CredRow
{
	Relation	rel;
	TupleDesc	td;
	HeapTuple	oldtup;			/* NULL on INSERT */
	HeapTuple	newtup;
	int64		group_id;
	int64		upstream_id;
	text	   *url;			/* the new row's url */
	int			att_id;
	int			att_url;
	int			cols[2];		/* credentials, credentials_fingerprint */
	Datum		vals[2];		/* what they become */
	bool		nulls[2];
	MemoryContext scxt;			/* plaintext and secrets, wiped on delete */
} CredRow;

static bool
col_changed(const CredRow *r, int attnum)
{
	Form_pg_attribute att = TupleDescAttr(r->td, attnum - 1);
	bool		oldnull,
				newnull;
	Datum		o = heap_getattr(r->oldtup, attnum, r->td, &oldnull);
	Datum		n = heap_getattr(r->newtup, attnum, r->td, &newnull);

	if (oldnull || newnull)
		return oldnull != newnull;
	return !datum_image_eq(o, n, att->attbyval, att->attlen);
}

/* The row gets no credentials: NULL and an empty fingerprint. */
static void
store_none(CredRow *r)
{
	r->vals[0] = (Datum) 0;
	r->nulls[0] = true;
	r->vals[1] = PointerGetDatum(empty_fingerprint());
	r->nulls[1] = false;
}

/*
 * An UPDATE that leaves the credentials as they are: a new url clears them
 * (they must never be sent to a host they were not given for); a new id with
 * credentials, or a fingerprint changed on its own, is refused. Returns
 * whether the row is stored as given.
 */
static bool
keep_credentials(CredRow *r)
{
	bool		isnull;

	if (col_changed(r, r->att_url))
	{
		store_none(r);
		return false;
	}
	if (col_changed(r, r->att_id))
		ereport(ERROR,
				(errcode(ERRCODE_CHECK_VIOLATION),
				 errmsg("the id of upstream %lld of group %lld cannot change while it has credentials",
						(long long) DatumGetInt64(heap_getattr(r->oldtup, r->att_id, r->td, &isnull)),
						(long long) r->group_id),
				 errdetail("Sealed credentials are bound to the upstream's id."),
				 errhint("Supply the credentials again in the same statement, or set them to NULL.")));
	if (col_changed(r, r->cols[1]))
		ereport(ERROR,
				(errcode(ERRCODE_GENERATED_ALWAYS),
				 errmsg("credentials_fingerprint of upstream %lld of group %lld cannot be changed on its own",
						(long long) r->upstream_id, (long long) r->group_id),
				 errdetail("The fingerprint is computed when credentials are written.")));
	return true;
}

/*
 * An UPDATE that writes an envelope (rotation, recovery, or one copied by
 * hand): it must be of format 2 and open on this row with its new URL, and
 * the fingerprint is computed again from what it holds, so that uniqueness
 * compares what is really stored. An envelope of format 1 is bound to no
 * URL: accepted here, an old envelope written back after a url change would
 * send the credentials to the new host, so it is refused (22023).
 */
static void
reopen_envelope(CredRow *r, Jsonb *jb, Datum creds)
{
	CredOwner	owner = upstream_owner(r->group_id, r->upstream_id, r->url);
	VregEnvelope *env = palloc(sizeof(VregEnvelope));
	size_t		ptlen = 0;
	VregCredSet set;
	uint8	   *pt;

	decode_envelope(jb, env, &owner);
	if (env->version == VREG_ENV_V1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("credentials envelope of format 1 for upstream %lld of group %lld is not bound to its URL",
						(long long) r->upstream_id, (long long) r->group_id),
				 errdetail("An UPDATE accepts only an envelope of format 2, which is bound to the upstream's group, id and URL; format 1 binds only the group and id."),
				 errhint("Write the plaintext credentials instead; they are sealed on write, bound to the URL.")));
	pt = open_decoded(env, &owner, r->scxt, &ptlen, &set);
	pfree(env);

	r->vals[0] = creds;
	r->nulls[0] = false;
	r->vals[1] = PointerGetDatum(fingerprint(pt, ptlen, get_fp_secret(r->scxt, true)));
	r->nulls[1] = false;
}

/*
 * An envelope supplied as it is (INSERT, COPY, restore): checked for
 * structure and stored unchanged with the fingerprint that came with it.
 */
static void
accept_envelope(CredRow *r, Jsonb *jb)
{
	CredOwner	owner = upstream_owner(r->group_id, r->upstream_id, r->url);
	VregEnvelope *env = palloc(sizeof(VregEnvelope));
	bool		isnull;
	Datum		fp;

	decode_envelope(jb, env, &owner);
	pfree(env);
	fp = heap_getattr(r->newtup, r->cols[1], r->td, &isnull);
	if (isnull || VARSIZE_ANY_EXHDR(DatumGetPointer(fp)) != VREG_FINGERPRINT_BYTES)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sealed credentials for upstream %lld of group %lld come without their credentials_fingerprint",
						(long long) r->upstream_id, (long long) r->group_id),
				 errdetail("A sealed envelope is stored as it is only together with the %d-byte fingerprint it was written with (as pg_dump writes them).",
						   VREG_FINGERPRINT_BYTES),
				 errhint("Write plaintext credentials as {\"username\": \"...\", \"password\": \"...\"}; they are sealed on write.")));
}

/*
 * Plaintext: validated (none stores NULL), sealed under the sealing key in
 * format 2, bound to (group_id, id, url), fingerprinted under the secret.
 */
static void
seal_plaintext(CredRow *r, Jsonb *jb)
{
	CredOwner	owner = upstream_owner(r->group_id, r->upstream_id, r->url);
	VregCredSet set;
	uint8	   *canon;
	size_t		canonlen;

	if (!validate_plaintext(jb, &set, r->group_id, r->upstream_id))
	{
		store_none(r);
		return;
	}
	canon = secret_alloc(r->scxt, VREG_CRED_CANON_MAX);
	canonlen = vreg_cred_canonical(&set, canon, VREG_CRED_CANON_MAX);
	if (canonlen == 0)
		elog(ERROR, "canonical credentials buffer too small");
	r->vals[1] = PointerGetDatum(fingerprint(canon, canonlen, get_fp_secret(r->scxt, true)));
	r->nulls[1] = false;
	r->vals[0] = JsonbPGetDatum(seal_to_jsonb(canon, canonlen, &owner));
	r->nulls[0] = false;
}

/*
 * UNIQUE (group_id, url, credentials_fingerprint) would refuse the row:
 * refuse it first, with a detail that says "without credentials" where the
 * index's own would show the empty fingerprint as \x. (Two transactions that
 * insert the same pair at once still meet the index itself.)
 */
static void
refuse_duplicate(const CredRow *r, Datum url, Datum fp, bool with_credentials)
{
	static VregPlan find = {
		"SELECT id FROM containers_vreg.upstreams"
		" WHERE group_id = $1 AND url = $2 AND credentials_fingerprint = $3 AND id <> $4"
		" LIMIT 1",
		4, {INT8OID, TEXTOID, BYTEAOID, INT8OID}
	};
	Datum		args[4];
	int64		other;
	bool		isnull;

	args[0] = Int64GetDatum(r->group_id);
	args[1] = url;
	args[2] = fp;
	args[3] = r->oldtup ? heap_getattr(r->oldtup, r->att_id, r->td, &isnull)
		: Int64GetDatum(r->upstream_id);
	vreg_spi_connect();
	vreg_spi_run(&find, args, NULL, VREG_SPI_LATEST, 1);
	other = SPI_processed > 0 ? vreg_spi_int64(0, 1) : 0;
	SPI_finish();
	if (other == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("duplicate key value violates unique constraint \"%s\"",
					"upstreams_url_credentials_key"),
			 with_credentials ?
			 errdetail("Upstream %lld of group %lld already has this URL with the same credentials.",
					   (long long) other, (long long) r->group_id) :
			 errdetail("Upstream %lld of group %lld already has this URL without credentials.",
					   (long long) other, (long long) r->group_id),
			 errtableconstraint(r->rel, "upstreams_url_credentials_key")));
}

/* Check uniqueness when the row is new or its url or fingerprint changes. */
static void
check_unique(const CredRow *r, HeapTuple result)
{
	bool		isnull;
	Datum		url = heap_getattr(result, r->att_url, r->td, &isnull);
	Datum		fp;

	if (isnull)
		return;					/* NOT NULL reports it */
	fp = heap_getattr(result, r->cols[1], r->td, &isnull);
	if (isnull)
		return;
	if (r->oldtup != NULL)
	{
		bool		oldnull;
		Datum		oldurl = heap_getattr(r->oldtup, r->att_url, r->td, &oldnull);
		Datum		oldfp = heap_getattr(r->oldtup, r->cols[1], r->td, &oldnull);

		if (datum_image_eq(url, oldurl, false, -1) && !oldnull &&
			datum_image_eq(fp, oldfp, false, -1))
			return;
	}
	refuse_duplicate(r, url, fp, VARSIZE_ANY_EXHDR(DatumGetPointer(fp)) > 0);
}

PG_FUNCTION_INFO_V1(containers_vreg_upstreams_credentials);

/*
 * BEFORE INSERT OR UPDATE FOR EACH ROW on upstreams (and nowhere else: the
 * function is SECURITY DEFINER, so vreg_trigger_check refuses any other
 * relation before a secret is touched).
 *
 * credentials (new value):
 *	NULL, {} or empty strings  -> NULL, fingerprint '\x' (store_none)
 *	plaintext                  -> validated, sealed under the sealing key in
 *								  format 2, bound to (group_id, id, url);
 *								  fingerprint computed (seal_plaintext)
 *	an envelope that was supplied (INSERT, COPY, restore: accept_envelope; or
 *	an UPDATE that changes it: reopen_envelope, format 2 only, must open on
 *	the row and its new url)
 *							   -> checked and stored as it is
 * On UPDATE, a url change without newly supplied credentials clears them, and
 * the fingerprint cannot be changed on its own (keep_credentials).
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
	CredRow		r;
	HeapTuple	result;
	bool		isnull;
	Datum		creds;
	MemoryContext oldcxt;
	Jsonb	   *jb;

	memset(&r, 0, sizeof(r));
	r.rel = trigdata->tg_relation;
	r.td = RelationGetDescr(r.rel);
	r.att_id = vreg_attnum(r.rel, "id");
	r.att_url = vreg_attnum(r.rel, "url");
	r.cols[0] = vreg_attnum(r.rel, "credentials");
	r.cols[1] = vreg_attnum(r.rel, "credentials_fingerprint");
	if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
		r.oldtup = trigdata->tg_trigtuple;
	r.newtup = TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event) ? trigdata->tg_newtuple
		: trigdata->tg_trigtuple;

	r.group_id = DatumGetInt64(heap_getattr(r.newtup, vreg_attnum(r.rel, "group_id"), r.td, &isnull));
	if (isnull)
		return PointerGetDatum(r.newtup);	/* NOT NULL reports it */
	r.upstream_id = DatumGetInt64(heap_getattr(r.newtup, r.att_id, r.td, &isnull));
	if (isnull)
		return PointerGetDatum(r.newtup);
	r.url = (text *) heap_getattr(r.newtup, r.att_url, r.td, &isnull);
	if (isnull)
		return PointerGetDatum(r.newtup);	/* NOT NULL reports it */
	r.url = DatumGetTextPP(PointerGetDatum(r.url));

	creds = heap_getattr(r.newtup, r.cols[0], r.td, &isnull);
	if (isnull)
	{
		store_none(&r);
		result = heap_modify_tuple_by_cols(r.newtup, r.td, 2, r.cols, r.vals, r.nulls);
		check_unique(&r, result);
		return PointerGetDatum(result);
	}

	r.scxt = secret_context();
	oldcxt = MemoryContextSwitchTo(r.scxt);
	jb = DatumGetJsonbP(creds);
	MemoryContextSwitchTo(oldcxt);
	if ((Pointer) jb != DatumGetPointer(creds))
		secret_register(r.scxt, jb, VARSIZE(jb));

	result = NULL;
	if (!jsonb_is_envelope(jb))
		seal_plaintext(&r, jb);
	else if (r.oldtup != NULL && !col_changed(&r, r.cols[0]))
	{
		if (keep_credentials(&r))
			result = r.newtup;
	}
	else if (r.oldtup != NULL)
		reopen_envelope(&r, jb, creds);
	else
	{
		accept_envelope(&r, jb);
		result = r.newtup;
	}
	if (result == NULL)
		result = heap_modify_tuple_by_cols(r.newtup, r.td, 2, r.cols, r.vals, r.nulls);
	MemoryContextDelete(r.scxt);	/* wipes the plaintext copies and the secret */
	check_unique(&r, result);
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


PG_FUNCTION_INFO_V1(containers_vreg_upstream_credentials);

/*
 * upstream_credentials(group_id bigint, upstream_id bigint) -> jsonb: the
 * plaintext, or NULL when the upstream has none. STRICT.
 */
Datum
containers_vreg_upstream_credentials(PG_FUNCTION_ARGS)
{
	static VregPlan read_plan = {
		"SELECT credentials, url FROM containers_vreg.upstreams WHERE group_id = $1 AND id = $2",
		2, {INT8OID, INT8OID}
	};
	int64		group_id = PG_GETARG_INT64(0);
	int64		upstream_id = PG_GETARG_INT64(1);
	Datum		args[2];
	bool		isnull;
	Datum		d;
	Jsonb	   *result;
	MemoryContext callcxt = CurrentMemoryContext;
	MemoryContext scxt;
	MemoryContext old;
	size_t		ptlen = 0;
	VregCredSet set;
	CredOwner	owner;

	args[0] = Int64GetDatum(group_id);
	args[1] = Int64GetDatum(upstream_id);
	vreg_spi_connect();
	if (vreg_spi_run(&read_plan, args, NULL, VREG_SPI_READ, 1) != SPI_OK_SELECT)
		elog(ERROR, "reading the credentials of upstream %lld returned no rows",
			 (long long) upstream_id);
	if (SPI_processed == 0)
		vreg_upstream_not_found(group_id, upstream_id);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
	{
		SPI_finish();
		PG_RETURN_NULL();
	}

	owner = upstream_owner(group_id, upstream_id,
						   DatumGetTextPP(SPI_getbinval(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc, 2, &isnull)));
	scxt = AllocSetContextCreate(callcxt, "containers_vreg secrets", ALLOCSET_SMALL_SIZES);
	(void) open_upstream(DatumGetJsonbP(d), &owner, scxt, &ptlen, &set);
	old = MemoryContextSwitchTo(callcxt);
	result = set_to_jsonb(&set);
	MemoryContextSwitchTo(old);
	MemoryContextDelete(scxt);	/* wipes the plaintext */
	SPI_finish();
	PG_RETURN_JSONB_P(result);
}

/* ---------------------------------------------------------------------
 * rotate_credentials(batch_size)
 * --------------------------------------------------------------------- */

/*
 * Open one upstream's envelope (a jsonb Datum; format 1 or 2) and seal its
 * plaintext again under the sealing key in format 2, bound to the upstream's
 * current url. Everything of the row (the plaintext, the envelope's
 * detoasted copy, the new envelope) is allocated in rowcxt: the caller resets
 * it after each row, which wipes the plaintext, so a batch never holds more
 * than one row's plaintext.
 */
static Jsonb *
reseal_upstream(Datum envelope, int64 group_id, int64 upstream_id, Datum url,
				MemoryContext rowcxt)
{
	MemoryContext old = MemoryContextSwitchTo(rowcxt);
	CredOwner	owner = upstream_owner(group_id, upstream_id, DatumGetTextPP(url));
	size_t		ptlen = 0;
	VregCredSet set;
	uint8	   *pt = open_upstream(DatumGetJsonbP(envelope), &owner, rowcxt, &ptlen, &set);
	Jsonb	   *sealed = seal_to_jsonb(pt, ptlen, &owner);

	MemoryContextSwitchTo(old);
	return sealed;
}

/*
 * Re-seal the fingerprint secret under the sealing key when another key
 * sealed it (locking its row). Returns how many envelopes it changed (0, 1).
 */
static int64
rotate_secret(uint32 sealing_kid, MemoryContext scxt)
{
	static VregPlan update_plan = {
		"UPDATE containers_vreg.credentials_secret SET secret = $1 WHERE id = 1",
		1, {JSONBOID}
	};
	Jsonb	   *jb = fetch_secret_envelope(true);
	VregEnvelope *env;
	size_t		len = 0;
	uint8	   *secret;
	Datum		arg;

	if (jb == NULL)
		return 0;
	env = palloc(sizeof(VregEnvelope));
	decode_envelope(jb, env, &fp_secret_owner);
	if (env->kid == sealing_kid)
		return 0;
	secret = open_envelope(env, &fp_secret_owner, scxt, &len);
	arg = JsonbPGetDatum(seal_to_jsonb(secret, len, &fp_secret_owner));
	if (vreg_spi_run(&update_plan, &arg, NULL, VREG_SPI_WRITE, 0) != SPI_OK_UPDATE)
		elog(ERROR, "re-sealing the credentials secret updated nothing");
	return 1;
}

/*
 * Re-seal under the sealing key in format 2 at most limit upstream envelopes
 * sealed under another key or in format 1 (bound to no URL), in (group_id,
 * id) order, locking each row. Returns how many.
 */
static int64
rotate_upstreams(uint32 sealing_kid, int64 limit, MemoryContext rowcxt)
{
	static VregPlan select_plan = {
		"SELECT group_id, id, credentials, url FROM containers_vreg.upstreams"
		" WHERE credentials IS NOT NULL"
		" AND (credentials->'kid' IS DISTINCT FROM pg_catalog.to_jsonb($1)"
		"      OR credentials->'v' IS DISTINCT FROM '2'::pg_catalog.jsonb)"
		" ORDER BY group_id, id LIMIT $2 FOR UPDATE",
		2, {INT4OID, INT8OID}
	};
	static VregPlan update_plan = {
		"UPDATE containers_vreg.upstreams SET credentials = $3"
		" WHERE group_id = $1 AND id = $2",
		3, {INT8OID, INT8OID, JSONBOID}
	};
	Datum		args[2];
	SPITupleTable *tt;
	uint64		i,
				n;

	args[0] = Int32GetDatum((int32) sealing_kid);
	args[1] = Int64GetDatum(limit);
	if (vreg_spi_run(&select_plan, args, NULL, VREG_SPI_WRITE, 0) != SPI_OK_SELECT)
		elog(ERROR, "selecting the credentials to rotate returned no rows");
	tt = SPI_tuptable;
	n = SPI_processed;
	for (i = 0; i < n; i++)
	{
		bool		isnull;
		Datum		uargs[3];

		uargs[0] = SPI_getbinval(tt->vals[i], tt->tupdesc, 1, &isnull);
		uargs[1] = SPI_getbinval(tt->vals[i], tt->tupdesc, 2, &isnull);
		uargs[2] = JsonbPGetDatum(reseal_upstream(SPI_getbinval(tt->vals[i], tt->tupdesc, 3, &isnull),
												  DatumGetInt64(uargs[0]), DatumGetInt64(uargs[1]),
												  SPI_getbinval(tt->vals[i], tt->tupdesc, 4, &isnull),
												  rowcxt));
		if (vreg_spi_run(&update_plan, uargs, NULL, VREG_SPI_WRITE, 0) != SPI_OK_UPDATE)
			elog(ERROR, "re-sealing the credentials of upstream %lld updated nothing",
				 (long long) DatumGetInt64(uargs[1]));
		MemoryContextReset(rowcxt); /* wipes this row's plaintext */
	}
	return (int64) n;
}

PG_FUNCTION_INFO_V1(containers_vreg_rotate_credentials);

/* rotate_credentials(batch_size integer) -> bigint: envelopes re-sealed. */
Datum
containers_vreg_rotate_credentials(PG_FUNCTION_ARGS)
{
	int32		batch_size;
	uint32		sealing_kid;
	int64		changed;
	MemoryContext scxt;
	MemoryContext rowcxt;

	if (PG_ARGISNULL(0))
		vreg_refuse_null("batch_size");
	batch_size = PG_GETARG_INT32(0);
	if (batch_size < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("batch_size must be at least 1, not %d", batch_size)));

	sealing_kid = vreg_keyring_sealing_kid();
	scxt = secret_context();
	rowcxt = AllocSetContextCreate(scxt, "containers_vreg row secrets", ALLOCSET_SMALL_SIZES);
	vreg_spi_connect();
	/* The fingerprint secret first, so old keys can go as soon as we return 0. */
	changed = rotate_secret(sealing_kid, scxt);
	if (changed < batch_size)
		changed += rotate_upstreams(sealing_kid, batch_size - changed, rowcxt);
	SPI_finish();
	MemoryContextDelete(scxt);
	PG_RETURN_INT64(changed);
}

/* ---------------------------------------------------------------------
 * reset_credentials_secret(dry_run)
 * --------------------------------------------------------------------- */

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
	int64		conflict_with;	/* first upstream it would collide with, or 0 */
	int			nconflicts;		/* how many upstreams it would collide with */
	char	   *conflict_ids;	/* all of them, "3, 5" */
} ResetRow;

/*
 * Look at one envelope with the current keyring and the new secret; nothing
 * is raised for an envelope that does not open. Plaintext only in rowcxt,
 * which the caller resets (and so wipes) after each row.
 */
static void
reset_examine(ResetRow *r, Datum envelope, Datum url, const uint8 *secret, bool dry_run,
			  MemoryContext rowcxt)
{
	VregEnvelope *env = palloc(sizeof(VregEnvelope));
	CredOwner	owner = upstream_owner(r->group_id, r->upstream_id, DatumGetTextPP(url));
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
		size_t		ptlen = 0;
		VregOpenResult result;
		uint8	   *pt = try_open(env, &owner, rowcxt, &ptlen, &result);
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
				r->sealed = seal_to_jsonb(pt, ptlen, &owner);
		}
	}
	pfree(env);
}

/*
 * Every upstream with credentials, read with the latest snapshot (a real run
 * reads after its table locks, so under REPEATABLE READ too it sees every
 * credential committed before it), each examined by reset_examine().
 */
static ResetRow *
reset_read_rows(const uint8 *secret, bool dry_run, MemoryContext rowcxt, int *nrows)
{
	static VregPlan select_plan = {
		"SELECT group_id, id, credentials, url FROM containers_vreg.upstreams"
		" WHERE credentials IS NOT NULL ORDER BY group_id, id", 0
	};
	SPITupleTable *tt;
	ResetRow   *rows;
	bytea	   *empty_fp = empty_fingerprint();
	int			j;

	if (vreg_spi_run(&select_plan, NULL, NULL, VREG_SPI_LATEST, 0) != SPI_OK_SELECT)
		elog(ERROR, "reading the credentials returned no rows");
	tt = SPI_tuptable;
	*nrows = (int) SPI_processed;
	rows = palloc0(sizeof(ResetRow) * (*nrows + 1));
	for (j = 0; j < *nrows; j++)
	{
		bool		isnull;
		ResetRow   *r = &rows[j];

		r->group_id = DatumGetInt64(SPI_getbinval(tt->vals[j], tt->tupdesc, 1, &isnull));
		r->upstream_id = DatumGetInt64(SPI_getbinval(tt->vals[j], tt->tupdesc, 2, &isnull));
		r->fp = empty_fp;
		reset_examine(r, SPI_getbinval(tt->vals[j], tt->tupdesc, 3, &isnull),
					  SPI_getbinval(tt->vals[j], tt->tupdesc, 4, &isnull), secret, dry_run, rowcxt);
		MemoryContextReset(rowcxt); /* wipes this row's plaintext */
	}
	return rows;
}

/*
 * Which upstreams would break UNIQUE (group_id, url, credentials_fingerprint)
 * with the fingerprints in rows (a cleared one has the empty fingerprint of
 * no credentials; every upstream without credentials keeps its own, also
 * empty): for each row, every other upstream of its group it would collide
 * with, whether that one changes or not, so a dry run names every pair a
 * real run would refuse. Sets conflict_with, nconflicts and conflict_ids and
 * returns how many rows have a conflict.
 */
static int
reset_find_conflicts(ResetRow *rows, int nrows)
{
	static VregPlan conflicts_plan = {
		"WITH c AS (SELECT * FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3))"
		"             AS c(group_id, id, fp)),"
		" f AS (SELECT u.group_id, u.id, u.url, (c.id IS NOT NULL) AS changed,"
		"              COALESCE(c.fp, u.credentials_fingerprint) AS fp"
		"         FROM containers_vreg.upstreams u"
		"         LEFT JOIN c ON c.group_id OPERATOR(pg_catalog.=) u.group_id"
		"                    AND c.id OPERATOR(pg_catalog.=) u.id)"
		" SELECT a.group_id, a.id, pg_catalog.min(b.id), pg_catalog.count(*)::pg_catalog.int4,"
		"        pg_catalog.string_agg(b.id::pg_catalog.text, ', ' ORDER BY b.id)"
		"   FROM f a JOIN f b ON b.group_id OPERATOR(pg_catalog.=) a.group_id"
		"    AND b.url OPERATOR(pg_catalog.=) a.url AND b.fp OPERATOR(pg_catalog.=) a.fp"
		"    AND b.id OPERATOR(pg_catalog.<>) a.id"
		"  WHERE a.changed GROUP BY 1, 2",
		3, {INT8ARRAYOID, INT8ARRAYOID, BYTEAARRAYOID}
	};
	Datum	   *groups = palloc(sizeof(Datum) * (nrows + 1));
	Datum	   *ids = palloc(sizeof(Datum) * (nrows + 1));
	Datum	   *fps = palloc(sizeof(Datum) * (nrows + 1));
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
	if (vreg_spi_run(&conflicts_plan, args, NULL, VREG_SPI_LATEST, 0) != SPI_OK_SELECT)
		elog(ERROR, "looking for conflicting credentials returned no rows");
	for (i = 0; i < SPI_processed; i++)
	{
		int64		g = vreg_spi_int64(i, 1);
		int64		id = vreg_spi_int64(i, 2);

		for (j = 0; j < nrows; j++)
			if (rows[j].group_id == g && rows[j].upstream_id == id)
			{
				bool		isnull;

				rows[j].conflict_with = vreg_spi_int64(i, 3);
				rows[j].nconflicts = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[i],
																 SPI_tuptable->tupdesc, 4,
																 &isnull));
				rows[j].conflict_ids = SPI_getvalue(SPI_tuptable->vals[i],
													SPI_tuptable->tupdesc, 5);
				nconflicts++;
			}
	}
	return nconflicts;
}

/* A real run that would break uniqueness changes nothing (23505). */
static void
refuse_conflicts(const ResetRow *rows, int nconflicts)
{
	const ResetRow *r = rows;

	while (r->conflict_with == 0)
		r++;
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 r->opens ?
			 errmsg("upstream %lld of group %lld would have the same URL and the same credentials as upstream %lld",
					(long long) r->upstream_id, (long long) r->group_id,
					(long long) r->conflict_with) :
			 errmsg("upstream %lld of group %lld would have the same URL as upstream %lld, both without credentials",
					(long long) r->upstream_id, (long long) r->group_id,
					(long long) r->conflict_with),
			 errdetail("%d upstreams would break the rule that no two upstreams of a group have the same URL and the same credentials; nothing was changed.",
					   nconflicts),
			 errhint("List them with SELECT * FROM containers_vreg.reset_credentials_secret(true); of the upstreams that a conflict names, keep one per URL (delete the others or change their URL), then run it again.")));
}

/* Store the new secret and the examined rows (through the credentials trigger). */
static void
reset_apply(const uint8 *secret, ResetRow *rows, int nrows)
{
	static VregPlan secret_plan = {
		"INSERT INTO containers_vreg.credentials_secret AS s (id, secret) VALUES (1, $1)"
		" ON CONFLICT (id) DO UPDATE SET secret = EXCLUDED.secret, created_at = pg_catalog.now()",
		1, {JSONBOID}
	};

	/*
	 * A re-sealed envelope goes through the credentials trigger like any
	 * UPDATE: it must open on its row, and the trigger computes its
	 * fingerprint under the secret just stored, which must be the one
	 * computed here.
	 */
	static VregPlan set_plan = {
		"UPDATE containers_vreg.upstreams SET credentials = $1"
		" WHERE group_id OPERATOR(pg_catalog.=) $2 AND id OPERATOR(pg_catalog.=) $3"
		" RETURNING credentials_fingerprint",
		3, {JSONBOID, INT8OID, INT8OID}
	};
	static VregPlan clear_plan = {
		"UPDATE containers_vreg.upstreams SET credentials = NULL"
		" WHERE group_id OPERATOR(pg_catalog.=) $1 AND id OPERATOR(pg_catalog.=) $2"
		" RETURNING credentials_fingerprint",
		2, {INT8OID, INT8OID}
	};
	Datum		args[3];
	int			ret;
	int			j;

	args[0] = JsonbPGetDatum(seal_to_jsonb(secret, VREG_FP_SECRET_BYTES, &fp_secret_owner));
	if (vreg_spi_run(&secret_plan, args, NULL, VREG_SPI_WRITE, 0) != SPI_OK_INSERT)
		elog(ERROR, "storing the new credentials secret inserted nothing");
	for (j = 0; j < nrows; j++)
	{
		ResetRow   *r = &rows[j];
		bool		isnull;
		Datum		stored;

		args[0] = JsonbPGetDatum(r->sealed);
		args[1] = Int64GetDatum(r->group_id);
		args[2] = Int64GetDatum(r->upstream_id);
		ret = r->opens ? vreg_spi_run(&set_plan, args, NULL, VREG_SPI_WRITE, 0)
			: vreg_spi_run(&clear_plan, args + 1, NULL, VREG_SPI_WRITE, 0);
		if (ret != SPI_OK_UPDATE_RETURNING || SPI_processed != 1)
			elog(ERROR, "updating upstream %lld of group %lld did not update it",
				 (long long) r->upstream_id, (long long) r->group_id);
		stored = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull || !datum_image_eq(stored, PointerGetDatum(r->fp), false, -1))
			elog(ERROR, "the stored fingerprint of upstream %lld of group %lld is not the one computed",
				 (long long) r->upstream_id, (long long) r->group_id);
	}
}

/* What became of the old secret, for the report's first row. */
static char *
reset_old_secret(MemoryContext rowcxt)
{
	Jsonb	   *jb = fetch_secret_envelope(false);
	VregEnvelope *env;
	const char *problem;
	char	   *what;

	if (jb == NULL)
		return "there was none";
	env = palloc(sizeof(VregEnvelope));
	problem = envelope_problem(jb, env);
	if (problem != NULL)
		what = psprintf("malformed envelope: %s", problem);
	else
	{
		size_t		len = 0;
		VregOpenResult result;

		(void) try_open(env, &fp_secret_owner, rowcxt, &len, &result);
		what = result == VREG_OPEN_OK ? psprintf("it opened under key %u", env->kid)
			: open_failure(env, result);
		MemoryContextReset(rowcxt); /* wipes the old secret */
	}
	pfree(env);
	return what;
}

/* The report: the secret first, then one row per upstream. */
static void
reset_report(ReturnSetInfo *rsinfo, uint32 sealing_kid, const char *old_secret,
			 const ResetRow *rows, int nrows)
{
	Datum		values[5];
	bool		nulls[5] = {true, true, false, false, false};
	int			j;

	values[2] = Int32GetDatum((int32) sealing_kid);
	values[3] = CStringGetTextDatum("replaced");
	values[4] = CStringGetTextDatum(psprintf("old secret: %s; the new one is sealed under key %u",
											 old_secret, sealing_kid));
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	for (j = 0; j < nrows; j++)
	{
		const ResetRow *r = &rows[j];
		const char *action = r->conflict_with ? "conflict" : r->opens ? "recomputed" : "cleared";
		char	   *detail = r->why;

		if (r->conflict_with && r->opens)
			detail = psprintf(r->nconflicts == 1 ?
							  "%s; it would then have the same URL and the same credentials as upstream %s" :
							  "%s; it would then have the same URL and the same credentials as upstreams %s",
							  r->why, r->conflict_ids);
		else if (r->conflict_with)
			detail = psprintf(r->nconflicts == 1 ?
							  "%s; it would then have the same URL as upstream %s, both without credentials" :
							  "%s; it would then have the same URL as upstreams %s, all without credentials",
							  r->why, r->conflict_ids);
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
	static VregPlan lock_plan = {
		"LOCK TABLE containers_vreg.upstreams, containers_vreg.credentials_secret"
		" IN SHARE ROW EXCLUSIVE MODE", 0
	};
	bool		dry_run;
	uint32		sealing_kid;
	MemoryContext scxt;
	MemoryContext rowcxt;
	uint8	   *secret;
	char	   *old_secret;
	ResetRow   *rows;
	int			nrows;
	int			nconflicts;

	if (PG_ARGISNULL(0))
		vreg_refuse_null("dry_run");
	dry_run = PG_GETARG_BOOL(0);
	InitMaterializedSRF(fcinfo, 0);

	sealing_kid = vreg_keyring_sealing_kid();
	scxt = secret_context();
	rowcxt = AllocSetContextCreate(scxt, "containers_vreg row secrets", ALLOCSET_SMALL_SIZES);
	secret = secret_alloc(scxt, VREG_FP_SECRET_BYTES);
	randombytes_buf(secret, VREG_FP_SECRET_BYTES);

	vreg_spi_connect();
	if (!dry_run && vreg_spi_run(&lock_plan, NULL, NULL, VREG_SPI_WRITE, 0) != SPI_OK_UTILITY)
		elog(ERROR, "locking the credentials did not lock");
	old_secret = reset_old_secret(rowcxt);
	rows = reset_read_rows(secret, dry_run, rowcxt, &nrows);
	nconflicts = nrows > 0 ? reset_find_conflicts(rows, nrows) : 0;
	if (nconflicts > 0 && !dry_run)
		refuse_conflicts(rows, nconflicts);
	if (!dry_run)
		reset_apply(secret, rows, nrows);
	reset_report((ReturnSetInfo *) fcinfo->resultinfo, sealing_kid, old_secret, rows, nrows);
	SPI_finish();
	MemoryContextDelete(scxt);	/* wipes the new secret */
	return (Datum) 0;
}
