/* The database connection: connecting, the schema's migrations, LISTEN. */
#ifndef EXTEND_SYNCD_DB_H
#define EXTEND_SYNCD_DB_H

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
 * point search_path at schema.  Returns the connection, which the caller
 * closes with PQfinish(), or NULL with the reason in err.
 */
PGconn *db_connect(const char *conninfo, const char *schema, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Apply the migrations not yet recorded in schema_migrations, each in its
 * own transaction, serialized between daemons by an advisory lock.
 * *applied counts what was applied.  Returns 0 or -1 with err set.
 */
int db_migrate(PGconn *conn, const char *schema, int *applied, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* The version of the newest migration this build carries. */
int db_latest_version(void);

/* Check that the schema is at the version this build needs; returns 0 or -1 with err set. */
int db_check_version(PGconn *conn, const char *schema, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* LISTEN on the channel enqueue() notifies; returns 0 or -1 with err set. */
int db_listen(PGconn *conn, const char *schema, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/* Read and drop pending notifications; returns how many there were, or -1 when the connection broke. */
int db_drain_notifies(PGconn *conn);

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

/* Run a statement without parameters that returns no rows; returns 0 or -1 with err set. */
/* A named statement, for db_prepare(). */
struct db_statement {
	const char *name;
	const char *sql;
};

/* Prepare the n statements on conn; returns 0 or -1 with err set. */
int db_prepare(PGconn *conn, const struct db_statement *st, size_t n, char *err, size_t errlen)
	__attribute__((warn_unused_result));

int db_exec(PGconn *conn, const char *sql, char *err, size_t errlen);

#endif
