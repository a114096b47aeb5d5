/* Bundle writer: byte-exact against spec/bundle.md, argument checks,
 * sharded saves. */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ckpt/reader.h"
#include "ckpt/writer.h"
#include "util/codec_int.h"
#include "format/table_int.h"
#include "format/sstable_int.h"
#include "util/crc32c_int.h"
#include "format/slicekey_int.h"
#include "format/writer_int.h"
#include "spec_examples.h"
#include "hexutil.h"
#include "testutil.h"
#include "genref.h"

static const char *const example_data_hex = "0000803f 00000040"
					    "02 d8d81073 6869"
					    "01000000 02000000 03000000 04000000"
					    "05000000 06000000";

static const char *path_of(const char *name)
{
	return tu_path(tu_dir, name);
}

static void assert_file_hex(const char *path, const char *hex)
{
	size_t gl = 0, wl;
	uint8_t *got = tu_read(path, &gl);
	ck_assert_msg(got != NULL, "cannot read %s", path);
	uint8_t *want = tu_hex(hex, &wl);
	tu_assert_bytes(got, gl, want, wl);
	free(got);
	free(want);
}

/* The spec's example: a float32 [2], s "hi", w int32 [3,2] in two row
 * slices, added in that order. */
static void write_example(const char *prefix)
{
	ckpt_writer *w;
	ckpt_error err = CKPT_ERROR_INIT;
	const float a[2] = {1.0f, 2.0f};
	const int32_t w01[4] = {1, 2, 3, 4}, w2[2] = {5, 6};
	const int64_t adims[1] = {2}, wdims[2] = {3, 2};
	const int64_t s0[2] = {0, 0}, l0[2] = {2, 2}, s1[2] = {2, 0}, l1[2] = {1, 2};
	const char *hi = "hi";

	ck_assert_int_eq(ckpt_writer_open(&w, prefix, &err), 0);
	ck_assert_int_eq(ckpt_writer_add(w, "a", CKPT_DT_FLOAT, 1, adims, a, 8, &err), 0);
	ck_assert_int_eq(ckpt_writer_add_strings(w, "s", 0, NULL, &hi, NULL, &err), 0);
	ck_assert_int_eq(
	    ckpt_writer_add_slice(w, "w", CKPT_DT_INT32, 2, wdims, s0, l0, w01, 16, &err), 0);
	ck_assert_int_eq(
	    ckpt_writer_add_slice(w, "w", CKPT_DT_INT32, 2, wdims, s1, l1, w2, 8, &err), 0);
	ck_assert_msg(ckpt_writer_finish(w, &err) == 0, "%s", err.msg);
	ckpt_writer_close(w);
}

START_TEST(test_writer_worked_example_byte_exact)
{
	write_example(path_of("model"));
	assert_file_hex(path_of("model.index"), spec_example_index_hex);
	assert_file_hex(path_of("model.data-00000-of-00001"), example_data_hex);
	/* nothing else left behind */
	ck_assert_int_ne(access(path_of("model.part-00000.tmp"), F_OK), 0);
	ck_assert_int_ne(access(path_of("model.index.tmp"), F_OK), 0);
}
END_TEST

START_TEST(test_writer_creates_parent_dirs)
{
	write_example(path_of("x/y/model"));
	assert_file_hex(path_of("x/y/model.index"), spec_example_index_hex);
}
END_TEST

static const struct {
	size_t n;
	const char *strs[3];
	uint64_t lens[3];
	const char *data_hex;
	uint32_t crc;
} string_examples[] = {
    {1, {"hi"}, {2}, "02 d8d81073 6869", 0x154deb09},
    {3, {"ab", "", "xyz"}, {2, 0, 3}, "02 00 03 1b428bca 6162 78797a", 0x3fc4ad10},
    {0, {NULL}, {0}, "d8ea82a2", 0x640cc1f6},
};

START_TEST(test_writer_string_examples)
{
	for (size_t i = 0; i < 3; i++) {
		ckpt__buf b = {0};
		uint32_t crc;
		ck_assert_int_eq(ckpt__bundle_string_head(&b, string_examples[i].n,
							  string_examples[i].lens, &crc),
				 0);
		for (size_t k = 0; k < string_examples[i].n; k++) {
			ck_assert_int_eq(ckpt__buf_append(&b, string_examples[i].strs[k],
							  string_examples[i].lens[k]),
					 0);
			crc = ckpt__crc32c_extend(crc, string_examples[i].strs[k],
						  string_examples[i].lens[k]);
		}
		size_t wl;
		uint8_t *want = tu_hex(string_examples[i].data_hex, &wl);
		tu_assert_bytes(b.data, b.len, want, wl);
		ck_assert_uint_eq(ckpt__crc32c_mask(crc), string_examples[i].crc);
		free(want);
		ckpt__buf_free(&b);

		/* the same through the public writer: entry size and crc */
		ckpt_writer *w;
		int64_t dims[1] = {(int64_t)string_examples[i].n};
		ck_assert_int_eq(ckpt_writer_open(&w, path_of("s"), NULL), 0);
		ck_assert_int_eq(ckpt_writer_add_strings(w, "t", i == 0 ? 0 : 1, dims,
							 string_examples[i].strs,
							 string_examples[i].lens, NULL),
				 0);
		ck_assert_int_eq(ckpt_writer_finish(w, NULL), 0);
		ckpt_writer_close(w);
		assert_file_hex(path_of("s.data-00000-of-00001"), string_examples[i].data_hex);
	}
}
END_TEST

START_TEST(test_writer_strings_with_nul_bytes_and_long_length)
{
	/* a length >= 128 takes a 2-byte varint; NUL bytes are data */
	char big[300];
	memset(big, 'q', sizeof(big));
	big[5] = '\0';
	const char *strs[2] = {big, "\0\xff"};
	uint64_t lens[2] = {300, 2};
	ckpt__buf b = {0};
	uint32_t crc;
	ck_assert_int_eq(ckpt__bundle_string_head(&b, 2, lens, &crc), 0);
	ck_assert_uint_eq(b.len, 2 + 1 + 4);
	ck_assert_uint_eq(b.data[0], 0xac);
	ck_assert_uint_eq(b.data[1], 0x02);
	ck_assert_uint_eq(b.data[2], 0x02);
	uint8_t le[8] = {0x2c, 0x01, 0, 0, 2, 0, 0, 0};
	ck_assert_uint_eq(ckpt__load_le32(b.data + 3),
			  ckpt__crc32c_mask(ckpt__crc32c_extend(0, le, 8)));
	/* the writer's data file = head + bytes, NULs kept */
	ckpt_writer *w;
	int64_t dims[1] = {2};
	ck_assert_int_eq(ckpt_writer_open(&w, path_of("n"), NULL), 0);
	ck_assert_int_eq(ckpt_writer_add_strings(w, "t", 1, dims, strs, lens, NULL), 0);
	ck_assert_int_eq(ckpt_writer_finish(w, NULL), 0);
	ckpt_writer_close(w);
	size_t n = 0;
	uint8_t *got = tu_read(path_of("n.data-00000-of-00001"), &n);
	ck_assert_uint_eq(n, b.len + 302);
	ck_assert_int_eq(memcmp(got, b.data, b.len), 0);
	ck_assert_int_eq(memcmp(got + b.len, big, 300), 0);
	ck_assert_int_eq(memcmp(got + b.len + 300, "\0\xff", 2), 0);
	free(got);
	ckpt__buf_free(&b);
}
END_TEST

