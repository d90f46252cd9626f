/* The API budget shared by the daemons on one database: leased membership rows and each daemon's share. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "budget.h"
#include "clock.h"
#include "db.h"

/*
 * Shares that follow demand.  Shared, the budget is K whole tokens
 * (budget_tokens(): floor(rate_limit) of one request a second, or below
 * one a second the single token of rate_limit), K of the smallest
 * rate_limit among the live rows.  Each row holds a claim of tokens.
 *
 * The invariant: at every moment the effective claims of the live rows
 * add up to no more than K, where a row's effective claim is
 * max(claim, claim_was) until lowered_at + budget_drain(), then claim.
 * Each daemon sends at no more than its own claim (all of rate_limit for
 * all K tokens: the fetcher's window keeps floor(rate_limit) requests to
 * a second), and only within BUDGET_VALID of sending the renewal that
 * gave it (on CLOCK_BOOTTIME, which counts a suspend).  So no window of
 * max(1, 1/rate_limit) seconds holds more than K tokens' requests:
 *
 * - Lowering is always safe.  The daemon hands the lower share to the
 *   fetcher first (budget_on_lower()), then writes claim, claim_was (the
 *   effective claim before) and lowered_at = statement_timestamp() of a
 *   statement sent after that: its requests above the new claim all left
 *   before lowered_at, and their windows are over budget_drain() later,
 *   until when the others count the old claim.  A write that fails
 *   leaves more counted, never less.
 * - Raising is serialized: only under the budget's advisory lock (every
 *   raise sees every raise committed before it), only into what the
 *   others' effective claims leave free, and used only after a durable
 *   commit (synchronous_commit on).  A raise that does not commit is not
 *   used; one that commits unseen (the answer lost) is counted, not used.
 * - A row counts until it expires, budget_lease() after its renewal: the
 *   daemon stopped sending BUDGET_VALID after it sent that renewal (a
 *   crash, SIGSTOP, a suspend, a partition: it cannot renew) and its last
 *   window is over budget_drain() later, before the others see the row
 *   gone and raise into its tokens.  Below one request a second the
 *   window is 1/rate_limit (2 s at 0.5), which the lease and the leave's
 *   drain count.  A membership that expired begins again at claim 0: a
 *   stalled daemon does not come back with tokens the others took over.
 * - A leaving row (budget_leave()) counts at its claim until its last
 *   window is over, and then goes.
 *
 * Which tokens each daemon aims at is budget_targets(), a max-min fair
 * split by demand that every daemon computes alike from the rows: an idle
 * daemon yields what it does not use (but keeps tokens nobody wants, so
 * that a lone daemon does not wait for a renewal to send), a busy one
 * gets the rest (shared with any other that has some demand: a demand
 * of one request at a time still wants it soon); with fewer tokens than hungry daemons, holders yield
 * after BUDGET_TURN to the longest waiting, so none starves.  Targets are
 * only aims: a daemon above its target lowers at its next renewal, one
 * below raises when the tokens are free, so a hand-over takes a renewal,
 * the drain and a renewal (2 to 4 s).  Demand counts what a daemon could
 * send if it had tokens (the runs due, not only its own backlog: a
 * daemon without tokens claims no runs).
 *
 * Different api.rate_limit values: the budget is the smallest of the live
 * rows.  When a daemon with a lower limit joins, the others are above the
 * new K until they lower at their next renewals and drain (no worse than
 * before shares followed demand: they do not know of it before), within
 * BUDGET_VALID + budget_drain() of its row's commit; the newcomer raises
 * only once its tokens fit under the new K.  When it goes, the others
 * raise into the larger K only as its row expires or leaves.
 *
 * Renewals take the budget's lock one after another, so each sees every
 * renewal before it: of two daemons starting together the second sees the
 * first.  The lock is an advisory one that only the daemons take, and only
 * tried: a renewal never waits on a lock another session holds.  Whatever
 * a user does to the table (pg_dump's ACCESS SHARE, a SELECT ... FOR
 * UPDATE, an open UPDATE, VACUUM, ANALYZE: every mode below SHARE) leaves
 * the renewals alone; what stops writes to it (CREATE INDEX, LOCK TABLE in
 * SHARE mode or stronger, VACUUM FULL, ALTER TABLE), or a lock on this
 * daemon's own row, fails the renewal at once (lock_timeout of 1 ms), and
 * it is tried again BUDGET_RETRY later while the share already held runs
 * out at its time.  A daemon stopped (SIGSTOP) inside a renewal holds the
 * lock for no more than idle_in_transaction_session_timeout, and what it
 * had not committed is not used.
 *
 * Rows of daemons long gone are swept on the way, but for a row another
 * session holds.
 */
