/*
 * The FUSE lowlevel handlers. Inode numbers are view node ids + 1, so the
 * root (node 0) is FUSE_ROOT_ID; nodes never change while mounted, so
 * `forget` keeps no state and every reply may be cached for long.
 *
 * Each handler fetches its node, asks the view, and replies exactly once.
 * Reads use a per-thread buffer (no allocation per read after the first).
 *
 * Verification (--verify=read) is the view's policy (ckpt_view_may_open,
 * ckpt_view_may_serve in ckpt/view.h): every reply of file bytes is read
 * first, then asked for, and goes out only when the view says so. What is
 * FUSE's here: a file whose sources failed gets EIO, and a thread of ours
 * invalidates the pages the kernel holds of it, so open handles and mmaps
 * cannot read them on.
 */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include "ckpt/error.h"
#include "drain.h"
#include "exitcodes.h"
#include "initext.h"
#include "readahead.h"
#include "splice.h"

/* --verify=read: the invalidating thread, started at the first failure;
 * under fs->lock */
struct ckptfs_checks {
	pthread_cond_t wake;
	int started, pending, stop;
	pthread_t thread;
};

static struct ckptfs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static const ckpt_node *node_of(struct ckptfs *fs, fuse_ino_t ino, uint32_t *id)
{
	if (ino == 0 || ino - 1 >= ckpt_view_count(fs->view))
		return NULL;
	*id = (uint32_t)(ino - 1);
	return ckpt_view_node(fs->view, *id);
}

enum want { WANT_ANY, WANT_DIR, WANT_FILE };

/* The node of ino, or NULL after replying ENOENT, or ENOTDIR / EISDIR when
 * it is not the kind the operation needs (squashfuse's _or_reply habit). */
/* The path of node id in the mount ("dense/kernel/@value"; its end if
 * longer than buf holds), for log lines. Returns a pointer into buf. */
static const char *node_path(const struct ckptfs *fs, uint32_t id, char *buf, size_t size)
{
	size_t at = size - 1;
	buf[at] = '\0';
	for (const ckpt_node *n = ckpt_view_node(fs->view, id); n && n->parent != CKPT_VIEW_NONE;
	     n = ckpt_view_node(fs->view, n->parent)) {
		size_t len = strlen(n->name), slash = at < size - 1;
		if (len + slash + 3 > at) {
			memcpy(buf + at - 3, "...", 3);
			return buf + at - 3;
		}
		if (slash)
			buf[--at] = '/';
		at -= len;
		memcpy(buf + at, n->name, len);
	}
	return buf + at;
}

static const ckpt_node *node_or_reply(fuse_req_t req, fuse_ino_t ino, enum want want, uint32_t *id)
{
	const ckpt_node *n = node_of(fs_of(req), ino, id);
	int err = n == NULL			   ? ENOENT
		  : want == WANT_DIR && !n->is_dir ? ENOTDIR
		  : want == WANT_FILE && n->is_dir ? EISDIR
						   : 0;
	if (err) {
		fuse_reply_err(req, err);
		return NULL;
	}
	return n;
}

static void fill_attr(struct ckptfs *fs, uint32_t id, const ckpt_node *n, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = (ino_t)id + 1;
	st->st_uid = fs->uid;
	st->st_gid = fs->gid;
	st->st_atim = st->st_mtim = st->st_ctim = fs->mtime;
	/* coreutils sizes its reads from it: with direct_io they come as they are */
	st->st_blksize = fs->direct_io ? 1 << 20 : 65536;
	/* the modes of a copy the user can change and delete (cp -r keeps
	 * them); writes still fail: the mount is read-only (EROFS) */
	if (n->is_dir) {
		st->st_mode = S_IFDIR | (0755 & ~fs->umask);
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | (0644 & ~fs->umask);
		st->st_nlink = 1;
		st->st_size = (off_t)n->size;
		st->st_blocks = (blkcnt_t)((n->size + 511) / 512);
	}
}

static void fill_entry(struct ckptfs *fs, uint32_t id, const ckpt_node *n,
		       struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = (fuse_ino_t)id + 1;
	e->attr_timeout = fs->timeout;
	e->entry_timeout = fs->timeout;
	fill_attr(fs, id, n, &e->attr);
}

