/*
 * objgraph.c - the TrackableObjectGraph of an object-based checkpoint as
 * the JSON of @object_graph.json (format/objgraph_int.h says what it
 * looks like and how it is bounded).
 *
 * The outer message (nodes) and each node (its repeated fields) are split
 * with the wire scanner; protobuf-c unpacks each ObjectReference,
 * SerializedTensor, SlotVariableReference, RegisteredSaver and BoolValue on
 * its own, so the memory a node takes to render is one such piece at a
 * time plus its text. The JSON is cut into groups of nodes at marks, each
 * rendered on demand; the group read last is kept, so reading the file
 * front to back renders every node once.
 */
#include "format/objgraph_int.h"

#include <jansson.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "trackable_object_graph.pb-c.h"
#include "util/error_int.h"
#include "util/strbuf_int.h"
#include "util/wire_int.h"

/* A new group of nodes starts after this many nodes or bytes of proto. */
#define OBJGRAPH_MARK_NODES 64
#define OBJGRAPH_MARK_BYTES 65536

/* Fields of TrackableObjectGraph.TrackableObject. */
enum { F_CHILDREN = 1, F_ATTRIBUTES = 2, F_SLOTS = 3, F_SAVER = 4, F_HAS_VALUES = 5 };

/* The first node of a group: its index, where its field starts in the
 * proto and where its text starts in the JSON. */
struct mark {
	size_t node;
	size_t off;
	uint64_t at;
};

struct ckpt__objgraph {
	uint8_t *p; /* the proto */
	size_t n;
	char *what;
	size_t n_nodes;
	struct mark *marks;
	size_t n_marks;
	uint64_t tail_at; /* where the closing "]" starts */
	uint64_t size;
	pthread_mutex_t lock; /* guards the kept group */
	size_t kept;	      /* its index, SIZE_MAX for none */
	ckpt_sbuf kept_text;
};

typedef struct rctx {
	const ckpt__objgraph *g;
	size_t node; /* the node being rendered */
	size_t at;   /* its byte offset in the proto */
	ckpt_error *err;
} rctx;

static int oom(ckpt_error *err)
{
	return ckpt__error(err, CKPT_ENOMEM, "out of memory");
}

static int bad(const rctx *c, int code, const char *what)
{
	return ckpt__error(c->err, code, "%s: node %zu (at byte %zu): %s", c->g->what, c->node,
			   c->at, what);
}

/* Names become C strings when unpacked: a NUL inside one would cut it.
 * `strings` has bit k set for each string field k of the piece (other
 * length-delimited fields are unknown ones, which may hold anything). */
static int has_nul(ckpt__span s, unsigned strings)
{
	ckpt__wcur w = ckpt__wire_cursor(s);
	ckpt__wfield f;
	while (ckpt__wire_next(&w, &f) == 1)
		if (f.wt == 2 && f.field < 32 && (strings >> f.field & 1) &&
		    memchr(f.s.p, 0, f.s.n) != NULL)
			return 1;
	return 0;
}

static int utf8(const char *s)
{
	return ckpt__utf8_valid(s, strlen(s));
}

static int ref_ok(const rctx *c, int32_t id)
{
	return id >= 0 && (uint64_t)id < c->g->n_nodes;
}

static int bad_ref(const rctx *c, const char *field, int32_t id)
{
	return ckpt__error(c->err, CKPT_ECORRUPT,
			   "%s: node %zu (at byte %zu): %s %d, but there are only %zu nodes",
			   c->g->what, c->node, c->at, field, id, c->g->n_nodes);
}

