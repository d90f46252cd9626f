/* Small text helpers: UTF-8 that PostgreSQL and a log line accept. */
#include <string.h>

#include "text.h"

size_t
text_utf8_seq(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned char lo = 0x80, hi = 0xbf;

	if (n == 0)
		return 0;
	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;	/* no overlong forms */
		else if (p[0] == 0xed)
			hi = 0x9f;	/* no surrogates */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
		if (p[0] == 0xf0)
			lo = 0x90;
		else if (p[0] == 0xf4)
			hi = 0x8f;	/* nothing above U+10FFFF */
	} else {
		return 0;
	}
	if (n < len || p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++) {
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	}
	return len;
}

void
text_clean(char *dst, size_t dstlen, const char *src)
{
	const unsigned char *p = (const unsigned char *)src;
	size_t n = strlen(src), i = 0, j = 0;

	if (dstlen == 0)
		return;
	while (i < n) {
		size_t len = text_utf8_seq(p + i, n - i);

		if (len == 0 || (len == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
			if (j + 1 >= dstlen)
				break;
			dst[j++] = (p[i] == '\t' || p[i] == '\n' || p[i] == '\r') ? ' ' : '?';
			i++;
			continue;
		}
		if (j + len >= dstlen)
			break;
		memcpy(dst + j, p + i, len);
		i += len;
		j += len;
	}
	dst[j] = '\0';
}
