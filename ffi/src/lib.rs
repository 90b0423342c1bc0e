//! accord's C API: `libaccord.a` and `include/accord.h`.
//!
//! Every session lives in storage the caller provides (`accord_source`,
//! `accord_destination`: opaque arrays of `uint64_t`, sized in the header);
//! nothing is allocated, nothing calls back, nothing panics into C. Every
//! function returns an `int32_t` result code (`ACCORD_OK`, an `ACCORD_E_*`
//! protocol code from docs/PROTOCOL.md §9, or an `ACCORD_ERR_*` code of the C
//! boundary itself); `accord_*_last_error` gives the detail.
//!
//! Layout: [`handle`] (storage and its checks), [`error`] (codes, strings,
//! detail), [`types`] (the plain C structs), [`source`], [`destination`],
//! [`preamble`], [`legacy`] (QEMU's own formats); `session` holds what
//! the two session modules share.
#![no_std]
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(clippy::undocumented_unsafe_blocks)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]
// The exported functions are the C API: they take raw pointers from C and
// check them (NULL, alignment, initialisation) before use, as rustls-ffi does.
#![allow(clippy::not_unsafe_ptr_arg_deref)]
// C names: accord_source, accord_event, ...
#![allow(non_camel_case_types)]

// std is linked unless this build brings its own runtime (ffi/build.rs:
// bare-metal targets and the C library of scripts/build-c-lib.sh).
#[cfg(not(accord_own_runtime))]
extern crate std;

// The order of these modules is the order of the header's sections.
pub mod error;
// Shared C structs and integer enums.
pub mod types;
// Storage and pointer checks (no exported functions).
pub mod handle;
// Channel preambles.
pub mod preamble;
// What source and destination calls share (no exported items).
mod session;
// Source sessions.
pub mod source;
// Destination sessions.
pub mod destination;
// QEMU's legacy formats.
pub mod legacy;

pub use error::*;
pub use handle::{accord_destination, accord_legacy_classifier, accord_source};
pub use types::*;

/// libaccord.a (scripts/build-c-lib.sh) and bare-metal builds are without
/// std: a C program then links only accord's own code, and this handler
/// replaces std's. accord-core and this crate are written not to
/// panic; should one survive anyway, stop the process here, without
/// formatting a message and without unwinding into C. The release profile
/// sets `panic = "abort"`, so no landing pads exist either.
#[cfg(all(accord_own_runtime, not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    abort()
}

/// Hosted targets: libc's `abort()` (SIGABRT, a core dump, the C program's
/// own handlers), which every C program that links libaccord.a has.
#[cfg(all(accord_own_runtime, not(test), not(target_os = "none")))]
fn abort() -> ! {
    extern "C" {
        fn abort() -> !;
    }
    // SAFETY: abort() takes no arguments and never returns; every hosted C
    // runtime provides it.
    unsafe { abort() }
}

/// Bare-metal targets: no libc to call; park the core.
#[cfg(all(accord_own_runtime, not(test), target_os = "none"))]
fn abort() -> ! {
    loop {
        core::hint::spin_loop();
    }
}

// Rust's precompiled `core` and `compiler_builtins` for hosted targets are
// built to unwind, and some of their objects refer to `rust_eh_personality`,
// which std would define. A program that pulls such an object in (a plain
// `cargo build` archive without LTO always does; the LTO archive for some
// compiler builtins) needs a definition. This one is weak, so std's own wins
// when a program also links a Rust library with std, and it aborts: nothing
// in accord unwinds (panic = "abort"), so it is never called. ELF targets
// only (`.weak`/`.set` are ELF directives): every Linux host QEMU runs on.
#[cfg(all(accord_own_runtime, not(test), target_os = "linux"))]
core::arch::global_asm!(
    ".weak rust_eh_personality",
    ".set rust_eh_personality, {personality}",
    personality = sym eh_personality,
);

/// The body of the weak `rust_eh_personality` above.
#[cfg(all(accord_own_runtime, not(test), target_os = "linux"))]
extern "C" fn eh_personality() -> ! {
    abort()
}

/// Library version, as `accord_version()` reports it.
pub const VERSION: &str = accord_core::VERSION;

/// NUL-terminated copy of [`VERSION`], built at compile time.
// Evaluated at compile time only: an out-of-range index fails the build.
#[allow(clippy::indexing_slicing)]
const VERSION_C: [u8; VERSION.len() + 1] = {
    let mut b = [0u8; VERSION.len() + 1];
    let v = VERSION.as_bytes();
    let mut i = 0;
    while i < v.len() {
        b[i] = v[i];
        i += 1;
    }
    b
};

// Evaluated at compile time only: an out-of-range index fails the build.
#[allow(clippy::indexing_slicing)]
const fn version_part(n: usize) -> u32 {
    let v = VERSION.as_bytes();
    let (mut i, mut part, mut val) = (0, 0, 0u32);
    while i < v.len() {
        let c = v[i];
        if c == b'.' {
            part += 1;
        } else if c >= b'0' && c <= b'9' {
            if part == n {
                val = val * 10 + (c - b'0') as u32;
            }
        } else {
            break;
        }
        i += 1;
    }
    val
}

/// The library's version string, e.g. "0.1.0" (static, NUL-terminated).
/// Compare with `ACCORD_VERSION_STRING` to detect a header that does not
/// match the linked library.
#[no_mangle]
pub extern "C" fn accord_version() -> *const core::ffi::c_char {
    VERSION_C.as_ptr().cast()
}

/// The library's version as one number: `major << 16 | minor << 8 | patch`,
/// the same encoding as `ACCORD_VERSION_NUMBER` in the header.
#[no_mangle]
pub extern "C" fn accord_version_number() -> u32 {
    (version_part(0) << 16) | (version_part(1) << 8) | version_part(2)
}
