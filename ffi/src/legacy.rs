//! QEMU's legacy formats, for peers without the accord handshake: the
//! channel classifier (which incoming connection is which, by the rules of
//! each QEMU version family) and the codecs of the main-stream header,
//! `QEMU_VM_COMMAND`, return-path messages and `MultiFDInit_t`
//! (docs/LEGACY.md). The codecs are pure functions: they take an optional
//! `accord_error_info *error` (may be NULL) for the detail of a refusal, and
//! decoders return `ACCORD_NEED_MORE` for input that is merely incomplete.

use accord_core::legacy::{
    multifd::MULTIFD_INIT_LEN, Classifier, Command, Decision, Family, LegacyConfig, MultifdInit,
    PageSizes, Parsed, RpMessage, StreamHeader,
};

use crate::error::*;
use crate::handle::{self, accord_legacy_classifier};

/// A QEMU version family (`ACCORD_LEGACY_QEMU_*`).
pub type accord_legacy_family = u8;
/// QEMU 7.2: channels identified by arrival order only.
pub const ACCORD_LEGACY_QEMU_7_2: accord_legacy_family = 0;
/// QEMU 8.0 to 10.0: peek 4 bytes only with multifd on, postcopy off, no TLS.
pub const ACCORD_LEGACY_QEMU_8_0_TO_10_0: accord_legacy_family = 1;
/// QEMU 10.1 and later: peek until main and multifd are in, then preempt.
pub const ACCORD_LEGACY_QEMU_10_1_PLUS: accord_legacy_family = 2;

/// What the classifier made of a connection (`ACCORD_LEGACY_DECISION_*`).
pub type accord_legacy_decision_kind = u8;
/// The main channel; nothing consumed (the stream header is still to be read).
pub const ACCORD_LEGACY_DECISION_MAIN: accord_legacy_decision_kind = 1;
/// Multifd channel `multifd_id`; its 64-byte MultiFDInit_t belongs to it.
pub const ACCORD_LEGACY_DECISION_MULTIFD: accord_legacy_decision_kind = 2;
/// The postcopy-preempt channel, decided without reading it.
pub const ACCORD_LEGACY_DECISION_PREEMPT: accord_legacy_decision_kind = 3;
/// Not enough bytes: call again once `needed` bytes from the connection's
/// start are available.
pub const ACCORD_LEGACY_DECISION_NEED_MORE: accord_legacy_decision_kind = 4;
/// Not enough bytes, and this may be the silent preempt channel: do not wait
/// on it; call again when it has `needed` bytes or after any other decision.
pub const ACCORD_LEGACY_DECISION_MAYBE_SILENT: accord_legacy_decision_kind = 5;

/// `QEMU_VM_COMMAND` numbers (`ACCORD_LEGACY_CMD_*`).
pub const ACCORD_LEGACY_CMD_OPEN_RETURN_PATH: u16 = 1;
/// PING (4-byte value).
pub const ACCORD_LEGACY_CMD_PING: u16 = 2;
/// POSTCOPY_ADVISE (empty, or the two page sizes).
pub const ACCORD_LEGACY_CMD_POSTCOPY_ADVISE: u16 = 3;
/// POSTCOPY_LISTEN.
pub const ACCORD_LEGACY_CMD_POSTCOPY_LISTEN: u16 = 4;
/// POSTCOPY_RUN.
pub const ACCORD_LEGACY_CMD_POSTCOPY_RUN: u16 = 5;
/// POSTCOPY_RAM_DISCARD (raw payload in `data`).
pub const ACCORD_LEGACY_CMD_POSTCOPY_RAM_DISCARD: u16 = 6;
/// PACKAGED (4-byte length).
pub const ACCORD_LEGACY_CMD_PACKAGED: u16 = 7;
/// ENABLE_COLO.
pub const ACCORD_LEGACY_CMD_ENABLE_COLO: u16 = 8;
/// POSTCOPY_RESUME.
pub const ACCORD_LEGACY_CMD_POSTCOPY_RESUME: u16 = 9;
/// RECV_BITMAP (RAMBlock idstr in `data`).
pub const ACCORD_LEGACY_CMD_RECV_BITMAP: u16 = 10;
/// SWITCHOVER_START (QEMU 10.0+).
pub const ACCORD_LEGACY_CMD_SWITCHOVER_START: u16 = 11;

