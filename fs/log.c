/*
 * The mount's log (log.h). libfuse hands us lines, some in pieces: each
 * thread gathers its pieces into one line, which goes out in one write
 * (FILE, opened O_APPEND: lines of several threads or processes do not
 * mix) or one syslog record.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "exitcodes.h"

static int log_fd = -1;
static atomic_int to_syslog;

/* The line being gathered by this thread. */
static _Thread_local char line[2048];
static _Thread_local size_t line_len;

int ckptfs_log_open(const char *file)
{
	int fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		fprintf(stderr, "ckptfs: log file %s: %s\n", file, strerror(errno));
		return CKPTFS_EXIT_IOERR;
	}
	log_fd = fd;
	return 0;
}

int ckptfs_log_detach(void)
{
	struct stat st;
	if (log_fd >= 0)
		return 0;
	openlog("ckptfs", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	atomic_store(&to_syslog, 1);
	return stat("/dev/log", &st) == 0 && S_ISSOCK(st.st_mode) ? 0 : -1;
}

/* Write the gathered line (without its newline) to FILE or syslog. */
static void emit(enum fuse_log_level level, const char *msg)
{
	/* our lines start "ckptfs: "; the record names us anyway */
	if (strncmp(msg, "ckptfs: ", 8) == 0)
		msg += 8;
	if (log_fd < 0) {
		/* fuse_log_level's values are syslog's priorities */
		syslog((int)level, "%s", msg);
		return;
	}
	char out[sizeof(line) + 96], stamp[64] = "";
	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	if (localtime_r(&now.tv_sec, &tm) != NULL) {
		char zone[8];
		size_t n = strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
		if (strftime(zone, sizeof(zone), "%z", &tm) == 0)
			zone[0] = '\0';
		snprintf(stamp + n, sizeof(stamp) - n, ".%03ld%s", now.tv_nsec / 1000000, zone);
	}
	int n = snprintf(out, sizeof(out), "%s ckptfs[%ld]: %s\n", stamp, (long)getpid(), msg);
	if (n <= 0)
		return;
	size_t len = (size_t)n < sizeof(out) ? (size_t)n : sizeof(out) - 1;
	out[len - 1] = '\n';
	ssize_t w;
	do
		w = write(log_fd, out, len);
	while (w < 0 && errno == EINTR);
}

void ckptfs_log_write(enum fuse_log_level level, const char *fmt, va_list ap)
{
	if (log_fd < 0 && !atomic_load(&to_syslog)) {
		vfprintf(stderr, fmt, ap);
		return;
	}
	size_t room = sizeof(line) - line_len;
	int n = vsnprintf(line + line_len, room, fmt, ap);
	if (n > 0)
		line_len += (size_t)n < room ? (size_t)n : room - 1;
	int ended = line_len > 0 && line[line_len - 1] == '\n';
	if (!ended && line_len < sizeof(line) - 1)
		return; /* a piece: the rest comes next */
	line[line_len - ended] = '\0';
	/* a message of several lines is one record with the lines joined */
	for (char *p = line; (p = strchr(p, '\n')) != NULL;)
		*p = ' ';
	emit(level, line);
	line_len = 0;
}

void ckptfs_log_close(void)
{
	if (atomic_load(&to_syslog))
		closelog();
	if (log_fd >= 0)
		close(log_fd);
	log_fd = -1;
}
