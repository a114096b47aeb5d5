/*
 * mapfile.c - the command-line forms of the map: --map CKPT=TARGET,
 * --map-file (JSON), --targets (JSON), --cast FROM=TO, --perm NAME=AXES.
 *
 * JSON is read with jansson; syntax errors are reported as
 * "FILE:LINE:COL: <jansson's text>", schema errors as "FILE: <where>: <what>".
 */
#include "ckpt/resolve.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error_int.h"
#include "map/resolve_int.h"
#include "util/strbuf_int.h"

static int oom(ckpt_error *err)
{
	return ckpt__error(err, CKPT_ENOMEM, "out of memory");
}

void ckpt_map_entries_free(ckpt_map_entry *entries, size_t n)
{
	if (entries == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(entries[i].ckpt);
		free(entries[i].target);
		for (size_t j = 0; j < entries[i].n_target_list; j++)
			free(entries[i].target_list[j]);
		free(entries[i].target_list);
	}
	free(entries);
}

/* Append a zeroed entry; NULL on allocation failure. */
static ckpt_map_entry *append(ckpt_map_entry **entries, size_t *n)
{
	if (*n >= SIZE_MAX / sizeof(**entries) - 1)
		return NULL;
	ckpt_map_entry *e = realloc(*entries, (*n + 1) * sizeof(*e));
	if (e == NULL)
		return NULL;
	*entries = e;
	memset(&e[*n], 0, sizeof(*e));
	return &e[(*n)++];
}

static char *dup_n(const char *s, size_t len)
{
	char *r = malloc(len + 1);
	if (r != NULL) {
		memcpy(r, s, len);
		r[len] = '\0';
	}
	return r;
}

int ckpt_map_parse_arg(const char *arg, ckpt_map_entry **entries, size_t *n, ckpt_error *err)
{
	/* Split at the last '=': see the header. */
	const char *eq = strrchr(arg, '=');
	if (eq == NULL || eq == arg || eq[1] == '\0')
		return ckpt__error(err, CKPT_EINVAL,
				   "--map %s: expected CKPT=TARGET (e.g. "
				   "old/=new/), both non-empty",
				   arg);
	char *k = dup_n(arg, (size_t)(eq - arg));
	char *v = dup_n(eq + 1, strlen(eq + 1));
	ckpt_map_entry *e = k && v ? append(entries, n) : NULL;
	if (e == NULL) {
		free(k);
		free(v);
		return oom(err);
	}
	e->ckpt = k;
	e->target = v;
	return 0;
}

/* Open and parse a JSON file; *root owns a reference. */
static int load_json(const char *path, json_t **root, ckpt_error *err)
{
	FILE *fp = fopen(path, "rb");
	if (fp == NULL)
		return ckpt__error(err, errno == ENOENT ? CKPT_ENOTFOUND : CKPT_EIO, "%s: %s", path,
				   strerror(errno));
	json_error_t je;
	*root = json_loadf(fp, JSON_REJECT_DUPLICATES, &je);
	fclose(fp);
	if (*root == NULL)
		return ckpt__error(err, CKPT_EINVAL, "%s:%d:%d: %s", path, je.line, je.column,
				   je.text);
	return 0;
}

/* A value of the map: a name, or a list of names. */
static int set_value(ckpt_map_entry *e, const json_t *v)
{
	if (json_is_string(v)) {
		if (json_string_length(v) == 0)
			return -1;
		e->target = dup_n(json_string_value(v), json_string_length(v));
		return e->target ? 0 : -2;
	}
	if (!json_is_array(v))
		return -1;
	size_t m = json_array_size(v);
	e->target_list = calloc(m ? m : 1, sizeof(char *));
	if (e->target_list == NULL)
		return -2;
	for (size_t i = 0; i < m; i++) {
		const json_t *s = json_array_get(v, i);
		if (!json_is_string(s) || json_string_length(s) == 0)
			return -1;
		e->target_list[i] = dup_n(json_string_value(s), json_string_length(s));
		if (e->target_list[i] == NULL)
			return -2;
		e->n_target_list = i + 1;
	}
	return 0;
}

static int add_pair(const char *path, const char *where, const char *key, size_t klen,
		    const json_t *v, ckpt_map_entry **entries, size_t *n, ckpt_error *err)
{
	if (klen == 0)
		return ckpt__error(err, CKPT_EINVAL, "%s: %s: empty checkpoint name", path, where);
	ckpt_map_entry *e = append(entries, n);
	if (e == NULL)
		return oom(err);
	e->ckpt = dup_n(key, klen);
	int rc = e->ckpt ? set_value(e, v) : -2;
	if (rc == -1)
		return ckpt__error(err, CKPT_EINVAL,
				   "%s: %s: the target must be a non-empty "
				   "string or a list of non-empty strings",
				   path, where);
	return rc == 0 ? 0 : oom(err);
}

