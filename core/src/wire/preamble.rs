//! The preamble: 28 fixed bytes at the start of every accord channel, in both
//! directions of the main channel. Its layout never changes between versions,
//! so any version can read who is talking, in which role and which versions.

use crate::channel::{ChannelId, Role};
use crate::error::{Detail, Error, ErrorCode, Result};
use crate::version::VersionRange;

/// The four magic bytes, "ACRD". Distinct from QEMU's QEVM (`0x5145564d`),
/// its multifd magic (`0x11223344`) and a TLS record (first byte `0x16`).
pub const MAGIC: [u8; 4] = *b"ACRD";
/// Length of a preamble in bytes.
pub const LEN: usize = 28;
/// Flag bit: this channel replaces a lost one (postcopy recovery).
pub const FLAG_REATTACH: u8 = 0x01;

/// A decoded preamble.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Preamble {
    /// Versions the sender speaks.
    pub versions: VersionRange,
    /// What the channel is for.
    pub role: Role,
    /// Flag bits; only [`FLAG_REATTACH`] is defined.
    pub flags: u8,
    /// Index within the role.
    pub index: u16,
    /// Channels of this role the sender opens.
    pub total: u16,
    /// The migration's session nonce, chosen by the source.
    pub nonce: [u8; 16],
}

impl Preamble {
    /// The preamble of a main channel.
    pub const fn main(versions: VersionRange, nonce: [u8; 16]) -> Self {
        Preamble {
            versions,
            role: Role::Main,
            flags: 0,
            index: 0,
            total: 1,
            nonce,
        }
    }

    /// The channel this preamble names.
    pub const fn channel(&self) -> ChannelId {
        ChannelId {
            role: self.role,
            index: self.index,
        }
    }

    /// Whether the reattach flag is set.
    pub const fn is_reattach(&self) -> bool {
        self.flags & FLAG_REATTACH != 0
    }

    /// The 28 bytes of this preamble.
    // Out of line: inlined into a driver it costs more than the call.
    #[inline(never)]
    pub fn to_bytes(&self) -> [u8; LEN] {
        let [m0, m1, m2, m3] = MAGIC;
        let [i0, i1] = self.index.to_be_bytes();
        let [t0, t1] = self.total.to_be_bytes();
        let [n0, n1, n2, n3, n4, n5, n6, n7, n8, n9, n10, n11, n12, n13, n14, n15] = self.nonce;
        [
            m0,
            m1,
            m2,
            m3,
            self.versions.min,
            self.versions.max,
            self.role as u8,
            self.flags,
            i0,
            i1,
            t0,
            t1,
            n0,
            n1,
            n2,
            n3,
            n4,
            n5,
            n6,
            n7,
            n8,
            n9,
            n10,
            n11,
            n12,
            n13,
            n14,
            n15,
        ]
    }

    /// Write the preamble to the start of `out`, returning its length.
    pub fn encode(&self, out: &mut [u8]) -> Result<usize> {
        let dst = out
            .get_mut(..LEN)
            .ok_or(Error::new(ErrorCode::BufferTooSmall))?;
        dst.copy_from_slice(&self.to_bytes());
        Ok(LEN)
    }

    /// Decode a preamble from the start of `bytes`. `Ok(None)` means more
    /// bytes are needed; a wrong magic fails as soon as its first byte is seen.
    pub fn decode(bytes: &[u8]) -> Result<Option<Preamble>> {
        let seen = bytes.len().min(MAGIC.len());
        if bytes.get(..seen) != MAGIC.get(..seen) {
            return Err(Error::new(ErrorCode::BadMagic));
        }
        // As an array, destructured: no index to check.
        let Some(&[_, _, _, _, min, max, role, flags, i0, i1, t0, t1, ref nonce @ ..]) = bytes
            .get(..LEN)
            .and_then(|b| <&[u8; LEN]>::try_from(b).ok())
        else {
            return Ok(None);
        };
        Preamble::from_fields(
            VersionRange::new(min, max),
            role,
            flags,
            u16::from_be_bytes([i0, i1]),
            u16::from_be_bytes([t0, t1]),
            *nonce,
        )
        .map(Some)
    }

    /// A preamble from its fields as the wire carries them (`role` is the
    /// role byte), checked by the rules every received preamble meets, in
    /// the order [`Preamble::decode`] applies them: versions, role, flags,
    /// then index and total.
    pub fn from_fields(
        versions: VersionRange,
        role: u8,
        flags: u8,
        index: u16,
        total: u16,
        nonce: [u8; 16],
    ) -> Result<Preamble> {
        if !versions.is_valid() {
            return Err(Error::with(
                ErrorCode::BadVersionRange,
                Detail::Value {
                    expected: 1,
                    got: u32::from_be_bytes([0, 0, versions.min, versions.max]),
                },
            ));
        }
        let role = Role::from_u8(role).ok_or(Error::with(
            ErrorCode::UnknownRole,
            Detail::Value {
                expected: 3,
                got: role as u32,
            },
        ))?;
        if flags & !FLAG_REATTACH != 0 {
            return Err(Error::with(
                ErrorCode::ReservedFlags,
                Detail::Value {
                    expected: 0,
                    got: flags as u32,
                },
            ));
        }
        let single = matches!(role, Role::Main | Role::Preempt);
        if index >= total || (single && total != 1) {
            return Err(Error::with(
                ErrorCode::BadChannelIndex,
                Detail::Channel { role, index },
            ));
        }
        Ok(Preamble {
            versions,
            role,
            flags,
            index,
            total,
            nonce,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checked constructor and the decoder are one rule: for every mix
    /// of valid and invalid fields they give the same preamble or error.
    #[test]
    fn from_fields_is_what_decode_checks() {
        let nonce = [7u8; 16];
        for (min, max) in [(1, 1), (1, 3), (0, 1), (2, 1), (1, 255)] {
            for role in 0..=5u8 {
                for flags in [0, FLAG_REATTACH, 0x02, 0x80] {
                    for (index, total) in [(0u16, 1u16), (0, 2), (1, 2), (2, 2), (0, 0), (300, 301)]
                    {
                        let versions = VersionRange::new(min, max);
                        let mut b = [0u8; LEN];
                        b[..4].copy_from_slice(&MAGIC);
                        b[4] = min;
                        b[5] = max;
                        b[6] = role;
                        b[7] = flags;
                        b[8..10].copy_from_slice(&index.to_be_bytes());
                        b[10..12].copy_from_slice(&total.to_be_bytes());
                        b[12..].copy_from_slice(&nonce);
                        let built =
                            Preamble::from_fields(versions, role, flags, index, total, nonce);
                        assert_eq!(Preamble::decode(&b), built.clone().map(Some));
                        if let Ok(p) = built {
                            assert_eq!(p.to_bytes(), b);
                        }
                    }
                }
            }
        }
    }
}
