/*
 * ckpt-gen DESCRIPTION.json PREFIX
 *
 * Writes a TensorFlow V2 checkpoint at PREFIX (PREFIX.index,
 * PREFIX.data-*) with libckpt's writer, which produces what TF's
 * BundleWriter / MergeBundles would for the same saves. Exit 0 on success;
 * 1 with a message on stderr otherwise.
 *
 * JSON description (see also tests/gen/README.md):
 *
 *   { "num_shards": N,                 optional; makes the save sharded
 *                                      with at least N shards
 *     "tensors": [ TENSOR, ... ],      added in this order (data order)
 *     "object_graph": [ NODE, ... ] }  optional: written first as the
 *                                      string scalar
 *                                      _CHECKPOINTABLE_OBJECT_GRAPH, a
 *                                      TrackableObjectGraph with these
 *                                      nodes (an object-based checkpoint)
 *
 *   NODE = what @object_graph.json shows of a node ("id" is ignored; every
 *   key optional; ids are not checked, so hostile graphs can be written):
 *     { "children": [{"node_id": 1, "local_name": "model"}, ...],
 *       "attributes": [{"name": "VARIABLE_VALUE", "full_name": "w",
 *                       "checkpoint_key": "model/w/.ATTRIBUTES/VARIABLE_VALUE",
 *                       "optional_restore": false}, ...],
 *       "slot_variables": [{"original_variable_node_id": 2,
 *                           "slot_name": "m", "slot_variable_node_id": 5}],
 *       "registered_saver": {"name": "...", "object_name": "..."},
 *       "has_checkpoint_values": true }
 *
 *   TENSOR = {
 *     "name":    "a/w",                bundle key (non-empty)
 *     "dtype":   "float32",            any name ckpt_dtype_parse accepts:
 *                                      bool int8 uint8 int16 uint16 int32
 *                                      uint32 int64 uint64 float16 (half)
 *                                      bfloat16 float32 float64 complex64
 *                                      complex128 qint8 quint8 qint16
 *                                      quint16 qint32 string
 *     "shape":   [100, 100],           [] for a scalar
 *     "pattern": "iota",               optional, default "iota" (below)
 *     "values":  [...],                optional instead of pattern: numbers
 *                                      (numeric, converted as const:) or
 *                                      strings (string dtype), one per
 *                                      element, row-major
 *     "values_hex": ["00ff", ...],     string dtype: bytes given in hex
 *     "partitions": [3, 1],            optional: save as TF saves a
 *                                      partitioned variable (below)
 *     "slices": [[[0,0],[2,2]], ...],  optional instead: arbitrary blocks,
 *                                      each [start list, length list];
 *                                      length -1 (start 0) = whole dim
 *     "shard": 1                       optional: shard of a sharded save;
 *                                      with partitions/slices it may be a
 *                                      list, one shard per part
 *   }
 *
 * Values are defined over the FULL tensor, element index i = row-major
 * linear index (0-based); a part or slice stores the elements of the full
 * tensor that fall inside it. Patterns:
 *
 *   "iota"  element i = i converted to the dtype:
 *           bool: i % 2.
 *           integer and quantized types: i modulo 2^bits (two's complement).
 *           float32 / float64: (float)i / (double)i (C conversion).
 *           float16: (i % 2048) as half; bfloat16: (i % 256) as bfloat16
 *           (both exact).
 *           complex64 / complex128: re = i, im = -i (as float / double).
 *           string: the decimal digits of i ("0", "1", ...).
 *
 *   "random:SEED"  bytes from splitmix64 with state = SEED (decimal u64):
 *           for each 8-byte word: state += 0x9e3779b97f4a7c15; z = state;
 *           z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
 *           z = (z ^ (z >> 27)) * 0x94d049bb133111eb; z ^= z >> 31;
 *           emit z as 8 little-endian bytes. The tensor's data is the first
 *           num_elements * dtype_size bytes of the stream (any bit pattern,
 *           NaNs included), except bool where element i = stream byte i & 1.
 *           string: element by element, length = next stream byte % 17,
 *           then that many next stream bytes.
 *
 *   "const:VALUE"  every element = VALUE (strtod syntax: 1.5, -3, inf,
 *           nan) converted to the dtype: bool = VALUE != 0; integers:
 *           VALUE truncated toward zero, must fit the type; float64 =
 *           VALUE; float32 = (float)VALUE; float16 and bfloat16 = (float)
 *           VALUE rounded to nearest-even (overflow gives inf, NaN gives
 *           the quiet NaN 0x7e00 / 0x7fc0 with the sign); complex: re =
 *           VALUE, im = 0. Not for strings.
 *
 *   "special"  element i = S[i % len(S)] for the dtype's list S:
 *           float32 bits: 00000000 80000000 3f800000 bf800000 7f800000
 *             ff800000 7fc00000 ffc00001 00000001 007fffff 00800000
 *             7f7fffff ff7fffff 3eaaaaab
 *           float64 bits: 0 8000000000000000 3ff0000000000000
 *             bff0000000000000 7ff0000000000000 fff0000000000000
 *             7ff8000000000000 fff8000000000001 0000000000000001
 *             000fffffffffffff 0010000000000000 7fefffffffffffff
 *             ffefffffffffffff 3fd5555555555555
 *           float16 bits: 0000 8000 3c00 bc00 7c00 fc00 7e00 fe01 0001 03ff
 *             0400 7bff fbff 3555
 *           bfloat16 bits: 0000 8000 3f80 bf80 7f80 ff80 7fc0 ffc1 0001 007f
 *             0080 7f7f ff7f 3eab
 *           complex64 / complex128: component j (re of element j/2 for even
 *             j, im for odd j) = the float32 / float64 list [j % 14].
 *           signed integers (incl. qint*): 0 1 -1 MAX MIN MAX-1 MIN+1 42.
 *           unsigned integers (incl. quint*): 0 1 MAX MAX-1 2^(bits-1) 42.
 *           bool: 0 1.
 *           string: "" "a" "\0" "\xff" "h\xc3\xa9" then 300 'x' bytes.
 *
 * Partitions (TF1 get_variable with a partitioner): one entry per axis,
 * at most one > 1 (the slice axis); n parts along it; part k has
 * size/n + 1 rows if k < size % n, else size/n, at cumulative offsets.
 * Parts are added in order with explicit start/length for every
 * dimension (SaveSliceInfo.spec). n == 1 everywhere saves an ordinary
 * tensor. n > size fails (TF cannot save an empty part either).
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/dtype.h"
#include "ckpt/error.h"
#include "ckpt/reader.h"
#include "ckpt/writer.h"
#include "trackable_object_graph.pb-c.h"

#define MAX_RANK CKPT_WRITER_MAX_RANK

static const char *g_ctx = ""; /* tensor name for messages */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "ckpt-gen: %s%s", g_ctx, *g_ctx ? ": " : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (p == NULL)
		die("out of memory (%zu bytes)", n);
	return p;
}

