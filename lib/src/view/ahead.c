/*
 * The checksum helper: one thread per view, started by the first file
 * read in sequence that is a whole piece in a local file (serve.c). While
 * the reader waits on its round trips, the helper reads the piece ahead
 * of it, at most AHEAD_LEAD bytes past the reader, and adds the CRCs of
 * what it read to the piece's sums (verify.c); so when the reader's last
 * reply has to wait for the check, little or nothing is left to read.
 *
 * Bounds: one buffer of AHEAD_STEP bytes and AHEAD_JOBS pieces followed
 * at once (the least recently advanced one gives way to a new one). It
 * blocks every signal, holds no lock while it reads, and looks at its
 * stop flag between reads of at most AHEAD_STEP bytes, so freeing the
 * view waits for at most one such read.
 */
#include "view/view_int.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "util/error_int.h"

#define AHEAD_JOBS 8
#define AHEAD_LEAD ((uint64_t)64 << 20)
#define AHEAD_STEP ((size_t)1 << 20)
/* A local piece's next bytes are hinted to the kernel (posix_fadvise
 * WILLNEED) up to AHEAD_HINT past the helper's read, in steps of at least
 * AHEAD_HINT / 4: its reads are synchronous, and a disk-cold shard's
 * descriptor is shared with the reader's splices, whose offsets lag
 * behind and defeat the kernel's own read-ahead of it. */
#define AHEAD_HINT ((uint64_t)32 << 20)

struct ahead_job {
	struct piece_sums *s; /* NULL: a free slot */
	int done;	      /* nothing left to read: kept, so that the reader
			       * does not hand it in again */
	size_t t, p;
	uint64_t limit;	 /* read no further than this */
	uint64_t resume; /* when the helper ran out of work here: wake it once
			  * limit reaches this */
	uint64_t used;	 /* clock of the last advance */
	uint64_t hinted; /* hinted to the kernel up to here */
};

struct ckpt__ahead {
	pthread_mutex_t lock; /* guards everything below */
	pthread_cond_t wake;
	pthread_t thread;
	int started; /* 1 running, -1 could not start (no retry) */
	int stop, idle;
	uint64_t clock;
	size_t turn; /* the job to look at first: they take turns */
	struct ahead_job jobs[AHEAD_JOBS];
	const ckpt_view *v;
};

