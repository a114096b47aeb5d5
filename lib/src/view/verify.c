/*
 * Checksum state: one byte per stored piece of the reader (PIECE_*), shared
 * by every file of the view that draws from the piece. This is the one
 * place that says what is checked when and what a failure means.
 *
 * A piece whose CRC is over the bytes a read returns may also have sums
 * (struct piece_sums): CRCs of the ranges read so far, by anyone, in any
 * order. Checking such a piece reads only the ranges they lack, so a file
 * read front to back (by a reader, or by the helper thread ahead of it,
 * ahead.c) is checked without reading it again.
 */
#include "view/view_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "format/table_int.h"
#include "util/crc32c_int.h"
#include "util/error_int.h"
#include "util/slice_int.h"

size_t ckpt__view_piece_base(const ckpt_view *v, size_t t)
{
	return ckpt__piece_index(v->r, t);
}

size_t ckpt__view_piece_count(const ckpt_view *v)
{
	return v->r->npieces;
}

/* Segments a piece's sums may hold; past that, a range adjacent to none is
 * not kept (the check reads it again). */
#define SUMS_MAX_SEGS 256
/* The check reads missing ranges in steps of this. */
#define SUMS_STEP ((size_t)1 << 20)

void ckpt__view_piece_passed(const ckpt_view *v, size_t t, size_t p)
{
	atomic_store(&v->verified[ckpt__view_piece_base(v, t) + p], PIECE_GOOD);
}

