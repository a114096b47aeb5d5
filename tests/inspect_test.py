#!/usr/bin/env python3
"""ckptfs --list --stats and --show NAME against NumPy itself.

usage: inspect_test.py CKPTFS CKPT_GEN CKPT_FMT DATA_DIR

- The printing of values (lib's ckpt_format_*, through tests/tools/ckpt-fmt)
  against str() of numpy scalars and arrays: every float16, random float32
  and float64 bit patterns, numbers near every threshold of numpy's float
  formatting, random arrays of every dtype and shape (1-D, 2-D, 3-D, > 1000
  elements, empty).
- --show of every tensor of tests/data/inspect.json (every numeric dtype,
  NaN/inf, partitioned tensors, strings, bool, scalars) against str() of
  the numpy array the test builds from the JSON description itself (values,
  and the generator's patterns re-implemented here); --list --stats and
  --list --stats --json against numpy.nanmin, nanmax, nanmean, isnan, isinf
  of the same arrays.
- Real fixtures (../shared/fixtures): the statistics of every tensor whose
  INVENTORY.md lists all its values, and SOURCE.txt's known contents.
- Corrupt data (CRC) and missing shards: error lines and exit codes; data
  read only from the shards the tensor needs; the same over http (nginx).
- The README's examples on the demo checkpoint, and the command-line
  conflicts.

NumPy is Debian's python3-numpy, run as /usr/bin/python3 (CI installs it);
without it the test skips (exit 77) except under CI=true.
"""
import json
import math
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

CKPTFS, GEN, FMT, DATA = (os.path.abspath(a) for a in sys.argv[1:5])
HERE = os.path.dirname(os.path.abspath(__file__))
CI = os.environ.get("CI") == "true"
NUMPY_PY = "/usr/bin/python3"

failures = []
count = 0


def check(cond, what):
    global count
    count += 1
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    return cond


def run(*args, env=None):
    p = subprocess.run([CKPTFS, *args], capture_output=True, text=True, env=env, timeout=300)
    return p.returncode, p.stdout, p.stderr


