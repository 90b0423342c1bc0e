//! The source side of the handshake: offers, opens channels, waits for the
//! agreement and the switchover-ack, and announces its switchover decision.
//!
//! ```text
//! Idle --start--> AwaitWelcome --Welcome--> Precopy --start_switchover--> SwitchedOver
//!                      |                       |
//!                      +--Reject/timeout/------+--Abort/timeout/violation--> Failed
//! ```

use crate::caps::{negotiate_into, Agreed, CapabilityId, Offer};
use crate::channel::{ChannelId, Role};
use crate::device::{DeviceId, DeviceTable};
use crate::endpoint::Endpoint;
use crate::error::{Detail, Error, ErrorCode, Result};
use crate::event::Event;
use crate::log::trace;
use crate::machine::{Machine, Timer};
use crate::time::{Duration, Instant};
use crate::version::{VersionRange, SUPPORTED};
use crate::wire::frame::{self, write_into, FrameType, RawFrame};
use crate::wire::msg::{
    self, ChannelsReady, DeviceOffer, Hello, Payload, SwitchoverAck, SwitchoverRevoke,
    SwitchoverStart, Welcome,
};
use crate::wire::preamble::{Preamble, FLAG_REATTACH};

/// Whether the largest Hello these capacities allow fits in one frame
/// (docs/PROTOCOL.md §10's bound: true at the firmware defaults), so that
/// `add_device` need not measure it.
const HELLO_ALWAYS_FITS: bool = {
    use crate::capacity::{MAX_CAPABILITIES, MAX_DEVICES, MAX_NAME_LEN};
    5 + 7 * MAX_CAPABILITIES + 5 + (MAX_NAME_LEN + 8) * MAX_DEVICES <= frame::MAX_PAYLOAD
};

/// The source's states (docs/PROTOCOL.md §7.1).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SourceState {
    /// Created; devices may be added. Nothing sent yet.
    Idle,
    /// Hello queued or sent; waiting for Welcome or Reject.
    AwaitWelcome,
    /// Agreed; channels and the ack are being waited for.
    Precopy,
    /// The switchover decision was sent. The handshake is complete.
    SwitchedOver,
    /// The migration failed; `error()` says why. Terminal.
    Failed,
}

/// What happens when the switchover-ack deadline passes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AckPolicy {
    /// Fail the migration with `AckTimeout` (both sides).
    #[default]
    Fail,
    /// Allow switchover without the ack (`Event::AckWaived`); downtime may grow.
    Proceed,
}

/// The source's configuration. Only the source needs configuring: the
/// destination learns the capabilities from its Hello.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SourceConfig {
    /// Protocol versions offered; must overlap the versions this build speaks.
    pub versions: VersionRange,
    /// Capabilities offered.
    pub capabilities: Offer,
    /// From `start` to Welcome.
    pub welcome_timeout: Duration,
    /// From Welcome (or a lost channel) to ChannelsReady. Set it above the
    /// destination's, so the side that knows which channels are missing reports first.
    pub channels_timeout: Duration,
    /// From Welcome (or a revoke) to the switchover-ack.
    pub ack_timeout: Duration,
    /// What the ack deadline does.
    pub ack_policy: AckPolicy,
}

impl Default for SourceConfig {
    fn default() -> Self {
        SourceConfig {
            versions: SUPPORTED,
            capabilities: Offer::new(),
            welcome_timeout: Duration::from_secs(5),
            channels_timeout: Duration::from_secs(15),
            ack_timeout: Duration::from_secs(300),
            ack_policy: AckPolicy::Fail,
        }
    }
}

/// Frames waiting for `poll_transmit`, in the order they go out.
#[derive(Copy, Clone, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct Pending {
    hello: bool,
    start: bool,
    abort: bool,
}

/// The source state machine.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Source {
    cfg: SourceConfig,
    nonce: [u8; 16],
    devices: DeviceTable,
    state: SourceState,
    /// The destination's range, once its preamble arrived.
    peer_versions: Option<VersionRange>,
    m: Machine,
    channels_ready: bool,
    /// Latest ack received (0 = none).
    ack_epoch: u32,
    ack_open: bool,
    waived: bool,
    tx: Pending,
    hello_sent: bool,
}

