/* A JSON document as one array of nodes: a strict, allocation-light parser, and json-c's trees in the same form. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jtree.h"
#include "text.h"

/*
 * The fast parser takes only what it reads exactly as json-c does (with
 * the body prepared as normalize.c prepares it); for anything else it
 * answers -EINVAL and json-c has the last word, errors included.
 */
#define FAST_DEPTH 100		/* json-c's limit, MAX_DEPTH in normalize.c, is 128 */
#define FAST_DIGITS 18		/* normalize.c makes longer integers doubles: json-c would clamp them */
#define NUMBER_MAX 64		/* longer number texts are left to json-c */
#define LINEAR_MEMBERS 8	/* objects with more members get their names hashed */
#define PROBES_MAX 64		/* names that collide more than this (made to) are left to json-c */

struct parser {
	struct jtree *t;
	const unsigned char *p;
	size_t i, len;
};

/* --- nodes --- */

/* A new node at the end, by index (the array moves as it grows); SIZE_MAX when out of memory. */
static size_t
node_new(struct jtree *t, enum jtype type, const char *key, size_t klen)
{
	struct jnode *nd;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 256;
		struct jnode *nodes = cap <= UINT32_MAX ? realloc(t->nodes, cap * sizeof(*nodes)) : NULL;

		if (nodes == NULL)
			return SIZE_MAX;
		t->nodes = nodes;
		t->cap = cap;
	}
	nd = &t->nodes[t->n];
	nd->key = key;
	nd->klen = (uint32_t)klen;
	nd->s = NULL;
	nd->v.i = 0;
	nd->slots = NULL;
	nd->len = 0;
	nd->size = 1;
	nd->mask = 0;
	nd->type = (uint8_t)type;
	nd->plain = 0;
	return t->n++;
}

static uint32_t
name_hash(const char *key, size_t klen)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (size_t i = 0; i < klen; i++)
		h = (h ^ (unsigned char)key[i]) * 16777619u;
	return h;
}

static bool
same_name(const struct jnode *a, const char *key, size_t klen)
{
	return a->klen == klen && (klen == 0 || (a->key[0] == key[0] && memcmp(a->key, key, klen) == 0));
}

/*
 * Finish object at: hash its names when it has many.  Returns 0, -EINVAL
 * when two members share a name (json-c keeps the first place and the last
 * value: left to it) or, when strict, when names collide in the hash so
 * often that they must have been chosen to, or -ENOMEM.
 */
static int
object_index(struct jtree *t, size_t at, bool strict)
{
	struct jnode *o = &t->nodes[at];
	const struct jnode *c, *d;
	uint32_t *slots, cap = 16;

	if (o->len <= LINEAR_MEMBERS) {
		c = o + 1;
		for (uint32_t k = 0; k < o->len; k++, c += c->size) {
			d = c + c->size;
			for (uint32_t m = k + 1; m < o->len; m++, d += d->size) {
				if (same_name(d, c->key, c->klen))
					return -EINVAL;
			}
		}
		return 0;
	}
	while (cap < 2 * o->len)
		cap *= 2;
	if (t->ntables == t->tables_cap) {
		size_t tc = t->tables_cap ? t->tables_cap * 2 : 8;
		uint32_t **tables = realloc(t->tables, tc * sizeof(*tables));

		if (tables == NULL)
			return -ENOMEM;
		t->tables = tables;
		t->tables_cap = tc;
	}
	slots = calloc(cap, sizeof(*slots));
	if (slots == NULL)
		return -ENOMEM;
	t->tables[t->ntables++] = slots;
	c = o + 1;
	for (uint32_t k = 0; k < o->len; k++, c += c->size) {
		uint32_t h = name_hash(c->key, c->klen) & (cap - 1), probes = 0;

		while (slots[h] != 0) {
			if (same_name(o + slots[h], c->key, c->klen) || (strict && ++probes > PROBES_MAX))
				return -EINVAL;
			h = (h + 1) & (cap - 1);
		}
		slots[h] = (uint32_t)(c - o);
	}
	o->slots = slots;
	o->mask = cap - 1;
	return 0;
}

