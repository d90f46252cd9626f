/* The expected content of one extractor's extracted views, from the runs' JSON alone, without SQL. */

/*
 * view-oracle SCHEMA VIEW PROCESSOR_ID OUTDIR RUN.json...
 *
 * Reads the workflow runs (the mock's bodies, {"workflowRun": {...}}) in the order they were stored, takes the
 * EXTRACT processor runs of PROCESSOR_ID, and writes into OUTDIR what the views of that extractor must hold,
 * following contract.md ("Extracted views") and issue 20, independently of sql/018_extracted_views.sql:
 *
 *   cols.txt      relation|column|type, sorted (types as format_type() writes them)
 *   comments.txt  relation|column|comment of every field column, sorted
 *   rels.txt      the relations, one a line
 *   REL.sql       the query that lists REL's cells in the oracle's order (psql -At, NULL as "(null)")
 *   REL.out       what that query must print
 *
 * Cells are written as psql prints them: numbers as written in the JSON, booleans t/f, dates YYYY-MM-DD,
 * arrays in PostgreSQL's array syntax, jsonb in jsonb's text form (keys by length, then bytes).  A value that
 * does not fit its column's type is NULL.  Timestamps are compared as UTC text with microseconds.
 */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#define MAXREL 64
#define MAXCOL 512
#define MAXDEPTH 8
#define NUL "(null)"

struct rel {
	char *key;		/* the array chain: levels joined with "/", keys of a level with "." ("" = main) */
	char *name;
	int depth;
	char *jpath;		/* $.line_items[*].taxes[*] */
};

struct col {
	char *rel;
	char *path;		/* keys joined with "." within the value or the item */
	char *names;		/* name parts joined with "." */
	char type[16];
	char *descr;
	char *name;
};

static struct rel rels[MAXREL];
static int nrels;
static struct col cols[MAXCOL];
static int ncols;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "view-oracle: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static char *
xstrdup(const char *s)
{
	char *d = strdup(s);

	if (d == NULL)
		die("out of memory");
	return d;
}

static char *
join3(const char *a, const char *sep, const char *b)
{
	size_t n = strlen(a) + strlen(sep) + strlen(b) + 1;
	char *s = malloc(n);

	if (s == NULL)
		die("out of memory");
	if (*a == '\0')
		snprintf(s, n, "%s", b);
	else
		snprintf(s, n, "%s%s%s", a, sep, b);
	return s;
}

/* A growing string. */
struct str {
	char *p;
	size_t len, cap;
};

static void
put(struct str *s, const char *t, size_t n)
{
	if (s->len + n + 1 > s->cap) {
		s->cap = (s->len + n + 1) * 2;
		s->p = realloc(s->p, s->cap);
		if (s->p == NULL)
			die("out of memory");
	}
	memcpy(s->p + s->len, t, n);
	s->len += n;
	s->p[s->len] = '\0';
}

static void
puts_(struct str *s, const char *t)
{
	put(s, t, strlen(t));
}

/* The character rule: lowercased, runs of other characters than a-z0-9 one "_", trimmed of "_". */
static char *
name_part(const char *in)
{
	size_t n = strlen(in), o = 0;
	char *out = malloc(n + 1);
	int pending = 0;

	if (out == NULL)
		die("out of memory");
	for (size_t i = 0; i < n; i++) {
		int c = tolower((unsigned char)in[i]);

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
			if (pending && o > 0)
				out[o++] = '_';
			pending = 0;
			out[o++] = (char)c;
		} else {
			pending = 1;
		}
	}
	out[o] = '\0';
	if (o == 0) {
		free(out);
		return xstrdup("field");
	}
	return out;
}

/* An identifier of at most 63 bytes: 54 characters, "_" and 8 hex digits of the MD5 (md5sum's) of the whole. */
static char *
ident(const char *name)
{
	char cmd[1024], md5[64] = "";
	FILE *f;
	char *out;

	if (strlen(name) <= 63)
		return xstrdup(name);
	/* names here are made of a-z, 0-9 and "_" only */
	snprintf(cmd, sizeof(cmd), "printf '%%s' '%s' | md5sum", name);
	f = popen(cmd, "r");
	if (f == NULL || fgets(md5, sizeof(md5), f) == NULL)
		die("could not run md5sum");
	pclose(f);
	out = malloc(64);
	if (out == NULL)
		die("out of memory");
	snprintf(out, 64, "%.54s_%.8s", name, md5);
	return out;
}

