/*
 * A small reader for the protobuf text format as the `checkpoint` file uses
 * it: `field: value` pairs, values either quoted strings (with C escapes)
 * or numbers, `#` comments, any whitespace.
 */
#include "format/state_int.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/codec_int.h"
#include "util/error_int.h"

struct lex {
	const char *p, *end, *start;
	const char *fname;
};

static void pos(const struct lex *l, int *line, int *col)
{
	*line = 1;
	*col = 1;
	for (const char *q = l->start; q < l->p; q++) {
		if (*q == '\n') {
			(*line)++;
			*col = 1;
		} else {
			(*col)++;
		}
	}
}

static int fail(struct lex *l, ckpt_error *err, const char *what)
{
	int line, col;
	pos(l, &line, &col);
	return ckpt__error(err, CKPT_ECORRUPT, "%s:%d:%d: %s", l->fname, line, col, what);
}

static void skip_space(struct lex *l)
{
	while (l->p < l->end) {
		if (*l->p == '#') {
			while (l->p < l->end && *l->p != '\n')
				l->p++;
		} else if (isspace((unsigned char)*l->p)) {
			l->p++;
		} else {
			break;
		}
	}
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* One quoted string, appended (unescaped) to out. */
static int lex_string(struct lex *l, ckpt__buf *out, ckpt_error *err)
{
	char q = *l->p++;
	while (l->p < l->end && *l->p != q) {
		unsigned char c = (unsigned char)*l->p++;
		if (c == '\n')
			return fail(l, err, "newline inside a string");
		if (c == '\\') {
			if (l->p >= l->end)
				break;
			c = (unsigned char)*l->p++;
			switch (c) {
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case 'a': c = '\a'; break;
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'v': c = '\v'; break;
			case '\\':
			case '\'':
			case '"':
			case '?': break;
			case 'x': {
				int v = 0, k = 0, h;
				while (k < 2 && l->p < l->end && (h = hexval(*l->p)) >= 0) {
					v = v * 16 + h;
					l->p++;
					k++;
				}
				if (k == 0)
					return fail(l, err, "bad \\x escape");
				c = (unsigned char)v;
				break;
			}
			default:
				if (c >= '0' && c <= '7') {
					int v = c - '0', k = 1;
					while (k < 3 && l->p < l->end && *l->p >= '0' &&
					       *l->p <= '7') {
						v = v * 8 + (*l->p++ - '0');
						k++;
					}
					if (v > 255)
						return fail(l, err, "octal escape out of range");
					c = (unsigned char)v;
				} else {
					return fail(l, err, "unknown escape in string");
				}
			}
		}
		if (ckpt__buf_append(out, &c, 1))
			return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", l->fname);
	}
	if (l->p >= l->end)
		return fail(l, err, "unterminated string");
	l->p++;
	return 0;
}

int ckpt__state_parse(const char *text, size_t len, const char *fname, const char *dir,
		      char **model_path, ckpt_error *err)
{
	struct lex l = {text, text + len, text, fname};
	ckpt__buf model = {0}, tmp = {0};
	int have_model = 0, rc = 0;

	for (;;) {
		skip_space(&l);
		if (l.p >= l.end)
			break;
		const char *id = l.p;
		while (l.p < l.end && (isalnum((unsigned char)*l.p) || *l.p == '_'))
			l.p++;
		size_t idlen = (size_t)(l.p - id);
		if (idlen == 0) {
			rc = fail(&l, err, "expected a field name");
			break;
		}
		int is_model = idlen == 21 && memcmp(id, "model_checkpoint_path", 21) == 0;
		int is_paths = idlen == 26 && memcmp(id, "all_model_checkpoint_paths", 26) == 0;
		int is_num =
		    (idlen == 31 && memcmp(id, "all_model_checkpoint_timestamps", 31) == 0) ||
		    (idlen == 24 && memcmp(id, "last_preserved_timestamp", 24) == 0);
		if (!is_model && !is_paths && !is_num) {
			rc = fail(&l, err, "unknown field in CheckpointState");
			break;
		}
		skip_space(&l);
		if (l.p < l.end && *l.p == ':') {
			l.p++;
			skip_space(&l);
		}
		if (is_num) {
			const char *v = l.p;
			while (l.p < l.end && (isalnum((unsigned char)*l.p) || *l.p == '.' ||
					       *l.p == '-' || *l.p == '+'))
				l.p++;
			if (l.p == v) {
				rc = fail(&l, err, "expected a number");
				break;
			}
			continue;
		}
		if (l.p >= l.end || (*l.p != '"' && *l.p != '\'')) {
			rc = fail(&l, err, "expected a quoted string");
			break;
		}
		tmp.len = 0;
		while (rc == 0 && l.p < l.end && (*l.p == '"' || *l.p == '\'')) {
			rc = lex_string(&l, &tmp, err);
			skip_space(&l);
		}
		if (rc)
			break;
		if (is_model) {
			model.len = 0;
			if (ckpt__buf_append(&model, tmp.data, tmp.len)) {
				rc = ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", fname);
				break;
			}
			have_model = 1;
		}
	}
	ckpt__buf_free(&tmp);
	if (rc == 0 && (!have_model || model.len == 0))
		rc =
		    ckpt__error(err, CKPT_ECORRUPT, "Invalid checkpoint state loaded from %s", dir);
	if (rc == 0 && memchr(model.data, 0, model.len))
		rc = ckpt__error(err, CKPT_ECORRUPT,
				 "%s: model_checkpoint_path contains a NUL byte", fname);
	if (rc == 0) {
		uint8_t nul = 0;
		if (ckpt__buf_append(&model, &nul, 1))
			rc = ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", fname);
	}
	if (rc) {
		ckpt__buf_free(&model);
		return rc;
	}
	*model_path = (char *)model.data;
	return 0;
}