static const char sql_begin[] =
	"BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL synchronous_commit = on; SET LOCAL lock_timeout = '1ms'; "
	"SET LOCAL idle_in_transaction_session_timeout = '2s'";

static const char sql_lock[] =
	"SELECT pg_catalog.pg_try_advisory_xact_lock("
	"  pg_catalog.hashtextextended('extend-syncd budget', 'sync_budget'::pg_catalog.regclass::pg_catalog.oid::bigint))";

/*
 * This daemon's row, renewed with its demand.  A row that expired (the
 * others may have taken its tokens since) or was leaving starts a new
 * membership: joined now, no claim.
 */
#define BUDGET_FRESH "(b.expires_at <= statement_timestamp() OR b.leaving)"
static const char sql_join[] =
	"INSERT INTO sync_budget AS b (owner, joined_at, expires_at, rate_limit, demand, hungry_since) "
	"VALUES ($1, statement_timestamp(), now() + make_interval(secs => $2::float8), $3::float8, $4::int, "
	"  CASE WHEN $4::int > 0 THEN statement_timestamp() END) "
	"ON CONFLICT (owner) DO UPDATE SET "
	"  joined_at = CASE WHEN " BUDGET_FRESH " THEN statement_timestamp() ELSE b.joined_at END, "
	"  claim = CASE WHEN " BUDGET_FRESH " THEN 0 ELSE b.claim END, "
	"  claim_was = CASE WHEN " BUDGET_FRESH " THEN 0 ELSE b.claim_was END, "
	"  lowered_at = CASE WHEN " BUDGET_FRESH " THEN NULL ELSE b.lowered_at END, "
	"  holding_since = CASE WHEN " BUDGET_FRESH " THEN NULL ELSE b.holding_since END, "
	"  hungry_since = CASE WHEN $4::int = 0 OR (NOT " BUDGET_FRESH " AND b.claim > 0) THEN NULL "
	"    WHEN " BUDGET_FRESH " THEN statement_timestamp() "
	"    ELSE coalesce(b.hungry_since, statement_timestamp()) END, "
	"  expires_at = EXCLUDED.expires_at, rate_limit = EXCLUDED.rate_limit, leaving = false, demand = $4::int "
	"RETURNING b.joined_at = statement_timestamp()";

/* The live rows, by owner (every daemon splits them in the same order), this daemon's included. */
static const char sql_rows[] =
	"WITH swept AS (DELETE FROM sync_budget WHERE owner IN (SELECT owner FROM sync_budget "
	"  WHERE owner <> $1 AND expires_at < now() - interval '" BUDGET_GONE_AFTER "' FOR UPDATE SKIP LOCKED)) "
	"SELECT owner = $1, claim, claim_was, "
	"  coalesce(extract(epoch FROM statement_timestamp() - lowered_at)::float8, 'Infinity'::float8), demand, "
	"  coalesce(extract(epoch FROM statement_timestamp() - hungry_since)::float8, -1), "
	"  coalesce(extract(epoch FROM statement_timestamp() - holding_since)::float8, -1), leaving, rate_limit, "
	"  (joined_at, owner) < (SELECT joined_at, owner FROM sync_budget WHERE owner = $1), "
	"  extract(epoch FROM expires_at - statement_timestamp())::float8 "
	"FROM sync_budget WHERE expires_at > statement_timestamp() ORDER BY owner";

/*
 * The claim decided, and the lease for the rate seen.  lowered_at is this
 * statement's own time: it is sent after the fetcher has the lower share.
 */
static const char sql_claim[] =
	"UPDATE sync_budget SET claim = $2::int, claim_was = $3::int, "
	"  lowered_at = CASE WHEN $4::bool THEN statement_timestamp() ELSE lowered_at END, "
	"  holding_since = CASE WHEN $2::int = 0 THEN NULL WHEN claim = 0 THEN statement_timestamp() "
	"    ELSE holding_since END, "
	"  hungry_since = CASE WHEN $2::int > 0 OR demand = 0 THEN NULL "
	"    ELSE coalesce(hungry_since, statement_timestamp()) END, "
	"  expires_at = greatest(expires_at, now() + make_interval(secs => $5::float8)) "
	"WHERE owner = $1";

