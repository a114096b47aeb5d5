/*
 * Fuzz target: the input is a V1 checkpoint (one table file, key "" the
 * SavedTensorSlices meta, then one data record per slice); the whole
 * reader runs over it as in fuzz_bundle.
 */
#include "fuzz.h"

#include <stdio.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[256];

	if (path[0] == '\0')
		snprintf(path, sizeof(path), "%s", fuzz_scratch_path("model.ckpt"));
	fuzz_write_file(path, data, size);
	fuzz_read_all(path);
	return 0;
}
