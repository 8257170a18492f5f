#!/usr/bin/env bash
# The fences around the hand-written parts (docs/PERFORMANCE.md says why
# they exist), run by CI after the test suite:
# - internal/capi calls the C API of modernc.org/sqlite/lib through
#   modernc.org/libc: the libc in go.mod must be the very version
#   modernc.org/sqlite requires, the store, the server and the dashboard
#   (its views computed beside the requests) are tested under the race
#   detector, and everything builds for a 32-bit target
#   (pointers read at the platform's size).
# - internal/inflate and the JSON reading in parse are fuzzed against the
#   standard library for a fixed short time each.
# Usage: scripts/fences.sh [fuzz seconds per target, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
sqlite=$(go list -m -f '{{.Version}}' modernc.org/sqlite)
want=$(go mod graph | awk -v s="modernc.org/sqlite@$sqlite" '$1 == s && $2 ~ /^modernc.org\/libc@/ {sub(/.*@/, "", $2); print $2}')
have=$(go list -m -f '{{.Version}}' modernc.org/libc)
if [ "$want" != "$have" ]; then
  echo "fences: go.mod has modernc.org/libc $have, but modernc.org/sqlite $sqlite requires $want: internal/capi needs them in lockstep" >&2
  exit 1
fi
echo "fences: modernc.org/libc $have is the one modernc.org/sqlite $sqlite requires"
GOARCH=386 CGO_ENABLED=0 go build ./...
GOARCH=386 go vet ./store/...
echo "fences: builds for 386"
go test -count=1 -race ./store/... ./ingest/... ./web/...
for target in FuzzGunzip FuzzRoundTrip FuzzInflate; do
  go test -run - -fuzz "^$target\$" -fuzztime "${secs}s" ./internal/inflate
done
for target in FuzzDecodeReport FuzzMessage FuzzJSONSyntax FuzzDecodeOracle; do
  go test -run - -fuzz "^$target\$" -fuzztime "${secs}s" ./parse
done
