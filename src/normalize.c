/* Turns one API response body into the rows of every table: pure, no I/O, no logging, no globals. */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "buf.h"
#include "normalize.h"
#include "sha256.h"
#include "text.h"

#define COLS(...) (sizeof((const char *const[]){ __VA_ARGS__ }) / sizeof(const char *)), \
	(const char *const[]){ __VA_ARGS__ }

const struct table_def normalize_tables[T_COUNT] = {
	[T_RUNS] = { "workflow_runs", COLS("id", "name", "url", "status", "workflow_id",
		"workflow_version", "workflow_name", "batch_id", "reviewed", "reviewed_by", "reviewed_at",
		"rejection_note", "failure_reason", "failure_message", "initial_run_at", "start_time",
		"end_time", "credits", "metadata", "raw", "content_hash") },
	[T_FILES] = { "workflow_run_files", COLS("run_id", "ordinal", "file_id", "name", "type",
		"parent_file_id", "page_count", "parent_split_id", "parent_split_type",
		"parent_split_identifier", "parent_split_start_page", "parent_split_end_page",
		"created_at", "updated_at", "credits", "raw_text", "markdown", "metadata") },
	[T_FILE_PAGES] = { "workflow_run_file_pages", COLS("run_id", "file_ordinal", "ordinal",
		"page_number", "page_height", "page_width", "raw_text", "markdown", "html") },
	[T_FILE_SHEETS] = { "workflow_run_file_sheets", COLS("run_id", "file_ordinal", "ordinal",
		"sheet_name", "raw_text") },
	[T_PROCESSOR_RUNS] = { "processor_runs", COLS("run_id", "ordinal", "id", "processor_id",
		"processor_version_id", "processor_name", "status", "type", "reviewed", "edited", "url",
		"failure_reason", "failure_message", "credits", "output", "initial_output",
		"reviewed_output", "edits", "config", "metadata") },
	[T_PROCESSOR_FILES] = { "processor_run_files", COLS("run_id", "processor_ordinal", "ordinal",
		"file_id", "name", "type", "parent_file_id", "page_count") },
	[T_MERGED] = { "processor_run_merged_processors", COLS("run_id", "processor_ordinal", "ordinal",
		"processor_id", "processor_version_id", "processor_name") },
	[T_STEP_RUNS] = { "step_runs", COLS("run_id", "ordinal", "id", "status", "step_id", "step_name",
		"step_type", "output") },
	[T_STEP_RULES] = { "step_run_rules", COLS("run_id", "step_ordinal", "ordinal", "name", "valid",
		"valid_array", "failure_reason", "error") },
	[T_FIELDS] = { "extracted_fields", COLS("run_id", "processor_ordinal", "ordinal", "processor_run_id",
		"processor_name", "path", "value", "value_text", "value_number", "ocr_confidence",
		"logprobs_confidence", "review_agent_score", "citation_pages", "edited", "initial_value") },
	[T_CLASSIFICATIONS] = { "classifications", COLS("run_id", "processor_ordinal", "processor_run_id",
		"classification_id", "classification_type", "confidence") },
	[T_SPLITS] = { "splits", COLS("run_id", "processor_ordinal", "ordinal", "split_id", "type", "identifier",
		"name", "observation", "start_page", "end_page", "classification_id", "file_id") },
};

/* Nesting the parser accepts: customers' extraction schemas can be deep. */
#define MAX_DEPTH 128

/* State of one normalization: the rows being built and the first error. */
/*
 * Where the run's raw JSON holds the objects and arrays near its top (the
 * run's metadata, every outputs[].output, initialOutput, config, ...).
 * They are columns too, and their JSON is the same text wherever it is
 * written: v_json() copies it from raw instead of writing it again.
 */
#define SPAN_DEPTH 3
#define SPAN_MAX 256

struct spans {
	size_t n;
	struct {
		const json_object *o;
		size_t off, len;
	} s[SPAN_MAX];
};

struct norm {
	struct run_rows *rr;
	const char *run_id;	/* the run's own ID, first column of every child row */
	bool file_contents;
	int err;		/* first failure (-ENOMEM); later calls become no-ops */
	const char *raw;	/* the run's raw JSON, once written, with spans into it */
	struct spans spans;
	struct buf scratch;	/* where JSON is written before it becomes a cell */
};

/*
 * The cells of a run live in a few large blocks, freed together: a run has
 * hundreds of cells, and a malloc() and a free() for each cost more than
 * writing them.  A cell larger than a quarter block gets a block of its own.
 */
#define BLOCK_SIZE 16384

struct cell_block {
	struct cell_block *next;
	size_t used, cap;
	char data[];
};

/* A row being filled left to right, one put per column in the table's order. */
struct row {
	struct norm *n;
	char **cell;
	int ncols;
	int i;
};

/* --- JSON access: absent, null and wrongly typed values all read as "nothing" --- */

