//! The C API driven from Rust, as a C caller would: caller-provided storage,
//! raw pointers, result codes. Written for Miri (scripts/miri.sh), which
//! checks every pointer the exported functions dereference: a whole
//! handshake through both handles, the boundary's refusals (NULL,
//! misaligned, uninitialised, deinitialised, wrong role, short buffers),
//! error formatting, and the legacy classifier and codecs. The cmocka suite
//! (c-tests/) covers the same API from C under ASan, UBSan and valgrind.
use core::mem::{align_of, size_of, zeroed};
use core::ptr::{null, null_mut};

use accord::destination::*;
use accord::legacy::*;
use accord::preamble::*;
use accord::source::*;
use accord::*;

const NONCE: [u8; 16] = *b"c-api-miri-nonce";

fn source_storage() -> Box<accord_source> {
    // SAFETY: accord_source is an array of u64; all zeros is its documented
    // "not initialised" state.
    Box::new(unsafe { zeroed() })
}

fn destination_storage() -> Box<accord_destination> {
    // SAFETY: as above.
    Box::new(unsafe { zeroed() })
}

fn state_s(s: &accord_source) -> accord_state {
    let mut st = 0;
    assert_eq!(accord_source_state(s, &mut st), ACCORD_OK);
    st
}

fn state_d(d: &accord_destination) -> accord_state {
    let mut st = 0;
    assert_eq!(accord_destination_state(d, &mut st), ACCORD_OK);
    st
}

fn tx_s(s: &mut accord_source, buf: &mut [u8]) -> usize {
    let mut n = 0;
    assert_eq!(
        accord_source_poll_transmit(s, 0, buf.as_mut_ptr(), buf.len(), &mut n),
        ACCORD_OK
    );
    n
}

fn tx_d(d: &mut accord_destination, buf: &mut [u8]) -> usize {
    let mut n = 0;
    assert_eq!(
        accord_destination_poll_transmit(d, 0, buf.as_mut_ptr(), buf.len(), &mut n),
        ACCORD_OK
    );
    n
}

/// Both directions until neither side sends anything.
fn pump(s: &mut accord_source, d: &mut accord_destination) {
    let mut buf = vec![0u8; 4096];
    for _ in 0..8 {
        let n = tx_s(s, &mut buf);
        if n > 0 {
            let mut used = 0;
            assert_eq!(
                accord_destination_handle_input(d, 0, buf.as_ptr(), n, &mut used),
                ACCORD_OK
            );
            assert_eq!(used, n);
        }
        let m = tx_d(d, &mut buf);
        if m > 0 {
            let mut used = 0;
            assert_eq!(
                accord_source_handle_input(s, 0, buf.as_ptr(), m, &mut used),
                ACCORD_OK
            );
            assert_eq!(used, m);
        }
        if n == 0 && m == 0 {
            return;
        }
    }
    panic!("the link does not settle");
}

fn drain_events_s(s: &mut accord_source) -> Vec<accord_event_kind> {
    let mut out = Vec::new();
    loop {
        // SAFETY: accord_event is plain integers.
        let mut e: accord_event = unsafe { zeroed() };
        assert_eq!(accord_source_poll_event(s, &mut e), ACCORD_OK);
        if e.kind == ACCORD_EVENT_NONE {
            return out;
        }
        out.push(e.kind);
    }
}

fn drain_events_d(d: &mut accord_destination) -> Vec<accord_event_kind> {
    let mut out = Vec::new();
    loop {
        // SAFETY: accord_event is plain integers.
        let mut e: accord_event = unsafe { zeroed() };
        assert_eq!(accord_destination_poll_event(d, &mut e), ACCORD_OK);
        if e.kind == ACCORD_EVENT_NONE {
            return out;
        }
        out.push(e.kind);
    }
}

