/* Check suite for discover: times, list request paths, list pages, the stop rule, coverage, the discover keys. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "discover.h"

START_TEST(test_parse_time)
{
	static const struct {
		const char *in;
		int64_t us;
	} ok[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2025-05-09T01:00:00Z", 1746752400000000LL },
		{ "2025-05-09T01:00:00.5Z", 1746752400500000LL },
		{ "2025-05-09T01:00:00.123456789Z", 1746752400123456LL },
		{ "2025-05-09T03:00:00+02:00", 1746752400000000LL },
		{ "2025-05-08T23:30:00-01:30", 1746752400000000LL },
		{ "2024-02-29T00:00:00z", 1709164800000000LL },
		{ "1969-12-31T23:59:59.5Z", -500000 },
	};
	static const char *const bad[] = {
		"", "2025-05-09", "2025-05-09T01:00:00", "2025-05-09T01:00:00ZZ", "2025-13-01T00:00:00Z",
		"2025-02-29T00:00:00Z", "2025-04-31T00:00:00Z", "2025-05-09T24:00:00Z", "2025-05-09T01:00:00.Z",
		"2025-05-09T01:00:00+0200", "yesterday", "2025-05-09T01:00:00Z ", "2025/05/09T01:00:00Z",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int64_t us = 42;

		ck_assert_msg(discover_parse_time(ok[i].in, &us) == 0, "refused \"%s\"", ok[i].in);
		ck_assert_msg(us == ok[i].us, "\"%s\" gave %lld, expected %lld", ok[i].in, (long long)us,
			      (long long)ok[i].us);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t us;

		ck_assert_msg(discover_parse_time(bad[i], &us) < 0, "accepted \"%s\"", bad[i]);
	}
}
END_TEST

START_TEST(test_format_time)
{
	static const int64_t t[] = { 0, 1746752400123456LL, 1709164800000000LL, -500000, 4102444799999999LL };
	char out[40];

	discover_format_time(1746752400123456LL, out, sizeof(out));
	ck_assert_str_eq(out, "2025-05-09T01:00:00.123456Z");
	discover_format_time(-500000, out, sizeof(out));
	ck_assert_str_eq(out, "1969-12-31T23:59:59.500000Z");
	/* what is written reads back the same: a high-water mark survives its trip through text */
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int64_t back;

		discover_format_time(t[i], out, sizeof(out));
		ck_assert_int_eq(discover_parse_time(out, &back), 0);
		ck_assert_msg(back == t[i], "%lld -> %s -> %lld", (long long)t[i], out, (long long)back);
	}
}
END_TEST

START_TEST(test_list_path)
{
	char out[512];

	ck_assert_int_eq(discover_list_path(out, sizeof(out), 1000, NULL, NULL, NULL), 0);
	ck_assert_str_eq(out, "/workflow_runs?sortBy=updatedAt&sortDir=desc&maxPageSize=1000");
	ck_assert_int_eq(discover_list_path(out, sizeof(out), 50, "workflow_Ab-1", NULL, "cGFnZTI="), 0);
	ck_assert_str_eq(out, "/workflow_runs?sortBy=updatedAt&sortDir=desc&maxPageSize=50&workflowId=workflow_Ab-1"
			 "&nextPageToken=cGFnZTI%3D");
	ck_assert_int_eq(discover_list_path(out, sizeof(out), 7, NULL, "batch_x", "a b&c=d/e?f#g+h%\xc3\xa9"), 0);
	ck_assert_str_eq(out, "/workflow_runs?sortBy=updatedAt&sortDir=desc&maxPageSize=7&batchId=batch_x"
			 "&nextPageToken=a%20b%26c%3Dd%2Fe%3Ff%23g%2Bh%25%C3%A9");
	/* too small: refused, never cut */
	ck_assert_int_eq(discover_list_path(out, 40, 1000, NULL, NULL, NULL), -1);
	ck_assert_int_eq(discover_list_path(out, 70, 1000, NULL, NULL, "0123456789"), -1);
}
END_TEST

static struct list_page *
parse_ok(const char *body)
{
	struct list_page *p = NULL;
	char err[DISCOVER_ERR_SIZE] = "";
	int rc = discover_parse_page(body, strlen(body), &p, err, sizeof(err));

	ck_assert_msg(rc == 0, "refused (%d: %s): %s", rc, err, body);
	ck_assert_ptr_nonnull(p);
	return p;
}

