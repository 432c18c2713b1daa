#!/usr/bin/env bash
# Profiles one scenario of the load benchmark with perf: where a cached request's time goes.
#
# Usage (from anywhere in the workspace):
#
#   bench/profile.sh [axum|actix] [hot|miss] [static|plain|cached]   # default: axum miss cached
#
# Starts the benchmark server (examples/bench-servers, release build) on 127.0.0.1 pinned to
# core 0, drives it with wrk on core 1 exactly as bench/load.sh does (hot: 100 keys, primed;
# miss: a new key per request), records the server for PROFILE_SECONDS (default 5) with
# `perf record --call-graph dwarf` once the load has run for a few seconds, stops everything,
# and prints the inclusive share (children) of the frames that matter: cachefront, moka, the
# allocator, the socket writes and the kernel waking wrk. The recording stays in
# $PROFILE_OUT (default a temporary directory) for `perf report -i`.
#
# perf is installed with apt-get (linux-perf) when missing; it needs
# /proc/sys/kernel/perf_event_paranoid <= 1 or root.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FRAMEWORK=${1:-axum}
SCENARIO=${2:-miss}
VARIANT=${3:-cached}
SECONDS_TO_RECORD=${PROFILE_SECONDS:-5}
PORT=${BENCH_PORT:-18099}
OUT=${PROFILE_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/cachefront-profile.XXXXXX")}

case "$FRAMEWORK" in axum | actix) ;; *) echo "framework must be axum or actix" >&2; exit 2 ;; esac
case "$SCENARIO" in hot | miss) ;; *) echo "scenario must be hot or miss" >&2; exit 2 ;; esac
case "$VARIANT" in static | plain | cached) ;; *) echo "variant must be static, plain or cached" >&2; exit 2 ;; esac

for tool in perf wrk; do
    if ! command -v "$tool" >/dev/null; then
        package=$tool
        [[ $tool == perf ]] && package=linux-perf
        apt-get update -qq && apt-get install -y -qq "$package" >/dev/null
    fi
done

cargo build --release -q -p example-bench-servers --manifest-path "$ROOT/Cargo.toml"
BIN="$ROOT/target/release/bench-$FRAMEWORK"
# Pinned to a core when taskset and two cores exist (a simple command, so that `$!` is the
# server itself: taskset execs it).
PIN_SERVER=() PIN_WRK=()
if command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then
    PIN_SERVER=(taskset -c 0) PIN_WRK=(taskset -c 1)
fi

BENCH_HOT_ITERATIONS=${BENCH_HOT_ITERATIONS:-700000} "${PIN_SERVER[@]}" "$BIN" "127.0.0.1:$PORT" >"$OUT/server.log" 2>&1 &
LAUNCHER=$!
trap 'kill "$LAUNCHER" ${SERVER:+"$SERVER"} 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$PORT/calls" && break
    sleep 0.1
done
# The server itself, for perf: `$!` may be a subshell around it.
SERVER=$(pgrep -n -f -- "bench-$FRAMEWORK 127.0.0.1:$PORT\$") || { echo "the server did not start" >&2; exit 1; }

if [[ $SCENARIO == hot ]]; then
    # Prime the 100 keys, so that the profile is of hits.
    for id in $(seq 0 99); do curl -s -o /dev/null "http://127.0.0.1:$PORT/$VARIANT/hot/$id"; done
    args=("/$VARIANT/hot/" keys 100)
else
    args=("/$VARIANT/miss/" unique profile)
fi
duration=$((SECONDS_TO_RECORD + 6))
# wrk ends by itself (and `timeout` bounds it).
"${PIN_WRK[@]}" timeout $((duration + 10)) wrk -t1 -c64 -d"${duration}s" -s "$ROOT/bench/wrk.lua" \
    "http://127.0.0.1:$PORT" -- "${args[@]}" >"$OUT/wrk.txt" 2>&1 &
WRK=$!
sleep 3
perf record -F 1500 --call-graph dwarf,16384 -p "$SERVER" -o "$OUT/perf.data" -- sleep "$SECONDS_TO_RECORD" \
    >"$OUT/perf.log" 2>&1 || { echo "perf record failed:" >&2; cat "$OUT/perf.log" >&2; exit 1; }
wait "$WRK" 2>/dev/null || true
grep RESULT "$OUT/wrk.txt" || true

echo "inclusive share of the server's CPU ($FRAMEWORK $SCENARIO $VARIANT), perf data in $OUT/perf.data:"
perf report -i "$OUT/perf.data" --children --sort symbol --stdio -g none 2>/dev/null |
    grep -E '^ +[0-9]' |
    sed -E 's/ {20,}.*//' |
    grep -E '\[\.\] .*(cachefront|moka|malloc|free|sha2|crossbeam|writev)|sock_def_readable|try_to_wake_up' |
    head -40
