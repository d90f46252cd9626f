/* The API budget shared by the daemons on one database: leased membership rows and each daemon's share. */
#ifndef EXTEND_SYNCD_BUDGET_H
#define EXTEND_SYNCD_BUDGET_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

/*
 * The protocol, in seconds (the argument is in budget.c).  A daemon renews
 * its row every BUDGET_RENEW; a renewal lets it send at its claim for
 * BUDGET_VALID from the moment the renewal was sent, and no longer: a
 * daemon cut off from the database stops sending on its own.  Its row
 * counts for budget_lease(): at least BUDGET_LEASE, and long enough for
 * that claim to have run out and its last window to be over (its drain)
 * before the others see it gone and take its tokens.  BUDGET_JOIN_WAIT
 * was the wait of a daemon joining others before shares followed demand;
 * a daemon now joins with no tokens and takes free ones.
 */
#define BUDGET_RENEW 1.0
#define BUDGET_RETRY 0.1	/* after a renewal that failed */
#define BUDGET_VALID 2.5
#define BUDGET_MARGIN 0.25
#define BUDGET_LEASE 4.0
#define BUDGET_JOIN_WAIT (BUDGET_VALID + 1.0 + BUDGET_MARGIN)
_Static_assert(BUDGET_RENEW < BUDGET_VALID && BUDGET_VALID < BUDGET_LEASE,
	       "a share is renewed before it runs out, and a row outlives the share it claims");
/*
 * A row expired this long ago is a daemon gone (SQL interval): its row is
 * swept, and its claims are taken by the others (queue.c).  Longer than a
 * live daemon's row can stay expired: a database restart, or a statement
 * of up to DB_WAIT_MAX holding its connection, plus a transfer.
 */
#define BUDGET_GONE_AFTER "1 minute"
/* With fewer tokens than daemons wanting them, a holder yields to the longest waiting after this long. */
#define BUDGET_TURN 10.0
/* A daemon's demand is the most it counted over this long: shares do not flap with a moment's lull. */
#define BUDGET_DEMAND_HOLD 3.0
/* Demand is counted up to this (requests): more than any budget's tokens. */
#define BUDGET_DEMAND_MAX 100000
/*
 * Shared, each daemon's one-second window is made this much longer: the
 * server sees requests later than they leave and not all equally late,
 * and with several daemons any one's lateness can tip the sum.
 */
#define BUDGET_WINDOW_MARGIN 0.1

/* What one renewal saw. */
struct budget_view {
	bool fresh;		/* this daemon's membership began (again) with it */
	long others;		/* other live rows, leaving ones included */
	long others_active;	/* other live rows not leaving */
	long rank;		/* live rows that joined before this one */
	double rate_limit;	/* the smallest api.rate_limit of the live rows, this one's included */
	double drain;		/* seconds until the last leaving row expires, 0 when none */
	long tokens;		/* the budget's whole tokens (budget_tokens(rate_limit)) */
	long claim;		/* this daemon's claim as committed: tokens it may send at */
	long target;		/* its target in the split by demand */
	long others_claim;	/* the others' effective claims (budget_effective()) */
};

/* Called with the lower share before a renewal writes a lower claim: the fetcher must have it first. */
typedef void (*budget_lower_fn)(void *arg, double share);

struct budget {
	char *owner;
	long claim;		/* tokens it sends at now (lowered before the row, raised after it) */
	long demand;		/* the requests it counted last (budget_set_demand()) */
	long demand_peak;	/* the most it counted within BUDGET_DEMAND_HOLD */
	double demand_peak_at;
	budget_lower_fn lower;
	void *lower_arg;
	double share;		/* requests per second of its claim */
	double valid_from;	/* now_mono() (counting a suspend): the share may be used from then ... */
	double valid_until;	/* ... until then */
	double next_renew;
	double locked_since;	/* renewals found a lock in the way from then on, -INFINITY: not now */
	struct budget_view view;	/* the last renewal's */
};

/*
 * Before shares followed demand (and still a fair split, for reference):
 * the requests per second of a daemon that joined rank-th (from 0) among
 * members live daemons sharing rate_limit.  With one daemon, rate_limit;
 * else whole requests, floor(rate_limit) dealt out one by one in joining
 * order (5 among 3: 2, 2, 1), so that no one-second window holds more than
 * floor(rate_limit) however the daemons' windows fall.  A daemon gets no
 * less when a member leaves or more when one joins, whatever their ranks.
 */
double budget_share_of(double rate_limit, long members, long rank);

/* A new budget for owner (copied): no share until the first renewal.  NULL when out of memory. */
struct budget *budget_new(const char *owner) __attribute__((warn_unused_result));

/* Free b (NULL is fine); its row is left to budget_leave() or to its lease. */
void budget_free(struct budget *b);

/*
 * Take in a renewal that was sent at sent_at and committed before
 * answered_at (now_mono(), which counts a suspend): the claim it
 * committed, its share from answered_at until sent_at + BUDGET_VALID.
 */
