/* The API budget shared by the daemons on one database: leased membership rows and each daemon's share. */
#ifndef EXTEND_SYNCD_BUDGET_H
#define EXTEND_SYNCD_BUDGET_H

#include <stdbool.h>
#include <stddef.h>

#include <libpq-fe.h>

/*
 * The protocol, in seconds.  A daemon renews its row every BUDGET_RENEW;
 * a renewal lets it send at its share for BUDGET_VALID from the moment the
 * renewal was sent, and no longer: a daemon cut off from the database
 * stops sending on its own.  Its row counts for BUDGET_LEASE, long enough
 * for that share to have run out and its last one-second window to be
 * over (plus BUDGET_MARGIN for requests on their way) before the others
 * see it gone and grow.  A daemon joining others waits BUDGET_JOIN_WAIT:
 * by then every share granted without it has run out and drained.
 */
#define BUDGET_RENEW 1.0
#define BUDGET_VALID 2.5
#define BUDGET_MARGIN 0.25
#define BUDGET_LEASE 4.0
#define BUDGET_JOIN_WAIT (BUDGET_VALID + 1.0 + BUDGET_MARGIN)
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
};

struct budget {
	char *owner;
	double share;		/* requests per second the last renewal granted */
	double valid_from;	/* monotonic: the share may be used from then ... */
	double valid_until;	/* ... until then */
	double next_renew;
	struct budget_view view;	/* the last renewal's */
};

/*
 * The requests per second of a daemon that joined rank-th (from 0) among
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
 * Take in a renewal that was sent at sent_at and answered at answered_at
 * (monotonic): the new share, from when and until when it holds.
 */
void budget_apply(struct budget *b, const struct budget_view *v, double sent_at, double answered_at);

/* The requests per second this daemon may send at now (monotonic), 0 when none. */
double budget_share(const struct budget *b, double now);

/* Seconds to add to its one-second window: BUDGET_WINDOW_MARGIN when shared, else 0. */
double budget_window_margin(const struct budget *b);

/* When budget_renew() is due, or the share starts: the next moment anything changes. */
double budget_next(const struct budget *b, double now);

/*
 * Renew this daemon's row, with its api.rate_limit, and take in what the
 * renewal saw; does nothing (returns 0) before it is due.  Returns 1 when
 * renewed, or -1 with err set (the share then runs out by itself).  now is
 * the monotonic time.
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

#endif
