/* What the daemon says of itself: systemd's STATUS=, the metrics file, and the summary line once a minute. */
#include <errno.h>
#include <math.h>
#include <string.h>

#include "db.h"
#include "notify.h"
#include "queue.h"
#include "status.h"
#include "timing.h"
#include "wait.h"

/* The next status as a timer of the wait. */
static double
status_timer(void *arg, double now)
{
	const struct status *st = arg;

	(void)now;
	return st->next;
}

/* Register the timer; see status.h. */
int
status_setup(struct status *st)
{
	return wait_add_timer(status_timer, st, 0);
}

/* Start; see status.h. */
void
status_init(struct status *st, double now)
{
	st->at = now;
	st->counted_at = now;
	st->next_summary = now + SUMMARY_EVERY;
	st->next_progress = now + PROGRESS_EVERY;
	metrics_init(&st->summary_base);
}

/* The queue's counts; see status.h. */
void
status_count(struct status *st, struct dbconn *db, struct metrics *m, struct log_lasting *failing, double now)
{
	char err[DB_ERR_SIZE];

	/* done runs only grow: counting them (a full scan) once a minute is enough */
	if (db->conn != NULL && queue_stats(db->conn, &m->queue, now >= st->next_finished_count, err,
					    sizeof(err)) < 0) {
		if (!dbconn_gone(db))
			log_lasting_fail(failing, "could not count the queue: %s", err);
	} else if (db->conn != NULL) {
		st->counted_at = now;
		if (now >= st->next_finished_count)
			st->next_finished_count = now + SUMMARY_EVERY;
	}
	/* while the database is away the counts are the last read: the file says so */
	m->database_up = db->conn != NULL && db_usable(db->conn);
	m->counts_age = round((now - st->counted_at) * 1000) / 1000;	/* to the millisecond */
}

/* The line of the last minute. */
static void
summary(struct status *st, const struct metrics *m, unsigned long long requests, double now)
{
	const struct metrics *b = &st->summary_base;

	log_notice("last minute: %llu snapshots written, %llu requests, %llu retries, %llu failed; queue: "
		  "%lld pending (%lld due, the oldest %.0fs late), %lld done, %lld failed",
		  m->synced - b->synced, requests - metrics_requests_total(b), m->retries - b->retries,
		  m->failed - b->failed, m->queue.pending, m->queue.due, m->queue.oldest_due,
		  m->queue.done, m->queue.failed);
	st->summary_base = *m;
	st->next_summary = now + SUMMARY_EVERY;
}

/* Publish; see status.h. */
void
status_publish(struct status *st, const struct metrics *m, const char *metrics_file, const char *prefix, double now)
{
	unsigned long long requests = metrics_requests_total(m);
	double rate = now > st->at ? (double)(requests - st->requests) / (now - st->at) : 0;

	st->requests = requests;
	st->at = now;
	(void)notify_send("STATUS=%s%llu snapshots written, %.0f in flight, %lld due, %llu failed, %.1f requests/s",
			  prefix, m->synced, m->in_flight, m->queue.due, m->failed, rate);
	if (metrics_file[0] != '\0') {
		if (metrics_write(m, metrics_file) < 0)
			log_lasting_fail(&st->metrics_failing, "could not write log.metrics_file \"%s\": %s",
					 metrics_file, strerror(errno));
		else
			log_lasting_ok(&st->metrics_failing, "log.metrics_file written");
	}
	if (now >= st->next_summary)
		summary(st, m, requests, now);
}