/* ---- value conversions ---- */

static uint32_t f32_bits(float f)
{
	uint32_t u;
	memcpy(&u, &f, 4);
	return u;
}

static uint16_t f32_to_half(float f)
{
	uint32_t x = f32_bits(f);
	uint16_t sign = (uint16_t)((x >> 16) & 0x8000);
	int exp = (int)((x >> 23) & 0xff);
	uint32_t mant = x & 0x7fffff;

	if (exp == 0xff)
		return (uint16_t)(sign | 0x7c00 | (mant ? 0x200 | (mant >> 13) : 0));
	int e = exp - 127 + 15;
	if (e >= 31)
		return (uint16_t)(sign | 0x7c00);
	if (e <= 0) {
		if (e < -10 || exp == 0)
			return sign; /* below half the smallest subnormal */
		mant |= 0x800000;
		unsigned shift = (unsigned)(14 - e);
		uint32_t hm = mant >> shift, rem = mant & ((1u << shift) - 1);
		uint32_t half = 1u << (shift - 1);
		if (rem > half || (rem == half && (hm & 1)))
			hm++;
		return (uint16_t)(sign | hm);
	}
	uint32_t h = (uint32_t)e << 10 | mant >> 13, rem = mant & 0x1fff;
	if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
		h++; /* a carry into the exponent is right, up to inf */
	return (uint16_t)(sign | h);
}

static uint16_t f32_to_bf16(float f)
{
	uint32_t x = f32_bits(f);
	if ((x & 0x7f800000) == 0x7f800000 && (x & 0x7fffff))
		return (uint16_t)((x >> 16) | 0x40); /* quiet NaN, sign kept */
	x += 0x7fff + ((x >> 16) & 1);
	return (uint16_t)(x >> 16);
}

static int is_signed_int(ckpt_dtype dt)
{
	switch (dt) {
	case CKPT_DT_INT8:
	case CKPT_DT_INT16:
	case CKPT_DT_INT32:
	case CKPT_DT_INT64:
	case CKPT_DT_QINT8:
	case CKPT_DT_QINT16:
	case CKPT_DT_QINT32: return 1;
	default: return 0;
	}
}

static int is_unsigned_int(ckpt_dtype dt)
{
	switch (dt) {
	case CKPT_DT_UINT8:
	case CKPT_DT_UINT16:
	case CKPT_DT_UINT32:
	case CKPT_DT_UINT64:
	case CKPT_DT_QUINT8:
	case CKPT_DT_QUINT16: return 1;
	default: return 0;
	}
}

