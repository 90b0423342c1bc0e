#!/usr/bin/env bash
# Miri over the test suites of the crates listed in MIRI_CRATES: undefined
# behaviour in accord, in the C API's pointer handling (ffi/tests/c_api.rs
# drives every kind of call through raw pointers and caller storage) or in
# the unsafe code of the dependencies (heapless, postcard) fails the run.
# A crate joins with one more word in MIRI_CRATES.
# Tests too heavy for Miri's interpreter are marked #[cfg_attr(miri, ignore)]
# or sampled under cfg(miri): core/tests/exhaustive.rs (27 of 572265
# handshakes), model_check.rs (ignored), channel_order.rs (3 of 720 orders),
# legacy_formats.rs (60 of 60000 random inputs), legacy_classify.rs (a
# sample of the arrival orders), wire::msg's postcard sweeps (run natively),
# two text-only tests (PROTOCOL.md's error table, BAD_INPUTS.md's row list,
# and the document comparison of bad_inputs.rs) and ffi/tests/header.rs
# (cbindgen, file I/O).
set -euo pipefail
cd "$(dirname "$0")/.."

crates="${MIRI_CRATES:-accord-core accord-ffi}"

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
if ! rustup +nightly component list --installed | grep -q '^miri'; then
    rustup +nightly component add miri rust-src
fi
cargo +nightly miri setup >/dev/null 2>&1 || cargo +nightly miri setup

args=()
for c in $crates; do args+=(-p "$c"); done
start=$(date +%s)
log="$(mktemp)"
set +e
cargo +nightly miri test --locked --no-fail-fast "${args[@]}" >"$log" 2>&1
status=$?
set -e
grep -E '^test result|^test .*(FAILED|ignored)|Undefined Behavior|^error' "$log" || true
awk '/^test result:/ { p += $4; f += $6; i += $8 } END { printf "miri: %d passed, %d failed, %d ignored", p, f, i }' \
    "$log"
printf ' (%s) in %ss\n' "$crates" "$(( $(date +%s) - start ))"
exit "$status"
