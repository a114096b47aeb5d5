"""Real servers on 127.0.0.1 for the remote-store tests (tests/remote/README.md).

    NginxServer(root_dir, tls=False, bearer_token=None)  static files, ranges, ETags
    S3Server(bucket, access_key, secret, region)         s3rver behind sigv4-proxy.js
    FaultProxy(upstream, plan=(), latency=0.0, ...)      HTTP proxy that injects faults

Each is a context manager that starts on a free loopback port and always
stops: on __exit__, on stop(), and at interpreter exit (atexit). Child
processes also die with the test process, even a SIGKILLed one (a
parent-death SIGKILL set by setpriv; node also exits when its stdin
closes). Nothing listens anywhere but 127.0.0.1.

    require("nginx") / require("node") raise Unavailable when the program (or
    tests/remote/node_modules) is missing: scripts/install-deps.sh installs them.
"""
import atexit
import http.client
import json
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HERE = os.path.dirname(os.path.abspath(__file__))
LOOPBACK = "127.0.0.1"
START_TIMEOUT = 20.0  # seconds for a server to start listening


class Unavailable(Exception):
    """A program a server needs is not installed."""


def require(what):
    """Raise Unavailable unless `what` ("nginx", "node", "openssl") can run here."""
    if what == "nginx":
        if not (shutil.which("nginx") or os.access("/usr/sbin/nginx", os.X_OK)):
            raise Unavailable("nginx is not installed (Debian package nginx-light)")
    elif what == "node":
        if not shutil.which("node"):
            raise Unavailable("node is not installed (Debian packages nodejs, npm)")
        for mod in ("s3rver", os.path.join("@aws-sdk", "signature-v4")):
            if not os.path.isdir(os.path.join(HERE, "node_modules", mod)):
                raise Unavailable("tests/remote/node_modules lacks %s: run "
                                  "npm ci --prefix tests/remote" % mod)
    elif what == "openssl":
        if not shutil.which("openssl"):
            raise Unavailable("openssl is not installed")
    else:
        raise ValueError(what)


def _nginx():
    return shutil.which("nginx") or "/usr/sbin/nginx"


# -- processes: every child is registered and killed at exit ---------------

_children = set()
_servers = set()


def _stop_all():
    for s in list(_servers):
        s.stop()
    for p in list(_children):
        _kill(p)


atexit.register(_stop_all)


def _spawn(argv, **kw):
    """Popen with a parent-death SIGKILL where setpriv has it (util-linux)."""
    setpriv = shutil.which("setpriv")
    if setpriv:
        argv = [setpriv, "--pdeathsig", "KILL", "--"] + list(argv)
    p = subprocess.Popen(argv, **kw)
    _children.add(p)
    return p


