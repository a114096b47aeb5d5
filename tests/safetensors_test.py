#!/usr/bin/env python3
"""--format safetensors, read by a reader written here from the format's
specification (../shared/spec/safetensors.md: struct, json and numpy over
mmap; nothing shared with ckptfs's code), on real mounts:

- generated checkpoints of every dtype safetensors has (tests/data/
  all_dtypes.json, complex ones cast), partitioned targets (parts are
  NAME/part_<i>), casts (--cast float32=bfloat16 checked against torch's
  own rounding), key_sep '.': exactly the expected keys, dtypes, shapes and
  bytes (oracle: ckpt-dump's values, or the raw-format mount of the same
  map); bfloat16 values through torch.frombuffer;
- every real fixture of ../shared/fixtures: its numeric tensors (a fixture
  with a string tensor is refused, then mounted through a map of its
  numeric tensors), bytes from ckpt-dump;
- the layout the reference reader enforces: header length, 8-byte data
  start, spaces as padding, the reference writer's order (dtype alignment
  then key), every tensor aligned to its element size, offsets tiling the
  data without gaps or overlaps, __metadata__ strings only;
- reads at random offsets and sizes (spanning tensors) equal the file;
- nothing read at mount (a corrupt tensor still mounts), checksums as for
  raw files (the whole file read fails with EIO, --verify mount refuses);
- refusals before mounting, one line, exit 67: string, complex (naming the
  --cast that helps), colliding keys, a tensor named __metadata__;
- names are escaped JSON strings (quotes, backslashes, control bytes, a
  100 KB name); a name that is not UTF-8 is refused (exit 65, as every
  format refuses it);
- README's "Load a checkpoint in PyTorch" example, run as written.

usage: safetensors_test.py CKPTFS CKPT_DUMP CKPT_GEN DATA_DIR
Needs /dev/fuse, numpy and torch (Debian's python3-numpy, python3-torch,
which are /usr/bin/python3's: the test re-runs itself with it when the
python running it lacks them); skips (77) without them, except under
CI=true, where it fails.
"""
import errno
import json
import mmap
import os
import random
import re
import struct
import subprocess
import sys
import tempfile

CI = os.environ.get("CI") == "true"


def have_modules():
    try:
        import numpy  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


if not have_modules():
    sysp = "/usr/bin/python3"
    if os.path.exists(sysp) and os.path.realpath(sys.executable) != os.path.realpath(sysp) \
            and os.environ.get("CKPT_ST_REEXEC") != "1":
        os.environ["CKPT_ST_REEXEC"] = "1"
        os.execv(sysp, [sysp, os.path.abspath(__file__), *sys.argv[1:]])
    print("numpy or torch missing (apt-get install python3-numpy python3-torch)")
    sys.exit(1 if CI else 77)

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mount_test as mt  # noqa: E402  (Mount, expected_bytes, escape_path)
from mutation_test import load_script  # noqa: E402

CKPTFS, DUMP, GEN, DATA = sys.argv[1:5]
failures = mt.failures
check = mt.check
counts = {}
README = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "README.md")


def count(what, n=1):
    counts[what] = counts.get(what, 0) + n


# ---- the format, from its specification ----

# dtype -> (element size, numpy dtype); in the reference's Dtype order, which
# is by alignment (its writer puts the largest first)
ST_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16", "BF16", "I32",
            "U32", "F32", "F64", "I64", "U64"]
ST_DTYPES = {"BOOL": (1, "|b1"), "U8": (1, "|u1"), "I8": (1, "|i1"), "I16": (2, "<i2"),
             "U16": (2, "<u2"), "F16": (2, "<f2"), "BF16": (2, "<u2"), "I32": (4, "<i4"),
             "U32": (4, "<u4"), "F32": (4, "<f4"), "F64": (8, "<f8"), "I64": (8, "<i8"),
             "U64": (8, "<u8")}
# TensorFlow's dtype names (ckpt-dump, @mapping.json) -> safetensors'
TF_TO_ST = {"bool": "BOOL", "uint8": "U8", "int8": "I8", "int16": "I16", "uint16": "U16",
            "float16": "F16", "bfloat16": "BF16", "int32": "I32", "uint32": "U32",
            "float32": "F32", "float64": "F64", "int64": "I64", "uint64": "U64"}


