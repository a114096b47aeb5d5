/*
 * End to end: checkpoints written by ckpt-gen (tests/gen), resolved through
 * an assignment map (ckpt_resolve) and read through the view
 * (ckpt_view_read). Every expected byte is computed here, independently of
 * the library, from ckpt-gen's documented value patterns (the comment at the
 * top of tests/gen/ckpt-gen.c), sliced in the test, and converted with the
 * scalar rules of spec/casts.md written again below. Expected names, specs
 * and error texts come from spec/init_from_checkpoint_semantics.md §10 and
 * slices_and_partitions.md §3.
 *
 * argv: [ckpt-gen path, ckptfs path]; without them the generated-checkpoint
 * tests skip (the fixture test still runs).
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ckpt/reader.h"
#include "ckpt/resolve.h"
#include "ckpt/view.h"
#include "testutil.h"
#include "genref.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define S(x) ((char *)(x))

static const char *gen_path, *ckptfs_path;

/* Write `json` and run ckpt-gen on it; returns the checkpoint prefix
 * (a static rotating buffer from tu_path). */
static const char *gen(const char *name, const char *json)
{
	char jpath[4096];
	snprintf(jpath, sizeof(jpath), "%s/%s.json", tu_dir, name);
	tu_write(jpath, json, strlen(json));
	const char *prefix = tu_path(tu_dir, name);
	tu_run_gen(gen_path, jpath, prefix);
	return prefix;
}

/* ================= independent reference values ================= */

/* The full tensor of pattern iota or random:SEED in dtype dt (n elements):
 * genref.h. */
static uint8_t *random_full(ckpt_dtype dt, uint64_t n, uint64_t seed)
{
	return tu_random_tensor(dt, n, seed);
}

static uint8_t *iota_full(ckpt_dtype dt, uint64_t n)
{
	return tu_iota_tensor(dt, n);
}

static int is_int(ckpt_dtype t)
{
	switch (t) {
	case CKPT_DT_INT8:
	case CKPT_DT_UINT8:
	case CKPT_DT_INT16:
	case CKPT_DT_UINT16:
	case CKPT_DT_INT32:
	case CKPT_DT_UINT32:
	case CKPT_DT_INT64:
	case CKPT_DT_UINT64: return 1;
	default: return 0;
	}
}

static int is_signed(ckpt_dtype t)
{
	return t == CKPT_DT_INT8 || t == CKPT_DT_INT16 || t == CKPT_DT_INT32 || t == CKPT_DT_INT64;
}

static uint64_t ld(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	for (size_t k = 0; k < n; k++)
		v |= (uint64_t)p[k] << (8 * k);
	return v;
}

static void st(uint8_t *p, uint64_t v, size_t n)
{
	for (size_t k = 0; k < n; k++)
		p[k] = (uint8_t)(v >> (8 * k));
}

/* An integer element as int64 (sign- or zero-extended). */
static int64_t int_value(ckpt_dtype t, const uint8_t *p)
{
	size_t es = ckpt_dtype_size(t);
	uint64_t v = ld(p, es);
	if (is_signed(t) && es < 8 && (v >> (8 * es - 1)) & 1)
		v |= ~0ull << (8 * es);
	return (int64_t)v;
}

static double f32_of(uint32_t bits)
{
	float f;
	memcpy(&f, &bits, 4);
	return f;
}

/* float32 bits -> float64 bits: exact. A NaN keeps sign and payload and
 * comes out quiet, as TF's static_cast does on x86 (cvtss2sd). */
static uint64_t f32_to_f64_bits(uint32_t b)
{
	if ((b & 0x7fffffffu) > 0x7f800000u)
		return (uint64_t)(b >> 31) << 63 | 0x7ff8000000000000ull |
		       (uint64_t)(b & 0x7fffffu) << 29;
	double d = f32_of(b);
	uint64_t o;
	memcpy(&o, &d, 8);
	return o;
}

