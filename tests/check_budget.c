/* Check suite for budget: the split by demand, when a renewal's share may be used, and a model of the protocol. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"

START_TEST(test_share_split)
{
	ck_assert_double_eq(budget_share_of(5, 1, 0), 5);
	ck_assert_double_eq(budget_share_of(5.5, 1, 0), 5.5);
	ck_assert_double_eq(budget_share_of(0.5, 1, 0), 0.5);
	ck_assert_double_eq(budget_share_of(5, 2, 0), 3);
	ck_assert_double_eq(budget_share_of(5, 2, 1), 2);
	ck_assert_double_eq(budget_share_of(5, 3, 0), 2);
	ck_assert_double_eq(budget_share_of(5, 3, 1), 2);
	ck_assert_double_eq(budget_share_of(5, 3, 2), 1);
	/* fewer whole requests than daemons: the latest ones wait */
	ck_assert_double_eq(budget_share_of(2, 3, 1), 1);
	ck_assert_double_eq(budget_share_of(2, 3, 2), 0);
	ck_assert_double_eq(budget_share_of(0.5, 2, 0), 0.5);
	ck_assert_double_eq(budget_share_of(0.5, 2, 1), 0);
	ck_assert_double_eq(budget_share_of(5, 3, 3), 0);
	ck_assert_double_eq(budget_share_of(5, 3, -1), 0);
}
END_TEST

/* However many daemons, the shares add up to no more than floor(rate_limit) (all of it when n <= it). */
START_TEST(test_share_sum)
{
	static const double rates[] = { 0.3, 1, 1.5, 2, 5, 5.9, 7, 10, 64, 200.5 };

	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		for (long n = 2; n <= 12; n++) {
			double sum = 0;

			for (long r = 0; r < n; r++)
				sum += budget_share_of(rates[i], n, r);
			ck_assert_msg(sum <= fmax(floor(rates[i]), rates[i] < 1 ? rates[i] : 0),
				      "rate %g among %ld: shares add up to %g", rates[i], n, sum);
			if (floor(rates[i]) >= 1)
				ck_assert_double_eq(sum, floor(rates[i]));
		}
	}
}
END_TEST

/*
 * Nobody gets more when a daemon joins (last, or anywhere before it), nor less
 * when one leaves: which is why a daemon may apply any new share at once
 * but for its own joining.
 */
START_TEST(test_share_monotone)
{
	static const double rates[] = { 0.5, 1, 3, 5, 7.5, 10, 33 };

	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		for (long n = 1; n <= 12; n++) {
			for (long r = 0; r < n; r++) {
				double s = budget_share_of(rates[i], n, r);

				ck_assert(budget_share_of(rates[i], n + 1, r) <= s);
				ck_assert(budget_share_of(rates[i], n + 1, r + 1) <= s);
				ck_assert(r + 1 >= n || budget_share_of(rates[i], n, r + 1) <= s);
			}
		}
	}
}
END_TEST

static struct budget_view
view(bool fresh, long others, long claim)
{
	struct budget_view v = { fresh, others, others, 0, 5.0, 0, 5, claim, claim, 0 };

	return v;
}

START_TEST(test_alone)
{
	struct budget *b = budget_new("host:1:a");
	struct budget_view v = view(true, 0, 5);

	ck_assert_ptr_nonnull(b);
	ck_assert_double_eq(budget_share(b, 100), 0);
	budget_apply(b, &v, 100, 100.01);
	/* all its tokens: all of the rate, for BUDGET_VALID from when the renewal was sent */
	ck_assert_double_eq(budget_share(b, 100.01), 5);
	ck_assert_double_eq(budget_share(b, 100 + BUDGET_VALID - 0.01), 5);
	ck_assert_double_eq(budget_window_margin(b), 0);
	/* not renewed (the database is away): nothing */
	ck_assert_double_eq(budget_share(b, 100 + BUDGET_VALID), 0);
	ck_assert_double_eq(budget_share(b, 1000), 0);
	budget_free(b);
}
END_TEST

START_TEST(test_join)
{
	struct budget *b = budget_new("host:2:b");
	struct budget_view v = view(true, 2, 0);

	/* a new membership holds no tokens: nothing until a renewal raised its claim */
	budget_apply(b, &v, 100, 100.2);
	ck_assert_double_eq(budget_share(b, 100.3), 0);
	ck_assert_double_eq(budget_window_margin(b), BUDGET_WINDOW_MARGIN);
	v = view(false, 2, 2);
	budget_apply(b, &v, 103, 103.1);
	/* used from the commit on, not before */
	ck_assert_double_eq(budget_share(b, 103.05), 0);
	ck_assert_double_eq(budget_share(b, 103.2), 2);
	v = view(false, 0, 5);
	budget_apply(b, &v, 105, 105.1);
	ck_assert_double_eq(budget_share(b, 105.2), 5);
	budget_free(b);
}
END_TEST