static json_object *
get(json_object *o, const char *key)
{
	json_object *v;

	if (o == NULL || !json_object_is_type(o, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;		/* NULL for JSON null */
}

static json_object *
get_type(json_object *o, const char *key, json_type type)
{
	json_object *v = get(o, key);

	return v != NULL && json_object_is_type(v, type) ? v : NULL;
}

/* --- JSON writing, with presigned URLs and NUL characters left out --- */

static int write_json(struct buf *b, json_object *o, bool file_contents, struct spans *sp, int depth);

/*
 * The end of the bytes from s[i] that a JSON string holds as they are:
 * neither '"' nor '\\', nor below 0x20 when written (control), nor
 * non-ASCII when read (ascii, for a check of each sequence).  Eight bytes
 * at a time while none of the eight can be one of those (a zero byte in
 * v ^ '"' or v ^ '\\' is one; a false alarm only sends the rest byte by
 * byte), then byte by byte.
 */
static inline size_t
string_run(const unsigned char *s, size_t i, size_t len, bool ascii)
{
	const uint64_t ones = 0x0101010101010101ULL, high = 0x8080808080808080ULL;

	while (len - i >= 8) {
		uint64_t v, q, bs;

		memcpy(&v, s + i, 8);
		q = v ^ (ones * '"');
		bs = v ^ (ones * '\\');
		if ((((q - ones) & ~q) | ((bs - ones) & ~bs) | (ascii ? v : (v - ones * 0x20) & ~v)) & high)
			break;
		i += 8;
	}
	while (i < len && s[i] != '"' && s[i] != '\\' && (ascii ? s[i] < 0x80 : s[i] >= 0x20))
		i++;
	return i;
}

static int
write_string(struct buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	int rc = buf_append(b, "\"", 1);

	for (size_t i = 0; i < len && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6] = { '\\', 'u', '0', '0', hex[c >> 4], hex[c & 15] };

		if (c == '\0')
			continue;	/* PostgreSQL cannot hold U+0000 */
		if (c == '"' || c == '\\') {
			esc[1] = (char)c;
			rc = buf_append(b, esc, 2);
		} else if (c < 0x20) {
			rc = buf_append(b, esc, 6);
		} else {
			size_t end = string_run((const unsigned char *)s, i + 1, len, false);

			rc = buf_append(b, s + i, end - i);
			i = end - 1;
		}
	}
	return rc != 0 ? rc : buf_append(b, "\"", 1);
}

/*
 * Keys never written: a presigned URL is a bearer link (worthless once
 * expired, harmful if leaked), and file contents are left out when the
 * configuration says not to store them.
 */
static bool
key_dropped(json_object *parent, const char *key, bool file_contents)
{
	json_object *kind;

	if (strcmp(key, "presignedUrl") == 0)
		return true;
	if (file_contents || strcmp(key, "contents") != 0)
		return false;
	kind = get_type(parent, "object", json_type_string);
	return kind != NULL && strcmp(json_object_get_string(kind), "file") == 0;
}

/*
 * json-c keeps a number's original text, so 1.50 stays 1.50.  But it also
 * reads NaN and Infinity, and exponents PostgreSQL's numeric cannot hold:
 * those become null, or the nearest double.
 */
static int
write_double(struct buf *b, json_object *o)
{
	const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	const char *e = strpbrk(text, "eE");
	long exponent = e != NULL ? strtol(e + 1, NULL, 10) : 0;	/* LONG_MIN or LONG_MAX when far out */
	double d = json_object_get_double(o);
	char tmp[40];

	if (!isfinite(d))
		return buf_append_str(b, "null");
	if (exponent > 300 || exponent < -300) {
		snprintf(tmp, sizeof(tmp), "%.17g", d);
		return buf_append_str(b, tmp);
	}
	return buf_append_str(b, text);
}

/*
 * An integer as JSON, without printf: most numbers of a response are
 * integers.  prepare_body() turned every integer too long for 64 bits into
 * a double, so int64 holds them all.
 */
#define INT_TEXT_SIZE 24

/* v in decimal, written to the end of tmp; returns where it starts (it ends at tmp + INT_TEXT_SIZE). */
static char *
int_text(char tmp[INT_TEXT_SIZE], int64_t v)
{
	char *p = tmp + INT_TEXT_SIZE;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	return p;
}

static int
write_int(struct buf *b, int64_t v)
{
	char tmp[INT_TEXT_SIZE];
	char *p = int_text(tmp, v);

	return buf_append(b, p, (size_t)(tmp + INT_TEXT_SIZE - p));
}

/* Note where o's JSON went in b, when sp records and o is near enough the top. */
static void
span_note(struct spans *sp, int depth, const json_object *o, size_t start, size_t end)
{
	if (sp == NULL || depth > SPAN_DEPTH || sp->n == SPAN_MAX)
		return;
	sp->s[sp->n].o = o;
	sp->s[sp->n].off = start;
	sp->s[sp->n].len = end - start;
	sp->n++;
}

/* o as JSON text; with sp, the places of its objects and arrays down to SPAN_DEPTH are noted. */
static int
write_json(struct buf *b, json_object *o, bool file_contents, struct spans *sp, int depth)
{
	size_t start = b->len;
	int rc = 0;
	bool first = true;

	switch (json_object_get_type(o)) {
	case json_type_null:
		return buf_append_str(b, "null");
	case json_type_string:
		return write_string(b, json_object_get_string(o), (size_t)json_object_get_string_len(o));
	case json_type_array:
		rc = buf_append(b, "[", 1);
		for (size_t i = 0; i < json_object_array_length(o) && rc == 0; i++) {
			if (i > 0)
				rc = buf_append(b, ",", 1);
			if (rc == 0)
				rc = write_json(b, json_object_array_get_idx(o, i), file_contents, sp, depth + 1);
		}
		if (rc == 0)
			rc = buf_append(b, "]", 1);
		if (rc == 0)
			span_note(sp, depth, o, start, b->len);
		return rc;
	case json_type_object:
		rc = buf_append(b, "{", 1);
		json_object_object_foreach(o, key, val) {
			if (rc != 0)
				break;
			if (key_dropped(o, key, file_contents))
				continue;
			if (!first)
				rc = buf_append(b, ",", 1);
			first = false;
			if (rc == 0)
				rc = write_string(b, key, strlen(key));
			if (rc == 0)
				rc = buf_append(b, ":", 1);
			if (rc == 0)
				rc = write_json(b, val, file_contents, sp, depth + 1);
		}
		if (rc == 0)
			rc = buf_append(b, "}", 1);
		if (rc == 0)
			span_note(sp, depth, o, start, b->len);
		return rc;
	case json_type_boolean:
		return json_object_get_boolean(o) ? buf_append(b, "true", 4) : buf_append(b, "false", 5);
	case json_type_int:
		return write_int(b, json_object_get_int64(o));
	case json_type_double:
		return write_double(b, o);
	}
	return -EINVAL;
}

/* --- cells --- */

static char *
fail_oom(struct norm *n)
{
	n->err = -ENOMEM;
	return NULL;
}

/* size bytes for a cell of the run; NULL (and n->err set) when out of memory. */
static char *
cell_alloc(struct norm *n, size_t size)
{
	struct cell_block **head = &n->rr->mem, *b = *head;
	char *p;

	if (b == NULL || b->cap - b->used < size) {
		size_t cap = size > BLOCK_SIZE / 4 ? size : BLOCK_SIZE;

		if (cap > SIZE_MAX - sizeof(*b) || (b = malloc(sizeof(*b) + cap)) == NULL)
			return fail_oom(n);
		b->used = 0;
		b->cap = cap;
		if (cap == size && *head != NULL) {
			/* a block of its own goes behind the current one, which stays current */
			b->next = (*head)->next;
			(*head)->next = b;
		} else {
			b->next = *head;
			*head = b;
		}
	}
	p = b->data + b->used;
	b->used += size;
	return p;
}

/* A copy of len bytes of s without NUL characters. */
static char *
copy_text(struct norm *n, const char *s, size_t len)
{
	char *d = len < SIZE_MAX ? cell_alloc(n, len + 1) : fail_oom(n);
	size_t j = 0;

	if (d == NULL)
		return NULL;	/* n->err is set */
	if (memchr(s, '\0', len) == NULL) {
		memcpy(d, s, len);
		d[len] = '\0';
		return d;
	}
	for (size_t i = 0; i < len; i++) {
		if (s[i] != '\0')
			d[j++] = s[i];
	}
	d[j] = '\0';
	return d;
}

/* Any value as jsonb text; NULL for absent or JSON null. */
static char *
v_json(struct norm *n, json_object *o)
{
	if (o == NULL || n->err != 0)
		return NULL;
	if (n->raw != NULL && (json_object_is_type(o, json_type_object) || json_object_is_type(o, json_type_array))) {
		for (size_t i = 0; i < n->spans.n; i++) {
			if (n->spans.s[i].o == o)
				return copy_text(n, n->raw + n->spans.s[i].off, n->spans.s[i].len);
		}
	}
	buf_reset(&n->scratch);
	if (write_json(&n->scratch, o, n->file_contents, NULL, 0) != 0)
		return fail_oom(n);
	return copy_text(n, n->scratch.data, n->scratch.len);
}

/* The run's raw JSON, its spans noted for v_json(); NULL when out of memory. */
static char *
v_raw(struct norm *n, json_object *run)
{
	if (n->err != 0)
		return NULL;
	buf_reset(&n->scratch);
	n->spans.n = 0;
	if (write_json(&n->scratch, run, n->file_contents, &n->spans, 0) != 0)
		return fail_oom(n);
	/* no NUL characters in it: the spans keep their places in the copy */
	n->raw = copy_text(n, n->scratch.data, n->scratch.len);
	return (char *)n->raw;
}

/* A string as text; another scalar (an enum that came as a number) as its JSON text. */
static char *
v_text(struct norm *n, json_object *o)
{
	if (o == NULL || n->err != 0)
		return NULL;
	if (json_object_is_type(o, json_type_string))
		return copy_text(n, json_object_get_string(o), (size_t)json_object_get_string_len(o));
	return v_json(n, o);
}

/* Whether o is an integer that fits PostgreSQL's integer (a whole double too): then *v is it. */
static bool
int_value(json_object *o, int64_t *v)
{
	double d;

	if (json_object_is_type(o, json_type_int)) {
		*v = json_object_get_int64(o);
		return *v >= INT_MIN && *v <= INT_MAX;
	}
	if (!json_object_is_type(o, json_type_double))
		return false;
	d = json_object_get_double(o);
	if (!(d >= INT_MIN && d <= INT_MAX) || d != floor(d))
		return false;
	*v = (int64_t)d;
	return true;
}

/* An integer that fits PostgreSQL's integer, else NULL (the value stays in raw). */
static char *
v_int(struct norm *n, json_object *o)
{
	char tmp[INT_TEXT_SIZE], *p;
	int64_t v;

	if (o == NULL || n->err != 0 || !int_value(o, &v))
		return NULL;
	p = int_text(tmp, v);
	return copy_text(n, p, (size_t)(tmp + INT_TEXT_SIZE - p));
}

/* A JSON number as numeric text, exactly as the API wrote it. */
static char *
v_num(struct norm *n, json_object *o)
{
	if (o == NULL || n->err != 0)
		return NULL;
	if (json_object_is_type(o, json_type_double) && !isfinite(json_object_get_double(o)))
		return NULL;
	if (!json_object_is_type(o, json_type_int) && !json_object_is_type(o, json_type_double))
		return NULL;
	return v_json(n, o);
}

static char *
v_bool(struct norm *n, json_object *o)
{
	if (o == NULL || n->err != 0 || !json_object_is_type(o, json_type_boolean))
		return NULL;
	return copy_text(n, json_object_get_boolean(o) ? "true" : "false", json_object_get_boolean(o) ? 4 : 5);
}

static bool
digits(const char *s, int n, int *val)
{
	*val = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*val = *val * 10 + (s[i] - '0');
	}
	return true;
}

