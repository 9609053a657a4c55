/*
 * resolve_scan.c
 *		resolve()'s lookup by direct index scans: no SPI, planner or executor.
 *
 * Like PostgreSQL's RI fast path, this opens the tables and indexes itself
 * and probes them with equality scan keys under the active snapshot (the
 * snapshot the planned query would have used):
 *
 *	 registry_upstreams_position_key
 *		(group_id, registry_id, position)		   links in position order
 *	 registries_pkey (group_id, id)				   the registry exists?
 *												   (only when it has no link)
 *	 cache_entries: the group's one partition (routing.c), and there the
 *	   child of cache_entries_live_path_upstream_key   tag manifests
 *	   (group_id, relative_path, upstream_id) WHERE status = 0
 *	   child of cache_entries_live_digest_upstream_idx digest paths
 *	   (group_id, digest, upstream_id) WHERE status = 0 AND digest IS NOT NULL
 *	 upstreams_pkey (group_id, id)				   url, cache_validity_hours
 *
 * One descent of the entry index with (group_id, path or digest) returns
 * the candidates of every upstream of the group, ordered by upstream_id;
 * the upstream_id in each index tuple decides, before the heap is read,
 * whether that entry could still win (is its upstream linked, at an earlier
 * position than the best candidate so far?), and the scan stops as soon as
 * no later tuple can win. Only a tag whose Docker Hub form differs (a
 * one-component name) may take a second descent, for that form.
 *
 * A visible link implies a visible registry: the foreign key from the
 * links to registries is not deferrable, checked at the end of every
 * statement, and cascades a registry's delete to its links in the same
 * statement. So the registry row is read only when the registry links no
 * upstream (a miss, or an unknown registry). The one place where a link
 * outlives its registry is inside the statement deleting it, between the
 * delete and the cascade: only a trigger on registries could call resolve()
 * there.
 *
 * A hit locks 7 relations (the planned query's generic plan locked all 16
 * partitions as well) and pays for no planning or executor startup.
 * Semantics are those of the planned query in request_path.c, which stays
 * as the fallback for shapes this file does not handle (a missing or
 * redefined index, a missing or sub-partitioned partition).
 *
 * An index is found by name, so it is trusted only after its definition
 * was checked against everything the scans rely on (index_mismatch()): a
 * valid, ready and live btree on exactly the expected key columns (no
 * expressions, no INCLUDE columns), each with its type's default operator
 * class, the column's own (deterministic) collation and ascending NULLS
 * LAST order; unique where the scans take the first row they find; and
 * exactly the expected predicate. cache_entries must be hash-partitioned on
 * group_id alone, so that routing a group finds every row of it. Anything
 * else, and an index too new for the transaction's snapshot (indcheckxmin,
 * as the planner checks), makes resolve() run the planned query; a DEBUG1
 * message says why.
 *
 * Cached per backend: the OIDs of the tables and indexes by name, their
 * attribute numbers and the result of the checks, and per partition the
 * child indexes, attribute numbers (a partition can order its columns
 * differently) and the result of their checks. A relcache invalidation
 * callback drops whatever an invalidated relation touches (a change of an
 * index invalidates it and its table). Everything a call allocates lives in
 * a scratch context reset per call.
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/relscan.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type.h"
#include "commands/defrem.h"
#include "executor/tuptable.h"
#include "nodes/primnodes.h"
#include "partitioning/partdefs.h"
#include "utils/partcache.h"
#include "utils/syscache.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "containers_vreg.h"
#include "vreg_common.h"
#include "vreg_limits.h"
#include "oci_path.h"
#include "resolve_scan.h"
#include "routing.h"

/*
 * PostgreSQL 18 added a fourth argument to index_beginscan(), an
 * IndexScanInstrumentation pointer (NULL: no instrumentation).
 */
#if PG_VERSION_NUM >= 180000
#define vreg_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), NULL, (nkeys), (norderbys))
#else
#define vreg_index_beginscan(heap, index, snapshot, nkeys, norderbys) \
	index_beginscan((heap), (index), (snapshot), (nkeys), (norderbys))
#endif

/* Tables and indexes by name, checked once per (re)build. */
typedef struct ResolveRels
{
	bool		valid;			/* OIDs looked up */
	bool		checked;		/* shapes verified, attnums set */
	bool		unusable;		/* shapes verified: the scans cannot answer */
	Oid			unusable_rel;	/* ... because of this relation */
	const char *unusable_why;	/* ... for this reason */
	TransactionId checkxmin[3]; /* per fixed index: usable once TransactionXmin
								 * is past it (InvalidTransactionId: now) */
	Oid			registries;
	Oid			registries_pkey;
	Oid			links;
	Oid			links_position_key;
	Oid			upstreams;
	Oid			upstreams_pkey;
	Oid			entries;
	Oid			entries_path_key;	/* partitioned index */
	Oid			entries_digest_idx; /* partitioned index */
	AttrNumber	link_upstream_id;
	AttrNumber	link_position;
	AttrNumber	upstream_url;
	AttrNumber	upstream_hours;
} ResolveRels;

/* cache_entries columns resolve reads, by name (with their types). */
typedef enum EntryCol
{
	E_ID,
	E_UPSTREAM_ID,
	E_RELATIVE_PATH,
	E_STATUS,
	E_CHECKED_AT,
	E_OBJECT_STORAGE_KEY,
	E_FILE,
	E_SIZE,
	E_CONTENT_TYPE,
	E_UPSTREAM_ETAG,
	E_DIGEST,
	E_NCOLS
} EntryCol;

typedef struct ColumnSpec
{
	const char *name;
	Oid			type;
} ColumnSpec;

static const ColumnSpec entry_cols[E_NCOLS] = {
	{"id", INT8OID},
	{"upstream_id", INT8OID},
	{"relative_path", TEXTOID},
	{"status", INT2OID},
	{"upstream_checked_at", TIMESTAMPTZOID},
	{"object_storage_key", TEXTOID},
	{"file", TEXTOID},
	{"size", INT8OID},
	{"content_type", TEXTOID},
	{"upstream_etag", TEXTOID},
	{"digest", TEXTOID},
};

