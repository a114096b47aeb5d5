/*
 * fs/splice.c: a reply spliced through our own pipe holds exactly the
 * bytes asked for, or the fill fails; a data file cut short (the window
 * between measuring a shard and splicing from it, a shard rewritten in
 * place under a live mount) is -ENODATA with the count that was there,
 * never fewer bytes passed on as if the file ended there.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "splice.h"
#include "testutil.h"

#define SIZE (256 * 1024)

static uint8_t data[SIZE];

/* A file of SIZE known bytes, out of the page cache; its fd. */
static int make_file(const char *path)
{
	for (size_t i = 0; i < SIZE; i++)
		data[i] = (uint8_t)(i * 7 + i / 251);
	tu_write(path, data, SIZE);
	int fd = open(path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fdatasync(fd), 0);
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
	return fd;
}

static int in_pipe(const struct ckptfs_pipe *p)
{
	int n = -1;
	ck_assert_int_eq(ioctl(p->fd[0], FIONREAD, &n), 0);
	return n;
}

START_TEST(test_fill_exact)
{
	int fd = make_file(tu_path(tu_dir, "f"));
	struct ckptfs_pipe p = CKPTFS_PIPE_INIT;
	size_t got = 0;
	/* unaligned, spanning many pages, uncached */
	ck_assert_int_eq(ckptfs_pipe_fill(&p, fd, 4097, 200000, &got), 0);
	ck_assert_uint_eq(got, 200000);
	ck_assert_int_eq(in_pipe(&p), 200000);
	static uint8_t buf[200000];
	ck_assert_int_eq(read(p.fd[0], buf, sizeof(buf)), 200000);
	ck_assert(memcmp(buf, data + 4097, sizeof(buf)) == 0);
	ckptfs_pipe_drain(&p); /* empty: kept */
	ck_assert_int_ge(p.fd[0], 0);
	/* the whole file, twice through the same pipe */
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(ckptfs_pipe_fill(&p, fd, 0, SIZE, &got), 0);
		ck_assert_int_eq(in_pipe(&p), SIZE);
		static uint8_t all[SIZE];
		ck_assert_int_eq(read(p.fd[0], all, SIZE), SIZE);
		ck_assert(memcmp(all, data, SIZE) == 0);
	}
	ckptfs_pipe_close(&p);
	close(fd);
}
END_TEST

START_TEST(test_fill_short_is_an_error)
{
	const char *path = tu_path(tu_dir, "f");
	int fd = make_file(path);
	struct ckptfs_pipe p = CKPTFS_PIPE_INIT;
	size_t got = 0;
	/* the last 62144 bytes are there, the rest is past the end */
	ck_assert_int_eq(ckptfs_pipe_fill(&p, fd, 200000, 100000, &got), -ENODATA);
	ck_assert_uint_eq(got, SIZE - 200000);
	ck_assert_int_eq(p.fd[0], -1); /* nothing left behind */
	/* cut under an open fd, as a shard rewritten in place: nothing */
	tu_truncate(path, 0);
	ck_assert_int_eq(ckptfs_pipe_fill(&p, fd, 0, 65536, &got), -ENODATA);
	ck_assert_uint_eq(got, 0);
	/* cut mid-range */
	tu_truncate(path, 10000);
	ck_assert_int_eq(ckptfs_pipe_fill(&p, fd, 4096, 65536, &got), -ENODATA);
	ck_assert_uint_eq(got, 10000 - 4096);
	ck_assert_int_eq(p.fd[0], -1);
	/* grown back: the same range is whole again */
	tu_write(path, data, SIZE);
	ck_assert_int_eq(ckptfs_pipe_fill(&p, fd, 4096, 65536, &got), 0);
	ck_assert_int_eq(in_pipe(&p), 65536);
	ckptfs_pipe_close(&p);
	close(fd);
}
END_TEST

START_TEST(test_leftovers_and_limits)
{
	int fd = make_file(tu_path(tu_dir, "f"));
	struct ckptfs_pipe p = CKPTFS_PIPE_INIT;
	size_t got = 0;
	/* bytes not passed on (a failed reply) never reach the next fill */
	ck_assert_int_eq(ckptfs_pipe_fill(&p, fd, 0, 16384, &got), 0);
	uint8_t one;
	ck_assert_int_eq(read(p.fd[0], &one, 1), 1);
	ckptfs_pipe_drain(&p);
	ck_assert_int_eq(p.fd[0], -1);
	ck_assert_int_eq(ckptfs_pipe_fill(&p, fd, 8192, 16384, &got), 0);
	uint8_t buf[16384];
	ck_assert_int_eq(read(p.fd[0], buf, sizeof(buf)), 16384);
	ck_assert(memcmp(buf, data + 8192, sizeof(buf)) == 0);
	/* more than a pipe may hold: refused, for the caller to copy */
	ck_assert_int_eq(ckptfs_pipe_fill(&p, fd, 0, (size_t)INT_MAX, &got), -EFBIG);
	/* not a file that splices: an error, never a short fill */
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	close(fds[1]);
	ck_assert_int_lt(ckptfs_pipe_fill(&p, fds[0], 0, 8192, &got), 0);
	close(fds[0]);
	ckptfs_pipe_close(&p);
	close(fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("splice");
	TCase *tc = tcase_create("pipe");
	tcase_add_checked_fixture(tc, tu_tmpdir_setup, tu_tmpdir_teardown);
	tcase_add_test(tc, test_fill_exact);
	tcase_add_test(tc, test_fill_short_is_an_error);
	tcase_add_test(tc, test_leftovers_and_limits);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
