//! State-machine targets driven by raw bytes: the main channel's input in
//! each reachable receiving state, and the destination's channel table.

use accord_core::wire::frame::MAX_FRAME;
use accord_core::wire::preamble;
use accord_core::*;

const NONCE: [u8; 16] = *b"fuzz-nonce-bytes";
const T0: Instant = Instant(1_000);

fn source() -> Source {
    let mut cfg = SourceConfig::default();
    let c = &mut cfg.capabilities;
    c.set(CapabilityId::RETURN_PATH, Level::Required, 0)
        .unwrap();
    c.set(CapabilityId::MULTIFD, Level::Required, 4).unwrap();
    c.set(CapabilityId::POSTCOPY_RAM, Level::Optional, 0)
        .unwrap();
    c.set(CapabilityId::POSTCOPY_PREEMPT, Level::Optional, 0)
        .unwrap();
    c.set(CapabilityId::SWITCHOVER_ACK, Level::Required, 0)
        .unwrap();
    c.set(CapabilityId::DEVICE_STATE, Level::Optional, 2)
        .unwrap();
    let mut s = Source::new(cfg, NONCE).unwrap();
    s.add_device("ram", 0, false).unwrap();
    s.add_device("0000:00:02.0/vfio", 0, true).unwrap();
    s
}

fn destination() -> Destination {
    let mut d = Destination::new(DestinationConfig::default(), T0).unwrap();
    d.register_device("ram", 0, false).unwrap();
    d.register_device("0000:00:02.0/vfio", 0, true).unwrap();
    d
}

fn tx_source(s: &mut Source) -> Vec<u8> {
    let mut b = vec![0u8; MAX_FRAME];
    let n = s.poll_transmit(T0, &mut b).unwrap();
    b.truncate(n);
    b
}

fn tx_destination(d: &mut Destination) -> Vec<u8> {
    let mut b = vec![0u8; 4 * MAX_FRAME];
    let n = d.poll_transmit(T0, &mut b).unwrap();
    b.truncate(n);
    b
}

/// A side fed bytes: all at once, or in chunks of `chunk` with the
/// unconsumed rest presented again. Both ways must end in the same state.
trait Fed: Clone + core::fmt::Debug {
    fn input(&mut self, data: &[u8]) -> Result<usize>;
    fn failed(&self) -> bool;
    /// Failed, or switched over: states that take no more input.
    fn ended(&self) -> bool;
    fn check(&mut self);
}

impl Fed for Source {
    fn input(&mut self, data: &[u8]) -> Result<usize> {
        self.handle_input(T0, data)
    }
    fn failed(&self) -> bool {
        self.state() == SourceState::Failed
    }
    fn ended(&self) -> bool {
        self.failed()
    }
    fn check(&mut self) {
        if self.state() == SourceState::AwaitWelcome
            || (self.state() == SourceState::Precopy && !self.can_switchover())
        {
            assert!(
                self.poll_timeout().is_some(),
                "source waits without a deadline"
            );
        }
        let mut b = vec![0u8; MAX_FRAME];
        self.poll_transmit(T0, &mut b).unwrap();
    }
}

impl Fed for Destination {
    fn input(&mut self, data: &[u8]) -> Result<usize> {
        self.handle_input(T0, data)
    }
    fn failed(&self) -> bool {
        self.state() == DestinationState::Failed
    }
    fn ended(&self) -> bool {
        // SwitchedOver is terminal: input after SwitchoverStart is refused
        // (InvalidState) and changes nothing.
        self.failed() || self.state() == DestinationState::SwitchedOver
    }
    fn check(&mut self) {
        if matches!(
            self.state(),
            DestinationState::AwaitHello | DestinationState::Precopy
        ) {
            assert!(
                self.poll_timeout().is_some(),
                "destination waits without a deadline"
            );
        }
        let mut b = vec![0u8; 4 * MAX_FRAME];
        self.poll_transmit(T0, &mut b).unwrap();
    }
}

fn feed<M: Fed>(start: M, data: &[u8], chunk: usize) {
    let mut whole = start.clone();
    let r = whole.input(data);
    if let Ok(n) = r {
        assert!(n <= data.len());
    }
    let mut parts = start;
    let mut rx: Vec<u8> = Vec::new();
    for c in data.chunks(chunk) {
        rx.extend_from_slice(c);
        match parts.input(&rx) {
            Ok(n) => {
                assert!(n <= rx.len());
                rx.drain(..n);
            }
            Err(e) => {
                assert!(
                    parts.ended(),
                    "an error leaves the machine failed or switched over: {e:?}"
                );
                assert_eq!(
                    parts.input(&[0]).unwrap_err().code,
                    ErrorCode::InvalidState,
                    "an ended machine takes no more input"
                );
                break;
            }
        }
    }
    // Incremental and whole delivery reach the same state (events included).
    assert_eq!(format!("{whole:?}"), format!("{parts:?}"));
    whole.check();
}

