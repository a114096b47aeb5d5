/* The one place where library statuses become exit codes and errnos. */
#include "exitcodes.h"

#include <errno.h>
#include <stdio.h>

int ckptfs_exit_code(int status)
{
	switch (status) {
	case CKPT_OK: return CKPTFS_EXIT_OK;
	case CKPT_ENOTFOUND: return CKPTFS_EXIT_NOINPUT;
	case CKPT_ECORRUPT:
	case CKPT_ECHECKSUM:
	case CKPT_EUNSUPPORTED:
	case CKPT_ERANGE: return CKPTFS_EXIT_DATAERR;
	case CKPT_EINVAL: return CKPTFS_EXIT_MAP;
	case CKPT_EIO: return CKPTFS_EXIT_IOERR;
	default: return CKPTFS_EXIT_SOFTWARE;
	}
}

int ckptfs_map_exit_code(int status)
{
	if (status == CKPT_OK)
		return CKPTFS_EXIT_OK;
	return status == CKPT_ENOMEM ? CKPTFS_EXIT_SOFTWARE : CKPTFS_EXIT_MAP;
}

int ckptfs_fail(int status, const ckpt_error *err)
{
	fprintf(stderr, "ckptfs: %s\n", err->msg[0] ? err->msg : ckpt_strerror(status));
	return ckptfs_exit_code(status);
}

int ckptfs_errno(int status)
{
	return ckpt_status_errno(status);
}

int ckptfs_read_errno(int status)
{
	int e = ckpt_status_errno(status);
	return e == ENOENT ? EIO : e;
}
