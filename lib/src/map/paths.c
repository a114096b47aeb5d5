/*
 * Mount paths of plan files (DESIGN.md "The tree inside the mount"):
 * a component that is empty, ".", "..", or starts with '@' is shown as
 * "@=" followed by it (names ckptfs invents start with '@' but never "@="),
 * one longer than a file name may be is shortened to "@#" + 16 hex digits
 * of its FNV-1a 64 hash + "~" + its first 200 bytes (cut at a UTF-8
 * boundary), and a file whose path is also a directory of other files
 * moves into it as "@value".
 *
 * In an object-based (TF2) checkpoint the tree is readable (README "TF2
 * checkpoints"): a target named PATH/.ATTRIBUTES/VARIABLE_VALUE is shown
 * at PATH, an optimizer slot VAR/.OPTIMIZER_SLOT/OPT/SLOT/.ATTRIBUTES/
 * VARIABLE_VALUE at VAR@slots/OPT/SLOT, another attribute PATH/.ATTRIBUTES/
 * NAME at PATH/@NAME; a real component ending in "@slots" is then escaped
 * too, so such a component always means slots. Names that would clash
 * keep their literal paths.
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

/* TensorFlow's reserved components of object-based keys (trackable_utils:
 * a user's name is escaped, '.' written "..", so it never is one). */
#define TF2_ATTRIBUTES ".ATTRIBUTES"
#define TF2_SLOT ".OPTIMIZER_SLOT"
#define TF2_VALUE "VARIABLE_VALUE"
/* What ckptfs appends to a variable's name for the directory of its slots. */
#define SLOTS_MARK "@slots"
#define SLOTS_LEN (sizeof(SLOTS_MARK) - 1)
/* Longest attribute name shown as "@NAME" ("@NAME.npy" still fits). */
#define ATTR_NAME_MAX 200

static int ends_in_slots(const char *c, size_t n)
{
	return n >= SLOTS_LEN && memcmp(c + n - SLOTS_LEN, SLOTS_MARK, SLOTS_LEN) == 0;
}

