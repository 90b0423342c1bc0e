#!/usr/bin/env bash
# accord on a microcontroller: build the Cortex-M firmware (firmware/), run it
# under qemu-system-arm with semihosting, and prove accord-core has no heap
# and no panic path on bare-metal targets.
#
#   bash scripts/firmware-test.sh
#
# Exits 0 only if every check passed; the last line is "firmware: N passed,
# N failed". Installs what it needs, idempotently, by package name:
# qemu-system-arm (Debian), three rustup targets and rustup's llvm-tools
# (its llvm-nm reads the LLVM bitcode that LTO puts in rlibs).
#
# Environment: CARGO_TARGET_DIR (host workspace, default ./target),
# FW_TARGET_DIR (firmware, default firmware/target), QEMU_TIMEOUT (seconds,
# default 60).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# shellcheck source=firmware/scripts/lib.sh
source "$ROOT/firmware/scripts/lib.sh"

fw_install_tools

PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); printf 'ok   %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL %s\n' "$*"; }

# --- The no-alloc check must be able to see an allocator. -----------------
step "no-alloc check self-test: it must flag a crate that allocates"
CANARY_DIR="$FW_TARGET_DIR/alloc-canary"
if cargo build --manifest-path firmware/alloc-canary/Cargo.toml --release --locked \
        --target thumbv6m-none-eabi --target-dir "$CANARY_DIR" -q; then
    canary="$CANARY_DIR/thumbv6m-none-eabi/release/liballoc_canary.a"
    if check_no_alloc "$canary" >/dev/null 2>&1; then
        fail "no-alloc check missed the allocator in $canary"
    else
        pass "no-alloc check flags $(basename "$canary")"
    fi
else
    fail "alloc-canary did not build"
fi

# --- accord-core cross-builds, with and without defmt, no allocator. -------
for target in "${FW_CORE_TARGETS[@]}"; do
    for features in "" "defmt"; do
        label="accord-core $target${features:+ +$features}"
        step "$label"
        if cargo build -p accord-core --release --locked --target "$target" \
                ${features:+--features "$features"}; then
            pass "$label builds"
            rlib="$HOST_TARGET_DIR/$target/release/libaccord_core.rlib"
            if check_no_alloc "$rlib"; then
                pass "$label: no allocator symbol"
            else
                fail "$label: allocator symbol in $rlib"
            fi
        else
            fail "$label does not build"
        fi
    done
done
# Later, for the C static library (accord-ffi), once it exists:
#   check_no_alloc "$HOST_TARGET_DIR/<target>/release/libaccord.a"

# --- The firmware: links (= no panic path), runs, exits 0. -----------------
run_variant() { # label, cargo args...
    local label=$1
    shift
    step "firmware $label: release build (link = no-panic proof)"
    local elf
    if ! elf=$(fw_build "$@"); then
        fail "firmware $label: release link failed (a panic path survived, or a build error above)"
        fw_panic_report "$@"
        return
    fi
    pass "firmware $label links: no panic path survived"
    if check_no_alloc "$elf"; then
        pass "firmware $label: no allocator symbol"
    else
        fail "firmware $label: allocator symbol in $elf"
    fi
    step "firmware $label: run under qemu-system-arm -M $FW_QEMU_MACHINE"
    local out status=0
    out=$(fw_run "$elf") || status=$?
    printf '%s\n' "$out"
    if [ "$status" -eq 0 ] && grep -qx 'RESULT=ok' <<<"$out"; then
        pass "firmware $label ran and exited 0 (STACK_MAX_BYTES=$(fw_value STACK_MAX_BYTES <<<"$out"))"
    else
        fail "firmware $label: exit status $status (124 = timed out)"
    fi
}

run_variant "opt-level=z"
run_variant "opt-level=z +defmt" --features defmt

# The profile's opt-level is z. A panic path that survives only at s is not
# fatal here (it is a finding for accord-core; scripts/size-report.sh flags it).
step "firmware opt-level=s: no-panic proof (advisory)"
if CARGO_PROFILE_RELEASE_OPT_LEVEL=s fw_build >/dev/null 2>"$FW_TARGET_DIR/opt-s.log"; then
    printf 'ok   firmware links at opt-level=s too\n'
else
    grep -E 'undefined symbol' "$FW_TARGET_DIR/opt-s.log" | head -3 || true
    printf 'WARNING: a panic path survives at opt-level=s (not counted as a failure)\n'
    CARGO_PROFILE_RELEASE_OPT_LEVEL=s fw_panic_report
fi

printf '\nfirmware: %d passed, %d failed\n' "$PASSED" "$FAILED"
[ "$FAILED" -eq 0 ]
