"""make_screenshot.py [OUT]: regenerates docs/dashboard.png.

Starts erwatchd on ephemeral loopback ports with a temporary database,
pushes a healthy and a collapsing run (seed.py) through the C client
library, and captures the dashboard in headless chromium.
"""

import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402
import seed  # noqa: E402


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(harness.ROOT, "docs", "dashboard.png")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    with harness.Daemon() as d:
        sent = seed.push_runs(d.zmq, steps=300, every=10)
        d.wait_stored(sent, timeout=120)
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        subprocess.run(["node", os.path.join(HERE, "screenshot.mjs"), d.http + "/", out, "1440", "1000"],
                       check=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
    print(out)


if __name__ == "__main__":
    main()
