/*
 * ckpt/store.h - where a checkpoint's bytes live.
 *
 * The reader never touches files itself: it asks a store for named objects
 * ("dir/model.ckpt-1.index"), each opened with its size and an identity
 * pinned at open, and reads them with exact preads. The POSIX store is the
 * local filesystem; another store (a remote one) implements
 * struct ckpt_store_ops and is passed to ckpt_reader_open_store().
 *
 * Names are the store's own strings: a path for the POSIX store, a URL for
 * a remote one. Only regular objects are ever opened: a directory, FIFO,
 * device or socket is refused (CKPT_ENOTFOUND, "not a regular file"), so no
 * open can block.
 *
 * Error messages start with the object's name followed by ": ".
 *
 * Thread-safety: every function here may be called from many threads at
 * once, on one store and on one object.
 */
#ifndef CKPT_STORE_H
#define CKPT_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/error.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ckpt_store ckpt_store;
typedef struct ckpt_object ckpt_object;

enum ckpt_store_kind {
	CKPT_STORE_ABSENT = 0, /* no object of that name */
	CKPT_STORE_FILE = 1,   /* a regular object: bytes to read */
	CKPT_STORE_DIR = 2,    /* a directory (where a `checkpoint` file may be) */
	CKPT_STORE_OTHER = 3,  /* FIFO, device, socket: never opened */
};

#define CKPT_STORE_ID_MAX 128

/* What a store knows of an object without reading it. */
typedef struct ckpt_stat {
	int kind;	   /* enum ckpt_store_kind */
	uint64_t size;	   /* bytes (CKPT_STORE_FILE) */
	int64_t mtime_sec; /* last modification; 0 when the store cannot tell */
	long mtime_nsec;
	/* equal for two stats iff the bytes are the same object: POSIX
	 * "dev:ino:size:mtime", a remote store's ETag; NUL-terminated */
	char id[CKPT_STORE_ID_MAX];
} ckpt_stat;

/*
 * What an implementation provides. A store is a struct whose first member
 * is a struct ckpt_store (ops set), an object one whose first member is a
 * struct ckpt_object (store, name and st set by open). Every op but the
 * optional ones must be set.
 */
struct ckpt_store_ops {
	/* Describe name. A missing name is rc 0 with kind CKPT_STORE_ABSENT;
	 * an error only when the store cannot tell. */
	int (*stat)(ckpt_store *s, const char *name, ckpt_stat *st, ckpt_error *err);
	/* Open a regular object, pinning its identity: later reads give its
	 * bytes or fail, never another object's bytes. Missing or not a
	 * regular object: CKPT_ENOTFOUND. Ownership: closed with close. */
	int (*open)(ckpt_store *s, const char *name, ckpt_object **out, ckpt_error *err);
	/* Exactly len bytes at off: an object that ends first is
	 * CKPT_ECORRUPT ("truncated"), one that is no longer the pinned
	 * object CKPT_EIO. Never a short success. */
	int (*pread)(ckpt_object *o, void *buf, size_t len, uint64_t off, ckpt_error *err);
	void (*close)(ckpt_object *o);
	/* The names matching a glob(7) pattern (a V1 file pattern), sorted
	 * bytewise; none is rc 0 with *n 0. Ownership: ckpt_store_names_free. */
	int (*list)(ckpt_store *s, const char *pattern, char ***names, size_t *n, ckpt_error *err);
	/* Optional (NULL): a local descriptor holding the object's bytes at
	 * the same offsets, for splice(2). Returns 1 with *fd pinned (open, the
	 * pinned object) until splice_release, or 0. */
	int (*splice_fd)(ckpt_object *o, int *fd);
	void (*splice_release)(ckpt_object *o);
	/* Optional (NULL: open + pread + close): a small object whole, as
	 * ckpt_store_read_whole, for a store where that is one request. */
	int (*read_whole)(ckpt_store *s, const char *name, size_t max_len, uint8_t **out,
			  size_t *len, ckpt_stat *st, ckpt_error *err);
	/* Frees the store; every object is closed before. */
	void (*destroy)(ckpt_store *s);
};

