/*
 * The reader against bad input: each damaged checkpoint gets its own clear
 * error (file, offset, failed check), never a crash. Damaged copies of a
 * real fixture live in a temp dir; the fixture itself is never written.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ckpt/reader.h"
#include "util/codec_int.h"
#include "util/crc32c_int.h"
#include "format/sstable_writer_int.h"
#include "format/state_int.h"
#include "format/writer_int.h"
#include "testutil.h"

#define BUNDLE "tf_contrib_framework_bundle_checkpoint/bundle_checkpoint"

static char *dir; /* temp dir holding a copy of the bundle as "b" */
static char *pfx; /* dir/b */

static void setup(void)
{
	const char *fx = tu_fixtures();
	dir = tu_tmpdir();
	pfx = strdup(tu_path(dir, "b"));
	if (fx == NULL)
		return;
	char src[4096];
	snprintf(src, sizeof(src), "%s/%s.index", fx, BUNDLE);
	tu_copy(src, tu_path(dir, "b.index"));
	snprintf(src, sizeof(src), "%s/%s.data-00000-of-00001", fx, BUNDLE);
	tu_copy(src, tu_path(dir, "b.data-00000-of-00001"));
}

static void teardown(void)
{
	tu_rmtree(dir);
	free(dir);
	free(pfx);
}

/* Open pfx expecting failure with code and every needle in the message. */
static void expect_open_error(const char *path, int code, const char *n1, const char *n2)
{
	ckpt_reader *r = (ckpt_reader *)1;
	ckpt_error err = CKPT_ERROR_INIT;
	int rc = tu_open_checked(&r, path, &err);
	ck_assert_msg(rc == code, "rc %d, want %d: %s", rc, code, err.msg);
	ck_assert_ptr_null(r);
	ck_assert_int_eq(err.code, code);
	ck_assert_msg(strstr(err.msg, n1), "'%s' lacks '%s'", err.msg, n1);
	if (n2)
		ck_assert_msg(strstr(err.msg, n2), "'%s' lacks '%s'", err.msg, n2);
}

#define NEED_FIXTURES()                                                                            \
	do {                                                                                       \
		if (tu_fixtures() == NULL)                                                         \
			return;                                                                    \
	} while (0)

START_TEST(test_reader_opens_copy)
{
	NEED_FIXTURES();
	ckpt_reader *r;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt_reader_open(&r, pfx, &err), 0);
	ck_assert_uint_eq(ckpt_reader_count(r), 2);
	size_t i;
	ck_assert_int_eq(ckpt_reader_find(r, "some_scope/indices", &i), 0);
	const ckpt_tensor *t = ckpt_reader_tensor(r, i);
	ck_assert_int_eq(t->dtype, CKPT_DT_INT64);
	ck_assert_int_eq(t->rank, 1);
	int64_t v[5];
	ck_assert_int_eq(ckpt_reader_read_slice(r, i, NULL, NULL, v, sizeof(v), &err), 0);
	for (int k = 0; k < 5; k++)
		ck_assert_int_eq(v[k], 3 + k);
	/* a sub-slice of the [5,16] embeddings: rows 1-2, columns 3-6 */
	ck_assert_int_eq(ckpt_reader_find(r, "some_scope/embeddings", &i), 0);
	int64_t st[2] = {1, 3}, len[2] = {2, 4};
	float f[8];
	ck_assert_int_eq(ckpt_reader_read_slice(r, i, st, len, f, sizeof(f), &err), 0);
	for (int row = 0; row < 2; row++)
		for (int c = 0; c < 4; c++)
			ck_assert(f[row * 4 + c] == (float)((1 + row) * 16 + 3 + c));
	ck_assert_int_eq(ckpt_reader_find(r, "nope", &i), CKPT_ENOTFOUND);
	ckpt_reader_close(r);
}
END_TEST

