/*
 * The tensor table a loader fills (bundle.c for V2, v1.c for V1) and the
 * reader serves: appending tensors and pieces, shape and slice checks,
 * sorting. Kept apart from reader.c so the loaders need not reach back
 * into the reader that calls them.
 */
#include "format/table_int.h"

#include <stdlib.h>
#include <string.h>

#include "util/codec_int.h"
#include "util/error_int.h"
#include "util/slice_int.h"

struct ckpt__tensor *ckpt__reader_add_tensor(ckpt_reader *r)
{
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 64;
		struct ckpt__tensor *t = realloc(r->t, cap * sizeof(*t));
		if (t == NULL)
			return NULL;
		r->t = t;
		r->cap = cap;
	}
	struct ckpt__tensor *t = &r->t[r->n++];
	memset(t, 0, sizeof(*t));
	return t;
}

struct ckpt__piece *ckpt__tensor_add_piece(struct ckpt__tensor *t, int rank)
{
	if (t->pub.num_pieces == t->cap_pieces) {
		size_t cap = t->cap_pieces ? t->cap_pieces * 2 : 1;
		struct ckpt__piece *p = realloc(t->pieces, cap * sizeof(*p));
		if (p == NULL)
			return NULL;
		t->pieces = p;
		t->cap_pieces = cap;
	}
	struct ckpt__piece *p = &t->pieces[t->pub.num_pieces];
	memset(p, 0, sizeof(*p));
	size_t n = rank > 0 ? (size_t)rank : 1;
	p->start = calloc(2 * n, sizeof(int64_t)); /* start, then length */
	if (p->start == NULL)
		return NULL;
	p->length = p->start + n;
	p->shard = -1;
	p->pub.start = p->start;
	p->pub.length = p->length;
	t->pub.num_pieces++;
	return p;
}

void ckpt__tensor_free(struct ckpt__tensor *t)
{
	for (size_t p = 0; p < t->pub.num_pieces; p++) {
		free(t->pieces[p].start); /* and length, the same block */
		free(t->pieces[p].mem);
	}
	free(t->pieces);
	free(t->name);
	free(t->dims);
}

int ckpt__tensor_set_shape(struct ckpt__tensor *t, int rank, const int64_t *dims, const char *what,
			   ckpt_error *err)
{
	uint64_t n = 1;

	if (rank < 0 || rank > CKPT_MAX_RANK)
		return ckpt__error(err, CKPT_ECORRUPT,
				   "%s: Invalid tensor shape: rank %d (at most %d)", what, rank,
				   CKPT_MAX_RANK);
	for (int d = 0; d < rank; d++) {
		if (dims[d] < 0)
			return ckpt__error(
			    err, CKPT_ECORRUPT,
			    "%s: Invalid tensor shape: dimension %d is negative (%lld)", what, d,
			    (long long)dims[d]);
		if (ckpt__mul_u64(n, (uint64_t)dims[d], &n) || n > INT64_MAX)
			return ckpt__error(
			    err, CKPT_ECORRUPT,
			    "%s: Invalid tensor shape: element count overflows int64", what);
	}
	t->dims = malloc((rank ? (size_t)rank : 1) * sizeof(int64_t));
	if (t->dims == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", what);
	if (rank)
		memcpy(t->dims, dims, (size_t)rank * sizeof(int64_t));
	t->pub.rank = rank;
	t->pub.dims = t->dims;
	t->pub.num_elements = n;
	return 0;
}

int ckpt__tensor_check_piece(const struct ckpt__tensor *t, size_t i, const char *what,
			     ckpt_error *err)
{
	struct ckpt__piece *p = &t->pieces[i];
	int rank = t->pub.rank;
	uint64_t n = 1;

	/* the overlap check below is quadratic in the number of slices */
	if (i >= CKPT_MAX_PIECES)
		return ckpt__error(err, CKPT_EUNSUPPORTED,
				   "%s: tensor %s is saved in more than %d slices", what, t->name,
				   CKPT_MAX_PIECES);

	for (int d = 0; d < rank; d++) {
		uint64_t end;
		if (p->start[d] < 0 || p->length[d] < 0 ||
		    ckpt__add_u64((uint64_t)p->start[d], (uint64_t)p->length[d], &end) ||
		    end > (uint64_t)t->dims[d])
			return ckpt__error(err, CKPT_ECORRUPT,
					   "%s: Extent in dimension %d out of bounds: shape dim "
					   "%lld, slice %lld,%lld",
					   what, d, (long long)t->dims[d], (long long)p->start[d],
					   (long long)p->length[d]);
		n *= (uint64_t)p->length[d];
	}
	p->pub.num_elements = n;
	int64_t s[CKPT_MAX_RANK], l[CKPT_MAX_RANK];
	for (size_t j = 0; j < i; j++) {
		const struct ckpt__piece *q = &t->pieces[j];
		if (n &&
		    ckpt__box_intersect(rank, p->start, p->length, q->start, q->length, s, l)) {
			char a[256], b[256];
			ckpt__slice_text(a, sizeof(a), rank, NULL, q->start, q->length);
			ckpt__slice_text(b, sizeof(b), rank, NULL, p->start, p->length);
			return ckpt__error(
			    err, CKPT_ECORRUPT,
			    "%s: Overlapping slices: existing slice = %s, new slice = %s", what, a,
			    b);
		}
	}
	return 0;
}

static int cmp_tensor(const void *a, const void *b)
{
	return strcmp(((const struct ckpt__tensor *)a)->name,
		      ((const struct ckpt__tensor *)b)->name);
}

int ckpt__reader_sort(ckpt_reader *r, ckpt_error *err)
{
	/* the table grew by doubling; give back the unused tail */
	if (r->n && r->n < r->cap) {
		struct ckpt__tensor *t = realloc(r->t, r->n * sizeof(*t));
		if (t != NULL) {
			r->t = t;
			r->cap = r->n;
		}
	}
	/* an empty table has r->t == NULL, which qsort must not get */
	if (r->n > 1)
		qsort(r->t, r->n, sizeof(*r->t), cmp_tensor);
	for (size_t i = 0; i < r->n; i++) {
		r->t[i].pub.name = r->t[i].name;
		if (i && strcmp(r->t[i - 1].name, r->t[i].name) == 0)
			return ckpt__error(err, CKPT_ECORRUPT, "%s: tensor %s appears twice",
					   r->path, r->t[i].name);
	}
	return 0;
}
