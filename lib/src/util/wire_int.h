/*
 * Internal: a protobuf wire-format scanner over bytes in memory. It never
 * copies and never reads past the end; what a field holds is checked only
 * as far as the wire needs (a length-delimited field lies inside its
 * message). Used where protobuf-c should unpack only small pieces of a big
 * message (map/graph.c, format/objgraph.c).
 */
#ifndef CKPT_WIRE_INT_H
#define CKPT_WIRE_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "util/codec_int.h"

/* Bytes of a message or field (borrowed). */
typedef struct ckpt__span {
	const uint8_t *p;
	size_t n;
} ckpt__span;

typedef struct ckpt__wcur {
	const uint8_t *p, *end;
} ckpt__wcur;

typedef struct ckpt__wfield {
	uint32_t field;
	int wt;
	uint64_t v;   /* wire type 0 */
	ckpt__span s; /* wire type 2 */
} ckpt__wfield;

static inline ckpt__wcur ckpt__wire_cursor(ckpt__span s)
{
	ckpt__wcur c = {s.p, s.p + s.n};
	return c;
}

/* The next field of c in *f. Returns 1 for a field, 0 at the end, -1 when
 * the bytes are malformed (a bad tag, wire type or length). */
static inline int ckpt__wire_next(ckpt__wcur *c, ckpt__wfield *f)
{
	uint64_t tag, len;
	if (c->p >= c->end)
		return 0;
	if (ckpt__get_varint64(&c->p, c->end, &tag) || (tag >> 3) == 0 || (tag >> 3) > 0x1fffffff)
		return -1;
	f->field = (uint32_t)(tag >> 3);
	f->wt = (int)(tag & 7);
	switch (f->wt) {
	case 0: return ckpt__get_varint64(&c->p, c->end, &f->v) ? -1 : 1;
	case 1:
		if (c->end - c->p < 8)
			return -1;
		c->p += 8;
		return 1;
	case 2:
		if (ckpt__get_varint64(&c->p, c->end, &len) || len > (uint64_t)(c->end - c->p))
			return -1;
		f->s.p = c->p;
		f->s.n = (size_t)len;
		c->p += len;
		return 1;
	case 5:
		if (c->end - c->p < 4)
			return -1;
		c->p += 4;
		return 1;
	default: return -1;
	}
}

#endif
