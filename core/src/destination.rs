//! The destination side: answers Hello with Welcome or Reject, names channels
//! as they arrive, counts device approvals and acks once per arming.
//!
//! ```text
//! AwaitHello --Hello ok--> Precopy --SwitchoverStart--> SwitchedOver
//!     |                       |
//!     +--Reject/timeout-------+--Abort/timeout/violation--> Failed
//! ```

use heapless::{Deque, Vec};

use crate::capacity::{MAX_CHANNELS, MAX_DEVICES};
use crate::caps::{negotiate_into, Agreed, CapabilityId, Offer, Refusal};
use crate::channel::{ChannelId, Role};
use crate::channels::{Assignment, ChannelTable, Totals};
use crate::device::{DeviceId, DeviceTable};
use crate::endpoint::Endpoint;
use crate::error::{Detail, DeviceName, Error, ErrorCode, Result};
use crate::event::Event;
use crate::log::trace;
use crate::machine::{Machine, Timer};
use crate::names::Name;
use crate::time::{Duration, Instant};
use crate::version::{VersionRange, SUPPORTED};
use crate::wire::frame::{write_into, FrameType, RawFrame};
use crate::wire::msg::{
    self, ChannelsReady, Hello, Payload, SwitchoverAck, SwitchoverRevoke, SwitchoverStart, Welcome,
};
use crate::wire::preamble::Preamble;

/// The destination's states (docs/PROTOCOL.md §7.2).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DestinationState {
    /// Waiting for the source's preamble and Hello. Devices may be registered.
    AwaitHello,
    /// Welcome queued; channels arrive, devices approve.
    Precopy,
    /// The source announced its switchover decision. Terminal: no frame,
    /// call or deadline changes the state again. Lost channels may still be
    /// re-attached.
    SwitchedOver,
    /// The migration failed; `error()` says why. Terminal.
    Failed,
}

/// The destination's configuration. The defaults accept whatever the source
/// asks for that this build supports: nothing needs setting to match the source.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DestinationConfig {
    /// Protocol versions accepted.
    pub versions: VersionRange,
    /// What the destination supports, and what it insists on (`Required`).
    pub capabilities: Offer,
    /// From creation to Hello.
    pub hello_timeout: Duration,
    /// From Welcome (or a lost channel) to the complete channel set.
    pub channels_timeout: Duration,
    /// From Welcome to the source's switchover decision.
    pub switchover_timeout: Duration,
}

impl Default for DestinationConfig {
    fn default() -> Self {
        // Counted capabilities offer what the channel table can hold.
        let capabilities = Offer::all_optional_counted((MAX_CHANNELS as u16).clamp(1, 255));
        DestinationConfig {
            versions: SUPPORTED,
            capabilities,
            hello_timeout: Duration::from_secs(5),
            channels_timeout: Duration::from_secs(10),
            switchover_timeout: Duration::from_secs(3600),
        }
    }
}

/// Per registry device: its position in Hello and its switchover-ack status.
#[derive(Copy, Clone, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
struct DevState {
    src_index: u16,
    participates: bool,
    approved: bool,
}

/// A frame waiting for `poll_transmit`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
enum Out {
    Welcome,
    Reject,
    ChannelsReady,
    Ack(u32),
    Revoke(u32, u16),
    Abort,
}

/// The destination state machine.
#[derive(Clone, Debug)]
pub struct Destination {
    cfg: DestinationConfig,
    devices: DeviceTable,
    dev: Vec<DevState, MAX_DEVICES>,
    /// Registry ids in Hello order, for Welcome's verdict list.
    order: Vec<u16, MAX_DEVICES>,
    state: DestinationState,
    peer: Option<Preamble>,
    m: Machine,
    channels: ChannelTable,
    pending: u16,
    /// Latest arming number used (acks queued or sent).
    epoch: u32,
    /// Latest ack actually written by poll_transmit.
    sent_epoch: u32,
    acked: bool,
    out: Deque<Out, 8>,
    preamble_sent: bool,
    /// The Hello (or the preamble's versions) was refused with a Reject.
    rejected: bool,
}

