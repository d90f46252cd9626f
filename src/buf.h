/* A growable byte buffer with a mandatory size cap (curl's dynbuf "toobig"). */
#ifndef EXTEND_SYNCD_BUF_H
#define EXTEND_SYNCD_BUF_H

#include <stddef.h>

struct buf {
	char *data;		/* always NUL-terminated once anything was added */
	size_t len;
	size_t cap;
	size_t max;		/* appending past this fails with -EFBIG */
};

/* An empty buffer that refuses to grow beyond max bytes. */
void buf_init(struct buf *b, size_t max);

/* Append n bytes; returns 0, -ENOMEM, or -EFBIG when the cap would be passed. */
int buf_append(struct buf *b, const void *p, size_t n) __attribute__((warn_unused_result));

int buf_append_str(struct buf *b, const char *s) __attribute__((warn_unused_result));

/* Forget the contents but keep the memory. */
void buf_reset(struct buf *b);

/* Hand the NUL-terminated contents to the caller (who frees them) and reset b. */
char *buf_steal(struct buf *b);

void buf_free(struct buf *b);

#endif
