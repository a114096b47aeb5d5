/*
 * ckpt/inspect.h - a tensor's statistics and its values as NumPy prints
 * them, read through the reader (ckpt/reader.h): `ckptfs --list --stats`
 * and `ckptfs --show NAME`.
 *
 * Both read only the tensor asked for, through ckpt_reader_pread, in
 * bounded chunks: the index was all that opening the reader read, and a
 * data shard is opened when a tensor needs it. A partitioned tensor (saved
 * in slices) is the whole tensor assembled from its pieces.
 * Thread-safety: as the reader; nothing here keeps state.
 */
#ifndef CKPT_INSPECT_H
#define CKPT_INSPECT_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/format_values.h"
#include "ckpt/reader.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Called after each chunk a tensor's statistics read: bytes of the tensor
 * read so far and all its bytes (ckpt_inspect_stats_bytes). */
typedef void (*ckpt_progress_fn)(void *ctx, uint64_t done, uint64_t total);

typedef struct ckpt_inspect_opts {
	/* Check the stored CRC32C of every piece the values come from
	 * (CKPT_ECHECKSUM with TensorFlow's text when one does not match). */
	int verify;
	ckpt_progress_fn progress; /* statistics only; NULL: none */
	void *progress_ctx;
} ckpt_inspect_opts;

/*
 * Statistics of a numeric tensor. min, max and mean are over the elements
 * that are not NaN (as numpy.nanmin, nanmax, nanmean); the mean is summed
 * in double with Neumaier's compensation (so it is +-inf when an inf is
 * among the values or the sum passes the float64 range, NaN when both
 * infinities are). Complex numbers have no order: only their NaN and inf
 * counts (an element counts when either part is). bool's mean is the
 * fraction of true elements.
 */
typedef struct ckpt_stats {
	uint64_t count; /* elements */
	uint64_t nan;	/* NaN elements (floating and complex dtypes) */
	uint64_t inf;	/* +-inf elements */
	int has_minmax; /* 0: no element to order (none, all NaN, complex) */
	/* the smallest and largest element, as stored: the tensor's dtype,
	 * little-endian (ckpt_format_scalar prints them) */
	unsigned char min[16], max[16];
	int has_mean;
	double mean;
} ckpt_stats;

/* Non-zero when ckpt_inspect_stats takes tensors of dtype dt: bool,
 * integer, quantized, floating and complex dtypes. */
int ckpt_inspect_has_stats(ckpt_dtype dt);

/* The bytes ckpt_inspect_stats reads for tensor i (its stored size; 0 when
 * its dtype has none): a progress total. */
uint64_t ckpt_inspect_stats_bytes(const ckpt_reader *r, size_t i);

/*
 * Read numeric tensor i whole, in 1 MiB chunks, and fill *out. Fails as
 * ckpt_reader_pread and ckpt_reader_check_data do (a missing or short data
 * shard), with TensorFlow's text when the pieces do not cover the tensor,
 * CKPT_ECHECKSUM when o->verify and a piece does not match its CRC32C
 * (checked on the bytes the statistics read), CKPT_EUNSUPPORTED for a
 * dtype without statistics. *out is only meaningful when 0 is returned.
 */
int ckpt_inspect_stats(const ckpt_reader *r, size_t i, const ckpt_inspect_opts *o, ckpt_stats *out,
		       ckpt_error *err);

/*
 * The index of the tensor called name. When there is none: CKPT_ENOTFOUND,
 * "Tensor NAME not found in checkpoint" (TensorFlow's inspect_checkpoint
 * text) and a second line naming the closest names ("did you mean ...?").
 */
int ckpt_inspect_find(const ckpt_reader *r, const char *name, size_t *i, ckpt_error *err);

/* Most values ckpt_inspect_show prints (a summarized tensor of rank >= 8
 * with long axes would print more; no real one does). */
#define CKPT_SHOW_MAX_VALUES ((uint64_t)1 << 20)

/*
 * str() of tensor i as a numpy array (ckpt_format_array), written through
 * write(ctx, ...): only the elements NumPy shows are read (the first and
 * last 3 along each long axis of a tensor of more than 1000 elements).
 * With o->verify every stored piece they come from is checked (read whole,
 * in 1 MiB steps) before anything is written. Fails as ckpt_inspect_stats
 * does, with CKPT_EUNSUPPORTED for a dtype NumPy has no form for (variant,
 * resource) and for more than CKPT_SHOW_MAX_VALUES values.
 */
int ckpt_inspect_show(const ckpt_reader *r, size_t i, const ckpt_inspect_opts *o,
		      ckpt_write_fn write, void *ctx, ckpt_error *err);

#ifdef __cplusplus
}
#endif
#endif
