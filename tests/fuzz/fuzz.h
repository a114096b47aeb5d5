/*
 * Shared by the fuzz targets: the libFuzzer entry point each one defines
 * (built with -fsanitize=fuzzer, or linked with standalone.c to replay a
 * corpus), and the helpers the whole-reader targets share.
 */
#ifndef CKPT_FUZZ_H
#define CKPT_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A per-process scratch directory (created on first use, removed at exit)
 * holding `name`: returns the full path of `name` inside it, valid until
 * the next call. Aborts if the directory cannot be made: a harness that
 * cannot write its input would silently test nothing.
 */
const char *fuzz_scratch_path(const char *name);

/* Write data[0..size) to path (replacing it); aborts on failure. */
void fuzz_write_file(const char *path, const uint8_t *data, size_t size);

/*
 * Open the checkpoint at path and read everything a client could: every
 * piece of every tensor whole (pread + verify), the whole tensor through
 * read_slice when numeric and under 1 MiB, and read_strings for strings.
 * Errors are expected and ignored; only crashes, leaks and sanitizer
 * reports matter.
 */
void fuzz_read_all(const char *path);

#endif
