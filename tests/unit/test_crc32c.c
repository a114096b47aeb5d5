/* CRC-32C: known vectors on both the hardware and the table path. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "util/crc32c_int.h"
#include "testutil.h"

static uint32_t (*const impls[])(uint32_t, const void *, size_t) = {ckpt__crc32c_extend,
								    ckpt__crc32c_extend_table};

START_TEST(test_crc32c_known_vectors)
{
	uint32_t (*f)(uint32_t, const void *, size_t) = impls[_i];
	ck_assert_uint_eq(f(0, "123456789", 9), 0xE3069283u);
	ck_assert_uint_eq(f(0, "", 0), 0);
	/* RFC 3720 B.4: 32 bytes of zeros, of 0xff */
	unsigned char buf[32];
	memset(buf, 0, sizeof(buf));
	ck_assert_uint_eq(f(0, buf, 32), 0x8A9136AAu);
	memset(buf, 0xff, sizeof(buf));
	ck_assert_uint_eq(f(0, buf, 32), 0x62A8AB43u);
	for (int i = 0; i < 32; i++)
		buf[i] = (unsigned char)i;
	ck_assert_uint_eq(f(0, buf, 32), 0x46DD794Eu);
}
END_TEST

START_TEST(test_crc32c_extend_equals_whole)
{
	uint32_t (*f)(uint32_t, const void *, size_t) = impls[_i];
	unsigned char buf[1000];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	uint32_t whole = f(0, buf, sizeof(buf));
	for (size_t cut = 0; cut <= sizeof(buf); cut += 37)
		ck_assert_uint_eq(f(f(0, buf, cut), buf + cut, sizeof(buf) - cut), whole);
	/* both paths agree at every length and alignment */
	for (size_t off = 0; off < 9; off++)
		for (size_t n = 0; n + off <= 64; n++)
			ck_assert_uint_eq(ckpt__crc32c_extend(0, buf + off, n),
					  ckpt__crc32c_extend_table(0, buf + off, n));
}
END_TEST

START_TEST(test_crc32c_mask)
{
	ck_assert_uint_eq(ckpt__crc32c_mask(0), 0xa282ead8u);
	/* spec/bundle.md: crc32c(02 00 00 00) = 0xf7006846, masked 0x7310d8d8 */
	unsigned char len[4] = {2, 0, 0, 0};
	uint32_t c = ckpt__crc32c_extend(0, len, 4);
	ck_assert_uint_eq(c, 0xf7006846u);
	ck_assert_uint_eq(ckpt__crc32c_mask(c), 0x7310d8d8u);
	for (uint32_t v = 0; v < 100000; v += 997)
		ck_assert_uint_eq(ckpt__crc32c_unmask(ckpt__crc32c_mask(v * 2654435761u)),
				  v * 2654435761u);
}
END_TEST

/* Long inputs take the three-stripe path; both paths and every split agree. */
START_TEST(test_crc32c_long_buffers)
{
	size_t n = 3 * 8192 * 5 + 1234;
	unsigned char *buf = malloc(n);
	ck_assert_ptr_nonnull(buf);
	uint32_t x = 12345;
	for (size_t i = 0; i < n; i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (unsigned char)(x >> 16);
	}
	uint32_t whole = ckpt__crc32c_extend_table(0, buf, n);
	ck_assert_uint_eq(ckpt__crc32c_extend(0, buf, n), whole);
	for (size_t cut = 1; cut < n; cut += 7919)
		ck_assert_uint_eq(
		    ckpt__crc32c_extend(ckpt__crc32c_extend(0, buf, cut), buf + cut, n - cut),
		    whole);
	/* 1 MiB of zeros: crc32c over 2^20 zero bytes, computed by the table */
	unsigned char *z = calloc(1, 1 << 20);
	ck_assert_ptr_nonnull(z);
	ck_assert_uint_eq(ckpt__crc32c_extend(0, z, 1 << 20),
			  ckpt__crc32c_extend_table(0, z, 1 << 20));
	free(z);
	free(buf);
}
END_TEST

/* Combining: crc(A || B) from crc(A), crc(B) and |B|, at every split of
 * a buffer; and the vector "123456789" put together from its halves. */
START_TEST(test_crc32c_combine)
{
	size_t n = 3 * 8192 + 777;
	unsigned char *buf = malloc(n);
	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < n; i++)
		buf[i] = (unsigned char)(i * 131 + 7);
	uint32_t whole = ckpt__crc32c_extend_table(0, buf, n);
	for (size_t cut = 0; cut <= n; cut += cut < 64 ? 1 : 1009) {
		uint32_t a = ckpt__crc32c_extend_table(0, buf, cut);
		uint32_t b = ckpt__crc32c_extend_table(0, buf + cut, n - cut);
		ck_assert_uint_eq(ckpt__crc32c_combine(a, b, n - cut), whole);
	}
	ck_assert_uint_eq(ckpt__crc32c_combine(ckpt__crc32c_extend(0, "1234", 4),
					       ckpt__crc32c_extend(0, "56789", 5), 5),
			  0xE3069283u);
	/* a long B: 1 MiB of zeros after "123456789" */
	unsigned char *z = calloc(1, (1 << 20) + 9);
	ck_assert_ptr_nonnull(z);
	memcpy(z, "123456789", 9);
	ck_assert_uint_eq(ckpt__crc32c_combine(
			      0xE3069283u, ckpt__crc32c_extend_table(0, z + 9, 1 << 20), 1 << 20),
			  ckpt__crc32c_extend_table(0, z, (1 << 20) + 9));
	free(z);
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("crc32c");
	TCase *tc = tcase_create("core");
	tcase_add_loop_test(tc, test_crc32c_known_vectors, 0, 2);
	tcase_add_loop_test(tc, test_crc32c_extend_equals_whole, 0, 2);
	tcase_add_test(tc, test_crc32c_mask);
	tcase_add_test(tc, test_crc32c_long_buffers);
	tcase_add_test(tc, test_crc32c_combine);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
