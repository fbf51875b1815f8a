"""
End-to-end tests of the certificate authority an operator runs: the
SQLite store (records survive restarts and kill -9), enrollment tokens,
CSR mode, revocation and CRLs, renewal while serving, encrypted and
too-open key files.  tests.py loads this module and runs its TESTS.

Renewal is made testable without waiting days by TRIPKI_CLOCK_OFFSET_MS:
the CA, the server and the client all run with the same offset, which
puts "now" just before (or past) the point where the server's certificate
is due for renewal (65% of its validity).
"""

import calendar
import os
import re
import shutil
import sqlite3
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

from harness import (SCALE, Result, Skip, TestFailure, check,  # noqa: E402
                     expect_rc, failure_line, free_port, wait_port)

TESTS = []


def test(name, budget=60):
    def deco(fn):
        TESTS.append((name, budget, fn))
        return fn
    return deco


TOKEN_RX = re.compile(r"^[A-Za-z0-9_-]{43}$")
RENEW_PERCENT = 65      # docs: a server renews at 65% of its validity


# ---------------------------------------------------------------- helpers

def need_openssl():
    if shutil.which("openssl") is None:
        raise Skip("openssl not installed")


def enroll(ctx, cadir, sid, ttl=None):
    args = ["ca", "enroll", "--dir", cadir, "--id", sid]
    if ttl is not None:
        args += ["--ttl", str(ttl)]
    r = ctx.run("ca-enroll", args, 20)
    expect_rc(r, 0, "ca enroll --id %s" % sid)
    check(len(r.out_lines) == 1 and TOKEN_RX.match(r.out_lines[0]),
          "ca enroll: expected one token line on stdout, got %r", r.out)
    return r.out_lines[0]


def token_file(ctx, token, name):
    p = ctx.path(name)
    with open(p, "w") as f:
        f.write(token + "\n")
    os.chmod(p, 0o600)
    return p


def register(ctx, ca_port, cadir, sdir, sid=T.SERVER_ID, token=None,
             extra=(), env=None, timeout=60, name="register"):
    """tripki server --register-only; returns its Result."""
    args = ["server", "--register-only", "--dir", sdir, "--id", sid,
            "--ca", T.addr(ca_port), "--ca-cert",
            os.path.join(cadir, "ca.crt"), "--retry-for", "30"]
    if token is not None:
        args += ["--token-file", token_file(ctx, token, "token-%s" %
                                             os.path.basename(sdir))]
    return ctx.run(name, args + list(extra), timeout, env)


def registered(ctx, ca_port, cadir, sdir, sid=T.SERVER_ID, **kw):
    r = register(ctx, ca_port, cadir, sdir, sid, **kw)
    expect_rc(r, 0, "server --register-only --id %s" % sid)
    check(os.path.exists(os.path.join(sdir, "server.crt")),
          "server --register-only exited 0 without server.crt")
    return r


def ca_list(ctx, cadir, sid=None):
    """Rows of `tripki ca list`: dicts with serial, status, key, reason,
    id."""
    args = ["ca", "list", "--dir", cadir] + (["--id", sid] if sid else [])
    r = ctx.run("ca-list", args, 20)
    expect_rc(r, 0, "ca list")
    lines = r.out_lines
    check(lines and lines[0].startswith("SERIAL"),
          "ca list: no header line: %r", r.out[:200])
    rows = []
    for line in lines[1:]:
        f = re.split(r"\s{2,}", line.strip())
        check(len(f) == 7, "ca list: unreadable row %r", line)
        rows.append({"serial": f[0], "status": f[1], "not_after": f[2],
                     "key": f[3], "revoked": f[4], "reason": f[5],
                     "id": f[6]})
    return rows


def openssl(ctx, name, args, timeout=30):
    return ctx.run_raw(name, ["openssl"] + list(args), timeout)


def cert_serial(ctx, path):
    r = openssl(ctx, "openssl-serial", ["x509", "-in", path, "-noout",
                                        "-serial"])
    expect_rc(r, 0, "openssl x509 -serial %s" % path)
    return r.out.strip().split("=", 1)[1].upper()


def cert_dates_ms(ctx, path):
    r = openssl(ctx, "openssl-dates", ["x509", "-in", path, "-noout",
                                       "-startdate", "-enddate"])
    expect_rc(r, 0, "openssl x509 -dates %s" % path)
    d = dict(l.split("=", 1) for l in r.out_lines)

    def ms(s):
        return calendar.timegm(time.strptime(s.strip(),
                                             "%b %d %H:%M:%S %Y GMT")) * 1000
    return ms(d["notBefore"]), ms(d["notAfter"])


def renew_offset_ms(ctx, crt, before_s=None, after_s=None):
    """A clock offset that puts "now" before_s seconds before the
    certificate's renewal point, or after_s seconds past it."""
    nb, na = cert_dates_ms(ctx, crt)
    due = nb + (na - nb) // 100 * RENEW_PERCENT
    now = int(time.time() * 1000)
    if before_s is not None:
        return due - now - int(before_s * 1000)
    return due - now + int(after_s * 1000)


def db_bytes(cadir):
    data = b""
    for name in os.listdir(cadir):
        if name.startswith("ca.db"):
            with open(os.path.join(cadir, name), "rb") as f:
                data += f.read()
    return data


# ---------------------------------------------------------------- store

