/*
 * Resolver: spec/init_from_checkpoint_semantics.md §3-§11 and
 * slices_and_partitions.md §3-§4. Expected names, specs and error texts are
 * copied from the spec (TF's texts with %s filled in), not from the code.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt/resolve.h"
#include "testutil.h"

#define CK "/ck/model.ckpt"
#define N(a) (sizeof(a) / sizeof((a)[0]))
#define S(x) ((char *)(x))

/* ---- the §10 scenario ---- */

static int64_t d20_2[] = {20, 2}, d50_4[] = {50, 4}, d100[] = {100, 100};
static int64_t p5_1[] = {5, 1};

/* old_scope_2/var3 is stored as 3 row slices: 34, 33, 33 rows. */
static const ckpt_tensor sec10[] = {
    {"old_scope_1/var1", CKPT_DT_FLOAT, 2, d20_2, 40, 1, 0},
    {"old_scope_1/var2", CKPT_DT_FLOAT, 2, d50_4, 200, 1, 0},
    {"old_scope_2/var3", CKPT_DT_FLOAT, 2, d100, 10000, 3, 1},
};

static const ckpt_target_var sec10_store[] = {
    {S("new_scope_1/var1"), CKPT_DT_FLOAT, 2, d20_2, NULL, NULL},
    {S("new_scope_2/var2"), CKPT_DT_FLOAT, 2, d50_4, NULL, NULL},
    {S("new_scope_2/var3"), CKPT_DT_FLOAT, 2, d100, p5_1, NULL},
};

static int64_t pc_start[3][2] = {{0, 0}, {34, 0}, {67, 0}};
static int64_t pc_len[3][2] = {{34, 100}, {33, 100}, {33, 100}};
static int pieces_missing_last; /* drop the third slice */

static const ckpt_piece *var3_pieces(void *ctx, size_t t, size_t p)
{
	static ckpt_piece pc[3];
	(void)ctx;
	if (t != 2 || p >= 3 || (pieces_missing_last && p == 2))
		return NULL;
	pc[p].start = pc_start[p];
	pc[p].length = pc_len[p];
	pc[p].num_elements = (uint64_t)(pc_len[p][0] * pc_len[p][1]);
	pc[p].size = pc[p].num_elements * 4;
	return &pc[p];
}

typedef struct run {
	ckpt_resolve_opts o;
	ckpt_map_entry e[8];
	ckpt_plan *plan;
	ckpt_error err;
	int rc;
} run;

static void run_init(run *r, const ckpt_target_var *tv, size_t ntv)
{
	memset(r, 0, sizeof(*r));
	r->o = (ckpt_resolve_opts)CKPT_RESOLVE_OPTS_INIT;
	r->o.ckpt_path = CK;
	r->o.entries = r->e;
	r->o.targets = tv;
	r->o.n_targets = ntv;
	r->err = (ckpt_error)CKPT_ERROR_INIT;
}

static void add(run *r, const char *k, const char *v)
{
	ckpt_map_entry *e = &r->e[r->o.n_entries++];
	e->ckpt = S(k);
	e->target = S(v);
}

static void go(run *r, const ckpt_tensor *t, size_t n)
{
	r->rc = ckpt_resolve(&r->o, t, n, &r->plan, &r->err);
}

static void expect_err(run *r, const ckpt_tensor *t, size_t n, const char *msg)
{
	go(r, t, n);
	ck_assert_int_eq(r->rc, CKPT_EINVAL);
	ck_assert_ptr_null(r->plan);
	/* TF's text is the first line; a hint may follow after '\n' */
	const char *nl = strchr(r->err.msg, '\n');
	size_t len = nl ? (size_t)(nl - r->err.msg) : strlen(r->err.msg);
	ck_assert_msg(len == strlen(msg) && strncmp(r->err.msg, msg, len) == 0,
		      "got \"%s\", want \"%s\"", r->err.msg, msg);
}

static void expect_ok(run *r, const ckpt_tensor *t, size_t n, size_t files)
{
	go(r, t, n);
	ck_assert_msg(r->rc == 0, "rc %d: %s", r->rc, r->err.msg);
	ck_assert_uint_eq(r->plan->n_files, files);
}

static void file_is(const ckpt_plan *p, size_t i, const char *file, const char *source,
		    const char *spec)
{
	ck_assert_uint_lt(i, p->n_files);
	ck_assert_str_eq(p->files[i].file, file);
	ck_assert_str_eq(p->files[i].source_name, source);
	ck_assert_str_eq(p->files[i].spec, spec);
}

static int starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static void done(run *r)
{
	ckpt_plan_free(r->plan);
}

START_TEST(test_sec10_scope_to_scope)
{
	run r;
	run_init(&r, sec10_store, N(sec10_store));
	add(&r, "old_scope_1/", "new_scope_1/");
	expect_ok(&r, sec10, N(sec10), 1);
	file_is(r.plan, 0, "new_scope_1/var1", "old_scope_1/var1", "");
	ck_assert_str_eq(r.plan->files[0].var, "new_scope_1/var1");
	ck_assert_int_eq(r.plan->files[0].part, -1);
	ck_assert_uint_eq(r.plan->files[0].source, 0);
	ck_assert_uint_eq(r.plan->files[0].size, 160);
	ck_assert_int_eq(r.plan->files[0].length[0], 20);
	ck_assert_int_eq(r.plan->files[0].length[1], 2);
	done(&r);
}
END_TEST

START_TEST(test_sec10_one_to_one_pair)
{
	run r;
	run_init(&r, sec10_store, N(sec10_store));
	add(&r, "old_scope_1/var2", "new_scope_2/var2");
	add(&r, "old_scope_1/var1", "new_scope_1/var1");
	expect_ok(&r, sec10, N(sec10), 2);
	file_is(r.plan, 0, "new_scope_1/var1", "old_scope_1/var1", "");
	file_is(r.plan, 1, "new_scope_2/var2", "old_scope_1/var2", "");
	done(&r);
}
END_TEST

static const char *const var3_specs[5] = {"100 100 0,20:0,100", "100 100 20,20:0,100",
					  "100 100 40,20:0,100", "100 100 60,20:0,100",
					  "100 100 80,20:0,100"};

static void check_var3_parts(const ckpt_plan *p)
{
	for (size_t i = 0; i < 5; i++) {
		char name[64];
		snprintf(name, sizeof(name), "new_scope_2/var3/part_%zu", i);
		file_is(p, i, name, "old_scope_2/var3", var3_specs[i]);
		ck_assert_str_eq(p->files[i].var, "new_scope_2/var3");
		ck_assert_int_eq(p->files[i].part, (int)i);
		ck_assert_int_eq(p->files[i].shape[0], 20);
		ck_assert_int_eq(p->files[i].shape[1], 100);
		ck_assert_int_eq(p->files[i].start[0], (int64_t)(20 * i));
		ck_assert_int_eq(p->files[i].start[1], 0);
		ck_assert_uint_eq(p->files[i].size, 8000);
	}
}

START_TEST(test_sec10_tensor_onto_partitioned)
{
	run r;
	run_init(&r, sec10_store, N(sec10_store));
	r.o.piece = var3_pieces;
	add(&r, "old_scope_2/var3", "new_scope_2/var3");
	expect_ok(&r, sec10, N(sec10), 5);
	check_var3_parts(r.plan);
	done(&r);
}
END_TEST

START_TEST(test_sec10_list_of_parts)
{
	/* {'old_scope_2/var3': list(var3)}: same as the name form */
	char *parts[5] = {S("new_scope_2/var3/part_0"), S("new_scope_2/var3/part_1"),
			  S("new_scope_2/var3/part_2"), S("new_scope_2/var3/part_3"),
			  S("new_scope_2/var3/part_4")};
	run r;
	run_init(&r, sec10_store, N(sec10_store));
	r.e[0].ckpt = S("old_scope_2/var3");
	r.e[0].target_list = parts;
	r.e[0].n_target_list = 5;
	r.o.n_entries = 1;
	expect_ok(&r, sec10, N(sec10), 5);
	check_var3_parts(r.plan);
	done(&r);
}
END_TEST

START_TEST(test_sec10_scope_not_found)
{
	run r;
	run_init(&r, sec10_store, N(sec10_store));
	add(&r, "old_scope_1/", "new_scope_2/");
	expect_err(&r, sec10, N(sec10),
		   "Tensor old_scope_1/var3 (var3 in old_scope_1/) is not "
		   "found in " CK " checkpoint");
}
END_TEST

