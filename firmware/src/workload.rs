//! The workload the firmware proves: a complete accord handshake between a
//! real [`Source`] and a real [`Destination`], in memory, on the target.
//!
//! Scenario 1, the migration (docs/PROTOCOL.md §8): the source offers
//! return-path, multifd 4, postcopy-ram, postcopy-preempt and switchover-ack
//! (required ones included) and lists four devices: `ram` (no
//! switchover-ack) and three VFIO-like devices that want it. Channels are
//! named through `Source::channel_preamble` -> `Preamble::to_bytes` ->
//! (the wire) -> `Preamble::decode` -> `Destination::accept_channel`: one
//! before Hello arrives (held, then assigned by Welcome), the rest in a
//! scrambled order after it, plus a stranger (wrong nonce) and a duplicate
//! that are refused without disturbing the session. The three devices
//! approve one by one; the last approval queues the SwitchoverAck; the
//! source sees it, `can_switchover()` opens, `start_switchover` sends
//! SwitchoverStart and the destination reaches `SwitchedOver`. Every event
//! both sides report is checked, in order.
//!
//! Scenario 2, a failure: the destination cannot serve switchover-ack for
//! a device the source wants it for; it rejects, and both sides end in
//! `Failed` with the same error (code and detail). This links the error
//! paths (Reject encoding and decoding, detail names) into the image, so the
//! no-panic proof covers them too.
//!
//! Storage, deliberately: the two machines and the two transmit buffers
//! live in **statics** (`.bss`, see `rig.rs`), as a firmware would keep
//! them. Every call into accord-core is measured on its own by
//! [`stack::step`]: the figure is the stack that call needs, without the
//! machines' storage. Building a machine is measured separately, as setup:
//! `Source::new` and `Destination::new` return it by value, which could cost
//! a machine-sized temporary; the `STACK_SETUP` figures (a few hundred bytes)
//! show LLVM builds it in place in the static.
//!
//! Inputs pass through `black_box` so LLVM cannot fold the run into
//! constants: the code, its stack and its panic paths are those of a run on
//! data only known at run time.

use core::hint::black_box;

use accord_core::channels::Assignment;
use accord_core::wire::preamble;
use accord_core::{
    CapabilityId, ChannelId, Destination, DestinationConfig, DestinationState, Detail, DeviceId,
    ErrorCode, Event, Instant, Preamble, Role, Source, SourceState,
};

use crate::rig::{
    buffers, ms, place_destination, place_source, source_config, Rig, DEVICES, GPU, MULTIFD, NIC,
    NONCE, NVME, RAM,
};
use crate::stack::{self, setup, step};

/// Check a condition of the run; `Err` names it.
fn ensure(ok: bool, what: &'static str) -> Result<(), &'static str> {
    if ok {
        Ok(())
    } else {
        Err(what)
    }
}

/// Build both machines; `gpu_ack`: the destination can serve switchover-ack
/// for the GPU.
fn build(gpu_ack: bool) -> Result<Rig, &'static str> {
    let cfg = source_config()?;
    let src = setup("Source::new (into its static)", || {
        place_source(Source::new(cfg, black_box(NONCE)))
    })
    .ok_or("Source::new failed")?;
    let dst = setup("Destination::new (into its static)", || {
        place_destination(Destination::new(DestinationConfig::default(), ms(0)))
    })
    .ok_or("Destination::new failed")?;
    let (src_tx, dst_tx) = buffers();
    let r = Rig {
        src,
        dst,
        src_tx,
        dst_tx,
    };
    let devices = black_box(DEVICES);
    setup("Source::add_device x4", || {
        devices
            .iter()
            .try_for_each(|&(name, ack)| r.src.add_device(name, 0, ack).map(|_| ()))
    })
    .map_err(|_| "Source::add_device failed")?;
    setup("Destination::register_device x4", || {
        devices.iter().try_for_each(|&(name, ack)| {
            let ack = ack && (gpu_ack || name != GPU);
            r.dst.register_device(name, 0, ack).map(|_| ())
        })
    })
    .map_err(|_| "Destination::register_device failed")?;
    Ok(r)
}

