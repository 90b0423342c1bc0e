//! Interleaving model check over the real state machines.
//!
//! An explicit-state explorer (depth-first, with a visited set of state
//! fingerprints) runs every interleaving of:
//! - delivery of each side's transmissions on the main channel (FIFO per
//!   direction, the two directions in any relative order; each side sends
//!   what it has queued whenever the explorer chooses, so a frame can sit in
//!   a queue while others move);
//! - arrival of the secondary channels (3 multifd + preempt, opened by the
//!   source right after Hello) in any order, before or after Welcome;
//! - approvals of the 2 participating devices, and one revoke, at any point;
//! - the source's switchover decision whenever its gate is open;
//! - deadlines firing at any point: each host has its own clock, and "fire
//!   side X" jumps X's clock to `X.poll_timeout()` and calls `handle_timeout`
//!   (the hosts' clocks are independent and the network may delay anything,
//!   so any relative order of deadlines and deliveries is possible);
//! - one lost secondary channel: it breaks after the destination attached it;
//!   the destination notices (`channel_lost`) and the source reconnects with
//!   a REATTACH preamble (`Source::channel_lost`), in either order.
//!
//! Properties, checked in every state or on every step:
//! - no deadlock: a state without successors has both sides terminal
//!   (SwitchedOver or Failed with a named error); no livelock: the state
//!   graph has no cycle, so every run ends;
//! - never two acks for one arming: on the wire, between two SwitchoverAck
//!   frames there is a SwitchoverRevoke of the first; epochs rise; the source
//!   never reports two acks without a revoke between;
//! - `can_switchover()` is never true unless every participating device is
//!   approved at the destination, or the destination has already withdrawn
//!   that ack (the revoke is queued or on the wire: the race of §7.2);
//! - a non-terminal side waiting for its peer always has a deadline;
//! - in every end state both sides agree: both SwitchedOver, or both Failed
//!   with the same error, except when both failed on their own before hearing
//!   from the other (two deadlines crossing, §7.5), which is counted.
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt::Write as _;
use std::hash::{Hash, Hasher};

use accord_core::wire::frame::{self, FrameType};
use accord_core::wire::msg::{SwitchoverAck, SwitchoverRevoke};
use accord_core::wire::preamble;
use accord_core::*;

const NONCE: [u8; 16] = *b"model-check-nonc";
const T0: u64 = 1_000;

#[derive(Clone, Copy, Debug)]
struct Model {
    multifd: u16,
    preempt: bool,
    devices: u16,
    revokes: u8,
    lost: bool,
    policy: AckPolicy,
}

/// One secondary connection on its way to the destination.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct Conn {
    bytes: [u8; preamble::LEN],
}

/// What the properties need to remember about the history.
#[derive(Clone, Copy, Debug, Default, Hash, PartialEq, Eq)]
struct Obs {
    /// Source: last ack epoch reported, and whether it is open.
    s_last_ack: u32,
    s_ack_open: bool,
    /// Source: the ack deadline passed under the Proceed policy (until a revoke).
    s_waived: bool,
    /// Destination: last epoch armed.
    d_last_arm: u32,
    /// Wire (destination to source): last ack epoch written, and whether it is un-revoked.
    w_last_ack: u32,
    w_ack_open: bool,
    /// Whether the destination's preamble has been written.
    d_preamble: bool,
    /// How each side failed: Some(by_peer).
    s_failed_by_peer: Option<bool>,
    d_failed_by_peer: Option<bool>,
}

/// A 128-bit fingerprint: two independent multiply-rotate mixes over the
/// bytes. With a few million states, a collision (which would hide a state)
/// has a probability around 1e-26.
#[derive(Default)]
struct Fp {
    a: u64,
    b: u64,
    n: u64,
}

impl Fp {
    fn mix(&mut self, w: u64) {
        self.a = (self.a ^ w)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(31);
        self.b = (self.b.rotate_left(17) ^ w).wrapping_mul(0xc2b2_ae3d_27d4_eb4f);
        self.n = self.n.wrapping_add(1);
    }

