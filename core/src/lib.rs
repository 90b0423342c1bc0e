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

pub mod capacity;
pub mod caps;
pub mod channel;
pub mod channels;
pub mod destination;
pub mod device;
pub(crate) mod endpoint;
pub mod error;
pub mod event;
pub mod legacy;
pub(crate) mod machine;
pub(crate) mod names;
pub mod source;
pub mod time;
pub mod version;
pub mod wire;

pub use caps::{Agreed, CapOffer, CapabilityId, Enabled, Level, Offer};
pub use channel::{ChannelId, Role};
pub use destination::{Destination, DestinationConfig, DestinationState};
pub use device::{name, DeviceId};
pub use error::{Detail, DeviceName, Error, ErrorCode, Result};
pub use event::Event;
pub use names::Name;
pub use source::{AckPolicy, Source, SourceConfig, SourceState};
pub use time::{Duration, Instant};
pub use version::VersionRange;
pub use wire::preamble::Preamble;

/// accord's version, as a string (for the C API's `accord_version()`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