START_TEST(test_claim_share)
{
	ck_assert_double_eq(budget_claim_share(5.5, 5), 5.5);
	ck_assert_double_eq(budget_claim_share(5.5, 4), 4);
	ck_assert_double_eq(budget_claim_share(5.5, 0), 0);
	ck_assert_double_eq(budget_claim_share(0.5, 1), 0.5);
	ck_assert_double_eq(budget_claim_share(2, 7), 2);
}
END_TEST

START_TEST(test_lease_covers_drain)
{
	static const double rates[] = { 0.1, 0.5, 0.9, 1, 2, 5.5, 100 };

	/* a claim that ran out has drained before the row could expire in the others' eyes, at any rate */
	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		ck_assert(BUDGET_VALID + budget_drain(rates[i]) <= budget_lease(rates[i]));
		ck_assert(budget_drain(rates[i]) >= fmax(1, 1 / rates[i]) + BUDGET_WINDOW_MARGIN);
	}
	/* below one a second, the window is 1/rate: 4 s did not cover it at 0.5 */
	ck_assert(budget_lease(0.5) >= BUDGET_VALID + 2.0 + BUDGET_WINDOW_MARGIN);
	ck_assert(BUDGET_RENEW * 2 <= BUDGET_VALID);
}
END_TEST

START_TEST(test_tokens)
{
	ck_assert_int_eq(budget_tokens(5.5), 5);
	ck_assert_int_eq(budget_tokens(1), 1);
	ck_assert_int_eq(budget_tokens(0.5), 1);
	ck_assert_double_eq(budget_token_rate(0.5), 0.5);
	ck_assert_double_eq(budget_token_rate(3), 1);
}
END_TEST

static struct budget_member
member(long claim, long demand, double waiting, double holding)
{
	struct budget_member m = { claim, 0, INFINITY, demand, waiting, holding, false };

	return m;
}

START_TEST(test_targets_fair)
{
	struct budget_member m[3];
	long t[3];

	/* one idle: the other has all of it */
	m[0] = member(2, 4, -1, 5);
	m[1] = member(2, 0, -1, 5);
	budget_targets(m, 2, 4, 10, t);
	ck_assert_int_eq(t[0], 4);
	ck_assert_int_eq(t[1], 0);
	/* both busy: halves; a small demand is met, the rest to the other */
	m[1].demand = 9;
	m[0].demand = 9;
	budget_targets(m, 2, 4, 10, t);
	ck_assert_int_eq(t[0], 2);
	ck_assert_int_eq(t[1], 2);
	m[1].demand = 1;
	budget_targets(m, 2, 4, 10, t);
	ck_assert_int_eq(t[0], 3);
	ck_assert_int_eq(t[1], 1);
	/* every demand met: the rest among all that have some (a request at a time still wants them soon) */
	m[0] = member(49, 1, -1, 5);
	m[1] = member(0, 1, 3, -1);
	budget_targets(m, 2, 50, 10, t);
	ck_assert_int_eq(t[0], 25);
	ck_assert_int_eq(t[1], 25);
	/* nobody wants them: the tokens stay where they are */
	m[0] = member(3, 0, -1, 5);
	m[1] = member(1, 0, -1, 5);
	budget_targets(m, 2, 4, 10, t);
	ck_assert_int_eq(t[0], 3);
	ck_assert_int_eq(t[1], 1);
	/* 5 among three: 2, 2, 1, the odd one to the longest holding */
	m[0] = member(2, 9, -1, 5);
	m[1] = member(2, 9, -1, 7);
	m[2] = member(1, 9, -1, 6);
	budget_targets(m, 3, 5, 10, t);
	ck_assert_int_eq(t[0], 1);
	ck_assert_int_eq(t[1], 2);
	ck_assert_int_eq(t[2], 2);
	/* a leaving member gets nothing; alone but for it, all of it */
	m[0].leaving = true;
	budget_targets(m, 3, 5, 10, t);
	ck_assert_int_eq(t[0], 0);
	m[1].leaving = true;
	m[2].demand = 0;
	budget_targets(m, 3, 5, 10, t);
	ck_assert_int_eq(t[2], 5);
}
END_TEST

