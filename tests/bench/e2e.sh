#!/bin/sh
# e2e.sh BUILD SHAPE VIEWS SECONDS [QUEUE_MB]: end-to-end daemon throughput.
# Starts erwatchd (2 workers, default metric set, temp DB, ephemeral ports,
# work queue bounded at QUEUE_MB, default 256), runs the load generator for
# SECONDS, then waits until everything accepted is stored and reports
# batches stored per second (first push to last commit) and the daemon's
# peak resident memory (VmHWM) against the queue bound. The load generator
# pushes faster than the workers compute, so the queue runs full: a burst
# larger than the queue. With EW_E2E_DB=FILE the daemon starts on a copy of
# FILE (ingest vs database size) and the load waits until it has built the
# summaries the file lacks. With EW_E2E_PG=URI the daemon stores into that
# PostgreSQL database instead (tests/bench/bench_pg_ingest.py starts one).
set -eu
BUILD=$1; N=${2%x*}; D=${2#*x}; VIEWS=$3; SECS=$4; QMB=${5:-256}
tmp=$(mktemp -d /tmp/ew-bench-XXXXXX)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT
[ -n "${EW_E2E_DB:-}" ] && cp "$EW_E2E_DB" "$tmp/b.db"
db="$tmp/b.db"; store=sqlite
[ -n "${EW_E2E_PG:-}" ] && { db=$EW_E2E_PG; store=postgresql; }
"$BUILD/erwatchd" --db "$db" --zmq 'tcp://127.0.0.1:*' --http 127.0.0.1:0 \
    --workers 2 --max-queue-mb "$QMB" --ready-file "$tmp/ready" --log-level warn \
    2>"$tmp/log" &
pid=$!
i=0; while [ ! -s "$tmp/ready" ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done  # a large file: quick_check reads it all
zmq=$(sed -n 1p "$tmp/ready"); http=$(sed -n 2p "$tmp/ready")
if [ -n "${EW_E2E_DB:-}" ]; then
    /usr/bin/python3 -c "
import sqlite3, time
con = sqlite3.connect('file:$tmp/b.db?mode=ro', uri=True)
for _ in range(6000):
    if con.execute('SELECT count(*) FROM series WHERE summarized = 0').fetchone()[0] == 0:
        break
    time.sleep(0.1)
"
fi
t0=$(date +%s.%N)
out=$("$BUILD/bench/loadgen" "$zmq" "$N" "$D" "$VIEWS" "$SECS" "${EW_E2E_RUN:-bench}")
sent=$(echo "$out" | sed 's/.*sent=\([0-9]*\).*/\1/')
# Wait (bounded) until the daemon has stored what it accepted.
i=0
while :; do
    h=$(curl -s "$http/api/health")
    acc=$(echo "$h" | /usr/bin/python3 -c 'import json,sys; h=json.load(sys.stdin); print(h["batches"]["accepted"], h["batches"]["stored"], h["points_written"])')
    accepted=${acc%% *}; rest=${acc#* }; stored=${rest% *}; points=${rest#* }
    [ "$accepted" -ge "$sent" ] && [ "$stored" -ge "$accepted" ] && break
    i=$((i+1)); [ $i -gt 600 ] && { echo "timeout waiting for the daemon"; exit 1; }
    sleep 0.05
done
t1=$(date +%s.%N)
rss=$(awk '/VmHWM/ {print $2}' /proc/$pid/status)
/usr/bin/python3 -c "
import sys; n=$stored; p=$points; dt=$t1-$t0
print('e2e %sx%s views=%s queue=%s MiB%s: %d batches stored in %.2f s = %.0f batches/s (%.0f points/s); peak RSS %d MiB (%d MiB over the queue bound) [client: $out]' % ('$N','$D','$VIEWS','$QMB', '' if '$store' == 'sqlite' else ' store=$store', n, dt, n/dt, p/dt, $rss//1024, $rss//1024 - $QMB))"
