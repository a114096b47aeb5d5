/*
 * Tables keyed by names from a file, against hostile names:
 * - SipHash-2-4 gives the paper's vectors; every table gets its own key;
 * - 100,000 names that share one bucket of the FNV-1a tables ckptfs used
 *   to have (generated here as an attacker would) cost the keyed string
 *   map, the writer and the view a bounded number of probes per name;
 * - names of many short components cannot make the view's tree much bigger
 *   than the index: a tree within the budget stays there (measured), a
 *   deeper one is refused.
 * No timings: work is counted in probes, memory in bytes.
 */
#include <check.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/reader.h"
#include "ckpt/resolve.h"
#include "ckpt/view.h"
#include "ckpt/writer.h"
#include "util/hash_int.h"
#include "testutil.h"
#include "view/view_int.h"
#include "format/writer_int.h"

/* ---- the attacker's side: FNV-1a 64 as the old tables used it ---- */

#define FNV_OFFSET 1469598103934665603ull
#define FNV_PRIME 1099511628211ull

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * FNV_PRIME;
	return h;
}

static const char alpha[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_";
#define NALPHA (sizeof(alpha) - 1)

static void block_of(size_t b, char out[3])
{
	out[0] = alpha[b % NALPHA];
	out[1] = alpha[b / NALPHA % NALPHA];
	out[2] = alpha[b / NALPHA / NALPHA];
}

/*
 * n names (n <= 2^stages) whose FNV-1a from `seed` agree in the low `bits`
 * bits: the low bits of FNV-1a's state after a byte depend only on its low
 * bits before, so at each stage two 3-byte blocks taking the common state
 * to one state (a birthday search) double the set. The names are the
 * 2^stages choices of one block per stage. Ownership: free each and the
 * array.
 */
static char **fnv_colliding(uint64_t seed, int bits, int stages, size_t n)
{
	uint64_t mask = (1ull << bits) - 1, state = seed & mask;
	uint32_t *seen = malloc(((size_t)1 << bits) * sizeof(uint32_t));
	char(*pair)[2][3] = malloc((size_t)stages * sizeof(*pair));
	ck_assert_ptr_nonnull(seen);
	ck_assert_ptr_nonnull(pair);
	for (int st = 0; st < stages; st++) {
		memset(seen, 0xff, ((size_t)1 << bits) * sizeof(uint32_t));
		size_t b = 0;
		for (;; b++) {
			ck_assert_uint_lt(b, NALPHA * NALPHA * NALPHA);
			char blk[3];
			block_of(b, blk);
			uint64_t h = fnv(state, blk, 3) & mask;
			if (seen[h] != UINT32_MAX) {
				block_of(seen[h], pair[st][0]);
				memcpy(pair[st][1], blk, 3);
				state = h;
				break;
			}
			seen[h] = (uint32_t)b;
		}
	}
	free(seen);
	char **names = malloc(n * sizeof(*names));
	ck_assert_ptr_nonnull(names);
	for (size_t i = 0; i < n; i++) {
		names[i] = malloc((size_t)stages * 3 + 1);
		ck_assert_ptr_nonnull(names[i]);
		for (int st = 0; st < stages; st++)
			memcpy(names[i] + 3 * st, pair[st][(i >> st) & 1], 3);
		names[i][stages * 3] = '\0';
	}
	free(pair);
	return names;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* 100,000 names in one bucket of every old table: the view's and the
 * writer's (seed FNV_OFFSET ^ parent 0 / input 0) and graph.c's (seed
 * FNV_OFFSET), at every table size up to 2^20 slots. */
enum { FLOOD_N = 100000, FLOOD_BITS = 20, FLOOD_STAGES = 17 };

static char **flood_names(void)
{
	char **names = fnv_colliding(FNV_OFFSET, FLOOD_BITS, FLOOD_STAGES, FLOOD_N);
	uint64_t b0 = fnv(FNV_OFFSET, names[0], strlen(names[0])) & ((1u << FLOOD_BITS) - 1);
	for (size_t i = 1; i < FLOOD_N; i++) {
		uint64_t b = fnv(FNV_OFFSET, names[i], strlen(names[i]));
		ck_assert_uint_eq(b & ((1u << FLOOD_BITS) - 1), b0);
		ck_assert_str_ne(names[i], names[i - 1]);
	}
	return names;
}

/* ---- SipHash and keys ---- */

START_TEST(test_siphash_vectors)
{
	/* SipHash-2-4 paper, appendix A and its vectors.h: key 00..0f,
	 * message 00 01 .. (n-1) */
	const ckpt__hash_key k = {0x0706050403020100ull, 0x0f0e0d0c0b0a0908ull};
	uint8_t msg[64];
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	ck_assert_uint_eq(ckpt__siphash(&k, msg, 0), 0x726fdb47dd0e0e31ull);
	ck_assert_uint_eq(ckpt__siphash(&k, msg, 1), 0x74f839c593dc67fdull);
	ck_assert_uint_eq(ckpt__siphash(&k, msg, 8), 0x93f5f5799a932462ull);
	ck_assert_uint_eq(ckpt__siphash(&k, msg, 15), 0xa129ca6149be45e5ull);
	ck_assert_uint_eq(ckpt__siphash(&k, msg, 63), 0x958a324ceb064572ull);
}
END_TEST

START_TEST(test_every_table_has_its_own_key)
{
	ckpt__hash_key a, b;
	ckpt__hash_key_new(&a);
	ckpt__hash_key_new(&b);
	ck_assert(a.k0 != b.k0 || a.k1 != b.k1);
	ck_assert(a.k0 != 0 || a.k1 != 0);
	ck_assert_uint_ne(ckpt__siphash(&a, "dense/kernel", 12),
			  ckpt__siphash(&b, "dense/kernel", 12));

	/* two maps of the same 1000 names put them in different slots */
	enum { N = 1000 };
	static char buf[N][16];
	ckpt__strmap m1 = {0}, m2 = {0};
	for (size_t i = 0; i < N; i++) {
		snprintf(buf[i], sizeof(buf[i]), "v%zu", i);
		ck_assert_int_eq(ckpt__strmap_put(&m1, buf[i], i), 0);
		ck_assert_int_eq(ckpt__strmap_put(&m2, buf[i], i), 0);
	}
	ck_assert_uint_eq(m1.cap, m2.cap);
	size_t same = 0;
	for (size_t s = 0; s < m1.cap; s++)
		same += m1.keys[s] == m2.keys[s];
	ck_assert_uint_lt(same, m1.cap);
	for (size_t i = 0; i < N; i++) {
		size_t v = 0;
		ck_assert_int_eq(ckpt__strmap_get(&m1, buf[i], &v), 1);
		ck_assert_uint_eq(v, i);
	}
	size_t v;
	ck_assert_int_eq(ckpt__strmap_get(&m1, "v1000", &v), 0);
	ckpt__strmap_free(&m1);
	ckpt__strmap_free(&m2);
}
END_TEST

/* ---- floods ---- */

START_TEST(test_strmap_flood)
{
	char **names = flood_names();
	ckpt__strmap m = {0};
	for (size_t i = 0; i < FLOOD_N; i++)
		ck_assert_int_eq(ckpt__strmap_put(&m, names[i], i), 0);
	for (size_t i = 0; i < FLOOD_N; i++) {
		size_t v = FLOOD_N;
		ck_assert_int_eq(ckpt__strmap_get(&m, names[i], &v), 1);
		ck_assert_uint_eq(v, i);
	}
	/* 200,000 operations (and the rehashes): a couple of probes each at
	 * load <= 1/2; one shared bucket would cost ~10^10 */
	printf("strmap: %zu probes for %d puts and gets\n", m.probes, 2 * FLOOD_N);
	ck_assert_uint_le(m.probes, (size_t)8 * FLOOD_N);
	ckpt__strmap_free(&m);
	free_names(names, FLOOD_N);
}
END_TEST

static const ckpt_piece *piece_of(void *ctx, size_t t, size_t p)
{
	return ckpt_reader_piece(ctx, t, p);
}

/* Reader, plan and view of the checkpoint at prefix; the caller frees. */
struct mounted {
	ckpt_reader *r;
	ckpt_tensor *t;
	ckpt_plan *plan;
	ckpt_view *v;
};

static int mount_format(struct mounted *m, const char *prefix, const char *format, ckpt_error *err)
{
	memset(m, 0, sizeof(*m));
	ck_assert_msg(ckpt_reader_open(&m->r, prefix, err) == 0, "%s", err->msg);
	size_t n = ckpt_reader_count(m->r);
	m->t = malloc((n ? n : 1) * sizeof(*m->t));
	for (size_t i = 0; i < n; i++)
		m->t[i] = *ckpt_reader_tensor(m->r, i);
	ckpt_resolve_opts o = CKPT_RESOLVE_OPTS_INIT;
	o.ckpt_path = prefix;
	o.piece = piece_of;
	o.piece_ctx = m->r;
	ck_assert_msg(ckpt_resolve(&o, m->t, n, &m->plan, err) == 0, "%s", err->msg);
	return ckpt_view_build_format(&m->v, m->r, m->plan, format, err);
}

static int mount_ckpt(struct mounted *m, const char *prefix, ckpt_error *err)
{
	return mount_format(m, prefix, "raw", err);
}

static void unmount_ckpt(struct mounted *m)
{
	ckpt_view_free(m->v);
	ckpt_plan_free(m->plan);
	free(m->t);
	ckpt_reader_close(m->r);
}

/* The finding's checkpoint: 100,000 tensors whose names share a bucket.
 * Writing it and building the view stay a few probes per name, and a
 * lookup of each (what stat of every file does) at most log2(n) + 1. */
START_TEST(test_checkpoint_flood)
{
	char **names = flood_names();
	const char *prefix = tu_path(tu_dir, "flood");
	ckpt_error err = CKPT_ERROR_INIT;
	ckpt_writer *w;
	float x = 1.0f;
	ck_assert_int_eq(ckpt_writer_open(&w, prefix, &err), 0);
	for (size_t i = 0; i < FLOOD_N; i++)
		ck_assert_msg(ckpt_writer_add(w, names[i], CKPT_DT_FLOAT, 0, NULL, &x, 4, &err) ==
				  0,
			      "%s", err.msg);
	size_t wp = ckpt__writer_probes(w);
	printf("writer: %zu probes for %d adds\n", wp, FLOOD_N);
	ck_assert_uint_le(wp, (size_t)8 * FLOOD_N);
	ck_assert_int_eq(ckpt_writer_finish(w, &err), 0);
	ckpt_writer_close(w);

	struct mounted m;
	ck_assert_msg(mount_ckpt(&m, prefix, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(ckpt_view_count(m.v), FLOOD_N + 2); /* root, @mapping.json */
	size_t total = 0;
	for (size_t i = 0; i < FLOOD_N; i++) {
		size_t probes = 0;
		uint32_t id = ckpt__view_lookup_probes(m.v, CKPT_VIEW_ROOT, names[i], &probes);
		ck_assert_uint_ne(id, CKPT_VIEW_NONE);
		ck_assert_str_eq(ckpt_view_node(m.v, id)->name, names[i]);
		ck_assert_uint_le(probes, 18); /* ceil(log2(100,002)) + 1 */
		total += probes;
	}
	printf("view: %zu probes for %d lookups\n", total, FLOOD_N);
	unmount_ckpt(&m);
	free_names(names, FLOOD_N);
}
END_TEST

/* ---- the tree from sorted paths ---- */

static void write_scalars(const char *prefix, const char *const *names, size_t n)
{
	ckpt_error err = CKPT_ERROR_INIT;
	ckpt_writer *w;
	float x = 1.0f;
	ck_assert_int_eq(ckpt_writer_open(&w, prefix, &err), 0);
	for (size_t i = 0; i < n; i++)
		ck_assert_int_eq(ckpt_writer_add(w, names[i], CKPT_DT_FLOAT, 0, NULL, &x, 4, &err),
				 0);
	ck_assert_int_eq(ckpt_writer_finish(w, &err), 0);
	ckpt_writer_close(w);
}

/* The names of dir's children, in order, joined by spaces. */
static const char *children_of(const ckpt_view *v, const char *path)
{
	static char out[256];
	uint32_t dir = ckpt_view_resolve_path(v, path);
	ck_assert_uint_ne(dir, CKPT_VIEW_NONE);
	out[0] = '\0';
	for (uint32_t k = 0; k < ckpt_view_node(v, dir)->n_children; k++) {
		const ckpt_node *c = ckpt_view_node(v, ckpt_view_child(v, dir, k));
		ck_assert_uint_eq(c->parent, dir);
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", k ? " " : "",
			 c->name);
	}
	return out;
}

/* Paths sorted as strings are not sorted as trees ("a.b/y" < "a/b/-x" <
 * "a/b/@value" < "a/b/c/x" < "a/bz"), and in npy format "a/b/@value" is
 * "a/b.npy", whose directories stop at "a": directory a/b must still be
 * made once, and every file found where its path says. */
START_TEST(test_tree_from_sorted_paths)
{
	const char *names[] = {"a/b", "a/b/-x", "a/b/c/x", "a.b/y", "a/bz"};
	const char *prefix = tu_path(tu_dir, "t");
	write_scalars(prefix, names, 5);
	ckpt_error err = CKPT_ERROR_INIT;
	struct mounted m;
	ck_assert_msg(mount_format(&m, prefix, "raw", &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(ckpt_view_count(m.v), 11);
	ck_assert_str_eq(children_of(m.v, ""), "@mapping.json a a.b");
	ck_assert_str_eq(children_of(m.v, "a"), "b bz");
	ck_assert_str_eq(children_of(m.v, "a/b"), "-x @value c");
	ck_assert_str_eq(children_of(m.v, "a/b/c"), "x");
	for (size_t i = 0; i < m.plan->n_files; i++)
		ck_assert_ptr_eq(
		    ckpt_view_node(m.v, ckpt_view_resolve_path(m.v, m.plan->files[i].path))->file,
		    &m.plan->files[i]);
	unmount_ckpt(&m);
	ck_assert_msg(mount_format(&m, prefix, "npy", &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(ckpt_view_count(m.v), 11);
	ck_assert_str_eq(children_of(m.v, ""), "@mapping.json a a.b");
	ck_assert_str_eq(children_of(m.v, "a"), "b b.npy bz.npy");
	ck_assert_str_eq(children_of(m.v, "a/b"), "-x.npy c");
	ck_assert_str_eq(children_of(m.v, "a/b/c"), "x.npy");
	ck_assert_str_eq(children_of(m.v, "a.b"), "y.npy");
	unmount_ckpt(&m);
}
END_TEST

/* npy: "x" is x.npy, and "x.npy/y" needs a directory of that name. */
START_TEST(test_tree_clash)
{
	const char *names[] = {"x", "x.npy/y"};
	const char *prefix = tu_path(tu_dir, "t");
	write_scalars(prefix, names, 2);
	ckpt_error err = CKPT_ERROR_INIT;
	struct mounted m;
	ck_assert_int_eq(mount_format(&m, prefix, "npy", &err), CKPT_EINVAL);
	ck_assert_str_eq(err.msg, "x.npy is both a file and a directory");
	unmount_ckpt(&m);
	ck_assert_msg(mount_format(&m, prefix, "raw", &err) == 0, "%s", err.msg);
	ck_assert_str_eq(children_of(m.v, ""), "@mapping.json x x.npy");
	unmount_ckpt(&m);
}
END_TEST

/* ---- deep names ---- */

/* A checkpoint of `tensors` scalars called "<i>/c/c/.../c": `depth`
 * components of `len` bytes below a first one of its own, so that every
 * component is a new directory. Returns the index size. */
static size_t write_deep(const char *prefix, size_t tensors, size_t depth, size_t len)
{
	ckpt_error err = CKPT_ERROR_INIT;
	ckpt_writer *w;
	float x = 1.0f;
	char *name = malloc(16 + depth * (len + 1));
	ck_assert_ptr_nonnull(name);
	ck_assert_int_eq(ckpt_writer_open(&w, prefix, &err), 0);
	for (size_t i = 0; i < tensors; i++) {
		int n = sprintf(name, "t%06zu", i);
		for (size_t d = 0; d < depth; d++) {
			name[n++] = '/';
			for (size_t k = 0; k < len; k++)
				name[n++] = (char)('a' + (d + k) % 26);
		}
		name[n] = '\0';
		ck_assert_int_eq(ckpt_writer_add(w, name, CKPT_DT_FLOAT, 0, NULL, &x, 4, &err), 0);
	}
	ck_assert_int_eq(ckpt_writer_finish(w, &err), 0);
	ckpt_writer_close(w);
	free(name);
	char path[4200];
	snprintf(path, sizeof(path), "%s.index", prefix);
	size_t n;
	uint8_t *idx = tu_read(path, &n);
	free(idx);
	return n;
}

static size_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();
	return mi.uordblks + mi.hblkhd;
}

/* Deep, but within the budget: 4000 tensors x 50 directories of 8 bytes
 * (200,000 directories) build, every path resolves, and the tree, by its
 * own count and by the heap's, takes at most 8x the index + 1 MiB. */
START_TEST(test_deep_names_within_budget)
{
	enum { T = 4000, D = 50, L = 8 };
	const char *prefix = tu_path(tu_dir, "deep");
	size_t index = write_deep(prefix, T, D, L);
	uint64_t bound = (uint64_t)index * CKPT__VIEW_TREE_PER_INDEX_BYTE + CKPT__VIEW_TREE_SLACK;
	ckpt_error err = CKPT_ERROR_INIT;
	struct mounted m;
	size_t before = heap_in_use();
	int rc = mount_ckpt(&m, prefix, &err);
	size_t after = heap_in_use();
	ck_assert_msg(rc == 0, "%s", err.msg);
	/* root, per tensor its own directory, D - 1 more and the file, @mapping.json */
	ck_assert_uint_eq(ckpt_view_count(m.v), 1 + (size_t)T * (D + 1) + 1);
	uint64_t tree = ckpt__view_tree_bytes(m.v);
	printf("index %zu bytes, tree %llu bytes (bound %llu), reader+plan+view %zu bytes\n", index,
	       (unsigned long long)tree, (unsigned long long)bound, after - before);
	ck_assert_uint_le(tree, bound);
	/* the heap also holds the reader and the plan (built in between): count
	 * only the view's part, measured around a second build */
	ckpt_view *v2;
	before = heap_in_use();
	ck_assert_int_eq(ckpt_view_build(&v2, m.r, m.plan, &err), 0);
	after = heap_in_use();
	/* + 9 bytes per tensor for the checksum state, outside the tree */
	ck_assert_uint_le(after - before, bound + (size_t)T * 9 + 4096);
	ckpt_view_free(v2);
	for (size_t i = 0; i < m.plan->n_files; i++) {
		uint32_t id = ckpt_view_resolve_path(m.v, m.plan->files[i].path);
		ck_assert_uint_ne(id, CKPT_VIEW_NONE);
		ck_assert_ptr_eq(ckpt_view_node(m.v, id)->file, &m.plan->files[i]);
	}
	unmount_ckpt(&m);
}
END_TEST

/* The finding's shape: one-byte components (2 bytes of index each, a
 * 40-byte node each). 1000 tensors x 200 directories would take ~20x the
 * index: refused, with a message, before the budget is passed. */
START_TEST(test_deep_names_refused)
{
	const char *prefix = tu_path(tu_dir, "deep");
	write_deep(prefix, 1000, 200, 1);
	ckpt_error err = CKPT_ERROR_INIT;
	struct mounted m;
	int rc = mount_ckpt(&m, prefix, &err);
	ck_assert_int_eq(rc, CKPT_EUNSUPPORTED);
	ck_assert_ptr_null(m.v);
	ck_assert_msg(strstr(err.msg, "too many or too deep names") != NULL, "%s", err.msg);
	ck_assert_msg(strstr(err.msg, prefix) != NULL, "%s", err.msg);
	unmount_ckpt(&m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("names");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, tu_tmpdir_setup, tu_tmpdir_teardown);
	tcase_add_test(tc, test_siphash_vectors);
	tcase_add_test(tc, test_every_table_has_its_own_key);
	tcase_add_test(tc, test_strmap_flood);
	tcase_add_test(tc, test_checkpoint_flood);
	tcase_add_test(tc, test_tree_from_sorted_paths);
	tcase_add_test(tc, test_tree_clash);
	tcase_add_test(tc, test_deep_names_within_budget);
	tcase_add_test(tc, test_deep_names_refused);
	tcase_set_timeout(tc, 300);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