def no_dups(pairs):
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise ValueError(f"duplicate keys {keys}")
    return dict(pairs)


class StFile:
    """A safetensors file read over mmap as the spec says; every rule the
    reference reader enforces, and the reference writer's layout, checked
    (failures named after `what`)."""

    def __init__(self, path, what):
        self.what = what
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            self.mm = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ) if size else b""
        self.ok = check(size >= 8, f"{what}: {size} bytes")
        if not self.ok:
            return
        (n,) = struct.unpack("<Q", self.mm[:8])
        self.n = n
        self.ok = check(8 + n <= size and n <= 100_000_000, f"{what}: header length {n}")
        if not self.ok:
            return
        check((8 + n) % 8 == 0, f"{what}: data starts at {8 + n}, not a multiple of 8")
        raw = bytes(self.mm[8:8 + n])
        body = raw.rstrip(b" ")
        check(body.startswith(b"{") and body.endswith(b"}") and len(raw) - len(body) < 8,
              f"{what}: header {raw[:40]!r}...{raw[-40:]!r}")
        try:
            text = raw.decode("utf-8")
            # keys in file order, duplicates refused (the spec: an error)
            self.pairs = json.loads(text, object_pairs_hook=lambda p: (no_dups(p), p)[1])
        except ValueError as e:
            self.ok = check(False, f"{what}: header is not UTF-8 JSON: {e}")
            return
        self.header = dict(self.pairs)
        self.meta = self.header.pop("__metadata__", None)
        names = [k for k, _ in self.pairs]
        check("__metadata__" not in names or names[0] == "__metadata__",
              f"{what}: __metadata__ is not first (the reference writer puts it first)")
        if self.meta is not None:
            self.meta = dict(self.meta)
            check(all(isinstance(k, str) and isinstance(v, str) for k, v in self.meta.items()),
                  f"{what}: __metadata__ is not string to string: {self.meta}")
        self.data = 8 + n
        self.tensors = {}
        for k, t in self.header.items():
            t = dict(t)
            ok = check(sorted(t) == ["data_offsets", "dtype", "shape"] and
                       t["dtype"] in ST_DTYPES and isinstance(t["shape"], list) and
                       all(isinstance(d, int) and d >= 0 for d in t["shape"]) and
                       len(t["data_offsets"]) == 2, f"{what}: {k!r}: entry {t}")
            if not ok:
                continue
            esize = ST_DTYPES[t["dtype"]][0]
            a, b = t["data_offsets"]
            check(b - a == int(np.prod(t["shape"], dtype=np.int64)) * esize,
                  f"{what}: {k!r}: {b - a} bytes for {t['dtype']} {t['shape']}")
            check(a % esize == 0 and (self.data + a) % esize == 0,
                  f"{what}: {k!r} at {a} is not aligned to {esize}")
            self.tensors[k] = (t["dtype"], t["shape"], a, b)
        # sorted by begin, the tensors tile the data exactly: no gap, no
        # overlap, no trailing byte
        by_off = sorted(self.tensors.items(), key=lambda kv: (kv[1][2], kv[1][3]))
        at = 0
        for k, (_, _, a, b) in by_off:
            check(a == at, f"{what}: {k!r} begins at {a}, the previous ended at {at}")
            at = max(at, b)
        check(self.data + at == size, f"{what}: data ends at {self.data + at}, file is {size}")
        # the reference writer's order: alignment (Dtype order) descending,
        # then key bytewise; the header lists them in data order
        want = sorted(self.tensors, key=lambda k: (-ST_ORDER.index(self.tensors[k][0]),
                                                   k.encode("utf-8")))
        check([k for k, _ in by_off] == want, f"{what}: data order {[k for k, _ in by_off][:8]}"
              f"... is not the reference writer's {want[:8]}...")
        check([k for k in names if k != "__metadata__"] == want,
              f"{what}: header order is not the data order")
        self.size = size

    def bytes_of(self, key):
        _, _, a, b = self.tensors[key]
        return bytes(self.mm[self.data + a:self.data + b])

    def array(self, key):
        """numpy over the mmap, in place."""
        dt, shape, a, b = self.tensors[key]
        esize, npd = ST_DTYPES[dt]
        return np.frombuffer(self.mm, dtype=np.dtype(npd), count=(b - a) // esize,
                             offset=self.data + a).reshape(shape)

    def close(self):
        if isinstance(self.mm, mmap.mmap):
            self.mm.close()


