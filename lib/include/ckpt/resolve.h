/*
 * ckpt/resolve.h - the assignment map of tf.compat.v1.train.init_from_checkpoint
 * turned into a plan: which file of the mount gets which bytes of which
 * checkpoint tensor, in which dtype.
 *
 * The rules are spec/init_from_checkpoint_semantics.md §3-§8 and §11 (TF 1.15
 * core = TF 2.x): entries are processed in ascending key order, each entry is
 * either one-to-one (its value names a target variable, or the parts of a
 * partitioned one) or a scope entry that walks the target variables the way
 * TF walks its variable store (partitions collapsed at the first "/part_").
 * Every ValueError TF raises while building the graph is raised here with
 * TF's text; the errors TF only raises when the initializers run (RestoreV2's
 * dtype and shape_and_slice checks, missing slices, the assign's shape check)
 * are found here too, with TF's text, after all entries were processed.
 *
 * Parsing of the command-line forms (--map, --map-file, --targets, --cast)
 * is declared here too (lib/src/map/mapfile.c).
 */
#ifndef CKPT_RESOLVE_H
#define CKPT_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/dtype.h"
#include "ckpt/error.h"
#include "ckpt/reader.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Largest rank accepted anywhere (TensorShape's kMaxDims). */
#define CKPT_RESOLVE_MAX_RANK 254
/* Largest partition count of one target variable (our bound, not TF's). */
#define CKPT_RESOLVE_MAX_PARTS 65536

/*
 * One assignment-map entry, `ckpt` -> `target`.
 * `ckpt` is a checkpoint tensor name or a scope ("old/", "/"). The value is
 * either a name (`target`, a variable name or a scope) or, when
 * `target_list` is not NULL, an explicit list of target variable names (TF's
 * "list of variables", e.g. the parts of a partitioned variable); then
 * `target` is NULL. The list form needs explicit target variables.
 */
typedef struct ckpt_map_entry {
	char *ckpt;
	char *target;
	char **target_list;
	size_t n_target_list;
} ckpt_map_entry;

/*
 * A target variable ("the current graph"). dims has rank entries (all
 * known, >= 0). partitions is NULL (not partitioned) or rank counts as a
 * TF partitioner returns them ([5, 1], [1, 4]): then the variable is stored
 * as parts `<name>/part_<i>` (spec slices_and_partitions.md §3).
 * perm is NULL or rank axes, a permutation of 0..rank-1 as
 * numpy.transpose takes it: the variable is its source tensor transposed,
 * its axis d being the source's axis perm[d]. dims (and partitions) are
 * the variable's own, i.e. of the permuted tensor.
 */
typedef struct ckpt_target_var {
	char *name;
	ckpt_dtype dtype;
	int rank;
	int64_t *dims;
	int64_t *partitions;
	int *perm;
} ckpt_target_var;

/* --cast FROM=TO. */
typedef struct ckpt_cast {
	ckpt_dtype from;
	ckpt_dtype to;
} ckpt_cast;

/*
 * --perm NAME=AXES: give target variable NAME (or, when NAME ends in '/',
 * every target variable under that scope whose rank is `rank` and whose
 * dtype is not string or variant; "/" is every target) the permutation
 * axes[0..rank) (see ckpt_target_var.perm). An exact NAME beats a scope,
 * a longer scope a shorter one; a rule replaces a "perm" of --targets.
 */
typedef struct ckpt_perm_rule {
	char *name;
	int rank;
	int *axes;
} ckpt_perm_rule;

/*
 * Optional geometry of stored slices: piece p of tensor i (the reader's
 * ckpt_reader_piece()). With it the resolver replicates RestoreV2's
 * "Does not have sufficient slices" check and, under strict, its
 * "Dtype <x> not supported." for re-slicing; without it those checks are
 * made only where the tensor's own fields decide them.
 */
typedef const ckpt_piece *(*ckpt_piece_fn)(void *ctx, size_t tensor, size_t piece);

typedef struct ckpt_resolve_opts {
	const ckpt_map_entry *entries; /* none = identity, {'/': '/'} (or as_is) */
	size_t n_entries;
	const ckpt_target_var *targets; /* NULL = infer from the checkpoint */
	size_t n_targets;
	const ckpt_cast *casts;
	size_t n_casts;
	int strict;	       /* TF exactly: no re-typing */
	const char *ckpt_path; /* as the user gave it; only used in messages */
	ckpt_piece_fn piece;   /* optional, see above */
	void *piece_ctx;
	/* 1: no map at all, not even TF's {'/': '/'}: every checkpoint tensor
	 * is one file under its own name, with its dtype (after casts) and
	 * shape, so names holding "/part_" or ending in '/' (which TF's scope
	 * walk cuts or strips) are kept. Needs no entries and no targets. */
	int as_is;
	/* 1: paths show target names as they are also in an object-based
	 * (TF2) checkpoint (-o names=key); 0: readably (ckpt_plan.tf2_names). */
	int names_key;
	/* --perm rules, applied to the target variables (given or inferred)
	 * before the map is processed. A rule that matches no variable is a
	 * plan warning; an exact NAME whose variable has another rank, or a
	 * string or variant dtype, is an error. */
	const ckpt_perm_rule *perms;
	size_t n_perms;
} ckpt_resolve_opts;

