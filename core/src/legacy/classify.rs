//! Which incoming connection is which, on a destination talking to a QEMU
//! source that knows nothing of accord.
//!
//! QEMU names no channel. Its destination tells them apart by arrival order
//! and, in some versions and configurations, by peeking at the first four
//! bytes: `QEVM` opens the main stream, `0x11223344` a multifd channel. The
//! postcopy-preempt channel sends nothing at all until postcopy runs, so
//! peeking at it can block forever; the rules below never ask for bytes on a
//! connection that is decided from state alone.
//!
//! The rules per version family (docs/LEGACY.md has the full table):
//!
//! - **7.2**: arrival order. The first connection is main; later ones are
//!   multifd (id from their 64-byte header) if multifd is on, else preempt.
//! - **8.0 to 10.0**: peek 4 bytes only when multifd is on, postcopy-ram is
//!   off and the channel can be peeked (not TLS); otherwise as 7.2.
//! - **10.1+**: while main or some multifd channel is missing, peek (or, on a
//!   channel that cannot be peeked, take the first connection as main and
//!   later ones as multifd). Once main and every multifd channel are there,
//!   the next connection is preempt, decided without reading.
//!
//! The one case where QEMU itself can block reading a silent channel is
//! 10.1+ with postcopy-preempt and `x-preempt-pre-7-2` (machine types up to
//! 7.2): the source connects preempt during setup, so it may arrive while
//! multifd channels are still missing, and QEMU peeks (or, with TLS, reads a
//! multifd header from) it. Here the classifier answers
//! [`Decision::MaybeSilent`] instead of [`Decision::NeedMore`]: the caller
//! parks that connection without waiting on it and asks again after every
//! other decision; once main and all multifd channels are in, the parked
//! connection is decided as preempt without a byte read.

use super::be;
use super::multifd::{MultifdInit, MULTIFD_INIT_LEN, MULTIFD_MAGIC};
use super::stream::{MAX_PACKAGED_SIZE, QEVM_MAGIC};
use super::Parsed;
use crate::caps::CapabilityId;
use crate::channel::Role;
use crate::error::{Detail, Error, ErrorCode, Result};
use crate::log::trace;

/// Bytes peeked to tell main from multifd.
pub const MAGIC_LEN: usize = 4;

/// A QEMU version family whose channel rules the classifier reproduces.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Family {
    /// QEMU 7.2: arrival order only.
    Qemu7_2,
    /// QEMU 8.0 to 10.0: peek only with multifd on, postcopy off, no TLS.
    Qemu8_0To10_0,
    /// QEMU 10.1 and later: peek until main and multifd are in, then preempt.
    /// An upstream `channel.c` newer than 10.2 waits for bytes instead of
    /// peeking (release not pinned, docs/LEGACY.md §8); it ends with the
    /// same roles as this family with [`Decision::MaybeSilent`] parking.
    Qemu10_1Plus,
}

impl Family {
    /// Every family, oldest first.
    pub const ALL: [Family; 3] = [Family::Qemu7_2, Family::Qemu8_0To10_0, Family::Qemu10_1Plus];

    /// Largest package a `PACKAGED` command may announce to a destination
    /// of this family. QEMU raised its limit from 16 MiB to `UINT32_MAX` in
    /// 2.10 (docs/LEGACY.md §2), long before 7.2, so every family here
    /// takes any be32 length.
    pub const fn max_packaged_size(self) -> u32 {
        match self {
            Family::Qemu7_2 | Family::Qemu8_0To10_0 | Family::Qemu10_1Plus => MAX_PACKAGED_SIZE,
        }
    }
}

/// The migration settings of the destination that matter to identification.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct LegacyConfig {
    /// The QEMU version family whose rules apply.
    pub family: Family,
    /// Multifd channel count; 0 means multifd is off.
    pub multifd_channels: u8,
    /// `postcopy-ram` capability.
    pub postcopy_ram: bool,
    /// `postcopy-preempt` capability (needs `postcopy_ram`).
    pub postcopy_preempt: bool,
    /// Compat property `x-preempt-pre-7-2` (machine types up to 7.2): the
    /// source connects the preempt channel during setup, not after the
    /// first PONG.
    pub preempt_pre_7_2: bool,
    /// Whether the transport lets the caller look at bytes without
    /// consuming them. False for TLS, whose channels QEMU cannot peek.
    pub peekable: bool,
    /// Uuid every multifd header must carry; `None` skips the check. QEMU
    /// always checks, against its `-uuid` or all zeros without one.
    pub uuid: Option<[u8; 16]>,
}

