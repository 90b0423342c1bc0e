//! The source side: `accord_source_*`.
//!
//! Lifecycle: `accord_source_config_default`, set capabilities,
//! `accord_source_init`, `accord_source_add_device` for each device,
//! `accord_source_start`; then loop: `accord_source_poll_transmit` (write to
//! the main socket), `accord_source_handle_input` (bytes read from it),
//! `accord_source_poll_event`, `accord_source_poll_timeout` /
//! `accord_source_handle_timeout`; open every channel of
//! `accord_source_channels` with `accord_source_channel_preamble`; when
//! `accord_source_can_switchover`, `accord_source_start_switchover`.

use accord_core::{
    AckPolicy, ChannelId, DeviceId, Duration, ErrorCode, Instant, Source, SourceConfig,
    SourceState, VersionRange,
};

use crate::error::*;
use crate::handle::{self, *};
use crate::session::{agreement, apply_caps, device_info};
use crate::types::*;

/// How a source is configured. Fill it with `accord_source_config_default`,
/// then change what you need. Only the source is configured: the destination
/// learns the capabilities from its Hello.
#[repr(C)]
#[derive(Copy, Clone, Debug)]
pub struct accord_source_config {
    /// Capabilities offered: `n_caps` entries (ids need not be sorted; a later
    /// entry for the same id replaces an earlier one; `ACCORD_LEVEL_NONE`
    /// removes it). May be NULL when `n_caps` is 0. Read during init only.
    pub caps: *const accord_cap_offer,
    /// Number of entries at `caps`.
    pub n_caps: usize,
    /// Lowest protocol version offered (default 1).
    pub version_min: u8,
    /// Highest protocol version offered (default 1).
    pub version_max: u8,
    /// `ACCORD_ACK_POLICY_*`: what the ack deadline does (default FAIL).
    pub ack_policy: accord_ack_policy,
    /// From `accord_source_start` to Welcome, ms (default 5000). For every
    /// timeout: 0 puts the deadline at the moment the wait starts (the next
    /// handle_timeout at or after it fires), and `UINT64_MAX` (any deadline
    /// that would reach `UINT64_MAX`) means none: it never fires.
    pub welcome_timeout_ms: u64,
    /// From Welcome (or a lost channel) to ChannelsReady, ms (default 15000).
    pub channels_timeout_ms: u64,
    /// From Welcome (or a revoke) to the switchover-ack, ms (default 300000).
    pub ack_timeout_ms: u64,
}

fn config_from_c(c: &accord_source_config) -> Result<SourceConfig, Fail> {
    let mut cfg = SourceConfig {
        versions: VersionRange::new(c.version_min, c.version_max),
        welcome_timeout: Duration::from_millis(c.welcome_timeout_ms),
        channels_timeout: Duration::from_millis(c.channels_timeout_ms),
        ack_timeout: Duration::from_millis(c.ack_timeout_ms),
        ack_policy: match c.ack_policy {
            ACCORD_ACK_POLICY_FAIL => AckPolicy::Fail,
            ACCORD_ACK_POLICY_PROCEED => AckPolicy::Proceed,
            other => {
                return Err(Fail::arg_value(
                    ACCORD_ERR_BAD_ENUM,
                    2,
                    u32::from(ACCORD_ACK_POLICY_PROCEED),
                    u32::from(other),
                ))
            }
        },
        ..SourceConfig::default()
    };
    apply_caps(&mut cfg.capabilities, c.caps, c.n_caps, 2)?;
    Ok(cfg)
}

pub(crate) fn state_to_c(s: SourceState) -> accord_state {
    match s {
        SourceState::Idle => ACCORD_STATE_IDLE,
        SourceState::AwaitWelcome => ACCORD_STATE_AWAIT_WELCOME,
        SourceState::Precopy => ACCORD_STATE_PRECOPY,
        SourceState::SwitchedOver => ACCORD_STATE_SWITCHED_OVER,
        SourceState::Failed => ACCORD_STATE_FAILED,
    }
}

