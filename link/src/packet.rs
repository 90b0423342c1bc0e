//! One packet on the line (docs/PROTOCOL.md §12.1).
//!
//! Before encoding: `kind`, `seq`, the payload, and the CRC-16 of those
//! bytes (big-endian). On the line: the COBS encoding of that, then `00`.

use crate::{cobs, crc::crc16};

/// Most stream bytes in one DATA packet.
pub const MAX_PAYLOAD: usize = 64;
/// Header (kind, seq) and CRC around the payload.
const OVERHEAD: usize = 2 + 2;
/// Largest packet before encoding.
pub const MAX_BODY: usize = MAX_PAYLOAD + OVERHEAD;
/// Largest COBS encoding of a packet (without its delimiter).
pub const MAX_ENCODED: usize = cobs::max_encoded_len(MAX_BODY);
/// Largest packet on the line: a leading `00` (OPEN only), the encoding and
/// the closing `00`. A transmit buffer this long always takes one packet.
pub const MAX_WIRE: usize = 1 + MAX_ENCODED + 1;
/// Bytes of a boot id in OPEN and OPEN_ACK.
const BOOT_ID_LEN: usize = 4;

/// What a packet is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    /// "I (re)started, this is my boot id": the receiver resets its receive
    /// side for this peer and answers OPEN_ACK.
    Open = 1,
    /// The answer to OPEN, echoing its boot id.
    OpenAck = 2,
    /// Stream bytes, numbered by `seq`.
    Data = 3,
    /// DATA `seq` was received.
    Ack = 4,
}

impl Kind {
    fn from_u8(b: u8) -> Option<Kind> {
        Some(match b {
            1 => Kind::Open,
            2 => Kind::OpenAck,
            3 => Kind::Data,
            4 => Kind::Ack,
            _ => return None,
        })
    }
}

/// A packet, decoded.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Its kind.
    pub kind: Kind,
    /// DATA and ACK: the sequence number; OPEN and OPEN_ACK: 0.
    pub seq: u8,
    /// DATA: 1..=64 stream bytes; OPEN and OPEN_ACK: the boot id (be32);
    /// ACK: empty.
    pub payload: &'a [u8],
}

impl<'a> Packet<'a> {
    /// The boot id of an OPEN or OPEN_ACK.
    pub fn boot_id(&self) -> Option<u32> {
        let b: [u8; BOOT_ID_LEN] = self.payload.try_into().ok()?;
        Some(u32::from_be_bytes(b))
    }

