//! The Destination state machine, state by state (docs/PROTOCOL.md §7.2).
//!
//! Each module is one state; each starts from that state's fixture, reached
//! by driving a real Destination against a real Source. The destination
//! registers its devices in another order than the source lists them, so
//! registry ids and Hello positions differ on purpose.

mod common;

use accord_core::capacity::MAX_NAME_LEN;
use accord_core::caps::negotiate;
use accord_core::version::SUPPORTED;
use accord_core::wire::frame::FrameType;
use accord_core::wire::msg::{
    ChannelsReady, DeviceOffer, Hello, SwitchoverAck, SwitchoverRevoke, Welcome,
};
use accord_core::*;
use common::*;

/// Destination registry ids. The source lists ram, vfio0, vfio1 (positions 0, 1, 2).
const VFIO1: DeviceId = DeviceId(0);
const RAM: DeviceId = DeviceId(1);
const VFIO0: DeviceId = DeviceId(2);

const SET: ChannelsReady = ChannelsReady {
    multifd: 2,
    preempt: false,
    device_state: 0,
};

// ---------------------------------------------------------------------------
// Fixtures: one per state.

/// The source used throughout: return-path, switchover-ack and 2 multifd
/// channels required; ram (no ack), vfio0 and vfio1 (want the ack).
fn source() -> Source {
    source_with(
        &[(RP, REQ, 0), (ACK, REQ, 0), (MULTIFD, REQ, 2)],
        &[("ram", false), ("vfio0", true), ("vfio1", true)],
    )
}

/// AwaitHello: created at T0 with the default policy; vfio1, ram, vfio0
/// registered in that order. The source is started, its Hello not yet sent.
fn destination_awaiting_hello() -> (Source, Destination) {
    let mut d = Destination::new(DestinationConfig::default(), T0).unwrap();
    assert_eq!(d.register_device("vfio1", 2, true), Ok(VFIO1));
    assert_eq!(d.register_device("ram", 0, false), Ok(RAM));
    assert_eq!(d.register_device("vfio0", 1, true), Ok(VFIO0));
    let mut s = source();
    s.start(T0).unwrap();
    (s, d)
}

/// Precopy: Welcome sent at T0, both multifd channels attached and
/// ChannelsReady delivered; vfio0 and vfio1 pending. Events drained.
fn destination_in_precopy() -> (Source, Destination) {
    let (mut s, mut d) = destination_awaiting_hello();
    open_channels(&s, &mut d, T0);
    pump(&mut s, &mut d, T0);
    assert_eq!(d.state(), DestinationState::Precopy);
    assert_eq!(d.pending(), 2);
    assert!(s.channels_ready());
    events_source(&mut s);
    events_destination(&mut d);
    (s, d)
}

/// SwitchedOver: both devices approved at 10 ms (ack epoch 1 sent), the
/// source's decision received at 20 ms. Events drained.
fn destination_switched_over() -> (Source, Destination) {
    let (mut s, mut d) = destination_in_precopy();
    d.approve(at(10), VFIO0).unwrap();
    d.approve(at(10), VFIO1).unwrap();
    pump(&mut s, &mut d, at(10));
    s.start_switchover(at(20)).unwrap();
    pump(&mut s, &mut d, at(20));
    assert_eq!(d.state(), DestinationState::SwitchedOver);
    events_source(&mut s);
    events_destination(&mut d);
    (s, d)
}

/// Failed: the caller aborted in precopy at 30 ms and the Abort was
/// delivered. The destination's `Failed` event is still queued.
fn destination_failed() -> (Source, Destination) {
    let (mut s, mut d) = destination_in_precopy();
    d.abort(at(30));
    pump(&mut s, &mut d, at(30));
    assert_eq!(d.state(), DestinationState::Failed);
    assert_eq!(s.state(), SourceState::Failed);
    (s, d)
}

// ---------------------------------------------------------------------------
// Assertions and frames.

/// `d` found `want` itself after the source's preamble: Failed, one
/// `Failed` event, exactly one Abort carrying `want`, no deadline left.
fn assert_failed_locally(d: &mut Destination, now: Instant, want: &Error) {
    assert_eq!(d.state(), DestinationState::Failed);
    assert_eq!(d.error(), Some(want));
    assert_eq!(
        events_destination(d),
        [Event::Failed {
            code: want.code,
            by_peer: false
        }]
    );
    let bytes = tx_destination(d, now);
    let tx = parse_tx(&bytes);
    assert_eq!(tx.kinds(), [FrameType::Abort], "{tx:?}");
    assert_eq!(failure(tx.payload(FrameType::Abort)), *want);
    assert!(tx_destination(d, now).is_empty(), "the Abort goes out once");
    assert_eq!(d.poll_timeout(), None);
}

/// `d` failed before it knew whom to tell: nothing is transmitted.
fn assert_failed_silently(d: &mut Destination, now: Instant, want: &Error) {
    assert_eq!(d.state(), DestinationState::Failed);
    assert_eq!(d.error(), Some(want));
    assert_eq!(
        events_destination(d),
        [Event::Failed {
            code: want.code,
            by_peer: false
        }]
    );
    assert!(tx_destination(d, now).is_empty());
    assert_eq!(d.poll_timeout(), None);
}

/// `d` rejected the Hello with `want`: preamble + Reject carrying it.
fn assert_rejected(d: &mut Destination, want: &Error) -> Vec<u8> {
    assert_eq!(d.state(), DestinationState::Failed);
    assert_eq!(d.error(), Some(want));
    assert_eq!(
        events_destination(d),
        [Event::Failed {
            code: want.code,
            by_peer: false
        }]
    );
    let bytes = tx_destination(d, T0);
    let tx = parse_tx(&bytes);
    assert_eq!(tx.preamble, Some(Preamble::main(SUPPORTED, NONCE)));
    assert_eq!(tx.kinds(), [FrameType::Reject]);
    assert_eq!(failure(tx.payload(FrameType::Reject)), *want);
    assert_eq!(d.poll_timeout(), None);
    bytes
}

