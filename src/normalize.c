/* Turns one API response body into the rows of every table: pure, no I/O, no logging, no globals. */
#include <ctype.h>
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
#include "jtree.h"
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
		"logprobs_confidence", "review_agent_score", "citation_pages", "edited", "initial_value", "value_date",
		"value_boolean") },
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
		const struct jnode *o;
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

/* v, or NULL for JSON null */
static inline const struct jnode *
nz(const struct jnode *v)
{
	return v != NULL && v->type != JT_NULL ? v : NULL;
}

static inline const struct jnode *
get(const struct jnode *o, const char *key)
{
	return nz(jtree_member(o, key, strlen(key)));
}

static inline const struct jnode *
get_type(const struct jnode *o, const char *key, enum jtype type)
{
	const struct jnode *v = get(o, key);

	return v != NULL && v->type == type ? v : NULL;
}

static inline bool
is_type(const struct jnode *v, enum jtype type)
{
	return v != NULL && v->type == type;
}

/* Whether v is the string s. */
static bool
is_string(const struct jnode *v, const char *s)
{
	size_t len = strlen(s);

	return is_type(v, JT_STRING) && v->len == len && memcmp(v->s, s, len) == 0;
}

/* Whether the len bytes at key are the name word. */
static bool
is_name(const char *key, size_t len, const char *word)
{
	return len == strlen(word) && memcmp(key, word, len) == 0;
}

/* --- JSON writing, with presigned URLs and NUL characters left out --- */

static int write_json(struct buf *b, const struct jnode *o, bool file_contents, struct spans *sp, int depth);

