#!/usr/bin/env bash
# The caching reverse proxy against the same proxy without its cache, measured in one run.
#
#   bench/proxy.sh           # 10 s per measurement
#   QUICK=1 bench/proxy.sh   # 3 s per measurement
#
# Origin: bench-axum's /origin/{id} (a small body, `Cache-Control: public, max-age=3600`), on
# 127.0.0.1:4100. Proxies: example-reverse-proxy with its cache (127.0.0.1:4101) and with
# CACHEFRONT_CACHE=off (127.0.0.1:4102). wrk: 1 thread, 32 connections, 100 paths, pinned to the
# other core than the proxy when taskset exists. Everything listens on 127.0.0.1 and is killed
# when the script exits.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=10
[ "${QUICK:-0}" = 1 ] && duration=3
command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }; }
cargo build --release -q -p example-bench-servers -p example-reverse-proxy
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
pin() { if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then exec taskset -c "$1" "${@:2}"; else exec "${@:2}"; fi; }
BENCH_LISTEN=127.0.0.1:4100 pin 1 ./target/release/bench-axum 127.0.0.1:4100 >/dev/null 2>&1 &
pids+=($!)
CACHEFRONT_ORIGIN=http://127.0.0.1:4100 CACHEFRONT_LISTEN=127.0.0.1:4101 RUST_LOG=warn pin 0 ./target/release/example-reverse-proxy >/dev/null 2>&1 &
pids+=($!)
CACHEFRONT_ORIGIN=http://127.0.0.1:4100 CACHEFRONT_LISTEN=127.0.0.1:4102 CACHEFRONT_CACHE=off RUST_LOG=warn pin 0 ./target/release/example-reverse-proxy >/dev/null 2>&1 &
pids+=($!)
for port in 4100 4101 4102; do
    for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/origin/0" && break; sleep 0.1; done
done
lua=$(mktemp)
cat > "$lua" <<'LUA'
counter = 0
request = function()
    counter = counter + 1
    return wrk.format("GET", "/origin/" .. (counter % 100))
end
LUA
measure() {
    pin 1 timeout $((duration + 10)) wrk -t1 -c32 -d"${duration}s" --latency -s "$lua" "http://127.0.0.1:$1" 2>/dev/null \
        | awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {print rps, p50, p99}'
}
# Warm the cache: every path once.
for i in $(seq 0 99); do curl -sf -o /dev/null "http://127.0.0.1:4101/origin/$i"; done
read -r cached_rps cached_p50 cached_p99 < <(measure 4101)
read -r plain_rps plain_p50 plain_p99 < <(measure 4102)
rm -f "$lua"
ratio=$(awk -v a="$cached_rps" -v b="$plain_rps" 'BEGIN {printf "%.2f", a / b}')
echo "reverse proxy, ${duration}s per run, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "  with cache (hits):   ${cached_rps} req/s  p50 ${cached_p50}  p99 ${cached_p99}"
echo "  without cache:       ${plain_rps} req/s  p50 ${plain_p50}  p99 ${plain_p99}"
echo "proxy_hit_rps=${cached_rps} proxy_uncached_rps=${plain_rps} proxy_hit_vs_uncached=${ratio}"