/// The source's main preamble followed by `frames`.
fn from_source(frames: &[&[u8]]) -> Vec<u8> {
    let mut v = main_preamble(NONCE);
    for f in frames {
        v.extend_from_slice(f);
    }
    v
}

/// A Hello frame with `offer` and `devices` (name, instance, wants_ack).
fn hello_frame(offer: &Offer, devices: &[(&str, u32, bool)]) -> Vec<u8> {
    frame_with(FrameType::Hello, |out| {
        Hello::encode(
            out,
            offer,
            devices
                .iter()
                .map(|&(name, instance, wants_ack)| DeviceOffer {
                    name,
                    instance,
                    wants_ack,
                }),
        )
    })
}

/// The source's devices as the fixture's Hello lists them.
const DEVICES: [(&str, u32, bool); 3] = [("ram", 0, false), ("vfio0", 1, true), ("vfio1", 2, true)];

fn unexpected(kind: FrameType) -> Error {
    Error::with(ErrorCode::UnexpectedFrame, Detail::Frame(kind as u8))
}

fn ack_of(tx: &Tx) -> SwitchoverAck {
    SwitchoverAck::decode(tx.payload(FrameType::SwitchoverAck)).unwrap()
}

fn revoke_of(tx: &Tx) -> SwitchoverRevoke {
    SwitchoverRevoke::decode(tx.payload(FrameType::SwitchoverRevoke)).unwrap()
}

mod await_hello {
    use super::*;

    #[test]
    fn register_device_returns_the_next_id() {
        let (_, mut d) = destination_awaiting_hello();
        assert_eq!(d.register_device("disk", 3, false), Ok(DeviceId(3)));
        assert_eq!(d.devices().find("disk", 3), Some(DeviceId(3)));
    }

    #[test]
    fn register_device_refuses_the_same_name_and_instance_twice() {
        let (_, mut d) = destination_awaiting_hello();
        assert_eq!(
            d.register_device("ram", 0, true),
            Err(Error::with(ErrorCode::DuplicateDevice, dev("ram", 0)))
        );
        assert_eq!(d.devices().len(), 3);
        assert!(!d.devices().get(RAM).unwrap().ack);
    }

    #[test]
    fn register_device_refuses_a_name_longer_than_max_name_len() {
        let (_, mut d) = destination_awaiting_hello();
        let long = "d".repeat(MAX_NAME_LEN + 1);
        assert_eq!(
            d.register_device(&long, 0, false),
            Err(Error::with(
                ErrorCode::InvalidArgument,
                Detail::Value {
                    expected: MAX_NAME_LEN as u32,
                    got: MAX_NAME_LEN as u32 + 1
                }
            ))
        );
        assert_eq!(d.devices().len(), 3);
    }

    #[test]
    fn register_device_is_still_allowed_after_the_source_preamble() {
        let (_, mut d) = destination_awaiting_hello();
        assert_eq!(d.handle_input(T0, &main_preamble(NONCE)), Ok(28));
        assert_eq!(d.nonce(), Some(&NONCE));
        assert_eq!(d.register_device("disk", 3, false), Ok(DeviceId(3)));
    }

    #[test]
    fn register_device_after_hello_fails_with_invalid_state() {
        let (mut s, mut d) = destination_awaiting_hello();
        d.handle_input(T0, &tx_source(&mut s, T0)).unwrap();
        assert_eq!(
            d.register_device("disk", 3, false),
            Err(Error::new(ErrorCode::InvalidState))
        );
        assert_eq!(d.devices().len(), 3);
    }

    #[test]
    fn poll_timeout_is_creation_plus_hello_timeout() {
        let (_, d) = destination_awaiting_hello();
        assert_eq!(d.poll_timeout(), Some(T0.after(d.config().hello_timeout)));
    }

    #[test]
    fn hello_deadline_without_a_source_preamble_fails_and_transmits_nothing() {
        let (_, mut d) = destination_awaiting_hello();
        let deadline = d.poll_timeout().unwrap();
        d.handle_timeout(before(deadline));
        assert_eq!(d.state(), DestinationState::AwaitHello);
        d.handle_timeout(deadline);
        assert_failed_silently(&mut d, deadline, &Error::new(ErrorCode::HelloTimeout));
    }

    #[test]
    fn hello_deadline_after_the_source_preamble_transmits_an_abort() {
        let (mut s, mut d) = destination_awaiting_hello();
        let hello = tx_source(&mut s, T0);
        assert_eq!(d.handle_input(T0, &hello[..28]), Ok(28));
        let deadline = d.poll_timeout().unwrap();
        d.handle_timeout(deadline);
        let want = Error::new(ErrorCode::HelloTimeout);
        assert_eq!(d.state(), DestinationState::Failed);
        assert_eq!(
            events_destination(&mut d),
            [Event::Failed {
                code: ErrorCode::HelloTimeout,
                by_peer: false
            }]
        );
        let reply = tx_destination(&mut d, deadline);
        let tx = parse_tx(&reply);
        assert_eq!(tx.preamble, Some(Preamble::main(SUPPORTED, NONCE)));
        assert_eq!(tx.kinds(), [FrameType::Abort]);
        assert_eq!(failure(tx.payload(FrameType::Abort)), want);
        // The source learns why, from the peer.
        assert_eq!(s.handle_input(deadline, &reply), Err(want.clone()));
        assert_eq!(
            events_source(&mut s),
            [Event::Failed {
                code: ErrorCode::HelloTimeout,
                by_peer: true
            }]
        );
    }

    #[test]
    fn preamble_of_a_secondary_role_on_the_main_channel_fails_without_abort() {
        let (_, mut d) = destination_awaiting_hello();
        let p = channel_preamble(multifd(0), 2, NONCE);
        let want = Error::with(ErrorCode::UnexpectedFrame, chan(Role::Multifd, 0));
        assert_eq!(d.handle_input(T0, &p.to_bytes()), Err(want.clone()));
        assert_failed_silently(&mut d, T0, &want);
    }

