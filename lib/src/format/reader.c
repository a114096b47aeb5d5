/*
 * Opening a checkpoint as TensorFlow resolves CHECKPOINT
 * (spec/checkpoint_state.md, bundle.md "V1 vs V2 detection"), and the
 * format-independent half of reading: pieces, pread, CRC checks and slice
 * assembly. The V2 and V1 loaders (bundle.c, v1.c) fill the tensor table
 * (table.c); string tensors are parsed in strings.c.
 */
#include "format/bundle_int.h"
#include "format/table_int.h"
#include "format/v1_int.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/codec_int.h"
#include "util/crc32c_int.h"
#include "util/error_int.h"
#include "util/slice_int.h"
#include "util/strbuf_int.h"
#include "format/state_int.h"
#include "format/strings_int.h"

#define MAX_STATE_FILE (1u << 20)

/* Does any name match pattern? (TF's glob checks.) */
static int any_match(ckpt_store *s, const char *pattern, int *found, ckpt_error *err)
{
	char **names;
	size_t n;
	int rc = ckpt_store_list(s, pattern, &names, &n, err);
	if (rc == 0)
		ckpt_store_names_free(names, n);
	*found = rc == 0 && n > 0;
	return rc;
}

static int with_suffix(const char *a, const char *suffix, char **out, ckpt_error *err)
{
	size_t la = strlen(a), ls = strlen(suffix);
	char *s = malloc(la + ls + 1);
	if (s == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", a);
	memcpy(s, a, la);
	memcpy(s + la, suffix, ls + 1);
	*out = s;
	return 0;
}

/* TF's V2 test: does glob(PATH.index) match? */
static int is_v2(ckpt_store *s, const char *path, int *v2, ckpt_error *err)
{
	char *idx = NULL;
	int rc = with_suffix(path, ".index", &idx, err);
	if (rc == 0)
		rc = any_match(s, idx, v2, err);
	free(idx);
	return rc;
}

/* Record one ckpt_reader_notes sentence (printf-style). */
static int add_note(ckpt_reader *r, ckpt_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int add_note(ckpt_reader *r, ckpt_error *err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = ckpt__strlist_vadd(&r->notes, &r->n_notes, fmt, ap);
	va_end(ap);
	return rc ? ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", r->path) : 0;
}

/* Length of path without a V2 file suffix (".index" or
 * ".data-DDDDD-of-DDDDD"), or 0 when it has none. */
static size_t v2_file_prefix_len(const char *path)
{
	size_t n = strlen(path);
	if (n > 6 && strcmp(path + n - 6, ".index") == 0)
		return n - 6;
	const char *d = strrchr(path, '.');
	if (d == NULL || d == path || strncmp(d, ".data-", 6) != 0)
		return 0;
	const char *p = d + 6;
	for (int k = 0; k < 2; k++) {
		size_t digits = strspn(p, "0123456789");
		if (digits == 0)
			return 0;
		p += digits;
		if (k == 0 && strncmp(p, "-of-", 4) != 0)
			return 0;
		if (k == 0)
			p += 4;
	}
	return *p == '\0' ? (size_t)(d - path) : 0;
}

/* Does store object `name` exist as a regular file? */
static int is_file(ckpt_store *s, const char *name, int *yes, ckpt_error *err)
{
	ckpt_stat st;
	int rc = ckpt_store_stat(s, name, &st, err);
	*yes = rc == 0 && st.kind == CKPT_STORE_FILE;
	return rc;
}

/*
 * A V1 pattern that matched nothing: name the V2 prefixes that do exist in
 * its directory on a second line of err (a typo in a prefix). Best effort:
 * a store that cannot list adds nothing.
 */
static void hint_prefixes(ckpt_store *s, const char *path, ckpt_error *err)
{
	const char *slash = strrchr(path, '/');
	size_t dl = slash ? (size_t)(slash - path) + 1 : 0;
	char *pat = malloc(dl + 8);
	char **names = NULL;
	size_t n = 0;
	if (pat == NULL)
		return;
	memcpy(pat, path, dl);
	memcpy(pat + dl, "*.index", 8);
	ckpt_error e = CKPT_ERROR_INIT;
	if (ckpt_store_list(s, pat, &names, &n, &e) == 0 && n > 0) {
		char list[CKPT_ERROR_MSG_MAX / 2] = "";
		size_t used = 0;
		for (size_t i = 0; i < n && used < sizeof(list); i++) {
			int w = snprintf(list + used, sizeof(list) - used, "%s%.*s", i ? ", " : "",
					 (int)(strlen(names[i]) - 6), names[i]);
			if (w < 0)
				break;
			used += (size_t)w;
		}
		ckpt__error_hint(err, "checkpoint prefixes that exist there: %s", list);
	}
	ckpt_store_names_free(names, n);
	free(pat);
}

/*
 * What to open when the first choice is not found. A store that cannot
 * tell whether an object exists without a request (a URL) only finds out
 * when the index is read; then open_in tries `path` (a V2 prefix) and, if
 * that works, records `note` (none when NULL).
 */
struct fallback {
	char *path;
	char *note;
};

static int fallback_set(struct fallback *f, const char *path, size_t len, ckpt_error *err,
			const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static int fallback_set(struct fallback *f, const char *path, size_t len, ckpt_error *err,
			const char *fmt, ...)
{
	char note[CKPT_ERROR_MSG_MAX];
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(note, sizeof(note), fmt, ap);
		va_end(ap);
	}
	if ((f->path = strndup(path, len)) == NULL || (fmt && (f->note = strdup(note)) == NULL))
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", path);
	return 0;
}

/* The SavedModel layout of dir: `variables/variables` is the checkpoint.
 * *found when its .index is there as far as the store can tell without a
 * request; *vars (owned) is the prefix either way. */
static int saved_model_vars(ckpt_store *s, const char *dir, char **vars, int *found,
			    ckpt_error *err)
{
	char *idx = NULL;
	*found = 0;
	int rc = ckpt_store_join(dir, "variables/variables", vars, err);
	if (rc == 0 && (rc = with_suffix(*vars, ".index", &idx, err)) == 0)
		rc = is_file(s, idx, found, err);
	free(idx);
	return rc;
}

/*
 * A directory: its `checkpoint` file names the checkpoint, as
 * latest_checkpoint resolves it. The named path may be anything TF
 * accepts (absolute, with `..`, a glob); only regular files are ever read.
 * Beyond TF: no `checkpoint` file but a SavedModel's variables; a named
 * path that does not exist but the same base name beside the state file
 * (a directory copied from another machine); *fb gets what to try when
 * the store only finds out at read.
 */
static int resolve_dir(ckpt_reader *r, ckpt_store *s, const char *dir, char **out,
		       struct fallback *fb, ckpt_error *err)
{
	char *state = NULL, *model = NULL, *p = NULL;
	uint8_t *text = NULL;
	size_t len = 0;
	ckpt_stat st;
	int rc = ckpt_store_join(dir, "checkpoint", &state, err);

	if (rc == 0)
		rc = ckpt_store_stat(s, state, &st, err);
	if (rc == 0 && st.kind == CKPT_STORE_ABSENT) {
		int sm = 0;
		free(state);
		rc = saved_model_vars(s, dir, &p, &sm, err);
		if (rc == 0 && sm) {
			*out = p;
			return 0;
		}
		free(p);
		return rc ? rc
			  : ckpt__error(err, CKPT_ENOTFOUND,
					"Couldn't find 'checkpoint' file or checkpoints in given "
					"directory %s",
					dir);
	}
	if (rc == 0)
		rc = ckpt_store_read_whole(s, state, MAX_STATE_FILE, &text, &len, NULL, err);
	if (rc == CKPT_ENOTFOUND) {
		/* a store that finds out at read (a URL): maybe a SavedModel */
		int sm = 0;
		ckpt_error e = CKPT_ERROR_INIT;
		if (saved_model_vars(s, dir, &p, &sm, &e) == 0 && sm &&
		    fallback_set(fb, p, strlen(p), &e, NULL) != 0)
			rc = ckpt__error(err, CKPT_ENOMEM, "%s", e.msg);
		free(p);
		p = NULL;
	}
	if (rc == 0)
		rc = ckpt__state_parse((const char *)text, len, state, dir, &model, err);
	free(text);
	if (rc == 0)
		rc = ckpt_store_join(dir, model, &p, err);
	int v2 = 0, v1 = 0;
	if (rc == 0)
		rc = is_v2(s, p, &v2, err);
	if (rc == 0 && !v2)
		rc = any_match(s, p, &v1, err);
	/* copied from another machine: the state file names its paths; take
	 * the file of the same base name beside the state file */
	const char *base = model ? strrchr(model, '/') : NULL;
	char *alt = NULL;
	if (rc == 0)
		rc = ckpt_store_join(dir, base ? base + 1 : model, &alt, err);
	int other = rc == 0 && strcmp(alt, p) != 0;
	if (other && !v2 && !v1) {
		rc = is_v2(s, alt, &v2, err);
		if (rc == 0 && !v2)
			rc = any_match(s, alt, &v1, err);
		if (rc == 0 && (v2 || v1))
			rc = add_note(r, err,
				      "%s names %s, which does not exist; using %s beside it",
				      state, p, alt);
		if (rc == 0 && (v2 || v1)) {
			free(p);
			p = alt;
			alt = NULL;
		}
	} else if (other) {
		rc = fallback_set(fb, alt, strlen(alt), err,
				  "%s names %s, which does not exist; using %s beside it", state, p,
				  alt);
	}
	free(alt);
	free(model);
	free(state);
	if (rc == 0 && !v2 && !v1)
		rc =
		    ckpt__error(err, CKPT_ENOTFOUND,
				"Couldn't find 'checkpoint' file or checkpoints in given directory "
				"%s (its checkpoint file names %s, which does not exist)",
				dir, p);
	if (rc) {
		free(p);
		return rc;
	}
	*out = p;
	return 0;
}

/* The fallback, when the first choice was not found and nothing of it was
 * loaded: on success its note is recorded, on failure the first error
 * stands. */
static int try_fallback(ckpt_reader *r, struct fallback *fb, int rc, ckpt_error *err)
{
	if (rc != CKPT_ENOTFOUND || fb->path == NULL || r->n > 0 || r->nshards > 0)
		return rc;
	ckpt_error first = CKPT_ERROR_INIT;
	if (err)
		first = *err;
	free(r->path);
	r->path = fb->path;
	fb->path = NULL;
	r->format = CKPT_FORMAT_V2;
	int rc2 = ckpt__reader_load_v2(r, err);
	if (rc2 == 0 && fb->note)
		rc2 = add_note(r, err, "%s", fb->note);
	if (rc2 == CKPT_ENOTFOUND && r->n == 0 && r->nshards == 0) {
		if (err)
			*err = first;
		return rc;
	}
	return rc2;
}

static int open_in(ckpt_reader **out, ckpt_store *store, int own, const char *path, ckpt_error *err)
{
	ckpt_reader *r = calloc(1, sizeof(*r));
	struct fallback fb = {NULL, NULL};
	ckpt_stat st;
	int rc;

	*out = NULL;
	if (r == NULL || pthread_mutex_init(&r->shard_lock, NULL) != 0) {
		free(r);
		if (own)
			ckpt_store_free(store);
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", path);
	}
	r->store = store;
	r->own_store = own;
	rc = ckpt_store_stat(store, path, &st, err);
	if (rc == 0 && st.kind == CKPT_STORE_DIR)
		rc = resolve_dir(r, store, path, &r->path, &fb, err);
	else if (rc == 0 && (r->path = strdup(path)) == NULL)
		rc = ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", path);
	int v2 = 0;
	if (rc == 0)
		rc = is_v2(store, r->path, &v2, err);
	/* PREFIX.index or a data file: TF reads it as a V1 file ("not an
	 * sstable"); the user meant its prefix */
	size_t plen = rc == 0 ? v2_file_prefix_len(r->path) : 0;
	if (plen > 0 && !v2) {
		char *file = r->path, cut = file[plen];
		file[plen] = '\0';
		rc = is_v2(store, file, &v2, err);
		if (rc == 0 && v2)
			rc = add_note(r, err,
				      "%s is a file of checkpoint %s: reading that prefix "
				      "(pass the prefix, not its files)",
				      path, file);
		if (!v2)
			file[plen] = cut;
	} else if (plen > 0 && fb.path == NULL) {
		rc = fallback_set(&fb, r->path, plen, err,
				  "%s is a file of checkpoint %.*s: reading that prefix "
				  "(pass the prefix, not its files)",
				  r->path, (int)plen, r->path);
	}
	if (rc == 0) {
		r->format = v2 ? CKPT_FORMAT_V2 : CKPT_FORMAT_V1;
		rc = v2 ? ckpt__reader_load_v2(r, err) : ckpt__reader_load_v1(r, err);
		if (rc == CKPT_ENOTFOUND && !v2 && err &&
		    strstr(err->msg, "Failed to find any matching files") != NULL)
			hint_prefixes(store, r->path, err);
		if (rc == CKPT_ECORRUPT && !v2 && plen > 0) {
			/* a data file whose index is missing: not corrupt */
			ckpt__error_hint(err,
					 "%s is a file of a V2 checkpoint: pass the prefix %.*s "
					 "(its %.*s.index does not exist)",
					 r->path, (int)plen, r->path, (int)plen, r->path);
			rc = err ? (err->code = CKPT_ENOTFOUND) : CKPT_ENOTFOUND;
		}
	}
	rc = try_fallback(r, &fb, rc, err);
	free(fb.path);
	free(fb.note);
	if (rc == 0)
		rc = ckpt__reader_sort(r, err);
	if (rc) {
		ckpt_reader_close(r);
		return rc;
	}
	*out = r;
	return 0;
}

int ckpt_reader_open(ckpt_reader **out, const char *path, ckpt_error *err)
{
	ckpt_store *s;
	*out = NULL;
	int rc = ckpt_store_posix_new(&s, 0, err);
	return rc ? rc : open_in(out, s, 1, path, err);
}

int ckpt_reader_open_store(ckpt_reader **out, ckpt_store *store, const char *name, ckpt_error *err)
{
	return open_in(out, store, 0, name, err);
}

void ckpt_reader_close(ckpt_reader *r)
{
	if (r == NULL)
		return;
	ckpt__reader_free_table(r);
	for (int i = 0; r->shards && i < r->nshards; i++) {
		ckpt_object_close(atomic_load(&r->shards[i].obj));
		free(r->shards[i].name);
	}
	free(r->shards);
	free(r->path);
	for (size_t i = 0; i < r->n_notes; i++)
		free(r->notes[i]);
	free(r->notes);
	pthread_mutex_destroy(&r->shard_lock);
	if (r->own_store)
		ckpt_store_free(r->store);
	free(r);
}

/* What a store's message says after its "<name>: ". */
static const char *reason_of(const ckpt_error *e, const char *name)
{
	size_t n = strlen(name);
	if (strncmp(e->msg, name, n) == 0 && e->msg[n] == ':' && e->msg[n + 1] == ' ')
		return e->msg + n + 2;
	return e->msg;
}

/* Data shard s, opened on first use (for tensor t's messages). */
static int shard_object(const ckpt_reader *r, int s, const char *t, ckpt_object **out,
			ckpt_error *err)
{
	struct ckpt__shard *sh = &r->shards[s];
	ckpt_object *o = atomic_load_explicit(&sh->obj, memory_order_acquire);
	if (o != NULL) {
		*out = o;
		return 0;
	}
	pthread_mutex_t *lock = (pthread_mutex_t *)&r->shard_lock;
	int rc = 0;
	pthread_mutex_lock(lock);
	o = atomic_load_explicit(&sh->obj, memory_order_relaxed);
	if (o == NULL) {
		ckpt_error e = CKPT_ERROR_INIT;
		rc = ckpt_store_open(r->store, sh->name, &o, &e);
		if (rc)
			rc = ckpt__error(err, rc, "%s: cannot open data file for tensor %s: %s",
					 sh->name, t, reason_of(&e, sh->name));
		else
			atomic_store_explicit(&sh->obj, o, memory_order_release);
	}
	pthread_mutex_unlock(lock);
	*out = o;
	return rc;
}

/* Piece pc of t lies inside its data file (opening it if needed). */
static int check_piece(const ckpt_reader *r, const ckpt_tensor *t, const struct ckpt__piece *pc,
		       ckpt_error *err)
{
	if (pc->mem)
		return 0;
	ckpt_object *o;
	int rc = shard_object(r, pc->shard, t->name, &o, err);
	if (rc)
		return rc;
	uint64_t size = ckpt_object_stat(o)->size;
	if (pc->offset + pc->pub.size > size)
		return ckpt__error(err, CKPT_ECORRUPT,
				   "%s@%llu: tensor %s (%llu bytes) runs past the end of the data "
				   "file (%llu bytes)",
				   r->shards[pc->shard].name, (unsigned long long)pc->offset,
				   t->name, (unsigned long long)pc->pub.size,
				   (unsigned long long)size);
	return 0;
}

int ckpt_reader_check_data(const ckpt_reader *r, const size_t *which, size_t n, ckpt_error *err)
{
	if (which == NULL)
		n = r->n;
	for (size_t k = 0; k < n; k++) {
		size_t i = which ? which[k] : k;
		if (i >= r->n)
			return ckpt__error(err, CKPT_EINVAL, "%s: no tensor %zu", r->path, i);
		const ckpt_tensor *t = &r->t[i];
		for (size_t p = 0; p < t->num_pieces; p++) {
			int rc = check_piece(r, t, &ckpt__tensor_pieces(r, i)[p], err);
			if (rc)
				return rc;
		}
	}
	return 0;
}

const ckpt_stat *ckpt_reader_stat(const ckpt_reader *r)
{
	return &r->stat;
}

const char *const *ckpt_reader_notes(const ckpt_reader *r, size_t *n)
{
	*n = r->n_notes;
	return (const char *const *)r->notes;
}

void ckpt_reader_set_progress(ckpt_reader *r, void (*fn)(void *ctx, uint64_t n), void *ctx)
{
	r->progress = fn;
	r->progress_ctx = ctx;
}

const char *ckpt_reader_path(const ckpt_reader *r)
{
	return r->path;
}

enum ckpt_format ckpt_reader_format(const ckpt_reader *r)
{
	return r->format;
}

size_t ckpt_reader_count(const ckpt_reader *r)
{
	return r->n;
}

const ckpt_tensor *ckpt_reader_tensor(const ckpt_reader *r, size_t i)
{
	return i < r->n ? &r->t[i] : NULL;
}

const ckpt_tensor *ckpt_reader_tensors(const ckpt_reader *r)
{
	return r->t;
}

int ckpt_reader_find(const ckpt_reader *r, const char *name, size_t *index_out)
{
	size_t lo = 0, hi = r->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(r->t[mid].name, name);
		if (c == 0) {
			*index_out = mid;
			return 0;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return CKPT_ENOTFOUND;
}

const ckpt_piece *ckpt_reader_piece(const ckpt_reader *r, size_t i, size_t p)
{
	if (i >= r->n || p >= r->t[i].num_pieces)
		return NULL;
	return &ckpt__tensor_pieces(r, i)[p].pub;
}

/* The stored bytes, no byte order applied. Arguments already checked. */
static int raw_pread(const ckpt_reader *r, const ckpt_tensor *t, const struct ckpt__piece *pc,
		     uint64_t off, void *buf, size_t len, ckpt_error *err)
{
	int rc = 0;
	if (pc->mem) {
		memcpy(buf, pc->mem + off, len);
	} else {
		ckpt_object *o;
		rc = shard_object(r, pc->shard, t->name, &o, err);
		if (rc == 0)
			rc = ckpt_object_pread(o, buf, len, pc->offset + off, err);
		if (rc)
			ckpt__error_prefix(err, "tensor %s", t->name);
	}
	if (rc == 0 && r->progress)
		r->progress(r->progress_ctx, len);
	return rc;
}

/* Bytes swapped as one unit when a big-endian bundle is read: the element
 * (each half of a complex one); 1 when nothing swaps. TF's byte_swap_tensor
 * rules: strings, bool and 8-bit types never swap. */
static size_t swap_unit(const ckpt_reader *r, ckpt_dtype dt)
{
	size_t es = ckpt_dtype_size(dt);
	if (!r->swap || es <= 1)
		return 1;
	return dt == CKPT_DT_COMPLEX64 || dt == CKPT_DT_COMPLEX128 ? es / 2 : es;
}

static void swap_units(uint8_t *p, size_t n, size_t unit)
{
	for (size_t k = 0; k + unit <= n; k += unit)
		for (size_t a = 0, b = unit - 1; a < b; a++, b--) {
			uint8_t x = p[k + a];
			p[k + a] = p[k + b];
			p[k + b] = x;
		}
}

int ckpt_reader_pread(const ckpt_reader *r, size_t i, size_t p, uint64_t off, void *buf, size_t len,
		      ckpt_error *err)
{
	if (i >= r->n || p >= r->t[i].num_pieces)
		return ckpt__error(err, CKPT_EINVAL, "%s: no tensor %zu piece %zu", r->path, i, p);
	const ckpt_tensor *t = &r->t[i];
	const struct ckpt__piece *pc = &ckpt__tensor_pieces(r, i)[p];
	uint64_t end;
	if (ckpt__add_u64(off, len, &end) || end > pc->pub.size)
		return ckpt__error(
		    err, CKPT_ERANGE,
		    "%s: read of %zu bytes at %llu runs past the %llu bytes of tensor %s", r->path,
		    len, (unsigned long long)off, (unsigned long long)pc->pub.size, t->name);
	size_t u = swap_unit(r, t->dtype);
	if (u == 1)
		return raw_pread(r, t, pc, off, buf, len, err);
	/* big-endian: read whole units around the range, swap, copy it out */
	uint64_t a = off - off % u, b = end + (u - end % u) % u;
	if (a == off && b == end) {
		int rc = raw_pread(r, t, pc, off, buf, len, err);
		if (rc == 0)
			swap_units(buf, len, u);
		return rc;
	}
	uint8_t *tmp = malloc((size_t)(b - a));
	if (tmp == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	int rc = raw_pread(r, t, pc, a, tmp, (size_t)(b - a), err);
	if (rc == 0) {
		swap_units(tmp, (size_t)(b - a), u);
		memcpy(buf, tmp + (off - a), len);
	}
	free(tmp);
	return rc;
}

int ckpt_reader_piece_object(const ckpt_reader *r, size_t i, size_t p, ckpt_object **obj,
			     uint64_t *offset)
{
	if (i >= r->n || p >= r->t[i].num_pieces)
		return 0;
	const struct ckpt__piece *pc = &ckpt__tensor_pieces(r, i)[p];
	if (pc->mem || swap_unit(r, r->t[i].dtype) != 1 ||
	    shard_object(r, pc->shard, r->t[i].name, obj, NULL))
		return 0;
	*offset = pc->offset;
	return 1;
}

/*
 * The checksum of a DT_VARIANT tensor (bundle.md): per element a varint64
 * length, that many bytes, then 4 bytes holding the masked running CRC;
 * the running CRC takes the length as 8 little-endian bytes, the bytes,
 * then those 4 checksum bytes. Returns the final running CRC, or sets
 * *bad when the layout or an element checksum does not hold.
 */
static uint32_t variant_crc(const uint8_t *p, size_t size, uint64_t n, int *bad)
{
	const uint8_t *end = p + size;
	uint32_t crc = 0;

	*bad = 0;
	for (uint64_t k = 0; k < n; k++) {
		uint64_t len;
		uint8_t le[8];
		if (ckpt__get_varint64(&p, end, &len) || len > (uint64_t)(end - p) ||
		    (size_t)(end - p) - len < 4) {
			*bad = 1;
			return 0;
		}
		ckpt__store_le64(le, len);
		crc = ckpt__crc32c_extend(ckpt__crc32c_extend(crc, le, 8), p, (size_t)len);
		p += len;
		if (ckpt__load_le32(p) != ckpt__crc32c_mask(crc)) {
			*bad = 1;
			return 0;
		}
		crc = ckpt__crc32c_extend(crc, p, 4);
		p += 4;
	}
	*bad = p != end;
	return crc;
}

#define CHECK_STEP ((size_t)1 << 20)

/* TensorFlow's text for a piece whose bytes do not match their CRC. */
static int checksum_error(const ckpt_reader *r, size_t i, size_t p, uint32_t crc, ckpt_error *err)
{
	const struct ckpt__piece *pc = &ckpt__tensor_pieces(r, i)[p];
	return ckpt__error(
	    err, CKPT_ECHECKSUM,
	    "TensorBundle at %s shard %d (%llu bytes): Checksum does not match: stored %08u vs. "
	    "calculated on the restored bytes %u (tensor %s, file %s, offset %llu)",
	    r->path, pc->shard, (unsigned long long)pc->pub.size, pc->crc, crc, r->t[i].name,
	    pc->mem ? r->path : r->shards[pc->shard].name, (unsigned long long)pc->offset);
}

/* Read piece p of tensor i whole into a new buffer and check its CRC (on
 * the stored bytes); a big-endian bundle's numbers are swapped after. */
static int read_piece(const ckpt_reader *r, size_t i, size_t p, uint8_t **out, ckpt_error *err)
{
	const struct ckpt__piece *pc = &ckpt__tensor_pieces(r, i)[p];
	if (pc->pub.size > SIZE_MAX)
		return ckpt__error(err, CKPT_ENOMEM, "%s: tensor too large", r->path);
	/* no buffer for more bytes than the data file has */
	int rc = check_piece(r, &r->t[i], pc, err);
	if (rc)
		return rc;
	uint8_t *buf = malloc(pc->pub.size ? (size_t)pc->pub.size : 1);
	if (buf == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory for %llu bytes of %s",
				   r->path, (unsigned long long)pc->pub.size, r->t[i].name);
	rc = raw_pread(r, &r->t[i], pc, 0, buf, (size_t)pc->pub.size, err);
	if (rc == 0 && r->swap && r->t[i].dtype == CKPT_DT_VARIANT)
		rc = ckpt__error(
		    err, CKPT_EUNSUPPORTED,
		    "%s: Byte-swapping not yet implemented for tensors with dtype 21 (%s)", r->path,
		    r->t[i].name);
	/* strings carry their own checksum layout: strings.c checks it */
	if (rc == 0 && r->t[i].dtype != CKPT_DT_STRING) {
		int bad = 0;
		uint32_t crc =
		    r->t[i].dtype == CKPT_DT_VARIANT
			? variant_crc(buf, (size_t)pc->pub.size, pc->pub.num_elements, &bad)
			: ckpt__crc32c_extend(0, buf, (size_t)pc->pub.size);
		if (bad)
			rc = ckpt__error(err, CKPT_ECORRUPT,
					 "%s@%llu: variant tensor %s: element lengths or checksums "
					 "do not fit its %llu bytes",
					 pc->mem ? r->path : r->shards[pc->shard].name,
					 (unsigned long long)pc->offset, r->t[i].name,
					 (unsigned long long)pc->pub.size);
		else if (crc != pc->crc)
			rc = checksum_error(r, i, p, crc, err);
	}
	if (rc) {
		free(buf);
		return rc;
	}
	swap_units(buf, (size_t)pc->pub.size, swap_unit(r, r->t[i].dtype));
	*out = buf;
	return 0;
}

int ckpt_reader_verify_piece(const ckpt_reader *r, size_t i, size_t p, ckpt_error *err)
{
	uint8_t *buf;
	if (i >= r->n || p >= r->t[i].num_pieces)
		return ckpt__error(err, CKPT_EINVAL, "%s: no tensor %zu piece %zu", r->path, i, p);
	const ckpt_tensor *t = &r->t[i];
	if (t->dtype == CKPT_DT_STRING) /* lengths, then their bytes in steps */
		return ckpt__strings_verify(r, i, err);
	if (t->dtype == CKPT_DT_VARIANT) { /* small; its CRC needs the layout */
		int rc = read_piece(r, i, p, &buf, err);
		if (rc == 0)
			free(buf);
		return rc;
	}
	/* in 1 MiB steps: checking a GiB tensor must not hold a GiB */
	const struct ckpt__piece *pc = &ckpt__tensor_pieces(r, i)[p];
	int rc = check_piece(r, t, pc, err);
	if (rc)
		return rc;
	size_t step = pc->pub.size < CHECK_STEP ? (size_t)pc->pub.size : CHECK_STEP;
	buf = malloc(step ? step : 1);
	if (buf == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "%s: out of memory", r->path);
	uint32_t crc = 0;
	for (uint64_t off = 0; rc == 0 && off < pc->pub.size; off += step) {
		size_t n = pc->pub.size - off < step ? (size_t)(pc->pub.size - off) : step;
		rc = raw_pread(r, t, pc, off, buf, n, err);
		if (rc == 0)
			crc = ckpt__crc32c_extend(crc, buf, n);
	}
	free(buf);
	if (rc == 0 && crc != pc->crc)
		rc = checksum_error(r, i, p, crc, err);
	return rc;
}

int ckpt_reader_crc_over_read(const ckpt_reader *r, size_t i, size_t p)
{
	if (i >= r->n || p >= r->t[i].num_pieces)
		return 0;
	const ckpt_tensor *t = &r->t[i];
	return t->dtype != CKPT_DT_STRING && t->dtype != CKPT_DT_VARIANT &&
	       swap_unit(r, t->dtype) == 1 && ckpt__tensor_pieces(r, i)[p].mem == NULL;
}

int ckpt_reader_check_crc(const ckpt_reader *r, size_t i, size_t p, uint32_t crc, ckpt_error *err)
{
	if (i >= r->n || p >= r->t[i].num_pieces)
		return ckpt__error(err, CKPT_EINVAL, "%s: no tensor %zu piece %zu", r->path, i, p);
	const ckpt_tensor *t = &r->t[i];
	const struct ckpt__piece *pc = &ckpt__tensor_pieces(r, i)[p];
	if (!ckpt_reader_crc_over_read(r, i, p))
		return ckpt__error(err, CKPT_EUNSUPPORTED,
				   "%s: the checksum of %s is not over the bytes read", r->path,
				   t->name);
	return crc == pc->crc ? 0 : checksum_error(r, i, p, crc, err);
}

int ckpt_reader_read_slice(const ckpt_reader *r, size_t i, const int64_t *start,
			   const int64_t *length, void *out, size_t out_size, ckpt_error *err)
{
	if (i >= r->n)
		return ckpt__error(err, CKPT_EINVAL, "%s: no tensor %zu", r->path, i);
	const ckpt_tensor *t = &r->t[i];
	const struct ckpt__piece *pieces = ckpt__tensor_pieces(r, i);
	int rank = t->rank;
	size_t esize = ckpt_dtype_size(t->dtype);
	int64_t zeros[CKPT_MAX_RANK] = {0};
	if (esize == 0)
		return ckpt__error(err, CKPT_EUNSUPPORTED,
				   "%s: tensor %s has dtype %s, not a number", r->path, t->name,
				   ckpt_dtype_name(t->dtype));
	if (start == NULL) {
		start = zeros;
		length = t->dims;
	}
	uint64_t want = 1;
	for (int d = 0; d < rank; d++) {
		uint64_t end;
		if (start[d] < 0 || length[d] < 0 ||
		    ckpt__add_u64((uint64_t)start[d], (uint64_t)length[d], &end) ||
		    end > (uint64_t)t->dims[d])
			return ckpt__error(err, CKPT_EINVAL,
					   "%s: slice out of bounds in dimension %d of %s", r->path,
					   d, t->name);
		want *= (uint64_t)length[d];
	}
	uint64_t bytes;
	if (ckpt__mul_u64(want, esize, &bytes) || bytes > out_size)
		return ckpt__error(err, CKPT_ERANGE, "%s: output buffer too small for %s", r->path,
				   t->name);

	/* TF: a stored slice equal to the request is used alone. */
	int64_t is[CKPT_MAX_RANK], il[CKPT_MAX_RANK];
	uint64_t covered = 0;
	for (size_t p = 0; p < t->num_pieces; p++) {
		const ckpt_piece *pc = &pieces[p].pub;
		if (memcmp(pc->start, start, (size_t)rank * 8) == 0 &&
		    memcmp(pc->length, length, (size_t)rank * 8) == 0) {
			uint8_t *buf;
			int rc = read_piece(r, i, p, &buf, err);
			if (rc)
				return rc;
			memcpy(out, buf, (size_t)bytes);
			free(buf);
			return 0;
		}
		covered += rank == 0 ? 1
				     : ckpt__box_intersect(rank, pc->start, pc->length, start,
							   length, is, il);
	}
	if (covered != want) {
		char s[512];
		ckpt__slice_text(s, sizeof(s), rank, NULL, start, length);
		return ckpt__error(err, CKPT_ENOTFOUND,
				   "Does not have sufficient slices for partitioned tensor %s to "
				   "restore in slice_spec: %s",
				   t->name, s);
	}
	for (size_t p = 0; p < t->num_pieces; p++) {
		const ckpt_piece *pc = &pieces[p].pub;
		if (!ckpt__box_intersect(rank, pc->start, pc->length, start, length, is, il))
			continue;
		uint8_t *buf;
		int rc = read_piece(r, i, p, &buf, err);
		if (rc)
			return rc;
		ckpt__box_copy(rank, esize, is, il, buf, pc->start, pc->length, out, start, length);
		free(buf);
	}
	return 0;
}