/* s in quotes, when plain says that nothing in it needs an escape: one copy. */
static int
write_string(struct buf *b, const char *s, size_t len, bool plain)
{
	static const char hex[] = "0123456789abcdef";
	int rc;

	if (plain) {
		rc = buf_reserve(b, len + 2);
		if (rc == 0) {
			b->data[b->len] = '"';
			memcpy(b->data + b->len + 1, s, len);
			b->data[b->len + 1 + len] = '"';
			b->len += len + 2;
			b->data[b->len] = '\0';
		}
		return rc;
	}
	rc = buf_append(b, "\"", 1);

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
			size_t end = text_json_run((const unsigned char *)s, i + 1, len, true, false);

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
key_dropped(const struct jnode *parent, const char *key, size_t klen, bool file_contents)
{
	if (is_name(key, klen, "presignedUrl"))
		return true;
	if (file_contents || !is_name(key, klen, "contents"))
		return false;
	return is_string(get(parent, "object"), "file");
}

/*
 * Exponents up to this are written as the API wrote them, whatever a
 * double makes of them (1e400 is infinite there): PostgreSQL's numeric
 * holds them exactly, and their text stays about a thousand digits at most.
 */
#define EXPONENT_KEPT 1000

/*
 * json-c keeps a number's original text, so 1.50 stays 1.50.  But it also
 * reads NaN and Infinity, and exponents PostgreSQL's numeric cannot hold
 * (or would spell out in many thousands of digits): those become null, or
 * the nearest double.
 */
static int
write_double(struct buf *b, const struct jnode *o)
{
	const char *e = memchr(o->s, 'e', o->len);
	long exponent = 0;	/* held at 100000 when far out */
	char tmp[40];

	if (e == NULL)
		e = memchr(o->s, 'E', o->len);
	if (e != NULL) {
		const char *end = o->s + o->len, *p = e + 1;
		bool negative = p < end && *p == '-';

		if (p < end && (*p == '-' || *p == '+'))
			p++;
		for (; p < end && *p >= '0' && *p <= '9'; p++)
			exponent = exponent < 100000 ? exponent * 10 + (*p - '0') : exponent;
		if (negative)
			exponent = -exponent;
	}
	/* a JSON number, not json-c's NaN or Infinity */
	if (exponent >= -EXPONENT_KEPT && exponent <= EXPONENT_KEPT && o->len > 0 &&
	    (isdigit((unsigned char)o->s[0]) || (o->s[0] == '-' && o->len > 1 && isdigit((unsigned char)o->s[1]))))
		return buf_append(b, o->s, o->len);
	if (!isfinite(o->v.d))
		return buf_append_str(b, "null");
	snprintf(tmp, sizeof(tmp), "%.17g", o->v.d);
	return buf_append_str(b, tmp);
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
span_note(struct spans *sp, int depth, const struct jnode *o, size_t start, size_t end)
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
write_json(struct buf *b, const struct jnode *o, bool file_contents, struct spans *sp, int depth)
{
	size_t start = b->len;
	const struct jnode *c = o + 1;
	int rc = 0;
	bool first = true;

	switch (o->type) {
	case JT_NULL:
		return buf_append_str(b, "null");
	case JT_STRING:
		return write_string(b, o->s, o->len, o->plain & JPLAIN_S);
	case JT_ARRAY:
		rc = buf_append(b, "[", 1);
		for (uint32_t i = 0; i < o->len && rc == 0; i++, c += c->size) {
			if (i > 0)
				rc = buf_append(b, ",", 1);
			if (rc == 0)
				rc = write_json(b, c, file_contents, sp, depth + 1);
		}
		if (rc == 0)
			rc = buf_append(b, "]", 1);
		if (rc == 0)
			span_note(sp, depth, o, start, b->len);
		return rc;
	case JT_OBJECT:
		rc = buf_append(b, "{", 1);
		for (uint32_t i = 0; i < o->len && rc == 0; i++, c += c->size) {
			if (key_dropped(o, c->key, c->klen, file_contents))
				continue;
			if (!first)
				rc = buf_append(b, ",", 1);
			first = false;
			if (rc == 0)
				rc = write_string(b, c->key, c->klen, c->plain & JPLAIN_KEY);
			if (rc == 0)
				rc = buf_append(b, ":", 1);
			if (rc == 0)
				rc = write_json(b, c, file_contents, sp, depth + 1);
		}
		if (rc == 0)
			rc = buf_append(b, "}", 1);
		if (rc == 0)
			span_note(sp, depth, o, start, b->len);
		return rc;
	case JT_BOOL:
		return o->v.b ? buf_append(b, "true", 4) : buf_append(b, "false", 5);
	case JT_INT:
		return write_int(b, o->v.i);
	case JT_DOUBLE:
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
v_json(struct norm *n, const struct jnode *o)
{
	if (o == NULL || n->err != 0)
		return NULL;
	if (n->raw != NULL && (o->type == JT_OBJECT || o->type == JT_ARRAY)) {
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
v_raw(struct norm *n, const struct jnode *run)
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
v_text(struct norm *n, const struct jnode *o)
{
	if (o == NULL || n->err != 0)
		return NULL;
	if (o->type == JT_STRING)
		return copy_text(n, o->s, o->len);
	return v_json(n, o);
}

/* Whether o is an integer that fits PostgreSQL's integer (a whole double too): then *v is it. */
static bool
int_value(const struct jnode *o, int64_t *v)
{
	double d;

	if (is_type(o, JT_INT)) {
		*v = o->v.i;
		return *v >= INT_MIN && *v <= INT_MAX;
	}
	if (!is_type(o, JT_DOUBLE))
		return false;
	d = o->v.d;
	if (!(d >= INT_MIN && d <= INT_MAX) || d != floor(d))
		return false;
	*v = (int64_t)d;
	return true;
}

/* An integer that fits PostgreSQL's integer, else NULL (the value stays in raw). */
static char *
v_int(struct norm *n, const struct jnode *o)
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
v_num(struct norm *n, const struct jnode *o)
{
	if (o == NULL || n->err != 0)
		return NULL;
	if (o->type == JT_DOUBLE && !isfinite(o->v.d))
		return NULL;
	if (o->type != JT_INT && o->type != JT_DOUBLE)
		return NULL;
	return v_json(n, o);
}

static char *
v_bool(struct norm *n, const struct jnode *o)
{
	if (o == NULL || n->err != 0 || o->type != JT_BOOL)
		return NULL;
	return copy_text(n, o->v.b ? "true" : "false", o->v.b ? 4 : 5);
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
is_rfc3339(const char *s, size_t len)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h, mi, sec, oh, om;
	size_t k = 19;
	bool leap;

	if (len < 20 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
	    s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
	    !digits(s + 17, 2, &sec))
		return false;
	leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
	    h > 23 || mi > 59 || sec > 59)
		return false;
	if (s[k] == '.') {
		if (++k == len || s[k] < '0' || s[k] > '9')
			return false;
		while (k < len && s[k] >= '0' && s[k] <= '9')
			k++;
	}
	if (k == len)
		return false;
	if ((s[k] == 'Z' || s[k] == 'z') && k + 1 == len)
		return true;
	return (s[k] == '+' || s[k] == '-') && len - k == 6 && digits(s + k + 1, 2, &oh) && s[k + 3] == ':' &&
	       digits(s + k + 4, 2, &om) && oh <= 15 && om <= 59;	/* PostgreSQL's range */
}

static char *
v_time(struct norm *n, const struct jnode *o)
{
	if (o == NULL || n->err != 0 || o->type != JT_STRING || !is_rfc3339(o->s, o->len))
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
credits(struct norm *n, const struct jnode *o)
{
	return v_num(n, get(get(o, "usage"), "credits"));
}

/* Loop over the objects of array key of o: i is the position, item the object; other items are skipped. */
#define EACH_OBJECT(o, key, i, item) \
	for (const struct jnode *i##_arr = get_type(o, key, JT_ARRAY), *i##_at = i##_arr != NULL ? i##_arr + 1 : NULL; \
	     i##_arr != NULL; i##_arr = NULL) \
		for (size_t i = 0; i < i##_arr->len; i++, i##_at += i##_at->size) \
			for (const struct jnode *item = i##_at->type == JT_OBJECT ? i##_at : NULL; item != NULL; \
			     item = NULL)

static void
file_rows(struct norm *n, const struct jnode *run)
{
	EACH_OBJECT(run, "files", fi, f) {
		const struct jnode *meta = get(f, "metadata");
		const struct jnode *split = get(meta, "parentSplit");
		const struct jnode *contents = n->file_contents ? get(f, "contents") : NULL;
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
	const struct jnode *proc;	/* the processor run */
	const struct jnode *meta;	/* current form: output.metadata, path -> FieldMeta */
	const struct jnode *legacy;	/* legacy form: the field's own object (confidence, references) */
	const struct jnode *edits;
	size_t ordinal;
	char path[1024];
	size_t len;
};

/* Shorten *len to path's parent ("a.b[2]" -> "a.b" -> "a"); false when nothing is left. */
static bool
path_parent(const char *path, size_t *len)
{
	while (*len > 0) {
		char c = path[--(*len)];

		if (c == '.' || c == '[')
			return *len > 0;
	}
	return false;
}

/* The entry of obj named by path (len bytes) or its nearest ancestor that has one, or NULL. */
static const struct jnode *
nearest(const struct jnode *obj, const char *path, size_t len)
{
	const struct jnode *v;

	if (!is_type(obj, JT_OBJECT))
		return NULL;
	do {
		v = jtree_member(obj, path, len);
		if (v != NULL)
			return nz(v);
	} while (path_parent(path, &len));
	return NULL;
}

/* The pages of citations[] (current form) or references[] (legacy) as an int[] literal, or NULL. */
static char *
citation_pages(struct norm *n, const struct jnode *list)
{
	struct buf *b = &n->scratch;
	size_t count = 0;

	if (!is_type(list, JT_ARRAY) || n->err != 0)
		return NULL;
	buf_reset(b);
	if (buf_append(b, "{", 1) != 0)
		return fail_oom(n);
	for (const struct jnode *item = list + 1; item < list + list->size; item += item->size) {
		const struct jnode *page = get(item, "page");
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

/*
 * Whether s (len bytes) is a real calendar date written YYYY-MM-DD, years 1
 * to 9999: "2025-02-31" is not, nor "2025-2-3" or a date with a time.
 */
static bool
iso_date(const char *s, size_t len)
{
	static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y = 0, m, d;

	if (len != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (size_t i = 0; i < len; i++) {
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	}
	for (int i = 0; i < 4; i++)
		y = y * 10 + (s[i] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
		return false;
	return m != 2 || d < 29 || (y % 4 == 0 && (y % 100 != 0 || y % 400 == 0));
}

/* One leaf: its value, the metadata that applies to it, whether a reviewer changed it. */
static void
field_row(struct flat *f, const struct jnode *v, const struct jnode *initial, bool initial_present)
{
	struct norm *n = f->n;
	const struct jnode *fm = f->legacy != NULL ? f->legacy : nearest(f->meta, f->path, f->len);
	bool number = is_type(v, JT_INT) || is_type(v, JT_DOUBLE);
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
	if (initial_present && !jtree_equal(v, initial))
		put(&r, initial != NULL ? v_json(n, initial) : copy_text(n, "null", 4));
	else
		put(&r, NULL);
	put(&r, is_type(v, JT_STRING) && iso_date(v->s, v->len) ? copy_text(n, v->s, v->len) : NULL);
	put(&r, v_bool(n, v));
	row_done(&r);
}

/* Append ".key" (or "key" at the top; klen bytes) or "[i]" to the path; false when it would not fit. */
static bool
path_push(struct flat *f, const char *key, size_t klen, size_t index)
{
	char tmp[INT_TEXT_SIZE];
	const char *seg = key != NULL ? key : int_text(tmp, (int64_t)index);
	size_t slen = key != NULL ? klen : (size_t)(tmp + INT_TEXT_SIZE - seg);
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
walk_leaves(struct flat *f, const struct jnode *v, const struct jnode *initial, bool initial_present, int depth)
{
	size_t saved = f->len;

	if (depth > MAX_DEPTH || f->n->err != 0)
		return;
	if (is_type(v, JT_OBJECT)) {
		const struct jnode *child = v + 1;

		for (uint32_t i = 0; i < v->len; i++, child += child->size) {
			const struct jnode *ic = initial_present ? jtree_member(initial, child->key, child->klen) : NULL;

			if (path_push(f, child->key, child->klen, 0))
				walk_leaves(f, nz(child), nz(ic), ic != NULL, depth + 1);
			f->len = saved;
			f->path[saved] = '\0';
		}
	} else if (is_type(v, JT_ARRAY)) {
		bool array = initial_present && is_type(initial, JT_ARRAY);
		const struct jnode *child = v + 1, *ic = array ? initial + 1 : NULL;

		for (uint32_t i = 0; i < v->len; i++, child += child->size) {
			bool ip = array && i < initial->len;

			if (path_push(f, NULL, 0, i))
				walk_leaves(f, nz(child), ip ? nz(ic) : NULL, ip, depth + 1);
			f->len = saved;
			f->path[saved] = '\0';
			if (ip)
				ic += ic->size;
		}
	} else {
		field_row(f, v, initial, initial_present);
	}
}

/* The current form has exactly the keys "value" and "metadata"; anything else is the legacy per-field form. */
static bool
is_current_form(const struct jnode *output)
{
	return output->len == 2 && get(output, "value") != NULL && jtree_member(output, "metadata", 8) != NULL;
}

static void
extract_rows(struct norm *n, size_t oi, const struct jnode *o, const struct jnode *output)
{
	struct flat f = { .n = n, .processor = oi, .proc = o, .edits = get(o, "edits") };
	const struct jnode *initial = get_type(o, "initialOutput", JT_OBJECT), *field = output + 1;

	if (is_current_form(output)) {
		const struct jnode *iv = initial != NULL && is_current_form(initial) ? jtree_member(initial, "value", 5) : NULL;

		f.meta = get(output, "metadata");
		walk_leaves(&f, get(output, "value"), nz(iv), iv != NULL, 0);
		return;
	}
	for (uint32_t i = 0; i < output->len; i++, field += field->size) {
		const struct jnode *ifield = nz(jtree_member(initial, field->key, field->klen));
		const struct jnode *iv = is_type(ifield, JT_OBJECT) ? jtree_member(ifield, "value", 5) : NULL;
		const struct jnode *value = jtree_member(field, "value", 5);

		if (value == NULL)
			continue;	/* no object, or no value */
		f.legacy = field;
		f.len = 0;
		f.path[0] = '\0';
		if (path_push(&f, field->key, field->klen, 0))
			walk_leaves(&f, nz(value), nz(iv), iv != NULL, 0);
	}
}

/* Classifications, splits and extracted fields of one processor run, by its type. */
static void
output_rows(struct norm *n, size_t oi, const struct jnode *o)
{
	const struct jnode *type = get_type(o, "type", JT_STRING);
	const struct jnode *output = get_type(o, "output", JT_OBJECT);

	if (type == NULL || output == NULL || output->len == 0)
		return;
	if (is_string(type, "EXTRACT")) {
		extract_rows(n, oi, o, output);
	} else if (is_string(type, "CLASSIFY")) {
		struct row r = child_row(n, T_CLASSIFICATIONS, SIZE_MAX, oi);

		put(&r, v_text(n, get(o, "id")));
		put(&r, v_text(n, get(output, "id")));
		put(&r, v_text(n, get(output, "type")));
		put(&r, v_num(n, get(output, "confidence")));
		row_done(&r);
	} else if (is_string(type, "SPLITTER")) {
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
processor_rows(struct norm *n, const struct jnode *run)
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
step_rows(struct norm *n, const struct jnode *run)
{
	EACH_OBJECT(run, "stepRuns", si, s) {
		const struct jnode *step = get(s, "step");
		const struct jnode *output = get(s, "output");
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
run_row(struct norm *n, const struct jnode *run)
{
	const struct jnode *wf = get(run, "workflow");
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

	while (i < len && text_is_space(p[i])) {
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
			i = text_json_run(p, i, len, false, true);
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
		} else if (text_is_space(p[i])) {
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
	json_object *m;

	if (!json_object_is_type(root, json_type_object))
		return NULL;
	if (!json_object_object_get_ex(root, "error", &m) || !json_object_is_type(m, json_type_string))
		m = NULL;
	if (m == NULL && (!json_object_object_get_ex(root, "message", &m) || !json_object_is_type(m, json_type_string)))
		m = NULL;
	return m != NULL ? json_object_get_string(m) : NULL;
}

/* Check that root is {"success": true, "workflowRun": {...}} for expected_id; returns the run. */
static const struct jnode *
check_envelope(const struct jnode *root, const char *expected_id, char *err, size_t errlen)
{
	const struct jnode *success = get(root, "success");
	const struct jnode *run, *id, *status;

	if (!is_type(root, JT_OBJECT)) {
		errf(err, errlen, "response is not a JSON object");
		return NULL;
	}
	if (success != NULL && !jtree_truthy(success)) {
		const struct jnode *m = get_type(root, "error", JT_STRING);
		char msg[512], clean[160];

		if (m == NULL)
			m = get_type(root, "message", JT_STRING);
		/* the first bytes are enough for the part of it that fits clean */
		snprintf(msg, sizeof(msg), "%.*s", m != NULL ? (int)(m->len < sizeof(msg) ? m->len : sizeof(msg) - 1) : 0,
			 m != NULL ? m->s : "");
		text_clean(clean, sizeof(clean), m != NULL ? msg : "(no message)");
		errf(err, errlen, "response has success=false: %s", clean);
		return NULL;
	}
	run = get_type(root, "workflowRun", JT_OBJECT);
	if (run == NULL) {
		errf(err, errlen, "response has no \"workflowRun\" object");
		return NULL;
	}
	id = get_type(run, "id", JT_STRING);
	if (id == NULL) {
		errf(err, errlen, "response has no workflowRun.id");
		return NULL;
	}
	if (id->len != strlen(expected_id) || memcmp(id->s, expected_id, id->len) != 0) {
		errf(err, errlen, "response is for another run (workflowRun.id does not match the requested ID)");
		return NULL;
	}
	status = get_type(run, "status", JT_STRING);
	if (status == NULL || status->len == 0) {
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
		if (!text_is_space((unsigned char)body[i])) {
			errf(err, errlen, "response is not valid JSON: trailing data at byte %zu",
			     json_tokener_get_parse_end(tok));
			json_object_put(*root);
			*root = NULL;
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * The slow way into t, for what jtree_parse() leaves to json-c: the body
 * prepared, parsed by json-c into *root (which t then points into) and
 * its tree copied.  Errors are json-c's own, placed in the response.
 */
static int
parse_with_json_c(const char *body, size_t len, struct jtree *t, json_object **root, char *err, size_t errlen)
{
	struct json_tokener *tok = NULL;
	const char *orig = body;
	size_t orig_len = len;
	struct buf clean;
	bool changed;
	int rc;

	buf_init(&clean, SIZE_MAX);
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
		errf(err, errlen, "out of memory");
		goto out;
	}
	if (parse_json(tok, body, len, root, err, errlen) < 0) {
		/* the places in the message are the response's own, not those in the copy */
		if (changed && orig_len <= INT_MAX && parse_json(tok, orig, orig_len, root, err, errlen) == 0) {
			json_object_put(*root);
			*root = NULL;
		}
		goto out;
	}
	rc = jtree_from_json_c(t, *root);
	if (rc != 0)
		errf(err, errlen, "out of memory");
out:
	if (tok != NULL)
		json_tokener_free(tok);
	buf_free(&clean);
	return rc;
}

/* The parse alone; see normalize.h. */
int
normalize_parse(const char *body, size_t len, bool fast, struct jtree *t, json_object **root, char *err, size_t errlen)
{
	int rc = -EINVAL;

	*root = NULL;
	/* the common case, fast; json-c for everything else, and for what is wrong */
	if (fast && len <= INT_MAX)
		rc = jtree_parse(t, body, len);
	if (rc == -EINVAL)
		return parse_with_json_c(body, len, t, root, err, errlen);
	if (rc != 0)
		errf(err, errlen, "out of memory");
	return rc;
}

/* Parse and normalize one response body; see normalize.h. */
int
normalize_body(const char *body, size_t len, const char *expected_id, bool file_contents,
	       struct run_rows **out, char *err, size_t errlen)
{
	struct jtree tree = JTREE_INIT;
	json_object *root = NULL;
	const struct jnode *run;
	struct norm n = { .run_id = expected_id, .file_contents = file_contents };
	int rc = -EINVAL;

	*out = NULL;
	buf_init(&n.scratch, SIZE_MAX);
	if (len == 0) {
		errf(err, errlen, "response body is empty");
		goto out;
	}
	/* the raw JSON is written here first: about the body's size, or less without its white space */
	if (buf_reserve(&n.scratch, len) != 0) {
		rc = -ENOMEM;
		errf(err, errlen, "out of memory");
		goto out;
	}
	rc = normalize_parse(body, len, true, &tree, &root, err, errlen);
	if (rc != 0)
		goto out;
	rc = -EINVAL;
	run = check_envelope(jtree_root(&tree), expected_id, err, errlen);
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
	jtree_free(&tree);
	json_object_put(root);
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
	if (!json_object_is_type(root, json_type_object) || !json_object_object_get_ex(root, "code", &code) ||
	    !json_object_is_type(code, json_type_string))
		code = NULL;
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

/* The memory a run's rows hold; see normalize.h. */
size_t
normalize_size(const struct run_rows *rr)
{
	size_t n = sizeof(*rr);

	for (int t = 0; t < T_COUNT; t++)
		n += rr->t[t].cap * (size_t)normalize_tables[t].ncols * sizeof(char *);
	for (const struct cell_block *b = rr->mem; b != NULL; b = b->next)
		n += sizeof(*b) + b->cap;
	return n;
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
