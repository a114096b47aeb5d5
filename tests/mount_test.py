#!/usr/bin/env python3
"""Real mounts through the kernel: every fixture with no map, a mapped and
re-typed mount, error paths, EROFS, EIO for a corrupt tensor, concurrent
random reads, the mount.fuse3 path, and the daemon's life: a relative
mountpoint unmounted by SIGTERM, a daemon that cannot start serving (no
worker thread under tight limits), `-o rw` still read-only; @mapping.json
against the files of every format and the --format tf `checkpoint` file;
modes, -o uid=, gid=, umask= as other users (as root), -o max_threads=.

usage: mount_test.py CKPTFS CKPT_DUMP CKPT_GEN DATA_DIR
Needs /dev/fuse and fusermount3; skips (77) without them, except under
CI=true, where it fails. Fixtures come from $CKPT_FIXTURES.
"""
import bisect
import errno
import grp
import json
import os
import pwd
import random
import resource
import shutil
import signal
import stat
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
        self.argv = [CKPTFS, ckpt, self.dir, *opts]
        p = subprocess.run(self.argv, capture_output=True, text=True, timeout=120)
        self.rc, self.err = p.returncode, p.stderr
        self.ok = p.returncode == 0 and os.path.ismount(self.dir)
        if expect_ok:
            check(self.ok, f"mount {ckpt} {opts}: rc {p.returncode} {p.stderr.strip()}")
        counts["mounts"] += self.ok

    def __enter__(self):
        return self

    def __exit__(self, *a):
        # busy while a mount of its files (a nested mount just unmounted)
        # has a daemon still closing them: a slow sanitized one takes a while
        for _ in range(300):
            if not os.path.ismount(self.dir):
                break
            r = subprocess.run(["fusermount3", "-u", self.dir], capture_output=True, text=True)
            if r.returncode != 0 and os.path.ismount(self.dir):
                time.sleep(0.1)
        else:
            print(r.stderr, end="")
        os.rmdir(self.dir)