static void store_le(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t k = 0; k < n; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

/* 2^bits as a double, bits <= 64. */
static double pow2(unsigned bits)
{
	return bits >= 64 ? 18446744073709551616.0 : (double)(1ull << bits);
}

/* const:VALUE conversion of one element into p. */
static void put_const(uint8_t *p, ckpt_dtype dt, double v)
{
	size_t es = ckpt_dtype_size(dt);
	float f = (float)v;

	switch (dt) {
	case CKPT_DT_BOOL: p[0] = v != 0; return;
	case CKPT_DT_FLOAT: store_le(p, f32_bits(f), 4); return;
	case CKPT_DT_DOUBLE: {
		uint64_t u;
		memcpy(&u, &v, 8);
		store_le(p, u, 8);
		return;
	}
	case CKPT_DT_HALF: store_le(p, f32_to_half(f), 2); return;
	case CKPT_DT_BFLOAT16: store_le(p, f32_to_bf16(f), 2); return;
	case CKPT_DT_COMPLEX64:
		store_le(p, f32_bits(f), 4);
		store_le(p + 4, 0, 4);
		return;
	case CKPT_DT_COMPLEX128: {
		uint64_t u;
		memcpy(&u, &v, 8);
		store_le(p, u, 8);
		store_le(p + 8, 0, 8);
		return;
	}
	default: break;
	}
	unsigned bits = (unsigned)(8 * es);
	if (is_signed_int(dt)) {
		double lo = -pow2(bits - 1), hi = pow2(bits - 1);
		if (!(v >= lo && v < hi))
			die("value %g does not fit %s", v, ckpt_dtype_name(dt));
		store_le(p, (uint64_t)(int64_t)v, es);
	} else if (is_unsigned_int(dt)) {
		if (!(v > -1.0 && v < pow2(bits)))
			die("value %g does not fit %s", v, ckpt_dtype_name(dt));
		store_le(p, (uint64_t)v, es);
	} else {
		die("dtype %s has no const conversion", ckpt_dtype_name(dt));
	}
}

static void put_iota(uint8_t *p, ckpt_dtype dt, uint64_t i)
{
	size_t es = ckpt_dtype_size(dt);

	switch (dt) {
	case CKPT_DT_BOOL: p[0] = (uint8_t)(i % 2); return;
	case CKPT_DT_FLOAT: store_le(p, f32_bits((float)i), 4); return;
	case CKPT_DT_DOUBLE: put_const(p, dt, (double)i); return;
	case CKPT_DT_HALF: store_le(p, f32_to_half((float)(i % 2048)), 2); return;
	case CKPT_DT_BFLOAT16: store_le(p, f32_to_bf16((float)(i % 256)), 2); return;
	case CKPT_DT_COMPLEX64:
		store_le(p, f32_bits((float)i), 4);
		store_le(p + 4, f32_bits(-(float)i), 4);
		return;
	case CKPT_DT_COMPLEX128: {
		double re = (double)i, im = -(double)i;
		uint64_t u;
		memcpy(&u, &re, 8);
		store_le(p, u, 8);
		memcpy(&u, &im, 8);
		store_le(p + 8, u, 8);
		return;
	}
	default:
		store_le(p, i, es); /* integers: i mod 2^bits */
		return;
	}
}

static const uint32_t special_f32[14] = {0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x7f800000,
					 0xff800000, 0x7fc00000, 0xffc00001, 0x00000001, 0x007fffff,
					 0x00800000, 0x7f7fffff, 0xff7fffff, 0x3eaaaaab};
static const uint64_t special_f64[14] = {0,
					 0x8000000000000000ull,
					 0x3ff0000000000000ull,
					 0xbff0000000000000ull,
					 0x7ff0000000000000ull,
					 0xfff0000000000000ull,
					 0x7ff8000000000000ull,
					 0xfff8000000000001ull,
					 1,
					 0x000fffffffffffffull,
					 0x0010000000000000ull,
					 0x7fefffffffffffffull,
					 0xffefffffffffffffull,
					 0x3fd5555555555555ull};
static const uint16_t special_f16[14] = {0x0000, 0x8000, 0x3c00, 0xbc00, 0x7c00, 0xfc00, 0x7e00,
					 0xfe01, 0x0001, 0x03ff, 0x0400, 0x7bff, 0xfbff, 0x3555};
static const uint16_t special_bf16[14] = {0x0000, 0x8000, 0x3f80, 0xbf80, 0x7f80, 0xff80, 0x7fc0,
					  0xffc1, 0x0001, 0x007f, 0x0080, 0x7f7f, 0xff7f, 0x3eab};

static void put_special(uint8_t *p, ckpt_dtype dt, uint64_t i)
{
	size_t es = ckpt_dtype_size(dt);
	unsigned bits = (unsigned)(8 * es);

	switch (dt) {
	case CKPT_DT_BOOL: p[0] = (uint8_t)(i % 2); return;
	case CKPT_DT_FLOAT: store_le(p, special_f32[i % 14], 4); return;
	case CKPT_DT_DOUBLE: store_le(p, special_f64[i % 14], 8); return;
	case CKPT_DT_HALF: store_le(p, special_f16[i % 14], 2); return;
	case CKPT_DT_BFLOAT16: store_le(p, special_bf16[i % 14], 2); return;
	case CKPT_DT_COMPLEX64:
		store_le(p, special_f32[(2 * i) % 14], 4);
		store_le(p + 4, special_f32[(2 * i + 1) % 14], 4);
		return;
	case CKPT_DT_COMPLEX128:
		store_le(p, special_f64[(2 * i) % 14], 8);
		store_le(p + 8, special_f64[(2 * i + 1) % 14], 8);
		return;
	default: break;
	}
	uint64_t mask = bits == 64 ? ~0ull : (1ull << bits) - 1;
	uint64_t v;
	if (is_signed_int(dt)) {
		uint64_t smax = mask >> 1, smin = smax + 1;
		const uint64_t seq[8] = {0, 1, mask, smax, smin, smax - 1, smin + 1, 42};
		v = seq[i % 8];
	} else {
		const uint64_t seq[6] = {0, 1, mask, mask - 1, 1ull << (bits - 1), 42};
		v = seq[i % 6];
	}
	store_le(p, v & mask, es);
}

typedef struct splitmix {
	uint64_t state;
	uint8_t word[8];
	int left;
} splitmix;

static uint64_t sm_next(splitmix *s)
{
	uint64_t z = (s->state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint8_t sm_byte(splitmix *s)
{
	if (s->left == 0) {
		store_le(s->word, sm_next(s), 8);
		s->left = 8;
	}
	return s->word[8 - s->left--];
}

static uint64_t parse_seed(const char *s)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end)
		die("bad random seed '%s'", s);
	return v;
}

static double parse_double(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	if (end == s || *end)
		die("bad const value '%s'", s);
	return v;
}

/* Fill the full numeric tensor (nelem elements). */
static uint8_t *fill_numeric(ckpt_dtype dt, uint64_t nelem, json_t *t)
{
	size_t es = ckpt_dtype_size(dt);
	if (nelem > SIZE_MAX / es)
		die("tensor too large");
	uint8_t *buf = xmalloc((size_t)nelem * es);
	json_t *values = json_object_get(t, "values");
	const char *pat = json_string_value(json_object_get(t, "pattern"));

	if (values) {
		if (!json_is_array(values) || json_array_size(values) != nelem)
			die("\"values\" must list %llu numbers", (unsigned long long)nelem);
		for (uint64_t i = 0; i < nelem; i++) {
			json_t *v = json_array_get(values, (size_t)i);
			if (json_is_number(v))
				put_const(buf + i * es, dt, json_number_value(v));
			else if (json_is_string(v))
				put_const(buf + i * es, dt, parse_double(json_string_value(v)));
			else
				die("\"values\"[%llu] is not a number", (unsigned long long)i);
		}
		return buf;
	}
	if ((pat == NULL || strcmp(pat, "iota") == 0) && dt == CKPT_DT_FLOAT) {
		/* the hot case of big benchmark tensors: no per-element switch */
		for (uint64_t i = 0; i < nelem; i++)
			store_le(buf + i * 4, f32_bits((float)i), 4);
	} else if (pat == NULL || strcmp(pat, "iota") == 0) {
		for (uint64_t i = 0; i < nelem; i++)
			put_iota(buf + i * es, dt, i);
	} else if (strcmp(pat, "special") == 0) {
		for (uint64_t i = 0; i < nelem; i++)
			put_special(buf + i * es, dt, i);
	} else if (strncmp(pat, "random:", 7) == 0) {
		splitmix sm = {parse_seed(pat + 7), {0}, 0};
		uint64_t i = 0;
		/* whole words first (the stream is word-aligned at the start) */
		for (; i + 8 <= nelem * es; i += 8)
			store_le(buf + i, sm_next(&sm), 8);
		for (; i < nelem * es; i++)
			buf[i] = sm_byte(&sm);
		if (dt == CKPT_DT_BOOL)
			for (i = 0; i < nelem; i++)
				buf[i] &= 1;
	} else if (strncmp(pat, "const:", 6) == 0) {
		double v = parse_double(pat + 6);
		size_t total = (size_t)nelem * es, have = es;
		if (nelem)
			put_const(buf, dt, v);
		/* replicate by doubling: GiB-sized benchmark tensors in a blink */
		while (nelem && have < total) {
			size_t n = have < total - have ? have : total - have;
			memcpy(buf + have, buf, n);
			have += n;
		}
	} else {
		die("unknown pattern '%s'", pat);
	}
	return buf;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Fill string elements: strs[i] malloc'd, lens[i]. */
static void fill_strings(uint64_t nelem, json_t *t, char **strs, uint64_t *lens)
{
	json_t *values = json_object_get(t, "values");
	json_t *hex = json_object_get(t, "values_hex");
	const char *pat = json_string_value(json_object_get(t, "pattern"));

	if (values || hex) {
		json_t *arr = values ? values : hex;
		if (!json_is_array(arr) || json_array_size(arr) != nelem)
			die("\"%s\" must list %llu strings", values ? "values" : "values_hex",
			    (unsigned long long)nelem);
		for (uint64_t i = 0; i < nelem; i++) {
			json_t *v = json_array_get(arr, (size_t)i);
			if (!json_is_string(v))
				die("element %llu is not a string", (unsigned long long)i);
			const char *s = json_string_value(v);
			size_t n = json_string_length(v);
			if (values) {
				strs[i] = xmalloc(n);
				memcpy(strs[i], s, n);
				lens[i] = n;
				continue;
			}
			if (n % 2)
				die("odd hex length in element %llu", (unsigned long long)i);
			strs[i] = xmalloc(n / 2);
			for (size_t k = 0; k < n / 2; k++) {
				int hi = hexval(s[2 * k]), lo = hexval(s[2 * k + 1]);
				if (hi < 0 || lo < 0)
					die("bad hex in element %llu", (unsigned long long)i);
				strs[i][k] = (char)(hi << 4 | lo);
			}
			lens[i] = n / 2;
		}
		return;
	}
	if (pat == NULL || strcmp(pat, "iota") == 0) {
		for (uint64_t i = 0; i < nelem; i++) {
			strs[i] = xmalloc(24);
			lens[i] = (uint64_t)snprintf(strs[i], 24, "%llu", (unsigned long long)i);
		}
	} else if (strncmp(pat, "random:", 7) == 0) {
		splitmix sm = {parse_seed(pat + 7), {0}, 0};
		for (uint64_t i = 0; i < nelem; i++) {
			lens[i] = sm_byte(&sm) % 17;
			strs[i] = xmalloc((size_t)lens[i]);
			for (uint64_t k = 0; k < lens[i]; k++)
				strs[i][k] = (char)sm_byte(&sm);
		}
	} else if (strcmp(pat, "special") == 0) {
		static const char *const sp[5] = {"", "a", "\0", "\xff", "h\xc3\xa9"};
		static const uint64_t spl[5] = {0, 1, 1, 1, 3};
		for (uint64_t i = 0; i < nelem; i++) {
			uint64_t k = i % 6;
			lens[i] = k < 5 ? spl[k] : 300;
			strs[i] = xmalloc((size_t)lens[i]);
			if (k < 5)
				memcpy(strs[i], sp[k], (size_t)lens[i]);
			else
				memset(strs[i], 'x', 300);
		}
	} else {
		die("pattern '%s' is not available for strings", pat);
	}
}

static int get_int64_array(json_t *a, int64_t *out, int max, const char *what)
{
	if (!json_is_array(a))
		die("%s must be an array of integers", what);
	size_t n = json_array_size(a);
	if (n > (size_t)max)
		die("%s has more than %d entries", what, max);
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(a, i);
		if (!json_is_integer(v))
			die("%s[%zu] is not an integer", what, i);
		out[i] = (int64_t)json_integer_value(v);
	}
	return (int)n;
}

/* Copy the block (start, len) of the full row-major tensor into out. */
static void extract(const uint8_t *full, const int64_t *dims, int rank, const int64_t *start,
		    const int64_t *len, size_t es, uint8_t *out)
{
	int64_t idx[MAX_RANK] = {0};
	uint64_t n = 1;
	for (int d = 0; d < rank; d++)
		n *= (uint64_t)len[d];
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
}

static void select_shard(ckpt_writer *w, json_t *shard, size_t part)
{
	json_t *s = shard;
	ckpt_error err = CKPT_ERROR_INIT;

	if (shard == NULL)
		s = NULL;
	else if (json_is_array(shard))
		s = json_array_get(shard, part);
	if (shard != NULL && !json_is_integer(s))
		die("\"shard\" must be an integer or a list with one per part");
	int k = s ? (int)json_integer_value(s) : 0;
	if (s && (json_integer_value(s) < 0 || json_integer_value(s) >= CKPT_WRITER_MAX_SHARDS))
		die("shard out of range");
	if (s && ckpt_writer_set_shard(w, k, &err))
		die("%s", err.msg);
	if (!s && ckpt_writer_set_shard(w, 0, &err))
		die("%s", err.msg);
}

static void add_tensor(ckpt_writer *w, json_t *t, int sharded)
{
	ckpt_error err = CKPT_ERROR_INIT;
	int64_t dims[MAX_RANK];
	ckpt_dtype dt;

	if (!json_is_object(t))
		die("each tensor must be an object");
	const char *name = json_string_value(json_object_get(t, "name"));
	const char *dts = json_string_value(json_object_get(t, "dtype"));
	if (name == NULL || dts == NULL)
		die("tensor needs \"name\" and \"dtype\"");
	g_ctx = name;
	if (ckpt_dtype_parse(dts, &dt) != 0)
		die("unknown dtype '%s'", dts);
	json_t *shape = json_object_get(t, "shape");
	int rank = shape ? get_int64_array(shape, dims, MAX_RANK, "shape") : 0;
	uint64_t nelem = 1;
	for (int d = 0; d < rank; d++) {
		if (dims[d] < 0 || __builtin_mul_overflow(nelem, (uint64_t)dims[d], &nelem) ||
		    nelem > (uint64_t)1 << 40)
			die("bad or too large shape");
	}
	json_t *shard = json_object_get(t, "shard");
	json_t *parts = json_object_get(t, "partitions");
	json_t *slices = json_object_get(t, "slices");
	if (sharded)
		select_shard(w, shard, 0);

	if (dt == CKPT_DT_STRING) {
		if (parts || slices)
			die("partitioned string tensors are not supported");
		char **strs = xmalloc((size_t)nelem * sizeof(char *));
		uint64_t *lens = xmalloc((size_t)nelem * sizeof(uint64_t));
		fill_strings(nelem, t, strs, lens);
		if (ckpt_writer_add_strings(w, name, rank, dims, (const char *const *)strs, lens,
					    &err))
			die("%s", err.msg);
		for (uint64_t i = 0; i < nelem; i++)
			free(strs[i]);
		free(strs);
		free(lens);
		g_ctx = "";
		return;
	}
	if (!ckpt_dtype_is_numeric(dt))
		die("dtype %s cannot be generated", dts);
	size_t es = ckpt_dtype_size(dt);
	uint8_t *full = fill_numeric(dt, nelem, t);

	/* Build the list of blocks to save. */
	size_t nblocks = 0;
	int64_t(*bstart)[MAX_RANK] = NULL, (*blen)[MAX_RANK] = NULL;
	if (parts && slices)
		die("give \"partitions\" or \"slices\", not both");
	if (parts) {
		int64_t p[MAX_RANK];
		if (get_int64_array(parts, p, MAX_RANK, "partitions") != rank || rank == 0)
			die("\"partitions\" needs one count per dimension (rank >= 1)");
		int axis = 0;
		int64_t n = 1;
		for (int d = 0; d < rank; d++) {
			if (p[d] < 1)
				die("Partitioner returned zero partitions for some axes");
			if (p[d] > 1) {
				if (n > 1)
					die("Can only slice a variable along one dimension");
				axis = d;
				n = p[d];
			}
		}
		if (n > dims[axis])
			die("%lld parts for a dimension of %lld", (long long)n,
			    (long long)dims[axis]);
		nblocks = (size_t)n;
		bstart = xmalloc(nblocks * sizeof(*bstart));
		blen = xmalloc(nblocks * sizeof(*blen));
		int64_t q = dims[axis] / n, r = dims[axis] % n, off = 0;
		for (size_t k = 0; k < nblocks; k++) {
			for (int d = 0; d < rank; d++) {
				bstart[k][d] = 0;
				blen[k][d] = dims[d];
			}
			bstart[k][axis] = off;
			blen[k][axis] = q + ((int64_t)k < r ? 1 : 0);
			off += blen[k][axis];
		}
	} else if (slices) {
		if (!json_is_array(slices) || json_array_size(slices) == 0)
			die("\"slices\" must be a non-empty list");
		nblocks = json_array_size(slices);
		bstart = xmalloc(nblocks * sizeof(*bstart));
		blen = xmalloc(nblocks * sizeof(*blen));
		for (size_t k = 0; k < nblocks; k++) {
			json_t *s = json_array_get(slices, k);
			if (!json_is_array(s) || json_array_size(s) != 2 ||
			    get_int64_array(json_array_get(s, 0), bstart[k], MAX_RANK,
					    "slice start") != rank ||
			    get_int64_array(json_array_get(s, 1), blen[k], MAX_RANK,
					    "slice length") != rank)
				die("slice %zu must be [[start x rank], [length x rank]]", k);
		}
	}

	if (nblocks == 0) {
		if (ckpt_writer_add(w, name, dt, rank, dims, full, (size_t)nelem * es, &err))
			die("%s", err.msg);
	}
	for (size_t k = 0; k < nblocks; k++) {
		int64_t st[MAX_RANK], ln[MAX_RANK];
		uint64_t n = 1;
		for (int d = 0; d < rank; d++) {
			int whole = blen[k][d] == CKPT_WRITER_FULL_EXTENT && bstart[k][d] == 0;
			st[d] = whole ? 0 : bstart[k][d];
			ln[d] = whole ? dims[d] : blen[k][d];
			if (st[d] < 0 || ln[d] < 0 || st[d] > dims[d] || ln[d] > dims[d] - st[d])
				die("slice %zu is outside the tensor", k);
			n *= (uint64_t)ln[d];
		}
		uint8_t *data = xmalloc((size_t)n * es);
		extract(full, dims, rank, st, ln, es, data);
		if (sharded)
			select_shard(w, shard, k);
		if (ckpt_writer_add_slice(w, name, dt, rank, dims, bstart[k], blen[k], data,
					  (size_t)n * es, &err))
			die("%s", err.msg);
		free(data);
	}
	free(bstart);
	free(blen);
	free(full);
	g_ctx = "";
}

/* ---- the object graph ---- */

typedef Tensorflow__TrackableObjectGraph__TrackableObject tobj;
typedef Tensorflow__TrackableObjectGraph__TrackableObject__ObjectReference tref;
typedef Tensorflow__TrackableObjectGraph__TrackableObject__SerializedTensor tattr;
typedef Tensorflow__TrackableObjectGraph__TrackableObject__SlotVariableReference tslot;

/* key of o: a string ("" when absent) */
static char *og_str(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL)
		return (char *)"";
	if (!json_is_string(v))
		die("object graph: \"%s\" must be a string", key);
	return (char *)json_string_value(v);
}

