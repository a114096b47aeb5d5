/*
 * The graph reader (ckpt/graph.h): synthetic graphs for the rules the real
 * ones do not exercise (multi-part partitions, slots, escaping, tags, every
 * error text), real graphs mapped onto their checkpoints byte for byte, a
 * 100 MB graph's load time, and truncated / byte-flipped real graphs fed to
 * the fuzz target (tests/fuzz/fuzz_graph.c).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ckpt/graph.h"
#include "ckpt/reader.h"
#include "ckpt/resolve.h"
#include "ckpt/view.h"
#include "testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* ---- protobufs: the tiny writer of testutil.h ---- */

static void shape_msg(bb *s, int rank, const int64_t *dims)
{
	if (rank < 0) {
		bb_vfield(s, 3, 1);
		return;
	}
	for (int d = 0; d < rank; d++) {
		bb dim = {0};
		bb_vfield(&dim, 1, (uint64_t)dims[d]);
		bb_msg(s, 2, &dim);
	}
	if (s->p == NULL)
		bb_put(s, "", 0);
}

static void attr(bb *node, const char *key, bb *value)
{
	bb e = {0};
	bb_str(&e, 1, key);
	bb_msg(&e, 2, value);
	bb_msg(node, 5, &e);
}

/* A NodeDef; loc: the _class colocation or NULL. */
static void node(bb *graph, const char *name, const char *op, int dtype, int rank,
		 const int64_t *dims, const char *loc)
{
	bb n = {0}, v = {0}, s = {0};
	bb_str(&n, 1, name);
	bb_str(&n, 2, op);
	bb_vfield(&v, 6, (uint64_t)dtype);
	attr(&n, "dtype", &v);
	shape_msg(&s, rank, dims);
	bb_msg(&v, 7, &s);
	attr(&n, "shape", &v);
	if (loc) {
		bb l = {0};
		char buf[256];
		snprintf(buf, sizeof(buf), "loc:@%s", loc);
		bb_str(&l, 2, buf);
		bb_msg(&v, 1, &l);
		attr(&n, "_class", &v);
	}
	bb_msg(graph, 1, &n);
}

static void packed(bb *b, unsigned f, int n, const int64_t *v)
{
	bb p = {0};
	for (int i = 0; i < n; i++)
		bb_varint(&p, (uint64_t)v[i]);
	bb_msg(b, f, &p);
}

/* A serialized VariableDef into list (a BytesList being built). */
static void vardef(bb *list, const char *tensor, const char *full, int rank, const int64_t *fs,
		   const int64_t *off, const int64_t *vs)
{
	bb v = {0};
	bb_str(&v, 1, tensor);
	if (full) {
		bb s = {0};
		bb_str(&s, 1, full);
		packed(&s, 2, rank, fs);
		packed(&s, 3, rank, off);
		packed(&s, 4, rank, vs);
		bb_msg(&v, 4, &s);
	}
	bb_msg(list, 1, &v);
}

/* collection_def entry `key` = bytes_list (list) into mgd; or node_list. */
static void collection(bb *mgd, const char *key, bb *list, int node_list)
{
	bb cd = {0}, e = {0};
	bb_msg(&cd, node_list ? 1 : 2, list);
	bb_str(&e, 1, key);
	bb_msg(&e, 2, &cd);
	bb_msg(mgd, 4, &e);
}

static void meta_info(bb *mgd, const char *tag)
{
	bb mi = {0};
	bb_str(&mi, 4, tag);
	bb_msg(mgd, 1, &mi);
}

static ckpt_graph *parse_ok(const bb *b, const char *tag, unsigned roles)
{
	ckpt_graph_opts o = {tag, roles};
	ckpt_graph *g = NULL;
	ckpt_error err = CKPT_ERROR_INIT;
	int rc = ckpt_graph_parse(b->p, b->n, "g.meta", &o, &g, &err);
	ck_assert_msg(rc == 0, "parse failed: %s", err.msg);
	return g;
}

static void parse_err(const bb *b, const char *tag, int code, const char *text)
{
	ckpt_graph_opts o = {tag, CKPT_GRAPH_ALL_ROLES};
	ckpt_graph *g = NULL;
	ckpt_error err = CKPT_ERROR_INIT;
	int rc = ckpt_graph_parse(b->p, b->n, "g.meta", &o, &g, &err);
	ck_assert_ptr_null(g);
	ck_assert_msg(rc == code && strcmp(err.msg, text) == 0, "rc %d, got '%s', want '%s'", rc,
		      err.msg, text);
}

