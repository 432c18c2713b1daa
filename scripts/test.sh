#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine: installs what the tests need, then the
# unit, integration and doc tests.
#
#   bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
    if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
        echo "need root to run: $*" >&2
        return 1
    fi
}

# Servers started by tests hold many sockets at once (1,000 concurrent clients in one test).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

if ! command -v cargo >/dev/null; then
    echo "cargo not found: install Rust (https://rustup.rs) first" >&2
    exit 1
fi

# The Redis tests start real redis-server processes (and redis-cli for the cluster test).
if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    if command -v apt-get >/dev/null; then
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server
    else
        echo "redis-server not found and no apt-get: install Redis (redis-server and redis-cli) first" >&2
        exit 1
    fi
fi

# The Redis TLS test makes its certificates with the openssl CLI.
if ! command -v openssl >/dev/null; then
    if command -v apt-get >/dev/null; then
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl
    else
        echo "openssl not found and no apt-get: install the openssl CLI first" >&2
        exit 1
    fi
fi

# The dashboard test drives a headless Chromium over WebDriver (chromedriver); it fails where
# they are missing unless CACHEFRONT_SKIP_BROWSER_TESTS=1 says to skip it.
if [ "${CACHEFRONT_SKIP_BROWSER_TESTS:-}" != 1 ] \
    && { ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; }; then
    if command -v apt-get >/dev/null; then
        as_root apt-get update -qq
        as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver
    else
        echo "chromium/chromedriver not found and no apt-get: install them, or set" \
            "CACHEFRONT_SKIP_BROWSER_TESTS=1 to skip the dashboard test" >&2
        exit 1
    fi
fi

# cargo-nextest runs each test in its own process (memory assertions stay honest); fall back
# to cargo test where it is missing.
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --all-features --no-fail-fast
else
    cargo test --workspace --all-features --no-fail-fast --lib --bins --tests
fi
# The core without optional features: what a build without `redis` does with a Redis URL.
cargo test -p cachefront --test env
# Doc examples are tests too (nextest does not run them).
cargo test --workspace --all-features --doc
