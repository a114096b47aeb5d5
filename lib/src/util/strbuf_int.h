/* Internal: a growable string for messages and printers. */
#ifndef CKPT_STRBUF_INT_H
#define CKPT_STRBUF_INT_H

#include <stddef.h>
#include <stdarg.h>
#include <stdint.h>

/*
 * Appends never fail visibly: on allocation failure `oom` is set and later
 * appends do nothing; check it once at the end. `p` is always NUL-terminated
 * once anything was appended (or NULL if nothing was).
 * Ownership: the owner frees `p` with free().
 */
typedef struct ckpt_sbuf {
	char *p;
	size_t len;
	size_t cap;
	int oom;
} ckpt_sbuf;

#define CKPT_SBUF_INIT                                                                             \
	{                                                                                          \
		NULL, 0, 0, 0                                                                      \
	}

void ckpt__sb_putn(ckpt_sbuf *b, const char *s, size_t n);
void ckpt__sb_puts(ckpt_sbuf *b, const char *s);
void ckpt__sb_printf(ckpt_sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The string so far ("" when empty); valid until the next append. */
const char *ckpt__sb_str(const ckpt_sbuf *b);
/* "[a,b]": TensorShape::DebugString, as TF's C++ messages print shapes. */
void ckpt__sb_shape_debug(ckpt_sbuf *b, int rank, const int64_t *dims);
/* "(a, b)", "(a,)", "()": str() of a Python TensorShape. */
void ckpt__sb_shape_py(ckpt_sbuf *b, int rank, const int64_t *dims);
/* "[a, b]": str() of a Python list of ints. */
void ckpt__sb_list_py(ckpt_sbuf *b, int rank, const int64_t *dims);
/* s with backslash, `quote` (unless NUL), \n, \r, \t as backslash escapes
 * and other control bytes as \xNN. */
void ckpt__sb_escaped(ckpt_sbuf *b, const char *s, char quote);
/* repr() of a Python 3 str holding these bytes. */
void ckpt__sb_repr_py(ckpt_sbuf *b, const char *s);
/* Is s[0..n) strict UTF-8 (no overlong forms, surrogates or values past
 * U+10FFFF): what jansson, and so JSON output, accepts. */
int ckpt__utf8_valid(const char *s, size_t n);
/* text with `indent` spaces after each of its newlines (at most 16). */
void ckpt__sb_indented(ckpt_sbuf *b, const char *text, unsigned indent);
/*
 * One element of a JSON array whose elements sit `indent` spaces deep:
 * `text` (a value as json_dumps gave it) after the separator ("," unless
 * `first`), each of its lines indented by `indent` more spaces. indent 0
 * writes it compact (no newline and no indent at all).
 */
void ckpt__sb_json_element(ckpt_sbuf *b, const char *text, int first, unsigned indent);

/*
 * Append one printf-formatted line (at most CKPT_ERROR_MSG_MAX - 1 bytes,
 * control bytes shown as '?') to a list of strings: (*list)[(*n)++]. Returns 0 or -1 when out of
 * memory (the list unchanged). Ownership: the list's owner frees each
 * string and the array with free().
 */
int ckpt__strlist_vadd(char ***list, size_t *n, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));
int ckpt__strlist_add(char ***list, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
