/*
 * Signals end the mount, after its open files are closed (drain.h).
 *
 * The handler runs on the thread of the session loop (libfuse's workers
 * and our waiter block the three signals; one that lands on another
 * thread is passed on to it), where it interrupts the loop's wait. It
 * either ends the session itself (no file open, no waiter, no waiting
 * asked for, a second signal) or hands the wait to the waiter thread
 * through a pipe. The waiter logs, waits for the last release (ops.c
 * writes to the same pipe) or the deadline, then ends the session and
 * wakes the loop's thread with a signal of its own.
 */
#include "drain.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The three that end the mount, then SIGPIPE (a write to a closed pipe
 * is an error, not death), as libfuse's fuse_set_signal_handlers. */
static const int signals_handled[] = {SIGTERM, SIGINT, SIGHUP, SIGPIPE};
#define N_SIGNALS (sizeof(signals_handled) / sizeof(signals_handled[0]))
#define N_ENDING 3

static struct fuse_session *drain_se;
static int drain_wait;			  /* seconds */
static int note_pipe[2] = {-1, -1};	  /* to the waiter; both ends non-blocking */
static unsigned char we_set[N_SIGNALS];	  /* handlers we installed (not SIG_IGN'd) */
static pthread_t loop_thread, waiter;	  /* valid once have_loop / have_waiter */
static atomic_int have_loop, have_waiter; /* set before the loop / the waiter runs */
static atomic_int ending;		  /* the waiter ended the session: no more waiting */
static atomic_int draining;		  /* the waiter waits: releases must tell it */
static atomic_int quit;			  /* the waiter must return */
static atomic_int n_signals, first_signal;
static atomic_uint open_files;

static void note(char c)
{
	ssize_t n;
	do
		n = write(note_pipe[1], &c, 1);
	while (n < 0 && errno == EINTR);
	/* a full pipe holds notes the waiter has yet to read: it wakes anyway */
}

static void on_signal(int sig)
{
	int saved = errno;
	if (atomic_load(&have_loop) && !pthread_equal(pthread_self(), loop_thread)) {
		pthread_kill(loop_thread, sig); /* the loop's wait must be interrupted */
		errno = saved;
		return;
	}
	int n = atomic_fetch_add(&n_signals, 1);
	if (n == 0)
		atomic_store(&first_signal, sig);
	if (atomic_load(&ending) || n > 0 || drain_wait <= 0 || !atomic_load(&have_waiter) ||
	    atomic_load(&open_files) == 0)
		fuse_session_exit(drain_se);
	else
		note('S');
	errno = saved;
}

static void do_nothing(int sig)
{
	(void)sig;
}

static const char *signal_name(int sig)
{
	return sig == SIGINT ? "SIGINT" : sig == SIGHUP ? "SIGHUP" : "SIGTERM";
}

/* End the session from the waiter, and wake the loop's thread. */
static void end_session(void)
{
	atomic_store(&ending, 1);
	fuse_session_exit(drain_se);
	pthread_kill(loop_thread, SIGTERM);
}

static int ms_until(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ms =
	    (long long)(t->tv_sec - now.tv_sec) * 1000 + (t->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms > 1000000 ? 1000000 : (int)ms;
}

static void *wait_files(void *arg)
{
	struct timespec deadline = {0, 0};
	int waiting = 0;
	(void)arg;
	for (;;) {
		struct pollfd pf = {.fd = note_pipe[0], .events = POLLIN};
		(void)poll(&pf, 1, waiting ? ms_until(&deadline) : -1);
		char buf[64];
		int signaled = 0;
		ssize_t got;
		while ((got = read(note_pipe[0], buf, sizeof(buf))) > 0)
			signaled |= memchr(buf, 'S', (size_t)got) != NULL;
		if (atomic_load(&quit))
			return NULL;
		if (signaled && !waiting) {
			waiting = 1;
			atomic_store(&draining, 1); /* before counting: no release is missed */
			unsigned n = atomic_load(&open_files);
			clock_gettime(CLOCK_MONOTONIC, &deadline);
			deadline.tv_sec += drain_wait;
			if (n)
				fuse_log(FUSE_LOG_NOTICE,
					 "ckptfs: %s: %u file%s still open: unmounting once %s "
					 "closed, in %d s at most (%s again: at once)\n",
					 signal_name(atomic_load(&first_signal)), n,
					 n == 1 ? "" : "s", n == 1 ? "it is" : "they are",
					 drain_wait, signal_name(atomic_load(&first_signal)));
		}
		if (!waiting)
			continue;
		unsigned n = atomic_load(&open_files);
		if (n == 0) {
			end_session();
			return NULL;
		}
		if (ms_until(&deadline) == 0) {
			fuse_log(FUSE_LOG_WARNING,
				 "ckptfs: %u file%s still open after %d s: unmounting (reads of "
				 "%s fail with ENOTCONN)\n",
				 n, n == 1 ? "" : "s", drain_wait, n == 1 ? "it" : "them");
			end_session();
			return NULL;
		}
	}
}

int ckptfs_drain_set(struct fuse_session *se, int wait)
{
	drain_se = se;
	drain_wait = wait;
	if (pipe2(note_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
		return -1;
	struct sigaction sa, old;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	for (size_t k = 0; k < N_SIGNALS; k++) {
		/* one ignored by whoever started us (nohup) stays ignored */
		sa.sa_handler = k < N_ENDING ? on_signal : do_nothing;
		if (sigaction(signals_handled[k], NULL, &old) != 0)
			return -1;
		if (old.sa_handler == SIG_DFL) {
			if (sigaction(signals_handled[k], &sa, NULL) != 0)
				return -1;
			we_set[k] = 1;
		}
	}
	return 0;
}

void ckptfs_drain_start(void)
{
	sigset_t block, old;
	loop_thread = pthread_self();
	atomic_store(&have_loop, 1);
	sigemptyset(&block);
	for (size_t k = 0; k < N_ENDING; k++)
		sigaddset(&block, signals_handled[k]);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	if (pthread_create(&waiter, NULL, wait_files, NULL) == 0)
		atomic_store(&have_waiter, 1);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

void ckptfs_drain_stop(void)
{
	if (atomic_load(&have_waiter)) {
		atomic_store(&quit, 1);
		note('Q');
		pthread_join(waiter, NULL);
		atomic_store(&have_waiter, 0);
	}
	atomic_store(&have_loop, 0);
}

int ckptfs_drain_signalled(void)
{
	return atomic_load(&n_signals) > 0;
}

void ckptfs_drain_remove(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_DFL;
	for (size_t k = 0; k < N_SIGNALS; k++)
		if (we_set[k])
			(void)sigaction(signals_handled[k], &sa, NULL);
	for (int k = 0; k < 2; k++)
		if (note_pipe[k] >= 0)
			close(note_pipe[k]);
	note_pipe[0] = note_pipe[1] = -1;
}

void ckptfs_drain_opened(void)
{
	atomic_fetch_add(&open_files, 1);
}

void ckptfs_drain_closed(void)
{
	if (atomic_fetch_sub(&open_files, 1) == 1 && atomic_load(&draining))
		note('R');
}
