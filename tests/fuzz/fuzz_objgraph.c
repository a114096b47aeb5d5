/*
 * Fuzz target: the object graph decoder (lib/src/format/objgraph.c, what
 * @object_graph.json shows) on any bytes, as a checkpoint's
 * _CHECKPOINTABLE_OBJECT_GRAPH would give them. A graph that parses must
 * read back as one JSON array of its nodes, the same whether read whole or
 * in small pieces from the end; anything else aborts. tests/unit/
 * test_objgraph.c also calls it on truncated and byte-flipped graphs.
 * Corpus: corpus/objgraph (scripts/gen-fuzz-corpus.py).
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "format/objgraph_int.h"
#include "fuzz.h"

/* Reads of more than this are skipped (a graph of many empty nodes reads
 * as about 60 bytes of JSON per 2 bytes of input). */
#define MAX_JSON ((uint64_t)64 << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ckpt__objgraph *g = NULL;
	ckpt_error err;
	if (ckpt__objgraph_parse(data, size, "fuzz", &g, &err) != 0)
		return 0;
	uint64_t n = ckpt__objgraph_size(g);
	if (n > MAX_JSON) {
		ckpt__objgraph_free(g);
		return 0;
	}
	char *whole = malloc((size_t)n + 1), *piece = malloc((size_t)n + 1);
	if (whole == NULL || piece == NULL ||
	    ckpt__objgraph_read(g, 0, whole, (size_t)n, &err) != 0)
		abort();
	json_error_t jerr;
	json_t *j = json_loadb(whole, (size_t)n, 0, &jerr);
	if (j == NULL || !json_is_array(j) || n == 0 || whole[n - 1] != '\n')
		abort();
	json_decref(j);
	/* back to front in pieces of 4099 bytes: every group rendered anew */
	for (uint64_t end = n; end > 0;) {
		uint64_t at = end > 4099 ? end - 4099 : 0;
		if (ckpt__objgraph_read(g, at, piece + at, (size_t)(end - at), &err) != 0)
			abort();
		end = at;
	}
	if (memcmp(whole, piece, (size_t)n) != 0)
		abort();
	free(whole);
	free(piece);
	ckpt__objgraph_free(g);
	return 0;
}
