# Shared by scripts/firmware-test.sh and scripts/size-report.sh; sourced
# with the repository root as the working directory and $ROOT set.
# shellcheck shell=bash

# Targets accord-core must build for: Cortex-M0/M0+ (no atomics CAS),
# Cortex-M4F, and a RISC-V microcontroller.
FW_CORE_TARGETS=(thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imac-unknown-none-elf)
FW_TARGET=thumbv7em-none-eabihf
# QEMU's MPS2 AN386 board: a Cortex-M4, as the target's FPU code needs
# (lm3s6965evb is a Cortex-M3: no FPU, no DSP instructions).
FW_QEMU_MACHINE=mps2-an386
FW_QEMU_CPU=cortex-m4
QEMU_TIMEOUT=${QEMU_TIMEOUT:-60}
HOST_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
FW_TARGET_DIR=${FW_TARGET_DIR:-$ROOT/firmware/target}

# defmt builds compile every accord log call in (defmt's default filter
# keeps only errors). Only crates built with defmt read it, so one value for
# every build keeps the two scripts' builds shared and incremental.
export DEFMT_LOG=${DEFMT_LOG:-trace}

step() { printf '\n=== [%ds] %s\n' "$SECONDS" "$*" >&2; }

_as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# Install a Debian package by name unless its command is already there.
# `apt-get update` runs only if the install fails on stale or empty lists.
_apt_install() { # package command
    command -v "$2" >/dev/null 2>&1 && return 0
    export DEBIAN_FRONTEND=noninteractive
    _as_root apt-get install -y --no-install-recommends "$1" >&2 && return 0
    _as_root apt-get update >&2
    _as_root apt-get install -y --no-install-recommends "$1" >&2 && return 0
    # A QEMU from another suite (e.g. bookworm-backports' qemu-system-x86)
    # pins qemu-system-common; take the package of the same version.
    local v
    v=$(dpkg-query -W -f='${Version}' qemu-system-common 2>/dev/null || true)
    [ -n "$v" ] && _as_root apt-get install -y --no-install-recommends "$1=$v" >&2
}

# Everything the firmware scripts need, idempotently. Sets NM and SIZE.
fw_install_tools() {
    step "tools: qemu-system-arm, rustup targets, llvm-tools"
    _apt_install qemu-system-arm qemu-system-arm
    local installed missing=()
    installed=$(rustup target list --installed)
    for t in "${FW_CORE_TARGETS[@]}"; do
        grep -qx "$t" <<<"$installed" || missing+=("$t")
    done
    [ "${#missing[@]}" -eq 0 ] || rustup target add "${missing[@]}" >&2
    local bin
    bin="$(rustc --print sysroot)/lib/rustlib/$(rustc -vV | sed -n 's/^host: //p')/bin"
    [ -x "$bin/llvm-nm" ] || rustup component add llvm-tools >&2 || true
    # rustup's llvm-nm matches rustc's LLVM, so it also reads the bitcode-only
    # objects that LTO leaves in rlibs; binutils' nm reads only ELF objects.
    if [ -x "$bin/llvm-nm" ]; then NM="$bin/llvm-nm"; else NM=nm; fi
    if [ -x "$bin/llvm-size" ]; then SIZE="$bin/llvm-size"; else SIZE=size; fi
    qemu-system-arm --version | head -1 >&2
}

