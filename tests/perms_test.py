#!/usr/bin/env python3
"""Owner, modes and threads of a mount (issue 13, points 7 and 9).

- Directories are 0755 and files 0644, so `cp -r` out of the mount by a
  user makes a copy that user can delete (`rm -rf`); the mount stays
  read-only: writes fail with EROFS, for the owner too.
- `-o uid=,gid=,umask=` (numbers or names, as fuse-archive, squashfuse and
  FAT/ISO mounts take them) set the owner and clear mode bits; the kernel
  checks the modes (default_permissions is always on): with
  `allow_other,uid=U,gid=G,umask=027` user U reads, a member of G reads,
  anyone else gets EACCES. uid= naming someone else without allow_other
  warns. Bad values: exit 64, one line.
- `-o max_threads=N,max_idle_threads=M` (libfuse 3.14 has no -o for them:
  ckptfs sets its loop): the daemon never runs more than N workers.

usage: perms_test.py CKPTFS CKPT_GEN
As root (other users are played with setpriv); without root the user
checks are skipped, except under CI=true, where that fails. Needs
/dev/fuse and fusermount3 (77 without, 1 under CI).
"""
import errno
import grp
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
import threading

CKPTFS, GEN = sys.argv[1:3]
CI = os.environ.get("CI") == "true"
ROOT = os.geteuid() == 0
NOBODY = 65534  # owner in the tests; OTHER is a uid and gid no file is for
OTHER = 65533
failures = []
counts = {"mounts": 0, "as user": 0}


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


class Mount:
    def __init__(self, ckpt, *opts, expect_ok=True):
        self.dir = tempfile.mkdtemp(prefix="ckptfs-mnt-")
        self.argv = [CKPTFS, ckpt, self.dir, *opts]
        p = subprocess.run(self.argv, capture_output=True, text=True, timeout=60)
        self.rc, self.err = p.returncode, p.stderr
        self.ok = p.returncode == 0 and os.path.ismount(self.dir)
        if expect_ok:
            check(self.ok, f"mount {opts}: rc {p.returncode} {p.stderr.strip()}")
        counts["mounts"] += self.ok

    def __enter__(self):
        return self

    def __exit__(self, *a):
        if os.path.ismount(self.dir):
            subprocess.run(["fusermount3", "-u", self.dir], check=False)
        os.rmdir(self.dir)


def as_user(uid, gid, *argv):
    """Run argv as uid:gid (no other groups); (rc, stderr), stdout kept
    in the last_out list."""
    counts["as user"] += 1
    r = subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups",
                        *argv], capture_output=True, timeout=120)
    last_out[:] = [r.stdout]
    return r.returncode, r.stderr.decode(errors="replace")


last_out = [b""]


def nodes(root):
    """Every path below root (root included)."""
    out = [root]
    for d, ds, fs in os.walk(root):
        out += [os.path.join(d, n) for n in ds + fs]
    return out


def modes(mnt, dmode, fmode, uid, gid, what):
    for p in nodes(mnt):
        st = os.lstat(p)
        want = (stat.S_IFDIR | dmode) if stat.S_ISDIR(st.st_mode) else (stat.S_IFREG | fmode)
        check(st.st_mode == want and st.st_uid == uid and st.st_gid == gid,
              f"{what}: {os.path.relpath(p, mnt)} is {oct(st.st_mode)} {st.st_uid}:{st.st_gid}, "
              f"want {oct(want)} {uid}:{gid}")


def erofs(path, what):
    """Every write to path (a file) and its directory fails with EROFS."""
    d = os.path.dirname(path)
    for name, op in (("open for write", lambda: open(path, "r+b")),
                     ("truncate", lambda: os.truncate(path, 0)),
                     ("chmod", lambda: os.chmod(path, 0o600)),
                     ("create", lambda: open(os.path.join(d, "new"), "wb")),
                     ("mkdir", lambda: os.mkdir(os.path.join(d, "newdir"))),
                     ("unlink", lambda: os.unlink(path))):
        try:
            op()
            check(False, f"{what}: {name} succeeded")
        except OSError as e:
            check(e.errno == errno.EROFS, f"{what}: {name} gave {errno.errorcode[e.errno]}")


