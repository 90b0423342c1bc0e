//! The UART side of the link: bytes in and out, never blocking.

use accord_link::{Link, MAX_WIRE};

/// A polled UART.
pub trait Serial {
    /// A received byte, if one is waiting.
    fn read(&mut self) -> Option<u8>;
    /// Send `byte` if the transmitter can take it; `false` if it is busy.
    fn write(&mut self, byte: u8) -> bool;
}

/// The board's monotonic clock.
pub trait Clock {
    /// Milliseconds since the board started.
    fn now_ms(&mut self) -> u64;
}

/// Unacknowledged stream bytes the link holds (the largest Hello of these
/// capacities is 353 bytes with its preamble).
pub const LINK_TX: usize = 512;
/// Received stream bytes waiting for the state machine.
pub const LINK_RX: usize = 512;
/// Retransmission timeout: many packet times at 115200 baud, and room for
/// a busy host scheduling the two emulators.
pub const RTO_MS: u64 = 100;

/// The link type both boards use.
pub type BoardLink = Link<LINK_TX, LINK_RX>;

/// A link on a UART.
pub struct Port<S: Serial> {
    /// The UART.
    pub serial: S,
    /// The link state.
    pub link: BoardLink,
    wire: [u8; MAX_WIRE],
    wire_len: usize,
    wire_pos: usize,
    /// When bytes last arrived.
    pub last_rx: u64,
}

impl<S: Serial> Port<S> {
    /// A port whose link opens at once.
    pub fn new(serial: S, boot_id: u32) -> Self {
        let mut link = BoardLink::new(boot_id, RTO_MS);
        link.open();
        Port {
            serial,
            link,
            wire: [0; MAX_WIRE],
            wire_len: 0,
            wire_pos: 0,
            last_rx: 0,
        }
    }

    /// Move bytes: what the UART received into the link, what the link has
    /// to send into the UART, as far as it takes them. Bounded work.
    pub fn service(&mut self, now: u64) {
        let mut buf = [0u8; 32];
        let mut n = 0;
        for slot in buf.iter_mut() {
            match self.serial.read() {
                Some(b) => {
                    *slot = b;
                    n += 1;
                }
                None => break,
            }
        }
        if n > 0 {
            self.link.input(buf.get(..n).unwrap_or(&[]));
            self.last_rx = now;
        }
        for _ in 0..2 * MAX_WIRE {
            if self.wire_pos >= self.wire_len {
                self.wire_pos = 0;
                self.wire_len = self.link.poll_transmit(now, &mut self.wire);
                if self.wire_len == 0 {
                    break;
                }
            }
            let Some(&b) = self.wire.get(self.wire_pos) else {
                break;
            };
            if !self.serial.write(b) {
                break;
            }
            self.wire_pos += 1;
        }
    }

    /// Nothing left to send: every stream byte acknowledged, no packet half
    /// written to the UART.
    pub fn idle(&self) -> bool {
        self.link.tx_pending() == 0 && self.wire_pos >= self.wire_len
    }
}