int ckpt_map_load_file(const char *path, ckpt_map_entry **entries, size_t *n, ckpt_error *err)
{
	json_t *root;
	int rc = load_json(path, &root, err);
	if (rc != 0)
		return rc;
	if (json_is_object(root)) {
		const char *key;
		json_t *v;
		/* jansson >= 2.8 iterates in file order */
		size_t i = 0;
		json_object_foreach(root, key, v)
		{
			char where[64];
			snprintf(where, sizeof(where), "entry %zu", i++);
			rc = add_pair(path, where, key, strlen(key), v, entries, n, err);
			if (rc != 0)
				break;
		}
	} else if (json_is_array(root)) {
		for (size_t i = 0; i < json_array_size(root) && rc == 0; i++) {
			const json_t *p = json_array_get(root, i);
			char where[64];
			snprintf(where, sizeof(where), "pair %zu", i);
			const json_t *k = json_array_get(p, 0);
			if (!json_is_array(p) || json_array_size(p) != 2 || !json_is_string(k)) {
				rc = ckpt__error(err, CKPT_EINVAL,
						 "%s: %s: expected a [\"ckpt\", "
						 "\"target\"] pair",
						 path, where);
				break;
			}
			rc = add_pair(path, where, json_string_value(k), json_string_length(k),
				      json_array_get(p, 1), entries, n, err);
		}
	} else {
		rc = ckpt__error(err, CKPT_EINVAL,
				 "%s: expected a JSON object {\"ckpt\": "
				 "\"target\", ...} or an array of [\"ckpt\", "
				 "\"target\"] pairs",
				 path);
	}
	json_decref(root);
	return rc;
}

int ckpt_map_to_json(const ckpt_map_entry *entries, size_t n, char **out, ckpt_error *err)
{
	json_t *root = json_array();
	int bad = root == NULL;
	*out = NULL;
	for (size_t i = 0; i < n && !bad; i++) {
		const ckpt_map_entry *e = &entries[i];
		json_t *pair = json_array(), *v = NULL;
		/* append_new takes (and on failure frees) what it is given */
		bad = pair == NULL || json_array_append_new(root, pair) ||
		      json_array_append_new(pair, json_string(e->ckpt)) ||
		      json_array_append_new(pair, v = e->target_list ? json_array()
								     : json_string(e->target));
		for (size_t j = 0; !bad && e->target_list && j < e->n_target_list; j++)
			bad = json_array_append_new(v, json_string(e->target_list[j])) != 0;
	}
	if (!bad)
		*out = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (*out)
		return 0;
	return ckpt__error(err, CKPT_EINVAL,
			   "the map as JSON: a name is not valid UTF-8 (or out of memory)");
}

void ckpt_targets_free(ckpt_target_var *t, size_t n)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free(t[i].name);
		free(t[i].dims);
		free(t[i].partitions);
		free(t[i].perm);
	}
	free(t);
}

/* A JSON list of integers into a new array; -1 if not such a list. */
static int int_list(const json_t *a, int64_t **out, int *len)
{
	if (!json_is_array(a) || json_array_size(a) > CKPT_RESOLVE_MAX_RANK)
		return -1;
	size_t m = json_array_size(a);
	*out = calloc(m ? m : 1, sizeof(int64_t));
	if (*out == NULL)
		return -2;
	for (size_t i = 0; i < m; i++) {
		const json_t *x = json_array_get(a, i);
		if (!json_is_integer(x))
			return -1;
		(*out)[i] = (int64_t)json_integer_value(x);
	}
	*len = (int)m;
	return 0;
}

