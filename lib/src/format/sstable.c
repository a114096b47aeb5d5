/*
 * The table format (shared/spec/index_sstable.md):
 *
 *   [data block][trailer] ... [metaindex block][trailer]
 *   [index block][trailer] [footer: 48 bytes]
 *
 * trailer = 1 type byte (0 raw, 1 snappy) + masked CRC-32C (LE) of the
 * stored block bytes and the type byte. footer = metaindex handle, index
 * handle (varint64 offset, varint64 size each), zero padding to 40 bytes,
 * magic 0xdb4775248b80fb57 (LE). A block is
 *
 *   entry* restart[n] (fixed32) n (fixed32)
 *   entry = varint32 shared, varint32 non_shared, varint32 value_len,
 *           key delta, value
 *
 * The index block has one entry per data block whose value is that block's
 * handle. We walk the index in order and every data block in full, so the
 * metaindex (always empty in TF files) is never read.
 */
#include "format/sstable_int.h"

#include <snappy-c.h>
#include <stdlib.h>
#include <string.h>

#include "util/codec_int.h"
#include "util/crc32c_int.h"
#include "util/error_int.h"

#define FOOTER_SIZE 48
#define TRAILER_SIZE 5
#define TABLE_MAGIC 0xdb4775248b80fb57ull
/* Largest uncompressed block we accept; TF blocks are ~256 KiB, a single
 * huge entry may make one bigger. */
#define MAX_BLOCK (1u << 30)

/* Fuzzing builds (-Dfuzz=true defines the macro libFuzzer users agree on)
 * let a bad block CRC through, so that mutations reach the parsers behind
 * it instead of all dying here. Never defined in a normal build. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define ENFORCE_BLOCK_CRC 0
#else
#define ENFORCE_BLOCK_CRC 1
#endif

struct walk {
	const uint8_t *data;
	size_t len;
	const char *fname;
	ckpt__sstable_fn fn;
	void *ctx;
	ckpt__buf prev_key;  /* last key seen in the table, for ordering */
	uint64_t key_bytes;  /* bytes of keys rebuilt so far ... */
	uint64_t key_budget; /* ... may not pass this: prefix compression lets
			      * a crafted table grow each key by one byte per
			      * entry, quadratic work in the file size */
	int have_prev;
	uint8_t *unz; /* snappy output, reused */
	size_t unz_cap;
};

static int get_handle(const uint8_t **p, const uint8_t *end, uint64_t *off, uint64_t *size)
{
	return ckpt__get_varint64(p, end, off) || ckpt__get_varint64(p, end, size);
}

/* Fetch, check and (if needed) decompress the block at handle. */
static int read_block(struct walk *w, uint64_t off, uint64_t size, const uint8_t **out,
		      size_t *out_len, ckpt_error *err)
{
	uint64_t end;

	if (ckpt__add_u64(off, size, &end) || ckpt__add_u64(end, TRAILER_SIZE, &end) ||
	    end > w->len - FOOTER_SIZE)
		return ckpt__error(err, CKPT_ECORRUPT,
				   "%s@%llu: truncated block read: block of %llu bytes runs past "
				   "the table end (%zu bytes)",
				   w->fname, (unsigned long long)off, (unsigned long long)size,
				   w->len);
	const uint8_t *b = w->data + off;
	uint8_t type = b[size];
	uint32_t stored = ckpt__load_le32(b + size + 1);
	uint32_t crc = ckpt__crc32c_extend(ckpt__crc32c_extend(0, b, size), &type, 1);
	if (ckpt__crc32c_unmask(stored) != crc && ENFORCE_BLOCK_CRC)
		return ckpt__error(
		    err, CKPT_ECHECKSUM,
		    "%s@%llu: block checksum mismatch: stored 0x%08x, computed 0x%08x", w->fname,
		    (unsigned long long)off, ckpt__crc32c_unmask(stored), crc);
	if (type == 0) {
		*out = b;
		*out_len = size;
		return 0;
	}
	if (type != 1)
		return ckpt__error(err, CKPT_ECORRUPT, "%s@%llu: bad block type %u", w->fname,
				   (unsigned long long)off, type);
	size_t ulen;
	if (snappy_uncompressed_length((const char *)b, size, &ulen) != SNAPPY_OK ||
	    ulen > MAX_BLOCK || ulen / 32 > size + 2)
		return ckpt__error(
		    err, CKPT_ECORRUPT,
		    "%s@%llu: corrupted compressed block contents (bad snappy length)", w->fname,
		    (unsigned long long)off);
	/* also when ulen is 0: callers get a non-NULL block (memcpy'd later) */
	if (ulen > w->unz_cap || w->unz == NULL) {
		uint8_t *n = realloc(w->unz, ulen ? ulen : 1);
		if (n == NULL)
			return ckpt__error(err, CKPT_ENOMEM,
					   "%s@%llu: out of memory for a %zu-byte block", w->fname,
					   (unsigned long long)off, ulen);
		w->unz = n;
		w->unz_cap = ulen;
	}
	size_t got = ulen;
	if (snappy_uncompress((const char *)b, size, (char *)w->unz, &got) != SNAPPY_OK ||
	    got != ulen)
		return ckpt__error(err, CKPT_ECORRUPT,
				   "%s@%llu: corrupted compressed block contents", w->fname,
				   (unsigned long long)off);
	*out = w->unz;
	*out_len = ulen;
	return 0;
}

