#!/usr/bin/env bash
# Builds QEMU 10.2.2's qemu-system-x86_64 with accord's patch series
# (qemu/*.patch, applied in order) and prints the binary's absolute path as
# its last line.
#
#   bash scripts/qemu.sh            # -> /root/.cache/accord/qemu-build/<key>/build/qemu-system-x86_64
#   ACCORD_QEMU_PATCHED=$(bash scripts/qemu.sh | tail -n1)
#
# - Build dependencies are installed idempotently by package name (meson and
#   python3-pycotap from bookworm-backports: QEMU 10 needs meson >= 1.5).
# - The source is Debian's orig tarball from sid. A deb-src entry for sid is
#   DERIVED from the machine's deb822 Debian source file (URIs and Signed-By
#   of the stanza listing bookworm; no host name is written here), so apt
#   fetches and verifies sid's signed Sources index; the tarball's sha256
#   must match both that index and the pin below.
# - With no qemu/*.patch (series not merged yet) stock 10.2.2 is built,
#   without --enable-accord.
# - The build lives in a cache outside the clone, keyed by the sha256 of the
#   series, libaccord's inputs, the configure flags and this script: a rerun
#   with nothing changed only hashes files and takes seconds.
#
# Environment: ACCORD_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/accord),
# ACCORD_QEMU_KEEP (cached builds kept, default 4). Output goes to a log
# file; on failure its tail is printed.
set -Eeuo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

QEMU_VERSION=10.2.2
DEB_SOURCE_VERSION=1:10.2.2+ds-1
ORIG=qemu_${QEMU_VERSION}+ds.orig.tar.xz
ORIG_SHA256=be05230fe47a6937cd29f28f562932c8125f9c93c2a82c625198f7a4aa601dfb
SRC_FILE=${ACCORD_DEBIAN_SOURCES:-/etc/apt/sources.list.d/debian.sources}
SID_FILE=/etc/apt/sources.list.d/accord-sid-src.sources
BUILD_DEPS=(ninja-build libglib2.0-dev libfdt-dev libpixman-1-dev pkg-config flex bison
    device-tree-compiler ccache bzip2 xz-utils python3 curl)
BACKPORTS_DEPS=(meson python3-pycotap)

CACHE=${ACCORD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/accord}
SRC_CACHE=$CACHE/qemu-src
BUILDS=$CACHE/qemu-build
mkdir -p "$SRC_CACHE" "$BUILDS"
LOG=$BUILDS/qemu.sh.log
: >"$LOG"

say() { echo "qemu.sh: $*" >>"$LOG"; }
die() {
    echo "qemu.sh: ERROR: $*" >&2
    echo "qemu.sh: last lines of $LOG:" >&2
    tail -n 40 "$LOG" >&2
    exit 1
}
run() { say "+ $*"; "$@" >>"$LOG" 2>&1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then run "$@"; else run sudo -E "$@"; fi; }
trap 'die "failed at line $LINENO"' ERR

APT_OPTS=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
export DEBIAN_FRONTEND=noninteractive

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q '^install ok installed$'; }

# --- 1. build dependencies ----------------------------------------------------
deps() {
    local missing=() bp_missing=() p
    for p in "${BUILD_DEPS[@]}"; do installed "$p" || missing+=("$p"); done
    for p in "${BACKPORTS_DEPS[@]}"; do installed "$p" || bp_missing+=("$p"); done
    if [ "${#missing[@]}" -eq 0 ] && [ "${#bp_missing[@]}" -eq 0 ]; then
        return
    fi
    # install-qemu.sh writes the bookworm-backports entry (and installs the
    # stock QEMU 10.0 the interop tests use as the old peer).
    run bash "$ROOT/scripts/install-qemu.sh"
    as_root apt-get "${APT_OPTS[@]}" update -q
    [ "${#missing[@]}" -eq 0 ] ||
        as_root apt-get "${APT_OPTS[@]}" install -y -q --no-install-recommends "${missing[@]}"
    [ "${#bp_missing[@]}" -eq 0 ] ||
        as_root apt-get "${APT_OPTS[@]}" install -y -q --no-install-recommends \
            -t bookworm-backports "${bp_missing[@]}"
}

