#!/usr/bin/env bash
# The caching reverse proxy against nginx's proxy_cache, Varnish and the same proxy without its
# cache, measured one after another in one run.
#
#   bench/proxy.sh           # 10 s per measurement
#   QUICK=1 bench/proxy.sh   # 3 s per measurement
#
# Origin: bench-axum's /origin/{id} (a 1 KiB body, `Cache-Control: public, max-age=3600`), on
# 127.0.0.1:4100, pinned to core 1. Servers, each on core 0, each started alone, warmed (every
# path once with curl), measured, checked and stopped before the next:
#   4101 example-reverse-proxy with its cache (shared-cache mode, 64 MiB in memory)
#   4103 nginx with proxy_cache, when `nginx` is installed (else skipped)
#   4104 Varnish, when `varnishd` is installed (else skipped)
#   4102 example-reverse-proxy with CACHEFRONT_CACHE=off
# Every peer is a shared cache that stores what the origin's Cache-Control allows, in memory:
# nginx's cache files live in the temporary directory, on /dev/shm (tmpfs) when it exists.
# wrk: 1 thread, 32 connections, 100 paths, pinned to core 1 (with the origin) when taskset
# exists and there are two cores. Everything listens on 127.0.0.1, runs from one temporary
# directory (configuration written here) and is stopped when the script exits.
# Binaries come from ${CARGO_TARGET_DIR:-target}/release, built here.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=10
[ "${QUICK:-0}" = 1 ] && duration=3
command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }; }
nice -n 10 cargo build --release -q -p example-bench-servers -p example-reverse-proxy
bin="${CARGO_TARGET_DIR:-target}/release"

shm=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && shm=/dev/shm
work=$(mktemp -d "$shm/cachefront-proxy.XXXXXX")
# nginx's workers and Varnish's child drop root for their own users: they must reach the files.
chmod 755 "$work"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
pin() { if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then exec taskset -c "$1" "${@:2}"; else exec "${@:2}"; fi; }
stop() {
    kill "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    local left=() pid
    for pid in "${pids[@]}"; do [ "$pid" = "$1" ] || left+=("$pid"); done
    pids=("${left[@]}")
}
ready() {
    for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$1/origin/0" && return 0; sleep 0.1; done
    echo "nothing answers on 127.0.0.1:$1" >&2
    return 1
}
warm() { for i in $(seq 0 99); do curl -sf -o /dev/null "http://127.0.0.1:$1/origin/$i"; done; }
counters() { varnishstat -n "$work/varnish" -1 -f MAIN.cache_hit -f MAIN.cache_miss -f MAIN.backend_req | awk '{printf "%s%s=%s", sep, $1, $2; sep=" "}'; }
not_hits() { if [ -f "$work/nginx/logs/not-hit.log" ]; then wc -l < "$work/nginx/logs/not-hit.log"; else echo 0; fi; }
# The share of idle CPU time over one second, from /proc/stat (idle + iowait over user to steal).
idle() {
    local a b
    a=$(head -1 /proc/stat)
    sleep 1
    b=$(head -1 /proc/stat)
    awk -v a="$a" -v b="$b" 'BEGIN {
        n = split(a, x); split(b, y)
        for (i = 2; i <= n && i <= 9; i++) { d = y[i] - x[i]; total += d; if (i == 5 || i == 6) idle += d }
        printf "%.0f", total ? 100 * idle / total : 0
    }'
}
threads() { find "/proc/$1/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
header() { curl -sf -D - -o /dev/null "http://127.0.0.1:$1/origin/$2" | tr -d '\r' | awk -v h="$3" 'tolower($1) == tolower(h) ":" {$1 = ""; sub(/^ /, ""); print}'; }

cat > "$work/paths.lua" <<'LUA'
counter = 0
request = function()
    counter = counter + 1
    return wrk.format("GET", "/origin/" .. (counter % 100))
end
LUA
measure() {
    pin 1 timeout $((duration + 10)) wrk -t1 -c32 -d"${duration}s" --latency -s "$work/paths.lua" "http://127.0.0.1:$1" 2>/dev/null \
        | awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {print rps, p50, p99}'
}

have_nginx=0
have_varnish=0
command -v nginx >/dev/null && have_nginx=1
command -v varnishd >/dev/null && have_varnish=1

echo "reverse proxies in front of one origin, ${duration}s per run, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "  before the runs: $(idle)% CPU idle over 1 s, load average $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"
echo "  wrk -t1 -c32 -d${duration}s --latency, 100 paths of 1 KiB, after one warm-up request per path; keep-alive"
echo "  cachefront: example-reverse-proxy, shared-cache mode, 64 MiB memory store (default), tokio runtime on one core"
if [ "$have_nginx" = 1 ]; then
    echo "  nginx $(nginx -v 2>&1 | sed 's|.*nginx/||'): worker_processes 1, proxy_cache on $shm (keys_zone 10m, max_size 64m), proxy_cache_valid unset, proxy_cache_lock on, upstream keepalive 32, keepalive_requests 1000000, access_log off"
else
    echo "  nginx: not installed, skipped (apt-get install nginx)"
fi
if [ "$have_varnish" = 1 ]; then
    echo "  varnish $(varnishd -V 2>&1 | sed -n 's/^varnishd (varnish-\([^ ]*\).*/\1/p'): -s malloc,64m, builtin VCL with one backend, thread pools default (thread_pools 2, thread_pool_min 100, thread_pool_max 5000)"
else
    echo "  varnish: not installed, skipped (apt-get install varnish)"
fi
echo "  uncached: example-reverse-proxy with CACHEFRONT_CACHE=off"

BENCH_LISTEN=127.0.0.1:4100 pin 1 "$bin/bench-axum" 127.0.0.1:4100 >/dev/null 2>&1 &
pids+=($!)
ready 4100

results=()

# cachefront with its cache
CACHEFRONT_ORIGIN=http://127.0.0.1:4100 CACHEFRONT_LISTEN=127.0.0.1:4101 RUST_LOG=warn pin 0 "$bin/example-reverse-proxy" >/dev/null 2>&1 &
pid=$!
pids+=("$pid")
ready 4101
warm 4101
before=$(header 4101 7 Cache-Status)
read -r cached_rps cached_p50 cached_p99 < <(measure 4101)
results+=("  cachefront (hits):   ${cached_rps} req/s  p50 ${cached_p50}  p99 ${cached_p99}")
echo "  check cachefront: Cache-Status after warm-up \"${before}\", after the run \"$(header 4101 7 Cache-Status)\"; $(threads "$pid") threads"
stop "$pid"

# nginx with proxy_cache
nginx_rps=
if [ "$have_nginx" = 1 ]; then
    mkdir -p "$work/nginx/cache" "$work/nginx/logs"
    cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    keepalive_requests 1000000;
    client_body_temp_path $work/nginx/client_body;
    proxy_temp_path $work/nginx/proxy_temp;
    fastcgi_temp_path $work/nginx/fastcgi_temp;
    uwsgi_temp_path $work/nginx/uwsgi_temp;
    scgi_temp_path $work/nginx/scgi_temp;
    proxy_cache_path $work/nginx/cache levels=1:2 keys_zone=bench:10m max_size=64m inactive=1h use_temp_path=off;
    # Only the requests that were not cache hits are logged: the origin's request count.
    map \$upstream_cache_status \$not_hit { HIT 0; default 1; }
    log_format status '\$upstream_cache_status \$request_uri';
    upstream origin { server 127.0.0.1:4100; keepalive 32; }
    server {
        listen 127.0.0.1:4103;
        access_log $work/nginx/logs/not-hit.log status if=\$not_hit;
        location / {
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_cache bench;
            proxy_cache_lock on;
            add_header X-Cache-Status \$upstream_cache_status always;
        }
    }
}
NGINX
    pin 0 nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/logs/error.log" >/dev/null 2>&1 &
    pid=$!
    pids+=("$pid")
    ready 4103
    warm 4103
    before=$(header 4103 7 X-Cache-Status)
    warm_fetches=$(not_hits)
    read -r nginx_rps nginx_p50 nginx_p99 < <(measure 4103)
    results+=("  nginx proxy_cache:   ${nginx_rps} req/s  p50 ${nginx_p50}  p99 ${nginx_p99}")
    echo "  check nginx: X-Cache-Status after warm-up ${before}, after the run $(header 4103 7 X-Cache-Status); requests not served from the cache: ${warm_fetches} by the warm-up, $(( $(not_hits) - warm_fetches )) since; worker $(threads "$(pgrep -P "$pid" -f 'worker process' | head -1)") threads"
    stop "$pid"
