#!/usr/bin/env python3
"""Real mounts through the kernel: every fixture with no map, a mapped and
re-typed mount, error paths, EROFS, EIO for a corrupt tensor, concurrent
random reads, the mount.fuse3 path, and the daemon's life: a relative
mountpoint unmounted by SIGTERM, a daemon that cannot start serving (no
worker thread under tight limits), `-o rw` still read-only.

usage: mount_test.py CKPTFS CKPT_DUMP CKPT_GEN DATA_DIR
Needs /dev/fuse and fusermount3; skips (77) without them, except under
CI=true, where it fails. Fixtures come from $CKPT_FIXTURES.
"""
import errno
import json
import os
import random
import resource
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

CKPTFS, DUMP, GEN, DATA = sys.argv[1:5]
CI = os.environ.get("CI") == "true"
failures = []
counts = {"files": 0, "mounts": 0}


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


PACK = {"float32": "f", "float64": "d", "int8": "b", "int16": "h", "int32": "i",
        "int64": "q", "uint8": "B", "uint16": "H", "uint32": "I", "uint64": "Q",
        "bool": "B", "float16": "H", "bfloat16": "H", "qint8": "b", "quint8": "B",
        "qint32": "i", "qint16": "h", "quint16": "H"}


def pack1(fmt, v):
    """One value; ckpt-dump writes NaN and infinities as "bits:HEX"."""
    if isinstance(v, str) and v.startswith("bits:"):
        return int(v[5:], 16).to_bytes(struct.calcsize(fmt), "little")
    return struct.pack("<" + fmt, v)


def expected_bytes(t):
    """The file bytes DESIGN.md promises, built from ckpt-dump's values."""
    dt, vals = t["dtype"], t["values"]
    if dt == "string":
        raw = [bytes.fromhex(v) for v in vals]
        if not t["shape"]:
            return raw[0]
        return b"".join(struct.pack("<Q", len(r)) + r for r in raw)
    if dt in ("complex64", "complex128"):
        f = "f" if dt == "complex64" else "d"
        return b"".join(pack1(f, x) for v in vals for x in v)
    return b"".join(pack1(PACK[dt], v) for v in vals)


class Mount:
    def __init__(self, ckpt, *opts, expect_ok=True):
        self.dir = tempfile.mkdtemp(prefix="ckptfs-mnt-")
        p = subprocess.run([CKPTFS, ckpt, self.dir, *opts], capture_output=True,
                           text=True, timeout=60)
        self.rc, self.err = p.returncode, p.stderr
        self.ok = p.returncode == 0 and os.path.ismount(self.dir)
        if expect_ok:
            check(self.ok, f"mount {ckpt} {opts}: rc {p.returncode} {p.stderr.strip()}")
        counts["mounts"] += self.ok

    def __enter__(self):
        return self

    def __exit__(self, *a):
        if os.path.ismount(self.dir):
            subprocess.run(["fusermount3", "-u", self.dir], check=False)
        os.rmdir(self.dir)


def files_of(root):
    out = {}
    for d, _, fs in os.walk(root):
        for f in fs:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = p
    return out


