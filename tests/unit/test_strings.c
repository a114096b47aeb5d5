/*
 * String tensors through the view: checkpoints written here with
 * ckpt_writer from strings made here; every expected file byte is laid out
 * here from those strings by the rules of view.h (raw: a scalar is its
 * bytes, else each element is its uint64 little-endian length then its
 * bytes; npy: each element NUL-padded to the longest). Work is counted,
 * not timed: the bytes the process read from files (/proc/self/io rchar)
 * while reading a whole file in 128 KiB requests must stay within a small
 * multiple of the tensor's stored size (issue 10: every read used to
 * re-read the whole tensor, a quadratic cost).
 */
#include <check.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt/reader.h"
#include "ckpt/resolve.h"
#include "ckpt/view.h"
#include "ckpt/writer.h"
#include "testutil.h"

#define READ_CHUNK ((size_t)128 << 10) /* what FUSE asks for at a time */

static uint64_t next_rand(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* One string tensor as the test made it: n strings in one byte block. */
struct tensor {
	const char *name;
	int rank;
	int64_t dims[2];
	uint64_t n;
	uint64_t *len;
	uint64_t *at; /* string k is bytes[at[k] .. at[k] + len[k]) */
	uint8_t *bytes;
};

/* n strings whose lengths come from lenf(k, rng); random bytes (NULs
 * included). */
static void make(struct tensor *t, const char *name, int rank, int64_t d0, int64_t d1,
		 uint64_t (*lenf)(uint64_t k, uint64_t *rng), uint64_t seed)
{
	memset(t, 0, sizeof(*t));
	t->name = name;
	t->rank = rank;
	t->dims[0] = d0;
	t->dims[1] = d1;
	t->n = rank == 0 ? 1 : (uint64_t)d0 * (uint64_t)(rank == 2 ? d1 : 1);
	t->len = malloc((t->n + 1) * sizeof(uint64_t));
	t->at = malloc((t->n + 1) * sizeof(uint64_t));
	ck_assert(t->len && t->at);
	uint64_t rng = seed, total = 0;
	for (uint64_t k = 0; k < t->n; k++) {
		t->len[k] = lenf(k, &rng);
		t->at[k] = total;
		total += t->len[k];
	}
	t->bytes = malloc(total + 1);
	ck_assert_ptr_nonnull(t->bytes);
	for (uint64_t k = 0; k < total; k++)
		t->bytes[k] = (uint8_t)next_rand(&rng);
}

static void unmake(struct tensor *t)
{
	free(t->len);
	free(t->at);
	free(t->bytes);
}

static uint64_t longest(const struct tensor *t)
{
	uint64_t m = 1;
	for (uint64_t k = 0; k < t->n; k++)
		if (t->len[k] > m)
			m = t->len[k];
	return m;
}

/* The expected bytes of t's data (after any npy header). */
static uint8_t *layout(const struct tensor *t, int npy, uint64_t *size)
{
	uint64_t w = longest(t), s = 0;
	for (uint64_t k = 0; k < t->n; k++)
		s += npy ? w : (t->rank ? 8 : 0) + t->len[k];
	uint8_t *b = calloc(s + 1, 1);
	ck_assert_ptr_nonnull(b);
	uint64_t p = 0;
	for (uint64_t k = 0; k < t->n; k++) {
		if (!npy && t->rank) {
			for (int j = 0; j < 8; j++)
				b[p + (uint64_t)j] = (uint8_t)(t->len[k] >> (8 * j));
			p += 8;
		}
		memcpy(b + p, t->bytes + t->at[k], t->len[k]);
		p += npy ? w : t->len[k];
	}
	*size = s;
	return b;
}

/* Write the tensors (in this order, which must be by name) as one
 * checkpoint at tu_dir/name. */
static const char *write_ckpt(const char *name, struct tensor *ts, size_t nt)
{
	const char *prefix = tu_path(tu_dir, name);
	ckpt_writer *w;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_msg(ckpt_writer_open(&w, prefix, &err) == 0, "%s", err.msg);
	for (size_t i = 0; i < nt; i++) {
		const struct tensor *t = &ts[i];
		const char **s = malloc((t->n + 1) * sizeof(*s));
		ck_assert_ptr_nonnull(s);
		for (uint64_t k = 0; k < t->n; k++)
			s[k] = (const char *)t->bytes + t->at[k];
		ck_assert_msg(
		    ckpt_writer_add_strings(w, t->name, t->rank, t->dims, s, t->len, &err) == 0,
		    "%s", err.msg);
		free(s);
	}
	ck_assert_msg(ckpt_writer_finish(w, &err) == 0, "%s", err.msg);
	ckpt_writer_close(w);
	return prefix;
}

struct fx {
	ckpt_reader *r;
	ckpt_tensor *t;
	ckpt_plan *plan;
	ckpt_view *v;
};

/* Open prefix, map every tensor to itself, build the view; returns the
 * build's status (err filled) and leaves f open either way. */
static int open_fx(struct fx *f, const char *prefix, const char *fmt, ckpt_error *err)
{
	memset(f, 0, sizeof(*f));
	ck_assert_msg(ckpt_reader_open(&f->r, prefix, err) == 0, "%s", err->msg);
	size_t n = ckpt_reader_count(f->r);
	f->t = malloc((n ? n : 1) * sizeof(*f->t));
	for (size_t i = 0; i < n; i++)
		f->t[i] = *ckpt_reader_tensor(f->r, i);
	ckpt_resolve_opts o = CKPT_RESOLVE_OPTS_INIT;
	o.ckpt_path = prefix;
	ck_assert_msg(ckpt_resolve(&o, f->t, n, &f->plan, err) == 0, "%s", err->msg);
	return ckpt_view_build_format(&f->v, f->r, f->plan, fmt, err);
}

static void close_fx(struct fx *f)
{
	ckpt_view_free(f->v);
	ckpt_plan_free(f->plan);
	free(f->t);
	ckpt_reader_close(f->r);
}

static uint32_t file_of(const struct fx *f, const char *name, int npy)
{
	char path[256];
	snprintf(path, sizeof(path), "%s%s", name, npy ? ".npy" : "");
	uint32_t id = ckpt_view_resolve_path(f->v, path);
	ck_assert_msg(id != CKPT_VIEW_NONE, "no file %s", path);
	return id;
}

static uint64_t stored_size(const struct fx *f, const char *name)
{
	size_t i;
	ck_assert_int_eq(ckpt_reader_find(f->r, name, &i), 0);
	return ckpt_reader_piece(f->r, i, 0)->size;
}

/* Bytes this process has read from files so far (Linux task I/O
 * accounting: every read/pread counts). */
static uint64_t bytes_read(void)
{
	FILE *p = fopen("/proc/self/io", "r");
	ck_assert_msg(p != NULL, "/proc/self/io is needed to count the bytes read");
	char line[128];
	uint64_t v = 0;
	int found = 0;
	while (fgets(line, sizeof(line), p))
		if (sscanf(line, "rchar: %" SCNu64, &v) == 1)
			found = 1;
	fclose(p);
	ck_assert_msg(found, "/proc/self/io has no rchar line");
	return v;
}

/* The whole file of node id (header included) as the view serves it,
 * read in `chunk` requests; checks every byte after `skip` against want. */
static void read_in_chunks(const struct fx *f, uint32_t id, size_t chunk, const uint8_t *want,
			   uint64_t skip, const char *what)
{
	uint64_t size = ckpt_view_node(f->v, id)->size;
	uint8_t *buf = malloc(chunk);
	ck_assert_ptr_nonnull(buf);
	for (uint64_t off = 0; off < size;) {
		size_t got = 0;
		ckpt_error err = CKPT_ERROR_INIT;
		ck_assert_msg(ckpt_view_read(f->v, id, off, buf, chunk, &got, &err) == 0,
			      "%s at %" PRIu64 ": %s", what, off, err.msg);
		ck_assert_uint_eq(got, size - off < chunk ? size - off : chunk);
		for (size_t k = 0; k < got; k++)
			if (off + k >= skip && buf[k] != want[off + k - skip])
				ck_abort_msg("%s: byte %" PRIu64 " is %02x, want %02x", what,
					     off + k, buf[k], want[off + k - skip]);
		off += got;
	}
	free(buf);
}

/* The npy header of node id: its length (file size minus the data) and
 * the descr it must name. */
static uint64_t npy_header(const struct fx *f, uint32_t id, const struct tensor *t,
			   uint64_t data_size)
{
	uint64_t size = ckpt_view_node(f->v, id)->size;
	ck_assert_uint_ge(size, data_size + 64);
	uint64_t h = size - data_size;
	char *hdr = calloc(h + 1, 1);
	size_t got;
	ck_assert_int_eq(ckpt_view_read(f->v, id, 0, hdr, h, &got, NULL), 0);
	ck_assert_uint_eq(got, h);
	char descr[64];
	snprintf(descr, sizeof(descr), "'descr': '|S%" PRIu64 "'", longest(t));
	ck_assert_msg(memcmp(hdr, "\x93NUMPY", 6) == 0 && strstr(hdr + 10, descr), "%s", hdr + 10);
	free(hdr);
	return h;
}

/* ---- a sequential read is linear ---- */

static uint64_t short_len(uint64_t k, uint64_t *rng)
{
	(void)k;
	return next_rand(rng) % 17;
}

/*
 * 1.5 million short strings (12.7 MB stored): building the view reads only
 * the lengths, and reading the whole raw (25 MB) or npy (24 MB) file in
 * 128 KiB requests reads less than 3x the stored bytes. (Before: every
 * request re-read all 12.7 MB, about 200x in all.)
 */
START_TEST(test_sequential_read_is_linear)
{
	struct tensor t;
	make(&t, "vocab", 1, 1500000, 0, short_len, 11);
	const char *ck = write_ckpt("lin", &t, 1);
	for (int npy = 0; npy < 2; npy++) {
		struct fx f;
		ckpt_error err = CKPT_ERROR_INIT;
		uint64_t before = bytes_read();
		ck_assert_msg(open_fx(&f, ck, npy ? "npy" : "raw", &err) == 0, "%s", err.msg);
		uint64_t build = bytes_read() - before;
		uint64_t stored = stored_size(&f, "vocab");
		ck_assert_msg(build < stored / 2,
			      "building the view read %" PRIu64 " bytes of a %" PRIu64
			      "-byte string tensor",
			      build, stored);
		uint64_t size;
		uint8_t *want = layout(&t, npy, &size);
		uint32_t id = file_of(&f, "vocab", npy);
		uint64_t skip = npy ? npy_header(&f, id, &t, size) : 0;
		ck_assert_uint_eq(ckpt_view_node(f.v, id)->size, size + skip);
		before = bytes_read();
		read_in_chunks(&f, id, READ_CHUNK, want, skip, npy ? "npy" : "raw");
		uint64_t spent = bytes_read() - before;
		ck_assert_msg(spent < 3 * stored,
			      "%s: reading %" PRIu64 " bytes in 128 KiB requests read %" PRIu64
			      " bytes of a %" PRIu64 "-byte tensor",
			      npy ? "npy" : "raw", size + skip, spent, stored);
		ck_assert_int_eq(ckpt_view_verify(f.v, id, &err), 0);
		free(want);
		close_fx(&f);
	}
	unmake(&t);
}
END_TEST

/* ---- byte-exact ranges ---- */

static uint64_t mixed_len(uint64_t k, uint64_t *rng)
{
	if (k == 17)
		return 300 << 10; /* spans several 128 KiB requests */
	if (k == 2500)
		return (1 << 20) + 3;
	uint64_t r = next_rand(rng) % 8;
	return r < 3 ? 0 : r < 7 ? r * 3 : next_rand(rng) % 5000;
}

static uint64_t zero_len(uint64_t k, uint64_t *rng)
{
	(void)k;
	(void)rng;
	return 0;
}

static uint64_t long_len(uint64_t k, uint64_t *rng)
{
	(void)k;
	(void)rng;
	return 1000;
}

static uint64_t huge3_len(uint64_t k, uint64_t *rng)
{
	(void)rng;
	return k == 0 ? 0 : k == 1 ? (1 << 20) + 3 : 5;
}

static uint64_t empty_scalar_len(uint64_t k, uint64_t *rng)
{
	(void)k;
	(void)rng;
	return 0;
}

/* The file of t equals want: read whole, in chunks of several sizes, and
 * in `tries` random ranges (unaligned, past the end, huge and tiny). */
static void check_ranges(const struct fx *f, const struct tensor *t, int npy, uint64_t seed,
			 int tries)
{
	uint64_t dsize;
	uint8_t *data = layout(t, npy, &dsize);
	uint32_t id = file_of(f, t->name, npy);
	uint64_t skip = npy ? npy_header(f, id, t, dsize) : 0, size = dsize + skip;
	ck_assert_msg(ckpt_view_node(f->v, id)->size == size, "%s: size %" PRIu64 ", want %" PRIu64,
		      t->name, ckpt_view_node(f->v, id)->size, size);
	uint8_t *want = malloc(size + 1);
	ck_assert_int_eq(ckpt_view_read(f->v, id, 0, want, skip, &(size_t){0}, NULL), 0);
	memcpy(want + skip, data, dsize);
	free(data);
	static const size_t chunks[] = {1, 7, 4096, READ_CHUNK, 1000003};
	for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++)
		if (size / chunks[c] < 200000) /* byte by byte only for small files */
			read_in_chunks(f, id, chunks[c], want + skip, skip, t->name);
	uint8_t *buf = malloc(size + 4096);
	uint64_t s = seed;
	for (int k = 0; k < tries; k++) {
		uint64_t off = next_rand(&s) % (size + 8), len;
		switch (next_rand(&s) % 4) {
		case 0: len = next_rand(&s) % 67; break;
		case 1: len = next_rand(&s) % (300 << 10); break;
		case 2: len = next_rand(&s) % (size + 4096); break;
		default: len = 1 + next_rand(&s) % 20; break;
		}
		if (len > size + 4096)
			len = size + 4096;
		size_t got = 0;
		ckpt_error err = CKPT_ERROR_INIT;
		ck_assert_msg(ckpt_view_read(f->v, id, off, buf, (size_t)len, &got, &err) == 0,
			      "%s: %s", t->name, err.msg);
		uint64_t exp = off >= size ? 0 : size - off < len ? size - off : len;
		ck_assert_msg(got == exp, "%s: read %" PRIu64 "+%" PRIu64 " got %zu", t->name, off,
			      len, got);
		ck_assert_msg(got == 0 || memcmp(buf, want + off, got) == 0,
			      "%s: bytes %" PRIu64 "+%" PRIu64 " differ", t->name, off, len);
	}
	free(buf);
	free(want);
}

