//! Result codes, their static strings, and the detail of the last error.
//!
//! Every function returns an `int32_t`: `ACCORD_OK` (0), the status
//! `ACCORD_NEED_MORE` (1, not an error), a protocol code `ACCORD_E_*` (the
//! stable numbers 101..=809 of docs/PROTOCOL.md §9, shared with the wire), or
//! a code of the C boundary `ACCORD_ERR_*` (1001 and up, never on the wire).
//! Codes are never renumbered or reused.

use core::ffi::c_char;
use core::fmt::{self, Write};

use accord_core::error::{Detail, DeviceName, Error, ErrorCode, PeerName};
use accord_core::{CapabilityId, Role, VersionRange};

use crate::types::ACCORD_DEVICE_NAME_SIZE;

/// A result code: `ACCORD_OK`, `ACCORD_NEED_MORE`, `ACCORD_E_*` or `ACCORD_ERR_*`.
pub type accord_result = i32;

/// Success.
pub const ACCORD_OK: accord_result = 0;
/// Not an error: the input is incomplete; call again with more bytes.
pub const ACCORD_NEED_MORE: accord_result = 1;

// BEGIN error codes: generated from core/src/error.rs's list by
/// 101: The first four bytes are not accord's magic `ACRD`.
pub const ACCORD_E_BAD_MAGIC: accord_result = 101;
/// 102: A version range is empty, starts at 0 or reaches the reserved 255.
pub const ACCORD_E_BAD_VERSION_RANGE: accord_result = 102;
/// 103: A preamble names a channel role this version does not know.
pub const ACCORD_E_UNKNOWN_ROLE: accord_result = 103;
/// 104: A preamble sets flag bits that are reserved.
pub const ACCORD_E_RESERVED_FLAGS: accord_result = 104;
/// 105: A frame header announces a payload longer than the protocol maximum.
pub const ACCORD_E_FRAME_TOO_LARGE: accord_result = 105;
/// 106: A frame type this version does not know.
pub const ACCORD_E_UNKNOWN_FRAME_TYPE: accord_result = 106;
/// 107: A payload does not decode, or has bytes left over after decoding.
pub const ACCORD_E_MALFORMED_PAYLOAD: accord_result = 107;
/// 108: A frame that is valid but not allowed in the receiver's state.
pub const ACCORD_E_UNEXPECTED_FRAME: accord_result = 108;
/// 109: The caller's output buffer cannot hold the next transmission.
pub const ACCORD_E_BUFFER_TOO_SMALL: accord_result = 109;
/// 110: A preamble's index/total pair is inconsistent (index >= total, total 0).
pub const ACCORD_E_BAD_CHANNEL_INDEX: accord_result = 110;
/// 201: The two version ranges do not overlap.
pub const ACCORD_E_NO_COMMON_VERSION: accord_result = 201;
/// 202: The source requires a capability the destination does not offer.
pub const ACCORD_E_CAPABILITY_MISSING_ON_DESTINATION: accord_result = 202;
/// 203: The destination requires a capability the source does not offer.
pub const ACCORD_E_CAPABILITY_MISSING_ON_SOURCE: accord_result = 203;
/// 204: A required capability is on but a capability it depends on is off.
pub const ACCORD_E_CAPABILITY_DEPENDENCY: accord_result = 204;
/// 205: An offer is inconsistent: duplicate or unordered ids, bad parameter, reserved id.
pub const ACCORD_E_INVALID_OFFER: accord_result = 205;
/// 206: The source wants switchover-ack for a device the destination cannot serve.
pub const ACCORD_E_DEVICE_UNSUPPORTED: accord_result = 206;
/// 207: The source lists a device the destination does not have.
pub const ACCORD_E_DEVICE_MISSING_ON_DESTINATION: accord_result = 207;
/// 208: The destination has a device the source does not list.
pub const ACCORD_E_DEVICE_MISSING_ON_SOURCE: accord_result = 208;
/// 209: A device (idstr, instance) is listed twice.
pub const ACCORD_E_DUPLICATE_DEVICE: accord_result = 209;
/// 210: The source's recomputation of the outcome differs from the destination's Welcome.
pub const ACCORD_E_OUTCOME_MISMATCH: accord_result = 210;
/// 301: A channel preamble carries another session's nonce.
pub const ACCORD_E_WRONG_NONCE: accord_result = 301;
/// 302: A channel's index is beyond the negotiated count for its role.
pub const ACCORD_E_CHANNEL_INDEX_OUT_OF_RANGE: accord_result = 302;
/// 303: A channel (role, index) was already assigned.
pub const ACCORD_E_DUPLICATE_CHANNEL: accord_result = 303;
/// 304: A channel's role was not negotiated (for example preempt without postcopy-preempt).
pub const ACCORD_E_ROLE_NOT_NEGOTIATED: accord_result = 304;
/// 305: More channels arrived before Welcome than the early-channel capacity.
pub const ACCORD_E_TOO_MANY_EARLY_CHANNELS: accord_result = 305;
/// 306: A channel's total disagrees with the negotiated count for its role.
pub const ACCORD_E_CHANNEL_TOTAL_MISMATCH: accord_result = 306;
/// 307: A re-attach names a channel that was never attached.
pub const ACCORD_E_BAD_REATTACH: accord_result = 307;
/// 308: A ChannelsReady lists a set other than the negotiated one.
pub const ACCORD_E_CHANNEL_SET_MISMATCH: accord_result = 308;
/// 401: Approve or revoke names a device the destination does not have.
pub const ACCORD_E_UNKNOWN_DEVICE: accord_result = 401;
/// 402: Approve or revoke names a device that does not take part in switchover-ack.
pub const ACCORD_E_DEVICE_NOT_PARTICIPATING: accord_result = 402;
/// 403: The device already approved (since the last revoke).
pub const ACCORD_E_ALREADY_APPROVED: accord_result = 403;
/// 404: A revoke after the source announced its switchover decision.
pub const ACCORD_E_REVOKE_AFTER_SWITCHOVER_START: accord_result = 404;
/// 405: The source asked to switch over before the ack (or without channels ready).
pub const ACCORD_E_SWITCHOVER_NOT_ALLOWED: accord_result = 405;
/// 406: Revoke names a device that has not approved.
pub const ACCORD_E_NOT_APPROVED: accord_result = 406;
/// 501: No Hello arrived before the destination's deadline.
pub const ACCORD_E_HELLO_TIMEOUT: accord_result = 501;
/// 502: No Welcome or Reject arrived before the source's deadline.
pub const ACCORD_E_WELCOME_TIMEOUT: accord_result = 502;
/// 503: Not every negotiated channel arrived before the deadline.
pub const ACCORD_E_CHANNELS_TIMEOUT: accord_result = 503;
/// 504: The switchover-ack did not arrive before the deadline (policy: fail).
pub const ACCORD_E_ACK_TIMEOUT: accord_result = 504;
/// 505: The destination waited too long for the source's switchover decision.
pub const ACCORD_E_SWITCHOVER_TIMEOUT: accord_result = 505;
/// 601: The call is not valid in the machine's current state.
pub const ACCORD_E_INVALID_STATE: accord_result = 601;
/// 602: A fixed capacity (devices, channels, capabilities) is full.
pub const ACCORD_E_CAPACITY_EXCEEDED: accord_result = 602;
/// 603: An argument is out of range (name too long, zero channel count, ...).
pub const ACCORD_E_INVALID_ARGUMENT: accord_result = 603;
/// 604: The local caller aborted the migration.
pub const ACCORD_E_LOCAL_ABORT: accord_result = 604;
/// 701: The peer sent a frame with an error code this version does not know.
pub const ACCORD_E_UNKNOWN_PEER_ERROR: accord_result = 701;
/// 702: The peer's preamble echoes a nonce other than ours.
pub const ACCORD_E_NONCE_MISMATCH: accord_result = 702;
/// 801: Legacy: the first bytes are neither QEVM nor the multifd magic.
pub const ACCORD_E_LEGACY_UNKNOWN_MAGIC: accord_result = 801;
/// 802: Legacy: the main stream's version is not 3.
pub const ACCORD_E_LEGACY_STREAM_VERSION: accord_result = 802;
/// 803: Legacy: MultiFDInit_t version is not 1.
pub const ACCORD_E_LEGACY_MULTIFD_VERSION: accord_result = 803;
/// 804: Legacy: MultiFDInit_t uuid differs from the expected one.
pub const ACCORD_E_LEGACY_MULTIFD_UUID: accord_result = 804;
/// 805: Legacy: MultiFDInit_t id is not below the channel count.
pub const ACCORD_E_LEGACY_MULTIFD_ID: accord_result = 805;
/// 806: Legacy: a command or return-path message has a length QEMU rejects.
pub const ACCORD_E_LEGACY_BAD_LENGTH: accord_result = 806;
/// 807: Legacy: a command or return-path type QEMU does not know.
pub const ACCORD_E_LEGACY_UNKNOWN_TYPE: accord_result = 807;
/// 808: Legacy: a connection arrived that the version family's rules cannot place.
pub const ACCORD_E_LEGACY_UNEXPECTED_CHANNEL: accord_result = 808;
/// 809: Legacy: a QEMU_VM_COMMAND section does not start with byte 0x08.
pub const ACCORD_E_LEGACY_NOT_A_COMMAND: accord_result = 809;
// END error codes