# --- 2. the source tarball, checked against sid's signed Sources index -------
# Prints a deb822 deb-src stanza for sid made from the URIs and Signed-By of
# the first stanza of $SRC_FILE whose Suites lists bookworm.
sid_stanza() {
    awk '
        function flush() {
            if (!done && hit && uris != "") {
                print "Types: deb-src"; print "URIs: " uris; print "Suites: sid"
                print "Components: main"
                if (signed != "") print "Signed-By: " signed
                done = 1
            }
            uris = ""; signed = ""; hit = 0
        }
        /^[[:space:]]*$/ { flush(); next }
        /^[[:space:]]*#/ { next }
        /^URIs:/ { uris = $0; sub(/^URIs:[[:space:]]*/, "", uris) }
        /^Signed-By:/ { signed = $0; sub(/^Signed-By:[[:space:]]*/, "", signed) }
        /^Suites:/ { for (i = 2; i <= NF; i++) if ($i == "bookworm") hit = 1 }
        END { flush() }
    ' "$SRC_FILE"
}

# Prints "<sha256> <Directory> <first URI>" for $ORIG from apt's sid Sources.
index_entry() {
    apt-cache showsrc qemu 2>/dev/null | awk -v ver="$DEB_SOURCE_VERSION" -v f="$ORIG" '
        /^Package:/ { inpkg = 0 }
        /^Version:/ { inpkg = ($2 == ver) }
        inpkg && /^Directory:/ { dir = $2 }
        /^[A-Z]/ { sect = $1 }
        inpkg && sect == "Checksums-Sha256:" && $3 == f { sha = $1 }
        END { if (sha != "") print sha, dir }
    '
}

fetch_source() {
    local tarball=$SRC_CACHE/$ORIG entry stanza tmp
    [ -r "$SRC_FILE" ] || die "cannot read $SRC_FILE (a deb822 Debian source file)"
    stanza=$(sid_stanza)
    [ -n "$stanza" ] || die "no stanza with Suites: bookworm in $SRC_FILE"
    tmp=$(mktemp)
    printf '# Written by accord scripts/qemu.sh, derived from %s.\n%s\n' "$SRC_FILE" "$stanza" >"$tmp"
    if ! { [ -f "$SID_FILE" ] && cmp -s "$tmp" "$SID_FILE"; }; then
        as_root install -m 0644 "$tmp" "$SID_FILE"
        rm -f /var/lib/apt/lists/*_dists_sid_*Sources* 2>/dev/null || true
    fi
    rm -f "$tmp"
    if ! ls /var/lib/apt/lists/*_dists_sid_main_source_Sources* >/dev/null 2>&1; then
        as_root apt-get "${APT_OPTS[@]}" update -q
    fi
    entry=$(index_entry)
    [ -n "$entry" ] || die "sid's Sources index does not list $ORIG for qemu $DEB_SOURCE_VERSION"
    set -- $entry
    [ "$1" = "$ORIG_SHA256" ] ||
        die "sid's Sources index gives sha256 $1 for $ORIG, the pin says $ORIG_SHA256"
    say "sid's Sources index lists $ORIG with the pinned sha256, in $2"
    if [ ! -f "$tarball" ] || [ "$(sha256sum <"$tarball" | cut -d' ' -f1)" != "$ORIG_SHA256" ]; then
        local uri
        uri=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' "$SID_FILE" | head -n1)
        run curl -fsSL --retry 3 -o "$tarball.part" "$uri/$2/$ORIG"
        mv "$tarball.part" "$tarball"
    fi
    [ "$(sha256sum <"$tarball" | cut -d' ' -f1)" = "$ORIG_SHA256" ] ||
        die "$tarball does not have sha256 $ORIG_SHA256"
    say "$tarball: sha256 ok"
}

# --- 3. the cache key ----------------------------------------------------------
shopt -s nullglob
PATCHES=("$ROOT"/qemu/*.patch)
shopt -u nullglob
CONFIGURE=(--python=/usr/bin/python3 --target-list=x86_64-softmmu --without-default-features
    --enable-tcg --disable-kvm --disable-docs --disable-tools --disable-user
    --disable-install-blobs --enable-werror --enable-trace-backends=log)

key_inputs() {
    echo "orig $ORIG_SHA256"
    echo "configure ${CONFIGURE[*]} accord=${#PATCHES[@]}"
    echo "rustc $(rustc -V 2>/dev/null || true)"
    local f
    for f in "${PATCHES[@]}"; do echo "patch ${f##*/} $(sha256sum <"$f")"; done
    # libaccord's inputs, and this script.
    while IFS= read -r f; do echo "file $f $(sha256sum <"$f")"; done < <(
        find core/src ffi/src core/Cargo.toml core/build.rs ffi/Cargo.toml ffi/build.rs \
            Cargo.toml Cargo.lock include/accord.h packaging/accord.pc.in \
            scripts/install-c.sh scripts/qemu.sh -type f | LC_ALL=C sort)
}
KEY=$(key_inputs | sha256sum | cut -c1-20)
DIR=$BUILDS/$KEY
BIN=$DIR/build/qemu-system-x86_64

