/* Internal: the view's tree budget and counters, exposed for tests. */
#ifndef CKPT_VIEW_INT_H
#define CKPT_VIEW_INT_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/view.h"

/*
 * The tree of a view (its nodes, the children ranges, the names and the
 * scratch of building it) takes at most TREE_PER_INDEX_BYTE bytes per
 * byte of the checkpoint's index (V1: of its table files) plus
 * TREE_SLACK; a plan whose tree needs more is refused (CKPT_EUNSUPPORTED).
 * A directory costs sizeof(ckpt_node) + 4 bytes + its name + 1, so names
 * of many short components (2 bytes of index each) reach the budget long
 * before they could take the memory they used to (README "Security").
 * NumPy headers (npy format, one per file) are outside the budget.
 */
#define CKPT__VIEW_TREE_PER_INDEX_BYTE 8
#define CKPT__VIEW_TREE_SLACK (1 << 20)

/* Bytes charged to the tree of a built view. */
uint64_t ckpt__view_tree_bytes(const ckpt_view *v);

/* ckpt_view_lookup, adding the names it compared to *probes. */
uint32_t ckpt__view_lookup_probes(const ckpt_view *v, uint32_t dir, const char *name,
				  size_t *probes);

#endif
