//! The plain C structs and the integer "enums" of the API. Enumerations cross
//! the boundary as fixed-width integers (`uint8_t`) with `ACCORD_*` constants,
//! never as C enums: a value C passes that this version does not know is
//! refused with `ACCORD_ERR_BAD_ENUM` instead of being undefined behaviour.

use accord_core::channels::Assignment;
use accord_core::{ChannelId, Event, Role};

use crate::error::{Fail, ACCORD_ERR_BAD_ENUM};

/// Length of a channel preamble in bytes.
pub const ACCORD_PREAMBLE_LEN: usize = 28;
/// Largest frame on the main channel (3-byte header + 16384 payload bytes).
pub const ACCORD_MAX_FRAME: usize = 16387;
/// A receive buffer this large always holds a preamble and a whole frame; a
/// transmit buffer this large never gets `ACCORD_E_BUFFER_TOO_SMALL`.
pub const ACCORD_BUFFER_SIZE: usize = 16415;
/// Returned by `accord_*_poll_timeout` when nothing is being waited for.
pub const ACCORD_NO_DEADLINE: u64 = 0xffff_ffff_ffff_ffff;
/// Size of the device-name buffers in `accord_error_info` and
/// `accord_device_info`: the largest idstr any build allows (255) plus NUL.
pub const ACCORD_DEVICE_NAME_SIZE: usize = 256;

/// A channel role (`ACCORD_ROLE_*`), the preamble's role byte.
pub type accord_role = u8;
/// The main channel: handshake, then the migration stream.
pub const ACCORD_ROLE_MAIN: accord_role = 0;
/// A multifd RAM channel, index 0..count-1.
pub const ACCORD_ROLE_MULTIFD: accord_role = 1;
/// The postcopy-preempt channel (index 0 of 1).
pub const ACCORD_ROLE_PREEMPT: accord_role = 2;
/// A device-state channel, index 0..count-1.
pub const ACCORD_ROLE_DEVICE_STATE: accord_role = 3;

/// How much a side cares about a capability (`ACCORD_LEVEL_*`).
pub type accord_level = u8;
/// Not offered. In a destination's list it removes a capability from the
/// default offer.
pub const ACCORD_LEVEL_NONE: accord_level = 0;
/// Used if the peer offers it too; dropped silently otherwise.
pub const ACCORD_LEVEL_OPTIONAL: accord_level = 1;
/// The migration fails if the peer does not offer it.
pub const ACCORD_LEVEL_REQUIRED: accord_level = 2;

/// A capability id (docs/PROTOCOL.md §6.1): `ACCORD_CAP_*`, reserved ids
/// 9..=0x7fff, vendor ids 0x8000..=0xffff.
pub type accord_capability = u16;
/// `return-path`.
pub const ACCORD_CAP_RETURN_PATH: accord_capability = 1;
/// `multifd`; parameter = channel count 1..=255.
pub const ACCORD_CAP_MULTIFD: accord_capability = 2;
/// `postcopy-ram`.
pub const ACCORD_CAP_POSTCOPY_RAM: accord_capability = 3;
/// `postcopy-preempt` (needs postcopy-ram).
pub const ACCORD_CAP_POSTCOPY_PREEMPT: accord_capability = 4;
/// `switchover-ack` (needs return-path).
pub const ACCORD_CAP_SWITCHOVER_ACK: accord_capability = 5;
/// `zero-copy-send` (needs multifd).
pub const ACCORD_CAP_ZERO_COPY_SEND: accord_capability = 6;
/// `mapped-ram`.
pub const ACCORD_CAP_MAPPED_RAM: accord_capability = 7;
/// `device-state`; parameter = channel count 1..=255.
pub const ACCORD_CAP_DEVICE_STATE: accord_capability = 8;

/// What happens when the source's switchover-ack deadline passes.
pub type accord_ack_policy = u8;
/// Fail the migration with `ACCORD_E_ACK_TIMEOUT` (both sides).
pub const ACCORD_ACK_POLICY_FAIL: accord_ack_policy = 0;
/// Allow switchover without the ack (`ACCORD_EVENT_ACK_WAIVED`).
pub const ACCORD_ACK_POLICY_PROCEED: accord_ack_policy = 1;

/// A state machine's state (`ACCORD_STATE_*`).
pub type accord_state = u8;
/// Source: created, devices may be added, nothing sent.
pub const ACCORD_STATE_IDLE: accord_state = 0;
/// Source: Hello sent, waiting for Welcome or Reject.
pub const ACCORD_STATE_AWAIT_WELCOME: accord_state = 1;
/// Destination: waiting for the source's Hello.
pub const ACCORD_STATE_AWAIT_HELLO: accord_state = 2;
/// Both: agreed; channels and the ack are being waited for.
pub const ACCORD_STATE_PRECOPY: accord_state = 3;
/// Both: the switchover decision was sent (source) or received (destination).
pub const ACCORD_STATE_SWITCHED_OVER: accord_state = 4;
/// Both: the migration failed; `accord_*_last_error` says why. Terminal.
pub const ACCORD_STATE_FAILED: accord_state = 5;

