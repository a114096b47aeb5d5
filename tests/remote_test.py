#!/usr/bin/env python3
"""The remote-store test servers (tests/remote/servers.py) checked with curl:
nginx over http and https (ranges, ETag/If-Match, the CA verifies, a
bearer-token endpoint), S3Server (Signature V4 verified: the right secret
reads, a wrong one gets 403 SignatureDoesNotMatch, an unsigned request 403
AccessDenied; ranges, If-Match, LIST, counters), the verifier against AWS's
published Signature V4 vectors, every fault of FaultProxy as curl sees it,
that every server listens on 127.0.0.1 only, and that servers die with the
process that started them.

usage: remote_test.py
Skips (77) when nginx, node, openssl or curl or tests/remote/node_modules
is missing, except under CI=true, where that fails.
"""
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "remote"))
import servers  # noqa: E402
from servers import Fault, FaultProxy, NginxServer, S3Server  # noqa: E402

CI = os.environ.get("CI") == "true"
results = []  # (passed, what) per check


def check(cond, what):
    results.append((bool(cond), what))
    if not cond:
        print("FAIL:", what)


def failed():
    return sum(1 for ok, _ in results if not ok)


def curl(url, *args, max_time=30):
    """(curl exit code, HTTP status, body bytes, {header: value}) of one GET."""
    with tempfile.TemporaryDirectory() as d:
        body, head = os.path.join(d, "body"), os.path.join(d, "head")
        p = subprocess.run(["curl", "-sS", "--max-time", str(max_time), "-o", body, "-D", head,
                            "-w", "%{http_code}", *args, url], capture_output=True, text=True)
        data = open(body, "rb").read() if os.path.exists(body) else b""
        headers = {}
        if os.path.exists(head):
            for line in open(head, errors="replace").read().splitlines():
                if line.startswith("HTTP/"):
                    headers = {}
                elif ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
        status = int(p.stdout) if p.stdout.strip().isdigit() else 0
        return p.returncode, status, data, headers


def s3_code(body):
    m = re.search(rb"<Code>([^<]*)</Code>", body)
    return m.group(1).decode() if m else None


def loopback_only(pid, what):
    addrs = servers.listening_addresses(pid)
    check(addrs and all(ip == "127.0.0.1" for ip, _ in addrs),
          "%s listens on 127.0.0.1 only: %r" % (what, addrs))


