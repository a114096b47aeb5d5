/* SSTable writer: byte-exact against spec/index_sstable.md, block
 * boundaries, separators, key order. */
#include <check.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/codec_int.h"
#include "format/sstable_writer_int.h"
#include "spec_examples.h"
#include "hexutil.h"
#include "testutil.h"

/* bundle.md: its key -> value table */
static const char *const example_kv[][2] = {
    {"", "08011a020801"},
    {"00770001010280828082", "08031208 12020802 12020802 200f 2810 35cbd05fb6"},
    {"00770001010282818082", "08031208 12020801 12020802 201f 2808 35702be761"},
    {"61", "0801 1204 12020802 2808 35593ce535"},
    {"73", "0807 1200 2008 2807 3509eb4d15"},
    {"77", "0803 1208 12020803 12020802 3a08 0a021002 0a021002 3a0a 0a0408021001 0a021002"},
};

static void add_hex(ckpt__sst_writer *w, const char *khex, const char *vhex)
{
	size_t kl, vl;
	uint8_t *k = tu_hex(khex, &kl), *v = tu_hex(vhex, &vl);
	ck_assert_int_eq(ckpt__sst_writer_add(w, k, kl, v, vl, NULL), 0);
	free(k);
	free(v);
}

START_TEST(test_sst_worked_example_byte_exact)
{
	ckpt__buf out = {0};
	ckpt__sst_writer w;
	ck_assert_int_eq(ckpt__sst_writer_init_buf(&w, &out, NULL), 0);
	for (size_t i = 0; i < sizeof(example_kv) / sizeof(example_kv[0]); i++)
		add_hex(&w, example_kv[i][0], example_kv[i][1]);
	ck_assert_int_eq(ckpt__sst_writer_finish(&w, NULL), 0);
	ckpt__sst_writer_free(&w);

	size_t wl;
	uint8_t *want = tu_hex(spec_example_index_hex, &wl);
	ck_assert_uint_eq(wl, 239);
	tu_assert_bytes(out.data, out.len, want, wl);
	free(want);
	ckpt__buf_free(&out);
}
END_TEST

START_TEST(test_sst_fd_sink_matches_buffer)
{
	char path[] = "/tmp/ckpt-sst-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ckpt__sst_writer w;
	ck_assert_int_eq(ckpt__sst_writer_init_fd(&w, fd, path, NULL), 0);
	for (size_t i = 0; i < sizeof(example_kv) / sizeof(example_kv[0]); i++)
		add_hex(&w, example_kv[i][0], example_kv[i][1]);
	ck_assert_int_eq(ckpt__sst_writer_finish(&w, NULL), 0);
	ckpt__sst_writer_free(&w);
	close(fd);
	size_t got_len = 0, wl;
	uint8_t *got = tu_read(path, &got_len);
	unlink(path);
	uint8_t *want = tu_hex(spec_example_index_hex, &wl);
	ck_assert_ptr_nonnull(got);
	tu_assert_bytes(got, got_len, want, wl);
	free(got);
	free(want);
}
END_TEST

START_TEST(test_sst_empty_table)
{
	ckpt__buf out = {0};
	ckpt__sst_writer w;
	ck_assert_int_eq(ckpt__sst_writer_init_buf(&w, &out, NULL), 0);
	ck_assert_int_eq(ckpt__sst_writer_finish(&w, NULL), 0);
	ckpt__sst_writer_free(&w);
	/* metaindex at 0 (8+5), index at 13 with no entries, footer */
	size_t wl;
	uint8_t *want = tu_hex("0000000001000000 00 c0f2a1b0"
			       "0000000001000000 00 c0f2a1b0"
			       "0008 0d08 000000000000000000000000000000000000"
			       "000000000000000000000000000000000000"
			       "57fb808b247547db",
			       &wl);
	ck_assert_uint_eq(wl, 13 + 13 + 48);
	tu_assert_bytes(out.data, out.len, want, wl);
	free(want);
	ckpt__buf_free(&out);
}
END_TEST

