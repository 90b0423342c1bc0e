//! `MultiFDInit_t`: the 64 bytes a QEMU source writes first on every multifd
//! channel, so the destination learns the channel's id.
//!
//! | offset | size | field                              |
//! |--------|------|------------------------------------|
//! | 0      | 4    | magic `0x11223344` (be32)          |
//! | 4      | 4    | version 1 (be32)                   |
//! | 8      | 16   | uuid of the VM (`-uuid`, else 0s)  |
//! | 24     | 1    | channel id                         |
//! | 25     | 39   | reserved, sent as zeros            |
//!
//! QEMU's destination checks magic, version, uuid, then `id > channels`:
//! off by one, so id == channels passes there and indexes one past its
//! channel array. accord refuses it.

use super::{be, ensure_room, Parsed, Writer};
use crate::error::{Detail, Error, ErrorCode, Result};

/// Magic at the start of a multifd channel.
pub const MULTIFD_MAGIC: u32 = 0x1122_3344;
/// The only `MultiFDInit_t` version.
pub const MULTIFD_VERSION: u32 = 1;
/// Bytes of `MultiFDInit_t`.
pub const MULTIFD_INIT_LEN: usize = 64;
/// Offset of the uuid.
const UUID_AT: usize = 8;
/// Offset of the channel id.
const ID_AT: usize = 24;

/// The useful content of a `MultiFDInit_t` (magic and version are fixed).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MultifdInit {
    /// The VM's uuid as the source knows it (all zeros without `-uuid`).
    pub uuid: [u8; 16],
    /// The channel id, 0-based.
    pub id: u8,
}

