#!/usr/bin/env python3
"""ckptfs on checkpoints in object storage, against the real test servers
(tests/remote/servers.py) on 127.0.0.1:

- every V2 fixture of ../shared/fixtures, uploaded as is, lists
  (--list --json) and reads (every file of a default mount) byte-identical
  to the same fixture from local disk, over http, https (the test CA) and
  s3:// (Signature V4 against the verifying proxy);
- what is fetched when: --list of a directory URL is 2 requests (state
  file, index), of a prefix 1; a mount adds one HEAD per data shard;
- a state file's relative, absolute and URL paths resolve in the same
  bucket, over http, s3:// and gs:// (a directory URL lists and mounts as
  the checkpoint from disk, in 2 requests for --list);
- a SavedModel directory URL (variables/variables, no state file) over
  http, s3:// and gs://;
- gs:// through STORAGE_EMULATOR_HOST with a bearer token (variable or
  token file), refused without;
- faults in front of nginx (503s, resets and truncation mid-body, stalls,
  the object replaced mid-read): every byte read equals the local bytes or
  the read fails with EIO, within the configured timeouts;
- a missing object and a wrong S3 secret: one line, exit 66 and 74;
- no credential appears in stdout, stderr, @mapping.json, xattrs or
  /proc/mounts.

usage: remote_store_test.py CKPTFS
Skips (77) without the servers' programs or /dev/fuse, except under CI=true.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "remote"))
import servers  # noqa: E402
from servers import Fault, FaultProxy, NginxServer, S3Server  # noqa: E402

CI = os.environ.get("CI") == "true"
CKPTFS = None
results = []
SECRET = "SKckptfsSECRETvalue0123456789"
TOKEN = "ckptfsBEARERtoken9876543210"


def check(cond, what):
    results.append((bool(cond), what))
    if not cond:
        print("FAIL:", what)


def run(args, env=None, timeout=120):
    p = subprocess.run([CKPTFS, *args], capture_output=True, text=True, timeout=timeout,
                       env=env)
    return p.returncode, p.stdout, p.stderr


def base_env(home):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "GOOGLE_", "CLOUDSDK_", "GS_", "STORAGE_EMULATOR"))
           and k not in ("CURL_CA_BUNDLE", "SSL_CERT_FILE")}
    env["HOME"] = home  # no ~/.aws or ~/.netrc of the user's
    return env


class Mount:
    """A default mount of ckpt; files() reads every file (name -> bytes or
    the errno of a failed read)."""

    def __init__(self, ckpt, opts=(), env=None):
        self.dir = tempfile.mkdtemp(prefix="ckptfs-rmnt-")
        p = subprocess.run([CKPTFS, ckpt, self.dir, *opts], capture_output=True, text=True,
                           timeout=120, env=env)
        self.rc, self.out, self.err = p.returncode, p.stdout, p.stderr
        self.ok = p.returncode == 0 and os.path.ismount(self.dir)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        if os.path.ismount(self.dir):
            subprocess.run(["fusermount3", "-u", self.dir], check=False)
        os.rmdir(self.dir)

    def files(self, skip_at=True):
        out = {}
        for d, _, fs in os.walk(self.dir):
            for f in fs:
                p = os.path.join(d, f)
                rel = os.path.relpath(p, self.dir)
                if skip_at and f.startswith("@"):
                    continue
                try:
                    with open(p, "rb") as fh:
                        out[rel] = fh.read()
                except OSError as e:
                    out[rel] = e.errno
        return out


def v2_prefixes(root):
    out = []
    with open(os.path.join(root, "INVENTORY.md"), encoding="utf-8") as f:
        for line in f:
            if line.startswith("# ") and "(V2" in line:
                rel = line.split()[1]
                out.append(rel[:-len(".index")])
    return out


def local_oracle(root, prefixes, env):
    oracle = {}
    for rel in prefixes:
        rc, out, err = run(["--list", "--json", os.path.join(root, rel)], env=env)
        check(rc == 0, "local --list %s: %s" % (rel, err.strip()))
        with Mount(os.path.join(root, rel), env=env) as m:
            check(m.ok, "local mount %s: %s" % (rel, m.err.strip()))
            oracle[rel] = (out, m.files() if m.ok else None)
    return oracle


def equivalence(what, url_of, prefixes, oracle, opts, env):
    """Every fixture through url_of(rel) lists and reads as from disk."""
    same = 0
    for rel in prefixes:
        url = url_of(rel)
        rc, out, err = run(["--list", "--json", *opts, url], env=env)
        check(rc == 0 and out == oracle[rel][0],
              "%s --list %s: rc %d %s" % (what, url, rc, err.strip()))
        with Mount(url, opts, env=env) as m:
            check(m.ok, "%s mount %s: rc %d %s" % (what, url, m.rc, m.err.strip()))
            if m.ok and oracle[rel][1] is not None:
                got = m.files()
                ok = got == oracle[rel][1]
                check(ok, "%s %s: mounted files differ from the local mount (%s)" % (
                    what, rel, sorted(k for k in set(got) | set(oracle[rel][1])
                                      if got.get(k) != oracle[rel][1].get(k))[:5]))
                same += ok
    check(same == len(prefixes), "%s: %d of %d fixtures byte-identical" % (
        what, same, len(prefixes)))


def no_secret(what, texts, secrets):
    for s in secrets:
        for name, t in texts.items():
            check(s not in t, "%s: a credential appears in %s" % (what, name))


def xattrs_of(d):
    p = subprocess.run(["getfattr", "-R", "-d", "-m", "-", d], capture_output=True,
                       text=True)
    return p.stdout + p.stderr


def make_dir_ckpt(root, fixture_rel, dest, state):
    """dest/: the fixture's prefix files renamed model.ckpt-1.* plus a
    `checkpoint` file with model_checkpoint_path state."""
    os.makedirs(dest, exist_ok=True)
    src_dir = os.path.dirname(os.path.join(root, fixture_rel))
    base = os.path.basename(fixture_rel)
    for f in os.listdir(src_dir):
        if f.startswith(base + "."):
            shutil.copy(os.path.join(src_dir, f), os.path.join(dest, "model.ckpt-1" + f[len(base):]))
    with open(os.path.join(dest, "checkpoint"), "w") as f:
        f.write('model_checkpoint_path: "%s"\n' % state)


DIR_FIXTURE = "tfjsnode_A_2shards/A"


def dir_objects(root, top, bucket_url):
    """{key: bytes}: directory checkpoints of DIR_FIXTURE under the key
    prefix `top` ("d" -> d/rel/, ...) of a bucket whose URL is bucket_url
    ("s3://ckpt"): a `checkpoint` state file naming the checkpoint by a
    relative path, by an absolute key and by a URL of the same bucket (as
    TensorFlow writes it for a gs:// model_dir), and a SavedModel directory
    (variables/variables.*, no state file)."""
    src_dir = os.path.dirname(os.path.join(root, DIR_FIXTURE))
    base = os.path.basename(DIR_FIXTURE)
    files = {}
    for f in os.listdir(src_dir):
        if f.startswith(base + "."):
            with open(os.path.join(src_dir, f), "rb") as fh:
                files[f[len(base):]] = fh.read()
    out = {}
    for suffix, data in files.items():
        out["%s/rel/model.ckpt-1%s" % (top, suffix)] = data
        out["%s/sm/variables/variables%s" % (top, suffix)] = data
    out["%s/sm/saved_model.pb" % top] = b"\x08\x01"  # not read
    for kind, path in (("rel", "model.ckpt-1"), ("abs", "/%s/rel/model.ckpt-1" % top),
                       ("url", "%s/%s/rel/model.ckpt-1" % (bucket_url, top))):
        out["%s/%s/checkpoint" % (top, kind)] = (
            'model_checkpoint_path: "%s"\nall_model_checkpoint_paths: "%s"\n'
            % (path, path)).encode()
    return out


def dir_urls(what, base, oracle, env, count=None):
    """The directories of dir_objects under the URL `base` ("s3://ckpt/d")
    list and mount as DIR_FIXTURE from local disk. count(): the requests
    the server has seen since the last call (None: not checked)."""
    want_list, want_files = oracle[DIR_FIXTURE]
    for kind in ("rel", "abs", "url", "sm"):
        url = "%s/%s/" % (base, kind)
        if count:
            count()
        rc, out, err = run(["--list", "--json", url], env=env)
        check(rc == 0 and out == want_list and err == "",
              "%s directory URL %s: --list rc %d %r" % (what, url, rc, err))
        if count:
            n = count()
            check(n == 2, "%s --list of %s: %d requests, want 2 (%s)" % (
                what, url, n, "the state file's 404, then the .index" if kind == "sm"
                else "the state file, then the .index"))
        with Mount(url, env=env) as m:
            check(m.ok, "%s mount of %s: rc %d %s" % (what, url, m.rc, m.err.strip()))
            got = m.files() if m.ok else {}
            check(m.ok and want_files is not None and got == want_files,
                  "%s mount of %s: files differ from the local mount (%s)" % (
                      what, url, sorted(k for k in set(got) | set(want_files or {})
                                        if got.get(k) != (want_files or {}).get(k))[:5]))


def test_nginx(root, prefixes, oracle, work):
    env = base_env(work)
    www = os.path.join(work, "www")
    os.makedirs(www)
    os.symlink(root, os.path.join(www, "fx"))
    for tls in (False, True):
        with NginxServer(www, tls=tls) as web:
            opts = ["-o", "ca_file=" + web.ca_file] if tls else []
            equivalence("https" if tls else "http", lambda r: web.url + "/fx/" + r,
                        prefixes, oracle, opts, env)
            if tls:
                # the CA file is needed: without it the certificate is refused
                rc, _, err = run(["--list", web.url + "/fx/" + prefixes[0]], env=env)
                check(rc == 74 and len(err.strip().splitlines()) == 1,
                      "https without the CA: rc %d %r" % (rc, err))
                e2 = dict(env, CURL_CA_BUNDLE=web.ca_file)
                rc, _, err = run(["--list", web.url + "/fx/" + prefixes[0]], env=e2)
                check(rc == 0, "https with CURL_CA_BUNDLE: rc %d %s" % (rc, err))


def test_counts_and_state(root, work, env):
    """Requests per mode, and state-file paths, counted at a proxy."""
    www = os.path.join(work, "www2")
    fixture = "tfjsnode_A_2shards/A"
    make_dir_ckpt(root, fixture, os.path.join(www, "b", "rel"), "model.ckpt-1")
    make_dir_ckpt(root, fixture, os.path.join(www, "b", "abs"), "/b/rel/model.ckpt-1")
    nshards = len([f for f in os.listdir(os.path.join(www, "b", "rel")) if ".data-" in f])
    check(nshards == 2, "fixture %s has %d shards, want 2" % (fixture, nshards))
    rc, want, _ = run(["--list", "--json", os.path.join(root, fixture)], env=env)
    with NginxServer(www) as web, FaultProxy(web.url) as fp:
        make_dir_ckpt(root, fixture, os.path.join(www, "b", "url"),
                      fp.url + "/b/rel/model.ckpt-1")
        for what, url, n in (("dir", fp.url + "/b/rel/", 2),
                             ("prefix", fp.url + "/b/rel/model.ckpt-1", 1),
                             ("absolute state path", fp.url + "/b/abs/", 2),
                             ("URL state path", fp.url + "/b/url/", 2)):
            fp.reset_stats()
            rc, out, err = run(["--list", "--json", url], env=env)
            check(rc == 0 and out == want, "--list %s: rc %d %s" % (what, rc, err.strip()))
            check(fp.stats()["requests"] == n, "--list of a %s: %d requests, want %d (%s)" % (
                what, fp.stats()["requests"], n,
                [(r["method"], r["path"]) for r in fp.log]))
            fp.reset_stats()
            rc, out, err = run(["--dry-run", url], env=env)
            check(rc == 0 and fp.stats()["requests"] == n,
                  "--dry-run of a %s: rc %d, %d requests, want %d" % (
                      what, rc, fp.stats()["requests"], n))
        fp.reset_stats()
        with Mount(fp.url + "/b/rel/", env=env) as m:
            check(m.ok, "mount via proxy: %s" % m.err.strip())
            heads = [r for r in fp.log if r["method"] == "HEAD"]
            # the view sizes string files at mount: one ranged GET for the
            # fixture's one string tensor (_CHECKPOINTABLE_OBJECT_GRAPH)
            gets = [r for r in fp.log if r["method"] == "GET" and ".data-" in r["path"]]
            check(fp.stats()["requests"] == 2 + nshards + 1 and len(heads) == nshards
                  and len(gets) == 1,
                  "mount of a dir: %d requests (%d HEAD), want state + index + %d HEAD + "
                  "1 string GET: %s" % (
                      fp.stats()["requests"], len(heads), nshards,
                      [(r["method"], r["path"]) for r in fp.log]))
            check(all(".data-" in r["path"] for r in heads), "HEADs are of the shards only")
        # a missing object: one line, exit 66
        rc, out, err = run(["--list", fp.url + "/b/nothing/model.ckpt-1"], env=env)
        check(rc == 66 and len(err.strip().splitlines()) == 1 and "404" not in out,
              "missing object: rc %d %r" % (rc, err))
        rc, out, err = run(["--list", fp.url + "/b/nothing/"], env=env)
        check(rc == 66 and len(err.strip().splitlines()) == 1,
              "missing state file: rc %d %r" % (rc, err))
        # extra headers reach the server, never any output
        fp.reset_stats()
        with Mount(fp.url + "/b/rel/", ["-o", "header=Authorization: Bearer " + TOKEN],
                   env=env) as m:
            check(m.ok, "mount with a header: %s" % m.err.strip())
            files = m.files(skip_at=False) if m.ok else {}
            check(all(r["headers"].get("Authorization", r["headers"].get("authorization"))
                      == "Bearer " + TOKEN for r in fp.log) and fp.log,
                  "the header option is sent with every request")
            texts = {"stdout": m.out, "stderr": m.err, "xattrs": xattrs_of(m.dir),
                     "/proc/mounts": open("/proc/mounts").read(),
                     "@mapping.json": repr(files.get("@mapping.json", b""))}
            no_secret("header option", texts, [TOKEN])


def test_s3(root, prefixes, oracle, work):
    home = os.path.join(work, "s3home")
    os.makedirs(home)
    env = base_env(home)
    with S3Server(bucket="ckpt", access_key="AKIDCKPTFSTEST", secret=SECRET,
                  region="us-east-1") as s3:
        for d, _, fs in os.walk(root):
            for f in fs:
                p = os.path.join(d, f)
                with open(p, "rb") as fh:
                    s3.put("fx/" + os.path.relpath(p, root), fh.read())
        env.update(AWS_ACCESS_KEY_ID="AKIDCKPTFSTEST", AWS_SECRET_ACCESS_KEY=SECRET,
                   AWS_REGION="us-east-1", AWS_ENDPOINT_URL=s3.endpoint)
        equivalence("s3", lambda r: "s3://ckpt/fx/" + r, prefixes, oracle, [], env)
        for key, data in dir_objects(root, "d", "s3://ckpt").items():
            s3.put(key, data)

        def count():
            n = s3.stats()["requests"]
            s3.reset_stats()
            return n
        dir_urls("s3", "s3://ckpt/d", oracle, env, count)
        fixture = "tfjsnode_A_2shards/A"
        s3.reset_stats()
        rc, _, err = run(["--list", "s3://ckpt/fx/" + fixture], env=env)
        check(rc == 0 and s3.stats()["requests"] == 1,
              "s3 --list of a prefix: rc %d, %d requests" % (rc, s3.stats()["requests"]))
        s3.reset_stats()
        with Mount("s3://ckpt/fx/" + fixture, env=env) as m:
            check(m.ok and s3.stats()["requests"] == 4,
                  "s3 mount: %d requests, want index + 2 HEAD + 1 string GET" % s3.stats()["requests"])
            files = m.files(skip_at=False) if m.ok else {}
            texts = {"stdout": m.out, "stderr": m.err, "xattrs": xattrs_of(m.dir),
                     "/proc/mounts": open("/proc/mounts").read(),
                     "@mapping.json": repr(files.get("@mapping.json", b""))}
            no_secret("s3 mount", texts, [SECRET])
            check(any(l.split()[:3] == ["s3://ckpt/fx/" + fixture, m.dir, "fuse.ckptfs"]
                      for l in texts["/proc/mounts"].splitlines()),
                  "s3 mount: the URL is the source in /proc/mounts")
        # a V1 file pattern over s3:// is listed with LIST (one page)
        v1 = "serving_session_bundle_v1/export-?????-of-00001"
        rc, want, _ = run(["--list", os.path.join(root, v1)], env=env)
        s3.reset_stats()
        rc, out, err = run(["--list", "s3://ckpt/fx/" + v1], env=env)
        check(rc == 0 and out == want and want,
              "s3 V1 pattern: rc %d %s, %r vs %r" % (rc, err.strip(), out[:80], want[:80]))
        check(s3.stats()["requests"] == 3,
              "s3 V1 pattern: LIST for .index, LIST for the files, GET: %d requests"
              % s3.stats()["requests"])
        # credentials from ~/.aws/credentials (a profile)
        os.makedirs(os.path.join(home, ".aws"))
        with open(os.path.join(home, ".aws", "credentials"), "w") as f:
            f.write("[other]\naws_access_key_id = AKIDCKPTFSTEST\n"
                    "aws_secret_access_key = %s\n" % SECRET)
        e2 = {k: v for k, v in env.items() if not k.startswith("AWS_ACCESS")
              and k != "AWS_SECRET_ACCESS_KEY"}
        e2["AWS_PROFILE"] = "other"
        rc, out, err = run(["--list", "s3://ckpt/fx/" + fixture], env=e2)
        check(rc == 0 and out, "s3 with a credentials-file profile: rc %d %s" % (rc, err))
        # anonymous: the verifier refuses unsigned requests
        e3 = dict(e2, AWS_PROFILE="none")
        rc, out, err = run(["--list", "s3://ckpt/fx/" + fixture], env=e3)
        check(rc == 74 and "403" in err, "s3 anonymous: rc %d %r" % (rc, err))
        # a wrong secret: one line naming the refusal, exit 74, no secret
        bad = dict(env, AWS_SECRET_ACCESS_KEY="WRONG" + SECRET)
        for args in (["--list"], ["--dry-run"]):
            rc, out, err = run([*args, "s3://ckpt/fx/" + fixture], env=bad)
            check(rc == 74 and len(err.strip().splitlines()) == 1
                  and "SignatureDoesNotMatch" in err,
                  "s3 wrong secret %s: rc %d %r" % (args, rc, err))
            no_secret("wrong secret", {"stdout": out, "stderr": err}, [SECRET, "WRONG"])
        # a missing object
        rc, out, err = run(["--list", "s3://ckpt/fx/none/model"], env=env)
        check(rc == 66 and len(err.strip().splitlines()) == 1,
              "s3 missing: rc %d %r" % (rc, err))
        no_secret("s3 errors", {"stderr": err}, [SECRET])


def test_gcs(root, prefixes, oracle, work):
    """gs:// against nginx standing in for the XML API (STORAGE_EMULATOR_HOST),
    which refuses requests without the bearer token."""
    www = os.path.join(work, "gcs")
    os.makedirs(www)
    os.symlink(root, os.path.join(www, "fx"))
    for key, data in dir_objects(root, "d", "gs://b").items():
        os.makedirs(os.path.dirname(os.path.join(www, "b", key)), exist_ok=True)
        with open(os.path.join(www, "b", key), "wb") as f:
            f.write(data)
    with NginxServer(www, bearer_token=TOKEN) as gcs:
        env = base_env(work)
        env["STORAGE_EMULATOR_HOST"] = gcs.url
        env["GOOGLE_OAUTH_ACCESS_TOKEN"] = TOKEN
        equivalence("gs", lambda r: "gs://fx/" + r, prefixes, oracle, [], env)
        with FaultProxy(gcs.url) as fp:
            def count():
                n = fp.stats()["requests"]
                fp.reset_stats()
                return n
            dir_urls("gs", "gs://b/d", oracle, dict(env, STORAGE_EMULATOR_HOST=fp.url), count)
        fixture = "gs://fx/tfjsnode_A_2shards/A"
        with Mount(fixture, env=env) as m:
            files = m.files(skip_at=False) if m.ok else {}
            texts = {"stdout": m.out, "stderr": m.err, "xattrs": xattrs_of(m.dir),
                     "/proc/mounts": open("/proc/mounts").read(),
                     "@mapping.json": repr(files.get("@mapping.json", b""))}
            check(m.ok, "gs mount: %s" % m.err.strip())
            no_secret("gs mount", texts, [TOKEN])
        tok = os.path.join(work, "gcs-token")
        with open(tok, "w") as f:
            f.write(TOKEN + "\n")
        e2 = {k: v for k, v in env.items() if k != "GOOGLE_OAUTH_ACCESS_TOKEN"}
        e2["CLOUDSDK_AUTH_ACCESS_TOKEN_FILE"] = tok
        rc, out, err = run(["--list", "--json", fixture], env=e2)
        check(rc == 0 and out == oracle["tfjsnode_A_2shards/A"][0],
              "gs with a token file: rc %d %s" % (rc, err.strip()))
        e3 = {k: v for k, v in e2.items() if k != "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE"}
        rc, out, err = run(["--list", fixture], env=e3)
        check(rc == 74 and len(err.strip().splitlines()) == 1 and "403" in err,
              "gs without a token: rc %d %r" % (rc, err))


def test_faults(root, work, env):
    """Faults between the mount and nginx: the local bytes or EIO."""
    www = os.path.join(work, "www3")
    fixture = "tf_contrib_trt_quant_mnist/model.ckpt-14070"
    src = os.path.dirname(os.path.join(root, fixture))
    dst = os.path.join(www, "b", "m")
    os.makedirs(dst)
    for f in os.listdir(src):
        if f.startswith(os.path.basename(fixture) + "."):
            shutil.copy(os.path.join(src, f), dst)
    local = os.path.join(dst, os.path.basename(fixture))
    with Mount(local, env=env) as m:
        oracle = m.files()
    data_path = "/b/m/" + os.path.basename(fixture) + ".data-00000-of-00001"
    opts = ["-o", "chunk_size=65536,retries=4,low_speed_time=2,timeout=20,retry_time=30"]
    plans = {
        "503s": [Fault("status", path=data_path, method="GET", status=503, times=3)],
        "500/502/504/429": [Fault("status", path=data_path, method="GET", status=s, skip=i)
                            for i, s in enumerate((500, 502, 504, 429))],
        "reset mid-body": [Fault("reset", path=data_path, method="GET", at=1000, times=3)],
        "truncated body": [Fault("truncate", path=data_path, method="GET", at=777, times=3)],
        "stall before headers": [Fault("stall", path=data_path, method="GET", at=None,
                                       seconds=6, times=1)],
        "stall mid-body": [Fault("stall", path=data_path, method="GET", at=2000,
                                 seconds=6, times=1)],
        "503 on HEAD": [Fault("status", path=data_path, method="HEAD", status=503)],
    }
    with NginxServer(www) as web, FaultProxy(web.url) as fp:
        url = fp.url + "/b/m/" + os.path.basename(fixture)
        for name, plan in plans.items():
            fp.set_plan(plan)
            fp.reset_stats()
            with Mount(url, opts, env=env) as m:
                check(m.ok, "%s: mount: %s" % (name, m.err.strip()))
                got = m.files() if m.ok else {}
                check(got == oracle, "%s: bytes differ from the local mount (%s)" % (
                    name, [k for k in oracle if got.get(k) != oracle[k]][:4]))
                check(all(f.fired for f in plan), "%s: the fault fired" % name)
        # the object replaced between two range GETs: EIO, never mixed bytes
        new = bytearray(open(local + ".data-00000-of-00001", "rb").read())
        for i in range(0, len(new), 4096):
            new[i] ^= 0xFF

        def replace():
            web.replace("b/m/" + os.path.basename(fixture) + ".data-00000-of-00001",
                        bytes(new))
        fp.set_plan([Fault("call", path=data_path, method="GET", skip=2, action=replace)])
        with Mount(url, opts + ["--verify", "none"], env=env) as m:
            check(m.ok, "replace: mount: %s" % m.err.strip())
            got = m.files() if m.ok else {}
            eio = [k for k, v in got.items() if v == 5]
            check(eio, "replaced object: some read fails with EIO (%r)" % (
                {k: (v if isinstance(v, int) else len(v)) for k, v in got.items()},))
            check(all(v == 5 or v == oracle.get(k) for k, v in got.items()),
                  "replaced object: every read is the old bytes or EIO")
            pre = [r for r in fp.log if r["method"] == "GET" and r["path"] == data_path]
            check(all(("If-Match" in r["headers"] or "if-match" in r["headers"]) for r in pre),
                  "every range GET carries If-Match")


def test_first_hour(root, work, env):
    """Issue 13 over http: a SavedModel directory URL, PREFIX.index for its
    prefix, a state file naming another machine's paths."""
    www = os.path.join(work, "www_first_hour")
    fixture = "tfjsnode_A_2shards/A"
    make_dir_ckpt(root, fixture, os.path.join(www, "copied"), "/home/alice/run/model.ckpt-1")
    sm = os.path.join(www, "sm", "variables")
    os.makedirs(sm)
    for f in os.listdir(os.path.join(www, "copied")):
        if f.startswith("model.ckpt-1."):
            shutil.copy(os.path.join(www, "copied", f),
                        os.path.join(sm, "variables" + f[len("model.ckpt-1"):]))
    rc, want, _ = run(["--list", os.path.join(root, fixture)], env=env)
    with NginxServer(www) as web:
        rc, out, err = run(["--list", web.url + "/sm/"], env=env)
        check(rc == 0 and out == want and err == "",
              "SavedModel directory URL: rc %d %r" % (rc, err))
        pre = web.url + "/copied/model.ckpt-1"
        rc, out, err = run(["--list", pre + ".index"], env=env)
        check(rc == 0 and out == want and err.startswith("ckptfs: warning: %s.index is a file "
                                                         "of checkpoint %s:" % (pre, pre)),
              "PREFIX.index URL: rc %d %r" % (rc, err))
        rc, out, err = run(["--list", web.url + "/copied/"], env=env)
        check(rc == 0 and out == want and err == "ckptfs: warning: %s/copied/checkpoint names "
              "/home/alice/run/model.ckpt-1, which does not exist; using %s beside it\n" % (
                  web.url, pre), "copied model_dir URL: rc %d %r" % (rc, err))


def main():
    global CKPTFS
    CKPTFS = sys.argv[1]
    root = os.path.abspath(os.environ.get("CKPT_FIXTURES", ""))
    try:
        for w in ("nginx", "node", "openssl"):
            servers.require(w)
        if not os.path.exists("/dev/fuse") or shutil.which("fusermount3") is None:
            raise servers.Unavailable("no /dev/fuse or fusermount3")
        if not os.path.isdir(root):
            raise servers.Unavailable("no fixtures folder %r" % root)
    except servers.Unavailable as e:
        print("SKIP:", e)
        return 1 if CI else 77
    prefixes = v2_prefixes(root)
    check(len(prefixes) >= 30, "only %d V2 fixtures" % len(prefixes))
    work = tempfile.mkdtemp(prefix="ckptfs-remote-")
    try:
        env = base_env(work)
        only = os.environ.get("REMOTE_ONLY", "")
        oracle = local_oracle(root, prefixes, env) if only in ("", "nginx", "s3", "gcs") else {}
        if only in ("", "nginx"):
            test_nginx(root, prefixes, oracle, work)
        if only in ("", "counts"):
            test_counts_and_state(root, work, env)
        if only in ("", "s3"):
            test_s3(root, prefixes, oracle, work)
        if only in ("", "gcs"):
            test_gcs(root, prefixes, oracle, work)
        if only in ("", "faults"):
            test_faults(root, work, env)
        if only in ("", "first_hour"):
            test_first_hour(root, work, env)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    bad = sum(1 for ok, _ in results if not ok)
    print("%d checks, %d failed" % (len(results), bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
