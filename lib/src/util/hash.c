/*
 * SipHash-2-4, per-table keys, and the keyed string map (hash_int.h).
 *
 * SipHash follows the paper's description: four 64-bit words initialised
 * from the key and "somepseudorandomlygeneratedbytes", two rounds per
 * 8-byte little-endian message word, a last word holding the remaining
 * bytes and the length mod 256 in its top byte, then 0xff into v2 and four
 * rounds. The tests check the paper's vectors.
 */
#include "util/hash_int.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "ckpt/error.h"
#include "util/codec_int.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SIPROUND                                                                                   \
	do {                                                                                       \
		v0 += v1;                                                                          \
		v1 = ROTL(v1, 13);                                                                 \
		v1 ^= v0;                                                                          \
		v0 = ROTL(v0, 32);                                                                 \
		v2 += v3;                                                                          \
		v3 = ROTL(v3, 16);                                                                 \
		v3 ^= v2;                                                                          \
		v0 += v3;                                                                          \
		v3 = ROTL(v3, 21);                                                                 \
		v3 ^= v0;                                                                          \
		v2 += v1;                                                                          \
		v1 = ROTL(v1, 17);                                                                 \
		v1 ^= v2;                                                                          \
		v2 = ROTL(v2, 32);                                                                 \
	} while (0)

uint64_t ckpt__siphash(const ckpt__hash_key *k, const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t v0 = k->k0 ^ 0x736f6d6570736575ull;
	uint64_t v1 = k->k1 ^ 0x646f72616e646f6dull;
	uint64_t v2 = k->k0 ^ 0x6c7967656e657261ull;
	uint64_t v3 = k->k1 ^ 0x7465646279746573ull;
	size_t words = len / 8;

	for (size_t i = 0; i < words; i++, p += 8) {
		uint64_t m = ckpt__load_le64(p);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	uint64_t b = (uint64_t)len << 56;
	for (size_t i = 0; i < len % 8; i++)
		b |= (uint64_t)p[i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static pthread_once_t secret_once = PTHREAD_ONCE_INIT;
static ckpt__hash_key secret;
static _Atomic uint64_t key_counter;

/* 16 bytes from the kernel: getrandom() (never blocking), else
 * /dev/urandom; if both fail (no /dev in a chroot of an old kernel), the
 * clock, the pid and addresses ASLR moves: weak, but not a constant. */
static void secret_init(void)
{
	uint8_t b[16];
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, GRND_NONBLOCK);
		if (n <= 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	if (got < sizeof(b)) {
		int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
		got = 0;
		while (fd >= 0 && got < sizeof(b)) {
			ssize_t n = read(fd, b + got, sizeof(b) - got);
			if (n <= 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			got += (size_t)n;
		}
		if (fd >= 0)
			close(fd);
	}
	if (got < sizeof(b)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		uint64_t mix[4] = {(uint64_t)ts.tv_sec, (uint64_t)ts.tv_nsec, (uint64_t)getpid(),
				   (uint64_t)(uintptr_t)&ts ^ (uint64_t)(uintptr_t)&secret};
		ckpt__hash_key k = {(uint64_t)(uintptr_t)&secret_init, (uint64_t)(uintptr_t)b};
		uint64_t h0 = ckpt__siphash(&k, mix, sizeof(mix));
		mix[0] ^= h0;
		uint64_t h1 = ckpt__siphash(&k, mix, sizeof(mix));
		memcpy(b, &h0, 8);
		memcpy(b + 8, &h1, 8);
	}
	secret.k0 = ckpt__load_le64(b);
	secret.k1 = ckpt__load_le64(b + 8);
}

void ckpt__hash_key_new(ckpt__hash_key *k)
{
	pthread_once(&secret_once, secret_init);
	uint64_t in[2] = {atomic_fetch_add(&key_counter, 1), 0};
	k->k0 = ckpt__siphash(&secret, in, sizeof(in));
	in[1] = 1;
	k->k1 = ckpt__siphash(&secret, in, sizeof(in));
}

static size_t slot_of(ckpt__strmap *m, const char *key)
{
	size_t i = (size_t)ckpt__siphash(&m->key, key, strlen(key)) & (m->cap - 1);
	while (m->keys[i] && strcmp(m->keys[i], key) != 0) {
		m->probes++;
		i = (i + 1) & (m->cap - 1);
	}
	return i;
}

static int grow(ckpt__strmap *m)
{
	ckpt__strmap nm = {.key = m->key, .probes = m->probes};
	nm.cap = m->cap ? m->cap * 2 : 64;
	if (m->cap == 0)
		ckpt__hash_key_new(&nm.key);
	if (nm.cap > SIZE_MAX / sizeof(size_t))
		return CKPT_ENOMEM;
	nm.keys = calloc(nm.cap, sizeof(*nm.keys));
	nm.vals = calloc(nm.cap, sizeof(*nm.vals));
	if (nm.keys == NULL || nm.vals == NULL) {
		free(nm.keys);
		free(nm.vals);
		return CKPT_ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (m->keys[i] == NULL)
			continue;
		size_t j = slot_of(&nm, m->keys[i]);
		nm.keys[j] = m->keys[i];
		nm.vals[j] = m->vals[i];
	}
	nm.n = m->n;
	free(m->keys);
	free(m->vals);
	*m = nm;
	return 0;
}

int ckpt__strmap_put(ckpt__strmap *m, const char *key, size_t val)
{
	if ((m->n + 1) * 2 > m->cap && grow(m) != 0)
		return CKPT_ENOMEM;
	size_t i = slot_of(m, key);
	if (m->keys[i] == NULL)
		m->n++;
	m->keys[i] = key;
	m->vals[i] = val;
	return 0;
}

int ckpt__strmap_get(ckpt__strmap *m, const char *key, size_t *val)
{
	if (m->cap == 0)
		return 0;
	size_t i = slot_of(m, key);
	if (m->keys[i] == NULL)
		return 0;
	*val = m->vals[i];
	return 1;
}

void ckpt__strmap_free(ckpt__strmap *m)
{
	free(m->keys);
	free(m->vals);
	m->keys = NULL;
	m->vals = NULL;
	m->cap = m->n = 0;
}
