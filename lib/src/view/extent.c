/*
 * The extent reader: a plan file is a box (start, length) of one source
 * tensor, in row-major order. A byte range maps to target elements
 * [e0, e1); those are walked as runs along the last dimension, each run
 * cut at stored-piece boundaries into preads of the piece's bytes;
 * adjacent preads of one piece merge. The source bytes are then converted
 * to the target dtype, and the requested window copied out. When nothing
 * converts and the range is element-aligned, bytes land straight in the
 * caller's buffer. String tensors go through the per-tensor cache of
 * parsed element offsets (format/strings.c), so a sequential read is
 * linear.
 */
#include "view/view_int.h"

#include <stdlib.h>
#include <string.h>

#include "ckpt/convert.h"
#include "util/codec_int.h"
#include "util/error_int.h"

/* Byte size of a file whose dtype has no fixed size: a string file is its
 * raw bytes (scalar) or (8 + len) per element; a variant file the stored
 * bytes. *longest is the widest string element (npy) or the variant size.
 * Strings: only their lengths are read (and their checksum checked). */
int ckpt__view_measure(const ckpt_view *v, const ckpt_plan_file *f, uint64_t *size,
		       uint64_t *longest, ckpt_error *err)
{
	const ckpt_tensor *t = ckpt_reader_tensor(v->r, f->source);
	if (t->num_pieces != 1 || f->num_elements != t->num_elements)
		return ckpt__error(err, CKPT_EUNSUPPORTED,
				   "%s: Dtype %s not supported for a slice of %s", f->file,
				   ckpt_dtype_tf_name(f->dtype), f->source_name);
	if (f->dtype != CKPT_DT_STRING) {
		/* variant: the stored bytes, as TensorFlow encoded them */
		*size = ckpt_reader_piece(v->r, f->source, 0)->size;
		*longest = *size;
		return 0;
	}
	ckpt__strings_head h;
	int rc = ckpt__strings_parse(v->r, f->source, &h, err);
	if (rc)
		return rc;
	*size = h.size - h.data_start;
	*longest = h.longest > 1 ? h.longest : 1;
	uint64_t npy;
	if ((f->rank && (ckpt__mul_u64(h.n, 8, &npy) || ckpt__add_u64(*size, npy, size))) ||
	    (v->fmt->pad_strings && ckpt__mul_u64(*longest, h.n, &npy)))
		return ckpt__error(err, CKPT_EUNSUPPORTED, "%s: string tensor %s is too large",
				   f->file, f->source_name);
	return 0;
}

/* A pending pread of one piece, extended while runs stay contiguous. */
struct pending {
	size_t piece;
	uint64_t off; /* bytes in the piece */
	uint64_t len;
	uint8_t *dst;
};

static int flush(const ckpt_view *v, const ckpt_plan_file *f, struct pending *pd, ckpt_error *err)
{
	if (pd->len == 0)
		return 0;
	int rc =
	    ckpt_reader_pread(v->r, f->source, pd->piece, pd->off, pd->dst, (size_t)pd->len, err);
	if (rc == 0) /* the piece's CRC, from bytes read anyway (verify.c) */
		ckpt__view_sums_fold(v, f->source, pd->piece, pd->off, pd->dst, (size_t)pd->len);
	pd->len = 0;
	return rc;
}

/* Read source elements [e0, e1) of file f's box into dst (source dtype). */
static int gather(const ckpt_view *v, const ckpt_plan_file *f, uint64_t e0, uint64_t e1,
		  uint8_t *dst, ckpt_error *err)
{
	const ckpt_tensor *t = ckpt_reader_tensor(v->r, f->source);
	size_t es = ckpt_dtype_size(t->dtype);
	int rank = f->rank;
	struct pending pd = {0};
	int rc = 0;

	if (rank == 0) {
		pd.piece = 0;
		pd.dst = dst;
		pd.len = es;
		return flush(v, f, &pd, err);
	}
	int64_t idx[CKPT_MAX_RANK];
	uint64_t rem = e0;
	for (int d = rank - 1; d >= 0; d--) {
		idx[d] = (int64_t)(rem % (uint64_t)f->length[d]);
		rem /= (uint64_t)f->length[d];
	}
	uint64_t e = e0;
	while (e < e1 && rc == 0) {
		int64_t last = f->length[rank - 1];
		uint64_t run = (uint64_t)(last - idx[rank - 1]);
		if (run > e1 - e)
			run = e1 - e;
		/* source coordinates of the run's first element */
		int64_t c[CKPT_MAX_RANK];
		for (int d = 0; d < rank; d++)
			c[d] = f->start[d] + idx[d];
		int64_t lo = c[rank - 1], hi = lo + (int64_t)run;
		uint64_t covered = 0;
		for (size_t p = 0; p < t->num_pieces && rc == 0; p++) {
			const ckpt_piece *pc = ckpt_reader_piece(v->r, f->source, p);
			int in = 1;
			for (int d = 0; d < rank - 1 && in; d++)
				in = c[d] >= pc->start[d] && c[d] < pc->start[d] + pc->length[d];
			int64_t plo = pc->start[rank - 1], phi = plo + pc->length[rank - 1];
			int64_t a = lo > plo ? lo : plo, b = hi < phi ? hi : phi;
			if (!in || a >= b)
				continue;
			uint64_t poff = 0;
			for (int d = 0; d < rank; d++) {
				int64_t x = d == rank - 1 ? a : c[d];
				poff =
				    poff * (uint64_t)pc->length[d] + (uint64_t)(x - pc->start[d]);
			}
			uint8_t *to = dst + (e - e0 + (uint64_t)(a - lo)) * es;
			uint64_t boff = poff * es, blen = (uint64_t)(b - a) * es;
			if (pd.len && pd.piece == p && pd.off + pd.len == boff &&
			    pd.dst + pd.len == to) {
				pd.len += blen;
			} else {
				rc = flush(v, f, &pd, err);
				pd = (struct pending){p, boff, blen, to};
			}
			covered += (uint64_t)(b - a);
		}
		if (rc == 0 && covered != run)
			rc = ckpt__error(
			    err, CKPT_ECORRUPT,
			    "%s: Does not have sufficient slices for partitioned tensor %s",
			    f->file, f->source_name);
		e += run;
		idx[rank - 1] += (int64_t)run;
		for (int d = rank - 1; d > 0 && idx[d] >= f->length[d]; d--) {
			idx[d] = 0;
			idx[d - 1]++;
		}
	}
	if (rc == 0)
		rc = flush(v, f, &pd, err);
	return rc;
}

