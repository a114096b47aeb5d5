/* Shared by fuzz_map and fuzz_targets: resolve over a fixed checkpoint. */
#ifndef CKPT_FUZZ_RESOLVE_H
#define CKPT_FUZZ_RESOLVE_H

#include <stddef.h>

#include "ckpt/resolve.h"

/*
 * Resolve map entries e[0..n) (none = identity) and targets t[0..nt) (NULL
 * = inferred) over a fixed set of checkpoint tensors, with and without a
 * float32 -> bfloat16 cast and strict, and print each plan as text and
 * JSON. Errors are expected; only crashes, leaks and sanitizer reports
 * matter.
 */
void fuzz_resolve_fixed(const ckpt_map_entry *e, size_t n, const ckpt_target_var *t, size_t nt);

/* As fuzz_resolve_fixed, with --perm rules r[0..nr). */
void fuzz_resolve_fixed_perms(const ckpt_map_entry *e, size_t n, const ckpt_target_var *t,
			      size_t nt, const ckpt_perm_rule *r, size_t nr);

#endif
