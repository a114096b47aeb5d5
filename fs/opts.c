/*
 * The command line: getopt_long for the options as typed, libfuse's
 * fuse_opt_parse for -o lists (also how mount(8) passes them through
 * mount.fuse3), and one check that the options fit the mode.
 */
#include "opts.h"

#include <errno.h>
#include <fuse_opt.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"

/* The help, by section (C11 guarantees string literals of 4095 bytes only). */
static const char *const usage[] = {
    "usage: ckptfs [OPTIONS] CHECKPOINT MOUNTPOINT  mount; fusermount3 -u to unmount\n"
    "       ckptfs --list [--stats] [--json] CHECKPOINT\n"
    "       ckptfs --show NAME CHECKPOINT\n"
    "       ckptfs --dry-run [--json] [MAP OPTIONS] CHECKPOINT\n"
    "       ckptfs --list-targets [--json] [GRAPH OPTIONS] GRAPH\n"
    "\n"
    "CHECKPOINT is a V2 prefix (dir/model.ckpt-1000), a directory with a\n"
    "`checkpoint` state file, a SavedModel directory, or a V1 checkpoint\n"
    "file (PREFIX.index or a data file reads PREFIX, warned). GRAPH is a TF1\n"
    "MetaGraphDef (model.ckpt-N.meta), a SavedModel saved_model.pb or a\n"
    "SavedModel directory. CHECKPOINT may be a URL: s3://BUCKET/KEY,\n"
    "gs://BUCKET/KEY, http(s)://HOST/PATH (a directory URL ends in /).\n"
    "Options that do not apply to the mode are refused.\n"
    "\n"
    "  --list          print every tensor: NAME<TAB>DTYPE<TAB>SHAPE, sorted\n"
    "  --stats         with --list: read every tensor, add <TAB>MIN<TAB>MAX<TAB>MEAN\n"
    "                  <TAB>NANS<TAB>INFS (min/max/mean without NaNs; - if none)\n"
    "  --show NAME     print tensor NAME's values as numpy prints them (summarized\n"
    "                  past 1000 elements), like inspect_checkpoint --tensor_name\n"
    "  --dry-run       resolve the map and print every target file; mount nothing\n"
    "  --list-targets  print the variables of GRAPH: NAME<TAB>DTYPE<TAB>SHAPE\n"
    "                  [<TAB>PARTITIONS]; with --json the --targets format\n"
    "  --json          with --list/--dry-run/--list-targets: print JSON instead\n"
    "  --verify none|read  with --show and --list --stats: check the CRC32C of\n"
    "                  every piece read (read, the default) or not (none)\n"
    "\n",
    "MAP OPTIONS (a mount and --dry-run; each also as -o key=value):\n"
    "  --map CKPT=TARGET   one assignment-map entry (old/=new/, old/w=new/w,\n"
    "                      /=new/, old/=/); repeatable; with no map and no\n"
    "                      --targets every tensor as it is (--map /=/: TF's rule)\n"
    "  --map-file FILE     the map as JSON: {\"ckpt\": \"target\"} or [[ckpt, target]]\n"
    "  --targets FILE      target variables: JSON {\"variables\": [...]} or a\n"
    "                      GRAPH (.meta, saved_model.pb, SavedModel dir)\n"
    "  --cast FROM=TO      re-type targets of dtype FROM (float32=bfloat16; also\n"
    "                      bf16, fp16, half, f32, float, f64, double)\n"
    "  --perm NAME=AXES    transpose target NAME (numpy.transpose's axes, 1,0;\n"
    "                      1:0 in -o lists), before --cast and partitions;\n"
    "                      NAME/ : every target of that rank under the scope;\n"
    "                      also \"perm\": [1, 0] in --targets JSON; repeatable\n"
    "  --strict            exactly TensorFlow: no re-typing; a map entry that\n"
    "                      matches nothing, a target with no source: exit 67\n"
    "  --names readable|key  TF2 checkpoints: a target PATH/.ATTRIBUTES/\n"
    "                      VARIABLE_VALUE is the file PATH, its optimizer slots\n"
    "                      VAR@slots/OPT/SLOT (readable, default); key: every\n"
    "                      target name as it is\n"
    "\n",
    "MOUNT OPTIONS (each also as -o key=value):\n"
    "  --verify none|read|mount  checksums: read (default) checks a file's tensors\n"
    "                      before it is served whole; mount checks all first\n"
    "  --format raw|npy|tf|safetensors  raw tensor bytes, NAME.npy files for\n"
    "                      numpy.load, one TF checkpoint ckpt.index +\n"
    "                      ckpt.data-00000-of-00001 and its `checkpoint` file (reads\n"
    "                      all mapped data at mount for its CRCs, checking the\n"
    "                      source's), or one model.safetensors holding every\n"
    "                      target (torch, JAX, HF)\n"
    "  --key-sep C         safetensors: write C for '/' in keys (. for PyTorch\n"
    "                      state_dict names; default: names as they are)\n"
    "  --xattr on|off      user.ckpt.* attributes (default on); off makes ls -l\n"
    "                      of big trees fast (no getxattr round trip per file)\n"
    "  --log FILE          append the daemon's log lines (why a read failed:\n"
    "                      the tensor, the offset) to FILE; else syslog once in\n"
    "                      the background (journalctl -t ckptfs), stderr with -f\n"
    "  --term_wait S       on SIGTERM/SIGINT/SIGHUP keep serving open files up to\n"
    "                      S seconds (5) before unmounting; 0: at once\n"
    "  --uid U  --gid G    owner shown for every file (a number or a name;\n"
    "                      default: the mounting user's); other users need\n"
    "                      -o allow_other\n"
    "  --umask M           octal bits cleared from the modes 0755 (directories)\n"
    "                      and 0644 (files), e.g. 027; the kernel checks them\n"
    "  --max_threads N  --max_idle_threads N  FUSE worker threads at most (16),\n"
    "                      and kept idle (8); 1..1024\n"
    "  -f                  stay in the foreground    -d, --debug  debug (implies -f)\n"
    "  -s                  single-threaded           -o OPT[,OPT...]  also FUSE's\n"
    "                      own mount options (allow_other, ...)\n"
    "\n",
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
    "\n",
    "GRAPH OPTIONS (for --targets GRAPH and --list-targets):\n"
    "  --tag TAG           the SavedModel MetaGraphDef tagged TAG (default:\n"
    "                      serve, else the only one)\n"
    "  --all               also optimizer slots and optimizer state\n"
    "  --with-local        also local (metric) variables of TF1 graphs\n"
    "  -h, --help      show this help\n"
    "  -V, --version   show the version\n",
};