/// Check that the next events are exactly `want`, then that none is left.
fn expect_events(
    mut next: impl FnMut() -> Option<Event>,
    want: &[Event],
    what: &'static str,
) -> Result<(), &'static str> {
    for w in want {
        ensure(next().as_ref() == Some(w), what)?;
    }
    ensure(next().is_none(), what)
}

/// Carry one transmission from the source to the destination: poll, then
/// feed every byte; returns how many bytes went.
fn src_to_dst(r: &mut Rig, now: Instant, name: &str) -> Result<usize, &'static str> {
    let (src, buf) = (&mut *r.src, &mut *r.src_tx);
    let n = step("Source::poll_transmit", || src.poll_transmit(now, buf))
        .map_err(|_| "Source::poll_transmit failed")?;
    let bytes = r.src_tx.get(..n).ok_or("Source::poll_transmit overran")?;
    let dst = &mut *r.dst;
    let used = step(name, || dst.handle_input(now, bytes));
    match used {
        Ok(u) => ensure(u == n, "destination left bytes unread").map(|_| n),
        Err(_) => Ok(n),
    }
}

/// Carry one transmission from the destination to the source.
fn dst_to_src(r: &mut Rig, now: Instant, name: &str) -> Result<usize, &'static str> {
    let (dst, buf) = (&mut *r.dst, &mut *r.dst_tx);
    let n = step("Destination::poll_transmit", || dst.poll_transmit(now, buf))
        .map_err(|_| "Destination::poll_transmit failed")?;
    let bytes = r
        .dst_tx
        .get(..n)
        .ok_or("Destination::poll_transmit overran")?;
    let src = &mut *r.src;
    let used = step(name, || src.handle_input(now, bytes));
    match used {
        Ok(u) => ensure(u == n, "source left bytes unread").map(|_| n),
        Err(_) => Ok(n),
    }
}

/// Name one secondary channel: the source's preamble goes through its 28
/// wire bytes to the destination.
fn open_channel(r: &mut Rig, now: Instant, id: ChannelId) -> Result<Assignment, &'static str> {
    let src = &*r.src;
    let p = step("Source::channel_preamble", || src.channel_preamble(id))
        .map_err(|_| "Source::channel_preamble failed")?;
    let bytes = black_box(p.to_bytes());
    let decoded = step("Preamble::decode", || Preamble::decode(&bytes))
        .map_err(|_| "Preamble::decode failed")?
        .ok_or("Preamble::decode wants more bytes")?;
    ensure(decoded == p, "preamble changed on the wire")?;
    let dst = &mut *r.dst;
    step("Destination::accept_channel", || {
        dst.accept_channel(now, &decoded)
    })
    .map_err(|_| "Destination::accept_channel refused a source channel")
}

fn device(r: &Rig, name: &str) -> Result<DeviceId, &'static str> {
    r.dst
        .devices()
        .find(name, 0)
        .ok_or("device not registered on the destination")
}

fn approve(r: &mut Rig, now: Instant, name: &str) -> Result<(), &'static str> {
    let id = device(r, name)?;
    let dst = &mut *r.dst;
    step("Destination::approve", || dst.approve(now, id)).map_err(|_| "approval refused")
}

const fn ch(role: Role, index: u16) -> ChannelId {
    ChannelId { role, index }
}

