#!/usr/bin/env bash
# Runs every test of accord. Installs what it needs, idempotently, by name.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

step "toolchain: targets and components"
rustup target add thumbv7em-none-eabihf >/dev/null

step "QEMU 10.0 for the interop tests (Debian bookworm-backports)"
bash scripts/install-qemu.sh

step "QEMU 10.2.2 with accord's patch series, for interop/tests/qemu_accord.rs (scripts/qemu.sh, cached)"
ACCORD_QEMU_PATCHED=$(bash scripts/qemu.sh | tail -n1)
export ACCORD_QEMU_PATCHED
echo "ACCORD_QEMU_PATCHED=$ACCORD_QEMU_PATCHED"

step "format"
cargo fmt --all --check
cargo fmt --check --manifest-path fuzz/Cargo.toml

step "unit, integration and spec tests (with the exhaustive negotiation check and the model check)"
rm -f target/tmp/accord-*.txt
cargo test --workspace --locked 2>&1 | tee /tmp/accord-test.log
# Sum cargo's per-binary result lines into one closing line.
awk '/^test result:/ { p += $4; f += $6 } END { printf "rust tests: %d passed, %d failed\n", p, f }' /tmp/accord-test.log
# What the exhaustive check and the model check covered (they leave tallies in target/tmp).
cat target/tmp/accord-*.txt
bash scripts/firmware-test.sh # bare-metal cross-builds, no-alloc and no-panic proofs, handshake on a Cortex-M4 under QEMU
bash scripts/boards-test.sh # two boards (Cortex-M0 Source, Cortex-M4 Destination) over one UART, with line faults and a reset

step "core for Cortex-M4 (no_std, no alloc)"
cargo build -p accord-core --target thumbv7em-none-eabihf --release --locked

step "clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy --manifest-path fuzz/Cargo.toml --all-targets --locked -- -D warnings
bash scripts/c-tests.sh # C API: header, cmocka (plain, ASan+UBSan, valgrind), minimal program, pkg-config, Meson

step "fuzzing: every cargo-fuzz target for ${FUZZ_SECONDS:-25}s (scripts/fuzz.sh)"
bash scripts/fuzz.sh

step "miri: the test suites of accord-core and accord-ffi (scripts/miri.sh)"
bash scripts/miri.sh
