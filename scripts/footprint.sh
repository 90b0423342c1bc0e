#!/usr/bin/env bash
# What libaccord.a costs a C program, and what the library needs from it.
#
#   bash scripts/footprint.sh            # print the measurement
#   bash scripts/footprint.sh --check    # and fail if a limit is missed
#   bash scripts/footprint.sh --write    # and put it in bench/RESULTS.md
#
# Builds libaccord.a as it is installed (scripts/build-c-lib.sh; ACCORD_LIB
# names a ready one instead), then links c-tests/minimal.c twice with plain
# flags (no -Wl,--gc-sections, nothing but what `pkg-config --libs accord`
# gives: -L<dir> -laccord):
#   with    against libaccord.a
#   without against stubs: every accord_* function of the header as an empty
#           C function (minimal.c's own code, no accord)
# added = stripped size of "with" minus stripped size of "without".
# Limits (issue 11): added <= 100 KiB; the archive refers to no symbol
# outside itself but these libc functions: LIBC_ALLOWED below.
# --write replaces the "## C library footprint" section of bench/RESULTS.md
# and adds the sizes of Source and Destination at both default capacity sets
# (core/examples/sizes.rs).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
MODE="${1:-}"
LIMIT=102400
LIBC_ALLOWED="abort bcmp memcmp memcpy memmove memset"

LIB="${ACCORD_LIB:-$(bash scripts/build-c-lib.sh)}"
OUT="${CARGO_TARGET_DIR:-$ROOT/target}/footprint"
mkdir -p "$OUT"
CC="${CC:-cc}"

# Without accord: minimal.c against empty stubs of every exported function.
grep -oE '\baccord_[a-z0-9_]+\(' include/accord.h | tr -d '(' | sort -u |
    awk '{ print "void " $1 "(void);\nvoid " $1 "(void) {}" }' >"$OUT/stubs.c"
"$CC" -std=c99 -O2 -w -Iinclude c-tests/minimal.c "$OUT/stubs.c" -o "$OUT/without"
"$CC" -std=c99 -O2 -Iinclude c-tests/minimal.c -L"$(dirname "$LIB")" -laccord -o "$OUT/with"
"$OUT/with" >/dev/null
strip -o "$OUT/with.stripped" "$OUT/with"
strip -o "$OUT/without.stripped" "$OUT/without"
bytes() { stat -c %s "$1"; }
textdata() { size "$1" | awk 'NR == 2 { print $1 + $2 }'; }
WITH=$(bytes "$OUT/with.stripped")
WITHOUT=$(bytes "$OUT/without.stripped")
ADDED=$((WITH - WITHOUT))
ADDED_TD=$(($(textdata "$OUT/with.stripped") - $(textdata "$OUT/without.stripped")))
ARCHIVE=$(bytes "$LIB")

# Symbols the archive needs from outside itself.
nm "$LIB" 2>/dev/null | awk '$1 == "U" { print $2 } NF == 3 && $2 ~ /^[TtWwDdRrBbVv]$/ { print "def " $3 }' |
    sort -u >"$OUT/symbols"
EXTERNAL=$(awk '/^def / { def[$2] = 1; next } { und[$1] = 1 }
    END { for (s in und) if (!(s in def)) print s }' "$OUT/symbols" | sort | tr '\n' ' ')
UNEXPECTED=""
for s in $EXTERNAL; do
    case " $LIBC_ALLOWED " in *" $s "*) ;; *) UNEXPECTED="$UNEXPECTED $s" ;; esac
done

kib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1024 }'; }
verdict() { if [ "$1" -le "$2" ]; then echo "met"; else echo "**missed by $(($1 - $2)) B**"; fi; }

