/* Extracted views: their schema, their refresh, and the set of extractor versions they already cover. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "extracted.h"

/*
 * Open addressing, linear probing, kept at most half full.  A key is
 * "<processor_id>\x1f<version_id>": the unit separator is in no API ID.
 */
struct extracted_set {
	char **slots;
	size_t cap;		/* a power of two */
	size_t count;
};

#define SET_FIRST_CAP 256

static uint64_t
hash_pair(const char *a, const char *b)
{
	uint64_t h = 1469598103934665603ULL;	/* FNV-1a */

	for (const unsigned char *p = (const unsigned char *)a; *p != '\0'; p++)
		h = (h ^ *p) * 1099511628211ULL;
	h = (h ^ 0x1f) * 1099511628211ULL;
	for (const unsigned char *p = (const unsigned char *)b; *p != '\0'; p++)
		h = (h ^ *p) * 1099511628211ULL;
	return h;
}

static bool
key_is(const char *key, const char *a, const char *b)
{
	size_t la = strlen(a);

	return strncmp(key, a, la) == 0 && key[la] == '\x1f' && strcmp(key + la + 1, b) == 0;
}

/* The slot of the pair, or the empty slot where it would go. */
static size_t
find_slot(char *const *slots, size_t cap, uint64_t h, const char *a, const char *b)
{
	size_t i = (size_t)h & (cap - 1);

	while (slots[i] != NULL && !key_is(slots[i], a, b))
		i = (i + 1) & (cap - 1);
	return i;
}

struct extracted_set *
extracted_set_new(void)
{
	struct extracted_set *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->slots = calloc(SET_FIRST_CAP, sizeof(*s->slots));
	if (s->slots == NULL) {
		free(s);
		return NULL;
	}
	s->cap = SET_FIRST_CAP;
	return s;
}

void
extracted_set_free(struct extracted_set *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->cap; i++)
		free(s->slots[i]);
	free(s->slots);
	free(s);
}

bool
extracted_set_has(const struct extracted_set *s, const char *processor_id, const char *version_id)
{
	size_t i = find_slot(s->slots, s->cap, hash_pair(processor_id, version_id), processor_id, version_id);

	return s->slots[i] != NULL;
}

/* Double the table; 0 or -ENOMEM (s unchanged). */
static int
grow(struct extracted_set *s)
{
	size_t cap = s->cap * 2;
	char **slots = calloc(cap, sizeof(*slots));

	if (slots == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < s->cap; i++) {
		char *key = s->slots[i], *sep;

		if (key == NULL)
			continue;
		sep = strchr(key, '\x1f');
		*sep = '\0';
		slots[find_slot(slots, cap, hash_pair(key, sep + 1), key, sep + 1)] = key;
		*sep = '\x1f';
	}
	free(s->slots);
	s->slots = slots;
	s->cap = cap;
	return 0;
}

int
extracted_set_add(struct extracted_set *s, const char *processor_id, const char *version_id)
{
	size_t la = strlen(processor_id), lb = strlen(version_id), i;
	char *key;

	if (extracted_set_has(s, processor_id, version_id))
		return 0;
	if ((s->count + 1) * 2 > s->cap && grow(s) < 0)
		return -ENOMEM;
	key = malloc(la + lb + 2);
	if (key == NULL)
		return -ENOMEM;
	memcpy(key, processor_id, la);
	key[la] = '\x1f';
	memcpy(key + la + 1, version_id, lb + 1);
	i = find_slot(s->slots, s->cap, hash_pair(processor_id, version_id), processor_id, version_id);
	s->slots[i] = key;
	s->count++;
	return 0;
}

size_t
extracted_set_count(const struct extracted_set *s)
{
	return s->count;
}

