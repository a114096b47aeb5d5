/*
 * The view: the tree of the mount and range reads of its files.
 *
 * Tree: nodes live in one array (node 0 = root). It is built from the plan's
 * paths in sorted order, so the directories a path passes through are a
 * prefix of the previous path's (a stack) or new; no table keyed by names.
 * Each directory's children are then a range of `children`, sorted by name,
 * and a lookup is a binary search there: at most log2(children) + 1 name
 * comparisons, whatever the names (no hash a checkpoint could flood).
 * Memory: a node is its public part; a raw file's name points into its plan
 * path, other names live in an arena; everything the tree takes is charged
 * against a budget proportional to the index (view_int.h), so names
 * however deep cannot make the tree much bigger than the checkpoint's index.
 *
 * Reads: a file is a box (start, length) of one source tensor, in row-major
 * order. A byte range maps to target elements [e0, e1); those are walked as
 * runs along the last dimension, each run cut at stored-piece boundaries
 * into preads of the piece's bytes; adjacent preads of one piece merge.
 * The source bytes are then converted to the target dtype, and the
 * requested window copied out. When nothing converts and the range is
 * element-aligned, bytes land straight in the caller's buffer.
 */
#include "ckpt/view.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/convert.h"
#include "util/codec_int.h"
#include "util/crc32c_int.h"
#include "util/error_int.h"
#include "format/table_int.h"
#include "map/resolve_int.h"
#include "util/slice_int.h"
#include "util/strbuf_int.h"
#include "format/slicekey_int.h"
#include "format/strings_int.h"
#include "view/view_int.h"
#include "format/writer_int.h"

/* Longest directory name in a path (Linux NAME_MAX). */
#define NAME_MAX_VIEW 255

/* A node is its public part only: what a deep name costs per component. */
struct vnode {
	ckpt_node pub;
};

/* Names of directories and of npy files, back to back with their NULs. */
struct name_block {
	struct name_block *next;
	size_t used, cap;
	char data[];
};

/* npy format, per plan file: the header and the string width. */
struct npy_file {
	char *hdr; /* the header (owned), hdr_len bytes */
	size_t hdr_len;
	uint64_t width; /* npy strings: bytes per element */
};

/* What is known of a stored piece's checksum (ckpt_view.verified). */
enum { PIECE_UNCHECKED = 0, PIECE_GOOD = 1, PIECE_BAD = 2 };

/*
 * While --format tf builds its index through its raw view, every stored
 * piece's bytes as they are read, folded into its CRC when they come in
 * order; so a piece read whole, front to back, is checked against its
 * stored CRC from the very bytes the index's CRC is computed over.
 */
struct crc_run {
	uint64_t next; /* bytes folded in; UINT64_MAX once read out of order */
	uint32_t crc;
};

struct ckpt_view {
	enum ckpt_view_format format;
	const ckpt_reader *r;
	const ckpt_plan *plan;
	struct vnode *n;
	size_t count, cap;
	uint32_t *children;
	struct name_block *names;
	struct npy_file *npy; /* CKPT_VIEW_NPY: one per plan file */
	uint64_t tree_bytes;  /* charged so far ... */
	uint64_t tree_budget; /* ... and the most the tree may take */
	/* @mapping.json (26 MB of JSON for 100,000 files) is never held whole:
	 * on first use its chunks (one per file, plan_print.c) are measured
	 * once; a read formats just the chunks it covers. state 0 not yet,
	 * 1 measured, 2 failed (ENOMEM). */
	uint32_t mapping_id;
	pthread_mutex_t mapping_lock;
	_Atomic int mapping_state;
	const ckpt_plan_file **mapping_order; /* by path; set before state 1 */
	uint64_t *mapping_at;		      /* n_files + 2: chunk k starts at mapping_at[k];
					       * the last entry is where the newline sits */
	/* per stored piece: PIECE_*, at piece_base[t] + p (piece_base[nt] =
	 * the number of pieces) */
	_Atomic unsigned char *verified;
	size_t *piece_base;
	struct crc_run *runs; /* see struct crc_run; NULL but while building */
	struct tf_state *tf;  /* CKPT_VIEW_TF only */
	/* string tensors' parsed lengths, built on first read (strings.c) */
	ckpt__strings_cache *strings;
};

static const struct npy_file no_npy; /* raw and tf formats: no header */