/* A leaving row counts until its last requests' window is over: no longer than it would have anyway. */
static const char sql_leave[] =
	"UPDATE sync_budget SET leaving = true, "
	"  expires_at = least(expires_at, now() + make_interval(secs => $2::float8)) WHERE owner = $1";

static const char sql_delete[] = "DELETE FROM sync_budget WHERE owner = $1";

/* A daemon's share; see budget.h. */
double
budget_share_of(double rate_limit, long members, long rank)
{
	double whole = floor(rate_limit);

	if (members <= 1)
		return rate_limit;
	if (rank < 0 || rank >= members)
		return 0;
	/* less than one whole request a second: the oldest member has it, the others wait their turn */
	if (whole < 1)
		return rank == 0 ? rate_limit : 0;
	if ((double)rank >= whole)
		return 0;
	/* the requests numbered rank, rank + members, rank + 2 members, ... below floor(rate_limit) */
	return ceil((whole - (double)rank) / (double)members);
}

/* A new budget; see budget.h. */
struct budget *
budget_new(const char *owner)
{
	struct budget *b = calloc(1, sizeof(*b));

	if (b == NULL)
		return NULL;
	b->owner = strdup(owner);
	if (b->owner == NULL) {
		free(b);
		return NULL;
	}
	b->valid_from = b->valid_until = -INFINITY;
	b->next_renew = -INFINITY;
	b->locked_since = -INFINITY;
	b->demand_peak_at = -INFINITY;
	return b;
}

void
budget_free(struct budget *b)
{
	if (b == NULL)
		return;
	free(b->owner);
	free(b);
}

/* Take in a renewal; see budget.h. */
void
budget_apply(struct budget *b, const struct budget_view *v, double sent_at, double answered_at)
{
	b->view = *v;
	b->claim = v->claim;
	b->share = budget_claim_share(v->rate_limit, v->claim);
	/* a raise is used only once committed, which it was before answered_at */
	b->valid_from = answered_at;
	/* sent_at is no later than the database's now() for it, which the others' view of the row counts from */
	b->valid_until = sent_at + BUDGET_VALID;
}

/* The share usable now; see budget.h. */
double
budget_share(const struct budget *b, double now)
{
	return now >= b->valid_from && now < b->valid_until ? b->share : 0;
}

/* The margin of the window; see budget.h. */
double
budget_window_margin(const struct budget *b)
{
	return b->view.others > 0 ? BUDGET_WINDOW_MARGIN : 0;
}

/* The next moment anything changes; see budget.h. */
double
budget_next(const struct budget *b, double now)
{
	return b->valid_from > now ? fmin(b->next_renew, b->valid_from) : b->next_renew;
}

/* The lower function; see budget.h. */
void
budget_on_lower(struct budget *b, budget_lower_fn fn, void *arg)
{
	b->lower = fn;
	b->lower_arg = arg;
}

/* Whether a renewal is due; see budget.h. */
bool
budget_renew_due(const struct budget *b, double now)
{
	return now >= b->next_renew;
}

/* The demand counted; see budget.h. */
void
budget_set_demand(struct budget *b, long requests, double now)
{
	if (requests < 0)
		requests = 0;
	if (requests > BUDGET_DEMAND_MAX)
		requests = BUDGET_DEMAND_MAX;
	b->demand = requests;
	if (requests >= b->demand_peak || now - b->demand_peak_at >= BUDGET_DEMAND_HOLD) {
		b->demand_peak = requests;
		b->demand_peak_at = now;
	}
}

/* One row of sql_rows, or -1 when it is not what was asked for. */
static int
read_member(const PGresult *res, int i, struct budget_member *m, bool *mine, bool *before, double *rate)
{
	char *end;

	if (PQgetisnull(res, i, 1) || PQgetisnull(res, i, 8))
		return -1;
	*mine = strcmp(PQgetvalue(res, i, 0), "t") == 0;
	m->claim = strtol(PQgetvalue(res, i, 1), NULL, 10);
	m->claim_was = strtol(PQgetvalue(res, i, 2), NULL, 10);
	m->lowered_ago = strtod(PQgetvalue(res, i, 3), NULL);
	m->demand = strtol(PQgetvalue(res, i, 4), NULL, 10);
	m->waiting = strtod(PQgetvalue(res, i, 5), NULL);
	m->holding = strtod(PQgetvalue(res, i, 6), NULL);
	m->leaving = strcmp(PQgetvalue(res, i, 7), "t") == 0;
	*rate = strtod(PQgetvalue(res, i, 8), &end);
	if (end == PQgetvalue(res, i, 8) || !(*rate > 0) || m->claim < 0 || m->claim_was < 0)
		return -1;
	*before = strcmp(PQgetvalue(res, i, 9), "t") == 0;
	return 0;
}