impl MultifdInit {
    /// Write the 64 bytes, reserved ones zeroed; returns 64.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize> {
        ensure_room(buf, MULTIFD_INIT_LEN)?;
        let mut w = Writer::new(buf);
        w.put(&MULTIFD_MAGIC.to_be_bytes())?;
        w.put(&MULTIFD_VERSION.to_be_bytes())?;
        w.put(&self.uuid)?;
        w.put(&[self.id])?;
        w.zero_to(MULTIFD_INIT_LEN)?;
        Ok(w.len())
    }

    /// Read the header and check magic and version only.
    ///
    /// Fewer than 64 bytes is [`Parsed::Incomplete`] with the count still
    /// missing, never an error. Reserved bytes are not checked, as in QEMU,
    /// so a future QEMU may use them.
    pub fn decode(input: &[u8]) -> Result<Parsed<MultifdInit>> {
        let Some(h) = input.get(..MULTIFD_INIT_LEN) else {
            return Ok(Parsed::Incomplete(
                MULTIFD_INIT_LEN.saturating_sub(input.len()),
            ));
        };
        let magic = be::u32_at(h, 0).unwrap_or(0);
        if magic != MULTIFD_MAGIC {
            return Err(Error::with(
                ErrorCode::LegacyUnknownMagic,
                Detail::Value {
                    expected: MULTIFD_MAGIC,
                    got: magic,
                },
            ));
        }
        let version = be::u32_at(h, 4).unwrap_or(0);
        if version != MULTIFD_VERSION {
            return Err(Error::with(
                ErrorCode::LegacyMultifdVersion,
                Detail::Value {
                    expected: MULTIFD_VERSION,
                    got: version,
                },
            ));
        }
        let end = UUID_AT.saturating_add(16);
        let uuid: [u8; 16] = h
            .get(UUID_AT..end)
            .and_then(|s| s.try_into().ok())
            .ok_or(ErrorCode::LegacyBadLength)?;
        let id = h.get(ID_AT).copied().ok_or(ErrorCode::LegacyBadLength)?;
        Ok(Parsed::Done(MultifdInit { uuid, id }, MULTIFD_INIT_LEN))
    }

    /// The destination's checks on a decoded header: the uuid, when one is
    /// expected ([`ErrorCode::LegacyMultifdUuid`]), then `id < channels`
    /// ([`ErrorCode::LegacyMultifdId`], detail `expected: channels, got: id`).
    pub fn validate(&self, expected_uuid: Option<&[u8; 16]>, channels: u8) -> Result<()> {
        if let Some(u) = expected_uuid {
            if u != &self.uuid {
                return Err(Error::with(
                    ErrorCode::LegacyMultifdUuid,
                    Detail::Channel {
                        role: crate::channel::Role::Multifd,
                        index: u16::from(self.id),
                    },
                ));
            }
        }
        if self.id >= channels {
            return Err(Error::with(
                ErrorCode::LegacyMultifdId,
                Detail::Value {
                    expected: u32::from(channels),
                    got: u32::from(self.id),
                },
            ));
        }
        Ok(())
    }

    /// [`decode`](Self::decode) then [`validate`](Self::validate), in QEMU's
    /// order: magic, version, uuid, id.
    pub fn parse(
        input: &[u8],
        expected_uuid: Option<&[u8; 16]>,
        channels: u8,
    ) -> Result<Parsed<MultifdInit>> {
        let parsed = Self::decode(input)?;
        if let Parsed::Done(h, _) = parsed {
            h.validate(expected_uuid, channels)?;
        }
        Ok(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::Role;
    use crate::legacy::test_util::hex;

    const UUID: [u8; 16] = [0x5a; 16];

    fn header(version: u32, uuid: [u8; 16], id: u8) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[..4].copy_from_slice(&MULTIFD_MAGIC.to_be_bytes());
        b[4..8].copy_from_slice(&version.to_be_bytes());
        b[8..24].copy_from_slice(&uuid);
        b[24] = id;
        b
    }

    fn err(r: Result<Parsed<MultifdInit>>) -> (ErrorCode, Detail) {
        let e = r.unwrap_err();
        (e.code, e.detail)
    }

    #[test]
    fn qemus_bytes_for_channel_2_without_uuid() {
        let b = hex("11223344 00000001 00000000000000000000000000000000 02
             00000000000000 0000000000000000 0000000000000000 0000000000000000 0000000000000000");
        assert_eq!(b.len(), MULTIFD_INIT_LEN);
        let h = MultifdInit {
            uuid: [0; 16],
            id: 2,
        };
        let mut buf = [0xffu8; 64];
        assert_eq!(h.encode(&mut buf), Ok(64));
        assert_eq!(buf.to_vec(), b);
        assert_eq!(
            MultifdInit::parse(&b, Some(&[0; 16]), 4),
            Ok(Parsed::Done(h, 64))
        );
    }

    #[test]
    fn round_trips_every_id() {
        for id in 0..=u8::MAX {
            let h = MultifdInit { uuid: UUID, id };
            let mut buf = [0u8; 64];
            h.encode(&mut buf).unwrap();
            assert_eq!(MultifdInit::decode(&buf), Ok(Parsed::Done(h, 64)));
        }
    }

    #[test]
    fn the_last_id_is_channels_minus_one() {
        assert!(MultifdInit::parse(&header(1, UUID, 3), Some(&UUID), 4).is_ok());
    }

    #[test]
    fn id_equal_to_channels_is_refused_unlike_qemu() {
        assert_eq!(
            err(MultifdInit::parse(&header(1, UUID, 4), Some(&UUID), 4)),
            (
                ErrorCode::LegacyMultifdId,
                Detail::Value {
                    expected: 4,
                    got: 4
                }
            )
        );
        assert_eq!(
            err(MultifdInit::parse(&header(1, UUID, 200), None, 4)).0,
            ErrorCode::LegacyMultifdId
        );
    }

    #[test]
    fn wrong_uuid_is_refused_naming_the_channel() {
        assert_eq!(
            err(MultifdInit::parse(&header(1, [0; 16], 1), Some(&UUID), 4)),
            (
                ErrorCode::LegacyMultifdUuid,
                Detail::Channel {
                    role: Role::Multifd,
                    index: 1
                }
            )
        );
    }

    #[test]
    fn no_expected_uuid_skips_the_check() {
        assert!(MultifdInit::parse(&header(1, [7; 16], 1), None, 4).is_ok());
    }

    #[test]
    fn wrong_version_is_refused_before_the_uuid() {
        assert_eq!(
            err(MultifdInit::parse(&header(2, [0; 16], 9), Some(&UUID), 4)),
            (
                ErrorCode::LegacyMultifdVersion,
                Detail::Value {
                    expected: 1,
                    got: 2
                }
            )
        );
    }

    #[test]
    fn wrong_magic_is_unknown_magic() {
        let mut b = header(1, UUID, 0);
        b[..4].copy_from_slice(b"QEVM");
        assert_eq!(
            err(MultifdInit::decode(&b)),
            (
                ErrorCode::LegacyUnknownMagic,
                Detail::Value {
                    expected: MULTIFD_MAGIC,
                    got: 0x5145_564d
                }
            )
        );
    }

    #[test]
    fn truncated_is_never_an_error() {
        let b = header(1, UUID, 0);
        for n in 0..64 {
            assert_eq!(
                MultifdInit::parse(&b[..n], Some(&UUID), 1),
                Ok(Parsed::Incomplete(64 - n))
            );
        }
        // even when the bytes so far are already wrong
        assert_eq!(
            MultifdInit::decode(b"QEVM\0\0\0\x03"),
            Ok(Parsed::Incomplete(56))
        );
    }

    #[test]
    fn reserved_bytes_are_ignored_as_qemu_does() {
        let mut b = header(1, UUID, 0);
        b[40] = 0xee;
        assert_eq!(
            MultifdInit::decode(&b),
            Ok(Parsed::Done(MultifdInit { uuid: UUID, id: 0 }, 64))
        );
    }

    #[test]
    fn encode_needs_64_bytes() {
        let mut buf = [0u8; 63];
        assert_eq!(
            MultifdInit { uuid: UUID, id: 0 }
                .encode(&mut buf)
                .unwrap_err()
                .code,
            ErrorCode::BufferTooSmall
        );
    }
}