static int32_t og_id(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	if (v == NULL)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < INT32_MIN ||
	    json_integer_value(v) > INT32_MAX)
		die("object graph: \"%s\" must be an int32", key);
	return (int32_t)json_integer_value(v);
}

/* The list `key` of node o: *n entries, each one allocation of `size`
 * bytes, filled by fill; the pointer array is returned. */
static void **og_list(json_t *o, const char *key, size_t *n, size_t size,
		      void (*fill)(void *m, json_t *e))
{
	json_t *a = json_object_get(o, key);
	if (a != NULL && !json_is_array(a))
		die("object graph: \"%s\" must be a list", key);
	*n = a ? json_array_size(a) : 0;
	void **p = xmalloc(*n * sizeof(*p));
	for (size_t k = 0; k < *n; k++) {
		json_t *e = json_array_get(a, k);
		if (!json_is_object(e))
			die("object graph: each of \"%s\" must be an object", key);
		p[k] = xmalloc(size);
		fill(p[k], e);
	}
	return p;
}

static void fill_ref(void *m, json_t *e)
{
	tref r = TENSORFLOW__TRACKABLE_OBJECT_GRAPH__TRACKABLE_OBJECT__OBJECT_REFERENCE__INIT;
	r.node_id = og_id(e, "node_id");
	r.local_name = og_str(e, "local_name");
	*(tref *)m = r;
}

