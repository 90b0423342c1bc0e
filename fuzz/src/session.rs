//! The session target: a Source and a Destination built from a
//! fuzzer-chosen configuration, then a script of fuzzer-chosen actions on a
//! link the fuzzer controls (partial delivery, corruption, loss, replay),
//! channel connections (possibly mutated), approvals, revokes, clock jumps,
//! deadlines, switchover and aborts. Invariants are checked after every step
//! and once more after a final drain that lets every deadline fire.

use arbitrary::{Arbitrary, Result as AResult, Unstructured};

use accord_core::wire::frame::MAX_FRAME;
use accord_core::wire::preamble;
use accord_core::*;

const NONCE: [u8; 16] = *b"fuzz-session-nce";
const T0: u64 = 1_000;
const MAX_ACTIONS: usize = 1_000;
const DEVICES: usize = 4;

/// The configuration, 25 bytes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Setup {
    /// Per catalog capability 1..=8: `v % 3` is absent, optional, required.
    pub src_levels: [u8; 8],
    /// Same for the destination (unless `DST_DEFAULT`).
    pub dst_levels: [u8; 8],
    /// Multifd and device-state counts: `1 + v % 6`.
    pub src_counts: [u8; 2],
    /// Same for the destination.
    pub dst_counts: [u8; 2],
    /// Per device: `v % 3` on the source (absent, present, wants the ack),
    /// `v / 3 % 3` on the destination (absent, present, supports it).
    pub devices: [u8; DEVICES],
    /// Bit flags: `PROCEED`, `REVERSE`, `DST_DEFAULT`, `SRC_V12`.
    pub flags: u8,
}

/// Ack policy Proceed instead of Fail.
pub const PROCEED: u8 = 1;
/// The destination registers its devices in reverse order.
pub const REVERSE: u8 = 2;
/// The destination uses its default policy (everything optional).
pub const DST_DEFAULT: u8 = 4;
/// The source offers versions 1..=2.
pub const SRC_V12: u8 = 8;

/// One step of the script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// `poll_transmit` with a buffer of `buf` bytes.
    Transmit { dst: bool, buf: u16 },
    /// Deliver up to `n` bytes of what is on the wire.
    Deliver { to_dst: bool, n: u16 },
    /// Flip bits of one byte on the wire.
    Corrupt { to_dst: bool, pos: u16, xor: u8 },
    /// Lose `n` bytes at the head of the wire.
    Drop { to_dst: bool, n: u16 },
    /// Replay the first `n` bytes on the wire.
    Duplicate { to_dst: bool, n: u16 },
    /// `approve` destination device `i` (ids past the table too).
    Approve(u8),
    /// `revoke` destination device `i`.
    Revoke(u8),
    /// The source opens its `j`-th planned channel (queues its preamble).
    Open(u8),
    /// The destination takes pending connection `j`, possibly with one byte mutated.
    Accept { j: u8, mutate: Option<(u8, u8)> },
    /// The destination reports its `j`-th expected channel lost.
    LostAtDst(u8),
    /// The source reports channel `j` lost and reconnects it (REATTACH).
    LostAtSrc(u8),
    /// A side's clock moves forward.
    Advance { src: bool, ms: u32 },
    /// `handle_timeout` at a side's current time.
    Timeout { src: bool },
    /// A side's clock jumps to its next deadline, which it handles.
    FireNext { src: bool },
    /// The source's switchover decision.
    StartSwitchover,
    /// A side's caller aborts.
    Abort { src: bool },
    /// Transmit and deliver both ways until quiet.
    Pump,
}

const OPS: u8 = 17;

impl<'a> Arbitrary<'a> for Setup {
    fn arbitrary(u: &mut Unstructured<'a>) -> AResult<Self> {
        let mut s = Setup::default();
        for b in s
            .src_levels
            .iter_mut()
            .chain(s.dst_levels.iter_mut())
            .chain(s.src_counts.iter_mut())
            .chain(s.dst_counts.iter_mut())
            .chain(s.devices.iter_mut())
        {
            *b = u8::arbitrary(u)?;
        }
        s.flags = u8::arbitrary(u)?;
        Ok(s)
    }
}

