/* SHA-256 (FIPS 180-4), for telling one stored snapshot from another. */
#ifndef EXTEND_SYNCD_SHA256_H
#define EXTEND_SYNCD_SHA256_H

#include <stddef.h>
#include <stdint.h>

struct sha256 {
	uint32_t h[8];
	uint64_t len;		/* bytes hashed so far */
	unsigned char block[64];
	size_t used;		/* bytes waiting in block */
};

void sha256_init(struct sha256 *c);
void sha256_update(struct sha256 *c, const void *p, size_t n);

/* The digest as 64 lower-case hex digits and a NUL into hex (65 bytes). */
void sha256_hex(struct sha256 *c, char hex[65]);

#endif
