/* The commands that mount nothing: --list (--stats), --dry-run, --list-targets,
 * --show. */
#ifndef CKPTFS_CMDS_H
#define CKPTFS_CMDS_H

#include "opts.h"

/* Each prints to stdout and returns the exit code (errors printed). */
int ckptfs_cmd_list(const struct ckptfs_opts *o);
int ckptfs_cmd_dry_run(struct ckptfs_opts *o);
int ckptfs_cmd_list_targets(const struct ckptfs_opts *o);
int ckptfs_cmd_show(const struct ckptfs_opts *o);

#endif
