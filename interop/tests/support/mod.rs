//! Shared by the interop tests that migrate real QEMU processes
//! (`qemu_migrate.rs` for the distribution's QEMU 10.0, `qemu_10_2.rs` for
//! a stock 10.2.2 build): run a scenario through the recording relay with
//! accord's legacy classifier as its identification hook, then check the
//! captures against ground truth taken independently of accord-core.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use accord_core::legacy::{
    Command, Decision, Family, LegacyConfig, Parsed, RpMessage, StreamHeader,
};
use accord_inspect::{inspect, End, Item, StreamKind};
use interop::legacy::{LegacyIdentify, Step};
use interop::relay::{Channel, ConnRecord};
use interop::scenario::{run, run_with, uuid_bytes, Outcome, Scenario, VM_UUID};
use interop::wire::{
    be32_at, decode_return_path, parse_multifd_init, MULTIFD_MAGIC, MULTIFD_VERSION, QEVM_MAGIC,
    QEVM_VERSION,
};

pub fn capture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("qemu-migrate")
        .join(name)
}

/// How much of a long main stream the fixtures keep (enough for the whole
/// postcopy PACKAGED blob).
pub const FIXTURE_MAIN_BYTES: usize = 40 * 1024;
/// A main stream up to this size is kept whole (the precopy one, ~75 KiB).
pub const FIXTURE_MAIN_WHOLE: usize = 128 * 1024;

/// With `ACCORD_INTEROP_UPDATE_FIXTURES=1`, copy the scenario's capture
/// files (heads, whole return path, the main stream whole when it is small
/// or else its first 40 KiB, summary) into `interop/fixtures/`.
pub fn maybe_update_fixtures(out: &Outcome, fixture_dir: &str) {
    if std::env::var_os("ACCORD_INTEROP_UPDATE_FIXTURES").is_none() {
        return;
    }
    let dest = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(fixture_dir);
    let _ = fs::remove_dir_all(&dest);
    fs::create_dir_all(&dest).unwrap();
    for entry in fs::read_dir(&out.capture_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix("-s2d-full.bin") {
            let b = fs::read(&path).unwrap();
            let whole = b.len() as u64 == out.records[0].s2d.total;
            if whole && b.len() <= FIXTURE_MAIN_WHOLE {
                fs::write(dest.join(&name), &b).unwrap();
            } else {
                let n = b.len().min(FIXTURE_MAIN_BYTES);
                fs::write(dest.join(format!("{stem}-s2d-40k.bin")), &b[..n]).unwrap();
            }
        } else if name == "connections.txt" || name.ends_with(".bin") {
            fs::copy(&path, dest.join(&name)).unwrap();
        }
    }
    fs::write(dest.join("qemu-version.txt"), format!("{}\n", out.qemu)).unwrap();
    println!("fixtures updated in {}", dest.display());
}

/// The classifier's configuration for a scenario: a QEMU 10.1+
/// destination with the scenario's capabilities, plain sockets, and the
/// uuid both QEMUs were given.
pub fn legacy_config(sc: &Scenario) -> LegacyConfig {
    LegacyConfig {
        family: Family::Qemu10_1Plus,
        multifd_channels: sc.multifd_channels as u8,
        postcopy_ram: sc.capabilities.contains(&"postcopy-ram"),
        postcopy_preempt: sc.preempt(),
        preempt_pre_7_2: false,
        peekable: true,
        uuid: Some(uuid_bytes(sc.uuid.expect("scenarios set a uuid")).unwrap()),
    }
}

pub fn migrate(sc: &Scenario) -> (Outcome, Vec<Step>) {
    migrate_on(sc, None, sc.name)
}

/// Run `sc` on `qemu` (binary and extra arguments; the distribution's QEMU
/// when `None`), captures under `target/tmp/qemu-migrate/<fixture_dir>/`,
/// fixtures (when asked for) into `interop/fixtures/<fixture_dir>/`.
pub fn migrate_on(
    sc: &Scenario,
    qemu: Option<(&Path, &[&str])>,
    fixture_dir: &str,
) -> (Outcome, Vec<Step>) {
    let (hook, steps) = LegacyIdentify::new(legacy_config(sc)).expect("classifier config");
    let dir = capture_dir(fixture_dir);
    let r = match qemu {
        Some((bin, extra)) => run_with(sc, bin, extra, Box::new(hook), &dir),
        None => run(sc, Box::new(hook), &dir),
    };
    let out = match r {
        Ok(o) => o,
        Err(e) => panic!("scenario {} failed: {e}", sc.name),
    };
    println!("{}", out.report());
    maybe_update_fixtures(&out, fixture_dir);
    let steps = steps.lock().unwrap().clone();
    (out, steps)
}

