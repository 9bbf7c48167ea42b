#!/usr/bin/env bash
# Crash safety: builds tandem and tandem-crashtest, then kills a `tandem
# serve` process (SIGKILL) at random moments while the load tool's flows
# run against it, restarting it on the same SQLite database each time, and
# checks what was acknowledged against what the server says afterwards
# (completed results and their claims, single-use device challenges,
# legal states, expiry of interrupted verifications, webhook delivery).
# Prints a summary; exits 1 when a check failed. Everything runs on
# 127.0.0.1.
# Usage: scripts/crash-safety.sh [-kills N] [-seed S] [other tandem-crashtest flags]
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d -t tandem-crash-safety.XXXXXX)
go build -o "$work/tandem" ./cmd/tandem
go build -o "$work/tandem-crashtest" ./cmd/tandem-crashtest
echo "==> database and server logs in $work"
exec "$work/tandem-crashtest" -tandem "$work/tandem" -dir "$work" "$@"
