/* ckptfs FUSE operations: thin glue that asks the view (lib/). */
#ifndef CKPTFS_OPS_H
#define CKPTFS_OPS_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <sys/types.h>
#include <time.h>

#include "ckpt/view.h"
#include "opts.h"

struct ckptfs_checks;

/* Everything the handlers need; immutable while mounted but for the
 * --verify=read state, which op_init makes and op_destroy frees. */
struct ckptfs {
	const ckpt_view *view;
	enum ckptfs_verify verify;
	uid_t uid;
	gid_t gid;
	mode_t umask;	       /* cleared from 0755 (directories) and 0644 (files) */
	struct timespec mtime; /* the checkpoint's .index modification time */
	double timeout;	       /* entry/attr cache seconds */
	int no_xattr;	       /* answer ENOSYS: the kernel stops asking */
	/* the session, set before its loop runs: the kernel's cached pages
	 * of a file whose sources failed their checksum are invalidated
	 * through it (none when NULL) */
	struct fuse_session *se;
	/* init with pthread_mutex_init: guards the invalidating thread */
	pthread_mutex_t lock;
	int splice;		      /* the kernel takes spliced replies */
	int local;		      /* set before mounting: the data is local files */
	int direct_io;		      /* files are opened direct_io (op_init) */
	struct ckptfs_checks *checks; /* --verify=read (ops.c) */
};

/* The lowlevel operation table; userdata is a struct ckptfs. */
extern const struct fuse_lowlevel_ops ckptfs_ops;

#endif
