#!/usr/bin/env bash
# The whole test suite: what the README tells you to run, and what CI runs.
# Real reports from ../shared/corpus are used when that folder exists; the
# IMAP tests also run against Dovecot when it is installed
# (apt-get install dovecot-imapd; .ci/run installs it) and skip otherwise;
# the dashboard's browser tests need Debian's chromium (same) and skip
# without it.
set -euo pipefail
cd "$(dirname "$0")/.."
go test -count=1 ./... "$@"
