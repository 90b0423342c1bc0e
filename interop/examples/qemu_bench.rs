//! Measures, side by side in one run, the patched QEMU migrating its tiny
//! guest with accord on and off, at 1, 8 and 64 multifd channels, through
//! the relay delaying every chunk by 5 ms each way:
//!
//! - channels: from `migrate` until the destination holds every channel
//!   (the first byte of the last expected connection has reached it: its
//!   relay time plus the link delay); with accord also until the
//!   destination's `accord_channels_ready` trace line;
//! - total: from `migrate` until both sides report `completed`.
//!
//! ```text
//! ACCORD_QEMU_PATCHED=$(bash scripts/qemu.sh | tail -n1) \
//!   cargo run --release -p interop --example qemu_bench [-- RUNS [RESULTS.md]]
//! ```
//!
//! Prints a Markdown section (medians over RUNS, default 3) and, given a
//! results file, replaces its `## QEMU with accord` section with it
//! (`bash scripts/qemu-bench.sh` does both).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use interop::live::{patched_qemu, terminal, Pair, SideSpec};
use interop::relay::{NoIdentify, RelayConfig};
use serde_json::json;

const DELAY: Duration = Duration::from_millis(5);

struct Run {
    channels_ms: f64,
    ready_ms: Option<f64>,
    total_ms: f64,
}

/// What the same binary is asked to do.
#[derive(Clone, Copy, PartialEq)]
enum Mode {
    /// Stock behaviour: multifd only.
    Off,
    /// Stock behaviour plus `return-path`, which accord always opens: the
    /// baseline that separates the return path's round trips from accord's.
    OffReturnPath,
    /// The `accord` capability on.
    On,
}

impl Mode {
    fn label(self) -> &'static str {
        match self {
            Mode::Off => "off",
            Mode::OffReturnPath => "off + return-path",
            Mode::On => "on",
        }
    }
}

fn one(bin: &Path, mode: Mode, n: usize, k: usize) -> Result<Run, String> {
    let accord = mode == Mode::On;
    let mut caps = vec!["multifd"];
    match mode {
        Mode::Off => {}
        Mode::OffReturnPath => caps.push("return-path"),
        Mode::On => caps.push("accord"),
    }
    let params = json!({ "multifd-channels": n });
    let src = SideSpec::new(bin).caps(&caps).params(params.clone());
    let dst = if accord {
        SideSpec::new(bin).traced().caps(&["accord"])
    } else {
        SideSpec::new(bin).caps(&caps).params(params)
    };
    let mut cfg = RelayConfig::new(SocketAddr::from(([127, 0, 0, 1], 1)));
    cfg.delay = DELAY;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/tmp/qemu-bench")
        .join(format!("{}-{n}-{k}", mode.label().replace(" + ", "-")));
    let mut p = Pair::start(&dir, &src, &dst, Some((cfg, Box::new(NoIdentify))))?;
    p.migrate()?;
    let (s, d, ok) = p.wait(Duration::from_secs(120), |s, d| {
        terminal(&s.status) && terminal(&d.status)
    });
    if !ok || s.status != "completed" || d.status != "completed" {
        return Err(p.with_logs(format!("not completed: {s:?} {d:?}")));
    }
    let total_ms = s.after.max(d.after).as_secs_f64() * 1e3;
    let relay = p.relay.take().expect("relay");
    let relay_t0 = relay.started();
    let recs = relay.finish(Duration::from_secs(3));
    if recs.len() != 1 + n {
        return Err(format!("{} connections, expected {}", recs.len(), 1 + n));
    }
    // The relay's clock starts before `migrate`; measure from `migrate`.
    let migrate_after_start = p
        .t_migrate
        .expect("migrated")
        .saturating_duration_since(relay_t0);
    let last = recs
        .iter()
        .filter_map(|r| r.s2d.first_byte_after)
        .max()
        .ok_or("no bytes passed")?;
    let channels_ms = (last + DELAY)
        .saturating_sub(migrate_after_start)
        .as_secs_f64()
        * 1e3;
    let ready_ms = if accord {
        let wall0 = p
            .wall_migrate
            .and_then(|w| w.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64());
        p.dst
            .traces()
            .iter()
            .find(|t| t.name == "accord_channels_ready")
            .and_then(|t| Some((t.wall? - wall0?) * 1e3))
    } else {
        None
    };
    Ok(Run {
        channels_ms,
        ready_ms,
        total_ms,
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Replace (or append) the section starting with `heading` in `path`.
fn write_section(path: &str, heading: &str, body: &str) -> std::io::Result<()> {
    let old = std::fs::read_to_string(path)?;
    let new = match old.find(heading) {
        Some(start) => {
            let after = start + heading.len();
            let end = old[after..]
                .find("\n## ")
                .map(|i| after + i + 1)
                .unwrap_or(old.len());
            format!("{}{body}{}", &old[..start], &old[end..])
        }
        None => format!("{}\n\n{body}", old.trim_end_matches('\n')),
    };
    std::fs::write(path, new)
}

const HEADING: &str = "## QEMU with accord";

fn main() {
    let mut args = std::env::args().skip(1);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(3);
    let results = args.next();
    let bin = patched_qemu().unwrap_or_else(|e| panic!("{e}"));
    let version = interop::qemu::qemu_version(&bin)
        .map(|(_, line)| line)
        .unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut out = format!(
        "{HEADING}\n\n\
         Generated by `bash scripts/qemu-bench.sh` (interop/examples/qemu_bench.rs) at unix time \
         {stamp}: {version}, built by scripts/qemu.sh with the series in qemu/, on a shared \
         2-core machine (load average before: `{}`).\n\n\
         The same patched binary migrates its tiny guest (q35, TCG, 128 MiB, paused, no disk) \
         with the `accord` capability on and off (off also with `return-path`, which accord \
         always opens, so what the return path costs is not counted as accord's), multifd at 1, 8 and 64 channels, through the \
         interop relay holding every chunk {DELAY:?} in each direction (TCP connects are not \
         delayed). \"To every channel\": from `migrate` until the first byte of the last \
         connection has reached the destination (relay time + {DELAY:?}). \"Channels ready\": \
         the destination's `accord_channels_ready` trace line. \"Whole migration\": from \
         `migrate` until both sides report `completed`. Medians of {runs} runs.\n\n\
         | multifd | accord | to every channel (ms) | channels ready trace (ms) | whole migration (ms) |\n\
         |--:|---|--:|--:|--:|\n",
        load.trim()
    );
    for n in [1usize, 8, 64] {
        for mode in [Mode::Off, Mode::OffReturnPath, Mode::On] {
            let mut ch = Vec::new();
            let mut ready = Vec::new();
            let mut total = Vec::new();
            for k in 0..runs {
                let r = one(&bin, mode, n, k).unwrap_or_else(|e| panic!("{e}"));
                ch.push(r.channels_ms);
                if let Some(x) = r.ready_ms {
                    ready.push(x);
                }
                total.push(r.total_ms);
            }
            out.push_str(&format!(
                "| {n} | {} | {:.1} | {} | {:.1} |\n",
                mode.label(),
                median(ch),
                if ready.is_empty() {
                    "-".to_string()
                } else {
                    format!("{:.1}", median(ready))
                },
                median(total)
            ));
        }
    }
    print!("{out}");
    if let Some(path) = results {
        write_section(&path, HEADING, &out).unwrap_or_else(|e| panic!("{path}: {e}"));
        println!("(written to {path})");
    }
}