@test("ca_records_survive_restart", 90)
def t_survive(ctx):
    cadir = T.ca_dir(ctx)
    ca = T.start_ca(ctx, cadir, open_=False)
    serials = {}
    for sid in ("srv-a", "srv-b", "srv-c"):
        sdir = ctx.path(sid)
        registered(ctx, ca.port, cadir, sdir, sid,
                   token=enroll(ctx, cadir, sid))
        serials[sid] = cert_serial(ctx, os.path.join(sdir, "server.crt"))
    T.stop_clean(ctx, ca)
    rows = ca_list(ctx, cadir)
    got = {r["id"]: r["serial"] for r in rows}
    check(got == serials, "ca list after the CA stopped shows %r, want %r",
          got, serials)
    check(all(r["status"] == "valid" for r in rows),
          "ca list: not all valid: %r", rows)
    ca2 = T.start_ca(ctx, cadir, open_=False, port=ca.port)
    # The count is logged just after the socket listens: wait for it.
    ca2.proc.wait_for(lambda: re.search(r"3 certificates issued",
                                        ca2.proc.stderr()), 10,
                      "the restarted CA counting the 3 certificates")
    sdir = ctx.path("srv-d")
    registered(ctx, ca2.port, cadir, sdir, "srv-d",
               token=enroll(ctx, cadir, "srv-d"))
    serials["srv-d"] = cert_serial(ctx, os.path.join(sdir, "server.crt"))
    got = {r["id"]: r["serial"] for r in ca_list(ctx, cadir)}
    check(got == serials, "ca list after a restart shows %r, want %r",
          got, serials)


@test("ca_kill9_while_issuing_200", 150)
def t_kill9(ctx):
    """kill -9 the CA while 200 servers register (4 at a time), restart
    it: every certificate a server holds is in the store, and no serial
    repeats.  To spend the time on issuing rather than on RSA key
    generation, nine servers in ten reuse one key made in advance and
    send a CSR for it; every tenth lets the CA make its key."""
    need_openssl()
    n, jobs = 200, 4
    cadir = T.ca_dir(ctx)
    key = ctx.path("shared.key")
    expect_rc(openssl(ctx, "genpkey", ["genpkey", "-algorithm", "RSA",
                                       "-pkeyopt", "rsa_keygen_bits:2048",
                                       "-out", key]), 0, "openssl genpkey")
    for i in range(n):
        if i % 10:
            os.mkdir(ctx.path("srv-%03d" % i), 0o700)
            shutil.copy(key, ctx.path("srv-%03d" % i, "server.key"))
            os.chmod(ctx.path("srv-%03d" % i, "server.key"), 0o600)
    port = free_port()
    state = {"ca": T.start_ca(ctx, cadir, port=port)}
    lock = threading.Lock()
    results, errors = {}, []
    todo = list(range(n))

    def worker():
        while True:
            with lock:
                if not todo or errors:
                    return
                i = todo.pop(0)
            sid = "srv-%03d" % i
            try:
                r = register(ctx, port, cadir, ctx.path(sid), sid,
                             extra=["--csr"] if i % 10 else [],
                             timeout=90, name="reg-%03d" % i)
            except TestFailure as e:
                with lock:
                    errors.append(str(e))
                return
            with lock:
                results[sid] = r
    threads = [threading.Thread(target=worker) for _ in range(jobs)]
    for t in threads:
        t.start()

    def done():
        return sum(1 for i in range(n) if os.path.exists(
            ctx.path("srv-%03d" % i, "server.crt")))
    try:
        end = time.monotonic() + ctx.clip(60)
        while done() < n // 3 and time.monotonic() < end and not errors:
            time.sleep(0.02)
        check(done() >= n // 3, "only %d certificates within %.0fs",
              done(), ctx.clip(60))
        killed_at = done()
        state["ca"].proc.kill()          # SIGKILL, mid-issuance
        ctx.sleep(0.3)
        state["ca"] = T.start_ca(ctx, cadir, port=port)
    finally:
        for t in threads:
            t.join(ctx.clip(120))
    check(not errors, "a registration failed: %s", errors[:1])
    bad = ["%s: %s" % (sid, r.describe()) for sid, r in results.items()
           if r.rc != 0]
    check(not bad and len(results) == n, "%d of %d registrations failed: %s",
          n - len(results) + len(bad), n, bad[:2])
    check(killed_at < n, "the CA issued all %d before it was killed" % n)
    held = {}
    for i in range(n):
        sid = "srv-%03d" % i
        held[sid] = cert_serial(ctx, ctx.path(sid, "server.crt"))
    T.stop_clean(ctx, state["ca"])
    rows = ca_list(ctx, cadir)
    listed = [r["serial"] for r in rows]
    check(len(listed) == len(set(listed)), "a serial repeats in ca list")
    by_serial = {r["serial"]: r["id"] for r in rows}
    missing = [sid for sid, sn in held.items() if by_serial.get(sn) != sid]
    check(not missing, "%d certificates servers hold are not in the store "
          "(e.g. %s)", len(missing), missing[:3])
    check(len(set(held.values())) == n, "two servers got the same serial")
    con = sqlite3.connect(os.path.join(cadir, "ca.db"))
    try:
        ok = con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()
    check(ok == "ok", "ca.db integrity check after kill -9: %s", ok)


# ---------------------------------------------------------------- tokens

