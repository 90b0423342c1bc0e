//! Real QEMU with accord's patch series (qemu/*.patch, built by
//! scripts/qemu.sh), driven over QMP: a tiny `-M q35 -nodefaults` VM on
//! TCG, no disk, migrating over loopback, through the interop relay where
//! arrival order or faults matter. The contract the series implements is
//! the `accord` migration capability, the `accord-testdev` device and the
//! `accord_*` trace events (QEMU's `log` backend, read from stderr).
//!
//! Needs `ACCORD_QEMU_PATCHED` (the patched qemu-system-x86_64; the
//! README's test command exports it from scripts/qemu.sh) and, for the
//! tests against an old peer, Debian's stock QEMU 10.0 in /usr/bin
//! (scripts/install-qemu.sh; `ACCORD_QEMU_STOCK` overrides). Without them
//! these tests FAIL; they are never skipped. Logs go to
//! `target/tmp/qemu-accord/<test>/`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use interop::live::{
    accord_error, patched_qemu, preamble, role_name, stock_qemu, Pair, Seen, SideSpec, Trace,
};
use interop::relay::{Arrival, Channel, ConnRecord, Identify, RelayConfig, Verdict};
use serde_json::{json, Value};

/// The source's Welcome deadline (PROTOCOL.md §7.4) and the destination's
/// all-channels deadline; the source's own channels deadline is longer.
const WELCOME_DEADLINE: Duration = Duration::from_secs(5);
const DST_CHANNELS_DEADLINE: Duration = Duration::from_secs(10);
const SRC_CHANNELS_DEADLINE: Duration = Duration::from_secs(15);
/// The machine type both QEMU 10.0 and 10.2 know, for migrations
/// between them (a later `-machine` overrides the spawner's `-M q35`).
const OLD_MACHINE: &str = "pc-q35-10.0";
/// Scheduling slack on a loaded 2-core machine, added to every deadline.
const SLACK: Duration = Duration::from_millis(1500);
/// A migration of the tiny guest that should complete takes seconds.
const COMPLETES_WITHIN: Duration = Duration::from_secs(90);

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("qemu-accord")
        .join(name)
}

fn patched() -> PathBuf {
    patched_qemu().unwrap_or_else(|e| panic!("{e}"))
}

fn stock() -> PathBuf {
    stock_qemu().unwrap_or_else(|e| panic!("{e}"))
}

/// A patched side with accord's trace events on.
fn patched_side() -> SideSpec {
    SideSpec::new(&patched()).traced()
}

/// A relay config; its target is filled in by `Pair::start`.
fn relay_cfg(connect_when_named: bool) -> RelayConfig {
    let mut cfg = RelayConfig::new(SocketAddr::from(([127, 0, 0, 1], 1)));
    cfg.connect_when_named = connect_when_named;
    cfg
}

/// What the hook named, in naming order: (arrival index, role, index, total).
type Named = Arc<Mutex<Vec<(usize, u8, u16, u16)>>>;

/// Names every connection by its accord preamble. Optionally holds every
/// multifd connection until all of them have arrived and releases them in
/// the reverse of their arrival order (with `connect_when_named`, the
/// destination then accepts them in that order), cuts one multifd channel,
/// or parks multifd channels while `hold` is set.
struct PreambleHook {
    shuffle: bool,
    cut_multifd: Option<u16>,
    hold: Arc<AtomicBool>,
    named: Named,
    /// Multifd arrivals seen so far, in arrival order.
    multifd_arrived: Vec<usize>,
    first_multifd: Option<Instant>,
    /// The release order, once every multifd channel has arrived.
    plan: Option<Vec<usize>>,
}

impl PreambleHook {
    fn new() -> (PreambleHook, Named, Arc<AtomicBool>) {
        let named: Named = Arc::default();
        let hold = Arc::new(AtomicBool::new(false));
        let hook = PreambleHook {
            shuffle: false,
            cut_multifd: None,
            hold: hold.clone(),
            named: named.clone(),
            multifd_arrived: Vec::new(),
            first_multifd: None,
            plan: None,
        };
        (hook, named, hold)
    }
}

