//! One error type for the whole crate: a stable numeric [`ErrorCode`] plus a
//! [`Detail`] naming the capability, device, channel or version range concerned.
//!
//! Codes are part of the wire format (Reject and Abort carry them) and of the C
//! API: a code is never renumbered or reused. docs/PROTOCOL.md §9 lists them.

use core::fmt;

use crate::caps::CapabilityId;
use crate::channel::Role;
use crate::names::Name;
use crate::version::VersionRange;

/// Defines [`ErrorCode`], [`ErrorCode::ALL`], [`ErrorCode::text`] and
/// [`ErrorCode::TABLE`] from the one list below.
macro_rules! error_codes {
    ($(
        #[doc = $doc:literal]
        $name:ident = $num:literal {
            text: $text:literal,
            meaning: $meaning:literal,
            detail: $detail:literal,
        }
    )*) => {
        /// Stable error codes. Ranges: 1xx wire, 2xx negotiation, 3xx channels,
        /// 4xx switchover, 5xx deadlines, 6xx API use, 7xx peer, 8xx QEMU legacy.
        #[non_exhaustive]
        #[repr(u16)]
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[cfg_attr(feature = "defmt", derive(defmt::Format))]
        pub enum ErrorCode {
            $(
                #[doc = $doc]
                $name = $num,
            )*
        }

        impl ErrorCode {
            /// Every code, in numeric order; used by the C API and the spec tests.
            pub const ALL: &'static [ErrorCode] = &[$(Self::$name),*];

            /// A short, static, human-readable text (what `accord_strerror` returns).
            pub const fn text(self) -> &'static str {
                match self {
                    $(Self::$name => $text,)*
                }
            }

            /// Every code's entry in the list, in numeric order: what
            /// ffi/tests/codes.rs writes the C constants and docs/PROTOCOL.md
            /// §9 from.
            pub const TABLE: &'static [CodeEntry] = &[$(
                CodeEntry {
                    code: Self::$name,
                    name: stringify!($name),
                    doc: $doc,
                    meaning: $meaning,
                    detail: $detail,
                },
            )*];
        }
    };
}

/// One code of the list as documentation sees it ([`ErrorCode::TABLE`]).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CodeEntry {
    /// The code.
    pub code: ErrorCode,
    /// Its Rust name (`BadMagic`); the C name is `ACCORD_E_` and this in
    /// SCREAMING_SNAKE_CASE.
    pub name: &'static str,
    /// Its doc line, as the `///` comment gives it (with its leading space).
    pub doc: &'static str,
    /// docs/PROTOCOL.md §9's "meaning" column.
    pub meaning: &'static str,
    /// docs/PROTOCOL.md §9's "detail" column: the kinds of [`Detail`] it carries.
    pub detail: &'static str,
}

