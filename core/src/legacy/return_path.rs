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

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use crate::legacy::test_util::hex;

    fn encode(m: &RpMessage<'_>) -> Vec<u8> {
        let mut buf = [0u8; 600];
        let n = m.encode(&mut buf).unwrap();
        assert_eq!(n, m.encoded_len());
        buf[..n].to_vec()
    }

    fn err(b: &[u8]) -> (ErrorCode, Detail) {
        let e = RpMessage::decode(b).unwrap_err();
        (e.code, e.detail)
    }

    fn value(expected: u32, got: u32) -> Detail {
        Detail::Value { expected, got }
    }

    /// Decode a buffer holding whole messages back to back.
    fn decode_all(b: &[u8]) -> Vec<RpMessage<'_>> {
        let mut at = 0;
        let mut out = Vec::new();
        while at < b.len() {
            match RpMessage::decode(&b[at..]).unwrap() {
                Parsed::Done(m, n) => {
                    out.push(m);
                    at += n;
                }
                Parsed::Incomplete(n) => panic!("incomplete at {at}, {n} missing"),
            }
        }
        out
    }

    mod qemu_bytes {
        use super::*;

        #[test]
        fn switchover_ack_then_pong_1_then_shut_0() {
            let b = hex("0007 0000  0002 0004 00000001  0001 0004 00000000");
            assert_eq!(
                decode_all(&b),
                [
                    RpMessage::SwitchoverAck,
                    RpMessage::Pong(1),
                    RpMessage::Shut(0)
                ]
            );
            let mut again = encode(&RpMessage::SwitchoverAck);
            again.extend(encode(&RpMessage::Pong(1)));
            again.extend(encode(&RpMessage::Shut(0)));
            assert_eq!(again, b);
        }

        #[test]
        fn pong_0x42_answers_the_packaged_loaded_ping_of_qemu_10_2() {
            let b = hex("0002 0004 00000042");
            let m = RpMessage::Pong(crate::legacy::stream::PING_PACKAGED_LOADED);
            assert_eq!(decode_all(&b), [m]);
            assert_eq!(encode(&m), b);
        }

        #[test]
        fn several_switchover_acks_in_one_stream_are_each_a_message() {
            // QEMU 11.1's re-usable switchover-ack: a device may ask again,
            // and the destination acks again in the same migration.
            let b = hex("0007 0000  0002 0004 00000001  0007 0000  0007 0000");
            assert_eq!(
                decode_all(&b),
                [
                    RpMessage::SwitchoverAck,
                    RpMessage::Pong(1),
                    RpMessage::SwitchoverAck,
                    RpMessage::SwitchoverAck
                ]
            );
        }

        #[test]
        fn req_pages_id_names_the_ramblock() {
            let b = hex("0003 0013 0000000000001000 00001000 06 70632e72616d");
            let m = RpMessage::ReqPagesId {
                start: 0x1000,
                len: 0x1000,
                idstr: b"pc.ram",
            };
            assert_eq!(encode(&m), b);
            assert_eq!(RpMessage::decode(&b), Ok(Parsed::Done(m, b.len())));
        }

        #[test]
        fn req_pages_resume_ack_and_recv_bitmap() {
            let b = hex("0004 000c 0000000000200000 00001000  0006 0004 00000001  0005 0007 06 70632e72616d");
            assert_eq!(
                decode_all(&b),
                [
                    RpMessage::ReqPages {
                        start: 0x20_0000,
                        len: 0x1000
                    },
                    RpMessage::ResumeAck(RESUME_ACK_VALUE),
                    RpMessage::RecvBitmap { idstr: b"pc.ram" },
                ]
            );
        }
    }

    mod round_trip {
        use super::*;

        #[test]
        fn every_message() {
            let long = [b'r'; 255];
            let all = [
                RpMessage::Shut(1),
                RpMessage::Pong(0xffff_ffff),
                RpMessage::ReqPagesId {
                    start: u64::MAX,
                    len: 4096,
                    idstr: &long,
                },
                RpMessage::ReqPagesId {
                    start: 0,
                    len: 0,
                    idstr: b"",
                },
                RpMessage::ReqPages {
                    start: 1 << 40,
                    len: 1 << 21,
                },
                RpMessage::RecvBitmap { idstr: &long },
                RpMessage::RecvBitmap { idstr: b"" },
                RpMessage::ResumeAck(1),
                RpMessage::SwitchoverAck,
            ];
            for m in all {
                let b = encode(&m);
                assert_eq!(RpMessage::decode(&b), Ok(Parsed::Done(m, b.len())), "{m:?}");
                assert!(b.len() - RP_HEADER_LEN <= MAX_RP_PAYLOAD);
            }
        }

        #[test]
        fn type_numbers_are_qemus() {
            for (i, t) in RpType::ALL.iter().enumerate() {
                assert_eq!(usize::from(t.as_u16()), i + 1);
                assert_eq!(RpType::from_u16(t.as_u16()), Some(*t));
            }
            assert_eq!(RpType::SwitchoverAck.name(), "SWITCHOVER_ACK");
        }

        #[test]
        fn an_idstr_over_255_bytes_cannot_be_encoded() {
            let long = [b'r'; 256];
            let mut buf = [0u8; 600];
            for m in [
                RpMessage::ReqPagesId {
                    start: 0,
                    len: 0,
                    idstr: &long,
                },
                RpMessage::RecvBitmap { idstr: &long },
            ] {
                assert_eq!(
                    m.encode(&mut buf).unwrap_err().code,
                    ErrorCode::LegacyBadLength
                );
            }
        }
    }

    mod length_rules {
        use super::*;

        #[test]
        fn the_table_matches_qemus_rp_cmd_args() {
            let fixed: Vec<_> = RpType::ALL.iter().map(|t| t.fixed_len()).collect();
            assert_eq!(
                fixed,
                [Some(4), Some(4), None, Some(12), None, Some(4), Some(0)]
            );
        }

        #[test]
        fn type_0_and_types_past_7_are_invalid() {
            for t in [0u16, 8, 0x100, 0xffff] {
                let mut b = t.to_be_bytes().to_vec();
                b.extend_from_slice(&[0, 0]);
                assert_eq!(
                    err(&b),
                    (ErrorCode::LegacyUnknownType, value(7, u32::from(t)))
                );
            }
        }

        #[test]
        fn wrong_fixed_lengths_are_refused_from_the_header_alone() {
            assert_eq!(
                err(&hex("0001 0000")),
                (ErrorCode::LegacyBadLength, value(4, 0))
            );
            assert_eq!(
                err(&hex("0002 0008")),
                (ErrorCode::LegacyBadLength, value(4, 8))
            );
            assert_eq!(
                err(&hex("0004 000d")),
                (ErrorCode::LegacyBadLength, value(12, 13))
            );
            assert_eq!(
                err(&hex("0006 0002")),
                (ErrorCode::LegacyBadLength, value(4, 2))
            );
            assert_eq!(
                err(&hex("0007 0004")),
                (ErrorCode::LegacyBadLength, value(0, 4))
            );
        }

        #[test]
        fn no_payload_over_512_bytes() {
            assert_eq!(
                err(&hex("0003 0201")),
                (ErrorCode::LegacyBadLength, value(512, 513))
            );
            assert_eq!(
                err(&hex("0005 ffff")),
                (ErrorCode::LegacyBadLength, value(512, 0xffff))
            );
            // exactly 512 passes the header check and waits for its payload
            assert_eq!(
                RpMessage::decode(&hex("0005 0200")),
                Ok(Parsed::Incomplete(512))
            );
        }

        #[test]
        fn req_pages_id_length_must_agree_with_its_idlen() {
            assert_eq!(
                err(&hex("0003 000c 0000000000000000 00001000")),
                (ErrorCode::LegacyBadLength, value(13, 12))
            );
            assert_eq!(
                err(&hex("0003 0010 0000000000000000 00001000 02 616263")),
                (ErrorCode::LegacyBadLength, value(15, 16))
            );
            assert_eq!(
                err(&hex("0003 000e 0000000000000000 00001000 02 61")),
                (ErrorCode::LegacyBadLength, value(15, 14))
            );
        }

        #[test]
        fn recv_bitmap_needs_its_length_byte_and_an_exact_idstr() {
            assert_eq!(
                err(&hex("0005 0000")),
                (ErrorCode::LegacyBadLength, value(1, 0))
            );
            assert_eq!(
                err(&hex("0005 0003 01 6162")),
                (ErrorCode::LegacyBadLength, value(2, 3))
            );
        }
    }

    mod truncation {
        use super::*;

        #[test]
        fn every_prefix_asks_for_what_is_missing() {
            let b = hex("0003 0013 0000000000001000 00001000 06 70632e72616d");
            for n in 0..b.len() {
                let want = if n < RP_HEADER_LEN {
                    RP_HEADER_LEN - n
                } else {
                    b.len() - n
                };
                assert_eq!(
                    RpMessage::decode(&b[..n]),
                    Ok(Parsed::Incomplete(want)),
                    "prefix {n}"
                );
            }
        }
    }
}
