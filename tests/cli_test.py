#!/usr/bin/env python3
"""ckptfs --dry-run from the command line: every map option form, --json,
TF's error texts, bad JSON positions and the exit codes of README/exitcodes.h.

usage: cli_test.py CKPTFS CKPT_GEN

Expected specs and messages are the spec's (init_from_checkpoint_semantics.md
§10 and slices_and_partitions.md §3), not the program's.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

CKPTFS, GEN = sys.argv[1], sys.argv[2]
EX_OK, EX_USAGE, EX_NOINPUT, EX_MAP = 0, 64, 66, 67

failures = []
count = 0


def check(cond, what):
    global count
    count += 1
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def run(*args):
    p = subprocess.run([CKPTFS, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


tmp = tempfile.mkdtemp(prefix="ckptfs-cli-")
try:
    def write(name, text):
        path = os.path.join(tmp, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    desc = write("sec10.json", json.dumps({"tensors": [
        {"name": "old_scope_1/var1", "dtype": "float32", "shape": [20, 2]},
        {"name": "old_scope_1/var2", "dtype": "float32", "shape": [50, 4]},
        {"name": "old_scope_2/var3", "dtype": "float32", "shape": [100, 100],
         "partitions": [3, 1]}]}))
    CK = os.path.join(tmp, "model.ckpt")
    subprocess.run([GEN, desc, CK], check=True)
    targets = write("targets.json", json.dumps({"variables": [
        {"name": "new_scope_1/var1", "dtype": "float32", "shape": [20, 2]},
        {"name": "new_scope_2/var2", "dtype": "float32", "shape": [50, 4]},
        {"name": "new_scope_2/var3", "dtype": "float32", "shape": [100, 100],
         "partitions": [5, 1]}]}))

    def lines(out):
        return [l.split("\t") for l in out.splitlines()]

    # identity: every tensor under its own name, sizes exact
    rc, out, err = run("--dry-run", CK)
    check(rc == EX_OK, "identity exit 0: %d %s" % (rc, err))
    got = [(l[0], l[1], l[2], l[3], l[5]) for l in lines(out)]
    check(got == [("old_scope_1/var1", "float32", "[20,2]", "160", "old_scope_1/var1"),
                  ("old_scope_1/var2", "float32", "[50,4]", "800", "old_scope_1/var2"),
                  ("old_scope_2/var3", "float32", "[100,100]", "40000", "old_scope_2/var3")],
          "identity plan: %r" % got)

    # §10 row 3: one tensor onto a partitioned target, --map and --json
    specs = ["100 100 %d,20:0,100" % (20 * k) for k in range(5)]
    rc, out, err = run("--dry-run", "--json", "--targets", targets,
                       "--map", "old_scope_2/var3=new_scope_2/var3", CK)
    check(rc == EX_OK, "part specs exit 0: %s" % err)
    plan = json.loads(out) if rc == 0 else []
    check([f["path"] for f in plan] == ["new_scope_2/var3/part_%d" % k for k in range(5)],
          "part paths %r" % [f.get("path") for f in plan])
    check([f["slice"] for f in plan] == specs, "part specs")
    check(all(f["size"] == 8000 and f["shape"] == [20, 100] and
              f["source"] == "old_scope_2/var3" for f in plan), "part sizes")
    # the text form carries the same specs
    rc, out, err = run("--dry-run", "--targets", targets,
                       "--map", "old_scope_2/var3=new_scope_2/var3", CK)
    check(rc == EX_OK and [l[-1] for l in lines(out)] == specs, "text specs")

    # --map-file: object form (§10 row 1) and array form (row 2)
    obj = write("obj.json", '{"old_scope_1/": "new_scope_1/"}')
    rc, out, err = run("--dry-run", "--targets", targets, "--map-file", obj, CK)
    check(rc == EX_OK and [l[0] for l in lines(out)] == ["new_scope_1/var1"],
          "map-file object: %d %r %s" % (rc, out, err))
    arr = write("arr.json", '[["old_scope_1/var1", "new_scope_1/var1"],\n'
                            ' ["old_scope_1/var2", "new_scope_2/var2"]]')
    rc, out, err = run("--dry-run", "--targets", targets, "--map-file", arr, CK)
    check(rc == EX_OK and [(l[0], l[5]) for l in lines(out)] ==
          [("new_scope_1/var1", "old_scope_1/var1"), ("new_scope_2/var2", "old_scope_1/var2")],
          "map-file array: %d %r %s" % (rc, out, err))
    # array form allows a repeated key: one tensor feeds two variables
    rep = write("rep.json", '[["old_scope_1/var1", "a/x"], ["old_scope_1/var1", "b/y"]]')
    rc, out, err = run("--dry-run", "--map-file", rep, CK)
    check(rc == EX_OK and [l[0] for l in lines(out)] == ["a/x", "b/y"],
          "array with repeated key: %d %r %s" % (rc, out, err))

    # §10 row 4: not found, TF's text with the checkpoint as given
    rc, out, err = run("--dry-run", "--targets", targets, "--map", "old_scope_1/=new_scope_2/", CK)
    check(rc == EX_MAP, "not found exit 67: %d" % rc)
    check("Tensor old_scope_1/var3 (var3 in old_scope_1/) is not found in %s checkpoint" % CK
          in err, "not found text: %s" % err)
    check(out == "", "nothing printed on error")
    # §10 last row: scope-only name
    rc, out, err = run("--dry-run", "--targets", targets,
                       "--map", "old_scope_1/var1=new_scope_1/varX", CK)
    check(rc == EX_MAP and "Assignment map with scope only name new_scope_1 should map to "
          "scope only old_scope_1/var1. Should be 'scope/': 'other_scope/'." in err,
          "scope-only: %d %s" % (rc, err))

    # --cast, and its -o forms give the same plan
    want = None
    for args in (["--map", "old_scope_1/=new/", "--cast", "float32=bfloat16"],
                 ["--map=old_scope_1/=new/", "--cast=float32=bfloat16"],
                 ["-o", "map=old_scope_1/=new/,cast=float32=bfloat16"],
                 ["-omap=old_scope_1/=new/", "-o", "cast=float32=bfloat16"]):
        rc, out, err = run("--dry-run", *args, CK)
        check(rc == EX_OK, "%r exit 0: %s" % (args, err))
        got = [(l[0], l[1], l[3]) for l in lines(out)]
        check(got == [("new/var1", "bfloat16", "80"), ("new/var2", "bfloat16", "400")],
              "%r plan %r" % (args, got))
        want = want or out
        check(out == want, "%r same output" % args)
    rc, out, err = run("--dry-run", "-o", "map-file=%s,targets=%s" % (obj, targets), CK)
    check(rc == EX_OK and [l[0] for l in lines(out)] == ["new_scope_1/var1"],
          "-o map-file/targets: %d %s" % (rc, err))

    # --strict: TF's RestoreV2 dtype text when a target has another dtype
    t64 = write("t64.json", json.dumps({"variables": [
        {"name": "new_scope_1/var1", "dtype": "float64", "shape": [20, 2]}]}))
    rc, out, err = run("--dry-run", "--strict", "--targets", t64,
                       "--map", "old_scope_1/=new_scope_1/", CK)
    check(rc == EX_MAP and "tensor_name = old_scope_1/var1; expected dtype double does not "
          "equal original dtype float" in err, "strict dtype: %d %s" % (rc, err))
    # without --strict the same targets re-type
    rc, out, err = run("--dry-run", "--targets", t64, "--map", "old_scope_1/=new_scope_1/", CK)
    check(rc == EX_OK and lines(out)[0][1] == "float64" and lines(out)[0][3] == "320",
          "re-typed by targets: %d %r %s" % (rc, out, err))
    rc, out, err = run("--dry-run", "-o", "strict", "--targets", t64,
                       "--map", "old_scope_1/=new_scope_1/", CK)
    check(rc == EX_MAP, "-o strict: %d" % rc)

    # bad JSON: FILE:LINE:COL
    bad = write("bad.json", '{"old_scope_1/": "new/",\n  "x": }\n')
    rc, out, err = run("--dry-run", "--map-file", bad, CK)
    check(rc == EX_MAP and re.search(re.escape(bad) + r":2:\d+: ", err), "bad json: %d %s" % (rc, err))
    badt = write("badt.json", '{"variables": [\n\n  {"name": "a",, }]}')
    rc, out, err = run("--dry-run", "--targets", badt, CK)
    check(rc == EX_MAP and re.search(re.escape(badt) + r":3:\d+: ", err),
          "bad targets json: %d %s" % (rc, err))
    rc, out, err = run("--dry-run", "--map", "noequals", CK)
    check(rc == EX_MAP, "map without '=': %d %s" % (rc, err))

    # usage errors: 64
    for args in (["--dry-run", "--bogus", CK], ["--dry-run"], ["--dry-run", CK, "extra", "more"],
                 ["--dry-run", CK, "--map"], ["--dry-run", "-o", "nosuch=1", CK]):
        rc, out, err = run(*args)
        check(rc == EX_USAGE, "%r exit 64: %d" % (args, rc))
    # missing checkpoint: 66 with TF's text
    rc, out, err = run("--dry-run", os.path.join(tmp, "nope"))
    check(rc == EX_NOINPUT and "Failed to find any matching files for" in err,
          "missing checkpoint: %d %s" % (rc, err))
    # paths are mount paths: "@=" escapes, "@value" for a name that is
    # also a scope (DESIGN.md "The tree inside the mount")
    odd = write("odd.json", json.dumps({"tensors": [
        {"name": n, "dtype": "int8", "shape": [1]}
        for n in ("dense/kernel", "dense/kernel/Adam", "@x/y", "a/./b", "c//d")]}))
    OD = os.path.join(tmp, "odd")
    subprocess.run([GEN, odd, OD], check=True)
    rc, out, err = run("--dry-run", "--json", OD)
    paths = {p["name"]: p["path"] for p in json.loads(out)} if rc == 0 else {}
    check(paths == {"dense/kernel": "dense/kernel/@value", "dense/kernel/Adam": "dense/kernel/Adam",
                    "@x/y": "@=@x/y", "a/./b": "a/@=./b", "c//d": "c/@=/d"},
          "mount paths in --dry-run --json: %s %s" % (paths, err))

    # no map and no targets: every tensor as it is, even names TF's
    # {'/': '/'} would cut at "/part_" or strip of a trailing '/'; with a
    # map TF's rule (and its error) stays; a component too long for a file
    # name is @# + FNV-1a 64 (offset basis 14695981039346656037) + ~ + 200 bytes
    asis = write("asis.json", json.dumps({"tensors": [
        {"name": n, "dtype": "int8", "shape": [1]}
        for n in ("tagger/part_of_speech/embeddings", "ends/", "ends", "Y" * 300)]}))
    AS = os.path.join(tmp, "asis")
    subprocess.run([GEN, asis, AS], check=True)
    for args in ([], ["--json"]):
        rc, out, err = run("--dry-run", *args, AS)
        check(rc == EX_OK, "as is %r: exit %d %s" % (args, rc, err))
    rc, out, err = run("--dry-run", "--json", AS)
    paths = {p["name"]: p["path"] for p in json.loads(out)} if rc == 0 else {}
    check(paths == {"tagger/part_of_speech/embeddings": "tagger/part_of_speech/embeddings",
                    "ends/": "ends/@=", "ends": "ends/@value",
                    "Y" * 300: "@#9cd2434dae8fa9a1~" + "Y" * 200},
          "as is paths: %s %s" % (paths, err))
    rc, out, err = run("--dry-run", AS)
    check(rc == EX_OK and sorted(l[0] for l in lines(out)) ==
          sorted(paths.values()), "as is text: %r" % out)
    rc, out, err = run("--list", AS)
    check(rc == EX_OK and sorted(l[0] for l in lines(out)) ==
          sorted(["tagger/part_of_speech/embeddings", "ends/", "ends", "Y" * 300]),
          "as is --list: %r %s" % (out, err))
    y = "Y" * 300
    rc, out, err = run("--dry-run", "--json", "--map", y + "=" + y, AS)
    check(rc == EX_OK and
          [p["path"] for p in json.loads(out)] == ["@#9cd2434dae8fa9a1~" + "Y" * 200],
          "FNV-1a 64 short name: %d %s %s" % (rc, out[:200], err))
    rc, out, err = run("--dry-run", "--map", "/=/", AS)
    check(rc == EX_MAP and "Tensor tagger (agger in /) is not found in %s checkpoint" % AS in err,
          "--map /=/ keeps TF's rule: %d %s" % (rc, err))

    # a missing map or targets file: 66, naming the file
    for opt in ("--map-file", "--targets"):
        rc, out, err = run("--dry-run", opt, os.path.join(tmp, "absent.json"), CK)
        check(rc == EX_NOINPUT and "absent.json" in err, "%s missing: %d %s" % (opt, rc, err))
    rc, out, err = run("--dry-run", "--json", CK)
    check(rc == EX_OK and isinstance(json.loads(out), list), "--json identity")

    # names of 300 one-letter scopes: a directory per 2 bytes of index, more
    # tree than README's bound (8x the index + 1 MiB) allows: the mount is
    # refused with 65 before anything is mounted (a daemon would return 0)
    deep = write("deep.json", json.dumps({"tensors": [
        {"name": "t%d/" % i + "/".join("a" * 300), "dtype": "int8", "shape": []}
        for i in range(2000)]}))
    DP = os.path.join(tmp, "deep")
    subprocess.run([GEN, deep, DP], check=True)
    mnt = os.path.join(tmp, "mnt")
    os.mkdir(mnt)
    rc, out, err = run(DP, mnt)
    if rc == EX_OK:
        subprocess.run(["fusermount3", "-u", mnt], check=False)
    check(rc == 65 and "too many or too deep names" in err and DP in err,
          "deep names refused at mount: %d %s" % (rc, err))
    # command line (issue 13 point 8): a usage error is one line ending in
    # "try 'ckptfs --help'" and exit 64, nothing printed to stdout
    def one_line_usage(args, *want):
        rc, out, err = run(*args)
        lines_ = err.splitlines()
        check(rc == EX_USAGE and out == "" and len(lines_) == 1 and
              lines_[0].endswith("try 'ckptfs --help'") and all(w in err for w in want),
              "%r: one usage line with %r: %d %r" % (args, want, rc, err))

    one_line_usage([CK], "missing MOUNTPOINT")
    one_line_usage([], "missing CHECKPOINT and MOUNTPOINT")
    # conflicting modes and options that do not apply to the mode
    mnt2 = os.path.join(tmp, "mnt2")
    os.mkdir(mnt2)
    for args, want in (
            (["--list", "--dry-run", CK], ("--list", "--dry-run", "together")),
            (["--dry-run", "--list-targets", CK], ("--dry-run", "--list-targets")),
            (["--list", "--format", "npy", CK], ("--format", "--list")),
            (["--list", "--map", "a=b", CK], ("--map", "--list")),
            (["--dry-run", "--verify", "mount", CK], ("--verify", "--dry-run")),
            (["--dry-run", "-o", "format=npy", CK], ("-o format", "--dry-run")),
            (["--dry-run", "-f", CK], ("-f", "--dry-run")),
            (["--list-targets", "--targets", targets, CK], ("--targets", "--list-targets")),
            (["--dry-run", "--tag", "serve", CK], ("--tag", "--targets")),
            (["--json", CK, mnt2], ("--json", "a mount")),
            (["--dry-run", CK, "extra"], ("too many arguments", "extra"))):
        one_line_usage(args, *want)
    if os.path.ismount(mnt2):
        check(False, "--json on a mount mounted")
        subprocess.run(["fusermount3", "-u", mnt2], check=False)
    # an unknown option as typed, with the nearest known one
    one_line_usage(["--lst", CK], "unknown option --lst", "did you mean --list?")
    one_line_usage(["--dry-run", "--mpa=a=b", CK], "unknown option --mpa", "--map?")
    one_line_usage(["--dry-run", "--strict=1", CK], "--strict takes no value")
    one_line_usage(["--dry-run", CK, "--map"], "--map needs a value")
    # dtype names: the common aliases, and the accepted list for a wrong one
    for alias, name in (("bf16", "bfloat16"), ("fp16", "float16"), ("half", "float16"),
                        ("f64", "float64"), ("double", "float64")):
        rc, out, err = run("--dry-run", "--map", "old_scope_1/=new/", "--cast",
                           "f32=" + alias, CK)
        check(rc == EX_OK and [l[1] for l in lines(out)] == [name, name],
              "--cast f32=%s: %d %r %s" % (alias, rc, out, err))
    rc, out, err = run("--dry-run", "--cast", "float32=bf17", CK)
    check(rc == EX_MAP and "unknown dtype bf17" in err and
          all(n in err for n in ("bfloat16", "float16", "int64", "bf16", "fp16", "f32")),
          "unknown dtype lists the accepted names: %d %s" % (rc, err))
    # every option --help shows is in the man page
    rc, helptext, err = run("--help")
    man = open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fs",
                            "ckptfs.1")).read().replace("\\-", "-")
    man = re.sub(r"\\f[BIRP]", " ", man)  # font changes are not part of a word
    opts = set(re.findall(r"(?<![\w-])(--?[A-Za-z][\w-]*)", helptext))
    check(rc == EX_OK and len(opts) > 30, "options in --help: %d %r" % (rc, sorted(opts)))
    missing = sorted(o for o in opts if not re.search(r"(?<![\w-])" + re.escape(o) + r"(?![\w-])", man))
    check(missing == [], "options of --help missing from ckptfs.1: %r" % missing)
finally:
    shutil.rmtree(tmp)

print("%d checks, %d failed" % (count, len(failures)))
sys.exit(1 if failures else 0)