#[test]
fn a_whole_handshake_through_the_c_api() {
    let caps = [
        accord_cap_offer {
            id: ACCORD_CAP_RETURN_PATH,
            level: ACCORD_LEVEL_REQUIRED,
            param: 0,
        },
        accord_cap_offer {
            id: ACCORD_CAP_MULTIFD,
            level: ACCORD_LEVEL_REQUIRED,
            param: 2,
        },
        accord_cap_offer {
            id: ACCORD_CAP_SWITCHOVER_ACK,
            level: ACCORD_LEVEL_REQUIRED,
            param: 0,
        },
    ];
    // SAFETY: plain C struct, filled by the call below.
    let mut scfg: accord_source_config = unsafe { zeroed() };
    assert_eq!(accord_source_config_default(&mut scfg), ACCORD_OK);
    scfg.caps = caps.as_ptr();
    scfg.n_caps = caps.len();
    let mut s = source_storage();
    assert_eq!(
        accord_source_init(&mut *s, &scfg, NONCE.as_ptr()),
        ACCORD_OK
    );
    let mut id = 0u16;
    for (name, wants) in [(&b"ram\0"[..], false), (&b"0000:00:02.0/vfio\0"[..], true)] {
        assert_eq!(
            accord_source_add_device(&mut *s, name.as_ptr().cast(), 0, wants, &mut id),
            ACCORD_OK
        );
    }
    // SAFETY: plain C struct, filled by the call below.
    let mut dcfg: accord_destination_config = unsafe { zeroed() };
    assert_eq!(accord_destination_config_default(&mut dcfg), ACCORD_OK);
    let mut d = destination_storage();
    assert_eq!(accord_destination_init(&mut *d, &dcfg, 0), ACCORD_OK);
    let mut vfio = 0u16;
    for (name, supports) in [(&b"ram\0"[..], false), (&b"0000:00:02.0/vfio\0"[..], true)] {
        assert_eq!(
            accord_destination_register_device(
                &mut *d,
                name.as_ptr().cast(),
                0,
                supports,
                &mut vfio
            ),
            ACCORD_OK
        );
    }
    assert_eq!(accord_source_start(&mut *s, 0), ACCORD_OK);
    assert_eq!(state_s(&s), ACCORD_STATE_AWAIT_WELCOME);

    // Pipelining: every channel opens before Welcome.
    let mut chans = [accord_channel::default(); 8];
    let mut count = 0;
    assert_eq!(
        accord_source_channels(&*s, chans.as_mut_ptr(), chans.len(), &mut count),
        ACCORD_OK
    );
    assert_eq!(count, 2);
    for c in &chans[..count] {
        let mut bytes = [0u8; 28];
        assert_eq!(
            accord_source_channel_preamble(&mut *s, c.role, c.index, bytes.as_mut_ptr()),
            ACCORD_OK
        );
        // SAFETY: plain C structs, filled by the calls below.
        let mut p: accord_preamble = unsafe { zeroed() };
        let mut err: accord_error_info = unsafe { zeroed() };
        assert_eq!(
            accord_preamble_decode(bytes.as_ptr(), bytes.len(), &mut p, &mut err),
            ACCORD_OK
        );
        let mut a = accord_assignment::default();
        assert_eq!(
            accord_destination_accept_channel(&mut *d, 0, &p, &mut a),
            ACCORD_OK
        );
        assert_eq!(a.status, ACCORD_ASSIGN_HELD);
    }
    pump(&mut s, &mut d);
    assert_eq!(state_s(&s), ACCORD_STATE_PRECOPY);
    assert_eq!(state_d(&d), ACCORD_STATE_PRECOPY);
    let mut allowed = true;
    assert_eq!(accord_source_can_switchover(&*s, &mut allowed), ACCORD_OK);
    assert!(!allowed, "the ack is still to come");
    let mut pending = 0;
    assert_eq!(accord_destination_pending(&*d, &mut pending), ACCORD_OK);
    assert_eq!(pending, 1);
    assert_eq!(accord_destination_approve(&mut *d, 1, vfio), ACCORD_OK);
    pump(&mut s, &mut d);
    assert_eq!(accord_source_can_switchover(&*s, &mut allowed), ACCORD_OK);
    assert!(allowed);
    let mut version = 0;
    let mut enabled = [accord_enabled::default(); 16];
    assert_eq!(
        accord_source_agreement(
            &*s,
            &mut version,
            enabled.as_mut_ptr(),
            enabled.len(),
            &mut count
        ),
        ACCORD_OK
    );
    assert_eq!((version, count), (1, 3));
    assert_eq!(accord_source_start_switchover(&mut *s, 2), ACCORD_OK);
    pump(&mut s, &mut d);
    assert_eq!(state_s(&s), ACCORD_STATE_SWITCHED_OVER);
    assert_eq!(state_d(&d), ACCORD_STATE_SWITCHED_OVER);
    assert!(!drain_events_s(&mut s).is_empty());
    assert!(!drain_events_d(&mut d).is_empty());
    let mut deadline = 0;
    let r = accord_source_poll_timeout(&*s, &mut deadline);
    assert!(r == ACCORD_OK || r == ACCORD_NEED_MORE, "{r}");
    assert_eq!(accord_source_deinit(&mut *s), ACCORD_OK);
    assert_eq!(accord_destination_deinit(&mut *d), ACCORD_OK);
}

