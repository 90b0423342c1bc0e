//! The real loopback run that checks the simulation: the same endpoints as
//! [`crate::rtt`], over real TCP sockets on 127.0.0.1, through a relay that
//! delays everything by `delay` each way.
//!
//! The relay stands between source and destination. A connection's setup
//! costs what TCP's handshake costs on a link with that latency: the relay
//! waits `delay` before it connects to the destination (the SYN) and
//! `delay` again before it tells the source it is connected (the SYN-ACK,
//! one byte the source's connect helper reads). Every byte after that is held
//! `delay` in each direction. All sockets have Nagle off.
//!
//! This is for the report, never for tests: it sleeps and measures time.
//! Every run is bounded: listeners stop after the expected connections or a
//! deadline, and closing the source's sockets ends every relay thread.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::rtt::{Act, Conn, DestinationEnd, Protocol};

/// No run may take longer than this.
const LIMIT: Duration = Duration::from_secs(20);
const STACK: usize = 64 * 1024;

type Job = Box<dyn FnOnce() + Send>;

/// Threads started before the clock starts: a run with 64 channels needs
/// about 450 of them, and creating that many costs tens of milliseconds on
/// a busy two-core machine, which is no part of a handshake. Each job gets a
/// worker of its own (round robin over more workers than a run has jobs), so
/// a job never waits behind another that blocks.
#[derive(Clone)]
struct Pool {
    workers: Arc<Vec<Mutex<Sender<Job>>>>,
    next: Arc<AtomicUsize>,
}

impl Pool {
    fn new(workers: usize) -> io::Result<Self> {
        let mut senders = Vec::with_capacity(workers);
        for _ in 0..workers {
            let (tx, rx) = mpsc::channel::<Job>();
            thread::Builder::new()
                .name("loopback".into())
                .stack_size(STACK)
                .spawn(move || {
                    for job in rx {
                        job();
                    }
                })?;
            senders.push(Mutex::new(tx));
        }
        Ok(Pool {
            workers: Arc::new(senders),
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    fn spawn(&self, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.workers.len();
        let tx = self.workers[i]
            .lock()
            .map_err(|_| io::Error::other("pool poisoned"))?;
        tx.send(Box::new(f))
            .map_err(|_| io::Error::other("pool closed"))
    }
}

/// Accept exactly `n` connections (blocking). A run that fails before all
/// arrived releases this thread with [`release`].
fn accept_n(
    l: &TcpListener,
    n: usize,
    mut each: impl FnMut(TcpStream) -> io::Result<()>,
) -> io::Result<()> {
    for _ in 0..n {
        let (s, _) = l.accept()?;
        s.set_nodelay(true)?;
        each(s)?;
    }
    Ok(())
}

/// Connect to `addr` up to `n` times so that an `accept_n` still waiting
/// returns; used only when a run failed.
fn release(addr: SocketAddr, n: usize) {
    for _ in 0..n {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(50)).is_err() {
            break;
        }
    }
}

/// Copy `from` to `to`, each chunk held `delay` after it was read.
fn pump(pool: &Pool, mut from: TcpStream, mut to: TcpStream, delay: Duration) -> io::Result<()> {
    let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
    pool.spawn(move || {
        for (due, chunk) in rx {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    })?;
    pool.spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx
                        .send((Instant::now() + delay, buf[..n].to_vec()))
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
    })?;
    Ok(())
}

/// A relay for `n` connections to `upstream`, delaying by `delay` each way.
fn relay(pool: &Pool, upstream: SocketAddr, n: usize, delay: Duration) -> io::Result<SocketAddr> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let p = pool.clone();
    pool.spawn(move || {
        let _ = accept_n(&l, n, |mut client| {
            let p2 = p.clone();
            p.spawn(move || {
                thread::sleep(delay); // SYN
                let Ok(server) = TcpStream::connect(upstream) else {
                    return;
                };
                let _ = server.set_nodelay(true);
                thread::sleep(delay); // SYN-ACK
                if client.write_all(&[1]).is_err() {
                    return;
                }
                let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) else {
                    return;
                };
                let _ = pump(&p2, client, server, delay);
                let _ = pump(&p2, s2, c2, delay);
            })?;
            Ok(())
        });
    })?;
    Ok(addr)
}

/// Connect through the relay: returns once the emulated handshake is done.
fn connect(relay: SocketAddr) -> io::Result<TcpStream> {
    let mut s = TcpStream::connect(relay)?;
    s.set_nodelay(true)?;
    let mut token = [0u8; 1];
    s.read_exact(&mut token)?;
    Ok(s)
}

enum ToDst {
    Accepted(usize, TcpStream),
    Data(usize, Vec<u8>),
    Closed,
}

