#!/usr/bin/env bash
# Load benchmark of cachefront: wrk on loopback against axum and actix-web servers.
#
# Usage (from anywhere in the workspace):
#
#   bench/load.sh            # full run, about 5 minutes
#   QUICK=1 bench/load.sh    # short run, under 2 minutes once built
#
# Each scenario is measured against its baselines in the same run, for both frameworks:
#
#   static     a handler returning precomputed bytes: the fastest a hit could ever be
#   plain      the scenario's real handler, no cache
#   cachefront the same handler behind the cache (64 MiB memory store)
#
# and, with BENCH_PEERS, for axum only, the same handler behind peer caches (bench/peers, a
# crate outside the workspace, built with `cargo build --release --manifest-path
# bench/peers/Cargo.toml`; each peer set up for an hour's TTL and bounded where it can be):
#
#   arc        axum-response-cache (cached::LruTtlCache, 65,536 entries)
#   hct        http-cache-tower-server with http-cache's moka manager (64 MiB by bytes)
#   hitbox     hitbox-tower with hitbox-moka (64 MiB by bytes, bincode) and its dogpile protection
#
#   hot    100 keys, a ~1 ms CPU handler (cachefront serves hits)
#   miss   a new key on every request (bench/wrk.lua generates the path), a cheap handler
#   burst  1,000 concurrent connections on one cold key, a 100 ms handler: handler calls counted
#   large  1 MiB responses, 16 keys
#
# Every measurement gets a fresh server (examples/bench-servers, built with
# `cargo build --release`), so handler counts and peak RSS (VmHWM) belong to that measurement
# alone. The server is pinned to one core and wrk to another with taskset when there are two;
# both listen/connect on 127.0.0.1 only; every wrk run is bounded with `timeout`, and every
# server is killed when the script exits. wrk is installed with apt-get when missing.
#
# Output: a table (req/s, p50, p99, handler calls, server CPU µs per request, server CPU use,
# peak RSS), the ratios per scenario, the targets, and as its last line one summary of
# key=value pairs:
#
#   axum_hit_vs_static  actix_hit_vs_static   hot: cachefront req/s / static req/s
#   axum_miss_vs_plain  actix_miss_vs_plain   miss: cachefront req/s / plain req/s
#   miss_us_added       server CPU µs per request, cachefront minus plain (worse framework)
#   miss_p99_vs_plain   miss: cachefront p99 / plain p99 (worse framework)
#   burst_handler_calls burst: handler calls behind cachefront (worse framework)
#   rss_mb              peak RSS (VmHWM, MiB) of the cachefront miss-storm server (worse
#                       framework); the full run's miss storm lasts 30 s
#
# With BENCH_PEERS, the ratios also compare each peer (axum), the targets add the check
# "cachefront hit >= every peer's hit", and one more line just before the summary gives, per
# peer NAME, NAME_hit_vs_static NAME_miss_vs_plain NAME_miss_us_added NAME_burst_handler_calls
# NAME_rss_mb (same definitions as above, against the same static and plain baselines):
#
#   peers: arc_hit_vs_static=… arc_miss_vs_plain=… … hitbox_rss_mb=…
#
# "cpu µs/req" is the server's CPU time (/proc/PID/stat) over the requests wrk completed: the
# cost of a request even when the machine is busy or wrk is the bottleneck. "cpu" is how much
# of its core the server used; below ~90% the req/s ratios measure wrk or the neighbours, and
# the CPU-implied ratios printed beside them are the better guide.
#
# Environment: QUICK=1; BENCH_PORT (default 18080); BENCH_SERVER_CPU / BENCH_WRK_CPU (default
# 0 / 1); BENCH_FRAMEWORKS (default "axum actix"); BENCH_SCENARIOS (default "hot miss burst
# large"; a subset leaves the others' summary values at nan); BENCH_OUT (directory for the raw wrk and
# server logs, default a temporary one); BENCH_HOT_ITERATIONS (the hot handler's work, default
# calibrated to ~1 ms); BENCH_PEERS (peer caches to measure beside cachefront with axum, a subset
# of "arc hct hitbox"; default empty: no peers, the crate is not built, the output is unchanged).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LUA="$ROOT/bench/wrk.lua"
QUICK=${QUICK:-0}
PORT=${BENCH_PORT:-18080}
ADDR="127.0.0.1:$PORT"
FRAMEWORKS=${BENCH_FRAMEWORKS:-"axum actix"}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
WRK_CPU=${BENCH_WRK_CPU:-1}
OUT=${BENCH_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/cachefront-load.XXXXXX")}
mkdir -p "$OUT"

if [[ "$QUICK" == 1 ]]; then
    DURATION=2 WARMUP=1 MISS_CACHED_DURATION=2 BURST_DURATION=2
else
    DURATION=10 WARMUP=2 MISS_CACHED_DURATION=30 BURST_DURATION=5
fi

SCENARIOS=${BENCH_SCENARIOS:-"hot miss burst large"}
VARIANTS="static plain cached"
PEERS=${BENCH_PEERS:-}
KNOWN_PEERS="arc hct hitbox"
declare -A CONNECTIONS=([hot]=64 [miss]=64 [burst]=1000 [large]=16)
declare -A KEYS=([hot]=100 [large]=16)

log() { printf '%s\n' "$*" >&2; }
die() { log "load.sh: $*"; exit 1; }

# --- servers: started by us, killed by us -------------------------------------------------

SERVER_PID=""

stop_server() {
    local pid=$SERVER_PID
    SERVER_PID=""
    [[ -n "$pid" ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 30); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# --- tools ---------------------------------------------------------------------------------

if ! command -v wrk >/dev/null; then
    command -v apt-get >/dev/null || die "wrk is missing and apt-get is not available: install wrk"
    SUDO=""
    [[ $(id -u) == 0 ]] || SUDO="sudo"
    log "installing wrk with apt-get"
    $SUDO apt-get install -y wrk >&2 || { $SUDO apt-get update >&2 && $SUDO apt-get install -y wrk >&2; }
fi
command -v curl >/dev/null || die "curl is needed to talk to the servers"

# Command prefixes that pin the server and wrk to their cores, when that is possible.
PIN=0 ON_SERVER_CPU=() ON_WRK_CPU=()
if command -v taskset >/dev/null && [[ $(nproc) -ge 2 ]]; then
    PIN=1 ON_SERVER_CPU=(taskset -c "$SERVER_CPU") ON_WRK_CPU=(taskset -c "$WRK_CPU")
fi

# wrk opens 1,000 connections for the burst; the server accepts them.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
[[ $(ulimit -n) -ge 2100 ]] || die "open files limit $(ulimit -n) is below the 2,100 the burst needs"

log "building the bench servers (cargo build --release -p example-bench-servers)"
(cd "$ROOT" && cargo build --release -p example-bench-servers >&2)
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
[[ -x "$BIN/bench-axum" && -x "$BIN/bench-actix" ]] || die "bench servers not found in $BIN"

# The peers: known names only, measured with axum only, from their own crate outside the workspace.
for peer in $PEERS; do
    [[ " $KNOWN_PEERS " == *" $peer "* ]] || die "BENCH_PEERS: unknown peer $peer (known: $KNOWN_PEERS)"
done
if [[ -n "$PEERS" && " $FRAMEWORKS " != *" axum "* ]]; then
    log "load.sh: BENCH_PEERS are measured with axum only, and BENCH_FRAMEWORKS has no axum: no peers"
    PEERS=""
fi
PEERS_BIN=""
if [[ -n "$PEERS" ]]; then
    log "building the peers (cargo build --release --manifest-path bench/peers/Cargo.toml)"
    (cd "$ROOT" && cargo build --release --manifest-path bench/peers/Cargo.toml >&2)
    PEERS_BIN="${CARGO_TARGET_DIR:-$ROOT/bench/peers/target}/release/bench-peers"
    [[ -x "$PEERS_BIN" ]] || die "bench-peers not found at $PEERS_BIN"
fi
is_peer() { [[ -n "$PEERS" && " $PEERS " == *" $1 "* ]]; }

if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "something already listens on $ADDR: set BENCH_PORT"
fi

if [[ -z "${BENCH_HOT_ITERATIONS:-}" ]]; then
    BENCH_HOT_ITERATIONS=$(timeout 30 "${ON_SERVER_CPU[@]}" "$BIN/bench-axum" --calibrate)
fi
export BENCH_HOT_ITERATIONS
CLK_TCK=$(getconf CLK_TCK)

start_server() { # binary logfile
    local binary=$1 logfile=$2
    "${ON_SERVER_CPU[@]}" "$binary" "$ADDR" >"$logfile" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 200); do
        if curl -sf --max-time 1 "http://$ADDR/calls" >/dev/null 2>&1; then return 0; fi
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$logfile" >&2; die "${binary##*/} exited"; }
        sleep 0.05
    done
    die "${binary##*/} did not answer on $ADDR within 10 s"
}

handler_calls() { # scenario
    curl -sf --max-time 5 "http://$ADDR/calls" | awk -F= -v s="$1" '$1 == s { print $2 }'
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }
peak_rss_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$SERVER_PID/status"; }

# wrk for $2 seconds with $1 connections, output to $3, the rest are wrk.lua arguments.
run_wrk() {
    local connections=$1 seconds=$2 output=$3
    shift 3
    timeout --kill-after=5 $((seconds + 30)) \
        "${ON_WRK_CPU[@]}" wrk -t1 -c"$connections" -d"${seconds}s" --timeout 10s --latency \
        -s "$LUA" "http://$ADDR" -- "$@" >"$output" 2>&1 \
        || { cat "$output" >&2; die "wrk failed (see $output)"; }
    grep -q '^RESULT ' "$output" || die "no RESULT line from wrk in $output"
}

# wrk.lua arguments for a scenario's route; $3 makes the miss storm's keys unique to a run.
wrk_args() { # variant scenario salt
    local prefix="/$1/$2/"
    case $2 in
        miss) echo "$prefix unique $3" ;;
        burst) echo "/$1/$2/cold-$3- keys 1" ;;
        *) echo "$prefix keys ${KEYS[$2]}" ;;
    esac
}

