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
//! [`preamble`], [`legacy`] (QEMU's own formats).
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

#[cfg(feature = "std")]
extern crate std;

// The order of these modules is the order of the header's sections.
pub mod error;
// Shared C structs and integer enums.
pub mod types;
// Storage and pointer checks (no exported functions).
pub mod handle;
// Channel preambles.
pub mod preamble;
// Source sessions.
pub mod source;
// Destination sessions.
pub mod destination;
// QEMU's legacy formats.
pub mod legacy;

pub use error::*;
pub use handle::{accord_destination, accord_legacy_classifier, accord_source};
pub use types::*;

/// Firmware builds (`--no-default-features`) have no std to provide a panic
/// handler. accord-core and this crate are written not to panic; should one
/// survive anyway, stop here rather than return into C with broken state.
#[cfg(all(not(feature = "std"), not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        core::hint::spin_loop();
    }
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
