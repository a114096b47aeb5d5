#!/usr/bin/env python3
"""@mapping.json names the files the mount shows, in every format, and the
--format tf view is a checkpoint directory (issue 13, points 6 and 9).

- raw, npy, tf: every `path` of @mapping.json is a file of the mount;
  raw and npy: its `size` is that file's st_size (npy: NAME.npy with its
  header; strings too, whose size --dry-run cannot know), every file but
  @mapping.json is listed once, sorted by path as shown ("a.b.npy" before
  "a.npy"); tf: `offset` and `size` are the variable's run of
  ckpt.data-00000-of-00001, the runs tile it in order, and a numeric run
  holds the raw mount's bytes of that file.
- --format tf has a `checkpoint` state file naming `ckpt`: `cp -r` of the
  mount is a directory `ckptfs --list DIR/` reads (TensorFlow's
  latest_checkpoint), and its text parses with protobuf's own text_format
  (what TensorFlow's get_checkpoint_state uses) into CheckpointState
  {model_checkpoint_path: "ckpt", all_model_checkpoint_paths: ["ckpt"]},
  printing back to the same bytes (python3-protobuf, Debian).

usage: mapping_test.py CKPTFS CKPT_GEN
Needs /dev/fuse and fusermount3; skips (77) without them, except under
CI=true, where it fails.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

CKPTFS, GEN = sys.argv[1:3]
CI = os.environ.get("CI") == "true"
failures = []
counts = {"mounts": 0, "entries": 0}


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


class Mount:
    def __init__(self, ckpt, *opts):
        self.dir = tempfile.mkdtemp(prefix="ckptfs-mnt-")
        p = subprocess.run([CKPTFS, ckpt, self.dir, *opts], capture_output=True, text=True,
                           timeout=120)
        self.ok = p.returncode == 0 and os.path.ismount(self.dir)
        check(self.ok, f"mount {opts}: rc {p.returncode} {p.stderr.strip()}")
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


# A variable that is also a scope (@value, NAME.npy beside NAME/), names
# whose shown order differs between formats ("a" < "a.b", but "a.b.npy" <
# "a.npy"), strings (sized by the mount only), parts, a cast.
SPEC = {"tensors": [
    {"name": "dense/kernel", "dtype": "float32", "shape": [4, 8], "pattern": "random:1"},
    {"name": "dense/kernel/Adam", "dtype": "float32", "shape": [4, 8], "pattern": "random:2"},
    {"name": "a", "dtype": "int32", "shape": [3]},
    {"name": "a.b", "dtype": "int64", "shape": [2]},
    {"name": "vocab", "dtype": "string", "shape": [3], "values": ["x", "yz", "long word"]},
    {"name": "title", "dtype": "string", "shape": [], "values": ["hello"]},
    {"name": "emb", "dtype": "float32", "shape": [10, 2], "pattern": "random:3"}]}
TARGETS = {"variables": [
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
                counts["entries"] += 1
            if fmt == "npy":
                check("dense/kernel.npy" in paths and "a.b.npy" in paths and
                      paths.index("a.b.npy") < paths.index("a.npy"),
                      f"npy paths {paths}")


def tf_runs(pfx, tj):
    """tf: each entry is its run of the data file; numeric runs hold the
    raw mount's bytes; the runs tile the data file in order."""
    data = "ckpt.data-00000-of-00001"
    with Mount(pfx, "--format", "tf", "--targets", tj) as t, \
            Mount(pfx, "--targets", tj) as r:
        if not (t.ok and r.ok):
            return
        mp = mapping_of(t.dir)
        raw = {(e["name"], e["slice"]): e for e in mapping_of(r.dir)}
        with open(os.path.join(t.dir, data), "rb") as f:
            blob = f.read()
        check(len(blob) == os.stat(os.path.join(t.dir, data)).st_size, "tf: data size")
        at = 0
        for e in mp:
            check(e["path"] == data and os.path.isfile(os.path.join(t.dir, e["path"])),
                  f"tf: path {e['path']}")
            check(e.get("offset") == at, f"tf: {e['name']} {e['slice']} at {e.get('offset')}, "
                  f"want {at}")
            if "offset" not in e:
                continue
            at = e["offset"] + e["size"]
            src = raw.get((e["name"], e["slice"]))
            if check(src is not None, f"tf: {e['name']} not in the raw mapping") and \
                    e["dtype"] != "string":
                with open(os.path.join(r.dir, src["path"]), "rb") as f:
                    want = f.read()
                check(blob[e["offset"]:e["offset"] + e["size"]] == want,
                      f"tf: the run of {e['name']} {e['slice']} is not its raw bytes")
            counts["entries"] += 1
        check(at == len(blob), f"tf: runs end at {at}, the data file at {len(blob)}")
        check(len(mp) == len(raw), f"tf: {len(mp)} entries, raw {len(raw)}")


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
        names = sorted(v["name"] for v in TARGETS["variables"])
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


def main():
    if not os.path.exists("/dev/fuse") or shutil.which("fusermount3") is None:
        print("no FUSE here")
        return 1 if CI else 77
    with tempfile.TemporaryDirectory() as d:
        spec, tj, pfx = (os.path.join(d, n) for n in ("spec.json", "targets.json", "c"))
        for path, obj in ((spec, SPEC), (tj, TARGETS)):
            with open(path, "w") as f:
                json.dump(obj, f)
        subprocess.run([GEN, spec, pfx], check=True)
        shown_files(pfx, tj)
        tf_runs(pfx, tj)
        tf_state_file(pfx, tj)
    for f in failures:
        print("FAIL:", f)
    print(f"{counts['mounts']} mounts, {counts['entries']} @mapping.json entries checked, "
          f"text_format {'checked' if counts.get('text_format') else 'not checked'}, "
          f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
