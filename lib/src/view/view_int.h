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
 * A stored piece's CRC32C put together from ranges checksummed in any
 * order (ckpt__crc32c_combine): the bytes a read brought in anyway (the
 * extent reader folds them in), the helper thread's reads ahead of a
 * reader, and at the check the ranges still missing. Segments are sorted
 * and disjoint; adjacent ones merge, so a reader front to back keeps one.
 */
struct crc_seg {
	uint64_t off, len;
	uint32_t crc;
};

struct piece_sums {
	pthread_mutex_t lock;  /* guards segs, n, cap */
	pthread_mutex_t check; /* one check of the piece at a time */
	uint64_t size;	       /* the piece's bytes */
	struct crc_seg *segs;  /* NULL once the piece is decided */
	size_t n, cap;
};

struct fail_count {
	_Atomic unsigned failed, seen;
};

/* What --verify read knows of a file node (ckpt_view.node_state). */
enum { NODE_UNKNOWN = 0, NODE_GOOD, NODE_BAD, NODE_BAD_TAKEN /* returned by next_failed */ };

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
	/* per stored piece, made on demand: its CRC gathered from the bytes
	 * read anyway (struct piece_sums, verify.c) */
	_Atomic(struct piece_sums *) *sums;
	/* pieces that failed their checksum so far; how many of them a scan
	 * of ckpt_view_next_failed has seen (serve.c) */
	struct fail_count *fails;
	/* --verify read (serve.c), per node: NODE_* and the map of served
	 * units (made at its first read) */
	_Atomic unsigned char *node_state;
	_Atomic(struct cover *) *cover;
	struct ckpt__ahead *ahead; /* the checksum helper thread (ahead.c) */
	struct tf_state *tf;	   /* tf format only (fmt_tf.c) */
	struct st_state *st;	   /* safetensors format only (fmt_safetensors.c) */
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
/* Free what verify_init made (and the sums). */
void ckpt__view_verify_free(ckpt_view *v);
/*
 * The sums of piece p of tensor t, made now when make is set and the
 * piece's CRC is over the bytes read and not decided yet; NULL when there
 * are none (then nothing is gathered for it).
 */
struct piece_sums *ckpt__view_sums(const ckpt_view *v, size_t t, size_t p, int make);
/* From now on, the pieces plan file node id reads whole rows of (so that
 * what it reads of each is one range) gather their CRC from the bytes
 * read; other nodes and pieces: nothing. */
void ckpt__view_gather_crc(const ckpt_view *v, uint32_t id);
/* Bytes [off, off + len) of piece p of tensor t, as read: folded into its
 * sums if it has some (what they lack of the range). */
void ckpt__view_sums_fold(const ckpt_view *v, size_t t, size_t p, uint64_t off, const void *bytes,
			  size_t len);
/* The first range of s not checksummed yet that starts below limit:
 * 1 with [*g0, *g1), else 0 (also once the piece is decided). */
int ckpt__view_sums_gap(struct piece_sums *s, uint64_t limit, uint64_t *g0, uint64_t *g1);
/* Checksum bytes [off, off + len) of range g of piece p of tensor t
 * (reading them into buf): 0, 1 when s had no room for them (not
 * adjacent to what it holds, and full), or the read's error. */
int ckpt__view_sums_fill(const ckpt_view *v, size_t t, size_t p, struct piece_sums *s, uint64_t off,
			 size_t len, void *buf, ckpt_error *err);

/* serve.c: the per-node state of --verify read. */
int ckpt__view_serve_init(ckpt_view *v, ckpt_error *err);
void ckpt__view_serve_free(ckpt_view *v);

/* ahead.c: the helper thread checksumming ahead of sequential readers. */
int ckpt__view_ahead_init(ckpt_view *v, ckpt_error *err);
/* Stops the thread (it finishes at most one step) and frees it. */
void ckpt__view_ahead_free(ckpt_view *v);
/* A reader of a file that is piece p of tensor t is at byte `front` of
 * the piece: checksum it ahead, up to a bound past front. */
void ckpt__view_ahead(const ckpt_view *v, size_t t, size_t p, struct piece_sums *s, uint64_t front);
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
