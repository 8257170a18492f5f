#!/usr/bin/env bash
# Replays the hostile mix against the built `tlsrpt serve` while a
# legitimate sender posts a report every 50 ms: nested gzip bombs (64 at a
# time), slow bodies at a byte a second (80 connections from two
# addresses), made-up metric labels, chunked 100 MB bodies and terminal
# escapes. Prints the legitimate sender's latency, the server's peak RSS
# and the size of /metrics; fails when a target is missed (every report
# 201, p99 < 1 s, peak RSS < 300 MB, /metrics < 1 MB). The mix itself is
# TestServeHostileMix in cmd/tlsrpt; CI runs it for 6 s.
# Usage: scripts/hostile-mix.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
TLSRPT_HOSTILE_SECONDS=${1:-60} go test -count=1 -run '^TestServeHostileMix$' -v -timeout 20m ./cmd/tlsrpt 2>&1 |
  grep -E 'hostile mix for|^(--- |ok|FAIL)|want'
