"""
End-to-end harness for tripki: the real binary, separate processes, 127.0.0.1.

Every test gets a Ctx: a fresh temporary directory, a deadline, and the list
of processes and sockets it started.  Whatever happens (failure, exception,
timeout), Ctx.cleanup() kills every process the test started (each runs in a
process group of its own, so children go too), closes the sockets and
removes the directory.  Every wait in here is bounded by a timeout and by
the test's deadline: no test can hang.

Timeouts are multiplied by SCALE: 1 for a plain build, 3 for a sanitizer
build (detected in the binary), or E2E_SCALE from the environment.
"""

import os
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time

TRIPKI = os.environ.get("TRIPKI", "")
HOST = "127.0.0.1"

# Frame layout (docs/PROTOCOL.md): version u8 | type u8 | body length u32 BE.
PROTO_VERSION = 1
FRAME_HEADER_LEN = 6
FRAME_MAX = 65536
MERROR = 0x10


# Every live test context, so that an interrupted run can still kill what
# it started and remove its directories.
LIVE = set()
LIVE_LOCK = threading.RLock()
STOPPING = [False]


def kill_everything():
    """Stops all: no process starts after this, every one started dies."""
    with LIVE_LOCK:
        STOPPING[0] = True
        ctxs = list(LIVE)
    for c in ctxs:
        c.cleanup()


class TestFailure(Exception):
    pass


class Skip(Exception):
    pass


class PortConflict(Exception):
    """A daemon could not bind the port picked for it: retry the test."""


def _detect_scale():
    env = os.environ.get("E2E_SCALE")
    if env:
        return float(env)
    try:
        with open(TRIPKI, "rb") as f:
            data = f.read()
        if b"__asan_init" in data or b"__ubsan_handle" in data:
            return 3.0
    except OSError:
        pass
    return 1.0


SCALE = _detect_scale()


# ---------------------------------------------------------------- ports

class _Ports:
    """Ports from a per-run random base in 20000-32000 (below the kernel's
    ephemeral range, so outgoing connections never take them), each checked
    free by binding it before it is handed out."""

    def __init__(self):
        self.lock = threading.Lock()
        self.next = random.randrange(20000, 32000)

    def take(self):
        with self.lock:
            for _ in range(2000):
                p = self.next
                self.next += 1
                if self.next >= 33000:
                    self.next = 20000
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                try:
                    s.bind((HOST, p))
                except OSError:
                    continue
                finally:
                    s.close()
                return p
        raise TestFailure("no free port found in 20000-33000")


PORTS = _Ports()


def free_port():
    return PORTS.take()


# ---------------------------------------------------------------- processes