static const ckpt_graph_var *var_named(const ckpt_graph *g, const char *name)
{
	for (size_t i = 0; i < g->n_vars; i++)
		if (strcmp(g->vars[i].v.name, name) == 0)
			return &g->vars[i];
	return NULL;
}

/* The TF1 graph of spec §5 C: emb [10,4] in 3 parts (listed out of
 * order), a slot of part 0 (§2.6.1), w [2], a local counter. */
static bb partitioned_graph(void)
{
	static const int64_t full[] = {10, 4}, o0[] = {0, 0}, o1[] = {4, 0}, o2[] = {7, 0},
			     s0[] = {4, 4}, s1[] = {3, 4}, w[] = {2};
	bb graph = {0}, mgd = {0}, vars = {0}, local = {0}, train = {0};
	node(&graph, "emb/part_0", "VariableV2", 1, 2, s0, "emb/part_0");
	node(&graph, "emb/part_1", "VariableV2", 1, 2, s1, "emb/part_1");
	node(&graph, "emb/part_2", "VariableV2", 1, 2, s1, "emb/part_2");
	node(&graph, "emb/part_0/Adam", "VariableV2", 1, 2, s0, "emb/part_0");
	node(&graph, "w", "VarHandleOp", 1, 1, w, NULL);
	node(&graph, "counter", "VariableV2", 109, 0, NULL, NULL);
	vardef(&vars, "emb/part_1:0", "emb", 2, full, o1, s1);
	vardef(&vars, "emb/part_0:0", "emb", 2, full, o0, s0);
	vardef(&vars, "emb/part_2:0", "emb", 2, full, o2, s1);
	vardef(&vars, "emb/part_0/Adam:0", "emb/Adam", 2, full, o0, s0);
	vardef(&vars, "w:0", NULL, 0, NULL, NULL, NULL);
	vardef(&local, "counter:0", NULL, 0, NULL, NULL, NULL);
	bb_str(&train, 1, "w:0");
	meta_info(&mgd, "train");
	bb_msg(&mgd, 2, &graph);
	collection(&mgd, "variables", &vars, 0);
	collection(&mgd, "local_variables", &local, 0);
	collection(&mgd, "trainable_variables", &train, 1);
	return mgd;
}

START_TEST(test_tf1_partitions_and_roles)
{
	bb mgd = partitioned_graph();
	ckpt_graph *g = parse_ok(&mgd, NULL, 0);
	ck_assert_int_eq(g->kind, CKPT_GRAPH_TF1);
	ck_assert_uint_eq(g->n_vars, 2);
	ck_assert_uint_eq(g->n_all, 4);
	const ckpt_graph_var *e = &g->vars[0];
	ck_assert_str_eq(e->v.name, "emb");
	ck_assert_int_eq(e->v.rank, 2);
	ck_assert_int_eq(e->v.dims[0], 10);
	ck_assert_int_eq(e->v.dims[1], 4);
	ck_assert_ptr_nonnull(e->v.partitions);
	ck_assert_int_eq(e->v.partitions[0], 3);
	ck_assert_int_eq(e->v.partitions[1], 1);
	ck_assert_str_eq(e->checkpoint_key, "emb");
	ck_assert_str_eq(g->vars[1].v.name, "w");
	ck_assert_int_eq(g->vars[1].trainable, 1);
	ck_assert_int_eq(g->vars[1].v.dtype, CKPT_DT_FLOAT);
	ckpt_graph_free(g);

	g = parse_ok(&mgd, NULL, CKPT_GRAPH_ALL_ROLES | CKPT_GRAPH_LOCAL);
	ck_assert_uint_eq(g->n_vars, 4);
	const ckpt_graph_var *s = var_named(g, "emb/part_0/Adam");
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->role, CKPT_GRAPH_SLOT);
	ck_assert_ptr_null(s->v.partitions);
	ck_assert_str_eq(s->checkpoint_key, "emb/Adam");
	const ckpt_graph_var *c = var_named(g, "counter");
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->role, CKPT_GRAPH_LOCAL);
	ck_assert_int_eq(c->v.dtype, CKPT_DT_INT64); /* 109 = DT_INT64_REF */

	/* the JSON --targets reads */
	ckpt_target_var t[4];
	for (size_t i = 0; i < g->n_vars; i++)
		t[i] = g->vars[i].v;
	char *json = NULL;
	ck_assert_int_eq(ckpt_targets_to_json(t, 1, &json, NULL), 0);
	ck_assert_ptr_nonnull(strstr(json, "\"partitions\": [\n        3,\n        1\n      ]"));
	free(json);
	ckpt_graph_free(g);
	free(mgd.p);
}
END_TEST

