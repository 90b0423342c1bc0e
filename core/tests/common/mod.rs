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
/// Transmit buffer size: a whole frame of the largest kind, except under
/// Miri (scripts/miri.sh), where zeroing and tracking 64 KiB per call is slow
/// and every frame of the tests fits in 8 KiB.
const TX_BUF: usize = if cfg!(miri) { 8192 } else { 4 * MAX_FRAME };

pub fn tx_source(s: &mut Source, now: Instant) -> Vec<u8> {
    let mut buf = vec![0u8; TX_BUF.min(MAX_FRAME + 64)];
    let n = s.poll_transmit(now, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

/// Everything a destination transmits right now.
pub fn tx_destination(d: &mut Destination, now: Instant) -> Vec<u8> {
    let mut buf = vec![0u8; TX_BUF];
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

// ---------------------------------------------------------------------------
// Helpers for the per-state tests: crafted frames, parsed transmissions,
// channel names and error details.

use accord_core::version::SUPPORTED;
use accord_core::wire::frame::{self, FrameType};
use accord_core::wire::msg::{
    self, ChannelsReady, SwitchoverAck, SwitchoverRevoke, SwitchoverStart,
};

/// A nonce that is not the session's.
pub const OTHER_NONCE: [u8; 16] = *b"some-other-nonce";

/// One millisecond before `t`.
pub fn before(t: Instant) -> Instant {
    Instant(t.0 - 1)
}

/// A source with a full configuration (for non-default timeouts or policies).
pub fn source_cfg(cfg: SourceConfig, devices: &[(&str, bool)]) -> Source {
    let mut s = Source::new(cfg, NONCE).unwrap();
    for (i, &(name, wants)) in devices.iter().enumerate() {
        s.add_device(name, i as u32, wants).unwrap();
    }
    s
}

/// The 28 bytes of a main-channel preamble carrying `nonce` (what either side
/// sends first on the main channel).
pub fn main_preamble(nonce: [u8; 16]) -> Vec<u8> {
    Preamble::main(SUPPORTED, nonce).to_bytes().to_vec()
}

/// A frame of `kind` whose payload `body` writes.
pub fn frame_with(kind: FrameType, body: impl FnOnce(&mut [u8]) -> Result<usize>) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_FRAME];
    let n = frame::write(&mut buf, kind, body).unwrap();
    buf.truncate(n);
    buf
}

/// A frame of `kind` with exactly `payload`.
pub fn raw_frame(kind: FrameType, payload: &[u8]) -> Vec<u8> {
    frame_with(kind, |out| {
        out[..payload.len()].copy_from_slice(payload);
        Ok(payload.len())
    })
}

pub fn ack_frame(epoch: u32) -> Vec<u8> {
    frame_with(FrameType::SwitchoverAck, |o| {
        SwitchoverAck { epoch }.encode(o)
    })
}

pub fn revoke_frame(epoch: u32, device: u16) -> Vec<u8> {
    frame_with(FrameType::SwitchoverRevoke, |o| {
        SwitchoverRevoke { epoch, device }.encode(o)
    })
}

pub fn start_frame(epoch: u32, waived: bool) -> Vec<u8> {
    frame_with(FrameType::SwitchoverStart, |o| {
        SwitchoverStart { epoch, waived }.encode(o)
    })
}

pub fn channels_ready_frame(set: ChannelsReady) -> Vec<u8> {
    frame_with(FrameType::ChannelsReady, |o| set.encode(o))
}

/// A Reject or Abort frame carrying `err`.
pub fn failure_frame(kind: FrameType, err: &Error) -> Vec<u8> {
    frame_with(kind, |o| msg::encode_failure(o, err))
}

/// A transmission taken apart: the preamble if it starts with one, then its frames.
#[derive(Debug)]
pub struct Tx {
    pub preamble: Option<Preamble>,
    pub frames: Vec<(FrameType, Vec<u8>)>,
}

impl Tx {
    pub fn kinds(&self) -> Vec<FrameType> {
        self.frames.iter().map(|f| f.0).collect()
    }

    /// The payload of the only frame of `kind`.
    pub fn payload(&self, kind: FrameType) -> &[u8] {
        let mut it = self.frames.iter().filter(|f| f.0 == kind);
        let f = it
            .next()
            .unwrap_or_else(|| panic!("no {kind:?} in {self:?}"));
        assert!(it.next().is_none(), "more than one {kind:?} in {self:?}");
        &f.1
    }
}

/// Take a transmission apart with the real codecs. Every byte must belong to
/// a whole frame.
pub fn parse_tx(bytes: &[u8]) -> Tx {
    let mut rest = bytes;
    let mut preamble = None;
    if rest.starts_with(b"ACRD") {
        preamble = Some(Preamble::decode(rest).unwrap().unwrap());
        rest = &rest[accord_core::wire::preamble::LEN..];
    }
    let mut frames = Vec::new();
    while !rest.is_empty() {
        let f = frame::split(rest)
            .unwrap()
            .expect("transmission ends inside a frame");
        frames.push((f.kind, f.payload.to_vec()));
        rest = &rest[f.len..];
    }
    Tx { preamble, frames }
}

/// The error carried by a transmission that is exactly one Abort frame.
pub fn only_abort(bytes: &[u8]) -> Error {
    let tx = parse_tx(bytes);
    assert_eq!(tx.preamble, None, "unexpected preamble in {tx:?}");
    assert_eq!(tx.kinds(), [FrameType::Abort], "{tx:?}");
    msg::decode_failure(&tx.frames[0].1).unwrap()
}

/// Decode a Reject or Abort payload.
pub fn failure(payload: &[u8]) -> Error {
    msg::decode_failure(payload).unwrap()
}

/// Detail naming a device.
pub fn dev(name: &str, instance: u32) -> Detail {
    Detail::Device(DeviceName {
        name: accord_core::name(name).unwrap(),
        instance,
    })
}

/// Detail naming a channel.
pub fn chan(role: Role, index: u16) -> Detail {
    Detail::Channel { role, index }
}

pub fn multifd(index: u16) -> ChannelId {
    ChannelId {
        role: Role::Multifd,
        index,
    }
}

pub fn preempt() -> ChannelId {
    ChannelId {
        role: Role::Preempt,
        index: 0,
    }
}

pub fn device_state(index: u16) -> ChannelId {
    ChannelId {
        role: Role::DeviceState,
        index,
    }
}

/// A secondary-channel preamble built by hand (for strangers and bad totals).
pub fn channel_preamble(id: ChannelId, total: u16, nonce: [u8; 16]) -> Preamble {
    Preamble {
        versions: SUPPORTED,
        role: id.role,
        flags: 0,
        index: id.index,
        total,
        nonce,
    }
}

/// A preamble as the destination reads it off the wire.
pub fn over_the_wire(p: &Preamble) -> Preamble {
    Preamble::decode(&p.to_bytes()).unwrap().unwrap()
}

/// Feed `bytes` to `s` in the given pieces the way a caller with a receive
/// buffer does: unconsumed bytes stay and are presented again with the next piece.
pub fn feed_source(s: &mut Source, now: Instant, pieces: &[&[u8]]) -> Vec<u8> {
    let mut pending = Vec::new();
    for piece in pieces {
        pending.extend_from_slice(piece);
        let n = s.handle_input(now, &pending).unwrap();
        pending.drain(..n);
    }
    pending
}

/// Same as [`feed_source`] for a destination.
pub fn feed_destination(d: &mut Destination, now: Instant, pieces: &[&[u8]]) -> Vec<u8> {
    let mut pending = Vec::new();
    for piece in pieces {
        pending.extend_from_slice(piece);
        let n = d.handle_input(now, &pending).unwrap();
        pending.drain(..n);
    }
    pending
}