impl Identify for PreambleHook {
    fn identify(&mut self, a: &mut Arrival<'_>) -> Verdict {
        let head = match a.peek(28, Duration::from_secs(2)) {
            Ok(b) => b.to_vec(),
            Err(e) => return Verdict::Named(Channel::Unknown(format!("peek: {e}"))),
        };
        let Some((role, _flags, index, total)) = preamble(&head) else {
            return Verdict::Named(Channel::Unknown(format!(
                "no accord preamble: {:02x?}",
                &head[..head.len().min(8)]
            )));
        };
        let channel = match role {
            0 => Channel::Main,
            1 => Channel::Multifd {
                id: u8::try_from(index).ok(),
            },
            2 => Channel::Preempt,
            r => Channel::Unknown(format!("role {r}")),
        };
        if role == 1 {
            if self.hold.load(Ordering::SeqCst) {
                return Verdict::Park;
            }
            if self.cut_multifd == Some(index) {
                self.named
                    .lock()
                    .unwrap()
                    .push((a.index(), role, index, total));
                return Verdict::Cut(channel);
            }
            if self.shuffle {
                if !self.multifd_arrived.contains(&a.index()) {
                    self.multifd_arrived.push(a.index());
                }
                let first = *self.first_multifd.get_or_insert_with(Instant::now);
                let all = self.multifd_arrived.len() >= usize::from(total);
                if self.plan.is_none() && (all || first.elapsed() > Duration::from_secs(3)) {
                    self.plan = Some(self.multifd_arrived.iter().rev().copied().collect());
                }
                match &mut self.plan {
                    None => return Verdict::Park,
                    Some(plan) if plan.first() == Some(&a.index()) => {
                        plan.remove(0);
                    }
                    Some(plan) if plan.contains(&a.index()) => return Verdict::Park,
                    Some(_) => {} // arrived after the plan: straight through
                }
            }
        }
        self.named
            .lock()
            .unwrap()
            .push((a.index(), role, index, total));
        Verdict::Named(channel)
    }
}

/// The trace events called `name`.
fn events<'a>(t: &'a [Trace], name: &str) -> Vec<&'a Trace> {
    t.iter().filter(|e| e.name == name).collect()
}

/// Position of the first event called `name` whose args contain `needle`.
fn position(t: &[Trace], name: &str, needle: &str) -> Option<usize> {
    t.iter()
        .position(|e| e.name == name && e.args.contains(needle))
}

/// Both sides failed with the same accord code and text, each within its
/// deadline; returns the code.
fn assert_same_named_failure(
    p: &Pair,
    s: &Seen,
    d: &Seen,
    src_within: Duration,
    dst_within: Duration,
) -> u32 {
    let ctx = || p.with_logs(format!("source {s:?}\ndestination {d:?}"));
    assert_eq!(s.status, "failed", "{}", ctx());
    assert_eq!(d.status, "failed", "{}", ctx());
    let se =
        accord_error(&s.desc).unwrap_or_else(|| panic!("source error is not accord's: {}", ctx()));
    let de = accord_error(&d.desc)
        .unwrap_or_else(|| panic!("destination error is not accord's: {}", ctx()));
    assert_eq!(se, de, "both sides end with the same verdict: {}", ctx());
    assert!(
        s.after <= src_within,
        "source failed after {:?}: {}",
        s.after,
        ctx()
    );
    assert!(
        d.after <= dst_within,
        "destination failed after {:?}: {}",
        d.after,
        ctx()
    );
    println!(
        "both sides failed with {} (source after {:?}, destination after {:?})",
        se.text, s.after, d.after
    );
    se.code
}

fn assert_source_keeps_running(p: &mut Pair) {
    let st = p.src.runstate();
    assert_eq!(
        st,
        "running",
        "{}",
        p.with_logs("the source VM stopped".into())
    );
}

fn both_terminal(s: &Seen, d: &Seen) -> bool {
    interop::live::terminal(&s.status) && interop::live::terminal(&d.status)
}

