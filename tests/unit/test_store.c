/*
 * The store seam (ckpt/store.h): the POSIX store's regular-file rule (a
 * FIFO, directory or missing name is refused without blocking), its
 * bounded descriptor pool (reads stay exact with more objects than
 * descriptors; a file replaced or deleted while its descriptor was closed
 * is an error, never other bytes; a pinned splice descriptor survives
 * eviction), TF's join rule, lazy shards in the reader, a reader over
 * an in-memory store that never touches a file, and libcurl loaded by the
 * first remote store only.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/reader.h"
#include "ckpt/store.h"
#include "ckpt/store_remote.h"
#include "ckpt/writer.h"
#include "testutil.h"

/* Open descriptors of this process. */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	ck_assert_ptr_nonnull(d);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL)
		n += e->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the one opendir holds */
}

static const char *file_n(int k)
{
	static char name[16];
	snprintf(name, sizeof(name), "f%d", k);
	return tu_path(tu_dir, name);
}

/* File k holds 4096 bytes: byte i is (k * 31 + i) & 0xff. */
static void write_file(int k, int salt)
{
	uint8_t b[4096];
	for (int i = 0; i < 4096; i++)
		b[i] = (uint8_t)(k * 31 + i + salt);
	tu_write(file_n(k), b, sizeof(b));
}

static void assert_reads(ckpt_object *o, int k, uint64_t off, size_t len)
{
	uint8_t b[4096];
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_msg(ckpt_object_pread(o, b, len, off, &err) == 0, "%s", err.msg);
	for (size_t i = 0; i < len; i++)
		ck_assert_uint_eq(b[i], (uint8_t)(k * 31 + (int)(off + i)));
}

