/*
 * Internal: the tensor table (the reader's data structures) and its helpers
 * (table.c), shared by the V2 and V1 loaders, the reader and the view.
 */
#ifndef CKPT_TABLE_INT_H
#define CKPT_TABLE_INT_H

#include <pthread.h>

#include "ckpt/reader.h"
#include "ckpt/store.h"
#include "util/arena_int.h"

/* A stored piece. `pub.start` and `pub.length` point into the reader's
 * arena (writable there: ckpt__piece_start/_length), or for a whole piece
 * at ckpt__zeros and the tensor's dims. */
struct ckpt__piece {
	ckpt_piece pub;
	uint64_t offset; /* V2: offset in the shard */
	uint32_t crc;	 /* unmasked CRC-32C of the stored bytes */
	int shard;	 /* V2: data file index; V1: file index */
	uint8_t *mem;	 /* V1: decoded bytes (owned) */
};

/* CKPT_MAX_RANK zeros: the start of every whole piece. */
extern const int64_t ckpt__zeros[CKPT_MAX_RANK];

/* A V2 data file: opened through the store on first use (a read, or
 * ckpt_reader_check_data), then kept until close. */
struct ckpt__shard {
	char *name;		  /* owned; NULL for a shard no entry uses */
	ckpt_object *_Atomic obj; /* NULL until opened; set once, under lock */
};

struct ckpt_reader {
	char *path;
	enum ckpt_format format;
	/* The table: 100,000s of tensors cost a few arrays and an arena, no
	 * heap block per tensor. */
	ckpt_tensor *t; /* sorted by name; names in `names`, dims in `ints` */
	size_t *first;	/* t[i]'s pieces are pieces[first[i] .. + t[i].num_pieces);
			 * NULL once sorted when first[i] == i (one piece each) */
	size_t n, cap;
	struct ckpt__piece *pieces; /* npieces of them, each tensor's together */
	size_t npieces, cap_pieces;
	ckpt__arena names; /* tensor names */
	ckpt__arena ints;  /* dims, slice starts and lengths */
	int swap;	   /* V2 written big-endian: numbers are swapped
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

/* The pieces of tensor i (a pointer into r->pieces: valid until the next
 * ckpt__tensor_add_piece). */
static inline struct ckpt__piece *ckpt__tensor_pieces(const ckpt_reader *r, size_t i)
{
	return r->pieces + (r->first ? r->first[i] : i);
}

/* Tensor i's piece p is number ckpt__piece_index(r, i) + p of the
 * reader's r->npieces (per-piece state elsewhere is indexed so). */
static inline size_t ckpt__piece_index(const ckpt_reader *r, size_t i)
{
	return r->first ? r->first[i] : i;
}

/* Where a piece that is not whole keeps its start and length (rank entries
 * each, in the reader's arena, zeroed by ckpt__tensor_add_piece). */
static inline int64_t *ckpt__piece_start(struct ckpt__piece *pc)
{
	return (int64_t *)pc->pub.start;
}
static inline int64_t *ckpt__piece_length(struct ckpt__piece *pc)
{
	return (int64_t *)pc->pub.length;
}

/* Append a tensor called name[0..len) (copied; no shape, no pieces yet) as
 * *index. 0 or CKPT_ENOMEM. Ownership: the name, and everything the
 * functions below add, is the reader's (ckpt__reader_free_table). */
int ckpt__reader_add_tensor(ckpt_reader *r, const char *name, size_t len, size_t *index);

/* Append a piece to tensor i, which must be the last tensor that got one
 * (its pieces stay together). whole: the whole tensor (start zeros, length
 * its dims: set the shape first); else start and length of the tensor's
 * rank in the arena, zeroed. NULL on ENOMEM; the pointer is valid until the
 * next call. */
struct ckpt__piece *ckpt__tensor_add_piece(ckpt_reader *r, size_t i, int whole);

/* Free the table (the V1 bytes of pieces, the arrays, the arena). */
void ckpt__reader_free_table(ckpt_reader *r);

/* Validate a shape (rank <= CKPT_MAX_RANK, dims >= 0, product fits int64)
 * and store it as tensor i's. `what` names the file/key for messages. */
int ckpt__tensor_set_shape(ckpt_reader *r, size_t i, int rank, const int64_t *dims,
			   const char *what, ckpt_error *err);

/* Check that piece p of tensor i (start, length) lies inside its shape,
 * fill its element count, and check it does not overlap an earlier piece
 * (TF's messages). */
int ckpt__tensor_check_piece(const ckpt_reader *r, size_t i, size_t p, const char *what,
			     ckpt_error *err);

/*
 * Order the tensors by name (bytewise), equal names in the order they were
 * added; nothing moves when they already are (a V2 index lists them so).
 * The pieces stay where they are. 0 or CKPT_ENOMEM (no message).
 */
int ckpt__reader_order(ckpt_reader *r);

/* Order the tensors by name, reject duplicates, and give back what the
 * arrays' growth did not use. */
int ckpt__reader_sort(ckpt_reader *r, ckpt_error *err);

#endif
