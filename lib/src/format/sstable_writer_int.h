/*
 * Internal: a byte-exact copy of TensorFlow's table builder (the LevelDB
 * SSTable format used by `.index` files), following
 * spec/index_sstable.md "How TF's builder writes".
 *
 * Blocks are never compressed (TF >= 1.2 bundle writers use
 * kNoCompression). The output goes either to a ckpt__buf or, block by
 * block, to a file descriptor.
 *
 * Usage:
 *   ckpt__sst_writer w;
 *   ckpt__sst_writer_init_buf(&w, &out, NULL);
 *   ckpt__sst_writer_add(&w, key, klen, val, vlen, err);   (strictly increasing keys)
 *   ckpt__sst_writer_finish(&w, err);
 *   ckpt__sst_writer_free(&w);
 */
#ifndef CKPT_SSTABLE_WRITER_INT_H
#define CKPT_SSTABLE_WRITER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/error.h"
#include "util/codec_int.h"

/* TF's table_options.h defaults. */
#define CKPT__SST_BLOCK_SIZE 262144
#define CKPT__SST_RESTART_INTERVAL 16
#define CKPT__SST_FOOTER_SIZE 48
#define CKPT__SST_MAGIC 0xdb4775248b80fb57ull

typedef struct ckpt__sst_options {
	size_t block_size;    /* flush a data block once its estimate reaches this */
	int restart_interval; /* data (and metaindex) blocks; >= 1 */
} ckpt__sst_options;

#define CKPT__SST_OPTIONS_INIT                                                                     \
	{                                                                                          \
		CKPT__SST_BLOCK_SIZE, CKPT__SST_RESTART_INTERVAL                                   \
	}

/* One block under construction (BlockBuilder). */
typedef struct ckpt__sst_block {
	ckpt__buf data;	    /* entries */
	ckpt__buf restarts; /* fixed32 LE offsets, ready to append */
	ckpt__buf last_key;
	int restart_interval;
	int counter; /* entries since the last restart */
	int empty;
} ckpt__sst_block;

/* Plain struct so it can live on the stack; fields are private. */
typedef struct ckpt__sst_writer {
	ckpt__sst_options opt;
	ckpt__buf *out;	  /* sink when fd < 0 */
	int fd;		  /* sink when >= 0 (not owned, not closed) */
	const char *path; /* for error messages only; may be NULL */
	uint64_t offset;  /* bytes emitted so far */
	ckpt__sst_block data_block;
	ckpt__sst_block index_block;
	ckpt__buf last_key; /* last key added to the table */
	uint64_t num_entries;
	int pending_index; /* a data block was flushed, its index entry not yet added */
	uint64_t pending_off, pending_size;
	int status; /* sticky: first failure, then every call fails */
	int finished;
} ckpt__sst_writer;

/*
 * Start a table that is appended to *out (which keeps what it already
 * holds; block offsets count from the writer's first byte). opt may be
 * NULL for TF's defaults.
 * Ownership: the writer borrows out; release the writer with
 * ckpt__sst_writer_free(). Returns 0 or CKPT_EINVAL (bad options).
 */
int ckpt__sst_writer_init_buf(ckpt__sst_writer *w, ckpt__buf *out, const ckpt__sst_options *opt);

/*
 * The same, writing each finished block to fd (positioned where the table
 * starts). path only labels error messages.
 * Ownership: fd and path are borrowed; the caller closes fd.
 */
int ckpt__sst_writer_init_fd(ckpt__sst_writer *w, int fd, const char *path,
			     const ckpt__sst_options *opt);

/*
 * Add one entry. Keys must be strictly increasing in unsigned-byte order
 * (CKPT_EINVAL otherwise, the writer stays usable). Other failures
 * (CKPT_ENOMEM, CKPT_EIO) are sticky.
 */
int ckpt__sst_writer_add(ckpt__sst_writer *w, const void *key, size_t key_len, const void *val,
			 size_t val_len, ckpt_error *err);

/* Flush the last data block, write the empty metaindex block, the index
 * block and the footer. Afterwards only ckpt__sst_writer_free() is valid. */
int ckpt__sst_writer_finish(ckpt__sst_writer *w, ckpt_error *err);

/* Release the writer's buffers (not out, not fd). NULL is fine. */
void ckpt__sst_writer_free(ckpt__sst_writer *w);

/* Exposed for tests: LevelDB's BytewiseComparator helpers. They edit *key
 * in place (only ever shortening it or incrementing one byte). */
void ckpt__sst_shortest_separator(ckpt__buf *start, const uint8_t *limit, size_t limit_len);
void ckpt__sst_short_successor(ckpt__buf *key);

/* memcmp order with the shorter key first on a common prefix. */
int ckpt__sst_compare(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/* write(2) all n bytes, retrying on EINTR and short writes. Returns 0 or
 * -1 with errno set. */
int ckpt__write_all(int fd, const void *p, size_t n);

#endif