    fn value(&self) -> u128 {
        let a = (self.a ^ self.n).wrapping_mul(0xff51_afd7_ed55_8ccd);
        let b = (self.b ^ self.n.rotate_left(32)).wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        (u128::from(a ^ (a >> 33)) << 64) | u128::from(b ^ (b >> 29))
    }
}

impl Hasher for Fp {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.mix(u64::from_le_bytes(c.try_into().unwrap()));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(last) ^ ((rest.len() as u64) << 59));
        }
    }

    fn finish(&self) -> u64 {
        self.value() as u64
    }
}

thread_local! {
    static DEBUG_BUF: std::cell::RefCell<String> = std::cell::RefCell::new(String::with_capacity(1 << 16));
}

#[derive(Clone, Debug)]
struct World {
    s: Source,
    d: Destination,
    to_d: VecDeque<Vec<u8>>,
    to_s: VecDeque<Vec<u8>>,
    conns: Vec<Conn>,
    now_s: u64,
    now_d: u64,
    revokes_left: u8,
    /// The lost channel, once one broke, with who has dealt with it.
    lost: Option<ChannelId>,
    lost_left: bool,
    dst_noticed: bool,
    src_reconnected: bool,
    reattach_accepted: bool,
    obs: Obs,
}

#[derive(Clone, Copy, Debug)]
enum Action {
    SrcTransmit,
    DstTransmit,
    DeliverToDst,
    DeliverToSrc,
    Accept(usize),
    Approve(u16),
    Revoke(u16),
    StartSwitchover,
    FireSrc,
    FireDst,
    Lose(ChannelId),
    DstNotice,
    SrcReconnect,
}

fn m_policy_proceed(s: &Source) -> bool {
    s.config().ack_policy == AckPolicy::Proceed
}

fn src_terminal(s: &Source) -> bool {
    matches!(s.state(), SourceState::SwitchedOver | SourceState::Failed)
}

fn dst_terminal(d: &Destination) -> bool {
    matches!(
        d.state(),
        DestinationState::SwitchedOver | DestinationState::Failed
    )
}

impl World {
    fn new(m: Model) -> World {
        let mut cfg = source_config(m.multifd);
        let c = &mut cfg.capabilities;
        if m.preempt {
            c.set(CapabilityId::POSTCOPY_RAM, Level::Required, 0)
                .unwrap();
            c.set(CapabilityId::POSTCOPY_PREEMPT, Level::Required, 0)
                .unwrap();
        }
        cfg.ack_policy = m.policy;
        let mut s = Source::new(cfg, NONCE).unwrap();
        let mut d = Destination::new(DestinationConfig::default(), Instant(T0)).unwrap();
        for i in 0..m.devices {
            let name = format!("dev{i}");
            s.add_device(&name, 0, true).unwrap();
            d.register_device(&name, 0, true).unwrap();
        }
        s.start(Instant(T0)).unwrap();
        let conns = s
            .channels()
            .map(|id| Conn {
                bytes: s.channel_preamble(id).unwrap().to_bytes(),
            })
            .collect();
        let mut w = World {
            s,
            d,
            to_d: VecDeque::new(),
            to_s: VecDeque::new(),
            conns,
            now_s: T0,
            now_d: T0,
            revokes_left: m.revokes,
            lost: None,
            lost_left: m.lost,
            dst_noticed: false,
            src_reconnected: false,
            reattach_accepted: false,
            obs: Obs::default(),
        };
        w.drain_events();
        w
    }

