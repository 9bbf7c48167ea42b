#!/usr/bin/env bash
# Measures two goals of BENCHMARKS.md on the built binary:
#   - time to ready: from the exec of `tandem serve` to the first 200 of
#     GET /readyz (polled every 2 ms), on a fresh database (migrations run)
#     and on an existing one;
#   - idle RSS: VmRSS (and VmHWM) of the process after it has been idle.
# Usage: scripts/measure-serve.sh [RUNS] [IDLE_SECONDS]
set -euo pipefail

runs=${1:-5}
idle=${2:-10}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -trimpath -o "$work/tandem" ./cmd/tandem

now_ns() { date +%s%N; }

# start DB: runs the server on DB until /readyz answers 200; leaves the
# milliseconds it took in $ready_ms, the pid in $pid and the URL in $url.
start() {
	local db=$1 out="$work/out.$RANDOM" t0 t1 port=""
	t0=$(now_ns)
	"$work/tandem" serve -addr 127.0.0.1:0 -db "sqlite:$db" -secret-key "measure-serve-secret-key-0123456789" \
		-log-level warn >"$out" 2>"$out.err" &
	pid=$!
	while :; do
		if [[ -z $port ]]; then
			port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$out" | head -1)
		fi
		if [[ -n $port ]] && [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz") == 200 ]]; then
			break
		fi
		kill -0 "$pid" 2>/dev/null || { cat "$out.err" >&2; exit 1; }
		sleep 0.002
	done
	t1=$(now_ns)
	url="http://127.0.0.1:$port"
	ready_ms=$(((t1 - t0) / 1000000))
}

stop() { kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; }

echo "# $(go version), $(nproc) CPUs, $(date -u +%Y-%m-%dT%H:%M:%SZ), load $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$runs"); do
	db="$work/t$i.db"
	start "$db"
	fresh=$ready_ms
	stop
	start "$db"
	again=$ready_ms
	sleep "$idle"
	curl -s -o /dev/null "$url/healthz"
	rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
	hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
	stop
	echo "run $i: ready_fresh_ms=$fresh ready_existing_ms=$again idle_rss_kib=$rss peak_rss_kib=$hwm"
done
