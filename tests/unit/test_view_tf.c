/*
 * --format tf (the "tf" view format): the mount's ckpt.index and
 * ckpt.data-00000-of-00001 over checkpoints written by ckpt-gen.
 *
 * Oracle: ckpt_writer (byte-exact TF BundleWriter) given the same target
 * tensors the way TF1's Saver saves them: variables sorted by name, each
 * whole variable Add()ed, each part AddSlice()d with explicit extents
 * (TF's partition rule: the first size % n parts get one more row), parts
 * in order. The tensors' bytes come from a raw view of the same plan. The
 * view's two files must equal the writer's two files byte for byte, and
 * reopened with ckpt_reader_open they must list the targets and read back
 * the raw view's files.
 *
 * argv: [ckpt-gen path, tests/data dir]; without them the tests skip.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "ckpt/reader.h"
#include "ckpt/resolve.h"
#include "ckpt/view.h"
#include "ckpt/writer.h"
#include "testutil.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *gen_path, *data_dir;

static void run_gen(const char *json_path, const char *prefix)
{
	tu_run_gen(gen_path, json_path, prefix);
}

typedef struct env {
	ckpt_reader *r;
	ckpt_tensor *t;
	ckpt_plan *plan;
	ckpt_view *raw, *tf;
	ckpt_target_var *targets;
	size_t n_targets;
} env;

static const ckpt_piece *piece_of(void *ctx, size_t tensor, size_t piece)
{
	return ckpt_reader_piece(ctx, tensor, piece);
}

/* Resolve prefix through map (NULL = identity), targets_json (NULL = none)
 * and casts; build a raw and a tf view of the plan. */
static void env_open(env *e, const char *prefix, const char *map_ckpt, const char *map_target,
		     const char *targets_json, const ckpt_cast *casts, size_t ncasts)
{
	ckpt_error err = CKPT_ERROR_INIT;
	memset(e, 0, sizeof(*e));
	ck_assert_msg(ckpt_reader_open(&e->r, prefix, &err) == 0, "%s", err.msg);
	size_t n = ckpt_reader_count(e->r);
	e->t = tu_tensors(e->r);
	ckpt_map_entry ent = {(char *)map_ckpt, (char *)map_target, NULL, 0};
	ckpt_resolve_opts o = CKPT_RESOLVE_OPTS_INIT;
	o.entries = &ent;
	o.n_entries = map_ckpt ? 1 : 0;
	if (targets_json) {
		const char *tp = tu_path(tu_dir, "targets.json");
		tu_write(tp, targets_json, strlen(targets_json));
		ck_assert_msg(ckpt_targets_load_file(tp, &e->targets, &e->n_targets, &err) == 0,
			      "%s", err.msg);
		o.targets = e->targets;
		o.n_targets = e->n_targets;
	}
	o.casts = casts;
	o.n_casts = ncasts;
	o.ckpt_path = prefix;
	o.piece = piece_of;
	o.piece_ctx = e->r;
	ck_assert_msg(ckpt_resolve(&o, e->t, n, &e->plan, &err) == 0, "%s", err.msg);
	ck_assert_msg(ckpt_view_build(&e->raw, e->r, e->plan, &err) == 0, "%s", err.msg);
	ck_assert_msg(ckpt_view_build_format(&e->tf, e->r, e->plan, "tf", &err) == 0, "%s",
		      err.msg);
}

static void env_close(env *e)
{
	ckpt_view_free(e->tf);
	ckpt_view_free(e->raw);
	ckpt_plan_free(e->plan);
	ckpt_targets_free(e->targets, e->n_targets);
	free(e->t);
	ckpt_reader_close(e->r);
}

