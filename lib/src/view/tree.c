/*
 * The tree of a view: nodes live in one array (node 0 = root). It is built
 * from the plan's paths in sorted order, so the directories a path passes
 * through are a prefix of the previous path's (a stack) or new; no table
 * keyed by names. Each directory's children are then a range of
 * `children`, sorted by name, and a lookup is a binary search there: at
 * most log2(children) + 1 name comparisons, whatever the names (no hash a
 * checkpoint could flood). Memory: a node is its public part; a raw file's
 * name points into its plan path, other names live in an arena; everything
 * the tree takes is charged against a budget proportional to the index
 * (view_int.h), so names however deep cannot make the tree much bigger
 * than the checkpoint's index.
 */
#include "view/view_int.h"

#include <stdlib.h>
#include <string.h>

#include "map/resolve_int.h"
#include "util/error_int.h"
#include "util/strbuf_int.h"

/* Take `bytes` more for the tree, or fail when the budget would be passed. */
static int tree_charge(ckpt_view *v, uint64_t bytes, ckpt_error *err)
{
	if (bytes > v->tree_budget - v->tree_bytes)
		return ckpt__error(err, CKPT_EUNSUPPORTED,
				   "%s: the tree of the mount would take more than %llu bytes "
				   "(%d per byte of the index, plus %d MiB): too many or too "
				   "deep names",
				   ckpt_reader_path(v->r), (unsigned long long)v->tree_budget,
				   CKPT__VIEW_TREE_PER_INDEX_BYTE, CKPT__VIEW_TREE_SLACK >> 20);
	v->tree_bytes += bytes;
	return 0;
}

uint64_t ckpt__view_tree_bytes(const ckpt_view *v)
{
	return v->tree_bytes;
}

