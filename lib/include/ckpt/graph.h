/*
 * ckpt/graph.h - the variables of a TensorFlow graph (a TF1 MetaGraphDef
 * `.meta`, a SavedModel `saved_model.pb` or a SavedModel directory) as the
 * target variables of an assignment map: what init_from_checkpoint would walk
 * in "the current graph".
 *
 * The rules are spec/graph_variables.md §6: TF1 graphs give the VariableDefs
 * of their variable collections (dtype and shape from the variable's node,
 * names without ":0", parts of a TF-partitioned variable grouped into one
 * target whose files are <full_name>/part_<i>); TF2 object-graph SavedModels
 * give their SavedVariable objects named by their object-based checkpoint
 * keys (<escaped object path>/.ATTRIBUTES/VARIABLE_VALUE, slots
 * <var path>/.OPTIMIZER_SLOT/<optimizer path>/<slot>/.ATTRIBUTES/...).
 * Inputs are told apart by content, not by name. Every input is hostile.
 */
#ifndef CKPT_GRAPH_H
#define CKPT_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/error.h"
#include "ckpt/resolve.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What a variable is for (spec §6.2 step 4, §6.3 step 2). */
enum ckpt_graph_role {
	CKPT_GRAPH_MODEL = 1u,	   /* a model variable */
	CKPT_GRAPH_SLOT = 2u,	   /* an optimizer slot (S1; TF2 slot_variables) */
	CKPT_GRAPH_OPTIMIZER = 4u, /* other optimizer state (S2; TF2 optimizer/...) */
	CKPT_GRAPH_LOCAL = 8u,	   /* TF1 local/metric variable, not saved */
};

/* Default selection: model variables only (spec §6.4). */
#define CKPT_GRAPH_DEFAULT_ROLES CKPT_GRAPH_MODEL
/* --all: every role except local. */
#define CKPT_GRAPH_ALL_ROLES (CKPT_GRAPH_MODEL | CKPT_GRAPH_SLOT | CKPT_GRAPH_OPTIMIZER)

typedef struct ckpt_graph_opts {
	const char *tag; /* SavedModel tag; NULL: "serve", else the only graph */
	unsigned roles;	 /* ckpt_graph_role mask; 0 = CKPT_GRAPH_DEFAULT_ROLES */
} ckpt_graph_opts;

#define CKPT_GRAPH_OPTS_INIT                                                                       \
	{                                                                                          \
		NULL, 0                                                                            \
	}

enum ckpt_graph_kind {
	CKPT_GRAPH_TF1 = 1, /* variables from collections */
	CKPT_GRAPH_TF2 = 2, /* variables from the SavedObjectGraph */
};

/*
 * One variable of the graph. `v` is the target: name, dtype, shape,
 * partitions. Unlike targets read from JSON, a graph may leave a shape
 * unknown: rank -1 (unknown rank) or a dimension -1; the resolver then takes
 * the checkpoint tensor's shape (TF's is_compatible_with).
 */
typedef struct ckpt_graph_var {
	ckpt_target_var v;
	char *checkpoint_key; /* the key the graph's own saver writes */
	unsigned role;	      /* one ckpt_graph_role */
	int trainable;
} ckpt_graph_var;

typedef struct ckpt_graph {
	int kind;    /* ckpt_graph_kind */
	char **tags; /* tags of the MetaGraphDef used */
	size_t n_tags;
	ckpt_graph_var *vars; /* the selected variables, in graph order */
	size_t n_vars;
	size_t n_all;	 /* variables before the role selection */
	char **warnings; /* W1-W3 of the spec, one line each */
	size_t n_warnings;
} ckpt_graph;

/*
 * Read the graph at `path` (file or SavedModel directory). o may be NULL.
 * Errors carry the spec's texts (§6.5): CKPT_ENOTFOUND for a missing file,
 * CKPT_EUNSUPPORTED for text-format/chunked/unknown inputs, CKPT_ECORRUPT
 * for undecodable protos, CKPT_EINVAL for a tag that is not there or a
 * graph whose variables contradict each other.
 * Ownership: free *out with ckpt_graph_free().
 */
int ckpt_graph_open(const char *path, const ckpt_graph_opts *o, ckpt_graph **out, ckpt_error *err);

/* The same on bytes in memory; `name` is used in messages. */
int ckpt_graph_parse(const uint8_t *data, size_t len, const char *name, const ckpt_graph_opts *o,
		     ckpt_graph **out, ckpt_error *err);

void ckpt_graph_free(ckpt_graph *g);

/* Non-zero when `path` is a directory or a file that is not JSON (its
 * first non-blank byte is not '{' or '['): what --targets hands to the
 * graph reader. */
int ckpt_graph_sniff(const char *path);

/*
 * The graph's selected variables as targets (as ckpt_targets_load_file
 * gives them). Ownership: free *out with ckpt_targets_free(*out, *n).
 */
int ckpt_graph_load_targets(const char *path, const ckpt_graph_opts *o, ckpt_target_var **out,
			    size_t *n, ckpt_error *err);

/*
 * Move the selected variables of g out as targets (for a caller that also
 * reads g's warnings); g keeps its other fields and is still freed with
 * ckpt_graph_free(). Ownership: free *out with ckpt_targets_free(*out, *n).
 */
int ckpt_graph_take_targets(ckpt_graph *g, ckpt_target_var **out, size_t *n, ckpt_error *err);

/*
 * The target list as the JSON --targets reads:
 * {"variables": [{"name", "dtype", "shape", "partitions"}, ...]}; an
 * unknown rank is "shape": null, an unknown dimension -1; "partitions" only
 * for partitioned variables, "perm" only for permuted ones. Ownership:
 * free *out with free().
 */
int ckpt_targets_to_json(const ckpt_target_var *t, size_t n, char **out, ckpt_error *err);

#ifdef __cplusplus
}
#endif
#endif