# The numpy side runs in /usr/bin/python3 (Debian's numpy) as a child: the
# python running this test may be another one.
NUMPY_HELPER = r'''
import json, sys
import numpy as np

def splitmix(seed):
    state = seed
    while True:
        state = (state + 0x9e3779b97f4a7c15) & (2**64 - 1)
        z = state
        z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & (2**64 - 1)
        z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & (2**64 - 1)
        z ^= z >> 31
        yield from z.to_bytes(8, "little")

NP = {"bool": np.bool_, "int8": np.int8, "uint8": np.uint8, "int16": np.int16,
      "uint16": np.uint16, "int32": np.int32, "uint32": np.uint32, "int64": np.int64,
      "uint64": np.uint64, "float16": np.float16, "float32": np.float32,
      "float64": np.float64, "complex64": np.complex64, "complex128": np.complex128,
      "qint8": np.int8, "quint8": np.uint8, "qint16": np.int16, "quint16": np.uint16,
      "qint32": np.int32, "bfloat16": np.uint16}
SPECIAL_F32 = [0x00000000, 0x80000000, 0x3f800000, 0xbf800000, 0x7f800000, 0xff800000,
               0x7fc00000, 0xffc00001, 0x00000001, 0x007fffff, 0x00800000, 0x7f7fffff,
               0xff7fffff, 0x3eaaaaab]
SPECIAL_F64 = [0, 0x8000000000000000, 0x3ff0000000000000, 0xbff0000000000000,
               0x7ff0000000000000, 0xfff0000000000000, 0x7ff8000000000000,
               0xfff8000000000001, 1, 0x000fffffffffffff, 0x0010000000000000,
               0x7fefffffffffffff, 0xffefffffffffffff, 0x3fd5555555555555]

def bf16_from_f32(f):
    """float32 -> bfloat16 bits, nearest even, NaN quieted (the generator's rule)."""
    u = np.asarray(f, np.float32).view(np.uint32).astype(np.uint64)
    nan = (u & 0x7f800000) == 0x7f800000
    nan &= (u & 0x7fffff) != 0
    r = ((u + 0x7fff + ((u >> 16) & 1)) >> 16) & 0xffff
    return np.where(nan, (u >> 16) | 0x40, r).astype(np.uint16)

def bf16_to_f32(b):
    return (np.asarray(b, np.uint16).astype(np.uint32) << 16).view(np.float32)

def tensor(t):
    """The full tensor as numpy holds it: bfloat16 as float32, strings as an
    object array of bytes (what TensorFlow's reader returns)."""
    dt, shape = t["dtype"], t["shape"]
    n = int(np.prod(shape)) if shape else 1
    pat = t.get("pattern", "iota")
    if dt == "string":
        if "values" in t:
            vals = [v.encode() for v in t["values"]]
        elif "values_hex" in t:
            vals = [bytes.fromhex(v) for v in t["values_hex"]]
        elif pat == "iota":
            vals = [str(i).encode() for i in range(n)]
        else:
            g = splitmix(int(pat.split(":")[1]))
            vals = []
            for _ in range(n):
                ln = next(g) % 17
                vals.append(bytes(next(g) for _ in range(ln)))
        a = np.empty(n, dtype=object)
        a[:] = vals
        return a.reshape(shape)
    npdt = NP[dt]
    if "values" in t:
        v = np.array([float(x) for x in t["values"]], np.float64)
        if dt == "bfloat16":
            a = bf16_to_f32(bf16_from_f32(v.astype(np.float32)))
        elif dt in ("float16",):
            a = v.astype(np.float32).astype(np.float16)
        elif dt == "float32":
            a = v.astype(np.float32)
        else:
            a = v.astype(npdt)
    elif pat == "iota":
        i = np.arange(n, dtype=np.uint64)
        if dt == "bool":
            a = (i % 2).astype(np.bool_)
        elif dt in ("float32", "float64"):
            a = i.astype(npdt)
        elif dt == "float16":
            a = (i % 2048).astype(np.float16)
        elif dt == "bfloat16":
            a = (i % 256).astype(np.float32)
        elif dt.startswith("complex"):
            a = np.empty(n, npdt)
            a.real, a.imag = i, -i.astype(np.float64)  # -0.0 for 0, as the generator
        else:
            a = i.astype(npdt)  # modulo 2^bits
    elif pat == "special":
        i = np.arange(n)
        if dt == "bool":
            a = (i % 2).astype(np.bool_)
        elif dt in ("float32", "complex64"):
            parts = 2 if dt == "complex64" else 1
            bits = np.array([SPECIAL_F32[j % 14] for j in range(n * parts)], np.uint32)
            a = bits.view(np.float32).view(npdt)
        elif dt in ("float64", "complex128"):
            parts = 2 if dt == "complex128" else 1
            bits = np.array([SPECIAL_F64[j % 14] for j in range(n * parts)], np.uint64)
            a = bits.view(np.float64).view(npdt)
        else:
            info = np.iinfo(npdt)
            if info.min < 0:
                s = [0, 1, -1, info.max, info.min, info.max - 1, info.min + 1, 42]
            else:
                s = [0, 1, info.max, info.max - 1, 2 ** (info.bits - 1), 42]
            a = np.array([s[j % len(s)] for j in range(n)], npdt)
    else:
        g = splitmix(int(pat.split(":")[1]))
        if dt == "bool":
            a = np.array([next(g) & 1 for _ in range(n)], np.bool_)
        else:
            size = np.dtype(npdt).itemsize
            raw = bytes(next(g) for _ in range(n * size))
            a = np.frombuffer(raw, npdt).copy()
            if dt == "bfloat16":
                a = bf16_to_f32(a)
    return a.reshape(shape)

def stats(a):
    if a.dtype == object:
        return None
    out = {"count": int(a.size)}
    if a.dtype.kind == "c":
        out["nan"] = int(np.isnan(a).sum())
        out["inf"] = int(np.isinf(a).sum())
        return out
    if a.dtype.kind == "f":
        out["nan"] = int(np.isnan(a).sum())
        out["inf"] = int(np.isinf(a).sum())
        ok = a[~np.isnan(a)]
    else:
        out["nan"] = out["inf"] = 0
        ok = a.reshape(-1)
    if ok.size:
        mn, mx = ok.min(), ok.max()
        out["min_str"], out["max_str"] = str(mn), str(mx)
        if a.dtype.kind == "f":
            out["min"], out["max"] = float(mn), float(mx)
        elif a.dtype.kind == "b":
            out["min"], out["max"] = bool(mn), bool(mx)
        else:
            # JSON: a uint64 past int64's range is its decimal string
            out["min"], out["max"] = [int(x) if int(x) < 2**63 else str(int(x)) for x in (mn, mx)]
        with np.errstate(all="ignore"):
            m = ok.astype(np.float64)
            try:  # an exact reference: math.fsum
                mean = math.fsum(m.tolist()) / m.size
            except (OverflowError, ValueError):  # infinities
                mean = float(np.mean(m))
        out["mean"] = mean
    return out

import math
req = json.load(sys.stdin)
if req["op"] == "tensors":
    res = {}
    for t in req["tensors"]:
        a = tensor(t)
        with np.errstate(all="ignore"):
            res[t["name"]] = {"str": str(a), "stats": stats(a)}
    print(json.dumps(res))
elif req["op"] == "str":
    out = []
    for dt, shape, hexes in req["arrays"]:
        if dt == "string":
            a = np.empty(len(hexes), dtype=object)
            a[:] = [bytes.fromhex(h) for h in hexes]
        else:
            a = np.frombuffer(bytes.fromhex("".join(hexes)), dtype=dt).copy()
        out.append(str(a.reshape(shape)))
    print(json.dumps(out))
'''