def default_modes(pfx):
    """0755 / 0644, owner the mounting user; still read-only."""
    with Mount(pfx) as m:
        if m.ok:
            modes(m.dir, 0o755, 0o644, os.getuid(), os.getgid(), "default")
            erofs(os.path.join(m.dir, "dir/w"), "default, as the owner")
    with Mount(pfx, "-o", "default_permissions") as m:
        if m.ok:
            modes(m.dir, 0o755, 0o644, os.getuid(), os.getgid(), "-o default_permissions")


def copy_as_user(pfx):
    """A user's cp -r out of the mount, then rm -rf of the copy."""
    with Mount(pfx, "-o", "allow_other") as m, tempfile.TemporaryDirectory() as d:
        if not m.ok:
            return
        os.chown(d, NOBODY, NOBODY)
        copy = os.path.join(d, "copy")
        rc, err = as_user(NOBODY, NOBODY, "cp", "-r", m.dir, copy)
        check(rc == 0 and os.path.isfile(os.path.join(copy, "dir/w")),
              f"cp -r as a user: rc {rc} {err.strip()}")
        rc, err = as_user(NOBODY, NOBODY, "rm", "-rf", copy)
        check(rc == 0 and not os.path.exists(copy),
              f"rm -rf of the copy as the user: rc {rc} {err.strip()}")
        rc, err = as_user(NOBODY, NOBODY, "sh", "-c", f"echo x >> '{m.dir}/dir/w'")
        check(rc != 0 and "Read-only file system" in err, f"a user's write: {rc} {err.strip()}")


def owner_options(pfx):
    """uid=, gid=, umask= with allow_other: who may read is what the modes say."""
    u, g = pwd.getpwuid(NOBODY).pw_name, grp.getgrgid(NOBODY).gr_name
    for owner in ([f"uid={NOBODY}", f"gid={NOBODY}"], [f"uid={u}", f"gid={g}"]):
        opts = ",".join(["allow_other", *owner, "umask=027"])
        with Mount(pfx, "-o", opts) as m:
            if not m.ok:
                continue
            check(m.err == "", f"-o {opts}: stderr {m.err!r}")
            modes(m.dir, 0o750, 0o640, NOBODY, NOBODY, f"-o {opts}")
            f = os.path.join(m.dir, "dir/w")
            with open(f, "rb") as x:
                want = x.read()
            rc, err = as_user(NOBODY, NOBODY, "cat", f)
            check(rc == 0 and last_out[0] == want,
                  f"-o {opts}: the owner cannot read: {rc} {err.strip()}")
            rc, err = as_user(OTHER, NOBODY, "cat", f)
            check(rc == 0 and last_out[0] == want,
                  f"-o {opts}: a member of the group cannot read: {err.strip()}")
            rc, err = as_user(OTHER, OTHER, "cat", f)
            check(rc != 0 and "Permission denied" in err,
                  f"-o {opts}: another user: rc {rc} {err.strip()}")
            rc, err = as_user(OTHER, OTHER, "ls", m.dir)
            check(rc != 0 and "Permission denied" in err,
                  f"-o {opts}: another user lists the root: rc {rc} {err.strip()}")
            rc, err = as_user(NOBODY, NOBODY, "sh", "-c", f"echo x >> '{f}'")
            check(rc != 0 and "Read-only file system" in err,
                  f"-o {opts}: the owner's write: rc {rc} {err.strip()}")
            check(len(want) == 4 * 6, f"-o {opts}: {len(want)} bytes")
    with Mount(pfx, "-o", "allow_other,umask=077") as m:
        if m.ok:
            modes(m.dir, 0o700, 0o600, os.getuid(), os.getgid(), "-o umask=077")
            rc, err = as_user(NOBODY, NOBODY, "cat", os.path.join(m.dir, "dir/w"))
            check(rc != 0 and "Permission denied" in err, f"umask=077, another user: {err}")


