/* PostgreSQL array literals of text values and COPY text rows, for sending many rows at once. */
#include <stdbool.h>
#include <string.h>

#include "pgarray.h"

/* The length of v once each of its bytes in special has a backslash before it. */
static size_t
escaped_len(const char *v, const char *special)
{
	size_t n = 0;

	for (const char *e = v;; e++) {
		e += strcspn(e, special);
		if (*e == '\0')
			return n + (size_t)(e - v);
		n++;
	}
}

/*
 * Append elements; see pgarray.h.  Two passes: the first measures
 * (lengths, quotes and backslashes), the buffer grows once, the second
 * copies, element by element with memcpy when nothing in it needs a
 * backslash.  Rows of a big run make literals of megabytes.
 */
int
pgarray_add(struct buf *b, const char *const *values, size_t n, size_t stride)
{
	/* a comma before each element but the literal's first */
	bool first = b->len > 0 && b->data[b->len - 1] == '{';
	size_t need = n - (first && n > 0 ? 1 : 0);
	char *d;
	int rc;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		const char *v = values[i * stride];

		if (v == NULL) {
			need += 4;
			continue;
		}
		need += 2 + escaped_len(v, "\"\\");
	}
	rc = buf_reserve(b, need);
	if (rc != 0)
		return rc;
	d = b->data + b->len;
	for (size_t i = 0; i < n; i++) {
		const char *v = values[i * stride];

		if (i > 0 || !first)
			*d++ = ',';
		if (v == NULL) {
			memcpy(d, "NULL", 4);
			d += 4;
			continue;
		}
		*d++ = '"';
		for (;;) {
			size_t plain = strcspn(v, "\"\\");

			memcpy(d, v, plain);
			d += plain;
			v += plain;
			if (*v == '\0')
				break;
			*d++ = '\\';
			*d++ = *v++;
		}
		*d++ = '"';
	}
	b->len = (size_t)(d - b->data);
	*d = '\0';
	return 0;
}

int
pgarray_append(struct buf *b, const char *const *values, size_t n, size_t stride)
{
	int rc = buf_append(b, "{", 1);

	if (rc == 0)
		rc = pgarray_add(b, values, n, stride);
	return rc != 0 ? rc : buf_append(b, "}", 1);
}

/* Append rows in COPY's text format; see pgarray.h.  Measured first, as pgarray_add(). */
int
pgcopy_append_rows(struct buf *b, const char *const *cells, size_t n, size_t ncols)
{
	static const char special[] = "\\\n\r\t";
	size_t need = 0, total = n * ncols;
	char *d;
	int rc;

	for (size_t i = 0; i < total; i++) {
		const char *v = cells[i];

		need++;		/* its tab, or the row's newline */
		need += v == NULL ? 2 : escaped_len(v, special);
	}
	rc = buf_reserve(b, need);
	if (rc != 0)
		return rc;
	d = b->data + b->len;
	for (size_t i = 0; i < total; i++) {
		const char *v = cells[i];

		if (v == NULL) {
			memcpy(d, "\\N", 2);
			d += 2;
		} else {
			for (;;) {
				size_t plain = strcspn(v, special);

				memcpy(d, v, plain);
				d += plain;
				v += plain;
				if (*v == '\0')
					break;
				*d++ = '\\';
				*d++ = *v == '\n' ? 'n' : *v == '\r' ? 'r' : *v == '\t' ? 't' : '\\';
				v++;
			}
		}
		*d++ = (i + 1) % ncols == 0 ? '\n' : '\t';
	}
	b->len = (size_t)(d - b->data);
	*d = '\0';
	return 0;
}
