//! The main migration stream: its 8-byte header and the `QEMU_VM_COMMAND`
//! section that carries control commands (return path, ping, postcopy,
//! switchover start) in band.
//!
//! A command is `0x08, be16 cmd, be16 len, payload[len]`. The destination
//! rejects an unknown `cmd` and, for commands with a fixed length, any other
//! `len`, before it reads the payload; the decoder here does the same, so a
//! bad header is reported without waiting for bytes that may never come.

use super::{bad_length, be, ensure_room, Parsed, Writer};
use crate::error::{Detail, Error, ErrorCode, Result};

/// First four bytes of a main stream: `QEVM`.
pub const QEVM_MAGIC: u32 = 0x5145_564d;
/// The only stream version QEMU loads (version 2 was dropped long ago).
pub const STREAM_VERSION: u32 = 3;
/// Bytes of the stream header: magic then version.
pub const STREAM_HEADER_LEN: usize = 8;
/// Section type byte that introduces a command.
pub const QEMU_VM_COMMAND: u8 = 0x08;
/// Bytes before a command's payload: section byte, cmd, len.
pub const COMMAND_HEADER_LEN: usize = 5;
/// Largest package a `PACKAGED` command may announce in every family the
/// classifier knows (QEMU 7.2 and later): `UINT32_MAX`, so any value of the
/// be32 length field is accepted. See [`Family::max_packaged_size`](super::Family::max_packaged_size).
pub const MAX_PACKAGED_SIZE: u32 = u32::MAX;
/// The 16 MiB limit of QEMU 2.5 to 2.9, before QEMU raised it to
/// `UINT32_MAX`. No family here applies it; kept to name the old rule.
pub const MAX_PACKAGED_SIZE_BEFORE_2_10: u32 = 1 << 24;
/// The PING value QEMU 10.2+ puts last in the postcopy package, after PING 3
/// and before POSTCOPY_RUN, whenever its return path runs
/// (`QEMU_VM_PING_PACKAGED_LOADED`). The destination answers it once it has
/// loaded the package's device state; on that PONG the source moves from
/// `postcopy-device` to `postcopy-active`. An ordinary PING on the wire.
pub const PING_PACKAGED_LOADED: u32 = 0x42;
/// Bytes of the optional `POSTCOPY_ADVISE` payload.
pub const ADVISE_RAM_LEN: usize = 16;
/// Smallest `POSTCOPY_RAM_DISCARD` payload QEMU accepts: version, idlen, one
/// idstr byte, the terminating zero and one 16-byte range.
pub const MIN_RAM_DISCARD_LEN: usize = 20;
/// Version byte that opens a `POSTCOPY_RAM_DISCARD` payload.
pub const RAM_DISCARD_VERSION: u8 = 0;

/// The stream header: `QEVM` and version 3. It carries nothing else.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct StreamHeader;

impl StreamHeader {
    /// Write the 8 header bytes; returns the count written.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize> {
        ensure_room(buf, STREAM_HEADER_LEN)?;
        let mut w = Writer::new(buf);
        w.put(&QEVM_MAGIC.to_be_bytes())?;
        w.put(&STREAM_VERSION.to_be_bytes())?;
        Ok(w.len())
    }

    /// Read the header from the start of a main stream.
    ///
    /// Wrong magic is [`ErrorCode::LegacyUnknownMagic`]; a version other than
    /// 3 is [`ErrorCode::LegacyStreamVersion`] (both with the expected and
    /// received values).
    pub fn decode(input: &[u8]) -> Result<Parsed<StreamHeader>> {
        let (Some(magic), Some(version)) = (be::u32_at(input, 0), be::u32_at(input, 4)) else {
            return Ok(Parsed::Incomplete(
                STREAM_HEADER_LEN.saturating_sub(input.len()),
            ));
        };
        if magic != QEVM_MAGIC {
            return Err(Error::with(
                ErrorCode::LegacyUnknownMagic,
                Detail::Value {
                    expected: QEVM_MAGIC,
                    got: magic,
                },
            ));
        }
        if version != STREAM_VERSION {
            return Err(Error::with(
                ErrorCode::LegacyStreamVersion,
                Detail::Value {
                    expected: STREAM_VERSION,
                    got: version,
                },
            ));
        }
        Ok(Parsed::Done(StreamHeader, STREAM_HEADER_LEN))
    }
}

