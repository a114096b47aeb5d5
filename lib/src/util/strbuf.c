#include "util/strbuf_int.h"

#include "util/codec_int.h"

#include "ckpt/error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for extra bytes and a NUL: the growth of ckpt__buf (codec.c). */
static int grow(ckpt_sbuf *b, size_t extra)
{
	if (b->oom)
		return -1;
	ckpt__buf u = {(uint8_t *)b->p, b->len, b->cap};
	if (extra == SIZE_MAX || ckpt__buf_reserve(&u, extra + 1)) {
		b->oom = 1;
		return -1;
	}
	b->p = (char *)u.data;
	b->cap = u.cap;
	return 0;
}

void ckpt__sb_putn(ckpt_sbuf *b, const char *s, size_t n)
{
	if (grow(b, n) != 0)
		return;
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void ckpt__sb_puts(ckpt_sbuf *b, const char *s)
{
	ckpt__sb_putn(b, s, strlen(s));
}

void ckpt__sb_printf(ckpt_sbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->oom = 1;
		return;
	}
	if (grow(b, (size_t)n) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

int ckpt__utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	while (p < end) {
		unsigned c = *p++;
		int more = c < 0x80		   ? 0
			   : c >= 0xc2 && c < 0xe0 ? 1
			   : (c & 0xf0) == 0xe0	   ? 2
			   : c >= 0xf0 && c < 0xf5 ? 3
						   : -1;
		if (more < 0 || end - p < more)
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

static const char spaces[] = "                ";

void ckpt__sb_indented(ckpt_sbuf *b, const char *text, unsigned indent)
{
	unsigned in = indent < sizeof(spaces) - 1 ? indent : (unsigned)sizeof(spaces) - 1;
	for (const char *q = text;; q++) {
		const char *nl = strchr(q, '\n');
		ckpt__sb_putn(b, q, nl ? (size_t)(nl - q) : strlen(q));
		if (nl == NULL)
			break;
		ckpt__sb_puts(b, "\n");
		ckpt__sb_putn(b, spaces, in);
		q = nl;
	}
}

void ckpt__sb_json_element(ckpt_sbuf *b, const char *text, int first, unsigned indent)
{
	unsigned in = indent < sizeof(spaces) - 1 ? indent : (unsigned)sizeof(spaces) - 1;
	if (!first)
		ckpt__sb_puts(b, ",");
	if (in > 0) {
		ckpt__sb_puts(b, "\n");
		ckpt__sb_putn(b, spaces, in);
	}
	ckpt__sb_indented(b, text, in);
}

const char *ckpt__sb_str(const ckpt_sbuf *b)
{
	return b->p ? b->p : "";
}

static void dims_joined(ckpt_sbuf *b, int rank, const int64_t *dims, const char *sep)
{
	for (int i = 0; i < rank; i++)
		ckpt__sb_printf(b, "%s%lld", i ? sep : "", (long long)dims[i]);
}

void ckpt__sb_shape_debug(ckpt_sbuf *b, int rank, const int64_t *dims)
{
	ckpt__sb_puts(b, "[");
	dims_joined(b, rank, dims, ",");
	ckpt__sb_puts(b, "]");
}

void ckpt__sb_shape_py(ckpt_sbuf *b, int rank, const int64_t *dims)
{
	ckpt__sb_puts(b, "(");
	dims_joined(b, rank, dims, ", ");
	ckpt__sb_puts(b, rank == 1 ? ",)" : ")");
}

void ckpt__sb_list_py(ckpt_sbuf *b, int rank, const int64_t *dims)
{
	ckpt__sb_puts(b, "[");
	dims_joined(b, rank, dims, ", ");
	ckpt__sb_puts(b, "]");
}

void ckpt__sb_escaped(ckpt_sbuf *b, const char *s, char quote)
{
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (*c == '\\' || (quote != '\0' && *c == (unsigned char)quote))
			ckpt__sb_printf(b, "\\%c", *c);
		else if (*c == '\n')
			ckpt__sb_puts(b, "\\n");
		else if (*c == '\r')
			ckpt__sb_puts(b, "\\r");
		else if (*c == '\t')
			ckpt__sb_puts(b, "\\t");
		else if (*c < 0x20 || *c == 0x7f)
			ckpt__sb_printf(b, "\\x%02x", *c);
		else
			ckpt__sb_putn(b, (const char *)c, 1);
	}
}

void ckpt__sb_repr_py(ckpt_sbuf *b, const char *s)
{
	/* Python picks '...' unless the text has ' and no ". */
	char q = strchr(s, '\'') && !strchr(s, '"') ? '"' : '\'';

	ckpt__sb_putn(b, &q, 1);
	ckpt__sb_escaped(b, s, q);
	ckpt__sb_putn(b, &q, 1);
}

int ckpt__strlist_vadd(char ***list, size_t *n, const char *fmt, va_list ap)
{
	char buf[CKPT_ERROR_MSG_MAX];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	/* one line: a hostile name's control bytes are shown as '?' */
	for (char *c = buf; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	char **l = realloc(*list, (*n + 1) * sizeof(*l));
	if (l == NULL)
		return -1;
	*list = l;
	if ((l[*n] = strdup(buf)) == NULL)
		return -1;
	++*n;
	return 0;
}

int ckpt__strlist_add(char ***list, size_t *n, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = ckpt__strlist_vadd(list, n, fmt, ap);
	va_end(ap);
	return rc;
}