/* Fewer tokens than hungry members: holders keep their turn, then the longest waiting takes over. */
START_TEST(test_targets_turn)
{
	struct budget_member m[3];
	long t[3];

	m[0] = member(1, 3, -1, 4);
	m[1] = member(1, 3, -1, 2);
	m[2] = member(0, 3, 7, -1);
	budget_targets(m, 3, 2, 10, t);
	ck_assert_int_eq(t[0], 1);
	ck_assert_int_eq(t[1], 1);
	ck_assert_int_eq(t[2], 0);
	/* the first one's turn is over: the waiter before it */
	m[0].holding = 11;
	budget_targets(m, 3, 2, 10, t);
	ck_assert_int_eq(t[0], 0);
	ck_assert_int_eq(t[1], 1);
	ck_assert_int_eq(t[2], 1);
	/* two waiting, one token: the one waiting longer */
	m[0] = member(0, 3, 2, -1);
	m[1] = member(0, 3, 5, -1);
	m[2] = member(0, 0, -1, -1);
	budget_targets(m, 3, 1, 10, t);
	ck_assert_int_eq(t[0], 0);
	ck_assert_int_eq(t[1], 1);
}
END_TEST

/* A raise goes only into what the others' effective claims leave free; a lowering is the target at once. */
START_TEST(test_next_claim)
{
	struct budget_member m[2];
	double drain = budget_drain(4);

	m[0] = member(0, 9, 3, -1);
	m[1] = member(2, 9, -1, 5);
	/* the other lowered from 4 to 2 a moment ago: still counts 4 */
	m[1].claim_was = 4;
	m[1].lowered_ago = 0.5;
	ck_assert_int_eq(budget_effective(&m[1], drain), 4);
	ck_assert_int_eq(budget_next_claim(m, 2, 0, 4, drain, 2), 0);
	/* drained: 2 free */
	m[1].lowered_ago = drain;
	ck_assert_int_eq(budget_effective(&m[1], drain), 2);
	ck_assert_int_eq(budget_next_claim(m, 2, 0, 4, drain, 3), 2);
	/* a lowering: the target, whatever is free */
	ck_assert_int_eq(budget_next_claim(m, 2, 1, 4, drain, 1), 1);
	/* a smaller limit came: over the budget, no raise */
	ck_assert_int_eq(budget_next_claim(m, 2, 0, 1, drain, 1), 0);
}
END_TEST

/*
 * A model of the protocol as budget_renew() runs it: n daemons renewing
 * about once a second, one after another (the budget's lock), with
 * budget_targets() and budget_next_claim() deciding; a lowering applied
 * to the sending first, then written; a raise used only once committed; a
 * renewal (its row's renewal included) that fails to commit at random;
 * demand changing at random; daemons stalling (no renewal, still sending
 * until their claim's validity is over), crashing or stopping (a new
 * membership on restart; the old row counts until it expires, or, when
 * stopped, until its drain is over).  At every step, over the window of
 * max(1, 1/rate) seconds ending then, the most tokens each daemon sent at
 * in it add up to no more than the budget's tokens; and a daemon that
 * always has work gets tokens, again and again.
 */
#define MODEL_DT 0.02
#define MODEL_N 4
#define MODEL_SECONDS 150
#ifndef MODEL_SEEDS
#define MODEL_SEEDS 4
#endif
struct model_row {
	bool exists, leaving;
	double rate;			/* its api.rate_limit */
	long claim, claim_was, demand;
	double lowered_at, hungry_since, holding_since, expires_at;
};

struct model_daemon {
	struct model_row row, ghost;	/* its row; that of its previous life, until it expires */
	long demand;			/* what it could send */
	double rate;			/* its api.rate_limit */
	long sending;			/* tokens it sends at */
	double valid_until, next_renew, dead_until;
	bool crashed;
	double claimed[2];		/* token-seconds it sent in the first and second half of the run */
	double hist[512];		/* tokens in force at each step of the last window (ring) */
};

static unsigned long model_seed;

static double
model_rand(void)
{
	model_seed = model_seed * 6364136223846793005UL + 1442695040888963407UL;
	return (double)(model_seed >> 11) / (double)(1UL << 53);
}

static void
model_member(const struct model_row *r, double t, struct budget_member *m)
{
	m->claim = r->claim;
	m->claim_was = r->claim_was;
	m->lowered_ago = t - r->lowered_at;
	m->demand = r->demand;
	m->waiting = r->hungry_since >= 0 ? t - r->hungry_since : -1;
	m->holding = r->holding_since >= 0 ? t - r->holding_since : -1;
	m->leaving = r->leaving;
}

