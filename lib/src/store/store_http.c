/*
 * The remote store (ckpt/store_remote.h): objects of one bucket or host
 * read with libcurl. Every request goes through request(): one easy handle
 * from a pool (handles share DNS, TLS sessions and connections through a
 * locked share handle, so FUSE's threads reuse keep-alive and HTTP/2
 * connections), checked answers, bounded retries with backoff and jitter.
 * A body is only ever accepted whole: the status, Content-Range, byte count
 * and ETag all match what was asked, else the attempt failed.
 */
#include <errno.h>
#include <fnmatch.h>
#include <pthread.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ckpt/store_remote.h"
#include "store/curl_load_int.h"
#include "util/error_int.h"
#include "store/store_cred_int.h"

#define POOL_MAX 32
#define LIST_MAX_NAMES 100000
#define LIST_MAX_PAGES 1000
#define ERRBODY_MAX 512
#define CACHE_BLOCK (256u << 10) /* cache block: the unit of a random read */

enum scheme { SCH_HTTP, SCH_S3, SCH_GS };

/*
 * The block cache (README "Remote checkpoints"): an object's bytes in
 * blocks of `bs` bytes at multiples of bs, keyed by the object's identity
 * (URL, pinned ETag and size, hashed to 128 bits) and the block index.
 * One lock guards everything; a block being fetched is in the table
 * (LOADING) so a second reader waits for it instead of sending a GET.
 */
enum { BLK_LOADING, BLK_READY, BLK_FAILED };

struct blk {
	uint64_t h1, h2, idx;
	uint8_t *data;
	size_t len;
	int mapped; /* data is mmap'd, else malloc'd */
	int state;
	int refs;     /* the fetcher's and each waiting or copying reader's */
	int in_table; /* findable (LOADING or READY) */
	int fetched;  /* fetcher only: bytes in data, to publish */
	int used;     /* a reader copied from it (a prefetched block may not be yet) */
	int rc;	      /* BLK_FAILED: the fetch's error */
	ckpt_error *err;
	struct blk *hnext, *lprev, *lnext;
};

#define SPARE_BLOCKS 16

struct bcache {
	pthread_mutex_t lock;
	pthread_cond_t cond;		 /* a block left LOADING, or a prefetch ended */
	struct blk **tab;		 /* NULL: no cache */
	size_t nb;			 /* buckets, a power of 2 */
	struct blk *lru_head, *lru_tail; /* READY blocks, most recent first */
	uint64_t bytes, cap;		 /* bytes of all live blocks; the cap */
	uint64_t bs;			 /* block size */
	uint64_t win;			 /* blocks per readahead window */
	unsigned bg;			 /* prefetch threads running */
	char *dir;			 /* on-disk cache, NULL: none */
	/* Memory of freed whole blocks, kept for the next ones: a fresh
	 * mapping costs a page fault and a cleared page per 4 KiB, which was
	 * a third of the daemon's CPU in a sequential read (bench R2). */
	uint8_t *spare[SPARE_BLOCKS];
	size_t nspare;
};

struct rstore {
	struct ckpt_store base;
	enum scheme scheme;
	char *root;	  /* names start with it: "s3://b", "https://host:port" */
	char *req_base;	  /* request URLs start with it */
	int virtual_host; /* s3 bucket in the host name: LIST at base + "/" */
	struct ckpt__cred cred;
	struct curl_slist *headers; /* sent with every request (may hold tokens) */
	ckpt_remote_opts o;
	CURLSH *share;
	pthread_mutex_t share_lock[CURL_LOCK_DATA_LAST];
	pthread_mutex_t pool_lock;
	CURL *idle[POOL_MAX];
	size_t n_idle;
	struct bcache c;
};

struct robj {
	struct ckpt_object base;
	char *name;
	char *url;
	int strong_etag; /* st.id is an ETag If-Match can carry */
	atomic_int refs; /* the opener's and each prefetch's */
	uint64_t h1, h2; /* identity hash: the cache key */
	/* access streams (under the cache lock): where the last reads ended */
	uint64_t s_end[4];
	unsigned s_hits[4], s_valid, s_next;
};

enum req_kind { REQ_HEAD, REQ_RANGE, REQ_WHOLE, REQ_LIST };

/* One request and what came back. */
struct xfer {
	enum req_kind kind;
	CURL *h;
	uint64_t off, len, size; /* REQ_RANGE: the range and the pinned size */
	const char *if_match;
	uint8_t *buf;
	uint8_t *const *segs; /* REQ_RANGE into blocks: segs[i] holds seg_len bytes */
	size_t seg_len;
	size_t cap, max; /* REQ_WHOLE/REQ_LIST: grows up to max */
	int owns_buf;
	/* answer of the last attempt */
	long status;
	size_t got;
	int overflow;
	char etag[CKPT_STORE_ID_MAX];
	int have_cr, cr_star;
	uint64_t cr_first, cr_last, cr_total;
	curl_off_t clen; /* Content-Length, -1 unknown */
	long filetime;	 /* Last-Modified, -1 unknown */
	char errbody[ERRBODY_MAX];
	size_t errlen;
	char cerr[CURL_ERROR_SIZE];
};

/* ---- URLs ---- */

int ckpt_store_is_url(const char *s)
{
	return strncmp(s, "s3://", 5) == 0 || strncmp(s, "gs://", 5) == 0 ||
	       strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

static int unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '.' || c == '_' || c == '~';
}

/* Characters an http(s) URL may carry as they are (the user's own
 * escapes and query kept). */
static int url_safe(unsigned char c)
{
	return c > 0x20 && c < 0x7f && !strchr("\"<>\\^`{|}#", c);
}

/* Append s percent-encoded: keys (s3/gs) keep unreserved bytes and, when
 * keep_slash, "/"; http paths keep url_safe bytes. */
static void encode(char *out, size_t *k, const char *s, int key, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		int keep = key ? unreserved(*p) || (keep_slash && *p == '/') : url_safe(*p);
		if (keep) {
			out[(*k)++] = (char)*p;
		} else {
			out[(*k)++] = '%';
			out[(*k)++] = hex[*p >> 4];
			out[(*k)++] = hex[*p & 15];
		}
	}
	out[*k] = '\0';
}

/* The key path ("/dir/x.index") of a name of this store. */
static int path_of(const struct rstore *s, const char *name, const char **path, ckpt_error *err)
{
	if (name[0] == '/') {
		*path = name;
		return 0;
	}
	/* a state file's URL joined to a directory URL: the last URL counts */
	const char *u = name, *p = name;
	while ((p = strstr(p, "://")) != NULL) {
		const char *b = p;
		while (b > name &&
		       ((b[-1] >= 'a' && b[-1] <= 'z') || (b[-1] >= '0' && b[-1] <= '9')))
			b--;
		u = b;
		p += 3;
	}
	size_t rl = strlen(s->root);
	if (strncmp(u, s->root, rl) != 0 || (u[rl] != '/' && u[rl] != '\0'))
		return ckpt__error(err, CKPT_EUNSUPPORTED,
				   "%s: not in %s (a checkpoint is read from one bucket or host)",
				   name, s->root);
	*path = u[rl] ? u + rl : "/";
	return 0;
}

