#include "io_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error_int.h"

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

int ckpt__read_file(const char *path, size_t max_len, uint8_t **out, size_t *len, ckpt_error *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ckpt__error(err, errno == ENOENT ? CKPT_ENOTFOUND : CKPT_EIO,
				   "%s: cannot open: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int rc = ckpt__error(err, CKPT_EIO, "%s: cannot stat: %s", path, strerror(errno));
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > max_len) {
		close(fd);
		return ckpt__error(err, CKPT_ERANGE, "%s: not a regular file of at most %zu bytes",
				   path, max_len);
	}
	size_t n = (size_t)st.st_size;
	uint8_t *data = malloc(n ? n : 1);
	if (data == NULL) {
		close(fd);
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory for %zu bytes", path, n);
	}
	int rc = ckpt__pread_full(fd, data, n, 0, path, err);
	close(fd);
	if (rc) {
		free(data);
		return rc;
	}
	*out = data;
	*len = n;
	return 0;
}
