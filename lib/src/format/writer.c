/*
 * Tensor bundle writer: TF's BundleWriter (tensor_bundle.cc) and, for
 * sharded saves, MergeBundles; see spec/bundle.md.
 *
 * Data file of shard input k: tensors appended in add order, no padding
 * (TF's data_alignment 1). Numeric data is copied verbatim with crc32c
 * over it; strings are varint64 lengths, masked length crc, bytes.
 * Index: SSTable (sstable_writer.c) with the header under key "" and one
 * BundleEntryProto per key, in key order.
 *
 * Every shard input is one BundleWriter: entries are keyed by (input,
 * key) while adding. Finish merges the inputs in order like MergeBundles:
 * data file of input k gets the id "number of distinct inputs with
 * entries seen before it"; the header's num_shards is the number of
 * inputs; a key in several inputs must be a partitioned tensor, whose
 * slices are concatenated in input order.
 */
#include "ckpt/writer.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/codec_int.h"
#include "util/crc32c_int.h"
#include "util/error_int.h"
#include "util/hash_int.h"
#include "format/slicekey_int.h"
#include "format/sstable_writer_int.h"
#include "format/writer_int.h"

/* ---- encodings (writer_int.h) ---- */

static int put_tag_varint(ckpt__buf *b, unsigned field, uint64_t v)
{
	int rc = ckpt__buf_append_varint(b, field << 3 | 0);
	return rc ? rc : ckpt__buf_append_varint(b, v);
}

/* A length-delimited field whose body is already in `body`. */
static int put_tag_bytes(ckpt__buf *b, unsigned field, const ckpt__buf *body)
{
	int rc = ckpt__buf_append_varint(b, field << 3 | 2);
	if (rc == 0)
		rc = ckpt__buf_append_varint(b, body->len);
	if (rc == 0)
		rc = ckpt__buf_append(b, body->data, body->len);
	return rc;
}

static int encode_shape(ckpt__buf *out, int rank, const int64_t *dims)
{
	ckpt__buf dim = {0};
	int rc = 0;

	for (int d = 0; d < rank && rc == 0; d++) {
		dim.len = 0;
		if (dims[d] != 0)
			rc = put_tag_varint(&dim, 1, (uint64_t)dims[d]);
		if (rc == 0)
			rc = put_tag_bytes(out, 2, &dim);
	}
	ckpt__buf_free(&dim);
	return rc;
}

static int encode_slice(ckpt__buf *out, int rank, const int64_t *pairs)
{
	ckpt__buf ext = {0};
	int rc = 0;

	for (int d = 0; d < rank && rc == 0; d++) {
		int64_t start = pairs[2 * d], length = pairs[2 * d + 1];
		ext.len = 0;
		if (length != CKPT__SLICE_FULL || start != 0) {
			if (start != 0)
				rc = put_tag_varint(&ext, 1, (uint64_t)start);
			if (rc == 0)
				rc = put_tag_varint(&ext, 2, (uint64_t)length);
		}
		if (rc == 0)
			rc = put_tag_bytes(out, 1, &ext);
	}
	ckpt__buf_free(&ext);
	return rc;
}

int ckpt__bundle_encode_entry(ckpt__buf *out, const ckpt__entry_fields *e)
{
	ckpt__buf sub = {0};
	int rc = 0;

	if (e->dtype != 0)
		rc = put_tag_varint(out, 1, (uint64_t)(int64_t)e->dtype);
	if (rc == 0)
		rc = encode_shape(&sub, e->rank, e->dims);
	if (rc == 0)
		rc = put_tag_bytes(out, 2, &sub);
	if (rc == 0 && e->shard_id != 0)
		rc = put_tag_varint(out, 3, (uint64_t)(int64_t)e->shard_id);
	if (rc == 0 && e->offset != 0)
		rc = put_tag_varint(out, 4, (uint64_t)e->offset);
	if (rc == 0 && e->size != 0)
		rc = put_tag_varint(out, 5, (uint64_t)e->size);
	if (rc == 0 && e->crc32c != 0) {
		uint8_t f[5] = {6 << 3 | 5};
		ckpt__store_le32(f + 1, e->crc32c);
		rc = ckpt__buf_append(out, f, sizeof(f));
	}
	for (size_t i = 0; i < e->n_slices && rc == 0; i++) {
		sub.len = 0;
		rc = encode_slice(&sub, e->rank, e->slices + 2 * (size_t)e->rank * i);
		if (rc == 0)
			rc = put_tag_bytes(out, 7, &sub);
	}
	ckpt__buf_free(&sub);
	return rc;
}

int ckpt__bundle_encode_header(ckpt__buf *out, int32_t num_shards)
{
	static const uint8_t version[4] = {3 << 3 | 2, 2, 1 << 3 | 0, 1};
	int rc = 0;

	if (num_shards != 0)
		rc = put_tag_varint(out, 1, (uint64_t)(int64_t)num_shards);
	/* endianness LITTLE = 0: omitted; version {producer: 1} */
	return rc ? rc : ckpt__buf_append(out, version, sizeof(version));
}

