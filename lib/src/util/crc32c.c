/*
 * CRC-32C, reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF
 * (shared/spec/index_sstable.md). Slicing-by-8 tables for the portable path;
 * the SSE4.2 crc32 instruction when cpuid says the CPU has it.
 */
#include "util/crc32c_int.h"

#include <pthread.h>
#include <string.h>

static uint32_t table[8][256];
static int have_hw;
static pthread_once_t once = PTHREAD_ONCE_INIT;

/*
 * Combining CRCs (as zlib's crc32_combine): crc(A || B) is crc(A) times
 * x^(8 |B|) mod P, xor crc(B), in the reflected bit order.
 */
static uint32_t multmodp(uint32_t a, uint32_t b)
{
	uint32_t m = 1u << 31, p = 0;

	for (;;) {
		if (a & m) {
			p ^= b;
			if ((a & (m - 1)) == 0)
				break;
		}
		m >>= 1;
		b = b & 1 ? (b >> 1) ^ 0x82F63B78u : b >> 1;
	}
	return p;
}

/* x^(2^k) mod P for k = 0..63, set by init(): x^m for any m is the
 * product of the entries of m's bits. */
static uint32_t x2k[64];

/* x^(8n) mod P: the operator that appends n zero bytes. */
static uint32_t x8nmodp(uint64_t n)
{
	uint32_t x = 1u << 31; /* x^0 */
	unsigned k = 3;	       /* 8n = n << 3 */
	while (n && k < 64) {
		if (n & 1)
			x = multmodp(x2k[k], x);
		n >>= 1;
		k++;
	}
	return x;
}

#if defined(__x86_64__)
/* Three interleaved streams hide the crc32 instruction's latency. */
#define STRIPE 8192
static uint32_t stripe_shift; /* x^(8 * STRIPE) mod P, set by init() */
#endif

static void init(void)
{
	for (uint32_t i = 0; i < 256; i++) {
		uint32_t c = i;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
		table[0][i] = c;
	}
	for (int t = 1; t < 8; t++)
		for (int i = 0; i < 256; i++)
			table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
	x2k[0] = 1u << 30; /* x^1 */
	for (int k = 1; k < 64; k++)
		x2k[k] = multmodp(x2k[k - 1], x2k[k - 1]);
#if defined(__x86_64__)
	stripe_shift = x8nmodp(STRIPE);
#endif
#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	have_hw = __builtin_cpu_supports("sse4.2");
#endif
}

uint32_t ckpt__crc32c_extend_table(uint32_t crc, const void *data, size_t n)
{
	const unsigned char *p = data;
	uint32_t c = ~crc;

	pthread_once(&once, init);
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		/* little-endian load; the table method assumes it */
		uint32_t lo = c ^ (uint32_t)w;
		uint32_t hi = (uint32_t)(w >> 32);
		c = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^
		    table[4][lo >> 24] ^ table[3][hi & 0xff] ^ table[2][(hi >> 8) & 0xff] ^
		    table[1][(hi >> 16) & 0xff] ^ table[0][hi >> 24];
		p += 8;
		n -= 8;
	}
	while (n--)
		c = table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
	return ~c;
}

#if defined(__x86_64__)

__attribute__((target("sse4.2"))) static uint32_t extend_hw(uint32_t crc, const unsigned char *p,
							    size_t n)
{
	uint64_t c = ~crc;

	while (n >= 3 * STRIPE) {
		uint64_t c1 = 0xffffffffu, c2 = 0xffffffffu;
		for (size_t k = 0; k < STRIPE; k += 8) {
			uint64_t w0, w1, w2;
			memcpy(&w0, p + k, 8);
			memcpy(&w1, p + STRIPE + k, 8);
			memcpy(&w2, p + 2 * STRIPE + k, 8);
			c = __builtin_ia32_crc32di(c, w0);
			c1 = __builtin_ia32_crc32di(c1, w1);
			c2 = __builtin_ia32_crc32di(c2, w2);
		}
		/* finished CRCs of the three stripes, then combined */
		uint32_t a = ~(uint32_t)c, b = ~(uint32_t)c1, d = ~(uint32_t)c2;
		a = multmodp(stripe_shift, a) ^ b;
		a = multmodp(stripe_shift, a) ^ d;
		c = ~a;
		p += 3 * STRIPE;
		n -= 3 * STRIPE;
	}
	while (n >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		c = __builtin_ia32_crc32di(c, w);
		p += 8;
		n -= 8;
	}
	uint32_t c32 = (uint32_t)c;
	while (n--)
		c32 = __builtin_ia32_crc32qi(c32, *p++);
	return ~c32;
}
#endif

uint32_t ckpt__crc32c_extend(uint32_t crc, const void *data, size_t n)
{
	pthread_once(&once, init);
#if defined(__x86_64__)
	if (have_hw)
		return extend_hw(crc, data, n);
#endif
	return ckpt__crc32c_extend_table(crc, data, n);
}

int ckpt__crc32c_hw(void)
{
	pthread_once(&once, init);
	return have_hw;
}

uint32_t ckpt__crc32c_combine(uint32_t crc_a, uint32_t crc_b, uint64_t len_b)
{
	pthread_once(&once, init);
	return multmodp(x8nmodp(len_b), crc_a) ^ crc_b;
}
