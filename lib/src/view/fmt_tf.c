/*
 * --format tf: the plan as one TensorFlow V2 checkpoint, ckpt.index and
 * ckpt.data-00000-of-00001 with a `checkpoint` state file naming it
 * (view.h), served from a raw view of the plan.
 */
#include "view/view_int.h"

#include <stdlib.h>
#include <string.h>

#include "format/slicekey_int.h"
#include "format/writer_int.h"
#include "util/crc32c_int.h"
#include "util/error_int.h"
#include "util/strbuf_int.h"

/* One tensor's bytes in the data file: one plan file, in TF1 Saver order. */
struct tf_seg {
	const ckpt_plan_file *f;
	uint32_t raw_id; /* the plan file's node in the raw view */
	uint64_t off;	 /* in the data file */
	uint64_t size;
	uint8_t *head; /* strings: varint64 lengths + masked length CRC */
	size_t head_len;
	uint32_t crc; /* masked CRC32C of the segment, as the entry stores it */
};

struct tf_state {
	ckpt_view *raw; /* the plan files' bytes (raw format) */
	struct tf_seg *seg;
	size_t n_seg;
	ckpt__buf index; /* the whole .index file */
	uint32_t index_id, data_id, state_id;
};

/* The `checkpoint` state file beside them (spec/checkpoint_state.md: the
 * CheckpointState text TF's Saver writes for one save, relative paths, no
 * timestamps), so a copy of the mount is a checkpoint directory. */
static const char tf_state_text[] = "model_checkpoint_path: \"" CKPT_VIEW_TF_PREFIX "\"\n"
				    "all_model_checkpoint_paths: \"" CKPT_VIEW_TF_PREFIX "\"\n";

static void tf_free(struct tf_state *tf)
{
	if (tf == NULL)
		return;
	for (size_t i = 0; i < tf->n_seg; i++)
		free(tf->seg[i].head);
	free(tf->seg);
	ckpt__buf_free(&tf->index);
	ckpt_view_free(tf->raw);
	free(tf);
}

/* Bytes [off, off+len) of a string segment's body: its strings' bytes
 * back to back (the lengths are in the head), as the source stores them. */
static int tf_string_body(const ckpt_view *v, const struct tf_seg *sg, uint64_t off, uint8_t *out,
			  size_t len, ckpt_error *err)
{
	const ckpt__strings_index *x;
	int rc = ckpt__strings_get(v->strings, v->r, sg->f->source, &x, err);
	if (rc)
		return rc;
	rc = ckpt__strings_read_body(v->r, x, off, out, len, err);
	ckpt__strings_put(v->strings, x);
	return rc;
}

/* Bytes [off, off+len) of segment sg (off + len <= sg->size). */
static int tf_seg_read(const ckpt_view *v, const struct tf_seg *sg, uint64_t off, uint8_t *out,
		       size_t len, ckpt_error *err)
{
	if (off < sg->head_len) {
		size_t n = sg->head_len - (size_t)off < len ? sg->head_len - (size_t)off : len;
		memcpy(out, sg->head + off, n);
		out += n;
		len -= n;
		off = sg->head_len;
	}
	if (len == 0)
		return 0;
	off -= sg->head_len;
	if (sg->f->dtype == CKPT_DT_STRING)
		return tf_string_body(v, sg, off, out, len, err);
	while (len > 0) {
		size_t got = 0;
		int rc = ckpt_view_read(v->tf->raw, sg->raw_id, off, out, len, &got, err);
		if (rc)
			return rc;
		if (got == 0)
			return ckpt__error(err, CKPT_EIO, "%s: short read", sg->f->file);
		out += got;
		len -= got;
		off += got;
	}
	return 0;
}

static uint64_t tf_seg_end(const void *ctx, size_t i)
{
	const struct tf_state *tf = ctx;
	return tf->seg[i].off + tf->seg[i].size;
}

/* Reads of ckpt.index (from memory) and ckpt.data-* (segment by segment). */
static int tf_read(const ckpt_view *v, uint32_t id, uint64_t off, void *buf, size_t len,
		   size_t *got, ckpt_error *err)
{
	const struct tf_state *tf = v->tf;
	uint64_t size = v->n[id].pub.size;
	*got = 0;
	if (off >= size || len == 0)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	if (id == tf->index_id || id == tf->state_id) {
		memcpy(buf,
		       (id == tf->index_id ? (const char *)tf->index.data : tf_state_text) + off,
		       len);
		*got = len;
		return 0;
	}
	size_t lo = ckpt__view_seg_after(tf->n_seg, off, tf_seg_end, tf);
	uint8_t *out = buf;
	size_t done = 0;
	for (size_t i = lo; i < tf->n_seg && done < len; i++) {
		const struct tf_seg *sg = &tf->seg[i];
		uint64_t a = off + done - sg->off;
		if (sg->size == 0)
			continue;
		size_t n = sg->size - a < len - done ? (size_t)(sg->size - a) : len - done;
		int rc = tf_seg_read(v, sg, a, out + done, n, err);
		if (rc)
			return rc;
		done += n;
	}
	*got = done;
	return 0;
}

