"""Alerting through a real Alertmanager (Debian's prometheus-alertmanager):
erwatchd posts a collapsing run's alert to Alertmanager's /api/v2/alerts,
Alertmanager shows it with our labels and fingerprint, delivers it to a
local webhook receiver, keeps it active while we re-send it, and resolves
it (and says so to the receiver) when the run recovers. Everything on
127.0.0.1 ephemeral ports, in a temporary directory. Skipped, visibly, only
when the binary is not installed."""

import os
import shutil
import sys
import time

# Under `make asan|tsan` this interpreter runs with the sanitizer runtime
# preloaded (for liberwatch.so). erwatchd is built with it and does not need
# that, and the /bin/sh its exec hook starts crashes with it: keep it from
# the processes these tests start.
os.environ.pop("LD_PRELOAD", None)

sys.path.insert(0, os.path.dirname(__file__))
from alerts_receiver import Pusher, Receiver  # noqa: E402
from harness import Daemon, Service, run_all, test, wait_for  # noqa: E402

AM = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"

RULE = ("alert LossHigh scalar=loss when value > 1 for 3 batches\n"
        "    resolve when value < 0.5 severity=critical\n"
        "    summary=\"{run}: loss {value}\"\n")


def fingerprint(labels):
    """Alertmanager's label-set fingerprint, computed here independently."""
    h = 14695981039346656037
    for k in sorted(labels):
        for part in (k, labels[k]):
            for b in part.encode():
                h = ((h ^ b) * 1099511628211) % 2**64
            h = ((h ^ 0xFF) * 1099511628211) % 2**64
    return "%016x" % h


class Alertmanager(Service):
    def __init__(self, receiver_url):
        def argv(dir_, port):
            cfg = os.path.join(dir_, "am.yml")
            with open(cfg, "w") as f:
                f.write("route:\n"
                        "  receiver: hook\n"
                        "  group_by: [alertname, run]\n"
                        "  group_wait: 1s\n"
                        "  group_interval: 1s\n"
                        "  repeat_interval: 1h\n"
                        "receivers:\n"
                        "  - name: hook\n"
                        "    webhook_configs:\n"
                        "      - url: %s\n"
                        "        send_resolved: true\n" % receiver_url)
            return [AM, "--config.file=" + cfg, "--storage.path=" + os.path.join(dir_, "data"),
                    "--cluster.listen-address=", "--web.listen-address=127.0.0.1:%d" % port,
                    "--log.level=info"]
        super().__init__("alertmanager", argv)

    def alerts(self, **params):
        q = "&".join("%s=%s" % kv for kv in params.items())
        return self.get_json("/api/v2/alerts" + ("?" + q if q else ""))


def received(rx, status):
    return [b for b in rx.bodies() if b["status"] == status]


@test
def alertmanager_end_to_end():
    with Receiver() as rx:
        am = Alertmanager(rx.url)
        try:
            d = Daemon("--no-default-rules", "--alertmanager", am.url, "--alert-resend", "1")
            path = os.path.join(d.dir, "rules.conf")
            with open(path, "w") as f:
                f.write(RULE)
            d.args += ["--rules", path]
            with d:
                p = Pusher(d)
                p.series("collapsing", [0.1] * 3 + [2.0] * 5)
                p.series("healthy", [0.1] * 8)
                p.settle()

                # 1. Alertmanager has it, with our labels and fingerprint.
                got = wait_for(lambda: am.alerts(), 15, interval=0.1,
                               what="the alert in Alertmanager")
                assert len(got) == 1, got
                a = got[0]
                labels = {"alertname": "LossHigh", "run": "collapsing", "tag": "proj",
                          "metric": "loss", "severity": "critical"}
                assert a["labels"] == labels, a
                assert a["fingerprint"] == fingerprint(labels), a
                assert a["status"]["state"] == "active", a
                assert a["annotations"]["summary"] == "collapsing: loss 2", a
                assert a["generatorURL"] == d.http + "/?run=collapsing&tag=proj&metric=loss", a

                # 2. Alertmanager delivers it to the receiver.
                wait_for(lambda: received(rx, "firing"), 15, interval=0.1,
                         what="Alertmanager's firing webhook")
                m = received(rx, "firing")[0]
                assert m["alerts"][0]["labels"] == labels, m
                assert m["alerts"][0]["fingerprint"] == a["fingerprint"], m

                # 3. Re-sent while firing: Alertmanager's copy is refreshed and
                #    its end stays ahead (4 re-send intervals).
                first_update = a["updatedAt"]
                wait_for(lambda: am.alerts()[0]["updatedAt"] != first_update, 10,
                         interval=0.2, what="a re-send")
                assert am.alerts()[0]["status"]["state"] == "active"
                time.sleep(1.5)
                assert len(received(rx, "firing")) == 1, rx.bodies()  # no repeat storm

                # 4. Recovery resolves it in Alertmanager and at the receiver.
                p.series("collapsing", [0.1] * 2, start=8)
                p.settle()
                wait_for(lambda: received(rx, "resolved"), 15, interval=0.1,
                         what="Alertmanager's resolved webhook")
                r = received(rx, "resolved")[0]
                assert r["alerts"][0]["labels"] == labels, r
                assert r["alerts"][0]["status"] == "resolved", r
                assert am.alerts(active="true") == [] or \
                    all(x["status"]["state"] != "active" for x in am.alerts()), am.alerts()
                h = d.health()["alerts"]["notifications"]
                assert h["sent"] == 2 and h["dropped"] == 0, h
                p.close()
        except BaseException:
            print("--- alertmanager log:\n" + am.log())
            raise
        finally:
            am.close()


if not os.access(AM, os.X_OK):
    print("ok alertmanager_end_to_end # SKIP prometheus-alertmanager is not installed "
          "(scripts/deps.sh installs it)")
    sys.exit(0)
run_all()