/// Scenario 1: the complete migration handshake.
fn migration() -> Result<(), &'static str> {
    let mut r = build(true)?;
    let t = ms(0);
    let src = &mut *r.src;
    step("Source::start", || src.start(t)).map_err(|_| "Source::start failed")?;
    ensure(
        r.src.state() == SourceState::AwaitWelcome,
        "source not awaiting Welcome",
    )?;

    // The source plans multifd 0..4 and preempt from its own offer, and may
    // open them at once. One arrives before Hello: the destination holds it.
    let mut planned = [ch(Role::Main, 0); 8];
    let mut count = 0usize;
    for (slot, id) in planned.iter_mut().zip(r.src.channels()) {
        *slot = id;
        count += 1;
    }
    let planned = planned.get(..count).ok_or("channel plan")?;
    let mut want = [
        ch(Role::Multifd, 0),
        ch(Role::Multifd, 1),
        ch(Role::Multifd, 2),
        ch(Role::Multifd, 3),
        ch(Role::Preempt, 0),
    ]
    .into_iter();
    ensure(
        planned.iter().all(|p| want.next() == Some(*p)) && want.next().is_none(),
        "source plans the wrong channels",
    )?;
    let early = ch(Role::Multifd, 0);
    ensure(
        open_channel(&mut r, ms(1), early)? == Assignment::Held(early),
        "early channel not held",
    )?;
    stack::checkpoint("early channel");

    // Hello -> Welcome.
    let n = src_to_dst(&mut r, ms(5), "Destination::handle_input(Hello)")?;
    ensure(n > preamble::LEN, "no Hello sent")?;
    ensure(
        r.dst.state() == DestinationState::Precopy,
        "destination did not accept Hello",
    )?;
    ensure(r.dst.pending() == 3, "three devices must take part")?;
    let dst = &mut *r.dst;
    expect_events(
        || dst.poll_event(),
        &[
            Event::Negotiated { version: 1 },
            Event::ChannelAssigned(early),
        ],
        "destination events after Hello",
    )?;
    let n = dst_to_src(&mut r, ms(10), "Source::handle_input(Welcome)")?;
    ensure(n > preamble::LEN, "no Welcome sent")?;
    ensure(
        r.src.state() == SourceState::Precopy,
        "source not in Precopy",
    )?;
    let src = &mut *r.src;
    expect_events(
        || src.poll_event(),
        &[Event::Negotiated { version: 1 }],
        "source events after Welcome",
    )?;
    let agreed = r.src.agreed();
    ensure(
        agreed == r.dst.agreed()
            && agreed.is_on(CapabilityId::RETURN_PATH)
            && agreed.param(CapabilityId::MULTIFD) == MULTIFD
            && agreed.is_on(CapabilityId::POSTCOPY_RAM)
            && agreed.is_on(CapabilityId::POSTCOPY_PREEMPT)
            && agreed.is_on(CapabilityId::SWITCHOVER_ACK)
            && agreed.entries().len() == 5,
        "wrong agreement",
    )?;
    #[cfg(feature = "defmt")]
    defmt::info!("agreed {}", r.src.agreed());
    stack::checkpoint("negotiated");

    // The remaining channels, in another order than the source's.
    for id in [
        ch(Role::Preempt, 0),
        ch(Role::Multifd, 3),
        ch(Role::Multifd, 1),
        ch(Role::Multifd, 2),
    ] {
        if id == ch(Role::Multifd, 2) {
            // Before the last one: a stranger and a duplicate, both refused.
            let mut stranger = r.src.channel_preamble(id).map_err(|_| "channel preamble")?;
            stranger.nonce = black_box(*b"another-session!");
            let dst = &mut *r.dst;
            let e = step("Destination::accept_channel(refused)", || {
                dst.accept_channel(ms(12), &stranger)
            });
            ensure(
                e.is_err_and(|e| e.code == ErrorCode::WrongNonce),
                "stranger not refused with WrongNonce",
            )?;
            let again = r.src.channel_preamble(early).map_err(|_| "preamble")?;
            let dst = &mut *r.dst;
            let e = step("Destination::accept_channel(refused)", || {
                dst.accept_channel(ms(12), &again)
            });
            ensure(
                e.is_err_and(|e| e.code == ErrorCode::DuplicateChannel),
                "duplicate not refused",
            )?;
        }
        ensure(
            open_channel(&mut r, ms(12), id)? == Assignment::Assigned(id),
            "channel not assigned",
        )?;
        let dst = &mut *r.dst;
        let last = id == ch(Role::Multifd, 2);
        let assigned = [Event::ChannelAssigned(id), Event::ChannelsReady];
        let want = assigned.get(..if last { 2 } else { 1 }).unwrap_or(&[]);
        expect_events(|| dst.poll_event(), want, "destination channel events")?;
    }
    ensure(r.dst.channels().is_complete(), "channel set incomplete")?;
    ensure(
        r.dst
            .channels()
            .iter_expected()
            .all(|id| r.dst.channels().is_attached(id)),
        "a channel is not attached",
    )?;

    // ChannelsReady reaches the source; the gate stays shut without the ack.
    dst_to_src(&mut r, ms(15), "Source::handle_input(ChannelsReady)")?;
    let src = &mut *r.src;
    expect_events(
        || src.poll_event(),
        &[Event::ChannelsReady],
        "source ChannelsReady",
    )?;
    ensure(r.src.channels_ready(), "source: channels not ready")?;
    ensure(!r.src.can_switchover(), "switchover allowed before the ack")?;
    let src = &mut *r.src;
    ensure(
        step("Source::start_switchover(refused)", || {
            src.start_switchover(ms(15))
        })
        .is_err_and(|e| e.code == ErrorCode::SwitchoverNotAllowed),
        "early switchover not refused",
    )?;

    // Approvals, one by one. `ram` does not take part; a second approval of
    // the same device is refused; neither changes the count.
    let ram = device(&r, RAM)?;
    let dst = &mut *r.dst;
    ensure(
        step("Destination::approve(refused)", || dst.approve(ms(20), ram))
            .is_err_and(|e| e.code == ErrorCode::DeviceNotParticipating),
        "ram approval not refused",
    )?;
    for (i, name) in [NIC, GPU, NVME].into_iter().enumerate() {
        approve(&mut r, ms(20 + 10 * i as u64), name)?;
        let id = device(&r, name)?;
        let pending = 2 - i as u16;
        let dst = &mut *r.dst;
        let approved = [
            Event::DeviceApproved {
                device: id,
                pending,
            },
            Event::SwitchoverAcked { epoch: 1 },
        ];
        let want = approved
            .get(..if pending == 0 { 2 } else { 1 })
            .unwrap_or(&[]);
        expect_events(|| dst.poll_event(), want, "approval events")?;
        if i == 0 {
            let dst = &mut *r.dst;
            let e = step("Destination::approve(refused)", || dst.approve(ms(21), id));
            ensure(
                e.is_err_and(|e| e.code == ErrorCode::AlreadyApproved),
                "double approval not refused",
            )?;
            ensure(r.dst.pending() == 2, "refused approval changed the count")?;
        }
        if pending > 0 {
            // Nothing to send until the last approval.
            ensure(
                dst_to_src(
                    &mut r,
                    ms(21 + 10 * i as u64),
                    "Source::handle_input(nothing)",
                )? == 0,
                "destination sent something before the ack",
            )?;
            ensure(!r.src.can_switchover(), "gate opened early")?;
        }
    }
    ensure(r.dst.acked() && r.dst.epoch() == 1, "destination not acked")?;
    stack::checkpoint("approved");

    // The ack reaches the source; the gate opens; the decision goes out.
    dst_to_src(&mut r, ms(45), "Source::handle_input(SwitchoverAck)")?;
    let src = &mut *r.src;
    expect_events(
        || src.poll_event(),
        &[Event::SwitchoverAcked { epoch: 1 }],
        "source ack event",
    )?;
    ensure(r.src.can_switchover(), "gate shut after the ack")?;
    let src = &mut *r.src;
    step("Source::start_switchover", || src.start_switchover(ms(46)))
        .map_err(|_| "start_switchover refused")?;
    ensure(
        r.src.state() == SourceState::SwitchedOver,
        "source not switched over",
    )?;
    let src = &mut *r.src;
    expect_events(
        || src.poll_event(),
        &[Event::SwitchoverStarted {
            epoch: 1,
            waived: false,
        }],
        "source switchover event",
    )?;
    src_to_dst(&mut r, ms(50), "Destination::handle_input(SwitchoverStart)")?;
    ensure(
        r.dst.state() == DestinationState::SwitchedOver,
        "destination did not reach SwitchedOver",
    )?;
    let dst = &mut *r.dst;
    expect_events(
        || dst.poll_event(),
        &[Event::SwitchoverStarted {
            epoch: 1,
            waived: false,
        }],
        "destination switchover event",
    )?;

    // Nothing left to send or wait for; deadlines are idle.
    let (src, dst) = (&mut *r.src, &mut *r.dst);
    let quiet = step("Source::handle_timeout", || src.handle_timeout(ms(60)).is_none())
        & step("Destination::handle_timeout", || {
            dst.handle_timeout(ms(60)).is_none()
        });
    ensure(quiet, "an idle deadline failed a machine")?;
    ensure(
        r.src.poll_timeout().is_none() && r.dst.poll_timeout().is_none(),
        "a deadline is still armed",
    )?;
    ensure(
        r.src.error().is_none()
            && r.dst.error().is_none()
            && r.src.dropped_events() == 0
            && r.dst.dropped_events() == 0,
        "error or dropped events after success",
    )?;
    stack::checkpoint("switched over");
    Ok(())
}

