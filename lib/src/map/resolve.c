/*
 * resolve.c - assignment map -> plan, following
 * spec/init_from_checkpoint_semantics.md (section numbers below are its).
 *
 * The "variable store" (§2) is a sorted array of keys: a whole variable is
 * keyed by its name, a partitioned one by "<name>/part_N" for each part.
 * Phases:
 *  0. Build the store: from the explicit target variables, or (no targets)
 *     inferred from the map: each entry contributes the variables that TF's
 *     rules would map onto checkpoint tensors, with the tensor's dtype and
 *     shape; when several entries name one variable the last one (in
 *     processing order) gives its dtype and shape.
 *  1. Graph construction: the entries in ascending key order (§3), each
 *     classified (§4) and handled by the one-to-one (§5) or scope (§6) rules
 *     with TF's ValueError texts; an assignment to a store key replaces an
 *     earlier one (the last processed wins).
 *  2. Initializers run: for every assignment, in plan order, RestoreV2's
 *     checks (§8: dtype, shape_and_slice, slices) and the assign's shape
 *     check, then the plan entry.
 */
#include "ckpt/resolve.h"

#include <stdlib.h>
#include <string.h>

#include "util/error_int.h"
#include "map/resolve_int.h"
#include "util/strbuf_int.h"

typedef struct svar {
	const char *name;
	ckpt_dtype dtype;
	int rank; /* -1: unknown shape (inferred placeholder) */
	const int64_t *dims;
	int slice_dim; /* -1: not partitioned */
	int64_t nparts;
	const int *perm; /* NULL, or perm_rank axes (ckpt_target_var.perm) */
	int perm_rank;
} svar;

typedef struct skey {
	char *key;
	size_t var;
	int64_t part; /* -1: the variable itself */
} skey;

typedef struct asg {
	int set;
	int sliced; /* restore with the part's slice spec */
	size_t tensor;
} asg;

/* An inferred variable (phase 0 without targets). */
typedef struct irec {
	char *name;
	size_t tensor;	 /* valid unless placeholder */
	int placeholder; /* one-to-one key not in the checkpoint */
	size_t seq;
} irec;

typedef struct rctx {
	const ckpt_resolve_opts *o;
	const ckpt_tensor *t;
	size_t nt;
	const ckpt_tensor **sorted; /* tensors by name */
	svar *vars;
	size_t nvars;
	irec *inferred;
	size_t ninferred;
	skey *keys; /* sorted by key */
	size_t nkeys;
	asg *asg;	   /* per key */
	size_t *list;	   /* scratch for collect_parts */
	size_t *hits;	   /* per map entry: variables it assigned */
	size_t *perm_hits; /* per --perm rule: variables it permuted */
	int64_t **owned;   /* permuted dims made here (freed with the context) */
	size_t n_owned;
	ckpt_error *err;
} rctx;

/* qsort, skipped when the input is already in order (the reader hands
 * tensors over sorted, so most sorts here are no-ops on big checkpoints). */
static void sort_once(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	const char *b = base;
	for (size_t i = 1; i < n; i++)
		if (cmp(b + (i - 1) * size, b + i * size) > 0) {
			qsort(base, n, size, cmp);
			return;
		}
}

static int oom(ckpt_error *err)
{
	return ckpt__error(err, CKPT_ENOMEM, "out of memory");
}

/* Set err from a built message; frees the buffer. */
static int fail_sb(ckpt_error *err, int code, ckpt_sbuf *b)
{
	int rc = b->oom ? oom(err) : ckpt__error(err, code, "%s", ckpt__sb_str(b));
	free(b->p);
	return rc;
}

static int ends_with_slash(const char *s)
{
	size_t n = strlen(s);
	return n > 0 && s[n - 1] == '/';
}

static int mul_elems(uint64_t *acc, int64_t d)
{
	return d < 0 || __builtin_mul_overflow(*acc, (uint64_t)d, acc) ||
	       *acc > (uint64_t)INT64_MAX;
}

void ckpt__part_range(int64_t size, int64_t n, int64_t i, int64_t *off, int64_t *len)
{
	int64_t q = size / n, r = size % n;

	if (i < r) {
		*off = i * (q + 1);
		*len = q + 1;
	} else {
		*off = r * (q + 1) + (i - r) * q;
		*len = q;
	}
}

int ckpt__target_check(const ckpt_target_var *v, int *slice_dim, int64_t *nparts, ckpt_error *err)
{
	*slice_dim = -1;
	*nparts = 0;
	if (v->name == NULL || v->name[0] == '\0')
		return ckpt__error(err, CKPT_EINVAL, "empty variable name");
	/* A graph may leave the shape unknown: rank -1, or a dimension -1
	 * (TensorShape's None). Then any checkpoint shape is compatible and
	 * the variable takes it; such a variable cannot be partitioned. */
	int unknown = v->rank == -1;
	for (int d = 0; !unknown && v->dims && d < v->rank; d++)
		unknown = v->dims[d] == -1;
	if (unknown && v->partitions == NULL) {
		if (v->dtype <= CKPT_DT_INVALID || v->dtype >= CKPT_DT_COUNT_)
			return ckpt__error(err, CKPT_EINVAL, "unknown dtype %d", (int)v->dtype);
		if (v->rank > CKPT_RESOLVE_MAX_RANK)
			return ckpt__error(err, CKPT_EINVAL, "rank %d out of range", v->rank);
		for (int d = 0; d < v->rank; d++)
			if (v->dims[d] < -1)
				return ckpt__error(err, CKPT_EINVAL, "negative dimension %lld",
						   (long long)v->dims[d]);
		return 0;
	}
	if (v->rank < 0 || v->rank > CKPT_RESOLVE_MAX_RANK || (v->rank > 0 && v->dims == NULL))
		return ckpt__error(err, CKPT_EINVAL, "rank %d out of range", v->rank);
	if (v->dtype <= CKPT_DT_INVALID || v->dtype >= CKPT_DT_COUNT_)
		return ckpt__error(err, CKPT_EINVAL, "unknown dtype %d", (int)v->dtype);
	uint64_t elems = 1;
	for (int d = 0; d < v->rank; d++) {
		if (v->dims[d] < 0)
			return ckpt__error(err, CKPT_EINVAL, "negative dimension %lld",
					   (long long)v->dims[d]);
		if (mul_elems(&elems, v->dims[d]))
			return ckpt__error(err, CKPT_ERANGE, "shape has more than 2^63-1 elements");
	}
	if (v->partitions == NULL)
		return 0;

	ckpt_sbuf b = CKPT_SBUF_INIT;
	if (v->rank == 0) {
		/* variable_scope.py, _get_partitioned_variable */
		ckpt__sb_puts(&b, "A partitioned Variable must have rank at "
				  "least 1, shape: ");
		ckpt__sb_shape_py(&b, v->rank, v->dims);
		return fail_sb(err, CKPT_EINVAL, &b);
	}
	int sliced = 0, first = -1;
	int zero = 0;
	for (int d = 0; d < v->rank; d++) {
		if (v->partitions[d] < 1)
			zero = 1;
		else if (v->partitions[d] > 1 && sliced++ == 0)
			first = d;
	}
	if (zero) {
		ckpt__sb_puts(&b, "Partitioner returned zero partitions for "
				  "some axes: ");
		ckpt__sb_list_py(&b, v->rank, v->partitions);
		return fail_sb(err, CKPT_EINVAL, &b);
	}
	if (sliced > 1) {
		ckpt__sb_puts(&b, "Can only slice a variable along one "
				  "dimension: shape: ");
		ckpt__sb_shape_py(&b, v->rank, v->dims);
		ckpt__sb_puts(&b, ", partitioning: ");
		ckpt__sb_list_py(&b, v->rank, v->partitions);
		return fail_sb(err, CKPT_EINVAL, &b);
	}
	*slice_dim = first < 0 ? 0 : first;
	*nparts = first < 0 ? 1 : v->partitions[first];
	if (*nparts > CKPT_RESOLVE_MAX_PARTS)
		return ckpt__error(err, CKPT_ERANGE, "%lld partitions (at most %d supported)",
				   (long long)*nparts, CKPT_RESOLVE_MAX_PARTS);
	return 0;
}

