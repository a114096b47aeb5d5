#!/usr/bin/env python3
"""meson install, then mount(8) and /etc/fstab (issue 13, point 7).

mount(8) runs the helper of type fuse.ckptfs with no PATH of its own, so
a ckptfs installed outside the shell's default PATH was "not found". This
test builds and installs the project into a temporary prefix that is on
no default PATH (`meson install`, as a user would), with the helper folder
(-Dmount_helper_dir) laid over /sbin in a private mount namespace (so the
machine's /sbin is never written and nothing outlives the test), then:

- `mount -t fuse.ckptfs CKPT DIR -o map=...,cast=...` (README) mounts with
  the installed ckptfs (the daemon's /proc/PID/exe), the map applied;
- the README's fstab line, `mount -a -T FSTAB`, mounts `format=npy`;
- an fstab line `ro,allow_other,uid=U,gid=U,umask=077,...` gives user U a
  mount U can read and another user cannot;
- `umount` ends the daemon; `meson install --destdir` puts the helper under
  DESTDIR too (packaging); the install step where it may not write goes
  on with a note for a user, fails for root or into a DESTDIR.

usage: install_test.py SOURCE_ROOT
Needs root (mount namespaces, mount(8)), /dev/fuse, unshare, overlayfs,
meson and ninja; skips (77) without them, except under CI=true, where it
fails. The fixture comes from $CKPT_FIXTURES.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

SRC = os.path.abspath(sys.argv[1])
CI = os.environ.get("CI") == "true"
INSIDE = "CKPTFS_INSTALL_TEST_NS"
USER = 65534
OTHER = 65533
failures = []
counts = {"mounts": 0}


def check(cond, what):
    if not cond:
        failures.append(what)
    return cond


def run(*argv, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=600, **kw)


def daemons(exe):
    """Pids of processes running exe."""
    out = []
    for d in os.listdir("/proc"):
        try:
            if d.isdigit() and os.readlink(f"/proc/{d}/exe") == exe:
                out.append(int(d))
        except OSError:
            pass
    return out


def in_mounts(path):
    with open("/proc/mounts") as f:
        return any(line.split()[1] == path for line in f)


def unmount(mnt, exe):
    """umount (as mount(8) users do) and wait for the daemon to end."""
    if in_mounts(mnt):
        r = run("umount", mnt)
        check(r.returncode == 0, f"umount {mnt}: {r.stderr.strip()}")
    deadline = time.time() + 30
    while daemons(exe) and time.time() < deadline:
        time.sleep(0.05)
    left = daemons(exe)
    check(not left, f"daemons left after umount: {left}")
    for pid in left:
        os.kill(pid, 9)


def as_user(uid, *argv):
    return subprocess.run(["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                           *argv], capture_output=True, timeout=60)


def install(tmp):
    """Configure, build and install into tmp/prefix, the helper into
    tmp/helper; returns (bindir, helper dir) or None."""
    prefix, helper, build = (os.path.join(tmp, n) for n in ("prefix", "helper", "build"))
    r = run("meson", "setup", build, SRC, "--prefix=" + prefix, "-Dmount_helper_dir=" + helper,
            "-Dtests=disabled")
    if not check(r.returncode == 0, f"meson setup: {r.stdout[-800:]} {r.stderr[-800:]}"):
        return None
    r = run("ninja", "-C", build)
    if not check(r.returncode == 0, f"ninja: {r.stdout[-1500:]}"):
        return None
    r = run("meson", "install", "-C", build, "--no-rebuild")
    if not check(r.returncode == 0, f"meson install: {r.stdout[-800:]} {r.stderr[-800:]}"):
        return None
    bindir = os.path.join(prefix, "bin")
    h = os.path.join(helper, "mount.fuse.ckptfs")
    check(os.access(os.path.join(bindir, "ckptfs"), os.X_OK), "ckptfs not installed")
    check(os.path.isfile(os.path.join(prefix, "share/man/man1/ckptfs.1")), "man page")
    check(os.access(h, os.X_OK) and bindir in open(h).read(),
          "mount.fuse.ckptfs not installed, or without the bindir")
    dest = os.path.join(tmp, "destdir")
    r = run("meson", "install", "-C", build, "--no-rebuild", "--destdir", dest)
    check(r.returncode == 0 and os.access(dest + h, os.X_OK),
          f"meson install --destdir: no {dest + h}: {r.stderr[-500:]}")
    return bindir, helper


def helper_step(tmp):
    """fs/install-mount-helper.sh where it may not write: a user's install
    goes on with a note; root's, or one into a DESTDIR, fails."""
    script = os.path.join(SRC, "fs", "install-mount-helper.sh")
    helper = os.path.join(tmp, "build", "fs", "mount.fuse.ckptfs")
    locked = os.path.join(tmp, "locked")
    os.mkdir(locked, 0o755)
    blocker = os.path.join(tmp, "a-file")
    open(blocker, "w").close()
    env = {k: v for k, v in os.environ.items() if k != "DESTDIR"}
    user = subprocess.run(["setpriv", f"--reuid={USER}", f"--regid={USER}", "--clear-groups",
                           "sh", script, helper, locked + "/sbin"],
                          capture_output=True, text=True, env=env)
    check(user.returncode == 0 and "cannot write" in user.stderr and
          "mount_helper_dir" in user.stderr and not os.path.exists(locked + "/sbin"),
          f"a user's install without /sbin: rc {user.returncode} {user.stderr!r}")
    as_root = run("sh", script, helper, blocker + "/sbin", env=env)
    check(as_root.returncode == 1 and "cannot write" in as_root.stderr,
          f"root's install where it cannot write: rc {as_root.returncode} {as_root.stderr!r}")
    dest = run("setpriv", f"--reuid={USER}", f"--regid={USER}", "--clear-groups",
               "sh", script, helper, "/sbin", env=dict(env, DESTDIR=locked))
    check(dest.returncode == 1, f"a DESTDIR it cannot write: rc {dest.returncode}")


