/* Internal: pieces of the resolver shared with the map/targets loaders. */
#ifndef CKPT_RESOLVE_INT_H
#define CKPT_RESOLVE_INT_H

#include <stdint.h>

#include "ckpt/resolve.h"
#include "util/codec_int.h"
#include "util/strbuf_int.h"

/*
 * Check a target variable as tf.compat.v1.get_variable does when it creates
 * it (rank, dims >= 0, element count fits int64, partitions validated with
 * the partitioner texts of spec slices_and_partitions.md §3, count bounded
 * by CKPT_RESOLVE_MAX_PARTS). On success *slice_dim and *nparts give the
 * partitioning (-1/0 when not partitioned). err->msg carries no prefix.
 */
int ckpt__target_check(const ckpt_target_var *v, int *slice_dim, int64_t *nparts, ckpt_error *err);

/* Part i of n along a dimension of `size` (TF's _iter_slices: the first
 * size % n parts get one more row). */
void ckpt__part_range(int64_t size, int64_t n, int64_t i, int64_t *off, int64_t *len);

/* Whether the view can convert `from` to `to`: the same dtype, or two
 * numeric ones (bool and quantized count as numeric). */
int ckpt__cast_ok(ckpt_dtype from, ckpt_dtype to);

/* 0 when axes[0..rank) is a permutation of 0..rank-1, else -1. */
int ckpt__perm_check(const int *axes, int rank);
/* 1 when axes is NULL or axes[d] == d for every d < rank. */
int ckpt__perm_is_identity(const int *axes, int rank);

/*
 * Fill every file's `path` (ckpt/resolve.h): escaped components, and
 * "/@value" for a file that is also a directory of other files. With tf2
 * (an object-based checkpoint, names not kept as keys) the readable TF2
 * forms of README "TF2 checkpoints": PATH for PATH/.ATTRIBUTES/
 * VARIABLE_VALUE, VAR@slots/OPT/SLOT for a slot, PATH/@NAME for another
 * attribute; a file whose readable path clashes with another's keeps its
 * literal one. Sets p->tf2_names and each file's tf2_path.
 * Returns 0 or CKPT_ENOMEM (paths.c).
 */
int ckpt__plan_assign_paths(ckpt_plan *p, int tf2, ckpt_error *err);

/*
 * Append the shown form of one real path component c[0..n) to out (no
 * NUL): "@=" escapes (with tf2, also of a name ending in "@slots"), and
 * the "@#<hash>~<prefix>" form when the result and `reserve` more bytes
 * (".npy") would pass 255. Returns 0 or CKPT_ENOMEM.
 */
int ckpt__path_component(ckpt__buf *out, const char *c, size_t n, size_t reserve, int tf2);

/*
 * Append the shown name of file f's own last component (its variable's
 * last name, "part_<i>", or "@NAME" for a TF2 attribute), shortened as
 * ckpt__path_component does for `reserve` more bytes (npy's ".npy").
 * Returns 0 or CKPT_ENOMEM.
 */
int ckpt__path_leaf(const ckpt_plan *p, const ckpt_plan_file *f, size_t reserve, ckpt__buf *out);

/* The plan's files sorted by path, as --dry-run prints them (plan_print.c).
 * Ownership: the caller frees the array (not the files) with free(). */
const ckpt_plan_file **ckpt__plan_by_path(const ckpt_plan *p);

/* Changes file f's JSON object obj (a json_t *) before it is printed;
 * 0 or a status. */
typedef int (*ckpt__plan_json_amend)(const void *ctx, const ckpt_plan_file *f, void *obj);

/*
 * Append chunk k of ckpt_plan_to_json's text to b, for v = the files by
 * path: chunk k < n_files is file k's element with the separator before it
 * (chunk 0 also starts with "["); chunk n_files is the closing "]". The
 * chunks in order make exactly ckpt_plan_to_json's output, each element
 * after amend(ctx, file, element) when amend is not NULL (@mapping.json of
 * a format that shows files elsewhere).
 */
int ckpt__plan_json_chunk(const ckpt_plan *p, const ckpt_plan_file **v, size_t k, int pretty,
			  ckpt__plan_json_amend amend, const void *ctx, ckpt_sbuf *b,
			  ckpt_error *err);

#define CKPT__SUGGEST_MAX 3

/* One "did you mean" candidate: the first `len` bytes of name `index`. */
typedef struct ckpt__suggestion {
	size_t index;
	size_t len;
} ckpt__suggestion;

/*
 * The up to CKPT__SUGGEST_MAX names (name_at(ctx, 0..n)) closest to key
 * by edit distance, closest first, ties in input order; equal candidates
 * once. A key ending in '/' is a scope: each name is cut after as many
 * '/'-ended components as key has (names with fewer are skipped). Returns
 * how many are in out (suggest.c).
 */
size_t ckpt__suggest(const char *key, const char *(*name_at)(const void *ctx, size_t i),
		     const void *ctx, size_t n, ckpt__suggestion out[CKPT__SUGGEST_MAX]);

#endif
