/* Claiming due runs for the fetcher, as the API budget, the leases and the memory for results allow. */
#ifndef EXTEND_SYNCD_CLAIMS_H
#define EXTEND_SYNCD_CLAIMS_H

#include <stdbool.h>
#include <stddef.h>

#include "fetch.h"
#include "log.h"
#include "outcome.h"
#include "results.h"

struct claims {
	double next;		/* when the queue is scanned next */
	bool all;		/* the last scan found fewer due runs than it asked for */
	/* runs claimed but not sent when the database went away: given back when it returns */
	struct claim **unsent;
	size_t nunsent, unsent_cap;
	struct log_lasting failing;	/* queue statements failing, the connection fine (the loop's others too) */
};

/* What claiming needs of the loop, for one call. */
struct claims_ctx {
	struct outcome_ctx oc;		/* the connection, the owner, the counters, the configuration */
	struct fetcher *fetch;
	const struct results *results;
	const char *cutoff;		/* --once: only runs due before it (the database's time); else NULL */
	bool probe;			/* after a refused key: one run probes whether it is accepted again */
	struct log_lasting *failing;	/* queue statements failing, the connection fine */
};

/*
 * Claim due runs and hand them to the fetcher; cl->all says whether the
 * scan found fewer than it asked for.  Returns how many were claimed, or -1.
 */
int claims_run(struct claims *cl, const struct claims_ctx *x);

/*
 * While more runs are due, claim again once the fetcher holds this few: in
 * chunks of half a batch (one statement for many runs, not one per freed
 * slot), but before a request slot could go idle.
 */
size_t claims_refill_at(const struct config *cfg);

/*
 * Before the wait: start transfers only as the memory for their results
 * allows.  While none may start and the results cannot be written (the
 * database away, a row locked, the writer stalled), the runs claimed and
 * not sent are given back rather than left to outlive their leases in the
 * fetcher (kept in cl while the database is away).
 */
void claims_pace(struct claims *cl, const struct claims_ctx *x);

/* Give back the runs kept while the database was away: due now, for whoever can send them. */
void claims_give_back(struct claims *cl, const struct outcome_ctx *oc);

/*
 * --drain: whether the queue holds no run that keeps it running (a run due
 * soon, in motion, retrying or leased).  When it does, the scan is brought
 * forward to the next due run (a notification may come first).
 */
bool claims_idle(struct claims *cl, struct dbconn *db);

/* Free what cl holds (after claims_give_back()). */
void claims_free(struct claims *cl);

#endif
