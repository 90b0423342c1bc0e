//! Two live QEMU processes, each of its own binary and settings, driven
//! over QMP through one migration that may fail: the machinery of the
//! tests of QEMU with accord's patch series (`interop/tests/qemu_accord.rs`)
//! and of its benchmark.
//!
//! Unlike [`crate::scenario`], which runs one known-good migration end to
//! end, a [`Pair`] leaves each step to the caller (start, migrate, poll,
//! kill a side) and reads QEMU's `accord_*` trace lines from its log.

use std::fs;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use crate::qemu::{QemuProcess, Side};
use crate::qmp::Qmp;
use crate::relay::{Identify, Relay, RelayConfig};

/// Environment variable naming the patched `qemu-system-x86_64`
/// (`scripts/qemu.sh` prints it).
pub const PATCHED_ENV: &str = "ACCORD_QEMU_PATCHED";
/// Environment variable naming Debian's stock QEMU 10.0 binary.
pub const STOCK_ENV: &str = "ACCORD_QEMU_STOCK";
/// Where Debian installs its QEMU (scripts/install-qemu.sh).
pub const STOCK_DEFAULT: &str = "/usr/bin/qemu-system-x86_64";

/// The patched binary from `$ACCORD_QEMU_PATCHED`.
pub fn patched_qemu() -> Result<PathBuf, String> {
    let p = std::env::var_os(PATCHED_ENV).ok_or_else(|| {
        format!("{PATCHED_ENV} is not set: run `export {PATCHED_ENV}=$(bash scripts/qemu.sh | tail -n1)`")
    })?;
    let p = PathBuf::from(p);
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!("{PATCHED_ENV}={} is not a file", p.display()))
    }
}

/// Debian's stock QEMU: `$ACCORD_QEMU_STOCK`, else /usr/bin's.
pub fn stock_qemu() -> Result<PathBuf, String> {
    let p = std::env::var_os(STOCK_ENV)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(STOCK_DEFAULT));
    if p.is_file() {
        Ok(p)
    } else {
        Err(format!(
            "{} not found: run `sudo bash scripts/install-qemu.sh`",
            p.display()
        ))
    }
}

/// One side's settings.
#[derive(Clone, Debug)]
pub struct SideSpec {
    /// Which binary.
    pub bin: PathBuf,
    /// Extra command-line arguments (devices, `-trace`).
    pub args: Vec<String>,
    /// Capabilities turned on.
    pub caps: Vec<&'static str>,
    /// `migrate-set-parameters` arguments (an empty object for none).
    pub params: Value,
}

impl SideSpec {
    /// A side of `bin` with nothing set.
    pub fn new(bin: &Path) -> SideSpec {
        SideSpec {
            bin: bin.to_path_buf(),
            args: Vec::new(),
            caps: Vec::new(),
            params: json!({}),
        }
    }

    /// Log accord's trace events, stamped with the wall clock.
    pub fn traced(mut self) -> SideSpec {
        self.args.extend(
            ["-trace", "accord_*", "-msg", "timestamp=on"]
                .iter()
                .map(|s| s.to_string()),
        );
        self
    }

    /// Add `-device accord-testdev,<props>` (props start with `id=`).
    pub fn testdev(mut self, props: &str) -> SideSpec {
        self.args.push("-device".into());
        self.args.push(format!("accord-testdev,{props}"));
        self
    }

    /// Add command-line arguments.
    pub fn arg(mut self, a: &str) -> SideSpec {
        self.args.push(a.to_string());
        self
    }

    /// Turn capabilities on.
    pub fn caps(mut self, caps: &[&'static str]) -> SideSpec {
        self.caps.extend_from_slice(caps);
        self
    }

    /// Set migration parameters.
    pub fn params(mut self, p: Value) -> SideSpec {
        self.params = p;
        self
    }
}

/// A running QEMU and its QMP session.
pub struct Vm {
    /// The process (killed on drop).
    pub proc: QemuProcess,
    /// Its QMP session.
    pub qmp: Qmp,
}

impl Vm {
    fn start(spec: &SideSpec, side: Side, sock_dir: &Path, log_dir: &Path) -> Result<Vm, String> {
        let args: Vec<&str> = spec.args.iter().map(String::as_str).collect();
        let mut proc = QemuProcess::spawn(&spec.bin, side, sock_dir, log_dir, &args)
            .map_err(|e| format!("starting {} QEMU: {e}", side.tag()))?;
        let mut qmp = proc.qmp(Duration::from_secs(20))?;
        if !spec.caps.is_empty() {
            let list: Vec<Value> = spec
                .caps
                .iter()
                .map(|c| json!({ "capability": c, "state": true }))
                .collect();
            qmp.execute("migrate-set-capabilities", json!({ "capabilities": list }))
                .map_err(|e| format!("{}: {e}", side.tag()))?;
        }
        if spec.params.as_object().is_some_and(|o| !o.is_empty()) {
            qmp.execute("migrate-set-parameters", spec.params.clone())
                .map_err(|e| format!("{}: {e}", side.tag()))?;
        }
        Ok(Vm { proc, qmp })
    }