else
    echo "nginx is not installed: skipping it" >&2
fi

# Varnish
varnish_rps=
if [ "$have_varnish" = 1 ]; then
    cat > "$work/varnish.vcl" <<'VCL'
vcl 4.1;
backend origin { .host = "127.0.0.1"; .port = "4100"; }
VCL
    chmod 644 "$work/varnish.vcl"
    pin 0 varnishd -F -n "$work/varnish" -a 127.0.0.1:4104 -T none -f "$work/varnish.vcl" -s malloc,64m >/dev/null 2>&1 &
    pid=$!
    pids+=("$pid")
    ready 4104
    warm 4104
    before=$(counters)
    age_before=$(header 4104 7 Age)
    read -r varnish_rps varnish_p50 varnish_p99 < <(measure 4104)
    results+=("  varnish:             ${varnish_rps} req/s  p50 ${varnish_p50}  p99 ${varnish_p99}")
    echo "  check varnish: after warm-up ${before}; after the run $(counters); Age ${age_before} then $(header 4104 7 Age), X-Varnish $(header 4104 7 X-Varnish); child $(threads "$(pgrep -P "$pid" | head -1)") threads"
    stop "$pid"
else
    echo "varnishd is not installed: skipping it" >&2
fi

# cachefront without its cache
CACHEFRONT_ORIGIN=http://127.0.0.1:4100 CACHEFRONT_LISTEN=127.0.0.1:4102 CACHEFRONT_CACHE=off RUST_LOG=warn pin 0 "$bin/example-reverse-proxy" >/dev/null 2>&1 &
pid=$!
pids+=("$pid")
ready 4102
warm 4102
read -r plain_rps plain_p50 plain_p99 < <(measure 4102)
results+=("  without cache:       ${plain_rps} req/s  p50 ${plain_p50}  p99 ${plain_p99}")
stop "$pid"

printf '%s\n' "${results[@]}"
ratio() { if [ -n "$2" ]; then awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; else echo skipped; fi; }
echo "proxy_hit_rps=${cached_rps} proxy_uncached_rps=${plain_rps} proxy_hit_vs_uncached=$(ratio "$cached_rps" "$plain_rps")"
echo "cachefront_vs_nginx=$(ratio "$cached_rps" "$nginx_rps") cachefront_vs_varnish=$(ratio "$cached_rps" "$varnish_rps") cachefront_vs_uncached=$(ratio "$cached_rps" "$plain_rps")"
