/* OrderedCode and slice keys: spec/slices_and_partitions.md §2, both ways. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "format/slicekey_int.h"
#include "hexutil.h"
#include "testutil.h"

static void check_signed(int64_t v, const char *hex)
{
	size_t wl;
	uint8_t *want = tu_hex(hex, &wl);
	ckpt__buf b = {0};
	ck_assert_int_eq(ckpt__oc_put_signed_num_increasing(&b, v), 0);
	tu_assert_bytes(b.data, b.len, want, wl);
	const uint8_t *p = want;
	int64_t got = 0;
	ck_assert_int_eq(ckpt__oc_get_signed_num_increasing(&p, want + wl, &got), 0);
	ck_assert_int_eq(got, v);
	ck_assert_ptr_eq(p, want + wl);
	ckpt__buf_free(&b);
	free(want);
}

static void check_unsigned(uint64_t v, const char *hex)
{
	size_t wl;
	uint8_t *want = tu_hex(hex, &wl);
	ckpt__buf b = {0};
	ck_assert_int_eq(ckpt__oc_put_num_increasing(&b, v), 0);
	tu_assert_bytes(b.data, b.len, want, wl);
	const uint8_t *p = want;
	uint64_t got = 1;
	ck_assert_int_eq(ckpt__oc_get_num_increasing(&p, want + wl, &got), 0);
	ck_assert_uint_eq(got, v);
	ck_assert_ptr_eq(p, want + wl);
	ckpt__buf_free(&b);
	free(want);
}

START_TEST(test_oc_spec_examples)
{
	check_unsigned(0, "00");
	check_unsigned(1, "0101");
	check_unsigned(2, "0102");
	check_unsigned(300, "02012c");
	check_unsigned(UINT64_MAX, "08ffffffffffffffff");
	check_signed(0, "80");
	check_signed(3, "83");
	check_signed(63, "bf");
	check_signed(-1, "7f");
	check_signed(-2, "7e");
	check_signed(-64, "40");
	check_signed(64, "c040");
	check_signed(100, "c064");
	check_signed(8191, "dfff");
	check_signed(8192, "e02000");
	check_signed((int64_t)1 << 40, "fd0000000000");
	check_signed(-65, "3fbf");
	check_signed(-100, "3f9c");
	/* the ends of the range: 10 bytes */
	check_signed(INT64_MAX, "ffc07fffffffffffffff");
	check_signed(INT64_MIN, "003f8000000000000000");
	check_signed(((int64_t)1 << 55), "ff8080000000000000");
}
END_TEST

/* Encoding preserves order and round-trips around every length boundary. */
START_TEST(test_oc_signed_roundtrip_and_order)
{
	int64_t vals[400];
	size_t n = 0;
	for (int b = 0; b < 63; b++) {
		int64_t p = (int64_t)1 << b;
		vals[n++] = p - 1;
		vals[n++] = p;
		vals[n++] = -p;
		vals[n++] = -p - 1;
		vals[n++] = p + 1;
	}
	vals[n++] = INT64_MAX;
	vals[n++] = INT64_MIN;
	ckpt__buf prev = {0};
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < n; j++) {
			ckpt__buf a = {0}, b = {0};
			ck_assert_int_eq(ckpt__oc_put_signed_num_increasing(&a, vals[i]), 0);
			ck_assert_int_eq(ckpt__oc_put_signed_num_increasing(&b, vals[j]), 0);
			size_t m = a.len < b.len ? a.len : b.len;
			int c = memcmp(a.data, b.data, m);
			if (c == 0)
				c = a.len < b.len ? -1 : a.len > b.len;
			int want = vals[i] < vals[j] ? -1 : vals[i] > vals[j];
			ck_assert_int_eq(c < 0 ? -1 : c > 0, want);
			ckpt__buf_free(&a);
			ckpt__buf_free(&b);
		}
		ckpt__buf e = {0};
		ck_assert_int_eq(ckpt__oc_put_signed_num_increasing(&e, vals[i]), 0);
		const uint8_t *p = e.data;
		int64_t got;
		ck_assert_int_eq(ckpt__oc_get_signed_num_increasing(&p, e.data + e.len, &got), 0);
		ck_assert_int_eq(got, vals[i]);
		ck_assert_ptr_eq(p, e.data + e.len);
		/* every truncation fails */
		for (size_t k = 0; k < e.len; k++) {
			p = e.data;
			ck_assert_int_eq(ckpt__oc_get_signed_num_increasing(&p, e.data + k, &got),
					 -1);
			ck_assert_ptr_eq(p, e.data);
		}
		ckpt__buf_free(&e);
	}
	ckpt__buf_free(&prev);
}
END_TEST

