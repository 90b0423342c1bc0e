#!/usr/bin/env bash
# Builds libaccord.a the way C programs link it and prints its path:
# TARGET_DIR/libaccord/libaccord.a.
#
#   LIB=$(bash scripts/build-c-lib.sh)   # extra arguments go to cargo
#
# accord-ffi is both an rlib (its Rust tests link it) and a staticlib, and
# cargo does not run LTO for a crate that also builds an rlib. Built alone as a
# staticlib (`cargo rustc --crate-type staticlib`), the archive holds one
# LTO-optimised object with only what the C API reaches (no std, no
# formatting machinery) plus compiler-builtins, all at opt-level s (the
# `c-lib` profile of Cargo.toml): a program links it with the
# plain `pkg-config --libs accord` flags and grows by < 100 KiB
# (scripts/footprint.sh). The copy under libaccord/ is what to link: a plain
# `cargo build --release` writes a bigger non-LTO archive to release/. The
# copy drops debug info (that of Rust's precompiled compiler-builtins) and the
# embedded LLVM bitcode, which no C link uses: 4.6 MB become about 0.8 MB.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
ACCORD_C_LIB=1 cargo rustc --quiet --profile c-lib --locked -p accord-ffi --lib --crate-type staticlib "$@" >&2
mkdir -p "$TARGET_DIR/libaccord"
"${OBJCOPY:-objcopy}" --strip-debug --remove-section=.llvmbc --remove-section=.llvmcmd \
    "$TARGET_DIR/c-lib/libaccord.a" "$TARGET_DIR/libaccord/libaccord.a"
echo "$TARGET_DIR/libaccord/libaccord.a"