/* Ownership: the caller frees *out. */
static int url_of(const struct rstore *s, const char *name, char **out, ckpt_error *err)
{
	const char *path;
	int rc = path_of(s, name, &path, err);
	if (rc)
		return rc;
	size_t lb = strlen(s->req_base);
	char *u = malloc(lb + 3 * strlen(path) + 1);
	if (u == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", name);
	memcpy(u, s->req_base, lb + 1);
	encode(u, &lb, path, s->scheme != SCH_HTTP, 1);
	*out = u;
	return 0;
}

/* ---- the handle pool and the share ---- */

static void share_lock(CURL *h, curl_lock_data d, curl_lock_access a, void *p)
{
	(void)h;
	(void)a;
	pthread_mutex_lock(&((struct rstore *)p)->share_lock[d]);
}

static void share_unlock(CURL *h, curl_lock_data d, void *p)
{
	(void)h;
	pthread_mutex_unlock(&((struct rstore *)p)->share_lock[d]);
}

static CURL *handle_get(struct rstore *s)
{
	CURL *h = NULL;
	pthread_mutex_lock(&s->pool_lock);
	if (s->n_idle)
		h = s->idle[--s->n_idle];
	pthread_mutex_unlock(&s->pool_lock);
	if (h)
		curl_easy_reset(h);
	else
		h = curl_easy_init();
	return h;
}

static void handle_put(struct rstore *s, CURL *h)
{
	pthread_mutex_lock(&s->pool_lock);
	if (s->n_idle < POOL_MAX) {
		s->idle[s->n_idle++] = h;
		h = NULL;
	}
	pthread_mutex_unlock(&s->pool_lock);
	if (h)
		curl_easy_cleanup(h);
}

/* ---- one attempt ---- */

static size_t on_body(char *data, size_t sz, size_t n, void *p)
{
	struct xfer *x = p;
	n *= sz;
	long status = 0;
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
	if (status < 200 || status >= 300) {
		size_t room = sizeof(x->errbody) - 1 - x->errlen;
		size_t k = n < room ? n : room;
		memcpy(x->errbody + x->errlen, data, k);
		x->errlen += k;
		x->errbody[x->errlen] = '\0';
		return n;
	}
	if (x->segs) {
		if (x->got + n > x->cap) {
			x->overflow = 1;
			return 0;
		}
		for (size_t done = 0; done < n;) {
			size_t at = x->got + done, i = at / x->seg_len, o = at % x->seg_len;
			size_t k = n - done < x->seg_len - o ? n - done : x->seg_len - o;
			memcpy(x->segs[i] + o, data + done, k);
			done += k;
		}
		x->got += n;
		return n;
	}
	if (x->got + n > x->cap) {
		if (!x->owns_buf || x->got + n > x->max) {
			x->overflow = 1;
			return 0; /* abort: never more than asked */
		}
		size_t nc = x->cap ? x->cap : 65536;
		while (nc < x->got + n)
			nc = nc > x->max / 2 ? x->max : nc * 2;
		uint8_t *nb = realloc(x->buf, nc);
		if (nb == NULL) {
			x->overflow = 1;
			return 0;
		}
		x->buf = nb;
		x->cap = nc;
	}
	memcpy(x->buf + x->got, data, n);
	x->got += n;
	return n;
}

static int header_is(const char *line, size_t n, const char *name, const char **val)
{
	size_t k = strlen(name);
	if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
		return 0;
	const char *v = line + k + 1;
	while (v < line + n && (*v == ' ' || *v == '\t'))
		v++;
	*val = v;
	return 1;
}

static size_t on_header(char *data, size_t sz, size_t n, void *p)
{
	struct xfer *x = p;
	n *= sz;
	size_t len = n;
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r'))
		len--;
	const char *v;
	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
		/* a new answer (after a 100 Continue, say): forget the last */
		x->etag[0] = '\0';
		x->have_cr = x->cr_star = 0;
	} else if (header_is(data, len, "etag", &v)) {
		size_t k = (size_t)(data + len - v);
		if (k < sizeof(x->etag)) {
			memcpy(x->etag, v, k);
			x->etag[k] = '\0';
		}
	} else if (header_is(data, len, "content-range", &v)) {
		char tmp[128];
		size_t k = (size_t)(data + len - v);
		if (k < sizeof(tmp)) {
			memcpy(tmp, v, k);
			tmp[k] = '\0';
			unsigned long long a, b, t;
			char c;
			if (sscanf(tmp, "bytes %llu-%llu/%llu%c", &a, &b, &t, &c) == 3 && a <= b &&
			    b < t) {
				x->have_cr = 1;
				x->cr_first = a;
				x->cr_last = b;
				x->cr_total = t;
			} else if (sscanf(tmp, "bytes */%llu%c", &t, &c) == 1) {
				x->cr_star = 1;
				x->cr_total = t;
			}
		}
	}
	return n;
}

static void set_common(const struct rstore *s, CURL *h, struct xfer *x)
{
	const ckpt_remote_opts *o = &s->o;
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_SHARE, s->share);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "ckptfs");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)(o->connect_timeout * 1000));
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(o->timeout * 1000));
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1024L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, o->low_speed_time);
	curl_easy_setopt(h, CURLOPT_FILETIME, 1L);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, x->cerr);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, x);
	if (o->ca_file)
		curl_easy_setopt(h, CURLOPT_CAINFO, o->ca_file);
	if (s->scheme == SCH_HTTP)
		curl_easy_setopt(h, CURLOPT_NETRC, (long)CURL_NETRC_OPTIONAL);
	if (s->cred.sigv4) {
		curl_easy_setopt(h, CURLOPT_AWS_SIGV4, s->cred.sigv4);
		curl_easy_setopt(h, CURLOPT_USERNAME, s->cred.key_id);
		curl_easy_setopt(h, CURLOPT_PASSWORD, s->cred.secret);
	}
}

/* Run one attempt; CURLcode of the transfer. */
static CURLcode attempt(const struct rstore *s, const char *url, struct xfer *x, int *oom)
{
	struct curl_slist *hl = NULL, *t;
	char line[CKPT_STORE_ID_MAX + 64];
	*oom = 0;
	x->status = 0;
	x->got = 0;
	x->overflow = 0;
	x->etag[0] = '\0';
	x->have_cr = x->cr_star = 0;
	x->errlen = 0;
	x->errbody[0] = '\0';
	x->cerr[0] = '\0';
	set_common(s, x->h, x);
	curl_easy_setopt(x->h, CURLOPT_URL, url);
	for (const struct curl_slist *e = s->headers; e; e = e->next) {
		if ((t = curl_slist_append(hl, e->data)) == NULL)
			goto oom;
		hl = t;
	}
	if (x->kind == REQ_HEAD)
		curl_easy_setopt(x->h, CURLOPT_NOBODY, 1L);
	if (x->kind == REQ_RANGE) {
		snprintf(line, sizeof(line), "Range: bytes=%llu-%llu", (unsigned long long)x->off,
			 (unsigned long long)(x->off + x->len - 1));
		if ((t = curl_slist_append(hl, line)) == NULL)
			goto oom;
		hl = t;
	}
	if (x->if_match) {
		snprintf(line, sizeof(line), "If-Match: %s", x->if_match);
		if ((t = curl_slist_append(hl, line)) == NULL)
			goto oom;
		hl = t;
	}
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, hl);
	CURLcode cc = curl_easy_perform(x->h);
	curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &x->status);
	curl_easy_setopt(x->h, CURLOPT_HTTPHEADER, NULL);
	curl_slist_free_all(hl);
	return cc;
oom:
	curl_slist_free_all(hl);
	*oom = 1;
	return CURLE_OUT_OF_MEMORY;
}

/* ---- checking an answer ---- */

enum verdict { V_OK, V_RETRY, V_FAIL };

/* The <Code> of an S3/GCS XML error body, for the message ("" if none). */
static void xml_code(const struct xfer *x, char *out, size_t cap)
{
	out[0] = '\0';
	const char *a = strstr(x->errbody, "<Code>");
	const char *b = a ? strstr(a, "</Code>") : NULL;
	if (a && b && (size_t)(b - a - 6) < cap - 1) {
		size_t k = (size_t)(b - a - 6);
		memcpy(out, a + 6, k);
		out[k] = '\0';
		for (size_t i = 0; i < k; i++)
			if (!unreserved((unsigned char)out[i]))
				out[i] = '?';
	}
}

