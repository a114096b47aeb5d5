/*
 * --verify read: what a server of the view's files (fs/ops.c) may answer.
 *
 * A cache in front of the server (the kernel's page cache) keeps what it
 * was served and answers later reads, mmaps and other handles by itself,
 * so what one handle was served says nothing; but every byte a reader
 * gets was once in a reply. So each file keeps a map of the units (4 KiB
 * or more) it has ever served, and once the map is full every reply waits
 * for the file's stored pieces to pass their checksum: no reader gets the
 * whole file unless they did. A file drawing from a failed piece fails
 * every later open and reply.
 *
 * That check must not cost a reader reading the file front to back: once
 * a file has more than one reply, its pieces gather their CRC from the
 * bytes read for it (verify.c) and, once it is read in sequence and is
 * one local piece (whose replies may never pass through us: spliced),
 * the helper thread reads ahead of the reader (ahead.c); the last reply
 * waits only for what is left.
 */
#include "view/view_int.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "util/error_int.h"

/* Largest map of served units per file: 32768 bits, 4 KiB. */
#define COVER_MAX_UNITS (1u << 15)
/* A read within this of where the last one ended continues a sequence
 * (FUSE answers a reader's requests from several threads, a little out of
 * order). */
#define SEQ_NEAR ((uint64_t)1 << 20)
/* Bytes read in sequence before the helper reads ahead. */
#define SEQ_START ((uint64_t)512 << 10)

enum { AHEAD_UNKNOWN, AHEAD_BUSY /* being found out */, AHEAD_NONE, AHEAD_PIECE };

/* The units of a file served at least once; a unit is 2^shift bytes. */
struct cover {
	_Atomic uint64_t done; /* units set */
	uint64_t units;
	unsigned shift;
	/* the sequence of reads: where the last one ended, bytes read in a row */
	_Atomic uint64_t next, run;
	/* AHEAD_*: the file is the whole of piece p of tensor t (hdr bytes of
	 * header, then each element of es source bytes is et file bytes);
	 * found out once, at the file's first reply that leaves some of it */
	_Atomic int ahead;
	size_t t, p;
	uint64_t hdr, es, et;
	_Atomic uint64_t bits[]; /* (units + 63) / 64 words */
};