static int
used(int self, const char *rel, const char *name)
{
	for (int i = 0; i < ncols; i++)
		if (i != self && cols[i].name != NULL && strcmp(cols[i].rel, rel) == 0 && strcmp(cols[i].name, name) == 0)
			return 1;
	return 0;
}

static const char *main_fixed[] = { "run_id", "processor_run_id", "processor_version_id", "workflow_id",
	"workflow_name", "run_status", "reviewed", "edited", "initial_run_at", "end_time", "synced_at", "output", NULL };
static const char *main_types[] = { "text", "text", "text", "text", "text", "text", "boolean", "boolean",
	"timestamp with time zone", "timestamp with time zone", "timestamp with time zone", "jsonb", NULL };
static const char *ancestors[] = { "parent_ordinal", "grandparent_ordinal", "ancestor3_ordinal",
	"ancestor4_ordinal", "ancestor5_ordinal", "ancestor6_ordinal", "ancestor7_ordinal" };

static int
fixed(const struct rel *r, const char *name)
{
	if (r->depth == 0) {
		for (int i = 0; main_fixed[i] != NULL; i++)
			if (strcmp(main_fixed[i], name) == 0)
				return 1;
		return 0;
	}
	if (strcmp(name, "run_id") == 0 || strcmp(name, "processor_run_id") == 0 || strcmp(name, "ordinal") == 0 ||
	    strcmp(name, "item") == 0)
		return 1;
	for (int i = 0; i < r->depth - 1; i++)
		if (strcmp(ancestors[i], name) == 0)
			return 1;
	return 0;
}

static struct rel *
find_rel(const char *key)
{
	for (int i = 0; i < nrels; i++)
		if (strcmp(rels[i].key, key) == 0)
			return &rels[i];
	return NULL;
}

static int
rel_name_used(const char *name)
{
	for (int i = 0; i < nrels; i++)
		if (strcmp(rels[i].name, name) == 0)
			return 1;
	return 0;
}

/* Record a relation (first sight) and name it. */
static void
add_rel(const char *view, const char *key)
{
	struct str base = { 0 }, jp = { 0 };
	char *k, *lvl, *save1 = NULL;
	struct rel *r;
	int depth = 0;

	if (find_rel(key) != NULL)
		return;
	k = xstrdup(key);
	if (nrels == MAXREL)
		die("too many relations");
	puts_(&base, view);
	puts_(&jp, "$");
	for (lvl = strtok_r(k, "/", &save1); lvl != NULL; lvl = strtok_r(NULL, "/", &save1)) {
		char *kk = xstrdup(lvl), *part, *save2 = NULL;

		for (part = strtok_r(kk, ".", &save2); part != NULL; part = strtok_r(NULL, ".", &save2)) {
			char *np = name_part(part);

			puts_(&base, "__");
			puts_(&base, np);
			puts_(&jp, ".");
			puts_(&jp, part);
			free(np);
		}
		puts_(&jp, "[*]");
		free(kk);
		depth++;
	}
	free(k);
	r = &rels[nrels];
	r->key = xstrdup(key);
	r->depth = depth;
	r->jpath = jp.p;
	r->name = ident(base.p);
	for (int i = 2; rel_name_used(r->name); i++) {
		char buf[16];
		char *b2;

		free(r->name);
		snprintf(buf, sizeof(buf), "_%d", i);
		b2 = join3(base.p, "", buf);
		r->name = ident(b2);
		free(b2);
	}
	nrels++;
	free(base.p);
}

/* A column of one version: merged into the union (the type becomes text when two versions differ). */
static void
add_col(const char *rel, const char *path, const char *names, const char *type, const char *descr)
{
	for (int i = 0; i < ncols; i++) {
		if (strcmp(cols[i].rel, rel) != 0 || strcmp(cols[i].path, path) != 0)
			continue;
		if (strcmp(cols[i].type, type) != 0) {
			size_t a = strlen(cols[i].type), b = strlen(type);
			int arrays = a > 2 && b > 2 && strcmp(cols[i].type + a - 2, "[]") == 0 &&
				     strcmp(type + b - 2, "[]") == 0;

			snprintf(cols[i].type, sizeof(cols[i].type), "%s", arrays ? "text[]" : "text");
		}
		if (descr != NULL) {
			free(cols[i].descr);
			cols[i].descr = xstrdup(descr);
		}
		return;
	}
	if (ncols == MAXCOL)
		die("too many columns");
	cols[ncols].rel = xstrdup(rel);
	cols[ncols].path = xstrdup(path);
	cols[ncols].names = xstrdup(names);
	snprintf(cols[ncols].type, sizeof(cols[ncols].type), "%s", type);
	cols[ncols].descr = descr != NULL ? xstrdup(descr) : NULL;
	cols[ncols].name = NULL;
	ncols++;
}