// The one list of error codes. A new code is one entry here; then run
// `bash scripts/gen-header.sh`, which rewrites the C constants
// (ffi/src/error.rs) and the table of docs/PROTOCOL.md §9 from it.
error_codes! {
    /// The first four bytes are not accord's magic `ACRD`.
    BadMagic = 101 {
        text: "bad magic: not an accord preamble",
        meaning: "not an accord preamble",
        detail: "",
    }
    /// A version range is empty, starts at 0 or reaches the reserved 255.
    BadVersionRange = 102 {
        text: "bad version range",
        meaning: "range empty, 0 or 255; or a channel's range differs from main's",
        detail: "Value / Channel",
    }
    /// A preamble names a channel role this version does not know.
    UnknownRole = 103 {
        text: "unknown channel role",
        meaning: "role byte unknown",
        detail: "Value",
    }
    /// A preamble sets flag bits that are reserved.
    ReservedFlags = 104 {
        text: "reserved preamble flags set",
        meaning: "reserved flag bits set",
        detail: "Value",
    }
    /// A frame header announces a payload longer than the protocol maximum.
    FrameTooLarge = 105 {
        text: "frame too large",
        meaning: "length above 16384",
        detail: "Value",
    }
    /// A frame type this version does not know.
    UnknownFrameType = 106 {
        text: "unknown frame type",
        meaning: "frame type unknown",
        detail: "Frame",
    }
    /// A payload does not decode, or has bytes left over after decoding.
    MalformedPayload = 107 {
        text: "malformed frame payload",
        meaning: "payload does not decode or has trailing bytes",
        detail: "",
    }
    /// A frame that is valid but not allowed in the receiver's state.
    UnexpectedFrame = 108 {
        text: "frame not allowed in this state",
        meaning: "frame not allowed in this state",
        detail: "Frame",
    }
    /// The caller's output buffer cannot hold the next transmission.
    BufferTooSmall = 109 {
        text: "output buffer too small",
        meaning: "caller's buffer cannot hold the next frame",
        detail: "",
    }
    /// A preamble's index/total pair is inconsistent (index >= total, total 0).
    BadChannelIndex = 110 {
        text: "channel index not below its total",
        meaning: "index >= total, or total != 1 for main/preempt",
        detail: "Channel",
    }

    /// The two version ranges do not overlap.
    NoCommonVersion = 201 {
        text: "no common protocol version",
        meaning: "version ranges do not overlap",
        detail: "Versions",
    }
    /// The source requires a capability the destination does not offer.
    CapabilityMissingOnDestination = 202 {
        text: "capability required by source, missing on destination",
        meaning: "source requires, destination lacks",
        detail: "Capability",
    }
    /// The destination requires a capability the source does not offer.
    CapabilityMissingOnSource = 203 {
        text: "capability required by destination, missing on source",
        meaning: "destination requires, source lacks",
        detail: "Capability",
    }
    /// A required capability is on but a capability it depends on is off.
    CapabilityDependency = 204 {
        text: "capability dependency not met",
        meaning: "required capability's dependency is off",
        detail: "Dependency",
    }
    /// An offer is inconsistent: duplicate or unordered ids, bad parameter, reserved id.
    InvalidOffer = 205 {
        text: "invalid capability offer",
        meaning: "ids unordered or 0, bad parameter, reserved id",
        detail: "Capability / Dependency",
    }
    /// The source wants switchover-ack for a device the destination cannot serve.
    DeviceUnsupported = 206 {
        text: "destination cannot serve switchover-ack for device",
        meaning: "source wants the ack, destination can't serve it",
        detail: "Device",
    }
    /// The source lists a device the destination does not have.
    DeviceMissingOnDestination = 207 {
        text: "device missing on destination",
        meaning: "device only on the source",
        detail: "Device",
    }
    /// The destination has a device the source does not list.
    DeviceMissingOnSource = 208 {
        text: "device missing on source",
        meaning: "device only on the destination",
        detail: "Device",
    }
    /// A device (idstr, instance) is listed twice.
    DuplicateDevice = 209 {
        text: "device listed twice",
        meaning: "device listed twice",
        detail: "Device",
    }
    /// The source's recomputation of the outcome differs from the destination's Welcome.
    OutcomeMismatch = 210 {
        text: "source and destination computed different outcomes",
        meaning: "Welcome differs from the source's computation",
        detail: "Capability / Device / Versions",
    }

    /// A channel preamble carries another session's nonce.
    WrongNonce = 301 {
        text: "channel belongs to another migration (wrong nonce)",
        meaning: "channel of another migration",
        detail: "Channel",
    }
    /// A channel's index is beyond the negotiated count for its role.
    ChannelIndexOutOfRange = 302 {
        text: "channel index beyond negotiated count",
        meaning: "index beyond the agreed count",
        detail: "Channel",
    }
    /// A channel (role, index) was already assigned.
    DuplicateChannel = 303 {
        text: "channel already assigned",
        meaning: "(role, index) already attached",
        detail: "Channel",
    }
    /// A channel's role was not negotiated (for example preempt without postcopy-preempt).
    RoleNotNegotiated = 304 {
        text: "channel role not negotiated",
        meaning: "role's capability is off",
        detail: "Channel",
    }
    /// More channels arrived before Welcome than the early-channel capacity.
    TooManyEarlyChannels = 305 {
        text: "too many channels before welcome",
        meaning: "more held channels than capacity",
        detail: "Channel",
    }
    /// A channel's total disagrees with the negotiated count for its role.
    ChannelTotalMismatch = 306 {
        text: "channel total differs from negotiated count",
        meaning: "total differs from the source's offer",
        detail: "Channel",
    }
    /// A re-attach names a channel that was never attached.
    BadReattach = 307 {
        text: "channel re-attach refused",
        meaning: "reattach of a channel never attached",
        detail: "Channel",
    }
    /// A ChannelsReady lists a set other than the negotiated one.
    ChannelSetMismatch = 308 {
        text: "channels-ready set differs from negotiated set",
        meaning: "ChannelsReady differs from the agreed set",
        detail: "",
    }

    /// Approve or revoke names a device the destination does not have.
    UnknownDevice = 401 {
        text: "unknown device",
        meaning: "no such device",
        detail: "Value",
    }
    /// Approve or revoke names a device that does not take part in switchover-ack.
    DeviceNotParticipating = 402 {
        text: "device does not take part in switchover-ack",
        meaning: "device does not take part",
        detail: "Device",
    }
    /// The device already approved (since the last revoke).
    AlreadyApproved = 403 {
        text: "device already approved",
        meaning: "approved twice",
        detail: "Device",
    }
    /// A revoke after the source announced its switchover decision.
    RevokeAfterSwitchoverStart = 404 {
        text: "revoke after switchover start",
        meaning: "revoke after the decision",
        detail: "Device",
    }
    /// The source asked to switch over before the ack (or without channels ready).
    SwitchoverNotAllowed = 405 {
        text: "switchover not allowed yet",
        meaning: "switchover before the ack; or a SwitchoverStart on an ack never sent",
        detail: "Value",
    }
    /// Revoke names a device that has not approved.
    NotApproved = 406 {
        text: "device has not approved",
        meaning: "revoke of a device that has not approved",
        detail: "Device",
    }

    /// No Hello arrived before the destination's deadline.
    HelloTimeout = 501 {
        text: "timed out waiting for hello",
        meaning: "no Hello in time",
        detail: "",
    }
    /// No Welcome or Reject arrived before the source's deadline.
    WelcomeTimeout = 502 {
        text: "timed out waiting for welcome",
        meaning: "no Welcome in time",
        detail: "",
    }
    /// Not every negotiated channel arrived before the deadline.
    ChannelsTimeout = 503 {
        text: "timed out waiting for channels",
        meaning: "channels missing at the deadline",
        detail: "MissingChannels",
    }
    /// The switchover-ack did not arrive before the deadline (policy: fail).
    AckTimeout = 504 {
        text: "timed out waiting for switchover-ack",
        meaning: "no ack in time (policy Fail)",
        detail: "",
    }
    /// The destination waited too long for the source's switchover decision.
    SwitchoverTimeout = 505 {
        text: "timed out waiting for switchover start",
        meaning: "no SwitchoverStart in time",
        detail: "",
    }

    /// The call is not valid in the machine's current state.
    InvalidState = 601 {
        text: "call not valid in this state",
        meaning: "call not valid in this state",
        detail: "",
    }
    /// A fixed capacity (devices, channels, capabilities) is full.
    CapacityExceeded = 602 {
        text: "capacity exceeded",
        meaning: "a fixed capacity is full",
        detail: "Value",
    }
    /// An argument is out of range (name too long, zero channel count, ...).
    InvalidArgument = 603 {
        text: "invalid argument",
        meaning: "argument out of range",
        detail: "Value",
    }
    /// The local caller aborted the migration.
    LocalAbort = 604 {
        text: "aborted by caller",
        meaning: "the caller aborted",
        detail: "",
    }

    /// The peer sent a frame with an error code this version does not know.
    UnknownPeerError = 701 {
        text: "peer sent an unknown error code",
        meaning: "peer sent an unknown code",
        detail: "Value",
    }
    /// The peer's preamble echoes a nonce other than ours.
    NonceMismatch = 702 {
        text: "peer echoed another nonce",
        meaning: "destination echoed another nonce",
        detail: "",
    }

    /// Legacy: the first bytes are neither QEVM nor the multifd magic.
    LegacyUnknownMagic = 801 {
        text: "legacy: unknown channel magic",
        meaning: "neither QEVM nor multifd magic",
        detail: "Value",
    }
    /// Legacy: the main stream's version is not 3.
    LegacyStreamVersion = 802 {
        text: "legacy: main stream version is not 3",
        meaning: "main stream version not 3",
        detail: "Value",
    }
    /// Legacy: MultiFDInit_t version is not 1.
    LegacyMultifdVersion = 803 {
        text: "legacy: multifd header version is not 1",
        meaning: "MultiFDInit_t version not 1",
        detail: "Value",
    }
    /// Legacy: MultiFDInit_t uuid differs from the expected one.
    LegacyMultifdUuid = 804 {
        text: "legacy: multifd header uuid mismatch",
        meaning: "MultiFDInit_t uuid differs",
        detail: "",
    }
    /// Legacy: MultiFDInit_t id is not below the channel count.
    LegacyMultifdId = 805 {
        text: "legacy: multifd channel id out of range",
        meaning: "MultiFDInit_t id not below the channel count",
        detail: "Value",
    }
    /// Legacy: a command or return-path message has a length QEMU rejects.
    LegacyBadLength = 806 {
        text: "legacy: message length rejected",
        meaning: "length QEMU rejects",
        detail: "Value",
    }
    /// Legacy: a command or return-path type QEMU does not know.
    LegacyUnknownType = 807 {
        text: "legacy: unknown message type",
        meaning: "type QEMU does not know",
        detail: "Value",
    }
    /// Legacy: a connection arrived that the version family's rules cannot place.
    LegacyUnexpectedChannel = 808 {
        text: "legacy: unexpected channel",
        meaning: "connection the family's rules cannot place",
        detail: "Channel",
    }
    /// Legacy: a QEMU_VM_COMMAND section does not start with byte 0x08.
    LegacyNotACommand = 809 {
        text: "legacy: not a QEMU_VM_COMMAND section",
        meaning: "section byte is not 0x08",
        detail: "Value",
    }
}