def in_threads(fn, n):
    """fn(0) ... fn(n - 1), each in its own thread, all at once."""
    ts = [threading.Thread(target=fn, args=(i,)) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


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
            if any(t["name"] == OBJECT_GRAPH for t in dump):
                want_paths.add("@object_graph.json")
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


OBJECT_GRAPH = "_CHECKPOINTABLE_OBJECT_GRAPH"
INVENTED = ("value", "mapping.json", "object_graph.json")


def escape_component(c, tf2):
    """DESIGN.md: empty, ".", "..", "@..." get "@="; in a readable TF2 tree
    also a name ending in "@slots"."""
    if c in ("", ".", "..") or c.startswith("@") or (tf2 and c.endswith("@slots")):
        return "@=" + c
    return c


def tf2_readable(name):
    """README "TF2 checkpoints": the readable path of an object-based key,
    or None when it keeps its literal one."""
    c = name.split("/")
    if len(c) < 3 or c[-2] != ".ATTRIBUTES":
        return None
    path, attr = c[:-2], c[-1]
    if path == [""]:
        path = []  # the root object
    if ".ATTRIBUTES" in path or path.count(".OPTIMIZER_SLOT") > 1:
        return None
    value = attr == "VARIABLE_VALUE"
    if value and not path:
        return None
    if not value and (not attr or len(attr) > 200 or attr[0] in "=#" or attr in INVENTED):
        return None
    if ".OPTIMIZER_SLOT" in path:
        s = path.index(".OPTIMIZER_SLOT")
        var, rest = path[:s], path[s + 1:]
        if not var or len(rest) < 2:
            return None
        last = var[-1]
        if last in ("", ".", "..") or last.startswith("@") or len(last) + 6 > 255:
            return None
        out = [escape_component(x, True) for x in var[:-1]] + [last + "@slots"]
        out += [escape_component(x, True) for x in rest]
    else:
        out = [escape_component(x, True) for x in path]
    if not value:
        out.append("@" + attr)
    return "/".join(out)


_shown = {}


def shown_paths(names, names_key=False):
    """{name: path in the mount} of an unmapped mount: DESIGN.md's escapes
    and @value, and in an object-based checkpoint (unless names_key) the
    readable paths, a clashing one kept literal."""
    key = (tuple(names), names_key)
    if key in _shown:
        return _shown[key]
    tf2 = OBJECT_GRAPH in names and not names_key
    literal = {n: "/".join(escape_component(c, tf2) for c in n.split("/")) for n in names}
    paths = {n: (tf2_readable(n) if tf2 else None) or literal[n] for n in names}
    count = {}
    for p in paths.values():
        count[p] = count.get(p, 0) + 1
    paths = {n: literal[n] if count[p] > 1 else p for n, p in paths.items()}
    ordered = sorted(paths.values())
    out = {}
    for n, p in paths.items():
        i = bisect.bisect_right(ordered, p)
        below = i < len(ordered) and ordered[i].startswith(p + "/")
        out[n] = p + "/@value" if below else p
    _shown[key] = out
    return out


def escape_path(name, dump):
    """The path of tensor `name` in an unmapped mount of the checkpoint
    that `dump` (ckpt-dump's list) describes."""
    return shown_paths([t["name"] for t in dump])[name]


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

            in_threads(worker, 8)
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
                  ["@mapping.json", "checkpoint", "ckpt.data-00000-of-00001", "ckpt.index"],
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


def generate(d, spec, targets):
    """The checkpoint d/c written from spec, and targets as d/targets.json."""
    pfx, sp, tj = (os.path.join(d, n) for n in ("c", "spec.json", "targets.json"))
    for path, obj in ((sp, spec), (tj, targets)):
        with open(path, "w") as f:
            json.dump(obj, f)
    subprocess.run([GEN, sp, pfx], check=True)
    return pfx, tj


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
        pfx, tj = generate(d, TFC_SPEC, TFC_TARGETS)
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


# A variable that is also a scope (@value, NAME.npy beside NAME/), names
# whose shown order differs between formats ("a" < "a.b", but "a.b.npy" <
# "a.npy"), strings (sized by the mount only), parts, a cast.
MAP_SPEC = {"tensors": [
    {"name": "dense/kernel", "dtype": "float32", "shape": [4, 8], "pattern": "random:1"},
    {"name": "dense/kernel/Adam", "dtype": "float32", "shape": [4, 8], "pattern": "random:2"},
    {"name": "a", "dtype": "int32", "shape": [3]},
    {"name": "a.b", "dtype": "int64", "shape": [2]},
    {"name": "vocab", "dtype": "string", "shape": [3], "values": ["x", "yz", "long word"]},
    {"name": "title", "dtype": "string", "shape": [], "values": ["hello"]},
    {"name": "emb", "dtype": "float32", "shape": [10, 2], "pattern": "random:3"}]}
MAP_TARGETS = {"variables": [
    {"name": "dense/kernel", "dtype": "bfloat16", "shape": [4, 8]},
    {"name": "dense/kernel/Adam", "dtype": "float32", "shape": [4, 8]},
    {"name": "a", "dtype": "int32", "shape": [3]},
    {"name": "a.b", "dtype": "int64", "shape": [2]},
    {"name": "vocab", "dtype": "string", "shape": [3]},
    {"name": "title", "dtype": "string", "shape": []},
    {"name": "emb", "dtype": "float32", "shape": [10, 2], "partitions": [3, 1]}]}

TF_STATE = b'model_checkpoint_path: "ckpt"\nall_model_checkpoint_paths: "ckpt"\n'

# protobuf's text_format, as TensorFlow's checkpoint_management reads and
# writes the state file, over CheckpointState built from its .proto fields
# (spec/protos.md).
PROTO_CHECK = r"""
import sys
from google.protobuf import descriptor_pb2, descriptor_pool, text_format
try:
    from google.protobuf.message_factory import GetMessageClass
except ImportError:
    GetMessageClass = None
    from google.protobuf import message_factory
f = descriptor_pb2.FileDescriptorProto(name="checkpoint_state.proto", package="tensorflow")
m = f.message_type.add(name="CheckpointState")
T = descriptor_pb2.FieldDescriptorProto
for num, name, typ, lab in ((1, "model_checkpoint_path", T.TYPE_STRING, T.LABEL_OPTIONAL),
                            (2, "all_model_checkpoint_paths", T.TYPE_STRING, T.LABEL_REPEATED),
                            (3, "all_model_checkpoint_timestamps", T.TYPE_DOUBLE, T.LABEL_REPEATED),
                            (4, "last_preserved_timestamp", T.TYPE_DOUBLE, T.LABEL_OPTIONAL)):
    m.field.add(name=name, number=num, type=typ, label=lab)
pool = descriptor_pool.DescriptorPool()
pool.Add(f)
d = pool.FindMessageTypeByName("tensorflow.CheckpointState")
cls = GetMessageClass(d) if GetMessageClass else message_factory.MessageFactory(pool).GetPrototype(d)
text = open(sys.argv[1], "rb").read().decode("utf-8")
st = cls()
text_format.Merge(text, st)
print(repr((st.model_checkpoint_path, list(st.all_model_checkpoint_paths),
            text_format.MessageToString(st) == text)))
"""


def mapping_of(mnt):
    with open(os.path.join(mnt, "@mapping.json")) as f:
        return json.load(f)


def shown_files(pfx, tj):
    """raw and npy: each entry's path is a file of that size; all listed."""
    for fmt in ("raw", "npy"):
        with Mount(pfx, "--format", fmt, "--targets", tj) as m:
            if not m.ok:
                continue
            mp = mapping_of(m.dir)
            files = files_of(m.dir)
            files.pop("@mapping.json")
            paths = [e["path"] for e in mp]
            check(paths == sorted(paths), f"{fmt}: @mapping.json not sorted by path: {paths}")
            check(sorted(paths) == sorted(files),
                  f"{fmt}: @mapping.json paths {sorted(paths)}, mount files {sorted(files)}")
            for e in mp:
                p = os.path.join(m.dir, e["path"])
                ok = os.path.isfile(p)
                check(ok and os.stat(p).st_size == e["size"],
                      f"{fmt}: {e['path']}: size {e['size']}, "
                      f"file {os.stat(p).st_size if ok else 'missing'}")
                check("offset" not in e, f"{fmt}: {e['path']} has an offset")
                counts["mapping"] = counts.get("mapping", 0) + 1
            if fmt == "npy":
                check("dense/kernel.npy" in paths and "a.b.npy" in paths and
                      paths.index("a.b.npy") < paths.index("a.npy"),
                      f"npy paths {paths}")


def one_file_runs(pfx, tj, fmt, data):
    """tf, safetensors: each entry is its run of the one file holding every
    target; numeric runs hold the raw mount's bytes; the runs tile the file
    in order (safetensors: after its 8-byte length and header)."""
    with Mount(pfx, "--format", fmt, "--targets", tj) as t, \
            Mount(pfx, "--targets", tj) as r:
        if not (t.ok and r.ok):
            return
        mp = mapping_of(t.dir)
        raw = {(e["name"], e["slice"]): e for e in mapping_of(r.dir)}
        with open(os.path.join(t.dir, data), "rb") as f:
            blob = f.read()
        check(len(blob) == os.stat(os.path.join(t.dir, data)).st_size, f"{fmt}: file size")
        at = 8 + int.from_bytes(blob[:8], "little") if fmt == "safetensors" else 0
        for e in mp:
            check(e["path"] == data and os.path.isfile(os.path.join(t.dir, e["path"])),
                  f"{fmt}: path {e['path']}")
            check(e.get("offset") == at, f"{fmt}: {e['name']} {e['slice']} at "
                  f"{e.get('offset')}, want {at}")
            if "offset" not in e:
                continue
            at = e["offset"] + e["size"]
            src = raw.get((e["name"], e["slice"]))
            if check(src is not None, f"{fmt}: {e['name']} not in the raw mapping") and \
                    e["dtype"] != "string":
                with open(os.path.join(r.dir, src["path"]), "rb") as f:
                    want = f.read()
                check(blob[e["offset"]:e["offset"] + e["size"]] == want,
                      f"{fmt}: the run of {e['name']} {e['slice']} is not its raw bytes")
            counts["mapping"] = counts.get("mapping", 0) + 1
        check(at == len(blob), f"{fmt}: runs end at {at}, the file at {len(blob)}")
        check(len(mp) == len(raw), f"{fmt}: {len(mp)} entries, raw {len(raw)}")


def tf_state_file(pfx, tj):
    """cp -r of a --format tf mount is a checkpoint directory."""
    with tempfile.TemporaryDirectory() as d, Mount(pfx, "--format", "tf", "--targets", tj) as m:
        if not m.ok:
            return
        names = sorted(os.listdir(m.dir))
        check(names == ["@mapping.json", "checkpoint", "ckpt.data-00000-of-00001",
                        "ckpt.index"], f"tf: files {names}")
        sp = os.path.join(m.dir, "checkpoint")
        if not check(os.path.isfile(sp), "tf: no checkpoint state file"):
            return
        with open(sp, "rb") as f:
            state = f.read()
        check(state == TF_STATE, f"tf: checkpoint holds {state!r}")
        copy = os.path.join(d, "copied")
        subprocess.run(["cp", "-r", m.dir, copy], check=True)
        got = subprocess.run([CKPTFS, "--list", copy + "/"], capture_output=True, text=True)
        want = subprocess.run([CKPTFS, "--list", os.path.join(copy, "ckpt")],
                              capture_output=True, text=True)
        names = sorted(v["name"] for v in MAP_TARGETS["variables"])
        check(got.returncode == 0 and got.stdout == want.stdout and
              [ln.split("\t")[0] for ln in got.stdout.splitlines()] == names,
              f"ckptfs --list copied/: rc {got.returncode} {got.stdout!r} {got.stderr.strip()}")
        py = "/usr/bin/python3"
        if subprocess.run([py, "-c", "import google.protobuf"],
                          capture_output=True).returncode != 0:
            check(not CI, "python3-protobuf missing under CI")
            return
        r = subprocess.run([py, "-c", PROTO_CHECK, os.path.join(copy, "checkpoint")],
                           capture_output=True, text=True)
        check(r.returncode == 0 and r.stdout.strip() == repr(("ckpt", ["ckpt"], True)),
              f"text_format of checkpoint: rc {r.returncode} {r.stdout.strip()} "
              f"{r.stderr.strip()[-500:]}")
        counts["text_format"] = 1


def mapping_and_tf_state():
    """@mapping.json names the files the mount shows, in every format, and
    the --format tf view is a checkpoint directory (issue 13, points 6, 9):
    raw and npy: every `path` is a file whose st_size is its `size` (npy:
    NAME.npy with its header; strings too, which --dry-run cannot size),
    every file is listed once, sorted by the path as shown ("a.b.npy"
    before "a.npy"); tf and safetensors: `offset` and `size` are the
    target's run of the one file, the runs tile it, a numeric run holds
    the raw mount's bytes.
    The tf view's `checkpoint` state file makes `cp -r` of the mount a
    directory `ckptfs --list DIR/` reads, and its text parses with
    protobuf's text_format (as TensorFlow's get_checkpoint_state does)
    printing back to the same bytes (python3-protobuf, Debian)."""
    with tempfile.TemporaryDirectory() as d:
        pfx, tj = generate(d, MAP_SPEC, MAP_TARGETS)
        shown_files(pfx, tj)
        one_file_runs(pfx, tj, "tf", "ckpt.data-00000-of-00001")
        tf_state_file(pfx, tj)
        # safetensors holds no strings
        numeric = os.path.join(d, "numeric.json")
        with open(numeric, "w") as f:
            json.dump({"variables": [v for v in MAP_TARGETS["variables"]
                                     if v["dtype"] != "string"]}, f)
        one_file_runs(pfx, numeric, "safetensors", "model.safetensors")


NOBODY = 65534  # owner in the perms checks; OTHER is a uid and gid no file is for
OTHER = 65533
last_out = [b""]


def as_user(uid, gid, *argv):
    """Run argv as uid:gid (no other groups); (rc, stderr), stdout kept
    in the last_out list."""
    counts["as user"] = counts.get("as user", 0) + 1
    r = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                        *argv], capture_output=True, timeout=120)
    last_out[:] = [r.stdout]
    return r.returncode, r.stderr.decode(errors="replace")



