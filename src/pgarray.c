/* PostgreSQL array literals of text values, for sending many rows as one parameter per column. */
#include <string.h>

#include "pgarray.h"

/*
 * Append a text[] literal; see pgarray.h.  Two passes: the first measures
 * (lengths, quotes and backslashes), the buffer grows once, the second
 * copies, element by element with memcpy when nothing in it needs a
 * backslash.  Rows of a big run make literals of megabytes.
 */
int
pgarray_append(struct buf *b, const char *const *values, size_t n, size_t stride)
{
	size_t need = 2 + (n > 0 ? n - 1 : 0);
	char *d;
	int rc;

	for (size_t i = 0; i < n; i++) {
		const char *v = values[i * stride];

		if (v == NULL) {
			need += 4;
			continue;
		}
		need += 2;
		for (const char *e = v;; e++) {
			e += strcspn(e, "\"\\");
			if (*e == '\0') {
				need += (size_t)(e - v);
				break;
			}
			need++;		/* its backslash */
		}
	}
	rc = buf_reserve(b, need);
	if (rc != 0)
		return rc;
	d = b->data + b->len;
	*d++ = '{';
	for (size_t i = 0; i < n; i++) {
		const char *v = values[i * stride];

		if (i > 0)
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
	*d++ = '}';
	b->len = (size_t)(d - b->data);
	*d = '\0';
	return 0;
}
