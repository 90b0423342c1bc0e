//! The return path: messages a QEMU destination sends back to its source on
//! the main connection once `OPEN_RETURN_PATH` arrived.
//!
//! A message is `be16 type, be16 len, payload[len]`. The source checks the
//! type (0 and anything past the last known type are invalid), then the
//! length (fixed for most types, and never more than its 512-byte buffer),
//! and only then reads the payload. The decoder does the same, in that order.

use super::{bad_length, be, ensure_room, Parsed, Writer};
use crate::error::{Detail, Error, ErrorCode, Result};

/// Bytes before a message's payload: type and len.
pub const RP_HEADER_LEN: usize = 4;
/// Largest payload the source accepts: the size of its receive buffer.
pub const MAX_RP_PAYLOAD: usize = 512;
/// The value a RESUME_ACK carries; the source fails on any other.
pub const RESUME_ACK_VALUE: u32 = 1;
/// Bytes of a REQ_PAGES_ID payload before its idstr: start, len, idlen.
pub const REQ_PAGES_ID_HEAD: usize = 13;

/// Return-path message numbers (`enum mig_rp_message_type`; 0 is invalid).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u16)]
pub enum RpType {
    /// The destination is done with the return path; non-zero = it failed.
    Shut = 1,
    /// Reply to a PING.
    Pong = 2,
    /// Postcopy page request naming the RAMBlock.
    ReqPagesId = 3,
    /// Postcopy page request in the last named RAMBlock.
    ReqPages = 4,
    /// Received-bitmap reply header (postcopy recovery).
    RecvBitmap = 5,
    /// The destination is ready to resume postcopy.
    ResumeAck = 6,
    /// Switchover may proceed (QEMU 8.1+; older sources reject type 7).
    SwitchoverAck = 7,
}

impl RpType {
    /// Every type, in numeric order.
    pub const ALL: [RpType; 7] = [
        Self::Shut,
        Self::Pong,
        Self::ReqPagesId,
        Self::ReqPages,
        Self::RecvBitmap,
        Self::ResumeAck,
        Self::SwitchoverAck,
    ];

    /// Highest type number this version knows.
    pub const MAX: u16 = 7;

    /// The type with this number, if known.
    pub const fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            1 => Self::Shut,
            2 => Self::Pong,
            3 => Self::ReqPagesId,
            4 => Self::ReqPages,
            5 => Self::RecvBitmap,
            6 => Self::ResumeAck,
            7 => Self::SwitchoverAck,
            _ => return None,
        })
    }

    /// The type number.
    pub const fn as_u16(self) -> u16 {
        self as u16
    }

    /// QEMU's name for the type.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Shut => "SHUT",
            Self::Pong => "PONG",
            Self::ReqPagesId => "REQ_PAGES_ID",
            Self::ReqPages => "REQ_PAGES",
            Self::RecvBitmap => "RECV_BITMAP",
            Self::ResumeAck => "RESUME_ACK",
            Self::SwitchoverAck => "SWITCHOVER_ACK",
        }
    }

    /// The payload length the source insists on, or `None` when it varies.
    pub const fn fixed_len(self) -> Option<u16> {
        match self {
            Self::Shut | Self::Pong | Self::ResumeAck => Some(4),
            Self::ReqPages => Some(12),
            Self::SwitchoverAck => Some(0),
            Self::ReqPagesId | Self::RecvBitmap => None,
        }
    }
}

/// One return-path message. Idstrs borrow the input and are raw bytes, as in
/// QEMU (a RAMBlock name, at most 255 bytes).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RpMessage<'a> {
    /// `SHUT`: 0 when the destination finished cleanly, else failure.
    Shut(u32),
    /// `PONG`: echoes the PING's value.
    Pong(u32),
    /// `REQ_PAGES_ID`: pages `[start, start+len)` of RAMBlock `idstr`.
    ReqPagesId {
        /// Offset in the RAMBlock.
        start: u64,
        /// Bytes wanted.
        len: u32,
        /// RAMBlock idstr.
        idstr: &'a [u8],
    },
    /// `REQ_PAGES`: pages of the RAMBlock named last.
    ReqPages {
        /// Offset in the RAMBlock.
        start: u64,
        /// Bytes wanted.
        len: u32,
    },
    /// `RECV_BITMAP`: the bitmap of RAMBlock `idstr` follows on the return
    /// path, outside this message.
    RecvBitmap {
        /// RAMBlock idstr.
        idstr: &'a [u8],
    },
    /// `RESUME_ACK`: QEMU sends [`RESUME_ACK_VALUE`]; its source fails on any
    /// other value, a check left to the caller's state machine.
    ResumeAck(u32),
    /// `SWITCHOVER_ACK`, no payload.
    SwitchoverAck,
}

impl<'a> RpMessage<'a> {
    /// The message's type.
    pub const fn rp_type(&self) -> RpType {
        match self {
            RpMessage::Shut(_) => RpType::Shut,
            RpMessage::Pong(_) => RpType::Pong,
            RpMessage::ReqPagesId { .. } => RpType::ReqPagesId,
            RpMessage::ReqPages { .. } => RpType::ReqPages,
            RpMessage::RecvBitmap { .. } => RpType::RecvBitmap,
            RpMessage::ResumeAck(_) => RpType::ResumeAck,
            RpMessage::SwitchoverAck => RpType::SwitchoverAck,
        }
    }