impl Source {
    /// A source for one migration. `nonce` is 16 bytes of caller entropy that
    /// names this migration on every channel.
    pub fn new(cfg: SourceConfig, nonce: [u8; 16]) -> Result<Self> {
        Machine::check_versions(cfg.versions, true)?;
        cfg.capabilities.validate_local()?;
        Ok(Source {
            cfg,
            nonce,
            devices: DeviceTable::new(),
            state: SourceState::Idle,
            peer_versions: None,
            m: Machine::default(),
            channels_ready: false,
            ack_epoch: 0,
            ack_open: false,
            waived: false,
            tx: Pending::default(),
            hello_sent: false,
        })
    }

    /// List a device (before `start`). `wants_ack`: this device's initial
    /// data must be loaded on the destination before switchover.
    ///
    /// `CapacityExceeded` (expected: the frame's payload limit, got: the
    /// Hello's length with this device) if the Hello would no longer fit in
    /// one frame: with large capacities (256 devices of 64-byte names) the
    /// device table can hold more than a Hello can carry.
    pub fn add_device(&mut self, name: &str, instance: u32, wants_ack: bool) -> Result<DeviceId> {
        if self.state != SourceState::Idle {
            return Err(Error::new(ErrorCode::InvalidState));
        }
        if HELLO_ALWAYS_FITS {
            return self.devices.add(name, instance, wants_ack);
        }
        let id = self.devices.add(name, instance, wants_ack)?;
        let len = Hello::payload_len(&self.cfg.capabilities, self.device_offers());
        if len > frame::MAX_PAYLOAD {
            self.devices.remove_last();
            return Err(Error::with(
                ErrorCode::CapacityExceeded,
                Detail::Value {
                    expected: frame::MAX_PAYLOAD as u32,
                    got: u32::try_from(len).unwrap_or(u32::MAX),
                },
            ));
        }
        Ok(id)
    }