int ckpt__view_serve_init(ckpt_view *v, ckpt_error *err)
{
	size_t n = v->count ? v->count : 1;
	if ((v->node_state = calloc(n, 1)) == NULL ||
	    (v->cover = calloc(n, sizeof(*v->cover))) == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	return 0;
}

void ckpt__view_serve_free(ckpt_view *v)
{
	for (size_t id = 0; v->cover && id < v->count; id++)
		free(atomic_load(&v->cover[id]));
	free(v->cover);
	free((void *)v->node_state);
}

/*
 * Ownership: the map lives until ckpt_view_free. NULL when there is no
 * memory for it.
 */
static struct cover *cover_of(const ckpt_view *v, uint32_t id, uint64_t size)
{
	struct cover *cv = atomic_load(&v->cover[id]);
	if (cv != NULL)
		return cv;
	unsigned shift = 12;
	while ((size - 1) >> shift >= COVER_MAX_UNITS)
		shift++;
	uint64_t units = ((size - 1) >> shift) + 1;
	struct cover *made = calloc(1, sizeof(*made) + (units + 63) / 64 * sizeof(uint64_t));
	if (made == NULL)
		return NULL;
	made->units = units;
	made->shift = shift;
	if (atomic_compare_exchange_strong(&v->cover[id], &cv, made))
		return made;
	free(made); /* another thread's map is in cv */
	return cv;
}

/* Note bytes [off, off + len) of the file as served (len > 0, within the
 * file): 1 once every unit has been served at least once. */
static int cover_add(struct cover *cv, uint64_t off, size_t len)
{
	uint64_t first = off >> cv->shift, last = (off + len - 1) >> cv->shift;
	for (uint64_t w = first / 64; w <= last / 64; w++) {
		unsigned lo = first > w * 64 ? (unsigned)(first - w * 64) : 0;
		unsigned hi = last < w * 64 + 63 ? (unsigned)(last - w * 64) : 63;
		uint64_t mask = (hi == 63 ? ~0ull : (1ull << (hi + 1)) - 1) & ~((1ull << lo) - 1);
		uint64_t before = atomic_fetch_or(&cv->bits[w], mask);
		uint64_t added = (uint64_t)__builtin_popcountll(mask & ~before);
		if (added)
			atomic_fetch_add(&cv->done, added);
	}
	return atomic_load(&cv->done) == cv->units;
}

/* Whether the file of node nd is the whole of one stored piece in a local
 * file: then its reader's position maps to the piece's, and the helper
 * thread may read ahead of it (never over a network: the reader's own
 * bytes give the CRC there, each fetched once). */
static void find_piece(const ckpt_view *v, const ckpt_node *nd, struct cover *cv)
{
	const ckpt_plan_file *f = nd->file;
	const ckpt_tensor *t = ckpt_reader_tensor(v->r, f->source);
	int kind = AHEAD_NONE;
	size_t es = ckpt_dtype_size(f->source_dtype), et = ckpt_dtype_size(f->dtype);
	for (size_t p = 0; es && et && f->size_known && f->size <= nd->size && p < t->num_pieces &&
			   kind == AHEAD_NONE;
	     p++) {
		const ckpt_piece *pc = ckpt_reader_piece(v->r, f->source, p);
		int same = 1;
		for (int d = 0; d < f->rank && same; d++)
			same = pc->start[d] == f->start[d] && pc->length[d] == f->length[d];
		ckpt_object *o;
		uint64_t base;
		if (!same || !ckpt_reader_piece_object(v->r, f->source, p, &o, &base) ||
		    !ckpt_object_is_local(o))
			continue;
		cv->t = f->source;
		cv->p = p;
		cv->hdr = nd->size - f->size;
		cv->es = es;
		cv->et = et;
		kind = AHEAD_PIECE;
	}
	atomic_store(&cv->ahead, kind);
}

/* A reply of [off, off + len) is going out, not the file's last: from now
 * on its pieces gather their CRC from the bytes read for it, and once it
 * is read in sequence the helper reads ahead of it. */
static void note_sequence(const ckpt_view *v, uint32_t id, const ckpt_node *nd, struct cover *cv,
			  uint64_t off, size_t len)
{
	int kind = AHEAD_UNKNOWN;
	if (nd->file != NULL && atomic_compare_exchange_strong(&cv->ahead, &kind, AHEAD_BUSY)) {
		ckpt__view_gather_crc(v, id); /* at the first reply that leaves some of the file */
		find_piece(v, nd, cv);
	}
	uint64_t prev = atomic_exchange(&cv->next, off + len), run = len;
	if (off <= prev + SEQ_NEAR && off + len + SEQ_NEAR >= prev)
		run = atomic_fetch_add(&cv->run, len) + len;
	else
		atomic_store(&cv->run, len);
	if (run < SEQ_START || atomic_load(&cv->ahead) != AHEAD_PIECE)
		return;
	struct piece_sums *s = ckpt__view_sums(v, cv->t, cv->p, 0);
	uint64_t end = off + len > cv->hdr ? off + len - cv->hdr : 0;
	if (s != NULL)
		ckpt__view_ahead(v, cv->t, cv->p, s, end / cv->et * cv->es);
}

/* The error of a file whose sources failed their checksum. */
static int failed_before(const ckpt_node *n, ckpt_error *err)
{
	return ckpt__error(err, CKPT_ECHECKSUM,
			   "tensor %s failed its checksum earlier in this mount",
			   n->file ? n->file->source_name : "(of the data file)");
}

/* NODE_* of node id, from what the checks found so far (reading nothing). */
static int node_state(const ckpt_view *v, uint32_t id)
{
	_Atomic unsigned char *st = &v->node_state[id];
	unsigned char s = atomic_load(st);
	if (s != NODE_UNKNOWN)
		return s;
	int found = ckpt_view_verified(v, id);
	if (found != 0)
		atomic_compare_exchange_strong(st, &s, found > 0 ? NODE_GOOD : NODE_BAD);
	return atomic_load(st);
}

int ckpt_view_may_open(const ckpt_view *v, uint32_t id, ckpt_error *err)
{
	const ckpt_node *nd = ckpt_view_node(v, id);
	if (nd == NULL || nd->is_dir)
		return 0;
	return node_state(v, id) >= NODE_BAD ? failed_before(nd, err) : 0;
}

int ckpt_view_may_serve(const ckpt_view *v, uint32_t id, uint64_t off, size_t len, ckpt_error *err)
{
	const ckpt_node *nd = ckpt_view_node(v, id);
	if (nd == NULL || nd->is_dir || len == 0 || off >= nd->size)
		return 0;
	if (len > nd->size - off)
		len = (size_t)(nd->size - off);
	_Atomic unsigned char *st = &v->node_state[id];
	unsigned char s = atomic_load(st);
	/* after any failure in this view, a file may draw from the failed piece */
	if (s == NODE_UNKNOWN && atomic_load(&v->fails->failed) > 0)
		s = (unsigned char)node_state(v, id);
	if (s == NODE_GOOD)
		return 0;
	if (s != NODE_UNKNOWN)
		return failed_before(nd, err);
	struct cover *cv = cover_of(v, id, nd->size);
	if (cv != NULL && !cover_add(cv, off, len)) {
		note_sequence(v, id, nd, cv, off, len);
		return 0;
	}
	/* every unit served (or no memory for the map): check now */
	int rc = ckpt_view_verify(v, id, err);
	if (rc == 0)
		atomic_compare_exchange_strong(st, &s, NODE_GOOD);
	else if (ckpt_view_verified(v, id) < 0)
		atomic_compare_exchange_strong(st, &s, NODE_BAD);
	return rc;
}

uint32_t ckpt_view_next_failed(const ckpt_view *v, uint32_t from)
{
	unsigned failures = atomic_load(&v->fails->failed);
	if (from == 0 && atomic_load(&v->fails->seen) == failures)
		return CKPT_VIEW_NONE; /* nothing failed since the last scan */
	for (uint32_t id = from; id < v->count; id++) {
		_Atomic unsigned char *st = &v->node_state[id];
		unsigned char s = NODE_BAD;
		if (atomic_load(st) == NODE_UNKNOWN)
			(void)node_state(v, id);
		if (atomic_compare_exchange_strong(st, &s, NODE_BAD_TAKEN))
			return id;
	}
	/* every file failed so far is taken; later failures scan again */
	unsigned seen = atomic_load(&v->fails->seen);
	while (seen < failures && !atomic_compare_exchange_weak(&v->fails->seen, &seen, failures))
		;
	return CKPT_VIEW_NONE;
}
