#!/usr/bin/env bash
# Fuzz every cargo-fuzz target of fuzz/ for a bounded time and print the
# executions per target. FUZZ_SECONDS (default 25) is each target's time;
# FUZZ_TARGETS (space-separated) picks targets. New inputs go to a scratch
# corpus: the checked-in seeds under fuzz/corpus/ stay as they are. A crash
# fails the script and leaves its input under fuzz/artifacts/<target>/:
# minimize it, add it to fuzz/regressions/<target>/ and fix the bug.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs="${FUZZ_SECONDS:-25}"

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

# Seeds current, and every past crash still passes (stable, no libFuzzer).
cargo test --locked --quiet 2>&1 | grep -E '^test result: ok. [1-9]|FAILED|panicked'

# Release build with debug assertions and overflow checks, AddressSanitizer.
if ! cargo +nightly fuzz build >"${TMPDIR:-/tmp}/accord-fuzz-build.log" 2>&1; then
    cat "${TMPDIR:-/tmp}/accord-fuzz-build.log"
    exit 1
fi

targets="${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=0
total=0
printf '%-16s %12s %10s %8s\n' target executions exec/s corpus
for t in $targets; do
    mkdir -p "$scratch/$t"
    log="$scratch/$t.log"
    if cargo +nightly fuzz run "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
        >"$log" 2>&1; then
        status=ok
    else
        status=CRASH
        failed=1
    fi
    # libFuzzer's last status line: "#<runs>	DONE   cov: ... exec/s: <n> rss: ...".
    runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    rate=$(grep -oE 'exec/s: [0-9]+' "$log" | tail -1 | awk '{print $2}')
    units=$(( $(find "$scratch/$t" -type f | wc -l) + $(find "corpus/$t" -type f | wc -l) ))
    printf '%-16s %12s %10s %8s %s\n' "$t" "${runs:-0}" "${rate:-0}" "$units" "$([ $status = ok ] || echo CRASH)"
    total=$(( total + ${runs:-0} ))
    if [ "$status" != ok ]; then
        grep -E 'panicked|ERROR|SUMMARY|Test unit written|artifact' "$log" | head -20 || true
        tail -5 "$log"
    fi
done
printf 'fuzz: %s executions in all, %ss per target\n' "$total" "$secs"
exit "$failed"
