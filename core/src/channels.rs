//! The destination's channel table (docs/PROTOCOL.md §7.3): which channels of
//! the negotiated set are attached, lost, or held until the set is known.

use heapless::Vec;

use crate::capacity::{MAX_CHANNELS, MAX_EARLY_CHANNELS};
use crate::channel::{ChannelId, Role};
use crate::error::{Detail, Error, ErrorCode, Result};
use crate::version::VersionRange;
use crate::wire::msg::ChannelsReady;
use crate::wire::preamble::Preamble;

const WORDS: usize = MAX_CHANNELS.div_ceil(32);

/// One bit per index of a counted role.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Bits([u32; WORDS]);

impl Bits {
    fn get(&self, i: u16) -> bool {
        self.0
            .get(usize::from(i / 32))
            .is_some_and(|w| w & (1 << (i % 32)) != 0)
    }
    fn set(&mut self, i: u16, on: bool) {
        if let Some(w) = self.0.get_mut(usize::from(i / 32)) {
            if on {
                *w |= 1 << (i % 32);
            } else {
                *w &= !(1 << (i % 32));
            }
        }
    }
    fn count(&self) -> u32 {
        self.0.iter().map(|w| w.count_ones()).sum()
    }
}

/// Attached and lost flags of every channel of the negotiated set.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Slots {
    multifd: Bits,
    device_state: Bits,
    preempt: bool,
}

impl Slots {
    fn get(&self, id: ChannelId) -> bool {
        match id.role {
            Role::Multifd => self.multifd.get(id.index),
            Role::DeviceState => self.device_state.get(id.index),
            Role::Preempt => self.preempt,
            Role::Main => false,
        }
    }
    fn set(&mut self, id: ChannelId, on: bool) {
        match id.role {
            Role::Multifd => self.multifd.set(id.index, on),
            Role::DeviceState => self.device_state.set(id.index, on),
            Role::Preempt => self.preempt = on,
            Role::Main => {}
        }
    }
    fn count(&self) -> u32 {
        self.multifd.count() + self.device_state.count() + u32::from(self.preempt)
    }
}

/// A channel that arrived before the agreement fixed the channel set.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Early {
    id: ChannelId,
    total: u16,
    nonce: [u8; 16],
    versions: VersionRange,
}

/// How the table took a channel.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Assignment {
    /// Named and part of the session.
    Assigned(ChannelId),
    /// Held until Welcome fixes the channel set; an event reports the outcome.
    Held(ChannelId),
    /// Replaces a lost (or broken) connection of the same name.
    Reattached(ChannelId),
}

impl Assignment {
    /// The channel concerned, however it was taken.
    pub const fn channel(&self) -> ChannelId {
        match *self {
            Assignment::Assigned(id) | Assignment::Held(id) | Assignment::Reattached(id) => id,
        }
    }
}

/// What the source offered per counted role: the `total` its preambles carry.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Totals {
    /// Multifd channels the source offered.
    pub multifd: u16,
    /// Device-state channels the source offered.
    pub device_state: u16,
}

/// The destination's channel table (docs/PROTOCOL.md §7.3).
#[derive(Clone, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChannelTable {
    early: Vec<Early, MAX_EARLY_CHANNELS>,
    attached: Slots,
    lost: Slots,
    /// The negotiated set, once known.
    expected: Option<ChannelsReady>,
    totals: Totals,
}

impl ChannelTable {
    /// An empty table; the set is unknown until [`ChannelTable::fix`].
    pub const fn new() -> Self {
        ChannelTable {
            early: Vec::new(),
            attached: Slots {
                multifd: Bits([0; WORDS]),
                device_state: Bits([0; WORDS]),
                preempt: false,
            },
            lost: Slots {
                multifd: Bits([0; WORDS]),
                device_state: Bits([0; WORDS]),
                preempt: false,
            },
            expected: None,
            totals: Totals {
                multifd: 0,
                device_state: 0,
            },
        }
    }

    /// Largest count of one role the table can hold.
    pub const CAPACITY: u16 = MAX_CHANNELS as u16;

    /// The negotiated set, once fixed.
    pub fn expected(&self) -> Option<ChannelsReady> {
        self.expected
    }

    /// Whether `id` belongs to the negotiated set.
    pub fn is_expected(&self, id: ChannelId) -> bool {
        self.expected.is_some_and(|e| match id.role {
            Role::Multifd => id.index < e.multifd,
            Role::DeviceState => id.index < e.device_state,
            Role::Preempt => e.preempt && id.index == 0,
            Role::Main => false,
        })
    }

    /// Every channel of the negotiated set, in ChannelsReady order.
    pub fn iter_expected(&self) -> impl Iterator<Item = ChannelId> {
        let e = self.expected.unwrap_or_default();
        let multifd = (0..e.multifd).map(|index| ChannelId {
            role: Role::Multifd,
            index,
        });
        let preempt = (0..u16::from(e.preempt)).map(|index| ChannelId {
            role: Role::Preempt,
            index,
        });
        let dev = (0..e.device_state).map(|index| ChannelId {
            role: Role::DeviceState,
            index,
        });
        multifd.chain(preempt).chain(dev)
    }

    /// Whether every channel of the set is attached and none is lost.
    pub fn is_complete(&self) -> bool {
        match self.expected {
            None => false,
            Some(e) => {
                let want = u32::from(e.multifd) + u32::from(e.device_state) + u32::from(e.preempt);
                self.attached.count() == want && self.lost.count() == 0
            }
        }
    }

    /// Whether `id` is attached (lost channels count as attached but broken).
    pub fn is_attached(&self, id: ChannelId) -> bool {
        self.attached.get(id)
    }