START_TEST(test_sec10_scope_only_name)
{
	run r;
	run_init(&r, sec10_store, N(sec10_store));
	add(&r, "old_scope_1/var1", "new_scope_1/varX");
	expect_err(&r, sec10, N(sec10),
		   "Assignment map with scope only name new_scope_1 should "
		   "map to scope only old_scope_1/var1. Should be 'scope/': "
		   "'other_scope/'.");
}
END_TEST

START_TEST(test_one_to_one_not_found_dict)
{
	run r;
	run_init(&r, sec10_store, N(sec10_store));
	add(&r, "old_scope_1/varZ", "new_scope_1/var1");
	expect_err(&r, sec10, N(sec10),
		   "Tensor old_scope_1/varZ is not found in " CK " checkpoint "
		   "{'old_scope_1/var1': [20, 2], 'old_scope_1/var2': [50, 4], "
		   "'old_scope_2/var3': [100, 100]}");
	/* §5.1: a key ending in '/' fails here when the value is a variable */
	run_init(&r, sec10_store, N(sec10_store));
	add(&r, "old_scope_1/", "new_scope_1/var1");
	go(&r, sec10, N(sec10));
	ck_assert_int_eq(r.rc, CKPT_EINVAL);
	ck_assert_msg(starts(r.err.msg, "Tensor old_scope_1/ is not found in " CK
					" checkpoint {'old_scope_1/var1': [20, 2]"),
		      "%s", r.err.msg);
}
END_TEST

START_TEST(test_one_to_one_shape_mismatch)
{
	run r;
	run_init(&r, sec10_store, N(sec10_store));
	add(&r, "old_scope_1/var2", "new_scope_1/var1");
	expect_err(&r, sec10, N(sec10),
		   "Shape of variable new_scope_1/var1:0 ((20, 2)) doesn't "
		   "match with shape of tensor old_scope_1/var2 ([50, 4]) from "
		   "checkpoint reader.");
	/* a part named directly is a single variable: restored whole */
	run_init(&r, sec10_store, N(sec10_store));
	add(&r, "old_scope_2/var3", "new_scope_2/var3/part_1");
	expect_err(&r, sec10, N(sec10),
		   "Shape of variable new_scope_2/var3/part_1:0 ((20, 100)) "
		   "doesn't match with shape of tensor old_scope_2/var3 "
		   "([100, 100]) from checkpoint reader.");
}
END_TEST

static int64_t d10[] = {10}, p2[] = {2}, d3[] = {3}, d4[] = {4};

START_TEST(test_slices_same_tensor)
{
	static const ckpt_target_var store[] = {
	    {S("a"), CKPT_DT_FLOAT, 1, d10, p2, NULL},
	    {S("b"), CKPT_DT_FLOAT, 1, d10, p2, NULL},
	    {S("c"), CKPT_DT_FLOAT, 1, d10, NULL, NULL},
	};
	static const ckpt_tensor t[] = {{"w", CKPT_DT_FLOAT, 1, d10, 10, 1, 0}};
	char *mixed[2] = {S("a/part_0"), S("b/part_1")};
	char *whole[1] = {S("c")};
	run r;
	run_init(&r, store, N(store));
	r.e[0].ckpt = S("w");
	r.e[0].target_list = mixed;
	r.e[0].n_target_list = 2;
	r.o.n_entries = 1;
	expect_err(&r, t, 1, "Slices must all be from the same tensor: a != b");

	run_init(&r, store, N(store));
	r.e[0].ckpt = S("w");
	r.e[0].target_list = whole;
	r.e[0].n_target_list = 1;
	r.o.n_entries = 1;
	go(&r, t, 1);
	ck_assert_int_eq(r.rc, CKPT_EINVAL);
	ck_assert_ptr_nonnull(strstr(r.err.msg, "AttributeError: 'NoneType' "
						"object has no attribute 'full_name'"));

	/* an empty list passes the name check and restores nothing */
	run_init(&r, store, N(store));
	r.e[0].ckpt = S("w");
	r.e[0].target_list = whole;
	r.e[0].n_target_list = 0;
	r.o.n_entries = 1;
	expect_ok(&r, t, 1, 0);
	done(&r);
}
END_TEST

/* A small store and checkpoint for the '/' forms and quirks. */
static int64_t d2[] = {2};
#define F1(n)                                                                                      \
	{                                                                                          \
		n, CKPT_DT_FLOAT, 1, d2, 2, 1, 0                                                   \
	}
#define V1(n)                                                                                      \
	{                                                                                          \
		S(n), CKPT_DT_FLOAT, 1, d2, NULL, NULL                                             \
	}

START_TEST(test_root_forms)
{
	static const ckpt_target_var store[] = {V1("new/x"), V1("new/s/y"), V1("z")};
	static const ckpt_tensor t[] = {F1("x"),	   F1("s/y"),	F1("old/new/x"),
					F1("old/new/s/y"), F1("old/z"), F1("new/x"),
					F1("new/s/y"),	   F1("z")};
	run r;
	/* {'/': 'new/'} maps new/x -> x */
	run_init(&r, store, N(store));
	add(&r, "/", "new/");
	expect_ok(&r, t, N(t), 2);
	file_is(r.plan, 0, "new/s/y", "s/y", "");
	file_is(r.plan, 1, "new/x", "x", "");
	done(&r);
	/* {'old/': '/'} maps x -> old/x */
	run_init(&r, store, N(store));
	add(&r, "old/", "/");
	expect_ok(&r, t, N(t), 3);
	file_is(r.plan, 0, "new/s/y", "old/new/s/y", "");
	file_is(r.plan, 1, "new/x", "old/new/x", "");
	file_is(r.plan, 2, "z", "old/z", "");
	done(&r);
	/* {'/': '/'}: every variable from the same name */
	run_init(&r, store, N(store));
	add(&r, "/", "/");
	expect_ok(&r, t, N(t), 3);
	file_is(r.plan, 0, "new/s/y", "new/s/y", "");
	file_is(r.plan, 1, "new/x", "new/x", "");
	file_is(r.plan, 2, "z", "z", "");
	done(&r);
	/* no map at all = identity */
	run_init(&r, store, N(store));
	expect_ok(&r, t, N(t), 3);
	file_is(r.plan, 2, "z", "z", "");
	done(&r);
	/* {'old/': '/'} on a variable missing as old/...: the middle part
	 * is var_name[len(scopes)+1:] with scopes "" */
	static const ckpt_target_var store2[] = {V1("ab/c")};
	run_init(&r, store2, 1);
	add(&r, "old/", "/");
	expect_err(&r, t, N(t), "Tensor old/ab/c (b/c in old/) is not found in " CK " checkpoint");
}
END_TEST

START_TEST(test_as_is)
{
	/* no map at all: names TF's {'/': '/'} walk would cut at "/part_"
	 * ("Tensor tagger (agger in /) is not found") or strip of a trailing
	 * '/' are files of their own name; casts still apply */
	static const ckpt_tensor t[] = {F1("tagger/part_of_speech/embeddings"),
					F1("ends/"),
					{"ends", CKPT_DT_INT32, 1, d3, 3, 1, 0}};
	static const ckpt_cast half = {CKPT_DT_FLOAT, CKPT_DT_HALF};
	run r;
	run_init(&r, NULL, 0);
	expect_err(&r, t, N(t), "Tensor tagger (agger in /) is not found in " CK " checkpoint");
	run_init(&r, NULL, 0);
	r.o.as_is = 1;
	r.o.casts = &half;
	r.o.n_casts = 1;
	expect_ok(&r, t, N(t), 3);
	file_is(r.plan, 0, "ends", "ends", "");
	file_is(r.plan, 1, "ends/", "ends/", "");
	file_is(r.plan, 2, "tagger/part_of_speech/embeddings", "tagger/part_of_speech/embeddings",
		"");
	ck_assert_str_eq(r.plan->files[0].path, "ends/@value");
	ck_assert_str_eq(r.plan->files[1].path, "ends/@=");
	ck_assert_uint_eq(r.plan->files[0].source, 2);
	ck_assert_int_eq(r.plan->files[0].dtype, CKPT_DT_INT32);
	ck_assert_uint_eq(r.plan->files[0].size, 12);
	ck_assert_int_eq(r.plan->files[2].dtype, CKPT_DT_HALF);
	ck_assert_uint_eq(r.plan->files[2].size, 4);
	done(&r);
	/* it is "no map": entries or targets with it are a caller's bug */
	run_init(&r, NULL, 0);
	r.o.as_is = 1;
	add(&r, "/", "/");
	go(&r, t, N(t));
	ck_assert_int_eq(r.rc, CKPT_EINVAL);
	ck_assert_ptr_null(r.plan);
}
END_TEST

