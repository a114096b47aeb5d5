#!/usr/bin/env python3
"""Faults under a live mount, and a load test.

Each mount here runs `ckptfs -f` in the background, so the test knows the
daemon's PID, sees its stderr (sanitizer reports fail the test) and its
exit status:

* --verify read in every order of reads (cat twice, 4 KiB then cat, mmap,
  two handles, numpy.load twice, two files over one corrupt piece): a
  corrupt tensor is never read whole without EIO;
* a data shard cut and written back in place, hundreds of times, under
  readers (direct and through the page cache): every read is whole and
  exact or EIO, never short; sizes stay exact;
* a data shard truncated, deleted, or replaced (a new file renamed over it)
  while mounted: every read returns the original bytes (through the fd the
  daemon holds since mount) or fails with EIO, never other bytes; tensors
  of untouched shards read exactly; a new mount of the damaged checkpoint
  is refused before mounting, while --list (index only) still works;
* the mountpoint lazily unmounted (umount -l) while reads are in flight:
  the daemon exits 0;
* SIGTERM during heavy reads: the daemon exits 0 and the mount is gone;
* a checkpoint on a read-only bind mount mounts and reads exactly;
* load: 16 threads read random ranges of every file of a raw mount and of a
  mapped one (--cast float32=bfloat16, --targets with row and column
  partitions) for $CKPT_LOAD_SECONDS (default 30), every byte checked
  against references computed here (bfloat16 by the round-to-nearest-even
  bit formula, parts by slicing); the daemons' VmRSS stays flat.

usage: fault_test.py CKPTFS CKPT_DUMP CKPT_GEN DATA_DIR
Needs /dev/fuse and fusermount3; skips (77) without them, except under
CI=true, where it fails.
"""
import errno
import json
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mount_test as mt  # noqa: E402  (expected_bytes, escape_path)
from mutation_test import load_script  # noqa: E402

CKPTFS, DUMP, GEN, DATA = sys.argv[1:5]
CI = os.environ.get("CI") == "true"
LOAD_SECONDS = float(os.environ.get("CKPT_LOAD_SECONDS", "30"))
SANITIZER = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                       r"SUMMARY: (Address|Undefined|Leak)Sanitizer")
failures = []
stats = {}


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


# Three shards; big float32 tensors (random bits: NaNs, infinities,
# subnormals), a partitioned one spread over every shard, int64, strings.
SPEC = {"num_shards": 3, "tensors": [
    {"name": "big/a", "dtype": "float32", "shape": [512, 256], "pattern": "random:1",
     "shard": 0},
    {"name": "big/b", "dtype": "float32", "shape": [300, 129], "pattern": "random:2",
     "shard": 1},
    {"name": "emb", "dtype": "float32", "shape": [1001, 64], "partitions": [4, 1],
     "pattern": "random:7", "shard": [0, 1, 2, 0]},
    {"name": "i/x", "dtype": "int64", "shape": [5000], "pattern": "random:4", "shard": 2},
    {"name": "h/y", "dtype": "float16", "shape": [777], "pattern": "random:5", "shard": 2},
    {"name": "s/names", "dtype": "string", "shape": [50], "pattern": "random:6", "shard": 1},
] + [{"name": f"small/t{i}", "dtype": "float32", "shape": [i + 1, 3], "pattern": "iota",
      "shard": i % 3} for i in range(24)]}

TARGETS = {"variables": [
    {"name": "big/a", "dtype": "bfloat16", "shape": [512, 256], "partitions": [3, 1]},
    {"name": "big/b", "dtype": "float32", "shape": [300, 129], "partitions": [1, 5]},
    {"name": "emb", "dtype": "bfloat16", "shape": [1001, 64]},
    {"name": "i/x", "dtype": "int64", "shape": [5000]},
] + [{"name": f"small/t{i}", "dtype": "float32", "shape": [i + 1, 3]} for i in range(24)]}


