//! A recording TCP relay between a source and a destination QEMU.
//!
//! The relay listens on a loopback port. For each connection the source
//! makes, in arrival order, it opens one connection to the destination
//! (so the destination sees the same order), asks an identification hook
//! what the connection is, and then pumps bytes both ways on two threads.
//!
//! The hook ([`Identify`]) is given the connection's arrival index and may
//! peek at the source's first bytes through [`Arrival::peek`] (waiting) or
//! [`Arrival::peek_now`] (what has arrived, without waiting): the bytes are
//! read from the socket, kept, and forwarded to the destination before
//! anything else, so peeking never loses data. A hook can also decide
//! without reading at all, which it must do for a channel whose peer sends
//! nothing first (QEMU's postcopy-preempt channel), or *park* a connection
//! it cannot name yet without waiting on it ([`Verdict::Park`]): the relay
//! keeps it aside, unforwarded, and asks again after every later decision
//! and every 100 ms. Hooks run one at a time, in arrival order (parked
//! connections aside), on one thread, as a destination's own
//! identification would; connections identified earlier keep flowing
//! meanwhile.
//!
//! For each connection the relay records the arrival time, the first
//! `head_bytes` of each direction, the totals, when the first byte of each
//! direction passed, and, for the first connection, the whole
//! destination-to-source stream (QEMU's return path).
//!
//! Every blocking call has a timeout; [`Relay::finish`] stops everything
//! and joins the threads within a deadline.

use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How long one blocking socket call may last before the stop flag is
/// checked again.
const SLICE: Duration = Duration::from_millis(100);

/// What a connection was identified as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Channel {
    /// The main migration stream (starts with `QEVM`).
    Main,
    /// A multifd channel; the id from its header when the hook read it.
    Multifd {
        /// The `MultiFDInit_t` id byte, if known.
        id: Option<u8>,
    },
    /// The postcopy-preempt channel (no header of its own).
    Preempt,
    /// Anything else, with the hook's reason.
    Unknown(String),
}

impl Channel {
    /// A short tag, safe in a file name: `main`, `multifd2`, `preempt`,
    /// `unknown`.
    pub fn tag(&self) -> String {
        match self {
            Channel::Main => "main".into(),
            Channel::Multifd { id: Some(id) } => format!("multifd{id}"),
            Channel::Multifd { id: None } => "multifd".into(),
            Channel::Preempt => "preempt".into(),
            Channel::Unknown(_) => "unknown".into(),
        }
    }
}

impl fmt::Display for Channel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Channel::Unknown(why) => write!(f, "unknown ({why})"),
            other => f.write_str(&other.tag()),
        }
    }
}

/// One arriving connection, as shown to the identification hook.
pub struct Arrival<'a> {
    index: usize,
    arrived_after: Duration,
    src: &'a TcpStream,
    buffered: Vec<u8>,
    eof: bool,
    parks: usize,
}

impl Arrival<'_> {
    /// 0 for the first connection the source made, 1 for the next, ...
    pub fn index(&self) -> usize {
        self.index
    }

    /// Time from the relay's start to this connection's accept.
    pub fn arrived_after(&self) -> Duration {
        self.arrived_after
    }

    /// The source's first bytes seen so far (by earlier `peek` calls).
    pub fn peeked(&self) -> &[u8] {
        &self.buffered
    }

    /// True if the source closed its side while being peeked.
    pub fn source_closed(&self) -> bool {
        self.eof
    }

    /// The first `n` bytes if they have arrived, else what has: reads what
    /// the socket holds right now, never waits. For connections that may
    /// never send anything (a parked one).
    pub fn peek_now(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.buffered.len() < n && !self.eof {
            self.src.set_nonblocking(true)?;
            let mut chunk = vec![0u8; n - self.buffered.len()];
            let r = (&*self.src).read(&mut chunk);
            self.src.set_nonblocking(false)?;
            match r {
                Ok(0) => self.eof = true,
                Ok(k) => self.buffered.extend_from_slice(&chunk[..k]),
                Err(e) if is_transient(&e) => {}
                Err(e) => return Err(e),
            }
        }
        let k = self.buffered.len().min(n);
        Ok(&self.buffered[..k])
    }

    /// How many times this connection was parked before this call.
    pub fn parks(&self) -> usize {
        self.parks
    }

    /// Wait up to `timeout` until at least `n` bytes from the source are
    /// available and return the first `n`. On timeout or end of stream,
    /// returns what there is (possibly fewer than `n`, possibly none). The
    /// bytes are not consumed: the relay forwards them to the destination.
    pub fn peek(&mut self, n: usize, timeout: Duration) -> io::Result<&[u8]> {
        let deadline = Instant::now() + timeout;
        while self.buffered.len() < n && !self.eof {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.src
                .set_read_timeout(Some((deadline - now).min(SLICE)))?;
            let mut chunk = vec![0u8; n - self.buffered.len()];
            match (&*self.src).read(&mut chunk) {
                Ok(0) => self.eof = true,
                Ok(k) => self.buffered.extend_from_slice(&chunk[..k]),
                Err(e) if is_transient(&e) => {}
                Err(e) => return Err(e),
            }
        }
        let k = self.buffered.len().min(n);
        Ok(&self.buffered[..k])
    }
}

