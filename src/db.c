/* The database connection: connecting, the schema's migrations, LISTEN. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

/* Copy the reason res (or else conn) failed into err, on one line. */
void
db_error(PGconn *conn, const PGresult *res, char *err, size_t errlen)
{
	const char *msg = res != NULL ? PQresultErrorMessage(res) : "";

	if (msg == NULL || msg[0] == '\0')
		msg = conn != NULL ? PQerrorMessage(conn) : "out of memory";
	if (msg == NULL || msg[0] == '\0')
		msg = "unknown error";
	snprintf(err, errlen, "%s", msg);
	for (char *p = err; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	}
	/* libpq ends messages with a newline */
	for (size_t n = strlen(err); n > 0 && err[n - 1] == ' '; n--)
		err[n - 1] = '\0';
}

/* Errors that sending the same values again cannot cure; see db.h. */
bool
db_error_recurs(const PGresult *res)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (state == NULL || strlen(state) != 5)
		return false;
	return strncmp(state, "22", 2) == 0 || strncmp(state, "54", 2) == 0 || strcmp(state, "23502") == 0 ||
	       strcmp(state, "23514") == 0;
}

int
db_exec(PGconn *conn, const char *sql, char *err, size_t errlen)
{
	PGresult *res = PQexec(conn, sql);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_error(conn, res, err, errlen);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

/* Run sql (one parameter: the quoted schema) and expect no error. */
static int
exec_schema(PGconn *conn, const char *sql, const char *schema, char *err, size_t errlen)
{
	PGresult *res = PQexecParams(conn, sql, 1, NULL, &schema, NULL, NULL, 0);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_error(conn, res, err, errlen);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

/* Connect and set search_path; see db.h. */
PGconn *
db_connect(const char *conninfo, const char *schema, char *err, size_t errlen)
{
	/*
	 * Later keywords win: the defaults before dbname yield to the user's
	 * conninfo (a URI or key=value string, expanded in its place), the
	 * encoding after it does not.  A database that stops answering must
	 * not hold the single-threaded loop for the kernel's TCP timeouts.
	 */
	const char *keys[] = { "connect_timeout", "keepalives", "keepalives_idle", "keepalives_interval",
			       "keepalives_count", "tcp_user_timeout", "application_name", "dbname",
			       "client_encoding", NULL };
	const char *vals[] = { "10", "1", "10", "5", "3", "20000", "extend-syncd", conninfo, "UTF8", NULL };
	PGconn *conn;
	char *quoted = NULL;

	conn = PQconnectdbParams(keys, vals, 1);
	if (conn == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		db_error(conn, NULL, err, errlen);
		goto fail;
	}
	quoted = PQescapeIdentifier(conn, schema, strlen(schema));
	if (quoted == NULL) {
		db_error(conn, NULL, err, errlen);
		goto fail;
	}
	/*
	 * ISO dates in UTC: claim tokens (lease_expires_at) go out as text and
	 * come back as parameters, and must read back as the same instant.
	 * Timeouts: a lock held elsewhere or a runaway statement must not hold
	 * the single-threaded loop past the systemd watchdog.
	 */
	if (exec_schema(conn, "SELECT pg_catalog.set_config('search_path', $1, false), "
			"pg_catalog.set_config('client_min_messages', 'warning', false), "
			"pg_catalog.set_config('datestyle', 'ISO, YMD', false), "
			"pg_catalog.set_config('timezone', 'UTC', false), "
			"pg_catalog.set_config('lock_timeout', '10s', false), "
			"pg_catalog.set_config('statement_timeout', '20s', false)", quoted, err, errlen) < 0)
		goto fail;
	PQfreemem(quoted);
	return conn;
fail:
	PQfreemem(quoted);
	PQfinish(conn);
	return NULL;
}

/* The newest migration this build has; see db.h. */
int
db_latest_version(void)
{
	int v = 0;

	for (const struct migration *m = db_migrations; m->name != NULL; m++)
		v = m->version;
	return v;
}

/* Run a query returning one integer; -1 with err set on failure. */
static int
query_int(PGconn *conn, const char *sql, char *err, size_t errlen)
{
	PGresult *res = PQexec(conn, sql);
	int v = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		v = atoi(PQgetvalue(res, 0, 0));
	else
		db_error(conn, res, err, errlen);
	PQclear(res);
	return v;
}

/* The highest applied version, 0 for an empty schema, -1 on error (search_path is the schema). */
static int
applied_version(PGconn *conn, char *err, size_t errlen)
{
	int exists = query_int(conn, "SELECT (to_regclass('schema_migrations') IS NOT NULL)::int", err, errlen);

	if (exists <= 0)
		return exists;
	return query_int(conn, "SELECT coalesce(max(version), 0) FROM schema_migrations", err, errlen);
}

/* 1 when schema exists, 0 when not, -1 with err set on failure. */
static int
schema_exists(PGconn *conn, const char *schema, char *err, size_t errlen)
{
	PGresult *res = PQexecParams(conn, "SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = $1",
				     1, NULL, &schema, NULL, NULL, 0);
	int v = -1;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1)
		v = atoi(PQgetvalue(res, 0, 0)) > 0;
	else
		db_error(conn, res, err, errlen);
	PQclear(res);
	return v;
}

/* Apply pending migrations; see db.h. */
int
db_migrate(PGconn *conn, const char *schema, int *applied, char *err, size_t errlen)
{
	const char *lock = "SELECT pg_advisory_lock(hashtextextended('extend-syncd migrate ' || $1, 0))";
	const char *unlock = "SELECT pg_advisory_unlock(hashtextextended('extend-syncd migrate ' || $1, 0))";
	char *quoted = PQescapeIdentifier(conn, schema, strlen(schema));
	char sql[1024];
	int have, rc = -1;

	*applied = 0;
	if (quoted == NULL) {
		db_error(conn, NULL, err, errlen);
		return -1;
	}
	/* a migration may rewrite a large table: no statement or lock timeout here */
	if (db_exec(conn, "SET statement_timeout = 0; SET lock_timeout = 0", err, errlen) < 0 ||
	    exec_schema(conn, lock, schema, err, errlen) < 0)
		goto out;
	/*
	 * CREATE SCHEMA IF NOT EXISTS needs CREATE on the database even when
	 * the schema exists: a daemon that owns only its schema (roles.sql
	 * made it) must not ask.
	 */
	have = schema_exists(conn, schema, err, errlen);
	if (have < 0)
		goto unlock;
	if (have == 0) {
		snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", quoted);
		if (db_exec(conn, sql, err, errlen) < 0) {
			char why[DB_ERR_SIZE];

			snprintf(why, sizeof(why), "%s", err);
			snprintf(err, errlen, "could not create schema \"%s\": %s (create it with roles.sql, "
				 "run once as a superuser, or grant CREATE on the database)", schema, why);
			goto unlock;
		}
	}
	snprintf(sql, sizeof(sql),
		 "CREATE TABLE IF NOT EXISTS %s.schema_migrations (version integer PRIMARY KEY, "
		 "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now()); "
		 "COMMENT ON TABLE %s.schema_migrations IS 'Schema migrations of extend-syncd applied here'",
		 quoted, quoted);
	if (db_exec(conn, sql, err, errlen) < 0)
		goto unlock;
	have = applied_version(conn, err, errlen);
	if (have < 0)
		goto unlock;
	for (const struct migration *m = db_migrations; m->name != NULL; m++) {
		char version[16];
		const char *params[2] = { version, m->name };
		PGresult *res;

		if (m->version <= have)
			continue;
		if (db_exec(conn, "BEGIN", err, errlen) < 0)
			goto unlock;
		if (db_exec(conn, m->sql, err, errlen) < 0) {
			char why[DB_ERR_SIZE];

			snprintf(why, sizeof(why), "%s", err);
			snprintf(err, errlen, "migration %s failed: %s", m->name, why);
			(void)db_exec(conn, "ROLLBACK", why, sizeof(why));
			goto unlock;
		}
		snprintf(version, sizeof(version), "%d", m->version);
		res = PQexecParams(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
				   2, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			char why[DB_ERR_SIZE];

			db_error(conn, res, err, errlen);
			PQclear(res);
			(void)db_exec(conn, "ROLLBACK", why, sizeof(why));
			goto unlock;
		}
		PQclear(res);
		if (db_exec(conn, "COMMIT", err, errlen) < 0)
			goto unlock;
		(*applied)++;
	}
	rc = 0;
unlock:
	{
		char why[DB_ERR_SIZE];

		if (exec_schema(conn, unlock, schema, why, sizeof(why)) < 0 && rc == 0) {
			snprintf(err, errlen, "%s", why);
			rc = -1;
		}
	}
out:
	PQfreemem(quoted);
	return rc;
}

/* Check that the schema is at the version this build needs; see db.h. */
int
db_check_version(PGconn *conn, const char *schema, char *err, size_t errlen)
{
	int have = applied_version(conn, err, errlen);
	int want = db_latest_version();

	if (have < 0)
		return -1;
	if (have < want) {
		snprintf(err, errlen, "schema \"%s\" is at version %d but this extend-syncd needs version %d: "
			 "run extend-syncd --migrate (or set database.auto_migrate = true)", schema, have, want);
		return -1;
	}
	return 0;
}

/* LISTEN on "<schema>.sync_queue"; see db.h. */
int
db_listen(PGconn *conn, const char *schema, char *err, size_t errlen)
{
	char channel[128], sql[300];
	char *quoted;
	int rc;

	snprintf(channel, sizeof(channel), "%s.sync_queue", schema);
	quoted = PQescapeIdentifier(conn, channel, strlen(channel));
	if (quoted == NULL) {
		db_error(conn, NULL, err, errlen);
		return -1;
	}
	snprintf(sql, sizeof(sql), "LISTEN %s", quoted);
	PQfreemem(quoted);
	rc = db_exec(conn, sql, err, errlen);
	return rc;
}

/* Read and drop pending notifications; see db.h. */
int
db_drain_notifies(PGconn *conn)
{
	PGnotify *n;
	int count = 0;

	if (PQconsumeInput(conn) == 0)
		return -1;
	while ((n = PQnotifies(conn)) != NULL) {
		PQfreemem(n);
		count++;
	}
	return count;
}

/* Prepare named statements; see db.h. */
int
db_prepare(PGconn *conn, const struct db_statement *st, size_t n, char *err, size_t errlen)
{
	for (size_t i = 0; i < n; i++) {
		PGresult *res = PQprepare(conn, st[i].name, st[i].sql, 0, NULL);

		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			db_error(conn, res, err, errlen);
			PQclear(res);
			return -1;
		}
		PQclear(res);
	}
	return 0;
}
