/*
 * The extent reader: a plan file is a box (start, length) of one source
 * tensor, in row-major order (a permuted file: of the box transposed). A
 * byte range maps to target elements [e0, e1); those are walked as runs
 * along the last dimension, each run cut at stored-piece boundaries into
 * preads of the piece's bytes; adjacent preads of one piece merge, and so
 * do near ones (a bounded span read once). A permuted file's range is cut
 * into boxes, each gathered in the source's order and transposed into
 * place (gather_perm). The source bytes are then converted
 * to the target dtype, and the requested window copied out. When nothing
 * converts and the range is element-aligned, bytes land straight in the
 * caller's buffer. String tensors go through the per-tensor cache of
 * parsed element offsets (format/strings.c), so a sequential read is
 * linear.
 */
#include "view/view_int.h"

#include <pthread.h>
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

/*
 * Coalescing. Runs of one piece merge into one pread while they follow
 * each other in the piece and in the destination. Runs of one piece with
 * at most GAP_MAX bytes between them merge too: the span (at most
 * SPAN_MAX bytes, SEG_MAX runs) is read once into a bounce buffer and its
 * runs copied out. A pread costs about what copying 4 KiB does, so a
 * strided walk over short rows (a transposed tensor, a column part) reads
 * bounded blocks of rows instead of one pread per element, and one over
 * long rows still reads only its elements.
 */
#define GAP_MAX 4096u
#define SPAN_MAX (256u << 10)
#define SEG_MAX 1024u

struct seg {
	uint64_t at; /* in the span */
	uint64_t len;
	uint8_t *dst;
};

/* A pending pread of one piece, extended while runs merge. */
struct pending {
	size_t piece;
	uint64_t off; /* bytes in the piece */
	uint64_t len;
	uint8_t *dst;	 /* nseg == 0: the bytes go straight here */
	size_t nseg;	 /* > 0: the span's runs, read through bounce */
	struct seg *seg; /* SEG_MAX entries, then the bounce buffer */
	uint8_t *bounce; /* SPAN_MAX bytes; allocated on first need */
};

static int flush(const ckpt_view *v, const ckpt_plan_file *f, struct pending *pd, ckpt_error *err)
{
	if (pd->len == 0)
		return 0;
	uint8_t *buf = pd->nseg ? pd->bounce : pd->dst;
	int rc = ckpt_reader_pread(v->r, f->source, pd->piece, pd->off, buf, (size_t)pd->len, err);
	if (rc == 0) /* the piece's CRC, from bytes read anyway (verify.c) */
		ckpt__view_sums_fold(v, f->source, pd->piece, pd->off, buf, (size_t)pd->len);
	for (size_t k = 0; rc == 0 && k < pd->nseg; k++)
		memcpy(pd->seg[k].dst, buf + pd->seg[k].at, (size_t)pd->seg[k].len);
	pd->len = 0;
	pd->nseg = 0;
	return rc;
}

/* Queue bytes [boff, boff+blen) of piece p for dst `to`. */
static int add_run(const ckpt_view *v, const ckpt_plan_file *f, struct pending *pd, size_t p,
		   uint64_t boff, uint64_t blen, uint8_t *to, ckpt_error *err)
{
	if (pd->len && pd->piece == p && boff >= pd->off + pd->len) {
		uint64_t end = pd->off + pd->len;
		if (boff == end && pd->nseg == 0 && pd->dst + pd->len == to) {
			pd->len += blen;
			return 0;
		}
		if (boff - end <= GAP_MAX && blen <= SPAN_MAX &&
		    boff + blen - pd->off <= SPAN_MAX && pd->nseg < SEG_MAX) {
			if (pd->seg == NULL &&
			    (pd->seg = malloc(SEG_MAX * sizeof(struct seg) + SPAN_MAX)) != NULL)
				pd->bounce = (uint8_t *)(pd->seg + SEG_MAX);
			if (pd->seg != NULL) {
				if (pd->nseg == 0)
					pd->seg[pd->nseg++] = (struct seg){0, pd->len, pd->dst};
				pd->seg[pd->nseg++] = (struct seg){boff - pd->off, blen, to};
				pd->len = boff + blen - pd->off;
				return 0;
			}
		}
	}
	int rc = flush(v, f, pd, err);
	pd->piece = p;
	pd->off = boff;
	pd->len = blen;
	pd->dst = to;
	return rc;
}

