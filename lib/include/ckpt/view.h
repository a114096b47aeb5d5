/*
 * ckpt/view.h - the tree inside the mount and the bytes of every file.
 *
 * Built once from a reader and a resolved plan (ckpt/resolve.h). Nodes are
 * numbered 0..count-1; node 0 is the root. A node is a directory or a file
 * whose exact size is known without reading data (except string tensors,
 * whose size is computed from their lengths at build time).
 *
 * Tree rules (DESIGN.md "The tree inside the mount"):
 * - a file's path is its plan file's `path` (escaped, shortened, with
 *   `@value` applied: lib/src/map/paths.c) split at '/'; in npy format a file
 *   is `NAME.npy` beside the directory `NAME` instead of `NAME/@value`;
 * - a name that is both a file and a directory (TF1's `dense/kernel` beside
 *   `dense/kernel/Adam`) becomes a directory holding the file as `@value`;
 * - names ckptfs invents start with '@' (`@value`, `@mapping.json`); a real
 *   component that is empty, `.`, `..`, or starts with '@' is shown as
 *   `@=` followed by the component (reversible: strip `@=`);
 * - a component whose shown name would be longer than 255 bytes (NAME_MAX;
 *   with `.npy` in npy format) is shortened to `@#` + 16 lowercase hex
 *   digits of the FNV-1a 64 hash of the real component + `~` + its first
 *   200 bytes (cut at a UTF-8 boundary); the file's user.ckpt.source and
 *   @mapping.json keep the full name;
 * - `@mapping.json` at the root holds the plan as JSON, each file's "path"
 *   and "size" as the view shows it (npy: NAME.npy with its header);
 * - in an object-based (TF2) checkpoint the plan's paths are the readable
 *   ones (ckpt_plan.tf2_names), and `@object_graph.json` at the root holds
 *   its object graph as JSON, read whole and checked (CRC, structure)
 *   while the view is built: an invalid one fails the build
 *   (CKPT_ECORRUPT, CKPT_EUNSUPPORTED, CKPT_ECHECKSUM).
 *
 * File bytes: little-endian, row-major, the target dtype; a scalar string is
 * its raw bytes; a string tensor of rank >= 1 is each element as a uint64
 * little-endian length followed by its bytes.
 *
 * Thread-safety: the tree is immutable after build; reads, checks and the
 * --verify read calls (below) may run from many threads, and keep their
 * state behind atomics and locks of the view's own.
 */
#ifndef CKPT_VIEW_H
#define CKPT_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/error.h"
#include "ckpt/reader.h"
#include "ckpt/resolve.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ckpt_view ckpt_view;

#define CKPT_VIEW_ROOT 0u
#define CKPT_VIEW_NONE UINT32_MAX

typedef struct ckpt_node {
	const char *name; /* component ("" for the root); borrowed */
	uint32_t parent;  /* CKPT_VIEW_NONE for the root */
	int is_dir;
	uint64_t size;		    /* bytes, files only */
	const ckpt_plan_file *file; /* plan entry, NULL for dirs and @mapping.json */
	uint32_t first_child;	    /* directories: children are
				     * children[first_child .. first_child+n_children) */
	uint32_t n_children;
} ckpt_node;

/*
 * Build the tree for plan over r (the "raw" format). Both must outlive the view.
 * The tree (nodes, names, children lists) may take at most 8 bytes per
 * byte of r's index (V1: table files) plus 1 MiB; a plan that needs more
 * fails with CKPT_EUNSUPPORTED before passing that.
 * Ownership: the caller frees *out with ckpt_view_free().
 */
int ckpt_view_build(ckpt_view **out, const ckpt_reader *r, const ckpt_plan *plan, ckpt_error *err);

/*
 * Output formats, by name:
 * - "raw": each file is its tensor's bytes (above).
 * - "npy": each file is NAME.npy: an NPY 1.0 header, then the data, so
 *   that numpy.load gives dtype and shape. bfloat16 (which NumPy lacks) is
 *   '<u2' holding the 16-bit patterns; a string tensor is fixed-width
 *   bytes '|S<longest>' (shorter elements padded with NUL bytes, so
 *   trailing NULs of an element are lost; an all-empty tensor is '|S1').
 * - "tf": the root holds one TensorFlow V2 checkpoint, `ckpt.index` and
 *   `ckpt.data-00000-of-00001`, the `checkpoint` state file naming it
 *   (`model_checkpoint_path: "ckpt"`, `all_model_checkpoint_paths:
 *   "ckpt"`) and @mapping.json (each plan file's run of the data file,
 *   with its "offset"), with the plan's
 *   target variables under their target names, in the target dtype: byte
 *   for byte what ckpt_writer (= TF's BundleWriter) writes when the plan
 *   files are added in plan order (variables by name, parts in order) the
 *   way TF1's Saver adds them; a part becomes a slice of its variable with
 *   explicit extents. The data file is the plan files' bytes served from
 *   the source (strings in TF's stored encoding). The index is built at
 *   view build and needs every tensor's CRC32C, so building this view
 *   reads all mapped data once, and checks every source piece it reads
 *   against its stored CRC32C while doing so (pieces it cannot check from
 *   those bytes are read again): a corrupt source fails the build with
 *   CKPT_ECHECKSUM naming the tensor.
 */

