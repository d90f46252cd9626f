/* The API budget shared by the daemons on one database: leased membership rows and each daemon's share. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "budget.h"
#include "clock.h"
#include "db.h"

/*
 * Renewals take the table lock one after another, so each sees every
 * renewal before it: of two daemons starting together the second sees the
 * first.  A row that expired before this statement began (it cannot have
 * been counted since) starts a new membership: joined now, last in line,
 * and "fresh", which makes the daemon wait before it sends.  Rows of
 * daemons long gone are swept on the way.  The commit must be durable
 * before the daemon acts on it, whatever the server's setting: a row lost
 * in a crash is a daemon the others do not count.
 */
static const char sql_lock[] =
	"BEGIN; SET LOCAL synchronous_commit = on; LOCK TABLE sync_budget IN SHARE ROW EXCLUSIVE MODE";

static const char sql_renew[] =
	"WITH me AS ("
	"  INSERT INTO sync_budget AS b (owner, joined_at, expires_at, rate_limit) "
	"  VALUES ($1, statement_timestamp(), now() + make_interval(secs => $2::float8), $3::float8) "
	"  ON CONFLICT (owner) DO UPDATE SET "
	"    joined_at = CASE WHEN b.expires_at < statement_timestamp() OR b.leaving "
	"      THEN statement_timestamp() ELSE b.joined_at END, "
	"    expires_at = EXCLUDED.expires_at, rate_limit = EXCLUDED.rate_limit, leaving = false "
	"  RETURNING b.joined_at, b.joined_at = statement_timestamp() AS fresh), "
	"live AS (SELECT owner, joined_at, rate_limit, leaving, expires_at FROM sync_budget "
	"  WHERE owner <> $1 AND expires_at > now()), "
	"swept AS (DELETE FROM sync_budget WHERE owner <> $1 AND expires_at < now() - interval '1 minute') "
	"SELECT me.fresh, (SELECT count(*) FROM live), (SELECT count(*) FROM live WHERE NOT leaving), "
	"  (SELECT count(*) FROM live WHERE (live.joined_at, live.owner) < (me.joined_at, $1::text)), "
	"  least($3::float8, (SELECT min(rate_limit) FROM live)), "
	"  coalesce((SELECT extract(epoch FROM max(expires_at) - now()) FROM live WHERE leaving), 0) "
	"FROM me";

/* A leaving row counts until its last requests' second is over: no longer than it would have anyway. */
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
	if (v->fresh && v->others_active == 0) {
		/*
		 * Alone but for daemons that stopped sending: the whole budget,
		 * once their last second of requests is over.
		 */
		b->share = budget_share_of(v->rate_limit, 1, 0);
		b->valid_from = answered_at + fmax(v->drain, 0);
	} else {
		b->share = budget_share_of(v->rate_limit, v->others + 1, v->rank);
		/*
		 * The others learn of this daemon at their next renewals; until
		 * the shares they hold now have run out and their windows
		 * drained, it must not send.  (Their shares only shrink with it.)
		 */
		if (v->fresh)
			b->valid_from = answered_at + BUDGET_JOIN_WAIT;
	}
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

/* Parse the one row of sql_renew into v; -1 with err set when it is not what was asked for. */
static int
read_view(const PGresult *res, struct budget_view *v, char *err, size_t errlen)
{
	char *end;

	if (PQntuples(res) != 1 || PQnfields(res) != 6) {
		snprintf(err, errlen, "the budget renewal returned %d rows", PQntuples(res));
		return -1;
	}
	v->fresh = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	v->others = strtol(PQgetvalue(res, 0, 1), NULL, 10);
	v->others_active = strtol(PQgetvalue(res, 0, 2), NULL, 10);
	v->rank = strtol(PQgetvalue(res, 0, 3), NULL, 10);
	v->rate_limit = strtod(PQgetvalue(res, 0, 4), &end);
	if (end == PQgetvalue(res, 0, 4) || !(v->rate_limit > 0)) {
		snprintf(err, errlen, "the budget renewal returned no rate limit");
		return -1;
	}
	v->drain = strtod(PQgetvalue(res, 0, 5), NULL);
	return 0;
}

/* Renew the row and take in the view; see budget.h. */
int
budget_renew(struct budget *b, PGconn *conn, double rate_limit, double now, char *err, size_t errlen)
{
	char lease[32], rate[32];
	const char *params[3] = { b->owner, lease, rate };
	struct budget_view v;
	PGresult *res = NULL;
	char why[DB_ERR_SIZE];

	if (now < b->next_renew)
		return 0;
	b->next_renew = now + BUDGET_RENEW;
	snprintf(lease, sizeof(lease), "%.3f", BUDGET_LEASE);
	snprintf(rate, sizeof(rate), "%.17g", rate_limit);
	if (db_exec(conn, sql_lock, err, errlen) < 0)
		goto fail;
	res = db_exec_params(conn, sql_renew, 3, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_error(conn, res, err, errlen);
		goto fail;
	}
	if (read_view(res, &v, err, errlen) < 0)
		goto fail;
	PQclear(res);
	res = NULL;
	if (db_exec(conn, "COMMIT", err, errlen) < 0)
		goto fail;
	budget_apply(b, &v, now, now_mono());
	return 1;
fail:
	PQclear(res);
	if (PQtransactionStatus(conn) != PQTRANS_IDLE && PQtransactionStatus(conn) != PQTRANS_UNKNOWN)
		(void)db_exec(conn, "ROLLBACK", why, sizeof(why));
	return -1;
}

/* Leave the budget; see budget.h. */
int
budget_leave(struct budget *b, PGconn *conn, double idle, char *err, size_t errlen)
{
	double drain = 1.0 + BUDGET_MARGIN - idle;
	char secs[32];
	const char *params[2] = { b->owner, secs };
	PGresult *res;
	int rc = 0;

	snprintf(secs, sizeof(secs), "%.3f", fmax(drain, 0) + 0.001);
	if (drain <= 0)
		res = db_exec_params(conn, sql_delete, 1, NULL, params, NULL, NULL, 0);
	else
		res = db_exec_params(conn, sql_leave, 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		db_error(conn, res, err, errlen);
		rc = -1;
	}
	PQclear(res);
	b->share = 0;
	b->valid_until = -INFINITY;
	return rc;
}
