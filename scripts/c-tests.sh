#!/usr/bin/env bash
# The C side of accord's tests: builds libaccord.a (release) and runs
#   1. header: include/accord.h compiles as C99, C11 and C++11, -Werror -pedantic
#   2. coverage: every function the header declares is called by c-tests/test_accord.c
#      contract: every function has its promises in c-tests/CONTRACT.md, and
#      every test named there exists (scripts/check-contract.sh)
#   3. unit: the cmocka suite
#   4. asan: the suite under ASan+UBSan (a canary proves both catch errors,
#      a test proves their runtimes are linked)
#   5. valgrind: the suite and the minimal program, zero errors
#   6. minimal: a full handshake from a program that includes only accord.h
#      and links only libaccord.a (and libc)
#   6b. capacity: c-tests/test_capacity.c, the hosted maximum end to end
#      (255 multifd + preempt channels before the Hello, 256 devices)
#   7. footprint: libaccord.a adds <= 100 KiB to minimal.c, linked with plain
#      flags, and needs nothing from outside but libc (scripts/footprint.sh)
#   8. pkg-config: scripts/install-c.sh into a temporary prefix; the minimal
#      program built with `pkg-config --cflags --libs accord`, and with
#      `--static` (which must add nothing: libaccord.a needs only libc)
#   9. meson: packaging/meson-example (`dependency('accord', static: true)`)
#      built with Meson against that install, without a warning
# Installs what it needs by Debian package name, idempotently. Last line:
# "c-tests: N passed, N failed".
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

step() { printf '\n=== %s\n' "$*"; }

need=()
for pkg in gcc g++ make libcmocka-dev valgrind pkg-config meson ninja-build; do
    dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    step "installing ${need[*]}"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    # apt-get update only when the package lists do not know a package.
    $SUDO apt-get install -y -qq "${need[@]}" >/dev/null ||
        { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}" >/dev/null; }
fi

step "libaccord.a (release, LTO: scripts/build-c-lib.sh)"
LIB=$(bash scripts/build-c-lib.sh)
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BUILD="$TARGET_DIR/c-tests"
mkdir -p "$BUILD"

PASSED=0
FAILED=0
run() { # name, command...
    local name=$1
    shift
    step "$name"
    if "$@"; then
        PASSED=$((PASSED + 1))
        printf 'ok   %s\n' "$name"
    else
        FAILED=$((FAILED + 1))
        printf 'FAIL %s\n' "$name"
    fi
}
MAKE=(make -s -C c-tests ROOT="$ROOT" LIB="$LIB" BUILD="$BUILD")

coverage() {
    local missing=0 fn
    for fn in $(grep -oE '\baccord_[a-z0-9_]+\(' include/accord.h | tr -d '(' | sort -u); do
        if ! grep -q "\b$fn(" c-tests/test_accord.c; then
            echo "not called by c-tests/test_accord.c: $fn"
            missing=$((missing + 1))
        fi
    done
    local total
    total=$(grep -oE '\baccord_[a-z0-9_]+\(' include/accord.h | sort -u | wc -l)
    echo "coverage: $((total - missing)) of $total exported functions called by the cmocka suite"
    [ "$missing" -eq 0 ]
}

minimal_only_libc() {
    "${MAKE[@]}" minimal || return 1
    # Only libc may be needed (libaccord.a is no_std: no libgcc_s, no libm).
    local deps
    deps=$(ldd "$BUILD/minimal" | awk '{print $1}' | grep -vE '^(linux-vdso|/lib64/ld-linux|libc\.so)' || true)
    if [ -n "$deps" ]; then
        echo "minimal needs more than libc: $deps"
        return 1
    fi
    echo "minimal: linked from accord.h + libaccord.a only; dynamic deps: $(ldd "$BUILD/minimal" | awk '{print $1}' | tr '\n' ' ')"
}

