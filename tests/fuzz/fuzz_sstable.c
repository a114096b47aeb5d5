/* Fuzz target: walk every entry of a table held in memory. */
#include "fuzz.h"

#include "format/sstable_int.h"

static int touch(void *ctx, const uint8_t *key, size_t klen, const uint8_t *val, size_t vlen,
		 ckpt_error *err)
{
	volatile uint8_t *sink = ctx;
	uint8_t x = 0;

	(void)err;
	for (size_t i = 0; i < klen; i++)
		x ^= key[i];
	for (size_t i = 0; i < vlen; i++)
		x ^= val[i];
	*sink = x;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	volatile uint8_t sink = 0;
	ckpt_error err;

	(void)ckpt__sstable_foreach(data, size, "fuzz", touch, (void *)&sink, &err);
	return 0;
}
