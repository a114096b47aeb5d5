/*
 * The POSIX store (ckpt/store.h): names are paths. Every object keeps its
 * identity (device, inode, size, mtime) from open; its descriptor lives in
 * a bounded pool, least recently used closed first, so a checkpoint may
 * have more shards than the process may have open files. A read pins the
 * descriptor (never closed nor reused while pinned); a descriptor the pool
 * closed is reopened on demand and must still be the same file, else the
 * read fails with CKPT_EIO (a replaced shard never serves other bytes).
 */
#include <errno.h>
#include <glob.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt/store.h"
#include "util/error_int.h"
#include "store/io_int.h"

/* Descriptors the pool keeps by default: at most this many, and at most
 * half the soft RLIMIT_NOFILE (FUSE and the caller need the rest). */
#define POOL_MAX 256
#define POOL_MIN 4

struct pobj {
	struct ckpt_object base;
	char *path;
	struct stat pinned;	  /* identity at open */
	int fd;			  /* -1 while closed by the pool */
	unsigned pins;		  /* reads and splices using fd now */
	struct pobj *prev, *next; /* the pool, most recently used first */
};

struct pstore {
	struct ckpt_store base;
	pthread_mutex_t lock;
	size_t open, max_open;
	struct pobj head; /* sentinel of the pool list */
};

static struct pstore *store_of(const struct pobj *o)
{
	return (struct pstore *)o->base.store;
}

/* Pool list operations; the caller holds the lock. */
static void pool_unlink(struct pobj *o)
{
	o->prev->next = o->next;
	o->next->prev = o->prev;
	o->prev = o->next = o;
}

static void pool_push(struct pstore *s, struct pobj *o)
{
	o->next = s->head.next;
	o->prev = &s->head;
	s->head.next->prev = o;
	s->head.next = o;
}

/* Close unpinned descriptors, least recently used first, until one more
 * fits; with every descriptor pinned the pool grows past max_open for
 * the moment. */
static void pool_make_room(struct pstore *s)
{
	struct pobj *o = s->head.prev;
	while (s->open >= s->max_open && o != &s->head) {
		struct pobj *prev = o->prev;
		if (o->pins == 0) {
			close(o->fd);
			o->fd = -1;
			pool_unlink(o);
			s->open--;
		}
		o = prev;
	}
}

/* Add a descriptor o does not have yet; the caller holds the lock. */
static void pool_add(struct pstore *s, struct pobj *o, int fd)
{
	pool_make_room(s);
	o->fd = fd;
	s->open++;
	pool_push(s, o);
}

