#!/usr/bin/env bash
# accord on a microcontroller: cross-build accord-core (and the C static
# library) for three bare-metal targets, prove there is no allocator in
# them, build the Cortex-M firmware (firmware/) whose release link fails if
# any panic path survives, and run it under qemu-system-arm with
# semihosting: a complete Source/Destination handshake on a Cortex-M4.
#
#   bash scripts/firmware-test.sh
#
# Exits 0 only if every check passed; the last line is "firmware: N passed,
# N failed, N skipped". Installs what it needs, idempotently, by package
# name: qemu-system-arm (Debian), three rustup targets and rustup's
# llvm-tools (its llvm-nm reads the LLVM bitcode that LTO puts in rlibs).
#
# Environment: CARGO_TARGET_DIR (host workspace, default ./target),
# FW_TARGET_DIR (firmware, default firmware/target), QEMU_TIMEOUT (seconds,
# default 60), DEFMT_LOG (default trace).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# shellcheck source=firmware/scripts/lib.sh
source "$ROOT/firmware/scripts/lib.sh"

fw_install_tools

PASSED=0
FAILED=0
SKIPPED=0
pass() { PASSED=$((PASSED + 1)); printf 'ok   %s\n' "$*"; }
fail() { FAILED=$((FAILED + 1)); printf 'FAIL %s\n' "$*"; }
skip() { SKIPPED=$((SKIPPED + 1)); printf 'SKIP %s\n' "$*"; }

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

# --- The C static library (accord-ffi), embedded: no_std, no allocator. ----
# accord-ffi is no_std unless its opt-in `std` feature is on;
# `--no-default-features` also drops the hosted (QEMU-scale) capacities.
if ffi_is_embeddable; then
    for target in "${FW_CORE_TARGETS[@]}"; do
        for features in "" "defmt"; do
            label="libaccord.a $target${features:+ +$features}"
            step "$label"
            if cargo build -p accord-ffi --release --locked --target "$target" \
                    --no-default-features ${features:+--features "$features"}; then
                pass "$label builds (no_std)"
                lib="$HOST_TARGET_DIR/$target/release/libaccord.a"
                if check_no_alloc "$lib"; then
                    pass "$label: no __rust_alloc, malloc or free"
                else
                    fail "$label: allocator symbol in $lib"
                fi
            else
                fail "$label does not build"
            fi
        done
    done
else
    skip "libaccord.a cross-builds and no-alloc check: ffi/Cargo.toml has no \`std\` feature yet" \
        "(accord-ffi is still the hosted skeleton); NOT checked. Re-run this script once the" \
        "no_std C API lands."
fi

# --- defmt: one logging path, every public type formattable. ---------------
step "logging: core/src/log.rs's trace! is accord-core's only logging path"
direct=$(grep -rnE '(defmt|log)::(println|trace|debug|info|warn|error)!' core/src |
    grep -v '^core/src/log.rs:' || true)
if [ -z "$direct" ]; then
    pass "no log call outside core/src/log.rs"
else
    fail "log calls bypass trace!:"$'\n'"$direct"
fi
step "defmt: every pub struct/enum of accord-core is in firmware/src/format_check.rs"
missing=""
for ty in $(grep -rhoE 'pub (struct|enum) [A-Za-z0-9_]+' core/src | awk '{print $3}' | sort -u); do
    grep -qE "format::<$ty(<|>)" firmware/src/format_check.rs || missing="$missing $ty"
done
if [ -z "$missing" ]; then
    pass "every public type is checked for defmt::Format (the defmt build proves it)"
else
    fail "not checked for defmt::Format:$missing"
fi