int ckpt__view_verify_init(ckpt_view *v, ckpt_error *err)
{
	size_t np = ckpt__view_piece_count(v);
	if ((v->verified = calloc(np ? np : 1, 1)) == NULL ||
	    (v->sums = calloc(np ? np : 1, sizeof(*v->sums))) == NULL ||
	    (v->fails = calloc(1, sizeof(*v->fails))) == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	return 0;
}

void ckpt__view_verify_free(ckpt_view *v)
{
	size_t np = v->verified ? ckpt__view_piece_count(v) : 0;
	for (size_t k = 0; v->sums && k < np; k++) {
		struct piece_sums *s = atomic_load(&v->sums[k]);
		if (s == NULL)
			continue;
		pthread_mutex_destroy(&s->lock);
		pthread_mutex_destroy(&s->check);
		free(s->segs);
		free(s);
	}
	free(v->sums);
	free(v->fails);
	free((void *)v->verified);
}

/*
 * Ownership: the sums live until ckpt_view_free (their segments until the
 * piece is decided), so a pointer taken here stays valid for every user.
 */
struct piece_sums *ckpt__view_sums(const ckpt_view *v, size_t t, size_t p, int make)
{
	size_t k = ckpt__view_piece_base(v, t) + p;
	struct piece_sums *s = atomic_load(&v->sums[k]);
	if (s != NULL || !make || atomic_load(&v->verified[k]) != PIECE_UNCHECKED ||
	    !ckpt_reader_crc_over_read(v->r, t, p))
		return s;
	struct piece_sums *made = calloc(1, sizeof(*made));
	if (made == NULL)
		return NULL;
	made->size = ckpt_reader_piece(v->r, t, p)->size;
	made->cap = 4;
	if ((made->segs = malloc(made->cap * sizeof(*made->segs))) == NULL ||
	    pthread_mutex_init(&made->lock, NULL) != 0) {
		free(made->segs);
		free(made);
		return NULL;
	}
	if (pthread_mutex_init(&made->check, NULL) != 0) {
		pthread_mutex_destroy(&made->lock);
		free(made->segs);
		free(made);
		return NULL;
	}
	if (atomic_compare_exchange_strong(&v->sums[k], &s, made))
		return made;
	pthread_mutex_destroy(&made->lock); /* another thread's sums are in s */
	pthread_mutex_destroy(&made->check);
	free(made->segs);
	free(made);
	return s;
}

void ckpt__view_gather_crc(const ckpt_view *v, uint32_t id)
{
	const ckpt_node *nd = ckpt_view_node(v, id);
	const ckpt_plan_file *f = nd ? nd->file : NULL;
	const ckpt_tensor *t = f ? ckpt_reader_tensor(v->r, f->source) : NULL;
	for (size_t p = 0; t && p < t->num_pieces; p++) {
		const ckpt_piece *pc = ckpt_reader_piece(v->r, f->source, p);
		int64_t is[CKPT_MAX_RANK], il[CKPT_MAX_RANK];
		int rows = ckpt__box_intersect(f->rank, pc->start, pc->length, f->start, f->length,
					       is, il) != 0;
		for (int d = 1; d < f->rank && rows; d++)
			rows = il[d] == pc->length[d];
		if (rows)
			(void)ckpt__view_sums(v, f->source, p, 1);
	}
}

/* Index of the first segment of s ending after off. Under s->lock. */
static size_t seg_after(const struct piece_sums *s, uint64_t off)
{
	size_t lo = 0, hi = s->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (s->segs[mid].off + s->segs[mid].len <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * Add the CRC of bytes [off, off + len) to s: 0 when added (or when part
 * of it was meanwhile added by another thread, or the piece was decided:
 * then it is dropped), 1 when s has no room for a segment that touches
 * none of its own.
 */
static int sums_add(struct piece_sums *s, uint64_t off, uint64_t len, uint32_t crc)
{
	int rc = 0;
	pthread_mutex_lock(&s->lock);
	size_t i = seg_after(s, off);
	struct crc_seg *prev = i > 0 ? &s->segs[i - 1] : NULL,
		       *next = i < s->n ? &s->segs[i] : NULL;
	if (s->segs == NULL || len == 0 || (next && next->off < off + len))
		goto out; /* decided, or overlapping */
	int joins_prev = prev && prev->off + prev->len == off;
	int joins_next = next && next->off == off + len;
	if (joins_prev) {
		prev->crc = ckpt__crc32c_combine(prev->crc, crc, len);
		prev->len += len;
		if (joins_next) {
			prev->crc = ckpt__crc32c_combine(prev->crc, next->crc, next->len);
			prev->len += next->len;
			memmove(next, next + 1, (s->n - i - 1) * sizeof(*next));
			s->n--;
		}
	} else if (joins_next) {
		next->crc = ckpt__crc32c_combine(crc, next->crc, next->len);
		next->off = off;
		next->len += len;
	} else {
		if (s->n == s->cap) {
			size_t cap = s->cap * 2;
			struct crc_seg *g =
			    cap <= SUMS_MAX_SEGS ? realloc(s->segs, cap * sizeof(*g)) : NULL;
			if (g == NULL) {
				rc = 1;
				goto out;
			}
			s->segs = g;
			s->cap = cap;
		}
		memmove(&s->segs[i + 1], &s->segs[i], (s->n - i) * sizeof(*s->segs));
		s->segs[i] = (struct crc_seg){off, len, crc};
		s->n++;
	}
out:
	pthread_mutex_unlock(&s->lock);
	return rc;
}

void ckpt__view_sums_fold(const ckpt_view *v, size_t t, size_t p, uint64_t off, const void *bytes,
			  size_t len)
{
	struct piece_sums *s = ckpt__view_sums(v, t, p, 0);
	if (s == NULL ||
	    atomic_load(&v->verified[ckpt__view_piece_base(v, t) + p]) != PIECE_UNCHECKED)
		return;
	/* the parts of the range s lacks (the first few) */
	uint64_t at[4][2], end = off + len;
	size_t n = 0;
	pthread_mutex_lock(&s->lock);
	for (size_t i = seg_after(s, off); s->segs && off < end && n < 4; i++) {
		uint64_t stop = i < s->n && s->segs[i].off < end ? s->segs[i].off : end;
		if (stop > off) {
			at[n][0] = off;
			at[n++][1] = stop;
		}
		if (i >= s->n)
			break;
		off = s->segs[i].off + s->segs[i].len;
	}
	pthread_mutex_unlock(&s->lock);
	const unsigned char *b = bytes;
	for (size_t k = 0; k < n; k++) {
		uint64_t a = at[k][0], z = at[k][1];
		(void)sums_add(s, a, z - a,
			       ckpt__crc32c_extend(0, b + (a - (end - len)), (size_t)(z - a)));
	}
}

int ckpt__view_sums_gap(struct piece_sums *s, uint64_t limit, uint64_t *g0, uint64_t *g1)
{
	int found = 0;
	pthread_mutex_lock(&s->lock);
	if (s->segs != NULL) {
		uint64_t at = 0;
		for (size_t i = 0; i <= s->n && at < limit && at < s->size; i++) {
			uint64_t stop = i < s->n ? s->segs[i].off : s->size;
			if (stop > at) {
				*g0 = at;
				*g1 = stop;
				found = 1;
				break;
			}
			at = s->segs[i].off + s->segs[i].len;
		}
	}
	pthread_mutex_unlock(&s->lock);
	return found;
}

int ckpt__view_sums_fill(const ckpt_view *v, size_t t, size_t p, struct piece_sums *s, uint64_t off,
			 size_t len, void *buf, ckpt_error *err)
{
	int rc = ckpt_reader_pread(v->r, t, p, off, buf, len, err);
	return rc ? rc : sums_add(s, off, len, ckpt__crc32c_extend(0, buf, len));
}

/* The last range s lacks, as the next step of its check: one adjacent to a
 * segment it holds (so it always has room), at most SUMS_STEP bytes.
 * 0 when s covers the piece (*crc is its CRC); 1 with [*off, +*len);
 * -1 when the piece was decided meanwhile. */
static int last_gap(struct piece_sums *s, uint64_t *off, size_t *len, uint32_t *crc)
{
	int more = 1;
	pthread_mutex_lock(&s->lock);
	if (s->segs == NULL) {
		more = -1;
	} else if (s->n == 1 && s->segs[0].off == 0 && s->segs[0].len == s->size) {
		*crc = s->segs[0].crc;
		more = 0;
	} else if (s->n == 0 && s->size == 0) {
		*crc = 0;
		more = 0;
	} else {
		/* the gap before the last segment, or after it to the end */
		const struct crc_seg *last = s->n ? &s->segs[s->n - 1] : NULL;
		uint64_t g0, g1;
		if (last && last->off + last->len < s->size) {
			g0 = last->off + last->len;
			g1 = s->size;
			*len = g1 - g0 < SUMS_STEP ? (size_t)(g1 - g0) : SUMS_STEP;
			*off = g0; /* appended to the last segment */
		} else {
			size_t i = s->n ? s->n - 1 : 0;
			while (i > 0 && s->segs[i - 1].off + s->segs[i - 1].len == s->segs[i].off)
				i--;
			g0 = i > 0 ? s->segs[i - 1].off + s->segs[i - 1].len : 0;
			g1 = s->n ? s->segs[i].off : s->size;
			*len = g1 - g0 < SUMS_STEP ? (size_t)(g1 - g0) : SUMS_STEP;
			*off = g1 - *len; /* prepended to segment i */
		}
	}
	pthread_mutex_unlock(&s->lock);
	return more;
}

/*
 * Check piece p of tensor t through its sums: read the ranges they lack,
 * then compare their CRC with the stored one. One check at a time: a
 * second caller waits for the first and takes its result.
 */
static int check_sums(const ckpt_view *v, size_t t, size_t p, struct piece_sums *s, ckpt_error *err)
{
	_Atomic unsigned char *st = &v->verified[ckpt__view_piece_base(v, t) + p];
	int rc = 0;
	pthread_mutex_lock(&s->check);
	unsigned char known = atomic_load(st);
	if (known != PIECE_UNCHECKED) {
		pthread_mutex_unlock(&s->check);
		return known == PIECE_GOOD
			   ? 0
			   : ckpt__error(err, CKPT_ECHECKSUM, "tensor %s failed its checksum",
					 ckpt_reader_tensor(v->r, t)->name);
	}
	void *buf = malloc(s->size < SUMS_STEP ? (size_t)s->size + 1 : SUMS_STEP);
	if (buf == NULL)
		rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
	uint64_t off;
	size_t len = 0;
	uint32_t crc = 0;
	int more = 1;
	while (rc == 0 && (more = last_gap(s, &off, &len, &crc)) == 1 && len > 0)
		rc = ckpt__view_sums_fill(v, t, p, s, off, len, buf, err);
	free(buf);
	if (rc == 0 && more == 1) /* len 0: cannot be (adjacent segments merge) */
		rc = ckpt__error(err, CKPT_EIO, "tensor %s: checksum ranges out of order",
				 ckpt_reader_tensor(v->r, t)->name);
	else if (rc == 0 && more == -1) /* another thread decided it */
		rc = atomic_load(st) == PIECE_GOOD
			 ? 0
			 : ckpt__error(err, CKPT_ECHECKSUM, "tensor %s failed its checksum",
				       ckpt_reader_tensor(v->r, t)->name);
	else if (rc == 0)
		rc = ckpt_reader_check_crc(v->r, t, p, crc, err);
	pthread_mutex_unlock(&s->check);
	return rc;
}

/* A piece is decided: its segments are not needed any more. */
static void sums_done(const ckpt_view *v, size_t t, size_t p)
{
	struct piece_sums *s = ckpt__view_sums(v, t, p, 0);
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	free(s->segs);
	s->segs = NULL;
	s->n = s->cap = 0;
	pthread_mutex_unlock(&s->lock);
}

/*
 * The state of the stored pieces node id draws from (a --format tf data
 * file: those of every tensor it holds): PIECE_BAD when one failed its
 * checksum, else PIECE_UNCHECKED when one is not checked yet, else
 * PIECE_GOOD. With check, unchecked pieces are checked first, stopping at
 * the first failure (*rc and err say what failed). A failed checksum is
 * remembered for the rest of the view's life; any other failure (a data
 * file cut short or unreadable right now, no memory) is not: the piece
 * stays unchecked and is checked again next time.
 */
int ckpt__view_pieces_state(const ckpt_view *v, uint32_t id, int check, int *rc, ckpt_error *err)
{
	const ckpt_node *nd = ckpt_view_node(v, id);
	int worst = PIECE_GOOD;
	if (nd != NULL && nd->file == NULL && v->fmt->verify)
		return v->fmt->verify(v, id, check, rc, err);
	if (nd == NULL || nd->file == NULL)
		return PIECE_GOOD;
	const ckpt_plan_file *f = nd->file;
	const ckpt_tensor *t = ckpt_reader_tensor(v->r, f->source);
	for (size_t p = 0; p < t->num_pieces; p++) {
		const ckpt_piece *pc = ckpt_reader_piece(v->r, f->source, p);
		int64_t is[CKPT_MAX_RANK], il[CKPT_MAX_RANK];
		if (!ckpt__box_intersect(f->rank, pc->start, pc->length, f->start, f->length, is,
					 il))
			continue;
		_Atomic unsigned char *st = &v->verified[ckpt__view_piece_base(v, f->source) + p];
		unsigned char state = atomic_load(st);
		if (state == PIECE_UNCHECKED && check) {
			struct piece_sums *s = ckpt__view_sums(v, f->source, p, 0);
			int r = s ? check_sums(v, f->source, p, s, err)
				  : ckpt_reader_verify_piece(v->r, f->source, p, err);
			if (r == 0 || r == CKPT_ECHECKSUM) {
				unsigned char was = PIECE_UNCHECKED;
				state = r ? PIECE_BAD : PIECE_GOOD;
				if (atomic_compare_exchange_strong(st, &was, state) && r)
					atomic_fetch_add(&v->fails->failed, 1);
				sums_done(v, f->source, p);
			}
			if (r) {
				*rc = r;
				return r == CKPT_ECHECKSUM ? PIECE_BAD : PIECE_UNCHECKED;
			}
		}
		if (state == PIECE_BAD) {
			if (check)
				*rc = ckpt__error(err, CKPT_ECHECKSUM,
						  "%s: tensor %s failed its checksum", f->file,
						  f->source_name);
			return PIECE_BAD;
		}
		if (state == PIECE_UNCHECKED)
			worst = PIECE_UNCHECKED;
	}
	return worst;
}

int ckpt__view_files_state(const ckpt_view *v, int check, int *rc, ckpt_error *err)
{
	int worst = PIECE_GOOD;
	for (uint32_t id = 0; id < v->count && worst != PIECE_BAD && !(rc && *rc); id++) {
		if (v->n[id].pub.file == NULL)
			continue;
		int s = ckpt__view_pieces_state(v, id, check, rc, err);
		worst = s == PIECE_GOOD ? worst : s;
	}
	return worst;
}

int ckpt_view_verify(const ckpt_view *v, uint32_t id, ckpt_error *err)
{
	int rc = 0;
	(void)ckpt__view_pieces_state(v, id, 1, &rc, err);
	return rc;
}

int ckpt_view_verified(const ckpt_view *v, uint32_t id)
{
	int s = ckpt__view_pieces_state(v, id, 0, NULL, NULL);
	return s == PIECE_GOOD ? 1 : s == PIECE_BAD ? -1 : 0;
}