def numpy_call(req):
    p = subprocess.run([NUMPY_PY, "-c", NUMPY_HELPER], input=json.dumps(req),
                       capture_output=True, text=True, timeout=600)
    if p.returncode:
        raise RuntimeError(p.stderr)
    return json.loads(p.stdout)


def fmt(args, lines):
    p = subprocess.run([FMT, *args], input="".join(x + "\n" for x in lines),
                       capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


# ---- the printing itself: scalars and arrays against numpy ----

SCALARS = r'''
import json, sys
import numpy as np
rng = np.random.default_rng(20261203)
out = {}
h = np.arange(65536, dtype=np.uint16).view(np.float16)
f = rng.integers(0, 2**32, size=100000, dtype=np.uint64).astype(np.uint32).view(np.float32)
d = rng.integers(0, 2**64 - 1, size=50000, dtype=np.uint64, endpoint=True).view(np.float64)
# numbers people write, near numpy's thresholds (1e-4, 1e16), powers of two
nice = [x * s for x in (0.1, 0.2, 0.3, 1 / 3, 1e-4, 9.99999e-5, 1e15, 1e16, 9999999999999998.0,
                        123.456, 2.0 ** -149, 2.0 ** -24, 2.0 ** 24 + 2, 2.0 ** 63, 65504, 1e-45)
        for s in (1, -1)] + [2.0 ** k for k in range(-160, 130, 3)]
with np.errstate(all="ignore"):
    f = np.concatenate([f, np.array(nice, np.float32)])
    d = np.concatenate([d, np.array(nice, np.float64), np.array(nice, np.float32).astype(np.float64)])
for name, a in (("float16", h), ("float32", f), ("float64", d)):
    out[name] = ([x.tobytes().hex() for x in a], [str(x) for x in a])
print(json.dumps(out))
'''


def test_scalars():
    p = subprocess.run([NUMPY_PY, "-c", SCALARS], capture_output=True, text=True, timeout=600)
    if not check(p.returncode == 0, "numpy scalars: %s" % p.stderr[-300:]):
        return
    for dt, (hexes, want) in json.loads(p.stdout).items():
        rc, out, err = fmt(["scalar", dt], hexes)
        got = out.split("\n")[:-1]
        bad = [(h, w, g) for h, w, g in zip(hexes, want, got) if w != g]
        check(rc == 0 and len(got) == len(want) and not bad,
              "str(numpy.%s) of %d values: %d differ, e.g. %s %s" % (dt, len(want), len(bad),
                                                                   bad[:3], err))


ARRAYS = r'''
import json, sys
import numpy as np

def shown(a):
    """The elements numpy shows (what --show reads)."""
    if a.size <= 1000 or a.ndim == 0:
        return a
    idx = [list(range(3)) + list(range(n - 3, n)) if n > 6 else list(range(n)) for n in a.shape]
    return a[np.ix_(*idx)]

cases = []
def add(a, dt):
    s = shown(a)
    if dt == "string":
        lines = [x.hex() for x in s.reshape(-1)]
    else:
        lines = [x.tobytes().hex() for x in s.reshape(-1)]
    cases.append((dt, list(a.shape), lines, str(a)))

shapes = [(), (1,), (5,), (7,), (40,), (1001,), (3, 4), (10, 10), (2, 3, 4), (40, 30),
          (2, 2, 2, 2), (3, 400), (1, 1, 1200), (12, 10, 11), (0,), (2, 0)]
for seed, shape in enumerate(shapes):
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape)) if shape else 1
    with np.errstate(all="ignore"):
        for dt in ("float16", "float32", "float64"):
            u = {"float16": np.uint16, "float32": np.uint32, "float64": np.uint64}[dt]
            for v in (rng.normal(size=n) * 10,
                      rng.normal(size=n) * 10.0 ** rng.integers(-12, 12, size=n),
                      rng.integers(-50, 50, size=n).astype(float),
                      rng.integers(0, 100, size=n) / 8,
                      rng.uniform(1, 1000, size=n),
                      rng.choice([0.0, -0.0, 1.5, np.nan, np.inf, -np.inf, 1e-5, 123.25, 1e7], size=n),
                      rng.integers(0, np.iinfo(u).max, size=n, dtype=u).view(dt)):
                add(np.array(v, dtype=dt).reshape(shape), dt)
        for dt in ("int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"):
            info = np.iinfo(dt)
            v = rng.integers(info.min, info.max, size=n, dtype=dt, endpoint=True)
            add(v.reshape(shape), dt)
            add((v % 7).astype(dt).reshape(shape), dt)
        add((rng.integers(0, 2, size=n) == 1).reshape(shape), "bool")
        for dt in ("complex64", "complex128"):
            re = rng.normal(size=n) * 10.0 ** rng.integers(-3, 3, size=n)
            im = rng.choice([0.0, -1.5, np.nan, np.inf, 3.0, 1e-7], size=n)
            c = np.empty(n, dt)
            c.real, c.imag = re, im
            add(c.reshape(shape), dt)
        words = [b"ab", b"it's", b'say "x"', b"both'\"", b"", b"\\x", b"\x00\xff\n\t"]
        a = np.empty(n, dtype=object)
        a[:] = [words[i % len(words)] for i in range(n)]
        add(a.reshape(shape), "string")
print(json.dumps(cases))
'''


def test_arrays():
    p = subprocess.run([NUMPY_PY, "-c", ARRAYS], capture_output=True, text=True, timeout=600)
    if not check(p.returncode == 0, "numpy arrays: %s" % p.stderr[-300:]):
        return
    cases = json.loads(p.stdout)
    bad = 0
    for dt, shape, lines, want in cases:
        args = ["array", dt] + ([",".join(map(str, shape))] if shape else [])
        rc, out, err = fmt(args, lines)
        got = out[:-1] if rc == 0 else "exit %d: %s" % (rc, err)
        if got != want:
            bad += 1
            if bad <= 3:
                print("str(array) %s %s:\nnumpy:\n%s\nours:\n%s" % (dt, shape, want, got))
    check(bad == 0, "str(numpy array): %d of %d arrays differ" % (bad, len(cases)))


# ---- --show and --list --stats on a generated checkpoint ----

def close(a, b):
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= 1e-12 * max(abs(a), abs(b), 1e-300)


def json_number(x):
    """The JSON form of a float: a number, or "nan"/"inf"/"-inf"."""
    if isinstance(x, float) and math.isnan(x):
        return "nan"
    if isinstance(x, float) and math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def test_generated(work):
    desc_path = os.path.join(DATA, "inspect.json")
    with open(desc_path) as f:
        desc = json.load(f)
    ck = os.path.join(work, "gen", "model.ckpt-7")
    os.makedirs(os.path.dirname(ck))
    subprocess.run([GEN, desc_path, ck], check=True)
    want = numpy_call({"op": "tensors", "tensors": desc["tensors"]})

    # --show: str() of the numpy array, and only that
    for t in desc["tensors"]:
        rc, out, err = run("--show", t["name"], ck)
        check(rc == 0 and out == want[t["name"]]["str"] + "\n" and err == "",
              "--show %s: rc %d\nnumpy:\n%s\nckptfs:\n%s%s" % (t["name"], rc,
                                                             want[t["name"]]["str"], out, err))
    # --list --stats: the --list columns, then MIN MAX MEAN NANS INFS
    rc, out, err = run("--list", "--stats", ck)
    check(rc == 0 and err == "", "--list --stats: rc %d %s" % (rc, err))
    rc2, plain, _ = run("--list", ck)
    lines = out.split("\n")[:-1]
    check([x.split("\t")[:3] for x in lines] == [x.split("\t") for x in plain.split("\n")[:-1]],
          "--list --stats starts each line as --list does")
    by_name = {x.split("\t")[0]: x.split("\t")[3:] for x in lines}
    rc, jout, err = run("--list", "--stats", "--json", ck)
    check(rc == 0 and err == "", "--list --stats --json: rc %d %s" % (rc, err))
    js = {o["name"]: o for o in json.loads(jout)} if rc == 0 else {}
    for t in desc["tensors"]:
        name, s = t["name"], want[t["name"]]["stats"]
        cols, o = by_name.get(name), js.get(name, {})
        if s is None:  # strings
            check(cols == ["-"] * 5, "--stats %s: %s" % (name, cols))
            check(all(o.get(k, 0) is None for k in ("min", "max", "mean", "nan", "inf")),
                  "--stats --json %s: %s" % (name, o))
            continue
        if not check(cols is not None and len(cols) == 5, "--stats %s: %s" % (name, cols)):
            continue
        check(cols[3:] == [str(s["nan"]), str(s["inf"])] and o.get("nan") == s["nan"] and
              o.get("inf") == s["inf"], "--stats %s: NaN/inf %s %s, want %s" % (name, cols, o, s))
        if "min" in s:
            check(cols[0] == s["min_str"] and cols[1] == s["max_str"],
                  "--stats %s: min/max %s, want %s %s" % (name, cols[:2], s["min_str"],
                                                         s["max_str"]))
            check(o.get("min") == json_number(s["min"]) and o.get("max") == json_number(s["max"]),
                  "--stats --json %s: min/max %s %s, want %s %s" % (name, o.get("min"),
                                                                   o.get("max"), s["min"], s["max"]))
            mean = float(cols[2]) if cols[2] != "-" else None
            jm = o.get("mean")
            jm = float(jm) if isinstance(jm, str) else jm
            check(mean is not None and close(mean, s["mean"]) and jm is not None and
                  close(jm, s["mean"]), "--stats %s: mean %s / %s, want %r" % (name, cols[2],
                                                                             o.get("mean"),
                                                                             s["mean"]))
        else:  # complex, empty, all NaN
            check(cols[:3] == ["-"] * 3 and o.get("min") is None and o.get("mean") is None,
                  "--stats %s: %s %s, want no min/max/mean" % (name, cols, o))
    return ck, desc, want


def flip_byte(path, at):
    with open(path, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0x40]))


