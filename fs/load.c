/*
 * Loading: the CHECKPOINT opened (remote.c picks the store) and resolved
 * through the map options; --targets read first. Shared by --dry-run and
 * the mount.
 */
#include "load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/graph.h"
#include "exitcodes.h"
#include "hints.h"

void ckptfs_print_warnings(const ckpt_graph *g)
{
	for (size_t i = 0; i < g->n_warnings; i++)
		fprintf(stderr, "ckptfs: warning: %s\n", g->warnings[i]);
}

int ckptfs_load_targets(struct ckptfs_opts *m)
{
	ckpt_error err = CKPT_ERROR_INIT;
	int rc;

	if (m->targets_path == NULL)
		return 0;
	if (ckpt_graph_sniff(m->targets_path)) {
		ckpt_graph *g;
		rc = ckpt_graph_open(m->targets_path, &m->graph, &g, &err);
		if (rc == 0) {
			ckptfs_print_warnings(g);
			rc = ckpt_graph_take_targets(g, &m->targets, &m->n_targets, &err);
			ckpt_graph_free(g);
		}
	} else {
		rc = ckpt_targets_load_file(m->targets_path, &m->targets, &m->n_targets, &err);
	}
	if (rc)
		return ckptfs_fail(rc, &err);
	m->have_targets = 1;
	return 0;
}

static const ckpt_piece *piece_of(void *ctx, size_t tensor, size_t piece)
{
	return ckpt_reader_piece(ctx, tensor, piece);
}

int ckptfs_load(const char *path, const struct ckptfs_opts *m, struct ckptfs_loaded *l)
{
	ckpt_error err = CKPT_ERROR_INIT;
	memset(l, 0, sizeof(*l));
	int rc = ckptfs_open_reader(path, m, &l->r, &l->store, &err);
	if (rc)
		return ckptfs_fail(rc, &err);
	ckptfs_print_reader_notes(l->r);
	size_t n = ckpt_reader_count(l->r);
	l->tensors = malloc((n ? n : 1) * sizeof(*l->tensors));
	if (l->tensors == NULL) {
		ckptfs_unload(l);
		return CKPTFS_EXIT_SOFTWARE;
	}
	for (size_t i = 0; i < n; i++)
		l->tensors[i] = *ckpt_reader_tensor(l->r, i);
	ckpt_resolve_opts o = CKPT_RESOLVE_OPTS_INIT;
	o.entries = m->entries;
	o.n_entries = m->n_entries;
	o.targets = m->have_targets ? m->targets : NULL;
	o.n_targets = m->n_targets;
	o.casts = m->casts;
	o.n_casts = m->n_casts;
	o.strict = m->strict;
	o.names_key = m->names_key;
	o.perms = m->perms;
	o.n_perms = m->n_perms;
	/* no map and no targets: "show this checkpoint", every tensor as it
	 * is; TF's {'/': '/'} rule only runs when a map or targets are given */
	o.as_is = m->n_entries == 0 && !m->have_targets;
	o.ckpt_path = path;
	o.piece = piece_of;
	o.piece_ctx = l->r;
	rc = ckpt_resolve(&o, l->tensors, n, &l->plan, &err);
	if (rc) {
		ckptfs_print_error(err.msg);
		ckptfs_unload(l);
		return ckptfs_map_exit_code(rc);
	}
	if ((rc = ckptfs_plan_warnings(l->plan, m->strict)) != 0) {
		ckptfs_unload(l);
		return rc;
	}
	return 0;
}

void ckptfs_unload(struct ckptfs_loaded *l)
{
	ckpt_plan_free(l->plan);
	free(l->tensors);
	ckpt_reader_close(l->r);
	ckpt_store_free(l->store);
	memset(l, 0, sizeof(*l));
}
