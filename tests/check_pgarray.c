/* Check suite for pgarray: text[] literals that PostgreSQL's array_in reads back as the very values. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "pgarray.h"

/* The literal of values (n of them, stride 1), as a new string. */
static char *
literal(const char *const *values, size_t n)
{
	struct buf b;

	buf_init(&b, 1 << 20);
	ck_assert_int_eq(pgarray_append(&b, values, n, 1), 0);
	return buf_steal(&b);
}

START_TEST(test_values)
{
	static const struct {
		const char *value;	/* NULL: SQL NULL */
		const char *element;
	} cases[] = {
		{ NULL, "NULL" },
		{ "", "\"\"" },
		{ "NULL", "\"NULL\"" },
		{ "null", "\"null\"" },
		{ "plain", "\"plain\"" },
		{ " lead and trail ", "\" lead and trail \"" },
		{ "a,b", "\"a,b\"" },
		{ "{braces}", "\"{braces}\"" },
		{ "}", "\"}\"" },
		{ "say \"hi\"", "\"say \\\"hi\\\"\"" },
		{ "back\\slash", "\"back\\\\slash\"" },
		{ "\\", "\"\\\\\"" },
		{ "\"", "\"\\\"\"" },
		{ "\\\"", "\"\\\\\\\"\"" },
		{ "tab\tnew\nline\rcr", "\"tab\tnew\nline\rcr\"" },
		{ "ünïcødé € 😀", "\"ünïcødé € 😀\"" },
		{ "{\"a\": [1, \"x\\\\y\"], \"b\": null}", "\"{\\\"a\\\": [1, \\\"x\\\\\\\\y\\\"], \\\"b\\\": null}\"" },
		{ "{1,2}", "\"{1,2}\"" },
		{ "[1:2]={3,4}", "\"[1:2]={3,4}\"" },
		{ "'quoted'", "\"'quoted'\"" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *v[1] = { cases[i].value };
		char *got = literal(v, 1);
		char want[256];

		snprintf(want, sizeof(want), "{%s}", cases[i].element);
		ck_assert_msg(strcmp(got, want) == 0, "value %zu: got %s, expected %s", i, got, want);
		free(got);
	}
}
END_TEST

START_TEST(test_arrays)
{
	const char *none[1] = { NULL };
	const char *three[3] = { "a", NULL, "" };
	/* a table of 3 rows by 2 columns, row by row: each column is every second cell */
	const char *cells[6] = { "r0c0", "r0c1", "r1c0", NULL, "r2,c0", "r2\"c1" };
	struct buf b;
	char *got;

	got = literal(none, 0);
	ck_assert_str_eq(got, "{}");
	free(got);
	got = literal(three, 3);
	ck_assert_str_eq(got, "{\"a\",NULL,\"\"}");
	free(got);

	buf_init(&b, 1 << 20);
	ck_assert_int_eq(pgarray_append(&b, cells, 3, 2), 0);
	ck_assert_str_eq(b.data, "{\"r0c0\",\"r1c0\",\"r2,c0\"}");
	buf_reset(&b);
	ck_assert_int_eq(pgarray_append(&b, cells + 1, 3, 2), 0);
	ck_assert_str_eq(b.data, "{\"r0c1\",NULL,\"r2\\\"c1\"}");
	buf_free(&b);
}
END_TEST

/* A literal built in pieces (the rows of several runs) is the literal of all its values at once. */
START_TEST(test_pieces)
{
	const char *cells[6] = { "r0c0", "r0c1", "r1c0", NULL, "r2,c0", "r2\"c1" };
	const char *more[2] = { NULL, "{x}" };
	struct buf b;

	buf_init(&b, 1 << 20);
	ck_assert_int_eq(buf_append(&b, "{", 1), 0);
	ck_assert_int_eq(pgarray_add(&b, cells, 0, 2), 0);	/* a run without rows in this table */
	ck_assert_int_eq(pgarray_add(&b, cells, 2, 2), 0);
	ck_assert_int_eq(pgarray_add(&b, cells + 4, 1, 2), 0);
	ck_assert_int_eq(pgarray_add(&b, more, 2, 1), 0);
	ck_assert_int_eq(buf_append(&b, "}", 1), 0);
	ck_assert_str_eq(b.data, "{\"r0c0\",\"r1c0\",\"r2,c0\",NULL,\"{x}\"}");
	/* a value that is "{" itself ends in a quote: the next element still gets its comma */
	buf_reset(&b);
	ck_assert_int_eq(buf_append(&b, "{", 1), 0);
	ck_assert_int_eq(pgarray_add(&b, (const char *const[]){ "{" }, 1, 1), 0);
	ck_assert_int_eq(pgarray_add(&b, (const char *const[]){ "}" }, 1, 1), 0);
	ck_assert_int_eq(buf_append(&b, "}", 1), 0);
	ck_assert_str_eq(b.data, "{\"{\",\"}\"}");
	/* only pieces without elements: the empty array */
	buf_reset(&b);
	ck_assert_int_eq(buf_append(&b, "{", 1), 0);
	ck_assert_int_eq(pgarray_add(&b, cells, 0, 1), 0);
	ck_assert_int_eq(pgarray_add(&b, cells, 0, 1), 0);
	ck_assert_int_eq(buf_append(&b, "}", 1), 0);
	ck_assert_str_eq(b.data, "{}");
	buf_free(&b);
}
END_TEST

/* COPY's text format: what COPY FROM reads back as the very cells, NULL apart from the string "\\N". */
START_TEST(test_copy_rows)
{
	const char *cells[6] = {
		"plain", NULL, "\\N",
		"tab\there", "new\nline\rcr", "back\\slash {\"x\"}, 'q' \\.",
	};
	struct buf b;

	buf_init(&b, 1 << 20);
	ck_assert_int_eq(pgcopy_append_rows(&b, cells, 2, 3), 0);
	ck_assert_str_eq(b.data, "plain\t\\N\t\\\\N\n"
				 "tab\\there\tnew\\nline\\rcr\tback\\\\slash {\"x\"}, 'q' \\\\.\n");
	/* appended after what is there; no rows append nothing */
	ck_assert_int_eq(pgcopy_append_rows(&b, cells, 0, 3), 0);
	ck_assert_int_eq(pgcopy_append_rows(&b, (const char *const[]){ "", "ü" }, 1, 2), 0);
	ck_assert_str_eq(b.data + b.len - 5, "\n\t\xc3\xbc\n");
	buf_free(&b);
	/* the cap holds */
	buf_init(&b, 8);
	ck_assert_int_eq(pgcopy_append_rows(&b, cells, 1, 3), -EFBIG);
	buf_free(&b);
}
END_TEST

START_TEST(test_cap)
{
	const char *v[2] = { "0123456789", "abc" };
	struct buf b;

	/* {"0123456789","abc"} is 20 bytes: 19 refuse it, 20 take it */
	buf_init(&b, 19);
	ck_assert_int_eq(pgarray_append(&b, v, 2, 1), -EFBIG);
	buf_free(&b);
	buf_init(&b, 20);
	ck_assert_int_eq(pgarray_append(&b, v, 2, 1), 0);
	ck_assert_str_eq(b.data, "{\"0123456789\",\"abc\"}");
	buf_free(&b);
}
END_TEST

START_TEST(test_large)
{
	enum { N = 3000 };
	char *values[N];
	struct buf b;
	const char *prefix = "{\"v\\\\0\\\"\",\"v\\\\1\\\"\",";
	size_t expect = 2 + (N - 1);	/* braces and commas */

	for (int i = 0; i < N; i++) {
		ck_assert_int_ge(asprintf(&values[i], "v\\%d\"", i), 0);
		expect += strlen(values[i]) + 2 + 2;	/* quotes, and a backslash before '\\' and '"' */
	}
	buf_init(&b, (size_t)1 << 30);
	ck_assert_int_eq(pgarray_append(&b, (const char *const *)values, N, 1), 0);
	ck_assert_uint_eq(b.len, expect);
	ck_assert(strncmp(b.data, prefix, strlen(prefix)) == 0);
	buf_free(&b);
	for (int i = 0; i < N; i++)
		free(values[i]);
}
END_TEST

/* What pgarray_add() and pgcopy_append_rows() must write for v, at d: byte by byte, nothing skipped ahead. */
static char *
reference(char *d, const char *v, int copy)
{
	if (v == NULL)
		return stpcpy(d, copy ? "\\N" : "NULL");
	if (!copy)
		*d++ = '"';
	for (; *v != '\0'; v++) {
		if (!copy && (*v == '"' || *v == '\\')) {
			*d++ = '\\';
			*d++ = *v;
		} else if (copy && (*v == '\\' || *v == '\n' || *v == '\r' || *v == '\t')) {
			*d++ = '\\';
			*d++ = *v == '\n' ? 'n' : *v == '\r' ? 'r' : *v == '\t' ? 't' : '\\';
		} else
			*d++ = *v;
	}
	if (!copy)
		*d++ = '"';
	*d = '\0';
	return d;
}

/* Values of every length up to 40 with a byte to escape (or not) at every place, against the reference. */
START_TEST(test_every_place)
{
	static const char bytes[] = { 'a', '"', '\\', '\n', '\r', '\t', '\x01', '\x1f', ' ', '\xc3', '\xbc', '{', ',', 'N' };
	enum { ROWS = 3 };
	char vals[ROWS][48];
	const char *cells[ROWS];
	char want[ROWS * 2 * 48 + 8], *d;
	struct buf got;
	unsigned seed = 11;

	buf_init(&got, 1 << 20);
	for (int round = 0; round < 20000; round++) {
		for (int r = 0; r < ROWS; r++) {
			size_t len = (size_t)rand_r(&seed) % 41;

			/* mostly plain, so the stretches between escapes have every length */
			for (size_t i = 0; i < len; i++)
				vals[r][i] = rand_r(&seed) % 4 != 0 ? 'a' + (char)(i % 26) :
					bytes[(size_t)rand_r(&seed) % sizeof(bytes)];
			vals[r][len] = '\0';
			cells[r] = rand_r(&seed) % 16 == 0 ? NULL : vals[r];
		}
		buf_reset(&got);
		ck_assert_int_eq(pgarray_append(&got, cells, ROWS, 1), 0);
		d = want;
		*d++ = '{';
		for (int r = 0; r < ROWS; r++) {
			if (r > 0)
				*d++ = ',';
			d = reference(d, cells[r], 0);
		}
		*d++ = '}';
		*d = '\0';
		if (strcmp(got.data, want) != 0 || got.len != (size_t)(d - want))
			ck_abort_msg("array of round %d: got %s, want %s", round, got.data, want);

		buf_reset(&got);
		ck_assert_int_eq(pgcopy_append_rows(&got, cells, 1, ROWS), 0);
		d = want;
		for (int r = 0; r < ROWS; r++) {
			d = reference(d, cells[r], 1);
			*d++ = r + 1 < ROWS ? '\t' : '\n';
		}
		*d = '\0';
		if (strcmp(got.data, want) != 0 || got.len != (size_t)(d - want))
			ck_abort_msg("COPY row of round %d: got %s, want %s", round, got.data, want);
	}
	buf_free(&got);
}
END_TEST

/* The n values as an array literal, or as one COPY row of n cells, into a buffer capped at max. */
static int
append_capped(size_t max, const char *const *values, size_t n, int copy, size_t *len)
{
	struct buf b;
	int rc;

	buf_init(&b, max);
	rc = copy ? pgcopy_append_rows(&b, values, 1, n) : pgarray_append(&b, values, n, 1);
	*len = b.len;
	buf_free(&b);
	return rc;
}

/* Output that ends right at the cap fits; a byte more is refused: first elements, NULLs, COPY cells. */
START_TEST(test_cap_exact)
{
	static const char *const cases[][2] = { { "abc", NULL }, { NULL, "ab" }, { "a\"b", "\\" }, { "t\tn\n", NULL } };

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (int copy = 0; copy <= 1; copy++) {
			for (size_t n = 1; n <= 2; n++) {
				size_t exact, len;

				ck_assert_int_eq(append_capped(1 << 20, cases[c], n, copy, &exact), 0);
				ck_assert_msg(append_capped(exact, cases[c], n, copy, &len) == 0,
					      "case %zu copy %d n %zu: refused at its own length %zu", c, copy, n, exact);
				ck_assert_uint_eq(len, exact);
				ck_assert_int_eq(append_capped(exact - 1, cases[c], n, copy, &len), -EFBIG);
			}
		}
	}
}
END_TEST

