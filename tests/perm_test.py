#!/usr/bin/env python3
"""Axis permutation (--perm, "perm" in --targets) through real mounts.

A generated checkpoint (tests/data/perm.json: float32 tensors of rank 1..4,
int8, complex128, float64, a tensor saved in column slices, a wide and a
narrow matrix) is mapped onto every permutation of every tensor, whole and
partitioned, next to an unpermuted copy of each. Each permuted file must
equal numpy.transpose of the oracle: the generator's values computed here
(iota, splitmix64) for plain mounts, the unpermuted file of the same mount
for re-typed ones (the casts are checked elsewhere), at random preads and
whole; in raw, npy (numpy.load) and tf (the mounted checkpoint mounted
again) formats. Also: --perm scope rules, refusals and exit codes, the
plan's "perm", a corrupt source failing a whole read of a permuted file
with EIO, the bytes a 4 KiB read of a permuted file costs the daemon
(/proc/PID/io), --format safetensors, and the README's two torch examples
(torch.nn.Linear on the demo checkpoint, a real fixture's DNN as
model.safetensors).

usage: perm_test.py CKPTFS CKPT_DUMP CKPT_GEN DATA_DIR (mount_test.py's)
Needs /dev/fuse, fusermount3 and numpy (Debian's python3-numpy; the test
re-runs itself under /usr/bin/python3 when the python running it has no
numpy); skips (77) without them, except under CI=true, where it fails.
"""
import itertools
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
except ImportError:
    np = None

CI = os.environ.get("CI") == "true"
if np is None:
    if os.path.exists("/usr/bin/python3") and sys.executable != "/usr/bin/python3":
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    print("numpy missing")
    sys.exit(1 if CI else 77)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mount_test as mt  # noqa: E402  (Mount, check: same argv)

CKPTFS, _, GEN, DATA = sys.argv[1:5]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EX_MAP = 67
failures, check, counts = mt.failures, mt.check, mt.counts
counts["preads"] = 0
rnd = random.Random(12)


