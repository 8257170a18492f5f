#!/usr/bin/env bash
# Measures `tlsrpt web` over the million-report, 10,000-domain store of the
# query benchmarks (built once by scripts/bench-query.sh): the first
# computation of the domains view, then wrk playing open pages (polls of
# /api/v1/status, domains pages sorted and searched, and every request of
# a domain page for random domains) for a while, with the server's RSS
# sampled every 5 s: memory must stay flat while pages poll.
# Usage: scripts/bench-web.sh [seconds] [connections]
set -euo pipefail
secs=${1:-60}
conns=${2:-8}
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "bench-web: needs wrk (apt-get install wrk)" >&2; exit 1; }
db="${TMPDIR:-/tmp}/tlsrpt-bench-1000000.db"
[ -e "$db" ] || { echo "bench-web: no $db: run scripts/bench-query.sh first" >&2; exit 1; }
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/tlsrpt" ./cmd/tlsrpt
addr=127.0.0.1:18093
"$work/tlsrpt" --db "$db" web --listen "$addr" 2>"$work/log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://$addr/api/v1/status" >/dev/null && break; sleep 0.1; done
base="http://$addr/api/v1"
printf 'domains view, first computation: %s s\n' "$(curl -s -o /dev/null -w '%{time_total}' "$base/domains?as_of=2026-11-01")"
printf 'domains view, from memory:       %s s\n' "$(curl -s -o /dev/null -w '%{time_total}' "$base/domains?as_of=2026-11-01&sort=failure_rate")"
cat > "$work/pages.lua" <<'LUA'
local f = "&since=2026-10-03&until=2026-11-01"
local paths = {}
request = function()
  if #paths == 0 then
    local r = math.random(100)
    if r <= 30 then
      paths = {"/api/v1/status"}
    elseif r <= 60 then
      local sorts = {"verdict", "failure_rate", "policy_domain", "failed_sessions"}
      paths = {string.format("/api/v1/domains?as_of=2026-11-01&sort=%s&offset=%d&q=%s",
        sorts[math.random(#sorts)], 50 * math.random(0, 10), math.random(0, 9))}
    else
      local d = string.format("d%05d.example", math.random(0, 9999))
      paths = {
        "/api/v1/summary?by=day&domain=" .. d .. f, "/api/v1/summary?domain=" .. d .. f,
        "/api/v1/readiness?as_of=2026-11-01&domain=" .. d,
        "/api/v1/readiness?window=30&as_of=2026-11-01&domain=" .. d,
        "/api/v1/summary?by=sender&domain=" .. d .. f, "/api/v1/summary?by=sending-ip&domain=" .. d .. f,
        "/api/v1/failures?limit=25&domain=" .. d .. f}
    end
  end
  return wrk.format("GET", table.remove(paths, 1))
end
LUA
# RssAnon is the process's own memory (heap, stacks); RssFile the pages of
# the database file it has mapped (mmap reads), which the kernel shares and
# reclaims: VmRSS is their sum.
rss() { awk '/RssAnon/ {a=$2} /RssFile/ {f=$2} END {printf "%d+%d", a, f}' "/proc/$pid/status"; }
echo "RSS after the first view (anonymous+file KB): $(rss)"
( for _ in $(seq $((secs / 5))); do sleep 5; echo "$(rss)"; done ) > "$work/rss" &
sampler=$!
wrk -t 2 -c "$conns" -d "${secs}s" --latency -s "$work/pages.lua" "http://$addr" | grep -E 'Requests/sec|99%|requests in|Non-2xx'
wait "$sampler"
echo "RSS every 5 s (anonymous+file KB): $(tr '\n' ' ' < "$work/rss")"