uint32_t ckpt__view_lookup_probes(const ckpt_view *v, uint32_t dir, const char *name,
				  size_t *probes)
{
	if (dir >= v->count || !v->n[dir].pub.is_dir || v->children == NULL)
		return CKPT_VIEW_NONE;
	const uint32_t *c = v->children + v->n[dir].pub.first_child;
	size_t lo = 0, hi = v->n[dir].pub.n_children;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (probes)
			(*probes)++;
		int r = strcmp(name, v->n[c[mid]].pub.name);
		if (r == 0)
			return c[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return CKPT_VIEW_NONE;
}

uint32_t ckpt_view_lookup(const ckpt_view *v, uint32_t dir, const char *name)
{
	return ckpt__view_lookup_probes(v, dir, name, NULL);
}

/* *out = a copy of name[0..n) in the arena. */
static int arena_name(ckpt_view *v, const char *name, size_t n, const char **out, ckpt_error *err)
{
	struct name_block *b = v->names;
	if (b == NULL || b->cap - b->used < n + 1) {
		size_t cap = b ? (b->cap < (1u << 20) ? b->cap * 2 : b->cap) : 4096;
		uint64_t left = v->tree_budget - v->tree_bytes;
		if (cap + sizeof(*b) > left)
			cap = left > sizeof(*b) ? (size_t)(left - sizeof(*b)) : 0;
		if (cap < n + 1)
			cap = n + 1;
		int rc = tree_charge(v, sizeof(*b) + cap, err);
		if (rc)
			return rc;
		b = malloc(sizeof(*b) + cap);
		if (b == NULL)
			return ckpt__error(err, CKPT_ENOMEM, "out of memory");
		b->next = v->names;
		b->used = 0;
		b->cap = cap;
		v->names = b;
	}
	char *s = b->data + b->used;
	memcpy(s, name, n);
	s[n] = '\0';
	b->used += n + 1;
	*out = s;
	return 0;
}

/* Append a node called `name` (which must outlive the view) as *id. The
 * array grows by doubling, but never past the budget. */
int ckpt__view_new_node(ckpt_view *v, uint32_t parent, const char *name, int is_dir, uint32_t *id,
			ckpt_error *err)
{
	if (v->count == v->cap) {
		uint64_t room = (v->tree_budget - v->tree_bytes) / sizeof(*v->n);
		size_t add = v->cap ? v->cap : 64;
		if (add > room)
			add = (size_t)room;
		if (add > UINT32_MAX - 1 - v->cap)
			add = UINT32_MAX - 1 - v->cap;
		if (add == 0 && v->cap >= UINT32_MAX - 1)
			return ckpt__error(err, CKPT_ERANGE,
					   "%s: more than %u files and directories",
					   ckpt_reader_path(v->r), UINT32_MAX - 2);
		if (add == 0)
			return tree_charge(v, sizeof(*v->n), err); /* fails */
		struct vnode *n = realloc(v->n, (v->cap + add) * sizeof(*n));
		if (n == NULL)
			return ckpt__error(err, CKPT_ENOMEM, "out of memory");
		tree_charge(v, add * sizeof(*n), NULL); /* fits: add <= room */
		v->n = n;
		v->cap += add;
	}
	*id = (uint32_t)v->count++;
	v->n[*id].pub = (ckpt_node){.name = name, .parent = parent, .is_dir = is_dir};
	return 0;
}

/* Append a node called name[0..nlen) (copied); CKPT_VIEW_NONE on failure. */
uint32_t ckpt__view_add_node(ckpt_view *v, uint32_t parent, const char *name, size_t nlen,
			     int is_dir)
{
	const char *s;
	uint32_t id;
	if (arena_name(v, name, nlen, &s, NULL) ||
	    ckpt__view_new_node(v, parent, s, is_dir, &id, NULL))
		return CKPT_VIEW_NONE;
	return id;
}

/* Is name[0..n) the NUL-terminated `node`? */
static int same_name(const char *node, const char *name, size_t n)
{
	return strncmp(node, name, n) == 0 && node[n] == '\0';
}

/* Where the directories of f's path end (before the file's own name). In
 * a format with a suffix (npy) a file NAME/@value is instead NAME.npy
 * beside directory NAME. */
static const char *dirs_end_of(const ckpt_view *v, const ckpt_plan_file *f)
{
	const char *last = strrchr(f->path, '/');
	const char *dirs_end = last ? last : f->path;
	if (v->fmt->suffix && last && strcmp(last, "/@value") == 0) {
		const char *prev = dirs_end;
		while (prev > f->path && prev[-1] != '/')
			prev--;
		dirs_end = prev > f->path ? prev - 1 : f->path;
	}
	return dirs_end;
}

/* *out = the shown name of file f: the last component of its path
 * (borrowed from the plan), or in a format with a suffix (npy) the
 * file's own last name (ckpt__path_leaf) with room for the suffix, and the
 * suffix (in the arena). */
static int file_name(ckpt_view *v, const ckpt_plan_file *f, const char **out, ckpt_error *err)
{
	if (v->fmt->suffix == NULL) {
		const char *last = strrchr(f->path, '/');
		*out = last ? last + 1 : f->path;
		return 0;
	}
	ckpt__buf name = {0};
	int rc;
	size_t sl = strlen(v->fmt->suffix);
	if (ckpt__path_leaf(v->plan, f, sl, &name) || ckpt__buf_append(&name, v->fmt->suffix, sl))
		rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
	else
		rc = arena_name(v, (const char *)name.data, name.len, out, err);
	ckpt__buf_free(&name);
	return rc;
}

/*
 * Add every plan file at its mount path (the plan's `path`: escaped, with
 * "@value" where a file is also a directory), creating directories. Paths
 * go in sorted order, so that all paths under a directory P/ come
 * together: the directories of the previous path stay on `stack`, and a
 * path reuses the ones it shares (same parent, same name) and makes the
 * rest. Clashes (a file and a directory, or two files, of one name) are
 * found later, between sorted siblings (link_children).
 */
int ckpt__view_build_tree(ckpt_view *v, ckpt_error *err)
{
	size_t nf = v->plan->n_files;
	const ckpt_plan_file **order = NULL;
	uint32_t *stack = NULL;
	size_t depth = 0, scap = 0;
	uint64_t scratch = 0; /* charged for order and stack, given back at the end */
	int rc = tree_charge(v, (uint64_t)nf * sizeof(*order), err);

	if (rc == 0)
		scratch = (uint64_t)nf * sizeof(*order);
	if (rc == 0)
		rc = tree_charge(v, (uint64_t)nf * sizeof(*v->file_node), err);
	if (rc == 0 && (v->file_node = malloc((nf ? nf : 1) * sizeof(*v->file_node))) == NULL)
		rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
	if (rc == 0 && (order = ckpt__plan_by_path(v->plan)) == NULL)
		rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
	for (size_t k = 0; rc == 0 && k < nf; k++) {
		const ckpt_plan_file *f = order[k];
		const char *p = f->path, *dirs_end = dirs_end_of(v, f);
		uint32_t dir = CKPT_VIEW_ROOT;
		for (size_t d = 0; rc == 0 && p < dirs_end; d++) {
			const char *slash = memchr(p, '/', (size_t)(dirs_end - p));
			size_t n = (size_t)((slash ? slash : dirs_end) - p);
			if (n > NAME_MAX_VIEW) {
				rc = ckpt__error(err, CKPT_EUNSUPPORTED,
						 "%s: a path component is longer than %d bytes",
						 f->path, NAME_MAX_VIEW);
				break;
			}
			if (d < depth && same_name(v->n[stack[d]].pub.name, p, n)) {
				dir = stack[d];
			} else {
				if (d == scap) {
					size_t nc = scap ? scap * 2 : 64;
					uint32_t *ns = NULL;
					rc = tree_charge(v, (nc - scap) * sizeof(*stack), err);
					if (rc == 0)
						scratch += (nc - scap) * sizeof(*stack);
					if (rc == 0 &&
					    (ns = realloc(stack, nc * sizeof(*stack))) == NULL)
						rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
					if (rc)
						break;
					stack = ns;
					scap = nc;
				}
				const char *name;
				rc = arena_name(v, p, n, &name, err);
				if (rc == 0)
					rc = ckpt__view_new_node(v, dir, name, 1, &dir, err);
				if (rc)
					break;
				stack[d] = dir;
				depth = d + 1;
			}
			p += n + 1;
		}
		if (rc)
			break;
		const char *name;
		uint32_t id;
		rc = file_name(v, f, &name, err);
		if (rc == 0)
			rc = ckpt__view_new_node(v, dir, name, 0, &id, err);
		if (rc == 0) {
			v->n[id].pub.file = f;
			v->file_node[f - v->plan->files] = id;
		}
	}
	free(order);
	free(stack);
	v->tree_bytes -= scratch;
	return rc;
}

static int cmp_child(const void *a, const void *b, void *ctx)
{
	const ckpt_view *v = ctx;
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
	int r = strcmp(v->n[i].pub.name, v->n[j].pub.name);
	return r ? r : i < j ? -1 : i > j;
}

void ckpt__view_node_path(const ckpt_view *v, uint32_t id, ckpt_sbuf *b)
{
	/* no recursion: a hostile path may be thousands of directories deep */
	size_t len = 0;
	for (uint32_t x = id; x != CKPT_VIEW_ROOT; x = v->n[x].pub.parent)
		len += strlen(v->n[x].pub.name) + (len ? 1 : 0);
	static const char room[64] = {0};
	size_t start = b->len;
	for (size_t k = 0; k < len; k += sizeof(room)) /* filled from the end below */
		ckpt__sb_putn(b, room, len - k < sizeof(room) ? len - k : sizeof(room));
	if (b->oom)
		return;
	size_t end = start + len;
	for (uint32_t x = id; x != CKPT_VIEW_ROOT; x = v->n[x].pub.parent) {
		size_t n = strlen(v->n[x].pub.name);
		end -= n;
		memcpy(b->p + end, v->n[x].pub.name, n);
		if (end > start)
			b->p[--end] = '/';
	}
}

/* Two siblings of one name: a plan the tree cannot show. */
static int clash(const ckpt_view *v, uint32_t a, uint32_t b, ckpt_error *err)
{
	ckpt_sbuf path = CKPT_SBUF_INIT;
	ckpt__view_node_path(v, a, &path);
	/* a long path: its end, which names the clash */
	const char *p = ckpt__sb_str(&path);
	if (path.len >= CKPT_ERROR_MSG_MAX / 2)
		p += path.len - (CKPT_ERROR_MSG_MAX / 2 - 1);
	int rc = v->n[a].pub.is_dir != v->n[b].pub.is_dir
		     ? ckpt__error(err, CKPT_EINVAL, "%s is both a file and a directory", p)
		     : ckpt__error(err, CKPT_EINVAL, "two target files are both called %s", p);
	free(path.p);
	return rc;
}

/* Each directory's children: a range of `children`, sorted by name. The
 * node array first gives back what its last doubling did not use. */
int ckpt__view_link_children(ckpt_view *v, ckpt_error *err)
{
	struct vnode *shrunk = v->cap > v->count ? realloc(v->n, v->count * sizeof(*v->n)) : NULL;
	if (shrunk) {
		v->tree_bytes -= (v->cap - v->count) * sizeof(*v->n);
		v->n = shrunk;
		v->cap = v->count;
	}
	int rc = tree_charge(v, (uint64_t)v->count * sizeof(uint32_t), err);
	if (rc == 0 && (v->children = malloc((v->count ? v->count : 1) * sizeof(uint32_t))) == NULL)
		rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
	if (rc)
		return rc;
	for (size_t id = 1; id < v->count; id++)
		v->n[v->n[id].pub.parent].pub.n_children++;
	uint32_t at = 0;
	for (size_t id = 0; id < v->count; id++) {
		v->n[id].pub.first_child = at;
		at += v->n[id].pub.n_children;
		v->n[id].pub.n_children = 0;
	}
	for (uint32_t id = 1; id < v->count; id++) {
		ckpt_node *dir = &v->n[v->n[id].pub.parent].pub;
		v->children[dir->first_child + dir->n_children++] = id;
	}
	for (size_t id = 0; rc == 0 && id < v->count; id++) {
		const ckpt_node *d = &v->n[id].pub;
		uint32_t *c = v->children + d->first_child;
		if (d->n_children > 1)
			qsort_r(c, d->n_children, sizeof(*c), cmp_child, v);
		for (uint32_t k = 1; rc == 0 && k < d->n_children; k++)
			if (strcmp(v->n[c[k - 1]].pub.name, v->n[c[k]].pub.name) == 0)
				rc = clash(v, c[k - 1], c[k], err);
	}
	return rc;
}

uint32_t ckpt_view_child(const ckpt_view *v, uint32_t dir, uint32_t k)
{
	const ckpt_node *d = ckpt_view_node(v, dir);
	if (d == NULL || !d->is_dir || k >= d->n_children)
		return CKPT_VIEW_NONE;
	return v->children[d->first_child + k];
}

uint32_t ckpt_view_resolve_path(const ckpt_view *v, const char *path)
{
	uint32_t id = CKPT_VIEW_ROOT;
	char comp[4096];

	while (*path == '/')
		path++;
	while (*path && id != CKPT_VIEW_NONE) {
		const char *slash = strchr(path, '/');
		size_t n = slash ? (size_t)(slash - path) : strlen(path);
		if (n >= sizeof(comp))
			return CKPT_VIEW_NONE;
		memcpy(comp, path, n);
		comp[n] = '\0';
		id = ckpt_view_lookup(v, id, comp);
		path += n;
		while (*path == '/')
			path++;
	}
	return id;
}