impl ErrorCode {
    /// The stable number of this code.
    pub const fn as_u16(self) -> u16 {
        self as u16
    }

    /// The code with this number, if this version knows it.
    pub fn from_u16(v: u16) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_u16() == v)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (E{})", self.text(), self.as_u16())
    }
}

/// Longest device name kept from a peer's Reject or Abort: the largest
/// idstr any build allows (`ACCORD_MAX_NAME_LEN` at most 255), whatever this
/// build's own [`crate::capacity::MAX_NAME_LEN`].
pub const MAX_PEER_NAME_LEN: usize = 255;

/// A device name as a peer's Reject or Abort carried it (see
/// `Source::error_device_name`).
pub type PeerName = heapless::String<MAX_PEER_NAME_LEN>;

/// A device as named in errors: QEMU-style idstr plus instance id.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeviceName {
    /// The idstr (QEMU's section name).
    pub name: Name,
    /// The instance id.
    pub instance: u32,
}

/// What an error is about. Sent on the wire with the code (§8 of the spec).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Detail {
    /// Nothing more to say.
    #[default]
    None,
    /// The capability concerned.
    Capability(CapabilityId),
    /// A capability that is on while one it needs is off.
    Dependency {
        /// The capability that is on.
        capability: CapabilityId,
        /// The capability it needs.
        needs: CapabilityId,
    },
    /// The device concerned.
    Device(DeviceName),
    /// Both sides' version ranges, so either side can report them.
    Versions {
        /// The source's range.
        source: VersionRange,
        /// The destination's range.
        destination: VersionRange,
    },
    /// The channel concerned.
    Channel {
        /// Its role.
        role: Role,
        /// Its index within the role.
        index: u16,
    },
    /// Channels still missing at a deadline: the first missing one and how many.
    MissingChannels {
        /// Role of the first missing channel.
        role: Role,
        /// Index of the first missing channel.
        index: u16,
        /// How many are missing in all.
        missing: u16,
    },
    /// A frame type (for unexpected or unknown frames).
    Frame(u8),
    /// A value that differs from what was expected (legacy headers, lengths).
    Value {
        /// What the rule expects (for ranges: the bound).
        expected: u32,
        /// What arrived.
        got: u32,
    },
}

