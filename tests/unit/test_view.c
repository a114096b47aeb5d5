/*
 * The view over a real fixture: tree shape, exact sizes, and byte ranges
 * equal to ranges cut from an independent whole-tensor read.
 */
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt/reader.h"
#include "ckpt/resolve.h"
#include "ckpt/store.h"
#include "ckpt/view.h"
#include "ckpt/writer.h"
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

/* A copy of r's tensor table, as ckpt_resolve takes it. Ownership: the
 * caller frees it. */
static ckpt_tensor *tensors_of(const ckpt_reader *r)
{
	size_t n = ckpt_reader_count(r);
	ckpt_tensor *t = malloc((n ? n : 1) * sizeof(*t));
	ck_assert_ptr_nonnull(t);
	for (size_t i = 0; i < n; i++)
		t[i] = *ckpt_reader_tensor(r, i);
	return t;
}

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
	f->t = tensors_of(f->r);
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
		f.t = tensors_of(f.r);
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

/* ---- --verify read: ckpt_view_may_open / may_serve / next_failed ---- */

/*
 * A store forwarding to the local one, counting the bytes read from data
 * shards; `local` says whether it offers the splice hook (then the view
 * may read ahead of a reader in its helper thread) or is like a remote
 * store (then the CRC comes from the bytes read for the reader only).
 */
struct cstore {
	ckpt_store pub;
	ckpt_store *inner;
	int local;
	_Atomic uint64_t data_bytes;
};
struct cobj {
	ckpt_object pub;
	ckpt_object *inner;
};

static int cs_stat(ckpt_store *s, const char *name, ckpt_stat *st, ckpt_error *err)
{
	return ckpt_store_stat(((struct cstore *)s)->inner, name, st, err);
}

static int cs_open(ckpt_store *s, const char *name, ckpt_object **out, ckpt_error *err)
{
	struct cobj *o = calloc(1, sizeof(*o));
	ck_assert_ptr_nonnull(o);
	int rc = ckpt_store_open(((struct cstore *)s)->inner, name, &o->inner, err);
	if (rc) {
		free(o);
		return rc;
	}
	o->pub.store = s;
	o->pub.name = ckpt_object_name(o->inner);
	o->pub.st = *ckpt_object_stat(o->inner);
	*out = &o->pub;
	return 0;
}

static int cs_pread(ckpt_object *o, void *buf, size_t len, uint64_t off, ckpt_error *err)
{
	struct cstore *s = (struct cstore *)o->store;
	if (strstr(o->name, ".data-"))
		atomic_fetch_add(&s->data_bytes, len);
	return ckpt_object_pread(((struct cobj *)o)->inner, buf, len, off, err);
}

static void cs_close(ckpt_object *o)
{
	ckpt_object_close(((struct cobj *)o)->inner);
	free(o);
}

static int cs_list(ckpt_store *s, const char *pattern, char ***names, size_t *n, ckpt_error *err)
{
	return ckpt_store_list(((struct cstore *)s)->inner, pattern, names, n, err);
}

static int cs_splice_fd(ckpt_object *o, int *fd)
{
	return ckpt_object_splice_fd(((struct cobj *)o)->inner, fd);
}

static void cs_splice_release(ckpt_object *o)
{
	ckpt_object_splice_release(((struct cobj *)o)->inner);
}

static void cs_destroy(ckpt_store *s)
{
	ckpt_store_free(((struct cstore *)s)->inner);
	free(s);
}

static const struct ckpt_store_ops cs_local_ops = {cs_stat,	      cs_open, cs_pread,
						   cs_close,	      cs_list, cs_splice_fd,
						   cs_splice_release, NULL,    cs_destroy};
static const struct ckpt_store_ops cs_remote_ops = {cs_stat, cs_open, cs_pread, cs_close,  cs_list,
						    NULL,    NULL,    NULL,	cs_destroy};

/* w, c: 2 MiB float32 tensors (c has a flipped byte at byte `flip` of its
 * data when flip >= 0); s: 4 floats. */
#define SV_ROWS 512
#define SV_COLS 1024
#define SV_BYTES ((size_t)SV_ROWS * SV_COLS * 4)

struct sv {
	char *dir;
	struct cstore *store;
	ckpt_reader *r;
	ckpt_tensor *t;
	ckpt_plan *plan;
	ckpt_view *v;
	float *w, *c;
	size_t w_bytes;	      /* w's; c's are SV_BYTES */
	uint64_t build_bytes; /* data read while building the view */
};

