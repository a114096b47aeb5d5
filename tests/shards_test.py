#!/usr/bin/env python3
"""Data shards are opened lazily and only regular files are read.

* Every V2 fixture of ../shared/fixtures, copied to a temp dir: `--list`,
  `--list --json`, `--dry-run` and `--dry-run --json` print exactly the
  same (stdout, stderr, exit status) with its .data files deleted as with
  them; so does `--dry-run [--json] --targets GRAPH` with the graph that
  SOURCE.txt pairs with tfx_estimator_taxi_ckpt. A mount of the shardless
  copy is refused before mounting: exit 66, the shard's name in one line.
* A FIFO as the .index, as a data shard or as the `checkpoint` state file,
  and a state file naming a FIFO or a directory: `--list` and a mount fail
  promptly (a timeout detects a hang) with exit 66 and "not a regular
  file"; a directory as a data shard: `--list` works, a mount is refused
  with exit 66.
* 400 shards under RLIMIT_NOFILE 256: `--list` works, and a mount (FUSE
  needed) serves every file exactly, its descriptors pooled.

usage: shards_test.py CKPTFS CKPT_GEN
"""
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile

CKPTFS, GEN = sys.argv[1:3]
CI = os.environ.get("CI") == "true"
FIXTURES = os.environ.get("CKPT_FIXTURES", "")
GRAPHS = os.environ.get("CKPT_GRAPHS", "")
TIMEOUT = 20  # seconds; the commands here take milliseconds, a hang is forever

failures = []
counts = {"checks": 0}


def check(cond, what):
    counts["checks"] += 1
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    return cond


def run(*args, limit=None):
    """(rc, stdout, stderr); rc None when it hung."""
    pre = None
    if limit:
        def pre():
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
    try:
        p = subprocess.run([CKPTFS, *args], capture_output=True, text=True,
                           timeout=TIMEOUT, preexec_fn=pre)
    except subprocess.TimeoutExpired:
        return None, "", "(hung: killed after %d s)" % TIMEOUT
    return p.returncode, p.stdout, p.stderr


def refused_mount(ckpt, what, code, needle, limit=None):
    """A mount of ckpt fails before mounting with code, needle in one line."""
    mnt = tempfile.mkdtemp(prefix="ckptfs-mnt-")
    try:
        rc, out, err = run(ckpt, mnt, limit=limit)
        mounted = os.path.ismount(mnt)
        if mounted:
            subprocess.run(["fusermount3", "-u", mnt], check=False)
        check(rc == code and not mounted and needle in err and err.count("\n") == 1,
              f"{what}: mount: rc {rc}, mounted {mounted}, want {code} and "
              f"{needle!r}: {err.strip()[:300]}")
    finally:
        os.rmdir(mnt)


def prefixes(d):
    return sorted(os.path.join(d, f[:-len(".index")]) for f in os.listdir(d)
                  if f.endswith(".index"))


def outputs(cmds):
    return [run(*c) for c in cmds]


def fixtures_without_shards(tmp):
    names = sorted(f for f in os.listdir(FIXTURES)
                   if os.path.isdir(os.path.join(FIXTURES, f)))
    for name in names:
        src = os.path.join(FIXTURES, name)
        if not prefixes(src):
            continue
        d = os.path.join(tmp, name)
        shutil.copytree(src, d, symlinks=True)
        for pfx in prefixes(d):
            cmds = [["--list", pfx], ["--list", "--json", pfx],
                    ["--dry-run", pfx], ["--dry-run", "--json", pfx]]
            want = outputs(cmds)
            check(want[0][0] == 0 and want[0][1],
                  f"{name}: --list with shards: rc {want[0][0]} {want[0][2][:200]}")
            shards = [f for f in os.listdir(d)
                      if f.startswith(os.path.basename(pfx) + ".data-")]
            for f in shards:
                os.unlink(os.path.join(d, f))
            got = outputs(cmds)
            for c, w, g in zip(cmds, want, got):
                check(g == w, f"{name}: {' '.join(c[:-1])} differs without shards: "
                              f"rc {g[0]} vs {w[0]}: {g[2][:300]}")
            counts["prefixes"] = counts.get("prefixes", 0) + 1
            if want[0][0] == 0 and want[0][1] and shards:
                refused_mount(pfx, name, 66, os.path.basename(pfx) + ".data-0")
        shutil.rmtree(d)