/* float32 -> bfloat16: spec/casts.md RNE formula; NaN -> 0x7fc0 | sign. */
static uint16_t f32_to_bf16_bits(uint32_t b)
{
	if ((b & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)(((b >> 16) & 0x8000u) | 0x7fc0u);
	return (uint16_t)((b + 0x7fffu + ((b >> 16) & 1u)) >> 16);
}

/* float16 bits -> float32 bits, exact (NaN payload shifted up). */
static uint32_t f16_to_f32_bits(uint16_t h)
{
	uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
	int e = (h >> 10) & 0x1f;
	uint32_t m = h & 0x3ffu;
	if (e == 31)
		return sign | 0x7f800000u | m << 13;
	float mag = e == 0 ? (float)ldexp((double)m, -24) : (float)ldexp(1024.0 + m, e - 25);
	uint32_t o;
	memcpy(&o, &mag, 4);
	return sign | o;
}

/*
 * Convert one element from src to dst with the rules of spec/casts.md, for
 * the pairs this test uses (cast_ok below). Returns 0 for other pairs.
 */
static int ref_convert1(ckpt_dtype src, ckpt_dtype dst, const uint8_t *in, uint8_t *out)
{
	size_t ss = ckpt_dtype_size(src), ds = ckpt_dtype_size(dst);
	if (src == dst) {
		memcpy(out, in, ss);
		return 1;
	}
	if ((is_int(src) || src == CKPT_DT_BOOL) && is_int(dst)) {
		/* wrap: the low bits of the two's-complement value; bool is 0/1 */
		uint64_t v = src == CKPT_DT_BOOL ? (in[0] != 0) : (uint64_t)int_value(src, in);
		st(out, v, ds);
		return 1;
	}
	if (is_int(src) && dst == CKPT_DT_BOOL) {
		out[0] = int_value(src, in) != 0;
		return 1;
	}
	if (src == CKPT_DT_BOOL && (dst == CKPT_DT_FLOAT || dst == CKPT_DT_DOUBLE)) {
		st(out, in[0] ? (dst == CKPT_DT_FLOAT ? 0x3f800000u : 0x3ff0000000000000ull) : 0,
		   ds);
		return 1;
	}
	if (src == CKPT_DT_FLOAT && dst == CKPT_DT_BOOL) {
		out[0] = (ld(in, 4) & 0x7fffffffu) != 0; /* NaN -> true, -0 -> false */
		return 1;
	}
	if (src == CKPT_DT_FLOAT && dst == CKPT_DT_DOUBLE) {
		st(out, f32_to_f64_bits((uint32_t)ld(in, 4)), 8);
		return 1;
	}
	if (src == CKPT_DT_FLOAT && dst == CKPT_DT_BFLOAT16) {
		st(out, f32_to_bf16_bits((uint32_t)ld(in, 4)), 2);
		return 1;
	}
	if (src == CKPT_DT_BFLOAT16 && dst == CKPT_DT_FLOAT) {
		st(out, ld(in, 2) << 16, 4);
		return 1;
	}
	if (src == CKPT_DT_HALF && dst == CKPT_DT_FLOAT) {
		st(out, f16_to_f32_bits((uint16_t)ld(in, 2)), 4);
		return 1;
	}
	if (is_int(src) && ss <= 4 && dst == CKPT_DT_DOUBLE) {
		double d = (double)int_value(src, in); /* exact below 2^53 */
		memcpy(out, &d, 8);
		return 1;
	}
	if (is_int(src) && ss <= 2 && dst == CKPT_DT_FLOAT) {
		float f = (float)int_value(src, in); /* exact below 2^24 */
		memcpy(out, &f, 4);
		return 1;
	}
	if (src == CKPT_DT_COMPLEX64 && dst == CKPT_DT_COMPLEX128) {
		st(out, f32_to_f64_bits((uint32_t)ld(in, 4)), 8);
		st(out + 8, f32_to_f64_bits((uint32_t)ld(in + 4, 4)), 8);
		return 1;
	}
	if (src == CKPT_DT_COMPLEX64 && dst == CKPT_DT_FLOAT) {
		memcpy(out, in, 4); /* the real part */
		return 1;
	}
	if (src == CKPT_DT_FLOAT && dst == CKPT_DT_COMPLEX64) {
		memcpy(out, in, 4);
		memset(out + 4, 0, 4);
		return 1;
	}
	return 0;
}

static int cast_ok(ckpt_dtype src, ckpt_dtype dst)
{
	uint8_t in[16] = {0}, out[16];
	return ref_convert1(src, dst, in, out);
}

static uint8_t *ref_convert(ckpt_dtype src, ckpt_dtype dst, const uint8_t *in, uint64_t n)
{
	size_t ss = ckpt_dtype_size(src), ds = ckpt_dtype_size(dst);
	uint8_t *out = malloc((size_t)n * ds + 1);
	ck_assert_ptr_nonnull(out);
	for (uint64_t k = 0; k < n; k++)
		ck_assert_msg(ref_convert1(src, dst, in + k * ss, out + k * ds),
			      "no reference for %s -> %s", ckpt_dtype_name(src),
			      ckpt_dtype_name(dst));
	return out;
}

/* ================= the pipeline: reader -> resolve -> view ================= */

typedef struct env {
	ckpt_reader *r;
	ckpt_tensor *t;
	ckpt_plan *plan;
	ckpt_view *v;
	ckpt_error err;
	int rc;
} env;

typedef struct pair {
	const char *ckpt, *target;
} pair;

static const ckpt_piece *piece_of(void *ctx, size_t tensor, size_t piece)
{
	return ckpt_reader_piece(ctx, tensor, piece);
}

/* Open prefix and resolve; rc/err say how resolve went; the view is built
 * on success. */
static void env_open(env *e, const char *prefix, const pair *map, size_t nmap,
		     const ckpt_target_var *tv, size_t ntv, const ckpt_cast *casts, size_t ncasts)
{
	memset(e, 0, sizeof(*e));
	e->err = (ckpt_error)CKPT_ERROR_INIT;
	ck_assert_msg(ckpt_reader_open(&e->r, prefix, &e->err) == 0, "%s", e->err.msg);
	size_t n = ckpt_reader_count(e->r);
	e->t = malloc((n ? n : 1) * sizeof(*e->t));
	for (size_t i = 0; i < n; i++)
		e->t[i] = *ckpt_reader_tensor(e->r, i);
	ckpt_map_entry ent[16];
	ck_assert_uint_le(nmap, N(ent));
	for (size_t i = 0; i < nmap; i++)
		ent[i] = (ckpt_map_entry){S(map[i].ckpt), S(map[i].target), NULL, 0};
	ckpt_resolve_opts o = CKPT_RESOLVE_OPTS_INIT;
	o.entries = ent;
	o.n_entries = nmap;
	o.targets = tv;
	o.n_targets = ntv;
	o.casts = casts;
	o.n_casts = ncasts;
	o.ckpt_path = prefix;
	o.piece = piece_of;
	o.piece_ctx = e->r;
	e->rc = ckpt_resolve(&o, e->t, n, &e->plan, &e->err);
	if (e->rc == 0)
		ck_assert_msg(ckpt_view_build(&e->v, e->r, e->plan, &e->err) == 0, "%s",
			      e->err.msg);
}

static void env_close(env *e)
{
	ckpt_view_free(e->v);
	ckpt_plan_free(e->plan);
	free(e->t);
	ckpt_reader_close(e->r);
}

static uint32_t node_of(const env *e, const char *path)
{
	uint32_t id = ckpt_view_resolve_path(e->v, path);
	ck_assert_msg(id != CKPT_VIEW_NONE, "no file %s in the view", path);
	return id;
}

/* The file's size equals `size`, the whole file equals want, and `tries`
 * random ranges (unaligned, crossing elements, rows and parts, running
 * past the end) equal the same ranges of want. */
static void check_file(const env *e, const char *path, const uint8_t *want, uint64_t size,
		       uint64_t seed, int tries)
{
	uint32_t id = node_of(e, path);
	const ckpt_node *nd = ckpt_view_node(e->v, id);
	ck_assert_msg(!nd->is_dir, "%s is a directory", path);
	ck_assert_msg(nd->size == size, "%s: size %llu, want %llu", path,
		      (unsigned long long)nd->size, (unsigned long long)size);
	uint8_t *buf = malloc((size_t)size + 64);
	size_t got = 0;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_msg(ckpt_view_read(e->v, id, 0, buf, (size_t)size + 64, &got, &err) == 0,
		      "%s: %s", path, err.msg);
	ck_assert_uint_eq(got, size);
	for (uint64_t k = 0; k < size; k++)
		ck_assert_msg(buf[k] == want[k], "%s: byte %llu is %02x, want %02x", path,
			      (unsigned long long)k, buf[k], want[k]);
	uint64_t s = seed * 2654435761u + 1;
	for (int t = 0; t < tries && size > 0; t++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t off = (s >> 33) % (size + 8);
		uint64_t len = (s >> 13) % 4 == 0 ? (s >> 40) % (size + 16) : (s >> 20) % 67;
		memset(buf, 0xa5, (size_t)size + 64);
		if (len > size + 32)
			len = size + 32;
		ck_assert_msg(ckpt_view_read(e->v, id, off, buf, (size_t)len, &got, &err) == 0,
			      "%s: %s", path, err.msg);
		uint64_t exp = off >= size ? 0 : (off + len > size ? size - off : len);
		ck_assert_msg(got == exp, "%s: read %llu+%llu got %zu", path,
			      (unsigned long long)off, (unsigned long long)len, got);
		ck_assert_msg(got == 0 || memcmp(buf, want + off, got) == 0,
			      "%s: bytes %llu+%llu differ", path, (unsigned long long)off,
			      (unsigned long long)len);
	}
	free(buf);
}

/* Expected bytes of the box (start, len) of a full tensor in dtype dst. */
static uint8_t *expect_box(const uint8_t *full, ckpt_dtype src, ckpt_dtype dst, int rank,
			   const int64_t *dims, const int64_t *start, const int64_t *len,
			   uint64_t *size)
{
	uint64_t n;
	uint8_t *box = tu_copy_block(full, dims, rank, start, len, ckpt_dtype_size(src), &n);
	uint8_t *out = ref_convert(src, dst, box, n);
	free(box);
	*size = n * ckpt_dtype_size(dst);
	return out;
}

/* TF's parts (slices_and_partitions.md §3): q = size/n, first size%n parts
 * get one more row. Fills start/len of part k. */
static void part_box(int rank, const int64_t *dims, const int64_t *parts, int k, int64_t *start,
		     int64_t *len)
{
	for (int d = 0; d < rank; d++) {
		start[d] = 0;
		len[d] = dims[d];
		if (parts[d] > 1) {
			int64_t q = dims[d] / parts[d], r = dims[d] % parts[d];
			len[d] = q + (k < r);
			start[d] = k * q + (k < r ? k : r);
		}
	}
}

static int n_parts(int rank, const int64_t *parts)
{
	int n = 1;
	for (int d = 0; d < rank; d++)
		if (parts[d] > 1)
			n = (int)parts[d];
	return n;
}

/* Check every file of a target (whole or partitioned) against the full
 * source tensor. */
static void check_target(const env *e, const char *name, const uint8_t *full, ckpt_dtype src,
			 ckpt_dtype dst, int rank, const int64_t *dims, const int64_t *parts,
			 int tries)
{
	int64_t start[16], len[16];
	char path[512];
	if (parts == NULL) {
		int64_t zero[16] = {0};
		uint64_t size;
		uint8_t *want = expect_box(full, src, dst, rank, dims, zero, dims, &size);
		check_file(e, name, want, size, (uint64_t)rank, tries);
		free(want);
		return;
	}
	int np = n_parts(rank, parts);
	for (int k = 0; k < np; k++) {
		part_box(rank, dims, parts, k, start, len);
		uint64_t size;
		uint8_t *want = expect_box(full, src, dst, rank, dims, start, len, &size);
		snprintf(path, sizeof(path), "%s/part_%d", name, k);
		check_file(e, path, want, size, (uint64_t)k, tries);
		free(want);
	}
	/* exactly the parts, nothing else */
	uint32_t dir = node_of(e, name);
	ck_assert_uint_eq(ckpt_view_node(e->v, dir)->n_children, (uint32_t)np);
}

/* ================= 1. the §10 docstring scenario ================= */

static const char sec10_json[] =
    "{\"tensors\": ["
    "{\"name\": \"old_scope_1/var1\", \"dtype\": \"float32\", \"shape\": [20, 2]},"
    "{\"name\": \"old_scope_1/var2\", \"dtype\": \"float32\", \"shape\": [50, 4]},"
    "{\"name\": \"old_scope_2/var3\", \"dtype\": \"float32\", \"shape\": [100, 100],"
    " \"partitions\": [3, 1]}]}";

static int64_t d20_2[] = {20, 2}, d50_4[] = {50, 4}, d100[] = {100, 100};
static int64_t p5_1[] = {5, 1};

static const ckpt_target_var sec10_store[] = {
    {S("new_scope_1/var1"), CKPT_DT_FLOAT, 2, d20_2, NULL, NULL},
    {S("new_scope_2/var2"), CKPT_DT_FLOAT, 2, d50_4, NULL, NULL},
    {S("new_scope_2/var3"), CKPT_DT_FLOAT, 2, d100, p5_1, NULL},
};

static void sec10_open(env *e, const char **prefix, const pair *map, size_t n)
{
	*prefix = gen("sec10", sec10_json);
	env_open(e, *prefix, map, n, sec10_store, N(sec10_store), NULL, 0);
	/* the checkpoint really holds var3 as 3 row slices: 34, 33, 33 rows */
	size_t i;
	ck_assert_int_eq(ckpt_reader_find(e->r, "old_scope_2/var3", &i), 0);
	ck_assert_uint_eq(ckpt_reader_tensor(e->r, i)->num_pieces, 3);
	ck_assert_int_eq(ckpt_reader_piece(e->r, i, 1)->start[0], 34);
}

static void plan_file_is(const ckpt_plan *p, size_t i, const char *file, const char *source,
			 const char *spec)
{
	ck_assert_uint_lt(i, p->n_files);
	ck_assert_str_eq(p->files[i].file, file);
	ck_assert_str_eq(p->files[i].source_name, source);
	ck_assert_str_eq(p->files[i].spec, spec);
}

START_TEST(test_sec10_scope_to_scope)
{
	if (gen_path == NULL)
		return;
	env e;
	const char *ck;
	const pair m[] = {{"old_scope_1/", "new_scope_1/"}};
	sec10_open(&e, &ck, m, N(m));
	ck_assert_msg(e.rc == 0, "%s", e.err.msg);
	ck_assert_uint_eq(e.plan->n_files, 1);
	plan_file_is(e.plan, 0, "new_scope_1/var1", "old_scope_1/var1", "");
	uint8_t *full = iota_full(CKPT_DT_FLOAT, 40);
	check_target(&e, "new_scope_1/var1", full, CKPT_DT_FLOAT, CKPT_DT_FLOAT, 2, d20_2, NULL,
		     50);
	free(full);
	/* root: @mapping.json and new_scope_1 only */
	ck_assert_uint_eq(ckpt_view_node(e.v, CKPT_VIEW_ROOT)->n_children, 2);
	ck_assert_uint_eq(ckpt_view_resolve_path(e.v, "new_scope_2"), CKPT_VIEW_NONE);
	env_close(&e);
}
END_TEST

START_TEST(test_sec10_one_to_one_pair)
{
	if (gen_path == NULL)
		return;
	env e;
	const char *ck;
	const pair m[] = {{"old_scope_1/var1", "new_scope_1/var1"},
			  {"old_scope_1/var2", "new_scope_2/var2"}};
	sec10_open(&e, &ck, m, N(m));
	ck_assert_msg(e.rc == 0, "%s", e.err.msg);
	ck_assert_uint_eq(e.plan->n_files, 2);
	plan_file_is(e.plan, 0, "new_scope_1/var1", "old_scope_1/var1", "");
	plan_file_is(e.plan, 1, "new_scope_2/var2", "old_scope_1/var2", "");
	uint8_t *f1 = iota_full(CKPT_DT_FLOAT, 40), *f2 = iota_full(CKPT_DT_FLOAT, 200);
	check_target(&e, "new_scope_1/var1", f1, CKPT_DT_FLOAT, CKPT_DT_FLOAT, 2, d20_2, NULL, 50);
	check_target(&e, "new_scope_2/var2", f2, CKPT_DT_FLOAT, CKPT_DT_FLOAT, 2, d50_4, NULL, 50);
	free(f1);
	free(f2);
	env_close(&e);
}
END_TEST

/* var3's five parts: plan specs from §10, bytes = rows 20k..20k+19 of iota. */
static void check_var3(const env *e)
{
	static const char *const specs[5] = {"100 100 0,20:0,100", "100 100 20,20:0,100",
					     "100 100 40,20:0,100", "100 100 60,20:0,100",
					     "100 100 80,20:0,100"};
	ck_assert_uint_eq(e->plan->n_files, 5);
	for (int k = 0; k < 5; k++) {
		char file[64];
		snprintf(file, sizeof(file), "new_scope_2/var3/part_%d", k);
		plan_file_is(e->plan, (size_t)k, file, "old_scope_2/var3", specs[k]);
		/* part k = elements 2000k .. 2000k+1999 of the full iota */
		float *want = malloc(2000 * sizeof(float));
		for (int j = 0; j < 2000; j++)
			want[j] = (float)(2000 * k + j);
		check_file(e, file, (const uint8_t *)want, 8000, (uint64_t)k, 200);
		free(want);
	}
	uint32_t dir = node_of(e, "new_scope_2/var3");
	ck_assert(ckpt_view_node(e->v, dir)->is_dir);
	ck_assert_uint_eq(ckpt_view_node(e->v, dir)->n_children, 5);
	for (uint32_t k = 0; k < 5; k++) {
		char nm[16];
		snprintf(nm, sizeof(nm), "part_%u", k);
		ck_assert_str_eq(ckpt_view_node(e->v, ckpt_view_child(e->v, dir, k))->name, nm);
	}
}

START_TEST(test_sec10_tensor_onto_partitioned)
{
	if (gen_path == NULL)
		return;
	env e;
	const char *ck;
	const pair m[] = {{"old_scope_2/var3", "new_scope_2/var3"}};
	sec10_open(&e, &ck, m, N(m));
	ck_assert_msg(e.rc == 0, "%s", e.err.msg);
	check_var3(&e);
	env_close(&e);
}
END_TEST

START_TEST(test_sec10_list_of_parts)
{
	if (gen_path == NULL)
		return;
	/* {'old_scope_2/var3': list(var3)}: same as the name form */
	const char *ck = gen("sec10", sec10_json);
	env e;
	const pair warm[] = {{"old_scope_1/", "new_scope_1/"}};
	env_open(&e, ck, warm, 1, sec10_store, N(sec10_store), NULL, 0);
	ck_assert_int_eq(e.rc, 0);
	ckpt_view_free(e.v);
	ckpt_plan_free(e.plan);
	e.v = NULL;
	char *parts[5];
	for (int k = 0; k < 5; k++) {
		parts[k] = malloc(32);
		snprintf(parts[k], 32, "new_scope_2/var3/part_%d", k);
	}
	ckpt_map_entry ent = {S("old_scope_2/var3"), NULL, parts, 5};
	ckpt_resolve_opts o = CKPT_RESOLVE_OPTS_INIT;
	o.entries = &ent;
	o.n_entries = 1;
	o.targets = sec10_store;
	o.n_targets = N(sec10_store);
	o.ckpt_path = ck;
	o.piece = piece_of;
	o.piece_ctx = e.r;
	ck_assert_msg(ckpt_resolve(&o, e.t, ckpt_reader_count(e.r), &e.plan, &e.err) == 0, "%s",
		      e.err.msg);
	ck_assert_int_eq(ckpt_view_build(&e.v, e.r, e.plan, &e.err), 0);
	check_var3(&e);
	for (int k = 0; k < 5; k++)
		free(parts[k]);
	env_close(&e);
}
END_TEST

START_TEST(test_sec10_scope_not_found)
{
	if (gen_path == NULL)
		return;
	env e;
	const char *ck;
	const pair m[] = {{"old_scope_1/", "new_scope_2/"}};
	sec10_open(&e, &ck, m, N(m));
	char want[512];
	snprintf(want, sizeof(want),
		 "Tensor old_scope_1/var3 (var3 in old_scope_1/) is not found in %s checkpoint",
		 ck);
	ck_assert_int_eq(e.rc, CKPT_EINVAL);
	ck_assert_ptr_null(e.plan);
	/* TF's text, then a line with the closest names (ties: name order) */
	const char *nl = strchr(e.err.msg, '\n');
	ck_assert_ptr_nonnull(nl);
	ck_assert_uint_eq((size_t)(nl - e.err.msg), strlen(want));
	ck_assert_int_eq(strncmp(e.err.msg, want, strlen(want)), 0);
	ck_assert_str_eq(nl + 1, "closest in the checkpoint (of 3 tensors): {'old_scope_1/var1': "
				 "[20, 2], 'old_scope_1/var2': [50, 4], 'old_scope_2/var3': [100, "
				 "100]}");
	env_close(&e);
}
END_TEST

START_TEST(test_sec10_scope_only_name)
{
	if (gen_path == NULL)
		return;
	env e;
	const char *ck;
	const pair m[] = {{"old_scope_1/var1", "new_scope_1/varX"}};
	sec10_open(&e, &ck, m, N(m));
	ck_assert_int_eq(e.rc, CKPT_EINVAL);
	ck_assert_ptr_null(e.plan);
	ck_assert_str_eq(e.err.msg,
			 "Assignment map with scope only name new_scope_1 should map to scope "
			 "only old_scope_1/var1. Should be 'scope/': 'other_scope/'.");
	env_close(&e);
}
END_TEST

/* ================= 2. any stored slicing feeds any requested slicing ================= */

static const char reslice_json[] =
    "{\"num_shards\": 2, \"tensors\": ["
    /* 3 row slices (4,4,3 rows), spread over both shards */
    "{\"name\": \"rows\", \"dtype\": \"float32\", \"shape\": [11, 6], \"partitions\": [3, 1],"
    " \"shard\": [0, 1, 0]},"
    /* 2x2 blocks of 2x3 */
    "{\"name\": \"blocks\", \"dtype\": \"int32\", \"shape\": [4, 6], \"slices\": ["
    "[[0,0],[2,3]], [[0,3],[2,3]], [[2,0],[2,3]], [[2,3],[2,3]]], \"shard\": 1},"
    /* a whole tensor */
    "{\"name\": \"whole\", \"dtype\": \"float32\", \"shape\": [7, 5]},"
    /* rank 3, saved in 3 slices along the middle axis; a full-extent marker */
    "{\"name\": \"cube\", \"dtype\": \"float32\", \"shape\": [4, 3, 5], \"slices\": ["
    "[[0,0,0],[-1,1,-1]], [[0,1,0],[4,1,5]], [[0,2,0],[4,1,5]]]}"
    "]}";

static int64_t d11_6[] = {11, 6}, d4_6[] = {4, 6}, d7_5[] = {7, 5}, d4_3_5[] = {4, 3, 5};
static int64_t p51[] = {5, 1}, p14[] = {1, 4}, p31[] = {3, 1}, p16[] = {1, 6}, p115[] = {1, 1, 5},
	       p411[] = {4, 1, 1};

START_TEST(test_reslice_everything)
{
	if (gen_path == NULL)
		return;
	const char *ck = gen("reslice", reslice_json);
	const ckpt_target_var tv[] = {
	    {S("n/rows5"), CKPT_DT_FLOAT, 2, d11_6, p51, NULL},	      /* 3 row slices -> 5 */
	    {S("n/rows_cols"), CKPT_DT_FLOAT, 2, d11_6, p14, NULL},   /* rows -> column parts */
	    {S("n/rows_cols6"), CKPT_DT_DOUBLE, 2, d11_6, p16, NULL}, /* + cast, 1-wide columns */
	    {S("n/rows_whole"), CKPT_DT_FLOAT, 2, d11_6, NULL, NULL}, /* partitioned -> whole */
	    {S("n/rows_bf16"), CKPT_DT_BFLOAT16, 2, d11_6, p31, NULL},
	    {S("n/blocks4"), CKPT_DT_INT32, 2, d4_6, p14, NULL}, /* 2x2 blocks -> 4 cols */
	    {S("n/blocks_whole"), CKPT_DT_INT64, 2, d4_6, NULL, NULL},
	    {S("n/blocks_rows"), CKPT_DT_INT8, 2, d4_6, p31, NULL},
	    {S("n/whole3"), CKPT_DT_FLOAT, 2, d7_5, p31, NULL}, /* whole -> partitioned */
	    {S("n/whole_cols"), CKPT_DT_FLOAT, 2, d7_5, p14, NULL},
	    {S("n/cube_last"), CKPT_DT_FLOAT, 3, d4_3_5, p115, NULL}, /* strided gathers */
	    {S("n/cube_first"), CKPT_DT_DOUBLE, 3, d4_3_5, p411, NULL},
	};
	const pair m[] = {
	    {"rows", "n/rows5"},	  {"rows", "n/rows_cols"},     {"rows", "n/rows_cols6"},
	    {"rows", "n/rows_whole"},	  {"rows", "n/rows_bf16"},     {"blocks", "n/blocks4"},
	    {"blocks", "n/blocks_whole"}, {"blocks", "n/blocks_rows"}, {"whole", "n/whole3"},
	    {"whole", "n/whole_cols"},	  {"cube", "n/cube_last"},     {"cube", "n/cube_first"},
	};
	env e;
	env_open(&e, ck, m, N(m), tv, N(tv), NULL, 0);
	ck_assert_msg(e.rc == 0, "%s", e.err.msg);
	uint8_t *rows = iota_full(CKPT_DT_FLOAT, 66), *blocks = iota_full(CKPT_DT_INT32, 24);
	uint8_t *whole = iota_full(CKPT_DT_FLOAT, 35), *cube = iota_full(CKPT_DT_FLOAT, 60);
	for (size_t k = 0; k < N(tv); k++) {
		const char *src = m[k].ckpt;
		const uint8_t *full = strcmp(src, "rows") == 0	   ? rows
				      : strcmp(src, "blocks") == 0 ? blocks
				      : strcmp(src, "whole") == 0  ? whole
								   : cube;
		ckpt_dtype sd = strcmp(src, "blocks") == 0 ? CKPT_DT_INT32 : CKPT_DT_FLOAT;
		check_target(&e, tv[k].name, full, sd, tv[k].dtype, tv[k].rank, tv[k].dims,
			     tv[k].partitions, 120);
	}
	free(rows);
	free(blocks);
	free(whole);
	free(cube);
	env_close(&e);
}
END_TEST

/* The same through a plain reader read: view bytes of each part equal
 * ckpt_reader_read_slice of the part's box (a second, independent path). */
START_TEST(test_reslice_matches_reader)
{
	if (gen_path == NULL)
		return;
	const char *ck = gen("reslice", reslice_json);
	const ckpt_target_var tv[] = {{S("x"), CKPT_DT_FLOAT, 3, d4_3_5, p115, NULL}};
	const pair m[] = {{"cube", "x"}};
	env e;
	env_open(&e, ck, m, 1, tv, 1, NULL, 0);
	ck_assert_msg(e.rc == 0, "%s", e.err.msg);
	for (size_t f = 0; f < e.plan->n_files; f++) {
		const ckpt_plan_file *pf = &e.plan->files[f];
		uint8_t want[256], got[256];
		size_t n;
		ck_assert_int_eq(ckpt_reader_read_slice(e.r, pf->source, pf->start, pf->length,
							want, sizeof(want), NULL),
				 0);
		ck_assert_int_eq(
		    ckpt_view_read(e.v, node_of(&e, pf->file), 0, got, sizeof(got), &n, NULL), 0);
		ck_assert_uint_eq(n, pf->size);
		ck_assert(memcmp(want, got, n) == 0);
	}
	env_close(&e);
}
END_TEST

/* ================= 3. seeded property test ================= */

static const ckpt_dtype all_numeric[] = {
    CKPT_DT_BOOL,     CKPT_DT_INT8,   CKPT_DT_UINT8,  CKPT_DT_INT16,	 CKPT_DT_UINT16,
    CKPT_DT_INT32,    CKPT_DT_UINT32, CKPT_DT_INT64,  CKPT_DT_UINT64,	 CKPT_DT_HALF,
    CKPT_DT_BFLOAT16, CKPT_DT_FLOAT,  CKPT_DT_DOUBLE, CKPT_DT_COMPLEX64, CKPT_DT_COMPLEX128,
};

static uint64_t rng_state;

static uint64_t rnd(uint64_t n)
{
	rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
	return n ? (rng_state >> 33) % n : 0;
}

#define PT_TENSORS 5

struct pt_tensor {
	char name[32];
	ckpt_dtype dt, to;
	int rank;
	int64_t dims[3], sparts[3], tparts[3];
	int stored_parts, target_parts, via_cast;
	uint64_t seed, n;
};

/* Random partition counts: at most one axis > 1, count <= that dim. */
static int rand_parts(int rank, const int64_t *dims, int64_t *parts)
{
	for (int d = 0; d < rank; d++)
		parts[d] = 1;
	if (rank == 0 || rnd(4) == 0)
		return 0;
	int ax = (int)rnd((uint64_t)rank);
	if (dims[ax] < 2)
		return 0;
	parts[ax] = 2 + (int64_t)rnd((uint64_t)dims[ax] - 1);
	return 1;
}

START_TEST(test_property_random_maps)
{
	if (gen_path == NULL)
		return;
	const int rounds = 120;
	const char *only = getenv("VIEW_E2E_ROUND");
	for (int round = 0; round < rounds; round++) {
		if (only && atoi(only) != round)
			continue;
		rng_state = 0x5eed0000u + (uint64_t)round;
		struct pt_tensor pt[PT_TENSORS];
		char json[8192];
		size_t jl =
		    (size_t)snprintf(json, sizeof(json), "{\"num_shards\": 3, \"tensors\": [");
		for (int k = 0; k < PT_TENSORS; k++) {
			struct pt_tensor *t = &pt[k];
			t->dt = all_numeric[rnd(N(all_numeric))];
			snprintf(t->name, sizeof(t->name), "src/t%d_%s", k, ckpt_dtype_name(t->dt));
			t->rank = (int)rnd(4);
			t->n = 1;
			for (int d = 0; d < t->rank; d++) {
				t->dims[d] = 1 + (int64_t)rnd(d == t->rank - 1 ? 13 : 7);
				t->n *= (uint64_t)t->dims[d];
			}
			t->stored_parts = rand_parts(t->rank, t->dims, t->sparts);
			t->target_parts = rand_parts(t->rank, t->dims, t->tparts);
			/* a cast with an exact reference, else the same dtype */
			ckpt_dtype cand[N(all_numeric)];
			size_t nc = 0;
			for (size_t c = 0; c < N(all_numeric); c++)
				if (cast_ok(t->dt, all_numeric[c]))
					cand[nc++] = all_numeric[c];
			t->to = rnd(3) ? cand[rnd(nc)] : t->dt;
			t->via_cast = 0;
			t->seed = 1000 + (uint64_t)round * 10 + (uint64_t)k;
			jl +=
			    (size_t)snprintf(json + jl, sizeof(json) - jl,
					     "%s{\"name\": \"%s\", \"dtype\": \"%s\", \"shape\": [",
					     k ? "," : "", t->name, ckpt_dtype_name(t->dt));
			for (int d = 0; d < t->rank; d++)
				jl += (size_t)snprintf(json + jl, sizeof(json) - jl, "%s%lld",
						       d ? "," : "", (long long)t->dims[d]);
			jl += (size_t)snprintf(json + jl, sizeof(json) - jl,
					       "], \"pattern\": \"random:%llu\"",
					       (unsigned long long)t->seed);
			if (t->stored_parts) {
				int np = n_parts(t->rank, t->sparts);
				jl += (size_t)snprintf(json + jl, sizeof(json) - jl,
						       ", \"partitions\": [");
				for (int d = 0; d < t->rank; d++)
					jl +=
					    (size_t)snprintf(json + jl, sizeof(json) - jl, "%s%lld",
							     d ? "," : "", (long long)t->sparts[d]);
				jl += (size_t)snprintf(json + jl, sizeof(json) - jl,
						       "], \"shard\": [");
				for (int p = 0; p < np; p++)
					jl +=
					    (size_t)snprintf(json + jl, sizeof(json) - jl, "%s%d",
							     p ? "," : "", k < 3 ? k : (int)rnd(3));
				jl += (size_t)snprintf(json + jl, sizeof(json) - jl, "]");
			} else {
				jl += (size_t)snprintf(json + jl, sizeof(json) - jl,
						       ", \"shard\": %d", k < 3 ? k : (int)rnd(3));
			}
			jl += (size_t)snprintf(json + jl, sizeof(json) - jl, "}");
		}
		snprintf(json + jl, sizeof(json) - jl, "]}");
		char nm[32];
		snprintf(nm, sizeof(nm), "prop%d", round);
		const char *ck = gen(nm, json);
		if (getenv("VIEW_E2E_DEBUG"))
			fprintf(stderr, "round %d: %s\n", round, json);

		/* (tensors 0-2 fill shards 0-2: a merged bundle with an empty
		 * shard is unreadable, as in TF; spec/bundle.md) */
		/* targets: dst/... with the random partitioning and dtype; one
		 * random tensor instead keeps its dtype and is re-typed by a
		 * --cast (then no other target may share its source dtype) */
		ckpt_target_var tv[PT_TENSORS];
		char tnames[PT_TENSORS][40];
		ckpt_cast cast;
		size_t ncast = 0;
		int ck_idx = (int)rnd(PT_TENSORS);
		if (pt[ck_idx].to != pt[ck_idx].dt) {
			int clash = 0;
			for (int k = 0; k < PT_TENSORS; k++)
				clash |= k != ck_idx &&
					 (pt[k].dt == pt[ck_idx].dt || pt[k].to == pt[ck_idx].dt);
			if (!clash) {
				pt[ck_idx].via_cast = 1;
				cast = (ckpt_cast){pt[ck_idx].dt, pt[ck_idx].to};
				ncast = 1;
			}
		}
		for (int k = 0; k < PT_TENSORS; k++) {
			struct pt_tensor *t = &pt[k];
			snprintf(tnames[k], sizeof(tnames[k]), "dst/%s", t->name + 4);
			tv[k] = (ckpt_target_var){
			    tnames[k], t->via_cast ? t->dt : t->to,	   t->rank,
			    t->dims,   t->target_parts ? t->tparts : NULL, NULL};
		}
		const pair m[] = {{"src/", "dst/"}};
		env e;
		env_open(&e, ck, m, 1, tv, PT_TENSORS, &cast, ncast);
		if (getenv("VIEW_E2E_DEBUG"))
			for (int k = 0; k < PT_TENSORS; k++)
				fprintf(stderr, "  %s -> %s%s\n", pt[k].name,
					ckpt_dtype_name(pt[k].to),
					pt[k].via_cast ? " (--cast)" : "");
		ck_assert_msg(e.rc == 0, "round %d: %s", round, e.err.msg);
		for (int k = 0; k < PT_TENSORS; k++) {
			struct pt_tensor *t = &pt[k];
			uint8_t *full = random_full(t->dt, t->n, t->seed);
			check_target(&e, tnames[k], full, t->dt, t->to, t->rank, t->dims,
				     t->target_parts ? t->tparts : NULL, 60);
			free(full);
		}
		env_close(&e);
	}
}
END_TEST

/* ================= 4. the real fixture, re-partitioned and re-typed ================= */

static int64_t d5_16[] = {5, 16}, p2_1[] = {2, 1}, p1_4[] = {1, 4};

START_TEST(test_fixture_bfloat16_parts)
{
	const char *root = tu_fixtures();
	if (root == NULL)
		return;
	char ck[4096];
	snprintf(ck, sizeof(ck), "%s/tf_contrib_framework_bundle_checkpoint/bundle_checkpoint",
		 root);
	/* embeddings = range(80) as float32 [5,16] (fixture SOURCE.txt);
	 * rounded to bfloat16 with the RNE formula of spec/casts.md */
	uint8_t want[160];
	for (uint32_t i = 0; i < 80; i++) {
		float f = (float)i;
		uint32_t b;
		memcpy(&b, &f, 4);
		tu_put_le(want + 2 * i, f32_to_bf16_bits(b), 2);
	}
	int64_t *layouts[2] = {p2_1, p1_4};
	for (int l = 0; l < 2; l++) {
		const ckpt_target_var tv[] = {
		    {S("new/emb_scope/embeddings"), CKPT_DT_BFLOAT16, 2, d5_16, layouts[l], NULL}};
		const pair m[] = {{"some_scope/", "new/emb_scope/"}};
		env e;
		env_open(&e, ck, m, 1, tv, 1, NULL, 0);
		ck_assert_msg(e.rc == 0, "%s", e.err.msg);
		ck_assert_uint_eq(e.plan->n_files, l == 0 ? 2 : 4);
		ck_assert_str_eq(e.plan->files[0].source_name, "some_scope/embeddings");
		ck_assert_str_eq(e.plan->files[0].spec, l == 0 ? "5 16 0,3:0,16" : "5 16 0,5:0,4");
		check_target(&e, "new/emb_scope/embeddings", want, CKPT_DT_BFLOAT16,
			     CKPT_DT_BFLOAT16, 2, d5_16, layouts[l], 200);
		env_close(&e);
	}
}
END_TEST

/* ================= 5. strings, @value, escaping, @mapping.json ================= */

static const char strings_json[] =
    "{\"tensors\": ["
    "{\"name\": \"s0\", \"dtype\": \"string\", \"shape\": [], \"values\": [\"hi\"]},"
    "{\"name\": \"s1\", \"dtype\": \"string\", \"shape\": [3], \"values\": [\"ab\", \"\", "
    "\"xyz\"]},"
    "{\"name\": \"s2\", \"dtype\": \"string\", \"shape\": [2, 3], \"pattern\": \"iota\"},"
    "{\"name\": \"sb\", \"dtype\": \"string\", \"shape\": [2], \"values_hex\": [\"00ff01\", \"\"]},"
    "{\"name\": \"s_empty\", \"dtype\": \"string\", \"shape\": [0]}"
    "]}";

/* DESIGN.md: rank >= 1 = each element as uint64 LE length + bytes. */
static size_t enc_strings(uint8_t *out, const char *const *s, const size_t *l, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		tu_put_le(out + k, l[i], 8);
		memcpy(out + k + 8, s[i], l[i]);
		k += 8 + l[i];
	}
	return k;
}

