/*
 * OrderedCode (tensorflow/core/lib/strings/ordered_code.cc) and slice keys;
 * see slicekey_int.h and spec/slices_and_partitions.md §2.
 */
#include "format/slicekey_int.h"

#include <stdio.h>
#include <string.h>

#include "util/error_int.h"

/* (H0, H1) header bits XORed into the first two bytes of an n-byte
 * signed encoding, n = 0..10. */
static const uint8_t header_bits[11][2] = {
    {0, 0},    {0x80, 0}, {0xc0, 0}, {0xe0, 0},	   {0xf0, 0},	 {0xf8, 0},
    {0xfc, 0}, {0xfe, 0}, {0xff, 0}, {0xff, 0x80}, {0xff, 0xc0},
};

/* The same bits as a mask over the decoded big-endian value. */
static const uint64_t length_mask[11] = {
    0,
    0x80ull,
    0xc000ull,
    0xe00000ull,
    0xf0000000ull,
    0xf800000000ull,
    0xfc0000000000ull,
    0xfe000000000000ull,
    0xff00000000000000ull,
    0x8000000000000000ull,
    0,
};

int ckpt__oc_put_num_increasing(ckpt__buf *out, uint64_t v)
{
	uint8_t buf[9];
	int n = 0;

	for (uint64_t x = v; x != 0; x >>= 8)
		n++;
	buf[0] = (uint8_t)n;
	for (int i = 0; i < n; i++)
		buf[1 + i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return ckpt__buf_append(out, buf, (size_t)n + 1);
}

/* Bytes needed for a signed value whose magnitude-ish x (v or ~v) has
 * bit length bits: kBitsToLength in TF. */
static int signed_length(uint64_t x)
{
	int bits = 0;

	while (bits < 64 && (x >> bits) != 0)
		bits++;
	if (bits <= 6)
		return 1;
	if (bits >= 63)
		return 10;
	return (bits - 7) / 7 + 2;
}

int ckpt__oc_put_signed_num_increasing(ckpt__buf *out, int64_t v)
{
	uint64_t u = (uint64_t)v;
	uint64_t x = v < 0 ? ~u : u;

	if (x < 64) {
		uint8_t b = (uint8_t)(0x80 ^ (u & 0xff));
		return ckpt__buf_append(out, &b, 1);
	}
	uint8_t buf[10];
	uint8_t sign = v < 0 ? 0xff : 0x00;
	buf[0] = buf[1] = sign;
	for (int i = 0; i < 8; i++)
		buf[2 + i] = (uint8_t)(u >> (56 - 8 * i));
	int n = signed_length(x);
	uint8_t *begin = buf + 10 - n;
	begin[0] ^= header_bits[n][0];
	begin[1] ^= header_bits[n][1];
	return ckpt__buf_append(out, begin, (size_t)n);
}

int ckpt__oc_put_string(ckpt__buf *out, const void *s, size_t n)
{
	const uint8_t *p = s;
	size_t run = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		if (p[i] != 0x00 && p[i] != 0xff)
			continue;
		static const uint8_t esc0[2] = {0x00, 0xff}, escf[2] = {0xff, 0x00};
		if ((rc = ckpt__buf_append(out, p + run, i - run)) ||
		    (rc = ckpt__buf_append(out, p[i] ? escf : esc0, 2)))
			return rc;
		run = i + 1;
	}
	static const uint8_t term[2] = {0x00, 0x01};
	if ((rc = ckpt__buf_append(out, p + run, n - run)))
		return rc;
	return ckpt__buf_append(out, term, 2);
}

int ckpt__oc_get_num_increasing(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
	const uint8_t *p = *pp;

	if (p >= end)
		return -1;
	size_t n = p[0];
	if (n > 8 || n > (size_t)(end - p) - 1)
		return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++)
		v = v << 8 | p[1 + i];
	*out = v;
	*pp = p + 1 + n;
	return 0;
}

int ckpt__oc_get_signed_num_increasing(const uint8_t **pp, const uint8_t *end, int64_t *out)
{
	const uint8_t *p = *pp;
	size_t avail = (size_t)(end - p);
	uint64_t x;
	int n;

	if (p >= end)
		return -1;
	uint64_t xor_mask = (p[0] & 0x80) ? 0 : ~0ull;
	uint8_t first = (uint8_t)(p[0] ^ (xor_mask & 0xff));
	if (first != 0xff) {
		/* n = 7 - floor(log2(first ^ 0xff)); first >= 0x80 here */
		uint8_t inv = (uint8_t)(first ^ 0xff);
		int log2 = 0;
		while ((inv >> (log2 + 1)) != 0)
			log2++;
		n = 7 - log2;
		if (avail < (size_t)n)
			return -1;
		x = xor_mask;
		for (int i = 0; i < n; i++)
			x = x << 8 | p[i];
	} else {
		n = 8;
		if (avail < 8)
			return -1;
		uint8_t second = (uint8_t)(p[1] ^ (xor_mask & 0xff));
		if (second >= 0x80) {
			if (second < 0xc0) {
				n = 9;
			} else {
				uint8_t third = (uint8_t)(p[2] ^ (xor_mask & 0xff));
				if (second == 0xc0 && third < 0x80)
					n = 10;
				else
					return -1; /* longer than 10 or > 63 bits */
			}
			if (avail < (size_t)n)
				return -1;
		}
		x = ckpt__load_le64(p + n - 8);
		x = __builtin_bswap64(x); /* big-endian load */
	}
	x ^= length_mask[n];
	*out = (int64_t)x;
	*pp = p + n;
	return 0;
}

