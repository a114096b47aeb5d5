/*
 * V1 checkpoints (shared/spec/v1_format.md): one or more table files
 * matching a pattern. Key "" holds SavedTensorSlices.meta (every tensor's
 * name, shape, dtype and the slices saved in that file); every other key
 * holds SavedTensorSlices.data, one SavedSlice (name, slice, TensorProto
 * with only the typed value field filled).
 *
 * Two passes per file: the meta record registers tensors and pieces, then
 * each data record is decoded into its piece's bytes (little-endian,
 * row-major), so reads need no further parsing. V1 files are small and
 * legacy; decoding at open keeps the read path uniform. Each piece gets a
 * CRC-32C of its decoded bytes so verification works as for V2.
 */
#include "format/v1_int.h"

#include <stdlib.h>
#include <string.h>

#include "util/codec_int.h"
#include "util/crc32c_int.h"
#include "util/error_int.h"
#include "saved_tensor_slice.pb-c.h"
#include "format/sstable_int.h"

#define MAX_V1_FILE ((size_t)1 << 31)

struct v1 {
	ckpt_reader *r;
	const char *fname;
	int file; /* index of this file in the pattern's matches */
	int pass; /* 1: meta, 2: data */
	int seen_first;
};

/* After pass 1 the table is sorted and merged, so lookups are bsearch. */
static int find(ckpt_reader *r, const char *name, size_t *i)
{
	return ckpt_reader_find(r, name, i) == 0;
}

/*
 * Sort the tensors by name and fold repeated names (the same tensor listed
 * by several files, or twice in one meta) into one, checking that dtype and
 * shape agree and that the slices do not overlap (TF's TensorSliceSet).
 * The pieces move to a new array in the new order, each tensor's together;
 * on failure too, so that close() frees each one once.
 */
static int merge(ckpt_reader *r, const char *fname, ckpt_error *err)
{
	if (ckpt__reader_order(r))
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", fname);
	struct ckpt__piece *old = r->pieces;
	r->pieces = malloc((r->npieces ? r->npieces : 1) * sizeof(*r->pieces));
	if (r->pieces == NULL) {
		r->pieces = old;
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", fname);
	}
	r->cap_pieces = r->npieces;
	size_t out = 0, at = 0;
	int rc = 0;
	for (size_t i = 0; i < r->n; i++) {
		ckpt_tensor t = r->t[i];
		if (t.num_pieces)
			memcpy(r->pieces + at, old + r->first[i], t.num_pieces * sizeof(*old));
		ckpt_tensor *keep = out ? &r->t[out - 1] : NULL;
		if (rc || keep == NULL || strcmp(keep->name, t.name) != 0) {
			r->t[out] = t;
			r->first[out++] = at;
			at += t.num_pieces;
			continue;
		}
		at += t.num_pieces;
		if (keep->dtype != t.dtype)
			rc = ckpt__error(err, CKPT_ECORRUPT,
					 "%s: Incompatible tensor types detected for tensor %s: "
					 "existing = %s, new = %s",
					 fname, t.name, ckpt_dtype_tf_name(keep->dtype),
					 ckpt_dtype_tf_name(t.dtype));
		else if (keep->rank != t.rank ||
			 (t.rank && memcmp(keep->dims, t.dims, (size_t)t.rank * 8)))
			rc = ckpt__error(err, CKPT_ECORRUPT,
					 "%s: Incompatible tensor shapes detected for tensor %s",
					 fname, t.name);
		/* the pieces just moved follow keep's */
		size_t from = keep->num_pieces;
		keep->num_pieces += t.num_pieces;
		keep->partitioned = 1;
		for (size_t p = from; rc == 0 && p < keep->num_pieces; p++)
			rc = ckpt__tensor_check_piece(r, out - 1, p, fname, err);
	}
	free(old);
	r->n = out;
	return rc;
}

/* Slice proto -> start/length (full extents become 0, dim). */
static int slice_of(const Tensorflow__TensorSliceProto *sp, const ckpt_tensor *t, int64_t *start,
		    int64_t *len, const char *fname, ckpt_error *err)
{
	int rank = t->rank;
	size_t n = sp ? sp->n_extent : 0;
	/* TF saves a full slice of a rank-r tensor as r empty extents, or
	 * (older writers) as no extents at all */
	if (n != (size_t)rank && n != 0)
		return ckpt__error(
		    err, CKPT_ECORRUPT,
		    "%s: slice of %s: Mismatching ranks: shape rank %d, slice rank %zu", fname,
		    t->name, rank, n);
	for (int d = 0; d < rank; d++) {
		const Tensorflow__TensorSliceProto__Extent *x = n ? sp->extent[d] : NULL;
		int full =
		    x == NULL ||
		    x->has_length_case != TENSORFLOW__TENSOR_SLICE_PROTO__EXTENT__HAS_LENGTH_LENGTH;
		if (full && x && x->start != 0)
			return ckpt__error(err, CKPT_ECORRUPT,
					   "%s: slice of %s: full extent with start %lld", fname,
					   t->name, (long long)x->start);
		start[d] = x ? x->start : 0;
		len[d] = full ? t->dims[d] : x->length;
	}
	return 0;
}

