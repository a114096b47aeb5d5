/*
 * Hostile inputs the fuzzers found (tests/fuzz/corpus/<target>/): each test
 * pins the fixed behaviour. The byte arrays are copies of the corpus files
 * named above them (scripts/gen-fuzz-corpus.py builds the seeds).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt/error.h"
#include "ckpt/reader.h"
#include "ckpt/writer.h"
#include "format/sstable_int.h"
#include "format/sstable_writer_int.h"
#include "testutil.h"

/* tests/fuzz/corpus/bundle/seed-header_only: a V2 index with only its header */
static const uint8_t v2_header_only[] = {
    0x00, 0x00, 0x06, 0x08, 0x01, 0x1a, 0x02, 0x08, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x62, 0x94, 0x57, 0xf9, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
    0x00, 0xc0, 0xf2, 0xa1, 0xb0, 0x00, 0x00, 0x02, 0x00, 0x11, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x00, 0xcc, 0xbf, 0x8b, 0x5d, 0x16, 0x08, 0x23, 0x0d, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb,
};

/* tests/fuzz/corpus/v1/seed-empty_meta: a V1 file whose meta lists nothing */
static const uint8_t v1_empty_meta[] = {
    0x00, 0x00, 0x02, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x28, 0x42, 0x88, 0xbb, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0xc0,
    0xf2, 0xa1, 0xb0, 0x00, 0x00, 0x02, 0x00, 0x0d, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00,
    0x00, 0x00, 0x00, 0xc8, 0xef, 0xa5, 0xcc, 0x12, 0x08, 0x1f, 0x0d, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb,
};

/* tests/fuzz/corpus/v1/crash-content_size_wraps: float [2^62 + 1] whose
 * tensor_content is 4 bytes (4 * (2^62 + 1) wraps to 4 in 64 bits) */
static const uint8_t v1_content_wraps[] = {
    0x00, 0x00, 0x21, 0x0a, 0x1f, 0x0a, 0x19, 0x0a, 0x03, 0x62, 0x69, 0x67, 0x12, 0x0c, 0x12, 0x0a,
    0x08, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x40, 0x18, 0x01, 0x22, 0x02, 0x0a, 0x00,
    0x12, 0x02, 0x08, 0x1a, 0x00, 0x0a, 0x15, 0x00, 0x62, 0x69, 0x67, 0x00, 0x01, 0x01, 0x01, 0x80,
    0x7f, 0x12, 0x13, 0x0a, 0x03, 0x62, 0x69, 0x67, 0x12, 0x02, 0x0a, 0x00, 0x1a, 0x08, 0x08, 0x01,
    0x22, 0x04, 0x01, 0x02, 0x03, 0x04, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0xc5,
    0xfd, 0x16, 0xd8, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xf2, 0xa1, 0xb0,
    0x00, 0x0a, 0x02, 0x00, 0x62, 0x69, 0x67, 0x00, 0x01, 0x01, 0x01, 0x80, 0x7f, 0x00, 0x4e, 0x00,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x84, 0x4a, 0x86, 0xce, 0x53, 0x08, 0x60, 0x17,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb,
};

/* tests/fuzz/corpus/sstable/crash-empty_snappy_index: a table whose index
 * block is snappy-compressed to zero bytes (valid CRCs) */