/* An append the cap refuses leaves the buffer as it was, though earlier values of it fitted. */
START_TEST(test_cap_undo)
{
	const char *v[3] = { "first", "second", "a value too long for the cap" };
	struct buf b;

	buf_init(&b, 24);
	ck_assert_int_eq(buf_append_str(&b, "{\"x\""), 0);
	ck_assert_int_eq(pgarray_add(&b, v, 3, 1), -EFBIG);
	ck_assert_str_eq(b.data, "{\"x\"");
	ck_assert_uint_eq(b.len, 4);
	ck_assert_int_eq(pgcopy_append_rows(&b, v, 1, 3), -EFBIG);
	ck_assert_str_eq(b.data, "{\"x\"");
	ck_assert_uint_eq(b.len, 4);
	buf_free(&b);
}
END_TEST

static Suite *
pgarray_suite(void)
{
	Suite *s = suite_create("pgarray");
	TCase *tc = tcase_create("pgarray");

	tcase_add_test(tc, test_values);
	tcase_add_test(tc, test_arrays);
	tcase_add_test(tc, test_pieces);
	tcase_add_test(tc, test_copy_rows);
	tcase_add_test(tc, test_cap);
	tcase_add_test(tc, test_large);
	tcase_add_test(tc, test_every_place);
	tcase_add_test(tc, test_cap_undo);
	tcase_add_test(tc, test_cap_exact);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(pgarray_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
