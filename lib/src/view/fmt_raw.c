/* --format raw: each file is the tensor's bytes (view.h). */
#include "view/view_int.h"

static int raw_read(const ckpt_view *v, uint32_t id, uint64_t off, void *buf, size_t len,
		    size_t *got, ckpt_error *err)
{
	return ckpt__view_read_file(v, id, NULL, off, buf, len, got, err);
}

static int raw_map(const ckpt_view *v, uint32_t id, uint64_t off, size_t len, int *fd,
		   uint64_t *fd_off, ckpt_object **pin)
{
	return ckpt__view_map_file(v, id, 0, off, len, fd, fd_off, pin);
}

const struct ckpt__view_format ckpt__view_fmt_raw = {
    .name = "raw",
    .read = raw_read,
    .splice_map = raw_map,
};