static int load_var(const json_t *o, ckpt_target_var *v, ckpt_error *err)
{
	if (!json_is_object(o))
		return ckpt__error(err, CKPT_EINVAL,
				   "expected an object {\"name\", \"dtype\", "
				   "\"shape\", \"partitions\"}");
	const json_t *name = json_object_get(o, "name");
	if (!json_is_string(name) || json_string_length(name) == 0 ||
	    strlen(json_string_value(name)) != json_string_length(name))
		return ckpt__error(err, CKPT_EINVAL, "\"name\" must be a non-empty string");
	v->name = strdup(json_string_value(name));
	if (v->name == NULL)
		return oom(err);
	const json_t *dt = json_object_get(o, "dtype");
	if (!json_is_string(dt) || ckpt_dtype_parse(json_string_value(dt), &v->dtype) != 0 ||
	    (!ckpt_dtype_is_numeric(v->dtype) && v->dtype != CKPT_DT_STRING))
		return ckpt__error(err, CKPT_EINVAL,
				   "\"dtype\" must name a numeric dtype or "
				   "string (e.g. \"float32\", \"bfloat16\")");
	/* null = unknown rank, -1 = unknown dimension (as --list-targets
	 * writes a graph's unknown shapes); any checkpoint shape fits them */
	const json_t *sj = json_object_get(o, "shape");
	int rc = 0;
	if (json_is_null(sj))
		v->rank = -1;
	else
		rc = int_list(sj, &v->dims, &v->rank);
	if (rc == -2)
		return oom(err);
	for (int d = 0; rc == 0 && d < v->rank; d++)
		rc = v->dims[d] < -1 ? -1 : 0;
	if (rc != 0)
		return ckpt__error(err, CKPT_EINVAL,
				   "\"shape\" must be null or a list of at "
				   "most %d integers >= -1",
				   CKPT_RESOLVE_MAX_RANK);
	const json_t *pj = json_object_get(o, "partitions");
	if (pj != NULL && !json_is_null(pj)) {
		int np = 0;
		rc = int_list(pj, &v->partitions, &np);
		if (rc == -2)
			return oom(err);
		if (rc != 0)
			return ckpt__error(err, CKPT_EINVAL,
					   "\"partitions\" must be a list of "
					   "integers, one per dimension");
		if (v->rank > 0 && np != v->rank) {
			/* variable_scope.py, _call_partitioner */
			ckpt_sbuf b = CKPT_SBUF_INIT;
			ckpt__sb_puts(&b, "Partitioner returned a partition "
					  "list that does not match the "
					  "Variable's rank: ");
			ckpt__sb_list_py(&b, np, v->partitions);
			ckpt__sb_puts(&b, " vs. ");
			ckpt__sb_shape_py(&b, v->rank, v->dims);
			rc = b.oom ? oom(err) : ckpt__error(err, CKPT_EINVAL, "%s", b.p);
			free(b.p);
			return rc;
		}
	}
	const json_t *xj = json_object_get(o, "perm");
	if (xj != NULL && !json_is_null(xj)) {
		int64_t *axes = NULL;
		int nx = 0;
		rc = int_list(xj, &axes, &nx);
		if (rc == 0 && (v->perm = malloc((size_t)(nx ? nx : 1) * sizeof(int))) == NULL)
			rc = -2;
		for (int d = 0; rc == 0 && d < nx; d++)
			v->perm[d] = axes[d] >= 0 && axes[d] < nx ? (int)axes[d] : -1;
		free(axes);
		if (rc == -2)
			return oom(err);
		if (rc == 0 && v->rank < 0)
			return ckpt__error(err, CKPT_EINVAL,
					   "\"perm\" needs a \"shape\" (not null): its rank");
		if (rc != 0 || nx != v->rank || ckpt__perm_check(v->perm, nx) != 0)
			return ckpt__error(
			    err, CKPT_EINVAL,
			    "\"perm\" must list the axes 0..%d in some order "
			    "(numpy.transpose's axes), one per dimension of \"shape\"",
			    v->rank - 1);
	}
	int sd;
	int64_t parts;
	return ckpt__target_check(v, &sd, &parts, err);
}

int ckpt_targets_load_file(const char *path, ckpt_target_var **out, size_t *n, ckpt_error *err)
{
	json_t *root;
	*out = NULL;
	*n = 0;
	int rc = load_json(path, &root, err);
	if (rc != 0)
		return rc;
	const json_t *list = json_is_object(root) ? json_object_get(root, "variables") : root;
	if (!json_is_array(list)) {
		json_decref(root);
		return ckpt__error(err, CKPT_EINVAL,
				   "%s: expected {\"variables\": [...]} or a "
				   "list of variables",
				   path);
	}
	size_t m = json_array_size(list);
	ckpt_target_var *t = calloc(m ? m : 1, sizeof(*t));
	if (t == NULL) {
		json_decref(root);
		return oom(err);
	}
	for (size_t i = 0; i < m && rc == 0; i++) {
		rc = load_var(json_array_get(list, i), &t[i], err);
		if (rc != 0)
			ckpt__error_prefix(err, "%s: variable %zu (%s)", path, i,
					   t[i].name ? t[i].name : "?");
	}
	json_decref(root);
	if (rc != 0) {
		ckpt_targets_free(t, m);
		return rc;
	}
	*out = t;
	*n = m;
	return 0;
}