/* --- the fast parser --- */

/* Past the white space at ps->i: indentation eight spaces at a time, the rest byte by byte. */
static void
skip_space_run(struct parser *ps)
{
	const uint64_t spaces = 0x2020202020202020ULL;
	const unsigned char *p = ps->p;
	size_t i = ps->i;

	while (i < ps->len && text_is_space(p[i])) {
		uint64_t v;

		if (ps->len - i < 8 || p[i] != ' ') {
			i++;
			continue;
		}
		memcpy(&v, p + i, 8);
		v ^= spaces;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
		i += v == 0 ? 8 : (size_t)__builtin_ctzll(v) / 8;	/* the spaces among the eight */
#else
		i += v == 0 ? 8 : 1;
#endif
	}
	ps->i = i;
}

/* White space between tokens: most often none at all. */
static inline void
skip_space(struct parser *ps)
{
	if (ps->i < ps->len && text_is_space(ps->p[ps->i]))
		skip_space_run(ps);
}

static int
hex4(const unsigned char *p, unsigned *out)
{
	unsigned v = 0;

	for (int k = 0; k < 4; k++) {
		unsigned c = p[k], d;

		if (c >= '0' && c <= '9')
			d = c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			d = (c | 0x20) - 'a' + 10;
		else
			return -1;
		v = v * 16 + d;
	}
	*out = v;
	return 0;
}

/*
 * Room in t->text for the decoded strings of the body being parsed: its
 * length is enough for all of them, so the buffer is had once per body and
 * never moves while strings point into it.
 */
static int
text_room(struct parser *ps)
{
	struct jtree *t = ps->t;

	if (t->text == NULL || t->text_cap < ps->len) {
		/* no string decodes longer than its escaped form */
		free(t->text);
		t->text = malloc(ps->len);
		if (t->text == NULL)
			return -ENOMEM;
		t->text_cap = ps->len;
	}
	return 0;
}

/*
 * The string whose bytes start at start (after its opening quote), once
 * parse_string() met its first escape at ps->i: decoded into t->text.  *s
 * and *len are where it went.
 */
