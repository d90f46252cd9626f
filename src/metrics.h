/* Counters, gauges and histograms of the daemon, written as a Prometheus text file. */
#ifndef EXTEND_SYNCD_METRICS_H
#define EXTEND_SYNCD_METRICS_H

#include <stdbool.h>
#include <stddef.h>

#include "queue.h"

#define METRICS_STATUSES 32	/* distinct HTTP statuses counted; later ones are counted as "other" */
#define METRICS_BUCKETS 11

struct histogram {
	const double *bounds;	/* upper bounds, ascending; +Inf is implicit */
	int nbounds;
	unsigned long long counts[METRICS_BUCKETS];	/* per bucket, not cumulative */
	unsigned long long count;
	double sum;
};

struct metrics {
	struct {
		long code;	/* 0: no answer */
		unsigned long long n;
	} requests[METRICS_STATUSES];
	unsigned long long requests_other;
	unsigned long long retries, rate_limited, synced, failed, bytes, store_failures;
	unsigned long long store_transactions;	/* transactions that wrote runs: several runs each under load */
	unsigned long long unchanged;		/* of synced: the stored snapshot already */
	unsigned long long malformed_summaries;	/* list summaries a sweep could not read whole */
	unsigned long long deleted;		/* stored runs found deleted at Extend (a 404) */
	unsigned long long history_pruned;	/* run_status_history rows past sync.history_days deleted */
	struct histogram request_seconds, store_seconds;
	struct queue_stats queue;
	double in_flight, rate;
	double pending_bytes;	/* fetched results held in memory, waiting to be written */
	double last_success;	/* Unix time of the last snapshot written, 0 for none yet */
	bool key_refused;	/* fetching is paused because the API refused the key */
	bool database_up;	/* the loop's connection to the database is usable */
	double counts_age;	/* seconds since the queue's counts were read */
	bool bad_request_paused;	/* fetching is paused because runs in a row answered 400 alike */
};

/* Empty metrics with the standard buckets. */
void metrics_init(struct metrics *m);

/* A finished request: its status (0 for none), how long it took, and the bytes of its body. */
void metrics_request(struct metrics *m, long status, double seconds, size_t bytes);

/* A store transaction and how long it took. */
void metrics_store(struct metrics *m, double seconds);

/* Requests counted so far, all statuses together. */
unsigned long long metrics_requests_total(const struct metrics *m);

/*
 * Write m to path in Prometheus text format, atomically (a temporary file
 * renamed over it), for node_exporter's textfile collector.  Returns 0 or
 * -1 with errno set.
 */
int metrics_write(const struct metrics *m, const char *path) __attribute__((warn_unused_result));

/*
 * Take the lock that says this process writes path: flock() on path.lock
 * (the file itself is replaced at each write), which then holds this
 * process's ID.  Returns the lock's descriptor, to keep open as long as the
 * file is written (closed at exit, the lock goes with it); METRICS_LOCKED
 * with err set when another process holds it; -1 with err set when the
 * lock file cannot be opened (the writes will fail alike, and say why).
 */
int metrics_lock(const char *path, char *err, size_t errlen) __attribute__((warn_unused_result));

#define METRICS_LOCKED (-2)

#endif
