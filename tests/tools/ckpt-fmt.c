/*
 * ckpt-fmt: libckpt's NumPy-style printing (ckpt/format_values.h) driven
 * from the command line, for tests that compare it with NumPy itself.
 *
 *   ckpt-fmt scalar DTYPE     each stdin line: one element's stored bytes in
 *                             hex; prints ckpt_format_scalar of it, a line each
 *   ckpt-fmt double           each stdin line: 16 hex digits, a float64's
 *                             bits; prints ckpt_format_double
 *   ckpt-fmt array DTYPE D0,D1,...   (no dims: a scalar)
 *                             stdin: the shown elements' bytes in hex, one
 *                             element a line (strings: their bytes, "" for
 *                             empty); prints ckpt_format_array and a newline
 *
 * Exit 0, or 1 with a message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/format_values.h"

static int unhex(const char *s, unsigned char *out, size_t cap, size_t *n)
{
	size_t len = strcspn(s, "\r\n");
	if (len % 2 || len / 2 > cap)
		return -1;
	for (size_t k = 0; k < len / 2; k++) {
		unsigned v;
		if (sscanf(s + 2 * k, "%2x", &v) != 1)
			return -1;
		out[k] = (unsigned char)v;
	}
	*n = len / 2;
	return 0;
}

static int to_stdout(void *ctx, const char *s, size_t n)
{
	(void)ctx;
	return fwrite(s, 1, n, stdout) == n ? 0 : -2;
}

int main(int argc, char **argv)
{
	static char line[1 << 20];
	static unsigned char b[1 << 19];
	ckpt_dtype dt = CKPT_DT_DOUBLE;
	size_t n;
	if (argc < 2 ||
	    (strcmp(argv[1], "double") != 0 && (argc < 3 || ckpt_dtype_parse(argv[2], &dt) != 0))) {
		fprintf(stderr, "usage: ckpt-fmt scalar DTYPE | double | array DTYPE [DIMS]\n");
		return 1;
	}
	if (strcmp(argv[1], "array") != 0) {
		char out[128];
		while (fgets(line, sizeof(line), stdin)) {
			if (unhex(line, b, 16, &n) != 0)
				return fprintf(stderr, "ckpt-fmt: bad hex: %s", line), 1;
			if (strcmp(argv[1], "double") == 0) {
				unsigned long long u = strtoull(line, NULL, 16);
				double d;
				memcpy(&d, &u, 8);
				ckpt_format_double(d, out, sizeof(out));
			} else {
				ckpt_format_scalar(dt, b, out, sizeof(out));
			}
			puts(out);
		}
		return 0;
	}
	int64_t dims[CKPT_MAX_RANK];
	int rank = 0;
	for (char *p = argc > 3 ? argv[3] : NULL; p && *p && rank < CKPT_MAX_RANK;) {
		dims[rank++] = strtoll(p, &p, 10);
		if (*p == ',')
			p++;
	}
	size_t es = ckpt_dtype_size(dt), cap = 1 << 20, count = 0, used = 0;
	unsigned char *vals = malloc(cap);
	ckpt_format_bytes *strs = malloc(sizeof(*strs) * (1 << 16));
	if (vals == NULL || strs == NULL)
		return 1;
	while (fgets(line, sizeof(line), stdin) && count < (1 << 16)) {
		if (unhex(line, b, sizeof(b), &n) != 0 || used + n > cap ||
		    (dt != CKPT_DT_STRING && n != es))
			return fprintf(stderr, "ckpt-fmt: bad element %zu\n", count), 1;
		memcpy(vals + used, b, n);
		strs[count].len = n;
		strs[count++].p = (void *)(uintptr_t)used;
		used += n;
	}
	for (size_t k = 0; k < count; k++)
		strs[k].p = vals + (uintptr_t)strs[k].p;
	ckpt_error err = CKPT_ERROR_INIT;
	int rc = ckpt_format_array(dt, rank, dims, dt == CKPT_DT_STRING ? (void *)strs : vals,
				   to_stdout, NULL, &err);
	if (rc)
		return fprintf(stderr, "ckpt-fmt: %s\n", err.msg), 1;
	putchar('\n');
	free(vals);
	free(strs);
	return 0;
}
