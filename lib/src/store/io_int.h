/* Internal: POSIX file primitives (the POSIX store, lib/src/store/store_posix.c,
 * and the graph reader use them): opening only regular files, without
 * ever blocking; exact preads; whole-file reads. */
#ifndef CKPT_IO_INT_H
#define CKPT_IO_INT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "ckpt/error.h"
#include "ckpt/store.h"

/*
 * Open path read-only if it is a regular file (or a symlink to one), never
 * blocking: it is stat'ed first (a FIFO, device, socket or directory is
 * never opened), then opened with O_NONBLOCK (cleared after) and checked
 * again with fstat, so a FIFO swapped in between is refused too. *sb gets
 * the fstat. Missing: CKPT_ENOTFOUND "<path>: <strerror>";
 * not a regular file: CKPT_ENOTFOUND "<path>: not a regular file (a FIFO)";
 * other failures CKPT_EIO.
 * Ownership: the caller closes *fd.
 */
int ckpt__open_regular(const char *path, int *fd, struct stat *sb, ckpt_error *err);

/* A store stat of a POSIX stat: kind, size, mtime, "dev:ino:size:mtime". */
void ckpt__stat_of(const struct stat *sb, ckpt_stat *st);

/*
 * Read the whole regular file at path into *out (*len bytes). Files larger
 * than max_len are refused with CKPT_ERANGE; errors as ckpt__open_regular.
 * Ownership: the caller frees *out with free().
 */
int ckpt__read_file(const char *path, size_t max_len, uint8_t **out, size_t *len, ckpt_error *err);

/* pread exactly n bytes or fail: CKPT_EIO on error, CKPT_ECORRUPT when the
 * file ends first ("truncated"). `name` is used in messages. */
int ckpt__pread_full(int fd, void *buf, size_t n, uint64_t off, const char *name, ckpt_error *err);

/* CKPT_ERANGE "<name>: N bytes, more than the M bytes accepted" when
 * size > max_len, else 0. */
int ckpt__check_whole_size(const char *name, uint64_t size, size_t max_len, ckpt_error *err);

#endif
