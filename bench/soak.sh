#!/usr/bin/env bash
# Soak: mixed load for 5 minutes against example-tiered-redis (memory in front of Redis) — hits,
# misses, tag purges every 20 s and a Redis restart every 60 s — with the server's RSS sampled
# every 10 s. The verdict: no request failed because of the cache, and RSS stayed within the
# memory store's capacity (64 MiB) + 32 MiB.
#
# Then a hostile phase (HOSTILE_DURATION, 60 s by default; 0 skips it) against
# example-reverse-proxy (64 MiB cache) in front of bench-axum's /vary/{id} (`Cache-Control:
# public, max-age=600`, `Vary: Accept-Encoding`): every request has a unique 8 KB query string
# and a random Accept-Encoding value, so every response is a new variant of a new URI. Its
# verdict: the proxy's peak RSS stays within 64 MiB + 32 MiB.
#
#   bash bench/soak.sh            # 5 minutes
#   QUICK=1 bash bench/soak.sh    # 1 minute
#
# Everything listens on 127.0.0.1 (Redis on 6391, the app on 4201, the hostile phase's origin
# on 4202 and proxy on 4203) and is stopped when the script exits. Needs redis-server and wrk (installed with apt-get when missing).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${DURATION:-300}
[ "${QUICK:-0}" = 1 ] && duration=60
for tool in redis-server wrk; do
    command -v "$tool" >/dev/null || apt-get install -y "$([ "$tool" = wrk ] && echo wrk || echo redis-server)" >/dev/null
