#!/usr/bin/env python3
"""Every real TensorFlow fixture lists and reads back what its INVENTORY.md
block and SOURCE.txt say; the README's "Debug an assignment map" examples,
run as written there on the bundle_checkpoint fixture, print what the
README shows.

usage: fixtures_test.py CKPTFS CKPT_DUMP
The fixtures folder comes from $CKPT_FIXTURES. When it is absent the test
skips (exit 77), except under CI=true, where it fails.
"""
import ast
import json
import os
import re
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import readme_examples  # noqa: E402

DTYPES = {"FLOAT": "float32", "DOUBLE": "float64", "HALF": "float16",
          "STRING": "string", "BOOL": "bool", "BFLOAT16": "bfloat16"}
for n in ("INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32",
          "UINT64", "COMPLEX64", "COMPLEX128", "QINT8", "QUINT8", "QINT32",
          "VARIANT"):
    DTYPES[n] = n.lower()

failures = []
value_checks = [0]


def check(cond, what):
    if not cond:
        failures.append(what)


def parse_inventory(path):
    """Yield (relative file, kind, [tensor dicts]) per fenced block."""
    blocks = []
    cur = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^# (\S+)\s+\((V1|V2)", line)
            if m:
                cur = {"file": m.group(1), "kind": m.group(2), "tensors": {}}
                blocks.append(cur)
                last = None
                continue
            if cur is None:
                continue
            if line.startswith("```"):
                cur = None
                continue
            m = re.match(r"^  (?:meta: )?(\S+)\s+([A-Z0-9]+)\s+\[([0-9,]*)\]\s+(shard=|slices=)", line)
            if m:
                shape = [int(x) for x in m.group(3).split(",") if x]
                last = {"name": m.group(1), "dtype": DTYPES[m.group(2)],
                        "shape": shape, "values": None}
                cur["tensors"][last["name"]] = last
                continue
            m = re.match(r"^  data: (\S+)\s+slice=\S*\s+values: (.*)$", line)
            if m:
                cur["tensors"][m.group(1)]["values"] = m.group(2)
                continue
            m = re.match(r"^      values: (.*)$", line)
            if m and last is not None:
                last["values"] = m.group(1)
    return blocks


def same_float(a, b, dtype):
    if dtype == "float32":
        return struct.pack("<f", a) == struct.pack("<f", b)
    return a == b


def check_values(where, t, got):
    text = t["values"]
    if text is None:
        return
    value_checks[0] += 1
    vals = got["values"]
    if t["dtype"] == "string":
        want = ast.literal_eval(text)
        have = bytes.fromhex(vals[0])
        check(have.startswith(want), f"{where}: string value {have[:40]!r} does not start with {want[:40]!r}")
        return
    m = re.match(r"^(.*?)(?:, \.\.\.\((\d+) total\))?$", text)
    items = [x.strip() for x in m.group(1).split(",") if x.strip()]
    if m.group(2):
        check(len(vals) == int(m.group(2)), f"{where}: {len(vals)} values, want {m.group(2)}")
    else:
        check(len(vals) == len(items), f"{where}: {len(vals)} values, want {len(items)}")
    for i, item in enumerate(items):
        want = float(item) if t["dtype"].startswith("float") else int(item)
        check(i < len(vals) and same_float(vals[i], want, t["dtype"]),
              f"{where}: value {i} is {vals[i] if i < len(vals) else None}, want {want}")


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout, p.stderr


def readme_debug(ckptfs, bundle):
    """README "Debug an assignment map before a training run": its three
    commands, as written there with its CKPT (a TF1 checkpoint holding
    some_scope/embeddings and some_scope/indices) this fixture, print
    exactly the lines the README shows (stdout, then stderr)."""
    ex = readme_examples.examples("Debug an assignment map before a training run",
                                  {"CKPT": bundle})
    check([argv[:2] for _, argv, shown in ex if shown] ==
          [["ckptfs", "--list"], ["ckptfs", "--dry-run"], ["ckptfs", "--dry-run"]],
          f"README debug-map section: examples {[text for text, _, _ in ex]}")
    for text, argv, shown in ex:
        rc, out, err = run([ckptfs] + argv[1:])
        check(readme_examples.same(shown, (out + err).splitlines()),
              f"README `{text}` prints (rc {rc}):\n{out}{err}README shows:\n" + "\n".join(shown))