/* One piece of a node (field `field`, bytes s) as JSON in *out. */
static int piece_json(const rctx *c, uint32_t field, ckpt__span s, json_t **out)
{
	static const ProtobufCMessageDescriptor *const desc[] = {
	    NULL,
	    &tensorflow__trackable_object_graph__trackable_object__object_reference__descriptor,
	    &tensorflow__trackable_object_graph__trackable_object__serialized_tensor__descriptor,
	    &tensorflow__trackable_object_graph__trackable_object__slot_variable_reference__descriptor,
	    &tensorflow__registered_saver__descriptor,
	    &tensorflow__bool_value__descriptor,
	};
	static const char *const names[] = {NULL,
					    "child",
					    "attribute",
					    "slot variable",
					    "registered_saver",
					    "has_checkpoint_values"};
	/* the string fields of each piece: local_name; name, full_name,
	 * checkpoint_key; slot_name; name, object_name; none */
	static const unsigned strings[] = {0, 1u << 2, 7u << 1, 1u << 2, 3u << 1, 0};
	if (has_nul(s, strings[field]))
		return bad(c, CKPT_EUNSUPPORTED, "a name holds a NUL byte");
	ProtobufCMessage *m = protobuf_c_message_unpack(desc[field], NULL, s.n, s.p);
	if (m == NULL) {
		char what[64];
		snprintf(what, sizeof(what), "a %s is not a valid message", names[field]);
		return bad(c, CKPT_ECORRUPT, what);
	}
	int rc = 0;
	json_t *o = NULL;
	if (field == F_CHILDREN) {
		const Tensorflow__TrackableObjectGraph__TrackableObject__ObjectReference *r =
		    (const void *)m;
		if (!ref_ok(c, r->node_id))
			rc = bad_ref(c, "a child refers to node", r->node_id);
		else if (!utf8(r->local_name))
			rc = bad(c, CKPT_EUNSUPPORTED, "a name is not valid UTF-8");
		else
			o = json_pack("{s:i, s:s}", "node_id", (int)r->node_id, "local_name",
				      r->local_name);
	} else if (field == F_ATTRIBUTES) {
		const Tensorflow__TrackableObjectGraph__TrackableObject__SerializedTensor *t =
		    (const void *)m;
		if (!utf8(t->name) || !utf8(t->full_name) || !utf8(t->checkpoint_key))
			rc = bad(c, CKPT_EUNSUPPORTED, "a name is not valid UTF-8");
		else
			o = json_pack("{s:s, s:s, s:s}", "name", t->name, "full_name", t->full_name,
				      "checkpoint_key", t->checkpoint_key);
		if (o && t->optional_restore &&
		    json_object_set_new(o, "optional_restore", json_true()) != 0) {
			json_decref(o);
			o = NULL;
		}
	} else if (field == F_SLOTS) {
		const Tensorflow__TrackableObjectGraph__TrackableObject__SlotVariableReference *r =
		    (const void *)m;
		if (!ref_ok(c, r->original_variable_node_id))
			rc = bad_ref(c, "a slot's original variable is node",
				     r->original_variable_node_id);
		else if (!ref_ok(c, r->slot_variable_node_id))
			rc = bad_ref(c, "a slot variable is node", r->slot_variable_node_id);
		else if (!utf8(r->slot_name))
			rc = bad(c, CKPT_EUNSUPPORTED, "a name is not valid UTF-8");
		else
			o = json_pack("{s:i, s:s, s:i}", "original_variable_node_id",
				      (int)r->original_variable_node_id, "slot_name", r->slot_name,
				      "slot_variable_node_id", (int)r->slot_variable_node_id);
	} else if (field == F_SAVER) {
		const Tensorflow__RegisteredSaver *r = (const void *)m;
		if (!utf8(r->name) || !utf8(r->object_name))
			rc = bad(c, CKPT_EUNSUPPORTED, "a name is not valid UTF-8");
		else
			o = json_pack("{s:s, s:s}", "name", r->name, "object_name", r->object_name);
	} else {
		o = json_boolean(((const Tensorflow__BoolValue *)m)->value);
	}
	protobuf_c_message_free_unpacked(m, NULL);
	if (rc == 0 && o == NULL)
		rc = oom(c->err);
	*out = o;
	return rc;
}