def nodes(root):
    """Every path below root (root included)."""
    out = [root]
    for d, ds, fs in os.walk(root):
        out += [os.path.join(d, n) for n in ds + fs]
    return out


def modes(mnt, dmode, fmode, uid, gid, what):
    for p in nodes(mnt):
        st = os.lstat(p)
        want = (stat.S_IFDIR | dmode) if stat.S_ISDIR(st.st_mode) else (stat.S_IFREG | fmode)
        check(st.st_mode == want and st.st_uid == uid and st.st_gid == gid,
              f"{what}: {os.path.relpath(p, mnt)} is {oct(st.st_mode)} {st.st_uid}:{st.st_gid}, "
              f"want {oct(want)} {uid}:{gid}")


def erofs(path, what):
    """Every write to path (a file) and its directory fails with EROFS."""
    d = os.path.dirname(path)
    for name, op in (("open for write", lambda: open(path, "r+b")),
                     ("truncate", lambda: os.truncate(path, 0)),
                     ("chmod", lambda: os.chmod(path, 0o600)),
                     ("create", lambda: open(os.path.join(d, "new"), "wb")),
                     ("mkdir", lambda: os.mkdir(os.path.join(d, "newdir"))),
                     ("unlink", lambda: os.unlink(path))):
        try:
            op()
            check(False, f"{what}: {name} succeeded")
        except OSError as e:
            check(e.errno == errno.EROFS, f"{what}: {name} gave {errno.errorcode[e.errno]}")


