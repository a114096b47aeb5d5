#!/usr/bin/env python3
"""The FUSE ceiling server of scripts/bench.py (tests/bench/ceiling.c) serves
exactly the bytes of its ranges in every configuration the benchmark runs,
and refuses bad command lines; so a ceiling figure is never the speed of a
server that serves wrong or short data.

usage: ceiling_test.py CEILING

Needs /dev/fuse (a real mount under /tmp, always unmounted).
"""
import errno
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

CEILING = sys.argv[1]
MiB = 1 << 20

failures = []
count = 0


def check(cond, what):
    global count
    count += 1
    if not cond:
        failures.append(what)
        print("FAIL:", what)


def is_mounted(mnt):
    with open("/proc/self/mountinfo") as f:
        return any(line.split()[4] == mnt for line in f)


def mount(opts, files, mnt):
    proc = subprocess.Popen([CEILING, *opts, *files, mnt], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not is_mounted(mnt):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("ceiling %s did not mount: %s" % (opts, proc.communicate()[1]))
        time.sleep(0.005)
    return proc


def unmount(proc, mnt):
    subprocess.run(["fusermount3", "-u", mnt], check=False)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err


def read_all(path, chunk):
    out = bytearray()
    with open(path, "rb", buffering=0) as f:
        while True:
            b = f.read(chunk)
            if not b:
                return bytes(out)
            out += b


tmp = tempfile.mkdtemp(prefix="ckptfs-ceiling-", dir="/tmp")
mnt = os.path.join(tmp, "mnt")
os.mkdir(mnt)
try:
    # 3 MiB + 123 bytes of known bytes; "mid" starts off a page boundary
    data = random.Random(14).randbytes(3 * MiB + 123)
    src = os.path.join(tmp, "src")
    with open(src, "wb") as f:
        f.write(data)
    mid_off, mid_len = 4097, 2 * MiB + 5
    files = ["whole=" + src, "mid=%s:%d:%d" % (src, mid_off, mid_len), "empty=%s:1K:0" % src]
    expect = {"whole": data, "mid": data[mid_off:mid_off + mid_len], "empty": b""}

    # every reply path: spliced (and its 1 MiB copy fallback), copied, mmap'd;
    # buffered and direct, single- and multi-threaded
    configs = [[], ["--mode=copy"], ["--mode=mmap"], ["--keep-cache", "--threads=0"],
               ["--keep-cache", "--max-read=1004K", "--blksize=1M"], ["--direct-io"],
               ["--direct-io", "--max-read=1004K"], ["--direct-io", "--mode=mmap"],
               ["--direct-io", "--mode=copy", "--max-read=64K", "--clone-fd=0"],
               ["--stats", "--threads=2", "--idle-threads=1", "--readahead=64K"]]
    for opts in configs:
        proc = mount(opts, files, mnt)
        try:
            check(sorted(os.listdir(mnt)) == ["empty", "mid", "whole"],
                  "%s: listing %s" % (opts, os.listdir(mnt)))
            st = os.stat(os.path.join(mnt, "mid"))
            check(st.st_size == mid_len and st.st_mode & 0o777 == 0o444,
                  "%s: mid size/mode %d %o" % (opts, st.st_size, st.st_mode))
            check(st.st_blksize == (MiB if "--blksize=1M" in opts else 65536),
                  "%s: st_blksize %d" % (opts, st.st_blksize))
            for name, want in expect.items():
                path = os.path.join(mnt, name)
                for chunk in (MiB, 131072, 4096 + 1):
                    got = read_all(path, chunk)
                    check(got == want, "%s: %s read in %d-byte chunks: %d bytes, %s" % (
                        opts, name, chunk, len(got), "same" if got == want else "differ"))
            fd = os.open(os.path.join(mnt, "mid"), os.O_RDONLY)
            try:
                for off, n in ((0, 1), (mid_len - 3, 3), (mid_len - 3, 100), (mid_len, 10),
                               (mid_len + MiB, 10), (12345, MiB + 7)):
                    got = os.pread(fd, n, off)
                    check(got == expect["mid"][off:off + n],
                          "%s: pread(%d, %d) gave %d bytes" % (opts, n, off, len(got)))
            finally:
                os.close(fd)
            try:
                os.open(os.path.join(mnt, "nope"), os.O_RDONLY)
                check(False, "%s: a missing name opens" % opts)
            except FileNotFoundError:
                check(True, "")
            try:
                os.close(os.open(os.path.join(mnt, "whole"), os.O_WRONLY))
                check(False, "%s: opens for writing" % opts)
            except OSError as e:
                check(e.errno == errno.EROFS, "%s: open for writing: %s" % (opts, e))
        finally:
            rc, err = unmount(proc, mnt)
        check(rc == 0, "%s: exit %d after unmount: %s" % (opts, rc, err))
        if "--stats" in opts:
            check("read requests" in err, "%s: no request counts: %r" % (opts, err))
        else:
            check(err == "", "%s: stderr %r" % (opts, err))

    # bad command lines: 64 and a message; a range past the file's end: 1
    for args in ([], [mnt], ["--mode=zero", "a=" + src, mnt], ["--blksize=3000", "a=" + src, mnt],
                 ["--max-read=2M", "a=" + src, mnt], ["--bogus", "a=" + src, mnt],
                 ["a/b=" + src, mnt], ["=" + src, mnt], ["a=%s:1:x" % src, mnt],
                 ["-o"]):
        p = subprocess.run([CEILING, *args], capture_output=True, text=True)
        check(p.returncode == 64 and "usage:" in p.stderr, "%s: exit %d, %r" % (
            args, p.returncode, p.stderr))
    for spec in ("a=%s:%d:2" % (src, len(data) - 1), "a=%s:0:%d" % (src, len(data) + 1),
                 "a=" + os.path.join(tmp, "absent")):
        p = subprocess.run([CEILING, spec, mnt], capture_output=True, text=True)
        check(p.returncode == 1 and p.stderr.startswith("ceiling: "), "%s: exit %d, %r" % (
            spec, p.returncode, p.stderr))
    check(not is_mounted(mnt), "a refused command line left a mount")
finally:
    if is_mounted(mnt):
        subprocess.run(["fusermount3", "-uz", mnt], check=False)
    shutil.rmtree(tmp)

print("%d checks, %d failed" % (count, len(failures)))
sys.exit(1 if failures else 0)
