#!/usr/bin/env bash
# Regenerates include/accord.h from ffi/src with cbindgen (after the error
# codes' copies, ffi/tests/codes.rs), sized for this
# build's capacities (ACCORD_MAX_DEVICES etc. in the environment apply).
# The drift test (`cargo test -p accord-ffi --test header`) fails until the
# checked-in header equals what this writes.
#
#   bash scripts/gen-header.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# ACCORD_REGEN_HEADER=1: the library sizes its storage from its own types
# (so a too-small header cannot stop it compiling) and the test writes the
# header instead of comparing it.
# First the copies of the error codes' list (core/src/error.rs): the
# ACCORD_E_* constants in ffi/src/error.rs and docs/PROTOCOL.md §9's table.
ACCORD_REGEN_HEADER=1 cargo test --quiet --locked -p accord-ffi --test codes
ACCORD_REGEN_HEADER=1 cargo test --quiet --locked -p accord-ffi --test header
# The normal build reads the new header back; the drift test must now pass.
cargo test --quiet --locked -p accord-ffi --test codes --test header
echo "include/accord.h regenerated"