def compare(st, want, what):
    """want: key -> (ST dtype, shape, bytes). Exactly these keys, dtypes,
    shapes and bytes (read through numpy over the mmap)."""
    check(set(st.tensors) == set(want),
          f"{what}: keys {sorted(st.tensors)[:10]} want {sorted(want)[:10]} "
          f"(extra {sorted(set(st.tensors) - set(want))[:5]}, "
          f"missing {sorted(set(want) - set(st.tensors))[:5]})")
    for k, (dt, shape, data) in want.items():
        if k not in st.tensors:
            continue
        got = st.tensors[k]
        check(got[0] == dt and got[1] == list(shape),
              f"{what}: {k!r}: {got[0]} {got[1]}, want {dt} {list(shape)}")
        if got[0] != dt:
            continue
        arr = st.array(k)
        check(arr.tobytes() == data, f"{what}: {k!r}: bytes differ ({arr.nbytes} vs {len(data)})")
        count("tensors compared")


def torch_bf16(st, key, want_f32_bits):
    """A BF16 tensor through torch.frombuffer: its values are the bfloat16
    of want_f32_bits (numpy uint32 float32 patterns, top halves), as floats."""
    t = torch.frombuffer(bytearray(st.bytes_of(key)), dtype=torch.bfloat16)
    got = t.float().numpy()
    want = (want_f32_bits.astype(np.uint32) & 0xFFFF0000).view(np.float32)
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    check(bool(same.all()), f"torch bfloat16 {key!r}: {got[:6]} want {want[:6]}")
    count("bfloat16 tensors through torch")


def dump_of(pfx):
    return json.loads(subprocess.run([DUMP, pfx], capture_output=True, text=True,
                                     check=True).stdout)


def gen(d, spec, name):
    path = spec if isinstance(spec, str) else os.path.join(d, name + ".json")
    if not isinstance(spec, str):
        with open(path, "w") as f:
            json.dump(spec, f)
    pfx = os.path.join(d, name)
    subprocess.run([GEN, path, pfx], check=True)
    return pfx


def raw_oracle(pfx, opts, sep="/"):
    """key -> (ST dtype, shape, bytes) from the raw-format mount of the same
    map: a file's key is its name, a part's NAME/part_<i>."""
    out = {}
    with mt.Mount(pfx, *opts) as m:
        if not m.ok:
            return out
        with open(os.path.join(m.dir, "@mapping.json")) as f:
            plan = json.load(f)
        for e in plan:
            key = e["name"]
            if e["slice"]:
                key += "/" + e["path"].rsplit("/", 1)[1]
            with open(os.path.join(m.dir, e["path"]), "rb") as f:
                data = f.read()
            out[key.replace("/", sep)] = (TF_TO_ST[e["dtype"]], e["shape"], data)
    return out


def st_mount(pfx, *opts, what):
    """(Mount, StFile) of --format safetensors; the caller closes both."""
    m = mt.Mount(pfx, "--format", "safetensors", *opts)
    if not m.ok:
        return m, None
    listed = subprocess.run([CKPTFS, "--list", pfx], capture_output=True, text=True).stdout
    tf2 = any(ln.split("\t")[0] == mt.OBJECT_GRAPH for ln in listed.splitlines())
    want = ["@mapping.json"] + (["@object_graph.json"] if tf2 else []) + ["model.safetensors"]
    check(sorted(os.listdir(m.dir)) == want, f"{what}: files {sorted(os.listdir(m.dir))}")
    return m, StFile(os.path.join(m.dir, "model.safetensors"), what)


def whole(path):
    with open(path, "rb") as f:
        return f.read()


