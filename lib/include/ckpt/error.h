/*
 * ckpt/error.h - status codes and the error report every fallible libckpt
 * function fills.
 *
 * Convention: a function returns 0 or a negative CKPT_E* code. Its last
 * parameter is an optional `ckpt_error *` (NULL is fine) that is filled only
 * on failure, with a message naming the file, the byte offset and the check
 * that failed. The library never prints.
 */
#ifndef CKPT_ERROR_H
#define CKPT_ERROR_H

#ifdef __cplusplus
extern "C" {
#endif

enum ckpt_status {
	CKPT_OK = 0,
	CKPT_ENOMEM = -1,	/* allocation failed */
	CKPT_EIO = -2,		/* the OS failed a call; sys_errno says why */
	CKPT_ENOTFOUND = -3,	/* a file, key or tensor does not exist */
	CKPT_ECORRUPT = -4,	/* a structure in a file is malformed */
	CKPT_ECHECKSUM = -5,	/* a CRC32C did not match */
	CKPT_EUNSUPPORTED = -6, /* valid but not something we handle */
	CKPT_EINVAL = -7,	/* the caller's argument (map, option) is wrong */
	CKPT_ERANGE = -8,	/* a size or offset is out of range */
};

#define CKPT_ERROR_MSG_MAX 1024

typedef struct ckpt_error {
	int code;		      /* a ckpt_status */
	int sys_errno;		      /* errno for CKPT_EIO, else 0 */
	char msg[CKPT_ERROR_MSG_MAX]; /* "<file>@<offset>: <what failed>" */
} ckpt_error;

#define CKPT_ERROR_INIT                                                                            \
	{                                                                                          \
		0, 0,                                                                              \
		{                                                                                  \
			0                                                                          \
		}                                                                                  \
	}

/* A short constant name for a code ("corrupt file", ...). Never NULL. */
const char *ckpt_strerror(int code);

/* The errno a filesystem should answer for a code (EIO, ENOENT, ...). */
int ckpt_status_errno(int code);

#ifdef __cplusplus
}
#endif
#endif