START_TEST(test_join_as_os_path_join)
{
	static const char *const cases[][3] = {
	    {"d", "m.ckpt", "d/m.ckpt"},	 {"d/", "m.ckpt", "d/m.ckpt"},
	    {"d", "/abs/m", "/abs/m"},		 {"d", "../up/m-?????", "d/../up/m-?????"},
	    {"s3://b/run", "m", "s3://b/run/m"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *p;
		ck_assert_int_eq(ckpt_store_join(cases[i][0], cases[i][1], &p, NULL), 0);
		ck_assert_str_eq(p, cases[i][2]);
		free(p);
	}
}
END_TEST

START_TEST(test_posix_kinds)
{
	ckpt_store *s;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt_store_posix_new(&s, 0, &err), 0);
	write_file(0, 0);
	ck_assert_int_eq(mkfifo(tu_path(tu_dir, "fifo"), 0600), 0);
	ck_assert_int_eq(mkdir(tu_path(tu_dir, "sub"), 0700), 0);
	ckpt_stat st;
	ck_assert_int_eq(ckpt_store_stat(s, file_n(0), &st, &err), 0);
	ck_assert_int_eq(st.kind, CKPT_STORE_FILE);
	ck_assert_uint_eq(st.size, 4096);
	struct stat sb;
	ck_assert_int_eq(stat(file_n(0), &sb), 0);
	ck_assert_int_eq(st.mtime_sec, sb.st_mtim.tv_sec);
	ck_assert_int_eq(st.mtime_nsec, sb.st_mtim.tv_nsec);
	ck_assert_int_eq(ckpt_store_stat(s, tu_path(tu_dir, "fifo"), &st, &err), 0);
	ck_assert_int_eq(st.kind, CKPT_STORE_OTHER);
	ck_assert_int_eq(ckpt_store_stat(s, tu_path(tu_dir, "sub"), &st, &err), 0);
	ck_assert_int_eq(st.kind, CKPT_STORE_DIR);
	ck_assert_int_eq(ckpt_store_stat(s, tu_path(tu_dir, "none"), &st, &err), 0);
	ck_assert_int_eq(st.kind, CKPT_STORE_ABSENT);

	/* only regular files open; a FIFO is refused, not waited on */
	ckpt_object *o;
	ck_assert_int_eq(ckpt_store_open(s, tu_path(tu_dir, "fifo"), &o, &err), CKPT_ENOTFOUND);
	ck_assert_ptr_null(o);
	ck_assert_msg(strstr(err.msg, "fifo: not a regular file (a FIFO)"), "%s", err.msg);
	ck_assert_int_eq(ckpt_store_open(s, tu_path(tu_dir, "sub"), &o, &err), CKPT_ENOTFOUND);
	ck_assert_msg(strstr(err.msg, "sub: not a regular file (a directory)"), "%s", err.msg);
	ck_assert_int_eq(ckpt_store_open(s, tu_path(tu_dir, "none"), &o, &err), CKPT_ENOTFOUND);
	ck_assert_msg(strstr(err.msg, "none: No such file or directory"), "%s", err.msg);
	/* a symlink to a regular file is fine, one to a FIFO is not */
	ck_assert_int_eq(symlink("f0", tu_path(tu_dir, "ln")), 0);
	ck_assert_int_eq(symlink("fifo", tu_path(tu_dir, "lnfifo")), 0);
	ck_assert_int_eq(ckpt_store_open(s, tu_path(tu_dir, "ln"), &o, &err), 0);
	assert_reads(o, 0, 100, 200);
	ckpt_object_close(o);
	ck_assert_int_eq(ckpt_store_open(s, tu_path(tu_dir, "lnfifo"), &o, &err), CKPT_ENOTFOUND);

	/* reads are exact: past the end is "truncated", never short */
	ck_assert_int_eq(ckpt_store_open(s, file_n(0), &o, &err), 0);
	ck_assert_str_eq(ckpt_object_name(o), file_n(0));
	uint8_t b[16];
	ck_assert_int_eq(ckpt_object_pread(o, b, 16, 4090, &err), CKPT_ECORRUPT);
	ck_assert_msg(strstr(err.msg, "truncated"), "%s", err.msg);
	ckpt_object_close(o);
	uint8_t *whole;
	size_t len;
	ck_assert_int_eq(
	    ckpt_store_read_whole(s, tu_path(tu_dir, "fifo"), 100, &whole, &len, NULL, &err),
	    CKPT_ENOTFOUND);
	ck_assert_int_eq(ckpt_store_read_whole(s, file_n(0), 100, &whole, &len, NULL, &err),
			 CKPT_ERANGE);
	ck_assert_int_eq(ckpt_store_read_whole(s, file_n(0), 4096, &whole, &len, &st, &err), 0);
	ck_assert_uint_eq(len, 4096);
	ck_assert_uint_eq(whole[5], 5);
	ck_assert_uint_eq(st.size, 4096);
	free(whole);
	ckpt_store_free(s);
}
END_TEST

START_TEST(test_posix_list)
{
	ckpt_store *s;
	ck_assert_int_eq(ckpt_store_posix_new(&s, 0, NULL), 0);
	for (int k = 3; k >= 0; k--)
		write_file(k, 0);
	char **names;
	size_t n;
	ck_assert_int_eq(ckpt_store_list(s, tu_path(tu_dir, "f[1-3]"), &names, &n, NULL), 0);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(names[0], file_n(1));
	ck_assert_str_eq(names[2], file_n(3));
	ckpt_store_names_free(names, n);
	ck_assert_int_eq(ckpt_store_list(s, tu_path(tu_dir, "nothing*"), &names, &n, NULL), 0);
	ck_assert_uint_eq(n, 0);
	ckpt_store_names_free(names, n);
	ckpt_store_free(s);
}
END_TEST

/* 12 objects through a pool of 3 descriptors: every read exact, never more
 * than 3 descriptors open. */
