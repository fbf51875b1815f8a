#!/usr/bin/env python3
"""
tripki end-to-end tests: the real `tripki` binary as separate processes on
127.0.0.1.  Run through tests/e2e/run.sh (TRIPKI=/abs/path/to/tripki).

    tests/e2e/run.sh [-j JOBS] [-k SUBSTRING]... [-v] [--keep]

Prints "ok NAME" or "FAIL NAME: reason" per test, then "N passed, N failed"
(", N skipped" when a test had to be skipped, with its reason).
"""

import itertools
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from harness import (FRAME_MAX, HOST, MERROR, PROTO_VERSION, SCALE,  # noqa
                     TRIPKI, Ctx, PortConflict, Result, Skip, TestFailure,
                     check, expect_rc, failure_line, frame, free_port,
                     kill_everything, one_line, parse_frames, read_answer,
                     wait_port)

# Exit statuses, as README.md and docs/tripki.1 document them.
EXIT_OK = 0
EXIT_USAGE = 1        # bad flag or argument
EXIT_FAIL = 2         # local failure: file, address, key
EXIT_EXPIRED = 3      # session expired and --no-renew
EXIT_REFUSED = 4      # the peer refused (error frame, status)
EXIT_UNREACHABLE = 5  # no answer within --retry-for
EXIT_REJECTED = 6     # we refused the peer: certificate, clock

# The seeds' values, the command's defaults.
CA_ID = "ID-CA"
SERVER_ID = "ID-Server"
CLIENT_ID = "ID-Client"
DEFAULT_DATA = "take cis3319 class this morning"

# Message types.
M1, M2, M3, M4, M5, M6, M7, M8 = range(1, 9)

TESTS = []


def test(name, budget=60):
    def deco(fn):
        TESTS.append((name, budget, fn))
        return fn
    return deco


def addr(port):
    return "%s:%d" % (HOST, port)


# ---------------------------------------------------------------- fixtures

_golden = {"dir": None, "lock": threading.Lock(), "err": None}
SESSION_DIR = None


def ca_dir(ctx, name="ca"):
    """A copy of a CA directory made once per run with `tripki ca init`
    (modes kept): saves a key generation per test."""
    with _golden["lock"]:
        if _golden["dir"] is None and _golden["err"] is None:
            d = os.path.join(SESSION_DIR, "golden-ca")
            r = subprocess.run([TRIPKI, "ca", "init", "--dir", d],
                               stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               timeout=60 * SCALE)
            if r.returncode != 0 or not os.path.exists(
                    os.path.join(d, "ca.crt")):
                _golden["err"] = ("`tripki ca init --dir %s` -> status %s: %s"
                                  % (d, r.returncode,
                                     r.stderr.decode(errors="replace")[-300:]))
            else:
                _golden["dir"] = d
        if _golden["err"]:
            raise TestFailure(_golden["err"])
    dst = ctx.path(name)
    shutil.copytree(_golden["dir"], dst)
    os.chmod(dst, 0o700)
    return dst


def ca_init(ctx, name="ca", extra=()):
    d = ctx.path(name)
    r = ctx.run("ca-init", ["ca", "init", "--dir", d] + list(extra), 60)
    expect_rc(r, 0, "ca init")
    return d


class Daemon:
    def __init__(self, proc, port, dir_):
        self.proc = proc
        self.port = port
        self.dir = dir_

    @property
    def addr(self):
        return addr(self.port)


def spawn_ca(ctx, cadir, port=None, open_=True, extra=(), env=None):
    port = port or free_port()
    args = ["ca", "serve", "--dir", cadir, "--listen", addr(port)]
    if open_:
        args.append("--open")
    return Daemon(ctx.spawn("ca", args + list(extra), env), port, cadir)


def start_ca(ctx, cadir, **kw):
    d = spawn_ca(ctx, cadir, **kw)
    wait_port(ctx, d.port, d.proc, 20)
    return d


def spawn_server(ctx, ca_port, cadir, sdir=None, sid=SERVER_ID, port=None,
                 data=None, data_dir=None, lifetime=None, extra=(), env=None,
                 name="server"):
    port = port or free_port()
    sdir = sdir or ctx.path("srv")
    args = ["server", "--dir", sdir, "--id", sid, "--ca", addr(ca_port),
            "--ca-cert", os.path.join(cadir, "ca.crt"),
            "--listen", addr(port)]
    if data is not None:
        args += ["--data", data]
    if data_dir is not None:
        args += ["--data-dir", data_dir]
    if lifetime is not None:
        args += ["--lifetime", str(lifetime)]
    return Daemon(ctx.spawn(name, args + list(extra), env), port, sdir)


def start_server(ctx, ca_port, cadir, **kw):
    """A server registered with the CA and listening."""
    d = spawn_server(ctx, ca_port, cadir, **kw)
    crt = os.path.join(d.dir, "server.crt")
    d.proc.wait_for(lambda: os.path.exists(crt), 30, "server.crt")
    wait_port(ctx, d.port, d.proc, 20)
    return d


def client_args(server_port, cadir, cid=CLIENT_ID, server_id=SERVER_ID,
                request=None, retry_for=30, extra=()):
    args = ["client", "--id", cid, "--server", addr(server_port),
            "--server-id", server_id,
            "--ca-cert", os.path.join(cadir, "ca.crt")]
    if request is not None:
        args += ["--request", request]
    if retry_for is not None:
        args += ["--retry-for", str(retry_for)]
    return args + list(extra)


def spawn_client(ctx, server_port, cadir, env=None, name="client", **kw):
    return ctx.spawn(name, client_args(server_port, cadir, **kw), env)


def run_client(ctx, server_port, cadir, timeout=60, env=None, **kw):
    p = spawn_client(ctx, server_port, cadir, env=env, **kw)
    p.wait(timeout)
    return Result(p)


def setup(ctx, **server_kw):
    """CA (open) and a registered server."""
    cadir = ca_dir(ctx)
    ca = start_ca(ctx, cadir)
    srv = start_server(ctx, ca.port, cadir, **server_kw)
    return cadir, ca, srv


def expect_data(res, lines, what="client"):
    if res.rc != 0 or res.out_lines != lines:
        raise TestFailure("%s: expected status 0 and stdout %r, got %s"
                          % (what, lines, res.describe()))


def stop_clean(ctx, daemon, sig=signal.SIGTERM, timeout=15, what=None):
    """Sends sig and expects exit status 0."""
    what = what or daemon.proc.name
    daemon.proc.signal(sig)
    rc = daemon.proc.wait(timeout)
    if rc != 0:
        raise TestFailure("%s: after %s expected exit status 0, got %s; "
                          "stderr: %s" % (what, signal.Signals(sig).name, rc,
                                          daemon.proc.tail(4)))


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