/// Fill `cfg` with the defaults: no capabilities, versions 1..=1, deadlines
/// 5 s (Welcome), 15 s (channels), 300 s (ack), ack policy FAIL.
#[no_mangle]
pub extern "C" fn accord_source_config_default(cfg: *mut accord_source_config) -> accord_result {
    let d = SourceConfig::default();
    handle::call(None, || {
        *handle::out_ref(cfg, 1)? = accord_source_config {
            caps: core::ptr::null(),
            n_caps: 0,
            version_min: d.versions.min,
            version_max: d.versions.max,
            ack_policy: ACCORD_ACK_POLICY_FAIL,
            welcome_timeout_ms: d.welcome_timeout.millis(),
            channels_timeout_ms: d.channels_timeout.millis(),
            ack_timeout_ms: d.ack_timeout.millis(),
        };
        Ok(ACCORD_OK)
    })
}

/// Initialise a source session in `src` for one migration. `nonce` points to
/// 16 bytes of caller entropy that name this migration on every channel.
/// Refuses an invalid configuration (e.g. `ACCORD_E_INVALID_OFFER` for
/// switchover-ack required without return-path); the handle is then
/// initialised but unusable: `accord_source_verdict` (and, until another call
/// fails, `accord_source_last_error`) says why, every other call returns
/// `ACCORD_E_INVALID_STATE`. Initialising a live handle again discards its
/// session, but only if the new init succeeds: a refused init (a NULL `cfg`
/// or `nonce`, a bad enum value, an invalid configuration) leaves a live
/// session as it was and is recorded as its last error only.
#[no_mangle]
pub extern "C" fn accord_source_init(
    src: *mut accord_source,
    cfg: *const accord_source_config,
    nonce: *const u8,
) -> accord_result {
    handle::init::<Source>(src, || {
        let c = handle::in_ref(cfg, 2)?;
        let n = handle::in_bytes(nonce, 16, 3)?;
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(n);
        let cfg = config_from_c(c)?;
        Ok(Source::new(cfg, nonce)?)
    })
}

/// End the session: the storage is zeroed and may be initialised again.
/// Returns `ACCORD_ERR_NOT_INITIALIZED` if it was not initialised.
#[no_mangle]
pub extern "C" fn accord_source_deinit(src: *mut accord_source) -> accord_result {
    handle::deinit::<Source>(src)
}

/// List a device (before `accord_source_start`): `name` is QEMU's section
/// idstr (NUL-terminated UTF-8, 1..=ACCORD_MAX_NAME_LEN bytes), `instance` its
/// instance id, `wants_ack` whether its initial data must be loaded on the
/// destination before switchover (QEMU's `switchover_ack_needed`). `id` (may
/// be NULL) receives the device's id in this source's table (0, 1, ...).
/// `ACCORD_E_CAPACITY_EXCEEDED` when `ACCORD_MAX_DEVICES` are listed, or when
/// this device would make the Hello longer than one frame (detail VALUE:
/// expected 16384, got the Hello's length); the device is then not listed.
#[no_mangle]
pub extern "C" fn accord_source_add_device(
    src: *mut accord_source,
    name: *const core::ffi::c_char,
    instance: u32,
    wants_ack: bool,
    id: *mut u16,
) -> accord_result {
    handle::with_mut::<Source>(src, |s| {
        let name = handle::in_name(name, 2)?;
        let d = s.add_device(name, instance, wants_ack)?;
        handle::opt_out(id, 5, d.0)
    })
}

/// Queue the main-channel preamble and Hello and start the Welcome deadline.
/// From now on the secondary channels may be opened (pipelining).
#[no_mangle]
pub extern "C" fn accord_source_start(src: *mut accord_source, now_ms: u64) -> accord_result {
    handle::with_mut::<Source>(src, |s| Ok(s.start(Instant(now_ms))?))
}

