/*
 * Fuzz target: a `--targets` JSON file (ckpt_targets_load_file). Targets
 * that load are printed back as JSON (ckpt_targets_to_json) and resolved,
 * with the identity map and with a scope map, over a fixed set of tensors;
 * the scope map also under --perm rules (an exact name, a scope, the root)
 * on top of the file's own "perm"s.
 */
#include "fuzz.h"

#include <stdlib.h>

#include "ckpt/graph.h"
#include "ckpt/resolve.h"
#include "fuzz_resolve.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ckpt_target_var *t = NULL;
	size_t n = 0;
	ckpt_error err;
	const char *path = fuzz_scratch_path("targets.json");

	fuzz_write_file(path, data, size);
	if (ckpt_targets_load_file(fuzz_scratch_path("targets.json"), &t, &n, &err) != 0)
		return 0;
	char *json = NULL;
	if (ckpt_targets_to_json(t, n, &json, &err) == 0)
		free(json);
	fuzz_resolve_fixed(NULL, 0, t, n);
	char ckpt[] = "a/", target[] = "new/";
	ckpt_map_entry scope = {0};
	scope.ckpt = ckpt;
	scope.target = target;
	fuzz_resolve_fixed(&scope, 1, t, n);
	ckpt_perm_rule *rules = NULL;
	size_t nr = 0;
	if (ckpt_perm_parse_arg("new/w=1,0", &rules, &nr, &err) == 0 &&
	    ckpt_perm_parse_arg("new/=1:0", &rules, &nr, &err) == 0 &&
	    ckpt_perm_parse_arg("/=0", &rules, &nr, &err) == 0)
		fuzz_resolve_fixed_perms(&scope, 1, t, n, rules, nr);
	ckpt_perm_rules_free(rules, nr);
	ckpt_targets_free(t, n);
	return 0;
}
