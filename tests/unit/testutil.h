/* Helpers shared by the Check unit tests: temp dirs, file copies, fixtures. */
#ifndef CKPT_TESTUTIL_H
#define CKPT_TESTUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "ckpt/reader.h"

/* The fixtures folder, or NULL when absent (then tests skip, except under
 * CI=true, where the caller fails). */
const char *tu_fixtures(void);

/* A fresh temporary directory (removed by tu_rmtree). Aborts on failure.
 * Ownership: the caller frees the string. */
char *tu_tmpdir(void);
void tu_rmtree(const char *dir);

/* A per-test temporary directory for Check fixtures:
 * tcase_add_checked_fixture(tc, tu_tmpdir_setup, tu_tmpdir_teardown)
 * creates tu_dir before each test and removes it after. */
extern char *tu_dir;
void tu_tmpdir_setup(void);
void tu_tmpdir_teardown(void);

/* Run ckpt-gen (path gen) on a JSON description, writing prefix; fails
 * the test if the generator fails. */
void tu_run_gen(const char *gen, const char *json_path, const char *prefix);

/* Path join into a static rotating buffer (8 slots). */
const char *tu_path(const char *a, const char *b);

void tu_copy(const char *from, const char *to);
void tu_write(const char *path, const void *data, size_t n);
/* Read a whole file; the caller frees. */
uint8_t *tu_read(const char *path, size_t *n);
void tu_flip(const char *path, long off); /* xor one byte with 0x40 */
void tu_truncate(const char *path, long new_size);

/* ckpt_reader_open, then ckpt_reader_check_data of every tensor: what
 * opening checked before data shards were opened lazily. On failure *r is
 * NULL. Ownership: as ckpt_reader_open. */
int tu_open_checked(ckpt_reader **r, const char *path, ckpt_error *err);

/* A tiny protobuf writer for hand-made messages (graphs, object graphs). */
typedef struct bb {
	uint8_t *p;
	size_t n, cap;
} bb;
void bb_put(bb *b, const void *d, size_t n);
void bb_varint(bb *b, uint64_t v);
void bb_vfield(bb *b, unsigned f, uint64_t v); /* varint field */
void bb_bytes(bb *b, unsigned f, const void *d, size_t n);
void bb_str(bb *b, unsigned f, const char *s);
/* Append inner as field f and free it. */
void bb_msg(bb *b, unsigned f, bb *inner);
/* A copy of r's tensor table (what ckpt_resolve takes), never NULL.
 * Ownership: the caller frees it with free(). */
ckpt_tensor *tu_tensors(const ckpt_reader *r);

/* Run a Check suite, return the process exit status. */
struct Suite;
int tu_run(struct Suite *s);

#endif
