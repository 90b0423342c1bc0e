#!/usr/bin/env bash
# Installs accord for C users: PREFIX/lib/libaccord.a, PREFIX/include/accord.h,
# PREFIX/lib/pkgconfig/accord.pc (from packaging/accord.pc.in) and the license
# texts (LICENSE-MIT, LICENSE-APACHE) under PREFIX/share/doc/accord/.
#
#   bash scripts/install-c.sh /usr/local      # then: pkg-config --libs accord
#
# Builds the library first (scripts/build-c-lib.sh) unless ACCORD_LIB names one.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX="${1:-/usr/local}"
cd "$ROOT"
LIB="${ACCORD_LIB:-}"
if [ -z "$LIB" ]; then
    LIB=$(bash scripts/build-c-lib.sh)
fi
VERSION=$(sed -n 's/^#define ACCORD_VERSION_STRING "\(.*\)"$/\1/p' include/accord.h)
install -d "$PREFIX/lib/pkgconfig" "$PREFIX/include" "$PREFIX/share/doc/accord"
install -m 0644 "$LIB" "$PREFIX/lib/libaccord.a"
install -m 0644 include/accord.h "$PREFIX/include/accord.h"
# MIT OR Apache-2.0: a program that links libaccord.a ships these notices.
install -m 0644 LICENSE-MIT LICENSE-APACHE "$PREFIX/share/doc/accord/"
sed -e "s|@PREFIX@|$PREFIX|" -e 's|@LIBDIR@|${prefix}/lib|' \
    -e 's|@INCLUDEDIR@|${prefix}/include|' -e "s|@VERSION@|$VERSION|" \
    packaging/accord.pc.in >"$PREFIX/lib/pkgconfig/accord.pc"
echo "installed accord $VERSION under $PREFIX"
