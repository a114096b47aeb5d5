/*
 * Values as NumPy 1.24 prints them (ckpt/format_values.h): str() of an
 * array, i.e. numpy/core/arrayprint.py's _formatArray over the format
 * functions FloatingFormat, ComplexFloatingFormat, IntegerFormat and
 * BoolFormat, and str() of a scalar (scalartypes.c).
 *
 * Float digits are Dragon4's "unique" digits: the fewest significant
 * digits that read back (round to nearest even) as the same value of the
 * value's own type; among those of that length the nearest to the value.
 * They are found by asking printf for the correctly rounded p-digit
 * decimal D of the value, p = 1, 2, ..., and testing D, D+1 and D-1 in
 * the last place: the interval of decimals that read back is convex and
 * holds the value, so when any p-digit decimal lies in it, one of those
 * three does. The read-back test is strtod (float64) or strtof (float32),
 * both correctly rounded; float16 compares the decimal, read as a double,
 * with the exact midpoints to its neighbours (a decimal of at most 5
 * digits is never within 2^-53 of a float16 midpoint without being it).
 * Digits cut at a precision are the value rounded there, ties to even
 * (printf's %.*f / %.*e), as Dragon4 rounds when it is cut short.
 */
#include "ckpt/format_values.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/convert.h"
#include "util/codec_int.h"
#include "util/error_int.h"
#include "util/strbuf_int.h"
#include "view/values_int.h"

/* Output is handed to the writer in pieces of about this size. */
#define FLUSH_AT ((size_t)64 << 10)

/* ---- elements as numbers ---- */

enum ckpt__vkind ckpt__value_kind(ckpt_dtype dt)
{
	switch (dt) {
	case CKPT_DT_BOOL: return CKPT__V_BOOL;
	case CKPT_DT_INT8:
	case CKPT_DT_INT16:
	case CKPT_DT_INT32:
	case CKPT_DT_INT64:
	case CKPT_DT_QINT8:
	case CKPT_DT_QINT16:
	case CKPT_DT_QINT32: return CKPT__V_INT;
	case CKPT_DT_UINT8:
	case CKPT_DT_UINT16:
	case CKPT_DT_UINT32:
	case CKPT_DT_UINT64:
	case CKPT_DT_QUINT8:
	case CKPT_DT_QUINT16: return CKPT__V_UINT;
	case CKPT_DT_HALF:
	case CKPT_DT_BFLOAT16:
	case CKPT_DT_FLOAT:
	case CKPT_DT_DOUBLE: return CKPT__V_FLOAT;
	case CKPT_DT_COMPLEX64:
	case CKPT_DT_COMPLEX128: return CKPT__V_COMPLEX;
	case CKPT_DT_STRING: return CKPT__V_STRING;
	default: return CKPT__V_NONE;
	}
}

ckpt_dtype ckpt__value_part(ckpt_dtype dt)
{
	return dt == CKPT_DT_COMPLEX64	  ? CKPT_DT_FLOAT
	       : dt == CKPT_DT_COMPLEX128 ? CKPT_DT_DOUBLE
					  : dt;
}

int ckpt__value_float_bits(ckpt_dtype dt)
{
	dt = ckpt__value_part(dt);
	return dt == CKPT_DT_HALF ? 16 : dt == CKPT_DT_DOUBLE ? 64 : 32;
}

int64_t ckpt__value_int(ckpt_dtype dt, const void *p)
{
	const uint8_t *b = p;
	switch (ckpt_dtype_size(dt)) {
	case 1: return (int8_t)b[0];
	case 2: return (int16_t)(uint16_t)(b[0] | b[1] << 8);
	case 4: return (int32_t)ckpt__load_le32(b);
	default: return (int64_t)ckpt__load_le64(b);
	}
}

uint64_t ckpt__value_uint(ckpt_dtype dt, const void *p)
{
	const uint8_t *b = p;
	switch (ckpt_dtype_size(dt)) {
	case 1: return b[0];
	case 2: return (uint64_t)(b[0] | b[1] << 8);
	case 4: return ckpt__load_le32(b);
	default: return ckpt__load_le64(b);
	}
}

