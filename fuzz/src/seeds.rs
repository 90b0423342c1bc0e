//! The seed corpus, generated from real encodings: the hex examples of
//! docs/PROTOCOL.md and the bytes of real handshakes between a Source and a
//! Destination. `ACCORD_WRITE_SEEDS=1 cargo test --test replay` writes them
//! to corpus/<target>/seed-*; the test otherwise checks they are current.

use accord_core::wire::frame::{self, FrameType, MAX_FRAME};
use accord_core::wire::preamble;
use accord_core::*;

use crate::session::{Action, Script, Setup, DST_DEFAULT};

// The spec's hex examples, read by the same code as core's spec tests.
#[path = "../../core/tests/common/spec_example.rs"]
mod spec_example;
pub use spec_example::example;

const FRAME_EXAMPLES: &[&str] = &[
    "hello",
    "welcome",
    "reject-capability",
    "reject-versions",
    "abort-device",
    "channels-ready",
    "switchover-ack",
    "switchover-revoke",
    "switchover-start",
];

/// The bytes a real handshake puts on the wire, in order.
pub struct Capture {
    /// Source's first flight: preamble and Hello.
    pub hello: Vec<u8>,
    /// Destination's answer: preamble, Welcome, ChannelsReady (and the ack when nobody participates).
    pub answer: Vec<u8>,
    /// The secondary channels' preambles.
    pub channels: Vec<[u8; preamble::LEN]>,
    /// The destination's later frames: SwitchoverAck, SwitchoverRevoke, SwitchoverAck.
    pub acks: Vec<u8>,
    /// The source's SwitchoverStart.
    pub start: Vec<u8>,
    /// A Reject (required capability missing), with the destination's preamble.
    pub reject: Vec<u8>,
    /// The source's Abort after a Welcome deadline, with preamble and Hello.
    pub abort: Vec<u8>,
    /// A reattach preamble.
    pub reattach: [u8; preamble::LEN],
}

fn tx_s(s: &mut Source, now: Instant) -> Vec<u8> {
    let mut b = vec![0u8; MAX_FRAME];
    let n = s.poll_transmit(now, &mut b).unwrap();
    b.truncate(n);
    b
}

fn tx_d(d: &mut Destination, now: Instant) -> Vec<u8> {
    let mut b = vec![0u8; 4 * MAX_FRAME];
    let n = d.poll_transmit(now, &mut b).unwrap();
    b.truncate(n);
    b
}

/// Run the handshakes and keep their bytes.
pub fn capture() -> Capture {
    let t = Instant(1_000);
    let nonce = *b"seed-corpus-nonc";
    let source = || {
        let mut cfg = SourceConfig::default();
        let c = &mut cfg.capabilities;
        c.set(CapabilityId::RETURN_PATH, Level::Required, 0)
            .unwrap();
        c.set(CapabilityId::MULTIFD, Level::Required, 4).unwrap();
        c.set(CapabilityId::POSTCOPY_RAM, Level::Required, 0)
            .unwrap();
        c.set(CapabilityId::POSTCOPY_PREEMPT, Level::Required, 0)
            .unwrap();
        c.set(CapabilityId::SWITCHOVER_ACK, Level::Required, 0)
            .unwrap();
        let mut s = Source::new(cfg, nonce).unwrap();
        s.add_device("ram", 0, false).unwrap();
        s.add_device("0000:00:02.0/vfio", 0, true).unwrap();
        s
    };
    let destination = |cfg: DestinationConfig| {
        let mut d = Destination::new(cfg, t).unwrap();
        d.register_device("ram", 0, false).unwrap();
        d.register_device("0000:00:02.0/vfio", 0, true).unwrap();
        d
    };
    let mut s = source();
    let mut d = destination(DestinationConfig::default());
    s.start(t).unwrap();
    let hello = tx_s(&mut s, t);
    let ids: Vec<ChannelId> = s.channels().collect();
    let channels: Vec<_> = ids
        .iter()
        .map(|&id| s.channel_preamble(id).unwrap().to_bytes())
        .collect();
    d.handle_input(t, &hello).unwrap();
    for c in &channels {
        d.accept_channel(t, &Preamble::decode(c).unwrap().unwrap())
            .unwrap();
    }
    let answer = tx_d(&mut d, t);
    s.handle_input(t, &answer).unwrap();
    let vfio = d.devices().find("0000:00:02.0/vfio", 0).unwrap();
    d.approve(t, vfio).unwrap();
    let mut acks = tx_d(&mut d, t);
    d.revoke(t, vfio).unwrap();
    acks.extend(tx_d(&mut d, t));
    d.approve(t, vfio).unwrap();
    acks.extend(tx_d(&mut d, t));
    s.handle_input(t, &acks).unwrap();
    s.start_switchover(t).unwrap();
    let start = tx_s(&mut s, t);
    let reattach = s.channel_lost(t, ids[0]).unwrap().to_bytes();

    let mut s = source();
    let mut cfg = DestinationConfig::default();
    cfg.capabilities.remove(CapabilityId::SWITCHOVER_ACK);
    let mut d = destination(cfg);
    s.start(t).unwrap();
    // A refused Hello is not an error of the call: the Reject is queued.
    d.handle_input(t, &tx_s(&mut s, t)).unwrap();
    assert!(d.rejected());
    let reject = tx_d(&mut d, t);

    let mut s = source();
    s.start(t).unwrap();
    s.handle_timeout(Instant(1_000_000));
    let abort = tx_s(&mut s, t);
    Capture {
        hello,
        answer,
        channels,
        acks,
        start,
        reject,
        abort,
        reattach,
    }
}

