/* Internal: a growable string for messages and printers. */
#ifndef CKPT_STRBUF_INT_H
#define CKPT_STRBUF_INT_H

#include <stddef.h>
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

#endif