/// The destination: accept `n` connections, feed their bytes to `end`,
/// write its answers on the main connection. Returns when all are closed.
fn destination(
    pool: &Pool,
    mut end: Box<dyn DestinationEnd>,
    n: usize,
    t0: Instant,
    deadline: Instant,
) -> io::Result<(SocketAddr, Receiver<()>)> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    let addr = l.local_addr()?;
    let (tx, rx) = mpsc::channel::<ToDst>();
    let p = pool.clone();
    pool.spawn(move || {
        let mut k = 0;
        let _ = accept_n(&l, n, |s| {
            let mut r = s.try_clone()?;
            tx.send(ToDst::Accepted(k, s)).map_err(io::Error::other)?;
            let tx = tx.clone();
            let id = k;
            p.spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    match r.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(m) => {
                            if tx.send(ToDst::Data(id, buf[..m].to_vec())).is_err() {
                                break;
                            }
                        }
                    }
                }
                let _ = tx.send(ToDst::Closed);
            })?;
            k += 1;
            Ok(())
        });
    })?;
    let (done_tx, done) = mpsc::channel();
    pool.spawn(move || {
        let mut streams: BTreeMap<usize, TcpStream> = BTreeMap::new();
        let mut closed = 0;
        while closed < n {
            let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                break;
            };
            let now = t0.elapsed().as_millis() as u64;
            let out = match rx.recv_timeout(left) {
                Ok(ToDst::Accepted(k, s)) => {
                    streams.insert(k, s);
                    end.accepted(now, k)
                }
                Ok(ToDst::Data(k, b)) => end.received(now, k, &b),
                Ok(ToDst::Closed) => {
                    closed += 1;
                    None
                }
                Err(_) => break,
            };
            if let Some((k, bytes)) = out {
                if let Some(s) = streams.get_mut(&k) {
                    let _ = s.write_all(&bytes);
                }
            }
        }
        let _ = done_tx.send(());
    })?;
    Ok((addr, done))
}

enum ToSrc {
    Connected(Conn, TcpStream),
    Data(Vec<u8>),
    Failed(io::Error),
}

/// One setup over loopback with `delay` each way; the time from the first
/// connect until the source is ready.
pub fn run(protocol: Protocol, multifd: u16, delay: Duration) -> io::Result<Duration> {
    let n = usize::from(multifd) + 2;
    let (mut src, dst) = protocol.ends(multifd);
    let deadline = Instant::now() + LIMIT;
    let t0 = Instant::now();
    // Per connection: connect, relay setup, two pumps of two threads each,
    // a destination reader; then the source's main reader, two accept loops
    // and the destination's driver.
    let pool = Pool::new(7 * n + 8)?;
    let (dst_addr, dst_done) = destination(&pool, dst, n, t0, deadline)?;
    let relay_addr = relay(&pool, dst_addr, n, delay)?;
    let (tx, rx): (Sender<ToSrc>, Receiver<ToSrc>) = mpsc::channel();
    let mut streams: BTreeMap<Conn, TcpStream> = BTreeMap::new();
    let t0 = Instant::now();
    let mut pending = src.start(0);
    let result = loop {
        for act in std::mem::take(&mut pending) {
            match act {
                Act::Connect(c) => {
                    let tx = tx.clone();
                    pool.spawn(move || {
                        let _ = tx.send(match connect(relay_addr) {
                            Ok(s) => ToSrc::Connected(c, s),
                            Err(e) => ToSrc::Failed(e),
                        });
                    })?;
                }
                Act::Send(c, bytes) => {
                    let s = streams
                        .get_mut(&c)
                        .ok_or_else(|| io::Error::other("send before connect"))?;
                    s.write_all(&bytes)?;
                }
            }
        }
        if src.ready() {
            break Ok(t0.elapsed());
        }
        let left = deadline
            .checked_duration_since(Instant::now())
            .unwrap_or_default();
        let now = t0.elapsed().as_millis() as u64;
        match rx.recv_timeout(left) {
            Ok(ToSrc::Connected(c, s)) => {
                if c == Conn::Main {
                    let mut r = s.try_clone()?;
                    let tx = tx.clone();
                    pool.spawn(move || {
                        let mut buf = vec![0u8; 64 * 1024];
                        while let Ok(m) = r.read(&mut buf) {
                            if m == 0 || tx.send(ToSrc::Data(buf[..m].to_vec())).is_err() {
                                break;
                            }
                        }
                    })?;
                }
                streams.insert(c, s);
                pending = src.connected(now, c);
            }
            Ok(ToSrc::Data(b)) => pending = src.received(now, &b),
            Ok(ToSrc::Failed(e)) => break Err(e),
            Err(RecvTimeoutError::Timeout) => {
                break Err(io::Error::new(io::ErrorKind::TimedOut, "not ready in time"))
            }
            Err(RecvTimeoutError::Disconnected) => break Err(io::Error::other("disconnected")),
        }
    };
    // Closing the source's sockets ends the relay and the destination.
    let opened = streams.len();
    for s in streams.values() {
        let _ = s.shutdown(Shutdown::Both);
    }
    drop(streams);
    if result.is_err() {
        release(relay_addr, n - opened);
        release(dst_addr, n);
    }
    let _ = dst_done.recv_timeout(LIMIT);
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The loopback machinery completes both setups (no timing asserted).
    #[test]
    fn both_setups_complete_over_loopback() {
        for p in [Protocol::Accord, Protocol::Legacy] {
            for n in [1, 8] {
                run(p, n, Duration::ZERO).unwrap();
            }
        }
    }
}
