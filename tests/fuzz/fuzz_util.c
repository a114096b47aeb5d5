/* Helpers for the whole-reader fuzz targets (see fuzz.h). */
#include "fuzz.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ckpt/reader.h"

static char scratch_dir[64];
static char scratch_path[256];

static void remove_scratch(void)
{
	DIR *d = opendir(scratch_dir);
	if (d != NULL) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
				unlinkat(dirfd(d), e->d_name, 0);
		}
		closedir(d);
	}
	rmdir(scratch_dir);
}

const char *fuzz_scratch_path(const char *name)
{
	if (scratch_dir[0] == '\0') {
		const char *tmp = getenv("TMPDIR");
		if (tmp == NULL || strlen(tmp) > 40)
			tmp = "/tmp";
		snprintf(scratch_dir, sizeof(scratch_dir), "%s/ckpt-fuzz-XXXXXX", tmp);
		if (mkdtemp(scratch_dir) == NULL) {
			perror("mkdtemp");
			abort();
		}
		atexit(remove_scratch);
	}
	snprintf(scratch_path, sizeof(scratch_path), "%s/%s", scratch_dir, name);
	return scratch_path;
}

void fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
	FILE *f = fopen(path, "wb");
	if (f == NULL || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
		perror(path);
		abort();
	}
}

/* read_slice of the first, middle and last element, whatever the tensor's
 * size: a piece whose stored bytes disagree with its shape shows up here. */
static void read_corners(const ckpt_reader *r, size_t i, const ckpt_tensor *t, size_t es)
{
	int64_t start[CKPT_MAX_RANK], one[CKPT_MAX_RANK];
	uint8_t out[16];
	ckpt_error err;

	if (t->num_elements == 0 || es > sizeof(out))
		return;
	for (int d = 0; d < t->rank; d++) {
		start[d] = 0;
		one[d] = 1;
	}
	(void)ckpt_reader_read_slice(r, i, start, one, out, es, &err);
	for (int d = 0; d < t->rank; d++)
		start[d] = t->dims[d] / 2;
	(void)ckpt_reader_read_slice(r, i, start, one, out, es, &err);
	for (int d = 0; d < t->rank; d++)
		start[d] = t->dims[d] - 1;
	(void)ckpt_reader_read_slice(r, i, start, one, out, es, &err);
}

void fuzz_read_all(const char *path)
{
	ckpt_reader *r;
	ckpt_error err;

	if (ckpt_reader_open(&r, path, &err) != 0)
		return;
	for (size_t i = 0; i < ckpt_reader_count(r); i++) {
		const ckpt_tensor *t = ckpt_reader_tensor(r, i);
		for (size_t p = 0; p < t->num_pieces; p++) {
			const ckpt_piece *pc = ckpt_reader_piece(r, i, p);
			if (pc->size <= (1u << 20)) {
				void *buf = malloc(pc->size ? (size_t)pc->size : 1);
				if (buf != NULL)
					(void)ckpt_reader_pread(r, i, p, 0, buf, (size_t)pc->size,
								&err);
				free(buf);
			}
			(void)ckpt_reader_verify_piece(r, i, p, &err);
		}
		if (t->dtype == CKPT_DT_STRING) {
			char **strs;
			uint64_t *lens;
			if (ckpt_reader_read_strings(r, i, &strs, &lens, &err) == 0)
				ckpt_reader_free_strings(strs, lens);
			continue;
		}
		size_t es = ckpt_dtype_size(t->dtype);
		if (es == 0)
			continue;
		read_corners(r, i, t, es);
		if (t->num_elements > (1u << 20) / es)
			continue;
		size_t bytes = (size_t)t->num_elements * es;
		void *out = malloc(bytes ? bytes : 1);
		if (out != NULL)
			(void)ckpt_reader_read_slice(r, i, NULL, NULL, out, bytes, &err);
		free(out);
	}
	ckpt_reader_close(r);
}
