/*
 * Axis permutation (--perm, "perm" in --targets): the range gather of a
 * permuted file. The box transposition against a naive index computation
 * for every permutation of rank 1..4 and every element size; byte ranges
 * of permuted files (whole, partitioned, re-typed, from a tensor saved in
 * slices) against the transposition of the known source values; and the
 * bytes and preads a range costs, counted by a store wrapped around the
 * POSIX one.
 */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/graph.h"
#include "ckpt/reader.h"
#include "ckpt/resolve.h"
#include "ckpt/store.h"
#include "ckpt/view.h"
#include "ckpt/writer.h"
#include "testutil.h"
#include "view/view_int.h"

/* ---- permutations ---- */

/* The k-th permutation (lexicographic) of 0..rank-1 into p. */
static void nth_perm(int rank, int k, int *p)
{
	int left[8];
	for (int i = 0; i < rank; i++)
		left[i] = i;
	int f = 1;
	for (int i = 2; i < rank; i++)
		f *= i;
	for (int i = 0, n = rank; i < rank; i++, n--) {
		int q = k / f;
		k %= f;
		p[i] = left[q];
		memmove(left + q, left + q + 1, (size_t)(n - q - 1) * sizeof(int));
		if (n > 1)
			f /= n - 1;
	}
}

static int factorial(int n)
{
	return n <= 1 ? 1 : n * factorial(n - 1);
}

/* Row-major linear index of multi-index idx in dims. */
static uint64_t linear(int rank, const int64_t *dims, const int64_t *idx)
{
	uint64_t x = 0;
	for (int d = 0; d < rank; d++)
		x = x * (uint64_t)dims[d] + (uint64_t)idx[d];
	return x;
}

/* Advance a row-major multi-index; 0 when it wrapped around. */
static int next_index(int rank, const int64_t *dims, int64_t *idx)
{
	for (int d = rank - 1; d >= 0; d--) {
		if (++idx[d] < dims[d])
			return 1;
		idx[d] = 0;
	}
	return 0;
}

START_TEST(test_permute_copy_naive)
{
	static const size_t sizes[] = {1, 2, 4, 8, 16, 3};
	unsigned seed = 11;
	for (int rank = 1; rank <= 4; rank++) {
		for (int k = 0; k < factorial(rank); k++) {
			int p[4];
			nth_perm(rank, k, p);
			for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
				size_t es = sizes[si];
				int64_t tlen[4], slen[4];
				uint64_t n = 1;
				for (int d = 0; d < rank; d++) {
					seed = seed * 1103515245u + 12345u;
					tlen[d] =
					    1 + (int64_t)((seed >> 16) % (rank <= 2 ? 40 : 5));
					slen[p[d]] = tlen[d];
					n *= (uint64_t)tlen[d];
				}
				uint8_t *src = malloc(n * es), *dst = malloc(n * es);
				for (uint64_t i = 0; i < n * es; i++)
					src[i] = (uint8_t)(i * 7 + i / es);
				ckpt__view_permute_copy(dst, src, rank, tlen, p, es);
				int64_t t[4] = {0}, s[4];
				uint64_t at = 0;
				do {
					for (int d = 0; d < rank; d++)
						s[p[d]] = t[d];
					uint64_t from = linear(rank, slen, s);
					ck_assert_msg(memcmp(dst + at * es, src + from * es, es) ==
							  0,
						      "rank %d perm %d es %zu at %llu", rank, k, es,
						      (unsigned long long)at);
					at++;
				} while (next_index(rank, tlen, t));
				ck_assert_uint_eq(at, n);
				free(src);
				free(dst);
			}
		}
	}
}
END_TEST

/* ---- a store that counts what is read ---- */

struct cstore {
	ckpt_store base;
	ckpt_store *inner;
	_Atomic uint64_t preads, bytes;
};

struct cobj {
	ckpt_object base;
	ckpt_object *inner;
};

static int c_stat(ckpt_store *s, const char *name, ckpt_stat *st, ckpt_error *err)
{
	return ckpt_store_stat(((struct cstore *)s)->inner, name, st, err);
}