/// Feed `len` bytes received on the main channel. `*consumed` receives how
/// many were used: bytes of an incomplete frame are left; present them again
/// with more. Never returns `ACCORD_NEED_MORE`: an incomplete frame is
/// `ACCORD_OK` with `*consumed` less than `len`. So that no event is lost,
/// one call consumes frames only while their events fit the queue: should
/// more than `ACCORD_EVENTS_PER_CALL` event-making frames (acks and revokes)
/// arrive at once, it stops after those, returning `ACCORD_OK` with whole
/// frames left. Take the events, then call again with the rest; a loop that
/// calls until `*consumed` is 0 handles both cases. An error means the
/// migration failed (state FAILED; the code is the verdict, e.g. a Reject's:
/// `accord_source_verdict` keeps it) or the call was not valid now
/// (`ACCORD_E_INVALID_STATE` before `accord_source_start` and in FAILED,
/// changing nothing).
#[no_mangle]
pub extern "C" fn accord_source_handle_input(
    src: *mut accord_source,
    now_ms: u64,
    data: *const u8,
    len: usize,
    consumed: *mut usize,
) -> accord_result {
    handle::with_mut::<Source>(src, |s| {
        let out = handle::out_ref(consumed, 5)?;
        *out = 0;
        let bytes = handle::in_bytes(data, len, 3)?;
        *out = s.handle_input(Instant(now_ms), bytes)?;
        Ok(())
    })
}

/// Write pending bytes for the main channel into `buf` (capacity `len`):
/// as many whole frames as fit. `*written` receives the count, 0 if nothing
/// is pending. The preamble and the Hello go out as one unit: the buffer
/// must hold both (28 bytes and the Hello). `ACCORD_E_BUFFER_TOO_SMALL`
/// (nothing written, nothing lost) if the next unit does not fit:
/// `ACCORD_BUFFER_SIZE` bytes always do. Keeps working in FAILED: an Abort
/// for the destination may still be pending.
#[no_mangle]
pub extern "C" fn accord_source_poll_transmit(
    src: *mut accord_source,
    now_ms: u64,
    buf: *mut u8,
    len: usize,
    written: *mut usize,
) -> accord_result {
    handle::with_mut::<Source>(src, |s| {
        let out = handle::out_ref(written, 5)?;
        *out = 0;
        let b = handle::out_bytes(buf, len, 3)?;
        *out = s.poll_transmit(Instant(now_ms), b)?;
        Ok(())
    })
}

/// Take the next event into `*event` (`kind` is `ACCORD_EVENT_NONE` when
/// none is pending). Keeps working in FAILED and SWITCHED_OVER. A caller that
/// takes every pending event after each call never loses one, at any
/// capacity: one call queues at most `ACCORD_EVENTS_PER_CALL` events.
#[no_mangle]
pub extern "C" fn accord_source_poll_event(
    src: *mut accord_source,
    event: *mut accord_event,
) -> accord_result {
    handle::with_mut::<Source>(src, |s| {
        let out = handle::out_ref(event, 2)?;
        *out = event_to_c(s.poll_event());
        Ok(())
    })
}

/// `*deadline_ms` receives when to call `accord_source_handle_timeout` next,
/// or `ACCORD_NO_DEADLINE` if nothing is being waited for.
#[no_mangle]
pub extern "C" fn accord_source_poll_timeout(
    src: *const accord_source,
    deadline_ms: *mut u64,
) -> accord_result {
    handle::with_ref::<Source>(src, |s| {
        *handle::out_ref(deadline_ms, 2)? = s.poll_timeout().map_or(ACCORD_NO_DEADLINE, |t| t.0);
        Ok(())
    })
}

/// Act on every deadline that has passed at `now_ms`: a deadline fires when
/// `now_ms` equals it or is later. Returns the verdict code (e.g.
/// `ACCORD_E_WELCOME_TIMEOUT`) if a deadline failed the migration in this
/// call, `ACCORD_OK` otherwise (also when called early, and in FAILED and
/// SWITCHED_OVER, where nothing is waited for).
#[no_mangle]
pub extern "C" fn accord_source_handle_timeout(
    src: *mut accord_source,
    now_ms: u64,
) -> accord_result {
    handle::with_mut::<Source>(src, |s| match s.handle_timeout(Instant(now_ms)) {
        Some(e) => Err(Fail::from(e)),
        None => Ok(()),
    })
}

