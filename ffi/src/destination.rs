//! The destination side: `accord_destination_*`.
//!
//! Lifecycle: `accord_destination_config_default` (the defaults accept
//! whatever the source asks for that this build supports),
//! `accord_destination_init` when the migration is expected,
//! `accord_destination_register_device` for each device; then loop:
//! `accord_destination_handle_input` (main channel bytes, preamble included),
//! `accord_destination_poll_transmit`, `accord_destination_poll_event`,
//! `accord_destination_poll_timeout` / `accord_destination_handle_timeout`;
//! each secondary connection: read 28 bytes, `accord_preamble_decode`,
//! `accord_destination_accept_channel`; each device whose initial data is
//! loaded: `accord_destination_approve`.

use accord_core::{
    ChannelId, Destination, DestinationConfig, DestinationState, DeviceId, Duration, ErrorCode,
    Instant, VersionRange,
};

use crate::error::*;
use crate::handle::{self, accord_destination};
use crate::preamble::{accord_preamble, preamble_from_c};
use crate::session::{agreement, apply_caps, device_info};
use crate::types::*;

/// How a destination is configured. Fill it with
/// `accord_destination_config_default`; nothing needs changing to match the
/// source.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct accord_destination_config {
    /// Changes to the default offer (every catalog capability optional,
    /// channel counts up to `ACCORD_MAX_CHANNELS`): `n_caps` entries, each
    /// setting a capability's level and parameter, `ACCORD_LEVEL_NONE`
    /// removing it (e.g. a destination that cannot do switchover-ack). May be
    /// NULL when `n_caps` is 0. Read during init only.
    pub caps: *const accord_cap_offer,
    /// Number of entries at `caps`.
    pub n_caps: usize,
    /// Lowest protocol version accepted (default 1).
    pub version_min: u8,
    /// Highest protocol version accepted (default 1).
    pub version_max: u8,
    /// From init to Hello, ms (default 5000). For every timeout: 0 puts the
    /// deadline at the moment the wait starts (the next handle_timeout at or
    /// after it fires), and `UINT64_MAX` (any deadline that would reach
    /// `UINT64_MAX`) means none: it never fires.
    pub hello_timeout_ms: u64,
    /// From Welcome (or a lost channel) to the complete channel set, ms (default 10000).
    pub channels_timeout_ms: u64,
    /// From Welcome to the source's switchover decision, ms (default 3600000).
    pub switchover_timeout_ms: u64,
}

fn state_to_c(s: DestinationState) -> accord_state {
    match s {
        DestinationState::AwaitHello => ACCORD_STATE_AWAIT_HELLO,
        DestinationState::Precopy => ACCORD_STATE_PRECOPY,
        DestinationState::SwitchedOver => ACCORD_STATE_SWITCHED_OVER,
        DestinationState::Failed => ACCORD_STATE_FAILED,
    }
}

/// Fill `cfg` with the defaults: no changes to the default offer, versions
/// 1..=1, deadlines 5 s (Hello), 10 s (channels), 3600 s (switchover).
#[no_mangle]
pub extern "C" fn accord_destination_config_default(
    cfg: *mut accord_destination_config,
) -> accord_result {
    let d = DestinationConfig::default();
    handle::call(None, || {
        *handle::out_ref(cfg, 1)? = accord_destination_config {
            caps: core::ptr::null(),
            n_caps: 0,
            version_min: d.versions.min,
            version_max: d.versions.max,
            hello_timeout_ms: d.hello_timeout.millis(),
            channels_timeout_ms: d.channels_timeout.millis(),
            switchover_timeout_ms: d.switchover_timeout.millis(),
        };
        Ok(ACCORD_OK)
    })
}

/// Initialise a destination session in `dst` at `now_ms` (the Hello deadline
/// starts here). On an invalid configuration the handle is initialised but
/// unusable: `accord_destination_verdict` says why. As for
/// `accord_source_init`, a refused init leaves a live session as it was.
#[no_mangle]
pub extern "C" fn accord_destination_init(
    dst: *mut accord_destination,
    cfg: *const accord_destination_config,
    now_ms: u64,
) -> accord_result {
    handle::init::<Destination>(dst, || {
        let c = handle::in_ref(cfg, 2)?;
        let mut cfg = DestinationConfig {
            versions: VersionRange::new(c.version_min, c.version_max),
            hello_timeout: Duration::from_millis(c.hello_timeout_ms),
            channels_timeout: Duration::from_millis(c.channels_timeout_ms),
            switchover_timeout: Duration::from_millis(c.switchover_timeout_ms),
            ..DestinationConfig::default()
        };
        apply_caps(&mut cfg.capabilities, c.caps, c.n_caps, 2)?;
        Ok(Destination::new(cfg, Instant(now_ms))?)
    })
}