class Proc:
    """A process of the test: own process group, output in files."""

    def __init__(self, ctx, name, args, env=None):
        self.ctx = ctx
        self.name = name
        self.args = [str(a) for a in args]
        self.out_path = os.path.join(ctx.logdir, name + ".out")
        self.err_path = os.path.join(ctx.logdir, name + ".err")
        full_env = dict(os.environ)
        full_env.pop("TRIPKI_CLOCK_OFFSET_MS", None)
        if env:
            full_env.update({k: str(v) for k, v in env.items()})
        with LIVE_LOCK:
            if STOPPING[0]:
                raise TestFailure("the run is being stopped")
            with open(self.out_path, "wb") as o, \
                    open(self.err_path, "wb") as e:
                self.p = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                          stdout=o, stderr=e, env=full_env,
                                          cwd=ctx.dir, start_new_session=True)
            self.pid = self.p.pid
            self.started = time.monotonic()
            ctx.procs.append(self)

    # -- state
    def poll(self):
        return self.p.poll()

    def running(self):
        return self.p.poll() is None

    @property
    def rc(self):
        return self.p.returncode

    def stdout(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def out_lines(self):
        return [l for l in self.stdout().splitlines()]

    def err_lines(self):
        return [l for l in self.stderr().splitlines() if l.strip()]

    def cmdline(self):
        return " ".join(self.args)

    def tail(self, n=3):
        lines = self.err_lines()
        return " | ".join(lines[-n:]) if lines else "(no stderr)"

    # -- control
    def signal(self, sig):
        if self.running():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self):
        """SIGKILL the process group this process leads (only ours), as
        long as the leader is not reaped: its pid, and so the group id,
        cannot have been reused."""
        if self.p.poll() is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def wait(self, timeout):
        """Waits for exit; fails the test (and kills) after timeout s."""
        t = self.ctx.clip(timeout)
        try:
            return self.p.wait(timeout=t)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TestFailure("%s did not exit within %.1fs (%s); stderr: %s"
                              % (self.name, t, self.cmdline(), self.tail()))

    def wait_for(self, pred, timeout, what, stop_on_exit=True):
        """Polls pred() until true; fails after timeout s or, when
        stop_on_exit, as soon as the process has exited and pred is
        still false."""
        t = self.ctx.clip(timeout)
        end = time.monotonic() + t
        while True:
            v = pred()
            if v:
                return v
            if stop_on_exit and not self.running():
                v = pred()
                if v:
                    return v
                raise TestFailure("%s exited (status %s) before %s; stderr: %s"
                                  % (self.name, self.rc, what, self.tail()))
            if time.monotonic() >= end:
                raise TestFailure("%s: no %s within %.1fs; stderr: %s"
                                  % (self.name, what, t, self.tail()))
            time.sleep(0.05)

    def wait_stderr(self, regex, timeout, flags=re.I | re.M,
                    stop_on_exit=True):
        rx = re.compile(regex, flags)
        return self.wait_for(lambda: rx.search(self.stderr()), timeout,
                             "stderr line matching /%s/" % regex,
                             stop_on_exit)

    def wait_stdout_lines(self, n, timeout):
        return self.wait_for(lambda: len(self.out_lines()) >= n, timeout,
                             "%d line(s) on stdout" % n)


class Result:
    def __init__(self, proc):
        self.proc = proc
        self.rc = proc.rc
        self.out = proc.stdout()
        self.err = proc.stderr()

    @property
    def out_lines(self):
        return self.out.splitlines()

    @property
    def err_lines(self):
        return [l for l in self.err.splitlines() if l.strip()]

    def describe(self):
        return ("`%s` -> status %s, stdout %r, stderr %r"
                % (self.proc.cmdline(), self.rc, self.out[-300:],
                   self.err[-500:]))


# ---------------------------------------------------------------- context

SANITIZER_RX = re.compile(r"ERROR: (Address|Leak|Thread|Memory)Sanitizer|"
                          r"runtime error:|SUMMARY: UndefinedBehavior")


class Ctx:
    def __init__(self, name, budget):
        self.name = name
        if STOPPING[0]:
            raise TestFailure("the run is being stopped")
        # A neutral name: log lines quoting paths must not match the
        # words tests look for.
        self.dir = tempfile.mkdtemp(prefix="tripki-e2e-")
        self.logdir = os.path.join(self.dir, "logs")
        os.mkdir(self.logdir)
        self.deadline = time.monotonic() + budget * SCALE
        self.procs = []
        self.socks = []
        self.names = {}
        self.cleaned = False
        with LIVE_LOCK:
            if STOPPING[0]:
                shutil.rmtree(self.dir, ignore_errors=True)
                raise TestFailure("the run is being stopped")
            LIVE.add(self)

    # -- time
    def remaining(self):
        return self.deadline - time.monotonic()

    def clip(self, timeout):
        """A timeout scaled for slow builds and clipped to the deadline."""
        r = self.remaining()
        if r <= 0:
            raise TestFailure("test deadline passed")
        return max(0.1, min(timeout * SCALE, r))

    def sleep(self, s):
        time.sleep(min(s, max(0, self.remaining())))

    # -- paths
    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def mkdir(self, name):
        p = self.path(name)
        os.makedirs(p, exist_ok=True)
        return p

    def _unique(self, name):
        n = self.names.get(name, 0)
        self.names[name] = n + 1
        return name if n == 0 else "%s.%d" % (name, n)

    # -- processes
    def spawn(self, name, args, env=None):
        return Proc(self, self._unique(name), [TRIPKI] + list(args), env)

    def spawn_raw(self, name, args, env=None):
        return Proc(self, self._unique(name), list(args), env)

    def run(self, name, args, timeout=30, env=None):
        p = self.spawn(name, args, env)
        p.wait(timeout)
        return Result(p)

    def run_raw(self, name, args, timeout=30, env=None):
        p = self.spawn_raw(name, args, env)
        p.wait(timeout)
        return Result(p)

    def connect(self, port, timeout=5):
        s = socket.create_connection((HOST, port), timeout=self.clip(timeout))
        self.socks.append(s)
        return s

    # -- end
    def sanitizer_reports(self):
        bad = []
        for p in self.procs:
            try:
                err = p.stderr()
            except OSError:
                continue
            m = SANITIZER_RX.search(err)
            if m:
                line = err[m.start():].splitlines()[0]
                bad.append("%s: %s" % (p.name, line.strip()))
        return bad

    def cleanup(self, keep=False):
        with LIVE_LOCK:
            LIVE.discard(self)
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
        for p in self.procs:
            p.kill()
        if not keep:
            shutil.rmtree(self.dir, ignore_errors=True)
        self.cleaned = True