static const char *
scalar_type(const char *t)
{
	if (t == NULL)
		return "jsonb";
	if (strcmp(t, "string") == 0 || strcmp(t, "enum") == 0)
		return "text";
	if (strcmp(t, "integer") == 0)
		return "bigint";
	if (strcmp(t, "number") == 0)
		return "numeric";
	if (strcmp(t, "boolean") == 0)
		return "boolean";
	if (strcmp(t, "date") == 0)
		return "date";
	return "jsonb";
}

static const char *
get_str(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

static json_object *
get(json_object *o, const char *key)
{
	json_object *v;

	if (!json_object_is_type(o, json_type_object) || !json_object_object_get_ex(o, key, &v))
		return NULL;
	return v;
}

/* The declared type of a schema node, "null" left out. */
static const char *
schema_type(json_object *node)
{
	json_object *t = get(node, "type");

	if (json_object_is_type(t, json_type_string))
		return json_object_get_string(t);
	if (json_object_is_type(t, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(t); i++) {
			json_object *e = json_object_array_get_idx(t, i);

			if (json_object_is_type(e, json_type_string) && strcmp(json_object_get_string(e), "null") != 0)
				return json_object_get_string(e);
		}
		return NULL;
	}
	if (json_object_is_type(get(node, "enum"), json_type_array))
		return "string";
	return NULL;
}

static int
cmpstr(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
custom(const char *view, const char *rel, const char *path, const char *names, const char *et, const char *descr)
{
	char *p, *n;

	(void)view;
	if (strcmp(et, "currency") == 0) {
		p = join3(path, ".", "amount");
		n = join3(names, ".", "amount");
		add_col(rel, p, n, "numeric", descr);
		free(p);
		free(n);
		p = join3(path, ".", "iso_4217_currency_code");
		n = join3(names, ".", "currency");
		add_col(rel, p, n, "text", descr);
		free(p);
		free(n);
		return;
	}
	/* signature */
	static const char *keys[] = { "is_signed", "printed_name", "signatory_title", "signature_date" };
	static const char *types[] = { "boolean", "text", "text", "date" };

	for (int i = 0; i < 4; i++) {
		p = join3(path, ".", keys[i]);
		n = join3(names, ".", keys[i]);
		add_col(rel, p, n, types[i], descr);
		free(p);
		free(n);
	}
}

static void walk_schema(const char *view, json_object *node, const char *rel, const char *path, const char *names,
			int depth);

static void
walk_schema(const char *view, json_object *node, const char *rel, const char *path, const char *names, int depth)
{
	json_object *props = get(node, "properties");
	const char **keys;
	size_t nk = 0;

	if (!json_object_is_type(props, json_type_object))
		return;
	keys = calloc((size_t)json_object_object_length(props) + 1, sizeof(*keys));
	json_object_object_foreach(props, k, v) {
		(void)v;
		keys[nk++] = k;
	}
	qsort(keys, nk, sizeof(*keys), cmpstr);
	for (size_t i = 0; i < nk; i++) {
		json_object *prop = get(props, keys[i]);
		const char *t = schema_type(prop), *et = get_str(prop, "extend:type"), *descr = get_str(prop, "description");
		char *p = join3(path, ".", keys[i]), *n = join3(names, ".", keys[i]);

		if (et != NULL && strcmp(et, "date") == 0) {
			add_col(rel, p, n, "date", descr);
		} else if (et != NULL && (strcmp(et, "currency") == 0 || strcmp(et, "signature") == 0)) {
			custom(view, rel, p, n, et, descr);
		} else if (t != NULL && strcmp(t, "object") == 0 && depth < 8 &&
			   json_object_is_type(get(prop, "properties"), json_type_object)) {
			walk_schema(view, prop, rel, p, n, depth + 1);
		} else if (t != NULL && strcmp(t, "array") == 0) {
			json_object *items = get(prop, "items");
			const char *it = schema_type(items), *iet = get_str(items, "extend:type");

			if (it != NULL && strcmp(it, "object") == 0 && depth < 8) {
				char *child = join3(rel, "/", p);

				add_rel(view, child);
				walk_schema(view, items, child, "", "", depth + 1);
				free(child);
			} else {
				const char *st = iet != NULL && strcmp(iet, "date") == 0 ? "date" : scalar_type(it);
				char arr[16];

				snprintf(arr, sizeof(arr), "%s%s", st, strcmp(st, "jsonb") == 0 ? "" : "[]");
				add_col(rel, p, n, arr, descr);
			}
		} else {
			add_col(rel, p, n, scalar_type(t), descr);
		}
		free(p);
		free(n);
	}
	free(keys);
}

static void
walk_legacy(const char *view, json_object *fields, const char *rel, const char *path, const char *names, int depth)
{
	if (!json_object_is_type(fields, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(fields); i++) {
		json_object *f = json_object_array_get_idx(fields, i);
		const char *k = get_str(f, "name"), *t = get_str(f, "type"), *descr = get_str(f, "description");
		json_object *sub = get(f, "schema");
		char *p, *n;

		if (k == NULL)
			continue;
		p = join3(path, ".", k);
		n = join3(names, ".", k);
		if (t != NULL && (strcmp(t, "currency") == 0 || strcmp(t, "signature") == 0)) {
			custom(view, rel, p, n, t, descr);
		} else if (t != NULL && strcmp(t, "object") == 0 && json_object_is_type(sub, json_type_array) &&
			   depth < 8) {
			walk_legacy(view, sub, rel, p, n, depth + 1);
		} else if (t != NULL && strcmp(t, "array") == 0 && json_object_is_type(sub, json_type_array) &&
			   json_object_array_length(sub) > 0 && depth < 8) {
			char *child = join3(rel, "/", p);

			add_rel(view, child);
			walk_legacy(view, sub, child, "", "", depth + 1);
			free(child);
		} else if (t != NULL && strcmp(t, "array") == 0) {
			add_col(rel, p, n, "text[]", descr);
		} else {
			add_col(rel, p, n, scalar_type(t), descr);
		}
		free(p);
		free(n);
	}
}

/* Name the columns, relation by relation, in order: fixed names first, then "_2", "_3", ... after a taken one. */
static void
name_columns(void)
{
	for (int i = 0; i < ncols; i++) {
		struct rel *r = find_rel(cols[i].rel);
		struct str base = { 0 };
		char *nm = xstrdup(cols[i].names), *part, *save = NULL;

		for (part = strtok_r(nm, ".", &save); part != NULL; part = strtok_r(NULL, ".", &save)) {
			char *np = name_part(part);

			if (base.len > 0)
				puts_(&base, "__");
			puts_(&base, np);
			free(np);
		}
		free(nm);
		cols[i].name = ident(base.p);
		for (int k = 2; fixed(r, cols[i].name) || used(i, cols[i].rel, cols[i].name); k++) {
			char buf[16];
			char *b2;

			free(cols[i].name);
			cols[i].name = NULL;
			snprintf(buf, sizeof(buf), "_%d", k);
			b2 = join3(base.p, "", buf);
			cols[i].name = ident(b2);
			free(b2);
		}
		free(base.p);
	}
}

/* --- cells --- */

/* The JSON text of a number as jsonb keeps it (the literal as written). */
static const char *
num_text(json_object *v)
{
	return json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
}

static void
json_string(struct str *s, const char *t)
{
	puts_(s, "\"");
	for (const unsigned char *c = (const unsigned char *)t; *c != '\0'; c++) {
		char buf[8];

		switch (*c) {
		case '"': puts_(s, "\\\""); break;
		case '\\': puts_(s, "\\\\"); break;
		case '\b': puts_(s, "\\b"); break;
		case '\f': puts_(s, "\\f"); break;
		case '\n': puts_(s, "\\n"); break;
		case '\r': puts_(s, "\\r"); break;
		case '\t': puts_(s, "\\t"); break;
		default:
			if (*c < 0x20) {
				snprintf(buf, sizeof(buf), "\\u%04x", *c);
				puts_(s, buf);
			} else {
				put(s, (const char *)c, 1);
			}
		}
	}
	puts_(s, "\"");
}

static int
jsonb_key_cmp(const void *a, const void *b)
{
	const char *x = *(char *const *)a, *y = *(char *const *)b;
	size_t lx = strlen(x), ly = strlen(y);

	if (lx != ly)
		return lx < ly ? -1 : 1;
	return memcmp(x, y, lx);
}

/* jsonb's text form: objects' keys by length then bytes, ", " and ": " between. */
static void
jsonb_text(struct str *s, json_object *v)
{
	switch (json_object_get_type(v)) {
	case json_type_null:
		puts_(s, "null");
		break;
	case json_type_boolean:
		puts_(s, json_object_get_boolean(v) ? "true" : "false");
		break;
	case json_type_int:
	case json_type_double:
		puts_(s, num_text(v));
		break;
	case json_type_string:
		json_string(s, json_object_get_string(v));
		break;
	case json_type_array:
		puts_(s, "[");
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			if (i > 0)
				puts_(s, ", ");
			jsonb_text(s, json_object_array_get_idx(v, i));
		}
		puts_(s, "]");
		break;
	case json_type_object: {
		const char **keys = calloc((size_t)json_object_object_length(v) + 1, sizeof(*keys));
		size_t n = 0;

		json_object_object_foreach(v, k, e) {
			(void)e;
			keys[n++] = k;
		}
		qsort(keys, n, sizeof(*keys), jsonb_key_cmp);
		puts_(s, "{");
		for (size_t i = 0; i < n; i++) {
			if (i > 0)
				puts_(s, ", ");
			json_string(s, keys[i]);
			puts_(s, ": ");
			jsonb_text(s, get(v, keys[i]));
		}
		puts_(s, "}");
		free(keys);
		break;
	}
	}
}

static int
leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* A real date YYYY-MM-DD (years 1 to 9999), else NULL. */
static const char *
date_text(json_object *v)
{
	static const int mdays[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	const char *t;
	int y, m, d;

	if (!json_object_is_type(v, json_type_string))
		return NULL;
	t = json_object_get_string(v);
	if (strlen(t) != 10 || t[4] != '-' || t[7] != '-')
		return NULL;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && !isdigit((unsigned char)t[i]))
			return NULL;
	y = atoi(t);
	m = atoi(t + 5);
	d = atoi(t + 8);
	if (y < 1 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap(y)))
		return NULL;
	return t;
}

/* A JSON number that is integral and fits bigint, as text; else NULL. */
static const char *
bigint_text(json_object *v, char *buf, size_t len)
{
	const char *t, *dot;

	if (json_object_is_type(v, json_type_int)) {
		if (json_object_get_int64(v) == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
			return NULL;
		snprintf(buf, len, "%" PRId64, json_object_get_int64(v));
		return buf;
	}
	if (!json_object_is_type(v, json_type_double))
		return NULL;
	t = num_text(v);
	if (strpbrk(t, "eE") != NULL)
		die("the oracle reads no exponents: %s", t);
	dot = strchr(t, '.');
	if (dot != NULL)
		for (const char *c = dot + 1; *c != '\0'; c++)
			if (*c != '0')
				return NULL;
	/* an integral literal past int64: json-c made it a double */
	errno = 0;
	long long ll = strtoll(t, NULL, 10);

	if (errno == ERANGE)
		return NULL;
	snprintf(buf, len, "%lld", ll);
	return buf;
}

/* One cell of a typed column, as psql prints it; NULL when the value does not fit. */
static void
cell(struct str *s, json_object *v, const char *type)
{
	char buf[64];
	const char *t = NULL;
	size_t tl = strlen(type);

	if (tl > 2 && strcmp(type + tl - 2, "[]") == 0) {
		char et[16];

		if (!json_object_is_type(v, json_type_array)) {
			puts_(s, NUL);
			return;
		}
		snprintf(et, sizeof(et), "%.*s", (int)(tl - 2), type);
		puts_(s, "{");
		for (size_t i = 0; i < json_object_array_length(v); i++) {
			struct str e = { 0 };
			int quote = 0;

			if (i > 0)
				puts_(s, ",");
			cell(&e, json_object_array_get_idx(v, i), et);
			if (strcmp(e.p, NUL) == 0) {
				puts_(s, "NULL");
				free(e.p);
				continue;
			}
			quote = e.len == 0 || strcasecmp(e.p, "null") == 0 || strpbrk(e.p, "{}\",\\ \t\n") != NULL;
			if (quote)
				puts_(s, "\"");
			for (size_t c = 0; c < e.len; c++) {
				if (e.p[c] == '"' || e.p[c] == '\\')
					puts_(s, "\\");
				put(s, e.p + c, 1);
			}
			if (quote)
				puts_(s, "\"");
			free(e.p);
		}
		puts_(s, "}");
		return;
	}
	if (v == NULL) {
		puts_(s, NUL);
		return;
	}
	if (strcmp(type, "text") == 0) {
		if (json_object_is_type(v, json_type_string))
			t = json_object_get_string(v);
		else if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double))
			t = num_text(v);
		else if (json_object_is_type(v, json_type_boolean))
			t = json_object_get_boolean(v) ? "true" : "false";
	} else if (strcmp(type, "numeric") == 0) {
		if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double))
			t = num_text(v);
	} else if (strcmp(type, "bigint") == 0) {
		t = bigint_text(v, buf, sizeof(buf));
	} else if (strcmp(type, "boolean") == 0) {
		if (json_object_is_type(v, json_type_boolean))
			t = json_object_get_boolean(v) ? "t" : "f";
	} else if (strcmp(type, "date") == 0) {
		t = date_text(v);
	} else {
		if (!json_object_is_type(v, json_type_null)) {
			jsonb_text(s, v);
			return;
		}
	}
	puts_(s, t != NULL ? t : NUL);
}

