/* Check suite for schedule: status phases, poll and retry delays, retryable HTTP answers, and run ID checks. */
#include <check.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "schedule.h"

START_TEST(test_phase)
{
	static const struct {
		const char *status;
		enum run_phase phase;
	} cases[] = {
		{ "PROCESSED", PHASE_FINAL },
		{ "FAILED", PHASE_FINAL },
		{ "CANCELLED", PHASE_FINAL },
		{ "REJECTED", PHASE_FINAL },
		{ "PENDING", PHASE_MOTION },
		{ "PROCESSING", PHASE_MOTION },
		{ "CANCELLING", PHASE_MOTION },
		{ "NEEDS_REVIEW", PHASE_PARKED },
		/* not known today: parked, never dropped */
		{ "ARCHIVED", PHASE_PARKED },
		{ "", PHASE_PARKED },
		{ "processed", PHASE_PARKED },
		{ "PROCESSED ", PHASE_PARKED },
		{ "PROCESS", PHASE_PARKED },
		{ "PENDINGX", PHASE_PARKED },
		{ "7", PHASE_PARKED },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(schedule_phase(cases[i].status) == cases[i].phase, "schedule_phase(\"%s\") = %d, expected %d",
			      cases[i].status, (int)schedule_phase(cases[i].status), (int)cases[i].phase);
	ck_assert_int_eq(schedule_phase(NULL), PHASE_PARKED);
}
END_TEST

START_TEST(test_active_delay)
{
	static const double expected[] = { 1, 2, 4, 8, 16, 30, 30, 30 };

	for (int n = 0; n < (int)(sizeof(expected) / sizeof(expected[0])); n++)
		ck_assert_double_eq(schedule_active_delay(1, 30, n), expected[n]);
	ck_assert_double_eq(schedule_active_delay(1, 30, 60), 30);
	ck_assert_double_eq(schedule_active_delay(1, 30, 61), 30);
	ck_assert_double_eq(schedule_active_delay(1, 30, 1023), 30);
	ck_assert_double_eq(schedule_active_delay(1, 30, 1024), 30);
	ck_assert_double_eq(schedule_active_delay(1, 30, 10000), 30);
	ck_assert_double_eq(schedule_active_delay(1, 30, INT_MAX), 30);
	ck_assert_double_eq(schedule_active_delay(1, 30, -1), 1);
	ck_assert_double_eq(schedule_active_delay(1, 30, INT_MIN), 1);
	ck_assert_double_eq(schedule_active_delay(0.5, 30, 3), 4);
	ck_assert_double_eq(schedule_active_delay(0.25, 0.25, 5), 0.25);
	ck_assert_double_eq(schedule_active_delay(1e-300, 86400, 1000), 86400);
	for (int n = 0; n < 5000; n++) {
		double d = schedule_active_delay(1, 30, n);

		ck_assert(isfinite(d));
		ck_assert(d >= 1 && d <= 30);
		ck_assert(n == 0 || d >= schedule_active_delay(1, 30, n - 1));
	}
}
END_TEST

/*
 * Retry n waits min * 2^(n-1), spread by +-10% with jitter in [0, 1), and
 * never leaves [min, max].  Once the doubling reaches max, the spread still
 * applies below it (runs that failed together do not retry in lockstep),
 * so the delay is then within [0.9 * max, max].
 */
static void
assert_retry_bounds(double min, double max, int attempts, double jitter)
{
	double base = min * pow(2, attempts < 1 ? 0 : (attempts - 1 > 2000 ? 2000 : attempts - 1));
	double lo = fmax(min, 0.9 * fmin(base, max));
	double hi = fmin(max, 1.1 * base);
	double d = schedule_retry_delay(min, max, attempts, jitter);

	ck_assert_msg(isfinite(d), "retry(%g, %g, %d, %g) is not finite", min, max, attempts, jitter);
	ck_assert_msg(d >= lo - 1e-9 && d <= hi + 1e-9, "retry(%g, %g, %d, %g) = %g, not in [%g, %g]", min, max,
		      attempts, jitter, d, lo, hi);
}

START_TEST(test_retry_delay_values)
{
	/* exact values: base * (0.9 + 0.2 * jitter), clamped */
	ck_assert_double_eq_tol(schedule_retry_delay(1, 300, 1, 0.5), 1.0, 1e-9);
	ck_assert_double_eq_tol(schedule_retry_delay(1, 300, 1, 0.0), 1.0, 1e-9);	/* 0.9, raised to min */
	ck_assert_double_eq_tol(schedule_retry_delay(1, 300, 1, 0.99), 1.098, 1e-9);
	ck_assert_double_eq_tol(schedule_retry_delay(1, 300, 2, 0.5), 2.0, 1e-9);
	ck_assert_double_eq_tol(schedule_retry_delay(1, 300, 3, 0.0), 3.6, 1e-9);
	ck_assert_double_eq_tol(schedule_retry_delay(1, 300, 3, 0.5), 4.0, 1e-9);
	ck_assert_double_eq_tol(schedule_retry_delay(1, 300, 9, 0.0), 230.4, 1e-9);
	ck_assert_double_eq_tol(schedule_retry_delay(1, 300, 9, 0.99), 281.088, 1e-9);
	ck_assert_double_eq_tol(schedule_retry_delay(1, 300, 10, 0.99), 300.0, 1e-9);	/* 329.4, cut to max */
	ck_assert_double_eq_tol(schedule_retry_delay(1, 300, 10, 0.5), 300.0, 1e-9);
	ck_assert_double_eq_tol(schedule_retry_delay(1, 300, 1000, 0.5), 300.0, 1e-9);
	ck_assert_double_eq_tol(schedule_retry_delay(1, 300, 1000, 0.0), 270.0, 1e-9);
	ck_assert_double_eq_tol(schedule_retry_delay(2, 60, 0, 0.5), 2.0, 1e-9);	/* 0 and below count as 1 */
	ck_assert_double_eq_tol(schedule_retry_delay(2, 60, -5, 0.5), 2.0, 1e-9);
}
END_TEST

START_TEST(test_retry_delay_bounds)
{
	static const double ranges[][2] = { { 1, 300 }, { 0.01, 86400 }, { 5, 5 }, { 1, 1.5 }, { 60, 604800 } };
	static const int attempts[] = { -1, 0, 1, 2, 3, 5, 8, 9, 10, 20, 31, 32, 63, 64, 65, 100, 1000, 100000,
		INT_MAX };

	for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
		for (size_t a = 0; a < sizeof(attempts) / sizeof(attempts[0]); a++) {
			double prev = 0;

			for (int j = 0; j < 100; j++) {
				double jitter = j / 100.0;
				double d = schedule_retry_delay(ranges[r][0], ranges[r][1], attempts[a], jitter);

				assert_retry_bounds(ranges[r][0], ranges[r][1], attempts[a], jitter);
				/* more jitter never means less delay */
				ck_assert_msg(d >= prev, "retry(%g, %g, %d, %g) = %g < %g", ranges[r][0], ranges[r][1],
					      attempts[a], jitter, d, prev);
				prev = d;
			}
			assert_retry_bounds(ranges[r][0], ranges[r][1], attempts[a], 0.999999);
		}
	}
}
END_TEST

