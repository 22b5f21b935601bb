#!/bin/sh
# web_deps.sh NPM: makes web/node_modules what web/package-lock.json pins
# (uPlot for the dashboard, playwright-core for its browser test), then
# touches npm's stamp (web/node_modules/.package-lock.json) so make does not
# ask again.
#
# Offline first: when every package the lock file pins is already in
# web/node_modules at its pinned version (a checkout whose lock file was
# touched, node_modules copied from another machine), nothing is fetched and
# npm is not needed. Otherwise `npm ci` fetches them once, and when npm is
# missing or cannot reach the registry the message says what to do.
set -eu
npm="${1:-npm}"
stamp=web/node_modules/.package-lock.json

if [ -d web/node_modules ] && [ -x /usr/bin/python3 ] && /usr/bin/python3 - <<'PY'
import json, sys
with open("web/package-lock.json") as f:
    lock = json.load(f)
for path, meta in lock.get("packages", {}).items():
    if not path:
        continue
    try:
        with open("web/%s/package.json" % path) as f:
            have = json.load(f).get("version")
    except (OSError, ValueError):
        sys.exit(1)
    if have != meta.get("version"):
        sys.exit(1)
PY
then
    touch "$stamp"
    exit 0
fi

if ! command -v "$npm" >/dev/null 2>&1; then
    echo "make: the dashboard needs uPlot from npm (web/package-lock.json) and" \
        "web/node_modules does not have it: install npm (Debian: apt-get install npm," \
        "or run 'make deps') and run make again; once web/node_modules is there," \
        "make builds offline" >&2
    exit 1
fi
echo "  NPM    ci (web/)"
if ! (cd web && "$npm" ci --no-audit --no-fund --loglevel=error); then
    echo "make: 'npm ci' in web/ failed: it fetches uPlot (web/package-lock.json) from" \
        "the npm registry once. Give it network access, or copy web/node_modules from a" \
        "machine that has it, and run make again" >&2
    exit 1
fi
touch "$stamp"
