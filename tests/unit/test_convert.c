/*
 * dtype conversion (tf.cast rules, spec/casts.md).
 *
 * Expected values come from the spec, from hand calculation (noted where
 * not obvious; float16 ones were cross-checked with Python's struct 'e'),
 * or from the reference below, which rounds by scaling exact doubles and
 * works in long double: it shares no code with src/convert.c.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/convert.h"
#include "ckpt/dtype.h"
#include "ckpt/error.h"
#include "view/convert_int.h"
#include "testutil.h"

static uint32_t fb(float f)
{
	uint32_t u;
	memcpy(&u, &f, sizeof(u));
	return u;
}

static uint64_t db(double d)
{
	uint64_t u;
	memcpy(&u, &d, sizeof(u));
	return u;
}

static float bf(uint32_t u)
{
	float f;
	memcpy(&f, &u, sizeof(f));
	return f;
}

/* complex64 element: real part in the low 4 bytes */
static uint64_t c64(float re, float im)
{
	return fb(re) | (uint64_t)fb(im) << 32;
}

/* Little-endian element bytes from two 64-bit halves. */
static void put_elem(unsigned char *p, size_t size, uint64_t lo, uint64_t hi)
{
	for (size_t i = 0; i < size; i++)
		p[i] = (unsigned char)(i < 8 ? lo >> (8 * i) : hi >> (8 * (i - 8)));
}