START_TEST(test_no_trailing_slash_quirks)
{
	static const ckpt_target_var store[] = {V1("a/b/x"), V1("a/c/y"), V1("new/x")};
	static const ckpt_tensor t[] = {F1("old/b/x"), F1("old/c/y"), F1("old/new/x"), F1("old/x")};
	run r;
	/* {'old/': 'a/b'}: scopes = 'a', so all of a/ is mapped */
	run_init(&r, store, N(store));
	add(&r, "old/", "a/b");
	expect_ok(&r, t, N(t), 2);
	file_is(r.plan, 0, "a/b/x", "old/b/x", "");
	file_is(r.plan, 1, "a/c/y", "old/c/y", "");
	done(&r);
	/* {'old/': 'new'}: scopes = '', the first character is dropped */
	static const ckpt_target_var store2[] = {V1("new/x")};
	run_init(&r, store2, 1);
	add(&r, "old/", "new");
	expect_err(&r, t, N(t), "Tensor old/ew/x (ew/x in old/) is not found in " CK " checkpoint");
	/* {'old': 'new/'} */
	run_init(&r, store, N(store));
	add(&r, "old", "new/");
	expect_err(&r, t, N(t),
		   "Assignment map with scope only name new should map to "
		   "scope only old. Should be 'scope/': 'other_scope/'.");
	/* a scope matching nothing is silently a no-op */
	run_init(&r, store, N(store));
	add(&r, "old/", "nothing_here/");
	expect_ok(&r, t, N(t), 0);
	done(&r);
	/* new/ must not match newer/ (scope boundary at '/') */
	static const ckpt_target_var store3[] = {V1("newer/x"), V1("new/x")};
	run_init(&r, store3, 2);
	add(&r, "old/", "new/");
	expect_ok(&r, t, N(t), 1);
	file_is(r.plan, 0, "new/x", "old/x", "");
	done(&r);
}
END_TEST

START_TEST(test_part_collapse_quirks)
{
	static const ckpt_target_var store[] = {V1("a/part_x/w")};
	static const ckpt_tensor t[] = {F1("old/w")};
	static const ckpt_tensor t2[] = {F1("old")};
	run r;
	run_init(&r, store, 1);
	add(&r, "old/", "a/");
	expect_err(&r, t, 1, "Tensor old ( in old/) is not found in " CK " checkpoint");
	run_init(&r, store, 1);
	add(&r, "old/", "a/");
	go(&r, t2, 1);
	ck_assert_int_eq(r.rc, CKPT_EINVAL);
	ck_assert_ptr_nonnull(strstr(r.err.msg, "AttributeError: 'NoneType' "
						"object has no attribute 'dtype'"));
}
END_TEST

START_TEST(test_scope_onto_partitioned)
{
	/* {'old/w/': 'new/w/'} with new/w partitioned -> parts from old/w;
	 * a slot of a part collapses into new/w and is not restored */
	static int64_t d6_2[] = {6, 2}, p3_1[] = {3, 1};
	static const ckpt_target_var store[] = {
	    {S("new/w"), CKPT_DT_FLOAT, 2, d6_2, p3_1, NULL},
	    {S("new/w/part_0/Adam"), CKPT_DT_FLOAT, 2, d6_2, NULL, NULL},
	};
	static const ckpt_tensor t[] = {{"old/w", CKPT_DT_FLOAT, 2, d6_2, 12, 1, 0}};
	run r;
	run_init(&r, store, N(store));
	add(&r, "old/w/", "new/w/");
	expect_ok(&r, t, 1, 3);
	file_is(r.plan, 0, "new/w/part_0", "old/w", "6 2 0,2:0,2");
	file_is(r.plan, 1, "new/w/part_1", "old/w", "6 2 2,2:0,2");
	file_is(r.plan, 2, "new/w/part_2", "old/w", "6 2 4,2:0,2");
	done(&r);
	run_init(&r, store, N(store));
	add(&r, "old/", "new/");
	expect_ok(&r, t, 1, 3);
	done(&r);
}
END_TEST

START_TEST(test_slot_variables)
{
	static const ckpt_target_var store[] = {V1("new/w"), V1("new/w/Adam"), V1("new/w/Adam_1"),
						V1("x")};
	static const ckpt_tensor t[] = {F1("old/w"), F1("old/w/Adam"), F1("old/w/Adam_1")};
	run r;
	run_init(&r, store, N(store));
	add(&r, "old/", "new/");
	expect_ok(&r, t, N(t), 3);
	file_is(r.plan, 0, "new/w", "old/w", "");
	file_is(r.plan, 1, "new/w/Adam", "old/w/Adam", "");
	file_is(r.plan, 2, "new/w/Adam_1", "old/w/Adam_1", "");
	done(&r);
	/* slots fall under the scope and must exist */
	run_init(&r, store, N(store));
	add(&r, "old/", "new/");
	expect_err(&r, t, 2,
		   "Tensor old/w/Adam_1 (w/Adam_1 in old/) is not found in " CK " checkpoint");
	/* inferred: the slots come along */
	run_init(&r, NULL, 0);
	add(&r, "old/", "new/");
	expect_ok(&r, t, N(t), 3);
	file_is(r.plan, 2, "new/w/Adam_1", "old/w/Adam_1", "");
	done(&r);
}
END_TEST

START_TEST(test_tf2_object_names)
{
	static const ckpt_tensor t[] = {
	    {"_CHECKPOINTABLE_OBJECT_GRAPH", CKPT_DT_STRING, 0, NULL, 1, 1, 0},
	    F1("model/layer_with_weights-0/kernel/.ATTRIBUTES/"
	       "VARIABLE_VALUE"),
	    F1("model/layer_with_weights-0/kernel/.OPTIMIZER_SLOT/"
	       "optimizer/m/.ATTRIBUTES/VARIABLE_VALUE"),
	};
	run r;
	run_init(&r, NULL, 0);
	add(&r, "model/", "net/");
	expect_ok(&r, t, N(t), 2);
	file_is(r.plan, 0, "net/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE",
		"model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE", "");
	done(&r);
	static const ckpt_target_var store[] = {V1("dense/kernel")};
	run_init(&r, store, 1);
	add(&r, "model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE", "dense/kernel");
	expect_ok(&r, t, N(t), 1);
	file_is(r.plan, 0, "dense/kernel",
		"model/layer_with_weights-0/kernel/.ATTRIBUTES/VARIABLE_VALUE", "");
	done(&r);
	/* identity: the object graph (a string) is a file too, size unknown */
	run_init(&r, NULL, 0);
	expect_ok(&r, t, N(t), 3);
	file_is(r.plan, 0, "_CHECKPOINTABLE_OBJECT_GRAPH", "_CHECKPOINTABLE_OBJECT_GRAPH", "");
	ck_assert_int_eq(r.plan->files[0].size_known, 0);
	ck_assert_int_eq(r.plan->files[0].rank, 0);
	done(&r);
}
END_TEST

/* The shown path of the file called `file` in p (fails when none). */
static const char *path_of(const ckpt_plan *p, const char *file)
{
	for (size_t i = 0; i < p->n_files; i++)
		if (strcmp(p->files[i].file, file) == 0)
			return p->files[i].path;
	ck_abort_msg("no file %s in the plan", file);
	return NULL;
}

#define OG                                                                                         \
	{                                                                                          \
		"_CHECKPOINTABLE_OBJECT_GRAPH", CKPT_DT_STRING, 0, NULL, 1, 1, 0                   \
	}
#define VV "/.ATTRIBUTES/VARIABLE_VALUE"

/* README "TF2 checkpoints": each key and the path the readable tree shows
 * it at, written from the README's rules. */