class Daemon:
    """`ckptfs -f CKPT MNT OPTS` in the background."""

    def __init__(self, ckpt, *opts, env=None):
        env = dict(env or os.environ)
        env["LSAN_OPTIONS"] = env.get("LSAN_OPTIONS", "") + ":suppressions=" + os.path.join(
            os.path.dirname(os.path.abspath(__file__)), "lsan-daemon.supp")
        self.dir = tempfile.mkdtemp(prefix="ckptfs-mnt-")
        self.errf = tempfile.TemporaryFile()
        self.p = subprocess.Popen([CKPTFS, "-f", ckpt, self.dir, *opts],
                                  stdout=subprocess.DEVNULL, stderr=self.errf, env=env)
        deadline = time.time() + 60
        while not os.path.ismount(self.dir) and self.p.poll() is None and \
                time.time() < deadline:
            time.sleep(0.02)
        self.ok = check(os.path.ismount(self.dir),
                        f"ckptfs -f {ckpt} {opts}: not mounted: {self.stderr()[:500]}")
        self.rc = None

    def stderr(self):
        self.errf.seek(0)
        return self.errf.read().decode("utf-8", "replace")

    def wait(self, timeout):
        """The exit status, or None after timeout (then it is killed)."""
        try:
            self.rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
            return None
        return self.rc

    def close(self, what="daemon"):
        if os.path.ismount(self.dir):
            subprocess.run(["fusermount3", "-u", self.dir], check=False)
        if self.rc is None:
            rc = self.wait(30)
            check(rc == 0, f"{what}: exit status {rc} after unmount: {self.stderr()[-800:]}")
        if os.path.ismount(self.dir):
            subprocess.run(["fusermount3", "-uz", self.dir], check=False)
        err = self.stderr()
        check(not SANITIZER.search(err), f"{what}: sanitizer report: {err[-3000:]}")
        os.rmdir(self.dir)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def dump_of(pfx):
    out = subprocess.run([DUMP, pfx], capture_output=True, check=True).stdout
    return json.loads(out.decode("utf-8", "surrogateescape"))


def raw_files(mnt, dump):
    """{path in the mount: expected bytes} of an unmapped mount."""
    return {os.path.join(mnt, mt.escape_path(t["name"], dump)): mt.expected_bytes(t)
            for t in dump}


def bf16(bits):
    """float32 bits -> bfloat16 bits, round to nearest even, NaN -> quiet."""
    if (bits & 0x7F800000) == 0x7F800000 and bits & 0x7FFFFF:
        return (bits >> 16) & 0x8000 | 0x7FC0
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) & 0xFFFF


def plan_files(mnt, plan, dump):
    """{path in the mount: expected bytes} of a mapped mount, from the plan
    (--dry-run --json) and the source values: parts sliced, float32 ->
    bfloat16 converted here."""
    src = {t["name"]: t for t in dump}
    names = [{"name": f["path"]} for f in plan]
    out = {}
    for f in plan:
        t = src[f["source"]]
        shape = t["shape"]
        if f["slice"]:
            ext = [e.split(",") for e in f["slice"].split(" ")[-1].split(":")]
            box = [(0, d) if e == ["-"] else (int(e[0]), int(e[1]))
                   for e, d in zip(ext, shape)]
        else:
            box = [(0, d) for d in shape]
        rowlen = shape[-1] if shape else 1
        idx = []
        if len(shape) == 2:
            for r in range(box[0][0], box[0][0] + box[0][1]):
                idx += range(r * rowlen + box[1][0], r * rowlen + box[1][0] + box[1][1])
        else:
            idx = range(len(t["values"]))
        vals = [t["values"][i] for i in idx]
        part = dict(t, values=vals)
        raw = mt.expected_bytes(part)
        if f["dtype"] == "bfloat16" and f["source_dtype"] == "float32":
            words = struct.unpack(f"<{len(vals)}I", raw)
            raw = struct.pack(f"<{len(vals)}H", *(bf16(w) for w in words))
        else:
            check(f["dtype"] == f["source_dtype"], f"plan: {f['path']} converts {f}")
        out[os.path.join(mnt, mt.escape_path(f["path"], names))] = raw
    return out


def pread_at(p, n, off):
    """Read up to n bytes at off from a fresh open, as many preads as it
    takes: (bytes, None), or (the bytes read before the error, OSError). A
    failed FUSE request within a large read shows up as a short read: the
    next pread reports the error."""
    out = b""
    try:
        fd = os.open(p, os.O_RDONLY)
    except OSError as e:
        return out, e
    try:
        while len(out) < n:
            got = os.pread(fd, n - len(out), off + len(out))
            if not got:
                break
            out += got
    except OSError as e:
        return out, e
    finally:
        os.close(fd)
    return out, None


def read_whole(p):
    with open(p, "rb") as f:
        return f.read()


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def make_ckpt(d, name="g"):
    with open(os.path.join(d, "spec.json"), "w") as f:
        json.dump(SPEC, f)
    pfx = os.path.join(d, name)
    subprocess.run([GEN, os.path.join(d, "spec.json"), pfx], check=True)
    return pfx


