//! The link over a simulated serial line: clean, lossy, corrupting,
//! stalling, and with a peer that restarts. Grouped by what the line does.
use std::collections::VecDeque;

use accord_link::{Event, Link, MAX_WIRE};

type L = Link<512, 512>;

/// xorshift64*: deterministic randomness without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// True with probability `per_mille` / 1000.
    fn chance(&mut self, per_mille: u64) -> bool {
        self.next() % 1000 < per_mille
    }
}

#[derive(Default, Clone, Copy)]
struct Faults {
    drop: u64,
    corrupt: u64,
    insert: u64,
}

struct Line {
    rng: Rng,
    faults: Faults,
    ab: VecDeque<u8>,
    ba: VecDeque<u8>,
    stalled: bool,
}

impl Line {
    fn new(seed: u64, faults: Faults) -> Self {
        Line {
            rng: Rng(seed | 1),
            faults,
            ab: VecDeque::new(),
            ba: VecDeque::new(),
            stalled: false,
        }
    }

    fn carry(&mut self, bytes: &[u8], a_to_b: bool) {
        for &b in bytes {
            if self.rng.chance(self.faults.drop) {
                continue;
            }
            let mut b = b;
            if self.rng.chance(self.faults.corrupt) {
                b ^= 1 << (self.rng.next() % 8);
            }
            let q = if a_to_b { &mut self.ab } else { &mut self.ba };
            q.push_back(b);
            if self.rng.chance(self.faults.insert) {
                q.push_back(self.rng.next() as u8);
            }
        }
    }

    /// One millisecond: both sides transmit, the line carries a few bytes
    /// each way (a partial read), both sides receive.
    fn step(&mut self, now: u64, a: &mut L, b: &mut L) {
        let mut buf = [0u8; MAX_WIRE];
        loop {
            let n = a.poll_transmit(now, &mut buf);
            if n == 0 {
                break;
            }
            self.carry(&buf[..n], true);
        }
        loop {
            let n = b.poll_transmit(now, &mut buf);
            if n == 0 {
                break;
            }
            self.carry(&buf[..n], false);
        }
        if self.stalled {
            return;
        }
        let chunk = 1 + (self.rng.next() % 40) as usize;
        let x: Vec<u8> = (0..chunk).filter_map(|_| self.ab.pop_front()).collect();
        b.input(&x);
        let y: Vec<u8> = (0..chunk).filter_map(|_| self.ba.pop_front()).collect();
        a.input(&y);
    }
}

/// Push `data` through `tx` (as room allows) and collect what `rx` delivers.
fn transfer(line: &mut Line, a: &mut L, b: &mut L, data: &[u8], ms: u64) -> Vec<u8> {
    let mut sent = 0;
    let mut got = Vec::new();
    for now in 0..ms {
        sent += a.write(&data[sent..]);
        line.step(now, a, b);
        got.extend_from_slice(b.received());
        let n = b.received().len();
        b.consume(n);
        if got.len() == data.len() && a.tx_pending() == 0 {
            break;
        }
    }
    got
}

fn opened_pair(line: &mut Line) -> (L, L) {
    let mut a = L::new(0xA1, 20);
    let mut b = L::new(0xB1, 20);
    a.open();
    b.open();
    for now in 0..5_000 {
        line.step(now, &mut a, &mut b);
        if a.is_open() && b.is_open() {
            return (a, b);
        }
    }
    panic!("link did not open");
}

fn stream(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 256) as u8).collect()
}

mod clean_line {
    use super::*;

    #[test]
    fn both_ends_open_and_report_it_once() {
        let mut line = Line::new(1, Faults::default());
        let (mut a, mut b) = opened_pair(&mut line);
        assert_eq!(a.poll_event(), Some(Event::Opened));
        assert_eq!(a.poll_event(), None);
        assert_eq!(b.poll_event(), Some(Event::Opened));
    }

    #[test]
    fn a_stream_arrives_whole_and_in_order_with_zeros_in_it() {
        let mut line = Line::new(2, Faults::default());
        let (mut a, mut b) = opened_pair(&mut line);
        let data = stream(1000);
        assert_eq!(transfer(&mut line, &mut a, &mut b, &data, 10_000), data);
        assert_eq!(a.stats().retransmits, 0);
        assert_eq!(b.stats().bad, 0);
    }