/* The result columns 5..11 are these entry columns, in this order. */
static const EntryCol result_tail[] = {
	E_RELATIVE_PATH, E_OBJECT_STORAGE_KEY, E_FILE, E_SIZE, E_CONTENT_TYPE,
	E_UPSTREAM_ETAG, E_DIGEST
};

/* Per partition of cache_entries: its child indexes and attnums. */
typedef struct PartInfo
{
	Oid			part;			/* InvalidOid = empty slot */
	Oid			path_idx;
	Oid			digest_idx;
	Oid			path_collation; /* of the index's relative_path column */
	Oid			digest_collation;
	TransactionId path_checkxmin;	/* as ResolveRels.checkxmin */
	TransactionId digest_checkxmin;
	Oid			unusable_rel;	/* the scans cannot answer: this index ... */
	const char *unusable_why;	/* ... is unfit for this reason; NULL: usable */
	AttrNumber	att[E_NCOLS];
} PartInfo;

/* Direct-mapped by partition OID; a collision just rebuilds. */
#define PART_CACHE_SIZE 64

static ResolveRels rels;
static PartInfo part_cache[PART_CACHE_SIZE];
static uint64 inval_generation = 0;
static bool callback_registered = false;
static MemoryContext scratch_cxt = NULL;

/* The relations one call works with. */
typedef struct OpenRels
{
	Relation	registries;
	Relation	registries_pkey;
	Relation	links;
	Relation	links_position_key;
	Relation	upstreams;
	Relation	upstreams_pkey;
	Relation	entries;
} OpenRels;

static void
resolve_relcache_hook(Oid relid)
{
	int			i;

	if (!OidIsValid(relid))
	{
		rels.valid = rels.checked = rels.unusable = false;
		for (i = 0; i < PART_CACHE_SIZE; i++)
			part_cache[i].part = InvalidOid;
		inval_generation++;
		return;
	}
	if (relid == rels.registries || relid == rels.registries_pkey ||
		relid == rels.links || relid == rels.links_position_key ||
		relid == rels.upstreams || relid == rels.upstreams_pkey ||
		relid == rels.entries || relid == rels.entries_path_key ||
		relid == rels.entries_digest_idx)
	{
		rels.valid = rels.checked = rels.unusable = false;
		/* partition entries name the parent indexes: drop them too */
		for (i = 0; i < PART_CACHE_SIZE; i++)
			part_cache[i].part = InvalidOid;
		inval_generation++;
		return;
	}
	for (i = 0; i < PART_CACHE_SIZE; i++)
	{
		PartInfo   *pi = &part_cache[i];

		if (OidIsValid(pi->part) &&
			(relid == pi->part || relid == pi->path_idx || relid == pi->digest_idx))
			pi->part = InvalidOid;
	}
}

/* Look the tables and indexes up (vreg_relid's cache); false when one is missing. */
static bool
rels_lookup(void)
{
	rels.valid = rels.checked = rels.unusable = false;
	rels.registries = vreg_relid("registries", true);
	rels.registries_pkey = vreg_relid("registries_pkey", true);
	rels.links = vreg_relid("registry_upstreams", true);
	rels.links_position_key = vreg_relid("registry_upstreams_position_key", true);
	rels.upstreams = vreg_relid("upstreams", true);
	rels.upstreams_pkey = vreg_relid("upstreams_pkey", true);
	rels.entries = vreg_relid("cache_entries", true);
	rels.entries_path_key = vreg_relid("cache_entries_live_path_upstream_key", true);
	rels.entries_digest_idx = vreg_relid("cache_entries_live_digest_upstream_idx", true);
	rels.valid = OidIsValid(rels.registries) && OidIsValid(rels.registries_pkey) &&
		OidIsValid(rels.links) && OidIsValid(rels.links_position_key) &&
		OidIsValid(rels.upstreams) && OidIsValid(rels.upstreams_pkey) &&
		OidIsValid(rels.entries) && OidIsValid(rels.entries_path_key) &&
		OidIsValid(rels.entries_digest_idx);
	return rels.valid;
}

/* Attribute number of a live column of this name and type, or 0. */
static AttrNumber
column_attnum(Relation rel, const char *name, Oid type)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return att->atttypid == type ? att->attnum : InvalidAttrNumber;
	}
	return InvalidAttrNumber;
}

/* The predicate an index must have. */
typedef enum IndexPredicate
{
	PRED_NONE,					/* none */
	PRED_LIVE,					/* status = 0 */
	PRED_LIVE_DIGEST			/* status = 0 AND digest IS NOT NULL */
} IndexPredicate;

/* What the scans rely on in one index. */
typedef struct IndexSpec
{
	const ColumnSpec *cols;		/* exactly these key columns, in order */
	int			ncols;
	bool		unique;			/* the scans take the first row they find */
	IndexPredicate predicate;
} IndexSpec;

/* node is column attno of the indexed table (a Var of the predicate). */
static bool
is_column(Node *node, AttrNumber attno)
{
	return node != NULL && IsA(node, Var) &&
		((Var *) node)->varattno == attno && ((Var *) node)->varlevelsup == 0;
}

/* node is "status = 0", either way round, 0 of type smallint, integer or bigint. */
static bool
is_status_live(Node *node, AttrNumber status)
{
	OpExpr	   *op;
	Node	   *col,
			   *other;
	Const	   *c;

	if (node == NULL || !IsA(node, OpExpr) || list_length(((OpExpr *) node)->args) != 2)
		return false;
	op = (OpExpr *) node;
	col = linitial(op->args);
	other = lsecond(op->args);
	if (!is_column(col, status))
	{
		col = other;
		other = linitial(op->args);
	}
	if (!is_column(col, status) || !IsA(other, Const) || ((Const *) other)->constisnull)
		return false;
	c = (Const *) other;
	switch (op->opfuncid)
	{
		case F_INT2EQ:
			return c->consttype == INT2OID && DatumGetInt16(c->constvalue) == 0;
		case F_INT24EQ:
		case F_INT42EQ:
			return c->consttype == INT4OID && DatumGetInt32(c->constvalue) == 0;
		case F_INT28EQ:
		case F_INT82EQ:
			return c->consttype == INT8OID && DatumGetInt64(c->constvalue) == 0;
		default:
			return false;
	}
}