static void
model_renew(struct model_daemon *d, size_t n, size_t me, double t)
{
	struct budget_member m[2 * MODEL_N];
	long target[2 * MODEL_N];
	size_t nm = 0, mine = 0;
	long k, next;
	double drain, rate = d[me].rate;
	struct model_row r = d[me].row;	/* the transaction's; the row as it was if it does not commit */

	if (!r.exists || r.expires_at <= t || r.leaving) {
		r.claim = r.claim_was = 0;
		r.lowered_at = r.hungry_since = r.holding_since = -INFINITY;
		r.holding_since = -1;
		r.hungry_since = -1;
		r.exists = true;
		r.leaving = false;
	}
	r.demand = d[me].demand;
	r.rate = d[me].rate;
	if (r.demand == 0 || r.claim > 0)
		r.hungry_since = -1;
	else if (r.hungry_since < 0)
		r.hungry_since = t;
	/* the live rows: the others', their previous lives', this one's as the transaction sees it */
	for (size_t i = 0; i < n; i++) {
		if (i == me) {
			mine = nm;
			model_member(&r, t, &m[nm++]);
			continue;
		}
		if (d[i].row.exists && d[i].row.expires_at > t) {
			rate = fmin(rate, d[i].row.rate);
			model_member(&d[i].row, t, &m[nm++]);
		}
		if (d[i].ghost.exists && d[i].ghost.expires_at > t) {
			rate = fmin(rate, d[i].ghost.rate);
			model_member(&d[i].ghost, t, &m[nm++]);
		}
	}
	if (d[me].ghost.exists && d[me].ghost.expires_at > t) {
		rate = fmin(rate, d[me].ghost.rate);
		model_member(&d[me].ghost, t, &m[nm++]);
	}
	/* the budget is the smallest limit among the live rows */
	k = budget_tokens(rate);
	drain = budget_drain(rate);
	r.expires_at = t + budget_lease(rate);
	budget_targets(m, nm, k, BUDGET_TURN, target);
	next = budget_next_claim(m, nm, mine, k, drain, target[mine]);
	if (next < d[me].sending)
		d[me].sending = next;	/* lowered first */
	if (next < r.claim) {
		r.claim_was = budget_effective(&m[mine], drain);
		r.lowered_at = t;
	}
	if (next == 0)
		r.holding_since = -1;
	else if (r.claim == 0)
		r.holding_since = t;
	if (next > 0 || r.demand == 0)
		r.hungry_since = -1;
	else if (r.hungry_since < 0)
		r.hungry_since = t;
	r.claim = next;
	if (model_rand() < 0.1)
		return;		/* the commit failed: nothing of it happened, but the lowering applied */
	d[me].row = r;
	d[me].sending = next;
	d[me].valid_until = t + BUDGET_VALID;
}

/* The tokens of the smallest limit among the rows live at t (those of rate when none is). */
static long
model_tokens(const struct model_daemon *d, size_t n, double rate, double t)
{
	for (size_t i = 0; i < n; i++) {
		if (d[i].row.exists && d[i].row.expires_at > t)
			rate = fmin(rate, d[i].row.rate);
		if (d[i].ghost.exists && d[i].ghost.expires_at > t)
			rate = fmin(rate, d[i].ghost.rate);
	}
	return budget_tokens(rate);
}

/*
 * One run at rate; with low > 0 the first daemon's api.rate_limit is low:
 * the windows are then held to low's tokens once every daemon could have
 * renewed since its row came or went and drained (before that, to rate's).
 */
