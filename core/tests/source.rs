//! The Source state machine, state by state (docs/PROTOCOL.md §7.1).
//!
//! Each module is one state; each starts from that state's fixture, reached
//! by driving a real Source against a real Destination. The tests are named
//! after the behaviour they pin down.

mod common;

use accord_core::capacity::MAX_NAME_LEN;
use accord_core::caps::negotiate;
use accord_core::version::SUPPORTED;
use accord_core::wire::frame::FrameType;
use accord_core::wire::msg::{ChannelsReady, DeviceOffer, Hello, SwitchoverStart, Welcome};
use accord_core::wire::preamble::FLAG_REATTACH;
use accord_core::*;
use common::*;

const RAM: DeviceId = DeviceId(0);
const VFIO: DeviceId = DeviceId(1);

/// The channel set both sides agree on with the fixtures below.
const SET: ChannelsReady = ChannelsReady {
    multifd: 2,
    preempt: false,
    device_state: 0,
};

// ---------------------------------------------------------------------------
// Fixtures: one per state.

/// Idle: return-path, switchover-ack and 2 multifd channels required;
/// devices "ram" (no ack) and "vfio" (wants the ack).
fn source_idle() -> Source {
    source_with(
        &[(RP, REQ, 0), (ACK, REQ, 0), (MULTIFD, REQ, 2)],
        &[("ram", false), ("vfio", true)],
    )
}

/// The peer used throughout: same devices, "vfio" supports the ack.
fn peer() -> Destination {
    destination_with(&[("ram", false), ("vfio", true)])
}

/// AwaitWelcome: started at T0, the preamble and Hello delivered to the
/// destination, whose reply (preamble + Welcome) is still queued there.
fn source_awaiting_welcome() -> (Source, Destination) {
    let mut s = source_idle();
    let mut d = peer();
    s.start(T0).unwrap();
    let hello = tx_source(&mut s, T0);
    d.handle_input(T0, &hello).unwrap();
    assert_eq!(s.state(), SourceState::AwaitWelcome);
    events_destination(&mut d);
    (s, d)
}

/// Precopy: Welcome accepted at T0, both multifd channels attached and
/// ChannelsReady received; the ack is still outstanding. Events drained.
fn source_in_precopy() -> (Source, Destination) {
    let (mut s, mut d) = source_awaiting_welcome();
    open_channels(&s, &mut d, T0);
    pump(&mut s, &mut d, T0);
    assert_eq!(s.state(), SourceState::Precopy);
    assert!(s.channels_ready());
    assert!(!s.can_switchover());
    events_source(&mut s);
    events_destination(&mut d);
    (s, d)
}

/// SwitchedOver: "vfio" approved at 10 ms (ack epoch 1), the switchover
/// decision sent at 20 ms and received. Events drained.
fn source_switched_over() -> (Source, Destination) {
    let (mut s, mut d) = source_in_precopy();
    d.approve(at(10), VFIO).unwrap();
    pump(&mut s, &mut d, at(10));
    s.start_switchover(at(20)).unwrap();
    pump(&mut s, &mut d, at(20));
    assert_eq!(s.state(), SourceState::SwitchedOver);
    assert_eq!(d.state(), DestinationState::SwitchedOver);
    events_source(&mut s);
    events_destination(&mut d);
    (s, d)
}

/// Failed: the caller aborted in precopy at 30 ms and the Abort was
/// delivered. The source's `Failed` event is still queued.
fn source_failed() -> (Source, Destination) {
    let (mut s, mut d) = source_in_precopy();
    s.abort(at(30));
    pump(&mut s, &mut d, at(30));
    assert_eq!(s.state(), SourceState::Failed);
    assert_eq!(d.state(), DestinationState::Failed);
    (s, d)
}

// ---------------------------------------------------------------------------
// Assertions shared by the states.

/// `s` found `want` itself: Failed, one `Failed` event, an Abort carrying
/// `want` on the wire, no deadline left.
fn assert_failed_locally(s: &mut Source, now: Instant, want: &Error) {
    assert_eq!(s.state(), SourceState::Failed);
    assert_eq!(s.error(), Some(want));
    assert_eq!(
        events_source(s),
        [Event::Failed {
            code: want.code,
            by_peer: false
        }]
    );
    assert_eq!(only_abort(&tx_source(s, now)), *want);
    assert!(tx_source(s, now).is_empty(), "the Abort goes out once");
    assert_eq!(s.poll_timeout(), None);
}

/// `s` was told `want` by the peer: Failed, one `Failed` event with
/// `by_peer`, nothing sent back, no deadline left.
fn assert_failed_by_peer(s: &mut Source, now: Instant, want: &Error) {
    assert_eq!(s.state(), SourceState::Failed);
    assert_eq!(s.error(), Some(want));
    assert_eq!(
        events_source(s),
        [Event::Failed {
            code: want.code,
            by_peer: true
        }]
    );
    assert!(tx_source(s, now).is_empty(), "no Abort answers the peer's");
    assert_eq!(s.poll_timeout(), None);
}

/// The destination's main preamble followed by `frames`.
fn from_destination(frames: &[&[u8]]) -> Vec<u8> {
    let mut v = main_preamble(NONCE);
    for f in frames {
        v.extend_from_slice(f);
    }
    v
}

/// The offer a default destination puts in its Welcome.
fn dest_offer() -> Offer {
    DestinationConfig::default().capabilities
}

/// A Welcome frame with the default destination's offer.
fn welcome_frame(agreed: &Agreed, verdicts: &[bool]) -> Vec<u8> {
    frame_with(FrameType::Welcome, |out| {
        Welcome::encode(out, 1, &dest_offer(), agreed, verdicts.iter().copied())
    })
}

fn unexpected(kind: FrameType) -> Error {
    Error::with(ErrorCode::UnexpectedFrame, Detail::Frame(kind as u8))
}

mod idle {
    use super::*;

    #[test]
    fn add_device_returns_ids_in_listing_order() {
        let mut s = source_idle();
        assert_eq!(s.add_device("disk", 2, false), Ok(DeviceId(2)));
        assert_eq!(s.add_device("ram", 1, false), Ok(DeviceId(3)));
        assert_eq!(s.devices().len(), 4);
        assert_eq!(s.devices().find("ram", 1), Some(DeviceId(3)));
    }

