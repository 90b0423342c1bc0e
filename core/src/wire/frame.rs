//! Frames: a 3-byte header (type, big-endian payload length) and a postcard
//! payload of at most [`MAX_PAYLOAD`] bytes.

use crate::error::{Detail, Error, ErrorCode, Result};
use crate::wire::Writer;

/// Bytes in a frame header.
pub const HEADER_LEN: usize = 3;
/// Largest payload a frame may carry. Receivers refuse longer frames as soon
/// as they see the header, before any payload arrives.
pub const MAX_PAYLOAD: usize = 16384;
/// Largest frame: header plus maximal payload. A receive buffer this large
/// always holds a whole frame.
pub const MAX_FRAME: usize = HEADER_LEN + MAX_PAYLOAD;

/// The frame types of protocol version 1.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum FrameType {
    /// Source to destination: offers and devices.
    Hello = 0x01,
    /// Destination to source: the agreement.
    Welcome = 0x02,
    /// Destination to source: negotiation failed (layout frozen for all versions).
    Reject = 0x03,
    /// Destination to source: every negotiated channel is attached.
    ChannelsReady = 0x04,
    /// Destination to source: every participating device approved.
    SwitchoverAck = 0x05,
    /// Destination to source: a device withdrew its approval.
    SwitchoverRevoke = 0x06,
    /// Source to destination: the switchover decision.
    SwitchoverStart = 0x07,
    /// Either way: the migration fails (layout frozen for all versions).
    Abort = 0x08,
}

impl FrameType {
    /// The frame type with this number.
    pub const fn from_u8(v: u8) -> Option<Self> {
        use FrameType::*;
        Some(match v {
            0x01 => Hello,
            0x02 => Welcome,
            0x03 => Reject,
            0x04 => ChannelsReady,
            0x05 => SwitchoverAck,
            0x06 => SwitchoverRevoke,
            0x07 => SwitchoverStart,
            0x08 => Abort,
            _ => return None,
        })
    }
}

/// A frame found at the start of a byte slice.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RawFrame<'a> {
    /// Its type.
    pub kind: FrameType,
    /// Its payload.
    pub payload: &'a [u8],
    /// Header plus payload: the bytes it occupies.
    pub len: usize,
}

/// Split the frame at the start of `bytes`. `Ok(None)` means the frame is not
/// complete yet. An unknown type or an oversized length fails at once.
pub fn split(bytes: &[u8]) -> Result<Option<RawFrame<'_>>> {
    let Some(&t) = bytes.first() else {
        return Ok(None);
    };
    let kind =
        FrameType::from_u8(t).ok_or(Error::with(ErrorCode::UnknownFrameType, Detail::Frame(t)))?;
    let (Some(&hi), Some(&lo)) = (bytes.get(1), bytes.get(2)) else {
        return Ok(None);
    };
    let n = u16::from_be_bytes([hi, lo]) as usize;
    if n > MAX_PAYLOAD {
        return Err(Error::with(
            ErrorCode::FrameTooLarge,
            Detail::Value {
                expected: MAX_PAYLOAD as u32,
                got: n as u32,
            },
        ));
    }
    let len = HEADER_LEN + n;
    let Some(payload) = bytes.get(HEADER_LEN..len) else {
        return Ok(None);
    };
    Ok(Some(RawFrame { kind, payload, len }))
}

/// Write a frame whose payload `body` writes into the slice it is given and
/// returns the payload length. Returns the frame's total length. The errors
/// are [`write_with`]'s, or `body`'s own when it fails otherwise than for
/// want of room.
pub fn write(
    out: &mut [u8],
    kind: FrameType,
    body: impl FnOnce(&mut [u8]) -> Result<usize>,
) -> Result<usize> {
    let (head, rest) = parts(out)?;
    let cap = rest.len();
    let n = body(rest).map_err(|e| {
        if e.code == ErrorCode::BufferTooSmall {
            overflow(cap)
        } else {
            e
        }
    })?;
    if n > cap {
        return Err(overflow(cap));
    }
    Ok(seal(head, kind, n))
}