/*
 * - "safetensors": the root holds one file, `model.safetensors` (plus
 *   @mapping.json), in the safetensors format (spec/safetensors.md): an
 *   8-byte little-endian header length N, N bytes of JSON (UTF-8, padded
 *   with spaces so that the data starts at a multiple of 8)
 *   `{"__metadata__": {...}, KEY: {"dtype", "shape", "data_offsets":
 *   [begin, end]}, ...}`, then every plan file's bytes back to back, ordered
 *   as the reference writer orders them (dtype alignment, largest first,
 *   then key bytewise), so every tensor starts at a multiple of its element
 *   size. A plan file's key is its name (`file`: a part is NAME/part_<i>),
 *   with '/' written as opts.key_sep. Nothing is read at build: the header
 *   comes from the plan, and reads of the data go to the plan files' bytes
 *   as in the raw format (zero-copy where they pass unchanged). Refused
 *   (CKPT_EINVAL, naming the target): a dtype safetensors has no name for
 *   (string, variant, resource, complex, quantized: the message says which
 *   --cast helps), two keys that are equal, a key `__metadata__`, and a
 *   header over 100,000,000 bytes (what the reference reader accepts).
 *   Names and metadata are written as JSON strings (escaped); names that are
 *   not UTF-8 are refused, as for @mapping.json. In @mapping.json each file's
 *   `path` is `model.safetensors`, `offset` and `size` its run there, and
 *   it adds `key` and `data_offsets` (the header's, from the data start).
 */

/* The files of a "tf" view: the checkpoint CKPT_VIEW_TF_PREFIX, and the
 * `checkpoint` state file naming it (a copy of the root is a checkpoint
 * directory, as tf.train.latest_checkpoint reads one). */
#define CKPT_VIEW_TF_PREFIX "ckpt"
#define CKPT_VIEW_TF_INDEX CKPT_VIEW_TF_PREFIX ".index"
#define CKPT_VIEW_TF_DATA CKPT_VIEW_TF_PREFIX ".data-00000-of-00001"
#define CKPT_VIEW_TF_STATE "checkpoint"
/* The file of a "safetensors" view. */
#define CKPT_VIEW_SAFETENSORS "model.safetensors"

/* How to build a view (ckpt_view_build_opts). */
typedef struct ckpt_view_opts {
	const char *format; /* "raw", "npy", "tf", "safetensors" */
	/* safetensors: written for every '/' of a name in its key; '\0' or
	 * '/': names as they are ('.': PyTorch state_dict style) */
	char key_sep;
	/* safetensors: the header's "__metadata__" (string to string), as
	 * pairs key, value, ..., then NULL; written in this order; NULL: none.
	 * Read during the build only. */
	const char *const *metadata;
} ckpt_view_opts;

#define CKPT_VIEW_OPTS_INIT                                                                        \
	{                                                                                          \
		"raw", '\0', NULL                                                                  \
	}

/* As ckpt_view_build, in the format called `format` ("raw", "npy", "tf",
 * "safetensors");
 * another name fails with CKPT_EINVAL listing the known ones. */
int ckpt_view_build_format(ckpt_view **out, const ckpt_reader *r, const ckpt_plan *plan,
			   const char *format, ckpt_error *err);
/* As ckpt_view_build_format, with the options of *o. */
int ckpt_view_build_opts(ckpt_view **out, const ckpt_reader *r, const ckpt_plan *plan,
			 const ckpt_view_opts *o, ckpt_error *err);
/* Name of format k (0 is "raw", the default), NULL past the last. */
const char *ckpt_view_format_name(size_t k);
void ckpt_view_free(ckpt_view *v);

size_t ckpt_view_count(const ckpt_view *v);
const ckpt_node *ckpt_view_node(const ckpt_view *v, uint32_t id);
/* Child k (sorted by name) of directory dir. */
uint32_t ckpt_view_child(const ckpt_view *v, uint32_t dir, uint32_t k);
/* The child of dir called name, or CKPT_VIEW_NONE. */
uint32_t ckpt_view_lookup(const ckpt_view *v, uint32_t dir, const char *name);
/* Node id of a '/'-separated path below the root (escaped names), or NONE. */
uint32_t ckpt_view_resolve_path(const ckpt_view *v, const char *path);

