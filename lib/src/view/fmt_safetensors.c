/*
 * --format safetensors: the plan as one file, model.safetensors (view.h,
 * spec/safetensors.md). The header is made at build from the plan alone;
 * the data region is the plan files' bytes back to back, read (and
 * spliced) through a raw view of the plan, so nothing is read at build
 * and a read costs what the raw file's read costs.
 */
#include "view/view_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "util/codec_int.h"
#include "util/error_int.h"
#include "util/strbuf_int.h"

/* The reference reader refuses a longer header (safetensors' MAX_HEADER_SIZE). */
#define ST_HEADER_MAX 100000000u

/* One tensor of the data region: one plan file. */
struct st_seg {
	const ckpt_plan_file *f;
	const char *key;    /* in st_state.keys */
	uint32_t raw_id;    /* the plan file's node in the raw view */
	uint64_t off;	    /* data_offsets[0], from the start of the data region */
	uint64_t size;	    /* data_offsets[1] - data_offsets[0] */
	unsigned char rank; /* the dtype's place in the reference's Dtype order */
};

struct st_state {
	ckpt_view *raw;	    /* the plan files' bytes (raw format) */
	struct st_seg *seg; /* in file order */
	size_t n_seg;
	size_t *seg_of; /* plan file index -> its segment */
	char *keys;	/* every key with its NUL */
	char *head;	/* the length and the header, head_len bytes */
	size_t head_len;
	uint32_t file_id;
};

/*
 * safetensors' dtypes in the reference crate's Dtype order, which is by
 * alignment (its writer sorts by it, largest first); the 8-bit floats
 * (F8_E5M2, F8_E4M3) sit between I8 and I16 there and have no TF dtype.
 */
static const struct {
	ckpt_dtype dt;
	const char *name;
} st_dtypes[] = {
    {CKPT_DT_BOOL, "BOOL"},	{CKPT_DT_UINT8, "U8"},	 {CKPT_DT_INT8, "I8"},
    {CKPT_DT_INT16, "I16"},	{CKPT_DT_UINT16, "U16"}, {CKPT_DT_HALF, "F16"},
    {CKPT_DT_BFLOAT16, "BF16"}, {CKPT_DT_INT32, "I32"},	 {CKPT_DT_UINT32, "U32"},
    {CKPT_DT_FLOAT, "F32"},	{CKPT_DT_DOUBLE, "F64"}, {CKPT_DT_INT64, "I64"},
    {CKPT_DT_UINT64, "U64"},
};
#define N_ST_DTYPES (sizeof(st_dtypes) / sizeof(st_dtypes[0]))

/* The place of dt in st_dtypes, or -1. */
static int st_rank(ckpt_dtype dt)
{
	for (size_t k = 0; k < N_ST_DTYPES; k++)
		if (st_dtypes[k].dt == dt)
			return (int)k;
	return -1;
}

/* Why a dtype safetensors has no name for cannot be served, and the --cast
 * that helps, if one does. */
static const char *st_refusal_hint(ckpt_dtype dt)
{
	switch (dt) {
	case CKPT_DT_COMPLEX64: return "--cast complex64=float32 keeps the real part";
	case CKPT_DT_COMPLEX128: return "--cast complex128=float64 keeps the real part";
	case CKPT_DT_QINT8: return "--cast qint8=int8 keeps the values";
	case CKPT_DT_QUINT8: return "--cast quint8=uint8 keeps the values";
	case CKPT_DT_QINT16: return "--cast qint16=int16 keeps the values";
	case CKPT_DT_QUINT16: return "--cast quint16=uint16 keeps the values";
	case CKPT_DT_QINT32: return "--cast qint32=int32 keeps the values";
	default: return "no --cast helps: leave it out of the map";
	}
}

static void st_free(ckpt_view *v)
{
	struct st_state *st = v->st;
	if (st == NULL)
		return;
	ckpt_view_free(st->raw);
	free(st->seg);
	free(st->seg_of);
	free(st->keys);
	free(st->head);
	free(st);
}

/* Every plan file's key (its name, '/' written as key_sep) into st->keys;
 * fails on a dtype safetensors cannot hold. */