START_TEST(test_pool_bounded)
{
	enum { N = 12 };
	ckpt_store *s;
	ckpt_object *o[N];
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt_store_posix_new(&s, 3, &err), 0);
	int base = count_fds();
	for (int k = 0; k < N; k++) {
		write_file(k, 0);
		ck_assert_int_eq(ckpt_store_open(s, file_n(k), &o[k], &err), 0);
		ck_assert_int_le(count_fds() - base, 3);
	}
	for (int round = 0; round < 5; round++)
		for (int k = 0; k < N; k++) {
			int j = (k * 7 + round) % N;
			assert_reads(o[j], j, (uint64_t)(round * 100 + j), 1000);
			ck_assert_int_le(count_fds() - base, 3);
		}
	for (int k = 0; k < N; k++)
		ckpt_object_close(o[k]);
	ck_assert_int_eq(count_fds(), base);
	ckpt_store_free(s);
}
END_TEST

/* An object whose descriptor the pool closed is reopened only if it is
 * still the same file: replaced or deleted is CKPT_EIO. One still holding
 * its descriptor keeps reading the original bytes. */
START_TEST(test_pool_identity)
{
	ckpt_store *s;
	ckpt_object *a, *b, *c, *d;
	ckpt_error err = CKPT_ERROR_INIT;
	uint8_t buf[64];
	ck_assert_int_eq(ckpt_store_posix_new(&s, 1, &err), 0);
	for (int k = 0; k < 4; k++)
		write_file(k, 0);
	ck_assert_int_eq(ckpt_store_open(s, file_n(0), &a, &err), 0);
	ck_assert_int_eq(ckpt_store_open(s, file_n(1), &b, &err), 0); /* a's fd closed */
	/* a replaced by a file of the same size and other bytes */
	write_file(9, 1);
	ck_assert_int_eq(rename(file_n(9), file_n(0)), 0);
	ck_assert_int_eq(ckpt_object_pread(a, buf, 64, 0, &err), CKPT_EIO);
	ck_assert_msg(strstr(err.msg, "changed since it was opened"), "%s", err.msg);
	/* b holds its descriptor: deleting the name does not matter */
	ck_assert_int_eq(unlink(file_n(1)), 0);
	assert_reads(b, 1, 0, 4096);
	/* c takes the one descriptor; b's name is gone: EIO */
	ck_assert_int_eq(ckpt_store_open(s, file_n(2), &c, &err), 0);
	ck_assert_int_eq(ckpt_object_pread(b, buf, 1, 0, &err), CKPT_EIO);
	/* c deleted while holding it: reads on; once evicted: EIO */
	ck_assert_int_eq(unlink(file_n(2)), 0);
	assert_reads(c, 2, 0, 10);
	ck_assert_int_eq(ckpt_store_open(s, file_n(3), &d, &err), 0);
	ck_assert_int_eq(ckpt_object_pread(c, buf, 1, 0, &err), CKPT_EIO);
	assert_reads(d, 3, 0, 4096);
	ckpt_object_close(a);
	ckpt_object_close(b);
	ckpt_object_close(c);
	ckpt_object_close(d);
	ckpt_store_free(s);
}
END_TEST

/* A splice descriptor stays open and right while pinned, whatever else
 * the pool must open meanwhile. */
START_TEST(test_pool_splice_pin)
{
	ckpt_store *s;
	ckpt_object *a, *b;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt_store_posix_new(&s, 1, &err), 0);
	write_file(0, 0);
	write_file(1, 0);
	ck_assert_int_eq(ckpt_store_open(s, file_n(0), &a, &err), 0);
	int fd;
	ck_assert_int_eq(ckpt_object_splice_fd(a, &fd), 1);
	ck_assert_int_eq(ckpt_store_open(s, file_n(1), &b, &err), 0);
	assert_reads(b, 1, 7, 3000);
	uint8_t x;
	ck_assert_int_eq(pread(fd, &x, 1, 5), 1);
	ck_assert_uint_eq(x, 5);
	ckpt_object_splice_release(a);
	assert_reads(b, 1, 0, 10); /* now a may go */
	assert_reads(a, 0, 0, 10); /* and comes back */
	ckpt_object_close(a);
	ckpt_object_close(b);
	ckpt_store_free(s);
}
END_TEST

/* ---- a store in memory: the reader reaches bytes only through the seam */

struct mem_file {
	char *name;
	uint8_t *data;
	size_t len;
};