START_TEST(test_strings)
{
	if (gen_path == NULL)
		return;
	const char *ck = gen("strings", strings_json);
	for (int renamed = 0; renamed < 2; renamed++) {
		env e;
		const pair m[] = {{"/", "str/"}};
		env_open(&e, ck, m, (size_t)renamed, NULL, 0, NULL, 0);
		ck_assert_msg(e.rc == 0, "%s", e.err.msg);
		const char *pre = renamed ? "str/" : "";
		char path[64];
		uint8_t want[256];
		/* rank 0: the raw bytes */
		snprintf(path, sizeof(path), "%ss0", pre);
		check_file(&e, path, (const uint8_t *)"hi", 2, 1, 20);
		const char *s1[] = {"ab", "", "xyz"};
		const size_t l1[] = {2, 0, 3};
		size_t n = enc_strings(want, s1, l1, 3);
		ck_assert_uint_eq(n, 29);
		snprintf(path, sizeof(path), "%ss1", pre);
		check_file(&e, path, want, n, 2, 100);
		const char *s2[] = {"0", "1", "2", "3", "4", "5"};
		const size_t l2[] = {1, 1, 1, 1, 1, 1};
		n = enc_strings(want, s2, l2, 6);
		snprintf(path, sizeof(path), "%ss2", pre);
		check_file(&e, path, want, n, 3, 100);
		const char *sb[] = {"\x00\xff\x01", ""};
		const size_t lb[] = {3, 0};
		n = enc_strings(want, sb, lb, 2);
		snprintf(path, sizeof(path), "%ssb", pre);
		check_file(&e, path, want, n, 4, 100);
		snprintf(path, sizeof(path), "%ss_empty", pre);
		check_file(&e, path, want, 0, 5, 5);
		env_close(&e);
	}
}
END_TEST