static int st_keys(ckpt_view *v, struct st_state *st, ckpt_error *err)
{
	const ckpt_plan *plan = v->plan;
	char sep = v->opts.key_sep ? v->opts.key_sep : '/';
	size_t total = 0;
	for (size_t i = 0; i < plan->n_files; i++) {
		const ckpt_plan_file *f = &plan->files[i];
		if (st_rank(f->dtype) < 0)
			return ckpt__error(
			    err, CKPT_EINVAL,
			    "%s: target %s is %s, which safetensors cannot hold (%s)",
			    CKPT_VIEW_SAFETENSORS, f->var, ckpt_dtype_name(f->dtype),
			    st_refusal_hint(f->dtype));
		total += strlen(f->file) + 1; /* each is in memory: no overflow */
	}
	if ((st->keys = malloc(total ? total : 1)) == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	char *k = st->keys;
	for (size_t i = 0; i < plan->n_files; i++) {
		const ckpt_plan_file *f = &plan->files[i];
		size_t n = strlen(f->file) + 1;
		memcpy(k, f->file, n);
		for (char *c = k; *c; c++)
			if (*c == '/')
				*c = sep;
		st->seg[i] = (struct st_seg){.f = f,
					     .key = k,
					     .raw_id = CKPT_VIEW_NONE,
					     .size = f->size,
					     .rank = (unsigned char)st_rank(f->dtype)};
		k += n;
	}
	return 0;
}

static int cmp_key(const void *a, const void *b)
{
	const struct st_seg *x = a, *y = b;
	return strcmp(x->key, y->key);
}

/* The reference writer's order: dtype alignment, largest first, then the
 * key bytewise (Rust's String order). */
static int cmp_writer(const void *a, const void *b)
{
	const struct st_seg *x = a, *y = b;
	if (x->rank != y->rank)
		return x->rank > y->rank ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* Sort the segments, refusing equal keys and the reserved one. */
static int st_order(ckpt_view *v, struct st_state *st, ckpt_error *err)
{
	qsort(st->seg, st->n_seg, sizeof(*st->seg), cmp_key);
	for (size_t i = 0; i < st->n_seg; i++) {
		const struct st_seg *s = &st->seg[i];
		if (i > 0 && strcmp(st->seg[i - 1].key, s->key) == 0)
			return ckpt__error(err, CKPT_EINVAL,
					   "%s: targets %s and %s both have the key %s (key_sep "
					   "'%c')",
					   CKPT_VIEW_SAFETENSORS, st->seg[i - 1].f->file,
					   s->f->file, s->key,
					   v->opts.key_sep ? v->opts.key_sep : '/');
		if (strcmp(s->key, "__metadata__") == 0)
			return ckpt__error(err, CKPT_EINVAL,
					   "%s: target %s: safetensors reserves the key "
					   "__metadata__",
					   CKPT_VIEW_SAFETENSORS, s->f->file);
	}
	qsort(st->seg, st->n_seg, sizeof(*st->seg), cmp_writer);
	uint64_t off = 0;
	for (size_t i = 0; i < st->n_seg; i++) {
		st->seg[i].off = off;
		st->seg_of[st->seg[i].f - v->plan->files] = i;
		if (ckpt__add_u64(off, st->seg[i].size, &off) || off > INT64_MAX)
			return ckpt__error(err, CKPT_ERANGE, "%s: more than 2^63 bytes of tensors",
					   CKPT_VIEW_SAFETENSORS);
	}
	return 0;
}

/* s as a JSON string (escaped by jansson; 0, or -1 when s is not UTF-8). */
static int put_json_string(ckpt_sbuf *b, const char *s)
{
	json_t *j = json_string(s);
	char *e = j ? json_dumps(j, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	json_decref(j);
	if (j == NULL)
		return -1;
	if (e == NULL)
		b->oom = 1;
	else
		ckpt__sb_puts(b, e);
	free(e);
	return 0;
}

/*
 * The 8-byte length and the header, as the reference writer (serde_json,
 * compact) writes them: __metadata__ first, then the tensors in data
 * order, padded with spaces to a multiple of 8.
 */
static int st_header(ckpt_view *v, struct st_state *st, ckpt_error *err)
{
	ckpt_sbuf b = CKPT_SBUF_INIT;
	const char *const *meta = v->opts.metadata;
	int rc = 0;

	ckpt__sb_putn(&b, "\0\0\0\0\0\0\0\0{", 9);
	if (meta && meta[0]) {
		ckpt__sb_puts(&b, "\"__metadata__\":{");
		for (size_t k = 0; rc == 0 && meta[k]; k += 2) {
			for (size_t j = 0; j < k; j += 2)
				if (strcmp(meta[j], meta[k]) == 0)
					rc = ckpt__error(err, CKPT_EINVAL,
							 "%s: metadata key %s given twice",
							 CKPT_VIEW_SAFETENSORS, meta[k]);
			if (rc == 0 && meta[k + 1] == NULL)
				rc = ckpt__error(err, CKPT_EINVAL,
						 "%s: metadata key %s has no value",
						 CKPT_VIEW_SAFETENSORS, meta[k]);
			if (rc)
				break;
			ckpt__sb_puts(&b, k ? "," : "");
			int bad = put_json_string(&b, meta[k]);
			ckpt__sb_puts(&b, ":");
			if (bad || put_json_string(&b, meta[k + 1]))
				rc = ckpt__error(err, CKPT_EUNSUPPORTED,
						 "%s: metadata %s is not valid UTF-8, which JSON "
						 "cannot carry",
						 CKPT_VIEW_SAFETENSORS, meta[k]);
		}
		ckpt__sb_puts(&b, "}");
	}
	for (size_t i = 0; rc == 0 && i < st->n_seg; i++) {
		const struct st_seg *s = &st->seg[i];
		if (i > 0 || (meta && meta[0]))
			ckpt__sb_puts(&b, ",");
		if (put_json_string(&b, s->key)) {
			rc = ckpt__error(err, CKPT_EUNSUPPORTED,
					 "%s: target %s: a name is not valid UTF-8, which JSON "
					 "cannot carry",
					 CKPT_VIEW_SAFETENSORS, s->f->file);
			break;
		}
		ckpt__sb_printf(&b, ":{\"dtype\":\"%s\",\"shape\":[", st_dtypes[s->rank].name);
		for (int d = 0; d < s->f->rank; d++)
			ckpt__sb_printf(&b, "%s%lld", d ? "," : "", (long long)s->f->shape[d]);
		ckpt__sb_printf(&b, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)s->off,
				(unsigned long long)(s->off + s->size));
		if (b.len - 8 > ST_HEADER_MAX)
			break;
	}
	ckpt__sb_puts(&b, "}");
	while (rc == 0 && !b.oom && (b.len - 8) % 8 != 0)
		ckpt__sb_puts(&b, " ");
	if (rc == 0 && b.oom)
		rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
	if (rc == 0 && b.len - 8 > ST_HEADER_MAX)
		rc = ckpt__error(err, CKPT_EUNSUPPORTED,
				 "%s: the header would take more than the %u bytes safetensors "
				 "readers accept (%zu tensors)",
				 CKPT_VIEW_SAFETENSORS, ST_HEADER_MAX, st->n_seg);
	if (rc) {
		free(b.p);
		return rc;
	}
	for (int k = 0; k < 8; k++)
		b.p[k] = (char)(((uint64_t)(b.len - 8) >> (8 * k)) & 0xff);
	st->head = b.p;
	st->head_len = b.len;
	return 0;
}

/* Fill v->st and add model.safetensors to the root. */
static int st_build(ckpt_view *v, ckpt_error *err)
{
	struct st_state *st = calloc(1, sizeof(*st));
	size_t n = v->plan->n_files;
	int rc;

	if (st == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	v->st = st;
	st->n_seg = n;
	st->seg = calloc(n ? n : 1, sizeof(*st->seg));
	st->seg_of = calloc(n ? n : 1, sizeof(*st->seg_of));
	if (st->seg == NULL || st->seg_of == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	if ((rc = st_keys(v, st, err)) || (rc = st_order(v, st, err)) ||
	    (rc = st_header(v, st, err)))
		return rc;
	if ((rc = ckpt__view_build_raw(&st->raw, v, err)))
		return rc;
	for (size_t i = 0; i < n; i++)
		st->seg[st->seg_of[i]].raw_id = st->raw->file_node[i];
	st->file_id = ckpt__view_add_node(v, CKPT_VIEW_ROOT, CKPT_VIEW_SAFETENSORS,
					  strlen(CKPT_VIEW_SAFETENSORS), 0);
	if (st->file_id == CKPT_VIEW_NONE)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	uint64_t data = n ? st->seg[n - 1].off + st->seg[n - 1].size : 0;
	v->n[st->file_id].pub.size = st->head_len + data; /* data < 2^63 */
	return 0;
}

static uint64_t st_seg_end(const void *ctx, size_t i)
{
	const struct st_state *st = ctx;
	return st->seg[i].off + st->seg[i].size;
}

/* The segment holding data byte d, or n_seg when d is past the data. */
static size_t st_find(const struct st_state *st, uint64_t d)
{
	return ckpt__view_seg_after(st->n_seg, d, st_seg_end, st);
}

/* Bytes [off, off+len) of model.safetensors (inside it, len > 0): the
 * header from memory, then tensor by tensor, each from its raw file. */
static int st_read(const ckpt_view *v, uint32_t id, uint64_t off, void *buf, size_t len,
		   size_t *got, ckpt_error *err)
{
	const struct st_state *st = v->st;
	uint8_t *out = buf;
	size_t done = 0;
	(void)id;
	*got = 0;
	if (off < st->head_len) {
		done = st->head_len - (size_t)off < len ? st->head_len - (size_t)off : len;
		memcpy(out, st->head + off, done);
	}
	uint64_t d = off + done - st->head_len;
	for (size_t i = st_find(st, d); i < st->n_seg && done < len; i++) {
		const struct st_seg *s = &st->seg[i];
		uint64_t a = d - s->off;
		size_t n = s->size - a < len - done ? (size_t)(s->size - a) : len - done, g = 0;
		if (n == 0)
			continue;
		int rc = ckpt_view_read(st->raw, s->raw_id, a, out + done, n, &g, err);
		if (rc)
			return rc;
		if (g != n)
			return ckpt__error(err, CKPT_EIO, "%s: %s: %zu of %zu bytes at %llu read",
					   CKPT_VIEW_SAFETENSORS, s->f->file, g, n,
					   (unsigned long long)a);
		done += n;
		d += n;
	}
	*got = done;
	return 0;
}

/* Zero-copy when the range lies inside one tensor that the raw view can
 * splice. */
static int st_map(const ckpt_view *v, uint32_t id, uint64_t off, size_t len, int *fd,
		  uint64_t *fd_off, ckpt_object **pin)
{
	const struct st_state *st = v->st;
	if (id != st->file_id || off < st->head_len)
		return 0;
	uint64_t d = off - st->head_len;
	size_t i = st_find(st, d);
	if (i == st->n_seg || len > st->seg[i].off + st->seg[i].size - d)
		return 0;
	return ckpt_view_map(st->raw, st->seg[i].raw_id, d - st->seg[i].off, len, fd, fd_off, pin);
}

/* model.safetensors draws from every tensor it holds. */
static int st_verify(const ckpt_view *v, uint32_t id, int check, int *rc, ckpt_error *err)
{
	if (id != v->st->file_id)
		return PIECE_GOOD;
	return ckpt__view_files_state(v->st->raw, check, rc, err);
}

/* A plan file is its tensor's run of model.safetensors. */
static void st_place(const ckpt_view *v, const ckpt_plan_file *f, uint32_t *node, uint64_t *off,
		     uint64_t *size)
{
	const struct st_seg *s = &v->st->seg[v->st->seg_of[f - v->plan->files]];
	*node = v->st->file_id;
	*off = v->st->head_len + s->off;
	*size = s->size;
}

/* @mapping.json: the tensor's key and data_offsets in the header. */
static int st_amend(const ckpt_view *v, const ckpt_plan_file *f, void *obj)
{
	const struct st_seg *s = &v->st->seg[v->st->seg_of[f - v->plan->files]];
	json_t *o = obj;
	if (json_object_set_new(o, "key", json_string(s->key)) ||
	    json_object_set_new(
		o, "data_offsets",
		json_pack("[I,I]", (json_int_t)s->off, (json_int_t)(s->off + s->size))))
		return CKPT_ENOMEM;
	return 0;
}

const struct ckpt__view_format ckpt__view_fmt_safetensors = {
    .name = "safetensors",
    .own_files = 1,
    .build = st_build,
    .read = st_read,
    .splice_map = st_map,
    .verify = st_verify,
    .place = st_place,
    .mapping_amend = st_amend,
    .free = st_free,
};