def test_corrupt_and_lazy(work, ck, want):
    d = os.path.join(work, "bad")
    shutil.copytree(os.path.dirname(ck), d)
    bad = os.path.join(d, os.path.basename(ck))
    # a byte of f64/big (iota, stored whole in shard 0) flipped: its CRC fails
    with open(bad + ".data-00000-of-00002", "rb") as f:
        data = f.read()
    needle = struct.pack("<8d", *range(600, 608))  # f64/big elements 600..607
    at = data.find(needle)
    if not check(at >= 0, "corrupt: f64/big not found in shard 0"):
        return
    flip_byte(bad + ".data-00000-of-00002", at + 3)
    rc, out, err = run("--show", "f64/big", bad)
    check(rc == 65 and out == "" and "Checksum does not match" in err and
          len(err.strip().split("\n")) == 1, "--show of a corrupt tensor: rc %d %r %r" % (rc, out, err))
    # the values it shows (the edges) are intact: --verify none prints them
    rc, out, err = run("--show", "f64/big", "--verify", "none", bad)
    check(rc == 0 and out == want["f64/big"]["str"] + "\n", "--show --verify none: rc %d %s" % (rc, err))
    rc, out, err = run("--list", "--stats", bad)
    lines = {x.split("\t")[0]: x.split("\t")[3:] for x in out.split("\n")[:-1]}
    check(rc == 65 and lines.get("f64/big") == ["?"] * 5 and
          lines.get("f64/infs", [""])[0] == "-inf" and len(lines) == 53 and
          "Checksum does not match" in err and "f64/big" in err,
          "--list --stats with a corrupt tensor: rc %d %s %r" % (rc, lines.get("f64/big"), err))
    rc, out, err = run("--list", "--stats", "--json", bad)
    js = {o["name"]: o for o in json.loads(out)} if out else {}
    check(rc == 65 and "Checksum does not match" in js.get("f64/big", {}).get("error", "") and
          js["f64/big"]["min"] is None and "error" not in js.get("f64/infs", {"error": 1}),
          "--list --stats --json with a corrupt tensor: rc %d %s" % (rc, js.get("f64/big")))
    rc, out, err = run("--list", "--stats", "--verify", "none", bad)
    check(rc == 0, "--list --stats --verify none reads the corrupt tensor: rc %d %s" % (rc, err))

    # lazy shards: without shard 1, tensors of shard 0 still show and
    # --list --stats says which it could not read (exit 66, a missing file)
    lazy = os.path.join(work, "lazy")
    shutil.copytree(os.path.dirname(ck), lazy)
    lk = os.path.join(lazy, os.path.basename(ck))
    os.unlink(lk + ".data-00001-of-00002")
    rc, out, err = run("--show", "f32/plain", lk)
    check(rc == 0 and out == want["f32/plain"]["str"] + "\n", "--show without an unused shard: %d %s" % (rc, err))
    rc, out, err = run("--show", "shard1/only", lk)
    check(rc == 66 and out == "" and "data-00001-of-00002" in err,
          "--show of a tensor in a missing shard: rc %d %r" % (rc, err))
    rc, out, err = run("--show", "part/rows", lk)  # parts in shards 0 and 1
    check(rc == 66 and out == "", "--show of a partitioned tensor half in a missing shard: %d" % rc)
    rc, out, err = run("--list", "--stats", lk)
    lines = {x.split("\t")[0]: x.split("\t")[3:] for x in out.split("\n")[:-1]}
    check(rc == 66 and lines.get("shard1/only") == ["?"] * 5 and lines.get("part/cols") == ["?"] * 5
          and lines.get("f32/plain", [""])[0] == "-1.5",
          "--list --stats without shard 1: rc %d %s" % (rc, lines))


