#!/bin/sh
# Installs what building and testing tripki needs, when it is missing
# (with the argument `bench`, what make bench needs too).
# Run as root on Debian (apt-get); elsewhere it only reports what lacks.
set -eu
pkgs=""
need() { # need PKG TEST...
	pkg=$1; shift
	if ! "$@" >/dev/null 2>&1; then pkgs="$pkgs $pkg"; fi
}
need libssl-dev pkg-config --exists libcrypto
need libsqlite3-dev pkg-config --exists sqlite3
need libuv1-dev pkg-config --exists libuv
need libcmocka-dev pkg-config --exists cmocka
need faketime sh -c 'ls /usr/lib/*/faketime/libfaketime.so.1'
need openssl command -v openssl
need python3 command -v python3
# `deps.sh bench`: the plot of make bench as well.
[ "${1:-}" != bench ] || need gnuplot-nox command -v gnuplot
[ -n "$pkgs" ] || exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
	echo "deps: installing$pkgs"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq $pkgs >/dev/null
else
	echo "deps: missing$pkgs (install them, e.g. apt-get install$pkgs)" >&2
	exit 1
fi