static float sv_value(size_t i, int k)
{
	return (float)((i * 2654435761u + (size_t)k * 97u) % 100003u) / 7.0f;
}

/* maps: NULL (identity) or "a=b;c=d"; format: NULL (raw) or a format
 * name; wparts > 0: the targets c, s and w, w in wparts row parts. */
static void sv_open_as(struct sv *f, int local, long flip, const char *maps, const char *format,
		       int64_t wparts, int64_t wrows)
{
	ckpt_error err = CKPT_ERROR_INIT;
	memset(f, 0, sizeof(*f));
	f->dir = tu_tmpdir();
	const char *pfx = tu_path(f->dir, "m");
	f->w_bytes = (size_t)wrows * SV_COLS * 4;
	f->w = malloc(f->w_bytes);
	f->c = malloc(SV_BYTES);
	ck_assert(f->w && f->c);
	for (size_t i = 0; i < f->w_bytes / 4; i++)
		f->w[i] = sv_value(i, 1);
	for (size_t i = 0; i < SV_BYTES / 4; i++)
		f->c[i] = sv_value(i, 2);
	float small[4] = {1, 2, 3, 4};
	int64_t dims[2] = {SV_ROWS, SV_COLS}, wdims[2] = {wrows, SV_COLS}, four = 4;
	ckpt_writer *wr;
	ck_assert_int_eq(ckpt_writer_open(&wr, pfx, &err), 0);
	ck_assert_int_eq(ckpt_writer_add(wr, "c", CKPT_DT_FLOAT, 2, dims, f->c, SV_BYTES, &err), 0);
	ck_assert_int_eq(ckpt_writer_add(wr, "s", CKPT_DT_FLOAT, 1, &four, small, 16, &err), 0);
	ck_assert_int_eq(ckpt_writer_add(wr, "w", CKPT_DT_FLOAT, 2, wdims, f->w, f->w_bytes, &err),
			 0);
	ck_assert_int_eq(ckpt_writer_finish(wr, &err), 0);
	ckpt_writer_close(wr);
	if (flip >= 0) /* c is first in the data file */
		tu_flip(tu_path(f->dir, "m.data-00000-of-00001"), flip);
	f->store = calloc(1, sizeof(*f->store));
	f->store->pub.ops = local ? &cs_local_ops : &cs_remote_ops;
	f->store->local = local;
	ck_assert_int_eq(ckpt_store_posix_new(&f->store->inner, 0, &err), 0);
	ck_assert_int_eq(ckpt_reader_open_store(&f->r, &f->store->pub, pfx, &err), 0);
	size_t n = ckpt_reader_count(f->r);
	f->t = tensors_of(f->r);
	ckpt_map_entry *e = NULL;
	size_t ne = 0;
	char buf[256];
	for (const char *m = maps; m && *m;) {
		const char *semi = strchr(m, ';');
		size_t l = semi ? (size_t)(semi - m) : strlen(m);
		memcpy(buf, m, l);
		buf[l] = '\0';
		ck_assert_int_eq(ckpt_map_parse_arg(buf, &e, &ne, &err), 0);
		m += l + (semi != NULL);
	}
	ckpt_resolve_opts o = CKPT_RESOLVE_OPTS_INIT;
	o.entries = e;
	o.n_entries = ne;
	o.ckpt_path = pfx;
	int64_t parts[2] = {wparts, 1};
	ckpt_target_var tv[3] = {
	    {.name = "c", .dtype = CKPT_DT_FLOAT, .rank = 2, .dims = dims},
	    {.name = "s", .dtype = CKPT_DT_FLOAT, .rank = 1, .dims = &four},
	    {.name = "w", .dtype = CKPT_DT_FLOAT, .rank = 2, .dims = wdims, .partitions = parts}};
	if (wparts > 0) {
		o.targets = tv;
		o.n_targets = 3;
	}
	ck_assert_msg(ckpt_resolve(&o, f->t, n, &f->plan, &err) == 0, "%s", err.msg);
	ckpt_map_entries_free(e, ne);
	ck_assert_msg(ckpt_view_build_format(&f->v, f->r, f->plan, format ? format : "raw", &err) ==
			  0,
		      "%s", err.msg);
	f->build_bytes = atomic_exchange(&f->store->data_bytes, 0);
}

static void sv_open(struct sv *f, int local, long flip, const char *maps)
{
	sv_open_as(f, local, flip, maps, NULL, 0, SV_ROWS);
}