static int c_open(ckpt_store *s, const char *name, ckpt_object **out, ckpt_error *err)
{
	struct cobj *o = calloc(1, sizeof(*o));
	int rc = o ? ckpt_store_open(((struct cstore *)s)->inner, name, &o->inner, err) : -1;
	if (rc) {
		free(o);
		return rc;
	}
	o->base.store = s;
	o->base.name = ckpt_object_name(o->inner);
	o->base.st = *ckpt_object_stat(o->inner);
	*out = &o->base;
	return 0;
}

static int c_pread(ckpt_object *o, void *buf, size_t len, uint64_t off, ckpt_error *err)
{
	struct cstore *s = (struct cstore *)o->store;
	atomic_fetch_add(&s->preads, 1);
	atomic_fetch_add(&s->bytes, len);
	return ckpt_object_pread(((struct cobj *)o)->inner, buf, len, off, err);
}

static void c_close(ckpt_object *o)
{
	ckpt_object_close(((struct cobj *)o)->inner);
	free(o);
}

static int c_list(ckpt_store *s, const char *pattern, char ***names, size_t *n, ckpt_error *err)
{
	return ckpt_store_list(((struct cstore *)s)->inner, pattern, names, n, err);
}

static void c_destroy(ckpt_store *s)
{
	ckpt_store_free(((struct cstore *)s)->inner);
	free(s);
}

static const struct ckpt_store_ops c_ops = {
    .stat = c_stat,
    .open = c_open,
    .pread = c_pread,
    .close = c_close,
    .list = c_list,
    .destroy = c_destroy,
};

/* ---- the checkpoint: float32 tensors whose element i is i ---- */

#define N_SRC 6
static const struct src {
	const char *name;
	int rank;
	int64_t dims[4];
	int slices; /* saved as this many column slices (0: whole) */
} srcs[N_SRC] = {
    {"r4", 4, {3, 4, 5, 6}, 0},	   {"r3", 3, {5, 2, 7}, 0},
    {"sl", 2, {10, 6}, 3},	   {"wide", 2, {256, 4096}, 0}, /* rows of 16 KiB: no two merge */
    {"narrow", 2, {4096, 256}, 0},				/* rows of 1 KiB: spans of rows */
    {"seq", 2, {1024, 2560}, 0}, /* 10 MiB: two blocks for sequential readers */
};

static uint64_t nelem(const struct src *s)
{
	uint64_t n = 1;
	for (int d = 0; d < s->rank; d++)
		n *= (uint64_t)s->dims[d];
	return n;
}

static void write_ckpt(const char *prefix)
{
	ckpt_writer *w;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt_writer_open(&w, prefix, &err), 0);
	for (int k = 0; k < N_SRC; k++) {
		const struct src *s = &srcs[k];
		uint64_t n = nelem(s);
		float *v = malloc(n * sizeof(float));
		for (uint64_t i = 0; i < n; i++)
			v[i] = (float)i;
		if (s->slices == 0) {
			ck_assert_int_eq(ckpt_writer_add(w, s->name, CKPT_DT_FLOAT, s->rank,
							 s->dims, v, n * sizeof(float), &err),
					 0);
		} else {
			int64_t cols = s->dims[1] / s->slices;
			float *part = malloc((size_t)(s->dims[0] * cols) * sizeof(float));
			for (int j = 0; j < s->slices; j++) {
				for (int64_t r = 0; r < s->dims[0]; r++)
					for (int64_t c = 0; c < cols; c++)
						part[r * cols + c] =
						    v[r * s->dims[1] + j * cols + c];
				int64_t st[2] = {0, j * cols}, ln[2] = {s->dims[0], cols};
				ck_assert_int_eq(
				    ckpt_writer_add_slice(
					w, s->name, CKPT_DT_FLOAT, 2, s->dims, st, ln, part,
					(size_t)(s->dims[0] * cols) * sizeof(float), &err),
				    0);
			}
			free(part);
		}
		free(v);
	}
	ck_assert_int_eq(ckpt_writer_finish(w, &err), 0);
	ckpt_writer_close(w);
}

struct fx {
	char *dir;
	struct cstore *store;
	ckpt_reader *r;
	ckpt_tensor *t;
	size_t nt;
};

