/* Counters, gauges and histograms of the daemon, written as a Prometheus text file. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"

#ifndef PACKAGE_VERSION
#define PACKAGE_VERSION "0"
#endif

static const double request_bounds[] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60 };
static const double store_bounds[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5 };

static void
histogram_init(struct histogram *h, const double *bounds, int n)
{
	memset(h, 0, sizeof(*h));
	h->bounds = bounds;
	h->nbounds = n;
}

static void
histogram_observe(struct histogram *h, double v)
{
	int i = 0;

	while (i < h->nbounds && v > h->bounds[i])
		i++;
	h->counts[i]++;
	h->count++;
	h->sum += v;
}

void
metrics_init(struct metrics *m)
{
	memset(m, 0, sizeof(*m));
	histogram_init(&m->request_seconds, request_bounds, (int)(sizeof(request_bounds) / sizeof(double)));
	histogram_init(&m->store_seconds, store_bounds, (int)(sizeof(store_bounds) / sizeof(double)));
}

void
metrics_request(struct metrics *m, long status, double seconds, size_t bytes)
{
	int i;

	for (i = 0; i < METRICS_STATUSES && m->requests[i].n > 0; i++) {
		if (m->requests[i].code == status)
			break;
	}
	if (i == METRICS_STATUSES) {
		m->requests_other++;
	} else {
		m->requests[i].code = status;
		m->requests[i].n++;
	}
	if (status == 429)
		m->rate_limited++;
	m->bytes += bytes;
	histogram_observe(&m->request_seconds, seconds);
}

void
metrics_store(struct metrics *m, double seconds)
{
	histogram_observe(&m->store_seconds, seconds);
}

unsigned long long
metrics_requests_total(const struct metrics *m)
{
	unsigned long long n = m->requests_other;

	for (int i = 0; i < METRICS_STATUSES && m->requests[i].n > 0; i++)
		n += m->requests[i].n;
	return n;
}

static void
family(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP extend_syncd_%s %s\n# TYPE extend_syncd_%s %s\n", name, help, name, type);
}

static void
counter(FILE *f, const char *name, const char *help, unsigned long long v)
{
	family(f, name, "counter", help);
	fprintf(f, "extend_syncd_%s %llu\n", name, v);
}

/* 15 significant digits: 5.001, not 5.0010000000000003 (counts stay exact to 10^15) */
static void
gauge(FILE *f, const char *name, const char *help, double v)
{
	family(f, name, "gauge", help);
	fprintf(f, "extend_syncd_%s %.15g\n", name, v);
}

static void
histogram(FILE *f, const char *name, const char *help, const struct histogram *h)
{
	unsigned long long cum = 0;

	family(f, name, "histogram", help);
	for (int i = 0; i < h->nbounds; i++) {
		cum += h->counts[i];
		fprintf(f, "extend_syncd_%s_bucket{le=\"%g\"} %llu\n", name, h->bounds[i], cum);
	}
	fprintf(f, "extend_syncd_%s_bucket{le=\"+Inf\"} %llu\n", name, h->count);
	fprintf(f, "extend_syncd_%s_sum %.15g\nextend_syncd_%s_count %llu\n", name, h->sum, name, h->count);
}