static int dump(json_t *o, ckpt_sbuf *b, int first, unsigned indent, ckpt_error *err)
{
	char *t = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII |
				    JSON_ENCODE_ANY);
	json_decref(o);
	if (t == NULL)
		return oom(err);
	if (first < 0)
		ckpt__sb_indented(b, t, indent);
	else
		ckpt__sb_json_element(b, t, first, indent);
	free(t);
	return 0;
}

/*
 * The singular message `field` of node s: protobuf merges repeated copies
 * of one, as it would their concatenation, so their bytes are joined and
 * unpacked once. *out NULL when the node has none.
 */
static int singular(const rctx *c, ckpt__span s, uint32_t field, json_t **out)
{
	ckpt__wcur w = ckpt__wire_cursor(s);
	ckpt__wfield f;
	ckpt__buf joined = {0};
	int any = 0, rc = 0;
	*out = NULL;
	while (rc == 0 && ckpt__wire_next(&w, &f) == 1)
		if (f.field == field && f.wt == 2) {
			any = 1;
			if (ckpt__buf_append(&joined, f.s.p, f.s.n))
				rc = oom(c->err);
		}
	if (rc == 0 && any)
		rc = piece_json(c, field, (ckpt__span){joined.data ? joined.data : s.p, joined.len},
				out);
	ckpt__buf_free(&joined);
	return rc;
}

/* Node c->node, whose bytes are s, as the next element of the array. */
static int render_node(const rctx *c, ckpt__span s, ckpt_sbuf *b)
{
	static const char *const arrays[] = {NULL, "children", "attributes", "slot_variables"};
	ckpt__wcur w = ckpt__wire_cursor(s);
	ckpt__wfield f;
	int r;
	while ((r = ckpt__wire_next(&w, &f)) == 1)
		;
	if (r < 0)
		return bad(c, CKPT_ECORRUPT, "not a valid TrackableObject");
	ckpt_sbuf nb = CKPT_SBUF_INIT;
	int rc = 0;
	ckpt__sb_printf(&nb, "{\n  \"id\": %zu", c->node);
	for (uint32_t field = F_CHILDREN; rc == 0 && field <= F_SLOTS; field++) {
		ckpt__sb_printf(&nb, ",\n  \"%s\": [", arrays[field]);
		int first = 1;
		w = ckpt__wire_cursor(s);
		while (rc == 0 && ckpt__wire_next(&w, &f) == 1) {
			json_t *o;
			/* a field of another wire type is an unknown field to protobuf */
			if (f.field != field || f.wt != 2)
				continue;
			rc = piece_json(c, field, f.s, &o);
			if (rc == 0)
				rc = dump(o, &nb, first, 4, c->err);
			first = 0;
		}
		ckpt__sb_puts(&nb, first ? "]" : "\n  ]");
	}
	static const char *const single[] = {"registered_saver", "has_checkpoint_values"};
	for (uint32_t field = F_SAVER; rc == 0 && field <= F_HAS_VALUES; field++) {
		json_t *o;
		rc = singular(c, s, field, &o);
		if (rc == 0 && o != NULL) {
			ckpt__sb_printf(&nb, ",\n  \"%s\": ", single[field - F_SAVER]);
			rc = dump(o, &nb, -1, 2, c->err);
		}
	}
	ckpt__sb_puts(&nb, "\n}");
	if (rc == 0 && nb.oom)
		rc = oom(c->err);
	if (rc == 0)
		ckpt__sb_json_element(b, nb.p, c->node == 0, 2);
	free(nb.p);
	return rc;
}

/* The next node of the outer message: 1 with its bytes in *s and where its
 * field starts in *at, 0 at the end, -1 when the bytes are malformed (*at
 * is where). Fields other than nodes are skipped, as TensorFlow's proto
 * would keep them as unknown fields. */
