#!/usr/bin/env python3
"""TF2 object-based checkpoints mounted readably (README "TF2 checkpoints"):

- every TF2 fixture in ../shared/fixtures mounted with defaults shows every
  variable to `find -type f` as a visible file (no component starting with
  '.') of the right size and bytes, at the path the README's rules give;
  `-o names=key` gives the literal layout of before;
- @object_graph.json equals the TrackableObjectGraph decoded here from the
  spec's field numbers (protos.md) out of the tensor's own bytes (as
  ckpt-dump reads them), its checkpoint keys follow TF's path rules
  (graph_variables.md 4.3), and for the fixtures whose SOURCE.txt
  describes their objects it holds what SOURCE.txt says;
- the README's example (scripts/demo/tf2.json through ckpt-gen) gives the
  README's `ls -R` and numpy output; npy names, maps, --dry-run, xattrs;
  a clash keeps the literal path; a corrupt object graph refuses the mount.

usage: tf2_test.py CKPTFS CKPT_DUMP CKPT_GEN README
Needs /dev/fuse and fusermount3 (skips, 77, without them unless CI=true).
Fixtures come from $CKPT_FIXTURES.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

CKPTFS, DUMP, GEN, README = (os.path.abspath(a) for a in sys.argv[1:5])
sys.argv = [sys.argv[0], CKPTFS, DUMP, GEN, os.path.dirname(README)]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mount_test as mt  # noqa: E402  (Mount, shown_paths, expected_bytes)

CI = os.environ.get("CI") == "true"
failures = mt.failures
counts = {"fixtures": 0, "variables": 0, "graphs": 0}
check = mt.check
OG = mt.OBJECT_GRAPH
DTYPE_SIZE = {"float32": 4, "float64": 8, "int32": 4, "int64": 8, "int8": 1, "uint8": 1,
              "int16": 2, "uint16": 2, "bool": 1, "float16": 2, "bfloat16": 2}


# ---- TrackableObjectGraph, decoded from the spec (protos.md) ----
def varint(b, i):
    v = shift = 0
    while True:
        x = b[i]
        i += 1
        v |= (x & 0x7F) << shift
        shift += 7
        if not x & 0x80:
            return v, i


def fields(b):
    i = 0
    while i < len(b):
        tag, i = varint(b, i)
        f, wt = tag >> 3, tag & 7
        if wt == 0:
            v, i = varint(b, i)
        elif wt == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        elif wt in (1, 5):
            v, i = None, i + (8 if wt == 1 else 4)
        else:
            raise ValueError("wire type %d" % wt)
        yield f, wt, v


def message(b, spec):
    """spec: {field: (key, kind)}; proto3 defaults, the last value wins."""
    d = {k: (0 if kind == "int" else "" if kind == "str" else False)
         for k, kind in spec.values()}
    for f, wt, v in fields(b):
        if f in spec:
            k, kind = spec[f]
            if kind == "int" and wt == 0:
                v &= 0xFFFFFFFF
                d[k] = v - (1 << 32) if v >= 1 << 31 else v
            elif kind == "str" and wt == 2:
                d[k] = v.decode("utf-8")
            elif kind == "bool" and wt == 0:
                d[k] = v != 0
    return d


REF = {1: ("node_id", "int"), 2: ("local_name", "str")}
ATTR = {1: ("name", "str"), 2: ("full_name", "str"), 3: ("checkpoint_key", "str"),
        4: ("optional_restore", "bool")}
SLOT = {1: ("original_variable_node_id", "int"), 2: ("slot_name", "str"),
        3: ("slot_variable_node_id", "int")}
SAVER = {1: ("name", "str"), 2: ("object_name", "str")}


def decode_graph(b):
    nodes = [v for f, wt, v in fields(b) if f == 1 and wt == 2]
    out = []
    for k, nb in enumerate(nodes):
        n = {"id": k, "children": [], "attributes": [], "slot_variables": []}
        saver, has = None, None
        for f, wt, v in fields(nb):
            if wt != 2:
                continue
            if f == 1:
                n["children"].append(message(v, REF))
            elif f == 2:
                a = message(v, ATTR)
                if not a["optional_restore"]:
                    del a["optional_restore"]
                n["attributes"].append(a)
            elif f == 3:
                n["slot_variables"].append(message(v, SLOT))
            elif f == 4:
                saver = (saver or b"") + v
            elif f == 5:
                has = (has or b"") + v
        if saver is not None:
            n["registered_saver"] = message(saver, SAVER)
        if has is not None:
            n["has_checkpoint_values"] = message(has, {1: ("value", "bool")})["value"]
        out.append(n)
    return out


def tf_keys(graph):
    """graph_variables.md 4.3: BFS paths, escaped names, attribute and slot
    keys: {node id: the key of its VARIABLE_VALUE}."""
    esc = lambda s: s.replace(".", "..").replace("/", ".S")  # noqa: E731
    path, queue = {0: ""}, [0]
    while queue:
        k = queue.pop(0)
        for c in graph[k]["children"]:
            if c["node_id"] not in path:
                p = esc(c["local_name"])
                path[c["node_id"]] = path[k] + "/" + p if path[k] else p
                queue.append(c["node_id"])
    keys = {k: p + "/.ATTRIBUTES/VARIABLE_VALUE" for k, p in path.items()}
    for opt in graph:
        for s in opt["slot_variables"]:
            v = s["original_variable_node_id"]
            if v in path and opt["id"] in path:
                keys[s["slot_variable_node_id"]] = (
                    path[v] + "/.OPTIMIZER_SLOT/" + path[opt["id"]] + "/" +
                    esc(s["slot_name"]) + "/.ATTRIBUTES/VARIABLE_VALUE")
    return keys


def dump_of(pfx):
    return json.loads(subprocess.run([DUMP, pfx], capture_output=True, text=True,
                                     check=True).stdout)


def tf2_fixtures(root):
    out = []
    for d in sorted(os.listdir(root)):
        for f in sorted(os.listdir(os.path.join(root, d))) if os.path.isdir(
                os.path.join(root, d)) else []:
            if f.endswith(".index"):
                pfx = os.path.join(root, d, f[:-6])
                r = subprocess.run([CKPTFS, "--list", pfx], capture_output=True, text=True)
                if r.returncode == 0 and any(l.split("\t")[0] == OG
                                             for l in r.stdout.splitlines()):
                    out.append((d, pfx))
    return out


def visible_files(mnt):
    """find MNT -type f, as paths relative to MNT."""
    out = subprocess.run(["find", mnt, "-type", "f"], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    return {os.path.relpath(p, mnt) for p in out}


# What SOURCE.txt says of each fixture's objects: {fixture: [(node,
# [(local_name, child node)], [checkpoint keys of its attributes])]},
# and the node count where it says it.
VV = "/.ATTRIBUTES/VARIABLE_VALUE"
DESCRIBED = {
    # "object graph has a cycle child->parent", child/my_variable = 3.0
    "tf_cc_CyclicModule": ([(0, [("child", 1), ("signatures", 2)], []),
                            (1, [("parent", 0), ("my_variable", 3)], []),
                            (3, [], ["child/my_variable" + VV])], 4),
    # x, y, child/z + object graph
    "tf_cc_VarsAndArithmeticObjectGraph": ([(0, [("x", 1), ("y", 2), ("child", 3),
                                                 ("signatures", 4)], []),
                                            (1, [], ["x" + VV]), (2, [], ["y" + VV])], None),
    # only the object graph: asset + signatures
    "tf_cc_AssetModule": ([(0, [("asset", 1), ("signatures", 2)], []), (1, [], []),
                           (2, [], [])], 3),
    # only the object graph: root + "signatures"
    "tf_cc_x_plus_y_v2_debuginfo": ([(0, [("signatures", 1)], []), (1, [], [])], 2),
    # save_counter + object graph
    "hub_saved_model_v2_mini": ([(0, [("save_counter", 1), ("signatures", 2)], []),
                                 (1, [], ["save_counter" + VV])], None),
}


def fixtures(root):
    for name, pfx in tf2_fixtures(root):
        counts["fixtures"] += 1
        dump = dump_of(pfx)
        names = [t["name"] for t in dump]
        shown = mt.shown_paths(names)
        og_bytes = bytes.fromhex(next(t for t in dump if t["name"] == OG)["values"][0])
        want_graph = decode_graph(og_bytes)
        with mt.Mount(pfx) as m:
            if not m.ok:
                continue
            files = visible_files(m.dir)
            check(files == set(shown.values()) | {"@mapping.json", "@object_graph.json"},
                  f"{name}: find -type f {sorted(files)}")
            for t in dump:
                if t["name"] == OG:
                    continue
                p = shown[t["name"]]
                check(not any(c.startswith(".") for c in p.split("/")),
                      f"{name}: {t['name']} is hidden at {p}")
                full = os.path.join(m.dir, p)
                if not check(os.path.isfile(full), f"{name}: no file {p}"):
                    continue
                want = mt.expected_bytes(t)
                n = 1
                for d in t["shape"]:
                    n *= d
                check(os.path.getsize(full) == n * DTYPE_SIZE[t["dtype"]] == len(want),
                      f"{name}: {p} size {os.path.getsize(full)}")
                with open(full, "rb") as f:
                    check(f.read() == want, f"{name}: {p} bytes")
                check(os.getxattr(full, "user.ckpt.source").decode() == t["name"],
                      f"{name}: {p} user.ckpt.source")
                counts["variables"] += 1
            og = os.path.join(m.dir, "@object_graph.json")
            if not check(os.path.isfile(og), f"{name}: no @object_graph.json"):
                continue
            with open(og) as f:
                graph = json.load(f)
            check(graph == want_graph, f"{name}: @object_graph.json differs from the proto")
            with open(os.path.join(m.dir, "@mapping.json")) as f:
                mapping = json.load(f)
            check(sorted((e["name"], e["path"]) for e in mapping) ==
                  sorted(shown.items()), f"{name}: @mapping.json names and paths")
        counts["graphs"] += 1
        # TF's rules give every attribute's key; every saved key is one
        keys = tf_keys(graph)
        attr_keys = set()
        for n in graph:
            for a in n["attributes"]:
                attr_keys.add(a["checkpoint_key"])
                if a["name"] == "VARIABLE_VALUE":
                    check(keys.get(n["id"]) == a["checkpoint_key"],
                          f"{name}: node {n['id']} key {a['checkpoint_key']} vs "
                          f"{keys.get(n['id'])}")
        check(set(names) - {OG} <= attr_keys, f"{name}: keys without an attribute "
              f"{sorted(set(names) - {OG} - attr_keys)}")
        if name in DESCRIBED:
            described, count = DESCRIBED[name]
            if count is not None:
                check(len(graph) == count, f"{name}: {len(graph)} nodes, want {count}")
            for node, children, akeys in described:
                got = graph[node]
                check([(c["local_name"], c["node_id"]) for c in got["children"]] == children,
                      f"{name}: node {node} children {got['children']}")
                check([a["checkpoint_key"] for a in got["attributes"]] == akeys,
                      f"{name}: node {node} attributes {got['attributes']}")
            counts["described"] = counts.get("described", 0) + 1
        # -o names=key: the literal layout
        with mt.Mount(pfx, "-o", "names=key") as m:
            if m.ok:
                literal = mt.shown_paths(names, names_key=True)
                check(visible_files(m.dir) == set(literal.values()) |
                      {"@mapping.json", "@object_graph.json"},
                      f"{name}: names=key: {sorted(visible_files(m.dir))}")
                check(all(v.endswith("/.ATTRIBUTES/VARIABLE_VALUE") or v == OG
                          for v in literal.values()), f"{name}: names=key literal")
    check(counts["fixtures"] >= 17, f"only {counts['fixtures']} TF2 fixtures")
    check(counts.get("described", 0) == len(DESCRIBED), "a described fixture is missing")


def keras_slots(root):
    """tfkeras_lso_ckpt_tf2.2 (SOURCE.txt: SGD momentum slots under a
    LossScaleOptimizer): the slot files sit beside their variables, and the
    graph's slot_variables name them."""
    pfx = os.path.join(root, "tfkeras_lso_ckpt_tf2.2", "ckpt")
    with mt.Mount(pfx) as m:
        if not m.ok:
            return
        layer = os.path.join(m.dir, "layer_with_weights-0")
        check(sorted(os.listdir(layer)) == ["bias", "bias@slots", "kernel", "kernel@slots"],
              f"lso: {sorted(os.listdir(layer))}")
        mom = os.path.join(layer, "kernel@slots/optimizer/base_optimizer/momentum")
        if not check(os.path.isfile(mom), "lso: no momentum slot file"):
            return
        with open(mom, "rb") as f:
            got = f.read()
        import struct
        want = [10.049943, 9.917691, 10.049943, 9.917691]
        vals = struct.unpack("<4f", got)
        check(all(abs(a - b) < 1e-5 for a, b in zip(vals, want)), f"lso momentum {vals}")
        og = os.path.join(m.dir, "@object_graph.json")
        if not check(os.path.isfile(og), "lso: no @object_graph.json"):
            return
        with open(og) as f:
            graph = json.load(f)
        slots = [(s["slot_name"], graph[s["slot_variable_node_id"]]["attributes"][0]
                  ["checkpoint_key"]) for n in graph for s in n["slot_variables"]]
        check(sorted(slots) == [
            ("momentum", "layer_with_weights-0/bias/.OPTIMIZER_SLOT/optimizer/base_optimizer/"
             "momentum" + VV),
            ("momentum", "layer_with_weights-0/kernel/.OPTIMIZER_SLOT/optimizer/"
             "base_optimizer/momentum" + VV)], f"lso slots {slots}")