static void fx_open(struct fx *f)
{
	ckpt_error err = CKPT_ERROR_INIT;
	f->dir = tu_tmpdir();
	write_ckpt(tu_path(f->dir, "p"));
	f->store = calloc(1, sizeof(*f->store));
	f->store->base.ops = &c_ops;
	ck_assert_int_eq(ckpt_store_posix_new(&f->store->inner, 0, &err), 0);
	ck_assert_msg(ckpt_reader_open_store(&f->r, &f->store->base, tu_path(f->dir, "p"), &err) ==
			  0,
		      "%s", err.msg);
	f->nt = ckpt_reader_count(f->r);
	f->t = malloc(f->nt * sizeof(*f->t));
	for (size_t i = 0; i < f->nt; i++)
		f->t[i] = *ckpt_reader_tensor(f->r, i);
}

static void fx_close(struct fx *f)
{
	free(f->t);
	ckpt_reader_close(f->r);
	ckpt_store_free(&f->store->base);
	tu_rmtree(f->dir);
	free(f->dir);
}

/* Resolve the one-entry map src -> target tv->name over tensors t[0..n). */
static int resolve_one(const ckpt_tensor *t, size_t n, const char *src, const ckpt_target_var *tv,
		       ckpt_plan **plan, ckpt_error *err)
{
	ckpt_map_entry e = {(char *)src, tv->name, NULL, 0};
	ckpt_resolve_opts o = CKPT_RESOLVE_OPTS_INIT;
	o.entries = &e;
	o.n_entries = 1;
	o.targets = tv;
	o.n_targets = 1;
	o.ckpt_path = "c";
	return ckpt_resolve(&o, t, n, plan, err);
}

/* Resolve target `name` <- source s (perm p, partitions parts or NULL,
 * dtype dt) and build a raw view. */
static void plan_one(struct fx *f, const struct src *s, const int *p, int64_t *parts, ckpt_dtype dt,
		     ckpt_plan **plan, ckpt_view **v)
{
	ckpt_error err = CKPT_ERROR_INIT;
	int64_t dims[4];
	for (int d = 0; d < s->rank; d++)
		dims[d] = s->dims[p[d]];
	ckpt_target_var tv = {(char *)"t", dt, s->rank, dims, parts, (int *)p};
	ck_assert_msg(resolve_one(f->t, f->nt, s->name, &tv, plan, &err) == 0, "%s", err.msg);
	ck_assert_msg(ckpt_view_build(v, f->r, *plan, &err) == 0, "%s", err.msg);
}

/* The expected float32 value of element `at` of plan file pf (the source's
 * element i is i). */
static float expect_at(const ckpt_plan_file *pf, const struct src *s, uint64_t at)
{
	int64_t t[4], sidx[4];
	for (int d = pf->rank - 1; d >= 0; d--) {
		t[d] = (int64_t)(at % (uint64_t)pf->shape[d]);
		at /= (uint64_t)pf->shape[d];
	}
	for (int d = 0; d < pf->rank; d++) {
		int a = pf->perm ? pf->perm[d] : d;
		sidx[a] = pf->var_start[d] + t[d];
	}
	return (float)linear(s->rank, s->dims, sidx);
}

/* Random ranges of every file of the view equal the expected bytes. */
static void check_ranges(const ckpt_view *v, const ckpt_plan *plan, const struct src *s,
			 unsigned *seed, int rounds)
{
	for (size_t i = 0; i < plan->n_files; i++) {
		const ckpt_plan_file *pf = &plan->files[i];
		uint32_t id = ckpt_view_resolve_path(v, pf->path);
		ck_assert_uint_ne(id, CKPT_VIEW_NONE);
		size_t es = ckpt_dtype_size(pf->dtype);
		uint64_t size = ckpt_view_node(v, id)->size;
		ck_assert_uint_eq(size, pf->num_elements * es);
		uint8_t *want = malloc(size), *got = malloc(size);
		for (uint64_t k = 0; k < pf->num_elements; k++) {
			float x = expect_at(pf, s, k);
			if (pf->dtype == CKPT_DT_DOUBLE) {
				double y = x;
				memcpy(want + k * 8, &y, 8);
			} else {
				memcpy(want + k * 4, &x, 4);
			}
		}
		for (int r = 0; r <= rounds; r++) {
			*seed = *seed * 1103515245u + 12345u;
			uint64_t off = r == 0 ? 0 : (*seed >> 4) % size;
			*seed = *seed * 1103515245u + 12345u;
			size_t len = r == 0 ? (size_t)size : 1 + (size_t)((*seed >> 4) % 9000);
			size_t n = 0;
			ckpt_error err = CKPT_ERROR_INIT;
			ck_assert_msg(ckpt_view_read(v, id, off, got, len, &n, &err) == 0, "%s",
				      err.msg);
			size_t expect = off + len > size ? (size_t)(size - off) : len;
			ck_assert_uint_eq(n, expect);
			ck_assert_msg(memcmp(got, want + off, n) == 0, "%s %s [%llu, +%zu)",
				      s->name, pf->path, (unsigned long long)off, n);
		}
		free(want);
		free(got);
	}
}

