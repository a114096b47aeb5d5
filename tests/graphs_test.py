#!/usr/bin/env python3
"""Every real TensorFlow graph in $CKPT_GRAPHS gives, through
`ckptfs --list-targets --all --json`, exactly the variables its SOURCE.txt
decodes (names, dtypes, shapes, order); text-format graphs get the spec's E3
text; every graph with a matching checkpoint maps onto it with the identity
map (or, where the checkpoint lacks variables, fails with TF's not-found
text); and the JSON list fed back as --targets gives the same plan as the
graph itself. The README's example of a new model's graph as the targets
runs as written there, on the TFX taxi estimator's .meta and checkpoint
(its mount and `cp` need /dev/fuse and fusermount3; without them only its
listing and plan run, except under CI=true, where that fails).

usage: graphs_test.py CKPTFS
$CKPT_GRAPHS and $CKPT_FIXTURES name the folders. When they are absent the
test skips (exit 77), except under CI=true, where it fails.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import readme_examples  # noqa: E402

DTYPES = {"FLOAT": "float32", "DOUBLE": "float64", "HALF": "float16",
          "STRING": "string", "BOOL": "bool", "BFLOAT16": "bfloat16"}
for n in ("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32",
          "UINT64", "COMPLEX64", "COMPLEX128"):
    DTYPES[n] = n.lower()

# Graphs whose checkpoint lacks some of the graph's variables (INVENTORY.md
# "Expected differences"): the identity map must fail with TF's text.
NOT_FOUND = {"tf_c_UninitializedVariable", "tf_cc_fuzz_negative_shape",
             "serving_session_bundle_half_plus_two",
             "tf_session_bundle_half_plus_two_ckpt_v2"}

failures = []
counts = {"graphs": 0, "lists": 0, "mapped": 0, "not_found": 0,
          "round_trips": 0, "text": 0, "readme": 0}


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def run(ckptfs, *args):
    p = subprocess.run([ckptfs, *args], capture_output=True, text=True)
    return p.returncode, p.stdout, p.stderr


def shape_of(s):
    if s == "<unknown rank>":
        return None
    return [int(x) for x in s.strip("[]").split(",") if x]


VAR_RE = re.compile(r"^    (\S+?):0\s+([A-Z0-9]+)\s+(\[[-0-9,]*\]|<unknown rank>)")
OBJ_RE = re.compile(r"^    obj \d+\s+(\S+)\s+([A-Z0-9]+)\s+(\[[-0-9,]*\]|<unknown rank>)")


def parse_source(path):
    """{graph file: {"text": bool, "vars": [...]}} and the checkpoint line."""
    files = {}
    cur = None
    coll = None
    match = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("Matching checkpoint:"):
                match = line
            m = re.match(r"^# (\S+) \((\d+) bytes\) (.*)$", line)
            if m:
                cur = {"text": "text" in m.group(3).lower(), "vars": []}
                files[m.group(1)] = cur
                coll = None
                continue
            if line.startswith("# "):
                cur = None
                continue
            if cur is None:
                continue
            m = re.match(r"^  collection '([^']*)'", line)
            if m:
                coll = m.group(1)
                continue
            if re.match(r"^  \S", line):
                coll = None
            m = VAR_RE.match(line)
            if m and coll == "variables":
                cur["vars"].append({"name": m.group(1),
                                    "dtype": DTYPES[m.group(2)],
                                    "shape": shape_of(m.group(3))})
                continue
            m = OBJ_RE.match(line)
            if m:
                key = m.group(1).replace(".", "/") + "/.ATTRIBUTES/VARIABLE_VALUE"
                cur["vars"].append({"name": key, "dtype": DTYPES[m.group(2)],
                                    "shape": shape_of(m.group(3))})
    return files, match


def checkpoint_of(folder, match, fixtures, graphs):
    if match is None or "none in" in match:
        return None
    m = re.search(r"shared/fixtures/(\S+)", match)
    if "included here" in match:
        d = os.path.join(folder, "variables")
    elif m and "shared/graphs/" not in match:
        d = os.path.join(fixtures, m.group(1))
    else:
        m = re.search(r"shared/graphs/(\S+)", match)
        d = os.path.join(graphs, m.group(1))
    # the files themselves: some `checkpoint` state files name the
    # writer's paths (/tmp/...), which do not exist here
    for f in sorted(os.listdir(d)):
        if f.endswith(".index"):
            return os.path.join(d, f[:-len(".index")])
    for f in sorted(os.listdir(d)):
        if f not in ("SOURCE.txt", "checkpoint"):
            return os.path.join(d, f)
    return None


# what the README's graph example may print on stderr: a warning per
# target the map gives no source, and (a mount, on a machine with no
# /dev/log) that the daemon's syslog messages are lost
WARNED = re.compile(r"ckptfs: warning: (target variable \S+ got no source from the map"
                    r"( \(closest in the checkpoint: .*\))?|nothing receives syslog here .*)$")


def readme_graph(ckptfs, graphs, fixtures, tmp):
    """README "The new model's graph as the targets": its commands as
    written there, the new model's .meta the TFX taxi estimator's and the
    old checkpoint that estimator's model.ckpt-1000. The listing and the
    plan print what the README shows (stderr: only warnings of targets the
    map gives no source); mounted, the kernel copied with `cp` is the
    checkpoint's own bytes of dnn/hiddenlayer_0/kernel (offset and size
    from the fixture's SOURCE.txt)."""
    ckdir = os.path.join(fixtures, "tfx_estimator_taxi_ckpt")
    mnt = tempfile.mkdtemp(dir=tmp)
    work = tempfile.mkdtemp(dir=tmp)
    subs = {"new_model/model.ckpt-1000.meta":
            os.path.join(graphs, "tfx_estimator_taxi_meta", "model.ckpt-1000.meta"),
            "old_model/model.ckpt-1000": os.path.join(ckdir, "model.ckpt-1000"),
            "/mnt/ckpt": mnt}
    ex = readme_examples.examples("The new model's graph as the targets", subs)
    if not check([argv[:2] for _, argv, _ in ex] ==
                 [["ckptfs", "--list-targets"], ["ckptfs", "--dry-run"],
                  ["ckptfs", "--targets"], ["cp", mnt + "/dnn/hiddenlayer_0/kernel"]],
                 f"README graph example: commands {[text for text, _, _ in ex]}"):
        return
    fuse = os.path.exists("/dev/fuse") and shutil.which("fusermount3") is not None
    check(fuse or os.environ.get("CI") != "true", "README graph example: no FUSE under CI")
    try:
        for text, argv, shown in ex:
            if not shown and not fuse:
                continue
            if argv[0] == "ckptfs":
                argv = [os.path.abspath(ckptfs)] + argv[1:]
            p = subprocess.run(argv, cwd=work, capture_output=True, text=True, timeout=120)
            if not check(p.returncode == 0 and all(WARNED.match(w) for w in p.stderr.splitlines()),
                         f"README `{text}`: rc {p.returncode}: {p.stderr[-1000:]}"):
                return
            check(readme_examples.same(shown, p.stdout.splitlines()) if shown else p.stdout == "",
                  f"README `{text}` prints:\n{p.stdout}README shows:\n" + "\n".join(shown))
            counts["readme"] += 1
        if not fuse:
            return
        with open(os.path.join(ckdir, "SOURCE.txt"), encoding="utf-8") as f:
            m = re.search(r"^  dnn/hiddenlayer_0/kernel +FLOAT +\[3,100\] +shard=0 "
                          r"off=(\d+) size=1200$", f.read(), re.M)
        if not check(m is not None, "taxi SOURCE.txt: no dnn/hiddenlayer_0/kernel entry"):
            return
        with open(os.path.join(ckdir, "model.ckpt-1000.data-00000-of-00001"), "rb") as f:
            f.seek(int(m.group(1)))
            want = f.read(1200)
        with open(os.path.join(work, "kernel.f32"), "rb") as f:
            got = f.read()
        check(len(got) == 1200 and got == want,
              f"README graph example: kernel.f32 is {len(got)} bytes, not the checkpoint's")
    finally:
        if os.path.ismount(mnt):
            subprocess.run(["fusermount3", "-u", mnt], check=False)


