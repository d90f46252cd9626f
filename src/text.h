/* Small text helpers: UTF-8 that PostgreSQL and a log line accept. */
#ifndef EXTEND_SYNCD_TEXT_H
#define EXTEND_SYNCD_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Length of the well-formed UTF-8 sequence (RFC 3629) at p, of at most n bytes, or 0 when it is not one. */
size_t text_utf8_seq(const unsigned char *p, size_t n);

/* JSON's white space. */
static inline bool
text_is_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/*
 * The end of the bytes from s[i] that a JSON string holds as they are: up
 * to a '"' or a '\\', or a control character (below 0x20) when control, or
 * a non-ASCII byte (for a check of its sequence) when high.  Eight bytes at
 * a time: a zero byte in v ^ '"' or v ^ '\\' is one of those, and so on.
 * Each test can flag a byte above the first one it finds (a borrow), never
 * one below it, so the lowest flagged byte is the end (on a little-endian
 * machine the lowest bit; elsewhere the eight go byte by byte).
 */
static inline size_t
text_json_run(const unsigned char *s, size_t i, size_t len, bool control, bool high)
{
	const uint64_t ones = 0x0101010101010101ULL, top = 0x8080808080808080ULL;

	while (len - i >= 8) {
		uint64_t v, q, bs, stop;

		memcpy(&v, s + i, 8);
		q = v ^ (ones * '"');
		bs = v ^ (ones * '\\');
		stop = ((q - ones) & ~q) | ((bs - ones) & ~bs);
		if (control)
			stop |= (v - ones * 0x20) & ~v;
		if (high)
			stop |= v;
		stop &= top;
		if (stop != 0) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return i + (size_t)__builtin_ctzll(stop) / 8;
#else
			break;
#endif
		}
		i += 8;
	}
	while (i < len && s[i] != '"' && s[i] != '\\' && (!control || s[i] >= 0x20) && (!high || s[i] < 0x80))
		i++;
	return i;
}

/*
 * Copy src into dst (dstlen bytes, NUL-terminated) as valid UTF-8 on one
 * line: ill-formed bytes and control characters become '?' (tabs and
 * newlines a space), and a character the end would cut is left out whole.
 */
void text_clean(char *dst, size_t dstlen, const char *src);

#endif
