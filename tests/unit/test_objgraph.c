/*
 * The object graph decoder (lib/src/format/objgraph.c, @object_graph.json):
 * hand-made TrackableObjectGraphs (field numbers of spec protos.md) render
 * as the JSON written here from the same spec; every hostile case is
 * refused with its code and text; reads of any range agree with the whole
 * across marks; loading checks the tensor's kind and CRC; and truncated or
 * byte-flipped graphs (hand-made and the fixtures') go through the fuzz
 * target (tests/fuzz/fuzz_objgraph.c).
 */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/reader.h"
#include "ckpt/writer.h"
#include "format/objgraph_int.h"
#include "testutil.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define VV "/.ATTRIBUTES/VARIABLE_VALUE"

/* TrackableObject pieces (protos.md field numbers) */
static void ref(bb *node, int32_t id, const char *name)
{
	bb r = {0};
	bb_vfield(&r, 1, (uint64_t)(int64_t)id);
	bb_str(&r, 2, name);
	bb_msg(node, 1, &r);
}

static void attr(bb *node, const char *name, const char *full, const char *key)
{
	bb a = {0};
	bb_str(&a, 1, name);
	bb_str(&a, 2, full);
	bb_str(&a, 3, key);
	bb_msg(node, 2, &a);
}

static void slot(bb *node, int32_t var, const char *name, int32_t slot_id)
{
	bb s = {0};
	bb_vfield(&s, 1, (uint64_t)(int64_t)var);
	bb_str(&s, 2, name);
	bb_vfield(&s, 3, (uint64_t)(int64_t)slot_id);
	bb_msg(node, 3, &s);
}

/* The whole JSON of graph g[0..n), NUL-terminated; fails the test when it
 * does not parse. Ownership: the caller frees. */
static char *json_of(const bb *g, uint64_t *size)
{
	ckpt__objgraph *og;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_msg(ckpt__objgraph_parse(g->p, g->n, "t", &og, &err) == 0, "%s", err.msg);
	*size = ckpt__objgraph_size(og);
	char *s = malloc((size_t)*size + 1);
	ck_assert_int_eq(ckpt__objgraph_read(og, 0, s, (size_t)*size, &err), 0);
	s[*size] = '\0';
	ckpt__objgraph_free(og);
	return s;
}

static void same_json(const char *got, const char *want)
{
	json_error_t e;
	json_t *a = json_loads(got, 0, &e), *b = json_loads(want, 0, &e);
	ck_assert_ptr_nonnull(a);
	ck_assert_msg(b != NULL, "want: %s", e.text);
	ck_assert_msg(json_equal(a, b), "got %s", got);
	json_decref(a);
	json_decref(b);
}

/* A model, an optimizer with a slot, a saver and has_checkpoint_values. */
static bb demo_graph(void)
{
	bb g = {0}, n = {0};
	ref(&n, 1, "model");
	ref(&n, 2, "optimizer");
	bb hv = {0};
	bb_vfield(&hv, 1, 1);
	bb_msg(&n, 5, &hv);
	bb_msg(&g, 1, &n);
	attr(&n, "VARIABLE_VALUE", "dense/kernel", "model" VV);
	bb_msg(&g, 1, &n);
	ref(&n, 3, "iter");
	slot(&n, 1, "m", 3);
	bb rs = {0};
	bb_str(&rs, 1, "saver");
	bb_msg(&n, 4, &rs);
	bb_str(&rs, 2, "obj"); /* a second copy: protobuf merges them */
	bb_msg(&n, 4, &rs);
	bb_msg(&g, 1, &n);
	attr(&n, "VARIABLE_VALUE", "dense/kernel/m", "model/.OPTIMIZER_SLOT/optimizer/m" VV);
	bb_vfield(&n, 9, 5); /* unknown field */
	bb_msg(&g, 1, &n);
	bb_vfield(&g, 2, 7); /* unknown field of the graph */
	return g;
}