START_TEST(test_writer_entry_encoding)
{
	/* bundle.md: float32 [2] at offset 0; scalar int64 */
	int64_t d2[1] = {2};
	ckpt__entry_fields e = {.dtype = 1, .rank = 1, .dims = d2, .size = 8, .crc32c = 0x35e53c59};
	ckpt__buf b = {0};
	size_t wl;
	uint8_t *want;
	ck_assert_int_eq(ckpt__bundle_encode_entry(&b, &e), 0);
	want = tu_hex("0801 1204 12020802 2808 35593ce535", &wl);
	tu_assert_bytes(b.data, b.len, want, wl);
	free(want);
	/* zero-sized dims are empty Dim messages; a zero crc is omitted */
	int64_t d03[2] = {0, 3};
	ckpt__entry_fields z = {.dtype = 9, .rank = 2, .dims = d03, .shard_id = 2, .offset = 300};
	b.len = 0;
	ck_assert_int_eq(ckpt__bundle_encode_entry(&b, &z), 0);
	want = tu_hex("0809 1206 1200 12020803 1802 20ac02", &wl);
	tu_assert_bytes(b.data, b.len, want, wl);
	free(want);
	/* scalar: shape present but empty */
	ckpt__entry_fields sc = {.dtype = 9, .rank = 0, .size = 8, .crc32c = 1};
	b.len = 0;
	ck_assert_int_eq(ckpt__bundle_encode_entry(&b, &sc), 0);
	want = tu_hex("0809 1200 2808 3501000000", &wl);
	tu_assert_bytes(b.data, b.len, want, wl);
	free(want);
	/* slices: full extent -> empty Extent; start 0 omitted; length kept */
	int64_t d32[2] = {3, 2};
	int64_t sl[4] = {2, 1, 0, -1};
	ckpt__entry_fields f = {.dtype = 3, .rank = 2, .dims = d32, .n_slices = 1, .slices = sl};
	b.len = 0;
	ck_assert_int_eq(ckpt__bundle_encode_entry(&b, &f), 0);
	want = tu_hex("0803 1208 12020803 12020802 3a08 0a0408021001 0a00", &wl);
	tu_assert_bytes(b.data, b.len, want, wl);
	free(want);
	/* header */
	b.len = 0;
	ck_assert_int_eq(ckpt__bundle_encode_header(&b, 1), 0);
	want = tu_hex("08011a020801", &wl);
	tu_assert_bytes(b.data, b.len, want, wl);
	free(want);
	b.len = 0;
	ck_assert_int_eq(ckpt__bundle_encode_header(&b, 300), 0);
	want = tu_hex("08ac021a020801", &wl);
	tu_assert_bytes(b.data, b.len, want, wl);
	free(want);
	ckpt__buf_free(&b);
}
END_TEST

START_TEST(test_writer_empty_bundle)
{
	ckpt_writer *w;
	ck_assert_int_eq(ckpt_writer_open(&w, path_of("e"), NULL), 0);
	ck_assert_int_eq(ckpt_writer_finish(w, NULL), 0);
	ckpt_writer_close(w);
	assert_file_hex(path_of("e.data-00000-of-00001"), "");
	size_t n = 0;
	uint8_t *idx = tu_read(path_of("e.index"), &n);
	ck_assert_ptr_nonnull(idx);
	/* data block (header entry, 17 + 5), metaindex (13), index block with
	 * key "" (successor of "" is "") -> handle 00 11 (18), footer */
	ck_assert_uint_eq(n, 22 + 13 + 18 + 48);
	ck_assert_uint_eq(idx[22 + 13 + 3], 0x00);
	ck_assert_uint_eq(idx[22 + 13 + 4], 0x11);
	free(idx);
}
END_TEST

START_TEST(test_writer_rejects_bad_arguments)
{
	ckpt_writer *w;
	ckpt_error err = CKPT_ERROR_INIT;
	float f[4] = {0};
	int64_t d2[1] = {2}, dn[1] = {-1}, big[2] = {INT64_MAX / 2, 4};
	int64_t full[2] = {4, 2}, st[2] = {0, 0}, ln[2] = {2, 2}, bad[2] = {3, 2};

	ck_assert_int_eq(ckpt_writer_open(&w, "", &err), CKPT_EINVAL);
	ck_assert_ptr_null(w);
	ck_assert_int_eq(ckpt_writer_open(&w, path_of("b"), &err), 0);
	ck_assert_int_eq(ckpt_writer_add(w, "", CKPT_DT_FLOAT, 1, d2, f, 8, &err), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_writer_add(w, "x", CKPT_DT_FLOAT, 1, d2, f, 12, &err), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_writer_add(w, "x", CKPT_DT_FLOAT, 1, dn, f, 0, &err), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_writer_add(w, "x", CKPT_DT_FLOAT, 2, big, f, 8, &err), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_writer_add(w, "x", CKPT_DT_FLOAT, 255, d2, f, 8, &err), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_writer_add(w, "x", CKPT_DT_FLOAT, -1, d2, f, 8, &err), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_writer_add(w, "x", CKPT_DT_STRING, 1, d2, f, 8, &err),
			 CKPT_EUNSUPPORTED);
	ck_assert_int_eq(ckpt_writer_add(w, "x", (ckpt_dtype)77, 1, d2, f, 8, &err), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_writer_add(w, "x", CKPT_DT_FLOAT, 1, d2, NULL, 8, &err), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_writer_add(w, "x", CKPT_DT_FLOAT, 1, d2, f, 8, &err), 0);
	ck_assert_int_eq(ckpt_writer_add(w, "x", CKPT_DT_FLOAT, 1, d2, f, 8, &err), CKPT_EINVAL);
	ck_assert_str_eq(err.msg, "Adding duplicate key: x");
	ck_assert_int_eq(ckpt_writer_add_strings(w, "x", 0, NULL, NULL, NULL, &err), CKPT_EINVAL);
	/* slices: out of bounds, zero length, mixed with a plain tensor */
	ck_assert_int_eq(
	    ckpt_writer_add_slice(w, "p", CKPT_DT_FLOAT, 2, full, bad, ln, f, 16, &err),
	    CKPT_EINVAL);
	ln[0] = 0;
	ck_assert_int_eq(ckpt_writer_add_slice(w, "p", CKPT_DT_FLOAT, 2, full, st, ln, f, 0, &err),
			 CKPT_EINVAL);
	ln[0] = 2;
	ck_assert_int_eq(ckpt_writer_add_slice(w, "x", CKPT_DT_FLOAT, 2, full, st, ln, f, 16, &err),
			 CKPT_EINVAL);
	ck_assert_int_eq(ckpt_writer_add_slice(w, "p", CKPT_DT_FLOAT, 2, full, st, ln, f, 12, &err),
			 CKPT_EINVAL);
	ck_assert_int_eq(ckpt_writer_add_slice(w, "p", CKPT_DT_FLOAT, 2, full, st, ln, f, 16, &err),
			 0);
	ck_assert_int_eq(ckpt_writer_add_slice(w, "p", CKPT_DT_FLOAT, 2, full, st, ln, f, 16, &err),
			 CKPT_EINVAL);
	ck_assert_int_eq(
	    ckpt_writer_add_slice(w, "p", CKPT_DT_INT32, 2, full, bad, ln, f, 16, &err),
	    CKPT_EINVAL);
	full[1] = 3;
	ck_assert_int_eq(ckpt_writer_add_slice(w, "p", CKPT_DT_FLOAT, 2, full, st, ln, f, 16, &err),
			 CKPT_EINVAL);
	ck_assert_int_eq(ckpt_writer_add(w, "p", CKPT_DT_FLOAT, 1, d2, f, 8, &err), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_writer_set_shard(w, -1, &err), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_writer_set_shard(w, CKPT_WRITER_MAX_SHARDS, &err), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_writer_finish(w, &err), 0);
	ck_assert_int_eq(ckpt_writer_finish(w, &err), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_writer_add(w, "y", CKPT_DT_FLOAT, 1, d2, f, 8, &err), CKPT_EINVAL);
	ckpt_writer_close(w);
	ckpt_writer_close(NULL);
}
END_TEST

