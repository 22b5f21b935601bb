#!/bin/sh
# deps.sh: install the Debian packages erwatch needs, and do nothing when they
# are all there. Both `make run` and `make test` go through this step, so a
# fresh Debian 12 machine needs no other set-up. Pass a group to install more:
#   deps.sh          build + run + every test's packages
#   deps.sh bench    the same (the PyTorch reference benchmark needs nothing more)
set -eu

pkgs="build-essential pkg-config clang clang-format libclang-rt-14-dev
libzmq3-dev libmsgpack-dev libsqlite3-dev sqlite3 libmicrohttpd-dev
libpq-dev postgresql-15
libopenblas-dev liblapacke-dev libcurl4-openssl-dev curl
libyaml-dev libcrypt-dev openssl python3-bcrypt libjansson-dev
python3 python3-zmq python3-msgpack python3-numpy
python3-torch python3-sklearn python3-setuptools
chromium fonts-inter
prometheus-alertmanager prometheus"
# (libpq-dev: the PostgreSQL store (--db postgresql://...); postgresql-15:
# the tests run a throw-away server of their own (tests/integration/pgserver.py).
# libyaml-dev, libcrypt-dev: --web-config's YAML and bcrypt hashes; openssl
# and python3-bcrypt: the HTTPS test writes a certificate and a hash.
# prometheus-alertmanager: tests/integration/test_alerts_am.py checks that
# alerts go through a real Alertmanager, and prometheus:
# tests/integration/test_prometheus.py scrapes GET /metrics with the real
# thing; erwatchd itself needs neither.
# python3-torch and python3-sklearn: the Python client's tensor tests and the
# SimSiam demo that `make test` runs in its quick mode.)

# The dashboard's build runs npm (uPlot comes from the npm registry) and its
# browser test drives Debian's chromium through playwright-core. node and
# npm may come from another source than Debian's packages (NodeSource's
# nodejs ships npm and conflicts with Debian's npm): install Debian's only
# when the commands are missing.
command -v node >/dev/null 2>&1 || pkgs="$pkgs nodejs"
command -v npm >/dev/null 2>&1 || pkgs="$pkgs npm"

for group in "$@"; do
    case "$group" in
        bench) ;;
        *) echo "deps.sh: unknown group '$group' (known: bench)" >&2; exit 2 ;;
    esac
done

missing=""
for p in $pkgs; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "deps: installing missing Debian packages:$missing"
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
        echo "deps: not root and no sudo; install these yourself:$missing" >&2
        exit 1
    fi
else
    SUDO=""
fi
export DEBIAN_FRONTEND=noninteractive
# An old package list finds nothing on a fresh machine; refresh it once.
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing </dev/null