impl<'a> Arbitrary<'a> for Action {
    fn arbitrary(u: &mut Unstructured<'a>) -> AResult<Self> {
        let op = u8::arbitrary(u)? % OPS;
        let b = |u: &mut Unstructured<'a>| -> AResult<bool> { Ok(u8::arbitrary(u)? & 1 == 1) };
        Ok(match op {
            0 => Action::Transmit {
                dst: b(u)?,
                buf: u16::arbitrary(u)?,
            },
            1 => Action::Deliver {
                to_dst: b(u)?,
                n: u16::arbitrary(u)?,
            },
            2 => Action::Corrupt {
                to_dst: b(u)?,
                pos: u16::arbitrary(u)?,
                xor: u8::arbitrary(u)?,
            },
            3 => Action::Drop {
                to_dst: b(u)?,
                n: u16::arbitrary(u)?,
            },
            4 => Action::Duplicate {
                to_dst: b(u)?,
                n: u16::arbitrary(u)?,
            },
            5 => Action::Approve(u8::arbitrary(u)?),
            6 => Action::Revoke(u8::arbitrary(u)?),
            7 => Action::Open(u8::arbitrary(u)?),
            8 => {
                let j = u8::arbitrary(u)?;
                let m = b(u)?;
                let (pos, xor) = (u8::arbitrary(u)?, u8::arbitrary(u)?);
                Action::Accept {
                    j,
                    mutate: m.then_some((pos, xor)),
                }
            }
            9 => Action::LostAtDst(u8::arbitrary(u)?),
            10 => Action::LostAtSrc(u8::arbitrary(u)?),
            11 => Action::Advance {
                src: b(u)?,
                ms: u32::arbitrary(u)?,
            },
            12 => Action::Timeout { src: b(u)? },
            13 => Action::FireNext { src: b(u)? },
            14 => Action::StartSwitchover,
            15 => Action::Abort { src: b(u)? },
            _ => Action::Pump,
        })
    }
}

/// A whole input: the setup and the script.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Script {
    /// The configuration.
    pub setup: Setup,
    /// The steps.
    pub actions: Vec<Action>,
}

impl Script {
    /// Read a script the way the fuzz target does.
    pub fn decode(data: &[u8]) -> Option<Script> {
        let mut u = Unstructured::new(data);
        let setup = Setup::arbitrary(&mut u).ok()?;
        let mut actions = Vec::new();
        while !u.is_empty() && actions.len() < MAX_ACTIONS {
            actions.push(Action::arbitrary(&mut u).ok()?);
        }
        Some(Script { setup, actions })
    }

    /// The bytes that decode to this script (for seeds and regressions).
    pub fn encode(&self) -> Vec<u8> {
        let s = &self.setup;
        let mut v = Vec::new();
        v.extend_from_slice(&s.src_levels);
        v.extend_from_slice(&s.dst_levels);
        v.extend_from_slice(&s.src_counts);
        v.extend_from_slice(&s.dst_counts);
        v.extend_from_slice(&s.devices);
        v.push(s.flags);
        for a in &self.actions {
            match *a {
                Action::Transmit { dst, buf } => {
                    v.extend([0, dst as u8]);
                    v.extend(buf.to_le_bytes());
                }
                Action::Deliver { to_dst, n } => {
                    v.extend([1, to_dst as u8]);
                    v.extend(n.to_le_bytes());
                }
                Action::Corrupt { to_dst, pos, xor } => {
                    v.extend([2, to_dst as u8]);
                    v.extend(pos.to_le_bytes());
                    v.push(xor);
                }
                Action::Drop { to_dst, n } => {
                    v.extend([3, to_dst as u8]);
                    v.extend(n.to_le_bytes());
                }
                Action::Duplicate { to_dst, n } => {
                    v.extend([4, to_dst as u8]);
                    v.extend(n.to_le_bytes());
                }
                Action::Approve(i) => v.extend([5, i]),
                Action::Revoke(i) => v.extend([6, i]),
                Action::Open(j) => v.extend([7, j]),
                Action::Accept { j, mutate } => {
                    let (m, (pos, xor)) = (mutate.is_some() as u8, mutate.unwrap_or((0, 0)));
                    v.extend([8, j, m, pos, xor]);
                }
                Action::LostAtDst(j) => v.extend([9, j]),
                Action::LostAtSrc(j) => v.extend([10, j]),
                Action::Advance { src, ms } => {
                    v.extend([11, src as u8]);
                    v.extend(ms.to_le_bytes());
                }
                Action::Timeout { src } => v.extend([12, src as u8]),
                Action::FireNext { src } => v.extend([13, src as u8]),
                Action::StartSwitchover => v.push(14),
                Action::Abort { src } => v.extend([15, src as u8]),
                Action::Pump => v.push(16),
            }
        }
        v
    }
}