    #[test]
    fn add_device_refuses_the_same_name_and_instance_twice() {
        let mut s = source_idle();
        assert_eq!(
            s.add_device("vfio", 1, false),
            Err(Error::with(ErrorCode::DuplicateDevice, dev("vfio", 1)))
        );
        assert_eq!(s.devices().len(), 2);
        assert!(s.devices().get(VFIO).unwrap().ack, "the first entry stays");
    }

    #[test]
    fn add_device_refuses_a_name_longer_than_max_name_len() {
        let mut s = source_idle();
        let long = "x".repeat(MAX_NAME_LEN + 1);
        assert_eq!(
            s.add_device(&long, 0, false),
            Err(Error::with(
                ErrorCode::InvalidArgument,
                Detail::Value {
                    expected: MAX_NAME_LEN as u32,
                    got: MAX_NAME_LEN as u32 + 1
                }
            ))
        );
        assert_eq!(s.devices().len(), 2);
        let longest = "x".repeat(MAX_NAME_LEN);
        assert_eq!(s.add_device(&longest, 0, false), Ok(DeviceId(2)));
    }

    #[test]
    fn add_device_refuses_an_empty_name() {
        let mut s = source_idle();
        assert_eq!(
            s.add_device("", 0, false),
            Err(Error::with(
                ErrorCode::InvalidArgument,
                Detail::Value {
                    expected: 1,
                    got: 0
                }
            ))
        );
    }

    #[test]
    fn add_device_after_start_fails_with_invalid_state() {
        let mut s = source_idle();
        s.start(T0).unwrap();
        assert_eq!(
            s.add_device("disk", 2, false),
            Err(Error::new(ErrorCode::InvalidState))
        );
        assert_eq!(s.devices().len(), 2);
    }

    #[test]
    fn handle_input_is_refused_with_invalid_state() {
        let mut s = source_idle();
        let input = from_destination(&[]);
        assert_eq!(
            s.handle_input(T0, &input),
            Err(Error::new(ErrorCode::InvalidState))
        );
        assert_eq!(s.state(), SourceState::Idle);
        assert_eq!(s.error(), None);
        assert_eq!(events_source(&mut s), []);
    }

    #[test]
    fn start_switchover_is_refused_with_switchover_not_allowed() {
        let mut s = source_idle();
        assert!(!s.can_switchover());
        assert_eq!(
            s.start_switchover(T0),
            Err(Error::new(ErrorCode::SwitchoverNotAllowed))
        );
        assert_eq!(s.state(), SourceState::Idle);
        assert!(tx_source(&mut s, T0).is_empty());
    }

    #[test]
    fn nothing_is_transmitted_before_start() {
        let mut s = source_idle();
        let mut buf = [0u8; 64];
        assert_eq!(s.poll_transmit(T0, &mut buf), Ok(0));
    }

    #[test]
    fn no_deadline_runs_before_start() {
        let mut s = source_idle();
        assert_eq!(s.poll_timeout(), None);
        s.handle_timeout(Instant(u64::MAX));
        assert_eq!(s.state(), SourceState::Idle);
        assert_eq!(events_source(&mut s), []);
    }

    #[test]
    fn channel_preamble_is_refused_before_start() {
        let s = source_idle();
        assert_eq!(
            s.channel_preamble(multifd(0)),
            Err(Error::new(ErrorCode::InvalidState))
        );
        assert_eq!(s.channels().count(), 2, "the plan is known from the offer");
    }

    #[test]
    fn abort_before_start_fails_without_transmitting() {
        let mut s = source_idle();
        s.abort(T0);
        assert_eq!(s.state(), SourceState::Failed);
        assert_eq!(s.error(), Some(&Error::new(ErrorCode::LocalAbort)));
        assert_eq!(
            events_source(&mut s),
            [Event::Failed {
                code: ErrorCode::LocalAbort,
                by_peer: false
            }]
        );
        assert!(tx_source(&mut s, T0).is_empty(), "nobody to tell");
    }

    #[test]
    fn start_moves_to_await_welcome() {
        let mut s = source_idle();
        assert_eq!(s.start(T0), Ok(()));
        assert_eq!(s.state(), SourceState::AwaitWelcome);
        assert_eq!(s.version(), 0);
        assert!(s.agreed().entries().is_empty());
    }
}

mod await_welcome {
    use super::*;

    #[test]
    fn start_queues_the_main_preamble_and_hello_exactly_once() {
        let mut s = source_idle();
        s.start(T0).unwrap();
        let bytes = tx_source(&mut s, T0);
        assert_eq!(&bytes[..4], b"ACRD");
        let tx = parse_tx(&bytes);
        assert_eq!(tx.preamble, Some(Preamble::main(SUPPORTED, NONCE)));
        assert_eq!(tx.kinds(), [FrameType::Hello]);
        let hello = Hello::decode(tx.payload(FrameType::Hello)).unwrap();
        assert_eq!(hello.offer, s.config().capabilities);
        let devices: Vec<DeviceOffer<'_>> = hello.devices.devices().map(Result::unwrap).collect();
        assert_eq!(
            devices,
            [
                DeviceOffer {
                    name: "ram",
                    instance: 0,
                    wants_ack: false
                },
                DeviceOffer {
                    name: "vfio",
                    instance: 1,
                    wants_ack: true
                }
            ]
        );
        assert!(tx_source(&mut s, at(1)).is_empty());
        assert_eq!(s.start(at(1)), Err(Error::new(ErrorCode::InvalidState)));
        assert!(tx_source(&mut s, at(1)).is_empty());
    }

    #[test]
    fn hello_waits_for_a_buffer_large_enough_and_loses_nothing() {
        let mut s = source_idle();
        s.start(T0).unwrap();
        let mut small = [0u8; 30];
        assert_eq!(
            s.poll_transmit(T0, &mut small),
            Err(Error::new(ErrorCode::BufferTooSmall))
        );
        let tx = parse_tx(&tx_source(&mut s, T0));
        assert_eq!(tx.kinds(), [FrameType::Hello]);
    }

    #[test]
    fn poll_timeout_is_start_plus_welcome_timeout() {
        let (s, _) = source_awaiting_welcome();
        assert_eq!(s.poll_timeout(), Some(T0.after(s.config().welcome_timeout)));
    }

