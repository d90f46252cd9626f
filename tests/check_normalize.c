/* Check suite for normalize: every fixture run, exact cells, refused bodies, NUL characters and lenient parsing. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <json-c/json.h>

#include "jtree.h"
#include "normalize.h"
#include "sha256.h"
#include "text.h"

/*
 * Everything a test allocates is registered here and freed by the
 * teardown, so that a failing assertion (which leaves the test function
 * early) leaks nothing, with or without CK_FORK=no.
 */
#define MAX_KEPT 64

static struct run_rows *kept_rows[MAX_KEPT];
static void *kept_mem[MAX_KEPT];
static json_object *kept_json[MAX_KEPT];

static void
keep_rows(struct run_rows *rr)
{
	for (size_t i = 0; i < MAX_KEPT; i++) {
		if (kept_rows[i] == NULL) {
			kept_rows[i] = rr;
			return;
		}
	}
	ck_abort_msg("too many run_rows kept in one test");
}

static void *
keep_mem(void *p)
{
	for (size_t i = 0; i < MAX_KEPT; i++) {
		if (kept_mem[i] == NULL) {
			kept_mem[i] = p;
			return p;
		}
	}
	ck_abort_msg("too many buffers kept in one test");
	return NULL;
}

static json_object *
keep_json(json_object *o)
{
	for (size_t i = 0; i < MAX_KEPT; i++) {
		if (kept_json[i] == NULL) {
			kept_json[i] = o;
			return o;
		}
	}
	ck_abort_msg("too many JSON trees kept in one test");
	return NULL;
}

static void
teardown(void)
{
	for (size_t i = 0; i < MAX_KEPT; i++) {
		normalize_free(kept_rows[i]);
		free(kept_mem[i]);
		json_object_put(kept_json[i]);
		kept_rows[i] = NULL;
		kept_mem[i] = NULL;
		kept_json[i] = NULL;
	}
}

/* --- fixtures --- */

/* One file of tests/data/runs: its run ID and status (read from the file) and its row count per table. */
struct fixture {
	const char *file;
	const char *id;
	const char *status;
	size_t rows[T_COUNT];	/* runs, files, pages, sheets, processor runs, processor files, merged, steps, rules,
				   extracted fields, classifications, splits */
};

static const struct fixture fixtures[] = {
	{ "cancelling.json", "workflow_run_Can0001aaaa", "CANCELLING", { 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 } },
	{ "failed.json", "workflow_run_Fail0001aaa", "FAILED", { 1, 1, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0 } },
	{ "legacy_extract.json", "workflow_run_Leg0001aaaa", "PROCESSED", { 1, 1, 0, 0, 1, 1, 0, 0, 0, 6, 0, 0 } },
	{ "minimal.json", "workflow_run_Min0001aaaa", "PENDING", { 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 } },
	{ "needs_review.json", "workflow_run_Rev0001aaaa", "NEEDS_REVIEW", { 1, 1, 1, 0, 1, 1, 0, 0, 0, 1, 0, 0 } },
	{ "nulls.json", "workflow_run_Nul0001aaaa", "PROCESSING", { 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 } },
	{ "processed_extract.json", "workflow_run_Proc0001aaaa", "PROCESSED", { 1, 1, 2, 0, 2, 2, 0, 1, 2, 17, 1, 0 } },
	{ "rejected.json", "workflow_run_Rej0001aaaa", "REJECTED", { 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 } },
	{ "seed_example.json", "workflow_run_xKm9pNv3qWsY_jL2tR5Dh", "PENDING", { 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0 } },
	{ "splitter.json", "workflow_run_Spl0001aaaa", "PROCESSED", { 1, 3, 12, 0, 3, 3, 1, 0, 0, 2, 0, 2 } },
	{ "spreadsheet.json", "workflow_run_Xls0001aaaa", "PROCESSED", { 1, 1, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0 } },
};

#define NFIXTURES ((int)(sizeof(fixtures) / sizeof(fixtures[0])))

static const char *
data_dir(void)
{
	const char *d = getenv("TEST_DATA_DIR");

	return d != NULL && d[0] != '\0' ? d : "tests/data";
}

