/*
 * Internal: the object graph of an object-based (TF2) checkpoint, the
 * TrackableObjectGraph proto in its _CHECKPOINTABLE_OBJECT_GRAPH tensor
 * (spec protos.md), as the JSON of @object_graph.json:
 *
 *   [{"id": 0,
 *     "children": [{"node_id": 1, "local_name": "model"}, ...],
 *     "attributes": [{"name": "VARIABLE_VALUE", "full_name": "dense/kernel",
 *                     "checkpoint_key": "model/.../.ATTRIBUTES/VARIABLE_VALUE"}],
 *     "slot_variables": [{"original_variable_node_id": 3, "slot_name": "m",
 *                         "slot_variable_node_id": 7}],
 *     "registered_saver": {"name", "object_name"},     (when set)
 *     "has_checkpoint_values": true},                  (when set)
 *    ...]
 *
 * one element per node in proto order (the node id is its index), pretty
 * printed with two spaces, a newline at the end; "optional_restore": true
 * in an attribute that has it. Never held whole: the proto's bytes are
 * kept and a read renders the nodes it covers (a mark every
 * OBJGRAPH_MARK_NODES nodes or OBJGRAPH_MARK_BYTES bytes of proto, the
 * last group rendered kept). The bytes are hostile: every reference is
 * checked against the node count, every sub-message is unpacked alone
 * (protobuf-c) so that no node can make the decoder allocate more than its
 * own pieces, and names must be UTF-8 without NUL bytes.
 */
#ifndef CKPT_OBJGRAPH_INT_H
#define CKPT_OBJGRAPH_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/error.h"
#include "ckpt/reader.h"

/* Largest object graph read (bytes of proto; protobuf's own limit is 2 GiB). */
#define CKPT__OBJGRAPH_MAX ((uint64_t)256 << 20)

typedef struct ckpt__objgraph ckpt__objgraph;

/*
 * Check and measure the serialized TrackableObjectGraph p[0..n) (copied);
 * `what` names it in messages ("PREFIX: _CHECKPOINTABLE_OBJECT_GRAPH").
 * CKPT_ECORRUPT when it is not one (the byte offset and the failed check
 * in the message) or a reference points past the nodes; CKPT_EUNSUPPORTED
 * for a name JSON cannot carry or more than CKPT__OBJGRAPH_MAX bytes.
 * Ownership: the caller frees *out with ckpt__objgraph_free().
 */
int ckpt__objgraph_parse(const uint8_t *p, size_t n, const char *what, ckpt__objgraph **out,
			 ckpt_error *err);

/*
 * The object graph of checkpoint r: *out NULL when r holds no tensor
 * CKPT_OBJECT_GRAPH_KEY; else that tensor (which must be a string scalar)
 * read whole, its CRC32C checked, and parsed as above. Errors of the read
 * (a missing shard, a checksum) are the reader's.
 * Ownership: the caller frees *out with ckpt__objgraph_free().
 */
int ckpt__objgraph_load(const ckpt_reader *r, ckpt__objgraph **out, ckpt_error *err);

/* Bytes of the JSON. */
uint64_t ckpt__objgraph_size(const ckpt__objgraph *g);

/* JSON bytes [off, off + len) into out (off + len <= size). Thread-safe. */
int ckpt__objgraph_read(ckpt__objgraph *g, uint64_t off, void *out, size_t len, ckpt_error *err);

void ckpt__objgraph_free(ckpt__objgraph *g);

#endif