#define CKPT_RESOLVE_OPTS_INIT                                                                     \
	{                                                                                          \
		NULL, 0, NULL, 0, NULL, 0, 0, "", NULL, NULL, 0, 0, NULL, 0                        \
	}

/* One file of the mount. The five int64 arrays (shape, start, length,
 * var_shape, var_start) are one allocation owned through `shape`. */
typedef struct ckpt_plan_file {
	char *var;	  /* target variable ("new/w") */
	char *file;	  /* "new/w" or "new/w/part_3" */
	char *path;	  /* where the file is in the mount: `file` with each
			   * component that is empty, ".", ".." or starts
			   * with '@' written "@=" + component, and
			   * "/@value" appended when other files live
			   * below it (DESIGN.md, "The tree") */
	int part;	  /* part index, -1 for a whole variable */
	ckpt_dtype dtype; /* target dtype (after casts) */
	int rank;
	int64_t *shape; /* rank entries: the file's shape (the part's) */
	size_t source;	/* index into the tensors given to ckpt_resolve */
	char *source_name;
	ckpt_dtype source_dtype;
	int64_t *start; /* rank entries: the slice within the source */
	int64_t *length;
	char *spec; /* TF's shape_and_slice, "" for a whole tensor */
	uint64_t num_elements;
	uint64_t size;	    /* bytes in the target dtype; 0 if !size_known */
	int size_known;	    /* 0 for strings: the view computes their size */
	int64_t *var_shape; /* rank entries: the target variable's full shape
			     * (= shape unless this is a part) */
	int64_t *var_start; /* rank entries: where the file sits in the
			     * variable (zeros unless a part) */
	int tf2_path;	    /* 1: `path` is the readable TF2 form of `var`
			     * (see ckpt_plan.tf2_names) */
	/* NULL, or rank axes (never the identity): the variable is the
	 * source transposed (ckpt_target_var.perm), so file axis d runs along
	 * source axis perm[d]. shape, var_shape, var_start and spec are the
	 * variable's (permuted); start and length stay the box of the source
	 * tensor the file's elements come from (start[perm[d]] and
	 * length[perm[d]] for file axis d). Owned by the plan. */
	int *perm;
} ckpt_plan_file;

typedef struct ckpt_plan {
	ckpt_plan_file *files; /* sorted by var, then part */
	size_t n_files;
	/* What TF passes silently, one sentence each, for the caller to
	 * show (or refuse): every map entry that matched nothing, then
	 * (explicit targets only) every target variable no entry gave a
	 * source, each with a "did you mean" of the closest names. */
	char **warnings;
	size_t n_warnings;
	/* 1: the checkpoint is object-based (it holds
	 * _CHECKPOINTABLE_OBJECT_GRAPH) and names were not kept as keys: a
	 * target PATH/.ATTRIBUTES/VARIABLE_VALUE is shown at PATH, a slot
	 * VAR/.OPTIMIZER_SLOT/OPT/SLOT/.ATTRIBUTES/VARIABLE_VALUE at
	 * VAR@slots/OPT/SLOT, PATH/.ATTRIBUTES/NAME at PATH/@NAME, and a real
	 * component ending in "@slots" is escaped "@=" (README "TF2
	 * checkpoints"; a path that would clash stays literal). */
	int tf2_names;
} ckpt_plan;

/*
 * Resolve the map over the checkpoint's tensors (tensors[0..n), in any
 * order; names unique). Without explicit targets, every checkpoint tensor a
 * map entry reaches becomes a target variable under its mapped name with
 * the checkpoint's dtype and shape, and TF's rules then run over those
 * variables. Returns 0, CKPT_EINVAL with TF's text (or ours where TF has
 * none) in err->msg, CKPT_ERANGE for sizes that overflow, CKPT_ENOMEM.
 * A TF error naming a missing tensor gets a second line (after '\n'): the
 * checkpoint's closest names.
 * Ownership: on success the caller frees *out with ckpt_plan_free(); on
 * failure *out is NULL.
 */
int ckpt_resolve(const ckpt_resolve_opts *o, const ckpt_tensor *tensors, size_t n, ckpt_plan **out,
		 ckpt_error *err);

/*
 * Levenshtein distance (bytes) of a[0..la) and b[0..lb), each compared by
 * its first 256 bytes, or `limit` as soon as it is known to be at least
 * that (for "did you mean" searches; SIZE_MAX for no limit).
 */
