/*
 * A CHECKPOINT that is a URL (s3://, gs://, http://, https://) is read
 * through the remote store; anything else is a local path. This file: the
 * remote options (-o header=, ca_file=, ...) and the one place that picks
 * the store.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/store_remote.h"
#include "exitcodes.h"
#include "load.h"
#include "opts.h"

static const char *const remote_keys[] = {
    "header",  "ca_file",	  "chunk_size",	    "parallel",	  "retries",   "retry_time",
    "timeout", "connect_timeout", "low_speed_time", "cache_size", "cache_dir",
};

int ckptfs_remote_is_option(const char *key)
{
	for (size_t i = 0; i < sizeof(remote_keys) / sizeof(remote_keys[0]); i++)
		if (strcmp(key, remote_keys[i]) == 0)
			return 1;
	return 0;
}

/* A non-negative number with an optional K/M/G suffix (binary). */
static int parse_size(const char *v, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno || end == v || v[0] == '-')
		return -1;
	unsigned shift = 0;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	if (shift)
		end++;
	if (*end || n > (UINT64_MAX >> shift))
		return -1;
	*out = (uint64_t)n << shift;
	return 0;
}

static int parse_seconds(const char *v, double *out)
{
	char *end;
	errno = 0;
	double d = strtod(v, &end);
	if (errno || end == v || *end || !(d > 0) || d > 86400 * 365)
		return -1;
	*out = d;
	return 0;
}

int ckptfs_remote_option(struct ckptfs_remote *r, const char *key, const char *val)
{
	uint64_t n = 0;
	double d = 0;
	int bad = 0;
	if (strcmp(key, "header") == 0) {
		if (r->n_headers == sizeof(r->headers) / sizeof(r->headers[0])) {
			fprintf(stderr, "ckptfs: too many header options\n");
			return CKPTFS_EXIT_USAGE;
		}
		if (strchr(val, ':') == NULL || strpbrk(val, "\r\n")) {
			/* the value may be a token: never printed */
			fprintf(stderr, "ckptfs: header option %zu is not \"Name: value\"\n",
				r->n_headers + 1);
			return CKPTFS_EXIT_USAGE;
		}
		if ((r->headers[r->n_headers] = strdup(val)) == NULL)
			return CKPTFS_EXIT_SOFTWARE;
		r->n_headers++;
		return 0;
	}
	if (strcmp(key, "ca_file") == 0) {
		free(r->ca_file);
		return (r->ca_file = strdup(val)) ? 0 : CKPTFS_EXIT_SOFTWARE;
	}
	if (strcmp(key, "cache_dir") == 0) {
		free(r->cache_dir);
		return (r->cache_dir = strdup(val)) ? 0 : CKPTFS_EXIT_SOFTWARE;
	}
	if (strcmp(key, "cache_size") == 0)
		bad = parse_size(val, &n) || n > ((uint64_t)1 << 40) ||
		      (r->o.cache_size = (int64_t)n, 0);
	else if (strcmp(key, "chunk_size") == 0)
		bad = parse_size(val, &n) || n < 4096 || n > (1u << 30) || (r->o.chunk_size = n, 0);
	else if (strcmp(key, "parallel") == 0)
		bad = parse_size(val, &n) || n < 1 || n > 16 || (r->o.parallel = (unsigned)n, 0);
	else if (strcmp(key, "retries") == 0)
		bad = parse_size(val, &n) || n > 100 || (r->o.retries = (int)n, 0);
	else if (strcmp(key, "retry_time") == 0)
		bad = parse_seconds(val, &r->o.retry_time);
	else if (strcmp(key, "timeout") == 0)
		bad = parse_seconds(val, &r->o.timeout);
	else if (strcmp(key, "connect_timeout") == 0)
		bad = parse_seconds(val, &r->o.connect_timeout);
	else if (strcmp(key, "low_speed_time") == 0)
		bad = parse_seconds(val, &d) || d < 1 || (r->o.low_speed_time = (long)d, 0);
	if (bad) {
		fprintf(stderr, "ckptfs: bad value for %s: %s\n", key, val);
		return CKPTFS_EXIT_USAGE;
	}
	return 0;
}

void ckptfs_remote_free(struct ckptfs_remote *r)
{
	for (size_t i = 0; i < r->n_headers; i++) {
		memset(r->headers[i], 0, strlen(r->headers[i]));
		free(r->headers[i]);
	}
	free(r->ca_file);
	free(r->cache_dir);
}

int ckptfs_open_reader(const char *path, const struct ckptfs_opts *m, ckpt_reader **r,
		       ckpt_store **store, ckpt_error *err)
{
	*store = NULL;
	if (!ckpt_store_is_url(path))
		return ckpt_reader_open(r, path, err);
	ckpt_remote_opts o = m->remote.o;
	o.headers = (const char *const *)m->remote.headers;
	o.n_headers = m->remote.n_headers;
	o.ca_file = m->remote.ca_file;
	o.cache_dir = m->remote.cache_dir;
	int rc = ckpt_store_remote_new(store, path, &o, err);
	if (rc == 0)
		rc = ckpt_reader_open_store(r, *store, path, err);
	if (rc) {
		ckpt_store_free(*store);
		*store = NULL;
	}
	return rc;
}