def fixture_prefixes(root):
    """Every checkpoint INVENTORY.md lists (V1 and V2)."""
    prefixes = []
    with open(os.path.join(root, "INVENTORY.md"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("# ") and "(V" in line:
                rel = line.split()[1]
                prefixes.append(os.path.join(root, rel[:-6] if rel.endswith(".index") else rel))
    check(len(prefixes) >= 40, f"only {len(prefixes)} fixtures")
    return prefixes


def preflight():
    """(fixtures folder, None), or (None, the exit code) without FUSE or
    fixtures: skip (77), or fail under CI=true."""
    if not os.path.exists("/dev/fuse") or shutil.which("fusermount3") is None:
        print("no FUSE here")
        return None, 1 if CI else 77
    root = os.environ.get("CKPT_FIXTURES", "")
    if not os.path.isdir(root):
        print("no fixtures folder")
        return None, 1 if CI else 77
    return root, None


def fixtures_unmapped(root):
    for pfx in fixture_prefixes(root):
        dump = json.loads(subprocess.run([DUMP, pfx], capture_output=True, text=True,
                                         check=True).stdout)
        with Mount(pfx) as m:
            if not m.ok:
                continue
            files = files_of(m.dir)
            want_paths = {escape_path(t["name"], dump) for t in dump} | {"@mapping.json"}
            check(set(files) == want_paths,
                  f"{pfx}: files {sorted(files)} want {sorted(want_paths)}")
            for t in dump:
                p = os.path.join(m.dir, escape_path(t["name"], dump))
                if not os.path.exists(p):
                    continue
                want = expected_bytes(t)
                with open(p, "rb") as f:
                    got = f.read()
                counts["files"] += 1
                check(got == want, f"{pfx}: {t['name']} bytes differ ({len(got)} vs {len(want)})")
                check(os.stat(p).st_size == len(want), f"{pfx}: {t['name']} size")
                check(os.getxattr(p, "user.ckpt.dtype").decode() == t["dtype"],
                      f"{pfx}: {t['name']} xattr dtype")
                check(os.getxattr(p, "user.ckpt.source").decode() == t["name"],
                      f"{pfx}: {t['name']} xattr source")
                check(os.getxattr(p, "user.ckpt.shape").decode() ==
                      "[" + ",".join(str(d) for d in t["shape"]) + "]",
                      f"{pfx}: {t['name']} xattr shape")
            # cp -r of the mount equals the files
            with tempfile.TemporaryDirectory() as cp:
                dst = os.path.join(cp, "c")
                subprocess.run(["cp", "-r", m.dir, dst], check=True)
                for rel, p in files.items():
                    with open(p, "rb") as a, open(os.path.join(dst, rel), "rb") as b:
                        check(a.read() == b.read(), f"{pfx}: cp -r differs at {rel}")


def escape_path(name, dump):
    """DESIGN.md tree rules: @= escapes, @value for a name that is also a scope."""
    comps = []
    for c in name.split("/"):
        if c in ("", ".", "..") or c.startswith("@"):
            c = "@=" + c
        comps.append(c)
    names = {t["name"] for t in dump}
    if any(n.startswith(name + "/") for n in names):
        comps.append("@value")
    return "/".join(comps)


def mapped_and_errors(root):
    bundle = os.path.join(root, "tf_contrib_framework_bundle_checkpoint/bundle_checkpoint")
    with Mount(bundle, "-o", "map=some_scope/=new/,cast=float32=bfloat16") as m:
        if m.ok:
            with open(os.path.join(m.dir, "new/embeddings"), "rb") as f:
                got = f.read()
            want = b"".join(struct.pack("<I", struct.unpack("<I", struct.pack("<f", float(i)))[0])[2:]
                            for i in range(80))
            check(got == want, "bfloat16 embeddings through -o map=,cast=")
            p = os.path.join(m.dir, "new/embeddings")
            for op in (lambda: open(p, "r+b"), lambda: open(os.path.join(m.dir, "x"), "wb"),
                       lambda: os.mkdir(os.path.join(m.dir, "d")), lambda: os.unlink(p),
                       lambda: os.rename(p, p + "2"),
                       lambda: os.setxattr(p, "user.x", b"1")):
                try:
                    op()
                    check(False, "a write succeeded")
                except OSError as e:
                    check(e.errno == errno.EROFS, f"write gave {e.errno}, want EROFS")
            check(not os.path.exists(os.path.join(m.dir, "nope")), "nope exists")
            with open(os.path.join(m.dir, "@mapping.json")) as f:
                mapping = json.load(f)
            dry = subprocess.run([CKPTFS, "--dry-run", "--json", "--map", "some_scope/=new/",
                                  "--cast", "float32=bfloat16", bundle],
                                 capture_output=True, text=True)
            check(mapping == json.loads(dry.stdout), "@mapping.json != --dry-run --json")
    # --xattr off: no user.ckpt.* attributes, and the kernel stops asking
    with Mount(bundle, "--xattr", "off") as m:
        if m.ok:
            p = os.path.join(m.dir, "some_scope/indices")
            try:
                os.getxattr(p, "user.ckpt.dtype")
                check(False, "--xattr off: getxattr succeeded")
            except OSError as e:
                check(e.errno in (errno.EOPNOTSUPP, errno.ENODATA),
                      f"--xattr off: getxattr gave {e.errno}")
            try:
                check(os.listxattr(p) == [], "--xattr off: listxattr not empty")
            except OSError as e:
                check(e.errno == errno.EOPNOTSUPP, f"--xattr off: listxattr gave {e.errno}")
            with open(p, "rb") as f:
                check(f.read() == struct.pack("<5q", 3, 4, 5, 6, 7), "--xattr off: bytes")
    # errors: nothing mounted, documented exit codes
    with Mount(bundle, "--map", "some_scope/nope=x", expect_ok=False) as m:
        check(m.rc == 67 and "is not found in" in m.err and not os.path.ismount(m.dir),
              f"bad map: rc {m.rc} {m.err}")
    with Mount(bundle + "-missing", expect_ok=False) as m:
        check(m.rc == 66 and not os.path.ismount(m.dir), f"missing ckpt: rc {m.rc} {m.err}")
    r = subprocess.run([CKPTFS, bundle, "/nonexistent/mnt"], capture_output=True, text=True)
    check(r.returncode == 71, f"missing mountpoint: rc {r.returncode} {r.stderr}")
    with tempfile.TemporaryDirectory() as d:
        open(os.path.join(d, "f"), "w").close()
        r = subprocess.run([CKPTFS, bundle, d], capture_output=True, text=True)
        check(r.returncode == 71 and "not empty" in r.stderr and not os.path.ismount(d),
              f"non-empty mountpoint: rc {r.returncode} {r.stderr}")
    # a corrupted tensor: EIO for that file, the other reads fine
    with tempfile.TemporaryDirectory() as d:
        for ext in (".index", ".data-00000-of-00001"):
            shutil.copy(bundle + ext, os.path.join(d, "b" + ext))
        with open(os.path.join(d, "b.data-00000-of-00001"), "r+b") as f:
            f.seek(100)
            b = f.read(1)
            f.seek(100)
            f.write(bytes([b[0] ^ 0x40]))
        with Mount(os.path.join(d, "b")) as m:
            if m.ok:
                try:
                    with open(os.path.join(m.dir, "some_scope/embeddings"), "rb") as f:
                        f.read()
                    check(False, "corrupt tensor read without error")
                except OSError as e:
                    check(e.errno == errno.EIO, f"corrupt read gave {e.errno}, want EIO")
                with open(os.path.join(m.dir, "some_scope/indices"), "rb") as f:
                    check(f.read() == struct.pack("<5q", 3, 4, 5, 6, 7), "indices next to corrupt")
        with Mount(os.path.join(d, "b"), "--verify=mount", expect_ok=False) as m:
            check(m.rc == 65 and not os.path.ismount(m.dir), f"--verify=mount: rc {m.rc}")


def concurrent_reads():
    """8 threads, random ranges of many files (partitioned, sharded) for 3 s."""
    with tempfile.TemporaryDirectory() as d:
        pfx = os.path.join(d, "g")
        subprocess.run([GEN, os.path.join(DATA, "shards.json"), pfx], check=True)
        dump = {t["name"]: t for t in json.loads(subprocess.run(
            [DUMP, pfx], capture_output=True, text=True, check=True).stdout)}
        with Mount(pfx) as m:
            if not m.ok:
                return
            want = {}
            for name, t in dump.items():
                want[os.path.join(m.dir, escape_path(name, list(dump.values())))] = expected_bytes(t)
            paths = list(want)
            errors = []
            stop = time.time() + 3
            done = [0]

            def worker(seed):
                rng = random.Random(seed)
                while time.time() < stop:
                    p = rng.choice(paths)
                    w = want[p]
                    off = rng.randrange(len(w) + 1)
                    n = rng.randrange(1, 70000)
                    fd = os.open(p, os.O_RDONLY)
                    try:
                        got = os.pread(fd, n, off)
                    finally:
                        os.close(fd)
                    if got != w[off:off + n]:
                        errors.append(f"{p} at {off}+{n}")
                    done[0] += 1

            ts = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            check(not errors, f"concurrent reads: {len(errors)} mismatches, e.g. {errors[:3]}")
            check(done[0] > 100, f"only {done[0]} concurrent reads")
            counts["reads"] = done[0]


def mount_fuse3(root):
    """mount(8) -> mount.fuse3 -> `ckptfs SRC MNT -o OPTS`, both ways of naming the type."""
    bundle = os.path.join(root, "tf_contrib_framework_bundle_checkpoint/bundle_checkpoint")
    with tempfile.TemporaryDirectory() as bindir:
        os.symlink(os.path.abspath(CKPTFS), os.path.join(bindir, "ckptfs"))
        env = dict(os.environ, PATH=bindir + ":" + os.environ.get("PATH", ""))
        # mount(8) resets PATH, so with it the program is named by its path;
        # mount.fuse3 called directly finds `ckptfs` on the caller's PATH.
        opts = ["-o", "map=some_scope/=new/,cast=float32=bfloat16"]
        for how in ("mount", "mount.fuse3"):
            mnt = tempfile.mkdtemp(prefix="ckptfs-mnt-")
            if how == "mount":
                args = ["mount", "-t", "fuse", os.path.abspath(CKPTFS) + "#" + bundle, mnt]
            else:
                args = ["mount.fuse3", bundle, mnt, "-t", "ckptfs"]
            try:
                r = subprocess.run(args + opts,
                                   capture_output=True, text=True, env=env, timeout=60)
                p = os.path.join(mnt, "new/embeddings")
                check(r.returncode == 0 and os.path.exists(p) and
                      os.getxattr(p, "user.ckpt.dtype") == b"bfloat16",
                      f"{how}: rc {r.returncode} {r.stderr.strip()}")
            finally:
                if os.path.ismount(mnt):
                    subprocess.run(["fusermount3", "-u", mnt], check=False)
                os.rmdir(mnt)


def in_mounts(path):
    """Is path a mount point, a dead FUSE mount too (os.path.ismount stats
    it, which fails with ENOTCONN on a dead one)?"""
    with open("/proc/mounts") as f:
        return any(line.split()[1] == path for line in f)


def mount_options(path):
    with open("/proc/mounts") as f:
        return next((line.split()[3].split(",") for line in f if line.split()[1] == path), [])


def daemon_of(argv):
    """The pid of the process whose command line is exactly argv, or None."""
    want = b"".join(a.encode() + b"\0" for a in argv)
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if d.isdigit() and f.read() == want:
                    return int(d)
        except OSError:
            pass
    return None


def wait_gone(pid):
    """Wait (at most 30 s) until pid has exited; False if it has not."""
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.02)
    return False


def relative_mountpoint(pfx):
    """`ckptfs CKPT relmnt` from a cwd, then SIGTERM: the daemon runs in /,
    so the unmount must use the absolute path: the mount is gone (not left
    dead) and a filesystem mounted at /relmnt (as root: a tmpfs) stays."""
    name = f"ckptfs-relmnt-{os.getpid()}"
    decoy = "/" + name
    root = os.geteuid() == 0
    with tempfile.TemporaryDirectory() as d:
        mnt = os.path.join(d, name)
        os.mkdir(mnt)
        if root:
            os.mkdir(decoy)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "ckptfs-decoy", decoy],
                           check=True)
            open(os.path.join(decoy, "marker"), "w").close()
        argv = [CKPTFS, pfx, name]
        try:
            r = subprocess.run(argv, cwd=d, capture_output=True, text=True, timeout=60)
            check(r.returncode == 0 and in_mounts(mnt),
                  f"relative mountpoint: rc {r.returncode} {r.stderr.strip()}")
            pid = daemon_of(argv)
            if check(pid is not None, "relative mountpoint: no daemon found"):
                check("@mapping.json" in os.listdir(mnt), "relative mountpoint: not serving")
                os.kill(pid, signal.SIGTERM)
                check(wait_gone(pid), "relative mountpoint: the daemon outlived SIGTERM")
            check(not in_mounts(mnt), "relative mountpoint: still (dead) mounted after SIGTERM")
            if root:
                check(in_mounts(decoy) and os.path.exists(os.path.join(decoy, "marker")),
                      f"relative mountpoint: SIGTERM unmounted {decoy}")
        finally:
            if in_mounts(mnt):
                subprocess.run(["umount", "-l", mnt] if root else
                               ["fusermount3", "-uz", mnt], check=False)
            if root:
                if in_mounts(decoy):
                    subprocess.run(["umount", decoy], check=False)
                os.rmdir(decoy)