/* The whole file at data_dir()/rel, NUL-terminated; freed by the teardown. */
static char *
read_data(const char *rel, size_t *len)
{
	char path[4096];
	FILE *f;
	long n;
	char *buf;

	snprintf(path, sizeof(path), "%s/%s", data_dir(), rel);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s (set TEST_DATA_DIR)", path);
	ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	ck_assert_int_ge(n, 0);
	rewind(f);
	buf = keep_mem(malloc((size_t)n + 1));
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

static const struct fixture *
fixture_named(const char *file)
{
	for (int i = 0; i < NFIXTURES; i++) {
		if (strcmp(fixtures[i].file, file) == 0)
			return &fixtures[i];
	}
	ck_abort_msg("no fixture %s", file);
	return NULL;
}

/* Normalize body, which must succeed; the rows are freed by the teardown. */
static struct run_rows *
norm_ok(const char *body, size_t len, const char *id, bool file_contents)
{
	struct run_rows *rr = NULL;
	char err[NORMALIZE_ERR_SIZE] = "";
	int rc = normalize_body(body, len, id, file_contents, &rr, err, sizeof(err));

	ck_assert_msg(rc == 0, "normalize_body(%s) returned %d: %s", id, rc, err);
	ck_assert_ptr_nonnull(rr);
	keep_rows(rr);
	return rr;
}

static struct run_rows *
norm_fixture(const char *file, bool file_contents)
{
	const struct fixture *fx = fixture_named(file);
	char rel[256];
	size_t len;
	const char *body;

	snprintf(rel, sizeof(rel), "runs/%s", file);
	body = read_data(rel, &len);
	return norm_ok(body, len, fx->id, file_contents);
}

/* Normalize body, which must be refused with -EINVAL; returns err (static, overwritten by the next call). */
static const char *
norm_fail(const char *body, size_t len, const char *id, const char *what)
{
	static char err[NORMALIZE_ERR_SIZE];
	struct run_rows dummy;
	struct run_rows *rr = &dummy;
	int rc;

	memset(err, 0, sizeof(err));
	rc = normalize_body(body, len, id, true, &rr, err, sizeof(err));
	if (rr != &dummy && rr != NULL)
		keep_rows(rr);
	ck_assert_msg(rc == -EINVAL, "%s: expected -EINVAL, got %d", what, rc);
	ck_assert_ptr_null(rr);
	ck_assert_msg(strlen(err) > 10, "%s: err is not readable: \"%s\"", what, err);
	return err;
}

static const char *
cell(const struct run_rows *rr, enum table_id t, size_t row, const char *col)
{
	int c = normalize_col(t, col);

	ck_assert_msg(c >= 0, "table %s has no column %s", normalize_tables[t].name, col);
	ck_assert_msg(row < rr->t[t].nrows, "table %s has no row %zu", normalize_tables[t].name, row);
	return normalize_cell(rr, t, row, c);
}

/* --- JSON comparisons: jsonb cells are compared as values, and must be compact --- */

/* True when text has no whitespace outside its strings. */
static bool
json_compact(const char *text)
{
	bool in_str = false;

	for (const char *p = text; *p != '\0'; p++) {
		if (in_str) {
			if (*p == '\\' && p[1] != '\0')
				p++;
			else if (*p == '"')
				in_str = false;
		} else if (*p == '"') {
			in_str = true;
		} else if (*p == ' ' || *p == '\n' || *p == '\t' || *p == '\r') {
			return false;
		}
	}
	return true;
}

static json_object *
parse_json(const char *text)
{
	json_object *o;

	ck_assert_ptr_nonnull(text);
	o = json_tokener_parse(text);
	ck_assert_msg(o != NULL, "not JSON: %.200s", text);
	return keep_json(o);
}

static void
assert_json_value(const char *got, json_object *expected, const char *what)
{
	ck_assert_msg(got != NULL, "%s: expected JSON, got NULL", what);
	ck_assert_msg(json_compact(got), "%s: not compact JSON: %.200s", what, got);
	ck_assert_msg(json_object_equal(parse_json(got), expected), "%s: got %.300s, expected %.300s", what, got,
		      json_object_to_json_string_ext(expected, JSON_C_TO_STRING_PLAIN));
}

static void
assert_json_text(const char *got, const char *expected, const char *what)
{
	assert_json_value(got, parse_json(expected), what);
}

/* Remove key from every object in o, at any depth (the fixture as the database should see it). */
static void
strip_key(json_object *o, const char *key)
{
	if (json_object_is_type(o, json_type_object)) {
		json_object_object_del(o, key);
		json_object_object_foreach(o, k, v) {
			(void)k;
			strip_key(v, key);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			strip_key(json_object_array_get_idx(o, i), key);
	}
}

/* The value at a path of object keys and array indexes ("workflowRun", "outputs", "0", ...) in a fixture. */
static json_object *
fixture_json(const char *file, const char *const *path, size_t n)
{
	char rel[256];
	size_t len;
	json_object *o;

	snprintf(rel, sizeof(rel), "runs/%s", file);
	o = parse_json(read_data(rel, &len));
	for (size_t i = 0; i < n; i++) {
		json_object *next = NULL;

		if (json_object_is_type(o, json_type_array))
			next = json_object_array_get_idx(o, strtoul(path[i], NULL, 10));
		else
			ck_assert(json_object_object_get_ex(o, path[i], &next));
		ck_assert_msg(next != NULL, "%s: no %s", file, path[i]);
		o = next;
	}
	return o;
}

/* --- expected cells --- */

enum cmp {
	CMP_TEXT,		/* exact text; NULL means SQL NULL */
	CMP_JSON,		/* compact JSON equal as a value to this text */
	CMP_ELSEWHERE,		/* asserted by its own check in the same test */
};

struct cell_exp {
	const char *col;
	enum cmp cmp;
	const char *val;
};

#define C_TEXT(c, v) { c, CMP_TEXT, v }
#define C_NULL(c) { c, CMP_TEXT, NULL }
#define C_JSON(c, v) { c, CMP_JSON, v }
#define C_ELSEWHERE(c) { c, CMP_ELSEWHERE, NULL }
#define NEXP(a) (sizeof(a) / sizeof((a)[0]))

static void
expect_cells(const struct run_rows *rr, enum table_id t, size_t row, const struct cell_exp *e, size_t n)
{
	char what[160];

	for (size_t i = 0; i < n; i++) {
		const char *got = cell(rr, t, row, e[i].col);

		snprintf(what, sizeof(what), "%s[%zu].%s", normalize_tables[t].name, row, e[i].col);
		switch (e[i].cmp) {
		case CMP_TEXT:
			if (e[i].val == NULL)
				ck_assert_msg(got == NULL, "%s: expected NULL, got \"%s\"", what, got);
			else
				ck_assert_msg(got != NULL && strcmp(got, e[i].val) == 0,
					      "%s: expected \"%s\", got \"%s\"", what, e[i].val,
					      got != NULL ? got : "(NULL)");
			break;
		case CMP_JSON:
			assert_json_text(got, e[i].val, what);
			break;
		case CMP_ELSEWHERE:
			break;
		}
	}
}

/* Like expect_cells, and e must name every column of the table exactly once. */
static void
expect_all_cells(const struct run_rows *rr, enum table_id t, size_t row, const struct cell_exp *e, size_t n)
{
	ck_assert_msg((int)n == normalize_tables[t].ncols, "%s has %d columns, the test expects %zu",
		      normalize_tables[t].name, normalize_tables[t].ncols, n);
	for (int c = 0; c < normalize_tables[t].ncols; c++) {
		int seen = 0;

		for (size_t i = 0; i < n; i++)
			seen += strcmp(e[i].col, normalize_tables[t].cols[c]) == 0;
		ck_assert_msg(seen == 1, "column %s.%s is expected %d times", normalize_tables[t].name,
			      normalize_tables[t].cols[c], seen);
	}
	expect_cells(rr, t, row, e, n);
}

static void
expect_counts(const struct run_rows *rr, const size_t *rows, const char *what)
{
	for (int t = 0; t < T_COUNT; t++)
		ck_assert_msg(rr->t[t].nrows == rows[t], "%s: %s has %zu rows, expected %zu", what,
			      normalize_tables[t].name, rr->t[t].nrows, rows[t]);
}

/*
 * Canonical text of a decimal number (digits without leading or trailing
 * zeros, then a power of ten), so that two texts PostgreSQL's numeric
 * reads as the same value compare equal: "1.0", "1", "1e0", "10e-1".
 */
static bool
decimal_canon(const char *s, char *out, size_t outlen)
{
	char digits[256];
	size_t nd = 0;
	long exp10 = 0;
	bool neg = false, point = false, any = false;

	if (s == NULL)
		return false;
	if (*s == '-') {
		neg = true;
		s++;
	}
	for (; *s != '\0'; s++) {
		if (*s >= '0' && *s <= '9') {
			any = true;
			if (point)
				exp10--;
			if (nd == 0 && *s == '0')
				continue;
			if (nd == sizeof(digits))
				return false;
			digits[nd++] = *s;
		} else if (*s == '.' && !point) {
			point = true;
		} else if ((*s == 'e' || *s == 'E') && any) {
			char *end;
			long e = strtol(s + 1, &end, 10);

			if (end == s + 1 || *end != '\0')
				return false;
			exp10 += e;
			break;
		} else {
			return false;
		}
	}
	if (!any)
		return false;
	while (nd > 0 && digits[nd - 1] == '0') {
		nd--;
		exp10++;
	}
	if (nd == 0)
		snprintf(out, outlen, "0");
	else
		snprintf(out, outlen, "%s%.*se%ld", neg ? "-" : "", (int)nd, digits, exp10);
	return true;
}

static void
assert_numeric_eq(const char *got, const char *expected, const char *what)
{
	char a[300], b[300];

	ck_assert_msg(decimal_canon(expected, b, sizeof(b)), "bad expectation %s", expected);
	ck_assert_msg(got != NULL && decimal_canon(got, a, sizeof(a)),
		      "%s: expected a number equal to %s, got \"%s\"", what, expected, got != NULL ? got : "(NULL)");
	ck_assert_msg(strcmp(a, b) == 0, "%s: expected a number equal to %s, got %s", what, expected, got);
}

/* --- every fixture --- */

START_TEST(test_fixture_id_status_counts)
{
	const struct fixture *fx = &fixtures[_i];
	const char *path[] = { "workflowRun", "id" };
	struct run_rows *rr;

	/* the table's ID is the one in the file, not the file's name */
	ck_assert_str_eq(json_object_get_string(fixture_json(fx->file, path, 2)), fx->id);
	rr = norm_fixture(fx->file, true);
	ck_assert_str_eq(rr->id, fx->id);
	ck_assert_str_eq(rr->status, fx->status);
	ck_assert_str_eq(cell(rr, T_RUNS, 0, "id"), fx->id);
	ck_assert_str_eq(cell(rr, T_RUNS, 0, "status"), fx->status);
	expect_counts(rr, fx->rows, fx->file);
}
END_TEST

START_TEST(test_fixture_counts_without_contents)
{
	const struct fixture *fx = &fixtures[_i];
	struct run_rows *rr = norm_fixture(fx->file, false);
	size_t rows[T_COUNT];

	memcpy(rows, fx->rows, sizeof(rows));
	rows[T_FILE_PAGES] = 0;
	rows[T_FILE_SHEETS] = 0;
	ck_assert_str_eq(rr->id, fx->id);
	expect_counts(rr, rows, fx->file);
}
END_TEST

/* A fixture added to tests/data/runs without an entry here would go untested. */
START_TEST(test_fixture_dir_covered)
{
	char path[4096];
	DIR *d;
	struct dirent *de;
	int n = 0, unknown = 0;
	char name[256] = "";

	snprintf(path, sizeof(path), "%s/runs", data_dir());
	d = opendir(path);
	ck_assert_msg(d != NULL, "cannot open %s", path);
	while ((de = readdir(d)) != NULL) {
		size_t l = strlen(de->d_name);
		bool found = false;

		if (l < 5 || strcmp(de->d_name + l - 5, ".json") != 0)
			continue;
		n++;
		for (int i = 0; i < NFIXTURES; i++)
			found = found || strcmp(fixtures[i].file, de->d_name) == 0;
		if (!found) {
			unknown++;
			snprintf(name, sizeof(name), "%s", de->d_name);
		}
	}
	closedir(d);
	ck_assert_msg(unknown == 0, "fixture %s is not in the test's table", name);
	ck_assert_int_eq(n, NFIXTURES);
}
END_TEST

START_TEST(test_fixture_other_id_refused)
{
	const struct fixture *fx = &fixtures[_i];
	char rel[256], other[160];
	size_t len;
	const char *body, *err;

	snprintf(rel, sizeof(rel), "runs/%s", fx->file);
	body = read_data(rel, &len);
	err = norm_fail(body, len, "workflow_run_SomethingElse", fx->file);
	ck_assert_ptr_nonnull(strstr(err, "another run"));
	/* a prefix of the real ID, and the real ID with more after it, are other runs too */
	snprintf(other, sizeof(other), "%.*s", (int)strlen(fx->id) - 1, fx->id);
	norm_fail(body, len, other, other);
	snprintf(other, sizeof(other), "%sx", fx->id);
	norm_fail(body, len, other, other);
}
END_TEST

/* No presigned URL (the fixtures' fake ones) reaches any cell, with or without file contents. */
START_TEST(test_fixture_no_presigned_url)
{
	static const char *const bad[] = { "presignedUrl", "X-Amz-Signature", "w3.org/WAI" };
	const struct fixture *fx = &fixtures[_i / 2];
	char rel[256];
	size_t len;
	const char *body;
	struct run_rows *rr;
	bool in_body = false;

	snprintf(rel, sizeof(rel), "runs/%s", fx->file);
	body = read_data(rel, &len);
	for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++)
		in_body = in_body || strstr(body, bad[b]) != NULL;
	if (fx->rows[T_FILES] > 0 && strcmp(fx->file, "nulls.json") != 0)
		ck_assert_msg(in_body, "%s has no presigned URL: the test would prove nothing", fx->file);
	rr = norm_ok(body, len, fx->id, _i % 2 == 0);
	for (int t = 0; t < T_COUNT; t++) {
		for (size_t r = 0; r < rr->t[t].nrows; r++) {
			for (int c = 0; c < normalize_tables[t].ncols; c++) {
				const char *v = normalize_cell(rr, t, r, c);

				for (size_t b = 0; v != NULL && b < sizeof(bad) / sizeof(bad[0]); b++)
					ck_assert_msg(strstr(v, bad[b]) == NULL, "%s: %s[%zu].%s contains %s",
						      fx->file, normalize_tables[t].name, r, normalize_tables[t].cols[c],
						      bad[b]);
			}
		}
	}
}
END_TEST

/* store_file_contents = false: no text of files anywhere, not even in raw. */
START_TEST(test_fixture_without_contents)
{
	const struct fixture *fx = &fixtures[_i];
	struct run_rows *rr = norm_fixture(fx->file, false);
	const char *raw = cell(rr, T_RUNS, 0, "raw");

	for (size_t r = 0; r < rr->t[T_FILES].nrows; r++) {
		ck_assert_ptr_null(cell(rr, T_FILES, r, "raw_text"));
		ck_assert_ptr_null(cell(rr, T_FILES, r, "markdown"));
		ck_assert_ptr_nonnull(cell(rr, T_FILES, r, "file_id"));
	}
	ck_assert_uint_eq(rr->t[T_FILE_PAGES].nrows, 0);
	ck_assert_uint_eq(rr->t[T_FILE_SHEETS].nrows, 0);
	ck_assert_ptr_nonnull(raw);
	ck_assert_ptr_null(strstr(raw, "rawText"));
	ck_assert_ptr_null(strstr(raw, "\"contents\""));
	ck_assert_ptr_null(strstr(raw, "raw text of the"));
	ck_assert_ptr_nonnull(strstr(raw, fx->id));
}
END_TEST

/* Child rows carry the run ID; ordinals count 0, 1, ... within each parent, in array order. */
START_TEST(test_fixture_keys)
{
	const struct fixture *fx = &fixtures[_i];
	struct run_rows *rr = norm_fixture(fx->file, true);

	for (int t = T_FILES; t < T_COUNT; t++) {
		int nkey = t == T_FILES || t == T_PROCESSOR_RUNS || t == T_STEP_RUNS ? 1 : 2;

		/* one row per processor run: keyed by processor_ordinal alone, checked in test_classifications */
		if (t == T_CLASSIFICATIONS)
			continue;
		char prev_parent[32] = "", want[32];
		size_t next = 0;

		ck_assert_str_eq(normalize_tables[t].cols[0], "run_id");
		ck_assert_str_eq(normalize_tables[t].cols[nkey], "ordinal");
		for (size_t r = 0; r < rr->t[t].nrows; r++) {
			const char *parent = nkey == 2 ? normalize_cell(rr, t, r, 1) : "";

			ck_assert_str_eq(normalize_cell(rr, t, r, 0), fx->id);
			ck_assert_ptr_nonnull(parent);
			if (strcmp(parent, prev_parent) != 0) {
				next = 0;
				snprintf(prev_parent, sizeof(prev_parent), "%s", parent);
			}
			snprintf(want, sizeof(want), "%zu", next++);
			ck_assert_str_eq(normalize_cell(rr, t, r, nkey), want);
		}
	}
}
END_TEST

/* --- seed_example.json: the documentation's example, with every optional field --- */

START_TEST(test_seed_every_column)
{
	static const char id[] = "workflow_run_xKm9pNv3qWsY_jL2tR5Dh";
	static const char page_md[] = "# Heading\n\nThis is a paragraph with **bold** and *italic* text.\n\n"
		"- List item 1\n- List item 2\n\n> This is a blockquote";
	static const char file_meta[] = "{\"pageCount\": 30, \"parentSplit\": {\"id\": \"string\", "
		"\"type\": \"Invoice\", \"identifier\": \"other_2_9\", \"startPage\": 1, \"endPage\": 10}}";
	static const char step_output[] = "{\"rules\": [{\"name\": \"string\", \"valid\": true, "
		"\"validArray\": [\"string\"], \"failureReason\": \"RULE_FAILED\", \"error\": \"string\"}]}";
	const struct cell_exp run[] = {
		C_TEXT("id", id),
		C_TEXT("name", "myFirstFile.pdf"),
		C_TEXT("url", "https://dashboard.extend.ai/workflows/workflow_Bk9mNp2qWs5_xL8vR4tYh"
		       "?workflowRunId=workflow_run_Zj3nMx7ZPd9f4c2WQ_kAg"),
		C_TEXT("status", "PENDING"),
		C_TEXT("workflow_id", "workflow_BMlfq_yWM3sT-ZzvCnA3f"),
		C_TEXT("workflow_version", "draft"),
		C_TEXT("workflow_name", "Invoice Processing"),
		C_TEXT("batch_id", "batch_7Ws31-F5"),
		C_TEXT("reviewed", "true"),
		C_TEXT("reviewed_by", "jane.doe@example.com"),
		C_TEXT("reviewed_at", "2024-03-21T16:45:00Z"),
		C_TEXT("rejection_note", "string"),
		C_TEXT("failure_reason", "string"),
		C_TEXT("failure_message", "string"),
		C_TEXT("initial_run_at", "2025-04-28T17:01:39.285Z"),
		C_TEXT("start_time", "2024-03-21T15:30:00Z"),
		C_TEXT("end_time", "2024-03-21T15:35:00Z"),
		C_TEXT("credits", "25"),
		C_TEXT("metadata", "{}"),
		C_ELSEWHERE("raw"),
		C_ELSEWHERE("content_hash"),
	};
	const struct cell_exp file[] = {
		C_TEXT("run_id", id),
		C_TEXT("ordinal", "0"),
		C_TEXT("file_id", "file_xK9mLPqRtN3vS8wF5hB2cQ"),
		C_TEXT("name", "Invoices.pdf"),
		C_TEXT("type", "PDF"),
		C_TEXT("parent_file_id", "file_Zk9mNP12Qw4yTv8BdR3H"),
		C_TEXT("page_count", "30"),
		C_TEXT("parent_split_id", "string"),
		C_TEXT("parent_split_type", "Invoice"),
		C_TEXT("parent_split_identifier", "other_2_9"),
		C_TEXT("parent_split_start_page", "1"),
		C_TEXT("parent_split_end_page", "10"),
		C_TEXT("created_at", "2024-03-21T15:30:00Z"),
		C_TEXT("updated_at", "2024-03-21T16:45:00Z"),
		C_TEXT("credits", "10"),
		C_TEXT("raw_text", "string"),
		C_TEXT("markdown", "string"),
		C_JSON("metadata", file_meta),
	};
	const struct cell_exp page[] = {
		C_TEXT("run_id", id),
		C_TEXT("file_ordinal", "0"),
		C_TEXT("ordinal", "0"),
		C_TEXT("page_number", "1"),
		C_TEXT("page_height", "10"),
		C_TEXT("page_width", "10"),
		C_TEXT("raw_text", "This is the raw text of the page."),
		C_TEXT("markdown", page_md),
		C_TEXT("html", "<div>This is the html of the page.</div>"),
	};
	const struct cell_exp sheet[] = {
		C_TEXT("run_id", id),
		C_TEXT("file_ordinal", "0"),
		C_TEXT("ordinal", "0"),
		C_TEXT("sheet_name", "Sheet1"),
		C_TEXT("raw_text", "This is the raw text of the sheet."),
	};
	const struct cell_exp proc[] = {
		C_TEXT("run_id", id),
		C_TEXT("ordinal", "0"),
		C_TEXT("id", "dpr_Xj8mK2pL9nR4vT7qY5wZ"),
		C_TEXT("processor_id", "dp_Xj8mK2pL9nR4vT7qY5wZ"),
		C_TEXT("processor_version_id", "dpv_Xj8mK2pL9nR4vT7qY5wZ"),
		C_TEXT("processor_name", "Invoice Processor"),
		C_TEXT("status", "PENDING"),
		C_TEXT("type", "CLASSIFY"),
		C_TEXT("reviewed", "false"),
		C_TEXT("edited", "false"),
		C_TEXT("url", "https://dashboard.extend.ai/runs/dpr_Xj8mK2pL9nR4vT7qY5wZ"),
		C_TEXT("failure_reason", "string"),
		C_TEXT("failure_message", "string"),
		C_TEXT("credits", "3.5"),
		C_TEXT("output", "{}"),
		C_TEXT("initial_output", "{}"),
		C_TEXT("reviewed_output", "{}"),
		C_TEXT("edits", "{}"),
		C_ELSEWHERE("config"),
		C_TEXT("metadata", "{}"),
	};
	const struct cell_exp pfile[] = {
		C_TEXT("run_id", id),
		C_TEXT("processor_ordinal", "0"),
		C_TEXT("ordinal", "0"),
		C_TEXT("file_id", "file_xK9mLPqRtN3vS8wF5hB2cQ"),
		C_TEXT("name", "Invoices.pdf"),
		C_TEXT("type", "PDF"),
		C_TEXT("parent_file_id", "file_Zk9mNP12Qw4yTv8BdR3H"),
		C_TEXT("page_count", "30"),
	};
	const struct cell_exp merged[] = {
		C_TEXT("run_id", id),
		C_TEXT("processor_ordinal", "0"),
		C_TEXT("ordinal", "0"),
		C_TEXT("processor_id", "dp_Xj8mK2pL9nR4vT7qY5wZ"),
		C_TEXT("processor_version_id", "dpv_Xj8mK2pL9nR4vT7qY5wZ"),
		C_TEXT("processor_name", "Invoice Line Items Processor"),
	};
	const struct cell_exp step[] = {
		C_TEXT("run_id", id),
		C_TEXT("ordinal", "0"),
		C_TEXT("id", "workflow_step_run_xK9mLPqRtN3vS8wF5hB2cQ"),
		C_TEXT("status", "PENDING"),
		C_TEXT("step_id", "step_xK9mLPqRtN3vS8wF5hB2cQ"),
		C_TEXT("step_name", "Validate Invoice Total"),
		C_TEXT("step_type", "EXTERNAL_DATA_VALIDATION"),
		C_JSON("output", step_output),
	};
	const struct cell_exp rule[] = {
		C_TEXT("run_id", id),
		C_TEXT("step_ordinal", "0"),
		C_TEXT("ordinal", "0"),
		C_TEXT("name", "string"),
		C_TEXT("valid", "true"),
		C_JSON("valid_array", "[\"string\"]"),
		C_TEXT("failure_reason", "RULE_FAILED"),
		C_TEXT("error", "string"),
	};
	const char *run_path[] = { "workflowRun" };
	const char *config_path[] = { "workflowRun", "outputs", "0", "config" };
	struct run_rows *rr = norm_fixture("seed_example.json", true);
	json_object *expected_raw;

	expect_all_cells(rr, T_RUNS, 0, run, NEXP(run));
	expect_all_cells(rr, T_FILES, 0, file, NEXP(file));
	expect_all_cells(rr, T_FILE_PAGES, 0, page, NEXP(page));
	expect_all_cells(rr, T_FILE_SHEETS, 0, sheet, NEXP(sheet));
	expect_all_cells(rr, T_PROCESSOR_RUNS, 0, proc, NEXP(proc));
	expect_all_cells(rr, T_PROCESSOR_FILES, 0, pfile, NEXP(pfile));
	expect_all_cells(rr, T_MERGED, 0, merged, NEXP(merged));
	expect_all_cells(rr, T_STEP_RUNS, 0, step, NEXP(step));
	expect_all_cells(rr, T_STEP_RULES, 0, rule, NEXP(rule));

	/* config: the processor's config object, whole */
	assert_json_value(cell(rr, T_PROCESSOR_RUNS, 0, "config"),
			  fixture_json("seed_example.json", config_path, NEXP(config_path)), "config");
	ck_assert_ptr_nonnull(strstr(cell(rr, T_PROCESSOR_RUNS, 0, "config"),
				     "\"classificationRules\":\"Remember, when it comes to"));

	/* raw: the whole run as received, presignedUrl removed and nothing else */
	expected_raw = fixture_json("seed_example.json", run_path, 1);
	ck_assert(json_object_object_get_ex(json_object_array_get_idx(
		json_object_object_get(expected_raw, "files"), 0), "presignedUrl", NULL));
	strip_key(expected_raw, "presignedUrl");
	assert_json_value(cell(rr, T_RUNS, 0, "raw"), expected_raw, "raw");
}
END_TEST

/* --- the fixtures that are each about one thing --- */

START_TEST(test_processed_extract)
{
	static const char id[] = "workflow_run_Proc0001aaaa";
	static const char edits[] = "{\"paid\": {\"originalValue\": false, \"editedValue\": true, "
		"\"notes\": \"stamped PAID on page 2\", \"page\": 2, \"fieldType\": \"boolean\"}}";
	static const char classify[] = "{\"id\": \"invoice\", \"type\": \"invoice\", \"confidence\": 0.96, "
		"\"insights\": [{\"type\": \"reasoning\", \"content\": \"Has a total and a VAT id.\"}]}";
	const struct cell_exp run[] = {
		C_TEXT("name", "acme-invoice-0042.pdf"),
		C_TEXT("status", "PROCESSED"),
		C_TEXT("batch_id", "batch_Abc123"),
		C_TEXT("reviewed", "true"),
		C_TEXT("reviewed_by", "reviewer@example.com"),
		C_TEXT("reviewed_at", "2025-05-02T10:01:00Z"),
		C_NULL("rejection_note"),
		C_NULL("failure_reason"),
		C_NULL("failure_message"),
		C_TEXT("initial_run_at", "2025-05-02T09:14:03.512Z"),
		C_TEXT("start_time", "2025-05-02T09:14:05Z"),
		C_TEXT("end_time", "2025-05-02T09:16:40Z"),
		C_TEXT("credits", "12.5"),
		C_JSON("metadata", "{\"customer\": \"acme\", \"priority\": 2}"),
	};
	const struct cell_exp file[] = {
		C_TEXT("file_id", "file_Inv0001aaaa"),
		C_TEXT("page_count", "2"),
		C_NULL("parent_file_id"),
		C_NULL("parent_split_id"),
		C_TEXT("credits", "1.0"),
		C_TEXT("raw_text", "page 1 of acme-invoice-0042.pdf\npage 2 of acme-invoice-0042.pdf"),
		C_TEXT("markdown", "## Page 1\n\nText of acme-invoice-0042.pdf\n\n## Page 2\n\nText of acme-invoice-0042.pdf"),
		C_JSON("metadata", "{\"pageCount\": 2}"),
	};
	const struct cell_exp page1[] = {
		C_TEXT("file_ordinal", "0"),
		C_TEXT("ordinal", "1"),
		C_TEXT("page_number", "2"),
		C_TEXT("page_height", "792"),
		C_TEXT("page_width", "612"),
		C_TEXT("raw_text", "page 2 of acme-invoice-0042.pdf"),
		C_TEXT("markdown", "## Page 2"),
		C_TEXT("html", "<h2>Page 2</h2>"),
	};
	const struct cell_exp cls[] = {
		C_TEXT("id", "dpr_Cls0001aaaa"),
		C_TEXT("processor_name", "Document Classifier"),
		C_TEXT("type", "CLASSIFY"),
		C_TEXT("reviewed", "false"),
		C_TEXT("edited", "false"),
		C_TEXT("credits", "1.25"),
		C_JSON("output", classify),
		C_JSON("initial_output", classify),
		C_NULL("reviewed_output"),
		C_NULL("failure_reason"),
		C_TEXT("edits", "{}"),
	};
	const struct cell_exp ext[] = {
		C_TEXT("id", "dpr_Ext0001aaaa"),
		C_TEXT("processor_id", "dp_Ext0001aaaa"),
		C_TEXT("processor_version_id", "dpv_Ext0001aaaa"),
		C_TEXT("processor_name", "Invoice Extractor"),
		C_TEXT("status", "PROCESSED"),
		C_TEXT("type", "EXTRACT"),
		C_TEXT("reviewed", "true"),
		C_TEXT("edited", "true"),
		C_TEXT("url", "https://dashboard.extend.ai/runs/dpr_Ext0001aaaa"),
		C_TEXT("credits", "1.25"),
		C_JSON("edits", edits),
		C_JSON("config", "{\"type\": \"EXTRACT\", \"baseProcessor\": \"extraction_performance\", "
		       "\"baseVersion\": \"4.1.0\", \"schema\": {\"type\": \"object\", \"properties\": "
		       "{\"invoice_number\": {\"type\": \"string\"}}}}"),
		C_TEXT("metadata", "{}"),
	};
	const struct cell_exp step[] = {
		C_TEXT("id", "workflow_step_run_Rul0001aaaa"),
		C_TEXT("status", "PROCESSED"),
		C_TEXT("step_id", "step_Rul0001aaaa"),
		C_TEXT("step_name", "Check totals"),
		C_TEXT("step_type", "RULE_VALIDATION"),
	};
	const struct cell_exp rule0[] = {
		C_TEXT("step_ordinal", "0"),
		C_TEXT("ordinal", "0"),
		C_TEXT("name", "line items add up"),
		C_TEXT("valid", "true"),
		C_NULL("valid_array"),
		C_NULL("failure_reason"),
		C_NULL("error"),
	};
	const struct cell_exp rule1[] = {
		C_TEXT("step_ordinal", "0"),
		C_TEXT("ordinal", "1"),
		C_TEXT("name", "vat id present"),
		C_TEXT("valid", "false"),
		C_JSON("valid_array", "[\"false\"]"),
		C_TEXT("failure_reason", "RULE_FAILED"),
		C_TEXT("error", "VAT id does not match vendor register"),
	};
	const char *out_path[] = { "workflowRun", "outputs", "1", "output" };
	const char *rev_path[] = { "workflowRun", "outputs", "1", "reviewedOutput" };
	const char *init_path[] = { "workflowRun", "outputs", "1", "initialOutput" };
	struct run_rows *rr = norm_fixture("processed_extract.json", true);
	const char *output;

	ck_assert_str_eq(rr->id, id);
	expect_cells(rr, T_RUNS, 0, run, NEXP(run));
	expect_cells(rr, T_FILES, 0, file, NEXP(file));
	expect_cells(rr, T_FILE_PAGES, 1, page1, NEXP(page1));
	expect_cells(rr, T_PROCESSOR_RUNS, 0, cls, NEXP(cls));
	expect_cells(rr, T_PROCESSOR_RUNS, 1, ext, NEXP(ext));
	expect_cells(rr, T_STEP_RUNS, 0, step, NEXP(step));
	expect_cells(rr, T_STEP_RULES, 0, rule0, NEXP(rule0));
	expect_cells(rr, T_STEP_RULES, 1, rule1, NEXP(rule1));
	ck_assert_str_eq(cell(rr, T_PROCESSOR_FILES, 1, "processor_ordinal"), "1");
	ck_assert_str_eq(cell(rr, T_PROCESSOR_FILES, 1, "file_id"), "file_Inv0001aaaa");

	/* the extraction output, whole, with its numbers as written (45.0 stays 45.0) and its nulls */
	output = cell(rr, T_PROCESSOR_RUNS, 1, "output");
	assert_json_value(output, fixture_json("processed_extract.json", out_path, NEXP(out_path)), "output");
	ck_assert_ptr_nonnull(strstr(output, "\"amount\":45.0"));
	ck_assert_ptr_nonnull(strstr(output, "\"notes\":null"));
	ck_assert_ptr_nonnull(strstr(output, "\"paid\":true"));
	assert_json_value(cell(rr, T_PROCESSOR_RUNS, 1, "reviewed_output"),
			  fixture_json("processed_extract.json", rev_path, NEXP(rev_path)), "reviewed_output");
	assert_json_value(cell(rr, T_PROCESSOR_RUNS, 1, "initial_output"),
			  fixture_json("processed_extract.json", init_path, NEXP(init_path)), "initial_output");
	ck_assert_ptr_nonnull(strstr(cell(rr, T_PROCESSOR_RUNS, 1, "initial_output"), "\"paid\":false"));
}
END_TEST

START_TEST(test_splitter)
{
	static const char *const split_ids[] = { NULL, "split_0", "split_1" };
	static const char *const split_types[] = { NULL, "invoice", "receipt" };
	static const char *const split_idents[] = { NULL, "invoice_0", "receipt_1" };
	static const char *const starts[] = { NULL, "1", "3" };
	static const char *const ends[] = { NULL, "2", "6" };
	static const char *const page_counts[] = { "6", "2", "4" };
	static const char *const file_ids[] = { "file_Pkt0001aaaa", "file_PktSub0aaaa", "file_PktSub1aaaa" };
	static const char *const credits[] = { "3.0", "1.0", "2.0" };
	static const size_t pages_per_file[] = { 6, 2, 4 };
	const char *split_path[] = { "workflowRun", "outputs", "0", "output" };
	struct run_rows *rr = norm_fixture("splitter.json", true);
	size_t r = 0;

	for (size_t f = 0; f < 3; f++) {
		const struct cell_exp file[] = {
			C_TEXT("file_id", file_ids[f]),
			C_TEXT("parent_file_id", f == 0 ? NULL : "file_Pkt0001aaaa"),
			C_TEXT("page_count", page_counts[f]),
			C_TEXT("parent_split_id", split_ids[f]),
			C_TEXT("parent_split_type", split_types[f]),
			C_TEXT("parent_split_identifier", split_idents[f]),
			C_TEXT("parent_split_start_page", starts[f]),
			C_TEXT("parent_split_end_page", ends[f]),
			C_TEXT("credits", credits[f]),
		};
		char fo[24];

		expect_cells(rr, T_FILES, f, file, NEXP(file));
		snprintf(fo, sizeof(fo), "%zu", f);
		for (size_t p = 0; p < pages_per_file[f]; p++, r++) {
			char o[24], num[24];

			snprintf(o, sizeof(o), "%zu", p);
			snprintf(num, sizeof(num), "%zu", p + 1);
			ck_assert_str_eq(cell(rr, T_FILE_PAGES, r, "file_ordinal"), fo);
			ck_assert_str_eq(cell(rr, T_FILE_PAGES, r, "ordinal"), o);
			ck_assert_str_eq(cell(rr, T_FILE_PAGES, r, "page_number"), num);
		}
	}
	ck_assert_str_eq(cell(rr, T_FILE_PAGES, 7, "raw_text"), "page 2 of packet-invoice-0.pdf");

	ck_assert_str_eq(cell(rr, T_PROCESSOR_RUNS, 0, "type"), "SPLITTER");
	ck_assert_str_eq(cell(rr, T_PROCESSOR_RUNS, 0, "processor_name"), "Packet Splitter");
	assert_json_value(cell(rr, T_PROCESSOR_RUNS, 0, "output"),
			  fixture_json("splitter.json", split_path, NEXP(split_path)), "splitter output");
	assert_json_text(cell(rr, T_PROCESSOR_RUNS, 1, "output"), "{\"value\": {\"total\": 10.0}, \"metadata\": "
			 "{\"total\": {\"ocrConfidence\": 0.9, \"logprobsConfidence\": 0.9}}}", "output 1");
	ck_assert_str_eq(cell(rr, T_PROCESSOR_RUNS, 2, "id"), "dpr_SplExt1aaaa");

	/* each processor's own files, with the splitter's parent on the split files */
	ck_assert_str_eq(cell(rr, T_PROCESSOR_FILES, 0, "file_id"), "file_Pkt0001aaaa");
	ck_assert_ptr_null(cell(rr, T_PROCESSOR_FILES, 0, "parent_file_id"));
	ck_assert_str_eq(cell(rr, T_PROCESSOR_FILES, 1, "processor_ordinal"), "1");
	ck_assert_str_eq(cell(rr, T_PROCESSOR_FILES, 1, "ordinal"), "0");
	ck_assert_str_eq(cell(rr, T_PROCESSOR_FILES, 1, "file_id"), "file_PktSub0aaaa");
	ck_assert_str_eq(cell(rr, T_PROCESSOR_FILES, 1, "parent_file_id"), "file_Pkt0001aaaa");
	ck_assert_str_eq(cell(rr, T_PROCESSOR_FILES, 2, "processor_ordinal"), "2");
	ck_assert_str_eq(cell(rr, T_PROCESSOR_FILES, 2, "name"), "packet-receipt-1.pdf");
	ck_assert_str_eq(cell(rr, T_PROCESSOR_FILES, 2, "page_count"), "4");

	/* the one merged processor belongs to the third output */
	ck_assert_str_eq(cell(rr, T_MERGED, 0, "run_id"), "workflow_run_Spl0001aaaa");
	ck_assert_str_eq(cell(rr, T_MERGED, 0, "processor_ordinal"), "2");
	ck_assert_str_eq(cell(rr, T_MERGED, 0, "ordinal"), "0");
	ck_assert_str_eq(cell(rr, T_MERGED, 0, "processor_id"), "dp_Mrg1");
	ck_assert_str_eq(cell(rr, T_MERGED, 0, "processor_version_id"), "dpv_Mrg1");
	ck_assert_str_eq(cell(rr, T_MERGED, 0, "processor_name"), "Receipt Line Items");
}
END_TEST

START_TEST(test_failed)
{
	const struct cell_exp run[] = {
		C_TEXT("status", "FAILED"),
		C_TEXT("failure_reason", "INTERNAL_ERROR"),
		C_TEXT("failure_message", "The file could not be processed."),
		C_TEXT("start_time", "2025-05-04T12:00:00Z"),
		C_TEXT("end_time", "2024-03-21T15:35:00Z"),	/* before the start, stored as given */
		C_NULL("reviewed_by"),
		C_NULL("rejection_note"),
	};
	const struct cell_exp file[] = {
		C_TEXT("file_id", "file_Fail0001aaa"),
		C_TEXT("credits", "0.5"),
		C_NULL("raw_text"),		/* no contents at all */
		C_NULL("markdown"),
	};
	const struct cell_exp proc[] = {
		C_TEXT("id", "dpr_Fail0001aaa"),
		C_TEXT("status", "FAILED"),
		C_TEXT("failure_reason", "DOCUMENT_PROCESSOR_ERROR"),
		C_TEXT("failure_message", "extraction failed after retries"),
		C_TEXT("output", "{}"),
		C_NULL("initial_output"),
		C_NULL("reviewed_output"),
	};
	struct run_rows *rr = norm_fixture("failed.json", true);

	expect_cells(rr, T_RUNS, 0, run, NEXP(run));
	expect_cells(rr, T_FILES, 0, file, NEXP(file));
	expect_cells(rr, T_PROCESSOR_RUNS, 0, proc, NEXP(proc));
}
END_TEST

/* Every optional field is JSON null: every optional column is SQL NULL. */
START_TEST(test_nulls)
{
	const struct cell_exp run[] = {
		C_TEXT("id", "workflow_run_Nul0001aaaa"),
		C_TEXT("name", "empty.txt"),
		C_TEXT("status", "PROCESSING"),
		C_TEXT("workflow_id", "workflow_X"),
		C_TEXT("workflow_version", "draft"),
		C_TEXT("workflow_name", "Scratch"),
		C_NULL("batch_id"),
		C_TEXT("reviewed", "false"),
		C_NULL("reviewed_by"),
		C_NULL("reviewed_at"),
		C_NULL("rejection_note"),
		C_NULL("failure_reason"),
		C_NULL("failure_message"),
		C_TEXT("initial_run_at", "2025-05-08T00:00:00Z"),
		C_NULL("start_time"),
		C_NULL("end_time"),
		C_NULL("credits"),
		C_TEXT("metadata", "{}"),
	};
	const struct cell_exp file[] = {
		C_TEXT("file_id", "file_Nul0001aaaa"),
		C_TEXT("name", "nulls.pdf"),
		C_NULL("type"),
		C_NULL("parent_file_id"),
		C_NULL("page_count"),
		C_NULL("parent_split_id"),
		C_NULL("parent_split_type"),
		C_NULL("parent_split_identifier"),
		C_NULL("parent_split_start_page"),
		C_NULL("parent_split_end_page"),
		C_TEXT("created_at", "2025-05-02T09:14:03Z"),
		C_TEXT("updated_at", "2025-05-02T09:15:41Z"),
		C_NULL("credits"),
		C_NULL("raw_text"),
		C_NULL("markdown"),
		C_JSON("metadata", "{\"pageCount\": null, \"parentSplit\": null}"),
	};
	struct run_rows *rr = norm_fixture("nulls.json", true);
	const char *raw = cell(rr, T_RUNS, 0, "raw");

	expect_cells(rr, T_RUNS, 0, run, NEXP(run));
	expect_cells(rr, T_FILES, 0, file, NEXP(file));
	/* raw is the object as received: its nulls are kept */
	ck_assert_ptr_nonnull(strstr(raw, "\"batchId\":null"));
	ck_assert_ptr_nonnull(strstr(raw, "\"contents\":null"));
}
END_TEST

/* Optional fields absent: NULL, and no child rows at all. */
START_TEST(test_minimal)
{
	static const char raw[] = "{\"object\": \"workflow_run\", \"id\": \"workflow_run_Min0001aaaa\", "
		"\"name\": \"empty.txt\", \"url\": \"https://dashboard.extend.ai/workflows/workflow_X"
		"?workflowRunId=workflow_run_Min0001aaaa\", \"status\": \"PENDING\", \"metadata\": {}, "
		"\"files\": [], \"initialRunAt\": \"2025-05-08T00:00:00Z\", \"reviewed\": false, "
		"\"outputs\": [], \"stepRuns\": [], \"workflow\": {\"object\": \"workflow\", "
		"\"id\": \"workflow_X\", \"version\": \"draft\", \"name\": \"Scratch\"}}";
	const struct cell_exp run[] = {
		C_TEXT("id", "workflow_run_Min0001aaaa"),
		C_TEXT("name", "empty.txt"),
		C_TEXT("url", "https://dashboard.extend.ai/workflows/workflow_X?workflowRunId=workflow_run_Min0001aaaa"),
		C_TEXT("status", "PENDING"),
		C_TEXT("workflow_id", "workflow_X"),
		C_TEXT("workflow_version", "draft"),
		C_TEXT("workflow_name", "Scratch"),
		C_NULL("batch_id"),
		C_TEXT("reviewed", "false"),
		C_NULL("reviewed_by"),
		C_NULL("reviewed_at"),
		C_NULL("rejection_note"),
		C_NULL("failure_reason"),
		C_NULL("failure_message"),
		C_TEXT("initial_run_at", "2025-05-08T00:00:00Z"),
		C_NULL("start_time"),
		C_NULL("end_time"),
		C_NULL("credits"),
		C_TEXT("metadata", "{}"),
		C_JSON("raw", raw),
		C_ELSEWHERE("content_hash"),
	};
	struct run_rows *rr = norm_fixture("minimal.json", true);

	expect_all_cells(rr, T_RUNS, 0, run, NEXP(run));
	for (int t = T_FILES; t < T_COUNT; t++)
		ck_assert_uint_eq(rr->t[t].nrows, 0);
}
END_TEST

START_TEST(test_spreadsheet)
{
	const struct cell_exp file[] = {
		C_TEXT("file_id", "file_Xls0001aaaa"),
		C_TEXT("type", "EXCEL"),
		C_NULL("page_count"),
		C_TEXT("credits", "0.0"),
		C_TEXT("raw_text", ""),		/* empty text is not NULL */
		C_TEXT("markdown", ""),
		C_TEXT("metadata", "{}"),
	};
	const struct cell_exp sheet0[] = {
		C_TEXT("run_id", "workflow_run_Xls0001aaaa"),
		C_TEXT("file_ordinal", "0"),
		C_TEXT("ordinal", "0"),
		C_TEXT("sheet_name", "Q1"),
		C_TEXT("raw_text", "month,amount\nJan,10\nFeb,12"),
	};
	const struct cell_exp sheet1[] = {
		C_TEXT("run_id", "workflow_run_Xls0001aaaa"),
		C_TEXT("file_ordinal", "0"),
		C_TEXT("ordinal", "1"),
		C_TEXT("sheet_name", "Q2"),
		C_TEXT("raw_text", "month,amount\nApr,9"),
	};
	struct run_rows *rr = norm_fixture("spreadsheet.json", true);

	expect_cells(rr, T_FILES, 0, file, NEXP(file));
	ck_assert_uint_eq(rr->t[T_FILE_PAGES].nrows, 0);
	ck_assert_uint_eq(rr->t[T_FILE_SHEETS].nrows, 2);
	expect_all_cells(rr, T_FILE_SHEETS, 0, sheet0, NEXP(sheet0));
	expect_all_cells(rr, T_FILE_SHEETS, 1, sheet1, NEXP(sheet1));
}
END_TEST

START_TEST(test_review_states)
{
	const struct cell_exp review[] = {
		C_TEXT("status", "NEEDS_REVIEW"),
		C_TEXT("reviewed", "false"),
		C_NULL("reviewed_by"),
		C_NULL("reviewed_at"),
		C_NULL("rejection_note"),
		C_TEXT("credits", "25"),
	};
	const struct cell_exp rejected[] = {
		C_TEXT("status", "REJECTED"),
		C_TEXT("name", "not-an-invoice.pdf"),
		C_TEXT("reviewed", "true"),
		C_TEXT("reviewed_by", "ops@example.com"),
		C_TEXT("reviewed_at", "2025-05-06T11:00:00Z"),
		C_TEXT("rejection_note", "This is a purchase order, not an invoice."),
		C_NULL("failure_reason"),
		C_TEXT("end_time", "2025-05-06T11:00:00Z"),
	};
	const struct cell_exp cancelling[] = {
		C_TEXT("status", "CANCELLING"),
		C_TEXT("name", "big.pdf"),
		C_NULL("rejection_note"),
		C_NULL("failure_reason"),
		C_TEXT("start_time", "2025-05-07T10:00:00Z"),
		C_TEXT("credits", "25"),
	};
	struct run_rows *rr;

	rr = norm_fixture("needs_review.json", true);
	expect_cells(rr, T_RUNS, 0, review, NEXP(review));
	assert_json_text(cell(rr, T_PROCESSOR_RUNS, 0, "output"), "{\"value\": {\"total\": null}, \"metadata\": "
			 "{\"total\": {\"ocrConfidence\": 0.31, \"logprobsConfidence\": 0.4}}}", "output");
	ck_assert_str_eq(cell(rr, T_FILE_PAGES, 0, "raw_text"), "page 1 of blurry.pdf");

	rr = norm_fixture("rejected.json", true);
	expect_cells(rr, T_RUNS, 0, rejected, NEXP(rejected));
	ck_assert_str_eq(cell(rr, T_FILES, 0, "credits"), "0.5");

	rr = norm_fixture("cancelling.json", true);
	expect_cells(rr, T_RUNS, 0, cancelling, NEXP(cancelling));
	ck_assert_str_eq(cell(rr, T_FILES, 0, "credits"), "1.5");
	ck_assert_str_eq(cell(rr, T_FILES, 0, "page_count"), "3");
	ck_assert_ptr_null(cell(rr, T_FILES, 0, "raw_text"));
}
END_TEST

/* The legacy EXTRACT output shape is kept as it came, whole. */
START_TEST(test_legacy_extract)
{
	const char *out_path[] = { "workflowRun", "outputs", "0", "output" };
	struct run_rows *rr = norm_fixture("legacy_extract.json", true);

	ck_assert_str_eq(cell(rr, T_PROCESSOR_RUNS, 0, "type"), "EXTRACT");
	assert_json_value(cell(rr, T_PROCESSOR_RUNS, 0, "output"),
			  fixture_json("legacy_extract.json", out_path, NEXP(out_path)), "legacy output");
	ck_assert_str_eq(cell(rr, T_RUNS, 0, "start_time"), "2025-03-01T08:00:00Z");
	ck_assert_str_eq(cell(rr, T_RUNS, 0, "end_time"), "2025-03-01T08:00:31Z");
}
END_TEST

/* --- bodies that are not the run --- */

#define RUN_OPEN "{\"success\": true, \"workflowRun\": {\"id\": \"workflow_run_T1\", "

struct bad_body {
	const char *what;
	const char *body;
	size_t len;		/* 0: strlen(body) */
	const char *in_err;	/* text the reason must contain */
};

static const struct bad_body bad_bodies[] = {
	{ "malformed", "{\"success\": true, \"workflowRun\": {", 0, "not valid JSON" },
	{ "empty", "", 0, "empty" },
	{ "only whitespace", " \n", 0, "not valid JSON" },
	{ "array", "[{\"success\": true, \"workflowRun\": {\"id\": \"workflow_run_T1\", \"status\": \"PENDING\"}}]",
	  0, "not a JSON object" },
	{ "string", "\"workflow_run_T1\"", 0, "not a JSON object" },
	{ "api error", "{\"success\": false, \"error\": \"Workflow run not found\"}", 0, "Workflow run not found" },
	{ "no run", "{\"success\": true}", 0, "workflowRun" },
	{ "run not an object", "{\"success\": true, \"workflowRun\": [\"workflow_run_T1\"]}", 0, "workflowRun" },
	{ "no id", "{\"success\": true, \"workflowRun\": {\"status\": \"PENDING\"}}", 0, "id" },
	{ "numeric id", "{\"success\": true, \"workflowRun\": {\"id\": 7, \"status\": \"PENDING\"}}", 0, "id" },
	{ "other id", "{\"success\": true, \"workflowRun\": {\"id\": \"workflow_run_T2\", \"status\": \"PENDING\"}}",
	  0, "another run" },
	{ "id with NUL", RUN_OPEN "\"id\": \"workflow_run_T1\\u0000x\", \"status\": \"PENDING\"}}", 0, "another run" },
	{ "no status", RUN_OPEN "\"name\": \"x.pdf\"}}", 0, "status" },
	{ "null status", RUN_OPEN "\"status\": null}}", 0, "status" },
	{ "empty status", RUN_OPEN "\"status\": \"\"}}", 0, "status" },
	{ "invalid UTF-8", RUN_OPEN "\"status\": \"PENDING\", \"name\": \"bad \xff\xfe name\"}}", 0, "utf-8" },
	{ "overlong UTF-8", RUN_OPEN "\"status\": \"PENDING\", \"name\": \"\xc0\xaf\"}}", 0, "UTF-8" },
	{ "cut UTF-8", RUN_OPEN "\"status\": \"PENDING\", \"name\": \"\xe2\x82\"}}", 0, "UTF-8" },
	{ "UTF-8 surrogate", RUN_OPEN "\"status\": \"PENDING\", \"name\": \"\xed\xa0\x80\"}}", 0, "UTF-8" },
	{ "UTF-8 above U+10FFFF", RUN_OPEN "\"status\": \"PENDING\", \"name\": \"\xf4\x90\x80\x80\"}}", 0, "UTF-8" },
	{ "UTF-8 in a key", RUN_OPEN "\"status\": \"PENDING\", \"metadata\": {\"\xe0\x80\xaf\": 1}}}", 0, "UTF-8" },
	{ "trailing garbage", RUN_OPEN "\"status\": \"PENDING\"}} x", 0, "JSON" },
	{ "second object", RUN_OPEN "\"status\": \"PENDING\"}}{}", 0, "JSON" },
	{ "NUL then garbage", RUN_OPEN "\"status\": \"PENDING\"}}\0garbage",
	  sizeof(RUN_OPEN "\"status\": \"PENDING\"}}\0garbage") - 1, "JSON" },
	{ "trailing comma", RUN_OPEN "\"status\": \"PENDING\",}}", 0, "JSON" },
	/* white space left out before parsing must not join what it keeps apart */
	{ "numbers apart", RUN_OPEN "\"status\": \"PENDING\", \"metadata\": [1 2]}}", 0, "JSON" },
	{ "sign apart", RUN_OPEN "\"status\": \"PENDING\", \"metadata\": [-\n 1]}}", 0, "JSON" },
	{ "exponent apart", RUN_OPEN "\"status\": \"PENDING\", \"metadata\": [1\te5]}}", 0, "JSON" },
	{ "fraction apart", RUN_OPEN "\"status\": \"PENDING\", \"metadata\": [1 .5]}}", 0, "JSON" },
	{ "literal apart", RUN_OPEN "\"status\": \"PENDING\", \"metadata\": tr ue}}", 0, "JSON" },
	{ "literal apart by a line", RUN_OPEN "\"status\": \"PENDING\", \"metadata\": [nul\r\nl]}}", 0, "JSON" },
	{ "number and white space alone", "42\n", 0, "not a JSON object" },
	{ "literal and white space alone", "true \t", 0, "not a JSON object" },
};

/*
 * White space between values is left out before json-c parses: the rows of
 * a body do not depend on its indentation, and the byte a parse error names
 * is the response's own.
 */
START_TEST(test_white_space)
{
	const struct fixture *fx = &fixtures[_i];
	json_object *root = fixture_json(fx->file, NULL, 0);
	static const int flags[] = { JSON_C_TO_STRING_PLAIN, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_PRETTY_TAB };
	struct run_rows *want = norm_fixture(fx->file, true);

	for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
		const char *body = json_object_to_json_string_ext(root, flags[f]);
		struct run_rows *got = norm_ok(body, strlen(body), fx->id, true);

		for (int t = 0; t < T_COUNT; t++) {
			ck_assert_uint_eq(got->t[t].nrows, want->t[t].nrows);
			for (size_t r = 0; r < want->t[t].nrows; r++) {
				for (int c = 0; c < normalize_tables[t].ncols; c++) {
					const char *a = normalize_cell(want, (enum table_id)t, r, c);
					const char *b = normalize_cell(got, (enum table_id)t, r, c);

					ck_assert_msg((a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0),
						      "%s (flags %d): %s row %zu column %s differs", fx->file, flags[f],
						      normalize_tables[t].name, r, normalize_tables[t].cols[c]);
				}
			}
		}
	}
}
END_TEST