/// 1001: A pointer argument is NULL (detail: ARGUMENT, its position).
pub const ACCORD_ERR_NULL_POINTER: accord_result = 1001;
/// 1002: An enumeration value this version does not know (detail: ARGUMENT,
/// `got` the value, `expected` the largest known value).
pub const ACCORD_ERR_BAD_ENUM: accord_result = 1002;
/// 1003: The handle was not initialised by `accord_*_init` (or was deinitialised).
/// Storage must be zeroed or initialised before any other call.
pub const ACCORD_ERR_NOT_INITIALIZED: accord_result = 1003;
/// 1004: A destination handle was passed where a source is expected, or the reverse.
pub const ACCORD_ERR_WRONG_ROLE: accord_result = 1004;
/// 1005: A handle or struct pointer is not suitably aligned (detail: ARGUMENT,
/// `expected` the alignment).
pub const ACCORD_ERR_MISALIGNED: accord_result = 1005;
/// 1006: A string argument is not UTF-8 (detail: ARGUMENT, `got` the offset
/// of the first bad byte).
pub const ACCORD_ERR_INVALID_UTF8: accord_result = 1006;

/// The kind of `accord_error_info.detail`: what the error concerns. Values
/// 0..=8 match the wire's Detail enum (docs/PROTOCOL.md §5.4).
pub type accord_detail_kind = u8;
/// Nothing more to say.
pub const ACCORD_DETAIL_NONE: accord_detail_kind = 0;
/// `capability`.
pub const ACCORD_DETAIL_CAPABILITY: accord_detail_kind = 1;
/// `capability` is on while `needs` is off.
pub const ACCORD_DETAIL_DEPENDENCY: accord_detail_kind = 2;
/// `device` and `instance`.
pub const ACCORD_DETAIL_DEVICE: accord_detail_kind = 3;
/// `source_min..=source_max` and `destination_min..=destination_max`.
pub const ACCORD_DETAIL_VERSIONS: accord_detail_kind = 4;
/// `role` and `index`.
pub const ACCORD_DETAIL_CHANNEL: accord_detail_kind = 5;
/// `missing` channels, the first being `role` `index`.
pub const ACCORD_DETAIL_MISSING_CHANNELS: accord_detail_kind = 6;
/// `frame` (a frame type byte).
pub const ACCORD_DETAIL_FRAME: accord_detail_kind = 7;
/// `expected` and `got`.
pub const ACCORD_DETAIL_VALUE: accord_detail_kind = 8;
/// C boundary errors: `argument` (1-based position in the call), with
/// `expected` and `got` where the code says so.
pub const ACCORD_DETAIL_ARGUMENT: accord_detail_kind = 9;