def start_failure(pfx):
    """A daemon that cannot create its first worker thread (a real limit:
    a stack rlimit larger than the address space, so the thread's stack
    cannot be mapped; and, where the build runs under it, ulimit -v with a
    stack larger than it): exit 70 with one line, nothing left mounted,
    with and without -f."""
    hard_as = resource.getrlimit(resource.RLIMIT_AS)[1]
    big = 100 << 40

    def limits(stack, vm=None):
        def f():
            resource.setrlimit(resource.RLIMIT_STACK, (stack, resource.RLIM_INFINITY))
            if vm is not None:
                resource.setrlimit(resource.RLIMIT_AS, (vm, hard_as))
        return f

    env = {k: v for k, v in os.environ.items() if k != "FUSE_THREAD_STACK"}
    cases = [("stack rlimit 100 TiB", limits(big))]
    # ulimit -v 1 GiB, stack 2 GiB; a sanitized build cannot start under -v
    tight = limits(2 << 30, 1 << 30)
    if subprocess.run([CKPTFS, "--version"], preexec_fn=tight,
                      capture_output=True).returncode == 0:
        cases.append(("ulimit -v 1 GiB", tight))
    else:
        check(b"__asan_init" in open(CKPTFS, "rb").read(),
              "ckptfs --version fails under ulimit -v 1 GiB")
    for what, pre in cases:
        for fg in ([], ["-f"]):
            mnt = tempfile.mkdtemp(prefix="ckptfs-mnt-")
            try:
                r = subprocess.run([CKPTFS, *fg, pfx, mnt], preexec_fn=pre, env=env,
                                   capture_output=True, text=True, timeout=60)
                err = r.stderr.splitlines()
                check(r.returncode == 70 and len(err) == 1 and
                      "could not start serving" in err[0] and not in_mounts(mnt),
                      f"{what} {fg}: rc {r.returncode}, mounted {in_mounts(mnt)}, "
                      f"stderr {r.stderr.strip()[-1500:]!r}")
                counts["start failures"] = counts.get("start failures", 0) + 1
            finally:
                if in_mounts(mnt):
                    subprocess.run(["fusermount3", "-uz", mnt], check=False)
                os.rmdir(mnt)