int ckpt__path_component(ckpt__buf *out, const char *c, size_t n, size_t reserve, int tf2)
{
	int esc = n == 0 || c[0] == '@' || (n == 1 && c[0] == '.') ||
		  (n == 2 && c[0] == '.' && c[1] == '.') || (tf2 && ends_in_slots(c, n));
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

/* Append each component of s[0..n) (n > 0, or the one empty component),
 * escaped, after a '/' unless it is the path's first. */
static int put_components(ckpt__buf *b, const char *s, size_t n, int tf2)
{
	const char *p = s, *end = s + n;
	for (;;) {
		const char *slash = memchr(p, '/', (size_t)(end - p));
		size_t len = (size_t)((slash ? slash : end) - p);
		if ((b->len && ckpt__buf_append(b, "/", 1)) ||
		    ckpt__path_component(b, p, len, 0, tf2))
			return CKPT_ENOMEM;
		if (slash == NULL)
			return 0;
		p = slash + 1;
	}
}

static int is_comp(const char *c, size_t n, const char *token)
{
	return n == strlen(token) && memcmp(c, token, n) == 0;
}

/*
 * An object-based key as the readable tree shows it: PATH/.ATTRIBUTES/NAME
 * with PATH = VAR/.OPTIMIZER_SLOT/OPT/SLOT for a slot (TF's
 * _checkpoint_key and slot keys, spec checkpoint_state.md).
 */
typedef struct tf2_key {
	size_t path_len; /* PATH = key[0..path_len) ("" is the root) */
	const char *name;
	size_t name_len;
	int value; /* NAME is VARIABLE_VALUE */
	/* a slot: VAR = key[0..var_len), OPT = opt[0..opt_len), SLOT = slot */
	size_t var_len;
	const char *opt, *slot;
	size_t opt_len, slot_len;
	const char *var_last; /* VAR's last component, var_last_len bytes */
	size_t var_last_len;
} tf2_key;

/* 1 and *k filled when key is shown readably, else 0 (a literal path). */
static int tf2_parse(const char *key, tf2_key *k)
{
	memset(k, 0, sizeof(*k));
	const char *last = strrchr(key, '/');
	if (last == NULL || last == key)
		return 0;
	const char *attrs = last;
	while (attrs > key && attrs[-1] != '/')
		attrs--;
	if (attrs == key || !is_comp(attrs, (size_t)(last - attrs), TF2_ATTRIBUTES))
		return 0;
	k->path_len = (size_t)(attrs - 1 - key);
	k->name = last + 1;
	k->name_len = strlen(k->name);
	k->value = is_comp(k->name, k->name_len, TF2_VALUE);
	const char *slot_at = NULL, *end = key + k->path_len;
	for (const char *c = key;;) {
		const char *slash = memchr(c, '/', (size_t)(end - c));
		size_t n = (size_t)((slash ? slash : end) - c);
		if (is_comp(c, n, TF2_ATTRIBUTES) || (slot_at && is_comp(c, n, TF2_SLOT)))
			return 0;
		if (is_comp(c, n, TF2_SLOT))
			slot_at = c;
		if (slash == NULL)
			break;
		c = slash + 1;
	}
	if (k->path_len == 0 && k->value)
		return 0; /* the root as a variable: no name to show it by */
	if (!k->value) {
		const char *n = k->name;
		size_t l = k->name_len;
		if (l == 0 || l > ATTR_NAME_MAX || n[0] == '=' || n[0] == '#' ||
		    is_comp(n, l, "value") || is_comp(n, l, "mapping.json") ||
		    is_comp(n, l, "object_graph.json"))
			return 0; /* "@NAME" would read as a name ckptfs gives */
	}
	if (slot_at == NULL)
		return 1;
	/* VAR/.OPTIMIZER_SLOT/OPT/SLOT: VAR and SLOT one component or more,
	 * OPT at least one (maybe empty: the root) */
	const char *after = slot_at + strlen(TF2_SLOT);
	if (slot_at == key || after >= end)
		return 0;
	k->var_len = (size_t)(slot_at - 1 - key);
	k->opt = after + 1;
	const char *s = end;
	while (s > k->opt && s[-1] != '/')
		s--;
	if (s == k->opt)
		return 0;
	k->slot = s;
	k->slot_len = (size_t)(end - s);
	k->opt_len = (size_t)(s - 1 - k->opt);
	const char *vl = key + k->var_len;
	while (vl > key && vl[-1] != '/')
		vl--;
	k->var_last = vl;
	k->var_last_len = (size_t)(key + k->var_len - vl);
	size_t n = k->var_last_len;
	/* VAR@slots must not read as an escaped or shortened name */
	if (n == 0 || vl[0] == '@' || (n == 1 && vl[0] == '.') ||
	    (n == 2 && vl[0] == '.' && vl[1] == '.') || n + SLOTS_LEN > NAME_MAX_SHOWN)
		return 0;
	return 1;
}

/* The readable path of key (as tf2_parse split it) into b. */
static int tf2_path(ckpt__buf *b, const char *key, const tf2_key *k)
{
	int rc = 0;
	if (k->slot == NULL) {
		if (k->path_len)
			rc = put_components(b, key, k->path_len, 1);
	} else {
		size_t head = (size_t)(k->var_last - key);
		if (head)
			rc = put_components(b, key, head - 1, 1);
		if (rc == 0 && ((b->len && ckpt__buf_append(b, "/", 1)) ||
				ckpt__buf_append(b, k->var_last, k->var_last_len) ||
				ckpt__buf_append(b, SLOTS_MARK, SLOTS_LEN)))
			rc = CKPT_ENOMEM;
		if (rc == 0)
			rc = put_components(b, k->opt, k->opt_len, 1);
		if (rc == 0)
			rc = put_components(b, k->slot, k->slot_len, 1);
	}
	if (rc == 0 && !k->value &&
	    ((b->len && ckpt__buf_append(b, "/", 1)) || ckpt__buf_append(b, "@", 1) ||
	     ckpt__buf_append(b, k->name, k->name_len)))
		rc = CKPT_ENOMEM;
	return rc;
}

/* f->path = the shown path of f (b is scratch): the readable form when
 * `readable` and its variable is an object-based key, else its file name
 * escaped (with the escapes of a readable tree when tf2). */
static int shown_path(ckpt_plan_file *f, int readable, int tf2, ckpt__buf *b)
{
	tf2_key k;
	size_t vl = strlen(f->var);
	int rc;
	b->len = 0;
	f->tf2_path = readable && tf2_parse(f->var, &k) &&
		      (f->part < 0 || (strncmp(f->file, f->var, vl) == 0 && f->file[vl] == '/'));
	if (f->tf2_path) {
		rc = tf2_path(b, f->var, &k);
		if (rc == 0 && f->part >= 0)
			rc = put_components(b, f->file + vl + 1, strlen(f->file + vl + 1), 1);
	} else {
		rc = put_components(b, f->file, strlen(f->file), tf2);
	}
	if (rc || ckpt__buf_append(b, "", 1))
		return CKPT_ENOMEM;
	char *path = malloc(b->len);
	if (path == NULL)
		return CKPT_ENOMEM;
	memcpy(path, b->data, b->len);
	free(f->path);
	f->path = path;
	return 0;
}

int ckpt__path_leaf(const ckpt_plan *p, const ckpt_plan_file *f, size_t reserve, ckpt__buf *out)
{
	tf2_key k;
	const char *c, *end;
	if (f->tf2_path && f->part < 0 && tf2_parse(f->var, &k)) {
		if (!k.value)
			return ckpt__buf_append(out, "@", 1) ||
				       ckpt__buf_append(out, k.name, k.name_len)
				   ? CKPT_ENOMEM
				   : 0;
		c = k.slot ? k.slot : f->var;
		end = k.slot ? k.slot + k.slot_len : f->var + k.path_len;
	} else {
		c = f->file;
		end = f->file + strlen(f->file);
	}
	const char *leaf = end;
	while (leaf > c && leaf[-1] != '/')
		leaf--;
	return ckpt__path_component(out, leaf, (size_t)(end - leaf), reserve, p->tf2_names);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_file_path(const void *a, const void *b)
{
	return strcmp((*(ckpt_plan_file *const *)a)->path, (*(ckpt_plan_file *const *)b)->path);
}

/*
 * Readable paths that clash (two files shown at one path: a readable one
 * and another, readable or literal) go back to their literal paths, with
 * every part of their variable. Literal paths of object-based keys hold
 * ".ATTRIBUTES", which no readable path does, so they clash with nothing.
 */
static int fall_back_on_clashes(ckpt_plan *p, ckpt__buf *b)
{
	size_t n = p->n_files;
	ckpt_plan_file **by_path = malloc((n ? n : 1) * sizeof(*by_path));
	unsigned char *back = calloc(n ? n : 1, 1);
	int rc = by_path && back ? 0 : CKPT_ENOMEM;
	for (size_t i = 0; rc == 0 && i < n; i++)
		by_path[i] = &p->files[i];
	if (rc == 0)
		qsort(by_path, n, sizeof(*by_path), cmp_file_path);
	for (size_t i = 0; rc == 0 && i + 1 < n; i++) {
		if (strcmp(by_path[i]->path, by_path[i + 1]->path) != 0)
			continue;
		for (size_t j = i; j <= i + 1; j++)
			if (by_path[j]->tf2_path)
				back[by_path[j] - p->files] = 1;
	}
	/* files are sorted by variable: spread the mark over each variable's parts */
	for (size_t i = 1; rc == 0 && i < n; i++)
		if (back[i - 1] && strcmp(p->files[i].var, p->files[i - 1].var) == 0)
			back[i] = 1;
	for (size_t i = n; rc == 0 && i-- > 1;)
		if (back[i] && strcmp(p->files[i].var, p->files[i - 1].var) == 0)
			back[i - 1] = 1;
	for (size_t i = 0; rc == 0 && i < n; i++)
		if (back[i])
			rc = shown_path(&p->files[i], 0, 1, b);
	free(by_path);
	free(back);
	return rc;
}

int ckpt__plan_assign_paths(ckpt_plan *p, int tf2, ckpt_error *err)
{
	size_t n = p->n_files;
	ckpt__buf b = {0};
	int rc = 0;
	p->tf2_names = tf2;
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = shown_path(&p->files[i], tf2, tf2, &b);
	if (rc == 0 && tf2)
		rc = fall_back_on_clashes(p, &b);
	ckpt__buf_free(&b);
	char **sorted = rc ? NULL : malloc((n ? n : 1) * sizeof(*sorted));
	if (sorted == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		sorted[i] = p->files[i].path;
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
	for (size_t i = 0; i < n && rc == 0; i++) {
		ckpt_plan_file *f = &p->files[i];
		size_t len = strlen(f->path);
		char *v = dir[i] ? realloc(f->path, len + 8) : f->path;
		if (v == NULL) {
			rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
		} else if (dir[i]) {
			memcpy(v + len, "/@value", 8);
			f->path = v;
		}
	}
	free(dir);
	return rc;
}
