# Shared by scripts/boards-test.sh and scripts/demo.sh (mode "boards");
# sourced with $ROOT set. Builds the two board images and the host tool.
# shellcheck shell=bash

BOARDS_DIR="$ROOT/boards"
BOARDS_TARGET_DIR=${BOARDS_TARGET_DIR:-$BOARDS_DIR/target}
BOARDS_SRC_TARGET=thumbv6m-none-eabi
BOARDS_DST_TARGET=thumbv7em-none-eabihf
SRC_ELF="$BOARDS_TARGET_DIR/$BOARDS_SRC_TARGET/release/source"
DST_ELF="$BOARDS_TARGET_DIR/$BOARDS_DST_TARGET/release/destination"
BOARDS_HOST_TARGET_DIR=${BOARDS_HOST_TARGET_DIR:-$BOARDS_DIR/host/target}
BOARDS_HOST="$BOARDS_HOST_TARGET_DIR/release/boards"

# qemu-system-arm (Debian) and the two rustup targets, idempotently.
boards_install_tools() {
    if ! command -v qemu-system-arm >/dev/null 2>&1; then
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        export DEBIAN_FRONTEND=noninteractive
        $sudo apt-get install -y --no-install-recommends qemu-system-arm >&2 ||
            { $sudo apt-get update >&2 && $sudo apt-get install -y --no-install-recommends qemu-system-arm >&2; }
    fi
    local installed
    installed=$(rustup target list --installed)
    for t in $BOARDS_SRC_TARGET $BOARDS_DST_TARGET; do
        grep -qx "$t" <<<"$installed" || rustup target add "$t" >&2
    done
}

# Build both images (release: the link is the no-panic proof) and the host
# tool. Cargo runs inside boards/ so that boards/.cargo/config.toml (the
# capacities, DEFMT_LOG) applies.
boards_build() {
    (cd "$BOARDS_DIR" &&
        CARGO_TARGET_DIR="$BOARDS_TARGET_DIR" cargo build --release --locked -q \
            --bin source --target "$BOARDS_SRC_TARGET" >&2 &&
        CARGO_TARGET_DIR="$BOARDS_TARGET_DIR" cargo build --release --locked -q \
            --bin destination --target "$BOARDS_DST_TARGET" >&2) || return 1
    (cd "$BOARDS_DIR/host" &&
        CARGO_TARGET_DIR="$BOARDS_HOST_TARGET_DIR" cargo build --release --locked -q >&2) || return 1
}

# Run both boards; arguments go to the host tool (see boards/host/src/main.rs).
boards_run() {
    "$BOARDS_HOST" --source "$SRC_ELF" --destination "$DST_ELF" "$@"
}