START_TEST(test_reader_missing_shard)
{
	NEED_FIXTURES();
	ck_assert_int_eq(remove(tu_path(dir, "b.data-00000-of-00001")), 0);
	expect_open_error(pfx, CKPT_ENOTFOUND, "b.data-00000-of-00001", "cannot open data file");
}
END_TEST

START_TEST(test_reader_truncated_index)
{
	NEED_FIXTURES();
	tu_truncate(tu_path(dir, "b.index"), 30);
	expect_open_error(pfx, CKPT_ECORRUPT, "b.index@0", "too short to be an sstable");
}
END_TEST

START_TEST(test_reader_truncated_index_tail)
{
	NEED_FIXTURES();
	size_t n;
	free(tu_read(tu_path(dir, "b.index"), &n));
	tu_truncate(tu_path(dir, "b.index"), (long)n - 1);
	expect_open_error(pfx, CKPT_ECORRUPT, "b.index@", "bad magic number");
}
END_TEST

START_TEST(test_reader_bad_magic)
{
	NEED_FIXTURES();
	size_t n;
	free(tu_read(tu_path(dir, "b.index"), &n));
	tu_flip(tu_path(dir, "b.index"), (long)n - 1);
	expect_open_error(pfx, CKPT_ECORRUPT, "not an sstable (bad magic number)", "b.index");
}
END_TEST

START_TEST(test_reader_flipped_block_byte)
{
	NEED_FIXTURES();
	tu_flip(tu_path(dir, "b.index"), 10);
	expect_open_error(pfx, CKPT_ECHECKSUM, "b.index@0", "block checksum mismatch");
}
END_TEST

START_TEST(test_reader_flipped_data_byte)
{
	NEED_FIXTURES();
	/* embeddings are the first 320 bytes of the shard */
	tu_flip(tu_path(dir, "b.data-00000-of-00001"), 100);
	ckpt_reader *r;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt_reader_open(&r, pfx, &err), 0);
	size_t i;
	ck_assert_int_eq(ckpt_reader_find(r, "some_scope/embeddings", &i), 0);
	ck_assert_int_eq(ckpt_reader_verify_piece(r, i, 0, &err), CKPT_ECHECKSUM);
	ck_assert_msg(strstr(err.msg, "Checksum does not match"), "%s", err.msg);
	ck_assert_msg(strstr(err.msg, "some_scope/embeddings"), "%s", err.msg);
	ck_assert_msg(strstr(err.msg, "b.data-00000-of-00001"), "%s", err.msg);
	float f[80];
	ck_assert_int_eq(ckpt_reader_read_slice(r, i, NULL, NULL, f, sizeof(f), &err),
			 CKPT_ECHECKSUM);
	/* the other tensor still reads */
	ck_assert_int_eq(ckpt_reader_find(r, "some_scope/indices", &i), 0);
	ck_assert_int_eq(ckpt_reader_verify_piece(r, i, 0, &err), 0);
	ckpt_reader_close(r);
}
END_TEST

START_TEST(test_reader_entry_past_shard)
{
	NEED_FIXTURES();
	size_t n;
	free(tu_read(tu_path(dir, "b.data-00000-of-00001"), &n));
	tu_truncate(tu_path(dir, "b.data-00000-of-00001"), (long)n - 4);
	expect_open_error(pfx, CKPT_ECORRUPT, "runs past the end of the data file",
			  "b.data-00000-of-00001@");
}
END_TEST

/* Opening reads the index only: a missing shard is found when its data
 * is needed (ckpt_reader_check_data, or a read), with the same message. */