/*
 * Scalars (one long, one empty), elements of length 0, a 300 KiB and a
 * 1 MiB element among short ones, a matrix, an empty tensor, 100,000 empty
 * strings, 1.1 million short strings (past the sparse index's
 * 16384 marks of 64 elements: a wider step), 3000 of 1000 bytes, and a
 * 1 MiB element between an empty and a short one: raw and npy, byte-exact.
 */
START_TEST(test_ranges_exact)
{
	struct tensor ts[9];
	make(&ts[0], "a_scalar", 0, 0, 0, long_len, 1);
	make(&ts[1], "a_scalar_empty", 0, 0, 0, empty_scalar_len, 2);
	make(&ts[2], "b_mixed", 1, 5000, 0, mixed_len, 3);
	make(&ts[3], "c_matrix", 2, 300, 7, short_len, 4);
	make(&ts[4], "d_empty", 1, 0, 0, short_len, 5);
	make(&ts[5], "e_zeros", 1, 100000, 0, zero_len, 6);
	make(&ts[6], "f_wide", 2, 1100, 1000, short_len, 7);
	make(&ts[7], "g_long", 1, 3000, 0, long_len, 8);
	make(&ts[8], "h_huge", 1, 3, 0, huge3_len, 9);
	const char *ck = write_ckpt("mix", ts, 9);
	for (int npy = 0; npy < 2; npy++) {
		struct fx f;
		ckpt_error err = CKPT_ERROR_INIT;
		ck_assert_msg(open_fx(&f, ck, npy ? "npy" : "raw", &err) == 0, "%s", err.msg);
		for (size_t i = 0; i < 9; i++) {
			if (npy && i == 2) /* 5000 elements as wide as 1 MiB: 5 GB */
				continue;
			check_ranges(&f, &ts[i], npy, 100 + i, i == 6 ? 60 : 300);
			ck_assert_int_eq(ckpt_view_verify(f.v, file_of(&f, ts[i].name, npy), &err),
					 0);
		}
		close_fx(&f);
	}
	for (size_t i = 0; i < 9; i++)
		unmake(&ts[i]);
}
END_TEST