declare -A R # R[framework.scenario.variant.metric]

measure() { # framework scenario variant
    local framework=$1 scenario=$2 variant=$3
    local id="$framework.$scenario.$variant"
    local seconds=$DURATION connections=${CONNECTIONS[$scenario]}
    [[ "$scenario" == burst ]] && seconds=$BURST_DURATION
    # A peer's miss storm lasts as long as cachefront's, so that their peak RSS compare.
    if [[ "$scenario" == miss ]] && { [[ "$variant" == cached ]] || is_peer "$variant"; }; then
        seconds=$MISS_CACHED_DURATION
    fi
    local binary="$BIN/bench-$framework"
    is_peer "$variant" && binary=$PEERS_BIN
    start_server "$binary" "$OUT/$id.server.log"
    # The burst must find its key cold; the others warm the server (and the cache) first.
    if [[ "$scenario" != burst ]]; then
        # shellcheck disable=SC2046
        run_wrk "$connections" "$WARMUP" "$OUT/$id.warmup.txt" $(wrk_args "$variant" "$scenario" warm)
    fi
    local calls_before cpu_before
    calls_before=$(handler_calls "$scenario")
    cpu_before=$(cpu_ticks)
    # shellcheck disable=SC2046
    run_wrk "$connections" "$seconds" "$OUT/$id.wrk.txt" $(wrk_args "$variant" "$scenario" "run$RANDOM")
    local calls_after cpu_after rss_kb cache_stats
    calls_after=$(handler_calls "$scenario")
    cpu_after=$(cpu_ticks)
    rss_kb=$(peak_rss_kb)
    cache_stats=$(curl -sf --max-time 5 "http://$ADDR/stats" || true)
    stop_server
    R[$id.entries]=$(awk -F= '$1 == "entries" { print $2 }' <<<"$cache_stats")
    R[$id.weighed]=$(awk -F= '$1 == "bytes" { printf "%.1f", $2 / 1048576 }' <<<"$cache_stats")
    R[$id.evictions]=$(awk -F= '$1 == "evictions" { print $2 }' <<<"$cache_stats")

    local result rps p50 p99 errors non2xx calls cpu_us cpu_pct rss
    result=$(grep '^RESULT ' "$OUT/$id.wrk.txt")
    eval "$(awk -v r="$result" -v cpu=$((cpu_after - cpu_before)) -v tck="$CLK_TCK" \
        -v calls=$((calls_after - calls_before)) -v rss="$rss_kb" 'BEGIN {
            n = split(r, kv, /[ =]/)
            for (i = 2; i < n; i += 2) m[kv[i]] = kv[i + 1]
            secs = m["duration_us"] / 1e6
            printf "rps=%.0f p50=%.3f p99=%.3f errors=%d non2xx=%d calls=%d", \
                m["requests"] / secs, m["p50_us"] / 1000, m["p99_us"] / 1000, m["errors"], m["non2xx"], calls
            printf " cpu_us=%.2f cpu_pct=%.0f rss=%.1f\n", \
                (m["requests"] > 0 ? cpu / tck * 1e6 / m["requests"] : 0), cpu / tck / secs * 100, rss / 1024
        }')"
    for metric in rps p50 p99 errors non2xx calls cpu_us cpu_pct rss; do
        R[$id.$metric]=${!metric}
    done
    printf '%-6s %-6s %-10s %10s %9s %9s %8s %9s %5s%% %8s %s\n' "$framework" "$scenario" \
        "$(label "$variant")" "$rps" "$p50" "$p99" "$calls" "$cpu_us" "$cpu_pct" "$rss" \
        "$( ((errors + non2xx > 0)) && echo "errors=$errors non2xx=$non2xx")"
}