/*
 * Read the live rows into the view v and decide this daemon's claim
 * (*next), the claim before it (*was) and whether that lowers the row's
 * claim (*lowering).  Returns 0 or -1 with err set.
 */
static int
decide(const PGresult *res, struct budget_view *v, long *next, long *was, bool *lowering, char *err, size_t errlen)
{
	int n = PQntuples(res);
	struct budget_member *m = NULL;
	long *target = NULL;
	size_t me = (size_t)n;
	double drain, rate = INFINITY;
	int rc = -1;

	if (PQnfields(res) != 11 || n < 1) {
		snprintf(err, errlen, "the budget's rows were not read (%d rows)", n);
		return -1;
	}
	m = calloc((size_t)n, sizeof(*m));
	target = calloc((size_t)n, sizeof(*target));
	if (m == NULL || target == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	memset(v, 0, sizeof(*v));
	for (int i = 0; i < n; i++) {
		bool mine, before;
		double r;

		if (read_member(res, i, &m[i], &mine, &before, &r) < 0) {
			snprintf(err, errlen, "the budget's rows were not what was asked for");
			goto out;
		}
		rate = fmin(rate, r);
		if (mine) {
			me = (size_t)i;
			continue;
		}
		v->others++;
		if (!m[i].leaving)
			v->others_active++;
		else
			v->drain = fmax(v->drain, strtod(PQgetvalue(res, i, 10), NULL));
		if (before)
			v->rank++;
	}
	if (me == (size_t)n) {
		snprintf(err, errlen, "this daemon's budget row was not there");
		goto out;
	}
	v->rate_limit = rate;
	v->tokens = budget_tokens(rate);
	drain = budget_drain(rate);
	budget_targets(m, (size_t)n, v->tokens, BUDGET_TURN, target);
	v->target = target[me];
	*next = budget_next_claim(m, (size_t)n, me, v->tokens, drain, target[me]);
	*lowering = *next < m[me].claim;
	*was = *lowering ? budget_effective(&m[me], drain) : m[me].claim_was;
	for (int i = 0; i < n; i++) {
		if ((size_t)i != me)
			v->others_claim += budget_effective(&m[i], drain);
	}
	v->claim = *next;
	rc = 0;
out:
	free(m);
	free(target);
	return rc;
}

/* Renew the row and take in the view; see budget.h. */
int
budget_renew(struct budget *b, PGconn *conn, double rate_limit, double now, char *err, size_t errlen)
{
	char lease[32], rate[32], demand[32], claim[32], was[32];
	const char *params[5] = { b->owner, lease, rate, demand, NULL };
	struct budget_view v;
	PGresult *res = NULL;
	char why[DB_ERR_SIZE];
	long next = 0, claim_was = 0;
	bool fresh, lowering = false;
	double share;
	int rc = -1;

	if (now < b->next_renew)
		return 0;
	/* until it succeeds, tried again soon: the share already held runs out at its time meanwhile */
	b->next_renew = now + BUDGET_RETRY;
	snprintf(lease, sizeof(lease), "%.3f",
		 budget_lease(b->view.rate_limit > 0 ? fmin(rate_limit, b->view.rate_limit) : rate_limit));
	snprintf(rate, sizeof(rate), "%.17g", rate_limit);
	/* the most counted lately (budget_set_demand() keeps it at least the latest) */
	snprintf(demand, sizeof(demand), "%ld", b->demand_peak);
	if (db_exec(conn, sql_begin, err, errlen) < 0)
		goto fail;
	res = db_exec_query(conn, sql_lock);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		db_error(conn, res, err, errlen);
		goto fail;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "t") != 0) {
		/* another daemon renewing (a matter of milliseconds), or one stopped in the middle of it */
		snprintf(err, errlen, "another daemon holds the budget's lock");
		goto locked;
	}
	PQclear(res);
	res = db_exec_params(conn, sql_join, 4, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		db_error(conn, res, err, errlen);
		if (!db_error_locked(res))
			goto fail;
		snprintf(err + strlen(err), errlen - strlen(err),
			 " (another session holds the budget table or this daemon's row)");
		goto locked;
	}
	fresh = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	res = db_exec_params(conn, sql_rows, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_error(conn, res, err, errlen);
		goto fail;
	}
	if (decide(res, &v, &next, &claim_was, &lowering, err, errlen) < 0)
		goto fail;
	v.fresh = fresh;
	PQclear(res);
	res = NULL;
	share = budget_claim_share(v.rate_limit, next);
	if (next < b->claim || share < b->share) {
		/* lower first: the row says so only once the fetcher no longer sends above it */
		b->claim = next < b->claim ? next : b->claim;
		b->share = fmin(share, b->share);
		if (b->lower != NULL)
			b->lower(b->lower_arg, budget_share(b, now_mono()));
	}
	snprintf(claim, sizeof(claim), "%ld", next);
	snprintf(was, sizeof(was), "%ld", claim_was);
	snprintf(lease, sizeof(lease), "%.3f", budget_lease(v.rate_limit));
	params[1] = claim;
	params[2] = was;
	params[3] = lowering ? "t" : "f";
	params[4] = lease;
	res = db_exec_params(conn, sql_claim, 5, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK || strcmp(PQcmdTuples(res), "1") != 0) {
		db_error(conn, res, err, errlen);
		goto fail;
	}
	PQclear(res);
	res = NULL;
	if (db_exec(conn, "COMMIT", err, errlen) < 0)
		goto fail;
	b->next_renew = now + BUDGET_RENEW;
	b->locked_since = -INFINITY;
	budget_apply(b, &v, now, now_mono());
	return 1;
