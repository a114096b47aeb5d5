/*
 * Element-wise dtype conversion following tf.cast of TensorFlow 2.x
 * (spec/casts.md), for re-typing tensor bytes on the read path.
 *
 * Rules, by kind of pair:
 *
 * - Same dtype, and a quantized type with its integer twin (qint8/int8,
 *   quint8/uint8, qint16/int16, quint16/uint16, qint32/int32): the bytes
 *   are copied unchanged (NaN payloads, bool bytes other than 0/1 and all).
 *   string -> string copies bytes; string <-> numeric is unsupported.
 * - integer -> integer: two's-complement truncation of the low bits
 *   (widening sign- or zero-extends).
 * - integer -> float32/float64: C conversion, round to nearest even.
 *   integer -> float16/bfloat16: via float32 (as Eigen does; so large
 *   integers are rounded twice).
 * - float64 -> float32: round to nearest even, overflow to +-inf.
 *   float64 -> float16/bfloat16: via float32 (double rounding, as TF does).
 * - float32 -> float16: round to nearest even, subnormals included;
 *   |x| >= 65520 -> +-inf; NaN -> 0x7e00 with the sign bit kept (0xfe00).
 * - float32 -> bfloat16: round to nearest even on the bit pattern,
 *   subnormals rounded (not flushed); overflow -> +-inf; NaN -> 0x7fc0
 *   with the sign bit kept (0xffc0). This is TF 2.x (Eigen::bfloat16).
 * - float16 -> float32 and bfloat16 -> float32: exact; a NaN keeps its
 *   sign and payload (shifted into the wider mantissa, not quietened).
 * - float -> integer (any floating source): truncation toward zero when
 *   the result fits. Where TF leaves the result undefined we saturate:
 *   NaN -> 0; +inf and values >= 2^(bits-1) (signed) or 2^bits (unsigned)
 *   -> the type's maximum; -inf and values below the minimum -> the
 *   minimum; negative values -> 0 for unsigned types (-0.5 truncates to 0
 *   anyway). No out-of-range C conversion is ever evaluated.
 * - x -> bool: x != 0 (NaN -> true, -0.0 -> false). bool -> x: 0 or 1
 *   (any non-zero bool byte counts as true).
 * - complex -> real type, bool included: the real part, converted as
 *   above; the imaginary part is dropped (TF follows numpy here; for bool
 *   spec/casts.md says "real part only"). real -> complex: (x, 0).
 *   complex -> complex: each component converted.
 *
 * All data is little-endian. Kernels take unaligned pointers and use
 * memcpy loads/stores. Loops run in blocks of a fixed element count so
 * that GCC's -O2 ("very cheap") vectoriser accepts them; the float32 <->
 * float16/bfloat16 element functions are branch-free for that reason. On
 * x86 CPUs with F16C, float32 <-> float16 use the hardware conversion; a
 * block containing a NaN is redone by the portable code, because the
 * hardware keeps NaN payloads where the rules above do not, so both paths
 * give identical bytes for every input (tests/unit/test_convert.c checks).
 */
#include "view/convert_int.h"

#include "ckpt/error.h"

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#define CKPT_X86 1
#include <cpuid.h>
#include <immintrin.h>
#else
#define CKPT_X86 0
#endif

/* ---- little-endian unaligned loads and stores ---- */

#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define LE16(v) __builtin_bswap16(v)
#define LE32(v) __builtin_bswap32(v)
#define LE64(v) __builtin_bswap64(v)
#else
#define LE16(v) (v)
#define LE32(v) (v)
#define LE64(v) (v)
#endif

static inline uint16_t ld16(const unsigned char *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return LE16(v);
}

static inline uint32_t ld32(const unsigned char *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return LE32(v);
}

static inline uint64_t ld64(const unsigned char *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return LE64(v);
}

static inline void st16(unsigned char *p, uint16_t v)
{
	v = LE16(v);
	memcpy(p, &v, sizeof(v));
}

