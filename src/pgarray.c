/* PostgreSQL array literals of text values and COPY text rows, for sending many rows at once. */
#include <stdbool.h>
#include <string.h>

#include "pgarray.h"
#include "text.h"

/*
 * The bytes of v from i on (len in all), copied to d with a backslash
 * before each byte that needs one: '"' and '\\' in an array element
 * (copy false); '\\', newline, carriage return and tab, as \\ \n \r \t,
 * in a COPY cell (copy true).  The plain stretches between them are found
 * eight bytes at a time (text_json_run(), whose stop at '"' and at the
 * other control characters costs a COPY cell only a byte copied here).
 * Returns the number of bytes written; with d NULL, writes nothing and
 * returns the number it would write.
 */
static size_t
escape(char *d, const char *v, size_t i, size_t len, bool copy)
{
	const unsigned char *s = (const unsigned char *)v;
	size_t n = 0;

	while (i < len) {
		size_t end = text_json_run(s, i, len, copy, false);
		unsigned char c;

		if (d != NULL)
			memcpy(d + n, v + i, end - i);
		n += end - i;
		if (end == len)
			break;
		c = s[end];
		i = end + 1;
		if (copy && c != '\\' && c != '\n' && c != '\r' && c != '\t') {
			if (d != NULL)
				d[n] = (char)c;	/* '"' or another control character: itself */
			n++;
			continue;
		}
		if (d != NULL) {
			d[n] = '\\';
			d[n + 1] = (char)(!copy || c == '\\' ? c : c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
		}
		n += 2;
	}
	return n;
}

/*
 * One value: its length, then the stretch that needs no backslash (the
 * whole of almost every value), so the measure and the copy read it once;
 * only a value that has something to escape is measured again.  NULL is
 * written as it is, NULL or \\N.  It asks room for exactly what it writes
 * (the comma before it, the quotes, the end after it), so a value that
 * ends right at the cap still fits.
 */
static int
put_value(struct buf *b, const char *v, bool comma, bool copy, char end)
{
	bool null = v == NULL, quote = !null && !copy;
	size_t len, plain, body;
	char *d;
	int rc;

	if (null)
		v = copy ? "\\N" : "NULL";
	len = strlen(v);
	plain = null ? len : text_json_run((const unsigned char *)v, 0, len, copy, false);
	body = plain < len ? plain + escape(NULL, v, plain, len, copy) : len;
	rc = buf_reserve(b, body + 2 * quote + comma + (end != '\0'));
	if (rc != 0)
		return rc;
	d = b->data + b->len;
	if (comma)
		*d++ = ',';
	if (quote)
		*d++ = '"';
	memcpy(d, v, plain);
	d += plain;
	if (plain < len)
		d += escape(d, v, plain, len, copy);
	if (quote)
		*d++ = '"';
	if (end != '\0')
		*d++ = end;
	b->len = (size_t)(d - b->data);
	*d = '\0';
	return 0;
}

/* A failed append leaves b as it found it. */
static int
undo(struct buf *b, size_t len, int rc)
{
	b->len = len;
	if (b->data != NULL)
		b->data[len] = '\0';
	return rc;
}

/* Append elements; see pgarray.h.  Rows of a big run make literals of megabytes. */
int
pgarray_add(struct buf *b, const char *const *values, size_t n, size_t stride)
{
	/* a comma before each element but the literal's first */
	bool comma = !(b->len > 0 && b->data[b->len - 1] == '{');
	size_t len = b->len;

	for (size_t i = 0; i < n; i++) {
		int rc = put_value(b, values[i * stride], comma, false, '\0');

		if (rc != 0)
			return undo(b, len, rc);
		comma = true;
	}
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

/* Append rows in COPY's text format; see pgarray.h. */
int
pgcopy_append_rows(struct buf *b, const char *const *cells, size_t n, size_t ncols)
{
	size_t total = n * ncols, len = b->len;

	for (size_t i = 0; i < total; i++) {
		int rc = put_value(b, cells[i], false, true, (i + 1) % ncols == 0 ? '\n' : '\t');

		if (rc != 0)
			return undo(b, len, rc);
	}
	return 0;
}