    #[test]
    fn nothing_is_sent_before_the_link_is_open() {
        let mut a = L::new(1, 20);
        a.write(b"early");
        let mut buf = [0u8; MAX_WIRE];
        assert_eq!(a.poll_transmit(0, &mut buf), 0, "not opened: silent");
        a.open();
        let n = a.poll_transmit(0, &mut buf);
        assert_eq!(buf[0], 0, "OPEN starts with a delimiter");
        assert!(n > 0);
        assert_eq!(a.poll_transmit(1, &mut buf), 0, "OPEN again only after rto");
        assert!(a.poll_transmit(20, &mut buf) > 0);
        assert_eq!(a.poll_timeout(), Some(40));
    }

    #[test]
    fn a_short_transmit_buffer_gets_nothing() {
        let mut a = L::new(1, 20);
        a.open();
        assert_eq!(a.poll_transmit(0, &mut [0u8; MAX_WIRE - 1]), 0);
    }
}

mod lossy_line {
    use super::*;

    #[test]
    fn dropped_corrupted_and_inserted_bytes_are_repaired() {
        for seed in 1..40 {
            let faults = Faults {
                drop: 5,
                corrupt: 5,
                insert: 5,
            };
            let mut line = Line::new(seed, faults);
            let (mut a, mut b) = opened_pair(&mut line);
            let data = stream(700);
            let got = transfer(&mut line, &mut a, &mut b, &data, 200_000);
            assert_eq!(got, data, "seed {seed}");
            assert!(a.stats().retransmits > 0 || b.stats().bad == 0);
        }
    }

    /// The fuzz-ish property: whatever the line does, no call panics, and
    /// once the line is clean again the next packet gets through (resync at
    /// the next delimiter) and the stream is exact.
    #[test]
    fn any_noise_never_panics_and_the_link_resyncs_after_it() {
        for seed in 1..200u64 {
            let mut rng = Rng(seed * 7919);
            let faults = Faults {
                drop: rng.next() % 300,
                corrupt: rng.next() % 300,
                insert: rng.next() % 300,
            };
            let mut line = Line::new(seed, faults);
            let mut a = L::new(seed as u32, 10);
            let mut b = L::new(!(seed as u32), 10);
            a.open();
            b.open();
            let data = stream(300);
            let mut sent = 0;
            for now in 0..2_000 {
                sent += a.write(&data[sent..]);
                line.step(now, &mut a, &mut b);
                let n = b.received().len();
                b.consume(n);
                // Pure noise too, at any point.
                let noise: Vec<u8> = (0..rng.next() % 8).map(|_| rng.next() as u8).collect();
                b.input(&noise);
            }
            // Clean line from here: it must finish.
            line.faults = Faults::default();
            line.ab.clear();
            line.ba.clear();
            b.input(&[0]); // the end of whatever noise was half-collected
            let mut delivered = 0;
            for now in 2_000..60_000 {
                sent += a.write(&data[sent..]);
                line.step(now, &mut a, &mut b);
                delivered += b.received().len();
                let n = b.received().len();
                b.consume(n);
                if a.is_open() && sent == data.len() && a.tx_pending() == 0 {
                    break;
                }
            }
            assert!(a.is_open() && b.is_open(), "seed {seed}: not open");
            assert_eq!(a.tx_pending(), 0, "seed {seed}: stream not acknowledged");
            assert!(delivered <= data.len(), "seed {seed}: delivered twice");
        }
    }

    #[test]
    fn the_receiver_resyncs_at_the_next_delimiter() {
        let mut a = L::new(1, 10);
        a.open();
        let mut open = [0u8; MAX_WIRE];
        let n = a.poll_transmit(0, &mut open);
        let mut b = L::new(2, 10);
        // A half packet (cut by a lost delimiter), noise, then a whole one.
        b.input(&open[3..n - 1]);
        b.input(&[0x17, 0x42, 0xFF]);
        b.input(&open[..n]);
        assert_eq!(b.stats().bad, 1, "the garbage run is one bad packet");
        assert_eq!(b.stats().good, 1, "the OPEN after it is received");
        let mut out = [0u8; MAX_WIRE];
        assert!(b.poll_transmit(0, &mut out) > 0, "and answered");
    }

