//! The relay with accord's classifier as its hook, on synthetic QEMU-like
//! connections (no QEMU needed): a connection that may be the silent
//! postcopy-preempt channel is parked, never waited on, and named once the
//! classifier can; a parked connection that does send its bytes is named
//! by them. This is the `x-preempt-pre-7-2` case on a 10.1+ destination,
//! which a QEMU 10.0 source cannot produce (it refuses multifd with
//! postcopy), so the real-QEMU tests never park.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use accord_core::legacy::{Decision, Family, LegacyConfig, MultifdInit};
use interop::legacy::LegacyIdentify;
use interop::relay::{Channel, ConnRecord, Relay, RelayConfig};

const UUID: [u8; 16] = [0x42; 16];
const WAIT: Duration = Duration::from_secs(5);

/// What each accepted connection sent so far, in accept order.
type Received = Arc<Mutex<Vec<Arc<Mutex<Vec<u8>>>>>>;

/// A destination that accepts everything and records what each
/// connection sends, in accept order.
struct Sink {
    addr: SocketAddr,
    got: Received,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Sink {
    fn start() -> Sink {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let got: Received = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (g, s) = (got.clone(), stop.clone());
        let t = thread::spawn(move || {
            let mut readers = Vec::new();
            while !s.load(Ordering::SeqCst) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        c.set_nonblocking(false).unwrap();
                        c.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
                        let buf = Arc::new(Mutex::new(Vec::new()));
                        g.lock().unwrap().push(buf.clone());
                        let s2 = s.clone();
                        readers.push(thread::spawn(move || {
                            let mut b = [0u8; 4096];
                            while !s2.load(Ordering::SeqCst) {
                                match c.read(&mut b) {
                                    Ok(0) => return,
                                    Ok(n) => buf.lock().unwrap().extend_from_slice(&b[..n]),
                                    Err(_) => {}
                                }
                            }
                        }));
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
            for r in readers {
                let _ = r.join();
            }
        });
        Sink {
            addr,
            got,
            stop,
            threads: vec![t],
        }
    }

    fn received(&self, i: usize) -> Vec<u8> {
        self.got
            .lock()
            .unwrap()
            .get(i)
            .map(|b| b.lock().unwrap().clone())
            .unwrap_or_default()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn wait_for(relay: &Relay, what: &str, f: impl Fn(&[ConnRecord]) -> bool) -> Vec<ConnRecord> {
    let deadline = Instant::now() + WAIT;
    loop {
        let snap = relay.snapshot();
        if f(&snap) {
            return snap;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {snap:#?}"
        );
        thread::sleep(Duration::from_millis(10));
    }
}

fn multifd_header(id: u8) -> [u8; 64] {
    let mut b = [0u8; 64];
    MultifdInit { uuid: UUID, id }.encode(&mut b).unwrap();
    b
}

fn pre_7_2_config() -> LegacyConfig {
    LegacyConfig {
        family: Family::Qemu10_1Plus,
        multifd_channels: 2,
        postcopy_ram: true,
        postcopy_preempt: true,
        preempt_pre_7_2: true,
        peekable: true,
        uuid: Some(UUID),
    }
}

fn connect(relay: &Relay) -> TcpStream {
    let c = TcpStream::connect_timeout(&relay.addr(), WAIT).unwrap();
    c.set_write_timeout(Some(WAIT)).unwrap();
    c
}

#[test]
fn an_early_silent_preempt_channel_is_parked_then_named_unread() {
    let sink = Sink::start();
    let (hook, steps) = LegacyIdentify::new(pre_7_2_config()).unwrap();
    let relay = Relay::start(RelayConfig::new(sink.addr), Box::new(hook)).unwrap();

    let mut main = connect(&relay);
    main.write_all(b"QEVM\0\0\0\x03").unwrap();
    wait_for(&relay, "main named", |s| {
        s.first().is_some_and(|r| r.channel.is_some())
    });
    // x-preempt-pre-7-2: preempt right after main, silent.
    let mut preempt = connect(&relay);
    wait_for(&relay, "preempt parked", |s| {
        s.get(1).is_some_and(|r| r.parks > 0)
    });
    let mut m1 = connect(&relay);
    m1.write_all(&multifd_header(1)).unwrap();
    wait_for(&relay, "multifd1 named", |s| {
        s.get(2).is_some_and(|r| r.channel.is_some())
    });
    let mut m0 = connect(&relay);
    m0.write_all(&multifd_header(0)).unwrap();
    let snap = wait_for(&relay, "every connection named", |s| {
        s.len() == 4 && s.iter().all(|r| r.channel.is_some())
    });
    let names: Vec<Option<Channel>> = snap.iter().map(|r| r.channel.clone()).collect();
    assert_eq!(
        names,
        [
            Some(Channel::Main),
            Some(Channel::Preempt),
            Some(Channel::Multifd { id: Some(1) }),
            Some(Channel::Multifd { id: Some(0) }),
        ]
    );
    assert_eq!(snap[1].peeked, 0, "the preempt channel was never read");
    assert!(
        snap[1].parks >= 2,
        "parked again after multifd1: {}",
        snap[1].parks
    );
    // Main came while nothing could be silent: peeked with waiting. A
    // multifd channel that arrives while the preempt channel is missing may
    // itself be parked for a moment if its header is not there yet: that
    // is the rule (no waiting on what may be silent), and its header then
    // names it.
    assert_eq!(snap[0].parks, 0);
    assert_eq!((snap[2].peeked, snap[3].peeked), (64, 64));
    let steps = steps.lock().unwrap().clone();
    let pre: Vec<_> = steps.iter().filter(|s| s.index == 1).collect();
    assert!(pre.iter().all(|s| s.given == 0
        && matches!(
            s.answer,
            Ok(Decision::MaybeSilent(4)) | Ok(Decision::Preempt)
        )));
    assert_eq!(pre.last().unwrap().answer, Ok(Decision::Preempt));

    // Once named, it is relayed like any other: postcopy pages flow.
    preempt.write_all(b"page data").unwrap();
    main.write_all(b"more").unwrap();
    let deadline = Instant::now() + WAIT;
    while sink.received(1) != b"page data" {
        assert!(
            Instant::now() < deadline,
            "preempt bytes never reached the destination"
        );
        thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(&sink.received(2)[..], &multifd_header(1)[..]);
    drop((main, preempt, m0, m1));
    let recs = relay.finish(WAIT);
    assert!(recs.iter().all(|r| r.error.is_none()), "{recs:#?}");
}

#[test]
fn a_parked_connection_that_sends_a_header_is_named_by_it() {
    let sink = Sink::start();
    let (hook, _) = LegacyIdentify::new(pre_7_2_config()).unwrap();
    let relay = Relay::start(RelayConfig::new(sink.addr), Box::new(hook)).unwrap();
    let mut main = connect(&relay);
    main.write_all(b"QEVM\0\0\0\x03").unwrap();
    wait_for(&relay, "main named", |s| {
        s.first().is_some_and(|r| r.channel.is_some())
    });
    // A multifd channel slow to send its header: it may be the silent
    // preempt channel, so it is parked rather than waited on...
    let mut slow = connect(&relay);
    wait_for(&relay, "slow one parked", |s| {
        s.get(1).is_some_and(|r| r.parks > 0)
    });
    // ...and named by its header once the header comes, in two pieces.
    let h = multifd_header(0);
    slow.write_all(&h[..10]).unwrap();
    thread::sleep(Duration::from_millis(250));
    slow.write_all(&h[10..]).unwrap();
    let snap = wait_for(&relay, "slow one named", |s| {
        s.get(1).is_some_and(|r| r.channel.is_some())
    });
    assert_eq!(snap[1].channel, Some(Channel::Multifd { id: Some(0) }));
    assert_eq!(snap[1].peeked, 64);
    let mut m1 = connect(&relay);
    m1.write_all(&multifd_header(1)).unwrap();
    wait_for(&relay, "multifd1 named", |s| {
        s.get(2).is_some_and(|r| r.channel.is_some())
    });
    let mut preempt = connect(&relay);
    let snap = wait_for(&relay, "all named", |s| {
        s.len() == 4 && s.iter().all(|r| r.channel.is_some())
    });
    assert_eq!(snap[3].channel, Some(Channel::Preempt));
    assert_eq!(
        snap[3].parks, 0,
        "complete main+multifd: preempt is decided at once"
    );
    preempt.write_all(b"x").unwrap();
    drop((main, slow, m1, preempt));
    relay.finish(WAIT);
}