double ckpt__value_float(ckpt_dtype dt, const void *p)
{
	float f;
	if (dt == CKPT_DT_DOUBLE) {
		uint64_t u = ckpt__load_le64(p);
		double d;
		memcpy(&d, &u, 8);
		return d;
	}
	if (dt == CKPT_DT_FLOAT) {
		uint32_t u = ckpt__load_le32(p);
		memcpy(&f, &u, 4);
		return f;
	}
	/* float16 / bfloat16: the library's conversion (exact to float32) */
	uint8_t le[4];
	ckpt_convert(dt, CKPT_DT_FLOAT, p, le, 1);
	uint32_t u = ckpt__load_le32(le);
	memcpy(&f, &u, 4);
	return f;
}

/* The float16 value with these bits, exactly. */
static double half_value(uint16_t h)
{
	uint8_t le[2] = {(uint8_t)h, (uint8_t)(h >> 8)};
	return ckpt__value_float(CKPT_DT_HALF, le);
}

/* x (representable in float32) rounded to float16, to nearest even. */
static uint16_t half_bits(float x)
{
	uint8_t f[4], h[2];
	uint32_t u;
	memcpy(&u, &x, 4);
	ckpt__store_le32(f, u);
	ckpt_convert(CKPT_DT_FLOAT, CKPT_DT_HALF, f, h, 1);
	return (uint16_t)(h[0] | h[1] << 8);
}

/* ---- digits ---- */

/* A decimal d[0].d[1]d[2]... x 10^e with n digits, none of them trailing
 * zeros; zero is "0" with e = 0. */
struct dec {
	char d[40];
	int n;
	int e;
};

static void dec_zero(struct dec *o)
{
	strcpy(o->d, "0");
	o->n = 1;
	o->e = 0;
}

/* Digits all[0..n) standing for 0.all x 10^whole: strip the zeros. */
static void dec_set(struct dec *o, const char *all, int n, int whole)
{
	int lead = 0;
	while (lead < n && all[lead] == '0')
		lead++;
	if (lead == n) {
		dec_zero(o);
		return;
	}
	while (all[n - 1] == '0')
		n--;
	int k = n - lead < (int)sizeof(o->d) - 1 ? n - lead : (int)sizeof(o->d) - 1;
	memcpy(o->d, all + lead, (size_t)k);
	o->d[k] = '\0';
	o->n = k;
	o->e = whole - lead - 1;
}

/* From printf's "%.*e" or "%.*f" of a non-negative number. */
static void dec_parse(struct dec *o, const char *s)
{
	char all[400];
	int n = 0, whole = -1;
	for (; *s && *s != 'e'; s++) {
		if (*s == '.')
			whole = n;
		else if (*s >= '0' && *s <= '9' && n < (int)sizeof(all))
			all[n++] = *s;
	}
	if (whole < 0)
		whole = n;
	dec_set(o, all, n, whole + (*s == 'e' ? atoi(s + 1) : 0));
}

/* Reading a decimal back as a value of the type (bits 16, 32, 64). */
struct readback {
	int bits;
	double x;
	float xf;
	double lo, hi; /* float16: midpoints to the neighbours */
	int even;      /* float16: ties read back as x */
};

static void readback_init(struct readback *r, double ax, int bits)
{
	memset(r, 0, sizeof(*r));
	r->bits = bits;
	r->x = ax;
	r->xf = (float)ax;
	if (bits == 16) {
		uint16_t h = half_bits((float)ax); /* ax > 0: h >= 1 */
		double below = half_value((uint16_t)(h - 1));
		double above = h == 0x7bff ? 65536.0 : half_value((uint16_t)(h + 1));
		r->lo = (ax + below) / 2;
		r->hi = (ax + above) / 2;
		r->even = (h & 1) == 0;
	}
}

static int reads_back(const struct readback *r, const char *s)
{
	if (r->bits == 64)
		return strtod(s, NULL) == r->x;
	if (r->bits == 32)
		return strtof(s, NULL) == r->xf;
	double c = strtod(s, NULL);
	return (c > r->lo || (r->even && c == r->lo)) && (c < r->hi || (r->even && c == r->hi));
}

/*
 * ax > 0 (finite) to p significant digits as Dragon4 ends its digits: of
 * the p-digit decimals either side of ax the one that reads back as ax
 * when just one does, else the nearest (ties to even). Returns whether the
 * result reads back.
 */