START_TEST(test_white_space_error_place)
{
	const char *body = "{\n    \"success\": true,\n    \"workflowRun\": {\n        \"id\": \"workflow_run_T1\",\n"
			   "        \"status\": @\n    }\n}\n";
	const char *err = norm_fail(body, strlen(body), "workflow_run_T1", "error in an indented body");
	char want[64];

	snprintf(want, sizeof(want), "at byte %zu", (size_t)(strchr(body, '@') - body));
	ck_assert_msg(strstr(err, want) != NULL, "err \"%s\" does not say \"%s\"", err, want);
}
END_TEST

START_TEST(test_bad_body)
{
	const struct bad_body *b = &bad_bodies[_i];
	size_t len = b->len != 0 ? b->len : strlen(b->body);
	const char *err = norm_fail(b->body, len, "workflow_run_T1", b->what);

	ck_assert_msg(strcasestr(err, b->in_err) != NULL, "%s: err \"%s\" does not mention \"%s\"", b->what, err,
		      b->in_err);
}
END_TEST

/* Every prefix of a good body is refused (a body cut short by the network is never half a run). */
START_TEST(test_truncated_bodies)
{
	const struct fixture *fx = fixture_named("minimal.json");
	size_t len, end;
	const char *body = read_data("runs/minimal.json", &len);

	end = (size_t)(strrchr(body, '}') - body);
	for (size_t n = 0; n <= end; n++) {
		char what[64];

		snprintf(what, sizeof(what), "first %zu bytes", n);
		norm_fail(body, n, fx->id, what);
	}
}
END_TEST

