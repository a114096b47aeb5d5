/*
 * Internal: the view's data and the functions its parts share.
 *
 * The view is split by job: view.c builds a view and dispatches to its
 * format; tree.c holds the tree (names, escaping, lookup, the budget);
 * extent.c reads a plan file's bytes (gather, permute, convert; strings through the
 * per-tensor cache of parsed offsets, format/strings.c); verify.c keeps
 * the checksum state of every stored piece (the one place that decides
 * what is checked and what a failure means); fmt_raw.c, fmt_npy.c,
 * fmt_tf.c, fmt_safetensors.c are the output formats behind struct
 * ckpt__view_format, and fmt_mapping.c is @mapping.json, which every
 * format has (so is @object_graph.json of an object-based checkpoint,
 * format/objgraph.c).
 */
#ifndef CKPT_VIEW_INT_H
#define CKPT_VIEW_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "ckpt/view.h"
#include "format/strings_int.h"
#include "util/strbuf_int.h"

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

/* Longest directory name in a path (Linux NAME_MAX). */
#define NAME_MAX_VIEW 255

struct ckpt__view_format;

/* A node is its public part only: what a deep name costs per component. */
struct vnode {
	ckpt_node pub;
};

/* Names of directories and of npy files, back to back with their NULs. */
struct name_block {
	struct name_block *next;
	size_t used, cap;
	char data[];
};

/* npy format, per plan file: the header and the string width. */
struct npy_file {
	char *hdr; /* the header (owned), hdr_len bytes */
	size_t hdr_len;
	uint64_t width; /* npy strings: bytes per element */
};

/* What is known of a stored piece's checksum (ckpt_view.verified). */
enum { PIECE_UNCHECKED = 0, PIECE_GOOD = 1, PIECE_BAD = 2 };

/*
 * While --format tf builds its index through its raw view, every stored
 * piece's bytes as they are read, folded into its CRC when they come in
 * order; so a piece read whole, front to back, is checked against its
 * stored CRC from the very bytes the index's CRC is computed over.
 */
struct crc_run {
	uint64_t next; /* bytes folded in; UINT64_MAX once read out of order */
	uint32_t crc;
};

struct ckpt_view {
	const struct ckpt__view_format *fmt; /* the output format (view.c) */
	ckpt_view_opts opts;		     /* as built (metadata: NULL after) */
	const ckpt_reader *r;
	const ckpt_plan *plan;
	struct vnode *n;
	size_t count, cap;
	uint32_t *children;
	struct name_block *names;
	struct npy_file *npy; /* npy format: one per plan file */
	uint32_t *file_node;  /* per plan file: its node (NULL in own_files formats) */
	uint64_t tree_bytes;  /* charged so far ... */
	uint64_t tree_budget; /* ... and the most the tree may take */
	/* @mapping.json (26 MB of JSON for 100,000 files) is never held whole:
	 * on first use its chunks (one per file, plan_print.c) are measured
	 * once; a read formats the chunks it covers, from the mark before it.
	 * state 0 not yet, 1 measured, 2 failed (ENOMEM). */
	uint32_t mapping_id;
	pthread_mutex_t mapping_lock;
	_Atomic int mapping_state;
	const ckpt_plan_file **mapping_order; /* by shown path (NULL: the plan's
					       * order is); set before state 1 */
	uint64_t *mapping_at;		      /* chunk k * MAPPING_MARK starts at mapping_at[k] */
	uint64_t mapping_len;		      /* the JSON's length: where the newline sits */
	/* @object_graph.json of an object-based checkpoint (objgraph NULL
	 * and objgraph_id CKPT_VIEW_NONE for others) */
	uint32_t objgraph_id;
	struct ckpt__objgraph *objgraph;
	/* per stored piece: PIECE_*, at ckpt__view_piece_base(v, t) + p */
	_Atomic unsigned char *verified;
	struct crc_run *runs; /* see struct crc_run; NULL but while building */
	struct tf_state *tf;  /* tf format only (fmt_tf.c) */
	struct st_state *st;  /* safetensors format only (fmt_safetensors.c) */
	/* string tensors' parsed lengths, built on first read (strings.c) */
	ckpt__strings_cache *strings;
	/* blocks of permuted files for sequential readers (extent.c); NULL
	 * when the plan permutes nothing */
	struct perm_cache *pcache;
};

/*
 * An output format (fs/ passes its name to ckpt_view_build_format). Adding
 * one is a fmt_*.c file and a line in the table in view.c. Hooks that may
 * be NULL say so.
 */
struct ckpt__view_format {
	const char *name;
	/* NULL: a file at its plan path (NAME/@value where NAME is also a
	 * directory). Else the file is NAME + suffix beside directory NAME,
	 * named from the variable's own last component. */
	const char *suffix;
	/* String elements are padded to the longest (its size is checked). */
	int pad_strings;
	/* Files of the plan are not nodes of this view (the format makes its
	 * own in build). */
	int own_files;
	/* Before the tree is built (NULL: nothing to do). */
	int (*build)(ckpt_view *v, ckpt_error *err);
	/* Size of plan file node nd, *size measured raw and width the string
	 * width (measure); NULL: as measured. */
	int (*size)(ckpt_view *v, ckpt_node *nd, uint64_t width, ckpt_error *err);
	/* Read of file node id (not @mapping.json); off and len are already
	 * inside the file and len > 0. */
	int (*read)(const ckpt_view *v, uint32_t id, uint64_t off, void *buf, size_t len,
		    size_t *got, ckpt_error *err);
	/* ckpt_view_map of a file node (a plan file's, or with own_files one
	 * the format made); NULL: never zero-copy. */
	int (*splice_map)(const ckpt_view *v, uint32_t id, uint64_t off, size_t len, int *fd,
			  uint64_t *fd_off, ckpt_object **pin);
	/* Piece state (PIECE_*) of a node that is not a plan file, as
	 * ckpt__view_pieces_state; NULL: such nodes draw from no piece. */
	int (*verify)(const ckpt_view *v, uint32_t id, int check, int *rc, ckpt_error *err);
	/* Where plan file f's bytes are shown (@mapping.json's path, offset,
	 * size): *node holds them as the run [*off, *off + *size). NULL: the
	 * plan file's own node, all of it (a header included); a format with
	 * own_files must have it. */
	void (*place)(const ckpt_view *v, const ckpt_plan_file *f, uint32_t *node, uint64_t *off,
		      uint64_t *size);
	/* @mapping.json: add to plan file f's entry, a jansson object (json_t *)
	 * holding the plan's fields (plan_print.c) and where place shows it,
	 * what the format has more (safetensors: key, data_offsets); NULL:
	 * nothing. 0 or a status. */
	int (*mapping_amend)(const ckpt_view *v, const ckpt_plan_file *f, void *obj);
	/* Frees what build made (NULL: nothing). */
	void (*free)(ckpt_view *v);
};