/*
 * Size, head and CRC of segment sg. The CRC needs every byte: numeric
 * tensors are read once through the raw view in 1 MiB chunks (converted),
 * strings once through the reader. This is where mounting with --format tf
 * reads all mapped data: cost linear in the data, once per mount.
 */
static int tf_seg_prepare(const ckpt_view *v, struct tf_seg *sg, ckpt_error *err)
{
	const ckpt_plan_file *f = sg->f;
	uint32_t crc = 0;
	int rc = 0;

	if (f->dtype == CKPT_DT_STRING) {
		char **s;
		uint64_t *l;
		ckpt__buf head = {0};
		if ((rc = ckpt_reader_read_strings(v->r, f->source, &s, &l, err)))
			return rc;
		if (ckpt__bundle_string_head(&head, (size_t)f->num_elements, l, &crc)) {
			rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
		} else {
			sg->head = head.data;
			sg->head_len = head.len;
			sg->size = head.len;
			for (uint64_t k = 0; k < f->num_elements; k++) {
				crc = ckpt__crc32c_extend(crc, s[k], (size_t)l[k]);
				sg->size += l[k];
			}
		}
		ckpt_reader_free_strings(s, l);
		sg->crc = ckpt__crc32c_mask(crc);
		if (rc == 0) /* ckpt_reader_read_strings checked the source CRC */
			ckpt__view_piece_passed(v->tf->raw, f->source, 0);
		return rc;
	}
	enum { CHUNK = 1 << 20 };
	sg->size = ckpt_view_node(v->tf->raw, sg->raw_id)->size;
	uint8_t *buf = malloc(sg->size < CHUNK ? (size_t)sg->size + 1 : CHUNK);
	if (buf == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	for (uint64_t off = 0; off < sg->size && rc == 0;) {
		size_t n = sg->size - off < CHUNK ? (size_t)(sg->size - off) : CHUNK;
		rc = tf_seg_read(v, sg, off, buf, n, err);
		crc = ckpt__crc32c_extend(crc, buf, n);
		off += n;
	}
	free(buf);
	sg->crc = ckpt__crc32c_mask(crc);
	return rc;
}

/* A part that is the whole variable: TF's IsFullSlice (a plain Add). */
static int tf_full_slice(const ckpt_plan_file *f)
{
	for (int d = 0; d < f->rank; d++)
		if (f->var_start[d] != 0 || f->shape[d] != f->var_shape[d])
			return 0;
	return 1;
}

/*
 * The index entries, as ckpt_writer gets them when TF1's Saver saves the
 * plan: each variable Add()ed, each part AddSlice()d with explicit extents
 * (a slice entry under its slice key, and the variable's full entry listing
 * its parts' extents in order). Keys live in keys[] (freed by the caller).
 */
static int tf_build_index(ckpt_view *v, ckpt_error *err)
{
	struct tf_state *tf = v->tf;
	size_t n = tf->n_seg;
	ckpt__index_entry *e = calloc(2 * n + 1, sizeof(*e));
	ckpt__buf *keys = calloc(n + 1, sizeof(*keys));
	int64_t *pairs = NULL;
	size_t ne = 0;
	int rc = 0;

	if (e == NULL || keys == NULL)
		rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
	/* slices of the full entries: 2 * rank per part, all parts together */
	size_t npairs = 0;
	for (size_t i = 0; rc == 0 && i < n; i++)
		npairs += 2 * (size_t)(tf->seg[i].f->rank ? tf->seg[i].f->rank : 1);
	if (rc == 0 && (pairs = malloc(npairs * sizeof(int64_t))) == NULL)
		rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
	size_t used = 0;
	ckpt__index_entry *full = NULL; /* the full entry of the variable being sliced */
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct tf_seg *sg = &tf->seg[i];
		const ckpt_plan_file *f = sg->f;
		ckpt__entry_fields ef = {
		    .dtype = f->dtype,
		    .rank = f->rank,
		    .dims = f->shape,
		    .offset = (int64_t)sg->off,
		    .size = (int64_t)sg->size,
		    .crc32c = sg->crc,
		};
		if (f->part < 0 || tf_full_slice(f)) {
			e[ne++] = (ckpt__index_entry){(const uint8_t *)f->var, strlen(f->var), ef};
			full = NULL;
			continue;
		}
		if (ckpt__slicekey_encode(&keys[i], f->var, strlen(f->var), f->rank, f->var_start,
					  f->shape)) {
			rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
			break;
		}
		e[ne++] = (ckpt__index_entry){keys[i].data, keys[i].len, ef};
		if (full == NULL || strcmp((const char *)full->key, f->var) != 0 ||
		    full->key_len != strlen(f->var)) {
			full = &e[ne++];
			*full = (ckpt__index_entry){(const uint8_t *)f->var,
						    strlen(f->var),
						    {.dtype = f->dtype,
						     .rank = f->rank,
						     .dims = f->var_shape,
						     .slices = pairs + used}};
		}
		for (int d = 0; d < f->rank; d++) {
			pairs[used++] = f->var_start[d];
			pairs[used++] = f->shape[d];
		}
		full->fields.n_slices++;
	}
	if (rc == 0)
		rc = ckpt__bundle_encode_index(&tf->index, 1, e, ne, err);
	for (size_t i = 0; keys && i < n; i++)
		ckpt__buf_free(&keys[i]);
	free(keys);
	free(pairs);
	free(e);
	return rc;
}