static inline void st32(unsigned char *p, uint32_t v)
{
	v = LE32(v);
	memcpy(p, &v, sizeof(v));
}

static inline void st64(unsigned char *p, uint64_t v)
{
	v = LE64(v);
	memcpy(p, &v, sizeof(v));
}

/* Reinterpret the bits of a value as another type of the same size. */
#define BIT_CAST(name, To, From)                                                                   \
	static inline To name(From v)                                                              \
	{                                                                                          \
		To r;                                                                              \
		memcpy(&r, &v, sizeof(r));                                                         \
		return r;                                                                          \
	}
BIT_CAST(f32_bits, uint32_t, float)
BIT_CAST(bits_f32, float, uint32_t)
BIT_CAST(f64_bits, uint64_t, double)
BIT_CAST(bits_f64, double, uint64_t)

/* ---- float16 and bfloat16 (branch-free, so loops vectorise) ---- */

/* float16 bits -> float32, exact (Eigen's half_to_float, with selects). */
static inline float f16_to_f32(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000) << 16;
	uint32_t exp = h & 0x7c00u;
	uint32_t mant = h & 0x03ffu;
	uint32_t body = (uint32_t)(h & 0x7fff) << 13;
	uint32_t normal = body + ((uint32_t)(127 - 15) << 23);
	uint32_t inf_nan = body | 0x7f800000u; /* payload kept, not quietened */
	/* subnormal or zero: mant * 2^-24, exact in float32 */
	uint32_t sub = f32_bits((float)mant * 0x1p-24f);
	uint32_t special = 0u - (uint32_t)(exp == 0x7c00u);
	uint32_t tiny = 0u - (uint32_t)(exp == 0);
	uint32_t r = (inf_nan & special) | (sub & tiny) | (normal & ~(special | tiny));
	return bits_f32(r | sign);
}

/* float32 -> float16 bits (Eigen's float_to_half_rtne, with selects). */
static inline uint16_t f32_to_f16(float f)
{
	uint32_t u = f32_bits(f);
	uint32_t sign = (u >> 16) & 0x8000u;
	uint32_t a = u & 0x7fffffffu;
	/* normal result: rebias the exponent (wraps harmlessly for small a),
	 * round to nearest even on the 13 bits that are dropped */
	uint32_t normal = (a + ((uint32_t)(15 - 127) << 23) + 0xfffu + ((a >> 13) & 1)) >> 13;
	/* subnormal result: adding 0.5f puts the 10 result bits at the bottom
	 * of the mantissa and the FPU rounds to nearest even */
	uint32_t sub = f32_bits(bits_f32(a) + 0.5f) - 0x3f000000u;
	uint32_t inf_nan = 0x7c00u | (uint32_t)(a > 0x7f800000u) << 9;
	/* all-ones masks rather than ?: chains, which GCC does not vectorise */
	uint32_t big = 0u - (uint32_t)(a >= 0x47800000u);  /* >= 65536 */
	uint32_t small = 0u - (uint32_t)(a < 0x38800000u); /* < 2^-14 */
	uint32_t r = (inf_nan & big) | (sub & small) | (normal & ~(big | small));
	return (uint16_t)(r | sign);
}

static inline float bf16_to_f32(uint16_t h)
{
	return bits_f32((uint32_t)h << 16);
}

/* float32 -> bfloat16 bits, round to nearest even; NaN -> 0x7fc0 | sign. */
static inline uint16_t f32_to_bf16(float f)
{
	uint32_t u = f32_bits(f);
	uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1)) >> 16;
	uint32_t nan = ((u >> 16) & 0x8000u) | 0x7fc0u;
	return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? nan : rounded);
}

/* ---- floating -> integer with saturation, integer wrap ---- */

/* Two's-complement bits of x truncated toward zero and saturated to a
 * signed `bits`-wide integer; NaN -> 0. */
