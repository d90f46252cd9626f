/* Check suite for extracted: the set of (processor_id, version) pairs the hot path looks up. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>

#include "extracted.h"

#define MANY 50000

START_TEST(test_pairs)
{
	struct extracted_set *s = extracted_set_new();

	ck_assert_ptr_nonnull(s);
	ck_assert(!extracted_set_has(s, "dp_a", "dpv_1"));
	ck_assert_int_eq(extracted_set_add(s, "dp_a", "dpv_1"), 0);
	ck_assert(extracted_set_has(s, "dp_a", "dpv_1"));
	/* the pair, not either half: the same strings split elsewhere are another pair */
	ck_assert(!extracted_set_has(s, "dp_a", "dpv_2"));
	ck_assert(!extracted_set_has(s, "dp_b", "dpv_1"));
	ck_assert(!extracted_set_has(s, "dp_adpv_1", ""));
	ck_assert(!extracted_set_has(s, "dp_", "adpv_1"));
	ck_assert(!extracted_set_has(s, "dpv_1", "dp_a"));
	/* once */
	ck_assert_int_eq(extracted_set_add(s, "dp_a", "dpv_1"), 0);
	ck_assert_uint_eq(extracted_set_count(s), 1);
	extracted_set_free(s);
	extracted_set_free(NULL);
}
END_TEST

/* Many thousands, through every growth of the table: each found, none invented. */
START_TEST(test_many)
{
	struct extracted_set *s = extracted_set_new();
	char id[32], version[32];

	ck_assert_ptr_nonnull(s);
	for (int i = 0; i < MANY; i++) {
		snprintf(id, sizeof(id), "dp_%d", i % 997);
		snprintf(version, sizeof(version), "dpv_%d", i);
		ck_assert_int_eq(extracted_set_add(s, id, version), 0);
	}
	ck_assert_uint_eq(extracted_set_count(s), MANY);
	for (int i = 0; i < MANY; i++) {
		snprintf(id, sizeof(id), "dp_%d", i % 997);
		snprintf(version, sizeof(version), "dpv_%d", i);
		ck_assert_msg(extracted_set_has(s, id, version), "pair %d lost", i);
		snprintf(id, sizeof(id), "dp_%d", (i + 1) % 997);
		ck_assert_msg(!extracted_set_has(s, id, version), "pair %d invented", i);
	}
	extracted_set_free(s);
}
END_TEST

static Suite *
extracted_suite(void)
{
	Suite *s = suite_create("extracted");
	TCase *tc = tcase_create("set");

	tcase_add_test(tc, test_pairs);
	tcase_add_test(tc, test_many);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(extracted_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
