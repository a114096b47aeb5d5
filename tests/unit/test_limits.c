/*
 * Limits: V2 indexes built entry by entry (protobuf-c + the table writer)
 * whose shapes, sizes, offsets, shard counts and names sit at or past what
 * the reader accepts. Each is refused with a clear message (or, for a
 * million entries and a 100 KB name, opens in reasonable time); and what
 * 100,000 tensors cost a mount in memory.
 */
#include <check.h>
#if defined(__SANITIZE_ADDRESS__)
/* libasan's (GCC ships no header for it) */
size_t __sanitizer_get_current_allocated_bytes(void);
#else
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ckpt/reader.h"
#include "ckpt/resolve.h"
#include "ckpt/view.h"
#include "ckpt/writer.h"
#include "util/crc32c_int.h"
#include "format/sstable_writer_int.h"
#include "tensor_bundle.pb-c.h"
#include "testutil.h"

static char *dir;
static char pfx[4200];

static void setup(void)
{
	dir = tu_tmpdir();
	snprintf(pfx, sizeof(pfx), "%s/m", dir);
}

static void teardown(void)
{
	tu_rmtree(dir);
	free(dir);
}

/* One entry: dtype, shape, shard, offset, size (crc of zero bytes). */
struct ent {
	const char *key;
	size_t klen; /* 0: strlen(key) */
	int dtype;
	int rank;
	const int64_t *dims;
	int shard;
	int64_t offset, size;
};

static void add_packed(ckpt__sst_writer *w, const void *key, size_t klen, const ProtobufCMessage *m)
{
	ckpt_error err;
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = malloc(n ? n : 1);
	ck_assert_ptr_nonnull(buf);
	protobuf_c_message_pack(m, buf);
	ck_assert_int_eq(ckpt__sst_writer_add(w, key, klen, buf, n, &err), 0);
	free(buf);
}

/* Write pfx.index (header with num_shards, then ents in key order) and a
 * data file of data_len zero bytes for shard 0 of num_shards. */
static void write_bundle(int num_shards, const struct ent *ents, size_t n, size_t data_len)
{
	ckpt__sst_writer w;
	ckpt__buf out = {0};
	ckpt_error err;
	Tensorflow__BundleHeaderProto h = TENSORFLOW__BUNDLE_HEADER_PROTO__INIT;

	h.num_shards = num_shards;
	ck_assert_int_eq(ckpt__sst_writer_init_buf(&w, &out, NULL), 0);
	add_packed(&w, "", 0, &h.base);
	for (size_t i = 0; i < n; i++) {
		const struct ent *e = &ents[i];
		Tensorflow__BundleEntryProto be = TENSORFLOW__BUNDLE_ENTRY_PROTO__INIT;
		Tensorflow__TensorShapeProto sh = TENSORFLOW__TENSOR_SHAPE_PROTO__INIT;
		Tensorflow__TensorShapeProto__Dim d[80], *dp[80];
		for (int k = 0; k < e->rank; k++) {
			tensorflow__tensor_shape_proto__dim__init(&d[k]);
			d[k].size = e->dims[k];
			dp[k] = &d[k];
		}
		sh.n_dim = (size_t)e->rank;
		sh.dim = dp;
		be.dtype = (Tensorflow__DataType)e->dtype;
		be.shape = &sh;
		be.shard_id = e->shard;
		be.offset = e->offset;
		be.size = e->size;
		add_packed(&w, e->key, e->klen ? e->klen : strlen(e->key), &be.base);
	}
	ck_assert_int_eq(ckpt__sst_writer_finish(&w, &err), 0);
	tu_write(tu_path(dir, "m.index"), out.data, out.len);
	ckpt__sst_writer_free(&w);
	ckpt__buf_free(&out);
	char name[64];
	snprintf(name, sizeof(name), "m.data-00000-of-%05d", num_shards);
	uint8_t *zeros = calloc(data_len ? data_len : 1, 1);
	tu_write(tu_path(dir, name), zeros, data_len);
	free(zeros);
}

/* Opening pfx fails with code and a message holding `want`. */
static void assert_refused(int code, const char *want)
{
	ckpt_reader *r = NULL;
	ckpt_error err = CKPT_ERROR_INIT;
	int rc = tu_open_checked(&r, pfx, &err);
	ck_assert_msg(rc == code, "rc %d (want %d): %s", rc, code, err.msg);
	ck_assert_ptr_null(r);
	ck_assert_msg(strstr(err.msg, want) != NULL, "message \"%s\" lacks \"%s\"", err.msg, want);
	ck_assert_ptr_null(strchr(err.msg, '\n'));
}

