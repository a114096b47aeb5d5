/*
 * The view: building one from a reader and a plan in a named output
 * format, and serving its nodes. The parts (view_int.h): the tree
 * (tree.c), the extent reader (extent.c), the checksum state (verify.c),
 * @mapping.json (fmt_mapping.c) and one file per output format (fmt_*.c)
 * behind struct ckpt__view_format.
 */
#include "view/view_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/objgraph_int.h"
#include "format/table_int.h"
#include "util/error_int.h"

/* The output formats, by name; the first is the default. */
static const struct ckpt__view_format *const formats[] = {
    &ckpt__view_fmt_raw,
    &ckpt__view_fmt_npy,
    &ckpt__view_fmt_tf,
    &ckpt__view_fmt_safetensors,
};
#define N_FORMATS (sizeof(formats) / sizeof(formats[0]))

const char *ckpt_view_format_name(size_t k)
{
	return k < N_FORMATS ? formats[k]->name : NULL;
}

static int find_format(const char *name, const struct ckpt__view_format **out, ckpt_error *err)
{
	char known[128] = "";
	size_t used = 0;
	for (size_t k = 0; k < N_FORMATS; k++) {
		if (name && strcmp(name, formats[k]->name) == 0) {
			*out = formats[k];
			return 0;
		}
		int n = snprintf(known + used, sizeof(known) - used, "%s%s", k ? ", " : "",
				 formats[k]->name);
		if (n > 0 && (size_t)n < sizeof(known) - used)
			used += (size_t)n;
	}
	return ckpt__error(err, CKPT_EINVAL, "unknown view format '%s' (known: %s)",
			   name ? name : "(null)", known);
}

int ckpt_view_build(ckpt_view **out, const ckpt_reader *r, const ckpt_plan *plan, ckpt_error *err)
{
	return ckpt_view_build_format(out, r, plan, formats[0]->name, err);
}

int ckpt_view_build_format(ckpt_view **out, const ckpt_reader *r, const ckpt_plan *plan,
			   const char *format, ckpt_error *err)
{
	ckpt_view_opts o = CKPT_VIEW_OPTS_INIT;
	o.format = format;
	return ckpt_view_build_opts(out, r, plan, &o, err);
}

/* A view; with objgraph, also @object_graph.json of an object-based
 * checkpoint (not in the raw view under another format's files). */