def default_modes(pfx):
    """0755 / 0644, owner the mounting user; still read-only."""
    with Mount(pfx) as m:
        if m.ok:
            modes(m.dir, 0o755, 0o644, os.getuid(), os.getgid(), "default")
            erofs(os.path.join(m.dir, "dir/w"), "default, as the owner")
    with Mount(pfx, "-o", "default_permissions") as m:
        if m.ok:
            modes(m.dir, 0o755, 0o644, os.getuid(), os.getgid(), "-o default_permissions")


def copy_as_user(pfx):
    """A user's cp -r out of the mount, then rm -rf of the copy."""
    with Mount(pfx, "-o", "allow_other") as m, tempfile.TemporaryDirectory() as d:
        if not m.ok:
            return
        os.chown(d, NOBODY, NOBODY)
        copy = os.path.join(d, "copy")
        rc, err = as_user(NOBODY, NOBODY, "cp", "-r", m.dir, copy)
        check(rc == 0 and os.path.isfile(os.path.join(copy, "dir/w")),
              f"cp -r as a user: rc {rc} {err.strip()}")
        rc, err = as_user(NOBODY, NOBODY, "rm", "-rf", copy)
        check(rc == 0 and not os.path.exists(copy),
              f"rm -rf of the copy as the user: rc {rc} {err.strip()}")
        rc, err = as_user(NOBODY, NOBODY, "sh", "-c", f"echo x >> '{m.dir}/dir/w'")
        check(rc != 0 and "Read-only file system" in err, f"a user's write: {rc} {err.strip()}")