def mapping_matches(m, st, what):
    """@mapping.json: one entry per tensor at model.safetensors, with the
    header's key and data_offsets."""
    with open(os.path.join(m.dir, "@mapping.json")) as f:
        plan = json.load(f)
    got = {e["key"]: (e["path"], e["data_offsets"], e["size"]) for e in plan}
    want = {k: ("model.safetensors", [a, b], b - a) for k, (_, _, a, b) in st.tensors.items()}
    check(len(plan) == len(st.tensors) and got == want,
          f"{what}: @mapping.json {list(got.items())[:3]} want {list(want.items())[:3]}")


def random_reads(path, content, what, n=300, seed=1):
    """pread at random offsets and sizes (across tensor boundaries and the
    header's end) on a fresh open: the bytes of the whole file."""
    rnd = random.Random(seed)
    fd = os.open(path, os.O_RDONLY)
    try:
        for _ in range(n):
            off = rnd.randrange(len(content) + 8)
            size = rnd.choice([1, 3, 8, 100, 4095, 4097, 65536 + 7, 200000])
            got = os.pread(fd, size, off)
            if not check(got == content[off:off + size],
                         f"{what}: pread({size}, {off}) differs"):
                break
            count("random reads")
    finally:
        os.close(fd)


# ---- generated checkpoints ----

CASTS = ["--cast", "complex64=float32", "--cast", "complex128=float64"]


def all_dtypes(d):
    """Every dtype safetensors has, with ckpt-dump's values as the oracle;
    bfloat16 through torch; random reads; mmap; @mapping.json."""
    pfx = gen(d, os.path.join(DATA, "all_dtypes.json"), "all")
    dump = dump_of(pfx)
    want = {}
    for t in dump:
        dt = t["dtype"]
        if dt.startswith("complex"):
            # the cast keeps the real part (README "Re-typing rules")
            f = "f" if dt == "complex64" else "d"
            data = b"".join(mt.pack1(f, v[0]) for v in t["values"])
            want[t["name"]] = ("F32" if dt == "complex64" else "F64", t["shape"], data)
        else:
            want[t["name"]] = (TF_TO_ST[dt], t["shape"], mt.expected_bytes(t))
    check(len({v[0] for v in want.values()}) == 13, "all_dtypes: not every safetensors dtype")
    m, st = st_mount(pfx, *CASTS, what="all_dtypes")
    with m:
        if st:
            compare(st, want, "all_dtypes")
            mapping_matches(m, st, "all_dtypes")
            for t in dump:
                if t["dtype"] == "bfloat16" and st.tensors.get(t["name"]):
                    bits = np.array([int(v[5:], 16) if isinstance(v, str) else v
                                     for v in t["values"]], dtype=np.uint32) << 16
                    torch_bf16(st, t["name"], bits)
            meta = st.meta or {}
            check(meta.get("format") == "pt" and
                  meta.get("ckptfs.checkpoint") == os.path.abspath(pfx) and
                  meta.get("ckptfs.cast") == "complex64=float32,complex128=float64" and
                  "ckptfs.map" not in meta and meta.get("ckptfs.version"),
                  f"all_dtypes: __metadata__ {meta}")
            content = whole(os.path.join(m.dir, "model.safetensors"))
            check(content == bytes(st.mm), "all_dtypes: read() differs from mmap")
            st.close()
    # a fresh mount: reads that start anywhere and span tensors
    with mt.Mount(pfx, "--format", "safetensors", *CASTS) as m:
        if m.ok:
            random_reads(os.path.join(m.dir, "model.safetensors"), content, "all_dtypes")
    # -o format=safetensors,key_sep=.: the same tensors under dotted keys
    m, st = st_mount(pfx, "-o", "key_sep=.,cast=complex64=float32,cast=complex128=float64",
                     what="key_sep .")
    with m:
        if st:
            compare(st, {k.replace("/", "."): v for k, v in want.items()}, "key_sep .")
            st.close()
    m = mt.Mount(pfx, "-o", "format=safetensors,key_sep=.," +
                 "cast=complex64=float32,cast=complex128=float64")
    with m:
        if m.ok:
            st = StFile(os.path.join(m.dir, "model.safetensors"), "-o format=safetensors")
            check("iota.float32" in st.tensors, "-o format=safetensors,key_sep=.: keys")
            st.close()


