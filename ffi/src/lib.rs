//! C API of accord. Filled in by the C API issue; the crate exists now so the
//! workspace shape (core, ffi, bench) is fixed from the start.

/// Library version, as the C API will report it.
pub const VERSION: &str = accord_core::VERSION;
