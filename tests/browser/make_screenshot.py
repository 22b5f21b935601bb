"""make_screenshot.py [--demo] [OUT]: regenerates docs/dashboard.png.

Starts erwatchd on ephemeral loopback ports with a temporary database and
captures the dashboard in headless chromium. What it shows:
  default   a healthy and a collapsing synthetic run (seed.py), pushed
            through the C client library (fast);
  --demo    the SimSiam demo's three real training runs (healthy, complete
            collapse, dimensional collapse; client/python/examples), which
            is what README.md shows (about a minute on 2 cores).
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
import seed  # noqa: E402


def main():
    args = sys.argv[1:]
    demo = "--demo" in args
    args = [a for a in args if a != "--demo"]
    out = args[0] if args else os.path.join(harness.ROOT, "docs", "dashboard.png")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with harness.Daemon() as d:
        if demo:
            subprocess.run(["/usr/bin/python3",
                            os.path.join(harness.ROOT, "client", "python", "examples",
                                         "simsiam_digits.py"),
                            "--endpoint", d.zmq, "--http", d.http],
                           check=True, timeout=600, stdin=subprocess.DEVNULL)
            harness.wait_for(lambda: d.health()["queue"]["in"]["items"] == 0
                             and d.health()["batches"]["stored"]
                             == d.health()["batches"]["accepted"], timeout=60,
                             what="the demo's batches to be stored")
        else:
            sent = seed.push_runs(d.zmq, steps=300, every=10)
            d.wait_stored(sent, timeout=120)
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        subprocess.run(["node", os.path.join(HERE, "screenshot.mjs"), d.http + "/", out, "1440", "1000"],
                       check=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    print(out)


if __name__ == "__main__":
    main()