done
hostile_duration=${HOSTILE_DURATION:-60}
[ "${QUICK:-0}" = 1 ] && hostile_duration=${HOSTILE_DURATION:-30}
cargo build --release -q -p example-tiered-redis -p example-reverse-proxy -p example-bench-servers
work=$(mktemp -d)
redis_pid=""
app_pid=""
origin_pid=""
proxy_pid=""
cleanup() {
    for pid in "$app_pid" "$redis_pid" "$origin_pid" "$proxy_pid"; do
        [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
start_redis() {
    redis-server --port 6391 --bind 127.0.0.1 --save '' --appendonly no --dir "$work" >"$work/redis.log" 2>&1 &
    redis_pid=$!
}
start_redis
sleep 0.5
token=soak-token-0123456789
CACHEFRONT_REDIS_URL=redis://127.0.0.1:6391 CACHEFRONT_LISTEN=127.0.0.1:4201 RUST_LOG=error \
    CACHEFRONT_ADMIN_TOKEN=$token ./target/release/example-tiered-redis >"$work/app.log" 2>&1 &
app_pid=$!
for _ in $(seq 50); do curl -sf -o /dev/null http://127.0.0.1:4201/slow/0 && break; sleep 0.1; done
cat >"$work/mix.lua" <<'LUA'
-- Mostly a hot set (hits), with a long tail of cold ids (misses, 250 ms each).
request = function()
    local id
    if math.random() < 0.7 then id = math.random(0, 99) else id = math.random(100, 300000) end
    return wrk.format("GET", "/slow/" .. id)
end
LUA
timeout $((duration + 30)) wrk -t1 -c128 -d"${duration}s" --timeout 10s -s "$work/mix.lua" http://127.0.0.1:4201 >"$work/wrk.log" 2>&1 &
wrk_pid=$!
rss_max=0
echo "soak: ${duration}s of mixed load; RSS of the server (MiB) every 10 s:"
for ((t = 10; t <= duration; t += 10)); do
    sleep 10
    rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$app_pid/status" 2>/dev/null || echo 0)
    ((rss > rss_max)) && rss_max=$rss
    event=""
    if ((t % 20 == 0)); then
        curl -sf -o /dev/null -H "Authorization: Bearer $token" -d "{\"tags\": [\"slow:$((RANDOM % 100))\"]}" \
            http://127.0.0.1:4201/admin/purge && event="purge"
    fi
    if ((t % 60 == 0)); then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
        sleep 2
        start_redis
        event="$event redis-restart"
    fi
    printf '  t=%4ss  rss=%4s MiB  %s\n' "$t" "$rss" "$event"
done
wait "$wrk_pid" || true
requests=$(awk '/requests in/ {print $1}' "$work/wrk.log")
errors=$(awk '/Non-2xx/ {print $NF} /Socket errors/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$work/wrk.log" | paste -sd+ | bc 2>/dev/null || echo 0)
echo "requests: ${requests:-0}, non-2xx or socket errors: ${errors:-0}"
grep -E "Requests/sec|Latency" "$work/wrk.log" | sed 's/^/  /'
limit=$((64 + 32))
verdict=$([ "$rss_max" -le "$limit" ] && echo ok || echo MISSED)
echo "soak_rss_max_mb=${rss_max} soak_rss_limit_mb=${limit} soak_errors=${errors:-0} verdict=${verdict}"

# The hostile phase: unique 8 KB URLs with Vary against the reverse proxy.
[ "$hostile_duration" -gt 0 ] || exit 0
kill "$app_pid" 2>/dev/null || true
app_pid=""
BENCH_LISTEN=127.0.0.1:4202 ./target/release/bench-axum 127.0.0.1:4202 >"$work/origin.log" 2>&1 &
origin_pid=$!
CACHEFRONT_ORIGIN=http://127.0.0.1:4202 CACHEFRONT_LISTEN=127.0.0.1:4203 RUST_LOG=error \
    ./target/release/example-reverse-proxy >"$work/proxy.log" 2>&1 &
proxy_pid=$!
for port in 4202 4203; do
    for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/vary/0" && break; sleep 0.1; done
done
cat >"$work/hostile.lua" <<'LUA'
-- Every request a new URI (an 8 KB unique query) and a random Accept-Encoding: a new variant.
local filler = string.rep("x", 8 * 1024)
local counter = 0
math.randomseed(os.time())
request = function()
    counter = counter + 1
    local encoding = ""
    for _ = 1, math.random(1, 40) do encoding = encoding .. string.char(math.random(97, 122)) end
    return wrk.format("GET", "/vary/1?n=" .. counter .. "-" .. math.random(1, 1000000000) .. "&q=" .. filler,
        { ["Accept-Encoding"] = encoding })
end
LUA
rss_start=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$proxy_pid/status")
timeout $((hostile_duration + 30)) wrk -t1 -c64 -d"${hostile_duration}s" --timeout 10s -s "$work/hostile.lua" \
    http://127.0.0.1:4203 >"$work/hostile.log" 2>&1 &
wrk_pid=$!
hostile_max=$rss_start
echo "hostile: ${hostile_duration}s of unique 8 KB URLs with Vary; RSS of the proxy (MiB) every 5 s:"
for ((t = 5; t <= hostile_duration; t += 5)); do
    sleep 5
    rss=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$proxy_pid/status" 2>/dev/null || echo 0)
    ((rss > hostile_max)) && hostile_max=$rss
    printf '  t=%4ss  rss=%4s MiB\n' "$t" "$rss"
done
wait "$wrk_pid" || true
hwm=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$proxy_pid/status" 2>/dev/null || echo 0)
((hwm > hostile_max)) && hostile_max=$hwm
hostile_requests=$(awk '/requests in/ {print $1}' "$work/hostile.log")
grep -E "Requests/sec|Non-2xx|Socket errors" "$work/hostile.log" | sed 's/^/  /' || true
hostile_verdict=$([ "$hostile_max" -le "$limit" ] && echo ok || echo MISSED)
echo "hostile_requests=${hostile_requests:-0} hostile_rss_start_mb=${rss_start} hostile_rss_max_mb=${hostile_max} hostile_rss_limit_mb=${limit} verdict=${hostile_verdict}"