    #[test]
    fn welcome_deadline_fails_with_welcome_timeout_and_sends_abort() {
        let (mut s, mut d) = source_awaiting_welcome();
        let deadline = s.poll_timeout().unwrap();
        s.handle_timeout(before(deadline));
        assert_eq!(s.state(), SourceState::AwaitWelcome);
        s.handle_timeout(deadline);
        let want = Error::new(ErrorCode::WelcomeTimeout);
        let bytes = {
            let mut probe = s.clone();
            tx_source(&mut probe, deadline)
        };
        assert_failed_locally(&mut s, deadline, &want);
        // The destination, which heard the Hello, learns why.
        assert_eq!(d.handle_input(deadline, &bytes), Err(want.clone()));
        assert_eq!(d.error(), Some(&want));
    }

    #[test]
    fn welcome_deadline_before_hello_left_sends_preamble_hello_and_abort() {
        let mut s = source_idle();
        s.start(T0).unwrap();
        s.handle_timeout(T0.after(s.config().welcome_timeout));
        let tx = parse_tx(&tx_source(&mut s, T0));
        assert_eq!(tx.preamble, Some(Preamble::main(SUPPORTED, NONCE)));
        assert_eq!(tx.kinds(), [FrameType::Hello, FrameType::Abort]);
        assert_eq!(
            failure(tx.payload(FrameType::Abort)),
            Error::new(ErrorCode::WelcomeTimeout)
        );
    }

    #[test]
    fn partial_input_consumes_nothing_until_a_whole_unit_is_there() {
        let (mut s, mut d) = source_awaiting_welcome();
        let reply = tx_destination(&mut d, T0);
        assert_eq!(parse_tx(&reply).kinds(), [FrameType::Welcome]);
        assert_eq!(s.handle_input(T0, &reply[..27]), Ok(0));
        assert_eq!(s.handle_input(T0, &reply[..reply.len() - 1]), Ok(28));
        assert_eq!(s.state(), SourceState::AwaitWelcome);
        assert_eq!(s.handle_input(T0, &reply[28..reply.len() - 1]), Ok(0));
        assert_eq!(s.state(), SourceState::AwaitWelcome);
        assert_eq!(events_source(&mut s), []);
        assert_eq!(s.handle_input(T0, &reply[28..]), Ok(reply.len() - 28));
        assert_eq!(s.state(), SourceState::Precopy);
        assert_eq!(events_source(&mut s), [Event::Negotiated { version: 1 }]);
    }

    #[test]
    fn reply_split_at_every_byte_boundary_still_completes() {
        let (mut s, mut d) = source_awaiting_welcome();
        open_channels(&s, &mut d, T0);
        let reply = tx_destination(&mut d, T0);
        assert_eq!(
            parse_tx(&reply).kinds(),
            [FrameType::Welcome, FrameType::ChannelsReady]
        );
        for cut in 0..=reply.len() {
            let mut s = s.clone();
            let left = feed_source(&mut s, T0, &[&reply[..cut], &reply[cut..]]);
            assert!(left.is_empty(), "cut at {cut}");
            assert_eq!(s.state(), SourceState::Precopy, "cut at {cut}");
            assert!(s.channels_ready(), "cut at {cut}");
            assert_eq!(
                events_source(&mut s),
                [Event::Negotiated { version: 1 }, Event::ChannelsReady],
                "cut at {cut}"
            );
        }
        // And one byte at a time.
        let pieces: Vec<&[u8]> = reply.chunks(1).collect();
        assert!(feed_source(&mut s, T0, &pieces).is_empty());
        assert!(s.channels_ready());
    }

    #[test]
    fn preamble_alone_is_consumed_and_changes_nothing_visible() {
        let (mut s, _) = source_awaiting_welcome();
        assert_eq!(s.handle_input(T0, &from_destination(&[])), Ok(28));
        assert_eq!(s.state(), SourceState::AwaitWelcome);
        assert_eq!(events_source(&mut s), []);
    }

    #[test]
    fn ack_before_welcome_fails_with_unexpected_frame_and_sends_abort() {
        let (mut s, _) = source_awaiting_welcome();
        let want = unexpected(FrameType::SwitchoverAck);
        let input = from_destination(&[&ack_frame(1)]);
        assert_eq!(s.handle_input(T0, &input), Err(want.clone()));
        assert_failed_locally(&mut s, T0, &want);
    }

    #[test]
    fn channels_ready_before_welcome_fails_with_unexpected_frame_and_sends_abort() {
        let (mut s, _) = source_awaiting_welcome();
        let want = unexpected(FrameType::ChannelsReady);
        let input = from_destination(&[&channels_ready_frame(SET)]);
        assert_eq!(s.handle_input(T0, &input), Err(want.clone()));
        assert_failed_locally(&mut s, T0, &want);
    }

    #[test]
    fn frames_only_the_source_sends_fail_with_unexpected_frame() {
        let (s, _) = source_awaiting_welcome();
        for kind in [FrameType::Hello, FrameType::SwitchoverStart] {
            let mut s = s.clone();
            let input = from_destination(&[&raw_frame(kind, &[])]);
            assert_eq!(s.handle_input(T0, &input), Err(unexpected(kind)));
            assert_failed_locally(&mut s, T0, &unexpected(kind));
        }
    }

    #[test]
    fn preamble_with_another_nonce_fails_with_nonce_mismatch() {
        let (mut s, _) = source_awaiting_welcome();
        let want = Error::new(ErrorCode::NonceMismatch);
        assert_eq!(
            s.handle_input(T0, &main_preamble(OTHER_NONCE)),
            Err(want.clone())
        );
        assert_failed_locally(&mut s, T0, &want);
    }

    #[test]
    fn preamble_of_a_secondary_role_fails_with_unexpected_frame() {
        let (mut s, _) = source_awaiting_welcome();
        let p = channel_preamble(multifd(0), 2, NONCE);
        let want = Error::with(ErrorCode::UnexpectedFrame, chan(Role::Multifd, 0));
        assert_eq!(s.handle_input(T0, &p.to_bytes()), Err(want.clone()));
        assert_failed_locally(&mut s, T0, &want);
    }

    #[test]
    fn bytes_without_the_magic_fail_with_bad_magic_at_the_first_byte() {
        let (mut s, _) = source_awaiting_welcome();
        let want = Error::new(ErrorCode::BadMagic);
        assert_eq!(s.handle_input(T0, b"Q"), Err(want.clone()));
        assert_failed_locally(&mut s, T0, &want);
    }

