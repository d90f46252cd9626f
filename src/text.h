/* Small text helpers: UTF-8 that PostgreSQL and a log line accept. */
#ifndef EXTEND_SYNCD_TEXT_H
#define EXTEND_SYNCD_TEXT_H

#include <stddef.h>

/* Length of the well-formed UTF-8 sequence (RFC 3629) at p, of at most n bytes, or 0 when it is not one. */
size_t text_utf8_seq(const unsigned char *p, size_t n);

/*
 * Copy src into dst (dstlen bytes, NUL-terminated) as valid UTF-8 on one
 * line: ill-formed bytes and control characters become '?' (tabs and
 * newlines a space), and a character the end would cut is left out whole.
 */
void text_clean(char *dst, size_t dstlen, const char *src);

#endif
