/*
 * Replay twin of a fuzz target: runs LLVMFuzzerTestOneInput over every
 * regular file under the directories (walked recursively) and files given
 * as arguments, so the committed corpora and the fixtures run in every
 * `meson test`. A missing argument is skipped with a note, unless CI=true
 * (then it fails: CI must see the fixtures). Exit status: 0, or 1 when an
 * argument is missing under CI or a file cannot be read. Crashes and
 * sanitizer reports end the process as they would under libFuzzer.
 */
#include "fuzz.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Largest input replayed; libFuzzer's own inputs are far smaller. */
#define MAX_INPUT ((size_t)64 << 20)

static size_t nrun;
static int failed;

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	struct stat st;

	if (f == NULL || fstat(fileno(f), &st) != 0) {
		fprintf(stderr, "%s: %s\n", path, strerror(errno));
		if (f != NULL)
			fclose(f);
		return -1;
	}
	if ((uint64_t)st.st_size > MAX_INPUT) {
		fclose(f);
		printf("skip %s: %lld bytes is over the replay limit\n", path,
		       (long long)st.st_size);
		return 0;
	}
	size_t n = (size_t)st.st_size;
	uint8_t *buf = malloc(n ? n : 1);
	if (buf == NULL || fread(buf, 1, n, f) != n) {
		fprintf(stderr, "%s: cannot read\n", path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	free(buf);
	nrun++;
	return 0;
}

static int visit(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_F && run_file(path) != 0)
		failed = 1;
	return 0;
}

int main(int argc, char **argv)
{
	const char *ci = getenv("CI");
	int strict = ci != NULL && strcmp(ci, "true") == 0;

	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			printf("%s %s: %s\n", strict ? "FAIL" : "skip", argv[i], strerror(errno));
			if (strict)
				failed = 1;
			continue;
		}
		size_t before = nrun;
		if (S_ISDIR(st.st_mode)) {
			if (nftw(argv[i], visit, 16, FTW_PHYS) != 0) {
				fprintf(stderr, "%s: cannot walk: %s\n", argv[i], strerror(errno));
				failed = 1;
			}
		} else if (run_file(argv[i]) != 0) {
			failed = 1;
		}
		printf("%s: %zu inputs\n", argv[i], nrun - before);
	}
	printf("%zu inputs replayed%s\n", nrun, failed ? ", with errors" : "");
	return failed;
}
