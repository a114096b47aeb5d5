/*
 * Fuzz target: the input is PREFIX.index of a V2 bundle whose only data
 * shard is a fixed 4 KiB file; the whole reader runs over it (open, read
 * and verify every piece, read_slice / read_strings every tensor).
 *
 * The shard holds a valid string tensor of two elements ("ab", "cde") at
 * offset 0 (11 bytes), then the byte pattern (i % 251) up to 4096 bytes.
 * scripts/gen-fuzz-corpus.py writes seed indexes that point into it.
 */
#include "fuzz.h"

#include <stdio.h>
#include <string.h>

#include "util/codec_int.h"
#include "util/crc32c_int.h"

#define DATA_SIZE 4096

static void make_shard(uint8_t *d)
{
	static const uint8_t strs[] = {2, 3, 0, 0, 0, 0, 'a', 'b', 'c', 'd', 'e'};
	uint8_t le[8];
	uint32_t lcrc;

	for (size_t i = 0; i < DATA_SIZE; i++)
		d[i] = (uint8_t)(i % 251);
	memcpy(d, strs, sizeof(strs));
	ckpt__store_le32(le, 2);
	ckpt__store_le32(le + 4, 3);
	lcrc = ckpt__crc32c_extend(0, le, 8);
	ckpt__store_le32(d + 2, ckpt__crc32c_mask(lcrc));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	static char prefix[256];

	if (!ready) {
		uint8_t shard[DATA_SIZE];
		make_shard(shard);
		fuzz_write_file(fuzz_scratch_path("ckpt.data-00000-of-00001"), shard,
				sizeof(shard));
		snprintf(prefix, sizeof(prefix), "%s", fuzz_scratch_path("ckpt"));
		ready = 1;
	}
	fuzz_write_file(fuzz_scratch_path("ckpt.index"), data, size);
	fuzz_read_all(prefix);
	return 0;
}