static const uint8_t empty_snappy_index[] = {
    0x00, 0x01, 0xed, 0xf0, 0x24, 0x8c, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x57, 0xfb, 0x80, 0x8b, 0x24, 0x75, 0x47, 0xdb,
};

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ckpt-hostile-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Write data to dir/name and return the path (static buffer). */
static const char *put(const char *name, const uint8_t *data, size_t n)
{
	static char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(data, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

/* path opens and lists no tensor */
static void assert_opens_empty(const char *path)
{
	ckpt_reader *r;
	ckpt_error err;

	ck_assert_int_eq(ckpt_reader_open(&r, path, &err), 0);
	ck_assert_uint_eq(ckpt_reader_count(r), 0);
	ckpt_reader_close(r);
}

START_TEST(test_v2_without_tensors_opens_empty)
{
	char prefix[128];

	put("ckpt.index", v2_header_only, sizeof(v2_header_only));
	snprintf(prefix, sizeof(prefix), "%s/ckpt", dir);
	assert_opens_empty(prefix);
}
END_TEST

START_TEST(test_v1_without_tensors_opens_empty)
{
	assert_opens_empty(put("model.ckpt", v1_empty_meta, sizeof(v1_empty_meta)));
}
END_TEST

START_TEST(test_v1_rejects_content_shorter_than_shape)
{
	ckpt_reader *r;
	ckpt_error err;

	const char *path = put("model.ckpt", v1_content_wraps, sizeof(v1_content_wraps));
	ck_assert_int_eq(ckpt_reader_open(&r, path, &err), CKPT_ECORRUPT);
	ck_assert_ptr_null(r);
	ck_assert_ptr_nonnull(strstr(err.msg, "values do not match"));
}
END_TEST

START_TEST(test_table_rejects_empty_snappy_index)
{
	ckpt_error err;

	ck_assert_int_eq(ckpt__sstable_foreach(empty_snappy_index, sizeof(empty_snappy_index), "t",
					       NULL, NULL, &err),
			 CKPT_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(err.msg, "too short"));
}
END_TEST

static int count_entry(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
		       ckpt_error *err)
{
	(void)key, (void)klen, (void)val, (void)vlen, (void)err;
	++*(size_t *)ctx;
	return 0;
}

/* Each key one byte longer than the last, never a restart: tiny on disk,
 * quadratic to rebuild. The walk refuses once keys outgrow 64x the file. */
START_TEST(test_table_rejects_key_blowup)
{
	ckpt__sst_options opt = {1u << 30, 1 << 30};
	ckpt__sst_writer w;
	ckpt__buf out = {0}, key = {0};
	ckpt_error err;

	ck_assert_int_eq(ckpt__sst_writer_init_buf(&w, &out, &opt), 0);
	for (int i = 0; i < 4000; i++) {
		ck_assert_int_eq(ckpt__buf_append(&key, "a", 1), 0);
		ck_assert_int_eq(ckpt__sst_writer_add(&w, key.data, key.len, "", 0, &err), 0);
	}
	ck_assert_int_eq(ckpt__sst_writer_finish(&w, &err), 0);
	size_t n = 0;
	ck_assert_int_eq(ckpt__sstable_foreach(out.data, out.len, "t", count_entry, &n, &err),
			 CKPT_ECORRUPT);
	ck_assert_ptr_nonnull(strstr(err.msg, "keys expand"));
	ck_assert_uint_lt(n, 4000);
	/* the same keys with TF's restart interval are a fine table */
	ckpt__sst_writer_free(&w);
	out.len = key.len = 0;
	ck_assert_int_eq(ckpt__sst_writer_init_buf(&w, &out, NULL), 0);
	for (int i = 0; i < 300; i++) {
		ck_assert_int_eq(ckpt__buf_append(&key, "a", 1), 0);
		ck_assert_int_eq(ckpt__sst_writer_add(&w, key.data, key.len, "", 0, &err), 0);
	}
	ck_assert_int_eq(ckpt__sst_writer_finish(&w, &err), 0);
	n = 0;
	ck_assert_int_eq(ckpt__sstable_foreach(out.data, out.len, "t", count_entry, &n, &err), 0);
	ck_assert_uint_eq(n, 300);
	ckpt__sst_writer_free(&w);
	ckpt__buf_free(&out);
	ckpt__buf_free(&key);
}
END_TEST

/* The slice overlap check is quadratic: more than CKPT_MAX_PIECES slices
 * of one tensor are refused with a clear message, not ground through. */
START_TEST(test_bundle_rejects_too_many_slices)
{
	char pfx[128];
	ckpt_writer *w;
	ckpt_reader *r = NULL;
	ckpt_error err;
	int64_t full = CKPT_MAX_PIECES + 1, start, len = 1;
	float x = 1.0f;

	snprintf(pfx, sizeof(pfx), "%s/m", dir);
	ck_assert_int_eq(ckpt_writer_open(&w, pfx, &err), 0);
	for (start = 0; start < full; start++)
		ck_assert_int_eq(ckpt_writer_add_slice(w, "v", CKPT_DT_FLOAT, 1, &full, &start,
						       &len, &x, 4, &err),
				 0);
	ck_assert_int_eq(ckpt_writer_finish(w, &err), 0);
	ckpt_writer_close(w);
	ck_assert_int_eq(ckpt_reader_open(&r, pfx, &err), CKPT_EUNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(err.msg, "more than 16384 slices"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("hostile");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_v2_without_tensors_opens_empty);
	tcase_add_test(tc, test_v1_without_tensors_opens_empty);
	tcase_add_test(tc, test_v1_rejects_content_shorter_than_shape);
	tcase_add_test(tc, test_table_rejects_empty_snappy_index);
	tcase_add_test(tc, test_table_rejects_key_blowup);
	tcase_add_test(tc, test_bundle_rejects_too_many_slices);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