def mount_checks(pfx):
    """-o rw is still mounted ro; a missing mountpoint is one exact line
    (and, under valgrind, no uninitialised read in the check)."""
    with Mount(pfx, "-o", "rw") as m:
        if m.ok:
            opts = mount_options(m.dir)
            check("ro" in opts and "rw" not in opts, f"-o rw: mounted {opts}")
    for mnt in ("/nonexistent/mnt", "relmissing"):
        r = subprocess.run([CKPTFS, pfx, mnt], capture_output=True, text=True)
        check(r.returncode == 71 and
              r.stderr == f"ckptfs: mountpoint {mnt}: No such file or directory\n",
              f"missing mountpoint {mnt}: rc {r.returncode} {r.stderr!r}")
    if shutil.which("valgrind") and b"__asan_init" not in open(CKPTFS, "rb").read():
        r = subprocess.run(["valgrind", "-q", "--error-exitcode=99", CKPTFS, pfx,
                            "/nonexistent/mnt"], capture_output=True, text=True)
        check(r.returncode == 71, f"valgrind, missing mountpoint: rc {r.returncode} "
              f"{r.stderr[-1500:]}")
    else:
        check(not CI or b"__asan_init" in open(CKPTFS, "rb").read(), "valgrind missing")


def daemon_life():
    with tempfile.TemporaryDirectory() as d:
        pfx = os.path.join(d, "g")
        subprocess.run([GEN, os.path.join(DATA, "shards.json"), pfx], check=True)
        relative_mountpoint(pfx)
        start_failure(pfx)
        mount_checks(pfx)