locked:
	/* a lock in the way is no failure to report until it has lasted: most go within milliseconds */
	if (!(b->locked_since > -INFINITY))
		b->locked_since = now;
	if (now - b->locked_since < BUDGET_RENEW)
		rc = 0;
	else
		snprintf(err + strlen(err), errlen - strlen(err), " for %.1fs", now - b->locked_since);
fail:
	PQclear(res);
	if (PQtransactionStatus(conn) != PQTRANS_IDLE && PQtransactionStatus(conn) != PQTRANS_UNKNOWN)
		(void)db_exec(conn, "ROLLBACK", why, sizeof(why));
	return rc;
}

/* Leave the budget; see budget.h. */
int
budget_leave(struct budget *b, PGconn *conn, double idle, char *err, size_t errlen)
{
	/* the rate it last sent at (below one a second, its window is 1/rate_limit) */
	double drain = budget_drain(b->view.rate_limit > 0 ? b->view.rate_limit : 1.0) - idle;
	char secs[32];
	const char *params[2] = { b->owner, secs };
	PGresult *res = NULL;
	char why[DB_ERR_SIZE];
	int rc = -1;

	b->share = 0;
	b->claim = 0;
	b->valid_until = -INFINITY;
	snprintf(secs, sizeof(secs), "%.3f", fmax(drain, 0) + 0.001);
	/* no wait on a lock either: a row that cannot be updated now expires by itself */
	if (db_exec(conn, "BEGIN ISOLATION LEVEL READ COMMITTED; SET LOCAL lock_timeout = '1ms'", err, errlen) < 0)
		goto out;
	if (drain <= 0)
		res = db_exec_params(conn, sql_delete, 1, NULL, params, NULL, NULL, 0);
	else
		res = db_exec_params(conn, sql_leave, 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		db_error(conn, res, err, errlen);
		goto out;
	}
	if (db_exec(conn, "COMMIT", err, errlen) < 0)
		goto out;
	rc = 0;
out:
	PQclear(res);
	if (PQtransactionStatus(conn) != PQTRANS_IDLE && PQtransactionStatus(conn) != PQTRANS_UNKNOWN)
		(void)db_exec(conn, "ROLLBACK", why, sizeof(why));
	return rc;
}

/* Whole tokens when shared; see budget.h. */
long
budget_tokens(double rate_limit)
{
	return rate_limit >= 1 ? (long)fmin(floor(rate_limit), (double)LONG_MAX / 2) : 1;
}

/* Requests per second of one token; see budget.h. */
double
budget_token_rate(double rate_limit)
{
	return rate_limit >= 1 ? 1.0 : rate_limit;
}

