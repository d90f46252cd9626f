/* What a run's finished request means in its queue row: stored, tried again later, given up, deleted at Extend. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "badreq.h"
#include "db.h"
#include "discover.h"
#include "log.h"
#include "outcome.h"
#include "schedule.h"
#include "sweep.h"
#include "timing.h"

static double
jitter(void)
{
	return (double)random() / ((double)RAND_MAX + 1.0);
}

/*
 * Record a failed attempt, retrying later or giving up (failed), and log it.
 * Returns -1 when the database went away before it was recorded.
 */
int
outcome_failure(const struct outcome_ctx *o, struct claim *c, bool permanent, double retry_after, long http_status,
		const char *error)
{
	char err[DB_ERR_SIZE];
	int attempts = c->attempts + 1;
	bool give_up = permanent || attempts >= o->cfg->sync.max_attempts;
	double delay = 0;
	int rc;

	if (!give_up) {
		delay = schedule_retry_delay(o->cfg->sync.retry_min, o->cfg->sync.retry_max, attempts, jitter());
		if (retry_after > delay)
			delay = retry_after;
	}
	if (o->db->conn == NULL)
		return -1;
	rc = queue_record_failure(o->db->conn, c, o->owner, give_up, delay, error, http_status, err, sizeof(err));
	if (rc == QUEUE_LOCKED) {
		/* not an attempt of the run's: the same failure is recorded when the row is free */
		log_run(LOG_LEVEL_WARNING, c->run_id, "could not record failure \"%s\": %s; kept, trying again in "
			"%.0fs", error, err, LOCKED_RETRY);
		return -1;
	}
	if (rc < 0) {
		if (dbconn_gone(o->db))
			return -1;
		log_run(LOG_LEVEL_ERROR, c->run_id, "could not record failure \"%s\": %s", error, err);
	} else if (rc == 0) {
		log_run(LOG_LEVEL_WARNING, c->run_id, "lease lost before the failure could be recorded: %s", error);
	} else if (give_up) {
		o->m->failed++;
		log_run(LOG_LEVEL_ERROR, c->run_id, "giving up after %d attempt%s: %s", attempts,
			attempts == 1 ? "" : "s", error);
	} else {
		o->m->retries++;
		log_run(LOG_LEVEL_WARNING, c->run_id, "could not fetch (attempt %d of %d, next in %.1fs): %s",
			attempts, o->cfg->sync.max_attempts, delay, error);
	}
	return 0;
}

/*
 * A 404 for a run: a stored run was deleted at Extend (its rows stay, its
 * queue row is done), said once, when it is first marked.  Returns 1 when
 * that was so, 0 when the run was never stored (the 404 is a failure, as
 * before), -1 when the database went away or the row is locked before it
 * was recorded.
 */
int
outcome_deleted(const struct outcome_ctx *o, struct claim *c)
{
	char err[DB_ERR_SIZE];
	int rc;

	if (o->db->conn == NULL)
		return -1;
	rc = queue_record_deleted(o->db->conn, c, o->owner, err, sizeof(err));
	if (rc == QUEUE_LOCKED) {
		log_run(LOG_LEVEL_WARNING, c->run_id, "could not record its deletion at Extend: %s; kept, trying "
			"again in %.0fs", err, LOCKED_RETRY);
		return -1;
	}
	if (rc < 0) {
		if (dbconn_gone(o->db))
			return -1;
		log_run(LOG_LEVEL_ERROR, c->run_id, "could not record its deletion at Extend: %s", err);
		return 1;	/* as for a failure not recorded: fetched again when its lease ends */
	}
	if (rc == 2) {
		o->m->deleted++;
		log_run(LOG_LEVEL_INFO, c->run_id, "deleted at Extend (HTTP 404): its rows are kept, marked deleted");
	} else if (rc == 1) {
		log_run(LOG_LEVEL_DEBUG, c->run_id, "still deleted at Extend (HTTP 404)");
	}
	return rc > 0 ? 1 : 0;
}

