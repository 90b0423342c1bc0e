#!/usr/bin/env bash
# The main job: runs an in-memory migration handshake and prints its timeline.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --quiet --locked -p accord-core --example timeline