static int add_meta(struct v1 *v, const Tensorflow__SavedTensorSliceMeta *m, ckpt_error *err)
{
	if (m->versions && (m->versions->producer < 0 || m->versions->min_consumer > 1))
		return ckpt__error(err, CKPT_EUNSUPPORTED,
				   "%s: Checkpoint min consumer version %d above current version 1",
				   v->fname, m->versions->min_consumer);
	for (size_t i = 0; i < m->n_tensor; i++) {
		const Tensorflow__SavedSliceMeta *sm = m->tensor[i];
		const char *name = sm->name;
		int dt = (int)sm->type;
		int64_t dims[CKPT_MAX_RANK];
		int rank = sm->shape ? (int)sm->shape->n_dim : 0;
		if (name[0] == '\0')
			return ckpt__error(err, CKPT_ECORRUPT,
					   "%s: meta: a tensor has an empty name", v->fname);
		if (dt <= CKPT_DT_INVALID || dt >= CKPT_DT_COUNT_ || dt == CKPT_DT_RESOURCE ||
		    dt == CKPT_DT_VARIANT)
			return ckpt__error(err, CKPT_EUNSUPPORTED,
					   "%s: meta: tensor %s has unsupported dtype %d", v->fname,
					   name, dt);
		if (sm->shape && (sm->shape->n_dim > CKPT_MAX_RANK || sm->shape->unknown_rank))
			return ckpt__error(err, CKPT_ECORRUPT,
					   "%s: meta: Invalid tensor shape for %s", v->fname, name);
		for (int d = 0; d < rank; d++)
			dims[d] = sm->shape->dim[d]->size;
		size_t ti;
		if (ckpt__reader_add_tensor(v->r, name, strlen(name), &ti))
			return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", v->fname);
		ckpt_tensor *t = &v->r->t[ti];
		t->dtype = (ckpt_dtype)dt;
		int rc = ckpt__tensor_set_shape(v->r, ti, rank, dims, name, err);
		if (rc) {
			ckpt__error_prefix(err, "%s", v->fname);
			return rc;
		}
		size_t nsl = sm->n_slice ? sm->n_slice : 1;
		for (size_t s = 0; s < nsl; s++) {
			struct ckpt__piece *pc = ckpt__tensor_add_piece(v->r, ti, 0);
			if (pc == NULL)
				return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", v->fname);
			pc->shard = v->file;
			rc = slice_of(sm->n_slice ? sm->slice[s] : NULL, t, ckpt__piece_start(pc),
				      ckpt__piece_length(pc), v->fname, err);
			if (rc == 0)
				rc = ckpt__tensor_check_piece(v->r, ti, t->num_pieces - 1, v->fname,
							      err);
			if (rc)
				return rc;
			if (pc->pub.num_elements != t->num_elements)
				t->partitioned = 1;
		}
		if (t->num_pieces > 1)
			t->partitioned = 1;
	}
	return 0;
}

/* Encode the string values the way V2 stores them, so one parser serves. */
static int encode_strings(ckpt__buf *b, ProtobufCBinaryData *v, size_t n, uint32_t *crc)
{
	uint32_t lcrc = 0;
	for (size_t k = 0; k < n; k++) {
		uint8_t le[8];
		ckpt__store_le64(le, v[k].len);
		lcrc = ckpt__crc32c_extend(lcrc, le, v[k].len <= 0xffffffffu ? 4 : 8);
		if (ckpt__buf_append_varint(b, v[k].len))
			return CKPT_ENOMEM;
	}
	uint8_t l[4];
	ckpt__store_le32(l, ckpt__crc32c_mask(lcrc));
	if (ckpt__buf_append(b, l, 4))
		return CKPT_ENOMEM;
	*crc = ckpt__crc32c_extend(lcrc, l, 4);
	for (size_t k = 0; k < n; k++) {
		if (ckpt__buf_append(b, v[k].data, v[k].len))
			return CKPT_ENOMEM;
		*crc = ckpt__crc32c_extend(*crc, v[k].data, v[k].len);
	}
	return 0;
}

