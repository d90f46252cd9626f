/* The database connection: connecting, the schema's migrations, LISTEN, and waiting without blocking. */
#ifndef EXTEND_SYNCD_DB_H
#define EXTEND_SYNCD_DB_H

/*
 * The rule: the loop never calls a blocking libpq function.  A database
 * that stops answering (a lock held for minutes, a stopped server, a
 * network that drops packets) must not stop the watchdog pings, the HTTP
 * transfers or the signals.  Use these drop-in wrappers, which take the
 * same arguments as the libpq function they replace:
 *
 *	PQexec(conn, sql)                        db_exec_query(conn, sql)
 *	PQexecParams(conn, sql, n, ...)          db_exec_params(conn, sql, n, ...)
 *	PQexecPrepared(conn, name, n, ...)       db_exec_prepared(conn, name, n, ...)
 *	PQprepare(conn, name, sql, n, types)     db_prepare_statement(conn, name, sql, n, types)
 *	PQgetResult(conn)  (pipeline mode)       db_get_result(conn)
 *	COPY ... FROM STDIN, PQputCopyData       db_copy_in(conn, command, data, len)
 *	PQconnectdbParams                        db_connect()  (host names looked up off the loop)
 *
 * They send without blocking (the connection is in non-blocking mode:
 * PQsendQuery*, PQpipelineSync and PQsendQueryPrepared in pipeline mode
 * are fine as they are) and wait for the answer in the hook registered
 * with db_set_wait_hook(): wait.c's wait_db(), the one wait, which drives
 * curl, pings the watchdog and watches the signals meanwhile.  When the hook gives up
 * (a second signal, the stop's grace over, no answer for too long) the
 * call returns NULL and the connection is abandoned: every later call on
 * it fails at once, db_usable() says false, and the caller replaces it.
 * Without a hook (the command-line paths) they wait in poll().
 */

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

struct migration {
	int version;
	const char *name;
	const char *sql;
};

/* The numbered files of sql/, in order, ended by a NULL name (generated from sql/ at build time). */
extern const struct migration db_migrations[];

#define DB_ERR_SIZE 512

/*
 * Connect with conninfo ("" means libpq's defaults and PG* variables) and
 * point search_path at schema.  Host names are looked up in a thread (libpq
 * would block on them), waiting in the hook, within the connect timeout.  Returns the connection, which the caller
 * closes with PQfinish(), or NULL with the reason in err.
 */