/* Attempts grow the delay until max and never shrink it. */
START_TEST(test_retry_delay_grows)
{
	double prev = 0;

	for (int a = 1; a <= 1000; a++) {
		double d = schedule_retry_delay(1, 300, a, 0.5);

		ck_assert_msg(d >= prev, "attempt %d: %g < %g", a, d, prev);
		ck_assert(d <= 300);
		prev = d;
	}
	ck_assert_double_eq_tol(prev, 300, 1e-9);
}
END_TEST

START_TEST(test_http_retryable)
{
	static const struct {
		long status;
		bool retry;
	} cases[] = {
		{ 0, true },		/* no answer at all: timeout, connection refused */
		{ 200, false },
		{ 204, false },
		{ 301, false },
		{ 400, false },
		{ 401, false },
		{ 402, false },
		{ 403, false },
		{ 404, false },
		{ 407, false },
		{ 408, true },
		{ 409, true },
		{ 410, false },
		{ 413, false },
		{ 428, false },
		{ 429, true },
		{ 430, false },
		{ 499, false },
		{ 500, true },
		{ 501, true },
		{ 502, true },
		{ 503, true },
		{ 504, true },
		{ 599, true },
		{ 600, false },
		{ -1, false },
		{ 100, false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		ck_assert_msg(schedule_http_retryable(cases[i].status) == cases[i].retry, "HTTP %ld: expected %s",
			      cases[i].status, cases[i].retry ? "retryable" : "not retryable");
}
END_TEST

START_TEST(test_run_id_valid)
{
	static const char *const good[] = {
		"workflow_run_xKm9pNv3qWsY_jL2tR5Dh",
		"workflow_run_BMlfq_yWM3sT-ZzvCnA3f",
		"a",
		"Z",
		"0",
		"_",
		"-",
		"A-b_9",
	};
	static const char *const bad[] = {
		"",
		"../x",
		"..",
		"a/b",
		"a b",
		" a",
		"a ",
		"a%2F",
		"a\n",
		"a\r",
		"a\t",
		"a.b",
		"a?b",
		"a#b",
		"a\\b",
		"a:b",
		"a+b",
		"a&b=c",
		"workflow_run_\xc3\xa9",		/* é */
		"\xd0\x96",				/* Ж */
		"\xe6\x97\xa5\xe6\x9c\xac",		/* 日本 */
		"a\x7f",
		"a\x80",
	};
	char id[200];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ck_assert_msg(schedule_run_id_valid(good[i]), "\"%s\" refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(!schedule_run_id_valid(bad[i]), "\"%s\" accepted", bad[i]);

	memset(id, 'a', sizeof(id));
	id[128] = '\0';
	ck_assert(schedule_run_id_valid(id));
	id[128] = 'a';
	id[129] = '\0';
	ck_assert(!schedule_run_id_valid(id));
	id[127] = '/';
	id[128] = '\0';
	ck_assert(!schedule_run_id_valid(id));
	memset(id, 'a', sizeof(id));
	id[199] = '\0';
	ck_assert(!schedule_run_id_valid(id));
}
END_TEST

/* Claims fit what can be sent within the lease at the current rate, after the server's hold. */
START_TEST(test_claim_limit)
{
	/* lease 300, timeout 60: 120 s to send in; at 10/s the batch is the limit */
	ck_assert_int_eq(schedule_claim_limit(64, 10, 300, 60, 0, 0), 64);
	ck_assert_int_eq(schedule_claim_limit(64, 10, 300, 60, 0, 60), 4);
	ck_assert_int_eq(schedule_claim_limit(64, 10, 300, 60, 0, 64), 0);
	ck_assert_int_eq(schedule_claim_limit(64, 10, 300, 60, 0, 100), 0);
	/* the rate at its floor: 0.05/s sends 6 in 120 s, however many may be in flight */
	ck_assert_int_eq(schedule_claim_limit(64, 0.05, 300, 60, 0, 0), 6);
	ck_assert_int_eq(schedule_claim_limit(64, 0.05, 300, 60, 0, 6), 0);
	/* a hold eats into the window: 100 s of 120 leaves 20 s */
	ck_assert_int_eq(schedule_claim_limit(64, 1, 300, 60, 100, 0), 20);
	ck_assert_int_eq(schedule_claim_limit(64, 0.05, 300, 60, 100, 0), 1);
	/* a Retry-After longer than the window: nothing, not even one */
	ck_assert_int_eq(schedule_claim_limit(64, 10, 300, 60, 120, 0), 0);
	ck_assert_int_eq(schedule_claim_limit(64, 10, 300, 60, 3600, 0), 0);
	/* a slow rate and a short lease still claim one at a time when nothing holds */
	ck_assert_int_eq(schedule_claim_limit(64, 0.05, 10, 5, 0, 0), 1);
	ck_assert_int_eq(schedule_claim_limit(64, 0.05, 10, 5, 0, 1), 0);
	ck_assert_int_eq(schedule_claim_limit(1, 10, 300, 60, 0, 0), 1);
}
END_TEST

/* Only an answer that proves the key works ends the pause after a refused key. */
START_TEST(test_key_accepted)
{
	static const long yes[] = { 200, 201, 204, 299, 400, 404 };
	static const long no[] = { 0, 199, 300, 301, 304, 401, 402, 403, 405, 408, 409, 410, 422, 429,
				   500, 502, 503, 504, 599, -1 };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(schedule_key_accepted(yes[i]), "HTTP %ld should prove the key works", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(!schedule_key_accepted(no[i]), "HTTP %ld should not prove the key works", no[i]);
}
END_TEST

/* Only an answer that proves the API took the request as sent ends the pause after runs answered 400. */
START_TEST(test_request_taken)
{
	static const long yes[] = { 200, 201, 204, 299, 404 };
	static const long no[] = { 0, 199, 300, 304, 400, 401, 402, 403, 405, 408, 409, 422, 429, 500, 502, 503, -1 };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ck_assert_msg(schedule_request_taken(yes[i]), "HTTP %ld should prove the request taken", yes[i]);
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ck_assert_msg(!schedule_request_taken(no[i]), "HTTP %ld should not prove the request taken", no[i]);
}
END_TEST

static Suite *
schedule_suite(void)
{
	Suite *s = suite_create("schedule");
	TCase *tc = tcase_create("schedule");

	tcase_add_test(tc, test_phase);
	tcase_add_test(tc, test_active_delay);
	tcase_add_test(tc, test_retry_delay_values);
	tcase_add_test(tc, test_retry_delay_bounds);
	tcase_add_test(tc, test_retry_delay_grows);
	tcase_add_test(tc, test_http_retryable);
	tcase_add_test(tc, test_run_id_valid);
	tcase_add_test(tc, test_key_accepted);
	tcase_add_test(tc, test_request_taken);
	tcase_add_test(tc, test_claim_limit);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(schedule_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
