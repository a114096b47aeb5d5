/* Opening a CHECKPOINT and resolving it through the map options: what
 * --dry-run prints and a mount serves. */
#ifndef CKPTFS_LOAD_H
#define CKPTFS_LOAD_H

#include "ckpt/graph.h"
#include "ckpt/reader.h"
#include "ckpt/resolve.h"
#include "ckpt/store.h"
#include "opts.h"

/* A checkpoint opened and resolved through the map options. */
struct ckptfs_loaded {
	ckpt_reader *r;
	ckpt_store *store;	    /* a URL's remote store (NULL: the reader's own) */
	const ckpt_tensor *tensors; /* the reader's */
	ckpt_plan *plan;
};

/* Open CHECKPOINT path: a URL through a remote store (*store, freed by the
 * caller after the reader), else a local path (*store NULL). remote.c. */
int ckptfs_open_reader(const char *path, const struct ckptfs_opts *m, ckpt_reader **r,
		       ckpt_store **store, ckpt_error *err);

/* The graph reader's warnings (spec W1-W3), one line each on stderr. */
void ckptfs_print_warnings(const ckpt_graph *g);

/* --targets FILE (JSON or a graph, whose warnings are printed) into
 * m->targets; 0 or an exit code (the message is printed). */
int ckptfs_load_targets(struct ckptfs_opts *m);

/* Open and resolve; 0 or an exit code (the message is printed).
 * Ownership: release *l with ckptfs_unload() when 0 is returned. */
int ckptfs_load(const char *path, const struct ckptfs_opts *o, struct ckptfs_loaded *l);
void ckptfs_unload(struct ckptfs_loaded *l);

#endif