has() { [[ " $SCENARIOS " == *" $1 "* ]]; }
label() { [[ "$1" == cached ]] && echo cachefront || echo "$1"; }

# Arithmetic on the results: calc 'expression with a b c' a b c
calc() { awk -v a="${2:-0}" -v b="${3:-0}" -v c="${4:-0}" -v d="${5:-0}" "BEGIN { printf \"%s\", $1 }"; }
ratio() { calc '(b > 0 ? sprintf("%.3f", a / b) : "nan")' "$1" "$2"; }
# The larger of two numbers, ignoring a missing one ("nan": a framework left out).
worse() {
    if [[ "$1" == nan ]]; then echo "$2"; elif [[ "$2" == nan ]]; then echo "$1"; else calc '(a > b ? a : b)' "$1" "$2"; fi
}

# --- the run -------------------------------------------------------------------------------

cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null || true)
echo "cachefront load benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: ${cpu_model:-unknown CPU}, $(nproc) cores, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "tools: $(rustc --version), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2)"
echo "mode: $([[ "$QUICK" == 1 ]] && echo "QUICK=1 (short, noisy)" || echo full), ${DURATION}s per run" \
    "(miss storm behind cachefront ${MISS_CACHED_DURATION}s, burst ${BURST_DURATION}s), warm-up ${WARMUP}s," \
    "$([[ "$PIN" == 1 ]] && echo "server on core $SERVER_CPU, wrk on core $WRK_CPU" || echo "not pinned")," \
    "hot handler $BENCH_HOT_ITERATIONS iterations (~1 ms), raw output in $OUT"