extern const struct ckpt__view_format ckpt__view_fmt_raw, ckpt__view_fmt_npy, ckpt__view_fmt_tf,
    ckpt__view_fmt_safetensors;

/* view.c: the first of n segments laid back to back (segment i ends at
 * end_of(ctx, i), ascending) that ends after byte d; n when none does.
 * A file made of segments (tf's data file, model.safetensors) reads from
 * there on. */
size_t ckpt__view_seg_after(size_t n, uint64_t d, uint64_t (*end_of)(const void *ctx, size_t i),
			    const void *ctx);

/* view.c: the raw view of outer's plan that a format owning its files
 * (tf, safetensors) reads them through; no @object_graph.json (the outer
 * view has it). Ownership: the caller frees *out with ckpt_view_free(). */
int ckpt__view_build_raw(ckpt_view **out, const ckpt_view *outer, ckpt_error *err);

/* tree.c */
int ckpt__view_new_node(ckpt_view *v, uint32_t parent, const char *name, int is_dir, uint32_t *id,
			ckpt_error *err);
uint32_t ckpt__view_add_node(ckpt_view *v, uint32_t parent, const char *name, size_t nlen,
			     int is_dir);
/* Every plan file at its shown path, with the directories it needs. */
int ckpt__view_build_tree(ckpt_view *v, ckpt_error *err);
/* Each directory's children sorted by name; clashes are errors. */
int ckpt__view_link_children(ckpt_view *v, ckpt_error *err);
/* Append node id's path below the root ("a/b.npy") to b. */
void ckpt__view_node_path(const ckpt_view *v, uint32_t id, ckpt_sbuf *b);

/* extent.c */
int ckpt__view_measure(const ckpt_view *v, const ckpt_plan_file *f, uint64_t *size,
		       uint64_t *longest, ckpt_error *err);
/* Bytes [off, off+len) of plan file node id (inside the file, len > 0),
 * after a header h (NULL: none; npy: its header and string width). */
int ckpt__view_read_file(const ckpt_view *v, uint32_t id, const struct npy_file *h, uint64_t off,
			 void *buf, size_t len, size_t *got, ckpt_error *err);
/* A box of a permuted file: src holds it row-major in the source's axis
 * order (file axis d being source axis perm[d], tlen[d] long), dst gets it
 * row-major in the file's order. Elements are es bytes. */
void ckpt__view_permute_copy(uint8_t *dst, const uint8_t *src, int rank, const int64_t *tlen,
			     const int *perm, size_t es);
/* The blocks sequential reads of permuted files are served from: made
 * when the plan has a permuted file, freed with the view. */
int ckpt__view_perm_cache_init(ckpt_view *v, ckpt_error *err);
void ckpt__view_perm_cache_free(ckpt_view *v);
/* ckpt_view_map of plan file node id after a header of hdr_len bytes. */
int ckpt__view_map_file(const ckpt_view *v, uint32_t id, size_t hdr_len, uint64_t off, size_t len,
			int *fd, uint64_t *fd_off, ckpt_object **pin);

/* verify.c: one state byte per stored piece of the reader. Piece p of
 * tensor t is number ckpt__view_piece_base(v, t) + p of
 * ckpt__view_piece_count(v) (the reader's numbering: no table of its own). */
size_t ckpt__view_piece_base(const ckpt_view *v, size_t t);
size_t ckpt__view_piece_count(const ckpt_view *v);
int ckpt__view_verify_init(ckpt_view *v, ckpt_error *err);
/* Piece p of tensor t passed its checksum, checked by the caller from
 * bytes it read anyway (--format tf's build). */
void ckpt__view_piece_passed(const ckpt_view *v, size_t t, size_t p);
/* The state of the stored pieces node id draws from (see verify.c). */
int ckpt__view_pieces_state(const ckpt_view *v, uint32_t id, int check, int *rc, ckpt_error *err);
/* The same over every plan file of v: what a file holding them all draws
 * from (--format tf's data file, model.safetensors, over their raw view);
 * stops at the first failure. */
int ckpt__view_files_state(const ckpt_view *v, int check, int *rc, ckpt_error *err);

/* fmt_mapping.c: @mapping.json */
/* Refuse a plan whose names JSON cannot carry. */
int ckpt__view_mapping_check(const ckpt_view *v, ckpt_error *err);
/* Measure it, once, whichever thread asks first. */
void ckpt__view_mapping_measure(const ckpt_view *v);
int ckpt__view_mapping_read(const ckpt_view *v, uint64_t off, uint8_t *out, size_t len,
			    ckpt_error *err);

#endif
