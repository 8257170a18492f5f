#!/usr/bin/env bash
# Measures `tlsrpt serve` under load: wrk posts distinct reports over HTTPS
# with keep-alive, then the same against the server with its store switched
# off (--discard-reports), and prints both rates, p99 latency and their
# ratio. wrk and the server share this machine's cores.
# Usage: scripts/bench-serve.sh [seconds] [connections]
set -euo pipefail
secs=${1:-10}
conns=${2:-32}
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench-serve: needs wrk (apt-get install wrk)" >&2; exit 1; }
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/tlsrpt" ./cmd/tlsrpt
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" \
  -out "$work/cert.pem" -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
cp scripts/lib/post.lua "$work/post.lua"
run() { # $1: label, rest: extra serve flags
  local label=$1; shift
  local port=$((20000 + RANDOM % 20000))
  rm -rf "$work/t.db"*
  "$work/tlsrpt" --db "$work/t.db" serve --listen 127.0.0.1:$port --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
    --rate 1000000 --burst 1000000 --max-concurrent 256 "$@" 2>/dev/null &
  pid=$!
  for _ in $(seq 100); do curl -sk "https://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
  RUN=$label-$RANDOM wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$work/post.lua" "https://127.0.0.1:$port/tlsrpt" > "$work/$label.txt"
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
  rate=$(awk '/^Requests\/sec/ {print $2}' "$work/$label.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/$label.txt")
  non2xx=$(awk '/Non-2xx/ {print $NF}' "$work/$label.txt")
  echo "$label: ${rate} requests/s, p99 ${p99}, non-2xx ${non2xx:-0}"
  eval "${label}_rate=$rate"
}
run stored
stored_reports=$("$work/tlsrpt" --db "$work/t.db" summary --format csv | awk -F, '$1 == "domain" {s += $5} END {print s}')
echo "stored: $stored_reports reports in the database"
run discard --discard-reports
echo "ratio stored/discard: $(echo "$stored_rate / $discard_rate" | bc -l | cut -c1-5)"