static int
string_decoded(struct parser *ps, size_t start, const char **s, size_t *len)
{
	const unsigned char *p = ps->p;
	struct jtree *t = ps->t;
	size_t i = ps->i;
	char *d, *begin;

	if (text_room(ps) != 0)
		return -ENOMEM;
	begin = d = t->text + t->text_len;
	memcpy(d, p + start, i - start);
	d += i - start;
	for (;;) {
		size_t end = text_json_run(p, i, ps->len, true, true);
		unsigned cp, lo;

		memcpy(d, p + i, end - i);
		d += end - i;
		i = end;
		if (i == ps->len || p[i] < 0x20)
			return -EINVAL;
		if (p[i] == '"')
			break;
		if (p[i] >= 0x80) {
			size_t n = text_utf8_seq(p + i, ps->len - i);

			if (n == 0)
				return -EINVAL;
			memcpy(d, p + i, n);
			d += n;
			i += n;
			continue;
		}
		/* a backslash */
		if (ps->len - i < 2)
			return -EINVAL;
		switch (p[i + 1]) {
		case '"': *d++ = '"'; break;
		case '\\': *d++ = '\\'; break;
		case '/': *d++ = '/'; break;
		case 'b': *d++ = '\b'; break;
		case 'f': *d++ = '\f'; break;
		case 'n': *d++ = '\n'; break;
		case 'r': *d++ = '\r'; break;
		case 't': *d++ = '\t'; break;
		case 'u':
			if (ps->len - i < 6 || hex4(p + i + 2, &cp) != 0)
				return -EINVAL;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return -EINVAL;	/* a lone low surrogate */
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (ps->len - i < 12 || p[i + 6] != '\\' || p[i + 7] != 'u' ||
				    hex4(p + i + 8, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
					return -EINVAL;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				i += 6;
			}
			if (cp == 0) {
				/* left out, as normalize.c's prepare_body() leaves it out for json-c */
			} else if (cp < 0x80) {
				*d++ = (char)cp;
			} else if (cp < 0x800) {
				*d++ = (char)(0xc0 | cp >> 6);
				*d++ = (char)(0x80 | (cp & 0x3f));
			} else if (cp < 0x10000) {
				*d++ = (char)(0xe0 | cp >> 12);
				*d++ = (char)(0x80 | ((cp >> 6) & 0x3f));
				*d++ = (char)(0x80 | (cp & 0x3f));
			} else {
				*d++ = (char)(0xf0 | cp >> 18);
				*d++ = (char)(0x80 | ((cp >> 12) & 0x3f));
				*d++ = (char)(0x80 | ((cp >> 6) & 0x3f));
				*d++ = (char)(0x80 | (cp & 0x3f));
			}
			i += 4;
			break;
		default:
			return -EINVAL;
		}
		i += 2;
	}
	ps->i = i + 1;
	*s = begin;
	*len = (size_t)(d - begin);
	t->text_len += *len;
	return 0;
}

/*
 * The string at ps->i (its opening quote): its bytes in the body itself
 * when it has no escape (then *plain is true: nothing in it needs one).
 */
static int
parse_string(struct parser *ps, const char **s, size_t *len, bool *plain)
{
	const unsigned char *p = ps->p;
	size_t start = ps->i + 1, i = start;

	for (;;) {
		i = text_json_run(p, i, ps->len, true, true);
		if (i == ps->len || p[i] < 0x20)
			return -EINVAL;
		if (p[i] == '"')
			break;
		if (p[i] == '\\') {
			ps->i = i;
			*plain = false;
			return string_decoded(ps, start, s, len);
		}
		/* non-ASCII */
		{
			size_t n = text_utf8_seq(p + i, ps->len - i);

			if (n == 0)
				return -EINVAL;
			i += n;
		}
	}
	*s = (const char *)p + start;
	*len = i - start;
	*plain = true;
	ps->i = i + 1;
	return 0;
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* A number as RFC 8259 writes it: an integer of at most FAST_DIGITS digits, or a double with its text. */
static int
parse_number(struct parser *ps, struct jnode *nd)
{
	const unsigned char *p = ps->p;
	size_t start = ps->i, i = start, digits;
	bool negative = false, dbl = false;

	if (p[i] == '-') {
		negative = true;
		i++;
	}
	if (i == ps->len || !is_digit(p[i]))
		return -EINVAL;
	if (p[i] == '0') {
		i++;
	} else {
		while (i < ps->len && is_digit(p[i]))
			i++;
	}
	digits = i - start - negative;
	if (i < ps->len && p[i] == '.') {
		dbl = true;
		if (++i == ps->len || !is_digit(p[i]))
			return -EINVAL;
		while (i < ps->len && is_digit(p[i]))
			i++;
	}
	if (i < ps->len && (p[i] == 'e' || p[i] == 'E')) {
		dbl = true;
		i++;
		if (i < ps->len && (p[i] == '+' || p[i] == '-'))
			i++;
		if (i == ps->len || !is_digit(p[i]))
			return -EINVAL;
		while (i < ps->len && is_digit(p[i]))
			i++;
	}
	ps->i = i;
	if (dbl) {
		char text[NUMBER_MAX + 1], *end;

		if (i - start > NUMBER_MAX)
			return -EINVAL;
		nd->s = (const char *)p + start;
		nd->len = (uint32_t)(i - start);
		memcpy(text, p + start, i - start);
		text[i - start] = '\0';
		nd->type = JT_DOUBLE;
		nd->v.d = strtod(text, &end);	/* json-c's own reading of it */
		return end == text + (i - start) ? 0 : -EINVAL;
	}
	if (digits > FAST_DIGITS)
		return -EINVAL;
	nd->type = JT_INT;
	nd->v.i = 0;
	for (size_t k = start + negative; k < i; k++)
		nd->v.i = nd->v.i * 10 + (p[k] - '0');
	if (negative)
		nd->v.i = -nd->v.i;
	return 0;
}

static int parse_value(struct parser *ps, const char *key, size_t klen, bool kplain, int depth);

/* The members (close is '}') or elements (']') of the container whose first byte is at ps->i, node at. */
static int
parse_container(struct parser *ps, size_t at, int depth, unsigned char close)
{
	uint32_t count = 0;
	int rc;

	ps->i++;
	skip_space(ps);
	if (ps->i < ps->len && ps->p[ps->i] == close) {
		ps->i++;
		return 0;
	}
	for (;;) {
		const char *key = NULL;
		size_t klen = 0;
		bool kplain = false;

		if (close == '}') {
			if (ps->i == ps->len || ps->p[ps->i] != '"')
				return -EINVAL;
			rc = parse_string(ps, &key, &klen, &kplain);
			if (rc != 0)
				return rc;
			skip_space(ps);
			if (ps->i == ps->len || ps->p[ps->i] != ':')
				return -EINVAL;
			ps->i++;
		}
		rc = parse_value(ps, key, klen, kplain, depth + 1);
		if (rc != 0)
			return rc;
		count++;
		skip_space(ps);
		if (ps->i == ps->len)
			return -EINVAL;
		if (ps->p[ps->i] == close)
			break;
		if (ps->p[ps->i] != ',')
			return -EINVAL;
		ps->i++;
		skip_space(ps);
	}
	ps->i++;
	ps->t->nodes[at].len = count;
	ps->t->nodes[at].size = (uint32_t)(ps->t->n - at);
	return close == '}' ? object_index(ps->t, at, true) : 0;
}

static int
literal(struct parser *ps, const char *word, size_t n)
{
	if (ps->len - ps->i < n || memcmp(ps->p + ps->i, word, n) != 0)
		return -EINVAL;
	ps->i += n;
	return 0;
}

/* One value at ps->i (after white space), a member named key (klen bytes; kplain: JPLAIN_KEY) when key is set. */
static int
parse_value(struct parser *ps, const char *key, size_t klen, bool kplain, int depth)
{
	size_t at;
	struct jnode *nd;
	const char *s;
	size_t len;
	bool plain;
	int rc;

	if (depth > FAST_DEPTH)
		return -EINVAL;
	skip_space(ps);
	if (ps->i == ps->len)
		return -EINVAL;
	at = node_new(ps->t, JT_NULL, key, klen);
	if (at == SIZE_MAX)
		return -ENOMEM;
	nd = &ps->t->nodes[at];
	nd->plain = kplain ? JPLAIN_KEY : 0;
	switch (ps->p[ps->i]) {
	case '{':
		nd->type = JT_OBJECT;
		return parse_container(ps, at, depth, '}');
	case '[':
		nd->type = JT_ARRAY;
		return parse_container(ps, at, depth, ']');
	case '"':
		rc = parse_string(ps, &s, &len, &plain);
		if (rc != 0)
			return rc;
		nd = &ps->t->nodes[at];
		nd->type = JT_STRING;
		nd->s = s;
		nd->len = (uint32_t)len;
		nd->plain |= plain ? JPLAIN_S : 0;
		return 0;
	case 't':
		nd->type = JT_BOOL;
		nd->v.b = true;
		return literal(ps, "true", 4);
	case 'f':
		nd->type = JT_BOOL;
		nd->v.b = false;
		return literal(ps, "false", 5);
	case 'n':
		return literal(ps, "null", 4);
	default:
		return parse_number(ps, nd);
	}
}

/* Parse a document; see jtree.h. */
int
jtree_parse(struct jtree *t, const char *s, size_t len)
{
	struct parser ps = { t, (const unsigned char *)s, 0, len };
	int rc;

	jtree_reset(t);
	if (len > UINT32_MAX)
		return -EINVAL;
	/* json-c reads a scalar at the end of its input as unfinished: those are its own */
	skip_space(&ps);
	if (ps.i == len || (ps.p[ps.i] != '{' && ps.p[ps.i] != '['))
		return -EINVAL;
	if (t->cap < len / 16) {
		/* about as many nodes as a run's body has: fewer copies while it grows */
		struct jnode *nodes = realloc(t->nodes, len / 16 * sizeof(*nodes));

		if (nodes == NULL)
			return -ENOMEM;
		t->nodes = nodes;
		t->cap = len / 16;
	}
	rc = parse_value(&ps, NULL, 0, false, 0);
	if (rc == 0) {
		skip_space(&ps);
		if (ps.i != len)
			rc = -EINVAL;
	}
	if (rc != 0)
		jtree_reset(t);
	return rc;
}

/* --- json-c's trees --- */

static int
from_json_c(struct jtree *t, json_object *o, const char *key)
{
	size_t at = node_new(t, JT_NULL, key, key != NULL ? strlen(key) : 0);
	struct jnode *nd;
	uint32_t count = 0;

	if (at == SIZE_MAX)
		return -ENOMEM;
	nd = &t->nodes[at];
	switch (json_object_get_type(o)) {
	case json_type_null:
		return 0;
	case json_type_boolean:
		nd->type = JT_BOOL;
		nd->v.b = json_object_get_boolean(o);
		return 0;
	case json_type_int:
		nd->type = JT_INT;
		nd->v.i = json_object_get_int64(o);
		return 0;
	case json_type_double:
		nd->type = JT_DOUBLE;
		nd->v.d = json_object_get_double(o);
		nd->s = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);	/* the text as parsed */
		if (nd->s == NULL)
			return -ENOMEM;
		nd->len = (uint32_t)strlen(nd->s);
		return 0;
	case json_type_string:
		nd->type = JT_STRING;
		nd->s = json_object_get_string(o);
		nd->len = (uint32_t)json_object_get_string_len(o);
		return 0;
	case json_type_array:
		nd->type = JT_ARRAY;
		for (size_t i = 0; i < json_object_array_length(o); i++) {
			if (from_json_c(t, json_object_array_get_idx(o, i), NULL) != 0)
				return -ENOMEM;
			count++;
		}
		break;
	case json_type_object:
		nd->type = JT_OBJECT;
		json_object_object_foreach(o, k, v) {
			if (from_json_c(t, v, k) != 0)
				return -ENOMEM;
			count++;
		}
		break;
	}
	t->nodes[at].len = count;
	t->nodes[at].size = (uint32_t)(t->n - at);
	/* json-c's names are unique: object_index() finds no duplicate, and is not strict */
	return t->nodes[at].type == JT_OBJECT && object_index(t, at, false) != 0 ? -ENOMEM : 0;
}

int
jtree_from_json_c(struct jtree *t, json_object *o)
{
	int rc;

	jtree_reset(t);
	rc = from_json_c(t, o, NULL);
	if (rc != 0)
		jtree_reset(t);
	return rc;
}

/* --- reading --- */

const struct jnode *
jtree_member(const struct jnode *o, const char *key, size_t klen)
{
	const struct jnode *c;

	if (o == NULL || o->type != JT_OBJECT)
		return NULL;
	if (o->slots != NULL) {
		uint32_t h = name_hash(key, klen) & o->mask;

		for (; o->slots[h] != 0; h = (h + 1) & o->mask) {
			if (same_name(o + o->slots[h], key, klen))
				return o + o->slots[h];
		}
		return NULL;
	}
	c = o + 1;
	for (uint32_t k = 0; k < o->len; k++, c += c->size) {
		if (same_name(c, key, klen))
			return c;
	}
	return NULL;
}

bool
jtree_equal(const struct jnode *a, const struct jnode *b)
{
	const struct jnode *c, *d;

	if (a != NULL && a->type == JT_NULL)
		a = NULL;
	if (b != NULL && b->type == JT_NULL)
		b = NULL;
	if (a == b)
		return true;
	if (a == NULL || b == NULL || a->type != b->type)
		return false;
	switch (a->type) {
	case JT_BOOL:
		return a->v.b == b->v.b;
	case JT_INT:
		return a->v.i == b->v.i;
	case JT_DOUBLE:
		return a->v.d == b->v.d;
	case JT_STRING:
		return a->len == b->len && memcmp(a->s, b->s, a->len) == 0;
	case JT_ARRAY:
		if (a->len != b->len)
			return false;
		c = a + 1;
		d = b + 1;
		for (uint32_t k = 0; k < a->len; k++, c += c->size, d += d->size) {
			if (!jtree_equal(c, d))
				return false;
		}
		return true;
	case JT_OBJECT:
		/* names are unique in both: the same count and every member of a in b is enough */
		if (a->len != b->len)
			return false;
		c = a + 1;
		for (uint32_t k = 0; k < a->len; k++, c += c->size) {
			d = jtree_member(b, c->key, c->klen);
			if (d == NULL || !jtree_equal(c, d))
				return false;
		}
		return true;
	}
	return false;
}

bool
jtree_truthy(const struct jnode *v)
{
	if (v == NULL)
		return false;
	switch (v->type) {
	case JT_BOOL:
		return v->v.b;
	case JT_INT:
		return v->v.i != 0;
	case JT_DOUBLE:
		return v->v.d != 0;
	case JT_STRING:
		return v->len != 0;
	default:
		return false;
	}
}

/* Whether len bytes at s hold nothing JSON escapes. */
static bool
is_plain(const char *s, size_t len)
{
	return text_json_run((const unsigned char *)s, 0, len, true, false) == len;
}

bool
jtree_same(const struct jtree *a, const struct jtree *b)
{
	if (a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++) {
		const struct jnode *x = &a->nodes[i];

		if (((x->plain & JPLAIN_S) && !is_plain(x->s, x->len)) ||
		    ((x->plain & JPLAIN_KEY) && !is_plain(x->key, x->klen)))
			return false;
	}
	for (size_t i = 0; i < a->n; i++) {
		const struct jnode *x = &a->nodes[i], *y = &b->nodes[i];

		if (x->type != y->type || x->len != y->len || x->size != y->size || (x->key == NULL) != (y->key == NULL) ||
		    x->klen != y->klen || (x->klen > 0 && memcmp(x->key, y->key, x->klen) != 0))
			return false;
		if ((x->type == JT_STRING || x->type == JT_DOUBLE) && x->len > 0 && memcmp(x->s, y->s, x->len) != 0)
			return false;
		if ((x->type == JT_INT && x->v.i != y->v.i) || (x->type == JT_BOOL && x->v.b != y->v.b) ||
		    (x->type == JT_DOUBLE && memcmp(&x->v.d, &y->v.d, sizeof(x->v.d)) != 0))
			return false;
	}
	return true;
}

/* --- memory --- */

void
jtree_reset(struct jtree *t)
{
	for (size_t i = 0; i < t->ntables; i++)
		free(t->tables[i]);
	t->ntables = 0;
	t->n = 0;
	t->text_len = 0;
}

void
jtree_free(struct jtree *t)
{
	if (t == NULL)
		return;
	jtree_reset(t);
	free(t->nodes);
	free(t->tables);
	free(t->text);
	*t = (struct jtree)JTREE_INIT;
}