/*
 * The largest read request, from which libfuse derives the kernel's
 * max_pages. libfuse splices a reply only through a pipe of the reply + 4
 * pages (and ours needs it + 2 pages); a pipe holds at most
 * fs.pipe-max-size without CAP_SYS_RESOURCE (1 MiB by default): larger
 * replies would be copied through a fresh buffer each (README,
 * "The FUSE ceiling"). So: that size less 5 pages, at most 1 MiB.
 */
static unsigned max_request(void)
{
	unsigned long max = 1ul << 20;
	FILE *f = fopen("/proc/sys/fs/pipe-max-size", "re");
	if (f != NULL) {
		unsigned long v;
		if (fscanf(f, "%lu", &v) == 1 && v >= (256ul << 10) && v - 5 * 4096 < max)
			max = (v - 5 * 4096) & ~4095ul;
		fclose(f);
	}
	return (unsigned)max;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct ckptfs *fs = userdata;
	/* large reads: the kernel's default max_read is what it negotiates */
	conn->max_readahead = conn->max_readahead > (1u << 20) ? conn->max_readahead : (1u << 20);
	conn->max_write = max_request();
	/*
	 * Local data: files are opened direct_io, so a read reaches us as the
	 * reader asked it (up to max_request) and is copied once, from the
	 * shard's page cache to the reader; buffered reads come as 128 KiB
	 * read-ahead requests and are copied twice (README "Performance").
	 * Only where the kernel lets a direct_io file be mmap'd shared
	 * (numpy.load(mmap_mode='r'), safetensors loaders): its mmaps still
	 * use the page cache. Remote data keeps the page cache for re-reads.
	 */
	if (fs->local && ckptfs_initext_offered()) {
		ckptfs_initext_want();
		fs->direct_io = 1;
	}
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	/* the kernel caches "no ACL" per inode instead of asking us at every
	 * ls -l (getxattr system.posix_acl_access) */
	if (conn->capable & FUSE_CAP_POSIX_ACL)
		conn->want |= FUSE_CAP_POSIX_ACL;
	/* replies spliced from the data files (fill_splice) */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	fs->splice = (conn->want & FUSE_CAP_SPLICE_WRITE) != 0;
	/* --verify=read: the invalidating thread's state (without it, opens
	 * fail with ENOMEM) */
	struct ckptfs_checks *c = fs->verify == CKPTFS_VERIFY_READ ? calloc(1, sizeof(*c)) : NULL;
	if (c && pthread_cond_init(&c->wake, NULL) == 0)
		fs->checks = c;
	else
		free(c);
}

static void op_destroy(void *userdata)
{
	struct ckptfs *fs = userdata;
	/* files still open when the session ended get no release */
	ckptfs_ra_free_all();
	struct ckptfs_checks *c = fs->checks;
	if (c == NULL)
		return;
	pthread_mutex_lock(&fs->lock);
	c->stop = 1;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&fs->lock);
	if (c->started)
		pthread_join(c->thread, NULL);
	pthread_cond_destroy(&c->wake);
	free(c);
	fs->checks = NULL;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ckptfs *fs = fs_of(req);
	uint32_t dir;
	if (node_or_reply(req, parent, WANT_DIR, &dir) == NULL)
		return;
	uint32_t id = ckpt_view_lookup(fs->view, dir, name);
	struct fuse_entry_param e;
	if (id == CKPT_VIEW_NONE) {
		/* a negative entry, cached as long as the positive ones */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	fill_entry(fs, id, ckpt_view_node(fs->view, id), &e);
	fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ckptfs *fs = fs_of(req);
	uint32_t id;
	const ckpt_node *n = node_or_reply(req, ino, WANT_ANY, &id);
	(void)fi;
	if (n == NULL)
		return;
	struct stat st;
	fill_attr(fs, id, n, &st);
	fuse_reply_attr(req, &st, fs->timeout);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	uint32_t id;
	if (node_or_reply(req, ino, WANT_DIR, &id) == NULL)
		return;
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	fuse_reply_open(req, fi);
}

