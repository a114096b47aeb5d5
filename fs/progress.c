/* The progress line (progress.h). */
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* Redraws at most this often (ns). */
enum { REDRAW_NS = 100000000 };

static double seconds_since(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* "512 B", "1.5 KiB", ... "3.2 TiB". */
static void human(char *out, size_t size, double b)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	size_t u = 0;
	while (b >= 1024 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		b /= 1024;
		u++;
	}
	snprintf(out, size, u ? "%.1f %s" : "%.0f %s", b, unit[u]);
}

static void draw(struct ckptfs_progress *p, const struct timespec *now, int final)
{
	char text[160], done[16], total[16], rate[16];
	double secs = seconds_since(&p->start, now);
	/* done may pass an estimated total (pieces read twice); a finished
	 * job is all of it; the rate is what was really read */
	uint64_t d = p->total && (final || p->done > p->total) ? p->total : p->done;
	double per_sec = secs > 0 ? (double)p->done / secs : 0;
	size_t n;

	human(done, sizeof(done), (double)d);
	if (p->total) {
		human(total, sizeof(total), (double)p->total);
		n = (size_t)snprintf(text, sizeof(text), "ckptfs: %s: %3d%% (%s of %s)", p->what,
				     (int)((double)d * 100 / (double)p->total), done, total);
	} else {
		n = (size_t)snprintf(text, sizeof(text), "ckptfs: %s: %s", p->what, done);
	}
	if (n < sizeof(text) && per_sec > 0) {
		human(rate, sizeof(rate), per_sec);
		n += (size_t)snprintf(text + n, sizeof(text) - n, ", %s/s", rate);
	}
	if (n < sizeof(text) && final) {
		n += (size_t)snprintf(text + n, sizeof(text) - n, ", done");
	} else if (n < sizeof(text) && p->total && per_sec > 0) {
		unsigned long left = (unsigned long)((double)(p->total - d) / per_sec + 0.5);
		if (left >= 3600)
			snprintf(text + n, sizeof(text) - n, ", ETA %lu:%02lu:%02lu", left / 3600,
				 left / 60 % 60, left % 60);
		else
			snprintf(text + n, sizeof(text) - n, ", ETA %lu:%02lu", left / 60,
				 left % 60);
	}
	int w = (int)strlen(text);
	/* spaces over the rest of a longer line drawn before */
	fprintf(stderr, "\r%s%*s%s", text, p->width > w ? p->width - w : 0, "", final ? "\n" : "");
	p->width = w;
	p->drawn = *now;
}

void ckptfs_progress_start(struct ckptfs_progress *p, const char *what, uint64_t total)
{
	memset(p, 0, sizeof(*p));
	p->on = isatty(STDERR_FILENO);
	p->what = what;
	p->total = total;
	clock_gettime(CLOCK_MONOTONIC, &p->start);
	if (p->on)
		draw(p, &p->start, 0);
}

void ckptfs_progress_set(struct ckptfs_progress *p, uint64_t done)
{
	struct timespec now;
	p->done = done;
	if (!p->on)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (seconds_since(&p->drawn, &now) * 1e9 >= REDRAW_NS)
		draw(p, &now, 0);
}

void ckptfs_progress_add(struct ckptfs_progress *p, uint64_t n)
{
	ckptfs_progress_set(p, p->done + n);
}

void ckptfs_progress_bytes(void *ctx, uint64_t n)
{
	ckptfs_progress_add(ctx, n);
}

void ckptfs_progress_clear(struct ckptfs_progress *p)
{
	if (!p->on || p->width == 0)
		return;
	fprintf(stderr, "\r%*s\r", p->width, "");
	p->width = 0;
	p->drawn = (struct timespec){0, 0}; /* redraw at the next update */
}

void ckptfs_progress_finish(struct ckptfs_progress *p, int ok)
{
	struct timespec now;
	if (!p->on)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (ok)
		draw(p, &now, 1);
	else
		fputc('\n', stderr);
	p->on = 0;
}