static const char *const tf2_paths[][2] = {
    {"_CHECKPOINTABLE_OBJECT_GRAPH", "_CHECKPOINTABLE_OBJECT_GRAPH"},
    {"a" VV, "a/@value"}, /* a variable that is also a scope */
    {"a/b" VV, "a/b"},
    {"a/b/.OPTIMIZER_SLOT/optimizer/m" VV, "a/b@slots/optimizer/m"},
    {"a/b/.OPTIMIZER_SLOT/optimizer/base/v" VV, "a/b@slots/optimizer/base/v"},
    {"a/.OPTIMIZER_SLOT/opt/m" VV, "a@slots/opt/m"},
    {"k/.OPTIMIZER_SLOT//m" VV, "k@slots/@=/m"}, /* the root as the optimizer */
    {"net/.ATTRIBUTES/OBJECT_CONFIG_JSON", "net/@OBJECT_CONFIG_JSON"},
    {"/.ATTRIBUTES/py_state", "@py_state"}, /* the root's attribute */
    {"a..b/x.Sy" VV, "a..b/x.Sy"},	    /* TF's own escapes stay */
    {"x@slots" VV, "@=x@slots"},	    /* a real name ending in @slots */
    {"q/x@slots/.ATTRIBUTES/table", "q/@=x@slots/@table"},
    {"@w" VV, "@=@w/@value"},
    /* no readable form: literal */
    {"@w/.OPTIMIZER_SLOT/o/m" VV, "@=@w/.OPTIMIZER_SLOT/o/m/.ATTRIBUTES/VARIABLE_VALUE"},
    {"/.ATTRIBUTES/VARIABLE_VALUE", "@=/.ATTRIBUTES/VARIABLE_VALUE"},
    {".ATTRIBUTES/VARIABLE_VALUE", ".ATTRIBUTES/VARIABLE_VALUE"},
    {"t/.ATTRIBUTES/value", "t/.ATTRIBUTES/value"},
    {"t/.ATTRIBUTES/=x", "t/.ATTRIBUTES/=x"},
    {"t/.ATTRIBUTES/", "t/.ATTRIBUTES/@="},
    {"t/.ATTRIBUTES/a/.ATTRIBUTES/b", "t/.ATTRIBUTES/a/.ATTRIBUTES/b"},
    {"s/.OPTIMIZER_SLOT/m" VV, "s/.OPTIMIZER_SLOT/m/.ATTRIBUTES/VARIABLE_VALUE"},
    {"u/.OPTIMIZER_SLOT/o/.OPTIMIZER_SLOT/m" VV,
     "u/.OPTIMIZER_SLOT/o/.OPTIMIZER_SLOT/m/.ATTRIBUTES/VARIABLE_VALUE"},
    /* a clash with a key of its own: the TF2 one keeps its literal path */
    {"c", "c/@value"},
    {"c" VV, "c/.ATTRIBUTES/VARIABLE_VALUE"},
    {"d/e", "d/e"},
    {"d/e@slots/o/m", "d/@=e@slots/o/m"}, /* in a readable tree */
};

START_TEST(test_tf2_readable_paths)
{
	ckpt_tensor t[N(tf2_paths)];
	for (size_t i = 0; i < N(tf2_paths); i++)
		t[i] = (ckpt_tensor)F1(tf2_paths[i][0]);
	t[0] = (ckpt_tensor)OG;
	run r;
	run_init(&r, NULL, 0);
	r.o.as_is = 1;
	expect_ok(&r, t, N(t), N(t));
	ck_assert_int_eq(r.plan->tf2_names, 1);
	for (size_t i = 0; i < N(tf2_paths); i++)
		ck_assert_str_eq(path_of(r.plan, tf2_paths[i][0]), tf2_paths[i][1]);
	/* names, sources: the keys */
	for (size_t i = 0; i < r.plan->n_files; i++) {
		ck_assert_str_eq(r.plan->files[i].var, r.plan->files[i].file);
		ck_assert_str_eq(r.plan->files[i].source_name, r.plan->files[i].file);
	}
	done(&r);
	/* --names key, or a checkpoint without an object graph: literal */
	for (int k = 0; k < 2; k++) {
		run_init(&r, NULL, 0);
		r.o.as_is = 1;
		r.o.names_key = k == 0;
		expect_ok(&r, t + k, N(t) - (size_t)k, N(t) - (size_t)k);
		ck_assert_int_eq(r.plan->tf2_names, 0);
		ck_assert_str_eq(path_of(r.plan, "a/b" VV), "a/b/.ATTRIBUTES/VARIABLE_VALUE");
		ck_assert_str_eq(path_of(r.plan, "a" VV), "a/.ATTRIBUTES/VARIABLE_VALUE");
		ck_assert_str_eq(path_of(r.plan, "x@slots" VV),
				 "x@slots/.ATTRIBUTES/VARIABLE_VALUE");
		ck_assert_str_eq(path_of(r.plan, "d/e@slots/o/m"), "d/e@slots/o/m");
		ck_assert_str_eq(path_of(r.plan, "c"), "c/@value");
		done(&r);
	}
}
END_TEST

/* Target names after the map are what is shown readably; a partitioned
 * variable's parts stay together, also when they fall back. */
START_TEST(test_tf2_readable_targets)
{
	static int64_t d4_2[] = {4, 2}, p2_1[] = {2, 1};
	static const ckpt_tensor t[] = {OG,
					{"m/u" VV, CKPT_DT_FLOAT, 2, d4_2, 8, 1, 0},
					{"m/v" VV, CKPT_DT_FLOAT, 2, d4_2, 8, 1, 0},
					{"m/w" VV, CKPT_DT_FLOAT, 2, d4_2, 8, 1, 0}};
	static const ckpt_target_var store[] = {
	    {S("n/w" VV), CKPT_DT_FLOAT, 2, d4_2, p2_1, NULL},
	    {S("n/v" VV), CKPT_DT_FLOAT, 2, d4_2, p2_1, NULL},
	    {S("n/v/part_1" VV), CKPT_DT_FLOAT, 2, d4_2, NULL, NULL},
	};
	run r;
	run_init(&r, NULL, 0);
	add(&r, "m/", "net/");
	expect_ok(&r, t, N(t), 3);
	ck_assert_str_eq(path_of(r.plan, "net/w" VV), "net/w");
	ck_assert_str_eq(r.plan->files[2].var, "net/w" VV);
	ck_assert_str_eq(r.plan->files[2].source_name, "m/w" VV);
	done(&r);
	/* n/v's part_1 and the variable n/v/part_1 would both be n/v/part_1 */
	run_init(&r, store, N(store));
	add(&r, "m/w" VV, "n/w" VV);
	add(&r, "m/v" VV, "n/v" VV);
	add(&r, "m/u" VV, "n/v/part_1" VV);
	expect_ok(&r, t, N(t), 5);
	ck_assert_str_eq(path_of(r.plan, "n/w" VV "/part_0"), "n/w/part_0");
	ck_assert_str_eq(path_of(r.plan, "n/w" VV "/part_1"), "n/w/part_1");
	ck_assert_str_eq(path_of(r.plan, "n/v" VV "/part_0"),
			 "n/v/.ATTRIBUTES/VARIABLE_VALUE/part_0");
	ck_assert_str_eq(path_of(r.plan, "n/v" VV "/part_1"),
			 "n/v/.ATTRIBUTES/VARIABLE_VALUE/part_1");
	ck_assert_str_eq(path_of(r.plan, "n/v/part_1" VV), "n/v/part_1/.ATTRIBUTES/VARIABLE_VALUE");
	done(&r);
}
END_TEST

/* ---- partition maths (slices_and_partitions.md §3) ---- */

static void parts_case(int rank, int64_t *dims, int64_t *parts, size_t nfiles,
		       const char *const *specs)
{
	ckpt_target_var v = {S("x"), CKPT_DT_FLOAT, rank, dims, parts, NULL};
	ckpt_tensor t = {"x", CKPT_DT_FLOAT, rank, dims, 0, 1, 0};
	run r;
	run_init(&r, &v, 1);
	expect_ok(&r, &t, 1, nfiles);
	for (size_t i = 0; i < nfiles; i++) {
		char name[32];
		snprintf(name, sizeof(name), "x/part_%zu", i);
		file_is(r.plan, i, name, "x", specs[i]);
	}
	done(&r);
}

