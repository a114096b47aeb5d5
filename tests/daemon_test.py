#!/usr/bin/env python3
"""The mount's life as a user meets it (issue 13 points 4, 9 and 10), each
README example of it run as written there:

* Log lines after daemonizing: `-o log=FILE` (and `--log FILE` under -f)
  receives the line naming the tensor and offset of a corrupt read, which
  fails with EIO; an unopenable FILE is exit 74 with nothing mounted.
  Without it they go to syslog: under a private mount namespace (root), a
  socket of the test's own at /dev/log receives the record
  (`<27>... ckptfs[PID]: read of dense/kernel/@value ...`); with nothing at
  /dev/log the mount warns once that they are lost.
* A progress line on a terminal (a pseudo-terminal) for --verify mount and
  --format tf: "ckptfs: WHAT: N% (X of Y), R/s, ETA m:ss" redrawn with \\r,
  never more than 10 times a second plus the first and last, ending in
  ", done" and a newline; nothing of it without a terminal.
* A mountpoint already mounted by ckptfs: exit 71 and "already mounted
  (... unmount with fusermount3 -u DIR)"; a dead one (daemon killed): exit
  71 with the same hint. /proc/mounts and df show the checkpoint (made
  absolute, a comma and a space kept) as the source, fuse.ckptfs the type.
* SIGTERM with a file open: the daemon serves it until it is closed, then
  unmounts and exits 0; after --term_wait seconds it unmounts anyway (the
  open file then fails with ENOTCONN); a second SIGTERM unmounts at once;
  with no file open SIGTERM does not wait.

usage: daemon_test.py CKPTFS CKPT_GEN
Needs /dev/fuse and fusermount3; skips (77) without them, except under
CI=true, where it fails (so does the syslog part without root).
"""
import errno
import json
import os
import pty
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

CKPTFS, GEN = (os.path.abspath(a) for a in sys.argv[1:3])
CI = os.environ.get("CI") == "true"
# the daemons' leak check (ASan builds): as tests/fault_test.py
os.environ["LSAN_OPTIONS"] = os.environ.get("LSAN_OPTIONS", "") + ":suppressions=" + \
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "lsan-daemon.supp")
SANITIZER = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                       r"SUMMARY: (Address|Undefined|Leak)Sanitizer")
failures = []
counts = {"checks": 0}


def check(cond, what):
    counts["checks"] += 1
    if not cond:
        failures.append(what)
        print("FAIL:", what)
    return cond


def mounts():
    """(source, mount point, type) of every mount, octal escapes undone."""
    unescape = lambda s: re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)
    with open("/proc/mounts") as f:
        return [tuple(unescape(x) for x in line.split()[:3]) for line in f]


def in_mounts(path):
    return any(point == path for _, point, _ in mounts())


def mount_entry(path):
    """(source, type) of the mount at path."""
    return next(((src, typ) for src, point, typ in mounts() if point == path), (None, None))


def unmount(mnt):
    if in_mounts(mnt):
        subprocess.run(["fusermount3", "-uz", mnt], check=False)


def wait_for(cond, seconds=30):
    deadline = time.time() + seconds
    while not cond() and time.time() < deadline:
        time.sleep(0.02)
    return cond()


def model(d, corrupt=False, big=False):
    """model.ckpt-100 in d: dense/kernel (so shown as dense/kernel/@value),
    dense/kernel/Adam, dense/bias; corrupt flips a byte of dense/kernel."""
    tensors = [{"name": "dense/kernel", "dtype": "float32", "shape": [64, 64],
                "pattern": "random:1"},
               {"name": "dense/kernel/Adam", "dtype": "float32", "shape": [64, 64],
                "pattern": "random:2"},
               {"name": "dense/bias", "dtype": "float32", "shape": [64], "pattern": "random:3"}]
    if big:
        tensors.append({"name": "big", "dtype": "float32", "shape": [4096, 4096],
                        "pattern": "random:4"})
    desc = os.path.join(d, "desc.json")
    with open(desc, "w") as f:
        json.dump({"tensors": tensors}, f)
    ck = os.path.join(d, "model.ckpt-100")
    subprocess.run([GEN, desc, ck], check=True)
    if corrupt:
        # a byte of dense/kernel, written first (the reads below and the
        # logged offset show which tensor it hit)
        with open(ck + ".data-00000-of-00001", "r+b") as f:
            f.seek(100)
            b = f.read(1)
            f.seek(100)
            f.write(bytes([b[0] ^ 0x40]))
    return ck


