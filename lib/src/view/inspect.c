/*
 * A tensor's statistics (--list --stats) and its values as NumPy prints
 * them (--show), read through the reader's pread in bounded chunks: the
 * statistics stream every stored piece once, folding each chunk into the
 * piece's CRC32C as it goes; --show reads only the elements NumPy shows,
 * piece by piece, as runs along the last axis.
 */
#include "ckpt/inspect.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/convert.h"
#include "map/resolve_int.h"
#include "util/crc32c_int.h"
#include "util/error_int.h"
#include "format/strings_int.h"
#include "view/values_int.h"

/* Bytes read per pread by the statistics (a multiple of every element
 * size). */
#define STATS_STEP ((size_t)1 << 20)

/* TensorFlow's text when the stored pieces do not make up the tensor. */
static int check_cover(const ckpt_reader *r, size_t i, ckpt_error *err)
{
	const ckpt_tensor *t = ckpt_reader_tensor(r, i);
	uint64_t n = 0;
	for (size_t p = 0; p < t->num_pieces; p++)
		n += ckpt_reader_piece(r, i, p)->num_elements; /* disjoint, inside: no overflow */
	if (n != t->num_elements)
		return ckpt__error(err, CKPT_ECORRUPT,
				   "%s: Does not have sufficient slices for partitioned tensor %s",
				   ckpt_reader_path(r), t->name);
	return 0;
}

/* ---- statistics ---- */

int ckpt_inspect_has_stats(ckpt_dtype dt)
{
	enum ckpt__vkind k = ckpt__value_kind(dt);
	return k != CKPT__V_NONE && k != CKPT__V_STRING;
}

uint64_t ckpt_inspect_stats_bytes(const ckpt_reader *r, size_t i)
{
	const ckpt_tensor *t = ckpt_reader_tensor(r, i);
	if (t == NULL || !ckpt_inspect_has_stats(t->dtype))
		return 0;
	uint64_t n = 0;
	for (size_t p = 0; p < t->num_pieces; p++)
		n += ckpt_reader_piece(r, i, p)->size;
	return n;
}

struct acc {
	ckpt_dtype dt;
	enum ckpt__vkind kind;
	size_t es;
	ckpt_stats *s;
	double sum, comp; /* Neumaier: the sum and its running compensation */
	int overflow;	  /* the finite values' sum passed the float64 range */
	uint64_t summed;  /* finite values in the sum */
	int pinf, ninf;
	double fmin, fmax;   /* current extremes: floats */
	uint64_t kmin, kmax; /* integers: their keys (signed ones offset by 2^63) */
};

static double dabs(double x)
{
	return x < 0 ? -x : x;
}

static void add(struct acc *a, double x)
{
	double t = a->sum + x;
	if (a->overflow || !isfinite(t)) {
		a->overflow = 1;
		a->sum = t;
		return;
	}
	if (dabs(a->sum) >= dabs(x))
		a->comp += (a->sum - t) + x;
	else
		a->comp += (x - t) + a->sum;
	a->sum = t;
	a->summed++;
}

/* Element e (stored bytes at raw) is the new minimum and/or maximum. */
static void extremes(struct acc *a, const uint8_t *raw, int lt_min, int gt_max)
{
	ckpt_stats *s = a->s;
	if (!s->has_minmax || lt_min)
		memcpy(s->min, raw, a->es);
	if (!s->has_minmax || gt_max)
		memcpy(s->max, raw, a->es);
}

static void fold_float(struct acc *a, const uint8_t *raw, double x)
{
	ckpt_stats *s = a->s;
	if (isnan(x)) {
		s->nan++;
		return;
	}
	if (isinf(x)) {
		s->inf++;
		a->pinf |= x > 0;
		a->ninf |= x < 0;
	} else {
		add(a, x);
	}
	int lt = s->has_minmax && x < a->fmin, gt = s->has_minmax && x > a->fmax;
	extremes(a, raw, lt, gt);
	if (!s->has_minmax || lt)
		a->fmin = x;
	if (!s->has_minmax || gt)
		a->fmax = x;
	s->has_minmax = 1;
}

/* n elements at raw (as stored); f: the same as float32 (float16,
 * bfloat16), or NULL. */
