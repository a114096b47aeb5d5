/*
 * --format safetensors (the "safetensors" view format): model.safetensors
 * byte for byte what the reference writer (Hugging Face's safetensors
 * crate, serialize()) writes, on the vectors of the crate's own tests
 * (tensor.rs: test_serialization, test_serialization_forced_alignement,
 * test_empty), over checkpoints written by ckpt-gen; and the checksum
 * state of the one file that draws from every tensor.
 *
 * argv: [ckpt-gen path]; without it the tests skip.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/reader.h"
#include "ckpt/resolve.h"
#include "ckpt/view.h"
#include "testutil.h"

static const char *gen_path;

typedef struct env {
	ckpt_reader *r;
	ckpt_tensor *t;
	ckpt_plan *plan;
	ckpt_view *v;
} env;

/* Write spec as a checkpoint, resolve it with one map entry (NULL: none)
 * and build the safetensors view with key_sep and metadata. */
static int env_open(env *e, const char *spec, const char *map_ckpt, const char *map_target,
		    char key_sep, const char *const *meta, ckpt_error *err)
{
	memset(e, 0, sizeof(*e));
	const char *js = tu_path(tu_dir, "spec.json");
	tu_write(js, spec, strlen(spec));
	const char *ck = tu_path(tu_dir, "ck");
	tu_run_gen(gen_path, js, ck);
	ck_assert_msg(ckpt_reader_open(&e->r, ck, err) == 0, "%s", err->msg);
	size_t n = ckpt_reader_count(e->r);
	e->t = tu_tensors(e->r);
	ckpt_map_entry ent = {(char *)map_ckpt, (char *)map_target, NULL, 0};
	ckpt_resolve_opts o = CKPT_RESOLVE_OPTS_INIT;
	o.entries = &ent;
	o.n_entries = map_ckpt ? 1 : 0;
	o.as_is = map_ckpt == NULL;
	ck_assert_msg(ckpt_resolve(&o, e->t, n, &e->plan, err) == 0, "%s", err->msg);
	ckpt_view_opts vo = CKPT_VIEW_OPTS_INIT;
	vo.format = "safetensors";
	vo.key_sep = key_sep;
	vo.metadata = meta;
	return ckpt_view_build_opts(&e->v, e->r, e->plan, &vo, err);
}

static void env_close(env *e)
{
	ckpt_view_free(e->v);
	ckpt_plan_free(e->plan);
	free(e->t);
	ckpt_reader_close(e->r);
}