int ckpt__oc_get_string(const uint8_t **pp, const uint8_t *end, ckpt__buf *out)
{
	const uint8_t *p = *pp, *run = p;
	size_t start_len = out->len;

	while (p < end) {
		uint8_t c = *p;
		if (c != 0x00 && c != 0xff) {
			p++;
			continue;
		}
		if (end - p < 2)
			break;
		uint8_t next = p[1];
		uint8_t lit;
		if (c == 0x00 && next == 0x01) {
			if (ckpt__buf_append(out, run, (size_t)(p - run)))
				return -2;
			*pp = p + 2;
			return 0;
		} else if (c == 0x00 && next == 0xff) {
			lit = 0x00;
		} else if (c == 0xff && next == 0x00) {
			lit = 0xff;
		} else {
			break;
		}
		if (ckpt__buf_append(out, run, (size_t)(p - run)) || ckpt__buf_append(out, &lit, 1))
			return -2;
		p += 2;
		run = p;
	}
	out->len = start_len;
	return -1;
}

int ckpt__slicekey_encode(ckpt__buf *out, const char *name, size_t name_len, int rank,
			  const int64_t *start, const int64_t *length)
{
	int rc;

	if (rank < 0 || (rank > 0 && (start == NULL || length == NULL)) ||
	    (name == NULL && name_len > 0))
		return CKPT_EINVAL;
	if ((rc = ckpt__oc_put_num_increasing(out, 0)) ||
	    (rc = ckpt__oc_put_string(out, name, name_len)) ||
	    (rc = ckpt__oc_put_num_increasing(out, (uint64_t)rank)))
		return rc;
	for (int d = 0; d < rank; d++) {
		if ((rc = ckpt__oc_put_signed_num_increasing(out, start[d])) ||
		    (rc = ckpt__oc_put_signed_num_increasing(out, length[d])))
			return rc;
	}
	return 0;
}

/* Render up to 32 key bytes as hex for messages (TF prints the raw rest). */
static void hex_prefix(char *dst, size_t cap, const uint8_t *p, size_t n)
{
	size_t k = 0;

	dst[0] = '\0';
	for (size_t i = 0; i < n && i < 32 && k + 3 < cap; i++)
		k += (size_t)snprintf(dst + k, cap - k, "%02x", p[i]);
	if (n > 32 && k + 4 < cap)
		snprintf(dst + k, cap - k, "...");
}

int ckpt__slicekey_decode(const uint8_t *key, size_t len, ckpt__buf *name_out, int *rank_out,
			  int64_t *start_out, int64_t *length_out, int max_rank, ckpt_error *err)
{
	const uint8_t *p = key, *end = key + len;
	char src[72];
	uint64_t x;
	int rc;

#define SRC() (hex_prefix(src, sizeof(src), p, (size_t)(end - p)), src)
	if (key == NULL && len > 0)
		return ckpt__error(err, CKPT_EINVAL, "slice key: NULL key");
	if (ckpt__oc_get_num_increasing(&p, end, &x))
		return ckpt__error(err, CKPT_ECORRUPT,
				   "Failed to parse the leading number: src = %s", SRC());
	if (x != 0)
		return ckpt__error(err, CKPT_ECORRUPT,
				   "The leading number should always be 0 for any "
				   "valid key: src = %s",
				   SRC());
	rc = ckpt__oc_get_string(&p, end, name_out);
	if (rc == -2)
		return ckpt__error(err, CKPT_ENOMEM, "slice key: out of memory");
	if (rc)
		return ckpt__error(err, CKPT_ECORRUPT, "Failed to parse the tensor name: src = %s",
				   SRC());
	if (ckpt__buf_append(name_out, "", 1))
		return ckpt__error(err, CKPT_ENOMEM, "slice key: out of memory");
	name_out->len--;
	if (ckpt__oc_get_num_increasing(&p, end, &x))
		return ckpt__error(err, CKPT_ECORRUPT, "Failed to parse the tensor rank: src = %s",
				   SRC());
	if (x == 0)
		return ckpt__error(err, CKPT_ECORRUPT,
				   "Expecting positive rank of the tensor, got 0, "
				   "src = %s",
				   SRC());
	if (x >= INT32_MAX)
		return ckpt__error(err, CKPT_ECORRUPT, "Too many elements %llu",
				   (unsigned long long)x);
	if (max_rank < 0 || x > (uint64_t)max_rank)
		return ckpt__error(err, CKPT_EUNSUPPORTED,
				   "slice key: rank %llu above the supported %d",
				   (unsigned long long)x, max_rank);
	int rank = (int)x;
	for (int d = 0; d < rank; d++) {
		int64_t s, l;
		if (ckpt__oc_get_signed_num_increasing(&p, end, &s))
			return ckpt__error(err, CKPT_ECORRUPT, "Failed to parse start: src = %s",
					   SRC());
		if (ckpt__oc_get_signed_num_increasing(&p, end, &l))
			return ckpt__error(err, CKPT_ECORRUPT, "Failed to parse length: src = %s",
					   SRC());
		if (l >= 0) {
			start_out[d] = s;
			length_out[d] = l;
		} else {
			start_out[d] = 0;
			length_out[d] = CKPT__SLICE_FULL;
		}
	}
#undef SRC
	*rank_out = rank;
	return 0;
}