/// End the session: the storage is zeroed and may be initialised again.
#[no_mangle]
pub extern "C" fn accord_destination_deinit(dst: *mut accord_destination) -> accord_result {
    handle::deinit::<Destination>(dst)
}

/// Register a device (before Hello): `name` is its idstr (NUL-terminated
/// UTF-8), `instance` its instance id, `supports_ack` whether this side can
/// tell when its initial data is loaded (it will call
/// `accord_destination_approve`). `id` (may be NULL) receives its registry id.
#[no_mangle]
pub extern "C" fn accord_destination_register_device(
    dst: *mut accord_destination,
    name: *const core::ffi::c_char,
    instance: u32,
    supports_ack: bool,
    id: *mut u16,
) -> accord_result {
    handle::with_mut::<Destination>(dst, |d| {
        let name = handle::in_name(name, 2)?;
        let r = d.register_device(name, instance, supports_ack)?;
        handle::opt_out(id, 5, r.0)
    })
}

/// `*id` receives the registry id of the device (`name`, `instance`);
/// `ACCORD_E_UNKNOWN_DEVICE` if there is none.
#[no_mangle]
pub extern "C" fn accord_destination_find_device(
    dst: *const accord_destination,
    name: *const core::ffi::c_char,
    instance: u32,
    id: *mut u16,
) -> accord_result {
    handle::with_ref::<Destination>(dst, |d| {
        let out = handle::out_ref(id, 4)?;
        let name = handle::in_name(name, 2)?;
        let found = d
            .devices()
            .find(name, instance)
            .ok_or(Fail::code(ErrorCode::UnknownDevice))?;
        *out = found.0;
        Ok(())
    })
}

/// Feed `len` bytes received on the main channel (starting with the source's
/// preamble). `*consumed` receives how many were used; the rest (an
/// incomplete frame) must be presented again with more bytes. Never returns
/// `ACCORD_NEED_MORE`: an incomplete frame is `ACCORD_OK` with `*consumed`
/// less than `len`. Every whole frame is consumed (one call's events always
/// fit the queue), up to and including SwitchoverStart: the bytes after it
/// are the migration stream and are left unconsumed.
///
/// A refused Hello (or a source preamble without a common version) is not an
/// error of this call: it returns `ACCORD_OK` with the bytes used, the state
/// is FAILED, an `ACCORD_EVENT_FAILED` is queued and a Reject waits for
/// `accord_destination_poll_transmit`, so that the source fails at once
/// rather than at its Welcome deadline; `accord_destination_verdict` has the
/// reason. Any other error means the migration failed on this call (state
/// FAILED; an Abort for the source waits for poll_transmit) or the call was
/// not valid now: `ACCORD_E_INVALID_STATE`, changing nothing, in FAILED and
/// in SWITCHED_OVER. Whatever this returns, call poll_transmit until it
/// writes 0 bytes before closing the connection.
#[no_mangle]
pub extern "C" fn accord_destination_handle_input(
    dst: *mut accord_destination,
    now_ms: u64,
    data: *const u8,
    len: usize,
    consumed: *mut usize,
) -> accord_result {
    handle::with_mut::<Destination>(dst, |d| {
        let out = handle::out_ref(consumed, 5)?;
        *out = 0;
        let bytes = handle::in_bytes(data, len, 3)?;
        *out = d.handle_input(Instant(now_ms), bytes)?;
        Ok(())
    })
}

/// Write pending bytes for the main channel (the preamble first) into `buf`
/// (capacity `len`); `*written` receives the count, 0 if nothing is pending.
/// The preamble and the first frame (Welcome or Reject) go out as one unit:
/// the buffer must hold both. `ACCORD_E_BUFFER_TOO_SMALL` (nothing written,
/// nothing lost) if the next unit does not fit: `ACCORD_BUFFER_SIZE` bytes
/// always do. Keeps working in FAILED: the Reject or Abort still has to go
/// out.
#[no_mangle]
pub extern "C" fn accord_destination_poll_transmit(
    dst: *mut accord_destination,
    now_ms: u64,
    buf: *mut u8,
    len: usize,
    written: *mut usize,
) -> accord_result {
    handle::with_mut::<Destination>(dst, |d| {
        let out = handle::out_ref(written, 5)?;
        *out = 0;
        let b = handle::out_bytes(buf, len, 3)?;
        *out = d.poll_transmit(Instant(now_ms), b)?;
        Ok(())
    })
}