impl LegacyConfig {
    /// A plain-socket config of `family` with every option off.
    pub const fn new(family: Family) -> Self {
        LegacyConfig {
            family,
            multifd_channels: 0,
            postcopy_ram: false,
            postcopy_preempt: false,
            preempt_pre_7_2: false,
            peekable: true,
            uuid: None,
        }
    }
}

/// What the classifier made of a connection.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Decision {
    /// The main channel. Nothing was consumed: the stream header is still
    /// to be read.
    Main,
    /// Multifd channel `id`. Its 64-byte `MultiFDInit_t` was parsed and
    /// belongs to it: the caller consumes those bytes.
    Multifd {
        /// The channel id from the header.
        id: u8,
    },
    /// The postcopy-preempt channel, decided without reading it.
    Preempt,
    /// Not enough bytes: call again once this many bytes from the start of
    /// the connection are available. The peer is certain to send them.
    NeedMore(usize),
    /// Not enough bytes, and this connection may be the preempt channel,
    /// which sends nothing until postcopy runs: do not wait on it. Keep it
    /// aside and call again when it has this many bytes, or after any other
    /// connection is decided.
    MaybeSilent(usize),
}

/// How the next connection is identified, from state alone.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Rule {
    /// By order: main.
    Main,
    /// By order: preempt.
    Preempt,
    /// By order: multifd, id read from its header.
    MultifdByOrder,
    /// By the first four bytes.
    Peek,
    /// The expected set is complete: nothing more may arrive. The detail
    /// names what the family's rules would have made of it, when known.
    Surplus(Option<Role>),
}

/// Identifies incoming legacy connections one at a time. `Copy`, under 64
/// bytes of state, no allocation; every call does a bounded amount of work.
///
/// A connection that gets [`Decision::NeedMore`] or
/// [`Decision::MaybeSilent`] changes nothing; the caller may classify other
/// connections meanwhile and come back to it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Classifier {
    cfg: LegacyConfig,
    main: bool,
    preempt: bool,
    /// Multifd ids seen, one bit each (ids are a `u8`).
    multifd: [u32; 8],
    multifd_count: u16,
    /// Postcopy paused: main and preempt are being re-established.
    recovering: bool,
}

impl Classifier {
    /// A classifier for `cfg`, refusing what QEMU refuses or cannot run:
    ///
    /// - postcopy-preempt without postcopy-ram
    ///   ([`ErrorCode::CapabilityDependency`]);
    /// - 8.0 to 10.0: multifd with postcopy-ram ("Postcopy is not yet
    ///   compatible with multifd", QEMU 8.1 to 10.0);
    /// - 7.2: multifd with postcopy-preempt, which 7.2 accepts but then
    ///   takes the preempt channel for a multifd one
    ///
    /// (both [`ErrorCode::InvalidArgument`], naming the capability).
    pub fn new(cfg: LegacyConfig) -> Result<Self> {
        if cfg.postcopy_preempt && !cfg.postcopy_ram {
            return Err(Error::with(
                ErrorCode::CapabilityDependency,
                Detail::Dependency {
                    capability: CapabilityId::POSTCOPY_PREEMPT,
                    needs: CapabilityId::POSTCOPY_RAM,
                },
            ));
        }
        let multifd = cfg.multifd_channels > 0;
        let refused = match cfg.family {
            Family::Qemu7_2 if multifd && cfg.postcopy_preempt => {
                Some(CapabilityId::POSTCOPY_PREEMPT)
            }
            Family::Qemu8_0To10_0 if multifd && cfg.postcopy_ram => Some(CapabilityId::MULTIFD),
            _ => None,
        };
        if let Some(c) = refused {
            return Err(Error::with(
                ErrorCode::InvalidArgument,
                Detail::Capability(c),
            ));
        }
        Ok(Classifier {
            cfg,
            main: false,
            preempt: false,
            multifd: [0; 8],
            multifd_count: 0,
            recovering: false,
        })
    }

    /// The configuration.
    pub const fn config(&self) -> &LegacyConfig {
        &self.cfg
    }

    /// Bytes the caller must have from the start of the next new connection
    /// before [`classify`](Self::classify) can decide: 0 when the decision
    /// comes from state alone (the connection is never read), 4 to peek at
    /// the magic (a multifd magic then asks for 64), 64 for a multifd channel
    /// known by order whose header gives the id.
    pub fn bytes_needed(&self) -> usize {
        match self.rule() {
            Rule::Main | Rule::Preempt | Rule::Surplus(_) => 0,
            Rule::Peek => MAGIC_LEN,
            Rule::MultifdByOrder => MULTIFD_INIT_LEN,
        }
    }