static void fill_attr(void *m, json_t *e)
{
	tattr a = TENSORFLOW__TRACKABLE_OBJECT_GRAPH__TRACKABLE_OBJECT__SERIALIZED_TENSOR__INIT;
	a.name = og_str(e, "name");
	a.full_name = og_str(e, "full_name");
	a.checkpoint_key = og_str(e, "checkpoint_key");
	a.optional_restore = json_is_true(json_object_get(e, "optional_restore"));
	*(tattr *)m = a;
}

static void fill_slot(void *m, json_t *e)
{
	tslot s =
	    TENSORFLOW__TRACKABLE_OBJECT_GRAPH__TRACKABLE_OBJECT__SLOT_VARIABLE_REFERENCE__INIT;
	s.original_variable_node_id = og_id(e, "original_variable_node_id");
	s.slot_name = og_str(e, "slot_name");
	s.slot_variable_node_id = og_id(e, "slot_variable_node_id");
	*(tslot *)m = s;
}

static void free_list(void **p, size_t n)
{
	for (size_t k = 0; k < n; k++)
		free(p[k]);
	free(p);
}

static void add_object_graph(ckpt_writer *w, json_t *og)
{
	ckpt_error err = CKPT_ERROR_INIT;
	if (!json_is_array(og))
		die("\"object_graph\" must be a list of nodes");
	g_ctx = CKPT_OBJECT_GRAPH_KEY;
	size_t n = json_array_size(og);
	tobj *nodes = xmalloc(n * sizeof(*nodes));
	tobj **np = xmalloc(n * sizeof(*np));
	Tensorflow__RegisteredSaver *savers = xmalloc(n * sizeof(*savers));
	Tensorflow__BoolValue *has = xmalloc(n * sizeof(*has));
	for (size_t k = 0; k < n; k++) {
		json_t *o = json_array_get(og, k), *rs, *hv;
		if (!json_is_object(o))
			die("object graph: node %zu must be an object", k);
		tobj t = TENSORFLOW__TRACKABLE_OBJECT_GRAPH__TRACKABLE_OBJECT__INIT;
		t.children = (tref **)og_list(o, "children", &t.n_children, sizeof(tref), fill_ref);
		t.attributes =
		    (tattr **)og_list(o, "attributes", &t.n_attributes, sizeof(tattr), fill_attr);
		t.slot_variables = (tslot **)og_list(o, "slot_variables", &t.n_slot_variables,
						     sizeof(tslot), fill_slot);
		if ((rs = json_object_get(o, "registered_saver")) != NULL) {
			Tensorflow__RegisteredSaver r = TENSORFLOW__REGISTERED_SAVER__INIT;
			r.name = og_str(rs, "name");
			r.object_name = og_str(rs, "object_name");
			savers[k] = r;
			t.registered_saver = &savers[k];
		}
		if ((hv = json_object_get(o, "has_checkpoint_values")) != NULL) {
			Tensorflow__BoolValue b = TENSORFLOW__BOOL_VALUE__INIT;
			b.value = json_is_true(hv);
			has[k] = b;
			t.has_checkpoint_values = &has[k];
		}
		nodes[k] = t;
		np[k] = &nodes[k];
	}
	Tensorflow__TrackableObjectGraph g = TENSORFLOW__TRACKABLE_OBJECT_GRAPH__INIT;
	g.n_nodes = n;
	g.nodes = np;
	size_t len = tensorflow__trackable_object_graph__get_packed_size(&g);
	char *buf = xmalloc(len);
	tensorflow__trackable_object_graph__pack(&g, (uint8_t *)buf);
	const char *strs[1] = {buf};
	uint64_t lens[1] = {len};
	if (ckpt_writer_add_strings(w, CKPT_OBJECT_GRAPH_KEY, 0, NULL, strs, lens, &err))
		die("%s", err.msg);
	for (size_t k = 0; k < n; k++) {
		free_list((void **)nodes[k].children, nodes[k].n_children);
		free_list((void **)nodes[k].attributes, nodes[k].n_attributes);
		free_list((void **)nodes[k].slot_variables, nodes[k].n_slot_variables);
	}
	free(buf);
	free(nodes);
	free(np);
	free(savers);
	free(has);
	g_ctx = "";
}