/// The command numbers of `QEMU_VM_COMMAND` (`enum qemu_vm_cmd`; 0 is invalid).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u16)]
pub enum CommandType {
    /// Open the return path (destination to source).
    OpenReturnPath = 1,
    /// Ask for a PONG echoing a value.
    Ping = 2,
    /// Announce postcopy, with the RAM page sizes when RAM postcopy is on.
    PostcopyAdvise = 3,
    /// The destination starts listening for postcopy page requests.
    PostcopyListen = 4,
    /// The destination may run the VM.
    PostcopyRun = 5,
    /// Pages sent in precopy that are dirty again and must be dropped.
    PostcopyRamDiscard = 6,
    /// A package of stream follows, of the announced length.
    Packaged = 7,
    /// Enter COLO.
    EnableColo = 8,
    /// Resume a paused postcopy.
    PostcopyResume = 9,
    /// Ask for a RAMBlock's received bitmap (postcopy recovery).
    RecvBitmap = 10,
    /// The source is about to switch over (QEMU 10.0+).
    SwitchoverStart = 11,
}

impl CommandType {
    /// Every command, in numeric order.
    pub const ALL: [CommandType; 11] = [
        Self::OpenReturnPath,
        Self::Ping,
        Self::PostcopyAdvise,
        Self::PostcopyListen,
        Self::PostcopyRun,
        Self::PostcopyRamDiscard,
        Self::Packaged,
        Self::EnableColo,
        Self::PostcopyResume,
        Self::RecvBitmap,
        Self::SwitchoverStart,
    ];

    /// Highest command number this version knows.
    pub const MAX: u16 = 11;

    /// The command with this number, if known.
    pub const fn from_u16(v: u16) -> Option<Self> {
        Some(match v {
            1 => Self::OpenReturnPath,
            2 => Self::Ping,
            3 => Self::PostcopyAdvise,
            4 => Self::PostcopyListen,
            5 => Self::PostcopyRun,
            6 => Self::PostcopyRamDiscard,
            7 => Self::Packaged,
            8 => Self::EnableColo,
            9 => Self::PostcopyResume,
            10 => Self::RecvBitmap,
            11 => Self::SwitchoverStart,
            _ => return None,
        })
    }

    /// The command number.
    pub const fn as_u16(self) -> u16 {
        self as u16
    }

    /// QEMU's name for the command, as in its error messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::OpenReturnPath => "OPEN_RETURN_PATH",
            Self::Ping => "PING",
            Self::PostcopyAdvise => "POSTCOPY_ADVISE",
            Self::PostcopyListen => "POSTCOPY_LISTEN",
            Self::PostcopyRun => "POSTCOPY_RUN",
            Self::PostcopyRamDiscard => "POSTCOPY_RAM_DISCARD",
            Self::Packaged => "PACKAGED",
            Self::EnableColo => "ENABLE_COLO",
            Self::PostcopyResume => "POSTCOPY_RESUME",
            Self::RecvBitmap => "RECV_BITMAP",
            Self::SwitchoverStart => "SWITCHOVER_START",
        }
    }

    /// The payload length QEMU insists on, or `None` when it varies.
    ///
    /// `ENABLE_COLO` is fixed at 0 only because QEMU's length table has no
    /// entry for it and a missing entry reads as length 0.
    pub const fn fixed_len(self) -> Option<u16> {
        match self {
            Self::OpenReturnPath
            | Self::PostcopyListen
            | Self::PostcopyRun
            | Self::EnableColo
            | Self::PostcopyResume
            | Self::SwitchoverStart => Some(0),
            Self::Ping | Self::Packaged => Some(4),
            Self::PostcopyAdvise | Self::PostcopyRamDiscard | Self::RecvBitmap => None,
        }
    }
}

/// The two page sizes `POSTCOPY_ADVISE` carries when RAM postcopy is on.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PageSizes {
    /// Bitwise OR of the page sizes of all RAMBlocks on the source.
    pub page_size_summary: u64,
    /// The source's target page size.
    pub target_page_size: u64,
}

