/*
 * ckptfs - mount a TensorFlow checkpoint, seen through an assignment map,
 * as a read-only filesystem.
 *
 * This file: command-line dispatch and the non-mount modes (--list).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ckpt/error.h"
#include "ckpt/graph.h"
#include "ckpt/reader.h"
#include "ckpt/resolve.h"
#include "cli.h"
#include "exitcodes.h"

static const char usage[] =
    "usage: ckptfs [OPTIONS] CHECKPOINT MOUNTPOINT  mount; fusermount3 -u to unmount\n"
    "       ckptfs --list [--json] CHECKPOINT\n"
    "       ckptfs --dry-run [--json] [MAP OPTIONS] CHECKPOINT\n"
    "       ckptfs --list-targets [--json] [GRAPH OPTIONS] GRAPH\n"
    "\n"
    "CHECKPOINT is a V2 prefix (dir/model.ckpt-1000), a directory with a\n"
    "`checkpoint` state file, or a V1 checkpoint file. GRAPH is a TF1\n"
    "MetaGraphDef (model.ckpt-N.meta), a SavedModel saved_model.pb or a\n"
    "SavedModel directory. CHECKPOINT may be a URL: s3://BUCKET/KEY,\n"
    "gs://BUCKET/KEY, http(s)://HOST/PATH (a directory URL ends in /).\n"
    "\n"
    "  --list          print every tensor: NAME<TAB>DTYPE<TAB>SHAPE, sorted\n"
    "  --dry-run       resolve the map and print every target file; mount nothing\n"
    "  --list-targets  print the variables of GRAPH: NAME<TAB>DTYPE<TAB>SHAPE\n"
    "                  [<TAB>PARTITIONS]; with --json the --targets format\n"
    "  --json          with --list/--dry-run/--list-targets: print JSON instead\n"
    "\n"
    "MAP OPTIONS (each also as -o key=value):\n"
    "  --map CKPT=TARGET   one assignment-map entry (old/=new/, old/w=new/w,\n"
    "                      /=new/, old/=/); repeatable; with no map and no\n"
    "                      --targets every tensor as it is (--map /=/: TF's rule)\n"
    "  --map-file FILE     the map as JSON: {\"ckpt\": \"target\"} or [[ckpt, target]]\n"
    "  --targets FILE      target variables: JSON {\"variables\": [...]} or a\n"
    "                      GRAPH (.meta, saved_model.pb, SavedModel dir)\n"
    "  --cast FROM=TO      re-type targets of dtype FROM (float32=bfloat16)\n"
    "  --strict            exactly TensorFlow: no re-typing\n"
    "\n"
    "MOUNT OPTIONS:\n"
    "  --verify none|read|mount  checksums: read (default) checks a file's tensors\n"
    "                      before it is served whole; mount checks all first\n"
    "  --format raw|npy|tf raw tensor bytes, NAME.npy files for numpy.load, or\n"
    "                      one TF checkpoint ckpt.index + ckpt.data-00000-of-00001\n"
    "                      (reads all mapped data at mount for its CRCs, checking\n"
    "                      the source's)\n"
    "  --xattr on|off      user.ckpt.* attributes (default on); off makes ls -l\n"
    "                      of big trees fast (no getxattr round trip per file)\n"
    "  -f                  stay in the foreground    -d  debug (implies -f)\n"
    "  -s                  single-threaded           -o OPT[,OPT...]  also FUSE's\n"
    "                      own options (allow_other, max_threads=N, ...)\n"
    "\n"
    "REMOTE OPTIONS (a URL CHECKPOINT; credentials: see ckptfs(1)):\n"
    "  --header 'NAME: VALUE'  extra request header, repeatable\n"
    "  --ca_file FILE      CA bundle for https\n"
    "  --chunk_size N      bytes per range GET of a large read (8M)\n"
    "  --parallel N        range GETs of one read at once (4)\n"
    "  --cache_size N      block cache in memory, 0 = none (256M)\n"
    "  --cache_dir DIR     also keep fetched blocks in DIR (off)\n"
    "  --retries N  --retry_time S  --timeout S  --connect_timeout S\n"
    "  --low_speed_time S  retries (5, within 120 s), seconds per attempt (300),\n"
    "                      to connect (10), under 1 KiB/s before a cut (15)\n"
    "\n"
    "GRAPH OPTIONS (for --targets GRAPH and --list-targets):\n"
    "  --tag TAG           the SavedModel MetaGraphDef tagged TAG (default:\n"
    "                      serve, else the only one)\n"
    "  --all               also optimizer slots and optimizer state\n"
    "  --with-local        also local (metric) variables of TF1 graphs\n"
    "  -h, --help      show this help\n"
    "  -V, --version   show the version\n";

int ckptfs_exit_code(int status)
{
	switch (status) {
	case CKPT_OK: return CKPTFS_EXIT_OK;
	case CKPT_ENOTFOUND: return CKPTFS_EXIT_NOINPUT;
	case CKPT_ECORRUPT:
	case CKPT_ECHECKSUM:
	case CKPT_EUNSUPPORTED:
	case CKPT_ERANGE: return CKPTFS_EXIT_DATAERR;
	case CKPT_EINVAL: return CKPTFS_EXIT_MAP;
	case CKPT_EIO: return CKPTFS_EXIT_IOERR;
	default: return CKPTFS_EXIT_SOFTWARE;
	}
}

/* A failed write to stdout (a full disk, a closed pipe) is an error too. */
static int flush_stdout(int code)
{
	if (fflush(stdout) != 0) {
		perror("ckptfs: stdout");
		return CKPTFS_EXIT_IOERR;
	}
	return code;
}