/// What a connection is, from its capture alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Truth {
    Main,
    Multifd(u8),
    Preempt,
    Unexplained(String),
}

/// Ground truth for every connection, derived from the captures with the
/// independent parsers of `interop::wire` (not accord-core's).
pub fn ground_truth(out: &Outcome) -> Vec<Truth> {
    let vm_uuid = uuid_bytes(VM_UUID).unwrap();
    let main = &out.records[0];
    let rp = decode_return_path(main.d2s.full.as_deref().unwrap_or(&[]))
        .unwrap_or_else(|e| panic!("return path (independent parser): {e}"));
    let first_pong = rp
        .iter()
        .find(|m| m.kind == 2)
        .and_then(|m| main.d2s.time_of(m.offset));
    out.records
        .iter()
        .map(|r| match be32_at(&r.s2d.head, 0) {
            Some(QEVM_MAGIC) => {
                assert_eq!(be32_at(&r.s2d.head, 4), Some(QEVM_VERSION));
                Truth::Main
            }
            Some(MULTIFD_MAGIC) => {
                let h = parse_multifd_init(&r.s2d.head).expect("a 64-byte MultiFDInit_t");
                assert_eq!(h.version, MULTIFD_VERSION);
                assert_eq!(h.uuid, vm_uuid, "the multifd header carries -uuid");
                Truth::Multifd(h.id)
            }
            _ => match first_pong {
                Some(t) if r.arrived_after >= t => Truth::Preempt,
                _ => Truth::Unexplained(format!(
                    "#{} starts {:02x?}, arrived at {:?}, first PONG at {first_pong:?}",
                    r.index,
                    &r.s2d.head[..r.s2d.head.len().min(8)],
                    r.arrived_after
                )),
            },
        })
        .collect()
}

pub fn named(c: &Option<Channel>) -> Truth {
    match c {
        Some(Channel::Main) => Truth::Main,
        Some(Channel::Multifd { id: Some(id) }) => Truth::Multifd(*id),
        Some(Channel::Preempt) => Truth::Preempt,
        other => Truth::Unexplained(format!("{other:?}")),
    }
}

pub fn tag(t: &Truth) -> String {
    match t {
        Truth::Main => "main".into(),
        Truth::Multifd(id) => format!("multifd{id}"),
        Truth::Preempt => "preempt".into(),
        Truth::Unexplained(s) => format!("?({s})"),
    }
}

/// The classifier named every connection as the captures say, peeking
/// exactly what it asked for; returns the arrival order.
pub fn check_identification(sc: &Scenario, out: &Outcome, steps: &[Step]) -> Vec<String> {
    let recs: &[ConnRecord] = &out.records;
    assert_eq!(
        recs.len(),
        sc.expected_connections(),
        "connection count for {}:\n{}",
        sc.name,
        out.summary
    );
    let truth = ground_truth(out);
    for (r, t) in recs.iter().zip(&truth) {
        assert!(
            r.error.is_none(),
            "connection #{} failed: {:?}",
            r.index,
            r.error
        );
        assert_eq!(
            &named(&r.channel),
            t,
            "connection #{}: the classifier said {:?}, the capture says {t:?}\n{}",
            r.index,
            r.channel,
            out.summary
        );
        assert_eq!(
            r.parks, 0,
            "no connection is parked without x-preempt-pre-7-2"
        );
        let own: Vec<&Step> = steps.iter().filter(|s| s.index == r.index).collect();
        assert!(!own.is_empty(), "#{} never reached the classifier", r.index);
        let last = own.last().unwrap();
        match t {
            Truth::Main => {
                assert_eq!(own[0].needed, 4, "main is told by its magic");
                assert_eq!(last.answer, Ok(Decision::Main));
                assert_eq!(r.peeked, 4, "main: 4 bytes peeked, no more");
            }
            Truth::Multifd(id) => {
                assert_eq!(own[0].needed, 4);
                assert_eq!(own[0].answer, Ok(Decision::NeedMore(64)));
                assert_eq!(last.answer, Ok(Decision::Multifd { id: *id }));
                assert_eq!(r.peeked, 64, "multifd: its 64-byte header, no more");
            }
            Truth::Preempt => {
                assert_eq!(own.len(), 1);
                assert_eq!(own[0].needed, 0, "preempt is decided from state alone");
                assert_eq!(own[0].given, 0);
                assert_eq!(last.answer, Ok(Decision::Preempt));
                assert_eq!(r.peeked, 0, "not one byte read from the preempt channel");
            }
            Truth::Unexplained(s) => panic!("unexplained connection: {s}"),
        }
    }
    let mut expected: Vec<Truth> = vec![Truth::Main];
    expected.extend((0..sc.multifd_channels as u8).map(Truth::Multifd));
    if sc.preempt() {
        expected.push(Truth::Preempt);
    }
    let mut got = truth.clone();
    let key = |t: &Truth| tag(t);
    got.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(got, expected, "the channel set");
    truth.iter().map(tag).collect()
}

