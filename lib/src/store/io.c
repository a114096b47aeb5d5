#include "store/io_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/error_int.h"

int ckpt__pread_full(int fd, void *buf, size_t n, uint64_t off, const char *name, ckpt_error *err)
{
	size_t done = 0;

	while (done < n) {
		ssize_t got = pread(fd, (char *)buf + done, n - done, (off_t)(off + done));
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return ckpt__error(err, CKPT_EIO, "%s@%llu: read failed: %s", name,
					   (unsigned long long)(off + done), strerror(errno));
		}
		if (got == 0)
			return ckpt__error(
			    err, CKPT_ECORRUPT,
			    "%s@%llu: file ends early (truncated): wanted %zu more bytes", name,
			    (unsigned long long)(off + done), n - done);
		done += (size_t)got;
	}
	return 0;
}

static const char *kind_text(mode_t m)
{
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISFIFO(m))
		return "a FIFO";
	if (S_ISCHR(m) || S_ISBLK(m))
		return "a device";
	if (S_ISSOCK(m))
		return "a socket";
	return "of an unknown type";
}

static int not_regular(const char *path, mode_t m, ckpt_error *err)
{
	return ckpt__error(err, CKPT_ENOTFOUND, "%s: not a regular file (%s)", path, kind_text(m));
}

static int open_failed(const char *path, ckpt_error *err)
{
	int e = errno;
	int rc = ckpt__error(err, e == ENOENT || e == ENOTDIR ? CKPT_ENOTFOUND : CKPT_EIO, "%s: %s",
			     path, strerror(e));
	if (err)
		err->sys_errno = e;
	return rc;
}

int ckpt__open_regular(const char *path, int *fd, struct stat *sb, ckpt_error *err)
{
	*fd = -1;
	if (stat(path, sb) != 0)
		return open_failed(path, err);
	if (!S_ISREG(sb->st_mode))
		return not_regular(path, sb->st_mode, err);
	int f = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (f < 0)
		return open_failed(path, err);
	if (fstat(f, sb) != 0) {
		int rc = ckpt__error(err, CKPT_EIO, "%s: cannot stat: %s", path, strerror(errno));
		close(f);
		return rc;
	}
	if (!S_ISREG(sb->st_mode)) {
		close(f);
		return not_regular(path, sb->st_mode, err);
	}
	int fl = fcntl(f, F_GETFL);
	if (fl < 0 || fcntl(f, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		int rc = ckpt__error(err, CKPT_EIO, "%s: cannot clear O_NONBLOCK: %s", path,
				     strerror(errno));
		close(f);
		return rc;
	}
	*fd = f;
	return 0;
}

void ckpt__stat_of(const struct stat *sb, ckpt_stat *st)
{
	memset(st, 0, sizeof(*st));
	st->kind = S_ISREG(sb->st_mode)	  ? CKPT_STORE_FILE
		   : S_ISDIR(sb->st_mode) ? CKPT_STORE_DIR
					  : CKPT_STORE_OTHER;
	st->size = S_ISREG(sb->st_mode) ? (uint64_t)sb->st_size : 0;
	st->mtime_sec = (int64_t)sb->st_mtim.tv_sec;
	st->mtime_nsec = sb->st_mtim.tv_nsec;
	snprintf(st->id, sizeof(st->id), "%llx:%llx:%llu:%lld.%09ld",
		 (unsigned long long)sb->st_dev, (unsigned long long)sb->st_ino,
		 (unsigned long long)sb->st_size, (long long)sb->st_mtim.tv_sec,
		 (long)sb->st_mtim.tv_nsec);
}

int ckpt__check_whole_size(const char *name, uint64_t size, size_t max_len, ckpt_error *err)
{
	if (size > max_len)
		return ckpt__error(err, CKPT_ERANGE, "%s: %llu bytes, more than the %zu accepted",
				   name, (unsigned long long)size, max_len);
	return 0;
}

int ckpt__read_file(const char *path, size_t max_len, uint8_t **out, size_t *len, ckpt_error *err)
{
	struct stat st;
	int fd;
	int rc = ckpt__open_regular(path, &fd, &st, err);
	if (rc)
		return rc;
	rc = ckpt__check_whole_size(path, (uint64_t)st.st_size, max_len, err);
	if (rc) {
		close(fd);
		return rc;
	}
	size_t n = (size_t)st.st_size;
	uint8_t *data = malloc(n ? n : 1);
	if (data == NULL) {
		close(fd);
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory for %zu bytes", path, n);
	}
	rc = ckpt__pread_full(fd, data, n, 0, path, err);
	close(fd);
	if (rc) {
		free(data);
		return rc;
	}
	*out = data;
	*len = n;
	return 0;
}