static const char tree_json[] =
    "{\"tensors\": ["
    "{\"name\": \"dense/kernel\", \"dtype\": \"float32\", \"shape\": [2, 3]},"
    "{\"name\": \"dense/kernel/Adam\", \"dtype\": \"float32\", \"shape\": [2, 3], \"pattern\": "
    "\"const:0.5\"},"
    "{\"name\": \"dense/kernel/Adam_1\", \"dtype\": \"int32\", \"shape\": [4]},"
    "{\"name\": \"esc/@at\", \"dtype\": \"int32\", \"shape\": [1], \"values\": [1]},"
    "{\"name\": \"esc/./dot\", \"dtype\": \"int32\", \"shape\": [1], \"values\": [2]},"
    "{\"name\": \"esc/../dd\", \"dtype\": \"int32\", \"shape\": [1], \"values\": [3]},"
    "{\"name\": \"esc//empty\", \"dtype\": \"int32\", \"shape\": [1], \"values\": [4]},"
    "{\"name\": \"esc/@value\", \"dtype\": \"int32\", \"shape\": [1], \"values\": [5]},"
    "{\"name\": \"@mapping.json\", \"dtype\": \"int32\", \"shape\": [1], \"values\": [6]},"
    "{\"name\": \"esc/a@b\", \"dtype\": \"int32\", \"shape\": [1], \"values\": [7]}"
    "]}";