/*
 * RFC 3339 date-time with an offset, checked against the calendar, so that
 * PostgreSQL never refuses a value and with it the whole run.
 */
static bool
is_rfc3339(const char *s)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec, oh, om;
	bool leap;

	if (strlen(s) < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec))
		return false;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
	    h > 23 || mi > 59 || sec > 59)
		return false;
	s += 19;
	if (*s == '.') {
		s++;
		if (*s < '0' || *s > '9')
			return false;
		while (*s >= '0' && *s <= '9')
			s++;
	}
	if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0')
		return true;
	return (s[0] == '+' || s[0] == '-') && digits(s + 1, 2, &oh) && s[3] == ':' &&
	       digits(s + 4, 2, &om) && s[6] == '\0' && oh <= 15 && om <= 59;	/* PostgreSQL's range */
}

static char *
v_time(struct norm *n, json_object *o)
{
	if (o == NULL || n->err != 0 || !json_object_is_type(o, json_type_string) ||
	    !is_rfc3339(json_object_get_string(o)))
		return NULL;
	return v_text(n, o);
}

/* --- rows --- */

/* Append an empty row to table t; its cells are then filled with put(). */
static struct row
row_add(struct norm *n, enum table_id t)
{
	struct table_rows *tr = &n->rr->t[t];
	int ncols = normalize_tables[t].ncols;
	struct row r = { n, NULL, ncols, 0 };

	if (n->err != 0)
		return r;
	if (tr->nrows == tr->cap) {
		size_t cap = tr->cap ? tr->cap * 2 : 4;
		char **cells = realloc(tr->cells, cap * (size_t)ncols * sizeof(char *));

		if (cells == NULL) {
			n->err = -ENOMEM;
			return r;
		}
		tr->cells = cells;
		tr->cap = cap;
	}
	r.cell = tr->cells + tr->nrows * (size_t)ncols;
	memset(r.cell, 0, (size_t)ncols * sizeof(char *));
	tr->nrows++;
	return r;
}

static void
put(struct row *r, char *v)
{
	if (r->cell == NULL || r->i >= r->ncols) {
		if (r->n->err == 0)
			r->n->err = -EINVAL;	/* a table definition and its code disagree */
		return;
	}
	r->cell[r->i++] = v;
}

