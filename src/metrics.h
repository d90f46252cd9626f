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
	struct histogram request_seconds, store_seconds;
	struct queue_stats queue;
	double in_flight, rate;
	double last_success;	/* Unix time of the last snapshot written, 0 for none yet */
	bool key_refused;	/* fetching is paused because the API refused the key */
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

#endif
