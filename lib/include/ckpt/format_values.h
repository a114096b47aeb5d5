/*
 * ckpt/format_values.h - tensor values as NumPy prints them.
 *
 * ckpt_format_array() is str() of a numpy array (print(array)), which for
 * an array of rank >= 1 is numpy.array2string with its defaults: arrays of
 * more than CKPT_FORMAT_THRESHOLD elements summarized with "..." and
 * CKPT_FORMAT_EDGEITEMS items at each end of every longer axis, lines
 * wrapped at CKPT_FORMAT_LINEWIDTH, floats in NumPy's "maxprec" mode with
 * CKPT_FORMAT_PRECISION digits (the shortest digits that round-trip in the
 * value's own type, cut at 8 past the point; scientific notation with a
 * common exponent width when the magnitudes call for it; "1." style). A
 * rank-0 array prints as its scalar does (str(numpy.float32(1)) is "1.0").
 * The reference is NumPy 1.24 (Debian 12's python3-numpy); the tests compare
 * with it.
 *
 * Types as NumPy has them: bool, the integers (quantized types as their
 * integer type), float16, float32, float64, complex64, complex128, and
 * strings as the bytes objects TensorFlow returns (b'...'). NumPy has no
 * bfloat16: its values print as float32 (numpy.array(values, float32)).
 *
 * Nothing here prints: output goes to a writer callback or a buffer.
 * Thread-safety: every function is stateless.
 */
#ifndef CKPT_FORMAT_VALUES_H
#define CKPT_FORMAT_VALUES_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/dtype.h"
#include "ckpt/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CKPT_FORMAT_THRESHOLD 1000
#define CKPT_FORMAT_EDGEITEMS 3
#define CKPT_FORMAT_LINEWIDTH 75
#define CKPT_FORMAT_PRECISION 8

/* Receives the next n bytes of output; returns 0, or a negative CKPT_E*
 * code that stops the formatting and is returned by it. */
typedef int (*ckpt_write_fn)(void *ctx, const char *s, size_t n);

/* One string element (its bytes, which need not be text). */
typedef struct ckpt_format_bytes {
	const void *p;
	size_t len;
} ckpt_format_bytes;

/*
 * The elements NumPy shows of an array of shape dims[0..rank): all of them
 * when there are at most CKPT_FORMAT_THRESHOLD, else, along each axis longer
 * than 2 * CKPT_FORMAT_EDGEITEMS, only the first and last EDGEITEMS. Fills
 * shown[0..rank) with the shown length of each axis, *count with their
 * product (UINT64_MAX if it overflows) and returns 1 when summarized, 0 when
 * not. dims must be >= 0.
 */
int ckpt_format_shown(int rank, const int64_t *dims, int64_t *shown, uint64_t *count);

/*
 * Non-zero when ckpt_format_array() can print elements of dtype dt: bool,
 * integer, quantized, floating, complex and string dtypes.
 */
int ckpt_format_supported(ckpt_dtype dt);

/*
 * str() of a numpy array of dtype dt and shape dims[0..rank), written to
 * write(ctx, ...) in pieces, without a final newline. `values` holds the
 * shown elements (ckpt_format_shown) in row-major order: for a numeric
 * dtype as stored in a checkpoint (little-endian, ckpt_dtype_size(dt) bytes
 * each), for CKPT_DT_STRING an array of ckpt_format_bytes. An array with no
 * elements is "[]". Returns 0, what write returned, CKPT_EUNSUPPORTED for a
 * dtype without a NumPy form, or CKPT_ENOMEM.
 * Ownership: nothing is kept; the caller owns values.
 */
int ckpt_format_array(ckpt_dtype dt, int rank, const int64_t *dims, const void *values,
		      ckpt_write_fn write, void *ctx, ckpt_error *err);

/*
 * str() of one numpy scalar of numeric dtype dt (value as stored, see
 * ckpt_format_array): "1.0", "1e+20", "nan", "-3", "True", "(1+2j)". The
 * text, NUL-terminated, goes to buf (at most size bytes; 64 always suffice).
 * Returns its length (without the NUL), or 0 for a dtype that is not
 * numeric.
 */
size_t ckpt_format_scalar(ckpt_dtype dt, const void *value, char *buf, size_t size);

/* str(numpy.float64(x)), as ckpt_format_scalar. */
size_t ckpt_format_double(double x, char *buf, size_t size);

#ifdef __cplusplus
}
#endif
#endif
