/*
 * ckptfs - mount a TensorFlow checkpoint, seen through an assignment map,
 * as a read-only filesystem.
 *
 * This file: command-line dispatch and the non-mount modes (--list).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/error.h"
#include "ckpt/reader.h"
#include "exitcodes.h"

static const char usage[] =
	"usage: ckptfs [OPTIONS] CHECKPOINT MOUNTPOINT\n"
	"       ckptfs --list [--json] CHECKPOINT\n"
	"\n"
	"CHECKPOINT is a V2 prefix (dir/model.ckpt-1000), a directory with a\n"
	"`checkpoint` state file, or a V1 checkpoint file.\n"
	"\n"
	"  --list          print every tensor: NAME<TAB>DTYPE<TAB>SHAPE, sorted\n"
	"  --json          with --list: print a JSON array instead\n"
	"  -h, --help      show this help\n"
	"  -V, --version   show the version\n";

int ckptfs_exit_code(int status)
{
	switch (status) {
	case CKPT_OK: return CKPTFS_EXIT_OK;
	case CKPT_ENOTFOUND: return CKPTFS_EXIT_NOINPUT;
	case CKPT_ECORRUPT:
	case CKPT_ECHECKSUM:
	case CKPT_EUNSUPPORTED:
	case CKPT_ERANGE: return CKPTFS_EXIT_DATAERR;
	case CKPT_EINVAL: return CKPTFS_EXIT_MAP;
	case CKPT_EIO: return CKPTFS_EXIT_IOERR;
	default: return CKPTFS_EXIT_SOFTWARE;
	}
}

static void print_shape(FILE *f, const ckpt_tensor *t)
{
	fputc('[', f);
	for (int d = 0; d < t->rank; d++)
		fprintf(f, "%s%lld", d ? "," : "", (long long)t->dims[d]);
	fputc(']', f);
}

static int list_json(const ckpt_reader *r)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < ckpt_reader_count(r); i++) {
		const ckpt_tensor *t = ckpt_reader_tensor(r, i);
		json_t *shape = json_array();
		for (int d = 0; shape && d < t->rank; d++)
			json_array_append_new(shape, json_integer(t->dims[d]));
		json_array_append_new(arr, json_pack("{s:s, s:s, s:o}", "name", t->name, "dtype",
						     ckpt_dtype_name(t->dtype), "shape", shape));
	}
	char *s = arr ? json_dumps(arr, JSON_INDENT(2) | JSON_ENSURE_ASCII) : NULL;
	json_decref(arr);
	if (s == NULL) {
		fprintf(stderr, "ckptfs: out of memory\n");
		return CKPTFS_EXIT_SOFTWARE;
	}
	puts(s);
	free(s);
	return CKPTFS_EXIT_OK;
}

static int cmd_list(const char *path, int json)
{
	ckpt_reader *r;
	ckpt_error err = CKPT_ERROR_INIT;
	int rc = ckpt_reader_open(&r, path, &err);
	if (rc) {
		fprintf(stderr, "ckptfs: %s\n", err.msg);
		return ckptfs_exit_code(rc);
	}
	int code = CKPTFS_EXIT_OK;
	if (json) {
		code = list_json(r);
	} else {
		for (size_t i = 0; i < ckpt_reader_count(r); i++) {
			const ckpt_tensor *t = ckpt_reader_tensor(r, i);
			printf("%s\t%s\t", t->name, ckpt_dtype_name(t->dtype));
			print_shape(stdout, t);
			putchar('\n');
		}
	}
	ckpt_reader_close(r);
	if (fflush(stdout) != 0) {
		perror("ckptfs: stdout");
		return CKPTFS_EXIT_IOERR;
	}
	return code;
}

int main(int argc, char **argv)
{
	int list = 0, json = 0;
	const char *pos[2];
	int npos = 0;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage, stdout);
			return CKPTFS_EXIT_OK;
		} else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf("ckptfs %s\n", CKPTFS_VERSION);
			return CKPTFS_EXIT_OK;
		} else if (strcmp(a, "--list") == 0) {
			list = 1;
		} else if (strcmp(a, "--json") == 0) {
			json = 1;
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "ckptfs: unknown option %s\n%s", a, usage);
			return CKPTFS_EXIT_USAGE;
		} else if (npos < 2) {
			pos[npos++] = a;
		} else {
			fprintf(stderr, "ckptfs: too many arguments\n%s", usage);
			return CKPTFS_EXIT_USAGE;
		}
	}
	if (list && npos == 1)
		return cmd_list(pos[0], json);
	fputs(usage, stderr);
	return CKPTFS_EXIT_USAGE;
}