/// The detail of an error, as plain C data. Which fields are meaningful
/// depends on `detail` (`ACCORD_DETAIL_*`); the others are 0.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct accord_error_info {
    /// The result code (`ACCORD_E_*` or `ACCORD_ERR_*`); `ACCORD_OK` if none.
    pub code: accord_result,
    /// `ACCORD_DETAIL_*`.
    pub detail: accord_detail_kind,
    /// CHANNEL, MISSING_CHANNELS: `ACCORD_ROLE_*`.
    pub role: u8,
    /// FRAME: the frame type byte.
    pub frame: u8,
    /// VERSIONS: the source's lowest version.
    pub source_min: u8,
    /// VERSIONS: the source's highest version.
    pub source_max: u8,
    /// VERSIONS: the destination's lowest version.
    pub destination_min: u8,
    /// VERSIONS: the destination's highest version.
    pub destination_max: u8,
    /// Always 0 (explicit, so that the struct has no padding).
    pub reserved: u8,
    /// CAPABILITY, DEPENDENCY: the capability id.
    pub capability: u16,
    /// DEPENDENCY: the capability it needs.
    pub needs: u16,
    /// CHANNEL, MISSING_CHANNELS: the channel index.
    pub index: u16,
    /// MISSING_CHANNELS: how many channels are missing.
    pub missing: u16,
    /// ARGUMENT: 1-based position of the offending argument.
    pub argument: u16,
    /// Always 0 (explicit, so that the struct has no padding).
    pub reserved2: u16,
    /// DEVICE: the instance id.
    pub instance: u32,
    /// VALUE, ARGUMENT: what the rule expects (for ranges: the bound).
    pub expected: u32,
    /// VALUE, ARGUMENT: what arrived.
    pub got: u32,
    /// DEVICE: the idstr, NUL-terminated.
    pub device: [c_char; ACCORD_DEVICE_NAME_SIZE],
}