/* Decode a TensorProto's typed values into little-endian element bytes. */
static int decode_values(const Tensorflow__TensorProto *tp, ckpt_dtype dt, uint64_t n, ckpt__buf *b,
			 uint32_t *crc)
{
	size_t es = ckpt_dtype_size(dt);
	if (dt == CKPT_DT_STRING)
		return tp->n_string_val == n ? encode_strings(b, tp->string_val, n, crc)
					     : CKPT_ECORRUPT;
	if (tp->tensor_content.len) {
		/* n * es can wrap (n is up to INT64_MAX): a short content must
		 * not pass for a huge tensor */
		uint64_t want;
		if (ckpt__mul_u64(n, es, &want) || tp->tensor_content.len != want)
			return CKPT_ECORRUPT;
		return ckpt__buf_append(b, tp->tensor_content.data, tp->tensor_content.len);
	}
	size_t have;
	switch (dt) {
	case CKPT_DT_FLOAT: have = tp->n_float_val; break;
	case CKPT_DT_DOUBLE: have = tp->n_double_val; break;
	case CKPT_DT_INT64: have = tp->n_int64_val; break;
	case CKPT_DT_BOOL: have = tp->n_bool_val; break;
	case CKPT_DT_HALF: have = tp->n_half_val; break;
	case CKPT_DT_COMPLEX64: have = tp->n_scomplex_val / 2; break;
	case CKPT_DT_COMPLEX128: have = tp->n_dcomplex_val / 2; break;
	case CKPT_DT_INT32:
	case CKPT_DT_INT16:
	case CKPT_DT_INT8:
	case CKPT_DT_UINT8:
	case CKPT_DT_QINT8:
	case CKPT_DT_QUINT8:
	case CKPT_DT_QINT32: have = tp->n_int_val; break;
	default: return CKPT_EUNSUPPORTED;
	}
	if (have != n)
		return CKPT_ECORRUPT;
	for (size_t k = 0; k < n; k++) {
		uint8_t e[16];
		switch (dt) {
		case CKPT_DT_FLOAT: memcpy(e, &tp->float_val[k], 4); break;
		case CKPT_DT_DOUBLE: memcpy(e, &tp->double_val[k], 8); break;
		case CKPT_DT_INT64: ckpt__store_le64(e, (uint64_t)tp->int64_val[k]); break;
		case CKPT_DT_BOOL: e[0] = tp->bool_val[k] ? 1 : 0; break;
		case CKPT_DT_COMPLEX64: memcpy(e, &tp->scomplex_val[2 * k], 8); break;
		case CKPT_DT_COMPLEX128: memcpy(e, &tp->dcomplex_val[2 * k], 16); break;
		case CKPT_DT_HALF: {
			uint32_t h = (uint32_t)tp->half_val[k];
			e[0] = (uint8_t)h;
			e[1] = (uint8_t)(h >> 8);
			break;
		}
		default: /* int_val narrowed to the element width */
			ckpt__store_le32(e, (uint32_t)tp->int_val[k]);
			break;
		}
		if (ckpt__buf_append(b, e, es))
			return CKPT_ENOMEM;
	}
	return 0;
}

static int add_data(struct v1 *v, const Tensorflow__SavedSlice *ss, ckpt_error *err)
{
	size_t ti;
	if (!find(v->r, ss->name, &ti))
		return ckpt__error(err, CKPT_ECORRUPT,
				   "%s: data record for %s, which meta does not list", v->fname,
				   ss->name);
	const ckpt_tensor *t = &v->r->t[ti];
	int64_t start[CKPT_MAX_RANK], len[CKPT_MAX_RANK];
	int rank = t->rank;
	int rc = slice_of(ss->slice, t, start, len, v->fname, err);
	if (rc)
		return rc;
	struct ckpt__piece *pc = NULL;
	for (size_t p = 0; p < t->num_pieces; p++) {
		struct ckpt__piece *q = &ckpt__tensor_pieces(v->r, ti)[p];
		if (q->shard == v->file && !memcmp(q->pub.start, start, (size_t)rank * 8) &&
		    !memcmp(q->pub.length, len, (size_t)rank * 8))
			pc = q;
	}
	if (pc == NULL)
		return ckpt__error(err, CKPT_ECORRUPT,
				   "%s: data record for a slice of %s that meta does not list",
				   v->fname, t->name);
	if (pc->mem)
		return ckpt__error(err, CKPT_ECORRUPT, "%s: two data records for one slice of %s",
				   v->fname, t->name);
	if (ss->data == NULL)
		return ckpt__error(err, CKPT_ECORRUPT, "%s: data record for %s has no data",
				   v->fname, t->name);
	ckpt__buf b = {0};
	uint32_t crc = 0;
	rc = decode_values(ss->data, t->dtype, pc->pub.num_elements, &b, &crc);
	if (rc) {
		ckpt__buf_free(&b);
		return ckpt__error(
		    err, rc == CKPT_ENOMEM ? rc : CKPT_ECORRUPT,
		    "%s: data record for %s: values do not match %llu elements of %s", v->fname,
		    t->name, (unsigned long long)pc->pub.num_elements, ckpt_dtype_name(t->dtype));
	}
	if (b.data == NULL && ckpt__buf_append(&b, "", 1) == 0)
		b.len = 0;
	pc->mem = b.data;
	pc->pub.size = b.len;
	pc->crc = t->dtype == CKPT_DT_STRING ? crc : ckpt__crc32c_extend(0, b.data, b.len);
	return 0;
}

