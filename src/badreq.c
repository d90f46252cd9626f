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

	/* -1 (the database away, the row locked): dropped, it is claimed again when its lease ends */
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

const char badreq_probe_tag = 0;

bool
badreq_is_probe(const void *data)
{
	return data == BADREQ_PROBE;
}

/* Take a 400; see badreq.h. */
enum badreq_outcome
badreq_take(struct badreq *b, const struct outcome_ctx *oc, struct fetch_result *r, double now)
{
	char error[sizeof(b->error)];

	if (b->paused) {
		/* sent before the pause began */
		outcome_release(oc, r->data);
		fetch_result_free(r);
		return BADREQ_STILL;
	}
	normalize_http_error(r->http_status, r->body.data, r->body.len, error, sizeof(error));
	if (b->nheld > 0 && strcmp(error, b->error) != 0 && !b->verifying)
		badreq_judge(b, oc);	/* another error: no setting answers two ways */
	if (!hold(b, r, now)) {
		judge_one(oc, r);
		return BADREQ_JUDGED;
	}
	if (b->nheld == 1)
		memcpy(b->error, error, sizeof(b->error));
	return b->nheld == BADREQ_RUNS && !b->verifying ? BADREQ_VERIFY : BADREQ_HELD;
}

/* Sent; see badreq.h. */
void
badreq_sent(struct badreq *b, const struct outcome_ctx *oc, bool sent, double now)
{
	b->verifying = sent;
	b->verify_sent = now;
	if (!sent) {
		give_back(b, oc);
		if (b->paused)
			b->until = now + b->pause;
	}
}

/* Probe due; see badreq.h. */
bool
badreq_probe_due(const struct badreq *b, double now)
{
	return b->paused && !b->verifying && now >= b->until;
}

/* Verdict; see badreq.h. */
enum badreq_verdict
badreq_verdict(struct badreq *b, const struct outcome_ctx *oc, long http_status, double now)
{
	if (!b->verifying)
		return BADREQ_UNCLEAR;	/* a run's answer decided first, or it was given up on */
	b->verifying = false;
	if (http_status == 400) {
		give_back(b, oc);
		if (b->paused) {
			b->pause = fmin(b->pause * 2, BAD_REQUEST_PAUSE_MAX);
			b->until = now + b->pause;
			return BADREQ_STILL_PAUSED;
		}
		b->paused = true;
		b->pause = BAD_REQUEST_PAUSE_MIN;
		b->until = now + b->pause;
		return BADREQ_PAUSED;
	}
	if (http_status >= 200 && http_status <= 299) {
		(void)badreq_accepted(b, oc);
		return BADREQ_TAKEN;
	}
	if (b->paused || http_status == 0 || oc->db->conn == NULL) {
		/* no answer (or the key's): nothing decided, the same pause again */
		give_back(b, oc);
		if (b->paused)
			b->until = now + b->pause;
		return BADREQ_UNCLEAR;
	}
	/* the API answered otherwise (5xx, 429, 404): it cannot say the request is wrong; the runs' own 400s stand */
	badreq_judge(b, oc);
	return BADREQ_UNCLEAR;
}

/* Another run's request taken; see badreq.h. */
bool
badreq_accepted(struct badreq *b, const struct outcome_ctx *oc)
{
	bool was = b->paused;

	if (oc->db->conn != NULL)
		badreq_judge(b, oc);	/* else badreq_settle() does, when the database is back */
	b->paused = false;
	b->verifying = false;		/* its answer, when it comes, decides nothing more */
	return was;
}

/* Seconds the list request may take: waiting for a token at api.rate_limit, then api.timeout. */
static double
badreq_probe_wait(const struct config *cfg)
{
	return BAD_REQUEST_HOLD + 1 / cfg->api.rate_limit + cfg->api.timeout;
}

/* Hold; see badreq.h. */
double
badreq_hold(const struct config *cfg)
{
	return fmin(fmax(BAD_REQUEST_HOLD, cfg->api.timeout + BADREQ_RUNS / cfg->api.rate_limit), cfg->sync.lease / 2);
}

/* Settle; see badreq.h. */
void
badreq_settle(struct badreq *b, const struct outcome_ctx *oc, size_t busy, double now)
{
	if (b->verifying) {
		/* taken back from the fetcher (a stop, the database away), or lost: it decides nothing */
		if (now - b->verify_sent > badreq_probe_wait(oc->cfg))
			badreq_sent(b, oc, false, now);
		return;
	}
	if (b->nheld == 0 || oc->db->conn == NULL)
		return;
	if (busy == 0 || now - b->held_at >= badreq_hold(oc->cfg)) {
		log_debug("%zu run%s answered HTTP 400 (%s) with no other answer to compare: each run's own failure",
			  b->nheld, b->nheld == 1 ? "" : "s", b->error);
		badreq_judge(b, oc);
	}
}

/* Next; see badreq.h. */
double
badreq_next(const struct badreq *b, const struct config *cfg)
{
	if (b->verifying)
		return b->verify_sent + badreq_probe_wait(cfg);
	return b->paused ? b->until : 0;
}

/* Waiting; see badreq.h. */
bool
badreq_waiting(const struct badreq *b)
{
	return b->paused || b->verifying;
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