if [[ -n "$PEERS" ]]; then
    # The version bench/peers/Cargo.lock pins for a crate.
    locked() { awk -v n="$1" '$1 == "name" && $3 == "\"" n "\"" { getline; gsub(/"/, "", $3); print $3; exit }' \
        "$ROOT/bench/peers/Cargo.lock"; }
    declare -A PEER_CRATE=([arc]=axum-response-cache [hct]=http-cache-tower-server [hitbox]=hitbox)
    declare -A PEER_SETUP=(
        [arc]="cached::LruTtlCache of 65,536 entries (an entry bound, not bytes), TTL 1 h, no coalescing"
        [hct]="http-cache's MokaManager, moka weighed by stored bytes, 64 MiB, TTL 1 h, no coalescing"
        [hitbox]="hitbox-moka $(locked hitbox-moka) by bytes, 64 MiB, bincode values, TTL 1 h, BroadcastConcurrencyManager (concurrency 1)"
    )
    for peer in $PEERS; do
        echo "peer $peer: ${PEER_CRATE[$peer]} $(locked "${PEER_CRATE[$peer]}"), ${PEER_SETUP[$peer]}"
    done
fi
echo
printf '%-6s %-6s %-10s %10s %9s %9s %8s %9s %6s %8s\n' framework scen variant 'req/s' 'p50 ms' 'p99 ms' \
    calls 'cpu µs/req' 'cpu' 'rss MiB'
