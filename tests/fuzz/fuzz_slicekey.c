/* Fuzz target: decode a slice key (OrderedCode), then re-encode it. */
#include "fuzz.h"

#include "ckpt/reader.h"
#include "format/slicekey_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ckpt__buf name = {0}, again = {0};
	int64_t start[CKPT_MAX_RANK], length[CKPT_MAX_RANK];
	int rank;
	ckpt_error err;

	if (ckpt__slicekey_decode(data, size, &name, &rank, start, length, CKPT_MAX_RANK, &err) ==
	    0)
		(void)ckpt__slicekey_encode(&again, (const char *)name.data, name.len, rank, start,
					    length);
	ckpt__buf_free(&name);
	ckpt__buf_free(&again);
	return 0;
}