static inline uint64_t sat_signed(double x, unsigned bits)
{
	const double lim = (double)(UINT64_C(1) << (bits - 1));
	const uint64_t max = UINT64_MAX >> (65 - bits);

	if (x != x)
		return 0;
	if (x >= lim)
		return max;
	if (x < -lim)
		return ~max; /* the minimum, sign-extended */
	return (uint64_t)(int64_t)x;
}

/* x truncated toward zero and saturated to an unsigned `bits`-wide
 * integer; NaN and negative values -> 0. */
static inline uint64_t sat_unsigned(double x, unsigned bits)
{
	const double lim = 2.0 * (double)(UINT64_C(1) << (bits - 1));

	if (!(x > -1.0))
		return 0;
	if (x >= lim)
		return UINT64_MAX >> (64 - bits);
	return (uint64_t)x;
}

static inline uint64_t wrap_signed(int64_t x, unsigned bits)
{
	(void)bits;
	return (uint64_t)x;
}

static inline uint64_t wrap_unsigned(uint64_t x, unsigned bits)
{
	(void)bits;
	return x;
}

/* Bits of a value for a signed or unsigned `bits`-wide integer: integers
 * wrap, floating values saturate. The caller keeps the low `bits` bits. */
/* clang-format off */
#define SBITS(x, bits)                                                         \
	_Generic((x),                                                          \
	    int64_t: wrap_signed,                                              \
	    uint64_t: wrap_unsigned,                                           \
	    float: sat_signed,                                                 \
	    double: sat_signed)((x), (bits))
#define UBITS(x, bits)                                                         \
	_Generic((x),                                                          \
	    int64_t: wrap_signed,                                              \
	    uint64_t: wrap_unsigned,                                           \
	    float: sat_unsigned,                                               \
	    double: sat_unsigned)((x), (bits))
/* clang-format on */

/* ---- per-kind loads and stores ---- */

/*
 * Each kind k has SZ_k (bytes per element), GET_k(p) (the value, or the
 * real part, as int64_t, uint64_t, float or double), IM_k(p) (the
 * imaginary part; 0.0f for real kinds), PUT_k(q, x) (store x, or the real
 * part) and PUTIM_k(q, x) (store the imaginary part; nothing for real
 * kinds).
 */
#define IM_REAL(p) 0.0f
#define PUTIM_REAL(q, x) ((void)0)

static inline uint64_t get_bool(const unsigned char *p)
{
	return *p != 0;
}

/* clang-format off */
#define SZ_bool 1
#define GET_bool(p) get_bool(p)
#define IM_bool IM_REAL
#define PUT_bool(q, x) (*(q) = (unsigned char)((x) != 0))
#define PUTIM_bool PUTIM_REAL

#define SZ_i8 1
#define GET_i8(p) ((int64_t)(int8_t)*(p))
#define IM_i8 IM_REAL
#define PUT_i8(q, x) (*(q) = (unsigned char)SBITS((x), 8))
#define PUTIM_i8 PUTIM_REAL

#define SZ_u8 1
#define GET_u8(p) ((uint64_t)*(p))
#define IM_u8 IM_REAL
#define PUT_u8(q, x) (*(q) = (unsigned char)UBITS((x), 8))
#define PUTIM_u8 PUTIM_REAL

#define SZ_i16 2
#define GET_i16(p) ((int64_t)(int16_t)ld16(p))
#define IM_i16 IM_REAL
#define PUT_i16(q, x) st16((q), (uint16_t)SBITS((x), 16))
#define PUTIM_i16 PUTIM_REAL

#define SZ_u16 2
#define GET_u16(p) ((uint64_t)ld16(p))
#define IM_u16 IM_REAL
#define PUT_u16(q, x) st16((q), (uint16_t)UBITS((x), 16))
#define PUTIM_u16 PUTIM_REAL

