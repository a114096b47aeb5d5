/* Internal: whole-file reads and pread loops with EINTR handling. */
#ifndef CKPT_IO_INT_H
#define CKPT_IO_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/error.h"

/*
 * Read the whole file at path into *out (*len bytes). Files larger than
 * max_len are refused with CKPT_ERANGE; a missing file is CKPT_ENOTFOUND.
 * Ownership: the caller frees *out with free().
 */
int ckpt__read_file(const char *path, size_t max_len, uint8_t **out, size_t *len, ckpt_error *err);

/* pread exactly n bytes or fail: CKPT_EIO on error, CKPT_ECORRUPT when the
 * file ends first ("truncated"). `name` is used in messages. */
int ckpt__pread_full(int fd, void *buf, size_t n, uint64_t off, const char *name, ckpt_error *err);

#endif