START_TEST(test_parse_page)
{
	struct list_page *p = parse_ok(
		"{\"success\": true, \"workflowRuns\": ["
		"{\"id\": \"workflow_run_A\", \"status\": \"PROCESSED\", \"workflowId\": \"workflow_1\", "
		"\"createdAt\": \"2025-05-01T00:00:00Z\", \"updatedAt\": \"2025-05-09T01:00:00Z\", \"usage\": null},"
		"{\"id\": \"workflow_run_B\", \"status\": \"SOMETHING_NEW\", \"workflowId\": null, "
		"\"updatedAt\": \"2025-05-08T01:00:00.250+00:00\", \"extra\": [1, 2]}"
		"], \"nextPageToken\": \"tok=\"}\n");

	ck_assert_uint_eq(p->nruns, 2);
	ck_assert_str_eq(p->runs[0].id, "workflow_run_A");
	ck_assert_str_eq(p->runs[0].status, "PROCESSED");
	ck_assert_str_eq(p->runs[0].workflow_id, "workflow_1");
	ck_assert_str_eq(p->runs[0].updated_at, "2025-05-09T01:00:00Z");
	ck_assert(p->runs[0].updated_us == 1746752400000000LL);
	ck_assert_str_eq(p->runs[1].status, "SOMETHING_NEW");
	ck_assert_ptr_null(p->runs[1].workflow_id);
	ck_assert(p->runs[1].updated_us == 1746666000250000LL);
	ck_assert_str_eq(p->next_token, "tok=");
	discover_page_free(p);

	/* the last page: no token, a null one, or an empty one */
	p = parse_ok("{\"success\": true, \"workflowRuns\": []}");
	ck_assert_uint_eq(p->nruns, 0);
	ck_assert_ptr_null(p->next_token);
	discover_page_free(p);
	p = parse_ok("{\"workflowRuns\": [], \"nextPageToken\": null}");
	ck_assert_ptr_null(p->next_token);
	discover_page_free(p);
	p = parse_ok("{\"workflowRuns\": [], \"nextPageToken\": \"\"}");
	ck_assert_ptr_null(p->next_token);
	discover_page_free(p);
}
END_TEST

START_TEST(test_parse_page_refused)
{
	static const char *const bad[] = {
		"",
		"{\"success\": true, \"workflowRuns\": [{\"id\": \"workflow_run_A\", \"status\": \"PROCE",
		"{\"success\": true, \"workflowRuns\": []} trailing",
		"<html>502 Bad Gateway</html>",
		"[]",
		"{\"success\": false, \"workflowRuns\": []}",
		"{\"success\": true}",
		"{\"success\": true, \"workflowRuns\": {}}",
		"{\"workflowRuns\": [], \"nextPageToken\": 7}",
		"{\"workflowRuns\": [], \"nextPageToken\": \"a\\nb\"}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct list_page *p = (struct list_page *)1;
		char err[DISCOVER_ERR_SIZE] = "";
		int rc = discover_parse_page(bad[i], strlen(bad[i]), &p, err, sizeof(err));

		ck_assert_msg(rc == -EINVAL, "accepted (%d): %s", rc, bad[i]);
		ck_assert_ptr_null(p);
		ck_assert_msg(strlen(err) > 10, "no readable reason for: %s", bad[i]);
	}
}
END_TEST

/*
 * One malformed summary never refuses the page: one without a valid ID is
 * skipped, one with a valid ID is kept with what it lacks; both counted.
 */