static void check_int32_file(const env *e, const char *path, int32_t v)
{
	uint8_t want[4];
	tu_put_le(want, (uint32_t)v, 4);
	check_file(e, path, want, 4, (uint64_t)v, 10);
}

/* Run ckptfs with args; return its stdout (caller frees). */
static char *run_ckptfs(const char *args, int *status)
{
	char cmd[8192];
	snprintf(cmd, sizeof(cmd), "'%s' %s", ckptfs_path, args);
	FILE *p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	size_t cap = 1 << 16, n = 0;
	char *out = malloc(cap);
	size_t k;
	while ((k = fread(out + n, 1, cap - n - 1, p)) > 0) {
		n += k;
		if (n + 1 == cap)
			out = realloc(out, cap *= 2);
	}
	out[n] = '\0';
	*status = pclose(p);
	return out;
}

static void check_mapping_json(const env *e, const char *args)
{
	int st;
	char *out = run_ckptfs(args, &st);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "ckptfs %s failed", args);
	check_file(e, "@mapping.json", (const uint8_t *)out, strlen(out), 9, 100);
	free(out);
}

START_TEST(test_value_rule_and_escaping)
{
	if (gen_path == NULL)
		return;
	const char *ck = gen("tree", tree_json);
	env e;
	env_open(&e, ck, NULL, 0, NULL, 0, NULL, 0);
	ck_assert_msg(e.rc == 0, "%s", e.err.msg);
	/* dense/kernel is a variable and a scope: a directory with @value */
	uint32_t k = node_of(&e, "dense/kernel");
	ck_assert(ckpt_view_node(e.v, k)->is_dir);
	ck_assert_uint_eq(ckpt_view_node(e.v, k)->n_children, 3);
	ck_assert_str_eq(ckpt_view_node(e.v, ckpt_view_child(e.v, k, 0))->name, "@value");
	ck_assert_str_eq(ckpt_view_node(e.v, ckpt_view_child(e.v, k, 1))->name, "Adam");
	ck_assert_str_eq(ckpt_view_node(e.v, ckpt_view_child(e.v, k, 2))->name, "Adam_1");
	uint8_t *iota = iota_full(CKPT_DT_FLOAT, 6);
	check_file(&e, "dense/kernel/@value", iota, 24, 1, 50);
	free(iota);
	float half[6] = {0.5f, 0.5f, 0.5f, 0.5f, 0.5f, 0.5f};
	check_file(&e, "dense/kernel/Adam", (const uint8_t *)half, 24, 2, 50);
	uint8_t *i4 = iota_full(CKPT_DT_INT32, 4);
	check_file(&e, "dense/kernel/Adam_1", i4, 16, 3, 50);
	free(i4);
	/* escaping: empty, ".", "..", "@..." components get "@=" */
	check_int32_file(&e, "esc/@=@at", 1);
	check_int32_file(&e, "esc/@=./dot", 2);
	check_int32_file(&e, "esc/@=../dd", 3);
	check_int32_file(&e, "esc/@=/empty", 4);
	check_int32_file(&e, "esc/@=@value", 5);
	check_int32_file(&e, "@=@mapping.json", 6);
	check_int32_file(&e, "esc/a@b", 7); /* '@' inside a name stays */
	ck_assert_uint_eq(ckpt_view_resolve_path(e.v, "esc/@at"), CKPT_VIEW_NONE);
	ck_assert_uint_eq(ckpt_view_resolve_path(e.v, "esc/dot"), CKPT_VIEW_NONE);
	/* root: @=@mapping.json, @mapping.json, dense, esc */
	ck_assert_uint_eq(ckpt_view_node(e.v, CKPT_VIEW_ROOT)->n_children, 4);
	/* @mapping.json is what ckptfs --dry-run --json prints */
	char args[4200];
	snprintf(args, sizeof(args), "--dry-run --json '%s'", ck);
	check_mapping_json(&e, args);
	env_close(&e);

	/* the same with a map, a cast and targets */
	const pair m[] = {{"dense/", "new/"}};
	ckpt_cast c = {CKPT_DT_FLOAT, CKPT_DT_BFLOAT16};
	env_open(&e, ck, m, 1, NULL, 0, &c, 1);
	ck_assert_msg(e.rc == 0, "%s", e.err.msg);
	ck_assert(ckpt_view_node(e.v, node_of(&e, "new/kernel"))->is_dir);
	snprintf(args, sizeof(args),
		 "--dry-run --json --map dense/=new/ --cast float32=bfloat16 '%s'", ck);
	check_mapping_json(&e, args);
	env_close(&e);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc >= 3) {
		gen_path = argv[1];
		ckptfs_path = argv[2];
	}
	Suite *s = suite_create("view_e2e");
	TCase *tc = tcase_create("sec10");
	tcase_add_checked_fixture(tc, tu_tmpdir_setup, tu_tmpdir_teardown);
	tcase_add_test(tc, test_sec10_scope_to_scope);
	tcase_add_test(tc, test_sec10_one_to_one_pair);
	tcase_add_test(tc, test_sec10_tensor_onto_partitioned);
	tcase_add_test(tc, test_sec10_list_of_parts);
	tcase_add_test(tc, test_sec10_scope_not_found);
	tcase_add_test(tc, test_sec10_scope_only_name);
	suite_add_tcase(s, tc);
	TCase *rs = tcase_create("reslice");
	tcase_add_checked_fixture(rs, tu_tmpdir_setup, tu_tmpdir_teardown);
	tcase_set_timeout(rs, 60);
	tcase_add_test(rs, test_reslice_everything);
	tcase_add_test(rs, test_reslice_matches_reader);
	tcase_add_test(rs, test_property_random_maps);
	suite_add_tcase(s, rs);
	TCase *tt = tcase_create("tree");
	tcase_add_checked_fixture(tt, tu_tmpdir_setup, tu_tmpdir_teardown);
	tcase_add_test(tt, test_fixture_bfloat16_parts);
	tcase_add_test(tt, test_strings);
	tcase_add_test(tt, test_value_rule_and_escaping);
	suite_add_tcase(s, tt);
	return tu_run(s);
}
