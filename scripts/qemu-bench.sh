#!/usr/bin/env bash
# Regenerates the "## QEMU with accord" section of bench/RESULTS.md: the
# patched QEMU (scripts/qemu.sh) migrating with accord on and off at
# multifd 1, 8 and 64 through the relay's 5 ms delay, in one run
# (interop/examples/qemu_bench.rs). Not part of the test command.
#
#   bash scripts/qemu-bench.sh [RUNS]     # default 3 runs per cell
set -euo pipefail
cd "$(dirname "$0")/.."
ACCORD_QEMU_PATCHED=$(bash scripts/qemu.sh | tail -n1)
export ACCORD_QEMU_PATCHED
cargo run --release --locked -q -p interop --example qemu_bench -- "${1:-3}" bench/RESULTS.md
