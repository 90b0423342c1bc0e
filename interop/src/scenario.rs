//! One migration between two real QEMU processes through the recording
//! relay, from start-up to both sides reporting `completed`.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use crate::qemu::{find_qemu, qemu_version, QemuProcess, Side, INSTALL_HINT};
use crate::qmp::Qmp;
use crate::relay::{write_captures, ConnRecord, Identify, Relay, RelayConfig};

/// What to migrate with.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Short name, used for directories.
    pub name: &'static str,
    /// Capabilities turned on, on both sides.
    pub capabilities: Vec<&'static str>,
    /// Parameters set on both sides (`migrate-set-parameters` arguments).
    pub parameters: Value,
    /// Parameters set on the source only (bandwidth, downtime).
    pub source_parameters: Value,
    /// Multifd channels (0 when multifd is off).
    pub multifd_channels: usize,
    /// Issue `migrate-start-postcopy` right after `migrate`.
    pub start_postcopy: bool,
    /// Deadline for the whole migration, from `migrate` to both sides
    /// `completed`.
    pub deadline: Duration,
    /// Keep up to this many bytes of the main channel's source stream
    /// (0: only the head). [`MAIN_S2D_KEEP`] unless `ACCORD_INTEROP_FULL_MAIN`
    /// (bytes) says otherwise.
    pub full_main_s2d: usize,
    /// The VM's uuid, given to both QEMUs with `-uuid`: the source writes
    /// it into every multifd header and the destination checks it.
    pub uuid: Option<&'static str>,
}

/// How much of the main stream the scenarios keep by default: all of a
/// precopy stream of the tiny guest (about 75 KiB), and in postcopy the
/// whole PACKAGED blob and the first RAM pages after it.
pub const MAIN_S2D_KEEP: usize = 256 * 1024;

/// The uuid both QEMUs get in the scenarios.
pub const VM_UUID: &str = "acc0d1e5-0000-4000-8000-00000000c0de";

