//! Starting and stopping QEMU processes, with a guard that kills them on
//! every exit path.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::qmp::{Qmp, QmpError};

/// Environment variable naming the QEMU binary to use instead of
/// `qemu-system-x86_64` from `PATH`.
pub const QEMU_ENV: &str = "ACCORD_QEMU";

/// What every interop test says when QEMU is missing or too old.
pub const INSTALL_HINT: &str =
    "install it with `sudo bash scripts/install-qemu.sh` (QEMU 10.x from Debian bookworm-backports), \
     or point ACCORD_QEMU at a qemu-system-x86_64 10.x binary";

/// Find the QEMU binary: `$ACCORD_QEMU`, else `qemu-system-x86_64` on
/// `PATH`. Err explains what is missing and how to install it.
pub fn find_qemu() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(QEMU_ENV) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!(
                "{QEMU_ENV}={} is not a file; {INSTALL_HINT}",
                p.display()
            ))
        };
    }
    if let Some(p) = find_on_path("qemu-system-x86_64") {
        return Ok(p);
    }
    Err(format!(
        "qemu-system-x86_64 not found on PATH; {INSTALL_HINT}"
    ))
}

/// The first file called `name` in a `PATH` directory.
fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|cand| cand.is_file())
}

/// `qemu-system-x86_64 --version`, parsed to (major, minor, micro), with
/// the full first line. Bounded: the process is killed after 10 s.
pub fn qemu_version(bin: &Path) -> Result<((u32, u32, u32), String), String> {
    let mut child = Command::new(bin)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("running {} --version: {e}; {INSTALL_HINT}", bin.display()))?;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{} --version did not finish", bin.display()));
            }
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("reading {} --version: {e}", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or("").to_string();
    let ver = line
        .split("version ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .ok_or_else(|| format!("cannot parse QEMU version from {line:?}"))?;
    let mut it = ver.split('.').map(|s| s.parse::<u32>().unwrap_or(0));
    let v = (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    );
    Ok((v, line))
}

/// Which end of the migration a QEMU process is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Side {
    /// Started paused (`-S`), migrates out.
    Source,
    /// Started with `-incoming defer`, migrates in.
    Destination,
}

impl Side {
    /// `src` or `dst`.
    pub fn tag(self) -> &'static str {
        match self {
            Side::Source => "src",
            Side::Destination => "dst",
        }
    }
}

/// A running QEMU process. Dropping it kills the process (SIGKILL) and
/// reaps it, whatever happened before.
pub struct QemuProcess {
    child: Option<Child>,
    /// The QMP socket path.
    pub qmp_path: PathBuf,
    /// Where QEMU's stdout and stderr go.
    pub log_path: PathBuf,
    /// Which side it is.
    pub side: Side,
}

impl QemuProcess {
    /// Start a tiny q35 machine under TCG with QMP on a UNIX socket in
    /// `sock_dir` and its output in `log_dir`. `extra` arguments are
    /// appended.
    pub fn spawn(
        bin: &Path,
        side: Side,
        sock_dir: &Path,
        log_dir: &Path,
        extra: &[&str],
    ) -> io::Result<QemuProcess> {
        let qmp_path = sock_dir.join(format!("{}.qmp", side.tag()));
        let log_path = log_dir.join(format!("qemu-{}.log", side.tag()));
        let _ = fs::remove_file(&qmp_path);
        let log = File::create(&log_path)?;
        let log2 = log.try_clone()?;
        // Under util-linux `setpriv --pdeathsig KILL`, when there is one,
        // QEMU also dies if this process is killed outright (no Drop runs
        // then). The signal follows the spawning thread, which lives as
        // long as the guard in these tests.
        let mut cmd = match find_on_path("setpriv") {
            Some(setpriv) => {
                let mut c = Command::new(setpriv);
                c.args(["--pdeathsig", "KILL", "--"]).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        cmd.args([
            "-name",
            &format!("accord-interop-{}", side.tag()),
            "-M",
            "q35",
            "-accel",
            "tcg",
            "-m",
            "128M",
            "-smp",
            "1",
            "-nodefaults",
            "-no-user-config",
            // Debian's firmware (seabios, qemu-system-data), for binaries
            // built elsewhere, whose own data directory is empty.
            "-L",
            "/usr/share/seabios",
            "-L",
            "/usr/share/qemu",
            "-display",
            "none",
            "-qmp",
        ])
        .arg(format!("unix:{},server=on,wait=off", qmp_path.display()));
        match side {
            Side::Source => cmd.arg("-S"),
            Side::Destination => cmd.args(["-incoming", "defer"]),
        };
        cmd.args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2));
        let child = cmd.spawn()?;
        Ok(QemuProcess {
            child: Some(child),
            qmp_path,
            log_path,
            side,
        })
    }

    /// Connect to its QMP socket (retrying while QEMU starts up).
    pub fn qmp(&mut self, timeout: Duration) -> Result<Qmp, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_wait() {
                return Err(format!(
                    "{} QEMU exited during start-up ({status}); log:\n{}",
                    self.side.tag(),
                    self.log()
                ));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match Qmp::connect(&self.qmp_path, left.min(Duration::from_millis(500))) {
                Ok(q) => return Ok(q),
                Err(e @ QmpError::Io(_)) if Instant::now() < deadline => {
                    let _ = e;
                }
                Err(e) => {
                    return Err(format!(
                        "{} QMP connect: {e}; log:\n{}",
                        self.side.tag(),
                        self.log()
                    ))
                }
            }
        }
    }

    /// Its exit status, if it has exited.
    pub fn try_wait(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Its process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// What it printed so far (truncated to the last 4 KiB).
    pub fn log(&self) -> String {
        let s = fs::read_to_string(&self.log_path).unwrap_or_default();
        let start = s.len().saturating_sub(4096);
        let start = (start..=s.len())
            .find(|&i| s.is_char_boundary(i))
            .unwrap_or(0);
        s[start..].to_string()
    }

    /// Wait up to `timeout` for it to exit by itself, then kill it.
    /// Returns true if it exited by itself.
    pub fn wait_or_kill(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self.try_wait().is_some() {
                self.child = None;
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill();
        false
    }

    /// Kill (SIGKILL) and reap. Idempotent.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for QemuProcess {
    fn drop(&mut self) {
        self.kill();
        let _ = fs::remove_file(&self.qmp_path);
    }
}
