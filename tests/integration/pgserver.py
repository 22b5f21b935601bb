"""A throw-away PostgreSQL 15 server for the tests of erwatchd's PostgreSQL
store (Debian's postgresql-15; scripts/deps.sh installs it).

PgServer() runs initdb in a temporary directory and starts postgres on a
free 127.0.0.1 port (its Unix socket in the same directory, nothing in
/var/run), with one database "erwatch" and one superuser "erwatch"
(trust authentication: only loopback, only for this test). PostgreSQL
refuses to run as root: when the tests run as root (CI), the server runs
as Debian's "postgres" user and the directory is given to it. stop() and
start() restart it on the same port and data (the fault tests), close()
stops it and removes everything. Like harness.Service, its log is printed
when start-up fails.
"""

import csv
import glob
import io
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time

from harness import free_port, wait_for

_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
BIN = _BIN[-1] if _BIN else None


# Under `make asan|tsan` the tests run with the sanitizer runtime preloaded
# (tests/run.sh): PostgreSQL's programs are not built with it and hang or
# die under it (initdb never returned under ASan's preload). They get the
# environment without it.
_ENV = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}


def available():
    return BIN is not None and os.path.exists(os.path.join(BIN, "initdb"))


def _demote(uid, gid):
    def fn():
        if os.getuid() == 0:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
        # after setuid: changing credentials clears the parent-death signal
        import ctypes
        ctypes.CDLL(None).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    return fn


class PgServer:
    def __init__(self, db="erwatch"):
        if not available():
            raise AssertionError("PostgreSQL server binaries not found under "
                                 "/usr/lib/postgresql (Debian package postgresql-15)")
        self.dir = tempfile.mkdtemp(prefix="ew-pg-")
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, "data")
        self.log_path = os.path.join(self.dir, "postgres.log")
        self.port = free_port()
        self.dbname = db
        if os.getuid() == 0:
            pw = pwd.getpwnam("postgres")
            self.uid, self.gid = pw.pw_uid, pw.pw_gid
            os.chown(self.dir, self.uid, self.gid)
        else:
            self.uid, self.gid = os.getuid(), os.getgid()
        self.proc = None
        try:
            self._run([os.path.join(BIN, "initdb"), "-D", self.data, "-U", "erwatch",
                       "-A", "trust", "-E", "UTF8", "--no-sync", "--locale=C"])
            self.start()
            self.psql("CREATE DATABASE %s" % db, db="postgres")
        except BaseException:
            print(self.log())
            self.close()
            raise

    @property
    def uri(self):
        return "postgresql://erwatch@127.0.0.1:%d/%s" % (self.port, self.dbname)

    def _run(self, argv):
        with open(self.log_path, "ab") as log:
            subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           preexec_fn=_demote(self.uid, self.gid), check=True, timeout=120,
                           env=_ENV)

    def start(self):
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [os.path.join(BIN, "postgres"), "-D", self.data, "-p", str(self.port),
             "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=" + self.dir,
             "-c", "fsync=off", "-c", "max_connections=100"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=_demote(self.uid, self.gid), env=_ENV)
        log.close()
        wait_for(self._ready, 60, interval=0.1, what="postgres to accept connections")

    def _ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("postgres exited:\n" + self.log())
        r = subprocess.run([os.path.join(BIN, "pg_isready"), "-h", "127.0.0.1", "-p",
                            str(self.port), "-U", "erwatch", "-d", "postgres", "-q"],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=10, env=_ENV)
        return r.returncode == 0

    def stop(self, mode=signal.SIGINT):
        """SIGINT: PostgreSQL's fast shutdown (clients are disconnected)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(mode)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def psql(self, sql, db=None):
        """Runs sql; returns the rows as lists of strings ('' for NULL)."""
        r = subprocess.run([os.path.join(BIN, "psql"), "-X", "-q", "--csv", "-t",
                            "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.port),
                            "-U", "erwatch", "-d", db or self.dbname, "-c", sql],
                           stdin=subprocess.DEVNULL, capture_output=True, timeout=60, env=_ENV)
        if r.returncode != 0:
            raise AssertionError("psql %r: %s" % (sql, r.stderr.decode("utf-8", "replace")))
        # one field may be a whole result as JSON (json_agg): no size limit
        csv.field_size_limit(1 << 30)
        return list(csv.reader(io.StringIO(r.stdout.decode("utf-8"))))

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def close(self):
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        if et is not None:
            print("--- postgres log (tail):\n" + self.log()[-4000:])
        self.close()
        return False


if __name__ == "__main__":  # a quick check: python3 pgserver.py
    with PgServer() as pg:
        t0 = time.monotonic()
        print(pg.uri, pg.psql("SELECT version()")[0][0])
        pg.stop()
        pg.start()
        print("restarted in %.2fs" % (time.monotonic() - t0), pg.psql("SELECT 1"))