NUM_RX = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|milliseconds?|s|sec|seconds?)\b",
                    re.I)


def mentions_difference(line, secs, slack=15):
    """Whether the line gives a measured difference of about `secs`
    seconds, in s or ms ("120.0 s", "120003 ms", "120 seconds")."""
    for m in NUM_RX.finditer(line):
        v = float(m.group(1))
        if m.group(2).lower().startswith("m"):
            v /= 1000.0
        if abs(v - secs) <= slack:
            return True
    return False


def skew_lines(text):
    return [l for l in text.splitlines()
            if re.search(r"skew|timestamp|clock", l, re.I)]


# ---------------------------------------------------------------- start orders

def _start_order(order):
    def body(ctx):
        cadir = ca_dir(ctx)
        ca_port, s_port = free_port(), free_port()
        data = "order %s" % "-".join(order)
        procs = {}
        for i, who in enumerate(order):
            if who == "ca":
                procs[who] = spawn_ca(ctx, cadir, port=ca_port).proc
            elif who == "server":
                procs[who] = spawn_server(ctx, ca_port, cadir, port=s_port,
                                          data=data).proc
            else:
                procs[who] = spawn_client(ctx, s_port, cadir, retry_for=60)
            if i < 2:
                # Let it get going (and, for those whose peer is missing,
                # fail a first attempt and retry) before the next starts.
                ctx.sleep(0.7)
                p = procs[who]
                if not p.running():
                    if re.search(r"in use", p.stderr(), re.I):
                        raise PortConflict(p.tail(1))
                    raise TestFailure("%s exited early (status %s) while "
                                      "its peers were not up: %s"
                                      % (who, p.rc, p.tail()))
        c = procs["client"]
        c.wait(60)
        res = Result(c)
        expect_data(res, [data])
        for who in ("ca", "server"):
            check(procs[who].running(), "%s died: status %s, %s", who,
                  procs[who].rc, procs[who].tail())
    return body


for _order in itertools.permutations(("ca", "server", "client")):
    test("start_order_" + "_".join(_order), 90)(_start_order(_order))


# ---------------------------------------------------------------- many clients

@test("clients_50_at_once", 150)
def t_clients_50(ctx):
    n = 50
    dd = ctx.mkdir("data")
    for i in range(n):
        with open(os.path.join(dd, "req-%02d" % i), "w") as f:
            f.write("data for client %02d\n" % i)
    cadir, ca, srv = setup(ctx, data_dir=dd)
    clients = [spawn_client(ctx, srv.port, cadir, cid="client-%02d" % i,
                            request="req-%02d" % i, retry_for=60,
                            name="client-%02d" % i) for i in range(n)]
    bad = []
    for i, c in enumerate(clients):
        c.wait(120)
        want = ["data for client %02d" % i]
        if c.rc != 0 or c.out_lines() != want:
            bad.append("client-%02d: status %s, stdout %r, stderr %s"
                       % (i, c.rc, c.stdout()[-100:], c.tail(2)))
    check(not bad, "%d of %d clients wrong: %s", len(bad), n,
          "; ".join(bad[:3]))
    check(srv.proc.running(), "server died: %s", srv.proc.tail())


# ---------------------------------------------------------------- sessions

@test("session_expiry_renews", 90)
def t_session_renew(ctx):
    cadir, ca, srv = setup(ctx, data="renewed data", lifetime=2)
    # Requests at about 0, 1.2, 2.4, 3.6 s: the 2 s session ends on the way.
    res = run_client(ctx, srv.port, cadir, timeout=60,
                     extra=["--repeat", "4", "--interval", "1.2", "--trace"])
    expect_data(res, ["renewed data"] * 4)
    m6 = [l for l in res.err_lines if re.search(r"trace:.*\bM6\b", l)]
    m3 = [l for l in res.err_lines if re.search(r"trace:.*\bM3\b", l)]
    check(len(m6) == 2 and len(m3) == 2,
          "expected the client to register twice (two M3/M6 in its "
          "--trace), saw %d M3 and %d M6 lines; stderr: %r",
          len(m3), len(m6), res.err[-600:])


@test("session_expiry_no_renew_exits", 90)
def t_session_no_renew(ctx):
    cadir, ca, srv = setup(ctx, data="short-lived", lifetime=2)
    res = run_client(ctx, srv.port, cadir, timeout=60,
                     extra=["--repeat", "4", "--interval", "1.2",
                            "--no-renew"])
    expect_rc(res, EXIT_EXPIRED, "client --no-renew past the lifetime")
    n = len(res.out_lines)
    check(1 <= n < 4 and all(l == "short-lived" for l in res.out_lines),
          "expected 1 to 3 answers before the session expired, got %r",
          res.out_lines)
    check(any(re.search(r"session", l, re.I) and re.search(r"expired", l,
                                                           re.I)
              for l in res.err_lines),
          "no stderr line says the session expired: %r", res.err[-500:])


@test("client_keeps_session_across_idle_close", 60)
def t_idle_reconnect(ctx):
    """The server closes a connection idle for --timeout; the client's
    next request reconnects and keeps its session (no second M3..M6)."""
    cadir, ca, srv = setup(ctx, data="kept", extra=["--timeout", "1"])
    res = run_client(ctx, srv.port, cadir, timeout=60,
                     extra=["--repeat", "2", "--interval", "2", "--trace"])
    expect_data(res, ["kept", "kept"])
    m3 = [l for l in res.err_lines if re.search(r"trace:.*\bM3\b", l)]
    check(len(m3) == 1, "client registered %d times across an idle close, "
          "want once", len(m3))
    srv.proc.wait_for(lambda: re.search(r"idle", srv.proc.stderr()), 10,
                      "the server closing the idle connection (--timeout 1)")


@test("server_reuses_certificate", 60)
def t_reuse_cert(ctx):
    """A server with a valid certificate in its directory serves at once,
    without the CA."""
    cadir, ca, srv = setup(ctx, data="one")
    crt = open(os.path.join(srv.dir, "server.crt")).read()
    stop_clean(ctx, srv)
    stop_clean(ctx, ca)
    srv2 = spawn_server(ctx, ca.port, cadir, sdir=srv.dir, data="two",
                        name="server-again")
    wait_port(ctx, srv2.port, srv2.proc, 20)
    expect_data(run_client(ctx, srv2.port, cadir), ["two"])
    check(open(os.path.join(srv.dir, "server.crt")).read() == crt,
          "server.crt changed on restart")