int ckpt__bundle_string_head(ckpt__buf *out, size_t n, const uint64_t *lens, uint32_t *crc_out)
{
	uint32_t crc = 0;
	int rc;

	for (size_t i = 0; i < n; i++) {
		uint8_t le[8];
		if ((rc = ckpt__buf_append_varint(out, lens[i])))
			return rc;
		if (lens[i] > UINT32_MAX) {
			ckpt__store_le64(le, lens[i]);
			crc = ckpt__crc32c_extend(crc, le, 8);
		} else {
			ckpt__store_le32(le, (uint32_t)lens[i]);
			crc = ckpt__crc32c_extend(crc, le, 4);
		}
	}
	uint8_t masked[4];
	ckpt__store_le32(masked, ckpt__crc32c_mask(crc));
	if ((rc = ckpt__buf_append(out, masked, 4)))
		return rc;
	*crc_out = ckpt__crc32c_extend(crc, masked, 4);
	return 0;
}

static int cmp_index_entries(const void *a, const void *b)
{
	const ckpt__index_entry *x = a, *y = b;
	return ckpt__sst_compare(x->key, x->key_len, y->key, y->key_len);
}

int ckpt__bundle_encode_index(ckpt__buf *out, int32_t num_shards, ckpt__index_entry *entries,
			      size_t n, ckpt_error *err)
{
	ckpt__buf val = {0};
	ckpt__sst_writer sst;
	int rc = ckpt__sst_writer_init_buf(&sst, out, NULL);

	if (rc)
		return ckpt__error(err, rc, "index: bad table options");
	if (n > 1)
		qsort(entries, n, sizeof(*entries), cmp_index_entries);
	if (ckpt__bundle_encode_header(&val, num_shards))
		rc = ckpt__error(err, CKPT_ENOMEM, "index: out of memory");
	else
		rc = ckpt__sst_writer_add(&sst, "", 0, val.data, val.len, err);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const ckpt__index_entry *e = &entries[i];
		if (i > 0 && cmp_index_entries(&entries[i - 1], e) == 0) {
			rc = ckpt__error(err, CKPT_EINVAL, "Adding duplicate key: %.*s",
					 (int)(e->key_len > 512 ? 512 : e->key_len),
					 (const char *)e->key);
			break;
		}
		val.len = 0;
		if (ckpt__bundle_encode_entry(&val, &e->fields))
			rc = ckpt__error(err, CKPT_ENOMEM, "index: out of memory");
		else
			rc = ckpt__sst_writer_add(&sst, e->key, e->key_len, val.data, val.len, err);
	}
	if (rc == 0)
		rc = ckpt__sst_writer_finish(&sst, err);
	ckpt__sst_writer_free(&sst);
	ckpt__buf_free(&val);
	return rc;
}

/* ---- the writer ---- */

typedef struct wentry {
	uint8_t *key;
	size_t key_len;
	int input; /* shard input (BundleWriter) that holds it */
	int dtype;
	int rank;
	int64_t *dims;
	int64_t offset, size;
	uint32_t crc; /* masked */
	int sliced;   /* full entry of a partitioned tensor */
	size_t n_slices;
	int64_t *slices; /* n_slices * rank * 2 */
} wentry;

typedef struct winput {
	int fd; /* -1 until the first byte or finish */
	char *tmp_path;
	uint64_t size; /* bytes written */
	size_t n_entries;
} winput;

struct ckpt_writer {
	char *prefix;
	int sharded;
	int cur;
	int n_inputs;
	winput *inputs;
	wentry *entries;
	size_t n, cap;
	size_t *hash; /* entry index + 1; 0 = empty slot */
	size_t hcap;  /* power of two */
	ckpt__hash_key hkey;
	size_t probes; /* occupied slots passed by lookups (tests bound it) */
	int status;    /* sticky CKPT_EIO / CKPT_ENOMEM */
	int finished;
};

/* Keyed (hash_int.h): keys are tensor names, maybe from a hostile file;
 * each input (shard) hashes under its own variant of the writer's key. */
static uint64_t key_hash(const ckpt_writer *w, const uint8_t *k, size_t n, int input)
{
	ckpt__hash_key key = {w->hkey.k0, w->hkey.k1 ^ (uint64_t)(unsigned)input};
	return ckpt__siphash(&key, k, n);
}

/* Slot of (input, key): its entry, or the empty slot where it would go. */
static size_t *hash_slot(ckpt_writer *w, const uint8_t *k, size_t n, int input)
{
	size_t mask = w->hcap - 1;
	size_t i = (size_t)key_hash(w, k, n, input) & mask;

	for (;; w->probes++) {
		size_t *s = &w->hash[i];
		if (*s == 0)
			return s;
		const wentry *e = &w->entries[*s - 1];
		if (e->input == input && e->key_len == n && (n == 0 || memcmp(e->key, k, n) == 0))
			return s;
		i = (i + 1) & mask;
	}
}