/* Fill v->tf and add ckpt.index and ckpt.data-00000-of-00001 to the root. */
static int tf_build(ckpt_view *v, ckpt_error *err)
{
	struct tf_state *tf = calloc(1, sizeof(*tf));
	int rc = 0;

	if (tf == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	v->tf = tf;
	if ((rc = ckpt__view_build_raw(&tf->raw, v, err)))
		return rc;
	tf->seg = calloc(v->plan->n_files ? v->plan->n_files : 1, sizeof(*tf->seg));
	if (tf->seg == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	tf->n_seg = v->plan->n_files;
	for (size_t i = 0; i < tf->n_seg; i++)
		tf->seg[i].f = &v->plan->files[i];
	for (size_t i = 0; i < tf->n_seg; i++)
		tf->seg[i].raw_id = tf->raw->file_node[i];
	/*
	 * The plan is sorted by variable, then part: TF1's Saver order. Every
	 * source CRC the data file depends on is checked, whatever --verify
	 * says: an index with fresh CRCs over corrupt source bytes would
	 * launder them. The pieces of each segment gather their CRC from the
	 * bytes tf_seg_prepare reads (verify.c), and are checked once the
	 * segments of their tensor (its parts, one after the other) are
	 * read: a piece read whole, by one part or by its row parts, is not
	 * read again; what was not read (the other columns of a column split;
	 * variants, byte-swapped bundles) is read by the check. Results land
	 * in the raw view's states, so reads of the mount never check again.
	 */
	uint64_t off = 0;
	for (size_t i = 0, first = 0; i < tf->n_seg && rc == 0; i++) {
		tf->seg[i].off = off;
		ckpt__view_gather_crc(tf->raw, tf->seg[i].raw_id);
		rc = tf_seg_prepare(v, &tf->seg[i], err);
		off += tf->seg[i].size;
		if (i + 1 < tf->n_seg && tf->seg[i + 1].f->source == tf->seg[i].f->source)
			continue;
		for (; first <= i && rc == 0; first++)
			rc = ckpt_view_verify(tf->raw, tf->seg[first].raw_id, err);
	}
	if (rc == 0)
		rc = tf_build_index(v, err);
	if (rc)
		return rc;
	tf->index_id = ckpt__view_add_node(v, CKPT_VIEW_ROOT, CKPT_VIEW_TF_INDEX,
					   strlen(CKPT_VIEW_TF_INDEX), 0);
	tf->data_id =
	    ckpt__view_add_node(v, CKPT_VIEW_ROOT, CKPT_VIEW_TF_DATA, strlen(CKPT_VIEW_TF_DATA), 0);
	tf->state_id = ckpt__view_add_node(v, CKPT_VIEW_ROOT, CKPT_VIEW_TF_STATE,
					   strlen(CKPT_VIEW_TF_STATE), 0);
	if (tf->index_id == CKPT_VIEW_NONE || tf->data_id == CKPT_VIEW_NONE ||
	    tf->state_id == CKPT_VIEW_NONE)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	v->n[tf->index_id].pub.size = tf->index.len;
	v->n[tf->data_id].pub.size = off;
	v->n[tf->state_id].pub.size = sizeof(tf_state_text) - 1;
	return 0;
}

/* A plan file is its segment of the data file. */
static void tf_place(const ckpt_view *v, const ckpt_plan_file *f, uint32_t *node, uint64_t *off,
		     uint64_t *size)
{
	const struct tf_seg *sg = &v->tf->seg[f - v->plan->files];
	*node = v->tf->data_id;
	*off = sg->off;
	*size = sg->size;
}

static int tf_view_read(const ckpt_view *v, uint32_t id, uint64_t off, void *buf, size_t len,
			size_t *got, ckpt_error *err)
{
	return tf_read(v, id, off, buf, len, got, err);
}

/* The data file draws from every tensor it holds. */
static int tf_verify(const ckpt_view *v, uint32_t id, int check, int *rc, ckpt_error *err)
{
	if (id != v->tf->data_id)
		return PIECE_GOOD;
	return ckpt__view_files_state(v->tf->raw, check, rc, err);
}

static void tf_view_free(ckpt_view *v)
{
	tf_free(v->tf);
}

const struct ckpt__view_format ckpt__view_fmt_tf = {
    .name = "tf",
    .own_files = 1,
    .build = tf_build,
    .read = tf_view_read,
    .verify = tf_verify,
    .place = tf_place,
    .free = tf_view_free,
};
