/* ckptfs FUSE operations: thin glue that asks the view (lib/). */
#ifndef CKPTFS_OPS_H
#define CKPTFS_OPS_H

#include <fuse_lowlevel.h>
#include <pthread.h>
#include <sys/types.h>
#include <time.h>

#include "ckpt/view.h"

enum ckptfs_verify { CKPTFS_VERIFY_NONE, CKPTFS_VERIFY_READ, CKPTFS_VERIFY_MOUNT };

struct ckptfs_handle;

/* Everything the handlers need; immutable while mounted, but for the list
 * of open file handles. */
struct ckptfs {
	const ckpt_view *view;
	enum ckptfs_verify verify;
	uid_t uid;
	gid_t gid;
	struct timespec mtime; /* the checkpoint's .index modification time */
	double timeout;	       /* entry/attr cache seconds */
	int no_xattr;	       /* answer ENOSYS: the kernel stops asking */
	/* open files: the kernel sends no release for those still open when
	 * the daemon ends (SIGTERM, lazy unmount); ckptfs_free_handles frees
	 * them. Init the lock with pthread_mutex_init, handles = NULL. */
	pthread_mutex_t lock;
	struct ckptfs_handle *handles;
	int splice; /* the kernel takes spliced replies */
};

/* Free the handles never released; only once the session loop has ended. */
void ckptfs_free_handles(struct ckptfs *fs);

/* The lowlevel operation table; userdata is a struct ckptfs. */
extern const struct fuse_lowlevel_ops ckptfs_ops;

/* The ckpt_status -> errno mapping used for every reply. */
int ckptfs_errno(int status);

#endif