PGconn *db_connect(const char *conninfo, const char *schema, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Whether err, db_connect()'s reason for a failure, says the server could
 * not be reached or does not take connections yet (refused, no socket, no
 * answer, a name lookup that failed for now, starting up, shutting down,
 * in recovery, too many clients): a later try may succeed.  A refused
 * password, a database or role that does not exist, a host name that is
 * not known: not.  libpq's own messages are English in the C locale the
 * daemon runs in; a server message in another language counts as not.
 */
bool db_unreachable(const char *err);

/*
 * Apply the migrations not yet recorded in schema_migrations (whatever
 * their number beside those recorded), in order, each in its own
 * transaction, serialized between daemons by an advisory lock.  A schema
 * that records a migration this build does not have (a downgrade) is
 * refused.  *applied counts what was applied.  Returns 0 or -1 with err set.
 */
int db_migrate(PGconn *conn, const char *schema, int *applied, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The version of the newest migration this build carries. */
int db_latest_version(void);

/* db_check_version(): the read of schema_migrations waited out lock_timeout or statement_timeout. */
#define DB_CHECK_TIMED_OUT (-2)

/*
 * Check that every migration of this build is recorded, and no other;
 * returns 0, or -1 with err set, or DB_CHECK_TIMED_OUT with err set when
 * another session held the table (VACUUM FULL, a migration's ALTER) or the
 * server was slow: a later try may succeed.
 */
int db_check_version(PGconn *conn, const char *schema, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* LISTEN on the channel enqueue() notifies; returns 0 or -1 with err set. */
int db_listen(PGconn *conn, const char *schema, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Read and drop pending notifications; returns how many there were, or -1
 * when the connection broke.  readable: the socket has something (a wait
 * said so); otherwise only those libpq already read with other replies are
 * taken, without a read that would find nothing.
 */
int db_drain_notifies(PGconn *conn, bool readable);

/* Copy the reason res (or else conn) failed into err, on one line. */
void db_error(PGconn *conn, const PGresult *res, char *err, size_t errlen);

/*
 * Whether the error of res will recur identically when the same statement
 * is sent with the same values: a data exception (SQLSTATE class 22: a
 * value out of range, invalid input), a program limit (class 54: a jsonb
 * value over its maximum size), a NOT NULL or CHECK violation.  Locks,
 * connections, resources and unique or foreign keys (races) are not.
 */
bool db_error_recurs(const PGresult *res);

/* Whether res failed on a lock held by another session (lock_timeout: SQLSTATE 55P03). */
bool db_error_locked(const PGresult *res);

/* Whether res failed on lock_timeout or statement_timeout (SQLSTATE 55P03, 57014): a later try may succeed. */
bool db_error_timed_out(const PGresult *res);

/*
 * Called while a statement waits for fd (readable, or writable too when
 * want_write), waited seconds after the call began.  It returns within a
 * second or so, and not after it is due to give up: 1 when fd is ready,
 * 0 when it is not yet, -1 to abandon the call.  It must not call into
 * this module.
 */
typedef int (*db_wait_hook)(void *arg, int fd, bool want_write, double waited);

/* Wait through hook (NULL: in poll()) from now on, in the calling thread. */
void db_set_wait_hook(db_wait_hook hook, void *arg);

/*
 * The calling thread forgets the connection it abandoned, once whoever
 * owns it has been told (a new connection may come at the same address).
 */
void db_forget_abandoned(void);

/* Whether conn is lost: broken, or abandoned mid-call (see above). */
bool db_broken(PGconn *conn);

/* Whether conn can take a statement: not lost, not in pipeline mode. */
bool db_usable(PGconn *conn);

/* PQexec() without blocking the loop; the caller PQclear()s the result (NULL when abandoned). */
PGresult *db_exec_query(PGconn *conn, const char *query) __attribute__((warn_unused_result));

/* PQexecParams() without blocking the loop; as db_exec_query(). */
PGresult *db_exec_params(PGconn *conn, const char *command, int n, const Oid *types, const char *const *values,
			 const int *lengths, const int *formats, int result_format) __attribute__((warn_unused_result));

/* PQexecPrepared() without blocking the loop; as db_exec_query(). */
PGresult *db_exec_prepared(PGconn *conn, const char *name, int n, const char *const *values, const int *lengths,
			   const int *formats, int result_format) __attribute__((warn_unused_result));

/*
 * COPY ... FROM STDIN (command) of data, len bytes in COPY's format, without
 * blocking the loop; the COPY's result, as db_exec_query().
 */
PGresult *db_copy_in(PGconn *conn, const char *command, const char *data, size_t len)
	__attribute__((warn_unused_result));

/* PQprepare() without blocking the loop; as db_exec_query(). */
PGresult *db_prepare_statement(PGconn *conn, const char *name, const char *query, int n, const Oid *types)
	__attribute__((warn_unused_result));

/* PQgetResult() without blocking the loop (pipeline mode); NULL also when abandoned (see db_usable()). */
PGresult *db_get_result(PGconn *conn) __attribute__((warn_unused_result));

/* A named statement, for db_prepare(). */
struct db_statement {
	const char *name;
	const char *sql;
};

/* Prepare the n statements on conn; returns 0 or -1 with err set. */
int db_prepare(PGconn *conn, const struct db_statement *st, size_t n, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Run statements without parameters (the last one's result counts); returns 0 or -1 with err set. */
int db_exec(PGconn *conn, const char *sql, char *err, size_t errlen);

#endif
