#!/usr/bin/env bash
# What accord costs on a microcontroller. Builds the Cortex-M4 reference
# firmware (firmware/) at opt-level s and z, with and without defmt, runs
# each under qemu-system-arm (the run measures the stack of every handshake
# step by stack painting and prints the sizes of Source and Destination),
# checks the budgets and prints a markdown section on stdout.
#
#   bash scripts/size-report.sh            # print the section
#   bash scripts/size-report.sh --write    # and put it in bench/RESULTS.md
#   bash scripts/size-report.sh --flash    # only the three core flash figures
#                                          # (4 builds, no QEMU run): the quick loop
#
# --write replaces the "## Embedded footprint" section of bench/RESULTS.md
# (everything up to the next "## " heading) and leaves other sections alone.
# Build logs go to stderr. Exit status 0 even when a budget is missed (the
# report says so); non-zero if a build or run fails.
#
# Builds (firmware features):
#   accord     the reference firmware: the full handshake and its checks
#   lean       the same handshake driven without checks or measurement
#              (src/lean.rs): what a product firmware links
#   baseline   the same firmware without accord at all
# core flash = lean - baseline: the flash accord-core costs for both sides.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
# shellcheck source=firmware/scripts/lib.sh
source "$ROOT/firmware/scripts/lib.sh"

WRITE=0
FLASH_ONLY=0
case "${1:-}" in
--write) WRITE=1 ;;
--flash) FLASH_ONLY=1 ;;
esac

fw_install_tools

OUT_DIR="$FW_TARGET_DIR/size-report"
mkdir -p "$OUT_DIR"

# Budgets (issue: embedded support; one-side goals: issue 14).
BUDGET_CORE_FLASH=16384
BUDGET_SOURCE_FLASH=9216
BUDGET_DESTINATION_FLASH=12288
BUDGET_MACHINE=4096
BUDGET_STEP_STACK=2048

# Sum the sizes of the named sections in `size -A` output.
sections() { # elf section...
    local elf=$1
    shift
    "$SIZE" -A "$elf" | awk -v want=" $* " '
        index(want, " " $1 " ") { sum += $2 } END { print sum + 0 }'
}

declare -A FLASH RAM STEP SETUP WHOLE PROOF

if [ "$FLASH_ONLY" -eq 1 ]; then
    for kf in baseline-z:baseline lean-z:lean one-side-source-z:one-side-source \
        one-side-destination-z:one-side-destination; do
        step "size-report --flash: ${kf%%:*}"
        elf=$(CARGO_PROFILE_RELEASE_OPT_LEVEL=z fw_build --features "${kf#*:}")
        cp "$elf" "$OUT_DIR/${kf%%:*}.elf"
        FLASH[${kf%%:*}]=$(sections "$elf" .vector_table .text .rodata .data)
    done
    echo "core flash, both machines: $((FLASH[lean-z] - FLASH[baseline-z])) B (goal <= $BUDGET_CORE_FLASH)"
    echo "core flash, Source only: $((FLASH[one-side-source-z] - FLASH[baseline-z])) B (goal <= $BUDGET_SOURCE_FLASH)"
    echo "core flash, Destination only: $((FLASH[one-side-destination-z] - FLASH[baseline-z])) B (goal <= $BUDGET_DESTINATION_FLASH)"
    exit 0
fi
declare -A STEPS # "key|step" -> max bytes
STEP_ORDER=()

