//! The line between the two UARTs: a relay between the two QEMU chardev
//! sockets that can drop bytes, flip bits in them and hold them (a stall).

use std::collections::VecDeque;
use std::fmt;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::Sender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::timeline::{Board, Line, What};

#[derive(Copy, Clone, Default)]
pub struct Faults {
    /// Per mille of bytes dropped.
    pub drop: u64,
    /// Per mille of bytes with one bit flipped.
    pub corrupt: u64,
    /// Hold every byte from `at` ms for `len` ms (both directions).
    pub stall: Option<(u64, u64)>,
    pub seed: u64,
}

impl fmt::Display for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "drop {}‰, corrupt {}‰", self.drop, self.corrupt)?;
        match self.stall {
            Some((at, len)) => write!(f, ", stall {len} ms from {at} ms"),
            None => write!(f, ", no stall"),
        }
    }
}

/// xorshift64*: reproducible faults from `--seed`.
struct Rng(u64);
impl Rng {
    fn chance(&mut self, per_mille: u64) -> bool {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % 1000 < per_mille
    }
}

/// Relay both directions until either side closes. The stall window
/// counts from `origin` (ms after `relay_t0`; `u64::MAX` while not yet
/// known).
pub fn start(
    s: TcpStream,
    d: TcpStream,
    f: Faults,
    relay_t0: Instant,
    origin: Arc<AtomicU64>,
    t0: Instant,
    tx: Sender<Line>,
) {
    let (s2, d2) = (s.try_clone().expect("clone"), d.try_clone().expect("clone"));
    let clock = (relay_t0, origin.clone());
    spawn("source -> destination", s, d2, f, 1, clock, t0, tx.clone());
    spawn(
        "destination -> source",
        d,
        s2,
        f,
        2,
        (relay_t0, origin),
        t0,
        tx,
    );
}

#[allow(clippy::too_many_arguments)]
fn spawn(
    name: &'static str,
    mut from: TcpStream,
    mut to: TcpStream,
    f: Faults,
    salt: u64,
    (relay_t0, origin): (Instant, Arc<AtomicU64>),
    t0: Instant,
    tx: Sender<Line>,
) {
    std::thread::spawn(move || {
        let mut rng = Rng((f.seed.wrapping_mul(0x9E37_79B9) ^ salt) | 1);
        let _ = from.set_read_timeout(Some(Duration::from_millis(2)));
        let mut held: VecDeque<u8> = VecDeque::new();
        let mut buf = [0u8; 512];
        let (mut dropped, mut flipped, mut was_stalled) = (0u64, 0u64, false);
        loop {
            match from.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    for &b in &buf[..n] {
                        if rng.chance(f.drop) {
                            dropped += 1;
                            continue;
                        }
                        let mut b = b;
                        if rng.chance(f.corrupt) {
                            b ^= 1 << (dropped.wrapping_add(flipped) % 8);
                            flipped += 1;
                        }
                        held.push_back(b);
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => break,
            }
            let ms = relay_t0.elapsed().as_millis() as u64;
            let o = origin.load(Ordering::Relaxed);
            let stalled = o != u64::MAX
                && f.stall
                    .is_some_and(|(at, len)| ms >= o + at && ms < o + at + len);
            if stalled != was_stalled {
                was_stalled = stalled;
                let msg = if stalled {
                    format!("relay: {name} stalled")
                } else {
                    format!("relay: {name} flows again ({} bytes held)", held.len())
                };
                let _ = tx.send(Line::now(t0, Board::Relay, What::Text(msg)));
            }
            if !stalled && !held.is_empty() {
                let (a, b) = held.as_slices();
                if to.write_all(a).and_then(|()| to.write_all(b)).is_err() {
                    break;
                }
                held.clear();
            }
        }
        let msg = format!("relay: {name}: closed; {dropped} bytes dropped, {flipped} corrupted");
        let _ = tx.send(Line::now(t0, Board::Relay, What::Text(msg)));
    });
}

/// `system_reset` through QEMU's QMP socket at `path`.
pub fn qmp_reset(path: &str) -> std::io::Result<()> {
    let mut s = UnixStream::connect(path)?;
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut buf = [0u8; 4096];
    let _greeting = s.read(&mut buf)?;
    s.write_all(b"{\"execute\":\"qmp_capabilities\"}\n")?;
    let _ = s.read(&mut buf)?;
    s.write_all(b"{\"execute\":\"system_reset\"}\n")?;
    let _ = s.read(&mut buf)?;
    Ok(())
}