START_TEST(test_sst_rejects_unordered_keys)
{
	ckpt__buf out = {0};
	ckpt__sst_writer w;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt__sst_writer_init_buf(&w, &out, NULL), 0);
	ck_assert_int_eq(ckpt__sst_writer_add(&w, "", 0, "x", 1, NULL), 0);
	ck_assert_int_eq(ckpt__sst_writer_add(&w, "", 0, "x", 1, &err), CKPT_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "strictly increasing"));
	ck_assert_int_eq(ckpt__sst_writer_add(&w, "b", 1, "x", 1, NULL), 0);
	ck_assert_int_eq(ckpt__sst_writer_add(&w, "a", 1, "x", 1, NULL), CKPT_EINVAL);
	ck_assert_int_eq(ckpt__sst_writer_add(&w, "b", 1, "x", 1, NULL), CKPT_EINVAL);
	/* "b" < "b\0": a longer key with the same prefix is greater */
	ck_assert_int_eq(ckpt__sst_writer_add(&w, "b\0", 2, "x", 1, NULL), 0);
	ck_assert_int_eq(ckpt__sst_writer_add(&w, "\xff", 1, "x", 1, NULL), 0);
	/* the writer still works after a rejected key */
	ck_assert_int_eq(ckpt__sst_writer_finish(&w, NULL), 0);
	ck_assert_int_eq(ckpt__sst_writer_add(&w, "\xff\xff", 2, "", 0, NULL), CKPT_EINVAL);
	ckpt__sst_writer_free(&w);
	ckpt__buf_free(&out);
}
END_TEST

static void sep(const char *start, size_t slen, const char *limit, size_t llen, const char *want,
		size_t wlen)
{
	ckpt__buf b = {0};
	ck_assert_int_eq(ckpt__buf_append(&b, start, slen), 0);
	ckpt__sst_shortest_separator(&b, (const uint8_t *)limit, llen);
	tu_assert_bytes(b.data, b.len, (const uint8_t *)want, wlen);
	ckpt__buf_free(&b);
}

static void succ(const char *key, size_t klen, const char *want, size_t wlen)
{
	ckpt__buf b = {0};
	ck_assert_int_eq(ckpt__buf_append(&b, key, klen), 0);
	ckpt__sst_short_successor(&b);
	tu_assert_bytes(b.data, b.len, (const uint8_t *)want, wlen);
	ckpt__buf_free(&b);
}

START_TEST(test_sst_separator_and_successor)
{
	sep("abcd", 4, "abzz", 4, "abd", 3);
	sep("abcd", 4, "abce", 4, "abcd", 4); /* c+1 == d is not < e-... kept */
	sep("abc", 3, "abcdef", 6, "abc", 3); /* prefix: kept */
	sep("abcdef", 6, "abc", 3, "abcdef", 6);
	sep("a\xff"
	    "x",
	    3, "b", 1,
	    "a\xff"
	    "x",
	    3); /* a+1 == b: kept */
	sep("a\xff"
	    "x",
	    3, "c", 1, "b", 1);
	sep("\xff"
	    "a",
	    2,
	    "\xff"
	    "c",
	    2,
	    "\xff"
	    "b",
	    2);
	sep("\xfe"
	    "a",
	    2, "\xff", 1,
	    "\xfe"
	    "a",
	    2);
	succ("model/wte", 9, "n", 1);
	succ("w", 1, "x", 1);
	succ("\xff\xff"
	     "a",
	     3,
	     "\xff\xff"
	     "b",
	     3);
	succ("\xff\xff", 2, "\xff\xff", 2);
	succ("", 0, "", 0);
	succ("\0", 1, "\x01", 1);
}
END_TEST

/*
 * Small blocks: with block_size 64 the builder flushes after the entry
 * that makes the estimate reach 64. Check the layout by walking the file.
 */