    fn fingerprint(&self) -> u128 {
        let mut h = Fp::default();
        // Source and Destination have no Hash; their Debug output shows every
        // field (events are drained after each step, so queues are empty). It
        // is written into a reused buffer, then hashed in one pass.
        DEBUG_BUF.with_borrow_mut(|buf| {
            buf.clear();
            write!(buf, "{:?}|{:?}", self.s, self.d).unwrap();
            h.write(buf.as_bytes());
        });
        self.to_d.hash(&mut h);
        self.to_s.hash(&mut h);
        let mut conns = self.conns.clone();
        conns.sort_by_key(|c| c.bytes);
        conns.hash(&mut h);
        (self.now_s, self.now_d, self.revokes_left, self.lost_left).hash(&mut h);
        (self.lost, self.dst_noticed, self.src_reconnected).hash(&mut h);
        self.reattach_accepted.hash(&mut h);
        self.obs.hash(&mut h);
        h.value()
    }

    fn actions(&self, m: &Model) -> Vec<Action> {
        let mut a = Vec::new();
        let (s, d) = (&self.s, &self.d);
        // Transmissions: only offered when something is pending (checked on a clone).
        if self
            .s
            .clone()
            .poll_transmit(Instant(self.now_s), &mut [0u8; 512])
            != Ok(0)
        {
            a.push(Action::SrcTransmit);
        }
        if self
            .d
            .clone()
            .poll_transmit(Instant(self.now_d), &mut [0u8; 1024])
            != Ok(0)
        {
            a.push(Action::DstTransmit);
        }
        if !self.to_d.is_empty() {
            a.push(Action::DeliverToDst);
        }
        if !self.to_s.is_empty() {
            a.push(Action::DeliverToSrc);
        }
        // Channels in any order; identical pending preambles are one choice.
        for (i, c) in self.conns.iter().enumerate() {
            if !self.conns[..i].contains(c) {
                a.push(Action::Accept(i));
            }
        }
        if d.state() == DestinationState::Precopy {
            for i in 0..m.devices {
                let id = DeviceId(i);
                if d.participates(id) && !d.approved(id) {
                    a.push(Action::Approve(i));
                }
                if d.approved(id) && self.revokes_left > 0 {
                    a.push(Action::Revoke(i));
                }
            }
        }
        if s.can_switchover() {
            a.push(Action::StartSwitchover);
        }
        if s.poll_timeout().is_some() {
            a.push(Action::FireSrc);
        }
        if d.poll_timeout().is_some() {
            a.push(Action::FireDst);
        }
        if self.lost_left {
            for id in d.channels().iter_expected() {
                if d.channels().is_attached(id) && !d.channels().is_lost(id) {
                    a.push(Action::Lose(id));
                }
            }
        }
        if let Some(id) = self.lost {
            // A careful caller reports the old connection lost only while it
            // is still the current one: not after its replacement was taken.
            if !self.dst_noticed
                && !self.reattach_accepted
                && matches!(
                    d.state(),
                    DestinationState::Precopy | DestinationState::SwitchedOver
                )
                && d.channels().is_attached(id)
            {
                a.push(Action::DstNotice);
            }
            if !self.src_reconnected
                && matches!(s.state(), SourceState::Precopy | SourceState::SwitchedOver)
            {
                a.push(Action::SrcReconnect);
            }
        }
        a
    }

    fn apply(&mut self, act: Action, m: &Model) {
        let d_before = self.d.state();
        self.step(act);
        if d_before == DestinationState::SwitchedOver {
            assert_eq!(
                self.d.state(),
                DestinationState::SwitchedOver,
                "SwitchedOver is terminal, yet {act:?} moved the destination"
            );
        }
        self.drain_events();
        self.check_state(m);
    }