    /// Payload bytes this message encodes to.
    pub fn payload_len(&self) -> usize {
        match self {
            RpMessage::Shut(_) | RpMessage::Pong(_) | RpMessage::ResumeAck(_) => 4,
            RpMessage::ReqPages { .. } => 12,
            RpMessage::ReqPagesId { idstr, .. } => REQ_PAGES_ID_HEAD.saturating_add(idstr.len()),
            RpMessage::RecvBitmap { idstr } => idstr.len().saturating_add(1),
            RpMessage::SwitchoverAck => 0,
        }
    }

    /// Bytes this message encodes to, header included.
    pub fn encoded_len(&self) -> usize {
        RP_HEADER_LEN.saturating_add(self.payload_len())
    }

    /// Write the message; returns the count written. An idstr over 255 bytes
    /// is [`ErrorCode::LegacyBadLength`].
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize> {
        let idlen = match self {
            RpMessage::ReqPagesId { idstr, .. } | RpMessage::RecvBitmap { idstr } => {
                Some(u8::try_from(idstr.len()).map_err(|_| bad_length(255, idstr.len()))?)
            }
            _ => None,
        };
        let len = self.payload_len();
        // idstrs of at most 255 bytes keep every payload within 512
        let len16 = u16::try_from(len).map_err(|_| bad_length(MAX_RP_PAYLOAD, len))?;
        ensure_room(buf, self.encoded_len())?;
        let mut w = Writer::new(buf);
        w.put(&self.rp_type().as_u16().to_be_bytes())?;
        w.put(&len16.to_be_bytes())?;
        match *self {
            RpMessage::Shut(v) | RpMessage::Pong(v) | RpMessage::ResumeAck(v) => {
                w.put(&v.to_be_bytes())?
            }
            RpMessage::ReqPages { start, len } => {
                w.put(&start.to_be_bytes())?;
                w.put(&len.to_be_bytes())?;
            }
            RpMessage::ReqPagesId { start, len, idstr } => {
                w.put(&start.to_be_bytes())?;
                w.put(&len.to_be_bytes())?;
                w.put(&[idlen.unwrap_or(0)])?;
                w.put(idstr)?;
            }
            RpMessage::RecvBitmap { idstr } => {
                w.put(&[idlen.unwrap_or(0)])?;
                w.put(idstr)?;
            }
            RpMessage::SwitchoverAck => {}
        }
        Ok(w.len())
    }

    /// Decode one message from the start of `input`.
    ///
    /// [`ErrorCode::LegacyUnknownType`] for type 0 or past
    /// [`RpType::MAX`]; [`ErrorCode::LegacyBadLength`] for a fixed length not
    /// met or a payload over [`MAX_RP_PAYLOAD`] (both known from the header
    /// alone), and for a REQ_PAGES_ID or RECV_BITMAP whose idlen byte
    /// disagrees with the message length.
    pub fn decode(input: &'a [u8]) -> Result<Parsed<RpMessage<'a>>> {
        let (Some(ty), Some(len)) = (be::u16_at(input, 0), be::u16_at(input, 2)) else {
            return Ok(Parsed::Incomplete(
                RP_HEADER_LEN.saturating_sub(input.len()),
            ));
        };
        let Some(rt) = RpType::from_u16(ty) else {
            return Err(Error::with(
                ErrorCode::LegacyUnknownType,
                Detail::Value {
                    expected: u32::from(RpType::MAX),
                    got: u32::from(ty),
                },
            ));
        };
        let len = usize::from(len);
        if let Some(fixed) = rt.fixed_len() {
            if usize::from(fixed) != len {
                return Err(bad_length(usize::from(fixed), len));
            }
        }
        if len > MAX_RP_PAYLOAD {
            return Err(bad_length(MAX_RP_PAYLOAD, len));
        }
        let total = RP_HEADER_LEN.saturating_add(len);
        let Some(p) = input.get(RP_HEADER_LEN..total) else {
            return Ok(Parsed::Incomplete(total.saturating_sub(input.len())));
        };
        let word = |at| be::u32_at(p, at).ok_or_else(|| bad_length(at.saturating_add(4), p.len()));
        let long = || be::u64_at(p, 0).ok_or_else(|| bad_length(8, p.len()));
        let m = match rt {
            RpType::Shut => RpMessage::Shut(word(0)?),
            RpType::Pong => RpMessage::Pong(word(0)?),
            RpType::ResumeAck => RpMessage::ResumeAck(word(0)?),
            RpType::ReqPages => RpMessage::ReqPages {
                start: long()?,
                len: word(8)?,
            },
            RpType::ReqPagesId => {
                let (head, idstr) = p
                    .split_at_checked(REQ_PAGES_ID_HEAD)
                    .ok_or_else(|| bad_length(REQ_PAGES_ID_HEAD, len))?;
                let idlen = head.last().copied().map(usize::from).unwrap_or(0);
                if idstr.len() != idlen {
                    return Err(bad_length(REQ_PAGES_ID_HEAD.saturating_add(idlen), len));
                }
                RpMessage::ReqPagesId {
                    start: long()?,
                    len: word(8)?,
                    idstr,
                }
            }
            RpType::RecvBitmap => {
                let (&idlen, idstr) = p.split_first().ok_or_else(|| bad_length(1, len))?;
                // QEMU only insists on len >= 1 and reads idlen bytes from its
                // buffer whatever len says; accord wants the two to agree.
                if idstr.len() != usize::from(idlen) {
                    return Err(bad_length(usize::from(idlen).saturating_add(1), len));
                }
                RpMessage::RecvBitmap { idstr }
            }
            RpType::SwitchoverAck => RpMessage::SwitchoverAck,
        };
        Ok(Parsed::Done(m, total))
    }
}