def owner_options(pfx):
    """uid=, gid=, umask= with allow_other: who may read is what the modes say."""
    u, g = pwd.getpwuid(NOBODY).pw_name, grp.getgrgid(NOBODY).gr_name
    for owner in ([f"uid={NOBODY}", f"gid={NOBODY}"], [f"uid={u}", f"gid={g}"]):
        opts = ",".join(["allow_other", *owner, "umask=027"])
        with Mount(pfx, "-o", opts) as m:
            if not m.ok:
                continue
            check("allow_other" not in m.err and "uid" not in m.err,
                  f"-o {opts}: stderr {m.err!r}")
            modes(m.dir, 0o750, 0o640, NOBODY, NOBODY, f"-o {opts}")
            f = os.path.join(m.dir, "dir/w")
            with open(f, "rb") as x:
                want = x.read()
            rc, err = as_user(NOBODY, NOBODY, "cat", f)
            check(rc == 0 and last_out[0] == want,
                  f"-o {opts}: the owner cannot read: {rc} {err.strip()}")
            rc, err = as_user(OTHER, NOBODY, "cat", f)
            check(rc == 0 and last_out[0] == want,
                  f"-o {opts}: a member of the group cannot read: {err.strip()}")
            rc, err = as_user(OTHER, OTHER, "cat", f)
            check(rc != 0 and "Permission denied" in err,
                  f"-o {opts}: another user: rc {rc} {err.strip()}")
            rc, err = as_user(OTHER, OTHER, "ls", m.dir)
            check(rc != 0 and "Permission denied" in err,
                  f"-o {opts}: another user lists the root: rc {rc} {err.strip()}")
            rc, err = as_user(NOBODY, NOBODY, "sh", "-c", f"echo x >> '{f}'")
            check(rc != 0 and "Read-only file system" in err,
                  f"-o {opts}: the owner's write: rc {rc} {err.strip()}")
            check(len(want) == 4 * 6, f"-o {opts}: {len(want)} bytes")
    with Mount(pfx, "-o", "allow_other,umask=077") as m:
        if m.ok:
            modes(m.dir, 0o700, 0o600, os.getuid(), os.getgid(), "-o umask=077")
            rc, err = as_user(NOBODY, NOBODY, "cat", os.path.join(m.dir, "dir/w"))
            check(rc != 0 and "Permission denied" in err, f"umask=077, another user: {err}")