START_TEST(test_truncated_half)
{
	const struct fixture *fx = fixture_named("seed_example.json");
	size_t len;
	const char *body = read_data("runs/seed_example.json", &len);
	const char *err = norm_fail(body, len / 2, fx->id, "half of seed_example.json");

	ck_assert_ptr_nonnull(strstr(err, "not valid JSON"));
}
END_TEST

/* The reason never quotes the body (which may hold customer data), only the API's own message. */
START_TEST(test_err_quotes_no_body)
{
	static const char *const bodies[] = {
		"{\"success\": true, \"workflowRun\": {\"id\": \"workflow_run_CustomerSecret\", \"status\": \"PENDING\"}}",
		RUN_OPEN "\"status\": \"PENDING\", \"name\": \"CustomerSecret",
		RUN_OPEN "\"status\": \"PENDING\", \"name\": \"CustomerSecret\xff\"}}",
		RUN_OPEN "\"status\": \"PENDING\"}} CustomerSecret",
		"{\"success\": true, \"CustomerSecret\": }",
	};

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		const char *err = norm_fail(bodies[i], strlen(bodies[i]), "workflow_run_T1", "body quoting");

		ck_assert_msg(strstr(err, "CustomerSecret") == NULL, "err quotes the body: %s", err);
	}
}
END_TEST

