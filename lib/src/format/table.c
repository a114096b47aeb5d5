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

const int64_t ckpt__zeros[CKPT_MAX_RANK];

/* The capacity an array holding n elements and room for cap grows to
 * before one more is added; cap when it need not grow. */
static size_t next_cap(size_t n, size_t cap)
{
	return n < cap ? cap : cap ? cap * 2 : 64;
}

int ckpt__reader_add_tensor(ckpt_reader *r, const char *name, size_t len, size_t *index)
{
	size_t cap = next_cap(r->n, r->cap);
	if (cap != r->cap) {
		ckpt_tensor *t = reallocarray(r->t, cap, sizeof(*t));
		if (t != NULL)
			r->t = t;
		size_t *first = t ? reallocarray(r->first, cap, sizeof(*first)) : NULL;
		if (first == NULL)
			return CKPT_ENOMEM;
		r->first = first;
		r->cap = cap;
	}
	char *s = ckpt__arena_strndup(&r->names, name, len);
	if (s == NULL)
		return CKPT_ENOMEM;
	ckpt_tensor *t = &r->t[r->n];
	memset(t, 0, sizeof(*t));
	t->name = s;
	t->dims = ckpt__zeros; /* rank 0 until the shape is set */
	r->first[r->n] = r->npieces;
	*index = r->n++;
	return 0;
}

struct ckpt__piece *ckpt__tensor_add_piece(ckpt_reader *r, size_t i, int whole)
{
	ckpt_tensor *t = &r->t[i];
	size_t cap = next_cap(r->npieces, r->cap_pieces);
	if (cap != r->cap_pieces) {
		struct ckpt__piece *np = reallocarray(r->pieces, cap, sizeof(*np));
		if (np == NULL)
			return NULL;
		r->pieces = np;
		r->cap_pieces = cap;
	}
	struct ckpt__piece *p = &r->pieces[r->npieces];
	memset(p, 0, sizeof(*p));
	p->shard = -1;
	p->pub.start = ckpt__zeros;
	p->pub.length = t->dims;
	if (!whole) {
		size_t n = t->rank > 0 ? (size_t)t->rank : 0;
		int64_t *s =
		    ckpt__arena_alloc(&r->ints, 2 * n * sizeof(int64_t), _Alignof(int64_t));
		if (s == NULL)
			return NULL;
		memset(s, 0, 2 * n * sizeof(int64_t));
		p->pub.start = s;
		p->pub.length = s + n;
	}
	r->npieces++;
	t->num_pieces++;
	return p;
}

void ckpt__reader_free_table(ckpt_reader *r)
{
	for (size_t p = 0; p < r->npieces; p++)
		free(r->pieces[p].mem);
	free(r->pieces);
	free(r->first);
	free(r->t);
	ckpt__arena_free(&r->names);
	ckpt__arena_free(&r->ints);
	r->pieces = NULL;
	r->first = NULL;
	r->t = NULL;
	r->n = r->cap = r->npieces = r->cap_pieces = 0;
}

