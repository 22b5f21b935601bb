"""`make install` and the C client as a user gets it: the layout under
DESTDIR/PREFIX, liberwatch.so's SONAME and symlinks, erwatch.pc, and the
README's C example built with `cc x.c $(pkg-config --cflags --libs erwatch)`
(and against liberwatch.a with what erwatch.pc says it needs), run against
a real daemon."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from harness import BUILD, ROOT, Daemon, run_all, test  # noqa: E402

SAN = {"address": ["-fsanitize=address,undefined"], "thread": ["-fsanitize=thread"]}.get(
    os.environ.get("EW_SAN", ""), [])


def clean_env(**extra):
    """The environment for make, cc and pkg-config: no sanitizer preload,
    no outer make's jobserver."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("LD_PRELOAD", "MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    env.update(extra)
    return env


def sh(args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL, **kw)
    assert p.returncode == 0, "%s: exit %d\nstdout: %s\nstderr: %s" % (
        " ".join(args), p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    return p.stdout


def make_install(**vars_):
    sh(["make", "--no-print-directory", "-C", ROOT, "install", "BUILD=" + BUILD]
       + ["%s=%s" % kv for kv in vars_.items()], env=clean_env())


def readme_example():
    """The program between the c-example markers of README.md, dedented."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    m = re.search(r"<!-- c-example[^>]*-->\n(.*?)<!-- end c-example -->", text, re.S)
    assert m, "README.md has no c-example block"
    lines = m.group(1).splitlines()
    assert all(not ln or ln.startswith("    ") for ln in lines), "not an indented code block"
    return "\n".join(ln[4:] for ln in lines) + "\n"


@test
def destdir_layout_soname_and_pc_file():
    tmp = tempfile.mkdtemp(prefix="ew-inst-")
    try:
        make_install(DESTDIR=tmp, PREFIX="/opt/erwatch")
        root = os.path.join(tmp, "opt", "erwatch")
        for rel in ("bin/erwatchd", "bin/erwatch", "include/erwatch.h", "lib/liberwatch.a",
                    "lib/pkgconfig/erwatch.pc", "share/erwatch/web/index.html"):
            assert os.path.exists(os.path.join(root, rel)), rel
        lib = os.path.join(root, "lib")
        assert os.readlink(os.path.join(lib, "liberwatch.so")) == "liberwatch.so.0"
        real = os.readlink(os.path.join(lib, "liberwatch.so.0"))
        assert re.fullmatch(r"liberwatch\.so\.\d+\.\d+\.\d+", real), real
        dyn = sh(["readelf", "-d", os.path.join(lib, real)])
        assert "Library soname: [liberwatch.so.0]" in dyn, dyn
        # the client library depends on the client's packages only
        for unwanted in ("libsqlite3", "libmicrohttpd", "libopenblas"):
            assert unwanted not in dyn, (unwanted, dyn)
        with open(os.path.join(lib, "pkgconfig", "erwatch.pc")) as f:
            pc = f.read()
        assert "prefix=/opt/erwatch\n" in pc and "Libs: -L${libdir} -lerwatch" in pc, pc
        assert re.search(r"^Requires\.private: .*libzmq.*jansson", pc, re.M), pc
        assert re.search(r"^Libs\.private: ", pc, re.M), pc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@test
def readme_c_example_builds_with_pkg_config_and_runs():
    tmp = tempfile.mkdtemp(prefix="ew-inst-")
    try:
        prefix = os.path.join(tmp, "prefix")
        make_install(PREFIX=prefix)
        src = os.path.join(tmp, "x.c")
        with open(src, "w") as f:
            f.write(readme_example())
        env = clean_env(PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
        flags = sh(["pkg-config", "--cflags", "--libs", "erwatch"], env=env).split()
        assert "-lerwatch" in flags, flags
        dyn = os.path.join(tmp, "x")
        # `cc x.c $(pkg-config --cflags --libs erwatch)`, as the README says
        sh(["cc", "-o", dyn, src] + flags + SAN, env=env, cwd=tmp)
        # liberwatch.a: its Requires.private and Libs.private must name all
        # it needs. (The packages themselves are linked dynamically: Debian
        # 12's libzmq.pc --static names a libprotokit.a that is not there.)
        static = os.path.join(tmp, "x-static")
        reqs = sh(["pkg-config", "--print-requires-private", "erwatch"], env=env).split()
        with open(os.path.join(prefix, "lib", "pkgconfig", "erwatch.pc")) as f:
            private = re.search(r"^Libs\.private:(.*)$", f.read(), re.M).group(1).split()
        sh(["cc", "-o", static, src, os.path.join(prefix, "lib", "liberwatch.a")]
           + sh(["pkg-config", "--cflags", "erwatch"], env=env).split()
           + sh(["pkg-config", "--libs"] + reqs, env=env).split() + private + SAN,
           env=env, cwd=tmp)
        # readelf, not ldd: ldd runs the program, and a TSan build crashes so
        needed = sh(["readelf", "-d", static])
        assert "liberwatch" not in needed, "x-static still needs liberwatch.so:\n" + needed

        with Daemon() as d:
            for exe in (dyn, static):
                out = sh([exe], env=clean_env(ERWATCH_ENDPOINT=d.zmq,
                                              LD_LIBRARY_PATH=os.path.join(prefix, "lib")))
                assert out.strip() == "push: success", out
            d.wait_stored(2)
            assert d.sql("SELECT count(*) FROM series_points WHERE run='c-example' "
                         "AND metric='loss' AND value=0.7") == [(1,)]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    run_all()
