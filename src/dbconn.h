/* One database connection's life: opened, usable, lost, opened again after a back-off, and what is said of it. */
#ifndef EXTEND_SYNCD_DBCONN_H
#define EXTEND_SYNCD_DBCONN_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

#include "config.h"
#include "log.h"

/*
 * The two connections of the daemon.  The loop's serves the queue, the
 * sweeps, the budget and NOTIFY: lost, it is opened again with a back-off
 * from DB_RETRY_MIN, doubling to DB_RETRY_MAX, and the loss and its end
 * are logged (and, while it flaps, only every REPEAT_LOG).  The writer's
 * serves the writer thread alone: lost, it is opened again at once, and a
 * failed open tries again every DB_RETRY_MAX (the loop writes meanwhile);
 * its server messages are not logged (they would come from its thread).
 */
enum dbconn_role {
	DBCONN_LOOP,
	DBCONN_WRITER,
};

/* Prepares a new connection (statements, LISTEN); returns 0 or -1 with err set. */
typedef int (*dbconn_setup)(PGconn *conn, void *arg, char *err, size_t errlen);

struct dbconn {
	PGconn *conn;		/* NULL: not connected */
	double retry_at;	/* when not connected: when to try again */

	enum dbconn_role role;
	dbconn_setup setup;
	void *arg;
	bool broken;		/* lost, or never opened: retried at retry_at */
	double backoff, lost_at, logged_at, restored_at, lost_logged_at;
	bool loss_announced;	/* "lost" was logged: "restored" will be too */
	struct log_lasting failing;	/* the writer's: it cannot connect */
	void (*notified)(void *arg);	/* the loop's: a NOTIFY came */
	void *notified_arg;
};

/* Set dc up, not connected, due at once; setup(arg) prepares each connection made. */
void dbconn_init(struct dbconn *dc, enum dbconn_role role, dbconn_setup setup, void *arg);

/* Connect with cfg's database settings and prepare; on failure log as the role says and back off.  0 or -1. */
int dbconn_open(struct dbconn *dc, const struct config *cfg) __attribute__((warn_unused_result));

/* Whether it is not connected and its back-off is over. */
bool dbconn_due(const struct dbconn *dc, double now);

/*
 * After a failed statement on the loop's connection: whether it is gone
 * (broken, abandoned mid-call, or stuck in pipeline mode), in which case it
 * is closed, the loss logged, and a new one is due after the back-off.
 */
bool dbconn_gone(struct dbconn *dc);

/* The writer's connection went away (why: the reason, "" when unknown): closed, logged, due again at once. */
void dbconn_lost(struct dbconn *dc, const char *why);

/*
 * The loop's connection as a source of the wait (wait.h): its socket is
 * watched, and after every wait the notifications that came are read (also
 * those that came with the replies to other statements); when any did,
 * notified(arg) is called, and a connection found gone is dropped.
 * Returns 0 or -1 (the registry is full).
 */
int dbconn_listen(struct dbconn *dc, void (*notified)(void *arg), void *arg) __attribute__((warn_unused_result));

/* Close it (at the end). */
void dbconn_close(struct dbconn *dc);

#endif
