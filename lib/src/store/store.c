/*
 * The store seam (ckpt/store.h): what every store shares, dispatched
 * through its ops table. Implementations: store_posix.c, store_http.c.
 */
#include "ckpt/store.h"

#include <fcntl.h>

#include <stdlib.h>
#include <string.h>

#include "util/error_int.h"
#include "store/io_int.h"

void ckpt_store_free(ckpt_store *s)
{
	if (s)
		s->ops->destroy(s);
}

int ckpt_store_stat(ckpt_store *s, const char *name, ckpt_stat *st, ckpt_error *err)
{
	memset(st, 0, sizeof(*st));
	return s->ops->stat(s, name, st, err);
}

int ckpt_store_open(ckpt_store *s, const char *name, ckpt_object **out, ckpt_error *err)
{
	*out = NULL;
	return s->ops->open(s, name, out, err);
}

const ckpt_stat *ckpt_object_stat(const ckpt_object *o)
{
	return &o->st;
}

const char *ckpt_object_name(const ckpt_object *o)
{
	return o->name;
}

int ckpt_object_pread(ckpt_object *o, void *buf, size_t len, uint64_t off, ckpt_error *err)
{
	uint64_t end = off + len;
	/* past the pinned size is a truncated object whatever the store has */
	if (end < off || end > o->st.size)
		return ckpt__error(err, CKPT_ECORRUPT,
				   "%s@%llu: file ends early (truncated): %zu bytes wanted, the "
				   "file has %llu",
				   o->name, (unsigned long long)off, len,
				   (unsigned long long)o->st.size);
	if (len == 0)
		return 0;
	return o->store->ops->pread(o, buf, len, off, err);
}

void ckpt_object_close(ckpt_object *o)
{
	if (o)
		o->store->ops->close(o);
}

int ckpt_store_read_whole(ckpt_store *s, const char *name, size_t max_len, uint8_t **out,
			  size_t *len, ckpt_stat *st, ckpt_error *err)
{
	ckpt_object *o;
	if (s->ops->read_whole) {
		if (st)
			memset(st, 0, sizeof(*st));
		return s->ops->read_whole(s, name, max_len, out, len, st, err);
	}
	int rc = ckpt_store_open(s, name, &o, err);
	if (rc)
		return rc;
	uint64_t size = o->st.size;
	rc = ckpt__check_whole_size(name, size, max_len, err);
	uint8_t *data = NULL;
	if (rc == 0 && (data = malloc(size ? (size_t)size : 1)) == NULL)
		rc = ckpt__error(err, CKPT_ENOMEM, "%s: out of memory for %llu bytes", name,
				 (unsigned long long)size);
	if (rc == 0)
		rc = ckpt_object_pread(o, data, (size_t)size, 0, err);
	if (rc == 0 && st)
		*st = o->st;
	ckpt_object_close(o);
	if (rc) {
		free(data);
		return rc;
	}
	*out = data;
	*len = (size_t)size;
	return 0;
}

int ckpt_store_list(ckpt_store *s, const char *pattern, char ***names, size_t *n, ckpt_error *err)
{
	*names = NULL;
	*n = 0;
	return s->ops->list(s, pattern, names, n, err);
}

void ckpt_store_names_free(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

int ckpt_store_join(const char *dir, const char *name, char **out, ckpt_error *err)
{
	size_t ld = strlen(dir), ln = strlen(name);
	int abs = name[0] == '/';
	int sep = !abs && ld > 0 && dir[ld - 1] != '/';
	char *p = malloc((abs ? 0 : ld) + (size_t)sep + ln + 1);
	if (p == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", dir);
	size_t k = 0;
	if (!abs) {
		memcpy(p, dir, ld);
		k = ld;
	}
	if (sep)
		p[k++] = '/';
	memcpy(p + k, name, ln + 1);
	*out = p;
	return 0;
}

int ckpt_object_splice_fd(ckpt_object *o, int *fd)
{
	if (o->store->ops->splice_fd == NULL)
		return 0;
	return o->store->ops->splice_fd(o, fd);
}

void ckpt_object_splice_release(ckpt_object *o)
{
	if (o && o->store->ops->splice_release)
		o->store->ops->splice_release(o);
}

int ckpt_object_is_local(const ckpt_object *o)
{
	return o->store->ops->splice_fd != NULL;
}

void ckpt_object_willneed(ckpt_object *o, uint64_t off, uint64_t len)
{
	int fd;
	if (len == 0 || !ckpt_object_splice_fd(o, &fd))
		return;
	for (uint64_t at = 0; at < len; at += CKPT_WILLNEED_CHUNK)
		(void)posix_fadvise(
		    fd, (off_t)(off + at),
		    (off_t)(len - at < CKPT_WILLNEED_CHUNK ? len - at : CKPT_WILLNEED_CHUNK),
		    POSIX_FADV_WILLNEED);
	ckpt_object_splice_release(o);
}