/* Entries: ".", "..", then the children; off = index of the next entry. */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	struct ckptfs *fs = fs_of(req);
	uint32_t id;
	const ckpt_node *d = node_or_reply(req, ino, WANT_DIR, &id);
	if (d == NULL)
		return;
	char *buf = malloc(size);
	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	for (uint64_t k = (uint64_t)off; k < (uint64_t)d->n_children + 2; k++) {
		uint32_t cid = k == 0	? id
			       : k == 1 ? (d->parent == CKPT_VIEW_NONE ? id : d->parent)
					: ckpt_view_child(fs->view, id, (uint32_t)(k - 2));
		const ckpt_node *c = ckpt_view_node(fs->view, cid);
		const char *name = k == 0 ? "." : k == 1 ? ".." : c->name;
		size_t want;
		if (plus) {
			struct fuse_entry_param e;
			fill_entry(fs, cid, c, &e);
			want = fuse_add_direntry_plus(req, buf + used, size - used, name, &e,
						      (off_t)(k + 1));
		} else {
			struct stat st;
			fill_attr(fs, cid, c, &st);
			want = fuse_add_direntry(req, buf + used, size - used, name, &st,
						 (off_t)(k + 1));
		}
		if (want > size - used)
			break;
		used += want;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 1);
}

/* ---- --verify=read: no file served whole before its sources passed ---- */

/*
 * Invalidate the kernel's pages of every file whose sources failed, so
 * that open handles and mmaps read them from us again (and get EIO). Not
 * done by a handler: the kernel keeps the pages a read fills locked until
 * its reply, and an invalidation waits for those locks.
 */
static void *drop_pages(void *arg)
{
	struct ckptfs *fs = arg;
	struct ckptfs_checks *c = fs->checks;
	pthread_mutex_lock(&fs->lock);
	while (!c->stop) {
		if (!c->pending) {
			pthread_cond_wait(&c->wake, &fs->lock);
			continue;
		}
		c->pending = 0;
		pthread_mutex_unlock(&fs->lock);
		for (uint32_t id = ckpt_view_next_failed(fs->view, 0); id != CKPT_VIEW_NONE;
		     id = ckpt_view_next_failed(fs->view, id + 1))
			if (!fuse_session_exited(fs->se))
				fuse_lowlevel_notify_inval_inode(fs->se, (fuse_ino_t)id + 1, 0, 0);
		pthread_mutex_lock(&fs->lock);
	}
	pthread_mutex_unlock(&fs->lock);
	return NULL;
}

/* A check failed: have the pages of every file that failed dropped. */
static void drop_failed(struct ckptfs *fs)
{
	struct ckptfs_checks *c = fs->checks;
	if (fs->se == NULL)
		return;
	pthread_mutex_lock(&fs->lock);
	if (!c->started && pthread_create(&c->thread, NULL, drop_pages, fs) == 0)
		c->started = 1;
	if (!c->started)
		fuse_log(FUSE_LOG_ERR, "ckptfs: no thread to drop cached pages of failed files\n");
	c->pending = 1;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&fs->lock);
}

static int no_checks(ckpt_error *err)
{
	err->code = CKPT_ENOMEM;
	snprintf(err->msg, sizeof(err->msg), "no memory for the checksum state");
	return CKPT_ENOMEM;
}

/* --verify=read, before bytes [off, off + len) of node id go out (read
 * already): 0 to answer them, else a status (err says why). */
static int check_reply(struct ckptfs *fs, uint32_t id, uint64_t off, size_t len, ckpt_error *err)
{
	if (fs->verify != CKPTFS_VERIFY_READ || len == 0)
		return 0;
	if (fs->checks == NULL)
		return no_checks(err);
	int rc = ckpt_view_may_serve(fs->view, id, off, len, err);
	if (rc == CKPT_ECHECKSUM)
		drop_failed(fs);
	return rc;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ckptfs *fs = fs_of(req);
	uint32_t id;
	const ckpt_node *n = node_or_reply(req, ino, WANT_FILE, &id);
	if (n == NULL)
		return;
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC)) {
		fuse_reply_err(req, EROFS);
		return;
	}
	if (fs->verify == CKPTFS_VERIFY_READ) {
		ckpt_error err = CKPT_ERROR_INIT;
		int rc =
		    fs->checks == NULL ? no_checks(&err) : ckpt_view_may_open(fs->view, id, &err);
		if (rc == CKPT_ECHECKSUM)
			drop_failed(fs);
		if (rc) {
			char path[1024];
			fuse_log(FUSE_LOG_ERR, "ckptfs: open of %s: %s\n",
				 node_path(fs, id, path, sizeof(path)), err.msg);
			fuse_reply_err(req, ckptfs_errno(rc));
			return;
		}
	}
	fi->keep_cache = 1;
	fi->direct_io = fs->direct_io != 0;
	/* local data: the read-ahead state of this open file (none: no hints) */
	fi->fh = fs->local ? (uint64_t)(uintptr_t)ckptfs_ra_new() : 0;
	ckptfs_drain_opened();
	if (fuse_reply_open(req, fi) != 0) {
		/* the open was interrupted: no release comes */
		ckptfs_ra_free((struct ckptfs_ra *)(uintptr_t)fi->fh);
		ckptfs_drain_closed();
	}
}

