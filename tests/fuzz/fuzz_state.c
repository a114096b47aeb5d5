/* Fuzz target: parse a `checkpoint` state file (text format). */
#include "fuzz.h"

#include <stdlib.h>

#include "format/state_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *model = NULL;
	ckpt_error err;

	if (ckpt__state_parse((const char *)data, size, "checkpoint", "dir", &model, &err) == 0)
		free(model);
	return 0;
}
