/*
 * The V2 tensor bundle (shared/spec/bundle.md): PREFIX.index is a table
 * whose first entry (key "") is a BundleHeaderProto; every other key is a
 * tensor name with a BundleEntryProto, or (first byte 0x00) the slice key of
 * one stored slice of a partitioned tensor. Data lives in
 * PREFIX.data-%05d-of-%05d; each entry's bytes are [offset, offset+size) of
 * shard shard_id, checksummed with a masked CRC-32C.
 *
 * Everything is checked here, at open: the header, every entry (dtype,
 * shape, size against dtype x shape, shard id), every slice (bounds,
 * overlap, its own entry). The data files are checked when first needed
 * (ckpt_reader_check_data, or a read).
 */
#include "format/bundle_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/codec_int.h"
#include "util/crc32c_int.h"
#include "util/error_int.h"
#include "format/slicekey_int.h"
#include "format/sstable_int.h"
#include "tensor_bundle.pb-c.h"

#define MAX_INDEX_FILE ((size_t)1 << 31)
#define MAX_SHARDS (1 << 20)

struct raw_entry {
	uint8_t *key;
	size_t klen;
	uint8_t *val;
	size_t vlen;
};

struct v2 {
	ckpt_reader *r;
	const char *fname;
	int have_header;
	int num_shards;
	struct raw_entry *slices; /* slice-key entries, in key order */
	size_t nslices, cap;
	ckpt__arena raw; /* their keys and values, until the load ends */
};

static int check_header(struct v2 *v, const uint8_t *val, size_t vlen, ckpt_error *err)
{
	Tensorflow__BundleHeaderProto *h = tensorflow__bundle_header_proto__unpack(NULL, vlen, val);
	if (h == NULL)
		return ckpt__error(
		    err, CKPT_ECORRUPT,
		    "Unable to read file (%s). Perhaps the file is corrupt or was produced by a "
		    "newer version of TensorFlow with format changes (unable to parse header)",
		    v->fname);
	int rc = 0;
	if (h->num_shards < 0 || h->num_shards > MAX_SHARDS)
		rc = ckpt__error(err, CKPT_ECORRUPT, "%s: header: num_shards %d is out of range",
				 v->fname, h->num_shards);
	else if (h->endianness != TENSORFLOW__BUNDLE_HEADER_PROTO__ENDIANNESS__LITTLE &&
		 h->endianness != TENSORFLOW__BUNDLE_HEADER_PROTO__ENDIANNESS__BIG)
		rc = ckpt__error(err, CKPT_EUNSUPPORTED, "%s: header: unknown endianness %d",
				 v->fname, (int)h->endianness);
	else if (h->version && (h->version->producer < 0 || h->version->min_consumer > 1))
		rc = ckpt__error(err, CKPT_EUNSUPPORTED,
				 "%s: header: Checkpoint min consumer version %d above current "
				 "version 1 for checkpoint (producer %d)",
				 v->fname, h->version->min_consumer, h->version->producer);
	for (size_t i = 0; rc == 0 && h->version && i < h->version->n_bad_consumers; i++)
		if (h->version->bad_consumers[i] == 1)
			rc = ckpt__error(err, CKPT_EUNSUPPORTED,
					 "%s: header: Checkpoint disallows consumer version 1",
					 v->fname);
	v->num_shards = h->num_shards;
	v->r->swap = h->endianness == TENSORFLOW__BUNDLE_HEADER_PROTO__ENDIANNESS__BIG;
	tensorflow__bundle_header_proto__free_unpacked(h, NULL);
	return rc;
}

static int cmp_raw(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);
	return c ? c : (al > bl) - (al < bl);
}

