/*
 * Ending a mount on SIGTERM, SIGINT or SIGHUP (instead of libfuse's
 * fuse_set_signal_handlers). With no file open the session ends at once.
 * With files open (a reader mid-copy) it keeps serving until the last is
 * closed, at most term_wait seconds, so the reader finishes instead of
 * getting ENOTCONN; a second signal ends it at once. Each wait is logged.
 */
#ifndef CKPTFS_DRAIN_H
#define CKPTFS_DRAIN_H

#include <fuse_lowlevel.h>

/* Handle the three signals for se (and ignore SIGPIPE); wait: seconds
 * (0: never wait). 0, or -1 after printing why. */
int ckptfs_drain_set(struct fuse_session *se, int wait);
/* In the process that serves, on the thread that runs the session loop,
 * before it: start the thread that waits. Without it (no thread) a
 * signal ends the session at once. */
void ckptfs_drain_start(void);
/* After the loop: stop that thread. */
void ckptfs_drain_stop(void);
/* A signal asked the session to end (so that one ending before serving
 * is no failure). */
int ckptfs_drain_signalled(void);
/* Restore the signals' default handling. */
void ckptfs_drain_remove(void);

/* A file of the mount was opened / one of its handles released (ops.c). */
void ckptfs_drain_opened(void);
void ckptfs_drain_closed(void);

#endif
