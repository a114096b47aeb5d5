/* Internal: filling a ckpt_error. */
#ifndef CKPT_ERROR_INT_H
#define CKPT_ERROR_INT_H

#include "ckpt/error.h"

/*
 * Fill *err (if not NULL) with code and a printf-style message; returns code
 * so callers can write `return ckpt__error(err, CKPT_ECORRUPT, "...")`.
 * For CKPT_EIO the current errno is recorded in sys_errno.
 */
int ckpt__error(ckpt_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prefix an already-filled message with "<prefix>: " (bounded). */
void ckpt__error_prefix(ckpt_error *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
