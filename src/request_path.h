/*
 * request_path.h
 *		SQL-callable request-path functions (resolve and the path helpers).
 */
#ifndef REQUEST_PATH_H
#define REQUEST_PATH_H

#include "postgres.h"

#include "oci_path.h"

/*
 * Parse a request path (text datum contents) or raise 22023 naming the
 * problem; the same error for every function that takes a path.
 */
extern void vreg_parse_request_path_or_error(const char *path, size_t len, VregOciPath *out);

#endif							/* REQUEST_PATH_H */
