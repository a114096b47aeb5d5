/* Mount mode. */
#ifndef CKPTFS_MOUNT_H
#define CKPTFS_MOUNT_H

#include "opts.h"

/* Read o->targets_path, load o->checkpoint, mount it on o->mountpoint and
 * serve; returns the exit code (errors printed). */
int ckptfs_mount(struct ckptfs_opts *o);

#endif