/// What a hook made of a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Named: the relay starts forwarding it.
    Named(Channel),
    /// Not nameable yet, and waiting on it could hang (it may be a channel
    /// that sends nothing): keep it aside and ask again after the next
    /// decision, or in 100 ms.
    Park,
    /// Named, then cut: nothing is forwarded and both ends are closed (a
    /// connection lost before it was ready). With
    /// [`RelayConfig::connect_when_named`] the destination never sees it.
    Cut(Channel),
}

impl From<Channel> for Verdict {
    fn from(c: Channel) -> Verdict {
        Verdict::Named(c)
    }
}

/// Names connections as they arrive. Called for each connection in arrival
/// order, and again for parked ones, from one thread; may keep state
/// between calls.
pub trait Identify: Send + 'static {
    /// Decide what `arrival` is, peeking at its bytes or not, or park it.
    fn identify(&mut self, arrival: &mut Arrival<'_>) -> Verdict;
}

impl<F> Identify for F
where
    F: FnMut(&mut Arrival<'_>) -> Channel + Send + 'static,
{
    fn identify(&mut self, arrival: &mut Arrival<'_>) -> Verdict {
        Verdict::Named(self(arrival))
    }
}

/// A hook that names nothing and reads nothing: every connection is
/// `Unknown`. The relay still records and forwards everything.
pub struct NoIdentify;

impl Identify for NoIdentify {
    fn identify(&mut self, _arrival: &mut Arrival<'_>) -> Verdict {
        Verdict::Named(Channel::Unknown("no identification hook".into()))
    }
}

/// Relay settings.
#[derive(Clone, Debug)]
pub struct RelayConfig {
    /// Where to listen; port 0 picks a free port. Loopback only.
    pub listen: SocketAddr,
    /// The destination to connect to for each accepted connection.
    pub target: SocketAddr,
    /// How many bytes of each direction to keep per connection.
    pub head_bytes: usize,
    /// Upper bound on the kept destination-to-source stream of the first
    /// connection (the return path); past it the rest is only counted.
    pub full_d2s_limit: usize,
    /// Upper bound on the kept source-to-destination stream of the first
    /// connection (the main stream); 0 keeps none of it beyond the head.
    pub full_s2d_limit: usize,
    /// Timeout for connecting to the target.
    pub connect_timeout: Duration,
    /// Connect to the destination when the hook names a connection rather
    /// than when the source's connection is accepted, so a hook that parks
    /// and releases connections reorders their arrival at the destination.
    pub connect_when_named: bool,
    /// Hold every chunk this long before forwarding it, in each direction
    /// (a link latency); zero forwards at once.
    pub delay: Duration,
}

impl RelayConfig {
    /// Listen on 127.0.0.1 (free port) and relay to `target`, keeping 8 KiB
    /// of each direction and up to 16 MiB of the first connection's
    /// destination-to-source stream.
    pub fn new(target: SocketAddr) -> RelayConfig {
        RelayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            target,
            head_bytes: 8 * 1024,
            full_d2s_limit: 16 * 1024 * 1024,
            full_s2d_limit: 0,
            connect_timeout: Duration::from_secs(5),
            connect_when_named: false,
            delay: Duration::ZERO,
        }
    }
}