/* model.safetensors, read whole. */
static uint8_t *file_bytes(const env *e, size_t *size)
{
	uint32_t id = ckpt_view_resolve_path(e->v, "model.safetensors");
	ck_assert_uint_ne(id, CKPT_VIEW_NONE);
	const ckpt_node *nd = ckpt_view_node(e->v, id);
	*size = (size_t)nd->size;
	uint8_t *b = malloc(*size + 1);
	size_t got = 0;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_msg(ckpt_view_read(e->v, id, 0, b, *size, &got, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(got, *size);
	return b;
}

static void same(const env *e, const uint8_t *want, size_t n)
{
	size_t size;
	uint8_t *got = file_bytes(e, &size);
	ck_assert_uint_eq(size, n);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(got[i] == want[i], "byte %zu: %u, want %u", i, got[i], want[i]);
	free(got);
}

/* model.safetensors of spec (no map) is exactly want[0..n). */
static void check_file(const char *spec, char key_sep, const char *const *meta, const uint8_t *want,
		       size_t n)
{
	env e;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_msg(env_open(&e, spec, NULL, NULL, key_sep, meta, &err) == 0, "%s", err.msg);
	same(&e, want, n);
	env_close(&e);
}

static const char attn_spec[] =
    "{\"tensors\": [{\"name\": \"%s\", \"dtype\": \"float32\", \"shape\": %s, "
    "\"values\": [0, 1, 2, 3, 4, 5]}]}";

/* tensor.rs test_serialization: "attn.0", F32 [1, 2, 3], 0.0 .. 5.0 (here
 * the target attn/0 with key_sep '.'). */
START_TEST(test_reference_serialization)
{
	if (gen_path == NULL)
		return;
	static const uint8_t want[] = {
	    64, 0,  0,	 0,   0,   0,	0,   0,	  123, 34,  97,	 116, 116, 110, 46,  48,
	    34, 58, 123, 34,  100, 116, 121, 112, 101, 34,  58,	 34,  70,  51,	50,  34,
	    44, 34, 115, 104, 97,  112, 101, 34,  58,  91,  49,	 44,  50,  44,	51,  93,
	    44, 34, 100, 97,  116, 97,	95,  111, 102, 102, 115, 101, 116, 115, 34,  58,
	    91, 48, 44,	 50,  52,  93,	125, 125, 0,   0,   0,	 0,   0,   0,	128, 63,
	    0,	0,  0,	 64,  0,   0,	64,  64,  0,   0,   128, 64,  0,   0,	160, 64};
	char spec[256];
	snprintf(spec, sizeof(spec), attn_spec, "attn/0", "[1, 2, 3]");
	check_file(spec, '.', NULL, want, sizeof(want));
}
END_TEST

/* tensor.rs test_serialization_forced_alignement: "attn0", [1, 1, 2, 3]:
 * the header padded with 7 spaces. */
START_TEST(test_reference_alignment)
{
	if (gen_path == NULL)
		return;
	static const uint8_t want[] = {
	    72,	 0,   0,   0,	0,   0,	  0,   0,   123, 34, 97, 116, 116, 110, 48,  34,  58,  123,
	    34,	 100, 116, 121, 112, 101, 34,  58,  34,	 70, 51, 50,  34,  44,	34,  115, 104, 97,
	    112, 101, 34,  58,	91,  49,  44,  49,  44,	 50, 44, 51,  93,  44,	34,  100, 97,  116,
	    97,	 95,  111, 102, 102, 115, 101, 116, 115, 34, 58, 91,  48,  44,	50,  52,  93,  125,
	    125, 32,  32,  32,	32,  32,  32,  32,  0,	 0,  0,	 0,   0,   0,	128, 63,  0,   0,
	    0,	 64,  0,   0,	64,  64,  0,   0,   128, 64, 0,	 0,   160, 64};
	char spec[256];
	snprintf(spec, sizeof(spec), attn_spec, "attn0", "[1, 1, 2, 3]");
	check_file(spec, 0, NULL, want, sizeof(want));
}
END_TEST

/* tensor.rs test_empty: no tensor (a map that matches nothing), without
 * and with {"framework": "pt"} as metadata. */
START_TEST(test_reference_empty)
{
	if (gen_path == NULL)
		return;
	static const uint8_t bare[] = {8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32};
	static const uint8_t meta[] = {40,  0,	 0,   0,   0,	0,   0,	  0,   123, 34,	 95,  95,
				       109, 101, 116, 97,  100, 97,  116, 97,  95,  95,	 34,  58,
				       123, 34,	 102, 114, 97,	109, 101, 119, 111, 114, 107, 34,
				       58,  34,	 112, 116, 34,	125, 125, 32,  32,  32,	 32,  32};
	static const char *const pairs[] = {"framework", "pt", NULL};
	char spec[256];
	snprintf(spec, sizeof(spec), attn_spec, "w", "[6]");
	env e;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_msg(env_open(&e, spec, "nothing/", "x/", 0, NULL, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(e.plan->n_files, 0);
	same(&e, bare, sizeof(bare));
	env_close(&e);
	ck_assert_msg(env_open(&e, spec, "nothing/", "x/", 0, pairs, &err) == 0, "%s", err.msg);
	same(&e, meta, sizeof(meta));
	env_close(&e);
}
END_TEST

/* Refusals: the message names what, the status is CKPT_EINVAL. */
START_TEST(test_refusals)
{
	if (gen_path == NULL)
		return;
	static const struct {
		const char *spec, *msg;
		char sep;
	} cases[] = {
	    {"{\"tensors\": [{\"name\": \"s\", \"dtype\": \"string\", \"shape\": [1], "
	     "\"values\": [\"x\"]}]}",
	     "target s is string, which safetensors cannot hold (no --cast helps", 0},
	    {"{\"tensors\": [{\"name\": \"c\", \"dtype\": \"complex128\", \"shape\": [1]}]}",
	     "(--cast complex128=float64 keeps the real part)", 0},
	    {"{\"tensors\": [{\"name\": \"a/b\", \"dtype\": \"float32\", \"shape\": [1]}, "
	     "{\"name\": \"a_b\", \"dtype\": \"int8\", \"shape\": [1]}]}",
	     "targets a/b and a_b both have the key a_b (key_sep '_')", '_'},
	    {"{\"tensors\": [{\"name\": \"__metadata__\", \"dtype\": \"int8\", \"shape\": [1]}]}",
	     "target __metadata__: safetensors reserves the key __metadata__", 0},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		env e;
		ckpt_error err = CKPT_ERROR_INIT;
		ck_assert_int_eq(env_open(&e, cases[i].spec, NULL, NULL, cases[i].sep, NULL, &err),
				 CKPT_EINVAL);
		ck_assert_ptr_null(e.v);
		ck_assert_msg(strstr(err.msg, cases[i].msg) != NULL, "%s", err.msg);
		env_close(&e);
	}
	static const char *const dup[] = {"k", "1", "k", "2", NULL};
	env e;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(env_open(&e, "{\"tensors\": []}", NULL, NULL, 0, dup, &err), CKPT_EINVAL);
	ck_assert_msg(strstr(err.msg, "metadata key k given twice") != NULL, "%s", err.msg);
	env_close(&e);
}
END_TEST

/* model.safetensors is unchecked until verified, then good; the read
 * splits at tensor boundaries (every 1-byte window equals the whole). */
START_TEST(test_verify_and_windows)
{
	if (gen_path == NULL)
		return;
	static const char spec[] =
	    "{\"tensors\": [{\"name\": \"a\", \"dtype\": \"float64\", \"shape\": [3], "
	    "\"pattern\": \"random:1\"}, {\"name\": \"b\", \"dtype\": \"int16\", \"shape\": [5], "
	    "\"pattern\": \"random:2\"}, {\"name\": \"c\", \"dtype\": \"bool\", \"shape\": [3]}, "
	    "{\"name\": \"d\", \"dtype\": \"float32\", \"shape\": [7, 2], \"partitions\": [3, "
	    "1]}]}";
	env e;
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_msg(env_open(&e, spec, NULL, NULL, 0, NULL, &err) == 0, "%s", err.msg);
	uint32_t id = ckpt_view_resolve_path(e.v, "model.safetensors");
	ck_assert_int_eq(ckpt_view_verified(e.v, id), 0);
	size_t size;
	uint8_t *all = file_bytes(&e, &size);
	for (size_t w = 1; w <= 9; w += 4)
		for (size_t off = 0; off < size; off++) {
			uint8_t buf[16];
			size_t got = 0;
			ck_assert_int_eq(ckpt_view_read(e.v, id, off, buf, w, &got, &err), 0);
			ck_assert_uint_eq(got, off + w <= size ? w : size - off);
			ck_assert_int_eq(memcmp(buf, all + off, got), 0);
		}
	free(all);
	ck_assert_msg(ckpt_view_verify(e.v, id, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(ckpt_view_verified(e.v, id), 1);
	env_close(&e);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc >= 2)
		gen_path = argv[1];
	Suite *s = suite_create("view_safetensors");
	TCase *tc = tcase_create("safetensors");
	tcase_add_checked_fixture(tc, tu_tmpdir_setup, tu_tmpdir_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_reference_serialization);
	tcase_add_test(tc, test_reference_alignment);
	tcase_add_test(tc, test_reference_empty);
	tcase_add_test(tc, test_refusals);
	tcase_add_test(tc, test_verify_and_windows);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
