/*
 * ckpt/inspect.h: the statistics loop (values, progress callback, CRC
 * checks on the bytes it reads), --show's writer and "did you mean".
 * tests/inspect_test.py compares both with numpy on every dtype.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/inspect.h"
#include "ckpt/writer.h"
#include "testutil.h"

/* A checkpoint in tu_dir: "big" float32 [786433] (3 MiB and 4 bytes,
 * element i = i), "vals" float32 [6] with NaN and inf, "ints" int64 [3]
 * with int64's extremes. */
static const char *make_ckpt(void)
{
	const char *prefix = tu_path(tu_dir, "m");
	ckpt_writer *w;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt_writer_open(&w, prefix, &err), 0);
	int64_t n = 786433;
	float *big = malloc((size_t)n * sizeof(float));
	ck_assert_ptr_nonnull(big);
	for (int64_t i = 0; i < n; i++)
		big[i] = (float)i;
	ck_assert_int_eq(ckpt_writer_add(w, "big", CKPT_DT_FLOAT, 1, &n, big, (size_t)n * 4, &err),
			 0);
	free(big);
	float vals[6] = {1.5f, NAN, INFINITY, -2.0f, NAN, 0.5f};
	int64_t six = 6, three = 3;
	ck_assert_int_eq(
	    ckpt_writer_add(w, "vals", CKPT_DT_FLOAT, 1, &six, vals, sizeof(vals), &err), 0);
	int64_t ints[3] = {INT64_MAX, 0, INT64_MIN};
	ck_assert_int_eq(
	    ckpt_writer_add(w, "ints", CKPT_DT_INT64, 1, &three, ints, sizeof(ints), &err), 0);
	ck_assert_int_eq(ckpt_writer_finish(w, &err), 0);
	ckpt_writer_close(w);
	return prefix;
}

struct progress {
	int calls;
	uint64_t last, total;
	int monotone;
};

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct progress *p = ctx;
	p->monotone &= done > p->last && done <= total;
	p->calls++;
	p->last = done;
	p->total = total;
}

START_TEST(stats_progress_and_values)
{
	ckpt_reader *r;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt_reader_open(&r, make_ckpt(), &err), 0);
	size_t i;
	ck_assert_int_eq(ckpt_reader_find(r, "big", &i), 0);
	struct progress p = {0, 0, 0, 1};
	ckpt_inspect_opts o = {1, on_progress, &p};
	ckpt_stats s;
	ck_assert_int_eq(ckpt_inspect_stats(r, i, &o, &s, &err), 0);
	/* three 1 MiB chunks and the last 4 bytes, reported as they are read */
	ck_assert_int_eq(p.calls, 4);
	ck_assert(p.monotone);
	ck_assert_uint_eq(p.last, 786433u * 4);
	ck_assert_uint_eq(p.total, ckpt_inspect_stats_bytes(r, i));
	ck_assert_uint_eq(s.count, 786433);
	ck_assert(s.has_minmax && s.has_mean);
	float mn, mx;
	memcpy(&mn, s.min, 4);
	memcpy(&mx, s.max, 4);
	ck_assert(mn == 0.0f && mx == 786432.0f);
	ck_assert(s.mean == 393216.0); /* exact: the compensated sum */

	ck_assert_int_eq(ckpt_reader_find(r, "vals", &i), 0);
	ck_assert_int_eq(ckpt_inspect_stats(r, i, NULL, &s, &err), 0);
	ck_assert_uint_eq(s.nan, 2);
	ck_assert_uint_eq(s.inf, 1);
	memcpy(&mn, s.min, 4);
	memcpy(&mx, s.max, 4);
	ck_assert(mn == -2.0f && isinf(mx) && mx > 0 && isinf(s.mean) && s.mean > 0);

	ck_assert_int_eq(ckpt_reader_find(r, "ints", &i), 0);
	ck_assert_int_eq(ckpt_inspect_stats(r, i, NULL, &s, &err), 0);
	int64_t a, b;
	memcpy(&a, s.min, 8);
	memcpy(&b, s.max, 8);
	ck_assert(a == INT64_MIN && b == INT64_MAX);
	char text[64];
	ckpt_format_scalar(CKPT_DT_INT64, s.min, text, sizeof(text));
	ck_assert_str_eq(text, "-9223372036854775808");
	ckpt_reader_close(r);
}
END_TEST

/* A flipped byte of "big": the statistics' own CRC over the bytes they
 * read finds it when verify is on, and only then. */
START_TEST(stats_checksum)
{
	const char *prefix = make_ckpt();
	tu_flip(tu_path(tu_dir, "m.data-00000-of-00001"), 2 << 20);
	ckpt_reader *r;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt_reader_open(&r, prefix, &err), 0);
	size_t i;
	ck_assert_int_eq(ckpt_reader_find(r, "big", &i), 0);
	ckpt_inspect_opts on = {1, NULL, NULL}, off = {0, NULL, NULL};
	ckpt_stats s;
	ck_assert_int_eq(ckpt_inspect_stats(r, i, &on, &s, &err), CKPT_ECHECKSUM);
	ck_assert_ptr_nonnull(strstr(err.msg, "Checksum does not match"));
	ck_assert_int_eq(ckpt_inspect_stats(r, i, &off, &s, &err), 0);
	/* --show of its corners reads intact bytes; verify checks the piece */
	ck_assert_int_eq(ckpt_inspect_show(r, i, &on, NULL, NULL, &err), CKPT_ECHECKSUM);
	ckpt_reader_close(r);
}
END_TEST

struct sink {
	char buf[256];
	size_t len;
	int fail;
};

static int to_sink(void *ctx, const char *s, size_t n)
{
	struct sink *k = ctx;
	if (k->fail)
		return CKPT_EIO;
	ck_assert_uint_lt(k->len + n, sizeof(k->buf));
	memcpy(k->buf + k->len, s, n);
	k->len += n;
	k->buf[k->len] = '\0';
	return 0;
}

START_TEST(show_writer_and_find)
{
	ckpt_reader *r;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt_reader_open(&r, make_ckpt(), &err), 0);
	size_t i;
	ck_assert_int_eq(ckpt_inspect_find(r, "big", &i, &err), 0);
	struct sink k = {{0}, 0, 0};
	ck_assert_int_eq(ckpt_inspect_show(r, i, NULL, to_sink, &k, &err), 0);
	ck_assert_str_eq(k.buf, "[0.00000e+00 1.00000e+00 2.00000e+00 ... 7.86430e+05 7.86431e+05\n"
				" 7.86432e+05]");
	k.fail = 1;
	ck_assert_int_eq(ckpt_inspect_show(r, i, NULL, to_sink, &k, &err), CKPT_EIO);
	ck_assert_int_eq(ckpt_inspect_find(r, "bigg", &i, &err), CKPT_ENOTFOUND);
	ck_assert_str_eq(err.msg, "Tensor bigg not found in checkpoint\ndid you mean 'big'?");
	ckpt_reader_close(r);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("inspect");
	TCase *tc = tcase_create("inspect");
	tcase_add_checked_fixture(tc, tu_tmpdir_setup, tu_tmpdir_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, stats_progress_and_values);
	tcase_add_test(tc, stats_checksum);
	tcase_add_test(tc, show_writer_and_find);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