/* The TF format's data file holds the strings in TF's stored encoding: for
 * a checkpoint written in name order it is the source shard, byte for byte. */
START_TEST(test_tf_data_is_source_shard)
{
	struct tensor ts[3];
	make(&ts[0], "a", 1, 5000, 0, mixed_len, 21);
	make(&ts[1], "b", 0, 0, 0, long_len, 22);
	make(&ts[2], "c", 2, 40, 50, short_len, 23);
	const char *ck = write_ckpt("tf", ts, 3);
	char shard[4096];
	snprintf(shard, sizeof(shard), "%s.data-00000-of-00001", ck);
	size_t n;
	uint8_t *want = tu_read(shard, &n);
	struct fx f;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_msg(open_fx(&f, ck, "tf", &err) == 0, "%s", err.msg);
	uint32_t id = ckpt_view_resolve_path(f.v, CKPT_VIEW_TF_DATA);
	ck_assert_uint_eq(ckpt_view_node(f.v, id)->size, n);
	read_in_chunks(&f, id, READ_CHUNK, want, 0, "tf data");
	read_in_chunks(&f, id, 999, want, 0, "tf data");
	uint8_t *buf = malloc(n + 64);
	uint64_t s = 5;
	for (int k = 0; k < 500; k++) {
		uint64_t off = next_rand(&s) % (n + 1),
			 len = next_rand(&s) % (k % 2 ? 100 : n + 64);
		size_t got;
		ck_assert_int_eq(ckpt_view_read(f.v, id, off, buf, (size_t)len, &got, &err), 0);
		ck_assert_uint_eq(got, n - off < len ? n - off : len);
		ck_assert(got == 0 || memcmp(buf, want + off, got) == 0);
	}
	free(buf);
	free(want);
	close_fx(&f);
	for (size_t i = 0; i < 3; i++)
		unmake(&ts[i]);
}
END_TEST