NPY_LOADER = r"""
import json, sys
import numpy as np
out = {}
for p in sys.argv[1:]:
    a = np.load(p)
    out[p] = [a.dtype.str, list(a.shape), a.tobytes().hex()]
print(json.dumps(out))
"""

NPY_DESCR = {"bool": "|b1", "int8": "|i1", "uint8": "|u1", "int16": "<i2", "uint16": "<u2",
             "int32": "<i4", "uint32": "<u4", "int64": "<i8", "uint64": "<u8",
             "float16": "<f2", "bfloat16": "<u2", "float32": "<f4", "float64": "<f8",
             "complex64": "<c8", "complex128": "<c16"}


def npy_format():
    """numpy.load (Debian's python3-numpy) of every --format npy file."""
    py = "/usr/bin/python3"
    if subprocess.run([py, "-c", "import numpy"], capture_output=True).returncode:
        check(not CI, "python3-numpy missing under CI")
        return
    with tempfile.TemporaryDirectory() as d:
        for desc in ("all_dtypes.json", "strings.json"):
            pfx = os.path.join(d, desc)
            subprocess.run([GEN, os.path.join(DATA, desc), pfx], check=True)
            dump = json.loads(subprocess.run([DUMP, pfx], capture_output=True, text=True,
                                             check=True).stdout)
            with Mount(pfx, "--format", "npy") as m:
                if not m.ok:
                    continue
                paths = {t["name"]: os.path.join(m.dir, escape_path(t["name"], dump) + ".npy")
                         for t in dump}
                got = json.loads(subprocess.run([py, "-c", NPY_LOADER, *paths.values()],
                                                capture_output=True, text=True,
                                                check=True).stdout)
                for t in dump:
                    descr, shape, data = got[paths[t["name"]]]
                    check(shape == t["shape"], f"npy {t['name']}: shape {shape}")
                    if t["dtype"] == "string":
                        vals = [bytes.fromhex(v) for v in t["values"]]
                        width = max([1] + [len(v) for v in vals])
                        want = b"".join(v.ljust(width, b"\0") for v in vals)
                        check(descr == f"|S{width}", f"npy {t['name']}: descr {descr}")
                    else:
                        want = expected_bytes(t)
                        check(descr == NPY_DESCR[t["dtype"]], f"npy {t['name']}: descr {descr}")
                    check(bytes.fromhex(data) == want, f"npy {t['name']}: data differs")
                    counts["npy"] = counts.get("npy", 0) + 1