/* The body need not be NUL-terminated: one that ends at an unreadable page is parsed without reading past it. */
START_TEST(test_unterminated_body)
{
	static const char *const bodies[] = {
		RUN_OPEN "\"status\": \"PENDING\"}}",
		RUN_OPEN "\"status\": \"PENDING\"}}\n",
		RUN_OPEN "\"status\": \"PENDING\"}}  \r\n",
		RUN_OPEN "\"status\": \"PENDING\"",
		RUN_OPEN "\"status\": \"PENDING\"}} x",
	};
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ck_assert(map != MAP_FAILED);
	ck_assert_int_eq(mprotect(map + page, page, PROT_NONE), 0);
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		size_t len = strlen(bodies[i]);
		char *b = map + page - len;
		struct run_rows *rr = NULL;
		char err[NORMALIZE_ERR_SIZE];
		int rc;

		memcpy(b, bodies[i], len);
		rc = normalize_body(b, len, "workflow_run_T1", true, &rr, err, sizeof(err));
		normalize_free(rr);
		ck_assert_int_eq(rc, i < 3 ? 0 : -EINVAL);
		ck_assert_int_eq(normalize_error_message(b, len, err, sizeof(err)), -1);
	}
	munmap(map, 2 * page);
}
END_TEST

/* --- NUL characters: dropped, the rest kept, the run still written --- */

START_TEST(test_nul_characters)
{
	static const char body[] = "{\"success\": true, \"workflowRun\": {\"id\": \"workflow_run_Z1\", "
		"\"status\": \"PROCESSED\", \"name\": \"ab\\u0000cd\", "
		"\"metadata\": {\"note\": \"x\\u0000y\", \"\\u0000\": \"\\u0000\", \"ctl\": \"a\\u0001b\"}, "
		"\"files\": [{\"object\": \"file\", \"id\": \"f\\u00001\", \"name\": \"n\\u0000.pdf\", "
		"\"createdAt\": \"2025-05-02T09:14:03Z\\u0000\", "
		"\"contents\": {\"rawText\": \"raw\\u0000text\", \"markdown\": \"\\u0000\", "
		"\"pages\": [{\"pageNumber\": 1, \"rawText\": \"page\\u0000one\", \"markdown\": \"# \\u0000x\", "
		"\"html\": \"<p>\\u0000</p>\"}]}}], "
		"\"outputs\": [{\"id\": \"dpr_\\u0000Z\", \"output\": {\"value\": {\"v\": \"1\\u00002\"}}}], "
		"\"stepRuns\": [{\"id\": \"s\", \"output\": {\"rules\": [{\"name\": \"r\\u0000\", "
		"\"error\": \"\\u0000e\"}]}}]}}";
	struct run_rows *rr = norm_ok(body, strlen(body), "workflow_run_Z1", true);
	const char *raw = cell(rr, T_RUNS, 0, "raw");

	ck_assert_str_eq(cell(rr, T_RUNS, 0, "name"), "abcd");
	assert_json_text(cell(rr, T_RUNS, 0, "metadata"), "{\"note\": \"xy\", \"\": \"\", \"ctl\": \"a\\u0001b\"}",
			 "metadata");
	ck_assert_str_eq(cell(rr, T_FILES, 0, "file_id"), "f1");
	ck_assert_str_eq(cell(rr, T_FILES, 0, "name"), "n.pdf");
	ck_assert_str_eq(cell(rr, T_FILES, 0, "raw_text"), "rawtext");
	ck_assert_str_eq(cell(rr, T_FILES, 0, "markdown"), "");
	ck_assert_str_eq(cell(rr, T_FILE_PAGES, 0, "raw_text"), "pageone");
	ck_assert_str_eq(cell(rr, T_FILE_PAGES, 0, "markdown"), "# x");
	ck_assert_str_eq(cell(rr, T_FILE_PAGES, 0, "html"), "<p></p>");
	ck_assert_str_eq(cell(rr, T_PROCESSOR_RUNS, 0, "id"), "dpr_Z");
	assert_json_text(cell(rr, T_PROCESSOR_RUNS, 0, "output"), "{\"value\": {\"v\": \"12\"}}", "output");
	ck_assert_str_eq(cell(rr, T_STEP_RULES, 0, "name"), "r");
	ck_assert_str_eq(cell(rr, T_STEP_RULES, 0, "error"), "e");
	ck_assert_ptr_nonnull(strstr(raw, "\"name\":\"abcd\""));
	ck_assert_ptr_nonnull(strstr(raw, "\"rawText\":\"pageone\""));
	for (int t = 0; t < T_COUNT; t++) {
		for (size_t r = 0; r < rr->t[t].nrows; r++) {
			for (int c = 0; c < normalize_tables[t].ncols; c++) {
				const char *v = normalize_cell(rr, t, r, c);

				ck_assert_msg(v == NULL || strstr(v, "\\u0000") == NULL, "%s.%s keeps a \\u0000: %s",
					      normalize_tables[t].name, normalize_tables[t].cols[c], v);
			}
		}
	}
}
END_TEST

/*
 * A NUL inside an object key: the key loses only the NUL, like any other
 * text ("ke\u0000y" -> "key"), and two keys that differ after the NUL stay
 * two keys.
 */
START_TEST(test_nul_in_keys)
{
	static const char body[] = "{\"success\": true, \"workflowRun\": {\"id\": \"workflow_run_Z2\", "
		"\"status\": \"PROCESSED\", \"metadata\": {\"ke\\u0000y\": \"v\", \"a\\u0000b\": 1, \"a\\u0000c\": 2}}}";
	struct run_rows *rr = norm_ok(body, strlen(body), "workflow_run_Z2", true);

	assert_json_text(cell(rr, T_RUNS, 0, "metadata"), "{\"key\": \"v\", \"ab\": 1, \"ac\": 2}", "metadata");
	ck_assert_ptr_nonnull(strstr(cell(rr, T_RUNS, 0, "raw"), "\"key\":\"v\""));
}
END_TEST

/* --- lenience: the API's optional fields with surprising values never lose the run --- */

START_TEST(test_lenient_types)
{
	static const char body[] = "{\"success\": true, \"workflowRun\": {\"id\": \"workflow_run_L1\", "
		"\"status\": \"ARCHIVED\", \"name\": \"n\", \"futureField\": {\"nested\": [1, 2]}, "
		"\"reviewed\": \"yes\", \"reviewedAt\": \"not-a-date\", \"startTime\": \"2025-02-30T00:00:00Z\", "
		"\"endTime\": \"2024-02-29T23:59:59+05:30\", \"initialRunAt\": \"2025-13-01T00:00:00Z\", "
		"\"usage\": {\"credits\": \"abc\"}, \"batchId\": 12, \"metadata\": \"not an object\", "
		"\"workflow\": {\"id\": \"w\", \"version\": 3}, "
		"\"files\": [\"x\", {\"id\": \"f1\", \"metadata\": {\"pageCount\": \"12\", \"parentSplit\": \"s\"}, "
		"\"usage\": {\"credits\": true}, \"createdAt\": 20250502, \"updatedAt\": \"2025-05-02T25:00:00Z\", "
		"\"contents\": {\"rawText\": 5, \"pages\": \"p\", \"sheets\": [1, {\"sheetName\": \"S\"}]}}, null, "
		"{\"id\": \"f3\", \"metadata\": {\"pageCount\": 12, \"parentSplit\": {\"startPage\": \"1\", "
		"\"endPage\": 99999999999}}, \"usage\": \"lots\"}], "
		"\"outputs\": [{\"id\": \"dpr\", \"type\": 7, \"status\": \"WEIRD\", \"reviewed\": \"yes\", "
		"\"edited\": 1, \"files\": \"x\", \"mergedProcessors\": [null, {\"processorId\": \"p\"}], "
		"\"usage\": {\"credits\": null}}], "
		"\"stepRuns\": [{\"id\": \"s\", \"status\": 3, \"step\": {\"type\": 5}, "
		"\"output\": {\"rules\": [{\"name\": \"r\", \"valid\": \"true\", \"validArray\": \"v\"}]}}]}}";
	const struct cell_exp run[] = {
		C_TEXT("status", "ARCHIVED"),
		C_NULL("reviewed"),
		C_NULL("reviewed_at"),
		C_NULL("start_time"),		/* no 30 February */
		C_TEXT("end_time", "2024-02-29T23:59:59+05:30"),
		C_NULL("initial_run_at"),
		C_NULL("credits"),
		C_TEXT("batch_id", "12"),
		C_TEXT("workflow_version", "3"),
		C_JSON("metadata", "\"not an object\""),
	};
	const struct cell_exp f1[] = {
		C_TEXT("ordinal", "1"),
		C_TEXT("file_id", "f1"),
		C_NULL("page_count"),
		C_NULL("parent_split_id"),
		C_NULL("parent_split_start_page"),
		C_NULL("credits"),
		C_NULL("created_at"),
		C_NULL("updated_at"),
		C_TEXT("raw_text", "5"),
	};
	const struct cell_exp f3[] = {
		C_TEXT("ordinal", "3"),
		C_TEXT("file_id", "f3"),
		C_TEXT("page_count", "12"),
		C_NULL("parent_split_start_page"),
		C_NULL("parent_split_end_page"),	/* beyond PostgreSQL's integer */
		C_NULL("credits"),
	};
	const struct cell_exp proc[] = {
		C_TEXT("type", "7"),
		C_TEXT("status", "WEIRD"),
		C_NULL("reviewed"),
		C_NULL("edited"),
		C_NULL("credits"),
	};
	struct run_rows *rr = norm_ok(body, strlen(body), "workflow_run_L1", true);
	const char *raw = cell(rr, T_RUNS, 0, "raw");

	ck_assert_str_eq(rr->status, "ARCHIVED");
	expect_cells(rr, T_RUNS, 0, run, NEXP(run));
	ck_assert_uint_eq(rr->t[T_FILES].nrows, 2);
	expect_cells(rr, T_FILES, 0, f1, NEXP(f1));
	expect_cells(rr, T_FILES, 1, f3, NEXP(f3));
	ck_assert_uint_eq(rr->t[T_FILE_PAGES].nrows, 0);
	ck_assert_uint_eq(rr->t[T_FILE_SHEETS].nrows, 1);
	ck_assert_str_eq(cell(rr, T_FILE_SHEETS, 0, "file_ordinal"), "1");
	ck_assert_str_eq(cell(rr, T_FILE_SHEETS, 0, "ordinal"), "1");
	ck_assert_str_eq(cell(rr, T_FILE_SHEETS, 0, "sheet_name"), "S");
	ck_assert_ptr_null(cell(rr, T_FILE_SHEETS, 0, "raw_text"));
	expect_cells(rr, T_PROCESSOR_RUNS, 0, proc, NEXP(proc));
	ck_assert_uint_eq(rr->t[T_PROCESSOR_FILES].nrows, 0);
	ck_assert_uint_eq(rr->t[T_MERGED].nrows, 1);
	ck_assert_str_eq(cell(rr, T_MERGED, 0, "ordinal"), "1");
	ck_assert_str_eq(cell(rr, T_MERGED, 0, "processor_id"), "p");
	ck_assert_str_eq(cell(rr, T_STEP_RUNS, 0, "status"), "3");
	ck_assert_str_eq(cell(rr, T_STEP_RUNS, 0, "step_type"), "5");
	ck_assert_ptr_null(cell(rr, T_STEP_RUNS, 0, "step_id"));
	ck_assert_ptr_null(cell(rr, T_STEP_RULES, 0, "valid"));
	ck_assert_str_eq(cell(rr, T_STEP_RULES, 0, "valid_array"), "\"v\"");

	/* what did not fit a column is still in raw */
	ck_assert_ptr_nonnull(strstr(raw, "\"futureField\":{\"nested\":[1,2]}"));
	ck_assert_ptr_nonnull(strstr(raw, "\"reviewed\":\"yes\""));
	ck_assert_ptr_nonnull(strstr(raw, "\"reviewedAt\":\"not-a-date\""));
	ck_assert_ptr_nonnull(strstr(raw, "\"startTime\":\"2025-02-30T00:00:00Z\""));
	ck_assert_ptr_nonnull(strstr(raw, "\"credits\":\"abc\""));
	ck_assert_ptr_nonnull(strstr(raw, "\"pageCount\":\"12\""));
	ck_assert_ptr_nonnull(strstr(raw, "[\"x\",{"));
}
END_TEST

/* Wrongly typed containers: no child rows, no failure. */
START_TEST(test_lenient_containers)
{
	static const char body[] = RUN_OPEN "\"status\": \"PENDING\", \"files\": \"x\", \"outputs\": {\"a\": 1}, "
		"\"stepRuns\": 3, \"workflow\": [], \"usage\": [1]}}";
	struct run_rows *rr = norm_ok(body, strlen(body), "workflow_run_T1", true);

	for (int t = T_FILES; t < T_COUNT; t++)
		ck_assert_uint_eq(rr->t[t].nrows, 0);
	ck_assert_ptr_null(cell(rr, T_RUNS, 0, "workflow_id"));
	ck_assert_ptr_null(cell(rr, T_RUNS, 0, "credits"));
	ck_assert_ptr_null(cell(rr, T_RUNS, 0, "metadata"));
	ck_assert_ptr_null(cell(rr, T_RUNS, 0, "name"));
	ck_assert_ptr_nonnull(strstr(cell(rr, T_RUNS, 0, "raw"), "\"files\":\"x\""));
}
END_TEST

