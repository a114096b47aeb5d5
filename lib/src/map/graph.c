/*
 * graph.c - the variables of a TensorFlow graph (.meta, saved_model.pb, a
 * SavedModel directory) as target variables (spec graph_variables.md §6).
 *
 * Loading is lazy: SavedModel, MetaGraphDef, GraphDef and NodeDef are walked
 * with a small wire-format scanner over the file's bytes, which never copies
 * and skips what it does not need (the function library, signatures, the
 * stripped op list, constant tensors); protobuf-c unpacks only the small
 * messages the variable list is made of: CollectionDef, VariableDef, the
 * NodeDefs of variable nodes and the SavedObjects. So a graph of any size
 * costs one pass over its bytes plus the variables' own protos.
 */
#include "ckpt/graph.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/codec_int.h"
#include "util/error_int.h"
#include "util/hash_int.h"
#include "store/io_int.h"
#include "meta_graph.pb-c.h"
#include "node_def.pb-c.h"
#include "map/resolve_int.h"
#include "saved_object_graph.pb-c.h"
#include "util/strbuf_int.h"
#include "util/wire_int.h"
#include "variable.pb-c.h"

/* protobuf's own limit for one message. */
#define GRAPH_MAX_FILE ((size_t)INT32_MAX)
/* Our bounds for names derived from a hostile object graph. */
#define GRAPH_MAX_KEY 65536
#define GRAPH_MAX_KEY_BYTES ((size_t)256 << 20)

/* ---- wire format (util/wire_int.h) ---- */

typedef ckpt__span span;
typedef ckpt__wcur wcur;
typedef ckpt__wfield wfield;

static int span_eq(span s, const char *str)
{
	size_t n = strlen(str);
	return s.n == n && memcmp(s.p, str, n) == 0;
}

/* ---- small helpers ---- */

static int oom(ckpt_error *err)
{
	return ckpt__error(err, CKPT_ENOMEM, "out of memory");
}

static char *dup_span(span s)
{
	char *r = malloc(s.n + 1);
	if (r != NULL) {
		if (s.n)
			memcpy(r, s.p, s.n);
		r[s.n] = '\0';
	}
	return r;
}

/* Grow *arr to hold at least n+1 elements of size sz. */
static int grow(void **arr, size_t *cap, size_t n, size_t sz)
{
	if (n < *cap)
		return 0;
	size_t nc = *cap ? *cap * 2 : 8;
	if (nc > SIZE_MAX / sz)
		return -1;
	void *p = realloc(*arr, nc * sz);
	if (p == NULL)
		return -1;
	*arr = p;
	*cap = nc;
	return 0;
}

/* ---- the graph under construction ---- */

typedef struct coll {
	span key, val;
} coll;

/* One MetaGraphDef, scanned. */
typedef struct mgd {
	span whole;
	span *graphs; /* graph_def occurrences (merged: nodes appended) */
	size_t ngraphs, capgraphs;
	span *ogds; /* object_graph_def occurrences */
	size_t nogds, capogds;
	coll *colls; /* collection_def entries, last key wins */
	size_t ncolls, capcolls;
	char **tags;
	size_t ntags, captags;
} mgd;

typedef struct gnode {
	span name, op, whole;
} gnode;

typedef struct gctx {
	const char *path;
	ckpt_error *err;
	ckpt_graph *g;
	const ckpt_graph_opts *o;
	mgd *m;
	gnode *vnodes; /* variable-op nodes, sorted by name */
	size_t nvnodes, capvnodes;
	size_t nnodes;
	size_t key_bytes;
	int key_overflow;
} gctx;

static void mgd_free(mgd *m)
{
	free(m->graphs);
	free(m->ogds);
	free(m->colls);
	for (size_t i = 0; i < m->ntags; i++)
		free(m->tags[i]);
	free(m->tags);
	memset(m, 0, sizeof(*m));
}

static int e_parse(gctx *c)
{
	/* E5 */
	return ckpt__error(c->err, CKPT_ECORRUPT, "Cannot parse file %s: Error parsing message.",
			   c->path);
}