/* ---- lookups ---- */

static int cmp_tensor(const void *a, const void *b)
{
	const ckpt_tensor *x = *(const ckpt_tensor *const *)a;
	const ckpt_tensor *y = *(const ckpt_tensor *const *)b;
	return strcmp(x->name, y->name);
}

static int cmp_key(const void *a, const void *b)
{
	return strcmp(((const skey *)a)->key, ((const skey *)b)->key);
}

/* First sorted tensor whose name is >= s. */
static size_t tensor_lower(const rctx *c, const char *s)
{
	size_t lo = 0, hi = c->nt;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(c->sorted[mid]->name, s) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Index into c->t of the tensor named s, or -1. */
static long long tensor_find(const rctx *c, const char *s)
{
	size_t i = tensor_lower(c, s);
	if (i < c->nt && strcmp(c->sorted[i]->name, s) == 0)
		return (long long)(c->sorted[i] - c->t);
	return -1;
}

static size_t key_lower(const rctx *c, const char *s)
{
	size_t lo = 0, hi = c->nkeys;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcmp(c->keys[mid].key, s) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static long long key_find(const rctx *c, const char *s)
{
	size_t i = key_lower(c, s);
	if (i < c->nkeys && strcmp(c->keys[i].key, s) == 0)
		return (long long)i;
	return -1;
}

/* The shape of store key k (a part's own shape) into buf. */
static void key_shape(const rctx *c, size_t k, int64_t *buf)
{
	const skey *key = &c->keys[k];
	const svar *v = &c->vars[key->var];
	for (int d = 0; d < v->rank; d++)
		buf[d] = v->dims[d];
	if (key->part >= 0) {
		int64_t off;
		ckpt__part_range(v->dims[v->slice_dim], v->nparts, key->part, &off,
				 &buf[v->slice_dim]);
	}
}

/*
 * §4 collect_parts: "<name>/part_0", "/part_1", ... while present. Fills
 * c->list; returns the count (0 = None).
 */
static int collect_parts(rctx *c, const char *name, size_t *count)
{
	ckpt_sbuf b = CKPT_SBUF_INIT;
	*count = 0;
	for (size_t i = 0; i < c->nkeys; i++) {
		b.len = 0;
		ckpt__sb_printf(&b, "%s/part_%zu", name, i);
		if (b.oom) {
			free(b.p);
			return oom(c->err);
		}
		long long k = key_find(c, b.p);
		if (k < 0)
			break;
		c->list[(*count)++] = (size_t)k;
	}
	free(b.p);
	return 0;
}

/* ---- phase 0: the store ---- */

/* Source axis of variable axis d (perm: the variable is transposed). */
static int src_axis(const svar *v, int d)
{
	return v->perm && d < v->perm_rank ? v->perm[d] : d;
}

/* Dimension of checkpoint tensor t along variable v's axis d; -2 (which
 * matches nothing) where t has no such axis. */
static int64_t src_dim(const svar *v, const ckpt_tensor *t, int d)
{
	int a = src_axis(v, d);
	return a >= 0 && a < t->rank ? t->dims[a] : -2;
}

/* v->dims := src (a checkpoint tensor's dims) permuted by v->perm. */
static int permute_dims(rctx *c, svar *v, const int64_t *src, int rank)
{
	int64_t **o = realloc(c->owned, (c->n_owned + 1) * sizeof(*o));
	if (o == NULL)
		return oom(c->err);
	c->owned = o;
	int64_t *d = malloc((size_t)(rank ? rank : 1) * sizeof(*d));
	if (d == NULL)
		return oom(c->err);
	o[c->n_owned++] = d;
	for (int k = 0; k < rank; k++)
		d[k] = src[v->perm[k]];
	v->rank = rank;
	v->dims = d;
	return 0;
}

/* " (its perm [1, 0] makes that [5, 3])": what a permuted variable is
 * compared with, after TF's text about the checkpoint's shape. */
static void perm_note(ckpt_sbuf *b, const svar *v, const ckpt_tensor *t)
{
	if (v->perm == NULL || v->perm_rank != t->rank)
		return;
	int64_t x[CKPT_RESOLVE_MAX_RANK];
	for (int d = 0; d < v->perm_rank; d++)
		x[d] = v->perm[d];
	ckpt__sb_puts(b, " (with perm ");
	ckpt__sb_list_py(b, v->perm_rank, x);
	for (int d = 0; d < t->rank; d++)
		x[d] = t->dims[v->perm[d]];
	ckpt__sb_puts(b, " the checkpoint tensor is ");
	ckpt__sb_list_py(b, t->rank, x);
	ckpt__sb_puts(b, ")");
}

/* Can a variable of this dtype be permuted (fixed-size elements)? */
static int perm_dtype_ok(ckpt_dtype d)
{
	return d != CKPT_DT_STRING && d != CKPT_DT_VARIANT;
}

/* The --perm rule for variable v: an exact name, else the longest scope
 * of its rank; the last given wins a tie. -1: none. */
static long perm_rule_of(const rctx *c, const svar *v)
{
	const ckpt_perm_rule *r = c->o->perms;
	long best = -1;
	size_t best_len = 0;
	for (size_t i = 0; i < c->o->n_perms; i++) {
		size_t len = strlen(r[i].name);
		if (strcmp(r[i].name, v->name) == 0) {
			best = (long)i;
			best_len = SIZE_MAX;
			continue;
		}
		if (len == 0 || r[i].name[len - 1] != '/' || len < best_len ||
		    r[i].rank != v->rank || !perm_dtype_ok(v->dtype))
			continue;
		if (strcmp(r[i].name, "/") == 0 || strncmp(v->name, r[i].name, len) == 0) {
			best = (long)i;
			best_len = len;
		}
	}
	return best;
}

/*
 * The --perm rules over the store's variables (after phase 0), and the
 * dims of permuted variables taken from the checkpoint (inferred, as is):
 * those are the permuted tensor's.
 */
static int apply_perms(rctx *c)
{
	const ckpt_resolve_opts *o = c->o;
	if (o->n_perms > 0 && (c->perm_hits = calloc(o->n_perms, sizeof(size_t))) == NULL)
		return oom(c->err);
	for (size_t i = 0; i < o->n_perms; i++)
		if (o->perms[i].name == NULL || o->perms[i].name[0] == '\0' ||
		    ckpt__perm_check(o->perms[i].axes, o->perms[i].rank) != 0)
			return ckpt__error(c->err, CKPT_EINVAL, "--perm rule %zu is malformed", i);
	for (size_t i = 0; i < c->nvars; i++) {
		svar *v = &c->vars[i];
		long k = perm_rule_of(c, v);
		if (k >= 0) {
			const ckpt_perm_rule *r = &o->perms[k];
			if (v->rank >= 0 && v->rank != r->rank)
				return ckpt__error(c->err, CKPT_EINVAL,
						   "--perm %s: %d axes, but target variable %s "
						   "has rank %d",
						   r->name, r->rank, v->name, v->rank);
			v->perm = r->axes;
			v->perm_rank = r->rank;
			c->perm_hits[k]++;
		}
		if (v->perm == NULL)
			continue;
		if (!perm_dtype_ok(v->dtype))
			return ckpt__error(c->err, CKPT_EINVAL,
					   "target variable %s: a %s tensor cannot be permuted "
					   "(its elements have no fixed size)",
					   v->name, ckpt_dtype_name(v->dtype));
		if (o->targets == NULL && v->rank >= 0) {
			int rc = permute_dims(c, v, v->dims, v->rank);
			if (rc != 0)
				return rc;
		}
	}
	return 0;
}

static int check_tensors(rctx *c)
{
	for (size_t i = 0; i < c->nt; i++) {
		const ckpt_tensor *t = &c->t[i];
		if (t->name == NULL || t->rank < 0 || t->rank > CKPT_RESOLVE_MAX_RANK ||
		    (t->rank > 0 && t->dims == NULL))
			return ckpt__error(c->err, CKPT_EINVAL,
					   "checkpoint tensor %zu is malformed", i);
		uint64_t e = 1;
		for (int d = 0; d < t->rank; d++)
			if (mul_elems(&e, t->dims[d]))
				return ckpt__error(c->err, CKPT_ERANGE,
						   "checkpoint tensor %s: bad shape", t->name);
	}
	c->sorted = malloc((c->nt ? c->nt : 1) * sizeof(*c->sorted));
	if (c->sorted == NULL)
		return oom(c->err);
	for (size_t i = 0; i < c->nt; i++)
		c->sorted[i] = &c->t[i];
	sort_once(c->sorted, c->nt, sizeof(*c->sorted), cmp_tensor);
	for (size_t i = 1; i < c->nt; i++)
		if (strcmp(c->sorted[i - 1]->name, c->sorted[i]->name) == 0)
			return ckpt__error(c->err, CKPT_EINVAL, "checkpoint lists tensor %s twice",
					   c->sorted[i]->name);
	return 0;
}

static int add_key(rctx *c, size_t *nk, const char *name, size_t var, int64_t part)
{
	ckpt_sbuf b = CKPT_SBUF_INIT;
	if (part < 0)
		ckpt__sb_puts(&b, name);
	else
		ckpt__sb_printf(&b, "%s/part_%lld", name, (long long)part);
	if (b.oom) {
		free(b.p);
		return oom(c->err);
	}
	c->keys[*nk].key = b.p;
	c->keys[*nk].var = var;
	c->keys[*nk].part = part;
	(*nk)++;
	return 0;
}

/* Sort the keys, refuse duplicates, allocate the assignment table. */
static int finish_store(rctx *c)
{
	sort_once(c->keys, c->nkeys, sizeof(*c->keys), cmp_key);
	for (size_t i = 1; i < c->nkeys; i++)
		if (strcmp(c->keys[i - 1].key, c->keys[i].key) == 0)
			return ckpt__error(c->err, CKPT_EINVAL,
					   "target variable name %s is used twice", c->keys[i].key);
	c->asg = calloc(c->nkeys ? c->nkeys : 1, sizeof(*c->asg));
	c->list = malloc((c->nkeys ? c->nkeys : 1) * sizeof(*c->list));
	if (c->asg == NULL || c->list == NULL)
		return oom(c->err);
	return 0;
}

static int store_from_targets(rctx *c)
{
	const ckpt_target_var *tv = c->o->targets;
	size_t n = c->o->n_targets, total = 0;

	c->vars = calloc(n ? n : 1, sizeof(*c->vars));
	if (c->vars == NULL)
		return oom(c->err);
	for (size_t i = 0; i < n; i++) {
		svar *v = &c->vars[i];
		int rc = ckpt__target_check(&tv[i], &v->slice_dim, &v->nparts, c->err);
		if (rc != 0) {
			ckpt__error_prefix(c->err, "target variable %s",
					   tv[i].name ? tv[i].name : "(null)");
			return rc;
		}
		v->name = tv[i].name;
		v->dtype = tv[i].dtype;
		v->rank = tv[i].rank;
		v->dims = tv[i].dims;
		v->perm = tv[i].perm; /* checked by the loader: rank axes */
		v->perm_rank = tv[i].perm ? tv[i].rank : 0;
		size_t k = v->nparts > 0 ? (size_t)v->nparts : 1;
		if (__builtin_add_overflow(total, k, &total) || total > SIZE_MAX / sizeof(skey))
			return oom(c->err);
	}
	c->nvars = n;
	c->keys = calloc(total ? total : 1, sizeof(*c->keys));
	if (c->keys == NULL)
		return oom(c->err);
	for (size_t i = 0; i < n; i++) {
		const svar *v = &c->vars[i];
		int64_t np = v->nparts > 0 ? v->nparts : 0;
		int rc = 0;
		if (np == 0)
			rc = add_key(c, &c->nkeys, v->name, i, -1);
		for (int64_t p = 0; p < np && rc == 0; p++)
			rc = add_key(c, &c->nkeys, v->name, i, p);
		if (rc != 0)
			return rc;
	}
	return finish_store(c);
}

/* as_is: every tensor a variable of its own name, dtype and shape,
 * assigned whole; TF's scope walk never runs. */
static int store_as_is(rctx *c)
{
	c->vars = calloc(c->nt ? c->nt : 1, sizeof(*c->vars));
	c->keys = calloc(c->nt ? c->nt : 1, sizeof(*c->keys));
	if (c->vars == NULL || c->keys == NULL)
		return oom(c->err);
	for (size_t i = 0; i < c->nt; i++) {
		const ckpt_tensor *t = c->sorted[i];
		svar *v = &c->vars[i];
		v->name = t->name;
		v->dtype = t->dtype;
		v->rank = t->rank;
		v->dims = t->dims;
		v->slice_dim = -1;
		int rc = add_key(c, &c->nkeys, t->name, i, -1);
		if (rc != 0)
			return rc;
	}
	c->nvars = c->nt;
	int rc = finish_store(c);
	for (size_t k = 0; rc == 0 && k < c->nkeys; k++) {
		c->asg[k].set = 1;
		c->asg[k].tensor = (size_t)(c->sorted[c->keys[k].var] - c->t);
	}
	return rc;
}

typedef struct ord {
	const char *name;
	int64_t part;
	size_t idx;
} ord;

/* By name, then part (entries: part 0, so the given order breaks ties). */
static int cmp_ord(const void *a, const void *b)
{
	const ord *x = a, *y = b;
	int r = strcmp(x->name, y->name);
	if (r != 0)
		return r;
	if (x->part != y->part)
		return x->part < y->part ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int add_inferred(rctx *c, size_t *cap, const char *name, size_t len, const char *prefix,
			size_t plen, long long tensor)
{
	if (c->ninferred == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		if (nc > SIZE_MAX / sizeof(irec))
			return oom(c->err);
		irec *r = realloc(c->inferred, nc * sizeof(*r));
		if (r == NULL)
			return oom(c->err);
		c->inferred = r;
		*cap = nc;
	}
	char *s = malloc(plen + len + 1);
	if (s == NULL)
		return oom(c->err);
	memcpy(s, prefix, plen);
	memcpy(s + plen, name, len);
	s[plen + len] = '\0';
	irec *r = &c->inferred[c->ninferred];
	r->name = s;
	r->placeholder = tensor < 0;
	r->tensor = tensor < 0 ? 0 : (size_t)tensor;
	r->seq = c->ninferred++;
	return 0;
}

static int cmp_irec(const void *a, const void *b)
{
	const irec *x = a, *y = b;
	int r = strcmp(x->name, y->name);
	if (r != 0)
		return r;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/*
 * The inverse of §6 for a scope entry: checkpoint tensor `<key><rest>`
 * (every tensor when key is "/") is what TF maps onto the variable
 * `<scopes>/<rest>` ("<rest>" when value is "/").
 */
static int infer_scope(rctx *c, size_t *cap, const char *key, const char *value)
{
	const char *slash = strrchr(value, '/');
	size_t slen = slash ? (size_t)(slash - value) : 0;
	int root_val = strcmp(value, "/") == 0;
	int root_key = strcmp(key, "/") == 0;

	if (slen == 0 && !root_val)
		return ckpt__error(c->err, CKPT_EINVAL,
				   "cannot infer target variables for '%s': '%s':"
				   " with a value that has no scope TF drops the"
				   " first character of every variable name;"
				   " write '%s/' or give --targets",
				   key, value, value);
	size_t klen = root_key ? 0 : strlen(key);
	size_t i = root_key ? 0 : tensor_lower(c, key);
	for (; i < c->nt; i++) {
		const ckpt_tensor *t = c->sorted[i];
		if (strncmp(t->name, key, klen) != 0)
			break;
		const char *rest = t->name + klen;
		if (*rest == '\0')
			continue;
		int rc = add_inferred(c, cap, rest, strlen(rest), root_val ? "" : value,
				      root_val ? 0 : slen + 1, t - c->t);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static int store_inferred(rctx *c, const ord *order, size_t n)
{
	const ckpt_map_entry *e = c->o->entries;
	size_t cap = 0;

	for (size_t j = 0; j < n; j++) {
		const ckpt_map_entry *m = &e[order[j].idx];
		int rc = 0;
		if (m->target_list != NULL)
			return ckpt__error(c->err, CKPT_EINVAL,
					   "map entry '%s': a list of target "
					   "variables needs explicit target "
					   "variables (--targets)",
					   m->ckpt);
		if (ends_with_slash(m->ckpt))
			rc = infer_scope(c, &cap, m->ckpt, m->target);
		else if (m->target[0] != '\0' && !ends_with_slash(m->target))
			rc = add_inferred(c, &cap, m->target, strlen(m->target), "", 0,
					  tensor_find(c, m->ckpt));
		if (rc != 0)
			return rc;
	}
	if (c->ninferred > 1)
		sort_once(c->inferred, c->ninferred, sizeof(*c->inferred), cmp_irec);
	c->vars = calloc(c->ninferred ? c->ninferred : 1, sizeof(*c->vars));
	c->keys = calloc(c->ninferred ? c->ninferred : 1, sizeof(*c->keys));
	if (c->vars == NULL || c->keys == NULL)
		return oom(c->err);
	for (size_t i = 0; i < c->ninferred; i++) {
		const irec *r = &c->inferred[i];
		if (i + 1 < c->ninferred && strcmp(r->name, c->inferred[i + 1].name) == 0)
			continue; /* a later entry names it again: it wins */
		svar *v = &c->vars[c->nvars];
		v->name = r->name;
		v->slice_dim = -1;
		if (r->placeholder) {
			v->dtype = CKPT_DT_INVALID;
			v->rank = -1;
		} else {
			v->dtype = c->t[r->tensor].dtype;
			v->rank = c->t[r->tensor].rank;
			v->dims = c->t[r->tensor].dims;
		}
		int rc = add_key(c, &c->nkeys, v->name, c->nvars, -1);
		if (rc != 0)
			return rc;
		c->nvars++;
	}
	return finish_store(c);
}

/* ---- phase 1: graph construction ---- */

static const char *tensor_name_at(const void *ctx, size_t i)
{
	return ((const rctx *)ctx)->sorted[i]->name;
}

static const char *var_name_at(const void *ctx, size_t i)
{
	return ((const rctx *)ctx)->vars[i].name;
}

/* "'a', 'b' or 'c'": the names closest to key (tensors, or the target
 * variables when vars); "" when there are none. */
static void closest_text(const rctx *c, const char *key, int vars, ckpt_sbuf *b)
{
	ckpt__suggestion s[CKPT__SUGGEST_MAX];
	size_t n =
	    ckpt__suggest(key, vars ? var_name_at : tensor_name_at, c, vars ? c->nvars : c->nt, s);
	for (size_t i = 0; i < n; i++) {
		const char *name = vars ? c->vars[s[i].index].name : c->sorted[s[i].index]->name;
		ckpt__sb_puts(b, i == 0 ? "" : i + 1 < n ? ", " : " or ");
		ckpt__sb_printf(b, "'%.*s'", (int)s[i].len, name);
	}
}

/* After TF's text: the few checkpoint tensors closest to key, as TF's
 * dict shows them, on a second line of c->err. Returns CKPT_EINVAL. */
static int hint_closest(rctx *c, const char *key)
{
	ckpt__suggestion s[CKPT__SUGGEST_MAX];
	size_t n = ckpt__suggest(key, tensor_name_at, c, c->nt, s);
	ckpt_sbuf b = CKPT_SBUF_INIT;
	for (size_t i = 0; i < n; i++) {
		const ckpt_tensor *t = c->sorted[s[i].index];
		ckpt__sb_puts(&b, i ? ", " : "{");
		ckpt__sb_repr_py(&b, t->name);
		ckpt__sb_puts(&b, ": ");
		ckpt__sb_list_py(&b, t->rank, t->dims);
	}
	if (n > 0 && !b.oom) {
		ckpt__sb_puts(&b, "}");
		ckpt__error_hint(c->err, "closest in the checkpoint (of %zu tensors): %s", c->nt,
				 ckpt__sb_str(&b));
	}
	free(b.p);
	return CKPT_EINVAL;
}

static int err_not_found(rctx *c, const char *key)
{
	/* §5.1; the dict repr lists the tensors in name order. */
	ckpt_sbuf b = CKPT_SBUF_INIT;
	ckpt__sb_printf(&b, "Tensor %s is not found in %s checkpoint {", key, c->o->ckpt_path);
	for (size_t i = 0; i < c->nt && b.len < CKPT_ERROR_MSG_MAX; i++) {
		const ckpt_tensor *t = c->sorted[i];
		if (i)
			ckpt__sb_puts(&b, ", ");
		ckpt__sb_repr_py(&b, t->name);
		ckpt__sb_puts(&b, ": ");
		ckpt__sb_list_py(&b, t->rank, t->dims);
	}
	ckpt__sb_puts(&b, "}");
	int rc = fail_sb(c->err, CKPT_EINVAL, &b);
	return rc == CKPT_EINVAL ? hint_closest(c, key) : rc;
}

/* §5.4 / TF's _set_variable_or_list_initializer for a list. */
static int assign_list(rctx *c, const size_t *ks, size_t nk, size_t tensor)
{
	const char *first = NULL;
	for (size_t i = 0; i < nk; i++) {
		const skey *k = &c->keys[ks[i]];
		if (k->part < 0)
			return ckpt__error(c->err, CKPT_EINVAL,
					   "AttributeError: 'NoneType' object has"
					   " no attribute 'full_name' (variable"
					   " %s is not a part of a partitioned"
					   " variable)",
					   k->key);
		const char *full = c->vars[k->var].name;
		if (first == NULL)
			first = full;
		else if (strcmp(first, full) != 0)
			return ckpt__error(c->err, CKPT_EINVAL,
					   "Slices must all be from the same "
					   "tensor: %s != %s",
					   first, full);
		c->asg[ks[i]].set = 1;
		c->asg[ks[i]].sliced = 1;
		c->asg[ks[i]].tensor = tensor;
	}
	return 0;
}

/* §5 for a single variable (store key k). */
static int assign_single(rctx *c, size_t k, const char *key, size_t tensor)
{
	const svar *v = &c->vars[c->keys[k].var];
	const ckpt_tensor *t = &c->t[tensor];
	int64_t shape[CKPT_RESOLVE_MAX_RANK];

	if (v->rank >= 0) {
		key_shape(c, k, shape);
		int same = v->rank == t->rank;
		for (int d = 0; same && d < v->rank; d++)
			same = shape[d] == src_dim(v, t, d) || shape[d] == -1;
		if (!same) {
			ckpt_sbuf b = CKPT_SBUF_INIT;
			ckpt__sb_printf(&b, "Shape of variable %s:0 (", c->keys[k].key);
			ckpt__sb_shape_py(&b, v->rank, shape);
			ckpt__sb_printf(&b,
					") doesn't match with shape of "
					"tensor %s (",
					key);
			ckpt__sb_list_py(&b, t->rank, t->dims);
			ckpt__sb_puts(&b, ") from checkpoint reader.");
			perm_note(&b, v, t);
			return fail_sb(c->err, CKPT_EINVAL, &b);
		}
	}
	c->asg[k].set = 1;
	c->asg[k].sliced = 0;
	c->asg[k].tensor = tensor;
	return 0;
}

typedef struct span {
	const char *p;
	size_t len;
} span;

static int cmp_span(const void *a, const void *b)
{
	const span *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int r = memcmp(x->p, y->p, n);
	if (r != 0)
		return r;
	return x->len < y->len ? -1 : x->len > y->len;
}

/* The part of s after `skip` bytes, as Python's s[skip:] ("" if short). */
static span tail(span s, size_t skip)
{
	span r = {s.p + (skip < s.len ? skip : s.len), 0};
	r.len = skip < s.len ? s.len - skip : 0;
	return r;
}

static int scope_var(rctx *c, const char *key, const char *value, span n, size_t slen)
{
	/* §6: full = key + name-under-scope, trailing '/' removed */
	ckpt_sbuf b = CKPT_SBUF_INIT;
	span full = tail(n, slen);
	if (strcmp(value, "/") != 0)
		full = tail(full, 1);
	if (strcmp(key, "/") != 0)
		ckpt__sb_puts(&b, key);
	ckpt__sb_putn(&b, full.p, full.len);
	if (b.len > 0 && b.p[b.len - 1] == '/')
		b.p[--b.len] = '\0';
	ckpt__sb_putn(&b, "", 0);
	if (b.oom) {
		free(b.p);
		return oom(c->err);
	}
	long long ti = tensor_find(c, b.p);
	if (ti < 0) {
		span mid = tail(n, slen + 1);
		ckpt_sbuf m = CKPT_SBUF_INIT;
		ckpt__sb_printf(&m,
				"Tensor %s (%.*s in %s) is not found in %s "
				"checkpoint",
				b.p, (int)mid.len, mid.p, key, c->o->ckpt_path);
		int rc = fail_sb(c->err, CKPT_EINVAL, &m);
		rc = rc == CKPT_EINVAL ? hint_closest(c, b.p) : rc;
		free(b.p);
		return rc;
	}
	free(b.p);

	b = (ckpt_sbuf)CKPT_SBUF_INIT;
	ckpt__sb_putn(&b, n.p, n.len);
	if (b.oom) {
		free(b.p);
		return oom(c->err);
	}
	long long k = key_find(c, b.p);
	int rc = 0;
	size_t np = 0;
	if (k >= 0) {
		/* no Python shape check in this branch; §8 does it */
		c->asg[k].set = 1;
		c->asg[k].sliced = 0;
		c->asg[k].tensor = (size_t)ti;
	} else if ((rc = collect_parts(c, b.p, &np)) == 0 && np > 0) {
		rc = assign_list(c, c->list, np, (size_t)ti);
	} else if (rc == 0) {
		rc = ckpt__error(c->err, CKPT_EINVAL,
				 "AttributeError: 'NoneType' object has no "
				 "attribute 'dtype' (no variable %s: the scope "
				 "walk cut a name at '/part_')",
				 b.p);
	}
	free(b.p);
	return rc;
}

/* §6, the scope branch. */
static int scope_entry(rctx *c, const char *key, const char *value, size_t *hits)
{
	const char *slash = strrchr(value, '/');
	size_t slen = slash ? (size_t)(slash - value) : 0;

	if (!ends_with_slash(key))
		return ckpt__error(c->err, CKPT_EINVAL,
				   "Assignment map with scope only name %.*s "
				   "should map to scope only %s. Should be "
				   "'scope/': 'other_scope/'.",
				   (int)slen, value, key);
	span *names = malloc((c->nkeys ? c->nkeys : 1) * sizeof(*names));
	if (names == NULL)
		return oom(c->err);
	size_t nn = 0;
	size_t i = 0;
	if (slen > 0) {
		/* keys starting with scopes + "/" are one sorted run */
		char *pre = malloc(slen + 2);
		if (pre == NULL)
			return free(names), oom(c->err);
		memcpy(pre, value, slen);
		memcpy(pre + slen, "/", 2);
		i = key_lower(c, pre);
		free(pre);
	}
	for (; i < c->nkeys; i++) {
		const char *k = c->keys[i].key;
		if (slen > 0 && (strncmp(k, value, slen) != 0 || k[slen] != '/'))
			break;
		const char *cut = strstr(k, "/part_");
		names[nn].p = k;
		names[nn].len = cut ? (size_t)(cut - k) : strlen(k);
		nn++;
	}
	sort_once(names, nn, sizeof(*names), cmp_span);
	int rc = 0;
	for (size_t j = 0; j < nn && rc == 0; j++) {
		if (j > 0 && cmp_span(&names[j - 1], &names[j]) == 0)
			continue;
		rc = scope_var(c, key, value, names[j], slen);
		++*hits;
	}
	free(names);
	return rc;
}

static int one_entry(rctx *c, const ckpt_map_entry *m)
{
	size_t nk = 0;
	int single = 0, rc;
	long long k = -1;

	if (m->target_list != NULL) {
		/* TF: a list of variable objects; here, of their names */
		for (size_t i = 0; i < m->n_target_list; i++) {
			k = key_find(c, m->target_list[i]);
			if (k < 0)
				return ckpt__error(c->err, CKPT_EINVAL,
						   "map entry '%s': there is no "
						   "target variable %s",
						   m->ckpt, m->target_list[i]);
			c->list[nk++] = (size_t)k;
		}
	} else {
		k = key_find(c, m->target);
		single = k >= 0;
		if (!single) {
			rc = collect_parts(c, m->target, &nk);
			if (rc != 0)
				return rc;
			if (nk == 0)
				return scope_entry(c, m->ckpt, m->target,
						   &c->hits[m - c->o->entries]);
		}
	}
	long long ti = tensor_find(c, m->ckpt);
	if (ti < 0)
		return err_not_found(c, m->ckpt);
	c->hits[m - c->o->entries]++;
	if (single)
		return assign_single(c, (size_t)k, m->ckpt, (size_t)ti);
	return assign_list(c, c->list, nk, (size_t)ti);
}

/* ---- phase 2: initializers run ---- */

static int copy_dtype(ckpt_dtype d)
{
	/* tensor_bundle.cc GetSliceValue's HANDLE_COPY list */
	switch (d) {
	case CKPT_DT_FLOAT:
	case CKPT_DT_DOUBLE:
	case CKPT_DT_INT32:
	case CKPT_DT_UINT8:
	case CKPT_DT_INT16:
	case CKPT_DT_INT8:
	case CKPT_DT_COMPLEX64:
	case CKPT_DT_COMPLEX128:
	case CKPT_DT_INT64:
	case CKPT_DT_BOOL:
	case CKPT_DT_QINT32:
	case CKPT_DT_QUINT8:
	case CKPT_DT_QINT8:
	case CKPT_DT_BFLOAT16: return 1;
	default: return 0;
	}
}

int ckpt__cast_ok(ckpt_dtype from, ckpt_dtype to)
{
	if (from == to)
		return 1;
	return ckpt_dtype_is_numeric(from) && ckpt_dtype_is_numeric(to);
}

static ckpt_dtype cast_of(const ckpt_resolve_opts *o, ckpt_dtype d)
{
	for (size_t i = 0; i < o->n_casts; i++)
		if (o->casts[i].from == d)
			return o->casts[i].to;
	return d;
}

static int check_casts(rctx *c)
{
	const ckpt_resolve_opts *o = c->o;
	if (o->n_casts > 0 && o->strict)
		return ckpt__error(c->err, CKPT_EINVAL,
				   "--cast cannot be combined with --strict "
				   "(TensorFlow never converts dtypes)");
	for (size_t i = 0; i < o->n_casts; i++) {
		const ckpt_cast *x = &o->casts[i];
		if (!ckpt__cast_ok(x->from, x->to))
			return ckpt__error(c->err, CKPT_EINVAL,
					   "cannot cast %s to %s: numbers "
					   "convert only to numbers, strings "
					   "only to strings",
					   ckpt_dtype_name(x->from), ckpt_dtype_name(x->to));
		for (size_t j = 0; j < i; j++)
			if (o->casts[j].from == x->from && o->casts[j].to != x->to)
				return ckpt__error(c->err, CKPT_EINVAL,
						   "conflicting casts for %s: "
						   "to %s and to %s",
						   ckpt_dtype_name(x->from),
						   ckpt_dtype_name(o->casts[j].to),
						   ckpt_dtype_name(x->to));
	}
	return 0;
}

/*
 * What TF's BundleReader does with the stored pieces for a request
 * (slices_and_partitions.md §4): *covered (-1 unknown), *fast (the data is
 * one stored piece as is; -1 unknown).
 */
static void pieces_cover(const rctx *c, size_t ti, const int64_t *start, const int64_t *len,
			 int whole, int *covered, int *fast)
{
	const ckpt_tensor *t = &c->t[ti];
	*covered = *fast = -1;
	if (!t->partitioned && t->num_pieces <= 1) {
		/* one full piece: a whole read is a plain lookup */
		int all = 1;
		for (int d = 0; d < t->rank; d++)
			all = all && start[d] == 0 && len[d] == t->dims[d];
		*covered = 1;
		*fast = whole || all;
		return;
	}
	if (whole && t->num_pieces > 1)
		*fast = 0;
	if (c->o->piece == NULL)
		return;
	uint64_t want = 1, got = 0;
	int exact = 0;
	for (int d = 0; d < t->rank; d++)
		want *= (uint64_t)len[d]; /* <= the checked tensor size */
	for (size_t p = 0; p < t->num_pieces; p++) {
		const ckpt_piece *pc = c->o->piece(c->o->piece_ctx, ti, p);
		if (pc == NULL)
			continue;
		uint64_t inter = 1;
		int same = 1;
		for (int d = 0; d < t->rank; d++) {
			int64_t lo = pc->start[d] > start[d] ? pc->start[d] : start[d];
			int64_t e1, e2 = start[d] + len[d];
			if (pc->start[d] < 0 || pc->length[d] < 0 ||
			    __builtin_add_overflow(pc->start[d], pc->length[d], &e1))
				e1 = lo; /* a malformed piece covers nothing */
			int64_t hi = e1 < e2 ? e1 : e2;
			inter *= hi > lo ? (uint64_t)(hi - lo) : 0;
			same = same && pc->start[d] == start[d] && pc->length[d] == len[d];
		}
		if (__builtin_add_overflow(got, inter, &got))
			got = UINT64_MAX;
		exact = exact || same;
	}
	*covered = exact || got == want;
	*fast = exact;
}

static void spec_text(ckpt_sbuf *b, int rank, const int64_t *full, const int64_t *start,
		      const int64_t *len)
{
	for (int d = 0; d < rank; d++)
		ckpt__sb_printf(b, "%lld ", (long long)full[d]);
	for (int d = 0; d < rank; d++)
		ckpt__sb_printf(b, "%s%lld,%lld", d ? ":" : "", (long long)start[d],
				(long long)len[d]);
}

/* §8 for store key k, then fill plan file f. */
/* A target of unknown shape (rank -1 or a -1 dimension, from a graph)
 * that phase 1 found compatible takes its checkpoint tensor's shape. */
static int adopt_shape(rctx *c, size_t k)
{
	svar *v = &c->vars[c->keys[k].var];
	const ckpt_tensor *t = &c->t[c->asg[k].tensor];
	int unknown = v->rank < 0;
	for (int d = 0; !unknown && d < v->rank; d++)
		unknown = v->dims[d] < 0;
	if (!unknown || v->dtype == CKPT_DT_INVALID || c->keys[k].part >= 0)
		return 0;
	if (v->perm == NULL) {
		v->rank = t->rank;
		v->dims = t->dims;
		return 0;
	}
	if (v->perm_rank != t->rank)
		return ckpt__error(c->err, CKPT_EINVAL,
				   "target variable %s: its perm has %d axes, checkpoint tensor "
				   "%s has rank %d",
				   v->name, v->perm_rank, t->name, t->rank);
	return permute_dims(c, v, t->dims, t->rank);
}

static int restore_one(rctx *c, size_t k, ckpt_plan_file *f)
{
	const skey *key = &c->keys[k];
	const svar *v = &c->vars[key->var];
	const asg *a = &c->asg[k];
	const ckpt_tensor *t = &c->t[a->tensor];
	ckpt_dtype dt = cast_of(c->o, v->dtype);
	int rank = v->rank;

	if (rank < 0) /* phase 1 always fails before this */
		return ckpt__error(c->err, CKPT_EINVAL, "internal: unresolved variable %s",
				   key->key);
	if (v->perm && (v->perm_rank != rank || t->rank != rank))
		return ckpt__error(c->err, CKPT_EINVAL,
				   "target variable %s: its perm has %d axes, checkpoint tensor "
				   "%s has rank %d",
				   key->key, v->perm_rank, t->name, t->rank);
	if (c->o->strict && v->dtype != t->dtype)
		return ckpt__error(c->err, CKPT_EINVAL,
				   "tensor_name = %s; expected dtype %s does not"
				   " equal original dtype %s",
				   t->name, ckpt_dtype_tf_name(v->dtype),
				   ckpt_dtype_tf_name(t->dtype));
	if (!ckpt__cast_ok(t->dtype, dt))
		return ckpt__error(c->err, CKPT_EINVAL,
				   "%s: cannot convert checkpoint tensor %s from"
				   " %s to %s (numbers convert only to numbers,"
				   " strings only to strings)",
				   key->key, t->name, ckpt_dtype_name(t->dtype),
				   ckpt_dtype_name(dt));

	size_t rn = (size_t)(rank ? rank : 1);
	/* shape, start, length, var_shape, var_start: one block (resolve.h) */
	f->shape = calloc(5 * rn, sizeof(int64_t));
	if (f->shape == NULL)
		return oom(c->err);
	f->start = f->shape + rn;
	f->length = f->shape + 2 * rn;
	f->var_shape = f->shape + 3 * rn;
	f->var_start = f->shape + 4 * rn;
	f->var = strdup(v->name);
	f->file = strdup(key->key);
	f->source_name = strdup(t->name);
	if (!f->var || !f->file || !f->source_name)
		return oom(c->err);
	if (!ckpt__perm_is_identity(v->perm, rank)) {
		if ((f->perm = malloc(rn * sizeof(int))) == NULL)
			return oom(c->err);
		memcpy(f->perm, v->perm, (size_t)rank * sizeof(int));
	}
	key_shape(c, k, f->shape);
	for (int d = 0; d < rank; d++)
		f->var_shape[d] = key->part >= 0 ? v->dims[d] : f->shape[d];
	if (key->part >= 0) {
		int64_t len;
		ckpt__part_range(v->dims[v->slice_dim], v->nparts, key->part,
				 &f->var_start[v->slice_dim], &len);
	}
	f->rank = rank;
	f->part = key->part < 0 ? -1 : (int)key->part;
	f->dtype = dt;
	f->source = a->tensor;
	f->source_dtype = t->dtype;

	ckpt_sbuf b = CKPT_SBUF_INIT;
	ckpt_sbuf m = CKPT_SBUF_INIT;
	int covered, fast;
	if (a->sliced) {
		for (int d = 0; d < rank; d++)
			f->length[d] = f->shape[d];
		if (key->part >= 0)
			ckpt__part_range(v->dims[v->slice_dim], v->nparts, key->part,
					 &f->start[v->slice_dim], &f->length[v->slice_dim]);
		spec_text(&b, rank, v->dims, f->start, f->length);
		if (b.oom)
			return free(b.p), oom(c->err);
		const char *slice = strrchr(b.p, ' ') + 1;
		for (int d = 0; d < rank; d++) {
			if (f->length[d] > 0)
				continue;
			/* TensorSlice::Parse refuses an empty extent */
			ckpt__sb_printf(&m,
					"Expected non-negative start and "
					"positive length but got start = %lld, "
					"length = %lld: string = %s",
					(long long)f->start[d], (long long)f->length[d], slice);
			free(b.p);
			return fail_sb(c->err, CKPT_EINVAL, &m);
		}
		int same = rank == t->rank;
		for (int d = 0; same && d < rank; d++)
			same = v->dims[d] == src_dim(v, t, d);
		if (!same) {
			ckpt__sb_printf(&m,
					"tensor_name = %s; shape in "
					"shape_and_slice spec ",
					t->name);
			ckpt__sb_shape_debug(&m, rank, v->dims);
			ckpt__sb_puts(&m, " does not match the shape stored "
					  "in checkpoint: ");
			ckpt__sb_shape_debug(&m, t->rank, t->dims);
			perm_note(&m, v, t);
			free(b.p);
			return fail_sb(c->err, CKPT_EINVAL, &m);
		}
		f->spec = b.p;
		b.p = NULL;
		if (f->perm) {
			/* the part's box in the source: variable axis d is source
			 * axis perm[d] (var_shape/var_start keep the variable's) */
			int64_t st[CKPT_RESOLVE_MAX_RANK], ln[CKPT_RESOLVE_MAX_RANK];
			memcpy(st, f->start, (size_t)rank * sizeof(int64_t));
			memcpy(ln, f->length, (size_t)rank * sizeof(int64_t));
			for (int d = 0; d < rank; d++) {
				f->start[f->perm[d]] = st[d];
				f->length[f->perm[d]] = ln[d];
			}
		}
		pieces_cover(c, a->tensor, f->start, f->length, 0, &covered, &fast);
	} else {
		f->spec = strdup("");
		if (f->spec == NULL)
			return oom(c->err);
		for (int d = 0; d < t->rank && d < rank; d++)
			f->length[d] = t->dims[d];
		if (t->rank == rank)
			pieces_cover(c, a->tensor, f->start, f->length, 1, &covered, &fast);
		else
			covered = fast = 1; /* the assign check fails below */
	}
	if (covered == 0) {
		ckpt__sb_printf(&m,
				"Does not have sufficient slices for "
				"partitioned tensor %s to restore in "
				"slice_spec: ",
				t->name);
		if (a->sliced)
			ckpt__sb_puts(&m, strrchr(f->spec, ' ') + 1);
		for (int d = 0; !a->sliced && d < t->rank; d++)
			ckpt__sb_puts(&m, d ? ":-" : "-");
		return fail_sb(c->err, CKPT_EINVAL, &m);
	}
	if (c->o->strict && fast == 0 && !copy_dtype(t->dtype))
		return ckpt__error(c->err, CKPT_EINVAL, "Dtype %s not supported.",
				   ckpt_dtype_tf_name(t->dtype));
	if (!a->sliced) {
		int same = rank == t->rank;
		for (int d = 0; same && d < rank; d++)
			same = f->shape[d] == src_dim(v, t, d);
		if (!same) {
			/* assign_op.h (spec §8: text unconfirmed) */
			ckpt__sb_puts(&m, "Assign requires shapes of both "
					  "tensors to match. lhs shape= ");
			ckpt__sb_shape_debug(&m, rank, f->shape);
			ckpt__sb_puts(&m, " rhs shape= ");
			ckpt__sb_shape_debug(&m, t->rank, t->dims);
			ckpt__sb_printf(&m,
					" (variable %s, checkpoint tensor "
					"%s)",
					key->key, t->name);
			perm_note(&m, v, t);
			return fail_sb(c->err, CKPT_EINVAL, &m);
		}
	}

	uint64_t elems = 1;
	for (int d = 0; d < rank; d++)
		if (mul_elems(&elems, f->shape[d]))
			return ckpt__error(c->err, CKPT_ERANGE, "%s: too many elements", key->key);
	f->num_elements = elems;
	size_t es = ckpt_dtype_size(dt);
	f->size_known = es != 0;
	if (es != 0 && (__builtin_mul_overflow(elems, (uint64_t)es, &f->size) ||
			f->size > (uint64_t)INT64_MAX))
		return ckpt__error(c->err, CKPT_ERANGE, "%s: byte size overflows", key->key);
	return 0;
}

/* Does the checkpoint hold a TF2 object graph? */
static int object_based(const rctx *c)
{
	for (size_t i = 0; i < c->nt; i++)
		if (strcmp(c->t[i].name, CKPT_OBJECT_GRAPH_KEY) == 0)
			return 1;
	return 0;
}

static int build_plan(rctx *c, ckpt_plan **out)
{
	size_t n = 0;
	for (size_t k = 0; k < c->nkeys; k++)
		n += c->asg[k].set != 0;
	ckpt_plan *p = calloc(1, sizeof(*p));
	ord *order = malloc((n ? n : 1) * sizeof(*order));
	if (p != NULL)
		p->files = calloc(n ? n : 1, sizeof(*p->files));
	if (p == NULL || order == NULL || p->files == NULL) {
		free(order);
		ckpt_plan_free(p);
		return oom(c->err);
	}
	n = 0;
	int rc = 0;
	for (size_t k = 0; k < c->nkeys; k++) {
		if (!c->asg[k].set)
			continue;
		if (rc == 0)
			rc = adopt_shape(c, k);
		order[n].name = c->vars[c->keys[k].var].name;
		order[n].part = c->keys[k].part;
		order[n++].idx = k;
	}
	sort_once(order, n, sizeof(*order), cmp_ord);
	for (size_t i = 0; i < n && rc == 0; i++) {
		p->n_files = i + 1;
		rc = restore_one(c, order[i].idx, &p->files[i]);
	}
	free(order);
	if (rc == 0)
		rc = ckpt__plan_assign_paths(p, !c->o->names_key && object_based(c), c->err);
	if (rc != 0) {
		ckpt_plan_free(p);
		return rc;
	}
	*out = p;
	return 0;
}

static void ctx_free(rctx *c)
{
	for (size_t i = 0; i < c->nkeys; i++)
		free(c->keys[i].key);
	for (size_t i = 0; i < c->ninferred; i++)
		free(c->inferred[i].name);
	free(c->keys);
	free(c->inferred);
	free(c->vars);
	free(c->asg);
	free(c->list);
	free(c->hits);
	free(c->perm_hits);
	for (size_t i = 0; i < c->n_owned; i++)
		free(c->owned[i]);
	free(c->owned);
	free(c->sorted);
}

static int add_warning(ckpt_plan *p, ckpt_sbuf *b)
{
	int rc = b->oom ? -1 : ckpt__strlist_add(&p->warnings, &p->n_warnings, "%s", b->p);
	free(b->p);
	return rc ? CKPT_ENOMEM : 0;
}

/* Does any checkpoint tensor start with scope key ("/": any)? */
static int scope_has_tensors(const rctx *c, const char *key)
{
	if (strcmp(key, "/") == 0)
		return c->nt > 0;
	size_t i = tensor_lower(c, key);
	return i < c->nt && strncmp(c->sorted[i]->name, key, strlen(key)) == 0;
}

/* Targets without a source that get a "closest" list; the rest are
 * warned without one. */
#define SUGGEST_TARGETS_MAX 16

/* plan->warnings: entries that matched nothing, targets without source. */
static int plan_warnings(rctx *c, ckpt_plan *p)
{
	const ckpt_map_entry *e = c->o->entries;
	int rc = 0;
	for (size_t i = 0; i < c->o->n_entries && rc == 0; i++) {
		if (c->hits[i] > 0 || e[i].target == NULL)
			continue;
		ckpt_sbuf b = CKPT_SBUF_INIT;
		int in_ckpt = scope_has_tensors(c, e[i].ckpt);
		ckpt__sb_printf(&b, "map entry '%s': '%s' matched no %s", e[i].ckpt, e[i].target,
				in_ckpt ? "target variable" : "checkpoint tensor");
		size_t mark = b.len;
		ckpt__sb_puts(&b, " (did you mean ");
		size_t before = b.len;
		closest_text(c, in_ckpt ? e[i].target : e[i].ckpt, in_ckpt, &b);
		if (b.len == before && !b.oom)
			b.p[b.len = mark] = '\0';
		else
			ckpt__sb_puts(&b, "?)");
		rc = add_warning(p, &b);
	}
	unsigned char *got = c->o->targets ? calloc(c->nvars ? c->nvars : 1, 1) : NULL;
	if (c->o->targets != NULL && got == NULL)
		rc = CKPT_ENOMEM;
	for (size_t k = 0; got && k < c->nkeys; k++)
		got[c->keys[k].var] |= c->asg[k].set != 0;
	size_t suggested = 0;
	for (size_t v = 0; got && v < c->nvars && rc == 0; v++) {
		if (got[v])
			continue;
		ckpt_sbuf b = CKPT_SBUF_INIT;
		ckpt__sb_printf(&b, "target variable %s got no source from the map",
				c->vars[v].name);
		size_t mark = b.len;
		ckpt__sb_puts(&b, " (closest in the checkpoint: ");
		size_t before = b.len;
		/* a graph mapped in part leaves many: bound the work */
		if (suggested++ < SUGGEST_TARGETS_MAX)
			closest_text(c, c->vars[v].name, 0, &b);
		if (b.len == before && !b.oom)
			b.p[b.len = mark] = '\0';
		else
			ckpt__sb_puts(&b, ")");
		rc = add_warning(p, &b);
	}
	free(got);
	for (size_t i = 0; i < c->o->n_perms && rc == 0; i++) {
		const ckpt_perm_rule *r = &c->o->perms[i];
		if (c->perm_hits[i] > 0)
			continue;
		ckpt_sbuf b = CKPT_SBUF_INIT;
		int scope = ends_with_slash(r->name);
		ckpt__sb_printf(&b, "--perm '%s' matched no target variable", r->name);
		if (scope)
			ckpt__sb_printf(&b, " of rank %d", r->rank);
		size_t mark = b.len;
		ckpt__sb_puts(&b, " (did you mean ");
		size_t before = b.len;
		if (strcmp(r->name, "/") != 0)
			closest_text(c, r->name, 1, &b);
		if (b.len == before && !b.oom)
			b.p[b.len = mark] = '\0';
		else
			ckpt__sb_puts(&b, "?)");
		rc = add_warning(p, &b);
	}
	return rc ? oom(c->err) : 0;
}

int ckpt_resolve(const ckpt_resolve_opts *o, const ckpt_tensor *tensors, size_t n, ckpt_plan **out,
		 ckpt_error *err)
{
	static const ckpt_map_entry identity = {"/", "/", NULL, 0};
	rctx c;
	memset(&c, 0, sizeof(c));
	*out = NULL;
	c.o = o;
	c.t = tensors;
	c.nt = n;
	c.err = err;
	if (o->ckpt_path == NULL)
		return ckpt__error(err, CKPT_EINVAL, "no checkpoint path");

	if (o->as_is && (o->n_entries > 0 || o->targets != NULL))
		return ckpt__error(err, CKPT_EINVAL, "as is: no map entries or targets allowed");
	const ckpt_map_entry *e = o->n_entries ? o->entries : &identity;
	size_t ne = o->n_entries ? o->n_entries : o->as_is ? 0 : 1;
	for (size_t i = 0; i < ne; i++)
		if (e[i].ckpt == NULL || (e[i].target == NULL) == (e[i].target_list == NULL))
			return ckpt__error(err, CKPT_EINVAL, "map entry %zu is malformed", i);
	ckpt_resolve_opts local = *o;
	local.entries = e;
	local.n_entries = ne;
	c.o = &local;

	ord *order = malloc((ne ? ne : 1) * sizeof(*order));
	int rc = order ? 0 : oom(err);
	if (rc == 0) {
		for (size_t i = 0; i < ne; i++) {
			order[i].name = e[i].ckpt;
			order[i].part = 0;
			order[i].idx = i;
		}
		sort_once(order, ne, sizeof(*order), cmp_ord);
		rc = check_casts(&c);
	}
	if (rc == 0)
		rc = check_tensors(&c);
	if (rc == 0)
		rc = o->as_is	  ? store_as_is(&c)
		     : o->targets ? store_from_targets(&c)
				  : store_inferred(&c, order, ne);
	if (rc == 0)
		rc = apply_perms(&c);
	if (rc == 0 && ne > 0) {
		size_t cap = c.nkeys;
		for (size_t i = 0; i < ne; i++)
			if (e[i].n_target_list > cap)
				cap = e[i].n_target_list;
		size_t *l = realloc(c.list, (cap ? cap : 1) * sizeof(*l));
		if (l == NULL)
			rc = oom(err);
		else
			c.list = l;
	}
	if (rc == 0 && (c.hits = calloc(ne ? ne : 1, sizeof(*c.hits))) == NULL)
		rc = oom(err);
	for (size_t i = 0; i < ne && rc == 0; i++)
		rc = one_entry(&c, &e[order[i].idx]);
	if (rc == 0)
		rc = build_plan(&c, out);
	if (rc == 0 && (rc = plan_warnings(&c, *out)) != 0) {
		ckpt_plan_free(*out);
		*out = NULL;
	}
	free(order);
	ctx_free(&c);
	return rc;
}

void ckpt_plan_free(ckpt_plan *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n_files; i++) {
		ckpt_plan_file *f = &p->files[i];
		free(f->var);
		free(f->file);
		free(f->path);
		free(f->shape); /* and start, length, var_shape, var_start */
		free(f->source_name);
		free(f->spec);
		free(f->perm);
	}
	free(p->files);
	for (size_t i = 0; i < p->n_warnings; i++)
		free(p->warnings[i]);
	free(p->warnings);
	free(p);
}