/* A graph with variables a, b (VariableV2 float [2]) plus extra nodes. */
static bb two_var_graph(const char *extra_tensor, const char *extra_node_op)
{
	static const int64_t two[] = {2};
	bb graph = {0}, mgd = {0}, vars = {0};
	node(&graph, "a", "VariableV2", 1, 1, two, NULL);
	node(&graph, "b", "VariableV2", 1, 1, two, NULL);
	if (extra_node_op)
		node(&graph, "c", extra_node_op, 1, 1, two, NULL);
	vardef(&vars, "a:0", NULL, 0, NULL, NULL, NULL);
	vardef(&vars, "b:0", NULL, 0, NULL, NULL, NULL);
	if (extra_tensor)
		vardef(&vars, extra_tensor, NULL, 0, NULL, NULL, NULL);
	meta_info(&mgd, "serve");
	bb_msg(&mgd, 2, &graph);
	collection(&mgd, "variables", &vars, 0);
	return mgd;
}

START_TEST(test_tf1_errors)
{
	bb m = two_var_graph("missing:0", NULL);
	parse_err(&m, NULL, CKPT_EINVAL,
		  "\"The name 'missing:0' refers to a Tensor which does not "
		  "exist. The operation, 'missing', does not exist in the "
		  "graph.\"");
	free(m.p);
	m = two_var_graph("c:0", "Const");
	parse_err(&m, NULL, CKPT_EINVAL,
		  "g.meta: 'c' (collection 'variables') is a Const node, not a "
		  "variable");
	free(m.p);

	static const int64_t full[] = {10, 4}, full2[] = {12, 4}, o0[] = {0, 0}, o1[] = {6, 0},
			     s6[] = {6, 4}, s4[] = {4, 4};
	/* E18: 6+4 rows where TF's partitioner makes 5+5 */
	bb graph = {0}, mgd = {0}, vars = {0};
	node(&graph, "v/part_0", "VariableV2", 1, 2, s6, NULL);
	node(&graph, "v/part_1", "VariableV2", 1, 2, s4, NULL);
	vardef(&vars, "v/part_0:0", "v", 2, full, o0, s6);
	vardef(&vars, "v/part_1:0", "v", 2, full, o1, s4);
	bb_msg(&mgd, 2, &graph);
	collection(&mgd, "variables", &vars, 0);
	parse_err(&mgd, NULL, CKPT_EINVAL,
		  "g.meta: partitioned variable 'v' has a part layout "
		  "TensorFlow's partitioners do not produce (full_shape [10, 4]; "
		  "v/part_0: offset [0, 0] shape [6, 4]; v/part_1: offset "
		  "[6, 0] shape [4, 4])");
	free(mgd.p);

	/* E16: the parts disagree on the full shape */
	memset(&graph, 0, sizeof(graph));
	memset(&mgd, 0, sizeof(mgd));
	memset(&vars, 0, sizeof(vars));
	node(&graph, "v/part_0", "VariableV2", 1, 2, s6, NULL);
	node(&graph, "v/part_1", "VariableV2", 1, 2, s4, NULL);
	vardef(&vars, "v/part_0:0", "v", 2, full, o0, s6);
	vardef(&vars, "v/part_1:0", "v", 2, full2, o1, s4);
	bb_msg(&mgd, 2, &graph);
	collection(&mgd, "variables", &vars, 0);
	parse_err(&mgd, NULL, CKPT_EINVAL,
		  "g.meta: parts of partitioned variable 'v' disagree: v/part_1 "
		  "has full_shape [12, 4], v/part_0 has [10, 4]");
	free(mgd.p);

	/* E17: a slice of "a" beside the unsliced variable a */
	memset(&graph, 0, sizeof(graph));
	memset(&mgd, 0, sizeof(mgd));
	memset(&vars, 0, sizeof(vars));
	static const int64_t f1[] = {6, 4};
	node(&graph, "a", "VariableV2", 1, 2, s6, NULL);
	node(&graph, "x", "VariableV2", 1, 2, s6, NULL);
	vardef(&vars, "a:0", NULL, 0, NULL, NULL, NULL);
	vardef(&vars, "x:0", "a", 2, f1, o0, s6);
	bb_msg(&mgd, 2, &graph);
	collection(&mgd, "variables", &vars, 0);
	parse_err(&mgd, NULL, CKPT_EINVAL, "Mixing slices and non-slices with the same name: a");
	free(mgd.p);

	/* E11: variable nodes but no collections */
	memset(&graph, 0, sizeof(graph));
	memset(&mgd, 0, sizeof(mgd));
	node(&graph, "a", "VariableV2", 1, 2, s6, NULL);
	meta_info(&mgd, "serve");
	bb_msg(&mgd, 2, &graph);
	parse_err(&mgd, NULL, CKPT_EUNSUPPORTED,
		  "g.meta: the graph has 1 variable nodes but no variable "
		  "collections (exported with an empty collection_list?); "
		  "cannot tell which are variables");
	free(mgd.p);
}
END_TEST

