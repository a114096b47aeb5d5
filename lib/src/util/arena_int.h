/*
 * Internal: an arena, for the many small records that live exactly as long
 * as their owner (tensor names and shapes in a reader, a plan's names and
 * shapes): allocations are carved from blocks of growing size and freed all
 * at once, so 100,000 names cost 100,000 copies of their bytes and a few
 * dozen blocks, not 100,000 heap blocks with their headers.
 */
#ifndef CKPT_ARENA_INT_H
#define CKPT_ARENA_INT_H

#include <stddef.h>
#include <stdint.h>

struct ckpt__arena_block;

typedef struct ckpt__arena {
	struct ckpt__arena_block *head; /* the newest block: where allocations go */
} ckpt__arena;

#define CKPT__ARENA_INIT                                                                           \
	{                                                                                          \
		NULL                                                                               \
	}

/*
 * `size` bytes aligned to `align` (a power of two, at most 16), not zeroed;
 * valid until ckpt__arena_free. NULL when out of memory (or size + align
 * overflows). size 0 gives a valid pointer too.
 * Ownership: the arena's; never free() it.
 */
void *ckpt__arena_alloc(ckpt__arena *a, size_t size, size_t align);

/* A NUL-terminated copy of s[0..n) in the arena; NULL when out of memory. */
char *ckpt__arena_strndup(ckpt__arena *a, const char *s, size_t n);

/* A copy of n int64s in the arena (n may be 0); NULL when out of memory. */
int64_t *ckpt__arena_int64s(ckpt__arena *a, const int64_t *v, size_t n);

/* Bytes the arena holds in blocks (for tests and budgets). */
size_t ckpt__arena_bytes(const ckpt__arena *a);

/* Frees every block; the arena is empty (and reusable) after. */
void ckpt__arena_free(ckpt__arena *a);

#endif
