#!/usr/bin/env bash
# Measures `tlsrpt import` of N generated .json.gz files (default 100,000):
# reports per second and peak memory (RSS). Figures go in the README.
set -euo pipefail
n=${1:-100000}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/tlsrpt" ./cmd/tlsrpt
go run ./cmd/tlsrpt-gen -n "$n" -domains 10000 -out "$work/reports"
sync
start=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$work/rss" "$work/tlsrpt" --db "$work/t.db" import -q "$work/reports"
end=$(date +%s.%N)
secs=$(echo "$end - $start" | bc -l)
printf 'imported %d files in %.2f s: %.0f reports/s, peak RSS %d MB\n' \
  "$n" "$secs" "$(echo "$n / $secs" | bc -l)" "$(( $(cat "$work/rss") / 1024 ))"