#define SZ_i32 4
#define GET_i32(p) ((int64_t)(int32_t)ld32(p))
#define IM_i32 IM_REAL
#define PUT_i32(q, x) st32((q), (uint32_t)SBITS((x), 32))
#define PUTIM_i32 PUTIM_REAL

#define SZ_u32 4
#define GET_u32(p) ((uint64_t)ld32(p))
#define IM_u32 IM_REAL
#define PUT_u32(q, x) st32((q), (uint32_t)UBITS((x), 32))
#define PUTIM_u32 PUTIM_REAL

#define SZ_i64 8
#define GET_i64(p) ((int64_t)ld64(p))
#define IM_i64 IM_REAL
#define PUT_i64(q, x) st64((q), SBITS((x), 64))
#define PUTIM_i64 PUTIM_REAL

#define SZ_u64 8
#define GET_u64(p) ld64(p)
#define IM_u64 IM_REAL
#define PUT_u64(q, x) st64((q), UBITS((x), 64))
#define PUTIM_u64 PUTIM_REAL

/* float16, bfloat16 and integers reach float16/bfloat16 via float32 */
#define SZ_f16 2
#define GET_f16(p) f16_to_f32(ld16(p))
#define IM_f16 IM_REAL
#define PUT_f16(q, x) st16((q), f32_to_f16((float)(x)))
#define PUTIM_f16 PUTIM_REAL

#define SZ_bf16 2
#define GET_bf16(p) bf16_to_f32(ld16(p))
#define IM_bf16 IM_REAL
#define PUT_bf16(q, x) st16((q), f32_to_bf16((float)(x)))
#define PUTIM_bf16 PUTIM_REAL

#define SZ_f32 4
#define GET_f32(p) bits_f32(ld32(p))
#define IM_f32 IM_REAL
#define PUT_f32(q, x) st32((q), f32_bits((float)(x)))
#define PUTIM_f32 PUTIM_REAL

#define SZ_f64 8
#define GET_f64(p) bits_f64(ld64(p))
#define IM_f64 IM_REAL
#define PUT_f64(q, x) st64((q), f64_bits((double)(x)))
#define PUTIM_f64 PUTIM_REAL

#define SZ_c64 8
#define GET_c64(p) GET_f32(p)
#define IM_c64(p) GET_f32((p) + 4)
#define PUT_c64(q, x) PUT_f32((q), (x))
#define PUTIM_c64(q, x) PUT_f32((q) + 4, (x))

#define SZ_c128 16
#define GET_c128(p) GET_f64(p)
#define IM_c128(p) GET_f64((p) + 8)
#define PUT_c128(q, x) PUT_f64((q), (x))
#define PUTIM_c128(q, x) PUT_f64((q) + 8, (x))
/* clang-format on */

/* ---- kernels ---- */

/* Elements per inner block: a constant trip count the -O2 vectoriser
 * accepts (it does not vectorise loops that need a scalar epilogue). */
#define BLOCK 16

/*
 * The loop shared by every kernel: ELEM(p, q) converts the element at p
 * into the element at q.
 */
#define RUN(in, out, n, ELEM, ssz, dsz)                                                            \
	do {                                                                                       \
		const unsigned char *p_ = (in);                                                    \
		unsigned char *q_ = (out);                                                         \
		const size_t n_ = (n);                                                             \
		size_t i_ = 0;                                                                     \
		for (; n_ - i_ >= BLOCK; i_ += BLOCK) {                                            \
			for (size_t j_ = 0; j_ < BLOCK; j_++)                                      \
				ELEM(p_ + j_ * (ssz), q_ + j_ * (dsz));                            \
			p_ += BLOCK * (ssz);                                                       \
			q_ += BLOCK * (dsz);                                                       \
		}                                                                                  \
		for (; i_ < n_; i_++, p_ += (ssz), q_ += (dsz))                                    \
			ELEM(p_, q_);                                                              \
	} while (0)