static int at_digits(double ax, const struct readback *rb, int p, struct dec *o)
{
	static const int step[3] = {0, 1, -1};
	char buf[64];
	snprintf(buf, sizeof(buf), "%.*e", p - 1, ax);
	unsigned long long d = 0;
	const char *s = buf;
	for (; *s != 'e'; s++)
		if (*s != '.')
			d = d * 10 + (unsigned long long)(*s - '0');
	int e10 = atoi(s + 1) - (p - 1);
	/* of D-1 and D+1 only the one across ax can read back when D does not */
	for (int k = 0; k < 3; k++) {
		unsigned long long c = d + (unsigned long long)(long long)step[k];
		if (c == 0)
			continue;
		snprintf(buf, sizeof(buf), "%llue%d", c, e10);
		if (reads_back(rb, buf)) {
			char digits[24];
			int n = snprintf(digits, sizeof(digits), "%llu", c);
			dec_set(o, digits, n, e10 + n);
			return 1;
		}
	}
	char digits[24];
	int n = snprintf(digits, sizeof(digits), "%llu", d);
	dec_set(o, digits, n, e10 + n);
	return 0;
}

/* The shortest digits of ax > 0 (finite) that read back as it. */
static void shortest(double ax, int bits, struct dec *o)
{
	int maxp = bits == 16 ? 5 : bits == 32 ? 9 : 17;
	struct readback rb;
	readback_init(&rb, ax, bits);
	for (int p = 1; p < maxp; p++)
		if (at_digits(ax, &rb, p, o))
			return;
	at_digits(ax, &rb, maxp, o); /* the nearest maxp digits always read back */
}

/* Positional digits of ax >= 0: unique, cut at frac digits past the
 * point when frac >= 0; with units, at least down to the units digit (the
 * min_digits=0 of FloatingFormat's second pass: float16 25936 is "25936.",
 * not the unique "25940."). */
static void pos_digits(double ax, int bits, int frac, int units, struct dec *o)
{
	if (ax == 0) {
		dec_zero(o);
		return;
	}
	shortest(ax, bits, o);
	if (frac >= 0 && o->n - 1 - o->e > frac) {
		char buf[400];
		snprintf(buf, sizeof(buf), "%.*f", frac, ax);
		dec_parse(o, buf);
	} else if (units && o->n < o->e + 1) {
		struct readback rb;
		readback_init(&rb, ax, bits);
		at_digits(ax, &rb, o->e + 1, o);
	}
}

/* Scientific digits of ax >= 0: unique, at most prec + 1 when prec >= 0;
 * at least min significant digits (Dragon4 goes on past the unique digits,
 * rounding the value there; zeros pad them only where it ends exactly). */
static void sci_digits(double ax, int bits, int prec, int min, struct dec *o)
{
	if (ax == 0) {
		dec_zero(o);
		return;
	}
	shortest(ax, bits, o);
	if (prec >= 0 && o->n > prec + 1) {
		char buf[64];
		snprintf(buf, sizeof(buf), "%.*e", prec, ax);
		dec_parse(o, buf);
	} else if (o->n < min) {
		struct readback rb;
		readback_init(&rb, ax, bits);
		at_digits(ax, &rb, min, o);
	}
}

/* ---- Dragon4's text (numpy/core/src/multiarray/dragon4.c) ---- */

enum trim {
	TRIM_NONE,     /* 'k': keep what min_digits asks */
	TRIM_ZEROS,    /* '.': "1." */
	TRIM_ONE_ZERO, /* '0': "1.0" */
	TRIM_DPT,      /* '-': "1" */
};

static void spaces(ckpt_sbuf *b, long n)
{
	for (; n > 0; n--)
		ckpt__sb_putn(b, " ", 1);
}

/* FormatPositional: sign, the whole digits, the point and fraction as
 * trim says; padded to pad_left whole characters (sign included) and
 * pad_right fraction digits (< 0: no padding). */
static void put_pos(ckpt_sbuf *b, int neg, int plus, const struct dec *d, int min_digits,
		    enum trim trim, int pad_left, int pad_right)
{
	char s[512];
	size_t n = 0;
	int sign = neg || plus, whole = d->e >= 0 ? d->e + 1 : 1, nfrac = 0;
	if (sign)
		s[n++] = neg ? '-' : '+';
	for (int k = 0; k < whole && n < 400; k++)
		s[n++] = d->e >= 0 && k < d->n ? d->d[k] : '0';
	size_t point = n;
	s[n++] = '.';
	if (d->e < 0)
		for (int k = 0; k < -d->e - 1 && n < 480; k++, nfrac++)
			s[n++] = '0';
	for (int k = d->e >= 0 ? d->e + 1 : 0; k < d->n; k++, nfrac++)
		s[n++] = d->d[k];
	for (; nfrac < min_digits && n < 500; nfrac++)
		s[n++] = '0';
	if (nfrac == 0) {
		if (trim == TRIM_ONE_ZERO) {
			s[n++] = '0';
			nfrac = 1;
		} else if (trim == TRIM_DPT) {
			n = point;
		}
	}
	spaces(b, pad_left - whole - sign);
	ckpt__sb_putn(b, s, n);
	if (pad_right >= 0 && pad_right >= nfrac) {
		if (trim == TRIM_DPT && nfrac == 0)
			spaces(b, 1);
		spaces(b, pad_right - nfrac);
	}
}

