#!/usr/bin/env bash
# Makes docs/dashboard.png, the README's picture of the admin dashboard, on purpose: runs the
# dashboard's browser test (integration-tests/tests/dashboard.rs) with its screenshot sent
# there. No test writes into the source tree by itself.
#
#   bash scripts/screenshot-dashboard.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    echo "chromium and chromedriver are needed: apt-get install chromium chromium-driver" >&2
    exit 1
fi

shot="$(mktemp -d)"
trap 'rm -rf "$shot"' EXIT
# The test must run here, not be skipped.
env -u CACHEFRONT_SKIP_BROWSER_TESTS CACHEFRONT_DASHBOARD_SCREENSHOT="$shot/dashboard.png" \
    cargo test -p integration-tests --all-features --test dashboard -- --nocapture
mkdir -p docs
mv "$shot/dashboard.png" docs/dashboard.png
echo "wrote docs/dashboard.png"