    #[test]
    fn bytes_without_the_magic_fail_with_bad_magic_and_no_abort() {
        let (_, mut d) = destination_awaiting_hello();
        let want = Error::new(ErrorCode::BadMagic);
        assert_eq!(d.handle_input(T0, b"QEVM"), Err(want.clone()));
        assert_failed_silently(&mut d, T0, &want);
    }

    #[test]
    fn hello_is_answered_with_the_preamble_and_welcome() {
        let (mut s, mut d) = destination_awaiting_hello();
        let hello = tx_source(&mut s, T0);
        assert_eq!(d.handle_input(T0, &hello), Ok(hello.len()));
        assert_eq!(d.state(), DestinationState::Precopy);
        assert_eq!(d.version(), 1);
        assert_eq!(d.pending(), 2);
        assert!(d.participates(VFIO0) && d.participates(VFIO1) && !d.participates(RAM));
        assert_eq!(
            events_destination(&mut d),
            [Event::Negotiated { version: 1 }]
        );

        let bytes = tx_destination(&mut d, T0);
        let tx = parse_tx(&bytes);
        assert_eq!(tx.preamble, Some(Preamble::main(SUPPORTED, NONCE)));
        assert_eq!(tx.kinds(), [FrameType::Welcome]);
        let w = Welcome::decode(tx.payload(FrameType::Welcome)).unwrap();
        assert_eq!(w.version, 1);
        assert_eq!(w.offer, d.config().capabilities);
        assert_eq!(
            w.agreed,
            negotiate(&s.config().capabilities, &d.config().capabilities).unwrap()
        );
        let verdicts: Vec<bool> = w.verdicts.bools().map(Result::unwrap).collect();
        assert_eq!(verdicts, [false, true, true], "in Hello order");
        assert_eq!(
            d.poll_timeout(),
            Some(T0.after(d.config().channels_timeout))
        );
    }

    #[test]
    fn hello_split_at_every_byte_boundary_still_gets_welcome() {
        let (mut s, d) = destination_awaiting_hello();
        let hello = tx_source(&mut s, T0);
        for cut in 0..=hello.len() {
            let mut d = d.clone();
            let left = feed_destination(&mut d, T0, &[&hello[..cut], &hello[cut..]]);
            assert!(left.is_empty(), "cut at {cut}");
            assert_eq!(d.state(), DestinationState::Precopy, "cut at {cut}");
        }
    }

    #[test]
    fn hello_with_no_participating_device_acks_right_after_welcome() {
        let (_, mut d) = destination_awaiting_hello();
        let mut s = source_with(
            &[(RP, REQ, 0), (ACK, REQ, 0)],
            &[("ram", false), ("vfio0", false), ("vfio1", false)],
        );
        s.start(T0).unwrap();
        d.handle_input(T0, &tx_source(&mut s, T0)).unwrap();
        assert_eq!(d.pending(), 0);
        assert_eq!(
            events_destination(&mut d),
            [
                Event::Negotiated { version: 1 },
                Event::ChannelsReady,
                Event::SwitchoverAcked { epoch: 1 }
            ]
        );
        let reply = tx_destination(&mut d, T0);
        let tx = parse_tx(&reply);
        assert_eq!(
            tx.kinds(),
            [
                FrameType::Welcome,
                FrameType::ChannelsReady,
                FrameType::SwitchoverAck
            ]
        );
        assert_eq!(ack_of(&tx), SwitchoverAck { epoch: 1 });
        assert_eq!(s.handle_input(T0, &reply), Ok(reply.len()));
        assert!(s.can_switchover());
    }

    #[test]
    fn hello_with_a_duplicate_device_is_rejected_naming_it() {
        let (mut s, mut d) = destination_awaiting_hello();
        let devices = [("ram", 0, false), ("ram", 0, false), DEVICES[1], DEVICES[2]];
        let input = from_source(&[&hello_frame(&s.config().capabilities, &devices)]);
        let want = Error::with(ErrorCode::DuplicateDevice, dev("ram", 0));
        // A refusal is no error of the call: the Reject waits for poll_transmit.
        assert_eq!(d.handle_input(T0, &input), Ok(input.len()));
        let reply = assert_rejected(&mut d, &want);
        tx_source(&mut s, T0);
        assert_eq!(s.handle_input(T0, &reply), Err(want.clone()));
        assert_eq!(s.error(), Some(&want));
    }

    #[test]
    fn hello_listing_an_unknown_device_is_rejected_with_device_missing_on_destination() {
        let (s, mut d) = destination_awaiting_hello();
        let devices = [DEVICES[0], DEVICES[1], DEVICES[2], ("gpu", 3, false)];
        let input = from_source(&[&hello_frame(&s.config().capabilities, &devices)]);
        let want = Error::with(ErrorCode::DeviceMissingOnDestination, dev("gpu", 3));
        assert_eq!(d.handle_input(T0, &input), Ok(input.len()));
        assert_rejected(&mut d, &want);
    }

    #[test]
    fn hello_omitting_a_registered_device_is_rejected_with_device_missing_on_source() {
        let (s, mut d) = destination_awaiting_hello();
        let devices = [DEVICES[0], DEVICES[2]];
        let input = from_source(&[&hello_frame(&s.config().capabilities, &devices)]);
        let want = Error::with(ErrorCode::DeviceMissingOnSource, dev("vfio0", 1));
        assert_eq!(d.handle_input(T0, &input), Ok(input.len()));
        assert_rejected(&mut d, &want);
    }

    #[test]
    fn hello_wanting_the_ack_for_a_device_without_support_is_rejected_with_device_unsupported() {
        let (s, mut d) = destination_awaiting_hello();
        let devices = [("ram", 0, true), DEVICES[1], DEVICES[2]];
        let input = from_source(&[&hello_frame(&s.config().capabilities, &devices)]);
        let want = Error::with(ErrorCode::DeviceUnsupported, dev("ram", 0));
        assert_eq!(d.handle_input(T0, &input), Ok(input.len()));
        assert_rejected(&mut d, &want);
    }