/// An error: a stable code and what it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Error {
    /// The stable code.
    pub code: ErrorCode,
    /// What the error is about.
    pub detail: Detail,
}

impl Error {
    /// An error without detail.
    pub const fn new(code: ErrorCode) -> Self {
        Error {
            code,
            detail: Detail::None,
        }
    }

    /// An error with detail.
    pub const fn with(code: ErrorCode, detail: Detail) -> Self {
        Error { code, detail }
    }
}

impl From<ErrorCode> for Error {
    fn from(code: ErrorCode) -> Self {
        Error::new(code)
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Detail::None => Ok(()),
            Detail::Capability(c) => write!(f, "capability {c}"),
            Detail::Dependency { capability, needs } => {
                write!(f, "capability {capability} needs {needs}")
            }
            Detail::Device(d) => write!(f, "device \"{}\" instance {}", d.name, d.instance),
            Detail::Versions {
                source,
                destination,
            } => {
                write!(
                    f,
                    "source versions {source}, destination versions {destination}"
                )
            }
            Detail::Channel { role, index } => write!(f, "channel {role} {index}"),
            Detail::MissingChannels {
                role,
                index,
                missing,
            } => {
                write!(f, "{missing} channel(s) missing, first {role} {index}")
            }
            Detail::Frame(t) => write!(f, "frame type 0x{t:02x}"),
            Detail::Value { expected, got } => write!(f, "expected {expected}, got {got}"),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.detail {
            Detail::None => write!(f, "{}", self.code),
            _ => write!(f, "{}: {}", self.code, self.detail),
        }
    }
}

/// Result type of the crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;