def gone(pid, seconds=20):
    """True once process pid no longer runs (bounded poll, not a timing check)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with open("/proc/%d/stat" % pid) as f:
                if f.read().split(")")[-1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.05)
    return False


rng = random.Random(15)
DATA = rng.randbytes(1 << 20)
NEW = rng.randbytes(len(DATA))
KEY = "ckpt/model.ckpt.data-00000-of-00001"  # /BUCKET/KEY, also the GCS path form
P = "/" + KEY


def test_nginx(root):
    with NginxServer(root) as n:
        loopback_only(n.pid, "nginx")
        check(n.url.startswith("http://127.0.0.1:") and n.ca_file is None, "nginx url %s" % n.url)
        rc, st, body, h = curl(n.url + P)
        check(rc == 0 and st == 200 and body == DATA, "nginx GET: rc %d status %d" % (rc, st))
        etag = h.get("etag")
        check(etag is not None and h.get("accept-ranges") == "bytes", "nginx ETag/Accept-Ranges %r" % h)
        for rng_, want, cr in (("100-199", DATA[100:200], "bytes 100-199/%d" % len(DATA)),
                               ("-10", DATA[-10:], None), ("0-0", DATA[:1], None),
                               ("%d-99999999" % (len(DATA) - 5), DATA[-5:], None)):
            rc, st, body, h = curl(n.url + P, "-H", "Range: bytes=" + rng_)
            check(st == 206 and body == want and (cr is None or h.get("content-range") == cr),
                  "nginx range %s: %d %d bytes %r" % (rng_, st, len(body), h.get("content-range")))
        rc, st, body, h = curl(n.url + P, "-H", "Range: bytes=%d-" % len(DATA))
        check(st == 416, "nginx range past the end: 416, got %d" % st)
        rc, st, body, h = curl(n.url + P, "-I")
        check(st == 200 and h.get("content-length") == str(len(DATA)) and h.get("etag") == etag,
              "nginx HEAD %d %r" % (st, h))
        rc, st, body, h = curl(n.url + P, "-H", "If-Match: " + etag, "-H", "Range: bytes=0-9")
        check(st == 206 and body == DATA[:10], "nginx If-Match right: %d" % st)
        rc, st, body, h = curl(n.url + P, "-H", 'If-Match: "0-0"')
        check(st == 412, "nginx If-Match wrong: 412, got %d" % st)
        rc, st, body, h = curl(n.url + "/ckpt/absent")
        check(st == 404, "nginx absent: 404, got %d" % st)

        n.replace(KEY, NEW)  # same size: the ETag must change anyway
        rc, st, body, h = curl(n.url + P, "-H", "If-Match: " + etag)
        check(st == 412, "nginx If-Match after replace: 412, got %d" % st)
        rc, st, body, h = curl(n.url + P)
        check(st == 200 and body == NEW and h.get("etag") not in (None, etag),
              "nginx after replace: %d new ETag %r" % (st, h.get("etag")))
        n.replace(KEY, DATA)
        pid, port = n.pid, n.port
    check(gone(pid), "nginx process ended on stop")
    rc, st, body, h = curl("http://127.0.0.1:%d%s" % (port, P), max_time=5)
    check(rc == 7, "nothing listens after stop: curl rc %d" % rc)


def test_nginx_tls(root):
    with NginxServer(root, tls=True) as n:
        loopback_only(n.pid, "nginx https")
        check(n.url.startswith("https://127.0.0.1:") and os.path.exists(n.ca_file),
              "https url %s ca %s" % (n.url, n.ca_file))
        rc, st, body, h = curl(n.url + P, "--cacert", n.ca_file)
        check(rc == 0 and st == 200 and body == DATA, "https with the CA: rc %d status %d" % (rc, st))
        rc, st, body, h = curl(n.url + P, "--cacert", n.ca_file, "-H", "Range: bytes=5-14")
        check(st == 206 and body == DATA[5:15], "https range: %d" % st)
        rc, st, body, h = curl(n.url.replace("127.0.0.1", "localhost") + P, "--cacert", n.ca_file)
        check(rc == 0 and st == 200, "https as localhost verifies: rc %d" % rc)
        rc, st, body, h = curl(n.url + P)
        check(rc == 60 and body == b"", "https without the CA: rc 60, got %d" % rc)
        # through a FaultProxy to the https upstream
        with FaultProxy(n.url, upstream_ca=n.ca_file) as fp:
            rc, st, body, h = curl(fp.url + P, "-H", "Range: bytes=0-99")
            check(st == 206 and body == DATA[:100], "proxy to https upstream: %d" % st)


def test_bearer(root):
    with NginxServer(root, bearer_token="tok-ckptfs-15") as n:
        rc, st, body, h = curl(n.url + P)
        check(st == 403 and b"AccessDenied" in body, "bearer: none -> 403, got %d" % st)
        rc, st, body, h = curl(n.url + P, "-H", "Authorization: Bearer wrong")
        check(st == 403, "bearer: wrong -> 403, got %d" % st)
        rc, st, body, h = curl(n.url + P, "-H", "Authorization: Bearer tok-ckptfs-15",
                               "-H", "Range: bytes=10-19")
        check(st == 206 and body == DATA[10:20], "bearer: right -> 206, got %d" % st)
        with FaultProxy(n.url) as fp:  # STORAGE_EMULATOR_HOST=fp.url: the token is logged
            rc, st, body, h = curl(fp.url + P, "-H", "Authorization: Bearer tok-ckptfs-15")
            check(st == 200 and body == DATA, "bearer through the proxy: %d" % st)
            check(fp.log and fp.log[0]["headers"].get("authorization") == "Bearer tok-ckptfs-15",
                  "the proxy log shows the token sent: %r" % fp.log)


def sig(s3, secret=None, key=None):
    return ["--aws-sigv4", "aws:amz:%s:s3" % s3.region, "--user",
            "%s:%s" % (key or s3.access_key, secret or s3.secret)]


SHA = ["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]


def test_s3():
    with S3Server(bucket="ckpt") as s3:
        loopback_only(s3.pid, "s3rver + sigv4-proxy")
        etag = s3.put("dir/model.ckpt.data-00000-of-00001", DATA)
        s3.put("dir/model.ckpt.index", b"index bytes")
        url = s3.url("dir/model.ckpt.data-00000-of-00001")
        path = "/ckpt/dir/model.ckpt.data-00000-of-00001"
        check(url == s3.endpoint + path, "S3 url %s" % url)
        served = 0

        rc, st, body, h = curl(url, *sig(s3), *SHA)
        check(rc == 0 and st == 200 and body == DATA, "S3 signed GET reads: %d %d" % (rc, st))
        served += len(body)
        check(h.get("etag") == etag, "S3 ETag %r == put's %r" % (h.get("etag"), etag))
        for r, want in (("100-199", DATA[100:200]), ("0-0", DATA[:1]), ("-7", DATA[-7:]),
                        ("%d-" % (len(DATA) - 3), DATA[-3:]),
                        ("%d-99999999" % (len(DATA) - 2), DATA[-2:])):
            rc, st, body, h = curl(url, *sig(s3), *SHA, "-H", "Range: bytes=" + r)
            ok = st == 206 and body == want and h.get("content-length") == str(len(want))
            check(ok, "S3 range %s: %d, %d bytes, %r" % (r, st, len(body), h.get("content-range")))
            served += len(body)
        rc, st, body, h = curl(url, *sig(s3), *SHA, "-H", "Range: bytes=100-199")
        check(h.get("content-range") == "bytes 100-199/%d" % len(DATA), "S3 Content-Range %r" % h)
        served += len(body)
        rc, st, body, h = curl(url, *sig(s3), *SHA, "-H", "Range: bytes=%d-" % len(DATA))
        check(st == 416 and s3_code(body) == "InvalidRange", "S3 range past the end: %d" % st)
        served += len(body)
        rc, st, body, h = curl(url, *sig(s3), *SHA, "-I")
        check(st == 200 and h.get("content-length") == str(len(DATA)) and h.get("etag") == etag,
              "S3 HEAD %d %r" % (st, h))
        rc, st, body, h = curl(url, *sig(s3), *SHA, "-H", "If-Match: " + etag, "-H", "Range: bytes=0-3")
        check(st == 206 and body == DATA[:4], "S3 If-Match right: %d" % st)
        served += len(body)
        rc, st, body, h = curl(url, *sig(s3), *SHA, "-H", 'If-Match: "0123"')
        check(st == 412 and s3_code(body) == "PreconditionFailed", "S3 If-Match wrong: %d" % st)
        served += len(body)

        # authentication
        rc, st, body, h = curl(url, *sig(s3, secret="not-the-secret"), *SHA)
        check(st == 403 and s3_code(body) == "SignatureDoesNotMatch",
              "S3 wrong secret: %d %s" % (st, s3_code(body)))
        served += len(body)
        rc, st, body, h = curl(url)
        check(st == 403 and s3_code(body) == "AccessDenied", "S3 unsigned: %d %s" % (st, s3_code(body)))
        served += len(body)
        rc, st, body, h = curl(url, *sig(s3, key="AKIDSOMEONEELSE"), *SHA)
        check(st == 403 and s3_code(body) == "InvalidAccessKeyId", "S3 wrong key id: %s" % s3_code(body))
        served += len(body)
        rc, st, body, h = curl(url, *sig(s3))
        check(st == 400 and b"x-amz-content-sha256" in body,
              "S3 without x-amz-content-sha256: 400, got %d" % st)
        served += len(body)
        rc, st, body, h = curl(url, "-H", "Authorization: AWS4-HMAC-SHA256 Credential=%s/20200101/"
                               "us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature=%s"
                               % (s3.access_key, "0" * 64), "-H", "x-amz-date: 20200101T000000Z", *SHA)
        check(st == 403 and s3_code(body) == "RequestTimeTooSkewed", "S3 old date: %s" % s3_code(body))
        served += len(body)

        # LIST (query values encoded as S3 canonicalises them: '/' is %2F)
        rc, st, body, h = curl(s3.endpoint + "/ckpt?list-type=2&prefix=dir%2F", *sig(s3), *SHA)
        check(st == 200 and b"<Key>dir/model.ckpt.index</Key>" in body and
              b"<Key>dir/model.ckpt.data-00000-of-00001</Key>" in body, "S3 LIST: %d" % st)
        served_list = len(body)
        rc, st, body, h = curl(s3.url("dir/absent"), *sig(s3), *SHA)
        check(st == 404 and s3_code(body) == "NoSuchKey", "S3 absent: %d %s" % (st, s3_code(body)))
        served_list += len(body)

        stats = s3.stats()
        per = stats["paths"].get(path, {})
        check(per.get("requests") == 16 and per.get("bytes") == served,
              "S3 counts for the object: %r, want 16 requests %d bytes" % (per, served))
        check(stats["requests"] == 18 and stats["bytes"] == served + served_list and stats["denied"] == 4,
              "S3 totals %r" % {k: stats[k] for k in ("requests", "bytes", "denied")})
        s3.reset_stats()
        check(s3.stats()["requests"] == 0, "S3 reset_stats")

        # a replaced object: new ETag, the old one gives 412
        etag2 = s3.put("dir/model.ckpt.data-00000-of-00001", NEW)
        rc, st, body, h = curl(url, *sig(s3), *SHA, "-H", "If-Match: " + etag)
        check(etag2 != etag and st == 412, "S3 If-Match after replace: %d" % st)

        # the S3 endpoint behind a FaultProxy: Host is kept, so signatures hold
        with FaultProxy(s3.endpoint, plan=[Fault("status", status=503, times=1)]) as fp:
            purl = fp.url + path
            rc, st, body, h = curl(purl, *sig(s3), *SHA)
            check(st == 503, "S3 via proxy: injected 503, got %d" % st)
            rc, st, body, h = curl(purl, *sig(s3), *SHA, "-H", "Range: bytes=1-8")
            check(st == 206 and body == NEW[1:9], "S3 via proxy signed range: %d" % st)
            rc, st, body, h = curl(purl, *sig(s3, secret="wrong"), *SHA)
            check(st == 403 and s3_code(body) == "SignatureDoesNotMatch", "S3 via proxy wrong secret")
        pid = s3.pid
    check(gone(pid), "node process ended on stop")


def test_vectors():
    results = servers.check_sigv4_vectors()
    check(len(results) >= 13, "%d vectors" % len(results))
    for r in results:
        check(r["good"] == "ok", "vector %s verifies: %s" % (r["name"], r["good"]))
        check(r["altered"] == "SignatureDoesNotMatch",
              "vector %s with a changed signature: %s" % (r["name"], r["altered"]))
        check(r["wrong_secret"] == "SignatureDoesNotMatch",
              "vector %s with a wrong secret: %s" % (r["name"], r["wrong_secret"]))


def test_faults(root):
    with NginxServer(root) as n, FaultProxy(n.url) as fp:
        loopback_only(os.getpid(), "FaultProxy (this process)")
        url = fp.url + P
        sent = 0  # body bytes the proxy served for P

        fp.set_plan([Fault("status", path=P, status=503, times=1, headers={"Retry-After": "1"})])
        rc, st, body, h = curl(url)
        check(st == 503 and h.get("retry-after") == "1", "503 injected: %d %r" % (st, h))
        sent += len(body)
        rc, st, body, h = curl(url)
        check(st == 200 and body == DATA, "after the one 503: %d" % st)
        sent += len(body)
        rc, st, body, h = curl(fp.url + "/ckpt/absent")
        check(st == 404, "other paths pass: %d" % st)

        fp.set_plan([Fault("reset", path=P, at=3000)])
        rc, st, body, h = curl(url)
        check(rc == 56 and st == 200 and len(body) <= 3000 and body == DATA[:len(body)],
              "reset mid-body: curl rc %d (56), %d bytes, a prefix" % (rc, len(body)))
        sent += 3000

        fp.set_plan([Fault("truncate", path=P, at=5000)])
        rc, st, body, h = curl(url)
        check(rc == 18 and body == DATA[:5000] and h.get("content-length") == str(len(DATA)),
              "truncated body: curl rc %d (18), %d bytes" % (rc, len(body)))
        sent += 5000

        fp.set_plan([Fault("stall", path=P, seconds=60, at=None)])
        rc, st, body, h = curl(url, max_time=1)
        check(rc == 28 and st == 0 and body == b"", "stall before headers cut by --max-time: rc %d" % rc)
        fp.set_plan([Fault("stall", path=P, seconds=60, at=2000)])
        rc, st, body, h = curl(url, max_time=1)
        check(rc == 28 and body == DATA[:2000], "stall mid-body cut by --max-time: rc %d, %d bytes"
              % (rc, len(body)))
        sent += 2000

        fp.set_plan([Fault("delay", path=P, seconds=0.2, times=None)])
        rc, st, body, h = curl(url, "-H", "Range: bytes=10-29")
        check(st == 206 and body == DATA[10:30], "delayed range: %d" % st)
        sent += len(body)

        # replaced between requests: the second request sees a new ETag
        fp.set_plan([Fault("call", path=P, skip=1, action=lambda: n.replace(KEY, NEW))])
        rc, st, body, h = curl(url, "-H", "Range: bytes=0-15")
        etag = h.get("etag")
        check(st == 206 and body == DATA[:16], "before replace: %d" % st)
        sent += len(body)
        rc, st, body, h = curl(url, "-H", "If-Match: %s" % etag, "-H", "Range: bytes=16-31")
        check(st == 412, "replaced mid-read: If-Match gives 412, got %d" % st)
        sent += len(body)
        rc, st, body, h = curl(url, "-H", "Range: bytes=16-31")
        check(st == 206 and body == NEW[16:32] and h.get("etag") != etag, "after replace: %d" % st)
        sent += len(body)
        check([f.fired for f in fp.plan] == [1], "the call fault fired once: %r" % fp.plan)
        n.replace(KEY, DATA)

        stats = fp.stats()
        check(stats["paths"][P]["requests"] == 10 and stats["paths"][P]["bytes"] == sent,
              "proxy counts for %s: %r, want 10 requests %d bytes" % (P, stats["paths"][P], sent))
        check(stats["requests"] == 11, "proxy total requests %d" % stats["requests"])
        check([r["fault"] for r in fp.log if r["path"] == P][:6] ==
              ["status", None, "reset", "truncate", "stall", "stall"], "proxy log faults")
        fp.reset_stats()
        check(fp.stats()["requests"] == 0 and fp.log == [], "proxy reset_stats")

    with NginxServer(root) as n, FaultProxy(n.url, latency=0.05) as fp:
        rc, st, body, h = curl(fp.url + P, "-H", "Range: bytes=0-1023")
        check(st == 206 and body == DATA[:1024], "latency proxy: %d" % st)
    port = fp.port
    rc, st, body, h = curl("http://127.0.0.1:%d/" % port, max_time=5)
    check(rc == 7, "FaultProxy stopped: curl rc %d" % rc)


CHILD = """
import os, sys, time
sys.path.insert(0, %r)
from servers import NginxServer, S3Server
n = NginxServer(%r)
s = S3Server()
print(n.pid, s.pid, flush=True)
if sys.argv[1] == "exit":
    sys.exit(0)      # no stop(): atexit must end them