/// How `accord_destination_accept_channel` took a channel.
pub type accord_assign_status = u8;
/// Named and part of the session.
pub const ACCORD_ASSIGN_ASSIGNED: accord_assign_status = 0;
/// Arrived before Welcome: held until the agreement fixes the channel set;
/// an `ACCORD_EVENT_CHANNEL_ASSIGNED` or `_REFUSED` event reports the outcome.
pub const ACCORD_ASSIGN_HELD: accord_assign_status = 1;
/// Replaces a lost connection of the same name.
pub const ACCORD_ASSIGN_REATTACHED: accord_assign_status = 2;

/// Kind of an `accord_event` (`ACCORD_EVENT_*`).
pub type accord_event_kind = u8;
/// No event was pending.
pub const ACCORD_EVENT_NONE: accord_event_kind = 0;
/// Negotiation succeeded (`version`).
pub const ACCORD_EVENT_NEGOTIATED: accord_event_kind = 1;
/// Destination: a secondary channel got its name (`channel`).
pub const ACCORD_EVENT_CHANNEL_ASSIGNED: accord_event_kind = 2;
/// Destination: a channel held before Welcome was refused (`channel`, `code`).
pub const ACCORD_EVENT_CHANNEL_REFUSED: accord_event_kind = 3;
/// Destination: a lost channel came back (`channel`).
pub const ACCORD_EVENT_CHANNEL_REATTACHED: accord_event_kind = 4;
/// Every negotiated channel is attached.
pub const ACCORD_EVENT_CHANNELS_READY: accord_event_kind = 5;
/// Destination: a device approved (`device`: its destination registry id,
/// as `accord_destination_register_device` gave it; `pending`).
pub const ACCORD_EVENT_DEVICE_APPROVED: accord_event_kind = 6;
/// Destination: a device withdrew its approval (`device`: destination
/// registry id; `pending`).
pub const ACCORD_EVENT_DEVICE_REVOKED: accord_event_kind = 7;
/// The switchover-ack was queued (destination) or received (source) (`epoch`).
pub const ACCORD_EVENT_SWITCHOVER_ACKED: accord_event_kind = 8;
/// Source: the destination revoked ack `epoch` because `device` withdrew.
/// `device` is a source table id (as `accord_source_add_device` gave it),
/// not the destination's registry id that DEVICE_* events carry.
pub const ACCORD_EVENT_SWITCHOVER_REVOKED: accord_event_kind = 9;
/// Source: the ack deadline passed under `ACCORD_ACK_POLICY_PROCEED`.
pub const ACCORD_EVENT_ACK_WAIVED: accord_event_kind = 10;
/// The switchover decision was sent or received (`epoch`, `waived`).
pub const ACCORD_EVENT_SWITCHOVER_STARTED: accord_event_kind = 11;
/// The migration failed (`code`, `by_peer`); `accord_*_verdict` has the detail.
pub const ACCORD_EVENT_FAILED: accord_event_kind = 12;

/// A channel's name: its role and its index within the role.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct accord_channel {
    /// `ACCORD_ROLE_*`.
    pub role: accord_role,
    /// Always 0 (explicit, so that the struct has no padding).
    pub reserved: u8,
    /// Index within the role.
    pub index: u16,
}

/// How a destination took a secondary channel.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct accord_assignment {
    /// The channel, as its preamble names it.
    pub channel: accord_channel,
    /// `ACCORD_ASSIGN_*`.
    pub status: accord_assign_status,
    /// Always 0 (explicit, so that the struct has no padding).
    pub reserved: u8,
}

/// One capability a side offers.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct accord_cap_offer {
    /// `ACCORD_CAP_*` or a vendor id.
    pub id: accord_capability,
    /// `ACCORD_LEVEL_*`.
    pub level: accord_level,
    /// Channel count for multifd and device-state (1..=255); 0 for the other
    /// catalog entries.
    pub param: u16,
}

/// A capability negotiation switched on, with its agreed parameter.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct accord_enabled {
    /// The capability.
    pub id: accord_capability,
    /// The agreed parameter (the smaller of the two offers).
    pub param: u16,
}

/// Something a state machine reports; which fields are meaningful depends on
/// `kind` (see the `ACCORD_EVENT_*` constants). Unused fields are 0.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct accord_event {
    /// `ACCORD_EVENT_*`; `ACCORD_EVENT_NONE` when no event was pending.
    pub kind: accord_event_kind,
    /// NEGOTIATED: the chosen protocol version.
    pub version: u8,
    /// FAILED: 1 if the peer reported the error (Reject or Abort).
    pub by_peer: u8,
    /// SWITCHOVER_STARTED: 1 if the decision rests on a waived ack.
    pub waived: u8,
    /// CHANNEL_*: the channel.
    pub channel: accord_channel,
    /// DEVICE_* (destination registry id), SWITCHOVER_REVOKED (source table id).
    pub device: u16,
    /// DEVICE_*: participating devices still to approve.
    pub pending: u16,
    /// SWITCHOVER_*: the ack's arming number.
    pub epoch: u32,
    /// CHANNEL_REFUSED, FAILED: the `ACCORD_E_*` code.
    pub code: i32,
}

