/*
 * ckptfs: the library never prints; what it found but did not refuse is
 * printed here, on stderr, one "ckptfs: warning: ..." line each.
 */
#include "hints.h"

#include <stdio.h>
#include <string.h>

#include "exitcodes.h"

void ckptfs_print_error(const char *msg)
{
	for (;;) {
		const char *nl = strchr(msg, '\n');
		int n = nl ? (int)(nl - msg) : (int)strlen(msg);
		fprintf(stderr, "ckptfs: %.*s\n", n, msg);
		if (nl == NULL)
			break;
		msg = nl + 1;
	}
}

void ckptfs_print_reader_notes(const ckpt_reader *r)
{
	size_t n;
	const char *const *notes = ckpt_reader_notes(r, &n);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, "ckptfs: warning: %s\n", notes[i]);
}

int ckptfs_plan_warnings(const ckpt_plan *p, int strict)
{
	for (size_t i = 0; i < p->n_warnings; i++)
		fprintf(stderr, "ckptfs: %s: %s\n", strict ? "error" : "warning", p->warnings[i]);
	if (strict && p->n_warnings > 0) {
		fprintf(stderr, "ckptfs: --strict: %zu map problem%s above\n", p->n_warnings,
			p->n_warnings == 1 ? "" : "s");
		return CKPTFS_EXIT_MAP;
	}
	return 0;
}
