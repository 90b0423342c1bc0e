//! QEMU's own migration formats, for peers that do not speak accord.
//!
//! A real QEMU source or destination knows nothing of accord's preamble. To
//! talk to one, accord reproduces the bytes QEMU puts on the wire and the
//! rules QEMU applies to them:
//!
//! - [`stream`]: the main stream header (`QEVM`, version 3) and the
//!   `QEMU_VM_COMMAND` section with its eleven commands;
//! - [`return_path`]: the messages a destination sends back to the source;
//! - [`multifd`]: `MultiFDInit_t`, the 64-byte header of a multifd channel;
//! - [`classify`]: which incoming connection is which, by the rules of each
//!   QEMU version family (peeking at magics, arrival order, and never reading
//!   the postcopy-preempt channel, which sends nothing);
//! - [`vfio`]: the tags of a VFIO device's section body, for reading
//!   captures (accord loads no device state).
//!
//! Everything here is a pure function of its input or a small `Copy` state
//! machine: no I/O, no allocation, no panics, bounded work per call. All
//! multi-byte integers are big-endian. docs/LEGACY.md is the byte-level spec.

pub mod classify;
pub mod multifd;
pub mod return_path;
pub mod stream;
pub mod vfio;

pub use classify::{Classifier, Decision, Family, LegacyConfig};
pub use multifd::MultifdInit;
pub use return_path::{RpMessage, RpType};
pub use stream::{Command, CommandType, PageSizes, RamDiscard, StreamHeader};
pub use vfio::VfioTag;

use crate::error::{Detail, Error, ErrorCode, Result};

/// What a decoder made of the bytes it was given.
///
/// Running out of input is never an error: the peer may simply not have sent
/// the rest yet, so the decoder says how much more it needs and the caller
/// calls again once it has it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Parsed<T> {
    /// A complete item, and how many bytes of the input it used.
    Done(T, usize),
    /// The input ends early: at least this many more bytes are needed.
    Incomplete(usize),
}

impl<T> Parsed<T> {
    /// The item, if complete.
    pub fn done(self) -> Option<T> {
        match self {
            Parsed::Done(t, _) => Some(t),
            Parsed::Incomplete(_) => None,
        }
    }
}

/// `Err(LegacyBadLength)` with the expected and received lengths.
pub(crate) fn bad_length(expected: usize, got: usize) -> Error {
    Error::with(
        ErrorCode::LegacyBadLength,
        Detail::Value {
            expected: sat32(expected),
            got: sat32(got),
        },
    )
}

/// A length as the `u32` of [`Detail::Value`], saturating (payload lengths
/// here come from 16-bit fields, so saturation never shows in practice).
pub(crate) fn sat32(v: usize) -> u32 {
    u32::try_from(v).unwrap_or(u32::MAX)
}

/// Big-endian readers that return `None` instead of panicking.
pub(crate) mod be {
    /// The big-endian `u16` at `at`.
    pub fn u16_at(b: &[u8], at: usize) -> Option<u16> {
        let end = at.checked_add(2)?;
        let s: [u8; 2] = b.get(at..end)?.try_into().ok()?;
        Some(u16::from_be_bytes(s))
    }

    /// The big-endian `u32` at `at`.
    pub fn u32_at(b: &[u8], at: usize) -> Option<u32> {
        let end = at.checked_add(4)?;
        let s: [u8; 4] = b.get(at..end)?.try_into().ok()?;
        Some(u32::from_be_bytes(s))
    }

    /// The big-endian `u64` at `at`.
    pub fn u64_at(b: &[u8], at: usize) -> Option<u64> {
        let end = at.checked_add(8)?;
        let s: [u8; 8] = b.get(at..end)?.try_into().ok()?;
        Some(u64::from_be_bytes(s))
    }
}

/// Sequential writer over a caller's buffer; never panics, reports a short
/// buffer as [`ErrorCode::BufferTooSmall`].
pub(crate) struct Writer<'b> {
    buf: &'b mut [u8],
    at: usize,
}

impl<'b> Writer<'b> {
    /// A writer at the start of `buf`.
    pub fn new(buf: &'b mut [u8]) -> Self {
        Writer { buf, at: 0 }
    }

    /// Append `src`.
    pub fn put(&mut self, src: &[u8]) -> Result<()> {
        let have = self.buf.len();
        let end = self
            .at
            .checked_add(src.len())
            .ok_or_else(|| buffer_too_small(usize::MAX, have))?;
        self.buf
            .get_mut(self.at..end)
            .ok_or_else(|| buffer_too_small(end, have))?
            .copy_from_slice(src);
        self.at = end;
        Ok(())
    }

    /// Append zero bytes up to offset `to` (no-op if already past it).
    pub fn zero_to(&mut self, to: usize) -> Result<()> {
        while self.at < to {
            self.put(&[0])?;
        }
        Ok(())
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.at
    }
}

/// The caller's buffer is too small for `need` bytes.
pub(crate) fn buffer_too_small(need: usize, have: usize) -> Error {
    Error::with(
        ErrorCode::BufferTooSmall,
        Detail::Value {
            expected: sat32(need),
            got: sat32(have),
        },
    )
}

/// Check that `buf` holds `need` bytes, for encoders.
pub(crate) fn ensure_room(buf: &[u8], need: usize) -> Result<()> {
    if buf.len() < need {
        return Err(buffer_too_small(need, buf.len()));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod test_util {
    extern crate std;
    use std::vec::Vec;

    /// Bytes from hex text; spaces and newlines are ignored.
    pub fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(|b| b.is_ascii_hexdigit()).collect();
        assert!(digits.len().is_multiple_of(2), "odd hex digit count");
        digits
            .chunks(2)
            .map(|p| u8::from_str_radix(core::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    }
}