static void
put_ordinal(struct row *r, size_t i)
{
	char tmp[INT_TEXT_SIZE];
	char *p = int_text(tmp, (int64_t)i);

	put(r, copy_text(r->n, p, (size_t)(tmp + INT_TEXT_SIZE - p)));
}

/* The key every child row starts with: the run ID and the ordinals of its ancestors. */
static struct row
child_row(struct norm *n, enum table_id t, size_t parent, size_t ordinal)
{
	struct row r = row_add(n, t);

	put(&r, copy_text(n, n->run_id, strlen(n->run_id)));
	if (parent != SIZE_MAX)
		put_ordinal(&r, parent);
	put_ordinal(&r, ordinal);
	return r;
}

static void
row_done(struct row *r)
{
	if (r->cell != NULL && r->i != r->ncols && r->n->err == 0)
		r->n->err = -EINVAL;
}

static char *
credits(struct norm *n, json_object *o)
{
	return v_num(n, get(get(o, "usage"), "credits"));
}

/* Loop over the objects of array key of o: i is the position, item the object; other items are skipped. */
#define EACH_OBJECT(o, key, i, item) \
	for (json_object *i##_arr = get_type(o, key, json_type_array); i##_arr != NULL; i##_arr = NULL) \
		for (size_t i = 0; i < json_object_array_length(i##_arr); i++) \
			for (json_object *item = json_object_array_get_idx(i##_arr, i); \
			     item != NULL && json_object_is_type(item, json_type_object); item = NULL)

static void
file_rows(struct norm *n, json_object *run)
{
	EACH_OBJECT(run, "files", fi, f) {
		json_object *meta = get(f, "metadata");
		json_object *split = get(meta, "parentSplit");
		json_object *contents = n->file_contents ? get(f, "contents") : NULL;
		struct row r = child_row(n, T_FILES, SIZE_MAX, fi);

		put(&r, v_text(n, get(f, "id")));
		put(&r, v_text(n, get(f, "name")));
		put(&r, v_text(n, get(f, "type")));
		put(&r, v_text(n, get(f, "parentFileId")));
		put(&r, v_int(n, get(meta, "pageCount")));
		put(&r, v_text(n, get(split, "id")));
		put(&r, v_text(n, get(split, "type")));
		put(&r, v_text(n, get(split, "identifier")));
		put(&r, v_int(n, get(split, "startPage")));
		put(&r, v_int(n, get(split, "endPage")));
		put(&r, v_time(n, get(f, "createdAt")));
		put(&r, v_time(n, get(f, "updatedAt")));
		put(&r, credits(n, f));
		put(&r, v_text(n, get(contents, "rawText")));
		put(&r, v_text(n, get(contents, "markdown")));
		put(&r, v_json(n, meta));
		row_done(&r);

		EACH_OBJECT(contents, "pages", pi, p) {
			struct row pr = child_row(n, T_FILE_PAGES, fi, pi);

			put(&pr, v_int(n, get(p, "pageNumber")));
			put(&pr, v_num(n, get(p, "pageHeight")));
			put(&pr, v_num(n, get(p, "pageWidth")));
			put(&pr, v_text(n, get(p, "rawText")));
			put(&pr, v_text(n, get(p, "markdown")));
			put(&pr, v_text(n, get(p, "html")));
			row_done(&pr);
		}
		EACH_OBJECT(contents, "sheets", si, s) {
			struct row sr = child_row(n, T_FILE_SHEETS, fi, si);

			put(&sr, v_text(n, get(s, "sheetName")));
			put(&sr, v_text(n, get(s, "rawText")));
			row_done(&sr);
		}
	}
}

/* --- the outputs of processors, as rows: extracted fields, classifications, splits --- */

/* Walking one EXTRACT output. */
struct flat {
	struct norm *n;
	size_t processor;	/* ordinal of the processor run */
	json_object *proc;	/* the processor run */
	json_object *meta;	/* current form: output.metadata, path -> FieldMeta */
	json_object *legacy;	/* legacy form: the field's own object (confidence, references) */
	json_object *edits;
	size_t ordinal;
	char path[1024];
	size_t len;
};

/* Cut path at its last segment ("a.b[2]" -> "a.b" -> "a"); false when nothing is left. */
static bool
path_parent(char *path, size_t *len)
{
	while (*len > 0) {
		char c = path[--(*len)];

		if (c == '.' || c == '[') {
			path[*len] = '\0';
			return *len > 0;
		}
	}
	path[0] = '\0';
	return false;
}

/* The entry of obj named by path or its nearest ancestor that has one, or NULL. */
static json_object *
nearest(json_object *obj, const char *path, size_t len)
{
	char p[1024];
	json_object *v;

	if (obj == NULL || !json_object_is_type(obj, json_type_object) || len >= sizeof(p))
		return NULL;
	memcpy(p, path, len);
	p[len] = '\0';
	do {
		if (json_object_object_get_ex(obj, p, &v))
			return v;
	} while (path_parent(p, &len));
	return NULL;
}

/* The pages of citations[] (current form) or references[] (legacy) as an int[] literal, or NULL. */
static char *
citation_pages(struct norm *n, json_object *list)
{
	struct buf *b = &n->scratch;
	size_t count = 0;

	if (list == NULL || !json_object_is_type(list, json_type_array) || n->err != 0)
		return NULL;
	buf_reset(b);
	if (buf_append(b, "{", 1) != 0)
		return fail_oom(n);
	for (size_t i = 0; i < json_object_array_length(list); i++) {
		json_object *page = get(json_object_array_get_idx(list, i), "page");
		char tmp[INT_TEXT_SIZE], *p;
		int64_t v;

		/* a page the column cannot hold is left out */
		if (page == NULL || !int_value(page, &v))
			continue;
		p = int_text(tmp, v);
		if ((count++ > 0 && buf_append(b, ",", 1) != 0) || buf_append(b, p, (size_t)(tmp + INT_TEXT_SIZE - p)) != 0)
			return fail_oom(n);
	}
	if (count == 0)
		return NULL;
	if (buf_append(b, "}", 1) != 0)
		return fail_oom(n);
	return copy_text(n, b->data, b->len);
}

/* One leaf: its value, the metadata that applies to it, whether a reviewer changed it. */
static void
field_row(struct flat *f, json_object *v, json_object *initial, bool initial_present)
{
	struct norm *n = f->n;
	json_object *fm = f->legacy != NULL ? f->legacy : nearest(f->meta, f->path, f->len);
	bool number = v != NULL && (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double));
	bool edited = nearest(f->edits, f->path, f->len) != NULL;
	struct row r = child_row(n, T_FIELDS, f->processor, f->ordinal++);

	put(&r, v_text(n, get(f->proc, "id")));
	put(&r, v_text(n, get(f->proc, "processorName")));
	put(&r, copy_text(n, f->path, f->len));
	put(&r, v != NULL ? v_json(n, v) : copy_text(n, "null", 4));
	put(&r, v_text(n, v));
	put(&r, number ? v_num(n, v) : NULL);
	put(&r, v_num(n, get(fm, f->legacy != NULL ? "confidence" : "ocrConfidence")));
	put(&r, f->legacy != NULL ? NULL : v_num(n, get(fm, "logprobsConfidence")));
	put(&r, f->legacy != NULL ? NULL : v_num(n, get(fm, "reviewAgentScore")));
	put(&r, citation_pages(n, get(fm, f->legacy != NULL ? "references" : "citations")));
	put(&r, copy_text(n, edited ? "true" : "false", edited ? 4 : 5));
	if (initial_present && !json_object_equal(v, initial))
		put(&r, initial != NULL ? v_json(n, initial) : copy_text(n, "null", 4));
	else
		put(&r, NULL);
	row_done(&r);
}

/* Append ".key" (or "key" at the top) or "[i]" to the path; false when it would not fit. */
static bool
path_push(struct flat *f, const char *key, size_t index)
{
	char tmp[INT_TEXT_SIZE];
	const char *seg = key != NULL ? key : int_text(tmp, (int64_t)index);
	size_t slen = key != NULL ? strlen(key) : (size_t)(tmp + INT_TEXT_SIZE - seg);
	size_t w = slen + (key != NULL ? (f->len > 0 ? 1 : 0) : 2);
	char *d = f->path + f->len;

	if (w >= sizeof(f->path) - f->len) {
		f->path[f->len] = '\0';
		return false;
	}
	if (key == NULL || f->len > 0)
		*d++ = key != NULL ? '.' : '[';
	memcpy(d, seg, slen);
	d += slen;
	if (key == NULL)
		*d++ = ']';
	*d = '\0';
	f->len += w;
	return true;
}

/*
 * Every leaf under v, with the value at the same place in the output before
 * review beside it.  Empty objects and arrays have no leaves.
 */
static void
walk_leaves(struct flat *f, json_object *v, json_object *initial, bool initial_present, int depth)
{
	size_t saved = f->len;

	if (depth > MAX_DEPTH || f->n->err != 0)
		return;
	if (json_object_is_type(v, json_type_object)) {
		json_object_object_foreach(v, key, child) {
			json_object *ic = NULL;
			bool ip = initial_present && json_object_is_type(initial, json_type_object) &&
				  json_object_object_get_ex(initial, key, &ic);

			if (path_push(f, key, 0))
				walk_leaves(f, child, ic, ip, depth + 1);
			f->len = saved;
			f->path[saved] = '\0';
		}
	} else if (json_object_is_type(v, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			bool ip = initial_present && json_object_is_type(initial, json_type_array) &&
				  i < json_object_array_length(initial);

			if (path_push(f, NULL, i))
				walk_leaves(f, json_object_array_get_idx(v, i),
					    ip ? json_object_array_get_idx(initial, i) : NULL, ip, depth + 1);
			f->len = saved;
			f->path[saved] = '\0';
		}
	} else {
		field_row(f, v, initial, initial_present);
	}
}

/* The current form has exactly the keys "value" and "metadata"; anything else is the legacy per-field form. */
static bool
is_current_form(json_object *output)
{
	return json_object_object_length(output) == 2 && get(output, "value") != NULL &&
	       json_object_object_get_ex(output, "metadata", NULL);
}

static void
extract_rows(struct norm *n, size_t oi, json_object *o, json_object *output)
{
	struct flat f = { .n = n, .processor = oi, .proc = o, .edits = get(o, "edits") };
	json_object *initial = get_type(o, "initialOutput", json_type_object);

	if (is_current_form(output)) {
		json_object *iv = NULL;
		bool ip = initial != NULL && is_current_form(initial) && json_object_object_get_ex(initial, "value", &iv);

		f.meta = get(output, "metadata");
		walk_leaves(&f, get(output, "value"), iv, ip, 0);
		return;
	}
	json_object_object_foreach(output, name, field) {
		json_object *iv = NULL, *ifield = get_type(initial, name, json_type_object);
		bool ip = ifield != NULL && json_object_object_get_ex(ifield, "value", &iv);
		json_object *value = NULL;

		if (!json_object_is_type(field, json_type_object) || !json_object_object_get_ex(field, "value", &value))
			continue;
		f.legacy = field;
		f.len = 0;
		f.path[0] = '\0';
		if (path_push(&f, name, 0))
			walk_leaves(&f, value, iv, ip, 0);
	}
}

/* Classifications, splits and extracted fields of one processor run, by its type. */
static void
output_rows(struct norm *n, size_t oi, json_object *o)
{
	json_object *type = get_type(o, "type", json_type_string);
	json_object *output = get_type(o, "output", json_type_object);

	if (type == NULL || output == NULL || json_object_object_length(output) == 0)
		return;
	if (strcmp(json_object_get_string(type), "EXTRACT") == 0) {
		extract_rows(n, oi, o, output);
	} else if (strcmp(json_object_get_string(type), "CLASSIFY") == 0) {
		struct row r = child_row(n, T_CLASSIFICATIONS, SIZE_MAX, oi);

		put(&r, v_text(n, get(o, "id")));
		put(&r, v_text(n, get(output, "id")));
		put(&r, v_text(n, get(output, "type")));
		put(&r, v_num(n, get(output, "confidence")));
		row_done(&r);
	} else if (strcmp(json_object_get_string(type), "SPLITTER") == 0) {
		EACH_OBJECT(output, "splits", si, sp) {
			struct row r = child_row(n, T_SPLITS, oi, si);

			put(&r, v_text(n, get(sp, "id")));
			put(&r, v_text(n, get(sp, "type")));
			put(&r, v_text(n, get(sp, "identifier")));
			put(&r, v_text(n, get(sp, "name")));
			put(&r, v_text(n, get(sp, "observation")));
			put(&r, v_int(n, get(sp, "startPage")));
			put(&r, v_int(n, get(sp, "endPage")));
			put(&r, v_text(n, get(sp, "classificationId")));
			put(&r, v_text(n, get(sp, "fileId")));
			row_done(&r);
		}
	}
}

static void
processor_rows(struct norm *n, json_object *run)
{
	EACH_OBJECT(run, "outputs", oi, o) {
		struct row r = child_row(n, T_PROCESSOR_RUNS, SIZE_MAX, oi);

		put(&r, v_text(n, get(o, "id")));
		put(&r, v_text(n, get(o, "processorId")));
		put(&r, v_text(n, get(o, "processorVersionId")));
		put(&r, v_text(n, get(o, "processorName")));
		put(&r, v_text(n, get(o, "status")));
		put(&r, v_text(n, get(o, "type")));
		put(&r, v_bool(n, get(o, "reviewed")));
		put(&r, v_bool(n, get(o, "edited")));
		put(&r, v_text(n, get(o, "url")));
		put(&r, v_text(n, get(o, "failureReason")));
		put(&r, v_text(n, get(o, "failureMessage")));
		put(&r, credits(n, o));
		put(&r, v_json(n, get(o, "output")));
		put(&r, v_json(n, get(o, "initialOutput")));
		put(&r, v_json(n, get(o, "reviewedOutput")));
		put(&r, v_json(n, get(o, "edits")));
		put(&r, v_json(n, get(o, "config")));
		put(&r, v_json(n, get(o, "metadata")));
		row_done(&r);

		EACH_OBJECT(o, "files", fi, f) {
			struct row fr = child_row(n, T_PROCESSOR_FILES, oi, fi);

			put(&fr, v_text(n, get(f, "id")));
			put(&fr, v_text(n, get(f, "name")));
			put(&fr, v_text(n, get(f, "type")));
			put(&fr, v_text(n, get(f, "parentFileId")));
			put(&fr, v_int(n, get(get(f, "metadata"), "pageCount")));
			row_done(&fr);
		}
		EACH_OBJECT(o, "mergedProcessors", mi, m) {
			struct row mr = child_row(n, T_MERGED, oi, mi);

			put(&mr, v_text(n, get(m, "processorId")));
			put(&mr, v_text(n, get(m, "processorVersionId")));
			put(&mr, v_text(n, get(m, "processorName")));
			row_done(&mr);
		}
		output_rows(n, oi, o);
	}
}

static void
step_rows(struct norm *n, json_object *run)
{
	EACH_OBJECT(run, "stepRuns", si, s) {
		json_object *step = get(s, "step");
		json_object *output = get(s, "output");
		struct row r = child_row(n, T_STEP_RUNS, SIZE_MAX, si);

		put(&r, v_text(n, get(s, "id")));
		put(&r, v_text(n, get(s, "status")));
		put(&r, v_text(n, get(step, "id")));
		put(&r, v_text(n, get(step, "name")));
		put(&r, v_text(n, get(step, "type")));
		put(&r, v_json(n, output));
		row_done(&r);

		EACH_OBJECT(output, "rules", ri, rule) {
			struct row rr = child_row(n, T_STEP_RULES, si, ri);

			put(&rr, v_text(n, get(rule, "name")));
			put(&rr, v_bool(n, get(rule, "valid")));
			put(&rr, v_json(n, get(rule, "validArray")));
			put(&rr, v_text(n, get(rule, "failureReason")));
			put(&rr, v_text(n, get(rule, "error")));
			row_done(&rr);
		}
	}
}

/*
 * Bumped whenever the rows made from one body change (a new column, a
 * fixed parser): snapshots stored by an older version then differ and are
 * written again.
 */
#define SNAPSHOT_VERSION "extend-syncd snapshot 1\n"

/*
 * SHA-256 of the cleaned raw JSON (presigned URLs and, without file
 * contents, contents gone) and of store_file_contents itself, in hex.
 */
static char *
snapshot_hash(struct norm *n, const char *raw)
{
	struct sha256 c;
	char hex[65];

	if (raw == NULL || n->err != 0)
		return NULL;
	sha256_init(&c);
	sha256_update(&c, SNAPSHOT_VERSION, strlen(SNAPSHOT_VERSION));
	/* the rows of file contents come and go with store_file_contents, also where raw does not show it */
	sha256_update(&c, n->file_contents ? "contents\n" : "no contents\n", n->file_contents ? 9 : 12);
	sha256_update(&c, raw, strlen(raw));
	sha256_hex(&c, hex);
	return copy_text(n, hex, 64);
}

static void
run_row(struct norm *n, json_object *run)
{
	json_object *wf = get(run, "workflow");
	/* first: the columns below that hold parts of it copy them from it */
	char *raw = v_raw(n, run);
	struct row r = row_add(n, T_RUNS);

	put(&r, v_text(n, get(run, "id")));
	put(&r, v_text(n, get(run, "name")));
	put(&r, v_text(n, get(run, "url")));
	put(&r, v_text(n, get(run, "status")));
	put(&r, v_text(n, get(wf, "id")));
	put(&r, v_text(n, get(wf, "version")));
	put(&r, v_text(n, get(wf, "name")));
	put(&r, v_text(n, get(run, "batchId")));
	put(&r, v_bool(n, get(run, "reviewed")));
	put(&r, v_text(n, get(run, "reviewedBy")));
	put(&r, v_time(n, get(run, "reviewedAt")));
	put(&r, v_text(n, get(run, "rejectionNote")));
	put(&r, v_text(n, get(run, "failureReason")));
	put(&r, v_text(n, get(run, "failureMessage")));
	put(&r, v_time(n, get(run, "initialRunAt")));
	put(&r, v_time(n, get(run, "startTime")));
	put(&r, v_time(n, get(run, "endTime")));
	put(&r, credits(n, run));
	put(&r, v_json(n, get(run, "metadata")));
	put(&r, raw);
	put(&r, snapshot_hash(n, raw));
	row_done(&r);
}

static void
errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/*
 * Bytes outside strings that prepare_body() looks at: quotes, digits, white
 * space, and non-ASCII (an error there).
 */
static const bool outside_special[256] = {
	['"'] = true,
	['0'] = true, ['1'] = true, ['2'] = true, ['3'] = true, ['4'] = true,
	['5'] = true, ['6'] = true, ['7'] = true, ['8'] = true, ['9'] = true,
	[' '] = true, ['\t'] = true, ['\n'] = true, ['\r'] = true,
	[0x80 ... 0xff] = true,
};

static bool
is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * Bytes of numbers and literals: white space between two of them ("1 2",
 * "- 1", "true false") keeps them apart, and must stay for json-c to
 * refuse them as it should.
 */
static bool
is_word(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '-' || c == '+' || c == '.';
}

/* Whether the digits at p[i] follow a decimal point or an exponent's e (and sign). */
static bool
after_point_or_e(const unsigned char *p, size_t i)
{
	if (i > 0 && (p[i - 1] == '+' || p[i - 1] == '-'))
		i--;
	return i > 0 && (p[i - 1] == '.' || p[i - 1] == 'e' || p[i - 1] == 'E');
}

/* The end of the white space that starts at p[i]: indentation eight spaces at a time, the rest byte by byte. */
static size_t
space_run(const unsigned char *p, size_t i, size_t len)
{
	const uint64_t spaces = 0x2020202020202020ULL;

	while (i < len && is_space(p[i])) {
		uint64_t v;

		if (len - i >= 8 && (memcpy(&v, p + i, 8), v == spaces))
			i += 8;
		else
			i++;
	}
	return i;
}

/*
 * Make body readable by json-c without loss: strictly valid UTF-8 (json-c
 * checks only the shape of sequences, PostgreSQL checks all), no \u0000
 * escapes (json-c would cut object keys there; PostgreSQL cannot hold
 * U+0000 at all), and integers too long for 64 bits marked as floating
 * point ("e0"), so json-c keeps their text instead of clamping.  White
 * space between values is left out too: json-c's tokenizer takes a tenth
 * more time for an indented body than for the same body compact, and a
 * copy costs far less.  A compact body needs no change: then *changed is
 * false and out stays empty, and body itself is parsed.  Otherwise out
 * holds the changed copy.  Plain bytes are copied in spans, not one by one:
 * this runs over every byte of every response.
 */
static int
prepare_body(const char *body, size_t len, struct buf *out, bool *changed, char *err, size_t errlen)
{
	const unsigned char *p = (const unsigned char *)body;
	bool in_string = false;
	size_t i = 0, copied = 0;	/* body[copied, i) is still to be copied when changed */

	*changed = false;
	while (i < len) {
		size_t n = 1;

		if (in_string) {
			/* the common case first: a run of ASCII that is neither a quote nor a backslash */
			i = string_run(p, i, len, true);
			if (i == len)
				break;
			if (p[i] == '\\') {
				if (len - i >= 6 && memcmp(p + i, "\\u0000", 6) == 0) {
					if (buf_append(out, p + copied, i - copied) != 0)
						return -ENOMEM;
					*changed = true;
					i += 6;
					copied = i;
					continue;
				}
				n = len - i >= 2 ? 2 : 1;
			} else if (p[i] == '"') {
				in_string = false;
			} else {
				n = text_utf8_seq(p + i, len - i);
				if (n == 0) {
					errf(err, errlen, "response is not valid UTF-8 at byte %zu", i);
					return -EINVAL;
				}
			}
		} else if (p[i] == '"') {
			in_string = true;
		} else if (!outside_special[p[i]]) {
			/* punctuation and literals between values: nothing to check */
			while (i + n < len && !outside_special[p[i + n]])
				n++;
		} else if (is_space(p[i])) {
			size_t keep;

			n = space_run(p, i, len) - i;
			/* at the end too: json-c reads a number (or literal) as unfinished without a byte after it */
			keep = i > 0 && is_word(p[i - 1]) && (i + n == len || is_word(p[i + n]));
			if ((!*changed && buf_reserve(out, len) != 0) || buf_append(out, p + copied, i + keep - copied) != 0)
				return -ENOMEM;
			*changed = true;
			i += n;
			copied = i;
			continue;
		} else if (p[i] >= '0' && p[i] <= '9') {
			while (i + n < len && p[i + n] >= '0' && p[i + n] <= '9')
				n++;
			/* an integer part: not the digits of a fraction or an exponent, nor followed by them */
			if (n > 18 && !after_point_or_e(p, i) &&
			    (i + n >= len || (p[i + n] != '.' && p[i + n] != 'e' && p[i + n] != 'E'))) {
				if (buf_append(out, p + copied, i + n - copied) != 0 || buf_append(out, "e0", 2) != 0)
					return -ENOMEM;
				*changed = true;
				i += n;
				copied = i;
				continue;
			}
		} else if (p[i] >= 0x80) {
			errf(err, errlen, "response is not valid JSON: unexpected byte outside a string at byte %zu", i);
			return -EINVAL;
		}
		i += n;
	}
	if (*changed && buf_append(out, p + copied, len - copied) != 0)
		return -ENOMEM;
	return 0;
}

/* The message of an error body in either of the API's shapes, or NULL. */
static const char *
api_error_message(json_object *root)
{
	json_object *m = get_type(root, "error", json_type_string);

	if (m == NULL)
		m = get_type(root, "message", json_type_string);
	return m != NULL ? json_object_get_string(m) : NULL;
}

/* Check that root is {"success": true, "workflowRun": {...}} for expected_id; returns the run. */
static json_object *
check_envelope(json_object *root, const char *expected_id, char *err, size_t errlen)
{
	json_object *success = get(root, "success");
	json_object *run, *id, *status;
	const char *msg;

	if (!json_object_is_type(root, json_type_object)) {
		errf(err, errlen, "response is not a JSON object");
		return NULL;
	}
	if (success != NULL && !json_object_get_boolean(success)) {
		char clean[160];

		msg = api_error_message(root);
		text_clean(clean, sizeof(clean), msg != NULL ? msg : "(no message)");
		errf(err, errlen, "response has success=false: %s", clean);
		return NULL;
	}
	run = get_type(root, "workflowRun", json_type_object);
	if (run == NULL) {
		errf(err, errlen, "response has no \"workflowRun\" object");
		return NULL;
	}
	id = get_type(run, "id", json_type_string);
	if (id == NULL) {
		errf(err, errlen, "response has no workflowRun.id");
		return NULL;
	}
	if (strcmp(json_object_get_string(id), expected_id) != 0 ||
	    strlen(expected_id) != (size_t)json_object_get_string_len(id)) {
		errf(err, errlen, "response is for another run (workflowRun.id does not match the requested ID)");
		return NULL;
	}
	status = get_type(run, "status", json_type_string);
	if (status == NULL || json_object_get_string_len(status) == 0) {
		errf(err, errlen, "response has no workflowRun.status");
		return NULL;
	}
	return run;
}

/*
 * Parse len bytes of body (not NUL-terminated) as one JSON document with tok
 * (which is reset first): 0 and the document in *root (NULL for null), or
 * -EINVAL and where it went wrong in err.
 */
static int
parse_json(struct json_tokener *tok, const char *body, size_t len, json_object **root, char *err, size_t errlen)
{
	enum json_tokener_error jerr;

	json_tokener_reset(tok);
	/* no JSON_TOKENER_VALIDATE_UTF8: prepare_body() checked every byte already, and more strictly */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	*root = json_tokener_parse_ex(tok, body, (int)len);
	jerr = json_tokener_get_error(tok);
	if (jerr == json_tokener_continue) {
		errf(err, errlen, "response is not valid JSON: unexpected end of data after %zu bytes", len);
		return -EINVAL;
	}
	if (jerr != json_tokener_success) {
		errf(err, errlen, "response is not valid JSON: %s at byte %zu",
		     json_tokener_error_desc(jerr), json_tokener_get_parse_end(tok));
		return -EINVAL;
	}
	for (size_t i = json_tokener_get_parse_end(tok); i < len; i++) {
		if (!is_space((unsigned char)body[i])) {
			errf(err, errlen, "response is not valid JSON: trailing data at byte %zu",
			     json_tokener_get_parse_end(tok));
			json_object_put(*root);
			*root = NULL;
			return -EINVAL;
		}
	}
	return 0;
}

/* Parse and normalize one response body; see normalize.h. */
int
normalize_body(const char *body, size_t len, const char *expected_id, bool file_contents,
	       struct run_rows **out, char *err, size_t errlen)
{
	struct json_tokener *tok = NULL;
	json_object *root = NULL, *run;
	struct norm n = { .run_id = expected_id, .file_contents = file_contents };
	const char *orig = body;
	size_t orig_len = len;
	struct buf clean;
	bool changed;
	int rc = -EINVAL;

	*out = NULL;
	buf_init(&clean, SIZE_MAX);
	buf_init(&n.scratch, SIZE_MAX);
	if (len == 0) {
		errf(err, errlen, "response body is empty");
		goto out;
	}
	rc = prepare_body(body, len, &clean, &changed, err, errlen);
	if (rc < 0) {
		if (rc == -ENOMEM)
			errf(err, errlen, "out of memory");
		goto out;
	}
	rc = -EINVAL;
	if (changed) {
		body = clean.data;
		len = clean.len;
	}
	if (len > INT_MAX) {
		errf(err, errlen, "response is too large to parse");
		goto out;
	}
	tok = json_tokener_new_ex(MAX_DEPTH);
	if (tok == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	if (parse_json(tok, body, len, &root, err, errlen) < 0) {
		/* the places in the message are the response's own, not those in the copy */
		if (changed && orig_len <= INT_MAX && parse_json(tok, orig, orig_len, &root, err, errlen) == 0) {
			json_object_put(root);
			root = NULL;
		}
		goto out;
	}
	run = check_envelope(root, expected_id, err, errlen);
	if (run == NULL)
		goto out;

	n.rr = calloc(1, sizeof(*n.rr));
	if (n.rr == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	run_row(&n, run);
	file_rows(&n, run);
	processor_rows(&n, run);
	step_rows(&n, run);
	if (n.err != 0) {
		rc = n.err;
		errf(err, errlen, rc == -ENOMEM ? "out of memory" : "internal error: row shape mismatch");
		normalize_free(n.rr);
		goto out;
	}
	n.rr->id = normalize_cell(n.rr, T_RUNS, 0, 0);
	n.rr->status = normalize_cell(n.rr, T_RUNS, 0, normalize_col(T_RUNS, "status"));
	*out = n.rr;
	rc = 0;
out:
	json_object_put(root);
	if (tok != NULL)
		json_tokener_free(tok);
	buf_free(&clean);
	buf_free(&n.scratch);
	return rc;
}

/* The message of an API error body; see normalize.h. */
int
normalize_error_message(const char *body, size_t len, char *out, size_t outlen)
{
	struct json_tokener *tok;
	json_object *root, *code;
	const char *msg;
	int rc = -1;

	if (body == NULL || len == 0 || len > 65536)
		return -1;
	tok = json_tokener_new();
	if (tok == NULL)
		return -1;
	root = json_tokener_parse_ex(tok, body, (int)len);
	msg = api_error_message(root);
	code = get_type(root, "code", json_type_string);
	if (msg != NULL || code != NULL) {
		char raw[512];

		if (code != NULL && msg != NULL)
			snprintf(raw, sizeof(raw), "%s: %s", json_object_get_string(code), msg);
		else
			snprintf(raw, sizeof(raw), "%s", msg != NULL ? msg : json_object_get_string(code));
		/* one line of valid UTF-8, cut between characters */
		text_clean(out, outlen, raw);
		rc = 0;
	}
	json_object_put(root);
	json_tokener_free(tok);
	return rc;
}

const char *
normalize_cell(const struct run_rows *rr, enum table_id t, size_t row, int col)
{
	if (row >= rr->t[t].nrows || col < 0 || col >= normalize_tables[t].ncols)
		return NULL;
	return rr->t[t].cells[row * (size_t)normalize_tables[t].ncols + (size_t)col];
}

int
normalize_col(enum table_id t, const char *name)
{
	for (int i = 0; i < normalize_tables[t].ncols; i++) {
		if (strcmp(normalize_tables[t].cols[i], name) == 0)
			return i;
	}
	return -1;
}

void
normalize_free(struct run_rows *rr)
{
	if (rr == NULL)
		return;
	for (int t = 0; t < T_COUNT; t++)
		free(rr->t[t].cells);
	while (rr->mem != NULL) {
		struct cell_block *next = rr->mem->next;

		free(rr->mem);
		rr->mem = next;
	}
	free(rr);
}

/* A readable non-200 answer; see normalize.h. */
void
normalize_http_error(long status, const char *body, size_t len, char *out, size_t outlen)
{
	char msg[200];

	if (normalize_error_message(body, len, msg, sizeof(msg)) == 0)
		snprintf(out, outlen, "HTTP %ld: %s", status, msg);
	else
		snprintf(out, outlen, "HTTP %ld", status);
}