int main(int argc, char **argv)
{
	json_error_t jerr;
	ckpt_error err = CKPT_ERROR_INIT;
	ckpt_writer *w;

	if (argc != 3) {
		fprintf(stderr, "usage: ckpt-gen DESCRIPTION.json PREFIX\n");
		return 2;
	}
	json_t *root = json_load_file(argv[1], JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		die("%s:%d: %s", argv[1], jerr.line, jerr.text);
	json_t *tensors = json_object_get(root, "tensors");
	if (!json_is_array(tensors))
		die("%s: needs a \"tensors\" list", argv[1]);

	/* Sharded when asked for at top level or by any tensor. */
	int sharded = 0;
	json_t *ns = json_object_get(root, "num_shards");
	if (ns && (!json_is_integer(ns) || json_integer_value(ns) < 1 ||
		   json_integer_value(ns) > CKPT_WRITER_MAX_SHARDS))
		die("\"num_shards\" must be a positive integer");
	size_t i;
	json_t *t;
	json_array_foreach(tensors, i, t) if (json_is_object(t) && json_object_get(t, "shard"))
	    sharded = 1;
	if (ns)
		sharded = 1;

	if (ckpt_writer_open(&w, argv[2], &err))
		die("%s", err.msg);
	if (ns && ckpt_writer_set_shard(w, (int)json_integer_value(ns) - 1, &err))
		die("%s", err.msg);
	json_t *og = json_object_get(root, "object_graph");
	if (og != NULL) {
		if (sharded)
			select_shard(w, NULL, 0);
		add_object_graph(w, og);
	}
	json_array_foreach(tensors, i, t) add_tensor(w, t, sharded);
	if (ckpt_writer_finish(w, &err))
		die("%s", err.msg);
	ckpt_writer_close(w);
	json_decref(root);
	return 0;
}
