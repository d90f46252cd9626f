/* A growable byte buffer with a mandatory size cap (curl's dynbuf "toobig"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

void
buf_init(struct buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

/* Make room for n more bytes and the NUL; see buf.h. */
int
buf_reserve_grow(struct buf *b, size_t n)
{
	if (n > b->max - b->len)
		return -EFBIG;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *d;

		while (cap < b->len + n + 1)
			cap *= 2;
		d = realloc(b->data, cap);
		if (d == NULL)
			return -ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	return 0;
}

/* The slow path of buf_append(); see buf.h. */
int
buf_append_grow(struct buf *b, const void *p, size_t n)
{
	int rc = buf_reserve_grow(b, n);

	if (rc != 0)
		return rc;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int
buf_append_str(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

void
buf_reset(struct buf *b)
{
	b->len = 0;
	if (b->data != NULL)
		b->data[0] = '\0';
}

char *
buf_steal(struct buf *b)
{
	char *d = b->data;

	if (d == NULL)
		d = calloc(1, 1);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return d;
}

void
buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b, b->max);
}