# ---------------------------------------------------------------- assertions

def check(cond, msg, *args):
    if not cond:
        raise TestFailure(msg % args if args else msg)


def expect_rc(res, want, what=""):
    if res.rc != want:
        raise TestFailure("%sexpected status %s, got %s"
                          % (what + ": " if what else "", want,
                             res.describe()))


def one_line(res, what):
    """The failure is one line on stderr; returns it."""
    lines = res.err_lines
    if len(lines) != 1:
        raise TestFailure("%s: expected exactly one line on stderr, got %d: %s"
                          % (what, len(lines), res.describe()))
    return lines[0]


def failure_line(res, what):
    """A failure is one error line on stderr (info lines may come around
    it); returns it."""
    errs = [l for l in res.err_lines if re.search(r"\berror:", l)]
    if len(errs) != 1:
        raise TestFailure("%s: expected one error line on stderr, got %d: %s"
                          % (what, len(errs), res.describe()))
    return errs[0]


def wait_port(ctx, port, proc, timeout):
    """Until a TCP connect to port succeeds.  If the process exits first
    complaining about the address, it is a port conflict."""
    t = ctx.clip(timeout)
    end = time.monotonic() + t
    while True:
        if proc is not None and not proc.running():
            if re.search(r"in use", proc.stderr(), re.I):
                raise PortConflict("%s: %s" % (proc.name, proc.tail(1)))
            raise TestFailure("%s exited (status %s) before listening on "
                              "port %d; stderr: %s"
                              % (proc.name, proc.rc, port, proc.tail()))
        try:
            s = socket.create_connection((HOST, port), timeout=1)
            s.close()
            return
        except OSError:
            pass
        if time.monotonic() >= end:
            raise TestFailure("nothing listening on port %d within %.1fs%s"
                              % (port, t, "; %s stderr: %s" % (
                                  proc.name, proc.tail()) if proc else ""))
        time.sleep(0.05)


# ---------------------------------------------------------------- frames

def frame(ftype, body, version=PROTO_VERSION, length=None):
    if length is None:
        length = len(body)
    return bytes([version, ftype]) + length.to_bytes(4, "big") + body


def read_answer(ctx, sock, timeout):
    """Reads until the peer closes or timeout.  Returns (bytes, closed)."""
    t = ctx.clip(timeout)
    end = time.monotonic() + t
    buf = b""
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return buf, False
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            return buf, False
        except ConnectionResetError:
            return buf, True
        except OSError:
            return buf, True
        if not chunk:
            return buf, True
        buf += chunk


def parse_frames(buf):
    """Splits bytes into (type, body) frames; a tail that is not a whole
    frame comes back as the second value."""
    out = []
    while len(buf) >= FRAME_HEADER_LEN:
        n = int.from_bytes(buf[2:6], "big")
        if len(buf) < FRAME_HEADER_LEN + n:
            break
        out.append((buf[0], buf[1],
                    buf[FRAME_HEADER_LEN:FRAME_HEADER_LEN + n]))
        buf = buf[FRAME_HEADER_LEN + n:]
    return out, buf