struct ckpt_store {
	const struct ckpt_store_ops *ops;
};

struct ckpt_object {
	ckpt_store *store;
	const char *name; /* owned by the implementation */
	ckpt_stat st;	  /* pinned at open; kind CKPT_STORE_FILE */
};

/*
 * The local filesystem. Objects keep their file descriptor in a bounded
 * pool (least recently used closed first; max_open 0 picks
 * min(RLIMIT_NOFILE / 2, 256)); an evicted object is reopened on demand
 * and checked against its pinned device, inode, size and mtime, so a file
 * replaced since it was opened fails with CKPT_EIO. Paths may be relative
 * to the working directory.
 * Ownership: the caller frees *out with ckpt_store_free().
 */
int ckpt_store_posix_new(ckpt_store **out, size_t max_open, ckpt_error *err);

/* Frees a store (any implementation). NULL is fine. */
void ckpt_store_free(ckpt_store *s);

int ckpt_store_stat(ckpt_store *s, const char *name, ckpt_stat *st, ckpt_error *err);

/* Ownership: the caller closes *out with ckpt_object_close(). */
int ckpt_store_open(ckpt_store *s, const char *name, ckpt_object **out, ckpt_error *err);

/* Size, identity and mtime pinned at open. Borrowed. */
const ckpt_stat *ckpt_object_stat(const ckpt_object *o);
const char *ckpt_object_name(const ckpt_object *o);

/* Exactly len bytes at off (see struct ckpt_store_ops.pread). */
int ckpt_object_pread(ckpt_object *o, void *buf, size_t len, uint64_t off, ckpt_error *err);

void ckpt_object_close(ckpt_object *o);

/*
 * Read a small regular object whole: *out holds *len bytes. Larger than
 * max_len is CKPT_ERANGE. st, if not NULL, gets its stat.
 * Ownership: the caller frees *out with free().
 */
int ckpt_store_read_whole(ckpt_store *s, const char *name, size_t max_len, uint8_t **out,
			  size_t *len, ckpt_stat *st, ckpt_error *err);

/* Names matching pattern (see struct ckpt_store_ops.list).
 * Ownership: the caller frees them with ckpt_store_names_free(). */
int ckpt_store_list(ckpt_store *s, const char *pattern, char ***names, size_t *n, ckpt_error *err);
void ckpt_store_names_free(char **names, size_t n);

/*
 * Join a directory and a name found in it as TensorFlow does for the paths
 * of a `checkpoint` state file (Python's os.path.join): an absolute name
 * ("/x") is kept, anything else is dir + "/" + name (no "/" added after a
 * dir ending in one). Works on URLs too (no normalisation).
 * Ownership: the caller frees *out with free().
 */
int ckpt_store_join(const char *dir, const char *name, char **out, ckpt_error *err);

/*
 * The optional splice hook: 1 with *fd a local descriptor holding o's
 * bytes at the same offsets, pinned (never closed nor reused) until
 * ckpt_object_splice_release(o); 0 when the store has none or the object
 * cannot be reopened (then read it with ckpt_object_pread).
 */
int ckpt_object_splice_fd(ckpt_object *o, int *fd);
void ckpt_object_splice_release(ckpt_object *o);

/* 1 when o's bytes are in a local file (the store has the splice hook):
 * reading them again costs no transfer. */
int ckpt_object_is_local(const ckpt_object *o);

/*
 * Hint that bytes [off, off + len) of o will be read soon: a local object
 * asks the kernel to read them ahead (posix_fadvise WILLNEED, in calls of
 * CKPT_WILLNEED_CHUNK bytes: one call reads at most the larger of the
 * device's read-ahead and its largest request, 128 KiB by default); other
 * stores do nothing (they have their own read-ahead). Never fails.
 */
#define CKPT_WILLNEED_CHUNK ((uint64_t)128 << 10)
void ckpt_object_willneed(ckpt_object *o, uint64_t off, uint64_t len);

#ifdef __cplusplus
}
#endif
#endif