pkgconfig() {
    local prefix="$BUILD/prefix"
    rm -rf "$prefix"
    ACCORD_LIB="$LIB" bash scripts/install-c.sh "$prefix" || return 1
    local lic
    for lic in LICENSE-MIT LICENSE-APACHE; do
        cmp -s "$lic" "$prefix/share/doc/accord/$lic" || { echo "install-c.sh did not install $lic"; return 1; }
    done
    export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
    local want have
    want=$(sed -n 's/^#define ACCORD_VERSION_STRING "\(.*\)"$/\1/p' include/accord.h)
    have=$(pkg-config --modversion accord) || return 1
    [ "$have" = "$want" ] || { echo "accord.pc says $have, the header $want"; return 1; }
    echo "pkg-config --cflags --libs accord: $(pkg-config --cflags --libs accord)"
    # shellcheck disable=SC2046
    cc -std=c99 -Wall -Wextra -Werror -pedantic c-tests/minimal.c \
        $(pkg-config --cflags --libs accord) -o "$BUILD/minimal-pc" || return 1
    "$BUILD/minimal-pc" || return 1
    # A static link needs nothing more: no system library, in Libs or Libs.private.
    local plain static
    plain=$(pkg-config --libs accord | sed 's/ *$//') || return 1
    static=$(pkg-config --libs --static accord | sed 's/ *$//') || return 1
    echo "pkg-config --libs --static accord: $static"
    [ "$static" = "$plain" ] || { echo "--static adds to the plain flags: $static"; return 1; }
    [ "$plain" = "-L$prefix/lib -laccord" ] || { echo "unexpected Libs: $plain"; return 1; }
    # shellcheck disable=SC2046
    cc -std=c99 -Wall -Wextra -Werror -pedantic -static c-tests/minimal.c \
        $(pkg-config --cflags --libs --static accord) -o "$BUILD/minimal-pc-static" || return 1
    "$BUILD/minimal-pc-static"
}

meson_example() {
    local src="$BUILD/meson-src" out="$BUILD/meson-build"
    rm -rf "$src" "$out"
    mkdir -p "$src"
    cp packaging/meson-example/meson.build packaging/meson-example/meson_options.txt "$src/"
    cp c-tests/minimal.c "$src/"
    PKG_CONFIG_PATH="$BUILD/prefix/lib/pkgconfig" meson setup "$out" "$src" >"$BUILD/meson.log" 2>&1 ||
        { cat "$BUILD/meson.log"; return 1; }
    ninja -C "$out" >>"$BUILD/meson.log" 2>&1 || { cat "$BUILD/meson.log"; return 1; }
    # e.g. "WARNING: Static library 'gcc_s' not found for dependency 'accord'"
    if grep -iE 'warning|not found' "$BUILD/meson.log"; then
        echo "meson warned (full log: $BUILD/meson.log)"
        return 1
    fi
    "$out/accord-minimal"
}

run "header: C99, C11, C++11" "${MAKE[@]}" header
run "coverage: every exported function is tested" coverage
run "contract: c-tests/CONTRACT.md maps every function's promises to tests" bash scripts/check-contract.sh
run "unit: cmocka suite" "${MAKE[@]}" unit
run "asan: cmocka suite under ASan+UBSan" "${MAKE[@]}" asan
run "valgrind: cmocka suite and minimal program" "${MAKE[@]}" valgrind
run "minimal: only accord.h + libaccord.a" minimal_only_libc
run "capacity: 255 multifd + preempt early, 256 devices" "${MAKE[@]}" capacity
run "footprint: libaccord.a adds <= 100 KiB, needs only libc" \
    env ACCORD_LIB="$LIB" bash scripts/footprint.sh --check
run "pkg-config: accord.pc, plain and --static" pkgconfig
run "meson: packaging/meson-example, static: true, no warning" meson_example

printf '\nc-tests: %d passed, %d failed\n' "$PASSED" "$FAILED"
[ "$FAILED" -eq 0 ]
