/*
 * Read-ahead of the data files for sequential readers. A disk-cold
 * sequential read through the mount reaches the shard as requests of up
 * to 1 MiB from the daemon's threads, on one descriptor shared by every
 * reader of that shard (the store's pool): the kernel's own read-ahead
 * of that descriptor sees the readers interleaved and each request waits
 * for the disk. So each open file watches its reads; while they follow
 * each other, the daemon asks the kernel (posix_fadvise WILLNEED) for the
 * data file's bytes a window ahead of the reader, in steps, never more
 * than CKPTFS_RA_WINDOW past the reader's last request and never past
 * the file's end; a read elsewhere (a random reader) stops it until two
 * reads follow each other again.
 */
#ifndef CKPTFS_READAHEAD_H
#define CKPTFS_READAHEAD_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Bytes asked for ahead of a sequential reader, at most. */
#define CKPTFS_RA_WINDOW (32u << 20)
/* A new hint once less than this is left ahead of the reader. */
#define CKPTFS_RA_STEP (8u << 20)
/* Reads this far from where the last ended still count as following it
 * (requests of one reader may be split and answered out of order). */
#define CKPTFS_RA_SLACK (2u << 20)

struct ckptfs_ra {
	pthread_mutex_t lock;
	uint64_t next;			 /* where the last read ended */
	uint64_t ahead;			 /* hinted up to here (<= next: nothing ahead) */
	unsigned streak;		 /* reads in a row that followed the one before */
	struct ckptfs_ra *lprev, *lnext; /* every live state (ckptfs_ra_free_all) */
};

/* Ownership: the caller frees with ckptfs_ra_free (NULL when out of
 * memory), or ckptfs_ra_free_all frees every state not yet freed (a
 * session that ends with files open gets no release for them). */
struct ckptfs_ra *ckptfs_ra_new(void);
void ckptfs_ra_free(struct ckptfs_ra *ra);
void ckptfs_ra_free_all(void);

/*
 * Note a read of [off, off + len) of a file of size bytes. Returns 1 with
 * the range to hint in *hoff, *hlen (within the file, within
 * CKPTFS_RA_WINDOW of off + len), or 0: nothing to ask for.
 */
int ckptfs_ra_note(struct ckptfs_ra *ra, uint64_t off, size_t len, uint64_t size, uint64_t *hoff,
		   uint64_t *hlen);

#endif
