#!/bin/sh
# make bench: every benchmark, side by side in one run on this machine.
set -eu
build=${1:-build}
echo "== openssl speed rsa2048 (the limit: one core) =="
openssl speed -seconds 2 rsa2048 2>/dev/null | grep -E '^rsa 2048|sign/s' || true
echo
echo "== tripki core =="
"$build/bench/core"