def over_sbin(helper):
    """Lay helper over /sbin (this namespace only): mount(8) looks there."""
    sbin = os.path.realpath("/sbin")
    r = run("mount", "-t", "overlay", "overlay", "-o", f"lowerdir={helper}:{sbin}", sbin)
    return check(r.returncode == 0 and os.path.exists("/sbin/mount.fuse.ckptfs"),
                 f"overlay on {sbin}: {r.stderr.strip()}")


def mounts(tmp, bindir, ckpt):
    exe = os.path.join(bindir, "ckptfs")
    mnt = os.path.join(tmp, "mnt")
    os.mkdir(mnt)
    # the PATH mount(8) is called with holds no ckptfs of ours
    env = dict(os.environ)
    check(bindir not in env.get("PATH", ""), "the test's PATH holds the prefix")

    # mount -t fuse.ckptfs (README "/etc/fstab and mount(8)")
    r = run("mount", "-t", "fuse.ckptfs", ckpt, mnt, "-o",
            "map=some_scope/=new/,cast=float32=bfloat16", env=env)
    p = os.path.join(mnt, "new/embeddings")
    ok = check(r.returncode == 0 and in_mounts(mnt),
               f"mount -t fuse.ckptfs: rc {r.returncode} {r.stdout.strip()} {r.stderr.strip()}")
    if ok:
        counts["mounts"] += 1
        check(os.path.isfile(p) and os.getxattr(p, "user.ckpt.dtype") == b"bfloat16",
              f"mount -t fuse.ckptfs: {os.listdir(mnt)}")
        check(len(daemons(exe)) == 1, f"mount -t fuse.ckptfs: daemons of {exe}: {daemons(exe)}")
    unmount(mnt, exe)

    # the README's fstab line, mount -a
    fstab = os.path.join(tmp, "fstab")
    with open(fstab, "w") as f:
        f.write(f"{ckpt}  {mnt}  fuse.ckptfs  ro,map=some_scope/=new/,format=npy  0 0\n")
    r = run("mount", "-a", "-T", fstab, env=env)
    if check(r.returncode == 0 and in_mounts(mnt),
             f"mount -a -T fstab: rc {r.returncode} {r.stderr.strip()}"):
        counts["mounts"] += 1
        check(sorted(os.listdir(os.path.join(mnt, "new"))) ==
              ["embeddings.npy", "indices.npy"], f"fstab npy: {os.listdir(mnt)}")
        with open("/proc/mounts") as f:
            opts = next(ln.split()[3] for ln in f if ln.split()[1] == mnt).split(",")
        check("ro" in opts, f"fstab: mounted {opts}")
    unmount(mnt, exe)

    # an fstab line for one user
    with open(fstab, "w") as f:
        f.write(f"{ckpt} {mnt} fuse.ckptfs "
                f"ro,allow_other,uid={USER},gid={USER},umask=077,map=some_scope/=new/ 0 0\n")
    r = run("mount", "-T", fstab, mnt, env=env)
    if check(r.returncode == 0 and in_mounts(mnt),
             f"mount -T fstab (uid=): rc {r.returncode} {r.stderr.strip()}"):
        counts["mounts"] += 1
        st = os.stat(p)
        check((st.st_uid, st.st_gid, st.st_mode & 0o7777) == (USER, USER, 0o600),
              f"fstab uid=: {st.st_uid}:{st.st_gid} {oct(st.st_mode)}")
        mine = as_user(USER, "cat", p)
        check(mine.returncode == 0 and len(mine.stdout) == 320,
              f"fstab uid=: the user reads {len(mine.stdout)} bytes: {mine.stderr!r}")
        other = as_user(OTHER, "cat", p)
        check(other.returncode != 0 and b"Permission denied" in other.stderr,
              f"fstab uid=: another user: {other.returncode} {other.stderr!r}")
    unmount(mnt, exe)
    os.rmdir(mnt)


def main():
    if os.environ.get(INSIDE) != "1":
        need = [p for p in ("unshare", "mount", "umount", "setpriv", "meson", "ninja")
                if shutil.which(p) is None]
        if os.geteuid() != 0 or need or not os.path.exists("/dev/fuse"):
            print(f"needs root, /dev/fuse and {need or 'the tools'}")
            return 1 if CI else 77
        env = dict(os.environ, **{INSIDE: "1"})
        os.execvpe("unshare", ["unshare", "-m", "--propagation", "private", sys.executable,
                               os.path.abspath(__file__), *sys.argv[1:]], env)
    root = os.environ.get("CKPT_FIXTURES", "")
    ckpt = os.path.join(root, "tf_contrib_framework_bundle_checkpoint/bundle_checkpoint")
    if not os.path.exists(ckpt + ".index"):
        print("no fixtures folder")
        return 1 if CI else 77
    with tempfile.TemporaryDirectory(prefix="ckptfs-install-") as tmp:
        os.chmod(tmp, 0o755)  # the other users reach the mount below it
        got = install(tmp)
        if got:
            helper_step(tmp)
        if got and over_sbin(got[1]):
            mounts(tmp, got[0], ckpt)
    for f in failures:
        print("FAIL:", f)
    print(f"{counts['mounts']} mounts through mount(8), {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
