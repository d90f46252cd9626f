/* Check suite for fetch: the rate limiter's window rule, and the key's header list on a failed reconfiguration. */
#include <check.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "config.h"
#include "fetch.h"

/*
 * Linked with -Wl,--wrap=strdup,--wrap=curl_slist_free_all: strdup can be
 * made to fail for one string, and every header list freed is checked for
 * being wiped first (it holds the key).
 */
char *__real_strdup(const char *s);
char *__wrap_strdup(const char *s);
void __real_curl_slist_free_all(struct curl_slist *l);
void __wrap_curl_slist_free_all(struct curl_slist *l);

static const char *fail_strdup_of;
static int lists_freed, lists_unwiped;

char *
__wrap_strdup(const char *s)
{
	if (fail_strdup_of != NULL && strcmp(s, fail_strdup_of) == 0)
		return NULL;
	return __real_strdup(s);
}

void
__wrap_curl_slist_free_all(struct curl_slist *l)
{
	if (l != NULL) {
		lists_freed++;
		for (struct curl_slist *p = l; p != NULL; p = p->next) {
			if (p->data[0] != '\0') {
				lists_unwiped++;
				break;
			}
		}
	}
	__real_curl_slist_free_all(l);
}

static void
setup(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

static void
teardown(void)
{
	curl_global_cleanup();
}

/* strdup(base_url) failing after the header list was made: the list is wiped and freed, not leaked. */
START_TEST(test_configure_oom_wipes_headers)
{
	struct config *cfg = config_defaults();
	char err[256];
	struct fetcher *f;
	char *url;

	ck_assert_ptr_nonnull(cfg);
	f = fetch_new(cfg, "sk_test_first", err, sizeof(err));
	ck_assert_ptr_nonnull(f);
	url = __real_strdup("https://unreachable.invalid");
	ck_assert_ptr_nonnull(url);
	free(cfg->api.base_url);
	cfg->api.base_url = url;
	lists_freed = lists_unwiped = 0;
	fail_strdup_of = url;
	ck_assert_int_eq(fetch_configure(f, cfg, "sk_test_second", err, sizeof(err)), -1);
	fail_strdup_of = NULL;
	ck_assert_str_eq(err, "out of memory");
	ck_assert_msg(lists_freed == 1, "the new header list was freed %d times, expected once", lists_freed);
	ck_assert_int_eq(lists_unwiped, 0);
	/* the old headers are still in use, and freed (wiped) with the fetcher */
	lists_freed = 0;
	fetch_free(f);
	ck_assert_int_eq(lists_freed, 1);
	ck_assert_int_eq(lists_unwiped, 0);
	config_free(cfg);
}
END_TEST

#define RING 64
#define MARGIN 0.025

static void
ring_init(double *sent)
{
	for (size_t i = 0; i < RING; i++)
		sent[i] = -1e9;
}

/* Below one a second: a request still connecting holds the next one back, and spacing counts from its send. */
START_TEST(test_slow_rate_counts_from_send)
{
	double sent[RING];

	ring_init(sent);
	/* started at 10, not sent yet: nothing may follow it (the old rule said 12) */
	sent[0] = INFINITY;
	ck_assert(isinf(fetch_send_after(sent, RING, 1, 0.5, 10.0, 0)));
	/* sent at 11.5: the next one leaves no sooner than 13.5 */
	sent[0] = 11.5;
	ck_assert_double_eq_tol(fetch_send_after(sent, RING, 1, 0.5, 10.0, 0), 13.5, 1e-9);
	/* 0.8/s: 1.25 s apart, from the send */
	ck_assert_double_eq_tol(fetch_send_after(sent, RING, 1, 0.8, 10.0, 0), 12.75, 1e-9);
	/* a hold wins when it is later */
	ck_assert_double_eq_tol(fetch_send_after(sent, RING, 1, 0.5, 10.0, 20.0), 20.0, 1e-9);
	/* 0.999/s: never two in one second, however the send went */
	ck_assert(fetch_send_after(sent, RING, 1, 0.999, 10.0, 0) >= 11.5 + 1.0);
}
END_TEST

/* At a few a second: the request rate places back must be a second old; INFINITY there holds the next one. */
START_TEST(test_window)
{
	double sent[RING];

	ring_init(sent);
	for (int i = 0; i < 5; i++)
		sent[i] = 1.0 + 0.1 * i;
	/* rate 5: the fifth back left at 1.0 */
	ck_assert_double_eq_tol(fetch_send_after(sent, RING, 5, 5.0, 1.4, 0), 2.0 + MARGIN, 1e-9);
	/* rate 2: the second back left at 1.3 */
	ck_assert_double_eq_tol(fetch_send_after(sent, RING, 5, 2.0, 1.4, 0), 2.3 + MARGIN, 1e-9);
	sent[3] = INFINITY;
	ck_assert(isinf(fetch_send_after(sent, RING, 5, 2.0, 1.4, 0)));
}
END_TEST

/*
 * Simulated: requests sent whenever the rule allows, each leaving after a
 * random connect time (sometimes long), at rates around one a second.  No
 * one-second window ever holds more than max(1, floor(rate)) sends.
 */
START_TEST(test_window_simulated)
{
	static const double rates[] = { 0.05, 0.3, 0.5, 0.9, 1.0, 1.5, 2.0, 3.7 };

	srandom(42);
	for (size_t r = 0; r < sizeof(rates) / sizeof(rates[0]); r++) {
		double rate = rates[r], sent[RING], sends[400], now = 0, last_start = -1e9;
		size_t pos = 0, nsends = 0, k = rate >= 1 ? (size_t)floor(rate) : 1;

		ring_init(sent);
		while (nsends < 400) {
			double t = fetch_send_after(sent, RING, pos, rate, last_start, 0);
			double connect = (random() % 4 == 0) ? 0.2 + 2.0 * random() / RAND_MAX : 0.001;

			if (isinf(t)) {
				/* the connecting request leaves */
				sent[(pos + RING - 1) % RING] = now;
				continue;
			}
			now = fmax(now, t);
			last_start = now;
			/* started now; leaves after connect: until then INFINITY */
			sent[pos] = INFINITY;
			pos = (pos + 1) % RING;
			now += connect;
			sent[(pos + RING - 1) % RING] = now;
			sends[nsends++] = now;
		}
		for (size_t i = 0; i + k < nsends; i++)
			ck_assert_msg(sends[i + k] - sends[i] >= 1.0, "rate %.2f: %zu sends within %.3f s", rate,
				      k + 1, sends[i + k] - sends[i]);
	}
}
END_TEST

static Suite *
fetch_suite(void)
{
	Suite *s = suite_create("fetch");
	TCase *tc = tcase_create("fetch");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_configure_oom_wipes_headers);
	tcase_add_test(tc, test_slow_rate_counts_from_send);
	tcase_add_test(tc, test_window);
	tcase_add_test(tc, test_window_simulated);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(fetch_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