/// One direction of the main channel: bytes sent and not yet delivered, and
/// bytes delivered that the receiver has not consumed yet.
#[derive(Default, Debug)]
struct Link {
    wire: Vec<u8>,
    rx: Vec<u8>,
}

struct Session {
    /// A reused transmit buffer.
    buf: Vec<u8>,
    s: Source,
    d: Destination,
    to_d: Link,
    to_s: Link,
    conns: Vec<[u8; preamble::LEN]>,
    now_s: u64,
    now_d: u64,
    /// No byte of the main channel was corrupted, lost or replayed.
    faithful: bool,
    s_ack_open: bool,
    s_last_ack: u32,
    s_waived: bool,
    d_last_arm: u32,
    s_by_peer: Option<bool>,
    d_by_peer: Option<bool>,
}

fn level(v: u8) -> Option<Level> {
    match v % 3 {
        0 => None,
        1 => Some(Level::Optional),
        _ => Some(Level::Required),
    }
}

fn offer(levels: &[u8; 8], counts: &[u8; 2]) -> Offer {
    let mut o = Offer::new();
    for (k, &id) in CapabilityId::CATALOG.iter().enumerate() {
        if let Some(l) = level(levels[k]) {
            let param = match id {
                CapabilityId::MULTIFD => 1 + u16::from(counts[0] % 6),
                CapabilityId::DEVICE_STATE => 1 + u16::from(counts[1] % 6),
                _ => 0,
            };
            o.set(id, l, param).unwrap();
        }
    }
    o
}

impl Session {
    fn new(setup: &Setup) -> Option<Session> {
        let mut scfg = SourceConfig {
            capabilities: offer(&setup.src_levels, &setup.src_counts),
            ..SourceConfig::default()
        };
        if setup.flags & PROCEED != 0 {
            scfg.ack_policy = AckPolicy::Proceed;
        }
        if setup.flags & SRC_V12 != 0 {
            scfg.versions = VersionRange::new(1, 2);
        }
        let mut dcfg = DestinationConfig::default();
        if setup.flags & DST_DEFAULT == 0 {
            dcfg.capabilities = offer(&setup.dst_levels, &setup.dst_counts);
        }
        // A configuration requiring a capability without its dependency is
        // refused here, before anything is sent; that is all it can do.
        let mut s = Source::new(scfg, NONCE).ok()?;
        let mut d = Destination::new(dcfg, Instant(T0)).ok()?;
        let mut dst = Vec::new();
        for (k, &v) in setup.devices.iter().enumerate() {
            let name = ["ram", "0000:00:02.0/vfio", "virtio-net", "tpm"][k];
            match v % 3 {
                0 => {}
                a => {
                    s.add_device(name, k as u32, a == 2).unwrap();
                }
            }
            match v / 3 % 3 {
                0 => {}
                b => dst.push((name, k as u32, b == 2)),
            }
        }
        if setup.flags & REVERSE != 0 {
            dst.reverse();
        }
        for (name, inst, sup) in dst {
            d.register_device(name, inst, sup).unwrap();
        }
        s.start(Instant(T0)).unwrap();
        Some(Session {
            buf: Vec::new(),
            s,
            d,
            to_d: Link::default(),
            to_s: Link::default(),
            conns: Vec::new(),
            now_s: T0,
            now_d: T0,
            faithful: true,
            s_ack_open: false,
            s_last_ack: 0,
            s_waived: false,
            d_last_arm: 0,
            s_by_peer: None,
            d_by_peer: None,
        })
    }

    fn link(&mut self, to_dst: bool) -> &mut Link {
        if to_dst {
            &mut self.to_d
        } else {
            &mut self.to_s
        }
    }

    fn transmit(&mut self, dst: bool, size: usize) -> usize {
        // One buffer, reused: zeroing 64 KiB per call would dominate the run.
        let mut buf = std::mem::take(&mut self.buf);
        if buf.len() < size {
            buf.resize(size, 0);
        }
        let buf_ = &mut buf[..size];
        let r = if dst {
            self.d.poll_transmit(Instant(self.now_d), buf_)
        } else {
            self.s.poll_transmit(Instant(self.now_s), buf_)
        };
        let out = self.sent(dst, size, r, &buf);
        self.buf = buf;
        out
    }