// By hand: heapless's Deque (the outgoing queue) has no defmt::Format.
#[cfg(feature = "defmt")]
impl defmt::Format for Destination {
    fn format(&self, f: defmt::Formatter<'_>) {
        let (a, b) = self.out.as_slices();
        defmt::write!(
            f,
            "Destination {{ state: {}, machine: {}, pending: {=u16}, epoch: {=u32}, sent_epoch: {=u32}, acked: {=bool}, devices: {}, dev: {}, order: {}, channels: {}, peer: {}, out: {=[?]} {=[?]}, preamble_sent: {=bool}, rejected: {=bool}, cfg: {} }}",
            self.state,
            self.m,
            self.pending,
            self.epoch,
            self.sent_epoch,
            self.acked,
            self.devices,
            self.dev,
            self.order,
            self.channels,
            self.peer,
            a,
            b,
            self.preamble_sent,
            self.rejected,
            self.cfg
        )
    }
}

impl Destination {
    /// A destination for one incoming migration, created when its main
    /// connection is accepted at `now` (the Hello deadline starts here).
    pub fn new(cfg: DestinationConfig, now: Instant) -> Result<Self> {
        Machine::check_versions(cfg.versions, false)?;
        cfg.capabilities.validate_local()?;
        for id in [CapabilityId::MULTIFD, CapabilityId::DEVICE_STATE] {
            if cfg
                .capabilities
                .get(id)
                .is_some_and(|o| usize::from(o.param) > MAX_CHANNELS)
            {
                return Err(Error::with(ErrorCode::InvalidOffer, Detail::Capability(id)));
            }
        }
        let mut m = Machine::default();
        m.timers.set(Timer::Agreement, now.after(cfg.hello_timeout));
        Ok(Destination {
            cfg,
            devices: DeviceTable::new(),
            dev: Vec::new(),
            order: Vec::new(),
            state: DestinationState::AwaitHello,
            peer: None,
            m,
            channels: ChannelTable::new(),
            pending: 0,
            epoch: 0,
            sent_epoch: 0,
            acked: false,
            out: Deque::new(),
            preamble_sent: false,
            rejected: false,
        })
    }

    /// Register a device (before Hello). `supports_ack`: this side can tell
    /// when the device's initial data is loaded.
    pub fn register_device(
        &mut self,
        name: &str,
        instance: u32,
        supports_ack: bool,
    ) -> Result<DeviceId> {
        if self.state != DestinationState::AwaitHello {
            return Err(Error::new(ErrorCode::InvalidState));
        }
        let id = self.devices.add(name, instance, supports_ack)?;
        self.dev
            .push(DevState::default())
            .map_err(|_| Error::new(ErrorCode::CapacityExceeded))?;
        Ok(id)
    }

    fn set_state(&mut self, s: DestinationState) {
        trace!("destination: {:?} -> {:?}", self.state, s);
        self.state = s;
    }

