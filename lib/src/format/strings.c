/*
 * String tensors (spec/bundle.md "DT_STRING"): N varint lengths, the masked
 * CRC32C of the lengths (each fed as 4 little-endian bytes, 8 past 2^32 - 1,
 * in the writer's byte order), then the N strings back to back.
 *
 * Everything here reads through ckpt_reader_pread in bounded chunks: the
 * lengths are parsed once per tensor into a sparse index (strings_int.h),
 * so a range read costs the bytes it returns plus a short varint walk, and
 * a sequential read of a whole file is linear in its size.
 */
#include "format/strings_int.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/codec_int.h"
#include "util/crc32c_int.h"
#include "util/error_int.h"
#include "format/table_int.h"

/* Bytes of varints read per pread while parsing all lengths. */
#define PARSE_CHUNK ((size_t)64 << 10)
/* Bytes of string data checked per pread while verifying. */
#define VERIFY_STEP ((size_t)1 << 20)
/* A range read: varints per pread, string bytes gathered into one pread,
 * elements per such pread; an element's part at least DIRECT bytes long
 * is read straight into the caller's buffer. */
#define WALK_FIRST ((size_t)512)
#define WALK_CHUNK ((size_t)16 << 10)
#define BATCH_BYTES ((size_t)64 << 10)
#define BATCH_ELEMS ((size_t)4096)
#define DIRECT ((size_t)16 << 10)

/* Called for element k with its length, the offset of its varint in the
 * tensor and the sum of the lengths before it. Nonzero stops the parse. */
typedef ckpt__strings_len_fn len_fn;
/* Called once before the first length, when h->n and h->size are known and
 * n <= size holds (so an allocation by n is bounded by the stored size). */
typedef int (*start_fn)(void *ctx, const ckpt__strings_head *h, ckpt_error *err);

static int lengths_error(const ckpt_reader *r, const struct ckpt__tensor *t, ckpt_error *err)
{
	const struct ckpt__piece *pc = &t->pieces[0];
	return ckpt__error(err, CKPT_ECORRUPT,
			   "%s: tensor %s: String lengths longer than expected offset %llu",
			   r->path, t->name, (unsigned long long)(pc->offset + pc->pub.size));
}

/* Parse the lengths of tensor i, a string tensor stored whole (see
 * ckpt__strings_parse); start and fn (either may be NULL) get each step. */