/* Read elements [e0, e1) (row-major) of the box (start, len) of file f's
 * source tensor into dst, in the source dtype. */
static int gather_box(const ckpt_view *v, const ckpt_plan_file *f, const int64_t *start,
		      const int64_t *len, uint64_t e0, uint64_t e1, uint8_t *dst,
		      struct pending *pd, ckpt_error *err)
{
	const ckpt_tensor *t = ckpt_reader_tensor(v->r, f->source);
	size_t es = ckpt_dtype_size(t->dtype);
	int rank = f->rank;
	int rc = 0;

	if (rank == 0) {
		rc = add_run(v, f, pd, 0, 0, es, dst, err);
		return rc ? rc : flush(v, f, pd, err);
	}
	int64_t idx[CKPT_MAX_RANK];
	uint64_t rem = e0;
	for (int d = rank - 1; d >= 0; d--) {
		idx[d] = (int64_t)(rem % (uint64_t)len[d]);
		rem /= (uint64_t)len[d];
	}
	uint64_t e = e0;
	while (e < e1 && rc == 0) {
		int64_t last = len[rank - 1];
		uint64_t run = (uint64_t)(last - idx[rank - 1]);
		if (run > e1 - e)
			run = e1 - e;
		/* source coordinates of the run's first element */
		int64_t c[CKPT_MAX_RANK];
		for (int d = 0; d < rank; d++)
			c[d] = start[d] + idx[d];
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
			rc = add_run(v, f, pd, p, poff * es, (uint64_t)(b - a) * es, to, err);
			covered += (uint64_t)(b - a);
		}
		if (rc == 0 && covered != run)
			rc = ckpt__error(
			    err, CKPT_ECORRUPT,
			    "%s: Does not have sufficient slices for partitioned tensor %s",
			    f->file, f->source_name);
		e += run;
		idx[rank - 1] += (int64_t)run;
		for (int d = rank - 1; d > 0 && idx[d] >= len[d]; d--) {
			idx[d] = 0;
			idx[d - 1]++;
		}
	}
	if (rc == 0)
		rc = flush(v, f, pd, err);
	else
		pd->len = pd->nseg = 0;
	return rc;
}

/* Copy n elements of es bytes from src, stride `stride` elements, to dst
 * (contiguous). */
static void copy_strided(uint8_t *dst, const uint8_t *src, uint64_t n, uint64_t stride, size_t es)
{
	const size_t step = (size_t)stride * es;
	switch (es) {
	case 1:
		for (uint64_t i = 0; i < n; i++, src += step)
			dst[i] = *src;
		break;
	case 2:
		for (uint64_t i = 0; i < n; i++, src += step, dst += 2)
			memcpy(dst, src, 2);
		break;
	case 4:
		for (uint64_t i = 0; i < n; i++, src += step, dst += 4)
			memcpy(dst, src, 4);
		break;
	case 8:
		for (uint64_t i = 0; i < n; i++, src += step, dst += 8)
			memcpy(dst, src, 8);
		break;
	default:
		for (uint64_t i = 0; i < n; i++, src += step, dst += es)
			memcpy(dst, src, es);
	}
}

#define TILE 16

#define TILE_LOOP(ES)                                                                              \
	for (uint64_t i = i0; i < i1; i++)                                                         \
		for (uint64_t j = j0; j < j1; j++)                                                 \
	memcpy(dst + (i * dA + j) * (ES), src + (i + j * sB) * (ES), (ES))

/* dst[i * dA + j] = src[i + j * sB] for i < A, j < B (elements of es
 * bytes), in tiles so that both sides stay in cache. */
static void tile_copy(uint8_t *dst, const uint8_t *src, uint64_t A, uint64_t B, uint64_t dA,
		      uint64_t sB, size_t es)
{
	for (uint64_t i0 = 0; i0 < A; i0 += TILE) {
		uint64_t i1 = A - i0 < TILE ? A : i0 + TILE;
		for (uint64_t j0 = 0; j0 < B; j0 += TILE) {
			uint64_t j1 = B - j0 < TILE ? B : j0 + TILE;
			switch (es) {
			case 1: TILE_LOOP(1); break;
			case 2: TILE_LOOP(2); break;
			case 4: TILE_LOOP(4); break;
			case 8: TILE_LOOP(8); break;
			case 16: TILE_LOOP(16); break;
			default: TILE_LOOP(es);
			}
		}
	}
}