/// Split main-channel bytes into preamble (if any) and frames.
fn frames(mut b: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    if b.starts_with(&preamble::MAGIC) {
        out.push(b[..preamble::LEN].to_vec());
        b = &b[preamble::LEN..];
    }
    while let Ok(Some(f)) = frame::split(b) {
        out.push(b[..f.len].to_vec());
        b = &b[f.len..];
    }
    out
}

fn payload_of(f: &[u8]) -> Vec<u8> {
    f[3..].to_vec()
}

fn kind_of(f: &[u8]) -> Option<FrameType> {
    FrameType::from_u8(*f.first()?)
}

/// Every seed: (target, name, bytes).
pub fn all() -> Vec<(&'static str, String, Vec<u8>)> {
    let c = capture();
    let mut out: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let mut add = |t: &'static str, name: String, b: Vec<u8>| out.push((t, name, b));

    add(
        "preamble",
        "spec-main-preamble".into(),
        example("main-preamble"),
    );
    add(
        "preamble",
        "spec-multifd-preamble".into(),
        example("multifd-preamble"),
    );
    add(
        "preamble",
        "real-main".into(),
        c.hello[..preamble::LEN].to_vec(),
    );
    add(
        "preamble",
        "real-dst-main".into(),
        c.answer[..preamble::LEN].to_vec(),
    );
    for (i, ch) in c.channels.iter().enumerate() {
        add("preamble", format!("real-channel-{i}"), ch.to_vec());
    }
    add("preamble", "real-reattach".into(), c.reattach.to_vec());

    let mut real_frames = Vec::new();
    for b in [&c.hello, &c.answer, &c.acks, &c.start, &c.reject, &c.abort] {
        real_frames.extend(
            frames(b)
                .into_iter()
                .filter(|f| !f.starts_with(&preamble::MAGIC)),
        );
    }
    let mut spec_frames = Vec::new();
    for name in FRAME_EXAMPLES {
        let f = example(name);
        spec_frames.push((name.to_string(), f.clone()));
        add("frame", format!("spec-{name}"), f);
    }
    for (i, f) in real_frames.iter().enumerate() {
        add("frame", format!("real-{i}-type-{}", f[0]), f.clone());
    }
    let all_frames: Vec<(String, Vec<u8>)> = spec_frames
        .into_iter()
        .chain(
            real_frames
                .iter()
                .enumerate()
                .map(|(i, f)| (format!("real-{i}"), f.clone())),
        )
        .collect();
    for (name, f) in &all_frames {
        let p = payload_of(f);
        match kind_of(f) {
            Some(FrameType::Hello) => add("hello", name.clone(), p),
            Some(FrameType::Welcome) => add("welcome", name.clone(), p),
            Some(FrameType::Reject | FrameType::Abort) => add("failure", name.clone(), p),
            Some(k) => {
                let sel = match k {
                    FrameType::ChannelsReady => 0,
                    FrameType::SwitchoverAck => 1,
                    FrameType::SwitchoverRevoke => 2,
                    _ => 3,
                };
                let mut v = vec![sel];
                v.extend(p);
                add("payloads", name.clone(), v);
            }
            None => {}
        }
    }

    // machine_input: [which, chunk] + what the peer sends in that state.
    let mut mi = |which: u8, chunk: u8, name: &str, bytes: &[u8]| {
        let mut v = vec![which, chunk];
        v.extend_from_slice(bytes);
        add("machine_input", name.into(), v);
    };
    mi(0, 255, "dst-fresh-hello", &c.hello);
    mi(0, 5, "dst-fresh-hello-in-5-byte-chunks", &c.hello);
    let mut start_then_abort = c.start.clone();
    start_then_abort.extend(&c.abort[c.abort.len() - 5..]);
    mi(1, 3, "dst-precopy-start", &start_then_abort);
    mi(2, 255, "src-await-welcome-answer", &c.answer);
    mi(2, 7, "src-await-welcome-reject", &c.reject);
    let welcome_end = preamble::LEN
        + 3
        + usize::from(u16::from_be_bytes([
            c.answer[preamble::LEN + 1],
            c.answer[preamble::LEN + 2],
        ]));
    let mut rest = c.answer[welcome_end..].to_vec();
    rest.extend(&c.acks);
    mi(3, 4, "src-precopy-ready-acks-revoke", &rest);

    // channels: hello, every real channel, a duplicate, a reattach, a loss, a deadline.
    let mut ch = Vec::new();
    for p in &c.channels[..2] {
        ch.push(1);
        ch.extend_from_slice(p);
    }
    ch.push(0);
    for p in &c.channels[2..] {
        ch.push(1);
        ch.extend_from_slice(p);
    }
    ch.push(1);
    ch.extend_from_slice(&c.channels[0]);
    ch.extend([3, 1, 0, 1]);
    ch.extend_from_slice(&c.reattach);
    ch.extend([2, 1, 0, 9, 0, 5, 4]);
    add("channels", "real-handshake".into(), ch);

    for (name, script) in session_scripts() {
        add("session", name.into(), script.encode());
    }
    for (t, name, b) in legacy_seeds() {
        add(t, name, b);
    }
    out
}