/* What an option is for: the modes it applies to follow from it. */
enum opt_class {
	C_MODE,	  /* --list, --dry-run, --list-targets, --show */
	C_JSON,	  /* --json: the three non-mount modes */
	C_MAP,	  /* a mount, --dry-run */
	C_GRAPH,  /* with --targets, or --list-targets */
	C_MOUNT,  /* a mount */
	C_FUSE,	  /* -o options that are not ours: a mount */
	C_REMOTE, /* a URL CHECKPOINT: a mount, --list, --dry-run, --show */
	C_STATS,  /* --stats: --list */
	C_VERIFY, /* --verify: a mount, --show, --list --stats */
	C_OTHER,  /* -h, -V */
	C_COUNT_
};

enum { OPT_LONG_BASE = 256 };

static const struct opt_def {
	const char *name;
	int has_arg;
	enum opt_class cls;
	int o_ok; /* may be given as -o name[=value] */
} defs[] = {
    {"list", no_argument, C_MODE, 0},
    {"dry-run", no_argument, C_MODE, 0},
    {"list-targets", no_argument, C_MODE, 0},
    {"show", required_argument, C_MODE, 0},
    {"stats", no_argument, C_STATS, 0},
    {"json", no_argument, C_JSON, 0},
    {"help", no_argument, C_OTHER, 0},
    {"version", no_argument, C_OTHER, 0},
    {"map", required_argument, C_MAP, 1},
    {"map-file", required_argument, C_MAP, 1},
    {"map_file", required_argument, C_MAP, 1},
    {"targets", required_argument, C_MAP, 1},
    {"cast", required_argument, C_MAP, 1},
    {"perm", required_argument, C_MAP, 1},
    {"strict", no_argument, C_MAP, 1},
    {"names", required_argument, C_MAP, 1},
    {"tag", required_argument, C_GRAPH, 1},
    {"all", no_argument, C_GRAPH, 1},
    {"with-local", no_argument, C_GRAPH, 1},
    {"format", required_argument, C_MOUNT, 1},
    {"key-sep", required_argument, C_MOUNT, 1},
    {"key_sep", required_argument, C_MOUNT, 1},
    {"verify", required_argument, C_VERIFY, 1},
    {"xattr", required_argument, C_MOUNT, 1},
    {"debug", no_argument, C_MOUNT, 0},
    {"uid", required_argument, C_MOUNT, 1},
    {"gid", required_argument, C_MOUNT, 1},
    {"umask", required_argument, C_MOUNT, 1},
    {"max_threads", required_argument, C_MOUNT, 1},
    {"max_idle_threads", required_argument, C_MOUNT, 1},
    {"log", required_argument, C_MOUNT, 1},
    {"term_wait", required_argument, C_MOUNT, 1},
    {"header", required_argument, C_REMOTE, 1},
    {"ca_file", required_argument, C_REMOTE, 1},
    {"chunk_size", required_argument, C_REMOTE, 1},
    {"parallel", required_argument, C_REMOTE, 1},
    {"retries", required_argument, C_REMOTE, 1},
    {"retry_time", required_argument, C_REMOTE, 1},
    {"timeout", required_argument, C_REMOTE, 1},
    {"connect_timeout", required_argument, C_REMOTE, 1},
    {"low_speed_time", required_argument, C_REMOTE, 1},
    {"cache_size", required_argument, C_REMOTE, 1},
    {"cache_dir", required_argument, C_REMOTE, 1},
};
#define N_DEFS (sizeof(defs) / sizeof(defs[0]))