void ckpt__view_permute_copy(uint8_t *dst, const uint8_t *src, int rank, const int64_t *tlen,
			     const int *perm, size_t es)
{
	/* src is row-major over the source box, whose axis perm[d] has tlen[d]
	 * elements; sstride[a]: elements between steps of source axis a */
	uint64_t sstride[CKPT_MAX_RANK] = {0}, dstride[CKPT_MAX_RANK] = {0}, n = 1;
	int64_t slen[CKPT_MAX_RANK];
	for (int d = rank - 1; d >= 0; d--) {
		slen[perm[d]] = tlen[d];
		dstride[d] = n;
		n *= (uint64_t)tlen[d];
	}
	if (n == 0)
		return;
	uint64_t acc = 1;
	for (int a = rank - 1; a >= 0; a--) {
		sstride[a] = acc;
		acc *= (uint64_t)slen[a];
	}
	if (rank == 0) {
		memcpy(dst, src, es);
		return;
	}
	/* the file axis that runs along the source's last axis (stride 1 in
	 * src) and the file's last axis (stride 1 in dst): a 2-D transpose
	 * of those two for every index of the others */
	int dl = 0;
	while (perm[dl] != rank - 1)
		dl++;
	const int last = rank - 1;
	uint64_t A = (uint64_t)tlen[dl], B = (uint64_t)tlen[last];
	if (dl == last)
		A = 1; /* the last axes agree: rows copied with stride 1 */
	uint64_t sB = sstride[perm[last]], dA = dstride[dl];
	int64_t idx[CKPT_MAX_RANK] = {0};
	uint64_t bs = 0, bd = 0;
	for (uint64_t done = 0; done < n; done += A * B) {
		if (A == 1)
			copy_strided(dst + bd * es, src + bs * es, B, sB, es);
		else
			tile_copy(dst + bd * es, src + bs * es, A, B, dA, sB, es);
		int d = last - 1;
		for (; d >= 0; d--) {
			if (d == dl && A > 1)
				continue;
			bs += sstride[perm[d]];
			bd += dstride[d];
			if (++idx[d] < tlen[d])
				break;
			bs -= (uint64_t)tlen[d] * sstride[perm[d]];
			bd -= (uint64_t)tlen[d] * dstride[d];
			idx[d] = 0;
		}
	}
}

/*
 * Elements [e0, e1) of permuted file f (row-major over f->shape) into dst,
 * in the source dtype. The range is cut into at most 2 * rank - 1 boxes of
 * the file (a partial row, whole rows, whole planes, ... then back down);
 * each box is a box of the source (axis d of the file is axis perm[d] of
 * the source), gathered in the source's order with the coalescing above
 * and reordered (straight into dst when the box's long axes keep their
 * order). Only the range's own elements are asked for.
 */
