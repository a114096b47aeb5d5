/*
 * Internal: the keyed hash of every table keyed by names from a file, and
 * a string -> index map built on it.
 *
 * A checkpoint or graph is hostile: names chosen to share a bucket of an
 * unkeyed hash (FNV-1a) turn each insert and lookup into a walk over all
 * earlier names. Every table here hashes with SipHash-2-4 under a key the
 * input cannot know: each table takes a fresh 128-bit key, derived from 16
 * bytes of getrandom() read once per process and a per-table counter.
 */
#ifndef CKPT_HASH_INT_H
#define CKPT_HASH_INT_H

#include <stddef.h>
#include <stdint.h>

typedef struct ckpt__hash_key {
	uint64_t k0, k1;
} ckpt__hash_key;

/* SipHash-2-4 of len bytes at data under key k (Aumasson and Bernstein,
 * "SipHash: a fast short-input PRF", 2012). */
uint64_t ckpt__siphash(const ckpt__hash_key *k, const void *data, size_t len);

/* A fresh key, different for every call (thread-safe). */
void ckpt__hash_key_new(ckpt__hash_key *k);

/*
 * Open addressing (linear probing, load <= 1/2) from NUL-terminated string
 * to size_t. Zero-initialise (`ckpt__strmap m = {0};`); the first put picks
 * the key. Keys are borrowed: they must outlive the map and not move.
 * Ownership: ckpt__strmap_free() frees the slot arrays, not the keys.
 */
typedef struct ckpt__strmap {
	const char **keys; /* cap slots, NULL = empty */
	size_t *vals;
	size_t cap, n;
	ckpt__hash_key key;
	size_t probes; /* occupied slots passed by puts and gets (tests bound it) */
} ckpt__strmap;

/* Insert or overwrite. 0 or CKPT_ENOMEM. */
int ckpt__strmap_put(ckpt__strmap *m, const char *key, size_t val);
/* 1 and *val when key is present, else 0. */
int ckpt__strmap_get(ckpt__strmap *m, const char *key, size_t *val);
void ckpt__strmap_free(ckpt__strmap *m);

#endif