    #[test]
    fn reject_fails_with_the_peers_error_by_peer_and_sends_no_abort() {
        let (mut s, _) = source_awaiting_welcome();
        let theirs = Error::with(
            ErrorCode::CapabilityMissingOnSource,
            Detail::Capability(CapabilityId::POSTCOPY_RAM),
        );
        let input = from_destination(&[&failure_frame(FrameType::Reject, &theirs)]);
        assert_eq!(s.handle_input(T0, &input), Err(theirs.clone()));
        assert_failed_by_peer(&mut s, T0, &theirs);
    }

    #[test]
    fn reject_with_a_code_unknown_to_this_version_fails_with_unknown_peer_error() {
        let (mut s, _) = source_awaiting_welcome();
        // postcard: code 999 as varint (0xe7 0x07), Detail::None (variant 0).
        let input = from_destination(&[&raw_frame(FrameType::Reject, &[0xe7, 0x07, 0x00])]);
        let want = Error::with(
            ErrorCode::UnknownPeerError,
            Detail::Value {
                expected: 0,
                got: 999,
            },
        );
        assert_eq!(s.handle_input(T0, &input), Err(want.clone()));
        assert_failed_by_peer(&mut s, T0, &want);
    }

    #[test]
    fn abort_fails_by_peer_and_sends_no_abort() {
        let (mut s, _) = source_awaiting_welcome();
        let theirs = Error::new(ErrorCode::LocalAbort);
        let input = from_destination(&[&failure_frame(FrameType::Abort, &theirs)]);
        assert_eq!(s.handle_input(T0, &input), Err(theirs.clone()));
        assert_failed_by_peer(&mut s, T0, &theirs);
    }

    #[test]
    fn welcome_matching_the_recomputation_moves_to_precopy() {
        let (mut s, _) = source_awaiting_welcome();
        let agreed = negotiate(&s.config().capabilities, &dest_offer()).unwrap();
        let input = from_destination(&[&welcome_frame(&agreed, &[false, true])]);
        assert_eq!(s.handle_input(T0, &input), Ok(input.len()));
        assert_eq!(s.state(), SourceState::Precopy);
        assert_eq!(s.agreed(), &agreed);
        assert_eq!(s.expected_channels(), SET);
        assert!(s.participates(VFIO));
        assert!(!s.participates(RAM));
        assert_eq!(events_source(&mut s), [Event::Negotiated { version: 1 }]);
    }

    #[test]
    fn welcome_with_another_multifd_count_fails_with_outcome_mismatch_naming_it() {
        let (mut s, _) = source_awaiting_welcome();
        let mut other = s.config().capabilities.clone();
        other.set(MULTIFD, REQ, 3).unwrap();
        let agreed = negotiate(&other, &dest_offer()).unwrap();
        let input = from_destination(&[&welcome_frame(&agreed, &[false, true])]);
        let want = Error::with(ErrorCode::OutcomeMismatch, Detail::Capability(MULTIFD));
        assert_eq!(s.handle_input(T0, &input), Err(want.clone()));
        assert_failed_locally(&mut s, T0, &want);
        assert!(s.agreed().entries().is_empty(), "nothing was adopted");
    }

    #[test]
    fn welcome_missing_a_capability_fails_with_outcome_mismatch_naming_it() {
        let (mut s, _) = source_awaiting_welcome();
        let mut other = s.config().capabilities.clone();
        other.remove(ACK);
        let agreed = negotiate(&other, &dest_offer()).unwrap();
        let input = from_destination(&[&welcome_frame(&agreed, &[false, true])]);
        let want = Error::with(ErrorCode::OutcomeMismatch, Detail::Capability(ACK));
        assert_eq!(s.handle_input(T0, &input), Err(want.clone()));
        assert_failed_locally(&mut s, T0, &want);
    }

    #[test]
    fn welcome_with_a_wrong_device_verdict_fails_with_outcome_mismatch_naming_the_device() {
        let (s, _) = source_awaiting_welcome();
        let agreed = negotiate(&s.config().capabilities, &dest_offer()).unwrap();
        for (verdicts, named) in [
            ([false, false], dev("vfio", 1)),
            ([true, true], dev("ram", 0)),
        ] {
            let mut s = s.clone();
            let input = from_destination(&[&welcome_frame(&agreed, &verdicts)]);
            let want = Error::with(ErrorCode::OutcomeMismatch, named);
            assert_eq!(s.handle_input(T0, &input), Err(want.clone()));
            assert_failed_locally(&mut s, T0, &want);
        }
    }

    #[test]
    fn welcome_with_too_few_verdicts_fails_with_outcome_mismatch_and_the_counts() {
        let (mut s, _) = source_awaiting_welcome();
        let agreed = negotiate(&s.config().capabilities, &dest_offer()).unwrap();
        let input = from_destination(&[&welcome_frame(&agreed, &[false])]);
        let want = Error::with(
            ErrorCode::OutcomeMismatch,
            Detail::Value {
                expected: 2,
                got: 1,
            },
        );
        assert_eq!(s.handle_input(T0, &input), Err(want.clone()));
        assert_failed_locally(&mut s, T0, &want);
    }

    #[test]
    fn welcome_choosing_another_version_fails_with_outcome_mismatch() {
        let (mut s, _) = source_awaiting_welcome();
        let agreed = negotiate(&s.config().capabilities, &dest_offer()).unwrap();
        let w = frame_with(FrameType::Welcome, |out| {
            Welcome::encode(out, 2, &dest_offer(), &agreed, [false, true].into_iter())
        });
        let want = Error::with(
            ErrorCode::OutcomeMismatch,
            Detail::Versions {
                source: SUPPORTED,
                destination: SUPPORTED,
            },
        );
        assert_eq!(
            s.handle_input(T0, &from_destination(&[&w])),
            Err(want.clone())
        );
        assert_failed_locally(&mut s, T0, &want);
    }

    #[test]
    fn unknown_frame_type_fails_with_unknown_frame_type_at_its_first_byte() {
        let (mut s, _) = source_awaiting_welcome();
        let want = Error::with(ErrorCode::UnknownFrameType, Detail::Frame(0x09));
        assert_eq!(
            s.handle_input(T0, &from_destination(&[&[0x09]])),
            Err(want.clone())
        );
        assert_failed_locally(&mut s, T0, &want);
    }

    #[test]
    fn oversized_length_fails_with_frame_too_large_at_the_header() {
        let (mut s, _) = source_awaiting_welcome();
        let want = Error::with(
            ErrorCode::FrameTooLarge,
            Detail::Value {
                expected: 16384,
                got: 16385,
            },
        );
        // Welcome, length 0x4001: refused before any payload arrives.
        assert_eq!(
            s.handle_input(T0, &from_destination(&[&[0x02, 0x40, 0x01]])),
            Err(want.clone())
        );
        assert_failed_locally(&mut s, T0, &want);
    }