TF_TARGETS = {"variables": [
    {"name": "new/rows3", "dtype": "bfloat16", "shape": [10, 3], "partitions": [4, 1]},
    {"name": "new/cols2", "dtype": "int64", "shape": [4, 5], "partitions": [1, 2]},
    {"name": "new/plain", "dtype": "float64", "shape": [2]},
    {"name": "new/one_part", "dtype": "float32", "shape": [5, 2]}]}


def tf_format():
    """--format tf: cp the two files out; the copy is a checkpoint that lists
    the plan's targets and holds their bytes (the raw mount's files)."""
    with tempfile.TemporaryDirectory() as d:
        pfx = os.path.join(d, "p")
        subprocess.run([GEN, os.path.join(DATA, "partitioned.json"), pfx], check=True)
        tj = os.path.join(d, "targets.json")
        with open(tj, "w") as f:
            json.dump(TF_TARGETS, f)
        opts = ["--targets", tj, "--map", "/=new/"]
        with Mount(pfx, "--format", "tf", *opts) as m:
            if not m.ok:
                return
            check(sorted(os.listdir(m.dir)) ==
                  ["@mapping.json", "ckpt.data-00000-of-00001", "ckpt.index"],
                  f"--format tf files: {sorted(os.listdir(m.dir))}")
            out = os.path.join(d, "copy")
            os.mkdir(out)
            subprocess.run(["cp", os.path.join(m.dir, "ckpt.index"),
                            os.path.join(m.dir, "ckpt.data-00000-of-00001"), out], check=True)
            for n in ("ckpt.index", "ckpt.data-00000-of-00001"):
                check(os.path.getsize(os.path.join(out, n)) ==
                      os.stat(os.path.join(m.dir, n)).st_size, f"--format tf: {n} size")
        with Mount(pfx, "-o", "format=tf,map=/=new/,targets=" + tj) as m:
            if m.ok:
                with open(os.path.join(m.dir, "ckpt.index"), "rb") as x, \
                        open(os.path.join(out, "ckpt.index"), "rb") as y:
                    check(x.read() == y.read(), "-o format=tf: another ckpt.index")
        got = subprocess.run([CKPTFS, "--list", "--json", os.path.join(out, "ckpt")],
                             capture_output=True, text=True)
        plan = json.loads(subprocess.run([CKPTFS, "--dry-run", "--json", *opts, pfx],
                                         capture_output=True, text=True, check=True).stdout)
        want = sorted({(f["name"], f["dtype"]) for f in plan})
        want = [{"name": n, "dtype": t,
                 "shape": next(v["shape"] for v in TF_TARGETS["variables"] if v["name"] == n)}
                for n, t in want]
        listed = json.loads(got.stdout) if got.returncode == 0 else None
        check(listed is not None and
              [{k: t[k] for k in ("name", "dtype", "shape")} for t in listed] == want,
              f"--format tf copy lists {got.stdout.strip()} {got.stderr.strip()}, want {want}")
        # the copy mounted raw shows the same bytes as the source mounted raw
        with Mount(pfx, *opts) as a, Mount(os.path.join(out, "ckpt"), "--targets", tj) as b:
            if a.ok and b.ok:
                fa, fb = files_of(a.dir), files_of(b.dir)
                fa.pop("@mapping.json")
                fb.pop("@mapping.json")
                check(sorted(fa) == sorted(fb), f"--format tf copy files {sorted(fb)}")
                for rel in fa:
                    if rel in fb:
                        with open(fa[rel], "rb") as x, open(fb[rel], "rb") as y:
                            check(x.read() == y.read(), f"--format tf copy: {rel} differs")
                        counts["tf"] = counts.get("tf", 0) + 1


