/*
 * Mount mode: everything about the checkpoint, map and mountpoint is
 * checked before mounting; then the session is mounted, the process
 * daemonizes (unless -f) and the command returns only once the daemon is
 * serving (the kernel's FUSE_INIT reached a session worker); a daemon that
 * fails before that unmounts and the command fails. SIGTERM/SIGINT end
 * the loop and unmount cleanly, once open files are closed (drain.c).
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

#include "ckpt/store_remote.h"
#include "drain.h"
#include "exitcodes.h"
#include "initext.h"
#include "load.h"
#include "log.h"
#include "mount.h"
#include "ops.h"
#include "progress.h"

/* Undo the octal escapes of /proc/self/mountinfo (\040: a space) in place. */
static void unescape_mountinfo(char *s)
{
	char *o = s;
	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 | (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* Is the topmost mount at mnt a ckptfs mount? Then 1, and its source (the
 * checkpoint) in src. From /proc/self/mountinfo: "ID PARENT MAJ:MIN ROOT
 * MOUNTPOINT OPTIONS [OPTIONAL...] - TYPE SOURCE SUPEROPTIONS". */
static int ckptfs_mounted_at(const char *mnt, char *src, size_t size)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0;
	int found = 0;
	if (f == NULL)
		return 0;
	while (getline(&line, &cap, f) > 0) {
		char *save = NULL, *point = NULL, *type = NULL, *source = NULL;
		int k = 0, after_dash = 0;
		for (char *t = strtok_r(line, " \n", &save); t;
		     t = strtok_r(NULL, " \n", &save), k++) {
			if (k == 4)
				point = t;
			else if (after_dash == 1)
				type = t, after_dash++;
			else if (after_dash == 2)
				source = t, after_dash++;
			else if (k > 5 && !after_dash && strcmp(t, "-") == 0)
				after_dash = 1;
		}
		if (point == NULL || type == NULL)
			continue;
		unescape_mountinfo(point);
		if (strcmp(point, mnt) != 0)
			continue;
		found = strcmp(type, "fuse.ckptfs") == 0;
		if (found) {
			snprintf(src, size, "%s", source ? source : "?");
			unescape_mountinfo(src);
		}
	}
	free(line);
	fclose(f);
	return found;
}

/* The mountpoint must be an existing, empty directory, not a ckptfs mount. */
static int check_mountpoint(const char *mnt)
{
	struct stat st;
	char src[512];
	if (ckptfs_mounted_at(mnt, src, sizeof(src))) {
		/* a daemon killed leaves the mount: ENOTCONN */
		int dead = stat(mnt, &st) != 0 && errno == ENOTCONN;
		fprintf(stderr,
			"ckptfs: mountpoint %s is already mounted (ckptfs of %s%s; unmount with "
			"fusermount3 -u %s)\n",
			mnt, src, dead ? ", whose daemon has ended" : "", mnt);
		return CKPTFS_EXIT_MOUNT;
	}
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
		ckptfs_log_write(level, fmt, ap);
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
		if (ckptfs_log_detach() != 0)
			fprintf(stderr,
				"ckptfs: warning: nothing receives syslog here (no /dev/log): "
				"the daemon's messages (why a read failed) are lost; -o "
				"log=FILE keeps them\n");
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
	ckptfs_drain_start();
	if (o->single_thread) {
		rc = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *cfg = fuse_loop_cfg_create();
		if (cfg == NULL) {
			ckptfs_drain_stop();
			fail_line("out of memory", "");
			return CKPTFS_EXIT_SOFTWARE;
		}
		fuse_loop_cfg_set_clone_fd(cfg, 1);
		fuse_loop_cfg_set_max_threads(cfg, o->max_threads ? o->max_threads : 16);
		fuse_loop_cfg_set_idle_threads(cfg, o->max_idle_threads ? o->max_idle_threads : 8);
		rc = fuse_session_loop_mt(se, cfg);
		fuse_loop_cfg_destroy(cfg);
	}
	ckptfs_drain_stop();
	if (!atomic_load(&serving) && ckptfs_drain_signalled())
		return rc < 0 ? CKPTFS_EXIT_SOFTWARE
			      : CKPTFS_EXIT_OK; /* stopped before FUSE_INIT */
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

/* Is -o allow_other among the options passed to FUSE (comma-joined, a
 * comma or backslash inside an option escaped by a backslash)? */
static int has_allow_other(const char *fuse_opts)
{
	static const char want[] = "allow_other";
	for (const char *p = fuse_opts; p && *p;) {
		const char *q = p;
		while (*q && *q != ',')
			q += q[0] == '\\' && q[1] ? 2 : 1;
		if ((size_t)(q - p) == sizeof(want) - 1 && memcmp(p, want, sizeof(want) - 1) == 0)
			return 1;
		p = *q ? q + 1 : q;
	}
	return 0;
}

/* uid= or gid= naming someone else without allow_other: the kernel lets
 * only the mounting user in, so the owner given could not read a byte. */
static void warn_owner(const struct ckptfs_opts *o)
{
	if (has_allow_other(o->fuse_opts) ||
	    !((o->have_uid && o->uid != getuid()) || (o->have_gid && o->gid != getgid())))
		return;
	fprintf(stderr,
		"ckptfs: warning: -o %s without -o allow_other: only the mounting user "
		"(uid %u) can enter the mount\n",
		o->have_uid && o->uid != getuid() ? "uid=" : "gid=", (unsigned)getuid());
}

/* --verify=mount: check every piece before mounting (total: the bytes
 * that reads), with progress. */
static int verify_all(const ckpt_view *v, ckpt_reader *r, uint64_t total)
{
	struct ckptfs_progress p;
	size_t n = ckpt_view_count(v);
	int code = 0;
	ckptfs_progress_start(&p, "verifying checksums", total);
	ckpt_reader_set_progress(r, ckptfs_progress_bytes, &p);
	for (uint32_t id = 0; id < n && code == 0; id++) {
		ckpt_error err = CKPT_ERROR_INIT;
		if (ckpt_view_verify(v, id, &err)) {
			ckptfs_progress_finish(&p, 0);
			fprintf(stderr, "ckptfs: %s\n", err.msg);
			code = CKPTFS_EXIT_DATAERR;
		}
	}
	ckpt_reader_set_progress(r, NULL, NULL);
	ckptfs_progress_finish(&p, 1);
	return code;
}

/* Every data shard the plan reads is there and long enough (one open per
 * shard, no data read), before mounting: listing needs no shard, a mount
 * must not find one missing at its first read. *bytes: the stored bytes
 * of the tensors it reads (what reading all mapped data reads). */
static int check_data(const struct ckptfs_loaded *l, uint64_t *bytes)
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
			for (size_t p = 0; p < ckpt_reader_tensor(l->r, t)->num_pieces; p++)
				*bytes += ckpt_reader_piece(l->r, t, p)->size;
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
 * --format tf reads all mapped data (total bytes) to build the view, with
 * progress. Returns an exit code.
 */
static int build_view(const struct ckptfs_opts *o, const struct ckptfs_loaded *l, uint64_t total,
		      ckpt_view **view)
{
	struct ckptfs_progress p;
	ckpt_error e = CKPT_ERROR_INIT, *err = &e;
	int tf = o->format == CKPTFS_FORMAT_TF;
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
		else if (ckpt_store_is_url(ckpt)) /* no query: a credential could hide there */
			abs = strndup(ckpt, strcspn(ckpt, "?#"));
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
	if (rc == 0 && tf) {
		ckptfs_progress_start(&p, "reading the mapped data for ckpt.index", total);
		ckpt_reader_set_progress(l->r, ckptfs_progress_bytes, &p);
	}
	if (rc == 0)
		rc = ckpt_view_build_opts(view, l->r, l->plan, &vo, err);
	if (tf) {
		ckpt_reader_set_progress(l->r, NULL, NULL);
		ckptfs_progress_finish(&p, rc == 0);
	}
	ckpt_plan_string_free(map);
	free(abs);
	return rc ? ckptfs_fail(rc, err) : 0;
}

/*
 * "-o fsname=CHECKPOINT": /proc/mounts and df show the checkpoint, as
 * given (so that mount -a finds an fstab line's source mounted), a
 * relative path made absolute, a URL without a query (none is needed; a
 * credential could hide there). Escaped for FUSE's option list. 0 or -1.
 */
static int add_fsname(struct fuse_args *args, const char *ckpt)
{
	char cwd[4096], *opt = NULL, *src = NULL;
	int rc = -1;
	if (ckpt_store_is_url(ckpt))
		rc = asprintf(&src, "fsname=%.*s", (int)strcspn(ckpt, "?#"), ckpt);
	else if (ckpt[0] == '/')
		rc = asprintf(&src, "fsname=%s", ckpt);
	else if (getcwd(cwd, sizeof(cwd)) != NULL)
		rc = asprintf(&src, "fsname=%s/%s", strcmp(cwd, "/") ? cwd : "", ckpt);
	if (rc < 0)
		return 0; /* no name: "ckptfs" */
	rc = 0;
	/* the kernel takes a source of at most PATH_MAX bytes: else "ckptfs" */
	if (strlen(src) < 4000 && (fuse_opt_add_opt_escaped(&opt, src) != 0 ||
				   fuse_opt_add_arg(args, "-o") || fuse_opt_add_arg(args, opt)))
		rc = -1;
	free(src);
	free(opt);
	return rc;
}

int ckptfs_mount(struct ckptfs_opts *o)
{
	const char *path = o->checkpoint, *mount_arg = o->mountpoint;
	struct ckptfs_loaded l;
	ckpt_view *view = NULL;
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
	if (code == 0 && o->log_file)
		code = ckptfs_log_open(o->log_file);
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
	uint64_t data_bytes = 0;
	if ((code = check_data(&l, &data_bytes)) != 0 ||
	    (code = build_view(o, &l, data_bytes, &view)) != 0)
		goto out;
	if (o->verify == CKPTFS_VERIFY_MOUNT && (code = verify_all(view, l.r, data_bytes)) != 0)
		goto out;

	struct ckptfs fs = {.view = view,
			    .verify = o->verify,
			    .uid = o->have_uid ? o->uid : getuid(),
			    .gid = o->have_gid ? o->gid : getgid(),
			    .umask = o->umask,
			    .timeout = 86400.0,
			    .no_xattr = o->no_xattr,
			    .local = l.store == NULL};
	warn_owner(o);
	if (pthread_mutex_init(&fs.lock, NULL) != 0) {
		code = CKPTFS_EXIT_SOFTWARE;
		goto out;
	}
	fs.mtime.tv_sec = (time_t)ckpt_reader_stat(l.r)->mtime_sec;
	fs.mtime.tv_nsec = ckpt_reader_stat(l.r)->mtime_nsec;

	/* read-only whatever -o says: a user's "rw" comes before our last "ro" */
	if (fuse_opt_add_arg(&args, "ckptfs") || add_fsname(&args, path) ||
	    fuse_opt_add_arg(&args, "-o") ||
	    fuse_opt_add_arg(&args, "default_permissions,subtype=ckptfs") ||
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
	if (ckptfs_drain_set(se, o->term_wait) != 0) {
		fail_line("cannot set signal handlers", "");
		code = CKPTFS_EXIT_SOFTWARE;
		goto out_signals;
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
	ckptfs_drain_remove();
	fuse_session_destroy(se);
out:
	ckptfs_log_close();
	fuse_opt_free_args(&args);
	ckpt_view_free(view);
	ckptfs_unload(&l);
	free(mnt);
	return code;
}