static int next_node(const ckpt__objgraph *g, ckpt__wcur *w, ckpt__span *s, size_t *at)
{
	ckpt__wfield f;
	int r;
	do {
		*at = (size_t)(w->p - g->p);
		r = ckpt__wire_next(w, &f);
	} while (r == 1 && (f.field != 1 || f.wt != 2));
	*s = f.s;
	return r;
}

/* Nodes [first, first + count) from byte off into b (the first pass:
 * measure, also setting the marks, the tail and the size). */
static int render(ckpt__objgraph *g, size_t first, size_t off, size_t count, ckpt_sbuf *b,
		  int measure, ckpt_error *err)
{
	ckpt__wcur w = ckpt__wire_cursor((ckpt__span){g->p + off, g->n - off});
	rctx c = {g, first, off, err};
	ckpt__span s;
	uint64_t at = 1; /* after "[" */
	int rc = 0;
	while (rc == 0 && c.node < first + count && next_node(g, &w, &s, &c.at) == 1) {
		if (measure && (c.node % OBJGRAPH_MARK_NODES == 0 ||
				c.at - g->marks[g->n_marks - 1].off >= OBJGRAPH_MARK_BYTES)) {
			struct mark *m = realloc(g->marks, (g->n_marks + 1) * sizeof(*g->marks));
			if (m == NULL)
				return oom(err);
			g->marks = m;
			g->marks[g->n_marks++] = (struct mark){c.node, c.at, at};
		}
		size_t before = b->len;
		rc = render_node(&c, s, b);
		at += b->len - before;
		if (measure)
			b->len = 0;
		c.node++;
	}
	if (rc == 0 && b->oom)
		rc = oom(err);
	if (rc == 0 && measure) {
		g->tail_at = at;
		g->size = at + (g->n_nodes ? 3 : 2); /* "\n]\n" or "]\n" */
	}
	return rc;
}

void ckpt__objgraph_free(ckpt__objgraph *g)
{
	if (g == NULL)
		return;
	pthread_mutex_destroy(&g->lock);
	free(g->kept_text.p);
	free(g->marks);
	free(g->what);
	free(g->p);
	free(g);
}

int ckpt__objgraph_parse(const uint8_t *p, size_t n, const char *what, ckpt__objgraph **out,
			 ckpt_error *err)
{
	*out = NULL;
	if (n > CKPT__OBJGRAPH_MAX)
		return ckpt__error(err, CKPT_EUNSUPPORTED,
				   "%s: an object graph of %zu bytes (more than %llu MiB)", what, n,
				   (unsigned long long)(CKPT__OBJGRAPH_MAX >> 20));
	ckpt__objgraph *g = calloc(1, sizeof(*g));
	if (g == NULL)
		return oom(err);
	pthread_mutex_init(&g->lock, NULL);
	g->kept = SIZE_MAX;
	g->n = n;
	g->p = malloc(n ? n : 1);
	g->what = strdup(what);
	if (g->p == NULL || g->what == NULL) {
		ckpt__objgraph_free(g);
		return oom(err);
	}
	if (n)
		memcpy(g->p, p, n);
	/* count the nodes first: references are checked against the count */
	ckpt__wcur w = ckpt__wire_cursor((ckpt__span){g->p, n});
	ckpt__span s;
	size_t at;
	int r, rc = 0;
	while ((r = next_node(g, &w, &s, &at)) == 1)
		g->n_nodes++;
	if (r < 0)
		rc = ckpt__error(err, CKPT_ECORRUPT,
				 "%s: not a valid TrackableObjectGraph at byte %zu", what, at);
	ckpt_sbuf scratch = CKPT_SBUF_INIT;
	if (rc == 0)
		rc = render(g, 0, 0, g->n_nodes, &scratch, 1, err);
	free(scratch.p);
	if (rc) {
		ckpt__objgraph_free(g);
		return rc;
	}
	*out = g;
	return 0;
}

uint64_t ckpt__objgraph_size(const ckpt__objgraph *g)
{
	return g->size;
}