static void
model_run(double rate, double low, size_t n, bool faults, bool hungry, unsigned long seed)
{
	static struct model_daemon d[MODEL_N];
	double window = fmax(1.0, 1.0 / fmin(rate, low > 0 ? low : rate));
	size_t steps = (size_t)(MODEL_SECONDS / MODEL_DT), w = (size_t)ceil(window / MODEL_DT);
	long k = budget_tokens(rate), k_live = k;
	double settle = BUDGET_VALID + budget_drain(fmin(rate, low > 0 ? low : rate)), k_since = 0;

	ck_assert(w < 512);
	model_seed = seed;
	memset(d, 0, sizeof(d));
	for (size_t i = 0; i < n; i++) {
		d[i].next_renew = model_rand() * 3;
		d[i].valid_until = -INFINITY;
		d[i].demand = hungry ? 8 : 0;
		d[i].rate = i == 0 && low > 0 ? low : rate;
	}
	for (size_t s = 0; s < steps; s++) {
		double t = (double)s * MODEL_DT;
		long sum = 0;

		for (size_t i = 0; i < n; i++) {
			struct model_daemon *x = &d[i];

			if (!hungry && model_rand() < 0.002)
				x->demand = model_rand() < 0.5 ? 0 : 1 + (long)(model_rand() * 6);
			if (faults && !x->crashed && t >= x->dead_until && model_rand() < 0.0005 &&
			    !(x->ghost.exists && x->ghost.expires_at > t)) {
				/* a stall of up to 6 s (sending on until its claim runs out), or a crash or stop and restart */
				x->dead_until = t + model_rand() * 6;
				x->crashed = model_rand() < 0.5;
				if (x->crashed) {
					x->sending = 0;
					x->valid_until = -INFINITY;
					x->ghost = x->row;
					x->row.exists = false;
					if (model_rand() < 0.5) {
						/* a graceful stop: leaving, until its last window is over */
						x->ghost.leaving = true;
						x->ghost.expires_at = fmin(x->ghost.expires_at, t + budget_drain(rate));
					}
				}
			}
			if (x->crashed && t >= x->dead_until)
				x->crashed = false;
			if (t >= x->next_renew && t >= x->dead_until) {
				model_renew(d, n, i, t);
				x->next_renew = t + BUDGET_RENEW * (0.9 + 0.2 * model_rand());
			}
			x->hist[s % w] = t < x->valid_until && !x->crashed ? (double)x->sending : 0;
			if (t >= 10)
				x->claimed[t < MODEL_SECONDS / 2 ? 0 : 1] += x->hist[s % w] * MODEL_DT;
		}
		/* every window ending now: what each may have sent in it, at most the most it held in it */
		for (size_t i = 0; i < n; i++) {
			double most = 0;

			for (size_t j = 0; j < w && j <= s; j++)
				most = fmax(most, d[i].hist[(s - j) % w]);
			sum += (long)most;
		}
		ck_assert_msg(sum <= k, "rate %g, %zu daemons, seed %lu: %ld tokens in the window ending at %.2f s (budget %ld)",
			      rate, n, seed, sum, t, k);
		if (model_tokens(d, n, rate, t) != k_live) {
			k_live = model_tokens(d, n, rate, t);
			k_since = t;
		}
		ck_assert_msg(t - k_since < settle || sum <= k_live,
			      "rates %g and %g, %zu daemons, seed %lu: %ld tokens in the window ending at %.2f s "
			      "(budget %ld since %.2f s)", rate, low, n, seed, sum, t, k_live, k_since);
	}
	if (hungry && !faults) {
		for (size_t i = 0; i < n; i++)
			ck_assert_msg(d[i].claimed[0] > 0 && d[i].claimed[1] > 0,
				      "rate %g, %zu daemons: daemon %zu had no tokens in half of the run (%g, %g token-s)",
				      rate, n, i, d[i].claimed[0], d[i].claimed[1]);
	}
}

START_TEST(test_model)
{
	static const double rates[] = { 0.5, 1, 2, 3, 5, 7.5 };

	for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
		for (size_t n = 2; n <= MODEL_N; n++) {
			model_run(rates[r], 0, n, false, true, 1 + n);
			model_run(rates[r], 0, n, true, true, 101 + n);
			for (unsigned long seed = 1; seed <= MODEL_SEEDS; seed++) {
				model_run(rates[r], 0, n, true, false, seed * 7919 + n);
				/* a daemon with a smaller api.rate_limit among them, coming and going */
				if (rates[r] >= 3)
					model_run(rates[r], 2, n, true, false, seed * 104729 + n);
			}
		}
	}
}
END_TEST

static Suite *
budget_suite(void)
{
	Suite *s = suite_create("budget");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_share_split);
	tcase_add_test(tc, test_share_sum);
	tcase_add_test(tc, test_share_monotone);
	tcase_add_test(tc, test_alone);
	tcase_add_test(tc, test_join);
	tcase_add_test(tc, test_claim_share);
	tcase_add_test(tc, test_lease_covers_drain);
	tcase_add_test(tc, test_tokens);
	tcase_add_test(tc, test_targets_fair);
	tcase_add_test(tc, test_targets_turn);
	tcase_add_test(tc, test_next_claim);
	tcase_add_test(tc, test_model);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(budget_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
