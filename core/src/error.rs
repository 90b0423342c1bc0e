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

/// Stable error codes. Ranges: 1xx wire, 2xx negotiation, 3xx channels,
/// 4xx switchover, 5xx deadlines, 6xx API use, 7xx peer, 8xx QEMU legacy.
#[non_exhaustive]
#[repr(u16)]
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ErrorCode {
    /// The first four bytes are not accord's magic `ACRD`.
    BadMagic = 101,
    /// A version range is empty, starts at 0 or reaches the reserved 255.
    BadVersionRange = 102,
    /// A preamble names a channel role this version does not know.
    UnknownRole = 103,
    /// A preamble sets flag bits that are reserved.
    ReservedFlags = 104,
    /// A frame header announces a payload longer than the protocol maximum.
    FrameTooLarge = 105,
    /// A frame type this version does not know.
    UnknownFrameType = 106,
    /// A payload does not decode, or has bytes left over after decoding.
    MalformedPayload = 107,
    /// A frame that is valid but not allowed in the receiver's state.
    UnexpectedFrame = 108,
    /// The caller's output buffer cannot hold the next transmission.
    BufferTooSmall = 109,
    /// A preamble's index/total pair is inconsistent (index >= total, total 0).
    BadChannelIndex = 110,

    /// The two version ranges do not overlap.
    NoCommonVersion = 201,
    /// The source requires a capability the destination does not offer.
    CapabilityMissingOnDestination = 202,
    /// The destination requires a capability the source does not offer.
    CapabilityMissingOnSource = 203,
    /// A required capability is on but a capability it depends on is off.
    CapabilityDependency = 204,
    /// An offer is inconsistent: duplicate or unordered ids, bad parameter, reserved id.
    InvalidOffer = 205,
    /// The source wants switchover-ack for a device the destination cannot serve.
    DeviceUnsupported = 206,
    /// The source lists a device the destination does not have.
    DeviceMissingOnDestination = 207,
    /// The destination has a device the source does not list.
    DeviceMissingOnSource = 208,
    /// A device (idstr, instance) is listed twice.
    DuplicateDevice = 209,
    /// The source's recomputation of the outcome differs from the destination's Welcome.
    OutcomeMismatch = 210,

    /// A channel preamble carries another session's nonce.
    WrongNonce = 301,
    /// A channel's index is beyond the negotiated count for its role.
    ChannelIndexOutOfRange = 302,
    /// A channel (role, index) was already assigned.
    DuplicateChannel = 303,
    /// A channel's role was not negotiated (for example preempt without postcopy-preempt).
    RoleNotNegotiated = 304,
    /// More channels arrived before Welcome than the early-channel capacity.
    TooManyEarlyChannels = 305,
    /// A channel's total disagrees with the negotiated count for its role.
    ChannelTotalMismatch = 306,
    /// A re-attach names a channel that was never attached.
    BadReattach = 307,
    /// A ChannelsReady lists a set other than the negotiated one.
    ChannelSetMismatch = 308,

    /// Approve or revoke names a device the destination does not have.
    UnknownDevice = 401,
    /// Approve or revoke names a device that does not take part in switchover-ack.
    DeviceNotParticipating = 402,
    /// The device already approved (since the last revoke).
    AlreadyApproved = 403,
    /// A revoke after the source announced its switchover decision.
    RevokeAfterSwitchoverStart = 404,
    /// The source asked to switch over before the ack (or without channels ready).
    SwitchoverNotAllowed = 405,
    /// Revoke names a device that has not approved.
    NotApproved = 406,

    /// No Hello arrived before the destination's deadline.
    HelloTimeout = 501,
    /// No Welcome or Reject arrived before the source's deadline.
    WelcomeTimeout = 502,
    /// Not every negotiated channel arrived before the deadline.
    ChannelsTimeout = 503,
    /// The switchover-ack did not arrive before the deadline (policy: fail).
    AckTimeout = 504,
    /// The destination waited too long for the source's switchover decision.
    SwitchoverTimeout = 505,

    /// The call is not valid in the machine's current state.
    InvalidState = 601,
    /// A fixed capacity (devices, channels, capabilities) is full.
    CapacityExceeded = 602,
    /// An argument is out of range (name too long, zero channel count, ...).
    InvalidArgument = 603,
    /// The local caller aborted the migration.
    LocalAbort = 604,

    /// The peer sent a frame with an error code this version does not know.
    UnknownPeerError = 701,
    /// The peer's preamble echoes a nonce other than ours.
    NonceMismatch = 702,

    /// Legacy: the first bytes are neither QEVM nor the multifd magic.
    LegacyUnknownMagic = 801,
    /// Legacy: the main stream's version is not 3.
    LegacyStreamVersion = 802,
    /// Legacy: MultiFDInit_t version is not 1.
    LegacyMultifdVersion = 803,
    /// Legacy: MultiFDInit_t uuid differs from the expected one.
    LegacyMultifdUuid = 804,
    /// Legacy: MultiFDInit_t id is not below the channel count.
    LegacyMultifdId = 805,
    /// Legacy: a command or return-path message has a length QEMU rejects.
    LegacyBadLength = 806,
    /// Legacy: a command or return-path type QEMU does not know.
    LegacyUnknownType = 807,
    /// Legacy: a connection arrived that the version family's rules cannot place.
    LegacyUnexpectedChannel = 808,
    /// Legacy: a QEMU_VM_COMMAND section does not start with byte 0x08.
    LegacyNotACommand = 809,
}