static int retryable_curl(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_PARTIAL_FILE:
	case CURLE_GOT_NOTHING:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_WRITE_ERROR: /* our abort: a body longer than asked */
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_BAD_CONTENT_ENCODING: return 1;
	default: return 0;
	}
}

/* Is x's 2xx answer exactly what was asked? Sets why when not. */
static int answer_ok(const struct xfer *x, curl_off_t clen, char *why, size_t cap)
{
	if (x->kind == REQ_HEAD) {
		if (x->status != 200 || clen < 0) {
			snprintf(why, cap, "HEAD answered HTTP %ld without a size", x->status);
			return 0;
		}
		return 1;
	}
	if (x->kind == REQ_WHOLE || x->kind == REQ_LIST) {
		if (x->status != 200 || (clen >= 0 && (uint64_t)clen != x->got)) {
			snprintf(why, cap, "HTTP %ld, %zu body bytes of %lld", x->status, x->got,
				 (long long)clen);
			return 0;
		}
		return 1;
	}
	uint64_t last = x->off + x->len - 1;
	if (x->status == 206) {
		if (!x->have_cr || x->cr_first != x->off || x->cr_last != last ||
		    x->cr_total != x->size) {
			snprintf(why, cap,
				 "asked bytes %llu-%llu/%llu, the server sent %s%llu-%llu/%llu",
				 (unsigned long long)x->off, (unsigned long long)last,
				 (unsigned long long)x->size, x->have_cr ? "" : "no range, ",
				 (unsigned long long)x->cr_first, (unsigned long long)x->cr_last,
				 (unsigned long long)x->cr_total);
			return 0;
		}
	} else if (x->status != 200 || x->off != 0 || x->len != x->size) {
		snprintf(why, cap, "asked a range, the server answered HTTP %ld", x->status);
		return 0;
	}
	if (x->got != x->len || (clen >= 0 && (uint64_t)clen != x->len)) {
		snprintf(why, cap, "short body: %zu of %llu bytes", x->got,
			 (unsigned long long)x->len);
		return 0;
	}
	return 1;
}

static enum verdict judge(struct xfer *x, CURLcode cc, int oom, const char *name, int *code,
			  ckpt_error *err)
{
	char why[200], xc[64];
	if (oom) {
		*code = ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", name);
		return V_FAIL;
	}
	if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && x->overflow && x->owns_buf)) {
		*code = ckpt__error(err, CKPT_EIO, "%s: %s", name,
				    x->cerr[0] ? x->cerr : curl_easy_strerror(cc));
		return retryable_curl(cc) ? V_RETRY : V_FAIL;
	}
	if (x->overflow) {
		*code = ckpt__error(err, CKPT_ERANGE, "%s: larger than %zu bytes; not read", name,
				    x->max);
		return V_FAIL;
	}
	long st = x->status;
	x->clen = -1;
	x->filetime = -1;
	curl_easy_getinfo(x->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &x->clen);
	curl_easy_getinfo(x->h, CURLINFO_FILETIME, &x->filetime);
	xml_code(x, xc, sizeof(xc));
	const char *sp = xc[0] ? " " : "";
	if (st == 404 || st == 410) {
		*code = ckpt__error(err, CKPT_ENOTFOUND, "%s: not found (HTTP %ld%s%s)", name, st,
				    sp, xc);
		return V_FAIL;
	}
	if (st == 401 || st == 403) {
		*code = ckpt__error(err, CKPT_EIO,
				    "%s: access denied (HTTP %ld%s%s); check the credentials", name,
				    st, sp, xc);
		return V_FAIL;
	}
	if (st == 412) {
		*code = ckpt__error(err, CKPT_EIO,
				    "%s: the object changed since it was opened (ETag %s no "
				    "longer matches); not read",
				    name, x->if_match ? x->if_match : "?");
		return V_FAIL;
	}
	if (st == 416) {
		*code = ckpt__error(err, CKPT_ECORRUPT,
				    "%s@%llu: object ends early (truncated): the server has fewer "
				    "bytes than its size at open",
				    name, (unsigned long long)x->off);
		return V_FAIL;
	}
	if (st == 408 || st == 429 || st == 500 || st == 502 || st == 503 || st == 504) {
		*code = ckpt__error(err, CKPT_EIO, "%s: HTTP %ld%s%s", name, st, sp, xc);
		return V_RETRY;
	}
	if (st < 200 || st >= 300) {
		*code = ckpt__error(err, CKPT_EIO, "%s: HTTP %ld%s%s", name, st, sp, xc);
		return V_FAIL;
	}
	if (x->if_match && x->etag[0] && strcmp(x->etag, x->if_match) != 0) {
		*code = ckpt__error(err, CKPT_EIO,
				    "%s: the object changed since it was opened (ETag %s, pinned "
				    "%s); not read",
				    name, x->etag, x->if_match);
		return V_FAIL;
	}
	if (!answer_ok(x, x->clen, why, sizeof(why))) {
		*code = ckpt__error(err, CKPT_EIO, "%s@%llu: %s", name, (unsigned long long)x->off,
				    why);
		return V_RETRY;
	}
	*code = 0;
	return V_OK;
}