/* How far along a run with status is: PENDING, PROCESSING, CANCELLING, then parked, then final. */
static int
status_rank(const char *status)
{
	enum run_phase p = schedule_phase(status);

	if (p == PHASE_MOTION)
		return strcmp(status, "PENDING") == 0 ? 0 : strcmp(status, "PROCESSING") == 0 ? 1 : 2;
	return p == PHASE_PARKED ? 3 : 4;
}

/* When a fetched run is due again, and in what state its queue row is left. */
struct store_next
outcome_next(const struct config *cfg, const struct claim *c, const struct run_rows *rr)
{
	struct store_next next = { "pending", 0, 0, 1, 0 };
	enum run_phase phase = schedule_phase(rr->status);

	switch (phase) {
	case PHASE_FINAL:
		next.state = "done";
		break;
	case PHASE_MOTION:
		if (c->last_status != NULL && strcmp(c->last_status, rr->status) == 0)
			next.polls = c->polls + 1;
		next.delay = schedule_active_delay(cfg->sync.active_poll_min, cfg->sync.active_poll_max, next.polls);
		break;
	case PHASE_PARKED:
		next.delay = cfg->sync.review_poll;
		next.priority = 2;
		break;
	}
	/* a run a sweep watches is fetched when a sweep shows it changed; the timers are only a safety net */
	if (phase != PHASE_FINAL && c->listed && discover_covers(cfg, c->workflow_id))
		next.delay = phase == PHASE_MOTION ? cfg->discover.recheck_active : cfg->discover.recheck_parked;
	/*
	 * The list showed another status: this GET may be an older snapshot
	 * (the API's replicas lag), so the run is due again soon, until a GET
	 * agrees or a newer listing says otherwise.  The listing may be the
	 * stale one instead (the run moved on after it): a status further
	 * along (status_rank()) is taken at once, and
	 * any other after QUEUE_LISTED_RECHECKS fetches in a row.
	 */
	if (c->listed_status != NULL && strcmp(c->listed_status, rr->status) != 0 &&
	    status_rank(rr->status) <= status_rank(c->listed_status)) {
		/* given up, until a GET agrees or a new listing */
		next.listed_rechecks = QUEUE_LISTED_RECHECKS + 1;
		if (c->listed_rechecks < QUEUE_LISTED_RECHECKS) {
			next.state = "pending";
			next.delay = schedule_active_delay(cfg->sync.active_poll_min, cfg->sync.active_poll_max,
							   c->listed_rechecks);
			next.priority = 1;
			next.listed_rechecks = c->listed_rechecks + 1;
		}
	}
	return next;
}

/* What a write of the batch means for its run; -1 when its result must wait (database away, row locked). */
int
outcome_stored(const struct outcome_ctx *o, const struct store_item *it)
{
	const struct claim *c = it->c;
	const char *status = it->rr->status;
	enum run_phase phase = schedule_phase(status);

	if (it->rc == STORE_LOCKED) {
		/* another session holds a row: try later, as it is; not an attempt, and no second wait now */
		log_run(LOG_LEVEL_WARNING, c->run_id, "could not store run: %s; kept, trying again in %.0fs", it->err,
			LOCKED_RETRY);
		return -1;
	}
	if (it->rc < 0) {
		char why[DB_ERR_SIZE + 32];

		o->m->store_failures++;
		if (dbconn_gone(o->db))
			return -1;
		log_run(LOG_LEVEL_ERROR, c->run_id, "could not store run: %s", it->err);
		snprintf(why, sizeof(why), "could not store: %s", it->err);
		/* a value PostgreSQL cannot hold: fetching the same body again would not help */
		return outcome_failure(o, (struct claim *)c, it->rc == STORE_RECURS, -1, 200, why);
	}
	if (it->rc == 0) {
		log_run(LOG_LEVEL_WARNING, c->run_id, "lease lost while fetching (another daemon took the run over); "
			"result dropped");
		return 0;
	}
	o->m->synced++;
	o->m->unchanged += it->unchanged;
	o->m->last_success = (double)time(NULL);
	if (it->next.listed_rechecks > c->listed_rechecks && it->next.listed_rechecks <= QUEUE_LISTED_RECHECKS)
		log_run(LOG_LEVEL_INFO, c->run_id, "synced, status %s, but the list showed %s: checking again in "
			"%.1fs (%d of %d)", status, c->listed_status, it->next.delay, it->next.listed_rechecks,
			QUEUE_LISTED_RECHECKS);
	else if (phase == PHASE_FINAL)
		log_run(LOG_LEVEL_DEBUG, c->run_id, "synced, status %s: done", status);
	else if (phase == PHASE_PARKED && (c->last_status == NULL || strcmp(c->last_status, status) != 0))
		log_run(LOG_LEVEL_INFO, c->run_id, "synced, status %s: parked, next check in %.0fs", status,
			it->next.delay);
	else
		log_run(LOG_LEVEL_DEBUG, c->run_id, "synced, status %s: next check in %.1fs", status, it->next.delay);
	return 0;
}