START_TEST(test_every_perm_ranges)
{
	struct fx f;
	fx_open(&f);
	unsigned seed = 5;
	for (int k = 0; k < 3; k++) { /* r4, r3, sl */
		const struct src *s = &srcs[k];
		for (int q = 0; q < factorial(s->rank); q++) {
			int p[4];
			nth_perm(s->rank, q, p);
			for (int variant = 0; variant < 3; variant++) {
				/* whole; parts along the last axis; re-typed, parts along
				 * axis 0 */
				int64_t parts[4] = {1, 1, 1, 1};
				int64_t *pp = NULL;
				if (variant == 1) {
					parts[s->rank - 1] = 2; /* every dim here is >= 2 */
					pp = parts;
				} else if (variant == 2) {
					parts[0] = s->dims[p[0]] < 3 ? 2 : 3;
					pp = parts;
				}
				ckpt_plan *plan;
				ckpt_view *v;
				plan_one(&f, s, p, pp,
					 variant == 2 ? CKPT_DT_DOUBLE : CKPT_DT_FLOAT, &plan, &v);
				ck_assert_uint_eq(plan->n_files,
						  variant == 0 ? 1
							       : (size_t)(pp[0] > 1 ? pp[0] : 2));
				ck_assert(q == 0 ? plan->files[0].perm == NULL
						 : plan->files[0].perm != NULL);
				check_ranges(v, plan, s, &seed, 12);
				ckpt_view_free(v);
				ckpt_plan_free(plan);
			}
		}
	}
	fx_close(&f);
}
END_TEST

/* 4 KiB of a transposed tensor reads its own elements (long rows) or
 * bounded spans of rows (short rows), never the tensor. */
START_TEST(test_bounded_reads)
{
	struct fx f;
	fx_open(&f);
	static const int p10[2] = {1, 0};
	unsigned seed = 9;
	for (int k = 3; k < 5; k++) {
		const struct src *s = &srcs[k];
		ckpt_plan *plan;
		ckpt_view *v;
		plan_one(&f, s, p10, NULL, CKPT_DT_FLOAT, &plan, &v);
		uint32_t id = ckpt_view_resolve_path(v, "t");
		uint8_t buf[4096];
		float want[1024];
		for (int r = 0; r < 8; r++) {
			seed = seed * 1103515245u + 12345u;
			uint64_t off = ((seed >> 4) % (nelem(s) - 1024)) * 4;
			atomic_store(&f.store->preads, 0);
			atomic_store(&f.store->bytes, 0);
			size_t got;
			ck_assert_int_eq(ckpt_view_read(v, id, off, buf, sizeof(buf), &got, NULL),
					 0);
			ck_assert_uint_eq(got, sizeof(buf));
			for (int i = 0; i < 1024; i++)
				want[i] = expect_at(&plan->files[0], s, off / 4 + (uint64_t)i);
			ck_assert(memcmp(buf, want, sizeof(buf)) == 0);
			uint64_t preads = atomic_load(&f.store->preads);
			uint64_t bytes = atomic_load(&f.store->bytes);
			if (k == 3) {
				/* [256, 4096] -> [4096, 256]: 4 target rows = 4 source
				 * columns; each source row gives 16 bytes or less,
				 * 16 KiB apart: exactly the range's bytes */
				ck_assert_uint_eq(bytes, 4096);
				ck_assert_uint_le(preads, 2 * 256);
			} else {
				/* [4096, 256] -> [256, 4096]: up to 1024 source rows
				 * 1 KiB apart: spans of 256 KiB, at most 5 */
				ck_assert_uint_le(preads, 5);
				ck_assert_uint_le(bytes, 5 * 256 * 1024);
			}
		}
		ckpt_view_free(v);
		ckpt_plan_free(plan);
	}
	fx_close(&f);
}
END_TEST