static int gather_perm(const ckpt_view *v, const ckpt_plan_file *f, uint64_t e0, uint64_t e1,
		       uint8_t *dst, uint8_t *scratch, struct pending *pd, ckpt_error *err)
{
	int rank = f->rank;
	size_t es = ckpt_dtype_size(f->source_dtype);
	uint64_t blk[CKPT_MAX_RANK];
	int64_t c[CKPT_MAX_RANK];
	uint64_t acc = 1, rem = e0;
	for (int d = rank - 1; d >= 0; d--) {
		blk[d] = acc;
		acc *= (uint64_t)f->shape[d];
		c[d] = (int64_t)(rem % (uint64_t)f->shape[d]);
		rem /= (uint64_t)f->shape[d];
	}
	uint8_t *tmp = scratch; /* (e1 - e0) elements, or NULL: allocated here */
	int rc = 0;
	for (uint64_t cur = e0; cur < e1 && rc == 0;) {
		/* the outermost axis j with c[j+1..] all 0 and a block that fits */
		int j = rank - 1;
		while (j > 0 && c[j] == 0)
			j--;
		while (blk[j] > e1 - cur)
			j++;
		uint64_t n = (e1 - cur) / blk[j];
		if (n > (uint64_t)(f->shape[j] - c[j]))
			n = (uint64_t)(f->shape[j] - c[j]);
		int64_t tlen[CKPT_MAX_RANK], sst[CKPT_MAX_RANK], sln[CKPT_MAX_RANK];
		int in_order = 1, lastax = -1;
		for (int d = 0; d < rank; d++) {
			int64_t ts = d < j ? c[d] : d == j ? c[j] : 0;
			tlen[d] = d < j ? 1 : d == j ? (int64_t)n : f->shape[d];
			sst[f->perm[d]] = f->start[f->perm[d]] + ts;
			sln[f->perm[d]] = tlen[d];
			if (tlen[d] > 1) {
				in_order = in_order && f->perm[d] > lastax;
				lastax = f->perm[d];
			}
		}
		uint64_t cnt = n * blk[j];
		uint8_t *out = dst + (cur - e0) * es;
		if (in_order) {
			rc = gather_box(v, f, sst, sln, 0, cnt, out, pd, err);
		} else {
			if (tmp == NULL && (tmp = malloc((size_t)(e1 - e0) * es)) == NULL)
				rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
			if (rc == 0)
				rc = gather_box(v, f, sst, sln, 0, cnt, tmp, pd, err);
			if (rc == 0)
				ckpt__view_permute_copy(out, tmp, rank, tlen, f->perm, es);
		}
		cur += cnt;
		c[j] += (int64_t)n;
		for (int d = j; d > 0 && c[d] >= f->shape[d]; d--) {
			c[d] = 0;
			c[d - 1]++;
		}
	}
	if (tmp != scratch)
		free(tmp);
	return rc;
}

/*
 * Sequential reads of a permuted file. A 128 KiB request of a transposed
 * matrix is a few source columns: one short pread per source row. So a
 * read that starts where the last read of the same file ended (a `cat`,
 * `cp`, numpy.load, the kernel's readahead), or one inside a block already
 * made, is served from blocks of PBLOCK_BYTES of the file (in the source
 * dtype, aligned), each gathered once with preads of whole rows' worth of
 * columns; the last PBLOCKS blocks are kept. Other reads (a random 4 KiB
 * pread) gather only their own elements.
 */
#define PBLOCK_BYTES (8u << 20)
#define PBLOCKS 4
#define PSTREAMS 8

struct perm_cache {
	pthread_mutex_t lock;	  /* the tables below */
	pthread_mutex_t build;	  /* one block made at a time (into spare, with scratch) */
	uint8_t *spare, *scratch; /* PBLOCK_BYTES each, allocated on first need */
	uint64_t tick;
	struct {
		const ckpt_plan_file *f; /* NULL: free */
		uint64_t b;		 /* block index */
		uint64_t e0, n;		 /* its elements */
		uint8_t *data;
		uint64_t used; /* tick of the last use */
	} blk[PBLOCKS];
	struct {
		const ckpt_plan_file *f;
		uint64_t end; /* element where a read ended */
	} stream[PSTREAMS];
	unsigned next;
};

int ckpt__view_perm_cache_init(ckpt_view *v, ckpt_error *err)
{
	int any = 0;
	for (size_t i = 0; i < v->plan->n_files && !any; i++)
		any = v->plan->files[i].perm != NULL;
	if (!any)
		return 0;
	if ((v->pcache = calloc(1, sizeof(*v->pcache))) == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	pthread_mutex_init(&v->pcache->lock, NULL);
	pthread_mutex_init(&v->pcache->build, NULL);
	return 0;
}

void ckpt__view_perm_cache_free(ckpt_view *v)
{
	struct perm_cache *c = v->pcache;
	if (c == NULL)
		return;
	for (int k = 0; k < PBLOCKS; k++)
		free(c->blk[k].data);
	free(c->spare);
	free(c->scratch);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->build);
	free(c);
	v->pcache = NULL;
}

/* Under c->lock: copy what block k holds of [e0, e1) to dst (element e0
 * at dst); the elements copied. */
static uint64_t block_copy(struct perm_cache *c, int k, uint64_t e0, uint64_t e1, uint8_t *dst,
			   size_t es)
{
	uint64_t a = e0 > c->blk[k].e0 ? e0 : c->blk[k].e0;
	uint64_t b = c->blk[k].e0 + c->blk[k].n;
	if (b > e1)
		b = e1;
	if (a >= b)
		return 0;
	memcpy(dst + (a - e0) * es, c->blk[k].data + (a - c->blk[k].e0) * es, (size_t)(b - a) * es);
	c->blk[k].used = ++c->tick;
	return b - a;
}

