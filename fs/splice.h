/*
 * Replies spliced from a data file through a pipe of our own. The pipe is
 * filled first and the bytes in it counted: handed the data file itself,
 * libfuse splices whatever is there and answers a file cut short under the
 * mount with a short reply, which the kernel takes for the end of the
 * file (and keeps as its size).
 */
#ifndef CKPTFS_SPLICE_H
#define CKPTFS_SPLICE_H

#include <stddef.h>
#include <stdint.h>

struct ckptfs_pipe {
	int fd[2];	/* -1 until first used; both ends non-blocking */
	size_t size;	/* its capacity */
	size_t refused; /* a capacity F_SETPIPE_SZ refused (0: none yet) */
};

#define CKPTFS_PIPE_INIT                                                                           \
	{                                                                                          \
		{-1, -1}, 0, 0                                                                     \
	}

/*
 * Splice bytes [pos, pos + len) of fd into the (empty) pipe p, growing it
 * to hold them. 0 when the pipe holds exactly those len bytes; else the
 * pipe is left empty and *got says how many bytes there were:
 * -ENODATA when fd ends before pos + len (cut short since it was
 * measured), -EIO when reading failed, another -errno when this pipe
 * cannot take them (too large for the pipe limit, fd cannot splice): then
 * copy the bytes instead.
 */
int ckptfs_pipe_fill(struct ckptfs_pipe *p, int fd, uint64_t pos, size_t len, size_t *got);

/* After the pipe's bytes were handed on: if any are left (a failed
 * reply), close it so that the next fill starts empty. */
void ckptfs_pipe_drain(struct ckptfs_pipe *p);

void ckptfs_pipe_close(struct ckptfs_pipe *p);

#endif
