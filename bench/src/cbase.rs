//! The hand-written QEMU-style C baseline (c/qemu_style.c), through FFI.
//!
//! The `#[repr(C)]` types mirror c/qemu_style.h field for field. The safe
//! wrappers are the only `unsafe` code of the benchmarks.

use core::ffi::c_int;

/// Capacities of the C structs (equal to accord's defaults).
pub const MAX_CAPS: usize = 16;
/// Devices per Hello.
pub const MAX_DEVICES: usize = 32;
/// Bytes of an idstr.
pub const MAX_NAME: usize = 64;

/// `QsCap`: one capability offer.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct QsCap {
    /// Capability id.
    pub id: u16,
    /// 1 if required.
    pub required: u8,
    /// Parameter (channel count or 0).
    pub param: u16,
}

/// `QsEnabled`: one agreed capability.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct QsEnabled {
    /// Capability id.
    pub id: u16,
    /// Agreed parameter.
    pub param: u16,
}

/// `QsDevice`: idstr (copied, NUL-terminated), instance id, wants-ack flag.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct QsDevice {
    /// The idstr bytes, NUL-terminated.
    pub name: [u8; MAX_NAME + 1],
    /// idstr length.
    pub name_len: u8,
    /// Instance id.
    pub instance: u32,
    /// 1 if the source wants switchover-ack.
    pub wants_ack: u8,
}

impl Default for QsDevice {
    fn default() -> Self {
        QsDevice {
            name: [0; MAX_NAME + 1],
            name_len: 0,
            instance: 0,
            wants_ack: 0,
        }
    }
}

impl QsDevice {
    /// A device from its parts; `None` if the name is empty or too long.
    pub fn new(name: &str, instance: u32, wants_ack: bool) -> Option<Self> {
        let b = name.as_bytes();
        if b.is_empty() || b.len() > MAX_NAME {
            return None;
        }
        let mut d = QsDevice {
            name_len: b.len() as u8,
            instance,
            wants_ack: u8::from(wants_ack),
            ..Default::default()
        };
        d.name[..b.len()].copy_from_slice(b);
        Some(d)
    }

    /// The idstr.
    pub fn name(&self) -> &[u8] {
        &self.name[..usize::from(self.name_len)]
    }
}

/// `QsHello`.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct QsHello {
    /// Number of capability offers.
    pub ncaps: u8,
    /// Capability offers.
    pub caps: [QsCap; MAX_CAPS],
    /// Number of devices.
    pub ndevices: u32,
    /// Devices.
    pub devices: [QsDevice; MAX_DEVICES],
}

impl Default for QsHello {
    fn default() -> Self {
        QsHello {
            ncaps: 0,
            caps: [QsCap::default(); MAX_CAPS],
            ndevices: 0,
            devices: [QsDevice::default(); MAX_DEVICES],
        }
    }
}

/// `QsWelcome`.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct QsWelcome {
    /// Chosen version.
    pub version: u8,
    /// Number of destination offers.
    pub ncaps: u8,
    /// Destination offers.
    pub caps: [QsCap; MAX_CAPS],
    /// Number of enabled capabilities.
    pub nenabled: u8,
    /// Enabled capabilities.
    pub enabled: [QsEnabled; MAX_CAPS],
    /// Number of verdicts.
    pub nverdicts: u32,
    /// One verdict per Hello device.
    pub verdicts: [u8; MAX_DEVICES],
}

/// `QsPreamble`: accord's preamble as the C baseline decodes it.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct QsPreamble {
    /// Lowest version.
    pub min_version: u8,
    /// Highest version.
    pub max_version: u8,
    /// Role byte.
    pub role: u8,
    /// Flags.
    pub flags: u8,
    /// Index.
    pub index: u16,
    /// Total.
    pub total: u16,
    /// Nonce.
    pub nonce: [u8; 16],
}

/// `qs_legacy_classify`'s answer for a QEVM main channel.
pub const LEGACY_MAIN: i32 = 0;
/// `qs_legacy_classify`'s answer for a valid MultiFDInit_t.
pub const LEGACY_MULTIFD: i32 = 1;