impl ErrorCode {
    /// Every code, in numeric order; used by the C API and the spec tests.
    pub const ALL: &'static [ErrorCode] = &[
        Self::BadMagic,
        Self::BadVersionRange,
        Self::UnknownRole,
        Self::ReservedFlags,
        Self::FrameTooLarge,
        Self::UnknownFrameType,
        Self::MalformedPayload,
        Self::UnexpectedFrame,
        Self::BufferTooSmall,
        Self::BadChannelIndex,
        Self::NoCommonVersion,
        Self::CapabilityMissingOnDestination,
        Self::CapabilityMissingOnSource,
        Self::CapabilityDependency,
        Self::InvalidOffer,
        Self::DeviceUnsupported,
        Self::DeviceMissingOnDestination,
        Self::DeviceMissingOnSource,
        Self::DuplicateDevice,
        Self::OutcomeMismatch,
        Self::WrongNonce,
        Self::ChannelIndexOutOfRange,
        Self::DuplicateChannel,
        Self::RoleNotNegotiated,
        Self::TooManyEarlyChannels,
        Self::ChannelTotalMismatch,
        Self::BadReattach,
        Self::ChannelSetMismatch,
        Self::UnknownDevice,
        Self::DeviceNotParticipating,
        Self::AlreadyApproved,
        Self::RevokeAfterSwitchoverStart,
        Self::SwitchoverNotAllowed,
        Self::NotApproved,
        Self::HelloTimeout,
        Self::WelcomeTimeout,
        Self::ChannelsTimeout,
        Self::AckTimeout,
        Self::SwitchoverTimeout,
        Self::InvalidState,
        Self::CapacityExceeded,
        Self::InvalidArgument,
        Self::LocalAbort,
        Self::UnknownPeerError,
        Self::NonceMismatch,
        Self::LegacyUnknownMagic,
        Self::LegacyStreamVersion,
        Self::LegacyMultifdVersion,
        Self::LegacyMultifdUuid,
        Self::LegacyMultifdId,
        Self::LegacyBadLength,
        Self::LegacyUnknownType,
        Self::LegacyUnexpectedChannel,
        Self::LegacyNotACommand,
    ];

    /// The stable number of this code.
    pub const fn as_u16(self) -> u16 {
        self as u16
    }

    /// The code with this number, if this version knows it.
    pub fn from_u16(v: u16) -> Option<Self> {
        Self::ALL.iter().copied().find(|c| c.as_u16() == v)
    }

    /// A short, static, human-readable text (what `accord_strerror` returns).
    pub const fn text(self) -> &'static str {
        use ErrorCode::*;
        match self {
            BadMagic => "bad magic: not an accord preamble",
            BadVersionRange => "bad version range",
            UnknownRole => "unknown channel role",
            ReservedFlags => "reserved preamble flags set",
            FrameTooLarge => "frame too large",
            UnknownFrameType => "unknown frame type",
            MalformedPayload => "malformed frame payload",
            UnexpectedFrame => "frame not allowed in this state",
            BufferTooSmall => "output buffer too small",
            BadChannelIndex => "channel index not below its total",
            NoCommonVersion => "no common protocol version",
            CapabilityMissingOnDestination => {
                "capability required by source, missing on destination"
            }
            CapabilityMissingOnSource => "capability required by destination, missing on source",
            CapabilityDependency => "capability dependency not met",
            InvalidOffer => "invalid capability offer",
            DeviceUnsupported => "destination cannot serve switchover-ack for device",
            DeviceMissingOnDestination => "device missing on destination",
            DeviceMissingOnSource => "device missing on source",
            DuplicateDevice => "device listed twice",
            OutcomeMismatch => "source and destination computed different outcomes",
            WrongNonce => "channel belongs to another migration (wrong nonce)",
            ChannelIndexOutOfRange => "channel index beyond negotiated count",
            DuplicateChannel => "channel already assigned",
            RoleNotNegotiated => "channel role not negotiated",
            TooManyEarlyChannels => "too many channels before welcome",
            ChannelTotalMismatch => "channel total differs from negotiated count",
            BadReattach => "channel re-attach refused",
            ChannelSetMismatch => "channels-ready set differs from negotiated set",
            UnknownDevice => "unknown device",
            DeviceNotParticipating => "device does not take part in switchover-ack",
            AlreadyApproved => "device already approved",
            RevokeAfterSwitchoverStart => "revoke after switchover start",
            SwitchoverNotAllowed => "switchover not allowed yet",
            NotApproved => "device has not approved",
            HelloTimeout => "timed out waiting for hello",
            WelcomeTimeout => "timed out waiting for welcome",
            ChannelsTimeout => "timed out waiting for channels",
            AckTimeout => "timed out waiting for switchover-ack",
            SwitchoverTimeout => "timed out waiting for switchover start",
            InvalidState => "call not valid in this state",
            CapacityExceeded => "capacity exceeded",
            InvalidArgument => "invalid argument",
            LocalAbort => "aborted by caller",
            UnknownPeerError => "peer sent an unknown error code",
            NonceMismatch => "peer echoed another nonce",
            LegacyUnknownMagic => "legacy: unknown channel magic",
            LegacyStreamVersion => "legacy: main stream version is not 3",
            LegacyMultifdVersion => "legacy: multifd header version is not 1",
            LegacyMultifdUuid => "legacy: multifd header uuid mismatch",
            LegacyMultifdId => "legacy: multifd channel id out of range",
            LegacyBadLength => "legacy: message length rejected",
            LegacyUnknownType => "legacy: unknown message type",
            LegacyUnexpectedChannel => "legacy: unexpected channel",
            LegacyNotACommand => "legacy: not a QEMU_VM_COMMAND section",
        }
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
