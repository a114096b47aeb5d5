#include "testutil.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

const char *tu_fixtures(void)
{
	const char *d = getenv("CKPT_FIXTURES");
	struct stat st;
	if (d && stat(d, &st) == 0 && S_ISDIR(st.st_mode))
		return d;
	if (getenv("CI") && strcmp(getenv("CI"), "true") == 0) {
		fprintf(stderr, "fixtures folder missing under CI\n");
		abort();
	}
	return NULL;
}

char *tu_tmpdir(void)
{
	char tmpl[] = "/tmp/ckpt-test-XXXXXX";
	if (mkdtemp(tmpl) == NULL)
		abort();
	return strdup(tmpl);
}

void tu_rmtree(const char *dir)
{
	char cmd[4200];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
}

char *tu_dir;

void tu_tmpdir_setup(void)
{
	tu_dir = tu_tmpdir();
}

void tu_tmpdir_teardown(void)
{
	tu_rmtree(tu_dir);
	free(tu_dir);
	tu_dir = NULL;
}

void tu_run_gen(const char *gen, const char *json_path, const char *prefix)
{
	char cmd[12288];
	snprintf(cmd, sizeof(cmd), "'%s' '%s' '%s'", gen, json_path, prefix);
	int st = system(cmd);
	ck_assert_msg(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s failed", cmd);
}

const char *tu_path(const char *a, const char *b)
{
	static char slots[8][4096];
	static int next;
	char *s = slots[next++ % 8];
	snprintf(s, 4096, "%s/%s", a, b);
	return s;
}

uint8_t *tu_read(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	long len = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *buf = malloc(len > 0 ? (size_t)len : 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_eq(fread(buf, 1, (size_t)len, f), (size_t)len);
	fclose(f);
	*n = (size_t)len;
	return buf;
}

void tu_write(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	ck_assert_msg(f != NULL, "cannot create %s", path);
	ck_assert_uint_eq(fwrite(data, 1, n, f), n);
	ck_assert_int_eq(fclose(f), 0);
}

void tu_copy(const char *from, const char *to)
{
	size_t n;
	uint8_t *b = tu_read(from, &n);
	tu_write(to, b, n);
	free(b);
}

void tu_flip(const char *path, long off)
{
	size_t n;
	uint8_t *b = tu_read(path, &n);
	ck_assert((size_t)off < n);
	b[off] ^= 0x40;
	tu_write(path, b, n);
	free(b);
}

void tu_truncate(const char *path, long new_size)
{
	ck_assert_int_eq(truncate(path, new_size), 0);
}

int tu_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

int tu_open_checked(ckpt_reader **r, const char *path, ckpt_error *err)
{
	int rc = ckpt_reader_open(r, path, err);
	if (rc == 0 && (rc = ckpt_reader_check_data(*r, NULL, 0, err)) != 0) {
		ckpt_reader_close(*r);
		*r = NULL;
	}
	return rc;
}

void bb_put(bb *b, const void *d, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2 + 64;
		b->p = realloc(b->p, b->cap);
		ck_assert_ptr_nonnull(b->p);
	}
	if (n)
		memcpy(b->p + b->n, d, n);
	b->n += n;
}

void bb_varint(bb *b, uint64_t v)
{
	uint8_t x;
	do {
		x = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			x |= 0x80;
		bb_put(b, &x, 1);
	} while (v);
}

void bb_vfield(bb *b, unsigned f, uint64_t v)
{
	bb_varint(b, (uint64_t)f << 3);
	bb_varint(b, v);
}

void bb_bytes(bb *b, unsigned f, const void *d, size_t n)
{
	bb_varint(b, (uint64_t)f << 3 | 2);
	bb_varint(b, n);
	bb_put(b, d, n);
}

void bb_str(bb *b, unsigned f, const char *s)
{
	bb_bytes(b, f, s, strlen(s));
}

void bb_msg(bb *b, unsigned f, bb *inner)
{
	bb_bytes(b, f, inner->p, inner->n);
	free(inner->p);
	memset(inner, 0, sizeof(*inner));
}

ckpt_tensor *tu_tensors(const ckpt_reader *r)
{
	size_t n = ckpt_reader_count(r);
	ckpt_tensor *t = malloc((n ? n : 1) * sizeof(*t));
	if (t == NULL)
		abort();
	for (size_t i = 0; i < n; i++)
		t[i] = *ckpt_reader_tensor(r, i);
	return t;
}
