/*
 * @mapping.json, at the root of every view: exactly what `ckptfs --dry-run
 * --json` prints (each file's entry amended by a format that shows it
 * elsewhere: safetensors), never held whole (view_int.h).
 */
#include "view/view_int.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "map/resolve_int.h"
#include "util/error_int.h"
#include "util/strbuf_int.h"

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

int ckpt__view_mapping_check(const ckpt_view *v, ckpt_error *err)
{
	const ckpt_plan *plan = v->plan;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < plan->n_files; i++) {
		const ckpt_plan_file *f = &plan->files[i];
		if (!utf8_valid(f->var) || !utf8_valid(f->source_name) || !utf8_valid(f->path))
			rc = ckpt__error(err, CKPT_EUNSUPPORTED,
					 "%s: a name is not valid UTF-8, which JSON cannot carry",
					 f->file);
	}
	return rc;
}

static int amend(const void *ctx, const ckpt_plan_file *f, void *obj)
{
	const ckpt_view *v = ctx;
	return v->fmt->mapping_amend(v, f, obj);
}

/* Chunk k of @mapping.json (ckpt__plan_json_chunk), as the format shows it. */
static int mapping_chunk(const ckpt_view *v, size_t k, ckpt_sbuf *b, ckpt_error *err)
{
	return ckpt__plan_json_chunk(v->plan, v->mapping_order, k, 1,
				     v->fmt->mapping_amend ? amend : NULL, v, b, err);
}

/* Measure @mapping.json: exactly what `ckptfs --dry-run --json` prints
 * (the JSON and a newline), once, whichever thread asks first. */
void ckpt__view_mapping_measure(const ckpt_view *cv)
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
				rc = mapping_chunk(v, k, &b, NULL);
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
int ckpt__view_mapping_read(const ckpt_view *v, uint64_t off, uint8_t *out, size_t len,
			    ckpt_error *err)
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
		rc = mapping_chunk(v, k, &b, err);
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