    fn sent(&mut self, dst: bool, size: usize, r: Result<usize>, buf: &[u8]) -> usize {
        match r {
            Ok(n) => {
                assert!(n <= size);
                self.link(!dst).wire.extend_from_slice(&buf[..n]);
                n
            }
            Err(e) => {
                assert_eq!(e.code, ErrorCode::BufferTooSmall, "poll_transmit: {e:?}");
                0
            }
        }
    }

    fn deliver(&mut self, to_dst: bool, n: usize) {
        let l = self.link(to_dst);
        let n = n.min(l.wire.len());
        let moved: Vec<u8> = l.wire.drain(..n).collect();
        l.rx.extend_from_slice(&moved);
        let rx = std::mem::take(&mut self.link(to_dst).rx);
        let r = if to_dst {
            if self.d.state() == DestinationState::Failed {
                return; // the connection is closed: the bytes are gone
            }
            self.d.handle_input(Instant(self.now_d), &rx)
        } else {
            if self.s.state() == SourceState::Failed {
                return;
            }
            self.s.handle_input(Instant(self.now_s), &rx)
        };
        if let Ok(used) = r {
            assert!(used <= rx.len());
            self.link(to_dst).rx = rx[used..].to_vec();
        }
    }

    fn pump(&mut self) {
        for _ in 0..32 {
            let a = self.transmit(false, 4 * MAX_FRAME);
            let b = self.transmit(true, 4 * MAX_FRAME);
            let (wd, ws) = (self.to_d.wire.len(), self.to_s.wire.len());
            self.deliver(true, wd);
            self.deliver(false, ws);
            self.events();
            if a == 0 && b == 0 && wd == 0 && ws == 0 {
                return;
            }
        }
        panic!("the link does not settle");
    }