static int on_record(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
		     ckpt_error *err)
{
	struct v1 *v = ctx;
	int first = !v->seen_first;

	v->seen_first = 1;
	if (first && klen != 0)
		return ckpt__error(err, CKPT_ECORRUPT,
				   "Failed to find the saved tensor slices at the beginning of the "
				   "checkpoint file: %s",
				   v->fname);
	if (!first && (v->pass == 1 || klen == 0))
		return 0;
	if (first && v->pass == 2)
		return 0;
	Tensorflow__SavedTensorSlices *s = tensorflow__saved_tensor_slices__unpack(NULL, vlen, val);
	if (s == NULL)
		return ckpt__error(err, CKPT_ECORRUPT, "%s: record %s is not a SavedTensorSlices",
				   v->fname, first ? "(meta)" : "(data)");
	int rc;
	if (first)
		rc = s->meta ? add_meta(v, s->meta, err)
			     : ckpt__error(err, CKPT_ECORRUPT,
					   "Failed to find the saved tensor slices at the "
					   "beginning of the checkpoint file: %s",
					   v->fname);
	else
		rc = s->data ? add_data(v, s->data, err)
			     : ckpt__error(err, CKPT_ECORRUPT,
					   "%s: a data record holds no SavedSlice", v->fname);
	tensorflow__saved_tensor_slices__free_unpacked(s, NULL);
	(void)key;
	return rc;
}

int ckpt__reader_load_v1(ckpt_reader *r, ckpt_error *err)
{
	char **names;
	size_t nn;
	int rc = ckpt_store_list(r->store, r->path, &names, &nn, err);

	if (rc)
		return rc;
	if (nn == 0)
		return ckpt__error(err, CKPT_ENOTFOUND,
				   "Unsuccessful TensorSliceReader constructor: Failed to find any "
				   "matching files for %s",
				   r->path);
	if (nn > 1 << 16) {
		ckpt_store_names_free(names, nn);
		return ckpt__error(err, CKPT_ERANGE, "%s: too many matching files", r->path);
	}
	for (size_t f = 0; rc == 0 && f < nn; f++) {
		uint8_t *data = NULL;
		size_t len = 0;
		struct v1 v = {.r = r, .fname = names[f], .file = (int)f};
		rc = ckpt_store_read_whole(r->store, v.fname, MAX_V1_FILE, &data, &len,
					   f == 0 ? &r->stat : NULL, err);
		r->table_bytes += len;
		for (v.pass = 1; rc == 0 && v.pass <= 2; v.pass++) {
			v.seen_first = 0;
			rc = ckpt__sstable_foreach(data, len, v.fname, on_record, &v, err);
			if (rc == 0 && v.pass == 1)
				rc = merge(r, v.fname, err);
		}
		if (rc == 0 && !v.seen_first)
			rc = ckpt__error(err, CKPT_ECORRUPT,
					 "Failed to find the saved tensor slices at the beginning "
					 "of the checkpoint file: %s",
					 v.fname);
		if (rc && rc != CKPT_ENOMEM && rc != CKPT_ENOTFOUND)
			ckpt__error_prefix(err, "Unable to open table file %s", v.fname);
		free(data);
	}
	ckpt_store_names_free(names, nn);
	for (size_t i = 0; rc == 0 && i < r->n; i++)
		for (size_t p = 0; rc == 0 && p < r->t[i].num_pieces; p++)
			if (ckpt__tensor_pieces(r, i)[p].mem == NULL)
				rc = ckpt__error(
				    err, CKPT_ECORRUPT,
				    "%s: a slice of %s listed in meta has no data record", r->path,
				    r->t[i].name);
	return rc;
}