def main():
    ckptfs = sys.argv[1]
    graphs = os.environ.get("CKPT_GRAPHS", "")
    fixtures = os.environ.get("CKPT_FIXTURES", "")
    if not os.path.isdir(graphs) or not os.path.isdir(fixtures):
        print("graphs or fixtures folder absent")
        return 1 if os.environ.get("CI") == "true" else 77
    tmp = tempfile.mkdtemp(prefix="ckpt-graphs-")
    for name in sorted(os.listdir(graphs)):
        folder = os.path.join(graphs, name)
        src = os.path.join(folder, "SOURCE.txt")
        if not os.path.isfile(src):
            continue
        counts["graphs"] += 1
        files, match = parse_source(src)
        if not files:  # text-format graphs: SOURCE.txt has no decode
            files = {f: {"text": True, "vars": []} for f in os.listdir(folder)
                     if f != "SOURCE.txt"}
        ckpt = checkpoint_of(folder, match, fixtures, graphs)
        for fname, info in files.items():
            gpath = os.path.join(folder, fname)
            if info["text"]:
                rc, out, err = run(ckptfs, "--list-targets", gpath)
                check(rc == 65 and "text-format protobuf is not supported"
                      in err, f"{name}/{fname}: text graph: rc {rc}: {err}")
                counts["text"] += 1
                continue
            rc, out, err = run(ckptfs, "--list-targets", "--all", "--json", gpath)
            if rc != 0:
                check(False, f"{name}/{fname}: --list-targets rc {rc}: {err}")
                continue
            got = json.loads(out)["variables"]
            want = info["vars"]
            strip = [{k: v[k] for k in ("name", "dtype", "shape")} for v in got]
            check(strip == want, f"{name}/{fname}: list differs:\n got  {strip}\n want {want}")
            check(all("partitions" not in v for v in got),
                  f"{name}/{fname}: unexpected partitions")
            if not want:
                check("the graph defines no variables" in err,
                      f"{name}/{fname}: no W1 warning: {err!r}")
            counts["lists"] += 1
            if ckpt is None:
                continue
            # identity map onto the matching checkpoint
            rc, plan, err = run(ckptfs, "--dry-run", "--json", "--all",
                                "--targets", gpath, ckpt)
            if name in NOT_FOUND:
                check(rc == 67 and re.search(r"Tensor \S+ \(.* in .*\) is not "
                                             r"found in " + re.escape(ckpt)
                                             + " checkpoint", err),
                      f"{name}/{fname}: expected TF's not-found text, rc {rc}: {err}")
                counts["not_found"] += 1
                continue
            if rc != 0:
                check(False, f"{name}/{fname}: identity map rc {rc}: {err}")
                continue
            files_ = json.loads(plan)
            names = sorted(f["name"] for f in files_)
            check(names == sorted(v["name"] for v in got),
                  f"{name}/{fname}: plan files {names} != targets")
            for f in files_:
                check(f["source"] == f["name"] and f["slice"] == ""
                      and f["dtype"] == f["source_dtype"],
                      f"{name}/{fname}: {f['path']} is not its checkpoint tensor: {f}")
            counts["mapped"] += 1
            # round trip: the JSON list as --targets gives the same plan
            tj = os.path.join(tmp, "targets.json")
            with open(tj, "w", encoding="utf-8") as fh:
                fh.write(out)
            rc2, plan2, err2 = run(ckptfs, "--dry-run", "--json", "--targets", tj, ckpt)
            check(rc2 == 0 and plan2 == plan,
                  f"{name}/{fname}: round trip differs (rc {rc2}: {err2})")
            counts["round_trips"] += 1
    readme_graph(ckptfs, graphs, fixtures, tmp)
    check(counts["readme"] >= 2, "README graph example: nothing compared")
    os.system("rm -rf " + tmp)
    print(" ".join(f"{k}={v}" for k, v in counts.items()))
    for f in failures:
        print("FAIL:", f)
    check(counts["graphs"] >= 41, "fewer than 41 graph folders")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
