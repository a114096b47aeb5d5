#!/usr/bin/env python3
"""Mutation sweep: truncated and byte-flipped index files never crash ckptfs.

For several small real index files (V2, snappy V2, old strings, the three
V1 files) and generated ones with slices and strings, every truncation
length and a seeded set of single-byte flips (half with the table block
CRCs recomputed, so the flip reaches the parsers behind them) are written
into a temp dir beside the checkpoint's data files, and both
`ckptfs --list` and `ckpt-dump` (open, read, verify every tensor) run on
each mutant under a timeout. Each run must either succeed with valid
output, or fail with a one-line message and a documented exit code
(ckptfs: 65 or 66; ckpt-dump: 1); never a signal, a hang, or sanitizer
output on stderr (in the ASan+UBSan build the binaries are sanitized).

usage: mutation_test.py CKPTFS CKPT_DUMP CKPT_GEN DATA_DIR
Fixtures come from $CKPT_FIXTURES; without them only the generated
checkpoints run (under CI=true a missing folder fails).
Env: CKPT_MUTATION_FLIPS (default 300) flips per file, CKPT_MUTATION_TRUNC_STEP
(default 1: every length) truncation stride; scripts/test.sh thins both for
the slower ASan+UBSan pass.
"""
import concurrent.futures
import importlib.util
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile

CKPTFS, DUMP, GEN, DATA = sys.argv[1:5]
CI = os.environ.get("CI") == "true"
FLIPS = int(os.environ.get("CKPT_MUTATION_FLIPS", "300"))
TRUNC_STEP = max(1, int(os.environ.get("CKPT_MUTATION_TRUNC_STEP", "1")))
TIMEOUT = 30
SANITIZER = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                       r"SUMMARY: (Address|Undefined|Leak)Sanitizer")

# (fixture dir, checkpoint as passed to ckptfs relative to it, index file)
FIXTURES = [
    ("tf_contrib_framework_bundle_checkpoint", "bundle_checkpoint", "bundle_checkpoint.index"),
    ("tf_cc_half_plus_two_00000123", "variables", "variables.index"),
    ("serving_half_plus_two_cpu", "variables", "variables.index"),  # snappy blocks
    ("tf_old_string_tensors", "foo", "foo.index"),
    ("serving_bad_half_plus_two_v1", "export", "export"),
    ("serving_session_bundle_v1", "export-00000-of-00001", "export-00000-of-00001"),
    ("tf_session_bundle_saved_model_v1vars", "variables-00000-of-00001",
     "variables-00000-of-00001"),
]

