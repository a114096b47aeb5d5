/*
 * @mapping.json, at the root of every view: what `ckptfs --dry-run --json`
 * prints, with each file's path and size as the view shows them (its own
 * node, or where the format places it: tf, safetensors) and what the
 * format adds to an entry, never held whole (view_int.h).
 */
#include "view/view_int.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "map/resolve_int.h"
#include "util/error_int.h"
#include "util/strbuf_int.h"

int ckpt__view_mapping_check(const ckpt_view *v, ckpt_error *err)
{
	const ckpt_plan *plan = v->plan;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < plan->n_files; i++) {
		const ckpt_plan_file *f = &plan->files[i];
		if (!ckpt__utf8_valid(f->var, strlen(f->var)) ||
		    !ckpt__utf8_valid(f->source_name, strlen(f->source_name)) ||
		    !ckpt__utf8_valid(f->path, strlen(f->path)))
			rc = ckpt__error(err, CKPT_EUNSUPPORTED,
					 "%s: a name is not valid UTF-8, which JSON cannot carry",
					 f->file);
	}
	return rc;
}

/* Where the mount shows a plan file: `path` (in a scratch buffer), all of
 * that file (`size`), or the run [offset, offset + size) of it. */
struct shown {
	const char *path;
	uint64_t size;
	uint64_t offset;
	int has_offset;
};

/* Where the mount shows plan file f, its path built in *path (cleared
 * first): the format places it, or it is its own node. */
static void shown_of(const ckpt_view *v, const ckpt_plan_file *f, ckpt_sbuf *path, struct shown *s)
{
	uint32_t node;
	*s = (struct shown){0};
	if (v->fmt->place) {
		v->fmt->place(v, f, &node, &s->offset, &s->size);
		s->has_offset = 1;
	} else {
		node = v->file_node[f - v->plan->files];
		s->size = v->n[node].pub.size;
	}
	path->len = 0;
	ckpt__view_node_path(v, node, path);
	s->path = ckpt__sb_str(path);
}

struct amend_ctx {
	const ckpt_view *v;
	ckpt_sbuf *path; /* scratch for the shown path */
};

/* A plan file's entry as the mount shows it: its path and size (and
 * offset) replaced, then what the format adds (safetensors: key,
 * data_offsets). */
static int amend(const void *ctx, const ckpt_plan_file *f, void *obj)
{
	const struct amend_ctx *c = ctx;
	json_t *o = obj;
	struct shown s;
	shown_of(c->v, f, c->path, &s);
	if (c->path->oom || json_object_set_new(o, "path", json_string(s.path)) ||
	    (s.has_offset &&
	     json_object_set_new(o, "offset", json_integer((json_int_t)s.offset))) ||
	    json_object_del(o, "size") ||
	    json_object_set_new(o, "size", json_integer((json_int_t)s.size)))
		return CKPT_ENOMEM;
	return c->v->fmt->mapping_amend ? c->v->fmt->mapping_amend(c->v, f, obj) : 0;
}

/* Chunk k of @mapping.json (ckpt__plan_json_chunk) into b, cleared first. */
static int mapping_chunk(const ckpt_view *v, size_t k, ckpt_sbuf *b, ckpt_sbuf *path,
			 ckpt_error *err)
{
	struct amend_ctx c = {v, path};
	b->len = 0;
	return ckpt__plan_json_chunk(v->plan, v->mapping_order, k, 1, amend, &c, b, err);
}

struct by_shown {
	const char *paths; /* every file's shown path, back to back with NULs */
	const size_t *at;  /* file i's path starts at paths + at[i] */
	const uint64_t *off;
};

static int cmp_shown(const void *a, const void *b, void *ctx)
{
	const struct by_shown *x = ctx;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int r = strcmp(x->paths + x->at[i], x->paths + x->at[j]);
	return r ? r : x->off[i] < x->off[j] ? -1 : x->off[i] > x->off[j];
}

/* The plan's files sorted by their shown path (then offset: tf and
 * safetensors show them all in one file), as "sorted by path" promises:
 * npy's "a.b.npy" comes before "a.npy", although "a" comes before "a.b".
 * Ownership: the caller frees the array with free(). */
static const ckpt_plan_file **by_shown_path(const ckpt_view *v)
{
	size_t n = v->plan->n_files;
	ckpt_sbuf paths = CKPT_SBUF_INIT, one = CKPT_SBUF_INIT;
	size_t *at = malloc((n ? n : 1) * sizeof(*at));
	uint64_t *off = malloc((n ? n : 1) * sizeof(*off));
	size_t *idx = malloc((n ? n : 1) * sizeof(*idx));
	const ckpt_plan_file **order = malloc((n ? n : 1) * sizeof(*order));
	int ok = at && off && idx && order;
	for (size_t i = 0; ok && i < n; i++) {
		struct shown s;
		shown_of(v, &v->plan->files[i], &one, &s);
		at[i] = paths.len;
		off[i] = s.offset;
		idx[i] = i;
		ckpt__sb_putn(&paths, s.path, strlen(s.path) + 1);
		ok = !paths.oom && !one.oom;
	}
	if (ok) {
		struct by_shown ctx = {paths.p, at, off};
		qsort_r(idx, n, sizeof(*idx), cmp_shown, &ctx);
		for (size_t k = 0; k < n; k++)
			order[k] = &v->plan->files[idx[k]];
	} else {
		free(order);
		order = NULL;
	}
	free(paths.p);
	free(one.p);
	free(at);
	free(off);
	free(idx);
	return order;
}

/* Measure @mapping.json: what `ckptfs --dry-run --json` prints (the JSON
 * and a newline) with each file's path and size as the mount shows them,
 * once, whichever thread asks first. */
void ckpt__view_mapping_measure(const ckpt_view *cv)
{
	ckpt_view *v = (ckpt_view *)cv; /* logically const: a cache */
	if (atomic_load(&v->mapping_state) != 0)
		return;
	pthread_mutex_lock(&v->mapping_lock);
	if (atomic_load(&v->mapping_state) == 0) {
		size_t n = v->plan->n_files;
		int state = 2;
		v->mapping_order = by_shown_path(v);
		v->mapping_at = malloc((n + 2) * sizeof(uint64_t));
		if (v->mapping_order && v->mapping_at) {
			ckpt_sbuf b = CKPT_SBUF_INIT, path = CKPT_SBUF_INIT;
			int rc = 0;
			v->mapping_at[0] = 0;
			for (size_t k = 0; rc == 0 && k <= n; k++) {
				rc = mapping_chunk(v, k, &b, &path, NULL);
				v->mapping_at[k + 1] = v->mapping_at[k] + b.len;
			}
			free(b.p);
			free(path.p);
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
int ckpt__view_mapping_read(const ckpt_view *v, uint64_t off, uint8_t *out, size_t len,
			    ckpt_error *err)
{
	size_t n = v->plan->n_files;
	const uint64_t *at = v->mapping_at;
	uint64_t end = off + len;
	ckpt_sbuf b = CKPT_SBUF_INIT, path = CKPT_SBUF_INIT;
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
		rc = mapping_chunk(v, k, &b, &path, err);
		uint64_t a = at[k] > off ? at[k] : off;
		uint64_t z = at[k + 1] < end ? at[k + 1] : end;
		if (rc == 0 && a < z)
			memcpy(out + (a - off), b.p + (a - at[k]), (size_t)(z - a));
	}
	free(b.p);
	free(path.p);
	if (rc == 0 && end > at[n + 1])
		out[at[n + 1] - off] = '\n';
	return rc;
}
