#!/usr/bin/env bash
# Rebuilds cmd/tlsrpt/default.pgo, the profile `go build` uses to optimise
# the command (profile-guided optimisation, Go 1.21+): CPU profiles of the
# built binary importing N generated reports (default 100,000) and
# answering summary, readiness and the --by views, merged.
# Rerun after large changes to the hot paths; commit the result.
set -euo pipefail
n=${1:-100000}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -pgo=off -o "$work/tlsrpt" ./cmd/tlsrpt
go run ./cmd/tlsrpt-gen -n "$n" -domains 10000 -out "$work/reports" >/dev/null
db="$work/t.db"
run() {
  local name=$1
  shift
  TLSRPT_CPUPROFILE="$work/$name.prof" "$work/tlsrpt" --db "$db" "$@" >/dev/null
}
run import import -q "$work/reports"
# The queries over the million reports of the query benchmarks, when that
# store is there (scripts/bench-query.sh builds it): there they take time.
big="${TMPDIR:-/tmp}/tlsrpt-bench-1000000.db"
if [ -e "$big" ]; then db=$big; fi
run summary summary
run summary-json summary --format json
run readiness readiness --as-of 2026-11-01 --format json
run by-day summary --by day --format csv
run by-result summary --by result
run by-sender summary --by sender
run by-ip summary --by sending-ip
go tool pprof -proto "$work"/*.prof > cmd/tlsrpt/default.pgo
ls -l cmd/tlsrpt/default.pgo