@test("peers_named_by_host_name", 60)
def t_host_names(ctx):
    """--ca and --server take a host name, looked up off the loop thread
    before each attempt (localhost: from /etc/hosts, no network)."""
    cadir = ca_dir(ctx)
    ca = start_ca(ctx, cadir)
    port = free_port()
    sdir = ctx.path("srv")
    srv = ctx.spawn("server", ["server", "--dir", sdir, "--id", SERVER_ID,
                               "--ca", "localhost:%d" % ca.port,
                               "--ca-cert", os.path.join(cadir, "ca.crt"),
                               "--listen", addr(port), "--data", "named"])
    wait_port(ctx, port, srv, 30)
    p = ctx.spawn("client", ["client", "--server", "localhost:%d" % port,
                             "--ca-cert", os.path.join(cadir, "ca.crt"),
                             "--retry-for", "20"])
    p.wait(30)
    expect_data(Result(p), ["named"])


@test("server_max_sessions_busy_then_room", 60)
def t_max_sessions(ctx):
    """--max-sessions 1: while the first client's session lives, a second
    client is told "busy" and tries again; once that session has expired
    and gone (lifetime 4 s and two skews of 1 s), it is served."""
    cadir, ca, srv = setup(ctx, data="one", lifetime=4,
                           extra=["--max-sessions", "1", "--max-skew", "1"])
    expect_data(run_client(ctx, srv.port, cadir), ["one"], "first client")
    res = run_client(ctx, srv.port, cadir, cid="ID-Client-2", timeout=40,
                     extra=["--max-skew", "1"])
    expect_data(res, ["one"], "second client")
    check(any(re.search(r"busy: trying again", l) for l in res.err_lines),
          "the second client was not told busy: %s", res.describe())


@test("connection_cap_evicts_idle_established", 90)
def t_cap_evicts_idle(ctx):
    """At --max-conns, a new client takes the slot of the connection idle
    longest (past its handshake); the client dropped reconnects and keeps
    its session, so every request of every client is answered."""
    cadir, ca, srv = setup(ctx, data="slot", extra=["--max-conns", "2"])
    time.sleep(0.5 * SCALE)
    holders = [spawn_client(ctx, srv.port, cadir, name="holder%d" % i,
                            extra=["--repeat", "3", "--interval",
                                   str(3 * SCALE)])
               for i in range(2)]
    time.sleep(1.5 * SCALE)
    late = run_client(ctx, srv.port, cadir, timeout=30)
    expect_data(late, ["slot"], "the client that arrived at the cap")
    for i, h in enumerate(holders):
        h.wait(60)
        expect_data(Result(h), ["slot"] * 3, "holder%d" % i)
    check(srv.proc.rc is None, "the server died")
    srv.proc.wait_stderr(r"dropped .* idle for", 5)


@test("connection_cap_busy", 60)
def t_cap(ctx):
    """Past --max-conns a new connection gets a "busy" error frame and is
    closed; when the others go, clients are served again."""
    cadir, ca, srv = setup(ctx, data="capped", extra=["--max-conns", "2"])
    # Let the daemon see the readiness probe go before counting.
    time.sleep(0.5 * SCALE)
    held = [ctx.connect(srv.port), ctx.connect(srv.port)]
    time.sleep(0.3 * SCALE)
    s = ctx.connect(srv.port)
    buf, closed = read_answer(ctx, s, 5)
    frames, _ = parse_frames(buf)
    check(closed and frames and frames[0][1] == MERROR and
          frames[0][2] == (41).to_bytes(2, "big"),
          "connection past --max-conns 2: expected a busy error frame (code "
          "41) and a close, got %r (closed=%s)", buf[:40], closed)
    for h in held:
        h.close()
    expect_data(run_client(ctx, srv.port, cadir), ["capped"])


# ---------------------------------------------------------------- signals

@test("sigterm_ca_clean_exit", 60)
def t_sigterm_ca(ctx):
    cadir, ca, srv = setup(ctx)
    # A peer in the middle of a frame, and an idle one.
    idle = ctx.connect(ca.port)
    half = ctx.connect(ca.port)
    half.sendall(frame(M1, b"\x00" * 100, length=400))
    time.sleep(0.2)
    stop_clean(ctx, ca, timeout=15)


@test("sigterm_server_clean_exit_mid_session", 60)
def t_sigterm_server(ctx):
    cadir, ca, srv = setup(ctx, data="mid")
    c = spawn_client(ctx, srv.port, cadir,
                     extra=["--repeat", "20", "--interval", "0.5"],
                     retry_for=2)
    c.wait_stdout_lines(1, 30)
    idle = ctx.connect(srv.port)
    stop_clean(ctx, srv, timeout=15)
    check(all(l == "mid" for l in c.out_lines()),
          "client got wrong data: %r", c.out_lines())
    # The CA too, after serving.
    stop_clean(ctx, ca, timeout=15)


@test("sigint_server_clean_exit", 60)
def t_sigint_server(ctx):
    cadir, ca, srv = setup(ctx, data="x")
    expect_data(run_client(ctx, srv.port, cadir), ["x"])
    stop_clean(ctx, srv, sig=signal.SIGINT, timeout=15)
    stop_clean(ctx, ca, sig=signal.SIGINT, timeout=15)


# ---------------------------------------------------------------- garbage

def _garbage_cases(costly_type, cheap_type):
    rnd = os.urandom
    return [
        ("random bytes", b"\xff" + rnd(4095), False),
        ("unknown type", frame(0x7f, b"hello"), False),
        ("wrong version", frame(costly_type, b"hello", version=9), False),
        ("oversized length 0xffffffff",
         frame(costly_type, b"", length=0xffffffff), False),
        ("length one over the limit",
         frame(costly_type, b"", length=FRAME_MAX - 6 + 1), False),
        ("truncated frame then EOF", frame(costly_type, rnd(50), length=300),
         True),
        ("header only then EOF", frame(costly_type, b"", length=300)[:6],
         True),
        ("whole frame, random body (costly type)",
         frame(costly_type, rnd(300)), False),
        ("whole frame, random body (cheap type)", frame(cheap_type, rnd(40)),
         False),
        ("empty body", frame(costly_type, b""), False),
        ("an error frame", frame(MERROR, b"\x00\x01"), False),
        ("a reply type", frame(costly_type + 1, rnd(64)), False),
    ]


def _send_garbage(ctx, port, payload, shut_wr):
    s = ctx.connect(port)
    try:
        s.sendall(payload)
        if shut_wr:
            s.shutdown(socket.SHUT_WR)
    except OSError:
        return b"", True            # closed on us already: a close
    buf, closed = read_answer(ctx, s, 5)
    s.close()
    return buf, closed


def _check_answer(what, buf, closed):
    if buf:
        frames, rest = parse_frames(buf)
        check(frames and frames[0][0] == PROTO_VERSION and
              frames[0][1] == MERROR,
              "%s: answer is not an error frame: %r", what, buf[:40])
    check(closed or buf, "%s: neither an error answer nor a close within "
          "%.0fs", what, 5 * SCALE)