/* A slice covering the whole tensor is a plain Add, as in TF. */
START_TEST(test_writer_full_slice_is_plain_add)
{
	ckpt_writer *w1, *w2;
	int32_t v[6] = {1, 2, 3, 4, 5, 6};
	int64_t dims[2] = {3, 2}, st[2] = {0, 0}, ln[2] = {3, 2}, fl[2] = {-1, -1};
	ck_assert_int_eq(ckpt_writer_open(&w1, path_of("p1"), NULL), 0);
	ck_assert_int_eq(
	    ckpt_writer_add_slice(w1, "v", CKPT_DT_INT32, 2, dims, st, ln, v, 24, NULL), 0);
	ck_assert_int_eq(
	    ckpt_writer_add_slice(w1, "u", CKPT_DT_INT32, 2, dims, st, fl, v, 24, NULL), 0);
	ck_assert_int_eq(ckpt_writer_finish(w1, NULL), 0);
	ckpt_writer_close(w1);
	ck_assert_int_eq(ckpt_writer_open(&w2, path_of("p2"), NULL), 0);
	ck_assert_int_eq(ckpt_writer_add(w2, "v", CKPT_DT_INT32, 2, dims, v, 24, NULL), 0);
	ck_assert_int_eq(ckpt_writer_add(w2, "u", CKPT_DT_INT32, 2, dims, v, 24, NULL), 0);
	ck_assert_int_eq(ckpt_writer_finish(w2, NULL), 0);
	ckpt_writer_close(w2);
	size_t n1 = 0, n2 = 0;
	uint8_t *a = tu_read(path_of("p1.index"), &n1);
	uint8_t *b = tu_read(path_of("p2.index"), &n2);
	tu_assert_bytes(a, n1, b, n2);
	free(a);
	free(b);
}
END_TEST

/*
 * Sharded: the example split over shards like MergeBundles would see it.
 * Shard 0: a; shard 1: s and the first w slice; shard 2: the second w
 * slice. Expect num_shards 3, shard ids, w's slices in shard order, and
 * w's full entry with the shard id of shard 1 (first input holding it).
 */
START_TEST(test_writer_sharded_merge)
{
	ckpt_writer *w;
	ckpt_error err = CKPT_ERROR_INIT;
	const float a[2] = {1.0f, 2.0f};
	const int32_t w01[4] = {1, 2, 3, 4}, w2[2] = {5, 6};
	const int64_t adims[1] = {2}, wdims[2] = {3, 2};
	const int64_t s0[2] = {0, 0}, l0[2] = {2, 2}, s1[2] = {2, 0}, l1[2] = {1, 2};
	const char *hi = "hi";

	ck_assert_int_eq(ckpt_writer_open(&w, path_of("m"), &err), 0);
	ck_assert_int_eq(ckpt_writer_set_shard(w, 2, &err), 0);
	ck_assert_int_eq(
	    ckpt_writer_add_slice(w, "w", CKPT_DT_INT32, 2, wdims, s1, l1, w2, 8, &err), 0);
	ck_assert_int_eq(ckpt_writer_set_shard(w, 0, &err), 0);
	ck_assert_int_eq(ckpt_writer_add(w, "a", CKPT_DT_FLOAT, 1, adims, a, 8, &err), 0);
	ck_assert_int_eq(ckpt_writer_set_shard(w, 1, &err), 0);
	ck_assert_int_eq(ckpt_writer_add_strings(w, "s", 0, NULL, &hi, NULL, &err), 0);
	ck_assert_int_eq(
	    ckpt_writer_add_slice(w, "w", CKPT_DT_INT32, 2, wdims, s0, l0, w01, 16, &err), 0);
	ck_assert_msg(ckpt_writer_finish(w, &err) == 0, "%s", err.msg);
	ckpt_writer_close(w);
	assert_file_hex(path_of("m.data-00000-of-00003"), "0000803f 00000040");
	assert_file_hex(path_of("m.data-00001-of-00003"),
			"02 d8d81073 6869 01000000 02000000 03000000 04000000");
	assert_file_hex(path_of("m.data-00002-of-00003"), "05000000 06000000");

	/* Check the entries by rebuilding the expected index with the
	 * (already verified) table writer. */
	size_t n = 0;
	uint8_t *idx = tu_read(path_of("m.index"), &n);
	ck_assert_ptr_nonnull(idx);
	/* header 08 03 ... */
	ck_assert_uint_eq(idx[3], 0x08);
	ck_assert_uint_eq(idx[4], 0x03);
	/* w's full entry: shard_id 1 (18 01), slices in shard order */
	size_t wl;
	uint8_t *want = tu_hex("0803 1208 12020803 12020802 1801 3a08 0a021002 0a021002"
			       " 3a0a 0a0408021001 0a021002",
			       &wl);
	ck_assert_msg(memmem(idx, n, want, wl) != NULL, "full entry of w not found");
	free(want);
	/* slice row 2 lives in shard 2 at offset 0 */
	want = tu_hex("08031208 12020801 12020802 1802 2808 35702be761", &wl);
	ck_assert_msg(memmem(idx, n, want, wl) != NULL, "slice entry not found");
	free(want);
	free(idx);
}
END_TEST

START_TEST(test_writer_sharded_duplicate_and_empty_shard)
{
	ckpt_writer *w;
	ckpt_error err = CKPT_ERROR_INIT;
	float f[2] = {1, 2};
	int64_t d[1] = {2};

	ck_assert_int_eq(ckpt_writer_open(&w, path_of("d"), &err), 0);
	ck_assert_int_eq(ckpt_writer_add(w, "x", CKPT_DT_FLOAT, 1, d, f, 8, &err), 0);
	ck_assert_int_eq(ckpt_writer_set_shard(w, 1, &err), 0);
	ck_assert_int_eq(ckpt_writer_add(w, "x", CKPT_DT_FLOAT, 1, d, f, 8, &err), 0);
	ck_assert_int_eq(ckpt_writer_finish(w, &err), CKPT_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "Duplicate tensor keyed by x"));
	ckpt_writer_close(w);
	ck_assert_int_ne(access(path_of("d.index"), F_OK), 0);

	/* shard 1 empty: header says 3 shards, files are -of-00002 */
	ck_assert_int_eq(ckpt_writer_open(&w, path_of("g"), &err), 0);
	ck_assert_int_eq(ckpt_writer_add(w, "x", CKPT_DT_FLOAT, 1, d, f, 8, &err), 0);
	ck_assert_int_eq(ckpt_writer_set_shard(w, 1, &err), 0);
	ck_assert_int_eq(ckpt_writer_set_shard(w, 2, &err), 0);
	ck_assert_int_eq(ckpt_writer_add(w, "y", CKPT_DT_FLOAT, 1, d, f, 8, &err), 0);
	ck_assert_int_eq(ckpt_writer_finish(w, &err), 0);
	ckpt_writer_close(w);
	ck_assert_int_eq(access(path_of("g.data-00000-of-00002"), F_OK), 0);
	ck_assert_int_eq(access(path_of("g.data-00001-of-00002"), F_OK), 0);
	size_t n = 0;
	uint8_t *idx = tu_read(path_of("g.index"), &n);
	ck_assert_uint_eq(idx[4], 0x03);
	free(idx);
}
END_TEST

/* ================= writer -> reader round trips ================= */

