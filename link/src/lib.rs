//! accord-link: accord's main channel over one serial line.
//!
//! A UART gives a byte stream that can lose, change or delay bytes, and
//! gives no sign of where a message starts. accord's state machines need the
//! main channel's bytes whole and in order (docs/PROTOCOL.md §4). This crate
//! turns the line into that: the stream is cut into packets of at most
//! [`MAX_PAYLOAD`] bytes, each checked by a CRC-16, COBS-encoded so the byte
//! `00` never occurs inside it, and ended by `00`. A receiver that sees a
//! bad packet (wrong CRC, bad COBS, too long) drops it and starts again at
//! the next `00`. Lost and dropped packets come back by stop-and-wait
//! retransmission; a restarted peer is told apart by its boot id. The wire
//! format, byte by byte, is docs/PROTOCOL.md §12.
//!
//! Like accord-core it is sans-IO: the caller passes received bytes, the
//! time in milliseconds and the buffer to transmit from. No allocation, no
//! `unsafe`, no panics, bounded work per call.
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod cobs;
pub mod crc;
mod link;
pub mod packet;

pub use link::{Event, Link, Stats};
pub use packet::{Kind, Packet, MAX_PAYLOAD, MAX_WIRE};