static bb saved_model(bb *mgds, size_t n)
{
	bb sm = {0};
	bb_vfield(&sm, 1, 1);
	for (size_t i = 0; i < n; i++)
		bb_msg(&sm, 2, &mgds[i]);
	return sm;
}

START_TEST(test_inputs_and_tags)
{
	bb mg[2] = {two_var_graph(NULL, NULL), partitioned_graph()};
	bb sm = saved_model(mg, 2);
	ckpt_graph *g = parse_ok(&sm, NULL, 0); /* default: serve */
	ck_assert_uint_eq(g->n_vars, 2);
	ck_assert_str_eq(g->vars[0].v.name, "a");
	ck_assert_str_eq(g->tags[0], "serve");
	ckpt_graph_free(g);
	g = parse_ok(&sm, "train", 0);
	ck_assert_str_eq(g->vars[0].v.name, "emb");
	ckpt_graph_free(g);
	parse_err(&sm, "gpu", CKPT_EINVAL,
		  "MetaGraphDef associated with tags 'gpu' could not be found "
		  "in SavedModel, with available tags '[{'serve'}, {'train'}]'. "
		  "To inspect available tag-sets in the SavedModel, please use "
		  "the SavedModel CLI: `saved_model_cli`.");
	free(sm.p);

	bb x[2] = {partitioned_graph(), partitioned_graph()};
	sm = saved_model(x, 2);
	parse_err(&sm, NULL, CKPT_EINVAL,
		  "Importing a SavedModel with `tf.saved_model.load` requires a "
		  "`tags=` argument if there is more than one MetaGraph. Got "
		  "`tags=None`, but there are 2 MetaGraphs in the SavedModel "
		  "with tag sets: [['train'], ['train']]. Pass a `tags=` "
		  "argument to load this SavedModel.");
	free(sm.p);

	/* a SavedModel without schema version is still told apart */
	bb one = partitioned_graph(), nov = {0};
	bb_msg(&nov, 2, &one);
	g = parse_ok(&nov, NULL, 0);
	ck_assert_str_eq(g->vars[0].v.name, "emb");
	ckpt_graph_free(g);
	free(nov.p);

	sm = saved_model(NULL, 0);
	parse_err(&sm, NULL, CKPT_EUNSUPPORTED, "g.meta: SavedModel contains no MetaGraphDef");
	free(sm.p);
	bb txt = {0};
	bb_put(&txt, "meta_info_def {\n  tags: \"serve\"\n}\n", 34);
	parse_err(&txt, NULL, CKPT_EUNSUPPORTED,
		  "g.meta: text-format protobuf is not supported; write the "
		  "file in binary form (as_text=False)");
	free(txt.p);
	bb junk = {0};
	bb_put(&junk, "\x0f\xff\xff\x00\x01", 5);
	parse_err(&junk, NULL, CKPT_ECORRUPT, "Cannot parse file g.meta: Error parsing message.");
	free(junk.p);
	/* a GraphDef: many NodeDefs at the top */
	static const int64_t two[] = {2};
	bb gd = {0};
	node(&gd, "a", "VariableV2", 1, 1, two, NULL);
	node(&gd, "b", "VariableV2", 1, 1, two, NULL);
	parse_err(&gd, NULL, CKPT_EUNSUPPORTED,
		  "g.meta: not a MetaGraphDef (no graph_def); a GraphDef or "
		  "graph.pbtxt has no variable information");
	free(gd.p);

	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt_graph_open("/nonexistent/x.meta", NULL, &g, &err), CKPT_ENOTFOUND);
	ck_assert_str_eq(err.msg, "File /nonexistent/x.meta does not exist.");
	char *dir = tu_tmpdir();
	ck_assert_int_eq(ckpt_graph_open(dir, NULL, &g, &err), CKPT_ENOTFOUND);
	ck_assert_ptr_nonnull(strstr(err.msg, "SavedModel file does not exist at: "));
	tu_write(tu_path(dir, "saved_model.cpb"), "x", 1);
	ck_assert_int_eq(ckpt_graph_open(dir, NULL, &g, &err), CKPT_EUNSUPPORTED);
	ck_assert_ptr_nonnull(strstr(err.msg, "chunked SavedModel"));
	tu_rmtree(dir);
	free(dir);
}
END_TEST