time.sleep(600)      # killed by the test
"""


def test_cleanup(root):
    for how in ("exit", "sigkill"):
        p = subprocess.Popen([sys.executable, "-c", CHILD % (os.path.join(HERE, "remote"), root), how],
                             stdout=subprocess.PIPE, text=True)
        line = p.stdout.readline().split()
        pids = [int(x) for x in line]
        check(len(pids) == 2, "child started two servers: %r" % line)
        if how == "sigkill":
            p.send_signal(signal.SIGKILL)
        p.wait(60)
        p.stdout.close()
        for pid in pids:
            check(gone(pid), "server %d ended when its parent did (%s)" % (pid, how))


def main():
    missing = []
    for what in ("nginx", "node", "openssl"):
        try:
            servers.require(what)
        except servers.Unavailable as e:
            missing.append(str(e))
    if not shutil.which("curl"):
        missing.append("curl is not installed")
    if missing:
        print("remote test servers unavailable: " + "; ".join(missing))
        return 1 if CI else 77
    root = tempfile.mkdtemp(prefix="ckptfs-remote-root-")
    try:
        os.makedirs(os.path.join(root, "ckpt"))
        with open(os.path.join(root, KEY), "wb") as f:
            f.write(DATA)
        for t in (test_vectors, test_nginx, test_nginx_tls, test_bearer, test_s3, test_faults,
                  test_cleanup):
            before = failed()
            t(*((root,) if t.__code__.co_argcount else ()))
            print("%s: %s" % (t.__name__, "ok" if failed() == before else "FAILED"))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print("%d checks, %d failed" % (len(results), failed()))
    return 1 if failed() else 0


if __name__ == "__main__":
    sys.exit(main())