/* Parsing state: the first option of each class as typed (for messages). */
struct parse {
	struct ckptfs_opts *o;
	char seen[C_COUNT_][48];
	int have_mode;
	int code; /* an -o option's failure */
};

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("ckptfs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("; try 'ckptfs --help'\n", stderr);
	return CKPTFS_EXIT_USAGE;
}

static const struct opt_def *find_def(const char *name, size_t len)
{
	for (size_t i = 0; i < N_DEFS; i++)
		if (strlen(defs[i].name) == len && strncmp(defs[i].name, name, len) == 0)
			return &defs[i];
	return NULL;
}

/* Levenshtein distance of a[0..la) and b (option names). */
static size_t distance(const char *a, size_t la, const char *b)
{
	return ckpt_edit_distance(a, la, b, strlen(b), 99);
}

/* The option nearest to name[0..len) (at most 2 edits, fewer than its
 * length, or name is a prefix of it), or NULL. */
static const char *nearest(const char *name, size_t len)
{
	const char *best = NULL;
	size_t bd = 3;
	for (size_t i = 0; i < N_DEFS; i++) {
		if (strcmp(defs[i].name, "map_file") == 0 || strcmp(defs[i].name, "key_sep") == 0)
			continue;
		size_t d = distance(name, len, defs[i].name);
		if (len >= 2 && strncmp(defs[i].name, name, len) == 0)
			d = 1; /* an ambiguous abbreviation */
		if (d < bd && d < len) {
			bd = d;
			best = defs[i].name;
		}
	}
	return best;
}

static void see(struct parse *p, enum opt_class c, const char *prefix, const char *name)
{
	if (p->seen[c][0] == '\0')
		snprintf(p->seen[c], sizeof(p->seen[c]), "%s%s", prefix, name);
}

static const char *mode_text(enum ckptfs_mode m)
{
	switch (m) {
	case CKPTFS_MODE_LIST: return "--list";
	case CKPTFS_MODE_DRY_RUN: return "--dry-run";
	case CKPTFS_MODE_LIST_TARGETS: return "--list-targets";
	case CKPTFS_MODE_SHOW: return "--show";
	default: return "a mount";
	}
}