SANITIZER = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                       r"SUMMARY: (Address|Undefined|Leak)Sanitizer")


def test_hostile(work, ck):
    """Index bytes flipped (block CRCs recomputed, so the flips reach the
    parsers) and data bytes flipped: --list --stats and --show end with 0,
    65 or 66, never a signal, a hang or a sanitizer report."""
    import importlib.util
    import random
    path = os.path.join(HERE, "..", "scripts", "fix-table-crcs.py")
    spec = importlib.util.spec_from_file_location("fix_table_crcs", path)
    fix = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(fix)
    d = os.path.join(work, "hostile")
    shutil.copytree(os.path.dirname(ck), d)
    hk = os.path.join(d, os.path.basename(ck))
    with open(hk + ".index", "rb") as f:
        index = f.read()
    rng = random.Random(12)
    flips = int(os.environ.get("CKPT_INSPECT_FLIPS", "60"))
    problems, runs = [], 0
    for k in range(flips):
        b = bytearray(index)
        at = rng.randrange(len(b))
        b[at] ^= rng.randrange(1, 256)
        fix.fix_table(b)
        with open(hk + ".index", "wb") as f:
            f.write(b)
        for args in (["--list", "--stats", "--verify", "none"], ["--show", "f32/big2d"],
                     ["--show", "str/grid"], ["--show", "part/cols"]):
            runs += 1
            try:
                p = subprocess.run([CKPTFS, *args, hk], capture_output=True, timeout=60)
            except subprocess.TimeoutExpired:
                problems.append("flip %d: %s hung" % (at, args))
                continue
            err = p.stderr.decode("utf-8", "replace")
            if p.returncode not in (0, 65, 66) or SANITIZER.search(err):
                problems.append("flip %d: %s: exit %d %s" % (at, args, p.returncode, err[:300]))
    with open(hk + ".index", "wb") as f:
        f.write(index)
    data = hk + ".data-00000-of-00002"
    size = os.path.getsize(data)
    for k in range(20):
        flip_byte(data, rng.randrange(size))
    rc, out, err = run("--list", "--stats", "--verify", "none", hk)
    check(rc == 0 and not SANITIZER.search(err), "--stats of flipped data, unchecked: %d %s" % (rc, err))
    check(not problems, "hostile index (%d runs): %s" % (runs, problems[:5]))


