/*
 * ceiling: the FUSE ceiling of scripts/bench.py (issue 14), not part of
 * ckptfs. A minimal libfuse lowlevel server that serves byte ranges of
 * page-cached files as read-only files in its root and does nothing else,
 * so whatever it reaches is what FUSE itself allows on this machine. Each
 * command-line option selects one configuration worth trying:
 *
 *   ceiling [OPTIONS] NAME=PATH[:OFFSET:LENGTH]... MOUNTPOINT
 *
 * Each NAME=PATH serves LENGTH bytes of PATH from OFFSET (default: all of
 * it) as the file NAME.
 *
 *   --mode=splice|copy|mmap  reply with fuse_reply_data from the file's fd
 *                            (spliced, FUSE_BUF_FD_SEEK), with fuse_reply_buf
 *                            from a pread into a per-thread buffer, or with
 *                            fuse_reply_buf straight from an mmap of the file
 *                            (default splice)
 *   --keep-cache             open sets keep_cache (the page cache survives
 *                            an open); default off
 *   --direct-io              open sets direct_io (no page cache; requests of
 *                            the reader's size up to --max-read)
 *   --blksize=N              st_blksize (coreutils sizes its reads from it;
 *                            default 65536, ckptfs's)
 *   --threads=N              0: single-threaded loop; N: multi-threaded loop
 *                            with max_threads N (default 16, ckptfs's)
 *   --idle-threads=N         max idle threads of the multi-threaded loop
 *                            (default 8, ckptfs's)
 *   --clone-fd=0|1           one /dev/fuse fd per thread (default 1)
 *   --max-read=N             conn->max_write, from which libfuse derives the
 *                            kernel's max_pages, the largest read request
 *                            (default 1 MiB, ckptfs's)
 *   --readahead=N            conn->max_readahead asked at init (default 1 MiB)
 *   --stats                  at exit, print to stderr how many read requests
 *                            came and their sizes (a histogram by power of 2)
 *   -o OPTS, -d              passed to fuse_session_new
 *
 * Runs in the foreground until unmounted (fusermount3 -u) or signalled.
 * Exit: 0, 64 bad command line, 1 any other failure.
 */
#define FUSE_USE_VERSION 312
#include <fuse_lowlevel.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum mode { MODE_SPLICE, MODE_COPY, MODE_MMAP };

struct file {
	const char *name; /* in argv */
	int fd;
	off_t base;	 /* first byte of the range in the file */
	off_t size;	 /* bytes served */
	const char *map; /* MODE_MMAP: byte `base` of the file */
	void *map_addr;	 /* what munmap needs */
	size_t map_len;
};

static struct {
	enum mode mode;
	int keep_cache, direct_io, clone_fd, stats;
	unsigned threads, idle_threads, max_read, readahead, blksize;
	struct file *files;
	size_t nfiles;
} cfg = {MODE_SPLICE, 0, 0, 1, 0, 16, 8, 1u << 20, 1u << 20, 65536, NULL, 0};

/* --stats: read requests by size, bucket k = sizes in (2^(k-1), 2^k] */
static _Atomic unsigned long long reads_by_size[32];

static void count_read(size_t size)
{
	unsigned k = 0;
	while (k < 31 && ((size_t)1 << k) < size)
		k++;
	atomic_fetch_add_explicit(&reads_by_size[k], 1, memory_order_relaxed);
}

static void print_stats(void)
{
	unsigned long long total = 0;
	for (unsigned k = 0; k < 32; k++)
		total += reads_by_size[k];
	fprintf(stderr, "ceiling: %llu read requests", total);
	for (unsigned k = 0; k < 32; k++)
		if (reads_by_size[k])
			fprintf(stderr, ", %llu <= %llu KiB", reads_by_size[k],
				((1ull << k) + 1023) / 1024);
	fprintf(stderr, "\n");
}

static const double TIMEOUT = 86400.0;

/* MODE_COPY's per-thread buffer. Ownership: the thread's key destructor
 * frees it when a worker thread ends; main() frees the main thread's. */
struct tbuf {
	size_t cap;
	char data[];
};
static pthread_key_t buf_key;
static int have_key;

static void buf_free(void *p)
{
	free(p);
}