/// First byte: which machine in which state; second: chunk size; the rest is
/// the peer's bytes on the main channel.
pub fn machine_input(data: &[u8]) {
    let [which, chunk, rest @ ..] = data else {
        return;
    };
    let chunk = usize::from(*chunk).max(1);
    match which % 4 {
        // Destination, fresh: the source's preamble and Hello are expected.
        0 => feed(destination(), rest, chunk),
        // Destination after a good Hello (Precopy): SwitchoverStart or Abort expected.
        1 => {
            let mut s = source();
            s.start(T0).unwrap();
            let mut d = destination();
            d.handle_input(T0, &tx_source(&mut s)).unwrap();
            assert_eq!(d.state(), DestinationState::Precopy);
            feed(d, rest, chunk);
        }
        // Source awaiting Welcome: the destination's preamble and answer expected.
        2 => {
            let mut s = source();
            s.start(T0).unwrap();
            tx_source(&mut s);
            feed(s, rest, chunk);
        }
        // Source in Precopy after a real Welcome: ChannelsReady, acks, revokes.
        _ => {
            let mut s = source();
            s.start(T0).unwrap();
            let mut d = destination();
            d.handle_input(T0, &tx_source(&mut s)).unwrap();
            let answer = tx_destination(&mut d);
            // The Welcome alone: the fuzzer supplies what follows.
            let welcome_end = preamble::LEN
                + 3
                + usize::from(u16::from_be_bytes([
                    answer[preamble::LEN + 1],
                    answer[preamble::LEN + 2],
                ]));
            s.handle_input(T0, &answer[..welcome_end]).unwrap();
            assert_eq!(s.state(), SourceState::Precopy);
            feed(s, rest, chunk);
        }
    }
}

/// The destination's channel table under a stream of connection events.
/// Records: an op byte, then its arguments.
pub fn channels(data: &[u8]) {
    let mut s = source();
    s.start(T0).unwrap();
    let hello = tx_source(&mut s);
    let mut d = destination();
    let mut now = T0;
    let mut it = data.iter().copied();
    let mut next = move || it.next();
    while let Some(op) = next() {
        match op % 6 {
            0 => {
                if d.nonce().is_none() {
                    let _ = d.handle_input(now, &hello);
                }
            }
            1 => {
                let mut b = [0u8; preamble::LEN];
                for x in b.iter_mut() {
                    *x = next().unwrap_or(0);
                }
                if let Ok(Some(p)) = Preamble::decode(&b) {
                    accept(&mut d, now, &p);
                }
            }
            2 => {
                // A plausible preamble: role, flags, index, total, nonce and versions fuzzed a little.
                let (a, b, c, e) = (
                    next().unwrap_or(0),
                    next().unwrap_or(0),
                    next().unwrap_or(0),
                    next().unwrap_or(0),
                );
                let mut nonce = NONCE;
                if e & 1 != 0 {
                    nonce[usize::from(e >> 4)] ^= 1;
                }
                let p = Preamble {
                    versions: if e & 2 != 0 {
                        VersionRange::new(1, 2)
                    } else {
                        version::SUPPORTED
                    },
                    role: Role::from_u8(a % 4).unwrap(),
                    flags: b & 1,
                    index: u16::from(c % 8),
                    total: u16::from(c / 32),
                    nonce,
                };
                if let Ok(Some(p)) = Preamble::decode(&p.to_bytes()) {
                    accept(&mut d, now, &p);
                }
            }
            3 => {
                let (a, c) = (next().unwrap_or(0), next().unwrap_or(0));
                let id = ChannelId {
                    role: Role::from_u8(a % 4).unwrap(),
                    index: u16::from(c % 8),
                };
                let before = d.clone();
                if d.channel_lost(now, id).is_err() {
                    let before = format!("{before:?}");
                    assert_eq!(before, format!("{d:?}"), "a refused loss changes nothing");
                }
            }
            4 => {
                if let Some(t) = d.poll_timeout() {
                    now = now.max(t);
                    d.handle_timeout(now);
                }
            }
            _ => {
                tx_destination(&mut d);
                while d.poll_event().is_some() {}
            }
        }
        let t = d.channels();
        if t.expected().is_some() {
            assert_eq!(t.missing().is_none(), t.is_complete());
        }
        if matches!(
            d.state(),
            DestinationState::AwaitHello | DestinationState::Precopy
        ) || t.missing().is_some() && d.state() == DestinationState::SwitchedOver
        {
            assert!(d.poll_timeout().is_some());
        }
    }
}

fn accept(d: &mut Destination, now: Instant, p: &Preamble) {
    let before = d.clone();
    match d.accept_channel(now, p) {
        Ok(a) => assert_eq!(a.channel(), p.channel()),
        // A refusal concerns only that connection: nothing else changes.
        Err(_) => assert_eq!(
            format!("{before:?}"),
            format!("{d:?}"),
            "refusal changed the session"
        ),
    }
}