/* Raw: a scalar is its bytes, else each element is its uint64 LE length
 * then its bytes; npy: each element padded with NULs to the width. */
static int read_strings(const ckpt_view *v, const ckpt_plan_file *f, const struct npy_file *nd,
			uint64_t off, void *buf, size_t len, ckpt_error *err)
{
	const ckpt__strings_index *x;
	int rc = ckpt__strings_get(v->strings, v->r, f->source, &x, err);
	if (rc)
		return rc;
	unsigned hdr = nd->hdr || f->rank == 0 ? 0 : 8;
	rc = ckpt__strings_read(v->r, x, hdr, nd->hdr ? nd->width : 0, off, buf, len, err);
	ckpt__strings_put(v->strings, x);
	return rc;
}

int ckpt__view_read_file(const ckpt_view *v, uint32_t id, const struct npy_file *h, uint64_t off,
			 void *buf, size_t len, size_t *got, ckpt_error *err)
{
	static const struct npy_file none;
	const struct npy_file *vn = h ? h : &none;
	const ckpt_plan_file *f = ckpt_view_node(v, id)->file;
	int rc;
	size_t done = 0;
	if (off < vn->hdr_len) {
		done = vn->hdr_len - (size_t)off < len ? vn->hdr_len - (size_t)off : len;
		memcpy(buf, vn->hdr + off, done);
		if (done == len) {
			*got = len;
			return 0;
		}
		buf = (char *)buf + done;
		len -= done;
		off = vn->hdr_len;
	}
	off -= vn->hdr_len;
	if (f->dtype == CKPT_DT_VARIANT) {
		rc = ckpt_reader_pread(v->r, f->source, 0, off, buf, len, err);
		if (rc == 0)
			*got = done + len;
		return rc;
	}
	if (f->dtype == CKPT_DT_STRING) {
		rc = read_strings(v, f, vn, off, buf, len, err);
		if (rc == 0)
			*got = done + len;
		return rc;
	}
	size_t es = ckpt_dtype_size(f->source_dtype), et = ckpt_dtype_size(f->dtype);
	uint64_t e0 = off / et, e1 = (off + len + et - 1) / et;
	size_t n = (size_t)(e1 - e0);
	if (f->source_dtype == f->dtype && off % et == 0 && len % et == 0) {
		rc = gather(v, f, e0, e1, buf, err);
	} else {
		/* convert straight into buf when the range is whole elements */
		int direct = off % et == 0 && len % et == 0 && f->source_dtype != f->dtype;
		uint8_t *src = malloc(n * es), *dst = NULL;
		if (src == NULL)
			return ckpt__error(err, CKPT_ENOMEM, "out of memory");
		rc = gather(v, f, e0, e1, src, err);
		if (rc == 0 && f->source_dtype != f->dtype) {
			dst = direct ? buf : malloc(n * et);
			if (dst == NULL)
				rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
			else if (ckpt_convert(f->source_dtype, f->dtype, src, dst, n))
				rc = ckpt__error(
				    err, CKPT_EUNSUPPORTED, "%s: cannot convert %s to %s", f->file,
				    ckpt_dtype_name(f->source_dtype), ckpt_dtype_name(f->dtype));
		}
		if (rc == 0 && !direct)
			memcpy(buf, (dst ? dst : src) + (off - e0 * et), len);
		if (direct)
			dst = NULL;
		free(src);
		free(dst);
	}
	if (rc == 0)
		*got = done + len;
	return rc;
}

int ckpt__view_map_file(const ckpt_view *v, uint32_t id, size_t hdr_len, uint64_t off, size_t len,
			int *fd, uint64_t *fd_off, ckpt_object **pin)
{
	const ckpt_node *nd = ckpt_view_node(v, id);
	const ckpt_plan_file *f = nd->file;
	if (f->dtype != f->source_dtype || ckpt_dtype_size(f->dtype) == 0 || off < hdr_len ||
	    off + len > nd->size)
		return 0;
	const ckpt_tensor *t = ckpt_reader_tensor(v->r, f->source);
	for (size_t p = 0; p < t->num_pieces; p++) {
		const ckpt_piece *pc = ckpt_reader_piece(v->r, f->source, p);
		if (memcmp(pc->start, f->start, (size_t)f->rank * sizeof(int64_t)) ||
		    memcmp(pc->length, f->length, (size_t)f->rank * sizeof(int64_t)))
			continue;
		uint64_t base;
		if (!ckpt_reader_piece_object(v->r, f->source, p, pin, &base) ||
		    !ckpt_object_splice_fd(*pin, fd))
			return 0;
		*fd_off = base + (off - hdr_len);
		return 1;
	}
	return 0;
}