static int view_build(ckpt_view **out, const ckpt_reader *r, const ckpt_plan *plan,
		      const ckpt_view_opts *o, int objgraph, ckpt_error *err)
{
	const struct ckpt__view_format *fmt = NULL;
	int rc = find_format(o->format, &fmt, err);

	*out = NULL;
	if (rc)
		return rc;
	if (fmt->own_files && fmt->place == NULL)
		return ckpt__error(err, CKPT_EINVAL, "view format '%s' does not place its files",
				   fmt->name);
	ckpt_view *v = calloc(1, sizeof(*v));
	if (v == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	v->fmt = fmt;
	v->opts = *o;
	v->r = r;
	v->mapping_id = CKPT_VIEW_NONE;
	v->objgraph_id = CKPT_VIEW_NONE;
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
		rc = ckpt__view_new_node(v, CKPT_VIEW_NONE, "", 1, &root, err);
	if (rc == 0 && fmt->build)
		rc = fmt->build(v, err); /* tf: two files instead of one per plan file */
	/* @mapping.json is made on first use, so refuse now what it cannot hold */
	if (rc == 0)
		rc = ckpt__view_mapping_check(v, err);
	if (rc == 0 && !fmt->own_files)
		rc = ckpt__view_build_tree(v, err);
	if (rc == 0)
		rc =
		    ckpt__view_new_node(v, CKPT_VIEW_ROOT, "@mapping.json", 0, &v->mapping_id, err);
	/* an object-based checkpoint: its object graph, read and checked now */
	if (rc == 0 && objgraph)
		rc = ckpt__objgraph_load(r, &v->objgraph, err);
	if (rc == 0 && v->objgraph != NULL)
		rc = ckpt__view_new_node(v, CKPT_VIEW_ROOT, "@object_graph.json", 0,
					 &v->objgraph_id, err);
	if (rc == 0 && v->objgraph != NULL)
		v->n[v->objgraph_id].pub.size = ckpt__objgraph_size(v->objgraph);
	if (rc == 0)
		rc = ckpt__view_link_children(v, err);
	/* sizes, and what the format adds to them (npy headers) */
	for (size_t id = 1; rc == 0 && id < v->count; id++) {
		ckpt_node *nd = &v->n[id].pub;
		const ckpt_plan_file *f = nd->file;
		if (f == NULL)
			continue;
		uint64_t width = 0;
		if (f->size_known)
			nd->size = f->size;
		else
			rc = ckpt__view_measure(v, f, &nd->size, &width, err);
		if (rc == 0 && fmt->size)
			rc = fmt->size(v, nd, width, err);
	}
	if (rc == 0)
		rc = ckpt__view_verify_init(v, err);
	if (rc == 0)
		rc = ckpt__view_serve_init(v, err);
	if (rc == 0)
		rc = ckpt__view_ahead_init(v, err);
	if (rc == 0)
		rc = ckpt__view_perm_cache_init(v, err);
	v->opts.metadata = NULL; /* the caller's, read during the build only */
	if (rc) {
		ckpt_view_free(v);
		return rc;
	}
	*out = v;
	return 0;
}

int ckpt_view_build_opts(ckpt_view **out, const ckpt_reader *r, const ckpt_plan *plan,
			 const ckpt_view_opts *o, ckpt_error *err)
{
	return view_build(out, r, plan, o, 1, err);
}

int ckpt__view_build_raw(ckpt_view **out, const ckpt_view *outer, ckpt_error *err)
{
	ckpt_view_opts o = CKPT_VIEW_OPTS_INIT;
	return view_build(out, outer->r, outer->plan, &o, 0, err);
}

void ckpt_view_free(ckpt_view *v)
{
	if (v == NULL)
		return;
	ckpt__view_ahead_free(v); /* first: the helper reads through the view */
	if (v->fmt->free)
		v->fmt->free(v);
	while (v->names) {
		struct name_block *b = v->names;
		v->names = b->next;
		free(b);
	}
	free(v->n);
	free(v->children);
	free(v->file_node);
	free(v->mapping_order);
	ckpt__objgraph_free(v->objgraph);
	free(v->mapping_at);
	pthread_mutex_destroy(&v->mapping_lock);
	ckpt__view_serve_free(v);
	ckpt__view_verify_free(v);
	ckpt__strings_cache_free(v->strings);
	ckpt__view_perm_cache_free(v);
	free(v);
}

size_t ckpt_view_count(const ckpt_view *v)
{
	return v->count;
}

const ckpt_node *ckpt_view_node(const ckpt_view *v, uint32_t id)
{
	if (id >= v->count)
		return NULL;
	if (id == v->mapping_id)
		ckpt__view_mapping_measure(v);
	return &v->n[id].pub;
}

int ckpt_view_read(const ckpt_view *v, uint32_t id, uint64_t off, void *buf, size_t len,
		   size_t *got, ckpt_error *err)
{
	const ckpt_node *nd = ckpt_view_node(v, id);
	*got = 0;
	if (nd == NULL || nd->is_dir)
		return ckpt__error(err, CKPT_EINVAL, "node %u is not a file", id);
	if (off >= nd->size || len == 0)
		return 0;
	if (len > nd->size - off)
		len = (size_t)(nd->size - off);
	if (id == v->mapping_id) {
		int rc = ckpt__view_mapping_read(v, off, buf, len, err);
		if (rc == 0)
			*got = len;
		return rc;
	}
	if (id == v->objgraph_id) {
		int rc = ckpt__objgraph_read(v->objgraph, off, buf, len, err);
		if (rc == 0)
			*got = len;
		return rc;
	}
	return v->fmt->read(v, id, off, buf, len, got, err);
}

int ckpt_view_map(const ckpt_view *v, uint32_t id, uint64_t off, size_t len, int *fd,
		  uint64_t *fd_off, ckpt_object **pin)
{
	const ckpt_node *nd = ckpt_view_node(v, id);
	/* a format with its own files (safetensors) maps them itself */
	if (v->fmt->splice_map == NULL || nd == NULL || nd->is_dir || id == v->mapping_id ||
	    (nd->file == NULL && !v->fmt->own_files))
		return 0;
	return v->fmt->splice_map(v, id, off, len, fd, fd_off, pin);
}

size_t ckpt__view_seg_after(size_t n, uint64_t d, uint64_t (*end_of)(const void *ctx, size_t i),
			    const void *ctx)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (end_of(ctx, mid) <= d)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}