/* node is "digest IS NOT NULL". */
static bool
is_not_null(Node *node, AttrNumber digest)
{
	NullTest   *nt = (NullTest *) node;

	return node != NULL && IsA(node, NullTest) && nt->nulltesttype == IS_NOT_NULL &&
		!nt->argisrow && is_column((Node *) nt->arg, digest);
}

/* The index's predicate is exactly the expected one (terms in any order). */
static bool
predicate_matches(Relation idx, Relation heap, IndexPredicate expected)
{
	AttrNumber	status = column_attnum(heap, "status", INT2OID);
	AttrNumber	digest = column_attnum(heap, "digest", TEXTOID);
	bool		seen_status = false,
				seen_digest = false;
	List	   *pred;
	ListCell   *lc;

	if (expected == PRED_NONE)
		return heap_attisnull(idx->rd_indextuple, Anum_pg_index_indpred, NULL);
	if (status == InvalidAttrNumber || digest == InvalidAttrNumber)
		return false;
	pred = RelationGetIndexPredicate(idx);	/* implicitly ANDed terms */
	foreach(lc, pred)
	{
		Node	   *term = lfirst(lc);

		if (!seen_status && is_status_live(term, status))
			seen_status = true;
		else if (expected == PRED_LIVE_DIGEST && !seen_digest && is_not_null(term, digest))
			seen_digest = true;
		else
			return false;
	}
	return seen_status && (expected == PRED_LIVE || seen_digest);
}

/*
 * Why idx cannot serve the scans exactly as the planned query's index would,
 * or NULL when it can: see the file header for the rules.
 */
static const char *
index_mismatch(Relation idx, Relation heap, const IndexSpec *spec)
{
	Form_pg_index ix = idx->rd_index;
	TupleDesc	hdesc = RelationGetDescr(heap);
	Datum		d;
	bool		isnull;
	oidvector  *indclass;
	int			i;

	if (idx->rd_rel->relam != BTREE_AM_OID)
		return "is not a btree index";
	if (!ix->indisvalid || !ix->indisready || !ix->indislive)
		return "is not valid, ready and live";
	if (ix->indrelid != RelationGetRelid(heap))
		return "is not an index of the expected table";
	if (ix->indnatts != spec->ncols || ix->indnkeyatts != spec->ncols)
		return "does not have exactly the expected columns";
	if (!heap_attisnull(idx->rd_indextuple, Anum_pg_index_indexprs, NULL))
		return "has an expression column";
	if (spec->unique && !ix->indisunique)
		return "is not unique";
	d = SysCacheGetAttr(INDEXRELID, idx->rd_indextuple, Anum_pg_index_indclass, &isnull);
	if (isnull)
		return "has no operator classes";
	indclass = (oidvector *) DatumGetPointer(d);
	for (i = 0; i < spec->ncols; i++)
	{
		AttrNumber	att = column_attnum(heap, spec->cols[i].name, spec->cols[i].type);
		Oid			collation;

		if (att == InvalidAttrNumber || ix->indkey.values[i] != att)
			return "does not have exactly the expected columns";
		if (indclass->values[i] != GetDefaultOpClass(spec->cols[i].type, BTREE_AM_OID))
			return "has a column with an operator class other than the default one";
		collation = TupleDescAttr(hdesc, att - 1)->attcollation;
		if (idx->rd_indcollation[i] != collation)
			return "has a column with a collation other than the column's";
		if (OidIsValid(collation) && !get_collation_isdeterministic(collation))
			return "has a column with a nondeterministic collation";
		if (idx->rd_indoption[i] != 0)
			return "has a column in descending order or with NULLS FIRST";
	}
	if (!predicate_matches(idx, heap, spec->predicate))
		return "does not have the expected predicate";
	return NULL;
}

/*
 * An index built over broken HOT chains (indcheckxmin) can be used only by
 * snapshots that do not see those chains, i.e. once TransactionXmin is past
 * the xmin of its pg_index row, as the planner checks. The xmin to wait for,
 * or InvalidTransactionId.
 */
static TransactionId
index_checkxmin(Relation idx)
{
	if (!idx->rd_index->indcheckxmin)
		return InvalidTransactionId;
	return HeapTupleHeaderGetXmin(idx->rd_indextuple->t_data);
}

static bool
checkxmin_passed(TransactionId xmin)
{
	return !TransactionIdIsValid(xmin) || TransactionIdPrecedes(xmin, TransactionXmin);
}

/* Say, at DEBUG1, why resolve() answers with its planned query. */
static void
report_fallback(Oid relid, const char *why)
{
	if (OidIsValid(relid))
		ereport(DEBUG1,
				(errmsg_internal("resolve() uses its planned query: \"%s\" %s",
								 get_rel_name(relid), why)));
	else
		ereport(DEBUG1,
				(errmsg_internal("resolve() uses its planned query: %s", why)));
}

/* Mark the fixed relations unusable for the scans (until invalidated). */
static bool
rels_unusable(Oid relid, const char *why)
{
	rels.unusable = true;
	rels.unusable_rel = relid;
	rels.unusable_why = why;
	return false;
}

