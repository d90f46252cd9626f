/* PostgreSQL array literals of text values, for sending many rows as one parameter per column. */
#include <string.h>

#include "pgarray.h"

/* One element, double-quoted: only '"' and '\' need a backslash inside quotes (array_in). */
static int
append_element(struct buf *b, const char *v)
{
	int rc;

	if (v == NULL)
		return buf_append(b, "NULL", 4);
	rc = buf_append(b, "\"", 1);
	while (rc == 0 && *v != '\0') {
		size_t plain = strcspn(v, "\"\\");

		if (plain > 0)
			rc = buf_append(b, v, plain);
		v += plain;
		if (rc == 0 && *v != '\0') {
			char esc[2] = { '\\', *v };

			rc = buf_append(b, esc, 2);
			v++;
		}
	}
	return rc != 0 ? rc : buf_append(b, "\"", 1);
}

/* Append a text[] literal; see pgarray.h. */
int
pgarray_append(struct buf *b, const char *const *values, size_t n, size_t stride)
{
	int rc = buf_append(b, "{", 1);

	for (size_t i = 0; i < n && rc == 0; i++) {
		if (i > 0)
			rc = buf_append(b, ",", 1);
		if (rc == 0)
			rc = append_element(b, values[i * stride]);
	}
	return rc != 0 ? rc : buf_append(b, "}", 1);
}
