#!/usr/bin/env python3
"""Print the tables of a bench-results.json (scripts/bench.py) as Markdown,
as README.md's "Performance" section shows them.

usage: scripts/bench-table.py [bench-results.json]
"""
import json
import sys


def num(x):
    if x is None:
        return "—"
    if isinstance(x, float):
        return "%.3g" % x if abs(x) < 100 else "%.0f" % x
    return str(x)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "bench-results.json"
    with open(path) as f:
        d = json.load(f)
    print("| case | what | baseline | ckptfs | ratio | target |")
    print("|---|---|---|---|---|---|")
    for r in d["results"]:
        target = "—" if r["target"] is None else "%.2f %s" % (
            r["target"], "ok" if r["met"] else "missed")
        what = r["what"].strip()
        if r.get("note"):
            what += " — " + r["note"]
        print("| %s | %s | %s | %s | %.2f | %s |" % (
            r["case"], what.replace("|", "\\|"), num(r["baseline"]), num(r["ckptfs"]),
            r["ratio"], target))
    if d.get("ceiling"):
        print()
        print("| case | what | native | FUSE ceiling | squashfuse_ll | ckptfs "
              "| ckptfs/ceiling | ckptfs/native | the ceiling's configuration |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in d["ceiling"]:
            print("| %s | %s | %s | %s | %s | %s | %.2f | %.2f | `%s` |" % (
                r["case"], r["what"], num(r["native"]), num(r["ceiling"]),
                num(r["squashfuse"]), num(r["ckptfs"]), r["ckptfs_per_ceiling"],
                r["ckptfs_per_native"], r["config"]))
    print()
    print("%s, %d rounds (the ceiling in %d), %s s, Linux %s, %d CPUs" % (
        d["date"][:10], d["rounds"], d["ceiling_rounds"], d["seconds"], d["kernel"],
        d["cpus"]))


if __name__ == "__main__":
    main()
