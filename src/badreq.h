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
	bool paused;		/* BADREQ_RUNS runs in a row answered 400 alike: fetching paused */
	double until, pause;	/* the next probe (one run), and the pause before it, doubling */
};

/* What a 400 answer did (badreq_take()). */
enum badreq_outcome {
	BADREQ_HELD,		/* held back, for the next answers to judge */
	BADREQ_JUDGED,		/* recorded as the run's own failure, as any 400 before */
	BADREQ_PAUSED,		/* the last of BADREQ_RUNS in a row: fetching pauses (the caller says so) */
	BADREQ_STILL,		/* paused already (a late answer or a probe): the run given back untouched */
};

/*
 * A run's 400 answer r (its claim in r->data), which b takes over: held,
 * or, when it makes BADREQ_RUNS in a row with the same error, every run held
 * is given back untouched (due now, no attempt counted) and b pauses.  An
 * answer with another error first judges those held (badreq_judge()).
 * While b is paused the run is given back untouched, and a probe's 400
 * doubles the pause (up to BAD_REQUEST_PAUSE_MAX); that returns
 * BADREQ_STILL, and the caller logs it when b->until moved.
 */
enum badreq_outcome badreq_take(struct badreq *b, const struct outcome_ctx *oc, struct fetch_result *r, double now);

/*
 * The API took another run's request (a 2xx or its own 404): the runs held
 * were at fault themselves and fail as before (badreq_judge(); once the
 * database is back, when it is away); a pause
 * ends.  Returns true when it ended a pause (the caller says so).
 */
bool badreq_accepted(struct badreq *b, const struct outcome_ctx *oc);

/*
 * Judge the runs held as at fault themselves: each 400 recorded as its
 * run's failure (given up on, readable in last_error), as before.  A run
 * whose failure cannot be recorded now (the database away, its row locked)
 * is dropped: its lease ends and it is fetched again.
 */
void badreq_judge(struct badreq *b, const struct outcome_ctx *oc);

/*
 * Before the wait: runs held with nothing left in flight to judge them by,
 * or held for BAD_REQUEST_HOLD, are judged (badreq_judge()); busy is what
 * the fetcher holds.  Not while the database is away.
 */
void badreq_settle(struct badreq *b, const struct outcome_ctx *oc, size_t busy, double now);

/*
 * An answer that says nothing of the request (no answer, 429, 5xx): while
 * paused, the next probe comes after the same pause again.
 */
void badreq_unclear(struct badreq *b, double now);

/* Whether claiming waits: paused with the next probe not due, or a probe in flight (busy > 0). */
bool badreq_waiting(const struct badreq *b, size_t busy, double now);

/* Give back the runs held, untouched (the stop); b is empty after, its memory freed. */
void badreq_release(struct badreq *b, const struct outcome_ctx *oc);

#endif
