//! The main job until the C demo exists: an in-memory migration handshake over
//! a simulated link with latency, printed as a timeline; then the seed
//! scenarios that hang or misbehave in QEMU, failing fast here.
//!
//! Run: `cargo run -p accord-core --example timeline`

use std::collections::VecDeque;

use accord_core::wire::frame::MAX_FRAME;
use accord_core::*;

const LATENCY_MS: u64 = 5;

/// Bytes in flight on one direction of the main channel.
struct Wire(VecDeque<(u64, Vec<u8>)>);

impl Wire {
    fn send(&mut self, now: u64, b: Vec<u8>) {
        if !b.is_empty() {
            self.0.push_back((now + LATENCY_MS, b));
        }
    }
    fn deliver(&mut self, now: u64) -> Option<Vec<u8>> {
        match self.0.front() {
            Some((t, _)) if *t <= now => self.0.pop_front().map(|(_, b)| b),
            _ => None,
        }
    }
}

fn caps(a: &Agreed) -> String {
    a.entries()
        .iter()
        .map(|e| match e.id.has_count() {
            true => format!("{}={}", e.id, e.param),
            false => e.id.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

struct Scenario {
    title: &'static str,
    source: Source,
    dest: Destination,
    /// (device name, approval time in ms)
    approvals: Vec<(&'static str, u64)>,
}

fn run(mut sc: Scenario) -> Result<u64, Error> {
    println!("\n== {} ==", sc.title);
    let (s, d) = (&mut sc.source, &mut sc.dest);
    let mut to_dst = Wire(VecDeque::new());
    let mut to_src = Wire(VecDeque::new());
    let mut chan_arrivals: VecDeque<(u64, Preamble)> = VecDeque::new();
    let mut buf = vec![0u8; MAX_FRAME * 2];
    let mut now = 0u64;
    s.start(Instant(now)).unwrap();
    println!("{now:>5} ms  source: Hello sent, opening every channel at once");
    for id in s.channels().collect::<Vec<_>>() {
        // Arrival order on the destination is not connect order: scramble it.
        let p = s.channel_preamble(id).unwrap();
        let jitter = (id.index as u64 * 7) % 3;
        chan_arrivals.push_back((now + LATENCY_MS + jitter, p));
    }
    let mut started_at = None;
    while now < 10_000 {
        let n = s.poll_transmit(Instant(now), &mut buf).unwrap();
        to_dst.send(now, buf[..n].to_vec());
        let n = d.poll_transmit(Instant(now), &mut buf).unwrap();
        to_src.send(now, buf[..n].to_vec());
        while let Some(b) = to_dst.deliver(now) {
            let _ = d.handle_input(Instant(now), &b);
        }
        while let Some(b) = to_src.deliver(now) {
            let _ = s.handle_input(Instant(now), &b);
        }
        while chan_arrivals.front().is_some_and(|(t, _)| *t <= now) {
            let (_, p) = chan_arrivals.pop_front().unwrap();
            if d.state() == DestinationState::Failed {
                continue; // a real destination closes them with the session
            }
            if let Err(e) = d.accept_channel(Instant(now), &p) {
                println!(
                    "{now:>5} ms  destination: channel {} refused: {e}",
                    p.channel()
                );
            }
        }
        for &(name, t) in &sc.approvals {
            if t == now && d.state() == DestinationState::Precopy {
                let id = d
                    .devices()
                    .iter()
                    .position(|x| x.name.name == name)
                    .unwrap();
                d.approve(Instant(now), DeviceId(id as u16)).unwrap();
            }
        }
        while let Some(e) = d.poll_event() {
            match e {
                Event::Negotiated { version } => println!(
                    "{now:>5} ms  destination: Welcome (v{version}): {}; {} device(s) take part in switchover-ack",
                    caps(d.agreed()),
                    d.pending()
                ),
                Event::ChannelAssigned(id) => println!("{now:>5} ms  destination: channel named {id}"),
                Event::ChannelsReady => println!("{now:>5} ms  destination: all channels present, ChannelsReady"),
                Event::DeviceApproved { device, pending } => println!(
                    "{now:>5} ms  destination: {} approved ({pending} pending)",
                    d.devices().get(device).unwrap().name.name
                ),
                Event::SwitchoverAcked { epoch } => println!("{now:>5} ms  destination: SwitchoverAck #{epoch} sent"),
                Event::Failed { code, .. } => {
                    println!("{now:>5} ms  destination: FAILED {}", d.error().map_or(code.to_string(), |e| e.to_string()))
                }
                other => println!("{now:>5} ms  destination: {other:?}"),
            }
        }
        while let Some(e) = s.poll_event() {
            match e {
                Event::Negotiated { .. } => println!(
                    "{now:>5} ms  source: agreement checked: {}",
                    caps(s.agreed())
                ),
                Event::ChannelsReady => println!("{now:>5} ms  source: ChannelsReady"),
                Event::SwitchoverAcked { epoch } => {
                    println!("{now:>5} ms  source: ack #{epoch} received")
                }
                Event::Failed { code, by_peer } => println!(
                    "{now:>5} ms  source: FAILED {}{}",
                    s.error().map_or(code.to_string(), |e| e.to_string()),
                    if by_peer {
                        " (reported by the destination)"
                    } else {
                        ""
                    }
                ),
                other => println!("{now:>5} ms  source: {other:?}"),
            }
        }
        if s.can_switchover() && started_at.is_none() {
            println!("{now:>5} ms  source: switchover allowed after {now} ms");
            s.start_switchover(Instant(now)).unwrap();
            started_at = Some(now);
        }
        if d.state() == DestinationState::SwitchedOver {
            println!("{now:>5} ms  destination: SwitchoverStart received; handshake complete");
            return Ok(started_at.unwrap_or(now));
        }
        if s.state() == SourceState::Failed && d.state() == DestinationState::Failed {
            let (a, b) = (s.error().unwrap().clone(), d.error().unwrap().clone());
            assert_eq!(a, b, "both sides must reach the same verdict");
            println!("{now:>5} ms  both sides agree: {a}");
            return Err(a);
        }
        if let Some(t) = [s.poll_timeout(), d.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
        {
            if t.0 <= now {
                s.handle_timeout(Instant(now));
                d.handle_timeout(Instant(now));
            }
        }
        now += 1;
    }
    panic!("scenario did not finish");
}

fn source(caps: &[(CapabilityId, Level, u16)], devices: &[(&str, bool)]) -> Source {
    let mut cfg = SourceConfig::default();
    for &(id, level, p) in caps {
        cfg.capabilities.set(id, level, p).unwrap();
    }
    let mut s = Source::new(cfg, *b"demo-nonce-0001!").unwrap();
    for &(name, wants) in devices {
        s.add_device(name, 0, wants).unwrap();
    }
    s
}

fn dest(cfg: DestinationConfig, devices: &[(&str, bool)]) -> Destination {
    let mut d = Destination::new(cfg, Instant(0)).unwrap();
    for &(name, supports) in devices {
        d.register_device(name, 0, supports).unwrap();
    }
    d
}

fn main() {
    use CapabilityId as C;
    use Level::*;
    let full = [
        (C::RETURN_PATH, Required, 0),
        (C::MULTIFD, Required, 4),
        (C::POSTCOPY_RAM, Optional, 0),
        (C::POSTCOPY_PREEMPT, Optional, 0),
        (C::SWITCHOVER_ACK, Required, 0),
    ];
    let devices = [
        ("ram", false),
        ("0000:00:02.0/vfio-nic", true),
        ("0000:00:03.0/vfio-gpu", true),
    ];
    let ok = run(Scenario {
        title: "migration: main + 4 multifd + preempt, 3 devices, the GPU slow to approve",
        source: source(&full, &devices),
        dest: dest(DestinationConfig::default(), &devices),
        approvals: vec![
            ("0000:00:02.0/vfio-nic", 40),
            ("0000:00:03.0/vfio-gpu", 350),
        ],
    });
    assert!(ok.is_ok());

    let mut no_ack = DestinationConfig::default();
    no_ack.capabilities.remove(C::SWITCHOVER_ACK);
    let e1 = run(Scenario {
        title: "seed 000: switchover-ack on the source only (QEMU waits forever)",
        source: source(&full, &devices),
        dest: dest(no_ack, &devices),
        approvals: vec![],
    });
    let e2 = run(Scenario {
        title: "seed 000: the source wants the ack for a device the destination cannot serve",
        source: source(&full, &devices),
        dest: dest(
            DestinationConfig::default(),
            &[
                ("ram", false),
                ("0000:00:02.0/vfio-nic", true),
                ("0000:00:03.0/vfio-gpu", false),
            ],
        ),
        approvals: vec![],
    });
    let ok2 = run(Scenario {
        title:
            "seed 000: X and Y (source wants the ack for X only; QEMU counts 2 and never reaches 0)",
        source: source(&full, &[("ram", false), ("x", true), ("y", false)]),
        dest: dest(
            DestinationConfig::default(),
            &[("ram", false), ("x", true), ("y", true)],
        ),
        approvals: vec![("x", 30)],
    });
    assert!(e1.is_err() && e2.is_err() && ok2.is_ok());
    println!("\nall scenarios behaved as specified");
}