def read_errno(path):
    try:
        with open(path, "rb") as f:
            f.read()
        return 0
    except OSError as e:
        return e.errno


LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d{4} ckptfs\[\d+\]: "
                      r"read of dense/kernel/@value at 0: .*Checksum does not match.*"
                      r"\(tensor dense/kernel, file /\S*/model\.ckpt-100\.data-00000-of-00001, "
                      r"offset 0\)$")


def log_file(tmp):
    """README "When a read fails": -o log=FILE of a daemonized mount."""
    d = tempfile.mkdtemp(dir=tmp)
    ck = model(d, corrupt=True)
    mnt, log = os.path.join(d, "mnt"), os.path.join(d, "ckptfs.log")
    os.mkdir(mnt)
    try:
        r = subprocess.run([CKPTFS, "-o", "log=" + log, ck, mnt], capture_output=True,
                           text=True, timeout=60)
        if check(r.returncode == 0 and in_mounts(mnt) and r.stderr == "",
                 "mount -o log=: rc %d %r" % (r.returncode, r.stderr)):
            check(read_errno(os.path.join(mnt, "dense/kernel/@value")) == errno.EIO,
                  "corrupt dense/kernel: EIO")
            check(read_errno(os.path.join(mnt, "dense/kernel/Adam")) == 0, "Adam reads")
            lines = open(log).read().splitlines()
            check(lines and LOG_LINE.match(lines[0]) and
                  all(l.startswith(lines[0][:10]) for l in lines),
                  "the log file names tensor and offset: %r" % lines)
            check(os.stat(log).st_mode & 0o777 == 0o600, "log file mode 0600")
    finally:
        unmount(mnt)
    # --log FILE with -f: the same line, appended; stderr stays empty
    before = len(open(log).read().splitlines())
    p = subprocess.Popen([CKPTFS, "-f", "--log", log, ck, mnt], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        if check(wait_for(lambda: in_mounts(mnt)), "mount -f --log"):
            check(read_errno(os.path.join(mnt, "dense/kernel/@value")) == errno.EIO,
                  "-f --log: EIO")
            lines = open(log).read().splitlines()
            check(len(lines) > before and LOG_LINE.match(lines[before]),
                  "-f --log appends: %r" % lines[before:])
    finally:
        unmount(mnt)
        err = p.communicate(timeout=60)[1]
    check(p.returncode == 0 and err == "", "-f --log: rc %s stderr %r" % (p.returncode, err))
    # a log file that cannot be opened: exit 74, nothing mounted
    r = subprocess.run([CKPTFS, "-o", "log=" + os.path.join(d, "no", "x.log"), ck, mnt],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 74 and not in_mounts(mnt) and
          r.stderr == "ckptfs: log file %s: No such file or directory\n"
          % os.path.join(d, "no", "x.log"),
          "unopenable log file: rc %d %r" % (r.returncode, r.stderr))
    unmount(mnt)


# Run inside `unshare -m`: /dev becomes a tmpfs holding null, zero, fuse,
# urandom (bound from the real ones) and, if asked, a datagram socket of
# ours at /dev/log; a daemonized mount of the corrupt model, a read, what
# the socket received.
SYSLOG_HELPER = r"""
import json, os, socket, subprocess, sys, tempfile, time
ckptfs, ck, mnt, with_socket = sys.argv[1:5]
dev = tempfile.mkdtemp()
subprocess.run(["mount", "-t", "tmpfs", "ckptfs-test-dev", dev], check=True)
for n in ("null", "zero", "fuse", "urandom"):
    open(os.path.join(dev, n), "w").close()
    subprocess.run(["mount", "--bind", "/dev/" + n, os.path.join(dev, n)], check=True)
subprocess.run(["mount", "--move", dev, "/dev"], check=True)
os.rmdir(dev)
s = None
if with_socket == "1":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind("/dev/log")
    s.settimeout(30)
out = {}
r = subprocess.run([ckptfs, ck, mnt], capture_output=True, text=True, timeout=60)
out["rc"], out["stderr"] = r.returncode, r.stderr
try:
    with open(os.path.join(mnt, "dense/kernel/@value"), "rb") as f:
        f.read()
    out["errno"] = 0
except OSError as e:
    out["errno"] = e.errno
out["records"] = []
try:
    while s is not None and not any("read of" in m for m in out["records"]):
        out["records"].append(s.recv(65536).decode("utf-8", "replace"))
except OSError:
    pass
subprocess.run(["fusermount3", "-u", mnt])
print(json.dumps(out))
"""


def syslog(tmp):
    """Daemonized without -o log=: the lines go to syslog (/dev/log)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        check(not CI, "the syslog test needs root and unshare under CI")
        return
    d = tempfile.mkdtemp(dir=tmp)
    ck = model(d, corrupt=True)
    mnt = os.path.join(d, "mnt")
    os.mkdir(mnt)
    for with_socket in ("1", "0"):
        r = subprocess.run(["unshare", "-m", "--propagation", "private", sys.executable, "-c",
                            SYSLOG_HELPER, CKPTFS, ck, mnt, with_socket],
                           capture_output=True, text=True, timeout=120)
        try:
            out = json.loads(r.stdout)
        except ValueError:
            check(False, "syslog helper: rc %d %r %r" % (r.returncode, r.stdout, r.stderr))
            continue
        check(out["rc"] == 0 and out["errno"] == errno.EIO,
              "syslog mount: rc %d errno %d %r" % (out["rc"], out["errno"], out["stderr"]))
        if with_socket == "1":
            rec = [m for m in out["records"] if "read of" in m]
            check(out["stderr"] == "" and rec and
                  re.match(r"^<27>.* ckptfs\[\d+\]: read of dense/kernel/@value at 0: .*"
                           r"\(tensor dense/kernel, file /\S*/model\.ckpt-100\.data-00000-of-"
                           r"00001, offset 0\)$", rec[0]),
                  "syslog record (daemon.err) naming tensor and offset: %r %r"
                  % (out["stderr"], out["records"]))
        else:
            check(out["stderr"] == "ckptfs: warning: nothing receives syslog here (no "
                  "/dev/log): the daemon's messages (why a read failed) are lost; -o "
                  "log=FILE keeps them\n", "no /dev/log: one warning: %r" % out["stderr"])
        counts["syslog"] = counts.get("syslog", 0) + 1
    check(not in_mounts(mnt), "syslog: nothing left mounted here")


PROGRESS = re.compile(r"^ckptfs: (?P<what>[a-z. ]+): +(?P<pct>\d+)% \((?P<done>[\d.]+ [KMGTP]?i?B)"
                      r" of (?P<total>[\d.]+ [KMGTP]?i?B)\)(, [\d.]+ [KMGTP]?i?B/s)?"
                      r"(?P<end>, ETA \d+:\d\d(:\d\d)?|, done)? *$")


def on_tty(argv):
    """Run argv with a pseudo-terminal as stderr: (exit status, output, seconds)."""
    master, slave = pty.openpty()
    t = time.time()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=slave)
    os.close(slave)
    out = b""
    while True:
        ready, _, _ = select.select([master], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every holder of the terminal has let it go
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    rc = p.wait(60)
    return rc, out.decode("utf-8", "replace"), time.time() - t


def progress(tmp):
    """--verify mount and --format tf on a 64 MiB model: progress on a
    terminal only."""
    d = tempfile.mkdtemp(dir=tmp)
    ck = model(d, big=True)
    mnt = os.path.join(d, "mnt")
    os.mkdir(mnt)
    total = "64.0 MiB"
    for opts, what in ((["--verify", "mount"], "verifying checksums"),
                       (["--format", "tf"], "reading the mapped data for ckpt.index")):
        try:
            rc, out, secs = on_tty([CKPTFS, *opts, "-o", "log=" + os.path.join(d, "log"), ck,
                                    mnt])
            check(rc == 0 and in_mounts(mnt), "%s on a terminal: rc %d %r" % (opts, rc, out))
        finally:
            unmount(mnt)
        draws = [s for s in re.split(r"[\r\n]+", out) if s]
        got = [PROGRESS.match(s) for s in draws]
        check(draws and all(got) and all(m["what"] == what for m in got),
              "%s: only progress lines: %r" % (opts, draws))
        if not all(got) or not got:
            continue
        pcts = [int(m["pct"]) for m in got]
        check(got[0]["done"] == "0 B" and pcts[0] == 0 and
              all(m["total"] == total for m in got), "%s: first draw %r" % (opts, draws[0]))
        check(got[-1]["end"] == ", done" and pcts[-1] == 100 and got[-1]["done"] == total and
              out.endswith("\n") and out.count("\n") == 1,
              "%s: last draw %r" % (opts, draws[-1]))
        check(pcts == sorted(pcts) and all(m["end"] != ", done" for m in got[:-1]),
              "%s: percentages %r" % (opts, pcts))
        # redrawn in place: one \r per draw, at most 10 a second + first + last
        check(out.count("\r") - out.count("\r\n") == len(draws) and
              len(draws) <= 2 + int(secs * 10) + 1,
              "%s: %d draws in %.2f s" % (opts, len(draws), secs))
        counts["progress"] = counts.get("progress", 0) + len(draws)
        # not a terminal: silent
        try:
            r = subprocess.run([CKPTFS, *opts, "-o", "log=" + os.path.join(d, "log"), ck, mnt],
                               capture_output=True, text=True, timeout=60)
            check(r.returncode == 0 and r.stderr == "",
                  "%s without a terminal: rc %d %r" % (opts, r.returncode, r.stderr))
        finally:
            unmount(mnt)


def stats_progress(tmp):
    """--list --stats on a 64 MiB model: a progress line on a terminal,
    wiped before each line of output; silent without a terminal."""
    d = tempfile.mkdtemp(dir=tmp)
    ck = model(d, big=True)
    rc, out, _ = on_tty([CKPTFS, "--list", "--stats", ck])
    check(rc == 0, "--list --stats on a terminal: rc %d %r" % (rc, out))
    draws = [s for s in re.split(r"[\r\n]+", out) if s.strip()]
    got = [PROGRESS.match(s) for s in draws]
    check(draws and all(got) and all(m["what"] == "reading the tensors" for m in got),
          "--list --stats: only progress lines: %r" % draws)
    check(all(got) and got and got[-1]["end"] == ", done" and got[-1]["pct"] == "100" and
          got[-1]["total"] == "64.0 MiB" and out.endswith("\n"),
          "--list --stats: last draw %r" % draws[-1:])
    r = subprocess.run([CKPTFS, "--list", "--stats", ck], capture_output=True, text=True,
                       timeout=60)
    check(r.returncode == 0 and r.stderr == "" and r.stdout.count("\n") >= 1,
          "--list --stats without a terminal: rc %d %r" % (r.returncode, r.stderr))


def mounted_twice(tmp):
    """README "Mounting twice": exit 71 with how to unmount, for a live and
    a dead mount."""
    d = tempfile.mkdtemp(dir=tmp)
    ck = model(d)
    mnt = os.path.join(d, "mnt")
    os.mkdir(mnt)

    def refused(what, dead):
        r = subprocess.run([CKPTFS, ck, mnt], capture_output=True, text=True, timeout=60)
        check(r.returncode == 71 and r.stderr ==
              "ckptfs: mountpoint %s is already mounted (ckptfs of %s%s; unmount with "
              "fusermount3 -u %s)\n" % (mnt, ck, ", whose daemon has ended" * dead, mnt),
              "%s: rc %d %r" % (what, r.returncode, r.stderr))

    try:
        r = subprocess.run([CKPTFS, "-o", "log=" + os.path.join(d, "log"), ck, mnt],
                           capture_output=True, text=True, timeout=60)
        check(r.returncode == 0, "first mount: %r" % r.stderr)
        refused("mounted twice", False)
    finally:
        unmount(mnt)
    # a mount whose daemon was killed
    p = subprocess.Popen([CKPTFS, "-f", ck, mnt], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        if check(wait_for(lambda: in_mounts(mnt)), "-f mount"):
            p.kill()
            p.wait(60)
            refused("dead mount", True)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        unmount(mnt)


def source_shown(tmp):
    """/proc/mounts and df: the checkpoint as the source, fuse.ckptfs."""
    d = os.path.join(tempfile.mkdtemp(dir=tmp), "runs, 7 b")
    os.mkdir(d)
    model(d)
    mnt = os.path.join(d, "mnt")
    os.mkdir(mnt)
    try:
        # (in an -o list a comma separates options: --log takes any name)
        r = subprocess.run([CKPTFS, "--log", os.path.join(d, "log"), "model.ckpt-100", "mnt"],
                           cwd=d, capture_output=True, text=True, timeout=60)
        if check(r.returncode == 0, "relative mount: %r" % r.stderr):
            want = os.path.join(d, "model.ckpt-100")
            check(mount_entry(mnt) == (want, "fuse.ckptfs"),
                  "/proc/mounts: %r, want %r" % (mount_entry(mnt), want))
            df = subprocess.run(["df", "--output=source,fstype", mnt], capture_output=True,
                                text=True)
            last = df.stdout.splitlines()[-1].rsplit(None, 1) if df.stdout else []
            check(df.returncode == 0 and last == [want, "fuse.ckptfs"],
                  "df: %r" % df.stdout)
    finally:
        unmount(mnt)


def sigterm(tmp):
    """README "Unmounting": SIGTERM waits for open files (-f: the exit
    status is ours to see)."""
    d = tempfile.mkdtemp(dir=tmp)
    ck = model(d)
    mnt, log = os.path.join(d, "mnt"), os.path.join(d, "log")
    os.mkdir(mnt)
    want = None

    def daemon(*opts):
        open(log, "w").close()
        p = subprocess.Popen([CKPTFS, "-f", "-o", "log=" + log, *opts, ck, mnt],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        check(wait_for(lambda: in_mounts(mnt)), "sigterm: -f %s mounted" % (opts,))
        return p

    def logged(text):
        return wait_for(lambda: text in open(log).read())

    def ended(p, what):
        try:
            rc = p.wait(60)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = p.wait()
        err = p.stderr.read()
        check(rc == 0 and err == "" and not in_mounts(mnt),
              "%s: rc %s, mounted %s, stderr %r" % (what, rc, in_mounts(mnt), err[-2000:]))
        unmount(mnt)

    bias = os.path.join(mnt, "dense/bias")
    # a reader holds a file: served until it closes it, then unmounted
    p = daemon("--term_wait", "600")
    try:
        fd = os.open(bias, os.O_RDONLY)
        want = os.pread(fd, 256, 0)
        p.send_signal(signal.SIGTERM)
        check(logged("SIGTERM: 1 file still open: unmounting once it is closed, in 600 s at "
                     "most (SIGTERM again: at once)"), "sigterm: waiting logged: %r"
              % open(log).read())
        check(p.poll() is None and os.pread(fd, 256, 0) == want and len(want) == 256,
              "sigterm: the open file still reads")
        os.close(fd)
    finally:
        ended(p, "sigterm, file closed")
    # the deadline: unmounted with the file open; it fails with ENOTCONN
    p = daemon("-o", "term_wait=1")
    try:
        fd = os.open(bias, os.O_RDONLY)
        p.send_signal(signal.SIGTERM)
        ended(p, "sigterm, term_wait=1")
        check("1 file still open after 1 s: unmounting (reads of it fail with ENOTCONN)"
              in open(log).read(), "sigterm: deadline logged: %r" % open(log).read())
        try:
            os.pread(fd, 256, 0)
            check(False, "sigterm: a read after the deadline succeeded")
        except OSError as e:
            check(e.errno == errno.ENOTCONN, "sigterm: after the deadline: %s" % e)
        try:
            os.close(fd)
        except OSError:  # its flush fails too
            pass
    finally:
        if p.poll() is None:
            p.kill()
    # a second SIGTERM: at once
    p = daemon("--term_wait", "600")
    fd = os.open(bias, os.O_RDONLY)
    try:
        p.send_signal(signal.SIGTERM)
        check(logged("SIGTERM again: at once"), "sigterm twice: waiting logged")
        p.send_signal(signal.SIGTERM)
        ended(p, "sigterm twice")
    finally:
        try:
            os.close(fd)
        except OSError:  # ENOTCONN: unmounted under it
            pass
    # nothing open: no wait
    p = daemon("--term_wait", "600")
    p.send_signal(signal.SIGTERM)
    ended(p, "sigterm, nothing open")
    check(open(log).read() == "", "sigterm, nothing open: no log line")
    r = subprocess.run([CKPTFS, "--term_wait", "soon", ck, mnt], capture_output=True, text=True)
    check(r.returncode == 64 and "--term_wait takes seconds" in r.stderr and
          not in_mounts(mnt), "--term_wait soon: rc %d %r" % (r.returncode, r.stderr))
    counts["sigterm"] = 4


def main():
    if not os.path.exists("/dev/fuse") or shutil.which("fusermount3") is None:
        print("no FUSE here")
        return 1 if CI else 77
    tmp = tempfile.mkdtemp(prefix="ckptfs-daemon-")
    try:
        for part in (log_file, syslog, progress, stats_progress, mounted_twice, source_shown, sigterm):
            try:
                part(tmp)
            except Exception as e:  # one part failing does not hide the others
                check(False, "%s: %r" % (part.__name__, e))
    finally:
        for _, point, _ in mounts():
            if point.startswith(tmp + "/"):
                unmount(point)
        shutil.rmtree(tmp)
    print("%d checks, %d syslog mounts, %d progress draws, %d SIGTERM cases, %d failed"
          % (counts["checks"], counts.get("syslog", 0), counts.get("progress", 0),
             counts.get("sigterm", 0), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