/* A whole file of a view. */
static uint8_t *read_node(const ckpt_view *v, uint32_t id, size_t *size)
{
	const ckpt_node *nd = ckpt_view_node(v, id);
	ck_assert_ptr_nonnull(nd);
	ck_assert(!nd->is_dir);
	uint8_t *buf = malloc((size_t)nd->size + 1);
	size_t got = 0;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_msg(ckpt_view_read(v, id, 0, buf, (size_t)nd->size + 1, &got, &err) == 0, "%s",
		      err.msg);
	ck_assert_uint_eq(got, nd->size);
	*size = got;
	return buf;
}

/* The raw view's bytes of plan file f. */
static uint8_t *raw_bytes(const env *e, const ckpt_plan_file *f, size_t *size)
{
	for (uint32_t id = 0; id < ckpt_view_count(e->raw); id++)
		if (ckpt_view_node(e->raw, id)->file == f)
			return read_node(e->raw, id, size);
	ck_abort_msg("no raw file for %s", f->file);
	return NULL;
}

static const ckpt_target_var *target_of(const env *e, const char *name)
{
	for (size_t i = 0; i < e->n_targets; i++)
		if (strcmp(e->targets[i].name, name) == 0)
			return &e->targets[i];
	return NULL;
}

/* TF's parts (slices_and_partitions.md §3) of part k. */
static void part_box(const ckpt_target_var *tv, int k, int64_t *start, int64_t *len)
{
	for (int d = 0; d < tv->rank; d++) {
		start[d] = 0;
		len[d] = tv->dims[d];
		if (tv->partitions[d] > 1) {
			int64_t q = tv->dims[d] / tv->partitions[d],
				r = tv->dims[d] % tv->partitions[d];
			len[d] = q + (k < r);
			start[d] = k * q + (k < r ? k : r);
		}
	}
}

/* Raw string file bytes -> the strings (rank 0: the bytes; else u64 length
 * + bytes each). */
static void split_strings(const uint8_t *b, size_t size, int rank, uint64_t n, char ***strs,
			  uint64_t **lens)
{
	*strs = calloc(n ? n : 1, sizeof(char *));
	*lens = calloc(n ? n : 1, sizeof(uint64_t));
	if (rank == 0) {
		(*strs)[0] = (char *)b;
		(*lens)[0] = size;
		return;
	}
	size_t pos = 0;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t l = 0;
		for (int k = 0; k < 8; k++)
			l |= (uint64_t)b[pos + (size_t)k] << (8 * k);
		(*lens)[i] = l;
		(*strs)[i] = (char *)b + pos + 8;
		pos += 8 + (size_t)l;
	}
	ck_assert_uint_eq(pos, size);
}

static int cmp_file(const void *a, const void *b)
{
	const ckpt_plan_file *x = *(const ckpt_plan_file *const *)a;
	const ckpt_plan_file *y = *(const ckpt_plan_file *const *)b;
	int c = strcmp(x->var, y->var);
	return c ? c : (x->part > y->part) - (x->part < y->part);
}

/* The oracle: ckpt_writer fed as TF1's Saver feeds BundleWriter. */
static void write_oracle(const env *e, const char *prefix)
{
	ckpt_writer *w;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_msg(ckpt_writer_open(&w, prefix, &err) == 0, "%s", err.msg);
	const ckpt_plan_file **order = malloc((e->plan->n_files + 1) * sizeof(*order));
	for (size_t i = 0; i < e->plan->n_files; i++)
		order[i] = &e->plan->files[i];
	qsort(order, e->plan->n_files, sizeof(*order), cmp_file);
	for (size_t i = 0; i < e->plan->n_files; i++) {
		const ckpt_plan_file *f = order[i];
		size_t size;
		uint8_t *b = raw_bytes(e, f, &size);
		int rc;
		if (f->dtype == CKPT_DT_STRING) {
			char **s;
			uint64_t *l;
			split_strings(b, size, f->rank, f->num_elements, &s, &l);
			rc = ckpt_writer_add_strings(w, f->var, f->rank, f->shape,
						     (const char *const *)s, l, &err);
			free(s);
			free(l);
		} else if (f->part < 0) {
			rc = ckpt_writer_add(w, f->var, f->dtype, f->rank, f->shape, b, size, &err);
		} else {
			const ckpt_target_var *tv = target_of(e, f->var);
			ck_assert_ptr_nonnull(tv);
			int64_t start[64], len[64];
			part_box(tv, f->part, start, len);
			for (int d = 0; d < f->rank; d++)
				ck_assert_int_eq(len[d], f->shape[d]);
			rc = ckpt_writer_add_slice(w, f->var, f->dtype, f->rank, tv->dims, start,
						   len, b, size, &err);
		}
		ck_assert_msg(rc == 0, "%s: %s", f->file, err.msg);
		free(b);
	}
	free(order);
	ck_assert_msg(ckpt_writer_finish(w, &err) == 0, "%s", err.msg);
	ckpt_writer_close(w);
}