/// Write a frame whose payload `body` writes (`None`: the buffer is full);
/// returns the frame's total length. A full buffer is `BufferTooSmall`, or
/// `FrameTooLarge` if even a maximal payload area overflowed. Every frame
/// the machines send goes through here.
pub(crate) fn write_with(
    out: &mut [u8],
    kind: FrameType,
    body: impl FnOnce(&mut Writer<'_>) -> Option<()>,
) -> Result<usize> {
    let (head, rest) = parts(out)?;
    let cap = rest.len();
    let mut w = Writer::new(rest);
    if body(&mut w).is_none() {
        return Err(overflow(cap));
    }
    Ok(seal(head, kind, w.position()))
}

/// `out` as a header slot and a payload area of at most [`MAX_PAYLOAD`] bytes.
fn parts(out: &mut [u8]) -> Result<(&mut [u8], &mut [u8])> {
    let (head, rest) = out
        .split_at_mut_checked(HEADER_LEN)
        .ok_or(Error::new(ErrorCode::BufferTooSmall))?;
    let cap = rest.len().min(MAX_PAYLOAD);
    let rest = rest
        .get_mut(..cap)
        .ok_or(Error::new(ErrorCode::BufferTooSmall))?;
    Ok((head, rest))
}

/// A payload that did not fit in a payload area of `cap` bytes: too large
/// for the protocol if the area was a whole [`MAX_PAYLOAD`], else for the
/// caller's buffer.
fn overflow(cap: usize) -> Error {
    Error::new(if cap == MAX_PAYLOAD {
        ErrorCode::FrameTooLarge
    } else {
        ErrorCode::BufferTooSmall
    })
}

/// Fill the header slot for an `n`-byte payload (`n` <= [`MAX_PAYLOAD`],
/// so the length fits in 16 bits); returns the frame's length.
fn seal(head: &mut [u8], kind: FrameType, n: usize) -> usize {
    let len = (n as u16).to_be_bytes();
    for (d, s) in head.iter_mut().zip([kind as u8, len[0], len[1]]) {
        *d = s;
    }
    HEADER_LEN + n
}

/// Write one frame at offset `at` of `buf`.
pub(crate) fn write_into(
    buf: &mut [u8],
    at: usize,
    kind: FrameType,
    body: impl FnOnce(&mut Writer<'_>) -> Option<()>,
) -> Result<usize> {
    let rest = buf
        .get_mut(at..)
        .ok_or(Error::new(ErrorCode::BufferTooSmall))?;
    write_with(rest, kind, body)
}

#[cfg(test)]
mod write_with_tests {
    use super::*;
    use crate::wire::msg::{Payload, SwitchoverRevoke};

    /// `write_with` gives `write`'s frame and errors, for every buffer size
    /// and for a payload too large for any frame.
    #[test]
    fn write_with_equals_write() {
        let r = SwitchoverRevoke {
            epoch: 300,
            device: 70,
        };
        for size in 0..12 {
            let (mut a, mut b) = ([0u8; 12], [0u8; 12]);
            let x = write(&mut a[..size], FrameType::SwitchoverRevoke, |o| r.encode(o));
            let y = write_with(&mut b[..size], FrameType::SwitchoverRevoke, |w| r.write(w));
            assert_eq!(x, y, "{size}");
            assert_eq!(a, b);
        }
        let mut big = [0u8; MAX_FRAME + 8];
        let fill = |w: &mut Writer<'_>| (0..=MAX_PAYLOAD).try_for_each(|_| w.byte(1));
        assert_eq!(
            write_with(&mut big, FrameType::Hello, fill)
                .unwrap_err()
                .code,
            ErrorCode::FrameTooLarge
        );
        assert_eq!(
            write_with(&mut big[..100], FrameType::Hello, fill)
                .unwrap_err()
                .code,
            ErrorCode::BufferTooSmall
        );
        // `write` passes a body's own error on, and reads a body's full
        // maximal payload area as a frame too large.
        let own = |_: &mut [u8]| Err(Error::new(ErrorCode::InvalidArgument));
        assert_eq!(
            write(&mut big, FrameType::Hello, own).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        let full = |_: &mut [u8]| Err(Error::new(ErrorCode::BufferTooSmall));
        assert_eq!(
            write(&mut big, FrameType::Hello, full).unwrap_err().code,
            ErrorCode::FrameTooLarge
        );
        assert_eq!(
            write(&mut big[..100], FrameType::Hello, full)
                .unwrap_err()
                .code,
            ErrorCode::BufferTooSmall
        );
        let liar = |_: &mut [u8]| Ok(101);
        assert_eq!(
            write(&mut big[..100], FrameType::Hello, liar)
                .unwrap_err()
                .code,
            ErrorCode::BufferTooSmall
        );
    }
}