TARGETS = {"variables": [
    {"name": "new/rows3", "dtype": "bfloat16", "shape": [10, 3], "partitions": [4, 1]},
    {"name": "new/cols2", "dtype": "int64", "shape": [4, 5], "partitions": [1, 2]},
    {"name": "new/plain", "dtype": "float64", "shape": [2]},
    {"name": "new/one_part", "dtype": "float32", "shape": [5, 2]},
    {"name": "new/blocks2x2", "dtype": "int32", "shape": [4, 6]},
    {"name": "new/half_rows", "dtype": "float16", "shape": [5, 4], "partitions": [3, 1]},
    {"name": "new/bf16_rows", "dtype": "bfloat16", "shape": [9], "partitions": [2]}]}


def partitioned(d):
    """Partitioned targets (parts NAME/part_<i>), re-typed by --targets and
    --cast; the oracle is the raw mount of the same map."""
    pfx = gen(d, os.path.join(DATA, "partitioned.json"), "parts")
    tj = os.path.join(d, "targets.json")
    with open(tj, "w") as f:
        json.dump(TARGETS, f)
    for opts, sep in ((["--targets", tj, "--map", "/=new/"], "/"),
                      (["--targets", tj, "--map", "/=new/", "--key-sep", "."], "."),
                      (["--map", "/=x/", "--cast", "float32=bfloat16", "--cast",
                        "int64=int32"], "/"),
                      ([], "/")):
        raw_opts = [o for o in opts if o not in ("--key-sep", ".")]
        want = raw_oracle(pfx, raw_opts, sep)
        what = f"partitioned {opts}"
        check(len(want) >= 8, f"{what}: oracle has {len(want)} files")
        if "--targets" in opts:
            check(f"new{sep}rows3{sep}part_3" in want and f"new{sep}cols2{sep}part_1" in want,
                  f"{what}: no parts in {sorted(want)}")
        m, st = st_mount(pfx, *opts, what=what)
        with m:
            if st:
                compare(st, want, what)
                mapping_matches(m, st, what)
                meta = st.meta or {}
                if "--map" in opts:
                    mp = opts[opts.index("--map") + 1].split("=")
                    check(json.loads(meta.get("ckptfs.map", "null")) == [mp],
                          f"{what}: ckptfs.map {meta.get('ckptfs.map')}")
                if "--targets" in opts:
                    check(meta.get("ckptfs.targets") == tj, f"{what}: ckptfs.targets {meta}")
                st.close()


def cast_torch(d):
    """--cast float32=bfloat16 rounds as torch does (round to nearest even)
    for finite values: the served BF16 equals torch's own conversion of
    the float32 source."""
    spec = {"tensors": [
        {"name": "w", "dtype": "float32", "shape": [64, 33], "pattern": "random:9"},
        {"name": "x", "dtype": "float32", "shape": [1000], "pattern": "iota"},
        {"name": "y", "dtype": "float32", "shape": [16], "pattern": "special"}]}
    pfx = gen(d, spec, "cast")
    dump = {t["name"]: t for t in dump_of(pfx)}
    m, st = st_mount(pfx, "--cast", "float32=bfloat16", what="cast")
    with m:
        if not st:
            return
        for name, t in dump.items():
            src = np.frombuffer(mt.expected_bytes(t), dtype="<f4")
            ref = torch.from_numpy(src.copy()).to(torch.bfloat16)
            got = torch.frombuffer(bytearray(st.bytes_of(name)), dtype=torch.bfloat16)
            fin = torch.from_numpy(np.isfinite(src)) & torch.isfinite(ref.float())
            check(bool((got.float()[fin] == ref.float()[fin]).all()) and
                  st.tensors[name][0] == "BF16" and int(fin.sum()) > 0,
                  f"cast {name}: bfloat16 differs from torch's rounding")
            count("bfloat16 tensors through torch")
        st.close()


