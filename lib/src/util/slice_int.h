/*
 * Internal: boxes (slices) of row-major tensors.
 */
#ifndef CKPT_SLICE_INT_H
#define CKPT_SLICE_INT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Intersect box A (a_start, a_len) with box B; on overlap fill out_start,
 * out_len and return the element count, else return 0. Rank `rank`.
 */
uint64_t ckpt__box_intersect(int rank, const int64_t *a_start, const int64_t *a_len,
			     const int64_t *b_start, const int64_t *b_len, int64_t *out_start,
			     int64_t *out_len);

/*
 * Copy the box (start, len) — which must lie inside both — from a
 * row-major array whose box is (src_start, src_len) into a row-major array
 * whose box is (dst_start, dst_len). Elements are `esize` bytes.
 */
void ckpt__box_copy(int rank, size_t esize, const int64_t *start, const int64_t *len,
		    const void *src, const int64_t *src_start, const int64_t *src_len, void *dst,
		    const int64_t *dst_start, const int64_t *dst_len);

/* Format `d0 d1 ... s0,l0:s1,l1` (TF's shape_and_slice text) or, when
 * dims is NULL, just the slice part. Truncates to n bytes. */
void ckpt__slice_text(char *out, size_t n, int rank, const int64_t *dims, const int64_t *start,
		      const int64_t *len);

#endif