report() {
    echo "## C library footprint"
    echo
    echo "- Command: \`bash scripts/footprint.sh --write\` (libaccord.a from \`scripts/build-c-lib.sh\`: no_std, panic = abort, fat LTO, opt-level s for every crate)"
    echo "- Date: $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet 2>/dev/null || echo ' (modified)')"
    echo "- $(uname -m), $("$CC" --version | head -1), $(ld --version | head -1), rustc $(rustc -V | cut -d' ' -f2)"
    echo "- c-tests/minimal.c linked with only \`-L<libdir> -laccord\` (what \`pkg-config --libs accord\` gives; no \`-Wl,--gc-sections\`), against stubs for the \"without\" build; both stripped."
    echo
    echo "| measure | bytes | limit |"
    echo "|---|--:|---|"
    echo "| minimal.c with libaccord.a, stripped | $WITH | |"
    echo "| minimal.c with empty stubs instead, stripped | $WITHOUT | |"
    echo "| **added by accord** (file size) | **$ADDED** ($(kib "$ADDED") KiB) | <= 100 KiB: $(verdict "$ADDED" $LIMIT) |"
    echo "| added by accord (\`size\` text + data) | $ADDED_TD ($(kib "$ADDED_TD") KiB) | |"
    echo "| libaccord.a archive | $ARCHIVE ($(kib "$ARCHIVE") KiB) | |"
    echo
    echo "Symbols the archive takes from outside itself: \`${EXTERNAL% }\` (allowed: libc's $LIBC_ALLOWED)${UNEXPECTED:+; **unexpected:$UNEXPECTED**}."
    echo "Before (the hosted build linked std): 1,096,744 B added, a 22.6 MB archive."
}

sizes_section() {
    local small hosted
    small=$(cargo run --quiet --release --locked -p accord-core --example sizes)
    hosted=$(cargo run --quiet --release --locked -p accord-core --example sizes --features hosted)
    val() { sed -n "s/^$2=//p" <<<"$1"; }
    echo "### Capacities and state-machine sizes ($(uname -m))"
    echo
    echo "\`cargo run --release -p accord-core --example sizes [--features hosted]\`: the firmware defaults (accord-core alone, firmware/) and the hosted defaults (the \`hosted\` feature, on in libaccord.a). Everything is in the struct: nothing is allocated."
    echo
    echo "| | firmware defaults | hosted defaults (libaccord.a) |"
    echo "|---|--:|--:|"
    local k
    for k in MAX_DEVICES MAX_CHANNELS MAX_EARLY_CHANNELS MAX_NAME_LEN MAX_CAPABILITIES EVENT_QUEUE SIZE_SOURCE SIZE_DESTINATION; do
        echo "| \`$k\` | $(val "$small" $k) | $(val "$hosted" $k) |"
    done
    echo
    local stack
    "$CC" -std=c11 -O2 -Iinclude c-tests/test_capacity.c "$LIB" -o "$OUT/test_capacity"
    stack=$("$OUT/test_capacity" | sed -n 's/^test_capacity: STACK_INIT_BYTES=\([0-9]*\) STACK_MAX_BYTES=\([0-9]*\).*/\1 \2/p')
    echo "Stack at the hosted capacities (c-tests/test_capacity.c on a painted thread stack, -O2): \`accord_source_init\` + \`accord_destination_init\` alone ${stack% *} B, the whole QEMU-scale handshake (256 channels, 256 devices) ${stack#* } B, the test's own frames included. The init functions build the session and move it into the caller's storage, so they take one to two sessions' worth of stack; no other call of the run goes deeper than init did. Fine for QEMU's threads and 1 MiB coroutines; an in-place init in accord-core would remove it."
    echo
    echo "The C handles round these up to 256-byte granules: \`accord_source\` $(sed -n 's/^#define ACCORD_SOURCE_STORAGE_WORDS //p' include/accord.h) words, \`accord_destination\` $(sed -n 's/^#define ACCORD_DESTINATION_STORAGE_WORDS //p' include/accord.h) words (include/accord.h). Give them static storage or a heap block, not a small thread stack."
}

SECTION=$(report)
printf '%s\n' "$SECTION"
if [ "$MODE" = "--write" ]; then
    SECTION="$SECTION"$'\n\n'"$(sizes_section)"
    printf '%s\n' "$SECTION" | bash scripts/results-section.sh
fi
if [ "$MODE" = "--check" ] || [ "$MODE" = "--write" ]; then
    [ "$ADDED" -le "$LIMIT" ] || { echo "footprint: accord adds $ADDED B > $LIMIT B" >&2; exit 1; }
    [ -z "$UNEXPECTED" ] || { echo "footprint: libaccord.a needs$UNEXPECTED from outside" >&2; exit 1; }
fi
