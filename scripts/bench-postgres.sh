#!/usr/bin/env bash
# Measures tlsrpt on PostgreSQL: a server of Debian's postgresql package
# started here (as the postgres user, on loopback, fsync on, shared_buffers
# 512MB), then `tlsrpt import` of N generated reports (default 100,000;
# 1,000,000 for the query figures), summary and readiness over them, and
# serve under wrk with one and with two processes on the database.
# Needs root, postgresql and wrk. Usage: scripts/bench-postgres.sh [N];
# KEEP=1 leaves the server running with the database, for more queries.
set -euo pipefail
n=${1:-100000}
cd "$(dirname "$0")/.."
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
work=$(mktemp -d)
chmod 755 "$work"
pgdir="$work/pg"
mkdir "$pgdir" && chown postgres: "$pgdir"
port=${PORT:-55432}
url="postgres://postgres@127.0.0.1:$port/tlsrpt?sslmode=disable"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "${KEEP:-}" ]; then echo "kept: $url (pg_ctl -D $pgdir/data stop)"; rm -rf "$work/reports"; return; fi
  runuser -u postgres -- "$bin/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
runuser -u postgres -- "$bin/initdb" -D "$pgdir/data" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
runuser -u postgres -- "$bin/pg_ctl" -D "$pgdir/data" -l "$pgdir/log" -w start \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $pgdir -c shared_buffers=512MB -c max_wal_size=4GB -c max_connections=200" >/dev/null
runuser -u postgres -- "$bin/createdb" -h 127.0.0.1 -p $port -U postgres tlsrpt
url="postgres://postgres@127.0.0.1:$port/tlsrpt?sslmode=disable"
go build -o "$work/tlsrpt" ./cmd/tlsrpt
go run ./cmd/tlsrpt-gen -n "$n" -domains 10000 -out "$work/reports"
sync
start=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$work/rss" "$work/tlsrpt" --db "$url" import -q "$work/reports"
end=$(date +%s.%N)
printf 'import of %d files: %.2f s, %.0f reports/s, peak RSS %d MB\n' "$n" "$(echo "$end - $start" | bc -l)" \
  "$(echo "$n / ($end - $start)" | bc -l)" "$(( $(cat "$work/rss") / 1024 ))"
printf 'database size: %s\n' "$(psql_size=$(runuser -u postgres -- "$bin/../bin/psql" -h 127.0.0.1 -p $port -U postgres -tAc "SELECT pg_size_pretty(pg_database_size('tlsrpt'))" tlsrpt 2>/dev/null || echo '?'); echo "$psql_size")"
for args in "summary" "readiness --as-of 2026-11-01" "summary --by day --format json"; do
  for _ in 1 2 3; do
    /usr/bin/time -f "%e s %M KB  $args" "$work/tlsrpt" --db "$url" $args >/dev/null
  done
done
# serve on the database: one process with 32 connections, then two
# processes with 16 each at once (HTTPS, keep-alive, distinct reports).
command -v wrk >/dev/null || { echo "bench-postgres: no wrk, serve not measured" >&2; exit 0; }
secs=${SECS:-10}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/key.pem" \
  -out "$work/cert.pem" -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
cp scripts/lib/post.lua "$work/post.lua"
serve() { # $1: port
  "$work/tlsrpt" --db "$url" serve --listen 127.0.0.1:"$1" --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" \
    --spool "$work/spool-$1" --rate 1000000 --burst 1000000 --max-concurrent 256 2>/dev/null &
  pids+=($!)
  for _ in $(seq 100); do curl -sk "https://127.0.0.1:$1/healthz" >/dev/null && break; sleep 0.1; done
}
report() { # $1: label, $2: wrk output
  echo "$1: $(awk '/^Requests\/sec/ {print $2}' "$2") requests/s, p99 $(awk '$1 == "99%" {print $2}' "$2"), non-2xx $(awk '/Non-2xx/ {print $NF}' "$2")"
}
stored() { runuser -u postgres -- "$bin/psql" -h 127.0.0.1 -p $port -U postgres -tAc "SELECT count(*) FROM inputs WHERE source = 'https' AND outcome = 'stored'" tlsrpt; }
p1=$((20000 + RANDOM % 20000)); p2=$((p1 + 1))
serve $p1
before=$(stored)
RUN=one-$RANDOM wrk -t2 -c32 -d"${secs}s" --latency -s "$work/post.lua" https://127.0.0.1:$p1/tlsrpt > "$work/one.txt"
report "serve, one process" "$work/one.txt"
sleep 3 # what the spool holds is stored
echo "  stored: $(( $(stored) - before )) reports, $(( ($(stored) - before) / secs ))/s"
serve $p2
before=$(stored)
RUN=twoa-$RANDOM wrk -t1 -c16 -d"${secs}s" --latency -s "$work/post.lua" https://127.0.0.1:$p1/tlsrpt > "$work/twoa.txt" &
wa=$!
RUN=twob-$RANDOM wrk -t1 -c16 -d"${secs}s" --latency -s "$work/post.lua" https://127.0.0.1:$p2/tlsrpt > "$work/twob.txt"
wait "$wa"
report "serve, two processes: first" "$work/twoa.txt"
report "serve, two processes: second" "$work/twob.txt"
sleep 3
echo "  stored: $(( $(stored) - before )) reports, $(( ($(stored) - before) / secs ))/s"
