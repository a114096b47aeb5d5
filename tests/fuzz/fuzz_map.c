/*
 * Fuzz target: the assignment map as the command line gives it. The input
 * up to its first NUL is a `--map` value (ckpt_map_parse_arg); the whole
 * input is a `--map-file` (ckpt_map_load_file). Each map that parses is
 * resolved over a fixed set of tensors (plain, partitioned-looking scopes,
 * a scalar) and the plan printed as text and JSON.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "ckpt/resolve.h"
#include "fuzz_resolve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ckpt_map_entry *e = NULL;
	size_t n = 0;
	ckpt_error err;
	size_t alen = strnlen((const char *)data, size);
	char *arg = malloc(alen + 1);

	if (arg == NULL)
		return 0;
	memcpy(arg, data, alen);
	arg[alen] = '\0';
	if (ckpt_map_parse_arg(arg, &e, &n, &err) == 0)
		fuzz_resolve_fixed(e, n, NULL, 0);
	ckpt_map_entries_free(e, n);
	free(arg);

	const char *path = fuzz_scratch_path("map.json");
	fuzz_write_file(path, data, size);
	e = NULL;
	n = 0;
	if (ckpt_map_load_file(fuzz_scratch_path("map.json"), &e, &n, &err) == 0)
		fuzz_resolve_fixed(e, n, NULL, 0);
	ckpt_map_entries_free(e, n);
	return 0;
}