START_TEST(test_json)
{
	bb g = demo_graph();
	uint64_t n;
	char *s = json_of(&g, &n);
	same_json(s,
		  "[{\"id\": 0, \"children\": [{\"node_id\": 1, \"local_name\": \"model\"},"
		  " {\"node_id\": 2, \"local_name\": \"optimizer\"}], \"attributes\": [],"
		  " \"slot_variables\": [], \"has_checkpoint_values\": true},"
		  " {\"id\": 1, \"children\": [], \"attributes\": [{\"name\": \"VARIABLE_VALUE\","
		  " \"full_name\": \"dense/kernel\", \"checkpoint_key\": \"model" VV "\"}],"
		  " \"slot_variables\": []},"
		  " {\"id\": 2, \"children\": [{\"node_id\": 3, \"local_name\": \"iter\"}],"
		  " \"attributes\": [], \"slot_variables\": [{\"original_variable_node_id\": 1,"
		  " \"slot_name\": \"m\", \"slot_variable_node_id\": 3}],"
		  " \"registered_saver\": {\"name\": \"saver\", \"object_name\": \"obj\"}},"
		  " {\"id\": 3, \"children\": [], \"attributes\": [{\"name\": \"VARIABLE_VALUE\","
		  " \"full_name\": \"dense/kernel/m\", \"checkpoint_key\":"
		  " \"model/.OPTIMIZER_SLOT/optimizer/m" VV "\"}], \"slot_variables\": []}]");
	ck_assert_uint_eq(n, strlen(s));
	ck_assert_int_eq(s[n - 1], '\n');
	free(s);
	free(g.p);
	/* the exact text of the smallest cases */
	bb e = {0};
	s = json_of(&e, &n);
	ck_assert_str_eq(s, "[]\n");
	free(s);
	bb one = {0}, node = {0};
	bb_msg(&one, 1, &node);
	s = json_of(&one, &n);
	ck_assert_str_eq(s,
			 "[\n  {\n    \"id\": 0,\n    \"children\": [],\n    \"attributes\": [],\n"
			 "    \"slot_variables\": []\n  }\n]\n");
	free(s);
	free(one.p);
}
END_TEST

static void refused(const bb *g, int code, const char *text)
{
	ckpt__objgraph *og = NULL;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt__objgraph_parse(g->p, g->n, "G", &og, &err), code);
	ck_assert_ptr_null(og);
	ck_assert_msg(strstr(err.msg, text) != NULL, "'%s' lacks '%s'", err.msg, text);
}

START_TEST(test_refused)
{
	bb g = {0}, n = {0};
	/* references past the nodes, or negative */
	ref(&n, 0, "x");
	bb_msg(&g, 1, &n);
	ref(&n, 2, "y");
	bb_msg(&g, 1, &n);
	refused(&g, CKPT_ECORRUPT,
		"G: node 1 (at byte 9): a child refers to node 2, but there are only 2 nodes");
	g.n = 0;
	slot(&n, 0, "m", -1);
	bb_msg(&g, 1, &n);
	refused(&g, CKPT_ECORRUPT, "a slot variable is node -1, but there are only 1 nodes");
	g.n = 0;
	slot(&n, 5, "m", 0);
	bb_msg(&g, 1, &n);
	refused(&g, CKPT_ECORRUPT, "a slot's original variable is node 5");
	/* names JSON cannot carry */
	g.n = 0;
	ref(&n, 0, "\xff");
	bb_msg(&g, 1, &n);
	refused(&g, CKPT_EUNSUPPORTED, "node 0 (at byte 0): a name is not valid UTF-8");
	g.n = 0;
	bb r = {0};
	bb_bytes(&r, 2, "a\0b", 3);
	bb_msg(&n, 1, &r);
	bb_msg(&g, 1, &n);
	refused(&g, CKPT_EUNSUPPORTED, "a name holds a NUL byte");
	/* but an unknown field may hold one */
	g.n = 0;
	bb_str(&r, 2, "ok");
	bb_bytes(&r, 7, "a\0b", 3);
	bb_msg(&n, 1, &r);
	bb_msg(&g, 1, &n);
	ckpt__objgraph *og = NULL;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt__objgraph_parse(g.p, g.n, "G", &og, &err), 0);
	ckpt__objgraph_free(og);
	/* malformed wire: the graph, a node, a piece */
	g.n = 0;
	ref(&n, 0, "abc");
	bb_msg(&g, 1, &n);
	g.n -= 2;
	refused(&g, CKPT_ECORRUPT, "G: not a valid TrackableObjectGraph at byte 0");
	g.n = 0;
	bb_put(&n, "\x0a\x05", 2); /* a child of 5 bytes with 0 there */
	bb_msg(&g, 1, &n);
	refused(&g, CKPT_ECORRUPT, "G: node 0 (at byte 0): not a valid TrackableObject");
	g.n = 0;
	bb_bytes(&n, 1, "\x08", 1); /* a child whose node_id is cut */
	bb_msg(&g, 1, &n);
	refused(&g, CKPT_ECORRUPT, "a child is not a valid message");
	free(g.p);
}
END_TEST

