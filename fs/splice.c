#include "splice.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <unistd.h>

/* Pipe slots hold at most a page each: a run that starts inside a page
 * takes up to len / page + 2 of them. */
#define PIPE_SLACK (2 * 4096)

void ckptfs_pipe_close(struct ckptfs_pipe *p)
{
	if (p->fd[0] >= 0) {
		close(p->fd[0]);
		close(p->fd[1]);
	}
	p->fd[0] = p->fd[1] = -1;
	p->size = 0;
}

int ckptfs_pipe_fill(struct ckptfs_pipe *p, int fd, uint64_t pos, size_t len, size_t *got)
{
	size_t need = len + PIPE_SLACK;
	*got = 0;
	if (need > INT_MAX || (p->refused && need >= p->refused))
		return -EFBIG;
	if (p->fd[0] < 0 && pipe2(p->fd, O_CLOEXEC | O_NONBLOCK) != 0) {
		p->fd[0] = p->fd[1] = -1;
		return -errno;
	}
	if (p->size < need) {
		int size = fcntl(p->fd[0], F_SETPIPE_SZ, (int)need);
		if (size < 0) {
			p->refused = need;
			return -EFBIG;
		}
		p->size = (size_t)size;
	}
	off_t at = (off_t)pos;
	while (*got < len) {
		ssize_t n = splice(fd, &at, p->fd[1], NULL, len - *got, SPLICE_F_MOVE);
		if (n > 0) {
			*got += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		int e = n == 0 ? ENODATA : errno;
		ckptfs_pipe_close(p); /* empty again */
		return -e;
	}
	return 0;
}

void ckptfs_pipe_drain(struct ckptfs_pipe *p)
{
	int left = 0;
	if (p->fd[0] >= 0 && (ioctl(p->fd[0], FIONREAD, &left) != 0 || left != 0))
		ckptfs_pipe_close(p);
}
