//! accord-core: the handshake of a live VM migration, made explicit.
//!
//! A [`Source`] and a [`Destination`] negotiate capabilities in-band, name
//! every channel, decide per device who takes part in switchover-ack, and
//! count approvals to a single ack. Both are sans-IO state machines: the
//! caller passes bytes, buffers and the current time; nothing here does I/O,
//! reads a clock, allocates or panics. docs/PROTOCOL.md is the wire spec.
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

pub(crate) mod log;

pub mod caps;
pub mod channel;
pub mod destination;
pub mod device;
pub(crate) mod endpoint;
pub mod error;
pub mod event;
pub mod legacy;
pub mod source;
pub mod time;
pub mod version;
pub mod wire;

/// Compile-time capacities, set through `ACCORD_*` environment variables
/// when accord-core is built (`ACCORD_MAX_DEVICES=8 cargo build`); the
/// defaults and bounds are in docs/PROTOCOL.md §10. Frame size is not one of
/// them: it is a protocol constant ([`wire::frame::MAX_FRAME`]) and the state
/// machines hold no frame buffer; the caller's buffer size is the knob.
pub mod capacity {
    include!(concat!(env!("OUT_DIR"), "/capacity.rs"));
}

pub use caps::{Agreed, CapOffer, CapabilityId, Enabled, Level, Offer};
pub use channel::{ChannelId, Role};
pub use destination::{Destination, DestinationConfig, DestinationState};
pub use device::DeviceId;
pub use error::{Detail, DeviceName, Error, ErrorCode, Result};
pub use event::Event;
pub use source::{AckPolicy, Source, SourceConfig, SourceState};
pub use time::{Duration, Instant};
pub use version::VersionRange;
pub use wire::preamble::Preamble;

/// A device idstr, bounded by [`capacity::MAX_NAME_LEN`].
pub type Name = heapless::String<{ capacity::MAX_NAME_LEN }>;

/// Build a [`Name`] from a string, refusing one that is too long.
pub fn name(s: &str) -> Result<Name> {
    let mut n = Name::new();
    n.push_str(s).map_err(|_| {
        Error::with(
            ErrorCode::InvalidArgument,
            Detail::Value {
                expected: capacity::MAX_NAME_LEN as u32,
                got: s.len() as u32,
            },
        )
    })?;
    Ok(n)
}

/// accord's version, as a string (for the C API's `accord_version()`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
