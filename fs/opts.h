/* ckptfs command line: the options of every mode, parsed and checked. */
#ifndef CKPTFS_OPTS_H
#define CKPTFS_OPTS_H

#include <stddef.h>
#include <sys/types.h>

#include "ckpt/graph.h"
#include "ckpt/resolve.h"
#include "ckpt/store_remote.h"

enum ckptfs_mode {
	CKPTFS_MODE_MOUNT,
	CKPTFS_MODE_LIST,	  /* --list */
	CKPTFS_MODE_DRY_RUN,	  /* --dry-run */
	CKPTFS_MODE_LIST_TARGETS, /* --list-targets */
	CKPTFS_MODE_SHOW,	  /* --show NAME */
	CKPTFS_MODE_HELP,	  /* -h: the usage is printed */
	CKPTFS_MODE_VERSION,	  /* -V: the version is printed */
};

enum ckptfs_format {
	CKPTFS_FORMAT_RAW,
	CKPTFS_FORMAT_NPY,
	CKPTFS_FORMAT_TF,
	CKPTFS_FORMAT_SAFETENSORS
};
enum ckptfs_verify { CKPTFS_VERIFY_NONE, CKPTFS_VERIFY_READ, CKPTFS_VERIFY_MOUNT };

/* Seconds a SIGTERM waits for open files by default (--term_wait). */
#define CKPTFS_TERM_WAIT 5

/* Options of a CHECKPOINT that is a URL (remote.c). */
struct ckptfs_remote {
	ckpt_remote_opts o; /* headers and ca_file set from the fields below */
	char *headers[32];  /* owned; may hold tokens: never printed */
	size_t n_headers;
	char *ca_file;	 /* owned */
	char *cache_dir; /* owned */
};

struct ckptfs_opts {
	enum ckptfs_mode mode;
	int json;
	const char *checkpoint; /* CHECKPOINT or GRAPH (argv) */
	const char *mountpoint; /* argv; mount mode only */
	const char *show_name;	/* --show NAME (argv) */
	int stats;		/* --list --stats */
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
	int names_key;	       /* --names key: TF2 keys as they are, not readably */
	ckpt_perm_rule *perms; /* --perm */
	size_t n_perms;
	/* mount options */
	enum ckptfs_format format;
	char key_sep; /* --key-sep: safetensors keys' '/' (0: as is) */
	enum ckptfs_verify verify;
	int foreground, debug, single_thread;
	/* -o uid=, gid=, umask=: the owner and modes stat shows (the kernel
	 * checks them); without uid= / gid=, the mounting user's */
	int have_uid, have_gid;
	uid_t uid;
	gid_t gid;
	mode_t umask; /* cleared from 0755 (directories) and 0644 (files) */
	/* -o max_threads=, max_idle_threads=: the session loop's (0: 16, 8) */
	unsigned max_threads, max_idle_threads;
	int no_xattr;	 /* --xattr off: no user.ckpt.* (ls -l asks per file) */
	char *fuse_opts; /* -o options passed on to FUSE, comma-joined (escaped) */
	char *log_file;	 /* owned; --log / -o log=: the daemon's log lines go there */
	int term_wait;	 /* --term_wait: seconds a signal waits for open files */
	struct ckptfs_remote remote;
};

/*
 * Parse argv into *o (zeroed first) and check that the options fit the
 * mode. Returns 0, or an exit code after printing one line (a usage error
 * ends in "try 'ckptfs --help'"); -h and -V print and set the mode.
 * Ownership: free with ckptfs_opts_free(), also after a failure.
 */
int ckptfs_opts_parse(int argc, char **argv, struct ckptfs_opts *o);
void ckptfs_opts_free(struct ckptfs_opts *o);

/* remote.c: is key a remote option; apply one (0 or an exit code). */
int ckptfs_remote_is_option(const char *key);
int ckptfs_remote_option(struct ckptfs_remote *r, const char *key, const char *val);
void ckptfs_remote_free(struct ckptfs_remote *r);

#endif
