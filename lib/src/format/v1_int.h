/* Internal: the V1 loader (v1.c). */
#ifndef CKPT_V1_INT_H
#define CKPT_V1_INT_H

#include "format/table_int.h"

/* Fill r's tensor table from the V1: the table files of SavedTensorSlices (spec/v1.md), reading
 * through r->store. */
int ckpt__reader_load_v1(ckpt_reader *r, ckpt_error *err);

#endif