START_TEST(test_parse_page_malformed)
{
	static const struct {
		const char *elem;
		const char *id;		/* kept as this run, or NULL: skipped */
		bool status, time;	/* what a kept one still has */
	} cases[] = {
		{ "null", NULL, false, false },
		{ "42", NULL, false, false },
		{ "\"workflow_run_A\"", NULL, false, false },
		{ "[]", NULL, false, false },
		{ "{}", NULL, false, false },
		{ "{\"status\": \"PENDING\", \"updatedAt\": \"2025-05-09T01:00:00Z\"}", NULL, false, false },
		{ "{\"id\": null, \"status\": \"PENDING\", \"updatedAt\": \"2025-05-09T01:00:00Z\"}", NULL, false, false },
		{ "{\"id\": 7, \"status\": \"PENDING\", \"updatedAt\": \"2025-05-09T01:00:00Z\"}", NULL, false, false },
		{ "{\"id\": \"\", \"status\": \"PENDING\", \"updatedAt\": \"2025-05-09T01:00:00Z\"}", NULL, false, false },
		{ "{\"id\": \"../etc\", \"status\": \"PENDING\", \"updatedAt\": \"2025-05-09T01:00:00Z\"}", NULL, false, false },
		{ "{\"id\": \"workflow_run_A\\u0000B\", \"status\": \"PENDING\", \"updatedAt\": \"2025-05-09T01:00:00Z\"}",
		  NULL, false, false },
		{ "{\"id\": \"workflow_run_A\", \"updatedAt\": \"2025-05-09T01:00:00Z\"}", "workflow_run_A", false, true },
		{ "{\"id\": \"workflow_run_A\", \"status\": \"\", \"updatedAt\": \"2025-05-09T01:00:00Z\"}", "workflow_run_A",
		  false, true },
		{ "{\"id\": \"workflow_run_A\", \"status\": 3, \"updatedAt\": \"2025-05-09T01:00:00Z\"}", "workflow_run_A",
		  false, true },
		{ "{\"id\": \"workflow_run_A\", \"status\": \"A\\nB\", \"updatedAt\": \"2025-05-09T01:00:00Z\"}",
		  "workflow_run_A", false, true },
		{ "{\"id\": \"workflow_run_A\", \"status\": \"PE\\u0000NDING\", \"updatedAt\": \"2025-05-09T01:00:00Z\"}",
		  "workflow_run_A", false, true },
		{ "{\"id\": \"workflow_run_A\", \"status\": \"PENDING\"}", "workflow_run_A", true, false },
		{ "{\"id\": \"workflow_run_A\", \"status\": \"PENDING\", \"updatedAt\": null}", "workflow_run_A", true, false },
		{ "{\"id\": \"workflow_run_A\", \"status\": \"PENDING\", \"updatedAt\": \"\"}", "workflow_run_A", true, false },
		{ "{\"id\": \"workflow_run_A\", \"status\": \"PENDING\", \"updatedAt\": \"soon\"}", "workflow_run_A", true, false },
		{ "{\"id\": \"workflow_run_A\", \"status\": \"PENDING\", \"updatedAt\": 1746752400}", "workflow_run_A", true,
		  false },
		{ "{\"id\": \"workflow_run_A\", \"status\": \"PENDING\", \"updatedAt\": \"2025-02-30T01:00:00Z\"}",
		  "workflow_run_A", true, false },
		{ "{\"id\": \"workflow_run_A\", \"status\": [], \"updatedAt\": {}}", "workflow_run_A", false, false },
	};
	char big[70000];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char body[1024];
		struct list_page *p;

		/* between two valid summaries, on a page with a next one */
		snprintf(body, sizeof(body), "{\"workflowRuns\": [{\"id\": \"workflow_run_X\", \"status\": \"PROCESSED\", "
			 "\"updatedAt\": \"2025-05-09T02:00:00Z\"}, %s, {\"id\": \"workflow_run_Y\", \"status\": "
			 "\"PROCESSED\", \"updatedAt\": \"2025-05-09T00:00:00Z\"}], \"nextPageToken\": \"t\"}", cases[i].elem);
		p = parse_ok(body);
		ck_assert_uint_eq(p->nmalformed, 1);
		ck_assert_str_eq(p->next_token, "t");
		ck_assert_str_eq(p->runs[0].id, "workflow_run_X");
		ck_assert_ptr_null(p->runs[0].malformed);
		if (cases[i].id == NULL) {
			ck_assert_msg(p->nruns == 2 && p->nskipped == 1, "not skipped: %s", cases[i].elem);
			ck_assert_str_eq(p->runs[1].id, "workflow_run_Y");
			ck_assert(strlen(p->skipped[0].why) > 5);
		} else {
			const struct run_summary *r = &p->runs[1];

			ck_assert_msg(p->nruns == 3 && p->nskipped == 0, "not kept: %s", cases[i].elem);
			ck_assert_str_eq(r->id, cases[i].id);
			ck_assert_ptr_nonnull(r->malformed);
			ck_assert_msg((r->status != NULL) == cases[i].status, "status of %s", cases[i].elem);
			ck_assert_msg((r->updated_at != NULL) == cases[i].time, "time of %s", cases[i].elem);
			if (!cases[i].time)
				ck_assert(r->updated_us == INT64_MAX);
			/* treated as newest: it never stops a sweep */
			ck_assert_uint_eq(discover_page_cut(p, 1746752400000000LL), 2);
		}
		discover_page_free(p);
	}

	/* a huge id: skipped, shown cut short; the same id gets the same key, another id another */
	{
		struct list_page *p;
		size_t blen = 3 * sizeof(big) + 512;
		char *body = malloc(blen);
		uint64_t key;

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		ck_assert_ptr_nonnull(body);
		snprintf(body, blen, "{\"workflowRuns\": [{\"id\": \"%s\", \"status\": \"PENDING\", "
			 "\"updatedAt\": \"2025-05-09T01:00:00Z\"}, {\"id\": \"%s\"}, {\"id\": \"y%s\"}]}", big, big, big + 1);
		p = parse_ok(body);
		ck_assert_uint_eq(p->nskipped, 3);
		ck_assert_uint_eq(p->nmalformed, 3);
		ck_assert(strlen(p->skipped[0].id) < 100);
		key = p->skipped[0].key;
		ck_assert(p->skipped[1].key == key);
		ck_assert(p->skipped[2].key != key);
		discover_page_free(p);
		free(body);
	}

	/* one run twice, one of them malformed: both kept (the statement keeps the newest valid one) */
	{
		struct list_page *p = parse_ok("{\"workflowRuns\": [{\"id\": \"workflow_run_D\", \"status\": \"DONE\", "
					       "\"updatedAt\": null}, {\"id\": \"workflow_run_D\", \"status\": \"PROCESSED\", "
					       "\"updatedAt\": \"2025-05-09T01:00:00Z\"}]}");

		ck_assert_uint_eq(p->nruns, 2);
		ck_assert_uint_eq(p->nmalformed, 1);
		discover_page_free(p);
	}
}
END_TEST