static void fold(struct acc *a, const uint8_t *raw, const float *f, size_t n)
{
	ckpt_stats *s = a->s;
	s->count += n;
	for (size_t k = 0; k < n; k++, raw += a->es) {
		switch (a->kind) {
		case CKPT__V_FLOAT:
			fold_float(a, raw, f ? (double)f[k] : ckpt__value_float(a->dt, raw));
			break;
		case CKPT__V_COMPLEX: {
			ckpt_dtype part = ckpt__value_part(a->dt);
			double re = ckpt__value_float(part, raw);
			double im = ckpt__value_float(part, raw + a->es / 2);
			s->nan += isnan(re) || isnan(im);
			s->inf += isinf(re) || isinf(im);
			break;
		}
		default: { /* integers and bool, compared as order-keeping unsigned keys */
			int sign = a->kind == CKPT__V_INT;
			int64_t iv = sign ? ckpt__value_int(a->dt, raw) : 0;
			uint64_t v = sign ? (uint64_t)iv ^ ((uint64_t)1 << 63)
					  : ckpt__value_uint(a->dt, raw);
			if (a->kind == CKPT__V_BOOL)
				v = v != 0;
			int lt = s->has_minmax && v < a->kmin, gt = s->has_minmax && v > a->kmax;
			extremes(a, raw, lt, gt);
			a->kmin = !s->has_minmax || lt ? v : a->kmin;
			a->kmax = !s->has_minmax || gt ? v : a->kmax;
			s->has_minmax = 1;
			add(a, sign ? (double)iv : (double)v);
		}
		}
	}
}

static void finish(struct acc *a)
{
	ckpt_stats *s = a->s;
	if (a->kind == CKPT__V_COMPLEX || s->count == s->nan)
		return;
	s->has_mean = 1;
	if (a->pinf && a->ninf)
		s->mean = NAN;
	else if (a->pinf || a->ninf)
		s->mean = a->pinf ? INFINITY : -INFINITY;
	else if (a->overflow)
		s->mean = a->sum;
	else
		s->mean = (a->sum + a->comp) / (double)a->summed;
}

/* One stored piece, chunk by chunk; its CRC checked when o->verify. */
static int stats_piece(const ckpt_reader *r, size_t i, size_t p, const ckpt_inspect_opts *o,
		       struct acc *a, uint8_t *buf, float *f, uint64_t *done, uint64_t total,
		       ckpt_error *err)
{
	uint64_t size = ckpt_reader_piece(r, i, p)->size;
	uint32_t crc = 0;
	int rc = 0;
	for (uint64_t off = 0; rc == 0 && off < size; off += STATS_STEP) {
		size_t n = size - off < STATS_STEP ? (size_t)(size - off) : STATS_STEP;
		if ((rc = ckpt_reader_pread(r, i, p, off, buf, n, err)) != 0)
			break;
		if (o->verify)
			crc = ckpt__crc32c_extend(crc, buf, n);
		if (f)
			ckpt_convert(a->dt, CKPT_DT_FLOAT, buf, f, n / a->es);
		fold(a, buf, f, n / a->es);
		*done += n;
		if (o->progress)
			o->progress(o->progress_ctx, *done, total);
	}
	if (rc == 0 && o->verify) {
		rc = ckpt_reader_check_crc(r, i, p, crc, err);
		if (rc == CKPT_EUNSUPPORTED) /* not over the bytes read: check it apart */
			rc = ckpt_reader_verify_piece(r, i, p, err);
	}
	return rc;
}

int ckpt_inspect_stats(const ckpt_reader *r, size_t i, const ckpt_inspect_opts *o, ckpt_stats *out,
		       ckpt_error *err)
{
	static const ckpt_inspect_opts none = {0, NULL, NULL};
	const ckpt_tensor *t = ckpt_reader_tensor(r, i);
	if (o == NULL)
		o = &none;
	if (t == NULL)
		return ckpt__error(err, CKPT_EINVAL, "%s: no tensor %zu", ckpt_reader_path(r), i);
	memset(out, 0, sizeof(*out));
	if (!ckpt_inspect_has_stats(t->dtype))
		return ckpt__error(err, CKPT_EUNSUPPORTED,
				   "%s: tensor %s has dtype %s: no statistics", ckpt_reader_path(r),
				   t->name, ckpt_dtype_name(t->dtype));
	struct acc a = {.dt = t->dtype, .kind = ckpt__value_kind(t->dtype), .s = out};
	a.es = ckpt_dtype_size(t->dtype);
	int rc = check_cover(r, i, err);
	if (rc == 0)
		rc = ckpt_reader_check_data(r, &i, 1, err);
	if (rc)
		return rc;
	uint64_t total = ckpt_inspect_stats_bytes(r, i), done = 0;
	size_t step = total < STATS_STEP ? (size_t)total : STATS_STEP;
	int as_float = t->dtype == CKPT_DT_HALF || t->dtype == CKPT_DT_BFLOAT16;
	uint8_t *buf = malloc(step ? step : 1);
	float *f = as_float ? malloc((step / 2 ? step / 2 : 1) * sizeof(float)) : NULL;
	if (buf == NULL || (as_float && f == NULL))
		rc = ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", ckpt_reader_path(r));
	for (size_t p = 0; rc == 0 && p < t->num_pieces; p++)
		rc = stats_piece(r, i, p, o, &a, buf, f, &done, total, err);
	free(buf);
	free(f);
	if (rc == 0)
		finish(&a);
	return rc;
}

