/*
 * plan_print.c - the plan as JSON (--dry-run --json, @mapping.json) and as
 * text (--dry-run). Formats are documented in ckpt/resolve.h.
 */
#include "ckpt/resolve.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "error_int.h"
#include "strbuf_int.h"

static int oom(ckpt_error *err)
{
	return ckpt__error(err, CKPT_ENOMEM, "out of memory");
}

static int cmp_file(const void *a, const void *b)
{
	const ckpt_plan_file *x = *(const ckpt_plan_file *const *)a;
	const ckpt_plan_file *y = *(const ckpt_plan_file *const *)b;
	return strcmp(x->file, y->file);
}

/* The files sorted by path (the plan itself is sorted by var, then part:
 * "w/part_10" sorts before "w/part_2" as a path). */
static const ckpt_plan_file **by_path(const ckpt_plan *p)
{
	const ckpt_plan_file **v = malloc((p->n_files ? p->n_files : 1) *
					  sizeof(*v));
	if (v == NULL)
		return NULL;
	for (size_t i = 0; i < p->n_files; i++)
		v[i] = &p->files[i];
	qsort(v, p->n_files, sizeof(*v), cmp_file);
	return v;
}

static json_t *file_json(const ckpt_plan_file *f)
{
	json_t *shape = json_array();
	for (int d = 0; shape != NULL && d < f->rank; d++)
		if (json_array_append_new(shape, json_integer(f->shape[d])))
			break;
	json_t *o = json_pack("{s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:o}",
			      "path", f->file, "name", f->var,
			      "dtype", ckpt_dtype_name(f->dtype),
			      "shape", shape,
			      "source", f->source_name,
			      "source_dtype", ckpt_dtype_name(f->source_dtype),
			      "slice", f->spec,
			      "size", f->size_known
					      ? json_integer((json_int_t)f->size)
					      : json_null());
	return o;
}

int ckpt_plan_to_json(const ckpt_plan *p, unsigned flags, char **out,
		      ckpt_error *err)
{
	*out = NULL;
	const ckpt_plan_file **v = by_path(p);
	json_t *a = json_array();
	int ok = v != NULL && a != NULL;
	for (size_t i = 0; ok && i < p->n_files; i++) {
		json_t *o = file_json(v[i]);
		if (o == NULL) {
			int rc = ckpt__error(err, CKPT_EUNSUPPORTED,
					     "%s: a name is not valid UTF-8, "
					     "which JSON cannot carry",
					     v[i]->file);
			free(v);
			json_decref(a);
			return rc;
		}
		ok = json_array_append_new(a, o) == 0;
	}
	free(v);
	if (ok) {
		size_t jf = JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII;
		jf |= (flags & CKPT_PLAN_JSON_PRETTY) ? JSON_INDENT(2)
						      : JSON_COMPACT;
		*out = json_dumps(a, jf);
		ok = *out != NULL;
	}
	json_decref(a);
	return ok ? 0 : oom(err);
}

int ckpt_plan_to_text(const ckpt_plan *p, char **out, ckpt_error *err)
{
	*out = NULL;
	const ckpt_plan_file **v = by_path(p);
	if (v == NULL)
		return oom(err);
	ckpt_sbuf b = CKPT_SBUF_INIT;
	ckpt__sb_putn(&b, "", 0);
	for (size_t i = 0; i < p->n_files; i++) {
		const ckpt_plan_file *f = v[i];
		ckpt__sb_escaped(&b, f->file, 0);
		ckpt__sb_printf(&b, "\t%s\t", ckpt_dtype_name(f->dtype));
		ckpt__sb_shape_debug(&b, f->rank, f->shape);
		if (f->size_known)
			ckpt__sb_printf(&b, "\t%llu\t<-\t",
					(unsigned long long)f->size);
		else
			ckpt__sb_puts(&b, "\t?\t<-\t");
		ckpt__sb_escaped(&b, f->source_name, 0);
		ckpt__sb_printf(&b, "\t%s", ckpt_dtype_name(f->source_dtype));
		if (f->spec[0] != '\0')
			ckpt__sb_printf(&b, "\t%s", f->spec);
		ckpt__sb_puts(&b, "\n");
	}
	free(v);
	if (b.oom) {
		free(b.p);
		return oom(err);
	}
	*out = b.p;
	return 0;
}

void ckpt_plan_string_free(char *s)
{
	free(s);
}