@test("ca_token_single_use_expiry_identity", 90)
def t_tokens(ctx):
    cadir = T.ca_dir(ctx)
    ca = T.start_ca(ctx, cadir, open_=False)
    tok = enroll(ctx, cadir, "srv-a")
    check(tok.encode() not in db_bytes(cadir),
          "the token itself is stored in ca.db (only its hash may be)")

    def refused(r, what, ca_says):
        expect_rc(r, T.EXIT_REFUSED, what)
        line = failure_line(r, what)
        check(re.search(r"not authori[sz]ed", line),
              "%s: the line does not say not authorized: %r", what, line)
        ca.proc.wait_stderr(r"refused to issue a certificate for "
                            r"\"[^\"]+\" to 127\.0\.0\.1:\d+: .*%s"
                            % ca_says, 5)
        return line

    # Bound to its identity.
    r = register(ctx, ca.port, cadir, ctx.path("b"), "srv-b", token=tok)
    refused(r, "srv-b with srv-a's token", "another identity")
    check(not os.path.exists(ctx.path("b", "server.crt")), "srv-b got one")
    # Good for srv-a, once (--token on the command line this time).
    registered(ctx, ca.port, cadir, ctx.path("a"), "srv-a",
               extra=["--token", tok])
    r = register(ctx, ca.port, cadir, ctx.path("a2"), "srv-a", token=tok)
    refused(r, "srv-a with a used token", "already used")
    # Expires.
    tok1 = enroll(ctx, cadir, "srv-c", ttl=1)
    ctx.sleep(1.5)
    r = register(ctx, ca.port, cadir, ctx.path("c"), "srv-c", token=tok1)
    refused(r, "srv-c with an expired token", "expired")
    # None at all, and a made-up one.
    r = register(ctx, ca.port, cadir, ctx.path("d"), "srv-d")
    line = refused(r, "srv-d without a token", "no enrollment token")
    check("ca enroll" in line, "the refusal does not say how to get a "
          "token: %r", line)
    r = register(ctx, ca.port, cadir, ctx.path("e"), "srv-e",
                 token="A" * 43)
    refused(r, "srv-e with a made-up token", "unknown")
    rows = ca_list(ctx, cadir)
    check([r["id"] for r in rows] == ["srv-a"],
          "ca list: expected only srv-a's certificate, got %r", rows)
    check(ca.proc.running(), "CA died: %s", ca.proc.tail())


@test("ca_open_issues_and_records", 60)
def t_open(ctx):
    cadir = T.ca_dir(ctx)
    ca = T.start_ca(ctx, cadir, open_=True)
    ca.proc.wait_stderr(r"warning:.*--open.*ANY identity", 5)
    registered(ctx, ca.port, cadir, ctx.path("x"), "srv-x")
    rows = ca_list(ctx, cadir)
    check(len(rows) == 1 and rows[0]["id"] == "srv-x",
          "an --open CA's issuance is not recorded: %r", rows)


# ---------------------------------------------------------------- CSR mode

@test("ca_csr_mode_no_private_key_at_ca", 60)
def t_csr(ctx):
    need_openssl()
    cadir = T.ca_dir(ctx)
    ca = T.start_ca(ctx, cadir, open_=False)
    sdir = ctx.path("srv")
    r = registered(ctx, ca.port, cadir, sdir, token=enroll(ctx, cadir,
                                                           T.SERVER_ID),
                   extra=["--csr", "--trace"])
    check(re.search(r"mode=csr", r.err), "server --csr did not send a CSR "
          "(no mode=csr in its --trace)")
    key = os.path.join(sdir, "server.key")
    check(T.mode_of(key) == 0o600, "server.key mode %04o", T.mode_of(key))
    der = openssl(ctx, "openssl-der", ["pkey", "-in", key, "-outform",
                                       "DER", "-out", ctx.path("k.der")])
    expect_rc(der, 0, "openssl pkey -outform DER")
    with open(ctx.path("k.der"), "rb") as f:
        key_der = f.read()
    srv = T.spawn_server(ctx, ca.port, cadir, sdir=sdir, data="csr data",
                         extra=["--csr"])
    wait_port(ctx, srv.port, srv.proc, 20)
    T.expect_data(T.run_client(ctx, srv.port, cadir), ["csr data"])
    T.stop_clean(ctx, ca)
    db = db_bytes(cadir)
    check(b"PRIVATE KEY" not in db, "ca.db holds a PEM private key")
    check(key_der not in db and key_der[-200:] not in db,
          "ca.db holds the server's private key")
    rows = ca_list(ctx, cadir)
    check(len(rows) == 1 and rows[0]["key"] == "server",
          "ca list does not say the server made the key: %r", rows)


@test("ca_seed_mode_is_default", 60)
def t_seed_default(ctx):
    cadir = T.ca_dir(ctx)
    ca = T.start_ca(ctx, cadir)
    r = registered(ctx, ca.port, cadir, ctx.path("srv"), extra=["--trace"])
    check(re.search(r"mode=seed", r.err) and re.search(r"SK_S=", r.err),
          "without --csr the CA did not make the key (no mode=seed/SK_S "
          "in the --trace): %r", r.err[-400:])
    check(T.mode_of(ctx.path("srv", "server.key")) == 0o600,
          "server.key from the CA not written 0600")
    rows = ca_list(ctx, cadir)
    check(rows and rows[0]["key"] == "ca", "ca list: %r", rows)


