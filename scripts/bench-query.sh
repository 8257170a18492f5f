#!/usr/bin/env bash
# Times the query commands of the built binary over the 1,000,000-report
# store of the query benchmarks (10,000 domains, 30 days ending 2026-11-01),
# output to /dev/null: the whole process, start to exit, as a user sees it.
# The store is built once by the Go benchmark (about 4 minutes) and kept in
# the temporary directory. Figures go in the README.
set -euo pipefail
runs=${1:-3}
cd "$(dirname "$0")/.."
db="${TMPDIR:-/tmp}/tlsrpt-bench-1000000.db"
if [ ! -e "$db" ]; then
  TLSRPT_BENCH_REPORTS=1000000 go test -run - -bench 'BenchmarkSummary$' -benchtime 1x ./query >/dev/null
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/tlsrpt" ./cmd/tlsrpt
while IFS= read -r args; do
  times=()
  for _ in $(seq "$runs"); do
    /usr/bin/time -f '%e %M' -o "$work/t" "$work/tlsrpt" --db "$db" $args >/dev/null
    times+=("$(cat "$work/t")")
  done
  printf '%-44s' "$args"
  printf '  %s s %s KB' ${times[@]}
  printf '\n'
done <<'COMMANDS'
summary
summary --format json
readiness --as-of 2026-11-01
readiness --as-of 2026-11-01 --format json
summary --by day
summary --by day --format json
summary --by result
summary --by sender
summary --by sending-ip --format csv
summary --domain d00042.example
COMMANDS
