/* Answers of 400 that may be the request's fault (a wrong setting) rather than the run's: held until runs agree. */
#ifndef EXTEND_SYNCD_BADREQ_H
#define EXTEND_SYNCD_BADREQ_H

#include <stdbool.h>
#include <stddef.h>

#include "fetch.h"
#include "outcome.h"

/*
 * Distinct runs that must answer 400 with the same error, one after the
 * other, before the request is taken to be at fault rather than the runs:
 * two could be two bad runs fetched together; three bad runs with the same
 * error at once are less likely than one bad setting, which answers 400 to
 * every run (and the runs wait, untouched, not failed).
 */
#define BADREQ_RUNS 3

struct badreq {
	struct fetch_result **held;	/* 400 answers not judged yet, in arrival order; their claims in ->data */
	size_t nheld, cap;
	double held_at;		/* monotonic time the first of them came */
	char error[256];	/* the error they share: "HTTP 400: CODE: message" */
	bool verifying;		/* a list request asks the API whether it takes the request at all */
	double verify_sent;	/* monotonic time it was sent */
	bool paused;		/* the list request was refused too: fetching paused */
	double until, pause;	/* the next list request, and the pause before it, doubling */
};

/*
 * The list request that asks whether the API takes this daemon's requests:
 * GET /workflow_runs with one run a page, sent with this tag as its data
 * (badreq_is_probe()), which no cancel may take for a sweep's.
 */
extern const char badreq_probe_tag;
#define BADREQ_PROBE ((void *)&badreq_probe_tag)
bool badreq_is_probe(const void *data);

/* What a 400 answer did (badreq_take()). */
enum badreq_outcome {
	BADREQ_HELD,		/* held back, for the next answers to judge */
	BADREQ_JUDGED,		/* recorded as the run's own failure, as any 400 before */
	BADREQ_VERIFY,		/* the last of BADREQ_RUNS in a row: the caller sends the list request and badreq_sent() */
	BADREQ_STILL,		/* paused already (an answer sent before): the run given back untouched */
};

/*
 * A run's 400 answer r (its claim in r->data), which b takes over: held;
 * when it makes BADREQ_RUNS in a row with the same error, the caller asks
 * the API with the list request (BADREQ_VERIFY) and the runs stay held
 * until its answer (badreq_verdict()).  An answer with another error first
 * judges those held (badreq_judge()).  While b is paused the run is given
 * back untouched.
 */
enum badreq_outcome badreq_take(struct badreq *b, const struct outcome_ctx *oc, struct fetch_result *r, double now);

/* The list request was sent (now), or could not be (sent false: the runs held are given back untouched). */
void badreq_sent(struct badreq *b, const struct outcome_ctx *oc, bool sent, double now);

/* Whether the list request is due: paused, none in flight, the pause over. */
bool badreq_probe_due(const struct badreq *b, double now);

/* What the list request's answer meant (badreq_verdict()). */
enum badreq_verdict {
	BADREQ_PAUSED,		/* refused with a 400: the request is at fault; the runs held given back, a pause */
	BADREQ_STILL_PAUSED,	/* refused again while paused: the pause doubled */
	BADREQ_TAKEN,		/* the API took it: the runs held were at fault themselves and fail; a pause ends */
	BADREQ_UNCLEAR,		/* no answer or a refused key: the runs given back; another answer: they fail */
};

/*
 * The list request's answer (HTTP status, 0 for none).  A 400 puts the
 * fault on the request: the runs held go back untouched (due now, no
 * attempt counted) and b pauses, or, paused already, the pause doubles (up
 * to BAD_REQUEST_PAUSE_MAX).  A 2xx says the API takes the request: the
 * runs held fail as their own fault, and so they do when it answers
 * otherwise (5xx, 429, 404: it cannot say the request is wrong), but while
 * paused (the same pause again).  No answer (0: a timeout, a stop, a
 * refused key) decides nothing: the runs go back untouched.
 */
enum badreq_verdict badreq_verdict(struct badreq *b, const struct outcome_ctx *oc, long http_status, double now);

/*
 * The API took another run's request (a 2xx or its own 404): the runs held
 * were at fault themselves and fail as before (badreq_judge(); once the
 * database is back, when it is away); a pause ends.  Returns true when it
 * ended a pause (the caller says so).
 */
bool badreq_accepted(struct badreq *b, const struct outcome_ctx *oc);

/*
 * Judge the runs held as at fault themselves: each 400 recorded as its
 * run's failure (given up on, readable in last_error), as before.  A run
 * whose failure cannot be recorded now (the database away, its row locked)
 * is dropped: it is claimed again when its lease (sync.lease) ends.
 */
void badreq_judge(struct badreq *b, const struct outcome_ctx *oc);

/*
 * Before the wait: runs held with nothing left in flight to judge them by,
 * or held longer than the answers sent with them take (badreq_hold()), are
 * judged (badreq_judge()); busy is what the fetcher holds.  A list request
 * with no answer after its token's wait and api.timeout (taken back from
 * the fetcher unseen) decides nothing.  Not while the database is away.
 */
void badreq_settle(struct badreq *b, const struct outcome_ctx *oc, size_t busy, double now);

/*
 * Seconds a 400 is held for the answers sent with it: BAD_REQUEST_HOLD, or
 * as long as BADREQ_RUNS requests take at api.rate_limit and api.timeout,
 * but at most half of sync.lease.
 */
double badreq_hold(const struct config *cfg);

/* When b has something to do while it waits: the list request given up on, or the next one (0: nothing). */
double badreq_next(const struct badreq *b, const struct config *cfg);

/* Whether claiming waits: paused, or the list request in flight. */
bool badreq_waiting(const struct badreq *b);

/* Give back the runs held, untouched (the stop); b is empty after, its memory freed. */
void badreq_release(struct badreq *b, const struct outcome_ctx *oc);

#endif