/* A file's last handle is gone: its read-ahead state is freed, and a
 * signal may be waiting for it (drain.c). */
static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	ckptfs_ra_free((struct ckptfs_ra *)(uintptr_t)fi->fh);
	ckptfs_drain_closed();
	fuse_reply_err(req, 0);
}

/* Per thread: the buffer of copied replies, the pipe of spliced ones.
 * FUSE ends idle worker threads (above idle_threads) and starts new ones:
 * each thread's are freed when it exits, through a key destructor. */
struct tls {
	char *buf;
	size_t cap;
	struct ckptfs_pipe pipe;
};

static _Thread_local struct tls *tls;
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;

static void tls_free(void *p)
{
	struct tls *t = p;
	free(t->buf);
	ckptfs_pipe_close(&t->pipe);
	free(t);
}

static void tls_make_key(void)
{
	(void)pthread_key_create(&tls_key, tls_free);
}

static struct tls *thread_state(void)
{
	if (tls == NULL && (tls = calloc(1, sizeof(*tls))) != NULL) {
		tls->pipe = (struct ckptfs_pipe)CKPTFS_PIPE_INIT;
		(void)pthread_once(&tls_once, tls_make_key);
		(void)pthread_setspecific(tls_key, tls);
	}
	return tls;
}

static void reply_error(fuse_req_t req, const struct ckptfs *fs, uint32_t id, off_t off, int rc,
			const ckpt_error *err)
{
	char path[1024];
	fuse_log(FUSE_LOG_ERR, "ckptfs: read of %s at %lld: %s\n",
		 node_path(fs, id, path, sizeof(path)), (long long)off, err->msg);
	fuse_reply_err(req, ckptfs_read_errno(rc));
}

/*
 * Bytes that pass unchanged from one data file are spliced from it (one
 * copy fewer), through our own pipe: filled and counted first, so a data
 * file cut short under a live mount gives EIO, never a short reply. Below
 * two pages libfuse would copy anyway; so do we. Returns 1 with the pipe
 * holding the len bytes, 0 when they are to be copied instead, or
 * CKPT_EIO (err says why).
 */