/* Where group k's text starts and ends. */
static uint64_t group_end(const ckpt__objgraph *g, size_t k)
{
	return k + 1 < g->n_marks ? g->marks[k + 1].at : g->tail_at;
}

/* Copy what of [a, a + na) falls into [off, off + len) to out. */
static void overlap(const char *src, uint64_t a, size_t na, uint64_t off, size_t len, uint8_t *out)
{
	uint64_t lo = a > off ? a : off, hi = a + na < off + len ? a + na : off + len;
	if (lo < hi)
		memcpy(out + (lo - off), src + (lo - a), (size_t)(hi - lo));
}

int ckpt__objgraph_read(ckpt__objgraph *g, uint64_t off, void *out, size_t len, ckpt_error *err)
{
	uint64_t end = off + len;
	const char *tail = g->n_nodes ? "\n]\n" : "]\n";
	overlap("[", 0, 1, off, len, out);
	overlap(tail, g->tail_at, strlen(tail), off, len, out);
	/* the groups it covers: from the last whose text starts at or before off */
	size_t lo = 0, hi = g->n_marks;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (g->marks[mid].at <= off)
			lo = mid;
		else
			hi = mid;
	}
	int rc = 0;
	pthread_mutex_lock(&g->lock);
	for (size_t k = lo; rc == 0 && k < g->n_marks && g->marks[k].at < end; k++) {
		if (group_end(g, k) <= off)
			continue;
		if (g->kept != k) {
			size_t count = (k + 1 < g->n_marks ? g->marks[k + 1].node : g->n_nodes) -
				       g->marks[k].node;
			g->kept = SIZE_MAX;
			g->kept_text.len = 0;
			rc = render(g, g->marks[k].node, g->marks[k].off, count, &g->kept_text, 0,
				    err);
			if (rc == 0 && g->kept_text.len != group_end(g, k) - g->marks[k].at)
				rc = ckpt__error(err, CKPT_EIO, "%s: node %zu renders differently",
						 g->what, g->marks[k].node);
			if (rc == 0)
				g->kept = k;
		}
		if (rc == 0)
			overlap(g->kept_text.p, g->marks[k].at, g->kept_text.len, off, len, out);
	}
	pthread_mutex_unlock(&g->lock);
	return rc;
}

int ckpt__objgraph_load(const ckpt_reader *r, ckpt__objgraph **out, ckpt_error *err)
{
	size_t i;
	*out = NULL;
	if (ckpt_reader_find(r, CKPT_OBJECT_GRAPH_KEY, &i) != 0)
		return 0;
	const ckpt_tensor *t = ckpt_reader_tensor(r, i);
	char what[CKPT_ERROR_MSG_MAX / 2];
	snprintf(what, sizeof(what), "%s: %s", ckpt_reader_path(r), CKPT_OBJECT_GRAPH_KEY);
	if (t->dtype != CKPT_DT_STRING || t->rank != 0)
		return ckpt__error(err, CKPT_ECORRUPT, "%s is %s of rank %d, not a string scalar",
				   what, ckpt_dtype_name(t->dtype), t->rank);
	if (ckpt_reader_piece(r, i, 0)->size > CKPT__OBJGRAPH_MAX + 16)
		return ckpt__error(err, CKPT_EUNSUPPORTED,
				   "%s: an object graph of %llu bytes (more than %llu MiB)", what,
				   (unsigned long long)ckpt_reader_piece(r, i, 0)->size,
				   (unsigned long long)(CKPT__OBJGRAPH_MAX >> 20));
	char **strs;
	uint64_t *lens;
	int rc = ckpt_reader_read_strings(r, i, &strs, &lens, err);
	if (rc)
		return rc;
	rc = ckpt__objgraph_parse((const uint8_t *)strs[0], (size_t)lens[0], what, out, err);
	ckpt_reader_free_strings(strs, lens);
	return rc;
}