static void refused_shape(int rank, const int64_t *dims, int64_t size, const char *want)
{
	struct ent e = {"t", 0, CKPT_DT_FLOAT, rank, dims, 0, 0, size};
	write_bundle(1, &e, 1, 64);
	assert_refused(CKPT_ECORRUPT, want);
}

START_TEST(test_element_count_overflows)
{
	int64_t two32[] = {1ll << 32, 1ll << 32};
	refused_shape(2, two32, 0, "element count overflows int64");
	int64_t big[] = {INT64_MAX, 2};
	refused_shape(2, big, 0, "element count overflows int64");
	int64_t three[] = {1ll << 21, 1ll << 21, 1ll << 22};
	refused_shape(3, three, 0, "element count overflows int64");
}
END_TEST

START_TEST(test_byte_size_overflows)
{
	/* 2^62 floats fit int64 as a count, not as 2^64 bytes */
	int64_t d[] = {1ll << 62};
	refused_shape(1, d, 0, "Invalid size in bundle entry");
	refused_shape(1, d, INT64_MAX, "Invalid size in bundle entry");
}
END_TEST

START_TEST(test_negative_dim)
{
	int64_t d[] = {3, -1};
	refused_shape(2, d, 0, "dimension 1 is negative");
	int64_t m[] = {INT64_MIN};
	refused_shape(1, m, 0, "dimension 0 is negative");
}
END_TEST

START_TEST(test_rank_over_64)
{
	int64_t ones[65];
	for (int i = 0; i < 65; i++)
		ones[i] = 1;
	refused_shape(65, ones, 4, "has 65 dimensions (at most 64");
	/* rank 64 itself is fine */
	struct ent e = {"t", 0, CKPT_DT_FLOAT, 64, ones, 0, 0, 4};
	write_bundle(1, &e, 1, 64);
	ckpt_reader *r;
	ckpt_error err;
	ck_assert_int_eq(ckpt_reader_open(&r, pfx, &err), 0);
	ck_assert_int_eq(ckpt_reader_tensor(r, 0)->rank, 64);
	ckpt_reader_close(r);
}
END_TEST

START_TEST(test_sizes_beyond_the_shard)
{
	/* a consistent 4 TiB tensor in a 64-byte data file */
	int64_t d[] = {1ll << 40};
	refused_shape(1, d, 4ll << 40, "runs past the end of the data file (64 bytes)");
	/* opened without the check (listing), a read or verify fails at
	 * once: no 4 TiB buffer, no 4 TiB of 1 MiB steps */
	ckpt_reader *lr;
	ckpt_error lerr = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt_reader_open(&lr, pfx, &lerr), 0);
	ck_assert_int_eq(ckpt_reader_verify_piece(lr, 0, 0, &lerr), CKPT_ECORRUPT);
	ck_assert_msg(strstr(lerr.msg, "runs past the end of the data file"), "%s", lerr.msg);
	float one;
	ck_assert_int_eq(ckpt_reader_pread(lr, 0, 0, 1ll << 41, &one, 4, &lerr), CKPT_ECORRUPT);
	ckpt_reader_close(lr);
	/* offset + size one byte past the end; offset at the very top */
	int64_t two[] = {2};
	struct ent e = {"t", 0, CKPT_DT_FLOAT, 1, two, 0, 57, 8};
	write_bundle(1, &e, 1, 64);
	assert_refused(CKPT_ECORRUPT, "runs past the end of the data file");
	e.offset = INT64_MAX - 4;
	write_bundle(1, &e, 1, 64);
	assert_refused(CKPT_ECORRUPT, "out of range");
	e.offset = -8;
	write_bundle(1, &e, 1, 64);
	assert_refused(CKPT_ECORRUPT, "out of range");
	/* exactly at the end is fine */
	e.offset = 56;
	write_bundle(1, &e, 1, 64);
	ckpt_reader *r;
	ckpt_error err;
	ck_assert_int_eq(ckpt_reader_open(&r, pfx, &err), 0);
	ckpt_reader_close(r);
}
END_TEST

START_TEST(test_absurd_num_shards)
{
	int64_t one[] = {1};
	struct ent e = {"t", 0, CKPT_DT_FLOAT, 1, one, 0, 0, 4};
	write_bundle(1 << 30, &e, 1, 64);
	assert_refused(CKPT_ECORRUPT, "num_shards 1073741824 is out of range");
	write_bundle(-5, &e, 1, 64);
	assert_refused(CKPT_ECORRUPT, "num_shards -5 is out of range");
	write_bundle(INT32_MAX, &e, 1, 64);
	assert_refused(CKPT_ECORRUPT, "is out of range");
	/* the most accepted: shard 2^20 - 1 has no data file */
	e.shard = (1 << 20) - 1;
	write_bundle(1 << 20, &e, 1, 64);
	assert_refused(CKPT_ENOTFOUND, "m.data-1048575-of-1048576");
	e.shard = 7;
	write_bundle(2, &e, 1, 64);
	assert_refused(CKPT_ECORRUPT, "shard_id 7 is not below num_shards 2");
	e.shard = -1;
	write_bundle(2, &e, 1, 64);
	assert_refused(CKPT_ECORRUPT, "shard_id -1 is not below");
}
END_TEST

