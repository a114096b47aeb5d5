/* ckptfs command line: the options every mode shares, and loading. */
#ifndef CKPTFS_CLI_H
#define CKPTFS_CLI_H

#include <stddef.h>

#include "ckpt/graph.h"
#include "ckpt/reader.h"
#include "ckpt/resolve.h"
#include "ckpt/store_remote.h"
#include "ops.h"

enum ckptfs_format { CKPTFS_FORMAT_RAW, CKPTFS_FORMAT_NPY, CKPTFS_FORMAT_TF };

/* Options of a CHECKPOINT that is a URL (remote.c). */
struct ckptfs_remote {
	ckpt_remote_opts o; /* headers and ca_file set from the fields below */
	char *headers[32];  /* owned; may hold tokens: never printed */
	size_t n_headers;
	char *ca_file;	 /* owned */
	char *cache_dir; /* owned */
};

struct ckptfs_opts {
	/* map options */
	ckpt_map_entry *entries;
	size_t n_entries;
	ckpt_target_var *targets;
	size_t n_targets;
	int have_targets;
	char *targets_path; /* owned; loaded after the command line (--tag etc.) */
	char *tag;	    /* owned; graph.tag points at it */
	ckpt_graph_opts graph;
	ckpt_cast casts[64];
	size_t n_casts;
	int strict;
	/* mount options */
	enum ckptfs_format format;
	enum ckptfs_verify verify;
	int foreground, debug, single_thread;
	int no_xattr;	 /* --xattr off: no user.ckpt.* (ls -l asks per file) */
	char *fuse_opts; /* -o options passed on to FUSE, comma-joined */
	struct ckptfs_remote remote;
};

/* A checkpoint opened and resolved through the map options. */
struct ckptfs_loaded {
	ckpt_reader *r;
	ckpt_store *store; /* a URL's remote store (NULL: the reader's own) */
	ckpt_tensor *tensors;
	ckpt_plan *plan;
};

/* remote.c: is key a remote option; apply one (0 or an exit code). */
int ckptfs_remote_is_option(const char *key);
int ckptfs_remote_option(struct ckptfs_remote *r, const char *key, const char *val);
void ckptfs_remote_free(struct ckptfs_remote *r);

/* Open CHECKPOINT path: a URL through a remote store (*store, freed by the
 * caller after the reader), else a local path (*store NULL). */
int ckptfs_open_reader(const char *path, const struct ckptfs_opts *m, ckpt_reader **r,
		       ckpt_store **store, ckpt_error *err);

/* Open and resolve; 0 or an exit code (the message is printed). */
int ckptfs_load(const char *path, const struct ckptfs_opts *o, struct ckptfs_loaded *l);
void ckptfs_unload(struct ckptfs_loaded *l);

/* Mount mode (mount.c); returns the exit code. */
int ckptfs_mount(const char *path, const char *mountpoint, const struct ckptfs_opts *o);

#endif
