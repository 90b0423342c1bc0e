#!/usr/bin/env bash
# Two boards over one UART (boards/, docs/PROTOCOL.md §12): the Source on a
# Cortex-M0 (qemu-system-arm -M microbit), the Destination on a Cortex-M4
# (-M mps2-an386), their UARTs joined by a relay on 127.0.0.1
# (boards/host). Each run must end on both boards with the same verdict,
# the expected one, with no hang (a run is killed after its timeout) and no
# fault:
#
#   migrate          clean line: both switch over
#   mismatch         the Source requires postcopy-ram, which the Destination
#                    board lacks: CapabilityMissingOnDestination (202) on both,
#                    within a second
#   drop / corrupt   the relay drops or flips 1% of bytes (three seeds each,
#                    and both at once; a full 70-byte packet then fails
#                    half the time): the link repairs it, both switch over
#   short stall      once the Source has Welcome, the line holds every byte
#                    for 1.5 s: both switch over
#   long stall       the same for 6 s, past the Source's 4 s ack deadline:
#                    AckTimeout (504) on both (its Abort waits out the stall)
#   reset            QMP system_reset of the Destination 50 ms after the
#                    Source has Welcome (before the devices approved): the
#                    Source aborts, LocalAbort (604) on both
#
# Then: no allocator symbol in either image, and the footprint of each
# (flash, RAM, deepest stack).
#
#   bash scripts/boards-test.sh           # exit 0 = all pass
#   bash scripts/boards-test.sh --write   # and put the footprint table in
#                                         # bench/RESULTS.md ("## Two boards")
#
# Installs qemu-system-arm and the rustup targets if missing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# shellcheck source=boards/scripts/lib.sh
source "$ROOT/boards/scripts/lib.sh"

WRITE=0
[ "${1:-}" = "--write" ] && WRITE=1

boards_install_tools
echo "building the two board images and the host tool ..."
boards_build

PASSED=0
FAILED=0
LOG_DIR="$BOARDS_TARGET_DIR/runs"
mkdir -p "$LOG_DIR"
run() { # name, host-tool arguments...
    local name=$1
    shift
    local log="$LOG_DIR/$name.log"
    if boards_run --timeout 30 "$@" >"$log" 2>&1; then
        PASSED=$((PASSED + 1))
        printf 'ok   %-22s %s\n' "$name" "$(grep -E '^same verdict' "$log")"
    else
        FAILED=$((FAILED + 1))
        printf 'FAIL %-22s (log: %s)\n' "$name" "$log"
        tail -20 "$log"
    fi
    grep -E '^(source|destination) +verdict' "$log" | sed 's/^/       /'
}

run migrate --expect ok
run mismatch --scenario mismatch --expect 202 --within 1000
for seed in 1 2 3; do
    run "drop-1%-seed$seed" --drop 10 --seed "$seed" --expect ok
    run "corrupt-1%-seed$seed" --corrupt 10 --seed "$seed" --expect ok
done
run drop+corrupt-1% --drop 10 --corrupt 10 --seed 7 --expect ok
run short-stall --after "source: ChannelsReady" --stall 0:1500 --expect ok
run long-stall --after "source: ChannelsReady" --stall 0:6000 --expect 504
run reset-destination --after "source: ChannelsReady" --reset-destination 50 --expect 604
run mismatch-lossy --scenario mismatch --drop 10 --corrupt 10 --seed 5 --expect 202

# No allocator in either image (the link of each release image is already
# the no-panic proof). check_no_alloc is firmware/'s, with rustup's llvm-nm.
bin="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
[ -x "$bin/llvm-nm" ] || rustup component add llvm-tools >&2 || true
NM="$bin/llvm-nm"
[ -x "$NM" ] || NM=nm
# shellcheck source=firmware/scripts/lib.sh
source "$ROOT/firmware/scripts/lib.sh"
for elf in "$SRC_ELF" "$DST_ELF"; do
    if check_no_alloc "$elf" 2>/dev/null; then
        PASSED=$((PASSED + 1))
        echo "ok   $(basename "$elf"): links (no panic path), no allocator symbol"
    else
        FAILED=$((FAILED + 1))
        echo "FAIL $(basename "$elf"): allocator symbol"
        check_no_alloc "$elf" || true
    fi
done