    /// The devices as the Hello lists them.
    fn device_offers(&self) -> impl ExactSizeIterator<Item = DeviceOffer<'_>> {
        self.devices.iter().map(|d| DeviceOffer {
            name: d.name.name.as_str(),
            instance: d.name.instance,
            wants_ack: d.ack,
        })
    }

    /// Queue the main preamble and Hello, and start the Welcome deadline.
    pub fn start(&mut self, now: Instant) -> Result<()> {
        if self.state != SourceState::Idle {
            return Err(Error::new(ErrorCode::InvalidState));
        }
        self.tx.hello = true;
        self.m
            .timers
            .set(Timer::Agreement, now.after(self.cfg.welcome_timeout));
        self.set_state(SourceState::AwaitWelcome);
        Ok(())
    }

    fn set_state(&mut self, s: SourceState) {
        trace!("source: {:?} -> {:?}", self.state, s);
        self.state = s;
    }

    /// The current state.
    pub fn state(&self) -> SourceState {
        self.state
    }

    /// Why the migration failed, once it has.
    pub fn error(&self) -> Option<&Error> {
        self.m.error.as_ref()
    }

    /// The agreed capabilities (empty before Welcome).
    pub fn agreed(&self) -> &Agreed {
        &self.m.agreed
    }

    /// The chosen protocol version (0 before Welcome).
    pub fn version(&self) -> u8 {
        self.m.version()
    }

    /// The configuration.
    pub fn config(&self) -> &SourceConfig {
        &self.cfg
    }

    /// The session nonce.
    pub fn nonce(&self) -> &[u8; 16] {
        &self.nonce
    }

    /// The device table.
    pub fn devices(&self) -> &DeviceTable {
        &self.devices
    }

    /// Whether `device` takes part in switchover-ack (known after Welcome).
    pub fn participates(&self, device: DeviceId) -> bool {
        self.m.agreed.is_on(CapabilityId::SWITCHOVER_ACK)
            && self.devices.get(device).is_some_and(|d| d.ack)
    }

    /// Number of events dropped because the queue was full.
    pub fn dropped_events(&self) -> u32 {
        self.m.events.dropped()
    }

    /// Whether every negotiated channel is attached (ChannelsReady received).
    pub fn channels_ready(&self) -> bool {
        self.channels_ready
    }

    /// The gate QEMU calls `migration_can_switchover`: agreed, channels ready,
    /// and the ack in (or switchover-ack off, or its deadline waived).
    pub fn can_switchover(&self) -> bool {
        self.state == SourceState::Precopy
            && self.channels_ready
            && (!self.m.agreed.is_on(CapabilityId::SWITCHOVER_ACK) || self.ack_open || self.waived)
    }

    /// Announce the switchover decision. Refused (`SwitchoverNotAllowed`,
    /// nothing changes) while `can_switchover()` is false.
    pub fn start_switchover(&mut self, _now: Instant) -> Result<()> {
        if !self.can_switchover() {
            return Err(Error::new(ErrorCode::SwitchoverNotAllowed));
        }
        self.tx.start = true;
        self.m.timers.stop_all();
        self.m.events.push(Event::SwitchoverStarted {
            epoch: self.ack_epoch,
            waived: self.waived && !self.ack_open,
        });
        self.set_state(SourceState::SwitchedOver);
        Ok(())
    }

    /// Fail the migration from the caller's side; the destination is told.
    /// Changes nothing in `SwitchedOver`: the destination has the decision
    /// (it reads SwitchoverStart before any Abort) and stays SwitchedOver, so
    /// the two sides would disagree.
    pub fn abort(&mut self, _now: Instant) {
        if self.state != SourceState::SwitchedOver {
            self.fail(Error::new(ErrorCode::LocalAbort), false);
        }
    }

    /// The channels count the source opens per role: its own offer before
    /// Welcome (so it can open them at once), the agreement after.
    fn planned(&self, role: Role) -> u16 {
        let count = |id: CapabilityId| -> u16 {
            if self.m.version.is_some() {
                self.m.agreed.param(id)
            } else {
                self.cfg.capabilities.get(id).map_or(0, |o| o.param)
            }
        };
        match role {
            Role::Main => 1,
            Role::Multifd => count(CapabilityId::MULTIFD),
            Role::Preempt => u16::from(self.offers_preempt()),
            Role::DeviceState => count(CapabilityId::DEVICE_STATE),
        }
    }

    fn offers_preempt(&self) -> bool {
        if self.m.version.is_some() {
            self.m.agreed.is_on(CapabilityId::POSTCOPY_PREEMPT)
        } else {
            self.cfg
                .capabilities
                .get(CapabilityId::POSTCOPY_PREEMPT)
                .is_some()
        }
    }

    /// The preamble to send first on secondary channel `id`. Valid from
    /// `start` on: channels may be opened before Welcome arrives (pipelining);
    /// `total` is the source's offered count, which is what the destination checks.
    pub fn channel_preamble(&self, id: ChannelId) -> Result<Preamble> {
        if self.state == SourceState::Idle
            || self.state == SourceState::Failed
            || id.role == Role::Main
        {
            return Err(Error::new(ErrorCode::InvalidState));
        }
        let total = match id.role {
            Role::Multifd => self
                .cfg
                .capabilities
                .get(CapabilityId::MULTIFD)
                .map_or(0, |o| o.param),
            Role::DeviceState => self
                .cfg
                .capabilities
                .get(CapabilityId::DEVICE_STATE)
                .map_or(0, |o| o.param),
            _ => u16::from(
                self.cfg
                    .capabilities
                    .get(CapabilityId::POSTCOPY_PREEMPT)
                    .is_some(),
            ),
        };
        if id.index >= self.planned(id.role) || id.index >= total {
            return Err(Error::with(
                ErrorCode::ChannelIndexOutOfRange,
                Detail::Channel {
                    role: id.role,
                    index: id.index,
                },
            ));
        }
        Ok(Preamble {
            versions: self.cfg.versions,
            role: id.role,
            flags: 0,
            index: id.index,
            total,
            nonce: self.nonce,
        })
    }

    /// Every secondary channel the source should open now, in a fixed order:
    /// multifd 0.., preempt, device-state 0...
    pub fn channels(&self) -> impl Iterator<Item = ChannelId> + '_ {
        [Role::Multifd, Role::Preempt, Role::DeviceState]
            .into_iter()
            .flat_map(move |role| {
                (0..self.planned(role)).map(move |index| ChannelId { role, index })
            })
    }

    /// The agreed channel set as ChannelsReady will report it.
    pub fn expected_channels(&self) -> ChannelsReady {
        ChannelsReady {
            multifd: self.m.agreed.param(CapabilityId::MULTIFD),
            preempt: self.m.agreed.is_on(CapabilityId::POSTCOPY_PREEMPT),
            device_state: self.m.agreed.param(CapabilityId::DEVICE_STATE),
        }
    }

    /// A channel broke (postcopy recovery): wait for ChannelsReady again,
    /// and return the preamble to send on its replacement connection.
    pub fn channel_lost(&mut self, now: Instant, id: ChannelId) -> Result<Preamble> {
        if !matches!(self.state, SourceState::Precopy | SourceState::SwitchedOver) {
            return Err(Error::new(ErrorCode::InvalidState));
        }
        let mut p = self.channel_preamble(id)?;
        p.flags |= FLAG_REATTACH;
        if self.state == SourceState::Precopy {
            self.channels_ready = false;
            self.m
                .timers
                .set(Timer::Channels, now.after(self.cfg.channels_timeout));
        }
        Ok(p)
    }

    /// The device name of `error()`'s detail, whole: a name from the peer's
    /// Reject or Abort is kept up to 255 bytes, where the detail itself holds
    /// at most this build's `MAX_NAME_LEN`. `None` if the error names no device.
    pub fn error_device_name(&self) -> Option<&str> {
        self.m.error_device_name()
    }

    /// Take the next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.m.events.pop()
    }

    /// When to call `handle_timeout` next, if anything is being waited for.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.m.timers.earliest()
    }

    /// Act on the deadline that has passed at `now`, if any. Returns the
    /// error exactly when a deadline failed the migration during this call;
    /// `None` if nothing was due (or the machine is already failed or
    /// switched over), and when the ack deadline passed under
    /// [`AckPolicy::Proceed`] (`Event::AckWaived` says so).
    pub fn handle_timeout(&mut self, now: Instant) -> Option<&Error> {
        let code = match self.m.timers.expired(now)? {
            Timer::Agreement => ErrorCode::WelcomeTimeout,
            Timer::Channels => ErrorCode::ChannelsTimeout,
            Timer::Switchover => {
                self.m.timers.stop(Timer::Switchover);
                match self.cfg.ack_policy {
                    AckPolicy::Fail => ErrorCode::AckTimeout,
                    AckPolicy::Proceed => {
                        self.waived = true;
                        self.m.events.push(Event::AckWaived);
                        return None;
                    }
                }
            }
        };
        self.fail(Error::new(code), false);
        self.m.error.as_ref()
    }

    /// Enter Failed. Local failures tell the destination with an Abort, if
    /// it has heard from us at all.
    fn fail(&mut self, err: Error, by_peer: bool) {
        if self.state == SourceState::Failed {
            return;
        }
        self.m.fail(err, by_peer);
        self.enter_failed(by_peer);
    }

    /// The source's part of failing, once `Machine::fail` recorded why.
    fn enter_failed(&mut self, by_peer: bool) {
        self.tx = Pending {
            hello: false,
            start: false,
            abort: !by_peer && (self.hello_sent || self.tx.hello),
        };
        if !self.hello_sent {
            // Hello never left: the abort needs the preamble and Hello first to
            // be understood, so send all three.
            self.tx.hello = self.tx.abort;
        }
        self.set_state(SourceState::Failed);
    }

    /// Feed bytes received on the main channel. Returns how many were used:
    /// bytes of an incomplete frame are left; present them again with more.
    /// An `Err` means the migration failed (the state is now `Failed`) or the
    /// call was not valid in this state (nothing changed).
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<usize> {
        if !matches!(
            self.state,
            SourceState::AwaitWelcome | SourceState::Precopy | SourceState::SwitchedOver
        ) {
            return Err(Error::new(ErrorCode::InvalidState));
        }
        crate::endpoint::feed(self, now, data)
    }

    // Not inlined: Welcome's decoding and the re-negotiation need the most
    // stack of any frame; in a frame of their own, the other frames do not
    // pay for it (the firmware measures every handshake step's stack).
    #[inline(never)]
    fn on_welcome(&mut self, now: Instant, payload: &[u8]) -> Result<()> {
        let w = Welcome::decode(payload)?;
        self.check_welcome(now, &w)
    }

    // Out of line, like Welcome::decode: the decoder's and the checker's
    // temporaries never share a stack frame.
    #[inline(never)]
    fn check_welcome(&mut self, now: Instant, w: &Welcome<'_>) -> Result<()> {
        let ours = self.cfg.versions;
        let theirs = self.peer_versions.unwrap_or(ours);
        if ours.highest_common(theirs) != Some(w.version) {
            return Err(Error::with(
                ErrorCode::OutcomeMismatch,
                Detail::Versions {
                    source: ours,
                    destination: theirs,
                },
            ));
        }
        // Recompute the agreement from both offers; the destination must have
        // applied the same rule.
        let mut agreed = Agreed::new();
        negotiate_into(&self.cfg.capabilities, &w.offer, &mut agreed)
            .map_err(|r| Error::with(ErrorCode::OutcomeMismatch, r.detail()))?;
        if agreed != w.agreed {
            // The first entry that differs, ours if we have one there.
            let (a, b) = (agreed.entries(), w.agreed.entries());
            let k = a.iter().zip(b).take_while(|(x, y)| x == y).count();
            let differing = a.get(k).or(b.get(k)).map(|e| e.id);
            return Err(Error::with(
                ErrorCode::OutcomeMismatch,
                differing.map_or(Detail::None, Detail::Capability),
            ));
        }
        let ack_on = agreed.is_on(CapabilityId::SWITCHOVER_ACK);
        if w.verdicts.len() != self.devices.len() {
            return Err(Error::with(
                ErrorCode::OutcomeMismatch,
                Detail::Value {
                    expected: self.devices.len() as u32,
                    got: w.verdicts.len() as u32,
                },
            ));
        }
        for (i, (v, d)) in w.verdicts.bools().zip(self.devices.iter()).enumerate() {
            if v? != (ack_on && d.ack) {
                return Err(Error::with(
                    ErrorCode::OutcomeMismatch,
                    self.devices.detail(DeviceId(i as u16)),
                ));
            }
        }
        self.m.version = Some(w.version);
        self.m.agreed = agreed;
        self.m.timers.stop(Timer::Agreement);
        self.m
            .timers
            .set(Timer::Channels, now.after(self.cfg.channels_timeout));
        if ack_on {
            self.m
                .timers
                .set(Timer::Switchover, now.after(self.cfg.ack_timeout));
        }
        self.set_state(SourceState::Precopy);
        self.m.events.push(Event::Negotiated { version: w.version });
        Ok(())
    }

    /// Write pending frames into `buf`: as many whole frames as fit. Returns
    /// the number of bytes written, 0 if nothing is pending. `BufferTooSmall`
    /// (nothing written, nothing lost) if the next frame does not fit at all.
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Result<usize> {
        let mut at = 0usize;
        if self.tx.hello {
            let n = self.write_hello(buf)?;
            at = n;
            self.tx.hello = false;
            self.hello_sent = true;
        }
        if self.tx.start {
            let epoch = self.ack_epoch;
            let waived = self.waived && !self.ack_open;
            match write_into(buf, at, FrameType::SwitchoverStart, |o| {
                SwitchoverStart { epoch, waived }.write(o)
            }) {
                Ok(n) => {
                    at += n;
                    self.tx.start = false;
                }
                Err(e) if at == 0 => return Err(e),
                Err(_) => return Ok(at),
            }
        }
        if self.tx.abort {
            let err = self.m.error.as_ref();
            match write_into(buf, at, FrameType::Abort, |o| msg::write_abort(o, err)) {
                Ok(n) => {
                    at += n;
                    self.tx.abort = false;
                }
                Err(e) if at == 0 => return Err(e),
                Err(_) => return Ok(at),
            }
        }
        Ok(at)
    }

    fn write_hello(&self, buf: &mut [u8]) -> Result<usize> {
        let p = Preamble::main(self.cfg.versions, self.nonce).encode(buf)?;
        let rest = buf
            .get_mut(p..)
            .ok_or(Error::new(ErrorCode::BufferTooSmall))?;
        let n = frame::write_with(rest, FrameType::Hello, |o| {
            Hello::write(o, &self.cfg.capabilities, self.device_offers())
        })?;
        Ok(p + n)
    }
}