/// What passed in one direction of one connection.
#[derive(Clone, Debug, Default)]
pub struct DirRecord {
    /// Bytes forwarded.
    pub total: u64,
    /// The first bytes (up to `head_bytes`).
    pub head: Vec<u8>,
    /// The whole stream, when kept (first connection, destination to
    /// source), up to the configured limit.
    pub full: Option<Vec<u8>>,
    /// When `full` is kept: for each read, (time from the relay's start,
    /// offset in `full` where that read's bytes begin).
    pub chunks: Vec<(Duration, usize)>,
    /// Time from the relay's start to the first byte, if any passed.
    pub first_byte_after: Option<Duration>,
    /// Time from the relay's start to the end of this direction.
    pub ended_after: Option<Duration>,
    /// How it ended: `eof`, `stopped`, or an error text.
    pub end: Option<String>,
}

impl DirRecord {
    /// When the byte at `offset` of the kept full stream passed the relay
    /// (time from the relay's start), if the full stream was kept.
    pub fn time_of(&self, offset: usize) -> Option<Duration> {
        self.chunks
            .iter()
            .take_while(|(_, at)| *at <= offset)
            .last()
            .map(|(t, _)| *t)
    }
}

/// Everything recorded about one connection.
#[derive(Clone, Debug)]
pub struct ConnRecord {
    /// Arrival order at the relay, from 0.
    pub index: usize,
    /// Time from the relay's start to the accept.
    pub arrived_after: Duration,
    /// The hook's verdict (None if the hook never ran).
    pub channel: Option<Channel>,
    /// How long the hook took.
    pub identify_took: Duration,
    /// How many bytes the hook peeked before deciding.
    pub peeked: usize,
    /// How many times the hook parked it before naming it.
    pub parks: usize,
    /// Source to destination.
    pub s2d: DirRecord,
    /// Destination to source.
    pub d2s: DirRecord,
    /// Why the connection could not be relayed, if it could not.
    pub error: Option<String>,
}

impl ConnRecord {
    /// The base of this connection's capture file names,
    /// e.g. `conn00-main`.
    pub fn file_stem(&self) -> String {
        let tag = self
            .channel
            .as_ref()
            .map(Channel::tag)
            .unwrap_or_else(|| "unidentified".into());
        format!("conn{:02}-{}", self.index, tag)
    }
}

struct Shared {
    start: Instant,
    cfg: RelayConfig,
    stop: AtomicBool,
    conns: Mutex<Vec<Arc<Mutex<ConnRecord>>>>,
    pumps: Mutex<Vec<JoinHandle<()>>>,
}

/// A running relay. Call [`Relay::finish`] to stop it and get the records;
/// dropping it stops it too.
pub struct Relay {
    addr: SocketAddr,
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
}

type Accepted = (usize, TcpStream, Option<TcpStream>, Arc<Mutex<ConnRecord>>);