# Footprint: flash and static RAM from the ELF, the deepest stack from the
# migrate run (both boards print STACK_MAX_BYTES, measured by painting).
SIZE="$bin/llvm-size"
[ -x "$SIZE" ] || SIZE=size
sections() { # elf section...
    local elf=$1
    shift
    "$SIZE" -A "$elf" | awk -v want=" $* " 'index(want, " " $1 " ") { s += $2 } END { print s + 0 }'
}
value_of() { # board key
    grep -E "^ *[0-9.]+ ms +$1 .*$2=" "$LOG_DIR/migrate.log" | sed 's/.*=//' | head -1
}
TABLE=$(mktemp)
{
    echo "| board | image | flash (B) | static RAM (B) | deepest stack (B) | of which machine / link port (B) | RAM of the part |"
    echo "|---|---|--:|--:|--:|--:|--:|"
} >"$TABLE"
for b in source destination; do
    if [ $b = source ]; then
        elf=$SRC_ELF part="16 KiB (nRF51822)" who="source M0" target=$BOARDS_SRC_TARGET
    else
        elf=$DST_ELF part="64 KiB (memory.x window)" who="dest   M4" target=$BOARDS_DST_TARGET
    fi
    flash=$(sections "$elf" .vector_table .text .rodata .data)
    ram=$(sections "$elf" .data .bss .uninit)
    st=$(value_of "$who" STACK_MAX_BYTES)
    machine=$(value_of "$who" SIZE_MACHINE_BYTES)
    port=$(value_of "$who" SIZE_PORT_BYTES)
    echo "| $b | \`$(basename "$elf")\` ($target) | $flash | $ram | ${st:-?} | ${machine:-?} / ${port:-?} | $part |" >>"$TABLE"
    if [ $b = source ]; then
        total=$((ram + ${st:-99999}))
        SRC_RAM_TOTAL=$total
        if [ "$total" -le 16384 ]; then
            PASSED=$((PASSED + 1))
            echo "ok   Cortex-M0 image: static RAM $ram B + deepest stack ${st:-?} B = $total B <= 16384 B"
        else
            FAILED=$((FAILED + 1))
            echo "FAIL Cortex-M0 image needs $total B of RAM, more than 16384"
        fi
    fi
done
echo
cat "$TABLE"

if [ "$WRITE" -eq 1 ]; then
    SECTION=$(mktemp)
    {
        echo "## Two boards over one UART"
        echo
        echo "- Command: \`bash scripts/boards-test.sh --write\` (images: \`boards/\`, release, opt-level z, fat LTO; link = no-panic proof)"
        echo "- Date: $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
        echo "- $(rustc --version); $(qemu-system-arm --version | head -1)"
        echo "- Flash = \`.vector_table .text .rodata .data\`, static RAM = \`.data .bss .uninit\` (\`llvm-size -A\`). Deepest stack: the whole run's high-water mark by stack painting (cortex-m-rt \`paint-stack\`, \`firmware/src/stack.rs\`), in the clean \`migrate\` run. Each board keeps its state machine, its link (512 B each way), the UART packet buffer and a 384-byte transmit buffer in \`main\`'s frame, so the stack figure holds all of accord's RAM; the static RAM is the boot counter and the loggers."
        echo "- Capacities (\`boards/.cargo/config.toml\`): 8 devices, 24-byte names, 8 capabilities, 2 channels, event queue 8."
        echo
        cat "$TABLE"
        echo
        echo "The Cortex-M0 image links against the nRF51822's 16 KiB of RAM (\`boards/memory-nrf51.x\`) and uses $SRC_RAM_TOTAL B of it at its deepest (static RAM plus deepest stack)."
        echo
    } >"$SECTION"
    RESULTS="$ROOT/bench/RESULTS.md"
    awk -v sec="$SECTION" '
        function dump() { while ((getline l < sec) > 0) print l; close(sec) }
        /^## Two boards over one UART/ { dump(); skip = 1; done = 1; next }
        skip && /^## / { skip = 0 }
        !done && /^## Benchmarks/ { dump(); done = 1 }
        !skip { print }
        END { if (!done) dump() }' "$RESULTS" >"$RESULTS.tmp" && mv "$RESULTS.tmp" "$RESULTS"
    echo "wrote the footprint into $RESULTS"
fi

printf '\nboards: %d passed, %d failed\n' "$PASSED" "$FAILED"
[ "$FAILED" -eq 0 ]