    /// `query-migrate`'s status and error-desc ("" when none); ("dead", why)
    /// when QMP does not answer.
    pub fn migration(&mut self) -> (String, String) {
        match self.qmp.execute("query-migrate", Value::Null) {
            Ok(v) => (
                v.get("status")
                    .and_then(Value::as_str)
                    .unwrap_or("none")
                    .to_string(),
                v.get("error-desc")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string(),
            ),
            Err(e) => {
                // A QEMU that closed QMP is usually exiting: say how it ended.
                let until = Instant::now() + Duration::from_millis(500);
                let mut exit = self.proc.try_wait();
                while exit.is_none() && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(10));
                    exit = self.proc.try_wait();
                }
                let exit = exit.map(|st| format!(" (QEMU exited: {st})"));
                ("dead".into(), format!("{e}{}", exit.unwrap_or_default()))
            }
        }
    }

    /// `query-status`'s status, or "?".
    pub fn runstate(&mut self) -> String {
        self.qmp
            .execute("query-status", Value::Null)
            .ok()
            .and_then(|v| v.get("status").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| "?".into())
    }

    /// Its accord trace lines so far.
    pub fn traces(&self) -> Vec<Trace> {
        parse_traces(&fs::read_to_string(&self.proc.log_path).unwrap_or_default())
    }
}

/// One `accord_*` trace line.
#[derive(Clone, Debug, PartialEq)]
pub struct Trace {
    /// The event, e.g. `accord_channel_named`.
    pub name: String,
    /// What follows the name.
    pub args: String,
    /// The wall-clock stamp (`-msg timestamp=on`), seconds since the epoch.
    pub wall: Option<f64>,
}

impl Trace {
    /// The value of `key=value` among the arguments.
    pub fn field(&self, key: &str) -> Option<&str> {
        self.args
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    }
}

/// The `accord_*` lines of a QEMU log (`log` trace backend), in order:
/// `[pid@secs.usecs:]accord_name args`.
pub fn parse_traces(log: &str) -> Vec<Trace> {
    log.lines()
        .filter_map(|line| {
            let (stamp, rest) = match line.split_once(' ') {
                // `-msg timestamp=on`: `2026-12-02T13:37:33.123021Z accord_...`
                Some((pre, rest)) if rest.starts_with("accord_") => (iso_seconds(pre), rest),
                _ => match line.split_once(':') {
                    // The log backend's own stamp: `pid@secs.usecs:accord_...`
                    Some((pre, rest)) if pre.contains('@') && rest.starts_with("accord_") => {
                        (pre.split_once('@').and_then(|(_, t)| t.parse().ok()), rest)
                    }
                    _ if line.starts_with("accord_") => (None, line),
                    _ => return None,
                },
            };
            let (name, args) = rest.split_once(' ').unwrap_or((rest, ""));
            Some(Trace {
                name: name.to_string(),
                args: args.trim().to_string(),
                wall: stamp,
            })
        })
        .collect()
}

/// Seconds since the epoch of a UTC stamp `YYYY-MM-DDTHH:MM:SS[.frac]Z`.
pub fn iso_seconds(s: &str) -> Option<f64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|x| x.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.split(':');
    let (hh, mm): (i64, i64) = (t.next()?.parse().ok()?, t.next()?.parse().ok()?);
    let ss: f64 = t.next()?.parse().ok()?;
    // Days from 1970-01-01 to y-m-day (the proleptic Gregorian calendar).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + hh * 3600 + mm * 60) as f64 + ss)
}

/// An accord error as shown in `error-desc`: `accord: <text> (E<code>)<detail>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccordError {
    /// The numeric code.
    pub code: u32,
    /// Everything after `accord: `.
    pub text: String,
}

/// The accord error inside an `error-desc`, if there is one.
pub fn accord_error(desc: &str) -> Option<AccordError> {
    let text = &desc[desc.find("accord: ")? + "accord: ".len()..];
    let code = text.split("(E").nth(1)?.split(')').next()?.parse().ok()?;
    Some(AccordError {
        code,
        text: text.to_string(),
    })
}