def large_and_spanning(d):
    """A tensor larger than a read (spliced where it passes unchanged)
    between small ones: the whole file by read(), mmap and random preads."""
    spec = {"tensors": [
        {"name": "big", "dtype": "float32", "shape": [700, 1000], "pattern": "random:3"},
        {"name": "emb", "dtype": "float32", "shape": [301, 64], "partitions": [3, 1],
         "pattern": "random:4"},
        {"name": "i", "dtype": "int64", "shape": [999], "pattern": "random:5"},
        {"name": "b", "dtype": "bool", "shape": [13], "pattern": "random:6"},
        {"name": "h", "dtype": "float16", "shape": [77], "pattern": "random:7"}]}
    pfx = gen(d, spec, "large")
    want = raw_oracle(pfx, [])
    m, st = st_mount(pfx, what="large")
    with m:
        if st:
            compare(st, want, "large")
            content = whole(os.path.join(m.dir, "model.safetensors"))
            check(content == bytes(st.mm), "large: read() differs from mmap")
            st.close()
    with mt.Mount(pfx, "--format", "safetensors") as m:
        if m.ok:
            random_reads(os.path.join(m.dir, "model.safetensors"), content, "large", seed=2)


def checksums(d):
    """Nothing is read at mount (a corrupt tensor mounts, unlike --format
    tf); the file read whole fails with EIO as a raw file does; --verify
    none serves it; --verify mount refuses (exit 65)."""
    spec = {"tensors": [
        {"name": "a", "dtype": "float32", "shape": [3000], "pattern": "random:11"},
        {"name": "b", "dtype": "int64", "shape": [500], "pattern": "random:12"}]}
    pfx = gen(d, spec, "crc")
    dump = {t["name"]: t for t in dump_of(pfx)}
    shard = pfx + ".data-00000-of-00001"
    data = whole(shard)
    at = data.find(mt.expected_bytes(dump["a"]))
    with open(shard, "r+b") as f:
        f.seek(at + 100)
        f.write(bytes([data[at + 100] ^ 0x08]))
    with mt.Mount(pfx, "--format", "safetensors") as m:
        if m.ok:
            p = os.path.join(m.dir, "model.safetensors")
            try:
                whole(p)
                check(False, "checksums: a corrupt tensor read whole without error")
            except OSError as e:
                check(e.errno == errno.EIO, f"checksums: read gave {e.errno}, want EIO")
            try:
                os.open(p, os.O_RDONLY)
                check(False, "checksums: open after a failed check succeeded")
            except OSError as e:
                check(e.errno == errno.EIO, f"checksums: open gave {e.errno}, want EIO")
            count("checksum cases")
    with mt.Mount(pfx, "--format", "safetensors", "--verify", "none") as m:
        if m.ok:
            st = StFile(os.path.join(m.dir, "model.safetensors"), "verify none")
            check(st.ok and st.bytes_of("b") == mt.expected_bytes(dump["b"]),
                  "checksums: --verify none")
            st.close()
            count("checksum cases")
    with mt.Mount(pfx, "--format", "safetensors", "--verify", "mount", expect_ok=False) as m:
        check(m.rc == 65 and not os.path.ismount(m.dir) and "tensor a" in m.err,
              f"checksums: --verify mount: rc {m.rc} {m.err.strip()}")
        count("checksum cases")


def refused(pfx, opts, rc, pattern, what):
    """Refused before mounting, one line on stderr (any bytes: names are)."""
    with tempfile.TemporaryDirectory(prefix="ckptfs-mnt-") as mnt:
        p = subprocess.run([CKPTFS, pfx, mnt, "--format", "safetensors", *opts],
                           capture_output=True, timeout=60)
        err = p.stderr.decode("utf-8", "replace")
        mounted = os.path.ismount(mnt)
        if mounted:
            subprocess.run(["fusermount3", "-u", mnt], check=False)
        check(p.returncode == rc and not mounted and err.count("\n") == 1 and
              re.search(pattern, err), f"{what}: rc {p.returncode} {err.strip()!r}")
        count("refusals")