/* The index of val among the NULL-ended choices of option key, or -1
 * after printing them. */
static int pick(const char *key, const char *val, const char *const *choices)
{
	char list[64] = "";
	for (int i = 0; choices[i]; i++) {
		if (strcmp(val, choices[i]) == 0)
			return i;
		size_t len = strlen(list);
		snprintf(list + len, sizeof(list) - len, "%s%s", i ? ", " : "", choices[i]);
	}
	usage_error("--%s takes %s, not %s", key, list, val);
	return -1;
}

static int set_string(char **dst, const char *val)
{
	free(*dst);
	return (*dst = strdup(val)) ? 0 : CKPTFS_EXIT_SOFTWARE;
}

/* val as a whole number in base (no sign, nothing after it) up to max. */
static int parse_num(const char *val, int base, unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long n = strtoul(val, &end, base);
	if (errno || end == val || *end || val[0] == '-' || val[0] == '+' || n > max)
		return -1;
	*out = n;
	return 0;
}

/* uid=, gid= (a number or a name, as chown takes them), umask= (octal),
 * max_threads=, max_idle_threads=: 0 or an exit code (printed). */
static int owner_or_loop(struct ckptfs_opts *m, const char *k, const char *val)
{
	unsigned long n = 0;
	if (strcmp(k, "uid") == 0 || strcmp(k, "gid") == 0) {
		int user = k[0] == 'u';
		if (parse_num(val, 10, UINT32_MAX - 1, &n) != 0) {
			const struct passwd *pw = user ? getpwnam(val) : NULL;
			const struct group *gr = user ? NULL : getgrnam(val);
			if (pw == NULL && gr == NULL)
				return usage_error("%s=%s: no such %s", k, val,
						   user ? "user" : "group");
			n = pw ? pw->pw_uid : gr->gr_gid;
		}
		if (user) {
			m->uid = (uid_t)n;
			m->have_uid = 1;
		} else {
			m->gid = (gid_t)n;
			m->have_gid = 1;
		}
	} else if (strcmp(k, "umask") == 0) {
		if (parse_num(val, 8, 0777, &n) != 0)
			return usage_error("umask=%s: not an octal mode of at most 0777", val);
		m->umask = (mode_t)n;
	} else {
		if (parse_num(val, 10, 1024, &n) != 0 || n == 0)
			return usage_error("%s=%s: not a number from 1 to 1024", k, val);
		if (strcmp(k, "max_threads") == 0)
			m->max_threads = (unsigned)n;
		else
			m->max_idle_threads = (unsigned)n;
	}
	return 0;
}

/* Apply one of our options (by its definition) with its value, if any;
 * 0 or an exit code (printed). */
