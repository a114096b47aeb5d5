/*
 * The arena (arena_int.h): a list of blocks, each twice the size of the one
 * before up to ARENA_MAX_BLOCK; a request bigger than a block gets a block
 * of its own. The unused tail of a block that cannot hold a request is
 * left (at most ARENA_MAX_BLOCK / 2 of every block, and in practice a
 * few bytes: the records are names and shapes).
 */
#include "util/arena_int.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_MIN_BLOCK ((size_t)1 << 10)
#define ARENA_MAX_BLOCK ((size_t)256 << 10)

struct ckpt__arena_block {
	struct ckpt__arena_block *next; /* older */
	size_t used, cap;
	_Alignas(16) unsigned char data[];
};

void *ckpt__arena_alloc(ckpt__arena *a, size_t size, size_t align)
{
	struct ckpt__arena_block *b = a->head;
	size_t at = 0;
	if (b != NULL) {
		at = (b->used + align - 1) & ~(align - 1);
		if (at <= b->cap && size <= b->cap - at) {
			b->used = at + size;
			return b->data + at;
		}
	}
	size_t cap = b == NULL			     ? ARENA_MIN_BLOCK
		     : b->cap >= ARENA_MAX_BLOCK / 2 ? ARENA_MAX_BLOCK
						     : b->cap * 2;
	int own = size > cap / 4; /* a big request: a block of its own */
	if (own)
		cap = size;
	if (cap > SIZE_MAX - sizeof(*b))
		return NULL;
	struct ckpt__arena_block *nb = malloc(sizeof(*nb) + cap);
	if (nb == NULL)
		return NULL;
	nb->cap = cap;
	nb->used = size;
	if (own && b != NULL) {
		/* behind the current block, which keeps taking small ones */
		nb->next = b->next;
		b->next = nb;
	} else {
		nb->next = b;
		a->head = nb;
	}
	return nb->data;
}

char *ckpt__arena_strndup(ckpt__arena *a, const char *s, size_t n)
{
	char *p = n < SIZE_MAX ? ckpt__arena_alloc(a, n + 1, 1) : NULL;
	if (p == NULL)
		return NULL;
	if (n)
		memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int64_t *ckpt__arena_int64s(ckpt__arena *a, const int64_t *v, size_t n)
{
	if (n > SIZE_MAX / sizeof(int64_t))
		return NULL;
	int64_t *p = ckpt__arena_alloc(a, n * sizeof(int64_t), _Alignof(int64_t));
	if (p != NULL && n)
		memcpy(p, v, n * sizeof(int64_t));
	return p;
}

size_t ckpt__arena_bytes(const ckpt__arena *a)
{
	size_t n = 0;
	for (const struct ckpt__arena_block *b = a->head; b; b = b->next)
		n += sizeof(*b) + b->cap;
	return n;
}

void ckpt__arena_free(ckpt__arena *a)
{
	while (a->head) {
		struct ckpt__arena_block *b = a->head;
		a->head = b->next;
		free(b);
	}
}