def graph_without_shards(tmp):
    meta = os.path.join(GRAPHS, "tfx_estimator_taxi_meta", "model.ckpt-1000.meta")
    with open(os.path.join(GRAPHS, "tfx_estimator_taxi_meta", "SOURCE.txt")) as f:
        check("shared/fixtures/tfx_estimator_taxi_ckpt" in f.read(),
              "SOURCE.txt of tfx_estimator_taxi_meta no longer names its checkpoint")
    d = os.path.join(tmp, "taxi")
    shutil.copytree(os.path.join(FIXTURES, "tfx_estimator_taxi_ckpt"), d)
    pfx = os.path.join(d, "model.ckpt-1000")
    cmds = [["--dry-run", "--json", "--targets", meta, pfx],
            ["--dry-run", "--targets", meta, pfx],
            ["--dry-run", "--json", "--all", "--targets", meta, pfx]]
    want = outputs(cmds)
    check(want[0][0] == 0 and len(json.loads(want[0][1])) > 5,
          f"taxi --targets with shards: rc {want[0][0]} {want[0][2][:300]}")
    os.unlink(pfx + ".data-00000-of-00001")
    for c, w, g in zip(cmds, want, outputs(cmds)):
        check(g == w, f"taxi {' '.join(c[:-1])} differs without shards: {g[2][:300]}")
    refused_mount(pfx, "taxi --targets", 66, "model.ckpt-1000.data-00000-of-00001")
    shutil.rmtree(d)


def not_regular(tmp):
    d = os.path.join(tmp, "fifo")
    os.mkdir(d)
    spec = os.path.join(d, "spec.json")
    with open(spec, "w") as f:
        json.dump({"num_shards": 2, "tensors": [
            {"name": "a", "dtype": "float32", "shape": [3], "shard": 0},
            {"name": "b", "dtype": "int64", "shape": [2], "shard": 1}]}, f)
    pfx = os.path.join(d, "m")
    subprocess.run([GEN, spec, pfx], check=True)
    shard1 = pfx + ".data-00001-of-00002"
    keep = open(shard1, "rb").read()

    def fails(args, what, needle):
        rc, out, err = run(*args)
        check(rc == 66 and needle in err and err.count("\n") == 1,
              f"{what}: rc {rc}, want 66 and {needle!r}: {err.strip()[:300]}")

    # a data shard: --list needs none; a mount refuses it
    for kind, make in (("FIFO", os.mkfifo), ("directory", os.mkdir)):
        if os.path.lexists(shard1):
            os.unlink(shard1)
        make(shard1)
        rc, out, err = run("--list", pfx)
        check(rc == 0 and out.startswith("a\tfloat32\t[3]\nb\tint64\t[2]"),
              f"--list with a {kind} as shard: rc {rc} {err.strip()}")
        refused_mount(pfx, f"{kind} as shard", 66,
                      f"m.data-00001-of-00002: cannot open data file for tensor b: "
                      f"not a regular file (a {kind})")
        (os.rmdir if kind == "directory" else os.unlink)(shard1)
    with open(shard1, "wb") as f:
        f.write(keep)
    # the index
    os.rename(pfx + ".index", pfx + ".idx")
    os.mkfifo(pfx + ".index")
    fails(["--list", pfx], "FIFO as .index: --list", "m.index: not a regular file (a FIFO)")
    refused_mount(pfx, "FIFO as .index", 66, "m.index: not a regular file (a FIFO)")
    os.unlink(pfx + ".index")
    os.rename(pfx + ".idx", pfx + ".index")
    # the state file, and what it names
    state = os.path.join(d, "checkpoint")
    os.mkfifo(state)
    fails(["--list", d], "FIFO as checkpoint", "checkpoint: not a regular file (a FIFO)")
    refused_mount(d, "FIFO as checkpoint", 66, "checkpoint: not a regular file (a FIFO)")
    os.unlink(state)
    os.mkfifo(os.path.join(d, "p"))
    for target, kind in (("p", "FIFO"), ("..", "directory"), (d, "directory")):
        with open(state, "w") as f:
            f.write('model_checkpoint_path: "%s"\n' % target)
        fails(["--list", d], f"checkpoint naming a {kind} ({target})",
              f"not a regular file (a {kind})")
        refused_mount(d, f"checkpoint naming a {kind}", 66, f"not a regular file (a {kind})")
    # and a good one still works
    with open(state, "w") as f:
        f.write('model_checkpoint_path: "m"\n')
    rc, out, err = run("--list", d)
    check(rc == 0 and out.count("\n") == 2, f"state file naming m: rc {rc} {err}")