static void print_shape(FILE *f, const ckpt_tensor *t)
{
	fputc('[', f);
	for (int d = 0; d < t->rank; d++)
		fprintf(f, "%s%lld", d ? "," : "", (long long)t->dims[d]);
	fputc(']', f);
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

static int cmd_list(const char *path, int json, const struct ckptfs_opts *m)
{
	ckpt_reader *r;
	ckpt_store *store;
	ckpt_error err = CKPT_ERROR_INIT;
	int rc = ckptfs_open_reader(path, m, &r, &store, &err);
	if (rc) {
		fprintf(stderr, "ckptfs: %s\n", err.msg);
		return ckptfs_exit_code(rc);
	}
	int code = CKPTFS_EXIT_OK;
	if (json) {
		code = list_json(r);
	} else {
		for (size_t i = 0; i < ckpt_reader_count(r); i++) {
			const ckpt_tensor *t = ckpt_reader_tensor(r, i);
			print_name(t->name);
			printf("\t%s\t", ckpt_dtype_name(t->dtype));
			print_shape(stdout, t);
			putchar('\n');
		}
	}
	ckpt_reader_close(r);
	ckpt_store_free(store);
	return flush_stdout(code);
}

static const ckpt_piece *piece_of(void *ctx, size_t tensor, size_t piece)
{
	return ckpt_reader_piece(ctx, tensor, piece);
}

/* Apply one map option (key without dashes); 0, or an exit code. */
static int map_option(struct ckptfs_opts *m, const char *key, const char *val)
{
	ckpt_error err = CKPT_ERROR_INIT;
	int rc = 0;

	if (strcmp(key, "strict") == 0 && val == NULL) {
		m->strict = 1;
		return 0;
	}
	if (strcmp(key, "all") == 0 && val == NULL) {
		m->graph.roles |= CKPT_GRAPH_ALL_ROLES;
		return 0;
	}
	if (strcmp(key, "with-local") == 0 && val == NULL) {
		m->graph.roles |= CKPT_GRAPH_MODEL | CKPT_GRAPH_LOCAL;
		return 0;
	}
	if (val == NULL) {
		fprintf(stderr, "ckptfs: option %s needs a value\n", key);
		return CKPTFS_EXIT_USAGE;
	}
	if (strcmp(key, "map") == 0) {
		rc = ckpt_map_parse_arg(val, &m->entries, &m->n_entries, &err);
	} else if (strcmp(key, "map-file") == 0 || strcmp(key, "map_file") == 0) {
		rc = ckpt_map_load_file(val, &m->entries, &m->n_entries, &err);
	} else if (strcmp(key, "targets") == 0) {
		/* read by load_targets(); -o values do not outlive their list */
		free(m->targets_path);
		if ((m->targets_path = strdup(val)) == NULL)
			return CKPTFS_EXIT_SOFTWARE;
	} else if (strcmp(key, "tag") == 0) {
		free(m->tag);
		if ((m->tag = strdup(val)) == NULL)
			return CKPTFS_EXIT_SOFTWARE;
		m->graph.tag = m->tag;
	} else if (strcmp(key, "cast") == 0) {
		if (m->n_casts == sizeof(m->casts) / sizeof(m->casts[0])) {
			fprintf(stderr, "ckptfs: too many --cast options\n");
			return CKPTFS_EXIT_USAGE;
		}
		rc = ckpt_cast_parse_arg(val, &m->casts[m->n_casts], &err);
		if (rc == 0)
			m->n_casts++;
	} else if (strcmp(key, "format") == 0) {
		if (strcmp(val, "raw") == 0) {
			m->format = CKPTFS_FORMAT_RAW;
		} else if (strcmp(val, "npy") == 0) {
			m->format = CKPTFS_FORMAT_NPY;
		} else if (strcmp(val, "tf") == 0) {
			m->format = CKPTFS_FORMAT_TF;
		} else {
			fprintf(stderr, "ckptfs: --format %s is not supported (raw, npy, tf)\n",
				val);
			return CKPTFS_EXIT_USAGE;
		}
	} else if (strcmp(key, "xattr") == 0) {
		if (strcmp(val, "on") != 0 && strcmp(val, "off") != 0) {
			fprintf(stderr, "ckptfs: --xattr takes on or off, not %s\n", val);
			return CKPTFS_EXIT_USAGE;
		}
		m->no_xattr = strcmp(val, "off") == 0;
	} else if (strcmp(key, "verify") == 0) {
		if (strcmp(val, "none") == 0)
			m->verify = CKPTFS_VERIFY_NONE;
		else if (strcmp(val, "read") == 0)
			m->verify = CKPTFS_VERIFY_READ;
		else if (strcmp(val, "mount") == 0)
			m->verify = CKPTFS_VERIFY_MOUNT;
		else {
			fprintf(stderr, "ckptfs: --verify takes none, read or mount, not %s\n",
				val);
			return CKPTFS_EXIT_USAGE;
		}
	} else if (ckptfs_remote_is_option(key)) {
		return ckptfs_remote_option(&m->remote, key, val);
	} else {
		fprintf(stderr, "ckptfs: unknown option %s\n", key);
		return CKPTFS_EXIT_USAGE;
	}
	if (rc) {
		fprintf(stderr, "ckptfs: %s\n", err.msg);
		return rc == CKPT_ENOTFOUND ? CKPTFS_EXIT_NOINPUT : ckptfs_exit_code(rc);
	}
	return 0;
}

static int is_own_option(const char *key)
{
	static const char *const own[] = {"map",   "map-file", "map_file", "targets",
					  "cast",  "strict",   "format",   "verify",
					  "xattr", "tag",      "all",	   "with-local"};
	for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		if (strcmp(key, own[i]) == 0)
			return 1;
	return ckptfs_remote_is_option(key);
}

/* Remember a FUSE -o option to pass on at mount. */
static int add_fuse_opt(struct ckptfs_opts *m, const char *opt)
{
	size_t old = m->fuse_opts ? strlen(m->fuse_opts) : 0;
	char *n = realloc(m->fuse_opts, old + strlen(opt) + 2);
	if (n == NULL)
		return CKPTFS_EXIT_SOFTWARE;
	if (old)
		n[old++] = ',';
	strcpy(n + old, opt);
	m->fuse_opts = n;
	return 0;
}

/* -o a=b,c=d: ours are map/mount options, the rest FUSE's. */
static int map_o_list(struct ckptfs_opts *m, const char *list)
{
	char *dup = strdup(list), *save = NULL;
	int rc = 0;
	if (dup == NULL)
		return CKPTFS_EXIT_SOFTWARE;
	for (char *tok = strtok_r(dup, ",", &save); tok && rc == 0;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');
		if (eq)
			*eq = '\0';
		if (is_own_option(tok)) {
			rc = map_option(m, tok, eq ? eq + 1 : NULL);
			continue;
		}
		if (eq)
			*eq = '=';
		rc = add_fuse_opt(m, tok);
	}
	free(dup);
	return rc;
}

/* Print the graph reader's warnings (spec W1-W3). */
static void print_warnings(const ckpt_graph *g)
{
	for (size_t i = 0; i < g->n_warnings; i++)
		fprintf(stderr, "ckptfs: warning: %s\n", g->warnings[i]);
}

/* --targets: JSON or, by content, a graph (with --tag/--all/--with-local). */
static int load_targets(struct ckptfs_opts *m)
{
	ckpt_error err = CKPT_ERROR_INIT;
	int rc;

	if (m->targets_path == NULL)
		return 0;
	if (ckpt_graph_sniff(m->targets_path)) {
		ckpt_graph *g;
		rc = ckpt_graph_open(m->targets_path, &m->graph, &g, &err);
		if (rc == 0) {
			print_warnings(g);
			m->targets = calloc(g->n_vars ? g->n_vars : 1, sizeof(*m->targets));
			if (m->targets == NULL) {
				ckpt_graph_free(g);
				return CKPTFS_EXIT_SOFTWARE;
			}
			for (size_t i = 0; i < g->n_vars; i++) {
				m->targets[i] = g->vars[i].v;
				memset(&g->vars[i].v, 0, sizeof(g->vars[i].v));
			}
			m->n_targets = g->n_vars;
			ckpt_graph_free(g);
		}
	} else {
		rc = ckpt_targets_load_file(m->targets_path, &m->targets, &m->n_targets, &err);
	}
	if (rc) {
		fprintf(stderr, "ckptfs: %s\n", err.msg);
		return rc == CKPT_ENOTFOUND ? CKPTFS_EXIT_NOINPUT : ckptfs_exit_code(rc);
	}
	m->have_targets = 1;
	return 0;
}

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

static int cmd_list_targets(const char *path, int json, const struct ckptfs_opts *m)
{
	ckpt_error err = CKPT_ERROR_INIT;
	ckpt_graph *g;
	int rc = ckpt_graph_open(path, &m->graph, &g, &err);
	if (rc) {
		fprintf(stderr, "ckptfs: %s\n", err.msg);
		return ckptfs_exit_code(rc);
	}
	print_warnings(g);
	int code = CKPTFS_EXIT_OK;
	if (json) {
		ckpt_target_var *t = malloc((g->n_vars ? g->n_vars : 1) * sizeof(*t));
		char *s = NULL;
		for (size_t i = 0; t && i < g->n_vars; i++)
			t[i] = g->vars[i].v;
		if (t == NULL || ckpt_targets_to_json(t, g->n_vars, &s, &err) != 0) {
			fprintf(stderr, "ckptfs: out of memory\n");
			code = CKPTFS_EXIT_SOFTWARE;
		} else {
			puts(s);
		}
		free(s);
		free(t);
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

int ckptfs_load(const char *path, const struct ckptfs_opts *m, struct ckptfs_loaded *l)
{
	ckpt_error err = CKPT_ERROR_INIT;
	memset(l, 0, sizeof(*l));
	int rc = ckptfs_open_reader(path, m, &l->r, &l->store, &err);
	if (rc) {
		fprintf(stderr, "ckptfs: %s\n", err.msg);
		return ckptfs_exit_code(rc);
	}
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
	/* no map and no targets: "show this checkpoint", every tensor as it
	 * is; TF's {'/': '/'} rule only runs when a map or targets are given */
	o.as_is = m->n_entries == 0 && !m->have_targets;
	o.ckpt_path = path;
	o.piece = piece_of;
	o.piece_ctx = l->r;
	rc = ckpt_resolve(&o, l->tensors, n, &l->plan, &err);
	if (rc) {
		fprintf(stderr, "ckptfs: %s\n", err.msg);
		ckptfs_unload(l);
		return rc == CKPT_ENOMEM ? CKPTFS_EXIT_SOFTWARE : CKPTFS_EXIT_MAP;
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

static int cmd_dry_run(const char *path, int json, const struct ckptfs_opts *m)
{
	struct ckptfs_loaded l;
	ckpt_error err = CKPT_ERROR_INIT;
	char *text = NULL;
	int code = ckptfs_load(path, m, &l);
	if (code)
		return code;
	int rc = json ? ckpt_plan_to_json(l.plan, CKPT_PLAN_JSON_PRETTY, &text, &err)
		      : ckpt_plan_to_text(l.plan, &text, &err);
	if (rc) {
		fprintf(stderr, "ckptfs: %s\n", err.msg);
		code = rc == CKPT_ENOMEM ? CKPTFS_EXIT_SOFTWARE : ckptfs_exit_code(rc);
	} else {
		fputs(text, stdout);
		if (json)
			putchar('\n');
	}
	ckpt_plan_string_free(text);
	ckptfs_unload(&l);
	return flush_stdout(code);
}

static void map_opts_free(struct ckptfs_opts *m)
{
	ckpt_map_entries_free(m->entries, m->n_entries);
	ckpt_targets_free(m->targets, m->n_targets);
	free(m->fuse_opts);
	free(m->targets_path);
	free(m->tag);
	ckptfs_remote_free(&m->remote);
}

/* Checkpoints may have more shards than the default soft limit of open
 * files; the library's descriptor pool uses at most half of what is
 * allowed, so allow what the hard limit does. */
static void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
	}
}

int main(int argc, char **argv)
{
	int list = 0, json = 0, dry = 0, list_targets = 0, code = 0;
	struct ckptfs_opts m = {0};
	m.verify = CKPTFS_VERIFY_READ;
	m.remote.o = (ckpt_remote_opts)CKPT_REMOTE_OPTS_INIT;
	const char *pos[2];
	int npos = 0;

	raise_nofile();

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage, stdout);
			return CKPTFS_EXIT_OK;
		} else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf("ckptfs %s\n", CKPTFS_VERSION);
			return CKPTFS_EXIT_OK;
		} else if (strcmp(a, "--list") == 0) {
			list = 1;
		} else if (strcmp(a, "--json") == 0) {
			json = 1;
		} else if (strcmp(a, "--dry-run") == 0) {
			dry = 1;
		} else if (strcmp(a, "--list-targets") == 0) {
			list_targets = 1;
		} else if (strcmp(a, "--all") == 0 || strcmp(a, "--with-local") == 0) {
			code = map_option(&m, a + 2, NULL);
		} else if (strcmp(a, "-f") == 0) {
			m.foreground = 1;
		} else if (strcmp(a, "-d") == 0 || strcmp(a, "--debug") == 0) {
			m.debug = m.foreground = 1;
		} else if (strcmp(a, "-s") == 0) {
			m.single_thread = 1;
		} else if (strcmp(a, "--strict") == 0) {
			code = map_option(&m, "strict", NULL);
		} else if (strcmp(a, "-o") == 0 && i + 1 < argc) {
			code = map_o_list(&m, argv[++i]);
		} else if (strncmp(a, "-o", 2) == 0 && a[2]) {
			code = map_o_list(&m, a + 2);
		} else if (strncmp(a, "--", 2) == 0 && a[2]) {
			char *eq = strchr(a, '=');
			char key[64];
			size_t kl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
			if (kl >= sizeof(key))
				kl = sizeof(key) - 1;
			memcpy(key, a + 2, kl);
			key[kl] = '\0';
			const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
			code = map_option(&m, key, val);
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "ckptfs: unknown option %s\n%s", a, usage);
			code = CKPTFS_EXIT_USAGE;
		} else if (npos < 2) {
			pos[npos++] = a;
		} else {
			fprintf(stderr, "ckptfs: too many arguments\n%s", usage);
			code = CKPTFS_EXIT_USAGE;
		}
		if (code) {
			map_opts_free(&m);
			return code;
		}
	}
	if ((list || dry || list_targets) && m.fuse_opts) {
		/* only a mount passes -o options on to FUSE */
		fprintf(stderr, "ckptfs: unknown option -o %s\n", m.fuse_opts);
		code = CKPTFS_EXIT_USAGE;
	} else if (list_targets && npos == 1 && !list && !dry)
		code = cmd_list_targets(pos[0], json, &m);
	else if (list && npos == 1)
		code = cmd_list(pos[0], json, &m);
	else if (dry && npos == 1 && (code = load_targets(&m)) == 0)
		code = cmd_dry_run(pos[0], json, &m);
	else if (!list && !dry && !list_targets && npos == 2 && (code = load_targets(&m)) == 0)
		code = ckptfs_mount(pos[0], pos[1], &m);
	else if (code == 0) {
		fputs(usage, stderr);
		code = CKPTFS_EXIT_USAGE;
	}
	map_opts_free(&m);
	return code;
}
