/*
 * libcurl loaded on first use (curl_load_int.h): dlopen, then one dlsym
 * per function the remote store calls.
 */
#include "store/curl_load_int.h"

#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

struct ckpt__curl ckpt__curl;

/* ckpt__curl.field = dlsym of curl_<field> (POSIX: a void * that holds a
 * function pointer; copied, as ISO C has no cast between the two). */
#define SYM(field)                                                                                 \
	do {                                                                                       \
		void *f_ = dlsym(lib, "curl_" #field);                                             \
		if (f_ == NULL) {                                                                  \
			missing = "curl_" #field;                                                  \
			goto fail;                                                                 \
		}                                                                                  \
		memcpy(&c.field, &f_, sizeof(f_));                                                 \
	} while (0)

int ckpt__curl_load(char *why, size_t size)
{
	struct ckpt__curl c;
	const char *missing = NULL;
	void *lib = dlopen(CKPT__CURL_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (lib == NULL) {
		const char *e = dlerror();
		snprintf(why, size, "%s", e ? e : "cannot load " CKPT__CURL_SONAME);
		return -1;
	}
	SYM(global_init);
	SYM(easy_init);
	SYM(easy_cleanup);
	SYM(easy_reset);
	SYM(easy_setopt);
	SYM(easy_getinfo);
	SYM(easy_perform);
	SYM(easy_strerror);
	SYM(share_init);
	SYM(share_setopt);
	SYM(share_cleanup);
	SYM(slist_append);
	SYM(slist_free_all);
	ckpt__curl = c;
	return 0; /* kept loaded: the process's stores use it until exit */
fail:
	snprintf(why, size, "%s: no %s", CKPT__CURL_SONAME, missing);
	dlclose(lib);
	return -1;
}