int
extracted_create_schema(PGconn *conn, const char *schema, char *err, size_t errlen)
{
	/* CREATE SCHEMA asks for CREATE on the database even when the schema exists: only when it does not */
	static const char sql_state[] =
		"SELECT n.oid IS NOT NULL, coalesce(has_schema_privilege(n.oid, 'CREATE'), false), "
		"       has_database_privilege(current_database(), 'CREATE'), current_user, current_database() "
		"FROM (SELECT 1) AS one LEFT JOIN pg_namespace n ON n.nspname = $1";
	PGresult *res = db_exec_params(conn, sql_state, 1, NULL, &schema, NULL, NULL, 0);
	char *quoted = NULL, sql[160];
	int rc = -1;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		db_error(conn, res, err, errlen);
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") == 0) {
		if (strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
			snprintf(err, errlen, "cannot create views in schema \"%s\": role \"%s\" lacks the CREATE "
				 "privilege on it (hint: GRANT CREATE ON SCHEMA %s TO %s, or set "
				 "database.extracted_schema to a schema of this role's)", schema,
				 PQgetvalue(res, 0, 3), schema, PQgetvalue(res, 0, 3));
			goto out;
		}
		rc = 0;
		goto out;
	}
	if (strcmp(PQgetvalue(res, 0, 2), "t") != 0) {
		snprintf(err, errlen, "cannot create schema \"%s\": role \"%s\" lacks the CREATE privilege on "
			 "database \"%s\" (hint: create it beforehand as a superuser, CREATE SCHEMA %s AUTHORIZATION %s, "
			 "or GRANT CREATE ON DATABASE %s TO %s)", schema, PQgetvalue(res, 0, 3),
			 PQgetvalue(res, 0, 4), schema, PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4),
			 PQgetvalue(res, 0, 3));
		goto out;
	}
	quoted = PQescapeIdentifier(conn, schema, strlen(schema));
	if (quoted == NULL) {
		db_error(conn, NULL, err, errlen);
		goto out;
	}
	snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS %s", quoted);
	if (db_exec(conn, sql, err, errlen) < 0)
		goto out;
	rc = 0;
out:
	PQfreemem(quoted);
	PQclear(res);
	return rc;
}

/* The rows of sql (n parameters v) in a transaction begun by begin; NULL with err set. */
static PGresult *
in_transaction(PGconn *conn, const char *begin, const char *sql, int n, const char *const *v, char *err,
	       size_t errlen)
{
	char why[DB_ERR_SIZE];
	PGresult *res;

	if (db_exec(conn, begin, err, errlen) < 0)
		return NULL;
	res = db_exec_params(conn, sql, n, NULL, v, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_error(conn, res, err, errlen);
		PQclear(res);
		if (db_usable(conn))
			(void)db_exec(conn, "ROLLBACK", why, sizeof(why));
		return NULL;
	}
	if (db_exec(conn, "COMMIT", err, errlen) < 0) {
		PQclear(res);
		return NULL;
	}
	return res;
}

PGresult *
extracted_refresh(PGconn *conn, const char *schema, bool missing_only, const char *processor_id, char *err,
		  size_t errlen)
{
	/* recording nothing: the caller did, in a transaction of its own (refresh_extracted_views() says why) */
	static const char sql[] =
		"SELECT processor_id, view_name, columns, child_views, versions "
		"FROM refresh_extracted_views($1, $2::boolean, $3, false) ORDER BY view_name";
	const char *v[3] = { schema, missing_only ? "true" : "false", processor_id };

	/* --refresh-views reads every stored run: no statement_timeout (the start-up's keeps it, for the watchdog) */
	return in_transaction(conn, missing_only ? "BEGIN" : "BEGIN; SET LOCAL statement_timeout = 0", sql, 3, v,
			      err, errlen);
}

int
extracted_record_versions(PGconn *conn, bool no_timeout, char *err, size_t errlen)
{
	PGresult *res = in_transaction(conn, no_timeout ? "BEGIN; SET LOCAL statement_timeout = 0" : "BEGIN",
				       "SELECT record_extractor_versions()", 0, NULL, err, errlen);

	if (res == NULL)
		return -1;
	PQclear(res);
	return 0;
}

PGresult *
extracted_record(PGconn *conn, char *err, size_t errlen)
{
	PGresult *res;

	if (extracted_record_versions(conn, true, err, errlen) < 0)
		return NULL;
	res = db_exec_params(conn, "SELECT processor_id FROM extracted_views ORDER BY first_seen_at, processor_id", 0,
			     NULL, NULL, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_error(conn, res, err, errlen);
		PQclear(res);
		return NULL;
	}
	return res;
}

int
extracted_load(PGconn *conn, struct extracted_set *s, char *err, size_t errlen)
{
	PGresult *res = db_exec_query(conn, "SELECT processor_id, processor_version_id FROM extracted_view_versions");
	int rc = 0;

	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_error(conn, res, err, errlen);
		PQclear(res);
		return -1;
	}
	for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
		if (extracted_set_add(s, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1)) < 0) {
			snprintf(err, errlen, "out of memory");
			rc = -1;
		}
	}
	PQclear(res);
	return rc;
}