impl Relay {
    /// Bind, then start the accept and identification threads.
    pub fn start(cfg: RelayConfig, hook: Box<dyn Identify>) -> io::Result<Relay> {
        if !cfg.listen.ip().is_loopback() || !cfg.target.ip().is_loopback() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the relay only works on loopback addresses",
            ));
        }
        let listener = TcpListener::bind(cfg.listen)?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            start: Instant::now(),
            cfg,
            stop: AtomicBool::new(false),
            conns: Mutex::new(Vec::new()),
            pumps: Mutex::new(Vec::new()),
        });
        let (tx, rx) = mpsc::channel::<Accepted>();
        let s1 = shared.clone();
        let accept = thread::Builder::new()
            .name("relay-accept".into())
            .spawn(move || accept_loop(listener, s1, tx))?;
        let s2 = shared.clone();
        let ident = thread::Builder::new()
            .name("relay-identify".into())
            .spawn(move || identify_loop(rx, s2, hook))?;
        Ok(Relay {
            addr,
            shared,
            threads: vec![accept, ident],
        })
    }

    /// The address the source should connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// When the relay started: the records' times count from here.
    pub fn started(&self) -> Instant {
        self.shared.start
    }

    /// A snapshot of the records so far.
    pub fn snapshot(&self) -> Vec<ConnRecord> {
        let conns = lock(&self.shared.conns);
        conns.iter().map(|c| lock(c).clone()).collect()
    }

    /// Wait up to `timeout` for every connection's two directions to end
    /// (both peers closed). Returns true if they all did.
    pub fn wait_closed(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let all = self
                .snapshot()
                .iter()
                .all(|c| c.error.is_some() || (c.s2d.end.is_some() && c.d2s.end.is_some()));
            if all || Instant::now() >= deadline {
                return all;
            }
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stop accepting, stop every pump (waiting up to `timeout` for the
    /// threads), and return the records in arrival order.
    pub fn finish(mut self, timeout: Duration) -> Vec<ConnRecord> {
        self.stop_and_join(timeout);
        self.snapshot()
    }

    fn stop_and_join(&mut self, timeout: Duration) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let deadline = Instant::now() + timeout;
        let mut handles: Vec<JoinHandle<()>> = self.threads.drain(..).collect();
        handles.extend(lock(&self.shared.pumps).drain(..));
        for h in handles {
            // Threads see the stop flag within one SLICE; don't wait past
            // the deadline for a stuck one (it is detached instead).
            while !h.is_finished() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(10));
            }
            if h.is_finished() {
                let _ = h.join();
            }
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if !self.threads.is_empty() {
            self.stop_and_join(Duration::from_secs(2));
        }
    }
}

/// Write the records' captures into `dir`: for each connection
/// `<stem>-s2d.bin` and `<stem>-d2s.bin` (the heads), plus
/// `<stem>-d2s-full.bin` / `<stem>-s2d-full.bin` where a whole stream was
/// kept, and a
/// `connections.txt` summary. Returns the summary text.
pub fn write_captures(dir: &Path, records: &[ConnRecord]) -> io::Result<String> {
    fs::create_dir_all(dir)?;
    let mut summary = String::new();
    for r in records {
        let stem = r.file_stem();
        fs::write(dir.join(format!("{stem}-s2d.bin")), &r.s2d.head)?;
        fs::write(dir.join(format!("{stem}-d2s.bin")), &r.d2s.head)?;
        if let Some(full) = &r.d2s.full {
            fs::write(dir.join(format!("{stem}-d2s-full.bin")), full)?;
        }
        if let Some(full) = &r.s2d.full {
            fs::write(dir.join(format!("{stem}-s2d-full.bin")), full)?;
        }
        summary.push_str(&describe(r));
        summary.push('\n');
    }
    fs::write(dir.join("connections.txt"), &summary)?;
    Ok(summary)
}

