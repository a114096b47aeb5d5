/* ckptfs exit codes (documented in README and ckptfs.1), and the one place
 * that turns a library status into an exit code or an errno. */
#ifndef CKPTFS_EXITCODES_H
#define CKPTFS_EXITCODES_H

#include "ckpt/error.h"

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

/* Exit code for a status of resolving the map (ckpt_resolve): whatever
 * TF would reject is a map error, only running out of memory is not. */
int ckptfs_map_exit_code(int status);

/* Print "ckptfs: <err->msg>" and return ckptfs_exit_code(status). */
int ckptfs_fail(int status, const ckpt_error *err);

/* The errno of a FUSE reply for a status; a read that fails says EIO
 * (a tensor "not found" under an open file is an I/O error, not ENOENT). */
int ckptfs_errno(int status);
int ckptfs_read_errno(int status);

#endif
