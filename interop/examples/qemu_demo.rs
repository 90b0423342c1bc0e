//! The demo's timeline from two real QEMU processes (the patched
//! qemu-system-x86_64 of scripts/qemu.sh): a VM with two accord test
//! devices, one slow to approve, migrates with accord and 4 multifd
//! channels; then a device the destination cannot serve fails the
//! migration on both sides within a second, naming it. Run by
//! `bash scripts/demo.sh qemu`.

use std::path::PathBuf;
use std::time::{Duration, UNIX_EPOCH};

use interop::live::{patched_qemu, terminal, Pair, Seen, SideSpec};
use serde_json::json;

fn dir(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/tmp/qemu-demo")
        .join(name)
}

/// Both sides' accord trace lines in time order, from `migrate`.
fn timeline(p: &Pair) {
    let wall0 = p
        .wall_migrate
        .and_then(|w| w.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut lines: Vec<(f64, &str, String)> = Vec::new();
    for (side, vm) in [("source", &p.src), ("destination", &p.dst)] {
        for t in vm.traces() {
            let at = t.wall.map(|w| (w - wall0) * 1e3).unwrap_or(f64::NAN);
            let what = t.name.trim_start_matches("accord_").replace('_', " ");
            lines.push((at, side, format!("{what} {}", t.args)));
        }
    }
    lines.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (at, side, what) in lines {
        println!("  {at:>8.1} ms  {side:<11}  {what}");
    }
}

fn outcome(label: &str, s: &Seen, d: &Seen) {
    for (side, x) in [("source", s), ("destination", d)] {
        println!(
            "  {label}: {side:<11} {} after {:.0} ms {}",
            x.status,
            x.after.as_secs_f64() * 1e3,
            x.desc
        );
    }
}

fn main() -> Result<(), String> {
    let bin = patched_qemu()?;
    println!("== QEMU with accord: 4 multifd channels, two test devices (dev-gpu slow to approve)");
    let src = SideSpec::new(&bin)
        .traced()
        .testdev("id=dev-nic")
        .testdev("id=dev-gpu")
        .caps(&["accord", "multifd", "switchover-ack"])
        .params(json!({ "multifd-channels": 4 }));
    let dst = SideSpec::new(&bin)
        .traced()
        .testdev("id=dev-nic")
        .testdev("id=dev-gpu,approve-delay-ms=200")
        .caps(&["accord"]);
    let mut p = Pair::start(&dir("happy"), &src, &dst, None)?;
    p.migrate()?;
    let (s, d, _) = p.wait(Duration::from_secs(60), |s, d| {
        terminal(&s.status) && terminal(&d.status)
    });
    timeline(&p);
    outcome("happy", &s, &d);
    let happy = s.status == "completed" && d.status == "completed";

    println!("\n== mismatch: dev-gpu cannot serve switchover-ack on the destination");
    let dst = SideSpec::new(&bin)
        .traced()
        .testdev("id=dev-nic")
        .testdev("id=dev-gpu,switchover-ack=off")
        .caps(&["accord"]);
    let mut p = Pair::start(&dir("fail"), &src, &dst, None)?;
    p.run_source()?;
    p.migrate()?;
    let (s, d, _) = p.wait(Duration::from_secs(10), |s, d| {
        terminal(&s.status) && terminal(&d.status)
    });
    timeline(&p);
    outcome("mismatch", &s, &d);
    println!("  source VM after the failure: {}", p.src.runstate());
    let failed_alike = s.status == "failed" && d.status == "failed" && s.desc == d.desc;
    if happy && failed_alike {
        Ok(())
    } else {
        Err("the demo did not go as described".into())
    }
}
