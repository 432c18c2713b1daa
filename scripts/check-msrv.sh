#!/usr/bin/env bash
# Fails when a dependency (any feature, any target, dev-dependencies included) declares a
# higher `rust-version` than the workspace's: the MSRV in Cargo.toml must stay true.
#
#   bash scripts/check-msrv.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo metadata --format-version 1 --all-features --locked | python3 -c '
import json, sys
meta = json.load(sys.stdin)
def version(text):
    return tuple(int(part) for part in text.split("."))[:3] + (0,) * (3 - len(text.split(".")))
members = set(meta["workspace_members"])
ours = {p["rust_version"] for p in meta["packages"] if p["id"] in members and p.get("rust_version")}
if len(ours) != 1:
    sys.exit(f"workspace members declare different rust-versions: {sorted(ours)}")
msrv = ours.pop()
used = {node["id"] for node in meta["resolve"]["nodes"]}
higher = sorted(
    (p["name"], p["version"], p["rust_version"])
    for p in meta["packages"]
    if p["id"] in used and p.get("rust_version") and version(p["rust_version"]) > version(msrv)
)
for name, ver, needs in higher:
    print(f"{name} {ver} needs Rust {needs}, above the workspace rust-version {msrv}", file=sys.stderr)
if higher:
    sys.exit(1)
print(f"rust-version {msrv}: no dependency declares a higher one ({len(used)} packages checked)")
'
