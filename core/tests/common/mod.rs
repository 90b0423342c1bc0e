//! Fixtures shared by the integration tests: configurations, a link that
//! carries bytes between a Source and a Destination, and event collection.
#![allow(dead_code)]

use accord_core::wire::frame::MAX_FRAME;
use accord_core::*;

pub const NONCE: [u8; 16] = *b"accord-test-nonc";
pub const T0: Instant = Instant(1_000);

pub fn at(ms: u64) -> Instant {
    Instant(T0.0 + ms)
}

/// A source offering `caps` (id, level, param) with `devices` (name, wants_ack).
pub fn source_with(caps: &[(CapabilityId, Level, u16)], devices: &[(&str, bool)]) -> Source {
    let mut cfg = SourceConfig::default();
    for &(id, level, param) in caps {
        cfg.capabilities.set(id, level, param).unwrap();
    }
    let mut s = Source::new(cfg, NONCE).unwrap();
    for (i, &(name, wants)) in devices.iter().enumerate() {
        s.add_device(name, i as u32, wants).unwrap();
    }
    s
}

/// A destination with the default policy (accepts all it supports) and
/// `devices` (name, supports_ack), instance ids in listing order.
pub fn destination_with(devices: &[(&str, bool)]) -> Destination {
    destination_cfg(DestinationConfig::default(), devices)
}

pub fn destination_cfg(cfg: DestinationConfig, devices: &[(&str, bool)]) -> Destination {
    let mut d = Destination::new(cfg, T0).unwrap();
    for (i, &(name, supports)) in devices.iter().enumerate() {
        d.register_device(name, i as u32, supports).unwrap();
    }
    d
}

pub const REQ: Level = Level::Required;
pub const OPT: Level = Level::Optional;
pub const ACK: CapabilityId = CapabilityId::SWITCHOVER_ACK;
pub const RP: CapabilityId = CapabilityId::RETURN_PATH;
pub const MULTIFD: CapabilityId = CapabilityId::MULTIFD;
pub const PC: CapabilityId = CapabilityId::POSTCOPY_RAM;
pub const PREEMPT: CapabilityId = CapabilityId::POSTCOPY_PREEMPT;

/// Everything a source transmits right now.
pub fn tx_source(s: &mut Source, now: Instant) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_FRAME + 64];
    let n = s.poll_transmit(now, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// Everything a destination transmits right now.
pub fn tx_destination(d: &mut Destination, now: Instant) -> Vec<u8> {
    let mut buf = vec![0u8; 4 * MAX_FRAME];
    let n = d.poll_transmit(now, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

pub fn events_source(s: &mut Source) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

pub fn events_destination(d: &mut Destination) -> Vec<Event> {
    std::iter::from_fn(|| d.poll_event()).collect()
}

/// Shuttle bytes both ways until neither side has anything to send. Every
/// byte must be consumed (the link delivers whole transmissions). Returns the
/// number of round trips (source-to-destination deliveries that got an answer).
pub fn pump(s: &mut Source, d: &mut Destination, now: Instant) -> usize {
    let mut trips = 0;
    for _ in 0..16 {
        let a = tx_source(s, now);
        if !a.is_empty() && d.state() != DestinationState::Failed {
            let _ = d.handle_input(now, &a);
        }
        let b = tx_destination(d, now);
        if !b.is_empty() && s.state() != SourceState::Failed {
            let _ = s.handle_input(now, &b);
        }
        if a.is_empty() && b.is_empty() {
            break;
        }
        if !a.is_empty() && !b.is_empty() {
            trips += 1;
        }
    }
    trips
}

/// Open every channel the source plans, on the destination.
pub fn open_channels(s: &Source, d: &mut Destination, now: Instant) {
    let ids: Vec<ChannelId> = s.channels().collect();
    for id in ids {
        let p = s.channel_preamble(id).unwrap();
        let bytes = p.to_bytes();
        let p = Preamble::decode(&bytes).unwrap().unwrap();
        d.accept_channel(now, &p).unwrap();
    }
}

/// Both sides' errors, which must be equal after a failed handshake.
pub fn verdicts(s: &Source, d: &Destination) -> (Option<Error>, Option<Error>) {
    (s.error().cloned(), d.error().cloned())
}