/// The secondary channels to open now, in a fixed order (multifd 0.., preempt,
/// device-state 0..): before Welcome the ones offered, after it the agreed
/// ones. Writes up to `cap` entries to `out` (may be NULL when `cap` is 0) and
/// the total count to `*count`; `ACCORD_E_BUFFER_TOO_SMALL` if `cap` is less.
/// So `accord_source_channels(src, NULL, 0, &n)` is a size query: it sets `n`
/// and returns `ACCORD_E_BUFFER_TOO_SMALL` when there is any channel,
/// `ACCORD_OK` when there is none.
#[no_mangle]
pub extern "C" fn accord_source_channels(
    src: *const accord_source,
    out: *mut accord_channel,
    cap: usize,
    count: *mut usize,
) -> accord_result {
    handle::with_ref::<Source>(src, |s| {
        let n = handle::out_ref(count, 4)?;
        let dst = handle::out_slice(out, cap, 2)?;
        let mut total = 0usize;
        for id in s.channels() {
            if let Some(d) = dst.get_mut(total) {
                *d = channel_to_c(id);
            }
            total += 1;
        }
        *n = total;
        if total > cap {
            return Err(Fail::code(ErrorCode::BufferTooSmall));
        }
        Ok(())
    })
}

fn preamble_bytes(p: accord_core::Preamble, out: *mut u8, position: u16) -> Result<(), Fail> {
    let o = handle::out_bytes(out, ACCORD_PREAMBLE_LEN, position)?;
    o.copy_from_slice(&p.to_bytes());
    Ok(())
}

/// Write the 28-byte preamble to send first on secondary channel (`role`,
/// `index`) into `out` (28 writable bytes). Valid from `accord_source_start`
/// on. `ACCORD_E_CHANNEL_INDEX_OUT_OF_RANGE` for a channel not in
/// `accord_source_channels`; `ACCORD_E_INVALID_STATE` for the main channel.
#[no_mangle]
pub extern "C" fn accord_source_channel_preamble(
    src: *mut accord_source,
    role: accord_role,
    index: u16,
    out: *mut u8,
) -> accord_result {
    handle::with_mut::<Source>(src, |s| {
        let role = role_from(role, 2)?;
        let p = s.channel_preamble(ChannelId { role, index })?;
        preamble_bytes(p, out, 4)
    })
}

/// A channel's connection broke (postcopy recovery): wait for ChannelsReady
/// again, and write the preamble (with the REATTACH flag) to send on its
/// replacement connection into `out` (28 bytes).
#[no_mangle]
pub extern "C" fn accord_source_channel_lost(
    src: *mut accord_source,
    now_ms: u64,
    role: accord_role,
    index: u16,
    out: *mut u8,
) -> accord_result {
    handle::with_mut::<Source>(src, |s| {
        let role = role_from(role, 3)?;
        handle::out_bytes(out, ACCORD_PREAMBLE_LEN, 5)?;
        let p = s.channel_lost(Instant(now_ms), ChannelId { role, index })?;
        preamble_bytes(p, out, 5)
    })
}

/// QEMU's `migration_can_switchover`: `*allowed` is true when agreed, every
/// channel is attached, and the ack is in (or switchover-ack is off, or its
/// deadline was waived).
#[no_mangle]
pub extern "C" fn accord_source_can_switchover(
    src: *const accord_source,
    allowed: *mut bool,
) -> accord_result {
    handle::with_ref::<Source>(src, |s| {
        *handle::out_ref(allowed, 2)? = s.can_switchover();
        Ok(())
    })
}

/// Announce the switchover decision (queues SwitchoverStart). Refused with
/// `ACCORD_E_SWITCHOVER_NOT_ALLOWED`, changing nothing, while
/// `accord_source_can_switchover` is false.
#[no_mangle]
pub extern "C" fn accord_source_start_switchover(
    src: *mut accord_source,
    now_ms: u64,
) -> accord_result {
    handle::with_mut::<Source>(src, |s| Ok(s.start_switchover(Instant(now_ms))?))
}

/// Fail the migration from the caller's side (`ACCORD_E_LOCAL_ABORT`); the
/// destination is told by an Abort frame at the next poll_transmit (from
/// `accord_source_start` on). Changes nothing in FAILED and in SWITCHED_OVER:
/// the destination has read the decision before any Abort and stays
/// SWITCHED_OVER, so both sides keep that outcome.
#[no_mangle]
pub extern "C" fn accord_source_abort(src: *mut accord_source, now_ms: u64) -> accord_result {
    handle::with_mut::<Source>(src, |s| {
        s.abort(Instant(now_ms));
        Ok(())
    })
}

