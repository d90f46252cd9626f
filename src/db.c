/* The database connection: connecting, the schema's migrations, LISTEN, and waiting without blocking. */
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "clock.h"
#include "db.h"

/* libpq's connect_timeout, which a non-blocking connect must enforce itself. */
#define CONNECT_TIMEOUT 10.0

/* bytes of send buffer asked for on a connection's socket */
#define DB_SNDBUF (1024 * 1024)

/* Per thread: the loop's thread drives curl while it waits, the store's writer thread only waits. */
static _Thread_local db_wait_hook wait_hook;
static _Thread_local void *wait_hook_arg;

/*
 * The connection whose call the hook gave up on, and why.  libpq has no
 * way to abandon a call half way: the connection is marked here instead,
 * refuses every later call, and the loop replaces it.  Each thread uses its
 * own connection.
 */
static _Thread_local const PGconn *abandoned;
static _Thread_local char abandoned_why[160];

/* Forget the connection this thread abandoned; see db.h. */
void
db_forget_abandoned(void)
{
	abandoned = NULL;
}

/* Wait through the hook from now on; see db.h. */
void
db_set_wait_hook(db_wait_hook hook, void *arg)
{
	wait_hook = hook;
	wait_hook_arg = arg;
}

/* Whether conn is lost; see db.h. */
bool
db_broken(PGconn *conn)
{
	return conn == NULL || conn == abandoned || PQstatus(conn) == CONNECTION_BAD;
}

/* Whether conn can take a statement; see db.h. */
bool
db_usable(PGconn *conn)
{
	/* nor one left in the middle of a command (a COPY never ended) */
	return !db_broken(conn) && PQpipelineStatus(conn) == PQ_PIPELINE_OFF &&
	       PQtransactionStatus(conn) != PQTRANS_ACTIVE;
}

static void
abandon(PGconn *conn, double started)
{
	abandoned = conn;
	snprintf(abandoned_why, sizeof(abandoned_why),
		 "no answer from the database after %.1fs: call abandoned, connection dropped", now_mono() - started);
}

/*
 * Wait until the socket is readable (or writable, with want_write), at
 * most until limit seconds after started (0: no limit) when there is no
 * hook.  Returns 1 when the socket is ready, 0 when not yet, -1 to give up.
 */
static int
wait_socket(PGconn *conn, bool want_write, double started, double limit)
{
	int fd = PQsocket(conn);
	struct pollfd p;
	int timeout = -1;

	if (fd < 0)
		return -1;
	if (wait_hook != NULL)
		return wait_hook(wait_hook_arg, fd, want_write, now_mono() - started);
	if (limit > 0) {
		double left = started + limit - now_mono();

		if (left <= 0)
			return -1;
		timeout = (int)ceil(left * 1000);
	}
	p.fd = fd;
	p.events = (short)(POLLIN | (want_write ? POLLOUT : 0));
	p.revents = 0;
	if (poll(&p, 1, timeout) < 0)
		return errno == EINTR ? 0 : -1;
	return p.revents != 0;
}

/* Send what libpq holds, reading meanwhile (the server may be writing too); 0, or -1 (abandoned or broken). */
static int
flush_out(PGconn *conn, double started)
{
	for (;;) {
		int r = PQflush(conn);

		if (r == 0)
			return 0;
		if (r < 0)
			return -1;
		if (wait_socket(conn, true, started, 0) < 0) {
			abandon(conn, started);
			return -1;
		}
		if (PQconsumeInput(conn) == 0)
			return -1;
	}
}

/* Wait until PQgetResult() will not block; 0, or -1 (abandoned or broken). */
static int
await_result(PGconn *conn, double started)
{
	if (flush_out(conn, started) < 0)
		return -1;
	while (PQisBusy(conn)) {
		if (wait_socket(conn, false, started, 0) < 0) {
			abandon(conn, started);
			return -1;
		}
		if (PQconsumeInput(conn) == 0)
			return -1;
	}
	return 0;
}

/*
 * Collect every result of what was sent, as PQexec() does: the first
 * error, else the last result.  NULL when sent is false (the send failed),
 * when abandoned, or out of memory.
 */