/* FormatScientific: d.ddd then e+XX with at least exp_digits exponent
 * digits (< 0: 2); padded to pad_left characters before the point. */
static void put_sci(ckpt_sbuf *b, int neg, int plus, const struct dec *d, int min_digits,
		    enum trim trim, int pad_left, int exp_digits)
{
	int sign = neg || plus, nfrac = d->n - 1;
	spaces(b, pad_left - 1 - sign);
	if (sign)
		ckpt__sb_putn(b, neg ? "-" : "+", 1);
	ckpt__sb_putn(b, d->d, 1);
	if (nfrac > 0 || trim != TRIM_DPT)
		ckpt__sb_putn(b, ".", 1);
	ckpt__sb_putn(b, d->d + 1, (size_t)nfrac);
	for (; nfrac < min_digits; nfrac++)
		ckpt__sb_putn(b, "0", 1);
	if (nfrac == 0 && trim == TRIM_ONE_ZERO)
		ckpt__sb_putn(b, "0", 1);
	int e = d->e < 0 ? -d->e : d->e;
	ckpt__sb_printf(b, "e%c%0*d", d->e < 0 ? '-' : '+', exp_digits < 0 ? 2 : exp_digits, e);
}

/* "nan", "-inf", "+inf": Dragon4 never signs a NaN. */
static const char *nonfinite(double x, int plus)
{
	if (isnan(x))
		return "nan";
	return x < 0 ? "-inf" : plus ? "+inf" : "inf";
}

/* The scalar's own str(): positional for 0 and 1e-4 <= |x| < 1e16, else
 * scientific (scalartypes.c, "_either"). */
static void put_either(ckpt_sbuf *b, double x, int bits, enum trim pos_trim, enum trim sci_trim,
		       int plus)
{
	if (!isfinite(x)) {
		ckpt__sb_puts(b, nonfinite(x, plus));
		return;
	}
	int neg = signbit(x) != 0;
	double ax = neg ? -x : x;
	struct dec d;
	if (ax == 0 || (ax >= 1e-4 && ax < 1e16)) {
		pos_digits(ax, bits, -1, 0, &d);
		put_pos(b, neg, plus, &d, 0, pos_trim, -1, -1);
	} else {
		sci_digits(ax, bits, -1, 0, &d);
		put_sci(b, neg, plus, &d, 0, sci_trim, -1, -1);
	}
}

/* str() of a numpy scalar of numeric dtype dt at p. */
static int put_scalar(ckpt_sbuf *b, ckpt_dtype dt, const void *p)
{
	switch (ckpt__value_kind(dt)) {
	case CKPT__V_BOOL: ckpt__sb_puts(b, *(const uint8_t *)p ? "True" : "False"); return 0;
	case CKPT__V_INT: ckpt__sb_printf(b, "%lld", (long long)ckpt__value_int(dt, p)); return 0;
	case CKPT__V_UINT:
		ckpt__sb_printf(b, "%llu", (unsigned long long)ckpt__value_uint(dt, p));
		return 0;
	case CKPT__V_FLOAT:
		put_either(b, ckpt__value_float(dt, p), ckpt__value_float_bits(dt), TRIM_ONE_ZERO,
			   TRIM_DPT, 0);
		return 0;
	case CKPT__V_COMPLEX: {
		ckpt_dtype part = ckpt__value_part(dt);
		int bits = ckpt__value_float_bits(dt);
		double re = ckpt__value_float(part, p);
		double im = ckpt__value_float(part, (const uint8_t *)p + ckpt_dtype_size(part));
		if (re == 0 && !signbit(re)) {
			put_either(b, im, bits, TRIM_DPT, TRIM_DPT, 0);
			ckpt__sb_puts(b, "j");
			return 0;
		}
		ckpt__sb_puts(b, "(");
		put_either(b, re, bits, TRIM_DPT, TRIM_DPT, 0);
		if (isnan(im))
			ckpt__sb_puts(b, "+nan");
		else
			put_either(b, im, bits, TRIM_DPT, TRIM_DPT, 1);
		ckpt__sb_puts(b, "j)");
		return 0;
	}
	default: return CKPT_EUNSUPPORTED;
	}
}

