/*
 * FUSE_DIRECT_IO_ALLOW_MMAP with libfuse 3.14. Files opened with
 * direct_io (one copy per read, requests as large as the reader's) refuse
 * a shared mmap (ENODEV: numpy.load(mmap_mode='r'), safetensors loaders)
 * unless the filesystem answers the kernel's INIT with this flag (bit 36,
 * Linux >= 6.6), which libfuse 3.14 has no capability bit for. Through
 * libfuse's own custom-io hook (fuse_session_custom_io) the session's
 * reads and writes of /dev/fuse pass here unchanged, but for the INIT
 * exchange: the kernel's offer is noted, and the reply carries the flag
 * when asked for (ckptfs_initext_want) and offered.
 */
#ifndef CKPTFS_INITEXT_H
#define CKPTFS_INITEXT_H

#include <fuse_lowlevel.h>
#include <sys/uio.h>

struct fuse_init_out; /* <linux/fuse.h> */

/* The flag, in fuse_init_in/out's flags2 (the upper 32 bits of the flags). */
#define CKPTFS_DIRECT_IO_ALLOW_MMAP2 (1u << (36 - 32))

/* Route se's /dev/fuse traffic through the hook (after fuse_session_mount,
 * before the loop). 0, or a negative errno (the session is unchanged). */
int ckptfs_initext_install(struct fuse_session *se);

/* Whether the kernel's INIT offered FUSE_DIRECT_IO_ALLOW_MMAP: known in
 * the init handler (the request is read before it runs). */
int ckptfs_initext_offered(void);

/* From the init handler: set the flag in the INIT reply (when offered). */
void ckptfs_initext_want(void);

/*
 * The hook's two halves, for tests: note an INIT request read into buf
 * (len bytes; anything else is ignored), and patch an INIT reply in iov
 * (count entries, as libfuse writes it: header, then fuse_init_out) when
 * wanted. Return whether they found (resp. changed) an INIT message.
 */
int ckptfs_initext_note_request(const void *buf, size_t len);
int ckptfs_initext_patch_reply(struct iovec *iov, int count, struct fuse_init_out *copy);

#endif
