/*
 * The commands that mount nothing: --list prints the checkpoint's tensors
 * (--stats: read each one for its statistics), --dry-run the plan a mount
 * would serve, --list-targets a graph's variables, --show one tensor's
 * values.
 */
#include "cmds.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ckpt/convert.h"
#include "ckpt/error.h"
#include "ckpt/graph.h"
#include "ckpt/inspect.h"
#include "ckpt/reader.h"
#include "ckpt/resolve.h"
#include "exitcodes.h"
#include "hints.h"
#include "load.h"
#include "progress.h"

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

/* --list --stats: where the reading of all the tensors stands. */
struct stats_run {
	ckpt_inspect_opts o;
	uint64_t base;		    /* bytes of the tensors before this one */
	uint64_t total;		    /* of all the tensors read */
	int code;		    /* the exit code of the first tensor that failed */
	struct ckptfs_progress bar; /* on a terminal: bytes read of total */
};

static void tensor_progress(void *ctx, uint64_t done, uint64_t total)
{
	struct stats_run *run = ctx;
	(void)total;
	ckptfs_progress_set(&run->bar, run->base + done);
}

/* Tensor i's statistics: 1 read into *s, 0 none for its dtype, -1 failed
 * (err says why, and is printed; run->code set). */
static int tensor_stats(const ckpt_reader *r, size_t i, struct stats_run *run, ckpt_stats *s,
			ckpt_error *err)
{
	const ckpt_tensor *t = ckpt_reader_tensor(r, i);
	if (!ckpt_inspect_has_stats(t->dtype))
		return 0;
	int rc = ckpt_inspect_stats(r, i, &run->o, s, err);
	run->base += ckpt_inspect_stats_bytes(r, i);
	if (rc == 0)
		return 1;
	fflush(stdout); /* the lines before it first */
	ckptfs_progress_clear(&run->bar);
	int code = ckptfs_fail(rc, err);
	if (run->code == CKPTFS_EXIT_OK)
		run->code = code;
	return -1;
}

static void stats_init(const ckpt_reader *r, const struct ckptfs_opts *m, struct stats_run *run)
{
	memset(run, 0, sizeof(*run));
	run->o.verify = m->verify != CKPTFS_VERIFY_NONE;
	run->o.progress = tensor_progress;
	run->o.progress_ctx = run;
	for (size_t i = 0; i < ckpt_reader_count(r); i++)
		run->total += ckpt_inspect_stats_bytes(r, i);
	ckptfs_progress_start(&run->bar, "reading the tensors", run->total);
}

/* Statistics columns of a --list line: MIN MAX MEAN NANS INFS, "-" where
 * the dtype or the values have none, "?" when reading failed. */
static void print_stats(const ckpt_tensor *t, int got, const ckpt_stats *s)
{
	char a[64], b[64];
	if (got <= 0) {
		fputs(got < 0 ? "\t?\t?\t?\t?\t?" : "\t-\t-\t-\t-\t-", stdout);
		return;
	}
	if (s->has_minmax) {
		ckpt_format_scalar(t->dtype, s->min, a, sizeof(a));
		ckpt_format_scalar(t->dtype, s->max, b, sizeof(b));
		printf("\t%s\t%s", a, b);
	} else {
		fputs("\t-\t-", stdout);
	}
	if (s->has_mean)
		ckpt_format_double(s->mean, a, sizeof(a));
	printf("\t%s\t%llu\t%llu", s->has_mean ? a : "-", (unsigned long long)s->nan,
	       (unsigned long long)s->inf);
}

/* A float in JSON, which has no NaN or infinity: those are the strings
 * "nan", "inf", "-inf". */
static json_t *real_json(double x)
{
	if (isnan(x))
		return json_string("nan");
	if (isinf(x))
		return json_string(x < 0 ? "-inf" : "inf");
	return json_real(x);
}

/* An element of numeric dtype dt, as stored, in JSON: bool true/false,
 * integers exactly (a uint64 past int64's range as its decimal string),
 * floats as the exact double (float16/bfloat16 through the library's
 * conversion). */
static json_t *element_json(ckpt_dtype dt, const unsigned char *raw)
{
	if (dt == CKPT_DT_BOOL)
		return json_boolean(raw[0] != 0);
	if (dt == CKPT_DT_HALF || dt == CKPT_DT_BFLOAT16 || dt == CKPT_DT_FLOAT ||
	    dt == CKPT_DT_DOUBLE) {
		double x; /* little-endian, as the host */
		ckpt_convert(dt, CKPT_DT_DOUBLE, raw, &x, 1);
		return real_json(x);
	}
	char text[64];
	ckpt_format_scalar(dt, raw, text, sizeof(text));
	if (text[0] != '-' && strtoull(text, NULL, 10) > (unsigned long long)INT64_MAX)
		return json_string(text);
	return json_integer(strtoll(text, NULL, 10));
}