def run(*args):
    p = subprocess.run([CKPTFS, *args], capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout, p.stderr


class Mount(mt.Mount):
    def mapping(self):
        with open(os.path.join(self.dir, "@mapping.json")) as f:
            return json.load(f)


# ---- the generator's values (tests/gen/ckpt-gen.c), computed here ----

def splitmix_bytes(seed, n):
    out = bytearray()
    state = seed
    m = (1 << 64) - 1
    while len(out) < n:
        state = (state + 0x9e3779b97f4a7c15) & m
        z = state
        z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & m
        z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & m
        z ^= z >> 31
        out += z.to_bytes(8, "little")
    return bytes(out[:n])


NP = {"float32": "<f4", "float64": "<f8", "int8": "i1", "complex128": "<c16",
      "bfloat16": "<u2", "int32": "<i4", "complex64": "<c8"}
SIZE = {"float32": 4, "float64": 8, "int8": 1, "complex128": 16, "bfloat16": 2, "int32": 4,
        "complex64": 8}


def generated(t):
    """The source tensor's values as a numpy array of its shape."""
    n = int(np.prod(t["shape"], dtype=np.int64))
    dt = t["dtype"]
    pat = t.get("pattern", "iota")
    if pat.startswith("random:"):
        raw = splitmix_bytes(int(pat[7:]), n * SIZE[dt])
        return np.frombuffer(raw, dtype=NP[dt]).reshape(t["shape"])
    i = np.arange(n, dtype=np.int64)
    if dt == "int8":
        a = (i % 256).astype(np.uint8).view(np.int8)
    elif dt == "complex128":
        a = np.empty(n, dtype=np.complex128)
        a.real = i
        a.imag = -i.astype(np.float64)  # -0.0 for element 0, as C's -(double)i
    else:
        a = i.astype(NP[dt])
    return a.reshape(t["shape"])


def void(b, es, shape):
    """Bytes as an array of opaque es-byte elements (any dtype, bfloat16 too)."""
    return np.frombuffer(b, dtype="V%d" % es).reshape(shape)


# ---- targets: every permutation of every tensor, whole and partitioned ----

def part_ranges(size, n):
    """TF's _iter_slices: the first size % n parts one longer."""
    q, r = divmod(size, n)
    out, off = [], 0
    for i in range(n):
        ln = q + 1 if i < r else q
        out.append((off, ln))
        off += ln
    return out


def build_targets(tensors):
    variables, pairs, want = [], [], {}
    for t in tensors:
        name, shape = t["name"], t["shape"]
        variables.append({"name": "u/" + name, "dtype": t["dtype"], "shape": shape})
        pairs.append([name, "u/" + name])
        for k, perm in enumerate(itertools.permutations(range(len(shape)))):
            tag = "".join(map(str, perm))
            pshape = [shape[a] for a in perm]
            whole = "p/%s/%s" % (name, tag)
            variables.append({"name": whole, "dtype": t["dtype"], "shape": pshape,
                              "perm": list(perm)})
            pairs.append([name, whole])
            want[whole] = (name, perm, None)
            axis = k % len(shape)
            n = min(3, pshape[axis])
            parts = [1] * len(shape)
            parts[axis] = n
            pv = "q/%s/%s" % (name, tag)
            variables.append({"name": pv, "dtype": t["dtype"], "shape": pshape,
                              "partitions": parts, "perm": list(perm)})
            pairs.append([name, pv])
            for i, (off, ln) in enumerate(part_ranges(pshape[axis], n)):
                want["%s/part_%d" % (pv, i)] = (name, perm, (axis, off, ln))
    return {"variables": variables}, pairs, want


def expected(base, perm, part):
    a = np.transpose(base, perm)
    if part is not None:
        axis, off, ln = part
        a = np.take(a, range(off, off + ln), axis=axis)
    return np.ascontiguousarray(a).tobytes()


def read_ranges(path, want, what, n=12):
    """Random preads (before any whole read, so they reach the daemon), then
    the whole file."""
    size = os.path.getsize(path)
    check(size == len(want), f"{what}: size {size} want {len(want)}")
    fd = os.open(path, os.O_RDONLY)
    try:
        for _ in range(n if size else 0):
            off = rnd.randrange(size)
            ln = rnd.randrange(1, 20000)
            got = os.pread(fd, ln, off)
            counts["preads"] += 1
            if not check(got == want[off:off + ln], f"{what}: pread [{off}, +{ln})"):
                break
        got = os.pread(fd, size + 1, 0)
        check(got == want, f"{what}: whole read differs")
    finally:
        os.close(fd)
    counts["files"] += 1


def raw_mount_checks(ck, tensors, tj, mj, want, cast, independent):
    """Every p/ and q/ file of a raw mount (with `cast` options) equals the
    transposition of its oracle; with independent, the oracle is the
    generator's values and the u/ files are checked against them too."""
    with Mount(ck, "--targets", tj, "--map-file", mj, *cast) as m:
        if not m.ok:
            return
        plan = {f["path"]: f for f in m.mapping()}
        base = {}
        for t in tensors:
            f = plan["u/" + t["name"]]
            es = SIZE[f["dtype"]]
            with open(os.path.join(m.dir, f["path"]), "rb") as fh:
                raw = fh.read()
            if independent:
                check(raw == generated(t).tobytes(), f"u/{t['name']}: not the generator's")
            base[t["name"]] = void(raw, es, t["shape"])
        for path, (name, perm, part) in sorted(want.items()):
            f = plan.get(path)
            if not check(f is not None, f"{path} not in @mapping.json"):
                continue
            ident = list(perm) == sorted(perm)
            check(f.get("perm") == (None if ident else list(perm)),
                  f"{path}: plan perm {f.get('perm')}")
            check(f["shape"] == list(np.transpose(base[name], perm).shape) if part is None
                  else len(f["shape"]) == len(perm), f"{path}: plan shape {f['shape']}")
            p = os.path.join(m.dir, path)
            if not ident:
                check(os.getxattr(p, "user.ckpt.perm").decode() ==
                      "[" + ",".join(map(str, perm)) + "]", f"{path}: user.ckpt.perm")
            read_ranges(p, expected(base[name], perm, part), f"{' '.join(cast)} {path}")


def npy_checks(ck, tensors, tj, mj, want):
    """--format npy, re-typed to float64: numpy.load of every permuted file
    is the transposed numpy.load of the unpermuted one."""
    with Mount(ck, "--targets", tj, "--map-file", mj, "--format", "npy",
               "--cast", "float32=float64") as m:
        if not m.ok:
            return
        base = {t["name"]: np.load(os.path.join(m.dir, "u", t["name"] + ".npy"))
                for t in tensors}
        for path, (name, perm, part) in sorted(want.items()):
            a = np.load(os.path.join(m.dir, path + ".npy"))
            b = np.transpose(base[name], perm)
            if part is not None:
                axis, off, ln = part
                b = np.take(b, range(off, off + ln), axis=axis)
            check(a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(),
                  f"npy {path}: {a.dtype}{a.shape} vs {b.dtype}{b.shape}")
            counts["files"] += 1


def tf_checks(ck, tensors, tj, mj, want):
    """--format tf: the mounted checkpoint, mounted again as it is, holds
    every permuted variable (a partitioned one whole) as its transposition."""
    gen = {t["name"]: generated(t) for t in tensors}
    with Mount(ck, "--targets", tj, "--map-file", mj, "--format", "tf") as m:
        if not m.ok:
            return
        with Mount(os.path.join(m.dir, "ckpt")) as m2:
            if not m2.ok:
                return
            seen = set()
            for path, (name, perm, part) in sorted(want.items()):
                var = path if part is None else path.rsplit("/", 1)[0]
                if var in seen:
                    continue
                seen.add(var)
                read_ranges(os.path.join(m2.dir, var), expected(gen[name], perm, None),
                            f"tf {var}", n=4)


def scope_rules(ck, tensors):
    """--perm /=1,0 transposes every rank-2 tensor of a mount without a map
    (-o perm= with ':' too); an exact rule wins over the scope."""
    gen = {t["name"]: generated(t) for t in tensors}
    with Mount(ck, "--perm", "/=1,0", "-o", "perm=r3=2:0:1") as m:
        if not m.ok:
            return
        plan = {f["path"]: f for f in m.mapping()}
        for t in tensors:
            rank = len(t["shape"])
            perm = [1, 0] if rank == 2 else [2, 0, 1] if t["name"] == "r3" else None
            check(plan[t["name"]].get("perm") == perm, f"scope: {t['name']} perm")
            read_ranges(os.path.join(m.dir, t["name"]),
                        expected(gen[t["name"]], perm or list(range(rank)), None),
                        f"scope {t['name']}", n=4)


def refusals(ck, tmp):
    def one_line_67(args, what, needle):
        rc, out, err = run("--dry-run", *args, ck)
        lines = err.strip().splitlines()
        check(rc == EX_MAP and len(lines) == 1 and needle in lines[0] and out == "",
              f"{what}: rc {rc} {err!r}")

    one_line_67(["--perm", "r2=0,1,2"], "rank mismatch", "has rank 2")
    one_line_67(["--perm", "r2=1,1"], "not a permutation", "AXES must be a permutation")
    one_line_67(["--perm", "r2=1,x"], "not a number", "AXES must be a permutation")
    one_line_67(["--perm", "=1,0"], "no name", "expected NAME=AXES")
    rc, out, err = run("--list", "--perm", "r2=1,0", ck)
    check(rc == 64 and "--perm does not apply to --list" in err, f"--list --perm: {rc} {err!r}")
    # a rule that matches nothing: a warning, as a map entry; --strict: 67
    rc, out, err = run("--dry-run", "--perm", "r9=1,0", ck)
    check(rc == 0 and "warning: --perm 'r9' matched no target variable" in err,
          f"unmatched: {rc} {err!r}")
    rc, out, err = run("--dry-run", "--strict", "--perm", "nope/=1,0", ck)
    check(rc == EX_MAP and "error: --perm 'nope/' matched no target variable of rank 2" in err,
          f"unmatched strict: {rc} {err!r}")
    # --targets: the declared shape is compared with the permuted one
    tj = os.path.join(tmp, "bad.json")
    for var, needle in (({"name": "x", "dtype": "float32", "shape": [5, 7], "perm": [1, 0]},
                         "doesn't match with shape of tensor r2 ([5, 7])"),
                        ({"name": "x", "dtype": "float32", "shape": [7, 5], "perm": [0, 0]},
                         '"perm" must list the axes 0..1')):
        with open(tj, "w") as f:
            json.dump({"variables": [var]}, f)
        rc, out, err = run("--dry-run", "--targets", tj, "--map", "r2=x", ck)
        check(rc == EX_MAP and needle in err and len(err.strip().splitlines()) == 1,
              f"targets {var}: {rc} {err!r}")
    # --targets GRAPH: the graph's shape is compared with the permuted one;
    # its --list-targets JSON with a "perm" and the permuted shape maps
    graph = os.path.join(ROOT, "..", "shared", "graphs", "tfx_estimator_taxi_meta",
                         "model.ckpt-1000.meta")
    real = os.path.join(ROOT, "..", "shared", "fixtures", "tfx_estimator_taxi_ckpt",
                        "model.ckpt-1000")
    if os.path.exists(graph) and os.path.exists(real + ".index"):
        k = "dnn/hiddenlayer_0/kernel"
        rc, out, err = run("--dry-run", "--targets", graph, "--map", k + "=" + k, "--perm",
                           k + "=1,0", real)
        check(rc == EX_MAP and "[3, 100]" in err and len(err.strip().splitlines()) == 1 and
              "(with perm [1, 0] the checkpoint tensor is [100, 3])" in err,
              f"graph shape check: {rc} {err!r}")
        rc, out, err = run("--list-targets", "--json", graph)
        tg = json.loads(out)
        for v in tg["variables"]:
            if v["name"] == k:
                v["shape"], v["perm"] = [100, 3], [1, 0]
        gj = os.path.join(tmp, "graph-targets.json")
        with open(gj, "w") as f:
            json.dump(tg, f)
        rc, out, err = run("--dry-run", "--json", "--targets", gj, "--map", k + "=" + k, real)
        plan = json.loads(out) if rc == 0 else []
        check([(f["shape"], f.get("perm")) for f in plan if f["name"] == k] ==
              [([100, 3], [1, 0])], f"graph targets with perm: {rc} {err!r}")
    else:
        check(not CI, "the taxi graph or checkpoint is missing under CI")
    # the plan, as text: perm=AXES last
    rc, out, err = run("--dry-run", "--perm", "r2=1,0", ck)
    check(rc == 0 and "r2\tfloat32\t[7,5]\t140\t<-\tr2\tfloat32\tperm=1,0\n" in out,
          f"plan text: {out!r}")


def corrupt_source(ck, tmp):
    """A corrupt byte in the source fails a whole read of the permuted file
    with EIO (--verify read), and only files drawing from that tensor."""
    d = os.path.join(tmp, "bad")
    os.makedirs(d)
    for f in os.listdir(os.path.dirname(ck)):
        if f.startswith(os.path.basename(ck) + "."):
            shutil.copy(os.path.join(os.path.dirname(ck), f), d)
    bad = os.path.join(d, os.path.basename(ck))
    shard = bad + ".data-00000-of-00001"
    with open(shard, "r+b") as f:
        data = f.read()
        at = data.find(struct.pack("<2f", 100000.0, 100001.0))  # in wide, before narrow
        check(at > 0, "corrupt: wide's bytes not found")
        f.seek(at)
        f.write(bytes([data[at] ^ 0x40]))
    with Mount(bad, "--perm", "wide=1,0", "--perm", "narrow=1,0") as m:
        if not m.ok:
            return
        try:
            with open(os.path.join(m.dir, "wide"), "rb") as f:
                f.read()
            check(False, "corrupt: whole read of permuted wide succeeded")
        except OSError as e:
            check(e.errno == 5, f"corrupt: errno {e.errno}")
        with open(os.path.join(m.dir, "narrow"), "rb") as f:
            check(len(f.read()) == 2048 * 64 * 4, "corrupt: narrow unreadable")


def bounded_read(ck):
    """4 KiB preads of the transposed wide matrix ([64, 2048] float32,
    source rows 8 KiB apart) cost the daemon about 4 KiB of reads each
    (rchar of /proc/PID/io), not the 512 KiB tensor."""
    mnt = tempfile.mkdtemp(prefix="ckptfs-perm-")
    proc = subprocess.Popen([CKPTFS, "-f", "--perm", "wide=1,0", ck, mnt])
    try:
        t0 = time.monotonic()
        while not os.path.ismount(mnt) and proc.poll() is None and time.monotonic() - t0 < 60:
            time.sleep(0.01)
        if not check(os.path.ismount(mnt), "bounded: mount failed"):
            return

        def rchar():
            with open("/proc/%d/io" % proc.pid) as f:
                return dict(line.split(": ") for line in f.read().splitlines())

        path = os.path.join(mnt, "wide")
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        worst = 0
        for k in (3, 50, 101, 77):
            a = int(rchar()["rchar"])
            b = os.pread(fd, 4096, k * 4096)
            worst = max(worst, int(rchar()["rchar"]) - a)
            check(len(b) == 4096, "bounded: short pread")
        os.close(fd)
        print("4 KiB pread of a permuted 512 KiB file: the daemon read at most %d bytes" % worst)
        check(worst <= 32768, f"bounded: a 4 KiB read made the daemon read {worst} bytes")
    finally:
        subprocess.run(["fusermount3", "-u", mnt], check=False)
        proc.wait(timeout=30)
        os.rmdir(mnt)


README_DRY = ("dense/kernel/@value\tfloat32\t[8,4]\t128\t<-\tdense/kernel\tfloat32\tperm=1,0\n")
# The README's lines, as they stand there (indented 4): code, then output.
README_LINEAR = """\
    $ python3 -c '
    import numpy, torch
    lin = torch.nn.Linear(4, 8)         # weight [out, in] = [8, 4]
    lin.weight.data = torch.from_numpy(numpy.load("mnt/dense/kernel.npy"))
    lin.bias.data = torch.from_numpy(numpy.load("mnt/dense/bias.npy"))
    print(lin(torch.ones(1, 4)).tolist())'
    [[48.5, 52.5, 56.5, 60.5, 64.5, 68.5, 72.5, 76.5]]
"""


def readme_example(tmp):
    """README's "PyTorch's Linear" example on the demo checkpoint: the
    transposed kernel loads as a Linear weight and gives x @ kernel + bias."""
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    check(README_LINEAR in readme, "README lacks the Linear example")
    ck = os.path.join(tmp, "demo", "model.ckpt-1000")
    subprocess.run([GEN, os.path.join(ROOT, "scripts", "demo", "sample.json"), ck], check=True)
    rc, out, err = run("--dry-run", "--perm", "dense/kernel=1,0", ck)
    check(rc == 0 and README_DRY in out, f"README dry-run: {out!r} {err!r}")
    shown = "".join("    " + line + "\n" for line in out.splitlines())
    check(shown in readme, f"README's dry-run output is not {shown!r}")
    if subprocess.run(["/usr/bin/python3", "-c", "import torch"],
                      capture_output=True).returncode:
        check(not CI, "python3-torch missing under CI")
        return
    with Mount(ck, "--format", "npy", "--perm", "dense/kernel=1,0") as m:
        if not m.ok:
            return
        code, shown = README_LINEAR.split("'")[1:]
        code = "".join(line[4:] + "\n" for line in code.splitlines())
        p = subprocess.run(["/usr/bin/python3", "-c", code.replace('"mnt/', '"%s/' % m.dir)],
                           capture_output=True, text=True, timeout=120)
        got = json.loads(p.stdout) if p.returncode == 0 else None
        kernel = np.arange(32, dtype=np.float32).reshape(4, 8)
        want = (np.ones((1, 4), np.float32) @ kernel + 0.5).tolist()
        check(got == want, f"README Linear: {got} want {want} {p.stderr[-500:]}")
        check(p.stdout.strip() == shown.strip(), f"README Linear prints {p.stdout!r}")


def readme_taxi(tmp):
    """README's real-fixture example: the TFX taxi DNN as model.safetensors
    with --perm dnn/=1,0, loaded into torch Linear layers; its output is the
    README's, and the numpy forward pass over the unpermuted tensors. The
    README's checkpoint is its placeholder taxi/model.ckpt-1000, here the
    TFX taxi estimator's fixture."""
    with open(os.path.join(ROOT, "README.md")) as f:
        lines = f.read().splitlines()
    real = os.path.join(ROOT, "..", "shared", "fixtures", "tfx_estimator_taxi_ckpt",
                        "model.ckpt-1000")
    subs = {"taxi/model.ckpt-1000": real}
    cmd = "    $ ckptfs taxi/model.ckpt-1000 /tmp/taxi \\"
    if not check(cmd in lines, "README lacks the taxi example"):
        return
    at = lines.index(cmd)
    check(lines[at + 1].split() == ["--format", "safetensors", "--map", "dnn/=dnn/", "--perm",
                                    "dnn/=1,0"], f"README taxi options: {lines[at + 1]!r}")
    start = lines.index("    $ python3 - <<'EOF'", at) + 1
    end = lines.index("    EOF", start)
    code = "".join(line[4:] + "\n" for line in lines[start:end])
    shown = [line[4:] for line in lines[end + 1:lines.index("    $ fusermount3 -u /tmp/taxi", end)]]
    if not os.path.exists(real + ".index"):
        check(not CI, "taxi fixture missing under CI")
        return
    if subprocess.run(["/usr/bin/python3", "-c", "import torch"],
                      capture_output=True).returncode:
        check(not CI, "python3-torch missing under CI")
        return
    layers = ["hiddenlayer_0", "hiddenlayer_1", "hiddenlayer_2", "hiddenlayer_3", "logits"]
    with Mount(real, "--map", "dnn/=dnn/") as m:
        if not m.ok:
            return
        x = np.ones((1, 3))
        for i, layer in enumerate(layers):
            k = np.fromfile(os.path.join(m.dir, "dnn", layer, "kernel"), dtype="<f4")
            b = np.fromfile(os.path.join(m.dir, "dnn", layer, "bias"), dtype="<f4")
            x = x @ k.reshape(x.shape[1], -1).astype(np.float64) + b
            if i < len(layers) - 1:
                x = np.maximum(x, 0)
    with Mount(subs[cmd.split()[2]], *lines[at + 1].split()) as m:
        if not m.ok:
            return
        p = subprocess.run(["/usr/bin/python3", "-c", code.replace("/tmp/taxi", m.dir)],
                           capture_output=True, text=True, timeout=120)
        out = p.stdout.splitlines()
        check(out == shown, f"README taxi prints {out} ({p.stderr[-300:]}), README says {shown}")
        check(len(out) == 2 and abs(float(out[-1]) - x[0, 0]) < 1e-4,
              f"README taxi: {out} vs numpy {x[0, 0]}")


def safetensors_checks(ck, tensors):
    """--format safetensors (read from its specification): every float32
    tensor of the suite under --perm /=1,0 and r3=2,0,1 is the
    transposition of the generator's values."""
    names = [t["name"] for t in tensors if t["dtype"] == "float32"]
    args = ["--format", "safetensors", "--perm", "/=1,0", "--perm", "r3=2,0,1"]
    for n in names:
        args += ["--map", n + "=" + n]
    with Mount(ck, *args) as m:
        if not m.ok:
            return
        with open(os.path.join(m.dir, "model.safetensors"), "rb") as f:
            buf = f.read()
        n = struct.unpack("<Q", buf[:8])[0]
        header = json.loads(buf[8:8 + n])
        for t in tensors:
            if t["name"] not in names:
                continue
            rank = len(t["shape"])
            perm = [1, 0] if rank == 2 else [2, 0, 1] if t["name"] == "r3" else list(range(rank))
            h = header[t["name"]]
            b, e = h["data_offsets"]
            want = np.ascontiguousarray(np.transpose(generated(t), perm))
            check(h["shape"] == list(want.shape) and h["dtype"] == "F32" and
                  buf[8 + n + b:8 + n + e] == want.tobytes(), f"safetensors {t['name']}")
            counts["files"] += 1


def main():
    if not os.path.exists("/dev/fuse") or shutil.which("fusermount3") is None:
        print("no FUSE")
        sys.exit(1 if CI else 77)
    with open(os.path.join(DATA, "perm.json")) as f:
        tensors = json.load(f)["tensors"]
    with tempfile.TemporaryDirectory() as tmp:
        ck = os.path.join(tmp, "p")
        subprocess.run([GEN, os.path.join(DATA, "perm.json"), ck], check=True)
        targets, pairs, want = build_targets(tensors)
        tj, mj = os.path.join(tmp, "targets.json"), os.path.join(tmp, "map.json")
        with open(tj, "w") as f:
            json.dump(targets, f)
        with open(mj, "w") as f:
            json.dump(pairs, f)
        raw_mount_checks(ck, tensors, tj, mj, want, [], True)
        raw_mount_checks(ck, tensors, tj, mj, want,
                         ["--cast", "float32=bfloat16", "--cast", "int8=int32",
                          "--cast", "complex128=complex64"], False)
        npy_checks(ck, tensors, tj, mj, want)
        tf_checks(ck, tensors, tj, mj, want)
        scope_rules(ck, tensors)
        refusals(ck, tmp)
        corrupt_source(ck, tmp)
        bounded_read(ck)
        readme_example(tmp)
        readme_taxi(tmp)
        safetensors_checks(ck, tensors)
    print("perm: %d files, %d random preads, %d mounts" % (counts["files"], counts["preads"],
                                                          counts["mounts"]))
    for f in failures:
        print("FAIL:", f)
    print("%d failures" % len(failures))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
