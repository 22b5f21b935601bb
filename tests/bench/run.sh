#!/bin/sh
# run.sh BUILD: every benchmark; results go to stdout and tests/bench/RESULTS.md.
# Sections: the daemon end to end (e2e.sh), PostgreSQL against SQLite
# (bench_pg_ingest.py: e2e.sh and the writer alone, bench_store), then the metric kernels alone
# (bench_metrics, beside PyTorch from torch_ref.py when python3-torch is there),
# the dashboard's queries (bench_http_series.py, bench_summaries.py,
# bench_http_runs.py),
# retention under load (bench_retention.py), memory (bench_memory.py),
# then the Python client (bench_python_client.py).
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
    # The load generator outruns the workers, so the queue stays full: a burst
    # larger than the queue. Peak RSS must stay under the bound plus a fixed
    # overhead, whatever the bound.
    sh tests/bench/e2e.sh "$BUILD" 1024x256 2 10 64
    echo '```'
    echo
    echo "## PostgreSQL vs SQLite: ingest end to end and the writer alone"
    echo
    echo "Command: \`/usr/bin/python3 tests/bench/bench_pg_ingest.py $BUILD\`."
    echo
    /usr/bin/python3 tests/bench/bench_pg_ingest.py "$BUILD"
    echo
    echo "## Dashboard queries (HTTP, 1M-point series, 50 runs; first paint in chromium)"
    echo
    EW_BUILD="$BUILD" /usr/bin/python3 tests/bench/bench_http_series.py "$BUILD"
    echo
    echo "## The series query on PostgreSQL vs SQLite (1M-point series)"
    echo
    echo "Command: \`EW_BUILD=$BUILD /usr/bin/python3 tests/bench/bench_pg_series.py $BUILD\`."
    echo
    if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
        EW_BUILD="$BUILD" /usr/bin/python3 tests/bench/bench_pg_series.py "$BUILD"
    else
        echo "Skipped: PostgreSQL is not installed (scripts/deps.sh installs postgresql-15)."
    fi
    echo
    echo "## Scaling: the series query vs the series' length (summaries)"
    echo
    echo "Command: \`EW_BUILD=$BUILD /usr/bin/python3 tests/bench/bench_summaries.py $BUILD\`."
    echo
    EW_BUILD="$BUILD" /usr/bin/python3 tests/bench/bench_summaries.py "$BUILD"
    echo
    echo "## The run list (GET /api/runs with 50, 1000 and 10000 runs)"
    echo
    EW_BUILD="$BUILD" /usr/bin/python3 tests/bench/bench_http_runs.py "$BUILD"
    echo
    echo "## Retention at work under load (ingest with and without --retention-size)"
    echo
    EW_BUILD="$BUILD" /usr/bin/python3 tests/bench/bench_retention.py "$BUILD"
    echo
    echo "## Daemon memory vs the number of runs and the batch shape"
    echo
    EW_BUILD="$BUILD" /usr/bin/python3 tests/bench/bench_memory.py "$BUILD"
    echo
    echo "## Metric kernels, one thread (float path vs PyTorch vs one cblas_ssyrk)"
    echo
    echo "Median ms of each metric alone (a one-metric set, normalisation included)"
    echo "and of the default set (two views), beside PyTorch (tests/bench/torch_ref.py:"
    echo "the upstream formulas, float32, torch.set_num_threads(1)) on the same inputs"
    echo "and one cblas_ssyrk of the same shape (the Gram matrix ER needs: the floor)."
    echo "'mixed diff' is |ours - torch| / max(1, |torch|) on the value. The floor row"
    echo "also shows torch's x @ x.T (twice the flops of ssyrk: ~2x when both windows"
    echo "saw the same machine)."
    echo
    tdir=$(mktemp -d /tmp/ew-bench-metrics-XXXXXX)
    if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
        /usr/bin/python3 tests/bench/torch_ref.py "$tdir" >/dev/null
        echo "PyTorch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)'), $(nproc) cores, 1 thread used."
    else
        echo "PyTorch not installed (\`sh scripts/deps.sh bench\`): torch columns are empty."
    fi
    echo
    "$BUILD/bench/bench_metrics" "$tdir"
    rm -rf "$tdir"
    echo
    # Python client: Monitor.log() per call beside a memcpy of the same bytes.
    /usr/bin/python3 tests/bench/bench_python_client.py
    echo
    # Pooled parts of a distributed job vs the same rows as one batch.
    /usr/bin/python3 tests/bench/bench_pool.py "$BUILD"
} | tee "$out"