fn assert_completed(p: &Pair, s: &Seen, d: &Seen, ok: bool) {
    assert!(
        ok && s.status == "completed" && d.status == "completed",
        "{}",
        p.with_logs(format!("not completed: source {s:?}, destination {d:?}"))
    );
    println!("completed in {:?}", s.after.max(d.after));
}

/// The relay's connections with their preambles: (record, (role, index, total)).
fn preambles(records: &[ConnRecord]) -> Vec<(usize, u8, u16, u16)> {
    records
        .iter()
        .filter_map(|r| preamble(&r.s2d.head).map(|(role, _, i, t)| (r.index, role, i, t)))
        .collect()
}

fn dst_accord_only() -> SideSpec {
    patched_side().caps(&["accord"])
}

// ---------------------------------------------------------------------------
// Accord on, both sides patched: completes.

#[test]
fn accord_on_multifd_postcopy_offered_switchover_ack_two_devices_completes_in_order() {
    let src = patched_side()
        .testdev("id=dev-fast")
        .testdev("id=dev-slow")
        .caps(&[
            "accord",
            "events",
            "return-path",
            "multifd",
            "postcopy-ram",
            "postcopy-preempt",
            "switchover-ack",
        ])
        .params(json!({ "multifd-channels": 4 }));
    let dst = dst_accord_only()
        .testdev("id=dev-fast")
        .testdev("id=dev-slow,approve-delay-ms=300");
    let (mut hook, named, _) = PreambleHook::new();
    hook.shuffle = true;
    let mut p = start_through("accord-on-multifd", &src, &dst, hook, true);
    p.migrate().unwrap_or_else(|e| panic!("{e}"));
    let (s, d, ok) = p.wait(COMPLETES_WITHIN, both_terminal);
    assert_completed(&p, &s, &d, ok);

    // Channels: the main one and four multifd ones, each with its preamble,
    // released to the destination in the reverse of their arrival order.
    let records = p.relay.as_ref().unwrap().snapshot();
    let pre = preambles(&records);
    let ctx = p.with_logs(String::new());
    assert_eq!(pre.first().map(|x| x.1), Some(0), "main first: {ctx}");
    let multifd: Vec<_> = pre.iter().filter(|x| x.1 == 1).collect();
    let idx: BTreeSet<u16> = multifd.iter().map(|x| x.2).collect();
    assert_eq!(idx, (0..4).collect(), "four multifd channels: {ctx}");
    assert!(
        multifd.iter().all(|x| x.3 == 4),
        "total 4 in every preamble: {ctx}"
    );
    assert!(
        pre.iter().all(|x| x.1 <= 2),
        "only main, multifd and preempt roles: {ctx}"
    );
    let order: Vec<usize> = named
        .lock()
        .unwrap()
        .iter()
        .filter(|x| x.1 == 1)
        .map(|x| x.0)
        .collect();
    let arrival: Vec<usize> = multifd.iter().map(|x| x.0).collect();
    assert_ne!(order, arrival, "the relay shuffled the channels: {ctx}");

    let dt = p.dst.traces();
    let st = p.src.traces();
    // The destination named every multifd channel from its preamble.
    let named_dst: BTreeSet<String> = events(&dt, "accord_channel_named")
        .iter()
        .filter(|e| e.field("role") == Some("multifd"))
        .filter_map(|e| e.field("index").map(str::to_string))
        .collect();
    // ... whatever order they come in: the relay let them through shuffled
    // (asserted above), and the destination's main loop may read the
    // connections' first bytes in yet another order. Each is named by its
    // own preamble, so the names are the relay's set, in any order.
    let mut released: Vec<String> = named
        .lock()
        .unwrap()
        .iter()
        .filter(|x| x.1 == 1)
        .map(|x| x.2.to_string())
        .collect();
    let mut dst_order: Vec<&str> = events(&dt, "accord_channel_named")
        .iter()
        .filter(|e| e.field("role") == Some("multifd"))
        .filter_map(|e| e.field("index"))
        .collect();
    dst_order.sort_unstable();
    released.sort_unstable();
    assert_eq!(dst_order, released, "{dt:#?}");
    assert_eq!(
        named_dst.len(),
        4,
        "destination named 4 multifd channels: {dt:#?}"
    );
    assert!(!events(&dt, "accord_channels_ready").is_empty(), "{dt:#?}");
    for (side, t) in [("source", &st), ("destination", &dt)] {
        let v = events(t, "accord_verdict");
        assert!(
            v.iter().any(|e| e.field("code") == Some("0")),
            "{side} agreed: {t:#?}"
        );
    }
    assert_eq!(events(&st, "accord_hello_sent").len(), 1, "{st:#?}");

    // Approvals (the fast device first, the slow one ~300 ms later), one
    // ack, then the switchover.
    let fast = position(&dt, "accord_device_approve", "dev-fast").expect("dev-fast approved");
    let slow = position(&dt, "accord_device_approve", "dev-slow").expect("dev-slow approved");
    let ack = position(&dt, "accord_switchover_ack_sent", "").expect("ack sent");
    assert!(
        fast < slow && slow < ack,
        "approvals before the ack: {dt:#?}"
    );
    assert_eq!(
        events(&dt, "accord_switchover_ack_sent").len(),
        1,
        "{dt:#?}"
    );
    let (tf, ts) = (dt[fast].wall.unwrap(), dt[slow].wall.unwrap());
    assert!(
        ts - tf >= 0.2,
        "the slow device approved {:.3}s after the fast one",
        ts - tf
    );
    let got = events(&st, "accord_switchover_ack_received");
    assert_eq!(got.len(), 1, "one ack received: {st:#?}");
    let rx = position(&st, "accord_switchover_ack_received", "").unwrap();
    let start = position(&st, "accord_switchover_start", "").expect("switchover started");
    assert!(rx < start, "ack before switchover: {st:#?}");
    let (t_ack, t_rx, t_start) = (
        dt[ack].wall.unwrap(),
        st[rx].wall.unwrap(),
        st[start].wall.unwrap(),
    );
    assert!(
        t_ack <= t_rx && t_rx <= t_start,
        "ack sent {t_ack}, received {t_rx}, switchover {t_start}"
    );
}

