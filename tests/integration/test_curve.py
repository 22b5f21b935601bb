"""CURVE on ingest (README.md, "Running on a cluster"): keys from
`erwatch keygen`, a daemon with --curve-key/--curve-clients; a listed
client's batches are stored; an unlisted key, a plaintext client and a
client with the wrong server key store nothing and are counted; SIGHUP
removes a key and its next batch is refused; the unbounded-message probe
cannot get past the handshake."""

import os
import signal
import subprocess
import sys
import time

import msgpack
import numpy as np
import zmq

sys.path.insert(0, os.path.dirname(__file__))
from harness import (ERWATCH, ERWATCHD, SLOW, Daemon, run_all, run_cli,  # noqa: E402
                     save_npy, test, wait_for)
from probe import MiB, vm_hwm_mib, zmtp_connect, zmtp_send_frames  # noqa: E402

HDR = {"v": 1, "tag": "t", "dtype": "f32", "shape": [4, 3]}
X = np.ones((4, 3), np.float32).tobytes()


def keygen(d, name):
    path = os.path.join(d.dir, name)
    p = subprocess.run([ERWATCH, "keygen", path], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p
    return path + ".key", path + ".pub"


def key_of(path):
    """The Z85 key of a key file (its one line that is not a comment)."""
    with open(path) as f:
        lines = [l.strip() for l in f if l.strip()]
    return [l for l in lines if len(l) == 40][-1].encode()


def curve_daemon(*extra, clients=("alice",)):
    d = Daemon(*extra)
    d.keys = {n: keygen(d, n) for n in ("server", "alice", "bob", "eve")}
    d.clients_file = os.path.join(d.dir, "clients")
    write_clients(d, clients)
    d.args += ["--curve-key", d.keys["server"][0], "--curve-clients", d.clients_file]
    return d


def write_clients(d, names):
    with open(d.clients_file, "w") as f:
        f.write("# authorised ranks\n")
        for n in names:
            with open(d.keys[n][1]) as p:
                f.write(p.read())


def sender(d, name=None, server_pub=None):
    """A PUSH socket; name: the client key to use (None: plaintext). Sends
    time out: once a refused handshake has ended the connection, libzmq
    drops the socket's only pipe and a send would block for ever."""
    s = zmq.Context.instance().socket(zmq.PUSH)
    s.sndtimeo = 2000 * SLOW
    if name:
        sec = key_of(d.keys[name][0])
        s.curve_secretkey = sec
        s.curve_publickey = zmq.curve_public(sec)
        s.curve_serverkey = server_pub or key_of(d.keys["server"][1])
    s.connect(d.zmq)
    return s


def send(s, run, steps, refused=False):
    """Sends one batch per step. refused: the daemon refuses this sender, so
    its pipe may be gone before the sends (they then time out: nothing sent,
    nothing to store); an accepted sender's send never times out."""
    for step in steps:
        try:
            s.send_multipart([msgpack.packb(dict(HDR, run=run, step=step)), X])
        except zmq.Again:
            if not refused:
                raise AssertionError("send of %s step %d timed out" % (run, step))
            return


def stored_runs(d):
    return sorted(r for (r,) in d.sql("SELECT name FROM runs"))


@test
def keygen_writes_private_secret_and_refuses_to_overwrite():
    d = Daemon()
    try:
        key, pub = keygen(d, "k")
        assert os.stat(key).st_mode & 0o777 == 0o600, oct(os.stat(key).st_mode)
        assert zmq.curve_public(key_of(key)) == key_of(pub)
        p = subprocess.run([ERWATCH, "keygen", key[:-4]], capture_output=True, text=True)
        assert p.returncode != 0 and "exists already" in p.stderr, p
    finally:
        d.cleanup()


@test
def listed_client_stored_others_refused_and_counted():
    with curve_daemon() as d:
        a = sender(d, "alice")
        send(a, "alice-run", range(5))
        d.wait_stored(5)
        e = sender(d, "eve")                       # a key not in the list
        send(e, "eve-run", range(5), refused=True)
        plain = sender(d)                          # no CURVE at all
        send(plain, "plain-run", range(5), refused=True)
        wrong = sender(d, "alice", server_pub=key_of(d.keys["bob"][1]))  # wrong server key
        send(wrong, "wrong-run", range(5), refused=True)

        def counted():  # (the plaintext peer retries: several failures of one kind)
            h, log = d.health(), d.log()
            return h if h["auth"]["refused"] >= 1 and h["auth"]["handshake_failed"] >= 2 \
                and "without CURVE keys" in log and "wrong server public key" in log else None
        h = wait_for(counted, timeout=15, what="the refusals to be counted")
        send(a, "alice-run", range(5, 10))        # the listed client still gets through
        d.wait_stored(10)
        time.sleep(0.3)
        for s in (a, e, plain, wrong):
            s.close(linger=0)
        assert stored_runs(d) == ["alice-run"], stored_runs(d)
        assert d.health()["batches"]["received"] == 10, d.health()
        log = d.log()
        assert log.count(key_of(d.keys["eve"][1]).decode()) == 1, log  # logged once


@test
def sighup_removes_a_key_and_its_next_batch_is_refused():
    with curve_daemon(clients=("alice", "bob")) as d:
        a, b = sender(d, "alice"), sender(d, "bob")
        send(a, "alice-run", range(3))
        send(b, "bob-run", range(3))
        d.wait_stored(6)
        write_clients(d, ["alice"])
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "SIGHUP: 1 CURVE client key(s) authorised" in d.log(), 10,
                 what="the reload")
        send(b, "bob-run", range(3, 6), refused=True)
        send(a, "alice-run", range(3, 6))
        d.wait_stored(9)
        wait_for(lambda: d.health()["auth"]["refused"] >= 3, 10, what="bob's refusals")
        rows = d.sql("SELECT r.name, count(*) FROM batches b JOIN runs r ON r.id = b.run_id "
                     "GROUP BY r.name ORDER BY r.name")
        assert rows == [("alice-run", 6), ("bob-run", 3)], rows
        # A broken list keeps the old one.
        with open(d.clients_file, "a") as f:
            f.write("not-a-key\n")
        d.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "the previous client list stays" in d.log(), 10, what="the error")
        send(a, "alice-run", range(6, 7))
        d.wait_stored(10)
        a.close(linger=0)
        b.close(linger=0)


