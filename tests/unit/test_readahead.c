/*
 * fs/readahead.c: the daemon's read-ahead for sequential readers. A
 * reader whose reads follow each other gets hints of the bytes ahead of
 * it, never more than CKPTFS_RA_WINDOW past its last read nor past the
 * file's end, in steps (not one per read); a random reader gets none.
 */
#include <check.h>
#include <stdlib.h>

#include "readahead.h"
#include "testutil.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)

struct hints {
	unsigned n;
	uint64_t bytes, max_past_reader, end;
};

/* Note a read; check the hint it gives (if any) and count it. */
static int note(struct ckptfs_ra *ra, uint64_t off, size_t len, uint64_t size, struct hints *h)
{
	uint64_t ho = 0, hl = 0;
	if (!ckptfs_ra_note(ra, off, len, size, &ho, &hl))
		return 0;
	ck_assert_uint_gt(hl, 0);
	ck_assert_uint_ge(ho, off + len);			  /* ahead of the reader */
	ck_assert_uint_le(ho + hl, size);			  /* within the file */
	ck_assert_uint_le(ho + hl, off + len + CKPTFS_RA_WINDOW); /* bounded */
	ck_assert_uint_ge(ho, h->end);				  /* never the same bytes twice */
	h->n++;
	h->bytes += hl;
	h->end = ho + hl;
	if (ho + hl - (off + len) > h->max_past_reader)
		h->max_past_reader = ho + hl - (off + len);
	return 1;
}

START_TEST(test_sequential_reader_is_read_ahead)
{
	struct ckptfs_ra *ra = ckptfs_ra_new();
	struct hints h = {0};
	const uint64_t size = GiB, req = 1004 * 1024;
	uint64_t off = 0;
	for (; off < size; off += req)
		note(ra, off, off + req > size ? size - off : req, size, &h);
	/* everything past the first two reads was asked for ahead, in steps
	 * of CKPTFS_RA_STEP or more */
	ck_assert_uint_eq(h.end, size);
	ck_assert_uint_ge(h.bytes, size - 2 * req);
	ck_assert_uint_le(h.n, size / CKPTFS_RA_STEP + 2);
	ck_assert_uint_eq(h.max_past_reader, CKPTFS_RA_WINDOW);
	ckptfs_ra_free(ra);
}
END_TEST

START_TEST(test_split_requests_out_of_order_still_follow)
{
	/* a 1 MiB read split in two requests answered in either order */
	struct ckptfs_ra *ra = ckptfs_ra_new();
	struct hints h = {0};
	const uint64_t size = 256 * MiB, a = 1004 * 1024, b = MiB - a;
	for (uint64_t off = 0; off < size; off += MiB) {
		note(ra, off + a, b, size, &h);
		note(ra, off, a, size, &h);
	}
	ck_assert_uint_eq(h.end, size);
	ckptfs_ra_free(ra);
}
END_TEST

START_TEST(test_random_reader_gets_no_hint)
{
	struct ckptfs_ra *ra = ckptfs_ra_new();
	struct hints h = {0};
	const uint64_t size = GiB;
	srand(7);
	for (int i = 0; i < 20000; i++) {
		uint64_t off = ((uint64_t)rand() % (size / 4096)) * 4096;
		note(ra, off, 4096, size, &h);
	}
	/* two reads in a row within the slack of each other are rare: a
	 * hint needs two such pairs in a row */
	ck_assert_uint_le(h.n, 2);
	ckptfs_ra_free(ra);
}
END_TEST

START_TEST(test_random_read_stops_it)
{
	struct ckptfs_ra *ra = ckptfs_ra_new();
	struct hints h = {0};
	const uint64_t size = GiB;
	for (uint64_t off = 0; off < 8 * MiB; off += MiB)
		note(ra, off, MiB, size, &h);
	ck_assert_uint_ge(h.n, 1);
	unsigned before = h.n;
	/* a jump: no hint for it nor for the next read that follows it */
	ck_assert_int_eq(note(ra, 512 * MiB, MiB, size, &h), 0);
	ck_assert_int_eq(note(ra, 513 * MiB, MiB, size, &h), 0);
	h.end = 0; /* a new stream: its hints may start anywhere ahead */
	ck_assert_int_eq(note(ra, 514 * MiB, MiB, size, &h), 1);
	ck_assert_uint_eq(h.n, before + 1);
	ckptfs_ra_free(ra);
}
END_TEST

START_TEST(test_edges)
{
	struct ckptfs_ra *ra = ckptfs_ra_new();
	uint64_t ho, hl;
	/* empty reads, reads past the end or wrapping: nothing */
	ck_assert_int_eq(ckptfs_ra_note(ra, 0, 0, MiB, &ho, &hl), 0);
	ck_assert_int_eq(ckptfs_ra_note(ra, MiB, 1, MiB, &ho, &hl), 0);
	ck_assert_int_eq(ckptfs_ra_note(ra, UINT64_MAX - 10, 100, UINT64_MAX, &ho, &hl), 0);
	/* a small file read whole: nothing past its end to ask for */
	ck_assert_int_eq(ckptfs_ra_note(ra, 0, 4096, 8192, &ho, &hl), 0);
	ck_assert_int_eq(ckptfs_ra_note(ra, 4096, 4096, 8192, &ho, &hl), 0);
	ckptfs_ra_free(ra);
	ckptfs_ra_free(NULL);
	/* states never released (a session ended with files open) */
	for (int i = 0; i < 5; i++)
		ck_assert_ptr_nonnull(ckptfs_ra_new());
	ckptfs_ra_free(ckptfs_ra_new());
	ckptfs_ra_free_all();
	ckptfs_ra_free_all();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("readahead");
	TCase *tc = tcase_create("detector");
	tcase_add_test(tc, test_sequential_reader_is_read_ahead);
	tcase_add_test(tc, test_split_requests_out_of_order_still_follow);
	tcase_add_test(tc, test_random_reader_gets_no_hint);
	tcase_add_test(tc, test_random_read_stops_it);
	tcase_add_test(tc, test_edges);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