def _slow_half_frame(ctx, port, ftype):
    """Dribbles half a frame, a byte at a time, then goes silent."""
    s = ctx.connect(port)
    f = frame(ftype, os.urandom(200))
    for b in f[:10]:
        s.sendall(bytes([b]))
        time.sleep(0.05)
    return s


def _garbage(ctx, port, daemon, costly, cheap, real_peer):
    slow = _slow_half_frame(ctx, port, costly)
    slow_sent = time.monotonic()
    for what, payload, shut in _garbage_cases(costly, cheap):
        buf, closed = _send_garbage(ctx, port, payload, shut)
        _check_answer(what, buf, closed)
        check(daemon.proc.running(), "daemon died after %s: status %s, %s",
              what, daemon.proc.rc, daemon.proc.tail())
    # Many at once, mixed.
    socks = []
    for i in range(20):
        s = ctx.connect(port)
        s.sendall(os.urandom(1) + b"\x07" + os.urandom(300))
        socks.append(s)
    for s in socks:
        buf, closed = read_answer(ctx, s, 5)
        _check_answer("20 garbage connections at once", buf, closed)
        s.close()
    # The slow half-frame is still pending: the daemon serves a real peer.
    real_peer()
    check(daemon.proc.running(), "daemon died: %s", daemon.proc.tail())
    # And it closes the slow one at its handshake/idle timeout (10 s).
    left = 10 + 5 * SCALE - (time.monotonic() - slow_sent)
    buf, closed = read_answer(ctx, slow, max(left, 0.5) / SCALE)
    check(closed, "a peer that sent half a frame and went silent was not "
          "closed within %.0fs of its last byte", 10 + 5 * SCALE)
    _check_answer("slow half-frame", buf, closed)
    real_peer()


@test("garbage_to_ca_port", 90)
def t_garbage_ca(ctx):
    cadir, ca, srv = setup(ctx)
    n = [0]

    def real_peer():
        n[0] += 1
        start_server(ctx, ca.port, cadir, sdir=ctx.path("srv-%d" % n[0]),
                     name="server-%d" % n[0])
    _garbage(ctx, ca.port, ca, M1, M1, real_peer)


@test("garbage_to_server_port", 90)
def t_garbage_server(ctx):
    cadir, ca, srv = setup(ctx, data="still serving")

    def real_peer():
        expect_data(run_client(ctx, srv.port, cadir), ["still serving"])
    _garbage(ctx, srv.port, srv, M5, M3, real_peer)
    # Phase 3 garbage: an M7 for no session.
    buf, closed = _send_garbage(ctx, srv.port, frame(M7, os.urandom(120)),
                                False)
    _check_answer("M7 for an unknown session", buf, closed)
    real_peer()


# ---------------------------------------------------------------- certificates

@test("certificates_openssl_and_key_modes", 60)
def t_certs(ctx):
    cadir = ca_init(ctx)
    ca_key, ca_crt = os.path.join(cadir, "ca.key"), os.path.join(cadir,
                                                                 "ca.crt")
    check(os.path.exists(ca_key) and os.path.exists(ca_crt),
          "ca init did not write ca.key and ca.crt: %s", os.listdir(cadir))
    check(mode_of(ca_key) == 0o600, "ca.key has mode %04o, want 0600",
          mode_of(ca_key))
    ca = start_ca(ctx, cadir)
    srv = start_server(ctx, ca.port, cadir)
    s_key, s_crt = (os.path.join(srv.dir, "server.key"),
                    os.path.join(srv.dir, "server.crt"))
    check(os.path.exists(s_key), "server.key missing: %s",
          os.listdir(srv.dir))
    check(mode_of(s_key) == 0o600, "server.key has mode %04o, want 0600",
          mode_of(s_key))
    if shutil.which("openssl") is None:
        raise Skip("openssl not installed")
    r = ctx.run_raw("openssl-verify", ["openssl", "verify", "-CAfile",
                                       ca_crt, s_crt])
    check(r.rc == 0 and "OK" in r.out,
          "openssl verify -CAfile ca.crt server.crt failed: %s",
          r.describe())
    r = ctx.run_raw("openssl-x509", ["openssl", "x509", "-in", s_crt,
                                     "-noout", "-text"])
    expect_rc(r, 0, "openssl x509 -text server.crt")
    check(re.search(r"^\s*Subject:\s*CN\s*=\s*ID-Server\s*$", r.out, re.M),
          "server.crt subject is not CN=ID-Server: %r",
          re.findall(r"Subject:.*", r.out))
    check(re.search(r"^\s*Issuer:\s*CN\s*=\s*ID-CA\s*$", r.out, re.M),
          "server.crt issuer is not CN=ID-CA: %r",
          re.findall(r"Issuer:.*", r.out))
    check(re.search(r"Version:\s*3", r.out), "server.crt is not X.509 v3")
    r = ctx.run_raw("openssl-x509-ca", ["openssl", "x509", "-in", ca_crt,
                                        "-noout", "-text"])
    check(re.search(r"^\s*Subject:\s*CN\s*=\s*ID-CA\s*$", r.out, re.M) and
          re.search(r"^\s*Issuer:\s*CN\s*=\s*ID-CA\s*$", r.out, re.M),
          "ca.crt is not a self-signed CN=ID-CA: %r",
          re.findall(r"(?:Subject|Issuer):.*", r.out))
    check(re.search(r"CA:TRUE", r.out), "ca.crt lacks basicConstraints "
          "CA:TRUE")
    # The server key matches the certificate.
    r1 = ctx.run_raw("openssl-pub-crt", ["openssl", "x509", "-in", s_crt,
                                         "-noout", "-pubkey"])
    r2 = ctx.run_raw("openssl-pub-key", ["openssl", "pkey", "-in", s_key,
                                         "-pubout"])
    check(r1.rc == 0 and r2.rc == 0 and r1.out == r2.out,
          "server.key does not match server.crt")


@test("ca_init_custom_id", 60)
def t_ca_init_id(ctx):
    cadir = ca_init(ctx, extra=["--id", "My-Test-CA", "--days", "30"])
    if shutil.which("openssl") is None:
        raise Skip("openssl not installed")
    r = ctx.run_raw("openssl-x509", ["openssl", "x509", "-in",
                                     os.path.join(cadir, "ca.crt"),
                                     "-noout", "-subject", "-enddate"])
    check(re.search(r"CN\s*=\s*My-Test-CA", r.out),
          "ca init --id My-Test-CA: subject is %r", r.out)
    # A second init on the same directory must not overwrite the CA key.
    key = open(os.path.join(cadir, "ca.key")).read()
    r = ctx.run("ca-init-again", ["ca", "init", "--dir", cadir])
    expect_rc(r, EXIT_FAIL, "ca init over an existing CA")
    one_line(r, "ca init over an existing CA")
    check(open(os.path.join(cadir, "ca.key")).read() == key,
          "ca init over an existing CA replaced ca.key")


