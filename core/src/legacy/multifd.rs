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