/// Real QEMU 10.0.2 captures (interop/fixtures, recorded between two QEMU
/// processes) and accord's own encoders of QEMU's formats.
const QEMU_MAIN_S2D: &[u8] = include_bytes!("../../interop/fixtures/multifd/conn00-main-s2d.bin");
const QEMU_MAIN_D2S: &[u8] = include_bytes!("../../interop/fixtures/multifd/conn00-main-d2s.bin");
const QEMU_POSTCOPY_D2S: &[u8] =
    include_bytes!("../../interop/fixtures/postcopy-preempt/conn00-main-d2s.bin");
const QEMU_POSTCOPY_S2D: &[u8] =
    include_bytes!("../../interop/fixtures/postcopy-preempt/conn00-main-s2d.bin");
/// The multifd channels in the order they arrived, with their ids.
const QEMU_MULTIFD: [(u8, &[u8]); 4] = [
    (
        1,
        include_bytes!("../../interop/fixtures/multifd/conn01-multifd1-s2d.bin"),
    ),
    (
        0,
        include_bytes!("../../interop/fixtures/multifd/conn02-multifd0-s2d.bin"),
    ),
    (
        3,
        include_bytes!("../../interop/fixtures/multifd/conn03-multifd3-s2d.bin"),
    ),
    (
        2,
        include_bytes!("../../interop/fixtures/multifd/conn04-multifd2-s2d.bin"),
    ),
];