static int fill_splice(struct ckptfs *fs, struct tls *t, uint32_t id, size_t len, off_t off,
		       ckpt_error *err)
{
	int fd;
	uint64_t pos;
	ckpt_object *pin; /* fd stays open until released */
	size_t got;
	if (!fs->splice || len < 2 * 4096 ||
	    !ckpt_view_map(fs->view, id, (uint64_t)off, len, &fd, &pos, &pin))
		return 0;
	int rc = ckptfs_pipe_fill(&t->pipe, fd, pos, len, &got);
	ckpt_object_splice_release(pin);
	if (rc == -ENODATA || rc == -EIO) {
		err->code = CKPT_EIO;
		snprintf(
		    err->msg, sizeof(err->msg), "%zu of %zu bytes at %llu of its data file: %s",
		    got, len, (unsigned long long)pos,
		    rc == -EIO ? strerror(EIO) : "the file ends early (changed under the mount?)");
		return CKPT_EIO;
	}
	return rc == 0;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct ckptfs *fs = fs_of(req);
	uint32_t id;
	const ckpt_node *n = node_or_reply(req, ino, WANT_FILE, &id);
	struct tls *t = n ? thread_state() : NULL;
	(void)fi;
	if (n == NULL)
		return;
	if (t == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* what the file holds from off: a shorter reply means "it ends here" */
	size_t len = (uint64_t)off >= n->size	      ? 0
		     : n->size - (uint64_t)off < size ? (size_t)(n->size - (uint64_t)off)
						      : size;
	ckpt_error err = CKPT_ERROR_INIT;
	int spliced = fill_splice(fs, t, id, len, off, &err), rc = spliced < 0 ? spliced : 0;
	if (spliced == 0 && len > t->cap) {
		char *b = realloc(t->buf, len);
		if (b == NULL) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		t->buf = b;
		t->cap = len;
	}
	size_t got = 0;
	if (spliced == 0)
		rc = ckpt_view_read(fs->view, id, (uint64_t)off, t->buf, len, &got, &err);
	if (spliced == 0 && rc == 0 && got != len) {
		rc = CKPT_EIO;
		snprintf(err.msg, sizeof(err.msg), "%zu of %zu bytes read", got, len);
	}
	if (rc == 0)
		rc = check_reply(fs, id, (uint64_t)off, len, &err);
	if (rc) {
		if (spliced > 0)
			ckptfs_pipe_close(&t->pipe); /* holds what must not go out */
		reply_error(req, fs, id, off, rc, &err);
		return;
	}
	if (spliced > 0) {
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(len);
		bv.buf[0].flags = FUSE_BUF_IS_FD;
		bv.buf[0].fd = t->pipe.fd[0];
		fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
		ckptfs_pipe_drain(&t->pipe);
		return;
	}
	fuse_reply_buf(req, t->buf, got);
}

/*
 * A read, then (replied: off the reader's critical path) the hint of the
 * data file's bytes a sequential reader will ask for next (readahead.h).
 * Only bytes that pass unchanged from one data file are hinted. The
 * detector is asked before replying: once replied, the kernel may release
 * the file (and op_release free its state) at any time.
 */
static void op_read_ahead(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			  struct fuse_file_info *fi)
{
	struct ckptfs *fs = fs_of(req);
	struct ckptfs_ra *ra = (struct ckptfs_ra *)(uintptr_t)fi->fh;
	uint32_t id;
	const ckpt_node *n = node_of(fs, ino, &id);
	uint64_t hoff, hlen, pos;
	int hint = ra != NULL && n != NULL && !n->is_dir && off >= 0 && (uint64_t)off < n->size &&
		   ckptfs_ra_note(ra, (uint64_t)off,
				  n->size - (uint64_t)off < size ? (size_t)(n->size - (uint64_t)off)
								 : size,
				  n->size, &hoff, &hlen);
	op_read(req, ino, size, off, fi);
	int fd;
	ckpt_object *pin;
	if (!hint || !ckpt_view_map(fs->view, id, hoff, (size_t)hlen, &fd, &pos, &pin))
		return;
	ckpt_object_willneed(pin, pos, hlen);
	ckpt_object_splice_release(pin);
}

/*
 * Extended attribute `name` of a file (user.ckpt.{dtype,shape,source,
 * source_dtype,slice,perm}) as a new string, or NULL when it has none.
 * Ownership: the caller frees the string.
 */
static char *xattr_value(const ckpt_node *n, const char *name)
{
	const ckpt_plan_file *f = n->file;
	if (f == NULL)
		return NULL;
	if (strcmp(name, "user.ckpt.dtype") == 0)
		return strdup(ckpt_dtype_name(f->dtype));
	if (strcmp(name, "user.ckpt.source_dtype") == 0)
		return strdup(ckpt_dtype_name(f->source_dtype));
	if (strcmp(name, "user.ckpt.source") == 0)
		return strdup(f->source_name);
	if (strcmp(name, "user.ckpt.slice") == 0)
		return f->part >= 0 ? strdup(f->spec) : NULL;
	int perm = strcmp(name, "user.ckpt.perm") == 0;
	if (strcmp(name, "user.ckpt.shape") == 0 || (perm && f->perm)) {
		char *out = malloc((size_t)f->rank * 21 + 3), *p = out;
		if (out == NULL)
			return NULL;
		*p++ = '[';
		for (int d = 0; d < f->rank; d++)
			p += sprintf(p, "%s%lld", d ? "," : "",
				     perm ? (long long)f->perm[d] : (long long)f->shape[d]);
		strcpy(p, "]");
		return out;
	}
	return NULL;
}

static const char *const xattr_names[] = {"user.ckpt.dtype",  "user.ckpt.shape",
					  "user.ckpt.source", "user.ckpt.source_dtype",
					  "user.ckpt.slice",  "user.ckpt.perm"};

/* The node an xattr request is about, or NULL after replying the error
 * (ENOSYS with --xattr off: the kernel remembers it and stops asking). */
static const ckpt_node *xattr_node_or_reply(fuse_req_t req, fuse_ino_t ino)
{
	struct ckptfs *fs = fs_of(req);
	uint32_t id;
	const ckpt_node *n = node_of(fs, ino, &id);
	if (fs->no_xattr || n == NULL) {
		fuse_reply_err(req, fs->no_xattr ? ENOSYS : ENOENT);
		return NULL;
	}
	return n;
}

/* getxattr/listxattr answer: the size for a size-0 probe, else the data. */
static void reply_xattr_data(fuse_req_t req, const char *data, size_t len, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, data, len);
}