def warnings_and_errors(pfx):
    with Mount(pfx, "-o", f"uid={NOBODY}") as m:
        warned = [ln for ln in m.err.splitlines() if "allow_other" in ln]
        check(m.ok and len(warned) == 1 and "warning" in warned[0],
              f"uid= without allow_other: {m.err!r}")
    for bad in ("uid=no-such-user-ckptfs", "gid=no-such-group-ckptfs", "umask=8", "umask=1000",
                "umask=", "max_threads=0", "max_threads=1025", "max_idle_threads=x"):
        with Mount(pfx, "-o", bad, expect_ok=False) as m:
            check(m.rc == 64 and not m.ok and m.err.count("\n") == 1 and
                  "try 'ckptfs --help'" in m.err, f"-o {bad}: rc {m.rc} {m.err!r}")


def threads(pfx):
    """-o max_threads=N: 8 readers at once, never more than N workers in
    the daemon; the bytes are right. The threads that are not workers (the
    main one, SIGTERM's waiter) are counted with max_threads=1 first: with
    2 there is at most one more. (Idle threads as many as workers: a worker
    that ends, idle past max_idle_threads, could still be listed beside its
    successor.) max_idle_threads=1 serves too."""
    one = [0]
    for opts, more in ((["-o", "max_threads=1,max_idle_threads=1"], None),
                       (["-o", "max_threads=2,max_idle_threads=2"], 1),
                       (["--max_threads", "2", "--max_idle_threads=2"], 1),
                       (["-o", "max_idle_threads=1"], None)):
        with Mount(pfx, *opts) as m:
            if not m.ok:
                continue
            pid = daemon_of(m.argv)
            if not check(pid is not None, f"{opts}: no daemon"):
                continue
            big = os.path.join(m.dir, "big")
            most, wrong = [0], []

            def reader(k):
                with open(big, "rb", buffering=0) as f:
                    for i in range(64):
                        off = ((k * 64 + i) * 40961) % (1 << 22)
                        off -= off % 4
                        b = os.pread(f.fileno(), 4096, off)
                        if b[:4] != (off // 4).to_bytes(4, "little"):
                            wrong.append(off)
                        most[0] = max(most[0], len(os.listdir(f"/proc/{pid}/task")))
            in_threads(reader, 8)
            check(not wrong, f"{opts}: wrong bytes at {wrong[:3]}")
            if not one[0]:
                one[0] = most[0]
            check(0 < most[0] and (more is None or most[0] <= one[0] + more),
                  f"{opts}: {most[0]} threads in the daemon, {one[0]} with max_threads=1")


def perms():
    """Owner, modes and threads of a mount (issue 13, points 7 and 9):
    directories 0755 and files 0644, so a user's `cp -r` copy can be
    deleted by `rm -rf`, while writes fail with EROFS (the owner's too);
    -o uid=, gid= (numbers or names), umask= set the owner and clear mode
    bits, checked by the kernel: with allow_other the owner and a member of
    the group read, anyone else gets EACCES (other users played with
    setpriv, as root); uid= for someone else without allow_other warns;
    bad values exit 64; -o max_threads=2 never runs more than 2 workers."""
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        spec, pfx = os.path.join(d, "spec.json"), os.path.join(d, "c")
        with open(spec, "w") as f:
            json.dump({"tensors": [
                {"name": "dir/w", "dtype": "int32", "shape": [6]},
                {"name": "dir/sub/v", "dtype": "float32", "shape": [2, 2]},
                {"name": "big", "dtype": "int32", "shape": [1 << 20]}]}, f)
        subprocess.run([GEN, spec, pfx], check=True)
        for fn in os.listdir(d):
            os.chmod(os.path.join(d, fn), 0o644)
        default_modes(pfx)
        warnings_and_errors(pfx)
        threads(pfx)
        if os.geteuid() == 0 and shutil.which("setpriv"):
            copy_as_user(pfx)
            owner_options(pfx)
        else:
            check(not CI, "not root or no setpriv under CI: the user checks did not run")
            print("not root: other users not tried")


MiB = 1 << 20


def resident(path, off, n):
    """Pages of path's [off, off + n) in the page cache (mincore, no faults)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    fd = os.open(path, os.O_RDONLY)
    try:
        addr = libc.mmap(None, n, 1, 1, fd, off)  # PROT_READ, MAP_SHARED
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap")
        vec = ctypes.create_string_buffer(n // 4096)
        rc = libc.mincore(addr, n, vec)
        libc.munmap(addr, n)
        if rc != 0:
            raise OSError(ctypes.get_errno(), "mincore")
        return sum(b & 1 for b in vec.raw)
    finally:
        os.close(fd)


def wait_resident(path, off, n):
    """resident(path, off, n) once all of them are, or after 20 s: the
    daemon's hints come after its replies and their I/O is asynchronous."""
    got = 0
    for _ in range(400):
        got = resident(path, off, n)
        if got == n // 4096:
            break
        time.sleep(0.05)
    return got


def cold_checkpoint(d, n, seed, keep):
    """A checkpoint in d of one float32 tensor "t" of n random elements,
    its shard's pages dropped from the page cache: (prefix, shard, the
    shard's first `keep` bytes)."""
    pfx = os.path.join(d, "cold")
    with open(pfx + ".json", "w") as f:
        json.dump({"tensors": [{"name": "t", "dtype": "float32", "shape": [n],
                                "pattern": "random:%d" % seed}]}, f)
    subprocess.run([GEN, pfx + ".json", pfx], check=True)
    shard = pfx + ".data-00000-of-00001"
    with open(shard, "rb") as f:
        data = f.read(keep)
    fd = os.open(shard, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    return pfx, shard, data


def direct_io_and_readahead():
    """Local data (issue 14): files opened direct_io (st_blksize 1 MiB, the
    size coreutils reads), shared mmap still works (the INIT reply asks
    for FUSE_DIRECT_IO_ALLOW_MMAP), and a sequential reader has the data
    file read ahead by the daemon past what the kernel's own read-ahead of
    the shard fetches (up to 14 MiB with this VM's 8 MiB read_ahead_kb):
    after 3 MiB read, [15, 17) MiB of the shard are in the page cache (the
    hint of the second request, which ends at 1 MiB, covers the rest of
    this 32 MiB file; waited for: the hint goes after the reply, and its
    I/O is asynchronous)."""
    with tempfile.TemporaryDirectory() as d:
        pfx, shard, data = cold_checkpoint(d, 8 * MiB, 3, 32 * MiB)
        check(len(data) == 32 * MiB, f"direct_io: shard of {len(data)} bytes")
        with Mount(pfx) as m:
            if not m.ok:
                return
            p = os.path.join(m.dir, "t")
            check(os.stat(p).st_blksize == MiB,
                  f"direct_io: st_blksize {os.stat(p).st_blksize}, not 1 MiB")
            before = resident(shard, 15 * MiB, 2 * MiB)
            with open(p, "rb", buffering=0) as f:
                got = b"".join(f.read(MiB) for _ in range(3))
            check(got == data[:3 * MiB], "direct_io: wrong bytes read")
            n = wait_resident(shard, 15 * MiB, 2 * MiB)
            check(n == 2 * MiB // 4096,
                  f"readahead: {n} of {2 * MiB // 4096} pages of the shard at 15-17 MiB "
                  f"in the page cache after reading 3 MiB ({before} before)")
            with open(p, "rb") as f:
                import mmap
                mm = mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED, mmap.PROT_READ)
                check(mm[5 * MiB:5 * MiB + 4096] == data[5 * MiB:5 * MiB + 4096] and
                      mm[-4096:] == data[-4096:], "direct_io: shared mmap reads wrong bytes")
                mm.close()
        counts["readahead"] = n


def checksum_helper_hints():
    """The default --verify read (issue 14 part 4): the checksum helper
    reads a whole-piece file ahead of its reader (at most 64 MiB past it)
    with synchronous reads, so it hints the shard's next bytes to the
    kernel (posix_fadvise WILLNEED) up to 32 MiB past its own reads: after
    2 MiB read of a 160 MiB tensor, the shard's [84, 92) MiB, beyond both
    the helper's reads and any read-ahead of the kernel's (8 MiB here),
    come into the page cache (waited for: the helper and its I/O run
    asynchronously); [120, 128) MiB, beyond every hint, do not."""
    with tempfile.TemporaryDirectory() as d:
        pfx, shard, head = cold_checkpoint(d, 40 * MiB, 4, 2 * MiB)
        with Mount(pfx) as m:
            if not m.ok:
                return
            with open(os.path.join(m.dir, "t"), "rb", buffering=0) as f:
                got = b"".join(f.read(MiB) for _ in range(2))
                check(got == head, "checksum helper: wrong bytes read")
                n = wait_resident(shard, 84 * MiB, 8 * MiB)
                far = resident(shard, 120 * MiB, 8 * MiB)
            check(n == 8 * MiB // 4096,
                  f"checksum helper: {n} of {8 * MiB // 4096} pages of the shard at 84-92 MiB "
                  f"in the page cache after reading 2 MiB")
            check(far == 0, f"checksum helper: {far} pages at 120-128 MiB, past every hint")
        counts["helper hints"] = n


def main():
    root, code = preflight()
    if root is None:
        return code
    fixtures_unmapped(root)
    mapped_and_errors(root)
    concurrent_reads()
    direct_io_and_readahead()
    checksum_helper_hints()
    npy_format()
    tf_format()
    tf_corrupt_source()
    mount_fuse3(root)
    daemon_life()
    mapping_and_tf_state()
    perms()
    for f in failures:
        print("FAIL:", f)
    print(f"{counts['mounts']} mounts, {counts['files']} fixture files compared, "
          f"{counts.get('reads', 0)} concurrent reads, {counts.get('npy', 0)} npy files loaded, "
          f"{counts.get('tf', 0)} --format tf files compared, "
          f"{counts.get('start failures', 0)} start failures, "
          f"{counts.get('tf refused', 0)} corrupt --format tf mounts refused, "
          f"{counts.get('mapping', 0)} @mapping.json entries checked, "
          f"{counts.get('as user', 0)} commands as other users, "
          f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