/* The view's file `name` equals the file at path, whole and in ranges. */
static void same_bytes(const env *e, const char *name, const char *path)
{
	uint32_t id = ckpt_view_lookup(e->tf, CKPT_VIEW_ROOT, name);
	ck_assert_msg(id != CKPT_VIEW_NONE, "no %s", name);
	size_t n, m;
	uint8_t *got = read_node(e->tf, id, &n);
	uint8_t *want = tu_read(path, &m);
	ck_assert_msg(n == m, "%s: %zu bytes, the writer wrote %zu", name, n, m);
	for (size_t k = 0; k < n; k++)
		ck_assert_msg(got[k] == want[k], "%s: byte %zu is %02x, want %02x", name, k, got[k],
			      want[k]);
	/* ranges crossing tensor boundaries */
	uint64_t s = 12345;
	uint8_t *buf = malloc(n + 64);
	for (int t = 0; t < 200 && n > 0; t++) {
		s = s * 6364136223846793005ull + 1442695040888963407ull;
		uint64_t off = (s >> 33) % (n + 4), len = (s >> 17) % (t % 3 ? 97 : n + 8);
		size_t g = 0;
		ckpt_error err = CKPT_ERROR_INIT;
		ck_assert_msg(ckpt_view_read(e->tf, id, off, buf, (size_t)len, &g, &err) == 0, "%s",
			      err.msg);
		uint64_t exp = off >= n ? 0 : (off + len > n ? n - off : len);
		ck_assert_uint_eq(g, exp);
		ck_assert_msg(g == 0 || memcmp(buf, want + off, g) == 0, "%s: %llu+%llu differ",
			      name, (unsigned long long)off, (unsigned long long)len);
	}
	free(buf);
	free(got);
	free(want);
}

/* Copy the view's three files to dir/ and open dir with the reader: its
 * `checkpoint` state file names ckpt. */
static ckpt_reader *reopen(const env *e, const char *dir)
{
	mkdir(dir, 0777);
	const char *names[] = {CKPT_VIEW_TF_INDEX, CKPT_VIEW_TF_DATA, CKPT_VIEW_TF_STATE};
	for (size_t i = 0; i < N(names); i++) {
		size_t n;
		uint8_t *b =
		    read_node(e->tf, ckpt_view_lookup(e->tf, CKPT_VIEW_ROOT, names[i]), &n);
		char p[4200];
		snprintf(p, sizeof(p), "%s/%s", dir, names[i]);
		tu_write(p, b, n);
		free(b);
	}
	ckpt_reader *r;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_msg(ckpt_reader_open(&r, dir, &err) == 0, "%s", err.msg);
	return r;
}

/* What the reopened checkpoint lists: `want` lines "name dtype [d,d]". */
static void check_listing(const ckpt_reader *r, const char *const *want, size_t n)
{
	ck_assert_uint_eq(ckpt_reader_count(r), n);
	for (size_t i = 0; i < n; i++) {
		const ckpt_tensor *t = ckpt_reader_tensor(r, i);
		char line[512];
		int k = snprintf(line, sizeof(line), "%s %s [", t->name, ckpt_dtype_name(t->dtype));
		for (int d = 0; d < t->rank; d++)
			k += snprintf(line + k, sizeof(line) - (size_t)k, "%s%lld", d ? "," : "",
				      (long long)t->dims[d]);
		snprintf(line + k, sizeof(line) - (size_t)k, "]");
		ck_assert_str_eq(line, want[i]);
	}
}

