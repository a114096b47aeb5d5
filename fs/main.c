/*
 * ckptfs - mount a TensorFlow checkpoint, seen through an assignment map,
 * as a read-only filesystem.
 */
#include <stdio.h>
#include <string.h>

#include "ckpt/error.h"

int main(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "-V") == 0 ||
			 strcmp(argv[1], "--version") == 0)) {
		printf("ckptfs 0.1.0\n");
		return 0;
	}
	fprintf(stderr, "usage: ckptfs --list [--json] CHECKPOINT\n");
	return 64;
}