/* Cursor over the entries of one block; owns the key it rebuilds. */
struct block_iter {
	const uint8_t *blk, *p, *end;
	uint64_t off; /* block's offset in the file, for messages */
	ckpt__buf key;
};

static int block_iter_init(struct walk *w, struct block_iter *it, uint64_t off, const uint8_t *blk,
			   size_t n, ckpt_error *err)
{
	memset(it, 0, sizeof(*it));
	if (n < 4)
		return ckpt__error(err, CKPT_ECORRUPT,
				   "%s@%llu: bad block contents: %zu bytes is too short", w->fname,
				   (unsigned long long)off, n);
	uint32_t nrestarts = ckpt__load_le32(blk + n - 4);
	if (nrestarts > (n - 4) / 4)
		return ckpt__error(
		    err, CKPT_ECORRUPT,
		    "%s@%llu: bad block contents: %u restarts do not fit in %zu bytes", w->fname,
		    (unsigned long long)off, nrestarts, n);
	it->blk = it->p = blk;
	it->end = blk + (n - 4 - (size_t)nrestarts * 4);
	it->off = off;
	return 0;
}

/* Next entry: 1 with *val set, 0 at the end, or a negative code. */
static int block_iter_next(struct walk *w, struct block_iter *it, const uint8_t **val, size_t *vlen,
			   ckpt_error *err)
{
	uint32_t shared, nonshared, vl;
	const uint8_t *p = it->p, *end = it->end;
	size_t at = (size_t)(p - it->blk);

	if (p >= end)
		return 0;
	if (ckpt__get_varint32(&p, end, &shared) || ckpt__get_varint32(&p, end, &nonshared) ||
	    ckpt__get_varint32(&p, end, &vl) || shared > it->key.len ||
	    nonshared > (size_t)(end - p) || vl > (size_t)(end - p) - nonshared)
		return ckpt__error(err, CKPT_ECORRUPT, "%s@%llu: bad entry in block at byte %zu",
				   w->fname, (unsigned long long)it->off, at);
	it->key.len = shared;
	w->key_bytes += (uint64_t)shared + nonshared;
	if (w->key_bytes > w->key_budget)
		return ckpt__error(
		    err, CKPT_ECORRUPT,
		    "%s@%llu: keys expand to more than %llu bytes (64 times the file) at byte %zu",
		    w->fname, (unsigned long long)it->off, (unsigned long long)w->key_budget, at);
	if (ckpt__buf_append(&it->key, p, nonshared))
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", w->fname);
	*val = p + nonshared;
	*vlen = vl;
	it->p = p + nonshared + vl;
	return 1;
}

