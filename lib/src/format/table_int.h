/*
 * Internal: the tensor table (the reader's data structures) and its helpers
 * (table.c), shared by the V2 and V1 loaders, the reader and the view.
 */
#ifndef CKPT_TABLE_INT_H
#define CKPT_TABLE_INT_H

#include <pthread.h>

#include "ckpt/reader.h"
#include "ckpt/store.h"

struct ckpt__piece {
	ckpt_piece pub;
	int64_t *start, *length; /* one block owned through start; pub points
				  * at them */
	int shard;		 /* V2: data file index; V1: file index */
	uint64_t offset;	 /* V2: offset in the shard */
	uint32_t crc;		 /* unmasked CRC-32C of the stored bytes */
	uint8_t *mem;		 /* V1: decoded bytes (owned) */
};

struct ckpt__tensor {
	ckpt_tensor pub;
	char *name;		    /* owned */
	int64_t *dims;		    /* owned */
	struct ckpt__piece *pieces; /* owned, pub.num_pieces of them */
	size_t cap_pieces;
};

/* A V2 data file: opened through the store on first use (a read, or
 * ckpt_reader_check_data), then kept until close. */
struct ckpt__shard {
	char *name;		  /* owned; NULL for a shard no entry uses */
	ckpt_object *_Atomic obj; /* NULL until opened; set once, under lock */
};

struct ckpt_reader {
	char *path;
	enum ckpt_format format;
	struct ckpt__tensor *t; /* sorted by name */
	size_t n, cap;
	int swap; /* V2 written big-endian: numbers are swapped
		   * after reading (and after their CRC check) */
	ckpt_store *store;
	int own_store;	/* opened by path: the reader frees the store */
	ckpt_stat stat; /* the index (V2) or the first file (V1), at open */
	int nshards;	/* data shards (V2) */
	struct ckpt__shard *shards;
	pthread_mutex_t shard_lock; /* opening a shard */
	uint64_t table_bytes;	    /* bytes of the .index (V2) or the table files
				     * (V1) read at open: the view's memory budget
				     * is a multiple of it */
	char **notes;		    /* ckpt_reader_notes: what open worked around */
	size_t n_notes;
	/* ckpt_reader_set_progress: told of every data read (NULL: none) */
	void (*progress)(void *ctx, uint64_t n);
	void *progress_ctx;
};

/* Append an empty tensor; returns it or NULL on ENOMEM. */
struct ckpt__tensor *ckpt__reader_add_tensor(ckpt_reader *r);
/* Append a piece of rank `rank`; NULL on ENOMEM. */
struct ckpt__piece *ckpt__tensor_add_piece(struct ckpt__tensor *t, int rank);

/* Free what t owns (not t itself). */
void ckpt__tensor_free(struct ckpt__tensor *t);

/* Validate a shape (rank <= CKPT_MAX_RANK, dims >= 0, product fits int64)
 * and store it in t. `what` names the file/key for messages. */
int ckpt__tensor_set_shape(struct ckpt__tensor *t, int rank, const int64_t *dims, const char *what,
			   ckpt_error *err);

/* Check that piece (start, length) lies inside t's shape, fill its element
 * count, and check it does not overlap an earlier piece (TF's messages). */
int ckpt__tensor_check_piece(const struct ckpt__tensor *t, size_t p, const char *what,
			     ckpt_error *err);

/* Sort tensors by name and reject duplicates. */
int ckpt__reader_sort(ckpt_reader *r, ckpt_error *err);

#endif