    fn step(&mut self, a: Action) {
        let (ns, nd) = (Instant(self.now_s), Instant(self.now_d));
        match a {
            Action::Transmit { dst, buf } => {
                self.transmit(dst, usize::from(buf));
            }
            Action::Deliver { to_dst, n } => self.deliver(to_dst, usize::from(n)),
            Action::Corrupt { to_dst, pos, xor } => {
                let l = self.link(to_dst);
                if !l.wire.is_empty() && xor != 0 {
                    let i = usize::from(pos) % l.wire.len();
                    l.wire[i] ^= xor;
                    self.faithful = false;
                }
            }
            Action::Drop { to_dst, n } => {
                let l = self.link(to_dst);
                let n = usize::from(n).min(l.wire.len());
                if n > 0 {
                    l.wire.drain(..n);
                    self.faithful = false;
                }
            }
            Action::Duplicate { to_dst, n } => {
                let l = self.link(to_dst);
                let n = usize::from(n).min(l.wire.len());
                if n > 0 {
                    let head: Vec<u8> = l.wire[..n].to_vec();
                    l.wire.splice(0..0, head);
                    self.faithful = false;
                }
            }
            Action::Approve(i) | Action::Revoke(i) => {
                let id = DeviceId(u16::from(i) % (self.d.devices().len() as u16 + 1));
                let (pending, approved) = (self.d.pending(), self.d.approved(id));
                let r = if matches!(a, Action::Approve(_)) {
                    self.d.approve(nd, id)
                } else {
                    self.d.revoke(nd, id)
                };
                if r.is_err() {
                    assert_eq!(
                        self.d.pending(),
                        pending,
                        "a refused call changes the count"
                    );
                    assert_eq!(self.d.approved(id), approved);
                } else if matches!(a, Action::Approve(_)) {
                    assert_eq!(self.d.pending(), pending - 1);
                } else {
                    assert_eq!(self.d.pending(), pending + 1);
                }
            }
            Action::Open(j) => {
                let ids: Vec<ChannelId> = self.s.channels().collect();
                if !ids.is_empty() {
                    if let Ok(p) = self.s.channel_preamble(ids[usize::from(j) % ids.len()]) {
                        self.conns.push(p.to_bytes());
                    }
                }
            }
            Action::Accept { j, mutate } => {
                if self.conns.is_empty() {
                    return;
                }
                let mut b = self.conns.remove(usize::from(j) % self.conns.len());
                if let Some((pos, xor)) = mutate {
                    b[usize::from(pos) % preamble::LEN] ^= xor;
                }
                if let Ok(Some(p)) = Preamble::decode(&b) {
                    let before = self.d.clone();
                    match self.d.accept_channel(nd, &p) {
                        Ok(got) => assert_eq!(got.channel(), p.channel()),
                        Err(_) => assert_eq!(
                            format!("{before:?}"),
                            format!("{:?}", self.d),
                            "refusal changed the session"
                        ),
                    }
                }
            }
            Action::LostAtDst(j) => {
                let ids: Vec<ChannelId> = self.d.channels().iter_expected().collect();
                if !ids.is_empty() {
                    let _ = self.d.channel_lost(nd, ids[usize::from(j) % ids.len()]);
                }
            }
            Action::LostAtSrc(j) => {
                let ids: Vec<ChannelId> = self.s.channels().collect();
                if !ids.is_empty() {
                    if let Ok(p) = self.s.channel_lost(ns, ids[usize::from(j) % ids.len()]) {
                        assert!(p.is_reattach());
                        self.conns.push(p.to_bytes());
                    }
                }
            }
            Action::Advance { src, ms } => {
                let t = if src {
                    &mut self.now_s
                } else {
                    &mut self.now_d
                };
                *t = t.saturating_add(u64::from(ms));
            }
            Action::Timeout { src } => {
                if src {
                    self.s.handle_timeout(ns);
                } else {
                    self.d.handle_timeout(nd);
                }
            }
            Action::FireNext { src } => self.fire(src),
            Action::StartSwitchover => {
                let could = self.s.can_switchover();
                let before = (!could).then(|| format!("{:?}", self.s));
                let r = self.s.start_switchover(ns);
                assert_eq!(r.is_ok(), could);
                if let Some(before) = before {
                    assert_eq!(r.unwrap_err().code, ErrorCode::SwitchoverNotAllowed);
                    assert_eq!(
                        before,
                        format!("{:?}", self.s),
                        "a refused start changes nothing"
                    );
                } else {
                    assert_eq!(self.s.state(), SourceState::SwitchedOver);
                }
            }
            Action::Abort { src } => {
                if src {
                    self.s.abort(ns)
                } else {
                    self.d.abort(nd)
                }
            }
            Action::Pump => self.pump(),
        }
        self.events();
        self.check();
    }

    fn fire(&mut self, src: bool) {
        if src {
            if let Some(t) = self.s.poll_timeout() {
                self.now_s = self.now_s.max(t.0);
                self.s.handle_timeout(Instant(self.now_s));
            }
        } else if let Some(t) = self.d.poll_timeout() {
            self.now_d = self.now_d.max(t.0);
            self.d.handle_timeout(Instant(self.now_d));
        }
    }

    fn all_approved(&self) -> bool {
        (0..self.d.devices().len() as u16)
            .map(DeviceId)
            .all(|id| !self.d.participates(id) || self.d.approved(id))
    }

    fn events(&mut self) {
        while let Some(e) = self.s.poll_event() {
            match e {
                Event::SwitchoverAcked { epoch } => {
                    assert!(!self.s_ack_open, "source: two acks for one arming");
                    assert!(epoch > self.s_last_ack, "source: ack epochs rise");
                    self.s_ack_open = true;
                    self.s_last_ack = epoch;
                }
                Event::SwitchoverRevoked { epoch, .. } => {
                    assert!(self.s_ack_open && epoch == self.s_last_ack);
                    self.s_ack_open = false;
                    self.s_waived = false;
                }
                Event::AckWaived => {
                    assert_eq!(self.s.config().ack_policy, AckPolicy::Proceed);
                    self.s_waived = true;
                }
                Event::Failed { by_peer, code } => {
                    assert_eq!(self.s_by_peer, None, "source fails twice");
                    assert_eq!(Some(code), self.s.error().map(|e| e.code));
                    self.s_by_peer = Some(by_peer);
                }
                _ => {}
            }
        }
        while let Some(e) = self.d.poll_event() {
            match e {
                Event::SwitchoverAcked { epoch } => {
                    assert!(epoch > self.d_last_arm, "destination: epochs rise");
                    assert!(self.all_approved(), "ack armed with a device pending");
                    self.d_last_arm = epoch;
                }
                Event::Failed { by_peer, code } => {
                    assert_eq!(self.d_by_peer, None, "destination fails twice");
                    assert_eq!(Some(code), self.d.error().map(|e| e.code));
                    self.d_by_peer = Some(by_peer);
                }
                _ => {}
            }
        }
    }