START_TEST(test_partition_offsets)
{
	static int64_t d10_3[] = {10, 3}, p3_1[] = {3, 1};
	static const char *const s10_3[] = {"10 3 0,4:0,3", "10 3 4,3:0,3", "10 3 7,3:0,3"};
	parts_case(2, d10_3, p3_1, 3, s10_3);
	parts_case(2, d100, p5_1, 5, var3_specs);
	static int64_t d4_10[] = {4, 10}, p1_3[] = {1, 3};
	static const char *const s4_10[] = {"4 10 0,4:0,4", "4 10 0,4:4,3", "4 10 0,4:7,3"};
	parts_case(2, d4_10, p1_3, 3, s4_10);
	/* [1, 1]: one part covering everything */
	static int64_t p1_1[] = {1, 1};
	static const char *const s_one[] = {"10 3 0,10:0,3"};
	parts_case(2, d10_3, p1_1, 1, s_one);
	/* 12 parts: part_10 and part_11 come after part_9 */
	static int64_t d12[] = {12}, p12[] = {12};
	static const char *const s12[] = {"12 0,1", "12 1,1", "12 2,1",	 "12 3,1",
					  "12 4,1", "12 5,1", "12 6,1",	 "12 7,1",
					  "12 8,1", "12 9,1", "12 10,1", "12 11,1"};
	parts_case(1, d12, p12, 12, s12);
	/* [7] in 3 -> 3,2,2; rank 3 on the middle axis */
	static int64_t d7[] = {7}, p3[] = {3};
	static const char *const s7[] = {"7 0,3", "7 3,2", "7 5,2"};
	parts_case(1, d7, p3, 3, s7);
	static int64_t d2_5_3[] = {2, 5, 3}, p1_2_1[] = {1, 2, 1};
	static const char *const s253[] = {"2 5 3 0,2:0,3:0,3", "2 5 3 0,2:3,2:0,3"};
	parts_case(3, d2_5_3, p1_2_1, 2, s253);
}
END_TEST

START_TEST(test_partition_errors)
{
	static int64_t p0_1[] = {0, 1}, p2_2[] = {2, 2}, p4[] = {4};
	static const ckpt_tensor t[] = {{"x", CKPT_DT_FLOAT, 2, d100, 10000, 1, 0}};
	ckpt_target_var v = {S("x"), CKPT_DT_FLOAT, 2, d100, p0_1, NULL};
	run r;
	run_init(&r, &v, 1);
	expect_err(&r, t, 1,
		   "target variable x: Partitioner returned zero "
		   "partitions for some axes: [0, 1]");
	v.partitions = p2_2;
	run_init(&r, &v, 1);
	expect_err(&r, t, 1,
		   "target variable x: Can only slice a variable "
		   "along one dimension: shape: (100, 100), partitioning: "
		   "[2, 2]");
	ckpt_target_var s = {S("x"), CKPT_DT_FLOAT, 0, NULL, p4, NULL};
	run_init(&r, &s, 1);
	expect_err(&r, t, 1,
		   "target variable x: A partitioned Variable must "
		   "have rank at least 1, shape: ()");
	/* more parts than rows: the empty part fails at restore */
	ckpt_target_var w = {S("x"), CKPT_DT_FLOAT, 1, d3, p4, NULL};
	static const ckpt_tensor t3[] = {{"x", CKPT_DT_FLOAT, 1, d3, 3, 1, 0}};
	run_init(&r, &w, 1);
	expect_err(&r, t3, 1,
		   "Expected non-negative start and positive "
		   "length but got start = 3, length = 0: string = 3,0");
	/* two variables with one name */
	static const ckpt_target_var dup[] = {V1("a"), V1("a")};
	run_init(&r, dup, 2);
	go(&r, t, 1);
	ck_assert_int_eq(r.rc, CKPT_EINVAL);
	ck_assert_ptr_nonnull(strstr(r.err.msg, "a is used twice"));
}
END_TEST

/* ---- runtime (§8) ---- */

START_TEST(test_runtime_spec_shape)
{
	static int64_t d10_3[] = {10, 3}, d10_4[] = {10, 4}, p2_1[] = {2, 1};
	static const ckpt_target_var store[] = {{S("new/w"), CKPT_DT_FLOAT, 2, d10_3, p2_1, NULL}};
	static const ckpt_tensor t[] = {{"old/w", CKPT_DT_FLOAT, 2, d10_4, 40, 1, 0}};
	run r;
	run_init(&r, store, 1);
	add(&r, "old/w", "new/w");
	expect_err(&r, t, 1,
		   "tensor_name = old/w; shape in shape_and_slice "
		   "spec [10,3] does not match the shape stored in checkpoint: "
		   "[10,4]");
}
END_TEST

START_TEST(test_runtime_assign_shape)
{
	static const ckpt_target_var store[] = {{S("new/w"), CKPT_DT_FLOAT, 1, d3, NULL, NULL}};
	static const ckpt_tensor t[] = {{"old/w", CKPT_DT_FLOAT, 1, d4, 4, 1, 0}};
	run r;
	run_init(&r, store, 1);
	add(&r, "old/", "new/");
	go(&r, t, 1);
	ck_assert_int_eq(r.rc, CKPT_EINVAL);
	ck_assert_msg(starts(r.err.msg, "Assign requires shapes of both "
					"tensors to match. lhs shape= [3] rhs shape= [4]"),
		      "%s", r.err.msg);
}
END_TEST

START_TEST(test_runtime_insufficient_slices)
{
	run r;
	pieces_missing_last = 1;
	run_init(&r, sec10_store, N(sec10_store));
	r.o.piece = var3_pieces;
	add(&r, "old_scope_2/var3", "new_scope_2/var3");
	expect_err(&r, sec10, N(sec10),
		   "Does not have sufficient slices for partitioned tensor "
		   "old_scope_2/var3 to restore in slice_spec: 60,20:0,100");
	/* a whole read asks for the full slice */
	run_init(&r, NULL, 0);
	r.o.piece = var3_pieces;
	add(&r, "old_scope_2/var3", "w");
	expect_err(&r, sec10, N(sec10),
		   "Does not have sufficient slices for partitioned tensor "
		   "old_scope_2/var3 to restore in slice_spec: -:-");
	pieces_missing_last = 0;
	/* without the geometry nothing is claimed */
	run_init(&r, NULL, 0);
	add(&r, "old_scope_2/var3", "w");
	expect_ok(&r, sec10, N(sec10), 1);
	done(&r);
}
END_TEST

START_TEST(test_strict_and_casts)
{
	static const ckpt_target_var f64[] = {
	    {S("new_scope_1/var1"), CKPT_DT_DOUBLE, 2, d20_2, NULL, NULL}};
	static const ckpt_target_var str[] = {
	    {S("new_scope_1/var1"), CKPT_DT_STRING, 2, d20_2, NULL, NULL}};
	run r;
	/* explicit target dtype differs: converted unless strict */
	run_init(&r, f64, 1);
	add(&r, "old_scope_1/", "new_scope_1/");
	expect_ok(&r, sec10, N(sec10), 1);
	ck_assert_int_eq(r.plan->files[0].dtype, CKPT_DT_DOUBLE);
	ck_assert_int_eq(r.plan->files[0].source_dtype, CKPT_DT_FLOAT);
	ck_assert_uint_eq(r.plan->files[0].size, 320);
	done(&r);
	run_init(&r, f64, 1);
	r.o.strict = 1;
	add(&r, "old_scope_1/", "new_scope_1/");
	expect_err(&r, sec10, N(sec10),
		   "tensor_name = old_scope_1/var1; expected dtype double does "
		   "not equal original dtype float");
	run_init(&r, str, 1);
	add(&r, "old_scope_1/", "new_scope_1/");
	go(&r, sec10, N(sec10));
	ck_assert_int_eq(r.rc, CKPT_EINVAL);
	ck_assert_ptr_nonnull(strstr(r.err.msg, "cannot convert"));

	/* --cast float32=bfloat16 on inferred targets */
	ckpt_cast c[2];
	ck_assert_int_eq(ckpt_cast_parse_arg("float32=bfloat16", &c[0], NULL), 0);
	run_init(&r, NULL, 0);
	r.o.casts = c;
	r.o.n_casts = 1;
	add(&r, "old_scope_1/var1", "w");
	expect_ok(&r, sec10, N(sec10), 1);
	ck_assert_int_eq(r.plan->files[0].dtype, CKPT_DT_BFLOAT16);
	ck_assert_uint_eq(r.plan->files[0].size, 80);
	done(&r);
	/* ... and on the dtype of an explicit target */
	run_init(&r, sec10_store, N(sec10_store));
	r.o.casts = c;
	r.o.n_casts = 1;
	add(&r, "old_scope_1/", "new_scope_1/");
	expect_ok(&r, sec10, N(sec10), 1);
	ck_assert_int_eq(r.plan->files[0].dtype, CKPT_DT_BFLOAT16);
	done(&r);
	/* casts and strict exclude each other; conflicting casts */
	run_init(&r, NULL, 0);
	r.o.casts = c;
	r.o.n_casts = 1;
	r.o.strict = 1;
	go(&r, sec10, N(sec10));
	ck_assert_int_eq(r.rc, CKPT_EINVAL);
	ck_assert_int_eq(ckpt_cast_parse_arg("float=half", &c[1], NULL), 0);
	run_init(&r, NULL, 0);
	r.o.casts = c;
	r.o.n_casts = 2;
	go(&r, sec10, N(sec10));
	ck_assert_int_eq(r.rc, CKPT_EINVAL);
	ck_assert_ptr_nonnull(strstr(r.err.msg, "conflicting"));
}
END_TEST

