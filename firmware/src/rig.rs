//! What both workloads share: the scenario's devices and offer, buffer
//! sizes derived from the wire format, and the static storage of the two
//! state machines and their transmit buffers.
//!
//! Storage, deliberately: the two machines and the two transmit buffers
//! live in **statics** (`.bss`), as a firmware would keep them, so the
//! stack holds only what each call into accord-core needs.

use core::hint::black_box;
use core::mem::MaybeUninit;

use accord_core::capacity::{MAX_CAPABILITIES, MAX_DEVICES, MAX_NAME_LEN};
use accord_core::wire::{frame, preamble};
use accord_core::{CapabilityId, Destination, Instant, Level, Source, SourceConfig};

// ---------------------------------------------------------------------------
// Buffer sizes, from the wire format (docs/PROTOCOL.md §3-5) and the
// compile-time capacities, so a build with other ACCORD_* values gets
// buffers that still hold the largest frames. Postcard writes u16/u32 as
// varints (at most 3 / 5 bytes) and list lengths as a u32 varint.

/// A capability offer on the wire: id (u16), required (bool), param (u16).
const CAP_OFFER_MAX: usize = 3 + 1 + 3;
/// An enabled capability: id and param.
const ENABLED_MAX: usize = 3 + 3;
/// A device in Hello: name (length + bytes), instance (u32), wants_ack.
const DEVICE_OFFER_MAX: usize = 2 + MAX_NAME_LEN + 5 + 1;
/// Preamble, frame header and the largest Hello this build can send.
pub const HELLO_MAX: usize = preamble::LEN
    + frame::HEADER_LEN
    + 5
    + MAX_CAPABILITIES * CAP_OFFER_MAX
    + 5
    + MAX_DEVICES * DEVICE_OFFER_MAX;
/// Preamble, then the destination's frames of one poll: the largest Welcome
/// (version, offer, agreed list, one verdict per device), or the largest
/// Reject/Abort (code, a device-name detail). ChannelsReady, SwitchoverAck
/// and SwitchoverRevoke are a few bytes and go out in later polls if the
/// Welcome filled the buffer.
pub const WELCOME_MAX: usize = preamble::LEN
    + frame::HEADER_LEN
    + 1
    + 5
    + MAX_CAPABILITIES * CAP_OFFER_MAX
    + 5
    + MAX_CAPABILITIES * ENABLED_MAX
    + 5
    + MAX_DEVICES;
const FAILURE_MAX: usize = preamble::LEN + frame::HEADER_LEN + 3 + 1 + 2 + MAX_NAME_LEN + 5;
const SMALL_FRAMES: usize = 3 * (frame::HEADER_LEN + 8);
const fn max(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}
/// Source to destination: preamble + Hello, or a SwitchoverStart or Abort.
pub const SRC_TX_LEN: usize = max(HELLO_MAX, FAILURE_MAX);
/// Destination to source.
pub const DST_TX_LEN: usize = max(WELCOME_MAX, FAILURE_MAX) + SMALL_FRAMES;

// ---------------------------------------------------------------------------
// Static storage. Each scenario takes `&'static mut` references to these
// once, uses them, and drops them before the next scenario takes new ones:
// one thread, no interrupt touches them, so no two live references alias.

static mut SOURCE: MaybeUninit<Source> = MaybeUninit::uninit();
static mut DESTINATION: MaybeUninit<Destination> = MaybeUninit::uninit();
static mut SRC_TX: [u8; SRC_TX_LEN] = [0; SRC_TX_LEN];
static mut DST_TX: [u8; DST_TX_LEN] = [0; DST_TX_LEN];

/// Bytes of static RAM the workload reserves (machines and buffers).
pub const STATIC_BYTES: usize =
    core::mem::size_of::<Source>() + core::mem::size_of::<Destination>() + SRC_TX_LEN + DST_TX_LEN;

pub struct Rig {
    pub src: &'static mut Source,
    pub dst: &'static mut Destination,
    pub src_tx: &'static mut [u8; SRC_TX_LEN],
    pub dst_tx: &'static mut [u8; DST_TX_LEN],
}

// The soundness argument of the three functions below: see "Static
// storage" above. The caller holds no other reference into these statics
// when it calls them (the previous scenario's references are gone), the
// firmware is single-threaded and no interrupt handler touches them.
// `&raw mut` takes no intermediate reference. A previous occupant is
// overwritten without running its destructor: it owns nothing but inline
// memory, so nothing is lost.

/// Move a freshly built source into its static.
pub fn place_source(s: accord_core::Result<Source>) -> Option<&'static mut Source> {
    let s = s.ok()?;
    let slot: *mut MaybeUninit<Source> = &raw mut SOURCE;
    // SAFETY: see above; `slot` is valid and aligned (a static).
    Some(unsafe { (*slot).write(s) })
}

/// Move a freshly built destination into its static.
pub fn place_destination(d: accord_core::Result<Destination>) -> Option<&'static mut Destination> {
    let d = d.ok()?;
    let slot: *mut MaybeUninit<Destination> = &raw mut DESTINATION;
    // SAFETY: see above; `slot` is valid and aligned (a static).
    Some(unsafe { (*slot).write(d) })
}

/// The two transmit buffers.
pub fn buffers() -> (&'static mut [u8; SRC_TX_LEN], &'static mut [u8; DST_TX_LEN]) {
    let (a, b): (*mut [u8; SRC_TX_LEN], *mut [u8; DST_TX_LEN]) = (&raw mut SRC_TX, &raw mut DST_TX);
    // SAFETY: see above; both are valid, initialised statics.
    unsafe { (&mut *a, &mut *b) }
}

// ---------------------------------------------------------------------------

pub const NONCE: [u8; 16] = *b"fw-accord-nonce!";
pub const RAM: &str = "ram";
pub const NIC: &str = "0000:00:02.0/vfio-nic";
pub const GPU: &str = "0000:00:03.0/vfio-gpu";
pub const NVME: &str = "0000:00:04.0/vfio-nvme";
/// (name, source wants switchover-ack / destination supports it)
pub const DEVICES: [(&str, bool); 4] = [(RAM, false), (NIC, true), (GPU, true), (NVME, true)];
pub const MULTIFD: u16 = 4;

pub fn ms(t: u64) -> Instant {
    Instant(black_box(1_000 + t))
}

pub fn source_config() -> Result<SourceConfig, &'static str> {
    let mut cfg = SourceConfig::default();
    let caps = black_box([
        (CapabilityId::RETURN_PATH, Level::Required, 0),
        (CapabilityId::MULTIFD, Level::Required, MULTIFD),
        (CapabilityId::POSTCOPY_RAM, Level::Optional, 0),
        (CapabilityId::POSTCOPY_PREEMPT, Level::Optional, 0),
        (CapabilityId::SWITCHOVER_ACK, Level::Required, 0),
    ]);
    for (id, level, param) in caps {
        cfg.capabilities
            .set(id, level, param)
            .map_err(|_| "source offer refused")?;
    }
    Ok(cfg)
}
