/*
 * Mount mode: everything about the checkpoint, map and mountpoint is
 * checked before mounting; then the session is mounted, the process
 * daemonizes (unless -f) and the command returns only once the daemon is
 * serving (the kernel's FUSE_INIT reached a session worker); a daemon that
 * fails before that unmounts and the command fails. SIGTERM/SIGINT end
 * the loop and unmount cleanly.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exitcodes.h"
#include "initext.h"
#include "load.h"
#include "mount.h"
#include "ops.h"

/* The mountpoint must be an existing, empty directory. */
static int check_mountpoint(const char *mnt)
{
	struct stat st;
	if (stat(mnt, &st) != 0) {
		fprintf(stderr, "ckptfs: mountpoint %s: %s\n", mnt, strerror(errno));
		return CKPTFS_EXIT_MOUNT;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "ckptfs: mountpoint %s: not a directory\n", mnt);
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

/*
 * Readiness. The daemon serves once the kernel's FUSE_INIT (queued at
 * mount) has been handled: the loop hands every request, INIT first, to a
 * worker thread it created, so INIT proves the loop runs. Until then
 * libfuse's error lines are held (fuse_held) and our one-line message
 * carries the last one; a daemon's caller is told through ready_fd.
 */
static atomic_int serving;
static int ready_fd = -1;   /* daemon: the pipe's write end to the parent */
static int devnull_fd = -1; /* daemon: becomes stderr once serving */
static char fuse_held[256];
static size_t held_len;
static int held_ended; /* the held line is complete: the next one replaces it */

static void log_fuse(enum fuse_log_level level, const char *fmt, va_list ap)
{
	if (level > FUSE_LOG_ERR || atomic_load(&serving)) {
		vfprintf(stderr, fmt, ap);
		return;
	}
	/* libfuse writes some lines in pieces: keep the last whole line */
	if (held_ended)
		held_len = 0;
	vsnprintf(fuse_held + held_len, sizeof(fuse_held) - held_len, fmt, ap);
	held_len += strlen(fuse_held + held_len);
	held_ended = held_len > 0 && fuse_held[held_len - 1] == '\n';
	for (char *p = fuse_held; (p = strchr(p, '\n')) != NULL;)
		*p = held_ended && p == fuse_held + held_len - 1 ? '\0' : ' ';
	if (held_ended)
		held_len--;
}

/* One line: "ckptfs: WHAT" and libfuse's last held error, if any. */
static void fail_line(const char *what, const char *arg)
{
	fprintf(stderr, "ckptfs: %s%s%s%s\n", what, arg, fuse_held[0] ? ": " : "", fuse_held);
}

static void op_init_ready(void *userdata, struct fuse_conn_info *conn)
{
	ckptfs_ops.init(userdata, conn);
	atomic_store(&serving, 1);
	if (ready_fd >= 0) {
		/* the caller's stderr is let go before the caller returns */
		dup2(devnull_fd, STDERR_FILENO);
		ssize_t n;
		do
			n = write(ready_fd, "", 1);
		while (n < 0 && errno == EINTR);
		close(ready_fd);
		ready_fd = -1;
	}
}

/* Run the session loop; 0 once it served and ended, or an exit code. */
static int serve(struct fuse_session *se, const struct ckptfs_opts *o)
{
	int rc;
	if (o->single_thread) {
		rc = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();
		if (cfg == NULL) {
			fail_line("out of memory", "");
			return CKPTFS_EXIT_SOFTWARE;
		}
		fuse_loop_cfg_set_clone_fd(cfg, 1);
		fuse_loop_cfg_set_max_threads(cfg, 16);
		fuse_loop_cfg_set_idle_threads(cfg, 8);
		rc = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	if (!atomic_load(&serving)) {
		/* no worker ever ran (thread creation failed, a signal) */
		fail_line("the daemon could not start serving", "");
		return CKPTFS_EXIT_SOFTWARE;
	}
	return rc < 0 ? CKPTFS_EXIT_SOFTWARE : CKPTFS_EXIT_OK;
}

/* The command's side after fork: wait until the daemon serves (a byte) or
 * ends (EOF). Exits 0 when it serves; else returns the exit code, with nothing
 * left mounted (the daemon unmounts, and so do we, in case it was killed:
 * we hold the session's fd, so the connection is still alive). */
static int wait_daemon(pid_t pid, int rfd, struct fuse_session *se, const char *mnt)
{
	char c;
	ssize_t n;
	do
		n = read(rfd, &c, 1);
	while (n < 0 && errno == EINTR);
	close(rfd);
	if (n == 1) {
		/* serving: the daemon owns everything now (as fuse_daemonize's
		 * parent, leave without touching the session) */
		fflush(stderr);
		_exit(CKPTFS_EXIT_OK);
	}
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	fuse_session_unmount(se);
	if (WIFEXITED(st) && WEXITSTATUS(st) != 0)
		return WEXITSTATUS(st); /* it printed why */
	if (WIFSIGNALED(st))
		fprintf(stderr,
			"ckptfs: the daemon for %s was killed by signal %d before serving\n", mnt,
			WTERMSIG(st));
	else
		fprintf(stderr, "ckptfs: the daemon for %s ended before serving\n", mnt);
	return CKPTFS_EXIT_SOFTWARE;
}

/* fuse_daemonize, but the caller waits for readiness, not for the fork:
 * returns the child's pid in the caller (*rfd: the pipe's read end), 0 in
 * the daemon, -1 on failure (message printed). */
static pid_t daemonize(int *rfd)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) != 0) {
		fprintf(stderr, "ckptfs: cannot daemonize: %s\n", strerror(errno));
		return -1;
	}
	if ((devnull_fd = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) {
		fprintf(stderr, "ckptfs: cannot daemonize: /dev/null: %s\n", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "ckptfs: cannot daemonize: fork: %s\n", strerror(errno));
		close(p[0]);
		close(p[1]);
		close(devnull_fd);
		return -1;
	}
	if (pid > 0) {
		close(p[1]);
		close(devnull_fd);
		devnull_fd = -1;
		*rfd = p[0];
		return pid;
	}
	close(p[0]);
	ready_fd = p[1];
	/* stderr stays the caller's until serving: a failure is reported */
	if (setsid() < 0 || chdir("/") != 0 || dup2(devnull_fd, STDIN_FILENO) < 0 ||
	    dup2(devnull_fd, STDOUT_FILENO) < 0)
		fprintf(stderr, "ckptfs: daemonizing: %s\n", strerror(errno));
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

/* Every data shard the plan reads is there and long enough (one open per
 * shard, no data read), before mounting: listing needs no shard, a mount
 * must not find one missing at its first read. */
static int check_data(const struct ckptfs_loaded *l)
{
	size_t n = ckpt_reader_count(l->r), k = 0;
	size_t *which = malloc((n ? n : 1) * sizeof(*which));
	unsigned char *seen = calloc(n ? n : 1, 1);
	int code = 0;
	if (which == NULL || seen == NULL) {
		fprintf(stderr, "ckptfs: out of memory\n");
		code = CKPTFS_EXIT_SOFTWARE;
	}
	for (size_t i = 0; code == 0 && i < l->plan->n_files; i++) {
		size_t t = l->plan->files[i].source;
		if (!seen[t]) {
			seen[t] = 1;
			which[k++] = t;
		}
	}
	ckpt_error err = CKPT_ERROR_INIT;
	int rc = code ? 0 : ckpt_reader_check_data(l->r, which, k, &err);
	if (rc)
		code = ckptfs_fail(rc, &err);
	free(which);
	free(seen);
	return code;
}

/*
 * The view in the format asked for. model.safetensors' __metadata__ says
 * where it came from: "format": "pt" (what Hugging Face's loaders ask of
 * a file), the checkpoint as read, the map as --map-file reads it, the
 * --targets file and the casts.
 */
static int build_view(const struct ckptfs_opts *o, const struct ckptfs_loaded *l, ckpt_view **view,
		      ckpt_error *err)
{
	static const char *const names[] = {
	    [CKPTFS_FORMAT_RAW] = "raw",
	    [CKPTFS_FORMAT_NPY] = "npy",
	    [CKPTFS_FORMAT_TF] = "tf",
	    [CKPTFS_FORMAT_SAFETENSORS] = "safetensors",
	};
	ckpt_view_opts vo = CKPT_VIEW_OPTS_INIT;
	const char *meta[16], *ckpt = ckpt_reader_path(l->r);
	char casts[64 * 24] = "", *map = NULL, *abs = NULL, *cwd = NULL;
	size_t k = 0;
	int rc = 0;

	vo.format = names[o->format];
	vo.key_sep = o->key_sep;
	if (o->format == CKPTFS_FORMAT_SAFETENSORS) {
		meta[k++] = "format";
		meta[k++] = "pt";
		/* absolute, as the file may be read anywhere (a URL as it is) */
		if (ckpt[0] != '/' && strstr(ckpt, "://") == NULL &&
		    (cwd = getcwd(NULL, 0)) != NULL &&
		    (abs = malloc(strlen(cwd) + strlen(ckpt) + 2)) != NULL)
			sprintf(abs, "%s/%s", cwd, ckpt);
		free(cwd);
		meta[k++] = "ckptfs.checkpoint";
		meta[k++] = abs ? abs : ckpt;
		if (o->n_entries)
			rc = ckpt_map_to_json(o->entries, o->n_entries, &map, err);
		if (map) {
			meta[k++] = "ckptfs.map";
			meta[k++] = map;
		}
		if (o->targets_path) {
			meta[k++] = "ckptfs.targets";
			meta[k++] = o->targets_path;
		}
		for (size_t i = 0, used = 0; i < o->n_casts; i++) {
			int n = snprintf(casts + used, sizeof(casts) - used, "%s%s=%s",
					 i ? "," : "", ckpt_dtype_name(o->casts[i].from),
					 ckpt_dtype_name(o->casts[i].to));
			used += n > 0 && (size_t)n < sizeof(casts) - used ? (size_t)n : 0;
		}
		if (casts[0]) {
			meta[k++] = "ckptfs.cast";
			meta[k++] = casts;
		}
		meta[k++] = "ckptfs.version";
		meta[k++] = CKPTFS_VERSION;
		meta[k] = NULL;
		vo.metadata = meta;
	}
	if (rc == 0)
		rc = ckpt_view_build_opts(view, l->r, l->plan, &vo, err);
	ckpt_plan_string_free(map);
	free(abs);
	return rc;
}

int ckptfs_mount(struct ckptfs_opts *o)
{
	const char *path = o->checkpoint, *mount_arg = o->mountpoint;
	struct ckptfs_loaded l;
	ckpt_view *view = NULL;
	ckpt_error err = CKPT_ERROR_INIT;
	struct fuse_session *se = NULL;
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);

	/* absolute from the start: the daemon's cwd is /, and the unmount at
	 * SIGTERM must not meet another directory of that name */
	char *mnt = realpath(mount_arg, NULL);
	if (mnt == NULL) {
		fprintf(stderr, "ckptfs: mountpoint %s: %s\n", mount_arg, strerror(errno));
		return CKPTFS_EXIT_MOUNT;
	}
	int code = check_mountpoint(mnt);
	if (code) {
		free(mnt);
		return code;
	}
	code = ckptfs_load_targets(o);
	if (code == 0)
		code = ckptfs_load(path, o, &l);
	if (code) {
		free(mnt);
		return code;
	}
	if ((code = check_data(&l)) != 0)
		goto out;
	int rc = build_view(o, &l, &view, &err);
	if (rc) {
		code = ckptfs_fail(rc, &err);
		goto out;
	}
	if (o->verify == CKPTFS_VERIFY_MOUNT && (code = verify_all(view)) != 0)
		goto out;

	struct ckptfs fs = {.view = view,
			    .verify = o->verify,
			    .uid = getuid(),
			    .gid = getgid(),
			    .timeout = 86400.0,
			    .no_xattr = o->no_xattr,
			    .local = l.store == NULL};
	if (pthread_mutex_init(&fs.lock, NULL) != 0) {
		code = CKPTFS_EXIT_SOFTWARE;
		goto out;
	}
	fs.mtime.tv_sec = (time_t)ckpt_reader_stat(l.r)->mtime_sec;
	fs.mtime.tv_nsec = ckpt_reader_stat(l.r)->mtime_nsec;

	/* read-only whatever -o says: a user's "rw" comes before our last "ro" */
	if (fuse_opt_add_arg(&args, "ckptfs") || fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, "default_permissions,fsname=ckptfs,subtype=ckptfs") ||
	    (o->fuse_opts &&
	     (fuse_opt_add_arg(&args, "-o") || fuse_opt_add_arg(&args, o->fuse_opts))) ||
	    fuse_opt_add_arg(&args, "-o") || fuse_opt_add_arg(&args, "ro") ||
	    (o->debug && fuse_opt_add_arg(&args, "-d"))) {
		code = CKPTFS_EXIT_SOFTWARE;
		goto out;
	}
	static struct fuse_lowlevel_ops ops;
	ops = ckptfs_ops;
	ops.init = op_init_ready;
	fuse_set_log_func(log_fuse);
	se = fuse_session_new(&args, &ops, sizeof(ops), &fs);
	if (se == NULL) {
		fail_line("bad FUSE options: ", o->fuse_opts ? o->fuse_opts : "");
		code = CKPTFS_EXIT_USAGE;
		goto out;
	}
	fs.se = se;
	if (fuse_set_signal_handlers(se) != 0) {
		fail_line("cannot set signal handlers", "");
		code = CKPTFS_EXIT_SOFTWARE;
		goto out_session;
	}
	if (fuse_session_mount(se, mnt) != 0) {
		fail_line("cannot mount on ", mnt);
		code = CKPTFS_EXIT_MOUNT;
		goto out_signals;
	}
	/* FUSE_DIRECT_IO_ALLOW_MMAP in the INIT reply (initext.h); without
	 * it files keep the page cache */
	if (ckptfs_initext_install(se) != 0)
		fs.local = 0;
	if (!o->foreground) {
		int rfd = -1;
		pid_t pid = daemonize(&rfd);
		if (pid < 0) {
			code = CKPTFS_EXIT_SOFTWARE;
			goto out_unmount;
		}
		if (pid > 0) {
			/* returns only if the daemon failed; then nothing is mounted */
			code = wait_daemon(pid, rfd, se, mnt);
			goto out_signals;
		}
	}
	code = serve(se, o);
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
	free(mnt);
	return code;
}
