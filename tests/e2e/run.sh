#!/usr/bin/env bash
# tripki end-to-end tests: the real binary, separate processes, 127.0.0.1.
#   TRIPKI=/abs/path/to/tripki tests/e2e/run.sh [-j JOBS] [-k NAME]... [--keep]
# `make e2e`, `make check` and `make sanitize` run it.  See tests.py.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${TRIPKI:-}" ]; then
	TRIPKI=$(cd "$here/../.." && pwd)/build/tripki
	export TRIPKI
fi
exec python3 -B "$here/tests.py" "$@"
