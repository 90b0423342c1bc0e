//! Checks on the saved QEMU 10.0 and 10.2 captures in `interop/fixtures/`
//! (see its README). These need no QEMU: they pin what the captures show (with the
//! independent parsers of `interop::wire`), then run accord's classifier
//! over the recorded connections in their arrival order (and, where the
//! family peeks, in every order) and accord's return-path codec over the
//! recorded return paths.

use std::fs;
use std::path::{Path, PathBuf};

use accord_core::legacy::{Classifier, Decision, Family, LegacyConfig, Parsed, RpMessage};
use accord_core::ErrorCode;
use interop::scenario::{uuid_bytes, VM_UUID};

use interop::wire::{
    be32_at, decode_return_path, parse_multifd_init, MULTIFD_INIT_LEN, MULTIFD_MAGIC,
    MULTIFD_VERSION, QEVM_MAGIC, QEVM_VERSION,
};

fn dir(scenario: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(scenario)
}

fn read(scenario: &str, name: &str) -> Vec<u8> {
    let p = dir(scenario).join(name);
    fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Files of one scenario whose name contains `part`, sorted.
fn files(scenario: &str, part: &str) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir(scenario))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(part))
        .collect();
    v.sort();
    v
}

/// Offsets of main-stream commands (0x08, be16 cmd, be16 len) with the
/// expected length, found by scanning: good enough for the first bytes,
/// where no RAM page data can imitate them before the first section.
fn find_command(stream: &[u8], cmd: u16, len: u16) -> Vec<usize> {
    let pat = [
        0x08,
        (cmd >> 8) as u8,
        cmd as u8,
        (len >> 8) as u8,
        len as u8,
    ];
    stream
        .windows(pat.len())
        .enumerate()
        .filter(|(_, w)| *w == pat)
        .map(|(i, _)| i)
        .collect()
}

fn check_main_start(main: &[u8]) {
    check_main_start_of(main, b"pc-q35-10.0");
}

fn check_main_start_of(main: &[u8], machine: &[u8]) {
    assert_eq!(be32_at(main, 0), Some(QEVM_MAGIC));
    assert_eq!(be32_at(main, 4), Some(QEVM_VERSION));
    // Configuration section (0x07), be32 length, machine type.
    assert_eq!(main[8], 0x07);
    let n = be32_at(main, 9).unwrap() as usize;
    assert_eq!(&main[13..13 + n], machine);
    // Then OPEN_RETURN_PATH and PING(1), the first commands.
    let at = 13 + n;
    assert_eq!(&main[at..at + 5], &[0x08, 0, 1, 0, 0]);
    assert_eq!(&main[at + 5..at + 14], &[0x08, 0, 2, 0, 4, 0, 0, 0, 1]);
}

#[test]
fn multifd_fixture() {
    let main = read("multifd", "conn00-main-s2d-full.bin");
    check_main_start(&main);
    assert_eq!(find_command(&main, 11, 0).len(), 1, "one SWITCHOVER_START");
    assert!(find_command(&main, 3, 16).is_empty(), "no POSTCOPY_ADVISE");
    let head = read("multifd", "conn00-main-s2d.bin");
    assert_eq!(&main[..head.len()], &head[..]);

    let rp = decode_return_path(&read("multifd", "conn00-main-d2s-full.bin")).unwrap();
    let kinds: Vec<u16> = rp.iter().map(|m| m.kind).collect();
    assert_eq!(kinds, vec![7, 2, 1], "SWITCHOVER_ACK, PONG, SHUT");
    assert_eq!(rp[1].payload, 1u32.to_be_bytes());
    assert_eq!(rp[2].payload, 0u32.to_be_bytes());

    let chans = files("multifd", "-s2d.bin");
    let chans: Vec<&String> = chans.iter().filter(|n| n.contains("multifd")).collect();
    assert_eq!(chans.len(), 4);
    let mut ids = Vec::new();
    for name in chans {
        let b = read("multifd", name);
        let h = parse_multifd_init(&b).expect("MultiFDInit_t");
        assert_eq!((h.magic, h.version), (MULTIFD_MAGIC, MULTIFD_VERSION));
        assert!(
            name.contains(&format!("multifd{}-", h.id)),
            "{name} has id {}",
            h.id
        );
        // The first packet after the init header reuses the magic.
        assert_eq!(be32_at(&b, MULTIFD_INIT_LEN), Some(MULTIFD_MAGIC));
        ids.push(h.id);
        let d2s = name.replace("-s2d.bin", "-d2s.bin");
        assert!(read("multifd", &d2s).is_empty());
    }
    ids.sort();
    assert_eq!(ids, vec![0, 1, 2, 3]);
}

