/*
 * Checksum state: one byte per stored piece of the reader (PIECE_*), shared
 * by every file of the view that draws from the piece. This is the one
 * place that says what is checked when and what a failure means.
 */
#include "view/view_int.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "format/table_int.h"
#include "util/error_int.h"
#include "util/slice_int.h"

size_t ckpt__view_piece_base(const ckpt_view *v, size_t t)
{
	return ckpt__piece_index(v->r, t);
}

size_t ckpt__view_piece_count(const ckpt_view *v)
{
	return v->r->npieces;
}

void ckpt__view_piece_passed(const ckpt_view *v, size_t t, size_t p)
{
	atomic_store(&v->verified[ckpt__view_piece_base(v, t) + p], PIECE_GOOD);
}

int ckpt__view_verify_init(ckpt_view *v, ckpt_error *err)
{
	size_t np = ckpt__view_piece_count(v);
	if ((v->verified = calloc(np ? np : 1, 1)) == NULL)
		return ckpt__error(err, CKPT_ENOMEM, "out of memory");
	return 0;
}

/*
 * The state of the stored pieces node id draws from (a --format tf data
 * file: those of every tensor it holds): PIECE_BAD when one failed its
 * checksum, else PIECE_UNCHECKED when one is not checked yet, else
 * PIECE_GOOD. With check, unchecked pieces are checked first, stopping at
 * the first failure (*rc and err say what failed). A failed checksum is
 * remembered for the rest of the view's life; any other failure (a data
 * file cut short or unreadable right now, no memory) is not: the piece
 * stays unchecked and is checked again next time.
 */
int ckpt__view_pieces_state(const ckpt_view *v, uint32_t id, int check, int *rc, ckpt_error *err)
{
	const ckpt_node *nd = ckpt_view_node(v, id);
	int worst = PIECE_GOOD;
	if (nd != NULL && nd->file == NULL && v->fmt->verify)
		return v->fmt->verify(v, id, check, rc, err);
	if (nd == NULL || nd->file == NULL)
		return PIECE_GOOD;
	const ckpt_plan_file *f = nd->file;
	const ckpt_tensor *t = ckpt_reader_tensor(v->r, f->source);
	for (size_t p = 0; p < t->num_pieces; p++) {
		const ckpt_piece *pc = ckpt_reader_piece(v->r, f->source, p);
		int64_t is[CKPT_MAX_RANK], il[CKPT_MAX_RANK];
		if (!ckpt__box_intersect(f->rank, pc->start, pc->length, f->start, f->length, is,
					 il))
			continue;
		_Atomic unsigned char *st = &v->verified[ckpt__view_piece_base(v, f->source) + p];
		unsigned char state = atomic_load(st);
		if (state == PIECE_UNCHECKED && check) {
			int r = ckpt_reader_verify_piece(v->r, f->source, p, err);
			if (r == 0 || r == CKPT_ECHECKSUM)
				atomic_store(st, state = r ? PIECE_BAD : PIECE_GOOD);
			if (r) {
				*rc = r;
				return r == CKPT_ECHECKSUM ? PIECE_BAD : PIECE_UNCHECKED;
			}
		}
		if (state == PIECE_BAD) {
			if (check)
				*rc = ckpt__error(err, CKPT_ECHECKSUM,
						  "%s: tensor %s failed its checksum", f->file,
						  f->source_name);
			return PIECE_BAD;
		}
		if (state == PIECE_UNCHECKED)
			worst = PIECE_UNCHECKED;
	}
	return worst;
}

int ckpt__view_files_state(const ckpt_view *v, int check, int *rc, ckpt_error *err)
{
	int worst = PIECE_GOOD;
	for (uint32_t id = 0; id < v->count && worst != PIECE_BAD && !(rc && *rc); id++) {
		if (v->n[id].pub.file == NULL)
			continue;
		int s = ckpt__view_pieces_state(v, id, check, rc, err);
		worst = s == PIECE_GOOD ? worst : s;
	}
	return worst;
}

int ckpt_view_verify(const ckpt_view *v, uint32_t id, ckpt_error *err)
{
	int rc = 0;
	(void)ckpt__view_pieces_state(v, id, 1, &rc, err);
	return rc;
}

int ckpt_view_verified(const ckpt_view *v, uint32_t id)
{
	int s = ckpt__view_pieces_state(v, id, 0, NULL, NULL);
	return s == PIECE_GOOD ? 1 : s == PIECE_BAD ? -1 : 0;
}
