#!/usr/bin/env bash
# Measures `tlsrpt serve` while another process holds the database locked
# (sqlite3 keeps a write transaction open): wrk posts distinct reports for
# the whole lock, every one must be answered 2xx (202: kept in the spool),
# then the lock is released and the time until the spool has stored them
# all is measured, and the stored reports counted.
# Usage: scripts/bench-serve-locked.sh [seconds] [connections]
set -euo pipefail
secs=${1:-10}
conns=${2:-32}
cd "$(dirname "$0")/.."
for tool in wrk sqlite3 curl; do
  command -v $tool >/dev/null || { echo "bench-serve-locked: needs $tool (apt-get install $tool)" >&2; exit 1; }
done
work=$(mktemp -d)
pid=
lockpid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; [ -n "$lockpid" ] && kill "$lockpid" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/tlsrpt" ./cmd/tlsrpt
cp scripts/lib/post.lua "$work/post.lua"
port=$((20000 + RANDOM % 20000))
"$work/tlsrpt" --db "$work/t.db" import -q testdata/quirks/contact-info-null.json
# The lock: a write transaction held open for the load and a second more.
(echo "BEGIN IMMEDIATE;"; sleep $((secs + 1)); echo "ROLLBACK;") | sqlite3 "$work/t.db" &
lockpid=$!
sleep 0.5
"$work/tlsrpt" --db "$work/t.db" serve --insecure-http --listen 127.0.0.1:$port --rate 1000000 --burst 1000000 \
  --max-concurrent 256 2>/dev/null &
pid=$!
for _ in $(seq 100); do curl -s "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
RUN=locked-$RANDOM wrk -t2 -c"$conns" -d"${secs}s" --timeout 10s --latency -s "$work/post.lua" "http://127.0.0.1:$port/tlsrpt" > "$work/wrk.txt"
rate=$(awk '/^Requests\/sec/ {print $2}' "$work/wrk.txt")
p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
maxlat=$(awk '$1 == "Latency" {print $4}' "$work/wrk.txt")
total=$(awk '/requests in/ {print $1}' "$work/wrk.txt")
non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt")
echo "under the lock: $total posts, ${rate} requests/s, p99 ${p99}, max ${maxlat}, non-2xx ${non2xx:-0}"
wait "$lockpid"; lockpid=
start=$(date +%s.%N)
until curl -s "http://127.0.0.1:$port/metrics" | grep -q '^tlsrpt_spool_inputs 0$'; do sleep 0.05; done
end=$(date +%s.%N)
echo "after the lock: the spool stored everything in $(echo "$end - $start" | bc -l | cut -c1-5) s"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
stored=$("$work/tlsrpt" --db "$work/t.db" reports --limit 0 --format csv | tail -n +2 | grep -c '^[0-9]*,Bench,')
echo "stored: $stored reports of $total posts"