#[test]
fn postcopy_preempt_fixture() {
    let main = read("postcopy-preempt", "conn00-main-s2d-40k.bin");
    check_main_start(&main);
    assert_eq!(find_command(&main, 3, 16).len(), 1, "POSTCOPY_ADVISE");
    let sw = find_command(&main, 11, 0);
    let pkg = find_command(&main, 7, 4);
    let listen = find_command(&main, 4, 0);
    let run = find_command(&main, 5, 0);
    assert_eq!((sw.len(), pkg.len(), listen.len(), run.len()), (1, 1, 1, 1));
    // SWITCHOVER_START, then PACKAGED whose blob starts with LISTEN and
    // ends with RUN.
    assert!(sw[0] < pkg[0]);
    assert_eq!(listen[0], pkg[0] + 9);
    let blob_end = pkg[0] + 9 + be32_at(&main, pkg[0] + 5).unwrap() as usize;
    assert_eq!(run[0] + 5, blob_end);

    let rp = decode_return_path(&read("postcopy-preempt", "conn00-main-d2s-full.bin")).unwrap();
    assert_eq!(rp[0].kind, 7, "SWITCHOVER_ACK first");
    let mut pongs: Vec<u32> = rp
        .iter()
        .filter(|m| m.kind == 2)
        .map(|m| be32_at(&m.payload, 0).unwrap())
        .collect();
    pongs.sort();
    assert_eq!(pongs, vec![1, 2, 3, 4]);
    assert!(rp.iter().any(|m| m.kind == 3), "REQ_PAGES_ID");
    assert!(rp.iter().any(|m| m.kind == 4), "REQ_PAGES");
    assert_eq!(rp.last().unwrap().kind, 1, "SHUT last");
    for m in &rp {
        match m.kind {
            3 => {
                let n = m.payload[12] as usize;
                assert_eq!(m.payload.len(), 13 + n);
            }
            4 => assert_eq!(m.payload.len(), 12),
            _ => {}
        }
    }

    // The preempt channel: no magic, straight into a RAM page header
    // (be64 offset | flags, with RAM_SAVE_FLAG_PAGE = 0x08).
    let pre = read("postcopy-preempt", "conn01-preempt-s2d.bin");
    let first = be32_at(&pre, 0);
    assert_ne!(first, Some(QEVM_MAGIC));
    assert_ne!(first, Some(MULTIFD_MAGIC));
    assert_eq!(pre[7] & 0x08, 0x08);
    assert!(read("postcopy-preempt", "conn01-preempt-d2s.bin").is_empty());
    assert_eq!(files("postcopy-preempt", "-s2d.bin").len(), 2);
}

// ---------------------------------------------------------------------------
// accord's classifier and return-path codec on the recorded connections

/// The recorded connections of a scenario in arrival order: (tag from the
/// file name, source-to-destination head).
fn connections(scenario: &str) -> Vec<(String, Vec<u8>)> {
    files(scenario, "-s2d.bin")
        .into_iter()
        .filter(|n| n.starts_with("conn"))
        .map(|n| {
            let tag = n["connNN-".len()..n.len() - "-s2d.bin".len()].to_string();
            let head = read(scenario, &n);
            (tag, head)
        })
        .collect()
}

fn config(scenario: &str, family: Family) -> LegacyConfig {
    let mut c = LegacyConfig::new(family);
    c.uuid = Some(uuid_bytes(VM_UUID).unwrap());
    if scenario.contains("multifd") {
        c.multifd_channels = 4;
    }
    if scenario.contains("postcopy") {
        c.postcopy_ram = true;
        c.postcopy_preempt = true;
    }
    c
}