#[test]
fn the_boundary_refuses_bad_pointers_and_storage() {
    // SAFETY: plain C struct, filled by the call below.
    let mut scfg: accord_source_config = unsafe { zeroed() };
    assert_eq!(accord_source_config_default(&mut scfg), ACCORD_OK);
    assert_eq!(
        accord_source_config_default(null_mut()),
        ACCORD_ERR_NULL_POINTER
    );
    let mut s = source_storage();
    assert_eq!(accord_source_start(&mut *s, 0), ACCORD_ERR_NOT_INITIALIZED);
    assert_eq!(
        accord_source_init(null_mut(), &scfg, NONCE.as_ptr()),
        ACCORD_ERR_NULL_POINTER
    );
    assert_eq!(
        accord_source_init(&mut *s, &scfg, null()),
        ACCORD_ERR_NULL_POINTER
    );
    assert_eq!(
        accord_source_init(&mut *s, &scfg, NONCE.as_ptr()),
        ACCORD_OK
    );
    // A refused init on a live handle leaves its session as it was.
    let mut live = source_storage();
    assert_eq!(
        accord_source_init(&mut *live, &scfg, NONCE.as_ptr()),
        ACCORD_OK
    );
    assert_eq!(accord_source_start(&mut *live, 0), ACCORD_OK);
    assert_eq!(
        accord_source_init(&mut *live, null(), NONCE.as_ptr()),
        ACCORD_ERR_NULL_POINTER
    );
    assert_eq!(state_s(&live), ACCORD_STATE_AWAIT_WELCOME);
    // SAFETY: plain C struct, filled by the call below.
    let mut info: accord_error_info = unsafe { zeroed() };
    assert_eq!(accord_source_verdict(&*live, &mut info), ACCORD_OK);
    assert_eq!(info.code, ACCORD_OK);
    assert_eq!(accord_source_last_error(&*live, &mut info), ACCORD_OK);
    assert_eq!(info.code, ACCORD_ERR_NULL_POINTER);

    // Misaligned storage: 4 bytes into a u64 buffer.
    let words = size_of::<accord_source>() / 8 + 1;
    let mut raw = vec![0u64; words];
    let misaligned = raw
        .as_mut_ptr()
        .cast::<u8>()
        .wrapping_add(4)
        .cast::<accord_source>();
    assert_ne!(misaligned as usize % align_of::<accord_source>(), 0);
    assert_eq!(
        accord_source_init(misaligned, &scfg, NONCE.as_ptr()),
        ACCORD_ERR_MISALIGNED
    );

    // A destination handed over as a source (only when the storage is large
    // enough that the cast itself reads nothing out of bounds).
    let mut dcfg: accord_destination_config =
        // SAFETY: plain C struct, filled by the call below.
        unsafe { zeroed() };
    assert_eq!(accord_destination_config_default(&mut dcfg), ACCORD_OK);
    let mut d = destination_storage();
    assert_eq!(accord_destination_init(&mut *d, &dcfg, 0), ACCORD_OK);
    if size_of::<accord_destination>() >= size_of::<accord_source>() {
        let as_source = (&mut *d as *mut accord_destination).cast::<accord_source>();
        assert_eq!(accord_source_start(as_source, 0), ACCORD_ERR_WRONG_ROLE);
    }

    // Short buffers lose nothing.
    assert_eq!(accord_source_start(&mut *s, 0), ACCORD_OK);
    let mut one = [0u8; 1];
    let mut n = 99;
    assert_eq!(
        accord_source_poll_transmit(&mut *s, 0, one.as_mut_ptr(), one.len(), &mut n),
        ACCORD_E_BUFFER_TOO_SMALL
    );
    let mut buf = vec![0u8; 1024];
    assert!(tx_s(&mut s, &mut buf) > 28, "the Hello is still there");
    assert_eq!(
        accord_source_poll_transmit(&mut *s, 0, null_mut(), 10, &mut n),
        ACCORD_ERR_NULL_POINTER
    );

    // A bad Welcome: the error, its detail, and its text into a short buffer.
    let mut garbage = [0u8; 28];
    garbage[..6].copy_from_slice(&[0x41, 0x43, 0x52, 0x44, 0, 1]); // min version 0
    let mut used = 0;
    let r = accord_source_handle_input(&mut *s, 0, garbage.as_ptr(), garbage.len(), &mut used);
    assert_eq!(r, ACCORD_E_BAD_VERSION_RANGE);
    // SAFETY: plain C struct, filled by the call below.
    let mut info: accord_error_info = unsafe { zeroed() };
    assert_eq!(accord_source_last_error(&*s, &mut info), ACCORD_OK);
    assert_eq!(info.code, ACCORD_E_BAD_VERSION_RANGE);
    let mut text = [0u8; 8];
    let mut needed = 0;
    assert_eq!(
        accord_error_format(&info, text.as_mut_ptr().cast(), text.len(), &mut needed),
        ACCORD_E_BUFFER_TOO_SMALL
    );
    assert!(needed > text.len());
    let mut text = vec![0u8; needed + 1]; // `needed` excludes the NUL
    assert_eq!(
        accord_error_format(&info, text.as_mut_ptr().cast(), text.len(), &mut needed),
        ACCORD_OK
    );
    assert!(text.contains(&0), "NUL-terminated");
    // SAFETY: accord_strerror returns a static NUL-terminated string.
    let s102 = unsafe { core::ffi::CStr::from_ptr(accord_strerror(ACCORD_E_BAD_VERSION_RANGE)) };
    assert!(!s102.to_bytes().is_empty());

    // Deinitialised storage is refused like zeroed storage.
    assert_eq!(accord_source_deinit(&mut *s), ACCORD_OK);
    assert_eq!(accord_source_start(&mut *s, 0), ACCORD_ERR_NOT_INITIALIZED);
    assert_eq!(accord_destination_deinit(&mut *d), ACCORD_OK);
}

