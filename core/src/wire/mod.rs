//! accord's wire format: the fixed [`preamble`] every channel starts with, and
//! the length-delimited [`frame`]s of the main channel with postcard payloads
//! ([`msg`]). docs/PROTOCOL.md specifies every byte; its hex examples are tests.

pub mod frame;
pub mod msg;
pub mod preamble;
mod ser;

use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorCode, Result};

/// Reads postcard values one at a time from a payload, so that lists are
/// walked in place instead of being collected on the stack.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    buf: &'a [u8],
}

// By hand, as lengths: the bytes themselves may be a whole frame.
#[cfg(feature = "defmt")]
impl defmt::Format for Reader<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(f, "Reader {{ remaining: {=usize} }}", self.buf.len())
    }
}

#[cfg(feature = "defmt")]
impl defmt::Format for Writer<'_> {
    fn format(&self, f: defmt::Formatter<'_>) {
        defmt::write!(
            f,
            "Writer {{ written: {=usize}, capacity: {=usize} }}",
            self.pos,
            self.buf.len()
        )
    }
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub const fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Decode the next value.
    pub fn take<T: Deserialize<'a>>(&mut self) -> Result<T> {
        let (v, rest) = postcard::take_from_bytes::<T>(self.buf).map_err(|_| malformed())?;
        self.buf = rest;
        Ok(v)
    }

    /// Decode a list length (postcard's varint) and refuse one above `max`.
    pub fn len(&mut self, max: usize) -> Result<usize> {
        let n: u32 = self.take()?;
        let n = n as usize;
        if n > max {
            return Err(Error::with(
                ErrorCode::CapacityExceeded,
                crate::error::Detail::Value {
                    expected: max as u32,
                    got: n as u32,
                },
            ));
        }
        Ok(n)
    }

    /// Succeed only if every byte was used: trailing bytes are malformed.
    pub fn finish(self) -> Result<()> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(malformed())
        }
    }
}

/// Writes postcard values one at a time into a caller's buffer.
#[derive(Debug)]
pub struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    /// A writer over `buf`, starting at its beginning.
    pub fn new(buf: &'a mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    /// Encode one value after the ones already written.
    pub fn put<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<()> {
        let rest = self
            .buf
            .get_mut(self.pos..)
            .ok_or(Error::new(ErrorCode::BufferTooSmall))?;
        let used = ser::to_slice(v, rest).map_err(|_| Error::new(ErrorCode::BufferTooSmall))?;
        self.pos = self
            .pos
            .checked_add(used)
            .ok_or(Error::new(ErrorCode::BufferTooSmall))?;
        Ok(())
    }

    /// Encode a list length.
    pub fn len(&mut self, n: usize) -> Result<()> {
        let n = u32::try_from(n).map_err(|_| Error::new(ErrorCode::FrameTooLarge))?;
        self.put(&n)
    }

    /// Bytes written so far.
    pub const fn position(&self) -> usize {
        self.pos
    }
}

pub(crate) const fn malformed() -> Error {
    Error::new(ErrorCode::MalformedPayload)
}