impl Default for accord_error_info {
    fn default() -> Self {
        accord_error_info {
            code: ACCORD_OK,
            detail: ACCORD_DETAIL_NONE,
            role: 0,
            frame: 0,
            source_min: 0,
            source_max: 0,
            destination_min: 0,
            destination_max: 0,
            reserved: 0,
            capability: 0,
            needs: 0,
            index: 0,
            missing: 0,
            argument: 0,
            reserved2: 0,
            instance: 0,
            expected: 0,
            got: 0,
            device: [0; ACCORD_DEVICE_NAME_SIZE],
        }
    }
}

/// What went wrong in one call: a code and its detail. Stored in the handle
/// for `accord_*_last_error`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fail {
    /// The result code.
    pub code: accord_result,
    /// Protocol detail (protocol codes).
    pub detail: Detail,
    /// C boundary detail (`ACCORD_ERR_*` codes): (position, expected, got).
    pub argument: Option<(u16, u32, u32)>,
}

impl Fail {
    /// No error.
    pub const NONE: Fail = Fail {
        code: ACCORD_OK,
        detail: Detail::None,
        argument: None,
    };

    /// A C boundary error about argument `position`.
    pub const fn arg(code: accord_result, position: u16) -> Fail {
        Fail {
            code,
            detail: Detail::None,
            argument: Some((position, 0, 0)),
        }
    }

    /// A C boundary error about argument `position`, with values.
    pub const fn arg_value(code: accord_result, position: u16, expected: u32, got: u32) -> Fail {
        Fail {
            code,
            detail: Detail::None,
            argument: Some((position, expected, got)),
        }
    }

    /// A protocol code without detail.
    pub const fn code(code: ErrorCode) -> Fail {
        Fail {
            code: code.as_u16() as i32,
            detail: Detail::None,
            argument: None,
        }
    }

    /// The device name of a DEVICE detail: `whole` (a peer's name, up to
    /// 255 bytes) where it is longer than the detail's copy, which holds at
    /// most this build's `MAX_NAME_LEN`.
    fn device_name<'a>(&'a self, whole: Option<&'a str>) -> Option<&'a str> {
        match &self.detail {
            Detail::Device(d) => match whole {
                Some(w) if w.len() > d.name.len() => Some(w),
                _ => Some(d.name.as_str()),
            },
            _ => None,
        }
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail {
            code: i32::from(e.code.as_u16()),
            detail: e.detail,
            argument: None,
        }
    }
}

impl From<&Error> for Fail {
    fn from(e: &Error) -> Self {
        Fail::from(e.clone())
    }
}

/// Copy `s` into a C char buffer, NUL-terminated, truncating at a UTF-8
/// character boundary. Returns whether all of it fit.
pub(crate) fn copy_cstr(dst: &mut [c_char], s: &str) -> bool {
    let Some(room) = dst.len().checked_sub(1) else {
        return false;
    };
    let mut n = s.len().min(room);
    while n > 0 && !s.is_char_boundary(n) {
        n -= 1;
    }
    for (d, b) in dst.iter_mut().zip(s.as_bytes().iter().take(n)) {
        *d = *b as c_char;
    }
    if let Some(z) = dst.get_mut(n) {
        *z = 0;
    }
    n == s.len()
}

impl Fail {
    /// The C view of this error.
    pub fn to_info(&self) -> accord_error_info {
        self.to_info_named(None)
    }

