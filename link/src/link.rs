//! The link state machine (docs/PROTOCOL.md §12.2).

use crate::cobs;
use crate::packet::{Kind, Packet, MAX_ENCODED, MAX_PAYLOAD, MAX_WIRE};

/// What the link tells its user.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The peer answered our OPEN: stream bytes may flow.
    Opened,
    /// The peer sent OPEN with another boot id than before: it restarted,
    /// and everything either side had sent is gone. The link has reset both
    /// directions and opens again; the user's session with the old peer is
    /// over.
    PeerRestarted,
}

/// Counters, for logs and tests.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets that passed COBS and CRC.
    pub good: u32,
    /// Packets dropped: bad COBS, bad CRC, bad length, too long.
    pub bad: u32,
    /// DATA packets sent again after the retransmission timeout.
    pub retransmits: u32,
    /// DATA packets received twice (their ACK was lost), acknowledged again.
    pub duplicates: u32,
}

/// One end of a serial link carrying one byte stream each way.
///
/// `TX` bytes of stream wait for acknowledgement, `RX` received bytes wait
/// for the user ([`Link::received`], [`Link::consume`]).
#[derive(Clone, Debug)]
pub struct Link<const TX: usize, const RX: usize> {
    boot_id: u32,
    rto_ms: u64,
    open: bool,
    /// When OPEN (while not open) or the outstanding DATA was last sent.
    sent_at: Option<u64>,
    send_open: bool,
    peer_boot: Option<u32>,
    open_ack: Option<u32>,
    ack: Option<u8>,
    // Transmit side: `tx[..tx_len]` is unacknowledged stream; its first
    // `inflight` bytes are the outstanding DATA packet `tx_seq`.
    tx: [u8; TX],
    tx_len: usize,
    inflight: usize,
    tx_seq: u8,
    // Receive side: the packet being collected, and the delivered stream.
    dec: [u8; MAX_ENCODED],
    dec_len: usize,
    dec_overflow: bool,
    rx: [u8; RX],
    rx_len: usize,
    rx_seq: u8,
    events: [Option<Event>; 2],
    stats: Stats,
}

/// Move `buf[n..len]` to the front; returns the new length.
fn shift_left(buf: &mut [u8], n: usize, len: usize) -> usize {
    let len = len.min(buf.len());
    let n = n.min(len);
    for i in n..len {
        if let Some(b) = buf.get(i).copied() {
            if let Some(d) = buf.get_mut(i - n) {
                *d = b;
            }
        }
    }
    len - n
}

impl<const TX: usize, const RX: usize> Link<TX, RX> {
    /// A closed link. `boot_id` must differ from the previous boot's (a
    /// counter kept across resets, a random number): it is how the peer
    /// tells a restart from a repeated OPEN. `rto_ms`: how long to wait for
    /// an acknowledgement before sending again.
    pub const fn new(boot_id: u32, rto_ms: u64) -> Self {
        Link {
            boot_id,
            rto_ms,
            open: false,
            sent_at: None,
            send_open: false,
            peer_boot: None,
            open_ack: None,
            ack: None,
            tx: [0; TX],
            tx_len: 0,
            inflight: 0,
            tx_seq: 0,
            dec: [0; MAX_ENCODED],
            dec_len: 0,
            dec_overflow: false,
            rx: [0; RX],
            rx_len: 0,
            rx_seq: 0,
            events: [None; 2],
            stats: Stats {
                good: 0,
                bad: 0,
                retransmits: 0,
                duplicates: 0,
            },
        }
    }

    /// Start opening: OPEN goes out at the next [`Link::poll_transmit`] and
    /// again every `rto_ms` until the peer answers.
    pub fn open(&mut self) {
        self.open = false;
        self.send_open = true;
        self.sent_at = None;
    }

    /// Whether the peer answered our OPEN.
    pub fn is_open(&self) -> bool {
        self.open
    }