def many_shards(tmp, fuse):
    n = 400
    d = os.path.join(tmp, "many")
    os.mkdir(d)
    tensors = [{"name": "t/%04d" % k, "dtype": "float32", "shape": [k % 7 + 1],
                "pattern": "iota", "shard": k} for k in range(n)]
    tensors.append({"name": "emb", "dtype": "float32", "shape": [40, 3],
                    "partitions": [40, 1], "pattern": "iota",
                    "shard": [k * 10 + 5 for k in range(40)]})
    spec = os.path.join(d, "spec.json")
    with open(spec, "w") as f:
        json.dump({"num_shards": n, "tensors": tensors}, f)
    pfx = os.path.join(d, "m")
    subprocess.run([GEN, spec, pfx], check=True)
    rc, out, err = run("--list", pfx, limit=256)
    check(rc == 0 and out.count("\n") == n + 1,
          f"--list of {n} shards under nofile 256: rc {rc} {err.strip()[:300]}")
    if not fuse:
        return
    want = {"emb": struct.pack("<120f", *range(120))}
    for k in range(n):
        m = k % 7 + 1
        want["t/%04d" % k] = struct.pack("<%df" % m, *range(m))
    mnt = tempfile.mkdtemp(prefix="ckptfs-mnt-")
    try:
        rc, out, err = run(pfx, mnt, limit=256)
        if not check(rc == 0 and os.path.ismount(mnt),
                     f"mount of {n} shards under nofile 256: rc {rc} {err.strip()[:300]}"):
            return
        bad = []
        for rnd in range(2):  # the second pass reopens what the pool closed
            for name, w in sorted(want.items(), reverse=rnd == 1):
                try:
                    with open(os.path.join(mnt, name), "rb") as f:
                        got = f.read()
                except OSError as e:
                    got = repr(e)
                if got != w:
                    bad.append(name)
        check(not bad, f"{n} shards: {len(bad)} files read wrong: {bad[:5]}")
        counts["many_reads"] = 2 * len(want) - len(bad)
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", mnt], check=False)
        os.rmdir(mnt)


def main():
    if not os.path.isdir(FIXTURES) or not os.path.isdir(GRAPHS):
        print("fixtures or graphs folder absent")
        return 1 if CI else 77
    fuse = os.path.exists("/dev/fuse") and shutil.which("fusermount3") is not None
    if not fuse and CI:
        print("no FUSE here")
        return 1
    tmp = tempfile.mkdtemp(prefix="ckpt-shards-")
    try:
        fixtures_without_shards(tmp)
        graph_without_shards(tmp)
        not_regular(tmp)
        many_shards(tmp, fuse)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