def load_script(name):
    """scripts/NAME (a file name with dashes) as a module."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts", name)
    spec = importlib.util.spec_from_file_location(name[:-3].replace("-", "_"), path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# recompute a table's block CRCs
fix_crcs = load_script("fix-table-crcs.py").fix_table


def mutants(data, seed):
    """Every truncation, then FLIPS flips (every other one CRC-fixed)."""
    for n in range(0, len(data), TRUNC_STEP):
        yield f"truncate {n}", data[:n]
    rng = random.Random(seed)
    seen = set()
    for k in range(FLIPS):
        b = bytearray(data)
        at = rng.randrange(len(b))
        b[at] ^= rng.randrange(1, 256)
        fixed = k % 2 == 1
        if fixed:
            fix_crcs(b)
        m = bytes(b)
        if m == data or m in seen:
            continue
        seen.add(m)
        yield f"flip {at} ({'CRC fixed' if fixed else 'raw'})", m


def check_run(prog, args, what, valid):
    """One run: its problem as a string, or None."""
    try:
        p = subprocess.run([prog, *args], capture_output=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"{what}: hung (over {TIMEOUT} s)"
    err = p.stderr.decode("utf-8", "replace")
    if SANITIZER.search(err):
        return f"{what}: sanitizer report: {err[:2000]}"
    if p.returncode < 0:
        return f"{what}: killed by signal {-p.returncode}"
    if p.returncode == 0:
        why = valid(p.stdout)
        return f"{what}: exit 0 but {why}" if why else None
    codes = (65, 66) if prog == CKPTFS else (1,)
    if p.returncode not in codes:
        return f"{what}: exit {p.returncode} (want {codes}): {err.strip()[:300]}"
    lines = err.split("\n")
    if len(lines) != 2 or lines[1] != "" or len(lines[0]) < 10:
        return f"{what}: not a one-line message: {err[:300]!r}"
    if prog == CKPTFS and not lines[0].startswith("ckptfs: "):
        return f"{what}: message lacks the ckptfs: prefix: {lines[0][:200]}"
    return None


def valid_list(out):
    for line in out.decode("utf-8", "replace").split("\n")[:-1]:
        f = line.split("\t")
        if len(f) != 3 or not re.fullmatch(r"\[(\d+(,\d+)*)?\]", f[2]):
            return f"bad --list line {line[:200]!r}"
    return None


def valid_dump(out):
    try:
        # names are bytes: control bytes arrive escaped, others as they are
        json.loads(out.decode("utf-8", "surrogateescape"))
    except ValueError as e:
        return f"output is not JSON: {e}"
    return None


def run_one(ckpt, index, label, data):
    """Write the mutant over index and run both programs on ckpt."""
    with open(index, "wb") as f:
        f.write(data)
    probs = [check_run(CKPTFS, ["--list", ckpt], f"ckptfs --list {label}", valid_list),
             check_run(DUMP, [ckpt], f"ckpt-dump {label}", valid_dump)]
    return [p for p in probs if p]


def sweep(name, srcdir, ckpt_rel, index_rel, seed):
    """All mutants of one index; returns (count, problems)."""
    with open(os.path.join(srcdir, index_rel), "rb") as f:
        data = f.read()
    muts = list(mutants(data, seed))
    workers = max(2, os.cpu_count() or 2)
    # one copy of the checkpoint per worker; each mutant is written over
    # its copy's index, so workers never share a file
    with tempfile.TemporaryDirectory(prefix="ckpt-mut-") as tmp:
        copies = []
        for w in range(workers):
            d = os.path.join(tmp, str(w))
            shutil.copytree(srcdir, d)
            for fn in os.listdir(d):
                os.chmod(os.path.join(d, fn), 0o644)
            copies.append((os.path.join(d, ckpt_rel), os.path.join(d, index_rel)))
        problems = []

        def batch(w):
            ckpt, index = copies[w]
            out = []
            for label, m in muts[w::workers]:
                out += [f"{name}: {p}" for p in run_one(ckpt, index, label, m)]
            return out

        with concurrent.futures.ThreadPoolExecutor(workers) as ex:
            for r in ex.map(batch, range(workers)):
                problems += r
    return len(muts), problems


def main():
    sources = []
    root = os.environ.get("CKPT_FIXTURES", "")
    if os.path.isdir(root):
        for d, ckpt, index in FIXTURES:
            sources.append((d, os.path.join(root, d), ckpt, index))
    elif CI:
        print("FAIL: no fixtures folder under CI")
        return 1
    else:
        print("no fixtures folder: generated checkpoints only")
    failures = []
    total = 0
    with tempfile.TemporaryDirectory(prefix="ckpt-mut-gen-") as gen:
        for desc in ("partitioned.json", "strings.json"):
            d = os.path.join(gen, desc[:-5])
            os.mkdir(d)
            subprocess.run([GEN, os.path.join(DATA, desc), os.path.join(d, "g")], check=True)
            sources.append((desc, d, "g", "g.index"))
        for seed, (name, srcdir, ckpt, index) in enumerate(sources):
            n, probs = sweep(name, srcdir, ckpt, index, seed)
            total += n
            failures += probs
            print(f"{name}: {n} mutants, {len(probs)} problems")
    for f in failures[:50]:
        print("FAIL:", f)
    print(f"{total} mutants tried ({2 * total} runs), {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
