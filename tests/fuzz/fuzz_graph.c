/*
 * Fuzz target: the graph reader (lib/src/map/graph.c) on any bytes, as a
 * .meta/saved_model.pb would give them, with every role selected and the
 * result printed as --targets JSON. Built as a libFuzzer binary with
 * -Dfuzz=true; tests/unit/test_graph.c also calls it on truncated and
 * byte-flipped real graphs in every `meson test`. Corpus: corpus/graph.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "ckpt/graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const tags[] = {NULL, "serve", "train"};
	for (size_t k = 0; k < sizeof(tags) / sizeof(tags[0]); k++) {
		ckpt_graph_opts o = {tags[k], CKPT_GRAPH_ALL_ROLES | CKPT_GRAPH_LOCAL};
		ckpt_graph *g = NULL;
		ckpt_error err;
		if (ckpt_graph_parse(data, size, "fuzz", &o, &g, &err) != 0)
			continue;
		ckpt_target_var *t = malloc((g->n_vars ? g->n_vars : 1) * sizeof(*t));
		char *json = NULL;
		for (size_t i = 0; t && i < g->n_vars; i++)
			t[i] = g->vars[i].v;
		if (t && ckpt_targets_to_json(t, g->n_vars, &json, &err) == 0)
			free(json);
		free(t);
		ckpt_graph_free(g);
	}
	return 0;
}