/// `*state` receives the state (`ACCORD_STATE_*`).
#[no_mangle]
pub extern "C" fn accord_source_state(
    src: *const accord_source,
    state: *mut accord_state,
) -> accord_result {
    handle::with_ref::<Source>(src, |s| {
        *handle::out_ref(state, 2)? = state_to_c(s.state());
        Ok(())
    })
}

/// The agreement: `*version` (may be NULL) receives the chosen protocol
/// version (0 before Welcome); up to `cap` enabled capabilities go to `caps`
/// (may be NULL when `cap` is 0), their count to `*count`;
/// `ACCORD_E_BUFFER_TOO_SMALL` if `cap` is less. `ACCORD_MAX_CAPABILITIES`
/// entries always fit.
#[no_mangle]
pub extern "C" fn accord_source_agreement(
    src: *const accord_source,
    version: *mut u8,
    caps: *mut accord_enabled,
    cap: usize,
    count: *mut usize,
) -> accord_result {
    handle::with_ref::<Source>(src, |s| {
        agreement(s.version(), s.agreed(), version, caps, cap, count)
    })
}

/// `*count` receives the number of devices listed.
#[no_mangle]
pub extern "C" fn accord_source_device_count(
    src: *const accord_source,
    count: *mut usize,
) -> accord_result {
    handle::with_ref::<Source>(src, |s| {
        *handle::out_ref(count, 2)? = s.devices().len();
        Ok(())
    })
}

/// Device `id` of this source's table into `*info` (`ack`: wants the ack;
/// `participates`: takes part, known after Welcome). `ACCORD_E_UNKNOWN_DEVICE`
/// for an id not below `accord_source_device_count`.
#[no_mangle]
pub extern "C" fn accord_source_device(
    src: *const accord_source,
    id: u16,
    info: *mut accord_device_info,
) -> accord_result {
    handle::with_ref::<Source>(src, |s| {
        let out = handle::out_ref(info, 3)?;
        let d = s
            .devices()
            .get(DeviceId(id))
            .ok_or(Fail::code(ErrorCode::UnknownDevice))?;
        *out = device_info(d, s.participates(DeviceId(id)), false);
        Ok(())
    })
}

/// `*dropped` receives how many events were dropped because the event queue
/// was full. Always 0 for a caller that takes every event after each call
/// (one call queues at most `ACCORD_EVENTS_PER_CALL`, and the queue holds at
/// least that many); a caller that lets events pile up loses the oldest.
#[no_mangle]
pub extern "C" fn accord_source_dropped_events(
    src: *const accord_source,
    dropped: *mut u32,
) -> accord_result {
    handle::with_ref::<Source>(src, |s| {
        *handle::out_ref(dropped, 2)? = s.dropped_events();
        Ok(())
    })
}

/// The detail of the last error on this handle: the last call that failed
/// (for any reason: an argument, a refusal, or a failure of the migration),
/// or the migration's verdict if a later call that returned `ACCORD_OK`
/// (a deadline, a Reject or Abort read by handle_input) failed it. `code` is
/// `ACCORD_OK` if nothing failed yet. A later refused call replaces it: for
/// why the session failed, read `accord_source_verdict`. Boundary errors
/// about the handle itself (NULL, not initialised, wrong role) cannot be
/// recorded in it and are only returned.
#[no_mangle]
pub extern "C" fn accord_source_last_error(
    src: *const accord_source,
    info: *mut accord_error_info,
) -> accord_result {
    handle::last_error::<Source>(src, info)
}

/// The session's verdict into `*info`: why `accord_source_init` refused its
/// configuration, or why the migration failed (the code and detail both
/// sides report, e.g. a Reject's). `code` is `ACCORD_OK` while the session
/// has not failed. Set once: no later call, refused or not, changes it
/// (unlike `accord_source_last_error`).
#[no_mangle]
pub extern "C" fn accord_source_verdict(
    src: *const accord_source,
    info: *mut accord_error_info,
) -> accord_result {
    handle::verdict::<Source>(src, info)
}