/* The value at a dotted path of objects; NULL when a step is missing or no object. */
static json_object *
at(json_object *v, const char *path)
{
	char *p = xstrdup(path), *k, *save = NULL;

	for (k = strtok_r(p, ".", &save); k != NULL && v != NULL; k = strtok_r(NULL, ".", &save))
		v = get(v, k);
	free(p);
	return v;
}

/* "2025-05-02T09:14:03.512Z" as to_char(... AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') prints it. */
static void
ts_cell(struct str *s, const char *t)
{
	char frac[7] = "000000";
	const char *dot;

	if (t == NULL) {
		puts_(s, NUL);
		return;
	}
	if (strlen(t) < 20 || t[strlen(t) - 1] != 'Z')
		die("the oracle reads only UTC times: %s", t);
	dot = strchr(t, '.');
	if (dot != NULL)
		for (int i = 0; i < 6 && isdigit((unsigned char)dot[1 + i]); i++)
			frac[i] = dot[1 + i];
	put(s, t, 19);
	puts_(s, ".");
	puts_(s, frac);
}

struct prun {
	json_object *run;	/* the workflow run */
	json_object *out;	/* the processor run */
	json_object *value;	/* its extracted value */
	int jnull;		/* the value is JSON null (json-c holds it as NULL too) */
	int owned;		/* value was made here (legacy form): put it at the end */
};