# ---------------------------------------------------------------- revocation

@test("ca_revoke_crl_client_refuses", 90)
def t_revoke(ctx):
    need_openssl()
    cadir = T.ca_dir(ctx)
    cacrt = os.path.join(cadir, "ca.crt")
    ca = T.start_ca(ctx, cadir, open_=False)
    srv = T.start_server(ctx, ca.port, cadir, data="fine",
                         extra=["--token", enroll(ctx, cadir, T.SERVER_ID)])
    crt = os.path.join(srv.dir, "server.crt")
    serial = cert_serial(ctx, crt)
    crl = ctx.path("crl.pem")
    r = ctx.run("ca-crl", ["ca", "crl", "--dir", cadir, "--out", crl], 20)
    expect_rc(r, 0, "ca crl (nothing revoked)")
    T.expect_data(T.run_client(ctx, srv.port, cadir,
                               extra=["--crl", crl]), ["fine"],
                  "client --crl with an empty CRL")
    r = ctx.run("ca-revoke", ["ca", "revoke", "--dir", cadir, "--serial",
                              serial.lower(), "--reason", "keyCompromise"])
    expect_rc(r, 0, "ca revoke --serial")
    r = ctx.run("ca-crl", ["ca", "crl", "--dir", cadir, "--out", crl,
                           "--days", "2"], 20)
    expect_rc(r, 0, "ca crl")
    r = openssl(ctx, "openssl-crl", ["crl", "-in", crl, "-CAfile", cacrt,
                                     "-verify", "-noout"])
    check(r.rc == 0 and re.search(r"verify OK", r.out + r.err),
          "openssl crl -verify does not accept the CRL: %s", r.describe())
    r = openssl(ctx, "openssl-crl-text", ["crl", "-in", crl, "-noout",
                                          "-text"])
    check(re.search(r"Version 2", r.out) and serial in r.out.replace(
        ":", "").upper() and re.search(r"Key Compromise", r.out),
          "the CRL is not v2 with serial %s, keyCompromise: %r", serial,
          r.out[:600])
    r = openssl(ctx, "openssl-verify", ["verify", "-crl_check", "-CAfile",
                                        cacrt, "-CRLfile", crl, crt])
    check(r.rc != 0 and re.search(r"revoked", r.out + r.err, re.I),
          "openssl verify -crl_check accepts the revoked certificate: %s",
          r.describe())
    # The client refuses, given the CRL in PEM or in DER.
    der = ctx.path("crl.der")
    expect_rc(openssl(ctx, "openssl-crl-der", ["crl", "-in", crl,
                                               "-outform", "DER", "-out",
                                               der]), 0, "CRL to DER")
    for f in (crl, der):
        res = T.run_client(ctx, srv.port, cadir, extra=["--crl", f])
        expect_rc(res, T.EXIT_REJECTED, "client --crl %s" % f)
        line = failure_line(res, "client --crl %s" % f)
        check(re.search(r"revoked", line), "the line does not say the "
              "certificate is revoked: %r", line)
        check(res.out == "", "client got data from a revoked server")
    # Without the CRL it still trusts the certificate, as designed.
    T.expect_data(T.run_client(ctx, srv.port, cadir), ["fine"])
    rows = ca_list(ctx, cadir)
    check(len(rows) == 1 and rows[0]["status"] == "revoked" and
          rows[0]["reason"] == "keyCompromise",
          "ca list does not show the revocation: %r", rows)
    # Revoke by identity; serial errors are one line.
    sdir = ctx.path("other")
    registered(ctx, ca.port, cadir, sdir, "srv-other",
               token=enroll(ctx, cadir, "srv-other"))
    r = ctx.run("ca-revoke-id", ["ca", "revoke", "--dir", cadir, "--id",
                                 "srv-other"])
    expect_rc(r, 0, "ca revoke --id")
    check([x["status"] for x in ca_list(ctx, cadir, "srv-other")] ==
          ["revoked"], "ca revoke --id did not revoke srv-other")
    r = ctx.run("ca-revoke-none", ["ca", "revoke", "--dir", cadir,
                                   "--serial", "ABCDEF0123"])
    expect_rc(r, T.EXIT_FAIL, "ca revoke of an unknown serial")
    failure_line(r, "ca revoke of an unknown serial")
    # A CRL from another CA is refused before any connection.
    other = T.ca_init(ctx, name="other-ca")
    ocrl = ctx.path("other.pem")
    expect_rc(ctx.run("ca-crl-other", ["ca", "crl", "--dir", other,
                                       "--out", ocrl]), 0, "other ca crl")
    res = T.run_client(ctx, srv.port, cadir, extra=["--crl", ocrl])
    expect_rc(res, T.EXIT_FAIL, "client --crl from another CA")
    check(ocrl in failure_line(res, "client --crl from another CA"),
          "the line does not name the CRL")