    fn step(&mut self, act: Action) {
        let (ns, nd) = (Instant(self.now_s), Instant(self.now_d));
        match act {
            Action::SrcTransmit => {
                let mut buf = [0u8; 512];
                let n = self.s.poll_transmit(ns, &mut buf).unwrap();
                self.to_d.push_back(buf[..n].to_vec());
            }
            Action::DstTransmit => {
                let mut buf = [0u8; 1024];
                let n = self.d.poll_transmit(nd, &mut buf).unwrap();
                self.observe_wire(&buf[..n]);
                self.to_s.push_back(buf[..n].to_vec());
            }
            Action::DeliverToDst => {
                let b = self.to_d.pop_front().unwrap();
                // A failed side has closed the connection: bytes are lost.
                if self.d.state() != DestinationState::Failed {
                    if let Ok(n) = self.d.handle_input(nd, &b) {
                        assert_eq!(n, b.len(), "whole transmissions are consumed");
                    }
                }
            }
            Action::DeliverToSrc => {
                let b = self.to_s.pop_front().unwrap();
                if self.s.state() != SourceState::Failed {
                    if let Ok(n) = self.s.handle_input(ns, &b) {
                        assert_eq!(n, b.len(), "whole transmissions are consumed");
                    }
                }
            }
            Action::Accept(i) => {
                let c = self.conns.remove(i);
                let p = Preamble::decode(&c.bytes).unwrap().unwrap();
                let r = self.d.accept_channel(nd, &p);
                if p.is_reattach() && r.is_ok() {
                    self.reattach_accepted = true;
                }
                // An honest original channel of the negotiated set is refused
                // only when the destination has failed.
                if !p.is_reattach() && self.d.state() != DestinationState::Failed {
                    assert!(r.is_ok(), "honest channel {p:?} refused: {r:?}");
                }
            }
            Action::Approve(i) => self.d.approve(nd, DeviceId(i)).unwrap(),
            Action::Revoke(i) => {
                self.revokes_left -= 1;
                self.d.revoke(nd, DeviceId(i)).unwrap();
            }
            Action::StartSwitchover => self.s.start_switchover(ns).unwrap(),
            Action::FireSrc => {
                self.now_s = self.now_s.max(self.s.poll_timeout().unwrap().0);
                self.s.handle_timeout(Instant(self.now_s));
            }
            Action::FireDst => {
                self.now_d = self.now_d.max(self.d.poll_timeout().unwrap().0);
                self.d.handle_timeout(Instant(self.now_d));
            }
            Action::Lose(id) => {
                self.lost_left = false;
                self.lost = Some(id);
            }
            Action::DstNotice => {
                self.dst_noticed = true;
                self.d.channel_lost(nd, self.lost.unwrap()).unwrap();
            }
            Action::SrcReconnect => {
                self.src_reconnected = true;
                let p = self.s.channel_lost(ns, self.lost.unwrap()).unwrap();
                assert!(p.is_reattach());
                self.conns.push(Conn {
                    bytes: p.to_bytes(),
                });
            }
        }
    }

    /// Frames the destination writes: the ack discipline on the wire.
    fn observe_wire(&mut self, mut b: &[u8]) {
        if !self.obs.d_preamble {
            self.obs.d_preamble = true;
            b = &b[preamble::LEN..];
        }
        while let Some(f) = frame::split(b).unwrap() {
            match f.kind {
                FrameType::SwitchoverAck => {
                    let a = SwitchoverAck::decode(f.payload).unwrap();
                    assert!(
                        !self.obs.w_ack_open,
                        "two acks on the wire without a revoke between"
                    );
                    assert!(a.epoch > self.obs.w_last_ack, "ack epochs rise");
                    self.obs.w_last_ack = a.epoch;
                    self.obs.w_ack_open = true;
                }
                FrameType::SwitchoverRevoke => {
                    let r = SwitchoverRevoke::decode(f.payload).unwrap();
                    assert!(self.obs.w_ack_open, "revoke of an ack never sent");
                    assert_eq!(r.epoch, self.obs.w_last_ack);
                    self.obs.w_ack_open = false;
                }
                _ => {}
            }
            b = &b[f.len..];
        }
        assert!(b.is_empty());
    }