    /// Whether the next new connection may be the preempt channel while
    /// bytes are needed to identify it; see [`Decision::MaybeSilent`].
    pub fn may_be_silent(&self) -> bool {
        let c = &self.cfg;
        c.family == Family::Qemu10_1Plus
            && c.postcopy_preempt
            && c.preempt_pre_7_2
            && !self.preempt
            && matches!(self.rule(), Rule::Peek | Rule::MultifdByOrder)
    }

    /// Identify a connection from the bytes seen so far at its start
    /// (`peeked` may be empty, or longer than needed).
    ///
    /// On a final decision the classifier records the channel. Errors:
    /// [`ErrorCode::LegacyUnknownMagic`] (neither magic), the multifd header
    /// errors of [`MultifdInit::parse`], and
    /// [`ErrorCode::LegacyUnexpectedChannel`] for a channel outside the
    /// expected set: a second main, a duplicate multifd id (detail
    /// [`Detail::Channel`]), multifd while it is off, or any connection once
    /// the set is complete. An error records nothing.
    pub fn classify(&mut self, peeked: &[u8]) -> Result<Decision> {
        let d = match self.rule() {
            Rule::Main => Decision::Main,
            Rule::Preempt => Decision::Preempt,
            Rule::Surplus(role) => {
                let detail = role.map_or(Detail::None, |role| Detail::Channel { role, index: 0 });
                return Err(Error::with(ErrorCode::LegacyUnexpectedChannel, detail));
            }
            Rule::MultifdByOrder => self.multifd_header(peeked)?,
            Rule::Peek => self.peek(peeked)?,
        };
        self.record(d);
        Ok(d)
    }

    /// Postcopy paused: the main and preempt connections are gone and the
    /// source will connect them again. Multifd channels are not
    /// re-established (QEMU keeps counting them as created).
    /// [`ErrorCode::InvalidState`] without postcopy-ram or before main.
    pub fn begin_recovery(&mut self) -> Result<()> {
        if !self.cfg.postcopy_ram || !self.main {
            return Err(Error::new(ErrorCode::InvalidState));
        }
        trace!("legacy: postcopy recovery, main and preempt expected again");
        self.main = false;
        self.preempt = false;
        self.recovering = true;
        Ok(())
    }

    /// Whether every expected channel is present: main, each multifd id
    /// below the count, and preempt when it is on.
    pub fn is_complete(&self) -> bool {
        self.main && self.multifd_done() && (!self.cfg.postcopy_preempt || self.preempt)
    }

    /// Whether QEMU of this family would now start loading the main stream
    /// (or resume a paused postcopy): 7.2 waits for every channel, preempt
    /// included; later versions wait for main and all multifd channels only.
    pub fn ready_to_load(&self) -> bool {
        match self.cfg.family {
            Family::Qemu7_2 => self.is_complete(),
            Family::Qemu8_0To10_0 | Family::Qemu10_1Plus => self.main && self.multifd_done(),
        }
    }

    /// Whether the main channel is present.
    pub const fn main_present(&self) -> bool {
        self.main
    }

    /// Whether the preempt channel is present.
    pub const fn preempt_present(&self) -> bool {
        self.preempt
    }

    /// Whether multifd channel `id` is present.
    pub fn multifd_present(&self, id: u8) -> bool {
        let (word, bit) = Self::slot(id);
        self.multifd.get(word).is_some_and(|w| w & bit != 0)
    }

    /// How many multifd channels are present.
    pub const fn multifd_count(&self) -> u16 {
        self.multifd_count
    }

    /// Whether a postcopy recovery is waiting for its main channel.
    pub const fn recovering(&self) -> bool {
        self.recovering
    }

    fn multifd_done(&self) -> bool {
        self.multifd_count >= u16::from(self.cfg.multifd_channels)
    }

    fn slot(id: u8) -> (usize, u32) {
        (usize::from(id / 32), 1u32 << (id % 32))
    }

    fn rule(&self) -> Rule {
        let c = &self.cfg;
        let peek_8_0 = c.multifd_channels > 0 && !c.postcopy_ram && c.peekable;
        match c.family {
            Family::Qemu7_2 => self.by_order(),
            Family::Qemu8_0To10_0 if peek_8_0 && self.is_complete() => Rule::Surplus(None),
            Family::Qemu8_0To10_0 if peek_8_0 => Rule::Peek,
            Family::Qemu8_0To10_0 => self.by_order(),
            Family::Qemu10_1Plus if !(self.main && self.multifd_done()) => {
                if c.peekable {
                    Rule::Peek
                } else if !self.main {
                    Rule::Main
                } else {
                    // main is in and some multifd channel is missing
                    Rule::MultifdByOrder
                }
            }
            Family::Qemu10_1Plus if c.postcopy_preempt && !self.preempt => Rule::Preempt,
            Family::Qemu10_1Plus => Rule::Surplus(c.postcopy_preempt.then_some(Role::Preempt)),
        }
    }