static bool
rels_check(OpenRels *o)
{
	static const ColumnSpec registry_key[] = {{"group_id", INT8OID}, {"id", INT8OID}};
	static const ColumnSpec link_key[] = {{"group_id", INT8OID}, {"registry_id", INT8OID},
	{"position", INT2OID}};
	static const ColumnSpec upstream_key[] = {{"group_id", INT8OID}, {"id", INT8OID}};
	static const IndexSpec registry_spec = {registry_key, 2, false, PRED_NONE};
	static const IndexSpec link_spec = {link_key, 3, true, PRED_NONE};
	static const IndexSpec upstream_spec = {upstream_key, 2, true, PRED_NONE};
	Relation	idx[3] = {o->registries_pkey, o->links_position_key, o->upstreams_pkey};
	Relation	heap[3] = {o->registries, o->links, o->upstreams};
	const IndexSpec *spec[3] = {&registry_spec, &link_spec, &upstream_spec};
	PartitionKey key;
	const char *why;
	int			i;

	for (i = 0; i < 3; i++)
	{
		if ((why = index_mismatch(idx[i], heap[i], spec[i])) != NULL)
			return rels_unusable(RelationGetRelid(idx[i]), why);
		rels.checkxmin[i] = index_checkxmin(idx[i]);
	}

	/* routing a group must find all of its rows */
	key = RelationGetPartitionKey(o->entries);
	if (key == NULL || key->strategy != PARTITION_STRATEGY_HASH || key->partnatts != 1 ||
		key->partattrs[0] == 0 ||
		key->partattrs[0] != column_attnum(o->entries, "group_id", INT8OID))
		return rels_unusable(rels.entries, "is not hash-partitioned on group_id alone");
	if (get_rel_relkind(rels.entries_path_key) != RELKIND_PARTITIONED_INDEX)
		return rels_unusable(rels.entries_path_key, "is not a partitioned index");
	if (get_rel_relkind(rels.entries_digest_idx) != RELKIND_PARTITIONED_INDEX)
		return rels_unusable(rels.entries_digest_idx, "is not a partitioned index");

	rels.link_upstream_id = column_attnum(o->links, "upstream_id", INT8OID);
	rels.link_position = column_attnum(o->links, "position", INT2OID);
	rels.upstream_url = column_attnum(o->upstreams, "url", TEXTOID);
	rels.upstream_hours = column_attnum(o->upstreams, "cache_validity_hours", INT2OID);
	if (rels.link_upstream_id == InvalidAttrNumber || rels.link_position == InvalidAttrNumber)
		return rels_unusable(rels.links, "lacks a column the scans read");
	if (rels.upstream_url == InvalidAttrNumber || rels.upstream_hours == InvalidAttrNumber)
		return rels_unusable(rels.upstreams, "lacks a column the scans read");
	rels.checked = true;
	return true;
}

/* Open and lock a relation of this kind, or NULL (gone, or another kind). */
static Relation
open_kind(Oid relid, char relkind)
{
	Relation	rel = try_relation_open(relid, AccessShareLock);

	if (rel != NULL && rel->rd_rel->relkind != relkind)
	{
		relation_close(rel, NoLock);
		rel = NULL;
	}
	return rel;
}

/* Locks stay until the end of the transaction, as for any query. */
static void
close_rels(OpenRels *o)
{
	Relation   *all[] = {&o->registries, &o->registries_pkey, &o->links,
		&o->links_position_key, &o->upstreams, &o->upstreams_pkey, &o->entries};
	int			i;

	for (i = 0; i < (int) lengthof(all); i++)
	{
		if (*all[i] != NULL)
			relation_close(*all[i], NoLock);
		*all[i] = NULL;
	}
}

/*
 * Open the fixed relations. Locking can process invalidations that change
 * the cached OIDs under us: then close, look the names up again and retry
 * once (the second round takes no new lock, so it sees no new message,
 * unless it opens registries for the shape check). registries and its
 * primary key are opened here only for that check; registry_exists() opens
 * them when a call needs them.
 */
static bool
open_rels(OpenRels *o)
{
	int			attempt;

	memset(o, 0, sizeof(*o));
	for (attempt = 0; attempt < 2; attempt++)
	{
		uint64		generation;

		if (!rels.valid && !rels_lookup())
		{
			report_fallback(InvalidOid, "a table or index the scans use is missing");
			return false;
		}
		if (rels.unusable)
		{
			/* checked before; an invalidation clears this */
			report_fallback(rels.unusable_rel, rels.unusable_why);
			return false;
		}
		generation = inval_generation;
		/* registries: for the shape check now, else once a call needs it */
		if (!rels.checked)
		{
			o->registries = open_kind(rels.registries, RELKIND_RELATION);
			o->registries_pkey = open_kind(rels.registries_pkey, RELKIND_INDEX);
		}
		o->links = open_kind(rels.links, RELKIND_RELATION);
		o->links_position_key = open_kind(rels.links_position_key, RELKIND_INDEX);
		o->upstreams = open_kind(rels.upstreams, RELKIND_RELATION);
		o->upstreams_pkey = open_kind(rels.upstreams_pkey, RELKIND_INDEX);
		o->entries = open_kind(rels.entries, RELKIND_PARTITIONED_TABLE);
		if (generation == inval_generation && rels.valid &&
			(rels.checked || (o->registries && o->registries_pkey)) &&
			o->links && o->links_position_key &&
			o->upstreams && o->upstreams_pkey && o->entries)
		{
			if (rels.checked || rels_check(o))
			{
				Oid			idx[3] = {rels.registries_pkey, rels.links_position_key,
				rels.upstreams_pkey};
				int			i;

				for (i = 1; i < 3; i++) /* registries_pkey: when read */
					if (!checkxmin_passed(rels.checkxmin[i]))
					{
						report_fallback(idx[i], "is too new for the transaction's snapshot");
						close_rels(o);
						return false;
					}
				return true;
			}
			report_fallback(rels.unusable_rel, rels.unusable_why);
			close_rels(o);
			return false;
		}
		close_rels(o);
		rels.valid = rels.checked = rels.unusable = false;
	}
	report_fallback(InvalidOid, "a table or index the scans use is missing");
	return false;
}