    /// Whether a SwitchoverRevoke of `epoch` is queued at the destination or
    /// on the wire towards the source.
    fn revoke_in_flight(&self, epoch: u32) -> bool {
        let mut queued = [0u8; 1024];
        let n = self
            .d
            .clone()
            .poll_transmit(Instant(self.now_d), &mut queued)
            .unwrap();
        let revokes = |mut b: &[u8]| {
            if b.starts_with(&preamble::MAGIC) {
                b = &b[preamble::LEN..];
            }
            let mut found = false;
            while let Some(f) = frame::split(b).unwrap() {
                if f.kind == FrameType::SwitchoverRevoke {
                    let r = SwitchoverRevoke::decode(f.payload).unwrap();
                    found |= r.epoch == epoch;
                }
                b = &b[f.len..];
            }
            found
        };
        revokes(&queued[..n]) || self.to_s.iter().any(|t| revokes(t))
    }

    fn drain_events(&mut self) {
        // Every action is one call, and events are taken after each: no call
        // may queue more than the bound the queue is sized by.
        let (mut from_s, mut from_d) = (0usize, 0usize);
        while let Some(e) = self.s.poll_event() {
            from_s += 1;
            assert!(
                from_s <= event::EVENTS_PER_CALL,
                "one call, too many events"
            );
            match e {
                Event::SwitchoverAcked { epoch } => {
                    assert!(!self.obs.s_ack_open, "source: two acks for one arming");
                    assert!(epoch > self.obs.s_last_ack);
                    self.obs.s_last_ack = epoch;
                    self.obs.s_ack_open = true;
                }
                Event::SwitchoverRevoked { epoch, .. } => {
                    assert!(self.obs.s_ack_open && epoch == self.obs.s_last_ack);
                    self.obs.s_ack_open = false;
                    self.obs.s_waived = false;
                }
                Event::AckWaived => {
                    assert!(m_policy_proceed(&self.s), "waived under Fail");
                    self.obs.s_waived = true;
                }
                Event::Failed { by_peer, .. } => {
                    assert_eq!(self.obs.s_failed_by_peer, None, "source fails once");
                    self.obs.s_failed_by_peer = Some(by_peer);
                }
                _ => {}
            }
        }
        assert_eq!(self.s.dropped_events(), 0);
        while let Some(e) = self.d.poll_event() {
            from_d += 1;
            assert!(
                from_d <= event::EVENTS_PER_CALL,
                "one call, too many events"
            );
            match e {
                Event::SwitchoverAcked { epoch } => {
                    assert!(epoch > self.obs.d_last_arm, "destination: epochs rise");
                    self.obs.d_last_arm = epoch;
                }
                Event::Failed { by_peer, .. } => {
                    assert_eq!(self.obs.d_failed_by_peer, None, "destination fails once");
                    self.obs.d_failed_by_peer = Some(by_peer);
                }
                _ => {}
            }
        }
        assert_eq!(self.d.dropped_events(), 0);
    }

    fn check_state(&self, m: &Model) {
        let (s, d) = (&self.s, &self.d);
        // The gate: every participating device approved, or the ack already withdrawn.
        if s.can_switchover() && s.agreed().is_on(CapabilityId::SWITCHOVER_ACK) {
            let all =
                (0..m.devices).all(|i| !d.participates(DeviceId(i)) || d.approved(DeviceId(i)));
            let waived = self.obs.s_waived;
            // A device withdrew: the revoke of the source's ack must be on its
            // way (queued or on the wire), or the destination has failed and
            // its Abort is.
            let withdrawn = !d.acked()
                && (self.revoke_in_flight(self.obs.s_last_ack)
                    || d.state() == DestinationState::Failed);
            assert!(
                all || withdrawn || waived,
                "can_switchover with a device unapproved and no revoke on its way: {self:?}"
            );
            if !waived {
                assert!(self.obs.s_ack_open);
            }
        }
        // No unbounded wait.
        match s.state() {
            SourceState::AwaitWelcome => assert!(s.poll_timeout().is_some()),
            SourceState::Precopy if !s.can_switchover() => assert!(s.poll_timeout().is_some()),
            _ => {}
        }
        match d.state() {
            DestinationState::AwaitHello | DestinationState::Precopy => {
                assert!(d.poll_timeout().is_some())
            }
            // Terminal (docs/PROTOCOL.md §7.2): nothing is waited for, even
            // with a channel lost; no deadline can fail it.
            DestinationState::SwitchedOver => assert_eq!(d.poll_timeout(), None),
            _ => {}
        }
        if src_terminal(s) {
            assert_eq!(s.poll_timeout(), None);
        }
        if d.state() == DestinationState::Failed {
            assert_eq!(d.poll_timeout(), None);
        }
    }
}