static void obj_ref(bb *o, unsigned f, int id, const char *name)
{
	bb r = {0};
	bb_vfield(&r, 1, (uint64_t)id);
	bb_str(&r, 2, name);
	bb_msg(o, f, &r);
}

static void obj_user(bb *o, const char *ident)
{
	bb u = {0};
	bb_str(&u, 1, ident);
	bb_msg(o, 4, &u);
}

static void obj_var(bb *o, int dtype, int rank, const int64_t *dims, const char *name)
{
	bb v = {0}, s = {0};
	bb_vfield(&v, 1, (uint64_t)dtype);
	shape_msg(&s, rank, dims);
	bb_msg(&v, 2, &s);
	bb_vfield(&v, 3, 1);
	bb_str(&v, 6, name);
	bb_msg(o, 7, &v);
}

/* Spec §4.3 / §5 F, H: escaping, an optimizer, a slot, an unreachable
 * variable; bad_child makes node 1 point past the end. */
static bb tf2_graph(int bad_child)
{
	static const int64_t two[] = {2};
	bb og = {0}, o = {0};
	obj_ref(&o, 1, 1, "w.1");
	obj_ref(&o, 1, 2, "opt");
	obj_user(&o, "_generic_user_object");
	bb_msg(&og, 1, &o);
	obj_ref(&o, 1, bad_child ? 9 : 3, "a/b.c"); /* node 1 */
	obj_user(&o, "_generic_user_object");
	bb_msg(&og, 1, &o);
	obj_ref(&o, 1, 4, "iter"); /* node 2: the optimizer */
	{
		bb s = {0};
		bb_vfield(&s, 1, 3);
		bb_str(&s, 2, "m");
		bb_vfield(&s, 3, 5);
		bb_msg(&o, 3, &s);
	}
	obj_user(&o, "optimizer");
	bb_msg(&og, 1, &o);
	obj_var(&o, 1, 1, two, "Variable"); /* 3 */
	bb_msg(&og, 1, &o);
	obj_var(&o, 9, 0, NULL, "iter"); /* 4 */
	bb_msg(&og, 1, &o);
	obj_var(&o, 1, 1, two, "Variable/m"); /* 5: the slot */
	bb_msg(&og, 1, &o);
	obj_var(&o, 1, -1, NULL, "lost"); /* 6: unreachable */
	bb_msg(&og, 1, &o);
	bb mgd = {0};
	meta_info(&mgd, "serve");
	bb_msg(&mgd, 7, &og);
	return saved_model(&mgd, 1);
}