static void sv_close(struct sv *f)
{
	ckpt_view_free(f->v);
	ckpt_plan_free(f->plan);
	free(f->t);
	ckpt_reader_close(f->r);
	ckpt_store_free(&f->store->pub);
	tu_rmtree(f->dir);
	free(f->dir);
	free(f->w);
	free(f->c);
}

/*
 * Serve file `path` in `step`-byte replies in the order `order` gives
 * (NULL: front to back), reading each first unless `spliced` (as a
 * spliced reply, whose bytes the view never sees). Every reply but the
 * last must be allowed; returns the status of the last one.
 */
static int sv_serve(struct sv *f, const char *path, size_t step, const size_t *order, int spliced,
		    const float *want)
{
	uint32_t id = ckpt_view_resolve_path(f->v, path);
	ck_assert_uint_ne(id, CKPT_VIEW_NONE);
	uint64_t size = ckpt_view_node(f->v, id)->size;
	size_t n = (size_t)((size + step - 1) / step);
	uint8_t *buf = malloc(step);
	int rc = 0;
	for (size_t k = 0; k < n; k++) {
		uint64_t off = (order ? order[k] : k) * step;
		size_t len = size - off < step ? (size_t)(size - off) : step, got;
		ckpt_error err = CKPT_ERROR_INIT;
		if (!spliced) {
			ck_assert_int_eq(ckpt_view_read(f->v, id, off, buf, len, &got, &err), 0);
			ck_assert_uint_eq(got, len);
			if (want)
				ck_assert(memcmp(buf, (const uint8_t *)want + off, len) == 0);
		}
		rc = ckpt_view_may_serve(f->v, id, off, len, &err);
		if (k + 1 < n)
			ck_assert_msg(rc == 0, "%s: reply %zu of %zu refused: %s", path, k, n,
				      err.msg);
		else if (rc)
			ck_assert_msg(strstr(err.msg, "hecksum"), "%s", err.msg);
	}
	free(buf);
	return rc;
}

/* Every order of replies: nothing is refused before the last; the last
 * goes out for a good file and fails for a corrupt one, whether the view
 * saw the bytes (read for the reply) or not (spliced). */
START_TEST(test_view_serve_orders)
{
	size_t order[SV_BYTES / 65536];
	size_t n = sizeof(order) / sizeof(order[0]);
	for (int mode = 0; mode < 6; mode++) {
		int local = mode % 2, shuffled = mode / 2 == 1, spliced = mode / 2 == 2;
		struct sv f;
		sv_open(&f, local, 1000 + mode * 4096, NULL);
		for (size_t k = 0; k < n; k++)
			order[k] = k;
		unsigned seed = 11u + (unsigned)mode;
		for (size_t k = n - 1; shuffled && k > 0; k--) {
			seed = seed * 1103515245u + 12345u;
			size_t j = (seed >> 8) % (k + 1), x = order[k];
			order[k] = order[j];
			order[j] = x;
		}
		uint32_t w = ckpt_view_resolve_path(f.v, "w"), c = ckpt_view_resolve_path(f.v, "c");
		ck_assert_int_eq(ckpt_view_may_open(f.v, c, NULL), 0);
		ck_assert_int_eq(sv_serve(&f, "w", 65536, order, spliced, f.w), 0);
		ck_assert_int_eq(ckpt_view_verified(f.v, w), 1);
		ck_assert_int_eq(sv_serve(&f, "c", 65536, order, spliced, NULL), CKPT_ECHECKSUM);
		ck_assert_int_eq(ckpt_view_verified(f.v, c), -1);
		/* from then on: every open and reply of c fails, w is unaffected */
		ckpt_error err = CKPT_ERROR_INIT;
		ck_assert_int_eq(ckpt_view_may_open(f.v, c, &err), CKPT_ECHECKSUM);
		ck_assert_ptr_nonnull(strstr(err.msg, "tensor c failed its checksum"));
		ck_assert_int_eq(ckpt_view_may_serve(f.v, c, 0, 4096, NULL), CKPT_ECHECKSUM);
		ck_assert_int_eq(ckpt_view_may_open(f.v, w, NULL), 0);
		ck_assert_int_eq(ckpt_view_may_serve(f.v, w, 0, 4096, NULL), 0);
		/* the failed file is named once */
		ck_assert_uint_eq(ckpt_view_next_failed(f.v, 0), c);
		ck_assert_uint_eq(ckpt_view_next_failed(f.v, c + 1), CKPT_VIEW_NONE);
		ck_assert_uint_eq(ckpt_view_next_failed(f.v, 0), CKPT_VIEW_NONE);
		sv_close(&f);
	}
}
END_TEST