/// A device of a local table.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct accord_device_info {
    /// The idstr (QEMU's section name), NUL-terminated.
    pub name: [core::ffi::c_char; ACCORD_DEVICE_NAME_SIZE],
    /// The instance id.
    pub instance: u32,
    /// Source: wants switchover-ack. Destination: supports it.
    pub ack: u8,
    /// 1 if the device takes part in switchover-ack (known after Welcome).
    pub participates: u8,
    /// Destination: 1 if the device approved (since its last revoke).
    pub approved: u8,
    /// Always 0 (explicit, so that the struct has no padding).
    pub reserved: u8,
}

/// A role from C (argument `position`), refusing unknown values.
pub(crate) fn role_from(v: accord_role, position: u16) -> Result<Role, Fail> {
    Role::from_u8(v).ok_or(Fail::arg_value(
        ACCORD_ERR_BAD_ENUM,
        position,
        u32::from(ACCORD_ROLE_DEVICE_STATE),
        u32::from(v),
    ))
}

pub(crate) fn channel_to_c(id: ChannelId) -> accord_channel {
    accord_channel {
        role: id.role as u8,
        reserved: 0,
        index: id.index,
    }
}

pub(crate) fn assignment_to_c(a: Assignment) -> accord_assignment {
    let (channel, status) = match a {
        Assignment::Assigned(id) => (id, ACCORD_ASSIGN_ASSIGNED),
        Assignment::Held(id) => (id, ACCORD_ASSIGN_HELD),
        Assignment::Reattached(id) => (id, ACCORD_ASSIGN_REATTACHED),
    };
    accord_assignment {
        channel: channel_to_c(channel),
        status,
        reserved: 0,
    }
}

pub(crate) fn event_to_c(e: Option<Event>) -> accord_event {
    let mut out = accord_event::default();
    let Some(e) = e else { return out };
    match e {
        Event::Negotiated { version } => {
            out.kind = ACCORD_EVENT_NEGOTIATED;
            out.version = version;
        }
        Event::ChannelAssigned(id) => {
            out.kind = ACCORD_EVENT_CHANNEL_ASSIGNED;
            out.channel = channel_to_c(id);
        }
        Event::ChannelRefused { channel, code } => {
            out.kind = ACCORD_EVENT_CHANNEL_REFUSED;
            out.channel = channel_to_c(channel);
            out.code = i32::from(code.as_u16());
        }
        Event::ChannelReattached(id) => {
            out.kind = ACCORD_EVENT_CHANNEL_REATTACHED;
            out.channel = channel_to_c(id);
        }
        Event::ChannelsReady => out.kind = ACCORD_EVENT_CHANNELS_READY,
        Event::DeviceApproved { device, pending } => {
            out.kind = ACCORD_EVENT_DEVICE_APPROVED;
            out.device = device.0;
            out.pending = pending;
        }
        Event::DeviceRevoked { device, pending } => {
            out.kind = ACCORD_EVENT_DEVICE_REVOKED;
            out.device = device.0;
            out.pending = pending;
        }
        Event::SwitchoverAcked { epoch } => {
            out.kind = ACCORD_EVENT_SWITCHOVER_ACKED;
            out.epoch = epoch;
        }
        Event::SwitchoverRevoked { device, epoch } => {
            out.kind = ACCORD_EVENT_SWITCHOVER_REVOKED;
            out.device = device.0;
            out.epoch = epoch;
        }
        Event::AckWaived => out.kind = ACCORD_EVENT_ACK_WAIVED,
        Event::SwitchoverStarted { epoch, waived } => {
            out.kind = ACCORD_EVENT_SWITCHOVER_STARTED;
            out.epoch = epoch;
            out.waived = u8::from(waived);
        }
        Event::Failed { code, by_peer } => {
            out.kind = ACCORD_EVENT_FAILED;
            out.code = i32::from(code.as_u16());
            out.by_peer = u8::from(by_peer);
        }
    }
    out
}

/// The output structs have no padding: every byte C reads was written.
const _: () = {
    use core::mem::size_of;
    assert!(size_of::<accord_channel>() == 4);
    assert!(size_of::<accord_assignment>() == 6);
    assert!(size_of::<accord_enabled>() == 4);
    assert!(size_of::<accord_event>() == 20);
    assert!(size_of::<accord_device_info>() == ACCORD_DEVICE_NAME_SIZE + 8);
    assert!(size_of::<crate::error::accord_error_info>() == 36 + ACCORD_DEVICE_NAME_SIZE);
    assert!(size_of::<crate::preamble::accord_preamble>() == 24);
};
