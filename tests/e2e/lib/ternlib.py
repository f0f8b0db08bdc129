"""ternlib: the end-to-end test harness for tern (stdlib only).

Every test starts the real tern binary ($TERN_BIN) on free loopback ports,
in front of real TCP peers run by this module in threads, and asserts on
what those peers and tern's admin API observe.

Pieces:
  free_port()            a free loopback TCP port (IPv4 or IPv6)
  Tern                   context manager: writes a config, runs `tern -f`,
                         captures stderr, waits for readiness (bounded poll),
                         signals, exit status, RSS and fd count of the process
  TcpServer              base: threaded server, kill()/restart() on its port
  NameServer             backend that sends "<name>\\n", then echoes / holds /
                         closes; can be killed and restarted on the same port
  SourceServer           backend that sends N pattern bytes (optionally paced)
  SinkServer             backend that reads to EOF (optionally slowly), then
                         replies "<count> <sha256>\\n" (works with half-close)
  HttpServer             HTTP/1.x backend for `option httpchk`, status settable
  HttpBackend            HTTP/1.1 backend for mode http: keep-alive, Content-Length
                         and chunked bodies, 100-continue, records every request
                         and connection; behaviour chosen by path (see its doc)
  Nginx                  Debian's nginx as a real HTTP backend (access log with
                         connection ids)
  HttpReader             reads HTTP/1.x responses off a raw socket (pipelining)
  http_raw()             sends raw bytes, returns everything until EOF
  http_access_log()      tern's HTTP access-log lines, parsed
  parse_prometheus()     strict text-format 0.0.4 parser; raises on any line
                         that is not valid exposition syntax
  poll_until()           the only way tests wait: a predicate, a deadline
  client helpers         connect (optionally from a chosen 127.x.y.z source),
                         read a line, read to EOF

Nothing here sleeps to synchronise: every wait polls an observable condition
until a deadline and fails with a description of the last value seen.
"""

import hashlib
import http.client
import json
import math
import os
import random
import re
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

__all__ = [
    "TERN_BIN", "free_port", "ipv6_available", "poll_until", "Tern",
    "TcpServer", "NameServer", "SourceServer", "SinkServer", "HttpServer",
    "parse_prometheus", "PromParseError", "Metrics",
    "connect", "recv_line", "recv_all", "fetch_name", "pattern_bytes",
    "PatternStream", "TernError", "http_get", "cfg_head", "parallel_map",
    "wait_readable", "is_refused", "access_log", "ACCESS_RE",
    "HttpBackend", "HttpRequest", "Nginx", "HttpReader", "http_raw", "http_access_log",
    "HTTP_ACCESS_RE", "cfg_http", "find_nginx",
]

TERN_BIN = os.environ.get("TERN_BIN", "")


class TernError(Exception):
    pass


# --------------------------------------------------------------------------
# waiting