START_TEST(test_strict_reslice_dtype)
{
	/* half can be read whole, but not re-sliced by RestoreV2 */
	static const ckpt_target_var store[] = {{S("w"), CKPT_DT_HALF, 1, d4, p2, NULL}};
	static const ckpt_tensor t[] = {{"w", CKPT_DT_HALF, 1, d4, 4, 1, 0}};
	run r;
	run_init(&r, store, 1);
	r.o.strict = 1;
	expect_err(&r, t, 1, "Dtype half not supported.");
	run_init(&r, store, 1);
	expect_ok(&r, t, 1, 2);
	done(&r);
}
END_TEST

START_TEST(test_processing_order)
{
	static const ckpt_tensor t[] = {F1("a"), F1("b")};
	static const ckpt_target_var store[] = {V1("x"), V1("y")};
	run r;
	/* sorted by key: 'b' is processed last and wins */
	run_init(&r, store, 2);
	add(&r, "b", "x");
	add(&r, "a", "x");
	expect_ok(&r, t, 2, 1);
	file_is(r.plan, 0, "x", "b", "");
	done(&r);
	/* equal keys keep their order: one tensor feeds two variables */
	run_init(&r, store, 2);
	add(&r, "a", "y");
	add(&r, "a", "x");
	expect_ok(&r, t, 2, 2);
	file_is(r.plan, 0, "x", "a", "");
	file_is(r.plan, 1, "y", "a", "");
	done(&r);
	/* an error in a later entry (by key) wins over nothing before */
	run_init(&r, store, 2);
	add(&r, "c", "x");
	add(&r, "a", "zz/");
	expect_err(&r, t, 2,
		   "Assignment map with scope only name zz should "
		   "map to scope only a. Should be 'scope/': 'other_scope/'.");
}
END_TEST

/* Issue 13: what TF passes silently comes back in plan->warnings, with the
 * closest names; TF's "not found" error gets them on a second line. */
START_TEST(test_unmatched_warnings)
{
	run r;
	run_init(&r, NULL, 0);
	add(&r, "old_scope_l/", "new/"); /* 'l' for '1': no tensor */
	add(&r, "old_scope_2/", "x/");
	expect_ok(&r, sec10, N(sec10), 1);
	ck_assert_uint_eq(r.plan->n_warnings, 1);
	ck_assert_str_eq(r.plan->warnings[0],
			 "map entry 'old_scope_l/': 'new/' matched no checkpoint tensor (did you "
			 "mean 'old_scope_1/' or 'old_scope_2/'?)");
	done(&r);

	/* explicit targets: the entry's target scope, then each target
	 * variable without a source, closest first */
	run_init(&r, sec10_store, N(sec10_store));
	add(&r, "old_scope_1/", "new_scope_9/");
	expect_ok(&r, sec10, N(sec10), 0);
	ck_assert_uint_eq(r.plan->n_warnings, 4);
	ck_assert_str_eq(r.plan->warnings[0],
			 "map entry 'old_scope_1/': 'new_scope_9/' matched no target variable "
			 "(did you mean 'new_scope_1/' or 'new_scope_2/'?)");
	ck_assert_str_eq(r.plan->warnings[1],
			 "target variable new_scope_1/var1 got no source from the map (closest "
			 "in the checkpoint: 'old_scope_1/var1', 'old_scope_1/var2' or "
			 "'old_scope_2/var3')");
	done(&r);

	/* all matched: none */
	run_init(&r, sec10_store, N(sec10_store));
	add(&r, "old_scope_1/var1", "new_scope_1/var1");
	add(&r, "old_scope_1/var2", "new_scope_2/var2");
	add(&r, "old_scope_2/var3", "new_scope_2/var3");
	expect_ok(&r, sec10, N(sec10), 7);
	ck_assert_uint_eq(r.plan->n_warnings, 0);
	done(&r);

	/* TF's error text stays the first line; the hint is the second */
	run_init(&r, NULL, 0);
	add(&r, "old_scope_1/var3", "w");
	go(&r, sec10, N(sec10));
	ck_assert_int_eq(r.rc, CKPT_EINVAL);
	ck_assert_str_eq(r.err.msg,
			 "Tensor old_scope_1/var3 is not found in " CK " checkpoint "
			 "{'old_scope_1/var1': [20, 2], 'old_scope_1/var2': [50, 4], "
			 "'old_scope_2/var3': [100, 100]}\n"
			 "closest in the checkpoint (of 3 tensors): {'old_scope_1/var1': [20, 2], "
			 "'old_scope_1/var2': [50, 4], 'old_scope_2/var3': [100, 100]}");
}
END_TEST

START_TEST(test_inferred_targets)
{
	run r;
	run_init(&r, NULL, 0);
	add(&r, "old_scope_1/", "new/");
	add(&r, "old_scope_2/var3", "big");
	expect_ok(&r, sec10, N(sec10), 3);
	file_is(r.plan, 0, "big", "old_scope_2/var3", "");
	file_is(r.plan, 1, "new/var1", "old_scope_1/var1", "");
	file_is(r.plan, 2, "new/var2", "old_scope_1/var2", "");
	ck_assert_int_eq(r.plan->files[0].shape[0], 100);
	ck_assert_uint_eq(r.plan->files[0].source, 2);
	done(&r);
	run_init(&r, NULL, 0);
	add(&r, "nope", "w");
	expect_err(&r, sec10, N(sec10),
		   "Tensor nope is not found in " CK " checkpoint "
		   "{'old_scope_1/var1': [20, 2], 'old_scope_1/var2': [50, 4], "
		   "'old_scope_2/var3': [100, 100]}");
	run_init(&r, NULL, 0);
	add(&r, "old_scope_1/", "new");
	go(&r, sec10, N(sec10));
	ck_assert_int_eq(r.rc, CKPT_EINVAL);
	ck_assert_ptr_nonnull(strstr(r.err.msg, "cannot infer"));
	run_init(&r, NULL, 0);
	add(&r, "old_scope_1/var1", "new/");
	expect_err(&r, sec10, N(sec10),
		   "Assignment map with scope only name new should map to "
		   "scope only old_scope_1/var1. Should be 'scope/': "
		   "'other_scope/'.");
}
END_TEST

/* ---- command-line forms ---- */

START_TEST(test_map_parse_arg)
{
	ckpt_map_entry *e = NULL;
	size_t n = 0;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt_map_parse_arg("old/=new/", &e, &n, &err), 0);
	ck_assert_int_eq(ckpt_map_parse_arg("a=b=c", &e, &n, &err), 0);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(e[0].ckpt, "old/");
	ck_assert_str_eq(e[0].target, "new/");
	ck_assert_str_eq(e[1].ckpt, "a=b");
	ck_assert_str_eq(e[1].target, "c");
	ck_assert_int_eq(ckpt_map_parse_arg("novalue", &e, &n, &err), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_map_parse_arg("=x", &e, &n, &err), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_map_parse_arg("x=", &e, &n, &err), CKPT_EINVAL);
	ck_assert_uint_eq(n, 2);
	ckpt_map_entries_free(e, n);

	ckpt_cast c;
	ck_assert_int_eq(ckpt_cast_parse_arg("float=half", &c, NULL), 0);
	ck_assert_int_eq(c.from, CKPT_DT_FLOAT);
	ck_assert_int_eq(c.to, CKPT_DT_HALF);
	ck_assert_int_eq(ckpt_cast_parse_arg("string=float32", &c, NULL), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_cast_parse_arg("float32", &c, NULL), CKPT_EINVAL);
	ck_assert_int_eq(ckpt_cast_parse_arg("float32=nope", &c, &err), CKPT_EINVAL);
	/* the message lists the accepted names, aliases too */
	ck_assert_msg(strncmp(err.msg,
			      "--cast float32=nope: unknown dtype nope (accepted: float32, ",
			      60) == 0 &&
			  strstr(err.msg, "bfloat16") && strstr(err.msg, "; also half, ") &&
			  strstr(err.msg, "bf16"),
		      "%s", err.msg);
	ck_assert_int_eq(ckpt_cast_parse_arg("nope=float32", &c, &err), CKPT_EINVAL);
	ck_assert_msg(strncmp(err.msg, "--cast nope=float32: unknown dtype nope (accepted: ", 51) ==
			  0,
		      "%s", err.msg);
	ck_assert_int_eq(ckpt_cast_parse_arg("f32=bf16", &c, &err), 0);
	ck_assert_int_eq(c.from, CKPT_DT_FLOAT);
	ck_assert_int_eq(c.to, CKPT_DT_BFLOAT16);
}
END_TEST

