/* Extracted views: their schema, their refresh, and the set of extractor versions they already cover. */
#ifndef EXTEND_SYNCD_EXTRACTED_H
#define EXTEND_SYNCD_EXTRACTED_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

/* (processor_id, processor_version_id) pairs known to be recorded in extracted_view_versions: a hash set. */
struct extracted_set;

/* A new empty set, or NULL when out of memory; free it with extracted_set_free(). */
struct extracted_set *extracted_set_new(void);

void extracted_set_free(struct extracted_set *s);

/* Whether the pair is in s. */
bool extracted_set_has(const struct extracted_set *s, const char *processor_id, const char *version_id);

/* Add the pair (copied) to s, once; returns 0, or -ENOMEM (s unchanged). */
int extracted_set_add(struct extracted_set *s, const char *processor_id, const char *version_id)
	__attribute__((warn_unused_result));

/* How many pairs s holds. */
size_t extracted_set_count(const struct extracted_set *s);

/*
 * Make sure schema (the views' target, database.extracted_schema) exists
 * and that this role may create views in it: CREATE SCHEMA IF NOT EXISTS
 * when it is missing.  Returns 0, or -1 with err set (with a hint when the
 * role lacks the privilege).
 */
int extracted_create_schema(PGconn *conn, const char *schema, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * refresh_extracted_views(schema, missing_only, processor_id) in a
 * transaction of its own (processor_id NULL: every extractor), recording
 * nothing: the caller records the versions first, in a transaction of
 * their own (extracted_record_versions()).  Its rows (processor_id,
 * view_name, columns, child_views, versions), a result the caller
 * PQclear()s, or NULL with err set.
 */
PGresult *extracted_refresh(PGconn *conn, const char *schema, bool missing_only, const char *processor_id, char *err,
			    size_t errlen) __attribute__((warn_unused_result));

/*
 * record_extractor_versions() in a transaction of its own (no_timeout:
 * without statement_timeout, as a command may): 0, or -1 with err set.
 */
int extracted_record_versions(PGconn *conn, bool no_timeout, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * extracted_record_versions() without statement_timeout, then every
 * extractor's processor_id, a row each in order of first sight: a result
 * the caller PQclear()s, or NULL with err set.
 */
PGresult *extracted_record(PGconn *conn, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Add every pair of extracted_view_versions to s; returns 0, or -1 with err set. */
int extracted_load(PGconn *conn, struct extracted_set *s, char *err, size_t errlen)
	__attribute__((warn_unused_result));

#endif