    fn check(&self) {
        let (s, d) = (&self.s, &self.d);
        // The gate: with a faithful link, open only when every participating
        // device approved, or the destination has withdrawn the ack (its
        // revoke is on the way) or failed (its Abort is).
        if self.faithful
            && s.can_switchover()
            && s.agreed().is_on(CapabilityId::SWITCHOVER_ACK)
            && !self.s_waived
        {
            assert!(self.s_ack_open, "gate open without an ack");
            assert!(
                self.all_approved() || !d.acked() || d.state() == DestinationState::Failed,
                "gate open with a device unapproved"
            );
        }
        // No unbounded wait.
        match s.state() {
            SourceState::AwaitWelcome => assert!(s.poll_timeout().is_some()),
            SourceState::Precopy if !s.can_switchover() => assert!(s.poll_timeout().is_some()),
            SourceState::SwitchedOver | SourceState::Failed => assert!(s.poll_timeout().is_none()),
            _ => {}
        }
        match d.state() {
            DestinationState::AwaitHello | DestinationState::Precopy => {
                assert!(d.poll_timeout().is_some())
            }
            // SwitchedOver is terminal: no deadline may fail it.
            DestinationState::SwitchedOver | DestinationState::Failed => {
                assert!(d.poll_timeout().is_none())
            }
        }
    }

    /// Deliver everything and let every deadline fire, until nothing moves.
    fn finish(&mut self) {
        for _ in 0..64 {
            self.pump();
            // Leftover bytes the receiver keeps waiting on (an incomplete
            // frame after a loss) are not progress; deadlines are.
            let (ts, td) = (self.s.poll_timeout(), self.d.poll_timeout());
            match (ts, td) {
                (None, None) => return self.settled(),
                (Some(a), Some(b)) => self.fire(a <= b),
                (Some(_), None) => self.fire(true),
                (None, Some(_)) => self.fire(false),
            }
            self.events();
            self.check();
        }
        panic!("deadlines keep coming: no end");
    }

    fn settled(&self) {
        let (s, d) = (&self.s, &self.d);
        let s_end = matches!(s.state(), SourceState::SwitchedOver | SourceState::Failed);
        let d_end = matches!(
            d.state(),
            DestinationState::SwitchedOver | DestinationState::Failed
        );
        // Nothing moves and no deadline is armed: each side is finished, or
        // is the source waiting for its own caller's decision.
        assert!(s_end || (s.state() == SourceState::Precopy && s.can_switchover()));
        assert!(
            d_end,
            "destination {:?} with nothing to wait for",
            d.state()
        );
        if !self.faithful {
            return;
        }
        assert!(s_end, "faithful link, source still {:?}", s.state());
        match (s.state(), d.state()) {
            (SourceState::SwitchedOver, DestinationState::SwitchedOver) => {
                assert_eq!(s.agreed(), d.agreed());
                assert_eq!(s.version(), d.version());
            }
            (SourceState::Failed, DestinationState::Failed) => {
                // Agreement, unless both failed on their own (crossed, §7.5).
                if self.s_by_peer == Some(true) || self.d_by_peer == Some(true) {
                    assert_eq!(s.error(), d.error(), "both sides, same verdict");
                }
            }
            (a, b) => panic!("faithful link, sides disagree: {a:?} / {b:?}"),
        }
    }
}

/// The fuzz target's body.
pub fn run(data: &[u8]) {
    if let Some(script) = Script::decode(data) {
        run_script(&script);
    }
}

/// Run a script; returns how both sides ended (errors included), or None
/// when the configuration is refused before anything is sent.
pub fn run_script(script: &Script) -> Option<[(String, Option<Error>); 2]> {
    let mut sess = Session::new(&script.setup)?;
    sess.check();
    for &a in &script.actions {
        sess.step(a);
    }
    sess.finish();
    Some([
        (format!("{:?}", sess.s.state()), sess.s.error().cloned()),
        (format!("{:?}", sess.d.state()), sess.d.error().cloned()),
    ])
}
