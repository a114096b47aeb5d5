/*
 * ckpt/writer.h - write a TensorFlow V2 checkpoint (tensor bundle) exactly
 * as TensorFlow's BundleWriter, and MergeBundles for sharded saves, do:
 * the same `.index` and `.data-NNNNN-of-NNNNN` bytes for the same calls.
 *
 * What "the same calls" means:
 *   - ckpt_writer_add / _add_strings   = BundleWriter::Add
 *   - ckpt_writer_add_slice            = BundleWriter::AddSlice (a slice
 *     covering the whole tensor becomes a plain Add, as in TF)
 *   - ckpt_writer_set_shard(w, k)      = switch to the k-th BundleWriter of
 *     a sharded save; at finish the shards are merged in order 0, 1, ...
 *     as MergeBundles does (header num_shards = number of shards, each
 *     entry's shard_id = its data file, full entries of partitioned tensors
 *     collect their slices from every shard in shard order).
 * Tensor data goes to the data files in call order (per shard), entries
 * are written sorted by key. Data files are written to temporary names
 * (PREFIX.part-NNNNN.tmp) and renamed at ckpt_writer_finish(); the index is
 * written last, so a checkpoint is either complete or absent.
 *
 * Thread-safety: a writer is used by one thread at a time.
 */
#ifndef CKPT_WRITER_H
#define CKPT_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/dtype.h"
#include "ckpt/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ckpt_writer ckpt_writer;

/* TF's TensorShape limit: at most 254 dimensions. */
#define CKPT_WRITER_MAX_RANK 254
/* Shards a writer accepts (a sane bound, not a TF limit). */
#define CKPT_WRITER_MAX_SHARDS 100000
/* Pass as a slice length to take the whole dimension (start must be 0):
 * TF's kFullExtent, "-" in a slice spec. */
#define CKPT_WRITER_FULL_EXTENT (-1)

/*
 * Start a checkpoint at PREFIX (PREFIX.index, PREFIX.data-*). Creates the
 * parent directories of PREFIX if missing, as TF does. Existing files are
 * replaced at finish.
 * @return 0, CKPT_EINVAL (empty prefix), CKPT_ENOMEM, CKPT_EIO.
 * Ownership: on success the caller releases *out with ckpt_writer_close();
 * on failure *out is NULL. prefix is copied.
 */
int ckpt_writer_open(ckpt_writer **out, const char *prefix, ckpt_error *err);

/*
 * Direct the following adds to shard `shard` (0-based) and make the
 * checkpoint a sharded one: at finish the shards 0..max(shard) are merged
 * as MergeBundles does. A shard selected but never given a tensor still
 * counts in the header's num_shards, yet gets no data file (what TF does
 * with an empty input bundle). Without any call the checkpoint is what one
 * BundleWriter writes (one data file, created even when empty).
 * @return 0 or CKPT_EINVAL (shard out of [0, CKPT_WRITER_MAX_SHARDS)).
 */
int ckpt_writer_set_shard(ckpt_writer *w, int shard, ckpt_error *err);

/*
 * Add a numeric (or bool/quantized) tensor: `data` holds `size` bytes,
 * row-major, little-endian, exactly num_elements(dims) * dtype size.
 * name is the bundle key (non-empty, NUL-terminated). dims has `rank`
 * entries (rank 0..CKPT_WRITER_MAX_RANK, each >= 0; NULL for rank 0).
 * @return 0; CKPT_EINVAL for a bad argument, a size mismatch or a name
 * already added to this shard (TF: "Adding duplicate key: <name>");
 * CKPT_EUNSUPPORTED for string/variant/resource dtypes; CKPT_EIO,
 * CKPT_ENOMEM. EINVAL leaves the writer unchanged; EIO/ENOMEM are sticky.
 * Ownership: nothing is retained; data is written before returning.
 */
int ckpt_writer_add(ckpt_writer *w, const char *name, ckpt_dtype dt, int rank, const int64_t *dims,
		    const void *data, size_t size, ckpt_error *err);

/*
 * Add a DT_STRING tensor of num_elements(dims) strings: strs[i] points to
 * lens[i] bytes (any bytes; lens may be NULL for NUL-terminated strings).
 * Written as TF 2.x does: varint64 lengths, the masked CRC of the lengths,
 * then the bytes.
 * @return as ckpt_writer_add.
 * Ownership: nothing is retained.
 */
int ckpt_writer_add_strings(ckpt_writer *w, const char *name, int rank, const int64_t *dims,
			    const char *const *strs, const uint64_t *lens, ckpt_error *err);

/*
 * Add one saved slice of a partitioned numeric tensor `name` of shape
 * full_dims: the block at start[d], length[d] (length
 * CKPT_WRITER_FULL_EXTENT with start 0 for a whole dimension; otherwise
 * start >= 0, length >= 1, start + length <= full_dims[d]). data holds
 * the slice's elements row-major in the slice's own shape.
 * As in TF: if the slice covers the whole tensor this is a plain
 * ckpt_writer_add(name); otherwise the entry `name` gets dtype, full shape
 * and this slice appended to its `slices`, and the data is added under the
 * slice key EncodeTensorNameSlice(name, slice). TF's Python savers give
 * explicit start/length for every dimension (e.g. `10 3 4,3:0,3`); pass
 * the same to reproduce their files. Overlapping slices are not rejected
 * (TF's writer does not check either; readers do).
 * @return as ckpt_writer_add; CKPT_EINVAL also when `name` exists as a
 * plain tensor or with another dtype/shape, or the slice was already added.
 */
int ckpt_writer_add_slice(ckpt_writer *w, const char *name, ckpt_dtype dt, int rank,
			  const int64_t *full_dims, const int64_t *start, const int64_t *length,
			  const void *data, size_t size, ckpt_error *err);

/*
 * Write the index and give the data files their final names. Fails with
 * CKPT_EINVAL when shards hold the same key (TF: "Duplicate tensor keyed
 * by <key> encountered, when merging prefix: ...") or the same partitioned
 * tensor with another dtype/shape; CKPT_EIO/CKPT_ENOMEM otherwise. The
 * index is renamed into place last, so after a failure there is no
 * PREFIX.index (temporary files are removed by ckpt_writer_close()).
 * Ownership: the writer still needs ckpt_writer_close().
 */
int ckpt_writer_finish(ckpt_writer *w, ckpt_error *err);

/* Release the writer; if ckpt_writer_finish() did not succeed, remove its
 * temporary files. NULL is fine. */
void ckpt_writer_close(ckpt_writer *w);

#ifdef __cplusplus
}
#endif
#endif