static PGresult *
finish_call(PGconn *conn, bool sent, double started)
{
	PGresult *keep = NULL, *res;

	if (!sent)
		return NULL;
	for (;;) {
		if (await_result(conn, started) < 0) {
			PQclear(keep);
			return NULL;
		}
		res = PQgetResult(conn);
		if (res == NULL)
			return keep;
		if (keep != NULL && (PQresultStatus(keep) == PGRES_FATAL_ERROR ||
				     PQresultStatus(res) == PGRES_COPY_IN || PQresultStatus(res) == PGRES_COPY_OUT)) {
			PQclear(res);
			continue;
		}
		PQclear(keep);
		keep = res;
	}
}

/* PQexec() without blocking; see db.h. */
PGresult *
db_exec_query(PGconn *conn, const char *query)
{
	double started = now_mono();

	if (conn == abandoned)
		return NULL;
	return finish_call(conn, PQsendQuery(conn, query) == 1, started);
}

/* PQexecParams() without blocking; see db.h. */
PGresult *
db_exec_params(PGconn *conn, const char *command, int n, const Oid *types, const char *const *values,
	       const int *lengths, const int *formats, int result_format)
{
	double started = now_mono();

	if (conn == abandoned)
		return NULL;
	return finish_call(conn, PQsendQueryParams(conn, command, n, types, values, lengths, formats,
						   result_format) == 1, started);
}

/* PQexecPrepared() without blocking; see db.h. */
PGresult *
db_exec_prepared(PGconn *conn, const char *name, int n, const char *const *values, const int *lengths,
		 const int *formats, int result_format)
{
	double started = now_mono();

	if (conn == abandoned)
		return NULL;
	return finish_call(conn, PQsendQueryPrepared(conn, name, n, values, lengths, formats, result_format) == 1,
			   started);
}

/* COPY ... FROM STDIN without blocking; see db.h. */
PGresult *
db_copy_in(PGconn *conn, const char *command, const char *data, size_t len)
{
	/* a message at a time: libpq queues what it is given, the socket takes it as it can */
	const size_t chunk = (size_t)1 << 20;
	double started = now_mono();
	PGresult *res;

	if (conn == abandoned || PQsendQuery(conn, command) != 1 || await_result(conn, started) < 0)
		return NULL;
	res = PQgetResult(conn);
	if (PQresultStatus(res) != PGRES_COPY_IN) {
		/* refused before any data (no such table?): that result, once the call is over */
		PQclear(finish_call(conn, true, started));
		return res;
	}
	PQclear(res);
	/* from here on a failure leaves the connection in the middle of the COPY: it is abandoned, and replaced */
	while (len > 0) {
		size_t n = len < chunk ? len : chunk;
		int r = PQputCopyData(conn, data, (int)n);

		/* each chunk out before the next: libpq's buffer stays a chunk, not the whole data again */
		if (r < 0 || (r == 1 && flush_out(conn, started) < 0))
			goto abandon;
		if (r == 0) {
			/* libpq could not take it: the socket takes what libpq holds first */
			if (flush_out(conn, started) < 0)
				goto abandon;
			continue;
		}
		data += n;
		len -= n;
	}
	for (;;) {
		int r = PQputCopyEnd(conn, NULL);

		if (r < 0)
			goto abandon;
		if (r == 1)
			break;
		if (flush_out(conn, started) < 0)
			goto abandon;
	}
	return finish_call(conn, true, started);
abandon:
	if (conn != abandoned)
		abandon(conn, started);
	return NULL;
}

/* PQprepare() without blocking; see db.h. */
PGresult *
db_prepare_statement(PGconn *conn, const char *name, const char *query, int n, const Oid *types)
{
	double started = now_mono();

	if (conn == abandoned)
		return NULL;
	return finish_call(conn, PQsendPrepare(conn, name, query, n, types) == 1, started);
}

/* PQgetResult() without blocking; see db.h. */
PGresult *
db_get_result(PGconn *conn)
{
	if (conn == abandoned || await_result(conn, now_mono()) < 0)
		return NULL;
	return PQgetResult(conn);
}