/* The npy part of file node id (all zeros outside the npy format). */
static const struct npy_file *npy_of(const ckpt_view *v, uint32_t id)
{
	const ckpt_plan_file *f = v->n[id].pub.file;
	return v->npy && f ? &v->npy[f - v->plan->files] : &no_npy;
}

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
static int new_node(ckpt_view *v, uint32_t parent, const char *name, int is_dir, uint32_t *id,
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
static uint32_t add_node(ckpt_view *v, uint32_t parent, const char *name, size_t nlen, int is_dir)
{
	const char *s;
	uint32_t id;
	if (arena_name(v, name, nlen, &s, NULL) || new_node(v, parent, s, is_dir, &id, NULL))
		return CKPT_VIEW_NONE;
	return id;
}

/* Strict UTF-8 (no overlong forms, surrogates or values past U+10FFFF):
 * what jansson, and so @mapping.json, accepts. */
static int utf8_valid(const char *str)
{
	const unsigned char *p = (const unsigned char *)str;
	while (*p) {
		unsigned c = *p++;
		int more = c < 0x80		   ? 0
			   : c >= 0xc2 && c < 0xe0 ? 1
			   : (c & 0xf0) == 0xe0	   ? 2
			   : c >= 0xf0 && c < 0xf5 ? 3
						   : -1;
		if (more < 0)
			return 0;
		unsigned v = more == 0 ? c : c & (0x3fu >> more);
		for (int k = 0; k < more; k++, p++) {
			if ((*p & 0xc0) != 0x80)
				return 0;
			v = v << 6 | (*p & 0x3fu);
		}
		if ((more == 2 && (v < 0x800 || (v >= 0xd800 && v < 0xe000))) ||
		    (more == 3 && (v < 0x10000 || v > 0x10ffff)))
			return 0;
	}
	return 1;
}

/* Is name[0..n) the NUL-terminated `node`? */
static int same_name(const char *node, const char *name, size_t n)
{
	return strncmp(node, name, n) == 0 && node[n] == '\0';
}

/* Where the directories of f's path end (before the file's own name). In
 * npy format a file NAME/@value is instead NAME.npy beside directory NAME. */
static const char *dirs_end_of(const ckpt_view *v, const ckpt_plan_file *f)
{
	const char *last = strrchr(f->path, '/');
	const char *dirs_end = last ? last : f->path;
	if (v->format == CKPT_VIEW_NPY && last && strcmp(last, "/@value") == 0) {
		const char *prev = dirs_end;
		while (prev > f->path && prev[-1] != '/')
			prev--;
		dirs_end = prev > f->path ? prev - 1 : f->path;
	}
	return dirs_end;
}

/* *out = the shown name of file f: in raw format the last component of
 * its path (borrowed from the plan), in npy format the variable's own last
 * name with room for ".npy", and ".npy" (in the arena). */
static int file_name(ckpt_view *v, const ckpt_plan_file *f, const char **out, ckpt_error *err)
{
	if (v->format != CKPT_VIEW_NPY) {
		const char *last = strrchr(f->path, '/');
		*out = last ? last + 1 : f->path;
		return 0;
	}
	const char *raw = strrchr(f->file, '/');
	raw = raw ? raw + 1 : f->file;
	ckpt__buf name = {0};
	int rc;
	if (ckpt__path_component(&name, raw, strlen(raw), 4) || ckpt__buf_append(&name, ".npy", 4))
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
static int build_tree(ckpt_view *v, ckpt_error *err)
{
	size_t nf = v->plan->n_files;
	const ckpt_plan_file **order = NULL;
	uint32_t *stack = NULL;
	size_t depth = 0, scap = 0;
	uint64_t scratch = 0; /* charged for order and stack, given back at the end */
	int rc = tree_charge(v, (uint64_t)nf * sizeof(*order), err);

	if (rc == 0)
		scratch = (uint64_t)nf * sizeof(*order);
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
					rc = new_node(v, dir, name, 1, &dir, err);
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
			rc = new_node(v, dir, name, 0, &id, err);
		if (rc == 0)
			v->n[id].pub.file = f;
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

/* The shown path of node id ("a/b.npy"); its last size - 1 bytes when
 * longer. */
static void node_path(const ckpt_view *v, uint32_t id, char *out, size_t size)
{
	size_t len = 0;
	for (uint32_t x = id; x != CKPT_VIEW_ROOT; x = v->n[x].pub.parent)
		len += strlen(v->n[x].pub.name) + (len ? 1 : 0);
	size_t skip = len >= size ? len - (size - 1) : 0, end = len;
	for (uint32_t x = id; x != CKPT_VIEW_ROOT; x = v->n[x].pub.parent) {
		const char *nm = v->n[x].pub.name;
		for (size_t k = strlen(nm); k > 0; k--)
			if (--end >= skip)
				out[end - skip] = nm[k - 1];
		if (end > 0 && --end >= skip)
			out[end - skip] = '/';
	}
	out[len - skip] = '\0';
}

/* Two siblings of one name: a plan the tree cannot show. */
static int clash(const ckpt_view *v, uint32_t a, uint32_t b, ckpt_error *err)
{
	char path[CKPT_ERROR_MSG_MAX / 2];
	node_path(v, a, path, sizeof(path));
	if (v->n[a].pub.is_dir != v->n[b].pub.is_dir)
		return ckpt__error(err, CKPT_EINVAL, "%s is both a file and a directory", path);
	return ckpt__error(err, CKPT_EINVAL, "two target files are both called %s", path);
}

/* Each directory's children: a range of `children`, sorted by name. The
 * node array first gives back what its last doubling did not use. */
static int link_children(ckpt_view *v, ckpt_error *err)
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

/* Byte size of a file whose dtype has no fixed size: a string file is its
 * raw bytes (scalar) or (8 + len) per element; a variant file the stored
 * bytes. *longest is the widest string element (npy) or the variant size.
 * Strings: only their lengths are read (and their checksum checked). */
static int measure_unsized(const ckpt_view *v, const ckpt_plan_file *f, uint64_t *size,
			   uint64_t *longest, ckpt_error *err)
{
	const ckpt_tensor *t = ckpt_reader_tensor(v->r, f->source);
	if (t->num_pieces != 1 || f->num_elements != t->num_elements)
		return ckpt__error(err, CKPT_EUNSUPPORTED,
				   "%s: Dtype %s not supported for a slice of %s", f->file,
				   ckpt_dtype_tf_name(f->dtype), f->source_name);
	if (f->dtype != CKPT_DT_STRING) {
		/* variant: the stored bytes, as TensorFlow encoded them */
		*size = ckpt_reader_piece(v->r, f->source, 0)->size;
		*longest = *size;
		return 0;
	}
	ckpt__strings_head h;
	int rc = ckpt__strings_parse(v->r, f->source, &h, err);
	if (rc)
		return rc;
	*size = h.size - h.data_start;
	*longest = h.longest > 1 ? h.longest : 1;
	uint64_t npy;
	if ((f->rank && (ckpt__mul_u64(h.n, 8, &npy) || ckpt__add_u64(*size, npy, size))) ||
	    (v->format == CKPT_VIEW_NPY && ckpt__mul_u64(*longest, h.n, &npy)))
		return ckpt__error(err, CKPT_EUNSUPPORTED, "%s: string tensor %s is too large",
				   f->file, f->source_name);
	return 0;
}

/* NumPy's descr for a dtype (see view.h for bfloat16 and strings). */
static const char *npy_descr(ckpt_dtype dt)
{
	switch (dt) {
	case CKPT_DT_BOOL: return "|b1";
	case CKPT_DT_INT8:
	case CKPT_DT_QINT8: return "|i1";
	case CKPT_DT_UINT8:
	case CKPT_DT_QUINT8: return "|u1";
	case CKPT_DT_INT16:
	case CKPT_DT_QINT16: return "<i2";
	case CKPT_DT_UINT16:
	case CKPT_DT_QUINT16:
	case CKPT_DT_BFLOAT16: return "<u2";
	case CKPT_DT_INT32:
	case CKPT_DT_QINT32: return "<i4";
	case CKPT_DT_UINT32: return "<u4";
	case CKPT_DT_INT64: return "<i8";
	case CKPT_DT_UINT64: return "<u8";
	case CKPT_DT_HALF: return "<f2";
	case CKPT_DT_FLOAT: return "<f4";
	case CKPT_DT_DOUBLE: return "<f8";
	case CKPT_DT_COMPLEX64: return "<c8";
	case CKPT_DT_COMPLEX128: return "<c16";
	default: return NULL;
	}
}

/*
 * The NPY 1.0 header of a file: magic, version, uint16 header length, then
 * the dict padded with spaces and a newline to a multiple of 64 bytes.
 */
static int npy_header(struct npy_file *nd, const ckpt_plan_file *f, ckpt_error *err)
{
	char descr[32], dict[4096];
	const char *d = npy_descr(f->dtype);
	int rank = f->rank;
	if (f->dtype == CKPT_DT_STRING || f->dtype == CKPT_DT_VARIANT) {
		snprintf(descr, sizeof(descr), "|%c%llu", f->dtype == CKPT_DT_STRING ? 'S' : 'V',
			 (unsigned long long)nd->width);
		d = descr;
		if (f->dtype == CKPT_DT_VARIANT)
			rank = 0; /* one opaque record of the stored bytes */
	}
	if (d == NULL)
		return ckpt__error(err, CKPT_EUNSUPPORTED, "%s: dtype %s has no NumPy form",
				   f->file, ckpt_dtype_name(f->dtype));
	int n =
	    snprintf(dict, sizeof(dict), "{'descr': '%s', 'fortran_order': False, 'shape': (", d);
	for (int k = 0; k < rank && n > 0 && (size_t)n < sizeof(dict); k++)
		n += snprintf(dict + n, sizeof(dict) - (size_t)n, "%lld,%s", (long long)f->shape[k],
			      k + 1 < rank ? " " : "");
	if (n > 0 && rank > 1 && (size_t)n < sizeof(dict))
		n--; /* (2, 3) not (2, 3,): only a 1-tuple keeps its comma */
	if (n > 0 && (size_t)n < sizeof(dict))
		n += snprintf(dict + n, sizeof(dict) - (size_t)n, "), }");
	if (n <= 0 || (size_t)n >= sizeof(dict) - 64)
		return ckpt__error(err, CKPT_ERANGE, "%s: NumPy header too long", f->file);
	size_t total = (10 + (size_t)n + 1 + 63) / 64 * 64;
	nd->hdr = malloc(total);
	if (nd->hdr == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	memcpy(nd->hdr, "\x93NUMPY\x01\x00", 8);
	nd->hdr[8] = (char)((total - 10) & 0xff);
	nd->hdr[9] = (char)((total - 10) >> 8);
	memcpy(nd->hdr + 10, dict, (size_t)n);
	memset(nd->hdr + 10 + n, ' ', total - 10 - (size_t)n - 1);
	nd->hdr[total - 1] = '\n';
	nd->hdr_len = total;
	return 0;
}

/* ---- CKPT_VIEW_TF: the plan as one TensorFlow checkpoint ---- */

/* One tensor's bytes in the data file: one plan file, in TF1 Saver order. */
struct tf_seg {
	const ckpt_plan_file *f;
	uint32_t raw_id; /* the plan file's node in the raw view */
	uint64_t off;	 /* in the data file */
	uint64_t size;
	uint8_t *head; /* strings: varint64 lengths + masked length CRC */
	size_t head_len;
	uint32_t crc; /* masked CRC32C of the segment, as the entry stores it */
};

struct tf_state {
	ckpt_view *raw; /* the plan files' bytes (raw format) */
	struct tf_seg *seg;
	size_t n_seg;
	ckpt__buf index; /* the whole .index file */
	uint32_t index_id, data_id;
};

static void tf_free(struct tf_state *tf)
{
	if (tf == NULL)
		return;
	for (size_t i = 0; i < tf->n_seg; i++)
		free(tf->seg[i].head);
	free(tf->seg);
	ckpt__buf_free(&tf->index);
	ckpt_view_free(tf->raw);
	free(tf);
}

/* Bytes [off, off+len) of a string segment's body: its strings' bytes
 * back to back (the lengths are in the head), as the source stores them. */
static int tf_string_body(const ckpt_view *v, const struct tf_seg *sg, uint64_t off, uint8_t *out,
			  size_t len, ckpt_error *err)
{
	const ckpt__strings_index *x;
	int rc = ckpt__strings_get(v->strings, v->r, sg->f->source, &x, err);
	if (rc)
		return rc;
	rc = ckpt__strings_read_body(v->r, x, off, out, len, err);
	ckpt__strings_put(v->strings, x);
	return rc;
}

/* Bytes [off, off+len) of segment sg (off + len <= sg->size). */
static int tf_seg_read(const ckpt_view *v, const struct tf_seg *sg, uint64_t off, uint8_t *out,
		       size_t len, ckpt_error *err)
{
	if (off < sg->head_len) {
		size_t n = sg->head_len - (size_t)off < len ? sg->head_len - (size_t)off : len;
		memcpy(out, sg->head + off, n);
		out += n;
		len -= n;
		off = sg->head_len;
	}
	if (len == 0)
		return 0;
	off -= sg->head_len;
	if (sg->f->dtype == CKPT_DT_STRING)
		return tf_string_body(v, sg, off, out, len, err);
	while (len > 0) {
		size_t got = 0;
		int rc = ckpt_view_read(v->tf->raw, sg->raw_id, off, out, len, &got, err);
		if (rc)
			return rc;
		if (got == 0)
			return ckpt__error(err, CKPT_EIO, "%s: short read", sg->f->file);
		out += got;
		len -= got;
		off += got;
	}
	return 0;
}

/* Reads of ckpt.index (from memory) and ckpt.data-* (segment by segment). */
static int tf_read(const ckpt_view *v, uint32_t id, uint64_t off, void *buf, size_t len,
		   size_t *got, ckpt_error *err)
{
	const struct tf_state *tf = v->tf;
	uint64_t size = v->n[id].pub.size;
	*got = 0;
	if (off >= size || len == 0)
		return 0;
	if (len > size - off)
		len = (size_t)(size - off);
	if (id == tf->index_id) {
		memcpy(buf, tf->index.data + off, len);
		*got = len;
		return 0;
	}
	/* the first segment that ends after off */
	size_t lo = 0, hi = tf->n_seg;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (tf->seg[mid].off + tf->seg[mid].size <= off)
			lo = mid + 1;
		else
			hi = mid;
	}
	uint8_t *out = buf;
	size_t done = 0;
	for (size_t i = lo; i < tf->n_seg && done < len; i++) {
		const struct tf_seg *sg = &tf->seg[i];
		uint64_t a = off + done - sg->off;
		if (sg->size == 0)
			continue;
		size_t n = sg->size - a < len - done ? (size_t)(sg->size - a) : len - done;
		int rc = tf_seg_read(v, sg, a, out + done, n, err);
		if (rc)
			return rc;
		done += n;
	}
	*got = done;
	return 0;
}

/*
 * Size, head and CRC of segment sg. The CRC needs every byte: numeric
 * tensors are read once through the raw view in 1 MiB chunks (converted),
 * strings once through the reader. This is where mounting with --format tf
 * reads all mapped data: cost linear in the data, once per mount.
 */
static int tf_seg_prepare(const ckpt_view *v, struct tf_seg *sg, ckpt_error *err)
{
	const ckpt_plan_file *f = sg->f;
	uint32_t crc = 0;
	int rc = 0;

	if (f->dtype == CKPT_DT_STRING) {
		char **s;
		uint64_t *l;
		ckpt__buf head = {0};
		if ((rc = ckpt_reader_read_strings(v->r, f->source, &s, &l, err)))
			return rc;
		if (ckpt__bundle_string_head(&head, (size_t)f->num_elements, l, &crc)) {
			rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
		} else {
			sg->head = head.data;
			sg->head_len = head.len;
			sg->size = head.len;
			for (uint64_t k = 0; k < f->num_elements; k++) {
				crc = ckpt__crc32c_extend(crc, s[k], (size_t)l[k]);
				sg->size += l[k];
			}
		}
		ckpt_reader_free_strings(s, l);
		sg->crc = ckpt__crc32c_mask(crc);
		if (rc == 0) /* ckpt_reader_read_strings checked the source CRC */
			atomic_store(&v->tf->raw->verified[v->tf->raw->piece_base[f->source]],
				     PIECE_GOOD);
		return rc;
	}
	enum { CHUNK = 1 << 20 };
	sg->size = ckpt_view_node(v->tf->raw, sg->raw_id)->size;
	uint8_t *buf = malloc(sg->size < CHUNK ? (size_t)sg->size + 1 : CHUNK);
	if (buf == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	for (uint64_t off = 0; off < sg->size && rc == 0;) {
		size_t n = sg->size - off < CHUNK ? (size_t)(sg->size - off) : CHUNK;
		rc = tf_seg_read(v, sg, off, buf, n, err);
		crc = ckpt__crc32c_extend(crc, buf, n);
		off += n;
	}
	free(buf);
	sg->crc = ckpt__crc32c_mask(crc);
	return rc;
}

/*
 * Every source CRC the data file depends on, whatever --verify says: an
 * index with fresh CRCs over corrupt source bytes would launder them. A
 * piece tf_seg_prepare read whole and in order is checked from those very
 * bytes (struct crc_run), strings were checked as they were read; the rest
 * (parts of a column split, pieces read out of order, variants,
 * byte-swapped bundles) are read again by ckpt_view_verify. Results land
 * in the raw view's states, so reads of the mount never check again.
 */
static int tf_check_sources(struct tf_state *tf, ckpt_error *err)
{
	ckpt_view *raw = tf->raw;
	int rc = 0;
	for (size_t t = 0; t < ckpt_reader_count(raw->r) && rc == 0; t++) {
		for (size_t p = 0; p < ckpt_reader_tensor(raw->r, t)->num_pieces && rc == 0; p++) {
			size_t k = raw->piece_base[t] + p;
			if (raw->runs[k].next != ckpt_reader_piece(raw->r, t, p)->size)
				continue;
			rc = ckpt_reader_check_crc(raw->r, t, p, raw->runs[k].crc, err);
			if (rc == 0)
				atomic_store(&raw->verified[k], PIECE_GOOD);
			else if (rc == CKPT_EUNSUPPORTED)
				rc = 0;
		}
	}
	for (size_t i = 0; i < tf->n_seg && rc == 0; i++)
		rc = ckpt_view_verify(raw, tf->seg[i].raw_id, err);
	return rc;
}

/* A part that is the whole variable: TF's IsFullSlice (a plain Add). */
static int tf_full_slice(const ckpt_plan_file *f)
{
	for (int d = 0; d < f->rank; d++)
		if (f->var_start[d] != 0 || f->shape[d] != f->var_shape[d])
			return 0;
	return 1;
}

/*
 * The index entries, as ckpt_writer gets them when TF1's Saver saves the
 * plan: each variable Add()ed, each part AddSlice()d with explicit extents
 * (a slice entry under its slice key, and the variable's full entry listing
 * its parts' extents in order). Keys live in keys[] (freed by the caller).
 */
static int tf_build_index(ckpt_view *v, ckpt_error *err)
{
	struct tf_state *tf = v->tf;
	size_t n = tf->n_seg;
	ckpt__index_entry *e = calloc(2 * n + 1, sizeof(*e));
	ckpt__buf *keys = calloc(n + 1, sizeof(*keys));
	int64_t *pairs = NULL;
	size_t ne = 0;
	int rc = 0;

	if (e == NULL || keys == NULL)
		rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
	/* slices of the full entries: 2 * rank per part, all parts together */
	size_t npairs = 0;
	for (size_t i = 0; rc == 0 && i < n; i++)
		npairs += 2 * (size_t)(tf->seg[i].f->rank ? tf->seg[i].f->rank : 1);
	if (rc == 0 && (pairs = malloc(npairs * sizeof(int64_t))) == NULL)
		rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
	size_t used = 0;
	ckpt__index_entry *full = NULL; /* the full entry of the variable being sliced */
	for (size_t i = 0; rc == 0 && i < n; i++) {
		const struct tf_seg *sg = &tf->seg[i];
		const ckpt_plan_file *f = sg->f;
		ckpt__entry_fields ef = {
		    .dtype = f->dtype,
		    .rank = f->rank,
		    .dims = f->shape,
		    .offset = (int64_t)sg->off,
		    .size = (int64_t)sg->size,
		    .crc32c = sg->crc,
		};
		if (f->part < 0 || tf_full_slice(f)) {
			e[ne++] = (ckpt__index_entry){(const uint8_t *)f->var, strlen(f->var), ef};
			full = NULL;
			continue;
		}
		if (ckpt__slicekey_encode(&keys[i], f->var, strlen(f->var), f->rank, f->var_start,
					  f->shape)) {
			rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
			break;
		}
		e[ne++] = (ckpt__index_entry){keys[i].data, keys[i].len, ef};
		if (full == NULL || strcmp((const char *)full->key, f->var) != 0 ||
		    full->key_len != strlen(f->var)) {
			full = &e[ne++];
			*full = (ckpt__index_entry){(const uint8_t *)f->var,
						    strlen(f->var),
						    {.dtype = f->dtype,
						     .rank = f->rank,
						     .dims = f->var_shape,
						     .slices = pairs + used}};
		}
		for (int d = 0; d < f->rank; d++) {
			pairs[used++] = f->var_start[d];
			pairs[used++] = f->shape[d];
		}
		full->fields.n_slices++;
	}
	if (rc == 0)
		rc = ckpt__bundle_encode_index(&tf->index, 1, e, ne, err);
	for (size_t i = 0; keys && i < n; i++)
		ckpt__buf_free(&keys[i]);
	free(keys);
	free(pairs);
	free(e);
	return rc;
}

/* Fill v->tf and add ckpt.index and ckpt.data-00000-of-00001 to the root. */
static int tf_build(ckpt_view *v, ckpt_error *err)
{
	struct tf_state *tf = calloc(1, sizeof(*tf));
	int rc = 0;

	if (tf == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	v->tf = tf;
	if ((rc = ckpt_view_build_format(&tf->raw, v->r, v->plan, CKPT_VIEW_RAW, err)))
		return rc;
	tf->seg = calloc(v->plan->n_files ? v->plan->n_files : 1, sizeof(*tf->seg));
	if (tf->seg == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	tf->n_seg = v->plan->n_files;
	for (size_t i = 0; i < tf->n_seg; i++) {
		tf->seg[i].f = &v->plan->files[i];
		tf->seg[i].raw_id = CKPT_VIEW_NONE;
	}
	for (uint32_t id = 0; id < ckpt_view_count(tf->raw); id++) {
		const ckpt_node *nd = ckpt_view_node(tf->raw, id);
		if (nd->file != NULL)
			tf->seg[nd->file - v->plan->files].raw_id = id;
	}
	/* the plan is sorted by variable, then part: TF1's Saver order */
	uint64_t off = 0;
	size_t np = tf->raw->piece_base[ckpt_reader_count(v->r)];
	if ((tf->raw->runs = calloc(np ? np : 1, sizeof(struct crc_run))) == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	for (size_t i = 0; i < tf->n_seg && rc == 0; i++) {
		tf->seg[i].off = off;
		rc = tf_seg_prepare(v, &tf->seg[i], err);
		off += tf->seg[i].size;
	}
	if (rc == 0)
		rc = tf_check_sources(tf, err);
	free(tf->raw->runs);
	tf->raw->runs = NULL;
	if (rc == 0)
		rc = tf_build_index(v, err);
	if (rc)
		return rc;
	tf->index_id =
	    add_node(v, CKPT_VIEW_ROOT, CKPT_VIEW_TF_INDEX, strlen(CKPT_VIEW_TF_INDEX), 0);
	tf->data_id = add_node(v, CKPT_VIEW_ROOT, CKPT_VIEW_TF_DATA, strlen(CKPT_VIEW_TF_DATA), 0);
	if (tf->index_id == CKPT_VIEW_NONE || tf->data_id == CKPT_VIEW_NONE)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	v->n[tf->index_id].pub.size = tf->index.len;
	v->n[tf->data_id].pub.size = off;
	return 0;
}

int ckpt_view_build(ckpt_view **out, const ckpt_reader *r, const ckpt_plan *plan, ckpt_error *err)
{
	return ckpt_view_build_format(out, r, plan, CKPT_VIEW_RAW, err);
}

int ckpt_view_build_format(ckpt_view **out, const ckpt_reader *r, const ckpt_plan *plan,
			   enum ckpt_view_format format, ckpt_error *err)
{
	ckpt_view *v = calloc(1, sizeof(*v));
	int rc = 0;

	*out = NULL;
	if (v == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	v->format = format;
	v->r = r;
	v->mapping_id = CKPT_VIEW_NONE;
	pthread_mutex_init(&v->mapping_lock, NULL);
	v->plan = plan;
	v->tree_budget =
	    r->table_bytes <= (UINT64_MAX - CKPT__VIEW_TREE_SLACK) / CKPT__VIEW_TREE_PER_INDEX_BYTE
		? r->table_bytes * CKPT__VIEW_TREE_PER_INDEX_BYTE + CKPT__VIEW_TREE_SLACK
		: UINT64_MAX;
	uint32_t root;
	if ((v->strings = ckpt__strings_cache_new()) == NULL)
		rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
	else
		rc = new_node(v, CKPT_VIEW_NONE, "", 1, &root, err);
	if (rc == 0 && format == CKPT_VIEW_TF)
		rc = tf_build(v, err); /* two files instead of one per plan file */
	/* @mapping.json is made on first use, so refuse now what it cannot hold */
	for (size_t i = 0; rc == 0 && i < plan->n_files; i++) {
		const ckpt_plan_file *f = &plan->files[i];
		if (!utf8_valid(f->var) || !utf8_valid(f->source_name) || !utf8_valid(f->path))
			rc = ckpt__error(err, CKPT_EUNSUPPORTED,
					 "%s: a name is not valid UTF-8, which JSON cannot carry",
					 f->file);
	}
	if (rc == 0 && format != CKPT_VIEW_TF)
		rc = build_tree(v, err);
	if (rc == 0)
		rc = new_node(v, CKPT_VIEW_ROOT, "@mapping.json", 0, &v->mapping_id, err);
	if (rc == 0)
		rc = link_children(v, err);
	/* sizes, and npy headers (per file: outside the tree's budget) */
	if (rc == 0 && format == CKPT_VIEW_NPY &&
	    (v->npy = calloc(plan->n_files ? plan->n_files : 1, sizeof(*v->npy))) == NULL)
		rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
	for (size_t id = 1; rc == 0 && id < v->count; id++) {
		ckpt_node *nd = &v->n[id].pub;
		const ckpt_plan_file *f = nd->file;
		if (f == NULL)
			continue;
		struct npy_file *x = v->npy ? &v->npy[f - plan->files] : NULL;
		uint64_t width = 0;
		if (f->size_known)
			nd->size = f->size;
		else
			rc = measure_unsized(v, f, &nd->size, &width, err);
		if (rc == 0 && x) {
			x->width = width;
			if (f->dtype == CKPT_DT_STRING)
				nd->size = width * f->num_elements;
			else if (f->dtype == CKPT_DT_VARIANT)
				nd->size = width;
			rc = npy_header(x, f, err);
			nd->size += x->hdr_len;
		}
	}
	/* verification state, one byte per stored piece */
	size_t nt = ckpt_reader_count(r), np = 0;
	if (rc == 0 && (v->piece_base = malloc((nt + 1) * sizeof(size_t))) == NULL)
		rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
	for (size_t t = 0; rc == 0 && t < nt; t++) {
		v->piece_base[t] = np;
		np += ckpt_reader_tensor(r, t)->num_pieces;
	}
	if (rc == 0)
		v->piece_base[nt] = np;
	if (rc == 0 && (v->verified = calloc(np ? np : 1, 1)) == NULL)
		rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
	if (rc) {
		ckpt_view_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

void ckpt_view_free(ckpt_view *v)
{
	if (v == NULL)
		return;
	tf_free(v->tf);
	for (size_t i = 0; v->npy && i < v->plan->n_files; i++)
		free(v->npy[i].hdr);
	free(v->npy);
	while (v->names) {
		struct name_block *b = v->names;
		v->names = b->next;
		free(b);
	}
	free(v->n);
	free(v->children);
	free(v->mapping_order);
	free(v->mapping_at);
	pthread_mutex_destroy(&v->mapping_lock);
	free((void *)v->verified);
	free(v->piece_base);
	ckpt__strings_cache_free(v->strings);
	free(v);
}

size_t ckpt_view_count(const ckpt_view *v)
{
	return v->count;
}

/* Measure @mapping.json: exactly what `ckptfs --dry-run --json` prints
 * (the JSON and a newline), once, whichever thread asks first. */
static void ensure_mapping(const ckpt_view *cv)
{
	ckpt_view *v = (ckpt_view *)cv; /* logically const: a cache */
	if (atomic_load(&v->mapping_state) != 0)
		return;
	pthread_mutex_lock(&v->mapping_lock);
	if (atomic_load(&v->mapping_state) == 0) {
		size_t n = v->plan->n_files;
		int state = 2;
		v->mapping_order = ckpt__plan_by_path(v->plan);
		v->mapping_at = malloc((n + 2) * sizeof(uint64_t));
		if (v->mapping_order && v->mapping_at) {
			ckpt_sbuf b = CKPT_SBUF_INIT;
			int rc = 0;
			v->mapping_at[0] = 0;
			for (size_t k = 0; rc == 0 && k <= n; k++) {
				b.len = 0;
				rc = ckpt__plan_json_chunk(v->plan, v->mapping_order, k, 1, &b,
							   NULL);
				v->mapping_at[k + 1] = v->mapping_at[k] + b.len;
			}
			free(b.p);
			if (rc == 0) {
				v->n[v->mapping_id].pub.size = v->mapping_at[n + 1] + 1;
				state = 1;
			}
		}
		atomic_store(&v->mapping_state, state);
	}
	pthread_mutex_unlock(&v->mapping_lock);
}

/* Bytes [off, off+len) of @mapping.json (len already within its size). */
static int read_mapping(const ckpt_view *v, uint64_t off, uint8_t *out, size_t len, ckpt_error *err)
{
	size_t n = v->plan->n_files;
	const uint64_t *at = v->mapping_at;
	uint64_t end = off + len;
	ckpt_sbuf b = CKPT_SBUF_INIT;
	int rc = 0;

	if (atomic_load(&v->mapping_state) != 1)
		return ckpt__error(err, CKPT_ENOMEM, "@mapping.json: out of memory");
	/* the chunk holding off: the last k with at[k] <= off */
	size_t lo = 0, hi = n + 1;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (at[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	for (size_t k = lo; rc == 0 && k <= n && at[k] < end; k++) {
		b.len = 0;
		rc = ckpt__plan_json_chunk(v->plan, v->mapping_order, k, 1, &b, err);
		uint64_t a = at[k] > off ? at[k] : off;
		uint64_t z = at[k + 1] < end ? at[k + 1] : end;
		if (rc == 0 && a < z)
			memcpy(out + (a - off), b.p + (a - at[k]), (size_t)(z - a));
	}
	free(b.p);
	if (rc == 0 && end > at[n + 1])
		out[at[n + 1] - off] = '\n';
	return rc;
}

const ckpt_node *ckpt_view_node(const ckpt_view *v, uint32_t id)
{
	if (id >= v->count)
		return NULL;
	if (id == v->mapping_id)
		ensure_mapping(v);
	return &v->n[id].pub;
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

/* A pending pread of one piece, extended while runs stay contiguous. */
struct pending {
	size_t piece;
	uint64_t off; /* bytes in the piece */
	uint64_t len;
	uint8_t *dst;
};

static int flush(const ckpt_view *v, const ckpt_plan_file *f, struct pending *pd, ckpt_error *err)
{
	if (pd->len == 0)
		return 0;
	int rc =
	    ckpt_reader_pread(v->r, f->source, pd->piece, pd->off, pd->dst, (size_t)pd->len, err);
	if (rc == 0 && v->runs) {
		struct crc_run *run = &v->runs[v->piece_base[f->source] + pd->piece];
		uint64_t size = ckpt_reader_piece(v->r, f->source, pd->piece)->size;
		if (run->next == pd->off && run->next != size) {
			run->crc = ckpt__crc32c_extend(run->crc, pd->dst, (size_t)pd->len);
			run->next += pd->len;
		} else if (run->next != size) {
			run->next = UINT64_MAX;
		}
	}
	pd->len = 0;
	return rc;
}

/* Read source elements [e0, e1) of file f's box into dst (source dtype). */
static int gather(const ckpt_view *v, const ckpt_plan_file *f, uint64_t e0, uint64_t e1,
		  uint8_t *dst, ckpt_error *err)
{
	const ckpt_tensor *t = ckpt_reader_tensor(v->r, f->source);
	size_t es = ckpt_dtype_size(t->dtype);
	int rank = f->rank;
	struct pending pd = {0};
	int rc = 0;

	if (rank == 0) {
		pd.piece = 0;
		pd.dst = dst;
		pd.len = es;
		return flush(v, f, &pd, err);
	}
	int64_t idx[CKPT_MAX_RANK];
	uint64_t rem = e0;
	for (int d = rank - 1; d >= 0; d--) {
		idx[d] = (int64_t)(rem % (uint64_t)f->length[d]);
		rem /= (uint64_t)f->length[d];
	}
	uint64_t e = e0;
	while (e < e1 && rc == 0) {
		int64_t last = f->length[rank - 1];
		uint64_t run = (uint64_t)(last - idx[rank - 1]);
		if (run > e1 - e)
			run = e1 - e;
		/* source coordinates of the run's first element */
		int64_t c[CKPT_MAX_RANK];
		for (int d = 0; d < rank; d++)
			c[d] = f->start[d] + idx[d];
		int64_t lo = c[rank - 1], hi = lo + (int64_t)run;
		uint64_t covered = 0;
		for (size_t p = 0; p < t->num_pieces && rc == 0; p++) {
			const ckpt_piece *pc = ckpt_reader_piece(v->r, f->source, p);
			int in = 1;
			for (int d = 0; d < rank - 1 && in; d++)
				in = c[d] >= pc->start[d] && c[d] < pc->start[d] + pc->length[d];
			int64_t plo = pc->start[rank - 1], phi = plo + pc->length[rank - 1];
			int64_t a = lo > plo ? lo : plo, b = hi < phi ? hi : phi;
			if (!in || a >= b)
				continue;
			uint64_t poff = 0;
			for (int d = 0; d < rank; d++) {
				int64_t x = d == rank - 1 ? a : c[d];
				poff =
				    poff * (uint64_t)pc->length[d] + (uint64_t)(x - pc->start[d]);
			}
			uint8_t *to = dst + (e - e0 + (uint64_t)(a - lo)) * es;
			uint64_t boff = poff * es, blen = (uint64_t)(b - a) * es;
			if (pd.len && pd.piece == p && pd.off + pd.len == boff &&
			    pd.dst + pd.len == to) {
				pd.len += blen;
			} else {
				rc = flush(v, f, &pd, err);
				pd = (struct pending){p, boff, blen, to};
			}
			covered += (uint64_t)(b - a);
		}
		if (rc == 0 && covered != run)
			rc = ckpt__error(
			    err, CKPT_ECORRUPT,
			    "%s: Does not have sufficient slices for partitioned tensor %s",
			    f->file, f->source_name);
		e += run;
		idx[rank - 1] += (int64_t)run;
		for (int d = rank - 1; d > 0 && idx[d] >= f->length[d]; d--) {
			idx[d] = 0;
			idx[d - 1]++;
		}
	}
	if (rc == 0)
		rc = flush(v, f, &pd, err);
	return rc;
}

/* Raw: a scalar is its bytes, else each element is its uint64 LE length
 * then its bytes; npy: each element padded with NULs to the width. */
static int read_strings(const ckpt_view *v, const ckpt_plan_file *f, const struct npy_file *nd,
			uint64_t off, void *buf, size_t len, ckpt_error *err)
{
	const ckpt__strings_index *x;
	int rc = ckpt__strings_get(v->strings, v->r, f->source, &x, err);
	if (rc)
		return rc;
	unsigned hdr = nd->hdr || f->rank == 0 ? 0 : 8;
	rc = ckpt__strings_read(v->r, x, hdr, nd->hdr ? nd->width : 0, off, buf, len, err);
	ckpt__strings_put(v->strings, x);
	return rc;
}

int ckpt_view_read(const ckpt_view *v, uint32_t id, uint64_t off, void *buf, size_t len,
		   size_t *got, ckpt_error *err)
{
	const ckpt_node *nd = ckpt_view_node(v, id);
	if (v->tf && nd && (id == v->tf->index_id || id == v->tf->data_id))
		return tf_read(v, id, off, buf, len, got, err);
	*got = 0;
	if (nd == NULL || nd->is_dir)
		return ckpt__error(err, CKPT_EINVAL, "node %u is not a file", id);
	if (off >= nd->size || len == 0)
		return 0;
	if (len > nd->size - off)
		len = (size_t)(nd->size - off);
	const struct npy_file *vn = npy_of(v, id);
	const ckpt_plan_file *f = nd->file;
	int rc;
	if (f == NULL) {
		rc = read_mapping(v, off, buf, len, err);
		if (rc == 0)
			*got = len;
		return rc;
	}
	size_t done = 0;
	if (off < vn->hdr_len) {
		done = vn->hdr_len - (size_t)off < len ? vn->hdr_len - (size_t)off : len;
		memcpy(buf, vn->hdr + off, done);
		if (done == len) {
			*got = len;
			return 0;
		}
		buf = (char *)buf + done;
		len -= done;
		off = vn->hdr_len;
	}
	off -= vn->hdr_len;
	if (f->dtype == CKPT_DT_VARIANT) {
		rc = ckpt_reader_pread(v->r, f->source, 0, off, buf, len, err);
		if (rc == 0)
			*got = done + len;
		return rc;
	}
	if (f->dtype == CKPT_DT_STRING) {
		rc = read_strings(v, f, vn, off, buf, len, err);
		if (rc == 0)
			*got = done + len;
		return rc;
	}
	size_t es = ckpt_dtype_size(f->source_dtype), et = ckpt_dtype_size(f->dtype);
	uint64_t e0 = off / et, e1 = (off + len + et - 1) / et;
	size_t n = (size_t)(e1 - e0);
	if (f->source_dtype == f->dtype && off % et == 0 && len % et == 0) {
		rc = gather(v, f, e0, e1, buf, err);
	} else {
		/* convert straight into buf when the range is whole elements */
		int direct = off % et == 0 && len % et == 0 && f->source_dtype != f->dtype;
		uint8_t *src = malloc(n * es), *dst = NULL;
		if (src == NULL)
			return ckpt__error(err, CKPT_ENOMEM, "out of memory");
		rc = gather(v, f, e0, e1, src, err);
		if (rc == 0 && f->source_dtype != f->dtype) {
			dst = direct ? buf : malloc(n * et);
			if (dst == NULL)
				rc = ckpt__error(err, CKPT_ENOMEM, "out of memory");
			else if (ckpt_convert(f->source_dtype, f->dtype, src, dst, n))
				rc = ckpt__error(
				    err, CKPT_EUNSUPPORTED, "%s: cannot convert %s to %s", f->file,
				    ckpt_dtype_name(f->source_dtype), ckpt_dtype_name(f->dtype));
		}
		if (rc == 0 && !direct)
			memcpy(buf, (dst ? dst : src) + (off - e0 * et), len);
		if (direct)
			dst = NULL;
		free(src);
		free(dst);
	}
	if (rc == 0)
		*got = done + len;
	return rc;
}

int ckpt_view_map(const ckpt_view *v, uint32_t id, uint64_t off, size_t len, int *fd,
		  uint64_t *fd_off, ckpt_object **pin)
{
	const ckpt_node *nd = ckpt_view_node(v, id);
	if (v->tf || nd == NULL || nd->file == NULL || nd->is_dir)
		return 0;
	const struct npy_file *vn = npy_of(v, id);
	const ckpt_plan_file *f = nd->file;
	if (f->dtype != f->source_dtype || ckpt_dtype_size(f->dtype) == 0 || off < vn->hdr_len ||
	    off + len > nd->size)
		return 0;
	const ckpt_tensor *t = ckpt_reader_tensor(v->r, f->source);
	for (size_t p = 0; p < t->num_pieces; p++) {
		const ckpt_piece *pc = ckpt_reader_piece(v->r, f->source, p);
		if (memcmp(pc->start, f->start, (size_t)f->rank * sizeof(int64_t)) ||
		    memcmp(pc->length, f->length, (size_t)f->rank * sizeof(int64_t)))
			continue;
		uint64_t base;
		if (!ckpt_reader_piece_object(v->r, f->source, p, pin, &base) ||
		    !ckpt_object_splice_fd(*pin, fd))
			return 0;
		*fd_off = base + (off - vn->hdr_len);
		return 1;
	}
	return 0;
}

/*
 * The state of the stored pieces node id draws from (a --format tf data
 * file: those of every tensor it holds): PIECE_BAD when one failed its
 * checksum, else PIECE_UNCHECKED when one is not checked yet, else
 * PIECE_GOOD. With check, unchecked pieces are checked first, stopping at
 * the first failure (*rc and err say what failed). A failed checksum is
 * remembered for the rest of the view's life; any other failure (a data
 * file cut short or unreadable right now, no memory) is not: the piece
 * stays unchecked and is checked again next time.
 */
static int pieces_state(const ckpt_view *v, uint32_t id, int check, int *rc, ckpt_error *err)
{
	const ckpt_node *nd = ckpt_view_node(v, id);
	int worst = PIECE_GOOD;
	if (v->tf && id == v->tf->data_id) {
		for (size_t i = 0; i < v->tf->n_seg && worst != PIECE_BAD && !(rc && *rc); i++) {
			int s = pieces_state(v->tf->raw, v->tf->seg[i].raw_id, check, rc, err);
			worst = s == PIECE_GOOD ? worst : s;
		}
		return worst;
	}
	if (nd == NULL || nd->file == NULL)
		return PIECE_GOOD;
	const ckpt_plan_file *f = nd->file;
	const ckpt_tensor *t = ckpt_reader_tensor(v->r, f->source);
	for (size_t p = 0; p < t->num_pieces; p++) {
		const ckpt_piece *pc = ckpt_reader_piece(v->r, f->source, p);
		int64_t is[CKPT_MAX_RANK], il[CKPT_MAX_RANK];
		if (!ckpt__box_intersect(f->rank, pc->start, pc->length, f->start, f->length, is,
					 il))
			continue;
		_Atomic unsigned char *st = &v->verified[v->piece_base[f->source] + p];
		unsigned char state = atomic_load(st);
		if (state == PIECE_UNCHECKED && check) {
			int r = ckpt_reader_verify_piece(v->r, f->source, p, err);
			if (r == 0 || r == CKPT_ECHECKSUM)
				atomic_store(st, state = r ? PIECE_BAD : PIECE_GOOD);
			if (r) {
				*rc = r;
				return r == CKPT_ECHECKSUM ? PIECE_BAD : PIECE_UNCHECKED;
			}
		}
		if (state == PIECE_BAD) {
			if (check)
				*rc = ckpt__error(err, CKPT_ECHECKSUM,
						  "%s: tensor %s failed its checksum", f->file,
						  f->source_name);
			return PIECE_BAD;
		}
		if (state == PIECE_UNCHECKED)
			worst = PIECE_UNCHECKED;
	}
	return worst;
}

int ckpt_view_verify(const ckpt_view *v, uint32_t id, ckpt_error *err)
{
	int rc = 0;
	(void)pieces_state(v, id, 1, &rc, err);
	return rc;
}

int ckpt_view_verified(const ckpt_view *v, uint32_t id)
{
	int s = pieces_state(v, id, 0, NULL, NULL);
	return s == PIECE_GOOD ? 1 : s == PIECE_BAD ? -1 : 0;
}