/// Return-path message types (`ACCORD_LEGACY_RP_*`).
pub const ACCORD_LEGACY_RP_SHUT: u16 = 1;
/// PONG (echoes PING's value).
pub const ACCORD_LEGACY_RP_PONG: u16 = 2;
/// REQ_PAGES_ID (start, len, idstr).
pub const ACCORD_LEGACY_RP_REQ_PAGES_ID: u16 = 3;
/// REQ_PAGES (start, len).
pub const ACCORD_LEGACY_RP_REQ_PAGES: u16 = 4;
/// RECV_BITMAP (idstr).
pub const ACCORD_LEGACY_RP_RECV_BITMAP: u16 = 5;
/// RESUME_ACK (value 1).
pub const ACCORD_LEGACY_RP_RESUME_ACK: u16 = 6;
/// SWITCHOVER_ACK (QEMU 8.1+; no payload).
pub const ACCORD_LEGACY_RP_SWITCHOVER_ACK: u16 = 7;

/// Bytes of the main stream header (`QEVM`, version 3).
pub const ACCORD_LEGACY_STREAM_HEADER_LEN: usize = 8;
/// Bytes of a `MultiFDInit_t`.
pub const ACCORD_LEGACY_MULTIFD_INIT_LEN: usize = 64;

/// The destination's migration settings that matter to identification.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct accord_legacy_config {
    /// `ACCORD_LEGACY_QEMU_*`.
    pub family: accord_legacy_family,
    /// Multifd channel count; 0 means multifd is off.
    pub multifd_channels: u8,
    /// 1: `postcopy-ram` is on.
    pub postcopy_ram: u8,
    /// 1: `postcopy-preempt` is on (needs postcopy-ram).
    pub postcopy_preempt: u8,
    /// 1: compat property `x-preempt-pre-7-2` (the source connects preempt early).
    pub preempt_pre_7_2: u8,
    /// 1: the transport can be peeked (0 for TLS).
    pub peekable: u8,
    /// 1: every multifd header must carry `uuid`.
    pub check_uuid: u8,
    /// Always 0.
    pub reserved: u8,
    /// The uuid multifd headers must carry when `check_uuid` is 1.
    pub uuid: [u8; 16],
}

/// A classifier decision.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct accord_legacy_decision {
    /// `ACCORD_LEGACY_DECISION_*`.
    pub kind: accord_legacy_decision_kind,
    /// MULTIFD: the channel id from its header.
    pub multifd_id: u8,
    /// Always 0.
    pub reserved: u16,
    /// NEED_MORE, MAYBE_SILENT: bytes needed from the connection's start.
    pub needed: u32,
}

/// Where identification stands.
#[repr(C)]
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct accord_legacy_status {
    /// 1: every expected channel is present.
    pub complete: u8,
    /// 1: QEMU of this family would start loading the main stream now.
    pub ready_to_load: u8,
    /// 1: the main channel is present.
    pub main_present: u8,
    /// 1: the preempt channel is present.
    pub preempt_present: u8,
    /// 1: a postcopy recovery is waiting for its main channel.
    pub recovering: u8,
    /// Always 0.
    pub reserved: u8,
    /// Multifd channels present.
    pub multifd_count: u16,
}

/// One `QEMU_VM_COMMAND`. `kind` says which fields matter.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct accord_legacy_command {
    /// `ACCORD_LEGACY_CMD_*`.
    pub kind: u16,
    /// POSTCOPY_ADVISE: 1 if the page sizes are present (RAM postcopy).
    pub has_page_sizes: u8,
    /// Always 0.
    pub reserved: u8,
    /// PING: the value; PACKAGED: the package length.
    pub value: u32,
    /// POSTCOPY_ADVISE: bitwise OR of the source's RAMBlock page sizes.
    pub page_size_summary: u64,
    /// POSTCOPY_ADVISE: the source's target page size.
    pub target_page_size: u64,
    /// POSTCOPY_RAM_DISCARD: the payload; RECV_BITMAP: the idstr. Decoding
    /// points into the input buffer.
    pub data: *const u8,
    /// Bytes at `data`.
    pub data_len: usize,
}