# Build, run and measure one variant; fills the arrays under key $1.
measure() { # key opt features (comma-separated, may be empty)
    local key=$1 opt=$2 feats=$3
    step "size-report: $key (opt-level=$opt, features: ${feats:-none})"
    local elf proof=yes
    if ! elf=$(CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt fw_build ${feats:+--features "$feats"}); then
        # A panic path survived: measure the allow-panic build, flag the row.
        proof=no
        elf=$(CARGO_PROFILE_RELEASE_OPT_LEVEL=$opt fw_build --features "${feats:+$feats,}allow-panic") ||
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
    FLASH[$key]=$(sections "$elf" .vector_table .text .rodata .data)
    RAM[$key]=$(sections "$elf" .data .bss .uninit)
    STEP[$key]=$(fw_value STACK_STEP_MAX_BYTES <<<"$report")
    SETUP[$key]=$(fw_value STACK_SETUP_MAX_BYTES <<<"$report")
    WHOLE[$key]=$(fw_value STACK_MAX_BYTES <<<"$report")
    PROOF[$key]=$proof
    case $key in accord-*) ;; *) return 0 ;; esac
    local name bytes
    while IFS=$'\t' read -r name bytes; do
        [ -n "$name" ] || continue
        if [ -z "${STEPS["$key|$name"]:-}" ] && ! printf '%s\n' "${STEP_ORDER[@]}" | grep -qxF "$name"; then
            STEP_ORDER+=("$name")
        fi
        if [ "${STEPS["$key|$name"]:-0}" -lt "$bytes" ]; then STEPS["$key|$name"]=$bytes; fi
    done < <(sed -n 's/^STACK_\(STEP\|SETUP\)=\(.*\) BYTES=\([0-9]*\)$/\1: \2\t\3/p' <<<"$report")
}

VARIANTS=()
for opt in z s; do
    measure "baseline-$opt" "$opt" baseline
    measure "lean-$opt" "$opt" lean
    measure "lean-defmt-$opt" "$opt" lean,defmt
    measure "accord-$opt" "$opt" ""
    measure "accord-defmt-$opt" "$opt" defmt
    VARIANTS+=("accord-$opt" "accord-defmt-$opt")
done
# One machine per image (lean.rs with the peer's bytes opaque).
measure "one-side-source-z" z one-side-source
measure "one-side-destination-z" z one-side-destination

REF=$OUT_DIR/accord-z.out
SIZE_SOURCE=$(fw_value SIZE_SOURCE <"$REF")
SIZE_DESTINATION=$(fw_value SIZE_DESTINATION <"$REF")
WORKLOAD_STATIC=$(fw_value WORKLOAD_STATIC_BYTES <"$REF")
CORE_FLASH=$((FLASH[lean-z] - FLASH[baseline-z]))
CORE_SOURCE=$((FLASH[one-side-source-z] - FLASH[baseline-z]))
CORE_DESTINATION=$((FLASH[one-side-destination-z] - FLASH[baseline-z]))
STEP_MAX=0
for key in "${VARIANTS[@]}"; do
    [ "${STEP[$key]}" -gt "$STEP_MAX" ] && STEP_MAX=${STEP[$key]}
done
verdict() { # value budget
    if [ "$1" -le "$2" ]; then
        echo "met ($1 <= $2)"
    else
        echo "**missed by $(($1 - $2)) B** ($1 > $2)"
    fi
}

kib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1024 }'; }