/* Whether the statement failed on a lock; see db.h. */
bool
db_error_locked(const PGresult *res)
{
	const char *state = res != NULL ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return state != NULL && strcmp(state, "55P03") == 0;
}

/* Copy the reason res (or else conn) failed into err, on one line. */
void
db_error(PGconn *conn, const PGresult *res, char *err, size_t errlen)
{
	const char *msg = res != NULL ? PQresultErrorMessage(res) : "";

	if ((msg == NULL || msg[0] == '\0') && conn != NULL && conn == abandoned)
		msg = abandoned_why;
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
	PGresult *res = db_exec_query(conn, sql);
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
	PGresult *res = db_exec_params(conn, sql, 1, NULL, &schema, NULL, NULL, 0);
	int rc = 0;

	if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_error(conn, res, err, errlen);
		rc = -1;
	}
	PQclear(res);
	return rc;
}

/*
 * A batch's statements are megabytes: with the default send buffer (about
 * 200 KiB) libpq meets a full socket every few 8 KiB writes, and each time
 * waits (a pass of the HTTP side), reads, and writes again.  A larger
 * buffer where the kernel allows it (net.core.wmem_max caps it): only a
 * hint, a refusal changes nothing else.  Only on a Unix-domain socket: on
 * TCP a set size would turn off the kernel's own tuning, which grows the
 * buffer with the round trip (and further than this) on a distant server.
 */
static void
set_send_buffer(PGconn *conn)
{
	struct sockaddr_storage addr;
	socklen_t alen = sizeof(addr);
	int size = DB_SNDBUF;

	if (getsockname(PQsocket(conn), (struct sockaddr *)&addr, &alen) == 0 && addr.ss_family == AF_UNIX)
		(void)setsockopt(PQsocket(conn), SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
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
	PostgresPollingStatusType st = PGRES_POLLING_WRITING;
	double started = now_mono();
	PGconn *conn;
	char *quoted = NULL;

	/* as PQconnectdbParams() does, but waiting in the loop's hook, for connect_timeout at most */
	conn = PQconnectStartParams(keys, vals, 1);
	if (conn == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (conn == abandoned)
		abandoned = NULL;	/* a new connection where the dropped one was */
	if (PQstatus(conn) == CONNECTION_BAD) {
		db_error(conn, NULL, err, errlen);
		goto fail;
	}
	while (st != PGRES_POLLING_OK) {
		if (st == PGRES_POLLING_FAILED) {
			db_error(conn, NULL, err, errlen);
			goto fail;
		}
		int ready = now_mono() - started >= CONNECT_TIMEOUT ? -1 :
			wait_socket(conn, st == PGRES_POLLING_WRITING, started, CONNECT_TIMEOUT);

		if (ready < 0) {
			snprintf(err, errlen, "no answer from the database after %.1fs while connecting",
				 now_mono() - started);
			goto fail;
		}
		/* PQconnectPoll() only when the socket is ready: it takes a premature call for an answer */
		if (ready > 0)
			st = PQconnectPoll(conn);
	}
	if (PQsetnonblocking(conn, 1) != 0) {
		db_error(conn, NULL, err, errlen);
		goto fail;
	}
	set_send_buffer(conn);
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
			"pg_catalog.set_config('lock_timeout', '2s', false), "
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
	PGresult *res = db_exec_query(conn, sql);
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
	PGresult *res = db_exec_params(conn, "SELECT count(*) FROM pg_catalog.pg_namespace WHERE nspname = $1",
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
		res = db_exec_params(conn, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
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
db_drain_notifies(PGconn *conn, bool readable)
{
	PGnotify *n;
	int count = 0;

	if (readable && PQconsumeInput(conn) == 0)
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
		PGresult *res = db_prepare_statement(conn, st[i].name, st[i].sql, 0, NULL);

		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			db_error(conn, res, err, errlen);
			PQclear(res);
			return -1;
		}
		PQclear(res);
	}
	return 0;
}