/* Every range of a graph of many groups (300 small nodes, then one of
 * over 64 KiB) reads as the same bytes as the whole. */
START_TEST(test_ranges)
{
	bb g = {0}, n = {0};
	for (int k = 0; k < 300; k++) {
		char name[16];
		snprintf(name, sizeof(name), "n%d", k);
		ref(&n, (k + 1) % 302, name);
		bb_msg(&g, 1, &n);
	}
	for (int k = 0; k < 6000; k++)
		ref(&n, 0, "child_with_a_longer_name");
	bb_msg(&g, 1, &n);
	ref(&n, 300, "last");
	bb_msg(&g, 1, &n);
	ck_assert_uint_gt(g.n, 65536 + 3000);
	uint64_t size;
	char *whole = json_of(&g, &size);
	json_t *j = json_loads(whole, 0, NULL);
	ck_assert_uint_eq(json_array_size(j), 302);
	for (size_t k = 0; k < 302; k++)
		ck_assert_int_eq(json_integer_value(json_object_get(json_array_get(j, k), "id")),
				 (json_int_t)k);
	ck_assert_uint_eq(json_array_size(json_object_get(json_array_get(j, 300), "children")),
			  6000);
	json_decref(j);
	ckpt__objgraph *og;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt__objgraph_parse(g.p, g.n, "t", &og, &err), 0);
	char *buf = malloc((size_t)size);
	srand(7);
	for (int i = 0; i < 2000; i++) {
		uint64_t off = (uint64_t)rand() % size;
		size_t len = 1 + (size_t)rand() % (i % 2 ? 64 : 70000);
		if (len > size - off)
			len = (size_t)(size - off);
		memset(buf, 0, len);
		ck_assert_int_eq(ckpt__objgraph_read(og, off, buf, len, &err), 0);
		ck_assert_msg(memcmp(buf, whole + off, len) == 0, "read %llu+%zu",
			      (unsigned long long)off, len);
	}
	free(buf);
	ckpt__objgraph_free(og);
	free(whole);
	free(g.p);
}
END_TEST

/* Truncations at every length and byte flips through the fuzz target. */
static void hostile(const uint8_t *d, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	for (size_t cut = 0; cut < n; cut++)
		LLVMFuzzerTestOneInput(d, cut);
	srand(11);
	for (int i = 0; n && i < 300; i++) {
		memcpy(c, d, n);
		c[(size_t)rand() % n] ^= (uint8_t)(1u << (rand() % 8));
		LLVMFuzzerTestOneInput(c, n);
	}
	free(c);
}

START_TEST(test_hostile)
{
	bb g = demo_graph();
	hostile(g.p, g.n);
	free(g.p);
	/* the fixtures' own object graphs */
	static const char *const fx[] = {"tf_cc_CyclicModule/variables",
					 "tfkeras_lso_ckpt_tf2.2/ckpt",
					 "tf_trt_tf_readvariableop_saved_model/variables"};
	const char *root = tu_fixtures();
	for (size_t k = 0; root && k < sizeof(fx) / sizeof(fx[0]); k++) {
		ckpt_reader *r;
		ckpt_error err = CKPT_ERROR_INIT;
		size_t i;
		ck_assert_int_eq(ckpt_reader_open(&r, tu_path(root, fx[k]), &err), 0);
		ck_assert_int_eq(ckpt_reader_find(r, CKPT_OBJECT_GRAPH_KEY, &i), 0);
		char **s;
		uint64_t *l;
		ck_assert_int_eq(ckpt_reader_read_strings(r, i, &s, &l, &err), 0);
		hostile((const uint8_t *)s[0], (size_t)l[0]);
		ckpt_reader_free_strings(s, l);
		ckpt_reader_close(r);
	}
}
END_TEST

