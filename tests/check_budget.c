/* Check suite for budget: the shares of a split budget, and when a renewal's share may be used. */
#include <check.h>
#include <math.h>
#include <stdlib.h>

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
view(bool fresh, long others, long active, long rank)
{
	struct budget_view v = { fresh, others, active, rank, 5.0, 0 };

	return v;
}

START_TEST(test_alone)
{
	struct budget *b = budget_new("host:1:a");
	struct budget_view v = view(true, 0, 0, 0);

	ck_assert_ptr_nonnull(b);
	ck_assert_double_eq(budget_share(b, 100), 0);
	budget_apply(b, &v, 100, 100.01);
	/* alone: at once, all of it, for BUDGET_VALID from when the renewal was sent */
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
	struct budget_view v = view(true, 2, 2, 2);

	budget_apply(b, &v, 100, 100.2);
	ck_assert_double_eq(budget_share(b, 100.3), 0);
	ck_assert_double_eq(budget_window_margin(b), BUDGET_WINDOW_MARGIN);
	/* renewals go on during the wait without ending it */
	v = view(false, 2, 2, 2);
	budget_apply(b, &v, 101, 101.1);
	budget_apply(b, &v, 102, 102.1);
	budget_apply(b, &v, 103, 103.1);
	ck_assert_double_eq(budget_share(b, 100.2 + BUDGET_JOIN_WAIT - 0.01), 0);
	ck_assert_double_eq(budget_share(b, 100.2 + BUDGET_JOIN_WAIT), 1);
	/* the first leaves: this one moves up */
	v = view(false, 1, 1, 1);
	budget_apply(b, &v, 104, 104.1);
	ck_assert_double_eq(budget_share(b, 104.2), 2);
	v = view(false, 0, 0, 0);
	budget_apply(b, &v, 105, 105.1);
	ck_assert_double_eq(budget_share(b, 105.2), 5);
	/* its own row had expired (the database was away): a new membership waits again */
	v = view(true, 1, 1, 1);
	budget_apply(b, &v, 110, 110.1);
	ck_assert_double_eq(budget_share(b, 110.2), 0);
	ck_assert_double_eq(budget_share(b, 110.1 + BUDGET_JOIN_WAIT), 0);	/* not renewed since */
	budget_free(b);
}
END_TEST

START_TEST(test_after_leavers)
{
	struct budget *b = budget_new("host:3:c");
	struct budget_view v = view(true, 1, 0, 1);

	/* the only other row is leaving, its last second over in 0.7 s */
	v.drain = 0.7;
	budget_apply(b, &v, 100, 100.1);
	ck_assert_double_eq(budget_share(b, 100.5), 0);
	ck_assert_double_eq(budget_share(b, 100.8), 5);
	ck_assert(budget_next(b, 100.5) <= 100.8);
	budget_free(b);
}
END_TEST

START_TEST(test_lease_covers_drain)
{
	/* a share that ran out has drained before the row could expire in the others' eyes */
	ck_assert(BUDGET_VALID + 1.0 + BUDGET_MARGIN <= BUDGET_LEASE);
	ck_assert(BUDGET_RENEW * 2 <= BUDGET_VALID);
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
	tcase_add_test(tc, test_after_leavers);
	tcase_add_test(tc, test_lease_covers_drain);
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
