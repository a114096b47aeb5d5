/* Internal: the `checkpoint` state file (shared/spec/checkpoint_state.md). */
#ifndef CKPT_STATE_INT_H
#define CKPT_STATE_INT_H

#include <stddef.h>

#include "ckpt/error.h"

/*
 * Parse CheckpointState text format and return model_checkpoint_path (the
 * last one if repeated, as text_format.Merge does). Accepts comments, either
 * quote style, C escapes and octal escapes, adjacent string concatenation,
 * and the four known fields. An unknown field or bad syntax is
 * CKPT_ECORRUPT naming fname, line and column; an empty or missing
 * model_checkpoint_path is CKPT_ECORRUPT with TF's "Invalid checkpoint
 * state" text. The path may contain any byte but NUL.
 * Ownership: the caller frees *model_path with free().
 */
int ckpt__state_parse(const char *text, size_t len, const char *fname, const char *dir,
		      char **model_path, ckpt_error *err);

#endif