# ---------------------------------------------------------------- clock skew

def _expect_skew_refusal(res, what, judge, secs=120):
    """A refused peer: the documented status, a line that says clock
    skew/timestamp; and the measured difference (about secs) in that line
    or, since an error frame carries only a code, in the log of the party
    that measured it (judge)."""
    # The server checks TS3 before it says anything: it is the one that
    # refuses, and the client exits "refused by the peer".
    expect_rc(res, EXIT_REFUSED, what)
    lines = skew_lines(res.err)
    check(lines, "%s: no stderr line mentions clock skew/timestamp: %r",
          what, res.err[-500:])
    if any(mentions_difference(l, secs) for l in lines):
        return
    judge.wait_for(lambda: any(mentions_difference(l, secs)
                               for l in skew_lines(judge.stderr())),
                   5, "line giving the measured difference (~%d s) of %s; "
                   "the refused side said %r" % (secs, what, lines[-1]))


@test("clock_skew_client_refused", 60)
def t_skew_client(ctx):
    cadir, ca, srv = setup(ctx, data="fresh")
    res = run_client(ctx, srv.port, cadir, retry_for=5,
                     env={"TRIPKI_CLOCK_OFFSET_MS": "120000"})
    _expect_skew_refusal(res, "client 120 s ahead", srv.proc)
    check(res.out == "", "a skewed client got data: %r", res.out)
    check(srv.proc.running(), "server died")


@test("clock_skew_within_limit_accepted", 60)
def t_skew_ok(ctx):
    """Clocks a few seconds apart, well inside the 60 s default: every
    party works.  A daemon refuses an M1/M5 stamped before it started
    (docs/PROTOCOL.md, section 13: its replay cache is complete only from
    then), so a peer whose clock is behind talks to it once it has been
    serving for longer than that lag."""
    cadir = ca_dir(ctx)
    ca = start_ca(ctx, cadir)
    ca_ready = time.monotonic()
    srv = start_server(ctx, ca.port, cadir, data="fresh")
    srv_ready = time.monotonic()        # it set its start time before
    problems = []

    def after(t, secs):
        ctx.sleep(max(0.0, t + secs - time.monotonic()))

    for off in ("5000", "-3000"):
        if off.startswith("-"):
            after(srv_ready, 3.5)
        res = run_client(ctx, srv.port, cadir,
                         env={"TRIPKI_CLOCK_OFFSET_MS": off})
        if res.rc != 0 or res.out_lines != ["fresh"]:
            problems.append("client %s ms off: %s" % (off, res.describe()))
    after(ca_ready, 2.5)
    srv2 = spawn_server(ctx, ca.port, cadir, sdir=ctx.path("srv-behind"),
                        data="fresh", name="server-behind",
                        env={"TRIPKI_CLOCK_OFFSET_MS": "-2000"})
    crt = os.path.join(srv2.dir, "server.crt")
    try:
        srv2.proc.wait_for(lambda: os.path.exists(crt), 30, "server.crt")
        wait_port(ctx, srv2.port, srv2.proc, 20)
        res = run_client(ctx, srv2.port, cadir)
        if res.rc != 0 or res.out_lines != ["fresh"]:
            problems.append("client of a server 2 s behind: %s"
                            % res.describe())
    except TestFailure as e:
        problems.append("server 2 s behind the CA: %s" % e)
    check(not problems, "; ".join(problems))


@test("refused_before_start_says_why", 60)
def t_before_start(ctx):
    """An M5 stamped before the server started is refused (documented,
    docs/PROTOCOL.md section 13) even from a client within the skew.  The
    client may wait that out and succeed, or give up with status 4; either
    way no line may blame a skew over the limit for a lag within it."""
    cadir, ca, srv = setup(ctx, data="x")
    res = run_client(ctx, srv.port, cadir,
                     env={"TRIPKI_CLOCK_OFFSET_MS": "-8000"})
    ok = res.rc == 0 and res.out_lines == ["x"]
    check(ok or res.rc == EXIT_REFUSED, "client 8 s behind a server "
          "started just now: expected status 0 (after waiting) or %d, got "
          "%s", EXIT_REFUSED, res.describe())
    if not ok:
        line = res.err_lines[-1] if res.err_lines else ""
        check(re.search(r"start", line, re.I),
              "client 8 s behind (limit 60 s) refused without the reason "
              "(the server started after its timestamp): %r", line)
    refusals = [l for l in srv.proc.err_lines() if "refused M5" in l]
    check(refusals, "the server logged no refusal of the early M5")
    check(all(re.search(r"start", l, re.I) for l in refusals),
          "server refuses a client 8 s behind (limit 60 s) calling it clock "
          "skew, not naming the reason (its timestamp predates the "
          "server's start): %r", refusals[0])


@test("clock_skew_server_refused_by_client", 60)
def t_skew_server_client(ctx):
    cadir, ca, srv = setup(ctx, data="fresh")
    stop_clean(ctx, srv)
    # The same registered server, now with a clock 120 s ahead.
    srv2 = spawn_server(ctx, ca.port, cadir, sdir=srv.dir, port=srv.port,
                        data="fresh", env={"TRIPKI_CLOCK_OFFSET_MS": "120000"},
                        name="server-skewed")
    wait_port(ctx, srv2.port, srv2.proc, 20)
    res = run_client(ctx, srv2.port, cadir, retry_for=5)
    _expect_skew_refusal(res, "client of a server 120 s ahead", srv2.proc)
    check(res.out == "", "client got data from a skewed server: %r",
          res.out)


@test("clock_skew_server_refused_by_ca", 60)
def t_skew_server_ca(ctx):
    cadir = ca_dir(ctx)
    ca = start_ca(ctx, cadir)
    srv = spawn_server(ctx, ca.port, cadir,
                       env={"TRIPKI_CLOCK_OFFSET_MS": "120000"})
    line = srv.proc.wait_stderr(r"^.*(skew|timestamp|clock).*$", 20)
    check(not os.path.exists(os.path.join(srv.dir, "server.crt")),
          "a server 120 s ahead got a certificate")
    rc = srv.proc.wait(20)
    check(rc == EXIT_REFUSED, "server refused by the CA for its clock: "
          "expected status %d, got %s", EXIT_REFUSED, rc)
    # The measured difference: in the server's line, or the CA's log.
    ok = mentions_difference(line.group(0), 120)
    if not ok:
        ca.proc.wait_for(lambda: any(mentions_difference(l, 120)
                                     for l in skew_lines(ca.proc.stderr())),
                         2, "CA log line giving the measured ~120 s "
                         "difference (the server said only %r)"
                         % line.group(0))