static int warn(gctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int warn(gctx *c, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = ckpt__strlist_vadd(&c->g->warnings, &c->g->n_warnings, fmt, ap);
	va_end(ap);
	return rc ? oom(c->err) : 0;
}

/* Scan a MetaGraphDef's top level. */
static int mgd_scan(gctx *c, span s, mgd *m)
{
	wcur w = ckpt__wire_cursor(s);
	wfield f;
	int r;
	m->whole = s;
	while ((r = ckpt__wire_next(&w, &f)) == 1) {
		if (f.field < 1 || f.field > 7)
			continue; /* unknown field: skipped, as protobuf does */
		if (f.wt != 2)
			return e_parse(c);
		if (f.field == 1) { /* MetaInfoDef: tags (4) */
			wcur mi = ckpt__wire_cursor(f.s);
			wfield t;
			int r2;
			while ((r2 = ckpt__wire_next(&mi, &t)) == 1) {
				if (t.field != 4)
					continue;
				if (t.wt != 2)
					return e_parse(c);
				if (grow((void **)&m->tags, &m->captags, m->ntags,
					 sizeof(*m->tags)))
					return oom(c->err);
				if ((m->tags[m->ntags] = dup_span(t.s)) == NULL)
					return oom(c->err);
				m->ntags++;
			}
			if (r2 < 0)
				return e_parse(c);
		} else if (f.field == 2) {
			if (grow((void **)&m->graphs, &m->capgraphs, m->ngraphs,
				 sizeof(*m->graphs)))
				return oom(c->err);
			m->graphs[m->ngraphs++] = f.s;
		} else if (f.field == 7) {
			if (grow((void **)&m->ogds, &m->capogds, m->nogds, sizeof(*m->ogds)))
				return oom(c->err);
			m->ogds[m->nogds++] = f.s;
		} else if (f.field == 4) {
			coll e = {{NULL, 0}, {NULL, 0}};
			wcur ec = ckpt__wire_cursor(f.s);
			wfield t;
			int r2;
			while ((r2 = ckpt__wire_next(&ec, &t)) == 1) {
				if (t.field != 1 && t.field != 2)
					continue;
				if (t.wt != 2)
					return e_parse(c);
				if (t.field == 1)
					e.key = t.s;
				else
					e.val = t.s;
			}
			if (r2 < 0)
				return e_parse(c);
			if (e.key.p == NULL)
				e.key.p = f.s.p; /* empty key */
			size_t i;
			for (i = 0; i < m->ncolls; i++)
				if (m->colls[i].key.n == e.key.n &&
				    memcmp(m->colls[i].key.p, e.key.p, e.key.n) == 0)
					break;
			if (i == m->ncolls) {
				if (grow((void **)&m->colls, &m->capcolls, m->ncolls,
					 sizeof(*m->colls)))
					return oom(c->err);
				m->ncolls++;
			}
			m->colls[i] = e;
		}
	}
	return r < 0 ? e_parse(c) : 0;
}

/* ---- GraphDef: the variable nodes ---- */

static int is_var_op(span op)
{
	return span_eq(op, "VariableV2") || span_eq(op, "Variable") || span_eq(op, "VarHandleOp");
}

/* Visit every NodeDef of the graph_def occurrences. */
typedef int (*node_fn)(gctx *c, const gnode *n, void *ctx);

static int each_node(gctx *c, node_fn fn, void *ctx)
{
	for (size_t gi = 0; gi < c->m->ngraphs; gi++) {
		wcur w = ckpt__wire_cursor(c->m->graphs[gi]);
		wfield f;
		int r;
		while ((r = ckpt__wire_next(&w, &f)) == 1) {
			if (f.field != 1)
				continue; /* library, versions: skipped */
			if (f.wt != 2)
				return e_parse(c);
			gnode n = {{f.s.p, 0}, {f.s.p, 0}, f.s};
			wcur nc = ckpt__wire_cursor(f.s);
			wfield t;
			int r2;
			while ((r2 = ckpt__wire_next(&nc, &t)) == 1) {
				if (t.field != 1 && t.field != 2)
					continue;
				if (t.wt != 2)
					return e_parse(c);
				if (t.field == 1)
					n.name = t.s;
				else
					n.op = t.s;
			}
			if (r2 < 0)
				return e_parse(c);
			int rc = fn(c, &n, ctx);
			if (rc != 0)
				return rc;
		}
		if (r < 0)
			return e_parse(c);
	}
	return 0;
}

static int collect_var_node(gctx *c, const gnode *n, void *ctx)
{
	(void)ctx;
	c->nnodes++;
	if (!is_var_op(n->op))
		return 0;
	if (grow((void **)&c->vnodes, &c->capvnodes, c->nvnodes, sizeof(*c->vnodes)))
		return oom(c->err);
	c->vnodes[c->nvnodes++] = *n;
	return 0;
}

static int cmp_span(span a, span b)
{
	size_t n = a.n < b.n ? a.n : b.n;
	int r = n ? memcmp(a.p, b.p, n) : 0;
	if (r != 0)
		return r;
	return a.n < b.n ? -1 : a.n > b.n;
}

static int cmp_gnode(const void *a, const void *b)
{
	return cmp_span(((const gnode *)a)->name, ((const gnode *)b)->name);
}

static int index_nodes(gctx *c)
{
	int rc = each_node(c, collect_var_node, NULL);
	if (rc != 0)
		return rc;
	if (c->nvnodes > 1)
		qsort(c->vnodes, c->nvnodes, sizeof(*c->vnodes), cmp_gnode);
	return 0;
}

static const gnode *find_var_node(const gctx *c, const char *name)
{
	span key = {(const uint8_t *)name, strlen(name)};
	size_t lo = 0, hi = c->nvnodes;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = cmp_span(c->vnodes[mid].name, key);
		if (r == 0)
			return &c->vnodes[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

struct find_any {
	const char *name;
	span op;
	int found;
};

static int find_any_node(gctx *c, const gnode *n, void *ctx)
{
	(void)c;
	struct find_any *fa = ctx;
	if (!fa->found && span_eq(n->name, fa->name)) {
		fa->found = 1;
		fa->op = n->op;
	}
	return 0;
}

/* ---- shapes and dtypes ---- */

/* TensorShapeProto -> rank (-1 unknown) and dims (-1 unknown). */
static int shape_of(gctx *c, const Tensorflow__TensorShapeProto *sp, const char *what, int *rank,
		    int64_t **dims)
{
	*rank = 0;
	*dims = NULL;
	if (sp == NULL)
		return 0; /* absent = the default: a scalar */
	if (sp->unknown_rank) {
		*rank = -1;
		return 0;
	}
	if (sp->n_dim > CKPT_RESOLVE_MAX_RANK)
		return ckpt__error(c->err, CKPT_ECORRUPT, "%s: %s has rank %zu, more than %d",
				   c->path, what, sp->n_dim, CKPT_RESOLVE_MAX_RANK);
	*dims = calloc(sp->n_dim ? sp->n_dim : 1, sizeof(int64_t));
	if (*dims == NULL)
		return oom(c->err);
	for (size_t d = 0; d < sp->n_dim; d++) {
		int64_t s = sp->dim[d] ? sp->dim[d]->size : 0;
		if (s < -1) {
			free(*dims);
			*dims = NULL;
			return ckpt__error(c->err, CKPT_ECORRUPT, "%s: %s has dimension %lld",
					   c->path, what, (long long)s);
		}
		(*dims)[d] = s;
	}
	*rank = (int)sp->n_dim;
	return 0;
}

/* A DataType value as the variable's base dtype; 0 if not usable. */
static ckpt_dtype base_dtype(int v)
{
	if (v >= 100)
		v -= 100;
	if (v <= 0 || v >= CKPT_DT_COUNT_)
		return CKPT_DT_INVALID;
	if (!ckpt_dtype_is_numeric(v) && v != CKPT_DT_STRING)
		return CKPT_DT_INVALID;
	return (ckpt_dtype)v;
}

/* ---- output ---- */

static ckpt_graph_var *add_var(gctx *c, size_t *cap)
{
	ckpt_graph *g = c->g;
	if (grow((void **)&g->vars, cap, g->n_vars, sizeof(*g->vars)))
		return NULL;
	ckpt_graph_var *v = &g->vars[g->n_vars++];
	memset(v, 0, sizeof(*v));
	return v;
}

static void var_free(ckpt_graph_var *v)
{
	free(v->v.name);
	free(v->v.dims);
	free(v->v.partitions);
	free(v->checkpoint_key);
}

/* Keep only the roles asked for. */
static void select_roles(ckpt_graph *g, unsigned roles)
{
	size_t k = 0;
	g->n_all = g->n_vars;
	for (size_t i = 0; i < g->n_vars; i++) {
		if (g->vars[i].role & roles)
			g->vars[k++] = g->vars[i];
		else
			var_free(&g->vars[i]);
	}
	g->n_vars = k;
}

/* ---- TF1: collections ---- */

static const char *const var_colls[] = {
    "variables",   "trainable_variables", "local_variables",	      "model_variables",
    "global_step", "metric_variables",	  "moving_average_variables",
};
#define N_VAR_COLLS (sizeof(var_colls) / sizeof(var_colls[0]))
enum { C_VARIABLES = 0, C_TRAINABLE = 1 };

typedef struct rec {
	char *op;
	char *tensor;
	Tensorflow__VariableDef *vd; /* NULL for a node_list member */
	unsigned colls;
	size_t coll_first;
	ckpt_dtype dtype;
	int rank;
	int64_t *dims;
	char *loc; /* P of _class = [loc:@P], or NULL */
	unsigned role;
	long group; /* partition group, -1 none */
	int part;   /* position in its group */
} rec;

typedef struct tf1 {
	rec *recs;
	size_t nrecs, caprecs;
	ckpt__strmap byname; /* op name -> recs index */
} tf1;

static void tf1_free(tf1 *t)
{
	for (size_t i = 0; i < t->nrecs; i++) {
		free(t->recs[i].op);
		free(t->recs[i].tensor);
		if (t->recs[i].vd)
			tensorflow__variable_def__free_unpacked(t->recs[i].vd, NULL);
		free(t->recs[i].dims);
		free(t->recs[i].loc);
	}
	free(t->recs);
	ckpt__strmap_free(&t->byname);
}

/* The op name of a tensor name "op:0" (TF splits on ':' into two pieces
 * with an integer index); a bare op name is taken as is. */
static int op_of_tensor(gctx *c, const char *tensor, char **op)
{
	const char *colon = strchr(tensor, ':');
	if (colon != NULL) {
		const char *q = colon + 1;
		int ok = *q != '\0' && strchr(q, ':') == NULL;
		for (; ok && *q; q++)
			ok = *q >= '0' && *q <= '9';
		if (!ok || colon == tensor)
			return ckpt__error(c->err, CKPT_EINVAL,
					   "The name '%s' looks a like a Tensor "
					   "name, but is not a valid one. Tensor "
					   "names must be of the form "
					   "\"<op_name>:<output_index>\".",
					   tensor);
	}
	size_t n = colon ? (size_t)(colon - tensor) : strlen(tensor);
	span s = {(const uint8_t *)tensor, n};
	if (n == 0)
		return ckpt__error(c->err, CKPT_EINVAL,
				   "%s: a variable collection names an empty "
				   "tensor",
				   c->path);
	*op = dup_span(s);
	return *op ? 0 : oom(c->err);
}

static int tf1_add(gctx *c, tf1 *t, size_t ci, const char *tensor, Tensorflow__VariableDef *vd)
{
	char *op = NULL;
	int rc = op_of_tensor(c, tensor, &op);
	if (rc != 0) {
		if (vd)
			tensorflow__variable_def__free_unpacked(vd, NULL);
		return rc;
	}
	size_t at;
	if (ckpt__strmap_get(&t->byname, op, &at)) {
		t->recs[at].colls |= 1u << ci;
		free(op);
		if (vd)
			tensorflow__variable_def__free_unpacked(vd, NULL);
		return 0;
	}
	if (grow((void **)&t->recs, &t->caprecs, t->nrecs, sizeof(*t->recs))) {
		free(op);
		if (vd)
			tensorflow__variable_def__free_unpacked(vd, NULL);
		return oom(c->err);
	}
	/* keys in the hash point into recs' strings, which do not move */
	rec *r = &t->recs[t->nrecs];
	memset(r, 0, sizeof(*r));
	r->op = op;
	r->vd = vd;
	r->colls = 1u << ci;
	r->coll_first = ci;
	r->group = -1;
	r->tensor = strdup(tensor);
	t->nrecs++;
	if (r->tensor == NULL || ckpt__strmap_put(&t->byname, r->op, t->nrecs - 1))
		return oom(c->err);
	return 0;
}

static int tf1_collect(gctx *c, tf1 *t, int *any)
{
	*any = 0;
	for (size_t ci = 0; ci < N_VAR_COLLS; ci++) {
		const coll *e = NULL;
		for (size_t i = 0; i < c->m->ncolls; i++)
			if (span_eq(c->m->colls[i].key, var_colls[ci]))
				e = &c->m->colls[i];
		if (e == NULL)
			continue;
		*any = 1;
		Tensorflow__CollectionDef *cd =
		    tensorflow__collection_def__unpack(NULL, e->val.n, e->val.p);
		if (cd == NULL)
			return ckpt__error(c->err, CKPT_ECORRUPT,
					   "%s: collection '%s' is not a valid "
					   "CollectionDef",
					   c->path, var_colls[ci]);
		int rc = 0;
		if (cd->kind_case == TENSORFLOW__COLLECTION_DEF__KIND_BYTES_LIST &&
		    cd->bytes_list) {
			for (size_t k = 0; rc == 0 && k < cd->bytes_list->n_value; k++) {
				ProtobufCBinaryData b = cd->bytes_list->value[k];
				Tensorflow__VariableDef *vd =
				    tensorflow__variable_def__unpack(NULL, b.len, b.data);
				if (vd == NULL || vd->variable_name == NULL) {
					if (vd)
						tensorflow__variable_def__free_unpacked(vd, NULL);
					/* E12 */
					rc = ckpt__error(c->err, CKPT_ECORRUPT,
							 "%s: collection '%s' element %zu is not a "
							 "valid VariableDef",
							 c->path, var_colls[ci], k);
					break;
				}
				char *name = vd->variable_name;
				rc = tf1_add(c, t, ci, name, vd);
			}
		} else if (cd->kind_case == TENSORFLOW__COLLECTION_DEF__KIND_NODE_LIST &&
			   cd->node_list) {
			for (size_t k = 0; rc == 0 && k < cd->node_list->n_value; k++)
				rc = tf1_add(c, t, ci, cd->node_list->value[k], NULL);
		}
		tensorflow__collection_def__free_unpacked(cd, NULL);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static const Tensorflow__AttrValue *attr_get(const Tensorflow__NodeDef *n, const char *key)
{
	const Tensorflow__AttrValue *v = NULL;
	for (size_t i = 0; i < n->n_attr; i++) /* last entry wins */
		if (n->attr[i] && n->attr[i]->key && strcmp(n->attr[i]->key, key) == 0)
			v = n->attr[i]->value;
	return v;
}

/* dtype, shape and _class of one record from its node. */
static int tf1_node(gctx *c, rec *r, const char *coll_name)
{
	const gnode *gn = find_var_node(c, r->op);
	if (gn == NULL) {
		struct find_any fa = {r->op, {NULL, 0}, 0};
		int rc = each_node(c, find_any_node, &fa);
		if (rc != 0)
			return rc;
		if (!fa.found) /* E13 */
			return ckpt__error(c->err, CKPT_EINVAL,
					   "\"The name '%s' refers to a Tensor "
					   "which does not exist. The operation, "
					   "'%s', does not exist in the graph.\"",
					   r->tensor, r->op);
		char *opn = dup_span(fa.op);
		rc = ckpt__error(c->err, CKPT_EINVAL,
				 "%s: '%s' (collection '%s') is a %s node, not a "
				 "variable",
				 c->path, r->op, coll_name, opn ? opn : "?");
		free(opn);
		return rc; /* E14 */
	}
	Tensorflow__NodeDef *nd = tensorflow__node_def__unpack(NULL, gn->whole.n, gn->whole.p);
	if (nd == NULL)
		return ckpt__error(c->err, CKPT_ECORRUPT,
				   "%s: variable node '%s' is not a valid NodeDef", c->path, r->op);
	int rc = 0;
	const Tensorflow__AttrValue *dt = attr_get(nd, "dtype");
	const Tensorflow__AttrValue *sh = attr_get(nd, "shape");
	if (dt == NULL || dt->value_case != TENSORFLOW__ATTR_VALUE__VALUE_TYPE) {
		rc =
		    ckpt__error(c->err, CKPT_ECORRUPT, "%s: variable node '%s' has no 'dtype' attr",
				c->path, r->op); /* E15 */
	} else if (sh == NULL || sh->value_case != TENSORFLOW__ATTR_VALUE__VALUE_SHAPE) {
		rc = ckpt__error(c->err, CKPT_ECORRUPT,
				 "%s: variable node '%s' has no 'shape' attr", c->path, r->op);
	} else {
		r->dtype = base_dtype((int)dt->type);
		if (r->dtype == CKPT_DT_INVALID)
			rc = ckpt__error(c->err, CKPT_EUNSUPPORTED,
					 "%s: variable '%s' has dtype %d, which "
					 "has no checkpoint form ckptfs maps",
					 c->path, r->op, (int)dt->type);
		else
			rc = shape_of(c, sh->shape, r->op, &r->rank, &r->dims);
	}
	const Tensorflow__AttrValue *cl = attr_get(nd, "_class");
	if (rc == 0 && cl && cl->value_case == TENSORFLOW__ATTR_VALUE__VALUE_LIST && cl->list &&
	    cl->list->n_s == 1) {
		ProtobufCBinaryData s = cl->list->s[0];
		if (s.len > 5 && memcmp(s.data, "loc:@", 5) == 0) {
			span p = {s.data + 5, s.len - 5};
			if ((r->loc = dup_span(p)) == NULL)
				rc = oom(c->err);
		}
	}
	int resource = span_eq(gn->op, "VarHandleOp");
	if (rc == 0 && r->vd && (r->vd->is_resource != 0) != resource) {
		char *opn = dup_span(gn->op);
		rc = opn ? warn(c,
				"%s: variable '%s': VariableDef.is_resource "
				"does not match its %s node",
				c->path, r->op, opn)
			 : oom(c->err);
		free(opn);
	}
	tensorflow__node_def__free_unpacked(nd, NULL);
	return rc;
}

static const Tensorflow__SaveSliceInfoDef *slice_of(const rec *r)
{
	return r->vd ? r->vd->save_slice_info_def : NULL;
}

static void sb_i64s(ckpt_sbuf *b, size_t n, const int64_t *v)
{
	ckpt__sb_puts(b, "[");
	for (size_t i = 0; i < n; i++)
		ckpt__sb_printf(b, "%s%lld", i ? ", " : "", (long long)v[i]);
	ckpt__sb_puts(b, "]");
}

static int fail_sb(gctx *c, int code, ckpt_sbuf *b)
{
	int rc = b->oom ? oom(c->err) : ckpt__error(c->err, code, "%s", b->p);
	free(b->p);
	return rc;
}

typedef struct pgroup {
	const char *full;
	size_t *parts; /* rec indices, sorted by var_offset */
	size_t n, cap;
	int tf;	  /* a TF-partitioned variable */
	int axis; /* -1 when no dimension is split */
} pgroup;

static const rec *g_sort_recs;

static int cmp_offset(const void *a, const void *b)
{
	const Tensorflow__SaveSliceInfoDef *x =
	    g_sort_recs[*(const size_t *)a].vd->save_slice_info_def;
	const Tensorflow__SaveSliceInfoDef *y =
	    g_sort_recs[*(const size_t *)b].vd->save_slice_info_def;
	size_t n = x->n_var_offset < y->n_var_offset ? x->n_var_offset : y->n_var_offset;
	for (size_t i = 0; i < n; i++)
		if (x->var_offset[i] != y->var_offset[i])
			return x->var_offset[i] < y->var_offset[i] ? -1 : 1;
	if (x->n_var_offset != y->n_var_offset)
		return x->n_var_offset < y->n_var_offset ? -1 : 1;
	return *(const size_t *)a < *(const size_t *)b ? -1 : 1;
}

/* Validate one group (spec §2.6, §6.2 step 5). */
static int tf1_group(gctx *c, tf1 *t, pgroup *pg)
{
	const rec *r0 = &t->recs[pg->parts[0]];
	const Tensorflow__SaveSliceInfoDef *s0 = slice_of(r0);
	size_t rank = s0->n_full_shape;
	ckpt_sbuf b = CKPT_SBUF_INIT;

	for (size_t i = 0; i < pg->n; i++) {
		const rec *r = &t->recs[pg->parts[i]];
		const Tensorflow__SaveSliceInfoDef *s = slice_of(r);
		int same = s->n_full_shape == rank;
		for (size_t d = 0; same && d < rank; d++)
			same = s->full_shape[d] == s0->full_shape[d];
		if (!same) { /* E16 */
			ckpt__sb_printf(&b,
					"%s: parts of partitioned variable "
					"'%s' disagree: %s has full_shape ",
					c->path, pg->full, r->op);
			sb_i64s(&b, s->n_full_shape, s->full_shape);
			ckpt__sb_printf(&b, ", %s has ", r0->op);
			sb_i64s(&b, rank, s0->full_shape);
			return fail_sb(c, CKPT_EINVAL, &b);
		}
		same = s->n_var_shape == rank && s->n_var_offset == rank && r->rank == (int)rank;
		for (size_t d = 0; same && d < rank; d++)
			same = s->var_shape[d] == r->dims[d] && s->var_shape[d] >= 0 &&
			       s->var_offset[d] >= 0 && s->full_shape[d] >= 0;
		if (!same) {
			ckpt__sb_printf(&b,
					"%s: parts of partitioned variable "
					"'%s' disagree: %s has var_shape ",
					c->path, pg->full, r->op);
			sb_i64s(&b, s->n_var_shape, s->var_shape);
			ckpt__sb_puts(&b, " and var_offset ");
			sb_i64s(&b, s->n_var_offset, s->var_offset);
			ckpt__sb_puts(&b, ", its node has shape ");
			if (r->rank < 0)
				ckpt__sb_puts(&b, "<unknown>");
			else
				sb_i64s(&b, (size_t)r->rank, r->dims);
			return fail_sb(c, CKPT_EINVAL, &b);
		}
		if (r->dtype != r0->dtype) {
			ckpt__sb_printf(&b,
					"%s: parts of partitioned variable "
					"'%s' disagree: %s has dtype %s, %s has %s",
					c->path, pg->full, r->op, ckpt_dtype_name(r->dtype), r0->op,
					ckpt_dtype_name(r0->dtype));
			return fail_sb(c, CKPT_EINVAL, &b);
		}
	}
	g_sort_recs = t->recs;
	qsort(pg->parts, pg->n, sizeof(*pg->parts), cmp_offset);
	g_sort_recs = NULL;

	/* naming: full_name/part_<i> */
	pg->tf = 1;
	for (size_t i = 0; pg->tf && i < pg->n; i++) {
		const char *op = t->recs[pg->parts[i]].op;
		size_t fl = strlen(pg->full);
		char want[32];
		snprintf(want, sizeof(want), "/part_%zu", i);
		pg->tf = strncmp(op, pg->full, fl) == 0 && strcmp(op + fl, want) == 0;
	}
	if (!pg->tf)
		return 0; /* ordinary variables (§2.6.1) */

	/* layout: TF's partitioners (§2.6) */
	int axis = -1, bad = rank == 0 || pg->n > CKPT_RESOLVE_MAX_PARTS;
	for (size_t i = 0; !bad && i < pg->n; i++) {
		const Tensorflow__SaveSliceInfoDef *s = slice_of(&t->recs[pg->parts[i]]);
		for (size_t d = 0; d < rank; d++) {
			if (s->var_shape[d] == s->full_shape[d] && s->var_offset[d] == 0)
				continue;
			if (axis < 0)
				axis = (int)d;
			else if (axis != (int)d)
				bad = 1;
		}
	}
	if (!bad && pg->n > 1 && axis < 0)
		bad = 1;
	for (size_t i = 0; !bad && axis >= 0 && i < pg->n; i++) {
		const Tensorflow__SaveSliceInfoDef *s = slice_of(&t->recs[pg->parts[i]]);
		int64_t off, len;
		ckpt__part_range(s0->full_shape[axis], (int64_t)pg->n, (int64_t)i, &off, &len);
		bad = s->var_offset[axis] != off || s->var_shape[axis] != len || len == 0;
	}
	if (bad) { /* E18 */
		ckpt__sb_printf(&b,
				"%s: partitioned variable '%s' has a part "
				"layout TensorFlow's partitioners do not produce "
				"(full_shape ",
				c->path, pg->full);
		sb_i64s(&b, rank, s0->full_shape);
		for (size_t i = 0; i < pg->n; i++) {
			const Tensorflow__SaveSliceInfoDef *s = slice_of(&t->recs[pg->parts[i]]);
			ckpt__sb_printf(&b, "; %s: offset ", t->recs[pg->parts[i]].op);
			sb_i64s(&b, s->n_var_offset, s->var_offset);
			ckpt__sb_puts(&b, " shape ");
			sb_i64s(&b, s->n_var_shape, s->var_shape);
		}
		ckpt__sb_puts(&b, ")");
		return fail_sb(c, CKPT_EINVAL, &b);
	}
	pg->axis = axis;
	return 0;
}

static void tf1_roles(tf1 *t)
{
	for (size_t i = 0; i < t->nrecs; i++) {
		rec *r = &t->recs[i];
		size_t p;
		r->role = CKPT_GRAPH_MODEL;
		if (!(r->colls & (1u << C_VARIABLES))) {
			r->role = CKPT_GRAPH_LOCAL;
		} else if (r->loc && strcmp(r->loc, r->op) != 0 &&
			   ckpt__strmap_get(&t->byname, r->loc, &p)) {
			size_t pl = strlen(r->loc);
			if (strncmp(r->op, r->loc, pl) == 0 && r->op[pl] == '/')
				r->role = CKPT_GRAPH_SLOT; /* S1 */
			else
				r->role = CKPT_GRAPH_OPTIMIZER; /* S2 */
		}
	}
}

static int copy_dims(int rank, const int64_t *src, int64_t **dst)
{
	*dst = NULL;
	if (rank <= 0)
		return 0;
	*dst = malloc((size_t)rank * sizeof(int64_t));
	if (*dst == NULL)
		return -1;
	memcpy(*dst, src, (size_t)rank * sizeof(int64_t));
	return 0;
}

static int tf1_emit(gctx *c, tf1 *t, pgroup *groups, size_t ng)
{
	size_t cap = 0;
	for (size_t i = 0; i < t->nrecs; i++) {
		rec *r = &t->recs[i];
		pgroup *pg = r->group >= 0 ? &groups[r->group] : NULL;
		if (pg && pg->tf && r->part != 0)
			continue; /* the group is emitted at its first part */
		ckpt_graph_var *v = add_var(c, &cap);
		if (v == NULL)
			return oom(c->err);
		v->role = r->role;
		v->trainable = (r->colls >> C_TRAINABLE) & 1;
		v->v.dtype = r->dtype;
		if (pg && pg->tf) {
			const Tensorflow__SaveSliceInfoDef *s = slice_of(r);
			size_t rank = s->n_full_shape;
			v->v.name = strdup(pg->full);
			v->checkpoint_key = strdup(pg->full);
			v->v.rank = (int)rank;
			v->v.dims = malloc(rank * sizeof(int64_t));
			v->v.partitions = malloc(rank * sizeof(int64_t));
			if (!v->v.name || !v->checkpoint_key || !v->v.dims || !v->v.partitions)
				return oom(c->err);
			for (size_t d = 0; d < rank; d++) {
				v->v.dims[d] = s->full_shape[d];
				v->v.partitions[d] = (int)d == pg->axis ? (int64_t)pg->n : 1;
			}
		} else {
			const Tensorflow__SaveSliceInfoDef *s = slice_of(r);
			v->v.name = strdup(r->op);
			v->checkpoint_key = strdup(s ? s->full_name : r->op);
			v->v.rank = r->rank;
			if (!v->v.name || !v->checkpoint_key ||
			    copy_dims(r->rank, r->dims, &v->v.dims))
				return oom(c->err);
		}
	}
	(void)ng;
	return 0;
}

static int tf1_path(gctx *c, int *any_colls)
{
	tf1 t = {0};
	pgroup *groups = NULL;
	size_t ng = 0, capg = 0;
	ckpt__strmap gidx = {0};
	int rc = tf1_collect(c, &t, any_colls);
	if (rc == 0 && !*any_colls)
		goto out;
	for (size_t i = 0; rc == 0 && i < t.nrecs; i++) {
		rec *r = &t.recs[i];
		rc = tf1_node(c, r, var_colls[r->coll_first]);
	}
	if (rc == 0)
		tf1_roles(&t);
	/* group the sliced variables by full_name */
	for (size_t i = 0; rc == 0 && i < t.nrecs; i++) {
		rec *r = &t.recs[i];
		const Tensorflow__SaveSliceInfoDef *s = slice_of(r);
		if (s == NULL)
			continue;
		if (s->full_name == NULL || s->full_name[0] == '\0') {
			rc = ckpt__error(c->err, CKPT_EINVAL,
					 "%s: variable '%s' has slice info with "
					 "an empty full_name",
					 c->path, r->op);
			break;
		}
		size_t gi;
		if (!ckpt__strmap_get(&gidx, s->full_name, &gi)) {
			if (grow((void **)&groups, &capg, ng, sizeof(*groups)) ||
			    ckpt__strmap_put(&gidx, s->full_name, ng)) {
				rc = oom(c->err);
				break;
			}
			memset(&groups[ng], 0, sizeof(groups[ng]));
			groups[ng].full = s->full_name;
			groups[ng].axis = -1;
			gi = ng++;
		}
		pgroup *pg = &groups[gi];
		if (grow((void **)&pg->parts, &pg->cap, pg->n, sizeof(size_t))) {
			rc = oom(c->err);
			break;
		}
		pg->parts[pg->n++] = i;
		r->group = (long)gi;
	}
	for (size_t gi = 0; rc == 0 && gi < ng; gi++) {
		size_t at;
		/* E17: TF 1.15 saveable_object_util.op_list_to_dict */
		if (ckpt__strmap_get(&t.byname, groups[gi].full, &at) &&
		    slice_of(&t.recs[at]) == NULL && (t.recs[at].colls & (1u << C_VARIABLES))) {
			rc = ckpt__error(c->err, CKPT_EINVAL,
					 "Mixing slices and non-slices with the "
					 "same name: %s",
					 groups[gi].full);
			break;
		}
		rc = tf1_group(c, &t, &groups[gi]);
		for (size_t i = 0; rc == 0 && i < groups[gi].n; i++)
			t.recs[groups[gi].parts[i]].part = (int)i;
	}
	/* a TF-partitioned group's name may not be another variable's */
	for (size_t gi = 0; rc == 0 && gi < ng; gi++) {
		size_t at;
		if (groups[gi].tf && ckpt__strmap_get(&t.byname, groups[gi].full, &at))
			rc = ckpt__error(c->err, CKPT_EINVAL,
					 "At least two variables have the same "
					 "name: %s",
					 groups[gi].full);
	}
	if (rc == 0)
		rc = tf1_emit(c, &t, groups, ng);
out:
	for (size_t gi = 0; gi < ng; gi++)
		free(groups[gi].parts);
	free(groups);
	ckpt__strmap_free(&gidx);
	tf1_free(&t);
	return rc;
}

/* ---- TF2: the object graph ---- */

typedef struct tf2 {
	Tensorflow__SavedObject **nodes;
	size_t n, cap;
	long *parent;	   /* BFS tree: parent id, -1 root / unreached */
	size_t *depth;	   /* edges from the root */
	const char **edge; /* local_name of the edge from the parent */
	char *seen;
	char *under_opt; /* the path passes through an optimizer */
	char **slot_key; /* key of a slot variable target */
} tf2;

static void tf2_free(tf2 *t)
{
	for (size_t i = 0; i < t->n; i++) {
		tensorflow__saved_object__free_unpacked(t->nodes[i], NULL);
		if (t->slot_key)
			free(t->slot_key[i]);
	}
	free(t->nodes);
	free(t->parent);
	free(t->depth);
	free(t->edge);
	free(t->seen);
	free(t->under_opt);
	free(t->slot_key);
}

static int tf2_load(gctx *c, tf2 *t)
{
	for (size_t oi = 0; oi < c->m->nogds; oi++) {
		wcur w = ckpt__wire_cursor(c->m->ogds[oi]);
		wfield f;
		int r;
		while ((r = ckpt__wire_next(&w, &f)) == 1) {
			if (f.field != 1)
				continue; /* concrete_functions */
			if (f.wt != 2)
				return e_parse(c);
			Tensorflow__SavedObject *so =
			    tensorflow__saved_object__unpack(NULL, f.s.n, f.s.p);
			if (so == NULL)
				return ckpt__error(c->err, CKPT_ECORRUPT,
						   "%s: object graph node %zu is "
						   "not a valid SavedObject",
						   c->path, t->n);
			if (grow((void **)&t->nodes, &t->cap, t->n, sizeof(*t->nodes))) {
				tensorflow__saved_object__free_unpacked(so, NULL);
				return oom(c->err);
			}
			t->nodes[t->n++] = so;
		}
		if (r < 0)
			return e_parse(c);
	}
	return 0;
}

static int e_ref(gctx *c, size_t i, long long j, size_t n)
{
	/* E19 */
	return ckpt__error(c->err, CKPT_ECORRUPT,
			   "%s: object graph node %zu: reference to node %lld, "
			   "but there are only %zu nodes",
			   c->path, i, j, n);
}

static int is_var(const tf2 *t, size_t i)
{
	return t->nodes[i]->kind_case == TENSORFLOW__SAVED_OBJECT__KIND_VARIABLE &&
	       t->nodes[i]->variable != NULL;
}

static int is_optimizer(const tf2 *t, size_t i)
{
	const Tensorflow__SavedObject *o = t->nodes[i];
	return o->kind_case == TENSORFLOW__SAVED_OBJECT__KIND_USER_OBJECT && o->user_object &&
	       o->user_object->identifier && strcmp(o->user_object->identifier, "optimizer") == 0;
}

static void sb_escape(ckpt_sbuf *b, const char *s)
{
	for (; *s; s++) {
		if (*s == '.')
			ckpt__sb_puts(b, "..");
		else if (*s == '/')
			ckpt__sb_puts(b, ".S");
		else
			ckpt__sb_putn(b, s, 1);
	}
}

/* The escaped object path of node i (reached). The walk is paid for from
 * the key budget first, so a hostile deep chain cannot make it quadratic. */
static void sb_path(gctx *c, ckpt_sbuf *b, const tf2 *t, size_t i)
{
	size_t depth = t->depth[i];
	c->key_bytes += depth;
	if (depth > GRAPH_MAX_KEY || c->key_bytes > GRAPH_MAX_KEY_BYTES) {
		c->key_overflow = 1; /* finish_key refuses the key */
		return;
	}
	/* collect the chain root..i, then write it forwards */
	const char **names = malloc((depth ? depth : 1) * sizeof(*names));
	if (names == NULL) {
		b->oom = 1;
		return;
	}
	size_t d = depth;
	for (long k = (long)i; t->parent[k] >= 0; k = t->parent[k])
		names[--d] = t->edge[k];
	for (size_t k = 0; k < depth && b->len <= GRAPH_MAX_KEY; k++) {
		if (k)
			ckpt__sb_puts(b, "/");
		sb_escape(b, names[k]);
	}
	free(names);
}

static int finish_key(gctx *c, ckpt_sbuf *b, size_t node, char **out)
{
	if (b->oom) {
		free(b->p);
		return oom(c->err);
	}
	if (b->len > GRAPH_MAX_KEY || c->key_overflow ||
	    (c->key_bytes += b->len) > GRAPH_MAX_KEY_BYTES) {
		free(b->p);
		return ckpt__error(c->err, CKPT_ERANGE,
				   "%s: object graph node %zu: its object path "
				   "is longer than ckptfs accepts",
				   c->path, node);
	}
	*out = b->p;
	return 0;
}

static int tf2_path(gctx *c)
{
	tf2 t = {0};
	size_t *queue = NULL;
	int rc = tf2_load(c, &t);
	size_t n = t.n;
	if (rc == 0 && n > 0) {
		t.parent = malloc(n * sizeof(*t.parent));
		t.depth = calloc(n, sizeof(*t.depth));
		t.edge = calloc(n, sizeof(*t.edge));
		t.seen = calloc(n, 1);
		t.under_opt = calloc(n, 1);
		t.slot_key = calloc(n, sizeof(*t.slot_key));
		queue = malloc(n * sizeof(*queue));
		if (!t.parent || !t.depth || !t.edge || !t.seen || !t.under_opt || !t.slot_key ||
		    !queue)
			rc = oom(c->err);
	}
	if (rc != 0 || n == 0)
		goto out;
	for (size_t i = 0; i < n; i++)
		t.parent[i] = -1;
	/* 1. breadth-first from node 0, children in proto order */
	size_t qh = 0, qt = 0;
	queue[qt++] = 0;
	t.seen[0] = 1;
	while (rc == 0 && qh < qt) {
		size_t i = queue[qh++];
		const Tensorflow__SavedObject *o = t.nodes[i];
		for (size_t k = 0; k < o->n_children; k++) {
			const Tensorflow__TrackableObjectGraph__TrackableObject__ObjectReference
			    *ch = o->children[k];
			if (ch == NULL)
				continue;
			if (ch->node_id < 0 || (size_t)ch->node_id >= n) {
				rc = e_ref(c, i, ch->node_id, n);
				break;
			}
			size_t j = (size_t)ch->node_id;
			if (t.seen[j])
				continue;
			t.seen[j] = 1;
			t.parent[j] = (long)i;
			t.depth[j] = t.depth[i] + 1;
			t.edge[j] = ch->local_name ? ch->local_name : "";
			t.under_opt[j] = t.under_opt[i] || is_optimizer(&t, i);
			queue[qt++] = j;
		}
	}
	/* 2. slot variables: key of T = path(V)/.OPTIMIZER_SLOT/path(O)/slot */
	for (size_t qi = 0; rc == 0 && qi < qt; qi++) {
		size_t o = queue[qi];
		const Tensorflow__SavedObject *so = t.nodes[o];
		for (size_t k = 0; rc == 0 && k < so->n_slot_variables; k++) {
			const Tensorflow__TrackableObjectGraph__TrackableObject__SlotVariableReference
			    *sv = so->slot_variables[k];
			if (sv == NULL)
				continue;
			long long v = sv->original_variable_node_id;
			long long s = sv->slot_variable_node_id;
			if (v < 0 || (size_t)v >= n) {
				rc = e_ref(c, o, v, n);
				break;
			}
			if (s < 0 || (size_t)s >= n) {
				rc = e_ref(c, o, s, n);
				break;
			}
			if (!is_var(&t, (size_t)s))
				rc = ckpt__error(c->err, CKPT_ECORRUPT,
						 "%s: object graph node %zu: slot "
						 "variable node %lld is not a "
						 "variable",
						 c->path, o, s);
			if (rc != 0 || t.seen[(size_t)s] || !t.seen[(size_t)v] ||
			    t.slot_key[(size_t)s] != NULL)
				continue;
			ckpt_sbuf b = CKPT_SBUF_INIT;
			sb_path(c, &b, &t, (size_t)v);
			ckpt__sb_puts(&b, "/.OPTIMIZER_SLOT/");
			sb_path(c, &b, &t, o);
			ckpt__sb_puts(&b, "/");
			sb_escape(&b, sv->slot_name ? sv->slot_name : "");
			ckpt__sb_puts(&b, "/.ATTRIBUTES/VARIABLE_VALUE");
			rc = finish_key(c, &b, (size_t)s, &t.slot_key[s]);
		}
	}
	/* 3. one record per variable with a key, in node order */
	size_t cap = 0;
	for (size_t i = 0; rc == 0 && i < n; i++) {
		if (!is_var(&t, i))
			continue;
		const Tensorflow__SavedVariable *sv = t.nodes[i]->variable;
		const char *legacy = sv->name ? sv->name : "";
		char *key = NULL;
		unsigned role = CKPT_GRAPH_MODEL;
		if (t.seen[i]) {
			ckpt_sbuf b = CKPT_SBUF_INIT;
			sb_path(c, &b, &t, i);
			ckpt__sb_puts(&b, "/.ATTRIBUTES/VARIABLE_VALUE");
			rc = finish_key(c, &b, i, &key);
			if (rc != 0)
				break;
			if (t.under_opt[i])
				role = CKPT_GRAPH_OPTIMIZER;
		} else if (t.slot_key[i]) {
			key = t.slot_key[i];
			t.slot_key[i] = NULL;
			role = CKPT_GRAPH_SLOT;
		} else {
			rc = warn(c,
				  "%s: object graph variable node %zu ('%s') "
				  "is not reachable from the root and has no "
				  "checkpoint key; skipped",
				  c->path, i, legacy);
			continue;
		}
		ckpt_dtype dt = base_dtype((int)sv->dtype);
		if (dt == CKPT_DT_INVALID) {
			rc = warn(c,
				  "%s: variable '%s' has dtype %d, which has "
				  "no checkpoint form ckptfs maps; skipped",
				  c->path, key, (int)sv->dtype);
			free(key);
			continue;
		}
		ckpt_graph_var *v = add_var(c, &cap);
		if (v == NULL) {
			free(key);
			rc = oom(c->err);
			break;
		}
		v->v.name = key;
		v->checkpoint_key = strdup(key);
		if (v->checkpoint_key == NULL) {
			rc = oom(c->err);
			break;
		}
		v->v.dtype = dt;
		v->role = role;
		v->trainable = sv->trainable;
		rc = shape_of(c, sv->shape, key, &v->v.rank, &v->v.dims);
	}
out:
	free(queue);
	tf2_free(&t);
	return rc;
}

/* ---- choosing what to read ---- */

static int looks_like_text(const uint8_t *p, size_t n)
{
	size_t i = 0, lim = n < 64 ? n : 64;
	if (n == 0)
		return 0;
	for (size_t k = 0; k < lim; k++) {
		uint8_t b = p[k];
		if (!(b == '\t' || b == '\n' || b == '\r' || (b >= 0x20 && b < 0x7f)))
			return 0;
	}
	while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r'))
		i++;
	return i < n && ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z') ||
			 p[i] == '#' || p[i] == '_');
}

static void sb_tags_py(ckpt_sbuf *b, char **tags, size_t n, const char *open, const char *close)
{
	ckpt__sb_puts(b, open);
	for (size_t i = 0; i < n; i++) {
		if (i)
			ckpt__sb_puts(b, ", ");
		ckpt__sb_repr_py(b, tags[i]);
	}
	ckpt__sb_puts(b, close);
}

/* Tags equal {tag} as a set. */
static int tags_are(const mgd *m, const char *tag)
{
	if (m->ntags == 0)
		return 0;
	for (size_t i = 0; i < m->ntags; i++)
		if (strcmp(m->tags[i], tag) != 0)
			return 0;
	return 1;
}

static int object_graph_has_vars(gctx *c, int *has)
{
	*has = 0;
	for (size_t oi = 0; oi < c->m->nogds; oi++) {
		wcur w = ckpt__wire_cursor(c->m->ogds[oi]);
		wfield f;
		int r;
		while ((r = ckpt__wire_next(&w, &f)) == 1) {
			if (f.field != 1 || f.wt != 2)
				continue;
			wcur so = ckpt__wire_cursor(f.s);
			wfield k;
			int r2;
			while ((r2 = ckpt__wire_next(&so, &k)) == 1)
				if (k.field == 7 && k.wt == 2)
					*has = 1;
			if (r2 < 0)
				return e_parse(c);
		}
		if (r < 0)
			return e_parse(c);
	}
	return 0;
}

/* Read the variables of one MetaGraphDef, TF1 or TF2 (spec §6.1 4-5). */
static int read_mgd(gctx *c, int tf2_saved_model)
{
	ckpt_graph *g = c->g;
	int rc;
	if (c->m->ngraphs == 0 && c->m->nogds == 0) /* E7 */
		return ckpt__error(c->err, CKPT_EUNSUPPORTED,
				   "%s: not a MetaGraphDef (no graph_def); a "
				   "GraphDef or graph.pbtxt has no variable "
				   "information",
				   c->path);
	g->tags = calloc(c->m->ntags ? c->m->ntags : 1, sizeof(char *));
	if (g->tags == NULL)
		return oom(c->err);
	for (size_t i = 0; i < c->m->ntags; i++) {
		if ((g->tags[i] = strdup(c->m->tags[i])) == NULL)
			return oom(c->err);
		g->n_tags++;
	}
	if (tf2_saved_model) {
		g->kind = CKPT_GRAPH_TF2;
		rc = tf2_path(c);
	} else {
		g->kind = CKPT_GRAPH_TF1;
		int any = 0;
		rc = index_nodes(c);
		if (rc == 0)
			rc = tf1_path(c, &any);
		if (rc == 0 && !any) {
			int has = 0;
			if (c->m->nogds > 0)
				rc = object_graph_has_vars(c, &has);
			if (rc == 0 && has) {
				g->kind = CKPT_GRAPH_TF2;
				rc = tf2_path(c);
			} else if (rc == 0 && c->nvnodes > 0) { /* E11 */
				rc = ckpt__error(c->err, CKPT_EUNSUPPORTED,
						 "%s: the graph has %zu variable "
						 "nodes but no variable collections"
						 " (exported with an empty "
						 "collection_list?); cannot tell "
						 "which are variables",
						 c->path, c->nvnodes);
			}
		}
	}
	if (rc == 0 && g->n_vars == 0)
		rc = warn(c, "%s: the graph defines no variables", c->path);
	return rc;
}

/* In the ambiguous case (only field 2 at the top): is the payload a
 * MetaGraphDef (so the file is a SavedModel) rather than a GraphDef? */
static int payload_is_mgd(span s)
{
	wcur w = ckpt__wire_cursor(s);
	wfield f;
	while (ckpt__wire_next(&w, &f) == 1) {
		if (f.field == 3)
			return f.wt == 2; /* saver_def vs GraphDef.version */
		if ((f.field == 5 || f.field == 6 || f.field == 7) && f.wt == 2)
			return 1;
		if (f.field == 4 && f.wt == 2)
			return f.s.n > 0 && f.s.p[0] == 0x0a; /* map key */
	}
	return 0;
}

static int parse_saved_model(gctx *c, span whole)
{
	mgd *ms = NULL;
	size_t nm = 0, capm = 0;
	wcur w = ckpt__wire_cursor(whole);
	wfield f;
	int r, rc = 0;
	while ((r = ckpt__wire_next(&w, &f)) == 1) {
		if (f.field == 1 && f.wt != 0) {
			/* not return: the MetaGraphDefs scanned so far are freed below */
			r = -1;
			break;
		}
		if (f.field != 2)
			continue;
		if (f.wt != 2) {
			r = -1;
			break;
		}
		if (grow((void **)&ms, &capm, nm, sizeof(*ms))) {
			rc = oom(c->err);
			break;
		}
		memset(&ms[nm], 0, sizeof(ms[nm]));
		rc = mgd_scan(c, f.s, &ms[nm++]);
		if (rc != 0)
			break;
	}
	if (rc == 0 && r < 0)
		rc = e_parse(c);
	if (rc == 0 && nm == 0) /* E6 */
		rc = ckpt__error(c->err, CKPT_EUNSUPPORTED,
				 "%s: SavedModel contains no MetaGraphDef", c->path);
	const char *tag = c->o->tag;
	mgd *pick = NULL;
	int is_tf2 = 0;
	ckpt_sbuf b = CKPT_SBUF_INIT;
	if (rc == 0 && nm == 1 && ms[0].nogds > 0) {
		is_tf2 = 1;
		pick = &ms[0];
		if (tag && !tags_are(pick, tag)) { /* E9 */
			ckpt__sb_printf(&b,
					"Got an incompatible argument to "
					"`tags`: ['%s']. The SavedModel at %s has "
					"one MetaGraph with tags ",
					tag, c->path);
			sb_tags_py(&b, pick->tags, pick->ntags, "[", "]");
			ckpt__sb_puts(&b, ". You may omit the argument, pass "
					  "'None', or pass matching tags.");
			rc = fail_sb(c, CKPT_EINVAL, &b);
		}
	} else if (rc == 0) {
		const char *want = tag ? tag : "serve";
		for (size_t i = 0; i < nm && !pick; i++)
			if (tags_are(&ms[i], want))
				pick = &ms[i];
		if (pick == NULL && tag == NULL && nm == 1)
			pick = &ms[0];
		if (pick == NULL && tag) { /* E8, master's text */
			ckpt__sb_printf(&b,
					"MetaGraphDef associated with tags "
					"'%s' could not be found in SavedModel, "
					"with available tags '[",
					tag);
			for (size_t i = 0; i < nm; i++) {
				if (i)
					ckpt__sb_puts(&b, ", ");
				sb_tags_py(&b, ms[i].tags, ms[i].ntags, "{", "}");
			}
			ckpt__sb_puts(&b, "]'. To inspect available tag-sets in"
					  " the SavedModel, please use the "
					  "SavedModel CLI: `saved_model_cli`.");
			rc = fail_sb(c, CKPT_EINVAL, &b);
		} else if (pick == NULL) { /* E10 */
			ckpt__sb_printf(&b,
					"Importing a SavedModel with "
					"`tf.saved_model.load` requires a `tags=` "
					"argument if there is more than one "
					"MetaGraph. Got `tags=None`, but there are "
					"%zu MetaGraphs in the SavedModel with tag "
					"sets: [",
					nm);
			for (size_t i = 0; i < nm; i++) {
				if (i)
					ckpt__sb_puts(&b, ", ");
				sb_tags_py(&b, ms[i].tags, ms[i].ntags, "[", "]");
			}
			ckpt__sb_puts(&b, "]. Pass a `tags=` argument to load "
					  "this SavedModel.");
			rc = fail_sb(c, CKPT_EINVAL, &b);
		}
	}
	if (rc == 0) {
		c->m = pick;
		rc = read_mgd(c, is_tf2);
		c->m = NULL;
	}
	for (size_t i = 0; i < nm; i++)
		mgd_free(&ms[i]);
	free(ms);
	return rc;
}

static int parse_top(gctx *c, span whole)
{
	if (looks_like_text(whole.p, whole.n)) /* E3 */
		return ckpt__error(c->err, CKPT_EUNSUPPORTED,
				   "%s: text-format protobuf is not supported; "
				   "write the file in binary form (as_text=False)",
				   c->path);
	size_t f1v = 0, f1l = 0, f2 = 0, fmeta = 0, known = 0;
	span first2 = {NULL, 0};
	wcur w = ckpt__wire_cursor(whole);
	wfield f;
	int r;
	while ((r = ckpt__wire_next(&w, &f)) == 1) {
		if (f.field == 1 && f.wt == 0)
			f1v++;
		else if (f.field == 1 && f.wt == 2)
			f1l++;
		else if (f.field == 2 && f.wt == 2) {
			if (f2++ == 0)
				first2 = f.s;
		} else if (f.field >= 3 && f.field <= 7 && f.wt == 2)
			fmeta++;
		else
			continue;
		known++;
	}
	if (r < 0 || known == 0)
		return e_parse(c);
	if (f1l > 1) /* E7: many field-1 messages are a GraphDef's nodes */
		return ckpt__error(c->err, CKPT_EUNSUPPORTED,
				   "%s: not a MetaGraphDef (no graph_def); a "
				   "GraphDef or graph.pbtxt has no variable "
				   "information",
				   c->path);
	int saved_model;
	if (f1v)
		saved_model = 1;
	else if (f1l || fmeta)
		saved_model = 0;
	else
		saved_model = f2 > 1 || payload_is_mgd(first2);
	if (saved_model)
		return parse_saved_model(c, whole);
	mgd m = {0};
	int rc = mgd_scan(c, whole, &m);
	if (rc == 0) {
		if (c->o->tag && !tags_are(&m, c->o->tag)) {
			ckpt_sbuf b = CKPT_SBUF_INIT;
			ckpt__sb_printf(&b,
					"%s: --tag %s: a MetaGraphDef file "
					"holds one graph, with tags ",
					c->path, c->o->tag);
			sb_tags_py(&b, m.tags, m.ntags, "[", "]");
			rc = fail_sb(c, CKPT_EINVAL, &b);
		}
	}
	if (rc == 0) {
		c->m = &m;
		rc = read_mgd(c, 0);
		c->m = NULL;
	}
	mgd_free(&m);
	return rc;
}

void ckpt_graph_free(ckpt_graph *g)
{
	if (g == NULL)
		return;
	for (size_t i = 0; i < g->n_vars; i++)
		var_free(&g->vars[i]);
	free(g->vars);
	for (size_t i = 0; i < g->n_tags; i++)
		free(g->tags[i]);
	free(g->tags);
	for (size_t i = 0; i < g->n_warnings; i++)
		free(g->warnings[i]);
	free(g->warnings);
	free(g);
}

int ckpt_graph_parse(const uint8_t *data, size_t len, const char *name, const ckpt_graph_opts *o,
		     ckpt_graph **out, ckpt_error *err)
{
	static const ckpt_graph_opts defaults = CKPT_GRAPH_OPTS_INIT;
	gctx c;
	memset(&c, 0, sizeof(c));
	c.path = name ? name : "graph";
	c.err = err;
	c.o = o ? o : &defaults;
	*out = NULL;
	c.g = calloc(1, sizeof(*c.g));
	if (c.g == NULL)
		return oom(err);
	span whole = {data, len};
	int rc = parse_top(&c, whole);
	free(c.vnodes);
	if (rc != 0) {
		ckpt_graph_free(c.g);
		return rc;
	}
	select_roles(c.g, c.o->roles ? c.o->roles : CKPT_GRAPH_DEFAULT_ROLES);
	*out = c.g;
	return 0;
}

static int file_exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

int ckpt_graph_open(const char *path, const ckpt_graph_opts *o, ckpt_graph **out, ckpt_error *err)
{
	struct stat st;
	char *file = NULL;
	*out = NULL;
	if (stat(path, &st) != 0) { /* E1 */
		if (errno == ENOENT)
			return ckpt__error(err, CKPT_ENOTFOUND, "File %s does not exist.", path);
		return ckpt__error(err, CKPT_EIO, "%s: cannot stat: %s", path, strerror(errno));
	}
	if (S_ISDIR(st.st_mode)) {
		ckpt_sbuf b = CKPT_SBUF_INIT;
		ckpt__sb_printf(&b, "%s/saved_model.pb", path);
		ckpt_sbuf t = CKPT_SBUF_INIT;
		ckpt__sb_printf(&t, "%s/saved_model.pbtxt", path);
		ckpt_sbuf k = CKPT_SBUF_INIT;
		ckpt__sb_printf(&k, "%s/saved_model.cpb", path);
		int rc = 0;
		if (b.oom || t.oom || k.oom)
			rc = oom(err);
		else if (file_exists(b.p))
			file = b.p, b.p = NULL;
		else if (file_exists(t.p)) /* E3 */
			rc = ckpt__error(err, CKPT_EUNSUPPORTED,
					 "%s: text-format protobuf is not "
					 "supported; write the file in binary "
					 "form (as_text=False)",
					 t.p);
		else if (file_exists(k.p)) /* E4 */
			rc = ckpt__error(err, CKPT_EUNSUPPORTED,
					 "%s: chunked SavedModel "
					 "(saved_model.cpb) is not supported",
					 path);
		else /* E2 */
			rc = ckpt__error(err, CKPT_ENOTFOUND,
					 "SavedModel file does not exist at: "
					 "%s/{saved_model.pbtxt|saved_model.pb}",
					 path);
		free(b.p);
		free(t.p);
		free(k.p);
		if (rc != 0)
			return rc;
	}
	const char *fp = file ? file : path;
	uint8_t *data = NULL;
	size_t len = 0;
	int rc = ckpt__read_file(fp, GRAPH_MAX_FILE, &data, &len, err);
	if (rc == 0)
		rc = ckpt_graph_parse(data, len, fp, o, out, err);
	free(data);
	free(file);
	return rc;
}

int ckpt_graph_sniff(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0)
		return 0;
	if (S_ISDIR(st.st_mode))
		return 1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	uint8_t buf[256];
	ssize_t n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n <= 0)
		return 0;
	size_t i = 0;
	if (n >= 3 && buf[0] == 0xef && buf[1] == 0xbb && buf[2] == 0xbf)
		i = 3; /* UTF-8 byte order mark */
	while (i < (size_t)n &&
	       (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r'))
		i++;
	if (i == (size_t)n)
		return 0;
	return buf[i] != '{' && buf[i] != '[';
}

int ckpt_graph_load_targets(const char *path, const ckpt_graph_opts *o, ckpt_target_var **out,
			    size_t *n, ckpt_error *err)
{
	ckpt_graph *g;
	*out = NULL;
	*n = 0;
	int rc = ckpt_graph_open(path, o, &g, err);
	if (rc != 0)
		return rc;
	rc = ckpt_graph_take_targets(g, out, n, err);
	ckpt_graph_free(g);
	return rc;
}

int ckpt_graph_take_targets(ckpt_graph *g, ckpt_target_var **out, size_t *n, ckpt_error *err)
{
	*out = NULL;
	*n = 0;
	ckpt_target_var *t = calloc(g->n_vars ? g->n_vars : 1, sizeof(*t));
	if (t == NULL)
		return oom(err);
	for (size_t i = 0; i < g->n_vars; i++) {
		t[i] = g->vars[i].v;
		memset(&g->vars[i].v, 0, sizeof(g->vars[i].v));
	}
	*out = t;
	*n = g->n_vars;
	return 0;
}

int ckpt_targets_to_json(const ckpt_target_var *t, size_t n, char **out, ckpt_error *err)
{
	*out = NULL;
	json_t *vars = json_array();
	json_t *root = json_pack("{s:o}", "variables", vars);
	int bad = root == NULL;
	for (size_t i = 0; !bad && i < n; i++) {
		json_t *shape;
		if (t[i].rank < 0) {
			shape = json_null();
		} else {
			shape = json_array();
			for (int d = 0; shape && d < t[i].rank; d++)
				bad |= json_array_append_new(shape, json_integer(t[i].dims[d]));
		}
		json_t *v = json_pack("{s:s, s:s, s:o}", "name", t[i].name, "dtype",
				      ckpt_dtype_name(t[i].dtype), "shape", shape);
		if (v && t[i].partitions) {
			json_t *p = json_array();
			for (int d = 0; p && d < t[i].rank; d++)
				bad |= json_array_append_new(p, json_integer(t[i].partitions[d]));
			bad |= json_object_set_new(v, "partitions", p);
		}
		if (v && t[i].perm) {
			json_t *p = json_array();
			for (int d = 0; p && d < t[i].rank; d++)
				bad |= json_array_append_new(p, json_integer(t[i].perm[d]));
			bad |= json_object_set_new(v, "perm", p);
		}
		bad |= v == NULL || json_array_append_new(vars, v);
	}
	char *s =
	    bad ? NULL : json_dumps(root, JSON_INDENT(2) | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (s == NULL)
		return oom(err);
	*out = s;
	return 0;
}