    /// This side's boot id.
    pub fn boot_id(&self) -> u32 {
        self.boot_id
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Room for more stream bytes.
    pub fn tx_free(&self) -> usize {
        TX - self.tx_len.min(TX)
    }

    /// Stream bytes not yet acknowledged by the peer.
    pub fn tx_pending(&self) -> usize {
        self.tx_len
    }

    /// Queue stream bytes; returns how many were taken (all, if
    /// [`Link::tx_free`] was at least `data.len()`).
    pub fn write(&mut self, data: &[u8]) -> usize {
        let free = self.tx.get_mut(self.tx_len..).unwrap_or(&mut []);
        let n = free.len().min(data.len());
        for (d, s) in free.iter_mut().zip(data) {
            *d = *s;
        }
        self.tx_len += n;
        n
    }

    /// Stream bytes received in order and not yet consumed.
    pub fn received(&self) -> &[u8] {
        self.rx.get(..self.rx_len).unwrap_or(&[])
    }

    /// Drop the first `n` received bytes (what the user has used).
    pub fn consume(&mut self, n: usize) {
        self.rx_len = shift_left(&mut self.rx, n, self.rx_len);
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        let [a, b] = &mut self.events;
        let e = a.take();
        *a = b.take();
        e
    }

    fn push_event(&mut self, e: Event) {
        for slot in self.events.iter_mut() {
            if slot.is_none() {
                *slot = Some(e);
                return;
            }
        }
    }

    /// When [`Link::poll_transmit`] next has something to send again
    /// (OPEN or DATA retransmission), if a packet is waiting for an answer.
    pub fn poll_timeout(&self) -> Option<u64> {
        let waiting = (self.send_open && !self.open) || self.inflight > 0;
        match (waiting, self.sent_at) {
            (true, Some(t)) => Some(t.saturating_add(self.rto_ms)),
            _ => None,
        }
    }

    /// Feed bytes read from the line. Bounded work: a constant amount per
    /// byte.
    pub fn input(&mut self, data: &[u8]) {
        for &b in data {
            if b == 0 {
                if !self.dec_overflow && self.dec_len > 0 {
                    self.packet_end();
                }
                self.dec_len = 0;
                self.dec_overflow = false;
            } else if let Some(slot) = self.dec.get_mut(self.dec_len) {
                *slot = b;
                self.dec_len += 1;
            } else if !self.dec_overflow {
                // Longer than any packet: noise, or a lost delimiter.
                self.dec_overflow = true;
                self.stats.bad = self.stats.bad.wrapping_add(1);
            }
        }
    }

    fn packet_end(&mut self) {
        let mut body = self.dec;
        let len = self.dec_len.min(body.len());
        let decoded = body.get_mut(..len).and_then(cobs::decode_in_place);
        let packet = decoded.and_then(|n| body.get(..n)).and_then(Packet::parse);
        let Some(p) = packet else {
            self.stats.bad = self.stats.bad.wrapping_add(1);
            return;
        };
        self.stats.good = self.stats.good.wrapping_add(1);
        match p.kind {
            Kind::Open => {
                let Some(id) = p.boot_id() else { return };
                self.open_ack = Some(id);
                match self.peer_boot {
                    Some(old) if old == id => {} // a repeated OPEN
                    Some(_) => {
                        // The peer restarted: both directions start over,
                        // and it must learn our boot id again.
                        self.peer_boot = Some(id);
                        self.reset_streams();
                        self.open();
                        self.push_event(Event::PeerRestarted);
                    }
                    None => {
                        self.peer_boot = Some(id);
                        self.rx_seq = 0;
                        self.rx_len = 0;
                    }
                }
            }
            Kind::OpenAck => {
                if p.boot_id() == Some(self.boot_id) && !self.open && self.send_open {
                    self.open = true;
                    self.send_open = false;
                    self.sent_at = None;
                    self.push_event(Event::Opened);
                }
            }
            Kind::Data => {
                if self.peer_boot.is_none() {
                    return; // from a peer that has not said who it is
                }
                if p.seq == self.rx_seq {
                    let free = self.rx.get_mut(self.rx_len..).unwrap_or(&mut []);
                    if free.len() < p.payload.len() {
                        return; // no room: not acknowledged, comes again
                    }
                    for (d, s) in free.iter_mut().zip(p.payload) {
                        *d = *s;
                    }
                    self.rx_len += p.payload.len();
                    self.rx_seq = self.rx_seq.wrapping_add(1);
                    self.ack = Some(p.seq);
                } else if p.seq == self.rx_seq.wrapping_sub(1) {
                    self.stats.duplicates = self.stats.duplicates.wrapping_add(1);
                    self.ack = Some(p.seq);
                }
            }
            Kind::Ack => {
                if self.inflight > 0 && p.seq == self.tx_seq {
                    self.tx_len = shift_left(&mut self.tx, self.inflight, self.tx_len);
                    self.inflight = 0;
                    self.tx_seq = self.tx_seq.wrapping_add(1);
                    self.sent_at = None;
                }
            }
        }
    }

    fn reset_streams(&mut self) {
        self.rx_seq = 0;
        self.rx_len = 0;
        self.tx_len = 0;
        self.inflight = 0;
        self.tx_seq = 0;
        self.ack = None;
        self.sent_at = None;
    }

    /// Write the next packet to send into `out` (at least [`MAX_WIRE`]
    /// bytes, or nothing is written) and return its length; 0 if nothing
    /// is due. Call it until it returns 0. Order: OPEN_ACK, ACK, OPEN,
    /// then DATA (new, or again after `rto_ms` without its ACK).
    pub fn poll_transmit(&mut self, now: u64, out: &mut [u8]) -> usize {
        if out.len() < MAX_WIRE {
            return 0;
        }
        let due = self
            .sent_at
            .is_none_or(|t| now >= t.saturating_add(self.rto_ms));
        let boot = self.boot_id.to_be_bytes();
        if let Some(id) = self.open_ack.take() {
            let id = id.to_be_bytes();
            return self.emit(Kind::OpenAck, 0, &id, out);
        }
        if let Some(seq) = self.ack.take() {
            return self.emit(Kind::Ack, seq, &[], out);
        }
        if !self.open {
            if self.send_open && due {
                self.sent_at = Some(now);
                return self.emit(Kind::Open, 0, &boot, out);
            }
            return 0;
        }
        if self.inflight > 0 {
            if !due {
                return 0;
            }
            self.stats.retransmits = self.stats.retransmits.wrapping_add(1);
        } else {
            self.inflight = self.tx_len.min(MAX_PAYLOAD);
            if self.inflight == 0 {
                return 0;
            }
        }
        self.sent_at = Some(now);
        let mut payload = [0u8; MAX_PAYLOAD];
        for (d, s) in payload.iter_mut().zip(self.tx.iter().take(self.inflight)) {
            *d = *s;
        }
        let payload = payload.get(..self.inflight).unwrap_or(&[]);
        self.emit(Kind::Data, self.tx_seq, payload, out)
    }

    fn emit(&self, kind: Kind, seq: u8, payload: &[u8], out: &mut [u8]) -> usize {
        Packet { kind, seq, payload }.encode(out).unwrap_or(0)
    }
}
