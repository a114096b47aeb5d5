/*
 * Internal: bounded decoding of varints and little-endian integers, checked
 * arithmetic, and a growable byte buffer for writers.
 *
 * Decoders never read past `end`; each returns 0 on success and -1 when the
 * input is truncated or malformed (the caller turns that into a ckpt_error
 * naming the file and offset).
 */
#ifndef CKPT_CODEC_INT_H
#define CKPT_CODEC_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline int ckpt__get_varint64(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
	const uint8_t *p = *pp;
	uint64_t v = 0;

	for (unsigned shift = 0; shift <= 63 && p < end; shift += 7) {
		uint8_t b = *p++;
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*pp = p;
			*out = v;
			return 0;
		}
	}
	return -1;
}

static inline int ckpt__get_varint32(const uint8_t **pp, const uint8_t *end, uint32_t *out)
{
	const uint8_t *p = *pp;
	uint32_t v = 0;

	for (unsigned shift = 0; shift <= 28 && p < end; shift += 7) {
		uint8_t b = *p++;
		v |= (uint32_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*pp = p;
			*out = v;
			return 0;
		}
	}
	return -1;
}

static inline uint32_t ckpt__load_le32(const void *p)
{
	const uint8_t *b = p;
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static inline uint64_t ckpt__load_le64(const void *p)
{
	const uint8_t *b = p;
	return (uint64_t)ckpt__load_le32(b) | (uint64_t)ckpt__load_le32(b + 4) << 32;
}

static inline void ckpt__store_le32(void *p, uint32_t v)
{
	uint8_t *b = p;
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}

static inline void ckpt__store_le64(void *p, uint64_t v)
{
	ckpt__store_le32(p, (uint32_t)v);
	ckpt__store_le32((uint8_t *)p + 4, (uint32_t)(v >> 32));
}

/* Encode v as a varint into out (at least 10 bytes); returns the length. */
static inline size_t ckpt__put_varint64(uint8_t *out, uint64_t v)
{
	size_t n = 0;
	while (v >= 0x80) {
		out[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	out[n++] = (uint8_t)v;
	return n;
}

/* Checked arithmetic: return non-zero on overflow. */
static inline int ckpt__mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_mul_overflow(a, b, out);
}

static inline int ckpt__add_u64(uint64_t a, uint64_t b, uint64_t *out)
{
	return __builtin_add_overflow(a, b, out);
}

/* A growable byte buffer. Ownership: the owner frees data with free(). */
typedef struct ckpt__buf {
	uint8_t *data;
	size_t len;
	size_t cap;
} ckpt__buf;

/* Room for n more bytes past len (len unchanged); 0 or CKPT_ENOMEM. */
int ckpt__buf_reserve(ckpt__buf *b, size_t n);
/* Append n bytes; returns 0 or CKPT_ENOMEM. */
int ckpt__buf_append(ckpt__buf *b, const void *p, size_t n);
int ckpt__buf_append_varint(ckpt__buf *b, uint64_t v);
int ckpt__buf_append_le32(ckpt__buf *b, uint32_t v);
void ckpt__buf_free(ckpt__buf *b);

#endif