/* repr() of a Python bytes object. */
static void put_bytes(ckpt_sbuf *b, const ckpt_format_bytes *s)
{
	const uint8_t *p = s->p;
	int sq = 0, dq = 0;
	for (size_t k = 0; k < s->len; k++) {
		sq |= p[k] == '\'';
		dq |= p[k] == '"';
	}
	char quote = sq && !dq ? '"' : '\'';
	ckpt__sb_putn(b, "b", 1);
	ckpt__sb_putn(b, &quote, 1);
	for (size_t k = 0; k < s->len; k++) {
		uint8_t c = p[k];
		if (c == quote || c == '\\')
			ckpt__sb_printf(b, "\\%c", c);
		else if (c == '\t')
			ckpt__sb_puts(b, "\\t");
		else if (c == '\n')
			ckpt__sb_puts(b, "\\n");
		else if (c == '\r')
			ckpt__sb_puts(b, "\\r");
		else if (c < 0x20 || c >= 0x7f)
			ckpt__sb_printf(b, "\\x%02x", c);
		else
			ckpt__sb_putn(b, (const char *)&c, 1);
	}
	ckpt__sb_putn(b, &quote, 1);
}

size_t ckpt_format_scalar(ckpt_dtype dt, const void *value, char *buf, size_t size)
{
	ckpt_sbuf b = CKPT_SBUF_INIT;
	size_t n = 0;
	if (put_scalar(&b, dt, value) == 0 && !b.oom && size > 0) {
		n = b.len < size - 1 ? b.len : size - 1;
		memcpy(buf, b.p, n);
		buf[n] = '\0';
	} else if (size > 0) {
		buf[0] = '\0';
	}
	free(b.p);
	return n;
}

size_t ckpt_format_double(double x, char *buf, size_t size)
{
	uint8_t le[8];
	uint64_t u;
	memcpy(&u, &x, 8);
	ckpt__store_le64(le, u);
	return ckpt_format_scalar(CKPT_DT_DOUBLE, le, buf, size);
}

/* ---- FloatingFormat (arrayprint.py) ---- */

struct ffmt {
	int bits;
	int plus;      /* sign='+' (imaginary parts) */
	int exp;       /* scientific notation */
	int prec;      /* scientific: digits past the point */
	int pad_left;  /* characters before the point */
	int pad_right; /* positional: fraction digits; scientific: see fill */
	int exp_size;  /* scientific: exponent digits */
};

/* max / min > 1000 computed as NumPy does, in the array's own type. */
static int ratio_over_1000(double mx, double mn, int bits)
{
	if (bits == 64)
		return mx / mn > 1000.0;
	volatile float q = (float)mx / (float)mn;
	if (bits == 16)
		q = (float)half_value(half_bits(q));
	return q > 1000.0f;
}