    /// Check the body (COBS already removed): length for its kind, CRC.
    /// `None` for anything that is not a valid packet.
    pub fn parse(body: &'a [u8]) -> Option<Packet<'a>> {
        let split = body.len().checked_sub(2)?;
        let (data, crc) = body.split_at_checked(split)?;
        let crc: [u8; 2] = crc.try_into().ok()?;
        if crc16(data) != u16::from_be_bytes(crc) {
            return None;
        }
        let (&kind, rest) = data.split_first()?;
        let (&seq, payload) = rest.split_first()?;
        let kind = Kind::from_u8(kind)?;
        let ok = match kind {
            Kind::Open | Kind::OpenAck => seq == 0 && payload.len() == BOOT_ID_LEN,
            Kind::Data => !payload.is_empty() && payload.len() <= MAX_PAYLOAD,
            Kind::Ack => payload.is_empty(),
        };
        ok.then_some(Packet { kind, seq, payload })
    }

    /// Write the packet as it goes on the line (COBS, then `00`, and for
    /// OPEN a `00` before it too) into `out`; `None` if it does not fit or
    /// the payload is too long.
    pub fn encode(&self, out: &mut [u8]) -> Option<usize> {
        if self.payload.len() > MAX_PAYLOAD {
            return None;
        }
        let mut body = [0u8; MAX_BODY];
        let n = self.payload.len() + 2;
        let crc_end = n + 2;
        {
            let head = body.get_mut(..2)?;
            head.copy_from_slice(&[self.kind as u8, self.seq]);
        }
        for (d, s) in body.get_mut(2..n)?.iter_mut().zip(self.payload) {
            *d = *s;
        }
        let crc = crc16(body.get(..n)?);
        for (d, s) in body.get_mut(n..crc_end)?.iter_mut().zip(crc.to_be_bytes()) {
            *d = s;
        }
        let mut w = 0;
        if self.kind == Kind::Open {
            *out.get_mut(0)? = 0;
            w = 1;
        }
        let m = cobs::encode(body.get(..crc_end)?, out.get_mut(w..)?)?;
        w += m;
        *out.get_mut(w)? = 0;
        Some(w + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_packet_round_trips() {
        let p = Packet {
            kind: Kind::Data,
            seq: 7,
            payload: &[0x41, 0x00, 0x43],
        };
        let mut wire = [0u8; MAX_WIRE];
        let n = p.encode(&mut wire).unwrap();
        assert_eq!(wire[n - 1], 0);
        assert!(!wire[..n - 1].contains(&0));
        let mut body = wire;
        let m = cobs::decode_in_place(&mut body[..n - 1]).unwrap();
        assert_eq!(Packet::parse(&body[..m]), Some(p));
    }

    #[test]
    fn sizes_are_those_of_the_spec() {
        // docs/PROTOCOL.md §12.1: 68 bytes before encoding, 71 on the line.
        assert_eq!(MAX_BODY, 68);
        assert_eq!(MAX_WIRE, 71);
        let payload = [0x55u8; MAX_PAYLOAD];
        let p = Packet {
            kind: Kind::Data,
            seq: 1,
            payload: &payload,
        };
        assert_eq!(p.encode(&mut [0u8; MAX_WIRE]), Some(70));
    }

    #[test]
    fn the_largest_packet_fits_max_wire() {
        let payload = [0u8; MAX_PAYLOAD];
        let p = Packet {
            kind: Kind::Open,
            seq: 0,
            payload: &payload,
        };
        let mut wire = [0u8; MAX_WIRE];
        assert!(p.encode(&mut wire).is_some());
        let too_long = [0u8; MAX_PAYLOAD + 1];
        let p = Packet {
            kind: Kind::Data,
            seq: 0,
            payload: &too_long,
        };
        assert_eq!(p.encode(&mut [0u8; 256]), None);
    }

    #[test]
    fn a_flipped_bit_fails_the_crc() {
        let body = [3u8, 0, 0x41, 0, 0];
        let crc = crc16(&body[..3]).to_be_bytes();
        let mut good = body;
        good[3..].copy_from_slice(&crc);
        assert!(Packet::parse(&good).is_some());
        for i in 0..good.len() {
            for bit in 0..8 {
                let mut bad = good;
                bad[i] ^= 1 << bit;
                assert_eq!(Packet::parse(&bad), None, "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn wrong_lengths_for_the_kind_are_refused() {
        let with_crc = |d: &[u8]| {
            let mut v = [0u8; 16];
            v[..d.len()].copy_from_slice(d);
            v[d.len()..d.len() + 2].copy_from_slice(&crc16(d).to_be_bytes());
            (v, d.len() + 2)
        };
        for bad in [
            &[3u8, 0][..],       // DATA without payload
            &[4, 0, 1],          // ACK with payload
            &[1, 0, 1, 2, 3],    // OPEN with 3-byte boot id
            &[1, 5, 1, 2, 3, 4], // OPEN with a seq
            &[9, 0],             // unknown kind
        ] {
            let (v, n) = with_crc(bad);
            assert_eq!(Packet::parse(&v[..n]), None, "{bad:?}");
        }
        assert_eq!(Packet::parse(&[1]), None);
        assert_eq!(Packet::parse(&[]), None);
    }
}
