//! The full in-memory handshake, both roles: main + 16 multifd + preempt,
//! 32 devices with realistic idstrs, every approval, the ack, the switchover
//! decision. [`Handshake::new`] is the setup (configuration, device tables,
//! buffers); [`run`] is the measured part.

use accord_core::wire::preamble::LEN as PREAMBLE_LEN;
use accord_core::{
    Destination, DestinationConfig, DestinationState, DeviceId, Error, ErrorCode, Instant,
    Preamble, Source, SourceConfig, SourceState,
};

use crate::workload::{device_name, source_offer};

/// Devices in the measured handshake.
pub const DEVICES: usize = 32;

/// Both machines and the two directions' buffers, ready to start.
pub struct Handshake {
    /// The source.
    pub src: Source,
    /// The destination.
    pub dst: Destination,
    /// Source-to-destination bytes (main channel).
    pub s2d: Vec<u8>,
    /// Destination-to-source bytes (main channel).
    pub d2s: Vec<u8>,
}

/// What one handshake did, to check it and to keep the optimiser honest.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Bytes the source sent on the main channel.
    pub bytes_to_destination: usize,
    /// Bytes the destination sent on the main channel.
    pub bytes_to_source: usize,
    /// Secondary channels opened (each with a preamble).
    pub channels: usize,
    /// Events both sides reported.
    pub events: usize,
    /// Devices that approved.
    pub approvals: usize,
}

impl Handshake {
    /// Setup: both configurations (main + `multifd` multifd + preempt),
    /// `devices` devices on both sides, all taking part in switchover-ack.
    pub fn with(devices: usize) -> Self {
        let cfg = SourceConfig {
            capabilities: source_offer(),
            ..SourceConfig::default()
        };
        let mut src = Source::new(cfg, *b"bench-nonce-0001").expect("valid config");
        let mut dst =
            Destination::new(DestinationConfig::default(), Instant(0)).expect("valid config");
        for i in 0..devices {
            let name = device_name(i);
            src.add_device(&name, 0, true).expect("room");
            dst.register_device(&name, 0, true).expect("room");
        }
        Handshake {
            src,
            dst,
            s2d: vec![0u8; 4096],
            d2s: vec![0u8; 4096],
        }
    }

    /// The measured configuration: [`DEVICES`] devices.
    pub fn new() -> Self {
        Self::with(DEVICES)
    }
}

impl Default for Handshake {
    fn default() -> Self {
        Self::new()
    }
}

fn drain_dst(dst: &mut Destination) -> usize {
    let mut n = 0;
    while dst.poll_event().is_some() {
        n += 1;
    }
    n
}

fn drain(h: &mut Handshake) -> usize {
    let mut n = 0;
    while h.src.poll_event().is_some() {
        n += 1;
    }
    n + drain_dst(&mut h.dst)
}

fn fail() -> Error {
    Error::new(ErrorCode::InvalidState)
}

/// One full handshake on a fresh [`Handshake`]: the source starts and sends
/// its preamble and Hello; the destination answers Welcome; every secondary
/// channel's preamble is written by the source and read by the destination;
/// the destination sends ChannelsReady; every device approves; the ack goes
/// out; the source decides to switch over and the destination receives it.
/// The caller polls events after each step, as a real caller does.
#[inline(never)]
pub fn run(h: &mut Handshake) -> Result<Outcome, Error> {
    let now = Instant(1);
    let mut out = Outcome::default();
    // Source: main preamble + Hello.
    h.src.start(now)?;
    let n = h.src.poll_transmit(now, &mut h.s2d)?;
    out.bytes_to_destination += n;
    // Destination: reads them, queues preamble + Welcome.
    let used = h.dst.handle_input(now, &h.s2d[..n])?;
    if used != n {
        return Err(fail());
    }
    // Secondary channels, pipelined: each starts with a preamble.
    let mut bytes = [0u8; PREAMBLE_LEN];
    for id in h.src.channels() {
        let p = h.src.channel_preamble(id)?;
        p.encode(&mut bytes)?;
        let p = Preamble::decode(&bytes)?.ok_or_else(fail)?;
        h.dst.accept_channel(now, &p)?;
        out.channels += 1;
        out.events += drain_dst(&mut h.dst);
    }
    // Destination: preamble + Welcome + ChannelsReady, in one write.
    let m = h.dst.poll_transmit(now, &mut h.d2s)?;
    out.bytes_to_source += m;
    h.src.handle_input(now, &h.d2s[..m])?;
    out.events += drain(h);
    // Every device approves; the last approval queues the ack.
    for i in 0..h.dst.devices().len() {
        h.dst.approve(now, DeviceId(i as u16))?;
        out.approvals += 1;
        out.events += drain(h);
    }
    let m = h.dst.poll_transmit(now, &mut h.d2s)?;
    out.bytes_to_source += m;
    h.src.handle_input(now, &h.d2s[..m])?;
    if !h.src.can_switchover() {
        return Err(fail());
    }
    // The switchover decision.
    h.src.start_switchover(now)?;
    let n = h.src.poll_transmit(now, &mut h.s2d)?;
    out.bytes_to_destination += n;
    h.dst.handle_input(now, &h.s2d[..n])?;
    out.events += drain(h);
    if h.src.state() != SourceState::SwitchedOver || h.dst.state() != DestinationState::SwitchedOver
    {
        return Err(fail());
    }
    Ok(out)
}

/// Setup only: what a baseline run of the instruction count subtracts.
#[inline(never)]
pub fn setup() -> Handshake {
    Handshake::new()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_full_handshake_completes() {
        let mut h = Handshake::new();
        let o = run(&mut h).unwrap();
        assert_eq!(o.channels, 17, "16 multifd + preempt");
        assert_eq!(o.approvals, DEVICES);
        assert!(o.bytes_to_destination > 28 + 3 + 32 * 24);
        // Source: Negotiated, ChannelsReady, SwitchoverAcked, SwitchoverStarted.
        // Destination: Negotiated, 17 ChannelAssigned, ChannelsReady,
        // 32 DeviceApproved, SwitchoverAcked, SwitchoverStarted.
        assert_eq!(o.events, 4 + 1 + 17 + 1 + 32 + 1 + 1);
        assert!(h.src.error().is_none() && h.dst.error().is_none());
    }
}
