#!/usr/bin/env bash
# The C side of accord's tests: builds libaccord.a (release) and runs
#   1. header: include/accord.h compiles as C99, C11 and C++11, -Werror -pedantic
#   2. coverage: every function the header declares is called by c-tests/test_accord.c
#   3. unit: the cmocka suite
#   4. asan: the suite under ASan+UBSan (a canary proves both catch errors,
#      a test proves their runtimes are linked)
#   5. valgrind: the suite and the minimal program, zero errors
#   6. minimal: a full handshake from a program that includes only accord.h
#      and links only libaccord.a (and libc)
#   7. pkg-config: scripts/install-c.sh into a temporary prefix; the minimal
#      program built with `pkg-config --cflags --libs accord`
#   8. meson: packaging/meson-example built with Meson against that install
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

step "libaccord.a (release)"
cargo build --quiet --release --locked -p accord-ffi
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
LIB="$TARGET_DIR/release/libaccord.a"
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
    # Only libc (and the compiler's own runtime, libgcc_s) may be needed.
    local deps
    deps=$(ldd "$BUILD/minimal" | awk '{print $1}' | grep -vE '^(linux-vdso|/lib64/ld-linux|libc\.so|libgcc_s\.so)' || true)
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
    "$BUILD/minimal-pc"
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
    "$out/accord-minimal"
}

run "header: C99, C11, C++11" "${MAKE[@]}" header
run "coverage: every exported function is tested" coverage
run "unit: cmocka suite" "${MAKE[@]}" unit
run "asan: cmocka suite under ASan+UBSan" "${MAKE[@]}" asan
run "valgrind: cmocka suite and minimal program" "${MAKE[@]}" valgrind
run "minimal: only accord.h + libaccord.a" minimal_only_libc
run "pkg-config: accord.pc" pkgconfig
run "meson: packaging/meson-example" meson_example

printf '\nc-tests: %d passed, %d failed\n' "$PASSED" "$FAILED"
[ "$FAILED" -eq 0 ]