/// One return-path message. `kind` says which fields matter.
#[repr(C)]
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct accord_legacy_rp_message {
    /// `ACCORD_LEGACY_RP_*`.
    pub kind: u16,
    /// Always 0.
    pub reserved: u16,
    /// SHUT, PONG, RESUME_ACK: the value; REQ_PAGES(_ID): the length.
    pub value: u32,
    /// REQ_PAGES(_ID): the offset in the RAMBlock.
    pub start: u64,
    /// REQ_PAGES_ID, RECV_BITMAP: the RAMBlock idstr (decoding points into the input).
    pub idstr: *const u8,
    /// Bytes at `idstr` (at most 255).
    pub idstr_len: usize,
}

fn flag(v: u8) -> bool {
    v != 0
}

/// Fill `cfg` for a plain-socket destination of `family`
/// (`ACCORD_LEGACY_QEMU_*`) with every option off and peeking allowed.
#[no_mangle]
pub extern "C" fn accord_legacy_config_default(
    cfg: *mut accord_legacy_config,
    family: accord_legacy_family,
) -> accord_result {
    handle::call(None, || {
        let c = handle::out_ref(cfg, 1)?;
        family_from(family, 2)?;
        *c = accord_legacy_config {
            family,
            peekable: 1,
            ..Default::default()
        };
        Ok(ACCORD_OK)
    })
}

fn family_from(v: u8, position: u16) -> Result<Family, Fail> {
    match v {
        ACCORD_LEGACY_QEMU_7_2 => Ok(Family::Qemu7_2),
        ACCORD_LEGACY_QEMU_8_0_TO_10_0 => Ok(Family::Qemu8_0To10_0),
        ACCORD_LEGACY_QEMU_10_1_PLUS => Ok(Family::Qemu10_1Plus),
        _ => Err(Fail::arg_value(
            ACCORD_ERR_BAD_ENUM,
            position,
            u32::from(ACCORD_LEGACY_QEMU_10_1_PLUS),
            u32::from(v),
        )),
    }
}

/// Initialise a classifier in `c` for a destination configured as `*cfg`.
/// Refuses what QEMU refuses: postcopy-preempt without postcopy-ram
/// (`ACCORD_E_CAPABILITY_DEPENDENCY`), multifd with postcopy-ram on 8.0..10.0
/// and multifd with postcopy-preempt on 7.2 (`ACCORD_E_INVALID_ARGUMENT`).
#[no_mangle]
pub extern "C" fn accord_legacy_classifier_init(
    c: *mut accord_legacy_classifier,
    cfg: *const accord_legacy_config,
) -> accord_result {
    handle::init::<Classifier>(c, || {
        let k = handle::in_ref(cfg, 2)?;
        let cfg = LegacyConfig {
            family: family_from(k.family, 2)?,
            multifd_channels: k.multifd_channels,
            postcopy_ram: flag(k.postcopy_ram),
            postcopy_preempt: flag(k.postcopy_preempt),
            preempt_pre_7_2: flag(k.preempt_pre_7_2),
            peekable: flag(k.peekable),
            uuid: flag(k.check_uuid).then_some(k.uuid),
        };
        Ok(Classifier::new(cfg)?)
    })
}

/// End the classifier: the storage is zeroed.
#[no_mangle]
pub extern "C" fn accord_legacy_classifier_deinit(
    c: *mut accord_legacy_classifier,
) -> accord_result {
    handle::deinit::<Classifier>(c)
}

/// `*needed` receives the bytes the caller must have from the start of the
/// next new connection before classifying it: 0 when decided from state
/// alone (never read it), 4 to peek at the magic, 64 for a multifd header.
#[no_mangle]
pub extern "C" fn accord_legacy_bytes_needed(
    c: *const accord_legacy_classifier,
    needed: *mut usize,
) -> accord_result {
    handle::with_ref::<Classifier>(c, |k| {
        *handle::out_ref(needed, 2)? = k.bytes_needed();
        Ok(())
    })
}