int ckpt_cast_parse_arg(const char *arg, ckpt_cast *out, ckpt_error *err)
{
	const char *eq = strchr(arg, '=');
	char from[32];
	size_t fl = eq ? (size_t)(eq - arg) : 0;
	if (eq == NULL || fl == 0 || fl >= sizeof(from) || strchr(eq + 1, '=') != NULL)
		return ckpt__error(err, CKPT_EINVAL,
				   "--cast %s: expected FROM=TO (e.g. "
				   "float32=bfloat16)",
				   arg);
	memcpy(from, arg, fl);
	from[fl] = '\0';
	int bad_from = ckpt_dtype_parse(from, &out->from) != 0;
	if (bad_from || ckpt_dtype_parse(eq + 1, &out->to) != 0) {
		char names[320];
		ckpt_dtype_names(names, sizeof(names));
		return ckpt__error(err, CKPT_EINVAL, "--cast %s: unknown dtype %s (accepted: %s)",
				   arg, bad_from ? from : eq + 1, names);
	}
	if (!ckpt__cast_ok(out->from, out->to))
		return ckpt__error(err, CKPT_EINVAL,
				   "--cast %s: numbers convert only to numbers, "
				   "strings only to strings",
				   arg);
	return 0;
}

int ckpt__perm_check(const int *axes, int rank)
{
	uint64_t seen[(CKPT_RESOLVE_MAX_RANK + 63) / 64] = {0};
	if (rank < 0 || rank > CKPT_RESOLVE_MAX_RANK || (rank > 0 && axes == NULL))
		return -1;
	for (int d = 0; d < rank; d++) {
		int a = axes[d];
		if (a < 0 || a >= rank || (seen[a / 64] >> (a % 64) & 1))
			return -1;
		seen[a / 64] |= 1ull << (a % 64);
	}
	return 0;
}

int ckpt__perm_is_identity(const int *axes, int rank)
{
	for (int d = 0; axes && d < rank; d++)
		if (axes[d] != d)
			return 0;
	return 1;
}

void ckpt_perm_rules_free(ckpt_perm_rule *rules, size_t n)
{
	for (size_t i = 0; rules && i < n; i++) {
		free(rules[i].name);
		free(rules[i].axes);
	}
	free(rules);
}

int ckpt_perm_parse_arg(const char *arg, ckpt_perm_rule **rules, size_t *n, ckpt_error *err)
{
	/* Split at the last '=', as --map: a TF2 key may hold '=' */
	const char *eq = strrchr(arg, '=');
	if (eq == NULL || eq == arg)
		return ckpt__error(err, CKPT_EINVAL,
				   "--perm %s: expected NAME=AXES (e.g. dense/kernel=1,0)", arg);
	const char *s = eq + 1;
	int axes[CKPT_RESOLVE_MAX_RANK + 1], k = 0;
	while (*s != '\0') {
		if (k > CKPT_RESOLVE_MAX_RANK || *s < '0' || *s > '9')
			break;
		long a = 0;
		while (*s >= '0' && *s <= '9' && a <= CKPT_RESOLVE_MAX_RANK)
			a = a * 10 + (*s++ - '0');
		axes[k++] = a > CKPT_RESOLVE_MAX_RANK ? -1 : (int)a;
		if ((*s != ',' && *s != ':') || s[1] == '\0')
			break;
		s++;
	}
	if (*s != '\0' || ckpt__perm_check(axes, k) != 0)
		return ckpt__error(err, CKPT_EINVAL,
				   "--perm %s: AXES must be a permutation of 0..N-1 for a "
				   "target of rank N, e.g. 1,0 (numpy.transpose's axes)",
				   arg);
	if (*n >= SIZE_MAX / sizeof(**rules) - 1)
		return oom(err);
	ckpt_perm_rule *r = realloc(*rules, (*n + 1) * sizeof(*r));
	if (r == NULL)
		return oom(err);
	*rules = r;
	r = &r[*n];
	r->name = dup_n(arg, (size_t)(eq - arg));
	r->axes = malloc((size_t)(k ? k : 1) * sizeof(int));
	r->rank = k;
	if (r->name == NULL || r->axes == NULL) {
		free(r->name);
		free(r->axes);
		return oom(err);
	}
	memcpy(r->axes, axes, (size_t)k * sizeof(int));
	(*n)++;
	return 0;
}
