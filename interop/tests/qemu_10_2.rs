//! Two stock QEMU 10.2.2 processes (the build of `scripts/qemu.sh`, its
//! `accord` capability left off, so QEMU's own bytes) migrate through the
//! recording relay, whose identification hook is accord's legacy
//! classifier in the 10.1+ family. The checks are those of
//! `qemu_migrate.rs` (naming against ground truth, the whole return path
//! decoded and re-encoded byte for byte, the main stream walked), plus what
//! 10.2 adds (docs/LEGACY.md §7): PING 0x42 last in the postcopy package
//! and its PONG, the `postcopy-device` state, and the `ram` PART section
//! that `save_postcopy_prepare` writes before the switch.
//!
//! (c) multifd x4 + postcopy-ram + postcopy-preempt together: refused by
//! 10.0, legal since 10.1, otherwise tested with fake connections only.
//! (d) postcopy-ram + postcopy-preempt, the 10.0 scenario (b) on 10.2.
//!
//! The binary comes from `ACCORD_QEMU_PATCHED` (absolute path, as printed
//! by `bash scripts/qemu.sh | tail -n1`). Without it these tests FAIL,
//! they are never skipped. With `ACCORD_INTEROP_UPDATE_FIXTURES=1` the
//! captures replace `interop/fixtures/qemu10.2-<scenario>/`.

mod support;

use std::path::PathBuf;

use accord_core::legacy::stream::PING_PACKAGED_LOADED;
use accord_core::legacy::RpMessage;
use accord_inspect::{inspect, End, Item, StreamKind};
use interop::qemu::qemu_version;
use interop::scenario::Scenario;
use support::*;

/// Environment variable naming the QEMU 10.2.2 binary.
const PATCHED_ENV: &str = "ACCORD_QEMU_PATCHED";

/// Firmware for a binary built without its blobs (`--disable-install-blobs`):
/// the distribution's SeaBIOS and QEMU data, as `scripts/install-qemu.sh`
/// installs them.
const FIRMWARE: [&str; 4] = ["-L", "/usr/share/seabios", "-L", "/usr/share/qemu"];

fn qemu_10_2() -> PathBuf {
    let p = std::env::var_os(PATCHED_ENV).unwrap_or_else(|| {
        panic!(
            "{PATCHED_ENV} is not set: build QEMU 10.2.2 with `bash scripts/qemu.sh` and \
             export {PATCHED_ENV}=\"$(bash scripts/qemu.sh | tail -n1)\""
        )
    });
    let p = PathBuf::from(p);
    assert!(p.is_file(), "{PATCHED_ENV}={} is not a file", p.display());
    let (v, line) = qemu_version(&p).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        (v.0, v.1),
        (10, 2),
        "{PATCHED_ENV} is {line:?}, not QEMU 10.2"
    );
    p
}

fn migrate_10_2(sc: &Scenario) -> (interop::scenario::Outcome, Vec<interop::legacy::Step>) {
    let bin = qemu_10_2();
    migrate_on(
        sc,
        Some((&bin, &FIRMWARE)),
        &format!("qemu10.2-{}", sc.name),
    )
}

/// What 10.2 puts around the switch to postcopy, checked on the walked main
/// stream: the commands in order (RAM_DISCARDs left out), and the `ram`
/// PART section just before SWITCHOVER_START with the records `prepare`
/// lists (`save_postcopy_prepare`).
fn check_postcopy_main_stream(s2d: &[u8], prepare: &[&str]) -> Vec<(String, usize)> {
    let r = inspect(s2d, Some(StreamKind::QemuMain));
    assert!(
        !matches!(r.end, End::Malformed { .. }),
        "accord refuses the main stream: {:?}",
        r.end
    );
    let cmds: Vec<&Item> = r.of_kind("command").collect();
    let flat: Vec<(String, usize)> = cmds
        .iter()
        .filter(|c| c.name != "POSTCOPY_RAM_DISCARD")
        .map(|c| (c.name.clone(), c.depth))
        .collect();
    let want: Vec<(String, usize)> = [
        ("OPEN_RETURN_PATH", 0),
        ("PING", 0),
        ("POSTCOPY_ADVISE", 0),
        ("SWITCHOVER_START", 0),
        ("PING", 0),
        ("PACKAGED", 0),
        ("POSTCOPY_LISTEN", 1),
        ("PING", 1),
        ("PING", 1),
        ("POSTCOPY_RUN", 1),
        ("PING", 0),
    ]
    .iter()
    .map(|(n, d)| (n.to_string(), *d))
    .collect();
    assert_eq!(flat, want);
    let pings: Vec<u64> = cmds
        .iter()
        .filter(|c| c.name == "PING")
        .map(|c| c.fields["value"].as_u64().unwrap())
        .collect();
    assert_eq!(
        pings,
        [1, 2, 3, u64::from(PING_PACKAGED_LOADED), 4],
        "PING 0x42 after PING 3, inside the package"
    );

    // The item just before SWITCHOVER_START at depth 0 is the prepare PART.
    let sw = r
        .items
        .iter()
        .position(|i| i.kind == "command" && i.name == "SWITCHOVER_START")
        .unwrap();
    let part = r.items[..sw]
        .iter()
        .rposition(|i| i.kind == "section" && i.depth == 0)
        .expect("a section before SWITCHOVER_START");
    let sec = &r.items[part];
    assert_eq!(
        (sec.name.as_str(), sec.fields["idstr"].as_str()),
        ("PART", Some("ram")),
        "save_postcopy_prepare's section: {sec:?}"
    );
    let records: Vec<&str> = r.items[part + 1..sw]
        .iter()
        .filter(|i| i.kind == "ram")
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(records, prepare, "the prepare PART's body");
    flat
}