/// `*maybe` receives whether the next new connection may be the silent
/// preempt channel while bytes are needed to identify it.
#[no_mangle]
pub extern "C" fn accord_legacy_may_be_silent(
    c: *const accord_legacy_classifier,
    maybe: *mut bool,
) -> accord_result {
    handle::with_ref::<Classifier>(c, |k| {
        *handle::out_ref(maybe, 2)? = k.may_be_silent();
        Ok(())
    })
}

/// Identify a connection from the `len` bytes seen so far at its start
/// (`peeked` may be NULL when `len` is 0). A final decision is recorded.
/// Errors (nothing recorded): `ACCORD_E_LEGACY_UNKNOWN_MAGIC`, the multifd
/// header errors, `ACCORD_E_LEGACY_UNEXPECTED_CHANNEL` (a second main, a
/// duplicate multifd id, anything once the set is complete).
#[no_mangle]
pub extern "C" fn accord_legacy_classify(
    c: *mut accord_legacy_classifier,
    peeked: *const u8,
    len: usize,
    decision: *mut accord_legacy_decision,
) -> accord_result {
    handle::with_mut::<Classifier>(c, |k| {
        let out = handle::out_ref(decision, 4)?;
        let bytes = handle::in_bytes(peeked, len, 2)?;
        let mut d = accord_legacy_decision::default();
        match k.classify(bytes)? {
            Decision::Main => d.kind = ACCORD_LEGACY_DECISION_MAIN,
            Decision::Multifd { id } => {
                d.kind = ACCORD_LEGACY_DECISION_MULTIFD;
                d.multifd_id = id;
            }
            Decision::Preempt => d.kind = ACCORD_LEGACY_DECISION_PREEMPT,
            Decision::NeedMore(n) => {
                d.kind = ACCORD_LEGACY_DECISION_NEED_MORE;
                d.needed = u32::try_from(n).unwrap_or(u32::MAX);
            }
            Decision::MaybeSilent(n) => {
                d.kind = ACCORD_LEGACY_DECISION_MAYBE_SILENT;
                d.needed = u32::try_from(n).unwrap_or(u32::MAX);
            }
        }
        *out = d;
        Ok(())
    })
}

/// Postcopy paused: main and preempt will connect again (multifd channels
/// are not re-established). `ACCORD_E_INVALID_STATE` without postcopy-ram or
/// before main.
#[no_mangle]
pub extern "C" fn accord_legacy_begin_recovery(c: *mut accord_legacy_classifier) -> accord_result {
    handle::with_mut::<Classifier>(c, |k| Ok(k.begin_recovery()?))
}

/// Where identification stands, into `*status`.
#[no_mangle]
pub extern "C" fn accord_legacy_get_status(
    c: *const accord_legacy_classifier,
    status: *mut accord_legacy_status,
) -> accord_result {
    handle::with_ref::<Classifier>(c, |k| {
        *handle::out_ref(status, 2)? = accord_legacy_status {
            complete: u8::from(k.is_complete()),
            ready_to_load: u8::from(k.ready_to_load()),
            main_present: u8::from(k.main_present()),
            preempt_present: u8::from(k.preempt_present()),
            recovering: u8::from(k.recovering()),
            reserved: 0,
            multifd_count: k.multifd_count(),
        };
        Ok(())
    })
}

/// `*present` receives whether multifd channel `id` has been identified.
#[no_mangle]
pub extern "C" fn accord_legacy_multifd_present(
    c: *const accord_legacy_classifier,
    id: u8,
    present: *mut bool,
) -> accord_result {
    handle::with_ref::<Classifier>(c, |k| {
        *handle::out_ref(present, 3)? = k.multifd_present(id);
        Ok(())
    })
}

/// The detail of the classifier's last error.
#[no_mangle]
pub extern "C" fn accord_legacy_classifier_last_error(
    c: *const accord_legacy_classifier,
    info: *mut accord_error_info,
) -> accord_result {
    handle::last_error::<Classifier>(c, info)
}

/// Write the 8-byte main stream header (`QEVM`, version 3) into `buf`;
/// `*written` receives 8.
#[no_mangle]
pub extern "C" fn accord_legacy_stream_header_encode(
    buf: *mut u8,
    len: usize,
    written: *mut usize,
    error: *mut accord_error_info,
) -> accord_result {
    handle::call(Some((error, 4)), || {
        let w = handle::out_ref(written, 3)?;
        let b = handle::out_bytes(buf, len, 1)?;
        *w = StreamHeader.encode(b)?;
        Ok(ACCORD_OK)
    })
}