fn full_main_from_env() -> usize {
    std::env::var("ACCORD_INTEROP_FULL_MAIN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(MAIN_S2D_KEEP)
}

/// The 16 bytes of a uuid written as 8-4-4-4-12 hex digits.
pub fn uuid_bytes(s: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = s.bytes().filter(|b| *b != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        let t = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(t, 16).ok()?;
    }
    Some(out)
}

impl Scenario {
    /// (a) return-path + multifd with 4 channels + switchover-ack.
    pub fn multifd() -> Scenario {
        Scenario {
            name: "multifd",
            capabilities: vec!["events", "return-path", "multifd", "switchover-ack"],
            parameters: json!({ "multifd-channels": 4 }),
            source_parameters: json!({}),
            multifd_channels: 4,
            start_postcopy: false,
            deadline: Duration::from_secs(60),
            full_main_s2d: full_main_from_env(),
            uuid: Some(VM_UUID),
        }
    }

    /// (b) return-path + postcopy-ram + postcopy-preempt + switchover-ack,
    /// switching to postcopy at once.
    ///
    /// A paused guest's RAM is all zero pages, which precopy sends as tiny
    /// headers: 128 MiB goes in tens of milliseconds, often before the
    /// source may switch (it needs the switchover ack first), and the
    /// migration then completes in precopy. So the source sends every page
    /// whole (`zero-page-detection: none`) and precopy is capped at 1 MiB/s:
    /// precopy alone would need minutes, postcopy (which ignores
    /// `max-bandwidth`) moves the rest at loopback speed.
    pub fn postcopy_preempt() -> Scenario {
        Scenario {
            name: "postcopy-preempt",
            capabilities: vec![
                "events",
                "return-path",
                "postcopy-ram",
                "postcopy-preempt",
                "switchover-ack",
            ],
            parameters: json!({}),
            source_parameters: json!({
                "max-bandwidth": 1024 * 1024,
                "zero-page-detection": "none",
            }),
            multifd_channels: 0,
            start_postcopy: true,
            deadline: Duration::from_secs(60),
            full_main_s2d: full_main_from_env(),
            uuid: Some(VM_UUID),
        }
    }

    /// (c) return-path + multifd with 4 channels + postcopy-ram +
    /// postcopy-preempt + switchover-ack, switching to postcopy at once, as
    /// (b). Refused by QEMU 8.1 to 10.0 ("Postcopy is not yet compatible
    /// with multifd"), legal since 10.1.
    pub fn multifd_postcopy_preempt() -> Scenario {
        Scenario {
            name: "multifd-postcopy-preempt",
            capabilities: vec![
                "events",
                "return-path",
                "multifd",
                "postcopy-ram",
                "postcopy-preempt",
                "switchover-ack",
            ],
            parameters: json!({ "multifd-channels": 4 }),
            multifd_channels: 4,
            ..Scenario::postcopy_preempt()
        }
    }

    /// Whether postcopy-preempt is on.
    pub fn preempt(&self) -> bool {
        self.capabilities.contains(&"postcopy-preempt")
    }

    /// How many connections the source should make.
    pub fn expected_connections(&self) -> usize {
        1 + self.multifd_channels + usize::from(self.preempt())
    }
}

/// A status change seen by polling `query-migrate` or from a `MIGRATION`
/// event.
#[derive(Clone, Debug)]
pub struct StatusSeen {
    /// Which side.
    pub side: Side,
    /// The status string, e.g. `postcopy-active`.
    pub status: String,
    /// Milliseconds since `migrate` was issued; negative for a status
    /// QEMU stamped before that (the destination's `setup`).
    pub at_ms: f64,
    /// `poll` or `event`.
    pub how: &'static str,
}

/// What a finished scenario produced.
#[derive(Debug)]
pub struct Outcome {
    /// The scenario's name.
    pub name: &'static str,
    /// QEMU's version line.
    pub qemu: String,
    /// Every connection, in arrival order.
    pub records: Vec<ConnRecord>,
    /// Status changes on both sides, in the order observed.
    pub statuses: Vec<StatusSeen>,
    /// The source's final `query-migrate`.
    pub source_info: Value,
    /// The destination's final `query-migrate`.
    pub dest_info: Value,
    /// `query-status` of (source, destination) after the migration.
    pub runstates: (String, String),
    /// From `migrate` to both sides completed.
    pub migration_time: Duration,
    /// From start-up to everything stopped.
    pub total_time: Duration,
    /// Where the captures were written.
    pub capture_dir: PathBuf,
    /// The relay's summary, one line per connection.
    pub summary: String,
}

impl Outcome {
    /// True if either side reported this status.
    pub fn saw(&self, status: &str) -> bool {
        self.statuses.iter().any(|s| s.status == status)
    }

    /// A printable report.
    pub fn report(&self) -> String {
        let mut s = format!(
            "== scenario {} ({}) migration {:.2}s, total {:.2}s, captures in {}\n",
            self.name,
            self.qemu,
            self.migration_time.as_secs_f64(),
            self.total_time.as_secs_f64(),
            self.capture_dir.display()
        );
        s.push_str(&format!(
            "runstate after: source {}, destination {}\n",
            self.runstates.0, self.runstates.1
        ));
        s.push_str("statuses:");
        for st in &self.statuses {
            s.push_str(&format!(
                " {}:{}@{:.0}ms({})",
                st.side.tag(),
                st.status,
                st.at_ms,
                st.how
            ));
        }
        s.push('\n');
        s.push_str(&self.summary);
        s
    }
}

/// A scratch directory for sockets (UNIX socket paths must stay short),
/// removed on drop.
struct SockDir(PathBuf);

impl Drop for SockDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn set_caps(q: &mut Qmp, caps: &[&str]) -> Result<(), String> {
    let list: Vec<Value> = caps
        .iter()
        .map(|c| json!({ "capability": c, "state": true }))
        .collect();
    q.execute("migrate-set-capabilities", json!({ "capabilities": list }))
        .map(|_| ())
        .map_err(|e| e.to_string())
}

fn set_params(q: &mut Qmp, params: &Value) -> Result<(), String> {
    if params.as_object().is_none_or(|o| o.is_empty()) {
        return Ok(());
    }
    q.execute("migrate-set-parameters", params.clone())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Status changes in the order observed, without repeats per side.
struct StatusLog {
    t0: Instant,
    wall0: SystemTime,
    list: Vec<StatusSeen>,
}

impl StatusLog {
    /// Record `status` for `side` unless it is that side's latest one.
    /// `at` is QEMU's own wall-clock stamp (events), else now.
    fn note(&mut self, side: Side, status: String, how: &'static str, at: Option<SystemTime>) {
        let dup = self
            .list
            .iter()
            .rev()
            .find(|s| s.side == side)
            .is_some_and(|s| s.status == status);
        if dup {
            return;
        }
        let at_ms = match at {
            Some(t) => match t.duration_since(self.wall0) {
                Ok(d) => d.as_secs_f64() * 1e3,
                Err(e) => -e.duration().as_secs_f64() * 1e3,
            },
            None => self.t0.elapsed().as_secs_f64() * 1e3,
        };
        self.list.push(StatusSeen {
            side,
            status,
            at_ms,
            how,
        });
    }

    /// Record the MIGRATION events `q` has collected.
    fn drain_events(&mut self, q: &mut Qmp, side: Side) {
        for ev in q.take_events() {
            if ev.name == "MIGRATION" {
                if let Some(st) = ev.data.get("status").and_then(Value::as_str) {
                    self.note(side, st.to_string(), "event", ev.timestamp);
                }
            }
        }
    }
}

fn status_of(info: &Value) -> String {
    info.get("status")
        .and_then(Value::as_str)
        .unwrap_or("none")
        .to_string()
}

/// Run `sc` end to end: start both QEMUs, migrate through a relay with
/// `hook`, wait for both sides to complete, stop everything, and write the
/// captures to `capture_dir`. Every step has a deadline; QEMU processes
/// are killed on every exit path.
pub fn run(sc: &Scenario, hook: Box<dyn Identify>, capture_dir: &Path) -> Result<Outcome, String> {
    let bin = find_qemu()?;
    run_with(sc, &bin, &[], hook, capture_dir)
}

/// [`run`] with a given QEMU binary (both sides) and `extra` arguments for
/// both processes (e.g. `-L` firmware directories for a binary built
/// without its blobs).
pub fn run_with(
    sc: &Scenario,
    bin: &Path,
    extra: &[&str],
    hook: Box<dyn Identify>,
    capture_dir: &Path,
) -> Result<Outcome, String> {
    let t_start = Instant::now();
    let bin = bin.to_path_buf();
    let (ver, line) = qemu_version(&bin)?;
    if ver.0 < 10 {
        return Err(format!(
            "{} is {line:?}; the interop tests need QEMU 10.x: {INSTALL_HINT}",
            bin.display()
        ));
    }

    let _ = fs::remove_dir_all(capture_dir);
    fs::create_dir_all(capture_dir).map_err(|e| format!("{}: {e}", capture_dir.display()))?;
    let sock_dir = SockDir(std::env::temp_dir().join(format!(
        "accord-interop-{}-{}",
        std::process::id(),
        sc.name
    )));
    fs::create_dir_all(&sock_dir.0).map_err(|e| format!("{}: {e}", sock_dir.0.display()))?;

    let mut extra: Vec<&str> = extra.to_vec();
    if let Some(u) = sc.uuid {
        extra.extend(["-uuid", u]);
    }
    let mut dst = QemuProcess::spawn(&bin, Side::Destination, &sock_dir.0, capture_dir, &extra)
        .map_err(|e| format!("starting destination QEMU: {e}"))?;
    let mut src = QemuProcess::spawn(&bin, Side::Source, &sock_dir.0, capture_dir, &extra)
        .map_err(|e| format!("starting source QEMU: {e}"))?;
    let mut qd = dst.qmp(Duration::from_secs(20))?;
    let mut qs = src.qmp(Duration::from_secs(20))?;

    let with_logs = |what: String, src: &QemuProcess, dst: &QemuProcess| {
        format!(
            "{what}\n--- source QEMU log:\n{}\n--- destination QEMU log:\n{}",
            src.log(),
            dst.log()
        )
    };

    for (q, side) in [(&mut qs, "source"), (&mut qd, "destination")] {
        set_caps(q, &sc.capabilities).map_err(|e| format!("{side}: {e}"))?;
        set_params(q, &sc.parameters).map_err(|e| format!("{side}: {e}"))?;
    }
    set_params(&mut qs, &sc.source_parameters).map_err(|e| format!("source: {e}"))?;

    // The destination listens on a port of its own choosing; read it back.
    qd.execute("migrate-incoming", json!({ "uri": "tcp:127.0.0.1:0" }))
        .map_err(|e| format!("destination: {e}"))?;
    let info = qd
        .execute("query-migrate", Value::Null)
        .map_err(|e| format!("destination: {e}"))?;
    let port = crate::live::incoming_port(&info)
        .ok_or_else(|| format!("destination did not report its listening port: {info}"))?;
    let target = SocketAddr::from(([127, 0, 0, 1], port));
    let mut cfg = RelayConfig::new(target);
    cfg.full_s2d_limit = sc.full_main_s2d;
    let relay = Relay::start(cfg, hook).map_err(|e| format!("starting relay: {e}"))?;

    let uri = format!("tcp:{}", relay.addr());
    let t_migrate = Instant::now();
    let wall_migrate = SystemTime::now();
    qs.execute("migrate", json!({ "uri": uri }))
        .map_err(|e| with_logs(format!("source: {e}"), &src, &dst))?;
    if sc.start_postcopy {
        qs.execute("migrate-start-postcopy", Value::Null)
            .map_err(|e| with_logs(format!("source: {e}"), &src, &dst))?;
    }

    let mut log = StatusLog {
        t0: t_migrate,
        wall0: wall_migrate,
        list: Vec::new(),
    };

    // Poll both sides until both report completed (or one fails).
    let deadline = t_migrate + sc.deadline;
    let (source_info, dest_info) = loop {
        let si = qs
            .execute("query-migrate", Value::Null)
            .map_err(|e| with_logs(format!("source: {e}"), &src, &dst))?;
        log.drain_events(&mut qs, Side::Source);
        log.note(Side::Source, status_of(&si), "poll", None);
        let di = qd
            .execute("query-migrate", Value::Null)
            .map_err(|e| with_logs(format!("destination: {e}"), &src, &dst))?;
        log.drain_events(&mut qd, Side::Destination);
        log.note(Side::Destination, status_of(&di), "poll", None);
        let (ss, ds) = (status_of(&si), status_of(&di));
        if ["failed", "cancelled"].contains(&ss.as_str())
            || ["failed", "cancelled"].contains(&ds.as_str())
        {
            let desc = |i: &Value| {
                i.get("error-desc")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            return Err(with_logs(
                format!(
                    "migration {}: source {ss} ({}), destination {ds} ({}); relay:\n{}",
                    sc.name,
                    desc(&si),
                    desc(&di),
                    relay_summary(&relay)
                ),
                &src,
                &dst,
            ));
        }
        if ss == "completed" && ds == "completed" {
            break (si, di);
        }
        if Instant::now() >= deadline {
            return Err(with_logs(
                format!(
                    "migration {} not completed after {:?}: source {ss} {si}, destination {ds} {di}; relay:\n{}",
                    sc.name,
                    sc.deadline,
                    relay_summary(&relay)
                ),
                &src,
                &dst,
            ));
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let migration_time = t_migrate.elapsed();

    // Let QEMU close its channels, then stop both processes.
    relay.wait_closed(Duration::from_secs(5));
    let runstate = |q: &mut Qmp| {
        q.execute("query-status", Value::Null)
            .ok()
            .and_then(|v| v.get("status").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| "?".into())
    };
    let runstates = (runstate(&mut qs), runstate(&mut qd));
    for (q, p) in [(&mut qs, &mut src), (&mut qd, &mut dst)] {
        let _ = q.execute("quit", Value::Null);
        p.wait_or_kill(Duration::from_secs(5));
    }
    drop((qs, qd));
    let records = relay.finish(Duration::from_secs(3));
    let summary = write_captures(capture_dir, &records)
        .map_err(|e| format!("writing captures to {}: {e}", capture_dir.display()))?;
    Ok(Outcome {
        name: sc.name,
        qemu: line,
        records,
        statuses: log.list,
        source_info,
        dest_info,
        runstates,
        migration_time,
        total_time: t_start.elapsed(),
        capture_dir: capture_dir.to_path_buf(),
        summary,
    })
}

fn relay_summary(relay: &Relay) -> String {
    relay
        .snapshot()
        .iter()
        .map(crate::relay::describe)
        .collect::<Vec<_>>()
        .join("\n")
}
