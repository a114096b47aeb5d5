/*
 * ckpt/reader.h - open a TensorFlow checkpoint (V2 bundle, V1 file, or a
 * directory with a `checkpoint` state file) and read its tensors.
 *
 * All bytes come from a store (ckpt/store.h): a path opens through the
 * POSIX store, ckpt_reader_open_store() takes any store. Opening reads the
 * `checkpoint` state file (for a directory) and the index only and checks
 * the whole index; a V2 data shard is opened on its first use (a read, or
 * ckpt_reader_check_data) and kept open until close, its identity pinned.
 * So listing needs no data file. A ckpt_reader is immutable after open and
 * safe to read from many threads at once (shards open under a lock).
 */
#ifndef CKPT_READER_H
#define CKPT_READER_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/dtype.h"
#include "ckpt/error.h"
#include "ckpt/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ckpt_reader ckpt_reader;

/* CKPT_MAX_RANK, the largest rank accepted, is in ckpt/dtype.h. */

/* Most stored slices one tensor may have (TF's partitioned variables have
 * one per part; thousands is already unusual). */
#define CKPT_MAX_PIECES 16384

enum ckpt_format { CKPT_FORMAT_V2 = 2, CKPT_FORMAT_V1 = 1 };

/* One stored run of a tensor: the whole tensor, or one saved slice. */
typedef struct ckpt_piece {
	const int64_t *start;  /* rank entries: first index along each dim */
	const int64_t *length; /* rank entries: extent along each dim (>= 0) */
	uint64_t num_elements; /* product of length */
	uint64_t size;	       /* stored bytes (numeric: num_elements * dtype size) */
} ckpt_piece;

/* A tensor as tf.train.list_variables shows it (slice keys hidden). */
typedef struct ckpt_tensor {
	const char *name; /* NUL-terminated, valid until close */
	ckpt_dtype dtype;
	int rank;
	const int64_t *dims;   /* rank entries, valid until close */
	uint64_t num_elements; /* product of dims (checked, fits in int64) */
	size_t num_pieces;     /* >= 1; > 1 or a partial piece = partitioned */
	int partitioned;       /* saved as slices (BundleEntryProto.slices) */
} ckpt_tensor;

/*
 * Open CHECKPOINT as TensorFlow resolves it: a V2 prefix (PATH.index
 * exists), a directory whose `checkpoint` file names the latest checkpoint,
 * or a V1 file (pattern). Beyond TF (each noted, ckpt_reader_notes): a
 * SavedModel directory (no `checkpoint` file, a variables/variables.index)
 * opens its variables/variables; PREFIX.index or PREFIX.data-N-of-M opens
 * PREFIX when PREFIX is a V2 checkpoint; a state file's path that does not
 * exist falls back to the file of the same base name beside the state
 * file. A V1 pattern matching nothing gets a second line (after "\n")
 * naming the V2 prefixes in its directory. On failure *out is NULL and err says what is wrong
 * (TF's text where TF has one). A name that is not a regular file where
 * one is read (a directory, FIFO or device as the index, the state file,
 * or what the state file names) is CKPT_ENOTFOUND "not a regular file".
 * Data shards are not opened (see ckpt_reader_check_data).
 * Ownership: the caller closes *out with ckpt_reader_close().
 */
int ckpt_reader_open(ckpt_reader **out, const char *path, ckpt_error *err);

/*
 * As ckpt_reader_open, for the checkpoint called `name` in `store`.
 * Ownership: the store is borrowed and must outlive the reader; the caller
 * closes *out with ckpt_reader_close().
 */
int ckpt_reader_open_store(ckpt_reader **out, ckpt_store *store, const char *name, ckpt_error *err);

/* Closes the reader and every object it opened. NULL is fine. */
void ckpt_reader_close(ckpt_reader *r);

/*
 * Check that the stored bytes of tensors which[0..n) (every tensor when
 * which is NULL) are there: every data shard they use opens as a regular
 * file (CKPT_ENOTFOUND "<shard>: cannot open data file for tensor T: ...")
 * and is long enough for each of their pieces (CKPT_ECORRUPT "... runs past
 * the end of the data file"). Each shard is opened once (its identity
 * pinned from then on); no data is read.
 */
int ckpt_reader_check_data(const ckpt_reader *r, const size_t *which, size_t n, ckpt_error *err);

/*
 * Be told of data reads: fn(ctx, n) after every successful read of n
 * stored bytes (ckpt_reader_pread, the CRC checks, and so every read of a
 * view over r), on the reading thread. For a progress line while a caller
 * waits on work that reads (checking every CRC, --format tf's build);
 * fn NULL: none. Not thread-safe: set it only while no other thread uses
 * the reader.
 */
void ckpt_reader_set_progress(ckpt_reader *r, void (*fn)(void *ctx, uint64_t n), void *ctx);

/* The index (V2) or first file (V1) as it was at open: its mtime and
 * identity. Borrowed. */
const ckpt_stat *ckpt_reader_stat(const ckpt_reader *r);

