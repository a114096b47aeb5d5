/*
 * @mapping.json, at the root of every view: exactly what `ckptfs --dry-run
 * --json` prints, never held whole (view_int.h).
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

/* Where a chunk's start is kept: every MAPPING_MARK chunks (a read formats
 * at most MAPPING_MARK - 1 chunks before its first byte; a 128 KiB read
 * covers hundreds anyway). */
#define MAPPING_MARK 64

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
		/* no table of the order when the plan's is the path order */
		int in_order = ckpt__plan_in_path_order(v->plan);
		v->mapping_order = in_order ? NULL : ckpt__plan_by_path(v->plan);
		v->mapping_at = malloc((n / MAPPING_MARK + 1) * sizeof(uint64_t));
		if ((in_order || v->mapping_order) && v->mapping_at) {
			ckpt_sbuf b = CKPT_SBUF_INIT;
			int rc = 0;
			uint64_t at = 0;
			for (size_t k = 0; rc == 0 && k <= n; k++) {
				if (k % MAPPING_MARK == 0)
					v->mapping_at[k / MAPPING_MARK] = at;
				b.len = 0;
				rc = ckpt__plan_json_chunk(v->plan, v->mapping_order, k, 1, &b,
							   NULL);
				at += b.len;
			}
			free(b.p);
			if (rc == 0) {
				v->mapping_len = at;
				v->n[v->mapping_id].pub.size = at + 1;
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
	const uint64_t *marks = v->mapping_at;
	uint64_t end = off + len;
	ckpt_sbuf b = CKPT_SBUF_INIT;
	int rc = 0;

	if (atomic_load(&v->mapping_state) != 1)
		return ckpt__error(err, CKPT_ENOMEM, "@mapping.json: out of memory");
	/* the last mark at or before off */
	size_t lo = 0, hi = n / MAPPING_MARK + 1;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (marks[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	uint64_t at = marks[lo]; /* where chunk k starts */
	for (size_t k = lo * MAPPING_MARK; rc == 0 && k <= n && at < end; k++) {
		b.len = 0;
		rc = ckpt__plan_json_chunk(v->plan, v->mapping_order, k, 1, &b, err);
		uint64_t a = at > off ? at : off;
		uint64_t z = at + b.len < end ? at + b.len : end;
		if (rc == 0 && a < z)
			memcpy(out + (a - off), b.p + (a - at), (size_t)(z - a));
		at += b.len;
	}
	free(b.p);
	if (rc == 0 && end > v->mapping_len)
		out[v->mapping_len - off] = '\n';
	return rc;
}