/// Scenario 2: the destination cannot serve switchover-ack for the GPU.
fn unsupported_device() -> Result<(), &'static str> {
    let mut r = build(false)?;
    let src = &mut *r.src;
    step("Source::start", || src.start(ms(0))).map_err(|_| "Source::start failed")?;
    src_to_dst(&mut r, ms(5), "Destination::handle_input(Hello, rejected)")?;
    ensure(
        r.dst.state() == DestinationState::Failed,
        "destination accepted a device it cannot serve",
    )?;
    dst_to_src(&mut r, ms(10), "Source::handle_input(Reject)")?;
    ensure(r.src.state() == SourceState::Failed, "source did not fail")?;
    let (se, de) = (r.src.error(), r.dst.error());
    ensure(
        se.is_some() && se == de,
        "the two sides disagree on the error",
    )?;
    let gpu_named = matches!(
        se.map(|e| (e.code, &e.detail)),
        Some((ErrorCode::DeviceUnsupported, Detail::Device(d)))
            if d.name.as_str() == GPU && d.instance == 0
    );
    ensure(gpu_named, "error does not name the GPU")?;
    let code = ErrorCode::DeviceUnsupported;
    let dst = &mut *r.dst;
    expect_events(
        || dst.poll_event(),
        &[Event::Failed {
            code,
            by_peer: false,
        }],
        "destination failure event",
    )?;
    let src = &mut *r.src;
    expect_events(
        || src.poll_event(),
        &[Event::Failed {
            code,
            by_peer: true,
        }],
        "source failure event",
    )?;
    // A rejected source sends nothing more and cannot switch over.
    let (src, buf) = (&mut *r.src, &mut *r.src_tx);
    ensure(
        step("Source::poll_transmit", || src.poll_transmit(ms(11), buf)) == Ok(0),
        "failed source still transmits",
    )?;
    ensure(
        r.src
            .start_switchover(ms(11))
            .is_err_and(|e| e.code == ErrorCode::SwitchoverNotAllowed),
        "failed source may switch over",
    )?;
    #[cfg(feature = "defmt")]
    defmt::info!("rejected as expected: {}", r.src.error());
    stack::checkpoint("rejected");
    Ok(())
}

/// Drive both scenarios; `Err` names the first check that failed.
pub fn run_handshake() -> Result<(), &'static str> {
    migration()?;
    unsupported_device()
}