/// Check the main stream header at the start of `input`: `ACCORD_OK` (and
/// `*used` = 8), `ACCORD_NEED_MORE`, `ACCORD_E_LEGACY_UNKNOWN_MAGIC` or
/// `ACCORD_E_LEGACY_STREAM_VERSION` (detail: expected and received values).
#[no_mangle]
pub extern "C" fn accord_legacy_stream_header_decode(
    input: *const u8,
    len: usize,
    used: *mut usize,
    error: *mut accord_error_info,
) -> accord_result {
    handle::call(Some((error, 4)), || {
        let u = handle::out_ref(used, 3)?;
        *u = 0;
        match StreamHeader::decode(handle::in_bytes(input, len, 1)?)? {
            Parsed::Done(_, n) => {
                *u = n;
                Ok(ACCORD_OK)
            }
            Parsed::Incomplete(_) => Ok(ACCORD_NEED_MORE),
        }
    })
}

fn command_from_c(c: &accord_legacy_command) -> Result<Command<'_>, Fail> {
    let data = || handle::in_bytes(c.data, c.data_len, 1);
    Ok(match c.kind {
        ACCORD_LEGACY_CMD_OPEN_RETURN_PATH => Command::OpenReturnPath,
        ACCORD_LEGACY_CMD_PING => Command::Ping(c.value),
        ACCORD_LEGACY_CMD_POSTCOPY_ADVISE => {
            Command::PostcopyAdvise(flag(c.has_page_sizes).then_some(PageSizes {
                page_size_summary: c.page_size_summary,
                target_page_size: c.target_page_size,
            }))
        }
        ACCORD_LEGACY_CMD_POSTCOPY_LISTEN => Command::PostcopyListen,
        ACCORD_LEGACY_CMD_POSTCOPY_RUN => Command::PostcopyRun,
        ACCORD_LEGACY_CMD_POSTCOPY_RAM_DISCARD => Command::PostcopyRamDiscard(data()?),
        ACCORD_LEGACY_CMD_PACKAGED => Command::Packaged(c.value),
        ACCORD_LEGACY_CMD_ENABLE_COLO => Command::EnableColo,
        ACCORD_LEGACY_CMD_POSTCOPY_RESUME => Command::PostcopyResume,
        ACCORD_LEGACY_CMD_RECV_BITMAP => Command::RecvBitmap(data()?),
        ACCORD_LEGACY_CMD_SWITCHOVER_START => Command::SwitchoverStart,
        other => {
            return Err(Fail::arg_value(
                ACCORD_ERR_BAD_ENUM,
                1,
                u32::from(ACCORD_LEGACY_CMD_SWITCHOVER_START),
                u32::from(other),
            ))
        }
    })
}

fn command_to_c(c: &Command<'_>) -> accord_legacy_command {
    let mut o = accord_legacy_command {
        kind: c.command_type().as_u16(),
        has_page_sizes: 0,
        reserved: 0,
        value: 0,
        page_size_summary: 0,
        target_page_size: 0,
        data: core::ptr::null(),
        data_len: 0,
    };
    match *c {
        Command::Ping(v) | Command::Packaged(v) => o.value = v,
        Command::PostcopyAdvise(Some(p)) => {
            o.has_page_sizes = 1;
            o.page_size_summary = p.page_size_summary;
            o.target_page_size = p.target_page_size;
        }
        Command::PostcopyRamDiscard(d) | Command::RecvBitmap(d) => {
            o.data = d.as_ptr();
            o.data_len = d.len();
        }
        _ => {}
    }
    o
}

/// Write `*cmd` as a `QEMU_VM_COMMAND` section (section byte 0x08, be16 cmd,
/// be16 len, payload) into `buf`; `*written` receives its length. Refuses
/// what QEMU's destination would refuse (`ACCORD_E_LEGACY_BAD_LENGTH`).
#[no_mangle]
pub extern "C" fn accord_legacy_command_encode(
    cmd: *const accord_legacy_command,
    buf: *mut u8,
    len: usize,
    written: *mut usize,
    error: *mut accord_error_info,
) -> accord_result {
    handle::call(Some((error, 5)), || {
        let w = handle::out_ref(written, 4)?;
        *w = 0;
        let c = command_from_c(handle::in_ref(cmd, 1)?)?;
        let b = handle::out_bytes(buf, len, 2)?;
        *w = c.encode(b)?;
        Ok(ACCORD_OK)
    })
}

