//! Two real QEMU 10.x processes migrate through the recording relay.
//!
//! Needs `qemu-system-x86_64` 10.x (`sudo bash scripts/install-qemu.sh`);
//! without it these tests FAIL, they are never skipped. Captures go to
//! `target/tmp/qemu-migrate/<scenario>/` and a summary is printed (run with
//! `--nocapture` to see it). With `ACCORD_INTEROP_UPDATE_FIXTURES=1` the
//! captures also replace `interop/fixtures/<scenario>/`.

use std::fs;
use std::path::PathBuf;

use interop::relay::Channel;
use interop::scenario::{run, Outcome, Scenario};
use interop::wire::{
    be32_at, decode_return_path, parse_multifd_init, summarize_return_path, StandInClassifier,
    MULTIFD_MAGIC, MULTIFD_VERSION, QEVM_MAGIC, QEVM_VERSION,
};

fn capture_dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("qemu-migrate")
        .join(name)
}

/// With `ACCORD_INTEROP_UPDATE_FIXTURES=1`, copy the scenario's capture
/// files (heads, whole return path, summary) into `interop/fixtures/`.
fn maybe_update_fixtures(out: &Outcome) {
    if std::env::var_os("ACCORD_INTEROP_UPDATE_FIXTURES").is_none() {
        return;
    }
    let dest = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(out.name);
    let _ = fs::remove_dir_all(&dest);
    fs::create_dir_all(&dest).unwrap();
    for entry in fs::read_dir(&out.capture_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(stem) = name.strip_suffix("-s2d-full.bin") {
            // Capped at FIXTURE_MAIN_BYTES by `migrate`.
            fs::copy(&path, dest.join(format!("{stem}-s2d-40k.bin"))).unwrap();
        } else if name == "connections.txt" || name.ends_with(".bin") {
            fs::copy(&path, dest.join(&name)).unwrap();
        }
    }
    fs::write(dest.join("qemu-version.txt"), format!("{}\n", out.qemu)).unwrap();
    println!("fixtures updated in {}", dest.display());
}

/// How much of the main stream the fixtures keep (enough for the whole
/// postcopy PACKAGED blob).
const FIXTURE_MAIN_BYTES: usize = 40 * 1024;

fn migrate(mut sc: Scenario) -> Outcome {
    if std::env::var_os("ACCORD_INTEROP_UPDATE_FIXTURES").is_some() {
        sc.full_main_s2d = FIXTURE_MAIN_BYTES;
    }
    let hook = StandInClassifier::new(sc.multifd_channels, sc.preempt());
    let dir = capture_dir(sc.name);
    let out = match run(&sc, Box::new(hook), &dir) {
        Ok(o) => o,
        Err(e) => panic!("scenario {} failed: {e}", sc.name),
    };
    println!("{}", out.report());
    maybe_update_fixtures(&out);
    out
}

/// Checks shared by both scenarios: connection count, the main channel's
/// header, and a return path that parses and carries SWITCHOVER_ACK.
fn common_checks(sc: &Scenario, out: &Outcome) {
    let recs = &out.records;
    assert_eq!(
        recs.len(),
        sc.expected_connections(),
        "connection count for {}:\n{}",
        sc.name,
        out.summary
    );
    for r in recs {
        assert!(
            r.error.is_none(),
            "connection #{} failed: {:?}",
            r.index,
            r.error
        );
    }
    // The first connection is the main channel.
    let main = &recs[0];
    assert_eq!(main.channel, Some(Channel::Main), "{}", out.summary);
    assert_eq!(be32_at(&main.s2d.head, 0), Some(QEVM_MAGIC));
    assert_eq!(be32_at(&main.s2d.head, 4), Some(QEVM_VERSION));

    // Every non-preempt channel opens with a magic; exactly one is main.
    for r in recs {
        if r.channel == Some(Channel::Preempt) {
            continue;
        }
        let magic = be32_at(&r.s2d.head, 0);
        assert!(
            magic == Some(QEVM_MAGIC) || magic == Some(MULTIFD_MAGIC),
            "connection #{} starts with {:02x?}",
            r.index,
            &r.s2d.head[..r.s2d.head.len().min(8)]
        );
    }
    let mains = recs
        .iter()
        .filter(|r| be32_at(&r.s2d.head, 0) == Some(QEVM_MAGIC))
        .count();
    assert_eq!(mains, 1, "exactly one main channel");

    // The return path: only the main channel talks back, in valid
    // messages, and the destination acked the switchover.
    let full = main.d2s.full.as_deref().unwrap_or(&[]);
    assert_eq!(full.len() as u64, main.d2s.total, "whole return path kept");
    let msgs = decode_return_path(full).unwrap_or_else(|e| panic!("return path: {e}"));
    println!(
        "{}: return path ({} bytes, {} messages): {}",
        sc.name,
        full.len(),
        msgs.len(),
        summarize_return_path(&msgs)
    );
    assert!(
        msgs.iter().any(|m| m.kind == 7 && m.payload.is_empty()),
        "no SWITCHOVER_ACK on the return path"
    );
    assert!(
        msgs.iter().any(|m| m.kind == 2),
        "no PONG on the return path"
    );
    for r in &recs[1..] {
        assert_eq!(
            r.d2s.total, 0,
            "destination sent bytes on non-main connection #{}",
            r.index
        );
    }
    assert!(out.saw("completed"));
}

#[test]
fn multifd_switchover_ack() {
    let sc = Scenario::multifd();
    let out = migrate(sc.clone());
    common_checks(&sc, &out);
    let mut ids = Vec::new();
    for r in &out.records[1..] {
        let h = parse_multifd_init(&r.s2d.head).expect("64-byte multifd header");
        assert_eq!(h.magic, MULTIFD_MAGIC);
        assert_eq!(h.version, MULTIFD_VERSION);
        assert_eq!(r.channel, Some(Channel::Multifd { id: Some(h.id) }));
        ids.push(h.id);
    }
    ids.sort();
    assert_eq!(ids, vec![0, 1, 2, 3], "multifd ids");
}

#[test]
fn postcopy_preempt_switchover_ack() {
    let sc = Scenario::postcopy_preempt();
    let out = migrate(sc.clone());
    common_checks(&sc, &out);
    assert!(
        out.saw("postcopy-active"),
        "the migration never entered postcopy: {:?}",
        out.statuses
    );
    let pre = &out.records[1];
    assert_eq!(pre.channel, Some(Channel::Preempt));
    assert_eq!(
        pre.peeked, 0,
        "the preempt channel must be named without reading"
    );
    // The preempt channel is connected after the source has received the
    // first PONG on the return path (QEMU 8.0+ sources).
    let main = &out.records[0];
    let msgs = decode_return_path(main.d2s.full.as_deref().unwrap_or(&[])).unwrap();
    let pong = msgs.iter().find(|m| m.kind == 2).expect("a PONG");
    let pong_at = main.d2s.time_of(pong.offset).expect("PONG time");
    assert!(
        pre.arrived_after >= pong_at,
        "preempt connected at {:?}, before the first PONG passed at {:?}",
        pre.arrived_after,
        pong_at
    );
    println!(
        "postcopy-preempt: first PONG passed at {:.1}ms, preempt connected at {:.1}ms",
        pong_at.as_secs_f64() * 1e3,
        pre.arrived_after.as_secs_f64() * 1e3
    );
}
