/*
 * vreg_limits.h
 *		Every limit of the data model, defined once, and the named statuses
 *		of a cache entry.
 *
 * Pure C (no PostgreSQL header): the pure parsers (oci_path.c, cred_rules.c)
 * and their fuzzers include it too.
 *
 * The CHECK constraints of sql/install/10_tables.sql and the argument checks
 * of the PL/pgSQL functions state the same numbers in SQL; the regression
 * test sql/limits.sql compares them with these values through the internal
 * function containers_vreg.limits() (src/limits.c), at the boundary: the
 * limit is accepted and one more is refused. A limit changed here and not
 * there (or the other way round) fails that test.
 */
#ifndef VREG_LIMITS_H
#define VREG_LIMITS_H

#include <stdint.h>

/* GitLab's container registry limits. */
#define VREG_MAX_REGISTRIES_PER_GROUP 5
#define VREG_MAX_UPSTREAMS_PER_REGISTRY 5

/*
 * Largest cached file, in bytes (1 TiB): no registry serves a larger blob,
 * and a group's usage sum cannot overflow bigint.
 */
#define VREG_MAX_ENTRY_SIZE INT64_C(1099511627776)

/*
 * Paths and object-storage keys, in bytes: a btree entry is limited in
 * bytes (2704 with 8 kB pages), and the widest index entry,
 * (group_id, upstream_id, relative_path), stays far below it.
 */
#define VREG_MAX_PATH_BYTES 1024
#define VREG_MAX_KEY_BYTES 1024

/* Text in no index counts characters. */
#define VREG_MAX_NAME_CHARS 255			/* registry and upstream names */
#define VREG_MAX_DESCRIPTION_CHARS 1024
#define VREG_MAX_URL_CHARS 255
#define VREG_MAX_FILE_CHARS 1024		/* cache_entries.file */
#define VREG_MAX_ETAG_CHARS 255
#define VREG_MAX_CONTENT_TYPE_CHARS 255

/* Each credential value (username, password), in characters: GitLab's limit. */
#define VREG_MAX_CREDENTIAL_CHARS 510

/* Checksums, in bytes. */
#define VREG_SHA1_BYTES 20
#define VREG_MD5_BYTES 16

/* Partitions made by create_hash_partitions(), and shards of cache_entry_shard(). */
#define VREG_MAX_MODULUS 1024
#define VREG_MAX_SHARDS 1024

/* Lifecycle arguments. */
#define VREG_MAX_KEEP_DAYS 365			/* mark_unused(keep_days) */
#define VREG_MAX_LEASE_DAYS 365			/* claim_for_destruction, claim_fetch */

/*
 * Object-storage keys per unreferenced_objects() call: one index probe
 * each, so a call stays a short read however large the group's storage.
 */
#define VREG_MAX_OBJECT_KEYS_PER_CALL 10000

/*
 * The status of a cache entry. SQL writes the numbers with a comment naming
 * the status; partial-index predicates (WHERE status = 0) must stay literal.
 */
typedef enum VregEntryStatus
{
	VREG_STATUS_LIVE = 0,
	VREG_STATUS_PROCESSING = 1,		/* claimed for destruction */
	VREG_STATUS_PENDING = 2,		/* pending destruction */
	VREG_STATUS_ERROR = 3			/* destruction failed */
} VregEntryStatus;

#endif							/* VREG_LIMITS_H */
