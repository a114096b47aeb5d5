/*
 * A progress line on stderr where people wait (--verify mount, --format
 * tf's read at mount, --stats): "ckptfs: WHAT: 42% (1.2 GiB of 2.9 GiB),
 * 310 MiB/s, ETA 0:06", redrawn in place (\r) at most 10 times a second,
 * and only when stderr is a terminal: silent in logs, pipes and scripts.
 *
 * Use: ckptfs_progress_start(&p, "verifying", total); then
 * ckptfs_progress_add(&p, n) per n bytes done (or _set for a running
 * total) from the loop doing the work; ckptfs_progress_finish(&p, ok)
 * before anything else is printed. Not thread-safe: one thread reports.
 */
#ifndef CKPTFS_PROGRESS_H
#define CKPTFS_PROGRESS_H

#include <stdint.h>
#include <time.h>

struct ckptfs_progress {
	int on;		  /* stderr is a terminal */
	const char *what; /* borrowed: outlives the progress */
	uint64_t total;	  /* bytes to do; 0: unknown (no percentage, no ETA) */
	uint64_t done;
	struct timespec start, drawn; /* drawn: last redraw (0: none yet) */
	int width;		      /* of the line drawn last */
};

/* Start: draws the line at once (when on). */
void ckptfs_progress_start(struct ckptfs_progress *p, const char *what, uint64_t total);
/* n more bytes done / done bytes so far; redraws at most every 0.1 s. */
void ckptfs_progress_add(struct ckptfs_progress *p, uint64_t n);
void ckptfs_progress_set(struct ckptfs_progress *p, uint64_t done);
/* The last line: the final state and ", done" when ok, else the line as it
 * stands; then a newline, so what follows starts on a line of its own. */
void ckptfs_progress_finish(struct ckptfs_progress *p, int ok);

/* Wipe the line drawn (when on), so that a line of output or an error can
 * be printed; the next redraw draws it again. */
void ckptfs_progress_clear(struct ckptfs_progress *p);

/* A ckpt_reader_set_progress callback: ctx is a struct ckptfs_progress. */
void ckptfs_progress_bytes(void *ctx, uint64_t n);

#endif