/*
 * The cache entry of an open, locked leaf partition, built on first use, or
 * NULL when the partition lacks a column or a child index resolve needs
 * (nothing is cached then: an index attached later is found next time).
 * When its child indexes are unfit for the scans, the entry says why
 * (unusable_why); that is cached too, until either index or the partition
 * is invalidated.
 */
static PartInfo *
part_info(Relation prel)
{
	static const ColumnSpec path_key[] = {{"group_id", INT8OID}, {"relative_path", TEXTOID},
	{"upstream_id", INT8OID}};
	static const ColumnSpec digest_key[] = {{"group_id", INT8OID}, {"digest", TEXTOID},
	{"upstream_id", INT8OID}};
	static const IndexSpec path_spec = {path_key, 3, true, PRED_LIVE};
	static const IndexSpec digest_spec = {digest_key, 3, false, PRED_LIVE_DIGEST};
	Oid			part = RelationGetRelid(prel);
	PartInfo   *slot = &part_cache[part % PART_CACHE_SIZE];
	PartInfo	built;
	List	   *indexes;
	ListCell   *lc;
	int			i;

	if (slot->part == part)
		return slot;

	memset(&built, 0, sizeof(built));
	for (i = 0; i < E_NCOLS; i++)
	{
		built.att[i] = column_attnum(prel, entry_cols[i].name, entry_cols[i].type);
		if (built.att[i] == InvalidAttrNumber)
		{
			report_fallback(part, "lacks a column the scans read");
			return NULL;
		}
	}

	indexes = RelationGetIndexList(prel);
	foreach(lc, indexes)
	{
		Oid			idx = lfirst_oid(lc);
		Oid			parent;

		if (!get_rel_relispartition(idx))
			continue;
#if PG_VERSION_NUM >= 140000
		parent = get_partition_parent(idx, true);
#else
		parent = get_partition_parent(idx);
#endif
		if (parent == rels.entries_path_key)
			built.path_idx = idx;
		else if (parent == rels.entries_digest_idx)
			built.digest_idx = idx;
	}
	list_free(indexes);
	if (!OidIsValid(built.path_idx) || !OidIsValid(built.digest_idx))
	{
		report_fallback(part, "lacks a child index of cache_entries_live_path_upstream_key or cache_entries_live_digest_upstream_idx");
		return NULL;
	}

	/* each partition's own indexes, with the partition's attribute numbers */
	{
		Relation	pidx = index_open(built.path_idx, AccessShareLock);
		Relation	didx = index_open(built.digest_idx, AccessShareLock);

		if ((built.unusable_why = index_mismatch(pidx, prel, &path_spec)) != NULL)
			built.unusable_rel = built.path_idx;
		else if ((built.unusable_why = index_mismatch(didx, prel, &digest_spec)) != NULL)
			built.unusable_rel = built.digest_idx;
		built.path_collation = pidx->rd_indcollation[1];
		built.digest_collation = didx->rd_indcollation[1];
		built.path_checkxmin = index_checkxmin(pidx);
		built.digest_checkxmin = index_checkxmin(didx);
		index_close(pidx, NoLock);
		index_close(didx, NoLock);
	}

	/*
	 * Index locks may have processed invalidations, but none that changes
	 * the partition's shape: that needs a lock conflicting with ours.
	 */
	built.part = part;
	*slot = built;
	return slot;
}

/* The partition's entry when its indexes can serve this call, else NULL. */
static PartInfo *
usable_part_info(Relation prel)
{
	PartInfo   *pi = part_info(prel);

	if (pi == NULL)
		return NULL;
	if (pi->unusable_why != NULL)
	{
		report_fallback(pi->unusable_rel, pi->unusable_why);
		return NULL;
	}
	if (!checkxmin_passed(pi->path_checkxmin))
	{
		report_fallback(pi->path_idx, "is too new for the transaction's snapshot");
		return NULL;
	}
	if (!checkxmin_passed(pi->digest_checkxmin))
	{
		report_fallback(pi->digest_idx, "is too new for the transaction's snapshot");
		return NULL;
	}
	return pi;
}

static void
int8_key(ScanKey key, AttrNumber indexcol, int64 value)
{
	ScanKeyInit(key, indexcol, BTEqualStrategyNumber, F_INT8EQ, Int64GetDatum(value));
}

static void
text_key(ScanKey key, AttrNumber indexcol, Oid collation, Datum value)
{
	ScanKeyEntryInitialize(key, 0, indexcol, BTEqualStrategyNumber, InvalidOid,
						   collation, F_TEXTEQ, value);
}

/* The values a text column holds, detoasted into the current context. */
static text *
slot_text(TupleTableSlot *slot, AttrNumber att)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, att, &isnull);

	return isnull ? NULL : DatumGetTextPP(d);
}

static bool
text_equals(text *t, const char *s, size_t len)
{
	return t != NULL && VARSIZE_ANY_EXHDR(t) == len && memcmp(VARDATA_ANY(t), s, len) == 0;
}

static bool
text_ends_with(text *t, const char *s, size_t len)
{
	size_t		tlen;

	if (t == NULL)
		return false;
	tlen = VARSIZE_ANY_EXHDR(t);
	return tlen >= len && memcmp(VARDATA_ANY(t) + tlen - len, s, len) == 0;
}

/*
 * upstream_checked_at + make_interval(hours => hours) < now(), evaluated as
 * the planned query does (timestamptz_pl_interval, with its range error);
 * exactly at the boundary the entry is fresh.
 */
static bool
tag_is_stale(TimestampTz checked_at, int16 hours)
{
	Interval	span;
	TimestampTz until;

	if (hours == 0)
		return true;
	memset(&span, 0, sizeof(span));
	span.time = (int64) hours * USECS_PER_HOUR;
	until = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													TimestampTzGetDatum(checked_at),
													PointerGetDatum(&span)));
	return until < GetCurrentTransactionStartTimestamp();
}