/* A few bytes are served unchecked; the file is checked only once all of
 * it has gone out, whatever the replies overlapped. */
START_TEST(test_view_serve_partial)
{
	struct sv f;
	sv_open(&f, 1, 77, NULL);
	uint32_t c = ckpt_view_resolve_path(f.v, "c");
	ck_assert_int_eq(ckpt_view_may_serve(f.v, c, 0, 4096, NULL), 0);
	ck_assert_int_eq(ckpt_view_may_serve(f.v, c, 4096, 8192, NULL), 0);
	ck_assert_int_eq(ckpt_view_may_serve(f.v, c, SV_BYTES - 100, 100, NULL), 0);
	ck_assert_int_eq(ckpt_view_verified(f.v, c), 0); /* nothing checked */
	/* all but the first byte of one 4 KiB unit */
	ck_assert_int_eq(ckpt_view_may_serve(f.v, c, 8192, SV_BYTES - 8192 - 4096 * 3, NULL), 0);
	ck_assert_int_eq(ckpt_view_may_serve(f.v, c, SV_BYTES - 4096 * 2 + 1, 10, NULL), 0);
	ck_assert_int_eq(ckpt_view_verified(f.v, c), 0);
	ck_assert_int_eq(ckpt_view_may_serve(f.v, c, SV_BYTES - 4096 * 3, 10, NULL),
			 CKPT_ECHECKSUM);
	/* past the end and empty replies are no bytes of the file */
	uint32_t w = ckpt_view_resolve_path(f.v, "w");
	ck_assert_int_eq(ckpt_view_may_serve(f.v, w, SV_BYTES, 4096, NULL), 0);
	ck_assert_int_eq(ckpt_view_may_serve(f.v, w, 0, 0, NULL), 0);
	ck_assert_int_eq(ckpt_view_verified(f.v, w), 0);
	sv_close(&f);
}
END_TEST

/* Two files drawing from one corrupt piece (c mapped twice): the first
 * read whole fails, then the other fails to open and is named too. */
START_TEST(test_view_serve_shared_piece)
{
	struct sv f;
	sv_open(&f, 0, (long)SV_BYTES - 3, "c=x;c=y;s=s");
	uint32_t x = ckpt_view_resolve_path(f.v, "x"), y = ckpt_view_resolve_path(f.v, "y");
	ck_assert_uint_ne(x, CKPT_VIEW_NONE);
	ck_assert_uint_ne(y, CKPT_VIEW_NONE);
	ck_assert_int_eq(ckpt_view_may_serve(f.v, y, 0, 4096, NULL), 0); /* y's first page */
	ck_assert_int_eq(sv_serve(&f, "x", 131072, NULL, 0, NULL), CKPT_ECHECKSUM);
	ck_assert_int_eq(ckpt_view_may_open(f.v, y, NULL), CKPT_ECHECKSUM);
	ck_assert_int_eq(ckpt_view_may_serve(f.v, y, 4096, 4096, NULL), CKPT_ECHECKSUM);
	uint32_t a = ckpt_view_next_failed(f.v, 0);
	uint32_t b = ckpt_view_next_failed(f.v, a + 1);
	ck_assert_uint_eq(a < b ? a : b, x < y ? x : y);
	ck_assert_uint_eq(a < b ? b : a, x < y ? y : x);
	ck_assert_uint_eq(ckpt_view_next_failed(f.v, b + 1), CKPT_VIEW_NONE);
	/* s draws from another piece */
	ck_assert_int_eq(sv_serve(&f, "s", 4096, NULL, 0, NULL), 0);
	sv_close(&f);
}
END_TEST

/*
 * The check costs a reader in sequence no second read: over a store with
 * no local file (a remote one), a file read front to back is checked from
 * the bytes read for it, so the data read is the file once, and its first
 * reply (read before the view knew there would be more) once again; the
 * same from a local store reads each byte at most twice (once more, by the
 * helper ahead of the reader, whose replies the view may never see).
 */
START_TEST(test_view_serve_reads_once)
{
	for (int local = 0; local < 2; local++) {
		struct sv f;
		sv_open(&f, local, -1, NULL);
		ck_assert_int_eq(sv_serve(&f, "w", 131072, NULL, 0, f.w), 0);
		uint64_t got = atomic_load(&f.store->data_bytes);
		ck_assert_msg(got >= SV_BYTES && got <= (local ? 2 * SV_BYTES : SV_BYTES + 131072),
			      "local %d: %llu bytes read for a %zu-byte file", local,
			      (unsigned long long)got, SV_BYTES);
		ck_assert_int_eq(ckpt_view_verified(f.v, ckpt_view_resolve_path(f.v, "w")), 1);
		sv_close(&f);
	}
}
END_TEST