    /// 7.2's rule, and 8.0 to 10.0's when they do not peek.
    fn by_order(&self) -> Rule {
        let c = &self.cfg;
        if !self.main {
            Rule::Main
        } else if c.multifd_channels > 0 {
            if self.multifd_done() {
                Rule::Surplus(None)
            } else {
                Rule::MultifdByOrder
            }
        } else if c.postcopy_preempt && !self.preempt {
            Rule::Preempt
        } else {
            Rule::Surplus(c.postcopy_preempt.then_some(Role::Preempt))
        }
    }

    fn need(&self, n: usize) -> Decision {
        if self.may_be_silent() {
            Decision::MaybeSilent(n)
        } else {
            Decision::NeedMore(n)
        }
    }

    fn peek(&self, peeked: &[u8]) -> Result<Decision> {
        let Some(magic) = be::u32_at(peeked, 0) else {
            return Ok(self.need(MAGIC_LEN));
        };
        match magic {
            QEVM_MAGIC if self.main => Err(unexpected(Role::Main, 0)),
            QEVM_MAGIC => Ok(Decision::Main),
            MULTIFD_MAGIC => self.multifd_header(peeked),
            // a resumed main channel starts with commands, not QEVM
            _ if self.recovering && !self.main && self.cfg.family == Family::Qemu10_1Plus => {
                Ok(Decision::Main)
            }
            _ => Err(Error::with(
                ErrorCode::LegacyUnknownMagic,
                Detail::Value {
                    expected: QEVM_MAGIC,
                    got: magic,
                },
            )),
        }
    }

    fn multifd_header(&self, peeked: &[u8]) -> Result<Decision> {
        let channels = self.cfg.multifd_channels;
        if channels == 0 {
            // only reachable through a peeked multifd magic: report its id
            return match MultifdInit::decode(peeked)? {
                Parsed::Incomplete(_) => Ok(self.need(MULTIFD_INIT_LEN)),
                Parsed::Done(h, _) => Err(unexpected(Role::Multifd, h.id)),
            };
        }
        match MultifdInit::parse(peeked, self.cfg.uuid.as_ref(), channels)? {
            Parsed::Incomplete(_) => Ok(self.need(MULTIFD_INIT_LEN)),
            Parsed::Done(h, _) if self.multifd_present(h.id) => {
                Err(unexpected(Role::Multifd, h.id))
            }
            Parsed::Done(h, _) => Ok(Decision::Multifd { id: h.id }),
        }
    }

    fn record(&mut self, d: Decision) {
        match d {
            Decision::Main => {
                trace!("legacy: main channel");
                self.main = true;
                self.recovering = false;
            }
            Decision::Preempt => {
                trace!("legacy: preempt channel");
                self.preempt = true;
            }
            Decision::Multifd { id } => {
                trace!("legacy: multifd channel");
                let (word, bit) = Self::slot(id);
                if let Some(w) = self.multifd.get_mut(word) {
                    *w |= bit;
                }
                self.multifd_count = self.multifd_count.saturating_add(1);
            }
            Decision::NeedMore(_) | Decision::MaybeSilent(_) => {}
        }
    }
}

