#!/usr/bin/env bash
# The whole test suite: what the README tells you to run, and what CI runs.
# Real reports from ../shared/corpus are used when that folder exists.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -count=1 ./... "$@"