# ---------------------------------------------------------------- enrollment

@test("ca_enrollment_token", 60)
def t_token(ctx):
    """Without --open the CA issues only against an enrollment token made
    for exactly the identity asked (tests_ca.py tests tokens in depth)."""
    cadir = ca_dir(ctx)
    ca = start_ca(ctx, cadir, open_=False)
    r = ctx.run("ca-enroll", ["ca", "enroll", "--dir", cadir, "--id",
                              SERVER_ID], 20)
    expect_rc(r, 0, "ca enroll")
    token = r.out.strip()
    bad = spawn_server(ctx, ca.port, cadir, sdir=ctx.path("srv-other"),
                       sid="Other-Server", name="server-other",
                       extra=["--token", token])
    m = bad.proc.wait_stderr(r"^.*(not authori[sz]ed|not allowed|refused|"
                             r"denied).*$", 20)
    check(not os.path.exists(os.path.join(bad.dir, "server.crt")),
          "an identity the token was not made for got a certificate")
    check(re.search(r"Other-Server", m.group(0)),
          "the refusal does not name the identity: %r", m.group(0))
    # Documented: "not authorized" is not retried, the server exits 4.
    rc = bad.proc.wait(20)
    check(rc == EXIT_REFUSED, "refused server exited with %s, want %d: %s",
          rc, EXIT_REFUSED, m.group(0))
    good = start_server(ctx, ca.port, cadir, sdir=ctx.path("srv-ok"),
                        data="allowed", extra=["--token", token])
    expect_data(run_client(ctx, good.port, cadir), ["allowed"])
    check(ca.proc.running(), "CA died: %s", ca.proc.tail())
    check(not [l for l in ca.proc.err_lines()
               if re.search(r"any identity|anyone", l, re.I)],
          "CA without --open says it issues to anyone: %s", ca.proc.tail())


@test("ca_closed_by_default", 60)
def t_closed(ctx):
    cadir = ca_dir(ctx)
    ca = start_ca(ctx, cadir, open_=False)
    srv = spawn_server(ctx, ca.port, cadir)
    srv.proc.wait_stderr(r"^.*(not authori[sz]ed|not allowed|refused|"
                         r"denied).*$", 20)
    check(not os.path.exists(os.path.join(srv.dir, "server.crt")),
          "a CA without --open issued a certificate without a token")


@test("ca_open_warns", 30)
def t_open_warns(ctx):
    cadir = ca_dir(ctx)
    ca = start_ca(ctx, cadir, open_=True)
    ca.proc.wait_stderr(r"^.*warn.*(open|any|anyone).*$", 5)


@test("key_file_mode_refused", 60)
def t_key_mode(ctx):
    cadir = ca_dir(ctx)
    key = os.path.join(cadir, "ca.key")
    for mode in (0o640, 0o604):
        os.chmod(key, mode)
        r = ctx.run("ca-serve", ["ca", "serve", "--dir", cadir, "--listen",
                                 addr(free_port()), "--open"], 20)
        expect_rc(r, EXIT_FAIL, "ca serve with ca.key mode %04o" % mode)
        line = failure_line(r, "ca serve with ca.key mode %04o" % mode)
        check(key in line and ("%04o" % mode in line or "%o" % mode in line),
              "the line does not name %s and its mode %04o: %r",
              key, mode, line)
    os.chmod(key, 0o600)
    ca = start_ca(ctx, cadir)
    srv = start_server(ctx, ca.port, cadir)
    stop_clean(ctx, srv)
    skey = os.path.join(srv.dir, "server.key")
    os.chmod(skey, 0o640)
    p = spawn_server(ctx, ca.port, cadir, sdir=srv.dir, name="server-640")
    p.proc.wait(20)
    r = Result(p.proc)
    expect_rc(r, EXIT_FAIL, "server with server.key mode 0640")
    line = failure_line(r, "server with server.key mode 0640")
    check(skey in line and "640" in line,
          "the line does not name %s and its mode 0640: %r", skey, line)



@test("token_file_too_open_or_not_regular", 60)
def t_token_file_mode(ctx):
    """A token file others may read is refused like a key file, and a FIFO
    in its place is refused at once rather than read forever."""
    cadir = ca_dir(ctx)
    tok = ctx.path("token")
    with open(tok, "w") as f:
        f.write("not-a-real-token\n")
    os.chmod(tok, 0o644)
    args = ["server", "--register-only", "--dir", ctx.path("srv"),
            "--ca", addr(free_port()), "--ca-cert",
            os.path.join(cadir, "ca.crt"), "--token-file", tok]
    r = ctx.run("server-644", args, 20)
    expect_rc(r, EXIT_FAIL, "server with a token file of mode 0644")
    line = failure_line(r, "server with a token file of mode 0644")
    check(tok in line and "0644" in line and "too open" in line,
          "the line does not name %s, its mode and why: %r", tok, line)
    fifo = ctx.path("token-fifo")
    os.mkfifo(fifo, 0o600)
    args[-1] = fifo
    r = ctx.run("server-fifo", args, 20)
    expect_rc(r, EXIT_FAIL, "server with a FIFO as token file")
    line = failure_line(r, "server with a FIFO as token file")
    check(fifo in line and "not a regular file" in line,
          "the line does not say the FIFO is not a file: %r", line)


# ---------------------------------------------------------------- data dir

@test("server_data_dir", 60)
def t_data_dir(ctx):
    dd = ctx.mkdir("data")
    with open(os.path.join(dd, "notes.txt"), "w") as f:
        f.write("the notes\n")
    with open(ctx.path("secret.txt"), "w") as f:
        f.write("TOP-SECRET-OUTSIDE\n")
    os.symlink(ctx.path("secret.txt"), os.path.join(dd, "link.txt"))
    cadir, ca, srv = setup(ctx, data_dir=dd)
    expect_data(run_client(ctx, srv.port, cadir, request="notes.txt"),
                ["the notes"], "request notes.txt")
    for req in ("../secret.txt", ctx.path("secret.txt"), "link.txt",
                "missing.txt"):
        r = run_client(ctx, srv.port, cadir, request=req)
        check("TOP-SECRET" not in r.out, "request %r read outside "
              "--data-dir: %s", req, r.describe())
        expect_rc(r, EXIT_REFUSED, "request %r" % req)
        check(r.err_lines and re.search(r"refused|not found|no such",
                                        r.err_lines[-1], re.I),
              "request %r: last stderr line does not say refused/not "
              "found: %r", req, r.err_lines[-1:] if r.err_lines else r.err)
    check(srv.proc.running(), "server died")


# ---------------------------------------------------------------- demo