struct mem_store {
	struct ckpt_store base;
	struct mem_file f[8];
	int n;
	int opens, preads;
};

struct mem_obj {
	struct ckpt_object base;
	const struct mem_file *f;
};

static const struct mem_file *mem_find(struct mem_store *m, const char *name)
{
	for (int i = 0; i < m->n; i++)
		if (strcmp(m->f[i].name, name) == 0)
			return &m->f[i];
	return NULL;
}

static int mem_stat(ckpt_store *s, const char *name, ckpt_stat *st, ckpt_error *err)
{
	(void)err;
	const struct mem_file *f = mem_find((struct mem_store *)s, name);
	memset(st, 0, sizeof(*st));
	if (f) {
		st->kind = CKPT_STORE_FILE;
		st->size = f->len;
		snprintf(st->id, sizeof(st->id), "mem:%s", name);
	}
	return 0;
}

static int mem_open(ckpt_store *s, const char *name, ckpt_object **out, ckpt_error *err)
{
	struct mem_store *m = (struct mem_store *)s;
	const struct mem_file *f = mem_find(m, name);
	if (f == NULL) {
		if (err) {
			err->code = CKPT_ENOTFOUND;
			snprintf(err->msg, sizeof(err->msg), "%s: not in memory", name);
		}
		return CKPT_ENOTFOUND;
	}
	struct mem_obj *o = calloc(1, sizeof(*o));
	o->base.store = s;
	o->base.name = f->name;
	mem_stat(s, name, &o->base.st, err);
	o->f = f;
	m->opens++;
	*out = &o->base;
	return 0;
}

static int mem_pread(ckpt_object *obj, void *buf, size_t len, uint64_t off, ckpt_error *err)
{
	(void)err;
	struct mem_obj *o = (struct mem_obj *)obj;
	((struct mem_store *)obj->store)->preads++;
	memcpy(buf, o->f->data + off, len); /* the seam checked off + len */
	return 0;
}

static void mem_close(ckpt_object *o)
{
	free(o);
}

static int mem_list(ckpt_store *s, const char *pattern, char ***names, size_t *n, ckpt_error *err)
{
	(void)err;
	const struct mem_file *f = mem_find((struct mem_store *)s, pattern);
	if (f) {
		*names = malloc(sizeof(char *));
		(*names)[0] = strdup(f->name);
		*n = 1;
	}
	return 0;
}

static void mem_destroy(ckpt_store *s)
{
	struct mem_store *m = (struct mem_store *)s;
	for (int i = 0; i < m->n; i++) {
		free(m->f[i].name);
		free(m->f[i].data);
	}
}

static const struct ckpt_store_ops mem_ops = {
    .stat = mem_stat,
    .open = mem_open,
    .pread = mem_pread,
    .close = mem_close,
    .list = mem_list,
    .destroy = mem_destroy,
};

static void mem_add(struct mem_store *m, const char *name, const char *path)
{
	struct mem_file *f = &m->f[m->n++];
	f->name = strdup(name);
	f->data = tu_read(path, &f->len);
	ck_assert_int_eq(unlink(path), 0); /* gone from the disk */
}

