"""
Hardening: hostile peers, floods, slow peers, oracles and faults, against
the real daemons on loopback (docs/SECURITY.md names each test).

Sources are told apart by binding client sockets to other loopback
addresses (127.0.0.0/8 is all loopback on Linux): legitimate clients come
from 127.0.0.1, attackers from 127.0.0.2 and up.

Set HARDENING_REPORT=FILE to have the measuring tests append their figures
to FILE as JSON lines (docs/SECURITY.md quotes them).
"""

import json
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import __main__                                  # noqa: E402
if hasattr(__main__, "ca_dir"):
    # Run by tests.py as a script: use its module, whose session
    # directory (the shared CA fixture) main() has set.
    T = __main__
else:
    import tests as T                            # noqa: E402

from harness import (HOST, MERROR, SCALE, TestFailure, Skip, check, frame,
                     free_port, parse_frames, read_answer, wait_port)

TESTS = []

M1, M3, M5 = 1, 3, 5
E_DECRYPT, E_BUSY = 20, 41


def test(name, budget=60):
    def deco(fn):
        TESTS.append((name, budget, fn))
        return fn
    return deco


def report(name, **figures):
    path = os.environ.get("HARDENING_REPORT")
    if not path:
        return
    with open(path, "a") as f:
        f.write(json.dumps(dict(test=name, **figures)) + "\n")


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cpu_s(pid):
    """User + system CPU time of a process, in seconds."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf(
            "SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


class RssWatch:
    """Samples a process's resident set every 0.2 s in a thread."""

    def __init__(self, pid):
        self.pid = pid
        self.samples = []
        self.stop_ = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while not self.stop_.is_set():
            v = rss_kb(self.pid)
            if v:
                self.samples.append(v)
            self.stop_.wait(0.2)

    def stop(self):
        self.stop_.set()
        self.t.join(2)
        return max(self.samples) if self.samples else 0


def rss_growth_limit_kb():
    """How much a daemon's RSS may grow in a test: 64 MB; under a
    sanitizer (SCALE > 1) ASan's quarantine alone keeps up to 256 MB of
    freed memory, so the bound there only catches runaway growth."""
    return 64 * 1024 if SCALE <= 1 else 768 * 1024


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= n:
        return
    if hard != resource.RLIM_INFINITY and hard < n:
        raise Skip("needs %d open files, the hard limit is %d" % (n, hard))
    resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))