/* Sequential reads of a permuted file are served from blocks of it made
 * once: the whole file costs about its own size in reads, a range read
 * again costs nothing. */
START_TEST(test_sequential_blocks)
{
	struct fx f;
	fx_open(&f);
	static const int p10[2] = {1, 0};
	const struct src *s = &srcs[5];
	ckpt_plan *plan;
	ckpt_view *v;
	plan_one(&f, s, p10, NULL, CKPT_DT_FLOAT, &plan, &v);
	uint32_t id = ckpt_view_resolve_path(v, "t");
	uint64_t size = nelem(s) * 4;
	const size_t chunk = 64 * 1024;
	uint8_t *buf = malloc(chunk);
	float *want = malloc(chunk);
	atomic_store(&f.store->bytes, 0);
	for (uint64_t off = 0; off < size; off += chunk) {
		size_t got;
		ck_assert_int_eq(ckpt_view_read(v, id, off, buf, chunk, &got, NULL), 0);
		ck_assert_uint_eq(got, chunk);
		for (size_t i = 0; i < chunk / 4; i++)
			want[i] = expect_at(&plan->files[0], s, off / 4 + i);
		ck_assert_msg(memcmp(buf, want, chunk) == 0, "at %llu", (unsigned long long)off);
		if (off == chunk) {
			/* the second read made block 0 (8 MiB): reading the
			 * first again is a copy */
			uint64_t before = atomic_load(&f.store->preads);
			ck_assert_int_eq(ckpt_view_read(v, id, 0, buf, chunk, &got, NULL), 0);
			ck_assert_uint_eq(atomic_load(&f.store->preads), before);
		}
	}
	/* the first chunk, then each block once: block 0 is 2048 of the 2560
	 * columns, 8 KiB of each 10 KiB row, whose 2 KiB gaps are read too
	 * (merged spans, but not between two spans): at most 2 MiB more */
	ck_assert_uint_le(atomic_load(&f.store->bytes), chunk + size + 1024 * 2048);
	ck_assert_uint_ge(atomic_load(&f.store->bytes), chunk + size);
	free(buf);
	free(want);
	ckpt_view_free(v);
	ckpt_plan_free(plan);
	fx_close(&f);
}
END_TEST

/* The near-run merging keeps a plain column part exact too. */
START_TEST(test_column_part_unpermuted)
{
	struct fx f;
	fx_open(&f);
	static const int id2[2] = {0, 1};
	int64_t parts[2] = {1, 16};
	unsigned seed = 3;
	for (int k = 3; k < 5; k++) {
		ckpt_plan *plan;
		ckpt_view *v;
		plan_one(&f, &srcs[k], id2, parts, CKPT_DT_FLOAT, &plan, &v);
		ck_assert_ptr_null(plan->files[0].perm);
		check_ranges(v, plan, &srcs[k], &seed, 6);
		ckpt_view_free(v);
		ckpt_plan_free(plan);
	}
	fx_close(&f);
}
END_TEST

/* --perm rules: exact beats scope, a longer scope a shorter one; the
 * shape checks compare the permuted shape; bad rules are refused. */
