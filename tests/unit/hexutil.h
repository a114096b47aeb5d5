/* Hex literals and byte comparisons for the byte-exact tests (header-only). */
#ifndef CKPT_HEXUTIL_H
#define CKPT_HEXUTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Parse hex digits (anything else is ignored) into a malloc'd buffer;
 * *len gets its size. Ownership: the caller frees the result. */
static inline uint8_t *tu_hex(const char *hex, size_t *len)
{
	size_t n = strlen(hex), k = 0;
	uint8_t *out = malloc(n / 2 + 1);
	int hi = -1;

	ck_assert_ptr_nonnull(out);
	for (size_t i = 0; i < n; i++) {
		char c = hex[i];
		int v;
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else
			continue;
		if (hi < 0) {
			hi = v;
		} else {
			out[k++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	ck_assert_int_eq(hi, -1);
	*len = k;
	return out;
}

/* Assert a == b, naming the first differing offset. */
static inline void tu_assert_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			ck_abort_msg("bytes differ at offset %zu (0x%zx): got %02x want %02x", i, i,
				     a[i], b[i]);
	ck_assert_msg(alen == blen, "length %zu, want %zu", alen, blen);
}

#endif
