/*
 * Internal: the byte encodings the bundle writer uses, exposed for tests
 * (spec/bundle.md, spec/protos.md).
 */
#ifndef CKPT_WRITER_INT_H
#define CKPT_WRITER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/error.h"
#include "ckpt/writer.h"
#include "util/codec_int.h"

/* The fields of a BundleEntryProto, as the writer fills them. */
typedef struct ckpt__entry_fields {
	int dtype;
	int rank;
	const int64_t *dims; /* rank entries, each >= 0 */
	int32_t shard_id;
	int64_t offset;
	int64_t size;
	uint32_t crc32c; /* masked, as stored */
	size_t n_slices;
	/* n_slices * rank (start, length) pairs; length -1 = full extent */
	const int64_t *slices;
} ckpt__entry_fields;

/*
 * Append the proto3 encoding of a BundleEntryProto with C++ protobuf's
 * byte layout: fields in number order, zero scalars omitted, shape always
 * present, full extents as empty Extent messages, slice lengths always
 * written (a oneof). Returns 0 or CKPT_ENOMEM.
 */
int ckpt__bundle_encode_entry(ckpt__buf *out, const ckpt__entry_fields *e);

/* BundleHeaderProto{num_shards, LITTLE, version{producer 1}}. */
int ckpt__bundle_encode_header(ckpt__buf *out, int32_t num_shards);

/*
 * The head of a DT_STRING tensor's data: n varint64 lengths, then the
 * masked CRC of the lengths (each as 4-byte LE uint32, or 8-byte LE uint64
 * above 0xffffffff) as 4 LE bytes. *crc_out gets the running entry CRC
 * (unmasked) after the head; extend it over the string bytes.
 * Returns 0 or CKPT_ENOMEM.
 */
int ckpt__bundle_string_head(ckpt__buf *out, size_t n, const uint64_t *lens, uint32_t *crc_out);

/* One index entry: a bundle key and its BundleEntryProto fields. */
typedef struct ckpt__index_entry {
	const uint8_t *key;
	size_t key_len;
	ckpt__entry_fields fields;
} ckpt__index_entry;

/*
 * Append a whole `.index` file to *out, as ckpt_writer_finish writes it
 * for one BundleWriter: the header (num_shards) under key "", then every
 * entry in key order, through TF's table builder. The entries are sorted
 * in place. Used where an index is built in memory (the view's --format
 * tf). Returns 0, CKPT_EINVAL for a repeated key ("Adding duplicate key"),
 * or CKPT_ENOMEM.
 */
int ckpt__bundle_encode_index(ckpt__buf *out, int32_t num_shards, ckpt__index_entry *entries,
			      size_t n, ckpt_error *err);

/* Occupied slots passed so far by the writer's key lookups: a hostile set
 * of names must not make this grow faster than the number of lookups. */
size_t ckpt__writer_probes(const ckpt_writer *w);

#endif