START_TEST(test_names)
{
	int64_t one[] = {1};
	/* a NUL inside a V2 key */
	struct ent e = {"a\0b", 3, CKPT_DT_FLOAT, 1, one, 0, 0, 4};
	write_bundle(1, &e, 1, 64);
	assert_refused(CKPT_ECORRUPT, "a tensor name contains a NUL byte");

	/* a 100 KB name, and names that are paths elsewhere: listed as they are */
	size_t long_len = 100 * 1024;
	char *longname = malloc(long_len + 1);
	ck_assert_ptr_nonnull(longname);
	memset(longname, 'n', long_len);
	longname[long_len] = '\0';
	const char *names[] = {"../../etc/passwd", "/lead",    "@at",	"a//b",
			       "bad\xff\xfe",	   "nl\nname", longname};
	size_t nn = sizeof(names) / sizeof(names[0]);
	ckpt_writer *w;
	ckpt_error err;
	float x = 1.0f;
	ck_assert_int_eq(ckpt_writer_open(&w, pfx, &err), 0);
	for (size_t i = 0; i < nn; i++)
		ck_assert_int_eq(ckpt_writer_add(w, names[i], CKPT_DT_FLOAT, 0, NULL, &x, 4, &err),
				 0);
	ck_assert_int_eq(ckpt_writer_finish(w, &err), 0);
	ckpt_writer_close(w);
	ckpt_reader *r;
	ck_assert_int_eq(ckpt_reader_open(&r, pfx, &err), 0);
	ck_assert_uint_eq(ckpt_reader_count(r), nn);
	for (size_t i = 0; i < nn; i++) {
		size_t at;
		ck_assert_int_eq(ckpt_reader_find(r, names[i], &at), 0);
		float y = 0;
		ck_assert_int_eq(ckpt_reader_read_slice(r, at, NULL, NULL, &y, 4, &err), 0);
		ck_assert(y == 1.0f);
	}
	/* a message naming "nl\nname" stays one line (control bytes as '?') */
	size_t at;
	ck_assert_int_eq(ckpt_reader_find(r, "nl\nname", &at), 0);
	float y;
	ck_assert_int_eq(ckpt_reader_read_slice(r, at, NULL, NULL, &y, 2, &err), CKPT_ERANGE);
	ck_assert_ptr_null(strchr(err.msg, '\n'));
	ck_assert_ptr_nonnull(strstr(err.msg, "nl?name"));
	ckpt_reader_close(r);
	free(longname);
}
END_TEST

/* pfx: n float32 tensors of `elems` zeros each, named name(i), in one
 * shard. */
static void write_many(int n, int elems, int (*name)(char *key, size_t size, int i))
{
	ckpt__sst_writer w;
	ckpt__buf out = {0};
	ckpt_error err;
	Tensorflow__BundleHeaderProto h = TENSORFLOW__BUNDLE_HEADER_PROTO__INIT;
	Tensorflow__TensorShapeProto__Dim d = TENSORFLOW__TENSOR_SHAPE_PROTO__DIM__INIT, *dp = &d;
	Tensorflow__TensorShapeProto sh = TENSORFLOW__TENSOR_SHAPE_PROTO__INIT;
	Tensorflow__BundleEntryProto be = TENSORFLOW__BUNDLE_ENTRY_PROTO__INIT;
	size_t bytes = (size_t)elems * 4;
	uint8_t *zeros = calloc((size_t)n * bytes + 1, 1);
	ck_assert_ptr_nonnull(zeros);

	h.num_shards = 1;
	d.size = elems;
	sh.n_dim = 1;
	sh.dim = &dp;
	be.dtype = TENSORFLOW__DATA_TYPE__DT_FLOAT;
	be.shape = &sh;
	be.size = (int64_t)bytes;
	be.crc32c = ckpt__crc32c_mask(ckpt__crc32c_extend(0, zeros, bytes));
	ck_assert_int_eq(ckpt__sst_writer_init_buf(&w, &out, NULL), 0);
	add_packed(&w, "", 0, &h.base);
	for (int i = 0; i < n; i++) {
		char key[64];
		int kl = name(key, sizeof(key), i);
		be.offset = (int64_t)i * (int64_t)bytes;
		add_packed(&w, key, (size_t)kl, &be.base);
	}
	ck_assert_int_eq(ckpt__sst_writer_finish(&w, &err), 0);
	tu_write(tu_path(dir, "m.index"), out.data, out.len);
	ckpt__sst_writer_free(&w);
	ckpt__buf_free(&out);
	tu_write(tu_path(dir, "m.data-00000-of-00001"), zeros, (size_t)n * bytes);
	free(zeros);
}