START_TEST(test_tf2_object_graph)
{
	bb sm = tf2_graph(0);
	ckpt_graph *g = parse_ok(&sm, NULL, CKPT_GRAPH_ALL_ROLES);
	ck_assert_int_eq(g->kind, CKPT_GRAPH_TF2);
	ck_assert_uint_eq(g->n_vars, 3);
	ck_assert_str_eq(g->vars[0].v.name, "w..1/a.Sb..c/.ATTRIBUTES/VARIABLE_VALUE");
	ck_assert_uint_eq(g->vars[0].role, CKPT_GRAPH_MODEL);
	ck_assert_str_eq(g->vars[1].v.name, "opt/iter/.ATTRIBUTES/VARIABLE_VALUE");
	ck_assert_uint_eq(g->vars[1].role, CKPT_GRAPH_OPTIMIZER);
	ck_assert_int_eq(g->vars[1].v.dtype, CKPT_DT_INT64);
	ck_assert_str_eq(g->vars[2].v.name,
			 "w..1/a.Sb..c/.OPTIMIZER_SLOT/opt/m/.ATTRIBUTES/VARIABLE_VALUE");
	ck_assert_uint_eq(g->vars[2].role, CKPT_GRAPH_SLOT);
	ck_assert_uint_eq(g->n_warnings, 1);
	ck_assert_str_eq(g->warnings[0],
			 "g.meta: object graph variable node 6 ('lost') is not "
			 "reachable from the root and has no checkpoint key; skipped");
	ckpt_graph_free(g);
	g = parse_ok(&sm, NULL, 0);
	ck_assert_uint_eq(g->n_vars, 1);
	ckpt_graph_free(g);
	parse_err(&sm, "train", CKPT_EINVAL,
		  "Got an incompatible argument to `tags`: ['train']. The "
		  "SavedModel at g.meta has one MetaGraph with tags ['serve']. "
		  "You may omit the argument, pass 'None', or pass matching tags.");
	free(sm.p);
	sm = tf2_graph(1);
	parse_err(&sm, NULL, CKPT_ECORRUPT,
		  "g.meta: object graph node 1: reference to node 9, but there "
		  "are only 7 nodes");
	free(sm.p);
}
END_TEST

/* A 100 MB graph, nearly all function library: loads in well under 1 s. */
START_TEST(test_large_library_is_fast)
{
	static const int64_t two[] = {2};
	bb graph = {0}, mgd = {0}, vars = {0}, lib = {0};
	node(&graph, "a", "VariableV2", 1, 1, two, NULL);
	size_t big = (size_t)100 << 20;
	uint8_t *blob = calloc(big, 1);
	ck_assert_ptr_nonnull(blob);
	bb_bytes(&lib, 1, blob, big); /* one huge FunctionDef */
	free(blob);
	bb_msg(&graph, 2, &lib);
	vardef(&vars, "a:0", NULL, 0, NULL, NULL, NULL);
	meta_info(&mgd, "serve");
	bb_msg(&mgd, 2, &graph);
	collection(&mgd, "variables", &vars, 0);
	bb sm = saved_model(&mgd, 1);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ckpt_graph *g = parse_ok(&sm, NULL, 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	ck_assert_uint_eq(g->n_vars, 1);
	ck_assert_msg(s < 0.25, "100 MB graph took %.3f s", s);
	ckpt_graph_free(g);
	free(sm.p);
}
END_TEST

static const char *graphs_dir(void)
{
	const char *d = getenv("CKPT_GRAPHS");
	return d && *d ? d : NULL;
}

/* Real graphs on their checkpoints, identity map, every file's bytes. */
START_TEST(test_real_graphs_read_back)
{
	static const char *const pairs[][2] = {
	    {"tf_cc_half_plus_two_00000123/saved_model.pb",
	     "tf_cc_half_plus_two_00000123/variables"},
	    {"tf_cc_VarsAndArithmeticObjectGraph", "tf_cc_VarsAndArithmeticObjectGraph/variables"},
	    {"rust_regression_savedmodel/saved_model.pb", "rust_regression_savedmodel/variables"},
	    {"tf_tftrt_2.0_saved_model/saved_model.pb",
	     "tf_tftrt_2.0_saved_model_2shards/variables"},
	    {"tfx_estimator_taxi_meta/model.ckpt-1000.meta",
	     "tfx_estimator_taxi_ckpt/model.ckpt-1000"},
	    {"tf2onnx_regression_meta/model.meta", "tf2onnx_regression_ckpt/model"},
	};
	const char *gd = graphs_dir(), *fx = tu_fixtures();
	if (gd == NULL || fx == NULL)
		return;
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		char gp[1024], cp[1024];
		snprintf(gp, sizeof(gp), "%s/%s", gd, pairs[i][0]);
		snprintf(cp, sizeof(cp), "%s/%s", fx, pairs[i][1]);
		ckpt_error err = CKPT_ERROR_INIT;
		ckpt_graph_opts o = {NULL, CKPT_GRAPH_ALL_ROLES};
		ckpt_target_var *t = NULL;
		size_t nt = 0;
		ck_assert_msg(ckpt_graph_load_targets(gp, &o, &t, &nt, &err) == 0, "%s: %s", gp,
			      err.msg);
		ckpt_reader *r;
		ck_assert_msg(ckpt_reader_open(&r, cp, &err) == 0, "%s", err.msg);
		size_t n = ckpt_reader_count(r);
		ckpt_tensor *ts = calloc(n, sizeof(*ts));
		for (size_t k = 0; k < n; k++)
			ts[k] = *ckpt_reader_tensor(r, k);
		ckpt_resolve_opts ro = CKPT_RESOLVE_OPTS_INIT;
		ro.targets = t;
		ro.n_targets = nt;
		ro.ckpt_path = cp;
		ckpt_plan *plan;
		ck_assert_msg(ckpt_resolve(&ro, ts, n, &plan, &err) == 0, "%s: %s", gp, err.msg);
		ck_assert_uint_eq(plan->n_files, nt);
		ckpt_view *v;
		ck_assert_int_eq(ckpt_view_build(&v, r, plan, &err), 0);
		for (size_t k = 0; k < plan->n_files; k++) {
			const ckpt_plan_file *f = &plan->files[k];
			ck_assert_str_eq(f->file, f->source_name);
			uint32_t id = ckpt_view_resolve_path(v, f->path);
			ck_assert_uint_ne(id, CKPT_VIEW_NONE);
			size_t sz = (size_t)ckpt_view_node(v, id)->size, got = 0;
			uint8_t *a = malloc(sz + 1), *b = malloc(sz + 1);
			ck_assert_int_eq(ckpt_view_read(v, id, 0, a, sz, &got, &err), 0);
			ck_assert_uint_eq(got, sz);
			ck_assert_int_eq(
			    ckpt_reader_read_slice(r, f->source, f->start, f->length, b, sz, &err),
			    0);
			ck_assert_msg(memcmp(a, b, sz) == 0, "%s: %s differs", gp, f->file);
			free(a);
			free(b);
		}
		ckpt_view_free(v);
		ckpt_plan_free(plan);
		free(ts);
		ckpt_reader_close(r);
		ckpt_targets_free(t, nt);
	}
}
END_TEST