/* One link's upstream row, as far as resolve needs it. */
typedef struct UpstreamRow
{
	bool		loaded;			/* looked up (found or not) */
	bool		visible;		/* found under the snapshot */
	bool		hub;			/* url is Docker Hub */
	int16		hours;			/* cache_validity_hours */
} UpstreamRow;

/* Probe upstreams_pkey for (group_id, upstream_id), once per call and link. */
static void
load_upstream(IndexScanDesc uscan, TupleTableSlot *uslot, int64 group_id,
			  int64 upstream_id, UpstreamRow *up)
{
	ScanKeyData ukeys[2];
	bool		isnull;

	if (up->loaded)
		return;
	up->loaded = true;
	up->hub = false;
	up->hours = 0;
	int8_key(&ukeys[0], 1, group_id);
	int8_key(&ukeys[1], 2, upstream_id);
	index_rescan(uscan, ukeys, 2, NULL, 0);
	up->visible = index_getnext_slot(uscan, ForwardScanDirection, uslot);
	if (up->visible)
	{
		text	   *url = slot_text(uslot, rels.upstream_url);

		up->hub = url != NULL &&
			vreg_oci_is_docker_hub_url(VARDATA_ANY(url), VARSIZE_ANY_EXHDR(url));
		up->hours = DatumGetInt16(slot_getattr(uslot, rels.upstream_hours, &isnull));
	}
	ExecClearTuple(uslot);
}

/* One link of the registry. */
typedef struct Link
{
	int64		upstream_id;
	int16		position;
	UpstreamRow up;
} Link;

/* The best candidate so far. */
typedef struct Best
{
	HeapTuple	tuple;			/* NULL: none yet */
	int			link;			/* index into the links array */
	bool		exact;			/* at the path itself (always, for a tag) */
	int64		id;
} Best;

/* What one scan of the entry index needs. */
typedef struct EntryScan
{
	const VregResolveRequest *req;
	IndexScanDesc escan;
	TupleTableSlot *eslot;
	IndexScanDesc uscan;
	TupleTableSlot *uslot;
	PartInfo   *pi;
	Link	   *links;
	int			nlinks;
	const char *blob_suffix;	/* digest: "/blobs/<digest>" */
	size_t		blob_suffix_len;
	Best		best;
} EntryScan;

static int
link_of(const EntryScan *es, int64 upstream_id)
{
	int			i;

	for (i = 0; i < es->nlinks; i++)
		if (es->links[i].upstream_id == upstream_id)
			return i;
	return -1;
}

/*
 * Could an index tuple of upstream_id, or any later one (the index orders an
 * equal key by upstream_id), still beat the best candidate? Only a link at
 * an earlier position, or the best one's own upstream while its candidate
 * is not at the exact path (a lower id may follow).
 */
static bool
can_improve(const EntryScan *es, int64 upstream_id)
{
	int			i;

	if (es->best.tuple == NULL)
		return true;
	for (i = 0; i < es->nlinks; i++)
	{
		const Link *l = &es->links[i];

		if (l->upstream_id < upstream_id || (l->up.loaded && !l->up.visible))
			continue;
		if (l->position < es->links[es->best.link].position ||
			(i == es->best.link && !es->best.exact))
			return true;
	}
	return false;
}

/*
 * The heap tuple of the current index entry (upstream link li): make it the
 * best candidate if it is visible, live, of the requested kind, its
 * upstream row is visible, and it beats the best so far (the earlier
 * position first; in one upstream the exact path, then the lowest id).
 */
static void
consider_entry(EntryScan *es, int li)
{
	const VregResolveRequest *req = es->req;
	Link	   *link = &es->links[li];
	TupleTableSlot *eslot = es->eslot;
	const char *path;
	bool		isnull;
	text	   *rp;
	bool		exact;
	int64		id = 0;

	if (!index_fetch_heap(es->escan, eslot))
		return;
	/* the index predicate says status = 0; the tuple must agree */
	if (DatumGetInt16(slot_getattr(eslot, es->pi->att[E_STATUS], &isnull)) != 0 || isnull)
		goto done;
	rp = slot_text(eslot, es->pi->att[E_RELATIVE_PATH]);
	if (req->digest != NULL &&
		text_ends_with(rp, es->blob_suffix, es->blob_suffix_len) != req->is_blob)
		goto done;				/* digest: same kind only */

	/*
	 * The upstream row is read once the entry could win: a link whose
	 * upstream row is not visible is skipped, as the planned query's inner
	 * join does.
	 */
	load_upstream(es->uscan, es->uslot, req->group_id, link->upstream_id, &link->up);
	if (!link->up.visible)
		goto done;
	path = link->up.hub ? req->hubpath : req->relpath;
	exact = text_equals(rp, path, strlen(path));
	if (req->digest == NULL && !exact)
		goto done;				/* cannot happen: the key is the path */
	if (req->digest != NULL)
		id = DatumGetInt64(slot_getattr(eslot, es->pi->att[E_ID], &isnull));

	if (es->best.tuple == NULL ||
		link->position < es->links[es->best.link].position ||
		(exact && !es->best.exact) ||
		(exact == es->best.exact && id < es->best.id))
	{
		if (es->best.tuple != NULL)
			heap_freetuple(es->best.tuple);
		es->best.tuple = ExecCopySlotHeapTuple(eslot);
		es->best.link = li;
		es->best.exact = exact;
		es->best.id = id;
	}
done:
	ExecClearTuple(eslot);
}

/*
 * One descent of the group's entry index with (group_id, key): every live
 * entry of that path (or digest) in every upstream of the group, ordered by
 * upstream_id. The upstream_id of each index tuple decides, before the heap
 * is read, whether the entry could win: an upstream the registry does not
 * link, or one at a later position than the best candidate so far, is
 * skipped; the scan stops as soon as no later index tuple can win.
 *
 * hub_form: for a tag whose Docker Hub form differs, the scan of relpath
 * counts only for other upstreams (0) and the scan of hubpath only for
 * Docker Hub upstreams (1); -1 when the path is the same for all.
 */