static int find_block(const struct perm_cache *c, const ckpt_plan_file *f, uint64_t b)
{
	for (int k = 0; k < PBLOCKS; k++)
		if (c->blk[k].f == f && c->blk[k].b == b)
			return k;
	return -1;
}

static int gather_perm_cached(const ckpt_view *v, const ckpt_plan_file *f, uint64_t e0, uint64_t e1,
			      uint8_t *dst, struct pending *pd, ckpt_error *err)
{
	struct perm_cache *c = v->pcache;
	size_t es = ckpt_dtype_size(f->source_dtype);
	uint64_t per = PBLOCK_BYTES / es;
	pthread_mutex_lock(&c->lock);
	int seq = find_block(c, f, e0 / per) >= 0;
	unsigned slot = c->next;
	for (unsigned k = 0; k < PSTREAMS; k++)
		if (c->stream[k].f == f && c->stream[k].end == e0) {
			seq = 1;
			slot = k;
			break;
		}
	if (slot == c->next)
		c->next = (c->next + 1) % PSTREAMS;
	c->stream[slot].f = f;
	c->stream[slot].end = e1;
	pthread_mutex_unlock(&c->lock);
	if (!seq)
		return gather_perm(v, f, e0, e1, dst, NULL, pd, err);

	for (uint64_t b = e0 / per; b <= (e1 - 1) / per; b++) {
		pthread_mutex_lock(&c->lock);
		int k = find_block(c, f, b);
		if (k >= 0) {
			block_copy(c, k, e0, e1, dst, es);
			pthread_mutex_unlock(&c->lock);
			continue;
		}
		pthread_mutex_unlock(&c->lock);
		/* one block made at a time: readahead asks for the next
		 * block from several threads at once */
		pthread_mutex_lock(&c->build);
		pthread_mutex_lock(&c->lock);
		k = find_block(c, f, b);
		if (k >= 0) {
			block_copy(c, k, e0, e1, dst, es);
			pthread_mutex_unlock(&c->lock);
			pthread_mutex_unlock(&c->build);
			continue;
		}
		pthread_mutex_unlock(&c->lock);
		uint64_t b0 = b * per, n = f->num_elements - b0 < per ? f->num_elements - b0 : per;
		if (c->spare == NULL)
			c->spare = malloc(PBLOCK_BYTES);
		if (c->scratch == NULL)
			c->scratch = malloc(PBLOCK_BYTES);
		int rc = c->spare && c->scratch
			     ? gather_perm(v, f, b0, b0 + n, c->spare, c->scratch, pd, err)
			     : ckpt__error(err, CKPT_ENOMEM, "out of memory");
		if (rc) {
			pthread_mutex_unlock(&c->build);
			return rc;
		}
		pthread_mutex_lock(&c->lock);
		k = 0;
		for (int j = 1; j < PBLOCKS; j++)
			if (c->blk[j].used < c->blk[k].used)
				k = j;
		uint8_t *old = c->blk[k].data; /* the evicted block's buffer is the next spare */
		c->blk[k].f = f;
		c->blk[k].b = b;
		c->blk[k].e0 = b0;
		c->blk[k].n = n;
		c->blk[k].data = c->spare;
		c->spare = old;
		block_copy(c, k, e0, e1, dst, es);
		pthread_mutex_unlock(&c->lock);
		pthread_mutex_unlock(&c->build);
	}
	return 0;
}

/* Source elements [e0, e1) of file f, in the file's order, into dst (the
 * source dtype). */
static int gather(const ckpt_view *v, const ckpt_plan_file *f, uint64_t e0, uint64_t e1,
		  uint8_t *dst, ckpt_error *err)
{
	struct pending pd = {0};
	int rc;
	if (f->perm == NULL || f->rank == 0)
		rc = gather_box(v, f, f->start, f->length, e0, e1, dst, &pd, err);
	else if (v->pcache != NULL)
		rc = gather_perm_cached(v, f, e0, e1, dst, &pd, err);
	else
		rc = gather_perm(v, f, e0, e1, dst, NULL, &pd, err);
	free(pd.seg);
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
	    off + len > nd->size || f->perm != NULL)
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
