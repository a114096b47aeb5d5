/*
 * "Did you mean": the names closest to a misspelt key by edit distance
 * (Levenshtein, bytes), for the resolver's warnings and error hints.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/resolve.h"
#include "map/resolve_int.h"

/* Longer names are compared by their first SUGGEST_MAX_LEN bytes only,
 * which bounds the work per name. */
#define SUGGEST_MAX_LEN 256

size_t ckpt_edit_distance(const char *a, size_t la, const char *b, size_t lb, size_t limit)
{
	size_t row[SUGGEST_MAX_LEN + 1];

	if (la > SUGGEST_MAX_LEN)
		la = SUGGEST_MAX_LEN;
	if (lb > SUGGEST_MAX_LEN)
		lb = SUGGEST_MAX_LEN;
	if ((la > lb ? la - lb : lb - la) >= limit)
		return limit;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0], least = i;
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
			if (best < least)
				least = best;
		}
		if (least >= limit)
			return limit;
	}
	return row[lb];
}

/* The first `depth` '/'-ended components of s (with the last '/'), or 0
 * when s has fewer. */
static size_t scope_len(const char *s, size_t depth)
{
	size_t len = 0;
	for (size_t d = 0; d < depth; d++) {
		const char *slash = strchr(s + len, '/');
		if (slash == NULL)
			return 0;
		len = (size_t)(slash - s) + 1;
	}
	return len;
}

size_t ckpt__suggest(const char *key, const char *(*name_at)(const void *ctx, size_t i),
		     const void *ctx, size_t n, ckpt__suggestion out[CKPT__SUGGEST_MAX])
{
	size_t klen = strlen(key), depth = 0, found = 0, dist[CKPT__SUGGEST_MAX];
	int scope = klen > 0 && key[klen - 1] == '/';

	for (size_t k = 0; scope && k < klen; k++)
		depth += key[k] == '/';
	for (size_t i = 0; i < n; i++) {
		const char *name = name_at(ctx, i);
		size_t len = scope ? scope_len(name, depth) : strlen(name);
		if (len == 0)
			continue;
		int dup = 0;
		for (size_t f = 0; f < found && !dup; f++)
			dup =
			    out[f].len == len && memcmp(name_at(ctx, out[f].index), name, len) == 0;
		if (dup)
			continue;
		/* a candidate must beat the worst kept one (ties: first wins) */
		size_t limit = found == CKPT__SUGGEST_MAX ? dist[found - 1] : SIZE_MAX;
		size_t d = ckpt_edit_distance(key, klen, name, len, limit);
		if (d >= limit)
			continue;
		size_t at = found;
		while (at > 0 && dist[at - 1] > d)
			at--;
		if (at >= CKPT__SUGGEST_MAX)
			continue;
		size_t last = found < CKPT__SUGGEST_MAX ? found : CKPT__SUGGEST_MAX - 1;
		memmove(&out[at + 1], &out[at], (last - at) * sizeof(*out));
		memmove(&dist[at + 1], &dist[at], (last - at) * sizeof(*dist));
		out[at].index = i;
		out[at].len = len;
		dist[at] = d;
		if (found < CKPT__SUGGEST_MAX)
			found++;
	}
	return found;
}
