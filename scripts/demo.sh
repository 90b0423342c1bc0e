#!/usr/bin/env bash
# The main job: a migration handshake between two processes over loopback
# TCP, written in C against libaccord.a (demo/accord_demo.c).
#
#   bash scripts/demo.sh            # both modes
#   bash scripts/demo.sh happy      # the handshake only
#   bash scripts/demo.sh fail       # the fail-fast seed scenarios only
#   MULTIFD=8 bash scripts/demo.sh  # number of multifd channels (default 4)
#
# Mode "happy": a destination process and a source process; the main channel,
# N multifd channels and the postcopy-preempt channel are real sockets on
# 127.0.0.1; three devices, the GPU slow to approve; the timeline shows the
# negotiated capabilities, each channel as it is named, each approval, the
# ack and "switchover allowed after X ms".
# Mode "fail": the seed scenarios (switchover-ack on one side only; a device
# the destination cannot serve): both processes print the same named error
# and exit non-zero within a second.
#
# Needs a Rust toolchain and a C compiler; installs gcc and libc6-dev by
# Debian package name if they are missing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

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

if [ "$#" -gt 0 ]; then modes=("$@"); else modes=(happy fail); fi
status=0
for mode in "${modes[@]}"; do
    timeout 30 "$TARGET_DIR/demo/accord-demo" --multifd "${MULTIFD:-4}" "$mode" || status=1
done
exit "$status"
