/* Internal: the V2 loader (bundle.c). */
#ifndef CKPT_BUNDLE_INT_H
#define CKPT_BUNDLE_INT_H

#include "format/table_int.h"

/* Fill r's tensor table from the V2: the .index (a table of BundleEntryProto, spec/bundle.md),
 * reading through r->store. */
int ckpt__reader_load_v2(ckpt_reader *r, ckpt_error *err);

#endif
