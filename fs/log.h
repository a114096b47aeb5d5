/*
 * Where the mount's log lines go (libfuse's own and ckptfs's, all through
 * fuse_log): to FILE with -o log=FILE, else to stderr while there is one
 * (-f, or before the daemon lets the caller's go), else to syslog
 * (identifier "ckptfs", facility daemon: journalctl -t ckptfs).
 */
#ifndef CKPTFS_LOG_H
#define CKPTFS_LOG_H

#include <fuse_log.h>
#include <stdarg.h>

/* Open FILE (appended to, created 0600) for every later line; before
 * daemonizing, so a relative FILE is the caller's. Returns 0 or an exit
 * code after printing one line. */
int ckptfs_log_open(const char *file);

/* The daemon lets its stderr go: lines go to syslog from now on (unless
 * to FILE). Returns 0, or -1 when nothing receives syslog here (no
 * /dev/log socket) and no FILE was given: lines are lost. */
int ckptfs_log_detach(void);

/* One call of fuse_log (a line or a piece of one), to where lines go. */
void ckptfs_log_write(enum fuse_log_level level, const char *fmt, va_list ap);

/* Close FILE / syslog. */
void ckptfs_log_close(void);

#endif
