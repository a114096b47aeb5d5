/*
 * ckpt/store_remote.h - checkpoints in object storage: s3://, gs://,
 * http:// and https:// URLs read over HTTP with libcurl.
 *
 * Names are URLs of the store's own bucket (or host): "s3://b/dir/x.index".
 * A name starting with "/" is a key of the same bucket (host); a state
 * file's path that is itself a URL of the same bucket is used as is.
 * Only a name ending in "/" is a directory (where a `checkpoint` state file
 * may be); stat answers without a request and open checks that the object
 * exists (one HEAD). Reads are ranged GETs sent with If-Match of the ETag
 * pinned at open, checked against Content-Range and the byte count, and
 * retried with exponential backoff and jitter on connection errors,
 * timeouts and HTTP 408, 429, 500, 502, 503 and 504. A whole small object
 * (an index, a state file) is one GET. Reads go through a block cache
 * (bounded memory, optional directory) with sequential readahead.
 *
 * Credentials (see README "Remote checkpoints"): s3:// reads
 * AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION,
 * AWS_DEFAULT_REGION, AWS_ENDPOINT_URL(_S3), AWS_PROFILE and
 * AWS_SHARED_CREDENTIALS_FILE (default ~/.aws/credentials); gs:// reads
 * GOOGLE_OAUTH_ACCESS_TOKEN, CLOUDSDK_AUTH_ACCESS_TOKEN_FILE,
 * GS_ACCESS_KEY_ID / GS_SECRET_ACCESS_KEY (HMAC) and STORAGE_EMULATOR_HOST;
 * http(s):// sends the options' headers and uses ~/.netrc. None of them
 * ever appears in an error message.
 */
#ifndef CKPT_STORE_REMOTE_H
#define CKPT_STORE_REMOTE_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/error.h"
#include "ckpt/store.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ckpt_remote_opts {
	const char *const *headers; /* "Name: value" lines sent with every request */
	size_t n_headers;
	const char *ca_file;	/* CA bundle; NULL: CURL_CA_BUNDLE, SSL_CERT_FILE, system */
	uint64_t chunk_size;	/* bytes per range GET of a large read; 0: 8 MiB */
	unsigned parallel;	/* range GETs of one read at once; 0: 4 */
	int retries;		/* retries after the first attempt; < 0: 5 */
	double retry_time;	/* seconds all attempts of one request may take; 0: 120 */
	double timeout;		/* seconds one attempt may take; 0: 300 */
	double connect_timeout; /* seconds; 0: 10 */
	long low_speed_time;	/* seconds under 1 KiB/s cut an attempt; 0: 15 */
	int64_t cache_size;	/* block cache bytes; < 0: 256 MiB; 0: no cache */
	const char *cache_dir;	/* on-disk block cache (created if absent); NULL: none */
} ckpt_remote_opts;

#define CKPT_REMOTE_OPTS_INIT                                                                      \
	{                                                                                          \
		NULL, 0, NULL, 0, 0, -1, 0, 0, 0, 0, -1, NULL                                      \
	}

/* 1 when s is a URL a remote store reads (s3://, gs://, http://, https://). */
int ckpt_store_is_url(const char *s);

/*
 * A store for the bucket (s3://, gs://) or host (http(s)://) of url, with
 * its credentials read from the environment now. A URL with a user or
 * password in it is refused (CKPT_EINVAL; use ~/.netrc or a header).
 * Ownership: the caller frees *out with ckpt_store_free(); opts is copied.
 */
int ckpt_store_remote_new(ckpt_store **out, const char *url, const ckpt_remote_opts *opts,
			  ckpt_error *err);

#ifdef __cplusplus
}
#endif
#endif