/* Defines k_S_D, converting kind S to kind D. */
#define KERNEL(S, D)                                                                               \
	static inline void e_##S##_##D(const unsigned char *p, unsigned char *q)                   \
	{                                                                                          \
		PUT_##D(q, GET_##S(p));                                                            \
		PUTIM_##D(q, IM_##S(p));                                                           \
	}                                                                                          \
	static void k_##S##_##D(const void *restrict in, void *restrict out, size_t n)             \
	{                                                                                          \
		RUN(in, out, n, e_##S##_##D, SZ_##S, SZ_##D);                                      \
	}

/* clang-format off */
/* Apply M(S, D) for every destination kind D, in enum kind order. */
#define EACH_DST(M, S)                                                         \
	M(S, bool) M(S, i8) M(S, u8) M(S, i16) M(S, u16) M(S, i32) M(S, u32)   \
	M(S, i64) M(S, u64) M(S, f16) M(S, bf16) M(S, f32) M(S, f64)           \
	M(S, c64) M(S, c128)

/* Apply M(S) for every source kind S, in enum kind order. */
#define EACH_SRC(M)                                                            \
	M(bool) M(i8) M(u8) M(i16) M(u16) M(i32) M(u32) M(i64) M(u64) M(f16)   \
	M(bf16) M(f32) M(f64) M(c64) M(c128)

enum kind {
	K_BOOL, K_I8, K_U8, K_I16, K_U16, K_I32, K_U32, K_I64, K_U64,
	K_F16, K_BF16, K_F32, K_F64, K_C64, K_C128, K_COUNT,
	K_NONE = -1,
};
/* clang-format on */

#define KERNEL_ROW(S) EACH_DST(KERNEL, S)
EACH_SRC(KERNEL_ROW)

#define KERNEL_NAME(S, D) k_##S##_##D,
#define TABLE_ROW(S) {EACH_DST(KERNEL_NAME, S)},
/* Same-kind entries are never used (identity copies instead). */
static const ckpt_convert_fn kernels[K_COUNT][K_COUNT] = {EACH_SRC(TABLE_ROW)};

static void copy1(const void *in, void *out, size_t n)
{
	memcpy(out, in, n);
}

static void copy2(const void *in, void *out, size_t n)
{
	memcpy(out, in, 2 * n);
}

static void copy4(const void *in, void *out, size_t n)
{
	memcpy(out, in, 4 * n);
}

static void copy8(const void *in, void *out, size_t n)
{
	memcpy(out, in, 8 * n);
}

static void copy16(const void *in, void *out, size_t n)
{
	memcpy(out, in, 16 * n);
}

/* ---- F16C ---- */

#if CKPT_X86
#define F16C_TARGET __attribute__((target("avx,f16c")))

F16C_TARGET static void k_f32_f16_f16c(const void *in, void *out, size_t n)
{
	const unsigned char *p = in;
	unsigned char *q = out;
	size_t i = 0;

	for (; n - i >= 8; i += 8, p += 32, q += 16) {
		__m256 f;
		memcpy(&f, p, sizeof(f));
		if (_mm256_movemask_ps(_mm256_cmp_ps(f, f, _CMP_UNORD_Q))) {
			/* NaN bits as the rules say */
			k_f32_f16(p, q, 8);
			continue;
		}
		__m128i h = _mm256_cvtps_ph(f, _MM_FROUND_TO_NEAREST_INT);
		memcpy(q, &h, sizeof(h));
	}
	k_f32_f16(p, q, n - i);
}

F16C_TARGET static void k_f16_f32_f16c(const void *in, void *out, size_t n)
{
	const unsigned char *p = in;
	unsigned char *q = out;
	size_t i = 0;

	for (; n - i >= 8; i += 8, p += 16, q += 32) {
		__m128i h;
		memcpy(&h, p, sizeof(h));
		__m256 f = _mm256_cvtph_ps(h);
		if (_mm256_movemask_ps(_mm256_cmp_ps(f, f, _CMP_UNORD_Q))) {
			/* keep signalling NaNs signalling */
			k_f16_f32(p, q, 8);
			continue;
		}
		memcpy(q, &f, sizeof(f));
	}
	k_f16_f32(p, q, n - i);
}
#endif

int ckpt__convert_have_f16c(void)
{
#if CKPT_X86
	/* cpuid is slow (a VM exit under virtualisation) and ckpt_convert()
	 * asks on every call: remember the answer. -1 = not asked yet. */
	static _Atomic int have = -1;
	int h = atomic_load_explicit(&have, memory_order_relaxed);

	if (h < 0) {
		unsigned a, b, c, d;
		/* clang 14 knows no "f16c" for __builtin_cpu_supports */
		h = __builtin_cpu_supports("avx") && __get_cpuid(1, &a, &b, &c, &d) &&
		    (c & bit_F16C);
		atomic_store_explicit(&have, h, memory_order_relaxed);
	}
	return h;
#else
	return 0;
#endif
}

/* ---- lookup ---- */

static enum kind kind_of(ckpt_dtype dt)
{
	switch (dt) {
	case CKPT_DT_BOOL: return K_BOOL;
	case CKPT_DT_INT8:
	case CKPT_DT_QINT8: return K_I8;
	case CKPT_DT_UINT8:
	case CKPT_DT_QUINT8: return K_U8;
	case CKPT_DT_INT16:
	case CKPT_DT_QINT16: return K_I16;
	case CKPT_DT_UINT16:
	case CKPT_DT_QUINT16: return K_U16;
	case CKPT_DT_INT32:
	case CKPT_DT_QINT32: return K_I32;
	case CKPT_DT_UINT32: return K_U32;
	case CKPT_DT_INT64: return K_I64;
	case CKPT_DT_UINT64: return K_U64;
	case CKPT_DT_HALF: return K_F16;
	case CKPT_DT_BFLOAT16: return K_BF16;
	case CKPT_DT_FLOAT: return K_F32;
	case CKPT_DT_DOUBLE: return K_F64;
	case CKPT_DT_COMPLEX64: return K_C64;
	case CKPT_DT_COMPLEX128: return K_C128;
	default: return K_NONE;
	}
}

static ckpt_convert_fn copy_kernel(size_t size)
{
	switch (size) {
	case 1: return copy1;
	case 2: return copy2;
	case 4: return copy4;
	case 8: return copy8;
	default: return copy16;
	}
}

ckpt_convert_fn ckpt__convert_get_portable(ckpt_dtype src, ckpt_dtype dst)
{
	if (src == CKPT_DT_STRING || dst == CKPT_DT_STRING)
		return src == dst ? copy1 : NULL;
	enum kind ks = kind_of(src), kd = kind_of(dst);
	if (ks == K_NONE || kd == K_NONE)
		return NULL;
	if (ks == kd)
		return copy_kernel(ckpt_dtype_size(src));
	return kernels[ks][kd];
}

ckpt_convert_fn ckpt_convert_get(ckpt_dtype src, ckpt_dtype dst)
{
#if CKPT_X86
	if (src == CKPT_DT_FLOAT && dst == CKPT_DT_HALF && ckpt__convert_have_f16c())
		return k_f32_f16_f16c;
	if (src == CKPT_DT_HALF && dst == CKPT_DT_FLOAT && ckpt__convert_have_f16c())
		return k_f16_f32_f16c;
#endif
	return ckpt__convert_get_portable(src, dst);
}

int ckpt_convert_supported(ckpt_dtype src, ckpt_dtype dst)
{
	return ckpt__convert_get_portable(src, dst) != NULL;
}

int ckpt_convert(ckpt_dtype src, ckpt_dtype dst, const void *in, void *out, size_t n)
{
	ckpt_convert_fn fn = ckpt_convert_get(src, dst);

	if (fn == NULL)
		return CKPT_EUNSUPPORTED;
	fn(in, out, n);
	return 0;
}
