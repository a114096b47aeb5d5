#include "util/error_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

const char *ckpt_strerror(int code)
{
	switch (code) {
	case CKPT_OK: return "success";
	case CKPT_ENOMEM: return "out of memory";
	case CKPT_EIO: return "I/O error";
	case CKPT_ENOTFOUND: return "not found";
	case CKPT_ECORRUPT: return "corrupt file";
	case CKPT_ECHECKSUM: return "checksum mismatch";
	case CKPT_EUNSUPPORTED: return "unsupported";
	case CKPT_EINVAL: return "invalid argument";
	case CKPT_ERANGE: return "out of range";
	default: return "unknown error";
	}
}

int ckpt_status_errno(int code)
{
	switch (code) {
	case CKPT_OK: return 0;
	case CKPT_ENOMEM: return ENOMEM;
	case CKPT_ENOTFOUND: return ENOENT;
	case CKPT_EINVAL: return EINVAL;
	case CKPT_ERANGE: return ERANGE;
	case CKPT_EUNSUPPORTED: return EOPNOTSUPP;
	default: return EIO;
	}
}

/* A message is one line: a name from a hostile file may hold control
 * bytes (a newline, an escape sequence); they are shown as '?'. */
static void one_line(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			*s = '?';
}

int ckpt__error(ckpt_error *err, int code, const char *fmt, ...)
{
	int saved = errno;

	if (err == NULL)
		return code;
	err->code = code;
	err->sys_errno = code == CKPT_EIO ? saved : 0;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	one_line(err->msg);
	return code;
}

void ckpt__error_prefix(ckpt_error *err, const char *fmt, ...)
{
	char old[CKPT_ERROR_MSG_MAX];

	if (err == NULL)
		return;
	memcpy(old, err->msg, sizeof(old));
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(err->msg) - 2) {
		one_line(err->msg);
		return;
	}
	size_t used = (size_t)n;
	memcpy(err->msg + used, ": ", 2);
	used += 2;
	size_t room = sizeof(err->msg) - used - 1;
	size_t olen = strnlen(old, sizeof(old) - 1);
	if (olen > room)
		olen = room;
	memcpy(err->msg + used, old, olen);
	err->msg[used + olen] = '\0';
	one_line(err->msg);
}
