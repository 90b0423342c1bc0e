#!/usr/bin/env bash
# Install QEMU 10.x (x86 system emulator) from Debian's bookworm-backports
# suite, for the interop tests in interop/.
#
# Idempotent: safe to run again and again. It only runs `apt-get update`
# when the backports source entry is new or a package is missing.
#
# The backports entry is DERIVED from the machine's existing Debian deb822
# source file: it copies URIs, Signed-By and Components from the stanza
# that carries the main suite, and sets Suites to bookworm-backports. No
# mirror host is written here.
#
# Needs root (run as root, or with sudo). Exits non-zero, loudly, if the
# installed qemu-system-x86_64 is not version 10.x.
set -euo pipefail

SRC_FILE=${ACCORD_DEBIAN_SOURCES:-/etc/apt/sources.list.d/debian.sources}
BACKPORTS_FILE=/etc/apt/sources.list.d/accord-bookworm-backports.sources
SUITE=bookworm-backports
REQUIRED_MAJOR=10
# qemu-system-x86: the emulator. The rest are what `-M q35` needs to boot
# its firmware (SeaBIOS, option ROMs, keymaps); they are dependencies or
# recommendations of qemu-system-x86, named here so they are installed even
# with --no-install-recommends policies.
PACKAGES=(qemu-system-x86 qemu-system-data seabios ipxe-qemu)

die() { echo "install-qemu.sh: ERROR: $*" >&2; exit 1; }
say() { echo "install-qemu.sh: $*"; }

if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        exec sudo -E bash "$0" "$@"
    fi
    die "must run as root"
fi

APT_OPTS=(-o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
export DEBIAN_FRONTEND=noninteractive

# --- 1. the backports source entry, derived from the existing one ---------
write_backports_entry() {
    [ -r "$SRC_FILE" ] || die "cannot read $SRC_FILE (expected a deb822 Debian source file)"
    # Pick the first stanza whose Suites field lists the plain release
    # (bookworm), not -security: that stanza's URIs serve backports too.
    local entry
    entry=$(awk -v suite="$SUITE" '
        function flush() {
            if (!done && is_main && uris != "") {
                print "Types: deb"
                print "URIs: " uris
                print "Suites: " suite
                print "Components: " (comps != "" ? comps : "main")
                if (signed != "") print "Signed-By: " signed
                done = 1
            }
            uris = ""; comps = ""; signed = ""; is_main = 0
        }
        /^[[:space:]]*$/ { flush(); next }
        /^[[:space:]]*#/ { next }
        {
            line = $0
            key = line; sub(/:.*/, "", key)
            val = line; sub(/^[^:]*:[[:space:]]*/, "", val)
            if (key == "URIs") uris = val
            else if (key == "Components") comps = val
            else if (key == "Signed-By") signed = val
            else if (key == "Suites") {
                n = split(val, s, /[[:space:]]+/)
                for (i = 1; i <= n; i++) if (s[i] == "bookworm") is_main = 1
            }
        }
        END { flush() }
    ' "$SRC_FILE")
    [ -n "$entry" ] || die "no stanza with Suites: bookworm found in $SRC_FILE"
    local tmp
    tmp=$(mktemp)
    {
        echo "# Written by accord scripts/install-qemu.sh, derived from $SRC_FILE."
        echo "$entry"
    } >"$tmp"
    if [ -f "$BACKPORTS_FILE" ] && cmp -s "$tmp" "$BACKPORTS_FILE"; then
        rm -f "$tmp"
        return 1 # unchanged
    fi
    install -m 0644 "$tmp" "$BACKPORTS_FILE"
    rm -f "$tmp"
    say "wrote $BACKPORTS_FILE:"
    sed 's/^/    /' "$BACKPORTS_FILE"
    return 0
}

need_update=0
if write_backports_entry; then
    need_update=1
fi
# A list file for the suite must exist after an update; if none, update.
if ! ls /var/lib/apt/lists/*_dists_${SUITE}_* >/dev/null 2>&1; then
    need_update=1
fi

# --- 2. the packages --------------------------------------------------------
qemu_version() {
    # Prints e.g. "10.0.2" (the upstream part of the version line).
    qemu-system-x86_64 --version 2>/dev/null | head -n1 |
        sed -n 's/.*version \([0-9][0-9]*\(\.[0-9][0-9]*\)*\).*/\1/p'
}

missing=()
for p in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
        missing+=("$p")
    fi
done
ver=$(qemu_version || true)
if [ -n "$ver" ] && [ "${ver%%.*}" != "$REQUIRED_MAJOR" ]; then
    # An older QEMU (e.g. bookworm's 7.2) is installed: upgrade it.
    say "found qemu-system-x86_64 $ver, upgrading to $REQUIRED_MAJOR.x from $SUITE"
    missing+=("${PACKAGES[@]}")
fi

if [ "${#missing[@]}" -gt 0 ]; then
    need_update=1
fi

if [ "$need_update" -eq 1 ]; then
    say "apt-get update"
    apt-get "${APT_OPTS[@]}" update -q
fi

if [ "${#missing[@]}" -gt 0 ]; then
    say "candidate versions:"
    apt-cache policy qemu-system-x86 | sed 's/^/    /'
    say "installing from $SUITE: ${PACKAGES[*]}"
    apt-get "${APT_OPTS[@]}" install -y -q --no-install-recommends \
        -t "$SUITE" "${PACKAGES[@]}"
else
    say "packages already installed: ${PACKAGES[*]}"
fi

# --- 3. check ---------------------------------------------------------------
command -v qemu-system-x86_64 >/dev/null 2>&1 ||
    die "qemu-system-x86_64 not found after install"
ver=$(qemu_version || true)
[ -n "$ver" ] || die "could not read the version of qemu-system-x86_64"
say "qemu-system-x86_64 version $ver ($(dpkg-query -W -f='${Version}' qemu-system-x86))"
if [ "${ver%%.*}" != "$REQUIRED_MAJOR" ]; then
    die "qemu-system-x86_64 is $ver, but $REQUIRED_MAJOR.x is required (is $SUITE enabled?)"
fi
say "ok"