START_TEST(test_rules)
{
	static const int64_t d23[] = {2, 3}, d234[] = {2, 3, 4}, d4[] = {4};
	static const ckpt_tensor ts[] = {
	    {"a/w", CKPT_DT_FLOAT, 2, d23, 6, 1, 0},
	    {"a/b/w", CKPT_DT_FLOAT, 2, d23, 6, 1, 0},
	    {"a/c", CKPT_DT_FLOAT, 3, d234, 24, 1, 0},
	    {"a/v", CKPT_DT_FLOAT, 1, d4, 4, 1, 0},
	};
	ckpt_perm_rule *rules = NULL;
	size_t nr = 0;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt_perm_parse_arg("a/=1,0", &rules, &nr, &err), 0);
	ck_assert_int_eq(ckpt_perm_parse_arg("a/b/=0:1", &rules, &nr, &err), 0);
	ck_assert_int_eq(ckpt_perm_parse_arg("a/c=2,0,1", &rules, &nr, &err), 0);
	ck_assert_int_eq(ckpt_perm_parse_arg("x/=1,0", &rules, &nr, &err), 0);
	static const char *const bad[] = {"a=1,1", "a=0,2", "a=1,",  "a=,1",
					  "=0",	   "a",	    "a=1 0", "a=99999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_int_eq(ckpt_perm_parse_arg(bad[i], &rules, &nr, &err), CKPT_EINVAL);
	ck_assert_uint_eq(nr, 4);
	ckpt_resolve_opts o = CKPT_RESOLVE_OPTS_INIT;
	o.as_is = 1;
	o.ckpt_path = "c";
	o.perms = rules;
	o.n_perms = nr;
	ckpt_plan *plan;
	ck_assert_msg(ckpt_resolve(&o, ts, 4, &plan, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(plan->n_files, 4);
	/* sorted by var: a/b/w (a/b/ wins: identity), a/c, a/v, a/w */
	ck_assert_str_eq(plan->files[0].var, "a/b/w");
	ck_assert_ptr_null(plan->files[0].perm);
	ck_assert_int_eq(plan->files[1].perm[0], 2);
	ck_assert_int_eq(plan->files[1].shape[0], 4);
	ck_assert_int_eq(plan->files[1].shape[2], 3);
	ck_assert_int_eq(plan->files[1].length[0], 2); /* the source box */
	ck_assert_ptr_null(plan->files[2].perm);       /* rank 1: no rank-2 scope */
	ck_assert_int_eq(plan->files[3].perm[0], 1);
	ck_assert_int_eq(plan->files[3].shape[0], 3);
	/* x/ matched nothing: a warning naming it */
	ck_assert_uint_eq(plan->n_warnings, 1);
	ck_assert_ptr_nonnull(strstr(plan->warnings[0], "--perm 'x/' matched no target"));
	char *text;
	ck_assert_int_eq(ckpt_plan_to_text(plan, &text, &err), 0);
	ck_assert_ptr_nonnull(
	    strstr(text, "a/w\tfloat32\t[3,2]\t24\t<-\ta/w\tfloat32\tperm=1,0\n"));
	ckpt_plan_string_free(text);
	ck_assert_int_eq(ckpt_plan_to_json(plan, 0, &text, &err), 0);
	ck_assert_ptr_nonnull(strstr(text, "\"size\":24,\"perm\":[1,0]}"));
	ck_assert_ptr_nonnull(strstr(text, "\"size\":16}"));
	ckpt_plan_string_free(text);
	ckpt_plan_free(plan);

	/* an exact name of another rank is refused */
	ckpt_perm_rule *r2 = NULL;
	size_t n2 = 0;
	ck_assert_int_eq(ckpt_perm_parse_arg("a/v=1,0", &r2, &n2, &err), 0);
	o.perms = r2;
	o.n_perms = n2;
	ck_assert_int_eq(ckpt_resolve(&o, ts, 4, &plan, &err), CKPT_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "has rank 1"));
	ckpt_perm_rules_free(r2, n2);

	/* explicit targets: the declared shape is the permuted one */
	int p10[2] = {1, 0};
	int64_t d32[2] = {3, 2};
	ckpt_target_var tv = {(char *)"n", CKPT_DT_FLOAT, 2, d32, NULL, p10};
	ck_assert_msg(resolve_one(ts, 4, "a/w", &tv, &plan, &err) == 0, "%s", err.msg);
	ckpt_plan_free(plan);
	tv.dims = (int64_t *)d23; /* the unpermuted shape no longer fits */
	ck_assert_int_eq(resolve_one(ts, 4, "a/w", &tv, &plan, &err), CKPT_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "doesn't match with shape of tensor a/w ([2, 3])"));
	ck_assert_ptr_nonnull(strstr(err.msg, "with perm [1, 0] the checkpoint tensor is [3, 2]"));

	/* a graph's target of unknown rank takes the permuted shape; a perm
	 * of another rank than the tensor's is refused */
	ckpt_target_var unk = {(char *)"n", CKPT_DT_FLOAT, -1, NULL, NULL, NULL};
	ckpt_perm_rule *r3 = NULL;
	size_t n3 = 0;
	ck_assert_int_eq(ckpt_perm_parse_arg("n=1,0", &r3, &n3, &err), 0);
	ckpt_map_entry e = {(char *)"a/w", (char *)"n", NULL, 0};
	ckpt_resolve_opts o3 = CKPT_RESOLVE_OPTS_INIT;
	o3.entries = &e;
	o3.n_entries = 1;
	o3.targets = &unk;
	o3.n_targets = 1;
	o3.ckpt_path = "c";
	o3.perms = r3;
	o3.n_perms = n3;
	ck_assert_msg(ckpt_resolve(&o3, ts, 4, &plan, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(plan->files[0].shape[0], 3);
	ck_assert_int_eq(plan->files[0].shape[1], 2);
	ck_assert_int_eq(plan->files[0].perm[0], 1);
	ckpt_plan_free(plan);
	e.ckpt = (char *)"a/c";
	ck_assert_int_eq(ckpt_resolve(&o3, ts, 4, &plan, &err), CKPT_EINVAL);
	ck_assert_ptr_nonnull(
	    strstr(err.msg, "its perm has 2 axes, checkpoint tensor a/c has rank 3"));
	ckpt_perm_rules_free(r3, n3);
	ckpt_perm_rules_free(rules, nr);
}
END_TEST

START_TEST(test_targets_json)
{
	char *dir = tu_tmpdir();
	const char *p = tu_path(dir, "t.json");
	ckpt_target_var *t;
	size_t n;
	ckpt_error err = CKPT_ERROR_INIT;
	static const char ok[] = "{\"variables\": [{\"name\": \"w\", \"dtype\": \"float32\", "
				 "\"shape\": [3, 2], \"perm\": [1, 0]}, {\"name\": \"b\", "
				 "\"dtype\": \"float32\", \"shape\": [3], \"perm\": null}]}";
	tu_write(p, ok, strlen(ok));
	ck_assert_msg(ckpt_targets_load_file(p, &t, &n, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(t[0].perm[0], 1);
	ck_assert_ptr_null(t[1].perm);
	char *json;
	ck_assert_int_eq(ckpt_targets_to_json(t, n, &json, &err), 0);
	ck_assert_ptr_nonnull(strstr(json, "\"perm\": [\n        1,\n        0\n      ]"));
	free(json);
	ckpt_targets_free(t, n);
	static const char *const bad[] = {
	    "[{\"name\": \"w\", \"dtype\": \"float32\", \"shape\": [3, 2], \"perm\": [1, 1]}]",
	    "[{\"name\": \"w\", \"dtype\": \"float32\", \"shape\": [3, 2], \"perm\": [0]}]",
	    "[{\"name\": \"w\", \"dtype\": \"float32\", \"shape\": [3, 2], \"perm\": [2, 0]}]",
	    "[{\"name\": \"w\", \"dtype\": \"float32\", \"shape\": [3, 2], \"perm\": \"1,0\"}]",
	    "[{\"name\": \"w\", \"dtype\": \"float32\", \"shape\": null, \"perm\": [1, 0]}]",
	    "[{\"name\": \"w\", \"dtype\": \"float32\", \"shape\": [3, 2], \"perm\": [1, -1]}]",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tu_write(p, bad[i], strlen(bad[i]));
		ck_assert_int_eq(ckpt_targets_load_file(p, &t, &n, &err), CKPT_EINVAL);
		ck_assert_ptr_nonnull(strstr(err.msg, "\"perm\""));
	}
	tu_rmtree(dir);
	free(dir);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("perm");
	TCase *tc = tcase_create("core");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_permute_copy_naive);
	tcase_add_test(tc, test_every_perm_ranges);
	tcase_add_test(tc, test_bounded_reads);
	tcase_add_test(tc, test_sequential_blocks);
	tcase_add_test(tc, test_column_part_unpermuted);
	tcase_add_test(tc, test_rules);
	tcase_add_test(tc, test_targets_json);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(suite());
}