impl Endpoint for Source {
    fn machine(&self) -> &Machine {
        &self.m
    }
    fn awaiting_preamble(&self) -> bool {
        self.peer_versions.is_none()
    }
    fn on_preamble(&mut self, p: Preamble) -> Result<()> {
        Machine::check_main(&p)?;
        if p.nonce != self.nonce {
            return Err(Error::new(ErrorCode::NonceMismatch));
        }
        self.peer_versions = Some(p.versions);
        Ok(())
    }

    fn on_frame(&mut self, now: Instant, f: RawFrame<'_>) -> Result<()> {
        let unexpected = Error::with(ErrorCode::UnexpectedFrame, Detail::Frame(f.kind as u8));
        match (self.state, f.kind) {
            (_, FrameType::Abort) | (SourceState::AwaitWelcome, FrameType::Reject) => {
                self.m.fail_by_peer(f.payload)?;
                self.enter_failed(true);
                Ok(())
            }
            (SourceState::AwaitWelcome, FrameType::Welcome) => self.on_welcome(now, f.payload),
            (SourceState::Precopy, FrameType::ChannelsReady) => {
                let r = ChannelsReady::decode(f.payload)?;
                if r != self.expected_channels() {
                    return Err(Error::new(ErrorCode::ChannelSetMismatch));
                }
                if !self.channels_ready {
                    self.channels_ready = true;
                    self.m.timers.stop(Timer::Channels);
                    self.m.events.push(Event::ChannelsReady);
                }
                Ok(())
            }
            (SourceState::Precopy, FrameType::SwitchoverAck)
                if self.m.agreed.is_on(CapabilityId::SWITCHOVER_ACK) =>
            {
                let a = SwitchoverAck::decode(f.payload)?;
                // One ack per arming: a second ack without a revoke between is a violation.
                if self.ack_open || a.epoch <= self.ack_epoch {
                    return Err(unexpected);
                }
                self.ack_epoch = a.epoch;
                self.ack_open = true;
                self.m.timers.stop(Timer::Switchover);
                self.m
                    .events
                    .push(Event::SwitchoverAcked { epoch: a.epoch });
                Ok(())
            }
            (SourceState::Precopy, FrameType::SwitchoverRevoke) if self.ack_open => {
                let r = SwitchoverRevoke::decode(f.payload)?;
                let dev = DeviceId(r.device);
                if r.epoch != self.ack_epoch || !self.participates(dev) {
                    return Err(unexpected);
                }
                self.ack_open = false;
                self.waived = false;
                self.m
                    .timers
                    .set(Timer::Switchover, now.after(self.cfg.ack_timeout));
                self.m.events.push(Event::SwitchoverRevoked {
                    device: dev,
                    epoch: r.epoch,
                });
                Ok(())
            }
            // After the decision, acks and revokes still in flight are stale:
            // the decision stands (docs/PROTOCOL.md §7.4, revoke race).
            (
                SourceState::SwitchedOver,
                FrameType::SwitchoverAck | FrameType::SwitchoverRevoke | FrameType::ChannelsReady,
            ) => Ok(()),
            _ => Err(unexpected),
        }
    }
    fn failed(&self) -> bool {
        self.state == SourceState::Failed
    }
    fn fail_local(&mut self, e: Error) {
        self.fail(e, false);
    }
}
