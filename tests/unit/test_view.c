/*
 * The view over a real fixture: tree shape, exact sizes, and byte ranges
 * equal to ranges cut from an independent whole-tensor read.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/reader.h"
#include "ckpt/resolve.h"
#include "ckpt/view.h"
#include "util/codec_int.h"
#include "util/crc32c_int.h"
#include "testutil.h"
#include "format/writer_int.h"

#define BUNDLE "tf_contrib_framework_bundle_checkpoint/bundle_checkpoint"

struct fx {
	ckpt_reader *r;
	ckpt_tensor *t;
	ckpt_plan *plan;
	ckpt_view *v;
};

static int open_fx(struct fx *f, const char *map, const char *cast)
{
	const char *root = tu_fixtures();
	if (root == NULL)
		return 0;
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", root, BUNDLE);
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt_reader_open(&f->r, path, &err), 0);
	size_t n = ckpt_reader_count(f->r);
	f->t = malloc(n * sizeof(*f->t));
	for (size_t i = 0; i < n; i++)
		f->t[i] = *ckpt_reader_tensor(f->r, i);
	ckpt_map_entry *e = NULL;
	size_t ne = 0;
	ckpt_cast c;
	ckpt_resolve_opts o = CKPT_RESOLVE_OPTS_INIT;
	if (map) {
		ck_assert_int_eq(ckpt_map_parse_arg(map, &e, &ne, &err), 0);
		o.entries = e;
		o.n_entries = ne;
	}
	if (cast) {
		ck_assert_int_eq(ckpt_cast_parse_arg(cast, &c, &err), 0);
		o.casts = &c;
		o.n_casts = 1;
	}
	o.ckpt_path = path;
	ck_assert_msg(ckpt_resolve(&o, f->t, n, &f->plan, &err) == 0, "%s", err.msg);
	ckpt_map_entries_free(e, ne);
	ck_assert_msg(ckpt_view_build(&f->v, f->r, f->plan, &err) == 0, "%s", err.msg);
	return 1;
}

static void close_fx(struct fx *f)
{
	ckpt_view_free(f->v);
	ckpt_plan_free(f->plan);
	free(f->t);
	ckpt_reader_close(f->r);
}

START_TEST(test_view_tree_and_ranges)
{
	struct fx f;
	if (!open_fx(&f, "some_scope/=new/", NULL))
		return;
	/* root: @mapping.json, new/ */
	const ckpt_node *root = ckpt_view_node(f.v, CKPT_VIEW_ROOT);
	ck_assert_uint_eq(root->n_children, 2);
	ck_assert_str_eq(ckpt_view_node(f.v, ckpt_view_child(f.v, 0, 0))->name, "@mapping.json");
	ck_assert_str_eq(ckpt_view_node(f.v, ckpt_view_child(f.v, 0, 1))->name, "new");
	uint32_t emb = ckpt_view_resolve_path(f.v, "new/embeddings");
	ck_assert_uint_ne(emb, CKPT_VIEW_NONE);
	ck_assert_uint_eq(ckpt_view_node(f.v, emb)->size, 320);
	ck_assert_uint_eq(ckpt_view_node(f.v, ckpt_view_resolve_path(f.v, "new/indices"))->size,
			  40);
	ck_assert_uint_eq(ckpt_view_resolve_path(f.v, "some_scope"), CKPT_VIEW_NONE);

	float ref[80];
	for (int i = 0; i < 80; i++)
		ref[i] = (float)i;
	unsigned seed = 7;
	for (int k = 0; k < 500; k++) {
		seed = seed * 1103515245u + 12345u;
		uint64_t off = (seed >> 8) % 330;
		size_t len = (seed >> 20) % 64;
		uint8_t buf[64];
		size_t got;
		ckpt_error err = CKPT_ERROR_INIT;
		ck_assert_int_eq(ckpt_view_read(f.v, emb, off, buf, len, &got, &err), 0);
		size_t want = off >= 320 ? 0 : (off + len > 320 ? 320 - off : len);
		ck_assert_uint_eq(got, want);
		ck_assert(memcmp(buf, (uint8_t *)ref + off, got) == 0);
	}
	ck_assert_int_eq(ckpt_view_verify(f.v, emb, NULL), 0);

	/* @mapping.json is formatted chunk by chunk on demand: every range
	 * equals the same range of --dry-run --json's text and newline */
	char *json;
	ck_assert_int_eq(ckpt_plan_to_json(f.plan, CKPT_PLAN_JSON_PRETTY, &json, NULL), 0);
	size_t jl = strlen(json);
	uint32_t mj = ckpt_view_resolve_path(f.v, "@mapping.json");
	ck_assert_uint_eq(ckpt_view_node(f.v, mj)->size, jl + 1);
	uint8_t jb[600];
	for (uint64_t off = 0; off <= jl + 1; off += 3) {
		for (size_t len = 1; len < sizeof(jb); len += 97) {
			size_t got;
			ck_assert_int_eq(ckpt_view_read(f.v, mj, off, jb, len, &got, NULL), 0);
			size_t left = off >= jl + 1 ? 0 : jl + 1 - (size_t)off;
			size_t want = left < len ? left : len;
			ck_assert_uint_eq(got, want);
			for (size_t i = 0; i < got; i++)
				ck_assert_int_eq(jb[i], off + i < jl ? json[off + i] : '\n');
		}
	}
	ckpt_plan_string_free(json);
	close_fx(&f);
}
END_TEST