def poll_until(pred, timeout=5.0, interval=0.01, desc="condition"):
    """Calls pred() until it returns a truthy value (which is returned) or
    `timeout` seconds pass (AssertionError naming `desc` and the last value
    or exception). Exceptions from pred count as "not yet"."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            last = pred()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - reported on timeout
            last = e
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1fs waiting for %s (last: %r)"
                                 % (timeout, desc, last))
        time.sleep(interval)


# --------------------------------------------------------------------------
# ports and sockets


def ipv6_available():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        try:
            s.bind(("::1", 0))
            return True
        finally:
            s.close()
    except OSError:
        return False


_given_ports = set()
_port_lock = threading.Lock()


def free_port(host="127.0.0.1"):
    """A TCP port currently free on `host`, never returned twice by this
    process (so two calls in one test never collide)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(100):
        s = socket.socket(fam, socket.SOCK_STREAM)
        try:
            s.bind((host, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        with _port_lock:
            if port not in _given_ports:
                _given_ports.add(port)
                return port
    raise TernError("no free port")


def connect(port, host="127.0.0.1", src=None, timeout=5.0):
    """A connected TCP socket to host:port, optionally bound to source
    address `src` (e.g. "127.3.4.5") first. Raises OSError on failure
    (ConnectionRefusedError when nothing listens)."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        if src is not None:
            s.bind((src, 0))
        s.connect((host, port))
        return s
    except BaseException:
        s.close()
        raise


def recv_line(sock, limit=4096):
    """Reads up to and including b"\\n"; returns the line without it, or
    the partial data (possibly b"") at EOF."""
    buf = b""
    while not buf.endswith(b"\n") and len(buf) < limit:
        chunk = sock.recv(1)
        if not chunk:
            return buf
        buf += chunk
    return buf.rstrip(b"\n")


def recv_all(sock, limit=1 << 30):
    """Reads until EOF; returns the bytes."""
    out = bytearray()
    while len(out) < limit:
        chunk = sock.recv(65536)
        if not chunk:
            break
        out += chunk
    return bytes(out)


def fetch_name(port, host="127.0.0.1", src=None, timeout=5.0):
    """Connects through the proxy and returns the name line the backend
    sent (str), closing the connection afterwards."""
    s = connect(port, host=host, src=src, timeout=timeout)
    try:
        line = recv_line(s)
    finally:
        s.close()
    if not line:
        raise TernError("connection to port %d closed without a name" % port)
    return line.decode()


def http_get(port, path, host="127.0.0.1", timeout=5.0):
    """GET path; returns (status, headers dict lower-cased, body str)."""
    c = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        body = r.read().decode("utf-8", "replace")
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    finally:
        c.close()


# --------------------------------------------------------------------------
# deterministic payloads


_PATTERN = random.Random(0x7e27).randbytes(1 << 16)


def pattern_bytes(n, offset=0):
    """n bytes of the repeating test pattern, starting at `offset`."""
    out = bytearray()
    L = len(_PATTERN)
    while len(out) < n:
        o = (offset + len(out)) % L
        out += _PATTERN[o:o + min(L - o, n - len(out))]
    return bytes(out)


class PatternStream:
    """Hashes a byte stream incrementally (sha256) and counts it."""

    def __init__(self):
        self.h = hashlib.sha256()
        self.n = 0

    def update(self, data):
        self.h.update(data)
        self.n += len(data)

    def hexdigest(self):
        return self.h.hexdigest()

    @staticmethod
    def digest_of_pattern(n):
        p = PatternStream()
        L = len(_PATTERN)
        full, rest = divmod(n, L)
        for _ in range(full):
            p.update(_PATTERN)
        p.update(_PATTERN[:rest])
        return p.hexdigest()


# --------------------------------------------------------------------------
# tern process


class Tern:
    """Runs `TERN_BIN -f <config>` in the foreground.

        with Tern(cfg_text, admin_port=ap) as t:
            ...

    On enter: writes the config to a temp dir, starts tern with stderr to a
    file, waits (bounded) until stderr says "tern ready" and, when
    admin_port is given, GET /ready answers 200. If tern exits first, raises
    TernError with its stderr. On exit: SIGKILLs a still-running tern and,
    if the block raised, prints the tail of tern's stderr.
    """

    READY_MARK = "tern ready"

    def __init__(self, config, admin_port=None, ready_timeout=10.0, args=(),
                 wait_ready=True, env=None, rlimit_nofile=None):
        if not TERN_BIN:
            raise TernError("TERN_BIN is not set")
        self.config = config
        self.admin_port = admin_port
        self.ready_timeout = ready_timeout
        self.args = list(args)
        self.wait_ready = wait_ready
        self.env = env
        self.rlimit_nofile = rlimit_nofile  # soft = hard = this, if set
        self.proc = None
        self.dir = tempfile.mkdtemp(prefix="tern-e2e-",
                                    dir=os.environ.get("TEST_TMPDIR"))
        self.cfg_path = os.path.join(self.dir, "tern.cfg")
        self.err_path = os.path.join(self.dir, "stderr.log")
        self.returncode = None

    # -- life cycle
    def start(self):
        with open(self.cfg_path, "w") as f:
            f.write(self.config)
        self._errf = open(self.err_path, "wb")
        preexec = None
        if self.rlimit_nofile is not None:
            lim = self.rlimit_nofile

            def preexec():
                resource.setrlimit(resource.RLIMIT_NOFILE, (lim, lim))
        self.proc = subprocess.Popen([TERN_BIN, "-f", self.cfg_path] + self.args,
                                     stdin=subprocess.DEVNULL,
                                     stdout=self._errf, stderr=self._errf,
                                     env=self.env, preexec_fn=preexec)
        if self.wait_ready:
            self.wait_until_ready()
        return self

    def wait_until_ready(self, timeout=None):
        timeout = self.ready_timeout if timeout is None else timeout

        def ready():
            if self.proc.poll() is not None:
                raise TernError("tern exited with %s before ready; stderr:\n%s"
                                % (self.proc.returncode, self.stderr_text()))
            if self.READY_MARK not in self.stderr_text():
                return False
            if self.admin_port is not None:
                st, _, _ = http_get(self.admin_port, "/ready", timeout=1.0)
                return st == 200
            return True

        deadline = time.monotonic() + timeout
        while True:
            try:
                if ready():
                    return
            except TernError:
                raise
            except OSError:
                pass
            if time.monotonic() >= deadline:
                raise TernError("tern not ready after %.1fs; stderr:\n%s"
                                % (timeout, self.stderr_text()))
            time.sleep(0.01)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self._cleanup(failed=True)
            raise

    def __exit__(self, et, ev, tb):
        report = self._cleanup(failed=et is not None)
        if report and et is None:
            raise AssertionError("sanitizer report from tern:\n" + report)
        return False

    SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "WARNING: ThreadSanitizer",
                       "runtime error:", "tern: fatal:")

    def _cleanup(self, failed):
        """Stops tern if it still runs (SIGINT: its immediate but orderly
        stop, so sanitizer leak checks run), then returns the sanitizer or
        fatal report found in its stderr, or None."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                failed = True
                sys.stderr.write("tern did not exit within 15s of SIGINT\n")
        if self.proc is not None:
            self.returncode = self.proc.returncode
        if getattr(self, "_errf", None):
            self._errf.close()
        text = self.stderr_text()
        report = None
        for mark in self.SANITIZER_MARKS:
            i = text.find(mark)
            if i >= 0:
                report = text[max(0, i - 200):i + 4000]
                break
        if report:
            failed = True
        if failed:
            tail = self.stderr_text()[-6000:]
            sys.stderr.write("\n---- tern stderr (tail) ----\n%s\n---- config ----\n%s\n"
                             % (tail, self.config))
        shutil.rmtree(self.dir, ignore_errors=True)
        return report

    # -- observation
    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self):
        try:
            with open(self.err_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stderr_lines(self):
        return self.stderr_text().splitlines()

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=10.0):
        """Waits for tern to exit; returns its exit code (negative: signal).
        AssertionError if it is still running after `timeout`."""
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("tern still running %.1fs after the wait began;"
                                 " stderr tail:\n%s" % (timeout, self.stderr_text()[-3000:]))
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        """Sends `sig` and waits for exit; returns the exit code."""
        self.send_signal(sig)
        return self.wait_exit(timeout)

    def _status_field(self, key):
        with open("/proc/%d/status" % self.pid) as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        raise TernError("no %s in /proc/%d/status" % (key, self.pid))

    def rss_kb(self):
        """Resident set size in KiB (VmRSS)."""
        return self._status_field("VmRSS")

    def pss_anon_kb(self):
        """Pss_Anon from smaps_rollup, in KiB (private anonymous memory)."""
        with open("/proc/%d/smaps_rollup" % self.pid) as f:
            for line in f:
                if line.startswith("Pss_Anon:"):
                    return int(line.split()[1])
        raise TernError("no Pss_Anon")

    def fd_count(self):
        return len(os.listdir("/proc/%d/fd" % self.pid))

    def cpu_seconds(self):
        """User + system CPU time tern has used so far, in seconds."""
        with open("/proc/%d/stat" % self.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def threads(self):
        return self._status_field("Threads")

    def sanitized(self):
        """True when the running binary is built with AddressSanitizer or
        ThreadSanitizer (its memory figures then include redzones,
        quarantine or shadow memory)."""
        with open("/proc/%d/maps" % self.pid) as f:
            maps = f.read()
        return "libasan" in maps or "libtsan" in maps

    # -- admin API
    def admin_get(self, path, timeout=5.0):
        if self.admin_port is None:
            raise TernError("no admin port configured")
        return http_get(self.admin_port, path, timeout=timeout)

    def metrics(self):
        """Scrapes /stats/prometheus and returns the parsed Metrics (strict)."""
        st, hdrs, body = self.admin_get("/stats/prometheus")
        if st != 200:
            raise TernError("/stats/prometheus answered %d: %s" % (st, body[:200]))
        m = parse_prometheus(body)
        m.content_type = hdrs.get("content-type", "")
        return m

    def clusters(self):
        st, _, body = self.admin_get("/clusters")
        if st != 200:
            raise TernError("/clusters answered %d" % st)
        return json.loads(body)


# --------------------------------------------------------------------------
# backends


class TcpServer:
    """A threaded TCP server on a fixed port that can be killed (listener
    closed, live connections reset) and restarted on the same port."""

    def __init__(self, host="127.0.0.1", port=None, backlog=128):
        self.host = host
        self.port = port or free_port(host)
        self.backlog = backlog
        self.lock = threading.Lock()
        self.accepted = 0          # connections accepted, ever
        self.finished = 0          # handler threads finished
        self.active = set()        # live connection sockets
        self.peers = []            # peer addresses, in accept order
        self.errors = []           # exceptions from handlers
        self._lsock = None
        self._thread = None
        self._stop = threading.Event()
        self.start()

    def start(self):
        fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        ls = socket.socket(fam, socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((self.host, self.port))
        ls.listen(self.backlog)
        ls.settimeout(0.05)
        self._lsock = ls
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, args=(ls, self._stop),
                                        daemon=True)
        self._thread.start()
        return self

    def _accept_loop(self, ls, stop):
        while not stop.is_set():
            try:
                c, addr = ls.accept()
            except socket.timeout:
                continue
            except OSError:
                if stop.is_set():
                    break
                continue
            c.settimeout(None)
            with self.lock:
                self.accepted += 1
                self.active.add(c)
                self.peers.append(addr)
            threading.Thread(target=self._run, args=(c, addr), daemon=True).start()
        ls.close()

    def _run(self, c, addr):
        try:
            self.handle(c, addr)
        except OSError:
            pass
        except Exception as e:  # noqa: BLE001
            with self.lock:
                self.errors.append(e)
        finally:
            with self.lock:
                self.active.discard(c)
                self.finished += 1
            try:
                c.close()
            except OSError:
                pass

    def handle(self, c, addr):
        raise NotImplementedError

    def n_active(self):
        with self.lock:
            return len(self.active)

    def kill(self):
        """Stops listening (new connections are refused) and resets every
        live connection."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with self.lock:
            conns = list(self.active)
        for c in conns:
            try:
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                             b"\x01\x00\x00\x00\x00\x00\x00\x00")
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def restart(self):
        return self.start()

    close = kill

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.kill()
        return False


class NameServer(TcpServer):
    """Sends "<name>\\n" on accept, then:
      mode "echo":  echoes until EOF, then closes
      mode "close": closes at once
      mode "hold":  reads (discarding) until EOF, then closes
    """

    def __init__(self, name, mode="echo", **kw):
        self.name = name
        self.mode = mode
        self.bytes_in = 0   # received from tern
        self.bytes_out = 0  # sent to tern
        super().__init__(**kw)

    def handle(self, c, addr):
        msg = (self.name + "\n").encode()
        c.sendall(msg)
        with self.lock:
            self.bytes_out += len(msg)
        if self.mode == "close":
            return
        while True:
            d = c.recv(65536)
            if not d:
                return
            with self.lock:
                self.bytes_in += len(d)
            if self.mode == "echo":
                c.sendall(d)
                with self.lock:
                    self.bytes_out += len(d)


class SourceServer(TcpServer):
    """Sends `nbytes` pattern bytes to each connection, optionally paced to
    about `rate` bytes/s, then closes (or, with wait_eof, half-closes and
    waits for the peer's EOF). `sent` records what each connection sent."""

    def __init__(self, nbytes, rate=None, chunk=65536, wait_eof=False, **kw):
        self.nbytes = nbytes
        self.rate = rate
        self.chunk = chunk
        self.wait_eof = wait_eof
        self.sent = []
        self.started = threading.Event()
        super().__init__(**kw)

    def handle(self, c, addr):
        sent = 0
        t0 = time.monotonic()
        self.started.set()
        while sent < self.nbytes:
            n = min(self.chunk, self.nbytes - sent)
            c.sendall(pattern_bytes(n, sent))
            sent += n
            if self.rate:
                # pacing, not synchronisation: keep the source at `rate`
                ahead = sent / self.rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        with self.lock:
            self.sent.append(sent)
        if self.wait_eof:
            c.shutdown(socket.SHUT_WR)
            recv_all(c)


class SinkServer(TcpServer):
    """Reads until EOF (optionally paced to about `rate` bytes/s), then
    replies "<count> <sha256>\\n" and closes. `results` has (count, sha)
    per finished connection."""

    def __init__(self, rate=None, chunk=65536, reply=True, **kw):
        self.rate = rate
        self.chunk = chunk
        self.reply = reply
        self.results = []
        super().__init__(**kw)

    def handle(self, c, addr):
        ps = PatternStream()
        t0 = time.monotonic()
        while True:
            d = c.recv(self.chunk)
            if not d:
                break
            ps.update(d)
            if self.rate:
                ahead = ps.n / self.rate - (time.monotonic() - t0)
                if ahead > 0:
                    time.sleep(ahead)
        with self.lock:
            self.results.append((ps.n, ps.hexdigest()))
        if self.reply:
            c.sendall(("%d %s\n" % (ps.n, ps.hexdigest())).encode())


class HttpServer(TcpServer):
    """A minimal HTTP/1.x server: answers every request with `status` and
    body "<name>\\n", then closes. `requests` records (method, target,
    version) of each request line."""

    def __init__(self, name, status=200, **kw):
        self.name = name
        self.status = status
        self.requests = []
        super().__init__(**kw)

    def handle(self, c, addr):
        c.settimeout(5)
        buf = b""
        while b"\r\n\r\n" not in buf and b"\n\n" not in buf:
            d = c.recv(4096)
            if not d:
                break
            buf += d
            if len(buf) > 65536:
                return
        if not buf:
            return
        first = buf.split(b"\r\n", 1)[0].decode("latin-1").split()
        with self.lock:
            self.requests.append(tuple(first))
            status = self.status
        body = (self.name + "\n").encode()
        c.sendall(("HTTP/1.0 %d X\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                   % (status, len(body))).encode() + body)


# --------------------------------------------------------------------------
# Prometheus text exposition format 0.0.4


class PromParseError(ValueError):
    pass


_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def _parse_float(s):
    if s in ("+Inf", "Inf"):
        return math.inf
    if s == "-Inf":
        return -math.inf
    if s == "NaN":
        return math.nan
    if not re.fullmatch(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?", s):
        raise ValueError("bad float %r" % s)
    return float(s)


class Metrics:
    """Parsed exposition: samples [(name, labels dict, value)], types
    {family: type}, helps {family: text}."""

    def __init__(self):
        self.samples = []
        self.types = {}
        self.helps = {}
        self.content_type = ""

    def find(self, name, **labels):
        return [s for s in self.samples
                if s[0] == name and all(s[1].get(k) == v for k, v in labels.items())]

    def get(self, name, **labels):
        """The value of the one sample `name` whose labels include `labels`;
        KeyError if there is none or more than one."""
        f = self.find(name, **labels)
        if len(f) != 1:
            raise KeyError("%s%r: %d samples" % (name, labels, len(f)))
        return f[0][2]

    def value(self, name, default=None, **labels):
        try:
            return self.get(name, **labels)
        except KeyError:
            return default

    def sum(self, name, **labels):
        return sum(s[2] for s in self.find(name, **labels))

    def names(self):
        return sorted({s[0] for s in self.samples})


def _parse_labels(line, i, lineno):
    """Parses `{a="b",...}` starting at line[i] == '{'; returns (dict, end)."""
    labels = {}
    i += 1
    n = len(line)
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i < n and line[i] == "}":
            return labels, i + 1
        m = _LABEL_RE.match(line, i)
        if not m:
            raise PromParseError("line %d: bad label name at col %d: %r" % (lineno, i, line))
        lname = m.group(0)
        i = m.end()
        while i < n and line[i] in " \t":
            i += 1
        if i >= n or line[i] != "=":
            raise PromParseError("line %d: expected '=' after label %s: %r" % (lineno, lname, line))
        i += 1
        while i < n and line[i] in " \t":
            i += 1
        if i >= n or line[i] != '"':
            raise PromParseError("line %d: expected '\"' for label %s: %r" % (lineno, lname, line))
        i += 1
        val = []
        while True:
            if i >= n:
                raise PromParseError("line %d: unterminated label value: %r" % (lineno, line))
            ch = line[i]
            if ch == "\\":
                if i + 1 >= n or line[i + 1] not in '\\"n':
                    raise PromParseError("line %d: bad escape in label value: %r" % (lineno, line))
                val.append({"\\": "\\", '"': '"', "n": "\n"}[line[i + 1]])
                i += 2
            elif ch == '"':
                i += 1
                break
            else:
                val.append(ch)
                i += 1
        if lname in labels:
            raise PromParseError("line %d: duplicate label %s" % (lineno, lname))
        if lname.startswith("__"):
            raise PromParseError("line %d: reserved label name %s" % (lineno, lname))
        labels[lname] = "".join(val)
        while i < n and line[i] in " \t":
            i += 1
        if i < n and line[i] == ",":
            i += 1
            continue
        if i < n and line[i] == "}":
            return labels, i + 1
        raise PromParseError("line %d: expected ',' or '}' in labels: %r" % (lineno, line))


def _family_of(name, types):
    if name in types:
        return name
    for suf in ("_bucket", "_sum", "_count"):
        if name.endswith(suf):
            base = name[: -len(suf)]
            t = types.get(base)
            if t == "histogram" or (t == "summary" and suf != "_bucket"):
                return base
    return name


def parse_prometheus(text, prefix="tern_"):
    """Parses text exposition format 0.0.4 strictly, line by line:
    HELP/TYPE/comment/sample grammar, label escaping, float values, one
    TYPE/HELP per family given before its samples, each family's samples
    contiguous, no duplicate series, counters >= 0 and named *_total, every
    family starting with `prefix`, text ending in a newline. Raises
    PromParseError naming the line; returns Metrics."""
    m = Metrics()
    if text and not text.endswith("\n"):
        raise PromParseError("exposition does not end with a newline")
    seen_series = set()
    done_families = set()   # families whose group of lines has ended
    cur_family = None
    for lineno, line in enumerate(text.split("\n")[:-1] if text else [], 1):
        if line.strip() == "":
            continue
        if line.startswith("#"):
            parts = line[1:].lstrip(" \t").split(None, 2)
            if parts and parts[0] in ("HELP", "TYPE"):
                if len(parts) < 2 or not _NAME_RE.fullmatch(parts[1]):
                    raise PromParseError("line %d: bad %s line: %r" % (lineno, parts[0], line))
                fam = parts[1]
                if fam != cur_family:
                    if fam in done_families:
                        raise PromParseError("line %d: family %s not contiguous" % (lineno, fam))
                    if cur_family is not None:
                        done_families.add(cur_family)
                    cur_family = fam
                if parts[0] == "TYPE":
                    if len(parts) != 3 or parts[2].strip() not in _TYPES:
                        raise PromParseError("line %d: bad TYPE: %r" % (lineno, line))
                    if fam in m.types:
                        raise PromParseError("line %d: second TYPE for %s" % (lineno, fam))
                    if any(_family_of(s[0], {fam: parts[2].strip()}) == fam for s in m.samples):
                        raise PromParseError("line %d: TYPE for %s after its samples" % (lineno, fam))
                    m.types[fam] = parts[2].strip()
                else:
                    if fam in m.helps:
                        raise PromParseError("line %d: second HELP for %s" % (lineno, fam))
                    doc = parts[2] if len(parts) > 2 else ""
                    # HELP escapes: only \\ and \n
                    if re.search(r"\\[^\\n]", doc) or doc.endswith("\\") and not doc.endswith("\\\\"):
                        raise PromParseError("line %d: bad escape in HELP: %r" % (lineno, line))
                    m.helps[fam] = doc
            continue
        mm = _NAME_RE.match(line)
        if not mm:
            raise PromParseError("line %d: bad metric name: %r" % (lineno, line))
        name = mm.group(0)
        i = mm.end()
        labels = {}
        if i < len(line) and line[i] == "{":
            labels, i = _parse_labels(line, i, lineno)
        rest = line[i:]
        if not rest or rest[0] not in " \t":
            raise PromParseError("line %d: expected whitespace before value: %r" % (lineno, line))
        fields = rest.split()
        if len(fields) not in (1, 2):
            raise PromParseError("line %d: expected value [timestamp]: %r" % (lineno, line))
        try:
            value = _parse_float(fields[0])
        except ValueError:
            raise PromParseError("line %d: bad value %r" % (lineno, fields[0]))
        if len(fields) == 2 and not re.fullmatch(r"-?\d+", fields[1]):
            raise PromParseError("line %d: bad timestamp %r" % (lineno, fields[1]))
        fam = _family_of(name, m.types)
        if fam != cur_family:
            if fam in done_families:
                raise PromParseError("line %d: samples of %s not contiguous" % (lineno, fam))
            if cur_family is not None:
                done_families.add(cur_family)
            cur_family = fam
        key = (name, tuple(sorted(labels.items())))
        if key in seen_series:
            raise PromParseError("line %d: duplicate series %r" % (lineno, line))
        seen_series.add(key)
        t = m.types.get(fam, "untyped")
        if t == "counter":
            if value < 0 or math.isnan(value):
                raise PromParseError("line %d: counter %s has value %r" % (lineno, name, value))
            if not name.endswith("_total"):
                raise PromParseError("line %d: counter %s not named *_total" % (lineno, name))
        if prefix and not name.startswith(prefix):
            raise PromParseError("line %d: %s lacks the %s prefix" % (lineno, name, prefix))
        m.samples.append((name, labels, value))
    return m


# --------------------------------------------------------------------------
# config and client conveniences


def cfg_head(nbthread=1, admin_port=None, global_extra=(), defaults_extra=(),
             timeout_client="10s", timeout_server="10s", timeout_connect="2s"):
    """The global and defaults sections most tests share (mode tcp, short
    timeouts). Lines in *_extra are appended to their section."""
    g = ["global", "    nbthread %d" % nbthread]
    if admin_port is not None:
        g.append("    admin 127.0.0.1:%d" % admin_port)
    g += ["    " + x for x in global_extra]
    d = ["defaults", "    mode tcp",
         "    timeout connect %s" % timeout_connect,
         "    timeout client %s" % timeout_client,
         "    timeout server %s" % timeout_server]
    d += ["    " + x for x in defaults_extra]
    return "\n".join(g) + "\n\n" + "\n".join(d) + "\n\n"


def parallel_map(fn, items, threads=8):
    """[fn(x) for x in items], run on `threads` threads; re-raises the first
    exception. Results keep the order of `items`."""
    items = list(items)
    out = [None] * len(items)
    errs = []
    idx = iter(range(len(items)))
    lock = threading.Lock()

    def work():
        while True:
            with lock:
                if errs:
                    return
                i = next(idx, None)
            if i is None:
                return
            try:
                out[i] = fn(items[i])
            except BaseException as e:  # noqa: BLE001 - re-raised below
                with lock:
                    errs.append(e)
                return

    ts = [threading.Thread(target=work, daemon=True) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if errs:
        raise errs[0]
    return out


def wait_readable(sock, timeout):
    """True when `sock` becomes readable (data or EOF) within `timeout`."""
    r, _, _ = select.select([sock], [], [], timeout)
    return bool(r)


def is_refused(port, host="127.0.0.1"):
    """True if a connect to host:port is refused now (a connection that
    succeeds is closed at once)."""
    try:
        s = connect(port, host=host, timeout=2)
    except ConnectionRefusedError:
        return True
    s.close()
    return False


# --------------------------------------------------------------------------
# access log

ACCESS_RE = re.compile(
    r"^(?P<client>\S+) \[(?P<date>[^\]]+)\] (?P<frontend>\S+) (?P<backend>\S+)/(?P<server>\S+) "
    r"(?P<tw>-?\d+)/(?P<tc>-?\d+)/(?P<tt>\d+) (?P<bytes_in>\d+)/(?P<bytes_out>\d+) "
    r"(?P<state>\S\S) (?P<actconn>\d+)/(?P<feconn>\d+)/(?P<beconn>\d+)/(?P<srv_conn>\d+)/"
    r"(?P<retries>\d+) (?P<srv_queue>\d+)/(?P<backend_queue>\d+) reason=(?P<reason>\S+)"
    r"(?: peer=(?P<peer>\S+))?$")


def access_log(text, frontend=None):
    """The access-log lines in tern's stderr `text`, parsed into dicts
    (numbers as int), optionally only those of `frontend`."""
    out = []
    for line in text.splitlines():
        m = ACCESS_RE.match(line)
        if not m:
            continue
        d = m.groupdict()
        for k in ("tw", "tc", "tt", "bytes_in", "bytes_out", "actconn", "feconn", "beconn",
                  "srv_conn", "retries", "srv_queue", "backend_queue"):
            d[k] = int(d[k])
        if frontend is None or d["frontend"] == frontend:
            out.append(d)
    return out


# --------------------------------------------------------------------------
# mode http: backends, raw clients, access log


class _Reader:
    """Buffered reads off a socket: lines, exact lengths, up to a marker."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise EOFError("peer closed")
        self.buf += d

    def until(self, marker, limit=1 << 20):
        while True:
            i = self.buf.find(marker)
            if i >= 0:
                out = bytes(self.buf[:i + len(marker)])
                del self.buf[:i + len(marker)]
                return out
            if len(self.buf) > limit:
                raise ValueError("no %r within %d bytes" % (marker, limit))
            self._fill()

    def exact(self, n, sink=None):
        """n bytes; returned, or passed to sink(chunk) when given."""
        out = bytearray()
        while n > 0:
            if not self.buf:
                self._fill()
            k = min(n, len(self.buf))
            chunk = bytes(self.buf[:k])
            del self.buf[:k]
            n -= k
            if sink:
                sink(chunk)
            else:
                out += chunk
        return bytes(out)

    def rest(self, sink=None):
        """Everything until EOF."""
        out = bytearray(self.buf)
        self.buf.clear()
        while True:
            d = self.sock.recv(65536)
            if not d:
                break
            if sink:
                sink(d)
            else:
                out += d
        if sink and out:
            sink(bytes(out))
            return b""
        return bytes(out)


def _parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    start = lines[0]
    headers = []
    for ln in lines[1:]:
        if not ln:
            continue
        k, _, v = ln.partition(":")
        headers.append((k, v.strip(" \t")))
    return start, headers


def _hget(headers, name, default=None):
    for k, v in headers:
        if k.lower() == name.lower():
            return v
    return default


def _read_body(r, headers, sink=None, allow_close=False):
    """Reads a body framed by headers; returns (body, trailers)."""
    te = _hget(headers, "transfer-encoding")
    if te and te.lower().endswith("chunked"):
        out = bytearray()
        while True:
            line = r.until(b"\r\n").decode("latin-1").strip()
            size = int(line.split(";")[0], 16)
            if size == 0:
                break
            data = r.exact(size, sink)
            if not sink:
                out += data
            r.exact(2)
        trailers = []
        while True:
            line = r.until(b"\r\n")
            if line == b"\r\n":
                break
            k, _, v = line.decode("latin-1").partition(":")
            trailers.append((k, v.strip()))
        return bytes(out), trailers
    cl = _hget(headers, "content-length")
    if cl is not None:
        return r.exact(int(cl), sink), []
    if allow_close:
        return r.rest(sink), []
    return b"", []


class HttpRequest:
    """One request as HttpBackend received it."""

    def __init__(self, method, target, version, headers, conn):
        self.method = method
        self.target = target
        self.version = version
        self.headers = headers          # [(name, value)] in order
        self.conn = conn                # index of the connection (accept order)
        self.body = b""
        self.body_len = 0
        self.body_sha = hashlib.sha256().hexdigest()
        self.trailers = []

    def header(self, name, default=None):
        return _hget(self.headers, name, default)

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def __repr__(self):
        return "<%s %s %s conn=%d>" % (self.method, self.target, self.version, self.conn)


class HttpBackend(TcpServer):
    """An HTTP/1.1 backend. Keeps connections alive unless the request says
    close (or is HTTP/1.0 without keep-alive); decodes Content-Length and
    chunked bodies (recording trailers); answers Expect: 100-continue with
    a 100 first (unless send_100=False). `requests` records every request
    (HttpRequest) in arrival order; `accepted` counts connections.

    Answers by path (query ignored):
      /echo           the request body, Content-Length
      /sink           the body hashed, "<len> <sha256>" (body not kept)
      /big/<n>        n pattern bytes, Content-Length, streamed
      /chunked/<n>    n pattern bytes in 1000-byte chunks, trailer X-Sum
      /status/<code>  that status; no body for 1xx/204/304 or HEAD
      /headers        the request's fields, one "name: value" a line
      /slow/<ms>      200 after <ms> milliseconds
      /close          closes the connection without answering
      /reset          resets the connection without answering
      /garbage        an invalid response
      /junkafter      a valid response followed by stray bytes
      anything else   200 "<name> <method> <target>\\n"
    `hook(req)` may return raw response bytes (sent as they are), a tuple
    (bytes, "close") to send them and close, "close", or None (default
    behaviour)."""

    def __init__(self, name="b", send_100=True, hook=None, keep_body=True, **kw):
        self.name = name
        self.send_100 = send_100
        self.hook = hook
        self.keep_body = keep_body
        self.requests = []
        self.conn_count = 0
        super().__init__(**kw)

    def handle(self, c, addr):
        with self.lock:
            conn = self.conn_count
            self.conn_count += 1
        r = _Reader(c)
        while True:
            try:
                head = r.until(b"\r\n\r\n", limit=1 << 20)
            except (EOFError, ValueError):
                return
            start, headers = _parse_head(head)
            parts = start.split(" ")
            if len(parts) != 3:
                return
            req = HttpRequest(parts[0], parts[1], parts[2], headers, conn)
            with self.lock:
                self.requests.append(req)
            if (req.header("expect", "").lower() == "100-continue" and self.send_100
                    and not req.target.startswith("/status/")):
                c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            path = req.target.split("?", 1)[0]
            if path.startswith("/status/") and req.header("expect"):
                # answer without reading the body (a server may)
                code = int(path.split("/")[2])
                c.sendall(b"HTTP/1.1 %d X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                          % code)
                return
            ps = PatternStream()
            sink = ps.update if (path == "/sink" or not self.keep_body) else None
            try:
                body, req.trailers = _read_body(r, headers, sink)
            except (EOFError, ValueError):
                return
            if sink:
                req.body_len, req.body_sha = ps.n, ps.hexdigest()
            else:
                req.body = body
                req.body_len = len(body)
                req.body_sha = hashlib.sha256(body).hexdigest()
            conn_hdr = (req.header("connection") or "").lower()
            close = "close" in conn_hdr or (req.version == "HTTP/1.0"
                                             and "keep-alive" not in conn_hdr)
            out = self.hook(req) if self.hook else None
            if out == "close":
                return
            if isinstance(out, tuple):
                c.sendall(out[0])
                return
            if out is not None:
                c.sendall(out)
                if close:
                    return
                continue
            if not self.respond(c, req, path, close):
                return
            if close:
                return

    def respond(self, c, req, path, close):
        """Sends the default answer; False when the connection must end."""
        ch = b"Connection: close\r\n" if close else b""
        head_only = req.method == "HEAD"
        if path == "/close":
            return False
        if path == "/reset":
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return False
        if path == "/garbage":
            c.sendall(b"NOT HTTP AT ALL\r\n\r\n")
            return False
        if path == "/echo":
            body = req.body
        elif path == "/sink":
            body = ("%d %s" % (req.body_len, req.body_sha)).encode()
        elif path.startswith("/big/"):
            n = int(path.split("/")[2])
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (n, ch))
            if not head_only:
                off = 0
                while off < n:
                    k = min(1 << 20, n - off)
                    c.sendall(pattern_bytes(k, off))
                    off += k
            return True
        elif path.startswith("/chunked/"):
            n = int(path.split("/")[2])
            c.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n%s\r\n"
                      % ch)
            if head_only:
                return True
            data = pattern_bytes(n)
            out = bytearray()
            for i in range(0, n, 1000):
                part = data[i:i + 1000]
                out += b"%x\r\n" % len(part) + part + b"\r\n"
                if len(out) > 1 << 20:
                    c.sendall(out)
                    out = bytearray()
            out += b"0\r\nX-Sum: %s\r\n\r\n" % hashlib.sha256(data).hexdigest().encode()
            c.sendall(out)
            return True
        elif path.startswith("/status/"):
            code = int(path.split("/")[2])
            if code in (204, 304) or code < 200:
                c.sendall(b"HTTP/1.1 %d X\r\n%s\r\n" % (code, ch))
                return True
            body = b"status %d\n" % code
            c.sendall(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n%s\r\n" % (code, len(body), ch)
                      + (b"" if head_only else body))
            return True
        elif path == "/headers":
            body = "".join("%s: %s\n" % kv for kv in req.headers).encode("latin-1")
        elif path.startswith("/slow/"):
            time.sleep(int(path.split("/")[2]) / 1000.0)  # behaviour, not synchronisation
            body = b"slow\n"
        elif path == "/junkafter":
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabcJUNK")
            return True
        else:
            body = ("%s %s %s\n" % (self.name, req.method, req.target)).encode()
        c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n" % (len(body), ch)
                  + (b"" if head_only else body))
        return True

    def seen(self):
        """Targets of the requests received so far."""
        with self.lock:
            return [q.target for q in self.requests]


class HttpReader:
    """Reads responses off a raw client socket, in order (pipelining)."""

    def __init__(self, sock):
        self.r = _Reader(sock)

    def response(self, method="GET", sink=None):
        """(status, headers [(name, value)], body, trailers). Skips nothing:
        interim (1xx) responses are returned like others."""
        head = self.r.until(b"\r\n\r\n")
        start, headers = _parse_head(head)
        status = int(start.split(" ")[1])
        if method == "HEAD" or status in (204, 304) or status < 200:
            return status, headers, b"", []
        close = (_hget(headers, "connection") or "").lower() == "close"
        body, trailers = _read_body(self.r, headers, sink, allow_close=close)
        return status, headers, body, trailers


def http_raw(port, data, timeout=5.0, host="127.0.0.1"):
    """Sends `data` on a new connection and returns every byte received until
    the peer closes (or `timeout` passes without a byte)."""
    s = connect(port, host=host, timeout=timeout)
    try:
        s.sendall(data)
        out = bytearray()
        while True:
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not d:
                break
            out += d
        return bytes(out)
    finally:
        s.close()


HTTP_ACCESS_RE = re.compile(
    r"^(?P<client>\S+) \[(?P<date>[^\]]+)\] (?P<frontend>\S+) (?P<backend>\S+)/(?P<server>\S+) "
    r"(?P<tr>-?\d+)/(?P<tw>-?\d+)/(?P<tc>-?\d+)/(?P<tr_srv>-?\d+)/(?P<ta>\d+) "
    r"(?P<status>-?\d+) (?P<bytes>\d+) - - (?P<state>\S{4}) "
    r"(?P<actconn>\d+)/(?P<feconn>\d+)/(?P<beconn>\d+)/(?P<srv_conn>\d+)/(?P<retries>\d+) "
    r"(?P<srv_queue>\d+)/(?P<backend_queue>\d+) \"(?P<request>[^\"]*)\" reason=(?P<reason>\S+)"
    r"(?: peer=(?P<peer>\S+))?$")


def http_access_log(text, frontend=None):
    """tern's HTTP access-log lines (HAProxy's httplog fields plus
    reason=...) in `text`, parsed into dicts (numbers as int)."""
    out = []
    for line in text.splitlines():
        m = HTTP_ACCESS_RE.match(line)
        if not m:
            continue
        d = m.groupdict()
        for k in ("tr", "tw", "tc", "tr_srv", "ta", "status", "bytes", "actconn", "feconn",
                  "beconn", "srv_conn", "retries", "srv_queue", "backend_queue"):
            d[k] = int(d[k])
        if frontend is None or d["frontend"] == frontend:
            out.append(d)
    return out


def cfg_http(nbthread=1, admin_port=None, global_extra=(), defaults_extra=(),
             timeout_client="10s", timeout_server="10s", timeout_connect="2s"):
    """cfg_head() for mode http."""
    return cfg_head(nbthread, admin_port, global_extra, defaults_extra, timeout_client,
                    timeout_server, timeout_connect).replace("    mode tcp\n",
                                                             "    mode http\n")


def find_nginx():
    for p in (shutil.which("nginx"), "/usr/sbin/nginx", "/usr/bin/nginx"):
        if p and os.access(p, os.X_OK):
            return p
    return None


class Nginx:
    """Debian's nginx (installed by bazel/setup.sh) on a free loopback port:
    `locations` is the text of the server block. The access log records
    "<connection id> <method> <uri> <status> <body bytes received>", so a
    test can count the TCP connections tern opened (connections())."""

    def __init__(self, locations='location / { return 200 "nginx $request_method $uri\\n"; }',
                 port=None, listen_opts="", server_extra=""):
        self.bin = find_nginx()
        if not self.bin:
            raise TernError("nginx is not installed (bash bazel/setup.sh installs nginx-light)")
        self.port = port or free_port()
        self.dir = tempfile.mkdtemp(prefix="tern-nginx-", dir=os.environ.get("TEST_TMPDIR"))
        self.log = os.path.join(self.dir, "access.log")
        # as root, nginx hands its temp dirs to "nobody", which a sandbox's
        # user namespace may not map: keep them (and the workers) ours
        user = ""
        if os.geteuid() == 0:
            import grp
            import pwd
            user = "user %s %s;" % (pwd.getpwuid(0).pw_name, grp.getgrgid(0).gr_name)
        conf = """
%(user)s
worker_processes 1;
daemon off;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log;
events { worker_connections 1024; }
http {
    log_format tern '$connection $request_method $uri $status $request_length';
    access_log %(d)s/access.log tern;
    client_body_temp_path %(d)s/body;
    proxy_temp_path %(d)s/proxy;
    fastcgi_temp_path %(d)s/fcgi;
    uwsgi_temp_path %(d)s/uwsgi;
    scgi_temp_path %(d)s/scgi;
    keepalive_requests 100000;
    keepalive_timeout 60s;
    client_max_body_size 0;
    server {
        listen 127.0.0.1:%(port)d %(lopts)s;
        %(sx)s
        %(loc)s
    }
}
""" % {"d": self.dir, "port": self.port, "loc": locations, "user": user,
       "lopts": listen_opts, "sx": server_extra}
        self.conf = os.path.join(self.dir, "nginx.conf")
        with open(self.conf, "w") as f:
            f.write(conf)
        self.errf = open(os.path.join(self.dir, "stderr.log"), "wb")
        self.proc = subprocess.Popen([self.bin, "-p", self.dir, "-c", self.conf],
                                     stdin=subprocess.DEVNULL, stdout=self.errf,
                                     stderr=self.errf)

        def up():
            if self.proc.poll() is not None:
                raise TernError("nginx exited: %s" % self._errors())
            s = connect(self.port, timeout=1)
            s.close()
            return True
        poll_until(up, timeout=10, desc="nginx listening")

    def _errors(self):
        out = ""
        for name in ("stderr.log", "error.log"):
            try:
                with open(os.path.join(self.dir, name)) as f:
                    out += f.read()[-2000:]
            except OSError:
                pass
        return out

    def entries(self):
        """Access-log entries: [(connection id, method, uri, status)]."""
        try:
            with open(self.log) as f:
                return [tuple(ln.split()[:4]) for ln in f if ln.strip()]
        except OSError:
            return []

    def connections(self):
        return {e[0] for e in self.entries()}

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.errf.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()
        return False