static uint64_t get_le(const unsigned char *p, size_t size)
{
	uint64_t v = 0;
	for (size_t i = size; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

/* ck_assert reports its location on every call, which is too slow for
 * loops over millions of elements: this one reports only failures. */
#define CHECK(cond, ...)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			ck_abort_msg(__VA_ARGS__);                                                 \
	} while (0)

/* ---- reference ---- */

/* 2^e as a long double (|e| <= 200), from a table built by doubling. */
static long double p2(int e)
{
	static long double tab[401];

	if (tab[200] == 0) {
		tab[200] = 1.0L;
		for (int i = 1; i <= 200; i++) {
			tab[200 + i] = tab[199 + i] * 2.0L;
			tab[200 - i] = tab[201 - i] * 0.5L;
		}
	}
	if (e < -200 || e > 200)
		abort();
	return tab[200 + e];
}

/*
 * Bits of the binary format (width bits, mant mantissa bits, IEEE layout)
 * nearest to x, ties to even; overflow -> infinity; NaN -> quiet NaN with
 * only the top mantissa bit (TF's float16/bfloat16 NaN) and x's sign.
 */
static uint32_t ref_round(long double x, int width, int mant)
{
	const int bias = (1 << (width - 2 - mant)) - 1;
	const uint32_t inf = (uint32_t)((1 << (width - 1 - mant)) - 1) << mant;
	const uint32_t sign = signbit(x) ? UINT32_C(1) << (width - 1) : 0;

	if (isnan(x))
		return sign | inf | UINT32_C(1) << (mant - 1);
	long double a = x < 0 ? -x : x;
	if (isinf(a))
		return sign | inf;
	int e = 1 - bias; /* exponent of a, at least the smallest normal's */
	while (e <= bias && a >= p2(e + 1))
		e++;
	long double q = a * p2(mant - e); /* units of the last place */
	uint64_t k = q >= p2(62) ? UINT64_C(1) << 62 : (uint64_t)q;
	long double frac = q - (long double)k;
	if (frac > 0.5L || (frac == 0.5L && (k & 1)))
		k++;
	uint64_t bits = ((uint64_t)(e + bias - 1) << mant) + k;
	return sign | (bits >= inf ? inf : (uint32_t)bits);
}

/* Value of IEEE-layout bits (width, mant), NaN for NaNs. */
static long double ref_value(uint32_t bits, int width, int mant)
{
	const int bias = (1 << (width - 2 - mant)) - 1;
	const uint32_t emax = (UINT32_C(1) << (width - 1 - mant)) - 1;
	uint32_t e = bits >> mant & emax;
	uint32_t m = bits & ((UINT32_C(1) << mant) - 1);
	long double v;

	if (e == emax)
		v = m ? NAN : INFINITY;
	else if (e == 0)
		v = (long double)m * p2(1 - bias - mant);
	else
		v = (long double)(m | UINT32_C(1) << mant) * p2((int)e - bias - mant);
	return bits >> (width - 1) ? -v : v;
}

static int is_int_dtype(ckpt_dtype dt)
{
	switch (dt) {
	case CKPT_DT_BOOL:
	case CKPT_DT_HALF:
	case CKPT_DT_BFLOAT16:
	case CKPT_DT_FLOAT:
	case CKPT_DT_DOUBLE:
	case CKPT_DT_COMPLEX64:
	case CKPT_DT_COMPLEX128: return 0;
	default: return 1;
	}
}

static int is_signed_dtype(ckpt_dtype dt)
{
	return dt == CKPT_DT_INT8 || dt == CKPT_DT_INT16 || dt == CKPT_DT_INT32 ||
	       dt == CKPT_DT_INT64 || dt == CKPT_DT_QINT8 || dt == CKPT_DT_QINT16 ||
	       dt == CKPT_DT_QINT32;
}

static int is_complex_dtype(ckpt_dtype dt)
{
	return dt == CKPT_DT_COMPLEX64 || dt == CKPT_DT_COMPLEX128;
}

/* Component `part` (0 real, 1 imaginary) of the element at p. */
static long double ref_decode(ckpt_dtype dt, const unsigned char *p, int part)
{
	size_t size = ckpt_dtype_size(dt);

	if (is_complex_dtype(dt)) {
		dt = dt == CKPT_DT_COMPLEX64 ? CKPT_DT_FLOAT : CKPT_DT_DOUBLE;
		size /= 2;
		p += part * size;
	} else if (part) {
		return 0.0L;
	}
	uint64_t v = get_le(p, size);
	switch (dt) {
	case CKPT_DT_BOOL: return v != 0;
	case CKPT_DT_HALF: return ref_value((uint32_t)v, 16, 10);
	case CKPT_DT_BFLOAT16: return ref_value((uint32_t)v, 16, 7);
	case CKPT_DT_FLOAT: return ref_value((uint32_t)v, 32, 23);
	case CKPT_DT_DOUBLE: {
		double d;
		memcpy(&d, &v, sizeof(d));
		return d;
	}
	default:
		if (is_signed_dtype(dt) && v >> (8 * size - 1))
			return (long double)v - p2((int)(8 * size));
		return (long double)v;
	}
}

/* Bits of the integer dtype element for x (wrap if from_int, else
 * truncate and saturate, NaN -> 0). */
static uint64_t ref_int(long double x, ckpt_dtype dt, int from_int)
{
	int bits = (int)(8 * ckpt_dtype_size(dt));
	uint64_t mask = bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
	long double lo = is_signed_dtype(dt) ? -p2(bits - 1) : 0.0L;
	long double hi = is_signed_dtype(dt) ? p2(bits - 1) - 1 : p2(bits) - 1;
	uint64_t r;

	if (from_int)
		r = x < 0 ? 0 - (uint64_t)-x : (uint64_t)x;
	else if (isnan(x))
		r = 0;
	else if (x >= hi + 1)
		r = x < 0 ? 0 : (uint64_t)hi;
	else if (x <= lo - 1)
		r = lo < 0 ? 0 - (uint64_t)-lo : 0;
	else if (x < 0)
		r = 0 - (uint64_t)-x;
	else
		r = (uint64_t)x;
	return r & mask;
}

/* Encode component x of a dst element (real kinds: part 0 only). */
static void ref_encode(ckpt_dtype dt, long double x, int from_int, unsigned char *q, int part)
{
	size_t size = ckpt_dtype_size(dt);

	if (is_complex_dtype(dt)) {
		dt = dt == CKPT_DT_COMPLEX64 ? CKPT_DT_FLOAT : CKPT_DT_DOUBLE;
		size /= 2;
		q += part * size;
	}
	switch (dt) {
	case CKPT_DT_BOOL: *q = x != 0; return;
	case CKPT_DT_HALF: /* via float32, as the spec says */
		put_elem(q, 2, ref_round((float)x, 16, 10), 0);
		return;
	case CKPT_DT_BFLOAT16: put_elem(q, 2, ref_round((float)x, 16, 7), 0); return;
	case CKPT_DT_FLOAT: put_elem(q, 4, fb((float)x), 0); return;
	case CKPT_DT_DOUBLE: put_elem(q, 8, db((double)x), 0); return;
	default: put_elem(q, size, ref_int(x, dt, from_int), 0);
	}
}

/* ---- exact vectors ---- */

struct vec {
	int line;
	ckpt_dtype src, dst;
	uint64_t in, in_hi;
	uint64_t out, out_hi;
};

#define V(s, d, i, o)                                                                              \
	{                                                                                          \
		__LINE__, CKPT_DT_##s, CKPT_DT_##d, (i), 0, (o), 0                                 \
	}
#define V2(s, d, i, ih, o, oh)                                                                     \
	{                                                                                          \
		__LINE__, CKPT_DT_##s, CKPT_DT_##d, (i), (ih), (o), (oh)                           \
	}

static const uint64_t I64MIN = UINT64_C(0x8000000000000000);
static const uint64_t I64MAX = UINT64_C(0x7fffffffffffffff);

START_TEST(test_convert_vectors)
{
	const struct vec vecs[] = {
	    /* float -> bfloat16 (spec: TF 2.x, RNE, NaN 0x7fc0|sign) */
	    V(FLOAT, BFLOAT16, fb(1.00390625f), 0x3f80), /* tie, even */
	    V(FLOAT, BFLOAT16, fb(1.01171875f), 0x3f82), /* tie, up */
	    V(FLOAT, BFLOAT16, 0x3f80ffff, 0x3f81),
	    V(FLOAT, BFLOAT16, 0x3f7fffff, 0x3f80),
	    V(FLOAT, BFLOAT16, fb(3.14159265f), 0x4049),
	    V(FLOAT, BFLOAT16, fb(3.4e38f), 0x7f80),
	    V(FLOAT, BFLOAT16, fb(-3.4e38f), 0xff80),
	    V(FLOAT, BFLOAT16, 0x7f7fffff, 0x7f80),
	    V(FLOAT, BFLOAT16, fb(1e-40f), 0x0001),
	    V(FLOAT, BFLOAT16, fb(-1e-40f), 0x8001),
	    V(FLOAT, BFLOAT16, 0x00008000, 0x0000), /* subnormal tie */
	    V(FLOAT, BFLOAT16, 0x00018000, 0x0002),
	    V(FLOAT, BFLOAT16, fb(-0.0f), 0x8000),
	    V(FLOAT, BFLOAT16, 0x7f800000, 0x7f80),
	    V(FLOAT, BFLOAT16, 0xff800000, 0xff80),
	    V(FLOAT, BFLOAT16, 0x7fc00000, 0x7fc0),
	    V(FLOAT, BFLOAT16, 0xffc00000, 0xffc0),
	    V(FLOAT, BFLOAT16, 0x7f800001, 0x7fc0), /* payload low */
	    V(FLOAT, BFLOAT16, 0xff812345, 0xffc0),
	    V(FLOAT, BFLOAT16, 0x7fffffff, 0x7fc0),
	    /* float -> half (spec: Eigen float_to_half_rtne) */
	    V(FLOAT, HALF, fb(0.1f), 0x2e66),
	    V(FLOAT, HALF, fb(1.0f), 0x3c00),
	    V(FLOAT, HALF, fb(65504.0f), 0x7bff),
	    V(FLOAT, HALF, fb(65519.0f), 0x7bff),
	    V(FLOAT, HALF, fb(65520.0f), 0x7c00),
	    V(FLOAT, HALF, fb(-65520.0f), 0xfc00),
	    V(FLOAT, HALF, fb(65536.0f), 0x7c00),
	    V(FLOAT, HALF, fb(3e-8f), 0x0001),
	    V(FLOAT, HALF, fb(0x1p-25f), 0x0000), /* tie to even */
	    V(FLOAT, HALF, fb(-0x1p-25f), 0x8000),
	    V(FLOAT, HALF, fb(0x1.8p-25f), 0x0001),
	    V(FLOAT, HALF, fb(0x1p-24f), 0x0001),
	    V(FLOAT, HALF, fb(0x1.8p-24f), 0x0002), /* 1.5 ulp: tie */
	    V(FLOAT, HALF, fb(0x1.4p-23f), 0x0002), /* 2.5 ulp: tie */
	    V(FLOAT, HALF, fb(1023.0f * 0x1p-24f), 0x03ff),
	    V(FLOAT, HALF, fb(1023.5f * 0x1p-24f), 0x0400),
	    V(FLOAT, HALF, fb(0x1p-14f), 0x0400),
	    V(FLOAT, HALF, fb(2049.0f), 0x6800),
	    V(FLOAT, HALF, fb(2051.0f), 0x6802),
	    V(FLOAT, HALF, 0x00000001, 0x0000),
	    V(FLOAT, HALF, 0x80000001, 0x8000),
	    V(FLOAT, HALF, fb(-0.0f), 0x8000),
	    V(FLOAT, HALF, 0x7f800000, 0x7c00),
	    V(FLOAT, HALF, 0xff800000, 0xfc00),
	    V(FLOAT, HALF, 0x7fc00000, 0x7e00),
	    V(FLOAT, HALF, 0xffc00000, 0xfe00),
	    V(FLOAT, HALF, 0x7f800001, 0x7e00),
	    V(FLOAT, HALF, 0xffbfffff, 0xfe00),
	    /* half/bfloat16 -> float: exact, NaN payload kept */
	    V(HALF, FLOAT, 0x0001, fb(0x1p-24f)),
	    V(HALF, FLOAT, 0x03ff, fb(1023.0f * 0x1p-24f)),
	    V(HALF, FLOAT, 0x0400, 0x38800000),
	    V(HALF, FLOAT, 0x3555, fb(0.333251953125f)),
	    V(HALF, FLOAT, 0x7bff, fb(65504.0f)),
	    V(HALF, FLOAT, 0x8000, 0x80000000),
	    V(HALF, FLOAT, 0x7c00, 0x7f800000),
	    V(HALF, FLOAT, 0xfc00, 0xff800000),
	    V(HALF, FLOAT, 0x7e00, 0x7fc00000),
	    V(HALF, FLOAT, 0xfe00, 0xffc00000),
	    V(HALF, FLOAT, 0x7c01, 0x7f802000), /* signalling stays so */
	    V(BFLOAT16, FLOAT, 0x7f81, 0x7f810000),
	    V(BFLOAT16, FLOAT, 0x0001, 0x00010000),
	    V(BFLOAT16, FLOAT, 0xc049, 0xc0490000),
	    /* between the 16-bit types, via float */
	    V(HALF, BFLOAT16, 0x3c01, 0x3f80),
	    V(HALF, BFLOAT16, 0x0001, 0x3380),
	    V(HALF, BFLOAT16, 0x7e00, 0x7fc0),
	    V(HALF, BFLOAT16, 0xfc00, 0xff80),
	    V(BFLOAT16, HALF, 0x4780, 0x7c00), /* 65536 */
	    V(BFLOAT16, HALF, 0x477f, 0x7bf8), /* 65280 */
	    V(BFLOAT16, HALF, 0x3380, 0x0001),
	    V(BFLOAT16, HALF, 0xffc1, 0xfe00),
	    /* double -> float/half/bfloat16 (half, bf16 via float) */
	    V(DOUBLE, FLOAT, db(1e39), 0x7f800000),
	    V(DOUBLE, FLOAT, db(-1e39), 0xff800000),
	    V(DOUBLE, FLOAT, db(1 + 0x1p-24), 0x3f800000),
	    V(DOUBLE, FLOAT, db(1 + 0x1p-24 + 0x1p-50), 0x3f800001),
	    V(DOUBLE, FLOAT, db(-1e-50), 0x80000000),
	    V(DOUBLE, FLOAT, UINT64_C(0x7ff8000000000000), 0x7fc00000),
	    V(DOUBLE, FLOAT, UINT64_C(0xfff8000000000000), 0xffc00000),
	    /* double rounding: directly these would give 0x3c01, 0x7bff */
	    V(DOUBLE, HALF, db(1 + 0x1p-11 + 0x1p-40), 0x3c00),
	    V(DOUBLE, HALF, db(65519.9999999), 0x7c00),
	    V(DOUBLE, HALF, db(65519.99), 0x7bff),
	    V(DOUBLE, HALF, UINT64_C(0xfff0000000000001), 0xfe00),
	    V(DOUBLE, BFLOAT16, db(1 + 0x1p-8 + 0x1p-40), 0x3f80),
	    V(DOUBLE, BFLOAT16, db(1e39), 0x7f80),
	    V(DOUBLE, BFLOAT16, UINT64_C(0x7ff0000000000001), 0x7fc0),
	    V(DOUBLE, BFLOAT16, UINT64_C(0xfff8000000000000), 0xffc0),
	    /* integer -> floating, RNE; half/bf16 via float */
	    V(INT32, FLOAT, 16777217, 0x4b800000),
	    V(INT32, FLOAT, 16777219, 0x4b800002),
	    V(INT32, FLOAT, 0xffffffff, 0xbf800000),
	    V(INT64, FLOAT, I64MAX, 0x5f000000),
	    V(INT64, FLOAT, I64MIN, 0xdf000000),
	    V(UINT64, FLOAT, UINT64_MAX, 0x5f800000),
	    V(INT64, DOUBLE, (UINT64_C(1) << 53) + 1, db(0x1p53)),
	    V(UINT64, DOUBLE, UINT64_MAX, db(0x1p64)),
	    V(INT32, BFLOAT16, 257, 0x4380), /* tie, even */
	    V(INT32, BFLOAT16, 259, 0x4382),
	    V(INT32, BFLOAT16, 16842753, 0x4b80), /* 2^24+2^16+1: twice */
	    V(UINT8, BFLOAT16, 255, 0x437f),	  /* exact: 8 significant bits */
	    V(INT8, BFLOAT16, 0xff, 0xbf80),
	    V(INT32, HALF, 65504, 0x7bff),
	    V(INT32, HALF, 65520, 0x7c00),
	    V(INT32, HALF, 2049, 0x6800),
	    V(UINT16, HALF, 65535, 0x7c00),
	    V(INT16, HALF, 0x8000, 0xf800),
	    V(INT64, HALF, I64MIN, 0xfc00),
	    /* floating -> integer: truncate; NaN -> 0; saturate */
	    V(FLOAT, INT32, fb(2.7f), 2),
	    V(FLOAT, INT32, fb(-2.7f), 0xfffffffe),
	    V(FLOAT, INT32, fb(-0.9f), 0),
	    V(FLOAT, INT32, 0x7fc00000, 0),
	    V(FLOAT, INT32, 0xffc00000, 0),
	    V(FLOAT, INT32, 0x7f800000, 0x7fffffff),
	    V(FLOAT, INT32, 0xff800000, 0x80000000),
	    V(FLOAT, INT32, fb(3e9f), 0x7fffffff),
	    V(FLOAT, INT32, fb(-3e9f), 0x80000000),
	    V(FLOAT, INT32, fb(2147483520.0f), 0x7fffff80),
	    V(FLOAT, INT32, fb(2147483648.0f), 0x7fffffff),
	    V(FLOAT, INT32, fb(-2147483648.0f), 0x80000000),
	    V(FLOAT, INT8, fb(300.0f), 0x7f),
	    V(FLOAT, INT8, fb(-300.0f), 0x80),
	    V(FLOAT, INT8, fb(127.9f), 0x7f),
	    V(FLOAT, INT8, fb(-127.9f), 0x81),
	    V(FLOAT, INT8, fb(-128.9f), 0x80),
	    V(FLOAT, UINT8, fb(-1.5f), 0),
	    V(FLOAT, UINT8, fb(-0.5f), 0),
	    V(FLOAT, UINT8, fb(255.9f), 0xff),
	    V(FLOAT, UINT8, fb(256.0f), 0xff),
	    V(FLOAT, UINT8, 0x7fc00000, 0),
	    V(FLOAT, UINT8, 0xff800000, 0),
	    V(FLOAT, UINT8, 0x7f800000, 0xff),
	    V(FLOAT, INT16, fb(40000.0f), 0x7fff),
	    V(FLOAT, INT16, fb(-40000.0f), 0x8000),
	    V(FLOAT, UINT16, fb(70000.0f), 0xffff),
	    V(FLOAT, UINT16, fb(65535.5f), 0xffff),
	    V(FLOAT, UINT16, fb(-3.0f), 0),
	    V(FLOAT, UINT32, fb(4294967040.0f), 0xffffff00),
	    V(FLOAT, UINT32, fb(4294967296.0f), 0xffffffff),
	    V(FLOAT, UINT32, fb(-1.0f), 0),
	    V(FLOAT, INT64, 0x7f800000, I64MAX),
	    V(FLOAT, INT64, 0x5effffff, UINT64_C(0x7fffff8000000000)),
	    V(FLOAT, INT64, 0xdf000000, I64MIN),
	    V(FLOAT, UINT64, 0x5f800000, UINT64_MAX),
	    V(DOUBLE, INT32, db(2147483647.9), 0x7fffffff),
	    V(DOUBLE, INT32, db(2147483648.0), 0x7fffffff),
	    V(DOUBLE, INT32, db(-2147483648.9), 0x80000000),
	    V(DOUBLE, INT32, db(-2147483649.0), 0x80000000),
	    V(DOUBLE, INT64, db(1e20), I64MAX),
	    V(DOUBLE, INT64, db(-1e20), I64MIN),
	    V(DOUBLE, INT64, db(0x1p63), I64MAX),
	    V(DOUBLE, INT64, db(0x1p63 - 1024), UINT64_C(0x7ffffffffffffc00)),
	    V(DOUBLE, INT64, db(-0x1p63), I64MIN),
	    V(DOUBLE, INT64, UINT64_C(0xfff8000000000000), 0),
	    V(DOUBLE, UINT64, db(0x1p64), UINT64_MAX),
	    V(DOUBLE, UINT64, db(0x1p64 - 2048), UINT64_C(0xfffffffffffff800)),
	    V(DOUBLE, UINT64, db(-1.0), 0),
	    V(DOUBLE, UINT64, UINT64_C(0x7ff0000000000000), UINT64_MAX),
	    V(HALF, INT16, 0x7c00, 0x7fff),
	    V(HALF, INT16, 0x7bff, 0x7fff),
	    V(HALF, INT16, 0xfbff, 0x8000),
	    V(HALF, INT16, 0x7e00, 0),
	    V(HALF, UINT16, 0x7bff, 0xffe0),
	    V(HALF, UINT16, 0xbc00, 0),
	    V(BFLOAT16, INT32, 0x7fc0, 0),
	    V(BFLOAT16, INT32, 0x4f00, 0x7fffffff),
	    V(BFLOAT16, INT32, 0xcf00, 0x80000000),
	    V(BFLOAT16, INT32, 0x3fc0, 1),
	    V(BFLOAT16, UINT8, 0x4380, 0xff),
	    /* integer -> integer: two's-complement truncation */
	    V(INT32, INT8, 300, 0x2c),
	    V(INT32, UINT8, 0xffffffff, 0xff),
	    V(UINT8, INT8, 200, 0xc8),
	    V(INT64, INT32, UINT64_C(0x100000001), 1),
	    V(UINT64, INT64, UINT64_MAX, UINT64_MAX),
	    V(INT8, UINT64, 0xff, UINT64_MAX),
	    V(INT8, INT64, 0x80, UINT64_C(0xffffffffffffff80)),
	    V(UINT16, INT32, 0xffff, 0xffff),
	    V(INT16, UINT32, 0x8000, 0xffff8000),
	    V(UINT32, INT16, 0x12345678, 0x5678),
	    V(QINT8, INT8, 0x80, 0x80),
	    V(QUINT16, INT32, 0xffff, 0xffff),
	    V(QINT32, INT8, 0x1ff, 0xff),
	    V(INT32, QINT16, 0x18000, 0x8000),
	    V(QINT16, FLOAT, 0xffff, fb(-1.0f)),
	    /* bool */
	    V(FLOAT, BOOL, 0x7fc00000, 1),
	    V(FLOAT, BOOL, 0xffc00000, 1),
	    V(FLOAT, BOOL, fb(-0.0f), 0),
	    V(FLOAT, BOOL, fb(0.5f), 1),
	    V(FLOAT, BOOL, 0x00000001, 1),
	    V(INT32, BOOL, 256, 1),
	    V(INT64, BOOL, UINT64_C(0x100000000), 1),
	    V(UINT8, BOOL, 0, 0),
	    V(HALF, BOOL, 0x8000, 0),
	    V(HALF, BOOL, 0x0001, 1),
	    V(HALF, BOOL, 0x7e00, 1),
	    V(BOOL, INT32, 1, 1),
	    V(BOOL, INT32, 2, 1), /* any non-zero byte is true */
	    V(BOOL, INT32, 0, 0),
	    V(BOOL, FLOAT, 1, 0x3f800000),
	    V(BOOL, HALF, 1, 0x3c00),
	    V(BOOL, BFLOAT16, 1, 0x3f80),
	    V(BOOL, DOUBLE, 255, db(1.0)),
	    V(BOOL, INT64, 1, 1),
	    V(BOOL, BOOL, 2, 2), /* same dtype: bytes unchanged */
	    V(BOOL, COMPLEX64, 1, c64(1.0f, 0.0f)),
	    /* complex */
	    V(COMPLEX64, FLOAT, c64(1.5f, 2.5f), fb(1.5f)),
	    V(COMPLEX64, BOOL, c64(0.0f, 1.0f), 0), /* spec: real part */
	    V(COMPLEX64, BOOL, c64(NAN, 0.0f), 1),
	    V(COMPLEX64, INT32, c64(NAN, 1.0f), 0),
	    V(COMPLEX64, HALF, c64(70000.0f, 0.0f), 0x7c00),
	    V(COMPLEX64, DOUBLE, c64(0.1f, 7.0f), db((double)0.1f)),
	    V(COMPLEX64, COMPLEX64, c64(-NAN, 2.0f), c64(-NAN, 2.0f)),
	    V2(COMPLEX64, COMPLEX128, c64(1.5f, -2.5f), 0, db(1.5), db(-2.5)),
	    V2(COMPLEX128, COMPLEX64, db(1 + 0x1p-24), db(1e39), c64(1.0f, INFINITY), 0),
	    V2(COMPLEX128, INT16, db(-3.7), db(9.0), 0xfffd, 0),
	    V2(COMPLEX128, UINT8, db(-1.0), 0, 0, 0),
	    V2(COMPLEX128, BFLOAT16, UINT64_C(0xfff8000000000000), db(1.0), 0xffc0, 0),
	    V2(FLOAT, COMPLEX128, fb(3.0f), 0, db(3.0), 0),
	    V2(UINT64, COMPLEX128, UINT64_MAX, 0, db(0x1p64), 0),
	    V(INT32, COMPLEX64, 0xfffffffb, c64(-5.0f, 0.0f)),
	    V(HALF, COMPLEX64, 0x3c00, c64(1.0f, 0.0f)),
	    V(HALF, COMPLEX64, 0xfe00, c64(-NAN, 0.0f)),
	};
	char report[4096] = "";
	size_t used = 0;
	int failed = 0;

	for (size_t v = 0; v < sizeof(vecs) / sizeof(vecs[0]); v++) {
		const struct vec *t = &vecs[v];
		size_t ss = ckpt_dtype_size(t->src), ds = ckpt_dtype_size(t->dst);
		unsigned char in[3 * 16 + 1], out[3 * 16 + 2], want[16];

		/* three copies at an odd address: blocked and tail paths */
		for (int k = 0; k < 3; k++)
			put_elem(in + 1 + k * ss, ss, t->in, t->in_hi);
		put_elem(want, ds, t->out, t->out_hi);
		memset(out, 0xaa, sizeof(out));
		ck_assert_int_eq(ckpt_convert(t->src, t->dst, in + 1, out + 1, 3), 0);
		for (int k = 0; k < 3; k++) {
			if (memcmp(out + 1 + k * ds, want, ds) == 0)
				continue;
			failed++;
			if (used < sizeof(report) - 100)
				used += (size_t)snprintf(
				    report + used, sizeof(report) - used,
				    " line %d: %s->%s got %016llx want "
				    "%016llx;",
				    t->line, ckpt_dtype_name(t->src), ckpt_dtype_name(t->dst),
				    (unsigned long long)get_le(out + 1 + k * ds, ds < 8 ? ds : 8),
				    (unsigned long long)t->out);
			break;
		}
		ck_assert_uint_eq(out[0], 0xaa);
		ck_assert_uint_eq(out[1 + 3 * ds], 0xaa);
	}
	ck_assert_msg(failed == 0, "%d vectors failed:%s", failed, report);
}
END_TEST

/* ---- exhaustive float16 / bfloat16 ---- */

static float *floats_of(ckpt_convert_fn fn, const uint16_t *h, size_t n)
{
	float *f = malloc(n * sizeof(*f));
	ck_assert_ptr_nonnull(f);
	fn(h, f, n);
	return f;
}

/* All 2^16 patterns of a 16-bit float type (width 16, mant bits): to
 * float exactly, and back to the same bits (NaN to nan_bits | sign). */
static void check_all16(ckpt_dtype dt, int mant, uint16_t nan_bits)
{
	uint16_t *h = malloc(65536 * sizeof(*h)), *back = malloc(65536 * 2);
	ck_assert_ptr_nonnull(h);
	ck_assert_ptr_nonnull(back);
	for (uint32_t i = 0; i < 65536; i++)
		h[i] = (uint16_t)i;

	ckpt_convert_fn fns[2] = {ckpt_convert_get(dt, CKPT_DT_FLOAT),
				  ckpt__convert_get_portable(dt, CKPT_DT_FLOAT)};
	for (int k = 0; k < 2; k++) {
		float *f = floats_of(fns[k], h, 65536);
		ck_assert_int_eq(ckpt_convert(CKPT_DT_FLOAT, dt, f, back, 65536), 0);
		for (uint32_t i = 0; i < 65536; i++) {
			long double want = ref_value(i, 16, mant);
			uint32_t exp_mask = ((1u << (15 - mant)) - 1) << mant;
			int nan = (i & exp_mask) == exp_mask && (i & ((1u << mant) - 1));
			uint32_t got = fb(f[i]);
			if (nan) {
				/* payload shifted up, not quietened */
				uint32_t w = (i & 0x8000u) << 16 | 0x7f800000u |
					     (i & ((1u << mant) - 1)) << (23 - mant);
				CHECK(got == w, "%04x -> %08x", i, got);
				CHECK(back[i] == (nan_bits | (i & 0x8000u)), "%04x back to %04x", i,
				      back[i]);
			} else {
				CHECK(got == fb((float)want), "%04x -> %08x", i, got);
				CHECK(back[i] == i, "%04x back to %04x", i, back[i]);
			}
		}
		free(f);
	}
	free(h);
	free(back);
}

START_TEST(test_convert_all_halves)
{
	check_all16(CKPT_DT_HALF, 10, 0x7e00);
}
END_TEST

START_TEST(test_convert_all_bfloat16)
{
	check_all16(CKPT_DT_BFLOAT16, 7, 0x7fc0);
}
END_TEST

/* ---- float -> half / bfloat16 on many floats, against the reference
 * and (for half) F16C against the portable code ---- */

/* The float set: a stride through all 2^32 patterns, plus every tie and
 * its neighbours for each float16 value. */
static uint32_t *float_set(size_t *n_out, uint32_t stride)
{
	size_t n = (size_t)(UINT64_C(0x100000000) / stride) + 1 + 4 * 65536;
	uint32_t *u = malloc(n * sizeof(*u));
	size_t k = 0;

	ck_assert_ptr_nonnull(u);
	for (uint64_t i = 0; i < UINT64_C(0x100000000); i += stride)
		u[k++] = (uint32_t)i;
	for (uint32_t h = 0; h < 65536; h++) {
		uint32_t f = fb((float)ref_value(h, 16, 10));
		uint32_t tie = f + 0x1000; /* half an ulp for normals */
		u[k++] = tie;
		u[k++] = tie - 1;
		u[k++] = tie + 1;
		u[k++] = (h & 0x7fffu) * 0x10000u + h; /* mixed bits */
	}
	*n_out = k;
	return u;
}

START_TEST(test_convert_float_to_half)
{
	size_t n;
	uint32_t *u = float_set(&n, 4099);
	uint16_t *fast = malloc(n * 2 + 1), *port = malloc(n * 2 + 1);
	ck_assert_ptr_nonnull(fast);
	ck_assert_ptr_nonnull(port);

	/* odd offsets: the kernels must cope with unaligned buffers */
	ckpt_convert_get(CKPT_DT_FLOAT, CKPT_DT_HALF)(u, (char *)fast + 1, n);
	ckpt__convert_get_portable(CKPT_DT_FLOAT, CKPT_DT_HALF)(u, (char *)port + 1, n);
	for (size_t i = 0; i < n; i++) {
		uint16_t a, b;
		memcpy(&a, (char *)fast + 1 + 2 * i, 2);
		memcpy(&b, (char *)port + 1 + 2 * i, 2);
		uint32_t want = ref_round(bf(u[i]), 16, 10);
		CHECK(a == b && b == want, "%08x: f16c %04x portable %04x want %04x", u[i], a, b,
		      want);
	}
	free(fast);
	free(port);
	free(u);
}
END_TEST

START_TEST(test_convert_f16c_matches_portable)
{
	/* every 127th float, in 1 Mi chunks; no reference, just agreement */
	const size_t chunk = 1 << 20;
	uint32_t *u = malloc(chunk * 4);
	uint16_t *h1 = malloc(chunk * 2), *h2 = malloc(chunk * 2);
	float *f1 = malloc(chunk * 4), *f2 = malloc(chunk * 4);
	ckpt_convert_fn to_fast = ckpt_convert_get(CKPT_DT_FLOAT, CKPT_DT_HALF);
	ckpt_convert_fn to_port = ckpt__convert_get_portable(CKPT_DT_FLOAT, CKPT_DT_HALF);
	ckpt_convert_fn from_fast = ckpt_convert_get(CKPT_DT_HALF, CKPT_DT_FLOAT);
	ckpt_convert_fn from_port = ckpt__convert_get_portable(CKPT_DT_HALF, CKPT_DT_FLOAT);

	ck_assert_ptr_nonnull(u);
	ck_assert_ptr_nonnull(h1);
	ck_assert_ptr_nonnull(h2);
	ck_assert_ptr_nonnull(f1);
	ck_assert_ptr_nonnull(f2);
	if (!ckpt__convert_have_f16c())
		fprintf(stderr, "test_convert: no F16C, comparing portable "
				"with itself\n");
	uint64_t x = 0;
	while (x < UINT64_C(0x100000000)) {
		size_t n = 0;
		for (; n < chunk && x < UINT64_C(0x100000000); n++, x += 127)
			u[n] = (uint32_t)x;
		to_fast(u, h1, n);
		to_port(u, h2, n);
		ck_assert_msg(memcmp(h1, h2, n * 2) == 0, "float->half near %08x", u[0]);
		from_fast(h1, f1, n);
		from_port(h1, f2, n);
		ck_assert_msg(memcmp(f1, f2, n * 4) == 0, "half->float near %08x", u[0]);
	}
	free(u);
	free(h1);
	free(h2);
	free(f1);
	free(f2);
}
END_TEST

START_TEST(test_convert_float_to_bfloat16)
{
	size_t n;
	uint32_t *u = float_set(&n, 4099);
	uint16_t *out = malloc(n * 2);
	ck_assert_ptr_nonnull(out);

	ck_assert_int_eq(ckpt_convert(CKPT_DT_FLOAT, CKPT_DT_BFLOAT16, u, out, n), 0);
	for (size_t i = 0; i < n; i++) {
		uint32_t want = ref_round(bf(u[i]), 16, 7);
		CHECK(out[i] == want, "%08x: got %04x want %04x", u[i], out[i], want);
	}
	free(out);
	free(u);
}
END_TEST

/* ---- every pair against the reference ---- */

/* clang-format off */
static const ckpt_dtype numeric[] = {
	CKPT_DT_BOOL, CKPT_DT_INT8, CKPT_DT_UINT8, CKPT_DT_INT16,
	CKPT_DT_UINT16, CKPT_DT_INT32, CKPT_DT_UINT32, CKPT_DT_INT64,
	CKPT_DT_UINT64, CKPT_DT_HALF, CKPT_DT_BFLOAT16, CKPT_DT_FLOAT,
	CKPT_DT_DOUBLE, CKPT_DT_COMPLEX64, CKPT_DT_COMPLEX128, CKPT_DT_QINT8,
	CKPT_DT_QUINT8, CKPT_DT_QINT16, CKPT_DT_QUINT16, CKPT_DT_QINT32,
};
/* clang-format on */
#define N_NUMERIC (sizeof(numeric) / sizeof(numeric[0]))

/* Same bytes in and out: same dtype or a quantized type and its twin. */
static int same_bits(ckpt_dtype a, ckpt_dtype b)
{
	return a == b ||
	       (is_int_dtype(a) && is_int_dtype(b) && ckpt_dtype_size(a) == ckpt_dtype_size(b) &&
		is_signed_dtype(a) == is_signed_dtype(b));
}

/* 64 representative elements of dtype dt at p. */
#define N_REP 64
static void representatives(ckpt_dtype dt, unsigned char *p)
{
	/* clang-format off */
	static const uint64_t ints[] = {
		0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0x8000, 0xffff,
		0x10001, 0x7fffffff, 0x80000000, 0xffffffff, 16777217,
		16842753, UINT64_C(0x7fffffffffffffff),
		UINT64_C(0x8000000000000000), UINT64_MAX,
		UINT64_C(0x123456789abcdef0), UINT64_C(0xfffffffffffffffe),
		UINT64_C(0x20000000000001),
	};
	static const double reals[] = {
		0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 1.5, -2.5, 2.7, -2.7, 127.9,
		128.0, -128.5, -129.0, 255.5, 256.0, 32767.5, 65504.0, 65519.0,
		65520.0, 1e5, -1e5, 2147483520.0, 2147483648.0, -2147483648.0,
		-2147483904.0, 4294967295.5, 1e10, -1e10, 0x1p63, 0x1p64, 1e20,
		-1e20, 3e38, 1e39, 1e-40, 3e-8, 0x1p-25, 0x1p-24, 1e-300,
		INFINITY, -INFINITY, NAN, -NAN, 0.1, 1 + 0x1p-11 + 0x1p-40,
		65519.9999999, 0x1p31 - 0.5, -0x1p63, 0x1p-14,
	};
	/* clang-format on */
	const size_t ni = sizeof(ints) / sizeof(ints[0]);
	const size_t nr = sizeof(reals) / sizeof(reals[0]);
	size_t size = ckpt_dtype_size(dt);

	for (size_t i = 0; i < N_REP; i++, p += size) {
		if (dt == CKPT_DT_BOOL)
			*p = (unsigned char)(i % 3);
		else if (is_int_dtype(dt))
			put_elem(p, size, ints[i % ni], 0);
		else {
			ref_encode(dt, reals[i % nr], 0, p, 0);
			if (is_complex_dtype(dt))
				ref_encode(dt, reals[(i * 7 + 3) % nr], 0, p, 1);
		}
	}
}

/* Bytes equal, or both NaN with the same sign (C conversions between
 * float32 and float64 may quieten a NaN, which the rules do not fix). */
static int same_value(ckpt_dtype dt, const unsigned char *a, const unsigned char *b, size_t size)
{
	if (memcmp(a, b, size) == 0)
		return 1;
	if (dt == CKPT_DT_COMPLEX64 || dt == CKPT_DT_COMPLEX128) {
		ckpt_dtype part = dt == CKPT_DT_COMPLEX64 ? CKPT_DT_FLOAT : CKPT_DT_DOUBLE;
		return same_value(part, a, b, size / 2) &&
		       same_value(part, a + size / 2, b + size / 2, size / 2);
	}
	if (dt != CKPT_DT_FLOAT && dt != CKPT_DT_DOUBLE)
		return 0;
	long double x = ref_decode(dt, a, 0), y = ref_decode(dt, b, 0);
	return isnan(x) && isnan(y) && !signbit(x) == !signbit(y);
}

START_TEST(test_convert_all_pairs)
{
	unsigned char in[N_REP * 16 + 1], out[N_REP * 16 + 1], out2[N_REP * 16 + 1], want[16];

	for (size_t s = 0; s < N_NUMERIC; s++) {
		ckpt_dtype src = numeric[s];
		size_t ss = ckpt_dtype_size(src);
		representatives(src, in + 1);
		for (size_t d = 0; d < N_NUMERIC; d++) {
			ckpt_dtype dst = numeric[d];
			size_t ds = ckpt_dtype_size(dst);
			ck_assert(ckpt_convert_supported(src, dst));
			ck_assert(ckpt_convert_get(src, dst) != NULL);
			ck_assert_int_eq(ckpt_convert(src, dst, in + 1, out + 1, N_REP), 0);
			ckpt__convert_get_portable(src, dst)(in + 1, out2 + 1, N_REP);
			ck_assert_msg(memcmp(out + 1, out2 + 1, N_REP * ds) == 0,
				      "%s->%s: dispatch and portable differ", ckpt_dtype_name(src),
				      ckpt_dtype_name(dst));
			for (size_t i = 0; i < N_REP; i++) {
				const unsigned char *e = in + 1 + i * ss;
				if (same_bits(src, dst)) {
					memcpy(want, e, ds);
				} else {
					int from_int = is_int_dtype(src);
					for (int part = 0; part < 2; part++) {
						if (part && !is_complex_dtype(dst))
							break;
						ref_encode(dst, ref_decode(src, e, part), from_int,
							   want, part);
					}
				}
				CHECK(same_value(dst, out + 1 + i * ds, want, ds),
				      "%s->%s element %zu: got %016llx want "
				      "%016llx",
				      ckpt_dtype_name(src), ckpt_dtype_name(dst), i,
				      (unsigned long long)get_le(out + 1 + i * ds, ds < 8 ? ds : 8),
				      (unsigned long long)get_le(want, ds < 8 ? ds : 8));
			}
		}
	}
}
END_TEST

START_TEST(test_convert_unsupported)
{
	const int others[] = {
	    CKPT_DT_STRING, CKPT_DT_RESOURCE, CKPT_DT_VARIANT, CKPT_DT_INVALID, 99, -1};
	unsigned char in[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8] = {0};

	for (size_t s = 0; s < N_NUMERIC; s++) {
		for (size_t o = 0; o < sizeof(others) / sizeof(others[0]); o++) {
			ckpt_dtype x = (ckpt_dtype)others[o];
			ck_assert(!ckpt_convert_supported(numeric[s], x));
			ck_assert(!ckpt_convert_supported(x, numeric[s]));
			ck_assert(ckpt_convert_get(numeric[s], x) == NULL);
			ck_assert_int_eq(ckpt_convert(x, numeric[s], in, out, 1),
					 CKPT_EUNSUPPORTED);
		}
	}
	ck_assert(!ckpt_convert_supported(CKPT_DT_RESOURCE, CKPT_DT_RESOURCE));
	ck_assert(!ckpt_convert_supported(CKPT_DT_VARIANT, CKPT_DT_VARIANT));
	ck_assert(!ckpt_convert_supported(CKPT_DT_INVALID, CKPT_DT_INVALID));
	for (size_t i = 0; i < sizeof(out); i++)
		ck_assert_uint_eq(out[i], 0);

	/* string -> string: bytes pass through, n counts bytes */
	ck_assert(ckpt_convert_supported(CKPT_DT_STRING, CKPT_DT_STRING));
	ck_assert_int_eq(ckpt_convert(CKPT_DT_STRING, CKPT_DT_STRING, in, out, 5), 0);
	ck_assert_int_eq(memcmp(in, out, 5), 0);
	ck_assert_uint_eq(out[5], 0);
}
END_TEST

START_TEST(test_convert_empty)
{
	/* n == 0 writes nothing */
	unsigned char out[4] = {9, 9, 9, 9};
	const float in[1] = {1.0f};

	for (size_t s = 0; s < N_NUMERIC; s++)
		for (size_t d = 0; d < N_NUMERIC; d++)
			ck_assert_int_eq(ckpt_convert(numeric[s], numeric[d], in, out, 0), 0);
	ck_assert_uint_eq(out[0], 9);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("convert");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_convert_vectors);
	tcase_add_test(tc, test_convert_all_pairs);
	tcase_add_test(tc, test_convert_unsupported);
	tcase_add_test(tc, test_convert_empty);
	suite_add_tcase(s, tc);

	TCase *ex = tcase_create("exhaustive");
	tcase_set_timeout(ex, 100);
	tcase_add_test(ex, test_convert_all_halves);
	tcase_add_test(ex, test_convert_all_bfloat16);
	tcase_add_test(ex, test_convert_float_to_half);
	tcase_add_test(ex, test_convert_float_to_bfloat16);
	tcase_add_test(ex, test_convert_f16c_matches_portable);
	suite_add_tcase(s, ex);

	return tu_run(s);
}