/* Formats are chosen by name; an unknown name is refused, naming the known
 * ones, and leaves *out NULL. */
START_TEST(test_view_format_names)
{
	struct fx f;
	if (!open_fx(&f, "some_scope/=new/", NULL))
		return;
	const char *want[] = {"raw", "npy", "tf", "safetensors"};
	for (size_t k = 0; k < 4; k++)
		ck_assert_str_eq(ckpt_view_format_name(k), want[k]);
	ck_assert_ptr_null(ckpt_view_format_name(4));

	ckpt_view *v = (ckpt_view *)&f; /* not NULL: the call must clear it */
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt_view_build_format(&v, f.r, f.plan, "csv", &err), CKPT_EINVAL);
	ck_assert_ptr_null(v);
	ck_assert_str_eq(err.msg, "unknown view format 'csv' (known: raw, npy, tf, safetensors)");
	ck_assert_int_eq(ckpt_view_build_format(&v, f.r, f.plan, NULL, &err), CKPT_EINVAL);

	/* "npy" names every file NAME.npy; "raw" (f.v) does not */
	ck_assert_msg(ckpt_view_build_format(&v, f.r, f.plan, "npy", &err) == 0, "%s", err.msg);
	uint32_t n = ckpt_view_resolve_path(v, "new/embeddings.npy");
	ck_assert_uint_ne(n, CKPT_VIEW_NONE);
	uint8_t h[10];
	size_t got;
	ck_assert_int_eq(ckpt_view_read(v, n, 0, h, sizeof(h), &got, &err), 0);
	ck_assert(got == 10 && memcmp(h, "\x93NUMPY\x01\x00", 8) == 0);
	ck_assert_uint_eq(ckpt_view_node(v, n)->size, 10 + h[8] + 256u * h[9] + 320);
	ck_assert_uint_eq(ckpt_view_resolve_path(f.v, "new/embeddings.npy"), CKPT_VIEW_NONE);
	ck_assert_uint_ne(ckpt_view_resolve_path(f.v, "new/embeddings"), CKPT_VIEW_NONE);
	ckpt_view_free(v);
	close_fx(&f);
}
END_TEST

START_TEST(test_view_bfloat16)
{
	struct fx f;
	if (!open_fx(&f, "some_scope/=new/", "float32=bfloat16"))
		return;
	uint32_t emb = ckpt_view_resolve_path(f.v, "new/embeddings");
	ck_assert_uint_eq(ckpt_view_node(f.v, emb)->size, 160);
	/* integers below 256 are exact in bfloat16: the top half of the float */
	uint8_t ref[160];
	for (int i = 0; i < 80; i++) {
		float x = (float)i;
		uint32_t bits;
		memcpy(&bits, &x, 4);
		ref[2 * i] = (uint8_t)(bits >> 16);
		ref[2 * i + 1] = (uint8_t)(bits >> 24);
	}
	for (uint64_t off = 0; off < 160; off += 7) {
		uint8_t buf[33];
		size_t got;
		ck_assert_int_eq(ckpt_view_read(f.v, emb, off, buf, sizeof(buf), &got, NULL), 0);
		ck_assert_uint_eq(got, off + 33 > 160 ? 160 - off : 33);
		ck_assert(memcmp(buf, ref + off, got) == 0);
	}
	close_fx(&f);
}
END_TEST

/*
 * A DT_VARIANT tensor (TF2 saves iterator state this way) next to a float:
 * the bytes are built here by the layout of spec/bundle.md, the index by
 * the writer's encoder. The variant file serves the stored bytes, its CRC
 * verifies, and npy shows it as one opaque '|V<n>' record.
 */
