/*
 * Internal: reading TensorFlow's LevelDB-style table (the V2 `.index` file
 * and the whole of a V1 checkpoint file). shared/spec/index_sstable.md.
 */
#ifndef CKPT_SSTABLE_INT_H
#define CKPT_SSTABLE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/error.h"

/*
 * Called once per entry, in table order. key and val point into buffers
 * that are valid only during the call. Return 0 to go on, or a negative
 * CKPT_E* code (with err filled) to stop the walk with that code.
 */
typedef int (*ckpt__sstable_fn)(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val,
				size_t vlen, ckpt_error *err);

/*
 * Walk every entry of the table held in data[0..len). `fname` names the
 * file in error messages. Checks the footer and magic, every block handle,
 * every block CRC, snappy blocks, restart arrays, entry bounds, and that
 * keys strictly increase across the whole table.
 * Ownership: allocates nothing that outlives the call.
 */
int ckpt__sstable_foreach(const uint8_t *data, size_t len, const char *fname, ckpt__sstable_fn fn,
			  void *ctx, ckpt_error *err);

#endif