# One build per key at a time; a second caller waits, then finds it done.
exec 9>"$BUILDS/$KEY.lock"
flock 9
if [ -f "$DIR/ok" ] && [ -x "$BIN" ]; then
    touch "$DIR/ok"
    echo "$BIN"
    exit 0
fi

LOG=$DIR.log
: >"$LOG"
say "building key $KEY with ${#PATCHES[@]} patches; log $LOG"
deps
command -v meson >/dev/null && meson --version | awk -F. '{ exit !($1 > 1 || ($1 == 1 && $2 >= 5)) }' ||
    die "meson >= 1.5 is needed (bookworm-backports)"
fetch_source

# --- 4. unpack, patch, configure, build --------------------------------------
rm -rf "$DIR"
mkdir -p "$DIR"
run tar -xJf "$SRC_CACHE/$ORIG" -C "$DIR"
mv "$DIR/qemu-$QEMU_VERSION" "$DIR/src"
cd "$DIR/src"
for p in "${PATCHES[@]}"; do
    run git apply --whitespace=nowarn "$p" || die "patch ${p##*/} does not apply"
done
# The +ds repack drops the edk2 firmware that pc-bios/meson.build lists
# whenever bzip2 is found: empty placeholders (not installed, not used).
for fd in $(sed -n "s/^ *'\(edk2-[^']*\.fd\)',\$/\1/p" pc-bios/meson.build); do
    [ -e "pc-bios/$fd.bz2" ] || bzip2 -c </dev/null >"pc-bios/$fd.bz2"
done

ACCORD_FLAGS=()
if grep -q "option('accord'" meson_options.txt; then
    run bash "$ROOT/scripts/install-c.sh" "$DIR/accord"
    ACCORD_FLAGS=(--enable-accord)
fi
mkdir -p "$DIR/build"
cd "$DIR/build"
# ccache: hits across cache keys (different directories) as well.
export CCACHE_BASEDIR=$DIR CCACHE_NOHASHDIR=1
PATH=/usr/lib/ccache:$PATH PKG_CONFIG_PATH=$DIR/accord/lib/pkgconfig \
    run nice -n 10 ../src/configure "${CONFIGURE[@]}" "${ACCORD_FLAGS[@]}"
PATH=/usr/lib/ccache:$PATH run nice -n 10 ninja qemu-system-x86_64
run "$BIN" --version
# Only the binary is needed from here on: drop the sources.
rm -rf "$DIR/src"
echo "$BIN" >"$DIR/ok"

# Keep the newest ACCORD_QEMU_KEEP builds.
ls -1t "$BUILDS"/*/ok 2>/dev/null | tail -n +$((${ACCORD_QEMU_KEEP:-4} + 1)) | while read -r old; do
    rm -rf "$(dirname "$old")" "$(dirname "$old").log"
done
say "built $BIN"
echo "$BIN"