static char tmp_path[64];

static const char *write_tmp(const char *text)
{
	snprintf(tmp_path, sizeof(tmp_path), "/tmp/ckpt-test-XXXXXX");
	int fd = mkstemp(tmp_path);
	ck_assert_int_ge(fd, 0);
	size_t len = strlen(text);
	ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
	return tmp_path;
}

START_TEST(test_map_file)
{
	ckpt_map_entry *e = NULL;
	size_t n = 0;
	ckpt_error err = CKPT_ERROR_INIT;
	const char *p = write_tmp("{\"z/\": \"a/\", \"b\": \"c\", "
				  "\"m\": [\"v/part_0\", \"v/part_1\"]}");
	ck_assert_int_eq(ckpt_map_load_file(p, &e, &n, &err), 0);
	unlink(p);
	ck_assert_uint_eq(n, 3);
	ck_assert_str_eq(e[0].ckpt, "z/"); /* file order kept */
	ck_assert_str_eq(e[1].ckpt, "b");
	ck_assert_ptr_null(e[2].target);
	ck_assert_uint_eq(e[2].n_target_list, 2);
	ck_assert_str_eq(e[2].target_list[1], "v/part_1");
	p = write_tmp("[[\"a\", \"x\"], [\"a\", \"y\"]]");
	ck_assert_int_eq(ckpt_map_load_file(p, &e, &n, &err), 0);
	unlink(p);
	ck_assert_uint_eq(n, 5);
	ck_assert_str_eq(e[4].target, "y");
	ckpt_map_entries_free(e, n);

	e = NULL;
	n = 0;
	p = write_tmp("{\n  \"a\": \"b\",\n  \"c\" \"d\"\n}\n");
	ck_assert_int_eq(ckpt_map_load_file(p, &e, &n, &err), CKPT_EINVAL);
	char want[128];
	snprintf(want, sizeof(want), "%s:3:", p);
	ck_assert_int_eq(strncmp(err.msg, want, strlen(want)), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "expected"));
	unlink(p);
	p = write_tmp("{\"a\": \"b\", \"a\": \"c\"}");
	ck_assert_int_eq(ckpt_map_load_file(p, &e, &n, &err), CKPT_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "duplicate"));
	unlink(p);
	p = write_tmp("[[\"a\"]]");
	ck_assert_int_eq(ckpt_map_load_file(p, &e, &n, &err), CKPT_EINVAL);
	snprintf(want, sizeof(want), "%s: pair 0: expected a [\"ckpt\", \"target\"] pair", p);
	ck_assert_str_eq(err.msg, want);
	unlink(p);
	p = write_tmp("{\"a\": 3}");
	ck_assert_int_eq(ckpt_map_load_file(p, &e, &n, &err), CKPT_EINVAL);
	unlink(p);
	p = write_tmp("\"a\"");
	ck_assert_int_eq(ckpt_map_load_file(p, &e, &n, &err), CKPT_EINVAL);
	unlink(p);
	ck_assert_int_eq(ckpt_map_load_file("/nonexistent/map.json", &e, &n, &err), CKPT_ENOTFOUND);
	ckpt_map_entries_free(e, n);
}
END_TEST

static int targets_err(const char *json, const char *tail)
{
	ckpt_target_var *t = NULL;
	size_t n = 0;
	ckpt_error err = CKPT_ERROR_INIT;
	const char *p = write_tmp(json);
	int rc = ckpt_targets_load_file(p, &t, &n, &err);
	unlink(p);
	ck_assert_ptr_null(t);
	size_t tl = strlen(tail), ml = strlen(err.msg);
	ck_assert_msg(ml >= tl && strcmp(err.msg + ml - tl, tail) == 0, "got '%s'", err.msg);
	ck_assert_int_eq(strncmp(err.msg, p, strlen(p)), 0);
	return rc;
}

START_TEST(test_targets_file)
{
	ckpt_target_var *t = NULL;
	size_t n = 0;
	ckpt_error err = CKPT_ERROR_INIT;
	const char *p = write_tmp("{\"variables\": [{\"name\": \"new/w\", \"dtype\": "
				  "\"bfloat16\", \"shape\": [100, 100], \"partitions\": [5, 1]},"
				  " {\"name\": \"s\", \"dtype\": \"string\", \"shape\": [], "
				  "\"trainable\": false}]}");
	ck_assert_int_eq(ckpt_targets_load_file(p, &t, &n, &err), 0);
	unlink(p);
	ck_assert_uint_eq(n, 2);
	ck_assert_str_eq(t[0].name, "new/w");
	ck_assert_int_eq(t[0].dtype, CKPT_DT_BFLOAT16);
	ck_assert_int_eq(t[0].rank, 2);
	ck_assert_int_eq(t[0].partitions[0], 5);
	ck_assert_int_eq(t[1].rank, 0);
	ck_assert_ptr_null(t[1].partitions);
	ckpt_targets_free(t, n);

	ck_assert_int_eq(targets_err("[{\"dtype\": \"float32\", \"shape\": "
				     "[1]}]",
				     "\"name\" must be a non-empty "
				     "string"),
			 CKPT_EINVAL);
	ck_assert_int_eq(targets_err("[{\"name\": \"v\", \"dtype\": "
				     "\"float33\", \"shape\": [1]}]",
				     ": variable 0 (v): \"dtype\" must name a "
				     "numeric dtype or string (e.g. "
				     "\"float32\", \"bfloat16\")"),
			 CKPT_EINVAL);
	ck_assert_int_eq(targets_err("[{\"name\": \"v\", \"dtype\": "
				     "\"float32\", \"shape\": [1, -2]}]",
				     "integers >= -1"),
			 CKPT_EINVAL);
	ck_assert_int_eq(targets_err("[{\"name\": \"v\", \"dtype\": "
				     "\"float32\", \"shape\": [1.5]}]",
				     "integers >= -1"),
			 CKPT_EINVAL);
	ck_assert_int_eq(targets_err("[{\"name\": \"v\", \"dtype\": "
				     "\"float32\", \"shape\": [100, 100], "
				     "\"partitions\": [5]}]",
				     ": variable 0 (v): Partitioner returned a "
				     "partition list that does not match the "
				     "Variable's rank: [5] vs. (100, 100)"),
			 CKPT_EINVAL);
	ck_assert_int_eq(targets_err("[{\"name\": \"v\", \"dtype\": "
				     "\"float32\", \"shape\": [100, 100], "
				     "\"partitions\": [1, 0]}]",
				     "Partitioner returned zero partitions "
				     "for some axes: [1, 0]"),
			 CKPT_EINVAL);
	ck_assert_int_eq(targets_err("[{\"name\": \"v\", \"dtype\": "
				     "\"float32\", \"shape\": [100, 100], "
				     "\"partitions\": [2, 2]}]",
				     "Can only slice a variable along one "
				     "dimension: shape: (100, 100), "
				     "partitioning: [2, 2]"),
			 CKPT_EINVAL);
	ck_assert_int_eq(targets_err("[{\"name\": \"v\", \"dtype\": "
				     "\"float32\", \"shape\": [3], "
				     "\"partitions\": [2]}, {\"name\": \"u\", "
				     "\"dtype\": \"int32\", \"shape\": [], "
				     "\"partitions\": []}]",
				     ": variable 1 (u): A partitioned Variable "
				     "must have rank at least 1, shape: ()"),
			 CKPT_EINVAL);
	ck_assert_int_eq(targets_err("[{\"name\": \"v\", \"dtype\": "
				     "\"float32\", \"shape\": [9223372036854775807, "
				     "3]}]",
				     "more than 2^63-1 elements"),
			 CKPT_ERANGE);
	ck_assert_int_eq(targets_err("{\"vars\": []}", ": expected {\"variables\": [...]} or a "
						       "list of variables"),
			 CKPT_EINVAL);
	p = write_tmp("[\n{\"name\": }");
	ck_assert_int_eq(ckpt_targets_load_file(p, &t, &n, &err), CKPT_EINVAL);
	char want[96];
	snprintf(want, sizeof(want), "%s:2:", p);
	ck_assert_int_eq(strncmp(err.msg, want, strlen(want)), 0);
	unlink(p);
}
END_TEST

