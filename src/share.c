/* This daemon's share of the API budget: renewed when due, handed to the fetcher, logged as it changes. */
#include <math.h>

#include "db.h"
#include "queue.h"
#include "wait.h"
#include "share.h"

/* Before a renewal writes a lower claim: the fetcher sends no more than it from now on. */
static void
lower_share(void *arg, double share)
{
	struct share *s = arg;

	if (s->fetch != NULL)
		fetch_set_share(s->fetch, share, budget_window_margin(s->budget), s->budget->valid_until);
}

/* The next renewal as a timer of the wait, while the database is there. */
static double
renew_timer(void *arg, double now)
{
	struct share *s = arg;

	return s->db->conn != NULL ? budget_next(s->budget, now) : INFINITY;
}

/* Set up; see share.h. */
int
share_init(struct share *s, const char *owner, struct dbconn *db)
{
	*s = (struct share){ .db = db };
	s->budget = budget_new(owner);
	if (s->budget == NULL)
		return -1;
	budget_on_lower(s->budget, lower_share, s);
	return wait_add_timer(renew_timer, s, 0);
}

/* Whether a renewal is due; see share.h. */
bool
share_due(const struct share *s, double now)
{
	return s->db->conn != NULL && budget_renew_due(s->budget, now);
}

/* The demand; see share.h. */
void
share_count_demand(struct share *s, long holding, bool count_due, int claim_batch, const char *cutoff, double now)
{
	char err[DB_ERR_SIZE];
	long due = 0;

	if (count_due && s->db->conn != NULL &&
	    queue_count_due(s->db->conn, claim_batch, cutoff, &due, err, sizeof(err)) < 0) {
		/* the renewal that follows reports a database that is away; its demand is what it holds */
		due = 0;
	}
	budget_set_demand(s->budget, holding + due, now);
}

/* Say how the share changed after a renewal. */
static void
renewed(struct share *s, const struct budget_view *before, double share)
{
	const struct budget_view *v = &s->budget->view;

	log_lasting_ok(&s->failing, "the API budget is renewed");
	if (v->fresh && v->others_active > 0)
		log_info("sharing the API budget with %ld other daemon%s: sending as tokens are free (%ld of %ld "
			 "taken by the others)",
			 v->others_active, v->others_active == 1 ? "" : "s", v->others_claim, v->tokens);
	else if (v->others != before->others || v->rate_limit != before->rate_limit || s->budget->share != share)
		log_info("API budget %.4g requests/s shared by %ld daemon%s: this one's share %.4g/s",
			 v->rate_limit, v->others + 1, v->others == 0 ? "" : "s", s->budget->share);
}

/* Renew; see share.h. */
bool
share_renew(struct share *s, double rate_limit, double now)
{
	struct budget_view before = s->budget->view;
	double had = fetch_current_rate(s->fetch), share = s->budget->share;
	char err[DB_ERR_SIZE];
	int rc = 0;

	if (s->db->conn != NULL)
		rc = budget_renew(s->budget, s->db->conn, rate_limit, now, err, sizeof(err));
	if (rc < 0 && !dbconn_gone(s->db))
		log_lasting_fail(&s->failing, "could not renew this daemon's share of the API budget: %s", err);
	if (rc > 0)
		renewed(s, &before, share);
	fetch_set_share(s->fetch, budget_share(s->budget, now), budget_window_margin(s->budget),
			s->budget->valid_until);
	return had <= 0 && fetch_current_rate(s->fetch) > 0;
}

/* Leave; see share.h. */
void
share_end(struct share *s, double idle)
{
	char err[DB_ERR_SIZE];

	/* the others grow once this daemon's last second of requests is over */
	if (s->budget != NULL && s->db->conn != NULL &&
	    budget_leave(s->budget, s->db->conn, idle, err, sizeof(err)) < 0)
		log_warning("could not leave the API budget (the others grow when its lease ends): %s", err);
	budget_free(s->budget);
	s->budget = NULL;
}