/// Decode one `QEMU_VM_COMMAND` from the start of `input` into `*cmd`
/// (`data` points into `input`); `*used` receives its length. Returns
/// `ACCORD_NEED_MORE` while incomplete; errors in QEMU's order:
/// `ACCORD_E_LEGACY_NOT_A_COMMAND`, `_UNKNOWN_TYPE`, `_BAD_LENGTH`.
#[no_mangle]
pub extern "C" fn accord_legacy_command_decode(
    input: *const u8,
    len: usize,
    cmd: *mut accord_legacy_command,
    used: *mut usize,
    error: *mut accord_error_info,
) -> accord_result {
    handle::call(Some((error, 5)), || {
        let u = handle::out_ref(used, 4)?;
        *u = 0;
        let o = handle::out_ref(cmd, 3)?;
        match Command::decode(handle::in_bytes(input, len, 1)?)? {
            Parsed::Done(c, n) => {
                *o = command_to_c(&c);
                *u = n;
                Ok(ACCORD_OK)
            }
            Parsed::Incomplete(_) => Ok(ACCORD_NEED_MORE),
        }
    })
}

fn rp_from_c(m: &accord_legacy_rp_message) -> Result<RpMessage<'_>, Fail> {
    let idstr = || handle::in_bytes(m.idstr, m.idstr_len, 1);
    Ok(match m.kind {
        ACCORD_LEGACY_RP_SHUT => RpMessage::Shut(m.value),
        ACCORD_LEGACY_RP_PONG => RpMessage::Pong(m.value),
        ACCORD_LEGACY_RP_REQ_PAGES_ID => RpMessage::ReqPagesId {
            start: m.start,
            len: m.value,
            idstr: idstr()?,
        },
        ACCORD_LEGACY_RP_REQ_PAGES => RpMessage::ReqPages {
            start: m.start,
            len: m.value,
        },
        ACCORD_LEGACY_RP_RECV_BITMAP => RpMessage::RecvBitmap { idstr: idstr()? },
        ACCORD_LEGACY_RP_RESUME_ACK => RpMessage::ResumeAck(m.value),
        ACCORD_LEGACY_RP_SWITCHOVER_ACK => RpMessage::SwitchoverAck,
        other => {
            return Err(Fail::arg_value(
                ACCORD_ERR_BAD_ENUM,
                1,
                u32::from(ACCORD_LEGACY_RP_SWITCHOVER_ACK),
                u32::from(other),
            ))
        }
    })
}

fn rp_to_c(m: &RpMessage<'_>) -> accord_legacy_rp_message {
    let mut o = accord_legacy_rp_message {
        kind: m.rp_type().as_u16(),
        reserved: 0,
        value: 0,
        start: 0,
        idstr: core::ptr::null(),
        idstr_len: 0,
    };
    match *m {
        RpMessage::Shut(v) | RpMessage::Pong(v) | RpMessage::ResumeAck(v) => o.value = v,
        RpMessage::ReqPages { start, len } => {
            o.start = start;
            o.value = len;
        }
        RpMessage::ReqPagesId { start, len, idstr } => {
            o.start = start;
            o.value = len;
            o.idstr = idstr.as_ptr();
            o.idstr_len = idstr.len();
        }
        RpMessage::RecvBitmap { idstr } => {
            o.idstr = idstr.as_ptr();
            o.idstr_len = idstr.len();
        }
        RpMessage::SwitchoverAck => {}
    }
    o
}

/// Write the return-path message `*msg` (be16 type, be16 len, payload) into
/// `buf`; `*written` receives its length.
#[no_mangle]
pub extern "C" fn accord_legacy_rp_encode(
    msg: *const accord_legacy_rp_message,
    buf: *mut u8,
    len: usize,
    written: *mut usize,
    error: *mut accord_error_info,
) -> accord_result {
    handle::call(Some((error, 5)), || {
        let w = handle::out_ref(written, 4)?;
        *w = 0;
        let m = rp_from_c(handle::in_ref(msg, 1)?)?;
        let b = handle::out_bytes(buf, len, 2)?;
        *w = m.encode(b)?;
        Ok(ACCORD_OK)
    })
}