size_t ckpt_edit_distance(const char *a, size_t la, const char *b, size_t lb, size_t limit);

/* Frees a plan. NULL is fine. */
void ckpt_plan_free(ckpt_plan *p);

#define CKPT_PLAN_JSON_PRETTY 1u

/*
 * The plan as JSON, a list sorted by path:
 * [{"path", "name", "dtype", "shape", "source", "source_dtype", "slice",
 *   "size"}, ...]; "slice" is "" for a whole tensor, "size" is null for
 * strings; a permuted file also has "perm": [1, 0] after "size".
 * flags: CKPT_PLAN_JSON_PRETTY for indented output.
 * Ownership: the caller frees *out with ckpt_plan_string_free().
 */
int ckpt_plan_to_json(const ckpt_plan *p, unsigned flags, char **out, ckpt_error *err);

/*
 * The plan as text, one line per file:
 *   PATH TAB DTYPE TAB SHAPE TAB SIZE TAB "<-" TAB SOURCE TAB SOURCE_DTYPE
 *   [TAB SLICE] [TAB "perm=" AXES]
 * SHAPE is "[100,100]", SIZE is bytes or "?" for strings, SLICE (only for a
 * slice of the source) is the shape_and_slice text, AXES (only
 * for a permuted file) is "1,0". In names, backslash,
 * TAB, newline, CR and other control bytes are written as \\ \t \n \r
 * \xNN.
 * Ownership: the caller frees *out with ckpt_plan_string_free().
 */
int ckpt_plan_to_text(const ckpt_plan *p, char **out, ckpt_error *err);

void ckpt_plan_string_free(char *s);

/* ---- command-line forms (lib/src/map/mapfile.c) ---- */

/*
 * Append one `--map CKPT=TARGET` to *entries, *n. The split is at the LAST
 * '=': a target is a TF variable name, which can never contain '=', while
 * a checkpoint key written by TF2's object-based saver may (a tracked
 * dict's key is used as is). Both sides must be non-empty.
 * Ownership: free the array with ckpt_map_entries_free().
 */
int ckpt_map_parse_arg(const char *arg, ckpt_map_entry **entries, size_t *n, ckpt_error *err);

/*
 * Append the entries of a --map-file: a JSON object {"ckpt": "target", ...}
 * (file order; repeated keys rejected) or an array of ["ckpt", "target"]
 * pairs (repeated keys allowed, as TF 2.x). A value may also be an array of
 * target variable names (the list form). Bad JSON: "FILE:LINE:COL: what was
 * expected". Ownership: free with ckpt_map_entries_free().
 */
int ckpt_map_load_file(const char *path, ckpt_map_entry **entries, size_t *n, ckpt_error *err);

void ckpt_map_entries_free(ckpt_map_entry *entries, size_t n);

/*
 * The entries as compact JSON that ckpt_map_load_file reads back to the
 * same entries: an array of ["ckpt", "target"] pairs (a list value as an
 * array of names), in order. CKPT_EINVAL when a name is not UTF-8.
 * Ownership: the caller frees *out with ckpt_plan_string_free().
 */
int ckpt_map_to_json(const ckpt_map_entry *entries, size_t n, char **out, ckpt_error *err);

/*
 * Load --targets FILE: {"variables": [{"name", "dtype", "shape",
 * "partitions"?, "perm"?}, ...]} or the bare list. Unknown keys are
 * ignored. The partitions are checked with TF's partitioner texts (spec
 * slices_and_partitions.md §3), prefixed with the file and variable; a
 * perm must be a permutation of the shape's axes (null: none).
 * Ownership: on success free *out with ckpt_targets_free(*out, *n).
 */
int ckpt_targets_load_file(const char *path, ckpt_target_var **out, size_t *n, ckpt_error *err);

void ckpt_targets_free(ckpt_target_var *t, size_t n);

/*
 * Parse `--cast FROM=TO` ("float32=bfloat16"; C++ names work too). Both
 * must be numeric, or both string.
 */
int ckpt_cast_parse_arg(const char *arg, ckpt_cast *out, ckpt_error *err);

/*
 * Append one `--perm NAME=AXES` to *rules, *n: split at the last '=';
 * AXES is a permutation of 0..k-1 written "1,0" (or "1:0", for -o lists,
 * where ',' separates options); empty for a scalar. NAME is non-empty.
 * Ownership: free the array with ckpt_perm_rules_free().
 */
int ckpt_perm_parse_arg(const char *arg, ckpt_perm_rule **rules, size_t *n, ckpt_error *err);

void ckpt_perm_rules_free(ckpt_perm_rule *rules, size_t n);

#ifdef __cplusplus
}
#endif
#endif
