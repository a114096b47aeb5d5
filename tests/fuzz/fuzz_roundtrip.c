/*
 * Fuzz target: writer -> reader round trip. The input decodes into up to 7
 * tensors (dtype, rank <= 3, dims <= 4, a name of any non-NUL bytes, data
 * from the input; numeric ones may be saved as two row slices), written
 * with ckpt_writer and read back with ckpt_reader: every tensor must come
 * back with its name, dtype, shape and bytes, every piece verifying.
 * Aborts on any mismatch (a finding, like a crash).
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/reader.h"
#include "ckpt/writer.h"

#define MAX_T 7
#define MAX_EL 64

struct cursor {
	const uint8_t *p;
	size_t n, at;
};

static uint8_t take(struct cursor *c)
{
	return c->at < c->n ? c->p[c->at++] : (uint8_t)(c->at++ * 131u);
}

struct tensor {
	char name[9];
	ckpt_dtype dt;
	int rank;
	int64_t dims[3];
	uint64_t numel;
	uint8_t data[MAX_EL * 16];
	size_t size;
	char strs[MAX_EL][6];
	uint64_t lens[MAX_EL];
};

static const ckpt_dtype dtypes[] = {
    CKPT_DT_FLOAT,  CKPT_DT_DOUBLE, CKPT_DT_INT32,  CKPT_DT_UINT8,     CKPT_DT_INT16,
    CKPT_DT_INT8,   CKPT_DT_INT64,  CKPT_DT_BOOL,   CKPT_DT_BFLOAT16,  CKPT_DT_HALF,
    CKPT_DT_UINT16, CKPT_DT_UINT32, CKPT_DT_UINT64, CKPT_DT_COMPLEX64, CKPT_DT_COMPLEX128,
    CKPT_DT_QINT8,  CKPT_DT_STRING,
};

static void fail(const char *what, const char *name)
{
	fprintf(stderr, "fuzz_roundtrip: %s (tensor %s)\n", what, name);
	abort();
}

/* Decode one tensor; 1 if it should be saved as two row slices. */
static int decode(struct cursor *c, struct tensor *t)
{
	uint8_t kind = take(c);
	t->dt = dtypes[kind % (sizeof(dtypes) / sizeof(dtypes[0]))];
	t->rank = take(c) % 4;
	t->numel = 1;
	for (int d = 0; d < t->rank; d++) {
		t->dims[d] = take(c) % 5;
		t->numel *= (uint64_t)t->dims[d];
	}
	size_t nlen = 1 + take(c) % 8;
	for (size_t i = 0; i < nlen; i++) {
		uint8_t b = take(c);
		t->name[i] = (char)(b ? b : 'z');
	}
	t->name[nlen] = '\0';
	if (t->dt == CKPT_DT_STRING) {
		for (uint64_t k = 0; k < t->numel; k++) {
			t->lens[k] = take(c) % 6;
			for (uint64_t i = 0; i < t->lens[k]; i++)
				t->strs[k][i] = (char)take(c);
		}
		return 0;
	}
	t->size = (size_t)t->numel * ckpt_dtype_size(t->dt);
	for (size_t i = 0; i < t->size; i++)
		t->data[i] = take(c);
	/* the writer takes slices of length >= 1 in every dimension */
	return (kind & 0x80) && t->rank >= 1 && t->dims[0] >= 2 && t->numel > 0;
}

static int add(ckpt_writer *w, const struct tensor *t, int sliced, ckpt_error *errp)
{
	ckpt_error err;
	if (t->dt == CKPT_DT_STRING) {
		const char *p[MAX_EL];
		for (uint64_t k = 0; k < t->numel; k++)
			p[k] = t->strs[k];
		return ckpt_writer_add_strings(w, t->name, t->rank, t->dims, p, t->lens, errp);
	}
	if (!sliced)
		return ckpt_writer_add(w, t->name, t->dt, t->rank, t->dims, t->data, t->size, errp);
	/* rows [0, k) and [k, d0): each slice's bytes are a run of the whole */
	int64_t k = t->dims[0] / 2, start[3] = {0}, len[3];
	size_t row = t->dims[0] ? t->size / (size_t)t->dims[0] : 0;
	memcpy(len, t->dims, sizeof(len));
	len[0] = k;
	int rc = ckpt_writer_add_slice(w, t->name, t->dt, t->rank, t->dims, start, len, t->data,
				       row * (size_t)k, &err);
	*errp = err;
	if (rc)
		return rc;
	start[0] = k;
	len[0] = t->dims[0] - k;
	rc = ckpt_writer_add_slice(w, t->name, t->dt, t->rank, t->dims, start, len,
				   t->data + row * (size_t)k, row * (size_t)len[0], &err);
	*errp = err;
	return rc;
}

static void check_one(const ckpt_reader *r, const struct tensor *t)
{
	size_t i;
	ckpt_error err;
	if (ckpt_reader_find(r, t->name, &i) != 0)
		fail("missing after the round trip", t->name);
	const ckpt_tensor *rt = ckpt_reader_tensor(r, i);
	if (rt->dtype != t->dt || rt->rank != t->rank || rt->num_elements != t->numel ||
	    (t->rank && memcmp(rt->dims, t->dims, (size_t)t->rank * sizeof(int64_t))))
		fail("dtype or shape differs", t->name);
	for (size_t p = 0; p < rt->num_pieces; p++)
		if (ckpt_reader_verify_piece(r, i, p, &err) != 0)
			fail(err.msg, t->name);
	if (t->dt == CKPT_DT_STRING) {
		char **s;
		uint64_t *l;
		if (ckpt_reader_read_strings(r, i, &s, &l, &err) != 0)
			fail(err.msg, t->name);
		for (uint64_t k = 0; k < t->numel; k++)
			if (l[k] != t->lens[k] || memcmp(s[k], t->strs[k], (size_t)l[k]) != 0)
				fail("a string differs", t->name);
		ckpt_reader_free_strings(s, l);
		return;
	}
	uint8_t out[MAX_EL * 16];
	if (ckpt_reader_read_slice(r, i, NULL, NULL, out, sizeof(out), &err) != 0)
		fail(err.msg, t->name);
	if (memcmp(out, t->data, t->size) != 0)
		fail("bytes differ", t->name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct tensor ts[MAX_T];
	static char prefix[256];
	struct cursor c = {data, size, 0};
	ckpt_writer *w;
	ckpt_error err;
	size_t n = 0;

	snprintf(prefix, sizeof(prefix), "%s", fuzz_scratch_path("rt"));
	if (ckpt_writer_open(&w, prefix, &err) != 0)
		fail(err.msg, "-");
	size_t want = take(&c) % (MAX_T + 1);
	for (size_t k = 0; k < want; k++) {
		struct tensor *t = &ts[n];
		int sliced = decode(&c, t);
		int dup = 0;
		for (size_t j = 0; j < n; j++)
			dup |= strcmp(ts[j].name, t->name) == 0;
		if (dup)
			continue;
		if (add(w, t, sliced, &err) != 0)
			fail(err.msg, t->name);
		n++;
	}
	if (ckpt_writer_finish(w, &err) != 0)
		fail(err.msg, "-");
	ckpt_writer_close(w);
	ckpt_reader *r;
	if (ckpt_reader_open(&r, prefix, &err) != 0)
		fail(err.msg, "-");
	if (ckpt_reader_count(r) != n)
		fail("another number of tensors", "-");
	for (size_t k = 0; k < n; k++)
		check_one(r, &ts[k]);
	ckpt_reader_close(r);
	return 0;
}