/* The requests per second of a claim; see budget.h. */
double
budget_claim_share(double rate_limit, long claim)
{
	if (claim <= 0)
		return 0;
	if (claim >= budget_tokens(rate_limit))
		return rate_limit;
	return (double)claim * budget_token_rate(rate_limit);
}

/* How long a lowered claim counts at its old size; see budget.h. */
double
budget_drain(double rate_limit)
{
	return fmax(1.0, 1.0 / rate_limit) + BUDGET_WINDOW_MARGIN + BUDGET_MARGIN;
}

/* How long a row counts; see budget.h. */
double
budget_lease(double rate_limit)
{
	return fmax(BUDGET_LEASE, BUDGET_VALID + budget_drain(rate_limit));
}

/* The tokens a member counts for; see budget.h. */
long
budget_effective(const struct budget_member *m, double drain)
{
	if (m->lowered_ago < drain && m->claim_was > m->claim)
		return m->claim_was;
	return m->claim;
}

/* The class of a member in the order of the split: 0 holding, 1 waiting, 2 turn over, 3 no demand. */
static int
split_class(const struct budget_member *m, double turn, bool someone_waits)
{
	if (m->leaving || m->demand <= 0)
		return 3;
	if (m->claim > 0)
		return someone_waits && m->holding >= turn ? 2 : 0;
	return 1;
}

/* Whether a comes before b within class c. */
static bool
split_before(const struct budget_member *a, const struct budget_member *b, int c)
{
	if (c == 1)
		return a->waiting > b->waiting;
	return a->holding > b->holding;
}

/*
 * The member with demand that gets the next token: the lowest target
 * first (max-min), then by class, then as split_before() says, then by
 * index; with capped, only one whose target is below its demand.  n when
 * none.
 */
static size_t
split_next(const struct budget_member *m, size_t n, const long *target, double turn, bool waits, bool capped)
{
	size_t best = n;
	int best_class = 0;

	for (size_t i = 0; i < n; i++) {
		int c = split_class(&m[i], turn, waits);

		if (c == 3 || (capped && target[i] >= m[i].demand))
			continue;
		if (best == n || target[i] < target[best] ||
		    (target[i] == target[best] &&
		     (c < best_class || (c == best_class && split_before(&m[i], &m[best], c))))) {
			best = i;
			best_class = c;
		}
	}
	return best;
}

/* The targets of a max-min fair split; see budget.h. */
void
budget_targets(const struct budget_member *m, size_t n, long k, double turn, long *target)
{
	size_t active = 0, lone = n;
	bool waits = false;

	for (size_t i = 0; i < n; i++) {
		target[i] = 0;
		if (!m[i].leaving) {
			active++;
			lone = i;
		}
		if (!m[i].leaving && m[i].demand > 0 && m[i].claim <= 0)
			waits = true;
	}
	if (active == 1) {
		/* alone but for leaving ones: all of it (it raises as they go) */
		target[lone] = k;
		return;
	}
	/*
	 * One token at a time: first up to each one's demand, then what is
	 * left among all that have some (a demand of one request at a time,
	 * a sweep's pages, still wants them soon), and what no demand takes
	 * stays with whoever holds it: nobody lowers for nothing.
	 */
	while (k > 0) {
		size_t i = split_next(m, n, target, turn, waits, true);

		if (i == n)
			i = split_next(m, n, target, turn, waits, false);
		if (i == n)
			break;
		target[i]++;
		k--;
	}
	for (size_t i = 0; i < n && k > 0; i++) {
		if (!m[i].leaving && m[i].claim > target[i]) {
			long keep = m[i].claim - target[i] < k ? m[i].claim - target[i] : k;

			target[i] += keep;
			k -= keep;
		}
	}
}

/* The claim after a renewal; see budget.h. */
long
budget_next_claim(const struct budget_member *m, size_t n, size_t me, long k, double drain, long target)
{
	long others = 0, free_now;

	if (target <= m[me].claim)
		return target;
	for (size_t i = 0; i < n; i++) {
		if (i != me)
			others += budget_effective(&m[i], drain);
	}
	free_now = k - others;
	/* its own claim before a lowering still counts while it drains: over the budget (a smaller limit came), no raise */
	if (budget_effective(&m[me], drain) > free_now)
		return m[me].claim;
	return target < free_now ? target : free_now;
}