TFC_SPEC = {"tensors": [
    {"name": "rows", "dtype": "float32", "shape": [10, 3], "pattern": "random:31"},
    {"name": "cols", "dtype": "int64", "shape": [4, 5], "pattern": "random:32"},
    {"name": "whole", "dtype": "float64", "shape": [6], "pattern": "random:33"},
    {"name": "vocab", "dtype": "string", "shape": [3], "values": ["a", "bc", "defgh"]},
    {"name": "unused", "dtype": "float32", "shape": [8], "pattern": "random:34"}]}
TFC_TARGETS = {"variables": [
    {"name": "new/rows", "dtype": "bfloat16", "shape": [10, 3], "partitions": [3, 1]},
    {"name": "new/cols", "dtype": "int64", "shape": [4, 5], "partitions": [1, 2]},
    {"name": "new/whole", "dtype": "float64", "shape": [6]},
    {"name": "new/vocab", "dtype": "string", "shape": [3]}]}


def tf_corrupt_source():
    """--format tf over a corrupt source: refused with exit 65 and TF's
    checksum text naming the tensor, whatever --verify says (else the
    served index would carry fresh CRCs over the corrupt bytes): a tensor
    split in row parts (checked from the bytes the index is built from), in
    column parts (read again), whole, strings. A corrupt tensor the map
    leaves out does not matter."""
    with tempfile.TemporaryDirectory() as d:
        pfx, spec, tj = (os.path.join(d, n) for n in ("c", "spec.json", "targets.json"))
        for path, obj in ((spec, TFC_SPEC), (tj, TFC_TARGETS)):
            with open(path, "w") as f:
                json.dump(obj, f)
        subprocess.run([GEN, spec, pfx], check=True)
        dump = {t["name"]: t for t in json.loads(subprocess.run(
            [DUMP, pfx], capture_output=True, text=True, check=True).stdout)}
        shard = pfx + ".data-00000-of-00001"
        with open(shard, "rb") as f:
            data = f.read()

        def flip_in(name):
            """Flip the last byte of tensor `name` (a string's last byte)."""
            want = expected_bytes(dump[name]) if name != "vocab" else b"defgh"
            at = data.find(want)
            check(at >= 0 and data.find(want, at + 1) < 0, f"--format tf: {name} not found")
            end = at + len(want) - 1
            with open(shard, "wb") as f:
                f.write(data[:end] + bytes([data[end] ^ 0x40]) + data[end + 1:])

        opts = ["--format", "tf", "--targets", tj, "--map", "/=new/"]
        for name in ("rows", "cols", "whole", "vocab"):
            flip_in(name)
            for more in ([], ["--verify", "none"], ["--verify=mount"], ["-o", "verify=none"]):
                with Mount(pfx, *opts, *more, expect_ok=False) as m:
                    check(m.rc == 65 and not os.path.ismount(m.dir) and
                          f"tensor {name}" in m.err and "Checksum does not match" in m.err and
                          m.err.count("\n") == 1,
                          f"--format tf, {name} corrupt, {more}: rc {m.rc} {m.err.strip()}")
                    counts["tf refused"] = counts.get("tf refused", 0) + 1
        flip_in("unused")  # not a target: never read
        with Mount(pfx, *opts) as m:
            check(m.ok and os.path.getsize(os.path.join(m.dir, "ckpt.index")) > 0,
                  "--format tf: unused corrupt tensor")


def main():
    root, code = preflight()
    if root is None:
        return code
    fixtures_unmapped(root)
    mapped_and_errors(root)
    concurrent_reads()
    npy_format()
    tf_format()
    tf_corrupt_source()
    mount_fuse3(root)
    daemon_life()
    for f in failures:
        print("FAIL:", f)
    print(f"{counts['mounts']} mounts, {counts['files']} fixture files compared, "
          f"{counts.get('reads', 0)} concurrent reads, {counts.get('npy', 0)} npy files loaded, "
          f"{counts.get('tf', 0)} --format tf files compared, "
          f"{counts.get('start failures', 0)} start failures, "
          f"{counts.get('tf refused', 0)} corrupt --format tf mounts refused, "
          f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