static int same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Pin o's descriptor into *fd, reopening it if the pool closed it. */
static int acquire(struct pobj *o, int *fd, ckpt_error *err)
{
	struct pstore *s = store_of(o);
	pthread_mutex_lock(&s->lock);
	if (o->fd >= 0) {
		o->pins++;
		pool_unlink(o);
		pool_push(s, o);
		*fd = o->fd;
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	pthread_mutex_unlock(&s->lock);
	/* open outside the lock: a slow filesystem stalls only this read */
	struct stat sb;
	int nfd;
	int rc = ckpt__open_regular(o->path, &nfd, &sb, err);
	if (rc == 0 && !same_file(&sb, &o->pinned)) {
		close(nfd);
		rc = ckpt__error(err, CKPT_EIO,
				 "%s: the file changed since it was opened (replaced or "
				 "rewritten); not read",
				 o->path);
	}
	if (rc) {
		if (err)
			err->code = CKPT_EIO; /* it was there at open */
		return CKPT_EIO;
	}
	pthread_mutex_lock(&s->lock);
	if (o->fd >= 0) /* another thread reopened it meanwhile */
		close(nfd);
	else
		pool_add(s, o, nfd);
	o->pins++;
	*fd = o->fd;
	pthread_mutex_unlock(&s->lock);
	return 0;
}

static void release(struct pobj *o)
{
	struct pstore *s = store_of(o);
	pthread_mutex_lock(&s->lock);
	o->pins--;
	pthread_mutex_unlock(&s->lock);
}

static int p_stat(ckpt_store *s, const char *name, ckpt_stat *st, ckpt_error *err)
{
	(void)s;
	struct stat sb;
	if (stat(name, &sb) != 0) {
		if (errno == ENOENT || errno == ENOTDIR) {
			memset(st, 0, sizeof(*st));
			return 0;
		}
		return ckpt__error(err, CKPT_EIO, "%s: cannot stat: %s", name, strerror(errno));
	}
	ckpt__stat_of(&sb, st);
	return 0;
}

static int p_open(ckpt_store *store, const char *name, ckpt_object **out, ckpt_error *err)
{
	struct pstore *s = (struct pstore *)store;
	struct pobj *o = calloc(1, sizeof(*o));
	if (o == NULL || (o->path = strdup(name)) == NULL) {
		free(o);
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", name);
	}
	int fd;
	int rc = ckpt__open_regular(name, &fd, &o->pinned, err);
	if (rc) {
		free(o->path);
		free(o);
		return rc;
	}
	o->base.store = store;
	o->base.name = o->path;
	ckpt__stat_of(&o->pinned, &o->base.st);
	pthread_mutex_lock(&s->lock);
	pool_add(s, o, fd);
	pthread_mutex_unlock(&s->lock);
	*out = &o->base;
	return 0;
}

static int p_pread(ckpt_object *obj, void *buf, size_t len, uint64_t off, ckpt_error *err)
{
	struct pobj *o = (struct pobj *)obj;
	int fd;
	int rc = acquire(o, &fd, err);
	if (rc)
		return rc;
	rc = ckpt__pread_full(fd, buf, len, off, o->path, err);
	release(o);
	return rc;
}

static void p_close(ckpt_object *obj)
{
	struct pobj *o = (struct pobj *)obj;
	struct pstore *s = store_of(o);
	pthread_mutex_lock(&s->lock);
	if (o->fd >= 0) {
		close(o->fd);
		pool_unlink(o);
		s->open--;
	}
	pthread_mutex_unlock(&s->lock);
	free(o->path);
	free(o);
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int p_list(ckpt_store *s, const char *pattern, char ***names, size_t *n, ckpt_error *err)
{
	(void)s;
	glob_t g;
	int grc = glob(pattern, 0, NULL, &g);
	if (grc == GLOB_NOMATCH) {
		globfree(&g);
		return 0;
	}
	if (grc != 0) {
		globfree(&g);
		return ckpt__error(err, grc == GLOB_NOSPACE ? CKPT_ENOMEM : CKPT_EIO,
				   "%s: cannot list the matching files", pattern);
	}
	char **v = calloc(g.gl_pathc ? g.gl_pathc : 1, sizeof(*v));
	int rc = v == NULL ? CKPT_ENOMEM : 0;
	for (size_t i = 0; rc == 0 && i < g.gl_pathc; i++)
		if ((v[i] = strdup(g.gl_pathv[i])) == NULL)
			rc = CKPT_ENOMEM;
	size_t count = g.gl_pathc;
	globfree(&g);
	if (rc) {
		ckpt_store_names_free(v, count);
		return ckpt__error(err, rc, "%s: out of memory", pattern);
	}
	qsort(v, count, sizeof(*v), cmp_name); /* bytewise, whatever the locale */
	*names = v;
	*n = count;
	return 0;
}

static int p_splice_fd(ckpt_object *obj, int *fd)
{
	return acquire((struct pobj *)obj, fd, NULL) == 0;
}

static void p_splice_release(ckpt_object *obj)
{
	release((struct pobj *)obj);
}

static void p_destroy(ckpt_store *store)
{
	struct pstore *s = (struct pstore *)store;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static const struct ckpt_store_ops posix_ops = {
    .stat = p_stat,
    .open = p_open,
    .pread = p_pread,
    .close = p_close,
    .list = p_list,
    .splice_fd = p_splice_fd,
    .splice_release = p_splice_release,
    .destroy = p_destroy,
};

int ckpt_store_posix_new(ckpt_store **out, size_t max_open, ckpt_error *err)
{
	*out = NULL;
	if (max_open == 0) {
		struct rlimit rl;
		max_open = POOL_MAX;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
		    rl.rlim_cur / 2 < max_open)
			max_open = (size_t)(rl.rlim_cur / 2);
		if (max_open < POOL_MIN)
			max_open = POOL_MIN;
	}
	struct pstore *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s);
		return ckpt__error(err, CKPT_ENOMEM, "cannot create a lock");
	}
	s->base.ops = &posix_ops;
	s->max_open = max_open;
	s->head.prev = s->head.next = &s->head;
	*out = &s->base;
	return 0;
}
