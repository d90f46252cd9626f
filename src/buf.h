/* A growable byte buffer with a mandatory size cap (curl's dynbuf "toobig"). */
#ifndef EXTEND_SYNCD_BUF_H
#define EXTEND_SYNCD_BUF_H

#include <stddef.h>
#include <string.h>

struct buf {
	char *data;		/* always NUL-terminated once anything was added */
	size_t len;
	size_t cap;
	size_t max;		/* appending past this fails with -EFBIG */
};

/* An empty buffer that refuses to grow beyond max bytes. */
void buf_init(struct buf *b, size_t max);

/* buf_append() when the bytes do not fit the memory held: grows it. */
int buf_append_grow(struct buf *b, const void *p, size_t n) __attribute__((warn_unused_result));

/*
 * Append n bytes; returns 0, -ENOMEM, or -EFBIG when the cap would be
 * passed.  Inline, with the copy into memory already held as the fast path:
 * normalizing a run appends tens of thousands of small pieces.
 */
__attribute__((warn_unused_result)) static inline int
buf_append(struct buf *b, const void *p, size_t n)
{
	if (n < b->cap - b->len && n <= b->max - b->len) {
		if (n > 0)
			memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
		return 0;
	}
	return buf_append_grow(b, p, n);
}

/* buf_reserve() when the bytes do not fit the memory held: grows it. */
int buf_reserve_grow(struct buf *b, size_t n) __attribute__((warn_unused_result));

/*
 * Make room for n more bytes (and the NUL) without writing them, for a
 * writer that fills b->data + b->len itself and then adds to b->len.
 * Returns 0, -ENOMEM, or -EFBIG when the cap would be passed.  Inline
 * when they fit, as buf_append().
 */
__attribute__((warn_unused_result)) static inline int
buf_reserve(struct buf *b, size_t n)
{
	return n < b->cap - b->len && n <= b->max - b->len ? 0 : buf_reserve_grow(b, n);
}

int buf_append_str(struct buf *b, const char *s) __attribute__((warn_unused_result));

/* Forget the contents but keep the memory. */
void buf_reset(struct buf *b);

/* Hand the NUL-terminated contents to the caller (who frees them) and reset b. */
char *buf_steal(struct buf *b);

void buf_free(struct buf *b);

#endif