@test("demo", 90)
def t_demo(ctx):
    r = ctx.run("demo", ["demo"], 60)
    expect_rc(r, 0, "tripki demo")
    text = r.out + r.err
    missing = [m for m in ("M1", "M2", "M3", "M4", "M5", "M6", "M7", "M8")
               if not re.search(r"\b%s\b" % m, text)]
    check(not missing, "demo's account does not mention %s: %r",
          ", ".join(missing), text[:400])
    check(DEFAULT_DATA in text, "demo does not show the data %r",
          DEFAULT_DATA)


@test("demo_trace_redacts", 90)
def t_demo_trace(ctx):
    r = ctx.run("demo", ["demo", "--trace", "--lifetime", "30"], 60)
    expect_rc(r, 0, "tripki demo --trace")
    text = r.out + r.err
    check(re.search(r"redacted", text, re.I),
          "demo --trace shows no redacted secret")
    check("PRIVATE KEY" not in text, "demo --trace prints a private key")
    check(not re.search(r"K_sess=[0-9a-f]{16}", text),
          "demo --trace shows K_sess in the clear")
    r = ctx.run("demo-secrets", ["demo", "--trace-secrets"], 60)
    expect_rc(r, 0, "tripki demo --trace-secrets")
    check(re.search(r"K_sess=[0-9a-fA-F]{64}", r.out + r.err),
          "demo --trace-secrets does not show K_sess (32 bytes in hex)")


# ---------------------------------------------------------------- the command

SUBCOMMANDS = [["ca", "init"], ["ca", "serve"], ["server"], ["client"],
               ["demo"]]


@test("cli_help_and_version", 60)
def t_help(ctx):
    for sub in SUBCOMMANDS:
        r = ctx.run("help", sub + ["--help"], 20)
        expect_rc(r, 0, "%s --help" % " ".join(sub))
        check(re.search(r"usage", r.out, re.I) and "--log-level" in r.out
              and "--trace" in r.out,
              "%s --help: no usage with the common flags on stdout: %r",
              " ".join(sub), r.out[:200])
        r = ctx.run("version", sub + ["--version"], 20)
        expect_rc(r, 0, "%s --version" % " ".join(sub))
        check("0.1.0" in r.out, "%s --version: %r", " ".join(sub), r.out)
    r = ctx.run("help", ["--help"], 20)
    expect_rc(r, 0, "tripki --help")
    for word in ("ca", "server", "client", "demo"):
        check(re.search(r"\b%s\b" % word, r.out),
              "tripki --help does not list %s", word)
    r = ctx.run("version", ["--version"], 20)
    check(r.rc == 0 and "0.1.0" in r.out, "tripki --version: %s",
          r.describe())
    r = ctx.run("no-args", [], 20)
    expect_rc(r, EXIT_USAGE, "tripki with no command")
    check(r.err.strip(), "tripki with no command says nothing on stderr")


@test("cli_bad_flags", 60)
def t_bad_flags(ctx):
    cases = [(sub + ["--no-such-flag"], "--no-such-flag")
             for sub in SUBCOMMANDS]
    cases += [
        (["frobnicate"], "frobnicate"),
        (["ca", "frobnicate"], "frobnicate"),
        (["ca", "serve", "--listen"], "--listen"),
        (["ca", "serve", "--dir", ctx.dir, "--listen", "127.0.0.1:notaport"],
         "--listen"),
        (["ca", "serve", "--dir", ctx.dir, "--listen", "127.0.0.1:70000"],
         "--listen"),
        (["ca", "init", "--dir", ctx.path("x"), "--bits", "12"], "--bits"),
        (["ca", "init", "--dir", ctx.path("x"), "--days", "soon"], "--days"),
        (["server", "--lifetime", "abc"], "--lifetime"),
        (["server", "--lifetime", "-5"], "--lifetime"),
        (["server", "--max-sessions", "0"], "--max-sessions"),
        (["server", "--max-sessions", "lots"], "--max-sessions"),
        (["server", "--max-sessions", "10000001"], "--max-sessions"),
        (["server", "--max-skew", "x"], "--max-skew"),
        (["server", "--max-sources", "0"], "--max-sources"),
        (["ca", "serve", "--max-sources", "4194305"], "--max-sources"),
        (["server", "--dir", ctx.path("s"), "--ca-cert", ctx.path("ca.crt"),
          "--data", "a", "--data-dir", ctx.dir], "--data"),
        (["client", "--repeat", "many"], "--repeat"),
        (["client", "--interval", "-1"], "--interval"),
        (["client", "--retry-for", "x"], "--retry-for"),
        (["client", "--ca-cert", ctx.path("ca.crt"), "--server",
          "nohostport"], "--server"),
        (["client", "--log-level", "loud"], "--log-level"),
    ]
    for args, word in cases:
        r = ctx.run("bad", args, 20)
        what = "tripki %s" % " ".join(args)
        expect_rc(r, EXIT_USAGE, what)
        line = one_line(r, what)
        if word:
            check(word in line, "%s: the line does not name %s: %r", what,
                  word, line)
        check(r.out == "", "%s: printed on stdout: %r", what, r.out[:200])


@test("cli_missing_files", 60)
def t_missing(ctx):
    nodir = ctx.path("nonexistent")
    nocert = os.path.join(nodir, "ca.crt")
    p = free_port()
    cases = [
        (["ca", "serve", "--dir", nodir, "--listen", addr(p), "--open"],
         nodir),
        (["server", "--dir", ctx.path("srv"), "--ca", addr(p), "--ca-cert",
          nocert, "--listen", addr(free_port())], nocert),
        (["client", "--server", addr(p), "--ca-cert", nocert], nocert),
    ]
    empty = ctx.mkdir("empty")
    cases.append((["ca", "serve", "--dir", empty, "--listen", addr(p),
                   "--open"], empty))
    garbage = ctx.path("garbage.crt")
    with open(garbage, "w") as f:
        f.write("not a certificate\n")
    cases.append((["client", "--server", addr(p), "--ca-cert", garbage],
                  garbage))
    for args, name in cases:
        r = ctx.run("missing", args, 20)
        what = "tripki %s" % " ".join(args)
        expect_rc(r, EXIT_FAIL, what)
        line = failure_line(r, what)
        check(name in line, "%s: the line does not name %s: %r", what, name,
              line)