/* A run's answer, but for a refused key; see outcome.h. */
int
outcome_answer(const struct outcome_ctx *o, struct fetch_result *r, struct run_rows **rrp)
{
	struct claim *c = r->data;
	char err[NORMALIZE_ERR_SIZE + 64];
	int rc = 0;

	*rrp = NULL;
	if (r->error[0] != '\0') {
		/* a body over the cap will not shrink by asking again */
		rc = outcome_failure(o, c, r->too_big, r->retry_after, r->http_status, r->error);
	} else if (r->http_status != 200) {
		/*
		 * Deleted at Extend only when the API itself says not found: a
		 * proxy or a wrong api.base_url answering 404 to every path must
		 * not mark every stored run deleted, hiding it from the views.
		 */
		char msg[8];
		bool api_404 = r->http_status == 404 &&
		    normalize_error_message(r->body.data, r->body.len, msg, sizeof(msg)) == 0;

		rc = api_404 ? outcome_deleted(o, c) : 0;
		if (rc == 0) {
			normalize_http_error(r->http_status, r->body.data, r->body.len, err, sizeof(err));
			rc = outcome_failure(o, c, !schedule_http_retryable(r->http_status), r->retry_after,
					    r->http_status, err);
		}
	} else {
		struct run_rows *rr = NULL;
		char why[NORMALIZE_ERR_SIZE];

		rc = normalize_body(r->body.data, r->body.len, c->run_id, o->cfg->sync.store_file_contents,
				    &rr, why, sizeof(why));
		if (rc == -ENOMEM) {
			rc = outcome_failure(o, c, false, -1, r->http_status,
					     "out of memory while reading the response");
		} else if (rc < 0) {
			snprintf(err, sizeof(err), "invalid response: %s", why);
			rc = outcome_failure(o, c, false, -1, r->http_status, err);
		} else {
			*rrp = rr;
			return 1;
		}
		normalize_free(rr);
	}
	return rc < 0 ? -1 : 0;
}

/* Give a claimed run back; see outcome.h. */
void
outcome_release(const struct outcome_ctx *o, struct claim *c)
{
	char err[DB_ERR_SIZE];

	if (o->db->conn != NULL && queue_release(o->db->conn, c, o->owner, err, sizeof(err)) < 0 &&
	    !dbconn_gone(o->db))
		log_run(LOG_LEVEL_WARNING, c->run_id, "could not release lease: %s", err);
	queue_claim_free(c);
}

/* A request taken back from the fetcher; see outcome.h. */
void
outcome_release_cb(const char *run_id, void *data, void *arg)
{
	if (run_id == NULL && badreq_is_probe(data))
		return;			/* the list request of badreq.h: given up on after api.timeout */
	if (run_id == NULL)
		sweep_cancelled(data);	/* a list request: its sweep is retried, its lease given back at stop */
	else
		outcome_release(arg, data);
}