static int million_name(char *key, size_t size, int i)
{
	return snprintf(key, size, "layer_%03d/w%04d", i / 10000, i % 10000);
}

/* A million entries: the index must open in reasonable time. */
START_TEST(test_million_entries)
{
	enum { N = 1000000 };
	ckpt_error err;
	write_many(N, 1, million_name);

	struct timespec t0, t1;
	ckpt_reader *r;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(ckpt_reader_open(&r, pfx, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("a %d-entry index opens in %.2f s\n", N, secs);
	ck_assert_uint_eq(ckpt_reader_count(r), N);
	size_t at;
	ck_assert_int_eq(ckpt_reader_find(r, "layer_099/w9999", &at), 0);
	ck_assert_int_eq(ckpt_reader_verify_piece(r, at, 0, &err), 0);
	ckpt_reader_close(r);
	/* generous: ~1 s here; sanitizers and a loaded machine slow it down */
	ck_assert_msg(secs < 30, "a million entries took %.1f s to open", secs);
}
END_TEST

/* Heap bytes in use, as the allocator counts them (ASan's when it is
 * the allocator). */
static size_t heap_in_use(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return __sanitizer_get_current_allocated_bytes();
#else
	struct mallinfo2 m = mallinfo2();
	return m.uordblks + m.hblkhd;
#endif
}

/* scripts/bench.py's tree (case 5) */
static int tree_name(char *key, size_t size, int i)
{
	return snprintf(key, size, "layer_%02d/block_%d/unit_%d/w%d", i / 1000, i / 100 % 10,
			i / 10 % 10, i % 10);
}

/*
 * 100,000 tensors, what a mount holds for them: the reader, the plan
 * (resolved as ckptfs does, borrowing the reader's names) and the view.
 * One record per tensor, file and node, names and shapes in arenas, no
 * heap block per tensor: about 320 bytes a tensor (it was ~1 KiB, ~100
 * MiB a mount). Bytes are counted by the allocator, not timed.
 */
START_TEST(test_memory_per_tensor)
{
	enum { N = 100000 };
	ckpt_error err = CKPT_ERROR_INIT;
	write_many(N, 16, tree_name);

	size_t base = heap_in_use();
	ckpt_reader *r;
	ck_assert_int_eq(ckpt_reader_open(&r, pfx, &err), 0);
	ck_assert_uint_eq(ckpt_reader_count(r), N);
	size_t opened = heap_in_use() - base;
	ckpt_resolve_opts o = CKPT_RESOLVE_OPTS_INIT;
	o.as_is = 1;
	o.ckpt_path = pfx;
	o.borrow = 1;
	ckpt_plan *plan;
	ck_assert_int_eq(ckpt_resolve(&o, ckpt_reader_tensors(r), N, &plan, &err), 0);
	ck_assert_uint_eq(plan->n_files, N);
	size_t resolved = heap_in_use() - base;
	ckpt_view *v;
	ck_assert_int_eq(ckpt_view_build(&v, r, plan, &err), 0);
	size_t served = heap_in_use() - base;
	uint32_t id = ckpt_view_resolve_path(v, "layer_99/block_9/unit_9/w9");
	ck_assert_uint_ne(id, CKPT_VIEW_NONE);
	ck_assert_uint_eq(ckpt_view_node(v, id)->size, 64);
	printf("bytes a tensor: %zu opened, %zu resolved, %zu served\n", opened / N, resolved / N,
	       served / N);
	ckpt_view_free(v);
	ckpt_plan_free(plan);
	ckpt_reader_close(r);
	ck_assert_msg(opened < (size_t)N * 160, "the reader takes %zu bytes a tensor", opened / N);
	ck_assert_msg(resolved < (size_t)N * 300, "reader and plan take %zu bytes a tensor",
		      resolved / N);
	ck_assert_msg(served < (size_t)N * 380, "a mount's structures take %zu bytes a tensor",
		      served / N);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("limits");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_element_count_overflows);
	tcase_add_test(tc, test_byte_size_overflows);
	tcase_add_test(tc, test_negative_dim);
	tcase_add_test(tc, test_rank_over_64);
	tcase_add_test(tc, test_sizes_beyond_the_shard);
	tcase_add_test(tc, test_absurd_num_shards);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_million_entries);
	tcase_add_test(tc, test_memory_per_tensor);
	tcase_set_timeout(tc, 120);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