/* ---- retries ---- */

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t jitter_next(void)
{
	static _Thread_local uint64_t state;
	if (state == 0) {
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		state =
		    ((uint64_t)t.tv_nsec << 20) ^ (uint64_t)(uintptr_t)&state ^ 0x9e3779b97f4a7c15u;
	}
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

/* Send x until it succeeds, fails for good, or the retries or the time
 * run out; 0 or the last attempt's error. */
static int request(struct rstore *s, const char *name, const char *url, struct xfer *x,
		   ckpt_error *err)
{
	double start = now_s();
	int code = 0;
	x->h = handle_get(s);
	if (x->h == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", name);
	for (int try = 0;; try++) {
		int oom;
		CURLcode cc = attempt(s, url, x, &oom);
		enum verdict v = judge(x, cc, oom, name, &code, err);
		if (v != V_RETRY || try >= s->o.retries)
			break;
		/* 0.1 s doubling up to 5 s, a random half of it as jitter */
		double d = 0.1 * (double)(1u << (try < 6 ? try : 6));
		if (d > 5)
			d = 5;
		d = d / 2 + d / 2 * (double)(jitter_next() % 1000) / 1000.0;
		if (now_s() - start + d > s->o.retry_time)
			break;
		struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
		nanosleep(&ts, NULL);
	}
	handle_put(s, x->h);
	x->h = NULL;
	return code;
}

/* ---- the ops ---- */

static struct rstore *store_of(ckpt_store *s)
{
	return (struct rstore *)s;
}

static void stat_from(const struct xfer *x, uint64_t size, ckpt_stat *st)
{
	memset(st, 0, sizeof(*st));
	st->kind = CKPT_STORE_FILE;
	st->size = size;
	if (x->filetime > 0)
		st->mtime_sec = x->filetime;
	if (x->etag[0])
		snprintf(st->id, sizeof(st->id), "%s", x->etag);
	else
		snprintf(st->id, sizeof(st->id), "size %llu mtime %lld", (unsigned long long)size,
			 (long long)st->mtime_sec);
}

static int r_stat(ckpt_store *s, const char *name, ckpt_stat *st, ckpt_error *err)
{
	const char *path;
	int rc = path_of(store_of(s), name, &path, err);
	if (rc)
		return rc;
	/* no request: a directory ends in "/", an object is checked at open */
	memset(st, 0, sizeof(*st));
	size_t n = strlen(path);
	st->kind = path[n - 1] == '/' ? CKPT_STORE_DIR : CKPT_STORE_FILE;
	return 0;
}

static void ident_hash(struct robj *o);

static int r_open(ckpt_store *store, const char *name, ckpt_object **out, ckpt_error *err)
{
	struct rstore *s = store_of(store);
	struct robj *o = calloc(1, sizeof(*o));
	if (o == NULL || (o->name = strdup(name)) == NULL) {
		free(o);
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", name);
	}
	int rc = url_of(s, name, &o->url, err);
	struct xfer x = {.kind = REQ_HEAD};
	if (rc == 0)
		rc = request(s, name, o->url, &x, err);
	if (rc) {
		free(o->url);
		free(o->name);
		free(o);
		return rc;
	}
	o->base.store = store;
	o->base.name = o->name;
	stat_from(&x, (uint64_t)x.clen, &o->base.st);
	o->strong_etag = x.etag[0] && x.etag[0] == '"';
	atomic_init(&o->refs, 1);
	ident_hash(o);
	*out = &o->base;
	return 0;
}

/* ---- range GETs, in parallel ---- */

/* One range GET: into buf, or into blocks (segs) of seg_len bytes. */
struct job {
	uint64_t off, len;
	uint8_t *buf;
	uint8_t *const *segs;
	int rc;
};

struct jobs {
	struct rstore *s;
	struct robj *o;
	struct job *v;
	size_t n, next;
	uint64_t seg_len;
	int code;
	ckpt_error err;
	pthread_mutex_t lock;
};

static int read_range(struct rstore *s, struct robj *o, struct job *j, uint64_t seg_len,
		      ckpt_error *err)
{
	struct xfer x = {.kind = REQ_RANGE,
			 .off = j->off,
			 .len = j->len,
			 .size = o->base.st.size,
			 .if_match = o->strong_etag ? o->base.st.id : NULL,
			 .buf = j->buf,
			 .segs = j->segs,
			 .seg_len = (size_t)seg_len,
			 .cap = (size_t)j->len};
	return request(s, o->name, o->url, &x, err);
}

static void *job_worker(void *p)
{
	struct jobs *c = p;
	for (;;) {
		pthread_mutex_lock(&c->lock);
		size_t i = c->code ? c->n : c->next++;
		pthread_mutex_unlock(&c->lock);
		if (i >= c->n)
			return NULL;
		ckpt_error e = CKPT_ERROR_INIT;
		int rc = c->v[i].rc = read_range(c->s, c->o, &c->v[i], c->seg_len, &e);
		if (rc) {
			pthread_mutex_lock(&c->lock);
			if (c->code == 0) {
				c->code = rc;
				c->err = e;
			}
			pthread_mutex_unlock(&c->lock);
		}
	}
}

/* Run the n jobs, `parallel` at a time; the first error stops the rest
 * (they keep rc CKPT_EIO). 0 or the first error. */
static int run_jobs(struct rstore *s, struct robj *o, struct job *v, size_t n, uint64_t seg_len,
		    ckpt_error *err)
{
	for (size_t i = 0; i < n; i++)
		v[i].rc = CKPT_EIO;
	if (n == 1) {
		v[0].rc = read_range(s, o, &v[0], seg_len, err);
		return v[0].rc;
	}
	struct jobs c = {.s = s, .o = o, .v = v, .n = n, .seg_len = seg_len};
	if (pthread_mutex_init(&c.lock, NULL) != 0)
		return ckpt__error(err, CKPT_ENOMEM, "%s: cannot create a lock", o->name);
	pthread_t th[16];
	size_t nth = 0, want = s->o.parallel < n ? s->o.parallel : n;
	while (nth + 1 < want && nth < 16 && pthread_create(&th[nth], NULL, job_worker, &c) == 0)
		nth++;
	job_worker(&c);
	for (size_t i = 0; i < nth; i++)
		pthread_join(th[i], NULL);
	pthread_mutex_destroy(&c.lock);
	if (c.code && err)
		*err = c.err;
	return c.code;
}

/* A read straight into buf: chunk_size range GETs in parallel. */
static int direct_pread(struct rstore *s, struct robj *o, uint8_t *buf, uint64_t len, uint64_t off,
			ckpt_error *err)
{
	uint64_t chunk = s->o.chunk_size;
	size_t n = (size_t)((len + chunk - 1) / chunk);
	struct job one, *v = n == 1 ? &one : calloc(n, sizeof(*v));
	if (v == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", o->name);
	for (size_t i = 0; i < n; i++) {
		uint64_t a = (uint64_t)i * chunk;
		v[i] = (struct job){
		    .off = off + a, .len = len - a < chunk ? len - a : chunk, .buf = buf + a};
	}
	int rc = run_jobs(s, o, v, n, 0, err);
	if (v != &one)
		free(v);
	return rc;
}

/* ---- the block cache ---- */

static void robj_unref(struct robj *o)
{
	if (atomic_fetch_sub(&o->refs, 1) != 1)
		return;
	free(o->url);
	free(o->name);
	free(o);
}

static uint64_t fnv(uint64_t h, const char *p)
{
	for (; *p; p++)
		h = (h ^ (unsigned char)*p) * 0x100000001b3u;
	return (h ^ '\n') * 0x100000001b3u;
}

/* The object's cache key: its URL, pinned identity and size. */
static void ident_hash(struct robj *o)
{
	char size[32];
	snprintf(size, sizeof(size), "%llu", (unsigned long long)o->base.st.size);
	o->h1 = fnv(fnv(fnv(0xcbf29ce484222325u, o->url), o->base.st.id), size);
	o->h2 = fnv(fnv(fnv(0x84222325cbf29ce4u, size), o->base.st.id), o->url);
}

static struct blk **slot(struct bcache *c, uint64_t h1, uint64_t idx)
{
	uint64_t k = (h1 ^ (idx * 0x9e3779b97f4a7c15u)) * 0xff51afd7ed558ccdu;
	return &c->tab[(k >> 32) & (c->nb - 1)];
}

static struct blk *tab_find(struct bcache *c, const struct robj *o, uint64_t idx)
{
	for (struct blk *b = *slot(c, o->h1, idx); b; b = b->hnext)
		if (b->h1 == o->h1 && b->h2 == o->h2 && b->idx == idx)
			return b;
	return NULL;
}

static void lru_unlink(struct bcache *c, struct blk *b)
{
	if (b->lprev)
		b->lprev->lnext = b->lnext;
	else if (c->lru_head == b)
		c->lru_head = b->lnext;
	if (b->lnext)
		b->lnext->lprev = b->lprev;
	else if (c->lru_tail == b)
		c->lru_tail = b->lprev;
	b->lprev = b->lnext = NULL;
}

static void lru_push(struct bcache *c, struct blk *b)
{
	b->lnext = c->lru_head;
	if (c->lru_head)
		c->lru_head->lprev = b;
	c->lru_head = b;
	if (c->lru_tail == NULL)
		c->lru_tail = b;
}

static void blk_free(struct bcache *c, struct blk *b)
{
	if (b->mapped && b->len == c->bs && c->nspare < SPARE_BLOCKS)
		c->spare[c->nspare++] = b->data;
	else if (b->mapped)
		munmap(b->data, b->len);
	else
		free(b->data);
	c->bytes -= b->len;
	free(b->err);
	free(b);
}

/* Take b out of the table (and the LRU); freed when unreferenced. */
static void tab_remove(struct bcache *c, struct blk *b)
{
	struct blk **p = slot(c, b->h1, b->idx);
	while (*p && *p != b)
		p = &(*p)->hnext;
	if (*p)
		*p = b->hnext;
	if (b->state == BLK_READY)
		lru_unlink(c, b);
	b->in_table = 0;
	if (b->refs == 0)
		blk_free(c, b);
}

static void blk_unref(struct bcache *c, struct blk *b)
{
	if (--b->refs == 0 && !b->in_table)
		blk_free(c, b);
}

/* Drop least recently used unreferenced blocks until need more bytes fit
 * under the cap: blocks already read first, then (unless only_used: a
 * prefetch never drops another's unread blocks) any. 1 if they fit. */
static int make_room(struct bcache *c, uint64_t need, int only_used)
{
	for (int pass = 0; pass < (only_used ? 1 : 2); pass++) {
		struct blk *b = c->lru_tail;
		while (c->bytes + need > c->cap && b) {
			struct blk *prev = b->lprev;
			if (b->refs == 0 && (b->used || pass == 1))
				tab_remove(c, b);
			b = prev;
		}
	}
	return c->bytes + need <= c->cap;
}

/* A new LOADING block (the fetcher's reference), or NULL (no memory).
 * Ownership: in the table; freed by blk_free when out of the table and
 * unreferenced (tab_remove, blk_unref). */
static struct blk *blk_new(struct bcache *c, struct robj *o, uint64_t idx)
{
	uint64_t size = o->base.st.size, at = idx * c->bs;
	size_t len = (size_t)(size - at < c->bs ? size - at : c->bs);
	struct blk *b = calloc(1, sizeof(*b));
	if (b == NULL)
		return NULL;
	/* a spare block's memory, else mmap'd (freed memory goes back at
	 * once; populated: its pages at once, not a fault each), or from
	 * malloc when the process is out of mappings (vm.max_map_count) */
	uint8_t *d = len == c->bs && c->nspare
			 ? c->spare[--c->nspare]
			 : mmap(NULL, len, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	int mapped = d != MAP_FAILED;
	if (!mapped && (d = malloc(len)) == NULL) {
		free(b);
		return NULL;
	}
	*b = (struct blk){.h1 = o->h1, .h2 = o->h2, .idx = idx, .data = d, .len = len};
	b->mapped = mapped;
	b->state = BLK_LOADING;
	b->refs = 1;
	b->in_table = 1;
	struct blk **p = slot(c, o->h1, idx);
	b->hnext = *p;
	*p = b;
	c->bytes += len;
	return b;
}

/* ---- the on-disk cache: one file per block, named by its key ---- */

static void disk_name(const struct bcache *c, const struct blk *b, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%016llx%016llx-%llu", c->dir, (unsigned long long)b->h1,
		 (unsigned long long)b->h2, (unsigned long long)b->idx);
}

/* 1 if the block's file holds exactly its bytes (by size), read in. */
static int disk_load(const struct bcache *c, struct blk *b)
{
	char name[4200];
	disk_name(c, b, name, sizeof(name));
	int fd = open(name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return 0;
	struct stat st;
	int ok = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (uint64_t)st.st_size == b->len;
	for (size_t got = 0; ok && got < b->len;) {
		ssize_t k = pread(fd, b->data + got, b->len - got, (off_t)got);
		if (k <= 0)
			ok = 0;
		else
			got += (size_t)k;
	}
	close(fd);
	return ok;
}

/* Best effort: written whole to a temporary file, then renamed. */
static void disk_store(const struct bcache *c, const struct blk *b)
{
	char name[4200], tmp[4200];
	disk_name(c, b, name, sizeof(name));
	snprintf(tmp, sizeof(tmp), "%s/.tmp-XXXXXX", c->dir);
	int fd = mkstemp(tmp);
	if (fd < 0)
		return;
	int ok = 1;
	for (size_t put = 0; ok && put < b->len;) {
		ssize_t k = write(fd, b->data + put, b->len - put);
		if (k <= 0)
			ok = 0;
		else
			put += (size_t)k;
	}
	if (close(fd) != 0 || !ok || rename(tmp, name) != 0)
		unlink(tmp);
}

/* ---- filling claimed blocks ---- */

/* Fetch the n LOADING blocks v (ours, ascending indexes): from the disk
 * cache, else range GETs of runs of consecutive blocks, at most
 * chunk_size each; then publish them (READY, or FAILED with the error). */
static void fill(struct rstore *s, struct robj *o, struct blk **v, size_t n)
{
	struct bcache *c = &s->c;
	size_t per = (size_t)(s->o.chunk_size / c->bs ? s->o.chunk_size / c->bs : 1);
	struct job *jobs = calloc(n, sizeof(*jobs));
	uint8_t **segs = calloc(n, sizeof(*segs));
	size_t *first = calloc(n, sizeof(*first));
	size_t nj = 0;
	int rc = jobs && segs && first ? 0 : CKPT_ENOMEM;
	ckpt_error e = CKPT_ERROR_INIT;
	if (rc)
		ckpt__error(&e, rc, "%s: out of memory", o->name);
	for (size_t i = 0; rc == 0 && i < n; i++) {
		v[i]->fetched = c->dir && disk_load(c, v[i]);
		if (v[i]->fetched)
			continue;
		segs[i] = v[i]->data;
		struct job *j = nj ? &jobs[nj - 1] : NULL;
		size_t k = j ? first[nj - 1] : 0;
		if (j && v[i - 1]->idx + 1 == v[i]->idx && !v[i - 1]->fetched && i - k < per) {
			j->len += v[i]->len;
			continue;
		}
		first[nj] = i;
		jobs[nj++] =
		    (struct job){.off = v[i]->idx * c->bs, .len = v[i]->len, .segs = &segs[i]};
	}
	if (rc == 0 && nj)
		run_jobs(s, o, jobs, nj, c->bs, &e);
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0, ji = 0; i < n; i++) {
		struct blk *b = v[i];
		while (ji + 1 < nj && first[ji + 1] <= i)
			ji++;
		if (rc == 0 && !b->fetched && nj && first[ji] <= i && jobs[ji].rc == 0)
			b->fetched = 2; /* from the server: for the disk cache */
		if (b->fetched) {
			b->state = BLK_READY;
			lru_push(c, b);
			continue;
		}
		b->state = BLK_FAILED;
		b->rc = rc ? rc : nj && first[ji] <= i ? jobs[ji].rc : CKPT_EIO;
		if ((b->err = malloc(sizeof(*b->err))) != NULL)
			*b->err = e.code ? e : (ckpt_error)CKPT_ERROR_INIT;
		if (b->err && b->err->code == 0)
			ckpt__error(b->err, b->rc, "%s: a read it waited for failed", o->name);
		tab_remove(c, b);
	}
	/* the fetcher keeps its references while writing the disk cache */
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	for (size_t i = 0; c->dir && i < n; i++)
		if (v[i]->fetched == 2)
			disk_store(c, v[i]);
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < n; i++)
		blk_unref(c, v[i]);
	make_room(c, 0, 0);
	pthread_mutex_unlock(&c->lock);
	free(jobs);
	free(segs);
	free(first);
}

/* Ownership: a prefetch thread frees its struct prefetch and v, and drops
 * its reference on o. */
struct prefetch {
	struct rstore *s;
	struct robj *o;
	struct blk **v;
	size_t n;
};

static void *prefetch_run(void *p)
{
	struct prefetch *f = p;
	struct rstore *s = f->s;
	fill(s, f->o, f->v, f->n);
	robj_unref(f->o);
	free(f->v);
	free(f);
	pthread_mutex_lock(&s->c.lock);
	s->c.bg--;
	pthread_cond_broadcast(&s->c.cond);
	pthread_mutex_unlock(&s->c.lock);
	return NULL;
}

/* Claim the absent blocks first..last that fit under the cap (locked);
 * the claimed go to v[*n]. */
static void claim_optional(struct bcache *c, struct robj *o, uint64_t first, uint64_t last,
			   struct blk **v, size_t *n)
{
	for (uint64_t i = first; i <= last; i++) {
		if (tab_find(c, o, i))
			continue;
		if (!make_room(c, c->bs, 1))
			return;
		struct blk *b = blk_new(c, o, i);
		if (b == NULL)
			return;
		v[(*n)++] = b;
	}
}

/* Is a read at off part of a sequential stream (the third read in a row
 * that starts near where one ended)? Records it (locked). */
static int sequential(struct robj *o, uint64_t off, uint64_t len)
{
	const uint64_t behind = 1u << 20, ahead = 256u << 10;
	for (unsigned i = 0; i < 4; i++) {
		uint64_t e = o->s_end[i];
		if (!(o->s_valid & (1u << i)) || off + behind < e || off > e + ahead)
			continue;
		if (off + len > e)
			o->s_end[i] = off + len;
		if (o->s_hits[i] < 2)
			o->s_hits[i]++;
		return o->s_hits[i] >= 2;
	}
	unsigned i = o->s_next++ % 4;
	o->s_end[i] = off + len;
	o->s_hits[i] = 0;
	o->s_valid |= 1u << i;
	return 0;
}

#define READAHEAD_WINDOWS 2

static int cached_pread(struct rstore *s, struct robj *o, uint8_t *buf, uint64_t len, uint64_t off,
			ckpt_error *err)
{
	struct bcache *c = &s->c;
	uint64_t bs = c->bs, size = o->base.st.size;
	uint64_t per = c->win;
	uint64_t nblk = (size + bs - 1) / bs, b0 = off / bs, b1 = (off + len - 1) / bs;
	size_t np = (size_t)(b1 - b0 + 1), cap = np + (size_t)per * (1 + READAHEAD_WINDOWS);
	struct blk **pin = calloc(np, sizeof(*pin)), **mine = calloc(cap, sizeof(*mine));
	struct blk **ra = calloc((size_t)per * READAHEAD_WINDOWS, sizeof(*ra));
	if (pin == NULL || mine == NULL || ra == NULL) {
		free(pin);
		free(mine);
		free(ra);
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", o->name);
	}
	size_t nm = 0, nra = 0;
	int rc = 0;
	pthread_mutex_lock(&c->lock);
	int seq = sequential(o, off, len);
	/* sequential: the rest of the chunk_size windows the read is in */
	uint64_t lo = seq ? b0 / per * per : b0;
	uint64_t hi = seq ? (b1 / per + 1) * per - 1 : b1;
	hi = hi < nblk - 1 ? hi : nblk - 1;
	if (lo < b0)
		claim_optional(c, o, lo, b0 - 1, mine, &nm);
	for (uint64_t i = b0; i <= b1; i++) {
		struct blk *b = tab_find(c, o, i);
		if (b == NULL && (b = blk_new(c, o, i)) != NULL)
			mine[nm++] = b;
		if (b == NULL) {
			rc = ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", o->name);
			break;
		}
		b->refs++;
		if (b->state == BLK_READY) {
			lru_unlink(c, b);
			lru_push(c, b);
		}
		pin[i - b0] = b;
	}
	if (rc == 0 && hi > b1)
		claim_optional(c, o, b1 + 1, hi, mine, &nm);
	/* readahead: the next windows, in the background, bounded */
	uint64_t ra_lo = hi + 1, ra_hi = hi + per * READAHEAD_WINDOWS;
	ra_hi = ra_hi < nblk - 1 ? ra_hi : nblk - 1;
	if (rc == 0 && seq && ra_lo <= ra_hi && c->bg < s->o.parallel)
		claim_optional(c, o, ra_lo, ra_hi, ra, &nra);
	if (nra)
		c->bg++;
	pthread_mutex_unlock(&c->lock);
	if (nra) {
		struct prefetch *f = malloc(sizeof(*f));
		pthread_attr_t at;
		pthread_t t;
		int started = 0;
		if (f && pthread_attr_init(&at) == 0) {
			*f = (struct prefetch){.s = s, .o = o, .v = ra, .n = nra};
			atomic_fetch_add(&o->refs, 1);
			pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
			started = pthread_create(&t, &at, prefetch_run, f) == 0;
			pthread_attr_destroy(&at);
			if (!started)
				atomic_fetch_sub(&o->refs, 1);
		}
		if (!started) {
			free(f);
			fill(s, o, ra, nra); /* still published: no one waits forever */
			free(ra);
			pthread_mutex_lock(&c->lock);
			c->bg--;
			pthread_mutex_unlock(&c->lock);
		}
		ra = NULL;
	}
	if (nm)
		fill(s, o, mine, nm);
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < np && pin[i]; i++) {
		struct blk *b = pin[i];
		while (b->state == BLK_LOADING)
			pthread_cond_wait(&c->cond, &c->lock);
		if (b->state == BLK_FAILED && rc == 0) {
			rc = b->rc;
			if (err && b->err)
				*err = *b->err;
		} else if (rc == 0) {
			uint64_t at = b->idx * bs;
			uint64_t from = off > at ? off - at : 0;
			uint64_t to = off + len < at + b->len ? off + len - at : b->len;
			memcpy(buf + (at + from - off), b->data + from, (size_t)(to - from));
			b->used = 1;
		}
		blk_unref(c, b);
	}
	make_room(c, 0, 0);
	pthread_mutex_unlock(&c->lock);
	free(pin);
	free(mine);
	free(ra);
	return rc;
}

static int r_pread(ckpt_object *obj, void *buf, size_t len, uint64_t off, ckpt_error *err)
{
	struct robj *o = (struct robj *)obj;
	struct rstore *s = store_of(obj->store);
	if (len == 0)
		return 0;
	if (off > o->base.st.size || len > o->base.st.size - off)
		return ckpt__error(
		    err, CKPT_ECORRUPT,
		    "%s@%llu: object ends early (truncated): %zu bytes asked of %llu", o->name,
		    (unsigned long long)off, len, (unsigned long long)o->base.st.size);
	/* no cache, or a read too large for it: straight into buf */
	if (s->c.tab == NULL || len > s->c.cap / 4)
		return direct_pread(s, o, buf, len, off, err);
	return cached_pread(s, o, buf, len, off, err);
}

static void r_close(ckpt_object *obj)
{
	robj_unref((struct robj *)obj);
}

static int r_read_whole(ckpt_store *store, const char *name, size_t max_len, uint8_t **out,
			size_t *len, ckpt_stat *st, ckpt_error *err)
{
	struct rstore *s = store_of(store);
	char *url;
	int rc = url_of(s, name, &url, err);
	if (rc)
		return rc;
	struct xfer x = {.kind = REQ_WHOLE, .max = max_len, .owns_buf = 1};
	rc = request(s, name, url, &x, err);
	free(url);
	if (rc == 0 && x.buf == NULL && (x.buf = malloc(1)) == NULL)
		rc = ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", name);
	if (rc) {
		free(x.buf);
		size_t n = strlen(name);
		if (rc == CKPT_ENOTFOUND && n > 6 && strcmp(name + n - 6, ".index") == 0 && err)
			ckpt__error(err, rc,
				    "%s: not found; a checkpoint URL is a V2 prefix (PREFIX.index "
				    "exists) or a directory URL ending in /",
				    name);
		return rc;
	}
	if (st)
		stat_from(&x, x.got, st);
	*out = x.buf;
	*len = x.got;
	return 0;
}

/* ---- listing (s3://, gs://) ---- */

static int has_magic(const char *s)
{
	return strpbrk(s, "*?[") != NULL;
}

/* XML text between tags, entities decoded. Ownership: free(). */
static char *xml_text(const char *a, const char *b)
{
	char *out = malloc((size_t)(b - a) + 1);
	size_t k = 0;
	if (out == NULL)
		return NULL;
	while (a < b) {
		static const struct {
			const char *e;
			char c;
		} ent[] = {{"&amp;", '&'},
			   {"&lt;", '<'},
			   {"&gt;", '>'},
			   {"&quot;", '"'},
			   {"&apos;", '\''}};
		size_t i;
		for (i = 0; *a == '&' && i < 5; i++) {
			size_t l = strlen(ent[i].e);
			if ((size_t)(b - a) >= l && strncmp(a, ent[i].e, l) == 0) {
				out[k++] = ent[i].c;
				a += l;
				break;
			}
		}
		if (*a == '&' && i < 5)
			continue;
		out[k++] = *a++;
	}
	out[k] = '\0';
	return out;
}

struct names {
	char **v;
	size_t n, cap;
};

static int names_add(struct names *ns, char *s)
{
	if (ns->n == ns->cap) {
		size_t nc = ns->cap ? ns->cap * 2 : 16;
		char **nv = realloc(ns->v, nc * sizeof(*nv));
		if (nv == NULL)
			return CKPT_ENOMEM;
		ns->v = nv;
		ns->cap = nc;
	}
	ns->v[ns->n++] = s;
	return 0;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One page: keys matching pat added to ns; *token the next page's or NULL. */
static int list_page(struct rstore *s, const char *pattern, const char *pat, const char *url,
		     struct names *ns, char **token, ckpt_error *err)
{
	struct xfer x = {.kind = REQ_LIST, .max = 64u << 20, .owns_buf = 1};
	int rc = request(s, pattern, url, &x, err);
	char *body = NULL;
	*token = NULL;
	if (rc == 0 && (body = realloc(x.buf, x.got + 1)) == NULL)
		rc = ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", pattern);
	if (rc) {
		free(x.buf);
		return rc;
	}
	body[x.got] = '\0';
	for (const char *p = body; rc == 0 && (p = strstr(p, "<Key>")) != NULL;) {
		const char *e = strstr(p, "</Key>");
		if (e == NULL)
			break;
		char *key = xml_text(p + 5, e);
		char *full = key ? malloc(strlen(s->root) + strlen(key) + 2) : NULL;
		if (full == NULL)
			rc = CKPT_ENOMEM;
		else
			sprintf(full, "%s/%s", s->root, key);
		free(key);
		if (rc == 0 && fnmatch(pat, full, FNM_PATHNAME | FNM_PERIOD) == 0) {
			if (ns->n >= LIST_MAX_NAMES || names_add(ns, full) != 0)
				rc = CKPT_ENOMEM;
			else
				full = NULL;
		}
		free(full);
		p = e;
	}
	const char *t = strstr(body, "<NextContinuationToken>");
	const char *te = t ? strstr(t, "</NextContinuationToken>") : NULL;
	if (rc == 0 && strstr(body, "<IsTruncated>true</IsTruncated>") && t && te &&
	    (*token = xml_text(t + 23, te)) == NULL)
		rc = CKPT_ENOMEM;
	free(body);
	if (rc)
		return ckpt__error(err, rc, "%s: too many names or out of memory", pattern);
	return 0;
}

static int r_list(ckpt_store *store, const char *pattern, char ***names, size_t *n, ckpt_error *err)
{
	struct rstore *s = store_of(store);
	const char *path;
	int rc = path_of(s, pattern, &path, err);
	if (rc)
		return rc;
	struct names ns = {0};
	char *pat = malloc(strlen(s->root) + strlen(path) + 1);
	if (pat == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", pattern);
	sprintf(pat, "%s%s", s->root, path);
	if (!has_magic(path)) {
		/* no request: the object is checked when it is opened */
		rc = names_add(&ns, pat) ? CKPT_ENOMEM : 0;
		if (rc) {
			free(pat);
			return ckpt__error(err, rc, "%s: out of memory", pattern);
		}
		*names = ns.v;
		*n = 1;
		return 0;
	}
	if (s->scheme == SCH_HTTP) {
		free(pat);
		return ckpt__error(err, CKPT_EUNSUPPORTED,
				   "%s: a file pattern needs a listing, which http(s) has not; "
				   "use a V2 checkpoint (PREFIX.index) or s3:// or gs://",
				   pattern);
	}
	/* the literal part of the key before the first wildcard */
	size_t lit = strcspn(path + 1, "*?[\\");
	char *prefix = strndup(path + 1, lit);
	char *token = NULL;
	size_t cap = strlen(s->req_base) + 3 * lit + 64;
	for (int page = 0; rc == 0 && prefix && page < LIST_MAX_PAGES; page++) {
		size_t tl = token ? strlen(token) : 0;
		char *url = malloc(cap + 3 * tl + 32);
		if (url == NULL) {
			rc = CKPT_ENOMEM;
			break;
		}
		size_t k = (size_t)sprintf(url, "%s%s?list-type=2&prefix=", s->req_base,
					   s->virtual_host ? "/" : "");
		encode(url, &k, prefix, 1, 0);
		if (token) {
			k += (size_t)sprintf(url + k, "&continuation-token=");
			encode(url, &k, token, 1, 0);
		}
		free(token);
		token = NULL;
		rc = list_page(s, pattern, pat, url, &ns, &token, err);
		free(url);
		if (token == NULL)
			break;
	}
	if (prefix == NULL && rc == 0)
		rc = ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", pattern);
	free(token);
	free(prefix);
	free(pat);
	if (rc) {
		ckpt_store_names_free(ns.v, ns.n);
		return rc;
	}
	if (ns.n > 1)
		qsort(ns.v, ns.n, sizeof(*ns.v), cmp_name);
	*names = ns.v;
	*n = ns.n;
	return 0;
}

static void cache_free(struct bcache *c)
{
	pthread_mutex_lock(&c->lock);
	while (c->bg)
		pthread_cond_wait(&c->cond, &c->lock);
	for (size_t i = 0; c->tab && i < c->nb; i++)
		while (c->tab[i])
			tab_remove(c, c->tab[i]);
	while (c->nspare)
		munmap(c->spare[--c->nspare], c->bs);
	pthread_mutex_unlock(&c->lock);
	free(c->tab);
	free(c->dir);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
}

/* Ownership: c->tab and c->dir are freed by cache_free (r_destroy). */
static int cache_init(struct rstore *s, const char *dir, ckpt_error *err)
{
	struct bcache *c = &s->c;
	c->cap = s->o.cache_size < 0 ? 256u << 20 : (uint64_t)s->o.cache_size;
	c->bs = s->o.chunk_size < CACHE_BLOCK ? s->o.chunk_size : CACHE_BLOCK;
	if (c->cap == 0)
		return 0;
	/* a window of chunk_size, but the windows of a sequential reader
	 * (the current one and READAHEAD_WINDOWS ahead) within 3/8 of the cap */
	uint64_t w = s->o.chunk_size < c->cap / 8 ? s->o.chunk_size : c->cap / 8;
	c->win = w / c->bs ? w / c->bs : 1;
	c->nb = 1024;
	while (c->nb < (1u << 20) && c->nb < c->cap / c->bs * 2)
		c->nb *= 2;
	if ((c->tab = calloc(c->nb, sizeof(*c->tab))) == NULL)
		return CKPT_ENOMEM;
	if (dir == NULL)
		return 0;
	struct stat st;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return ckpt__error(err, CKPT_EIO, "%s: cannot create the cache directory: %s", dir,
				   strerror(errno));
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, R_OK | W_OK | X_OK) != 0)
		return ckpt__error(err, CKPT_EIO, "%s: not a writable directory (cache_dir)", dir);
	/* absolute (a daemon changes directory), and short enough that no
	 * block's name is ever cut (two blocks sharing a file) */
	if ((c->dir = realpath(dir, NULL)) == NULL)
		return ckpt__error(err, CKPT_EIO, "%s: %s (cache_dir)", dir, strerror(errno));
	if (strlen(c->dir) > 3000)
		return ckpt__error(err, CKPT_EINVAL, "%.100s...: path too long (cache_dir)", dir);
	return 0;
}

static void r_destroy(ckpt_store *store)
{
	struct rstore *s = store_of(store);
	cache_free(&s->c);
	for (size_t i = 0; i < s->n_idle; i++)
		curl_easy_cleanup(s->idle[i]);
	if (s->share)
		curl_share_cleanup(s->share);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&s->share_lock[i]);
	pthread_mutex_destroy(&s->pool_lock);
	curl_slist_free_all(s->headers);
	ckpt__cred_free(&s->cred);
	free((char *)s->o.ca_file);
	free(s->root);
	free(s->req_base);
	free(s);
}

