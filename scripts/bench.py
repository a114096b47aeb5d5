#!/usr/bin/env python3
"""ckptfs benchmark (issue 7); run through scripts/bench.sh.

Generates its own checkpoints with build/tests/ckpt-gen (our writer), mounts
them, and measures every case side by side with its baseline in the same
round; each reported ratio is the median over rounds of the per-round
ratio (baseline time / ckptfs time, so higher is better and 1.0 = parity).
Prints a table and writes bench-results.json.

Cases 1, 4, 7 and D are also run on a FUSE ceiling (issue 14): tests/bench/ceiling,
a minimal lowlevel server of our own that serves the same shard ranges and
does nothing else, in each configuration of CEILING_CONFIGS, in the same
rounds; the best configuration per case is reported next to native,
squashfuse_ll and ckptfs, with the ratio ckptfs/ceiling, and every
configuration's figures in a second table.

Case D (disk-cold, issue 14): before each read the page cache is dropped
(/proc/sys/vm/drop_caches as root, else posix_fadvise DONTNEED on the
files read), then the 1 GiB tensor is read through a fresh mount (dd bs=1M
and cat) against `cat` of the same bytes as a plain file on the same disk,
and 4 readers of the 256 MiB tensors against 4 dd of their shard ranges;
squashfuse_ll and the ceiling are read disk-cold the same way.

Environment: BENCH_DIR (work folder, default a new one in /var/tmp, removed
at the end), BENCH_ROUNDS (default 5), BENCH_TREE_ROUNDS (default 3),
BENCH_SKIP_8G=1 (skip the 8 GiB RSS comparison), BENCH_OUT (JSON path),
BENCH_CASES (the cases to run, e.g. 1,4,7 or S; default all: 1-7, D =
disk-cold reads, S = the linearity of string reads, P = what a 4 KiB read
of a permuted 1 GiB tensor reads (issue 12), R = the remote cases R1-R5 of
issue 15 against nginx and the S3 server on loopback, R2 also against s3fs
and rclone mount on the S3 server), BENCH_CEILING
("off", or ceiling configurations replacing CEILING_CONFIGS: option strings
of tests/bench/ceiling separated by ";", plus bdi-ra=KiB to set the mount's
read_ahead_kb after mounting), BENCH_CEILING_ROUNDS (the first N rounds
also run the ceiling; default 3).
"""
import collections
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
CKPTFS = os.path.join(BUILD, "fs", "ckptfs")
GEN = os.path.join(BUILD, "tests", "ckpt-gen")
CEILING = os.path.join(BUILD, "tests", "bench", "ceiling")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
TREE_ROUNDS = int(os.environ.get("BENCH_TREE_ROUNDS", "3"))
CEIL_ROUNDS = int(os.environ.get("BENCH_CEILING_ROUNDS", "3"))
CASES = {c.strip().upper() for c in os.environ.get("BENCH_CASES", "1,2,3,4,5,6,7,D,S,P,R").split(",") if c.strip()}
IO_CASES = {"1", "2", "3", "4", "5", "6", "7", "D"}
REMOTE_CASES = {"R1", "R2", "R3", "R4", "R5"}
if "R" in CASES:
    CASES |= REMOTE_CASES
MiB = 1 << 20
GiB = 1 << 30

rows = []        # the table: one dict per result
ceil_rows = []   # the FUSE ceiling table (cases 1, 4, 7)
mounted = []     # mountpoints to clean up

# The FUSE ceiling's configurations (the header of tests/bench/ceiling.c for
# the options; bdi-ra=KiB is ours: the mount's read_ahead_kb, set after
# mounting). The first is what ckptfs does: spliced replies, keep_cache,
# st_blksize 64 KiB, 16 threads, max_pages of 1 MiB. libfuse splices a
# reply only through a pipe of reply + 3 pages + header, and a pipe holds
# at most fs.pipe-max-size (1 MiB) without CAP_SYS_RESOURCE (which even
# root lacks on this VM): a 1 MiB reply falls back to a pread into a fresh
# malloc per reply, hence --max-read=1004K next to the 1 MiB configurations.
CEILING_CONFIGS = [
    "--keep-cache",
    "--keep-cache --mode=copy",
    "--keep-cache --mode=mmap",
    "--keep-cache --blksize=1M",
    "--keep-cache --threads=0",
    "--keep-cache --max-read=1004K bdi-ra=1024",
    "--direct-io",
    "--direct-io --max-read=1004K",
    "--direct-io --max-read=1004K --blksize=1M",
    "--direct-io --mode=mmap --blksize=1M",
]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def med(xs):
    return statistics.median(xs)


def pct(xs, p):
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def want(*cases):
    return any(str(c) in CASES for c in cases)


def result(case, what, base, ours, ratio, target, unit, note=""):
    """ratio: higher is better; target: minimum ratio (None = report only)."""
    if not want(case):
        return
    met = None if target is None else ratio >= target
    rows.append({"case": case, "what": what, "baseline": base, "ckptfs": ours,
                 "unit": unit, "ratio": round(ratio, 3), "target": target,
                 "met": met, "note": note})
    log("  %-4s %-44s ratio %.2f%s" % (case, what, ratio,
                                       "" if target is None else " (target %.2f)" % target))


# ---------------------------------------------------------------- helpers

def gen(desc, prefix):
    with open(prefix + ".json", "w") as f:
        json.dump(desc, f)
    subprocess.run([GEN, prefix + ".json", prefix], check=True)
    os.unlink(prefix + ".json")
    return prefix + ".data-00000-of-00001"


def is_mounted(mnt):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == mnt for line in f)


def wait_mount(mnt, proc, timeout=60.0):
    t0 = time.perf_counter()
    while not is_mounted(mnt):
        if proc.poll() is not None:
            raise RuntimeError("mount of %s failed (exit %d)" % (mnt, proc.returncode))
        if time.perf_counter() - t0 > timeout:
            raise RuntimeError("mount of %s timed out" % mnt)
        time.sleep(0.0005)