static const ckpt_dtype numeric_dtypes[] = {
    CKPT_DT_BOOL,     CKPT_DT_INT8,   CKPT_DT_UINT8,  CKPT_DT_INT16,	 CKPT_DT_UINT16,
    CKPT_DT_INT32,    CKPT_DT_UINT32, CKPT_DT_INT64,  CKPT_DT_UINT64,	 CKPT_DT_HALF,
    CKPT_DT_BFLOAT16, CKPT_DT_FLOAT,  CKPT_DT_DOUBLE, CKPT_DT_COMPLEX64, CKPT_DT_COMPLEX128,
};
#define N_NUMERIC (sizeof(numeric_dtypes) / sizeof(numeric_dtypes[0]))

static size_t find_tensor(const ckpt_reader *r, const char *name)
{
	size_t idx = 0;
	ck_assert_msg(ckpt_reader_find(r, name, &idx) == 0, "tensor %s missing", name);
	return idx;
}

/* Tensor `name` reads back whole as `want` (n elements), with the shape. */
static void check_tensor(const ckpt_reader *r, const char *name, ckpt_dtype dt, int rank,
			 const int64_t *dims, const uint8_t *want, uint64_t n)
{
	ckpt_error err = CKPT_ERROR_INIT;
	size_t i = find_tensor(r, name);
	const ckpt_tensor *t = ckpt_reader_tensor(r, i);
	size_t bytes = (size_t)n * ckpt_dtype_size(dt);

	ck_assert_int_eq(t->dtype, dt);
	ck_assert_int_eq(t->rank, rank);
	for (int d = 0; d < rank; d++)
		ck_assert_int_eq(t->dims[d], dims[d]);
	ck_assert_uint_eq(t->num_elements, n);
	uint8_t *got = malloc(bytes + 1);
	ck_assert_ptr_nonnull(got);
	ck_assert_msg(ckpt_reader_read_slice(r, i, NULL, NULL, got, bytes, &err) == 0, "%s: %s",
		      name, err.msg);
	tu_assert_bytes(got, bytes, want, bytes);
	for (size_t p = 0; p < t->num_pieces; p++)
		ck_assert_msg(ckpt_reader_verify_piece(r, i, p, &err) == 0, "%s", err.msg);
	free(got);
}

/* Read a sub-block of tensor `name` and compare with the block of `full`. */
static void check_subslice(const ckpt_reader *r, const char *name, ckpt_dtype dt,
			   const int64_t *dims, int rank, const uint8_t *full, const int64_t *start,
			   const int64_t *len)
{
	ckpt_error err = CKPT_ERROR_INIT;
	size_t es = ckpt_dtype_size(dt);
	uint64_t n;
	uint8_t *want = tu_copy_block(full, dims, rank, start, len, es, &n);
	uint8_t *got = malloc((size_t)n * es + 1);
	ck_assert_ptr_nonnull(got);
	size_t i = find_tensor(r, name);
	ck_assert_msg(ckpt_reader_read_slice(r, i, start, len, got, (size_t)n * es, &err) == 0,
		      "%s: %s", name, err.msg);
	tu_assert_bytes(got, (size_t)n * es, want, (size_t)n * es);
	free(got);
	free(want);
}