#[test]
fn device_revoking_once_gets_a_second_ack_then_completes() {
    let src = patched_side()
        .testdev("id=dev-r")
        .caps(&["accord", "return-path", "switchover-ack"]);
    let dst = dst_accord_only().testdev("id=dev-r,revoke-once=on");
    let mut p =
        Pair::start(&dir("revoke-once"), &src, &dst, None).unwrap_or_else(|e| panic!("{e}"));
    p.migrate().unwrap_or_else(|e| panic!("{e}"));
    let (s, d, ok) = p.wait(COMPLETES_WITHIN, both_terminal);
    assert_completed(&p, &s, &d, ok);
    let dt = p.dst.traces();
    let st = p.src.traces();
    let kinds: Vec<&str> = dt
        .iter()
        .filter(|e| {
            matches!(
                e.name.as_str(),
                "accord_device_approve" | "accord_device_revoke" | "accord_switchover_ack_sent"
            )
        })
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(
        kinds,
        [
            "accord_device_approve",
            "accord_switchover_ack_sent",
            "accord_device_revoke",
            "accord_device_approve",
            "accord_switchover_ack_sent"
        ],
        "{dt:#?}"
    );
    assert_eq!(
        events(&st, "accord_switchover_ack_received").len(),
        2,
        "{st:#?}"
    );
    let last_rx = st
        .iter()
        .rposition(|e| e.name == "accord_switchover_ack_received")
        .unwrap();
    let start = position(&st, "accord_switchover_start", "").expect("switchover started");
    assert!(last_rx < start, "switchover after the second ack: {st:#?}");
}

// ---------------------------------------------------------------------------
// Mismatches: both sides fail fast with the same named error.