/// A side's status at some moment after `migrate`.
#[derive(Clone, Debug)]
pub struct Seen {
    /// `query-migrate`'s status (or `dead`).
    pub status: String,
    /// Its `error-desc`.
    pub desc: String,
    /// Time from `migrate`.
    pub after: Duration,
}

/// Terminal migration statuses.
pub fn terminal(status: &str) -> bool {
    matches!(status, "completed" | "failed" | "cancelled" | "dead")
}

/// Removes its directory on drop (UNIX socket paths must stay short).
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A destination waiting for a migration, a source, and optionally a relay
/// between them.
pub struct Pair {
    /// The source.
    pub src: Vm,
    /// The destination.
    pub dst: Vm,
    /// The relay, if the source goes through one.
    pub relay: Option<Relay>,
    /// Where the source connects.
    pub uri: String,
    /// When `migrate` was issued.
    pub t_migrate: Option<Instant>,
    /// The wall clock then.
    pub wall_migrate: Option<SystemTime>,
    /// Where the logs are.
    pub dir: PathBuf,
    _socks: TempDir,
}

impl Pair {
    /// Start the destination (`-incoming defer`, then `migrate-incoming`
    /// on a free loopback port with `exit-on-error: false`), the source, and
    /// a relay with `hook` when given. Logs go to `dir`.
    pub fn start(
        dir: &Path,
        src: &SideSpec,
        dst: &SideSpec,
        relay: Option<(RelayConfig, Box<dyn Identify>)>,
    ) -> Result<Pair, String> {
        let _ = fs::remove_dir_all(dir);
        fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("pair");
        let socks = TempDir(std::env::temp_dir().join(format!(
            "accord-live-{}-{}",
            std::process::id(),
            name
        )));
        fs::create_dir_all(&socks.0).map_err(|e| format!("{}: {e}", socks.0.display()))?;
        let mut d = Vm::start(dst, Side::Destination, &socks.0, dir)?;
        let s = Vm::start(src, Side::Source, &socks.0, dir)?;
        d.qmp
            .execute(
                "migrate-incoming",
                json!({ "uri": "tcp:127.0.0.1:0", "exit-on-error": false }),
            )
            .map_err(|e| format!("destination: {e}"))?;
        let info = d
            .qmp
            .execute("query-migrate", Value::Null)
            .map_err(|e| format!("destination: {e}"))?;
        let port = incoming_port(&info)
            .ok_or_else(|| format!("destination did not report its port: {info}"))?;
        let target = SocketAddr::from(([127, 0, 0, 1], port));
        let (relay, uri) = match relay {
            Some((mut cfg, hook)) => {
                cfg.target = target;
                let r = Relay::start(cfg, hook).map_err(|e| format!("relay: {e}"))?;
                let uri = format!("tcp:{}", r.addr());
                (Some(r), uri)
            }
            None => (None, format!("tcp:{target}")),
        };
        Ok(Pair {
            src: s,
            dst: d,
            relay,
            uri,
            t_migrate: None,
            wall_migrate: None,
            dir: dir.to_path_buf(),
            _socks: socks,
        })
    }

    /// Let the source's guest run (it starts paused).
    pub fn run_source(&mut self) -> Result<(), String> {
        self.src
            .qmp
            .execute("cont", Value::Null)
            .map(|_| ())
            .map_err(|e| format!("source cont: {e}"))
    }

    /// Issue `migrate` on the source.
    pub fn migrate(&mut self) -> Result<(), String> {
        self.t_migrate = Some(Instant::now());
        self.wall_migrate = Some(SystemTime::now());
        self.src
            .qmp
            .execute("migrate", json!({ "uri": self.uri }))
            .map(|_| ())
            .map_err(|e| self.with_logs(format!("source migrate: {e}")))
    }

    /// Time since `migrate`.
    pub fn elapsed(&self) -> Duration {
        self.t_migrate.map(|t| t.elapsed()).unwrap_or_default()
    }

