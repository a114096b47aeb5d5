/*
 * Mount mode: everything about the checkpoint, map and mountpoint is
 * checked before mounting; then the session is mounted, the process
 * daemonizes (unless -f) only once the mount is usable, and SIGTERM/SIGINT
 * end the loop and unmount cleanly.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "exitcodes.h"
#include "ops.h"

/* The mountpoint must be an existing, empty directory. */
static int check_mountpoint(const char *mnt)
{
	struct stat st;
	if (stat(mnt, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "ckptfs: mountpoint %s: %s\n", mnt,
			errno && !S_ISDIR(st.st_mode) ? strerror(errno) : "not a directory");
		return CKPTFS_EXIT_MOUNT;
	}
	DIR *d = opendir(mnt);
	if (d == NULL) {
		fprintf(stderr, "ckptfs: mountpoint %s: %s\n", mnt, strerror(errno));
		return CKPTFS_EXIT_MOUNT;
	}
	struct dirent *e;
	int empty = 1;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			empty = 0;
	closedir(d);
	if (!empty) {
		fprintf(stderr, "ckptfs: mountpoint %s is not empty\n", mnt);
		return CKPTFS_EXIT_MOUNT;
	}
	return 0;
}

/* --verify=mount: check every piece before mounting, with progress. */
static int verify_all(const ckpt_view *v)
{
	size_t n = ckpt_view_count(v);
	int tty = isatty(STDERR_FILENO);
	for (uint32_t id = 0; id < n; id++) {
		ckpt_error err = CKPT_ERROR_INIT;
		if (tty && (id % 64 == 0 || id + 1 == n))
			fprintf(stderr, "\rckptfs: verifying %u/%zu files", id + 1, n);
		if (ckpt_view_verify(v, id, &err)) {
			fprintf(stderr, "%sckptfs: %s\n", tty ? "\n" : "", err.msg);
			return CKPTFS_EXIT_DATAERR;
		}
	}
	if (tty)
		fputc('\n', stderr);
	return 0;
}

int ckptfs_mount(const char *path, const char *mnt, const struct ckptfs_opts *o)
{
	struct ckptfs_loaded l;
	ckpt_view *view = NULL;
	ckpt_error err = CKPT_ERROR_INIT;
	struct fuse_session *se = NULL;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	int code = check_mountpoint(mnt);

	if (code)
		return code;
	code = ckptfs_load(path, o, &l);
	if (code)
		return code;
	enum ckpt_view_format vf = o->format == CKPTFS_FORMAT_NPY  ? CKPT_VIEW_NPY
				   : o->format == CKPTFS_FORMAT_TF ? CKPT_VIEW_TF
								   : CKPT_VIEW_RAW;
	int rc = ckpt_view_build_format(&view, l.r, l.plan, vf, &err);
	if (rc) {
		fprintf(stderr, "ckptfs: %s\n", err.msg);
		code = rc == CKPT_ENOMEM ? CKPTFS_EXIT_SOFTWARE : ckptfs_exit_code(rc);
		goto out;
	}
	if (o->verify == CKPTFS_VERIFY_MOUNT && (code = verify_all(view)) != 0)
		goto out;

	struct ckptfs fs = {.view = view,
			    .verify = o->verify,
			    .uid = getuid(),
			    .gid = getgid(),
			    .timeout = 86400.0,
			    .no_xattr = o->no_xattr};
	if (pthread_mutex_init(&fs.lock, NULL) != 0) {
		code = CKPTFS_EXIT_SOFTWARE;
		goto out;
	}
	char idx[4200];
	struct stat st;
	snprintf(idx, sizeof(idx), "%s.index", ckpt_reader_path(l.r));
	if (stat(idx, &st) == 0 || stat(ckpt_reader_path(l.r), &st) == 0)
		fs.mtime = st.st_mtim;

	if (fuse_opt_add_arg(&args, "ckptfs") || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, "ro,default_permissions,fsname=ckptfs,subtype=ckptfs") ||
	    (o->fuse_opts &&
	     (fuse_opt_add_arg(&args, "-o") || fuse_opt_add_arg(&args, o->fuse_opts))) ||
	    (o->debug && fuse_opt_add_arg(&args, "-d"))) {
		code = CKPTFS_EXIT_SOFTWARE;
		goto out;
	}
	se = fuse_session_new(&args, &ckptfs_ops, sizeof(ckptfs_ops), &fs);
	if (se == NULL) {
		fprintf(stderr, "ckptfs: bad FUSE options: %s\n", o->fuse_opts ? o->fuse_opts : "");
		code = CKPTFS_EXIT_USAGE;
		goto out;
	}
	fs.se = se;
	if (fuse_set_signal_handlers(se) != 0) {
		code = CKPTFS_EXIT_SOFTWARE;
		goto out_session;
	}
	if (fuse_session_mount(se, mnt) != 0) {
		fprintf(stderr, "ckptfs: cannot mount on %s\n", mnt);
		code = CKPTFS_EXIT_MOUNT;
		goto out_signals;
	}
	/* the mount is usable now; only then does the parent return */
	if (fuse_daemonize(o->foreground) != 0) {
		code = CKPTFS_EXIT_SOFTWARE;
		goto out_unmount;
	}
	if (o->single_thread) {
		rc = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();
		if (cfg == NULL) {
			code = CKPTFS_EXIT_SOFTWARE;
			goto out_unmount;
		}
		fuse_loop_cfg_set_clone_fd(cfg, 1);
		fuse_loop_cfg_set_max_threads(cfg, 16);
		fuse_loop_cfg_set_idle_threads(cfg, 8);
		rc = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	code = rc < 0 ? CKPTFS_EXIT_SOFTWARE : CKPTFS_EXIT_OK;
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out:
	fuse_opt_free_args(&args);
	ckpt_view_free(view);
	ckptfs_unload(&l);
	return code;
}