extern "C" {
    fn qs_hello_encode(h: *const QsHello, out: *mut u8, cap: usize) -> isize;
    fn qs_hello_decode(buf: *const u8, len: usize, h: *mut QsHello) -> isize;
    fn qs_welcome_encode(w: *const QsWelcome, out: *mut u8, cap: usize) -> isize;
    fn qs_welcome_decode(buf: *const u8, len: usize, w: *mut QsWelcome) -> isize;
    fn qs_preamble_decode(b: *const u8, len: usize, p: *mut QsPreamble) -> c_int;
    fn qs_legacy_classify(
        st: *mut QsLegacyState,
        b: *const u8,
        len: usize,
        uuid: *const u8,
        channels: u8,
        id: *mut u8,
    ) -> c_int;
}

fn len(r: isize) -> Option<usize> {
    usize::try_from(r).ok()
}

/// Encode a Hello command into `out`; its length, or `None` on error.
pub fn hello_encode(h: &QsHello, out: &mut [u8]) -> Option<usize> {
    // SAFETY: `h` is a valid, initialised QsHello with the C layout
    // (#[repr(C)], same field order and types as qemu_style.h); `out` is a
    // writable buffer of exactly `out.len()` bytes, and the C writer never
    // writes at or past `cap`. Neither pointer is kept after the call.
    len(unsafe { qs_hello_encode(h, out.as_mut_ptr(), out.len()) })
}

/// Decode a Hello command from `buf` into `h`; the bytes used, or `None`.
pub fn hello_decode(buf: &[u8], h: &mut QsHello) -> Option<usize> {
    // SAFETY: `buf` is readable for `buf.len()` bytes and the C reader checks
    // every read against that length; `h` is a valid, exclusive QsHello whose
    // arrays hold QS_MAX_CAPS / QS_MAX_DEVICES entries, the bounds the C
    // decoder enforces before writing. No pointer outlives the call.
    len(unsafe { qs_hello_decode(buf.as_ptr(), buf.len(), h) })
}

/// Encode a Welcome command into `out`.
pub fn welcome_encode(w: &QsWelcome, out: &mut [u8]) -> Option<usize> {
    // SAFETY: as in `hello_encode`: a valid #[repr(C)] QsWelcome and a
    // buffer of `out.len()` writable bytes that the C writer never exceeds.
    len(unsafe { qs_welcome_encode(w, out.as_mut_ptr(), out.len()) })
}

/// Decode a Welcome command from `buf` into `w`.
pub fn welcome_decode(buf: &[u8], w: &mut QsWelcome) -> Option<usize> {
    // SAFETY: as in `hello_decode`: bounded reads of `buf`, and writes into
    // `w` only below the array capacities the C decoder checks first.
    len(unsafe { qs_welcome_decode(buf.as_ptr(), buf.len(), w) })
}

/// Decode accord's 28-byte preamble the way a C implementation would.
pub fn preamble_decode(b: &[u8], p: &mut QsPreamble) -> Option<u8> {
    // SAFETY: `b` is readable for `b.len()` bytes and the C code reads at
    // most 28 of them after checking `len >= 28`; `p` is a valid, exclusive
    // #[repr(C)] QsPreamble.
    let r = unsafe { qs_preamble_decode(b.as_ptr(), b.len(), p) };
    u8::try_from(r).ok()
}

/// `QsLegacyState`: what the C destination has seen so far.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct QsLegacyState {
    /// Main channel present.
    pub main: u8,
    /// Multifd channels present.
    pub count: u16,
    /// Multifd ids seen, one bit each.
    pub seen: [u32; 8],
}

/// A legacy connection as the C baseline classified it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Legacy {
    /// QEVM: the main channel.
    Main,
    /// A valid MultiFDInit_t with this id.
    Multifd(u8),
}

/// Classify a legacy QEMU connection's first bytes (QEVM main, or a
/// MultiFDInit_t for `uuid` with `channels` channels), as QEMU 10.1 does.
pub fn legacy_classify(
    st: &mut QsLegacyState,
    b: &[u8],
    uuid: &[u8; 16],
    channels: u8,
) -> Option<Legacy> {
    let mut id = 0u8;
    // SAFETY: `st` is a valid, exclusive #[repr(C)] QsLegacyState whose
    // `seen` array the C code indexes only with `id / 32 < 8`; `b` is
    // readable for `b.len()` bytes and the C code checks the length before
    // each read (4, then 64 bytes); `uuid` points to the 16 bytes it
    // compares; `id` is a valid u8 to write. No pointer outlives the call.
    let r =
        unsafe { qs_legacy_classify(st, b.as_ptr(), b.len(), uuid.as_ptr(), channels, &mut id) };
    match r {
        LEGACY_MAIN => Some(Legacy::Main),
        LEGACY_MULTIFD => Some(Legacy::Multifd(id)),
        _ => None,
    }
}
