/*
 * Expected tensors of ckpt-gen's value patterns (tests/gen/ckpt-gen.c,
 * its top comment is the definition), computed from that definition, not
 * from ckpt-gen's code; and cutting a block out of a full tensor.
 * Header-only, shared by the writer and view tests.
 */
#ifndef CKPT_GENREF_H
#define CKPT_GENREF_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/dtype.h"

static inline void tu_put_le(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t k = 0; k < n; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

/* "iota" element i of dtype dt into p: half/bfloat16 bits built from the
 * integer's exponent and mantissa. */
static inline void tu_expect_iota(ckpt_dtype dt, uint64_t i, uint8_t *p)
{
	size_t es = ckpt_dtype_size(dt);
	float f;
	double d;
	uint32_t u32;
	uint64_t u64;

	switch (dt) {
	case CKPT_DT_BOOL: p[0] = (uint8_t)(i % 2); break;
	case CKPT_DT_HALF: {
		uint64_t k = i % 2048;
		int e = k ? 63 - __builtin_clzll(k) : 0;
		tu_put_le(p, k ? (uint64_t)(e + 15) << 10 | ((k << (10 - e)) & 0x3ff) : 0, 2);
		break;
	}
	case CKPT_DT_BFLOAT16: {
		uint64_t k = i % 256;
		int e = k ? 63 - __builtin_clzll(k) : 0;
		tu_put_le(p, k ? (uint64_t)(e + 127) << 7 | ((k << (7 - e)) & 0x7f) : 0, 2);
		break;
	}
	case CKPT_DT_FLOAT:
		f = (float)i;
		memcpy(&u32, &f, 4);
		tu_put_le(p, u32, 4);
		break;
	case CKPT_DT_DOUBLE:
		d = (double)i;
		memcpy(&u64, &d, 8);
		tu_put_le(p, u64, 8);
		break;
	case CKPT_DT_COMPLEX64:
		tu_expect_iota(CKPT_DT_FLOAT, i, p);
		f = -(float)i;
		memcpy(&u32, &f, 4);
		tu_put_le(p + 4, u32, 4);
		break;
	case CKPT_DT_COMPLEX128:
		tu_expect_iota(CKPT_DT_DOUBLE, i, p);
		d = -(double)i;
		memcpy(&u64, &d, 8);
		tu_put_le(p + 8, u64, 8);
		break;
	default: tu_put_le(p, i, es); break;
	}
}

/* The full "iota" tensor of n elements. Ownership: the caller frees. */
static inline uint8_t *tu_iota_tensor(ckpt_dtype dt, uint64_t n)
{
	size_t es = ckpt_dtype_size(dt);
	uint8_t *b = malloc(n * es + 1);
	ck_assert_ptr_nonnull(b);
	for (uint64_t i = 0; i < n; i++)
		tu_expect_iota(dt, i, b + i * es);
	return b;
}

/* "random:SEED": n splitmix64 stream bytes. Ownership: the caller frees. */
static inline uint8_t *tu_random_bytes(uint64_t seed, size_t n)
{
	uint8_t *b = malloc(n + 8);
	ck_assert_ptr_nonnull(b);
	for (size_t k = 0; k < n; k += 8) {
		uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		tu_put_le(b + k, z, 8);
	}
	return b;
}

/* The full "random:SEED" tensor of n elements (bool: byte & 1).
 * Ownership: the caller frees. */
static inline uint8_t *tu_random_tensor(ckpt_dtype dt, uint64_t n, uint64_t seed)
{
	size_t es = ckpt_dtype_size(dt);
	uint8_t *b = tu_random_bytes(seed, n * es);
	if (dt == CKPT_DT_BOOL)
		for (uint64_t i = 0; i < n; i++)
			b[i] &= 1;
	return b;
}

/* Copy the block (start, len) of the row-major tensor `full` (shape dims)
 * into a new buffer; *n_out gets its element count. Ownership: caller
 * frees. */
static inline uint8_t *tu_copy_block(const uint8_t *full, const int64_t *dims, int rank,
				     const int64_t *start, const int64_t *len, size_t es,
				     uint64_t *n_out)
{
	uint64_t n = 1;
	for (int d = 0; d < rank; d++)
		n *= (uint64_t)len[d];
	uint8_t *out = malloc((size_t)n * es + 1);
	ck_assert_ptr_nonnull(out);
	int64_t idx[16] = {0};
	for (uint64_t k = 0; k < n; k++) {
		uint64_t off = 0;
		for (int d = 0; d < rank; d++)
			off = off * (uint64_t)dims[d] + (uint64_t)(start[d] + idx[d]);
		memcpy(out + k * es, full + off * es, es);
		for (int d = rank - 1; d >= 0; d--) {
			if (++idx[d] < len[d])
				break;
			idx[d] = 0;
		}
	}
	*n_out = n;
	return out;
}

#endif
