/* Claiming due runs for the fetcher, as the API budget, the leases and the memory for results allow. */
#include <math.h>
#include <stdlib.h>

#include "claims.h"
#include "clock.h"
#include "db.h"
#include "queue.h"
#include "schedule.h"

/*
 * How many transfers may be in flight: each may bring api.max_response_size,
 * held three times once it arrived (the body, and its rows: raw copies it
 * whole, and the columns copy its values once more: a run whose large
 * metadata is most of its body measured 3.3 times), and that with the
 * results held stays within sync.max_pending_bytes; one when nothing is
 * held, so that a run larger than the bound still syncs.  None while the
 * database is away: their results could only wait.
 */
static size_t
transfer_room(const struct claims_ctx *x)
{
	const struct config *cfg = x->oc.cfg;
	size_t max = (size_t)cfg->sync.max_pending_bytes, each = 3 * (size_t)cfg->api.max_response_size;
	size_t held = results_held(x->results);

	if (x->oc.db->conn == NULL)
		return 0;
	if (held == 0)
		return max / each > 1 ? max / each : 1;
	return held < max ? (max - held) / each : 0;
}

/* No share of the API budget (yet): whether any run is due decides whether a --drain or --once may end. */
static void
count_due(struct claims *cl, const struct claims_ctx *x)
{
	char err[DB_ERR_SIZE];
	long due = 1;

	if (queue_count_due(x->oc.db->conn, 1, x->cutoff, &due, err, sizeof(err)) < 0) {
		if (!dbconn_gone(x->oc.db))
			log_lasting_fail(x->failing, "could not count the due runs: %s", err);
		due = 1;
	}
	cl->all = due == 0;
}

/* Hand the claimed runs to the fetcher; a run ID the API cannot have fails the run at once. */
static void
submit(const struct claims_ctx *x, struct claim **c, int n)
{
	for (int i = 0; i < n; i++) {
		if (!schedule_run_id_valid(c[i]->run_id)) {
			(void)outcome_failure(&x->oc, c[i], true, -1, 0,
					      "invalid run ID: it must be 1 to 128 letters, digits, \"_\" or \"-\"");
			queue_claim_free(c[i]);
		} else if (fetch_submit(x->fetch, c[i]->run_id, c[i]) < 0) {
			outcome_release(&x->oc, c[i]);
		} else {
			log_run(LOG_LEVEL_DEBUG, c[i]->run_id, "claimed (attempts %d, last status %s)",
				c[i]->attempts, c[i]->last_status != NULL ? c[i]->last_status : "none");
		}
	}
}

/* Claim; see claims.h. */
int
claims_run(struct claims *cl, const struct claims_ctx *x)
{
	const struct config *cfg = x->oc.cfg;
	/* no more than can be sent well within the lease, at the rate allowed now, after the server's wait */
	int limit = schedule_claim_limit(cfg->sync.claim_batch, fetch_current_rate(x->fetch), cfg->sync.lease,
					 cfg->api.timeout, fetch_hold_remaining(x->fetch), fetch_busy(x->fetch));
	struct claim **c = NULL;
	char err[DB_ERR_SIZE];
	int n;

	if (x->probe && limit > 1)
		limit = 1;
	if (fetch_current_rate(x->fetch) <= 0) {
		/*
		 * Runs claimed now would only wait; the share's renewal brings
		 * the scan forward.  Idle daemons may all hold no tokens (they
		 * yielded them), and one with nothing due needs none.
		 */
		count_due(cl, x);
		return 0;
	}
	if (limit <= 0 || transfer_room(x) == 0) {
		/* full, or results fill sync.max_pending_bytes: the next finished request or write brings the scan
		   forward */
		cl->all = false;
		return 0;
	}
	n = queue_claim(x->oc.db->conn, x->oc.owner, cfg->sync.lease, limit, x->cutoff, &c, err, sizeof(err));
	if (n < 0) {
		if (!dbconn_gone(x->oc.db))
			log_lasting_fail(x->failing, "could not claim runs: %s", err);
		return -1;
	}
	log_lasting_ok(x->failing, "the queue answers");
	cl->all = n < limit;
	submit(x, c, n);
	free(c);
	return n;
}

/* When to claim again; see claims.h. */
size_t
claims_refill_at(const struct config *cfg)
{
	return (size_t)(cfg->sync.claim_batch / 2 > cfg->api.max_in_flight ? cfg->sync.claim_batch / 2
									      : cfg->api.max_in_flight);
}

struct unsent_arg {
	struct claims *cl;
	const struct outcome_ctx *oc;
};

/* A run claimed and not sent, taken back from the fetcher: given back now, or when the database returns. */
static void
unsent_cb(const char *run_id, void *data, void *arg)
{
	struct unsent_arg *a = arg;
	struct claims *cl = a->cl;
	struct claim **more;

	if (run_id == NULL || a->oc->db->conn != NULL) {
		outcome_release_cb(run_id, data, (void *)a->oc);
		return;
	}
	if (cl->nunsent == cl->unsent_cap) {
		size_t cap = cl->unsent_cap != 0 ? cl->unsent_cap * 2 : 64;

		more = realloc(cl->unsent, cap * sizeof(*more));
		if (more == NULL) {
			/* its lease ends and the run is claimed again: nothing is lost */
			queue_claim_free(data);
			return;
		}
		cl->unsent = more;
		cl->unsent_cap = cap;
	}
	cl->unsent[cl->nunsent++] = data;
}

/* Pace; see claims.h. */
void
claims_pace(struct claims *cl, const struct claims_ctx *x)
{
	size_t room = transfer_room(x);
	struct unsent_arg a = { cl, &x->oc };

	fetch_set_room(x->fetch, room);
	if (room == 0 && (x->oc.db->conn == NULL || results_kept(x->results) ||
			  results_stalled(x->results, now_mono())))
		fetch_cancel_queued(x->fetch, unsent_cb, &a);
}

/* Give back; see claims.h. */
void
claims_give_back(struct claims *cl, const struct outcome_ctx *oc)
{
	size_t n = cl->nunsent;

	for (size_t i = 0; i < n; i++)
		outcome_release(oc, cl->unsent[i]);
	cl->nunsent = 0;
	if (n > 0 && oc->db->conn != NULL)
		log_info("gave back %zu claimed run%s not sent while the database was away", n, n == 1 ? "" : "s");
}

/* Whether the queue is idle; see claims.h. */
bool
claims_idle(struct claims *cl, struct dbconn *db)
{
	struct queue_outlook o;
	char err[DB_ERR_SIZE];

	if (queue_outlook(db->conn, &o, err, sizeof(err)) < 0) {
		if (!dbconn_gone(db))
			log_lasting_fail(&cl->failing, "could not read the queue: %s", err);
		return false;
	}
	if (o.busy == 0)
		return true;
	/* wait for whichever comes first: the next due run, or a notification */
	if (o.next_due > 0)
		cl->next = fmin(cl->next, now_mono() + o.next_due);
	return false;
}

/* Free; see claims.h. */
void
claims_free(struct claims *cl)
{
	free(cl->unsent);
	cl->unsent = NULL;
	cl->unsent_cap = 0;
}