fn legacy_seeds() -> Vec<(&'static str, String, Vec<u8>)> {
    use accord_core::legacy::stream::STREAM_HEADER_LEN;
    use accord_core::legacy::{Command, PageSizes, Parsed, RpMessage};
    let mut out: Vec<(&'static str, String, Vec<u8>)> = Vec::new();
    let head = &QEMU_MAIN_S2D[..STREAM_HEADER_LEN];
    // The first bytes in each real main stream (first 4 KiB) that decode as
    // a command of each type.
    let mut seen = std::collections::BTreeSet::new();
    for capture in [QEMU_MAIN_S2D, QEMU_POSTCOPY_S2D] {
        for i in STREAM_HEADER_LEN..capture.len().min(4096) {
            if capture[i] != 0x08 {
                continue;
            }
            if let Ok(Parsed::Done(c, n)) = Command::decode(&capture[i..]) {
                let ty = c.command_type();
                if seen.insert(ty.as_u16()) {
                    let mut v = head.to_vec();
                    v.extend_from_slice(&capture[i..i + n]);
                    out.push((
                        "legacy_stream",
                        format!("qemu-{}", ty.name().to_lowercase()),
                        v,
                    ));
                }
            }
        }
    }
    out.push((
        "legacy_stream",
        "qemu-main-start".into(),
        QEMU_MAIN_S2D[..64].to_vec(),
    ));
    let discard = [
        0u8, 3, b'r', b'a', b'm', 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0, 0, 0, 0, 0x10, 0,
    ];
    let all = [
        Command::OpenReturnPath,
        Command::Ping(7),
        Command::PostcopyAdvise(Some(PageSizes {
            page_size_summary: 4096,
            target_page_size: 4096,
        })),
        Command::PostcopyAdvise(None),
        Command::PostcopyListen,
        Command::PostcopyRun,
        Command::PostcopyRamDiscard(&discard),
        Command::Packaged(100),
        Command::EnableColo,
        Command::PostcopyResume,
        Command::RecvBitmap(b"pc.ram"),
        Command::SwitchoverStart,
    ];
    let mut v = head.to_vec();
    let mut buf = [0u8; 64];
    for c in all {
        let n = c.encode(&mut buf).unwrap();
        v.extend_from_slice(&buf[..n]);
    }
    out.push(("legacy_stream", "encoded-every-command".into(), v));

    out.push((
        "legacy_return_path",
        "qemu-multifd-d2s".into(),
        QEMU_MAIN_D2S.to_vec(),
    ));
    out.push((
        "legacy_return_path",
        "qemu-postcopy-d2s".into(),
        QEMU_POSTCOPY_D2S.to_vec(),
    ));
    let msgs = [
        RpMessage::Shut(0),
        RpMessage::Pong(1),
        RpMessage::ReqPagesId {
            start: 0x3f000,
            len: 4096,
            idstr: b"pc.bios",
        },
        RpMessage::ReqPages {
            start: 0x3e000,
            len: 4096,
        },
        RpMessage::RecvBitmap { idstr: b"pc.ram" },
        RpMessage::ResumeAck(1),
        RpMessage::SwitchoverAck,
    ];
    let mut v = Vec::new();
    let mut buf = [0u8; 64];
    for m in msgs {
        let n = m.encode(&mut buf).unwrap();
        v.extend_from_slice(&buf[..n]);
    }
    out.push(("legacy_return_path", "encoded-every-type".into(), v));

    for (id, ch) in QEMU_MULTIFD {
        let h = &ch[..64];
        let mut v = vec![4, 1];
        v.extend_from_slice(&h[8..24]);
        v.extend_from_slice(h);
        out.push((
            "legacy_multifd",
            format!("qemu-multifd{id}-uuid-checked"),
            v,
        ));
        let mut v = vec![4, 0];
        v.extend_from_slice(h);
        out.push(("legacy_multifd", format!("qemu-multifd{id}"), v));
    }

    // Classifier: [family, multifd channels, flags], then (length, bytes) per connection.
    let conn = |v: &mut Vec<u8>, b: &[u8]| {
        v.push(b.len() as u8);
        v.extend_from_slice(b);
    };
    for (family, name) in [(0u8, "7.2"), (1, "8.0-10.0"), (2, "10.1")] {
        let mut v = vec![family, 4, 0];
        conn(&mut v, &QEMU_MAIN_S2D[..64]);
        for (_, ch) in QEMU_MULTIFD {
            conn(&mut v, &ch[..64]);
        }
        conn(&mut v, &QEMU_MULTIFD[0].1[..64]);
        out.push((
            "legacy_classifier",
            format!("qemu-{name}-main-then-multifd-1-0-3-2"),
            v,
        ));
    }
    let mut v = vec![2, 4, 0];
    conn(&mut v, &QEMU_MULTIFD[0].1[..4]);
    conn(&mut v, &QEMU_MULTIFD[0].1[..64]);
    conn(&mut v, &QEMU_MAIN_S2D[..4]);
    for (_, ch) in &QEMU_MULTIFD[1..] {
        conn(&mut v, &ch[..64]);
    }
    out.push((
        "legacy_classifier",
        "qemu-10.1-multifd-before-main".into(),
        v,
    ));
    for (family, name) in [(0u8, "7.2"), (2, "10.1")] {
        let mut v = vec![family, 0, 1 | 2];
        conn(&mut v, &QEMU_POSTCOPY_S2D[..64]);
        conn(&mut v, &[]);
        v.push(255);
        conn(&mut v, &QEMU_POSTCOPY_S2D[..64]);
        conn(&mut v, &[]);
        out.push((
            "legacy_classifier",
            format!("qemu-{name}-postcopy-preempt-and-recovery"),
            v,
        ));
    }
    out
}

/// Session scripts: a happy path, a refusal, a revoke, a deadline, a lost
/// channel and a damaged link.
pub fn session_scripts() -> Vec<(&'static str, Script)> {
    use Action::*;
    // rp, multifd, postcopy, preempt, ack required; the rest absent.
    let base = Setup {
        src_levels: [2, 2, 2, 2, 2, 0, 0, 0],
        dst_levels: [1; 8],
        src_counts: [2, 0],
        dst_counts: [5, 5],
        devices: [3 + 1, 6 + 2, 0, 0],
        flags: DST_DEFAULT,
    };
    let open_all = [Open(0), Open(1), Open(2), Open(3)];
    let accept_all = [
        Accept { j: 0, mutate: None },
        Accept { j: 0, mutate: None },
        Accept { j: 0, mutate: None },
        Accept { j: 0, mutate: None },
    ];
    let happy: Vec<Action> = [Transmit {
        dst: false,
        buf: 4096,
    }]
    .into_iter()
    .chain(open_all)
    .chain([
        Deliver {
            to_dst: true,
            n: 10,
        },
        Deliver {
            to_dst: true,
            n: 4096,
        },
    ])
    .chain(accept_all)
    .chain([Pump, Approve(0), Approve(1), Pump, StartSwitchover, Pump])
    .collect();
    let mut revoke = happy.clone();
    revoke.truncate(revoke.len() - 2);
    revoke.extend([
        Revoke(1),
        Transmit { dst: true, buf: 64 },
        Pump,
        Approve(1),
        Pump,
        StartSwitchover,
        Pump,
    ]);
    let mut lost = happy.clone();
    lost.truncate(lost.len() - 2);
    lost.extend([
        LostAtDst(1),
        LostAtSrc(1),
        Pump,
        Accept { j: 0, mutate: None },
        Pump,
        StartSwitchover,
        Pump,
    ]);
    let reject_setup = Setup {
        flags: 0,
        dst_levels: [1, 1, 1, 1, 0, 1, 1, 1],
        ..base.clone()
    };
    vec![
        (
            "happy-path",
            Script {
                setup: base.clone(),
                actions: happy.clone(),
            },
        ),
        (
            "reject-switchover-ack-missing",
            Script {
                setup: reject_setup,
                actions: vec![Pump, Pump],
            },
        ),
        (
            "revoke-and-reack",
            Script {
                setup: base.clone(),
                actions: revoke,
            },
        ),
        (
            "welcome-deadline",
            Script {
                setup: base.clone(),
                actions: vec![
                    Transmit {
                        dst: false,
                        buf: 4096,
                    },
                    FireNext { src: true },
                    Pump,
                ],
            },
        ),
        (
            "lost-channel-reattached",
            Script {
                setup: base.clone(),
                actions: lost,
            },
        ),
        (
            "damaged-link",
            Script {
                setup: base,
                actions: vec![
                    Transmit {
                        dst: false,
                        buf: 4096,
                    },
                    Corrupt {
                        to_dst: true,
                        pos: 30,
                        xor: 0x40,
                    },
                    Duplicate { to_dst: true, n: 3 },
                    Pump,
                    Advance {
                        src: false,
                        ms: 20_000,
                    },
                    Timeout { src: false },
                    Pump,
                ],
            },
        ),
    ]
}
