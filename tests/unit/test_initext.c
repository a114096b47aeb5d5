/*
 * fs/initext.c: the INIT reply asks for FUSE_DIRECT_IO_ALLOW_MMAP (bit 36)
 * exactly when the kernel offered it and the filesystem wants it, and
 * every other byte of every message is left as libfuse wrote it.
 */
#include <check.h>
#include <linux/fuse.h>
#include <string.h>

#include "initext.h"
#include "testutil.h"

/* An INIT request as the kernel sends it. */
static size_t init_request(unsigned char *buf, uint64_t unique, uint32_t flags, uint32_t flags2)
{
	struct fuse_in_header h = {.opcode = FUSE_INIT, .unique = unique};
	struct fuse_init_in in = {.major = 7, .minor = 38, .flags = flags, .flags2 = flags2};
	h.len = (uint32_t)(sizeof(h) + sizeof(in));
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), &in, sizeof(in));
	return sizeof(h) + sizeof(in);
}

/* Patch a reply (header + init_out, as libfuse writes it); its flags2. */
static int reply(uint64_t unique, uint32_t flags, uint32_t *flags2)
{
	struct fuse_out_header h = {.unique = unique};
	struct fuse_init_out out = {.major = 7, .minor = 38, .flags = flags, .max_write = 4096};
	struct fuse_init_out before = out, copy;
	h.len = (uint32_t)(sizeof(h) + sizeof(out));
	struct iovec iov[2] = {{&h, sizeof(h)}, {&out, sizeof(out)}};
	int patched = ckptfs_initext_patch_reply(iov, 2, &copy);
	ck_assert_int_eq(memcmp(&out, &before, sizeof(out)), 0); /* libfuse's own untouched */
	const struct fuse_init_out *sent = iov[1].iov_base;
	ck_assert_ptr_eq(iov[0].iov_base, &h);
	ck_assert_uint_eq(iov[1].iov_len, sizeof(out));
	/* nothing but flags2 differs */
	struct fuse_init_out cmp = *sent;
	cmp.flags2 = before.flags2;
	ck_assert_int_eq(memcmp(&cmp, &before, sizeof(cmp)), 0);
	*flags2 = sent->flags2;
	return patched;
}

START_TEST(test_allow_mmap_when_offered_and_wanted)
{
	unsigned char buf[256];
	uint32_t f2;
	/* not an INIT: ignored */
	struct fuse_in_header other = {.opcode = FUSE_READ, .unique = 3, .len = 80};
	memset(buf, 0, sizeof(buf));
	memcpy(buf, &other, sizeof(other));
	ck_assert_int_eq(ckptfs_initext_note_request(buf, 80), 0);
	ck_assert_int_eq(ckptfs_initext_note_request(buf, 10), 0);

	/* offered, not (yet) wanted: the reply goes as it is */
	size_t n = init_request(buf, 5, FUSE_INIT_EXT, CKPTFS_DIRECT_IO_ALLOW_MMAP2);
	ck_assert_int_eq(ckptfs_initext_note_request(buf, n), 1);
	ck_assert_int_eq(ckptfs_initext_offered(), 1);
	ck_assert_int_eq(reply(5, FUSE_INIT_EXT, &f2), 0);
	ck_assert_uint_eq(f2, 0);

	/* offered and wanted: set in the INIT reply, and only in it */
	ckptfs_initext_want();
	n = init_request(buf, 9, FUSE_INIT_EXT | FUSE_ASYNC_READ, CKPTFS_DIRECT_IO_ALLOW_MMAP2);
	ck_assert_int_eq(ckptfs_initext_note_request(buf, n), 1);
	ck_assert_int_eq(reply(8, FUSE_INIT_EXT, &f2), 0); /* another request's reply */
	ck_assert_int_eq(reply(9, FUSE_INIT_EXT, &f2), 1);
	ck_assert_uint_eq(f2, CKPTFS_DIRECT_IO_ALLOW_MMAP2);
	ck_assert_int_eq(reply(9, FUSE_INIT_EXT, &f2), 0); /* once */

	/* a reply without FUSE_INIT_EXT cannot carry flags2 */
	n = init_request(buf, 11, FUSE_INIT_EXT, CKPTFS_DIRECT_IO_ALLOW_MMAP2);
	ckptfs_initext_note_request(buf, n);
	ck_assert_int_eq(reply(11, 0, &f2), 0);

	/* a kernel that does not offer it (< 6.6, or no flags2 at all) */
	n = init_request(buf, 13, FUSE_INIT_EXT, 0);
	ckptfs_initext_note_request(buf, n);
	ck_assert_int_eq(ckptfs_initext_offered(), 0);
	ck_assert_int_eq(reply(13, FUSE_INIT_EXT, &f2), 0);
	n = init_request(buf, 15, 0, CKPTFS_DIRECT_IO_ALLOW_MMAP2);
	ckptfs_initext_note_request(buf, n);
	ck_assert_int_eq(ckptfs_initext_offered(), 0);
	ck_assert_int_eq(reply(15, FUSE_INIT_EXT, &f2), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("initext");
	TCase *tc = tcase_create("init");
	tcase_add_test(tc, test_allow_mmap_when_offered_and_wanted);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
