/*
 * The commands that mount nothing: --list prints the checkpoint's tensors,
 * --dry-run the plan a mount would serve, --list-targets a graph's
 * variables.
 */
#include "cmds.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "ckpt/error.h"
#include "ckpt/graph.h"
#include "ckpt/reader.h"
#include "ckpt/resolve.h"
#include "exitcodes.h"
#include "load.h"

/* A failed write to stdout (a full disk, a closed pipe) is an error too. */
static int flush_stdout(int code)
{
	if (fflush(stdout) != 0) {
		perror("ckptfs: stdout");
		return CKPTFS_EXIT_IOERR;
	}
	return code;
}

/* A shape [d0,d1,...]; <unknown> for a graph's unknown rank. */
static void print_dims(int rank, const int64_t *dims)
{
	if (rank < 0) {
		fputs("<unknown>", stdout);
		return;
	}
	putchar('[');
	for (int d = 0; d < rank; d++)
		printf("%s%lld", d ? "," : "", (long long)dims[d]);
	putchar(']');
}

/* A name on a --list line, escaped as --dry-run does (a hostile
 * checkpoint's newline or tab would break the line format): \\, \n, \r,
 * \t and \xNN for other control bytes; --json is exact. */
static void print_name(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if (*p == '\\')
			fputs("\\\\", stdout);
		else if (*p == '\n')
			fputs("\\n", stdout);
		else if (*p == '\r')
			fputs("\\r", stdout);
		else if (*p == '\t')
			fputs("\\t", stdout);
		else if (*p < 0x20 || *p == 0x7f)
			printf("\\x%02x", *p);
		else
			putchar(*p);
	}
}

static int list_json(const ckpt_reader *r)
{
	json_t *arr = json_array();
	for (size_t i = 0; arr && i < ckpt_reader_count(r); i++) {
		const ckpt_tensor *t = ckpt_reader_tensor(r, i);
		json_t *shape = json_array();
		for (int d = 0; shape && d < t->rank; d++)
			json_array_append_new(shape, json_integer(t->dims[d]));
		json_t *o = json_pack("{s:s, s:s, s:o}", "name", t->name, "dtype",
				      ckpt_dtype_name(t->dtype), "shape", shape);
		if (o == NULL && shape != NULL) {
			/* as ckpt_plan_to_json: refused, never silently left out */
			fprintf(stderr,
				"ckptfs: %s: a name is not valid UTF-8, which JSON cannot carry\n",
				t->name);
			json_decref(arr);
			return CKPTFS_EXIT_DATAERR;
		}
		json_array_append_new(arr, o);
	}
	char *s = arr ? json_dumps(arr, JSON_INDENT(2) | JSON_ENSURE_ASCII) : NULL;
	json_decref(arr);
	if (s == NULL) {
		fprintf(stderr, "ckptfs: out of memory\n");
		return CKPTFS_EXIT_SOFTWARE;
	}
	puts(s);
	free(s);
	return CKPTFS_EXIT_OK;
}

int ckptfs_cmd_list(const struct ckptfs_opts *m)
{
	ckpt_reader *r;
	ckpt_store *store;
	ckpt_error err = CKPT_ERROR_INIT;
	int rc = ckptfs_open_reader(m->checkpoint, m, &r, &store, &err);
	if (rc)
		return ckptfs_fail(rc, &err);
	int code = CKPTFS_EXIT_OK;
	if (m->json) {
		code = list_json(r);
	} else {
		for (size_t i = 0; i < ckpt_reader_count(r); i++) {
			const ckpt_tensor *t = ckpt_reader_tensor(r, i);
			print_name(t->name);
			printf("\t%s\t", ckpt_dtype_name(t->dtype));
			print_dims(t->rank, t->dims);
			putchar('\n');
		}
	}
	ckpt_reader_close(r);
	ckpt_store_free(store);
	return flush_stdout(code);
}

int ckptfs_cmd_list_targets(const struct ckptfs_opts *m)
{
	ckpt_error err = CKPT_ERROR_INIT;
	ckpt_graph *g;
	int rc = ckpt_graph_open(m->checkpoint, &m->graph, &g, &err);
	if (rc)
		return ckptfs_fail(rc, &err);
	ckptfs_print_warnings(g);
	int code = CKPTFS_EXIT_OK;
	if (m->json) {
		ckpt_target_var *t = NULL;
		size_t n = 0;
		char *s = NULL;
		rc = ckpt_graph_take_targets(g, &t, &n, &err);
		if (rc == 0)
			rc = ckpt_targets_to_json(t, n, &s, &err);
		if (rc)
			code = ckptfs_fail(rc, &err);
		else
			puts(s);
		free(s);
		ckpt_targets_free(t, n);
	} else {
		for (size_t i = 0; i < g->n_vars; i++) {
			const ckpt_graph_var *v = &g->vars[i];
			printf("%s\t%s\t", v->v.name, ckpt_dtype_name(v->v.dtype));
			print_dims(v->v.rank, v->v.dims);
			if (v->v.partitions) {
				putchar('\t');
				print_dims(v->v.rank, v->v.partitions);
			}
			putchar('\n');
		}
	}
	ckpt_graph_free(g);
	return flush_stdout(code);
}

int ckptfs_cmd_dry_run(struct ckptfs_opts *m)
{
	struct ckptfs_loaded l;
	ckpt_error err = CKPT_ERROR_INIT;
	char *text = NULL;
	int code = ckptfs_load_targets(m);
	if (code == 0)
		code = ckptfs_load(m->checkpoint, m, &l);
	if (code)
		return code;
	int rc = m->json ? ckpt_plan_to_json(l.plan, CKPT_PLAN_JSON_PRETTY, &text, &err)
			 : ckpt_plan_to_text(l.plan, &text, &err);
	if (rc) {
		code = ckptfs_fail(rc, &err);
	} else {
		fputs(text, stdout);
		if (m->json)
			putchar('\n');
	}
	ckpt_plan_string_free(text);
	ckptfs_unload(&l);
	return flush_stdout(code);
}
