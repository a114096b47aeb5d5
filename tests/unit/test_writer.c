/* Bundle writer: byte-exact against spec/bundle.md, argument checks,
 * sharded saves. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/writer.h"
#include "crc32c_int.h"
#include "slicekey_int.h"
#include "writer_int.h"
#include "spec_examples.h"
#include "hexutil.h"
#include "testutil.h"

static const char *const example_data_hex =
	"0000803f 00000040"
	"02 d8d81073 6869"
	"01000000 02000000 03000000 04000000"
	"05000000 06000000";

static char *tmpdir;

static void setup(void)
{
	tmpdir = tu_tmpdir();
}

static void teardown(void)
{
	tu_rmtree(tmpdir);
	free(tmpdir);
}

static const char *path_of(const char *name)
{
	return tu_path(tmpdir, name);
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
	ck_assert_int_eq(ckpt_writer_add_slice(w, "w", CKPT_DT_INT32, 2, wdims, s0, l0,
					       w01, 16, &err), 0);
	ck_assert_int_eq(ckpt_writer_add_slice(w, "w", CKPT_DT_INT32, 2, wdims, s1, l1,
					       w2, 8, &err), 0);
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
							  string_examples[i].lens, &crc), 0);
		for (size_t k = 0; k < string_examples[i].n; k++) {
			ck_assert_int_eq(ckpt__buf_append(&b, string_examples[i].strs[k],
							  string_examples[i].lens[k]), 0);
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
							 string_examples[i].lens, NULL), 0);
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
	ckpt__entry_fields e = {.dtype = 1, .rank = 1, .dims = d2, .size = 8,
				.crc32c = 0x35e53c59};
	ckpt__buf b = {0};
	size_t wl;
	uint8_t *want;
	ck_assert_int_eq(ckpt__bundle_encode_entry(&b, &e), 0);
	want = tu_hex("0801 1204 12020802 2808 35593ce535", &wl);
	tu_assert_bytes(b.data, b.len, want, wl);
	free(want);
	/* zero-sized dims are empty Dim messages; a zero crc is omitted */
	int64_t d03[2] = {0, 3};
	ckpt__entry_fields z = {.dtype = 9, .rank = 2, .dims = d03, .shard_id = 2,
				.offset = 300};
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
	ckpt__entry_fields f = {.dtype = 3, .rank = 2, .dims = d32, .n_slices = 1,
				.slices = sl};
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
	ck_assert_int_eq(ckpt_writer_add(w, "x", CKPT_DT_STRING, 1, d2, f, 8, &err), CKPT_EUNSUPPORTED);
	ck_assert_int_eq(ckpt_writer_add(w, "x", (ckpt_dtype)77, 1, d2, f, 8, &err), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_writer_add(w, "x", CKPT_DT_FLOAT, 1, d2, NULL, 8, &err), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_writer_add(w, "x", CKPT_DT_FLOAT, 1, d2, f, 8, &err), 0);
	ck_assert_int_eq(ckpt_writer_add(w, "x", CKPT_DT_FLOAT, 1, d2, f, 8, &err), CKPT_EINVAL);
	ck_assert_str_eq(err.msg, "Adding duplicate key: x");
	ck_assert_int_eq(ckpt_writer_add_strings(w, "x", 0, NULL, NULL, NULL, &err), CKPT_EINVAL);
	/* slices: out of bounds, zero length, mixed with a plain tensor */
	ck_assert_int_eq(ckpt_writer_add_slice(w, "p", CKPT_DT_FLOAT, 2, full, bad, ln,
					       f, 16, &err), CKPT_EINVAL);
	ln[0] = 0;
	ck_assert_int_eq(ckpt_writer_add_slice(w, "p", CKPT_DT_FLOAT, 2, full, st, ln,
					       f, 0, &err), CKPT_EINVAL);
	ln[0] = 2;
	ck_assert_int_eq(ckpt_writer_add_slice(w, "x", CKPT_DT_FLOAT, 2, full, st, ln,
					       f, 16, &err), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_writer_add_slice(w, "p", CKPT_DT_FLOAT, 2, full, st, ln,
					       f, 12, &err), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_writer_add_slice(w, "p", CKPT_DT_FLOAT, 2, full, st, ln,
					       f, 16, &err), 0);
	ck_assert_int_eq(ckpt_writer_add_slice(w, "p", CKPT_DT_FLOAT, 2, full, st, ln,
					       f, 16, &err), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_writer_add_slice(w, "p", CKPT_DT_INT32, 2, full, bad, ln,
					       f, 16, &err), CKPT_EINVAL);
	full[1] = 3;
	ck_assert_int_eq(ckpt_writer_add_slice(w, "p", CKPT_DT_FLOAT, 2, full, st, ln,
					       f, 16, &err), CKPT_EINVAL);
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
	ck_assert_int_eq(ckpt_writer_add_slice(w1, "v", CKPT_DT_INT32, 2, dims, st, ln,
					       v, 24, NULL), 0);
	ck_assert_int_eq(ckpt_writer_add_slice(w1, "u", CKPT_DT_INT32, 2, dims, st, fl,
					       v, 24, NULL), 0);
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
	ck_assert_int_eq(ckpt_writer_add_slice(w, "w", CKPT_DT_INT32, 2, wdims, s1, l1,
					       w2, 8, &err), 0);
	ck_assert_int_eq(ckpt_writer_set_shard(w, 0, &err), 0);
	ck_assert_int_eq(ckpt_writer_add(w, "a", CKPT_DT_FLOAT, 1, adims, a, 8, &err), 0);
	ck_assert_int_eq(ckpt_writer_set_shard(w, 1, &err), 0);
	ck_assert_int_eq(ckpt_writer_add_strings(w, "s", 0, NULL, &hi, NULL, &err), 0);
	ck_assert_int_eq(ckpt_writer_add_slice(w, "w", CKPT_DT_INT32, 2, wdims, s0, l0,
					       w01, 16, &err), 0);
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
			       " 3a0a 0a0408021001 0a021002", &wl);
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

int main(void)
{
	Suite *s = suite_create("writer");
	TCase *tc = tcase_create("bytes");
	tcase_add_checked_fixture(tc, setup, teardown);
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
	return tu_run(s);
}
