/* ckptfs exit codes (documented in README and ckptfs.1). */
#ifndef CKPTFS_EXITCODES_H
#define CKPTFS_EXITCODES_H

enum {
	CKPTFS_EXIT_OK = 0,
	CKPTFS_EXIT_USAGE = 64,	   /* bad command line */
	CKPTFS_EXIT_DATAERR = 65,  /* checkpoint corrupt or unsupported */
	CKPTFS_EXIT_NOINPUT = 66,  /* checkpoint (or a file it names) missing */
	CKPTFS_EXIT_MAP = 67,	   /* assignment map / targets rejected */
	CKPTFS_EXIT_SOFTWARE = 70, /* out of memory, internal error */
	CKPTFS_EXIT_MOUNT = 71,	   /* mountpoint unusable or the mount failed */
	CKPTFS_EXIT_IOERR = 74,	   /* the OS failed a read or write */
};

/* Exit code for a ckpt_status. */
int ckptfs_exit_code(int status);

#endif
