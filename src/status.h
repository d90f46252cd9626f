/* What the daemon says of itself: systemd's STATUS=, the metrics file, and the summary line once a minute. */
#ifndef EXTEND_SYNCD_STATUS_H
#define EXTEND_SYNCD_STATUS_H

#include <stddef.h>

#include "dbconn.h"
#include "log.h"
#include "metrics.h"

struct status {
	double next;		/* when the status is refreshed next (STATUS_EVERY) */
	double next_progress;	/* --drain, --once: when the progress line is due (PROGRESS_EVERY) */
	double next_summary, next_finished_count;	/* next_finished_count: when done runs are counted */
	double counted_at;	/* when the queue's counts were last read (the start, before) */
	unsigned long long requests;	/* requests counted at the last status */
	double at;		/* when the last status was made */
	struct metrics summary_base;	/* the counters at the last summary line */
	struct log_lasting metrics_failing;
};

/* Make the next status (st->next) a timer of the wait; 0 or -1 (the registry is full). */
int status_setup(struct status *st) __attribute__((warn_unused_result));

/* Start counting at now. */
void status_init(struct status *st, double now);

/*
 * Refresh the queue's counts in m on db's connection (none: not now; done
 * runs, a full scan, once a minute, or when next_finished_count is set to
 * 0), and say in m whether the connection is usable and how old the counts
 * are.  A failure on a connection that is fine lasts in failing.
 */
void status_count(struct status *st, struct dbconn *db, struct metrics *m, struct log_lasting *failing, double now);

/*
 * Publish m: systemd's STATUS= (prefix: "" or what is wrong, as "database
 * unreachable; "), the metrics file (metrics_file: "" for none), and the
 * summary line when due.
 */
void status_publish(struct status *st, const struct metrics *m, const char *metrics_file, const char *prefix,
		    double now);

#endif