    /// The C view of this error, a DEVICE detail's name taken from `whole`
    /// where that is longer (see `device_name`).
    pub fn to_info_named(&self, whole: Option<&str>) -> accord_error_info {
        let mut i = accord_error_info {
            code: self.code,
            ..Default::default()
        };
        if let Some((pos, expected, got)) = self.argument {
            i.detail = ACCORD_DETAIL_ARGUMENT;
            i.argument = pos;
            i.expected = expected;
            i.got = got;
            return i;
        }
        match &self.detail {
            Detail::None => {}
            Detail::Capability(c) => {
                i.detail = ACCORD_DETAIL_CAPABILITY;
                i.capability = c.0;
            }
            Detail::Dependency { capability, needs } => {
                i.detail = ACCORD_DETAIL_DEPENDENCY;
                i.capability = capability.0;
                i.needs = needs.0;
            }
            Detail::Device(d) => {
                i.detail = ACCORD_DETAIL_DEVICE;
                i.instance = d.instance;
                copy_cstr(&mut i.device, self.device_name(whole).unwrap_or_default());
            }
            Detail::Versions {
                source,
                destination,
            } => {
                i.detail = ACCORD_DETAIL_VERSIONS;
                i.source_min = source.min;
                i.source_max = source.max;
                i.destination_min = destination.min;
                i.destination_max = destination.max;
            }
            Detail::Channel { role, index } => {
                i.detail = ACCORD_DETAIL_CHANNEL;
                i.role = *role as u8;
                i.index = *index;
            }
            Detail::MissingChannels {
                role,
                index,
                missing,
            } => {
                i.detail = ACCORD_DETAIL_MISSING_CHANNELS;
                i.role = *role as u8;
                i.index = *index;
                i.missing = *missing;
            }
            Detail::Frame(t) => {
                i.detail = ACCORD_DETAIL_FRAME;
                i.frame = *t;
            }
            Detail::Value { expected, got } => {
                i.detail = ACCORD_DETAIL_VALUE;
                i.expected = *expected;
                i.got = *got;
            }
        }
        i
    }

    /// Rebuild an error from its C view (for `accord_error_format`); a
    /// device name longer than this build's names goes to `whole`.
    /// `None` if the detail kind or a role in it is unknown.
    pub fn from_info(i: &accord_error_info, whole: &mut PeerName) -> Option<Fail> {
        let role = || Role::from_u8(i.role);
        let detail = match i.detail {
            ACCORD_DETAIL_NONE => Detail::None,
            ACCORD_DETAIL_CAPABILITY => Detail::Capability(CapabilityId(i.capability)),
            ACCORD_DETAIL_DEPENDENCY => Detail::Dependency {
                capability: CapabilityId(i.capability),
                needs: CapabilityId(i.needs),
            },
            ACCORD_DETAIL_DEVICE => {
                let len = i.device.iter().position(|&c| c == 0)?;
                let mut raw = [0u8; ACCORD_DEVICE_NAME_SIZE];
                for (d, s) in raw.iter_mut().zip(i.device.iter().take(len)) {
                    *d = *s as u8;
                }
                let s = core::str::from_utf8(raw.get(..len)?).ok()?;
                // The detail keeps what fits this build's names; `whole`
                // keeps a longer (peer's) name for the text.
                let mut name = accord_core::Name::new();
                if name.push_str(s).is_err() {
                    whole.push_str(s).ok()?;
                }
                Detail::Device(DeviceName {
                    name,
                    instance: i.instance,
                })
            }
            ACCORD_DETAIL_VERSIONS => Detail::Versions {
                source: VersionRange::new(i.source_min, i.source_max),
                destination: VersionRange::new(i.destination_min, i.destination_max),
            },
            ACCORD_DETAIL_CHANNEL => Detail::Channel {
                role: role()?,
                index: i.index,
            },
            ACCORD_DETAIL_MISSING_CHANNELS => Detail::MissingChannels {
                role: role()?,
                index: i.index,
                missing: i.missing,
            },
            ACCORD_DETAIL_FRAME => Detail::Frame(i.frame),
            ACCORD_DETAIL_VALUE => Detail::Value {
                expected: i.expected,
                got: i.got,
            },
            ACCORD_DETAIL_ARGUMENT => {
                return Some(Fail::arg_value(i.code, i.argument, i.expected, i.got))
            }
            _ => return None,
        };
        Some(Fail {
            code: i.code,
            detail,
            argument: None,
        })
    }
}

/// The protocol code with this number, if any.
pub(crate) fn core_code(code: accord_result) -> Option<ErrorCode> {
    u16::try_from(code).ok().and_then(ErrorCode::from_u16)
}

/// A [`Fail`] whose DEVICE detail's name may be longer than this build's
/// names (a peer's), for `accord_error_format`.
pub(crate) struct Named<'a>(pub &'a Fail, pub Option<&'a str>);

impl fmt::Display for Named<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Named(fail, whole) = *self;
        match (core_code(fail.code), &fail.detail, fail.device_name(whole)) {
            (Some(c), Detail::Device(d), Some(name)) => {
                write!(f, "{c}: device \"{name}\" instance {}", d.instance)
            }
            _ => fail.fmt(f),
        }
    }
}