report() {
    local qemu cpu
    qemu=$(qemu-system-arm --version | head -1 | sed 's/^QEMU emulator version //')
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -1)
    echo "## Embedded footprint"
    echo
    echo "- Command: \`bash scripts/size-report.sh --write\` (firmware: \`firmware/\`, Cortex-M4F \`$FW_TARGET\`)"
    echo "- Date: $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (modified)')"
    echo "- Machine: ${cpu:-unknown CPU}, $(nproc) cores; rustc $(rustc -V | cut -d' ' -f2); QEMU $qemu \`-M $FW_QEMU_MACHINE\`"
    echo "- Sizes and stack are properties of the image and the emulated Cortex-M4, not of the host."
    echo
    echo "### Budgets"
    echo
    echo "| budget | measured | verdict |"
    echo "|---|--:|---|"
    echo "| core flash, opt-level z, no defmt, both machines (lean - baseline) <= 16 KiB | $CORE_FLASH B ($(kib "$CORE_FLASH") KiB) | $(verdict "$CORE_FLASH" $BUDGET_CORE_FLASH) |"
    echo "| ... an image with the Source only <= 9 KiB | $CORE_SOURCE B ($(kib "$CORE_SOURCE") KiB) | $(verdict "$CORE_SOURCE" $BUDGET_SOURCE_FLASH) |"
    echo "| ... an image with the Destination only <= 12 KiB | $CORE_DESTINATION B ($(kib "$CORE_DESTINATION") KiB) | $(verdict "$CORE_DESTINATION" $BUDGET_DESTINATION_FLASH) |"
    echo "| \`size_of::<Source>()\`, default capacities <= 4 KiB | $SIZE_SOURCE B | $(verdict "$SIZE_SOURCE" $BUDGET_MACHINE) |"
    echo "| \`size_of::<Destination>()\`, default capacities <= 4 KiB | $SIZE_DESTINATION B | $(verdict "$SIZE_DESTINATION" $BUDGET_MACHINE) |"
    echo "| stack of any handshake step, all four builds <= 2 KiB | $STEP_MAX B | $(verdict "$STEP_MAX" $BUDGET_STEP_STACK) |"
    echo
    echo "### Reference firmware"
    echo
    echo "| build | opt-level | defmt | flash (B) | static RAM (B) | core flash (B) | step stack max (B) | setup stack max (B) | whole-run stack (B) | no-panic link |"
    echo "|---|---|---|--:|--:|--:|--:|--:|--:|---|"
    local key opt d lean
    for key in "${VARIANTS[@]}"; do
        opt=${key##*-}
        case $key in *defmt*) d="yes"; lean="lean-defmt-$opt" ;; *) d="no"; lean="lean-$opt" ;; esac
        echo "| $key | $opt | $d | ${FLASH[$key]} | ${RAM[$key]} | $((FLASH[$lean] - FLASH[baseline-$opt])) | ${STEP[$key]} | ${SETUP[$key]} | ${WHOLE[$key]} | ${PROOF[$key]} |"
    done
    for key in one-side-source-z one-side-destination-z; do
        echo "| $key | z | no | ${FLASH[$key]} | ${RAM[$key]} | $((FLASH[$key] - FLASH[baseline-z])) | | | ${WHOLE[$key]} | ${PROOF[$key]} |"
    done
    for opt in z s; do
        for key in "lean-$opt" "lean-defmt-$opt" "baseline-$opt"; do
            case $key in *defmt*) d="yes" ;; *) d="no" ;; esac
            echo "| $key | $opt | $d | ${FLASH[$key]} | ${RAM[$key]} | | | | ${WHOLE[$key]} | ${PROOF[$key]} |"
        done
    done
    echo
    echo "- **flash** = \`.vector_table + .text + .rodata + .data\` (text and read-only data; \`.data\` is empty)."
    echo "- **static RAM** = \`.data + .bss + .uninit\`. Of it, $WORKLOAD_STATIC B are the Source ($SIZE_SOURCE B) and Destination ($SIZE_DESTINATION B) in statics plus the two transmit buffers ($(fw_value BUF_SRC_TX_BYTES <"$REF") B source to destination, sized for the largest Hello at default capacities; $(fw_value BUF_DST_TX_BYTES <"$REF") B back); the firmware itself uses a few bytes. The rest of the 64 KiB RAM is stack."
    echo "- **one-side-*** = the \`lean\` driver with one machine only, its peer's bytes opaque to the compiler (every input path linked); its static RAM holds that machine and the buffers only."
    echo "- **core flash** = the \`lean\` build (same handshake, both sides, no checks) minus \`baseline\` (same firmware without accord) at the same opt-level; with defmt it includes accord's log calls and the firmware's ~0.3 KiB logger."
    echo "- **step stack** = the deepest single call into accord-core (\`handle_input\`, \`poll_transmit\`, \`accept_channel\`, \`approve\`, ...): the stack is re-painted below the caller before each call and measured after it, so the machines' storage (in statics) is not counted. **setup** = \`Source::new\`/\`Destination::new\` into their statics and the device lists. **whole run** = deepest stack since reset, the test driver's own frames included."
    echo "- defmt builds use \`DEFMT_LOG=trace\`: every accord log call is compiled in and runs; frames go to the host over semihosting."
    echo "- **no-panic link** = the release image links with a \`#[panic_handler]\` that references an undefined symbol, i.e. no panic path survived optimisation."
    echo
    echo "### Stack of each handshake step (bytes, deepest call of that kind)"
    echo
    echo "| call | $(printf '%s | ' "${VARIANTS[@]}")"
    echo "|---|$(printf -- '--:|%.0s' "${VARIANTS[@]}")"
    local name row
    for name in "${STEP_ORDER[@]}"; do
        row="| ${name} |"
        for key in "${VARIANTS[@]}"; do row="$row ${STEPS["$key|$name"]:-} |"; done
        echo "$row"
    done
    echo
    echo "### Sizes of accord-core types (\`size_of\` on $FW_TARGET, default capacities)"
    echo
    echo "| type | bytes |"
    echo "|---|--:|"
    local k v
    while IFS='=' read -r k v; do
        [ -n "$k" ] || continue
        echo "| ${k#SIZE_} | $v |"
    done < <(grep '^SIZE_' "$REF")
    echo
    echo "Defaults: 32 devices, 64 channels per counted role, 16 early channels, 64-byte device names, 16 capabilities, 16 queued events (docs/PROTOCOL.md §10). With \`ACCORD_MAX_DEVICES=8 ACCORD_MAX_CHANNELS=8 ACCORD_MAX_EARLY_CHANNELS=4 ACCORD_MAX_NAME_LEN=32 ACCORD_EVENT_QUEUE=8\` (scripts/firmware-test.sh builds and runs it) Source is $(small_size SIZE_SOURCE) B and Destination $(small_size SIZE_DESTINATION) B."
    echo
    echo "### Where the core flash goes (lean build, opt-level z, no defmt)"
    echo
    breakdown "$OUT_DIR/lean-z.elf"
    if [ "$CORE_FLASH" -gt $BUDGET_CORE_FLASH ]; then
        echo
        echo "**Core flash budget missed by $((CORE_FLASH - BUDGET_CORE_FLASH)) B for the image with both machines.** Why, and what it would take:"
        echo
        echo "- The reference image holds *both* state machines. A product firmware is one side of a migration: the Source alone costs $CORE_SOURCE B, the Destination alone $CORE_DESTINATION B (rows above). About $((CORE_SOURCE + CORE_DESTINATION - CORE_FLASH)) B are shared (wire codecs, negotiation, errors, compiler builtins)."
        echo "- The state machines no longer link serde or postcard: every payload is read and written by hand-written, panic-free codecs (\`Reader\`/\`Writer\` answering \`Option\`, tested byte for byte and accept-for-accept against postcard). The Reject/Abort codec is now about 0.8 KiB."
        echo "- The bulk is handshake logic the spec requires on the device: the destination's answer to Hello (verdict over versions, capabilities and every device, then Welcome) and the source's check of Welcome (it recomputes the agreement and every device verdict) are the largest functions, with the Hello and Welcome decoders out of line beside them."
        echo "- The size of \`Error\` is not a lever: built with \`ACCORD_MAX_NAME_LEN=8\` (its detail then holds an 8-byte name instead of 64) the three core flash figures move by less than 130 B either way (\`ACCORD_MAX_NAME_LEN=8 bash scripts/size-report.sh --flash\`), so a compact internal error type would not pay for its conversions. The bulk is logic: each function of the breakdown below is code the handshake runs."
        echo "- About 1.6 KiB are compiler builtins (\`memcpy\`, \`memclr\` and their aeabi entry points) that accord's struct moves link; the driver's inlined API calls (\`Source::new\`, \`Destination::new\`, \`accept_channel\`, \`approve\`, ...) are counted too."
    fi
}

