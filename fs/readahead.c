#include "readahead.h"

#include <stdlib.h>

/* Every live state, for ckptfs_ra_free_all. */
static pthread_mutex_t live_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ckptfs_ra *live;

struct ckptfs_ra *ckptfs_ra_new(void)
{
	struct ckptfs_ra *ra = calloc(1, sizeof(*ra));
	if (ra != NULL && pthread_mutex_init(&ra->lock, NULL) != 0) {
		free(ra);
		return NULL;
	}
	if (ra != NULL) {
		pthread_mutex_lock(&live_lock);
		ra->lnext = live;
		if (live)
			live->lprev = ra;
		live = ra;
		pthread_mutex_unlock(&live_lock);
	}
	return ra;
}

void ckptfs_ra_free(struct ckptfs_ra *ra)
{
	if (ra == NULL)
		return;
	pthread_mutex_lock(&live_lock);
	if (ra->lprev)
		ra->lprev->lnext = ra->lnext;
	else
		live = ra->lnext;
	if (ra->lnext)
		ra->lnext->lprev = ra->lprev;
	pthread_mutex_unlock(&live_lock);
	pthread_mutex_destroy(&ra->lock);
	free(ra);
}

void ckptfs_ra_free_all(void)
{
	while (live != NULL)
		ckptfs_ra_free(live);
}

int ckptfs_ra_note(struct ckptfs_ra *ra, uint64_t off, size_t len, uint64_t size, uint64_t *hoff,
		   uint64_t *hlen)
{
	if (len == 0 || off >= size || len > size - off)
		return 0;
	uint64_t end = off + len;
	int found = 0;
	pthread_mutex_lock(&ra->lock);
	/* follows the last read: starts within the slack of where it ended
	 * (the first read of a file follows "the end of nothing" at 0) */
	int follows = off <= ra->next + CKPTFS_RA_SLACK && off + CKPTFS_RA_SLACK >= ra->next;
	if (!follows) {
		ra->streak = 0;
		ra->ahead = 0;
	} else if (ra->streak < 2) {
		ra->streak++;
	}
	if (end > ra->next || !follows)
		ra->next = end;
	if (ra->streak >= 2) {
		uint64_t from = ra->ahead > end ? ra->ahead : end;
		uint64_t limit = size - end < CKPTFS_RA_WINDOW ? size : end + CKPTFS_RA_WINDOW;
		/* a new step once less than CKPTFS_RA_STEP is left ahead */
		if (from < limit && from - end < CKPTFS_RA_STEP) {
			*hoff = from;
			*hlen = limit - from;
			ra->ahead = limit;
			found = 1;
		}
	}
	pthread_mutex_unlock(&ra->lock);
	return found;
}