static int apply(struct parse *p, const struct opt_def *d, const char *val)
{
	struct ckptfs_opts *m = p->o;
	ckpt_error err = CKPT_ERROR_INIT;
	int rc = 0;
	const char *k = d->name;

	if (d->cls == C_MODE) {
		enum ckptfs_mode mode = strcmp(k, "list") == 0	    ? CKPTFS_MODE_LIST
					: strcmp(k, "dry-run") == 0 ? CKPTFS_MODE_DRY_RUN
					: strcmp(k, "show") == 0    ? CKPTFS_MODE_SHOW
								    : CKPTFS_MODE_LIST_TARGETS;
		if (p->have_mode && m->mode == mode && mode == CKPTFS_MODE_SHOW)
			return usage_error("--show takes one NAME: show tensors one at a time");
		if (p->have_mode && m->mode != mode)
			return usage_error("%s and --%s cannot be used together",
					   mode_text(m->mode), k);
		m->mode = mode;
		m->show_name = val; /* argv: --show is not an -o option */
		p->have_mode = 1;
		return 0;
	}
	if (strcmp(k, "json") == 0)
		m->json = 1;
	else if (strcmp(k, "stats") == 0)
		m->stats = 1;
	else if (strcmp(k, "strict") == 0)
		m->strict = 1;
	else if (strcmp(k, "all") == 0)
		m->graph.roles |= CKPT_GRAPH_ALL_ROLES;
	else if (strcmp(k, "with-local") == 0)
		m->graph.roles |= CKPT_GRAPH_MODEL | CKPT_GRAPH_LOCAL;
	else if (strcmp(k, "debug") == 0)
		m->debug = m->foreground = 1;
	else if (strcmp(k, "map") == 0)
		rc = ckpt_map_parse_arg(val, &m->entries, &m->n_entries, &err);
	else if (strcmp(k, "map-file") == 0 || strcmp(k, "map_file") == 0)
		rc = ckpt_map_load_file(val, &m->entries, &m->n_entries, &err);
	else if (strcmp(k, "targets") == 0)
		/* read by ckptfs_load_targets(): -o values do not outlive their list */
		return set_string(&m->targets_path, val);
	else if (strcmp(k, "tag") == 0) {
		if (set_string(&m->tag, val))
			return CKPTFS_EXIT_SOFTWARE;
		m->graph.tag = m->tag;
	} else if (strcmp(k, "cast") == 0) {
		if (m->n_casts == sizeof(m->casts) / sizeof(m->casts[0]))
			return usage_error("too many --cast options");
		rc = ckpt_cast_parse_arg(val, &m->casts[m->n_casts], &err);
		if (rc == 0)
			m->n_casts++;
	} else if (strcmp(k, "perm") == 0) {
		rc = ckpt_perm_parse_arg(val, &m->perms, &m->n_perms, &err);
	} else if (strcmp(k, "format") == 0) {
		static const char *const f[] = {"raw", "npy", "tf", "safetensors", NULL};
		int i = pick(k, val, f);
		if (i < 0)
			return CKPTFS_EXIT_USAGE;
		m->format = (enum ckptfs_format)i;
	} else if (strcmp(k, "names") == 0) {
		static const char *const v[] = {"readable", "key", NULL};
		int i = pick(k, val, v);
		if (i < 0)
			return CKPTFS_EXIT_USAGE;
		m->names_key = i == 1;
	} else if (strcmp(k, "key-sep") == 0 || strcmp(k, "key_sep") == 0) {
		if (strlen(val) != 1 || val[0] < 0x21 || val[0] > 0x7e)
			return usage_error(
			    "--key-sep takes one printable ASCII character, not '%s'", val);
		m->key_sep = val[0];
	} else if (strcmp(k, "verify") == 0) {
		static const char *const v[] = {"none", "read", "mount", NULL};
		int i = pick(k, val, v);
		if (i < 0)
			return CKPTFS_EXIT_USAGE;
		m->verify = (enum ckptfs_verify)i;
	} else if (strcmp(k, "xattr") == 0) {
		static const char *const x[] = {"on", "off", NULL};
		int i = pick(k, val, x);
		if (i < 0)
			return CKPTFS_EXIT_USAGE;
		m->no_xattr = i == 1;
	} else if (strcmp(k, "log") == 0) {
		return set_string(&m->log_file, val);
	} else if (strcmp(k, "term_wait") == 0) {
		char *end;
		long s = strtol(val, &end, 10);
		if (end == val || *end != '\0' || s < 0 || s > 86400)
			return usage_error("--term_wait takes seconds (0..86400), not %s", val);
		m->term_wait = (int)s;
	} else if (d->cls == C_REMOTE) {
		return ckptfs_remote_option(&m->remote, k, val);
	} else if (strcmp(k, "uid") == 0 || strcmp(k, "gid") == 0 || strcmp(k, "umask") == 0 ||
		   strcmp(k, "max_threads") == 0 || strcmp(k, "max_idle_threads") == 0) {
		return owner_or_loop(m, k, val);
	}
	return rc ? ckptfs_fail(rc, &err) : 0;
}

/* One option of an -o list (fuse_opt_parse's callback): ours are applied,
 * the rest kept for FUSE. */
