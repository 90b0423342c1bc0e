//! Both boards' output as one timeline: every line is stamped with the
//! host time it was read, and printed in that order.

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::Child;
use std::sync::mpsc::Sender;
use std::time::{Duration, Instant};

use accord_core::{CapabilityId, ErrorCode};
use defmt_decoder::{DecodeError, Table};

#[derive(Copy, Clone, PartialEq, Eq)]
pub enum Board {
    Source,
    Destination,
    Relay,
}

impl Board {
    pub fn index(self) -> Option<usize> {
        match self {
            Board::Source => Some(0),
            Board::Destination => Some(1),
            Board::Relay => None,
        }
    }
}

pub enum What {
    /// A text line from the board's stdout (or the host's own note).
    Text(String),
    /// A decoded defmt frame: the board's timestamp and the message.
    Log(String),
}

pub struct Line {
    pub at: Duration,
    pub board: Board,
    pub what: What,
}

impl Line {
    pub fn now(t0: Instant, board: Board, what: What) -> Line {
        Line {
            at: t0.elapsed(),
            board,
            what,
        }
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = match self.board {
            Board::Source => "source M0",
            Board::Destination => "dest   M4",
            Board::Relay => "host",
        };
        let ms = self.at.as_secs_f64() * 1e3;
        match &self.what {
            What::Text(t) => write!(f, "{ms:>9.1} ms  {who:<9} | {t}"),
            What::Log(t) => write!(f, "{ms:>9.1} ms  {who:<9} | {t}"),
        }
    }
}

/// Read the board's stdout (text) and stderr (defmt frames) on two threads.
pub fn follow(board: Board, child: &mut Child, elf: &Path, t0: Instant, tx: Sender<Line>) {
    if let Some(out) = child.stdout.take() {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(Line::now(t0, board, What::Text(line)));
            }
        });
    }
    let Some(mut err) = child.stderr.take() else {
        return;
    };
    let elf = std::fs::read(elf).unwrap_or_default();
    std::thread::spawn(move || {
        let table = match Table::parse(&elf) {
            Ok(Some(t)) => t,
            _ => {
                let _ = tx.send(Line::now(
                    t0,
                    board,
                    What::Text("(no defmt table in the ELF)".into()),
                ));
                return;
            }
        };
        let mut dec = table.new_stream_decoder();
        let mut buf = [0u8; 1024];
        loop {
            let n = match err.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            dec.received(&buf[..n]);
            loop {
                match dec.decode() {
                    Ok(frame) => {
                        let ts = frame
                            .display_timestamp()
                            .map(|t| t.to_string())
                            .unwrap_or_default();
                        let level = frame.level().map(|l| l.as_str()).unwrap_or("print");
                        let msg = format!("[{ts:>8}] {level:<5} {}", frame.display_message());
                        let _ = tx.send(Line::now(t0, board, What::Log(msg)));
                    }
                    Err(DecodeError::UnexpectedEof) => break,
                    Err(DecodeError::Malformed) => {
                        // Text QEMU wrote to stderr, or a frame cut by a reset.
                        let _ = tx.send(Line::now(
                            t0,
                            board,
                            What::Text("(undecodable bytes on stderr)".into()),
                        ));
                        break;
                    }
                }
            }
        }
    });
}

/// `fail 202 capability 3` -> the code's name and the capability's name.
pub fn explain(v: &str) -> String {
    let mut w = v.split_whitespace();
    if w.next() != Some("fail") {
        return v.to_string();
    }
    let Some(code) = w.next().and_then(|c| c.parse::<u16>().ok()) else {
        return v.to_string();
    };
    let name = ErrorCode::from_u16(code).map_or("?".to_string(), |c| format!("{c:?}"));
    let detail = match (w.next(), w.next()) {
        (Some("capability"), Some(id)) => {
            let id: u16 = id.parse().unwrap_or(0);
            format!(", capability {}", CapabilityId(id).name().unwrap_or("?"))
        }
        (Some(kind), Some(val)) => format!(", {kind} {val}"),
        _ => String::new(),
    };
    format!("fail: {name} (E{code}){detail}")
}
