/* One database connection's life: opened, usable, lost, opened again after a back-off, and what is said of it. */
#include <math.h>

#include "clock.h"
#include "db.h"
#include "dbconn.h"
#include "log.h"
#include "timing.h"
#include "wait.h"

/* Server messages on the writer's connection: not logged from its thread (the loop's connection logs them). */
static void
quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* A connection set up; see dbconn.h. */
void
dbconn_init(struct dbconn *dc, enum dbconn_role role, dbconn_setup setup, void *arg)
{
	*dc = (struct dbconn){ .role = role, .setup = setup, .arg = arg, .backoff = DB_RETRY_MIN };
	dc->restored_at = dc->lost_logged_at = -1e9;
}

/* The writer's open failed or succeeded: a lasting failure, tried again every DB_RETRY_MAX. */
static int
writer_opened(struct dbconn *dc, const char *err)
{
	if (dc->conn == NULL) {
		log_lasting_fail(&dc->failing, "could not connect the writer (the loop writes the runs itself "
				 "meanwhile; trying again every %.0fs): %s", DB_RETRY_MAX, err);
		dc->retry_at = now_mono() + DB_RETRY_MAX;
		return -1;
	}
	log_lasting_ok(&dc->failing, "the writer is connected");
	return 0;
}

/* The loop's open failed: said once, then every REPEAT_LOG; tried again after a back-off that doubles. */
static int
loop_failed(struct dbconn *dc, const char *err, double now)
{
	if (!dc->broken || now - dc->logged_at >= REPEAT_LOG) {
		log_error("could not connect to the database: %s", err);
		dc->logged_at = now;
		dc->loss_announced = true;	/* "restored" follows, even after a first connection that failed */
	}
	if (!dc->broken)
		dc->lost_at = now;
	dc->broken = true;
	dc->retry_at = now + dc->backoff;
	dc->backoff = fmin(dc->backoff * 2, DB_RETRY_MAX);
	return -1;
}

/* Connect and prepare; see dbconn.h. */
int
dbconn_open(struct dbconn *dc, const struct config *cfg)
{
	char err[DB_ERR_SIZE];
	double now = now_mono();

	dc->conn = db_connect(cfg->database.conninfo, cfg->database.schema, err, sizeof(err));
	if (dc->conn != NULL) {
		PQsetNoticeProcessor(dc->conn, dc->role == DBCONN_LOOP ? log_server_message : quiet_notice, NULL);
		if (dc->setup(dc->conn, dc->arg, err, sizeof(err)) < 0) {
			PQfinish(dc->conn);
			dc->conn = NULL;
		}
	}
	if (dc->role == DBCONN_WRITER)
		return writer_opened(dc, err);
	if (dc->conn == NULL)
		return loop_failed(dc, err, now);
	if (dc->broken) {
		if (dc->loss_announced)
			log_info("database connection restored after %.1fs", now - dc->lost_at);
		dc->restored_at = now;
	}
	dc->loss_announced = false;
	dc->broken = false;
	return 0;
}

/* Whether a new connection is due; see dbconn.h. */
bool
dbconn_due(const struct dbconn *dc, double now)
{
	return dc->conn == NULL && now >= dc->retry_at;
}

/* Whether the loop's connection is gone; see dbconn.h. */
bool
dbconn_gone(struct dbconn *dc)
{
	double now = now_mono();
	bool flapping;

	if (dc->conn == NULL)
		return true;
	/* a connection stuck in pipeline mode, or abandoned mid-call, serves no other statement: replace it too */
	if (db_usable(dc->conn))
		return false;
	/* lost again soon after it came back: keep backing off, and say so only now and then */
	flapping = now - dc->restored_at < 10 * DB_RETRY_MAX;
	if (!flapping || now - dc->lost_logged_at >= REPEAT_LOG) {
		char why[DB_ERR_SIZE];

		db_error(dc->conn, NULL, why, sizeof(why));
		log_error("lost the database connection (%s); reconnecting", why);
		dc->lost_logged_at = now;
		dc->loss_announced = true;
	}
	PQfinish(dc->conn);
	dc->conn = NULL;
	dc->broken = true;
	dc->lost_at = now;
	dc->logged_at = flapping ? now : -REPEAT_LOG;	/* the first failed reconnect says why */
	if (!flapping)
		dc->backoff = DB_RETRY_MIN;
	dc->retry_at = flapping ? now + dc->backoff : now;
	return true;
}

/* The writer's connection lost; see dbconn.h. */
void
dbconn_lost(struct dbconn *dc, const char *why)
{
	log_warning("the writer lost its database connection (%s): its runs wait to be written again; reconnecting",
		    why[0] != '\0' ? why : "connection closed");
	PQfinish(dc->conn);
	dc->conn = NULL;
	dc->retry_at = now_mono();
}

/* The socket to watch for NOTIFY. */
static int
listen_fd(void *arg, short *events)
{
	struct dbconn *dc = arg;

	*events = WAIT_IN;
	return dc->conn != NULL ? PQsocket(dc->conn) : -1;
}

/* After a wait: the notifications that came, read; the socket is read when it was readable (or not watched). */
static void
listen_done(void *arg, int revents)
{
	struct dbconn *dc = arg;
	int n;

	if (dc->conn == NULL)
		return;
	n = db_drain_notifies(dc->conn, revents != 0);
	if (n > 0)
		dc->notified(dc->notified_arg);
	else if (n < 0)
		(void)dbconn_gone(dc);
}

/* A source of the wait; see dbconn.h. */
int
dbconn_listen(struct dbconn *dc, void (*notified)(void *arg), void *arg)
{
	dc->notified = notified;
	dc->notified_arg = arg;
	return wait_add_source(listen_fd, listen_done, dc, 0);
}

/* Close; see dbconn.h. */
void
dbconn_close(struct dbconn *dc)
{
	if (dc->conn != NULL)
		PQfinish(dc->conn);
	dc->conn = NULL;
}