def readme_example():
    """The README's TF2 example, its commands run as written (paths swapped
    for temporary ones), its `ls -R` and numpy output compared."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"<!-- tf2-example -->\n\n((?:    .*\n|\n)+)", text)
    if not check(m is not None, "README: no tf2-example block"):
        return
    lines = [l[4:] for l in m.group(1).rstrip("\n").split("\n")]
    with tempfile.TemporaryDirectory() as d:
        work, mnt = os.path.join(d, "tf2"), os.path.join(d, "mnt")
        os.mkdir(mnt)
        sub = lambda s: (s.replace("/tmp/tf2", work).replace("/mnt/tf2", mnt)  # noqa: E731
                         .replace("build/tests/ckpt-gen", GEN))
        root = os.path.dirname(os.path.abspath(README))
        cmds, outputs = [], {}
        for l in lines:
            if l.startswith("$ "):
                cmds.append(l[2:])
                outputs[len(cmds) - 1] = []
            elif cmds:
                outputs[len(cmds) - 1].append(l)
        mounted = False
        try:
            for k, c in enumerate(cmds):
                c = sub(c)
                if c.startswith("ckptfs "):
                    c = CKPTFS + c[len("ckptfs"):]
                    mounted = True
                env = dict(os.environ, LC_ALL="C")
                if c.startswith("python3 "):
                    c = "/usr/bin/" + c
                r = subprocess.run(c, shell=True, cwd=root, capture_output=True, text=True,
                                   env=env)
                check(r.returncode == 0, f"README: {c}: rc {r.returncode} {r.stderr}")
                want = [sub(x) for x in outputs[k]]
                if c.startswith("ls -R"):
                    check(ls_tree(r.stdout.splitlines()) == ls_tree(want),
                          f"README ls -R: got {r.stdout}")
                    counts["readme"] = counts.get("readme", 0) + 1
                elif want:
                    check(r.stdout.split() == " ".join(want).split(),
                          f"README: {c}: got {r.stdout!r} want {want}")
                    counts["readme"] = counts.get("readme", 0) + 1
        finally:
            if mounted and os.path.ismount(mnt):
                subprocess.run(["fusermount3", "-u", mnt])
    check(counts.get("readme", 0) >= 2, "README example: nothing compared")


def ls_tree(lines):
    """{directory: set of names} of `ls -R` output (columns or not)."""
    out, cur = {}, None
    for l in lines:
        if l.endswith(":") and " " not in l:
            cur = l[:-1]
            out[cur] = set()
        elif l.strip() and cur is not None:
            out[cur] |= set(l.split())
    return out


def demo_checkpoint(d):
    pfx = os.path.join(d, "ckpt-1")
    subprocess.run([GEN, os.path.join(os.path.dirname(README), "scripts/demo/tf2.json"),
                    pfx], check=True)
    return pfx


KERNEL = "model/layer_with_weights-0/kernel"
KEY = KERNEL + VV


def formats_and_maps():
    """npy names, a map onto TF2 names, --dry-run, a clash, corruption."""
    with tempfile.TemporaryDirectory() as d:
        pfx = demo_checkpoint(d)
        with mt.Mount(pfx, "--format", "npy") as m:
            if m.ok:
                files = visible_files(m.dir)
                check({KERNEL + ".npy", KERNEL + "@slots/optimizer/m.npy",
                       "optimizer/iter.npy", "save_counter.npy"} <= files,
                      f"npy: {sorted(files)}")
                npy = os.path.join(m.dir, KERNEL + ".npy")
                if check(os.path.isfile(npy), "npy: no kernel.npy"):
                    with open(npy, "rb") as f:
                        check(f.read().startswith(b"\x93NUMPY"), "npy: kernel header")
        # the formats that own their files have it too, the same
        want_og = None
        for fmt, names in (("raw", None), ("tf", ["checkpoint", "ckpt.data-00000-of-00001", "ckpt.index"]),
                           ("safetensors", ["model.safetensors"])):
            # safetensors holds no string: the graph's own tensor mapped out
            extra = ["--map", "model/=model/"] if fmt == "safetensors" else []
            with mt.Mount(pfx, "--format", fmt, *extra) as m:
                if not m.ok:
                    continue
                if names is not None:
                    check(sorted(os.listdir(m.dir)) ==
                          ["@mapping.json", "@object_graph.json"] + names,
                          f"--format {fmt}: {sorted(os.listdir(m.dir))}")
                with open(os.path.join(m.dir, "@object_graph.json"), "rb") as f:
                    og = f.read()
                want_og = want_og or og
                check(og == want_og and len(json.loads(og)) == 13,
                      f"--format {fmt}: @object_graph.json")
        dry = json.loads(subprocess.run([CKPTFS, "--dry-run", "--json", "--map", "model/=net/",
                                         pfx], capture_output=True, text=True).stdout)
        got = {e["path"]: (e["name"], e["source"]) for e in dry}
        check(got.get("net/layer_with_weights-0/kernel") ==
              ("net/layer_with_weights-0/kernel" + VV, KEY), f"map: {sorted(got)}")
        check(got.get("net/layer_with_weights-0/bias@slots/optimizer/v") ==
              ("net/layer_with_weights-0/bias/.OPTIMIZER_SLOT/optimizer/v" + VV,
               "model/layer_with_weights-0/bias/.OPTIMIZER_SLOT/optimizer/v" + VV),
              "map: a slot")
        r = subprocess.run([CKPTFS, "--dry-run", "--names", "key", pfx],
                           capture_output=True, text=True)
        rows = [l.split("\t") for l in r.stdout.splitlines()]
        check(r.returncode == 0 and len(rows) == 10 and all(x[0] == x[5] for x in rows),
              f"--names key: --dry-run paths are the keys: {r.stderr}")
        listed = subprocess.run([CKPTFS, "--list", pfx], capture_output=True, text=True).stdout
        check(KEY + "\tfloat32\t[3,2]" in listed.splitlines(), "--list keeps keys")
        # a key of its own where a readable path would be: literal, @value
        desc = json.load(open(os.path.join(os.path.dirname(README), "scripts/demo/tf2.json")))
        desc["tensors"].append({"name": KERNEL, "dtype": "int32", "shape": [1],
                                "values": [7]})
        clash = os.path.join(d, "clash.json")
        with open(clash, "w") as f:
            json.dump(desc, f)
        subprocess.run([GEN, clash, os.path.join(d, "clash")], check=True)
        with mt.Mount(os.path.join(d, "clash")) as m:
            if m.ok:
                files = visible_files(m.dir)
                check(KERNEL + "/@value" in files and KERNEL + "/.ATTRIBUTES/VARIABLE_VALUE"
                      in files and KERNEL + "@slots/optimizer/m" in files,
                      f"clash: {sorted(files)}")
        # a corrupt object graph: refused before mounting, exit 65
        desc = json.load(open(os.path.join(os.path.dirname(README), "scripts/demo/tf2.json")))
        del desc["object_graph"]
        desc["tensors"].append({"name": OG, "dtype": "string", "shape": [],
                                "values_hex": ["0a050a03"]})
        bad = os.path.join(d, "bad.json")
        with open(bad, "w") as f:
            json.dump(desc, f)
        subprocess.run([GEN, bad, os.path.join(d, "bad")], check=True)
        with mt.Mount(os.path.join(d, "bad"), expect_ok=False) as m:
            check(m.rc == 65 and not os.path.ismount(m.dir) and "TrackableObject" in m.err
                  and m.err.count("\n") == 1, f"corrupt graph: rc {m.rc} {m.err!r}")


def main():
    if not os.path.exists("/dev/fuse") or shutil.which("fusermount3") is None:
        print("no FUSE here")
        return 1 if CI else 77
    root = os.environ.get("CKPT_FIXTURES", "")
    if os.path.isdir(root):
        fixtures(root)
        keras_slots(root)
    elif CI:
        check(False, "no fixtures folder under CI")
    readme_example()
    formats_and_maps()
    for f in failures:
        print("FAIL:", f)
    print(f"{counts['fixtures']} TF2 fixtures, {counts['variables']} variables, "
          f"{counts['graphs']} object graphs, {counts.get('described', 0)} described, "
          f"{counts.get('readme', 0)} README outputs, {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