/* ---- --show ---- */

static const char *name_at(const void *ctx, size_t i)
{
	return ckpt_reader_tensor(ctx, i)->name;
}

int ckpt_inspect_find(const ckpt_reader *r, const char *name, size_t *i, ckpt_error *err)
{
	if (ckpt_reader_find(r, name, i) == 0)
		return 0;
	ckpt__error(err, CKPT_ENOTFOUND, "Tensor %s not found in checkpoint", name);
	ckpt__suggestion s[CKPT__SUGGEST_MAX];
	size_t n = ckpt__suggest(name, name_at, r, ckpt_reader_count(r), s), len = strlen(name);
	/* the closest, and those nearly as close (not every name in a small
	 * checkpoint) */
	for (size_t k = 1, d0 = SIZE_MAX; k < n; k++) {
		if (d0 == SIZE_MAX)
			d0 = ckpt_edit_distance(name, len, name_at(r, s[0].index), s[0].len,
						SIZE_MAX);
		if (ckpt_edit_distance(name, len, name_at(r, s[k].index), s[k].len, d0 + 3) >
		    d0 + 2)
			n = k;
	}
	ckpt_sbuf b = CKPT_SBUF_INIT;
	for (size_t k = 0; k < n; k++) {
		ckpt__sb_puts(&b, k == 0 ? "" : k + 1 < n ? ", " : " or ");
		ckpt__sb_printf(&b, "'%.*s'", (int)s[k].len, name_at(r, s[k].index));
	}
	if (n > 0 && !b.oom)
		ckpt__error_hint(err, "did you mean %s?", ckpt__sb_str(&b));
	free(b.p);
	return CKPT_ENOTFOUND;
}

/* Shown indices [lo, hi) of one axis, the first at position grid of the
 * shown axis. */
struct seg {
	int64_t lo, hi, grid;
};

/* The shown runs of an axis of n elements (shown: how many are). */
static int axis_segs(int64_t n, int64_t shown, struct seg s[2])
{
	if (shown == n) {
		s[0] = (struct seg){0, n, 0};
		return 1;
	}
	s[0] = (struct seg){0, CKPT_FORMAT_EDGEITEMS, 0};
	s[1] = (struct seg){n - CKPT_FORMAT_EDGEITEMS, n, CKPT_FORMAT_EDGEITEMS};
	return 2;
}

/* The runs of in[0..n) inside [a, b). */
static int clip(const struct seg *in, int n, int64_t a, int64_t b, struct seg out[2])
{
	int m = 0;
	for (int k = 0; k < n; k++) {
		int64_t lo = in[k].lo > a ? in[k].lo : a, hi = in[k].hi < b ? in[k].hi : b;
		if (lo < hi)
			out[m++] = (struct seg){lo, hi, in[k].grid + (lo - in[k].lo)};
	}
	return m;
}

/* What --show reads: the shape, the shown shape and their runs. */
struct shown {
	const ckpt_tensor *t;
	int64_t shown[CKPT_MAX_RANK];
	struct seg segs[CKPT_MAX_RANK][2];
	int nseg[CKPT_MAX_RANK];
	uint64_t count;
};

/* The shown elements stored in piece p into vals (row-major in the shown
 * shape); *got counts them. */