static void
scan_entries(EntryScan *es, Datum key, Oid collation, int hub_form)
{
	ScanKeyData keys[2];

	int8_key(&keys[0], 1, es->req->group_id);
	text_key(&keys[1], 2, collation, key);
	index_rescan(es->escan, keys, 2, NULL, 0);

	while (index_getnext_tid(es->escan, ForwardScanDirection) != NULL)
	{
		bool		isnull;
		int64		upstream_id;
		int			li;
		Link	   *link;

		upstream_id = DatumGetInt64(index_getattr(es->escan->xs_itup, 3,
												  es->escan->xs_itupdesc, &isnull));
		if (isnull)
			continue;			/* NOT NULL column: cannot happen */
		if (!can_improve(es, upstream_id))
			break;
		li = link_of(es, upstream_id);
		if (li < 0)
			continue;			/* not an upstream of this registry */
		link = &es->links[li];
		if (link->up.loaded && !link->up.visible)
			continue;
		if (es->best.tuple != NULL &&
			(link->position > es->links[es->best.link].position ||
			 (li == es->best.link && es->best.exact)))
			continue;
		if (hub_form >= 0)
		{
			load_upstream(es->uscan, es->uslot, es->req->group_id, upstream_id, &link->up);
			if (!link->up.visible || link->up.hub != (hub_form == 1))
				continue;
		}
		consider_entry(es, li);
	}
}

/* Whether the registry exists. */
typedef enum RegistryFound
{
	REGISTRY_FOUND,
	REGISTRY_NOT_FOUND,
	REGISTRY_UNKNOWN			/* the scans cannot tell: planned query */
} RegistryFound;

/*
 * The registry row through registries_pkey: does it exist? Opens the two
 * relations unless open_rels() did; a change of the relations seen while
 * locking them (they were checked before it) makes the answer unknown.
 */
