/*
 * Internal: hooks into src/convert.c for white-box tests.
 */
#ifndef CKPT_CONVERT_INT_H
#define CKPT_CONVERT_INT_H

#include "ckpt/convert.h"

/*
 * Like ckpt_convert_get() but never returns a CPU-specific (F16C) kernel,
 * so tests can compare both implementations on the same machine.
 */
ckpt_convert_fn ckpt__convert_get_portable(ckpt_dtype src, ckpt_dtype dst);

/* Non-zero when ckpt_convert_get() uses the F16C kernels on this CPU. */
int ckpt__convert_have_f16c(void);

#endif