/// One decoded `QEMU_VM_COMMAND`. Payloads with an idstr borrow the input.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Command<'a> {
    /// `OPEN_RETURN_PATH`, no payload.
    OpenReturnPath,
    /// `PING` with the value the PONG must echo.
    Ping(u32),
    /// `POSTCOPY_ADVISE`: empty when only non-RAM state goes postcopy
    /// (dirty bitmaps), else the page sizes.
    PostcopyAdvise(Option<PageSizes>),
    /// `POSTCOPY_LISTEN`, no payload.
    PostcopyListen,
    /// `POSTCOPY_RUN`, no payload.
    PostcopyRun,
    /// `POSTCOPY_RAM_DISCARD`: the whole payload, whose length rules are
    /// checked (version byte, u8 idlen, idstr, a zero byte, then be64 start
    /// and be64 length pairs).
    PostcopyRamDiscard(&'a [u8]),
    /// `PACKAGED`: length of the stream package that follows the command.
    Packaged(u32),
    /// `ENABLE_COLO`, no payload.
    EnableColo,
    /// `POSTCOPY_RESUME`, no payload.
    PostcopyResume,
    /// `RECV_BITMAP`: the RAMBlock idstr (1 to 255 bytes).
    RecvBitmap(&'a [u8]),
    /// `SWITCHOVER_START`, no payload.
    SwitchoverStart,
}

impl<'a> Command<'a> {
    /// The command number.
    pub const fn command_type(&self) -> CommandType {
        match self {
            Command::OpenReturnPath => CommandType::OpenReturnPath,
            Command::Ping(_) => CommandType::Ping,
            Command::PostcopyAdvise(_) => CommandType::PostcopyAdvise,
            Command::PostcopyListen => CommandType::PostcopyListen,
            Command::PostcopyRun => CommandType::PostcopyRun,
            Command::PostcopyRamDiscard(_) => CommandType::PostcopyRamDiscard,
            Command::Packaged(_) => CommandType::Packaged,
            Command::EnableColo => CommandType::EnableColo,
            Command::PostcopyResume => CommandType::PostcopyResume,
            Command::RecvBitmap(_) => CommandType::RecvBitmap,
            Command::SwitchoverStart => CommandType::SwitchoverStart,
        }
    }

    /// Payload bytes this command encodes to.
    pub fn payload_len(&self) -> usize {
        match self {
            Command::Ping(_) | Command::Packaged(_) => 4,
            Command::PostcopyAdvise(Some(_)) => ADVISE_RAM_LEN,
            Command::PostcopyRamDiscard(p) => p.len(),
            Command::RecvBitmap(id) => id.len().saturating_add(1),
            _ => 0,
        }
    }

    /// Bytes this command encodes to, header included.
    pub fn encoded_len(&self) -> usize {
        COMMAND_HEADER_LEN.saturating_add(self.payload_len())
    }

    /// Write the command, section byte included; returns the count written.
    ///
    /// Refuses what the destination would refuse: an oversized package, an
    /// empty or over-long idstr, a discard payload breaking its length rules.
    pub fn encode(&self, buf: &mut [u8]) -> Result<usize> {
        self.check()?;
        let len = self.payload_len();
        let len16 = u16::try_from(len).map_err(|_| bad_length(usize::from(u16::MAX), len))?;
        ensure_room(buf, self.encoded_len())?;
        let mut w = Writer::new(buf);
        w.put(&[QEMU_VM_COMMAND])?;
        w.put(&self.command_type().as_u16().to_be_bytes())?;
        w.put(&len16.to_be_bytes())?;
        match *self {
            Command::Ping(v) | Command::Packaged(v) => w.put(&v.to_be_bytes())?,
            Command::PostcopyAdvise(Some(p)) => {
                w.put(&p.page_size_summary.to_be_bytes())?;
                w.put(&p.target_page_size.to_be_bytes())?;
            }
            Command::PostcopyRamDiscard(p) => w.put(p)?,
            Command::RecvBitmap(id) => {
                // check() bounded the idstr to 1..=255 bytes
                w.put(&[u8::try_from(id.len())
                    .map_err(|_| bad_length(256, id.len().saturating_add(1)))?])?;
                w.put(id)?;
            }
            _ => {}
        }
        Ok(w.len())
    }

    /// The rules on payload contents that QEMU's destination enforces.
    fn check(&self) -> Result<()> {
        // PACKAGED: every family accepts any be32 length (MAX_PACKAGED_SIZE
        // is u32::MAX), so its value needs no check here.
        match *self {
            Command::PostcopyRamDiscard(p) => check_ram_discard(p),
            Command::RecvBitmap(id) if id.is_empty() || id.len() > 255 => {
                Err(bad_length(2, id.len().saturating_add(1)))
            }
            _ => Ok(()),
        }
    }

    /// Decode one command from the start of `input`, which must begin with
    /// the section byte `0x08`.
    ///
    /// Errors, in QEMU's order: [`ErrorCode::LegacyNotACommand`] (detail:
    /// the byte found), [`ErrorCode::LegacyUnknownType`] for cmd 0 or above
    /// [`CommandType::MAX`], then [`ErrorCode::LegacyBadLength`] for a fixed
    /// length not met. These come as soon as the 5-byte header is there; the
    /// per-command rules follow once the payload is complete.
    pub fn decode(input: &'a [u8]) -> Result<Parsed<Command<'a>>> {
        let Some(&section) = input.first() else {
            return Ok(Parsed::Incomplete(COMMAND_HEADER_LEN));
        };
        if section != QEMU_VM_COMMAND {
            return Err(Error::with(
                ErrorCode::LegacyNotACommand,
                Detail::Frame(section),
            ));
        }
        let (Some(cmd), Some(len)) = (be::u16_at(input, 1), be::u16_at(input, 3)) else {
            return Ok(Parsed::Incomplete(
                COMMAND_HEADER_LEN.saturating_sub(input.len()),
            ));
        };
        let Some(ty) = CommandType::from_u16(cmd) else {
            return Err(Error::with(
                ErrorCode::LegacyUnknownType,
                Detail::Value {
                    expected: u32::from(CommandType::MAX),
                    got: u32::from(cmd),
                },
            ));
        };
        if let Some(fixed) = ty.fixed_len() {
            if fixed != len {
                return Err(bad_length(usize::from(fixed), usize::from(len)));
            }
        }
        let total = COMMAND_HEADER_LEN.saturating_add(usize::from(len));
        let Some(payload) = input.get(COMMAND_HEADER_LEN..total) else {
            return Ok(Parsed::Incomplete(total.saturating_sub(input.len())));
        };
        let c = Self::from_payload(ty, payload)?;
        c.check()?;
        Ok(Parsed::Done(c, total))
    }

    /// Build the command from a payload whose length already passed the
    /// fixed-length rule.
    fn from_payload(ty: CommandType, p: &'a [u8]) -> Result<Command<'a>> {
        let word = || be::u32_at(p, 0).ok_or_else(|| bad_length(4, p.len()));
        Ok(match ty {
            CommandType::OpenReturnPath => Command::OpenReturnPath,
            CommandType::Ping => Command::Ping(word()?),
            CommandType::PostcopyAdvise => match p.len() {
                0 => Command::PostcopyAdvise(None),
                ADVISE_RAM_LEN => {
                    let (Some(page_size_summary), Some(target_page_size)) =
                        (be::u64_at(p, 0), be::u64_at(p, 8))
                    else {
                        return Err(bad_length(ADVISE_RAM_LEN, p.len()));
                    };
                    Command::PostcopyAdvise(Some(PageSizes {
                        page_size_summary,
                        target_page_size,
                    }))
                }
                n => return Err(bad_length(ADVISE_RAM_LEN, n)),
            },
            CommandType::PostcopyListen => Command::PostcopyListen,
            CommandType::PostcopyRun => Command::PostcopyRun,
            CommandType::PostcopyRamDiscard => Command::PostcopyRamDiscard(p),
            CommandType::Packaged => Command::Packaged(word()?),
            CommandType::EnableColo => Command::EnableColo,
            CommandType::PostcopyResume => Command::PostcopyResume,
            CommandType::RecvBitmap => {
                let (&n, id) = p.split_first().ok_or_else(|| bad_length(2, p.len()))?;
                if n == 0 || usize::from(n) != id.len() {
                    return Err(bad_length(usize::from(n).saturating_add(1).max(2), p.len()));
                }
                Command::RecvBitmap(id)
            }
            CommandType::SwitchoverStart => Command::SwitchoverStart,
        })
    }
}

/// `POSTCOPY_RAM_DISCARD` length rules: at least 20 bytes, the idstr inside
/// the payload, and whole 16-byte ranges after the zero byte that ends it.
fn check_ram_discard(p: &[u8]) -> Result<()> {
    if p.len() < MIN_RAM_DISCARD_LEN {
        return Err(bad_length(MIN_RAM_DISCARD_LEN, p.len()));
    }
    let idlen = p.get(1).copied().map(usize::from).unwrap_or(0);
    // version, idlen, idstr, terminating zero
    let head = idlen.saturating_add(3);
    let Some(ranges) = p.len().checked_sub(head) else {
        return Err(bad_length(head, p.len()));
    };
    let rest = ranges % 16;
    if rest != 0 {
        return Err(bad_length(p.len().saturating_sub(rest), p.len()));
    }
    Ok(())
}

/// The parts of a `POSTCOPY_RAM_DISCARD` payload. The version (QEMU wants
/// [`RAM_DISCARD_VERSION`]) and the byte after the idstr (QEMU wants 0) are
/// handed over as they are: they are content, not framing.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RamDiscard<'a> {
    /// The version byte.
    pub version: u8,
    /// The RAMBlock idstr.
    pub idstr: &'a [u8],
    /// The byte that ends the idstr.
    pub terminator: u8,
    /// The `(start, length)` pairs.
    pub ranges: DiscardRanges<'a>,
}

impl<'a> RamDiscard<'a> {
    /// Split a payload that passed the length rules; `None` otherwise.
    pub fn parse(p: &'a [u8]) -> Option<RamDiscard<'a>> {
        check_ram_discard(p).ok()?;
        let (&version, rest) = p.split_first()?;
        let (&idlen, rest) = rest.split_first()?;
        let (idstr, rest) = rest.split_at_checked(usize::from(idlen))?;
        let (&terminator, ranges) = rest.split_first()?;
        Some(RamDiscard {
            version,
            idstr,
            terminator,
            ranges: DiscardRanges(ranges),
        })
    }
}

/// Iterator over the `(start, length)` pairs of a discard payload.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DiscardRanges<'a>(&'a [u8]);

impl Iterator for DiscardRanges<'_> {
    type Item = (u64, u64);

    fn next(&mut self) -> Option<(u64, u64)> {
        let (pair, rest) = self.0.split_at_checked(16)?;
        self.0 = rest;
        Some((be::u64_at(pair, 0)?, be::u64_at(pair, 8)?))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec;
    use std::vec::Vec;

    use super::*;
    use crate::legacy::test_util::hex;

    fn encode(c: &Command<'_>) -> Vec<u8> {
        let mut buf = [0u8; 600];
        let n = c.encode(&mut buf).unwrap();
        assert_eq!(n, c.encoded_len());
        buf[..n].to_vec()
    }

    fn decode(b: &[u8]) -> Result<Parsed<Command<'_>>> {
        Command::decode(b)
    }

    fn code(r: Result<Parsed<Command<'_>>>) -> (ErrorCode, Detail) {
        let e = r.unwrap_err();
        (e.code, e.detail)
    }

    fn value(expected: u32, got: u32) -> Detail {
        Detail::Value { expected, got }
    }

    mod header {
        use super::*;

        #[test]
        fn is_qevm_then_version_3_as_qemu_writes_it() {
            let mut buf = [0u8; 8];
            assert_eq!(StreamHeader.encode(&mut buf), Ok(8));
            assert_eq!(buf.to_vec(), hex("51 45 56 4d 00 00 00 03"));
            assert_eq!(
                StreamHeader::decode(&buf),
                Ok(Parsed::Done(StreamHeader, 8))
            );
        }

        #[test]
        fn decodes_with_stream_bytes_after_it() {
            let b = hex("51 45 56 4d 00 00 00 03 07 00 00 00");
            assert_eq!(StreamHeader::decode(&b), Ok(Parsed::Done(StreamHeader, 8)));
        }

        #[test]
        fn truncated_asks_for_the_rest() {
            let b = hex("51 45 56 4d 00 00 00 03");
            for n in 0..8 {
                assert_eq!(StreamHeader::decode(&b[..n]), Ok(Parsed::Incomplete(8 - n)));
            }
        }

        #[test]
        fn wrong_magic_is_unknown_magic() {
            let e = StreamHeader::decode(&hex("41 43 52 44 00 00 00 03")).unwrap_err();
            assert_eq!(e.code, ErrorCode::LegacyUnknownMagic);
            assert_eq!(e.detail, value(QEVM_MAGIC, 0x4143_5244));
        }

        #[test]
        fn obsolete_version_2_is_refused() {
            let e = StreamHeader::decode(&hex("51 45 56 4d 00 00 00 02")).unwrap_err();
            assert_eq!(e.code, ErrorCode::LegacyStreamVersion);
            assert_eq!(e.detail, value(3, 2));
        }

        #[test]
        fn encode_needs_eight_bytes() {
            let mut buf = [0u8; 7];
            assert_eq!(
                StreamHeader.encode(&mut buf).unwrap_err().code,
                ErrorCode::BufferTooSmall
            );
        }
    }

    mod qemu_bytes {
        use super::*;

        #[test]
        fn ping_1() {
            let b = hex("08 0002 0004 00000001");
            assert_eq!(encode(&Command::Ping(1)), b);
            assert_eq!(decode(&b), Ok(Parsed::Done(Command::Ping(1), 9)));
        }

        #[test]
        fn ping_packaged_loaded_is_an_ordinary_ping_of_0x42() {
            let b = hex("08 0002 0004 00000042");
            let c = Command::Ping(PING_PACKAGED_LOADED);
            assert_eq!(encode(&c), b);
            assert_eq!(decode(&b), Ok(Parsed::Done(c, 9)));
        }

        #[test]
        fn open_return_path() {
            let b = hex("08 0001 0000");
            assert_eq!(encode(&Command::OpenReturnPath), b);
            assert_eq!(decode(&b), Ok(Parsed::Done(Command::OpenReturnPath, 5)));
        }

        #[test]
        fn switchover_start() {
            let b = hex("08 000b 0000");
            assert_eq!(encode(&Command::SwitchoverStart), b);
            assert_eq!(decode(&b), Ok(Parsed::Done(Command::SwitchoverStart, 5)));
        }

        #[test]
        fn packaged_announces_the_length_that_follows() {
            let b = hex("08 0007 0004 00001234");
            assert_eq!(encode(&Command::Packaged(0x1234)), b);
            assert_eq!(decode(&b), Ok(Parsed::Done(Command::Packaged(0x1234), 9)));
        }

        #[test]
        fn postcopy_advise_with_page_sizes() {
            let b = hex("08 0003 0010 0000000000201000 0000000000001000");
            let c = Command::PostcopyAdvise(Some(PageSizes {
                page_size_summary: 0x20_1000,
                target_page_size: 0x1000,
            }));
            assert_eq!(encode(&c), b);
            assert_eq!(decode(&b), Ok(Parsed::Done(c, 21)));
        }

        #[test]
        fn recv_bitmap_for_pc_ram() {
            let b = hex("08 000a 0007 06 70632e72616d");
            assert_eq!(encode(&Command::RecvBitmap(b"pc.ram")), b);
            assert_eq!(
                decode(&b),
                Ok(Parsed::Done(Command::RecvBitmap(b"pc.ram"), 12))
            );
        }

        #[test]
        fn ram_discard_of_one_range() {
            let b = hex("08 0006 0019 00 06 70632e72616d 00 0000000000001000 0000000000002000");
            let p = &b[5..];
            assert_eq!(encode(&Command::PostcopyRamDiscard(p)), b);
            assert_eq!(
                decode(&b),
                Ok(Parsed::Done(Command::PostcopyRamDiscard(p), 30))
            );
            let d = RamDiscard::parse(p).unwrap();
            assert_eq!((d.version, d.idstr, d.terminator), (0, &b"pc.ram"[..], 0));
            assert_eq!(d.ranges.collect::<Vec<_>>(), [(0x1000, 0x2000)]);
        }
    }

    mod round_trip {
        use super::*;

        #[test]
        fn every_command() {
            let discard = hex(
                "00 01 61 00 0000000000000000 0000000000001000 0000000000004000 0000000000002000",
            );
            let all = [
                Command::OpenReturnPath,
                Command::Ping(0xdead_beef),
                Command::PostcopyAdvise(None),
                Command::PostcopyAdvise(Some(PageSizes {
                    page_size_summary: 0x1000,
                    target_page_size: 0x1000,
                })),
                Command::PostcopyListen,
                Command::PostcopyRun,
                Command::PostcopyRamDiscard(&discard),
                Command::Packaged(MAX_PACKAGED_SIZE),
                Command::EnableColo,
                Command::PostcopyResume,
                Command::RecvBitmap(&[b'x'; 255]),
                Command::SwitchoverStart,
            ];
            for c in all {
                let b = encode(&c);
                assert_eq!(decode(&b), Ok(Parsed::Done(c, b.len())), "{c:?}");
                assert_eq!(b[0], QEMU_VM_COMMAND);
                assert_eq!(u16::from_be_bytes([b[1], b[2]]), c.command_type().as_u16());
                assert_eq!(
                    usize::from(u16::from_be_bytes([b[3], b[4]])),
                    c.payload_len()
                );
            }
        }

        #[test]
        fn command_numbers_and_names_are_qemus() {
            for (i, t) in CommandType::ALL.iter().enumerate() {
                assert_eq!(usize::from(t.as_u16()), i + 1);
                assert_eq!(CommandType::from_u16(t.as_u16()), Some(*t));
            }
            assert_eq!(CommandType::SwitchoverStart.name(), "SWITCHOVER_START");
            assert_eq!(CommandType::from_u16(0), None);
            assert_eq!(CommandType::from_u16(12), None);
        }

        #[test]
        fn consecutive_commands_decode_one_at_a_time() {
            let b = hex("08 0001 0000 08 0002 0004 00000007 08 000b 0000");
            let mut at = 0;
            let mut got = Vec::new();
            while at < b.len() {
                let Parsed::Done(c, n) = decode(&b[at..]).unwrap() else {
                    panic!()
                };
                got.push(c);
                at += n;
            }
            assert_eq!(
                got,
                [
                    Command::OpenReturnPath,
                    Command::Ping(7),
                    Command::SwitchoverStart
                ]
            );
        }
    }

    mod length_rules {
        use super::*;

        #[test]
        fn fixed_lengths_are_enforced_from_the_header_alone() {
            for t in CommandType::ALL {
                let Some(fixed) = t.fixed_len() else { continue };
                let bad = fixed + 1;
                let mut h = vec![QEMU_VM_COMMAND];
                h.extend_from_slice(&t.as_u16().to_be_bytes());
                h.extend_from_slice(&bad.to_be_bytes());
                assert_eq!(
                    code(decode(&h)),
                    (
                        ErrorCode::LegacyBadLength,
                        value(u32::from(fixed), u32::from(bad))
                    ),
                    "{t:?}"
                );
            }
        }

        #[test]
        fn the_table_matches_qemus_mig_cmd_args() {
            let fixed: Vec<_> = CommandType::ALL.iter().map(|t| t.fixed_len()).collect();
            let qemu = [
                Some(0),
                Some(4),
                None,
                Some(0),
                Some(0),
                None,
                Some(4),
                Some(0),
                Some(0),
                None,
                Some(0),
            ];
            assert_eq!(fixed, qemu);
        }

        #[test]
        fn enable_colo_must_be_empty_because_qemus_table_has_no_entry_for_it() {
            assert_eq!(
                code(decode(&hex("08 0008 0001 00"))),
                (ErrorCode::LegacyBadLength, value(0, 1))
            );
        }

        #[test]
        fn postcopy_advise_is_0_or_16_bytes() {
            assert_eq!(
                decode(&hex("08 0003 0000")),
                Ok(Parsed::Done(Command::PostcopyAdvise(None), 5))
            );
            assert_eq!(
                code(decode(&hex("08 0003 0008 0000000000001000"))),
                (ErrorCode::LegacyBadLength, value(16, 8))
            );
        }

        #[test]
        fn packaged_over_16_mib_is_accepted_as_qemu_since_2_10_does() {
            for n in [MAX_PACKAGED_SIZE_BEFORE_2_10 + 1, MAX_PACKAGED_SIZE] {
                let b = encode(&Command::Packaged(n));
                assert_eq!(&b[5..], n.to_be_bytes());
                assert_eq!(decode(&b), Ok(Parsed::Done(Command::Packaged(n), 9)));
            }
            assert_eq!(
                decode(&hex("08 0007 0004 ffffffff")),
                Ok(Parsed::Done(Command::Packaged(u32::MAX), 9))
            );
        }

        #[test]
        fn recv_bitmap_idlen_must_match_and_not_be_zero() {
            assert_eq!(
                code(decode(&hex("08 000a 0000"))),
                (ErrorCode::LegacyBadLength, value(2, 0))
            );
            assert_eq!(
                code(decode(&hex("08 000a 0001 00"))),
                (ErrorCode::LegacyBadLength, value(2, 1))
            );
            assert_eq!(
                code(decode(&hex("08 000a 0003 01 6161"))),
                (ErrorCode::LegacyBadLength, value(2, 3))
            );
            assert_eq!(
                code(decode(&hex("08 000a 0002 05 61"))),
                (ErrorCode::LegacyBadLength, value(6, 2))
            );
            let mut buf = [0u8; 8];
            assert_eq!(
                Command::RecvBitmap(b"").encode(&mut buf).unwrap_err().code,
                ErrorCode::LegacyBadLength
            );
        }

        #[test]
        fn ram_discard_needs_20_bytes_and_whole_ranges() {
            // 19 bytes: below QEMU's minimum
            assert_eq!(
                code(decode(&hex(
                    "08 0006 0013 00 00 00 0000000000000000 0000000000000000"
                ))),
                (ErrorCode::LegacyBadLength, value(20, 19))
            );
            // idlen 1, then 17 bytes after the terminator: not whole ranges
            assert_eq!(
                code(decode(&hex(
                    "08 0006 0015 00 01 61 00 0000000000000000 0000000000000000 ff"
                ))),
                (ErrorCode::LegacyBadLength, value(20, 21))
            );
            // idlen 200 in a 20-byte payload: the idstr cannot fit
            assert_eq!(
                code(decode(&hex(
                    "08 0006 0014 00 c8 61 00 0000000000000000 0000000000000000"
                ))),
                (ErrorCode::LegacyBadLength, value(203, 20))
            );
        }

        #[test]
        fn unknown_commands_are_refused_before_their_payload() {
            for cmd in [0u16, 12, 0x00ff, 0xffff] {
                let mut h = vec![QEMU_VM_COMMAND];
                h.extend_from_slice(&cmd.to_be_bytes());
                h.extend_from_slice(&[0xff, 0xff]);
                assert_eq!(
                    code(decode(&h)),
                    (ErrorCode::LegacyUnknownType, value(11, u32::from(cmd)))
                );
            }
        }

        #[test]
        fn another_section_is_not_a_command() {
            assert_eq!(
                code(decode(&hex("04 00000001"))),
                (ErrorCode::LegacyNotACommand, Detail::Frame(4))
            );
        }
    }

    mod truncation {
        use super::*;

        #[test]
        fn every_prefix_asks_for_exactly_what_is_missing() {
            let b = hex("08 0002 0004 00000001");
            assert_eq!(decode(&[]), Ok(Parsed::Incomplete(COMMAND_HEADER_LEN)));
            for n in 1..b.len() {
                let want = if n < COMMAND_HEADER_LEN {
                    COMMAND_HEADER_LEN - n
                } else {
                    b.len() - n
                };
                assert_eq!(decode(&b[..n]), Ok(Parsed::Incomplete(want)), "prefix {n}");
            }
        }

        #[test]
        fn a_long_payload_is_awaited_not_guessed() {
            let b = hex("08 000a 0007 06 70632e72");
            assert_eq!(decode(&b), Ok(Parsed::Incomplete(2)));
        }

        #[test]
        fn encode_refuses_a_short_buffer() {
            let mut buf = [0u8; 8];
            let e = Command::Ping(1).encode(&mut buf).unwrap_err();
            assert_eq!((e.code, e.detail), (ErrorCode::BufferTooSmall, value(9, 8)));
        }
    }
}
