/* This daemon's share of the API budget: renewed when due, handed to the fetcher, logged as it changes. */
#ifndef EXTEND_SYNCD_SHARE_H
#define EXTEND_SYNCD_SHARE_H

#include <stdbool.h>

#include "budget.h"
#include "config.h"
#include "dbconn.h"
#include "fetch.h"
#include "log.h"

struct share {
	struct budget *budget;	/* this daemon's place among the others (budget.h) */
	struct fetcher *fetch;	/* sends at the share (NULL until there is one) */
	struct dbconn *db;	/* the loop's connection */
	struct log_lasting failing;	/* renewals failing, the connection fine */
};

/* Set s up for owner on db, its renewals a timer of the wait; -1 when out of memory (or the registry is full). */
int share_init(struct share *s, const char *owner, struct dbconn *db) __attribute__((warn_unused_result));

/* Whether a renewal is due, so that the caller counts the demand first (budget_set_demand()). */
bool share_due(const struct share *s, double now);

/*
 * The requests this daemon could send now if it had the tokens, asked for
 * at the renewal: those it holds (holding: in the fetcher, and the pages
 * of the sweeps running or soon due: tokens reach a daemon a hand-over, 2
 * to 4 s, after it asks, so a sweep asks before it starts), and, when
 * count_due, the runs due that it could claim (up to claim_batch; cutoff:
 * --once's), since a daemon without tokens claims none, and its own backlog
 * alone would never show it hungry.
 */
void share_count_demand(struct share *s, long holding, bool count_due, int claim_batch, const char *cutoff,
			double now);

/*
 * Renew the share when due (rate_limit: api.rate_limit) and hand it to the
 * fetcher; without the database it runs out by itself.  Returns true when a
 * share came back after none (runs may be claimed at once).
 */
bool share_renew(struct share *s, double rate_limit, double now);

/* Leave the budget at the end (idle: seconds since the last request was sent), and free what s holds. */
void share_end(struct share *s, double idle);

#endif