/* FloatingFormat.fillFormat over v[0..n) (n >= 1), step apart. */
static void ffmt_fill(struct ffmt *f, const double *v, size_t n, size_t step, int bits, int plus)
{
	double mx = 0, mn = 0;
	int any_nonzero = 0, any_finite = 0, any_other = 0, neginf = 0;
	memset(f, 0, sizeof(*f));
	f->bits = bits;
	f->plus = plus;
	for (size_t k = 0; k < n; k++) {
		double x = v[k * step], ax = x < 0 ? -x : x;
		if (!isfinite(x)) {
			any_other = 1;
			neginf |= isinf(x) && x < 0;
			continue;
		}
		any_finite = 1;
		if (ax == 0)
			continue;
		if (!any_nonzero || ax > mx)
			mx = ax;
		if (!any_nonzero || ax < mn)
			mn = ax;
		any_nonzero = 1;
	}
	f->exp = any_nonzero && (mx >= 1e8 || mn < 1e-4 || ratio_over_1000(mx, mn, bits));
	f->exp_size = -1;
	for (size_t k = 0; any_finite && k < n; k++) {
		double x = v[k * step];
		if (!isfinite(x))
			continue;
		int neg = signbit(x) != 0, sign = neg || plus;
		struct dec d;
		if (f->exp) {
			sci_digits(neg ? -x : x, bits, CKPT_FORMAT_PRECISION, 0, &d);
			int e = d.e < 0 ? -d.e : d.e, ed = e >= 100 ? 3 : 2;
			f->prec = d.n - 1 > f->prec ? d.n - 1 : f->prec;
			f->exp_size = ed > f->exp_size ? ed : f->exp_size;
			f->pad_left = 1 + sign > f->pad_left ? 1 + sign : f->pad_left;
		} else {
			pos_digits(neg ? -x : x, bits, CKPT_FORMAT_PRECISION, 0, &d);
			int whole = (d.e >= 0 ? d.e + 1 : 1) + sign;
			int frac = d.n - 1 - d.e > 0 ? d.n - 1 - d.e : 0;
			f->pad_left = whole > f->pad_left ? whole : f->pad_left;
			f->pad_right = frac > f->pad_right ? frac : f->pad_right;
		}
	}
	if (any_finite && f->exp)
		f->pad_right = f->exp_size + 2 + f->prec;
	if (any_other) {
		int offset = f->pad_right + 1, inf_len = 3 + (plus || neginf);
		if (3 - offset > f->pad_left)
			f->pad_left = 3 - offset;
		if (inf_len - offset > f->pad_left)
			f->pad_left = inf_len - offset;
	}
}

/* FloatingFormat.__call__ */
static void ffmt_put(ckpt_sbuf *b, const struct ffmt *f, double x)
{
	if (!isfinite(x)) {
		const char *s = isnan(x) && f->plus ? "+nan" : nonfinite(x, f->plus);
		spaces(b, f->pad_left + f->pad_right + 1 - (long)strlen(s));
		ckpt__sb_puts(b, s);
		return;
	}
	int neg = signbit(x) != 0;
	struct dec d;
	if (f->exp) {
		sci_digits(neg ? -x : x, f->bits, f->prec, f->prec + 1, &d);
		put_sci(b, neg, f->plus, &d, f->prec, TRIM_NONE, f->pad_left, f->exp_size);
	} else {
		pos_digits(neg ? -x : x, f->bits, CKPT_FORMAT_PRECISION, 1, &d);
		put_pos(b, neg, f->plus, &d, 0, TRIM_ZEROS, f->pad_left, f->pad_right);
	}
}

/* ---- _formatArray ---- */

struct arr {
	ckpt_dtype dt;
	enum ckpt__vkind kind;
	int rank;
	const int64_t *dims;
	int64_t shown[CKPT_MAX_RANK];
	uint64_t stride[CKPT_MAX_RANK]; /* in shown elements */
	int summarized;
	const uint8_t *vals;
	const ckpt_format_bytes *strs;
	double *num;	    /* floats: the values; complex: (re, im) pairs */
	struct ffmt fr, fi; /* floats, real parts; imaginary parts */
	int int_width;
	ckpt_sbuf out, line, word;
	int first; /* the line still starts with the block's hanging indent */
	ckpt_write_fn write;
	void *ctx;
	int rc;
};

static void flush(struct arr *a)
{
	if (a->rc == 0 && a->out.oom)
		a->rc = CKPT_ENOMEM;
	if (a->rc == 0 && a->out.len)
		a->rc = a->write(a->ctx, a->out.p, a->out.len);
	a->out.len = 0;
}

static void emit(struct arr *a, const char *s, size_t n)
{
	ckpt__sb_putn(&a->out, s, n);
	if (a->out.len >= FLUSH_AT || a->out.oom)
		flush(a);
}

static void emit_spaces(struct arr *a, size_t n)
{
	for (; n > 0; n--)
		emit(a, " ", 1);
}