size_t ckpt__writer_probes(const ckpt_writer *w)
{
	return w->probes;
}

static wentry *find(ckpt_writer *w, const uint8_t *k, size_t n, int input)
{
	if (w->hcap == 0)
		return NULL;
	size_t *s = hash_slot(w, k, n, input);
	return *s ? &w->entries[*s - 1] : NULL;
}

_Static_assert(CKPT_WRITER_FULL_EXTENT == CKPT__SLICE_FULL, "full extent");

/* Make room for two more entries (array and hash, load <= 1/2): an
 * add_slice inserts a slice entry and maybe its full entry, and must not
 * fail between the two. */
static int reserve(ckpt_writer *w)
{
	if (w->n + 2 > w->cap) {
		size_t cap = w->cap ? w->cap * 2 : 64;
		if (cap > SIZE_MAX / sizeof(wentry))
			return CKPT_ENOMEM;
		wentry *e = realloc(w->entries, cap * sizeof(wentry));
		if (e == NULL)
			return CKPT_ENOMEM;
		w->entries = e;
		w->cap = cap;
	}
	if ((w->n + 2) * 2 > w->hcap) {
		size_t hcap = w->hcap ? w->hcap * 2 : 128;
		if (hcap > SIZE_MAX / sizeof(size_t))
			return CKPT_ENOMEM;
		size_t *h = calloc(hcap, sizeof(size_t));
		if (h == NULL)
			return CKPT_ENOMEM;
		free(w->hash);
		w->hash = h;
		w->hcap = hcap;
		for (size_t i = 0; i < w->n; i++) {
			const wentry *e = &w->entries[i];
			*hash_slot(w, e->key, e->key_len, e->input) = i + 1;
		}
	}
	return 0;
}

/* Append a zeroed entry for (input cur, key); the caller fills the rest.
 * reserve() must have succeeded since the last insert. */
static wentry *insert(ckpt_writer *w, uint8_t *key, size_t key_len)
{
	wentry *e = &w->entries[w->n];
	memset(e, 0, sizeof(*e));
	e->key = key;
	e->key_len = key_len;
	e->input = w->cur;
	*hash_slot(w, key, key_len, w->cur) = ++w->n;
	w->inputs[w->cur].n_entries++;
	return e;
}

static void entry_free(wentry *e)
{
	free(e->key);
	free(e->dims);
	free(e->slices);
}

static int ensure_inputs(ckpt_writer *w, int n)
{
	if (n <= w->n_inputs)
		return 0;
	winput *in = realloc(w->inputs, (size_t)n * sizeof(winput));
	if (in == NULL)
		return CKPT_ENOMEM;
	for (int i = w->n_inputs; i < n; i++) {
		in[i].fd = -1;
		in[i].tmp_path = NULL;
		in[i].size = 0;
		in[i].n_entries = 0;
	}
	w->inputs = in;
	w->n_inputs = n;
	return 0;
}

static char *str_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *str_printf(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	return s;
}

/* mkdir -p of the directory part of prefix. */
static int make_parent_dirs(const char *prefix, ckpt_error *err)
{
	char *dir = strdup(prefix);
	if (dir == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "writer: out of memory");
	char *slash = strrchr(dir, '/');
	int rc = 0;
	if (slash != NULL && slash != dir) {
		*slash = '\0';
		for (char *p = dir + 1; rc == 0; p++) {
			if (*p != '/' && *p != '\0')
				continue;
			char c = *p;
			*p = '\0';
			if (mkdir(dir, 0777) != 0 && errno != EEXIST)
				rc = ckpt__error(err, CKPT_EIO, "%s: cannot create directory: %s",
						 dir, strerror(errno));
			*p = c;
			if (c == '\0')
				break;
		}
	}
	free(dir);
	return rc;
}

int ckpt_writer_open(ckpt_writer **out, const char *prefix, ckpt_error *err)
{
	*out = NULL;
	if (prefix == NULL || prefix[0] == '\0')
		return ckpt__error(err, CKPT_EINVAL, "writer: empty prefix");
	int rc = make_parent_dirs(prefix, err);
	if (rc)
		return rc;
	ckpt_writer *w = calloc(1, sizeof(*w));
	if (w == NULL || (w->prefix = strdup(prefix)) == NULL || ensure_inputs(w, 1) != 0) {
		ckpt_writer_close(w);
		return ckpt__error(err, CKPT_ENOMEM, "writer: out of memory");
	}
	ckpt__hash_key_new(&w->hkey);
	*out = w;
	return 0;
}