for framework in $FRAMEWORKS; do
    variants=$VARIANTS
    [[ "$framework" == axum ]] && variants="$VARIANTS $PEERS"
    for scenario in $SCENARIOS; do
        for variant in $variants; do
            measure "$framework" "$scenario" "$variant"
        done
    done
done

echo
echo "ratios (each against its baselines of the same run):"
for f in $FRAMEWORKS; do
    g() { echo "${R[$f.$1]:-0}"; }
    if has hot; then
        echo "  $f hot:   hit/static $(ratio "$(g hot.cached.rps)" "$(g hot.static.rps)")," \
            "hit/plain $(ratio "$(g hot.cached.rps)" "$(g hot.plain.rps)")," \
            "p99 hit/static $(ratio "$(g hot.cached.p99)" "$(g hot.static.p99)")," \
            "server CPU per request static $(g hot.static.cpu_us) µs, hit $(g hot.cached.cpu_us) µs" \
            "(CPU-implied hit/static $(ratio "$(g hot.static.cpu_us)" "$(g hot.cached.cpu_us)"))," \
            "handler calls $(g hot.cached.calls) (the warm-up filled the cache)"
    fi
    if has miss; then
        echo "  $f miss:  cachefront/plain $(ratio "$(g miss.cached.rps)" "$(g miss.plain.rps)")," \
            "µs added $(calc 'sprintf("%.2f", a - b)' "$(g miss.cached.cpu_us)" "$(g miss.plain.cpu_us)") (server CPU)" \
            "/ $(calc 'sprintf("%.2f", (a > 0 && b > 0) ? 1e6 / a - 1e6 / b : 0)' "$(g miss.cached.rps)" "$(g miss.plain.rps)") (1/throughput)," \
            "p99 cachefront/plain $(ratio "$(g miss.cached.p99)" "$(g miss.plain.p99)")," \
            "CPU-implied cachefront/plain $(ratio "$(g miss.plain.cpu_us)" "$(g miss.cached.cpu_us)")," \
            "peak RSS $(g miss.cached.rss) MiB (plain $(g miss.plain.rss) MiB) with $(g miss.cached.entries) entries" \
            "weighing $(g miss.cached.weighed) MiB in the cache ($(g miss.cached.evictions) evicted)"
    fi
    if has burst; then
        echo "  $f burst: handler calls cachefront $(g burst.cached.calls), plain $(g burst.plain.calls);" \
            "req/s cachefront/static $(ratio "$(g burst.cached.rps)" "$(g burst.static.rps)")," \
            "cachefront/plain $(ratio "$(g burst.cached.rps)" "$(g burst.plain.rps)")," \
            "p99 cachefront $(g burst.cached.p99) ms"
    fi
    if has large; then
        echo "  $f large: hit/static $(ratio "$(g large.cached.rps)" "$(g large.static.rps)")," \
            "hit/plain $(ratio "$(g large.cached.rps)" "$(g large.plain.rps)")," \
            "peak RSS $(g large.cached.rss) MiB"
    fi