/* Truncated and byte-flipped real graphs never crash the reader. */
START_TEST(test_hostile_graphs)
{
	static const char *const files[] = {
	    "tf_cc_half_plus_two_00000123/saved_model.pb",
	    "tf_cc_VarsAndArithmeticObjectGraph/saved_model.pb",
	    "tf_cc_CyclicModule/saved_model.pb",
	    "serving_session_bundle_half_plus_two/export.meta",
	    "tf_c_UninitializedVariable/saved_model.pb",
	};
	const char *gd = graphs_dir();
	if (gd == NULL)
		return;
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		size_t n;
		uint8_t *d = tu_read(tu_path(gd, files[i]), &n);
		LLVMFuzzerTestOneInput(d, n);
		for (size_t cut = 0; cut < n; cut += 1 + cut / 16)
			LLVMFuzzerTestOneInput(d, cut);
		uint32_t seed = 12345u + (uint32_t)i;
		for (int k = 0; k < 3000; k++) {
			seed = seed * 1103515245u + 12345u;
			size_t at = (seed >> 8) % n;
			uint8_t old = d[at];
			d[at] ^= (uint8_t)(1u << ((seed >> 4) & 7));
			if (k % 3 == 0)
				d[at] = (uint8_t)(seed >> 16);
			LLVMFuzzerTestOneInput(d, n);
			d[at] = old;
		}
		free(d);
	}
	/* the synthetic graphs too */
	bb g = partitioned_graph();
	for (size_t cut = 0; cut < g.n; cut++)
		LLVMFuzzerTestOneInput(g.p, cut);
	free(g.p);
	g = tf2_graph(0);
	for (size_t at = 0; at < g.n; at++) {
		uint8_t old = g.p[at];
		for (int b = 0; b < 8; b++) {
			g.p[at] = (uint8_t)(old ^ (1u << b));
			LLVMFuzzerTestOneInput(g.p, g.n);
		}
		g.p[at] = old;
	}
	free(g.p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("graph");
	TCase *tc = tcase_create("graph");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_tf1_partitions_and_roles);
	tcase_add_test(tc, test_tf1_errors);
	tcase_add_test(tc, test_inputs_and_tags);
	tcase_add_test(tc, test_tf2_object_graph);
	tcase_add_test(tc, test_large_library_is_fast);
	tcase_add_test(tc, test_real_graphs_read_back);
	tcase_add_test(tc, test_hostile_graphs);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