/* Every plan file reads back from the reopened checkpoint as the raw view
 * shows it. */
static void check_read_back(const env *e, const ckpt_reader *r)
{
	ckpt_error err = CKPT_ERROR_INIT;
	for (size_t i = 0; i < e->plan->n_files; i++) {
		const ckpt_plan_file *f = &e->plan->files[i];
		size_t ti, size;
		ck_assert_msg(ckpt_reader_find(r, f->var, &ti) == 0, "%s missing", f->var);
		const ckpt_tensor *t = ckpt_reader_tensor(r, ti);
		ck_assert_int_eq(t->dtype, f->dtype);
		uint8_t *want = raw_bytes(e, f, &size);
		if (f->dtype == CKPT_DT_STRING) {
			char **s, **ws;
			uint64_t *l, *wl;
			ck_assert_msg(ckpt_reader_read_strings(r, ti, &s, &l, &err) == 0, "%s",
				      err.msg);
			split_strings(want, size, f->rank, f->num_elements, &ws, &wl);
			for (uint64_t k = 0; k < f->num_elements; k++) {
				ck_assert_uint_eq(l[k], wl[k]);
				ck_assert(memcmp(s[k], ws[k], (size_t)l[k]) == 0);
			}
			ckpt_reader_free_strings(s, l);
			free(ws);
			free(wl);
		} else {
			uint8_t *got = malloc(size + 1);
			const ckpt_target_var *tv = f->part >= 0 ? target_of(e, f->var) : NULL;
			int64_t start[64] = {0}, len[64];
			for (int d = 0; d < f->rank; d++)
				len[d] = f->shape[d];
			if (tv)
				part_box(tv, f->part, start, len);
			ck_assert_msg(ckpt_reader_read_slice(r, ti, start, len, got, size, &err) ==
					  0,
				      "%s: %s", f->file, err.msg);
			ck_assert_msg(memcmp(got, want, size) == 0, "%s reads back different bytes",
				      f->file);
			free(got);
		}
		free(want);
	}
}

/* The whole check for one scenario. */
static void check_tf(const env *e, const char *const *listing, size_t nlisting)
{
	/* the root: exactly the checkpoint, its state file and @mapping.json */
	const ckpt_node *root = ckpt_view_node(e->tf, CKPT_VIEW_ROOT);
	ck_assert_uint_eq(root->n_children, 4);
	const char *names[] = {"@mapping.json", CKPT_VIEW_TF_STATE, CKPT_VIEW_TF_DATA,
			       CKPT_VIEW_TF_INDEX};
	for (uint32_t k = 0; k < N(names); k++)
		ck_assert_str_eq(ckpt_view_node(e->tf, ckpt_view_child(e->tf, 0, k))->name,
				 names[k]);
	/* the state file TF's Saver writes after one save of prefix "ckpt"
	 * (spec/checkpoint_state.md: text format, fields in number order) */
	const char *state = "model_checkpoint_path: \"ckpt\"\n"
			    "all_model_checkpoint_paths: \"ckpt\"\n";
	size_t sn;
	uint8_t *sb = read_node(e->tf, ckpt_view_lookup(e->tf, 0, CKPT_VIEW_TF_STATE), &sn);
	ck_assert_uint_eq(sn, strlen(state));
	ck_assert(memcmp(sb, state, sn) == 0);
	free(sb);

	const char *oracle = tu_path(tu_dir, "oracle/ckpt");
	write_oracle(e, oracle);
	char p[4200];
	snprintf(p, sizeof(p), "%s.index", oracle);
	same_bytes(e, CKPT_VIEW_TF_INDEX, p);
	snprintf(p, sizeof(p), "%s.data-00000-of-00001", oracle);
	same_bytes(e, CKPT_VIEW_TF_DATA, p);

	ckpt_reader *r = reopen(e, tu_path(tu_dir, "copy"));
	check_listing(r, listing, nlisting);
	check_read_back(e, r);
	/* every stored CRC of the copy verifies */
	for (size_t i = 0; i < ckpt_reader_count(r); i++)
		for (size_t k = 0; k < ckpt_reader_tensor(r, i)->num_pieces; k++) {
			ckpt_error err = CKPT_ERROR_INIT;
			ck_assert_msg(ckpt_reader_verify_piece(r, i, k, &err) == 0, "%s", err.msg);
		}
	ckpt_reader_close(r);
	/* the source's checksums, through the data file */
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_msg(
	    ckpt_view_verify(e->tf, ckpt_view_lookup(e->tf, 0, CKPT_VIEW_TF_DATA), &err) == 0, "%s",
	    err.msg);
}