static char *thread_buf(size_t size)
{
	struct tbuf *b = pthread_getspecific(buf_key);
	if (b != NULL && b->cap >= size)
		return b->data;
	struct tbuf *nb = realloc(b, sizeof(*b) + size);
	if (nb == NULL)
		return NULL;
	nb->cap = size;
	if (pthread_setspecific(buf_key, nb) != 0) {
		free(nb);
		return NULL;
	}
	return nb->data;
}

/* Inodes: 1 the root, 2 + i file i. */
static struct file *file_of(fuse_ino_t ino)
{
	return ino >= 2 && ino - 2 < cfg.nfiles ? &cfg.files[ino - 2] : NULL;
}

static void fill_attr(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_blksize = (blksize_t)cfg.blksize;
	if (ino == FUSE_ROOT_ID) {
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
	} else {
		const struct file *f = file_of(ino);
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		st->st_size = f->size;
		st->st_blocks = (blkcnt_t)((f->size + 511) / 512);
	}
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	conn->max_readahead = cfg.readahead;
	conn->max_write = cfg.max_read;
	if (conn->capable & FUSE_CAP_ASYNC_READ)
		conn->want |= FUSE_CAP_ASYNC_READ;
	if (cfg.mode == MODE_SPLICE && (conn->capable & FUSE_CAP_SPLICE_WRITE))
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	else
		conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	memset(&e, 0, sizeof(e));
	e.attr_timeout = e.entry_timeout = TIMEOUT;
	if (parent != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	for (size_t i = 0; i < cfg.nfiles; i++)
		if (strcmp(cfg.files[i].name, name) == 0) {
			e.ino = (fuse_ino_t)i + 2;
			fill_attr(e.ino, &e.attr);
			break;
		}
	fuse_reply_entry(req, &e); /* ino 0: a cached negative entry */
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)fi;
	struct stat st;
	if (ino != FUSE_ROOT_ID && file_of(ino) == NULL) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(ino, &st);
	fuse_reply_attr(req, &st, TIMEOUT);
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	if (file_of(ino) == NULL) {
		fuse_reply_err(req, ino == FUSE_ROOT_ID ? EISDIR : ENOENT);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	fi->keep_cache = cfg.keep_cache ? 1 : 0;
	fi->direct_io = cfg.direct_io ? 1 : 0;
	fuse_reply_open(req, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	(void)fi;
	const struct file *f = file_of(ino);
	if (cfg.stats)
		count_read(size);
	if (f == NULL || off < 0) {
		fuse_reply_err(req, f == NULL ? ENOENT : EINVAL);
		return;
	}
	size_t len = off >= f->size ? 0 : (size_t)(f->size - off);
	if (len > size)
		len = size;
	if (len == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (cfg.mode == MODE_SPLICE) {
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(len);
		bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
		bv.buf[0].fd = f->fd;
		bv.buf[0].pos = f->base + off;
		fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE);
		return;
	}
	if (cfg.mode == MODE_MMAP) {
		fuse_reply_buf(req, f->map + off, len);
		return;
	}
	char *buf = thread_buf(len);
	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t got = 0;
	while (got < len) {
		ssize_t n = pread(f->fd, buf + got, len - got, f->base + off + (off_t)got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fuse_reply_err(req, EIO); /* the file shrank or failed */
			return;
		}
		got += (size_t)n;
	}
	fuse_reply_buf(req, buf, got);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	if (ino != FUSE_ROOT_ID) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	char *buf = malloc(size ? size : 1);
	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	/* entry k: ".", "..", then file k - 2; off = the next entry's k */
	for (size_t k = (size_t)off; k < cfg.nfiles + 2; k++) {
		struct stat st;
		memset(&st, 0, sizeof(st));
		st.st_ino = k < 2 ? FUSE_ROOT_ID : k;
		st.st_mode = k < 2 ? S_IFDIR : S_IFREG;
		const char *name = k == 0 ? "." : k == 1 ? ".." : cfg.files[k - 2].name;
		size_t need =
		    fuse_add_direntry(req, buf + used, size - used, name, &st, (off_t)k + 1);
		if (need > size - used)
			break;
		used += need;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static const struct fuse_lowlevel_ops ops = {
    .init = op_init,
    .lookup = op_lookup,
    .getattr = op_getattr,
    .open = op_open,
    .read = op_read,
    .readdir = op_readdir,
};

static int usage(const char *msg, const char *arg)
{
	fprintf(stderr, "ceiling: %s%s%s\n", msg, arg ? ": " : "", arg ? arg : "");
	fprintf(stderr, "usage: ceiling [--mode=splice|copy|mmap] [--keep-cache] [--direct-io]\n"
			"       [--blksize=N] [--threads=N] [--idle-threads=N] [--clone-fd=0|1]\n"
			"       [--max-read=N] [--readahead=N] [--stats] [-o OPTS] [-d]\n"
			"       NAME=PATH[:OFFSET:LENGTH]... MOUNTPOINT\n");
	return 64;
}

/* A decimal count with an optional K/M/G suffix (KiB, MiB, GiB) in 0..max. */
static int parse_size(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	unsigned long long mul = *end == 'K'   ? 1ull << 10
				 : *end == 'M' ? 1ull << 20
				 : *end == 'G' ? 1ull << 30
					       : 1;
	if (mul != 1)
		end++;
	if (errno || end == s || *end != '\0' || *s == '-' || v > max / mul)
		return -1;
	*out = v * mul;
	return 0;
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
	unsigned long long v;
	if (parse_size(s, max, &v) != 0)
		return -1;
	*out = (unsigned)v;
	return 0;
}

/* NAME=PATH[:OFFSET:LENGTH]; the range must lie inside the file. */
static int open_file(char *spec, struct file *f)
{
	char *eq = strchr(spec, '=');
	if (eq == NULL || eq == spec || memchr(spec, '/', (size_t)(eq - spec)) != NULL)
		return usage("not NAME=PATH[:OFFSET:LENGTH]", spec);
	*eq = '\0';
	f->name = spec;
	char *path = eq + 1;
	unsigned long long off = 0, len = 0;
	int ranged = 0;
	char *c2 = strrchr(path, ':');
	if (c2 != NULL) {
		*c2 = '\0';
		char *c1 = strrchr(path, ':');
		if (c1 == NULL || parse_size(c1 + 1, LLONG_MAX, &off) != 0 ||
		    parse_size(c2 + 1, LLONG_MAX, &len) != 0)
			return usage("bad OFFSET:LENGTH", spec);
		*c1 = '\0';
		ranged = 1;
	}
	f->fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (f->fd < 0 || fstat(f->fd, &st) != 0) {
		fprintf(stderr, "ceiling: %s: %s\n", path, strerror(errno));
		return 1;
	}
	if (!ranged)
		len = (unsigned long long)st.st_size;
	if (off > (unsigned long long)st.st_size || len > (unsigned long long)st.st_size - off) {
		fprintf(stderr, "ceiling: %s: %llu bytes at %llu pass its end (%lld)\n", path, len,
			off, (long long)st.st_size);
		return 1;
	}
	f->base = (off_t)off;
	f->size = (off_t)len;
	if (cfg.mode == MODE_MMAP && len > 0) {
		unsigned long long page = (unsigned long long)sysconf(_SC_PAGESIZE);
		unsigned long long start = off / page * page;
		f->map_len = (size_t)(off + len - start);
		f->map_addr = mmap(NULL, f->map_len, PROT_READ, MAP_SHARED, f->fd, (off_t)start);
		if (f->map_addr == MAP_FAILED) {
			fprintf(stderr, "ceiling: mmap %s: %s\n", path, strerror(errno));
			f->map_addr = NULL;
			return 1;
		}
		f->map = (const char *)f->map_addr + (off - start);
	}
	return 0;
}

static int option(const char *a, struct fuse_args *args)
{
	const char *v = strchr(a, '=');
	v = v ? v + 1 : "";
	if (strcmp(a, "--keep-cache") == 0)
		cfg.keep_cache = 1;
	else if (strcmp(a, "--stats") == 0)
		cfg.stats = 1;
	else if (strcmp(a, "--direct-io") == 0)
		cfg.direct_io = 1;
	else if (strncmp(a, "--mode=", 7) == 0) {
		if (strcmp(v, "splice") == 0)
			cfg.mode = MODE_SPLICE;
		else if (strcmp(v, "copy") == 0)
			cfg.mode = MODE_COPY;
		else if (strcmp(v, "mmap") == 0)
			cfg.mode = MODE_MMAP;
		else
			return usage("bad --mode", v);
	} else if (strncmp(a, "--blksize=", 10) == 0) {
		if (parse_uint(v, 1u << 30, &cfg.blksize) != 0 || cfg.blksize == 0 ||
		    (cfg.blksize & (cfg.blksize - 1)) != 0)
			return usage("--blksize must be a power of two", v);
	} else if (strncmp(a, "--threads=", 10) == 0) {
		if (parse_uint(v, 1024, &cfg.threads) != 0)
			return usage("bad --threads", v);
	} else if (strncmp(a, "--idle-threads=", 15) == 0) {
		if (parse_uint(v, 1024, &cfg.idle_threads) != 0)
			return usage("bad --idle-threads", v);
	} else if (strncmp(a, "--clone-fd=", 11) == 0) {
		unsigned c;
		if (parse_uint(v, 1, &c) != 0)
			return usage("bad --clone-fd", v);
		cfg.clone_fd = (int)c;
	} else if (strncmp(a, "--max-read=", 11) == 0) {
		if (parse_uint(v, 1u << 20, &cfg.max_read) != 0 || cfg.max_read < 4096)
			return usage("--max-read must be 4K..1M", v);
	} else if (strncmp(a, "--readahead=", 12) == 0) {
		if (parse_uint(v, 1u << 30, &cfg.readahead) != 0)
			return usage("bad --readahead", v);
	} else if (strcmp(a, "-d") == 0) {
		if (fuse_opt_add_arg(args, "-d") != 0)
			return 1;
	} else
		return usage("unknown option", a);
	return 0;
}

int main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	const char *mnt = NULL;
	int code = 1, i, rc;
	if (fuse_opt_add_arg(&args, "ceiling") != 0 || fuse_opt_add_arg(&args, "-o") != 0 ||
	    fuse_opt_add_arg(&args, "ro,fsname=ceiling,subtype=ceiling") != 0)
		goto out;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "-o") == 0) {
			if (i + 1 == argc) {
				code = usage("-o needs an argument", NULL);
				goto out;
			}
			if (fuse_opt_add_arg(&args, "-o") != 0 ||
			    fuse_opt_add_arg(&args, argv[++i]) != 0)
				goto out;
		} else if ((code = option(argv[i], &args)) != 0) {
			goto out;
		}
	}
	code = 1;
	if (argc - i < 2) {
		code = usage("need a mountpoint and at least one file", NULL);
		goto out;
	}
	mnt = argv[argc - 1];
	cfg.nfiles = (size_t)(argc - 1 - i);
	cfg.files = calloc(cfg.nfiles, sizeof(*cfg.files));
	if (cfg.files == NULL)
		goto out;
	for (size_t k = 0; k < cfg.nfiles; k++)
		cfg.files[k].fd = -1;
	for (size_t k = 0; k < cfg.nfiles; k++)
		if ((code = open_file(argv[i + (int)k], &cfg.files[k])) != 0)
			goto out;
	code = 1;
	if (pthread_key_create(&buf_key, buf_free) != 0)
		goto out;
	have_key = 1;
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (se == NULL) {
		code = usage("bad FUSE options", NULL);
		goto out;
	}
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, mnt) != 0)
		goto out_signals;
	if (cfg.threads == 0) {
		rc = fuse_session_loop(se);
	} else {
		struct fuse_loop_config *lc = fuse_loop_cfg_create();
		if (lc == NULL)
			goto out_unmount;
		fuse_loop_cfg_set_clone_fd(lc, (unsigned)cfg.clone_fd);
		fuse_loop_cfg_set_max_threads(lc, cfg.threads);
		fuse_loop_cfg_set_idle_threads(lc, cfg.idle_threads);
		rc = fuse_session_loop_mt(se, lc);
		fuse_loop_cfg_destroy(lc);
	}
	code = rc < 0 ? 1 : 0;
	if (cfg.stats)
		print_stats();
out_unmount:
	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out:
	if (have_key)
		free(pthread_getspecific(buf_key)); /* the main thread's, if it served */
	for (size_t k = 0; cfg.files != NULL && k < cfg.nfiles; k++) {
		if (cfg.files[k].map_addr != NULL)
			munmap(cfg.files[k].map_addr, cfg.files[k].map_len);
		if (cfg.files[k].fd >= 0)
			close(cfg.files[k].fd);
	}
	free(cfg.files);
	fuse_opt_free_args(&args);
	return code;
}