static int parse(const ckpt_reader *r, size_t i, start_fn start, len_fn fn, void *ctx,
		 ckpt__strings_head *h, ckpt_error *err)
{
	int rc = 0;
	if (i >= r->n)
		return ckpt__error(err, CKPT_EINVAL, "%s: no tensor %zu", r->path, i);
	const struct ckpt__tensor *t = &r->t[i];
	if (t->pub.dtype != CKPT_DT_STRING)
		return ckpt__error(err, CKPT_EINVAL, "%s: tensor %s is not a string tensor",
				   r->path, t->name);
	if (t->pub.num_pieces != 1 || t->pieces[0].pub.num_elements != t->pub.num_elements)
		return ckpt__error(err, CKPT_EUNSUPPORTED,
				   "%s: Dtype string not supported for a partitioned tensor (%s)",
				   r->path, t->name);
	uint64_t n = t->pub.num_elements, size = t->pieces[0].pub.size;
	memset(h, 0, sizeof(*h));
	h->n = n;
	h->size = size;
	if (n > size) /* every varint takes a byte */
		return lengths_error(r, t, err);
	if (start && (rc = start(ctx, h, err)))
		return rc;
	size_t cap = size < PARSE_CHUNK ? (size_t)size : PARSE_CHUNK;
	uint8_t *buf = malloc(cap ? cap : 1);
	if (buf == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", r->path);
	uint64_t at = 0, body = 0; /* buf holds tensor bytes [at, at + have) */
	size_t have = 0, pos = 0;
	uint32_t lcrc = 0;
	for (uint64_t k = 0; k < n && rc == 0; k++) {
		if (have - pos < 10 && at + have < size) {
			at += pos;
			have = size - at < cap ? (size_t)(size - at) : cap;
			pos = 0;
			if ((rc = ckpt_reader_pread(r, i, 0, at, buf, have, err)))
				break;
		}
		const uint8_t *p = buf + pos;
		uint64_t len;
		if (ckpt__get_varint64(&p, buf + have, &len) || ckpt__add_u64(body, len, &body) ||
		    body > size) {
			rc = lengths_error(r, t, err);
			break;
		}
		if (fn && (rc = fn(ctx, k, len, at + pos, body - len)))
			break;
		pos = (size_t)(p - buf);
		/* TF feeds 4-byte lengths (8 only past 2^32 - 1) in the
		 * writer's byte order */
		size_t w = len <= 0xffffffffu ? 4 : 8;
		uint8_t le[8];
		ckpt__store_le64(le, len);
		if (r->swap)
			for (size_t a = 0, b = w - 1; a < b; a++, b--) {
				uint8_t x = le[a];
				le[a] = le[b];
				le[b] = x;
			}
		lcrc = ckpt__crc32c_extend(lcrc, le, w);
		if (len > h->longest)
			h->longest = len;
	}
	uint64_t cur = at + pos;
	if (rc == 0 && size - cur >= 4) {
		if (have - pos >= 4)
			memcpy(h->sum, buf + pos, 4);
		else
			rc = ckpt_reader_pread(r, i, 0, cur, h->sum, 4, err);
	}
	free(buf);
	if (rc)
		return rc;
	uint32_t stored = ckpt__load_le32(h->sum);
	if (r->swap)
		stored = __builtin_bswap32(stored);
	if (size - cur < 4 || ckpt__crc32c_unmask(stored) != lcrc)
		return ckpt__error(
		    err, CKPT_ECHECKSUM,
		    "%s: tensor %s: The length checksum does not match: expected %08u", r->path,
		    t->name, lcrc);
	h->data_start = cur + 4;
	h->lcrc = lcrc;
	if (body != size - h->data_start)
		return lengths_error(r, t, err);
	return 0;
}

int ckpt__strings_parse(const ckpt_reader *r, size_t i, ckpt__strings_head *h, ckpt_error *err)
{
	return parse(r, i, NULL, NULL, NULL, h, err);
}

int ckpt__strings_each(const ckpt_reader *r, size_t i, ckpt__strings_len_fn fn, void *ctx,
		       ckpt__strings_head *h, ckpt_error *err)
{
	return parse(r, i, NULL, fn, ctx, h, err);
}

/* TF's text for string bytes that do not match the entry CRC. */
static int checksum_error(const ckpt_reader *r, size_t i, uint32_t crc, ckpt_error *err)
{
	const struct ckpt__piece *pc = &r->t[i].pieces[0];
	return ckpt__error(
	    err, CKPT_ECHECKSUM,
	    "TensorBundle at %s shard %d (%llu bytes): Checksum does not match: stored "
	    "%08u vs. calculated on the restored bytes %u (tensor %s)",
	    r->path, pc->shard, (unsigned long long)pc->pub.size, pc->crc, crc, r->t[i].name);
}

int ckpt__strings_verify(const ckpt_reader *r, size_t i, ckpt_error *err)
{
	ckpt__strings_head h;
	int rc = parse(r, i, NULL, NULL, NULL, &h, err);
	if (rc)
		return rc;
	/* the entry CRC: uint32 lengths, the 4 checksum bytes, the strings */
	uint32_t crc = ckpt__crc32c_extend(h.lcrc, h.sum, 4);
	uint64_t total = h.size - h.data_start;
	size_t step = total < VERIFY_STEP ? (size_t)total : VERIFY_STEP;
	uint8_t *buf = malloc(step ? step : 1);
	if (buf == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", r->path);
	for (uint64_t off = 0; rc == 0 && off < total; off += step) {
		size_t n = total - off < step ? (size_t)(total - off) : step;
		rc = ckpt_reader_pread(r, i, 0, h.data_start + off, buf, n, err);
		if (rc == 0)
			crc = ckpt__crc32c_extend(crc, buf, n);
	}
	free(buf);
	if (rc == 0 && crc != r->t[i].pieces[0].crc)
		rc = checksum_error(r, i, crc, err);
	return rc;
}

/* ckpt_reader_read_strings: one block of n pointers, then the strings,
 * each NUL-terminated; the lengths apart. */
struct strs_ctx {
	const ckpt_reader *r;
	char **strs;
	uint64_t *lens;
};

static int strs_start(void *ctx, const ckpt__strings_head *h, ckpt_error *err)
{
	struct strs_ctx *c = ctx;
	uint64_t block;
	if (h->size > SIZE_MAX || ckpt__mul_u64(h->n, sizeof(char *) + 1, &block) ||
	    ckpt__add_u64(block, h->size + 1, &block) || block > SIZE_MAX ||
	    (c->lens = malloc((h->n ? (size_t)h->n : 1) * sizeof(*c->lens))) == NULL ||
	    (c->strs = malloc((size_t)block)) == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory for %llu strings",
				   c->r->path, (unsigned long long)h->n);
	return 0;
}

static int store_len(void *ctx, uint64_t k, uint64_t len, uint64_t varint, uint64_t body)
{
	(void)varint;
	(void)body;
	((struct strs_ctx *)ctx)->lens[k] = len;
	return 0;
}

int ckpt_reader_read_strings(const ckpt_reader *r, size_t i, char ***out_strs, uint64_t **out_lens,
			     ckpt_error *err)
{
	struct strs_ctx c = {r, NULL, NULL};
	ckpt__strings_head h;
	int rc = parse(r, i, strs_start, store_len, &c, &h, err);
	uint64_t n = h.n, total = rc ? 0 : h.size - h.data_start;
	/* the strings' bytes are read into the block's tail, checked, then
	 * moved down into place */
	char *base = rc ? NULL : (char *)(c.strs + n), *tail = rc ? NULL : base + n + 1;
	if (rc == 0)
		rc = ckpt_reader_pread(r, i, 0, h.data_start, tail, (size_t)total, err);
	if (rc == 0) {
		uint32_t crc =
		    ckpt__crc32c_extend(ckpt__crc32c_extend(h.lcrc, h.sum, 4), tail, (size_t)total);
		if (crc != r->t[i].pieces[0].crc)
			rc = checksum_error(r, i, crc, err);
	}
	if (rc) {
		free(c.lens);
		free(c.strs);
		return rc;
	}
	/* string k moves from tail + body down to base + body + k: always
	 * down, and never past the next string's bytes */
	uint64_t body = 0;
	for (uint64_t k = 0; k < n; k++) {
		c.strs[k] = base + body + k;
		memmove(c.strs[k], tail + body, (size_t)c.lens[k]);
		c.strs[k][c.lens[k]] = '\0';
		body += c.lens[k];
	}
	*out_strs = c.strs;
	*out_lens = c.lens;
	return 0;
}

void ckpt_reader_free_strings(char **strs, uint64_t *lens)
{
	free(strs);
	free(lens);
}

/* ---- the index and its cache ---- */

/* At most CKPT__STRINGS_MAX_MARKS marks, whatever the count says. */
static int mark_start(void *ctx, const ckpt__strings_head *h, ckpt_error *err)
{
	ckpt__strings_index *x = ctx;
	uint64_t n = h->n, step = n / CKPT__STRINGS_MAX_MARKS + (n % CKPT__STRINGS_MAX_MARKS != 0);
	x->step = step < 64 ? 64 : step;
	x->n_marks = (size_t)(n / x->step + (n % x->step != 0));
	x->marks = malloc((x->n_marks ? x->n_marks : 1) * sizeof(*x->marks));
	return x->marks ? 0 : ckpt__error(err, CKPT_ENOMEM, "out of memory");
}

static int add_mark(void *ctx, uint64_t k, uint64_t len, uint64_t varint, uint64_t body)
{
	ckpt__strings_index *x = ctx;
	(void)len;
	if (k % x->step == 0)
		x->marks[k / x->step] = (struct ckpt__strings_mark){varint, body};
	return 0;
}

static void index_free(ckpt__strings_index *x)
{
	if (x != NULL)
		free(x->marks);
	free(x);
}

static int index_build(const ckpt_reader *r, size_t i, ckpt__strings_index **out, ckpt_error *err)
{
	ckpt__strings_index *x = calloc(1, sizeof(*x));
	if (x == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", r->path);
	x->tensor = i;
	int rc = parse(r, i, mark_start, add_mark, x, &x->h, err);
	if (rc) {
		index_free(x);
		return rc;
	}
	*out = x;
	return 0;
}

struct ckpt__strings_cache {
	pthread_mutex_t lock;
	pthread_cond_t done; /* a build finished (or failed) */
	uint64_t tick;
	struct slot {
		int state; /* 0 free, 1 being built, 2 ready */
		size_t tensor;
		uint64_t used;
		ckpt__strings_index *x; /* state 2; holds one reference */
	} slot[CKPT__STRINGS_CACHED];
};

ckpt__strings_cache *ckpt__strings_cache_new(void)
{
	ckpt__strings_cache *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	if (pthread_mutex_init(&c->lock, NULL)) {
		free(c);
		return NULL;
	}
	if (pthread_cond_init(&c->done, NULL)) {
		pthread_mutex_destroy(&c->lock);
		free(c);
		return NULL;
	}
	return c;
}

void ckpt__strings_cache_free(ckpt__strings_cache *c)
{
	if (c == NULL)
		return;
	for (size_t s = 0; s < CKPT__STRINGS_CACHED; s++)
		index_free(c->slot[s].x);
	pthread_cond_destroy(&c->done);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Drop one reference (cache lock held). */
static void unref(ckpt__strings_index *x)
{
	if (--x->refs == 0)
		index_free(x);
}

int ckpt__strings_get(ckpt__strings_cache *c, const ckpt_reader *r, size_t i,
		      const ckpt__strings_index **out, ckpt_error *err)
{
	struct slot *s;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct slot *mine = NULL, *free_slot = NULL, *lru = NULL;
		for (size_t k = 0; k < CKPT__STRINGS_CACHED; k++) {
			struct slot *q = &c->slot[k];
			if (q->state != 0 && q->tensor == i)
				mine = q;
			if (q->state == 0 && free_slot == NULL)
				free_slot = q;
			else if (q->state == 2 && (lru == NULL || q->used < lru->used))
				lru = q;
		}
		struct slot *victim = free_slot ? free_slot : lru;
		if (mine && mine->state == 2) {
			mine->used = ++c->tick;
			mine->x->refs++;
			*out = mine->x;
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
		if (mine == NULL && victim != NULL) {
			s = victim;
			break;
		}
		/* being built by another thread, or every slot is */
		pthread_cond_wait(&c->done, &c->lock);
	}
	if (s->state == 2)
		unref(s->x);
	*s = (struct slot){1, i, 0, NULL};
	pthread_mutex_unlock(&c->lock);

	ckpt__strings_index *x = NULL;
	int rc = index_build(r, i, &x, err);

	pthread_mutex_lock(&c->lock);
	if (rc) {
		s->state = 0;
	} else {
		x->refs = 2; /* the cache's and the caller's */
		*s = (struct slot){2, i, ++c->tick, x};
		*out = x;
	}
	pthread_cond_broadcast(&c->done);
	pthread_mutex_unlock(&c->lock);
	return rc;
}

void ckpt__strings_put(ckpt__strings_cache *c, const ckpt__strings_index *x)
{
	if (x == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	unref((ckpt__strings_index *)x);
	pthread_mutex_unlock(&c->lock);
}

/* ---- range reads ---- */

/* A walk over the varints from one mark on. */
struct walk {
	const ckpt_reader *r;
	const ckpt__strings_index *x;
	uint64_t k, body; /* the next element and the sum of the lengths before it */
	uint8_t *buf;	  /* WALK_CHUNK bytes: tensor bytes [at, at + have) */
	uint64_t at;
	size_t have, pos;
	size_t next; /* bytes the next refill reads: from WALK_FIRST, doubling to
		      * WALK_CHUNK (a short read needs few varints) */
};

static int changed(const struct walk *w, ckpt_error *err)
{
	const struct ckpt__tensor *t = &w->r->t[w->x->tensor];
	return ckpt__error(err, CKPT_ECORRUPT,
			   "%s: tensor %s: string element %llu does not match the lengths parsed "
			   "before (the data file changed?)",
			   w->r->path, t->name, (unsigned long long)w->k);
}

/* The next element's length and where its bytes start (after the checksum). */
static int walk_next(struct walk *w, uint64_t *len, uint64_t *body, ckpt_error *err)
{
	const ckpt__strings_head *h = &w->x->h;
	uint64_t vend = h->data_start - 4; /* the varints end here */
	if (w->k >= h->n)
		return changed(w, err);
	if (w->have - w->pos < 10 && w->at + w->have < vend) {
		w->at += w->pos;
		w->have = vend - w->at < w->next ? (size_t)(vend - w->at) : w->next;
		w->pos = 0;
		if (w->next < WALK_CHUNK)
			w->next *= 2;
		int rc = ckpt_reader_pread(w->r, w->x->tensor, 0, w->at, w->buf, w->have, err);
		if (rc)
			return rc;
	}
	const uint8_t *p = w->buf + w->pos;
	if (ckpt__get_varint64(&p, w->buf + w->have, len) ||
	    *len > h->size - h->data_start - w->body)
		return changed(w, err);
	w->pos = (size_t)(p - w->buf);
	*body = w->body;
	w->body += *len;
	w->k++;
	return 0;
}

/* Element parts waiting to be read with one pread: consecutive in the
 * tensor, scattered into the caller's buffer. */
struct batch {
	uint8_t *tmp;
	size_t cap;
	uint64_t at; /* tensor offset of tmp[0] */
	size_t len, n, max;
	uint8_t **dst;
	size_t *dlen;
};

static int flush(const ckpt_reader *r, size_t i, struct batch *b, ckpt_error *err)
{
	int rc = b->len ? ckpt_reader_pread(r, i, 0, b->at, b->tmp, b->len, err) : 0;
	for (size_t k = 0, done = 0; rc == 0 && k < b->n; done += b->dlen[k], k++)
		memcpy(b->dst[k], b->tmp + done, b->dlen[k]);
	b->n = 0;
	b->len = 0;
	return rc;
}

/* n bytes at tensor offset at go to dst. */
static int gather(const ckpt_reader *r, size_t i, struct batch *b, uint64_t at, uint8_t *dst,
		  size_t n, ckpt_error *err)
{
	int rc = 0;
	if (n == 0)
		return 0;
	if (n >= DIRECT || n > b->cap) {
		if ((rc = flush(r, i, b, err)))
			return rc;
		return ckpt_reader_pread(r, i, 0, at, dst, n, err);
	}
	if (b->n && (b->at + b->len != at || b->len + n > b->cap || b->n == b->max))
		rc = flush(r, i, b, err);
	if (b->n == 0)
		b->at = at;
	b->dst[b->n] = dst;
	b->dlen[b->n++] = n;
	b->len += n;
	return rc;
}

/* The part of [p, p + n) inside the window [off, end) of out: from src, or
 * zeros when src is NULL. */
static void put(uint8_t *out, uint64_t off, uint64_t end, uint64_t p, const uint8_t *src,
		uint64_t n)
{
	uint64_t a = p > off ? p : off, b = p + n < end ? p + n : end;
	if (a >= b)
		return;
	if (src)
		memcpy(out + (a - off), src + (a - p), (size_t)(b - a));
	else
		memset(out + (a - off), 0, (size_t)(b - a));
}

/* Where element j * step starts in the layout. */
static uint64_t mark_at(const ckpt__strings_index *x, unsigned hdr, uint64_t width, size_t j)
{
	uint64_t k = (uint64_t)j * x->step;
	return width ? k * (hdr + width) : k * hdr + x->marks[j].body;
}

int ckpt__strings_read(const ckpt_reader *r, const ckpt__strings_index *x, unsigned hdr,
		       uint64_t width, uint64_t off, void *out, size_t len, ckpt_error *err)
{
	uint64_t end;
	if (len == 0)
		return 0;
	if (x->n_marks == 0 || ckpt__add_u64(off, len, &end))
		return ckpt__error(err, CKPT_ERANGE, "%s: read past the end of tensor %s", r->path,
				   r->t[x->tensor].name);
	/* the last mark at or before off */
	size_t lo = 0, hi = x->n_marks;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (mark_at(x, hdr, width, mid) <= off)
			lo = mid;
		else
			hi = mid;
	}
	struct walk w = {
	    r, x,	  (uint64_t)lo * x->step, x->marks[lo].body, NULL, x->marks[lo].varint, 0,
	    0, WALK_FIRST};
	struct batch b = {0};
	b.cap = len < BATCH_BYTES ? len : BATCH_BYTES;
	b.max = len < BATCH_ELEMS ? len : BATCH_ELEMS;
	w.buf = malloc(WALK_CHUNK + b.cap + b.max * (sizeof(*b.dst) + sizeof(*b.dlen)));
	if (w.buf == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", r->path);
	b.dst = (uint8_t **)(w.buf + WALK_CHUNK);
	b.dlen = (size_t *)(b.dst + b.max);
	b.tmp = (uint8_t *)(b.dlen + b.max);

	uint8_t *o = out;
	uint64_t pos = mark_at(x, hdr, width, lo);
	int rc = 0;
	while (rc == 0 && pos < end) {
		uint64_t l = 0, body = 0, esz;
		if ((rc = walk_next(&w, &l, &body, err)))
			break;
		if ((width && l > width) || ckpt__add_u64(hdr, width ? width : l, &esz) ||
		    ckpt__add_u64(pos, esz, &esz)) {
			rc = changed(&w, err);
			break;
		}
		if (esz > off) { /* esz is now where the element ends */
			uint8_t le[8];
			ckpt__store_le64(le, l);
			put(o, off, end, pos, le, hdr);
			uint64_t a = pos + hdr > off ? pos + hdr : off;
			uint64_t z = pos + hdr + l < end ? pos + hdr + l : end;
			if (a < z)
				rc = gather(r, x->tensor, &b,
					    x->h.data_start + body + (a - pos - hdr), o + (a - off),
					    (size_t)(z - a), err);
			if (width)
				put(o, off, end, pos + hdr + l, NULL, width - l);
		}
		pos = esz;
	}
	if (rc == 0)
		rc = flush(r, x->tensor, &b, err);
	free(w.buf);
	return rc;
}

int ckpt__strings_read_body(const ckpt_reader *r, const ckpt__strings_index *x, uint64_t off,
			    void *out, size_t len, ckpt_error *err)
{
	uint64_t end;
	if (ckpt__add_u64(off, len, &end) || end > x->h.size - x->h.data_start)
		return ckpt__error(err, CKPT_ERANGE, "%s: read past the end of tensor %s", r->path,
				   r->t[x->tensor].name);
	return len ? ckpt_reader_pread(r, x->tensor, 0, x->h.data_start + off, out, len, err) : 0;
}