START_TEST(test_reader_lazy_shard)
{
	NEED_FIXTURES();
	const char *shard = tu_path(dir, "b.data-00000-of-00001");
	uint8_t *keep;
	size_t n;
	keep = tu_read(shard, &n);
	ck_assert_int_eq(remove(shard), 0);
	ckpt_reader *r;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_msg(ckpt_reader_open(&r, pfx, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(ckpt_reader_count(r), 2);
	struct stat sb;
	ck_assert_int_eq(stat(tu_path(dir, "b.index"), &sb), 0);
	ck_assert_int_eq(ckpt_reader_stat(r)->mtime_sec, sb.st_mtim.tv_sec);
	ck_assert_int_eq(ckpt_reader_stat(r)->mtime_nsec, sb.st_mtim.tv_nsec);
	ck_assert_uint_eq(ckpt_reader_stat(r)->size, (uint64_t)sb.st_size);
	size_t i;
	ck_assert_int_eq(ckpt_reader_find(r, "some_scope/indices", &i), 0);
	int64_t v[5];
	ck_assert_int_eq(ckpt_reader_read_slice(r, i, NULL, NULL, v, sizeof(v), &err),
			 CKPT_ENOTFOUND);
	ck_assert_msg(strstr(err.msg, "b.data-00000-of-00001: cannot open data file for tensor "
				      "some_scope/indices: No such file or directory"),
		      "%s", err.msg);
	ck_assert_int_eq(ckpt_reader_check_data(r, &i, 1, &err), CKPT_ENOTFOUND);
	ck_assert_msg(strstr(err.msg, "cannot open data file"), "%s", err.msg);
	/* the shard comes back: it is opened then */
	tu_write(shard, keep, n);
	free(keep);
	ck_assert_msg(ckpt_reader_check_data(r, NULL, 0, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(ckpt_reader_read_slice(r, i, NULL, NULL, v, sizeof(v), &err), 0);
	for (int k = 0; k < 5; k++)
		ck_assert_int_eq(v[k], 3 + k);
	ckpt_reader_close(r);
}
END_TEST

/* Only regular files are read: a FIFO or directory where a shard, the
 * index, the state file or what it names should be is refused (before:
 * a FIFO hung the open forever). */
START_TEST(test_reader_not_regular)
{
	NEED_FIXTURES();
	const char *shard = tu_path(dir, "b.data-00000-of-00001");
	ck_assert_int_eq(remove(shard), 0);
	ck_assert_int_eq(mkfifo(shard, 0600), 0);
	expect_open_error(pfx, CKPT_ENOTFOUND,
			  "b.data-00000-of-00001: cannot open data file for tensor",
			  "not a regular file (a FIFO)");
	ck_assert_int_eq(remove(shard), 0);
	ck_assert_int_eq(mkdir(shard, 0700), 0);
	expect_open_error(pfx, CKPT_ENOTFOUND, "b.data-00000-of-00001: cannot open data file",
			  "not a regular file (a directory)");
	/* the index */
	ck_assert_int_eq(rename(tu_path(dir, "b.index"), tu_path(dir, "i")), 0);
	ck_assert_int_eq(mkfifo(tu_path(dir, "b.index"), 0600), 0);
	expect_open_error(pfx, CKPT_ENOTFOUND, "b.index: not a regular file (a FIFO)", NULL);
	ck_assert_int_eq(remove(tu_path(dir, "b.index")), 0);
	ck_assert_int_eq(rename(tu_path(dir, "i"), tu_path(dir, "b.index")), 0);
	/* the state file, and what it names */
	ck_assert_int_eq(mkfifo(tu_path(dir, "checkpoint"), 0600), 0);
	expect_open_error(dir, CKPT_ENOTFOUND, "checkpoint: not a regular file (a FIFO)", NULL);
	ck_assert_int_eq(remove(tu_path(dir, "checkpoint")), 0);
	ck_assert_int_eq(mkfifo(tu_path(dir, "p"), 0600), 0);
	const char *txt = "model_checkpoint_path: \"p\"\n";
	tu_write(tu_path(dir, "checkpoint"), txt, strlen(txt));
	expect_open_error(dir, CKPT_ENOTFOUND, "/p: not a regular file (a FIFO)", NULL);
	txt = "model_checkpoint_path: \"../\"\n";
	tu_write(tu_path(dir, "checkpoint"), txt, strlen(txt));
	expect_open_error(dir, CKPT_ENOTFOUND, "not a regular file (a directory)", NULL);
}
END_TEST

START_TEST(test_reader_nonexistent_prefix)
{
	expect_open_error(
	    tu_path(dir, "nothing-here"), CKPT_ENOTFOUND,
	    "Unsuccessful TensorSliceReader constructor: Failed to find any matching files for",
	    "nothing-here");
}
END_TEST

START_TEST(test_reader_empty_directory)
{
	char *d = tu_tmpdir();
	expect_open_error(d, CKPT_ENOTFOUND,
			  "Couldn't find 'checkpoint' file or checkpoints in given directory", d);
	tu_rmtree(d);
	free(d);
}
END_TEST

START_TEST(test_reader_state_names_missing)
{
	const char *txt = "model_checkpoint_path: \"model.ckpt-7\"\n";
	tu_write(tu_path(dir, "checkpoint"), txt, strlen(txt));
	expect_open_error(dir, CKPT_ENOTFOUND,
			  "Couldn't find 'checkpoint' file or checkpoints in given directory",
			  "model.ckpt-7");
}
END_TEST

START_TEST(test_reader_state_resolves)
{
	NEED_FIXTURES();
	/* relative path, comment, single quotes, last value wins */
	const char *txt = "# saved by hand\nmodel_checkpoint_path: 'x'\n"
			  "all_model_checkpoint_paths: \"x\"\n"
			  "all_model_checkpoint_timestamps: 1569972001.312853\n"
			  "model_checkpoint_path: \"b\"\n";
	tu_write(tu_path(dir, "checkpoint"), txt, strlen(txt));
	ckpt_reader *r;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt_reader_open(&r, dir, &err), 0);
	ck_assert_str_eq(ckpt_reader_path(r), pfx);
	ck_assert_int_eq(ckpt_reader_format(r), CKPT_FORMAT_V2);
	ckpt_reader_close(r);
	/* absolute path */
	char abs[4200];
	snprintf(abs, sizeof(abs), "model_checkpoint_path: \"%s\"\n", pfx);
	char *d2 = tu_tmpdir();
	tu_write(tu_path(d2, "checkpoint"), abs, strlen(abs));
	ck_assert_int_eq(ckpt_reader_open(&r, d2, &err), 0);
	ck_assert_str_eq(ckpt_reader_path(r), pfx);
	ckpt_reader_close(r);
	tu_rmtree(d2);
	free(d2);
}
END_TEST

START_TEST(test_state_parse)
{
	char *p = NULL;
	ckpt_error err = CKPT_ERROR_INIT;
	const char *ok = "model_checkpoint_path: \"a\\\\b\\303\\251\\\"q\" \"cat\"";
	ck_assert_int_eq(ckpt__state_parse(ok, strlen(ok), "checkpoint", "d", &p, &err), 0);
	ck_assert_str_eq(p, "a\\b\xc3\xa9\"qcat");
	free(p);
	const char *bad = "model_checkpoint_path: \"a\"\nbogus_field: 3\n";
	ck_assert_int_eq(ckpt__state_parse(bad, strlen(bad), "ck", "d", &p, &err), CKPT_ECORRUPT);
	ck_assert_str_eq(err.msg, "ck:2:12: unknown field in CheckpointState");
	const char *empty = "all_model_checkpoint_paths: \"a\"\n";
	ck_assert_int_eq(ckpt__state_parse(empty, strlen(empty), "ck", "d", &p, &err),
			 CKPT_ECORRUPT);
	ck_assert_str_eq(err.msg, "Invalid checkpoint state loaded from d");
	const char *unterminated = "model_checkpoint_path: \"abc";
	ck_assert_int_eq(ckpt__state_parse(unterminated, strlen(unterminated), "ck", "d", &p, &err),
			 CKPT_ECORRUPT);
	ck_assert_msg(strstr(err.msg, "unterminated string"), "%s", err.msg);
}
END_TEST

/* One tensor of the big-endian bundle below: its little-endian bytes
 * (what the reader must return) and the unit each element swaps in. */
struct be_tensor {
	const char *name;
	ckpt_dtype dt;
	int rank;
	int64_t dims[2];
	const void *le;
	size_t size, unit;
};

/*
 * A bundle written by a big-endian host (header endianness BIG): numbers
 * stored byte-swapped, checksums over the stored bytes, string length
 * checksums over big-endian lengths (spec/bundle.md "Endianness"). The
 * reader returns little-endian bytes, verifies every CRC, and serves
 * unaligned ranges.
 */
START_TEST(test_reader_big_endian)
{
	static const float f[6] = {0, 1.5f, 3, 4.5f, 6, 7.5f};
	static const float c[4] = {1, 2, 3, 4};
	static const uint16_t h[3] = {0x3c00, 0x4000, 0x7bff};
	static const uint8_t b[3] = {1, 0, 1};
	static const int64_t i64 = 0x0102030405060708;
	const struct be_tensor ts[] = {
	    {"b", CKPT_DT_BOOL, 1, {3}, b, 3, 1},      {"c", CKPT_DT_COMPLEX64, 1, {2}, c, 16, 4},
	    {"f", CKPT_DT_FLOAT, 2, {2, 3}, f, 24, 4}, {"h", CKPT_DT_HALF, 1, {3}, h, 6, 2},
	    {"i", CKPT_DT_INT64, 0, {0}, &i64, 8, 8},
	};
	const size_t nt = sizeof(ts) / sizeof(ts[0]);
	ckpt__buf data = {0}, index = {0}, val = {0};
	ckpt__sst_writer w;
	ckpt_error err = CKPT_ERROR_INIT;
	static const uint8_t header[] = {0x08, 0x01, 0x10, 0x01, 0x1a, 0x02, 0x08, 0x01};

	ck_assert_int_eq(ckpt__sst_writer_init_buf(&w, &index, NULL), 0);
	ck_assert_int_eq(ckpt__sst_writer_add(&w, "", 0, header, sizeof(header), &err), 0);
	for (size_t k = 0; k < nt; k++) {
		uint8_t be[32];
		memcpy(be, ts[k].le, ts[k].size);
		for (size_t e = 0; e < ts[k].size; e += ts[k].unit)
			for (size_t x = 0, y = ts[k].unit - 1; x < y; x++, y--) {
				uint8_t t = be[e + x];
				be[e + x] = be[e + y];
				be[e + y] = t;
			}
		ckpt__entry_fields ef = {ts[k].dt,
					 ts[k].rank,
					 ts[k].dims,
					 0,
					 (int64_t)data.len,
					 (int64_t)ts[k].size,
					 ckpt__crc32c_mask(ckpt__crc32c_extend(0, be, ts[k].size)),
					 0,
					 NULL};
		ck_assert_int_eq(ckpt__buf_append(&data, be, ts[k].size), 0);
		val.len = 0;
		ck_assert_int_eq(ckpt__bundle_encode_entry(&val, &ef), 0);
		ck_assert_int_eq(ckpt__sst_writer_add(&w, ts[k].name, 1, val.data, val.len, &err),
				 0);
	}
	/* "s" = ["ab", "xyz"]: varints, masked CRC of the big-endian uint32
	 * lengths stored big-endian, then the bytes */
	static const uint8_t lens_be[8] = {0, 0, 0, 2, 0, 0, 0, 3};
	uint32_t lc = ckpt__crc32c_extend(0, lens_be, 8), m = ckpt__crc32c_mask(lc);
	uint8_t sbytes[] = {2,
			    3,
			    (uint8_t)(m >> 24),
			    (uint8_t)(m >> 16),
			    (uint8_t)(m >> 8),
			    (uint8_t)m,
			    'a',
			    'b',
			    'x',
			    'y',
			    'z'};
	uint32_t scrc = ckpt__crc32c_extend(ckpt__crc32c_extend(lc, sbytes + 2, 4), "abxyz", 5);
	int64_t two = 2;
	ckpt__entry_fields sf = {
	    CKPT_DT_STRING,	     1, &two, 0, (int64_t)data.len, sizeof(sbytes),
	    ckpt__crc32c_mask(scrc), 0, NULL};
	ck_assert_int_eq(ckpt__buf_append(&data, sbytes, sizeof(sbytes)), 0);
	val.len = 0;
	ck_assert_int_eq(ckpt__bundle_encode_entry(&val, &sf), 0);
	ck_assert_int_eq(ckpt__sst_writer_add(&w, "s", 1, val.data, val.len, &err), 0);
	ck_assert_int_eq(ckpt__sst_writer_finish(&w, &err), 0);
	tu_write(tu_path(dir, "be.index"), index.data, index.len);
	tu_write(tu_path(dir, "be.data-00000-of-00001"), data.data, data.len);

	ckpt_reader *r;
	ck_assert_msg(ckpt_reader_open(&r, tu_path(dir, "be"), &err) == 0, "%s", err.msg);
	for (size_t k = 0; k < nt; k++) {
		size_t i;
		uint8_t got[32];
		ck_assert_int_eq(ckpt_reader_find(r, ts[k].name, &i), 0);
		ck_assert_int_eq(ckpt_reader_verify_piece(r, i, 0, &err), 0);
		ck_assert_int_eq(ckpt_reader_read_slice(r, i, NULL, NULL, got, sizeof(got), &err),
				 0);
		ck_assert(memcmp(got, ts[k].le, ts[k].size) == 0);
		for (size_t off = 0; off < ts[k].size; off++)
			for (size_t len = 1; off + len <= ts[k].size; len++) {
				memset(got, 0, sizeof(got));
				ck_assert_int_eq(ckpt_reader_pread(r, i, 0, off, got, len, &err),
						 0);
				ck_assert(memcmp(got, (const uint8_t *)ts[k].le + off, len) == 0);
			}
	}
	size_t si;
	char **strs;
	uint64_t *lens;
	ck_assert_int_eq(ckpt_reader_find(r, "s", &si), 0);
	ck_assert_msg(ckpt_reader_verify_piece(r, si, 0, &err) == 0, "%s", err.msg);
	ck_assert_msg(ckpt_reader_read_strings(r, si, &strs, &lens, &err) == 0, "%s", err.msg);
	ck_assert(lens[0] == 2 && memcmp(strs[0], "ab", 2) == 0);
	ck_assert(lens[1] == 3 && memcmp(strs[1], "xyz", 3) == 0);
	ckpt_reader_free_strings(strs, lens);
	ckpt_reader_close(r);
	ckpt__sst_writer_free(&w);
	ckpt__buf_free(&data);
	ckpt__buf_free(&index);
	ckpt__buf_free(&val);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("reader");
	TCase *tc = tcase_create("bad input");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_reader_opens_copy);
	tcase_add_test(tc, test_reader_missing_shard);
	tcase_add_test(tc, test_reader_truncated_index);
	tcase_add_test(tc, test_reader_truncated_index_tail);
	tcase_add_test(tc, test_reader_bad_magic);
	tcase_add_test(tc, test_reader_flipped_block_byte);
	tcase_add_test(tc, test_reader_flipped_data_byte);
	tcase_add_test(tc, test_reader_entry_past_shard);
	tcase_add_test(tc, test_reader_lazy_shard);
	tcase_add_test(tc, test_reader_not_regular);
	tcase_add_test(tc, test_reader_nonexistent_prefix);
	tcase_add_test(tc, test_reader_empty_directory);
	tcase_add_test(tc, test_reader_state_names_missing);
	tcase_add_test(tc, test_reader_state_resolves);
	tcase_add_test(tc, test_state_parse);
	tcase_add_test(tc, test_reader_big_endian);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