done
# Each peer against the same baselines of axum, cachefront's figures beside it.
ax() { echo "${R[axum.$1]:-0}"; }
for peer in $PEERS; do
    line="  axum $peer:"
    if has hot; then
        line+=" hot hit/static $(ratio "$(ax "hot.$peer.rps")" "$(ax hot.static.rps)")"
        line+=" (cachefront $(ratio "$(ax hot.cached.rps)" "$(ax hot.static.rps)")),"
        line+=" CPU-implied $(ratio "$(ax hot.static.cpu_us)" "$(ax "hot.$peer.cpu_us")"),"
        line+=" hit $(ax "hot.$peer.cpu_us") µs (cachefront $(ax hot.cached.cpu_us) µs), handler calls $(ax "hot.$peer.calls");"
    fi
    if has miss; then
        line+=" miss $peer/plain $(ratio "$(ax "miss.$peer.rps")" "$(ax miss.plain.rps)")"
        line+=" (cachefront $(ratio "$(ax miss.cached.rps)" "$(ax miss.plain.rps)")),"
        line+=" µs added $(calc 'sprintf("%.2f", a - b)' "$(ax "miss.$peer.cpu_us")" "$(ax miss.plain.cpu_us)")"
        line+=" (cachefront $(calc 'sprintf("%.2f", a - b)' "$(ax miss.cached.cpu_us)" "$(ax miss.plain.cpu_us)")),"
        line+=" p99 $peer/plain $(ratio "$(ax "miss.$peer.p99")" "$(ax miss.plain.p99)"),"
        line+=" peak RSS $(ax "miss.$peer.rss") MiB (cachefront $(ax miss.cached.rss) MiB);"
    fi
    if has burst; then
        line+=" burst handler calls $(ax "burst.$peer.calls") (cachefront $(ax burst.cached.calls)),"
        line+=" p99 $(ax "burst.$peer.p99") ms;"
    fi
    if has large; then
        line+=" large hit/static $(ratio "$(ax "large.$peer.rps")" "$(ax large.static.rps)")"
        line+=" (cachefront $(ratio "$(ax large.cached.rps)" "$(ax large.static.rps)")),"
        line+=" peak RSS $(ax "large.$peer.rss") MiB (cachefront $(ax large.cached.rss) MiB);"
    fi
    echo "${line%[;,]}"
done

# The summary takes, for the shared keys, the worse of the two frameworks.
v() { echo "${R[$1]:-0}"; }
axum_hit=$(ratio "$(v axum.hot.cached.rps)" "$(v axum.hot.static.rps)")
actix_hit=$(ratio "$(v actix.hot.cached.rps)" "$(v actix.hot.static.rps)")
axum_miss=$(ratio "$(v axum.miss.cached.rps)" "$(v axum.miss.plain.rps)")
actix_miss=$(ratio "$(v actix.miss.cached.rps)" "$(v actix.miss.plain.rps)")
us_added=$(calc 'sprintf("%.2f", (a - b > c - d) ? a - b : c - d)' "$(v axum.miss.cached.cpu_us)" \
    "$(v axum.miss.plain.cpu_us)" "$(v actix.miss.cached.cpu_us)" "$(v actix.miss.plain.cpu_us)")
p99_ratio=$(worse "$(ratio "$(v axum.miss.cached.p99)" "$(v axum.miss.plain.p99)")" \
    "$(ratio "$(v actix.miss.cached.p99)" "$(v actix.miss.plain.p99)")")
burst_calls=$(worse "$(v axum.burst.cached.calls)" "$(v actix.burst.cached.calls)")
rss_mb=$(worse "$(v axum.miss.cached.rss)" "$(v actix.miss.cached.rss)")
has hot || axum_hit=nan actix_hit=nan
has miss || axum_miss=nan actix_miss=nan us_added=nan p99_ratio=nan rss_mb=nan
has burst || burst_calls=nan

