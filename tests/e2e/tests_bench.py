"""
The load generator (`tripki bench`) against the real daemons on loopback:
every operation it counts is a real exchange, and the CA records each
issuance it counts.  (Its figures are `make bench`'s business; these
tests check only that it measures what it says.)
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import __main__                                  # noqa: E402
if hasattr(__main__, "ca_dir"):
    T = __main__
else:
    import tests as T                            # noqa: E402

from harness import check, expect_rc             # noqa: E402
from tests_ca import ca_list                     # noqa: E402

TESTS = []


def test(name, budget=60):
    def deco(fn):
        TESTS.append((name, budget, fn))
        return fn
    return deco


def bench(ctx, mode, args, timeout=120):
    r = ctx.run("bench-" + mode, ["bench", mode, "--json"] + args, timeout)
    expect_rc(r, 0, "bench " + mode)
    lines = [ln for ln in r.out_lines if ln.startswith("{")]
    check(len(lines) == 1, "bench %s: want one JSON line, got %r", mode,
          r.out[:300])
    return json.loads(lines[0])


@test("bench_issue_csr_each_one_recorded", 120)
def t_issue_csr(ctx):
    cadir = T.ca_dir(ctx)
    ca = T.start_ca(ctx, cadir, extra=["--key-pool", "0"])
    res = bench(ctx, "issue", ["--ca", T.addr(ca.port), "--ca-cert",
                               os.path.join(cadir, "ca.crt"), "--key-mode",
                               "csr", "--connections", "3", "--count", "30",
                               "--id", "ld"])
    check(res["ops"] == 30 and res["errors"] == 0 and
          res["key_mode"] == "csr",
          "bench issue --key-mode csr: %r", res)
    T.stop_clean(ctx, ca)
    rows = ca_list(ctx, cadir)
    check(len(rows) == 30, "the CA recorded %d issuances, bench counted 30",
          len(rows))
    # One identity per connection, its request made once, ahead.
    ids = sorted(set(r["id"] for r in rows))
    check(ids == ["ld-0", "ld-1", "ld-2"], "identities %r", ids)
    check(all(r["key"] == "server" for r in rows),
          "a CSR-mode issuance recorded as made by the CA: %r", rows[:3])
    # Distinct certificates all the same.
    check(len(set(r["serial"] for r in rows)) == 30, "serials repeat")


@test("bench_issue_seed_each_one_recorded", 120)
def t_issue_seed(ctx):
    cadir = T.ca_dir(ctx)
    ca = T.start_ca(ctx, cadir, extra=["--key-pool", "4"])
    res = bench(ctx, "issue", ["--ca", T.addr(ca.port), "--ca-cert",
                               os.path.join(cadir, "ca.crt"),
                               "--connections", "2", "--count", "8",
                               "--id", "sd"])
    check(res["ops"] == 8 and res["errors"] == 0 and
          res["key_mode"] == "seed", "bench issue (seed): %r", res)
    T.stop_clean(ctx, ca)
    rows = ca_list(ctx, cadir)
    check(len(rows) == 8 and all(r["key"] == "ca" for r in rows),
          "seed-mode issuances recorded: %r", rows)


@test("bench_register_and_request", 120)
def t_register_request(ctx):
    cadir = T.ca_dir(ctx)
    ca = T.start_ca(ctx, cadir)
    # All load comes from 127.0.0.1: lift the per-source limits, as
    # bench/run.sh does.
    srv = T.start_server(ctx, ca.port, cadir, data="bench data",
                         extra=["--rate-limit", "0", "--per-source-conns",
                                "0"])
    common = ["--server", T.addr(srv.port), "--server-id", T.SERVER_ID,
              "--ca-cert", os.path.join(cadir, "ca.crt"), "--connections",
              "4"]
    for mode, extra in (("register", []), ("register", ["--keep-connection"]),
                        ("request", [])):
        res = bench(ctx, mode, common + ["--count", "40"] + extra)
        check(res["ops"] == 40 and res["errors"] == 0 and
              res["mode"] == mode and res["p50_ms"] > 0 and
              res["p99_ms"] >= res["p50_ms"],
              "bench %s %s: %r", mode, extra, res)
    # A trust anchor that cannot be read: one line, status 2.
    nope = ctx.path("nope.crt")
    r = ctx.run("bench-bad-anchor", ["bench", "register", "--server",
                                     T.addr(srv.port), "--ca-cert", nope,
                                     "--count", "1"], 30)
    check(r.rc == 2 and r.err_lines == [
          "tripki bench: error: cannot read certificate %s: No such file or "
          "directory" % nope], "bench with a missing --ca-cert: rc %s, %r",
          r.rc, r.err)
    T.stop_clean(ctx, srv)
    T.stop_clean(ctx, ca)