/*
 * Read up to len bytes at off of file node id into buf; *got is set to the
 * count (short only at end of file). Reads only the source bytes the range
 * needs, converting on the fly. No checksum check (ckpt_view_verify).
 */
int ckpt_view_read(const ckpt_view *v, uint32_t id, uint64_t off, void *buf, size_t len,
		   size_t *got, ckpt_error *err);

/*
 * Zero-copy (the splice hook): if bytes [off, off+len) of file node id
 * are, unchanged, one run of a data file with a local descriptor, return 1
 * with *fd and *fd_off set and the descriptor pinned (never closed nor
 * reused) until ckpt_object_splice_release(*pin); else 0 (then use
 * ckpt_view_read). A file qualifies when it is a whole stored piece in its
 * stored dtype (the raw format, or npy past its header). len must not run
 * past the end of the file.
 */
int ckpt_view_map(const ckpt_view *v, uint32_t id, uint64_t off, size_t len, int *fd,
		  uint64_t *fd_off, ckpt_object **pin);

/*
 * Verify the CRC32C of every stored piece file node id draws from. Each
 * piece is checked once per view (results cached, thread-safe): a piece
 * that failed its checksum fails every later call (a file of another node
 * drawing from it too); a piece that could not be read (a data file cut
 * short or unreadable right now, no memory) fails this call only and is
 * checked again by the next.
 */
int ckpt_view_verify(const ckpt_view *v, uint32_t id, ckpt_error *err);

/*
 * What earlier checks found for node id, reading nothing: 1 when every
 * stored piece it draws from passed its checksum (or it draws from none:
 * directories, @mapping.json, ckpt.index), -1 when one failed it, else 0.
 */
int ckpt_view_verified(const ckpt_view *v, uint32_t id);

/*
 * --verify read, for a server of the view's files (ckptfs's FUSE ops): no
 * reader gets a file whole unless the stored pieces it draws from passed
 * their CRC32C, in any order of reads, even through a cache in front of
 * the server that answers reads, mmaps and other handles by itself (the
 * kernel's page cache keeps every page it was served). Each file keeps a
 * map of the units it has ever served (4 KiB; a file over 128 MiB in
 * larger ones, a unit counting once any of it was served); once every
 * unit has been served, no reply may go out before the file's pieces
 * passed. A failed check fails that reply; from then on every open and
 * reply of every file drawing from a failed piece fails. A check that
 * cannot read its data (a shard cut short under the mount) fails that
 * reply only and is made again next time.
 *
 * The check does not cost a reader reading a file in sequence: from its
 * first half MiB on, the file's pieces gather their CRC from the bytes
 * read for it (as ckpt_view_read reads them), and a file that is a whole
 * piece in a local file (whose replies may be spliced, never read here)
 * gets a helper thread of the view's reading the piece up to 64 MiB ahead
 * of the reader (one thread per view, a 1 MiB buffer, at most 8 pieces at
 * once; ckpt_view_free stops it, waiting for at most one 1 MiB read). Over
 * a network nothing is read ahead: the reader's own bytes give the CRC,
 * so each byte is fetched about once.
 *
 * Thread-safety: all three are safe from many threads at once.
 */

/* Before opening file node id: 0, or CKPT_ECHECKSUM (err says which
 * tensor) once a piece it draws from failed its checksum. */
int ckpt_view_may_open(const ckpt_view *v, uint32_t id, ckpt_error *err);

/*
 * Before a reply holding bytes [off, off + len) of file node id (read
 * already, with ckpt_view_read or spliced through ckpt_view_map): notes
 * them as served, and returns 0 when the reply may go out. Else
 * CKPT_ECHECKSUM (this check, or an earlier one of a piece the file draws
 * from, failed), or the error of a check that could not read (err says
 * which): then the reply must not go out.
 */
int ckpt_view_may_serve(const ckpt_view *v, uint32_t id, uint64_t off, size_t len, ckpt_error *err);

/*
 * Files whose sources failed their checksum, for dropping what caches hold
 * of them: the first such node id >= from not returned before, each one
 * once over the view's life; CKPT_VIEW_NONE when none is left. Walk it
 * from 0 after ckpt_view_may_open or ckpt_view_may_serve returned
 * CKPT_ECHECKSUM (a walk from 0 costs nothing when no piece failed since
 * the last full walk).
 */
uint32_t ckpt_view_next_failed(const ckpt_view *v, uint32_t from);

#ifdef __cplusplus
}
#endif
#endif