/* The listing of every checkpoint tensor, prefix added, dtype cast. */
static char **source_listing(const env *e, const char *prefix, const ckpt_cast *c, size_t *n)
{
	*n = ckpt_reader_count(e->r);
	char **out = calloc(*n, sizeof(char *));
	for (size_t i = 0; i < *n; i++) {
		const ckpt_tensor *t = ckpt_reader_tensor(e->r, i);
		ckpt_dtype dt = c && t->dtype == c->from ? c->to : t->dtype;
		char line[512];
		int k =
		    snprintf(line, sizeof(line), "%s%s %s [", prefix, t->name, ckpt_dtype_name(dt));
		for (int d = 0; d < t->rank; d++)
			k += snprintf(line + k, sizeof(line) - (size_t)k, "%s%lld", d ? "," : "",
				      (long long)t->dims[d]);
		snprintf(line + k, sizeof(line) - (size_t)k, "]");
		out[i] = strdup(line);
	}
	return out;
}

static void free_listing(char **l, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

/* Generate tests/data/JSON, map it with `scope` ("/" -> scope, or the
 * identity when NULL) and at most one cast; the copy must list exactly the
 * checkpoint's tensors, renamed and re-typed. */
static void source_case(const char *json, const char *scope, const ckpt_cast *cast)
{
	if (gen_path == NULL)
		return;
	const char *ck = tu_path(tu_dir, "src");
	run_gen(tu_path(data_dir, json), ck);
	env e;
	env_open(&e, ck, scope ? "/" : NULL, scope, NULL, cast, cast ? 1 : 0);
	size_t n;
	char **want = source_listing(&e, scope ? scope : "", cast, &n);
	ck_assert_uint_gt(n, 0);
	check_tf(&e, (const char *const *)want, n);
	free_listing(want, n);
	env_close(&e);
}

/* Every numeric dtype and pattern, identity map. */
START_TEST(test_all_dtypes)
{
	source_case("all_dtypes.json", NULL, NULL);
}
END_TEST

/* Renamed into a scope, float32 re-typed to bfloat16. */
START_TEST(test_all_dtypes_cast_bfloat16)
{
	const ckpt_cast c = {CKPT_DT_FLOAT, CKPT_DT_BFLOAT16};
	source_case("all_dtypes.json", "new/", &c);
}
END_TEST

/* String tensors: rank 0..2, empty, binary, random (TF's stored encoding). */
START_TEST(test_strings)
{
	source_case("strings.json", NULL, NULL);
}
END_TEST

/* A sharded source with a partitioned tensor spread over the shards. */
START_TEST(test_shards)
{
	source_case("shards.json", NULL, NULL);
}
END_TEST

static const char mixed_json[] =
    "{\"tensors\": ["
    "{\"name\": \"rows3\", \"dtype\": \"float32\", \"shape\": [10, 3], \"partitions\": [3, 1]},"
    "{\"name\": \"cols2\", \"dtype\": \"int64\", \"shape\": [4, 5], \"partitions\": [1, 2]},"
    "{\"name\": \"blocks\", \"dtype\": \"int32\", \"shape\": [4, 6],"
    " \"slices\": [[[0, 0], [2, 3]], [[0, 3], [2, 3]], [[2, 0], [2, 3]], [[2, 3], [2, 3]]]},"
    "{\"name\": \"half\", \"dtype\": \"float16\", \"shape\": [5, 4], \"pattern\": \"special\"},"
    "{\"name\": \"one\", \"dtype\": \"float32\", \"shape\": [5, 2], \"pattern\": \"random:3\"},"
    "{\"name\": \"dense/kernel\", \"dtype\": \"float32\", \"shape\": [3, 2], \"pattern\": "
    "\"random:9\"},"
    "{\"name\": \"dense/kernel/Adam\", \"dtype\": \"float32\", \"shape\": [3, 2], \"pattern\": "
    "\"const:0.5\"},"
    "{\"name\": \"step\", \"dtype\": \"int64\", \"shape\": [], \"values\": [7]},"
    "{\"name\": \"vocab\", \"dtype\": \"string\", \"shape\": [3], \"values\": [\"a\", \"\", "
    "\"xyz\"]}"
    "]}";

/* Partitioned targets: re-sliced, re-typed, one part covering everything
 * (a plain entry, as TF's IsFullSlice), a variable that is also a scope. */
static const char mixed_targets[] =
    "{\"variables\": ["
    "{\"name\": \"new/rows3\", \"dtype\": \"bfloat16\", \"shape\": [10, 3], \"partitions\": [4, "
    "1]},"
    "{\"name\": \"new/cols2\", \"dtype\": \"int64\", \"shape\": [4, 5], \"partitions\": [1, 2]},"
    "{\"name\": \"new/blocks\", \"dtype\": \"float64\", \"shape\": [4, 6], \"partitions\": [1, 5]},"
    "{\"name\": \"new/half\", \"dtype\": \"float32\", \"shape\": [5, 4], \"partitions\": [2, 1]},"
    "{\"name\": \"new/one\", \"dtype\": \"float32\", \"shape\": [5, 2], \"partitions\": [1, 1]},"
    "{\"name\": \"new/dense/kernel\", \"dtype\": \"bfloat16\", \"shape\": [3, 2], \"partitions\": "
    "[3, 1]},"
    "{\"name\": \"new/dense/kernel/Adam\", \"dtype\": \"float32\", \"shape\": [3, 2]},"
    "{\"name\": \"new/step\", \"dtype\": \"int64\", \"shape\": []},"
    "{\"name\": \"new/vocab\", \"dtype\": \"string\", \"shape\": [3]}"
    "]}";

/* The mixed checkpoint, mapped into new/ onto mixed_targets; its prefix. */
static const char *open_mixed(env *e)
{
	const char *js = tu_path(tu_dir, "mixed.json");
	tu_write(js, mixed_json, strlen(mixed_json));
	const char *ck = tu_path(tu_dir, "mixed");
	run_gen(js, ck);
	env_open(e, ck, "/", "new/", mixed_targets, NULL, 0);
	return ck;
}

START_TEST(test_partitioned_targets)
{
	if (gen_path == NULL)
		return;
	env e;
	open_mixed(&e);
	static const char *const want[] = {
	    "new/blocks float64 [4,6]",
	    "new/cols2 int64 [4,5]",
	    "new/dense/kernel bfloat16 [3,2]",
	    "new/dense/kernel/Adam float32 [3,2]",
	    "new/half float32 [5,4]",
	    "new/one float32 [5,2]",
	    "new/rows3 bfloat16 [10,3]",
	    "new/step int64 []",
	    "new/vocab string [3]",
	};
	check_tf(&e, want, N(want));
	/* the parts are slices in the copy: rows3 as 4 row parts */
	ckpt_reader *r = reopen(&e, tu_path(tu_dir, "copy2"));
	size_t i;
	ck_assert_int_eq(ckpt_reader_find(r, "new/rows3", &i), 0);
	ck_assert(ckpt_reader_tensor(r, i)->partitioned);
	ck_assert_uint_eq(ckpt_reader_tensor(r, i)->num_pieces, 4);
	ck_assert_int_eq(ckpt_reader_piece(r, i, 1)->start[0], 3);
	ck_assert_int_eq(ckpt_reader_piece(r, i, 2)->start[0], 6);
	ck_assert_int_eq(ckpt_reader_find(r, "new/one", &i), 0);
	ck_assert(!ckpt_reader_tensor(r, i)->partitioned);
	ckpt_reader_close(r);
	env_close(&e);
}
END_TEST

/*
 * A corrupt source is refused at build, whatever the mount's --verify
 * says: one byte flipped in each stored piece in turn (parts re-sliced in
 * order, a column split read out of order, 2x2 blocks, strings, a scalar,
 * re-typed ones) fails the build with TF's checksum text naming the
 * tensor; else the index would carry fresh CRCs over the corrupt bytes. A
 * good build leaves every source checked, so reads never check again.
 */
START_TEST(test_corrupt_source)
{
	if (gen_path == NULL)
		return;
	env e;
	const char *ck = open_mixed(&e);
	ck_assert_int_eq(ckpt_view_verified(e.tf, ckpt_view_lookup(e.tf, 0, CKPT_VIEW_TF_DATA)), 1);
	char shard[4200];
	snprintf(shard, sizeof(shard), "%s.data-00000-of-00001", ck);
	size_t flips = 0;
	for (size_t i = 0; i < ckpt_reader_count(e.r); i++) {
		const ckpt_tensor *t = ckpt_reader_tensor(e.r, i);
		for (size_t p = 0; p < t->num_pieces; p++) {
			ckpt_object *obj;
			uint64_t at;
			ck_assert(ckpt_reader_piece_object(e.r, i, p, &obj, &at));
			long last = (long)(at + ckpt_reader_piece(e.r, i, p)->size - 1);
			tu_flip(shard, last);
			ckpt_view *tf = NULL;
			ckpt_error err = CKPT_ERROR_INIT;
			int rc = ckpt_view_build_format(&tf, e.r, e.plan, "tf", &err);
			tu_flip(shard, last);
			ck_assert_msg(rc == CKPT_ECHECKSUM, "%s piece %zu: rc %d %s", t->name, p,
				      rc, err.msg);
			ck_assert_ptr_null(tf);
			char want[300];
			snprintf(want, sizeof(want), "tensor %s", t->name);
			ck_assert_msg(strstr(err.msg, want) &&
					  strstr(err.msg, "Checksum does not match"),
				      "%s", err.msg);
			flips++;
		}
	}
	ck_assert_uint_eq(flips, 3 + 2 + 4 + 6);
	env_close(&e);
}
END_TEST

/*
 * ckpt_view_verify / ckpt_view_verified on the raw view: rows3 is stored
 * as row pieces [0,4) [4,7) [7,10) and read as target parts [0,3) [3,6)
 * [6,8) [8,10). A failed checksum is remembered (also for another file
 * drawing from the piece, and after the bytes are put back); a data file
 * cut short fails the check only while it is short.
 */
START_TEST(test_verify_states)
{
	if (gen_path == NULL)
		return;
	env e;
	const char *ck = open_mixed(&e);
	char shard[4200];
	snprintf(shard, sizeof(shard), "%s.data-00000-of-00001", ck);
	size_t t, size;
	ckpt_object *obj;
	uint64_t at;
	ck_assert_int_eq(ckpt_reader_find(e.r, "rows3", &t), 0);
	ck_assert_int_eq(ckpt_reader_piece(e.r, t, 2)->start[0], 7);
	ck_assert(ckpt_reader_piece_object(e.r, t, 2, &obj, &at));
	long last = (long)(at + ckpt_reader_piece(e.r, t, 2)->size - 1);
	uint8_t *orig = tu_read(shard, &size);
	uint32_t part[4];
	for (int k = 0; k < 4; k++) {
		char path[64];
		snprintf(path, sizeof(path), "new/rows3/part_%d", k);
		part[k] = ckpt_view_resolve_path(e.raw, path);
		ck_assert_uint_ne(part[k], CKPT_VIEW_NONE);
		ck_assert_int_eq(ckpt_view_verified(e.raw, part[k]), 0);
	}
	ck_assert_int_eq(ckpt_view_verified(e.raw, CKPT_VIEW_ROOT), 1);

	tu_flip(shard, last);
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt_view_verify(e.raw, part[0], &err), 0);
	ck_assert_int_eq(ckpt_view_verified(e.raw, part[0]), 1);
	ck_assert_int_eq(ckpt_view_verify(e.raw, part[3], &err), CKPT_ECHECKSUM);
	ck_assert_ptr_nonnull(strstr(err.msg, "rows3"));
	ck_assert_int_eq(ckpt_view_verified(e.raw, part[3]), -1);
	ck_assert_int_eq(ckpt_view_verified(e.raw, part[2]), -1); /* [6,8): pieces 1, 2 */
	ck_assert_int_eq(ckpt_view_verified(e.raw, part[1]), 0);  /* [3,6): piece 1 unchecked */
	tu_flip(shard, last);
	ck_assert_int_eq(ckpt_view_verify(e.raw, part[3], &err), CKPT_ECHECKSUM);
	ck_assert_int_eq(ckpt_view_verify(e.raw, part[2], &err), CKPT_ECHECKSUM);
	ck_assert_int_eq(ckpt_view_verify(e.raw, part[1], &err), 0);

	/* a fresh view: the shard cut short, then whole again */
	ckpt_view *v;
	ck_assert_int_eq(ckpt_view_build(&v, e.r, e.plan, &err), 0);
	tu_truncate(shard, last);
	int rc = ckpt_view_verify(v, part[3], &err);
	ck_assert_msg(rc != 0 && rc != CKPT_ECHECKSUM, "rc %d %s", rc, err.msg);
	ck_assert_int_eq(ckpt_view_verified(v, part[3]), 0);
	tu_write(shard, orig, size);
	ck_assert_msg(ckpt_view_verify(v, part[3], &err) == 0, "%s", err.msg);
	ck_assert_int_eq(ckpt_view_verified(v, part[3]), 1);
	ckpt_view_free(v);
	free(orig);
	env_close(&e);
}
END_TEST

/* Nothing mapped from an empty checkpoint: still a valid empty checkpoint. */
START_TEST(test_empty)
{
	if (gen_path == NULL)
		return;
	const char *js = tu_path(tu_dir, "empty.json");
	tu_write(js, "{\"tensors\": []}", 15);
	const char *ck = tu_path(tu_dir, "empty");
	run_gen(js, ck);
	env e;
	env_open(&e, ck, NULL, NULL, NULL, NULL, 0);
	check_tf(&e, NULL, 0);
	env_close(&e);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc >= 3) {
		gen_path = argv[1];
		data_dir = argv[2];
	}
	Suite *s = suite_create("view_tf");
	TCase *tc = tcase_create("tf");
	tcase_add_checked_fixture(tc, tu_tmpdir_setup, tu_tmpdir_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_all_dtypes);
	tcase_add_test(tc, test_all_dtypes_cast_bfloat16);
	tcase_add_test(tc, test_strings);
	tcase_add_test(tc, test_shards);
	tcase_add_test(tc, test_partitioned_targets);
	tcase_add_test(tc, test_empty);
	tcase_add_test(tc, test_corrupt_source);
	tcase_add_test(tc, test_verify_states);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