static RegistryFound
registry_exists(OpenRels *o, Snapshot snapshot, const VregResolveRequest *req)
{
	ScanKeyData keys[2];
	TupleTableSlot *slot;
	IndexScanDesc scan;
	bool		found;

	if (o->registries == NULL || o->registries_pkey == NULL)
	{
		uint64		generation = inval_generation;

		if (o->registries == NULL)
			o->registries = open_kind(rels.registries, RELKIND_RELATION);
		if (o->registries_pkey == NULL)
			o->registries_pkey = open_kind(rels.registries_pkey, RELKIND_INDEX);
		if (generation != inval_generation || o->registries == NULL ||
			o->registries_pkey == NULL)
		{
			report_fallback(InvalidOid, "a table or index the scans use changed");
			return REGISTRY_UNKNOWN;
		}
	}
	if (!checkxmin_passed(rels.checkxmin[0]))
	{
		report_fallback(rels.registries_pkey, "is too new for the transaction's snapshot");
		return REGISTRY_UNKNOWN;
	}
	slot = table_slot_create(o->registries, NULL);
	int8_key(&keys[0], 1, req->group_id);
	int8_key(&keys[1], 2, req->registry_id);
	scan = vreg_index_beginscan(o->registries, o->registries_pkey, snapshot, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return found ? REGISTRY_FOUND : REGISTRY_NOT_FOUND;
}

/* The registry's links in position order, through registry_upstreams_position_key. */
static Link *
read_links(OpenRels *o, Snapshot snapshot, const VregResolveRequest *req, int *nlinks)
{
	ScanKeyData keys[2];
	TupleTableSlot *slot = table_slot_create(o->links, NULL);
	IndexScanDesc scan;
	int			maxlinks = 8;
	Link	   *links = palloc0(sizeof(Link) * maxlinks);

	*nlinks = 0;
	int8_key(&keys[0], 1, req->group_id);
	int8_key(&keys[1], 2, req->registry_id);
	scan = vreg_index_beginscan(o->links, o->links_position_key, snapshot, 2, 0);
	index_rescan(scan, keys, 2, NULL, 0);
	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		bool		isnull1,
					isnull2;
		Datum		up = slot_getattr(slot, rels.link_upstream_id, &isnull1);
		Datum		pos = slot_getattr(slot, rels.link_position, &isnull2);

		if (isnull1 || isnull2)
			continue;			/* NOT NULL columns: cannot happen */
		if (*nlinks == maxlinks)
		{
			maxlinks *= 2;
			links = repalloc(links, sizeof(Link) * maxlinks);
		}
		memset(&links[*nlinks], 0, sizeof(Link));
		links[*nlinks].upstream_id = DatumGetInt64(up);
		links[*nlinks].position = DatumGetInt16(pos);
		(*nlinks)++;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	return links;
}

/*
 * One descent finds every candidate: for a digest, every live entry of the
 * group with that digest; for a tag, the live entry of the path in every
 * upstream (a second descent only for a tag whose Docker Hub form differs,
 * and only while a link at an earlier position could still hold it).
 */
static void
find_winner(EntryScan *es, const PartInfo *pi)
{
	const VregResolveRequest *req = es->req;

	if (req->digest)
	{
		char	   *suffix = psprintf("/blobs/%s", req->digest);

		es->blob_suffix = suffix;
		es->blob_suffix_len = strlen(suffix);
		scan_entries(es, CStringGetTextDatum(req->digest), pi->digest_collation, -1);
	}
	else if (strcmp(req->relpath, req->hubpath) == 0)
		scan_entries(es, CStringGetTextDatum(req->relpath), pi->path_collation, -1);
	else
	{
		scan_entries(es, CStringGetTextDatum(req->relpath), pi->path_collation, 0);
		if (can_improve(es, PG_INT64_MIN))
			scan_entries(es, CStringGetTextDatum(req->hubpath), pi->path_collation, 1);
	}
}

/* The 11 result columns of the best candidate (or of a miss). */
static void
result_values(const EntryScan *es, const PartInfo *pi, TupleDesc edesc,
			  Datum *values, bool *nulls)
{
	HeapTuple	winner = es->best.tuple;
	bool		stale = false;
	bool		isnull;
	int			i;

	memset(nulls, true, sizeof(bool) * 11);
	memset(values, 0, sizeof(Datum) * 11);
	nulls[0] = false;
	if (winner == NULL)
	{
		values[0] = CStringGetTextDatum("miss");
		return;
	}
	if (es->req->digest == NULL)
		stale = tag_is_stale(DatumGetTimestampTz(heap_getattr(winner, pi->att[E_CHECKED_AT],
															  edesc, &isnull)),
							 es->links[es->best.link].up.hours);
	values[0] = CStringGetTextDatum(stale ? "stale" : "hit");
	values[1] = heap_getattr(winner, pi->att[E_ID], edesc, &nulls[1]);
	values[2] = heap_getattr(winner, pi->att[E_UPSTREAM_ID], edesc, &nulls[2]);
	values[3] = Int16GetDatum(es->links[es->best.link].position);
	nulls[3] = false;
	for (i = 0; i < (int) lengthof(result_tail); i++)
		values[4 + i] = heap_getattr(winner, pi->att[result_tail[i]], edesc, &nulls[4 + i]);
}

/*
 * Set up one call: the snapshot, the shared relcache hook, and the scratch
 * context it works in (reset at the end of every call, and here when an
 * error left it dirty). False when there is no active snapshot.
 */
static bool
scan_begin(Snapshot *snapshot)
{
	if (!ActiveSnapshotSet())
		return false;
	*snapshot = GetActiveSnapshot();
	if (!callback_registered)
	{
		vreg_on_relcache_invalidation(resolve_relcache_hook);
		callback_registered = true;
	}
	if (scratch_cxt == NULL)
		scratch_cxt = AllocSetContextCreate(TopMemoryContext,
											"containers_vreg resolve",
											ALLOCSET_DEFAULT_SIZES);
	else
		MemoryContextReset(scratch_cxt);
	return true;
}

/* Leave the scratch context with an answer. */
static VregResolveScanResult
scan_end(MemoryContext callercxt, VregResolveScanResult answer)
{
	MemoryContextSwitchTo(callercxt);
	MemoryContextReset(scratch_cxt);
	return answer;
}

VregResolveScanResult
vreg_resolve_scan(const VregResolveRequest *req, TupleDesc outdesc, HeapTuple *result)
{
	MemoryContext callercxt = CurrentMemoryContext;
	Snapshot	snapshot;
	OpenRels	o;
	Link	   *links;
	int			nlinks = 0;
	Relation	prel = NULL;
	Relation	eidx = NULL;
	PartInfo	pi;
	EntryScan	es;
	bool		fallback = false;
	Datum		values[11];
	bool		nulls[11];

	memset(&pi, 0, sizeof(pi));
	memset(&es, 0, sizeof(es));
	if (outdesc->natts != 11 || !scan_begin(&snapshot))
		return VREG_RESOLVE_SCAN_FALLBACK;
	if (!IsMVCCSnapshot(snapshot))
		return VREG_RESOLVE_SCAN_FALLBACK;	/* one visible version per chain */
	MemoryContextSwitchTo(scratch_cxt);
	if (!open_rels(&o))
		return scan_end(callercxt, VREG_RESOLVE_SCAN_FALLBACK);

	/* 1. the registry's links, in position order; 2. without one, the registry */
	links = read_links(&o, snapshot, req, &nlinks);
	if (nlinks == 0)
	{
		RegistryFound found = registry_exists(&o, snapshot, req);

		if (found != REGISTRY_FOUND)
		{
			close_rels(&o);
			return scan_end(callercxt, found == REGISTRY_NOT_FOUND ?
							VREG_RESOLVE_SCAN_NO_REGISTRY : VREG_RESOLVE_SCAN_FALLBACK);
		}
	}

	/* 3. the group's partition and index, once there is something to probe */
	if (nlinks > 0)
	{
		Oid			part = vreg_route_leaf_partition(rels.entries, req->group_id);
		PartInfo   *cached;

		if (OidIsValid(part))
			prel = open_kind(part, RELKIND_RELATION);
		cached = prel != NULL ? usable_part_info(prel) : NULL;
		if (cached == NULL)
			fallback = true;
		else
		{
			pi = *cached;		/* a later invalidation may clear the slot */
			eidx = index_open(req->digest ? pi.digest_idx : pi.path_idx, AccessShareLock);
			es.req = req;
			es.pi = &pi;
			es.links = links;
			es.nlinks = nlinks;
			es.eslot = table_slot_create(prel, NULL);
			es.escan = vreg_index_beginscan(prel, eidx, snapshot, 2, 0);
			es.escan->xs_want_itup = true;	/* upstream_id before the heap */
			es.uslot = table_slot_create(o.upstreams, NULL);
			es.uscan = vreg_index_beginscan(o.upstreams, o.upstreams_pkey, snapshot, 2, 0);
			/* 4. one descent; the winner is the link with the lowest position */
			find_winner(&es, &pi);
		}
	}

	/* 5. the result row, from the copy of the winning tuple */
	if (!fallback)
		result_values(&es, &pi, prel != NULL ? RelationGetDescr(prel) : NULL, values, nulls);
	if (es.escan != NULL)
	{
		index_endscan(es.escan);
		index_endscan(es.uscan);
		ExecDropSingleTupleTableSlot(es.eslot);
		ExecDropSingleTupleTableSlot(es.uslot);
		index_close(eidx, NoLock);
	}
	if (prel != NULL)
		relation_close(prel, NoLock);
	close_rels(&o);
	if (fallback)
		return scan_end(callercxt, VREG_RESOLVE_SCAN_FALLBACK);

	/* heap_form_tuple copies the values into the caller's memory */
	MemoryContextSwitchTo(callercxt);
	*result = heap_form_tuple(outdesc, values, nulls);
	MemoryContextReset(scratch_cxt);
	return VREG_RESOLVE_SCAN_DONE;
}