@test("ca_refuses_to_renew_revoked", 60)
def t_renew_revoked(ctx):
    need_openssl()
    cadir = T.ca_dir(ctx)
    ca = T.start_ca(ctx, cadir, open_=False)
    sdir = ctx.path("srv")
    registered(ctx, ca.port, cadir, sdir, token=enroll(ctx, cadir,
                                                       T.SERVER_ID))
    crt = os.path.join(sdir, "server.crt")
    serial = cert_serial(ctx, crt)
    expect_rc(ctx.run("ca-revoke", ["ca", "revoke", "--dir", cadir,
                                    "--serial", serial]), 0, "ca revoke")
    env = {"TRIPKI_CLOCK_OFFSET_MS": renew_offset_ms(ctx, crt, after_s=60)}
    T.stop_clean(ctx, ca)
    ca = T.start_ca(ctx, cadir, open_=False, port=ca.port, env=env)
    r = register(ctx, ca.port, cadir, sdir, env=env)
    expect_rc(r, T.EXIT_REFUSED, "renewal of a revoked certificate")
    line = failure_line(r, "renewal of a revoked certificate")
    check(re.search(r"renew", line) and serial in line,
          "the line does not say the renewal of %s was refused: %r",
          serial, line)
    ca.proc.wait_stderr(r"refused to renew .*%s.*revoked" % serial, 5)
    check(cert_serial(ctx, crt) == serial, "server.crt was replaced")
    # A running server keeps serving with what it has.
    srv = T.spawn_server(ctx, ca.port, cadir, sdir=sdir, data="still",
                         env=env)
    wait_port(ctx, srv.port, srv.proc, 20)
    srv.proc.wait_stderr(r"serving on with the current certificate", 20)
    T.expect_data(T.run_client(ctx, srv.port, cadir, env=env), ["still"])


# ---------------------------------------------------------------- renewal

@test("ca_renewal_while_serving", 120)
def t_renew(ctx):
    """The server renews at 65% of its certificate's validity while a
    client sends a request every 0.3 s: every request is answered, the
    new certificate has a new serial and the CA holds both."""
    need_openssl()
    cadir = T.ca_dir(ctx)
    ca = T.start_ca(ctx, cadir, open_=False)
    sdir = ctx.path("srv")
    registered(ctx, ca.port, cadir, sdir, token=enroll(ctx, cadir,
                                                       T.SERVER_ID))
    crt, key = os.path.join(sdir, "server.crt"), os.path.join(sdir,
                                                              "server.key")
    old = cert_serial(ctx, crt)
    with open(key, "rb") as f:
        old_key = f.read()
    T.stop_clean(ctx, ca)
    lead = 4 * SCALE
    env = {"TRIPKI_CLOCK_OFFSET_MS": renew_offset_ms(ctx, crt,
                                                     before_s=lead)}
    ca = T.start_ca(ctx, cadir, open_=False, port=ca.port, env=env)
    srv = T.spawn_server(ctx, ca.port, cadir, sdir=sdir, data="served",
                         env=env)
    wait_port(ctx, srv.port, srv.proc, 20)
    check(not re.search(r"renew", srv.proc.stderr()),
          "the server renewed at once; the test wants it %.0fs later" %
          lead)
    n = int(3 * lead / 0.3)
    cl = T.spawn_client(ctx, srv.port, cadir, env=env,
                        extra=["--repeat", str(n), "--interval", "0.3"])
    srv.proc.wait_stderr(r"renewed our certificate", 3 * lead)
    check(cl.running(), "the client finished before the renewal")
    cl.wait(60)
    res = Result(cl)
    T.expect_data(res, ["served"] * n, "client looping through renewal")
    new = cert_serial(ctx, crt)
    check(new != old, "renewed certificate has the old serial %s", old)
    with open(key, "rb") as f:
        check(f.read() != old_key, "seed-mode renewal kept the old key")
    check(T.mode_of(key) == 0o600, "renewed server.key mode %04o",
          T.mode_of(key))
    ids = {r["serial"]: r["id"] for r in ca_list(ctx, cadir)}
    check(ids.get(old) == T.SERVER_ID and ids.get(new) == T.SERVER_ID,
          "ca list lacks the old or the renewed certificate: %r", ids)
    ca.proc.wait_stderr(r"renewed the certificate of \"ID-Server\".*%s"
                        % new, 5)
    # A new client gets the renewed certificate.
    T.expect_data(T.run_client(ctx, srv.port, cadir, env=env), ["served"])
    check(srv.proc.running(), "server died: %s", srv.proc.tail())


@test("ca_renewal_at_start_ca_down", 90)
def t_renew_start(ctx):
    """Past the renewal point at start, with the CA down: the server
    serves at once, then renews when the CA comes back (CSR mode)."""
    need_openssl()
    cadir = T.ca_dir(ctx)
    ca = T.start_ca(ctx, cadir, open_=False)
    sdir = ctx.path("srv")
    registered(ctx, ca.port, cadir, sdir, token=enroll(ctx, cadir,
                                                       T.SERVER_ID),
               extra=["--csr"])
    crt = os.path.join(sdir, "server.crt")
    old = cert_serial(ctx, crt)
    T.stop_clean(ctx, ca)
    env = {"TRIPKI_CLOCK_OFFSET_MS": renew_offset_ms(ctx, crt, after_s=30)}
    srv = T.spawn_server(ctx, ca.port, cadir, sdir=sdir, data="at once",
                         env=env, extra=["--csr"])
    wait_port(ctx, srv.port, srv.proc, 20)
    T.expect_data(T.run_client(ctx, srv.port, cadir, env=env), ["at once"],
                  "client of a server due for renewal, CA down")
    srv.proc.wait_stderr(r"renewing our certificate", 5)
    ca = T.start_ca(ctx, cadir, open_=False, port=ca.port, env=env)
    srv.proc.wait_stderr(r"renewed our certificate", 30)
    check(cert_serial(ctx, crt) != old, "serial unchanged after renewal")
    rows = ca_list(ctx, cadir)
    check([r["key"] for r in rows] == ["server", "server"],
          "ca list: %r", rows)
    T.expect_data(T.run_client(ctx, srv.port, cadir, env=env), ["at once"])