/* Hand every entry of one data block to the user, checking key order. */
static int walk_data(struct walk *w, uint64_t off, const uint8_t *blk, size_t n, ckpt_error *err)
{
	struct block_iter it;
	const uint8_t *val;
	size_t vlen;
	int rc = block_iter_init(w, &it, off, blk, n, err);

	while (rc == 0 && (rc = block_iter_next(w, &it, &val, &vlen, err)) == 1) {
		const ckpt__buf *k = &it.key;
		if (w->have_prev) {
			size_t m = w->prev_key.len < k->len ? w->prev_key.len : k->len;
			int c = m ? memcmp(w->prev_key.data, k->data, m) : 0;
			if (c > 0 || (c == 0 && w->prev_key.len >= k->len)) {
				rc = ckpt__error(
				    err, CKPT_ECORRUPT,
				    "%s@%llu: keys out of order at byte %zu of the block", w->fname,
				    (unsigned long long)off, (size_t)(val - blk));
				break;
			}
		}
		w->prev_key.len = 0;
		if (ckpt__buf_append(&w->prev_key, k->data, k->len)) {
			rc = ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", w->fname);
			break;
		}
		w->have_prev = 1;
		rc = w->fn(w->ctx, k->data, k->len, val, vlen, err);
	}
	ckpt__buf_free(&it.key);
	return rc;
}

static int walk_index(struct walk *w, uint64_t off, const uint8_t *blk, size_t n, ckpt_error *err)
{
	struct block_iter it;
	const uint8_t *val;
	size_t vlen;
	uint64_t next_free = 0; /* data blocks must not overlap or go back */
	int rc = block_iter_init(w, &it, off, blk, n, err);

	while (rc == 0 && (rc = block_iter_next(w, &it, &val, &vlen, err)) == 1) {
		const uint8_t *h = val;
		uint64_t boff, bsize;
		const uint8_t *db;
		size_t dlen;
		if (get_handle(&h, val + vlen, &boff, &bsize)) {
			rc = ckpt__error(err, CKPT_ECORRUPT,
					 "%s@%llu: bad block handle in index entry at byte %zu",
					 w->fname, (unsigned long long)off, (size_t)(val - blk));
			break;
		}
		if (boff < next_free) {
			rc = ckpt__error(err, CKPT_ECORRUPT,
					 "%s@%llu: index entry points back to offset %llu (data "
					 "blocks must not overlap)",
					 w->fname, (unsigned long long)off,
					 (unsigned long long)boff);
			break;
		}
		rc = read_block(w, boff, bsize, &db, &dlen, err);
		if (rc == 0) {
			next_free = boff + bsize + TRAILER_SIZE;
			rc = walk_data(w, boff, db, dlen, err);
		}
	}
	ckpt__buf_free(&it.key);
	return rc;
}

int ckpt__sstable_foreach(const uint8_t *data, size_t len, const char *fname, ckpt__sstable_fn fn,
			  void *ctx, ckpt_error *err)
{
	if (len < FOOTER_SIZE)
		return ckpt__error(err, CKPT_ECORRUPT,
				   "%s@0: file is too short to be an sstable (%zu bytes)", fname,
				   len);
	const uint8_t *foot = data + len - FOOTER_SIZE;
	if (ckpt__load_le64(foot + 40) != TABLE_MAGIC)
		return ckpt__error(err, CKPT_ECORRUPT, "%s@%zu: not an sstable (bad magic number)",
				   fname, len - 8);
	const uint8_t *p = foot;
	uint64_t moff, msize, ioff, isize;
	if (get_handle(&p, foot + 40, &moff, &msize) || get_handle(&p, foot + 40, &ioff, &isize))
		return ckpt__error(err, CKPT_ECORRUPT, "%s@%zu: bad block handle in footer", fname,
				   len - FOOTER_SIZE);

	struct walk w = {.data = data,
			 .len = len,
			 .fname = fname,
			 .fn = fn,
			 .ctx = ctx,
			 .key_budget = (uint64_t)len * 64 + (1u << 20)};
	const uint8_t *ib;
	size_t ilen;
	int rc = read_block(&w, ioff, isize, &ib, &ilen, err);
	uint8_t *icopy = NULL;
	if (rc == 0 && ib == w.unz) {
		/* keep the index block apart from data-block decompression */
		icopy = malloc(ilen ? ilen : 1);
		if (icopy == NULL)
			rc = ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", fname);
		else
			ib = memcpy(icopy, ib, ilen);
	}
	if (rc == 0)
		rc = walk_index(&w, ioff, ib, ilen, err);
	free(icopy);
	free(w.unz);
	ckpt__buf_free(&w.prev_key);
	return rc;
}