/*
 * --format tf reads all mapped data at build and checks its sources from
 * those bytes: each byte is read once, for a tensor in one file and for
 * one in 4 row parts (checked once all its parts are read); a corrupt one
 * fails the build.
 */
START_TEST(test_view_serve_tf_build_reads_once)
{
	for (int64_t parts = 1; parts <= 4; parts *= 4) {
		struct sv f;
		sv_open_as(&f, 1, -1, NULL, "tf", parts, SV_ROWS);
		ck_assert_msg(f.build_bytes == 2 * SV_BYTES + 16, "%lld parts: %llu bytes read",
			      (long long)parts, (unsigned long long)f.build_bytes);
		ck_assert_uint_eq(ckpt_view_verified(
				      f.v, ckpt_view_resolve_path(f.v, "ckpt.data-00000-of-00001")),
				  1);
		sv_close(&f);
	}
}
END_TEST

/* Wait (at most 2000 probes) until the store has read want data bytes. */
static uint64_t sv_wait_read(struct sv *f, uint64_t want)
{
	for (int probes = 0; atomic_load(&f->store->data_bytes) < want && probes < 2000; probes++)
		usleep(10000);
	return atomic_load(&f->store->data_bytes);
}

/*
 * A file of 80 MiB read in sequence, its replies spliced (never seen by
 * the view): the helper reads at most 64 MiB past the reader, waits there,
 * goes on when the reader does, and reads the file's last bytes too, each
 * byte once; so the last reply reads nothing more. (The helper works on
 * its own time: the test waits for its reads, at most 2000 probes each.)
 */
START_TEST(test_view_serve_helper_reads_all)
{
	struct sv f;
	sv_open_as(&f, 1, -1, NULL, NULL, 0, 20480);
	uint32_t w = ckpt_view_resolve_path(f.v, "w");
	uint64_t step = 1 << 20, lead = (uint64_t)64 << 20, off = 0;
	for (; off < 10 * step; off += step)
		ck_assert_int_eq(ckpt_view_may_serve(f.v, w, off, step, NULL), 0);
	ck_assert_uint_eq(sv_wait_read(&f, off + lead), off + lead);
	usleep(20000); /* not further */
	ck_assert_uint_eq(atomic_load(&f.store->data_bytes), off + lead);
	for (; off + step < f.w_bytes; off += step)
		ck_assert_int_eq(ckpt_view_may_serve(f.v, w, off, step, NULL), 0);
	ck_assert_msg(sv_wait_read(&f, f.w_bytes) == f.w_bytes, "the helper read %llu of %zu bytes",
		      (unsigned long long)atomic_load(&f.store->data_bytes), f.w_bytes);
	ck_assert_int_eq(ckpt_view_may_serve(f.v, w, off, step, NULL), 0);
	ck_assert_int_eq(ckpt_view_verified(f.v, w), 1);
	ck_assert_uint_eq(atomic_load(&f.store->data_bytes), f.w_bytes);
	sv_close(&f);
}
END_TEST

/* Freeing the view while its helper reads ahead of a reader stops it. */
START_TEST(test_view_serve_free_while_ahead)
{
	struct sv f;
	sv_open(&f, 1, -1, NULL);
	uint32_t w = ckpt_view_resolve_path(f.v, "w");
	for (uint64_t off = 0; off < SV_BYTES / 2; off += 131072)
		ck_assert_int_eq(ckpt_view_may_serve(f.v, w, off, 131072, NULL), 0);
	sv_close(&f);
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
	TCase *sv = tcase_create("serve");
	tcase_add_test(sv, test_view_serve_orders);
	tcase_add_test(sv, test_view_serve_partial);
	tcase_add_test(sv, test_view_serve_shared_piece);
	tcase_add_test(sv, test_view_serve_reads_once);
	tcase_add_test(sv, test_view_serve_tf_build_reads_once);
	tcase_add_test(sv, test_view_serve_helper_reads_all);
	tcase_add_test(sv, test_view_serve_free_while_ahead);
	tcase_set_timeout(sv, 60);
	suite_add_tcase(s, sv);
	return tu_run(s);
}