def test_v1(work):
    """V1 files (tests/fuzz/corpus/v1, made by scripts/gen-fuzz-corpus.py):
    a tensor saved in two row slices shows and counts whole; one whose
    slices leave a gap is TensorFlow's "Does not have sufficient slices"."""
    corpus = os.path.join(HERE, "fuzz", "corpus", "v1")
    sliced, dtypes = os.path.join(corpus, "seed-sliced"), os.path.join(corpus, "seed-dtypes")

    def h(fmt, *v):
        return struct.pack("<" + fmt, *v).hex()
    arrays = {  # the values gen-fuzz-corpus.py wrote
        (sliced, "part"): ("float32", [4, 2], [h("f", x) for x in range(1, 9)]),
        (dtypes, "d"): ("float64", [2], [h("d", 1.0), h("d", -2.5)]),
        (dtypes, "i32"): ("int32", [2, 2], [h("i", x) for x in (1, 2, 3, 4)]),
        (dtypes, "i64"): ("int64", [3], [h("q", x) for x in (1, 1 << 40, 3)]),
        (dtypes, "i8"): ("int8", [2], [h("b", x) for x in (7, -1)]),
        (dtypes, "b"): ("bool", [3], ["01", "00", "01"]),
        (dtypes, "h"): ("float16", [2], [h("H", 0x3C00), h("H", 0x4000)]),
        (dtypes, "c64"): ("complex64", [1], [h("ff", 1.0, 2.0)]),
        (dtypes, "c128"): ("complex128", [1], [h("dd", 1.0, 2.0)]),
        (dtypes, "s"): ("string", [2], [b"ab".hex(), b"cde".hex()]),
        (dtypes, "u16"): ("uint16", [2], [h("H", 1), h("H", 2)]),
    }
    want = numpy_call({"op": "str", "arrays": list(arrays.values())})
    for (path, name), w in zip(arrays, want):
        rc, out, err = run("--show", name, path)
        check(rc == 0 and out == w + "\n", "V1 --show %s: %d\n%s\n%s%s" % (name, rc, w, out, err))
    rc, out, err = run("--list", "--stats", sliced)
    check(rc == 65 and out == "gap\tint32\t[3]\t?\t?\t?\t?\t?\n"
          "part\tfloat32\t[4,2]\t1.0\t8.0\t4.5\t0\t0\n" and
          "Does not have sufficient slices for partitioned tensor gap" in err,
          "V1 sliced --list --stats: %d %r %r" % (rc, out, err))
    rc, out, err = run("--show", "gap", sliced)
    check(rc == 65 and out == "" and "sufficient slices" in err, "V1 --show gap: %d %r" % (rc, err))


