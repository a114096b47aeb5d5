/*
 * Internal: libcurl, loaded on first use. A process that never opens a URL
 * never maps libcurl nor the ~40 libraries it needs (TLS, Kerberos, LDAP,
 * ...), which took ~6 MiB of every mount's memory and their constructors'
 * time at every start. store_http.c includes this instead of <curl/curl.h>:
 * its curl_* calls go through ckpt__curl, filled by ckpt__curl_load before
 * the first store is made. (GCC's curl_easy_setopt type checks are off: the
 * names are macros here.)
 */
#ifndef CKPT_CURL_LOAD_INT_H
#define CKPT_CURL_LOAD_INT_H

#include <stddef.h>

#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>

struct ckpt__curl {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *h);
	void (*easy_reset)(CURL *h);
	CURLcode (*easy_setopt)(CURL *h, CURLoption option, ...);
	CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
	CURLcode (*easy_perform)(CURL *h);
	const char *(*easy_strerror)(CURLcode code);
	CURLSH *(*share_init)(void);
	CURLSHcode (*share_setopt)(CURLSH *sh, CURLSHoption option, ...);
	CURLSHcode (*share_cleanup)(CURLSH *sh);
	struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
	void (*slist_free_all)(struct curl_slist *list);
};

/* Filled by ckpt__curl_load; read-only after. */
extern struct ckpt__curl ckpt__curl;

/*
 * dlopen libcurl (CKPT__CURL_SONAME) and fill ckpt__curl. Not thread-safe:
 * call it once (store_http.c: under pthread_once). 0, or -1 with why in
 * why[0..size) (dlerror's text, NUL-terminated).
 */
int ckpt__curl_load(char *why, size_t size);

#define CKPT__CURL_SONAME "libcurl.so.4"

/* curl.h's three-argument checks of these: now the table's */
#undef curl_easy_setopt
#undef curl_easy_getinfo
#undef curl_share_setopt
#define curl_global_init ckpt__curl.global_init
#define curl_easy_init ckpt__curl.easy_init
#define curl_easy_cleanup ckpt__curl.easy_cleanup
#define curl_easy_reset ckpt__curl.easy_reset
#define curl_easy_setopt ckpt__curl.easy_setopt
#define curl_easy_getinfo ckpt__curl.easy_getinfo
#define curl_easy_perform ckpt__curl.easy_perform
#define curl_easy_strerror ckpt__curl.easy_strerror
#define curl_share_init ckpt__curl.share_init
#define curl_share_setopt ckpt__curl.share_setopt
#define curl_share_cleanup ckpt__curl.share_cleanup
#define curl_slist_append ckpt__curl.slist_append
#define curl_slist_free_all ckpt__curl.slist_free_all

#endif