/* ---- hostile bytes ---- */

/* xor byte off of path with x, in place (the reader's open fd sees it). */
static void poke(const char *path, uint64_t off, uint8_t x)
{
	int fd = open(path, O_RDWR);
	ck_assert_int_ge(fd, 0);
	uint8_t b;
	ck_assert_int_eq(pread(fd, &b, 1, (off_t)off), 1);
	b ^= x;
	ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

/* Read the whole raw file of "s" in 64-byte requests; the first failure's
 * status, or 0 when every request succeeded. */
static int read_all(const struct fx *f, ckpt_error *err)
{
	uint32_t id = file_of(f, "s", 0);
	uint64_t size = ckpt_view_node(f->v, id)->size;
	uint8_t buf[64];
	for (uint64_t off = 0; off < size; off += sizeof(buf)) {
		size_t got;
		int rc = ckpt_view_read(f->v, id, off, buf, sizeof(buf), &got, err);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Every byte of the lengths and their checksum flipped under a built view
 * (the lengths are parsed on the first read): the read fails with
 * CKPT_ECHECKSUM or CKPT_ECORRUPT, never serves bytes, never crashes. The
 * same flip before building fails the build. A flipped string byte is
 * served (no checksum on a range read) but fails ckpt_view_verify; a shard
 * cut short fails the read.
 */
START_TEST(test_hostile_lengths)
{
	struct tensor t;
	make(&t, "s", 1, 200, 0, short_len, 31);
	const char *ck = write_ckpt("bad", &t, 1);
	char shard[4096];
	snprintf(shard, sizeof(shard), "%s.data-00000-of-00001", ck);
	uint64_t lens_end = 4;
	for (uint64_t k = 0; k < t.n; k++)
		lens_end += 1 + (t.len[k] >= 128);
	for (uint64_t b = 0; b < lens_end; b++) {
		struct fx f;
		ckpt_error err = CKPT_ERROR_INIT;
		ck_assert_msg(open_fx(&f, ck, "raw", &err) == 0, "%s", err.msg);
		poke(shard, b, 0x40);
		int rc = read_all(&f, &err);
		ck_assert_msg(rc == CKPT_ECHECKSUM || rc == CKPT_ECORRUPT,
			      "flip at %" PRIu64 ": read status %d (%s)", b, rc, err.msg);
		ck_assert_msg(strstr(err.msg, "tensor s"), "%s", err.msg);
		ck_assert_int_ne(ckpt_view_verify(f.v, file_of(&f, "s", 0), &err), 0);
		close_fx(&f);
		if (b % 50 == 3 || b == lens_end - 1) {
			ck_assert_int_ne(open_fx(&f, ck, "raw", &err), 0);
			close_fx(&f);
		}
		poke(shard, b, 0x40);
	}
	/* the checksum itself: TF's message */
	struct fx f;
	ckpt_error err = CKPT_ERROR_INIT;
	poke(shard, lens_end - 2, 1);
	ck_assert_int_eq(open_fx(&f, ck, "npy", &err), CKPT_ECHECKSUM);
	ck_assert_msg(strstr(err.msg, "The length checksum does not match"), "%s", err.msg);
	close_fx(&f);
	poke(shard, lens_end - 2, 1);
	/* a string byte: served as stored, caught by verification */
	ck_assert_msg(open_fx(&f, ck, "raw", &err) == 0, "%s", err.msg);
	poke(shard, lens_end + 5, 0x40);
	ck_assert_int_eq(read_all(&f, &err), 0);
	ck_assert_int_eq(ckpt_view_verify(f.v, file_of(&f, "s", 0), &err), CKPT_ECHECKSUM);
	ck_assert_msg(strstr(err.msg, "Checksum does not match"), "%s", err.msg);
	close_fx(&f);
	poke(shard, lens_end + 5, 0x40);
	/* the shard cut short after the lengths were parsed */
	ck_assert_msg(open_fx(&f, ck, "raw", &err) == 0, "%s", err.msg);
	ck_assert_int_eq(read_all(&f, &err), 0);
	tu_truncate(shard, (long)lens_end + 10);
	ck_assert_int_ne(read_all(&f, &err), 0);
	close_fx(&f);
	unmake(&t);
}
END_TEST

/* ---- many threads, more tensors than the cache keeps ---- */

#define NT 40

struct shared {
	struct fx *f;
	struct tensor *ts;
	uint8_t **want;
	uint64_t *size;
	int seed;
	int bad; /* failures seen by this thread */
};

static void *reader_thread(void *arg)
{
	struct shared *sh = arg;
	uint64_t s = (uint64_t)sh->seed;
	uint8_t *buf = malloc(70000);
	for (int k = 0; k < 3000 && buf; k++) {
		size_t i = next_rand(&s) % NT;
		uint64_t size = sh->size[i];
		uint64_t off = next_rand(&s) % (size + 1), len = next_rand(&s) % 70000;
		size_t got;
		uint32_t id = ckpt_view_resolve_path(sh->f->v, sh->ts[i].name);
		if (ckpt_view_read(sh->f->v, id, off, buf, (size_t)len, &got, NULL) != 0 ||
		    got != (size - off < len ? size - off : len) ||
		    (got && memcmp(buf, sh->want[i] + off, got) != 0))
			sh->bad++;
	}
	free(buf);
	return NULL;
}

START_TEST(test_threads_and_eviction)
{
	struct tensor ts[NT];
	char names[NT][16];
	uint8_t *want[NT];
	uint64_t size[NT];
	for (int i = 0; i < NT; i++) {
		snprintf(names[i], sizeof(names[i]), "t%02d", i);
		make(&ts[i], names[i], 1, 1 + i * 997 % 6000, 0, i % 3 ? short_len : mixed_len,
		     (uint64_t)i);
		want[i] = layout(&ts[i], 0, &size[i]);
	}
	const char *ck = write_ckpt("many", ts, NT);
	struct fx f;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_msg(open_fx(&f, ck, "raw", &err) == 0, "%s", err.msg);
	pthread_t th[4];
	struct shared sh[4];
	for (int k = 0; k < 4; k++) {
		sh[k] = (struct shared){&f, ts, want, size, k + 1, 0};
		ck_assert_int_eq(pthread_create(&th[k], NULL, reader_thread, &sh[k]), 0);
	}
	int bad = 0;
	for (int k = 0; k < 4; k++) {
		pthread_join(th[k], NULL);
		bad += sh[k].bad;
	}
	ck_assert_int_eq(bad, 0);
	close_fx(&f);
	for (int i = 0; i < NT; i++) {
		free(want[i]);
		unmake(&ts[i]);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("strings");
	TCase *tc = tcase_create("strings");
	tcase_add_checked_fixture(tc, tu_tmpdir_setup, tu_tmpdir_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_sequential_read_is_linear);
	tcase_add_test(tc, test_ranges_exact);
	tcase_add_test(tc, test_tf_data_is_source_shard);
	tcase_add_test(tc, test_hostile_lengths);
	tcase_add_test(tc, test_threads_and_eviction);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