impl fmt::Display for Fail {
    /// The same text as accord-core's `Display` for protocol errors; the
    /// boundary codes follow the same shape: `text (E1001): argument 2`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(c) = core_code(self.code) {
            return Error::with(c, self.detail.clone()).fmt(f);
        }
        write!(f, "{} (E{})", text(self.code), self.code)?;
        if let Some((pos, expected, got)) = self.argument {
            write!(f, ": argument {pos}")?;
            match self.code {
                ACCORD_ERR_BAD_ENUM => write!(f, ", value {got}, largest known {expected}")?,
                ACCORD_ERR_MISALIGNED => write!(f, ", needs alignment {expected}")?,
                ACCORD_ERR_INVALID_UTF8 => write!(f, ", bad byte at offset {got}")?,
                _ => {}
            }
        }
        Ok(())
    }
}

/// Texts of the codes that are not protocol codes.
const OTHER_TEXTS: &[(accord_result, &str)] = &[
    (ACCORD_OK, "success"),
    (ACCORD_NEED_MORE, "more input needed"),
    (ACCORD_ERR_NULL_POINTER, "null pointer argument"),
    (ACCORD_ERR_BAD_ENUM, "unknown enumeration value"),
    (ACCORD_ERR_NOT_INITIALIZED, "handle not initialised"),
    (ACCORD_ERR_WRONG_ROLE, "handle of the other role"),
    (ACCORD_ERR_MISALIGNED, "misaligned pointer"),
    (ACCORD_ERR_INVALID_UTF8, "string is not UTF-8"),
];

const UNKNOWN_TEXT: &str = "unknown result code";

/// The text of any code, as `accord_strerror` returns it (without the NUL).
pub fn text(code: accord_result) -> &'static str {
    if let Some(c) = core_code(code) {
        return c.text();
    }
    OTHER_TEXTS
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(UNKNOWN_TEXT, |(_, t)| t)
}

/// Capability name of every vendor id (`accord_capability_name`).
const VENDOR_NAME: &str = "vendor";
/// Name of an id or role this version does not know.
const UNKNOWN_NAME: &str = "unknown";

/// Where each group of strings starts, by index: protocol codes in
/// `ErrorCode::ALL` order, the other codes (`OTHER_TEXTS`), the unknown
/// code's text, capability names (`CapabilityId::CATALOG` order), "vendor",
/// role names (`Role::ALL` order), "unknown".
const OTHER_FIRST: usize = ErrorCode::ALL.len();
const UNKNOWN_CODE_AT: usize = OTHER_FIRST + OTHER_TEXTS.len();
const CAPABILITY_FIRST: usize = UNKNOWN_CODE_AT + 1;
const VENDOR_AT: usize = CAPABILITY_FIRST + CapabilityId::CATALOG.len();
const ROLE_FIRST: usize = VENDOR_AT + 1;
const UNKNOWN_NAME_AT: usize = ROLE_FIRST + Role::ALL.len();
const STRING_COUNT: usize = UNKNOWN_NAME_AT + 1;

/// String `i` of the C API's static strings, taken from accord-core's own
/// tables (`ErrorCode::text`, `CapabilityId::name`, `Role::as_str`), so the
/// C strings cannot drift from the Rust ones.
// Evaluated at compile time only: an out-of-range index fails the build.
#[allow(clippy::indexing_slicing)]
const fn string(i: usize) -> &'static str {
    if i < OTHER_FIRST {
        ErrorCode::ALL[i].text()
    } else if i < UNKNOWN_CODE_AT {
        OTHER_TEXTS[i - OTHER_FIRST].1
    } else if i == UNKNOWN_CODE_AT {
        UNKNOWN_TEXT
    } else if i < VENDOR_AT {
        match CapabilityId::CATALOG[i - CAPABILITY_FIRST].name() {
            Some(n) => n,
            None => UNKNOWN_NAME,
        }
    } else if i == VENDOR_AT {
        VENDOR_NAME
    } else if i < UNKNOWN_NAME_AT {
        Role::ALL[i - ROLE_FIRST].as_str()
    } else {
        UNKNOWN_NAME
    }
}

/// Offset of every string in [`STRINGS`], and (last) the total length
/// (compile time only).
// Evaluated at compile time only: an out-of-range index fails the build.
#[allow(clippy::indexing_slicing)]
const STRING_AT: [usize; STRING_COUNT + 1] = {
    let mut at = [0usize; STRING_COUNT + 1];
    let mut i = 0;
    while i < STRING_COUNT {
        at[i + 1] = at[i] + string(i).len() + 1;
        i += 1;
    }
    at
};