# ---------------------------------------------------------------- keys

@test("ca_key_encrypted_passphrase", 90)
def t_passphrase(ctx):
    need_openssl()
    pf = ctx.path("pass")
    with open(pf, "w") as f:
        f.write("correct horse battery staple\n")
    os.chmod(pf, 0o600)
    cadir = T.ca_init(ctx, extra=["--passphrase-file", pf])
    key = os.path.join(cadir, "ca.key")
    check(T.mode_of(key) == 0o600, "encrypted ca.key mode %04o",
          T.mode_of(key))
    with open(key) as f:
        check(f.readline().strip() ==
              "-----BEGIN ENCRYPTED PRIVATE KEY-----",
              "ca.key is not an encrypted PKCS#8 PEM key")
    r = openssl(ctx, "asn1parse", ["asn1parse", "-in", key])
    check(re.search(r":PBES2", r.out) and re.search(r"aes-256-cbc", r.out,
                                                    re.I),
          "ca.key is not PBES2 with AES-256-CBC: %r", r.out[:500])
    r = openssl(ctx, "openssl-pkey", ["pkey", "-in", key, "-passin",
                                      "file:" + pf, "-noout"])
    expect_rc(r, 0, "openssl pkey -passin on ca.key")
    wrong = ctx.path("wrong")
    with open(wrong, "w") as f:
        f.write("not it\n")
    os.chmod(wrong, 0o600)
    port = T.addr(free_port())
    for what, extra, rx in (
            ("ca serve without --passphrase-file", [],
             r"encrypted.*--passphrase-file"),
            ("ca serve with a wrong passphrase",
             ["--passphrase-file", wrong], r"wrong passphrase")):
        r = ctx.run("ca-serve", ["ca", "serve", "--dir", cadir, "--listen",
                                 port] + extra, 20)
        expect_rc(r, T.EXIT_FAIL, what)
        line = failure_line(r, what)
        check(key in line and re.search(rx, line),
              "%s: the line does not name %s and say why: %r", what, key,
              line)
    r = ctx.run("ca-crl", ["ca", "crl", "--dir", cadir, "--passphrase-file",
                           wrong], 20)
    expect_rc(r, T.EXIT_FAIL, "ca crl with a wrong passphrase")
    check(re.search(r"wrong passphrase", failure_line(r, "ca crl")),
          "ca crl: %s", r.describe())
    os.chmod(pf, 0o644)
    r = ctx.run("ca-crl", ["ca", "crl", "--dir", cadir, "--passphrase-file",
                           pf], 20)
    expect_rc(r, T.EXIT_FAIL, "a passphrase file others may read")
    line = failure_line(r, "a passphrase file others may read")
    check(pf in line and "644" in line, "the line does not name %s and "
          "its mode: %r", pf, line)
    os.chmod(pf, 0o600)
    ca = T.start_ca(ctx, cadir, extra=["--passphrase-file", pf])
    registered(ctx, ca.port, cadir, ctx.path("srv"))
    r = ctx.run("ca-crl", ["ca", "crl", "--dir", cadir, "--passphrase-file",
                           pf], 20)
    expect_rc(r, 0, "ca crl with the passphrase")
    r = openssl(ctx, "openssl-crl", ["crl", "-in", os.path.join(
        cadir, "crl.pem"), "-CAfile", os.path.join(cadir, "ca.crt"),
        "-verify", "-noout"])
    expect_rc(r, 0, "openssl crl -verify")


@test("ca_key_files_too_open", 60)
def t_too_open(ctx):
    cadir = T.ca_dir(ctx)
    key = os.path.join(cadir, "ca.key")
    os.chmod(key, 0o644)
    r = ctx.run("ca-crl", ["ca", "crl", "--dir", cadir], 20)
    expect_rc(r, T.EXIT_FAIL, "ca crl with ca.key mode 0644")
    line = failure_line(r, "ca crl with ca.key mode 0644")
    check(key in line and "0644" in line and "too open" in line,
          "the line does not name %s and its mode: %r", key, line)
    os.chmod(key, 0o600)
    ca = T.start_ca(ctx, cadir)
    sdir = ctx.path("srv")
    registered(ctx, ca.port, cadir, sdir)
    skey = os.path.join(sdir, "server.key")
    check(T.mode_of(skey) == 0o600, "server.key written %04o",
          T.mode_of(skey))
    os.chmod(skey, 0o604)
    r = register(ctx, ca.port, cadir, sdir)
    expect_rc(r, T.EXIT_FAIL, "server with server.key mode 0604")
    line = failure_line(r, "server with server.key mode 0604")
    check(skey in line and "0604" in line,
          "the line does not name %s and its mode: %r", skey, line)


# ---------------------------------------------------------------- issuance
# speed: signing on the thread pool, group commit, the key pool