static int show_piece(const ckpt_reader *r, size_t i, size_t p, const struct shown *sh,
		      uint8_t *vals, uint64_t *got, ckpt_error *err)
{
	const ckpt_tensor *t = sh->t;
	const ckpt_piece *pc = ckpt_reader_piece(r, i, p);
	size_t es = ckpt_dtype_size(t->dtype);
	int rank = t->rank, last = rank - 1;
	struct seg segs[CKPT_MAX_RANK][2];
	int nseg[CKPT_MAX_RANK], at_seg[CKPT_MAX_RANK];
	int64_t at[CKPT_MAX_RANK];

	if (rank == 0) {
		(*got)++;
		return ckpt_reader_pread(r, i, p, 0, vals, es, err);
	}
	for (int d = 0; d < rank; d++) {
		nseg[d] = clip(sh->segs[d], sh->nseg[d], pc->start[d], pc->start[d] + pc->length[d],
			       segs[d]);
		if (nseg[d] == 0)
			return 0;
		at_seg[d] = 0;
		at[d] = segs[d][0].lo;
	}
	for (;;) {
		/* the row at (at[0..last), *): its offsets in the piece and the
		 * shown array */
		uint64_t poff = 0, goff = 0;
		for (int d = 0; d < last; d++) {
			const struct seg *s = &segs[d][at_seg[d]];
			poff = poff * (uint64_t)pc->length[d] + (uint64_t)(at[d] - pc->start[d]);
			goff = goff * (uint64_t)sh->shown[d] + (uint64_t)(s->grid + at[d] - s->lo);
		}
		for (int k = 0; k < nseg[last]; k++) {
			const struct seg *s = &segs[last][k];
			uint64_t po =
			    poff * (uint64_t)pc->length[last] + (uint64_t)(s->lo - pc->start[last]);
			uint64_t go = goff * (uint64_t)sh->shown[last] + (uint64_t)s->grid;
			uint64_t n = (uint64_t)(s->hi - s->lo);
			int rc = ckpt_reader_pread(r, i, p, po * es, vals + go * es,
						   (size_t)(n * es), err);
			if (rc)
				return rc;
			*got += n;
		}
		/* the next row: an odometer over the leading axes */
		int d = last - 1;
		for (; d >= 0; d--) {
			if (++at[d] < segs[d][at_seg[d]].hi)
				break;
			if (++at_seg[d] < nseg[d]) {
				at[d] = segs[d][at_seg[d]].lo;
				break;
			}
			at_seg[d] = 0;
			at[d] = segs[d][0].lo;
		}
		if (d < 0)
			return 0;
	}
}

/* The shown elements of a numeric tensor; the pieces they came from
 * checked when verify. */
static int show_numbers(const ckpt_reader *r, size_t i, const struct shown *sh, int verify,
			uint8_t *vals, ckpt_error *err)
{
	const ckpt_tensor *t = sh->t;
	uint64_t got = 0;
	for (size_t p = 0; p < t->num_pieces; p++) {
		uint64_t before = got;
		int rc = show_piece(r, i, p, sh, vals, &got, err);
		if (rc == 0 && verify && got != before)
			rc = ckpt_reader_verify_piece(r, i, p, err);
		if (rc)
			return rc;
	}
	/* pieces are disjoint: as many as shown means every one */
	if (got != sh->count)
		return ckpt__error(err, CKPT_ECORRUPT,
				   "%s: Does not have sufficient slices for partitioned tensor %s",
				   ckpt_reader_path(r), t->name);
	return 0;
}

/* --show of strings: the shown elements' lengths and offsets, gathered
 * while the lengths are parsed (k comes in order, as do the shown). */
struct want_strs {
	const uint64_t *want; /* linear indices of the shown elements, increasing */
	uint64_t n, next;
	uint64_t *len, *body;
};

static int want_len(void *ctx, uint64_t k, uint64_t len, uint64_t varint, uint64_t body)
{
	struct want_strs *w = ctx;
	(void)varint;
	if (w->next < w->n && w->want[w->next] == k) {
		w->len[w->next] = len;
		w->body[w->next++] = body;
	}
	return 0;
}