# Fail (return 1) if the object, archive or ELF at $1 defines or references
# an allocator symbol. Rust mangles its allocator shims into the `__rustc`
# namespace (`__rustc::__rust_alloc`), so names are matched demangled, as a
# whole name or a final `::` path segment; C allocator names match exactly
# (`cortex_m::interrupt::free` is not `free`). Reusable for any artifact,
# e.g. target/<T>/release/libaccord.a once accord-ffi exists.
check_no_alloc() { # path
    local path=$1 names bad
    if [ ! -f "$path" ]; then
        printf 'no-alloc: %s does not exist\n' "$path" >&2
        return 1
    fi
    # One demangled name a line (archive member headers like "x.o:" too,
    # which match nothing below).
    names=$("$NM" -C --format=just-symbols "$path" 2>/dev/null | grep -v '^$' || true)
    if [ -z "$names" ]; then
        printf 'no-alloc: no symbols could be read from %s (tool: %s)\n' "$path" "$NM" >&2
        return 1
    fi
    bad=$(grep -E '(^|::)(__rust_(alloc|dealloc|realloc|alloc_zeroed|alloc_error_handler|no_alloc_shim_is_unstable[A-Za-z0-9_]*)|__rg_[A-Za-z0-9_]+|__rdl_[A-Za-z0-9_]+)$|^(malloc|calloc|realloc|free|_malloc_r|_free_r|_calloc_r|_realloc_r)$|^alloc::' <<<"$names" | sort -u || true)
    if [ -n "$bad" ]; then
        printf 'no-alloc: %s has allocator symbols:\n%s\n' "$path" "$bad" >&2
        return 1
    fi
    printf 'no-alloc: %s: %d symbols, no allocator\n' "$path" "$(wc -l <<<"$names")" >&2
}

# Build the firmware in release with extra cargo arguments (e.g. --features
# defmt); print the ELF's path. Cargo must run inside firmware/ so that
# firmware/.cargo/config.toml (target, runner) applies.
fw_build() { # cargo args...
    (cd "$ROOT/firmware" && CARGO_TARGET_DIR="$FW_TARGET_DIR" cargo build --release --locked "$@" >&2) || return 1
    printf '%s\n' "$FW_TARGET_DIR/$FW_TARGET/release/accord-firmware"
}

# Run an ELF under QEMU with semihosting; its stdout is the firmware's
# report, the return status is QEMU's (= the firmware's SYS_EXIT status;
# 124 if `timeout` had to stop it). Its stderr (defmt frames) goes to $2.
fw_run() { # elf [stderr-file]
    timeout "$QEMU_TIMEOUT" qemu-system-arm -cpu "$FW_QEMU_CPU" -machine "$FW_QEMU_MACHINE" \
        -nographic -monitor none -serial none \
        -semihosting-config enable=on,target=native -kernel "$1" </dev/null 2>"${2:-/dev/null}"
}

# Whether accord-ffi can build as an embedded static library: it has a `std`
# feature (opt-in), i.e. the crate is no_std without it.
ffi_is_embeddable() {
    sed -n '/^\[features\]/,/^\[/p' "$ROOT/ffi/Cargo.toml" | grep -qE '^std[[:space:]]*='
}

# The value of KEY=VALUE in the report on stdin.
fw_value() { # key
    sed -n "s/^$1=//p" | head -1
}

# When the no-panic proof fails, say where: rebuild the same variant with the
# allow-panic handler and list the functions whose code still branches to a
# panic entry point (core::panicking::*, *_fail, panic_already_borrowed...).
# Run with the same environment (opt-level) as the failed build.
fw_panic_report() { # cargo args of the failed build...
    local elf objdump
    objdump="$(dirname "$NM")/llvm-objdump"
    [ -x "$objdump" ] || objdump=llvm-objdump
    local feats=()
    local a
    for a in "$@"; do
        case $a in --features) ;; *) feats+=("$a") ;; esac
    done
    if ! elf=$(fw_build --features "${feats[*]:+${feats[*]} }allow-panic" 2>/dev/null); then
        echo "  (the allow-panic build fails too: not a panic-path problem)"
        return 0
    fi
    echo "  functions that can still panic (demangled):"
    "$objdump" -d -C --no-show-raw-insn "$elf" | awk '
        /^[0-9a-f]+ <.*>:$/ { fn = $0; sub(/^[0-9a-f]+ </, "", fn); sub(/>:$/, "", fn); next }
        /\tb(l|\.w|lx)?\t/ && /<[^>]*(panic|_fail|already_borrowed|unwrap_failed|expect_failed)[^>]*>/ {
            if (fn !~ /panic|_fail|already_borrowed|rust_begin_unwind/) print "    " fn
        }' | sort -u
}