@test
def clients_cli_env_and_python_monitor():
    """erwatch push --server-pub/--client-key (the C library's options),
    $ERWATCH_SERVER_PUB/$ERWATCH_CLIENT_KEY, and Monitor(server_pub=,
    client_key=) all get through; bad key files fail at construction."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "client", "python"))
    import erwatch
    with curve_daemon(clients=("alice", "bob")) as d:
        x = save_npy(os.path.join(d.dir, "x.npy"), np.random.default_rng(0)
                     .standard_normal((16, 4)).astype(np.float32))
        spub, akey = d.keys["server"][1], d.keys["alice"][0]
        run_cli("push", "--endpoint", d.zmq, "--run", "cli-run", "--tag", "t", "--step", "1",
                "--server-pub", spub, "--client-key", akey, x)
        env = dict(os.environ, ERWATCH_SERVER_PUB=spub, ERWATCH_CLIENT_KEY=d.keys["bob"][0])
        p = subprocess.run([ERWATCH, "push", "--endpoint", d.zmq, "--run", "env-run", "--tag",
                            "t", "--step", "1", x], env=env, capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 0, p
        mon = erwatch.Monitor("py-run", tag="t", endpoint=d.zmq, server_pub=spub,
                              client_key=akey)
        mon.log(1, np.ones((8, 4), np.float32))
        mon.flush(5)
        mon.close()
        d.wait_stored(3)
        assert stored_runs(d) == ["cli-run", "env-run", "py-run"], stored_runs(d)
        # Bad files: an error at construction, never a plaintext connection.
        p = subprocess.run([ERWATCH, "push", "--endpoint", d.zmq, "--run", "r", "--tag", "t",
                            "--step", "1", "--server-pub", akey, "--client-key", akey, x],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode != 0 and "holds a secret key" in p.stderr, p
        p = subprocess.run([ERWATCH, "push", "--endpoint", d.zmq, "--run", "r", "--tag", "t",
                            "--step", "1", "--server-pub", spub, x],
                           capture_output=True, text=True, timeout=60)
        assert p.returncode != 0 and "needs both" in p.stderr, p
        for kw, want in ((dict(server_pub=spub, client_key=spub), "holds a public key"),
                         (dict(server_pub=spub, client_key="/nonexistent.key"), "cannot read"),
                         (dict(client_key=akey), "needs both")):
            try:
                erwatch.Monitor("bad", endpoint=d.zmq, connect_timeout=0, **kw)
            except ValueError as e:
                assert want in str(e), (kw, e)
            else:
                raise AssertionError("Monitor(%r) did not fail" % (kw,))


@test
def bad_key_files_fail_at_start():
    d = curve_daemon()
    try:
        args = list(d.args)
        cases = [
            (d.keys["server"][1], "holds a public key"),          # .pub where .key belongs
            (os.path.join(d.dir, "missing.key"), "No such file"),
        ]
        for keyfile, want in cases:
            a = list(args)
            a[a.index("--curve-key") + 1] = keyfile
            p = subprocess.run(a, capture_output=True, text=True, timeout=30)
            assert p.returncode != 0 and want in p.stderr, (keyfile, p.stderr)
        with open(d.clients_file, "w") as f:
            f.write("too-short\n")
        p = subprocess.run(args, capture_output=True, text=True, timeout=30)
        assert p.returncode != 0 and "line 1" in p.stderr, p.stderr
        p = subprocess.run(args[:args.index("--curve-clients")], capture_output=True,
                           text=True, timeout=30)
        assert p.returncode == 2 and "--curve-clients" in p.stderr, p.stderr
    finally:
        d.cleanup()


@test
def unbounded_message_probe_cannot_pass_the_handshake():
    """32 frames of 16 MiB with MORE set from a raw plaintext ZMTP peer (the
    review's probe) against a CURVE daemon: the mechanism mismatch ends the
    connection at the greeting, so the daemon's memory stays flat."""
    with curve_daemon("--max-queue-mb", "64") as d:
        idle = vm_hwm_mib(d.proc.pid)
        port = int(d.zmq.rsplit(":", 1)[1])
        s = zmtp_connect(port)
        sent_all = zmtp_send_frames(s, 32, 16 * MiB, more_at_end=True)
        s.close()
        wait_for(lambda: d.health()["auth"]["handshake_failed"] >= 1, 10,
                 what="the failed handshake")
        peak = vm_hwm_mib(d.proc.pid)
        print("# CURVE daemon, probe of 32 x 16 MiB: peak RSS %d MiB (idle %d MiB), "
              "probe %s" % (peak, idle, "sent it all" if sent_all else "was cut off"))
        assert peak < idle + 16, (peak, idle)


if __name__ == "__main__":
    run_all()