static int o_option(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct parse *p = data;
	(void)outargs;
	if (key != FUSE_OPT_KEY_OPT) /* nothing else is in the list we build */
		return 1;
	const char *eq = strchr(arg, '=');
	size_t len = eq ? (size_t)(eq - arg) : strlen(arg);
	const struct opt_def *d = find_def(arg, len);
	if (d == NULL || !d->o_ok) {
		see(p, C_FUSE, "-o ", arg);
		if (fuse_opt_add_opt_escaped(&p->o->fuse_opts, arg) != 0) {
			p->code = CKPTFS_EXIT_SOFTWARE;
			return -1;
		}
		return 0;
	}
	see(p, d->cls, "-o ", d->name);
	if (d->has_arg == no_argument && eq)
		p->code = usage_error("-o %s takes no value", d->name);
	else if (d->has_arg == required_argument && eq == NULL)
		p->code = usage_error("-o %s needs a value (-o %s=...)", d->name, d->name);
	else
		p->code = apply(p, d, eq ? eq + 1 : NULL);
	return p->code ? -1 : 0;
}

static int o_list(struct parse *p, const char *list)
{
	char *argv[] = {"ckptfs", "-o", (char *)list, NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	p->code = 0;
	int rc = fuse_opt_parse(&args, p, NULL, o_option);
	fuse_opt_free_args(&args);
	if (rc != 0 && p->code == 0)
		p->code = CKPTFS_EXIT_SOFTWARE; /* fuse_opt_parse printed why */
	return p->code;
}

/* An option getopt_long did not take; the message shows it as typed. */
static int bad_option(const char *typed, int optopt_, const struct option *longopts)
{
	if (optopt_ >= OPT_LONG_BASE)
		return usage_error("--%s takes no value", longopts[optopt_ - OPT_LONG_BASE].name);
	if (optopt_ > 0)
		return usage_error("unknown option -%c", optopt_);
	const char *name = typed + strspn(typed, "-");
	size_t len = strcspn(name, "=");
	const char *near = nearest(name, len);
	if (near)
		return usage_error("unknown option %.*s (did you mean --%s?)",
				   (int)(name + len - typed), typed, near);
	return usage_error("unknown option %.*s", (int)(name + len - typed), typed);
}

/* The options given must all apply to the mode. */
static int check_mode(const struct parse *p)
{
	static const unsigned allowed[] = {
	    [CKPTFS_MODE_MOUNT] = 1u << C_MAP | 1u << C_GRAPH | 1u << C_MOUNT | 1u << C_FUSE |
				  1u << C_REMOTE | 1u << C_VERIFY,
	    [CKPTFS_MODE_LIST] = 1u << C_JSON | 1u << C_REMOTE | 1u << C_STATS | 1u << C_VERIFY,
	    [CKPTFS_MODE_DRY_RUN] = 1u << C_JSON | 1u << C_MAP | 1u << C_GRAPH | 1u << C_REMOTE,
	    [CKPTFS_MODE_LIST_TARGETS] = 1u << C_JSON | 1u << C_GRAPH,
	    [CKPTFS_MODE_SHOW] = 1u << C_REMOTE | 1u << C_VERIFY,
	};
	const struct ckptfs_opts *o = p->o;
	if (p->seen[C_STATS][0] && o->mode != CKPTFS_MODE_LIST)
		return usage_error("--stats applies to --list only, not to %s", mode_text(o->mode));
	if (p->seen[C_VERIFY][0] && o->mode == CKPTFS_MODE_LIST && !o->stats)
		return usage_error("%s applies to --list only with --stats", p->seen[C_VERIFY]);
	if ((o->mode == CKPTFS_MODE_SHOW || o->mode == CKPTFS_MODE_LIST) &&
	    o->verify == CKPTFS_VERIFY_MOUNT)
		return usage_error("--verify mount applies to a mount; %s takes none or read",
				   mode_text(o->mode));
	for (int c = C_JSON; c < C_OTHER; c++)
		if (p->seen[c][0] && !(allowed[o->mode] & 1u << c))
			return usage_error("%s does not apply to %s", p->seen[c],
					   mode_text(o->mode));
	if (o->key_sep && o->format != CKPTFS_FORMAT_SAFETENSORS)
		return usage_error("--key-sep applies to --format safetensors");
	if (p->seen[C_GRAPH][0] && o->mode != CKPTFS_MODE_LIST_TARGETS && o->targets_path == NULL)
		return usage_error("%s applies to --targets GRAPH or --list-targets",
				   p->seen[C_GRAPH]);
	return 0;
}

static int check_operands(const struct ckptfs_opts *o, int n, char **pos)
{
	int want = o->mode == CKPTFS_MODE_MOUNT ? 2 : 1;
	if (n > want && o->mode != CKPTFS_MODE_MOUNT)
		return usage_error("too many arguments: %s (%s mounts nothing)", pos[want],
				   mode_text(o->mode));
	if (n > want)
		return usage_error("too many arguments: %s", pos[want]);
	if (n == want)
		return 0;
	if (o->mode == CKPTFS_MODE_MOUNT)
		return usage_error(n == 0 ? "missing CHECKPOINT and MOUNTPOINT"
					  : "missing MOUNTPOINT (or a mode: --list, --dry-run)");
	return usage_error("%s needs a %s", mode_text(o->mode),
			   o->mode == CKPTFS_MODE_LIST_TARGETS ? "GRAPH" : "CHECKPOINT");
}

int ckptfs_opts_parse(int argc, char **argv, struct ckptfs_opts *o)
{
	struct option longopts[N_DEFS + 1];
	struct parse p = {.o = o};
	memset(o, 0, sizeof(*o));
	o->verify = CKPTFS_VERIFY_READ;
	o->term_wait = CKPTFS_TERM_WAIT;
	o->remote.o = (ckpt_remote_opts)CKPT_REMOTE_OPTS_INIT;
	for (size_t i = 0; i < N_DEFS; i++) {
		/* --help and --version are -h and -V */
		int val = strcmp(defs[i].name, "help") == 0	 ? 'h'
			  : strcmp(defs[i].name, "version") == 0 ? 'V'
								 : OPT_LONG_BASE + (int)i;
		longopts[i] = (struct option){defs[i].name, defs[i].has_arg, NULL, val};
	}
	longopts[N_DEFS] = (struct option){NULL, 0, NULL, 0};

	opterr = 0;
	optind = 1;
	int c, code = 0;
	while (code == 0 && (c = getopt_long(argc, argv, ":hVfdso:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			for (size_t i = 0; i < sizeof(usage) / sizeof(usage[0]); i++)
				fputs(usage[i], stdout);
			o->mode = CKPTFS_MODE_HELP;
			return 0;
		case 'V':
			printf("ckptfs %s\n", CKPTFS_VERSION);
			o->mode = CKPTFS_MODE_VERSION;
			return 0;
		case 'f':
			see(&p, C_MOUNT, "", "-f");
			o->foreground = 1;
			break;
		case 'd':
			see(&p, C_MOUNT, "", "-d");
			o->debug = o->foreground = 1;
			break;
		case 's':
			see(&p, C_MOUNT, "", "-s");
			o->single_thread = 1;
			break;
		case 'o': code = o_list(&p, optarg); break;
		case ':':
			if (optopt >= OPT_LONG_BASE)
				code = usage_error("--%s needs a value",
						   longopts[optopt - OPT_LONG_BASE].name);
			else
				code = usage_error("-%c needs a value", optopt);
			break;
		case '?': code = bad_option(argv[optind - 1], optopt, longopts); break;
		default: {
			const struct opt_def *d = &defs[c - OPT_LONG_BASE];
			see(&p, d->cls, "--", d->name);
			code = apply(&p, d, optarg);
		}
		}
	}
	if (code)
		return code;
	if ((code = check_mode(&p)) != 0)
		return code;
	if ((code = check_operands(o, argc - optind, argv + optind)) != 0)
		return code;
	o->checkpoint = argv[optind];
	o->mountpoint = o->mode == CKPTFS_MODE_MOUNT ? argv[optind + 1] : NULL;
	return 0;
}

void ckptfs_opts_free(struct ckptfs_opts *m)
{
	ckpt_map_entries_free(m->entries, m->n_entries);
	ckpt_targets_free(m->targets, m->n_targets);
	ckpt_perm_rules_free(m->perms, m->n_perms);
	free(m->fuse_opts);
	free(m->log_file);
	free(m->targets_path);
	free(m->tag);
	ckptfs_remote_free(&m->remote);
}