    /// Whether `id` is marked lost.
    pub fn is_lost(&self, id: ChannelId) -> bool {
        self.lost.get(id)
    }

    /// The channels marked lost.
    pub fn lost(&self) -> impl Iterator<Item = ChannelId> + '_ {
        self.iter_expected().filter(|id| self.lost.get(*id))
    }

    /// The first missing channel and how many are missing (attached but lost counts as missing).
    pub fn missing(&self) -> Option<(ChannelId, u16)> {
        let e = self.expected?;
        let mut first = None;
        let mut n = 0u16;
        // ChannelsReady order, as `iter_expected`, without its iterator chain.
        for (role, count) in [
            (Role::Multifd, e.multifd),
            (Role::Preempt, u16::from(e.preempt)),
            (Role::DeviceState, e.device_state),
        ] {
            for index in 0..count {
                let id = ChannelId { role, index };
                if !self.attached.get(id) || self.lost.get(id) {
                    first = first.or(Some(id));
                    n = n.saturating_add(1);
                }
            }
        }
        first.map(|f| (f, n))
    }

    /// Check a preamble's name against the fixed set.
    fn check(&self, id: ChannelId, total: u16) -> Result<()> {
        match self.refusal(id, total) {
            None => Ok(()),
            Some(code) => Err(Error::with(
                code,
                Detail::Channel {
                    role: id.role,
                    index: id.index,
                },
            )),
        }
    }

    /// Why [`ChannelTable::check`] refuses `id`, if it does: only the code,
    /// so that [`ChannelTable::fix`] builds no [`Error`] per held channel.
    fn refusal(&self, id: ChannelId, total: u16) -> Option<ErrorCode> {
        let e = self.expected.unwrap_or_default();
        let (negotiated, offered) = match id.role {
            Role::Multifd => (e.multifd > 0, self.totals.multifd),
            Role::DeviceState => (e.device_state > 0, self.totals.device_state),
            Role::Preempt => (e.preempt, 1),
            Role::Main => return Some(ErrorCode::DuplicateChannel),
        };
        if !negotiated {
            Some(ErrorCode::RoleNotNegotiated)
        } else if total != offered {
            Some(ErrorCode::ChannelTotalMismatch)
        } else if !self.is_expected(id) {
            Some(ErrorCode::ChannelIndexOutOfRange)
        } else if self.attached.get(id) {
            Some(ErrorCode::DuplicateChannel)
        } else {
            None
        }
    }

    /// Take a secondary channel's preamble. `main_nonce` is the session's
    /// nonce if the main preamble has arrived. Refusals leave the table as it was.
    pub fn accept(&mut self, p: &Preamble, main_nonce: Option<&[u8; 16]>) -> Result<Assignment> {
        let id = p.channel();
        let detail = Detail::Channel {
            role: id.role,
            index: id.index,
        };
        if main_nonce.is_some_and(|n| *n != p.nonce) {
            return Err(Error::with(ErrorCode::WrongNonce, detail));
        }
        if p.is_reattach() {
            if self.expected.is_none() || !self.is_expected(id) || !self.attached.get(id) {
                return Err(Error::with(ErrorCode::BadReattach, detail));
            }
            // A reattach also replaces a channel the destination has not yet
            // seen break: the nonce proves it is the same migration.
            self.lost.set(id, false);
            return Ok(Assignment::Reattached(id));
        }
        if self.expected.is_none() {
            if id.role == Role::Main {
                return Err(Error::with(ErrorCode::DuplicateChannel, detail));
            }
            // Only the same name under the same nonce is a duplicate: a
            // stranger held before the main preamble must not block the
            // genuine channel (fix() refuses the stranger).
            if self.early.iter().any(|e| e.id == id && e.nonce == p.nonce) {
                return Err(Error::with(ErrorCode::DuplicateChannel, detail));
            }
            self.early
                .push(Early {
                    id,
                    total: p.total,
                    nonce: p.nonce,
                    versions: p.versions,
                })
                .map_err(|_| Error::with(ErrorCode::TooManyEarlyChannels, detail))?;
            return Ok(Assignment::Held(id));
        }
        self.check(id, p.total)?;
        self.attached.set(id, true);
        Ok(Assignment::Assigned(id))
    }

    /// Fix the negotiated set and settle held channels: `on_held` sees each
    /// one's outcome, in arrival order: `None` if it is assigned, else the
    /// code of its refusal (whose detail names the channel).
    pub fn fix(
        &mut self,
        set: ChannelsReady,
        totals: Totals,
        main: &Preamble,
        mut on_held: impl FnMut(ChannelId, Option<ErrorCode>),
    ) {
        self.expected = Some(set);
        self.totals = totals;
        // Walked in place (not moved out with `mem::take`, which would copy
        // the whole early list onto the stack). Held before the main preamble
        // arrived: judge each now as a channel arriving after Welcome would be.
        for e in self.early.iter() {
            let refused = if e.nonce != main.nonce {
                Some(ErrorCode::WrongNonce)
            } else if e.versions != main.versions {
                Some(ErrorCode::BadVersionRange)
            } else {
                self.refusal(e.id, e.total)
            };
            if refused.is_none() {
                self.attached.set(e.id, true);
            }
            on_held(e.id, refused);
        }
        self.early.clear();
    }

    /// Mark an attached channel lost (its connection broke).
    pub fn mark_lost(&mut self, id: ChannelId) -> Result<()> {
        if !self.attached.get(id) {
            return Err(Error::with(
                ErrorCode::InvalidArgument,
                Detail::Channel {
                    role: id.role,
                    index: id.index,
                },
            ));
        }
        self.lost.set(id, true);
        Ok(())
    }
}