static int
prun_cmp(const void *a, const void *b)
{
	return strcmp(get_str(((const struct prun *)a)->out, "id"), get_str(((const struct prun *)b)->out, "id"));
}

/* Rows of one relation: recurse through the levels of its array chain. */
static void
rows(FILE *f, const struct rel *r, const struct prun *p, json_object *cur, int level, long *ords, char **levels)
{
	if (level == r->depth) {
		struct str s = { 0 };
		char buf[32];

		puts_(&s, get_str(p->run, "id"));
		puts_(&s, "|");
		puts_(&s, get_str(p->out, "id"));
		snprintf(buf, sizeof(buf), "|%ld", ords[r->depth - 1]);
		puts_(&s, buf);
		for (int j = r->depth - 2; j >= 0; j--) {
			snprintf(buf, sizeof(buf), "|%ld", ords[j]);
			puts_(&s, buf);
		}
		for (int i = 0; i < ncols; i++) {
			if (strcmp(cols[i].rel, r->key) != 0)
				continue;
			puts_(&s, "|");
			cell(&s, at(cur, cols[i].path), cols[i].type);
		}
		puts_(&s, "|");
		jsonb_text(&s, cur);
		fprintf(f, "%s\n", s.p);
		free(s.p);
		return;
	}
	json_object *arr = at(level == 0 ? p->value : cur, levels[level]);

	if (!json_object_is_type(arr, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		ords[level] = (long)i;
		rows(f, r, p, json_object_array_get_idx(arr, i), level + 1, ords, levels);
	}
}

int
main(int argc, char **argv)
{
	const char *schema, *view, *pid, *outdir;
	json_object *versions = json_object_new_object();	/* version id -> config, first sight */
	json_object *vorder = json_object_new_array();
	json_object *bodies = json_object_new_array();	/* kept to the end: pr points into them */
	struct prun *pr = NULL;
	size_t npr = 0;
	char fn[4096];
	FILE *f, *fc, *fm;

	if (argc < 6)
		die("usage: view-oracle SCHEMA VIEW PROCESSOR_ID OUTDIR RUN.json...");
	schema = argv[1];
	view = argv[2];
	pid = argv[3];
	outdir = argv[4];

	for (int a = 5; a < argc; a++) {
		json_object *body = json_object_from_file(argv[a]), *run = get(body, "workflowRun");
		json_object *outs = get(run, "outputs");

		if (run == NULL)
			die("%s: no workflowRun", argv[a]);
		json_object_array_add(bodies, body);
		for (size_t i = 0; json_object_is_type(outs, json_type_array) && i < json_object_array_length(outs);
		     i++) {
			json_object *o = json_object_array_get_idx(outs, i), *cfg = get(o, "config");
			const char *t = get_str(o, "type"), *p = get_str(o, "processorId");
			const char *vid = get_str(o, "processorVersionId");

			if (t == NULL || strcmp(t, "EXTRACT") != 0 || p == NULL || strcmp(p, pid) != 0 || vid == NULL)
				continue;
			if (get(versions, vid) == NULL) {
				json_object_object_add(versions, vid, json_object_get(cfg));
				json_object_array_add(vorder, json_object_new_string(vid));
			}
			pr = realloc(pr, (npr + 1) * sizeof(*pr));
			pr[npr].run = run;
			pr[npr].out = o;
			pr[npr].jnull = 0;
			pr[npr].owned = 0;
			if (json_object_is_type(get(cfg, "schema"), json_type_object)) {
				json_object *ov = NULL;

				pr[npr].jnull = json_object_object_get_ex(get(o, "output"), "value", &ov) && ov == NULL;
				pr[npr].value = ov;
			} else {
				/* legacy: the output keyed by field name, each entry holding "value" */
				json_object *m = NULL, *lo = get(o, "output");

				if (json_object_is_type(lo, json_type_object)) {
					m = json_object_new_object();
					json_object_object_foreach(lo, k, e)
						json_object_object_add(m, k, json_object_get(get(e, "value")));
				}
				pr[npr].value = m;
				pr[npr].owned = 1;
			}
			npr++;
		}
	}
	add_rel(view, "");
	for (size_t i = 0; i < json_object_array_length(vorder); i++) {
		json_object *cfg = get(versions, json_object_get_string(json_object_array_get_idx(vorder, i)));

		if (json_object_is_type(get(cfg, "schema"), json_type_object))
			walk_schema(view, get(cfg, "schema"), "", "", "", 1);
		else
			walk_legacy(view, get(cfg, "fields"), "", "", "", 1);
	}
	name_columns();
	qsort(pr, npr, sizeof(*pr), prun_cmp);

	snprintf(fn, sizeof(fn), "%s/cols.txt", outdir);
	fc = fopen(fn, "w");
	snprintf(fn, sizeof(fn), "%s/comments.txt", outdir);
	fm = fopen(fn, "w");
	snprintf(fn, sizeof(fn), "%s/rels.txt", outdir);
	f = fopen(fn, "w");
	if (fc == NULL || fm == NULL || f == NULL)
		die("could not write into %s", outdir);
	for (int i = 0; i < nrels; i++)
		fprintf(f, "%s\n", rels[i].name);
	fclose(f);

	for (int i = 0; i < nrels; i++) {
		struct rel *r = &rels[i];
		struct str q = { 0 };

		if (r->depth == 0) {
			for (int k = 0; main_fixed[k] != NULL; k++)
				fprintf(fc, "%s|%s|%s\n", r->name, main_fixed[k], main_types[k]);
			puts_(&q, "SELECT run_id, processor_run_id, processor_version_id, workflow_id, workflow_name, "
				  "run_status, reviewed, edited, "
				  "to_char(initial_run_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), "
				  "to_char(end_time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), "
				  "synced_at = (SELECT w.synced_at FROM extend.workflow_runs w WHERE w.id = v.run_id)");
		} else {
			fprintf(fc, "%s|run_id|text\n%s|processor_run_id|text\n%s|ordinal|bigint\n%s|item|jsonb\n",
				r->name, r->name, r->name, r->name);
			puts_(&q, "SELECT run_id, processor_run_id, ordinal");
			for (int j = 0; j < r->depth - 1; j++) {
				fprintf(fc, "%s|%s|bigint\n", r->name, ancestors[j]);
				puts_(&q, ", ");
				puts_(&q, ancestors[j]);
			}
		}
		for (int k = 0; k < ncols; k++) {
			if (strcmp(cols[k].rel, r->key) != 0)
				continue;
			fprintf(fc, "%s|%s|%s\n", r->name, cols[k].name, cols[k].type);
			fprintf(fm, "%s|%s|%s%s(JSON path %s.%s of the extracted value)\n", r->name, cols[k].name,
				cols[k].descr != NULL ? cols[k].descr : "", cols[k].descr != NULL ? " " : "",
				r->jpath, cols[k].path);
			puts_(&q, ", \"");
			puts_(&q, cols[k].name);
			puts_(&q, "\"");
		}
		puts_(&q, r->depth == 0 ? ", output" : ", item");
		fprintf(stdout, "%s\n", r->name);
		snprintf(fn, sizeof(fn), "%s/%s.sql", outdir, r->name);
		f = fopen(fn, "w");
		if (f == NULL)
			die("could not write %s", fn);
		fprintf(f, "%s FROM \"%s\".\"%s\" v ORDER BY processor_run_id", q.p, schema, r->name);
		for (int j = r->depth - 2; j >= 0; j--)
			fprintf(f, ", %s", ancestors[j]);
		fprintf(f, "%s;\n", r->depth > 0 ? ", ordinal" : "");
		fclose(f);
		free(q.p);

		snprintf(fn, sizeof(fn), "%s/%s.out", outdir, r->name);
		f = fopen(fn, "w");
		if (f == NULL)
			die("could not write %s", fn);
		for (size_t k = 0; k < npr; k++) {
			if (r->depth == 0) {
				struct str s = { 0 };
				json_object *wf = get(pr[k].run, "workflow");
				json_object *rv = get(pr[k].out, "reviewed"), *ed = get(pr[k].out, "edited");

				puts_(&s, get_str(pr[k].run, "id"));
				puts_(&s, "|");
				puts_(&s, get_str(pr[k].out, "id"));
				puts_(&s, "|");
				puts_(&s, get_str(pr[k].out, "processorVersionId"));
				puts_(&s, "|");
				puts_(&s, get_str(wf, "id") ? get_str(wf, "id") : NUL);
				puts_(&s, "|");
				puts_(&s, get_str(wf, "name") ? get_str(wf, "name") : NUL);
				puts_(&s, "|");
				puts_(&s, get_str(pr[k].run, "status"));
				puts_(&s, "|");
				cell(&s, rv, "boolean");
				puts_(&s, "|");
				cell(&s, ed, "boolean");
				puts_(&s, "|");
				ts_cell(&s, get_str(pr[k].run, "initialRunAt"));
				puts_(&s, "|");
				ts_cell(&s, get_str(pr[k].run, "endTime"));
				puts_(&s, "|t");
				for (int c = 0; c < ncols; c++) {
					if (strcmp(cols[c].rel, r->key) != 0)
						continue;
					puts_(&s, "|");
					cell(&s, at(pr[k].value, cols[c].path), cols[c].type);
				}
				puts_(&s, "|");
				if (pr[k].value == NULL)
					puts_(&s, pr[k].jnull ? "null" : NUL);
				else
					jsonb_text(&s, pr[k].value);
				fprintf(f, "%s\n", s.p);
				free(s.p);
			} else {
				char *k2 = xstrdup(r->key), *lv, *save = NULL, *levels[MAXDEPTH];
				long ords[MAXDEPTH];
				int n = 0;

				for (lv = strtok_r(k2, "/", &save); lv != NULL && n < MAXDEPTH;
				     lv = strtok_r(NULL, "/", &save))
					levels[n++] = lv;
				rows(f, r, &pr[k], NULL, 0, ords, levels);
				free(k2);
			}
		}
		fclose(f);
	}
	fclose(fc);
	fclose(fm);
	for (size_t i = 0; i < npr; i++)
		if (pr[i].owned)
			json_object_put(pr[i].value);
	free(pr);
	json_object_put(bodies);
	json_object_put(versions);
	json_object_put(vorder);
	return 0;
}