/* The text of shown element k into a->word. */
static void word(struct arr *a, uint64_t k)
{
	ckpt_sbuf *w = &a->word;
	w->len = 0;
	if (w->p)
		w->p[0] = '\0';
	size_t es = ckpt_dtype_size(a->dt);
	const uint8_t *p = a->vals ? a->vals + k * es : NULL;
	switch (a->kind) {
	case CKPT__V_BOOL: ckpt__sb_puts(w, *p ? " True" : "False"); break;
	case CKPT__V_INT:
		ckpt__sb_printf(w, "%*lld", a->int_width, (long long)ckpt__value_int(a->dt, p));
		break;
	case CKPT__V_UINT:
		ckpt__sb_printf(w, "%*llu", a->int_width,
				(unsigned long long)ckpt__value_uint(a->dt, p));
		break;
	case CKPT__V_FLOAT: ffmt_put(w, &a->fr, a->num[k]); break;
	case CKPT__V_COMPLEX: {
		ffmt_put(w, &a->fr, a->num[2 * k]);
		size_t at = w->len;
		ffmt_put(w, &a->fi, a->num[2 * k + 1]);
		/* the 'j' goes before the imaginary part's padding */
		size_t end = w->len;
		while (end > at && w->p && w->p[end - 1] == ' ')
			end--;
		size_t pad = w->len - end;
		w->len = end;
		ckpt__sb_puts(w, "j");
		for (; pad > 0; pad--)
			ckpt__sb_putn(w, " ", 1);
		break;
	}
	case CKPT__V_STRING: put_bytes(w, &a->strs[k]); break;
	default: break;
	}
}

/* The line so far, without trailing spaces (rstrip) when strip, and
 * without the hanging indent the block's "[" replaced. */
static void emit_line(struct arr *a, size_t hang, int strip)
{
	size_t n = a->line.len;
	while (strip && n > 0 && a->line.p[n - 1] == ' ')
		n--;
	size_t from = a->first ? hang : 0;
	if (n > from)
		emit(a, a->line.p + from, n - from);
	a->first = 0;
}

/* _extendLine: word onto the line, wrapping before it when the line
 * would pass width (never a line holding only the indent). */
static void extend(struct arr *a, const char *w, size_t wlen, size_t width, size_t hang)
{
	if (a->line.len + wlen > width && a->line.len > hang) {
		emit_line(a, hang, 1);
		emit(a, "\n", 1);
		a->line.len = 0;
		for (size_t k = 0; k < hang; k++)
			ckpt__sb_putn(&a->line, " ", 1);
	}
	ckpt__sb_putn(&a->line, w, wlen);
}

static void leaf(struct arr *a, uint64_t k, size_t width, size_t hang)
{
	word(a, k);
	extend(a, a->word.p ? a->word.p : "", a->word.len, width, hang);
}

/* recurser(): the block of axis `axis` whose first shown element is base;
 * hang is the length of its hanging indent, width its curr_width. */
static void block(struct arr *a, int axis, uint64_t base, size_t hang, size_t width)
{
	int64_t len = a->dims[axis], sd = a->shown[axis];
	int summary = a->summarized && len > 2 * CKPT_FORMAT_EDGEITEMS;
	int64_t lead = summary ? CKPT_FORMAT_EDGEITEMS : 0;
	uint64_t st = a->stride[axis];

	emit(a, "[", 1);
	if (axis == a->rank - 1) {
		size_t elem = width - 1; /* room before "]" */
		a->line.len = 0;
		for (size_t k = 0; k < hang; k++)
			ckpt__sb_putn(&a->line, " ", 1);
		a->first = 1;
		for (int64_t i = 0; i < sd; i++) {
			if (summary && i == lead) {
				extend(a, "...", 3, elem, hang);
				ckpt__sb_putn(&a->line, " ", 1);
			}
			leaf(a, base + (uint64_t)i * st, elem, hang);
			if (i + 1 < sd)
				ckpt__sb_putn(&a->line, " ", 1);
		}
		if (a->line.oom)
			a->rc = a->rc ? a->rc : CKPT_ENOMEM;
		else
			emit_line(a, hang, 0);
	} else {
		size_t nl = (size_t)(a->rank - axis - 1);
		for (int64_t i = 0; i < sd && a->rc == 0; i++) {
			if (summary && i == lead) {
				emit_spaces(a, hang);
				emit(a, "...", 3);
				for (size_t k = 0; k < nl; k++)
					emit(a, "\n", 1);
			}
			if (i > 0)
				emit_spaces(a, hang);
			block(a, axis + 1, base + (uint64_t)i * st, hang + 1, width - 1);
			for (size_t k = 0; i + 1 < sd && k < nl; k++)
				emit(a, "\n", 1);
		}
	}
	emit(a, "]", 1);
}