# Source/Destination sizes of the small-capacity build, if firmware-test ran it.
small_size() { # key
    local f="$FW_TARGET_DIR/small-capacity.out"
    if [ -f "$f" ]; then fw_value "$1" <"$f"; else echo "?"; fi
}

# Flash by origin (demangled symbol prefixes) and the largest functions.
breakdown() { # elf
    local syms
    # "size<TAB>name" for every code and read-only data symbol.
    syms=$("$NM" -C -S "$1" | awk '$3 ~ /^[tTrR]$/ {
            hex = toupper($2); size = 0
            for (i = 1; i <= length(hex); i++) size = size * 16 + index("0123456789ABCDEF", substr(hex, i, 1)) - 1
            name = $0; sub(/^[^ ]+ [^ ]+ [^ ]+ /, "", name)
            printf "%d\t%s\n", size, name }')
    echo "| origin (by symbol name; inlined code counts where it landed) | bytes |"
    echo "|---|--:|"
    awk -F'\t' '{
            name = $2
            if (name ~ /^accord_firmware::lean/ || name ~ /^accord_firmware::__cortex_m_rt_main/) k = "driver, with the accord calls inlined into it (lean.rs, main)"
            else if (name ~ /^accord_firmware/ || name ~ /^(Reset|main|HardFault|DefaultHandler|__INTERRUPTS|__EXCEPTIONS|__RESET_VECTOR|DefaultPreInit|_HardFault)$/) k = "firmware runtime (also in baseline)"
            else if (name ~ /accord_core::wire::msg::((decode|encode|write)_failure|read_detail)/) k = "accord-core: Reject/Abort codec"
            else if (name ~ /accord_core::wire/ || name ~ /Preamble/ || name ~ /serde|postcard/) k = "accord-core: wire codecs, serde, postcard"
            else if (name ~ /accord_core::source::/) k = "accord-core: Source"
            else if (name ~ /accord_core::destination::/) k = "accord-core: Destination"
            else if (name ~ /accord_core|heapless/) k = "accord-core: capabilities, channels, devices, errors"
            else if (name ~ /^(compiler_builtins|__aeabi|memcmp|memcpy|memset|memmove)/) k = "compiler builtins (memcpy, memclr, memcmp)"
            else if (name ~ /^OUTLINED_FUNCTION/) k = "machine outliner (shared code sequences)"
            else k = "Rust core library and other"
            sum[k] += $1
        }
        END { for (k in sum) printf "%d\t%s\n", sum[k], k }' <<<"$syms" |
        sort -t$'\t' -k1,1nr | awk -F'\t' '{ printf "| %s | %d |\n", $2, $1 }'
    echo
    echo "Largest functions:"
    echo
    echo "| function | bytes |"
    echo "|---|--:|"
    sort -t$'\t' -k1,1nr <<<"$syms" | awk -F'\t' '$1 >= 400 {
            f = $2; sub(/::h[0-9a-f]+$/, "", f); gsub(/\|/, "\\|", f)
            printf "| `%s` | %d |\n", f, $1 }'
}

# The small-capacity run, for the types table (accord-core rebuilds).
SMALL=(ACCORD_MAX_DEVICES=8 ACCORD_MAX_CHANNELS=8 ACCORD_MAX_EARLY_CHANNELS=4
    ACCORD_MAX_NAME_LEN=32 ACCORD_EVENT_QUEUE=8)
step "size-report: small capacities (${SMALL[*]})"
for kv in "${SMALL[@]}"; do export "${kv?}"; done
rm -f "$FW_TARGET_DIR/small-capacity.out"
if small_elf=$(CARGO_PROFILE_RELEASE_OPT_LEVEL=z fw_build); then
    fw_run "$small_elf" >"$FW_TARGET_DIR/small-capacity.out" || rm -f "$FW_TARGET_DIR/small-capacity.out"
fi
for kv in "${SMALL[@]}"; do unset "${kv%%=*}"; done

SECTION=$(report)
printf '%s\n' "$SECTION"

if [ "$WRITE" -eq 1 ]; then
    printf '%s\n' "$SECTION" | bash "$ROOT/scripts/results-section.sh"
fi
