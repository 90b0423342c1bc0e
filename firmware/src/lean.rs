//! The `lean` measurement build: the same handshake as `workload.rs`, driven
//! the way a product firmware would drive it, without the test's checks,
//! expected-event lists or per-step stack measurement. The size report
//! subtracts the `baseline` build from this one to get the flash that
//! accord-core itself costs (both machines, every frame type, error paths);
//! what remains of this driver is a few hundred bytes of calls and loops.
//!
//! It still runs to the end and fails unless the destination switched over.
//!
//! With `one-side-source` or `one-side-destination`, only that machine is
//! built and driven through its whole API, its peer's bytes replaced by a
//! buffer the compiler cannot see into (`black_box`): every input path is
//! linked, nothing is checked. A product firmware is one side of a
//! migration; these builds measure what one side costs.

// The one-side builds use half of the imports.
#![cfg_attr(
    any(feature = "one-side-source", feature = "one-side-destination"),
    allow(unused_imports)
)]

use core::hint::black_box;

use accord_core::{
    Destination, DestinationConfig, DestinationState, DeviceId, Instant, Preamble, Source,
};

use crate::rig::{buffers, ms, place_destination, place_source, source_config, DEVICES, NONCE};
use crate::stack;

/// Shuttle bytes both ways until neither side has anything to send.
#[cfg(not(any(feature = "one-side-source", feature = "one-side-destination")))]
fn pump(
    src: &mut Source,
    dst: &mut Destination,
    src_tx: &mut [u8],
    dst_tx: &mut [u8],
    now: Instant,
) -> Result<(), &'static str> {
    for _ in 0..4 {
        let n = src.poll_transmit(now, src_tx).map_err(|_| "source tx")?;
        let a = src_tx.get(..n).unwrap_or(&[]);
        if n > 0 {
            let _ = dst.handle_input(now, a);
        }
        let m = dst
            .poll_transmit(now, dst_tx)
            .map_err(|_| "destination tx")?;
        let b = dst_tx.get(..m).unwrap_or(&[]);
        if m > 0 {
            let _ = src.handle_input(now, b);
        }
        if n == 0 && m == 0 {
            break;
        }
    }
    // What a firmware's event loop does with events and deadlines.
    while let Some(e) = src.poll_event() {
        black_box(e);
    }
    while let Some(e) = dst.poll_event() {
        black_box(e);
    }
    if src.poll_timeout().is_some_and(|t| t <= now) {
        src.handle_timeout(now);
    }
    if dst.poll_timeout().is_some_and(|t| t <= now) {
        dst.handle_timeout(now);
    }
    Ok(())
}

/// One side only: the source, fed opaque bytes.
#[cfg(feature = "one-side-source")]
pub fn run_handshake() -> Result<(), &'static str> {
    let src = place_source(Source::new(source_config()?, black_box(NONCE))).ok_or("source")?;
    let (src_tx, dst_tx) = buffers();
    for (name, ack) in black_box(DEVICES) {
        src.add_device(name, 0, ack).map_err(|_| "add_device")?;
    }
    src.start(ms(0)).map_err(|_| "start")?;
    for id in src.channels() {
        black_box(src.channel_preamble(id).map_err(|_| "preamble")?.to_bytes());
    }
    for t in 0..3 {
        let n = src.poll_transmit(ms(t), src_tx).map_err(|_| "tx")?;
        black_box(src_tx.get(..n));
        let input = black_box(&mut *dst_tx);
        let _ = src.handle_input(ms(t), input);
        while let Some(e) = src.poll_event() {
            black_box(e);
        }
        if src.poll_timeout().is_some_and(|d| d <= ms(t)) {
            src.handle_timeout(ms(t));
        }
        if src.can_switchover() {
            let _ = src.start_switchover(ms(t));
        }
    }
    stack::checkpoint("one side: source");
    Ok(())
}

/// One side only: the destination, fed opaque bytes and preambles.
#[cfg(all(feature = "one-side-destination", not(feature = "one-side-source")))]
pub fn run_handshake() -> Result<(), &'static str> {
    let dst = place_destination(Destination::new(DestinationConfig::default(), ms(0)))
        .ok_or("destination")?;
    let (src_tx, dst_tx) = buffers();
    for (name, ack) in black_box(DEVICES) {
        dst.register_device(name, 0, ack)
            .map_err(|_| "register_device")?;
    }
    for t in 0..3 {
        // `&mut`: the compiler must assume the bytes changed (a shared
        // reference would let it assume they are still the zeros of .bss).
        #[allow(clippy::unnecessary_mut_passed)]
        let input: &[u8] = black_box(&mut *src_tx);
        let _ = dst.handle_input(ms(t), input);
        if let Ok(Some(p)) = Preamble::decode(input) {
            let _ = dst.accept_channel(ms(t), &p);
        }
        for i in 0..dst.devices().len() as u16 {
            if dst.participates(DeviceId(i)) {
                let _ = dst.approve(ms(t), DeviceId(i));
            }
        }
        let n = dst.poll_transmit(ms(t), dst_tx).map_err(|_| "tx")?;
        black_box(dst_tx.get(..n));
        while let Some(e) = dst.poll_event() {
            black_box(e);
        }
        if dst.poll_timeout().is_some_and(|d| d <= ms(t)) {
            dst.handle_timeout(ms(t));
        }
    }
    stack::checkpoint("one side: destination");
    Ok(())
}

/// Drive one complete handshake.
#[cfg(not(any(feature = "one-side-source", feature = "one-side-destination")))]
pub fn run_handshake() -> Result<(), &'static str> {
    let src = place_source(Source::new(source_config()?, black_box(NONCE))).ok_or("source")?;
    let dst = place_destination(Destination::new(DestinationConfig::default(), ms(0)))
        .ok_or("destination")?;
    let (src_tx, dst_tx) = buffers();
    for (name, ack) in black_box(DEVICES) {
        src.add_device(name, 0, ack).map_err(|_| "add_device")?;
        dst.register_device(name, 0, ack)
            .map_err(|_| "register_device")?;
    }
    src.start(ms(0)).map_err(|_| "start")?;
    // Open every channel at once (pipelined with Hello).
    for id in src.channels() {
        let bytes = src.channel_preamble(id).map_err(|_| "preamble")?.to_bytes();
        let p = Preamble::decode(black_box(&bytes))
            .ok()
            .flatten()
            .ok_or("decode")?;
        dst.accept_channel(ms(1), &p)
            .map_err(|_| "accept_channel")?;
    }
    pump(src, dst, src_tx, dst_tx, ms(5))?;
    for i in 0..dst.devices().len() as u16 {
        if dst.participates(DeviceId(i)) {
            dst.approve(ms(20), DeviceId(i)).map_err(|_| "approve")?;
        }
    }
    pump(src, dst, src_tx, dst_tx, ms(30))?;
    if src.can_switchover() {
        src.start_switchover(ms(40)).map_err(|_| "switchover")?;
    }
    pump(src, dst, src_tx, dst_tx, ms(50))?;
    stack::checkpoint("lean handshake");
    if dst.state() == DestinationState::SwitchedOver {
        Ok(())
    } else {
        Err("destination did not switch over")
    }
}