/// Decode one return-path message from the start of `input` into `*msg`
/// (`idstr` points into `input`); `*used` receives its length.
/// `ACCORD_NEED_MORE` while incomplete; `ACCORD_E_LEGACY_UNKNOWN_TYPE`,
/// `_BAD_LENGTH` as QEMU's source refuses them.
#[no_mangle]
pub extern "C" fn accord_legacy_rp_decode(
    input: *const u8,
    len: usize,
    msg: *mut accord_legacy_rp_message,
    used: *mut usize,
    error: *mut accord_error_info,
) -> accord_result {
    handle::call(Some((error, 5)), || {
        let u = handle::out_ref(used, 4)?;
        *u = 0;
        let o = handle::out_ref(msg, 3)?;
        match RpMessage::decode(handle::in_bytes(input, len, 1)?)? {
            Parsed::Done(m, n) => {
                *o = rp_to_c(&m);
                *u = n;
                Ok(ACCORD_OK)
            }
            Parsed::Incomplete(_) => Ok(ACCORD_NEED_MORE),
        }
    })
}

/// Write a `MultiFDInit_t` (magic, version 1, `uuid` (16 bytes), channel
/// `id`, zeros) into `out` (64 writable bytes).
#[no_mangle]
pub extern "C" fn accord_legacy_multifd_encode(
    uuid: *const u8,
    id: u8,
    out: *mut u8,
    error: *mut accord_error_info,
) -> accord_result {
    handle::call(Some((error, 4)), || {
        let u = handle::in_bytes(uuid, 16, 1)?;
        let mut h = MultifdInit { uuid: [0; 16], id };
        h.uuid.copy_from_slice(u);
        let o = handle::out_bytes(out, MULTIFD_INIT_LEN, 3)?;
        h.encode(o)?;
        Ok(ACCORD_OK)
    })
}

/// Parse and check a `MultiFDInit_t` at the start of `input`, in QEMU's
/// order: magic, version, uuid (when `expected_uuid` is not NULL: 16 bytes),
/// then `id < channels` (accord refuses `id == channels`, which QEMU's
/// off-by-one check lets through). `*id` receives the channel id, `uuid_out`
/// (may be NULL; 16 bytes) the uuid. `ACCORD_NEED_MORE` below 64 bytes.
#[no_mangle]
pub extern "C" fn accord_legacy_multifd_parse(
    input: *const u8,
    len: usize,
    expected_uuid: *const u8,
    channels: u8,
    id: *mut u8,
    uuid_out: *mut u8,
    error: *mut accord_error_info,
) -> accord_result {
    handle::call(Some((error, 7)), || {
        let i = handle::out_ref(id, 5)?;
        let bytes = handle::in_bytes(input, len, 1)?;
        let mut expected = [0u8; 16];
        let want = match handle::optional(expected_uuid, || handle::in_bytes(expected_uuid, 16, 3))?
        {
            Some(u) => {
                expected.copy_from_slice(u);
                Some(&expected)
            }
            None => None,
        };
        match MultifdInit::parse(bytes, want, channels)? {
            Parsed::Done(h, _) => {
                *i = h.id;
                if let Some(u) = handle::optional(uuid_out, || handle::out_bytes(uuid_out, 16, 6))?
                {
                    u.copy_from_slice(&h.uuid);
                }
                Ok(ACCORD_OK)
            }
            Parsed::Incomplete(_) => Ok(ACCORD_NEED_MORE),
        }
    })
}

/// The output structs have no padding: every byte C reads was written.
const _: () = {
    use core::mem::size_of;
    let ptrs = 2 * size_of::<usize>();
    assert!(size_of::<accord_legacy_config>() == 24);
    assert!(size_of::<accord_legacy_decision>() == 8);
    assert!(size_of::<accord_legacy_status>() == 8);
    assert!(size_of::<accord_legacy_command>() == 24 + ptrs);
    assert!(size_of::<accord_legacy_rp_message>() == 16 + ptrs);
};