/// Migrate `src` to `dst` (the source's guest running): both sides must
/// fail within 1 s with the same accord error, `code`, naming `name`, and
/// the source's guest must keep running.
fn fails_fast_with(test: &str, src: &SideSpec, dst: &SideSpec, code: u32, name: &str) {
    let mut p = Pair::start(&dir(test), src, dst, None).unwrap_or_else(|e| panic!("{e}"));
    p.run_source().unwrap();
    p.migrate().unwrap_or_else(|e| panic!("{e}"));
    let (s, d, _) = p.wait(Duration::from_secs(5), both_terminal);
    let second = Duration::from_secs(1);
    let got = assert_same_named_failure(&p, &s, &d, second, second);
    assert_eq!(got, code, "{}", s.desc);
    assert!(s.desc.contains(name), "the error names {name}: {}", s.desc);
    assert_source_keeps_running(&mut p);
}

#[test]
fn device_the_destination_cannot_serve_fails_both_sides_within_1s() {
    let src = patched_side()
        .testdev("id=dev-a")
        .caps(&["accord", "return-path", "switchover-ack"]);
    let dst = dst_accord_only().testdev("id=dev-a,switchover-ack=off");
    // DeviceUnsupported
    fails_fast_with("device-unsupported", &src, &dst, 206, "dev-a");
}

#[test]
fn required_capability_the_destination_refuses_fails_both_sides_within_1s() {
    // The destination's RAM is a file on a disk file system, where
    // userfaultfd cannot work: it cannot do postcopy-ram, which the source
    // requires.
    let ram_file = dir("capability-refused").with_extension("ram");
    let src = patched_side()
        .arg("-object")
        .arg("memory-backend-ram,id=mem,size=128M")
        .arg("-machine")
        .arg("memory-backend=mem")
        .caps(&["accord", "return-path", "postcopy-ram"]);
    let dst = dst_accord_only()
        .arg("-object")
        .arg(&format!(
            "memory-backend-file,id=mem,size=128M,share=on,mem-path={}",
            ram_file.display()
        ))
        .arg("-machine")
        .arg("memory-backend=mem");
    // CapabilityMissingOnDestination
    fails_fast_with("capability-refused", &src, &dst, 202, "postcopy-ram");
    let _ = std::fs::remove_file(ram_file);
}

#[test]
fn capability_the_destination_was_configured_with_and_the_source_lacks_fails_both_sides_within_1s()
{
    // A destination setting that conflicts with the Hello: it requires
    // multifd, the source does not offer it. CapabilityMissingOnSource.
    let src = patched_side().caps(&["accord"]);
    let dst = dst_accord_only().caps(&["multifd"]);
    fails_fast_with("capability-missing-on-source", &src, &dst, 203, "multifd");
}

// ---------------------------------------------------------------------------
// Old and new peers.

/// Start `src` and `dst` with the source connecting through a relay
/// named by `hook`.
fn start_through(
    test: &str,
    src: &SideSpec,
    dst: &SideSpec,
    hook: impl Identify,
    connect_when_named: bool,
) -> Pair {
    let relay = Some((
        relay_cfg(connect_when_named),
        Box::new(hook) as Box<dyn Identify>,
    ));
    Pair::start(&dir(test), src, dst, relay).unwrap_or_else(|e| panic!("{e}"))
}

/// A patched source with accord and 4 multifd channels, its guest running
/// (machine type [`OLD_MACHINE`]), migrating to `dst` through a relay
/// with `hook`.
fn accord_multifd4_through(
    test: &str,
    dst: &SideSpec,
    hook: PreambleHook,
    connect_when_named: bool,
) -> Pair {
    let src = patched_side()
        .arg("-machine")
        .arg(OLD_MACHINE)
        .caps(&["accord", "multifd"])
        .params(json!({ "multifd-channels": 4 }));
    let mut p = start_through(test, &src, dst, hook, connect_when_named);
    p.run_source().unwrap();
    p.migrate().unwrap_or_else(|e| panic!("{e}"));
    p
}