static const struct raw_entry *find_slice(const struct v2 *v, const uint8_t *key, size_t klen)
{
	size_t lo = 0, hi = v->nslices;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_raw(v->slices[mid].key, v->slices[mid].klen, key, klen);
		if (c == 0)
			return &v->slices[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The stored geometry of one run of bytes: shard, offset, size, crc. */
static int set_location(struct v2 *v, const ckpt_tensor *t, struct ckpt__piece *pc,
			const Tensorflow__BundleEntryProto *e, const char *what, ckpt_error *err)
{
	if (e->shard_id < 0 || e->shard_id >= v->num_shards)
		return ckpt__error(err, CKPT_ECORRUPT,
				   "%s: entry for %s: shard_id %d is not below num_shards %d",
				   v->fname, what, e->shard_id, v->num_shards);
	if (e->offset < 0 || e->size < 0 || (uint64_t)e->offset > INT64_MAX - (uint64_t)e->size)
		return ckpt__error(err, CKPT_ECORRUPT,
				   "%s: entry for %s: offset %lld / size %lld out of range",
				   v->fname, what, (long long)e->offset, (long long)e->size);
	size_t es = ckpt_dtype_size(t->dtype);
	uint64_t expect;
	if (es) {
		if (ckpt__mul_u64(pc->pub.num_elements, es, &expect) || (uint64_t)e->size != expect)
			return ckpt__error(err, CKPT_ECORRUPT,
					   "%s: Invalid size in bundle entry: key %s; stored size "
					   "%lld; expected size %llu",
					   v->fname, what, (long long)e->size,
					   (unsigned long long)(pc->pub.num_elements * es));
	} else if (t->dtype == CKPT_DT_STRING && (uint64_t)e->size < pc->pub.num_elements) {
		return ckpt__error(err, CKPT_ECORRUPT,
				   "%s: Invalid size in bundle entry: key %s; stored size %lld; "
				   "expected size is at least %llu",
				   v->fname, what, (long long)e->size,
				   (unsigned long long)pc->pub.num_elements);
	}
	pc->shard = e->shard_id;
	pc->offset = (uint64_t)e->offset;
	pc->pub.size = (uint64_t)e->size;
	pc->crc = ckpt__crc32c_unmask(e->crc32c);
	return 0;
}

static int shape_of(const Tensorflow__TensorShapeProto *s, int64_t *dims, int *rank,
		    const char *fname, const char *what, ckpt_error *err)
{
	if (s == NULL) {
		*rank = 0;
		return 0;
	}
	if (s->n_dim > CKPT_MAX_RANK || s->unknown_rank)
		return ckpt__error(
		    err, CKPT_ECORRUPT,
		    "%s: Invalid tensor shape: %s has %zu dimensions (at most %d, known rank)",
		    fname, what, s->n_dim, CKPT_MAX_RANK);
	for (size_t d = 0; d < s->n_dim; d++)
		dims[d] = s->dim[d]->size;
	*rank = (int)s->n_dim;
	return 0;
}

static int add_sliced(struct v2 *v, size_t ti, const Tensorflow__BundleEntryProto *e,
		      ckpt_error *err)
{
	ckpt_tensor *t = &v->r->t[ti];
	ckpt__buf key = {0};
	int rank = t->rank, rc = 0;

	if (e->n_slices > v->nslices)
		return ckpt__error(
		    err, CKPT_ECORRUPT,
		    "%s: entry for %s lists %zu slices but the index holds %zu slice entries",
		    v->fname, t->name, e->n_slices, v->nslices);
	t->partitioned = 1;
	for (size_t s = 0; rc == 0 && s < e->n_slices; s++) {
		const Tensorflow__TensorSliceProto *sp = e->slices[s];
		struct ckpt__piece *pc = ckpt__tensor_add_piece(v->r, ti, 0);
		if (pc == NULL)
			return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", v->fname);
		if ((int)sp->n_extent != rank) {
			rc = ckpt__error(
			    err, CKPT_ECORRUPT,
			    "%s: slice %zu of %s: Mismatching ranks: shape rank %d, slice rank %zu",
			    v->fname, s, t->name, rank, sp->n_extent);
			break;
		}
		for (int d = 0; d < rank; d++) {
			const Tensorflow__TensorSliceProto__Extent *x = sp->extent[d];
			int full = x->has_length_case !=
				   TENSORFLOW__TENSOR_SLICE_PROTO__EXTENT__HAS_LENGTH_LENGTH;
			if (full && x->start != 0) {
				rc = ckpt__error(err, CKPT_ECORRUPT,
						 "%s: slice %zu of %s: full extent with start %lld",
						 v->fname, s, t->name, (long long)x->start);
				break;
			}
			ckpt__piece_start(pc)[d] = x->start;
			ckpt__piece_length(pc)[d] = full ? t->dims[d] : x->length;
		}
		if (rc == 0)
			rc = ckpt__tensor_check_piece(v->r, ti, t->num_pieces - 1, v->fname, err);
		if (rc)
			break;
		/* the key encodes a full dimension as (0, -1) */
		int64_t klen_dims[CKPT_MAX_RANK];
		for (int d = 0; d < rank; d++)
			klen_dims[d] =
			    sp->extent[d]->has_length_case ==
				    TENSORFLOW__TENSOR_SLICE_PROTO__EXTENT__HAS_LENGTH_LENGTH
				? pc->pub.length[d]
				: -1;
		key.len = 0;
		rc = ckpt__slicekey_encode(&key, t->name, strlen(t->name), rank, pc->pub.start,
					   klen_dims);
		if (rc) {
			rc = ckpt__error(err, rc, "%s: out of memory", v->fname);
			break;
		}
		const struct raw_entry *re = find_slice(v, key.data, key.len);
		if (re == NULL) {
			rc = ckpt__error(err, CKPT_ECORRUPT,
					 "%s: slice %zu of %s has no entry of its own in the index",
					 v->fname, s, t->name);
			break;
		}
		Tensorflow__BundleEntryProto *se =
		    tensorflow__bundle_entry_proto__unpack(NULL, re->vlen, re->val);
		if (se == NULL) {
			rc = ckpt__error(err, CKPT_ECORRUPT,
					 "%s: Entry for a slice of %s not parseable.", v->fname,
					 t->name);
			break;
		}
		int64_t sd[CKPT_MAX_RANK];
		int srank;
		rc = shape_of(se->shape, sd, &srank, v->fname, t->name, err);
		if (rc == 0 && ((int)se->dtype != (int)t->dtype || srank != rank ||
				memcmp(sd, pc->pub.length, (size_t)rank * sizeof(int64_t)) != 0 ||
				se->n_slices))
			rc = ckpt__error(err, CKPT_ECORRUPT,
					 "%s: the entry of slice %zu of %s disagrees with the "
					 "slice (dtype or shape)",
					 v->fname, s, t->name);
		if (rc == 0)
			rc = set_location(v, t, pc, se, t->name, err);
		tensorflow__bundle_entry_proto__free_unpacked(se, NULL);
	}
	ckpt__buf_free(&key);
	return rc;
}

static int on_entry(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
		    ckpt_error *err)
{
	struct v2 *v = ctx;

	if (!v->have_header) {
		if (klen != 0)
			return ckpt__error(err, CKPT_ECORRUPT,
					   "Unable to read file (%s). Perhaps the file is corrupt "
					   "or was produced by a newer version of TensorFlow with "
					   "format changes (failed to seek to header entry)",
					   v->fname);
		v->have_header = 1;
		return check_header(v, val, vlen, err);
	}
	if (key[0] == 0) {
		if (v->nslices == v->cap) {
			size_t cap = v->cap ? v->cap * 2 : 16;
			struct raw_entry *n = realloc(v->slices, cap * sizeof(*n));
			if (n == NULL)
				return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", v->fname);
			v->slices = n;
			v->cap = cap;
		}
		struct raw_entry *re = &v->slices[v->nslices];
		re->key = ckpt__arena_alloc(&v->raw, klen, 1);
		re->val = ckpt__arena_alloc(&v->raw, vlen, 1);
		if (re->key == NULL || re->val == NULL)
			return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", v->fname);
		memcpy(re->key, key, klen);
		if (vlen)
			memcpy(re->val, val, vlen);
		re->klen = klen;
		re->vlen = vlen;
		v->nslices++;
		return 0;
	}
	if (memchr(key, 0, klen))
		return ckpt__error(err, CKPT_ECORRUPT, "%s: a tensor name contains a NUL byte",
				   v->fname);
	size_t ti;
	if (ckpt__reader_add_tensor(v->r, (const char *)key, klen, &ti))
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", v->fname);
	ckpt_tensor *t = &v->r->t[ti];
	Tensorflow__BundleEntryProto *e = tensorflow__bundle_entry_proto__unpack(NULL, vlen, val);
	if (e == NULL)
		return ckpt__error(err, CKPT_ECORRUPT, "%s: Entry for key %s not parseable.",
				   v->fname, t->name);
	int64_t dims[CKPT_MAX_RANK];
	int rank, rc;
	int dt = (int)e->dtype;
	if (dt <= CKPT_DT_INVALID || dt >= CKPT_DT_COUNT_ || dt == CKPT_DT_RESOURCE)
		rc = ckpt__error(err, CKPT_EUNSUPPORTED, "%s: entry for %s has unknown dtype %d",
				 v->fname, t->name, dt);
	else
		rc = shape_of(e->shape, dims, &rank, v->fname, t->name, err);
	if (rc == 0) {
		t->dtype = (ckpt_dtype)dt;
		rc = ckpt__tensor_set_shape(v->r, ti, rank, dims, t->name, err);
		if (rc)
			ckpt__error_prefix(err, "%s", v->fname);
	}
	if (rc == 0 && e->n_slices) {
		rc = add_sliced(v, ti, e, err);
	} else if (rc == 0) {
		struct ckpt__piece *pc = ckpt__tensor_add_piece(v->r, ti, 1);
		if (pc == NULL) {
			rc = ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", v->fname);
		} else {
			pc->pub.num_elements = t->num_elements;
			rc = set_location(v, t, pc, e, t->name, err);
		}
	}
	tensorflow__bundle_entry_proto__free_unpacked(e, NULL);
	return rc;
}

/* Name the data file of every shard an entry points at. The files are
 * opened on first use (reader.c): listing needs none of them. */
static int name_shards(ckpt_reader *r, int num_shards, ckpt_error *err)
{
	r->shards = calloc((size_t)(num_shards ? num_shards : 1), sizeof(*r->shards));
	if (r->shards == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", r->path);
	r->nshards = num_shards;
	for (size_t p = 0; p < r->npieces; p++) {
		int s = r->pieces[p].shard;
		struct ckpt__shard *sh = &r->shards[s];
		if (sh->name != NULL)
			continue;
		size_t n = strlen(r->path) + 32;
		if ((sh->name = malloc(n)) == NULL)
			return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", r->path);
		snprintf(sh->name, n, "%s.data-%05d-of-%05d", r->path, s, num_shards);
	}
	return 0;
}

int ckpt__reader_load_v2(ckpt_reader *r, ckpt_error *err)
{
	size_t n = strlen(r->path) + 7;
	char *fname = malloc(n);
	uint8_t *data = NULL;
	size_t len = 0;
	struct v2 v = {.r = r};
	int rc;

	if (fname == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", r->path);
	snprintf(fname, n, "%s.index", r->path);
	v.fname = fname;
	rc = ckpt_store_read_whole(r->store, fname, MAX_INDEX_FILE, &data, &len, &r->stat, err);
	r->table_bytes = len;
	if (rc == 0)
		rc = ckpt__sstable_foreach(data, len, fname, on_entry, &v, err);
	if (rc == 0 && !v.have_header)
		rc = ckpt__error(err, CKPT_ECORRUPT,
				 "Unable to read file (%s). Perhaps the file is corrupt or was "
				 "produced by a newer version of TensorFlow with format changes "
				 "(failed to seek to header entry)",
				 fname);
	if (rc == 0)
		rc = name_shards(r, v.num_shards, err);
	ckpt__arena_free(&v.raw);
	free(v.slices);
	free(data);
	free(fname);
	return rc;
}
