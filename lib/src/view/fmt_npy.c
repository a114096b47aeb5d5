/*
 * --format npy: each file is NAME.npy, an NPY 1.0 header then the data
 * (view.h), so that numpy.load gives dtype and shape.
 */
#include "view/view_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/dtype.h"
#include "util/error_int.h"

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

static int npy_build(ckpt_view *v, ckpt_error *err)
{
	size_t n = v->plan->n_files;
	if ((v->npy = calloc(n ? n : 1, sizeof(*v->npy))) == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	return 0;
}

/* The header goes before the data (per file: outside the tree's budget). */
static int npy_size(ckpt_view *v, ckpt_node *nd, uint64_t width, ckpt_error *err)
{
	const ckpt_plan_file *f = nd->file;
	struct npy_file *x = &v->npy[f - v->plan->files];
	x->width = width;
	if (f->dtype == CKPT_DT_STRING)
		nd->size = width * f->num_elements;
	else if (f->dtype == CKPT_DT_VARIANT)
		nd->size = width;
	int rc = npy_header(x, f, err);
	nd->size += x->hdr_len;
	return rc;
}

static const struct npy_file *npy_of(const ckpt_view *v, uint32_t id)
{
	return &v->npy[ckpt_view_node(v, id)->file - v->plan->files];
}

static int npy_read(const ckpt_view *v, uint32_t id, uint64_t off, void *buf, size_t len,
		    size_t *got, ckpt_error *err)
{
	return ckpt__view_read_file(v, id, npy_of(v, id), off, buf, len, got, err);
}

static int npy_map(const ckpt_view *v, uint32_t id, uint64_t off, size_t len, int *fd,
		   uint64_t *fd_off, ckpt_object **pin)
{
	return ckpt__view_map_file(v, id, npy_of(v, id)->hdr_len, off, len, fd, fd_off, pin);
}

static void npy_free(ckpt_view *v)
{
	for (size_t i = 0; v->npy && i < v->plan->n_files; i++)
		free(v->npy[i].hdr);
	free(v->npy);
}

const struct ckpt__view_format ckpt__view_fmt_npy = {
    .name = "npy",
    .suffix = ".npy",
    .pad_strings = 1,
    .build = npy_build,
    .size = npy_size,
    .read = npy_read,
    .splice_map = npy_map,
    .free = npy_free,
};