/// Classify one recorded connection as a destination would: give the
/// classifier exactly the bytes it asks for. Returns the decision and how
/// many bytes it read.
fn classify(c: &mut Classifier, head: &[u8]) -> (Decision, usize) {
    let mut given = c.bytes_needed();
    loop {
        let d = c
            .classify(&head[..given.min(head.len())])
            .unwrap_or_else(|e| panic!("refused after {given} bytes: {e}"));
        match d {
            Decision::NeedMore(n) | Decision::MaybeSilent(n) => {
                assert!(n > given && n <= head.len(), "asks {n} after {given}");
                given = n;
            }
            d => return (d, given),
        }
    }
}

fn tag_of(d: Decision) -> String {
    match d {
        Decision::Main => "main".into(),
        Decision::Multifd { id } => format!("multifd{id}"),
        Decision::Preempt => "preempt".into(),
        other => format!("{other:?}"),
    }
}

/// All orderings of `0..n`.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for p in permutations(n - 1) {
        for at in 0..=p.len() {
            let mut q = p.clone();
            q.insert(at, n - 1);
            out.push(q);
        }
    }
    out
}

#[test]
fn the_classifier_names_the_recorded_connections_in_their_arrival_order() {
    for scenario in ["multifd", "postcopy-preempt"] {
        let conns = connections(scenario);
        assert_eq!(conns.len(), if scenario == "multifd" { 5 } else { 2 });
        for family in [Family::Qemu7_2, Family::Qemu8_0To10_0, Family::Qemu10_1Plus] {
            let mut c = Classifier::new(config(scenario, family)).unwrap();
            for (tag, head) in &conns {
                let (d, read) = classify(&mut c, head);
                assert_eq!(&tag_of(d), tag, "{scenario} {family:?}");
                match d {
                    Decision::Preempt => assert_eq!(read, 0, "preempt is never read"),
                    Decision::Multifd { .. } => assert_eq!(read, 64),
                    // 7.2, and 8.0-10.0 with postcopy, take main by order.
                    _ => assert!(read == 4 || read == 0, "{read}"),
                }
            }
            assert!(c.is_complete(), "{scenario} {family:?}");
        }
    }
}

#[test]
fn families_that_peek_name_the_real_channels_in_any_arrival_order() {
    let conns = connections("multifd");
    for family in [Family::Qemu8_0To10_0, Family::Qemu10_1Plus] {
        for order in permutations(conns.len()) {
            let mut c = Classifier::new(config("multifd", family)).unwrap();
            for &i in &order {
                let (d, _) = classify(&mut c, &conns[i].1);
                assert_eq!(tag_of(d), conns[i].0, "{family:?} order {order:?}");
            }
            assert!(c.is_complete());
        }
    }
    // 7.2 trusts arrival order: main first, the multifd channels in any order.
    for order in permutations(conns.len() - 1) {
        let mut c = Classifier::new(config("multifd", Family::Qemu7_2)).unwrap();
        assert_eq!(classify(&mut c, &conns[0].1).0, Decision::Main);
        for &i in &order {
            let (d, _) = classify(&mut c, &conns[i + 1].1);
            assert_eq!(tag_of(d), conns[i + 1].0);
        }
    }
}

#[test]
fn the_recorded_multifd_headers_carry_the_vm_uuid() {
    let conns = connections("multifd");
    let mut cfg = config("multifd", Family::Qemu10_1Plus);
    cfg.uuid = Some([0; 16]); // a destination started without -uuid
    let mut c = Classifier::new(cfg).unwrap();
    for (tag, head) in &conns {
        let r = c.classify(&head[..64]);
        if tag == "main" {
            assert_eq!(r, Ok(Decision::Main));
        } else {
            assert_eq!(r.unwrap_err().code, ErrorCode::LegacyMultifdUuid, "{tag}");
        }
    }
}

/// A whole recorded return path through accord's decoder, each message
/// re-encoded and compared with its bytes.
fn decode_re_encode<'a>(scenario: &str, full: &'a [u8]) -> Vec<RpMessage<'a>> {
    let mut off = 0;
    let mut msgs = Vec::new();
    let mut buf = [0u8; 600];
    while off < full.len() {
        let (m, used) = match RpMessage::decode(&full[off..]) {
            Ok(Parsed::Done(m, used)) => (m, used),
            other => panic!("{scenario} at {off}: {other:?}"),
        };
        let k = m.encode(&mut buf).unwrap();
        assert_eq!(&buf[..k], &full[off..off + used], "{scenario} at {off}");
        msgs.push(m);
        off += used;
    }
    msgs
}