    /// Poll both sides every 10 ms until `done(src, dst)` or `timeout`;
    /// returns the first moment each side reached a terminal status (or
    /// its last status), and whether `done` held.
    pub fn wait(
        &mut self,
        timeout: Duration,
        done: impl Fn(&Seen, &Seen) -> bool,
    ) -> (Seen, Seen, bool) {
        let deadline = Instant::now() + timeout;
        let mut first: [Option<Seen>; 2] = [None, None];
        loop {
            let mut now = Vec::with_capacity(2);
            for (i, vm) in [&mut self.src, &mut self.dst].into_iter().enumerate() {
                let (status, desc) = if first[i].as_ref().is_some_and(|s| s.status == "dead") {
                    ("dead".to_string(), String::new())
                } else {
                    vm.migration()
                };
                let seen = Seen {
                    status,
                    desc,
                    after: self.t_migrate.map(|t| t.elapsed()).unwrap_or_default(),
                };
                if first[i].is_none() && terminal(&seen.status) {
                    first[i] = Some(seen.clone());
                }
                now.push(first[i].clone().unwrap_or(seen));
            }
            let ok = done(&now[0], &now[1]);
            if ok || Instant::now() >= deadline {
                let d = now.pop().unwrap_or_else(unknown);
                let s = now.pop().unwrap_or_else(unknown);
                return (s, d, ok);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Both logs, for a failure message.
    pub fn with_logs(&self, what: String) -> String {
        format!(
            "{what}\n--- source log:\n{}\n--- destination log:\n{}{}",
            self.src.proc.log(),
            self.dst.proc.log(),
            self.relay
                .as_ref()
                .map(|r| {
                    let lines: Vec<String> =
                        r.snapshot().iter().map(crate::relay::describe).collect();
                    format!("\n--- relay:\n{}", lines.join("\n"))
                })
                .unwrap_or_default()
        )
    }
}

/// The port a destination listens on, from its `query-migrate` after
/// `migrate-incoming` on port 0.
pub fn incoming_port(info: &Value) -> Option<u16> {
    info.get("socket-address")?
        .get(0)?
        .get("port")
        .and_then(|p| {
            p.as_str()
                .map(str::to_string)
                .or_else(|| p.as_u64().map(|n| n.to_string()))
        })?
        .parse()
        .ok()
}

fn unknown() -> Seen {
    Seen {
        status: "?".into(),
        desc: String::new(),
        after: Duration::ZERO,
    }
}

/// The 28-byte accord preamble's fields: (role, flags, index, total), or
/// None when `b` is not one. Written from docs/PROTOCOL.md §3, apart from
/// accord-core (the tests' ground truth).
pub fn preamble(b: &[u8]) -> Option<(u8, u8, u16, u16)> {
    if b.len() < 28 || &b[..4] != b"ACRD" {
        return None;
    }
    let be = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
    Some((b[6], b[7], be(8), be(10)))
}

/// Role byte names (PROTOCOL.md §3).
pub fn role_name(role: u8) -> &'static str {
    match role {
        0 => "main",
        1 => "multifd",
        2 => "preempt",
        3 => "device-state",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trace_lines_with_and_without_stamps_are_parsed() {
        let log = "qemu-system-x86_64: warning: x\n\
                   1234@1700000000.250000:accord_channel_named role=multifd index=2\n\
                   accord_switchover_ack_sent \n";
        let t = parse_traces(log);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].name, "accord_channel_named");
        assert_eq!(t[0].field("role"), Some("multifd"));
        assert_eq!(t[0].field("index"), Some("2"));
        assert_eq!(t[0].wall, Some(1_700_000_000.25));
        assert_eq!(t[1].name, "accord_switchover_ack_sent");
        assert_eq!(t[1].wall, None);
    }

    #[test]
    fn msg_timestamps_are_read_as_epoch_seconds() {
        let t = parse_traces("2026-12-02T13:37:33.123021Z accord_channels_ready count=6\n");
        assert_eq!(t[0].field("count"), Some("6"));
        let w = t[0].wall.unwrap();
        assert!((w - 1_796_218_653.123_021).abs() < 1e-5, "{w}");
        assert_eq!(iso_seconds("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(iso_seconds("2000-03-01T00:00:01.5Z"), Some(951_868_801.5));
    }

    #[test]
    fn accord_errors_are_found_in_error_desc() {
        let d = "accord: capability required by source, missing on destination (E202): capability switchover-ack";
        let e = accord_error(d).unwrap();
        assert_eq!(e.code, 202);
        assert!(e.text.ends_with("capability switchover-ack"));
        assert_eq!(accord_error("Unable to write to socket"), None);
    }

    #[test]
    fn preambles_are_read_from_protocol_examples() {
        let mut b = vec![0x41, 0x43, 0x52, 0x44, 1, 1, 1, 0, 0, 2, 0, 4];
        b.extend(0..16u8);
        assert_eq!(preamble(&b), Some((1, 0, 2, 4)));
        assert_eq!(preamble(b"QEVM"), None);
    }
}
