//! Regression tests for bugs found by the verification work (fuzzing, the
//! model check, the exhaustive check). Each names how it was found.
mod common;
use accord_core::*;
use common::*;

/// Found by the model check (core/tests/model_check.rs): the source decides
/// on ack 1; on the destination the device revokes and approves again, so
/// Revoke(1) and Ack(2) cross the SwitchoverStart(1) on the wire. The
/// destination refused the start because 1 was no longer its last ack, and a
/// healthy migration failed on both sides with `SwitchoverNotAllowed`. The
/// decision rests on an ack that was sent, exactly as when only the revoke
/// crosses (§7.2): it stands.
#[test]
fn a_switchover_start_crossing_a_revoke_and_a_new_ack_stands() {
    let mut s = source_with(&[(RP, REQ, 0), (ACK, REQ, 0)], &[("vfio", true)]);
    let mut d = destination_with(&[("vfio", true)]);
    s.start(T0).unwrap();
    pump(&mut s, &mut d, T0);
    d.approve(at(1), DeviceId(0)).unwrap();
    pump(&mut s, &mut d, at(1));
    assert!(s.can_switchover());
    s.start_switchover(at(2)).unwrap();
    let start = tx_source(&mut s, at(2));
    d.revoke(at(2), DeviceId(0)).unwrap();
    let revoke = tx_destination(&mut d, at(2));
    d.approve(at(3), DeviceId(0)).unwrap();
    let reack = tx_destination(&mut d, at(3));
    assert_eq!(d.epoch(), 2);
    d.handle_input(at(4), &start).unwrap();
    s.handle_input(at(4), &revoke).unwrap();
    s.handle_input(at(4), &reack).unwrap();
    assert_eq!(d.state(), DestinationState::SwitchedOver, "{:?}", d.error());
    assert_eq!(s.state(), SourceState::SwitchedOver);
    assert!(
        events_destination(&mut d).contains(&Event::SwitchoverStarted {
            epoch: 1,
            waived: false
        })
    );
}

/// The other side of the same rule: a SwitchoverStart naming an ack that was
/// never sent is still refused.
#[test]
fn a_switchover_start_naming_an_ack_never_sent_is_refused() {
    let mut s = source_with(&[(RP, REQ, 0), (ACK, REQ, 0)], &[("vfio", true)]);
    let mut d = destination_with(&[("vfio", true)]);
    s.start(T0).unwrap();
    pump(&mut s, &mut d, T0);
    d.approve(at(1), DeviceId(0)).unwrap();
    let _ = tx_destination(&mut d, at(1));
    // SwitchoverStart epoch 2, not waived: 07 00 02 02 00
    let e = d.handle_input(at(2), &[7, 0, 2, 2, 0]).unwrap_err();
    assert_eq!(
        e,
        Error::with(
            ErrorCode::SwitchoverNotAllowed,
            Detail::Value {
                expected: 1,
                got: 2
            }
        )
    );
}

/// Found by trying the C API from the header alone (issue 11): a peer's
/// device name in an Abort was cut to this build's `MAX_NAME_LEN`, so two
/// builds reported different details for the same verdict. The machine
/// keeps the name whole up to 255 bytes (the C error info's device field).
#[test]
fn a_peer_device_name_longer_than_ours_is_kept_whole() {
    let mut s = source_with(&[], &[]);
    let mut d = destination_with(&[]);
    s.start(T0).unwrap();
    pump(&mut s, &mut d, T0);
    let long = "n".repeat(200);
    let mut payload = vec![0xce, 0x01, 0x03, 0xc8, 0x01];
    payload.extend_from_slice(long.as_bytes());
    payload.push(0x07);
    let mut frame = vec![0x08, 0x00, payload.len() as u8];
    frame.extend_from_slice(&payload);
    assert!(d.handle_input(at(1), &frame).is_err());
    let e = d.error().unwrap();
    assert_eq!(e.code, ErrorCode::DeviceUnsupported);
    let Detail::Device(dev) = &e.detail else {
        panic!("a device detail: {e:?}")
    };
    assert_eq!(dev.instance, 7);
    assert_eq!(dev.name.len(), long.len().min(capacity::MAX_NAME_LEN));
    assert_eq!(d.error_device_name(), Some(long.as_str()));
}
