#!/usr/bin/env bash
# Regenerates the "## Benchmarks" section of bench/RESULTS.md in one run on
# this machine: criterion timings of accord against the hand-written C, JSON
# and memcpy baselines, callgrind's instruction count of the full handshake,
# the round-trip simulation and the loopback check. Other sections of the
# file are kept. Not part of the test command (scripts/test.sh).
#
#   bash scripts/bench.sh
#
# Installs what it needs, by package name: valgrind (Debian) if missing.
# Environment: CARGO_TARGET_DIR (default ./target); BENCH_FILTER, a
# criterion filter to time only some benchmarks (the report needs them all).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
OUT="$TARGET_DIR/bench-report"
mkdir -p "$OUT"

step() { printf '\n=== %s\n' "$*"; }

if ! command -v valgrind >/dev/null || ! command -v callgrind_annotate >/dev/null; then
    step "installing valgrind (Debian package)"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq valgrind
fi

LOAD_BEFORE="$(uptime | sed 's/^ *//')"
DATE="$(date -u '+%Y-%m-%d %H:%M')"

step "criterion: codecs, classification, full handshake (several minutes)"
export CRITERION_HOME="$TARGET_DIR/criterion"
rm -rf "$CRITERION_HOME"
cargo bench --locked -p accord-bench --bench accord -- --noplot ${BENCH_FILTER:+"$BENCH_FILTER"}

step "callgrind: instructions of one full handshake"
cargo build --locked --release -p accord-bench --bin handshake_once --bin codec_once --bin report
BIN="$TARGET_DIR/release/handshake_once"
valgrind --tool=callgrind --callgrind-out-file="$OUT/handshake.callgrind" \
    --toggle-collect='accord_bench::handshake::run*' "$BIN" 2>"$OUT/handshake.valgrind"
# Cross-check by subtraction: the whole program, and setup only.
valgrind --tool=callgrind --callgrind-out-file="$OUT/full.callgrind" "$BIN" 2>/dev/null
valgrind --tool=callgrind --callgrind-out-file="$OUT/setup.callgrind" "$BIN" setup-only 2>/dev/null
callgrind_annotate "$OUT/handshake.callgrind" >"$OUT/handshake.annotate" 2>/dev/null
grep -E '^(summary|totals):' "$OUT/handshake.callgrind"

step "callgrind: instructions of one encode plus decode per codec"
: >"$OUT/codec.tsv"
for imp in accord c json memcpy; do
    for msg in hello welcome; do
        for n in 1 8 32; do
            valgrind --tool=callgrind --callgrind-out-file="$OUT/codec.callgrind" \
                --toggle-collect='codec_once::measured*' \
                "$TARGET_DIR/release/codec_once" "$imp" "$msg" "$n" 2>/dev/null
            ir=$(awk '/^summary:/ { print $2 }' "$OUT/codec.callgrind")
            printf '%s\t%s\t%s\t%s\n' "$imp" "$msg" "$n" "$ir" >>"$OUT/codec.tsv"
        done
    done
done
# Where accord's largest round goes.
valgrind --tool=callgrind --callgrind-out-file="$OUT/codec.callgrind" \
    --toggle-collect='codec_once::measured*' \
    "$TARGET_DIR/release/codec_once" accord hello 32 2>/dev/null
callgrind_annotate "$OUT/codec.callgrind" >"$OUT/codec-hello32.annotate" 2>/dev/null

step "round trips (simulation and loopback) and bench/RESULTS.md"
"$TARGET_DIR/release/report" \
    --criterion "$CRITERION_HOME" \
    --callgrind "$OUT/handshake.callgrind" \
    --full "$OUT/full.callgrind" \
    --setup "$OUT/setup.callgrind" \
    --annotate "$OUT/handshake.annotate" \
    --codec-ir "$OUT/codec.tsv" \
    --codec-annotate "$OUT/codec-hello32.annotate" \
    --results bench/RESULTS.md \
    --command "bash scripts/bench.sh" \
    --date "$DATE" \
    --load-before "$LOAD_BEFORE"