    #[test]
    fn hello_requiring_an_unsupported_capability_is_rejected_naming_it() {
        let mut cfg = DestinationConfig::default();
        cfg.capabilities.remove(MULTIFD);
        let mut d = destination_cfg(cfg, &[]);
        let s = source_with(&[(MULTIFD, REQ, 2)], &[]);
        let input = from_source(&[&hello_frame(&s.config().capabilities, &[])]);
        let want = Error::with(
            ErrorCode::CapabilityMissingOnDestination,
            Detail::Capability(MULTIFD),
        );
        assert_eq!(d.handle_input(T0, &input), Ok(input.len()));
        assert_rejected(&mut d, &want);
    }

    #[test]
    fn hello_with_unordered_capability_ids_fails_with_invalid_offer() {
        let (_, mut d) = destination_awaiting_hello();
        // Written by postcard, the definition of the format: accord's own
        // encoder only writes offers in order.
        let unordered = frame_with(FrameType::Hello, |out| {
            let caps = [
                CapOffer {
                    id: ACK,
                    required: true,
                    param: 0,
                },
                CapOffer {
                    id: RP,
                    required: true,
                    param: 0,
                },
            ];
            let devices: [DeviceOffer<'_>; 0] = [];
            Ok(postcard::to_slice(&(&caps[..], &devices[..]), out)
                .unwrap()
                .len())
        });
        let want = Error::with(ErrorCode::InvalidOffer, Detail::Capability(RP));
        assert_eq!(
            d.handle_input(T0, &from_source(&[&unordered])),
            Err(want.clone())
        );
        // A Hello that does not decode is a protocol violation: Abort, not Reject.
        assert_failed_locally(&mut d, T0, &want);
    }

    #[test]
    fn hello_with_an_empty_device_name_fails_with_invalid_argument() {
        let (s, mut d) = destination_awaiting_hello();
        let input = from_source(&[&hello_frame(&s.config().capabilities, &[("", 0, false)])]);
        let want = Error::with(
            ErrorCode::InvalidArgument,
            Detail::Value {
                expected: MAX_NAME_LEN as u32,
                got: 0,
            },
        );
        assert_eq!(d.handle_input(T0, &input), Err(want.clone()));
        assert_failed_locally(&mut d, T0, &want);
    }

    #[test]
    fn switchover_start_before_hello_fails_with_unexpected_frame_and_sends_abort() {
        let (_, mut d) = destination_awaiting_hello();
        let want = unexpected(FrameType::SwitchoverStart);
        assert_eq!(
            d.handle_input(T0, &from_source(&[&start_frame(1, false)])),
            Err(want.clone())
        );
        assert_failed_locally(&mut d, T0, &want);
    }

    #[test]
    fn approve_and_revoke_before_hello_fail_with_invalid_state() {
        let (_, mut d) = destination_awaiting_hello();
        assert_eq!(
            d.approve(T0, VFIO0),
            Err(Error::new(ErrorCode::InvalidState))
        );
        assert_eq!(
            d.revoke(T0, VFIO0),
            Err(Error::new(ErrorCode::InvalidState))
        );
        assert_eq!(
            d.channel_lost(T0, multifd(0)),
            Err(Error::new(ErrorCode::InvalidState))
        );
        assert_eq!(d.state(), DestinationState::AwaitHello);
        assert_eq!(events_destination(&mut d), []);
    }

    #[test]
    fn nothing_is_transmitted_before_hello() {
        let (_, mut d) = destination_awaiting_hello();
        assert!(tx_destination(&mut d, T0).is_empty());
        d.handle_input(T0, &main_preamble(NONCE)).unwrap();
        assert!(tx_destination(&mut d, T0).is_empty());
    }
}

mod precopy {
    use super::*;

    #[test]
    fn approve_of_an_unknown_device_fails_with_unknown_device() {
        let (_, mut d) = destination_in_precopy();
        assert_eq!(
            d.approve(at(10), DeviceId(9)),
            Err(Error::with(
                ErrorCode::UnknownDevice,
                Detail::Value {
                    expected: 3,
                    got: 9
                }
            ))
        );
        assert_eq!(d.pending(), 2);
        assert_eq!(events_destination(&mut d), []);
        assert!(tx_destination(&mut d, at(10)).is_empty());
    }

    #[test]
    fn approve_of_a_non_participating_device_fails_with_device_not_participating() {
        let (_, mut d) = destination_in_precopy();
        assert_eq!(
            d.approve(at(10), RAM),
            Err(Error::with(
                ErrorCode::DeviceNotParticipating,
                dev("ram", 0)
            ))
        );
        assert_eq!(d.pending(), 2);
        assert_eq!(events_destination(&mut d), []);
    }

    #[test]
    fn approve_twice_fails_with_already_approved() {
        let (_, mut d) = destination_in_precopy();
        assert_eq!(d.approve(at(10), VFIO0), Ok(()));
        assert_eq!(
            events_destination(&mut d),
            [Event::DeviceApproved {
                device: VFIO0,
                pending: 1
            }]
        );
        assert_eq!(
            d.approve(at(11), VFIO0),
            Err(Error::with(ErrorCode::AlreadyApproved, dev("vfio0", 1)))
        );
        assert_eq!(d.pending(), 1);
        assert!(d.approved(VFIO0));
        assert_eq!(events_destination(&mut d), []);
        assert!(tx_destination(&mut d, at(11)).is_empty());
    }

    #[test]
    fn last_approval_queues_the_ack_exactly_once() {
        let (_, mut d) = destination_in_precopy();
        d.approve(at(10), VFIO0).unwrap();
        assert!(
            tx_destination(&mut d, at(10)).is_empty(),
            "one still pending"
        );
        assert!(!d.acked());
        d.approve(at(11), VFIO1).unwrap();
        assert_eq!(
            events_destination(&mut d),
            [
                Event::DeviceApproved {
                    device: VFIO0,
                    pending: 1
                },
                Event::DeviceApproved {
                    device: VFIO1,
                    pending: 0
                },
                Event::SwitchoverAcked { epoch: 1 }
            ]
        );
        assert!(d.acked());
        assert_eq!(d.epoch(), 1);
        let tx = parse_tx(&tx_destination(&mut d, at(11)));
        assert_eq!(tx.preamble, None, "the preamble went out with Welcome");
        assert_eq!(tx.kinds(), [FrameType::SwitchoverAck]);
        assert_eq!(ack_of(&tx), SwitchoverAck { epoch: 1 });
        assert!(tx_destination(&mut d, at(12)).is_empty());
    }