/// Take the next event into `*event` (`kind` is `ACCORD_EVENT_NONE` when
/// none is pending). Keeps working in FAILED and SWITCHED_OVER. A caller that
/// takes every pending event after each call never loses one, at any
/// capacity: one call queues at most `ACCORD_EVENTS_PER_CALL` events.
#[no_mangle]
pub extern "C" fn accord_destination_poll_event(
    dst: *mut accord_destination,
    event: *mut accord_event,
) -> accord_result {
    handle::with_mut::<Destination>(dst, |d| {
        *handle::out_ref(event, 2)? = event_to_c(d.poll_event());
        Ok(())
    })
}

/// `*deadline_ms` receives when to call `accord_destination_handle_timeout`
/// next, or `ACCORD_NO_DEADLINE` if nothing is being waited for (so in
/// FAILED and SWITCHED_OVER).
#[no_mangle]
pub extern "C" fn accord_destination_poll_timeout(
    dst: *const accord_destination,
    deadline_ms: *mut u64,
) -> accord_result {
    handle::with_ref::<Destination>(dst, |d| {
        *handle::out_ref(deadline_ms, 2)? = d.poll_timeout().map_or(ACCORD_NO_DEADLINE, |t| t.0);
        Ok(())
    })
}

/// Act on every deadline that has passed at `now_ms`: a deadline fires when
/// `now_ms` equals it or is later. Returns the verdict (e.g.
/// `ACCORD_E_CHANNELS_TIMEOUT`, detail: the first missing channel and how
/// many) if a deadline failed the migration in this call, `ACCORD_OK`
/// otherwise (also when called early, or in FAILED or SWITCHED_OVER, where
/// nothing changes).
#[no_mangle]
pub extern "C" fn accord_destination_handle_timeout(
    dst: *mut accord_destination,
    now_ms: u64,
) -> accord_result {
    handle::with_mut::<Destination>(dst, |d| match d.handle_timeout(Instant(now_ms)) {
        Some(e) => Err(Fail::from(e)),
        None => Ok(()),
    })
}

/// Take a secondary connection, given the preamble read from it
/// (`accord_preamble_decode`). Channels may come in any order, before or
/// after Welcome. `*assigned` (may be NULL) says how it was taken: ASSIGNED,
/// HELD until Welcome (an event reports the outcome) or REATTACHED. An error
/// (`ACCORD_E_WRONG_NONCE`, `_DUPLICATE_CHANNEL`, `_CHANNEL_INDEX_OUT_OF_RANGE`,
/// `_ROLE_NOT_NEGOTIATED`, ...) concerns only that connection: close it; the
/// session goes on.
#[no_mangle]
pub extern "C" fn accord_destination_accept_channel(
    dst: *mut accord_destination,
    now_ms: u64,
    preamble: *const accord_preamble,
    assigned: *mut accord_assignment,
) -> accord_result {
    handle::with_mut::<Destination>(dst, |d| {
        let p = preamble_from_c(handle::in_ref(preamble, 3)?, 3)?;
        let out = handle::optional(assigned, || handle::out_ref(assigned, 4))?;
        let a = d.accept_channel(Instant(now_ms), &p)?;
        if let Some(o) = out {
            *o = assignment_to_c(a);
        }
        Ok(())
    })
}

/// A secondary channel's connection broke: in PRECOPY it starts the channels
/// deadline again; the source re-attaches it with the same name. In
/// SWITCHED_OVER (terminal) the channel is only marked lost so that its
/// re-attach is accepted: no deadline, no change of state.
/// `ACCORD_E_INVALID_ARGUMENT` for a channel that is not attached.
#[no_mangle]
pub extern "C" fn accord_destination_channel_lost(
    dst: *mut accord_destination,
    now_ms: u64,
    role: accord_role,
    index: u16,
) -> accord_result {
    handle::with_mut::<Destination>(dst, |d| {
        let role = role_from(role, 3)?;
        Ok(d.channel_lost(Instant(now_ms), ChannelId { role, index })?)
    })
}

/// QEMU's `qemu_loadvm_approve_switchover`: device `id`'s initial data is
/// loaded. The last pending approval queues the SwitchoverAck. Refused,
/// leaving the count unchanged: `ACCORD_E_UNKNOWN_DEVICE`,
/// `_DEVICE_NOT_PARTICIPATING`, `_ALREADY_APPROVED`, `_INVALID_STATE`.
#[no_mangle]
pub extern "C" fn accord_destination_approve(
    dst: *mut accord_destination,
    now_ms: u64,
    id: u16,
) -> accord_result {
    handle::with_mut::<Destination>(dst, |d| Ok(d.approve(Instant(now_ms), DeviceId(id))?))
}