def proc_cpu(pid):
    """Seconds of CPU process pid has used (user + system, all threads)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def self_cpu():
    """Seconds of CPU this process has used (its threads: the FaultProxy)."""
    t = os.times()
    return t.user + t.system


class Mount:
    """A FUSE mount run in the foreground, so its pid and RSS are known.
    stderr: where the daemon's stdout and stderr go (None: ours)."""

    def __init__(self, argv, mnt, env=None, stderr=None):
        os.makedirs(mnt, exist_ok=True)
        self.mnt = mnt
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(argv + [mnt], env=env, stderr=stderr,
                                     stdout=stderr)
        try:
            wait_mount(mnt, self.proc)
        except RuntimeError:
            if is_mounted(mnt):
                subprocess.run(["fusermount3", "-uz", mnt], check=False)
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            raise
        self.mount_time = time.perf_counter() - t0
        mounted.append(mnt)

    def cpu_time(self):
        """Seconds of CPU the daemon has used (user + system)."""
        return proc_cpu(self.proc.pid)

    def peak_rss(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
        return 0

    def close(self):
        subprocess.run(["fusermount3", "-u", self.mnt], check=False)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if is_mounted(self.mnt):  # busy, or its daemon killed: detach it
            subprocess.run(["fusermount3", "-uz", self.mnt], check=False)
        if self.mnt in mounted:
            mounted.remove(self.mnt)


def ckptfs(prefix, mnt, *opts):
    return Mount([CKPTFS, "-f"] + list(opts) + [prefix], mnt)


def squashfuse(image, mnt):
    return Mount(["squashfuse_ll", "-f", image], mnt)


def ceiling_configs():
    """The ceiling configurations to run: BENCH_CEILING or CEILING_CONFIGS."""
    env = os.environ.get("BENCH_CEILING")
    if env is not None and env.strip() == "off":
        return []
    configs = [" ".join(x.split()) for x in env.split(";")] if env else list(CEILING_CONFIGS)
    if any("bdi-ra=" in x for x in configs) and not os.access("/sys/class/bdi", os.W_OK):
        log("bench: /sys/class/bdi is not writable: skipping the bdi-ra= configurations")
        configs = [x for x in configs if "bdi-ra=" not in x]
    return configs


def ceiling_label(cfg):
    return cfg.replace("--", "") or "(defaults)"


def ceiling_mount(cfg, files, mnt):
    """The FUSE ceiling in configuration cfg, serving files: (name, path, offset, length)."""
    opts = cfg.split()
    m = Mount([CEILING] + [o for o in opts if not o.startswith("bdi-ra=")] +
              ["%s=%s:%d:%d" % f for f in files], mnt)
    for o in opts:
        if o.startswith("bdi-ra="):
            dev = os.stat(mnt).st_dev
            with open("/sys/class/bdi/%d:%d/read_ahead_kb" % (os.major(dev), os.minor(dev)),
                      "w") as f:
                f.write(o[len("bdi-ra="):])
    return m


def dd_argv(path, off=0, length=None):
    argv = ["dd", "if=" + path, "of=/dev/null", "bs=1M", "status=none",
            "iflag=skip_bytes,count_bytes", "skip=%d" % off]
    if length is not None:
        argv.append("count=%d" % length)
    return argv


def read_time(path, off=0, length=None, timeout=None):
    """Seconds to read a byte range with dd bs=1M (a cat of the range)."""
    t0 = time.perf_counter()
    subprocess.run(dd_argv(path, off, length), check=True, timeout=timeout)
    return time.perf_counter() - t0


def cat_time(path, timeout=None):
    """Seconds to cat a file (coreutils sizes its reads from st_blksize)."""
    t0 = time.perf_counter()
    subprocess.run(["cat", path], check=True, stdout=subprocess.DEVNULL, timeout=timeout)
    return time.perf_counter() - t0


def parallel_read_time(ranges):
    t0 = time.perf_counter()
    procs = [subprocess.Popen(dd_argv(p, o, n)) for p, o, n in ranges]
    for p in procs:
        if p.wait() != 0:
            raise RuntimeError("dd failed")
    return time.perf_counter() - t0


def pread_lat(path, offs, size):
    fd = os.open(path, os.O_RDONLY)
    lat = []
    try:
        for o in offs:
            t0 = time.perf_counter_ns()
            b = os.pread(fd, size, o)
            lat.append((time.perf_counter_ns() - t0) / 1000.0)
            if len(b) != size:
                raise RuntimeError("short pread of %s" % path)
    finally:
        os.close(fd)
    return lat


def same_bytes(a, a_off, b, b_off, n):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        fa.seek(a_off)
        fb.seek(b_off)
        return fa.read(n) == fb.read(n)


def shell_time(cmd):
    t0 = time.perf_counter()
    subprocess.run(cmd, shell=True, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def drop_caches(paths):
    """Case D: the page cache dropped (all of it as root, else paths')."""
    subprocess.run(["sync"], check=True)
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3")
        return
    except OSError:
        pass
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def recache(paths):
    """The files read whole into the page cache."""
    for p in paths:
        subprocess.run(dd_argv(p), check=True)


def gbps(nbytes, secs):
    return round(nbytes / secs / 1e9, 3)


# ---------------------------------------------------------------- data

BIG_SHAPE = [8192, 32768]           # 1 GiB float32: cases 1, 2, 3 (column parts), 4
ROWS_SHAPE = [16384, 8192]          # 512 MiB float32 stored as 8 row slices: case 3
SMALL_SHAPE = [8192, 8192]          # 4 x 256 MiB: case 7
TREE_N = 100000


def tree_name(i):
    return "layer_%02d/block_%d/unit_%d/w%d" % (i // 1000, i // 100 % 10, i // 10 % 10, i % 10)


def tree_desc(elems):
    return {"tensors": [{"name": tree_name(i), "dtype": "float32", "shape": [elems],
                         "pattern": "const:0"} for i in range(TREE_N)]}


# ---------------------------------------------------------------- the FUSE ceiling

def ratios(a, b):  # per-round baseline/ours
    return med([x / y for x, y in zip(a, b)])


def ceiling_round(cfg, z, r, files, mnt, offs4k, offs128k, cold):
    """One round of cases 1, 4, 7 and D on the ceiling in configuration
    cfg (D last: the page cache of the files `cold` dropped before each
    read, and the files read into it again after); the per-round figures
    go to z (key -> list over rounds)."""
    big = os.path.join(mnt, "big")
    if r == 0:  # it serves the shard's bytes (on a mount of its own: cold stays cold)
        m = ceiling_mount(cfg, files, mnt)
        for name, path, o, n in files:
            for at in (0, n - MiB):
                if not same_bytes(os.path.join(mnt, name), at, path, o + at, MiB):
                    raise RuntimeError("bench: the ceiling (%s) serves wrong bytes" % cfg)
        m.close()
    if want(1, 7):
        m = ceiling_mount(cfg, files, mnt)
        if want(1):
            z["cold"].append(read_time(big))
            z["warm"].append(read_time(big))
        if want(7):  # v0..v3 are still cold
            z["par"].append(parallel_read_time([(os.path.join(mnt, f[0]), 0, None)
                                                for f in files[1:]]))
        m.close()
    if want(1):
        m = ceiling_mount(cfg, files, mnt)
        z["cold_cat"].append(cat_time(big))
        z["warm_cat"].append(cat_time(big))
        m.close()
    for size, offs in ((4096, offs4k), (131072, offs128k)) if want(4) else ():
        m = ceiling_mount(cfg, files, mnt)
        z[size].append(pread_lat(big, offs, size))
        m.close()
    if want("D"):
        m = ceiling_mount(cfg, files, mnt)
        drop_caches(cold)
        z["d_dd"].append(read_time(big))
        m.close()
        m = ceiling_mount(cfg, files, mnt)
        drop_caches(cold)
        z["d_par"].append(parallel_read_time([(os.path.join(mnt, f[0]), 0, None)
                                              for f in files[1:]]))
        m.close()
        recache(cold)


def ceiling_results(c, cz, lat, big_n, small_n):
    """The ceiling table: per line, the configuration with the best median
    per-round ratio to native is the FUSE ceiling; ckptfs/ceiling is the
    median of per-round ratios to that configuration (the rounds that ran
    the ceiling: zip pairs round i with round i)."""
    lines = []  # case, what, short name, native, squashfuse, ckptfs, {cfg: ceiling}, unit of
    for what, short, nk, sk, k in (("cold, dd bs=1M", "cold dd", "nat", "sq_cold", "cold"),
                                   ("warm, dd bs=1M", "warm dd", "nat", "sq_warm", "warm"),
                                   ("cold, cat", "cold cat", "nat_cat", "sq_cold_cat", "cold_cat"),
                                   ("warm, cat", "warm cat", "nat_cat", "sq_warm_cat", "warm_cat")
                                   ) if want(1) else ():
        lines.append(("1", "1 GiB " + what + " (GB/s)", short, c[nk], c[sk], c[k],
                      {cfg: z[k] for cfg, z in cz.items()}, ("GB/s", big_n)))
    for size in (4096, 131072) if want(4) else ():
        for stat, p in (("median", 50), ("p99", 99)):
            def per_round(rounds, p=p):
                return [pct(x, p) for x in rounds]
            lines.append(("4", "random %d KiB pread, %s (us)" % (size // 1024, stat),
                          "%dK %s" % (size // 1024, "med" if p == 50 else "p99"),
                          per_round(lat[("nat", size)]), per_round(lat[("sq", size)]),
                          per_round(lat[("ck", size)]),
                          {cfg: per_round(z[size]) for cfg, z in cz.items()}, ("us", 0)))
    if want(7):
        lines.append(("7", "4 readers x 256 MiB, dd bs=1M (GB/s)", "4 readers", c["par_nat"],
                      c["sq_par"], c["par"], {cfg: z["par"] for cfg, z in cz.items()},
                      ("GB/s", 4 * small_n)))
    if want("D"):
        lines.append(("D", "disk-cold 1 GiB, dd bs=1M (GB/s)", "D dd", c["d_nat"], c["d_sq"],
                      c["d_dd"], {cfg: z["d_dd"] for cfg, z in cz.items()}, ("GB/s", big_n)))
        lines.append(("D", "disk-cold 4 readers x 256 MiB (GB/s)", "D 4 rd", c["d_par_nat"],
                      c["d_sq_par"], c["d_par"], {cfg: z["d_par"] for cfg, z in cz.items()},
                      ("GB/s", 4 * small_n)))
    for case, what, short, nat, sq, ck, ceil, (unit, nbytes) in lines:
        def show(ts):
            return gbps(nbytes, med(ts)) if unit == "GB/s" else round(med(ts), 1)
        score = {cfg: ratios(nat, ts) for cfg, ts in ceil.items()}
        best = max(ceil, key=lambda cfg: score[cfg])
        ceil_rows.append({"case": case, "what": what, "short": short, "unit": unit,
                          "native": show(nat), "ceiling": show(ceil[best]),
                          "squashfuse": show(sq), "ckptfs": show(ck),
                          "config": ceiling_label(best),
                          "ceiling_per_native": round(score[best], 3),
                          "ckptfs_per_ceiling": round(ratios(ceil[best], ck), 3),
                          "ckptfs_per_native": round(ratios(nat, ck), 3),
                          "configs": {ceiling_label(k): round(v, 3) for k, v in score.items()}})
        log("  %-4s %-44s ckptfs/ceiling %.2f (%s)" % (case, what,
                                                       ceil_rows[-1]["ckptfs_per_ceiling"],
                                                       ceiling_label(best)))


def report_ceiling():
    if not ceil_rows:
        return
    print()
    hdr = "%-4s %-38s %8s %8s %13s %8s %6s %6s  %s" % (
        "case", "what", "native", "ceiling", "squashfuse_ll", "ckptfs", "ck/cl", "ck/nat",
        "ceiling = the best configuration")
    print(hdr)
    print("-" * len(hdr))
    for r in ceil_rows:
        print("%-4s %-38s %8s %8s %13s %8s %6.2f %6.2f  %s" % (
            r["case"], r["what"], r["native"], r["ceiling"], r["squashfuse"], r["ckptfs"],
            r["ckptfs_per_ceiling"], r["ckptfs_per_native"], r["config"]))
    print("ck/cl = ckptfs/FUSE ceiling, ck/nat = ckptfs/native: time ratios (higher is better),"
          " medians of per-round ratios")
    print()
    print("every ceiling configuration: native time / its time, median of per-round ratios"
          " (* = the best):")
    labels = list(ceil_rows[0]["configs"])
    w = max(len(x) for x in labels)
    print("%-*s %s" % (w, "configuration", " ".join("%9s" % r["short"] for r in ceil_rows)))
    for lab in labels:
        print("%-*s %s" % (w, lab, " ".join(
            "%8.2f%s" % (r["configs"][lab], "*" if r["config"] == lab else " ")
            for r in ceil_rows)))


def main():
    unknown = CASES - IO_CASES - {"S", "P", "R"} - REMOTE_CASES
    if unknown:
        sys.exit("bench: BENCH_CASES: unknown case(s) %s (cases: 1-7, D, S, P, R)" % ", ".join(sorted(unknown)))
    io = bool(CASES & IO_CASES)
    tools = ("squashfuse_ll", "mksquashfs", "fusermount3", "dd") if io else ("fusermount3",)
    for tool in tools:
        if shutil.which(tool) is None:
            sys.exit("bench: %s is missing: run scripts/install-deps.sh" % tool)
    own_dir = "BENCH_DIR" not in os.environ
    work = os.environ.get("BENCH_DIR") or tempfile.mkdtemp(prefix="ckptfs-bench.", dir="/var/tmp")
    os.makedirs(work, exist_ok=True)
    t_start = time.perf_counter()
    try:
        if io:
            run(work)
        if "S" in CASES:
            run_strings(work)
        if "P" in CASES:
            run_perm(work)
        if CASES & REMOTE_CASES:
            run_remote(work)
    finally:
        for m in list(mounted):
            subprocess.run(["fusermount3", "-uz", m], check=False)
        if own_dir:
            shutil.rmtree(work, ignore_errors=True)
    elapsed = time.perf_counter() - t_start
    report(elapsed)


def run(work):
    rnd = random.Random(7)
    # ---- the main checkpoint: one shard, tensors in this order
    log("generating the 2.5 GiB checkpoint ...")
    main_ck = os.path.join(work, "main")
    tensors = [{"name": "big", "dtype": "float32", "shape": BIG_SHAPE, "pattern": "random:1"},
               {"name": "rows", "dtype": "float32", "shape": ROWS_SHAPE, "pattern": "const:3",
                "partitions": [8, 1]}]
    tensors += [{"name": "v%d" % k, "dtype": "float32", "shape": SMALL_SHAPE,
                 "pattern": "const:%d" % (k + 5)} for k in range(4)]
    shard = gen({"tensors": tensors}, main_ck)
    big_n = BIG_SHAPE[0] * BIG_SHAPE[1] * 4
    rows_n = ROWS_SHAPE[0] * ROWS_SHAPE[1] * 4
    small_n = SMALL_SHAPE[0] * SMALL_SHAPE[1] * 4
    off = {"big": 0, "rows": big_n}
    for k in range(4):
        off["v%d" % k] = big_n + rows_n + k * small_n
    recache([shard])  # the shard in page cache
    targets = os.path.join(work, "cols.json")
    with open(targets, "w") as f:
        json.dump({"variables": [{"name": "big", "dtype": "float32", "shape": BIG_SHAPE,
                                  "partitions": [1, 4]}]}, f)
    mnt = os.path.join(work, "mnt")
    sq_mnt = os.path.join(work, "sqmnt")

    # ---- the small-tensor tree (case 5): checkpoint, plain files, squashfs
    tree = want(5, 6)
    tree_ck = os.path.join(work, "tree1g")
    plain = os.path.join(work, "plain")
    sqsrc = os.path.join(work, "sqsrc")
    os.makedirs(sqsrc)
    if tree:
        log("generating the 100,000-tensor checkpoint and its plain tree ...")
        gen(tree_desc(2688), tree_ck)               # 100,000 x 10.5 KiB = 1.0 GiB
        for base in (plain, os.path.join(sqsrc, "tree")):
            for i in range(TREE_N):
                p = os.path.join(base, tree_name(i))
                if i % 10 == 0:
                    os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, "wb") as f:
                    f.truncate(2688 * 4)            # const:0 tensors: the same bytes
    log("building the squashfs image (peer) ...")
    # big.raw: big's bytes as a plain file, for the native cat of case 1
    raw = os.path.join(work, "big.raw")
    subprocess.run(["dd", "if=" + shard, "of=" + raw, "bs=1M",
                    "count=%d" % (big_n // MiB), "status=none"], check=True)
    os.link(raw, os.path.join(sqsrc, "big"))
    if want(7, "D"):
        for k in range(4):
            argv = dd_argv(shard, off["v%d" % k], small_n)
            argv[2] = "of=" + os.path.join(sqsrc, "v%d" % k)
            subprocess.run(argv, check=True)
    image = os.path.join(work, "peer.squashfs")
    subprocess.run(["mksquashfs", sqsrc, image, "-noI", "-noD", "-noF", "-quiet",
                    "-no-progress"], check=True, stdout=subprocess.DEVNULL)
    shutil.rmtree(sqsrc)
    recache([image, raw])  # in the page cache

    # sanity: the mount serves the shard's bytes where we think they are
    m = ckptfs(main_ck, mnt)
    for name in off:
        size = {"big": big_n, "rows": rows_n}.get(name, small_n)
        for o in (0, size - MiB):
            if not same_bytes(os.path.join(mnt, name), o, shard, off[name] + o, MiB):
                raise RuntimeError("bench: %s is not at shard offset %d" % (name, off[name]))
    m.close()

    # the FUSE ceiling serves big and v0..v3 from the same shard
    configs = ceiling_configs() if want(1, 4, 7, "D") else []
    ceil_files = [("big", shard, 0, big_n)] + [("v%d" % k, shard, off["v%d" % k], small_n)
                                              for k in range(4)]
    cz = {cfg: collections.defaultdict(list) for cfg in configs}

    log("cases %s: %d rounds, %d ceiling configurations in %d of them ..."
        % (",".join(sorted(CASES - {"5"})), ROUNDS, len(configs), min(ROUNDS, CEIL_ROUNDS)))
    c = collections.defaultdict(list)
    lat = collections.defaultdict(list)  # (who, size) -> one list of latencies per round
    offs4k = [rnd.randrange(big_n // 4096) * 4096 for _ in range(2000)]
    offs128k = [rnd.randrange(big_n // 4096 - 32) * 4096 for _ in range(500)]
    big = os.path.join(mnt, "big")
    sq_big = os.path.join(sq_mnt, "big")
    for r in range(ROUNDS):
        if want(1, 2, 3, 6):
            c["nat"].append(read_time(shard, 0, big_n))
            m = ckptfs(main_ck, mnt)
            c["cold"].append(read_time(big))
            c["warm"].append(read_time(big))
            if want(3):
                c["rows_nat"].append(read_time(shard, off["rows"], rows_n))
                c["rows"].append(read_time(os.path.join(mnt, "rows")))
            m.close()
        if want(1):
            m = ckptfs(main_ck, mnt, "--verify", "none")
            c["noverify"].append(read_time(big))
            m.close()
            # the same with cat (its reads sized from st_blksize)
            c["nat_cat"].append(cat_time(raw))
            m = ckptfs(main_ck, mnt)
            c["cold_cat"].append(cat_time(big))
            c["warm_cat"].append(cat_time(big))
            m.close()
        if want(2):
            for dt, key in (("bfloat16", "bf16"), ("float16", "f16")):
                m = ckptfs(main_ck, mnt, "--cast", "float32=" + dt)
                c[key].append(read_time(big))
                m.close()
        if want(3):
            m = ckptfs(main_ck, mnt, "--targets", targets)
            t0 = time.perf_counter()
            for k in range(4):
                subprocess.run(dd_argv(os.path.join(big, "part_%d" % k)), check=True)
            c["cols"].append(time.perf_counter() - t0)
            m.close()
        # case 4: random preads of a cold file, then the same on the shard and squashfs
        for size, offs in ((4096, offs4k), (131072, offs128k)) if want(4, 6) else ():
            m = ckptfs(main_ck, mnt)
            lat[("ck", size)].append(pread_lat(big, offs, size))
            m.close()
            lat[("nat", size)].append(pread_lat(shard, offs, size))
            s = squashfuse(image, sq_mnt)
            lat[("sq", size)].append(pread_lat(sq_big, offs, size))
            s.close()
        # case 6: squashfuse sequential
        if want(1, 6):
            s = squashfuse(image, sq_mnt)
            c["sq_cold"].append(read_time(sq_big))
            c["sq_warm"].append(read_time(sq_big))
            s.close()
        if want(1):
            s = squashfuse(image, sq_mnt)
            c["sq_cold_cat"].append(cat_time(sq_big))
            c["sq_warm_cat"].append(cat_time(sq_big))
            s.close()
        # case 7: 4 concurrent readers
        if want(7):
            c["par_nat"].append(parallel_read_time([(shard, off["v%d" % k], small_n)
                                                    for k in range(4)]))
            m = ckptfs(main_ck, mnt)
            c["par"].append(parallel_read_time([(os.path.join(mnt, "v%d" % k), 0, None)
                                                for k in range(4)]))
            m.close()
            s = squashfuse(image, sq_mnt)
            c["sq_par"].append(parallel_read_time([(os.path.join(sq_mnt, "v%d" % k), 0, None)
                                                   for k in range(4)]))
            s.close()
        # case D: disk-cold, the page cache dropped before every read
        if want("D"):
            cold = [shard, raw, image]
            drop_caches(cold)
            c["d_nat"].append(cat_time(raw))
            s = squashfuse(image, sq_mnt)
            drop_caches(cold)
            c["d_sq"].append(read_time(sq_big))
            s.close()
            s = squashfuse(image, sq_mnt)
            drop_caches(cold)
            c["d_sq_par"].append(parallel_read_time([(os.path.join(sq_mnt, "v%d" % k), 0, None)
                                                     for k in range(4)]))
            s.close()
            for key, timer in (("d_dd", read_time), ("d_cat", cat_time)):
                m = ckptfs(main_ck, mnt)
                drop_caches(cold)
                c[key].append(timer(big))
                m.close()
            drop_caches(cold)
            c["d_par_nat"].append(parallel_read_time([(shard, off["v%d" % k], small_n)
                                                      for k in range(4)]))
            m = ckptfs(main_ck, mnt)
            drop_caches(cold)
            c["d_par"].append(parallel_read_time([(os.path.join(mnt, "v%d" % k), 0, None)
                                                  for k in range(4)]))
            m.close()
            recache([shard, raw, image])  # the other cases read from the page cache
        for cfg in configs if r < CEIL_ROUNDS else ():
            ceiling_round(cfg, cz[cfg], r, ceil_files, mnt, offs4k, offs128k, [shard, raw, image])

    def pooled(key):
        return [x for per_round in lat[key] for x in per_round]

    if want(1):
        result("1", "1 GiB float32, cold (GB/s)", gbps(big_n, med(c["nat"])),
               gbps(big_n, med(c["cold"])), ratios(c["nat"], c["cold"]), 0.7, "GB/s")
        result("1", "  same, cold, --verify none (GB/s)", gbps(big_n, med(c["nat"])),
               gbps(big_n, med(c["noverify"])), ratios(c["nat"], c["noverify"]), 0.7, "GB/s",
               "default --verify read also checks the CRC of the whole tensor")
        result("1", "  default --verify against --verify none (s)", round(med(c["noverify"]), 3),
               round(med(c["cold"]), 3), ratios(c["noverify"], c["cold"]), 0.9, "s",
               "what checking the CRC costs a cold whole-file reader")
        result("1", "1 GiB float32, warm re-read (GB/s)", gbps(big_n, med(c["nat"])),
               gbps(big_n, med(c["warm"])), ratios(c["nat"], c["warm"]), 0.9, "GB/s")
    if want(2):
        for key, dt in (("bf16", "bfloat16"), ("f16", "float16")):
            result("2", "re-typed to %s, cold (source GB/s)" % dt, gbps(big_n, med(c["cold"])),
                   gbps(big_n, med(c[key])), ratios(c["cold"], c[key]), 0.6, "GB/s",
                   "baseline: case 1 cold")
    if want(3):
        result("3", "4 column parts of [8192,32768] (GB/s)", gbps(big_n, med(c["cold"])),
               gbps(big_n, med(c["cols"])), ratios(c["cold"], c["cols"]), 0.5, "GB/s",
               "baseline: case 1 cold")
        result("3", "8 row slices read whole, cold (GB/s)", gbps(big_n, med(c["cold"])),
               gbps(rows_n, med(c["rows"])),
               med([(rows_n / y) / (big_n / x) for x, y in zip(c["cold"], c["rows"])]), 0.5,
               "GB/s", "baseline: case 1 cold; native range %.2f GB/s"
               % gbps(rows_n, med(c["rows_nat"])))
    for size in (4096, 131072) if want(4) else ():
        for stat, f in (("median", med), ("p99", lambda x: pct(x, 99))):
            nat, ck = f(pooled(("nat", size))), f(pooled(("ck", size)))
            result("4", "random %d KiB pread, %s (us)" % (size // 1024, stat), round(nat, 1),
                   round(ck, 1), nat / ck, None, "us", "cold file; baseline: the shard")
    if want(7):
        result("7", "4 readers x 256 MiB, aggregate (GB/s)", gbps(4 * small_n, med(c["par_nat"])),
               gbps(4 * small_n, med(c["par"])), ratios(c["par_nat"], c["par"]), None, "GB/s")

    if want("D"):
        for key, what in (("d_dd", "dd bs=1M"), ("d_cat", "cat")):
            result("D", "disk-cold 1 GiB, %s (GB/s)" % what, gbps(big_n, med(c["d_nat"])),
                   gbps(big_n, med(c[key])), ratios(c["d_nat"], c[key]), 0.9, "GB/s",
                   "page cache dropped; baseline: cat of the bytes as a plain file")
        result("D", "disk-cold 4 readers x 256 MiB (GB/s)", gbps(4 * small_n, med(c["d_par_nat"])),
               gbps(4 * small_n, med(c["d_par"])), ratios(c["d_par_nat"], c["d_par"]), 0.9,
               "GB/s", "page cache dropped; baseline: 4 dd of the shard ranges")

    # ---- case 6, reads: squashfuse_ll vs ckptfs
    if want(6):
        result("6", "vs squashfuse: seq cold (GB/s)", gbps(big_n, med(c["sq_cold"])),
               gbps(big_n, med(c["cold"])), ratios(c["sq_cold"], c["cold"]), 1.0, "GB/s")
        result("6", "vs squashfuse: seq warm (GB/s)", gbps(big_n, med(c["sq_warm"])),
               gbps(big_n, med(c["warm"])), ratios(c["sq_warm"], c["warm"]), 1.0, "GB/s")
        for size in (4096, 131072):
            for stat, f in (("median", med), ("p99", lambda x: pct(x, 99))):
                sq, ck = f(pooled(("sq", size))), f(pooled(("ck", size)))
                result("6", "vs squashfuse: %d KiB pread %s (us)" % (size // 1024, stat),
                       round(sq, 1), round(ck, 1), sq / ck, 1.0, "us")

    # ---- cases 1, 4, 7 against the FUSE ceiling
    if configs:
        ceiling_results(c, cz, lat, big_n, small_n)

    if not tree:
        return

    # ---- case 5: the tree
    log("case 5 (100,000 tensors): %d rounds ..." % TREE_ROUNDS)
    t = {k: [] for k in ("mount", "rss", "ls", "ls2", "find", "pl_ls", "pl_find", "xls",
                         "xls2", "xfind",
                         "sq_mount", "sq_rss", "sq_ls", "sq_find")}
    ls = "ls -lR %s > /dev/null"
    fnd = "find %s -type f | wc -l > /dev/null"
    tree_sq = os.path.join(sq_mnt, "tree")
    for r in range(TREE_ROUNDS):
        t["pl_ls"].append(shell_time(ls % plain))
        t["pl_find"].append(shell_time(fnd % plain))
        m = ckptfs(tree_ck, mnt)
        t["mount"].append(m.mount_time)
        t["ls"].append(shell_time(ls % mnt))
        t["ls2"].append(shell_time(ls % mnt))
        t["find"].append(shell_time(fnd % mnt))
        t["rss"].append(m.peak_rss())
        m.close()
        m = ckptfs(tree_ck, mnt, "--xattr", "off")
        t["xls"].append(shell_time(ls % mnt))
        t["xls2"].append(shell_time(ls % mnt))
        t["xfind"].append(shell_time(fnd % mnt))
        m.close()
        s = squashfuse(image, sq_mnt)
        t["sq_mount"].append(s.mount_time)
        t["sq_ls"].append(shell_time(ls % tree_sq))
        t["sq_find"].append(shell_time(fnd % tree_sq))
        t["sq_rss"].append(s.peak_rss())
        s.close()
    rss1 = med(t["rss"])
    result("5", "mount time, 100k tensors (s)", 1.0, round(med(t["mount"]), 3),
           1.0 / med(t["mount"]), 1.0, "s", "baseline: the 1 s budget")
    result("5", "daemon peak RSS (MiB)", 100, round(rss1 / MiB, 1), 100 * MiB / rss1, 1.0,
           "MiB", "baseline: the 100 MiB budget")
    result("5", "ls -lR, first after mount (s)", round(med(t["pl_ls"]), 3), round(med(t["ls"]), 3),
           ratios(t["pl_ls"], t["ls"]), 1 / 3.0, "s", "baseline: plain files on local disk")
    result("5", "ls -lR, again (s)", round(med(t["pl_ls"]), 3), round(med(t["ls2"]), 3),
           ratios(t["pl_ls"], t["ls2"]), 1 / 3.0, "s", "baseline: plain files on local disk")
    result("5", "find -type f | wc -l (s)", round(med(t["pl_find"]), 3), round(med(t["find"]), 3),
           ratios(t["pl_find"], t["find"]), 1 / 3.0, "s", "baseline: plain files on local disk")
    for key, what in (("xls", "first after mount"), ("xls2", "again")):
        result("5", "ls -lR, --xattr off, %s (s)" % what, round(med(t["pl_ls"]), 3),
               round(med(t[key]), 3), ratios(t["pl_ls"], t[key]), 1 / 3.0, "s",
               "no getxattr round trip per file")
    result("5", "find -type f | wc -l, --xattr off (s)", round(med(t["pl_find"]), 3),
           round(med(t["xfind"]), 3), ratios(t["pl_find"], t["xfind"]), 1 / 3.0, "s")
    result("6", "vs squashfuse: mount time (s)", round(med(t["sq_mount"]), 3),
           round(med(t["mount"]), 3), ratios(t["sq_mount"], t["mount"]), 1.0, "s")
    result("6", "vs squashfuse: peak RSS (MiB)", round(med(t["sq_rss"]) / MiB, 1),
           round(rss1 / MiB, 1), med(t["sq_rss"]) / rss1, 1.0, "MiB")
    result("6", "vs squashfuse: ls -lR (s)", round(med(t["sq_ls"]), 3), round(med(t["ls"]), 3),
           ratios(t["sq_ls"], t["ls"]), 1.0, "s")
    result("6", "vs squashfuse: find (s)", round(med(t["sq_find"]), 3), round(med(t["find"]), 3),
           ratios(t["sq_find"], t["find"]), 1.0, "s")
    shutil.rmtree(plain)
    for p in os.listdir(work):
        if p.startswith(("tree1g", "peer", "big.raw")):
            os.unlink(os.path.join(work, p))

    if want(5) and os.environ.get("BENCH_SKIP_8G") != "1":
        log("case 5: the same tree with 8 GiB of data ...")
        tree8 = os.path.join(work, "tree8g")
        gen(tree_desc(21504), tree8)            # 100,000 x 84 KiB = 8.0 GiB
        rss8 = []
        for r in range(2):
            m = ckptfs(tree8, mnt)
            shell_time(ls % mnt)
            shell_time(fnd % mnt)
            rss8.append(m.peak_rss())
            m.close()
        for p in os.listdir(work):
            if p.startswith("tree8g"):
                os.unlink(os.path.join(work, p))
        ratio = min(rss1, med(rss8)) / max(rss1, med(rss8))
        result("5", "peak RSS, 1 GiB vs 8 GiB of data (MiB)", round(rss1 / MiB, 1),
               round(med(rss8) / MiB, 1), ratio, 0.9, "MiB", "ratio = smaller/larger")


STR_SMALL = 8 * MiB                 # case S: stored bytes of the small string tensor
STR_SCALE = 8                       # the large one holds this many times its elements


def run_strings(work):
    """Case S (issue 10 item 7): `cat` of a string tensor of many short
    elements (random:SEED: length = byte % 17, 9 stored bytes on average)
    must cost time linear in its size: the 64 MiB tensor within 2x of 8x
    the 8 MiB one. Both in one checkpoint, each round on a fresh mount; the
    ratio per round is (8 MiB time x size ratio) / 64 MiB time."""
    n8 = STR_SMALL // 9
    log("case S: generating 8 MiB and 64 MiB string tensors ...")
    ck = os.path.join(work, "strings")
    gen({"tensors": [{"name": "s8", "dtype": "string", "shape": [n8], "pattern": "random:3"},
                     {"name": "s64", "dtype": "string", "shape": [STR_SCALE * n8],
                      "pattern": "random:3"}]}, ck)
    mnt = os.path.join(work, "strmnt")
    m = ckptfs(ck, mnt)
    size8 = os.path.getsize(os.path.join(mnt, "s8"))
    size64 = os.path.getsize(os.path.join(mnt, "s64"))
    m.close()
    log("case S: %d rounds ..." % ROUNDS)
    t8, t64 = [], []
    for r in range(ROUNDS):
        m = ckptfs(ck, mnt)
        t8.append(shell_time("cat %s > /dev/null" % os.path.join(mnt, "s8")))
        t64.append(shell_time("cat %s > /dev/null" % os.path.join(mnt, "s64")))
        m.close()
    scale = size64 / size8
    ratio = med([a * scale / b for a, b in zip(t8, t64)])
    result("S", "cat of a 64 MiB string tensor (s)", round(med(t8) * scale, 3),
           round(med(t64), 3), ratio, 0.5, "s",
           "baseline: %.2fx the 8 MiB cat (%.3f s); t64/(8*t8) = %.2f, target <= 2"
           % (scale, med(t8), 1.0 / ratio))
    for p in os.listdir(work):
        if p.startswith("strings"):
            os.unlink(os.path.join(work, p))


# ---------------------------------------------------------------- permuted (P)

def proc_io(pid):
    with open("/proc/%d/io" % pid) as f:
        return {k: int(v) for k, v in (line.split(": ") for line in f.read().splitlines())}


def run_perm(work):
    """Case P (issue 12): a random 4 KiB pread of a permuted 1 GiB tensor
    (float32 [8192, 32768] seen as [32768, 8192]: the 4 KiB are 1024 source
    elements 128 KiB apart) must read a bounded number of bytes from the
    shard, not the tensor: what the daemon reads per pread is counted in
    its /proc/PID/io (rchar: bytes its read calls returned, the FUSE
    request included; syscr: read calls), with readahead off on the file
    (POSIX_FADV_RANDOM). Latency is reported beside the same tensor
    unpermuted, on the same mount; so is a `cat` of the whole permuted
    tensor (sequential reads are served from 8 MiB blocks of the file),
    beside a `cat` of it unpermuted."""
    log("case P: generating the 1 GiB tensor ...")
    ck = os.path.join(work, "permck")
    shard = gen({"tensors": [{"name": "big", "dtype": "float32", "shape": BIG_SHAPE,
                              "pattern": "iota"}]}, ck)
    mapf = os.path.join(work, "perm-map.json")
    with open(mapf, "w") as f:
        json.dump([["big", "big"], ["big", "t"]], f)
    mnt = os.path.join(work, "permmnt")
    m = ckptfs(ck, mnt, "--map-file", mapf, "--perm", "t=1,0")
    rows_, cols = BIG_SHAPE
    rnd = random.Random(12)
    offs = [rnd.randrange(rows_ * cols // 1024) * 4096 for _ in range(ROUNDS * 20)]
    rchar, syscr, lat_t, lat_b = [], [], [], []
    try:
        fd = os.open(os.path.join(mnt, "t"), os.O_RDONLY)
        fb = os.open(os.path.join(mnt, "big"), os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
        os.posix_fadvise(fb, 0, 0, os.POSIX_FADV_RANDOM)
        with open(shard, "rb") as sh:
            for off in offs:
                a = proc_io(m.proc.pid)
                t0 = time.perf_counter_ns()
                b = os.pread(fd, 4096, off)
                lat_t.append((time.perf_counter_ns() - t0) / 1000.0)
                z = proc_io(m.proc.pid)
                rchar.append(z["rchar"] - a["rchar"])
                syscr.append(z["syscr"] - a["syscr"])
                t0 = time.perf_counter_ns()
                os.pread(fb, 4096, off)
                lat_b.append((time.perf_counter_ns() - t0) / 1000.0)
                # element e of t is big[e % rows_][e // rows_]
                for k in (0, 1023):
                    e = off // 4 + k
                    sh.seek(((e % rows_) * cols + e // rows_) * 4)
                    if b[4 * k:4 * k + 4] != sh.read(4):
                        raise RuntimeError("bench: case P: wrong bytes at %d" % (off + 4 * k))
        os.close(fd)
        os.close(fb)
        cat_b = cat_time(os.path.join(mnt, "big"))
        cat_t = cat_time(os.path.join(mnt, "t"))
    finally:
        m.close()
    os.unlink(shard)
    os.unlink(ck + ".index")
    result("P", "4 KiB pread of a permuted 1 GiB tensor: bytes", 4096, max(rchar),
           4096 / max(rchar), None, "B",
           "daemon rchar per pread, max of %d (median %d; file 1 GiB); read calls: median %d"
           % (len(rchar), med(rchar), med(syscr)))
    result("P", "same, latency median (us)", round(med(lat_b), 1), round(med(lat_t), 1),
           med(lat_b) / med(lat_t), None, "us", "baseline: the same range unpermuted")
    result("P", "cat of the permuted 1 GiB tensor (GB/s)", gbps(GiB, cat_b), gbps(GiB, cat_t),
           cat_b / cat_t, None, "GB/s", "baseline: cat of it unpermuted (warm shard)")


# ---------------------------------------------------------------- remote (R)

R_LATENCY = 0.010   # seconds the proxy adds to every request (no netem here)
R_TREE_N = 10000
R_CONNS = 3         # the mount's GETs at once in a sequential read: 1 + 2 readahead
R_PEER_TIMEOUT = 600  # seconds an s3fs or rclone read of 1 GiB may take


def curl_time(argv):
    """curl's own time_total (no process start-up) of one transfer."""
    p = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{time_total} %{http_code}"]
                       + argv, check=True, capture_output=True, text=True)
    t, code = p.stdout.split()
    if not code.startswith("2"):
        raise RuntimeError("bench: curl %s: HTTP %s" % (argv[-1], code))
    return float(t)


def curl_ranges_time(auth, url, off, length, n):
    """Seconds for n curl processes, each a 1/n range of [off, off+length)."""
    step = (length + n - 1) // n
    t0 = time.perf_counter()
    procs = [subprocess.Popen(["curl", "-sS", "-f", "-o", "/dev/null", "-r",
                               "%d-%d" % (a, min(a + step, off + length) - 1)] + auth + [url])
             for a in range(off, off + length, step)]
    for p in procs:
        if p.wait() != 0:
            raise RuntimeError("bench: curl of %s failed" % url)
    return time.perf_counter() - t0


def s3_peers(work, s3, secret, fp):
    """R2's FUSE peers on the S3 server, reached through fp as ckptfs is:
    [(name, options note, mount(mnt) -> Mount, the shard's path in the
    mount)]. Each runs with its defaults but for what it needs to reach the
    server: the endpoint (path-style), the region, the credentials; and
    read-only. Their environment has none of ours for AWS (the AWS SDK in
    rclone fails on an AWS_CA_BUNDLE it cannot apply, and the credentials
    are given explicitly)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "AWSACCESSKEYID", "AWSSECRETACCESSKEY", "RCLONE_"))}
    pw = os.path.join(work, "s3fs-passwd")
    with os.fdopen(os.open(pw, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as f:
        f.write("%s:%s\n" % (s3.access_key, secret))
    s3fs = ["s3fs", "-f", "-o", "url=" + fp.url, "-o", "use_path_request_style",
            "-o", "endpoint=" + s3.region, "-o", "sigv4", "-o", "passwd_file=" + pw,
            "-o", "ro", s3.bucket]
    renv = dict(env, RCLONE_CONFIG=os.path.join(work, "rclone.conf"),  # absent: none of ours
                RCLONE_CONFIG_BENCHS3_TYPE="s3", RCLONE_CONFIG_BENCHS3_PROVIDER="Other",
                RCLONE_CONFIG_BENCHS3_ENDPOINT=fp.url, RCLONE_CONFIG_BENCHS3_REGION=s3.region,
                RCLONE_CONFIG_BENCHS3_ACCESS_KEY_ID=s3.access_key,
                RCLONE_CONFIG_BENCHS3_SECRET_ACCESS_KEY=secret)
    rclone = ["rclone", "mount", "--read-only", "benchs3:" + s3.bucket]

    def mounter(name, argv, menv):
        def mount(mnt):
            logf = os.path.join(work, name + ".log")
            with open(logf, "ab") as lf:
                try:
                    return Mount(argv, mnt, env=menv, stderr=lf)
                except RuntimeError as e:
                    with open(logf, errors="replace") as f:
                        tail = f.read()[-1500:]
                    raise RuntimeError("bench: %s: %s; its log ends:\n%s" % (name, e, tail))
        return mount
    return [("s3fs", "-o url=,use_path_request_style,endpoint=REGION,sigv4,passwd_file=,ro",
             mounter("s3fs", s3fs, env), "c/big.data-00000-of-00001"),
            ("rclone", "rclone mount --read-only, remote type s3, provider Other, endpoint, "
             "region, keys (env)", mounter("rclone", rclone, renv),
             "c/big.data-00000-of-00001")]


def gets_seen(log, path):
    """The GETs of path in a FaultProxy log: (their sizes (the bytes sent),
    the most of them in flight at once)."""
    gets = [r for r in log if r["method"] == "GET" and r["path"] == path]
    edges = sorted([(r["start"], 1) for r in gets] +
                   [(r["end"] if r["end"] is not None else float("inf"), -1) for r in gets])
    most = now = 0
    for _, d in edges:
        now += d
        most = max(most, now)
    return [r["bytes"] for r in gets], most


def run_remote(work):
    """Cases R1-R5 (issue 15): one generated checkpoint served by nginx and
    by the S3 server (s3rver behind the SigV4 verifier) on 127.0.0.1, each
    behind tests/remote's FaultProxy adding R_LATENCY to every request (tc
    netem is not available on this kernel); requests and bytes counted at
    the proxy."""
    sys.path.insert(0, os.path.join(ROOT, "tests", "remote"))
    import servers
    for w in ("nginx", "node", "curl", "s3fs", "rclone"):
        if shutil.which(w) is None:
            sys.exit("bench: %s is missing: run scripts/install-deps.sh" % w)
    rnd = random.Random(15)
    www = os.path.join(work, "rwww")
    os.makedirs(os.path.join(www, "c"))
    log("remote: generating the 1 GiB and the 10,000-tensor checkpoints ...")
    big_ck = os.path.join(www, "c", "big")
    shard = gen({"tensors": [{"name": "big", "dtype": "float32", "shape": BIG_SHAPE,
                              "pattern": "random:1"}]}, big_ck)
    big_n = BIG_SHAPE[0] * BIG_SHAPE[1] * 4
    tree_dir = os.path.join(www, "c", "tree")
    os.makedirs(tree_dir)
    gen({"tensors": [{"name": tree_name(i), "dtype": "float32", "shape": [16],
                      "pattern": "const:0"} for i in range(R_TREE_N)]},
        os.path.join(tree_dir, "model.ckpt-1"))
    with open(os.path.join(tree_dir, "checkpoint"), "w") as f:
        f.write('model_checkpoint_path: "model.ckpt-1"\n')
    targets = os.path.join(work, "rcols.json")
    with open(targets, "w") as f:
        json.dump({"variables": [{"name": "big", "dtype": "float32", "shape": BIG_SHAPE,
                                  "partitions": [1, 4]}]}, f)
    mnt = os.path.join(work, "rmnt")
    secret = "bench/secret+key"
    offs = [rnd.randrange(big_n // 4096) * 4096 for _ in range(300)]
    with servers.NginxServer(www) as web, servers.S3Server(secret=secret) as s3:
        log("remote: uploading to the S3 server ...")
        for d, _, fs in os.walk(os.path.join(www, "c")):
            for f in fs:
                p = os.path.join(d, f)
                with open(p, "rb") as fh:
                    s3.put(os.path.relpath(p, www), fh.read())
        for label, upstream in (("nginx", web.url), ("s3", s3.endpoint)):
            with servers.FaultProxy(upstream, latency=R_LATENCY, timeout=300) as fp:
                env = dict(os.environ)
                if label == "s3":
                    env.update(AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY=secret,
                               AWS_REGION=s3.region, AWS_ENDPOINT_URL=fp.url)
                    root = "s3://%s/c/" % s3.bucket
                    http_root = "%s/%s/c/" % (fp.url, s3.bucket)
                    auth = ["--aws-sigv4", "aws:amz:%s:s3" % s3.region,
                            "--user", "%s:%s" % (s3.access_key, secret),
                            "-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]
                    peers = s3_peers(work, s3, secret, fp)
                else:
                    root = http_root = fp.url + "/c/"
                    auth = []
                    peers = []
                server = s3.pid if label == "s3" else web.pid
                remote_cases(label, root, http_root, auth, env, fp, mnt, targets, big_n,
                             offs, peers, os.path.getsize(shard), server)
    shutil.rmtree(www, ignore_errors=True)


def remote_cases(label, root, http_root, auth, env, fp, mnt, targets, big_n, offs, peers,
                 shard_n, server):
    """peers: s3_peers() (R2 against s3fs and rclone), or none; shard_n: the
    size of the shard object, whose first big_n bytes are the tensor;
    server: the pid of the server (its CPU is reported)."""
    data = "/c/big.data-00000-of-00001"
    if label == "s3":
        data = "/ckpt" + data
    rounds = max(2, min(ROUNDS, 3))
    log("remote %s: R1 --list of 10,000 tensors ..." % label)
    t_list, t_curl, nreq = [], [], []
    for _ in range(rounds):
        fp.reset_stats()
        t0 = time.perf_counter()
        subprocess.run([CKPTFS, "--list", root + "tree/"], check=True, env=env,
                       stdout=subprocess.DEVNULL)
        t_list.append(time.perf_counter() - t0)
        nreq.append(fp.stats()["requests"])
        t_curl.append(curl_time(auth + [http_root + "tree/model.ckpt-1.index"]))
    result("R1", "%s: --list 10,000 tensors, requests" % label, 2, max(nreq),
           2.0 / max(nreq), 1.0, "requests", "state file + .index")
    result("R1", "%s: --list 10,000 tensors (s)" % label, round(med(t_curl), 3),
           round(med(t_list), 3), ratios(t_curl, t_list), None, "s",
           "baseline: one curl GET of the .index (time_total)")

    log("remote %s: R2 sequential cat of 1 GiB, R5 peak RSS ..." % label)
    # the peers (s3fs, rclone) read the same bytes from the shard object:
    # cat of the shard when it is the tensor, else dd of the tensor's range
    def peer_read(path):
        if shard_n == big_n:
            return cat_time(path, timeout=R_PEER_TIMEOUT)
        return read_time(path, 0, big_n, timeout=R_PEER_TIMEOUT)
    readers = {name: collections.defaultdict(list) for name in ["ckptfs"] + [p[0] for p in peers]}

    def one_read(name, m, read):
        """One round of one reader: its time, and what the proxy saw."""
        st = readers[name]
        try:
            fp.reset_stats()
            cpu0 = proc_cpu(server), self_cpu()
            st["t"].append(read())
            st["server_cpu"].append(proc_cpu(server) - cpu0[0])
            st["proxy_cpu"].append(self_cpu() - cpu0[1])
            st["fetched"].append(fp.stats()["paths"].get(data, {}).get("bytes", 0))
            sizes, most = gets_seen(fp.log, data)
            st["sizes"] += sizes
            st["gets"].append(len(sizes))
            st["inflight"].append(most)
            st["cpu"].append(m.cpu_time())
            st["rss"].append(m.peak_rss())
        finally:
            m.close()

    def seen(name):
        st = readers[name]
        return ("fetched %.3fx the tensor in %d GETs a round (median %.1f MiB, largest %.1f "
                "MiB, at most %d at once); CPU: daemon %.1f s, server %.1f s, proxy %.1f s; "
                "daemon peak RSS %.0f MiB"
                % (max(st["fetched"]) / big_n, med(st["gets"]), med(st["sizes"]) / MiB,
                   max(st["sizes"]) / MiB, max(st["inflight"]), med(st["cpu"]),
                   med(st["server_cpu"]), med(st["proxy_cpu"]), max(st["rss"]) / MiB))

    # --verify none: the store's own fetching; the default --verify read
    # (reported separately) takes the CRC from the bytes fetched for cat
    t_curl = []
    failed = {}  # peer name -> why
    for _ in range(rounds):
        m = Mount([CKPTFS, "-f", "--verify", "none", root + "big"], mnt, env=env)
        one_read("ckptfs", m, lambda: cat_time(os.path.join(mnt, "big")))
        t_curl.append(curl_ranges_time(auth, http_root + "big.data-00000-of-00001", 0,
                                       big_n, R_CONNS))
        for name, _, mount, rel in peers:
            if name in failed:
                continue
            path = os.path.join(mnt, rel)
            try:
                one_read(name, mount(mnt), lambda p=path: peer_read(p))
            except (RuntimeError, OSError, subprocess.SubprocessError) as e:
                log("bench: %s failed, left out: %s" % (name, e))
                failed[name] = str(e).splitlines()[0]
    t_cat = readers["ckptfs"]["t"]
    rss = list(readers["ckptfs"]["rss"])
    result("R2", "%s: cat of a 1 GiB tensor (s)" % label, round(med(t_curl), 3),
           round(med(t_cat), 3), ratios(t_curl, t_cat), 0.8, "s",
           "--verify none; baseline: curl, %d range GETs at once; ckptfs %s"
           % (R_CONNS, seen("ckptfs")))
    for name, opts, _, _ in peers:
        t = readers[name]["t"]
        if name in failed:
            result("R2", "%s: the same against %s (s)" % (label, name), None, round(med(t_cat), 3),
                   0.0, 1.0, "s", "%s failed: %s" % (name, failed[name]))
            continue
        result("R2", "%s: the same against %s (s)" % (label, name), round(med(t), 3),
               round(med(t_cat), 3), ratios(t, t_cat), 1.0, "s",
               "%s (%s) reading the shard object: %s" % (name, opts, seen(name)))
    m = Mount([CKPTFS, "-f", root + "big"], mnt, env=env)
    fp.reset_stats()
    t_def = cat_time(os.path.join(mnt, "big"))
    f_def = fp.stats()["paths"].get(data, {}).get("bytes", 0)
    rss.append(m.peak_rss())
    m.close()
    result("R2", "%s: the same, default --verify (MiB fetched)" % label, big_n // MiB,
           round(f_def / MiB, 1), big_n / f_def, 0.9, "MiB",
           "%.2f s; the CRC from the bytes fetched for cat, not a second pass" % t_def)
    bound = 256 * MiB + 64 * MiB
    result("R5", "%s: daemon peak RSS reading 1 GiB (MiB)" % label, bound // MiB,
           round(max(rss) / MiB, 1), bound / max(rss), 1.0, "MiB",
           "baseline: the default cache cap (256 MiB) + 64 MiB")

    log("remote %s: R3 4 readers of the column parts ..." % label)
    m = Mount([CKPTFS, "-f", "--verify", "none", "--targets", targets, root + "big"], mnt,
              env=env)
    fp.reset_stats()
    parallel_read_time([(os.path.join(mnt, "big", "part_%d" % k), 0, None) for k in range(4)])
    fetched = fp.stats()["paths"].get(data, {}).get("bytes", 0)
    m.close()
    result("R3", "%s: 4 readers of part_i (MiB fetched)" % label, big_n // MiB,
           round(fetched / MiB, 1), big_n / fetched, 1 / 1.1, "MiB",
           "--verify none; baseline: the bytes the 4 column parts need (strided 32 KiB runs)")

    log("remote %s: R4 random 4 KiB preads ..." % label)
    m = Mount([CKPTFS, "-f", root + "big"], mnt, env=env)
    fd = os.open(os.path.join(mnt, "big"), os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
    os.close(fd)
    lat = pread_lat(os.path.join(mnt, "big"), offs, 4096)
    m.close()
    clat = [curl_time(auth + ["-r", "%d-%d" % (o, o + 4095),
                              http_root + "big.data-00000-of-00001"]) * 1e6
            for o in offs[:60]]
    result("R4", "%s: random 4 KiB pread, median (us)" % label, round(med(clat)),
           round(med(lat)), med(clat) / med(lat), None, "us",
           "baseline: one curl range GET (time_total)")
    result("R4", "%s: random 4 KiB pread, p99 (us)" % label, round(pct(clat, 99)),
           round(pct(lat, 99)), pct(clat, 99) / pct(lat, 99), None, "us",
           "baseline: one curl range GET (time_total)")


def report(elapsed):
    hdr = "%-4s %-44s %12s %12s %7s %7s %s" % ("case", "what", "baseline", "ckptfs", "ratio",
                                              "target", "")
    print(hdr)
    print("-" * len(hdr))
    for r in rows:
        print("%-4s %-44s %12s %12s %7.2f %7s %s" % (
            r["case"], r["what"], r["baseline"], r["ckptfs"], r["ratio"],
            "" if r["target"] is None else "%.2f" % r["target"],
            "" if r["met"] is None else ("ok" if r["met"] else "MISSED")))
    print("ratio = baseline time / ckptfs time (higher is better); median of per-round ratios")
    report_ceiling()
    print("%s, %d rounds%s, %.0f s" % (time.strftime("%Y-%m-%d"), ROUNDS,
                                       " (the ceiling in %d)" % min(ROUNDS, CEIL_ROUNDS)
                                       if ceil_rows else "", elapsed))
    out = os.environ.get("BENCH_OUT", os.path.join(ROOT, "bench-results.json"))
    with open(out, "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "rounds": ROUNDS,
                   "ceiling_rounds": min(ROUNDS, CEIL_ROUNDS),
                   "tree_rounds": TREE_ROUNDS, "seconds": round(elapsed, 1),
                   "kernel": os.uname().release, "cpus": os.cpu_count(), "results": rows,
                   "cases": sorted(CASES), "ceiling": ceil_rows},
                  f, indent=1)
        f.write("\n")
    log("wrote %s" % out)


if __name__ == "__main__":
    main()
