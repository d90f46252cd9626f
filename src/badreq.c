/* Answers of 400 that may be the request's fault (a wrong setting) rather than the run's: held until runs agree. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "badreq.h"
#include "log.h"
#include "normalize.h"
#include "timing.h"

/* Hold r; false when out of memory (then it is judged alone). */
static bool
hold(struct badreq *b, struct fetch_result *r, double now)
{
	if (b->nheld == b->cap) {
		size_t cap = b->cap != 0 ? b->cap * 2 : BADREQ_RUNS;
		struct fetch_result **more = realloc(b->held, cap * sizeof(*more));

		if (more == NULL)
			return false;
		b->held = more;
		b->cap = cap;
	}
	if (b->nheld == 0)
		b->held_at = now;
	b->held[b->nheld++] = r;
	return true;
}

/* One 400 as its run's own failure, as before: outcome_answer() records it (given up on). */
static void
judge_one(const struct outcome_ctx *oc, struct fetch_result *r)
{
	struct run_rows *rr;

	/* -1 (the database away, the row locked): dropped, its lease ends and the run is fetched again */
	(void)outcome_answer(oc, r, &rr);
	queue_claim_free(r->data);
	fetch_result_free(r);
}

/* Judge; see badreq.h. */
void
badreq_judge(struct badreq *b, const struct outcome_ctx *oc)
{
	for (size_t i = 0; i < b->nheld; i++)
		judge_one(oc, b->held[i]);
	b->nheld = 0;
	b->error[0] = '\0';
}

/* Give back the runs held, untouched (due now, no attempt counted); b keeps its memory and its error. */
static void
give_back(struct badreq *b, const struct outcome_ctx *oc)
{
	for (size_t i = 0; i < b->nheld; i++) {
		outcome_release(oc, b->held[i]->data);
		fetch_result_free(b->held[i]);
	}
	b->nheld = 0;
}

/* Take a 400; see badreq.h. */
enum badreq_outcome
badreq_take(struct badreq *b, const struct outcome_ctx *oc, struct fetch_result *r, double now)
{
	char error[sizeof(b->error)];

	if (b->paused) {
		outcome_release(oc, r->data);
		fetch_result_free(r);
		if (now >= b->until) {
			/* the probe: still refused */
			b->pause = fmin(b->pause * 2, BAD_REQUEST_PAUSE_MAX);
			b->until = now + b->pause;
		}
		return BADREQ_STILL;
	}
	normalize_http_error(r->http_status, r->body.data, r->body.len, error, sizeof(error));
	if (b->nheld > 0 && strcmp(error, b->error) != 0)
		badreq_judge(b, oc);	/* another error: no setting answers two ways */
	if (!hold(b, r, now)) {
		judge_one(oc, r);
		return BADREQ_JUDGED;
	}
	memcpy(b->error, error, sizeof(b->error));
	if (b->nheld < BADREQ_RUNS)
		return BADREQ_HELD;
	/* the runs wait, untouched; the error stays in b->error for the caller's line */
	give_back(b, oc);
	b->paused = true;
	b->pause = BAD_REQUEST_PAUSE_MIN;
	b->until = now + b->pause;
	return BADREQ_PAUSED;
}

/* Another run's request taken; see badreq.h. */
bool
badreq_accepted(struct badreq *b, const struct outcome_ctx *oc)
{
	bool was = b->paused;

	if (oc->db->conn != NULL)
		badreq_judge(b, oc);	/* else badreq_settle() does, when the database is back */
	b->paused = false;
	return was;
}

/* Settle; see badreq.h. */
void
badreq_settle(struct badreq *b, const struct outcome_ctx *oc, size_t busy, double now)
{
	if (b->nheld == 0 || oc->db->conn == NULL)
		return;
	if (busy == 0 || now - b->held_at >= BAD_REQUEST_HOLD) {
		log_debug("%zu run%s answered HTTP 400 (%s) with no other answer to compare: each run's own failure",
			  b->nheld, b->nheld == 1 ? "" : "s", b->error);
		badreq_judge(b, oc);
	}
}

/* Unclear; see badreq.h. */
void
badreq_unclear(struct badreq *b, double now)
{
	if (b->paused && now >= b->until)
		b->until = now + b->pause;
}

/* Waiting; see badreq.h. */
bool
badreq_waiting(const struct badreq *b, size_t busy, double now)
{
	return b->paused && (now < b->until || busy > 0);
}

/* Release; see badreq.h. */
void
badreq_release(struct badreq *b, const struct outcome_ctx *oc)
{
	give_back(b, oc);
	free(b->held);
	b->held = NULL;
	b->cap = 0;
}