/* A page of runs updated at the given seconds, newest first. */
static struct list_page *
page_at(const int64_t *secs, size_t n)
{
	struct list_page *p = calloc(1, sizeof(*p));

	ck_assert_ptr_nonnull(p);
	p->runs = calloc(n, sizeof(*p->runs));
	p->nruns = n;
	for (size_t i = 0; i < n; i++)
		p->runs[i].updated_us = secs[i] * 1000000;
	return p;
}

START_TEST(test_stop_rule)
{
	static const int64_t secs[] = { 1000, 900, 900, 800, 700 };
	struct list_page *p = page_at(secs, 5);
	int64_t cut;

	/* the first sweep without since: everything, to the end of the list */
	cut = discover_cutoff(false, 0, 300, false, 0);
	ck_assert(cut == INT64_MIN);
	ck_assert_uint_eq(discover_page_cut(p, cut), 5);
	/* high_water 1100, overlap 300: stop at 800, which is still read (not older) */
	cut = discover_cutoff(true, 1100 * 1000000LL, 300, false, 0);
	ck_assert(cut == 800 * 1000000LL);
	ck_assert_uint_eq(discover_page_cut(p, cut), 4);
	/* overlap 0: exactly the mark is read again */
	ck_assert_uint_eq(discover_page_cut(p, discover_cutoff(true, 900 * 1000000LL, 0, false, 0)), 3);
	/* since later than the mark minus the overlap wins; earlier does not */
	ck_assert_uint_eq(discover_page_cut(p, discover_cutoff(true, 1100 * 1000000LL, 300, true, 950 * 1000000LL)), 1);
	ck_assert_uint_eq(discover_page_cut(p, discover_cutoff(true, 1100 * 1000000LL, 300, true, 10 * 1000000LL)), 4);
	/* first sweep with since */
	ck_assert_uint_eq(discover_page_cut(p, discover_cutoff(false, 0, 300, true, 901 * 1000000LL)), 1);
	/* all older: the sweep ends before this page's first run */
	ck_assert_uint_eq(discover_page_cut(p, 2000 * 1000000LL), 0);
	discover_page_free(p);
}
END_TEST

static char tmp_path[64];

