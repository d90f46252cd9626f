/* Fetches workflow runs over HTTP: one curl multi handle, a concurrency cap and a request rate limit. */
#ifndef EXTEND_SYNCD_FETCH_H
#define EXTEND_SYNCD_FETCH_H

#include <stdbool.h>
#include <stddef.h>

#include <curl/curl.h>

#include "buf.h"
#include "config.h"

/* What a request asked for. */
enum fetch_kind {
	FETCH_RUN,		/* GET /workflow_runs/{run_id} */
	FETCH_LIST,		/* a page of GET /workflow_runs */
};

/* A finished request. */
struct fetch_result {
	enum fetch_kind kind;
	char *run_id;		/* FETCH_RUN: the run; FETCH_LIST: NULL */
	void *data;		/* the caller's, from fetch_submit() */
	long http_status;	/* 0 when no answer arrived */
	bool too_big;		/* the body passed api.max_response_size */
	char error[CURL_ERROR_SIZE + 64]; /* transfer failure, "" when the HTTP exchange completed */
	double retry_after;	/* seconds the server asked to wait, or -1 */
	double seconds;		/* from sending to completion */
	struct buf body;
};

struct fetcher;

/*
 * The request headers (Authorization, API version, workspace, Accept) for
 * cfg and key: a new list freed with fetch_headers_free(), which wipes the
 * key; NULL when out of memory.
 */
struct curl_slist *fetch_headers_new(const struct config *cfg, const char *api_key)
	__attribute__((warn_unused_result));

void fetch_headers_free(struct curl_slist *h);

/*
 * The settings every request of the daemon has: user agent, timeouts, the
 * body cap, verified TLS, no redirects, http and https only.
 */
void fetch_easy_defaults(CURL *e, long timeout_ms, long long max_body);

/*
 * A fetcher for cfg's API settings with the given key (copied, and wiped
 * when freed).  Returns NULL with a reason in err.
 */
struct fetcher *fetch_new(const struct config *cfg, const char *api_key, char *err, size_t errlen)
	__attribute__((warn_unused_result));

void fetch_free(struct fetcher *f);

/*
 * Apply a reloaded configuration and key: rate, concurrency, timeout, body
 * cap, URL and headers hold for requests sent from now on.  Returns 0 or
 * -1 with err set (f unchanged but for what was already applied).
 */
int fetch_configure(struct fetcher *f, const struct config *cfg, const char *api_key, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * The API answered 429: the key is over its budget.  Halve the rate for
 * every request, once per second however many 429s a burst brings (it
 * recovers a little with each later answer), and send nothing for
 * retry_after seconds (or one interval of the new rate).
 */
void fetch_throttle(struct fetcher *f, double retry_after);

/*
 * The rate limiter's rule, pure: the earliest time the next request may
 * leave, given the times the latest ones left (sent, a ring of n entries
 * with pos the next to write; INFINITY for one started but not sent yet),
 * the rate, when the last one was started, and a hold.  No one-second
 * window holds more than max(1, floor(rate)) requests; below one a second,
 * sends are 1/rate apart from when the previous one really left.
 */
double fetch_send_after(const double *sent, size_t n, size_t pos, double rate, double last_start, double hold_until);

/* Requests per second allowed now: api.rate_limit or this daemon's share of it, less after 429s. */
double fetch_current_rate(const struct fetcher *f);

/* Seconds until the server's wait (a 429's Retry-After) is over; 0 when none holds. */
double fetch_hold_remaining(const struct fetcher *f);

/*
 * Send at most rate requests per second (this daemon's share of
 * api.rate_limit; 0: none) and nothing from monotonic time until on, until
 * called again.  The window of fetch_wait() applies to the share, made
 * margin seconds longer (when more than the usual margin).
 */
void fetch_set_share(struct fetcher *f, double rate, double margin, double until);

/*
 * Start no transfer while room or more are in flight (SIZE_MAX: only
 * api.max_in_flight counts; 0: none starts), until called again: what the
 * caller's memory allows their bodies.  Queued requests wait.
 */
void fetch_set_room(struct fetcher *f, size_t room);

/* Transfers started and not yet taken with fetch_next_result(), finished or not. */
size_t fetch_in_flight(const struct fetcher *f);

/* The monotonic time the latest request left (or was abandoned); long ago when none did. */
double fetch_last_send(const struct fetcher *f);

/*
 * Queue GET /workflow_runs/{run_id}; it is sent when a concurrency slot is
 * free and the rate limit allows.  run_id must already be valid.  Returns
 * 0 or -ENOMEM.
 */
int fetch_submit(struct fetcher *f, const char *run_id, void *data) __attribute__((warn_unused_result));

/*
 * Queue GET path_query (from discover_list_path(), already encoded), a
 * list request, like fetch_submit(): the same queue, rate limit and
 * concurrency cap.  Its result has kind FETCH_LIST and run_id NULL.
 * Returns 0 or -ENOMEM.
 */
int fetch_submit_list(struct fetcher *f, const char *path_query, void *data) __attribute__((warn_unused_result));

/* Requests queued or in flight. */
size_t fetch_busy(const struct fetcher *f);

/*
 * Start what may start, then wait until a transfer needs attention, one of
 * extra fds is readable, or timeout_ms passes (shortened to the next rate
 * slot).  Returns 0 or -1 when curl failed (err set).
 */
int fetch_wait(struct fetcher *f, struct curl_waitfd *extra, unsigned nextra, int timeout_ms,
	       char *err, size_t errlen) __attribute__((warn_unused_result));

/*
 * As fetch_wait(), but only the transfers in flight are driven: nothing
 * new starts, and results already waiting to be taken do not cut the wait
 * short.  For a wait that cannot take them (a database call, whose caller
 * takes them with fetch_next_result() once it returns), and that may come
 * from inside fetch_cancel_queued()'s callback.
 */
int fetch_drive(struct fetcher *f, struct curl_waitfd *extra, unsigned nextra, int timeout_ms, char *err,
		size_t errlen) __attribute__((warn_unused_result));

/* Drive transfers and return one finished result (the caller's, freed with fetch_result_free()), or NULL. */
struct fetch_result *fetch_next_result(struct fetcher *f);

void fetch_result_free(struct fetch_result *r);

/*
 * Take back the queued requests that were not sent yet: calls fn for each
 * (run_id NULL for a list request),
 * then forgets them.  Used at shutdown, so their leases can be released.
 */
void fetch_cancel_queued(struct fetcher *f, void (*fn)(const char *run_id, void *data, void *arg), void *arg);

/* Abort every transfer in flight, reporting each like fetch_cancel_queued(). */
void fetch_cancel_all(struct fetcher *f, void (*fn)(const char *run_id, void *data, void *arg), void *arg);

#endif