/// One line about a connection: index, verdict, timings, first bytes.
pub fn describe(r: &ConnRecord) -> String {
    let ms = |d: Option<Duration>| match d {
        Some(d) => format!("{:.1}ms", d.as_secs_f64() * 1e3),
        None => "-".into(),
    };
    let first = |h: &[u8]| {
        if h.is_empty() {
            "(none)".to_string()
        } else {
            h.iter()
                .take(8)
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join("")
        }
    };
    format!(
        "#{} {:<10} arrived {} (identified in {}, peeked {} B{}) | s2d {} B first@{} head {} end {} | d2s {} B first@{} head {} end {}{}",
        r.index,
        r.channel.as_ref().map(|c| c.to_string()).unwrap_or_else(|| "?".into()),
        ms(Some(r.arrived_after)),
        ms(Some(r.identify_took)),
        r.peeked,
        if r.parks > 0 {
            format!(", parked {}x", r.parks)
        } else {
            String::new()
        },
        r.s2d.total,
        ms(r.s2d.first_byte_after),
        first(&r.s2d.head),
        r.s2d.end.as_deref().unwrap_or("open"),
        r.d2s.total,
        ms(r.d2s.first_byte_after),
        first(&r.d2s.head),
        r.d2s.end.as_deref().unwrap_or("open"),
        r.error.as_ref().map(|e| format!(" | error: {e}")).unwrap_or_default(),
    )
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn is_transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>, tx: mpsc::Sender<Accepted>) {
    let mut index = 0usize;
    while !shared.stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((src, _peer)) => {
                let arrived_after = shared.start.elapsed();
                let rec = Arc::new(Mutex::new(ConnRecord {
                    index,
                    arrived_after,
                    channel: None,
                    identify_took: Duration::ZERO,
                    peeked: 0,
                    parks: 0,
                    s2d: DirRecord::default(),
                    d2s: DirRecord::default(),
                    error: None,
                }));
                lock(&shared.conns).push(rec.clone());
                // Connect to the destination now, on this thread, so the
                // destination sees connections in the source's order
                // (unless they are to be connected when named).
                let setup = src.set_nonblocking(false).and_then(|_| {
                    if shared.cfg.connect_when_named {
                        return Ok(None);
                    }
                    connect_target(&shared.cfg).map(Some)
                });
                match setup {
                    Ok(dst) => {
                        let _ = src.set_nodelay(true);
                        if tx.send((index, src, dst, rec.clone())).is_err() {
                            lock(&rec).error = Some("identification thread gone".into());
                        }
                    }
                    Err(e) => {
                        lock(&rec).error = Some(format!("connect to destination: {e}"));
                        let _ = src.shutdown(Shutdown::Both);
                    }
                }
                index += 1;
            }
            Err(e) if is_transient(&e) => thread::sleep(Duration::from_millis(5)),
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn connect_target(cfg: &RelayConfig) -> io::Result<TcpStream> {
    let dst = TcpStream::connect_timeout(&cfg.target, cfg.connect_timeout)?;
    let _ = dst.set_nodelay(true);
    Ok(dst)
}

/// A connection the hook has not named yet: what it peeked so far stays
/// with it.
struct Pending {
    index: usize,
    src: TcpStream,
    dst: Option<TcpStream>,
    rec: Arc<Mutex<ConnRecord>>,
    buffered: Vec<u8>,
    eof: bool,
    parks: usize,
    t0: Instant,
}

fn identify_loop(rx: mpsc::Receiver<Accepted>, shared: Arc<Shared>, mut hook: Box<dyn Identify>) {
    let mut parked: Vec<Pending> = Vec::new();
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            for p in parked.drain(..) {
                lock(&p.rec).error = Some(format!(
                    "still parked when the relay stopped (parked {}x, {} bytes seen)",
                    p.parks,
                    p.buffered.len()
                ));
            }
            return;
        }
        let pending = match rx.recv_timeout(SLICE) {
            Ok((index, src, dst, rec)) => Some(Pending {
                index,
                src,
                dst,
                rec,
                buffered: Vec::new(),
                eof: false,
                parks: 0,
                t0: Instant::now(),
            }),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        let mut decided = false;
        if let Some(p) = pending {
            match decide(hook.as_mut(), p, &shared) {
                Some(p) => parked.push(p),
                None => decided = true,
            }
        }
        // Parked connections get another look after every decision (the
        // state that decides them may have changed) and on every tick
        // (their bytes may have come).
        if decided || !parked.is_empty() {
            loop {
                let mut progress = false;
                let mut still = Vec::new();
                for p in parked.drain(..) {
                    match decide(hook.as_mut(), p, &shared) {
                        Some(p) => still.push(p),
                        None => progress = true,
                    }
                }
                parked = still;
                if !progress || parked.is_empty() {
                    break;
                }
            }
        }
    }
}

