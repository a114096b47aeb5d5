/*
 * ckptfs - mount a TensorFlow checkpoint, seen through an assignment map,
 * as a read-only filesystem.
 *
 * This file: parse the command line (opts.c) and run its mode: a mount
 * (mount.c) or a command that mounts nothing (cmds.c).
 */
#include <sys/resource.h>

#include "cmds.h"
#include "exitcodes.h"
#include "mount.h"
#include "opts.h"

/* Checkpoints may have more shards than the default soft limit of open
 * files; the library's descriptor pool uses at most half of what is
 * allowed, so allow what the hard limit does. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	struct ckptfs_opts o;
	raise_nofile();
	int code = ckptfs_opts_parse(argc, argv, &o);
	if (code == 0) {
		switch (o.mode) {
		case CKPTFS_MODE_MOUNT: code = ckptfs_mount(&o); break;
		case CKPTFS_MODE_LIST: code = ckptfs_cmd_list(&o); break;
		case CKPTFS_MODE_DRY_RUN: code = ckptfs_cmd_dry_run(&o); break;
		case CKPTFS_MODE_LIST_TARGETS: code = ckptfs_cmd_list_targets(&o); break;
		case CKPTFS_MODE_SHOW: code = ckptfs_cmd_show(&o); break;
		case CKPTFS_MODE_HELP:
		case CKPTFS_MODE_VERSION: code = CKPTFS_EXIT_OK; break;
		}
	}
	ckptfs_opts_free(&o);
	return code;
}