/// The source's offer: return-path and switchover-ack, and `multifd`
/// channels (none when 0), all required.
fn source_config(multifd: u16) -> SourceConfig {
    let mut cfg = SourceConfig::default();
    let c = &mut cfg.capabilities;
    c.set(CapabilityId::RETURN_PATH, Level::Required, 0)
        .unwrap();
    c.set(CapabilityId::SWITCHOVER_ACK, Level::Required, 0)
        .unwrap();
    if multifd > 0 {
        c.set(CapabilityId::MULTIFD, Level::Required, multifd)
            .unwrap();
    }
    cfg
}

#[derive(Default, Debug)]
struct Report {
    states: usize,
    transitions: usize,
    end_states: usize,
    max_depth: usize,
    /// End verdicts: "switched over" or the error code(s).
    verdicts: BTreeMap<String, usize>,
    crossed: usize,
}

/// Depth-first search with grey/black marking: a grey state met again is a
/// cycle, which would be a run that never ends.
fn explore(m: Model) -> Report {
    #[derive(PartialEq)]
    enum Mark {
        Grey,
        Black,
    }
    let mut r = Report::default();
    let mut seen: HashMap<u128, Mark> = HashMap::new();
    let w0 = World::new(m);
    w0.check_state(&m);
    let mut stack: Vec<(World, u128, Vec<Action>)> = Vec::new();
    let f0 = w0.fingerprint();
    seen.insert(f0, Mark::Grey);
    let a0 = w0.actions(&m);
    stack.push((w0, f0, a0));
    r.states = 1;
    loop {
        r.max_depth = r.max_depth.max(stack.len());
        let Some((w, f, acts)) = stack.last_mut() else {
            break;
        };
        let Some(act) = acts.pop() else {
            let (w, f, _) = stack.pop().unwrap();
            seen.insert(f, Mark::Black);
            let _ = w;
            continue;
        };
        let _ = f;
        let mut next = w.clone();
        next.apply(act, &m);
        r.transitions += 1;
        let nf = next.fingerprint();
        match seen.get(&nf) {
            Some(Mark::Grey) => panic!("cycle: a run that never ends, via {act:?}: {next:?}"),
            Some(Mark::Black) => continue,
            None => {}
        }
        seen.insert(nf, Mark::Grey);
        r.states += 1;
        let acts = next.actions(&m);
        if acts.is_empty() {
            end_state(&next, &mut r);
        }
        stack.push((next, nf, acts));
    }
    r
}

fn end_state(w: &World, r: &mut Report) {
    r.end_states += 1;
    let (s, d) = (&w.s, &w.d);
    assert!(
        src_terminal(s) && dst_terminal(d),
        "deadlock: source {:?}, destination {:?}: {w:?}",
        s.state(),
        d.state()
    );
    assert!(w.to_d.is_empty() && w.to_s.is_empty());
    let verdict = match (s.state(), d.state()) {
        (SourceState::SwitchedOver, DestinationState::SwitchedOver) => "switched over".to_string(),
        (SourceState::Failed, DestinationState::Failed) => {
            let (es, ed) = (s.error().unwrap(), d.error().unwrap());
            let crossed =
                w.obs.s_failed_by_peer == Some(false) && w.obs.d_failed_by_peer == Some(false);
            if crossed {
                // In this model a side fails on its own only at a deadline.
                let deadline = |e: &Error| (501..=505).contains(&e.code.as_u16());
                assert!(
                    deadline(es) && deadline(ed),
                    "crossed failures: {es:?} / {ed:?}"
                );
                r.crossed += 1;
                format!("crossed: source {:?}, destination {:?}", es.code, ed.code)
            } else {
                assert_eq!(es, ed, "both sides, same verdict: {w:?}");
                format!("failed: {:?}", es.code)
            }
        }
        (a, b) => panic!("sides disagree: source {a:?}, destination {b:?}: {w:?}"),
    };
    *r.verdicts.entry(verdict).or_default() += 1;
}

