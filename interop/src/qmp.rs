//! A small, blocking QMP client: JSON lines over a UNIX socket.
//!
//! Every read is bounded by a deadline. Asynchronous events that arrive
//! while waiting for a command's answer are kept, in order, and can be
//! drained with [`Qmp::take_events`].

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

/// What went wrong talking to QEMU.
#[derive(Debug)]
pub enum QmpError {
    /// The socket failed or closed.
    Io(io::Error),
    /// Nothing complete arrived before the deadline.
    Timeout(&'static str),
    /// A line was not the JSON we expected.
    Protocol(String),
    /// QEMU answered the command with an error.
    Command {
        /// The command that failed.
        command: String,
        /// QEMU's error class, e.g. `GenericError`.
        class: String,
        /// QEMU's error text.
        desc: String,
    },
}

impl fmt::Display for QmpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QmpError::Io(e) => write!(f, "QMP I/O error: {e}"),
            QmpError::Timeout(what) => write!(f, "QMP timeout while waiting for {what}"),
            QmpError::Protocol(s) => write!(f, "QMP protocol error: {s}"),
            QmpError::Command {
                command,
                class,
                desc,
            } => write!(f, "QMP command {command} failed: {class}: {desc}"),
        }
    }
}

impl std::error::Error for QmpError {}

impl From<io::Error> for QmpError {
    fn from(e: io::Error) -> Self {
        QmpError::Io(e)
    }
}

/// A QMP asynchronous event, as received.
#[derive(Clone, Debug)]
pub struct Event {
    /// Event name, e.g. `MIGRATION`.
    pub name: String,
    /// The `data` member (or `null`).
    pub data: Value,
    /// When this client read it.
    pub received: Instant,
    /// QEMU's own stamp (wall clock), if present.
    pub timestamp: Option<SystemTime>,
}

/// A connected QMP session in command mode.
pub struct Qmp {
    stream: UnixStream,
    /// Bytes read but not yet split into lines.
    pending: Vec<u8>,
    events: Vec<Event>,
    /// Deadline for each command's answer.
    pub command_timeout: Duration,
    /// The greeting's `QMP.version.qemu` object.
    pub version: Value,
}

/// How long one `read` call may block; deadlines are checked between reads.
const READ_SLICE: Duration = Duration::from_millis(100);

impl Qmp {
    /// Connect to a QMP UNIX socket, retrying until `timeout` (the server
    /// may not have created it yet), read the greeting and enter command
    /// mode with `qmp_capabilities`.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Qmp, QmpError> {
        let deadline = Instant::now() + timeout;
        let stream = loop {
            match UnixStream::connect(path) {
                Ok(s) => break s,
                Err(e) if Instant::now() >= deadline => return Err(QmpError::Io(e)),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        stream.set_read_timeout(Some(READ_SLICE))?;
        stream.set_write_timeout(Some(Duration::from_secs(5)))?;
        let mut qmp = Qmp {
            stream,
            pending: Vec::new(),
            events: Vec::new(),
            command_timeout: Duration::from_secs(10),
            version: Value::Null,
        };
        let greeting = qmp.read_message(deadline, "the QMP greeting")?;
        let version = greeting
            .get("QMP")
            .and_then(|q| q.get("version"))
            .and_then(|v| v.get("qemu"))
            .cloned()
            .ok_or_else(|| QmpError::Protocol(format!("unexpected greeting: {greeting}")))?;
        qmp.version = version;
        qmp.execute("qmp_capabilities", Value::Null)?;
        Ok(qmp)
    }

    /// QEMU's version as (major, minor, micro), from the greeting.
    pub fn qemu_version(&self) -> (u64, u64, u64) {
        let get = |k: &str| self.version.get(k).and_then(Value::as_u64).unwrap_or(0);
        (get("major"), get("minor"), get("micro"))
    }

    /// Run one command and return its `return` value. `args` may be
    /// `Value::Null` for a command without arguments.
    pub fn execute(&mut self, command: &str, args: Value) -> Result<Value, QmpError> {
        let msg = if args.is_null() {
            json!({ "execute": command })
        } else {
            json!({ "execute": command, "arguments": args })
        };
        let mut line = serde_json::to_vec(&msg).map_err(|e| QmpError::Protocol(e.to_string()))?;
        line.push(b'\n');
        self.stream.write_all(&line)?;
        let deadline = Instant::now() + self.command_timeout;
        loop {
            let reply = self.read_message(deadline, "a command reply")?;
            if let Some(ret) = reply.get("return") {
                return Ok(ret.clone());
            }
            if let Some(err) = reply.get("error") {
                let s = |k: &str| err.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                return Err(QmpError::Command {
                    command: command.to_string(),
                    class: s("class"),
                    desc: s("desc"),
                });
            }
            // Anything else (an event) was stored by read_message.
        }
    }

    /// Wait up to `timeout` for any message (typically events); returns
    /// false if nothing arrived. Events are stored for `take_events`.
    pub fn poll_events(&mut self, timeout: Duration) -> Result<bool, QmpError> {
        let before = self.events.len();
        let deadline = Instant::now() + timeout;
        match self.read_message(deadline, "an event") {
            Ok(_) => Ok(self.events.len() > before),
            Err(QmpError::Timeout(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Every event received so far, oldest first; clears the list.
    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// Events received so far, without clearing them.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Read one JSON message (one line). Events are also appended to the
    /// event list before being returned.
    fn read_message(&mut self, deadline: Instant, what: &'static str) -> Result<Value, QmpError> {
        loop {
            if let Some(pos) = self.pending.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.pending.drain(..=pos).collect();
                let text = String::from_utf8_lossy(&line);
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                let v: Value = serde_json::from_str(text)
                    .map_err(|e| QmpError::Protocol(format!("{e}: {text}")))?;
                if let Some(name) = v.get("event").and_then(Value::as_str) {
                    self.events.push(Event {
                        name: name.to_string(),
                        data: v.get("data").cloned().unwrap_or(Value::Null),
                        received: Instant::now(),
                        timestamp: event_time(&v),
                    });
                }
                return Ok(v);
            }
            if Instant::now() >= deadline {
                return Err(QmpError::Timeout(what));
            }
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    return Err(QmpError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "QMP socket closed",
                    )))
                }
                Ok(n) => self.pending.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) => {}
                Err(e) => return Err(QmpError::Io(e)),
            }
        }
    }
}

/// An event's `timestamp` member as a wall-clock time.
fn event_time(v: &Value) -> Option<SystemTime> {
    let ts = v.get("timestamp")?;
    let secs = ts.get("seconds")?.as_u64()?;
    let micros = ts.get("microseconds")?.as_u64()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros))
}