def _kill(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    for f in (p.stdin, p.stdout, p.stderr):
        if f:
            f.close()
    _children.discard(p)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _wait_port(port, proc, what, log=None):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            text = ""
            if log and os.path.exists(log):
                with open(log, errors="replace") as f:
                    text = f.read()[-2000:]
            raise RuntimeError("%s exited with %d while starting: %s" % (what, proc.returncode, text))
        try:
            socket.create_connection((LOOPBACK, port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("%s did not listen on %s:%d within %gs" % (what, LOOPBACK, port, START_TIMEOUT))


def listening_addresses(pid):
    """[(ip, port)] of the TCP sockets process `pid` listens on (from /proc)."""
    inodes = set()
    fd_dir = "/proc/%d/fd" % pid
    for fd in os.listdir(fd_dir):
        try:
            target = os.readlink(os.path.join(fd_dir, fd))
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, width in (("/proc/net/tcp", 4), ("/proc/net/tcp6", 16)):
        if not os.path.exists(table):
            continue
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                if cols[3] != "0A" or cols[9] not in inodes:  # 0A: LISTEN
                    continue
                hexip, hexport = cols[1].split(":")
                raw = bytes.fromhex(hexip)
                if width == 4:
                    ip = socket.inet_ntop(socket.AF_INET, raw[::-1])
                else:
                    words = b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4))
                    ip = socket.inet_ntop(socket.AF_INET6, words)
                found.append((ip, int(hexport, 16)))
    return found


class _Server:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False


# -- TLS ---------------------------------------------------------------------

def make_tls(directory):
    """A throw-away CA and a server certificate for 127.0.0.1 / localhost,
    made with openssl in `directory`. Returns (ca_file, cert_file, key_file)."""
    require("openssl")
    ca_key, ca = os.path.join(directory, "ca.key"), os.path.join(directory, "ca.pem")
    key, csr = os.path.join(directory, "server.key"), os.path.join(directory, "server.csr")
    cert, ext = os.path.join(directory, "server.pem"), os.path.join(directory, "server.ext")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]

    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    run("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
        "-subj", "/CN=ckptfs test CA", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    run("req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "2", "-extfile", ext)
    return ca, cert, key


# -- nginx -------------------------------------------------------------------

class NginxServer(_Server):
    """nginx serving root_dir read-only: byte ranges, ETag (mtime-size),
    If-Match / If-None-Match, HEAD. A path /BUCKET/KEY is root_dir/BUCKET/KEY,
    the GCS XML API form.

    tls=True: https with a certificate from a CA made at start; ca_file is
    the CA to trust. bearer_token="t": every request without the header
    "Authorization: Bearer t" gets 403 (a GCS-style endpoint).

    Attributes: root, port, host ("127.0.0.1:PORT"), url ("http[s]://host"),
    ca_file (None without tls), pid, workdir (config, logs, certificates).
    """

    def __init__(self, root_dir, tls=False, bearer_token=None):
        require("nginx")
        self.root = os.path.abspath(root_dir)
        self.tls = tls
        self.bearer_token = bearer_token
        self.workdir = tempfile.mkdtemp(prefix="ckptfs-nginx-")
        self.ca_file = None
        self.proc = None
        _servers.add(self)
        try:
            if tls:
                self.ca_file, self._cert, self._key = make_tls(self.workdir)
            self._start()
        except BaseException:
            self.stop()
            raise

    def _config(self, port):
        w = self.workdir
        tls = ""
        if self.tls:
            tls = "ssl_certificate %s; ssl_certificate_key %s;" % (self._cert, self._key)
        auth = ""
        if self.bearer_token is not None:
            if any(c in self.bearer_token for c in '"\\$;{} \t\n'):
                raise ValueError("bearer token must be plain: %r" % self.bearer_token)
            auth = ('if ($http_authorization != "Bearer %s") '
                    '{ return 403 "AccessDenied: no valid bearer token\\n"; }' % self.bearer_token)
        return f"""daemon off;
master_process off;
worker_processes 1;
pid {w}/nginx.pid;
error_log {w}/error.log warn;
events {{ worker_connections 512; }}
http {{
  access_log {w}/access.log;
  client_body_temp_path {w}/body;
  proxy_temp_path {w}/proxy;
  fastcgi_temp_path {w}/fastcgi;
  uwsgi_temp_path {w}/uwsgi;
  scgi_temp_path {w}/scgi;
  default_type application/octet-stream;
  types {{ }}
  sendfile on;
  keepalive_requests 100000;
  server {{
    listen {LOOPBACK}:{port}{" ssl" if self.tls else ""};
    server_name localhost;
    {tls}
    root {self.root};
    location / {{
      {auth}
    }}
  }}
}}
"""

    def _start(self):
        log = os.path.join(self.workdir, "error.log")
        for attempt in range(5):
            port = free_port()
            conf = os.path.join(self.workdir, "nginx.conf")
            with open(conf, "w") as f:
                f.write(self._config(port))
            self.proc = _spawn([_nginx(), "-p", self.workdir, "-c", conf, "-e", log],
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            try:
                _wait_port(port, self.proc, "nginx", log)
            except RuntimeError:
                inuse = False
                if os.path.exists(log):
                    with open(log) as f:
                        inuse = "Address already in use" in f.read()
                _kill(self.proc)
                self.proc = None
                if inuse and attempt < 4:
                    continue  # lost the port race: another one
                raise
            self.port = port
            self.pid = self.proc.pid
            self.host = "%s:%d" % (LOOPBACK, port)
            self.url = "%s://%s" % ("https" if self.tls else "http", self.host)
            return

    def path(self, rel):
        return os.path.join(self.root, rel.lstrip("/"))

    def replace(self, rel, data):
        """Atomically replace root/rel with `data` and move its mtime forward,
        so nginx's ETag (mtime-size) changes even for same-size data."""
        dst = self.path(rel)
        old = os.stat(dst).st_mtime if os.path.exists(dst) else time.time()
        tmp = dst + ".replacing"
        with open(tmp, "wb") as f:
            f.write(data)
        t = max(time.time(), old + 2)
        os.utime(tmp, (t, t))
        os.replace(tmp, dst)

    def stop(self):
        if self.proc is not None:
            _kill(self.proc)
            self.proc = None
        if self.workdir and os.path.isdir(self.workdir):
            shutil.rmtree(self.workdir, ignore_errors=True)
        _servers.discard(self)


# -- S3 ----------------------------------------------------------------------

class S3Server(_Server):
    """s3rver (buckets, range GETs, HEAD, ETags, LIST) behind sigv4-proxy.js,
    which verifies every request's Signature V4 against `secret` (403
    SignatureDoesNotMatch / AccessDenied / InvalidAccessKeyId), requires
    x-amz-content-sha256 (400, as S3 does), and gives GET/HEAD S3's range and
    If-Match/If-None-Match semantics. Path-style: endpoint/BUCKET/KEY.

    Attributes: endpoint ("http://127.0.0.1:PORT", signed requests only),
    host, port, backend (unsigned s3rver URL, for setting up objects),
    bucket, access_key, secret, region, pid.
    Methods: put(key, data) -> ETag, delete(key), url(key), stats(),
    reset_stats().
    """

    def __init__(self, bucket="ckpt", access_key="AKIDCKPTFSTEST",
                 secret="ckptfs/test/secret+key", region="us-east-1"):
        require("node")
        self.bucket, self.access_key, self.secret, self.region = bucket, access_key, secret, region
        self.workdir = tempfile.mkdtemp(prefix="ckptfs-s3-")
        self.proc = None
        _servers.add(self)
        try:
            cfg = json.dumps({"bucket": bucket, "accessKey": access_key, "secret": secret,
                              "region": region, "dir": os.path.join(self.workdir, "data")})
            self._err = open(os.path.join(self.workdir, "proxy.log"), "w+")
            self.proc = _spawn(["node", os.path.join(HERE, "sigv4-proxy.js"), cfg],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err,
                               cwd=HERE)
            line = self._readline()
            ports = json.loads(line)
            self.port = ports["port"]
            self.pid = self.proc.pid
            self.host = "%s:%d" % (LOOPBACK, self.port)
            self.endpoint = "http://" + self.host
            self.backend = "http://%s:%d" % (LOOPBACK, ports["backend_port"])
            self._control = "http://%s:%d" % (LOOPBACK, ports["control_port"])
        except BaseException:
            self.stop()
            raise

    def _readline(self):
        out = []
        t = threading.Thread(target=lambda: out.append(self.proc.stdout.readline()), daemon=True)
        t.start()
        t.join(START_TIMEOUT)
        if not out or not out[0]:
            self._err.seek(0)
            raise RuntimeError("sigv4-proxy did not start: " + self._err.read()[-2000:])
        return out[0].decode()

    def url(self, key):
        return "%s/%s/%s" % (self.endpoint, self.bucket, urllib.parse.quote(key))

    def _backend(self, method, key, data=None):
        req = urllib.request.Request("%s/%s/%s" % (self.backend, self.bucket, urllib.parse.quote(key)),
                                     data=data, method=method)
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
            return r.headers.get("ETag")

    def put(self, key, data):
        """Store `data` under `key` (unsigned, straight to s3rver); its ETag."""
        return self._backend("PUT", key, data)

    def delete(self, key):
        self._backend("DELETE", key)

    def stats(self):
        """{"requests", "bytes", "denied" (403s), "status": {code: n},
        "paths": {path: {"requests", "bytes"}}}: what the signed endpoint
        served since start or reset_stats(); bytes are response body bytes."""
        with urllib.request.urlopen(self._control + "/stats", timeout=30) as r:
            return json.load(r)

    def reset_stats(self):
        urllib.request.urlopen(urllib.request.Request(self._control + "/reset", data=b"",
                                                      method="POST"), timeout=30).read()

    def stop(self):
        if self.proc is not None:
            _kill(self.proc)
            self.proc = None
        if getattr(self, "_err", None):
            self._err.close()
            self._err = None
        if self.workdir and os.path.isdir(self.workdir):
            shutil.rmtree(self.workdir, ignore_errors=True)
        _servers.discard(self)


def check_sigv4_vectors(vectors_file=None):
    """Run sigv4-proxy.js's verifier over AWS's published vectors; the list
    of {"name", "good", "altered", "wrong_secret"} results (each "ok" or an
    S3 error code)."""
    require("node")
    vectors_file = vectors_file or os.path.join(HERE, "sigv4-vectors.json")
    out = subprocess.run(["node", os.path.join(HERE, "sigv4-proxy.js"), "--check-vectors",
                          vectors_file], check=True, capture_output=True, timeout=120, cwd=HERE)
    return json.loads(out.stdout)


# -- fault injection ---------------------------------------------------------

class Fault:
    """One rule of a FaultProxy plan.

    kind:
      "status"   answer `status` (default 503) without asking upstream;
                 `headers` adds response headers (e.g. {"Retry-After": "1"})
      "reset"    forward, send the headers and `at` body bytes, then reset
                 the connection (TCP RST)
      "truncate" forward, send the headers (the full Content-Length) and `at`
                 body bytes, then close cleanly: a short body
      "stall"    forward, but stop for `seconds` before the response headers
                 (at=None) or after `at` body bytes, then go on
      "delay"    wait `seconds`, then forward normally
      "call"     call action() (e.g. replace the object upstream), then
                 forward normally
    path: exact request path (no query) to match, None for any; method: the
    same for the method. The rule lets `skip` matching requests through, then
    fires on the next `times` ones (None: on every one). `fired` counts.
    """

    KINDS = ("status", "reset", "truncate", "stall", "delay", "call")

    def __init__(self, kind, path=None, method=None, skip=0, times=1, status=503, at=0,
                 seconds=0.0, action=None, headers=None):
        if kind not in self.KINDS:
            raise ValueError("unknown fault kind %r" % kind)
        if kind == "call" and action is None:
            raise ValueError("a call fault needs an action")
        self.kind, self.path, self.method = kind, path, method
        self.skip, self.times, self.status = skip, times, status
        self.at, self.seconds, self.action = at, seconds, action
        self.headers = headers or {}
        self.seen = 0
        self.fired = 0

    def _take(self, method, path):
        if (self.path is not None and path != self.path) or \
                (self.method is not None and method != self.method):
            return False
        self.seen += 1
        if self.seen <= self.skip or (self.times is not None and self.fired >= self.times):
            return False
        self.fired += 1
        return True

    def __repr__(self):
        return "Fault(%r, path=%r, fired=%d)" % (self.kind, self.path, self.fired)


HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
              "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ckptfs-fault-proxy"

    def log_message(self, *args):
        pass

    def do_GET(self):
        self.server.proxy._serve(self)

    do_HEAD = do_PUT = do_POST = do_DELETE = do_OPTIONS = do_GET


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], OSError):  # a client gone is no error here
            super().handle_error(request, client_address)


class FaultProxy(_Server):
    """An HTTP/1.1 proxy on 127.0.0.1 in front of `upstream` (an http or https
    base URL) that forwards every request (Host header kept, so SigV4
    signatures stay valid) and injects the faults of `plan` (a list of
    Fault; the first that fires applies). latency: seconds added before
    every request is forwarded (for benchmarks). upstream_ca: the CA file for
    an https upstream. timeout: seconds for the upstream exchange.

    Attributes: url, host, port, upstream, plan, log (one dict per request:
    method, path, query, headers, status, bytes, fault, start and end: the
    time.monotonic() of the request's arrival and of the end of its answer,
    end None while it is served).
    Methods: set_plan(list), stats(), reset_stats(), stop().
    """

    def __init__(self, upstream, plan=(), latency=0.0, upstream_ca=None, timeout=30.0):
        u = urllib.parse.urlsplit(upstream)
        if u.scheme not in ("http", "https") or u.hostname not in (LOOPBACK, "localhost", "::1"):
            raise ValueError("upstream must be an http(s) URL on the loopback: %r" % upstream)
        self.upstream = upstream
        self._up = (u.scheme, u.hostname, u.port or (443 if u.scheme == "https" else 80))
        self._ctx = ssl.create_default_context(cafile=upstream_ca) if u.scheme == "https" else None
        self.latency = latency
        self.timeout = timeout
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.plan = list(plan)
        self.log = []
        self.reset_stats()
        self._httpd = _HTTPServer((LOOPBACK, 0), _Handler)
        self._httpd.proxy = self
        self.port = self._httpd.server_address[1]
        self.host = "%s:%d" % (LOOPBACK, self.port)
        self.url = "http://" + self.host
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        _servers.add(self)

    def set_plan(self, plan):
        with self._lock:
            self.plan = list(plan)

    def reset_stats(self):
        with self._lock:
            self._stats = {"requests": 0, "bytes": 0, "paths": {}}
            self.log = []

    def stats(self):
        """{"requests", "bytes", "paths": {path: {"requests", "bytes"}}}:
        requests seen and response body bytes sent to clients."""
        with self._lock:
            return json.loads(json.dumps(self._stats))

    def _count(self, rec, nbytes):
        with self._lock:
            rec["bytes"] += nbytes
            self._stats["bytes"] += nbytes
            self._stats["paths"][rec["path"]]["bytes"] += nbytes

    def _pick(self, method, path):
        with self._lock:
            for f in self.plan:
                if f._take(method, path):
                    return f
        return None

    def _serve(self, h):
        path, _, query = h.path.partition("?")
        rec = {"method": h.command, "path": path, "query": query,
               "headers": {k.lower(): v for k, v in h.headers.items()},
               "status": None, "bytes": 0, "fault": None, "start": time.monotonic(),
               "end": None}
        n = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(n) if n > 0 else None
        with self._lock:
            self.log.append(rec)
            self._stats["requests"] += 1
            p = self._stats["paths"].setdefault(path, {"requests": 0, "bytes": 0})
            p["requests"] += 1
        try:
            self._answer(h, rec, path, body)
        finally:
            rec["end"] = time.monotonic()

    def _answer(self, h, rec, path, body):
        fault = self._pick(h.command, path)
        rec["fault"] = fault.kind if fault else None
        waits = [self.latency]
        if fault and (fault.kind == "delay" or (fault.kind == "stall" and fault.at is None)):
            waits.append(fault.seconds)
        if any(w and self._stopping.wait(w) for w in waits):
            h.close_connection = True  # stopping: no answer
            return
        if fault and fault.kind == "call":
            fault.action()
        if fault and fault.kind == "status":
            data = b"" if h.command == "HEAD" else b"injected %d\n" % fault.status
            h.send_response(fault.status)
            for k, v in fault.headers.items():
                h.send_header(k, v)
            h.send_header("Content-Type", "text/plain")
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
            rec["status"] = fault.status
            self._count(rec, len(data))
            return
        headers = {k: v for k, v in h.headers.items() if k.lower() not in HOP_BY_HOP}
        scheme, host, port = self._up
        if scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=self.timeout, context=self._ctx)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
        try:
            conn.putrequest(h.command, h.path, skip_host=True, skip_accept_encoding=True)
            for k, v in headers.items():
                conn.putheader(k, v)
            conn.endheaders(body)
            resp = conn.getresponse()
            data = resp.read()
            out = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
        except (OSError, http.client.HTTPException) as e:
            msg = b"fault proxy: upstream failed: %s\n" % str(e).encode()
            h.send_response(502)
            h.send_header("Content-Length", str(len(msg)))
            h.end_headers()
            h.wfile.write(msg)
            rec["status"] = 502
            self._count(rec, len(msg))
            return
        finally:
            conn.close()
        rec["status"] = resp.status
        h.send_response_only(resp.status, resp.reason)
        has_length = False
        for k, v in out:
            if k.lower() == "content-length":
                has_length = True
                if h.command != "HEAD":
                    v = str(len(data))
            h.send_header(k, v)
        if not has_length and h.command != "HEAD" and resp.status not in (204, 304):
            h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if h.command == "HEAD":
            return
        kind = fault.kind if fault else None
        if kind in ("reset", "truncate") or (kind == "stall" and fault.at is not None):
            head = data[:fault.at]
            h.wfile.write(head)
            h.wfile.flush()
            self._count(rec, len(head))
            if kind == "reset":
                # let the bytes leave before the RST discards the send buffer
                self._stopping.wait(0.2)
                h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        struct.pack("ii", 1, 0))
                h.connection.close()  # the fd closes (RST) when rfile does
                h.close_connection = True
                return
            if kind == "truncate":
                h.close_connection = True
                return
            if self._stopping.wait(fault.seconds):
                h.close_connection = True
                return
            data = data[fault.at:]
        try:
            h.wfile.write(data)
            h.wfile.flush()
        except OSError:
            h.close_connection = True
            return
        self._count(rec, len(data))

    def stop(self):
        if self._httpd is not None:
            self._stopping.set()
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        _servers.discard(self)