#[test]
fn the_recorded_return_paths_decode_and_re_encode_byte_for_byte() {
    for scenario in ["multifd", "postcopy-preempt"] {
        let full = read(scenario, "conn00-main-d2s-full.bin");
        assert!(decode_re_encode(scenario, &full).len() >= 3);
    }
}

// ---------------------------------------------------------------------------
// QEMU 10.2.2 captures (`qemu10.2-*`, recorded by tests/qemu_10_2.rs)

const QEMU_10_2: [&str; 2] = [
    "qemu10.2-multifd-postcopy-preempt",
    "qemu10.2-postcopy-preempt",
];

/// The main stream's longest kept prefix of a scenario.
fn main_head(scenario: &str) -> Vec<u8> {
    let full = dir(scenario).join("conn00-main-s2d-full.bin");
    if full.is_file() {
        read(scenario, "conn00-main-s2d-full.bin")
    } else {
        read(scenario, "conn00-main-s2d-40k.bin")
    }
}

#[test]
fn qemu_10_2_captures_are_named_by_the_10_1_rules_in_arrival_order() {
    for scenario in QEMU_10_2 {
        let conns = connections(scenario);
        let multifd = scenario.contains("multifd");
        assert_eq!(conns.len(), if multifd { 6 } else { 2 }, "{scenario}");
        assert_eq!(conns[0].0, "main");
        assert_eq!(conns.last().unwrap().0, "preempt");
        let mut c = Classifier::new(config(scenario, Family::Qemu10_1Plus)).unwrap();
        for (tag, head) in &conns {
            let (d, read) = classify(&mut c, head);
            assert_eq!(&tag_of(d), tag, "{scenario}");
            let want = match d {
                Decision::Main => 4,
                Decision::Multifd { .. } => 64,
                _ => 0,
            };
            assert_eq!(read, want, "{scenario} {tag}");
        }
        assert!(c.is_complete(), "{scenario}");
        if multifd {
            // QEMU 8.1 to 10.0 refuse this combination up front.
            let e = Classifier::new(config(scenario, Family::Qemu8_0To10_0)).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidArgument);
        }
    }
}

#[test]
fn qemu_10_2_packages_end_with_ping_0x42_then_postcopy_run() {
    for scenario in QEMU_10_2 {
        let main = main_head(scenario);
        check_main_start_of(&main, b"pc-q35-10.2");
        let pkg = find_command(&main, 7, 4);
        assert_eq!(pkg.len(), 1, "{scenario}: one PACKAGED");
        let start = pkg[0] + 9;
        let end = start + be32_at(&main, pkg[0] + 5).unwrap() as usize;
        assert!(
            end <= main.len(),
            "{scenario}: the fixture keeps the whole package"
        );
        assert_eq!(
            find_command(&main, 4, 0),
            [start],
            "POSTCOPY_LISTEN opens it"
        );
        let run = find_command(&main, 5, 0);
        assert_eq!(run, [end - 5], "{scenario}: POSTCOPY_RUN closes it");
        // ... right after PING 0x42, itself right after PING 3.
        let ping = |v: u32| {
            let mut b = vec![0x08, 0, 2, 0, 4];
            b.extend_from_slice(&v.to_be_bytes());
            b
        };
        assert_eq!(
            &main[run[0] - 9..run[0]],
            ping(0x42).as_slice(),
            "{scenario}"
        );
        assert_eq!(
            &main[run[0] - 18..run[0] - 9],
            ping(3).as_slice(),
            "{scenario}"
        );
    }
}

#[test]
fn qemu_10_2_return_paths_decode_re_encode_and_answer_ping_0x42() {
    for scenario in QEMU_10_2 {
        let full = read(scenario, "conn00-main-d2s-full.bin");
        let msgs = decode_re_encode(scenario, &full);
        let mut pongs: Vec<u32> = msgs
            .iter()
            .filter_map(|m| match m {
                RpMessage::Pong(v) => Some(*v),
                _ => None,
            })
            .collect();
        pongs.sort();
        assert_eq!(pongs, [1, 2, 3, 4, 0x42], "{scenario}");
        assert_eq!(msgs.last(), Some(&RpMessage::Shut(0)), "{scenario}");
    }
}