def refusals(d):
    """Before mounting, one line, exit 67 (targets rejected)."""
    s = gen(d, os.path.join(DATA, "strings.json"), "s")
    name = dump_of(s)[0]["name"]
    refused(s, [], 67, rf"target {re.escape(name)} is string, which safetensors cannot hold "
            r"\(no --cast helps", "string target")
    a = gen(d, os.path.join(DATA, "all_dtypes.json"), "a")
    refused(a, [], 67, r"target [a-z]+/complex(64|128) is complex(64|128).*--cast "
            r"complex(64|128)=float(32|64) keeps the real part", "complex target")
    refused(a, ["--cast", "complex64=float32"], 67, r"is complex128.*--cast complex128=float64",
            "complex128 target")
    q = gen(d, {"tensors": [{"name": "q", "dtype": "qint8", "shape": [3]}]}, "q")
    refused(q, [], 67, r"target q is qint8.*--cast qint8=int8", "qint8 target")
    m, st = st_mount(q, "--cast", "qint8=int8", what="qint8 cast")
    with m:
        if st:
            check(st.tensors.get("q", ("",))[0] == "I8", f"qint8 cast: {st.tensors}")
            st.close()
    c = gen(d, {"tensors": [{"name": "a/b", "dtype": "float32", "shape": [2]},
                            {"name": "a.b", "dtype": "int8", "shape": [3]}]}, "c")
    refused(c, ["--key-sep", "."], 67, r"targets a.b and a/b both have the key a\.b",
            "colliding keys")
    m, st = st_mount(c, what="no collision")
    with m:
        if st:
            check(sorted(st.tensors) == ["a.b", "a/b"], f"no collision: {sorted(st.tensors)}")
            st.close()
    r = gen(d, {"tensors": [{"name": "__metadata__", "dtype": "float32", "shape": [2]}]}, "r")
    refused(r, [], 67, r"target __metadata__: safetensors reserves the key", "__metadata__")
    # the option itself
    for args, pat in ((["--key-sep", ".", r, os.path.join(d, "mnt")],
                       r"--key-sep applies to --format safetensors"),
                      (["--format", "safetensors", "--key-sep", "ab", r, os.path.join(d, "mnt")],
                       r"--key-sep takes one printable ASCII character")):
        p = subprocess.run([CKPTFS, *args], capture_output=True, text=True)
        check(p.returncode == 64 and re.search(pat, p.stderr), f"{args}: rc {p.returncode} "
              f"{p.stderr.strip()}")
        count("refusals")
    h = subprocess.run([CKPTFS, "--help"], capture_output=True, text=True).stdout
    check("safetensors" in h and "--key-sep" in h, "--help lacks safetensors or --key-sep")


# ---- names: JSON strings, escaped ----

HOSTILE = [b'quote"d', b"back\\slash", b"nl\nname", b"tab\tx\x01\x1f\x7f", b"\xc3\xa9t\xc3\xa9/\xe2\x82\xac",
           b"sl/ash/", b"@at", b"../up", b"N" * 100000, b"u\xe2\x80\xa8sep"]


def hostile_names(d):
    """Keys are the names, exactly, as JSON strings (json.loads gives them
    back); a name that is not UTF-8 is refused (exit 65)."""
    g = load_script("gen-fuzz-corpus.py")
    b = g.Bundle()
    for n in HOSTILE:
        b.tensor(n, "float", [2])
    pfx = os.path.join(d, "h")
    b.write(pfx)
    offsets = {n: 16 + 8 * i for i, n in enumerate(HOSTILE)}
    m, st = st_mount(pfx, what="hostile names")
    with m:
        if st:
            want = {n.decode("utf-8"): ("F32", [2], g.SHARD[offsets[n]:offsets[n] + 8])
                    for n in HOSTILE}
            compare(st, want, "hostile names")
            st.close()
            count("hostile names", len(HOSTILE))
    b = g.Bundle()
    b.tensor(b"bad\xff\xfename", "float", [2])
    b.write(pfx)
    refused(pfx, [], 65, r"not valid UTF-8", "non-UTF-8 name")


# ---- real fixtures ----