static int show_strings(const ckpt_reader *r, size_t i, const struct shown *sh, int verify,
			ckpt_format_bytes *strs, char **block, ckpt_error *err)
{
	const ckpt_tensor *t = sh->t;
	uint64_t n = sh->count;
	uint64_t *w = malloc((size_t)n * 3 * sizeof(uint64_t));
	if (w == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", ckpt_reader_path(r));
	/* linear indices of the shown elements, in row-major order */
	int64_t idx[CKPT_MAX_RANK] = {0};
	for (uint64_t k = 0; k < n; k++) {
		uint64_t lin = 0;
		for (int d = 0; d < t->rank; d++) {
			const struct seg *s =
			    &sh->segs[d][sh->nseg[d] == 2 && idx[d] >= sh->segs[d][1].grid];
			lin = lin * (uint64_t)t->dims[d] + (uint64_t)(s->lo + idx[d] - s->grid);
		}
		w[k] = lin;
		for (int d = t->rank - 1; d >= 0 && ++idx[d] == sh->shown[d]; d--)
			idx[d] = 0;
	}
	struct want_strs ws = {w, n, 0, w + n, w + 2 * n};
	ckpt__strings_head h;
	int rc = ckpt__strings_each(r, i, want_len, &ws, &h, err);
	if (rc == 0 && verify)
		rc = ckpt__strings_verify(r, i, err);
	uint64_t total = 0;
	for (uint64_t k = 0; rc == 0 && k < n; k++)
		total += ws.len[k]; /* each inside the tensor: no overflow */
	if (rc == 0 && (total > SIZE_MAX - 1 || (*block = malloc((size_t)total + 1)) == NULL))
		rc = ckpt__error(err, CKPT_ENOMEM, "%s: out of memory for %llu bytes of %s",
				 ckpt_reader_path(r), (unsigned long long)total, t->name);
	/* one pread per run of elements that lie back to back */
	uint64_t at = 0;
	for (uint64_t k = 0; rc == 0 && k < n;) {
		uint64_t e = k + 1, len = ws.len[k];
		while (e < n && ws.body[e] == ws.body[e - 1] + ws.len[e - 1])
			len += ws.len[e++];
		rc = ckpt_reader_pread(r, i, 0, h.data_start + ws.body[k], *block + at, (size_t)len,
				       err);
		for (; k < e; k++) {
			strs[k].p = *block + at;
			strs[k].len = (size_t)ws.len[k];
			at += ws.len[k];
		}
	}
	free(w);
	return rc;
}

int ckpt_inspect_show(const ckpt_reader *r, size_t i, const ckpt_inspect_opts *o,
		      ckpt_write_fn write, void *ctx, ckpt_error *err)
{
	static const ckpt_inspect_opts none = {0, NULL, NULL};
	struct shown sh;
	const ckpt_tensor *t = ckpt_reader_tensor(r, i);
	if (o == NULL)
		o = &none;
	if (t == NULL)
		return ckpt__error(err, CKPT_EINVAL, "%s: no tensor %zu", ckpt_reader_path(r), i);
	if (!ckpt_format_supported(t->dtype))
		return ckpt__error(err, CKPT_EUNSUPPORTED,
				   "%s: tensor %s has dtype %s, which NumPy cannot show",
				   ckpt_reader_path(r), t->name, ckpt_dtype_name(t->dtype));
	sh.t = t;
	ckpt_format_shown(t->rank, t->dims, sh.shown, &sh.count);
	if (sh.count > CKPT_SHOW_MAX_VALUES)
		return ckpt__error(
		    err, CKPT_EUNSUPPORTED,
		    "tensor %s: NumPy would print %llu values; at most %llu are shown", t->name,
		    (unsigned long long)sh.count, (unsigned long long)CKPT_SHOW_MAX_VALUES);
	if (t->num_elements == 0)
		return ckpt_format_array(t->dtype, t->rank, t->dims, NULL, write, ctx, err);
	for (int d = 0; d < t->rank; d++)
		sh.nseg[d] = axis_segs(t->dims[d], sh.shown[d], sh.segs[d]);
	int rc = check_cover(r, i, err);
	if (rc == 0)
		rc = ckpt_reader_check_data(r, &i, 1, err);
	if (rc)
		return rc;
	int str = t->dtype == CKPT_DT_STRING;
	size_t es = str ? sizeof(ckpt_format_bytes) : ckpt_dtype_size(t->dtype);
	void *vals = malloc((size_t)sh.count * es);
	char *block = NULL;
	if (vals == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", ckpt_reader_path(r));
	rc = str ? show_strings(r, i, &sh, o->verify, vals, &block, err)
		 : show_numbers(r, i, &sh, o->verify, vals, err);
	if (rc == 0)
		rc = ckpt_format_array(t->dtype, t->rank, t->dims, vals, write, ctx, err);
	free(vals);
	free(block);
	return rc;
}