int ckpt_writer_set_shard(ckpt_writer *w, int shard, ckpt_error *err)
{
	if (shard < 0 || shard >= CKPT_WRITER_MAX_SHARDS)
		return ckpt__error(err, CKPT_EINVAL, "writer: shard %d out of range", shard);
	if (w->finished)
		return ckpt__error(err, CKPT_EINVAL, "writer: already finished");
	if (ensure_inputs(w, shard + 1))
		return ckpt__error(err, CKPT_ENOMEM, "writer: out of memory");
	w->sharded = 1;
	w->cur = shard;
	return 0;
}

static int check_usable(ckpt_writer *w, const char *name, ckpt_error *err)
{
	if (w->status)
		return ckpt__error(err, w->status, "writer: failed earlier");
	if (w->finished)
		return ckpt__error(err, CKPT_EINVAL, "writer: already finished");
	if (name == NULL || name[0] == '\0')
		return ckpt__error(err, CKPT_EINVAL, "writer: empty tensor name");
	return 0;
}

/* Validate a shape; *nelem = product of dims (fits in int64). */
static int check_shape(const char *name, int rank, const int64_t *dims, uint64_t *nelem,
		       ckpt_error *err)
{
	uint64_t n = 1;

	if (rank < 0 || rank > CKPT_WRITER_MAX_RANK || (rank > 0 && dims == NULL))
		return ckpt__error(err, CKPT_EINVAL, "%s: invalid rank %d", name, rank);
	for (int d = 0; d < rank; d++) {
		if (dims[d] < 0)
			return ckpt__error(err, CKPT_EINVAL, "%s: negative dimension %d", name, d);
		if (ckpt__mul_u64(n, (uint64_t)dims[d], &n) || n > INT64_MAX)
			return ckpt__error(err, CKPT_EINVAL,
					   "%s: number of elements overflows int64", name);
	}
	*nelem = n;
	return 0;
}

/* Numeric byte count num_elements * dtype size, checked. */
static int numeric_size(const char *name, ckpt_dtype dt, uint64_t nelem, uint64_t *bytes,
			ckpt_error *err)
{
	size_t es = ckpt_dtype_size(dt);

	if (dt == CKPT_DT_STRING || dt == CKPT_DT_VARIANT || dt == CKPT_DT_RESOURCE)
		return ckpt__error(err, CKPT_EUNSUPPORTED, "%s: dtype %s is not a fixed-size type",
				   name, ckpt_dtype_tf_name(dt));
	if (es == 0)
		return ckpt__error(err, CKPT_EINVAL, "%s: invalid dtype %d", name, (int)dt);
	if (ckpt__mul_u64(nelem, es, bytes) || *bytes > INT64_MAX)
		return ckpt__error(err, CKPT_EINVAL, "%s: tensor size overflows int64", name);
	return 0;
}