check() { # description, awk condition on a, a
    if [[ "$3" == nan ]]; then
        echo "  n/a     $1"
    elif [[ $(calc "($2) ? \"ok\" : \"MISSED\"" "$3") == ok ]]; then
        echo "  ok      $1"
    else
        echo "  MISSED  $1"
    fi
}
echo
echo "targets:"
check "hit >= 0.95x static (axum $axum_hit)" 'a >= 0.95' "$axum_hit"
check "hit >= 0.95x static (actix $actix_hit)" 'a >= 0.95' "$actix_hit"
check "miss storm >= 0.75x plain (axum $axum_miss)" 'a >= 0.75' "$axum_miss"
check "miss storm >= 0.75x plain (actix $actix_miss)" 'a >= 0.75' "$actix_miss"
check "<= 5 µs added per miss ($us_added)" 'a <= 5' "$us_added"
check "miss-storm p99 <= 1.5x plain ($p99_ratio)" 'a <= 1.5' "$p99_ratio"
check "cold burst -> 1 handler call ($burst_calls)" 'a == 1' "$burst_calls"
check "peak RSS <= 64 MiB capacity + 32 MiB ($rss_mb MiB$([[ "$QUICK" == 1 ]] && echo ", after a short miss storm"))" \
    'a <= 96' "$rss_mb"
# The peers' summary values, and how cachefront's hit compares with the best peer's (axum).
peers_summary="" best_peer="" best_peer_hit=nan best_peer_cpu=nan
for peer in $PEERS; do
    p_hit=$(ratio "$(v "axum.hot.$peer.rps")" "$(v axum.hot.static.rps)")
    p_miss=$(ratio "$(v "axum.miss.$peer.rps")" "$(v axum.miss.plain.rps)")
    p_us=$(calc 'sprintf("%.2f", a - b)' "$(v "axum.miss.$peer.cpu_us")" "$(v axum.miss.plain.cpu_us)")
    p_calls=$(v "axum.burst.$peer.calls")
    p_rss=$(v "axum.miss.$peer.rss")
    has hot || p_hit=nan
    has miss || p_miss=nan p_us=nan p_rss=nan
    has burst || p_calls=nan
    peers_summary+=" ${peer}_hit_vs_static=$p_hit ${peer}_miss_vs_plain=$p_miss ${peer}_miss_us_added=$p_us"
    peers_summary+=" ${peer}_burst_handler_calls=$p_calls ${peer}_rss_mb=$p_rss"
    if [[ "$p_hit" != nan ]] && [[ "$best_peer_hit" == nan || $(calc '(a > b) ? 1 : 0' "$p_hit" "$best_peer_hit") == 1 ]]; then
        best_peer=$peer best_peer_hit=$p_hit
        best_peer_cpu=$(ratio "$(v axum.hot.static.cpu_us)" "$(v "axum.hot.$peer.cpu_us")")
    fi
done
if [[ -n "$PEERS" ]]; then
    hit_lead=nan
    if [[ "$axum_hit" != nan && "$best_peer_hit" != nan ]]; then
        hit_lead=$(calc 'sprintf("%.3f", a - b)' "$axum_hit" "$best_peer_hit")
    fi
    check "cachefront hit >= every peer's hit (axum, x static: cachefront $axum_hit, best peer ${best_peer:-none} $best_peer_hit; CPU-implied $(ratio "$(v axum.hot.static.cpu_us)" "$(v axum.hot.cached.cpu_us)") and $best_peer_cpu)" \
        'a >= 0' "$hit_lead"
fi
for f in $FRAMEWORKS; do
    for s in hot miss large; do
        for variant in static plain cached $PEERS; do
            pct=${R[$f.$s.$variant.cpu_pct]:-100}
            if [[ $(calc '(a < 85) ? 1 : 0' "$pct") == 1 ]]; then
                echo "  note: $f $s $(label "$variant"): the server used only $pct% of its core; wrk or the machine may be the bottleneck"
            fi
        done
    done
done
echo
# The peers' line comes before the summary, which stays the last line.
[[ -z "$PEERS" ]] || echo "peers:$peers_summary"
echo "axum_hit_vs_static=$axum_hit actix_hit_vs_static=$actix_hit axum_miss_vs_plain=$axum_miss" \
    "actix_miss_vs_plain=$actix_miss miss_us_added=$us_added miss_p99_vs_plain=$p99_ratio" \
    "burst_handler_calls=$burst_calls rss_mb=$rss_mb"