static const struct ckpt_store_ops remote_ops = {
    .stat = r_stat,
    .open = r_open,
    .pread = r_pread,
    .close = r_close,
    .list = r_list,
    .read_whole = r_read_whole,
    .destroy = r_destroy,
};

/* ---- construction ---- */

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc;
static char global_why[256]; /* why libcurl did not load ("" if it did) */

static void global_init(void)
{
	if (ckpt__curl_load(global_why, sizeof(global_why)) == 0)
		global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int add_header(struct rstore *s, const char *line)
{
	struct curl_slist *t = curl_slist_append(s->headers, line);
	if (t == NULL)
		return CKPT_ENOMEM;
	s->headers = t;
	return 0;
}

/* Root ("s3://bucket", "https://host:port") and request base. */
static int set_root(struct rstore *s, const char *url, ckpt_error *err)
{
	const char *rest = strstr(url, "://") + 3;
	size_t hl = strcspn(rest, "/");
	if (hl == 0)
		return ckpt__error(err, CKPT_EINVAL, "%s: no %s in the URL", url,
				   s->scheme == SCH_HTTP ? "host" : "bucket");
	if (memchr(rest, '@', hl))
		return ckpt__error(err, CKPT_EINVAL,
				   "%.*s...: a user or password in a URL is refused (it would "
				   "show in listings); use ~/.netrc or -o header=",
				   (int)(rest - url), url);
	if ((s->root = strndup(url, (size_t)(rest - url) + hl)) == NULL)
		return CKPT_ENOMEM;
	char *base = NULL;
	const char *bucket = rest;
	int bl = (int)hl;
	int n = -1;
	if (s->scheme == SCH_HTTP) {
		base = strdup(s->root);
		n = base ? 0 : -1;
	} else if (s->scheme == SCH_S3 && s->cred.endpoint) {
		n = asprintf(&base, "%s/%.*s", s->cred.endpoint, bl, bucket);
	} else if (s->scheme == SCH_S3) {
		s->virtual_host = 1;
		n = asprintf(&base, "https://%.*s.s3.%s.amazonaws.com", bl, bucket, s->cred.region);
	} else {
		n = asprintf(&base, "%s/%.*s",
			     s->cred.endpoint ? s->cred.endpoint : "https://storage.googleapis.com",
			     bl, bucket);
	}
	if (n < 0)
		return CKPT_ENOMEM;
	/* an endpoint given with a trailing "/" would double it */
	s->req_base = base;
	return 0;
}

int ckpt_store_remote_new(ckpt_store **out, const char *url, const ckpt_remote_opts *opts,
			  ckpt_error *err)
{
	*out = NULL;
	pthread_once(&global_once, global_init);
	if (global_why[0] != '\0')
		return ckpt__error(err, CKPT_EUNSUPPORTED, "%s: cannot load libcurl: %s", url,
				   global_why);
	if (global_rc != CURLE_OK)
		return ckpt__error(err, CKPT_ENOMEM, "cannot initialise libcurl: %s",
				   curl_easy_strerror(global_rc));
	if (!ckpt_store_is_url(url))
		return ckpt__error(err, CKPT_EINVAL,
				   "%s: not an s3://, gs://, http:// or https:// URL", url);
	struct rstore *s = calloc(1, sizeof(*s));
	if (s == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	s->base.ops = &remote_ops;
	s->scheme = url[0] == 's' ? SCH_S3 : url[0] == 'g' ? SCH_GS : SCH_HTTP;
	ckpt_remote_opts d = CKPT_REMOTE_OPTS_INIT;
	s->o = opts ? *opts : d;
	s->o.headers = NULL;
	s->o.n_headers = 0;
	if (s->o.chunk_size == 0)
		s->o.chunk_size = 8u << 20;
	if (s->o.parallel == 0)
		s->o.parallel = 4;
	if (s->o.retries < 0)
		s->o.retries = 5;
	if (s->o.retry_time <= 0)
		s->o.retry_time = 120;
	if (s->o.timeout <= 0)
		s->o.timeout = 300;
	if (s->o.connect_timeout <= 0)
		s->o.connect_timeout = 10;
	if (s->o.low_speed_time <= 0)
		s->o.low_speed_time = 15;
	const char *ca = s->o.ca_file;
	if (ca == NULL)
		ca = getenv("CURL_CA_BUNDLE");
	if (ca == NULL)
		ca = getenv("SSL_CERT_FILE");
	s->o.ca_file = NULL;
	const char *cache_dir = s->o.cache_dir;
	s->o.cache_dir = NULL;
	int rc = 0;
	pthread_mutex_init(&s->c.lock, NULL);
	pthread_cond_init(&s->c.cond, NULL);
	pthread_mutex_init(&s->pool_lock, NULL);
	for (int i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&s->share_lock[i], NULL);
	if (ca && (s->o.ca_file = strdup(ca)) == NULL)
		rc = CKPT_ENOMEM;
	if (rc == 0)
		rc = s->scheme == SCH_S3   ? ckpt__cred_s3(&s->cred, err)
		     : s->scheme == SCH_GS ? ckpt__cred_gs(&s->cred, err)
					   : 0;
	if (rc == 0)
		rc = set_root(s, url, err);
	if (rc == 0)
		rc = cache_init(s, cache_dir, err);
	for (size_t i = 0; rc == 0 && opts && i < opts->n_headers; i++) {
		const char *h = opts->headers[i];
		if (strchr(h, ':') == NULL || strpbrk(h, "\r\n"))
			rc = ckpt__error(err, CKPT_EINVAL,
					 "header option %zu: not one \"Name: value\" line", i + 1);
		else
			rc = add_header(s, h);
	}
	if (rc == 0 && s->cred.sigv4 && s->scheme == SCH_S3)
		rc = add_header(s, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
	if (rc == 0 && s->cred.token_header)
		rc = add_header(s, s->cred.token_header);
	if (rc == 0) {
		s->share = curl_share_init();
		if (s->share == NULL)
			rc = CKPT_ENOMEM;
		else {
			curl_share_setopt(s->share, CURLSHOPT_LOCKFUNC, share_lock);
			curl_share_setopt(s->share, CURLSHOPT_UNLOCKFUNC, share_unlock);
			curl_share_setopt(s->share, CURLSHOPT_USERDATA, s);
			curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
			curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
			curl_share_setopt(s->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
		}
	}
	if (rc) {
		if (rc == CKPT_ENOMEM && err && err->code != CKPT_ENOMEM)
			ckpt__error(err, rc, "%s: out of memory", url);
		r_destroy(&s->base);
		return rc;
	}
	*out = &s->base;
	return 0;
}
