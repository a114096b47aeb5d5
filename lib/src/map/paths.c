/*
 * Mount paths of plan files (DESIGN.md "The tree inside the mount"):
 * a component that is empty, ".", "..", or starts with '@' is shown as
 * "@=" followed by it (names ckptfs invents start with '@' but never "@="),
 * one longer than a file name may be is shortened to "@#" + 16 hex digits
 * of its FNV-1a 64 hash + "~" + its first 200 bytes (cut at a UTF-8
 * boundary), and a file whose path is also a directory of other files
 * moves into it as "@value".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/codec_int.h"
#include "util/error_int.h"
#include "map/resolve_int.h"

/* Longest shown name: what every Linux filesystem and tool takes. */
#define NAME_MAX_SHOWN 255
/* A shortened name keeps this much of the component. */
#define SHORT_PREFIX 200

int ckpt__path_component(ckpt__buf *out, const char *c, size_t n, size_t reserve)
{
	int esc = n == 0 || c[0] == '@' || (n == 1 && c[0] == '.') ||
		  (n == 2 && c[0] == '.' && c[1] == '.');
	if ((esc ? 2 : 0) + n + reserve > NAME_MAX_SHOWN) {
		uint64_t h = 14695981039346656037ull; /* FNV-1a 64 offset basis */
		for (size_t i = 0; i < n; i++)
			h = (h ^ (unsigned char)c[i]) * 1099511628211ull;
		char head[20];
		snprintf(head, sizeof(head), "@#%016llx~", (unsigned long long)h);
		size_t keep = SHORT_PREFIX;
		while (keep > 0 && ((unsigned char)c[keep] & 0xc0) == 0x80)
			keep--;
		return ckpt__buf_append(out, head, strlen(head)) || ckpt__buf_append(out, c, keep)
			   ? CKPT_ENOMEM
			   : 0;
	}
	if ((esc && ckpt__buf_append(out, "@=", 2)) || ckpt__buf_append(out, c, n))
		return CKPT_ENOMEM;
	return 0;
}

/* *out = file's path in the plan's arena (file itself when nothing is
 * escaped); b is scratch. */
static int escaped(ckpt_plan *plan, char *file, ckpt__buf *b, char **out)
{
	const char *p = file;

	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		if ((p != file && ckpt__buf_append(b, "/", 1)) || ckpt__path_component(b, p, n, 0))
			return CKPT_ENOMEM;
		if (slash == NULL)
			break;
		p = slash + 1;
	}
	if (b->len == strlen(file) && memcmp(b->data, file, b->len) == 0)
		*out = file;
	else
		*out = ckpt__plan_strdup(plan, (const char *)b->data, b->len);
	return *out ? 0 : CKPT_ENOMEM;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int ckpt__plan_assign_paths(ckpt_plan *p, ckpt_error *err)
{
	size_t n = p->n_files;
	char **sorted = malloc((n ? n : 1) * sizeof(*sorted));
	ckpt__buf b = {0};
	if (sorted == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		b.len = 0;
		if (escaped(p, p->files[i].file, &b, &p->files[i].path)) {
			ckpt__buf_free(&b);
			free(sorted);
			return ckpt__error(err, CKPT_ENOMEM, "out of memory");
		}
		sorted[i] = p->files[i].path;
	}
	ckpt__buf_free(&b);
	size_t run = 1; /* most plans come in path order: no sort, no scratch */
	while (run < n && cmp_str(&sorted[run - 1], &sorted[run]) <= 0)
		run++;
	if (run < n)
		qsort(sorted, n, sizeof(*sorted), cmp_str);
	/* "a/b" is a directory iff some path starts with "a/b/": in sorted
	 * order such a path comes after "a/b" and before anything > "a/b/".
	 * Decide for all files first: sorted points at the paths we extend. */
	unsigned char *dir = calloc(n ? n : 1, 1);
	if (dir == NULL) {
		free(sorted);
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		const char *path = p->files[i].path;
		size_t len = strlen(path);
		char **at = bsearch(&path, sorted, n, sizeof(*sorted), cmp_str);
		for (char **q = at + 1; q < sorted + n && strncmp(*q, path, len) == 0; q++) {
			if ((*q)[len] == '/')
				dir[i] = 1;
			if ((*q)[len] >= '/')
				break;
		}
	}
	free(sorted);
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		ckpt_plan_file *f = &p->files[i];
		size_t len = strlen(f->path);
		char *v = dir[i] ? ckpt__arena_alloc(ckpt__plan_arena(p), len + 8, 1) : f->path;
		if (v == NULL) {
			rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
		} else if (dir[i]) {
			memcpy(v, f->path, len);
			memcpy(v + len, "/@value", 8);
			f->path = v;
		}
	}
	free(dir);
	return rc;
}
