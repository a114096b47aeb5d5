/*
 * ckpt/convert.h - element-wise dtype conversion with tf.cast semantics,
 * used on the read path to re-type tensor bytes.
 *
 * Input and output are little-endian element arrays exactly as they are
 * stored in checkpoint data files. The rules (rounding, NaN bit patterns,
 * saturation where TensorFlow leaves the result undefined) are listed at
 * the top of src/convert.c and in the README.
 *
 * Thread-safety: every function here is stateless and may be called from
 * any number of threads at once.
 */
#ifndef CKPT_CONVERT_H
#define CKPT_CONVERT_H

#include <stddef.h>

#include "ckpt/dtype.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A conversion kernel: converts n elements from `in` to `out`. Neither
 * pointer needs to be aligned; the two buffers must not overlap. `in` holds
 * n * ckpt_dtype_size(src) bytes and `out` n * ckpt_dtype_size(dst) bytes
 * (n bytes each for string -> string, see ckpt_convert()).
 */
typedef void (*ckpt_convert_fn)(const void *in, void *out, size_t n);

/*
 * Non-zero if elements of dtype `src` can be converted to dtype `dst`:
 * every pair of numeric dtypes (bool, integers, quantized integers,
 * float16, bfloat16, float32, float64, complex64, complex128) and
 * string -> string. 0 for anything else (string <-> numeric, resource,
 * variant, invalid or unknown values).
 * Ownership: nothing is allocated.
 */
int ckpt_convert_supported(ckpt_dtype src, ckpt_dtype dst);

/*
 * The kernel converting `src` to `dst`, or NULL when the pair is not
 * supported. Resolve it once (for instance when a file is opened) and call
 * it for every read; it picks the fastest implementation the CPU offers,
 * and every implementation gives the same bytes.
 * Ownership: the returned function is static; nothing to release.
 */
ckpt_convert_fn ckpt_convert_get(ckpt_dtype src, ckpt_dtype dst);

/*
 * Convert n elements of `src` at `in` into n elements of `dst` at `out`
 * (unaligned, non-overlapping buffers; see ckpt_convert_fn). A same-dtype
 * pair copies the bytes unchanged. For string -> string the encoded bytes
 * pass through unchanged and n counts bytes.
 * Returns 0, or CKPT_EUNSUPPORTED (nothing written) when
 * ckpt_convert_supported(src, dst) is 0.
 * Ownership: nothing is allocated; the caller owns both buffers.
 */
int ckpt_convert(ckpt_dtype src, ckpt_dtype dst, const void *in, void *out, size_t n);

#ifdef __cplusplus
}
#endif
#endif
