//! accord's wire format: the fixed [`preamble`] every channel starts with, and
//! the length-delimited [`frame`]s of the main channel with postcard payloads
//! ([`msg`]). docs/PROTOCOL.md specifies every byte; its hex examples are tests.
//!
//! [`Reader`] and [`Writer`] are the one codec: the state machines, the C
//! API, accord-inspect and the fuzz targets all decode and encode through
//! them. postcard defines the format and is the conformance oracle: the
//! tests and fuzz targets compare this codec with it byte for byte.

pub mod frame;
pub mod msg;
pub mod preamble;

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

    /// Decode a list length (a `u32` varint, §5.1) and refuse one above `max`.
    pub fn len(&mut self, max: usize) -> Result<usize> {
        let n = self.u32().ok_or(malformed())? as usize;
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

    // The readers below accept and refuse exactly what postcard does for the
    // same type (tested against postcard in msg.rs), with one exception: a
    // length is a `u32` on every platform (postcard reads a `usize`, up to
    // 10 bytes on a 64-bit host). A failed read (`None`: the caller reports
    // MalformedPayload) leaves the reader where it was. They answer
    // `Option`, not `Result`: an `Error` is large, and on a microcontroller
    // every temporary one costs stack.

    /// An unsigned varint of a `bits`-wide type (PROTOCOL.md §5.1): at most
    /// `ceil(bits / 7)` bytes, and the last of that many bytes may only carry
    /// the bits that remain. Longer forms than needed are accepted within
    /// that count (`80 00` is 0), as postcard, QUIC and protobuf do.
    #[inline]
    pub(crate) fn varint(&mut self, bits: u32) -> Option<u64> {
        // One byte (below 0x80) is the common case and always valid: every
        // type read here is at least 16 bits wide, so it is never the last
        // of several bytes.
        let (&b, rest) = self.buf.split_first()?;
        if b < 0x80 {
            self.buf = rest;
            return Some(u64::from(b));
        }
        self.varint_long(bits)
    }

    // Out of line: rare, and inlined it enlarges its callers' stack frames.
    #[inline(never)]
    fn varint_long(&mut self, bits: u32) -> Option<u64> {
        let max = bits.div_ceil(7);
        let last = (1u8 << (bits % 7)) - 1;
        let mut out = 0u64;
        for (i, &b) in (0..max).zip(self.buf.iter()) {
            out |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                if i == max - 1 && b > last {
                    return None;
                }
                self.buf = self.buf.get(i as usize + 1..).unwrap_or(&[]);
                return Some(out);
            }
        }
        None
    }

    /// A `u16` (postcard's varint: at most 3 bytes).
    #[inline]
    pub(crate) fn u16(&mut self) -> Option<u16> {
        self.varint(u16::BITS).map(|v| v as u16)
    }

    /// A `u32` (postcard's varint: at most 5 bytes); also an enum's variant index.
    #[inline]
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.varint(u32::BITS).map(|v| v as u32)
    }

    /// A `u8`: one raw byte.
    #[inline]
    pub(crate) fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.buf.split_first()?;
        self.buf = rest;
        Some(b)
    }

    /// A [`Role`](crate::channel::Role) as serde derives it: its variant
    /// index as a `u32` varint, 0..=3.
    #[inline]
    pub(crate) fn role(&mut self) -> Option<crate::channel::Role> {
        let mut t = *self;
        let role = crate::channel::Role::from_u8(u8::try_from(t.u32()?).ok()?)?;
        *self = t;
        Some(role)
    }

    /// Whether every byte was used.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// A `bool`: `00` or `01`.
    #[inline]
    pub(crate) fn bool(&mut self) -> Option<bool> {
        let (&b, rest) = self.buf.split_first()?;
        let v = match b {
            0 => false,
            1 => true,
            _ => return None,
        };
        self.buf = rest;
        Some(v)
    }

    /// A `str`: varint byte length (a `u32`), then UTF-8 bytes.
    ///
    /// `text`, if given, is the rest of the payload from some earlier
    /// position of this reader, already checked as UTF-8: the string is then
    /// sliced from it (one check for a whole list instead of one per string,
    /// the usual case being all ASCII). A slice that does not fall on
    /// character boundaries is checked on its own, so the result is always
    /// what postcard gives.
    #[inline]
    pub(crate) fn str(&mut self, text: Option<&'a str>) -> Option<&'a str> {
        let mut r = *self;
        let n = usize::try_from(r.varint(u32::BITS)?).ok()?;
        let bytes = r.buf.get(..n)?;
        let sliced = text.and_then(|t| {
            let at = t.len().checked_sub(r.buf.len())?;
            t.get(at..at.checked_add(n)?)
        });
        let s = match sliced {
            Some(s) => s,
            None => core::str::from_utf8(bytes).ok()?,
        };
        self.buf = r.buf.get(n..).unwrap_or(&[]);
        Some(s)
    }

    /// The unread bytes as text, if they are all UTF-8 (see [`Reader::str`]).
    #[inline]
    pub(crate) fn rest_as_text(&self) -> Option<&'a str> {
        core::str::from_utf8(self.buf).ok()
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

    /// Encode a list length.
    #[inline]
    pub fn len(&mut self, n: usize) -> Result<()> {
        let n = u32::try_from(n).map_err(|_| Error::new(ErrorCode::FrameTooLarge))?;
        self.varint(n).ok_or(too_small())
    }

    // The writers below write exactly the bytes postcard writes for the same
    // value (unsigned LEB128 varints in their shortest form, length-prefixed
    // str, bool as one byte; tested against postcard in msg.rs). They answer
    // `Option` (`None`: the buffer is full, the caller reports
    // BufferTooSmall), not `Result`: an `Error` is large, and every `?` on
    // one costs code and stack.

    /// Append raw bytes.
    fn bytes(&mut self, b: &[u8]) -> Option<()> {
        let end = self.pos.checked_add(b.len())?;
        let dst = self.buf.get_mut(self.pos..end)?;
        // Not `copy_from_slice`: its length check is outlined at opt-level
        // `z`, where LLVM does not see that the lengths are equal, and the
        // panic path would fail the firmware's no-panic link.
        for (d, s) in dst.iter_mut().zip(b) {
            *d = *s;
        }
        self.pos = end;
        Some(())
    }

    /// An unsigned integer (`u16`, `u32`, a length, an enum's variant
    /// index) as postcard's varint, in its shortest form.
    #[inline]
    pub(crate) fn varint(&mut self, mut v: u32) -> Option<()> {
        while v >= 0x80 {
            self.byte((v as u8) | 0x80)?;
            v >>= 7;
        }
        self.byte(v as u8)
    }

    /// A `str`: varint byte length, then the bytes.
    #[inline]
    pub(crate) fn str(&mut self, s: &str) -> Option<()> {
        self.varint(u32::try_from(s.len()).ok()?)?;
        self.bytes(s.as_bytes())
    }

    /// A `bool` or `u8`: one byte.
    #[inline]
    pub(crate) fn byte(&mut self, b: u8) -> Option<()> {
        let slot = self.buf.get_mut(self.pos)?;
        *slot = b;
        self.pos += 1;
        Some(())
    }

    /// Bytes written so far.
    pub const fn position(&self) -> usize {
        self.pos
    }
}

pub(crate) const fn malformed() -> Error {
    Error::new(ErrorCode::MalformedPayload)
}

pub(crate) const fn too_small() -> Error {
    Error::new(ErrorCode::BufferTooSmall)
}
