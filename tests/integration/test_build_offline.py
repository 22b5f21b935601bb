"""`make` and the dashboard's npm packages: with web/node_modules already
holding what web/package-lock.json pins, the build runs offline (npm is
never called, even when the lock file looks newer); without it, the build
stops with a message saying what it needs (npm missing, or npm unable to
reach the registry). Each case builds the web part of a copy of the tree."""

import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import ROOT, run_all, test  # noqa: E402


def tree(with_modules):
    """A copy of what `make web` reads, with or without web/node_modules."""
    tmp = tempfile.mkdtemp(prefix="ew-web-")
    shutil.copy(os.path.join(ROOT, "Makefile"), tmp)
    shutil.copytree(os.path.join(ROOT, "scripts"), os.path.join(tmp, "scripts"))
    os.makedirs(os.path.join(tmp, "daemon"))
    shutil.copy(os.path.join(ROOT, "daemon", "config.h"), os.path.join(tmp, "daemon"))
    shutil.copytree(os.path.join(ROOT, "web"), os.path.join(tmp, "web"),
                    ignore=None if with_modules else shutil.ignore_patterns("node_modules"))
    # a fresh checkout or a pulled lock file: newer than npm's stamp
    later = time.time() + 5
    os.utime(os.path.join(tmp, "web", "package-lock.json"), (later, later))
    return tmp


def fake_npm(tmp):
    """An npm that cannot reach the registry, and says when it was called."""
    path = os.path.join(tmp, "npm-offline")
    with open(path, "w") as f:
        f.write("#!/bin/sh\necho called >> %s/npm-called\n"
                "echo 'npm ERR! network request failed (offline)' >&2\nexit 1\n" % tmp)
    os.chmod(path, 0o755)
    return path


def make_web(tmp, npm):
    # (make asan/tsan put BUILD=build/asan, SAN... in the environment)
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "MAKEFLAGS", "MAKELEVEL", "MFLAGS", "BUILD", "SAN", "OPT",
                        "EW_SAN")}
    return subprocess.run(["make", "--no-print-directory", "-C", tmp, "web", "NPM=" + npm],
                          capture_output=True, text=True, timeout=120, env=env,
                          stdin=subprocess.DEVNULL)


@test
def builds_offline_when_node_modules_is_there():
    tmp = tree(with_modules=True)
    try:
        p = make_web(tmp, fake_npm(tmp))
        assert p.returncode == 0, (p.stdout, p.stderr)
        assert not os.path.exists(os.path.join(tmp, "npm-called")), "npm was called"
        assert os.path.exists(os.path.join(tmp, "build", "web", "static", "vendor",
                                           "uPlot.iife.min.js"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@test
def says_what_it_needs_without_node_modules():
    tmp = tree(with_modules=False)
    try:
        p = make_web(tmp, os.path.join(tmp, "no-such-npm"))
        assert p.returncode != 0, p.stdout
        assert "needs uPlot from npm" in p.stderr and "install npm" in p.stderr, p.stderr
        p = make_web(tmp, fake_npm(tmp))
        assert p.returncode != 0, p.stdout
        assert os.path.exists(os.path.join(tmp, "npm-called"))
        assert "'npm ci' in web/ failed" in p.stderr and "network" in p.stderr, p.stderr
        assert not os.path.exists(os.path.join(tmp, "build", "web"))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run_all()
