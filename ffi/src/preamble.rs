//! The 28-byte channel preamble (docs/PROTOCOL.md §3) as a C struct.

use accord_core::{Preamble, VersionRange};

use crate::error::*;
use crate::handle;
use crate::types::*;

/// Preamble flag: this channel replaces a lost one (postcopy recovery).
pub const ACCORD_PREAMBLE_FLAG_REATTACH: u8 = 1;

/// A decoded preamble.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct accord_preamble {
    /// Lowest protocol version the sender speaks.
    pub version_min: u8,
    /// Highest protocol version the sender speaks.
    pub version_max: u8,
    /// `ACCORD_ROLE_*`.
    pub role: accord_role,
    /// `ACCORD_PREAMBLE_FLAG_*` bits.
    pub flags: u8,
    /// Index within the role.
    pub index: u16,
    /// Channels of this role the sender opens.
    pub total: u16,
    /// The migration's session nonce.
    pub nonce: [u8; 16],
}

fn to_c(p: &Preamble) -> accord_preamble {
    accord_preamble {
        version_min: p.versions.min,
        version_max: p.versions.max,
        role: p.role as u8,
        flags: p.flags,
        index: p.index,
        total: p.total,
        nonce: p.nonce,
    }
}

/// A preamble from C, checked exactly as one decoded from the wire (after
/// the role, which C passes as an enum: `ACCORD_ERR_BAD_ENUM` at `position`).
pub(crate) fn preamble_from_c(c: &accord_preamble, position: u16) -> Result<Preamble, Fail> {
    role_from(c.role, position)?;
    Ok(Preamble::from_fields(
        VersionRange::new(c.version_min, c.version_max),
        c.role,
        c.flags,
        c.index,
        c.total,
        c.nonce,
    )?)
}

/// Decode the preamble at the start of `bytes` (`len` bytes; NULL allowed
/// when 0) into `*out`. Returns `ACCORD_NEED_MORE` while fewer than 28 bytes
/// are given (a wrong magic fails as soon as its first byte is seen:
/// `ACCORD_E_BAD_MAGIC`), `ACCORD_OK` when `*out` is filled, or the error
/// (`ACCORD_E_BAD_VERSION_RANGE`, `_UNKNOWN_ROLE`, `_RESERVED_FLAGS`,
/// `_BAD_CHANNEL_INDEX`), whose detail goes to `*error` (may be NULL).
#[no_mangle]
pub extern "C" fn accord_preamble_decode(
    bytes: *const u8,
    len: usize,
    out: *mut accord_preamble,
    error: *mut accord_error_info,
) -> accord_result {
    handle::call(Some((error, 4)), || {
        let o = handle::out_ref(out, 3)?;
        let b = handle::in_bytes(bytes, len, 1)?;
        match Preamble::decode(b)? {
            Some(p) => {
                *o = to_c(&p);
                Ok(ACCORD_OK)
            }
            None => Ok(ACCORD_NEED_MORE),
        }
    })
}

/// Encode `*p` into `out` (28 writable bytes), refusing what a receiver
/// would refuse (unknown role, reserved flags, bad index or versions).
/// `*error` (may be NULL) receives the detail of a refusal.
#[no_mangle]
pub extern "C" fn accord_preamble_encode(
    p: *const accord_preamble,
    out: *mut u8,
    error: *mut accord_error_info,
) -> accord_result {
    handle::call(Some((error, 3)), || {
        let p = preamble_from_c(handle::in_ref(p, 1)?, 1)?;
        let o = handle::out_bytes(out, ACCORD_PREAMBLE_LEN, 2)?;
        o.copy_from_slice(&p.to_bytes());
        Ok(ACCORD_OK)
    })
}