#[test]
fn accord_source_against_stock_10_0_destination_fails_within_welcome_deadline() {
    let dst = SideSpec::new(&stock())
        .arg("-machine")
        .arg(OLD_MACHINE)
        .caps(&["multifd"])
        .params(json!({ "multifd-channels": 4 }));
    let (hook, _, _) = PreambleHook::new();
    let mut p = accord_multifd4_through("stock-destination", &dst, hook, false);
    // A stock multifd destination reading the 28-byte preamble may block
    // its main loop: do not wait long on its QMP.
    p.dst.qmp.command_timeout = Duration::from_millis(300);
    let t0 = Instant::now();
    let (s, _, _) = p.wait(WELCOME_DEADLINE + Duration::from_secs(5), |s, _| {
        interop::live::terminal(&s.status)
    });
    let ctx = p.with_logs(format!("source {s:?}"));
    assert_eq!(s.status, "failed", "{ctx}");
    let e = accord_error(&s.desc).unwrap_or_else(|| panic!("not a named accord error: {ctx}"));
    assert!(
        s.after <= WELCOME_DEADLINE + SLACK,
        "failed after {:?}: {ctx}",
        s.after
    );
    println!(
        "source failed after {:?} with {} ({:?} polling)",
        s.after,
        e.text,
        t0.elapsed()
    );
    // Every connection the source opened is closed by it.
    let relay = p.relay.as_ref().unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    let closed = loop {
        let recs = relay.snapshot();
        let open: Vec<_> = recs
            .iter()
            .filter(|r| r.s2d.end.is_none())
            .map(|r| r.index)
            .collect();
        if open.is_empty() || Instant::now() >= deadline {
            break (recs.len(), open);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        closed.0 >= 1 && closed.1.is_empty(),
        "connections still open {:?}: {}",
        closed.1,
        p.with_logs(String::new())
    );
    p.src.qmp.command_timeout = Duration::from_secs(10);
    assert_source_keeps_running(&mut p);
}

#[test]
fn stock_10_0_source_to_patched_destination_accord_off_completes() {
    let caps = ["events", "multifd"];
    let params = json!({ "multifd-channels": 4 });
    let src = SideSpec::new(&stock())
        .arg("-machine")
        .arg(OLD_MACHINE)
        .caps(&caps)
        .params(params.clone());
    let dst = SideSpec::new(&patched())
        .arg("-machine")
        .arg(OLD_MACHINE)
        .caps(&caps)
        .params(params);
    let mut p =
        Pair::start(&dir("stock-source"), &src, &dst, None).unwrap_or_else(|e| panic!("{e}"));
    p.migrate().unwrap_or_else(|e| panic!("{e}"));
    let (s, d, ok) = p.wait(COMPLETES_WITHIN, both_terminal);
    assert_completed(&p, &s, &d, ok);
}

/// Source settings under which postcopy really starts: every page sent
/// whole and precopy slowed to 1 MiB/s (see `Scenario::postcopy_preempt`).
fn slow_precopy() -> Value {
    json!({ "max-bandwidth": 1024 * 1024, "zero-page-detection": "none" })
}

/// Migrate, switch to postcopy at once, and complete through postcopy.
fn migrate_through_postcopy(p: &mut Pair) {
    p.migrate().unwrap_or_else(|e| panic!("{e}"));
    p.src
        .qmp
        .execute("migrate-start-postcopy", Value::Null)
        .unwrap_or_else(|e| panic!("{}", p.with_logs(e.to_string())));
    let (s, d, ok) = p.wait(COMPLETES_WITHIN, both_terminal);
    assert_completed(p, &s, &d, ok);
    let postcopy = p
        .src
        .qmp
        .take_events()
        .iter()
        .any(|e| e.name == "MIGRATION" && e.data["status"] == "postcopy-active");
    assert!(postcopy, "the migration went through postcopy");
}

#[test]
fn accord_off_multifd_postcopy_preempt_together_completes() {
    let caps = [
        "events",
        "return-path",
        "multifd",
        "postcopy-ram",
        "postcopy-preempt",
    ];
    let src = SideSpec::new(&patched()).caps(&caps).params({
        let mut v = slow_precopy();
        v["multifd-channels"] = json!(4);
        v
    });
    let dst = SideSpec::new(&patched())
        .caps(&caps)
        .params(json!({ "multifd-channels": 4 }));
    let mut p = start_through(
        "accord-off-all",
        &src,
        &dst,
        interop::relay::NoIdentify,
        false,
    );
    migrate_through_postcopy(&mut p);
    let recs = p.relay.as_ref().unwrap().snapshot();
    assert_eq!(
        recs.len(),
        6,
        "main, 4 multifd, preempt: {}",
        p.with_logs(String::new())
    );
    assert!(
        recs.iter().all(|r| preamble(&r.s2d.head).is_none()),
        "accord off sends no preamble"
    );
}

#[test]
fn accord_on_postcopy_preempt_channel_is_named_by_its_preamble_and_completes() {
    let src = patched_side()
        .caps(&[
            "accord",
            "events",
            "return-path",
            "postcopy-ram",
            "postcopy-preempt",
        ])
        .params(slow_precopy());
    let dst = dst_accord_only();
    let (hook, _, _) = PreambleHook::new();
    let mut p = start_through("accord-on-preempt", &src, &dst, hook, false);
    migrate_through_postcopy(&mut p);
    let pre = preambles(&p.relay.as_ref().unwrap().snapshot());
    let roles: Vec<&str> = pre.iter().map(|x| role_name(x.1)).collect();
    assert_eq!(roles, ["main", "preempt"], "{}", p.with_logs(String::new()));
    let dt = p.dst.traces();
    assert!(
        events(&dt, "accord_channel_named")
            .iter()
            .any(|e| e.field("role") == Some("preempt") && e.field("index") == Some("0")),
        "{dt:#?}"
    );
}

// ---------------------------------------------------------------------------
// Faults: named errors within deadlines, nothing hangs.

#[test]
fn destination_killed_mid_handshake_fails_the_source_within_its_deadline() {
    let (hook, _, hold) = PreambleHook::new();
    hold.store(true, Ordering::SeqCst);
    let mut p = accord_multifd4_through(
        "destination-killed",
        &dst_accord_only().arg("-machine").arg(OLD_MACHINE),
        hook,
        true,
    );
    // Mid-handshake: the destination has answered on the main channel
    // while the multifd channels are still held by the relay.
    let deadline = Instant::now() + Duration::from_secs(5);
    while p
        .relay
        .as_ref()
        .unwrap()
        .snapshot()
        .first()
        .is_none_or(|r| r.d2s.total < 28)
    {
        assert!(
            Instant::now() < deadline,
            "{}",
            p.with_logs("no answer from the destination".into())
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    p.dst.proc.kill();
    hold.store(false, Ordering::SeqCst);
    let (s, _, _) = p.wait(SRC_CHANNELS_DEADLINE + SLACK, |s, _| {
        interop::live::terminal(&s.status)
    });
    let ctx = p.with_logs(format!("source {s:?}"));
    assert_eq!(s.status, "failed", "{ctx}");
    let e = accord_error(&s.desc).unwrap_or_else(|| panic!("not a named accord error: {ctx}"));
    println!("source failed after {:?} with {}", s.after, e.text);
    assert_source_keeps_running(&mut p);
}

#[test]
fn multifd_connection_cut_before_every_channel_is_ready_fails_both_sides_alike() {
    let (mut hook, _, _) = PreambleHook::new();
    hook.cut_multifd = Some(1);
    let mut p = accord_multifd4_through(
        "multifd-cut",
        &dst_accord_only().arg("-machine").arg(OLD_MACHINE),
        hook,
        true,
    );
    let (s, d, _) = p.wait(SRC_CHANNELS_DEADLINE + SLACK, both_terminal);
    assert_same_named_failure(
        &p,
        &s,
        &d,
        SRC_CHANNELS_DEADLINE + SLACK,
        DST_CHANNELS_DEADLINE + SLACK,
    );
    assert_source_keeps_running(&mut p);
}
