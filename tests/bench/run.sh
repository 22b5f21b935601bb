#!/bin/sh
# run.sh BUILD: every benchmark; results go to stdout and tests/bench/RESULTS.md.
set -eu
BUILD=${1:-build}
out=tests/bench/RESULTS.md
{
    echo "# Benchmark results"
    echo
    echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'); $(date -u +%Y-%m-%d)."
    echo "Command: \`make bench\`."
    echo
    echo "## Daemon end to end (2 workers, default metric set, batches stored per second)"
    echo
    echo '```'
    for shape in 256x128 1024x256; do
        sh tests/bench/e2e.sh "$BUILD" $shape 2 10
    done
    echo '```'
} | tee "$out"