// Evaluated at compile time only: an out-of-range index fails the build.
#[allow(clippy::indexing_slicing)]
const STRINGS_LEN: usize = STRING_AT[STRING_COUNT];

/// Every string, NUL-terminated, one after the other.
// Evaluated at compile time only: an out-of-range index fails the build.
#[allow(clippy::indexing_slicing)]
static STRINGS: [u8; STRINGS_LEN] = {
    let mut buf = [0u8; STRINGS_LEN];
    let mut i = 0;
    while i < STRING_COUNT {
        let b = string(i).as_bytes();
        let mut k = 0;
        while k < b.len() {
            buf[STRING_AT[i] + k] = b[k];
            k += 1;
        }
        i += 1;
    }
    buf
};

/// String `i` as a C pointer ("unknown" for an index out of range). Found by
/// walking the NULs: a table of offsets would cost every C program more
/// flash than the walk.
fn c_string(i: usize) -> *const c_char {
    let (mut left, mut at) = (i.min(UNKNOWN_NAME_AT), 0);
    for (k, b) in STRINGS.iter().enumerate() {
        if left == 0 {
            break;
        }
        if *b == 0 {
            left -= 1;
            at = k + 1;
        }
    }
    // `at` starts a string inside the static, so the pointer stays inside it.
    STRINGS.as_ptr().wrapping_add(at).cast()
}

/// A static, NUL-terminated description of any result code ("unknown result
/// code" for numbers this version does not know). Never NULL; never freed.
#[no_mangle]
pub extern "C" fn accord_strerror(code: accord_result) -> *const c_char {
    let protocol = ErrorCode::ALL
        .iter()
        .position(|c| i32::from(c.as_u16()) == code);
    let other = || {
        OTHER_TEXTS
            .iter()
            .position(|(c, _)| *c == code)
            .map(|i| OTHER_FIRST + i)
    };
    c_string(protocol.or_else(other).unwrap_or(UNKNOWN_CODE_AT))
}

/// A `core::fmt::Write` into a C buffer that counts what it could not write.
pub(crate) struct CBuf<'a> {
    buf: &'a mut [c_char],
    at: usize,
    needed: usize,
}

impl<'a> CBuf<'a> {
    pub(crate) fn new(buf: &'a mut [c_char]) -> Self {
        CBuf {
            buf,
            at: 0,
            needed: 0,
        }
    }

    /// NUL-terminate; returns (fits, length the whole text needs without NUL).
    pub(crate) fn finish(self) -> (bool, usize) {
        if let Some(z) = self.buf.get_mut(self.at) {
            *z = 0;
        }
        (self.needed == self.at && !self.buf.is_empty(), self.needed)
    }
}

impl Write for CBuf<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.buf.len().saturating_sub(1).saturating_sub(self.at);
        if self.needed == self.at {
            let mut n = s.len().min(room);
            while n > 0 && !s.is_char_boundary(n) {
                n -= 1;
            }
            let dst = self.buf.get_mut(self.at..).unwrap_or(&mut []);
            for (d, b) in dst.iter_mut().zip(s.as_bytes().iter().take(n)) {
                *d = *b as c_char;
            }
            self.at += n;
        }
        self.needed = self.needed.saturating_add(s.len());
        Ok(())
    }
}

/// Format an error as text, the same text as accord's Rust `Display`, e.g.
/// `capability required by source, missing on destination (E202): capability
/// switchover-ack`. Writes at most `len` bytes including the NUL into `buf`;
/// if the text is longer it is truncated (still NUL-terminated) and
/// `ACCORD_E_BUFFER_TOO_SMALL` is returned. `needed` (may be NULL) receives the
/// full length without the NUL. 128 bytes hold every text but the longest
/// device names; `ACCORD_DEVICE_NAME_SIZE + 128` holds all.
#[no_mangle]
pub extern "C" fn accord_error_format(
    info: *const accord_error_info,
    buf: *mut c_char,
    len: usize,
    needed: *mut usize,
) -> accord_result {
    crate::handle::call(None, || {
        let info = crate::handle::in_ref(info, 1)?;
        let out = crate::handle::out_text(buf, len, 2)?;
        let mut whole = PeerName::new();
        let fail = Fail::from_info(info, &mut whole).ok_or(Fail::arg(ACCORD_ERR_BAD_ENUM, 1))?;
        let mut w = CBuf::new(out);
        let _ = write!(w, "{}", Named(&fail, Some(whole.as_str())));
        let (fits, n) = w.finish();
        // A misaligned `needed` is skipped like a NULL one: the text is written.
        let _ = crate::handle::opt_out(needed, 4, n);
        if fits {
            Ok(ACCORD_OK)
        } else {
            Err(Fail::code(ErrorCode::BufferTooSmall))
        }
    })
}

