/* Internal: CRC-32C (Castagnoli) and LevelDB/TensorFlow masking. */
#ifndef CKPT_CRC32C_INT_H
#define CKPT_CRC32C_INT_H

#include <stddef.h>
#include <stdint.h>

/* Continue crc over data, as if data were appended to what crc covered.
 * Start a fresh CRC with crc = 0. Uses SSE4.2 when the CPU has it. */
uint32_t ckpt__crc32c_extend(uint32_t crc, const void *data, size_t n);

/* The CRC of A followed by B, from crc_a = CRC of A, crc_b = CRC of B and
 * len_b = the length of B (as zlib's crc32_combine): pieces of one byte
 * string checksummed in any order, put together. */
uint32_t ckpt__crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b);

/* The portable table implementation; the same results, for tests. */
uint32_t ckpt__crc32c_extend_table(uint32_t crc, const void *data, size_t n);

/* Non-zero when the hardware path is in use. */
int ckpt__crc32c_hw(void);

static inline uint32_t ckpt__crc32c_mask(uint32_t c)
{
	return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

static inline uint32_t ckpt__crc32c_unmask(uint32_t m)
{
	uint32_t r = m - 0xa282ead8u;
	return (r >> 17) | (r << 15);
}

#endif