START_TEST(test_sst_multi_block_layout)
{
	ckpt__sst_options opt = {64, 2};
	ckpt__buf out = {0};
	ckpt__sst_writer w;
	char key[16], val[24];
	ck_assert_int_eq(ckpt__sst_writer_init_buf(&w, &out, &opt), 0);
	for (int i = 0; i < 20; i++) {
		snprintf(key, sizeof(key), "key%03d", i);
		memset(val, 'a' + i, sizeof(val));
		ck_assert_int_eq(
		    ckpt__sst_writer_add(&w, key, strlen(key), val, (size_t)(i % 3) * 8, NULL), 0);
	}
	ck_assert_int_eq(ckpt__sst_writer_finish(&w, NULL), 0);
	ckpt__sst_writer_free(&w);

	/* Footer -> index block; every index entry: restart (shared 0). */
	ck_assert_uint_ge(out.len, 48);
	const uint8_t *f = out.data + out.len - 48, *fe = out.data + out.len;
	ck_assert_uint_eq(ckpt__load_le64(f + 40), CKPT__SST_MAGIC);
	uint64_t mo, ms, io, is;
	ck_assert_int_eq(ckpt__get_varint64(&f, fe, &mo), 0);
	ck_assert_int_eq(ckpt__get_varint64(&f, fe, &ms), 0);
	ck_assert_int_eq(ckpt__get_varint64(&f, fe, &io), 0);
	ck_assert_int_eq(ckpt__get_varint64(&f, fe, &is), 0);
	ck_assert_uint_eq(ms, 8);
	ck_assert_uint_eq(io, mo + 13);
	const uint8_t *ib = out.data + io;
	uint32_t nrest = ckpt__load_le32(ib + is - 4);
	ck_assert_uint_gt(nrest, 2);
	const uint8_t *p = ib, *pe = ib + is - 4 - 4 * (uint64_t)nrest;
	uint64_t expect_off = 0;
	int total = 0;
	char prev_sep[32] = "";
	while (p < pe) {
		uint32_t shared, nk, vl;
		ck_assert_int_eq(ckpt__get_varint32(&p, pe, &shared), 0);
		ck_assert_int_eq(ckpt__get_varint32(&p, pe, &nk), 0);
		ck_assert_int_eq(ckpt__get_varint32(&p, pe, &vl), 0);
		ck_assert_uint_eq(shared, 0);
		char sepk[32] = {0};
		memcpy(sepk, p, nk);
		p += nk;
		const uint8_t *v = p, *ve = p + vl;
		uint64_t bo, bs;
		ck_assert_int_eq(ckpt__get_varint64(&v, ve, &bo), 0);
		ck_assert_int_eq(ckpt__get_varint64(&v, ve, &bs), 0);
		p = ve;
		ck_assert_uint_eq(bo, expect_off);
		expect_off = bo + bs + 5;
		/* the data block's estimate reached 64 (except the last) */
		ck_assert_uint_le(bs, 64 + 40);
		ck_assert_str_gt(sepk, prev_sep);
		strcpy(prev_sep, sepk);
		/* count entries and check restarts every 2 entries */
		const uint8_t *db = out.data + bo;
		uint32_t dn = ckpt__load_le32(db + bs - 4);
		const uint8_t *q = db, *qe = db + bs - 4 - 4 * (uint64_t)dn;
		int k = 0;
		while (q < qe) {
			uint32_t sh, ns, l;
			if (k % 2 == 0)
				ck_assert_uint_eq(ckpt__load_le32(db + bs - 4 - 4 * (uint64_t)dn +
								  4 * (uint64_t)(k / 2)),
						  (uint32_t)(q - db));
			ck_assert_int_eq(ckpt__get_varint32(&q, qe, &sh), 0);
			ck_assert_int_eq(ckpt__get_varint32(&q, qe, &ns), 0);
			ck_assert_int_eq(ckpt__get_varint32(&q, qe, &l), 0);
			if (k % 2 == 0)
				ck_assert_uint_eq(sh, 0);
			q += ns + l;
			k++;
			total++;
		}
		ck_assert_uint_eq(dn, (uint32_t)(k + 1) / 2);
	}
	ck_assert_int_eq(total, 20);
	ck_assert_uint_eq(expect_off, mo);
	/* last separator = short successor of "key019" */
	ck_assert_str_eq(prev_sep, "l");
	ckpt__buf_free(&out);
}
END_TEST

/* A value >= 2 * block_size flushes the block in progress first. */
START_TEST(test_sst_huge_entry_flushes_first)
{
	ckpt__sst_options opt = {64, 16};
	ckpt__buf out = {0};
	ckpt__sst_writer w;
	char big[200];
	memset(big, 'z', sizeof(big));
	ck_assert_int_eq(ckpt__sst_writer_init_buf(&w, &out, &opt), 0);
	ck_assert_int_eq(ckpt__sst_writer_add(&w, "a", 1, "1", 1, NULL), 0);
	ck_assert_int_eq(ckpt__sst_writer_add(&w, "b", 1, big, sizeof(big), NULL), 0);
	ck_assert_int_eq(ckpt__sst_writer_finish(&w, NULL), 0);
	ckpt__sst_writer_free(&w);
	/* block 0 = just "a": 00 01 01 'a' '1' + restarts(4) + count(4) = 13 */
	ck_assert_uint_eq(out.data[13], 0); /* type */
	ck_assert_uint_eq(out.data[18], 0); /* next block starts with shared 0 */
	ck_assert_uint_eq(out.data[19], 1);
	ck_assert_uint_eq(out.data[22], 'b');
	ckpt__buf_free(&out);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("sstable_writer");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_sst_worked_example_byte_exact);
	tcase_add_test(tc, test_sst_fd_sink_matches_buffer);
	tcase_add_test(tc, test_sst_empty_table);
	tcase_add_test(tc, test_sst_rejects_unordered_keys);
	tcase_add_test(tc, test_sst_separator_and_successor);
	tcase_add_test(tc, test_sst_multi_block_layout);
	tcase_add_test(tc, test_sst_huge_entry_flushes_first);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