def warnings_and_errors(pfx):
    with Mount(pfx, "-o", f"uid={NOBODY}") as m:
        check(m.ok and m.err.count("\n") == 1 and "warning" in m.err and
              "allow_other" in m.err, f"uid= without allow_other: {m.err!r}")
    for bad in ("uid=no-such-user-ckptfs", "gid=no-such-group-ckptfs", "umask=8", "umask=1000",
                "umask=", "max_threads=0", "max_threads=1025", "max_idle_threads=x"):
        with Mount(pfx, "-o", bad, expect_ok=False) as m:
            check(m.rc == 64 and not m.ok and m.err.count("\n") == 1 and
                  "try 'ckptfs --help'" in m.err, f"-o {bad}: rc {m.rc} {m.err!r}")


def daemon_of(argv):
    want = b"".join(a.encode() + b"\0" for a in argv)
    for d in os.listdir("/proc"):
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if d.isdigit() and f.read() == want:
                    return int(d)
        except OSError:
            pass
    return None


def threads(pfx):
    """-o max_threads=2: 8 readers at once, never more than 2 workers (and
    the main thread) in the daemon; the bytes are right. (Idle threads as
    many as workers: a worker that ends, idle past max_idle_threads, could
    still be listed beside its successor.) max_idle_threads=1 serves too."""
    for opts, bound in ((["-o", "max_threads=2,max_idle_threads=2"], 3),
                        (["--max_threads", "2", "--max_idle_threads=2"], 3),
                        (["-o", "max_idle_threads=1"], None)):
        with Mount(pfx, *opts) as m:
            if not m.ok:
                continue
            pid = daemon_of(m.argv)
            if not check(pid is not None, f"{opts}: no daemon"):
                continue
            big = os.path.join(m.dir, "big")
            most, wrong = [0], []

            def reader(k):
                with open(big, "rb", buffering=0) as f:
                    for i in range(64):
                        off = ((k * 64 + i) * 40961) % (1 << 22)
                        off -= off % 4
                        b = os.pread(f.fileno(), 4096, off)
                        if b[:4] != (off // 4).to_bytes(4, "little"):
                            wrong.append(off)
                        most[0] = max(most[0], len(os.listdir(f"/proc/{pid}/task")))
            ts = [threading.Thread(target=reader, args=(k,)) for k in range(8)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()
            check(not wrong, f"{opts}: wrong bytes at {wrong[:3]}")
            check(0 < most[0] <= (bound or 99), f"{opts}: {most[0]} threads in the daemon")


def main():
    if not os.path.exists("/dev/fuse") or shutil.which("fusermount3") is None:
        print("no FUSE here")
        return 1 if CI else 77
    with tempfile.TemporaryDirectory() as d:
        os.chmod(d, 0o755)
        spec, pfx = os.path.join(d, "spec.json"), os.path.join(d, "c")
        with open(spec, "w") as f:
            json.dump({"tensors": [
                {"name": "dir/w", "dtype": "int32", "shape": [6]},
                {"name": "dir/sub/v", "dtype": "float32", "shape": [2, 2]},
                {"name": "big", "dtype": "int32", "shape": [1 << 20]}]}, f)
        subprocess.run([GEN, spec, pfx], check=True)
        for fn in os.listdir(d):
            os.chmod(os.path.join(d, fn), 0o644)
        default_modes(pfx)
        warnings_and_errors(pfx)
        threads(pfx)
        if ROOT and shutil.which("setpriv"):
            copy_as_user(pfx)
            owner_options(pfx)
        else:
            check(not CI, "not root or no setpriv under CI: the user checks did not run")
            print("not root: other users not tried")
    for f in failures:
        print("FAIL:", f)
    print(f"{counts['mounts']} mounts, {counts['as user']} commands as other users, "
          f"{len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