START_TEST(test_view_variant)
{
	char *dir = tu_tmpdir();
	const char *payload[2] = {"state-0", "st1"};
	ckpt__buf data = {0}, index = {0};
	uint32_t crc = 0;
	for (int k = 0; k < 2; k++) {
		uint64_t len = strlen(payload[k]);
		uint8_t le[8], m[4];
		ckpt__store_le64(le, len);
		ck_assert_int_eq(ckpt__buf_append_varint(&data, len), 0);
		ck_assert_int_eq(ckpt__buf_append(&data, payload[k], len), 0);
		crc = ckpt__crc32c_extend(ckpt__crc32c_extend(crc, le, 8), payload[k], len);
		ckpt__store_le32(m, ckpt__crc32c_mask(crc));
		ck_assert_int_eq(ckpt__buf_append(&data, m, 4), 0);
		crc = ckpt__crc32c_extend(crc, m, 4);
	}
	size_t vsize = data.len;
	float w = 2.5f;
	ck_assert_int_eq(ckpt__buf_append(&data, &w, 4), 0);
	int64_t two = 2;
	ckpt__index_entry e[2] = {
	    {(const uint8_t *)"iter",
	     4,
	     {CKPT_DT_VARIANT, 1, &two, 0, 0, (int64_t)vsize, ckpt__crc32c_mask(crc), 0, NULL}},
	    {(const uint8_t *)"w",
	     1,
	     {CKPT_DT_FLOAT, 0, NULL, 0, (int64_t)vsize, 4,
	      ckpt__crc32c_mask(ckpt__crc32c_extend(0, &w, 4)), 0, NULL}},
	};
	ckpt_error err = CKPT_ERROR_INIT;
	ck_assert_int_eq(ckpt__bundle_encode_index(&index, 1, e, 2, &err), 0);
	tu_write(tu_path(dir, "v.index"), index.data, index.len);
	tu_write(tu_path(dir, "v.data-00000-of-00001"), data.data, data.len);

	for (int npy = 0; npy < 2; npy++) {
		struct fx f;
		ck_assert_int_eq(ckpt_reader_open(&f.r, tu_path(dir, "v"), &err), 0);
		size_t n = ckpt_reader_count(f.r);
		f.t = malloc(n * sizeof(*f.t));
		for (size_t i = 0; i < n; i++)
			f.t[i] = *ckpt_reader_tensor(f.r, i);
		ckpt_resolve_opts o = CKPT_RESOLVE_OPTS_INIT;
		ck_assert_msg(ckpt_resolve(&o, f.t, n, &f.plan, &err) == 0, "%s", err.msg);
		ck_assert_msg(
		    ckpt_view_build_format(&f.v, f.r, f.plan, npy ? "npy" : "raw", &err) == 0, "%s",
		    err.msg);
		uint32_t id = ckpt_view_resolve_path(f.v, npy ? "iter.npy" : "iter");
		ck_assert_uint_ne(id, CKPT_VIEW_NONE);
		const ckpt_node *nd = ckpt_view_node(f.v, id);
		uint8_t buf[256];
		size_t got;
		ck_assert_int_eq(ckpt_view_read(f.v, id, 0, buf, sizeof(buf), &got, &err), 0);
		ck_assert_uint_eq(got, nd->size);
		if (npy) {
			char want[32];
			snprintf(want, sizeof(want), "'descr': '|V%zu'", vsize);
			buf[got - vsize - 1] = '\0';
			ck_assert_msg(strstr((char *)buf + 10, want), "%s", buf + 10);
			ck_assert_ptr_nonnull(strstr((char *)buf + 10, "'shape': ()"));
			ck_assert(memcmp(buf + got - vsize, data.data, vsize) == 0);
		} else {
			ck_assert_uint_eq(got, vsize);
			ck_assert(memcmp(buf, data.data, vsize) == 0);
		}
		ck_assert_int_eq(ckpt_view_verify(f.v, id, &err), 0);
		close_fx(&f);
	}
	/* a flipped payload byte fails the running CRC */
	data.data[3] ^= 1;
	tu_write(tu_path(dir, "v.data-00000-of-00001"), data.data, data.len);
	ckpt_reader *r;
	size_t i;
	ck_assert_int_eq(ckpt_reader_open(&r, tu_path(dir, "v"), &err), 0);
	ck_assert_int_eq(ckpt_reader_find(r, "iter", &i), 0);
	ck_assert_int_ne(ckpt_reader_verify_piece(r, i, 0, &err), 0);
	ck_assert_ptr_nonnull(strstr(err.msg, "iter"));
	ckpt_reader_close(r);
	ckpt__buf_free(&data);
	ckpt__buf_free(&index);
	tu_rmtree(dir);
	free(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("view");
	TCase *tc = tcase_create("fixture");
	tcase_add_test(tc, test_view_tree_and_ranges);
	tcase_add_test(tc, test_view_format_names);
	tcase_add_test(tc, test_view_bfloat16);
	tcase_add_test(tc, test_view_variant);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