/// The whole return path through accord's decoder, every message
/// re-encoded and compared with the capture.
pub fn check_return_path(out: &Outcome) -> Vec<RpMessage<'_>> {
    let main = &out.records[0];
    let full = main.d2s.full.as_deref().unwrap_or(&[]);
    assert_eq!(
        full.len() as u64,
        main.d2s.total,
        "the whole return path was kept"
    );
    let mut msgs = Vec::new();
    let mut off = 0;
    let mut buf = [0u8; 600];
    while off < full.len() {
        match RpMessage::decode(&full[off..]) {
            Ok(Parsed::Done(m, n)) => {
                let k = m
                    .encode(&mut buf)
                    .unwrap_or_else(|e| panic!("re-encoding {m:?}: {e}"));
                assert_eq!(
                    &buf[..k],
                    &full[off..off + n],
                    "message #{} at offset {off} does not re-encode to its bytes",
                    msgs.len()
                );
                msgs.push(m);
                off += n;
            }
            Ok(Parsed::Incomplete(k)) => {
                panic!("the return path ends inside a message at {off}: {k} bytes missing")
            }
            Err(e) => panic!("accord refuses the return path at offset {off}: {e}"),
        }
    }
    for r in &out.records[1..] {
        assert_eq!(
            r.d2s.total, 0,
            "destination sent bytes on non-main connection #{}",
            r.index
        );
    }
    msgs
}

pub fn rp_counts(msgs: &[RpMessage<'_>]) -> String {
    let mut c: BTreeMap<&str, usize> = BTreeMap::new();
    for m in msgs {
        *c.entry(m.rp_type().name()).or_default() += 1;
    }
    c.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn pongs(msgs: &[RpMessage<'_>]) -> Vec<u32> {
    msgs.iter()
        .filter_map(|m| match m {
            RpMessage::Pong(v) => Some(*v),
            _ => None,
        })
        .collect()
}

/// The source's main stream: header by accord-core, then accord-inspect's
/// walk, which decodes every command with accord-core. Returns the walk's
/// commands, how it ended, whether the stream was kept whole, and how many
/// whole RAM pages the walk went through.
pub fn main_stream(out: &Outcome) -> (Vec<Item>, End, bool, u64) {
    let main = &out.records[0];
    let s2d = main.s2d.full.as_deref().expect("the main stream was kept");
    assert!(matches!(StreamHeader::decode(s2d), Ok(Parsed::Done(_, 8))));
    let whole = s2d.len() as u64 == main.s2d.total;
    let r = inspect(s2d, Some(StreamKind::QemuMain));
    if let End::Malformed {
        offset,
        error,
        what,
    } = &r.end
    {
        panic!("accord refuses the main stream at {offset}: {error} ({what})");
    }
    let cmds: Vec<Item> = r.of_kind("command").cloned().collect();
    for c in &cmds {
        let d = Command::decode(&s2d[c.offset..]).unwrap().done().unwrap();
        assert_eq!(d.command_type().name(), c.name);
    }
    let pages = r
        .of_kind("ram")
        .filter(|i| i.name == "PAGE")
        .map(|i| i.fields["count"].as_u64().unwrap())
        .sum();
    (cmds, r.end, whole, pages)
}

pub fn names_depths(cmds: &[Item]) -> Vec<(&str, usize)> {
    cmds.iter().map(|c| (c.name.as_str(), c.depth)).collect()
}

pub fn ping_values(cmds: &[Item]) -> Vec<u32> {
    cmds.iter()
        .filter(|c| c.name == "PING")
        .map(|c| c.fields["value"].as_u64().unwrap() as u32)
        .collect()
}

pub fn check_completed(out: &Outcome) {
    for (side, info) in [
        ("source", &out.source_info),
        ("destination", &out.dest_info),
    ] {
        assert_eq!(
            info.get("status").and_then(|s| s.as_str()),
            Some("completed"),
            "{side} query-migrate: {info}"
        );
    }
}
