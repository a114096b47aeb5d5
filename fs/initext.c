#include "initext.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

/* One session per process: the INIT exchange seen on it. */
static _Atomic uint64_t init_unique; /* the INIT request's unique (0: none seen) */
static atomic_int seen, offered, wanted;

int ckptfs_initext_note_request(const void *buf, size_t len)
{
	struct fuse_in_header h;
	struct fuse_init_in in;
	if (len < sizeof(h) + offsetof(struct fuse_init_in, flags2) + sizeof(in.flags2))
		return 0;
	memcpy(&h, buf, sizeof(h));
	if (h.opcode != FUSE_INIT)
		return 0;
	memset(&in, 0, sizeof(in));
	size_t n = len - sizeof(h) < sizeof(in) ? len - sizeof(h) : sizeof(in);
	memcpy(&in, (const char *)buf + sizeof(h), n);
	atomic_store(&offered, (in.flags & FUSE_INIT_EXT) != 0 &&
				   (in.flags2 & CKPTFS_DIRECT_IO_ALLOW_MMAP2) != 0);
	atomic_store(&init_unique, h.unique);
	atomic_store(&seen, 1);
	return 1;
}

int ckptfs_initext_patch_reply(struct iovec *iov, int count, struct fuse_init_out *copy)
{
	struct fuse_out_header h;
	uint64_t u = atomic_load(&init_unique);
	if (u == 0 || count != 2 || iov[0].iov_len != sizeof(h) ||
	    iov[1].iov_len < offsetof(struct fuse_init_out, flags2) + sizeof(copy->flags2) ||
	    iov[1].iov_len > sizeof(*copy))
		return 0;
	memcpy(&h, iov[0].iov_base, sizeof(h));
	if (h.unique != u || h.error != 0)
		return 0;
	atomic_store(&init_unique, 0);
	if (!atomic_load(&offered) || !atomic_load(&wanted))
		return 0;
	memset(copy, 0, sizeof(*copy));
	memcpy(copy, iov[1].iov_base, iov[1].iov_len);
	if (!(copy->flags & FUSE_INIT_EXT))
		return 0;
	copy->flags2 |= CKPTFS_DIRECT_IO_ALLOW_MMAP2;
	iov[1].iov_base = copy;
	return 1;
}

int ckptfs_initext_offered(void)
{
	return atomic_load(&offered);
}

void ckptfs_initext_want(void)
{
	atomic_store(&wanted, 1);
}

static ssize_t io_writev(int fd, struct iovec *iov, int count, void *userdata)
{
	struct fuse_init_out copy; /* the patched reply, while it is written */
	struct iovec mine[2];
	(void)userdata;
	if (count == 2) {
		memcpy(mine, iov, sizeof(mine));
		if (ckptfs_initext_patch_reply(mine, 2, &copy))
			return writev(fd, mine, 2);
	}
	return writev(fd, iov, count);
}

static ssize_t io_read(int fd, void *buf, size_t len, void *userdata)
{
	(void)userdata;
	ssize_t n = read(fd, buf, len);
	/* INIT comes first, once: the rest pass unlooked at */
	if (n > 0 && !atomic_load(&seen))
		ckptfs_initext_note_request(buf, (size_t)n);
	return n;
}

/* libfuse splices only through hooks it is given: these are its own calls */
static ssize_t io_splice(int fdin, off_t *offin, int fdout, off_t *offout, size_t len,
			 unsigned int flags, void *userdata)
{
	(void)userdata;
	return splice(fdin, offin, fdout, offout, len, flags);
}

int ckptfs_initext_install(struct fuse_session *se)
{
	static const struct fuse_custom_io io = {
	    .writev = io_writev,
	    .read = io_read,
	    .splice_receive = io_splice,
	    .splice_send = io_splice,
	};
	int fd = fuse_session_fd(se);
	if (fd < 0)
		return -EBADF;
	return fuse_session_custom_io(se, &io, fd);
}