int ckpt_format_shown(int rank, const int64_t *dims, int64_t *shown, uint64_t *count)
{
	uint64_t n = 1, all = 1;
	int over = 0;
	for (int d = 0; d < rank; d++)
		if (ckpt__mul_u64(all, (uint64_t)dims[d], &all))
			over = 1;
	int summarized = over || all > CKPT_FORMAT_THRESHOLD;
	for (int d = 0; d < rank; d++) {
		shown[d] = summarized && dims[d] > 2 * CKPT_FORMAT_EDGEITEMS
			       ? 2 * CKPT_FORMAT_EDGEITEMS
			       : dims[d];
		if (n != UINT64_MAX && ckpt__mul_u64(n, (uint64_t)shown[d], &n))
			n = UINT64_MAX;
	}
	*count = n;
	return summarized;
}

int ckpt_format_supported(ckpt_dtype dt)
{
	return ckpt__value_kind(dt) != CKPT__V_NONE;
}

/* The format functions' parameters over the shown values. */
static int prepare(struct arr *a, uint64_t n, ckpt_error *err)
{
	if (a->kind == CKPT__V_FLOAT || a->kind == CKPT__V_COMPLEX) {
		size_t parts = a->kind == CKPT__V_COMPLEX ? 2 : 1;
		ckpt_dtype part = ckpt__value_part(a->dt);
		size_t ps = ckpt_dtype_size(part);
		if (n > SIZE_MAX / sizeof(double) / parts ||
		    (a->num = malloc((size_t)n * parts * sizeof(double))) == NULL)
			return ckpt__error(err, CKPT_ENOMEM, "out of memory for %llu values",
					   (unsigned long long)n);
		for (size_t k = 0; k < (size_t)n * parts; k++)
			a->num[k] = ckpt__value_float(part, a->vals + k * ps);
		int bits = ckpt__value_float_bits(a->dt);
		ffmt_fill(&a->fr, a->num, (size_t)n, parts, bits, 0);
		if (parts == 2)
			ffmt_fill(&a->fi, a->num + 1, (size_t)n, 2, bits, 1);
	} else if (a->kind == CKPT__V_INT || a->kind == CKPT__V_UINT) {
		size_t es = ckpt_dtype_size(a->dt);
		char t[32];
		for (uint64_t k = 0; k < n; k++) {
			const uint8_t *p = a->vals + k * es;
			int w = a->kind == CKPT__V_INT
				    ? snprintf(t, sizeof(t), "%lld",
					       (long long)ckpt__value_int(a->dt, p))
				    : snprintf(t, sizeof(t), "%llu",
					       (unsigned long long)ckpt__value_uint(a->dt, p));
			if (w > a->int_width)
				a->int_width = w;
		}
	}
	return 0;
}

int ckpt_format_array(ckpt_dtype dt, int rank, const int64_t *dims, const void *values,
		      ckpt_write_fn write, void *ctx, ckpt_error *err)
{
	struct arr a = {0};
	uint64_t n;
	a.dt = dt;
	a.kind = ckpt__value_kind(dt);
	a.rank = rank;
	a.dims = dims;
	a.write = write;
	a.ctx = ctx;
	if (a.kind == CKPT__V_NONE)
		return ckpt__error(err, CKPT_EUNSUPPORTED, "dtype %s has no NumPy form",
				   ckpt_dtype_name(dt));
	if (rank < 0 || rank > CKPT_MAX_RANK)
		return ckpt__error(err, CKPT_EINVAL, "rank %d out of range", rank);
	a.summarized = ckpt_format_shown(rank, dims, a.shown, &n);
	if (a.kind == CKPT__V_STRING)
		a.strs = values;
	else
		a.vals = values;
	if (rank == 0) {
		if (a.kind == CKPT__V_STRING)
			put_bytes(&a.out, a.strs);
		else
			put_scalar(&a.out, dt, a.vals);
	} else if (n == 0) {
		ckpt__sb_puts(&a.out, "[]");
	} else {
		for (int d = rank - 1; d >= 0; d--)
			a.stride[d] =
			    d == rank - 1 ? 1 : a.stride[d + 1] * (uint64_t)a.shown[d + 1];
		a.rc = prepare(&a, n, err);
		if (a.rc == 0)
			block(&a, 0, 0, 1, CKPT_FORMAT_LINEWIDTH);
	}
	int rc = a.rc;
	if (rc == 0)
		flush(&a);
	rc = rc ? rc : a.rc;
	if (rc == CKPT_ENOMEM && (err == NULL || err->code != CKPT_ENOMEM))
		ckpt__error(err, rc, "out of memory formatting values");
	free(a.num);
	free(a.out.p);
	free(a.line.p);
	free(a.word.p);
	return rc;
}