static void
write_all(FILE *f, const struct metrics *m)
{
	family(f, "requests_total", "counter", "HTTP requests to the Extend API by status (0: no answer)");
	for (int i = 0; i < METRICS_STATUSES && m->requests[i].n > 0; i++)
		fprintf(f, "extend_syncd_requests_total{status=\"%ld\"} %llu\n", m->requests[i].code, m->requests[i].n);
	if (m->requests_other > 0)
		fprintf(f, "extend_syncd_requests_total{status=\"other\"} %llu\n", m->requests_other);
	counter(f, "retries_total", "Failed attempts that will be retried", m->retries);
	counter(f, "rate_limited_total", "Requests answered 429", m->rate_limited);
	counter(f, "snapshots_written_total", "Run snapshots written (a run in motion is written at each fetch)",
		m->synced);
	/* the older name of the same counter, kept so that existing dashboards go on working */
	counter(f, "runs_synced_total", "Run snapshots written (the older name of snapshots_written_total)",
		m->synced);
	counter(f, "runs_failed_total", "Runs given up on (state failed)", m->failed);
	counter(f, "history_rows_pruned_total",
		"run_status_history rows older than sync.history_days deleted (the latest of each run kept)",
		m->history_pruned);
	counter(f, "runs_deleted_total", "Stored runs found deleted at Extend (a 404): rows kept, deleted_at set",
		m->deleted);
	counter(f, "response_bytes_total", "Bytes of response bodies received", m->bytes);
	counter(f, "store_failures_total", "Store transactions that failed", m->store_failures);
	counter(f, "store_transactions_total",
		"Transactions that wrote fetched runs (snapshots_written_total / this: runs per transaction)",
		m->store_transactions);
	counter(f, "snapshots_unchanged_total",
		"Snapshots written that were the stored one already: only their queue rows changed", m->unchanged);
	counter(f, "discovery_malformed_summaries_total",
		"List summaries a sweep read without a valid id, status or updatedAt (skipped or kept in part)",
		m->malformed_summaries);
	family(f, "queue_runs", "gauge", "Runs in the queue by state");
	fprintf(f, "extend_syncd_queue_runs{state=\"pending\"} %lld\n", m->queue.pending);
	fprintf(f, "extend_syncd_queue_runs{state=\"done\"} %lld\n", m->queue.done);
	fprintf(f, "extend_syncd_queue_runs{state=\"failed\"} %lld\n", m->queue.failed);
	gauge(f, "queue_counts_age_seconds", "Seconds since the queue's counts (queue_runs, due_runs, oldest_due_seconds) "
	      "were read: they are read with each write of this file, done runs once a minute; it grows while the "
	      "database is away", m->counts_age);
	gauge(f, "database_up", "1 while the daemon's connection to the database is usable, else 0", m->database_up ? 1 : 0);
	gauge(f, "due_runs", "Pending runs due now", (double)m->queue.due);
	gauge(f, "oldest_due_seconds", "How late the longest-waiting due run is", m->queue.oldest_due);
	gauge(f, "in_flight", "Requests queued or in flight in this daemon", m->in_flight);
	gauge(f, "pending_bytes", "Bytes of fetched results waiting in memory to be written (see sync.max_pending_bytes)",
	      m->pending_bytes);
	gauge(f, "rate_limit", "Requests per second this daemon may send now: its share of api.rate_limit, lower after 429s", m->rate);
	gauge(f, "last_success_timestamp_seconds", "Unix time of the last snapshot written (0: none since start)",
	      m->last_success);
	gauge(f, "api_key_refused", "1 while fetching is paused because the API refused the key, else 0",
	      m->key_refused ? 1 : 0);
	gauge(f, "api_bad_request_paused", "1 while fetching is paused because the API answered 400 (bad request) "
	      "alike to runs in a row: check api.version and api.base_url; else 0", m->bad_request_paused ? 1 : 0);
	family(f, "build_info", "gauge", "The version of extend-syncd writing this file");
	fprintf(f, "extend_syncd_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);
	gauge(f, "metrics_written_timestamp_seconds", "Unix time this file was written (a stale file is a stuck daemon)",
	      (double)time(NULL));
	histogram(f, "request_duration_seconds", "Time from sending a request to its completion",
		  &m->request_seconds);
	histogram(f, "store_duration_seconds", "Time to write one run in its transaction", &m->store_seconds);
}

/* Write atomically; see metrics.h. */
int
metrics_write(const struct metrics *m, const char *path)
{
	char tmp[4096];
	FILE *f;
	int saved;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	f = fopen(tmp, "we");
	if (f == NULL)
		return -1;
	/* node_exporter reads it as another user; the unit's UMask=0077 would hide it */
	(void)fchmod(fileno(f), 0644);
	write_all(f, m);
	if (fflush(f) != 0 || ferror(f)) {
		saved = errno;
		fclose(f);
		unlink(tmp);
		errno = saved;
		return -1;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		saved = errno;
		unlink(tmp);
		errno = saved;
		return -1;
	}
	return 0;
}

/* This process's ID in the lock file, for the message of the next one to try. */
static int
note_holder(int fd)
{
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());

	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, (size_t)n, 0) != n)
		return -1;
	return 0;
}

/* Lock path for this process; see metrics.h. */
int
metrics_lock(const char *path, char *err, size_t errlen)
{
	char lock[4096], pid[32];
	ssize_t n;
	int fd, saved;

	if (snprintf(lock, sizeof(lock), "%s.lock", path) >= (int)sizeof(lock)) {
		snprintf(err, errlen, "log.metrics_file \"%s\": name too long", path);
		return -1;
	}
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "could not open \"%s\", the lock of log.metrics_file: %s", lock, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		saved = errno;
		if (saved != EWOULDBLOCK) {
			snprintf(err, errlen, "could not lock \"%s\": %s", lock, strerror(saved));
			close(fd);
			return -1;
		}
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strspn(pid, "0123456789")] = '\0';
		snprintf(err, errlen, "log.metrics_file \"%s\" is written by another extend-syncd (process %s holds "
			 "\"%s\"): give each daemon its own file", path, pid[0] != '\0' ? pid : "unknown", lock);
		close(fd);
		return METRICS_LOCKED;
	}
	/* the lock holds all the same if this fails: only the next one's message lacks the process */
	(void)note_holder(fd);
	return fd;
}