fn unexpected(role: Role, index: u8) -> Error {
    Error::with(
        ErrorCode::LegacyUnexpectedChannel,
        Detail::Channel {
            role,
            index: u16::from(index),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::multifd::MultifdInit;

    const QEVM: [u8; 8] = [0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3];
    /// First bytes of a resumed main channel: a RECV_BITMAP command.
    const RESUMED_MAIN: [u8; 6] = [0x08, 0x00, 0x0a, 0x00, 0x07, 0x06];

    fn mf(id: u8) -> [u8; 64] {
        let mut b = [0u8; 64];
        MultifdInit { uuid: [0; 16], id }.encode(&mut b).unwrap();
        b
    }

    fn cfg(family: Family) -> LegacyConfig {
        LegacyConfig::new(family)
    }

    fn multifd(family: Family, n: u8) -> LegacyConfig {
        LegacyConfig {
            multifd_channels: n,
            ..cfg(family)
        }
    }

    fn preempt(family: Family) -> LegacyConfig {
        LegacyConfig {
            postcopy_ram: true,
            postcopy_preempt: true,
            ..cfg(family)
        }
    }

    fn cl(c: LegacyConfig) -> Classifier {
        Classifier::new(c).unwrap()
    }

    fn err(r: Result<Decision>) -> (ErrorCode, Detail) {
        let e = r.unwrap_err();
        (e.code, e.detail)
    }

    fn unexpected(role: Role, index: u16) -> (ErrorCode, Detail) {
        (
            ErrorCode::LegacyUnexpectedChannel,
            Detail::Channel { role, index },
        )
    }

    const ALL: [Family; 3] = Family::ALL;

    mod config {
        use super::*;

        #[test]
        fn every_family_takes_a_package_of_any_be32_length() {
            for f in ALL {
                assert_eq!(f.max_packaged_size(), u32::MAX, "{f:?}");
            }
        }

        #[test]
        fn preempt_without_postcopy_ram_is_refused_in_every_family() {
            for f in ALL {
                let c = LegacyConfig {
                    postcopy_preempt: true,
                    ..cfg(f)
                };
                let e = Classifier::new(c).unwrap_err();
                assert_eq!(e.code, ErrorCode::CapabilityDependency);
                assert_eq!(
                    e.detail,
                    Detail::Dependency {
                        capability: CapabilityId::POSTCOPY_PREEMPT,
                        needs: CapabilityId::POSTCOPY_RAM
                    }
                );
            }
        }

        #[test]
        fn qemu_8_0_to_10_0_refuse_multifd_with_postcopy() {
            let c = LegacyConfig {
                postcopy_ram: true,
                ..multifd(Family::Qemu8_0To10_0, 4)
            };
            let e = Classifier::new(c).unwrap_err();
            assert_eq!(
                (e.code, e.detail),
                (
                    ErrorCode::InvalidArgument,
                    Detail::Capability(CapabilityId::MULTIFD)
                )
            );
        }

        #[test]
        fn qemu_7_2_refuses_multifd_with_preempt_but_not_with_postcopy_ram_alone() {
            let c = LegacyConfig {
                multifd_channels: 2,
                ..preempt(Family::Qemu7_2)
            };
            let e = Classifier::new(c).unwrap_err();
            assert_eq!(
                (e.code, e.detail),
                (
                    ErrorCode::InvalidArgument,
                    Detail::Capability(CapabilityId::POSTCOPY_PREEMPT)
                )
            );
            assert!(Classifier::new(LegacyConfig {
                postcopy_ram: true,
                ..multifd(Family::Qemu7_2, 2)
            })
            .is_ok());
        }

        #[test]
        fn qemu_10_1_accepts_multifd_with_preempt() {
            assert!(Classifier::new(LegacyConfig {
                multifd_channels: 4,
                ..preempt(Family::Qemu10_1Plus)
            })
            .is_ok());
        }

        #[test]
        fn the_state_stays_small() {
            assert!(core::mem::size_of::<Classifier>() <= 64);
        }
    }

    mod qemu_7_2 {
        use super::*;
        const F: Family = Family::Qemu7_2;

        #[test]
        fn a_lone_main_channel_is_decided_without_reading() {
            let mut c = cl(cfg(F));
            assert_eq!(c.bytes_needed(), 0);
            assert_eq!(c.classify(&[]), Ok(Decision::Main));
            assert!(c.is_complete() && c.ready_to_load());
        }

        #[test]
        fn later_connections_are_multifd_identified_by_their_header() {
            let mut c = cl(multifd(F, 2));
            assert_eq!(c.classify(&[]), Ok(Decision::Main));
            assert_eq!(c.bytes_needed(), MULTIFD_INIT_LEN);
            assert_eq!(c.classify(&mf(1)[..10]), Ok(Decision::NeedMore(64)));
            assert_eq!(c.classify(&mf(1)), Ok(Decision::Multifd { id: 1 }));
            assert!(!c.ready_to_load());
            assert_eq!(c.classify(&mf(0)), Ok(Decision::Multifd { id: 0 }));
            assert!(c.is_complete() && c.ready_to_load());
        }

        #[test]
        fn arrival_order_is_trusted_so_an_early_multifd_channel_is_taken_for_main() {
            // QEMU 7.2 does the same; the stream decoder then fails on the
            // multifd magic, and the real main fails the multifd header.
            let mut c = cl(multifd(F, 1));
            assert_eq!(c.classify(&mf(0)), Ok(Decision::Main));
            let mut stream = [0u8; 64];
            stream[..8].copy_from_slice(&QEVM);
            assert_eq!(
                c.classify(&stream[..8]),
                Ok(Decision::NeedMore(64)),
                "a header is never guessed"
            );
            assert_eq!(err(c.classify(&stream)).0, ErrorCode::LegacyUnknownMagic);
        }

        #[test]
        fn preempt_follows_main_and_is_never_read() {
            let mut c = cl(preempt(F));
            assert_eq!(c.classify(&[]), Ok(Decision::Main));
            assert!(!c.ready_to_load(), "7.2 waits for preempt before loading");
            assert_eq!(c.bytes_needed(), 0);
            assert_eq!(c.classify(&[]), Ok(Decision::Preempt));
            assert!(c.is_complete() && c.ready_to_load());
        }

        #[test]
        fn a_connection_past_the_expected_set_is_refused_unread() {
            let mut c = cl(multifd(F, 1));
            c.classify(&[]).unwrap();
            c.classify(&mf(0)).unwrap();
            assert_eq!(c.bytes_needed(), 0);
            assert_eq!(
                err(c.classify(&[])),
                (ErrorCode::LegacyUnexpectedChannel, Detail::None)
            );
            let mut p = cl(preempt(F));
            p.classify(&[]).unwrap();
            p.classify(&[]).unwrap();
            assert_eq!(err(p.classify(&[])), unexpected(Role::Preempt, 0));
        }

        #[test]
        fn a_duplicate_multifd_id_is_refused() {
            let mut c = cl(multifd(F, 3));
            c.classify(&[]).unwrap();
            c.classify(&mf(2)).unwrap();
            assert_eq!(err(c.classify(&mf(2))), unexpected(Role::Multifd, 2));
            assert_eq!(c.multifd_count(), 1);
        }

        #[test]
        fn recovery_takes_the_next_connection_as_main_by_order() {
            let mut c = cl(preempt(F));
            c.classify(&[]).unwrap();
            c.classify(&[]).unwrap();
            c.begin_recovery().unwrap();
            assert_eq!(c.classify(&[]), Ok(Decision::Main));
            assert_eq!(c.classify(&[]), Ok(Decision::Preempt));
        }
    }

    mod qemu_8_0_to_10_0 {
        use super::*;
        const F: Family = Family::Qemu8_0To10_0;

        #[test]
        fn multifd_without_postcopy_peeks_so_any_order_works() {
            let mut c = cl(multifd(F, 2));
            assert_eq!(c.bytes_needed(), MAGIC_LEN);
            assert_eq!(c.classify(&mf(1)[..2]), Ok(Decision::NeedMore(4)));
            assert_eq!(c.classify(&mf(1)[..4]), Ok(Decision::NeedMore(64)));
            assert_eq!(c.classify(&mf(1)), Ok(Decision::Multifd { id: 1 }));
            assert_eq!(c.classify(&QEVM[..4]), Ok(Decision::Main));
            assert!(!c.ready_to_load());
            assert_eq!(c.classify(&mf(0)), Ok(Decision::Multifd { id: 0 }));
            assert!(c.is_complete() && c.ready_to_load());
            assert_eq!(c.bytes_needed(), 0);
        }

        #[test]
        fn an_unknown_magic_is_refused() {
            let mut c = cl(multifd(F, 2));
            assert_eq!(
                err(c.classify(b"ACRD")),
                (
                    ErrorCode::LegacyUnknownMagic,
                    Detail::Value {
                        expected: QEVM_MAGIC,
                        got: 0x4143_5244
                    }
                )
            );
        }

        #[test]
        fn a_second_main_is_refused() {
            let mut c = cl(multifd(F, 2));
            c.classify(&QEVM).unwrap();
            assert_eq!(err(c.classify(&QEVM)), unexpected(Role::Main, 0));
        }

        #[test]
        fn tls_cannot_peek_and_falls_back_to_arrival_order() {
            let mut c = cl(LegacyConfig {
                peekable: false,
                ..multifd(F, 2)
            });
            assert_eq!(c.bytes_needed(), 0);
            assert_eq!(c.classify(&[]), Ok(Decision::Main));
            assert_eq!(c.bytes_needed(), MULTIFD_INIT_LEN);
            assert_eq!(c.classify(&mf(0)), Ok(Decision::Multifd { id: 0 }));
        }

        #[test]
        fn postcopy_never_peeks_and_preempt_is_never_read() {
            for pre_7_2 in [false, true] {
                let mut c = cl(LegacyConfig {
                    preempt_pre_7_2: pre_7_2,
                    ..preempt(F)
                });
                assert_eq!(c.bytes_needed(), 0);
                assert_eq!(c.classify(&[]), Ok(Decision::Main));
                assert!(c.ready_to_load(), "8.0+ loads without waiting for preempt");
                assert_eq!(c.bytes_needed(), 0);
                assert!(!c.may_be_silent());
                assert_eq!(c.classify(&[]), Ok(Decision::Preempt));
                assert!(c.is_complete());
            }
        }

        #[test]
        fn recovery_brings_back_main_then_preempt() {
            let mut c = cl(preempt(F));
            c.classify(&[]).unwrap();
            c.classify(&[]).unwrap();
            c.begin_recovery().unwrap();
            assert!(!c.is_complete() && c.recovering());
            assert_eq!(c.classify(&[]), Ok(Decision::Main));
            assert_eq!(c.classify(&[]), Ok(Decision::Preempt));
            assert!(c.is_complete() && !c.recovering());
        }

        #[test]
        fn recovery_needs_postcopy_and_a_main_channel() {
            let mut c = cl(multifd(F, 1));
            assert_eq!(
                c.begin_recovery().unwrap_err().code,
                ErrorCode::InvalidState
            );
            let mut p = cl(preempt(F));
            assert_eq!(
                p.begin_recovery().unwrap_err().code,
                ErrorCode::InvalidState
            );
        }
    }

    mod qemu_10_1_plus {
        use super::*;
        const F: Family = Family::Qemu10_1Plus;

        fn full(n: u8) -> LegacyConfig {
            LegacyConfig {
                multifd_channels: n,
                ..preempt(F)
            }
        }

        #[test]
        fn peeks_until_main_and_multifd_are_in_then_preempt_is_decided_unread() {
            let mut c = cl(full(2));
            assert_eq!(c.classify(&mf(0)), Ok(Decision::Multifd { id: 0 }));
            assert_eq!(c.classify(&QEVM), Ok(Decision::Main));
            assert_eq!(c.bytes_needed(), MAGIC_LEN);
            assert_eq!(c.classify(&mf(1)), Ok(Decision::Multifd { id: 1 }));
            assert!(c.ready_to_load() && !c.is_complete());
            assert_eq!(c.bytes_needed(), 0);
            assert_eq!(c.classify(&[]), Ok(Decision::Preempt));
            assert!(c.is_complete());
            assert_eq!(err(c.classify(&[])), unexpected(Role::Preempt, 0));
        }

        #[test]
        fn without_multifd_the_second_connection_is_preempt() {
            let mut c = cl(preempt(F));
            assert_eq!(c.bytes_needed(), MAGIC_LEN);
            assert_eq!(c.classify(&QEVM), Ok(Decision::Main));
            assert_eq!(c.bytes_needed(), 0);
            assert_eq!(c.classify(&[]), Ok(Decision::Preempt));
        }

        #[test]
        fn without_preempt_nothing_follows_the_full_set() {
            let mut c = cl(multifd(F, 1));
            c.classify(&QEVM).unwrap();
            c.classify(&mf(0)).unwrap();
            assert_eq!(c.bytes_needed(), 0);
            assert_eq!(
                err(c.classify(&[])),
                (ErrorCode::LegacyUnexpectedChannel, Detail::None)
            );
        }

        #[test]
        fn a_multifd_channel_while_multifd_is_off_is_refused_with_its_id() {
            let mut c = cl(preempt(F));
            assert_eq!(c.classify(&mf(3)[..4]), Ok(Decision::NeedMore(64)));
            assert_eq!(err(c.classify(&mf(3))), unexpected(Role::Multifd, 3));
        }

        #[test]
        fn a_second_main_before_multifd_is_complete_is_refused() {
            let mut c = cl(full(2));
            c.classify(&QEVM).unwrap();
            assert_eq!(err(c.classify(&QEVM)), unexpected(Role::Main, 0));
        }

        #[test]
        fn multifd_header_errors_come_through() {
            let mut c = cl(LegacyConfig {
                uuid: Some([9; 16]),
                ..full(2)
            });
            assert_eq!(err(c.classify(&mf(0))).0, ErrorCode::LegacyMultifdUuid);
            let mut c = cl(full(2));
            assert_eq!(
                err(c.classify(&mf(2))),
                (
                    ErrorCode::LegacyMultifdId,
                    Detail::Value {
                        expected: 2,
                        got: 2
                    }
                )
            );
            assert_eq!(c.multifd_count(), 0);
        }

        #[test]
        fn tls_takes_main_first_then_multifd_headers_then_preempt() {
            let mut c = cl(LegacyConfig {
                peekable: false,
                ..full(2)
            });
            assert_eq!(c.bytes_needed(), 0);
            assert_eq!(c.classify(&[]), Ok(Decision::Main));
            assert_eq!(c.bytes_needed(), MULTIFD_INIT_LEN);
            assert_eq!(c.classify(&[]), Ok(Decision::NeedMore(64)));
            assert_eq!(c.classify(&mf(1)), Ok(Decision::Multifd { id: 1 }));
            assert_eq!(c.classify(&mf(0)), Ok(Decision::Multifd { id: 0 }));
            assert_eq!(c.bytes_needed(), 0);
            assert_eq!(c.classify(&[]), Ok(Decision::Preempt));
        }

        #[test]
        fn a_resumed_main_channel_starts_with_a_command_not_qevm() {
            let mut c = cl(full(1));
            c.classify(&QEVM).unwrap();
            c.classify(&mf(0)).unwrap();
            c.classify(&[]).unwrap();
            c.begin_recovery().unwrap();
            assert_eq!(c.bytes_needed(), MAGIC_LEN);
            assert_eq!(c.classify(&RESUMED_MAIN), Ok(Decision::Main));
            assert!(c.ready_to_load());
            assert_eq!(c.bytes_needed(), 0);
            assert_eq!(c.classify(&[]), Ok(Decision::Preempt));
        }

        #[test]
        fn outside_recovery_a_command_first_is_an_unknown_magic() {
            let mut c = cl(full(1));
            assert_eq!(
                err(c.classify(&RESUMED_MAIN)).0,
                ErrorCode::LegacyUnknownMagic
            );
        }

        #[test]
        fn without_pre_7_2_a_short_connection_is_awaited() {
            let mut c = cl(full(2));
            c.classify(&QEVM).unwrap();
            assert!(!c.may_be_silent());
            assert_eq!(c.classify(&[]), Ok(Decision::NeedMore(4)));
        }

        #[test]
        fn pre_7_2_early_preempt_is_parked_and_decided_unread_once_multifd_is_in() {
            let mut c = cl(LegacyConfig {
                preempt_pre_7_2: true,
                ..full(2)
            });
            assert_eq!(c.classify(&QEVM), Ok(Decision::Main));
            // the silent preempt channel arrives before the multifd channels
            assert!(c.may_be_silent());
            let before = c;
            assert_eq!(c.classify(&[]), Ok(Decision::MaybeSilent(4)));
            assert_eq!(c, before, "a parked connection changes nothing");
            assert_eq!(c.classify(&mf(0)), Ok(Decision::Multifd { id: 0 }));
            assert_eq!(c.classify(&[]), Ok(Decision::MaybeSilent(4)));
            assert_eq!(c.classify(&mf(1)), Ok(Decision::Multifd { id: 1 }));
            assert_eq!(c.bytes_needed(), 0);
            assert!(!c.may_be_silent());
            assert_eq!(c.classify(&[]), Ok(Decision::Preempt));
            assert!(c.is_complete());
        }

        #[test]
        fn pre_7_2_with_tls_parks_the_connection_that_would_be_read_as_multifd() {
            let mut c = cl(LegacyConfig {
                preempt_pre_7_2: true,
                peekable: false,
                ..full(1)
            });
            assert_eq!(c.classify(&[]), Ok(Decision::Main));
            assert_eq!(c.classify(&[]), Ok(Decision::MaybeSilent(64)));
            assert_eq!(c.classify(&mf(0)), Ok(Decision::Multifd { id: 0 }));
            assert_eq!(c.classify(&[]), Ok(Decision::Preempt));
        }
    }

    mod state {
        use super::*;

        #[test]
        fn asking_for_more_bytes_or_failing_records_nothing() {
            for f in ALL {
                let mut c = cl(multifd(f, 2));
                if c.bytes_needed() == 0 {
                    c.classify(&[]).unwrap();
                }
                let before = c;
                let _ = c.classify(&mf(0)[..3]);
                let _ = c.classify(&mf(9));
                let _ = c.classify(b"XXXX");
                assert_eq!(c, before, "{f:?}");
            }
        }

        #[test]
        fn multifd_ids_up_to_254_are_tracked() {
            let mut c = cl(multifd(Family::Qemu8_0To10_0, 255));
            c.classify(&QEVM).unwrap();
            for id in (0..=254u8).rev() {
                assert_eq!(c.classify(&mf(id)), Ok(Decision::Multifd { id }));
                assert!(c.multifd_present(id));
            }
            assert!(c.is_complete());
            assert_eq!(c.multifd_count(), 255);
        }
    }
}