GC_RX = re.compile(r"group commit: (\d+) issuances? in (\d+) commits?")
POOL_RX = re.compile(r"key pool: (\d+) keys? from the pool, (\d+) made on "
                     r"the spot")


def in_parallel(jobs, items, fn):
    """fn(item) for every item, `jobs` at a time; the exceptions raised."""
    lock = threading.Lock()
    todo, errors = list(items), []

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                item = todo.pop(0)
            try:
                fn(item)
            except Exception as e:               # noqa: BLE001
                with lock:
                    errors.append("%s: %s" % (item, e))
    threads = [threading.Thread(target=worker) for _ in range(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def shared_csr_key(ctx, dirs):
    """One RSA key made in advance, copied into each server directory."""
    need_openssl()
    key = ctx.path("shared.key")
    expect_rc(openssl(ctx, "genpkey", ["genpkey", "-algorithm", "RSA",
                                       "-pkeyopt", "rsa_keygen_bits:2048",
                                       "-out", key]), 0, "openssl genpkey")
    for d in dirs:
        os.mkdir(d, 0o700)
        shutil.copy(key, os.path.join(d, "server.key"))
        os.chmod(os.path.join(d, "server.key"), 0o600)


@test("ca_group_commit_100_concurrent_csr", 180)
def t_group_commit(ctx):
    """100 CSR-mode registrations, 12 at a time, each with its own token,
    and 4 tokens given to two servers at once: every certificate a server
    holds is in the store, and each shared token made exactly one."""
    n, pairs, jobs = 100, 4, 12
    cadir = T.ca_dir(ctx)
    sids = ["gc-%03d" % i for i in range(n)]
    # Each pair: two servers, one identity's token, started together.
    twins = [("tw-%d-a" % i, "tw-%d-b" % i) for i in range(pairs)]
    alls = sids + [s for p in twins for s in p]
    shared_csr_key(ctx, [ctx.path(s) for s in alls])
    tokens = {sid: enroll(ctx, cadir, sid) for sid in sids}
    for i, (a, b) in enumerate(twins):
        # Both ask as "tw-i", with that identity's one token.
        tokens[a] = tokens[b] = enroll(ctx, cadir, "tw-%d" % i)
    ca = T.start_ca(ctx, cadir, open_=False)
    results = {}

    def one(sid):
        ident = sid if sid.startswith("gc-") else sid[:-2]
        results[sid] = register(ctx, ca.port, cadir, ctx.path(sid), ident,
                                token=tokens[sid], extra=["--csr"],
                                timeout=90, name="reg-%s" % sid)
    # The twins first, each pair side by side, then the hundred.
    order = [s for p in twins for s in p] + sids
    errors = in_parallel(jobs, order, one)
    check(not errors, "a registration could not run: %s", errors[:1])
    bad = ["%s: %s" % (s, results[s].describe()) for s in sids
           if results[s].rc != 0]
    check(not bad, "%d of %d registrations failed: %s", len(bad), n, bad[:2])
    for a, b in twins:
        rcs = sorted([results[a].rc, results[b].rc])
        check(rcs == [0, T.EXIT_REFUSED], "one token, two servers (%s, %s):"
              " exit statuses %s, want one 0 and one %d: %s", a, b, rcs,
              T.EXIT_REFUSED, results[b].describe())
    held = {}
    for s in alls:
        crt = ctx.path(s, "server.crt")
        if os.path.exists(crt):
            held[s] = cert_serial(ctx, crt)
    check(len(held) == n + pairs, "%d servers hold a certificate, want %d",
          len(held), n + pairs)
    T.stop_clean(ctx, ca)
    m = GC_RX.search(ca.proc.stderr())
    check(m and int(m.group(1)) == n + pairs, "the CA's group commit line "
          "does not count %d issuances: %s", n + pairs, ca.proc.tail(3))
    check(int(m.group(2)) <= n + pairs, "more commits than issuances: %s",
          m.group(0))
    rows = ca_list(ctx, cadir)
    by_serial = {r["serial"]: r["id"] for r in rows}
    check(len(rows) == n + pairs and len(by_serial) == n + pairs,
          "ca list shows %d certificates (%d serials), want %d", len(rows),
          len(by_serial), n + pairs)
    missing = [s for s, sn in held.items()
               if by_serial.get(sn) != (s if s.startswith("gc-") else s[:-2])]
    check(not missing, "certificates servers hold are not in ca list: %s",
          missing[:3])
    check(all(r["key"] == "server" for r in rows),
          "ca list: a CSR-mode certificate not marked as the server's key")


@test("ca_seed_mode_key_pool", 150)
def t_key_pool(ctx):
    """Seed mode with a small key pool that runs dry: every server gets a
    working key pair, each key from the pool or made on the spot."""
    n, jobs = 6, 3
    cadir = T.ca_dir(ctx)
    ca = T.start_ca(ctx, cadir, extra=["--key-pool", "2"])
    results = {}

    def one(sid):
        results[sid] = register(ctx, ca.port, cadir, ctx.path(sid), sid,
                                timeout=120, name="reg-%s" % sid)
    sids = ["kp-%d" % i for i in range(n)]
    errors = in_parallel(jobs, sids, one)
    check(not errors, "a registration could not run: %s", errors[:1])
    bad = ["%s: %s" % (s, r.describe()) for s, r in results.items()
           if r.rc != 0]
    check(not bad, "seed-mode registrations failed: %s", bad[:2])
    keys = set()
    for s in sids:
        with open(ctx.path(s, "server.key"), "rb") as f:
            keys.add(f.read())
        check(T.mode_of(ctx.path(s, "server.key")) == 0o600,
              "%s/server.key not 0600", s)
    check(len(keys) == n, "two servers got the same key pair from the pool")
    T.stop_clean(ctx, ca)
    m = POOL_RX.search(ca.proc.stderr())
    check(m, "the CA did not report its key pool: %s", ca.proc.tail(3))
    check(int(m.group(1)) + int(m.group(2)) == n, "key pool: %s, want %d "
          "keys in all", m.group(0), n)
    rows = ca_list(ctx, cadir)
    check(len(rows) == n and all(r["key"] == "ca" for r in rows),
          "ca list: want %d certificates with keys made by the CA: %r", n,
          rows)


@test("ca_serve_issuance_flags", 60)
def t_issue_flags(ctx):
    d = ctx.path("x")
    for args, word in [(["--batch", "0"], "--batch"),
                       (["--batch", "1025"], "--batch"),
                       (["--batch-delay", "1001"], "--batch-delay"),
                       (["--key-pool", "4097"], "--key-pool"),
                       (["--key-pool", "-1"], "--key-pool")]:
        r = ctx.run("bad", ["ca", "serve", "--dir", d] + args, 20)
        what = "tripki ca serve %s" % " ".join(args)
        expect_rc(r, T.EXIT_USAGE, what)
        check(word in T.one_line(r, what), "%s: the line does not name %s",
              what, word)
    r = ctx.run("help", ["ca", "serve", "--help"], 20)
    for word in ("--key-pool", "--batch", "--batch-delay"):
        check(word in r.out, "tripki ca serve --help lacks %s", word)
    # Batches of one, and a long delay: both still issue.
    cadir = T.ca_dir(ctx)
    for extra in (["--batch", "1", "--key-pool", "0"],
                  ["--batch-delay", "300"]):
        ca = T.start_ca(ctx, cadir, extra=extra)
        sid = "fl-%s" % extra[1]
        registered(ctx, ca.port, cadir, ctx.path(sid), sid)
        T.stop_clean(ctx, ca)
        check(sid in [r["id"] for r in ca_list(ctx, cadir, sid)],
              "ca serve %s: the certificate is not recorded", " ".join(extra))


# ---------------------------------------------------------------- the command

@test("ca_cli_subcommands", 60)
def t_cli(ctx):
    for sub in (["ca", "enroll"], ["ca", "revoke"], ["ca", "list"],
                ["ca", "crl"]):
        r = ctx.run("help", sub + ["--help"], 20)
        expect_rc(r, 0, "%s --help" % " ".join(sub))
        check(re.search(r"usage", r.out, re.I) and "--dir" in r.out,
              "%s --help: %r", " ".join(sub), r.out[:200])
    r = ctx.run("help", ["ca", "--help"], 20)
    for word in ("enroll", "revoke", "list", "crl"):
        check(word in r.out, "tripki ca --help does not list %s", word)
    r = ctx.run("help", ["server", "--help"], 20)
    for word in ("--token", "--token-file", "--csr", "--register-only"):
        check(word in r.out, "tripki server --help lacks %s", word)
    d = ctx.path("x")
    cases = [
        (["ca", "enroll", "--dir", d], "--id"),
        (["ca", "enroll", "--dir", d, "--id", "a", "--ttl", "0"], "--ttl"),
        (["ca", "revoke", "--dir", d], "--serial"),
        (["ca", "revoke", "--dir", d, "--serial", "AB", "--id", "a"],
         "--serial"),
        (["ca", "revoke", "--dir", d, "--serial", "AB", "--reason", "bored"],
         "--reason"),
        (["ca", "crl", "--dir", d, "--days", "0"], "--days"),
        (["ca", "serve", "--dir", d, "--cert-days", "0"], "--cert-days"),
        (["server", "--token", "a", "--token-file", "f"], "--token"),
        (["server", "--key-from-ca"], "--key-from-ca"),
        (["ca", "serve", "--dir", d, "--allow", "x"], "--allow"),
    ]
    for args, word in cases:
        r = ctx.run("bad", args, 20)
        what = "tripki %s" % " ".join(args)
        expect_rc(r, T.EXIT_USAGE, what)
        line = T.one_line(r, what)
        check(word in line, "%s: the line does not name %s: %r", what, word,
              line)
    # A missing CA directory is one line naming it.
    r = ctx.run("list", ["ca", "list", "--dir", d], 20)
    expect_rc(r, T.EXIT_FAIL, "ca list of a missing directory")
    check(d in failure_line(r, "ca list"), "the line does not name %s", d)


@test("demo_csr", 90)
def t_demo_csr(ctx):
    r = ctx.run("demo", ["demo", "--csr"], 60)
    expect_rc(r, 0, "tripki demo --csr")
    check(re.search(r"SK_S stays with the server", r.out),
          "demo --csr does not say the key stays with the server")
    check(T.DEFAULT_DATA in r.out, "demo --csr does not show the data")
    r = ctx.run("demo", ["demo"], 60)
    expect_rc(r, 0, "tripki demo")
    check(re.search(r"PK_S \|\| SK_S \|\| Cert_S", r.out),
          "the demo does not show the seeds' M2 (SK_S from the CA)")