    #[test]
    fn revoke_before_the_ack_is_sent_cancels_the_unsent_ack() {
        let (mut s, mut d) = destination_in_precopy();
        d.approve(at(10), VFIO0).unwrap();
        d.approve(at(10), VFIO1).unwrap();
        events_destination(&mut d);
        assert_eq!(d.revoke(at(11), VFIO1), Ok(()));
        assert_eq!(
            events_destination(&mut d),
            [Event::DeviceRevoked {
                device: VFIO1,
                pending: 1
            }]
        );
        assert_eq!(d.pending(), 1);
        assert!(!d.acked());
        assert!(
            tx_destination(&mut d, at(11)).is_empty(),
            "neither the Ack nor a Revoke goes out"
        );
        // Approving again arms a fresh ack; the source accepts it.
        d.approve(at(12), VFIO1).unwrap();
        let bytes = tx_destination(&mut d, at(12));
        assert_eq!(ack_of(&parse_tx(&bytes)), SwitchoverAck { epoch: 2 });
        assert_eq!(s.handle_input(at(12), &bytes), Ok(bytes.len()));
        assert_eq!(events_source(&mut s), [Event::SwitchoverAcked { epoch: 2 }]);
        s.start_switchover(at(13)).unwrap();
        pump(&mut s, &mut d, at(13));
        assert_eq!(d.state(), DestinationState::SwitchedOver);
    }

    #[test]
    fn revoke_after_the_ack_was_sent_queues_switchover_revoke_with_the_source_index() {
        let (mut s, mut d) = destination_in_precopy();
        d.approve(at(10), VFIO0).unwrap();
        d.approve(at(10), VFIO1).unwrap();
        let ack = tx_destination(&mut d, at(10));
        events_destination(&mut d);
        assert_eq!(d.revoke(at(11), VFIO1), Ok(()));
        let bytes = tx_destination(&mut d, at(11));
        let tx = parse_tx(&bytes);
        assert_eq!(tx.kinds(), [FrameType::SwitchoverRevoke]);
        // Registry id 0, but position 2 in the source's Hello.
        assert_eq!(
            revoke_of(&tx),
            SwitchoverRevoke {
                epoch: 1,
                device: 2
            }
        );
        assert!(tx_destination(&mut d, at(11)).is_empty());
        s.handle_input(at(11), &ack).unwrap();
        s.handle_input(at(11), &bytes).unwrap();
        assert_eq!(
            events_source(&mut s),
            [
                Event::SwitchoverAcked { epoch: 1 },
                Event::SwitchoverRevoked {
                    device: DeviceId(2),
                    epoch: 1
                }
            ]
        );
        assert!(!s.can_switchover());
    }

    #[test]
    fn re_approval_after_a_sent_revoke_acks_with_epoch_2() {
        let (mut s, mut d) = destination_in_precopy();
        d.approve(at(10), VFIO0).unwrap();
        d.approve(at(10), VFIO1).unwrap();
        pump(&mut s, &mut d, at(10));
        d.revoke(at(11), VFIO0).unwrap();
        pump(&mut s, &mut d, at(11));
        events_destination(&mut d);
        events_source(&mut s);
        d.approve(at(12), VFIO0).unwrap();
        assert_eq!(
            events_destination(&mut d),
            [
                Event::DeviceApproved {
                    device: VFIO0,
                    pending: 0
                },
                Event::SwitchoverAcked { epoch: 2 }
            ]
        );
        assert_eq!(d.epoch(), 2);
        let bytes = tx_destination(&mut d, at(12));
        assert_eq!(ack_of(&parse_tx(&bytes)), SwitchoverAck { epoch: 2 });
        s.handle_input(at(12), &bytes).unwrap();
        assert!(s.can_switchover());
    }

    #[test]
    fn revoke_of_a_device_that_has_not_approved_fails_with_not_approved() {
        let (_, mut d) = destination_in_precopy();
        assert_eq!(
            d.revoke(at(10), VFIO0),
            Err(Error::with(ErrorCode::NotApproved, dev("vfio0", 1)))
        );
        assert_eq!(d.pending(), 2);
        assert_eq!(events_destination(&mut d), []);
    }

    #[test]
    fn revoke_of_a_non_participating_device_fails_with_device_not_participating() {
        let (_, mut d) = destination_in_precopy();
        assert_eq!(
            d.revoke(at(10), RAM),
            Err(Error::with(
                ErrorCode::DeviceNotParticipating,
                dev("ram", 0)
            ))
        );
        assert_eq!(d.pending(), 2);
    }

    /// An earlier ack that was sent still carries the source's decision: the
    /// revoke and the new ack crossed the SwitchoverStart on the wire (§7.2;
    /// the model check found the old "last ack only" rule failing healthy
    /// migrations, see core/tests/regressions.rs).
    #[test]
    fn switchover_start_resting_on_an_earlier_ack_that_was_sent_is_accepted() {
        let (mut s, mut d) = destination_in_precopy();
        d.approve(at(10), VFIO0).unwrap();
        d.approve(at(10), VFIO1).unwrap();
        pump(&mut s, &mut d, at(10));
        d.revoke(at(11), VFIO0).unwrap();
        d.approve(at(11), VFIO0).unwrap();
        pump(&mut s, &mut d, at(11));
        events_destination(&mut d);
        assert_eq!(d.epoch(), 2);
        let n = start_frame(1, false).len();
        assert_eq!(d.handle_input(at(12), &start_frame(1, false)), Ok(n));
        assert_eq!(d.state(), DestinationState::SwitchedOver);
        assert_eq!(
            events_destination(&mut d),
            [Event::SwitchoverStarted {
                epoch: 1,
                waived: false
            }]
        );
    }