def source_ok(addr):
    s = socket.socket()
    try:
        s.bind((addr, 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


def need_sources():
    if not source_ok("127.0.0.2"):
        raise Skip("cannot bind 127.0.0.2: 127.0.0.0/8 is not all loopback "
                   "here")


def connect_from(src, port, timeout=5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.bind((src, 0))
    s.connect((HOST, port))
    return s


def m4_from(ctx, src, port):
    """Whether a new connection from `src` is answered M3 with M4; the
    connection is closed after."""
    s = connect_from(src, port)
    ctx.socks.append(s)
    s.sendall(m3())
    ok = read_frame(s)[1] == 4
    s.close()
    return ok


def recv_exact(sock, n, deadline):
    buf = b""
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TestFailure("timed out reading %d bytes" % n)
        sock.settimeout(left)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise TestFailure("connection closed after %d of %d bytes"
                              % (len(buf), n))
        buf += chunk
    return buf


def read_frame(sock, timeout=10):
    deadline = time.monotonic() + timeout * SCALE
    hdr = recv_exact(sock, 6, deadline)
    return hdr + recv_exact(sock, int.from_bytes(hdr[2:6], "big"), deadline)


def error_frame(code):
    return frame(MERROR, code.to_bytes(2, "big"))


def m3(server_id=T.SERVER_ID, ts_ms=None):
    ts = int(time.time() * 1000) if ts_ms is None else ts_ms
    sid = server_id.encode()
    return frame(M3, ts.to_bytes(8, "big") + bytes([len(sid)]) + sid)


def garbage_sealed(ftype):
    """A well-formed M1 or M5 frame whose wrapped key and AEAD are random:
    it costs the receiver an RSA private operation, then fails."""
    body = (256).to_bytes(2, "big") + os.urandom(256) + os.urandom(80)
    return frame(ftype, body)


# ---------------------------------------------------------------- oracles

def _capture(ctx, lst, timeout, first, relay=None):
    """Accepts one connection on lst; with relay (host port), forwards
    `first` frames each way and returns the next frame the peer sends,
    without forwarding it.  Without relay, returns the first frame."""
    lst.settimeout(ctx.clip(timeout))
    a, _ = lst.accept()
    ctx.socks.append(a)
    if relay is None:
        f = read_frame(a)
        a.close()
        return f
    up = socket.create_connection((HOST, relay), timeout=ctx.clip(5))
    ctx.socks.append(up)
    for _ in range(first):
        up.sendall(read_frame(a))
        a.sendall(read_frame(up))
    f = read_frame(a)
    a.close()
    up.close()
    return f


def _variants(f):
    """Bad copies of a sealed frame with a wrapped-key prefix: header (6) ||
    u16 n (256) || wrapped key (256) || ciphertext || tag (16)."""
    n = int.from_bytes(f[6:8], "big")
    check(n == 256, "expected a 256-byte wrapped key, got %d", n)

    def flip(i):
        b = bytearray(f)
        b[i] ^= 0x01
        return bytes(b)
    wrapped_ff = f[:8] + b"\xff" * 256 + f[8 + 256:]
    short = frame(f[1], (255).to_bytes(2, "big") + f[8:8 + 255] +
                  f[8 + 256:])
    return [
        ("bad OAEP block (one bit)", flip(8 + 100)),
        ("OAEP block >= modulus", wrapped_ff),
        ("wrapped key 255 bytes", short),
        ("good OAEP block, bad ciphertext", flip(8 + 256 + 3)),
        ("good OAEP block, bad tag", flip(len(f) - 1)),
        ("random wrapped key and body", garbage_sealed(f[1])),
    ]


def _probe(ctx, port, payload):
    s = ctx.connect(port)
    t0 = time.monotonic()
    s.sendall(payload)
    buf, closed = read_answer(ctx, s, 5)
    dt = time.monotonic() - t0
    s.close()
    return buf, closed, dt


def _same_answers(ctx, what, port, good, rounds=5):
    """Every bad copy gets the same bytes and the same close."""
    variants = _variants(good)
    want = error_frame(E_DECRYPT)
    times = {name: [] for name, _ in variants}
    for _ in range(rounds):
        for name, payload in variants:
            buf, closed, dt = _probe(ctx, port, payload)
            check(buf == want, "%s, %s: answer %r, want the DECRYPT error "
                  "frame %r like every other bad message", what, name,
                  buf[:40], want)
            check(closed, "%s, %s: the connection was not closed after the "
                  "error frame", what, name)
            times[name].append(dt)
    med = {k: sorted(v)[len(v) // 2] * 1000 for k, v in times.items()}
    report(what, median_ms=med)
    return med


@test("oracle_m5_bad_oaep_answered_like_bad_tag", 60)
def t_oracle_m5(ctx):
    """An M5 whose OAEP block fails, one whose ciphertext fails, one whose
    tag fails (and more) each get the same DECRYPT frame and a close."""
    cadir, ca, srv = T.setup(ctx, extra=["--rate-limit", "1000:1000"])
    lst = socket.socket()
    ctx.socks.append(lst)
    lst.bind((HOST, 0))
    lst.listen(4)
    c = T.spawn_client(ctx, lst.getsockname()[1], cadir, retry_for=10)
    good = _capture(ctx, lst, 15, 1, relay=srv.port)
    c.kill()
    check(good[1] == M5, "captured frame is type %d, not M5", good[1])
    _same_answers(ctx, "M5 at the server", srv.port, good)
    check(srv.proc.running(), "server died: %s", srv.proc.tail())
    # The server still serves, and said nothing more to the peer than that.
    T.expect_data(T.run_client(ctx, srv.port, cadir),
                  [T.DEFAULT_DATA])


@test("oracle_m1_bad_oaep_answered_like_bad_tag", 60)
def t_oracle_m1(ctx):
    cadir = T.ca_dir(ctx)
    ca = T.start_ca(ctx, cadir, extra=["--rate-limit", "1000:1000"])
    lst = socket.socket()
    ctx.socks.append(lst)
    lst.bind((HOST, 0))
    lst.listen(4)
    srv = T.spawn_server(ctx, lst.getsockname()[1], cadir)
    good = _capture(ctx, lst, 15, 0)
    srv.proc.kill()
    check(good[1] == M1, "captured frame is type %d, not M1", good[1])
    _same_answers(ctx, "M1 at the CA", ca.port, good)
    check(ca.proc.running(), "CA died: %s", ca.proc.tail())


# ---------------------------------------------------------------- floods

FLOOD_PY = r'''
import json, os, selectors, socket, sys, time
host, port, src, conc, dur, ftype = (sys.argv[1], int(sys.argv[2]),
    sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]))
st = dict(sent=0, busy=0, decrypt=0, other=0, noanswer=0, refused=0)
sel = selectors.DefaultSelector()
def garbage():
    body = (256).to_bytes(2, "big") + os.urandom(256 + 80)
    return bytes([1, ftype]) + len(body).to_bytes(4, "big") + body
def start():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setblocking(False)
    s.bind((src, 0))
    try:
        s.connect((host, port))
    except BlockingIOError:
        pass
    except OSError:
        st["refused"] += 1
        s.close()
        return
    sel.register(s, selectors.EVENT_WRITE, {"buf": b"", "sent": False})
def done(s, d):
    b = d["buf"]
    if len(b) >= 8 and b[1] == 0x10:
        code = int.from_bytes(b[6:8], "big")
        st["busy" if code == 41 else "decrypt" if code == 20 else "other"] += 1
    else:
        st["noanswer"] += 1
    sel.unregister(s)
    s.close()
end = time.monotonic() + dur
for _ in range(conc):
    start()
while time.monotonic() < end:
    if not sel.get_map():
        time.sleep(0.05)
        for _ in range(conc):
            start()
        continue
    for key, ev in sel.select(timeout=0.2):
        s, d = key.fileobj, key.data
        if not d["sent"]:
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                st["refused"] += 1
                sel.unregister(s); s.close(); start()
                continue
            try:
                s.send(garbage())
            except OSError:
                pass
            d["sent"] = True
            st["sent"] += 1
            sel.modify(s, selectors.EVENT_READ, d)
            continue
        try:
            chunk = s.recv(4096)
        except OSError:
            chunk = b""
        if chunk:
            d["buf"] += chunk
            continue
        done(s, d)
        start()
print(json.dumps(st), flush=True)
'''


def _flood(ctx, port, src, ftype, seconds, conc=16):
    path = ctx.path("flood.py")
    with open(path, "w") as f:
        f.write(FLOOD_PY)
    return ctx.spawn_raw("flood", [sys.executable, "-B", path, HOST, port,
                                   src, conc, seconds, ftype])


def _flood_result(p):
    p.wait(30)
    try:
        return json.loads(p.stdout().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise TestFailure("flooder printed no result: %s" % p.tail())


@test("flood_garbage_m5_one_source", 90)
def t_flood_m5(ctx):
    """A flood of garbage M5 from 127.0.0.2: legitimate clients from
    127.0.0.1 still complete (at least 90%), the flooder gets no more RSA
    work than its token bucket allows, and the server's memory stays
    bounded."""
    need_sources()
    dd = ctx.mkdir("data")
    for i in range(24):
        with open(os.path.join(dd, "r%02d" % i), "w") as f:
            f.write("answer %02d\n" % i)
    # HARDENING_FLOOD_FLAGS (e.g. "--rate-limit 0") runs the same flood
    # against other limits, for comparison; it only reports.
    flags = os.environ.get("HARDENING_FLOOD_FLAGS", "").split()
    cadir, ca, srv = T.setup(ctx, data_dir=dd, extra=flags)
    base = rss_kb(srv.proc.pid)
    cpu0 = cpu_s(srv.proc.pid)
    watch = RssWatch(srv.proc.pid)
    secs = 14
    fl = _flood(ctx, srv.port, "127.0.0.2", M5, secs)
    ctx.sleep(1.5)
    n, ok, bad, t0 = 24, 0, [], time.monotonic()
    for batch in range(0, n, 4):
        cs = [T.spawn_client(ctx, srv.port, cadir, cid="legit-%02d" % i,
                             request="r%02d" % i, retry_for=20,
                             name="legit-%02d" % i)
              for i in range(batch, batch + 4)]
        for i, c in zip(range(batch, batch + 4), cs):
            c.wait(40)
            if c.rc == 0 and c.out_lines() == ["answer %02d" % i]:
                ok += 1
            else:
                bad.append("legit-%02d: status %s, %s" % (i, c.rc, c.tail(1)))
    legit_s = time.monotonic() - t0
    st = _flood_result(fl)
    peak = watch.stop()
    cpu = cpu_s(srv.proc.pid) - cpu0
    pct = 100.0 * ok / n
    report("flood_garbage_m5_one_source", flags=flags, legit_ok=ok,
           legit_total=n,
           legit_pct=pct, legit_seconds=round(legit_s, 1), flood=st,
           flood_seconds=secs, rss_base_kb=base, rss_peak_kb=peak,
           server_cpu_s=round(cpu, 1), legit_failures=bad[:3])
    check(srv.proc.running(), "server died under the flood: %s",
          srv.proc.tail())
    if flags:
        return
    check(st["sent"] > 200, "the flooder sent only %d frames: no flood",
          st["sent"])
    check(pct >= 90, "only %d of %d legitimate clients completed under the "
          "flood (%s)", ok, n, "; ".join(bad[:3]))
    # The default bucket: 40 at once, 20 a second after that.
    limit = 40 + 20 * (secs + 2) * 1.2
    check(st["decrypt"] <= limit, "the flooder got %d RSA operations in "
          "%d s, over its bucket (%d)", st["decrypt"], secs, limit)
    check(st["busy"] > 0, "no flood frame was refused with BUSY: %r", st)
    check(peak - base < rss_growth_limit_kb(), "server RSS grew from %d kB "
          "to %d kB under the flood", base, peak)
    # A clean stop after it (under ASan, LeakSanitizer then reports leaks).
    T.stop_clean(ctx, srv)


class Dribbler:
    """Many connections that each send one byte every `every` seconds of a
    frame that never completes, from given source addresses; records when
    and how each was closed."""

    def __init__(self, ctx, port, sources, every=5.0):
        self.ctx, self.port, self.every = ctx, port, every
        self.sel = selectors.DefaultSelector()
        self.sources = sources
        self.live = {}
        self.closed = []       # (age s, got_busy)
        self.opened = 0
        self.payload = m3()

    def open_one(self, src):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((src, 0))
        try:
            s.connect((HOST, self.port))
        except BlockingIOError:
            pass
        except OSError:
            s.close()
            return
        st = {"t0": time.monotonic(), "next": 0.0, "sent": 0, "buf": b"",
              "src": src}
        self.live[s] = st
        self.sel.register(s, selectors.EVENT_READ, st)
        self.opened += 1

    def close(self, s, st):
        self.sel.unregister(s)
        del self.live[s]
        s.close()
        self.closed.append((time.monotonic() - st["t0"],
                            st["buf"][:8] == error_frame(E_BUSY)))

    def pump(self, until, reopen=False):
        while time.monotonic() < until:
            now = time.monotonic()
            for s, st in list(self.live.items()):
                if now >= st["t0"] + st["next"] and st["sent"] < len(
                        self.payload) - 1:
                    try:
                        s.send(self.payload[st["sent"]:st["sent"] + 1])
                        st["sent"] += 1
                    except (BlockingIOError, OSError):
                        pass
                    st["next"] += self.every
            for key, _ in self.sel.select(timeout=0.1):
                s, st = key.fileobj, key.data
                try:
                    chunk = s.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if chunk:
                    st["buf"] += chunk
                    continue
                src = st["src"]
                self.close(s, st)
                if reopen:
                    self.open_one(src)

    def shutdown(self):
        for s in list(self.live):
            s.close()
        self.live.clear()


@test("slow_peers_1000_do_not_starve_clients", 90)
def t_slow(ctx):
    """1,000 connections that send one byte every 5 s (500 from one
    address, 500 from twenty others), reopened whenever the server drops
    them: new clients are still served, the handshake timeout closes every
    one of them, and the server's memory stays bounded."""
    need_sources()
    raise_nofile(4096)
    cadir, ca, srv = T.setup(ctx, data="served")
    base = rss_kb(srv.proc.pid)
    watch = RssWatch(srv.proc.pid)
    srcs = ["127.0.0.2"] * 500 + ["127.0.0.%d" % (10 + i % 20)
                                  for i in range(500)]
    dr = Dribbler(ctx, srv.port, srcs)
    for i in range(0, 1000, 50):
        for src in srcs[i:i + 50]:
            dr.open_one(src)
        dr.pump(time.monotonic() + 0.05)
    t_open = time.monotonic()
    served, tries, lat = 0, 0, []
    result = {}

    def clients():
        nonlocal served, tries
        for i in range(8):
            tries += 1
            t0 = time.monotonic()
            r = T.run_client(ctx, srv.port, cadir, timeout=30,
                             retry_for=10, extra=["--timeout", "5"])
            if r.rc == 0 and r.out_lines == ["served"]:
                served += 1
                lat.append(time.monotonic() - t0)
            else:
                result.setdefault("bad", []).append(r.describe())
            time.sleep(0.5)
    th = threading.Thread(target=clients, daemon=True)
    th.start()
    # Keep the pressure on for 12 s: a dropped connection comes back.
    dr.pump(t_open + 12, reopen=True)
    th.join(ctx.clip(40))
    held = len(dr.live)
    # Then stop reopening: every connection left must be closed by the
    # handshake timeout (10 s) plus a little.
    dr.pump(time.monotonic() + 14)
    left = len(dr.live)
    dr.shutdown()
    peak = watch.stop()
    ages = sorted(a for a, busy in dr.closed if not busy)
    report("slow_peers_1000", opened=dr.opened, held_at_12s=held,
           closed=len(dr.closed),
           busy_closes=sum(1 for _, b in dr.closed if b),
           timeout_closes=sum(1 for a in ages if a >= 9.5),
           max_age_s=round(max(a for a, _ in dr.closed), 1),
           clients_served=served, clients_tried=tries,
           client_latency_s=[round(x, 2) for x in lat],
           rss_base_kb=base, rss_peak_kb=peak)
    check(srv.proc.running(), "server died: %s", srv.proc.tail())
    check(served == tries and tries == 8, "only %d of %d clients served "
          "among the slow peers: %s", served, tries,
          "; ".join(result.get("bad", [])[:2]))
    check(left == 0, "%d slow connections still open 14 s after the last "
          "was made", left)
    too_old = [a for a, _ in dr.closed if a > 10 + 3 * SCALE]
    check(not too_old, "%d slow connections lived longer than the 10 s "
          "handshake timeout (up to %.1f s)", len(too_old),
          max(too_old) if too_old else 0)
    check(any(a >= 9.5 for a in ages), "no slow connection was closed by "
          "the handshake timeout")
    check(peak - base < rss_growth_limit_kb(), "server RSS grew from %d kB "
          "to %d kB with 1,000 slow peers", base, peak)


@test("slow_peers_1000_all_held_then_timed_out", 60)
def t_slow_held(ctx):
    """The same 1,000 slow connections against a server whose limits let
    every one of them in (--per-source-conns 0, --max-startups
    2000:30:4000): new clients are served beside them, the handshake
    timeout closes all 1,000, and memory stays bounded."""
    need_sources()
    raise_nofile(4096)
    cadir, ca, srv = T.setup(ctx, data="served", extra=[
        "--per-source-conns", "0", "--max-startups", "2000:30:4000"])
    base = rss_kb(srv.proc.pid)
    watch = RssWatch(srv.proc.pid)
    srcs = ["127.0.0.%d" % (2 + i % 20) for i in range(1000)]
    dr = Dribbler(ctx, srv.port, srcs)
    for i in range(0, 1000, 100):
        for src in srcs[i:i + 100]:
            dr.open_one(src)
        dr.pump(time.monotonic() + 0.05)
    dr.pump(time.monotonic() + 1)
    held = len(dr.live)
    served, lat = 0, []
    for _ in range(4):
        t0 = time.monotonic()
        r = T.run_client(ctx, srv.port, cadir, timeout=30, retry_for=10,
                         extra=["--timeout", "5"])
        if r.rc == 0 and r.out_lines == ["served"]:
            served += 1
            lat.append(round(time.monotonic() - t0, 2))
        dr.pump(time.monotonic() + 0.5)
    dr.pump(time.monotonic() + 14, reopen=False)
    left = len(dr.live)
    dr.shutdown()
    peak = watch.stop()
    ages = [a for a, _ in dr.closed]
    report("slow_peers_1000_all_held", opened=dr.opened, held=held,
           closed=len(dr.closed), min_age_s=round(min(ages), 1),
           max_age_s=round(max(ages), 1), clients_served=served,
           client_latency_s=lat, rss_base_kb=base, rss_peak_kb=peak)
    check(held == 1000, "only %d of the 1,000 slow connections were held "
          "open", held)
    check(served == 4, "only %d of 4 clients served beside 1,000 slow "
          "connections", served)
    check(left == 0, "%d slow connections still open after 15 s", left)
    check(all(9.5 <= a <= 10 + 3 * SCALE for a in ages), "slow connections "
          "closed after %.1f to %.1f s, want the 10 s handshake timeout",
          min(ages), max(ages))
    check(peak - base < rss_growth_limit_kb(), "server RSS grew from %d kB "
          "to %d kB holding 1,000 slow peers", base, peak)


@test("pipelined_requests_unread_answers_bounded", 60)
def t_unread(ctx):
    """A peer that pipelines thousands of M3 and never reads the M4
    answers: the server stops reading it once 128 KiB of answers wait
    (its memory stays flat), closes it within twice --timeout, and serves
    others meanwhile.  Pipelined frames from a peer that reads are all answered."""
    cadir, ca, srv = T.setup(ctx, data="y", extra=["--timeout", "4",
                                                   "--handshake-timeout",
                                                   "30"])
    # A reader: 20 M3 in one write, 20 M4 back, in order.
    s = ctx.connect(srv.port)
    s.sendall(b"".join(m3() for _ in range(20)))
    got = [read_frame(s)[1] for _ in range(20)]
    check(got == [4] * 20, "20 pipelined M3: answers %r", got)
    s.close()
    base = rss_kb(srv.proc.pid)
    watch = RssWatch(srv.proc.pid)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((HOST, srv.port))
    ctx.socks.append(s)
    s.settimeout(0.5)
    chunk = b"".join(m3() for _ in range(2000))
    sent, t0 = 0, time.monotonic()
    while time.monotonic() - t0 < 3:
        try:
            s.sendall(chunk)
            sent += 2000
        except socket.timeout:
            break                   # the server stopped reading us
        except OSError:
            break
    # Served meanwhile.
    T.expect_data(T.run_client(ctx, srv.port, cadir), ["y"])
    # Closed at --timeout (4 s) after the last frame it took.
    closed_after = None
    t1 = time.monotonic()
    s.settimeout(0.2)
    while time.monotonic() - t1 < 12 * SCALE:
        try:
            s.send(m3())
        except socket.timeout:
            pass
        except OSError:
            closed_after = time.monotonic() - t0
            break
        time.sleep(0.2)
    peak = watch.stop()
    report("pipelined_unread", m3_sent=sent, rss_base_kb=base,
           rss_peak_kb=peak, closed_after_s=closed_after)
    check(peak - base < rss_growth_limit_kb(), "server RSS grew from %d kB "
          "to %d kB with answers unread", base, peak)
    check(closed_after is not None, "a peer that never reads was not "
          "closed")
    check(srv.proc.running(), "server died: %s", srv.proc.tail())


@test("costly_frame_answered_after_peer_half_closes", 40)
def t_half_close(ctx):
    """A peer that sends an M1 or M5 and then shuts its side (or sends more
    before the answer) still gets its answer before the close: the end of
    input met while the frame is being opened waits for the answer."""
    cadir, ca, srv = T.setup(ctx)
    for who, port, ftype in (("server", srv.port, M5), ("CA", ca.port, M1)):
        for how in ("then SHUT_WR", "then an M3 and SHUT_WR", "alone"):
            s = ctx.connect(port)
            # One write: the end of input (or the M3) follows the frame
            # by microseconds, well within its RSA operation.
            s.sendall(garbage_sealed(ftype) + (m3() if "M3" in how else
                                                 b""))
            if "SHUT_WR" in how:
                s.shutdown(socket.SHUT_WR)
            buf, closed = read_answer(ctx, s, 5)
            s.close()
            check(buf == error_frame(E_DECRYPT), "%s: M%d %s: answer %r, "
                  "want the DECRYPT error frame", who, ftype, how, buf[:40])
            check(closed, "%s: M%d %s: not closed after the answer", who,
                  ftype, how)
    check(srv.proc.running() and ca.proc.running(), "a daemon died")
    T.expect_data(T.run_client(ctx, srv.port, cadir), [T.DEFAULT_DATA])


@test("handshake_deadline_not_reset_by_traffic", 40)
def t_deadline(ctx):
    """A peer that keeps sending whole M3 frames (each answered) is closed
    at --handshake-timeout; one that dribbles a frame byte by byte is
    closed at --timeout: neither can keep resetting its clock."""
    cadir, ca, srv = T.setup(ctx, extra=["--handshake-timeout", "3",
                                         "--timeout", "2"])
    chatty = ctx.connect(srv.port)
    drib = ctx.connect(srv.port)
    socks = {"chatty": chatty, "drib": drib}
    sel = selectors.DefaultSelector()
    for name, s in socks.items():
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, name)
    f = m3()
    t0 = time.monotonic()
    ends, nxt, i = {}, {"chatty": 0.0, "drib": 0.0}, 0
    while time.monotonic() - t0 < 8 * SCALE and len(ends) < 2:
        el = time.monotonic() - t0
        if "chatty" not in ends and el >= nxt["chatty"]:
            try:
                chatty.send(m3())           # a whole frame, each second
            except OSError:
                pass
            nxt["chatty"] += 1.0
        if "drib" not in ends and el >= nxt["drib"] and i < len(f) - 1:
            try:
                drib.send(f[i:i + 1])       # one byte every 0.5 s
            except OSError:
                pass
            i += 1
            nxt["drib"] += 0.5
        for key, _ in sel.select(timeout=0.05):
            try:
                chunk = key.fileobj.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                ends[key.data] = time.monotonic() - t0
                sel.unregister(key.fileobj)
    report("handshake_deadline", closed_at=ends)
    check("chatty" in ends and 2.5 <= ends["chatty"] <= 3 + 2 * SCALE,
          "a peer sending an M3 every ~1 s was closed at %s s, want about "
          "3 s (--handshake-timeout 3)", ends.get("chatty"))
    check("drib" in ends and 1.5 <= ends["drib"] <= 2 + 2 * SCALE,
          "a peer sending a byte every 0.5 s was closed at %s s, want "
          "about 2 s (--timeout 2)", ends.get("drib"))


@test("per_source_conns_and_rate_limit", 40)
def t_per_source(ctx):
    """Past --per-source-conns a source gets BUSY at once while another
    source is served; past its --rate-limit bucket an M5 gets BUSY without
    any RSA work, and the bucket refills."""
    need_sources()
    cadir, ca, srv = T.setup(ctx, data="x", extra=[
        "--per-source-conns", "5", "--rate-limit", "2:3"])
    held = [connect_from("127.0.0.2", srv.port) for _ in range(5)]
    for s in held:
        ctx.socks.append(s)
    time.sleep(0.3)
    extra = connect_from("127.0.0.2", srv.port)
    ctx.socks.append(extra)
    buf, closed = read_answer(ctx, extra, 5)
    check(buf == error_frame(E_BUSY) and closed, "the 6th connection from "
          "127.0.0.2 (--per-source-conns 5): got %r closed=%s, want BUSY "
          "and a close", buf[:20], closed)
    check(m4_from(ctx, "127.0.0.3", srv.port), "127.0.0.3 was not "
          "answered M4 while 127.0.0.2 was at its limit")
    for s in held:
        s.close()
    time.sleep(0.3)
    codes = []
    for _ in range(6):
        s = connect_from("127.0.0.4", srv.port)
        ctx.socks.append(s)
        s.sendall(garbage_sealed(M5))
        buf, _ = read_answer(ctx, s, 5)
        codes.append(int.from_bytes(buf[6:8], "big") if len(buf) >= 8
                     else None)
        s.close()
    check(codes[:3] == [E_DECRYPT] * 3 and E_BUSY in codes[3:],
          "garbage M5 from one source with --rate-limit 2:3: codes %r, want "
          "3 x DECRYPT (the burst) then BUSY", codes)
    time.sleep(1.2)
    s = connect_from("127.0.0.4", srv.port)
    ctx.socks.append(s)
    s.sendall(garbage_sealed(M5))
    buf, _ = read_answer(ctx, s, 5)
    check(buf == error_frame(E_DECRYPT), "after 1.2 s the bucket did not "
          "refill: %r", buf[:20])
    T.expect_data(T.run_client(ctx, srv.port, cadir), ["x"])
    T.stop_clean(ctx, srv)


@test("source_table_full_refuses_newcomers", 40)
def t_sources_full(ctx):
    """With --max-sources 3 and three addresses holding connections, a
    fourth address gets BUSY at once and one warning line, while the
    three are still served; once one of them has gone, the newcomer
    gets in."""
    need_sources()
    cadir, ca, srv = T.setup(ctx, data="x", extra=["--max-sources", "3"])
    time.sleep(1.2)     # the probe of the port from 127.0.0.1 forgotten
    held = {a: connect_from(a, srv.port)
            for a in ("127.0.0.2", "127.0.0.3", "127.0.0.4")}
    ctx.socks.extend(held.values())
    time.sleep(0.3)
    late = connect_from("127.0.0.5", srv.port)
    ctx.socks.append(late)
    buf, closed = read_answer(ctx, late, 5)
    check(buf == error_frame(E_BUSY) and closed, "a 4th address with "
          "--max-sources 3: got %r closed=%s, want BUSY and a close",
          buf[:20], closed)
    srv.proc.wait_stderr(r"refused 127\.0\.0\.5:\d+: 3 sources remembered "
                         r"\(the table is full, --max-sources\)$", 5)
    # The sources already known are served as before.
    check(m4_from(ctx, "127.0.0.3", srv.port), "127.0.0.3, already known, "
          "was not answered M4 while the table was full")
    held.pop("127.0.0.3").close()
    # Forgotten by a sweep (every second, or at the next newcomer once
    # 100 ms have passed since the last walk of a full table).
    time.sleep(1.2)
    check(m4_from(ctx, "127.0.0.5", srv.port), "127.0.0.5 was not let in "
          "after 127.0.0.3 left")
    for sk in ctx.socks:
        sk.close()
    time.sleep(1.2)
    T.expect_data(T.run_client(ctx, srv.port, cadir), ["x"])
    T.stop_clean(ctx, srv)


# ---------------------------------------------------------------- faults

@test("fault_kill9_server_mid_session", 60)
def t_kill9(ctx):
    """kill -9 the server between requests of a session: the client says
    so, and registers again with the restarted server."""
    cadir, ca, srv = T.setup(ctx, data="before and after")
    c = T.spawn_client(ctx, srv.port, cadir, retry_for=30,
                       extra=["--repeat", "6", "--interval", "1"])
    c.wait_stdout_lines(2, 30)
    srv.proc.kill()
    ctx.sleep(1.5)
    srv2 = T.spawn_server(ctx, ca.port, cadir, sdir=srv.dir, port=srv.port,
                          data="before and after", name="server-restarted")
    c.wait(40)
    check(c.rc == 0 and c.out_lines() == ["before and after"] * 6,
          "client across a kill -9 of the server: status %s, stdout %r, "
          "stderr %s", c.rc, c.out_lines(), c.tail(4))
    err = c.stderr()
    report("fault_kill9_server_mid_session",
           client=[l for l in err.splitlines() if "trace" not in l][-6:])
    check(re.search(r"restart|lost|closed the connection|registering again",
                    err, re.I),
          "the client did not report the server's loss: %r", err[-400:])
    check(len(re.findall(r"registered with", err)) >= 2,
          "the client did not register again with the restarted server: "
          "%r", err[-400:])
    check(srv2.proc.running(), "restarted server died: %s", srv2.proc.tail())


@test("sigpipe_ignored_everywhere", 60)
def t_sigpipe(ctx):
    """Peers that reset the connection before their answer is written
    (the daemons then write to a dead socket), and a client whose stdout
    reader has gone: nobody dies of SIGPIPE."""
    cadir, ca, srv = T.setup(ctx, data="x" * 50000)
    for port, payloads in ((srv.port, [m3(), garbage_sealed(M5)]),
                           (ca.port, [garbage_sealed(M1)])):
        for i in range(40):
            s = socket.create_connection((HOST, port), timeout=5)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                         b"\x01\x00\x00\x00\x00\x00\x00\x00")
            s.sendall(payloads[i % len(payloads)])
            s.close()               # RST: the answer meets a dead socket
    time.sleep(0.5)
    check(srv.proc.running(), "server died: status %s (%s)", srv.proc.rc,
          srv.proc.tail())
    check(ca.proc.running(), "CA died: status %s (%s)", ca.proc.rc,
          ca.proc.tail())
    # The client's stdout: a pipe whose reader is closed.
    r, w = os.pipe()
    os.close(r)
    p = subprocess.Popen([T.TRIPKI] + T.client_args(srv.port, cadir),
                         stdin=subprocess.DEVNULL, stdout=w,
                         stderr=subprocess.PIPE)
    os.close(w)
    try:
        _, err = p.communicate(timeout=ctx.clip(30))
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
        raise TestFailure("client writing to a closed pipe did not exit")
    check(p.returncode == T.EXIT_FAIL, "client writing to a closed pipe: "
          "status %s (want %d; -13 is death by SIGPIPE), stderr %r",
          p.returncode, T.EXIT_FAIL, err[-300:])
    check(re.search(rb"stdout", err), "no line says stdout failed: %r",
          err[-300:])
    T.expect_data(T.run_client(ctx, srv.port, cadir), ["x" * 50000])


def _ns_ok():
    if shutil.which("unshare") is None:
        return False
    r = subprocess.run(["unshare", "-rm", "true"], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
    return r.returncode == 0


NS_SH = r'''
set -eu
mode=$1; dir=$2; port=$3; ready=$4; tripki=$5
case $mode in
ro)	# ca.db itself read-only (EROFS), even for root.
	mount --bind "$dir/ca.db" "$dir/ca.db"
	mount -o remount,ro,bind "$dir/ca.db" ;;
full)	# The CA's directory on a small file system, then filled up.
	mkdir "$dir.real"; cp -a "$dir/." "$dir.real/"
	mount -t tmpfs -o size=4m,mode=0700 tmpfs "$dir"
	cp -a "$dir.real/." "$dir/" ;;
esac
"$tripki" ca serve --dir "$dir" --listen 127.0.0.1:$port --open &
ca=$!
trap 'kill $ca 2>/dev/null' EXIT
i=0
while [ $i -lt 200 ] && kill -0 $ca 2>/dev/null &&
    ! (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null; do
	i=$((i + 1)); sleep 0.05
done
if [ $mode = full ]; then
	dd if=/dev/zero of="$dir/filler" bs=64k 2>/dev/null || true
fi
touch "$ready"
# Until told to stop (or the CA has gone): then the records as it left them.
while [ ! -e "$ready.stop" ] && kill -0 $ca 2>/dev/null; do sleep 0.1; done
kill -TERM $ca 2>/dev/null || true
wait $ca || echo "ca exited $?"
trap - EXIT
rm -f "$dir/filler"
[ $mode != ro ] || umount "$dir/ca.db"
echo "--- list"
"$tripki" ca list --dir "$dir" || echo "list failed $?"
'''


def _store_fault(ctx, mode):
    if not _ns_ok():
        raise Skip("needs a user and mount namespace (unshare -rm)")
    cadir = T.ca_dir(ctx)
    sh = ctx.path("ns.sh")
    with open(sh, "w") as f:
        f.write(NS_SH)
    port = free_port()
    ready = ctx.path("ready")
    p = ctx.spawn_raw("ca-ns", ["unshare", "-rm", "sh", sh, mode, cadir,
                                port, ready, T.TRIPKI])
    p.wait_for(lambda: os.path.exists(ready), 30, "the CA started")
    srv = T.spawn_server(ctx, port, cadir, extra=["--retry-for", "4"])
    rc = srv.proc.wait(40)
    open(ready + ".stop", "w").close()
    p.wait(30)
    out, err = p.stdout(), p.stderr()
    return rc, srv, out, err


def _check_store_fault(what, rc, srv, out, err):
    check(rc != 0, "%s: the server registered (status 0)", what)
    check(not os.path.exists(os.path.join(srv.dir, "server.crt")),
          "%s: the server holds a certificate", what)
    lines = [l for l in err.splitlines() if re.search(r"error:", l)]
    check(lines and all(re.search(r"ca\.db|store", l, re.I) for l in lines),
          "%s: the CA did not say clearly why (error lines: %r; stderr "
          "%r)", what, lines, err[-400:])
    listed = out.split("--- list", 1)[-1]
    check("list failed" not in listed, "%s: the store could not be read "
          "afterwards: %r", what, listed)
    check(T.SERVER_ID not in listed, "%s: a record for %s is in ca.db "
          "although no certificate was sent: %r", what, T.SERVER_ID, listed)


@test("fault_ca_db_read_only", 60)
def t_ro(ctx):
    """ca.db read-only (a read-only bind mount: root cannot write it
    either): the CA refuses clearly, the server gets no certificate, and
    ca.db holds no record of one."""
    rc, srv, out, err = _store_fault(ctx, "ro")
    report("fault_ca_db_read_only", ca_stderr=err[-600:], listed=out[-300:],
           server=srv.proc.tail(2))
    _check_store_fault("read-only ca.db", rc, srv, out, err)


@test("fault_ca_disk_full", 60)
def t_full(ctx):
    """The CA's file system fills up while it serves (a 4 MB tmpfs,
    filled): the issuance is refused clearly and nothing half-written
    stays in ca.db."""
    rc, srv, out, err = _store_fault(ctx, "full")
    report("fault_ca_disk_full", ca_stderr=err[-600:], listed=out[-300:],
           server=srv.proc.tail(2))
    _check_store_fault("full disk", rc, srv, out, err)
