/*
 * containers_vreg.h
 *		Shared declarations of the containers_vreg extension.
 */
#ifndef CONTAINERS_VREG_H
#define CONTAINERS_VREG_H

#include "postgres.h"

#include "vreg_limits.h"

/* Names of the extension's schema and tables (schema is fixed). */
#define VREG_SCHEMA "containers_vreg"

/*
 * Advisory lock classes. The lock tag's fourth field distinguishes these from
 * pg_advisory_lock() (which uses 1 and 2), so an application's own advisory
 * locks can never collide with the extension's.
 */
#define VREG_LOCKCLASS_REGISTRIES_OF_GROUP	0x7652
/* Creation of the credentials fingerprint secret (key 1). */
#define VREG_LOCKCLASS_CREDENTIALS_SECRET	0x7653
/* compact_usage / rebuild_usage of one group (key: group_id). */
#define VREG_LOCKCLASS_USAGE_OF_GROUP		0x7654

/* containers_vreg.allow_local_upstreams */
extern bool vreg_allow_local_upstreams;

extern void vreg_lock_group_key(int64 key, uint16 lockclass);

#endif							/* CONTAINERS_VREG_H */