/* The kernel's XATTR_SIZE_MAX: a longer value fails getxattr(2) with E2BIG. */
#define XATTR_VALUE_MAX 65536
/* Ends a value cut to XATTR_VALUE_MAX (a name over 64 KiB). */
static const char xattr_cut[] = "...[cut; the full name is in @mapping.json]";

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	const ckpt_node *n = xattr_node_or_reply(req, ino);
	if (n == NULL)
		return;
	char *v = xattr_value(n, name);
	if (v == NULL) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	size_t len = strlen(v);
	if (len > XATTR_VALUE_MAX) {
		/* cut at a UTF-8 boundary and marked; v has room (len > keep + mark) */
		size_t keep = XATTR_VALUE_MAX - (sizeof(xattr_cut) - 1);
		while (keep > 0 && ((unsigned char)v[keep] & 0xc0) == 0x80)
			keep--;
		memcpy(v + keep, xattr_cut, sizeof(xattr_cut));
		len = keep + sizeof(xattr_cut) - 1;
	}
	reply_xattr_data(req, v, len, size);
	free(v);
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	const ckpt_node *n = xattr_node_or_reply(req, ino);
	if (n == NULL)
		return;
	char list[256];
	size_t used = 0;
	for (size_t i = 0; n->file && i < sizeof(xattr_names) / sizeof(xattr_names[0]); i++) {
		char *v = xattr_value(n, xattr_names[i]);
		if (v == NULL)
			continue;
		free(v);
		size_t l = strlen(xattr_names[i]) + 1;
		memcpy(list + used, xattr_names[i], l);
		used += l;
	}
	reply_xattr_data(req, list, used, size);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct ckptfs *fs = fs_of(req);
	struct statvfs st;
	uint64_t bytes = 0;
	(void)ino;
	for (uint32_t i = 0; i < ckpt_view_count(fs->view); i++)
		bytes += ckpt_view_node(fs->view, i)->size;
	memset(&st, 0, sizeof(st));
	st.f_bsize = st.f_frsize = 4096;
	st.f_blocks = (fsblkcnt_t)((bytes + 4095) / 4096);
	st.f_files = (fsfilcnt_t)ckpt_view_count(fs->view);
	st.f_namemax = 255;
	st.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &st);
}

/* Everything that would change the tree: read-only filesystem. */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	(void)ino, (void)attr, (void)to_set, (void)fi;
	fuse_reply_err(req, EROFS);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	fuse_reply_err(req, EROFS);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent, (void)name, (void)mode;
	fuse_reply_err(req, EROFS);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent, (void)name;
	fuse_reply_err(req, EROFS);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	(void)link, (void)parent, (void)name;
	fuse_reply_err(req, EROFS);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		      const char *newname, unsigned int flags)
{
	(void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
	fuse_reply_err(req, EROFS);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	(void)ino, (void)newparent, (void)newname;
	fuse_reply_err(req, EROFS);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	(void)ino, (void)buf, (void)size, (void)off, (void)fi;
	fuse_reply_err(req, EROFS);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		      struct fuse_file_info *fi)
{
	(void)parent, (void)name, (void)mode, (void)fi;
	fuse_reply_err(req, EROFS);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			size_t size, int flags)
{
	(void)ino, (void)name, (void)value, (void)size, (void)flags;
	fuse_reply_err(req, EROFS);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino, (void)name;
	fuse_reply_err(req, EROFS);
}

const struct fuse_lowlevel_ops ckptfs_ops = {
    .init = op_init,
    .destroy = op_destroy,
    .lookup = op_lookup,
    .getattr = op_getattr,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .readdirplus = op_readdirplus,
    .open = op_open,
    .release = op_release,
    .read = op_read_ahead,
    .getxattr = op_getxattr,
    .listxattr = op_listxattr,
    .statfs = op_statfs,
    .setattr = op_setattr,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_unlink,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .write = op_write,
    .create = op_create,
    .setxattr = op_setxattr,
    .removexattr = op_removexattr,
};