def test_fixtures(root):
    """Statistics of every fixture tensor whose INVENTORY.md values are all
    listed; SOURCE.txt's known contents shown as numpy shows them."""
    sys.path.insert(0, HERE)
    import fixtures_test  # the INVENTORY.md parser
    blocks = fixtures_test.parse_inventory(os.path.join(root, "INVENTORY.md"))
    known = 0
    for b in blocks:
        path = os.path.join(root, b["file"])
        prefix = path[:-len(".index")] if b["kind"] == "V2" else path
        rc, out, err = run("--list", "--stats", "--json", prefix)
        if not check(rc == 0, "%s: --list --stats: rc %d %s" % (b["file"], rc, err)):
            continue
        for o in json.loads(out):
            t = b["tensors"].get(o["name"])
            if not t or t["values"] is None or "total)" in t["values"] or t["dtype"] in (
                    "string", "variant") or not t["dtype"].startswith(("float", "int", "uint")):
                continue
            vals = [float(x) if t["dtype"].startswith("float") else int(x)
                    for x in t["values"].split(",") if x.strip()]
            n = 1
            for dim in t["shape"]:
                n *= dim
            if len(vals) != n or not vals:
                continue
            known += 1
            if t["dtype"] == "float32":
                vals = [struct.unpack("<f", struct.pack("<f", v))[0] for v in vals]
            mean = math.fsum(vals) / len(vals)
            check(o["min"] == min(vals) and o["max"] == max(vals) and close(o["mean"], mean) and
                  o["nan"] == 0 and o["inf"] == 0,
                  "%s: %s stats %s, want min %s max %s mean %s" % (b["file"], o["name"], o,
                                                                 min(vals), max(vals), mean))
    check(known >= 100, "only %d fixture tensors with all their values listed" % known)
    bundle = os.path.join(root, "tf_contrib_framework_bundle_checkpoint/bundle_checkpoint")
    rc, out, _ = run("--list", "--stats", bundle)
    check(rc == 0 and out == "some_scope/embeddings\tfloat32\t[5,16]\t0.0\t79.0\t39.5\t0\t0\n"
          "some_scope/indices\tint64\t[5]\t3\t7\t5.0\t0\t0\n", "bundle_checkpoint --stats: %r" % out)
    want = numpy_call({"op": "tensors", "tensors": [
        {"name": "e", "dtype": "float32", "shape": [5, 16], "pattern": "iota"},
        {"name": "i", "dtype": "int64", "shape": [5], "values": [3, 4, 5, 6, 7]},
        {"name": "a", "dtype": "float32", "shape": [], "values": [0.5]}]})
    for name, key in (("some_scope/embeddings", "e"), ("some_scope/indices", "i")):
        rc, out, err = run("--show", name, bundle)
        check(rc == 0 and out == want[key]["str"] + "\n", "bundle_checkpoint --show %s: %s%s" % (name, out, err))
    rc, out, err = run("--show", "a", os.path.join(root, "tf_cc_half_plus_two_00000123/variables"))
    check(rc == 0 and out == want["a"]["str"] + "\n", "half_plus_two --show a: %r %s" % (out, err))
    # a V1 file (SOURCE.txt: Variable = 0.5, Variable_1 = 2.0)
    rc, out, err = run("--list", "--stats", os.path.join(root, "serving_bad_half_plus_two_v1/export"))
    check(rc == 0 and out == "Variable\tfloat32\t[]\t0.5\t0.5\t0.5\t0\t0\n"
          "Variable_1\tfloat32\t[]\t2.0\t2.0\t2.0\t0\t0\n", "V1 fixture --list --stats: %d %r %s" % (rc, out, err))
    # real checkpoints of two shards: both read, every CRC checked
    for two in ("tf_tftrt_2.0_saved_model_2shards/variables", "tfjsnode_A_2shards/A"):
        rc, out, err = run("--list", "--stats", os.path.join(root, two))
        check(rc == 0 and out and "?" not in out, "%s --list --stats: %d %s" % (two, rc, err))