static struct config *
load_text(const char *text, char *err, size_t errlen)
{
	int fd;
	FILE *f;

	snprintf(tmp_path, sizeof(tmp_path), "/tmp/check_discover.XXXXXX");
	fd = mkstemp(tmp_path);
	ck_assert_int_ge(fd, 0);
	f = fdopen(fd, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	{
		struct config *cfg = config_load(tmp_path, err, errlen);

		unlink(tmp_path);
		return cfg;
	}
}

START_TEST(test_config_keys)
{
	char err[CONFIG_ERR_SIZE] = "";
	struct config *cfg = config_defaults();

	ck_assert_ptr_nonnull(cfg);
	ck_assert(!discover_enabled(cfg));
	ck_assert(!discover_covers(cfg, "workflow_1"));
	ck_assert_ptr_null(cfg->discover.workflow_ids[0]);
	ck_assert_double_eq(cfg->discover.interval, 60);
	ck_assert_double_eq(cfg->discover.overlap, 300);
	ck_assert_int_eq(cfg->discover.page_size, 1000);
	ck_assert_str_eq(cfg->discover.since, "");
	ck_assert_double_eq(cfg->discover.recheck_active, 300);
	ck_assert_double_eq(cfg->discover.recheck_parked, 21600);
	config_free(cfg);

	cfg = load_text("discover: { workflow_ids = [\"workflow_1\", \"workflow_B-2\"]; interval = 5.5; overlap = 0;\n"
			"  since = \"2025-01-31T00:00:00Z\"; page_size = 1; recheck_active = 60.0; recheck_parked = 3600; };\n",
			err, sizeof(err));
	ck_assert_msg(cfg != NULL, "refused: %s", err);
	ck_assert(discover_enabled(cfg));
	ck_assert_str_eq(cfg->discover.workflow_ids[0], "workflow_1");
	ck_assert_str_eq(cfg->discover.workflow_ids[1], "workflow_B-2");
	ck_assert_ptr_null(cfg->discover.workflow_ids[2]);
	ck_assert(discover_covers(cfg, "workflow_B-2"));
	ck_assert(!discover_covers(cfg, "workflow_3"));
	ck_assert(!discover_covers(cfg, NULL));
	ck_assert_double_eq(cfg->discover.interval, 5.5);
	ck_assert_double_eq(cfg->discover.overlap, 0);
	ck_assert_int_eq(cfg->discover.page_size, 1);
	ck_assert_str_eq(cfg->discover.since, "2025-01-31T00:00:00Z");
	ck_assert_double_eq(cfg->discover.recheck_active, 60);
	ck_assert_double_eq(cfg->discover.recheck_parked, 3600);
	config_free(cfg);

	cfg = load_text("discover: { all_runs = true; };\n", err, sizeof(err));
	ck_assert_msg(cfg != NULL, "refused: %s", err);
	ck_assert(discover_enabled(cfg));
	ck_assert(discover_covers(cfg, NULL));
	ck_assert(discover_covers(cfg, "workflow_anything"));
	config_free(cfg);
}
END_TEST

START_TEST(test_config_refused)
{
	static const struct {
		const char *text;
		const char *says;
	} bad[] = {
		{ "discover: { page_size = 0; };", "discover.page_size must be between 1 and 1000" },
		{ "discover: { page_size = 1001; };", "discover.page_size" },
		{ "discover: { interval = 0.0; };", "discover.interval" },
		{ "discover: { interval = -1.0; };", "discover.interval" },
		{ "discover: { overlap = -0.5; };", "discover.overlap" },
		{ "discover: { since = \"2025-01-31\"; };", "discover.since must be an RFC 3339 time" },
		{ "discover: { since = 5; };", "discover.since" },
		{ "discover: { workflow_ids = \"workflow_1\"; };", "discover.workflow_ids must be a list" },
		{ "discover: { workflow_ids = [\"workflow/1\"]; };", "element 1 is not an ID" },
		{ "discover: { workflow_ids = [\"\"]; };", "element 1 is not an ID" },
		{ "discover: { workflow_ids = (\"w\", 3); };", "element 2 is not an ID" },
		{ "discover: { workflow_ids = [\"w\", \"w\"]; };", "listed twice" },
		{ "discover: { all_runs = 1; };", "discover.all_runs must be true or false" },
		{ "discover: { recheck_active = 0.0; };", "discover.recheck_active" },
		{ "discover: { recheck_parked = -1.0; };", "discover.recheck_parked" },
		{ "discover: { sweep = true; };", "unknown key discover.sweep" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char err[CONFIG_ERR_SIZE] = "";
		struct config *cfg = load_text(bad[i].text, err, sizeof(err));

		if (cfg != NULL)
			config_free(cfg);
		ck_assert_msg(cfg == NULL, "accepted: %s", bad[i].text);
		ck_assert_msg(strstr(err, bad[i].says) != NULL, "\"%s\": the error \"%s\" does not say \"%s\"",
			      bad[i].text, err, bad[i].says);
		ck_assert_msg(strstr(err, ":1:") != NULL, "\"%s\" does not name the line", err);
	}
}
END_TEST

static Suite *
discover_suite(void)
{
	Suite *s = suite_create("discover");
	TCase *tc = tcase_create("discover");

	tcase_add_test(tc, test_parse_time);
	tcase_add_test(tc, test_format_time);
	tcase_add_test(tc, test_list_path);
	tcase_add_test(tc, test_parse_page);
	tcase_add_test(tc, test_parse_page_refused);
	tcase_add_test(tc, test_parse_page_malformed);
	tcase_add_test(tc, test_stop_rule);
	tcase_add_test(tc, test_config_keys);
	tcase_add_test(tc, test_config_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(discover_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
