/* ckptfs: showing what the library found but did not refuse (hints.c). */
#ifndef CKPTFS_HINTS_H
#define CKPTFS_HINTS_H

#include "ckpt/reader.h"
#include "ckpt/resolve.h"

/* Print a library message on stderr, each line as "ckptfs: LINE" (a
 * message may carry a hint on a second line). */
void ckptfs_print_error(const char *msg);

/* Print what opening worked around (ckpt_reader_notes) as warnings. */
void ckptfs_print_reader_notes(const ckpt_reader *r);

/* Print the plan's warnings (map entries that matched nothing, targets
 * without a source); with strict they are errors. Returns 0, or
 * CKPTFS_EXIT_MAP when strict and there was one. */
int ckptfs_plan_warnings(const ckpt_plan *p, int strict);

#endif