@test("cli_address_in_use", 60)
def t_in_use(ctx):
    cadir = ca_dir(ctx)
    hold = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ctx.socks.append(hold)
    hold.bind((HOST, 0))
    hold.listen(1)
    port = hold.getsockname()[1]
    r = ctx.run("ca-in-use", ["ca", "serve", "--dir", cadir, "--listen",
                              addr(port), "--open"], 20)
    expect_rc(r, EXIT_FAIL, "ca serve on a port in use")
    line = failure_line(r, "ca serve on a port in use")
    check(re.search(r"in use", line, re.I) and str(port) in line,
          "ca serve: the line does not say %s is in use: %r", addr(port),
          line)
    ca = start_ca(ctx, cadir)
    r = ctx.run("server-in-use", ["server", "--dir", ctx.path("srv"),
                                  "--ca", ca.addr, "--ca-cert",
                                  os.path.join(cadir, "ca.crt"),
                                  "--listen", addr(port)], 20)
    expect_rc(r, EXIT_FAIL, "server on a port in use")
    line = failure_line(r, "server on a port in use")
    check(re.search(r"in use", line, re.I) and str(port) in line,
          "server: the line does not say %s is in use: %r", addr(port), line)


@test("cli_unreachable", 60)
def t_unreachable(ctx):
    cadir = ca_dir(ctx)
    port = free_port()            # nobody listens there
    t0 = time.monotonic()
    r = ctx.run("client", client_args(port, cadir, retry_for=1), 30)
    expect_rc(r, EXIT_UNREACHABLE, "client with nobody at the server address")
    check(r.err_lines and str(port) in r.err_lines[-1] and
          re.search(r"unreachable|no answer|could not connect|cannot "
                    r"connect|refused", r.err_lines[-1], re.I),
          "client: the last line does not say %s was unreachable: %r",
          addr(port), r.err_lines[-1:])
    check(time.monotonic() - t0 < 20 * SCALE, "client --retry-for 1 took "
          "%.1fs", time.monotonic() - t0)


@test("client_wrong_trust_anchor", 60)
def t_wrong_ca(ctx):
    cadir, ca, srv = setup(ctx, data="x")
    other = ca_init(ctx, name="other-ca", extra=["--id", "ID-CA"])
    r = run_client(ctx, srv.port, other)
    expect_rc(r, EXIT_REJECTED, "client trusting another CA")
    check(r.out == "", "client got data")
    check(re.search(r"certificate", r.err_lines[-1] if r.err_lines else "",
                    re.I) and
          re.search(r"signature|issu|verif|trust", r.err_lines[-1], re.I),
          "client: the last line does not say the certificate was rejected "
          "and why: %r", r.err_lines[-1:])


@test("client_wrong_server_id", 60)
def t_wrong_id(ctx):
    cadir, ca, srv = setup(ctx, data="x")
    r = run_client(ctx, srv.port, cadir, server_id="Other-Server")
    # The server answers M3 for an identity it is not with an error.
    expect_rc(r, EXIT_REFUSED, "client asking ID-Server for Other-Server")
    check(r.out == "", "client got data")
    check(r.err_lines and re.search(r"identity|subject|Other-Server",
                                    r.err_lines[-1], re.I),
          "client: the last line does not say the identity is wrong: %r",
          r.err_lines[-1:])


# ---------------------------------------------------------------- runner

def run_one(name, budget, fn, keep):
    """Runs a test; returns (status, reason).  Retries once on a port
    conflict."""
    for attempt in range(3):
        ctx = Ctx(name, budget)
        failed = False
        try:
            fn(ctx)
            bad = ctx.sanitizer_reports()
            if bad:
                failed = True
                return "FAIL", "sanitizer report: " + "; ".join(bad[:2])
            return "ok", ""
        except PortConflict as e:
            if attempt == 2:
                failed = True
                return "FAIL", "port conflict three times: %s" % e
            continue
        except Skip as e:
            return "skip", str(e)
        except TestFailure as e:
            failed = True
            bad = ctx.sanitizer_reports()
            extra = (" [sanitizer: %s]" % "; ".join(bad[:2])) if bad else ""
            return "FAIL", str(e) + extra
        except Exception as e:          # a bug in the test itself
            failed = True
            return "FAIL", "harness error: %s" % (
                traceback.format_exc().strip().replace("\n", " | "))
        finally:
            if failed and keep:
                sys.stderr.write("  (kept %s)\n" % ctx.dir)
            ctx.cleanup(keep=failed and keep)


def main(argv):
    global SESSION_DIR
    import argparse
    import tempfile
    ap = argparse.ArgumentParser(description="tripki end-to-end tests")
    ap.add_argument("-j", "--jobs", type=int,
                    default=int(os.environ.get("E2E_JOBS", "3")))
    ap.add_argument("-k", action="append", default=[],
                    help="run only tests whose name contains this")
    ap.add_argument("--keep", action="store_true",
                    help="keep a failed test's directory and logs")
    ap.add_argument("-l", "--list", action="store_true")
    args = ap.parse_args(argv)

    # More suites live beside this file as tests_*.py, each with its own
    # TESTS list of (name, budget, fn) built with the same `test` decorator.
    import glob
    import importlib
    for path in sorted(glob.glob(os.path.join(os.path.dirname(
            os.path.abspath(__file__)), "tests_*.py"))):
        TESTS.extend(importlib.import_module(
            os.path.basename(path)[:-3]).TESTS)
    if args.list:
        for name, _, _ in TESTS:
            print(name)
        return 0
    if not TRIPKI or not os.path.isabs(TRIPKI) or not os.access(TRIPKI,
                                                               os.X_OK):
        print("TRIPKI must be the absolute path of the tripki binary "
              "(got %r)" % TRIPKI, file=sys.stderr)
        return 2
    tests = [t for t in TESTS if not args.k or any(k in t[0] for k in args.k)]
    SESSION_DIR = tempfile.mkdtemp(prefix="tripki-e2e-session-")

    def interrupted(signum, frame_):
        kill_everything()
        shutil.rmtree(SESSION_DIR, ignore_errors=True)
        sys.stdout.flush()
        sys.stderr.write("e2e: interrupted by signal %d; every process "
                         "started was killed\n" % signum)
        os._exit(128 + signum)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)
    counts = {"ok": 0, "FAIL": 0, "skip": 0}
    lock = threading.Lock()
    t0 = time.monotonic()

    def job(t):
        name, budget, fn = t
        st, why = run_one(name, budget, fn, args.keep)
        with lock:
            counts[st] += 1
            if st == "ok":
                print("ok %s" % name, flush=True)
            elif st == "skip":
                print("skip %s: %s" % (name, why), flush=True)
            else:
                print("FAIL %s: %s" % (name, why), flush=True)

    try:
        with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
            list(ex.map(job, tests))
    finally:
        shutil.rmtree(SESSION_DIR, ignore_errors=True)
    sys.stderr.write("e2e: %.0fs (scale %g, %d jobs)\n"
                     % (time.monotonic() - t0, SCALE, args.jobs))
    sys.stderr.flush()
    summary = "%d passed, %d failed" % (counts["ok"], counts["FAIL"])
    if counts["skip"]:
        summary += ", %d skipped" % counts["skip"]
    print(summary, flush=True)
    return 1 if counts["FAIL"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