    #[test]
    fn switchover_start_with_an_epoch_never_acked_fails_with_switchover_not_allowed() {
        let (_, d) = destination_in_precopy();
        for epoch in [0, 1] {
            let mut d = d.clone();
            let want = Error::with(
                ErrorCode::SwitchoverNotAllowed,
                Detail::Value {
                    expected: 0,
                    got: epoch,
                },
            );
            assert_eq!(
                d.handle_input(at(10), &start_frame(epoch, false)),
                Err(want.clone())
            );
            assert_failed_locally(&mut d, at(10), &want);
        }
    }

    #[test]
    fn switchover_start_resting_on_an_ack_revoked_in_flight_is_accepted() {
        let (_, mut d) = destination_in_precopy();
        d.approve(at(10), VFIO0).unwrap();
        d.approve(at(10), VFIO1).unwrap();
        tx_destination(&mut d, at(10));
        d.revoke(at(11), VFIO1).unwrap();
        tx_destination(&mut d, at(11));
        events_destination(&mut d);
        let f = start_frame(1, false);
        assert_eq!(d.handle_input(at(12), &f), Ok(f.len()));
        assert_eq!(d.state(), DestinationState::SwitchedOver);
        assert_eq!(
            events_destination(&mut d),
            [Event::SwitchoverStarted {
                epoch: 1,
                waived: false
            }]
        );
    }

    #[test]
    fn switchover_start_drops_an_ack_not_yet_sent() {
        let (_, mut d) = destination_in_precopy();
        d.approve(at(10), VFIO0).unwrap();
        d.approve(at(10), VFIO1).unwrap();
        tx_destination(&mut d, at(10));
        d.revoke(at(11), VFIO1).unwrap();
        d.approve(at(11), VFIO1).unwrap();
        // Revoke(1) and Ack(2) are queued when the source's decision on ack 1 arrives.
        let f = start_frame(1, false);
        assert_eq!(d.handle_input(at(12), &f), Ok(f.len()));
        assert!(tx_destination(&mut d, at(12)).is_empty());
    }

    #[test]
    fn waived_switchover_start_is_accepted_without_an_ack() {
        let (_, mut d) = destination_in_precopy();
        let f = start_frame(0, true);
        assert_eq!(d.handle_input(at(10), &f), Ok(f.len()));
        assert_eq!(d.state(), DestinationState::SwitchedOver);
        assert_eq!(
            events_destination(&mut d),
            [Event::SwitchoverStarted {
                epoch: 0,
                waived: true
            }]
        );
        assert_eq!(d.poll_timeout(), None);
    }

    #[test]
    fn switchover_start_on_the_sent_ack_switches_over_and_clears_the_deadline() {
        let (mut s, mut d) = destination_in_precopy();
        assert_eq!(
            d.poll_timeout(),
            Some(T0.after(d.config().switchover_timeout))
        );
        d.approve(at(10), VFIO0).unwrap();
        d.approve(at(10), VFIO1).unwrap();
        pump(&mut s, &mut d, at(10));
        events_destination(&mut d);
        s.start_switchover(at(20)).unwrap();
        pump(&mut s, &mut d, at(20));
        assert_eq!(d.state(), DestinationState::SwitchedOver);
        assert_eq!(
            events_destination(&mut d),
            [Event::SwitchoverStarted {
                epoch: 1,
                waived: false
            }]
        );
        assert_eq!(d.poll_timeout(), None);
    }

    #[test]
    fn frames_only_the_destination_sends_fail_with_unexpected_frame() {
        let (_, d) = destination_in_precopy();
        for kind in [
            FrameType::Hello,
            FrameType::Welcome,
            FrameType::Reject,
            FrameType::ChannelsReady,
            FrameType::SwitchoverAck,
            FrameType::SwitchoverRevoke,
        ] {
            let mut d = d.clone();
            assert_eq!(
                d.handle_input(at(10), &raw_frame(kind, &[])),
                Err(unexpected(kind)),
                "{kind:?}"
            );
            assert_failed_locally(&mut d, at(10), &unexpected(kind));
        }
    }

    #[test]
    fn malformed_switchover_start_fails_with_malformed_payload() {
        let (_, mut d) = destination_in_precopy();
        let want = Error::new(ErrorCode::MalformedPayload);
        // epoch 1, waived 2: not a bool.
        let f = raw_frame(FrameType::SwitchoverStart, &[0x01, 0x02]);
        assert_eq!(d.handle_input(at(10), &f), Err(want.clone()));
        assert_failed_locally(&mut d, at(10), &want);
    }

    #[test]
    fn switchover_deadline_fails_with_switchover_timeout_and_tells_the_source() {
        let (mut s, mut d) = destination_in_precopy();
        let deadline = T0.after(d.config().switchover_timeout);
        d.handle_timeout(before(deadline));
        assert_eq!(d.state(), DestinationState::Precopy);
        d.handle_timeout(deadline);
        let want = Error::new(ErrorCode::SwitchoverTimeout);
        let bytes = tx_destination(&mut d.clone(), deadline);
        assert_failed_locally(&mut d, deadline, &want);
        assert_eq!(s.handle_input(deadline, &bytes), Err(want.clone()));
        assert_eq!(s.error(), Some(&want));
    }

    #[test]
    fn abort_from_the_source_fails_by_peer_without_answer() {
        let (mut s, mut d) = destination_in_precopy();
        s.abort(at(10));
        let want = Error::new(ErrorCode::LocalAbort);
        assert_eq!(
            d.handle_input(at(10), &tx_source(&mut s, at(10))),
            Err(want.clone())
        );
        assert_eq!(d.error(), Some(&want));
        assert_eq!(
            events_destination(&mut d),
            [Event::Failed {
                code: ErrorCode::LocalAbort,
                by_peer: true
            }]
        );
        assert!(tx_destination(&mut d, at(10)).is_empty());
    }

    #[test]
    fn register_device_after_welcome_fails_with_invalid_state() {
        let (_, mut d) = destination_in_precopy();
        assert_eq!(
            d.register_device("disk", 3, false),
            Err(Error::new(ErrorCode::InvalidState))
        );
    }