    #[test]
    fn garbage_welcome_payload_fails_with_malformed_payload() {
        let (mut s, _) = source_awaiting_welcome();
        // Version 1, then a truncated varint where the offer's length belongs.
        let input = from_destination(&[&raw_frame(FrameType::Welcome, &[0x01, 0x80])]);
        let want = Error::new(ErrorCode::MalformedPayload);
        assert_eq!(s.handle_input(T0, &input), Err(want.clone()));
        assert_failed_locally(&mut s, T0, &want);
    }

    #[test]
    fn welcome_with_trailing_bytes_fails_with_malformed_payload() {
        let (mut s, _) = source_awaiting_welcome();
        let agreed = negotiate(&s.config().capabilities, &dest_offer()).unwrap();
        let w = frame_with(FrameType::Welcome, |out| {
            let n = Welcome::encode(out, 1, &dest_offer(), &agreed, [false, true].into_iter())?;
            out[n] = 0;
            Ok(n + 1)
        });
        let want = Error::new(ErrorCode::MalformedPayload);
        assert_eq!(
            s.handle_input(T0, &from_destination(&[&w])),
            Err(want.clone())
        );
        assert_failed_locally(&mut s, T0, &want);
    }

    #[test]
    fn unreadable_abort_payload_fails_with_malformed_payload() {
        let (mut s, _) = source_awaiting_welcome();
        let input = from_destination(&[&raw_frame(FrameType::Abort, &[0xff])]);
        let want = Error::new(ErrorCode::MalformedPayload);
        assert_eq!(s.handle_input(T0, &input), Err(want.clone()));
        assert_failed_locally(&mut s, T0, &want);
    }

    #[test]
    fn channel_preamble_names_every_offered_channel_before_welcome() {
        let (s, _) = source_awaiting_welcome();
        assert_eq!(s.channels().collect::<Vec<_>>(), [multifd(0), multifd(1)]);
        assert_eq!(
            s.channel_preamble(multifd(1)),
            Ok(Preamble {
                versions: SUPPORTED,
                role: Role::Multifd,
                flags: 0,
                index: 1,
                total: 2,
                nonce: NONCE,
            })
        );
    }

    #[test]
    fn pipelined_channels_are_held_by_the_destination_until_welcome() {
        let mut s = source_idle();
        let mut d = peer();
        s.start(T0).unwrap();
        for id in s.channels() {
            let p = over_the_wire(&s.channel_preamble(id).unwrap());
            assert_eq!(d.accept_channel(T0, &p), Ok(channels::Assignment::Held(id)));
        }
        pump(&mut s, &mut d, T0);
        assert!(s.channels_ready());
        assert_eq!(
            events_source(&mut s),
            [Event::Negotiated { version: 1 }, Event::ChannelsReady]
        );
    }

    #[test]
    fn channel_preamble_refuses_an_index_at_or_beyond_the_offered_count() {
        let (s, _) = source_awaiting_welcome();
        assert_eq!(
            s.channel_preamble(multifd(2)),
            Err(Error::with(
                ErrorCode::ChannelIndexOutOfRange,
                chan(Role::Multifd, 2)
            ))
        );
        assert_eq!(
            s.channel_preamble(preempt()),
            Err(Error::with(
                ErrorCode::ChannelIndexOutOfRange,
                chan(Role::Preempt, 0)
            ))
        );
        assert_eq!(
            s.channel_preamble(ChannelId {
                role: Role::Main,
                index: 0
            }),
            Err(Error::new(ErrorCode::InvalidState))
        );
    }

    #[test]
    fn start_switchover_is_refused_before_welcome() {
        let (mut s, _) = source_awaiting_welcome();
        assert_eq!(
            s.start_switchover(T0),
            Err(Error::new(ErrorCode::SwitchoverNotAllowed))
        );
        assert_eq!(s.state(), SourceState::AwaitWelcome);
        assert!(tx_source(&mut s, T0).is_empty());
    }

    #[test]
    fn channel_lost_is_refused_before_welcome() {
        let (mut s, _) = source_awaiting_welcome();
        assert_eq!(
            s.channel_lost(T0, multifd(0)),
            Err(Error::new(ErrorCode::InvalidState))
        );
        assert_eq!(s.poll_timeout(), Some(T0.after(s.config().welcome_timeout)));
    }
}

mod precopy {
    use super::*;

    #[test]
    fn poll_timeout_is_the_ack_deadline_once_channels_are_ready() {
        let (s, _) = source_in_precopy();
        assert_eq!(s.poll_timeout(), Some(T0.after(s.config().ack_timeout)));
        assert_eq!(s.version(), 1);
        assert_eq!(s.expected_channels(), SET);
    }