/// Ask the hook about `p`; start its pumps if named, else hand it back.
fn decide(hook: &mut dyn Identify, mut p: Pending, shared: &Arc<Shared>) -> Option<Pending> {
    let arrived_after = lock(&p.rec).arrived_after;
    let mut arrival = Arrival {
        index: p.index,
        arrived_after,
        src: &p.src,
        buffered: std::mem::take(&mut p.buffered),
        eof: p.eof,
        parks: p.parks,
    };
    let verdict = hook.identify(&mut arrival);
    let prefix = std::mem::take(&mut arrival.buffered);
    let src_eof = arrival.eof;
    let (channel, cut) = match verdict {
        Verdict::Park => {
            p.buffered = prefix;
            p.eof = src_eof;
            p.parks += 1;
            lock(&p.rec).parks = p.parks;
            return Some(p);
        }
        Verdict::Named(c) => (c, false),
        Verdict::Cut(c) => (c, true),
    };
    {
        let mut r = lock(&p.rec);
        r.channel = Some(channel);
        r.identify_took = p.t0.elapsed();
        r.peeked = prefix.len();
        r.parks = p.parks;
    }
    let Pending {
        index,
        src,
        dst,
        rec,
        ..
    } = p;
    if cut {
        let _ = src.shutdown(Shutdown::Both);
        if let Some(d) = &dst {
            let _ = d.shutdown(Shutdown::Both);
        }
        let mut guard = lock(&rec);
        let r = &mut *guard;
        for d in [&mut r.s2d, &mut r.d2s] {
            d.end = Some("cut by the relay".into());
            d.ended_after = Some(shared.start.elapsed());
        }
        return None;
    }
    let started = (|| -> io::Result<()> {
        let dst = match dst {
            Some(d) => d,
            None => connect_target(&shared.cfg).inspect_err(|_| {
                let _ = src.shutdown(Shutdown::Both);
            })?,
        };
        let src2 = src.try_clone()?;
        let dst2 = dst.try_clone()?;
        let (sh1, sh2) = (shared.clone(), shared.clone());
        let (r1, r2) = (rec.clone(), rec.clone());
        let keep_d2s = index == 0;
        let keep_s2d = index == 0 && shared.cfg.full_s2d_limit > 0;
        let a = thread::Builder::new()
            .name(format!("relay-{index}-s2d"))
            .spawn(move || pump(src, dst, prefix, src_eof, &sh1, &r1, Dir::S2d, keep_s2d))?;
        let b = thread::Builder::new()
            .name(format!("relay-{index}-d2s"))
            .spawn(move || pump(dst2, src2, Vec::new(), false, &sh2, &r2, Dir::D2s, keep_d2s))?;
        lock(&shared.pumps).extend([a, b]);
        Ok(())
    })();
    if let Err(e) = started {
        lock(&rec).error = Some(format!("starting pumps: {e}"));
    }
    None
}

#[derive(Copy, Clone)]
enum Dir {
    S2d,
    D2s,
}

/// Copy `from` to `to` until end of stream, an error, or the stop flag,
/// recording what passes. `prefix` (bytes already read by the hook) goes
/// first; `from_eof` says the hook already saw the end of `from`.
#[allow(clippy::too_many_arguments)]
fn pump(
    from: TcpStream,
    to: TcpStream,
    prefix: Vec<u8>,
    from_eof: bool,
    shared: &Arc<Shared>,
    rec: &Mutex<ConnRecord>,
    dir: Dir,
    keep_full: bool,
) {
    let head_cap = shared.cfg.head_bytes;
    let full_cap = match dir {
        Dir::S2d => shared.cfg.full_s2d_limit,
        Dir::D2s => shared.cfg.full_d2s_limit,
    };
    let record = |data: &[u8]| {
        let mut r = lock(rec);
        let d = match dir {
            Dir::S2d => &mut r.s2d,
            Dir::D2s => &mut r.d2s,
        };
        if d.first_byte_after.is_none() && !data.is_empty() {
            d.first_byte_after = Some(shared.start.elapsed());
        }
        d.total += data.len() as u64;
        let room = head_cap.saturating_sub(d.head.len());
        d.head.extend_from_slice(&data[..room.min(data.len())]);
        if keep_full {
            let full = d.full.get_or_insert_with(Vec::new);
            if !data.is_empty() && full.len() < full_cap {
                d.chunks.push((shared.start.elapsed(), full.len()));
            }
            let room = full_cap.saturating_sub(full.len());
            full.extend_from_slice(&data[..room.min(data.len())]);
        }
    };
    let end = |why: String| {
        let mut r = lock(rec);
        let d = match dir {
            Dir::S2d => &mut r.s2d,
            Dir::D2s => &mut r.d2s,
        };
        d.end = Some(why);
        d.ended_after = Some(shared.start.elapsed());
    };
    if keep_full {
        record(&[]);
    }
    let _ = from.set_read_timeout(Some(SLICE));
    let _ = to.set_write_timeout(Some(SLICE));
    let mut line = match shared.cfg.delay {
        d if d.is_zero() => None,
        d => match DelayLine::start(&to, d, shared.clone()) {
            Ok(l) => Some(l),
            Err(e) => return end(format!("error: starting the delay line: {e}")),
        },
    };
    let mut forward = |data: &[u8]| match line.as_mut() {
        Some(l) => l.send(data),
        None => write_all(&to, data, &shared.stop),
    };

    let outcome = (|| -> Result<&'static str, io::Error> {
        if !prefix.is_empty() {
            record(&prefix);
            if !forward(&prefix)? {
                return Ok("stopped");
            }
        }
        if from_eof {
            return Ok("eof");
        }
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if shared.stop.load(Ordering::SeqCst) {
                return Ok("stopped");
            }
            match (&from).read(&mut buf) {
                Ok(0) => return Ok("eof"),
                Ok(n) => {
                    record(&buf[..n]);
                    if !forward(&buf[..n])? {
                        return Ok("stopped");
                    }
                }
                Err(e) if is_transient(&e) => {}
                Err(e) => return Err(e),
            }
        }
    })();
    // What is still in the delay line goes out before the close.
    let outcome = match (outcome, line.take().map(DelayLine::finish)) {
        (Ok(_), Some(Ok(false))) => Ok("stopped"),
        (Ok(_), Some(Err(e))) => Err(e),
        (o, _) => o,
    };
    match outcome {
        Ok(why) => {
            if why == "eof" {
                // Pass the half-close on.
                let _ = to.shutdown(Shutdown::Write);
            }
            end(why.to_string());
        }
        Err(e) => {
            // A reset on one side: close both directions of the other.
            let _ = to.shutdown(Shutdown::Both);
            let _ = from.shutdown(Shutdown::Both);
            end(format!("error: {e}"));
        }
    }
}