/*
 * What opening worked around, one sentence each, for the caller to show as
 * warnings (the library never prints): a `checkpoint` state file naming a
 * path that does not exist when a file of the same base name sits beside
 * it, an index or data file given for its prefix. *n gets the count.
 * Borrowed, valid until close.
 */
const char *const *ckpt_reader_notes(const ckpt_reader *r, size_t *n);

/* The resolved prefix (V2) or file pattern (V1). Borrowed. */
const char *ckpt_reader_path(const ckpt_reader *r);
enum ckpt_format ckpt_reader_format(const ckpt_reader *r);

/* Tensors sorted by name (bytewise). Borrowed pointers, valid until close. */
size_t ckpt_reader_count(const ckpt_reader *r);
const ckpt_tensor *ckpt_reader_tensor(const ckpt_reader *r, size_t i);
/* All of them as one array of ckpt_reader_count entries (entry i is
 * ckpt_reader_tensor(r, i)), e.g. for ckpt_resolve. Borrowed, valid until
 * close; NULL when there are none. */
const ckpt_tensor *ckpt_reader_tensors(const ckpt_reader *r);

/* The tensor of an object-based (TF2) checkpoint that holds its object
 * graph: a string scalar, a serialized TrackableObjectGraph. */
#define CKPT_OBJECT_GRAPH_KEY "_CHECKPOINTABLE_OBJECT_GRAPH"

/* Index of the tensor named `name`, or CKPT_ENOTFOUND. */
int ckpt_reader_find(const ckpt_reader *r, const char *name, size_t *index_out);

/* The stored pieces of tensor i (borrowed). */
const ckpt_piece *ckpt_reader_piece(const ckpt_reader *r, size_t i, size_t p);

/*
 * Read `len` bytes at byte `off` of piece p of tensor i, as stored
 * (row-major within the piece, little-endian, the tensor's dtype). For
 * strings the bytes are TF's stored encoding. Fails with CKPT_ERANGE when
 * off + len exceeds the piece, CKPT_ENOTFOUND when its shard cannot be
 * opened, CKPT_EIO when it cannot be read or was replaced since it was
 * opened, CKPT_ECORRUPT when it ends early.
 * No checksum check; see ckpt_reader_verify_piece().
 * Thread-safety: safe from many threads.
 */
int ckpt_reader_pread(const ckpt_reader *r, size_t i, size_t p, uint64_t off, void *buf, size_t len,
		      ckpt_error *err);

/*
 * Where piece p of tensor i lies in a store object, for callers that move
 * its bytes without reading them (ckpt_object_splice_fd): returns 1 and
 * sets *obj (the reader's, open until close) and *offset when the stored
 * bytes are the bytes ckpt_reader_pread returns (a V2 file, no byte
 * swapping) and the shard opens; 0 else.
 */
int ckpt_reader_piece_object(const ckpt_reader *r, size_t i, size_t p, ckpt_object **obj,
			     uint64_t *offset);

/* Verify the stored CRC32C of piece p of tensor i (reads it whole).
 * Returns 0 or CKPT_ECHECKSUM with TF's message. V1 pieces have no CRC
 * beyond their table block and always verify. */
int ckpt_reader_verify_piece(const ckpt_reader *r, size_t i, size_t p, ckpt_error *err);

/*
 * Check a CRC32C the caller computed over all of piece p of tensor i,
 * feeding it the bytes ckpt_reader_pread returned, front to back: 0 when it
 * is the stored checksum, CKPT_ECHECKSUM with TF's message when not, and
 * CKPT_EUNSUPPORTED when the stored checksum is not over those bytes
 * (strings, variants, byte-swapped bundles, V1): then use
 * ckpt_reader_verify_piece.
 */
int ckpt_reader_check_crc(const ckpt_reader *r, size_t i, size_t p, uint32_t crc, ckpt_error *err);
/* 1 when the stored checksum of piece p of tensor i is over the bytes
 * ckpt_reader_pread returns (ckpt_reader_check_crc can check it), else 0. */
int ckpt_reader_crc_over_read(const ckpt_reader *r, size_t i, size_t p);

/*
 * Read the slice (start, length) of numeric tensor i (start/length have
 * rank entries; NULL start means the whole tensor) into out, row-major in
 * the slice's shape, assembled from whatever pieces are stored, verifying
 * each piece's CRC. `out_size` must be at least num_elements(slice) * dtype
 * size. TF's error when the pieces do not cover the slice.
 */
int ckpt_reader_read_slice(const ckpt_reader *r, size_t i, const int64_t *start,
			   const int64_t *length, void *out, size_t out_size, ckpt_error *err);

/*
 * Read string tensor i whole. On success *out_strs is an array of
 * num_elements pointers and *out_lens their lengths, all in one allocation
 * block. Ownership: the caller frees both with ckpt_reader_free_strings().
 */
int ckpt_reader_read_strings(const ckpt_reader *r, size_t i, char ***out_strs, uint64_t **out_lens,
			     ckpt_error *err);
void ckpt_reader_free_strings(char **strs, uint64_t *lens);

#ifdef __cplusplus
}
#endif
#endif
