#!/usr/bin/env bash
# What accord costs on a microcontroller: builds the Cortex-M firmware
# (firmware/) at opt-level s and z, with and without accord-core's defmt
# feature, runs each under qemu-system-arm to measure its stack, and prints a
# markdown table on stdout (for bench/RESULTS.md). Build logs go to stderr.
#
#   bash scripts/size-report.sh > /tmp/size.md
#
# Columns:
#   flash        .vector_table + .text + .rodata + .data (the initialisers of
#                .data live in flash too), bytes
#   static RAM   .data + .bss + .uninit, bytes
#   stack        deepest stack use measured by stack painting in QEMU
#                (STACK_MAX_BYTES), bytes
#   accord adds  flash / stack minus the `baseline` build at the same
#                opt-level (the same firmware without the accord workload)
#   no-panic     "yes" if the release link succeeded with the undefined-symbol
#                panic handler; otherwise the row was measured with the
#                allow-panic handler and a panic path survives.
# defmt builds use DEFMT_LOG=trace: every accord log call compiled in.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# shellcheck source=firmware/scripts/lib.sh
source "$ROOT/firmware/scripts/lib.sh"

fw_install_tools

# Every accord log call compiled in (only builds with defmt read this).
export DEFMT_LOG=trace
OUT_DIR="$FW_TARGET_DIR/size-report"
mkdir -p "$OUT_DIR"

# Sum the sizes of the named sections in `size -A` output.
sections() { # elf section...
    local elf=$1
    shift
    "$SIZE" -A "$elf" | awk -v want=" $* " '
        index(want, " " $1 " ") { sum += $2 } END { print sum + 0 }'
}

declare -A FLASH RAM STACK PROOF
ROWS=()
SIZES_REPORT=""

# Build, measure and run one variant; fills the arrays under key $1.
measure() { # key opt features...
    local key=$1 opt=$2
    shift 2
    local feats=("$@")
    step "size-report: $key (opt-level=$opt, features: ${feats[*]:-none})"
    local elf proof=yes
    # The proof build first; if a panic path survives, measure the same
    # build with the allow-panic handler and flag the row.
    if ! elf=$(CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt fw_build ${feats[*]:+--features "${feats[*]}"}); then
        proof=no
        elf=$(CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt fw_build --features "${feats[*]:+${feats[*]} }allow-panic") ||
            { echo "size-report: $key does not build" >&2; return 1; }
    fi
    cp "$elf" "$OUT_DIR/$key.elf"
    elf="$OUT_DIR/$key.elf"
    local report status=0
    report=$(fw_run "$elf" "$OUT_DIR/$key.stderr") || status=$?
    printf '%s\n' "$report" >"$OUT_DIR/$key.out"
    if [ "$status" -ne 0 ] || ! grep -qx 'RESULT=ok' <<<"$report"; then
        echo "size-report: $key failed under QEMU (status $status):" >&2
        printf '%s\n' "$report" >&2
        return 1
    fi
    FLASH[$key]=$(sections "$elf" .vector_table .text .rodata .data .gnu.sgstubs)
    RAM[$key]=$(sections "$elf" .data .bss .uninit)
    STACK[$key]=$(fw_value STACK_MAX_BYTES <<<"$report")
    PROOF[$key]=$proof
    [ -n "$SIZES_REPORT" ] || SIZES_REPORT=$(grep '^SIZE_' <<<"$report" || true)
}

for opt in z s; do
    measure "baseline-$opt" "$opt" baseline
    measure "accord-$opt" "$opt"
    ROWS+=("accord-$opt")
    measure "accord-defmt-$opt" "$opt" defmt
    ROWS+=("accord-defmt-$opt")
done

QEMU_VERSION=$(qemu-system-arm --version | head -1 | sed 's/^QEMU emulator version //')
echo "### accord-core on Cortex-M4 ($FW_TARGET, QEMU $FW_QEMU_MACHINE)"
echo
echo "Firmware: firmware/ (placeholder workload until the handshake lands), rustc $(rustc -V | cut -d' ' -f2), QEMU $QEMU_VERSION."
echo
echo "| build | opt-level | defmt | flash (B) | static RAM (B) | stack max (B) | accord adds, flash (B) | accord adds, stack (B) | no-panic proof |"
echo "|---|---|---|--:|--:|--:|--:|--:|---|"
for key in "${ROWS[@]}"; do
    opt=${key##*-}
    base="baseline-$opt"
    case $key in *defmt*) d="yes (DEFMT_LOG=trace)" ;; *) d="no" ;; esac
    echo "| $key | $opt | $d | ${FLASH[$key]} | ${RAM[$key]} | ${STACK[$key]} | $((FLASH[$key] - FLASH[$base])) | $((STACK[$key] - STACK[$base])) | ${PROOF[$key]} |"
done
for opt in z s; do
    key="baseline-$opt"
    echo "| $key (no accord) | $opt | no | ${FLASH[$key]} | ${RAM[$key]} | ${STACK[$key]} | 0 | 0 | ${PROOF[$key]} |"
done
echo
echo "Sizes of accord-core types (bytes, \`size_of\` on $FW_TARGET):"
echo
echo "| type | bytes |"
echo "|---|--:|"
while IFS='=' read -r k v; do
    [ -n "$k" ] || continue
    echo "| ${k#SIZE_} | $v |"
done <<<"$SIZES_REPORT"
echo
echo "flash = .vector_table + .text + .rodata + .data; static RAM = .data + .bss + .uninit;"
echo "stack = deepest use measured by stack painting under QEMU; \"accord adds\" = row minus"
echo "the baseline build (same firmware without accord) at the same opt-level. defmt rows"
echo "include the firmware's semihosting defmt logger and one defmt::info! of an Agreed."
for key in "${ROWS[@]}"; do
    if [ "${PROOF[$key]}" != yes ]; then
        echo
        echo "Note: no-panic proof \"no\" = a panic path survived optimisation in that build; its figures come from the allow-panic build."
        break
    fi
done