/* Load: no graph, a graph, one of the wrong kind, a corrupt one. */
START_TEST(test_load)
{
	static const char *const cases[] = {"none", "good", "int32", "vector", "crc"};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		char prefix[64];
		snprintf(prefix, sizeof(prefix), "%s", tu_path(tu_dir, cases[k]));
		ckpt_writer *w;
		ckpt_error err = CKPT_ERROR_INIT;
		ck_assert_int_eq(ckpt_writer_open(&w, prefix, &err), 0);
		bb g = demo_graph();
		const char *strs[2] = {(const char *)g.p, (const char *)g.p};
		uint64_t lens[2] = {g.n, g.n};
		int64_t two = 2;
		int32_t ints[2] = {1, 2};
		if (strcmp(cases[k], "good") == 0 || strcmp(cases[k], "crc") == 0)
			ck_assert_int_eq(ckpt_writer_add_strings(w, CKPT_OBJECT_GRAPH_KEY, 0, NULL,
								 strs, lens, &err),
					 0);
		else if (strcmp(cases[k], "vector") == 0)
			ck_assert_int_eq(ckpt_writer_add_strings(w, CKPT_OBJECT_GRAPH_KEY, 1, &two,
								 strs, lens, &err),
					 0);
		else if (strcmp(cases[k], "int32") == 0)
			ck_assert_int_eq(ckpt_writer_add(w, CKPT_OBJECT_GRAPH_KEY, CKPT_DT_INT32, 1,
							 &two, ints, sizeof(ints), &err),
					 0);
		ck_assert_int_eq(
		    ckpt_writer_add(w, "w", CKPT_DT_INT32, 1, &two, ints, sizeof(ints), &err), 0);
		ck_assert_int_eq(ckpt_writer_finish(w, &err), 0);
		ckpt_writer_close(w);
		if (strcmp(cases[k], "crc") == 0) /* a byte of the graph's bytes */
			tu_flip(tu_path(tu_dir, "crc.data-00000-of-00001"), 20);
		ckpt_reader *r;
		ck_assert_int_eq(ckpt_reader_open(&r, prefix, &err), 0);
		ckpt__objgraph *og = (ckpt__objgraph *)1;
		int rc = ckpt__objgraph_load(r, &og, &err);
		if (strcmp(cases[k], "none") == 0) {
			ck_assert_int_eq(rc, 0);
			ck_assert_ptr_null(og);
		} else if (strcmp(cases[k], "good") == 0) {
			ck_assert_int_eq(rc, 0);
			uint64_t n;
			char *want = json_of(&g, &n);
			ck_assert_uint_eq(ckpt__objgraph_size(og), n);
			char *got = malloc((size_t)n);
			ck_assert_int_eq(ckpt__objgraph_read(og, 0, got, (size_t)n, &err), 0);
			ck_assert(memcmp(got, want, (size_t)n) == 0);
			free(got);
			free(want);
			ckpt__objgraph_free(og);
		} else if (strcmp(cases[k], "crc") == 0) {
			ck_assert_int_eq(rc, CKPT_ECHECKSUM);
		} else {
			ck_assert_int_eq(rc, CKPT_ECORRUPT);
			ck_assert_msg(strstr(err.msg, "_CHECKPOINTABLE_OBJECT_GRAPH is ") &&
					  strstr(err.msg, "not a string scalar"),
				      "%s", err.msg);
		}
		ckpt_reader_close(r);
		free(g.p);
	}
}
END_TEST

int main(void)
{
	Suite *s = suite_create("objgraph");
	TCase *tc = tcase_create("objgraph");
	tcase_set_timeout(tc, 120);
	tcase_add_checked_fixture(tc, tu_tmpdir_setup, tu_tmpdir_teardown);
	tcase_add_test(tc, test_json);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_ranges);
	tcase_add_test(tc, test_hostile);
	tcase_add_test(tc, test_load);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