START_TEST(test_roundtrip_every_dtype)
{
	ckpt_writer *w;
	ckpt_reader *r;
	ckpt_error err = CKPT_ERROR_INIT;
	const int64_t dims[2] = {3, 5}, rdims[1] = {7}, zdims[2] = {0, 3};
	char name[64];

	ck_assert_int_eq(ckpt_writer_open(&w, path_of("rt"), &err), 0);
	for (size_t k = 0; k < N_NUMERIC; k++) {
		ckpt_dtype dt = numeric_dtypes[k];
		size_t es = ckpt_dtype_size(dt);
		uint8_t *a = tu_iota_tensor(dt, 15), *b = tu_random_tensor(dt, 7, 42);
		snprintf(name, sizeof(name), "iota/%s", ckpt_dtype_name(dt));
		ck_assert_int_eq(ckpt_writer_add(w, name, dt, 2, dims, a, 15 * es, &err), 0);
		snprintf(name, sizeof(name), "random/%s", ckpt_dtype_name(dt));
		ck_assert_int_eq(ckpt_writer_add(w, name, dt, 1, rdims, b, 7 * es, &err), 0);
		snprintf(name, sizeof(name), "scalar/%s", ckpt_dtype_name(dt));
		ck_assert_int_eq(ckpt_writer_add(w, name, dt, 0, NULL, b, es, &err), 0);
		snprintf(name, sizeof(name), "empty/%s", ckpt_dtype_name(dt));
		ck_assert_int_eq(ckpt_writer_add(w, name, dt, 2, zdims, b, 0, &err), 0);
		free(a);
		free(b);
	}
	ck_assert_int_eq(ckpt_writer_finish(w, &err), 0);
	ckpt_writer_close(w);

	ck_assert_msg(ckpt_reader_open(&r, path_of("rt"), &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(ckpt_reader_count(r), 4 * N_NUMERIC);
	for (size_t k = 0; k < N_NUMERIC; k++) {
		ckpt_dtype dt = numeric_dtypes[k];
		uint8_t *a = tu_iota_tensor(dt, 15), *b = tu_random_tensor(dt, 7, 42);
		snprintf(name, sizeof(name), "iota/%s", ckpt_dtype_name(dt));
		check_tensor(r, name, dt, 2, dims, a, 15);
		snprintf(name, sizeof(name), "random/%s", ckpt_dtype_name(dt));
		check_tensor(r, name, dt, 1, rdims, b, 7);
		snprintf(name, sizeof(name), "scalar/%s", ckpt_dtype_name(dt));
		check_tensor(r, name, dt, 0, NULL, b, 1);
		snprintf(name, sizeof(name), "empty/%s", ckpt_dtype_name(dt));
		check_tensor(r, name, dt, 2, zdims, b, 0);
		free(a);
		free(b);
	}
	ckpt_reader_close(r);
}
END_TEST

static void check_strings(const ckpt_reader *r, const char *name, size_t n, const char *const *strs,
			  const uint64_t *lens)
{
	ckpt_error err = CKPT_ERROR_INIT;
	char **got = NULL;
	uint64_t *glens = NULL;
	size_t i = find_tensor(r, name);
	ck_assert_int_eq(ckpt_reader_tensor(r, i)->dtype, CKPT_DT_STRING);
	ck_assert_uint_eq(ckpt_reader_tensor(r, i)->num_elements, n);
	ck_assert_msg(ckpt_reader_read_strings(r, i, &got, &glens, &err) == 0, "%s", err.msg);
	for (size_t k = 0; k < n; k++)
		tu_assert_bytes((const uint8_t *)got[k], glens[k], (const uint8_t *)strs[k],
				lens[k]);
	ck_assert_int_eq(ckpt_reader_verify_piece(r, i, 0, &err), 0);
	ckpt_reader_free_strings(got, glens);
}

START_TEST(test_roundtrip_strings)
{
	ckpt_writer *w;
	ckpt_reader *r;
	ckpt_error err = CKPT_ERROR_INIT;
	static char big[70000];
	memset(big, 'b', sizeof(big));
	const char *s0[1] = {"hi"};
	const char *s1[3] = {"ab", "", "xyz"};
	const char *s2[6] = {"a\0b", "\xff\xfe", "", big, "q", "\0"};
	uint64_t l0[1] = {2}, l1[3] = {2, 0, 3}, l2[6] = {3, 2, 0, sizeof(big), 1, 1};
	int64_t d1[1] = {3}, d2[2] = {2, 3}, dz[1] = {0};

	ck_assert_int_eq(ckpt_writer_open(&w, path_of("st"), &err), 0);
	ck_assert_int_eq(ckpt_writer_add_strings(w, "r0", 0, NULL, s0, l0, &err), 0);
	ck_assert_int_eq(ckpt_writer_add_strings(w, "r1", 1, d1, s1, NULL, &err), 0);
	ck_assert_int_eq(ckpt_writer_add_strings(w, "r2", 2, d2, s2, l2, &err), 0);
	ck_assert_int_eq(ckpt_writer_add_strings(w, "empty", 1, dz, NULL, NULL, &err), 0);
	ck_assert_int_eq(ckpt_writer_finish(w, &err), 0);
	ckpt_writer_close(w);
	ck_assert_msg(ckpt_reader_open(&r, path_of("st"), &err) == 0, "%s", err.msg);
	check_strings(r, "r0", 1, s0, l0);
	check_strings(r, "r1", 3, s1, l1);
	check_strings(r, "r2", 6, s2, l2);
	check_strings(r, "empty", 0, NULL, NULL);
	ckpt_reader_close(r);
}
END_TEST

/* Parts per TF's rule along `axis`, added with explicit extents. */
static void add_partitioned(ckpt_writer *w, const char *name, ckpt_dtype dt, int rank,
			    const int64_t *dims, int axis, int n, const uint8_t *full,
			    const int *shards)
{
	ckpt_error err = CKPT_ERROR_INIT;
	size_t es = ckpt_dtype_size(dt);
	int64_t q = dims[axis] / n, rem = dims[axis] % n, off = 0;

	for (int k = 0; k < n; k++) {
		int64_t st[8], ln[8];
		uint64_t cnt;
		for (int d = 0; d < rank; d++) {
			st[d] = 0;
			ln[d] = dims[d];
		}
		st[axis] = off;
		ln[axis] = q + (k < rem);
		off += ln[axis];
		uint8_t *part = tu_copy_block(full, dims, rank, st, ln, es, &cnt);
		if (shards)
			ck_assert_int_eq(ckpt_writer_set_shard(w, shards[k], &err), 0);
		ck_assert_msg(ckpt_writer_add_slice(w, name, dt, rank, dims, st, ln, part,
						    (size_t)cnt * es, &err) == 0,
			      "%s", err.msg);
		free(part);
	}
}

START_TEST(test_roundtrip_partitions)
{
	ckpt_writer *w;
	ckpt_reader *r;
	ckpt_error err = CKPT_ERROR_INIT;
	const int64_t rows[2] = {10, 3}, cols[2] = {4, 6}, blk[2] = {4, 6};
	uint8_t *fr = tu_iota_tensor(CKPT_DT_FLOAT, 30), *fc = tu_iota_tensor(CKPT_DT_INT64, 24);
	uint8_t *fb = tu_iota_tensor(CKPT_DT_INT32, 24);

	ck_assert_int_eq(ckpt_writer_open(&w, path_of("pt"), &err), 0);
	add_partitioned(w, "rows", CKPT_DT_FLOAT, 2, rows, 0, 3, fr, NULL);
	add_partitioned(w, "cols", CKPT_DT_INT64, 2, cols, 1, 2, fc, NULL);
	/* 2x2 blocks of [4,6] */
	for (int b = 0; b < 4; b++) {
		int64_t st[2] = {(b / 2) * 2, (b % 2) * 3}, ln[2] = {2, 3};
		int32_t part[6];
		for (int e = 0; e < 6; e++)
			memcpy(&part[e], fb + 4 * (size_t)((st[0] + e / 3) * 6 + st[1] + e % 3), 4);
		ck_assert_int_eq(ckpt_writer_add_slice(w, "blocks", CKPT_DT_INT32, 2, blk, st, ln,
						       part, sizeof(part), &err),
				 0);
	}
	ck_assert_int_eq(ckpt_writer_finish(w, &err), 0);
	ckpt_writer_close(w);

	ck_assert_msg(ckpt_reader_open(&r, path_of("pt"), &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(ckpt_reader_count(r), 3); /* slice keys hidden */
	const ckpt_tensor *t = ckpt_reader_tensor(r, find_tensor(r, "rows"));
	ck_assert_int_eq(t->partitioned, 1);
	ck_assert_uint_eq(t->num_pieces, 3);
	ck_assert_int_eq(ckpt_reader_piece(r, find_tensor(r, "rows"), 0)->length[0], 4);
	ck_assert_int_eq(ckpt_reader_piece(r, find_tensor(r, "rows"), 2)->start[0], 7);
	check_tensor(r, "rows", CKPT_DT_FLOAT, 2, rows, fr, 30);
	check_tensor(r, "cols", CKPT_DT_INT64, 2, cols, fc, 24);
	check_tensor(r, "blocks", CKPT_DT_INT32, 2, blk, fb, 24);
	/* sub-slices crossing part boundaries */
	const int64_t s1[2] = {3, 1}, l1[2] = {5, 2};
	check_subslice(r, "rows", CKPT_DT_FLOAT, rows, 2, fr, s1, l1);
	const int64_t s2[2] = {1, 2}, l2[2] = {2, 3};
	check_subslice(r, "cols", CKPT_DT_INT64, cols, 2, fc, s2, l2);
	const int64_t s3[2] = {1, 1}, l3[2] = {2, 4};
	check_subslice(r, "blocks", CKPT_DT_INT32, blk, 2, fb, s3, l3);
	const int64_t s4[2] = {7, 0}, l4[2] = {3, 3}; /* exactly one part */
	check_subslice(r, "rows", CKPT_DT_FLOAT, rows, 2, fr, s4, l4);
	ckpt_reader_close(r);
	free(fr);
	free(fc);
	free(fb);
}
END_TEST

START_TEST(test_roundtrip_shards)
{
	ckpt_writer *w;
	ckpt_reader *r;
	ckpt_error err = CKPT_ERROR_INIT;
	const int64_t edims[2] = {10, 4}, kdims[2] = {4, 3};
	const int shards[3] = {0, 1, 2};
	uint8_t *emb = tu_iota_tensor(CKPT_DT_FLOAT, 40),
		*ker = tu_random_tensor(CKPT_DT_DOUBLE, 12, 9);
	const char *names[2] = {"a", "b"};
	int64_t nd[1] = {2};
	uint64_t nl[2] = {1, 1};
	int64_t step = 1000;

	ck_assert_int_eq(ckpt_writer_open(&w, path_of("sh"), &err), 0);
	ck_assert_int_eq(ckpt_writer_set_shard(w, 0, &err), 0);
	ck_assert_int_eq(ckpt_writer_add(w, "kernel", CKPT_DT_DOUBLE, 2, kdims, ker, 96, &err), 0);
	add_partitioned(w, "emb", CKPT_DT_FLOAT, 2, edims, 0, 3, emb, shards);
	ck_assert_int_eq(ckpt_writer_set_shard(w, 1, &err), 0);
	ck_assert_int_eq(ckpt_writer_add_strings(w, "names", 1, nd, names, nl, &err), 0);
	ck_assert_int_eq(ckpt_writer_set_shard(w, 2, &err), 0);
	ck_assert_int_eq(ckpt_writer_add(w, "step", CKPT_DT_INT64, 0, NULL, &step, 8, &err), 0);
	ck_assert_msg(ckpt_writer_finish(w, &err) == 0, "%s", err.msg);
	ckpt_writer_close(w);

	ck_assert_msg(ckpt_reader_open(&r, path_of("sh"), &err) == 0, "%s", err.msg);
	ck_assert_int_eq(r->nshards, 3);
	check_tensor(r, "kernel", CKPT_DT_DOUBLE, 2, kdims, ker, 12);
	check_tensor(r, "emb", CKPT_DT_FLOAT, 2, edims, emb, 40);
	check_tensor(r, "step", CKPT_DT_INT64, 0, NULL, (const uint8_t *)&step, 1);
	check_strings(r, "names", 2, names, nl);
	size_t ei = find_tensor(r, "emb");
	for (int p = 0; p < 3; p++)
		ck_assert_int_eq(ckpt__tensor_pieces(r, ei)[p].shard, p);
	ckpt_reader_close(r);
	free(emb);
	free(ker);
}
END_TEST

/* ================= ckpt-gen descriptions ================= */

static const char *gen_path, *data_dir;

static void run_gen(const char *json, const char *prefix)
{
	tu_run_gen(gen_path, tu_path(data_dir, json), prefix);
}

/* special tables: the lists documented in ckpt-gen.c */
static const uint32_t sp_f32[14] = {0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x7f800000,
				    0xff800000, 0x7fc00000, 0xffc00001, 0x00000001, 0x007fffff,
				    0x00800000, 0x7f7fffff, 0xff7fffff, 0x3eaaaaab};
static const uint16_t sp_f16[14] = {0x0000, 0x8000, 0x3c00, 0xbc00, 0x7c00, 0xfc00, 0x7e00,
				    0xfe01, 0x0001, 0x03ff, 0x0400, 0x7bff, 0xfbff, 0x3555};
static const uint16_t sp_bf16[14] = {0x0000, 0x8000, 0x3f80, 0xbf80, 0x7f80, 0xff80, 0x7fc0,
				     0xffc1, 0x0001, 0x007f, 0x0080, 0x7f7f, 0xff7f, 0x3eab};

START_TEST(test_gen_all_dtypes)
{
	ckpt_reader *r;
	ckpt_error err = CKPT_ERROR_INIT;
	char name[64];
	const int64_t dims[2] = {3, 5}, rdims[1] = {7}, sdims[2] = {2, 8};
	const int64_t big[2] = {100, 100};

	if (gen_path == NULL)
		return;
	run_gen("all_dtypes.json", path_of("gen"));
	ck_assert_msg(ckpt_reader_open(&r, path_of("gen"), &err) == 0, "%s", err.msg);
	for (size_t k = 0; k < N_NUMERIC; k++) {
		ckpt_dtype dt = numeric_dtypes[k];
		size_t es = ckpt_dtype_size(dt);
		uint8_t *a = tu_iota_tensor(dt, 15), *b = tu_random_tensor(dt, 7, 42);
		snprintf(name, sizeof(name), "iota/%s", ckpt_dtype_name(dt));
		check_tensor(r, name, dt, 2, dims, a, 15);
		snprintf(name, sizeof(name), "random/%s", ckpt_dtype_name(dt));
		check_tensor(r, name, dt, 1, rdims, b, 7);
		/* const:1 = iota element 1 for every dtype, except complex
		 * (1, 0) rather than (1, -1) */
		tu_expect_iota(dt, 1, a);
		if (dt == CKPT_DT_COMPLEX64 || dt == CKPT_DT_COMPLEX128)
			memset(a + es / 2, 0, es / 2);
		snprintf(name, sizeof(name), "const/%s", ckpt_dtype_name(dt));
		check_tensor(r, name, dt, 0, NULL, a, 1);
		if (dt == CKPT_DT_FLOAT || dt == CKPT_DT_HALF || dt == CKPT_DT_BFLOAT16) {
			uint8_t *sp = malloc(16 * es);
			ck_assert_ptr_nonnull(sp);
			for (int i = 0; i < 16; i++)
				tu_put_le(sp + (size_t)i * es,
					  dt == CKPT_DT_FLOAT  ? sp_f32[i % 14]
					  : dt == CKPT_DT_HALF ? sp_f16[i % 14]
							       : sp_bf16[i % 14],
					  es);
			snprintf(name, sizeof(name), "special/%s", ckpt_dtype_name(dt));
			check_tensor(r, name, dt, 2, sdims, sp, 16);
			free(sp);
		}
		free(a);
		free(b);
	}
	uint8_t *a = tu_iota_tensor(CKPT_DT_FLOAT, 10000);
	check_tensor(r, "big/float32", CKPT_DT_FLOAT, 2, big, a, 10000);
	free(a);
	ckpt_reader_close(r);
}
END_TEST

START_TEST(test_gen_partitioned_strings_shards)
{
	ckpt_reader *r;
	ckpt_error err = CKPT_ERROR_INIT;

	if (gen_path == NULL)
		return;
	run_gen("partitioned.json", path_of("p"));
	ck_assert_msg(ckpt_reader_open(&r, path_of("p"), &err) == 0, "%s", err.msg);
	const int64_t rows[2] = {10, 3}, blk[2] = {4, 6};
	uint8_t *fr = tu_iota_tensor(CKPT_DT_FLOAT, 30), *fb = tu_iota_tensor(CKPT_DT_INT32, 24);
	check_tensor(r, "rows3", CKPT_DT_FLOAT, 2, rows, fr, 30);
	check_tensor(r, "blocks2x2", CKPT_DT_INT32, 2, blk, fb, 24);
	ck_assert_uint_eq(ckpt_reader_tensor(r, find_tensor(r, "rows3"))->num_pieces, 3);
	ck_assert_uint_eq(ckpt_reader_tensor(r, find_tensor(r, "blocks2x2"))->num_pieces, 4);
	ck_assert_int_eq(ckpt_reader_tensor(r, find_tensor(r, "one_part"))->partitioned, 0);
	free(fr);
	free(fb);
	ckpt_reader_close(r);

	run_gen("strings.json", path_of("s"));
	ck_assert_msg(ckpt_reader_open(&r, path_of("s"), &err) == 0, "%s", err.msg);
	const char *s1[3] = {"ab", "", "xyz"}, *s2[6] = {"0", "1", "2", "3", "4", "5"};
	uint64_t l1[3] = {2, 0, 3}, l2[6] = {1, 1, 1, 1, 1, 1};
	check_strings(r, "s1", 3, s1, l1);
	check_strings(r, "s2", 6, s2, l2);
	ckpt_reader_close(r);

	run_gen("shards.json", path_of("h"));
	ck_assert_msg(ckpt_reader_open(&r, path_of("h"), &err) == 0, "%s", err.msg);
	ck_assert_int_eq(r->nshards, 3);
	const int64_t edims[2] = {10, 4};
	uint8_t *emb = tu_iota_tensor(CKPT_DT_FLOAT, 40);
	check_tensor(r, "emb", CKPT_DT_FLOAT, 2, edims, emb, 40);
	free(emb);
	ckpt_reader_close(r);
}
END_TEST

/* snprintf that fails the test instead of truncating. */
static void xfmt(char *buf, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void xfmt(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	ck_assert_msg(n >= 0 && (size_t)n < cap, "path too long");
}

/* ================= real fixtures, rewritten byte for byte ================= */

/*
 * Fixtures the writer cannot reproduce, and why. The test fails if this
 * list changes in either direction.
 */
static const struct {
	const char *index; /* path under the fixtures folder */
	const char *reason;
} expected_exceptions[] = {
    {"serving_half_plus_two_cpu/variables.index", "snappy"},
    {"serving_half_plus_two_tf2/variables.index", "snappy"},
    {"tf_tensorrt_mnist_ckpt/model.ckpt-46900.index", "snappy"},
    /* V1 checkpoints (one SSTable file, TensorSliceWriter): the writer
     * writes V2 bundles only. Folder names: these have no .index. */
    {"serving_bad_half_plus_two_v1/", "V1"},
    {"serving_session_bundle_v1/", "V1"},
    {"tf_session_bundle_saved_model_v1vars/", "V1"},
};
#define N_EXCEPTIONS (sizeof(expected_exceptions) / sizeof(expected_exceptions[0]))

/* Non-zero when some table block of the index has type 1 (Snappy). */
static int index_has_snappy(const uint8_t *f, size_t n)
{
	if (n < 48)
		return 0;
	const uint8_t *p = f + n - 48, *end = f + n - 8;
	uint64_t mo, ms, io, is;
	if (ckpt__get_varint64(&p, end, &mo) || ckpt__get_varint64(&p, end, &ms) ||
	    ckpt__get_varint64(&p, end, &io) || ckpt__get_varint64(&p, end, &is) || io > n ||
	    is + 5 > n - io)
		return 0;
	if (f[io + is] == 1)
		return 1;
	/* index block entries: shared, non_shared, value_len, key, handle */
	uint32_t nr = ckpt__load_le32(f + io + is - 4);
	const uint8_t *q = f + io, *qe = f + io + is - 4 - 4 * (uint64_t)nr;
	while (q < qe) {
		uint32_t sh, ns, vl;
		uint64_t bo, bs;
		if (ckpt__get_varint32(&q, qe, &sh) || ckpt__get_varint32(&q, qe, &ns) ||
		    ckpt__get_varint32(&q, qe, &vl) || ns > (size_t)(qe - q))
			return 0;
		q += ns;
		const uint8_t *v = q, *ve = q + vl;
		if (vl > (size_t)(qe - q) || ckpt__get_varint64(&v, ve, &bo) ||
		    ckpt__get_varint64(&v, ve, &bs) || bo > n || bs + 5 > n - bo)
			return 0;
		if (f[bo + bs] == 1)
			return 1;
		q = ve;
	}
	return 0;
}

typedef struct piece_ref {
	size_t t, p;
	int shard;
	uint64_t offset;
} piece_ref;

static int cmp_piece(const void *a, const void *b)
{
	const piece_ref *x = a, *y = b;
	if (x->shard != y->shard)
		return x->shard < y->shard ? -1 : 1;
	return (x->offset > y->offset) - (x->offset < y->offset);
}

/* Decode TF's stored string encoding (n elements) into pointers into buf. */
static void split_strings(uint8_t *buf, size_t len, uint64_t n, const char **strs, uint64_t *lens)
{
	const uint8_t *p = buf, *end = buf + len;
	for (uint64_t k = 0; k < n; k++)
		ck_assert_int_eq(ckpt__get_varint64(&p, end, &lens[k]), 0);
	ck_assert((size_t)(end - p) >= 4);
	p += 4;
	for (uint64_t k = 0; k < n; k++) {
		ck_assert(lens[k] <= (uint64_t)(end - p));
		strs[k] = (const char *)p;
		p += lens[k];
	}
}

/*
 * Read every tensor of the checkpoint at `prefix` and rewrite it at
 * `out_prefix` in the original data order. Returns NULL on success or a
 * short reason.
 */
static const char *rewrite(const char *prefix, const char *out_prefix)
{
	ckpt_reader *r;
	ckpt_writer *w;
	ckpt_error err = CKPT_ERROR_INIT;
	const char *why = NULL;

	ck_assert_msg(ckpt_reader_open(&r, prefix, &err) == 0, "%s: %s", prefix, err.msg);
	ck_assert_int_eq(ckpt_reader_format(r), CKPT_FORMAT_V2);
	size_t np = 0;
	for (size_t i = 0; i < r->n; i++)
		np += r->t[i].num_pieces;
	piece_ref *refs = calloc(np + 1, sizeof(*refs));
	ck_assert_ptr_nonnull(refs);
	np = 0;
	for (size_t i = 0; i < r->n; i++)
		for (size_t p = 0; p < r->t[i].num_pieces; p++) {
			const struct ckpt__piece *pc = &ckpt__tensor_pieces(r, i)[p];
			refs[np++] = (piece_ref){i, p, pc->shard, pc->offset};
		}
	qsort(refs, np, sizeof(*refs), cmp_piece);

	ck_assert_int_eq(ckpt_writer_open(&w, out_prefix, &err), 0);
	for (size_t k = 0; k < np && why == NULL; k++) {
		const ckpt_tensor *t = ckpt_reader_tensor(r, refs[k].t);
		const ckpt_piece *pc = ckpt_reader_piece(r, refs[k].t, refs[k].p);
		uint8_t *buf = malloc(pc->size + 1);
		ck_assert_ptr_nonnull(buf);
		ck_assert_msg(ckpt_reader_pread(r, refs[k].t, refs[k].p, 0, buf, pc->size, &err) ==
				  0,
			      "%s", err.msg);
		if (r->nshards > 1)
			ck_assert_int_eq(ckpt_writer_set_shard(w, refs[k].shard, &err), 0);
		int rc;
		if (t->dtype == CKPT_DT_STRING) {
			const char **strs = calloc(pc->num_elements + 1, sizeof(char *));
			uint64_t *lens = calloc(pc->num_elements + 1, sizeof(uint64_t));
			split_strings(buf, pc->size, pc->num_elements, strs, lens);
			rc =
			    ckpt_writer_add_strings(w, t->name, t->rank, t->dims, strs, lens, &err);
			free(strs);
			free(lens);
		} else if (t->partitioned) {
			rc = ckpt_writer_add_slice(w, t->name, t->dtype, t->rank, t->dims,
						   pc->start, pc->length, buf, pc->size, &err);
		} else {
			rc = ckpt_writer_add(w, t->name, t->dtype, t->rank, t->dims, buf, pc->size,
					     &err);
		}
		if (rc)
			why = "writer refused a tensor";
		free(buf);
	}
	if (why == NULL && ckpt_writer_finish(w, &err) != 0)
		why = "writer finish failed";
	ckpt_writer_close(w);
	ckpt_reader_close(r);
	free(refs);
	return why;
}

static int collect_entry(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val,
			 size_t vlen, ckpt_error *err)
{
	ckpt__buf *b = ctx;
	(void)err;
	ck_assert_int_eq(ckpt__buf_append_varint(b, klen), 0);
	ck_assert_int_eq(ckpt__buf_append(b, key, klen), 0);
	ck_assert_int_eq(ckpt__buf_append_varint(b, vlen), 0);
	ck_assert_int_eq(ckpt__buf_append(b, val, vlen), 0);
	return 0;
}

/* The table's entries, serialized (so two tables can be compared
 * logically, whatever their compression). */
static void table_entries(const uint8_t *f, size_t n, ckpt__buf *out)
{
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_msg(ckpt__sstable_foreach(f, n, "index", collect_entry, out, &err) == 0, "%s",
		      err.msg);
}

/*
 * Compare out_prefix's files with prefix's: every data file byte for
 * byte, then the index. Returns NULL when identical, else the reason:
 * "data differs", "data file missing", "snappy" (same entries, but the
 * original has Snappy-compressed blocks, which TF >= 1.2 never writes),
 * "index entries differ" or "index layout differs".
 */
static const char *compare_bundles(const char *prefix, const char *out_prefix, char *detail,
				   size_t cap)
{
	char a[4400], b[4400], dir[4200];
	size_t na, nb;
	uint8_t *fa, *fb;
	const char *why = NULL;

	xfmt(dir, sizeof(dir), "%s", prefix);
	char *slash = strrchr(dir, '/');
	ck_assert_ptr_nonnull(slash);
	*slash = '\0';
	const char *base = prefix + (slash - dir) + 1;
	DIR *d = opendir(dir);
	ck_assert_ptr_nonnull(d);
	struct dirent *de;
	while ((de = readdir(d)) != NULL && why == NULL) {
		size_t bl = strlen(base);
		if (strncmp(de->d_name, base, bl) != 0 ||
		    strncmp(de->d_name + bl, ".data-", 6) != 0)
			continue;
		xfmt(a, sizeof(a), "%s/%s", dir, de->d_name);
		xfmt(b, sizeof(b), "%s%s", out_prefix, de->d_name + bl);
		if (access(b, F_OK) != 0) {
			xfmt(detail, cap, "missing %.400s", de->d_name);
			why = "data file missing";
			break;
		}
		fa = tu_read(a, &na);
		fb = tu_read(b, &nb);
		if (na != nb || memcmp(fa, fb, na) != 0) {
			xfmt(detail, cap, "%.400s differs", de->d_name);
			why = "data differs";
		}
		free(fa);
		free(fb);
	}
	closedir(d);
	if (why)
		return why;

	xfmt(a, sizeof(a), "%s.index", prefix);
	xfmt(b, sizeof(b), "%s.index", out_prefix);
	fa = tu_read(a, &na);
	fb = tu_read(b, &nb);
	if (na != nb || memcmp(fa, fb, na) != 0) {
		size_t i = 0;
		while (i < na && i < nb && fa[i] == fb[i])
			i++;
		xfmt(detail, cap, "index differs at %zu (sizes %zu/%zu)", i, na, nb);
		ckpt__buf ea = {0}, eb = {0};
		table_entries(fa, na, &ea);
		table_entries(fb, nb, &eb);
		if (ea.len != eb.len || memcmp(ea.data, eb.data, ea.len) != 0)
			why = "index entries differ";
		else
			why = index_has_snappy(fa, na) ? "snappy" : "index layout differs";
		ckpt__buf_free(&ea);
		ckpt__buf_free(&eb);
	}
	free(fa);
	free(fb);
	return why;
}

static void find_indexes(const char *dir, const char *rel, char ***list, size_t *n)
{
	char path[4200];
	xfmt(path, sizeof(path), "%s%s%s", dir, *rel ? "/" : "", rel);
	DIR *d = opendir(path);
	if (d == NULL)
		return;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		char sub[4200], full[8400];
		xfmt(sub, sizeof(sub), "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		xfmt(full, sizeof(full), "%s/%s", dir, sub);
		struct stat st;
		if (stat(full, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			find_indexes(dir, sub, list, n);
		} else {
			size_t l = strlen(sub);
			if (l > 6 && strcmp(sub + l - 6, ".index") == 0) {
				*list = realloc(*list, (*n + 1) * sizeof(char *));
				(*list)[(*n)++] = strdup(sub);
			}
		}
	}
	closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(test_fixtures_reproduced_byte_exact)
{
	const char *fx = tu_fixtures();
	if (fx == NULL)
		return; /* skipped: no fixtures (CI=true aborts in tu_fixtures) */
	char **list = NULL;
	size_t n = 0, reproduced = 0, exceptions = 0;
	find_indexes(fx, "", &list, &n);
	ck_assert_uint_gt(n, 0);
	qsort(list, n, sizeof(char *), cmp_str);
	int seen[N_EXCEPTIONS] = {0};

	for (size_t k = 0; k < n; k++) {
		char prefix[4200], out[4200], detail[512] = "";
		xfmt(prefix, sizeof(prefix), "%s/%s", fx, list[k]);
		prefix[strlen(prefix) - 6] = '\0';
		char sub[64];
		xfmt(sub, sizeof(sub), "fx%zu/ckpt", k);
		xfmt(out, sizeof(out), "%s", path_of(sub));
		const char *why = rewrite(prefix, out);
		if (why == NULL)
			why = compare_bundles(prefix, out, detail, sizeof(detail));
		size_t e = 0;
		while (e < N_EXCEPTIONS && strcmp(expected_exceptions[e].index, list[k]) != 0)
			e++;
		if (why == NULL) {
			ck_assert_msg(e == N_EXCEPTIONS,
				      "%s: reproduced, but listed as an exception", list[k]);
			reproduced++;
			continue;
		}
		ck_assert_msg(e < N_EXCEPTIONS, "%s: not reproduced: %s (%s)", list[k], why,
			      detail);
		ck_assert_msg(strcmp(expected_exceptions[e].reason, why) == 0,
			      "%s: expected failure '%s', got '%s' (%s)", list[k],
			      expected_exceptions[e].reason, why, detail);
		seen[e] = 1;
		exceptions++;
	}
	/* folders with no V2 index at all */
	DIR *d = opendir(fx);
	ck_assert_ptr_nonnull(d);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char folder[300];
		struct stat st;
		if (de->d_name[0] == '.')
			continue;
		xfmt(folder, sizeof(folder), "%.250s/", de->d_name);
		char full[4400];
		xfmt(full, sizeof(full), "%s/%s", fx, de->d_name);
		if (stat(full, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		int has_index = 0;
		for (size_t k = 0; k < n; k++)
			if (strncmp(list[k], folder, strlen(folder)) == 0)
				has_index = 1;
		if (has_index)
			continue;
		size_t e = 0;
		while (e < N_EXCEPTIONS && strcmp(expected_exceptions[e].index, folder) != 0)
			e++;
		ck_assert_msg(e < N_EXCEPTIONS && strcmp(expected_exceptions[e].reason, "V1") == 0,
			      "%s: no V2 index and not a listed V1 exception", folder);
		seen[e] = 1;
		exceptions++;
	}
	closedir(d);
	for (size_t e = 0; e < N_EXCEPTIONS; e++)
		ck_assert_msg(seen[e], "%s: listed exception not found",
			      expected_exceptions[e].index);
	fprintf(stderr, "fixtures: %zu V2 indexes, %zu reproduced byte for byte, %zu exceptions\n",
		n, reproduced, exceptions);
	for (size_t k = 0; k < n; k++)
		free(list[k]);
	free(list);
}
END_TEST

int main(int argc, char **argv)
{
	/* argv: [ckpt-gen path, tests/data dir] for the generator tests */
	if (argc >= 3) {
		gen_path = argv[1];
		data_dir = argv[2];
	}
	Suite *s = suite_create("writer");
	TCase *tc = tcase_create("bytes");
	tcase_add_checked_fixture(tc, tu_tmpdir_setup, tu_tmpdir_teardown);
	tcase_add_test(tc, test_writer_worked_example_byte_exact);
	tcase_add_test(tc, test_writer_creates_parent_dirs);
	tcase_add_test(tc, test_writer_string_examples);
	tcase_add_test(tc, test_writer_strings_with_nul_bytes_and_long_length);
	tcase_add_test(tc, test_writer_entry_encoding);
	tcase_add_test(tc, test_writer_empty_bundle);
	tcase_add_test(tc, test_writer_rejects_bad_arguments);
	tcase_add_test(tc, test_writer_full_slice_is_plain_add);
	tcase_add_test(tc, test_writer_sharded_merge);
	tcase_add_test(tc, test_writer_sharded_duplicate_and_empty_shard);
	suite_add_tcase(s, tc);
	TCase *rt = tcase_create("roundtrip");
	tcase_add_checked_fixture(rt, tu_tmpdir_setup, tu_tmpdir_teardown);
	tcase_set_timeout(rt, 60);
	tcase_add_test(rt, test_roundtrip_every_dtype);
	tcase_add_test(rt, test_roundtrip_strings);
	tcase_add_test(rt, test_roundtrip_partitions);
	tcase_add_test(rt, test_roundtrip_shards);
	tcase_add_test(rt, test_gen_all_dtypes);
	tcase_add_test(rt, test_gen_partitioned_strings_shards);
	tcase_add_test(rt, test_fixtures_reproduced_byte_exact);
	suite_add_tcase(s, rt);
	return tu_run(s);
}