def shard_faults():
    """Truncate shard 0, delete shard 1, rename new bytes over shard 2."""
    with tempfile.TemporaryDirectory(prefix="ckpt-fault-") as d:
        pfx = make_ckpt(d)
        dump = dump_of(pfx)
        shard_of = {}
        for t in SPEC["tensors"]:
            s = t.get("shard", 0)
            shard_of[t["name"]] = set(s) if isinstance(s, list) else {s}
        with Daemon(pfx) as m:
            if not m.ok:
                return
            want = raw_files(m.dir, dump)
            shards = [f"{pfx}.data-{s:05d}-of-00003" for s in range(3)]
            os.truncate(shards[0], os.path.getsize(shards[0]) // 2)
            os.unlink(shards[1])
            with open(shards[2] + ".new", "wb") as f:
                f.write(os.urandom(os.path.getsize(shards[2])))
            os.rename(shards[2] + ".new", shards[2])
            rng = random.Random(1)
            eio = exact = 0
            for t in dump:
                p = os.path.join(m.dir, mt.escape_path(t["name"], dump))
                w = want[p]
                held = 0 not in shard_of[t["name"]]  # deleted/replaced: fd held
                reads = [(0, len(w) + 1)] + [
                    (o, rng.randrange(1, 70000)) for o in
                    (rng.randrange(len(w) + 1) for _ in range(8))]
                for off, n in reads:
                    got, e = pread_at(p, n, off)
                    check(got == w[off:off + len(got)],
                          f"shard faults: {t['name']} at {off}+{n}: other bytes")
                    if e is None:
                        check(len(got) == len(w[off:off + n]),
                              f"shard faults: {t['name']} at {off}+{n}: short")
                        exact += 1
                    else:
                        check(e.errno == errno.EIO and not held,
                              f"shard faults: {t['name']} at {off}+{n}: {e}")
                        eio += 1
                if not held:
                    continue
                try:
                    check(read_whole(p) == w, f"shard faults: {t['name']} whole: other bytes")
                except OSError as e:
                    check(False, f"shard faults: {t['name']} (fd held) whole read: {e}")
            check(eio > 0, "shard faults: no read of the truncated shard failed")
            stats["fault reads"] = f"{exact} exact, {eio} EIO"
        # a new mount of the damaged checkpoint fails cleanly, before
        # mounting; --list reads the index only, so it still works
        mnt = tempfile.mkdtemp(prefix="ckptfs-mnt-")
        r = subprocess.run([CKPTFS, pfx, mnt], capture_output=True, text=True, timeout=60)
        check(r.returncode in (65, 66) and r.stderr.count("\n") == 1 and
              not os.path.ismount(mnt),
              f"mount after the faults: rc {r.returncode} {r.stderr}")
        os.rmdir(mnt)
        r = subprocess.run([CKPTFS, "--list", pfx], capture_output=True, text=True)
        check(r.returncode == 0 and len(r.stdout.splitlines()) == len(dump),
              f"--list after the faults: rc {r.returncode} {r.stderr}")


def reader_threads(files, n, stop, errors, counts, until_error=False):
    """n threads reading random ranges (fresh open each) until stop is set;
    a read may fail (counted), never return other bytes."""
    paths = list(files)
    lock = threading.Lock()

    def count(k, v=1):
        with lock:
            counts[k] = counts.get(k, 0) + v

    def worker(seed):
        rng = random.Random(seed)
        while not stop.is_set():
            p = rng.choice(paths)
            w = files[p]
            off = rng.randrange(len(w) + 1)
            n = rng.randrange(1, 300000)
            got, e = pread_at(p, n, off)
            if got != w[off:off + len(got)] or (e is None and got != w[off:off + n]):
                errors.append(f"{p} at {off}+{n}: other bytes")
            if e is not None:
                count("failed")
                if until_error:
                    return
                continue
            count("bytes", len(got))
            count("reads")

    ts = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
    for t in ts:
        t.start()
    return ts


def join_all(ts, what, timeout=30):
    end = time.time() + timeout
    for t in ts:
        t.join(max(0.1, end - time.time()))
    check(not any(t.is_alive() for t in ts), f"{what}: reader threads hang")


def lazy_unmount(pfx, dump):
    m = Daemon(pfx)
    if not m.ok:
        return
    files = raw_files(m.dir, dump)
    stop, errors, counts = threading.Event(), [], {}
    ts = reader_threads(files, 8, stop, errors, counts, until_error=True)
    time.sleep(1)
    r = subprocess.run(["umount", "-l", m.dir] if os.geteuid() == 0 else
                       ["fusermount3", "-uz", m.dir], capture_output=True, text=True)
    check(r.returncode == 0, f"umount -l: {r.stderr}")
    join_all(ts, "lazy unmount")
    stop.set()
    rc = m.wait(30)
    check(rc == 0, f"lazy unmount: daemon exit {rc}: {m.stderr()[-800:]}")
    check(not errors, f"lazy unmount: {errors[:3]}")
    check(counts.get("reads", 0) > 0, "lazy unmount: no read before the unmount")
    m.close("lazy unmount")


def sigterm(pfx, dump):
    m = Daemon(pfx)
    if not m.ok:
        return
    files = raw_files(m.dir, dump)
    stop, errors, counts = threading.Event(), [], {}
    ts = reader_threads(files, 16, stop, errors, counts)
    time.sleep(1)
    m.p.send_signal(signal.SIGTERM)
    rc = m.wait(30)
    stop.set()
    join_all(ts, "SIGTERM")
    check(rc == 0, f"SIGTERM: daemon exit {rc}: {m.stderr()[-800:]}")
    check(not os.path.ismount(m.dir), "SIGTERM: still mounted")
    check(not errors, f"SIGTERM: {errors[:3]}")
    check(counts.get("reads", 0) > 0, "SIGTERM: no read before the signal")
    m.close("SIGTERM")


def readonly_dir(pfx_src, dump):
    """The checkpoint on a read-only bind mount (root only)."""
    if os.geteuid() != 0:
        print("not root: read-only bind mount skipped")
        return
    with tempfile.TemporaryDirectory(prefix="ckpt-ro-") as d:
        ro = os.path.join(d, "ro")
        os.mkdir(ro)
        src = os.path.dirname(pfx_src)
        r = subprocess.run(["mount", "--bind", src, ro], capture_output=True, text=True)
        if not check(r.returncode == 0, f"mount --bind: {r.stderr}"):
            return
        try:
            r = subprocess.run(["mount", "-o", "remount,ro,bind", ro], capture_output=True,
                               text=True)
            check(r.returncode == 0, f"remount ro: {r.stderr}")
            try:
                open(os.path.join(ro, "x"), "w").close()
                check(False, "the bind mount is writable")
            except OSError as e:
                check(e.errno == errno.EROFS, f"write on the ro bind: {e}")
            with Daemon(os.path.join(ro, os.path.basename(pfx_src))) as m:
                if m.ok:
                    n = 0
                    for p, w in raw_files(m.dir, dump).items():
                        check(read_whole(p) == w, f"read-only dir: {p} differs")
                        n += 1
                    stats["read-only dir files"] = n
        finally:
            subprocess.run(["umount", ro], check=False)


def load(pfx, dump, d):
    """16 threads over a raw and a mapped mount; RSS sampled once a second."""
    tj = os.path.join(d, "targets.json")
    with open(tj, "w") as f:
        json.dump(TARGETS, f)
    opts = ["--targets", tj, "--cast", "float32=bfloat16"]
    plan = json.loads(subprocess.run([CKPTFS, "--dry-run", "--json", *opts, pfx],
                                     capture_output=True, text=True, check=True).stdout)
    env = dict(os.environ)
    # Growth allowed after warm-up: a FUSE worker started later gets its own
    # 1 MiB read buffer (and glibc arena). ASan keeps freed blocks in a
    # quarantine (256 MB by default; cut to 4 MB here) and per-thread
    # caches that fill for a while, so a sanitized daemon gets more room.
    slack = 10 * 1024
    if "ASAN_OPTIONS" in env or b"__asan_init" in open(CKPTFS, "rb").read():
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4"
        slack = 32 * 1024
    with Daemon(pfx, env=env) as a, Daemon(pfx, *opts, env=env) as b:
        if not (a.ok and b.ok):
            return
        files = raw_files(a.dir, dump)
        mapped = plan_files(b.dir, plan, dump)
        check(any(p.endswith("part_4") for p in mapped), "load: no column part")
        files.update(mapped)
        stop, errors, counts = threading.Event(), [], {}
        ts = reader_threads(files, 16, stop, errors, counts)
        samples = {a.p.pid: [], b.p.pid: []}
        start = time.time()
        while time.time() - start < LOAD_SECONDS:
            time.sleep(1)
            for pid in samples:
                samples[pid].append(rss_kib(pid))
        stop.set()
        join_all(ts, "load")
        check(not errors, f"load: {len(errors)} mismatches, e.g. {errors[:3]}")
        check(counts.get("failed", 0) == 0, f"load: {counts.get('failed')} failed reads")
        check(counts.get("reads", 0) > 100, f"load: only {counts.get('reads', 0)} reads")
        for pid, s in samples.items():
            warm = s[min(2, len(s) - 1)]
            check(s[-1] <= warm + slack,
                  f"load: daemon {pid} RSS grew from {warm} to {s[-1]} KiB: {s}")
        stats["load"] = (f"{LOAD_SECONDS:g} s, {len(files)} files, {counts.get('reads', 0)} "
                         f"reads, {counts.get('bytes', 0)} bytes verified")
        stats["RSS samples (KiB), raw and mapped daemon"] = "; ".join(
            " ".join(map(str, s)) for s in samples.values())


HOSTILE = [b"../../etc/passwd", b"a//b", b"/lead", b"@at", b"x/./y", b".", b"..",
           b"ok/..", b"//two", b"sp ace/\\back", b"nl\nname", b"L" * 300,
           b"d/" + b"\xc3\xa9" * 200, b"N" * 100000,
           # kept as they are with no map (TF's '/': '/' would cut at
           # "/part_" and strip the trailing '/')
           b"tagger/part_of_speech/embeddings", b"ends/"]


def shown_component(c, npy=False):
    """README "The tree inside the mount": @= escapes, long names shortened."""
    if c == b"@value":
        return c
    esc = c in (b"", b".", b"..") or c.startswith(b"@")
    if (2 if esc else 0) + len(c) + (4 if npy else 0) > 255:
        h = 14695981039346656037  # FNV-1a 64
        for b in c:
            h = ((h ^ b) * 1099511628211) & (2 ** 64 - 1)
        keep = 200
        while keep > 0 and c[keep] & 0xC0 == 0x80:
            keep -= 1
        return b"@#%016x~" % h + c[:keep]
    return (b"@=" if esc else b"") + c


def hostile_names():
    """Names with .., //, leading /, @, control bytes, 300-byte and 100 KB
    components: listed, and mounted as paths that all stay under the
    mountpoint, each a valid file name, each reading its own bytes. With no
    map every name is kept as it is: one ending in '/' (an empty last
    component, shown "@=") and one holding "/part_" too. user.ckpt.source of
    the 100 KB name is cut to the 64 KiB an xattr holds, marked."""
    # a V2 index of any byte names over the fuzz corpus's data shard
    g = load_script("gen-fuzz-corpus.py")
    with tempfile.TemporaryDirectory(prefix="ckpt-names-") as d:
        b = g.Bundle()
        for n in HOSTILE:
            b.tensor(n, "float", [2])
        pfx = os.path.join(d, "h")
        b.write(pfx)
        r = subprocess.run([CKPTFS, "--list", pfx], capture_output=True)
        check(r.returncode == 0 and r.stdout.count(b"\n") == len(HOSTILE),
              f"hostile names: --list rc {r.returncode}: {r.stdout[:300]!r}")
        offsets = {n: 16 + 8 * i for i, n in enumerate(HOSTILE)}
        for fmt in ("raw", "npy"):
            with Daemon(pfx, "--format", fmt) as m:
                if not m.ok:
                    continue
                root = os.path.realpath(m.dir).encode()
                found = set()
                for dp, dns, fns in os.walk(root):
                    for fn in dns + fns:
                        check(len(fn) <= 255, f"hostile names: {len(fn)}-byte name")
                        full = os.path.realpath(os.path.join(dp, fn))
                        check(full.startswith(root + b"/"), f"hostile names: {full} escapes")
                    found |= {os.path.relpath(os.path.join(dp, f), root) for f in fns}
                for n in HOSTILE:
                    comps = n.split(b"/")
                    if fmt == "raw" and any(o.startswith(n + b"/") for o in HOSTILE):
                        comps.append(b"@value")  # also a scope (npy: NAME.npy)
                    rel = b"/".join([shown_component(c) for c in comps[:-1]] +
                                    [shown_component(comps[-1], fmt == "npy") +
                                     (b".npy" if fmt == "npy" else b"")])
                    if not check(rel in found, f"hostile names ({fmt}): {rel[:80]!r} missing"):
                        continue
                    found.discard(rel)
                    with open(os.path.join(root, rel), "rb") as f:
                        data = f.read()
                    o = offsets[n]
                    check(data[-8:] == g.SHARD[o:o + 8], f"hostile names: {rel[:80]!r} bytes")
                    try:
                        src = os.getxattr(os.path.join(root, rel), "user.ckpt.source")
                    except OSError as e:
                        src = f"errno {e.errno}".encode()
                    mark = b"...[cut; the full name is in @mapping.json]"
                    want = n if len(n) <= 65536 else n[:65536 - len(mark)] + mark
                    check(src == want, f"hostile names ({fmt}): {rel[:80]!r} user.ckpt.source "
                          f"{src[:40]!r}... ({len(src)} bytes), want {len(want)} bytes")
                check(found == {b"@mapping.json"}, f"hostile names: extra {sorted(found)[:5]}")
                stats[f"hostile names ({fmt})"] = f"{len(HOSTILE)} files, all inside"
        # a name that is not UTF-8 cannot go into @mapping.json: refused
        b = g.Bundle()
        b.tensor(b"bad\xff\xfename", "float", [2])
        with open(pfx + ".index", "wb") as f:
            f.write(b.build())
        mnt = os.path.join(d, "mnt")
        os.mkdir(mnt)
        for args in (["--list", "--json", pfx], ["--dry-run", "--json", pfx], [pfx, mnt]):
            r = subprocess.run([CKPTFS, *args], capture_output=True)
            check(r.returncode == 65 and r.stderr.count(b"\n") == 1 and
                  b"not valid UTF-8" in r.stderr,
                  f"non-UTF-8 name: {args[:2]}: rc {r.returncode} {r.stderr!r}")


def gen_ckpt(d, spec, name="v"):
    with open(os.path.join(d, name + ".json"), "w") as f:
        json.dump(spec, f)
    pfx = os.path.join(d, name)
    subprocess.run([GEN, os.path.join(d, name + ".json"), pfx], check=True)
    return pfx


def flip(path, off):
    with open(path, "r+b") as f:
        f.seek(off)
        b = f.read(1)
        f.seek(off)
        f.write(bytes([b[0] ^ 0x40]))


def fails_eio(fn):
    """True when fn() fails with EIO (and only then)."""
    try:
        fn()
    except OSError as e:
        return e.errno == errno.EIO
    return False


def read_fd(fd, off, n):
    """n bytes at off of an open fd, as many preads as it takes."""
    out = b""
    while len(out) < n:
        got = os.pread(fd, n - len(out), off + len(out))
        if not got:
            break
        out += got
    return out


# --verify read: two corrupt tensors (one read as two parts), a good one;
# 1-4 MiB each, so that a 4 KiB read leaves most of a file unread.
VSPEC = {"tensors": [
    {"name": "big", "dtype": "float32", "shape": [1024, 1024], "pattern": "random:11"},
    {"name": "emb", "dtype": "float32", "shape": [2048, 256], "pattern": "random:12"},
    {"name": "good", "dtype": "float32", "shape": [512, 512], "pattern": "random:13"},
]}
VTARGETS = {"variables": [
    {"name": "big", "dtype": "float32", "shape": [1024, 1024]},
    {"name": "emb", "dtype": "float32", "shape": [2048, 256], "partitions": [2, 1]},
    {"name": "good", "dtype": "float32", "shape": [512, 512]}]}

MMAP_READ = ("import mmap, os, sys\n"
             "m = mmap.mmap(os.open(sys.argv[1], os.O_RDONLY), 0, prot=mmap.PROT_READ)\n"
             "print(sum(m[i] for i in range(0, len(m), 4096)))\n")
NPY_LOAD = "import sys, numpy\nprint(numpy.load(sys.argv[1]).sum())\n"


def verify_orders():
    """--verify read keeps its promise in every order of reads: a corrupt
    tensor is never read whole without EIO, however much of it the page
    cache already holds (cat twice; 4 KiB then cat; mmap; 4 KiB then mmap;
    two handles reading halves; numpy.load twice), and once it has failed,
    every open of every file drawing from it fails, and pages already
    cached for a handle held open are dropped (EIO there too)."""
    with tempfile.TemporaryDirectory(prefix="ckpt-verify-") as d:
        pfx = gen_ckpt(d, VSPEC)
        tj = os.path.join(d, "targets.json")
        with open(tj, "w") as f:
            json.dump(VTARGETS, f)
        dump = {t["name"]: t for t in dump_of(pfx)}
        want = {n: mt.expected_bytes(t) for n, t in dump.items()}
        shard = pfx + ".data-00000-of-00001"
        with open(shard, "rb") as f:
            data = f.read()
        at = {n: data.find(w) for n, w in want.items()}
        if not check(all(v >= 0 for v in at.values()), f"verify orders: tensors at {at}"):
            return
        flip(shard, at["big"] + 100)                   # in big's first page
        flip(shard, at["emb"] + len(want["emb"]) - 3)  # in emb/part_1 only
        npy_python = "/usr/bin/python3"
        have_numpy = subprocess.run([npy_python, "-c", "import numpy"],
                                    capture_output=True).returncode == 0
        check(have_numpy or not CI, "verify orders: python3-numpy missing under CI")

        def cat_twice(mnt):
            big = os.path.join(mnt, "big")
            return [fails_eio(lambda: read_whole(big)), fails_eio(lambda: read_whole(big))]

        def dd_then_cat(mnt):
            big = os.path.join(mnt, "big")
            with open(big, "rb") as f:
                head = f.read(4096)
            return [len(head) == 4096,
                    fails_eio(lambda: read_whole(big)), fails_eio(lambda: open(big, "rb"))]

        def mmap_read(mnt, first=0):
            big = os.path.join(mnt, "big")
            if first:
                with open(big, "rb") as f:
                    f.read(first)
            r = subprocess.run([sys.executable, "-c", MMAP_READ, big], capture_output=True)
            return [r.returncode == -signal.SIGBUS, fails_eio(lambda: read_whole(big))]

        def two_handles(mnt):
            """A reads the first half, B the second, then A the second
            half (from the cache): A has the whole file unless one failed."""
            big = os.path.join(mnt, "big")
            n = len(want["big"])
            fa, fb = os.open(big, os.O_RDONLY), os.open(big, os.O_RDONLY)
            try:
                read_fd(fa, 0, n // 2)
                read_fd(fb, n // 2, n - n // 2)
                whole = read_fd(fa, 0, n)
                return [False, f"A read {len(whole)} bytes"]
            except OSError as e:
                return [e.errno == errno.EIO]
            finally:
                os.close(fa)
                os.close(fb)

        def shared_piece(mnt):
            """emb/part_0 and emb/part_1 draw from one stored piece, whose
            corrupt byte lies in part_1's rows. part_1's first page is
            cached for a handle held open; part_0 read whole fails; then
            part_1 fails to open, and the held handle's cached page goes."""
            p0, p1 = os.path.join(mnt, "emb/part_0"), os.path.join(mnt, "emb/part_1")
            held = os.open(p1, os.O_RDONLY)
            try:
                head = os.pread(held, 4096, 0)
                half = len(want["emb"]) // 2
                out = [head == want["emb"][half:half + 4096],
                       fails_eio(lambda: read_whole(p0)), fails_eio(lambda: open(p1, "rb"))]
                # the daemon drops the pages from another thread: probe
                # (bounded) until the kernel asks it again
                probes = 0
                while probes < 500 and not fails_eio(lambda: os.pread(held, 4096, 0)):
                    probes += 1
                    time.sleep(0.01)
                stats["verify: probes before the held page was dropped"] = probes
                return out + [probes < 500]
            finally:
                os.close(held)

        def good_file(mnt):
            good = os.path.join(mnt, "good")
            with open(good, "rb") as f:
                head = f.read(4096)
            return [head == want["good"][:4096], read_whole(good) == want["good"],
                    read_whole(good) == want["good"]]

        def npy_twice(mnt):
            big = os.path.join(mnt, "big.npy")
            rs = [subprocess.run([npy_python, "-c", NPY_LOAD, big], capture_output=True,
                                 text=True) for _ in range(2)]
            # numpy.fromfile stops at the EIO: the short array does not fit
            return [r.returncode != 0 and ("Errno 5" in r.stderr or "cannot reshape" in r.stderr)
                    for r in rs]

        cases = [("cat twice", cat_twice, []), ("4 KiB then cat", dd_then_cat, []),
                 ("mmap", mmap_read, []), ("4 KiB then mmap", lambda m: mmap_read(m, 4096), []),
                 ("two handles", two_handles, []),
                 ("shared piece", shared_piece, ["--targets", tj]),
                 ("good file after the bad", lambda m: cat_twice(m) + good_file(m), [])]
        if have_numpy:
            cases.append(("numpy.load twice", npy_twice, ["--format", "npy"]))
        for what, fn, opts in cases:
            with Daemon(pfx, *opts) as m:
                if not m.ok:
                    continue
                got = fn(m.dir)
                check(all(x is True for x in got), f"verify orders: {what}: {got}")
                log = m.stderr()
                check("Checksum does not match" in log,
                      f"verify orders: {what}: no log line: {log[-500:]}")
        stats["verify orders"] = f"{len(cases)} orders, each on a fresh mount"


# A shard rewritten in place under a live mount: tensors of 256 KiB, read
# in ranges of at least two pages (so that they are spliced).
RSPEC = {"tensors": [{"name": f"t{i}", "dtype": "float32", "shape": [256, 256],
                      "pattern": f"random:{20 + i}"} for i in range(4)]}


def shard_rewritten():
    """While readers (O_DIRECT, and buffered with the page cache dropped
    before each read) read ranges of every file, the shard is cut and
    written back $CKPT_REWRITE_CYCLES times (default 300; `cp` over it, or
    truncated to half and the rest written back). Every read returns the
    full range with the right bytes or fails with EIO, never fewer bytes
    as if the file ended there; afterwards every file still has its size
    and reads whole."""
    cycles = int(os.environ.get("CKPT_REWRITE_CYCLES", "300"))
    with tempfile.TemporaryDirectory(prefix="ckpt-rewrite-") as d:
        pfx = gen_ckpt(d, RSPEC, "r")
        dump = dump_of(pfx)
        shard = pfx + ".data-00000-of-00001"
        with open(shard, "rb") as f:
            original = f.read()
        with Daemon(pfx) as m:
            if not m.ok:
                return
            files = raw_files(m.dir, dump)
            paths = sorted(files)
            stop, bad, counts, lock = threading.Event(), [], {}, threading.Lock()

            def reader(seed, direct):
                rng = random.Random(seed)
                while not stop.is_set():
                    p = rng.choice(paths)
                    w = files[p]
                    off = rng.randrange(len(w) - 8192)
                    n = rng.randrange(8192, len(w) - off + 1)
                    got, outcome = b"", "full"
                    try:
                        fd = os.open(p, os.O_RDONLY | (os.O_DIRECT if direct else 0))
                    except OSError as e:
                        bad.append(f"open {p}: {e}")
                        continue
                    try:
                        if not direct:
                            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                        got = read_fd(fd, off, n)
                        if len(got) < n:
                            outcome = f"short: {len(got)} of {n} bytes, no error"
                    except OSError as e:
                        outcome = "eio" if e.errno == errno.EIO else str(e)
                    finally:
                        os.close(fd)
                    if outcome not in ("full", "eio") or got != w[off:off + len(got)]:
                        bad.append(f"{os.path.basename(p)} at {off}+{n} "
                                   f"({'direct' if direct else 'cached'}): {outcome}"
                                   f"{'' if got == w[off:off + len(got)] else ', other bytes'}")
                    with lock:
                        key = outcome.split(":")[0]
                        counts[key] = counts.get(key, 0) + 1

            ts = [threading.Thread(target=reader, args=(k, k % 2 == 0), daemon=True)
                  for k in range(3)]
            for t in ts:
                t.start()
            half = len(original) // 2
            for k in range(cycles):
                if k % 2:
                    with open(shard, "wb") as f:  # as cp does: O_TRUNC, then write
                        for o in range(0, len(original), 65536):
                            f.write(original[o:o + 65536])
                else:
                    os.truncate(shard, half)
                    with open(shard, "r+b") as f:
                        f.seek(half)
                        f.write(original[half:])
            stop.set()
            join_all(ts, "shard rewritten")
            check(not bad, f"shard rewritten: {len(bad)} bad reads, e.g. {bad[:3]}")
            for p, w in files.items():
                check(os.stat(p).st_size == len(w),
                      f"shard rewritten: {p} size {os.stat(p).st_size}, want {len(w)}")
                try:
                    check(read_whole(p) == w, f"shard rewritten: {p} whole: other bytes")
                except OSError as e:
                    check(False, f"shard rewritten: {p} whole: {e}")
            if counts.get("eio"):
                check("ends early" in m.stderr() or "truncated" in m.stderr(),
                      f"shard rewritten: EIO without a log line: {m.stderr()[-500:]}")
            stats["shard rewritten"] = f"{cycles} cycles, reads: {counts}"


def main():
    if not os.path.exists("/dev/fuse") or shutil.which("fusermount3") is None:
        print("no FUSE here")
        return 1 if CI else 77
    verify_orders()
    shard_rewritten()
    shard_faults()
    hostile_names()
    with tempfile.TemporaryDirectory(prefix="ckpt-load-") as d:
        pfx = make_ckpt(d)
        dump = dump_of(pfx)
        lazy_unmount(pfx, dump)
        sigterm(pfx, dump)
        readonly_dir(pfx, dump)
        load(pfx, dump, d)
    for k, v in stats.items():
        print(f"{k}: {v}")
    for f in failures:
        print("FAIL:", f)
    print(f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