# --- The firmware: links (= no panic path), runs, exits 0. -----------------
run_variant() { # label, cargo args...
    local label=$1
    shift
    step "firmware $label: release build (link = no-panic proof)"
    local elf
    if ! elf=$(fw_build "$@"); then
        fail "firmware $label: release link failed (a panic path survived, or a build error above)"
        fw_panic_report "$@"
        return 1
    fi
    pass "firmware $label links: no panic path survived"
    if check_no_alloc "$elf"; then
        pass "firmware $label: no allocator symbol"
    else
        fail "firmware $label: allocator symbol in $elf"
    fi
    step "firmware $label: run under qemu-system-arm -M $FW_QEMU_MACHINE"
    local out status=0 log="$FW_TARGET_DIR/run-stderr.bin"
    out=$(fw_run "$elf" "$log") || status=$?
    printf '%s\n' "$out"
    if [ "$status" -eq 0 ] && grep -qx 'RESULT=ok' <<<"$out"; then
        pass "firmware $label: handshake complete, exit 0"
    else
        fail "firmware $label: exit status $status (124 = timed out)"
    fi
    # The budgets that hold stay held (scripts/size-report.sh reports all).
    local stack_max src dst
    stack_max=$(fw_value STACK_STEP_MAX_BYTES <<<"$out")
    if [ "${stack_max:-99999}" -le 2048 ]; then
        pass "firmware $label: deepest handshake step ${stack_max} B of stack (budget 2048)"
    else
        fail "firmware $label: a handshake step needs ${stack_max:-?} B of stack (budget 2048)"
    fi
    src=$(fw_value SIZE_SOURCE <<<"$out")
    dst=$(fw_value SIZE_DESTINATION <<<"$out")
    if [ "${src:-99999}" -le 4096 ] && [ "${dst:-99999}" -le 4096 ]; then
        pass "firmware $label: Source $src B, Destination $dst B (budget 4096 each)"
    else
        fail "firmware $label: Source ${src:-?} B, Destination ${dst:-?} B (budget 4096 each)"
    fi
    case " $* " in
    *defmt*)
        # 8 state transitions (trace!) and 2 info! lines, as rzCOBS frames
        # on stderr, each ending in a zero byte.
        local frames
        frames=$(tr -cd '\000' <"$log" | wc -c)
        if [ "$frames" -ge 10 ]; then
            pass "firmware $label: $frames defmt frames logged (state transitions included)"
        else
            fail "firmware $label: only $frames defmt frames on stderr, want >= 10"
        fi
        ;;
    esac
    LAST_OUT=$out
}

LAST_OUT=""
for opt in z s; do
    for features in "" "defmt"; do
        label="opt-level=$opt${features:+ +$features}"
        CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt run_variant "$label" \
            ${features:+--features "$features"} || true
        if [ "$opt$features" = z ]; then
            DEFAULT_SIZE_SOURCE=$(fw_value SIZE_SOURCE <<<"$LAST_OUT")
        fi
    done
done

# --- Capacities are the user's, at compile time. ---------------------------
step "capacities: accord-core for Cortex-M0 with ACCORD_MAX_DEVICES=4"
if ACCORD_MAX_DEVICES=4 cargo build -p accord-core --release --locked --target thumbv6m-none-eabi; then
    pass "accord-core thumbv6m-none-eabi builds with ACCORD_MAX_DEVICES=4"
else
    fail "accord-core does not build with ACCORD_MAX_DEVICES=4"
fi
step "capacities: an out-of-range value is refused at build time"
if ACCORD_MAX_NAME_LEN=300 cargo build -p accord-core --release --locked \
        --target thumbv6m-none-eabi >/dev/null 2>&1; then
    fail "ACCORD_MAX_NAME_LEN=300 was accepted (bound is 255)"
else
    pass "ACCORD_MAX_NAME_LEN=300 fails the build"
fi
SMALL=(ACCORD_MAX_DEVICES=8 ACCORD_MAX_CHANNELS=8 ACCORD_MAX_EARLY_CHANNELS=4
    ACCORD_MAX_NAME_LEN=32 ACCORD_EVENT_QUEUE=8)
LAST_OUT=""
for kv in "${SMALL[@]}"; do export "${kv?}"; done
small_ok=0
step "capacities: the firmware with ${SMALL[*]}"
run_variant "small-capacity build" || small_ok=$?
for kv in "${SMALL[@]}"; do unset "${kv%%=*}"; done
if [ "$small_ok" -eq 0 ]; then
    small=$(fw_value SIZE_SOURCE <<<"$LAST_OUT")
    if [ -n "$small" ] && [ -n "${DEFAULT_SIZE_SOURCE:-}" ] && [ "$small" -lt "$DEFAULT_SIZE_SOURCE" ]; then
        pass "small capacities took effect: Source $small B (default build: $DEFAULT_SIZE_SOURCE B)"
    else
        fail "small capacities did not shrink Source (${small:-?} B vs ${DEFAULT_SIZE_SOURCE:-?} B)"
    fi
fi

printf '\nfirmware: %d passed, %d failed, %d skipped\n' "$PASSED" "$FAILED" "$SKIPPED"
[ "$FAILED" -eq 0 ]
