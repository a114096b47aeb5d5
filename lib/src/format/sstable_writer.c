/*
 * TensorFlow's table builder (tensorflow/core/lib/io/table_builder.cc and
 * block_builder.cc), reproduced byte for byte; see spec/index_sstable.md.
 *
 * File:   data blocks, the empty metaindex block, the index block, each
 *         followed by a 5-byte trailer (type 0, masked crc32c over the block
 *         bytes and the type byte), then a 48-byte footer (two block
 *         handles padded to 40 bytes, then the magic, little-endian).
 * Block:  entries (varint32 shared, non_shared, value_length, key delta,
 *         value), the restart offsets (fixed32 LE) and their count.
 */
#include "format/sstable_writer_int.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "util/crc32c_int.h"
#include "util/error_int.h"

int ckpt__write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n > 0) {
		ssize_t k = write(fd, b, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (k == 0) {
			errno = EIO;
			return -1;
		}
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

int ckpt__sst_compare(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	size_t n = alen < blen ? alen : blen;
	int c = n ? memcmp(a, b, n) : 0;

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen ? 1 : 0;
}

void ckpt__sst_shortest_separator(ckpt__buf *start, const uint8_t *limit, size_t limit_len)
{
	size_t min_len = start->len < limit_len ? start->len : limit_len;
	size_t i = 0;

	while (i < min_len && start->data[i] == limit[i])
		i++;
	if (i >= min_len)
		return; /* one is a prefix of the other: keep start */
	uint8_t b = start->data[i];
	if (b < 0xff && (unsigned)b + 1 < limit[i]) {
		start->data[i] = (uint8_t)(b + 1);
		start->len = i + 1;
	}
}

void ckpt__sst_short_successor(ckpt__buf *key)
{
	for (size_t i = 0; i < key->len; i++) {
		if (key->data[i] != 0xff) {
			key->data[i] = (uint8_t)(key->data[i] + 1);
			key->len = i + 1;
			return;
		}
	}
	/* all 0xff (or empty): left as is */
}

static int set_bytes(ckpt__buf *b, const void *p, size_t n)
{
	b->len = 0;
	return ckpt__buf_append(b, p, n);
}

/* ---- BlockBuilder ---- */

static int block_reset(ckpt__sst_block *bl)
{
	bl->data.len = 0;
	bl->restarts.len = 0;
	bl->last_key.len = 0;
	bl->counter = 0;
	bl->empty = 1;
	return ckpt__buf_append_le32(&bl->restarts, 0); /* first restart at 0 */
}

static int block_init(ckpt__sst_block *bl, int restart_interval)
{
	memset(bl, 0, sizeof(*bl));
	bl->restart_interval = restart_interval;
	return block_reset(bl);
}

static void block_free(ckpt__sst_block *bl)
{
	ckpt__buf_free(&bl->data);
	ckpt__buf_free(&bl->restarts);
	ckpt__buf_free(&bl->last_key);
}

/* entries + restart array + count (TF's CurrentSizeEstimate). */
static size_t block_estimate(const ckpt__sst_block *bl)
{
	return bl->data.len + bl->restarts.len + 4;
}

static int block_add(ckpt__sst_block *bl, const uint8_t *key, size_t klen, const uint8_t *val,
		     size_t vlen)
{
	size_t shared = 0;
	int rc;

	if (klen > UINT32_MAX || vlen > UINT32_MAX)
		return CKPT_EINVAL; /* varint32 fields */
	if (key == NULL)	    /* empty key held in an empty ckpt__buf */
		key = (const uint8_t *)"";
	if (val == NULL)
		val = (const uint8_t *)"";
	if (bl->counter < bl->restart_interval) {
		size_t min_len = bl->last_key.len < klen ? bl->last_key.len : klen;
		while (shared < min_len && bl->last_key.data[shared] == key[shared])
			shared++;
	} else {
		if (bl->data.len > UINT32_MAX)
			return CKPT_EINVAL;
		rc = ckpt__buf_append_le32(&bl->restarts, (uint32_t)bl->data.len);
		if (rc)
			return rc;
		bl->counter = 0;
	}
	size_t non_shared = klen - shared;
	if ((rc = ckpt__buf_append_varint(&bl->data, shared)) ||
	    (rc = ckpt__buf_append_varint(&bl->data, non_shared)) ||
	    (rc = ckpt__buf_append_varint(&bl->data, vlen)) ||
	    (rc = ckpt__buf_append(&bl->data, key + shared, non_shared)) ||
	    (rc = ckpt__buf_append(&bl->data, val, vlen)))
		return rc;
	/* last_key = key (only the tail changes) */
	bl->last_key.len = shared;
	if ((rc = ckpt__buf_append(&bl->last_key, key + shared, non_shared)))
		return rc;
	bl->counter++;
	bl->empty = 0;
	return 0;
}

/* ---- TableBuilder ---- */

static int emit(ckpt__sst_writer *w, const void *p, size_t n, ckpt_error *err)
{
	if (w->fd >= 0) {
		if (ckpt__write_all(w->fd, p, n) != 0)
			return ckpt__error(err, CKPT_EIO, "%s@%llu: write failed",
					   w->path ? w->path : "<sstable>",
					   (unsigned long long)w->offset);
	} else if (ckpt__buf_append(w->out, p, n) != 0) {
		return ckpt__error(err, CKPT_ENOMEM, "sstable: out of memory");
	}
	w->offset += n;
	return 0;
}

static int fail(ckpt__sst_writer *w, int rc, ckpt_error *err)
{
	if (rc == CKPT_ENOMEM)
		ckpt__error(err, rc, "sstable: out of memory");
	else if (rc == CKPT_EINVAL)
		ckpt__error(err, rc, "sstable: key or value longer than 4 GiB");
	w->status = rc;
	return rc;
}

/* Finish bl (append restarts and count), write it with its trailer and
 * reset it; off and size receive its handle. */
static int write_block(ckpt__sst_writer *w, ckpt__sst_block *bl, uint64_t *off, uint64_t *size,
		       ckpt_error *err)
{
	int rc;
	size_t nrestarts = bl->restarts.len / 4;

	if (nrestarts > UINT32_MAX)
		return fail(w, CKPT_EINVAL, err);
	if ((rc = ckpt__buf_append(&bl->data, bl->restarts.data, bl->restarts.len)) ||
	    (rc = ckpt__buf_append_le32(&bl->data, (uint32_t)nrestarts)))
		return fail(w, rc, err);

	uint8_t trailer[5] = {0}; /* type 0: no compression */
	uint32_t crc = ckpt__crc32c_extend(0, bl->data.data, bl->data.len);
	crc = ckpt__crc32c_extend(crc, trailer, 1);
	ckpt__store_le32(trailer + 1, ckpt__crc32c_mask(crc));

	*off = w->offset;
	*size = bl->data.len;
	if ((rc = emit(w, bl->data.data, bl->data.len, err)) ||
	    (rc = emit(w, trailer, sizeof(trailer), err))) {
		w->status = rc;
		return rc;
	}
	if ((rc = block_reset(bl)))
		return fail(w, rc, err);
	return 0;
}

static int flush(ckpt__sst_writer *w, ckpt_error *err)
{
	if (w->data_block.empty)
		return 0;
	int rc = write_block(w, &w->data_block, &w->pending_off, &w->pending_size, err);
	if (rc == 0)
		w->pending_index = 1;
	return rc;
}

static int add_pending_index(ckpt__sst_writer *w, ckpt_error *err)
{
	uint8_t handle[20];
	size_t n = ckpt__put_varint64(handle, w->pending_off);
	n += ckpt__put_varint64(handle + n, w->pending_size);
	int rc = block_add(&w->index_block, w->last_key.data, w->last_key.len, handle, n);
	if (rc)
		return fail(w, rc, err);
	w->pending_index = 0;
	return 0;
}

static int init_common(ckpt__sst_writer *w, const ckpt__sst_options *opt)
{
	ckpt__sst_options def = CKPT__SST_OPTIONS_INIT;

	memset(w, 0, sizeof(*w));
	w->fd = -1;
	if (opt == NULL)
		opt = &def;
	if (opt->restart_interval < 1 || opt->block_size < 1)
		return CKPT_EINVAL;
	w->opt = *opt;
	int rc = block_init(&w->data_block, opt->restart_interval);
	if (rc == 0)
		rc = block_init(&w->index_block, 1);
	if (rc) {
		ckpt__sst_writer_free(w);
		w->status = rc;
	}
	return rc;
}

int ckpt__sst_writer_init_buf(ckpt__sst_writer *w, ckpt__buf *out, const ckpt__sst_options *opt)
{
	int rc = init_common(w, opt);
	w->out = out;
	return rc;
}

int ckpt__sst_writer_init_fd(ckpt__sst_writer *w, int fd, const char *path,
			     const ckpt__sst_options *opt)
{
	int rc = init_common(w, opt);
	w->fd = fd;
	w->path = path;
	return rc;
}

int ckpt__sst_writer_add(ckpt__sst_writer *w, const void *key, size_t key_len, const void *val,
			 size_t val_len, ckpt_error *err)
{
	const uint8_t *k = key, *v = val;
	int rc;

	if (w->status)
		return ckpt__error(err, w->status, "sstable: writer failed earlier");
	if (w->finished)
		return ckpt__error(err, CKPT_EINVAL, "sstable: add after finish");
	if (key_len > UINT32_MAX || val_len > UINT32_MAX)
		return ckpt__error(err, CKPT_EINVAL, "sstable: key or value longer than 4 GiB");
	if (w->num_entries > 0 &&
	    ckpt__sst_compare(k, key_len, w->last_key.data, w->last_key.len) <= 0)
		return ckpt__error(err, CKPT_EINVAL,
				   "sstable: keys must be strictly increasing "
				   "(entry %llu)",
				   (unsigned long long)w->num_entries);

	/* TF: a huge entry first flushes the block in progress. */
	if (w->num_entries > 0 && key_len + val_len >= 2 * w->opt.block_size &&
	    (rc = flush(w, err)))
		return rc;
	if (w->pending_index) {
		ckpt__sst_shortest_separator(&w->last_key, k, key_len);
		if ((rc = add_pending_index(w, err)))
			return rc;
	}
	if ((rc = set_bytes(&w->last_key, k, key_len)) ||
	    (rc = block_add(&w->data_block, k, key_len, v, val_len)))
		return fail(w, rc, err);
	w->num_entries++;
	if (block_estimate(&w->data_block) >= w->opt.block_size)
		return flush(w, err);
	return 0;
}

int ckpt__sst_writer_finish(ckpt__sst_writer *w, ckpt_error *err)
{
	ckpt__sst_block meta;
	uint64_t meta_off, meta_size, index_off, index_size;
	int rc;

	if (w->status)
		return ckpt__error(err, w->status, "sstable: writer failed earlier");
	if (w->finished)
		return ckpt__error(err, CKPT_EINVAL, "sstable: finished twice");
	w->finished = 1;
	if ((rc = flush(w, err)))
		return rc;

	if ((rc = block_init(&meta, w->opt.restart_interval))) {
		block_free(&meta);
		return fail(w, rc, err);
	}
	rc = write_block(w, &meta, &meta_off, &meta_size, err);
	block_free(&meta);
	if (rc)
		return rc;

	if (w->pending_index) {
		ckpt__sst_short_successor(&w->last_key);
		if ((rc = add_pending_index(w, err)))
			return rc;
	}
	if ((rc = write_block(w, &w->index_block, &index_off, &index_size, err)))
		return rc;

	uint8_t footer[CKPT__SST_FOOTER_SIZE] = {0};
	size_t n = ckpt__put_varint64(footer, meta_off);
	n += ckpt__put_varint64(footer + n, meta_size);
	n += ckpt__put_varint64(footer + n, index_off);
	n += ckpt__put_varint64(footer + n, index_size);
	(void)n; /* at most 40: padded with zeros */
	ckpt__store_le64(footer + 40, CKPT__SST_MAGIC);
	if ((rc = emit(w, footer, sizeof(footer), err)))
		w->status = rc;
	return rc;
}

void ckpt__sst_writer_free(ckpt__sst_writer *w)
{
	if (w == NULL)
		return;
	block_free(&w->data_block);
	block_free(&w->index_block);
	ckpt__buf_free(&w->last_key);
}