/* Valid RFC 3339 forms are kept as given; impossible dates and other shapes become NULL. */
START_TEST(test_timestamps)
{
	static const struct {
		const char *in;
		bool ok;
	} cases[] = {
		{ "2025-05-02T09:14:03Z", true },
		{ "2025-05-02T09:14:03.512Z", true },
		{ "2025-05-02t09:14:03z", true },
		{ "2025-05-02T09:14:03+02:00", true },
		{ "2025-05-02T09:14:03.1-07:30", true },
		{ "2024-02-29T00:00:00Z", true },
		{ "2000-02-29T00:00:00Z", true },
		{ "2025-02-29T00:00:00Z", false },
		{ "1900-02-29T00:00:00Z", false },
		{ "2025-02-30T00:00:00Z", false },
		{ "2025-04-31T00:00:00Z", false },
		{ "2025-00-10T00:00:00Z", false },
		{ "2025-05-02T24:00:00Z", false },
		{ "2025-05-02T09:60:00Z", false },
		{ "2025-05-02T09:14:03", false },
		{ "2025-05-02T09:14:03.Z", false },
		{ "2025-05-02T09:14:03Zjunk", false },
		{ "2025-05-02T09:14:03+2:00", false },
		{ "not-a-date", false },
		{ "", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char body[512];
		struct run_rows *rr;
		const char *got;

		snprintf(body, sizeof(body), RUN_OPEN "\"status\": \"PENDING\", \"startTime\": \"%s\"}}", cases[i].in);
		rr = norm_ok(body, strlen(body), "workflow_run_T1", true);
		got = cell(rr, T_RUNS, 0, "start_time");
		if (cases[i].ok)
			ck_assert_msg(got != NULL && strcmp(got, cases[i].in) == 0, "%s: got %s", cases[i].in, got);
		else
			ck_assert_msg(got == NULL, "%s: expected NULL, got %s", cases[i].in, got);
	}
}
END_TEST

/*
 * Numbers.  The fixtures' numbers are kept exactly as written (asserted
 * above: "25", "12.5", "1.0", "0.0", "3.0").  For other spellings the test
 * accepts any text PostgreSQL's numeric reads as the same value (so "-0"
 * may become "0"), because the column is numeric and the jsonb columns
 * compare numbers by value.
 */
START_TEST(test_numbers)
{
	static const char *const credits[] = {
		"1.0", "1.50", "0", "-0", "-0.0", "1e2", "1E+2", "2.5e-3", "12345678901234", "9007199254740993",
		"-9223372036854775808", "9223372036854775807", "0.1000000000000000055511151231257827",
	};

	for (size_t i = 0; i < sizeof(credits) / sizeof(credits[0]); i++) {
		char body[512], what[64], meta[128];
		struct run_rows *rr;

		snprintf(body, sizeof(body), RUN_OPEN "\"status\": \"PENDING\", \"usage\": {\"credits\": %s}, "
			 "\"metadata\": {\"n\": %s}}}", credits[i], credits[i]);
		rr = norm_ok(body, strlen(body), "workflow_run_T1", true);
		snprintf(what, sizeof(what), "credits %s", credits[i]);
		assert_numeric_eq(cell(rr, T_RUNS, 0, "credits"), credits[i], what);
		snprintf(meta, sizeof(meta), "%s", cell(rr, T_RUNS, 0, "metadata"));
		ck_assert_msg(strncmp(meta, "{\"n\":", 5) == 0 && meta[strlen(meta) - 1] == '}', "metadata %s", meta);
		meta[strlen(meta) - 1] = '\0';
		snprintf(what, sizeof(what), "metadata.n %s", credits[i]);
		assert_numeric_eq(meta + 5, credits[i], what);
	}
}
END_TEST

/* An integer too large for 64 bits keeps its value (credits, and any number inside metadata or raw). */
START_TEST(test_big_integers)
{
	static const char body[] = RUN_OPEN "\"status\": \"PENDING\", \"usage\": {\"credits\": 123456789012345678901234}, "
		"\"metadata\": {\"order\": 98765432109876543210987}}}";
	struct run_rows *rr = norm_ok(body, strlen(body), "workflow_run_T1", true);
	char meta[256];

	assert_numeric_eq(cell(rr, T_RUNS, 0, "credits"), "123456789012345678901234", "credits");
	snprintf(meta, sizeof(meta), "%s", cell(rr, T_RUNS, 0, "metadata"));
	ck_assert_msg(strncmp(meta, "{\"order\":", 9) == 0 && strlen(meta) > 10, "metadata %s", meta);
	meta[strlen(meta) - 1] = '\0';
	assert_numeric_eq(meta + 9, "98765432109876543210987", "metadata.order");
}
END_TEST

/* Long digit runs in a fraction or an exponent are not integers: left as they are, the number stays valid. */
START_TEST(test_long_fraction_and_exponent)
{
	static const char body[] = RUN_OPEN "\"status\": \"PENDING\", \"usage\": {\"credits\": 1.12345678901234567890}, "
		"\"metadata\": {\"a\": 1e12345678901234567890, \"b\": 2E-12345678901234567890, \"c\": -12345678901234567890}}}";
	struct run_rows *rr = norm_ok(body, strlen(body), "workflow_run_T1", true);

	assert_numeric_eq(cell(rr, T_RUNS, 0, "credits"), "1.12345678901234567890", "credits");
	ck_assert_ptr_nonnull(strstr(cell(rr, T_RUNS, 0, "metadata"), "\"a\":"));
	ck_assert_ptr_nonnull(strstr(cell(rr, T_RUNS, 0, "metadata"), "\"c\":-12345678901234567890"));
}
END_TEST

/*
 * A number a double cannot hold but PostgreSQL's numeric can (1e400 is
 * infinite as a double) stays in raw as written; its column is NULL.
 * Beyond what numeric holds, and json-c's NaN and Infinity, raw has null.
 */
START_TEST(test_numbers_beyond_double)
{
	static const char *const kept[] = { "1e400", "-1e400", "1.5E+1000", "1e-400", "5e-310" };

	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		char body[512], want[64];
		struct run_rows *rr;

		snprintf(body, sizeof(body), RUN_OPEN "\"status\": \"PENDING\", \"usage\": {\"credits\": %s}}}", kept[i]);
		rr = norm_ok(body, strlen(body), "workflow_run_T1", true);
		snprintf(want, sizeof(want), "\"credits\":%s}", kept[i]);
		ck_assert_msg(strstr(cell(rr, T_RUNS, 0, "raw"), want) != NULL, "%s: raw %s", kept[i],
			      cell(rr, T_RUNS, 0, "raw"));
	}
	{
		static const char body[] = RUN_OPEN "\"status\": \"PENDING\", \"usage\": {\"credits\": 1e400}, "
			"\"metadata\": {\"far\": 1e1001, \"nan\": NaN, \"inf\": -Infinity}}}";
		struct run_rows *rr = norm_ok(body, strlen(body), "workflow_run_T1", true);

		ck_assert_ptr_null(cell(rr, T_RUNS, 0, "credits"));
		ck_assert_str_eq(cell(rr, T_RUNS, 0, "metadata"), "{\"far\":null,\"nan\":null,\"inf\":null}");
	}
}
END_TEST

/* --- the fast parser: what it takes, it reads exactly as json-c does; the rest it leaves to json-c --- */

/*
 * Parse body both ways; true when the fast parser took it.  Both must agree
 * (the same answer, and the same document node for node when they take it).
 */
static bool
parse_both(const char *body, size_t len, const char *what)
{
	struct jtree fast = JTREE_INIT, slow = JTREE_INIT;
	json_object *fast_root = NULL, *slow_root = NULL;
	char err[NORMALIZE_ERR_SIZE];
	int a = normalize_parse(body, len, true, &fast, &fast_root, err, sizeof(err));
	int b = normalize_parse(body, len, false, &slow, &slow_root, err, sizeof(err));
	bool same = a == b && (a != 0 || jtree_same(&fast, &slow)), taken = a == 0 && fast_root == NULL;

	jtree_free(&fast);
	jtree_free(&slow);
	json_object_put(fast_root);
	json_object_put(slow_root);
	ck_assert_msg(same, "%s: the fast parser (%s, %d) and json-c (%d) disagree", what,
		      taken ? "taken" : "left to json-c", a, b);
	return taken;
}

static const char *const data_files[] = {
	"runs/cancelling.json", "runs/failed.json", "runs/legacy_extract.json", "runs/minimal.json",
	"runs/needs_review.json", "runs/nulls.json", "runs/processed_extract.json", "runs/rejected.json",
	"runs/seed_example.json", "runs/splitter.json", "runs/spreadsheet.json", "bulk/tricky.json",
	"edge/workflow_run_Edge000001.json", "errors/401_legacy.json", "errors/404_legacy.json", "errors/429.json",
	"errors/500.json", "list/page1.json", "list/page2.json",
};

/* Every body in tests/data, as served, compact and tab-indented: the runs and lists are the fast parser's. */
START_TEST(test_parse_data_files)
{
	static const int flags[] = { JSON_C_TO_STRING_PLAIN, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_PRETTY_TAB };
	const char *file = data_files[_i];
	size_t len;
	const char *body = read_data(file, &len);
	/* the edge run has NaN, Infinity and integers of 19 digits and more: json-c's */
	bool fast = strncmp(file, "edge/", 5) != 0;
	json_object *root;

	ck_assert_msg(parse_both(body, len, file) == fast, "%s: the fast parser %s it", file, fast ? "left" : "took");
	if (!fast)
		return;
	root = keep_json(json_tokener_parse(body));
	ck_assert_ptr_nonnull(root);
	for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
		const char *text = json_object_to_json_string_ext(root, flags[f]);

		ck_assert_msg(parse_both(text, strlen(text), file), "%s (flags %d) was left to json-c", file, flags[f]);
	}
}
END_TEST

/*
 * Bodies a byte away from valid ones (changed, left out, doubled, cut)
 * with bytes that matter to a parser: the two parsers agree on each.
 */
START_TEST(test_parse_mutations)
{
	static const char bytes[] = "\"\\{}[],:0123456789-+.eEtrufalsn \t\n\x01\x7f\x80\xbf\xc3\xed\xf4\xff/ux";
	static const char *const files[] = { "runs/seed_example.json", "bulk/tricky.json", "runs/processed_extract.json" };
	const char *file = files[_i];
	size_t len;
	const char *body = read_data(file, &len);
	char *copy = keep_mem(malloc(len + 2));
	unsigned long long seed = 0x9e3779b97f4a7c15ULL + (unsigned)_i;
	int taken = 0, left = 0;

	ck_assert_ptr_nonnull(copy);
	for (int k = 0; k < 3000; k++) {
		size_t at, n = len;
		char what[128];

		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		at = (size_t)(seed >> 33) % len;
		memcpy(copy, body, len);
		switch ((seed >> 20) % 4) {
		case 0:	/* a byte changed */
			copy[at] = bytes[(seed >> 8) % (sizeof(bytes) - 1)];
			break;
		case 1:	/* a byte left out */
			memmove(copy + at, copy + at + 1, len - at - 1);
			n--;
			break;
		case 2:	/* a byte doubled */
			memmove(copy + at + 1, copy + at, len - at);
			n++;
			break;
		default:	/* cut */
			n = at;
			break;
		}
		snprintf(what, sizeof(what), "%s, change %d (kind %d at byte %zu)", file, k, (int)((seed >> 20) % 4), at);
		if (parse_both(copy, n, what))
			taken++;
		else
			left++;
	}
	/* both ways are taken often: the test compares the parsers, not one with itself */
	ck_assert_int_gt(taken, 300);
	ck_assert_int_gt(left, 300);
}
END_TEST

/* What the fast parser leaves to json-c, which then has the last word (agreeing by construction). */
START_TEST(test_parse_left_to_json_c)
{
	static const char *const bodies[] = {
		"{\"a\":1,\"a\":2}",
		"{\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,\"k3\":10}",
		"{\"s\":\"\\ud800\"}", "{\"s\":\"\\udc00\"}", "{\"s\":\"\\ud800\\u0041\"}", "{\"s\":\"\\ud800x\"}",
		"{\"n\":NaN}", "{\"n\":Infinity}", "{\"n\":-Infinity}", "{\"n\":-01}", "{\"n\":00}", "{\"n\":01}",
		"{\"n\":1234567890123456789}", "{\"n\":-12345678901234567890}", "{\"n\":1.}", "{\"n\":.5}", "{\"n\":1e}",
		"{\"a\":[1,]}", "{\"a\":1,}", "{\"s\":\"a\tb\"}", "{\"s\":\"\\x\"}", "{\"s\":\"\xc3\"}", "{\"s\":\"\xed\xa0\x80\"}",
		"\xef\xbb\xbf{}", "{\"a\":1} x", "{\"a\":1}}", "{'a':1}", "{\"a\":tru}", "{\"a\":nul}", "[1 2]", "{\"a\" 1}",
		"{\"a\":1 /* c */}", "", " ", "{", "\"\\u12\"", "5", "\n5", "5 ", "\"s\"", "true", "null",
	};
	char deep[512];

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		struct jtree t = JTREE_INIT;

		ck_assert_msg(jtree_parse(&t, bodies[i], strlen(bodies[i])) == -EINVAL, "body %zu: taken", i);
		ck_assert_uint_eq(t.n, 0);
		jtree_free(&t);
		parse_both(bodies[i], strlen(bodies[i]), bodies[i]);
	}
	/* nesting: 101 levels are the fast parser's, more are json-c's (which refuses beyond 127) */
	for (int levels = 99; levels <= 130; levels++) {
		char what[32];

		memset(deep, '[', (size_t)levels);
		memset(deep + levels, ']', (size_t)levels);
		snprintf(what, sizeof(what), "%d levels", levels);
		ck_assert_msg(parse_both(deep, 2 * (size_t)levels, what) == (levels <= 101), "%s", what);
	}
}
END_TEST

/* json-c's answer for duplicate names stands: the first place, the last value. */
START_TEST(test_parse_duplicate_names)
{
	static const char body[] = RUN_OPEN "\"status\": \"PENDING\", \"metadata\": {\"a\": 1, \"b\": 2, \"a\": 3}}}";
	struct run_rows *rr = norm_ok(body, strlen(body), "workflow_run_T1", true);

	ck_assert_str_eq(cell(rr, T_RUNS, 0, "metadata"), "{\"a\":3,\"b\":2}");
}
END_TEST

/* Escapes are decoded by the fast parser itself, \u0000 left out, as json-c reads the prepared body. */
START_TEST(test_parse_strings)
{
	static const char body[] = "{\"a\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20AC\\ud83d\\ude00x\\u0000y\","
				   "\"k\\u0000ey\":1,\"\xc3\xa9\":\"\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80\",\"e\":\"\"}";
	static const char want[] = "\"\\/\b\f\n\r\t\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80xy";
	struct jtree t = JTREE_INIT;
	const struct jnode *a;

	ck_assert(parse_both(body, strlen(body), "escapes"));
	ck_assert_int_eq(jtree_parse(&t, body, strlen(body)), 0);
	a = jtree_member(jtree_root(&t), "a", 1);
	ck_assert_ptr_nonnull(a);
	ck_assert_uint_eq(a->len, strlen(want));
	ck_assert(memcmp(a->s, want, a->len) == 0);
	ck_assert_ptr_nonnull(jtree_member(jtree_root(&t), "key", 3));
	ck_assert_ptr_nonnull(jtree_member(jtree_root(&t), "\xc3\xa9", 2));
	jtree_free(&t);
}
END_TEST

START_TEST(test_parse_numbers)
{
	static const char body[] = "[0,-0,1.0,1.50,1e2,1E+2,-2.5e-3,123456789012345678,-123456789012345678,1e400,-1e400,"
				   "0.1000000000000000055511151231257827,5e-324,1e-400,true,false,null]";

	ck_assert(parse_both(body, strlen(body), "numbers"));
}
END_TEST

/* Names found through the hash of a many-membered object as through a scan of a small one. */
START_TEST(test_parse_many_members)
{
	char body[16384];
	size_t n = 0;
	struct jtree t = JTREE_INIT;

	n += (size_t)snprintf(body + n, sizeof(body) - n, "{");
	for (int i = 0; i < 500; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n, "%s\"field_%d\":%d", i ? "," : "", i, i);
	n += (size_t)snprintf(body + n, sizeof(body) - n, "}");
	ck_assert(parse_both(body, n, "500 members"));
	ck_assert_int_eq(jtree_parse(&t, body, n), 0);
	for (int i = 0; i < 500; i++) {
		char key[32];
		const struct jnode *v;

		snprintf(key, sizeof(key), "field_%d", i);
		v = jtree_member(jtree_root(&t), key, strlen(key));
		ck_assert_msg(v != NULL && v->type == JT_INT && v->v.i == i, "%s", key);
	}
	ck_assert_ptr_null(jtree_member(jtree_root(&t), "field_500", 9));
	ck_assert_ptr_null(jtree_member(jtree_root(&t), "field_1", 6));
	jtree_free(&t);
}
END_TEST

/*
 * The content hash of every run in tests/data, with and without file
 * contents, as the version before the fast parser made it (99ff260): a
 * change to what one body becomes must bump SNAPSHOT_VERSION, and then
 * these, or every stored snapshot would be written again for nothing.
 */