/* Add --stats fields to a --list --json object: "min", "max", "mean",
 * "nan", "inf" (null where there are none) and, when reading failed,
 * "error". */
static int add_stats_json(json_t *o, const ckpt_tensor *t, int got, const ckpt_stats *s,
			  const char *error)
{
	int have = got > 0;
	json_t *min = have && s->has_minmax ? element_json(t->dtype, s->min) : json_null();
	json_t *max = have && s->has_minmax ? element_json(t->dtype, s->max) : json_null();
	json_t *mean = have && s->has_mean ? real_json(s->mean) : json_null();
	json_t *nan = have ? json_integer((json_int_t)s->nan) : json_null();
	json_t *inf = have ? json_integer((json_int_t)s->inf) : json_null();
	int rc = json_object_set_new(o, "min", min) | json_object_set_new(o, "max", max) |
		 json_object_set_new(o, "mean", mean) | json_object_set_new(o, "nan", nan) |
		 json_object_set_new(o, "inf", inf);
	if (got < 0)
		rc |= json_object_set_new(o, "error", json_string(error));
	return rc;
}

static int list_json(const ckpt_reader *r, struct stats_run *run)
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
		if (run && o) {
			ckpt_stats s;
			ckpt_error err = CKPT_ERROR_INIT;
			int got = tensor_stats(r, i, run, &s, &err);
			if (add_stats_json(o, t, got, &s, err.msg) != 0) {
				json_decref(o);
				o = NULL;
			}
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
	struct stats_run run;
	int rc = ckptfs_open_reader(m->checkpoint, m, &r, &store, &err);
	if (rc)
		return ckptfs_fail(rc, &err);
	ckptfs_print_reader_notes(r);
	if (m->stats)
		stats_init(r, m, &run);
	int code = CKPTFS_EXIT_OK;
	if (m->json) {
		code = list_json(r, m->stats ? &run : NULL);
	} else {
		for (size_t i = 0; i < ckpt_reader_count(r); i++) {
			const ckpt_tensor *t = ckpt_reader_tensor(r, i);
			ckpt_stats s;
			int got = m->stats ? tensor_stats(r, i, &run, &s, &err) : 0;
			if (m->stats)
				ckptfs_progress_clear(&run.bar);
			print_name(t->name);
			printf("\t%s\t", ckpt_dtype_name(t->dtype));
			print_dims(t->rank, t->dims);
			if (m->stats)
				print_stats(t, got, &s);
			putchar('\n');
			fflush(stdout);
		}
	}
	if (m->stats) {
		ckptfs_progress_finish(&run.bar,
				       code == CKPTFS_EXIT_OK && run.code == CKPTFS_EXIT_OK);
		if (code == CKPTFS_EXIT_OK)
			code = run.code;
	}
	ckpt_reader_close(r);
	ckpt_store_free(store);
	return flush_stdout(code);
}

/* --show's output goes to stdout as it is formatted. */
static int write_stdout(void *ctx, const char *s, size_t n)
{
	(void)ctx;
	return fwrite(s, 1, n, stdout) == n ? 0 : CKPT_EIO;
}

int ckptfs_cmd_show(const struct ckptfs_opts *m)
{
	ckpt_reader *r;
	ckpt_store *store;
	ckpt_error err = CKPT_ERROR_INIT;
	size_t i;
	int rc = ckptfs_open_reader(m->checkpoint, m, &r, &store, &err);
	if (rc)
		return ckptfs_fail(rc, &err);
	ckptfs_print_reader_notes(r);
	ckpt_inspect_opts o = {m->verify != CKPTFS_VERIFY_NONE, NULL, NULL};
	rc = ckpt_inspect_find(r, m->show_name, &i, &err);
	if (rc == 0)
		rc = ckpt_inspect_show(r, i, &o, write_stdout, NULL, &err);
	int code = CKPTFS_EXIT_OK;
	if (rc == CKPT_EIO && err.msg[0] == '\0') {
		perror("ckptfs: stdout");
		code = CKPTFS_EXIT_IOERR;
	} else if (rc) {
		fflush(stdout);
		code = ckptfs_fail(rc, &err);
	} else {
		putchar('\n');
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
