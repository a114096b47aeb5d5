#include "util/codec_int.h"

#include "ckpt/error.h"

#include <stdlib.h>

int ckpt__buf_reserve(ckpt__buf *b, size_t n)
{
	if (n > SIZE_MAX - b->len)
		return CKPT_ENOMEM;
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n) {
			if (cap > SIZE_MAX / 2)
				return CKPT_ENOMEM;
			cap *= 2;
		}
		uint8_t *d = realloc(b->data, cap);
		if (d == NULL)
			return CKPT_ENOMEM;
		b->data = d;
		b->cap = cap;
	}
	return 0;
}

int ckpt__buf_append(ckpt__buf *b, const void *p, size_t n)
{
	if (ckpt__buf_reserve(b, n))
		return CKPT_ENOMEM;
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int ckpt__buf_append_varint(ckpt__buf *b, uint64_t v)
{
	uint8_t tmp[10];
	return ckpt__buf_append(b, tmp, ckpt__put_varint64(tmp, v));
}

int ckpt__buf_append_le32(ckpt__buf *b, uint32_t v)
{
	uint8_t tmp[4];
	ckpt__store_le32(tmp, v);
	return ckpt__buf_append(b, tmp, 4);
}

void ckpt__buf_free(ckpt__buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