START_TEST(test_oc_malformed)
{
	const uint8_t bad_len[] = {0x09, 1, 2, 3, 4, 5, 6, 7, 8, 9};
	const uint8_t short_num[] = {0x03, 1, 2};
	const uint8_t too_long_signed[] = {0xff, 0xc0, 0x80, 0, 0, 0, 0, 0, 0, 0, 0};
	const uint8_t too_long_signed2[] = {0xff, 0xe0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
	const uint8_t *p;
	uint64_t u;
	int64_t s;
	p = bad_len;
	ck_assert_int_eq(ckpt__oc_get_num_increasing(&p, bad_len + sizeof(bad_len), &u), -1);
	p = short_num;
	ck_assert_int_eq(ckpt__oc_get_num_increasing(&p, short_num + 3, &u), -1);
	p = short_num;
	ck_assert_int_eq(ckpt__oc_get_num_increasing(&p, short_num, &u), -1);
	p = too_long_signed;
	ck_assert_int_eq(ckpt__oc_get_signed_num_increasing(&p, p + sizeof(too_long_signed), &s),
			 -1);
	p = too_long_signed2;
	ck_assert_int_eq(ckpt__oc_get_signed_num_increasing(&p, p + sizeof(too_long_signed2), &s),
			 -1);
}
END_TEST

START_TEST(test_oc_string_escapes)
{
	ckpt__buf b = {0}, d = {0};
	ck_assert_int_eq(ckpt__oc_put_string(&b,
					     "a\0b\xff"
					     "c",
					     5),
			 0);
	size_t wl;
	uint8_t *want = tu_hex("61 00ff 62 ff00 63 0001", &wl);
	tu_assert_bytes(b.data, b.len, want, wl);
	const uint8_t *p = b.data;
	ck_assert_int_eq(ckpt__oc_get_string(&p, b.data + b.len, &d), 0);
	tu_assert_bytes(d.data, d.len,
			(const uint8_t *)"a\0b\xff"
					 "c",
			5);
	/* bad escapes and a missing terminator */
	const uint8_t bad1[] = {'a', 0x00, 0x02};
	const uint8_t bad2[] = {'a', 0xff, 0x01, 0x00, 0x01};
	const uint8_t bad3[] = {'a', 'b'};
	const uint8_t bad4[] = {'a', 0x00};
	d.len = 0;
	p = bad1;
	ck_assert_int_eq(ckpt__oc_get_string(&p, bad1 + 3, &d), -1);
	p = bad2;
	ck_assert_int_eq(ckpt__oc_get_string(&p, bad2 + 5, &d), -1);
	p = bad3;
	ck_assert_int_eq(ckpt__oc_get_string(&p, bad3 + 2, &d), -1);
	p = bad4;
	ck_assert_int_eq(ckpt__oc_get_string(&p, bad4 + 2, &d), -1);
	ck_assert_uint_eq(d.len, 0);
	free(want);
	ckpt__buf_free(&b);
	ckpt__buf_free(&d);
}
END_TEST

static const struct {
	const char *name;
	int rank;
	int64_t start[2], length[2];
	const char *hex;
} key_examples[] = {
    {"w", 2, {0, 0}, {2, 2}, "00 77 00 01 01 02 80 82 80 82"},
    {"w", 2, {2, 0}, {1, 2}, "00 77 00 01 01 02 82 81 80 82"},
    {"w", 2, {0, 0}, {2, -1}, "00 77 00 01 01 02 80 82 80 7f"},
    {"v", 1, {0}, {-1}, "00 76 00 01 01 01 80 7f"},
    {"s", 0, {0}, {0}, "00 73 00 01 00"},
    {"emb", 2, {100, 0}, {50, -1}, "00 65 6d 62 00 01 01 02 c0 64 b2 80 7f"},
};

START_TEST(test_slicekey_spec_examples)
{
	for (size_t i = 0; i < sizeof(key_examples) / sizeof(key_examples[0]); i++) {
		size_t wl;
		uint8_t *want = tu_hex(key_examples[i].hex, &wl);
		ckpt__buf b = {0};
		ck_assert_int_eq(ckpt__slicekey_encode(&b, key_examples[i].name,
						       strlen(key_examples[i].name),
						       key_examples[i].rank, key_examples[i].start,
						       key_examples[i].length),
				 0);
		tu_assert_bytes(b.data, b.len, want, wl);
		ckpt__buf name = {0};
		int rank = -1;
		int64_t st[4], ln[4];
		ckpt_error err = CKPT_ERROR_INIT;
		int rc = ckpt__slicekey_decode(want, wl, &name, &rank, st, ln, 4, &err);
		if (key_examples[i].rank == 0) {
			/* TF's decoder rejects V1's rank-0 keys */
			ck_assert_int_eq(rc, CKPT_ECORRUPT);
			ck_assert_ptr_nonnull(
			    strstr(err.msg, "Expecting positive rank of the tensor, got 0"));
		} else {
			ck_assert_int_eq(rc, 0);
			ck_assert_str_eq((const char *)name.data, key_examples[i].name);
			ck_assert_uint_eq(name.len, strlen(key_examples[i].name));
			ck_assert_int_eq(rank, key_examples[i].rank);
			for (int d = 0; d < rank; d++) {
				ck_assert_int_eq(st[d], key_examples[i].start[d]);
				ck_assert_int_eq(ln[d], key_examples[i].length[d]);
			}
		}
		ckpt__buf_free(&name);
		ckpt__buf_free(&b);
		free(want);
	}
}
END_TEST

START_TEST(test_slicekey_decode_checks)
{
	ckpt__buf name = {0};
	int rank;
	int64_t st[2], ln[2];
	ckpt_error err = CKPT_ERROR_INIT;
	size_t l;
	uint8_t *k;

	k = tu_hex("0101 77 0001 0101 8080", &l);
	ck_assert_int_eq(ckpt__slicekey_decode(k, l, &name, &rank, st, ln, 2, &err), CKPT_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(err.msg, "The leading number should always be 0"));
	free(k);
	k = tu_hex("00 77 0002", &l);
	name.len = 0;
	ck_assert_int_eq(ckpt__slicekey_decode(k, l, &name, &rank, st, ln, 2, &err), CKPT_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(err.msg, "Failed to parse the tensor name"));
	free(k);
	k = tu_hex("00 77 0001 03", &l);
	name.len = 0;
	ck_assert_int_eq(ckpt__slicekey_decode(k, l, &name, &rank, st, ln, 2, &err), CKPT_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(err.msg, "Failed to parse the tensor rank"));
	free(k);
	k = tu_hex("00 77 0001 04 7fffffff", &l);
	name.len = 0;
	ck_assert_int_eq(ckpt__slicekey_decode(k, l, &name, &rank, st, ln, 2, &err), CKPT_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(err.msg, "Too many elements"));
	free(k);
	k = tu_hex("00 77 0001 0103 80 80 80 80 80 80", &l);
	name.len = 0;
	ck_assert_int_eq(ckpt__slicekey_decode(k, l, &name, &rank, st, ln, 2, &err),
			 CKPT_EUNSUPPORTED);
	free(k);
	k = tu_hex("00 77 0001 0102 80 82 80", &l);
	name.len = 0;
	ck_assert_int_eq(ckpt__slicekey_decode(k, l, &name, &rank, st, ln, 2, &err), CKPT_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(err.msg, "Failed to parse length"));
	free(k);
	k = tu_hex("00 77 0001 0102 80 82", &l);
	name.len = 0;
	ck_assert_int_eq(ckpt__slicekey_decode(k, l, &name, &rank, st, ln, 2, &err), CKPT_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(err.msg, "Failed to parse start"));
	free(k);
	/* length -5 means full; start is then reported as 0 */
	k = tu_hex("00 77 0001 0101 83 7b", &l);
	name.len = 0;
	ck_assert_int_eq(ckpt__slicekey_decode(k, l, &name, &rank, st, ln, 2, &err), 0);
	ck_assert_int_eq(st[0], 0);
	ck_assert_int_eq(ln[0], CKPT__SLICE_FULL);
	free(k);
	/* every truncation of a valid key fails cleanly */
	k = tu_hex("00 65 6d 62 00 01 01 02 c0 64 b2 80 7f", &l);
	for (size_t cut = 0; cut < l; cut++) {
		name.len = 0;
		ck_assert_int_ne(ckpt__slicekey_decode(k, cut, &name, &rank, st, ln, 2, NULL), 0);
	}
	free(k);
	/* names with 00/ff round-trip */
	ckpt__buf e = {0};
	int64_t s1[1] = {5}, l1[1] = {7};
	ck_assert_int_eq(ckpt__slicekey_encode(&e, "a\0\xff", 3, 1, s1, l1), 0);
	name.len = 0;
	ck_assert_int_eq(ckpt__slicekey_decode(e.data, e.len, &name, &rank, st, ln, 2, NULL), 0);
	tu_assert_bytes(name.data, name.len, (const uint8_t *)"a\0\xff", 3);
	ck_assert_int_eq(ckpt__slicekey_encode(&e, "x", 1, -1, s1, l1), CKPT_EINVAL);
	ckpt__buf_free(&e);
	ckpt__buf_free(&name);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("slicekey");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_oc_spec_examples);
	tcase_add_test(tc, test_oc_signed_roundtrip_and_order);
	tcase_add_test(tc, test_oc_malformed);
	tcase_add_test(tc, test_oc_string_escapes);
	tcase_add_test(tc, test_slicekey_spec_examples);
	tcase_add_test(tc, test_slicekey_decode_checks);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