#[test]
fn the_legacy_classifier_and_codecs_through_the_c_api() {
    // SAFETY: plain C structs, filled by the calls below.
    let mut cfg: accord_legacy_config = unsafe { zeroed() };
    assert_eq!(
        accord_legacy_config_default(&mut cfg, ACCORD_LEGACY_QEMU_10_1_PLUS),
        ACCORD_OK
    );
    cfg.multifd_channels = 2;
    // SAFETY: opaque storage; zeros is "not initialised".
    let mut c: Box<accord_legacy_classifier> = Box::new(unsafe { zeroed() });
    assert_eq!(accord_legacy_classifier_init(&mut *c, &cfg), ACCORD_OK);

    let mut head = [0u8; 8];
    let mut n = 0;
    // SAFETY: plain C struct.
    let mut err: accord_error_info = unsafe { zeroed() };
    assert_eq!(
        accord_legacy_stream_header_encode(head.as_mut_ptr(), head.len(), &mut n, &mut err),
        ACCORD_OK
    );
    assert_eq!(
        accord_legacy_stream_header_decode(head.as_ptr(), head.len(), &mut n, &mut err),
        ACCORD_OK
    );
    // SAFETY: plain C struct.
    let mut d: accord_legacy_decision = unsafe { zeroed() };
    assert_eq!(
        accord_legacy_classify(&mut *c, head.as_ptr(), 2, &mut d),
        ACCORD_OK
    );
    assert_eq!(d.kind, ACCORD_LEGACY_DECISION_NEED_MORE);
    assert_eq!(
        accord_legacy_classify(&mut *c, head.as_ptr(), 8, &mut d),
        ACCORD_OK
    );
    assert_eq!(d.kind, ACCORD_LEGACY_DECISION_MAIN);

    let uuid = [0u8; 16];
    for id in [1u8, 0] {
        let mut h = [0u8; 64];
        assert_eq!(
            accord_legacy_multifd_encode(uuid.as_ptr(), id, h.as_mut_ptr(), &mut err),
            ACCORD_OK
        );
        let (mut got, mut u) = (0u8, [0u8; 16]);
        assert_eq!(
            accord_legacy_multifd_parse(
                h.as_ptr(),
                h.len(),
                uuid.as_ptr(),
                2,
                &mut got,
                u.as_mut_ptr(),
                &mut err
            ),
            ACCORD_OK
        );
        assert_eq!(got, id);
        assert_eq!(
            accord_legacy_classify(&mut *c, h.as_ptr(), h.len(), &mut d),
            ACCORD_OK
        );
        assert_eq!((d.kind, d.multifd_id), (ACCORD_LEGACY_DECISION_MULTIFD, id));
    }
    // id equal to the channel count: refused (QEMU's off-by-one).
    let mut h = [0u8; 64];
    assert_eq!(
        accord_legacy_multifd_encode(uuid.as_ptr(), 2, h.as_mut_ptr(), &mut err),
        ACCORD_OK
    );
    let (mut got, mut u) = (0u8, [0u8; 16]);
    assert_eq!(
        accord_legacy_multifd_parse(
            h.as_ptr(),
            h.len(),
            null(),
            2,
            &mut got,
            u.as_mut_ptr(),
            &mut err
        ),
        ACCORD_E_LEGACY_MULTIFD_ID
    );
    let mut present = false;
    assert_eq!(
        accord_legacy_multifd_present(&*c, 1, &mut present),
        ACCORD_OK
    );
    assert!(present);

    // Return path: a SWITCHOVER_ACK and a PONG as QEMU 10.0 sent them.
    let rp = [
        0x00, 0x07, 0x00, 0x00, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01,
    ];
    let mut at = 0;
    while at < rp.len() {
        // SAFETY: plain C struct, filled by the call below.
        let mut m: accord_legacy_rp_message = unsafe { zeroed() };
        let mut used = 0;
        assert_eq!(
            accord_legacy_rp_decode(
                rp[at..].as_ptr(),
                rp.len() - at,
                &mut m,
                &mut used,
                &mut err
            ),
            ACCORD_OK
        );
        let mut out = [0u8; 16];
        let mut w = 0;
        assert_eq!(
            accord_legacy_rp_encode(&m, out.as_mut_ptr(), out.len(), &mut w, &mut err),
            ACCORD_OK
        );
        assert_eq!(&out[..w], &rp[at..at + used]);
        at += used;
    }
    // A PING command, decoded and encoded again.
    let ping = [0x08, 0x00, 0x02, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01];
    // SAFETY: plain C struct, filled by the call below.
    let mut cmd: accord_legacy_command = unsafe { zeroed() };
    let mut used = 0;
    assert_eq!(
        accord_legacy_command_decode(ping.as_ptr(), ping.len(), &mut cmd, &mut used, &mut err),
        ACCORD_OK
    );
    let mut out = [0u8; 16];
    let mut w = 0;
    assert_eq!(
        accord_legacy_command_encode(&cmd, out.as_mut_ptr(), out.len(), &mut w, &mut err),
        ACCORD_OK
    );
    assert_eq!(&out[..w], &ping[..]);
    assert_eq!(accord_legacy_classifier_deinit(&mut *c), ACCORD_OK);
}