    #[test]
    fn a_packet_longer_than_any_valid_one_is_dropped_whole() {
        let mut b = L::new(1, 10);
        b.input(&[0x55; 300]);
        b.input(&[0]);
        assert_eq!(b.stats().bad, 1);
        assert_eq!(b.stats().good, 0);
    }
}

mod stalled_line {
    use super::*;

    #[test]
    fn a_stall_delays_the_stream_and_the_retransmissions_are_absorbed() {
        let mut line = Line::new(3, Faults::default());
        let (mut a, mut b) = opened_pair(&mut line);
        let data = stream(400);
        let mut sent = a.write(&data);
        line.stalled = true;
        for now in 0..1_000 {
            line.step(now, &mut a, &mut b);
        }
        assert!(b.received().is_empty());
        assert!(a.stats().retransmits >= 40, "{:?}", a.stats());
        line.stalled = false;
        let mut got = Vec::new();
        for now in 1_000..20_000 {
            sent += a.write(&data[sent..]);
            line.step(now, &mut a, &mut b);
            got.extend_from_slice(b.received());
            let n = b.received().len();
            b.consume(n);
            if got.len() == data.len() && a.tx_pending() == 0 {
                break;
            }
        }
        assert_eq!(got, data);
        assert!(b.stats().duplicates > 0);
    }

    #[test]
    fn a_full_receive_buffer_holds_the_sender_back_without_loss() {
        let mut line = Line::new(4, Faults::default());
        let (mut a, mut b) = opened_pair(&mut line);
        let data = stream(1500);
        let mut sent = 0;
        for now in 0..3_000 {
            sent += a.write(&data[sent..]);
            line.step(now, &mut a, &mut b);
        }
        assert!(b.received().len() <= 512);
        assert!(b.received().len() > 512 - 64);
        let mut got = Vec::new();
        for now in 3_000..30_000 {
            sent += a.write(&data[sent..]);
            line.step(now, &mut a, &mut b);
            got.extend_from_slice(b.received());
            let n = b.received().len();
            b.consume(n);
            if got.len() == data.len() {
                break;
            }
        }
        assert_eq!(got, data);
    }
}

mod restarted_peer {
    use super::*;

    #[test]
    fn a_repeated_open_is_not_a_restart() {
        let mut line = Line::new(5, Faults::default());
        let (mut a, mut b) = opened_pair(&mut line);
        let data = stream(100);
        transfer(&mut line, &mut a, &mut b, &data, 1_000);
        // b's OPEN again, same boot id (its OPEN_ACK was lost, say).
        let mut twin = L::new(0xB1, 20);
        twin.open();
        let mut buf = [0u8; MAX_WIRE];
        let n = twin.poll_transmit(0, &mut buf);
        a.input(&buf[..n]);
        while a.poll_event() == Some(Event::Opened) {}
        assert_eq!(a.poll_event(), None);
        assert!(a.is_open());
    }

    #[test]
    fn a_new_boot_id_resets_both_directions_and_reopens() {
        let mut line = Line::new(6, Faults::default());
        let (mut a, mut b) = opened_pair(&mut line);
        while a.poll_event().is_some() {}
        // Something half-sent to the old peer.
        a.write(&stream(300));
        for now in 0..3 {
            line.step(now, &mut a, &mut b);
        }
        // b restarts with a new boot id.
        let mut b = L::new(0xB2, 20);
        b.open();
        line.ab.clear();
        line.ba.clear();
        for now in 100..2_000 {
            line.step(now, &mut a, &mut b);
            if a.is_open() && b.is_open() {
                break;
            }
        }
        assert_eq!(a.poll_event(), Some(Event::PeerRestarted));
        assert_eq!(a.poll_event(), Some(Event::Opened));
        assert_eq!(a.tx_pending(), 0, "the old stream is dropped");
        assert!(a.is_open() && b.is_open());
        // The new session's stream starts at seq 0 and arrives whole.
        let data = stream(200);
        assert_eq!(transfer(&mut line, &mut a, &mut b, &data, 10_000), data);
    }
}
