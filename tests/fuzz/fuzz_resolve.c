/* The fixed checkpoint fuzz_map and fuzz_targets resolve against. */
#include "fuzz_resolve.h"

#include "fuzz.h"

static const int64_t d43[] = {4, 3}, d3[] = {3}, d24[] = {2, 4}, d2[] = {2}, d5[] = {5};

static const ckpt_tensor tensors[] = {
    {"a/w", CKPT_DT_FLOAT, 2, d43, 12, 1, 0},
    {"a/b", CKPT_DT_FLOAT, 1, d3, 3, 1, 0},
    {"a/emb/part_0", CKPT_DT_FLOAT, 2, d24, 8, 1, 0},
    {"a/emb/part_1", CKPT_DT_FLOAT, 2, d24, 8, 1, 0},
    {"a/w/Adam", CKPT_DT_FLOAT, 2, d43, 12, 1, 0},
    {"step", CKPT_DT_INT64, 0, NULL, 1, 1, 0},
    {"s", CKPT_DT_STRING, 1, d2, 2, 1, 0},
    {"x", CKPT_DT_BFLOAT16, 1, d5, 5, 1, 0},
    {"p", CKPT_DT_INT32, 2, d43, 12, 1, 1},
};

void fuzz_resolve_fixed(const ckpt_map_entry *e, size_t n, const ckpt_target_var *t, size_t nt)
{
	fuzz_resolve_fixed_perms(e, n, t, nt, NULL, 0);
}

void fuzz_resolve_fixed_perms(const ckpt_map_entry *e, size_t n, const ckpt_target_var *t,
			      size_t nt, const ckpt_perm_rule *r, size_t nr)
{
	static const ckpt_cast cast = {CKPT_DT_FLOAT, CKPT_DT_BFLOAT16};
	for (int mode = 0; mode < 3; mode++) {
		ckpt_resolve_opts o = CKPT_RESOLVE_OPTS_INIT;
		ckpt_plan *plan = NULL;
		ckpt_error err;
		o.entries = e;
		o.n_entries = n;
		o.targets = t;
		o.n_targets = nt;
		o.casts = &cast;
		o.n_casts = mode == 1;
		o.strict = mode == 2;
		o.perms = r;
		o.n_perms = nr;
		o.ckpt_path = "fuzz";
		if (ckpt_resolve(&o, tensors, sizeof(tensors) / sizeof(tensors[0]), &plan, &err))
			continue;
		char *s = NULL;
		if (ckpt_plan_to_text(plan, &s, &err) == 0)
			ckpt_plan_string_free(s);
		s = NULL;
		if (ckpt_plan_to_json(plan, CKPT_PLAN_JSON_PRETTY, &s, &err) == 0)
			ckpt_plan_string_free(s);
		ckpt_plan_free(plan);
	}
}