/* Ownership: freed by ckpt__view_ahead_free (from ckpt_view_free). */
int ckpt__view_ahead_init(ckpt_view *v, ckpt_error *err)
{
	struct ckpt__ahead *a = calloc(1, sizeof(*a));
	if (a == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	if (pthread_mutex_init(&a->lock, NULL) != 0) {
		free(a);
		return ckpt__error(err, CKPT_ENOMEM, "no mutex for the checksum helper");
	}
	if (pthread_cond_init(&a->wake, NULL) != 0) {
		pthread_mutex_destroy(&a->lock);
		free(a);
		return ckpt__error(err, CKPT_ENOMEM, "no condition for the checksum helper");
	}
	a->v = v;
	v->ahead = a;
	return 0;
}

void ckpt__view_ahead_free(ckpt_view *v)
{
	struct ckpt__ahead *a = v->ahead;
	if (a == NULL)
		return;
	pthread_mutex_lock(&a->lock);
	a->stop = 1;
	pthread_cond_signal(&a->wake);
	int started = a->started;
	pthread_mutex_unlock(&a->lock);
	if (started == 1)
		pthread_join(a->thread, NULL);
	pthread_cond_destroy(&a->wake);
	pthread_mutex_destroy(&a->lock);
	free(a);
	v->ahead = NULL;
}

/* The next step of work: a job, the range to read and the range to hint
 * (*hlen 0: none). Under a->lock. */
static int next_step(struct ckpt__ahead *a, struct ahead_job *out, uint64_t *off, size_t *len,
		     uint64_t *hoff, uint64_t *hlen)
{
	for (size_t k = 0; k < AHEAD_JOBS; k++) {
		size_t i = (a->turn + k) % AHEAD_JOBS;
		struct ahead_job *j = &a->jobs[i];
		if (j->s == NULL || j->done)
			continue;
		uint64_t g0, g1;
		size_t at = ckpt__view_piece_base(a->v, j->t) + j->p;
		if (atomic_load(&a->v->verified[at]) != PIECE_UNCHECKED ||
		    !ckpt__view_sums_gap(j->s, j->limit, &g0, &g1)) {
			if (j->limit >= j->s->size || atomic_load(&a->v->verified[at]))
				j->done = 1; /* the piece is covered or decided */
			else
				j->resume = j->s->size - j->limit > AHEAD_LEAD / 2
						? j->limit + AHEAD_LEAD / 2
						: j->s->size; /* its last bytes: at the end */
			continue;
		}
		uint64_t end = g1 < j->limit ? g1 : j->limit;
		*off = g0;
		*len = end - g0 < AHEAD_STEP ? (size_t)(end - g0) : AHEAD_STEP;
		uint64_t from = g0 + *len > j->hinted ? g0 + *len : j->hinted;
		uint64_t to = j->s->size - from < AHEAD_HINT ? j->s->size : from + AHEAD_HINT;
		*hlen = 0;
		if (from < to && from - (g0 + *len) < AHEAD_HINT / 4) {
			*hoff = from;
			*hlen = to - from;
			j->hinted = to;
		}
		*out = *j;
		a->turn = i + 1;
		return 1;
	}
	return 0;
}

static void *helper(void *arg)
{
	struct ckpt__ahead *a = arg;
	void *buf = malloc(AHEAD_STEP);
	pthread_mutex_lock(&a->lock);
	while (!a->stop && buf != NULL) {
		struct ahead_job j;
		uint64_t off, hoff = 0, hlen;
		size_t len;
		if (!next_step(a, &j, &off, &len, &hoff, &hlen)) {
			a->idle = 1;
			pthread_cond_wait(&a->wake, &a->lock);
			a->idle = 0;
			continue;
		}
		pthread_mutex_unlock(&a->lock);
		ckpt_object *o;
		uint64_t base;
		if (hlen && ckpt_reader_piece_object(a->v->r, j.t, j.p, &o, &base))
			ckpt_object_willneed(o, base + hoff, hlen);
		int rc = ckpt__view_sums_fill(a->v, j.t, j.p, j.s, off, len, buf, NULL);
		pthread_mutex_lock(&a->lock);
		for (size_t i = 0; rc != 0 && i < AHEAD_JOBS; i++)
			if (a->jobs[i].s == j.s)
				a->jobs[i].done =
				    1; /* unreadable now, or no room: the check reads it */
	}
	pthread_mutex_unlock(&a->lock);
	free(buf);
	return NULL;
}

/* Start the helper with every signal blocked (they are the program's). */
static void start(struct ckpt__ahead *a)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	a->started = pthread_create(&a->thread, NULL, helper, a) == 0 ? 1 : -1;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void ckpt__view_ahead(const ckpt_view *v, size_t t, size_t p, struct piece_sums *s, uint64_t front)
{
	struct ckpt__ahead *a = v->ahead;
	pthread_mutex_lock(&a->lock);
	if (a->stop || a->started < 0) {
		pthread_mutex_unlock(&a->lock);
		return;
	}
	struct ahead_job *j = NULL, *oldest = &a->jobs[0];
	for (size_t i = 0; i < AHEAD_JOBS && j == NULL; i++) {
		if (a->jobs[i].s == s)
			j = &a->jobs[i];
		else if (a->jobs[i].used < oldest->used) /* a free slot's is 0 */
			oldest = &a->jobs[i];
	}
	if (j == NULL) {
		j = oldest; /* a free slot, or the least recently advanced job */
		*j = (struct ahead_job){.s = s, .t = t, .p = p};
	}
	if (j->done) { /* nothing left to read for it */
		j->used = ++a->clock;
		pthread_mutex_unlock(&a->lock);
		return;
	}
	uint64_t limit =
	    s->size > AHEAD_LEAD && front < s->size - AHEAD_LEAD ? front + AHEAD_LEAD : s->size;
	if (limit > j->limit)
		j->limit = limit;
	j->used = ++a->clock;
	if (a->started == 0)
		start(a);
	if (a->idle && j->limit >= j->resume)
		pthread_cond_signal(&a->wake);
	pthread_mutex_unlock(&a->lock);
}