START_TEST(test_reader_over_memory_store)
{
	ckpt_writer *w;
	ckpt_error err = CKPT_ERROR_INIT;
	char pfx[4200];
	snprintf(pfx, sizeof(pfx), "%s/m", tu_dir);
	ck_assert_int_eq(ckpt_writer_open(&w, pfx, &err), 0);
	ck_assert_int_eq(ckpt_writer_set_shard(w, 0, &err), 0);
	int32_t a[6] = {1, 2, 3, 4, 5, 6};
	int64_t dims[2] = {2, 3};
	ck_assert_int_eq(ckpt_writer_add(w, "a", CKPT_DT_INT32, 2, dims, a, sizeof(a), &err), 0);
	ck_assert_int_eq(ckpt_writer_set_shard(w, 1, &err), 0);
	double d[3] = {0.5, -1.0, 2.25};
	ck_assert_int_eq(ckpt_writer_add(w, "b/d", CKPT_DT_DOUBLE, 1, dims + 1, d, sizeof(d), &err),
			 0);
	ck_assert_int_eq(ckpt_writer_finish(w, &err), 0);
	ckpt_writer_close(w);

	struct mem_store m = {.base = {&mem_ops}};
	mem_add(&m, "mem/m.index", tu_path(tu_dir, "m.index"));
	mem_add(&m, "mem/m.data-00000-of-00002", tu_path(tu_dir, "m.data-00000-of-00002"));
	mem_add(&m, "mem/m.data-00001-of-00002", tu_path(tu_dir, "m.data-00001-of-00002"));

	ckpt_reader *r;
	ck_assert_msg(ckpt_reader_open_store(&r, &m.base, "mem/m", &err) == 0, "%s", err.msg);
	ck_assert_int_eq(m.opens, 1); /* the index only */
	ck_assert_str_eq(ckpt_reader_stat(r)->id, "mem:mem/m.index");
	ck_assert_uint_eq(ckpt_reader_count(r), 2);
	int32_t ga[6];
	double gd[3];
	ck_assert_int_eq(ckpt_reader_read_slice(r, 0, NULL, NULL, ga, sizeof(ga), &err), 0);
	ck_assert(memcmp(ga, a, sizeof(a)) == 0);
	ck_assert_int_eq(m.opens, 2);
	ck_assert_int_eq(ckpt_reader_read_slice(r, 1, NULL, NULL, gd, sizeof(gd), &err), 0);
	ck_assert(memcmp(gd, d, sizeof(d)) == 0);
	ck_assert_int_eq(m.opens, 3);
	/* no descriptor to splice from a store that has none */
	ckpt_object *o;
	uint64_t off;
	ck_assert_int_eq(ckpt_reader_piece_object(r, 0, 0, &o, &off), 1);
	int fd;
	ck_assert_int_eq(ckpt_object_splice_fd(o, &fd), 0);
	ckpt_reader_close(r);
	mem_destroy(&m.base);
}
END_TEST

/* Is a file whose name holds `lib` mapped into this process? */
static int mapped(const char *lib)
{
	FILE *f = fopen("/proc/self/maps", "r");
	ck_assert_ptr_nonnull(f);
	char line[4096];
	int found = 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, lib) != NULL;
	fclose(f);
	return found;
}

/* A process that reads local checkpoints never maps libcurl nor what it
 * pulls in (~6 MiB of every mount's memory): the first remote store loads
 * it. */
START_TEST(test_curl_loaded_on_first_use)
{
	ckpt_reader *r;
	ckpt_error err = CKPT_ERROR_INIT;
	const char *fx = tu_fixtures();
	if (fx != NULL) {
		ck_assert_int_eq(
		    ckpt_reader_open(&r,
				     tu_path(fx, "tf_contrib_framework_bundle_checkpoint/"
						 "bundle_checkpoint"),
				     &err),
		    0);
		ckpt_reader_close(r);
	}
	ck_assert_msg(!mapped("/libcurl"), "libcurl is mapped before any remote store");
	ckpt_store *s;
	ckpt_remote_opts o = CKPT_REMOTE_OPTS_INIT;
	/* made without a request: nothing listens there */
	ck_assert_int_eq(ckpt_store_remote_new(&s, "http://127.0.0.1:9/ckpt", &o, &err), 0);
	ck_assert(mapped("/libcurl"));
	ckpt_store_free(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");
	tcase_add_checked_fixture(tc, tu_tmpdir_setup, tu_tmpdir_teardown);
	tcase_add_test(tc, test_join_as_os_path_join);
	tcase_add_test(tc, test_posix_kinds);
	tcase_add_test(tc, test_posix_list);
	tcase_add_test(tc, test_pool_bounded);
	tcase_add_test(tc, test_pool_identity);
	tcase_add_test(tc, test_pool_splice_pin);
	tcase_add_test(tc, test_reader_over_memory_store);
	tcase_add_test(tc, test_curl_loaded_on_first_use);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