    #[test]
    fn channels_ready_was_sent_with_the_negotiated_set() {
        let (_, d) = destination_in_precopy();
        assert_eq!(d.channels().expected(), Some(SET));
        assert!(d.channels().is_complete());
    }
}

mod switched_over {
    use super::*;

    #[test]
    fn revoke_fails_with_revoke_after_switchover_start_and_the_session_stands() {
        let (_, mut d) = destination_switched_over();
        assert_eq!(
            d.revoke(at(30), VFIO0),
            Err(Error::with(
                ErrorCode::RevokeAfterSwitchoverStart,
                dev("vfio0", 1)
            ))
        );
        assert_eq!(d.state(), DestinationState::SwitchedOver);
        assert!(d.approved(VFIO0));
        assert!(tx_destination(&mut d, at(30)).is_empty());
        assert_eq!(events_destination(&mut d), []);
    }

    #[test]
    fn approve_fails_with_invalid_state() {
        let (_, mut d) = destination_switched_over();
        assert_eq!(
            d.approve(at(30), VFIO0),
            Err(Error::new(ErrorCode::InvalidState))
        );
        assert_eq!(d.state(), DestinationState::SwitchedOver);
    }

    #[test]
    fn lost_channel_may_be_reattached() {
        let (mut s, mut d) = destination_switched_over();
        assert_eq!(d.channel_lost(at(30), multifd(1)), Ok(()));
        // SwitchedOver is terminal: no deadline is armed for it.
        assert_eq!(d.poll_timeout(), None);
        let p = s.channel_lost(at(30), multifd(1)).unwrap();
        assert_eq!(
            d.accept_channel(at(31), &over_the_wire(&p)),
            Ok(channels::Assignment::Reattached(multifd(1)))
        );
        assert_eq!(
            events_destination(&mut d),
            [Event::ChannelReattached(multifd(1)), Event::ChannelsReady]
        );
        assert_eq!(d.poll_timeout(), None);
        let bytes = tx_destination(&mut d, at(31));
        let tx = parse_tx(&bytes);
        assert_eq!(tx.kinds(), [FrameType::ChannelsReady]);
        assert_eq!(
            ChannelsReady::decode(tx.payload(FrameType::ChannelsReady)),
            Ok(SET)
        );
        assert_eq!(s.handle_input(at(31), &bytes), Ok(bytes.len()));
        assert_eq!(s.state(), SourceState::SwitchedOver);
    }

    #[test]
    fn new_channel_is_refused_with_invalid_state() {
        let (s, mut d) = destination_switched_over();
        let p = s.channel_preamble(multifd(0)).unwrap();
        assert_eq!(
            d.accept_channel(at(30), &over_the_wire(&p)),
            Err(Error::new(ErrorCode::InvalidState))
        );
        assert_eq!(d.state(), DestinationState::SwitchedOver);
        assert_eq!(events_destination(&mut d), []);
    }

    #[test]
    fn lost_channel_never_reattached_changes_nothing() {
        // SwitchedOver is terminal (docs/PROTOCOL.md §7.2): a lost channel
        // arms no deadline, so no timeout can move it to Failed.
        let (_, mut d) = destination_switched_over();
        d.channel_lost(at(30), multifd(0)).unwrap();
        assert!(d.channels().is_lost(multifd(0)));
        assert_eq!(d.poll_timeout(), None);
        d.handle_timeout(at(30).after(d.config().channels_timeout));
        d.handle_timeout(Instant(u64::MAX));
        assert_eq!(d.state(), DestinationState::SwitchedOver);
        assert_eq!(d.error(), None);
        assert_eq!(events_destination(&mut d), []);
        assert!(tx_destination(&mut d, at(30)).is_empty());
    }

    #[test]
    fn channel_lost_in_precopy_then_the_decision_leaves_no_deadline() {
        let (mut s, mut d) = destination_in_precopy();
        d.approve(at(10), VFIO0).unwrap();
        d.approve(at(10), VFIO1).unwrap();
        pump(&mut s, &mut d, at(10));
        // The destination sees a channel break the source has not noticed.
        d.channel_lost(at(15), multifd(0)).unwrap();
        s.start_switchover(at(20)).unwrap();
        pump(&mut s, &mut d, at(20));
        assert_eq!(d.state(), DestinationState::SwitchedOver);
        assert_eq!(d.poll_timeout(), None);
        d.handle_timeout(at(15).after(d.config().channels_timeout));
        assert_eq!(d.state(), DestinationState::SwitchedOver);
    }

    #[test]
    fn input_after_the_decision_is_refused_with_invalid_state() {
        // What follows SwitchoverStart on the main channel is the migration
        // stream: the handshake reads no more, and nothing changes.
        let (_, mut d) = destination_switched_over();
        assert_eq!(
            d.handle_input(at(30), &start_frame(1, false)),
            Err(Error::new(ErrorCode::InvalidState))
        );
        assert_eq!(d.state(), DestinationState::SwitchedOver);
        assert_eq!(events_destination(&mut d), []);
        assert!(tx_destination(&mut d, at(30)).is_empty());
    }

    #[test]
    fn no_deadline_runs_after_the_decision() {
        let (_, mut d) = destination_switched_over();
        assert_eq!(d.poll_timeout(), None);
        d.handle_timeout(Instant(u64::MAX));
        assert_eq!(d.state(), DestinationState::SwitchedOver);
    }

    #[test]
    fn abort_changes_nothing_on_either_side() {
        let (mut s, mut d) = destination_switched_over();
        s.abort(at(30));
        d.abort(at(30));
        assert_eq!(s.state(), SourceState::SwitchedOver);
        assert_eq!(d.state(), DestinationState::SwitchedOver);
        assert!(tx_source(&mut s, at(30)).is_empty());
        assert!(tx_destination(&mut d, at(30)).is_empty());
        assert_eq!(events_destination(&mut d), []);
    }
}

mod failed {
    use super::*;

    const WHY: Error = Error::new(ErrorCode::LocalAbort);

