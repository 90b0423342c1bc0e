#!/usr/bin/env bash
# The main job: a migration handshake between two processes over loopback
# TCP, written in C against libaccord.a (demo/accord_demo.c).
#
#   bash scripts/demo.sh            # both modes
#   bash scripts/demo.sh happy      # the handshake only
#   bash scripts/demo.sh fail       # the fail-fast seed scenarios only
#   bash scripts/demo.sh boards     # two emulated microcontrollers over a UART
#   MULTIFD=8 bash scripts/demo.sh  # number of multifd channels (default 4)
#   bash scripts/demo.sh qemu       # two real QEMU processes (scripts/qemu.sh)
#
# Mode "happy": a destination process and a source process; the main channel,
# N multifd channels and the postcopy-preempt channel are real sockets on
# 127.0.0.1; three devices, the GPU slow to approve; the timeline shows the
# negotiated capabilities, each channel as it is named, each approval, the
# ack and "switchover allowed after X ms".
# Mode "fail": the seed scenarios (switchover-ack on one side only; a device
# the destination cannot serve): both processes print the same named error
# and exit non-zero within a second.
# Mode "boards" (not in the default run): the Source on a Cortex-M0
# (qemu-system-arm -M microbit) and the Destination on a Cortex-M4
# (-M mps2-an386), one firmware image each, over one UART (boards/,
# docs/PROTOCOL.md §12); both boards' defmt logs as one timeline: three
# devices approved on a timer, the ack, the switchover. Then the mismatch:
# the Source requires postcopy-ram, which the Destination board lacks, and
# both end with CapabilityMissingOnDestination within a second.
# Mode "qemu" (not in the default run): the same story from two QEMU 10.2.2 processes with accord's
# patch series (interop/examples/qemu_demo.rs): the timeline of both sides'
# accord trace events, then the mismatch failing fast on both sides.
#
# Needs a Rust toolchain and a C compiler; installs gcc and libc6-dev by
# Debian package name if they are missing (mode "boards": qemu-system-arm
# and two rustup targets instead).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

if [ "${1:-}" = qemu ]; then
    echo "building QEMU with accord's patch series (scripts/qemu.sh, cached) ..."
    ACCORD_QEMU_PATCHED=$(bash scripts/qemu.sh | tail -n1)
    export ACCORD_QEMU_PATCHED
    exec timeout 120 cargo run --quiet --release --locked -p interop --example qemu_demo
fi

if [ "$#" -gt 0 ]; then modes=("$@"); else modes=(happy fail); fi
c_modes=()
boards=0
for mode in "${modes[@]}"; do
    if [ "$mode" = boards ]; then boards=1; else c_modes+=("$mode"); fi
done

if [ "$boards" -eq 1 ] && [ "${#c_modes[@]}" -eq 0 ]; then
    # shellcheck source=boards/scripts/lib.sh
    source "$ROOT/boards/scripts/lib.sh"
    boards_install_tools
    echo "building the two board images and the host tool (boards/) ..."
    boards_build
    status=0
    echo
    echo "=== Source (nRF51, Cortex-M0) and Destination (MPS2 AN386, Cortex-M4) over one UART"
    boards_run --timeout 30 --expect ok || status=1
    echo
    echo "=== Mismatch: the Source requires postcopy-ram, the Destination board has none"
    boards_run --timeout 30 --scenario mismatch --expect 202 --within 1000 || status=1
    exit "$status"
fi

need=()
command -v cc >/dev/null 2>&1 || need+=(gcc)
dpkg -s libc6-dev >/dev/null 2>&1 || need+=(libc6-dev)
if [ "${#need[@]}" -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get install -y -qq "${need[@]}" >/dev/null ||
        { $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need[@]}" >/dev/null; }
fi

echo "building libaccord.a (scripts/build-c-lib.sh) and the C demo ..."
LIB=$(bash scripts/build-c-lib.sh)
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$TARGET_DIR/demo"
cc -std=c11 -Wall -Wextra -Werror -pedantic -O2 -Iinclude demo/accord_demo.c \
    "$LIB" -o "$TARGET_DIR/demo/accord-demo"

status=0
for mode in "${c_modes[@]}"; do
    timeout 30 "$TARGET_DIR/demo/accord-demo" --multifd "${MULTIFD:-4}" "$mode" || status=1
done
if [ "$boards" -eq 1 ]; then
    bash "$ROOT/scripts/demo.sh" boards || status=1
fi
exit "$status"
