#include "util/slice_int.h"

#include <stdio.h>
#include <string.h>

#include "ckpt/dtype.h"

uint64_t ckpt__box_intersect(int rank, const int64_t *a_start, const int64_t *a_len,
			     const int64_t *b_start, const int64_t *b_len, int64_t *out_start,
			     int64_t *out_len)
{
	uint64_t n = 1;

	for (int d = 0; d < rank; d++) {
		int64_t s = a_start[d] > b_start[d] ? a_start[d] : b_start[d];
		int64_t ae = a_start[d] + a_len[d], be = b_start[d] + b_len[d];
		int64_t e = ae < be ? ae : be;
		if (e <= s)
			return 0;
		out_start[d] = s;
		out_len[d] = e - s;
		n *= (uint64_t)(e - s);
	}
	return n;
}

/* Row-major offset (in elements) of index idx inside box (bstart, blen). */
static uint64_t offset_in(int rank, const int64_t *idx, const int64_t *bstart, const int64_t *blen)
{
	uint64_t off = 0;
	for (int d = 0; d < rank; d++)
		off = off * (uint64_t)blen[d] + (uint64_t)(idx[d] - bstart[d]);
	return off;
}

void ckpt__box_copy(int rank, size_t esize, const int64_t *start, const int64_t *len,
		    const void *src, const int64_t *src_start, const int64_t *src_len, void *dst,
		    const int64_t *dst_start, const int64_t *dst_len)
{
	if (rank == 0) {
		memcpy(dst, src, esize);
		return;
	}
	int64_t idx[CKPT_MAX_RANK];
	size_t run = (size_t)len[rank - 1] * esize;
	memcpy(idx, start, (size_t)rank * sizeof(*idx));
	for (;;) {
		uint64_t so = offset_in(rank, idx, src_start, src_len);
		uint64_t dof = offset_in(rank, idx, dst_start, dst_len);
		memcpy((char *)dst + dof * esize, (const char *)src + so * esize, run);
		int d = rank - 2;
		while (d >= 0) {
			if (++idx[d] < start[d] + len[d])
				break;
			idx[d] = start[d];
			d--;
		}
		if (d < 0)
			return;
	}
}

void ckpt__slice_text(char *out, size_t n, int rank, const int64_t *dims, const int64_t *start,
		      const int64_t *len)
{
	size_t used = 0;

	if (n == 0)
		return;
	out[0] = '\0';
	for (int d = 0; dims && d < rank && used < n; d++)
		used += (size_t)snprintf(out + used, n - used, "%lld ", (long long)dims[d]);
	for (int d = 0; d < rank && used < n; d++)
		used += (size_t)snprintf(out + used, n - used, "%s%lld,%lld", d ? ":" : "",
					 (long long)start[d], (long long)len[d]);
}