/// Print the report and leave it where scripts/test.sh shows it after the
/// run (target/tmp).
fn print(name: &str, r: &Report, t: std::time::Duration) {
    let mut text = format!(
        "model check, {name}: {} states, {} transitions, {} end states, depth {}, {:.1} s\n",
        r.states,
        r.transitions,
        r.end_states,
        r.max_depth,
        t.as_secs_f64()
    );
    for (v, n) in &r.verdicts {
        text.push_str(&format!("  {n:>7}  {v}\n"));
    }
    print!("{text}");
    let file: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(24)
        .collect();
    let path = format!("{}/accord-model-{file}.txt", env!("CARGO_TARGET_TMPDIR"));
    let _ = std::fs::write(path, text);
}

#[test]
#[cfg_attr(
    miri,
    ignore = "hundreds of thousands of states; far too slow under Miri"
)]
fn main_three_multifd_preempt_two_devices_one_revoke_one_lost_channel() {
    let m = Model {
        multifd: 3,
        preempt: true,
        devices: 2,
        revokes: 1,
        lost: true,
        policy: AckPolicy::Fail,
    };
    let t = std::time::Instant::now();
    let r = explore(m);
    print(
        "main + 3 multifd + preempt, 2 devices, 1 revoke, 1 lost channel",
        &r,
        t.elapsed(),
    );
    assert!(r.verdicts.contains_key("switched over"));
    assert!(r.states > 1000);
}

#[test]
#[cfg_attr(miri, ignore = "tens of thousands of states; too slow under Miri")]
fn proceed_policy_waives_the_ack_and_both_sides_still_agree() {
    let m = Model {
        multifd: 1,
        preempt: false,
        devices: 2,
        revokes: 1,
        lost: true,
        policy: AckPolicy::Proceed,
    };
    let t = std::time::Instant::now();
    let r = explore(m);
    print(
        "Proceed policy, 1 multifd, 2 devices, 1 revoke, 1 lost channel",
        &r,
        t.elapsed(),
    );
    assert!(r.verdicts.contains_key("switched over"));
    assert!(!r.verdicts.keys().any(|v| v.contains("AckTimeout")));
}

// ---------------------------------------------------------------------------
// No event is lost at any capacity, in the two flows where one call makes
// the most events. The explorer above drains after every call at small
// sizes; these two push one call to its bound at this build's capacities
// (run them with the hosted maximum: ACCORD_MAX_EARLY_CHANNELS=256 ...).