START_TEST(test_plan_printers)
{
	static int64_t d2_3[] = {2, 3}, p2_1[] = {2, 1};
	static const ckpt_target_var store[] = {{S("new/w"), CKPT_DT_BFLOAT16, 2, d2_3, p2_1, NULL},
						{S("new/s"), CKPT_DT_STRING, 1, d2, NULL, NULL}};
	static const ckpt_tensor t[] = {{"old/w", CKPT_DT_FLOAT, 2, d2_3, 6, 1, 0},
					{"old/s", CKPT_DT_STRING, 1, d2, 2, 1, 0}};
	run r;
	run_init(&r, store, 2);
	add(&r, "old/", "new/");
	expect_ok(&r, t, 2, 3);
	char *s = NULL;
	ck_assert_int_eq(ckpt_plan_to_json(r.plan, 0, &s, NULL), 0);
	ck_assert_str_eq(s, "[{\"path\":\"new/s\",\"name\":\"new/s\",\"dtype\":\"string\","
			    "\"shape\":[2],\"source\":\"old/s\",\"source_dtype\":\"string\","
			    "\"slice\":\"\",\"size\":null},"
			    "{\"path\":\"new/w/part_0\",\"name\":\"new/w\",\"dtype\":"
			    "\"bfloat16\",\"shape\":[1,3],\"source\":\"old/w\","
			    "\"source_dtype\":\"float32\",\"slice\":\"2 3 0,1:0,3\","
			    "\"size\":6},"
			    "{\"path\":\"new/w/part_1\",\"name\":\"new/w\",\"dtype\":"
			    "\"bfloat16\",\"shape\":[1,3],\"source\":\"old/w\","
			    "\"source_dtype\":\"float32\",\"slice\":\"2 3 1,1:0,3\","
			    "\"size\":6}]");
	ckpt_plan_string_free(s);
	ck_assert_int_eq(ckpt_plan_to_text(r.plan, &s, NULL), 0);
	ck_assert_str_eq(s, "new/s\tstring\t[2]\t?\t<-\told/s\tstring\n"
			    "new/w/part_0\tbfloat16\t[1,3]\t6\t<-\told/w\tfloat32\t"
			    "2 3 0,1:0,3\n"
			    "new/w/part_1\tbfloat16\t[1,3]\t6\t<-\told/w\tfloat32\t"
			    "2 3 1,1:0,3\n");
	ckpt_plan_string_free(s);
	ck_assert_int_eq(ckpt_plan_to_json(r.plan, CKPT_PLAN_JSON_PRETTY, &s, NULL), 0);
	ck_assert_ptr_nonnull(strstr(s, "\n"));
	ckpt_plan_string_free(s);
	done(&r);
}
END_TEST

START_TEST(test_names_escaped)
{
	/* Python's repr picks "..." for a name holding ' (TF2 dict keys) */
	static const ckpt_tensor t[] = {F1("it's"), F1("a\tb\\c")};
	run r;
	run_init(&r, NULL, 0);
	add(&r, "x", "w");
	expect_err(&r, t, 2,
		   "Tensor x is not found in " CK " checkpoint "
		   "{'a\\tb\\\\c': [2], \"it's\": [2]}");
	run_init(&r, NULL, 0);
	add(&r, "a\tb\\c", "w\n");
	expect_ok(&r, t, 2, 1);
	char *s = NULL;
	ck_assert_int_eq(ckpt_plan_to_text(r.plan, &s, NULL), 0);
	ck_assert_str_eq(s, "w\\n\tfloat32\t[2]\t8\t<-\ta\\tb\\\\c\tfloat32\n");
	ckpt_plan_string_free(s);
	done(&r);
}
END_TEST

START_TEST(test_hostile_inputs)
{
	/* a checkpoint shape whose product overflows */
	static int64_t huge[] = {INT64_MAX, 2};
	static const ckpt_tensor t[] = {{"h", CKPT_DT_FLOAT, 2, huge, 0, 1, 0}};
	run r;
	run_init(&r, NULL, 0);
	go(&r, t, 1);
	ck_assert_int_eq(r.rc, CKPT_ERANGE);
	/* a byte size that overflows int64 */
	static int64_t big[] = {INT64_MAX / 2};
	static const ckpt_tensor tb[] = {{"b", CKPT_DT_INT64, 1, big, 0, 1, 0}};
	run_init(&r, NULL, 0);
	go(&r, tb, 1);
	ck_assert_int_eq(r.rc, CKPT_ERANGE);
	/* too many partitions */
	static int64_t many[] = {1 << 20}, pm[] = {1 << 20};
	ckpt_target_var v = {S("x"), CKPT_DT_FLOAT, 1, many, pm, NULL};
	run_init(&r, &v, 1);
	go(&r, t, 1);
	ck_assert_int_eq(r.rc, CKPT_ERANGE);
	/* duplicate tensor names, malformed entries */
	static const ckpt_tensor dup[] = {F1("a"), F1("a")};
	run_init(&r, NULL, 0);
	go(&r, dup, 2);
	ck_assert_int_eq(r.rc, CKPT_EINVAL);
	run_init(&r, NULL, 0);
	add(&r, "a", NULL);
	go(&r, dup, 1);
	ck_assert_int_eq(r.rc, CKPT_EINVAL);
	/* an empty checkpoint and no map: nothing, no error */
	run_init(&r, NULL, 0);
	expect_ok(&r, NULL, 0, 0);
	done(&r);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("resolve");
	TCase *tc = tcase_create("sec10");
	tcase_add_test(tc, test_sec10_scope_to_scope);
	tcase_add_test(tc, test_sec10_one_to_one_pair);
	tcase_add_test(tc, test_sec10_tensor_onto_partitioned);
	tcase_add_test(tc, test_sec10_list_of_parts);
	tcase_add_test(tc, test_sec10_scope_not_found);
	tcase_add_test(tc, test_sec10_scope_only_name);
	suite_add_tcase(s, tc);
	tc = tcase_create("rules");
	tcase_add_test(tc, test_one_to_one_not_found_dict);
	tcase_add_test(tc, test_one_to_one_shape_mismatch);
	tcase_add_test(tc, test_slices_same_tensor);
	tcase_add_test(tc, test_root_forms);
	tcase_add_test(tc, test_as_is);
	tcase_add_test(tc, test_no_trailing_slash_quirks);
	tcase_add_test(tc, test_part_collapse_quirks);
	tcase_add_test(tc, test_scope_onto_partitioned);
	tcase_add_test(tc, test_slot_variables);
	tcase_add_test(tc, test_tf2_object_names);
	tcase_add_test(tc, test_tf2_readable_paths);
	tcase_add_test(tc, test_tf2_readable_targets);
	tcase_add_test(tc, test_processing_order);
	tcase_add_test(tc, test_inferred_targets);
	tcase_add_test(tc, test_unmatched_warnings);
	suite_add_tcase(s, tc);
	tc = tcase_create("partitions");
	tcase_add_test(tc, test_partition_offsets);
	tcase_add_test(tc, test_partition_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("runtime");
	tcase_add_test(tc, test_runtime_spec_shape);
	tcase_add_test(tc, test_runtime_assign_shape);
	tcase_add_test(tc, test_runtime_insufficient_slices);
	tcase_add_test(tc, test_strict_and_casts);
	tcase_add_test(tc, test_strict_reslice_dtype);
	suite_add_tcase(s, tc);
	tc = tcase_create("cli");
	tcase_add_test(tc, test_map_parse_arg);
	tcase_add_test(tc, test_map_file);
	tcase_add_test(tc, test_targets_file);
	tcase_add_test(tc, test_plan_printers);
	tcase_add_test(tc, test_names_escaped);
	tcase_add_test(tc, test_hostile_inputs);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
