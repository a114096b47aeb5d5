/*
 * Internal: TensorFlow's OrderedCode primitives and the slice keys built
 * from them (EncodeTensorNameSlice / DecodeTensorNameSlice in
 * tensorflow/core/util/saved_tensor_slice_util.cc), following
 * spec/slices_and_partitions.md §2.
 *
 * Key = WriteNumIncreasing(0) WriteString(name) WriteNumIncreasing(rank)
 *       then per dimension WriteSignedNumIncreasing(start),
 *       WriteSignedNumIncreasing(length); a full dimension is start 0,
 *       length -1 (CKPT__SLICE_FULL).
 */
#ifndef CKPT_SLICEKEY_INT_H
#define CKPT_SLICEKEY_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/error.h"
#include "util/codec_int.h"

/* TF's kFullExtent: the length of a dimension taken whole. */
#define CKPT__SLICE_FULL (-1)

/* ---- OrderedCode primitives ---- */

/* Append the encodings; each returns 0 or CKPT_ENOMEM. */
int ckpt__oc_put_num_increasing(ckpt__buf *out, uint64_t v);
int ckpt__oc_put_signed_num_increasing(ckpt__buf *out, int64_t v);
int ckpt__oc_put_string(ckpt__buf *out, const void *s, size_t n);

/*
 * Decoders: consume one item from [*pp, end) and advance *pp. They return
 * 0, or -1 for truncated or malformed input (then *pp is unchanged).
 * ckpt__oc_get_string appends the decoded bytes to out (-2: CKPT_ENOMEM).
 * Like TF's release build, non-minimal encodings are accepted.
 */
int ckpt__oc_get_num_increasing(const uint8_t **pp, const uint8_t *end, uint64_t *out);
int ckpt__oc_get_signed_num_increasing(const uint8_t **pp, const uint8_t *end, int64_t *out);
int ckpt__oc_get_string(const uint8_t **pp, const uint8_t *end, ckpt__buf *out);

/* ---- Slice keys ---- */

/*
 * Append EncodeTensorNameSlice(name, slice) to out. rank >= 0 (rank 0 is
 * what V1 files hold for scalars); start/length have rank entries (may be
 * NULL when rank is 0); pass length CKPT__SLICE_FULL (and start 0) for a
 * full dimension. No other checks: TF's encoder has none.
 * Returns 0, CKPT_EINVAL (rank < 0, NULL arrays) or CKPT_ENOMEM.
 * Ownership: out stays the caller's.
 */
int ckpt__slicekey_encode(ckpt__buf *out, const char *name, size_t name_len, int rank,
			  const int64_t *start, const int64_t *length);

/*
 * DecodeTensorNameSlice with TF's checks: leading number 0, rank > 0 and
 * < 2^31-1, every start/length decodable. A decoded length < 0 makes that
 * dimension full (start 0, length CKPT__SLICE_FULL), as TF does. Bytes
 * after the last dimension are ignored, as TF does.
 *
 * The decoded name (escapes removed, so it may differ from the key's
 * bytes) is appended to name_out, followed by a NUL that is not counted in
 * name_out->len. start_out/length_out receive *rank_out entries and must
 * hold max_rank; a larger rank fails with CKPT_EUNSUPPORTED.
 * Returns 0, CKPT_ECORRUPT (TF's message), CKPT_EUNSUPPORTED or
 * CKPT_ENOMEM; on failure the outputs are unspecified.
 * Ownership: name_out stays the caller's (free it with ckpt__buf_free).
 */
int ckpt__slicekey_decode(const uint8_t *key, size_t len, ckpt__buf *name_out, int *rank_out,
			  int64_t *start_out, int64_t *length_out, int max_rank, ckpt_error *err);

#endif