def test_remote(work, ck, want):
    sys.path.insert(0, os.path.join(HERE, "remote"))
    try:
        import servers
        servers.require("nginx")
    except Exception as e:  # noqa: BLE001 (Unavailable, or no module)
        check(not CI, "remote: %s under CI" % e)
        return
    www = os.path.join(work, "www")
    os.makedirs(www)
    shutil.copytree(os.path.dirname(ck), os.path.join(www, "b"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GOOGLE_", "GS_"))}
    env["HOME"] = work
    with servers.NginxServer(www) as web, servers.FaultProxy(web.url) as fp:
        url = fp.url + "/b/" + os.path.basename(ck)
        rc, out, err = run("--show", "f32/big2d", url, env=env)
        check(rc == 0 and out == want["f32/big2d"]["str"] + "\n", "--show over http: %d %s" % (rc, err))
        fp.reset_stats()
        # the index, then the bytes of shard 1 the tensor needs: one block
        rc, out, err = run("--show", "shard1/only", url, "--verify", "none", env=env)
        paths = fp.stats()["paths"]
        check(rc == 0 and out == want["shard1/only"]["str"] + "\n" and
              not any("00000-of" in p for p in paths) and
              sum(v["bytes"] for p, v in paths.items() if "00001-of" in p) <= 256 << 10,
              "--show over http reads the index and what it shows: %s %s" % (paths, err))
        rc, out, err = run("--list", "--stats", url, env=env)
        rc2, local, _ = run("--list", "--stats", ck)
        check(rc == 0 and out == local, "--list --stats over http as from disk: %d %s" % (rc, err))


def readme_examples(work):
    """Every `$ ckptfs --list --stats` / `--show` example of the README's
    section on them, run on the demo checkpoint, prints what it shows."""
    with open(os.path.join(HERE, "..", "README.md")) as f:
        text = f.read()
    start = text.find("### Look at the values")
    end = text.find("\n### ", start + 1)
    sec = text[start:end]
    demo = os.path.join(work, "demo")
    os.makedirs(demo)
    subprocess.run([GEN, os.path.join(HERE, "..", "scripts", "demo", "sample.json"),
                    os.path.join(demo, "model.ckpt-1000")], check=True)
    examples = 0
    lines = sec.split("\n")
    k = 0
    while k < len(lines):
        m = re.match(r"^    \$ ckptfs (.*)$", lines[k])
        k += 1
        if not m:
            continue
        args = m.group(1).split()
        expect = []
        while k < len(lines) and lines[k].startswith("    ") and not lines[k].startswith("    $ "):
            expect.append(lines[k][4:])
            k += 1
        p = subprocess.run([CKPTFS, *args], capture_output=True, text=True, cwd=work)
        got = (p.stdout + p.stderr).rstrip("\n").split("\n")
        examples += 1
        check(got == expect, "README example ckptfs %s:\nREADME:\n%s\nckptfs:\n%s" % (
            m.group(1), "\n".join(expect), "\n".join(got)))
    check(examples >= 3, "README: %d --stats/--show examples found" % examples)


def cli_conflicts(ck):
    for args, words in (
            (["--stats", ck, "/mnt"], "--stats applies to --list only, not to a mount"),
            (["--dry-run", "--stats", ck], "--stats applies to --list only, not to --dry-run"),
            (["--show", "x", "--stats", ck], "--stats applies to --list only, not to --show"),
            (["--show", "x", ck, "/mnt"], "too many arguments: /mnt (--show mounts nothing)"),
            (["--show", "x", "--json", ck], "--json does not apply to --show"),
            (["--show", "x", "--map", "a/=b/", ck], "--map does not apply to --show"),
            (["--show", "x", "--show", "y", ck], "--show takes one NAME"),
            (["--show", "x", "--list", ck], "--show and --list cannot be used together"),
            (["--list", "--verify", "none", ck], "--verify applies to --list only with --stats"),
            (["--show", "x", "--verify", "mount", ck], "--verify mount applies to a mount"),
            (["--show", "x"], "--show needs a CHECKPOINT"),
            (["--show"], "--show needs a value"),
            (["--list", "--statz", ck], "unknown option --statz (did you mean --stats?)")):
        rc, out, err = run(*args)
        check(rc == 64 and out == "" and words in err and len(err.strip().split("\n")) == 1,
              "ckptfs %s: rc %d %r" % (" ".join(args), rc, err))
    rc, out, err = run("--help")
    check(all(w in out for w in ("--stats", "--show NAME", "--verify none|read")),
          "--help names --stats and --show")
    with open(os.path.join(HERE, "..", "fs", "ckptfs.1")) as f:
        man = f.read()
    check("\\-\\-stats" in man and "\\-\\-show" in man, "the man page names --stats and --show")
    # unknown NAME: TensorFlow's inspect_checkpoint text, then the closest
    rc, out, err = run("--show", "f32/plian", ck)
    check(rc == 66 and out == "" and err.split("\n")[0] ==
          "ckptfs: Tensor f32/plian not found in checkpoint" and
          "did you mean 'f32/plain'" in err, "--show of an unknown name: %d %r" % (rc, err))


def too_many_values(work):
    """A tensor numpy would print in full with more values than --show
    prints: refused with one line, exit 65."""
    desc = os.path.join(work, "many.json")
    with open(desc, "w") as f:
        json.dump({"tensors": [{"name": "b", "dtype": "bool", "shape": [6] * 8}]}, f)
    ck = os.path.join(work, "many", "c")
    os.makedirs(os.path.dirname(ck))
    subprocess.run([GEN, desc, ck], check=True)
    rc, out, err = run("--show", "b", ck)
    check(rc == 65 and out == "" and "1679616 values" in err, "--show of 6^8 values: %d %r" % (rc, err))


def main():
    have_numpy = subprocess.run([NUMPY_PY, "-c", "import numpy"], capture_output=True).returncode == 0
    if not have_numpy:
        if CI:
            print("FAIL: python3-numpy missing under CI")
            return 1
        print("SKIP: no numpy in %s" % NUMPY_PY)
        return 77
    work = tempfile.mkdtemp(prefix="ckpt-inspect-")
    try:
        test_scalars()
        test_arrays()
        ck, desc, want = test_generated(work)
        test_corrupt_and_lazy(work, ck, want)
        test_v1(work)
        test_hostile(work, ck)
        cli_conflicts(ck)
        too_many_values(work)
        readme_examples(work)
        root = os.environ.get("CKPT_FIXTURES", "")
        if os.path.isdir(root):
            test_fixtures(root)
        else:
            check(not CI, "fixtures folder %r missing under CI" % root)
        test_remote(work, ck, want)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%d passed, %d failed" % (count - len(failures), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