def fixtures(root):
    """Every fixture's numeric tensors, bytes from ckpt-dump. A fixture with
    a string (or other) tensor is refused naming it, then mounted through a
    map of its numeric tensors."""
    with tempfile.TemporaryDirectory() as d:
        for pfx in mt.fixture_prefixes(root):
            dump = dump_of(pfx)
            ok = [t for t in dump if t["dtype"] in TF_TO_ST]
            opts = []
            if len(ok) < len(dump):
                bad = next(t for t in dump if t["dtype"] not in TF_TO_ST)
                with mt.Mount(pfx, "--format", "safetensors", expect_ok=False) as m:
                    check(m.rc == 67 and not os.path.ismount(m.dir) and
                          m.err.count("\n") == 1 and
                          f"is {bad['dtype']}, which safetensors cannot hold" in m.err,
                          f"{pfx}: rc {m.rc} {m.err.strip()}")
                    count("fixtures refused")
                if not ok:
                    continue
                mf = os.path.join(d, "map.json")
                with open(mf, "w") as f:
                    json.dump([[t["name"], t["name"]] for t in ok], f)
                opts = ["--map-file", mf]
            want = {t["name"]: (TF_TO_ST[t["dtype"]], t["shape"], mt.expected_bytes(t))
                    for t in ok}
            m, st = st_mount(pfx, *opts, what=pfx)
            with m:
                if st:
                    compare(st, want, pfx)
                    st.close()
                    count("fixtures")


# ---- README ----

def readme_example(d):
    """README "Load a checkpoint in PyTorch": its commands, run as written
    (paths under a temporary directory), print what the README shows."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    sec = text.split("### Load a checkpoint in PyTorch", 1)
    if not check(len(sec) == 2, "README: no 'Load a checkpoint in PyTorch' section"):
        return
    sec = sec[1].split("\n#", 1)[0]
    block = "\n".join(ln[4:] for ln in sec.splitlines() if ln.startswith("    "))
    work = os.path.join(d, "readme")
    os.mkdir(work)
    block = block.replace("/tmp/demo", work + "/demo").replace("/tmp/st", work + "/st")
    # the shell lines ($ ...), with their continuations and heredocs, and
    # what they print
    script, shown, lines = [], [], block.splitlines()
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.startswith("$ "):
            cmd = [ln[2:]]
            while cmd[-1].endswith("\\"):
                i += 1
                cmd.append(lines[i])
            if "<<'EOF'" in cmd[-1]:
                while lines[i] != "EOF":
                    i += 1
                    cmd.append(lines[i])
            script.append("\n".join(cmd))
        elif ln.strip():
            shown.append(ln)
        i += 1
    # ckptfs from this build, python3 the one running this test (it has torch)
    bindir = os.path.join(work, "bin")
    os.mkdir(bindir)
    os.symlink(sys.executable, os.path.join(bindir, "python3"))
    env = dict(os.environ, PATH=bindir + ":" + os.path.dirname(CKPTFS) + ":" +
               os.environ["PATH"])
    sh = "set -e\ncd " + os.path.join(os.path.dirname(README)) + "\n" + "\n".join(
        re.sub(r"(?<![\w/])build/tests/ckpt-gen", GEN, s) for s in script)
    p = subprocess.run(["sh", "-c", sh], capture_output=True, text=True, env=env, timeout=300)
    mnt = os.path.join(work, "st")
    if os.path.ismount(mnt):
        subprocess.run(["fusermount3", "-u", mnt], check=False)
    # what is shown, compared word for word (ls prints one name a line
    # into a pipe, two on a terminal)
    check(p.returncode == 0 and p.stdout.split() == "\n".join(shown).split(),
          f"README example: rc {p.returncode}\n{p.stderr[-2000:]}\ngot:\n{p.stdout}"
          "\nwant:\n" + "\n".join(shown))
    count("README examples")


def main():
    root, code = mt.preflight()
    if root is None:
        return code
    with tempfile.TemporaryDirectory(prefix="ckpt-st-") as d:
        for step in (all_dtypes, partitioned, cast_torch, large_and_spanning, checksums,
                     refusals, hostile_names, readme_example):
            sub = os.path.join(d, step.__name__)
            os.mkdir(sub)
            step(sub)
    fixtures(root)
    for f in failures:
        print("FAIL:", f)
    print(", ".join(f"{v} {k}" for k, v in sorted(counts.items())) +
          f", {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