    #[test]
    fn handle_input_is_refused_with_invalid_state() {
        let (_, mut d) = destination_failed();
        assert_eq!(
            d.handle_input(at(31), &start_frame(1, false)),
            Err(Error::new(ErrorCode::InvalidState))
        );
        assert_eq!(d.error(), Some(&WHY));
    }

    #[test]
    fn no_deadline_runs() {
        let (_, mut d) = destination_failed();
        assert_eq!(d.poll_timeout(), None);
        d.handle_timeout(Instant(u64::MAX));
        assert_eq!(d.error(), Some(&WHY));
    }

    #[test]
    fn abort_after_failure_changes_nothing() {
        let (_, mut d) = destination_failed();
        d.abort(at(40));
        assert_eq!(d.error(), Some(&WHY));
        assert!(tx_destination(&mut d, at(40)).is_empty());
    }

    #[test]
    fn events_report_failed_exactly_once() {
        let (_, mut d) = destination_failed();
        d.abort(at(40));
        d.handle_timeout(Instant(u64::MAX));
        let _ = d.handle_input(at(40), &start_frame(1, false));
        assert_eq!(
            events_destination(&mut d),
            [Event::Failed {
                code: ErrorCode::LocalAbort,
                by_peer: false
            }]
        );
    }

    #[test]
    fn every_call_that_would_move_on_is_refused() {
        let (s, mut d) = destination_failed();
        let invalid = Err(Error::new(ErrorCode::InvalidState));
        assert_eq!(d.approve(at(40), VFIO0), invalid);
        assert_eq!(d.revoke(at(40), VFIO0), invalid);
        assert_eq!(d.register_device("disk", 3, false).map(|_| ()), invalid);
        assert_eq!(d.channel_lost(at(40), multifd(0)), invalid);
        let mut p = channel_preamble(multifd(0), 2, *s.nonce());
        assert_eq!(d.accept_channel(at(40), &p).map(|_| ()), invalid);
        p.flags = accord_core::wire::preamble::FLAG_REATTACH;
        assert_eq!(d.accept_channel(at(40), &p).map(|_| ()), invalid);
        assert_eq!(d.state(), DestinationState::Failed);
        assert_eq!(d.error(), Some(&WHY));
    }
}

mod ack_withdrawal {
    use super::*;
    use accord_core::wire::frame::{split, FrameType};

    fn kinds(mut bytes: &[u8]) -> Vec<FrameType> {
        let mut out = vec![];
        while let Some(f) = split(bytes).unwrap() {
            out.push(f.kind);
            bytes = &bytes[f.len..];
        }
        out
    }

    /// An ack still queued behind later frames is withdrawn by a revoke, so
    /// neither the Ack nor a Revoke reaches the wire.
    #[test]
    fn a_revoke_withdraws_an_unsent_ack_even_when_it_is_not_last_in_the_queue() {
        let mut s = source_with(
            &[(RP, REQ, 0), (ACK, REQ, 0), (MULTIFD, REQ, 1)],
            &[("vfio", true)],
        );
        let mut d = destination_with(&[("vfio", true)]);
        s.start(T0).unwrap();
        open_channels(&s, &mut d, T0);
        pump(&mut s, &mut d, T0);
        let m0 = ChannelId {
            role: Role::Multifd,
            index: 0,
        };
        d.approve(T0, DeviceId(0)).unwrap();
        d.channel_lost(T0, m0).unwrap();
        let mut p = s.channel_lost(T0, m0).unwrap();
        p.flags |= accord_core::wire::preamble::FLAG_REATTACH;
        d.accept_channel(T0, &p).unwrap();
        d.revoke(T0, DeviceId(0)).unwrap();
        let out = tx_destination(&mut d, T0);
        assert_eq!(kinds(&out), [FrameType::ChannelsReady]);
    }
}

// ---------------------------------------------------------------------------
// handle_timeout's verdict: the error exactly when a deadline failed the
// destination during that call.

mod timeout_verdict {
    use super::*;

    /// Nothing just before `deadline`; at it, `want` and Failed; then nothing.
    fn fails_once_at(d: &mut Destination, deadline: Instant, want: &Error) {
        assert_eq!(d.handle_timeout(before(deadline)), None);
        assert_eq!(d.handle_timeout(deadline), Some(want));
        assert_eq!(d.state(), DestinationState::Failed);
        assert_eq!(d.handle_timeout(Instant(u64::MAX - 1)), None);
    }

    #[test]
    fn await_hello_fails_at_the_hello_deadline() {
        let (_, mut d) = destination_awaiting_hello();
        let deadline = d.poll_timeout().unwrap();
        fails_once_at(&mut d, deadline, &Error::new(ErrorCode::HelloTimeout));
    }

    #[test]
    fn precopy_channels_deadline_fails_naming_the_missing_channel() {
        let (_, mut d) = destination_in_precopy();
        d.channel_lost(at(5), multifd(1)).unwrap();
        let deadline = at(5).after(d.config().channels_timeout);
        let want = Error::with(
            ErrorCode::ChannelsTimeout,
            Detail::MissingChannels {
                role: Role::Multifd,
                index: 1,
                missing: 1,
            },
        );
        fails_once_at(&mut d, deadline, &want);
    }

    #[test]
    fn precopy_switchover_deadline_fails() {
        let (_, mut d) = destination_in_precopy();
        let deadline = d.poll_timeout().unwrap();
        fails_once_at(&mut d, deadline, &Error::new(ErrorCode::SwitchoverTimeout));
    }

    #[test]
    fn switched_over_and_failed_have_nothing_to_fail() {
        let (_, mut d) = destination_switched_over();
        assert_eq!(d.handle_timeout(Instant(u64::MAX - 1)), None);
        assert_eq!(d.state(), DestinationState::SwitchedOver);
        let (_, mut d) = destination_failed();
        assert_eq!(d.handle_timeout(Instant(u64::MAX - 1)), None);
        assert_eq!(d.error(), Some(&Error::new(ErrorCode::LocalAbort)));
    }
}