/// QEMU's name of a capability ("switchover-ack"), "vendor" for vendor ids,
/// "unknown" otherwise. Static, NUL-terminated, never NULL.
#[no_mangle]
pub extern "C" fn accord_capability_name(id: u16) -> *const c_char {
    let id = CapabilityId(id);
    let i = match CapabilityId::CATALOG.iter().position(|c| *c == id) {
        Some(i) => CAPABILITY_FIRST + i,
        None if id.is_vendor() => VENDOR_AT,
        None => UNKNOWN_NAME_AT,
    };
    c_string(i)
}

/// Name of a channel role ("main", "multifd", "preempt", "device-state"),
/// "unknown" otherwise. Static, NUL-terminated, never NULL.
#[no_mangle]
pub extern "C" fn accord_role_name(role: u8) -> *const c_char {
    c_string(Role::from_u8(role).map_or(UNKNOWN_NAME_AT, |r| ROLE_FIRST + r as usize))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Every protocol code has its ACCORD_E_ constant with the same number:
    // ffi/tests/codes.rs writes them from accord-core's list and checks them.

    fn cstr(p: *const c_char) -> &'static str {
        // SAFETY: test helper on the library's own static strings.
        unsafe { core::ffi::CStr::from_ptr(p) }.to_str().unwrap()
    }

    #[test]
    fn strerror_matches_core_text() {
        for &c in ErrorCode::ALL {
            assert_eq!(cstr(accord_strerror(i32::from(c.as_u16()))), c.text());
        }
        for &(c, t) in OTHER_TEXTS {
            assert_eq!(cstr(accord_strerror(c)), t);
        }
        for c in [-1, 2, 100, 999, 1000, 1999, i32::MAX, i32::MIN] {
            assert_eq!(cstr(accord_strerror(c)), UNKNOWN_TEXT);
        }
    }

    #[test]
    fn capability_names_match_core() {
        for &id in CapabilityId::CATALOG {
            assert_eq!(cstr(accord_capability_name(id.0)), id.name().unwrap());
        }
        for r in Role::ALL {
            assert_eq!(cstr(accord_role_name(r as u8)), r.as_str());
        }
        for id in [0x8000, 0x8001, 0xffff] {
            assert_eq!(cstr(accord_capability_name(id)), "vendor");
        }
        for id in [0, 9, 0x7fff] {
            assert_eq!(cstr(accord_capability_name(id)), "unknown");
        }
        for r in [4, 5, 255] {
            assert_eq!(cstr(accord_role_name(r)), "unknown");
        }
    }
}

#[cfg(test)]
mod spec_tests {
    extern crate std;
    use super::*;
    use std::format;

    const SPEC: &str = include_str!("../../docs/PROTOCOL.md");

    /// docs/PROTOCOL.md §9.1 lists every code of the C boundary, with its C name.
    #[test]
    fn protocol_md_lists_every_c_api_code() {
        let names = [
            (ACCORD_OK, "ACCORD_OK"),
            (ACCORD_NEED_MORE, "ACCORD_NEED_MORE"),
            (ACCORD_ERR_NULL_POINTER, "ACCORD_ERR_NULL_POINTER"),
            (ACCORD_ERR_BAD_ENUM, "ACCORD_ERR_BAD_ENUM"),
            (ACCORD_ERR_NOT_INITIALIZED, "ACCORD_ERR_NOT_INITIALIZED"),
            (ACCORD_ERR_WRONG_ROLE, "ACCORD_ERR_WRONG_ROLE"),
            (ACCORD_ERR_MISALIGNED, "ACCORD_ERR_MISALIGNED"),
            (ACCORD_ERR_INVALID_UTF8, "ACCORD_ERR_INVALID_UTF8"),
        ];
        assert_eq!(names.len(), OTHER_TEXTS.len());
        for ((code, name), (c, _)) in names.iter().zip(OTHER_TEXTS) {
            assert_eq!(code, c);
            let row = format!("| {code} | `{name}` |");
            assert!(
                SPEC.contains(&row),
                "docs/PROTOCOL.md §9.1 lacks the row {row}"
            );
        }
    }
}