    /// The current state.
    pub fn state(&self) -> DestinationState {
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
    pub fn config(&self) -> &DestinationConfig {
        &self.cfg
    }

    /// The device registry.
    pub fn devices(&self) -> &DeviceTable {
        &self.devices
    }

    /// The channel table.
    pub fn channels(&self) -> &ChannelTable {
        &self.channels
    }

    /// The session nonce, once the source's preamble arrived.
    pub fn nonce(&self) -> Option<&[u8; 16]> {
        self.peer.as_ref().map(|p| &p.nonce)
    }

    /// Participating devices that have not approved.
    pub fn pending(&self) -> u16 {
        self.pending
    }

    /// Latest arming number (0 before the first ack).
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Whether the ack for the current arming has been queued or sent and not revoked.
    pub fn acked(&self) -> bool {
        self.acked
    }

    /// Whether `device` takes part in switchover-ack.
    pub fn participates(&self, device: DeviceId) -> bool {
        self.dev
            .get(usize::from(device.0))
            .is_some_and(|d| d.participates)
    }

    /// Whether `device` has approved (since its last revoke).
    pub fn approved(&self, device: DeviceId) -> bool {
        self.dev
            .get(usize::from(device.0))
            .is_some_and(|d| d.approved)
    }

    /// Number of events dropped because the queue was full.
    pub fn dropped_events(&self) -> u32 {
        self.m.events.dropped()
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
    /// switched over: terminal states wait for nothing).
    pub fn handle_timeout(&mut self, now: Instant) -> Option<&Error> {
        let err = match self.m.timers.expired(now)? {
            Timer::Agreement => Error::new(ErrorCode::HelloTimeout),
            Timer::Channels => {
                let detail = match self.channels.missing() {
                    Some((id, missing)) => Detail::MissingChannels {
                        role: id.role,
                        index: id.index,
                        missing,
                    },
                    None => Detail::None,
                };
                Error::with(ErrorCode::ChannelsTimeout, detail)
            }
            Timer::Switchover => Error::new(ErrorCode::SwitchoverTimeout),
        };
        self.fail(err, false);
        self.m.error.as_ref()
    }

    /// Fail the migration from the caller's side; the source is told.
    /// Changes nothing in `SwitchedOver`: the handshake is over (the source
    /// decided), and the source would not hear of it.
    pub fn abort(&mut self, _now: Instant) {
        if self.state != DestinationState::SwitchedOver {
            self.fail(Error::new(ErrorCode::LocalAbort), false);
        }
    }

    fn fail(&mut self, err: Error, by_peer: bool) {
        if self.state == DestinationState::Failed {
            return;
        }
        self.m.fail(err, by_peer);
        self.enter_failed(by_peer);
    }

    /// The destination's part of failing, once `Machine::fail` recorded why.
    fn enter_failed(&mut self, by_peer: bool) {
        self.out.clear();
        // Without the source's preamble there is no nonce to answer with,
        // and nobody who asked.
        if !by_peer && self.peer.is_some() {
            let _ = self.out.push_back(Out::Abort);
        }
        self.set_state(DestinationState::Failed);
    }

    fn reject(&mut self, err: Error) {
        self.m.fail(err, false);
        self.rejected = true;
        self.out.clear();
        let _ = self.out.push_back(Out::Reject);
        self.set_state(DestinationState::Failed);
    }

    /// Feed bytes received on the main channel. Returns how many were used:
    /// bytes of an incomplete frame are left; present them again with more.
    /// A refused Hello (or a preamble without a common version) is not an
    /// error of this call: it returns `Ok` with the bytes used, the state is
    /// `Failed` and a Reject waits for `poll_transmit`. An `Err` means the
    /// migration failed on this call (the state is now `Failed`; an Abort
    /// waits for `poll_transmit`) or the call was not valid in this state
    /// (nothing changed).
    ///
    /// Reading stops right after SwitchoverStart: what follows it is the
    /// migration stream. In `SwitchedOver` (terminal) and `Failed` this
    /// returns `InvalidState` and changes nothing.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<usize> {
        if !self.reading() {
            return Err(Error::new(ErrorCode::InvalidState));
        }
        let (used, failed) = crate::endpoint::feed_counted(self, now, data);
        match &self.m.error {
            Some(e) if failed && !self.rejected => Err(e.clone()),
            _ => Ok(used),
        }
    }

    /// Whether the migration ended in a Reject (a refused Hello).
    pub fn rejected(&self) -> bool {
        self.rejected
    }

    // Not inlined: Hello's decoding, the verdict and Welcome need the most
    // stack of any frame; in a frame of their own, the other frames do not
    // pay for it (the firmware measures every handshake step's stack).
    #[inline(never)]
    fn on_hello(&mut self, now: Instant, payload: &[u8]) -> Result<()> {
        let hello = Hello::decode(payload)?;
        self.answer_hello(now, &hello);
        Ok(())
    }

    // Out of line, like Hello::decode: the decoder's and the verdict's
    // temporaries never share a stack frame.
    #[inline(never)]
    fn answer_hello(&mut self, now: Instant, hello: &Hello<'_>) {
        // evaluate() notes the registry id of every Hello device in `order`
        // and who wants the ack in `wants`, so welcome() need not walk the
        // list again.
        let mut wants = [0u32; MAX_DEVICES.div_ceil(32)];
        match self.evaluate(hello, &mut wants) {
            Ok(version) => self.welcome(now, hello, version, &wants),
            Err(e) => {
                self.order.clear();
                self.m.agreed.clear();
                self.reject(e)
            }
        }
    }

    /// The whole verdict on a Hello: versions, then capabilities, then
    /// devices in Hello order, then devices the source did not list
    /// (docs/PROTOCOL.md §6). Returns the chosen version. Changes no state
    /// but the agreement and `order`, which the caller empties on a refusal:
    /// built in place, they are never moved.
    fn evaluate(
        &mut self,
        hello: &Hello<'_>,
        wants: &mut [u32; MAX_DEVICES.div_ceil(32)],
    ) -> Result<u8> {
        let order = &mut self.order;
        order.clear();
        let agreed = &mut self.m.agreed;
        agreed.clear();
        let theirs = self.peer.map_or(SUPPORTED, |p| p.versions);
        let Some(version) = self.cfg.versions.highest_common(theirs) else {
            return Err(Error::with(
                ErrorCode::NoCommonVersion,
                Detail::Versions {
                    source: theirs,
                    destination: self.cfg.versions,
                },
            ));
        };
        negotiate_into(&hello.offer, &self.cfg.capabilities, agreed).map_err(Refusal::error)?;
        let ack_on = agreed.is_on(CapabilityId::SWITCHOVER_ACK);
        let mut seen = [0u32; MAX_DEVICES.div_ceil(32)];
        for (i, d) in hello.devices.devices().enumerate() {
            let d = d?;
            // One error exit for the three refusals that name the device.
            let (id, refused) = match self.devices.find_from(i, d.name, d.instance) {
                None => (DeviceId(0), Some(ErrorCode::DeviceMissingOnDestination)),
                Some(id) => {
                    let (w, b) = (usize::from(id.0) / 32, id.0 % 32);
                    let word = seen
                        .get_mut(w)
                        .ok_or(Error::new(ErrorCode::CapacityExceeded))?;
                    let supports = self.devices.get(id).is_some_and(|x| x.ack);
                    if *word & (1 << b) != 0 {
                        (id, Some(ErrorCode::DuplicateDevice))
                    } else if ack_on && d.wants_ack && !supports {
                        (id, Some(ErrorCode::DeviceUnsupported))
                    } else {
                        *word |= 1 << b;
                        (id, None)
                    }
                }
            };
            if let Some(code) = refused {
                // The name fits: Hello::decode checked its length (were it
                // not to, the detail would carry an empty name, not a panic).
                let mut name = Name::new();
                let _ = name.push_str(d.name);
                return Err(Error::with(
                    code,
                    Detail::Device(DeviceName {
                        name,
                        instance: d.instance,
                    }),
                ));
            }
            // Hello::decode bounded the list to MAX_DEVICES, so this fits.
            order
                .push(id.0)
                .map_err(|_| Error::new(ErrorCode::CapacityExceeded))?;
            if d.wants_ack {
                if let Some(w) = wants.get_mut(i / 32) {
                    *w |= 1 << (i % 32);
                }
            }
        }
        for i in 0..self.devices.len() {
            let listed = seen.get(i / 32).is_some_and(|w| w & (1 << (i % 32)) != 0);
            if !listed {
                return Err(Error::with(
                    ErrorCode::DeviceMissingOnSource,
                    self.devices.detail(DeviceId(i as u16)),
                ));
            }
        }
        Ok(version)
    }

    fn welcome(
        &mut self,
        now: Instant,
        hello: &Hello<'_>,
        version: u8,
        wants: &[u32; MAX_DEVICES.div_ceil(32)],
    ) {
        let agreed = &self.m.agreed;
        let ack_on = agreed.is_on(CapabilityId::SWITCHOVER_ACK);
        let set = ChannelsReady {
            multifd: agreed.param(CapabilityId::MULTIFD),
            preempt: agreed.is_on(CapabilityId::POSTCOPY_PREEMPT),
            device_state: agreed.param(CapabilityId::DEVICE_STATE),
        };
        self.pending = 0;
        // evaluate() already matched every Hello device (self.order): no
        // second walk of the list.
        for (i, &id) in self.order.iter().enumerate() {
            let id = DeviceId(id);
            let wants_ack = wants.get(i / 32).is_some_and(|w| w & (1 << (i % 32)) != 0);
            let supports = self.devices.get(id).is_some_and(|x| x.ack);
            let participates = ack_on && wants_ack && supports;
            if let Some(s) = self.dev.get_mut(usize::from(id.0)) {
                *s = DevState {
                    src_index: i as u16,
                    participates,
                    approved: false,
                };
            }
            self.pending += u16::from(participates);
        }
        self.m.version = Some(version);
        let totals = Totals {
            multifd: hello
                .offer
                .get(CapabilityId::MULTIFD)
                .map_or(0, |o| o.param),
            device_state: hello
                .offer
                .get(CapabilityId::DEVICE_STATE)
                .map_or(0, |o| o.param),
        };
        self.m.timers.stop(Timer::Agreement);
        self.m
            .timers
            .set(Timer::Switchover, now.after(self.cfg.switchover_timeout));
        let _ = self.out.push_back(Out::Welcome);
        self.set_state(DestinationState::Precopy);
        self.m.events.push(Event::Negotiated { version });
        // By reference: the preamble is not copied.
        let fallback;
        let main = match &self.peer {
            Some(p) => p,
            None => {
                fallback = Preamble::main(self.cfg.versions, [0; 16]);
                &fallback
            }
        };
        let events = &mut self.m.events;
        self.channels
            .fix(set, totals, main, |id, refused| match refused {
                None => events.push(Event::ChannelAssigned(id)),
                Some(code) => events.push(Event::ChannelRefused { channel: id, code }),
            });
        if self.channels.is_complete() {
            self.channels_complete();
        } else {
            self.m
                .timers
                .set(Timer::Channels, now.after(self.cfg.channels_timeout));
        }
        if ack_on && self.pending == 0 {
            self.arm_ack();
        }
    }

    fn channels_complete(&mut self) {
        self.m.timers.stop(Timer::Channels);
        if !self.out.iter().any(|o| *o == Out::ChannelsReady) {
            self.push_out(Out::ChannelsReady);
        }
        self.m.events.push(Event::ChannelsReady);
    }

    /// Drop queued frames that match, keeping the order of the rest. A
    /// rotation rather than `Deque::retain`, whose `expect` and `swap` bounds
    /// checks survive optimisation (the firmware's no-panic link refuses them).
    fn drop_out(&mut self, drop: impl Fn(&Out) -> bool) {
        for _ in 0..self.out.len() {
            if let Some(o) = self.out.pop_front() {
                if !drop(&o) {
                    let _ = self.out.push_back(o);
                }
            }
        }
    }

    fn push_out(&mut self, o: Out) {
        // The queue is bounded by construction: at most Welcome, ChannelsReady,
        // one Revoke of a sent ack and one Ack (an unsent Ack is withdrawn,
        // wherever it waits, instead of being followed by its Revoke).
        if self.out.push_back(o).is_err() {
            self.fail(Error::new(ErrorCode::CapacityExceeded), false);
        }
    }

    fn arm_ack(&mut self) {
        self.epoch = self.epoch.saturating_add(1);
        self.acked = true;
        self.push_out(Out::Ack(self.epoch));
        self.m
            .events
            .push(Event::SwitchoverAcked { epoch: self.epoch });
    }

    fn on_switchover_start(&mut self, s: SwitchoverStart) -> Result<()> {
        let ack_on = self.m.agreed.is_on(CapabilityId::SWITCHOVER_ACK);
        // The decision may rest on an ack we have since revoked, and even
        // armed again (the revoke and the new ack crossed it on the wire):
        // any ack that was sent carries the source's decision.
        let ok = if ack_on {
            s.waived || (s.epoch >= 1 && s.epoch <= self.sent_epoch)
        } else {
            s.epoch == 0
        };
        if !ok {
            return Err(Error::with(
                ErrorCode::SwitchoverNotAllowed,
                Detail::Value {
                    expected: self.sent_epoch,
                    got: s.epoch,
                },
            ));
        }
        // SwitchedOver is terminal: no deadline may fail it.
        self.m.timers.stop_all();
        self.drop_out(|o| matches!(o, Out::Ack(_) | Out::Revoke(..)));
        self.m.events.push(Event::SwitchoverStarted {
            epoch: s.epoch,
            waived: s.waived,
        });
        self.set_state(DestinationState::SwitchedOver);
        Ok(())
    }

    /// The ack state of `device`, which must take part in switchover-ack
    /// and be `approved` already (revoke) or not yet (approve).
    fn device_for_ack(&self, device: DeviceId, approved: bool) -> Result<DevState> {
        // One error exit for the refusals that name the device.
        let code = match self.dev.get(usize::from(device.0)) {
            None => {
                return Err(Error::with(
                    ErrorCode::UnknownDevice,
                    Detail::Value {
                        expected: self.devices.len() as u32,
                        got: u32::from(device.0),
                    },
                ))
            }
            Some(st) if !st.participates => ErrorCode::DeviceNotParticipating,
            Some(st) if st.approved == approved => return Ok(*st),
            Some(_) if approved => ErrorCode::NotApproved,
            Some(_) => ErrorCode::AlreadyApproved,
        };
        Err(Error::with(code, self.devices.detail(device)))
    }

    /// A device's initial data is loaded (QEMU's `qemu_loadvm_approve_switchover`).
    /// The last pending approval queues the SwitchoverAck. Errors leave the count unchanged.
    pub fn approve(&mut self, _now: Instant, device: DeviceId) -> Result<()> {
        if self.state != DestinationState::Precopy {
            return Err(Error::new(ErrorCode::InvalidState));
        }
        self.device_for_ack(device, false)?;
        if let Some(s) = self.dev.get_mut(usize::from(device.0)) {
            s.approved = true;
        }
        self.pending = self.pending.saturating_sub(1);
        self.m.events.push(Event::DeviceApproved {
            device,
            pending: self.pending,
        });
        if self.pending == 0 && !self.acked {
            self.arm_ack();
        }
        Ok(())
    }

    /// A device's initial data grew again: withdraw its approval. Closes the
    /// source's gate until the next ack. An error after SwitchoverStart.
    pub fn revoke(&mut self, _now: Instant, device: DeviceId) -> Result<()> {
        match self.state {
            DestinationState::Precopy => {}
            DestinationState::SwitchedOver => {
                return Err(Error::with(
                    ErrorCode::RevokeAfterSwitchoverStart,
                    self.devices.detail(device),
                ));
            }
            _ => return Err(Error::new(ErrorCode::InvalidState)),
        }
        let st = self.device_for_ack(device, true)?;
        if let Some(s) = self.dev.get_mut(usize::from(device.0)) {
            s.approved = false;
        }
        self.pending = self.pending.saturating_add(1);
        self.m.events.push(Event::DeviceRevoked {
            device,
            pending: self.pending,
        });
        if self.acked {
            self.acked = false;
            let epoch = self.epoch;
            let queued = self.out.len();
            // An ack that never left is withdrawn instead of being revoked.
            self.drop_out(|o| *o == Out::Ack(epoch));
            if self.out.len() == queued {
                self.push_out(Out::Revoke(epoch, st.src_index));
            }
        }
        Ok(())
    }

    /// Take a secondary channel, given the preamble read from it. Channels may
    /// come in any order, before or after Welcome. A refusal (`Err`) concerns
    /// only that connection: close it; the session goes on.
    pub fn accept_channel(&mut self, now: Instant, p: &Preamble) -> Result<Assignment> {
        let id = p.channel();
        let allowed = match self.state {
            DestinationState::AwaitHello | DestinationState::Precopy => true,
            DestinationState::SwitchedOver => p.is_reattach(),
            DestinationState::Failed => false,
        };
        if !allowed {
            return Err(Error::new(ErrorCode::InvalidState));
        }
        let main = self.peer.as_ref();
        // One error exit: every refusal here names the channel.
        let refused = if main.is_some_and(|m| m.nonce != p.nonce) {
            // A stranger is named as such before anything else is judged.
            Some(ErrorCode::WrongNonce)
        } else if main.is_some_and(|m| m.versions != p.versions) {
            Some(ErrorCode::BadVersionRange)
        } else if id.role == Role::Main {
            // Only a reattached main (postcopy recovery) may come this way
            // (the nonce matched above).
            match main {
                Some(_) if p.is_reattach() => return Ok(Assignment::Reattached(id)),
                _ => Some(ErrorCode::DuplicateChannel),
            }
        } else {
            None
        };
        if let Some(code) = refused {
            return Err(Error::with(
                code,
                Detail::Channel {
                    role: id.role,
                    index: id.index,
                },
            ));
        }
        let nonce = main.map(|m| m.nonce);
        let a = self.channels.accept(p, nonce.as_ref())?;
        match a {
            Assignment::Assigned(id) => self.m.events.push(Event::ChannelAssigned(id)),
            Assignment::Reattached(id) => self.m.events.push(Event::ChannelReattached(id)),
            Assignment::Held(_) => {}
        }
        if !matches!(a, Assignment::Held(_)) && self.channels.is_complete() {
            self.channels_complete();
        }
        let _ = now;
        Ok(a)
    }

    /// A channel's connection broke. In `Precopy` this starts the channels
    /// deadline again; the source re-attaches it with the same nonce and
    /// name. In `SwitchedOver` (terminal) the channel is only marked lost,
    /// so that its re-attach is accepted: no deadline is armed and the state
    /// does not change (recovery after switchover is the hypervisor's).
    pub fn channel_lost(&mut self, now: Instant, id: ChannelId) -> Result<()> {
        if !matches!(
            self.state,
            DestinationState::Precopy | DestinationState::SwitchedOver
        ) {
            return Err(Error::new(ErrorCode::InvalidState));
        }
        self.channels.mark_lost(id)?;
        if self.state == DestinationState::Precopy {
            self.m
                .timers
                .set(Timer::Channels, now.after(self.cfg.channels_timeout));
        }
        Ok(())
    }

    /// Write pending frames into `buf`: the preamble first, then as many whole
    /// frames as fit. Returns the bytes written, 0 if nothing is pending.
    /// `BufferTooSmall` (nothing written, nothing lost) if the next frame does
    /// not fit at all.
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Result<usize> {
        let mut at = 0usize;
        if self.out.is_empty() {
            return Ok(0);
        }
        if !self.preamble_sent {
            let nonce = self.peer.map(|p| p.nonce).unwrap_or_default();
            at = Preamble::main(self.cfg.versions, nonce).encode(buf)?;
        }
        while let Some(&o) = self.out.front() {
            match self.write_out(buf, at, o) {
                Ok(n) => {
                    at += n;
                    self.out.pop_front();
                    self.preamble_sent = true;
                    if let Out::Ack(e) = o {
                        self.sent_epoch = e;
                    }
                }
                Err(e) if !self.preamble_sent => return Err(e),
                Err(e) if at == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(at)
    }

    fn write_out(&self, buf: &mut [u8], at: usize, o: Out) -> Result<usize> {
        let kind = match o {
            Out::Welcome => FrameType::Welcome,
            Out::Reject => FrameType::Reject,
            Out::Abort => FrameType::Abort,
            Out::ChannelsReady => FrameType::ChannelsReady,
            Out::Ack(_) => FrameType::SwitchoverAck,
            Out::Revoke(..) => FrameType::SwitchoverRevoke,
        };
        // One frame writer for every kind: a closure per kind would be a
        // copy of the writer per kind.
        write_into(buf, at, kind, |w| match o {
            Out::Welcome => {
                let verdicts = self
                    .order
                    .iter()
                    .map(|&i| self.dev.get(usize::from(i)).is_some_and(|d| d.participates));
                Welcome::write(
                    w,
                    self.m.version(),
                    &self.cfg.capabilities,
                    &self.m.agreed,
                    verdicts,
                )
            }
            Out::Reject | Out::Abort => msg::write_abort(w, self.m.error.as_ref()),
            Out::ChannelsReady => self.channels.expected().unwrap_or_default().write(w),
            Out::Ack(epoch) => SwitchoverAck { epoch }.write(w),
            Out::Revoke(epoch, device) => SwitchoverRevoke { epoch, device }.write(w),
        })
    }
}

impl Endpoint for Destination {
    fn machine(&self) -> &Machine {
        &self.m
    }
    fn awaiting_preamble(&self) -> bool {
        self.peer.is_none()
    }
    fn on_preamble(&mut self, p: Preamble) -> Result<()> {
        Machine::check_main(&p)?;
        self.peer = Some(p);
        // Refuse at the preamble: a Hello from a version we do not share may
        // not even decode, and the Reject layout is one every version reads.
        if self.cfg.versions.highest_common(p.versions).is_none() {
            self.reject(Error::with(
                ErrorCode::NoCommonVersion,
                Detail::Versions {
                    source: p.versions,
                    destination: self.cfg.versions,
                },
            ));
        }
        Ok(())
    }

    fn on_frame(&mut self, now: Instant, f: RawFrame<'_>) -> Result<()> {
        match (self.state, f.kind) {
            (_, FrameType::Abort) => {
                self.m.fail_by_peer(f.payload)?;
                self.enter_failed(true);
                Ok(())
            }
            (DestinationState::AwaitHello, FrameType::Hello) => self.on_hello(now, f.payload),
            (DestinationState::Precopy, FrameType::SwitchoverStart) => {
                let s = SwitchoverStart::decode(f.payload)?;
                self.on_switchover_start(s)
            }
            _ => Err(Error::with(
                ErrorCode::UnexpectedFrame,
                Detail::Frame(f.kind as u8),
            )),
        }
    }
    fn failed(&self) -> bool {
        self.state == DestinationState::Failed
    }
    fn reading(&self) -> bool {
        matches!(
            self.state,
            DestinationState::AwaitHello | DestinationState::Precopy
        )
    }
    fn fail_local(&mut self, e: Error) {
        self.fail(e, false);
    }
}