    #[test]
    fn ack_opens_the_switchover_gate() {
        let (mut s, mut d) = source_in_precopy();
        d.approve(at(10), VFIO).unwrap();
        pump(&mut s, &mut d, at(10));
        assert_eq!(events_source(&mut s), [Event::SwitchoverAcked { epoch: 1 }]);
        assert!(s.can_switchover());
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn channels_ready_with_another_set_fails_with_channel_set_mismatch() {
        let (mut s, _) = source_in_precopy();
        let other = ChannelsReady { multifd: 1, ..SET };
        let want = Error::new(ErrorCode::ChannelSetMismatch);
        assert_eq!(
            s.handle_input(T0, &channels_ready_frame(other)),
            Err(want.clone())
        );
        assert_failed_locally(&mut s, T0, &want);
    }

    #[test]
    fn repeated_channels_ready_with_the_same_set_is_ignored() {
        let (mut s, _) = source_in_precopy();
        let f = channels_ready_frame(SET);
        assert_eq!(s.handle_input(T0, &f), Ok(f.len()));
        assert_eq!(s.state(), SourceState::Precopy);
        assert_eq!(events_source(&mut s), []);
    }

    #[test]
    fn second_ack_without_revoke_fails_with_unexpected_frame() {
        let (mut s, mut d) = source_in_precopy();
        d.approve(at(10), VFIO).unwrap();
        pump(&mut s, &mut d, at(10));
        events_source(&mut s);
        let want = unexpected(FrameType::SwitchoverAck);
        assert_eq!(s.handle_input(at(11), &ack_frame(2)), Err(want.clone()));
        assert_failed_locally(&mut s, at(11), &want);
    }

    #[test]
    fn ack_reusing_a_revoked_epoch_fails_with_unexpected_frame() {
        let (mut s, _) = source_in_precopy();
        let mut input = ack_frame(1);
        input.extend(revoke_frame(1, VFIO.0));
        assert_eq!(s.handle_input(T0, &input), Ok(input.len()));
        events_source(&mut s);
        let want = unexpected(FrameType::SwitchoverAck);
        assert_eq!(s.handle_input(T0, &ack_frame(1)), Err(want.clone()));
        assert_failed_locally(&mut s, T0, &want);
    }

    #[test]
    fn revoke_with_a_wrong_epoch_fails_with_unexpected_frame() {
        let (mut s, _) = source_in_precopy();
        let a = ack_frame(1);
        assert_eq!(s.handle_input(T0, &a), Ok(a.len()));
        events_source(&mut s);
        let want = unexpected(FrameType::SwitchoverRevoke);
        assert_eq!(
            s.handle_input(T0, &revoke_frame(2, VFIO.0)),
            Err(want.clone())
        );
        assert_failed_locally(&mut s, T0, &want);
    }

    #[test]
    fn revoke_naming_a_non_participating_device_fails_with_unexpected_frame() {
        let (mut s, _) = source_in_precopy();
        let a = ack_frame(1);
        assert_eq!(s.handle_input(T0, &a), Ok(a.len()));
        events_source(&mut s);
        let want = unexpected(FrameType::SwitchoverRevoke);
        assert_eq!(
            s.handle_input(T0, &revoke_frame(1, RAM.0)),
            Err(want.clone())
        );
        assert_failed_locally(&mut s, T0, &want);
    }

    #[test]
    fn revoke_without_an_ack_fails_with_unexpected_frame() {
        let (mut s, _) = source_in_precopy();
        let want = unexpected(FrameType::SwitchoverRevoke);
        assert_eq!(
            s.handle_input(T0, &revoke_frame(0, VFIO.0)),
            Err(want.clone())
        );
        assert_failed_locally(&mut s, T0, &want);
    }

    #[test]
    fn revoke_closes_the_gate_and_restarts_the_ack_deadline() {
        let (mut s, mut d) = source_in_precopy();
        d.approve(at(10), VFIO).unwrap();
        pump(&mut s, &mut d, at(10));
        events_source(&mut s);
        d.revoke(at(20), VFIO).unwrap();
        pump(&mut s, &mut d, at(20));
        assert_eq!(
            events_source(&mut s),
            [Event::SwitchoverRevoked {
                device: VFIO,
                epoch: 1
            }]
        );
        assert!(!s.can_switchover());
        assert_eq!(s.poll_timeout(), Some(at(20).after(s.config().ack_timeout)));
        d.approve(at(30), VFIO).unwrap();
        pump(&mut s, &mut d, at(30));
        assert_eq!(events_source(&mut s), [Event::SwitchoverAcked { epoch: 2 }]);
        assert!(s.can_switchover());
    }

    #[test]
    fn start_switchover_before_the_ack_is_refused_and_changes_nothing() {
        let (mut s, _) = source_in_precopy();
        let deadline = s.poll_timeout();
        assert_eq!(
            s.start_switchover(at(5)),
            Err(Error::new(ErrorCode::SwitchoverNotAllowed))
        );
        assert_eq!(s.state(), SourceState::Precopy);
        assert_eq!(s.poll_timeout(), deadline);
        assert_eq!(events_source(&mut s), []);
        assert!(tx_source(&mut s, at(5)).is_empty());
    }

    #[test]
    fn start_switchover_after_the_ack_sends_switchover_start_with_its_epoch() {
        let (mut s, mut d) = source_in_precopy();
        d.approve(at(10), VFIO).unwrap();
        pump(&mut s, &mut d, at(10));
        events_source(&mut s);
        assert_eq!(s.start_switchover(at(20)), Ok(()));
        assert_eq!(s.state(), SourceState::SwitchedOver);
        assert_eq!(
            events_source(&mut s),
            [Event::SwitchoverStarted {
                epoch: 1,
                waived: false
            }]
        );
        let tx = parse_tx(&tx_source(&mut s, at(20)));
        assert_eq!(tx.kinds(), [FrameType::SwitchoverStart]);
        assert_eq!(
            SwitchoverStart::decode(tx.payload(FrameType::SwitchoverStart)),
            Ok(SwitchoverStart {
                epoch: 1,
                waived: false
            })
        );
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn channel_lost_closes_the_gate_until_channels_ready_arrives_again() {
        let (mut s, mut d) = source_in_precopy();
        d.approve(at(10), VFIO).unwrap();
        pump(&mut s, &mut d, at(10));
        events_source(&mut s);
        assert!(s.can_switchover());

        let p = s.channel_lost(at(30), multifd(1)).unwrap();
        assert_eq!(p.flags, FLAG_REATTACH);
        assert_eq!(
            (p.role, p.index, p.total, p.nonce),
            (Role::Multifd, 1, 2, NONCE)
        );
        assert!(!s.channels_ready());
        assert!(!s.can_switchover());
        assert_eq!(
            s.start_switchover(at(30)),
            Err(Error::new(ErrorCode::SwitchoverNotAllowed))
        );
        assert_eq!(
            s.poll_timeout(),
            Some(at(30).after(s.config().channels_timeout))
        );

        d.channel_lost(at(30), multifd(1)).unwrap();
        assert_eq!(
            d.accept_channel(at(31), &over_the_wire(&p)),
            Ok(channels::Assignment::Reattached(multifd(1)))
        );
        pump(&mut s, &mut d, at(31));
        assert_eq!(events_source(&mut s), [Event::ChannelsReady]);
        assert!(s.can_switchover());
        assert_eq!(s.poll_timeout(), None);
    }

    #[test]
    fn channels_deadline_after_a_lost_channel_fails_with_channels_timeout() {
        let (mut s, _) = source_in_precopy();
        s.channel_lost(at(30), multifd(0)).unwrap();
        let deadline = at(30).after(s.config().channels_timeout);
        s.handle_timeout(before(deadline));
        assert_eq!(s.state(), SourceState::Precopy);
        s.handle_timeout(deadline);
        assert_failed_locally(&mut s, deadline, &Error::new(ErrorCode::ChannelsTimeout));
    }

    #[test]
    fn ack_deadline_fails_with_ack_timeout_under_the_fail_policy() {
        let (mut s, mut d) = source_in_precopy();
        let deadline = T0.after(s.config().ack_timeout);
        s.handle_timeout(before(deadline));
        assert_eq!(s.state(), SourceState::Precopy);
        s.handle_timeout(deadline);
        let want = Error::new(ErrorCode::AckTimeout);
        let bytes = tx_source(&mut s.clone(), deadline);
        assert_failed_locally(&mut s, deadline, &want);
        assert_eq!(d.handle_input(deadline, &bytes), Err(want.clone()));
    }

    #[test]
    fn ack_deadline_under_the_proceed_policy_waives_the_ack() {
        let cfg = SourceConfig {
            ack_policy: AckPolicy::Proceed,
            ..source_idle().config().clone()
        };
        let mut s = source_cfg(cfg, &[("ram", false), ("vfio", true)]);
        let mut d = peer();
        s.start(T0).unwrap();
        open_channels(&s, &mut d, T0);
        pump(&mut s, &mut d, T0);
        events_source(&mut s);
        events_destination(&mut d);
        let deadline = s.poll_timeout().unwrap();
        assert_eq!(deadline, T0.after(s.config().ack_timeout));

        assert_eq!(
            s.handle_timeout(deadline),
            None,
            "a waived ack is no failure"
        );
        assert_eq!(s.state(), SourceState::Precopy);
        assert_eq!(events_source(&mut s), [Event::AckWaived]);
        assert!(s.can_switchover());
        assert_eq!(s.poll_timeout(), None);

        s.start_switchover(deadline).unwrap();
        let start = tx_source(&mut s, deadline);
        assert_eq!(
            SwitchoverStart::decode(parse_tx(&start).payload(FrameType::SwitchoverStart)),
            Ok(SwitchoverStart {
                epoch: 0,
                waived: true
            })
        );
        assert_eq!(d.handle_input(deadline, &start), Ok(start.len()));
        assert_eq!(d.state(), DestinationState::SwitchedOver);
        assert_eq!(
            events_destination(&mut d),
            [Event::SwitchoverStarted {
                epoch: 0,
                waived: true
            }]
        );
    }

    #[test]
    fn welcome_in_precopy_fails_with_unexpected_frame() {
        let (mut s, _) = source_in_precopy();
        let want = unexpected(FrameType::Welcome);
        let agreed = s.agreed().clone();
        assert_eq!(
            s.handle_input(T0, &welcome_frame(&agreed, &[false, true])),
            Err(want.clone())
        );
        assert_failed_locally(&mut s, T0, &want);
    }

    #[test]
    fn reject_in_precopy_fails_with_unexpected_frame() {
        let (mut s, _) = source_in_precopy();
        let want = unexpected(FrameType::Reject);
        let f = failure_frame(FrameType::Reject, &Error::new(ErrorCode::LocalAbort));
        assert_eq!(s.handle_input(T0, &f), Err(want.clone()));
        assert_failed_locally(&mut s, T0, &want);
    }

    #[test]
    fn channel_preamble_after_welcome_follows_the_agreement() {
        let (s, _) = source_in_precopy();
        assert_eq!(s.channels().collect::<Vec<_>>(), [multifd(0), multifd(1)]);
        assert_eq!(
            s.channel_preamble(multifd(2)),
            Err(Error::with(
                ErrorCode::ChannelIndexOutOfRange,
                chan(Role::Multifd, 2)
            ))
        );
    }

    #[test]
    fn abort_tells_the_destination_local_abort() {
        let (mut s, mut d) = source_in_precopy();
        s.abort(at(40));
        let want = Error::new(ErrorCode::LocalAbort);
        let bytes = tx_source(&mut s.clone(), at(40));
        assert_failed_locally(&mut s, at(40), &want);
        assert_eq!(d.handle_input(at(40), &bytes), Err(want.clone()));
        assert_eq!(
            events_destination(&mut d),
            [Event::Failed {
                code: ErrorCode::LocalAbort,
                by_peer: true
            }]
        );
    }
}

mod switched_over {
    use super::*;

    #[test]
    fn late_revoke_is_ignored() {
        let (mut s, _) = source_switched_over();
        let f = revoke_frame(1, VFIO.0);
        assert_eq!(s.handle_input(at(21), &f), Ok(f.len()));
        assert_eq!(s.state(), SourceState::SwitchedOver);
        assert_eq!(events_source(&mut s), []);
        assert!(tx_source(&mut s, at(21)).is_empty());
    }

    #[test]
    fn late_ack_is_ignored() {
        let (mut s, _) = source_switched_over();
        let f = ack_frame(2);
        assert_eq!(s.handle_input(at(21), &f), Ok(f.len()));
        assert_eq!(s.state(), SourceState::SwitchedOver);
        assert_eq!(events_source(&mut s), []);
        assert!(tx_source(&mut s, at(21)).is_empty());
    }

    #[test]
    fn late_channels_ready_is_ignored() {
        let (mut s, _) = source_switched_over();
        let f = channels_ready_frame(SET);
        assert_eq!(s.handle_input(at(21), &f), Ok(f.len()));
        assert_eq!(s.state(), SourceState::SwitchedOver);
        assert_eq!(events_source(&mut s), []);
    }

    #[test]
    fn abort_that_crossed_the_decision_fails_by_peer() {
        // The destination failed before it read SwitchoverStart (it is
        // terminal once it has): its Abort crossed the decision on the wire.
        let (mut s, mut d) = source_in_precopy();
        d.approve(at(10), VFIO).unwrap();
        pump(&mut s, &mut d, at(10));
        s.start_switchover(at(20)).unwrap();
        events_source(&mut s);
        d.abort(at(25));
        let want = Error::new(ErrorCode::LocalAbort);
        assert_eq!(
            s.handle_input(at(25), &tx_destination(&mut d, at(25))),
            Err(want.clone())
        );
        assert_failed_by_peer(&mut s, at(25), &want);
    }

    #[test]
    fn welcome_after_switchover_fails_with_unexpected_frame() {
        let (mut s, _) = source_switched_over();
        let agreed = s.agreed().clone();
        let want = unexpected(FrameType::Welcome);
        assert_eq!(
            s.handle_input(at(21), &welcome_frame(&agreed, &[false, true])),
            Err(want.clone())
        );
        assert_failed_locally(&mut s, at(21), &want);
    }

    #[test]
    fn start_switchover_again_is_refused() {
        let (mut s, _) = source_switched_over();
        assert_eq!(
            s.start_switchover(at(21)),
            Err(Error::new(ErrorCode::SwitchoverNotAllowed))
        );
        assert!(tx_source(&mut s, at(21)).is_empty());
        assert_eq!(events_source(&mut s), []);
    }

    #[test]
    fn no_deadline_runs_after_the_decision() {
        let (mut s, _) = source_switched_over();
        assert_eq!(s.poll_timeout(), None);
        s.handle_timeout(Instant(u64::MAX));
        assert_eq!(s.state(), SourceState::SwitchedOver);
    }

    #[test]
    fn channel_lost_gives_a_reattach_preamble_and_keeps_the_deadlines_off() {
        let (mut s, mut d) = source_switched_over();
        let p = s.channel_lost(at(30), multifd(0)).unwrap();
        assert!(p.is_reattach());
        assert_eq!(s.poll_timeout(), None);
        d.channel_lost(at(30), multifd(0)).unwrap();
        assert_eq!(
            d.accept_channel(at(31), &over_the_wire(&p)),
            Ok(channels::Assignment::Reattached(multifd(0)))
        );
        pump(&mut s, &mut d, at(31));
        assert_eq!(s.state(), SourceState::SwitchedOver);
        assert_eq!(d.state(), DestinationState::SwitchedOver);
    }
}

mod failed {
    use super::*;

    const WHY: Error = Error::new(ErrorCode::LocalAbort);

    #[test]
    fn handle_input_is_refused_with_invalid_state() {
        let (mut s, _) = source_failed();
        assert_eq!(
            s.handle_input(at(31), &ack_frame(1)),
            Err(Error::new(ErrorCode::InvalidState))
        );
        assert_eq!(s.error(), Some(&WHY));
    }

    #[test]
    fn no_deadline_runs() {
        let (mut s, _) = source_failed();
        assert_eq!(s.poll_timeout(), None);
        s.handle_timeout(Instant(u64::MAX));
        assert_eq!(s.error(), Some(&WHY));
    }

    #[test]
    fn abort_after_failure_changes_nothing() {
        let (mut s, _) = source_failed();
        s.abort(at(40));
        assert_eq!(s.error(), Some(&WHY));
        assert!(tx_source(&mut s, at(40)).is_empty());
    }

    #[test]
    fn events_report_failed_exactly_once() {
        let (mut s, _) = source_failed();
        s.abort(at(40));
        s.handle_timeout(Instant(u64::MAX));
        let _ = s.handle_input(at(40), &ack_frame(1));
        assert_eq!(
            events_source(&mut s),
            [Event::Failed {
                code: ErrorCode::LocalAbort,
                by_peer: false
            }]
        );
    }

    #[test]
    fn nothing_is_left_to_transmit() {
        let (mut s, _) = source_failed();
        let mut buf = [0u8; 256];
        assert_eq!(s.poll_transmit(at(40), &mut buf), Ok(0));
    }

    #[test]
    fn every_call_that_would_move_on_is_refused() {
        let (mut s, _) = source_failed();
        assert!(!s.can_switchover());
        assert_eq!(
            s.start_switchover(at(40)),
            Err(Error::new(ErrorCode::SwitchoverNotAllowed))
        );
        assert_eq!(s.start(at(40)), Err(Error::new(ErrorCode::InvalidState)));
        assert_eq!(
            s.add_device("disk", 2, false),
            Err(Error::new(ErrorCode::InvalidState))
        );
        assert_eq!(
            s.channel_preamble(multifd(0)),
            Err(Error::new(ErrorCode::InvalidState))
        );
        assert_eq!(
            s.channel_lost(at(40), multifd(0)),
            Err(Error::new(ErrorCode::InvalidState))
        );
        assert_eq!(s.state(), SourceState::Failed);
        assert_eq!(s.error(), Some(&WHY));
    }
}

// ---------------------------------------------------------------------------
// handle_timeout's verdict: the error exactly when a deadline failed the
// source during that call.

mod timeout_verdict {
    use super::*;

    /// Nothing just before `deadline`; at it, `want` and Failed; then nothing.
    fn fails_once_at(s: &mut Source, deadline: Instant, want: ErrorCode) {
        assert_eq!(s.handle_timeout(before(deadline)), None);
        assert_eq!(s.handle_timeout(deadline), Some(&Error::new(want)));
        assert_eq!(s.state(), SourceState::Failed);
        assert_eq!(s.handle_timeout(Instant(u64::MAX - 1)), None);
    }

    #[test]
    fn idle_has_no_deadline_to_fail() {
        let mut s = source_idle();
        assert_eq!(s.handle_timeout(Instant(u64::MAX - 1)), None);
        assert_eq!(s.state(), SourceState::Idle);
    }

    #[test]
    fn await_welcome_fails_at_the_welcome_deadline() {
        let (mut s, _) = source_awaiting_welcome();
        let deadline = s.poll_timeout().unwrap();
        fails_once_at(&mut s, deadline, ErrorCode::WelcomeTimeout);
    }

    #[test]
    fn precopy_ack_deadline_fails_under_the_fail_policy() {
        let (mut s, _) = source_in_precopy();
        let deadline = s.poll_timeout().unwrap();
        fails_once_at(&mut s, deadline, ErrorCode::AckTimeout);
    }

    #[test]
    fn precopy_channels_deadline_fails() {
        let (mut s, _) = source_in_precopy();
        s.channel_lost(T0, multifd(0)).unwrap();
        let deadline = T0.after(s.config().channels_timeout);
        fails_once_at(&mut s, deadline, ErrorCode::ChannelsTimeout);
    }

    // The waived ack (AckPolicy::Proceed) returns None: see
    // precopy::ack_deadline_under_the_proceed_policy_waives_the_ack.

    #[test]
    fn switched_over_and_failed_have_nothing_to_fail() {
        let (mut s, _) = source_switched_over();
        assert_eq!(s.handle_timeout(Instant(u64::MAX - 1)), None);
        assert_eq!(s.state(), SourceState::SwitchedOver);
        let (mut s, _) = source_failed();
        assert_eq!(s.handle_timeout(Instant(u64::MAX - 1)), None);
        assert_eq!(s.error(), Some(&Error::new(ErrorCode::LocalAbort)));
    }
}