static int input_write(ckpt_writer *w, winput *in, const void *p, size_t n, ckpt_error *err)
{
	if (in->fd < 0) {
		int k = (int)(in - w->inputs);
		if (in->tmp_path == NULL &&
		    (in->tmp_path = str_printf("%s.part-%05d.tmp", w->prefix, k)) == NULL) {
			w->status = CKPT_ENOMEM;
			return ckpt__error(err, CKPT_ENOMEM, "writer: out of memory");
		}
		in->fd = open(in->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
		if (in->fd < 0) {
			w->status = CKPT_EIO;
			return ckpt__error(err, CKPT_EIO, "%s: cannot create: %s", in->tmp_path,
					   strerror(errno));
		}
	}
	if (n > 0 && ckpt__write_all(in->fd, p, n) != 0) {
		w->status = CKPT_EIO;
		return ckpt__error(err, CKPT_EIO, "%s@%llu: write failed: %s", in->tmp_path,
				   (unsigned long long)in->size, strerror(errno));
	}
	in->size += n;
	return 0;
}

/* Check room for `bytes` more in the current input (offsets are int64). */
static int check_room(ckpt_writer *w, const char *name, uint64_t bytes, ckpt_error *err)
{
	uint64_t end;
	if (ckpt__add_u64(w->inputs[w->cur].size, bytes, &end) || end > INT64_MAX)
		return ckpt__error(err, CKPT_EINVAL, "%s: data file would exceed 2^63 bytes", name);
	return 0;
}

/* BundleWriter::Add for numeric bytes under an arbitrary key. Takes
 * ownership of key (freed on failure). */
static int add_numeric_key(ckpt_writer *w, const char *name, uint8_t *key, size_t key_len,
			   ckpt_dtype dt, int rank, const int64_t *dims, const void *data,
			   uint64_t size, ckpt_error *err)
{
	int rc;
	int64_t *dcopy = NULL;

	if (find(w, key, key_len, w->cur)) {
		rc = ckpt__error(err, CKPT_EINVAL, "Adding duplicate key: %s", name);
		goto fail;
	}
	if ((rc = check_room(w, name, size, err)))
		goto fail;
	if (rank > 0 && (dcopy = malloc((size_t)rank * sizeof(int64_t))) == NULL) {
		rc = ckpt__error(err, CKPT_ENOMEM, "writer: out of memory");
		goto fail;
	}
	if (reserve(w)) {
		rc = ckpt__error(err, CKPT_ENOMEM, "writer: out of memory");
		goto fail;
	}
	winput *in = &w->inputs[w->cur];
	uint64_t offset = in->size;
	if ((rc = input_write(w, in, data, (size_t)size, err)))
		goto fail;
	if (rank > 0)
		memcpy(dcopy, dims, (size_t)rank * sizeof(int64_t));
	wentry *e = insert(w, key, key_len);
	e->dtype = dt;
	e->rank = rank;
	e->dims = dcopy;
	e->offset = (int64_t)offset;
	e->size = (int64_t)size;
	e->crc = ckpt__crc32c_mask(ckpt__crc32c_extend(0, data, (size_t)size));
	return 0;
fail:
	free(key);
	free(dcopy);
	return rc;
}

static uint8_t *dup_name(const char *name, size_t *len)
{
	*len = strlen(name);
	uint8_t *k = malloc(*len ? *len : 1);
	if (k != NULL)
		memcpy(k, name, *len);
	return k;
}

int ckpt_writer_add(ckpt_writer *w, const char *name, ckpt_dtype dt, int rank, const int64_t *dims,
		    const void *data, size_t size, ckpt_error *err)
{
	uint64_t nelem, bytes;
	size_t klen;
	int rc;

	if ((rc = check_usable(w, name, err)) ||
	    (rc = check_shape(name, rank, dims, &nelem, err)) ||
	    (rc = numeric_size(name, dt, nelem, &bytes, err)))
		return rc;
	if (bytes != size)
		return ckpt__error(err, CKPT_EINVAL,
				   "%s: %zu data bytes, shape and dtype need %llu", name, size,
				   (unsigned long long)bytes);
	if (size > 0 && data == NULL)
		return ckpt__error(err, CKPT_EINVAL, "%s: NULL data", name);
	uint8_t *key = dup_name(name, &klen);
	if (key == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "writer: out of memory");
	return add_numeric_key(w, name, key, klen, dt, rank, dims, data, size, err);
}

int ckpt_writer_add_strings(ckpt_writer *w, const char *name, int rank, const int64_t *dims,
			    const char *const *strs, const uint64_t *lens, ckpt_error *err)
{
	uint64_t nelem, total;
	size_t klen;
	int rc;

	if ((rc = check_usable(w, name, err)) || (rc = check_shape(name, rank, dims, &nelem, err)))
		return rc;
	if (nelem > 0 && strs == NULL)
		return ckpt__error(err, CKPT_EINVAL, "%s: NULL strings", name);
	if (nelem > SIZE_MAX / sizeof(uint64_t))
		return ckpt__error(err, CKPT_EINVAL, "%s: too many strings", name);
	uint8_t *key = dup_name(name, &klen);
	uint64_t *l = malloc(nelem ? (size_t)nelem * sizeof(uint64_t) : 1);
	ckpt__buf head = {0};
	int64_t *dcopy = rank ? malloc((size_t)rank * sizeof(int64_t)) : NULL;
	uint32_t crc;

	if (key == NULL || l == NULL || (rank && dcopy == NULL)) {
		rc = ckpt__error(err, CKPT_ENOMEM, "writer: out of memory");
		goto out;
	}
	if (find(w, key, klen, w->cur)) {
		rc = ckpt__error(err, CKPT_EINVAL, "Adding duplicate key: %s", name);
		goto out;
	}
	for (uint64_t i = 0; i < nelem; i++) {
		if (strs[i] == NULL && (lens == NULL || lens[i] != 0)) {
			rc = ckpt__error(err, CKPT_EINVAL, "%s: string %llu is NULL", name,
					 (unsigned long long)i);
			goto out;
		}
		l[i] = lens ? lens[i] : strlen(strs[i]);
		if (l[i] > SIZE_MAX) {
			rc = ckpt__error(err, CKPT_EINVAL, "%s: string too long", name);
			goto out;
		}
	}
	if (ckpt__bundle_string_head(&head, (size_t)nelem, l, &crc) || reserve(w)) {
		rc = ckpt__error(err, CKPT_ENOMEM, "writer: out of memory");
		goto out;
	}
	total = head.len;
	for (uint64_t i = 0; i < nelem; i++) {
		if (ckpt__add_u64(total, l[i], &total) || total > INT64_MAX) {
			rc = ckpt__error(err, CKPT_EINVAL, "%s: tensor size overflows int64", name);
			goto out;
		}
	}
	if ((rc = check_room(w, name, total, err)))
		goto out;
	winput *in = &w->inputs[w->cur];
	uint64_t offset = in->size;
	if ((rc = input_write(w, in, head.data, head.len, err)))
		goto out;
	for (uint64_t i = 0; i < nelem; i++) {
		if ((rc = input_write(w, in, strs[i], (size_t)l[i], err)))
			goto out;
		crc = ckpt__crc32c_extend(crc, strs[i], (size_t)l[i]);
	}
	if (rank > 0)
		memcpy(dcopy, dims, (size_t)rank * sizeof(int64_t));
	wentry *e = insert(w, key, klen);
	key = NULL;
	e->dtype = CKPT_DT_STRING;
	e->rank = rank;
	e->dims = dcopy;
	dcopy = NULL;
	e->offset = (int64_t)offset;
	e->size = (int64_t)total;
	e->crc = ckpt__crc32c_mask(crc);
out:
	free(key);
	free(l);
	free(dcopy);
	ckpt__buf_free(&head);
	return rc;
}

int ckpt_writer_add_slice(ckpt_writer *w, const char *name, ckpt_dtype dt, int rank,
			  const int64_t *full_dims, const int64_t *start, const int64_t *length,
			  const void *data, size_t size, ckpt_error *err)
{
	uint64_t nelem, bytes;
	int64_t sdims[CKPT_WRITER_MAX_RANK];
	int full = 1, rc;

	if ((rc = check_usable(w, name, err)) ||
	    (rc = check_shape(name, rank, full_dims, &nelem, err)))
		return rc;
	if (rank > 0 && (start == NULL || length == NULL))
		return ckpt__error(err, CKPT_EINVAL, "%s: NULL slice", name);
	for (int d = 0; d < rank; d++) {
		if (length[d] == CKPT_WRITER_FULL_EXTENT && start[d] == 0) {
			sdims[d] = full_dims[d];
			continue;
		}
		if (start[d] < 0 || length[d] < 1 || start[d] > full_dims[d] ||
		    length[d] > full_dims[d] - start[d])
			return ckpt__error(err, CKPT_EINVAL,
					   "%s: slice extent %d (start %lld, length %lld) "
					   "outside dimension %lld",
					   name, d, (long long)start[d], (long long)length[d],
					   (long long)full_dims[d]);
		sdims[d] = length[d];
		if (length[d] != full_dims[d])
			full = 0;
	}
	/* TF's IsFullSlice: a plain Add of the whole tensor. */
	if (full)
		return ckpt_writer_add(w, name, dt, rank, full_dims, data, size, err);

	if ((rc = check_shape(name, rank, sdims, &nelem, err)) ||
	    (rc = numeric_size(name, dt, nelem, &bytes, err)))
		return rc;
	if (bytes != size)
		return ckpt__error(err, CKPT_EINVAL,
				   "%s: %zu slice bytes, slice shape and dtype need %llu", name,
				   size, (unsigned long long)bytes);
	if (size > 0 && data == NULL)
		return ckpt__error(err, CKPT_EINVAL, "%s: NULL data", name);

	size_t nlen = strlen(name);
	wentry *fe = find(w, (const uint8_t *)name, nlen, w->cur);
	if (fe != NULL) {
		if (!fe->sliced)
			return ckpt__error(err, CKPT_EINVAL, "%s: already added as a whole tensor",
					   name);
		if (fe->dtype != (int)dt || fe->rank != rank ||
		    (rank && memcmp(fe->dims, full_dims, (size_t)rank * sizeof(int64_t))))
			return ckpt__error(err, CKPT_EINVAL,
					   "%s: slices disagree on dtype or full shape", name);
		if (fe->n_slices >= SIZE_MAX / (2 * (size_t)rank * sizeof(int64_t)) - 1)
			return ckpt__error(err, CKPT_EINVAL, "%s: too many slices", name);
	}

	ckpt__buf skey = {0};
	if (ckpt__slicekey_encode(&skey, name, nlen, rank, start, length))
		return ckpt__error(err, CKPT_ENOMEM, "writer: out of memory");
	if (find(w, skey.data, skey.len, w->cur)) {
		ckpt__buf_free(&skey);
		return ckpt__error(err, CKPT_EINVAL, "Adding duplicate key: %s (slice)", name);
	}
	/* Reserve everything the full entry needs before adding the data, so
	 * a failure leaves the writer unchanged. */
	size_t pair_bytes = 2 * (size_t)rank * sizeof(int64_t);
	int64_t *slices =
	    realloc(fe ? fe->slices : NULL, ((fe ? fe->n_slices : 0) + 1) * pair_bytes);
	if (slices == NULL) {
		ckpt__buf_free(&skey);
		return ckpt__error(err, CKPT_ENOMEM, "writer: out of memory");
	}
	if (fe)
		fe->slices = slices;
	uint8_t *fkey = NULL;
	int64_t *fdims = NULL;
	if (fe == NULL) {
		fkey = dup_name(name, &nlen);
		fdims = malloc((size_t)rank * sizeof(int64_t));
		if (fkey == NULL || fdims == NULL || reserve(w)) {
			free(fkey);
			free(fdims);
			free(slices);
			ckpt__buf_free(&skey);
			return ckpt__error(err, CKPT_ENOMEM, "writer: out of memory");
		}
	}
	/* add_numeric_key may grow w->entries: remember the index. */
	size_t fe_index = fe ? (size_t)(fe - w->entries) : 0;
	rc = add_numeric_key(w, name, skey.data, skey.len, dt, rank, sdims, data, size, err);
	if (rc) {
		if (fe == NULL) {
			free(fkey);
			free(fdims);
			free(slices);
		}
		return rc;
	}
	if (fe == NULL) {
		/* reserve() above left room for two entries; the slice took one */
		memcpy(fdims, full_dims, (size_t)rank * sizeof(int64_t));
		fe = insert(w, fkey, nlen);
		fe->dtype = dt;
		fe->rank = rank;
		fe->dims = fdims;
		fe->sliced = 1;
		fe->slices = slices;
	} else {
		fe = &w->entries[fe_index];
	}
	int64_t *pair = fe->slices + 2 * (size_t)rank * fe->n_slices;
	for (int d = 0; d < rank; d++) {
		pair[2 * d] = start[d];
		pair[2 * d + 1] = length[d];
	}
	fe->n_slices++;
	return 0;
}

/* ---- finish: MergeBundles ---- */

static int cmp_entries(const void *a, const void *b)
{
	const wentry *x = *(const wentry *const *)a;
	const wentry *y = *(const wentry *const *)b;
	int c = ckpt__sst_compare(x->key, x->key_len, y->key, y->key_len);
	if (c)
		return c;
	return (x->input > y->input) - (x->input < y->input);
}

static char *data_filename(const char *prefix, int shard, int num_shards)
{
	return str_printf("%s.data-%05d-of-%05d", prefix, shard, num_shards);
}

/* Write PREFIX.index from the sorted entries; new_id maps inputs. */
static int write_index(ckpt_writer *w, const wentry *const *order, const int *new_id,
		       ckpt_error *err)
{
	char *tmp = str_printf("%s.index.tmp", w->prefix);
	char *final = str_printf("%s.index", w->prefix);
	ckpt__buf val = {0}, slices = {0};
	ckpt__sst_writer sst;
	int rc = 0, fd = -1, sst_ok = 0;

	if (tmp == NULL || final == NULL) {
		rc = ckpt__error(err, CKPT_ENOMEM, "writer: out of memory");
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (fd < 0) {
		rc = ckpt__error(err, CKPT_EIO, "%s: cannot create: %s", tmp, strerror(errno));
		goto out;
	}
	if ((rc = ckpt__sst_writer_init_fd(&sst, fd, tmp, NULL)))
		goto out;
	sst_ok = 1;
	if (ckpt__bundle_encode_header(&val, w->sharded ? w->n_inputs : 1)) {
		rc = ckpt__error(err, CKPT_ENOMEM, "writer: out of memory");
		goto out;
	}
	if ((rc = ckpt__sst_writer_add(&sst, "", 0, val.data, val.len, err)))
		goto out;
	for (size_t i = 0; i < w->n;) {
		const wentry *e = order[i];
		size_t j = i + 1;
		/* same key in later inputs: MergeBundles' rules */
		slices.len = 0;
		if (e->sliced &&
		    ckpt__buf_append(&slices, e->slices,
				     e->n_slices * 2 * (size_t)e->rank * sizeof(int64_t))) {
			rc = ckpt__error(err, CKPT_ENOMEM, "writer: out of memory");
			goto out;
		}
		size_t n_slices = e->sliced ? e->n_slices : 0;
		for (; j < w->n; j++) {
			const wentry *f = order[j];
			if (ckpt__sst_compare(e->key, e->key_len, f->key, f->key_len))
				break;
			if (!e->sliced) {
				rc = ckpt__error(err, CKPT_EINVAL,
						 "Duplicate tensor keyed by %.*s encountered, "
						 "when merging prefix: shard %d",
						 (int)(e->key_len > 512 ? 512 : e->key_len),
						 (const char *)e->key, f->input);
				goto out;
			}
			if (!f->sliced) {
				rc = ckpt__error(err, CKPT_EINVAL,
						 "Duplicate tensor keyed by %.*s; attempting to "
						 "merge in a non-slice bundle entry",
						 (int)(e->key_len > 512 ? 512 : e->key_len),
						 (const char *)e->key);
				goto out;
			}
			if (f->dtype != e->dtype || f->rank != e->rank ||
			    (e->rank &&
			     memcmp(f->dims, e->dims, (size_t)e->rank * sizeof(int64_t)))) {
				rc = ckpt__error(err, CKPT_EINVAL,
						 "%.*s: shards disagree on dtype or shape",
						 (int)(e->key_len > 512 ? 512 : e->key_len),
						 (const char *)e->key);
				goto out;
			}
			if (ckpt__buf_append(&slices, f->slices,
					     f->n_slices * 2 * (size_t)f->rank * sizeof(int64_t))) {
				rc = ckpt__error(err, CKPT_ENOMEM, "writer: out of memory");
				goto out;
			}
			n_slices += f->n_slices;
		}
		ckpt__entry_fields ef = {
		    .dtype = e->dtype,
		    .rank = e->rank,
		    .dims = e->dims,
		    .shard_id = new_id[e->input],
		    .offset = e->sliced ? 0 : e->offset,
		    .size = e->sliced ? 0 : e->size,
		    .crc32c = e->sliced ? 0 : e->crc,
		    .n_slices = n_slices,
		    .slices = (const int64_t *)(void *)slices.data,
		};
		val.len = 0;
		if (ckpt__bundle_encode_entry(&val, &ef)) {
			rc = ckpt__error(err, CKPT_ENOMEM, "writer: out of memory");
			goto out;
		}
		if ((rc = ckpt__sst_writer_add(&sst, e->key, e->key_len, val.data, val.len, err)))
			goto out;
		i = j;
	}
	if ((rc = ckpt__sst_writer_finish(&sst, err)))
		goto out;
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		rc = ckpt__error(err, CKPT_EIO, "%s: cannot write: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename(tmp, final) != 0)
		rc = ckpt__error(err, CKPT_EIO, "%s: cannot rename to %s: %s", tmp, final,
				 strerror(errno));
out:
	if (sst_ok)
		ckpt__sst_writer_free(&sst);
	if (fd >= 0)
		close(fd);
	if (rc && tmp)
		unlink(tmp);
	free(tmp);
	free(final);
	ckpt__buf_free(&val);
	ckpt__buf_free(&slices);
	return rc;
}

int ckpt_writer_finish(ckpt_writer *w, ckpt_error *err)
{
	int rc = 0;

	if (w->status)
		return ckpt__error(err, w->status, "writer: failed earlier");
	if (w->finished)
		return ckpt__error(err, CKPT_EINVAL, "writer: already finished");
	w->finished = 1;

	const wentry **order = malloc((w->n ? w->n : 1) * sizeof(*order));
	int *new_id = malloc((size_t)w->n_inputs * sizeof(int));
	if (order == NULL || new_id == NULL) {
		rc = ckpt__error(err, CKPT_ENOMEM, "writer: out of memory");
		goto out;
	}
	/* MergeBundles: data file ids in first-seen order of inputs. A lone
	 * BundleWriter always has its (possibly empty) data file. */
	int files = 0;
	for (int k = 0; k < w->n_inputs; k++) {
		int has = w->inputs[k].n_entries > 0 || !w->sharded;
		new_id[k] = has ? files++ : -1;
		if (has && w->inputs[k].fd < 0 && (rc = input_write(w, &w->inputs[k], "", 0, err)))
			goto out;
	}
	for (size_t i = 0; i < w->n; i++)
		order[i] = &w->entries[i];
	qsort(order, w->n, sizeof(*order), cmp_entries);

	/* Data files: flush, close, rename to their final names. */
	for (int k = 0; k < w->n_inputs; k++) {
		winput *in = &w->inputs[k];
		if (new_id[k] < 0)
			continue;
		if (fsync(in->fd) != 0 || close(in->fd) != 0) {
			in->fd = -1;
			rc = ckpt__error(err, CKPT_EIO, "%s: cannot write: %s", in->tmp_path,
					 strerror(errno));
			goto out;
		}
		in->fd = -1;
		char *final = data_filename(w->prefix, new_id[k], files);
		if (final == NULL) {
			rc = ckpt__error(err, CKPT_ENOMEM, "writer: out of memory");
			goto out;
		}
		if (rename(in->tmp_path, final) != 0) {
			rc = ckpt__error(err, CKPT_EIO, "%s: cannot rename to %s: %s", in->tmp_path,
					 final, strerror(errno));
			free(final);
			goto out;
		}
		free(final);
		free(in->tmp_path);
		in->tmp_path = NULL;
	}
	rc = write_index(w, order, new_id, err);
out:
	if (rc)
		w->status = rc;
	free((void *)order);
	free(new_id);
	return rc;
}

void ckpt_writer_close(ckpt_writer *w)
{
	if (w == NULL)
		return;
	for (int k = 0; k < w->n_inputs; k++) {
		winput *in = &w->inputs[k];
		if (in->fd >= 0)
			close(in->fd);
		if (in->tmp_path) {
			unlink(in->tmp_path);
			free(in->tmp_path);
		}
	}
	for (size_t i = 0; i < w->n; i++)
		entry_free(&w->entries[i]);
	free(w->entries);
	free(w->hash);
	free(w->inputs);
	free(w->prefix);
	free(w);
}