START_TEST(test_content_hash_pinned)
{
	static const struct {
		const char *file, *with, *without;
	} pinned[] = {
		{ "runs/cancelling.json", "8790cf701c5af95f1fcf7123c8998db863c38191d1914eae9478ae355e96cffd",
		  "a9b2305c429a890e7df496987bfb25de734e8d29c885214b540277183192bb97" },
		{ "runs/failed.json", "82f579b72c91e33ec28984d175e238f3492e333610c109b656cb0496fd10219f",
		  "04a5947cd8d4603dedcba6531f62e3eabc48e991661550ab1e9f4d708a89ebb6" },
		{ "runs/legacy_extract.json", "151ca0823969be5519016f2f10531b3aa07baacf928d2018e518952336c0414a",
		  "bb52c997fc8c08d57afc9074ffc2058f9c6d0d05d08d291acdb32bbdad900a12" },
		{ "runs/minimal.json", "bece93082e1b82156338cd40a482721de04b7da141f65576e0e416be277c52b5",
		  "7530078fc412cfdde1ec25919d60840e78632bdb7e6f1fc4d7677e90682eaa3a" },
		{ "runs/needs_review.json", "e8a9f62c48495a9a33b87dc8e518e7e91782cde4faadc537e7e823e834057eaa",
		  "5761a4127c6e385fcc0b2d517995fe2451b45f0d5b7fc64b7f2d0daaebe5bf5f" },
		{ "runs/nulls.json", "8a13347dc1e8eb6dee616df5b17b070560a656a463575d6305e76470264a20a1",
		  "8780f063a6c3b48a1f3d62711321a550c99c1c9f6c98b76d1cd06c2b70a63088" },
		{ "runs/processed_extract.json", "128f08912b933da22d29d19106a91b6d100b57b87c4f6e8f1db9ca027173d873",
		  "b7f01ab3b9fdf7cce5f9ea41397ec2f4ef5bcc588b7a820657dee033e56cbea8" },
		{ "runs/rejected.json", "84ebf66b0a8f1853bd6972be2b1b2312f78e5aedde5c4e95a75b9dabe221bf61",
		  "6e340d2282238b6c998b3a274c8ddb75f88919b9671f0d7838db9636a6cad6c3" },
		{ "runs/seed_example.json", "31f18ba07c23e26bece455c6b8cb5a3f69091f9645b8c42b4caa4ff5baa92830",
		  "960b7bf67221e08204a35c0fd229068fab3bde3769a53f4a41291c068ad2f934" },
		{ "runs/splitter.json", "95b39c5c2126f6c3a956a7ec640d3353a27270fd9478602fd652ff1786a3cce3",
		  "4321bd91553079b7106270b7b52edfa1d68c38537ecfbc8ca42a5e7d2688d048" },
		{ "runs/spreadsheet.json", "c80e2d94dcbca3358645fc8d16eba5c28f6e98b791b6cb9361532e380efcd25d",
		  "6d6a46cf6fe279abfc68f06328ebb08c6429be1c067965729faaf647c9e76105" },
		{ "bulk/tricky.json", "2f983879d5ab1046c7256cbf3d4e6519eea1f605172bef16a52d1a032baa91c6",
		  "78f2421dd6759d2ef39269240742638f9d4341e930c9668c58886b183ada9d55" },
		{ "edge/workflow_run_Edge000001.json", "424a749f25ed6d5e4066b19960666a8db6ae090d4455c0e8bc4d3f52985ac0d8",
		  "6733b8c0dee2a3e10c6ccf8f109001b370d5b92d49bff4dd92ad8ecbbafa2750" },
	};

	for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
		size_t len;
		const char *body = read_data(pinned[i].file, &len);
		const char *q = strstr(body, "\"workflow_run_"), *end;
		char id[64];

		ck_assert_ptr_nonnull(q);
		end = strchr(q + 1, '"');
		ck_assert_ptr_nonnull(end);
		snprintf(id, sizeof(id), "%.*s", (int)(end - q - 1), q + 1);
		ck_assert_str_eq(cell(norm_ok(body, len, id, true), T_RUNS, 0, "content_hash"), pinned[i].with);
		ck_assert_str_eq(cell(norm_ok(body, len, id, false), T_RUNS, 0, "content_hash"), pinned[i].without);
	}
}
END_TEST

/* FNV-1a, the hash of jtree.c's member names. */
static uint32_t
fnv1a(const char *s)
{
	uint32_t h = 2166136261u;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 16777619u;
	return h;
}

/* Names chosen to collide in the hash are left to json-c (else each lookup would walk them all). */
START_TEST(test_parse_colliding_names)
{
	char body[8192], key[32];
	size_t n = 0;
	int found = 0;
	struct jtree t = JTREE_INIT;

	/* 100 members: 256 slots, of which these 100 names all want the same one */
	n += (size_t)snprintf(body + n, sizeof(body) - n, "{");
	for (int k = 0; found < 100; k++) {
		snprintf(key, sizeof(key), "k%d", k);
		if ((fnv1a(key) & 255) != 7)
			continue;
		n += (size_t)snprintf(body + n, sizeof(body) - n, "%s\"%s\":%d", found ? "," : "", key, k);
		found++;
	}
	n += (size_t)snprintf(body + n, sizeof(body) - n, "}");
	ck_assert_uint_lt(n, sizeof(body) - 1);
	ck_assert_int_eq(jtree_parse(&t, body, n), -EINVAL);
	jtree_free(&t);
	ck_assert(!parse_both(body, n, "colliding names"));
}
END_TEST

/* text_json_run() ends at the first byte that is not a string's own, wherever it is among eight. */
START_TEST(test_json_run)
{
	static const unsigned char specials[] = { '"', '\\', 0x00, 0x1f, 0x01, 0x80, 0xc3, 0xff };
	unsigned char buf[40];

	for (size_t k = 0; k < sizeof(specials); k++) {
		unsigned char c = specials[k];
		bool control = c < 0x20, high = c >= 0x80;

		for (size_t at = 0; at < 24; at++) {
			memset(buf, 'a', sizeof(buf));
			buf[at] = c;
			/* a second one further on, and bytes that are none of them but near them */
			buf[at + 5] = c;
			if (at > 0)
				buf[at - 1] = control ? 0x20 : 0x7f;
			for (size_t from = 0; from <= at; from++) {
				ck_assert_uint_eq(text_json_run(buf, from, sizeof(buf), control, high), at);
				ck_assert_uint_eq(text_json_run(buf, from, at, control, high), at);
			}
			/* a test not asked for passes the byte by */
			if (control || high)
				ck_assert_uint_gt(text_json_run(buf, 0, sizeof(buf), !control, !high), at);
		}
	}
}
END_TEST

/* jtree_equal() answers as json_object_equal() (the initial_value column depends on it). */
START_TEST(test_jtree_equal)
{
	static const char *const pairs[] = {
		"[{\"a\":1,\"b\":[1,2]},{\"b\":[1,2],\"a\":1}]", "[1,1.0]", "[null,null]", "[{\"a\":null},{\"b\":null}]",
		"[{\"a\":1},{\"a\":1,\"b\":2}]", "[\"x\",\"x\"]", "[\"x\",\"y\"]", "[1.5,1.50]", "[{},[]]", "[true,1]",
		"[[1,2],[1,2,3]]", "[[],[]]", "[{},{}]", "[0,-0]", "[0.0,-0.0]", "[\"\",null]", "[false,false]",
		"[{\"a\":{\"b\":[null]}},{\"a\":{\"b\":[null]}}]",
	};

	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		json_object *root = keep_json(json_tokener_parse(pairs[i]));
		struct jtree t = JTREE_INIT;
		const struct jnode *a, *b;
		bool want, got;

		ck_assert_ptr_nonnull(root);
		want = json_object_equal(json_object_array_get_idx(root, 0), json_object_array_get_idx(root, 1));
		ck_assert_int_eq(jtree_parse(&t, pairs[i], strlen(pairs[i])), 0);
		a = jtree_root(&t) + 1;
		b = a + a->size;
		got = jtree_equal(a, b);
		jtree_free(&t);
		ck_assert_msg(got == want, "%s: jtree_equal %d, json_object_equal %d", pairs[i], got, want);
	}
}
END_TEST

/* --- error bodies --- */

START_TEST(test_error_message)
{
	static const struct {
		const char *file;
		const char *msg;
	} cases[] = {
		{ "errors/401_legacy.json", "Invalid API key" },
		{ "errors/404_legacy.json", "Workflow run not found" },
		{ "errors/429.json", "RATE_LIMIT_EXCEEDED: Too many requests. Back off and retry." },
		{ "errors/500.json", "INTERNAL_ERROR: Something went wrong." },
	};
	char out[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len;
		const char *body = read_data(cases[i].file, &len);

		memset(out, 'x', sizeof(out));
		ck_assert_int_eq(normalize_error_message(body, len, out, sizeof(out)), 0);
		ck_assert_str_eq(out, cases[i].msg);
	}
}
END_TEST

START_TEST(test_error_message_odd)
{
	static const char html[] = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n"
		"<body><center><h1>502 Bad Gateway</h1></center></body>\r\n</html>\r\n";
	static const char multi[] = "{\"code\": \"X\", \"message\": \"line one\\nline two\\ttab\"}";
	static const char code_only[] = "{\"code\": \"RATE_LIMIT_EXCEEDED\"}";
	char out[256], small[8];
	size_t len;
	const char *seed = read_data("runs/seed_example.json", &len);

	ck_assert_int_eq(normalize_error_message(html, strlen(html), out, sizeof(out)), -1);
	ck_assert_int_eq(normalize_error_message("", 0, out, sizeof(out)), -1);
	ck_assert_int_eq(normalize_error_message("\"Not found\"", 11, out, sizeof(out)), -1);
	ck_assert_int_eq(normalize_error_message("{\"success\": false}", 18, out, sizeof(out)), -1);
	ck_assert_int_eq(normalize_error_message("{\"error\": 404}", 14, out, sizeof(out)), -1);
	ck_assert_int_eq(normalize_error_message(seed, len, out, sizeof(out)), -1);

	ck_assert_int_eq(normalize_error_message(multi, strlen(multi), out, sizeof(out)), 0);
	ck_assert_str_eq(out, "X: line one line two tab");
	ck_assert_int_eq(normalize_error_message(code_only, strlen(code_only), out, sizeof(out)), 0);
	ck_assert_str_eq(out, "RATE_LIMIT_EXCEEDED");
	ck_assert_int_eq(normalize_error_message(code_only, strlen(code_only), small, sizeof(small)), 0);
	ck_assert_str_eq(small, "RATE_LI");
}
END_TEST

/* --- processor outputs as rows (the values below are read off the fixture files) --- */

/* The row of extracted_fields with this path, or -1. */
static long
field_row_of(const struct run_rows *rr, const char *path)
{
	for (size_t r = 0; r < rr->t[T_FIELDS].nrows; r++) {
		if (strcmp(cell(rr, T_FIELDS, r, "path"), path) == 0)
			return (long)r;
	}
	return -1;
}

static const char *
field(const struct run_rows *rr, const char *path, const char *col)
{
	long r = field_row_of(rr, path);

	ck_assert_msg(r >= 0, "no extracted field \"%s\"", path);
	return cell(rr, T_FIELDS, (size_t)r, col);
}

/* Assert the cell col of the field at path: want NULL for SQL NULL. */
static void
field_is(const struct run_rows *rr, const char *path, const char *col, const char *want)
{
	const char *got = field(rr, path, col);

	if (want == NULL)
		ck_assert_msg(got == NULL, "%s.%s: expected NULL, got \"%s\"", path, col, got);
	else
		ck_assert_msg(got != NULL && strcmp(got, want) == 0, "%s.%s: expected \"%s\", got \"%s\"", path,
			      col, want, got != NULL ? got : "(NULL)");
}

#define field_is(rr, path, col, want) field_is(rr, path, col, want)

START_TEST(test_extracted_fields_current)
{
	struct run_rows *rr = norm_fixture("processed_extract.json", true);
	static const char *const paths[] = {
		"invoice_number", "invoice_date", "vendor.name", "vendor.vat_id", "total.amount", "total.currency",
		"paid", "line_items[0].description", "line_items[0].quantity", "line_items[0].amount",
		"line_items[1].description", "line_items[1].quantity", "line_items[1].amount",
		"line_items[2].description", "line_items[2].quantity", "line_items[2].amount", "notes",
	};

	ck_assert_uint_eq(rr->t[T_FIELDS].nrows, NEXP(paths));
	for (size_t i = 0; i < NEXP(paths); i++) {
		ck_assert_str_eq(cell(rr, T_FIELDS, i, "path"), paths[i]);
		ck_assert_str_eq(cell(rr, T_FIELDS, i, "processor_ordinal"), "1");
		ck_assert_str_eq(cell(rr, T_FIELDS, i, "processor_run_id"), "dpr_Ext0001aaaa");
		ck_assert_str_eq(cell(rr, T_FIELDS, i, "processor_name"), "Invoice Extractor");
	}
	/* metadata of the path itself */
	field_is(rr, "total.amount", "value_number", "1234.5");
	field_is(rr, "total.amount", "value_text", "1234.5");
	field_is(rr, "total.amount", "ocr_confidence", "0.91");
	field_is(rr, "total.amount", "logprobs_confidence", "0.88");
	field_is(rr, "total.amount", "review_agent_score", "4");
	field_is(rr, "total.amount", "citation_pages", "{2}");
	field_is(rr, "invoice_number", "ocr_confidence", "0.99");
	field_is(rr, "invoice_number", "citation_pages", "{1}");
	field_is(rr, "invoice_number", "value_number", NULL);
	/* inherited from the nearest ancestor that has metadata */
	field_is(rr, "line_items[2].description", "value_text", "Ladder, 3 m");
	field_is(rr, "line_items[2].description", "value", "\"Ladder, 3 m\"");
	field_is(rr, "line_items[2].description", "ocr_confidence", NULL);
	field_is(rr, "line_items[2].description", "logprobs_confidence", "0.8");
	/* no metadata anywhere up the path */
	field_is(rr, "vendor.name", "ocr_confidence", NULL);
	field_is(rr, "vendor.name", "citation_pages", NULL);
	/* a reviewer's edit, and the value before review where it differs */
	field_is(rr, "paid", "value_text", "true");
	field_is(rr, "paid", "edited", "true");
	field_is(rr, "paid", "initial_value", "false");
	field_is(rr, "total.amount", "edited", "false");
	field_is(rr, "total.amount", "initial_value", NULL);
	/* JSON null is a row with a null text */
	field_is(rr, "notes", "value", "null");
	field_is(rr, "notes", "value_text", NULL);
	field_is(rr, "notes", "value_number", NULL);
}
END_TEST

START_TEST(test_extracted_fields_legacy)
{
	struct run_rows *rr = norm_fixture("legacy_extract.json", true);

	ck_assert_uint_eq(rr->t[T_FIELDS].nrows, 6);
	field_is(rr, "invoice_number", "value_text", "77-1");
	field_is(rr, "invoice_number", "ocr_confidence", "0.93");
	field_is(rr, "invoice_number", "citation_pages", "{1}");
	/* object values such as currency are unnested into leaves */
	field_is(rr, "amount_due.amount", "value_number", "88.1");
	field_is(rr, "amount_due.amount", "ocr_confidence", "0.81");
	field_is(rr, "amount_due.iso_4217_currency_code", "value_text", "USD");
	field_is(rr, "signed.is_signed", "value_text", "true");
	field_is(rr, "signed.printed_name", "value_text", "J. Doe");
	field_is(rr, "signed.printed_name", "ocr_confidence", NULL);
	field_is(rr, "due_date", "value_text", NULL);
	field_is(rr, "due_date", "ocr_confidence", "0.2");
	field_is(rr, "due_date", "edited", "false");
	field_is(rr, "due_date", "initial_value", NULL);
	/* the legacy form has no logprobs or review score */
	field_is(rr, "invoice_number", "logprobs_confidence", NULL);
	field_is(rr, "invoice_number", "review_agent_score", NULL);
}
END_TEST