/// Device `id`'s initial data grew again: withdraw its approval (closes the
/// source's gate until the next ack). `ACCORD_E_REVOKE_AFTER_SWITCHOVER_START`
/// once the source has decided; `ACCORD_E_NOT_APPROVED` if it had not approved.
#[no_mangle]
pub extern "C" fn accord_destination_revoke(
    dst: *mut accord_destination,
    now_ms: u64,
    id: u16,
) -> accord_result {
    handle::with_mut::<Destination>(dst, |d| Ok(d.revoke(Instant(now_ms), DeviceId(id))?))
}

/// Fail the migration from the caller's side (`ACCORD_E_LOCAL_ABORT`); the
/// source is told by an Abort frame at the next poll_transmit (if its
/// preamble has arrived). Changes nothing in FAILED and in SWITCHED_OVER,
/// which is terminal (the source has decided).
#[no_mangle]
pub extern "C" fn accord_destination_abort(
    dst: *mut accord_destination,
    now_ms: u64,
) -> accord_result {
    handle::with_mut::<Destination>(dst, |d| {
        d.abort(Instant(now_ms));
        Ok(())
    })
}

/// `*state` receives the state (`ACCORD_STATE_*`).
#[no_mangle]
pub extern "C" fn accord_destination_state(
    dst: *const accord_destination,
    state: *mut accord_state,
) -> accord_result {
    handle::with_ref::<Destination>(dst, |d| {
        *handle::out_ref(state, 2)? = state_to_c(d.state());
        Ok(())
    })
}

/// `*pending` receives the number of participating devices that have not
/// approved (the ack goes out when it reaches 0).
#[no_mangle]
pub extern "C" fn accord_destination_pending(
    dst: *const accord_destination,
    pending: *mut u16,
) -> accord_result {
    handle::with_ref::<Destination>(dst, |d| {
        *handle::out_ref(pending, 2)? = d.pending();
        Ok(())
    })
}

/// The agreement, as `accord_source_agreement`.
#[no_mangle]
pub extern "C" fn accord_destination_agreement(
    dst: *const accord_destination,
    version: *mut u8,
    caps: *mut accord_enabled,
    cap: usize,
    count: *mut usize,
) -> accord_result {
    handle::with_ref::<Destination>(dst, |d| {
        agreement(d.version(), d.agreed(), version, caps, cap, count)
    })
}

/// `*count` receives the number of registered devices.
#[no_mangle]
pub extern "C" fn accord_destination_device_count(
    dst: *const accord_destination,
    count: *mut usize,
) -> accord_result {
    handle::with_ref::<Destination>(dst, |d| {
        *handle::out_ref(count, 2)? = d.devices().len();
        Ok(())
    })
}

/// Registered device `id` into `*info` (`ack`: supports the ack;
/// `participates`, `approved`). `ACCORD_E_UNKNOWN_DEVICE` for an unknown id.
#[no_mangle]
pub extern "C" fn accord_destination_device(
    dst: *const accord_destination,
    id: u16,
    info: *mut accord_device_info,
) -> accord_result {
    handle::with_ref::<Destination>(dst, |d| {
        let out = handle::out_ref(info, 3)?;
        let dev = d
            .devices()
            .get(DeviceId(id))
            .ok_or(Fail::code(ErrorCode::UnknownDevice))?;
        *out = device_info(dev, d.participates(DeviceId(id)), d.approved(DeviceId(id)));
        Ok(())
    })
}

/// `*dropped` receives how many events were dropped because the queue was
/// full: always 0 for a caller that polls every event after each call.
#[no_mangle]
pub extern "C" fn accord_destination_dropped_events(
    dst: *const accord_destination,
    dropped: *mut u32,
) -> accord_result {
    handle::with_ref::<Destination>(dst, |d| {
        *handle::out_ref(dropped, 2)? = d.dropped_events();
        Ok(())
    })
}

/// The detail of the last error on this handle, as `accord_source_last_error`.
#[no_mangle]
pub extern "C" fn accord_destination_last_error(
    dst: *const accord_destination,
    info: *mut accord_error_info,
) -> accord_result {
    handle::last_error::<Destination>(dst, info)
}

/// The session's verdict, as `accord_source_verdict`: why init refused its
/// configuration, or why the migration failed (for a refused Hello, the
/// code and detail of the Reject). `ACCORD_OK` while it has not failed; no
/// later call changes it.
#[no_mangle]
pub extern "C" fn accord_destination_verdict(
    dst: *const accord_destination,
    info: *mut accord_error_info,
) -> accord_result {
    handle::verdict::<Destination>(dst, info)
}
