#!/usr/bin/env bash
# Runs Tandem's whole test suite: installs what the tests need when it is
# missing (Debian's chromium for the browser tests), then go vet and
# go test -race on every package. Extra arguments go to go test.
set -euo pipefail
cd "$(dirname "$0")/.."

need_chromium() { ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; }

if need_chromium; then
	if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
		echo "==> installing chromium (Debian package) for the browser tests"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq --no-install-recommends chromium >/dev/null
	else
		echo "==> chromium is missing: install Debian's chromium package (sudo apt-get install chromium);"
		echo "    the browser tests fail under CI=true and are skipped otherwise"
	fi
fi

echo "==> go vet ./..."
go vet ./...
echo "==> go test -race ./..."
go test -race -count=1 -timeout 30m "$@" ./...
