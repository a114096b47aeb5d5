/*
 * Internal: string tensors (spec/bundle.md "DT_STRING") read without
 * holding them whole. The element lengths (varints at the start of the
 * stored bytes, then a masked CRC32C of the lengths) are parsed once into
 * a sparse index: the varint and body offset of every step-th element.
 * A byte range of a file laid out from the elements is then served by a
 * binary search over the index, a short walk over the varints from there,
 * and preads of just the element bytes the range needs.
 */
#ifndef CKPT_STRINGS_INT_H
#define CKPT_STRINGS_INT_H

#include "ckpt/reader.h"

/* Most index marks per tensor: the step grows with the element count so
 * that an index never exceeds this many marks (16 bytes each). */
#define CKPT__STRINGS_MAX_MARKS 16384
/* String tensors whose index a cache keeps (least recently used go). */
#define CKPT__STRINGS_CACHED 16

/* What parsing a string tensor's lengths found. */
typedef struct ckpt__strings_head {
	uint64_t n;	     /* elements */
	uint64_t size;	     /* stored bytes of the tensor */
	uint64_t data_start; /* where element 0's bytes start: after the
			      * varints and the 4 checksum bytes */
	uint64_t longest;    /* longest element */
	uint32_t lcrc;	     /* CRC32C of the lengths (checked) */
	uint8_t sum[4];	     /* the 4 checksum bytes, as stored */
} ckpt__strings_head;

/* Read-only once built; shared between threads through the cache. */
typedef struct ckpt__strings_index {
	ckpt__strings_head h;
	size_t tensor;
	uint64_t step; /* mark j is element j * step */
	size_t n_marks;
	struct ckpt__strings_mark {
		uint64_t varint; /* offset of the element's varint in the tensor */
		uint64_t body;	 /* sum of the lengths before it */
	} * marks;
	unsigned refs; /* holders: the cache and each reader (cache lock) */
} ckpt__strings_index;

/*
 * Parse the lengths of string tensor i (one piece, the whole tensor) in
 * chunks: every varint bounded by the stored size, the sum of the lengths
 * equal to the bytes after the checksum, the length checksum checked
 * (TF's messages). Fills *h. Reads about as many bytes as the varints.
 */
int ckpt__strings_parse(const ckpt_reader *r, size_t i, ckpt__strings_head *h, ckpt_error *err);

/*
 * As ckpt__strings_parse, calling fn(ctx, k, len, varint, body) for each
 * element k in order: its length, the offset of its varint in the tensor
 * and the sum of the lengths before it (its bytes start at h->data_start +
 * body once the parse has returned). A non-zero return of fn stops the
 * parse and is returned.
 */
typedef int (*ckpt__strings_len_fn)(void *ctx, uint64_t k, uint64_t len, uint64_t varint,
				    uint64_t body);
int ckpt__strings_each(const ckpt_reader *r, size_t i, ckpt__strings_len_fn fn, void *ctx,
		       ckpt__strings_head *h, ckpt_error *err);

/* Parse the lengths, then check the entry CRC over the string bytes in
 * 1 MiB steps (never holding the tensor). TF's message on a mismatch. */
int ckpt__strings_verify(const ckpt_reader *r, size_t i, ckpt_error *err);

typedef struct ckpt__strings_cache ckpt__strings_cache;

/* Ownership: the caller frees the cache with ckpt__strings_cache_free();
 * NULL on ENOMEM. */
ckpt__strings_cache *ckpt__strings_cache_new(void);
/* Frees the cache and every index it holds (none may be in use). */
void ckpt__strings_cache_free(ckpt__strings_cache *c);

/*
 * The index of string tensor i, built on first use (once, whichever thread
 * asks first; the others wait), kept until CKPT__STRINGS_CACHED other
 * tensors were used since. A failed build is not kept: the next call
 * tries again. Thread-safe. Ownership: the caller hands *out back with
 * ckpt__strings_put().
 */
int ckpt__strings_get(ckpt__strings_cache *c, const ckpt_reader *r, size_t i,
		      const ckpt__strings_index **out, ckpt_error *err);
void ckpt__strings_put(ckpt__strings_cache *c, const ckpt__strings_index *x);

/*
 * Bytes [off, off+len) of the elements laid out one after another, each as
 * `hdr` bytes (0, or 8: its length as uint64 little-endian), its bytes,
 * then NUL bytes up to `width` bytes of data (0: no padding; else every
 * element must fit). The range must lie inside the layout; an element that
 * disagrees with the index (the file changed) is CKPT_ECORRUPT.
 */
int ckpt__strings_read(const ckpt_reader *r, const ckpt__strings_index *x, unsigned hdr,
		       uint64_t width, uint64_t off, void *out, size_t len, ckpt_error *err);

/* Bytes [off, off+len) of the string bytes back to back (after the
 * lengths and their checksum), as stored. */
int ckpt__strings_read_body(const ckpt_reader *r, const ckpt__strings_index *x, uint64_t off,
			    void *out, size_t len, ckpt_error *err);

#endif