/// A link latency: chunks are written to the socket `delay` after they
/// were read, by a thread of their own, so the delay does not limit the
/// throughput.
struct DelayLine {
    tx: Option<mpsc::Sender<(Instant, Vec<u8>)>>,
    writer: Option<JoinHandle<io::Result<bool>>>,
    broken: Arc<AtomicBool>,
    delay: Duration,
}

impl DelayLine {
    fn start(to: &TcpStream, delay: Duration, shared: Arc<Shared>) -> io::Result<DelayLine> {
        let to = to.try_clone()?;
        let broken = Arc::new(AtomicBool::new(false));
        let b = broken.clone();
        let (tx, rx) = mpsc::channel::<(Instant, Vec<u8>)>();
        let writer = thread::Builder::new()
            .name("relay-delay".into())
            .spawn(move || {
                let r = (|| {
                    while let Ok((due, data)) = rx.recv() {
                        let now = Instant::now();
                        if due > now {
                            thread::sleep(due - now);
                        }
                        if !write_all(&to, &data, &shared.stop)? {
                            return Ok(false);
                        }
                    }
                    Ok(true)
                })();
                if !matches!(r, Ok(true)) {
                    b.store(true, Ordering::SeqCst);
                }
                r
            })?;
        Ok(DelayLine {
            tx: Some(tx),
            writer: Some(writer),
            broken,
            delay,
        })
    }

    /// Queue a chunk; Ok(false) once the writer has stopped.
    fn send(&mut self, data: &[u8]) -> io::Result<bool> {
        let queued = self.tx.as_ref().is_some_and(|tx| {
            tx.send((Instant::now() + self.delay, data.to_vec()))
                .is_ok()
        });
        Ok(queued && !self.broken.load(Ordering::SeqCst))
    }

    /// Let the writer drain what is queued; its outcome.
    fn finish(mut self) -> io::Result<bool> {
        self.tx = None;
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            _ => Ok(false),
        }
    }
}

/// Write everything unless stopped. Ok(false) means the stop flag cut it
/// short.
fn write_all(to: &TcpStream, mut data: &[u8], stop: &AtomicBool) -> io::Result<bool> {
    while !data.is_empty() {
        if stop.load(Ordering::SeqCst) {
            return Ok(false);
        }
        match (&*to).write(data) {
            Ok(0) => return Err(io::Error::new(io::ErrorKind::WriteZero, "peer closed")),
            Ok(n) => data = &data[n..],
            Err(e) if is_transient(&e) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

/// The capture directory's files, for listing.
pub fn capture_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    Ok(v)
}