/* Every column of the extracted fields of needs_review.json and splitter.json. */
START_TEST(test_extracted_fields_all_columns)
{
	struct run_rows *rr = norm_fixture("needs_review.json", true);
	const struct cell_exp rev[] = {
		C_TEXT("run_id", "workflow_run_Rev0001aaaa"), C_TEXT("processor_ordinal", "0"), C_TEXT("ordinal", "0"),
		C_TEXT("processor_run_id", "dpr_Rev0001aaaa"), C_TEXT("processor_name", "Invoice Extractor"),
		C_TEXT("path", "total"), C_TEXT("value", "null"), C_NULL("value_text"), C_NULL("value_number"),
		C_TEXT("ocr_confidence", "0.31"), C_TEXT("logprobs_confidence", "0.4"), C_NULL("review_agent_score"),
		C_NULL("citation_pages"), C_TEXT("edited", "false"), C_NULL("initial_value"), C_NULL("value_date"),
		C_NULL("value_boolean"),
	};
	const struct cell_exp spl[] = {
		C_TEXT("run_id", "workflow_run_Spl0001aaaa"), C_TEXT("processor_ordinal", "2"), C_TEXT("ordinal", "0"),
		C_TEXT("processor_run_id", "dpr_SplExt1aaaa"), C_TEXT("processor_name", "Invoice Extractor"),
		C_TEXT("path", "total"), C_TEXT("value", "20.0"), C_TEXT("value_text", "20.0"),
		C_TEXT("value_number", "20.0"), C_TEXT("ocr_confidence", "0.9"), C_TEXT("logprobs_confidence", "0.9"),
		C_NULL("review_agent_score"), C_NULL("citation_pages"), C_TEXT("edited", "false"),
		C_NULL("initial_value"), C_NULL("value_date"), C_NULL("value_boolean"),
	};

	expect_all_cells(rr, T_FIELDS, 0, rev, NEXP(rev));
	rr = norm_fixture("splitter.json", true);
	ck_assert_uint_eq(rr->t[T_FIELDS].nrows, 2);
	ck_assert_str_eq(cell(rr, T_FIELDS, 0, "processor_ordinal"), "1");
	ck_assert_str_eq(cell(rr, T_FIELDS, 0, "value_number"), "10.0");
	expect_all_cells(rr, T_FIELDS, 1, spl, NEXP(spl));
}
END_TEST

/* value_date only for a real ISO date YYYY-MM-DD, value_boolean only for a JSON boolean. */
START_TEST(test_extracted_fields_dates_booleans)
{
	static const char body[] = "{\"success\": true, \"workflowRun\": {\"id\": \"workflow_run_D1\", "
		"\"status\": \"PROCESSED\", \"outputs\": [{\"id\": \"dpr_D1\", \"type\": \"EXTRACT\", "
		"\"output\": {\"value\": {\"d\": \"2025-02-28\", \"leap\": \"2024-02-29\", \"y2000\": \"2000-02-29\", "
		"\"feb31\": \"2025-02-31\", \"not_leap\": \"2023-02-29\", \"y1900\": \"1900-02-29\", "
		"\"apr31\": \"2025-04-31\", \"month13\": \"2025-13-01\", \"day0\": \"2025-01-00\", "
		"\"year0\": \"0000-01-01\", \"short\": \"2025-2-3\", \"time\": \"2025-02-03T10:00:00Z\", "
		"\"slashes\": \"31/02/2025\", \"sign\": \"+025-02-03\", \"num\": 20250203, "
		"\"t\": true, \"f\": false, \"text_true\": \"true\", \"nothing\": null, "
		"\"list\": [\"2025-12-31\", false]}, \"metadata\": {}}}]}}";
	struct run_rows *rr = norm_ok(body, strlen(body), "workflow_run_D1", true);
	static const char *const no_date[] = { "feb31", "not_leap", "y1900", "apr31", "month13", "day0", "year0",
		"short", "time", "slashes", "sign", "num", "t", "f", "text_true", "nothing" };

	field_is(rr, "d", "value_date", "2025-02-28");
	field_is(rr, "leap", "value_date", "2024-02-29");
	field_is(rr, "y2000", "value_date", "2000-02-29");
	field_is(rr, "list[0]", "value_date", "2025-12-31");
	for (size_t i = 0; i < NEXP(no_date); i++)
		field_is(rr, no_date[i], "value_date", NULL);
	field_is(rr, "feb31", "value_text", "2025-02-31");
	field_is(rr, "t", "value_boolean", "true");
	field_is(rr, "f", "value_boolean", "false");
	field_is(rr, "list[1]", "value_boolean", "false");
	field_is(rr, "text_true", "value_boolean", NULL);
	field_is(rr, "d", "value_boolean", NULL);
	field_is(rr, "nothing", "value_boolean", NULL);
	field_is(rr, "num", "value_boolean", NULL);
}
END_TEST

START_TEST(test_classifications_and_splits)
{
	struct run_rows *rr = norm_fixture("processed_extract.json", true);
	const struct cell_exp cls[] = {
		C_TEXT("run_id", "workflow_run_Proc0001aaaa"),
		C_TEXT("processor_ordinal", "0"),
		C_TEXT("processor_run_id", "dpr_Cls0001aaaa"),
		C_TEXT("classification_id", "invoice"),
		C_TEXT("classification_type", "invoice"),
		C_TEXT("confidence", "0.96"),
	};
	const struct cell_exp split1[] = {
		C_TEXT("run_id", "workflow_run_Spl0001aaaa"),
		C_TEXT("processor_ordinal", "0"),
		C_TEXT("ordinal", "1"),
		C_TEXT("split_id", "split_1"),
		C_TEXT("type", "receipt"),
		C_TEXT("identifier", "receipt_1"),
		C_TEXT("name", "receipt 1"),
		C_TEXT("observation", "receipt on pages 3-6"),
		C_TEXT("start_page", "3"),
		C_TEXT("end_page", "6"),
		C_TEXT("classification_id", "receipt"),
		C_TEXT("file_id", "file_PktSub1aaaa"),
	};

	expect_all_cells(rr, T_CLASSIFICATIONS, 0, cls, NEXP(cls));
	ck_assert_uint_eq(rr->t[T_SPLITS].nrows, 0);
	rr = norm_fixture("splitter.json", true);
	ck_assert_uint_eq(rr->t[T_SPLITS].nrows, 2);
	expect_all_cells(rr, T_SPLITS, 1, split1, NEXP(split1));
	ck_assert_str_eq(cell(rr, T_SPLITS, 0, "split_id"), "split_0");
	ck_assert_uint_eq(rr->t[T_CLASSIFICATIONS].nrows, 0);
	/* a CLASSIFY run without a result yet (output {}) gives no row */
	rr = norm_fixture("seed_example.json", true);
	ck_assert_uint_eq(rr->t[T_CLASSIFICATIONS].nrows, 0);
}
END_TEST

/* --- the table definitions and accessors --- */

/* A copy of s with every "from" replaced by "to"; freed by the teardown. */
static char *
replace_all(const char *s, const char *from, const char *to)
{
	size_t n = 0, fl = strlen(from), tl = strlen(to);
	char *out, *o;

	for (const char *p = strstr(s, from); p != NULL; p = strstr(p + fl, from))
		n++;
	out = keep_mem(malloc(strlen(s) + n * tl + 1));
	ck_assert_ptr_nonnull(out);
	o = out;
	for (const char *p = s;;) {
		const char *q = strstr(p, from);

		if (q == NULL) {
			strcpy(o, p);
			break;
		}
		memcpy(o, p, (size_t)(q - p));
		o += q - p;
		memcpy(o, to, tl);
		o += tl;
		p = q + fl;
	}
	return out;
}

/* The content hash: blind to presigned URLs (new on every fetch), sensitive to anything stored. */
START_TEST(test_content_hash)
{
	const struct fixture *fx = fixture_named("seed_example.json");
	size_t len;
	const char *body = read_data("runs/seed_example.json", &len);
	const char *moved = replace_all(body, "dummy.pdf", "dummy.pdf?X-Amz-Signature=other");
	const char *renamed = replace_all(body, "myFirstFile.pdf", "mySecondFile.pdf");
	const char *h = cell(norm_ok(body, len, fx->id, true), T_RUNS, 0, "content_hash");
	const char *h_again = cell(norm_ok(body, len, fx->id, true), T_RUNS, 0, "content_hash");
	const char *h_moved = cell(norm_ok(moved, strlen(moved), fx->id, true), T_RUNS, 0, "content_hash");
	const char *h_renamed = cell(norm_ok(renamed, strlen(renamed), fx->id, true), T_RUNS, 0, "content_hash");
	const char *h_nocontents = cell(norm_ok(body, len, fx->id, false), T_RUNS, 0, "content_hash");

	ck_assert_uint_eq(strlen(h), 64);
	ck_assert_uint_eq(strspn(h, "0123456789abcdef"), 64);
	ck_assert_str_eq(h, h_again);
	ck_assert_ptr_nonnull(strstr(moved, "X-Amz-Signature=other"));
	ck_assert_str_eq(h, h_moved);
	ck_assert_str_ne(h, h_renamed);
	ck_assert_str_ne(h, h_nocontents);
	{
		/* files not tagged "object": "file" keep contents in raw, yet their rows follow the setting */
		const char *untagged = replace_all(body, "\"object\": \"file\"", "\"object\": \"upload\"");

		ck_assert_ptr_null(strstr(untagged, "\"object\": \"file\""));
		ck_assert_str_ne(cell(norm_ok(untagged, strlen(untagged), fx->id, true), T_RUNS, 0, "content_hash"),
				 cell(norm_ok(untagged, strlen(untagged), fx->id, false), T_RUNS, 0, "content_hash"));
	}
}
END_TEST

/* FIPS 180-4 test vectors, and one that crosses the padding boundary. */
START_TEST(test_sha256)
{
	static const struct {
		const char *in;
		const char *hex;
	} v[] = {
		{ "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
		{ "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
	};
	struct sha256 c;
	char hex[65];

	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		sha256_init(&c);
		sha256_update(&c, v[i].in, strlen(v[i].in));
		sha256_hex(&c, hex);
		ck_assert_str_eq(hex, v[i].hex);
	}
	/* a million "a", fed in uneven pieces */
	sha256_init(&c);
	for (int i = 0; i < 1000000; i += 7)
		sha256_update(&c, "aaaaaaa", i + 7 <= 1000000 ? 7 : (size_t)(1000000 - i));
	sha256_hex(&c, hex);
	ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	/* the same in one piece (whole blocks straight from the caller), and in pieces of 1000 after 3 */
	{
		static char a[1000000];

		memset(a, 'a', sizeof(a));
		sha256_init(&c);
		sha256_update(&c, a, sizeof(a));
		sha256_hex(&c, hex);
		ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
		sha256_init(&c);
		sha256_update(&c, a, 3);
		for (size_t i = 3; i < sizeof(a); i += 1000)
			sha256_update(&c, a + i, i + 1000 <= sizeof(a) ? 1000 : sizeof(a) - i);
		sha256_hex(&c, hex);
		ck_assert_str_eq(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	}
}
END_TEST


START_TEST(test_tables)
{
	static const char *const names[T_COUNT] = {
		"workflow_runs", "workflow_run_files", "workflow_run_file_pages", "workflow_run_file_sheets",
		"processor_runs", "processor_run_files", "processor_run_merged_processors", "step_runs",
		"step_run_rules", "extracted_fields", "classifications", "splits",
	};
	struct run_rows *rr = norm_fixture("minimal.json", true);

	for (int t = 0; t < T_COUNT; t++) {
		ck_assert_str_eq(normalize_tables[t].name, names[t]);
		ck_assert_int_eq(normalize_col(t, "no_such_column"), -1);
		for (int c = 0; c < normalize_tables[t].ncols; c++)
			ck_assert_int_eq(normalize_col(t, normalize_tables[t].cols[c]), c);
	}
	ck_assert_int_eq(normalize_tables[T_RUNS].ncols, 21);
	ck_assert_ptr_null(normalize_cell(rr, T_RUNS, 1, 0));
	ck_assert_ptr_null(normalize_cell(rr, T_RUNS, 0, -1));
	ck_assert_ptr_null(normalize_cell(rr, T_RUNS, 0, normalize_tables[T_RUNS].ncols));
	ck_assert_ptr_null(normalize_cell(rr, T_FILES, 0, 0));
	normalize_free(NULL);
}
END_TEST

static Suite *
normalize_suite(void)
{
	Suite *s = suite_create("normalize");
	TCase *tc;

	tc = tcase_create("fixtures");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_loop_test(tc, test_fixture_id_status_counts, 0, NFIXTURES);
	tcase_add_loop_test(tc, test_fixture_counts_without_contents, 0, NFIXTURES);
	tcase_add_test(tc, test_fixture_dir_covered);
	tcase_add_loop_test(tc, test_fixture_other_id_refused, 0, NFIXTURES);
	tcase_add_loop_test(tc, test_fixture_no_presigned_url, 0, 2 * NFIXTURES);
	tcase_add_loop_test(tc, test_fixture_without_contents, 0, NFIXTURES);
	tcase_add_loop_test(tc, test_fixture_keys, 0, NFIXTURES);
	tcase_add_loop_test(tc, test_white_space, 0, NFIXTURES);
	suite_add_tcase(s, tc);

	tc = tcase_create("cells");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_seed_every_column);
	tcase_add_test(tc, test_processed_extract);
	tcase_add_test(tc, test_splitter);
	tcase_add_test(tc, test_failed);
	tcase_add_test(tc, test_nulls);
	tcase_add_test(tc, test_minimal);
	tcase_add_test(tc, test_spreadsheet);
	tcase_add_test(tc, test_review_states);
	tcase_add_test(tc, test_legacy_extract);
	tcase_add_test(tc, test_tables);
	tcase_add_test(tc, test_content_hash);
	tcase_add_test(tc, test_sha256);
	tcase_add_test(tc, test_extracted_fields_current);
	tcase_add_test(tc, test_extracted_fields_legacy);
	tcase_add_test(tc, test_extracted_fields_all_columns);
	tcase_add_test(tc, test_extracted_fields_dates_booleans);
	tcase_add_test(tc, test_classifications_and_splits);
	suite_add_tcase(s, tc);

	tc = tcase_create("refused");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_loop_test(tc, test_bad_body, 0, (int)(sizeof(bad_bodies) / sizeof(bad_bodies[0])));
	tcase_add_test(tc, test_truncated_bodies);
	tcase_add_test(tc, test_truncated_half);
	tcase_add_test(tc, test_err_quotes_no_body);
	tcase_add_test(tc, test_unterminated_body);
	tcase_add_test(tc, test_white_space_error_place);
	tcase_add_test(tc, test_error_message);
	tcase_add_test(tc, test_error_message_odd);
	suite_add_tcase(s, tc);

	tc = tcase_create("lenient");
	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, test_nul_characters);
	tcase_add_test(tc, test_nul_in_keys);
	tcase_add_test(tc, test_lenient_types);
	tcase_add_test(tc, test_lenient_containers);
	tcase_add_test(tc, test_timestamps);
	tcase_add_test(tc, test_numbers);
	tcase_add_test(tc, test_big_integers);
	tcase_add_test(tc, test_numbers_beyond_double);
	tcase_add_test(tc, test_long_fraction_and_exponent);
	suite_add_tcase(s, tc);

	tc = tcase_create("parser");
	tcase_add_checked_fixture(tc, NULL, teardown);
	/*
	 * Whole bodies parsed both ways thousands of times: 2.8 s for one
	 * body's 3,000 mutations under ASan here, over Check's 4 s default
	 * on a loaded machine.  That default is for a hang; this is work.
	 */
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_parse_data_files, 0, (int)(sizeof(data_files) / sizeof(data_files[0])));
	tcase_add_loop_test(tc, test_parse_mutations, 0, 3);
	tcase_add_test(tc, test_parse_left_to_json_c);
	tcase_add_test(tc, test_parse_duplicate_names);
	tcase_add_test(tc, test_parse_strings);
	tcase_add_test(tc, test_parse_numbers);
	tcase_add_test(tc, test_parse_many_members);
	tcase_add_test(tc, test_jtree_equal);
	tcase_add_test(tc, test_json_run);
	tcase_add_test(tc, test_content_hash_pinned);
	tcase_add_test(tc, test_parse_colliding_names);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(normalize_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