def main():
    ckptfs, dump = sys.argv[1], sys.argv[2]
    root = os.environ.get("CKPT_FIXTURES", "")
    if not os.path.isdir(root):
        if os.environ.get("CI") == "true":
            print(f"fixtures folder {root!r} missing under CI")
            return 1
        print("SKIP: no fixtures folder")
        return 77
    blocks = parse_inventory(os.path.join(root, "INVENTORY.md"))
    check(len(blocks) >= 40, f"only {len(blocks)} inventory blocks parsed")
    for b in blocks:
        path = os.path.join(root, b["file"])
        prefix = path[:-len(".index")] if b["kind"] == "V2" else path
        rc, out, err = run([ckptfs, "--list", "--json", prefix])
        check(rc == 0, f"{b['file']}: --list exited {rc}: {err.strip()}")
        if rc:
            continue
        listed = json.loads(out)
        names = [t["name"] for t in listed]
        check(names == sorted(b["tensors"]), f"{b['file']}: listed {names}, want {sorted(b['tensors'])}")
        for t in listed:
            want = b["tensors"].get(t["name"])
            if want:
                check(t["dtype"] == want["dtype"] and t["shape"] == want["shape"],
                      f"{b['file']}: {t['name']} is {t['dtype']} {t['shape']}, want {want['dtype']} {want['shape']}")
        rc, out, err = run([dump, prefix])
        check(rc == 0, f"{b['file']}: reading every tensor (CRC checked) failed: {err.strip()}")
        if rc:
            continue
        for got in json.loads(out):
            want = b["tensors"].get(got["name"])
            if want:
                check_values(f"{b['file']}: {got['name']}", want, got)

    # SOURCE.txt facts stated outright.
    rc, out, _ = run([dump, os.path.join(root, "tf_contrib_framework_bundle_checkpoint/bundle_checkpoint")])
    vals = {t["name"]: t for t in json.loads(out)} if rc == 0 else {}
    check(vals.get("some_scope/embeddings", {}).get("values") == [float(i) for i in range(80)],
          "bundle_checkpoint embeddings != range(80)")
    check(vals.get("some_scope/indices", {}).get("values") == [3, 4, 5, 6, 7],
          "bundle_checkpoint indices != [3,4,5,6,7]")
    rc, out, _ = run([dump, os.path.join(root, "tf_cc_half_plus_two_00000123/variables")])
    vals = {t["name"]: t["values"] for t in json.loads(out)} if rc == 0 else {}
    check(vals.get("a") == [0.5] and vals.get("b") == [2.0] and vals.get("c") == [3.0],
          f"half_plus_two a, b, c = {vals}")
    # A directory resolves through its `checkpoint` state file.
    rc, out, err = run([ckptfs, "--list", os.path.join(root, "tf_contrib_trt_quant_mnist")])
    check(rc == 0 and out.strip(), f"directory with checkpoint file: rc {rc} {err.strip()}")

    # --dry-run: the acceptance command, and a TF error text.
    bundle = os.path.join(root, "tf_contrib_framework_bundle_checkpoint/bundle_checkpoint")
    rc, out, err = run([ckptfs, "--dry-run", "--json", "--map", "some_scope/=new/", bundle])
    plan = json.loads(out) if rc == 0 else []
    check([(p["path"], p["source"], p["dtype"], p["shape"], p["size"]) for p in plan] ==
          [("new/embeddings", "some_scope/embeddings", "float32", [5, 16], 320),
           ("new/indices", "some_scope/indices", "int64", [5], 40)],
          f"dry-run plan {plan} {err}")
    rc, out, err = run([ckptfs, "--dry-run", "--map", "some_scope/nope=new/x", bundle])
    check(rc == 67 and f"Tensor some_scope/nope is not found in {bundle} checkpoint" in err,
          f"dry-run not-found: rc {rc} {err.strip()}")
    readme_debug(ckptfs, bundle)

    for f in failures:
        print("FAIL:", f)
    check(value_checks[0] >= 150, f"only {value_checks[0]} tensors had known values")
    print(f"{len(blocks)} fixtures, {value_checks[0]} tensors with known values, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