/// Destination: only the main preamble, then `MAX_EARLY_CHANNELS` held
/// channels, then the Hello. That one call settles every held channel, and
/// queues Negotiated, ChannelsReady and the ack too.
#[test]
fn every_early_channel_held_then_the_hello_loses_no_event() {
    use accord_core::capacity::{MAX_CHANNELS, MAX_EARLY_CHANNELS};
    let early = MAX_EARLY_CHANNELS as u16;
    let multifd = early.min(MAX_CHANNELS as u16).clamp(1, 255);
    let mut s = Source::new(source_config(multifd), NONCE).unwrap();
    let mut d = Destination::new(DestinationConfig::default(), Instant(T0)).unwrap();
    s.start(Instant(T0)).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let n = s.poll_transmit(Instant(T0), &mut buf).unwrap();
    assert_eq!(
        d.handle_input(Instant(T0), &buf[..preamble::LEN]),
        Ok(preamble::LEN)
    );
    let first = s
        .channel_preamble(ChannelId {
            role: Role::Multifd,
            index: 0,
        })
        .unwrap();
    // Indices past the agreed count are held too, and refused at Welcome:
    // each is an event all the same.
    for index in 0..early {
        let p = Preamble { index, ..first };
        let a = d.accept_channel(Instant(T0), &p).unwrap();
        assert!(matches!(a, channels::Assignment::Held(_)));
    }
    assert_eq!(d.poll_event(), None);
    let hello = &buf[preamble::LEN..n];
    assert_eq!(d.handle_input(Instant(T0), hello), Ok(hello.len()));
    let events: Vec<Event> = std::iter::from_fn(|| d.poll_event()).collect();
    assert_eq!(d.dropped_events(), 0);
    assert!(events.len() <= event::EVENTS_PER_CALL);
    assert_eq!(events.first(), Some(&Event::Negotiated { version: 1 }));
    let settled = events
        .iter()
        .filter(|e| matches!(e, Event::ChannelAssigned(_) | Event::ChannelRefused { .. }))
        .count();
    assert_eq!(settled, usize::from(early));
    assert!(events.contains(&Event::ChannelsReady));
    assert!(events.contains(&Event::SwitchoverAcked { epoch: 1 }));
    println!(
        "one Hello, {} events, queue of {}",
        events.len(),
        event::QUEUE_LEN
    );
}

/// Source: far more acks and revokes in one input than the queue holds.
/// `handle_input` stops before the queue would overflow; called again with
/// the rest (after the events are taken), it reads on. Every ack and every
/// revoke is seen, in order.
#[test]
fn a_flood_of_acks_and_revokes_in_one_input_loses_no_event() {
    let m = Model {
        multifd: 0,
        preempt: false,
        devices: 1,
        revokes: 0,
        lost: false,
        policy: AckPolicy::Fail,
    };
    let mut w = World::new(m);
    let mut buf = vec![0u8; 4096];
    let n = w.s.poll_transmit(Instant(T0), &mut buf).unwrap();
    w.d.handle_input(Instant(T0), &buf[..n]).unwrap();
    let n = w.d.poll_transmit(Instant(T0), &mut buf).unwrap();
    assert_eq!(w.s.handle_input(Instant(T0), &buf[..n]), Ok(n));
    let _: Vec<Event> = std::iter::from_fn(|| w.s.poll_event()).collect();
    let _: Vec<Event> = std::iter::from_fn(|| w.d.poll_event()).collect();
    // The destination approves and revokes, over and over, while the
    // source reads nothing; then one read brings every frame.
    let rounds = 3 * event::QUEUE_LEN as u32;
    let mut wire = Vec::new();
    for _ in 0..rounds {
        w.d.approve(Instant(T0), DeviceId(0)).unwrap();
        let n = w.d.poll_transmit(Instant(T0), &mut buf).unwrap();
        wire.extend_from_slice(&buf[..n]);
        w.d.revoke(Instant(T0), DeviceId(0)).unwrap();
        let n = w.d.poll_transmit(Instant(T0), &mut buf).unwrap();
        wire.extend_from_slice(&buf[..n]);
    }
    let mut events = Vec::new();
    let mut at = 0;
    let mut calls = 0;
    while at < wire.len() {
        let used = w.s.handle_input(Instant(T0), &wire[at..]).unwrap();
        assert!(used > 0, "a call after the events were taken reads on");
        at += used;
        calls += 1;
        let mut this_call = 0;
        while let Some(e) = w.s.poll_event() {
            events.push(e);
            this_call += 1;
        }
        assert!(this_call <= event::QUEUE_LEN);
    }
    assert_eq!(w.s.dropped_events(), 0);
    assert_eq!(events.len(), 2 * rounds as usize);
    for (i, pair) in events.chunks(2).enumerate() {
        let epoch = i as u32 + 1;
        assert_eq!(pair[0], Event::SwitchoverAcked { epoch });
        assert_eq!(
            pair[1],
            Event::SwitchoverRevoked {
                device: DeviceId(0),
                epoch
            }
        );
    }
    assert!(calls > 1, "the input was read in more than one call");
}