/// The return path of a 10.2 postcopy migration: one SWITCHOVER_ACK (no
/// device needs it, so it comes with OPEN_RETURN_PATH; 11.1 may send more),
/// PONGs 1, 2, 3, 4 and 0x42, page requests, SHUT 0 last.
fn check_postcopy_return_path(msgs: &[RpMessage<'_>]) {
    assert_eq!(msgs[0], RpMessage::SwitchoverAck, "SWITCHOVER_ACK first");
    let acks = msgs
        .iter()
        .filter(|m| **m == RpMessage::SwitchoverAck)
        .count();
    assert_eq!(acks, 1, "10.2 acks once per migration");
    assert_eq!(msgs.last(), Some(&RpMessage::Shut(0)), "SHUT(0) last");
    let mut p = pongs(msgs);
    p.sort();
    assert_eq!(p, [1, 2, 3, 4, PING_PACKAGED_LOADED]);
}

fn check_postcopy_states(out: &interop::scenario::Outcome) {
    assert!(
        out.saw("postcopy-active"),
        "the migration never entered postcopy: {:?}",
        out.statuses
    );
    let src: Vec<&str> = out
        .statuses
        .iter()
        .filter(|s| s.side == interop::qemu::Side::Source)
        .map(|s| s.status.as_str())
        .collect();
    let dev = src.iter().position(|s| *s == "postcopy-device");
    let act = src.iter().position(|s| *s == "postcopy-active");
    assert!(
        matches!((dev, act), (Some(d), Some(a)) if d < a),
        "the source goes postcopy-device, then postcopy-active on PONG 0x42: {src:?}"
    );
}

#[test]
fn multifd_postcopy_preempt_together_on_qemu_10_2() {
    let sc = Scenario::multifd_postcopy_preempt();
    let (out, steps) = migrate_10_2(&sc);
    check_postcopy_states(&out);
    let order = check_identification(&sc, &out, &steps);
    assert_eq!(order[0], "main", "the source connects main first");
    assert_eq!(order.last().map(String::as_str), Some("preempt"));

    let msgs = check_return_path(&out);
    check_postcopy_return_path(&msgs);

    let main = &out.records[0];
    let s2d = main.s2d.full.as_deref().expect("the main stream was kept");
    // With multifd, the prepare section flushes and syncs the channels.
    let flat = check_postcopy_main_stream(s2d, &["MULTIFD_FLUSH", "EOS"]);

    // The preempt channel is a bare page stream, detected as such.
    let pre = out.records.last().unwrap();
    let r = inspect(&pre.s2d.head, None);
    assert_eq!(r.stream, StreamKind::Preempt);
    check_completed(&out);
    println!(
        "qemu 10.2 multifd+postcopy+preempt: arrival order {}; return path {} bytes ({}); commands {:?}",
        order.join(" "),
        main.d2s.total,
        rp_counts(&msgs),
        flat
    );
}

#[test]
fn postcopy_package_carries_ping_0x42_on_qemu_10_2() {
    let sc = Scenario::postcopy_preempt();
    let (out, steps) = migrate_10_2(&sc);
    check_postcopy_states(&out);
    let order = check_identification(&sc, &out, &steps);
    assert_eq!(order, ["main", "preempt"]);

    let msgs = check_return_path(&out);
    check_postcopy_return_path(&msgs);

    let main = &out.records[0];
    let s2d = main.s2d.full.as_deref().expect("the main stream was kept");
    // Without multifd, the prepare section is EOS alone.
    let flat = check_postcopy_main_stream(s2d, &["EOS"]);
    check_completed(&out);
    println!(
        "qemu 10.2 postcopy+preempt: arrival order {}; return path {} bytes ({}); commands {:?}",
        order.join(" "),
        main.d2s.total,
        rp_counts(&msgs),
        flat
    );
}