void budget_apply(struct budget *b, const struct budget_view *v, double sent_at, double answered_at);

/* The requests per second this daemon may send at now (now_mono()), 0 when none. */
double budget_share(const struct budget *b, double now);

/* Seconds to add to its one-second window: BUDGET_WINDOW_MARGIN when shared, else 0. */
double budget_window_margin(const struct budget *b);

/* When budget_renew() is due, or the share starts: the next moment anything changes. */
double budget_next(const struct budget *b, double now);

/* Call fn(arg, share) whenever a renewal is about to write a lower claim, with the lower share. */
void budget_on_lower(struct budget *b, budget_lower_fn fn, void *arg);

/* Whether budget_renew() is due at now: the caller counts the demand only then. */
bool budget_renew_due(const struct budget *b, double now);

/*
 * The requests this daemon could send now if it had the tokens (its
 * queued and in-flight requests, the runs due that it could claim, a
 * list page to fetch), counted at now; the next renewal declares the most
 * counted within BUDGET_DEMAND_HOLD.
 */
void budget_set_demand(struct budget *b, long requests, double now);

/*
 * Renew this daemon's row, with its api.rate_limit and its demand, take
 * its tokens in the split by demand (lowering first, through the
 * budget_on_lower() function, raising only into free tokens and only
 * after the commit) and take in what the renewal saw; does nothing (returns 0) before it is due.  It never waits
 * on a lock another session holds: a renewal that cannot have its locks at
 * once fails and is due again BUDGET_RETRY later.  Returns 1 when renewed,
 * 0 when not (not due, or a lock in the way for less than BUDGET_RENEW:
 * another daemon's renewal, a session holding the table or this daemon's
 * row), or -1 with err set (the share then runs out by itself).  now is
 * now_mono().
 */
int budget_renew(struct budget *b, PGconn *conn, double rate_limit, double now, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * The daemon stops and sends no more; its last request left idle seconds
 * ago.  Its row goes at once, or counts until that request's second is
 * over.  Returns 0 or -1 with err set (the row then expires by itself).
 */
int budget_leave(struct budget *b, PGconn *conn, double idle, char *err, size_t errlen)
	__attribute__((warn_unused_result));

/*
 * Shares that follow demand.  Shared, the budget is K whole tokens
 * (budget_tokens()): floor(rate_limit) tokens of one request a second,
 * or below one a second a single token of rate_limit.  A member's claim
 * is a number of tokens; it sends no more than its claim, and all of
 * rate_limit when it holds all K (whose one-second windows hold
 * floor(rate_limit) requests, its tokens).  The invariant: at every moment
 * the effective claims of the live rows add up to no more than K.
 */
struct budget_member {
	long claim;		/* tokens it may send now */
	long claim_was;		/* before its last lowering */
	double lowered_ago;	/* seconds since that lowering, INFINITY: never */
	long demand;		/* requests it could send now (held), 0: none */
	double waiting;		/* seconds it has had demand and no claim, -1: not waiting */
	double holding;		/* seconds since its claim rose from 0, -1: no claim */
	bool leaving;		/* sends no more; counts until its row expires */
};

/* Whole tokens of rate_limit when shared: floor(rate_limit), or 1 below one a second. */
long budget_tokens(double rate_limit);

/* Requests per second of one token: 1, or rate_limit below one a second. */
double budget_token_rate(double rate_limit);

/* The requests per second of claim tokens of rate_limit: all of rate_limit for all its tokens. */
double budget_claim_share(double rate_limit, long claim);

/* Seconds a lowered claim still counts at its old size: its last window, max(1, 1/rate_limit), and margins. */
double budget_drain(double rate_limit);

/* Seconds a row counts after its renewal: at least BUDGET_LEASE, and BUDGET_VALID + budget_drain(). */
double budget_lease(double rate_limit);

/* The tokens m counts for now: its claim, or its claim before a lowering not yet drained. */
long budget_effective(const struct budget_member *m, double drain);

/*
 * The target claim of each of the n members (target[i]), a max-min fair
 * split of k tokens by demand: one token at a time to the member with
 * the fewest so far, among those with demand left, in the order: holders
 * (longest holding first), then waiters (longest waiting first), then,
 * when someone waits, holders whose turn (turn seconds) is over; ties in
 * index order (the caller sorts the members by owner, so that every
 * daemon computes the same split).  Tokens left when every demand is met
 * go the same way among the members with any demand; tokens no demand
 * takes stay with those holding them (nobody lowers for nothing).  A
 * member alone but for leaving ones is given all k.  Leaving members get
 * 0.  A pure function.
 */
void budget_targets(const struct budget_member *m, size_t n, long k, double turn, long *target);

/*
 * The claim member me may have after a renewal that saw m (under the
 * budget's lock): its target when that is lower (a lowering, which the
 * daemon applies before it writes it), else as far up towards its target
 * as the others' effective claims leave free (a raise, applied after the
 * commit), never lower than its claim.
 */
long budget_next_claim(const struct budget_member *m, size_t n, size_t me, long k, double drain, long target);

#endif