int ckpt__tensor_set_shape(ckpt_reader *r, size_t i, int rank, const int64_t *dims,
			   const char *what, ckpt_error *err)
{
	ckpt_tensor *t = &r->t[i];
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
	/* tensors next to each other often have one shape (a variable and
	 * its slots): kept once */
	const ckpt_tensor *prev = i > 0 ? &r->t[i - 1] : NULL;
	const int64_t *copy = ckpt__zeros;
	if (prev && prev->rank == rank && memcmp(prev->dims, dims, (size_t)rank * 8) == 0)
		copy = prev->dims;
	else if (rank)
		copy = ckpt__arena_int64s(&r->ints, dims, (size_t)rank);
	if (copy == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", what);
	t->rank = rank;
	t->dims = copy;
	t->num_elements = n;
	return 0;
}

int ckpt__tensor_check_piece(const ckpt_reader *r, size_t ti, size_t i, const char *what,
			     ckpt_error *err)
{
	const ckpt_tensor *t = &r->t[ti];
	struct ckpt__piece *pieces = ckpt__tensor_pieces(r, ti), *p = &pieces[i];
	int rank = t->rank;
	uint64_t n = 1;

	/* the overlap check below is quadratic in the number of slices */
	if (i >= CKPT_MAX_PIECES)
		return ckpt__error(err, CKPT_EUNSUPPORTED,
				   "%s: tensor %s is saved in more than %d slices", what, t->name,
				   CKPT_MAX_PIECES);

	for (int d = 0; d < rank; d++) {
		uint64_t end;
		int64_t st = p->pub.start[d], len = p->pub.length[d];
		if (st < 0 || len < 0 || ckpt__add_u64((uint64_t)st, (uint64_t)len, &end) ||
		    end > (uint64_t)t->dims[d])
			return ckpt__error(err, CKPT_ECORRUPT,
					   "%s: Extent in dimension %d out of bounds: shape dim "
					   "%lld, slice %lld,%lld",
					   what, d, (long long)t->dims[d], (long long)st,
					   (long long)len);
		n *= (uint64_t)len;
	}
	p->pub.num_elements = n;
	int64_t s[CKPT_MAX_RANK], l[CKPT_MAX_RANK];
	for (size_t j = 0; j < i; j++) {
		const ckpt_piece *q = &pieces[j].pub;
		if (n && ckpt__box_intersect(rank, p->pub.start, p->pub.length, q->start, q->length,
					     s, l)) {
			char a[256], b[256];
			ckpt__slice_text(a, sizeof(a), rank, NULL, q->start, q->length);
			ckpt__slice_text(b, sizeof(b), rank, NULL, p->pub.start, p->pub.length);
			return ckpt__error(
			    err, CKPT_ECORRUPT,
			    "%s: Overlapping slices: existing slice = %s, new slice = %s", what, a,
			    b);
		}
	}
	return 0;
}

static int cmp_order(const void *a, const void *b, void *ctx)
{
	const ckpt_tensor *t = ctx;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int c = strcmp(t[i].name, t[j].name);
	return c ? c : i < j ? -1 : i > j;
}

int ckpt__reader_order(ckpt_reader *r)
{
	size_t n = r->n, i;
	for (i = 1; i < n; i++)
		if (strcmp(r->t[i - 1].name, r->t[i].name) > 0)
			break;
	if (i >= n)
		return 0;
	/* perm[j]: the tensor that goes to j; applied in place, cycle by
	 * cycle, to both arrays */
	size_t *perm = malloc(n * sizeof(*perm));
	if (perm == NULL)
		return CKPT_ENOMEM;
	for (i = 0; i < n; i++)
		perm[i] = i;
	qsort_r(perm, n, sizeof(*perm), cmp_order, r->t);
	for (i = 0; i < n; i++) {
		if (perm[i] == i)
			continue;
		ckpt_tensor t = r->t[i];
		size_t first = r->first[i], j = i;
		for (;;) {
			size_t k = perm[j];
			perm[j] = j;
			if (k == i) {
				r->t[j] = t;
				r->first[j] = first;
				break;
			}
			r->t[j] = r->t[k];
			r->first[j] = r->first[k];
			j = k;
		}
	}
	free(perm);
	return 0;
}

int ckpt__reader_sort(ckpt_reader *r, ckpt_error *err)
{
	/* give back what the arrays' doubling did not use (either array
	 * holds at least n whether its realloc worked or not) */
	if (r->n && r->n < r->cap) {
		ckpt_tensor *t = reallocarray(r->t, r->n, sizeof(*t));
		if (t != NULL)
			r->t = t;
		size_t *first = reallocarray(r->first, r->n, sizeof(*first));
		if (first != NULL)
			r->first = first;
		r->cap = r->n;
	}
	if (r->npieces && r->npieces < r->cap_pieces) {
		struct ckpt__piece *p = reallocarray(r->pieces, r->npieces, sizeof(*p));
		if (p != NULL) {
			r->pieces = p;
			r->cap_pieces = r->npieces;
		}
	}
	if (ckpt__reader_order(r))
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", r->path);
	/* one piece each, in tensor order (a V2 index of whole tensors): no
	 * need for first[] */
	size_t same = 0;
	while (r->first && same < r->n && r->first[same] == same)
		same++;
	if (r->first && same == r->n && r->npieces == r->n) {
		free(r->first);
		r->first = NULL;
	}
	for (size_t i = 1; i < r->n; i++)
		if (strcmp(r->t[i - 1].name, r->t[i].name) == 0)
			return ckpt__error(err, CKPT_ECORRUPT, "%s: tensor %s appears twice",
					   r->path, r->t[i].name);
	return 0;
}
