//! The destination's channel table, through `Destination::accept_channel`
//! (docs/PROTOCOL.md §7.3).
//!
//! A refusal concerns only the refused connection: every refusal test ends
//! by showing that the handshake still completes and ChannelsReady is sent.

mod common;

use accord_core::capacity::MAX_EARLY_CHANNELS;
use accord_core::channels::Assignment;
use accord_core::wire::frame::FrameType;
use accord_core::wire::msg::ChannelsReady;
use accord_core::wire::preamble::FLAG_REATTACH;
use accord_core::*;
use common::*;

const DEVICE_STATE: CapabilityId = CapabilityId::DEVICE_STATE;

/// The set agreed by the fixtures: the destination caps multifd at 4.
const SET: ChannelsReady = ChannelsReady {
    multifd: 4,
    preempt: true,
    device_state: 2,
};

/// The source offers 8 multifd channels, the preempt channel (with
/// postcopy-ram) and 2 device-state channels, all optional.
fn source() -> Source {
    source_with(
        &[
            (MULTIFD, OPT, 8),
            (PC, OPT, 0),
            (PREEMPT, OPT, 0),
            (DEVICE_STATE, OPT, 2),
        ],
        &[],
    )
}

/// The default destination policy, but at most 4 multifd channels.
fn four_multifd() -> DestinationConfig {
    let mut cfg = DestinationConfig::default();
    cfg.capabilities.set(MULTIFD, OPT, 4).unwrap();
    cfg
}

/// As [`four_multifd`], without postcopy-preempt.
fn four_multifd_no_preempt() -> DestinationConfig {
    let mut cfg = four_multifd();
    cfg.capabilities.remove(PREEMPT);
    cfg
}

// ---------------------------------------------------------------------------
// Fixtures: one per phase of the table.

/// Before Hello: the source is started (Hello not sent); the destination
/// was just created with `cfg` and has seen nothing.
fn before_hello(cfg: DestinationConfig) -> (Source, Destination) {
    let mut s = source();
    s.start(T0).unwrap();
    let d = destination_cfg(cfg, &[]);
    (s, d)
}

/// After Welcome: Hello and Welcome exchanged at T0, no secondary channel
/// opened yet. Events drained.
fn after_welcome(cfg: DestinationConfig) -> (Source, Destination) {
    let (mut s, mut d) = before_hello(cfg);
    pump(&mut s, &mut d, T0);
    assert_eq!(s.state(), SourceState::Precopy);
    assert_eq!(d.state(), DestinationState::Precopy);
    assert!(!s.channels_ready());
    events_source(&mut s);
    events_destination(&mut d);
    (s, d)
}

/// Open `id` the way the source does, as its preamble arrives on the wire.
fn open(s: &Source, d: &mut Destination, id: ChannelId) -> Result<Assignment> {
    let p = s.channel_preamble(id).unwrap();
    d.accept_channel(T0, &over_the_wire(&p))
}

/// The session goes on: Hello/Welcome if still due, every channel the source
/// plans that is not attached yet gets assigned, and the source receives a
/// ChannelsReady that matches its own view of the agreement.
fn assert_session_completes(s: &mut Source, d: &mut Destination) {
    pump(s, d, T0);
    assert_eq!(d.state(), DestinationState::Precopy);
    assert_eq!(d.error(), None);
    let ids: Vec<ChannelId> = s.channels().collect();
    for id in ids {
        if !d.channels().is_attached(id) {
            assert_eq!(open(s, d, id), Ok(Assignment::Assigned(id)));
        }
    }
    assert!(d.channels().is_complete());
    pump(s, d, T0);
    assert_eq!(s.state(), SourceState::Precopy, "{:?}", s.error());
    assert!(s.channels_ready());
    assert!(events_source(s).contains(&Event::ChannelsReady));
    assert_eq!(d.channels().expected(), Some(s.expected_channels()));
}

fn refused(code: ErrorCode, id: ChannelId) -> Result<Assignment> {
    Err(Error::with(code, chan(id.role, id.index)))
}

#[test]
fn channel_with_another_nonce_is_refused_and_the_session_continues() {
    let (mut s, mut d) = after_welcome(four_multifd());
    let stranger = channel_preamble(multifd(0), 8, OTHER_NONCE);
    assert_eq!(
        d.accept_channel(T0, &stranger),
        refused(ErrorCode::WrongNonce, multifd(0))
    );
    assert!(!d.channels().is_attached(multifd(0)));
    assert_eq!(events_destination(&mut d), []);
    assert_session_completes(&mut s, &mut d);
    assert_eq!(d.channels().expected(), Some(SET));
}

#[test]
fn channel_with_another_nonce_is_refused_at_once_when_the_main_preamble_is_known() {
    let (mut s, mut d) = before_hello(four_multifd());
    let hello = tx_source(&mut s, T0);
    assert_eq!(d.handle_input(T0, &hello[..28]), Ok(28));
    let stranger = channel_preamble(multifd(1), 8, OTHER_NONCE);
    assert_eq!(
        d.accept_channel(T0, &stranger),
        refused(ErrorCode::WrongNonce, multifd(1))
    );
    assert_eq!(d.handle_input(T0, &hello[28..]), Ok(hello.len() - 28));
    assert_eq!(
        events_destination(&mut d),
        [Event::Negotiated { version: 1 }],
        "nothing was held for the stranger"
    );
    assert_session_completes(&mut s, &mut d);
}

#[test]
fn channels_beyond_the_negotiated_count_are_refused_with_index_out_of_range() {
    let (mut s, mut d) = after_welcome(four_multifd());
    // The source offered 8; the minimum rule agreed on 4.
    assert_eq!(s.expected_channels(), SET);
    for i in 4..8 {
        let p = channel_preamble(multifd(i), 8, NONCE);
        assert_eq!(
            d.accept_channel(T0, &p),
            refused(ErrorCode::ChannelIndexOutOfRange, multifd(i))
        );
    }
    // After Welcome the source itself no longer names them.
    assert_eq!(
        s.channel_preamble(multifd(4)),
        Err(Error::with(
            ErrorCode::ChannelIndexOutOfRange,
            chan(Role::Multifd, 4)
        ))
    );
    assert_eq!(s.channels().count(), 7);
    assert_session_completes(&mut s, &mut d);
}

#[test]
fn early_channels_beyond_the_negotiated_count_are_refused_at_welcome() {
    let (mut s, mut d) = before_hello(four_multifd());
    // Pipelining: before Welcome the source opens all it offered.
    let ids: Vec<ChannelId> = s.channels().collect();
    assert_eq!(ids.len(), 11);
    for &id in &ids {
        assert_eq!(open(&s, &mut d, id), Ok(Assignment::Held(id)));
    }
    assert_eq!(events_destination(&mut d), []);
    pump(&mut s, &mut d, T0);
    let mut want = vec![Event::Negotiated { version: 1 }];
    want.extend((0..4).map(|i| Event::ChannelAssigned(multifd(i))));
    want.extend((4..8).map(|i| Event::ChannelRefused {
        channel: multifd(i),
        code: ErrorCode::ChannelIndexOutOfRange,
    }));
    want.extend([
        Event::ChannelAssigned(preempt()),
        Event::ChannelAssigned(device_state(0)),
        Event::ChannelAssigned(device_state(1)),
        Event::ChannelsReady,
    ]);
    assert_eq!(events_destination(&mut d), want);
    assert!(s.channels_ready());
    assert_session_completes(&mut s, &mut d);
}

#[test]
fn duplicate_channel_is_refused_and_the_first_stays() {
    let (mut s, mut d) = after_welcome(four_multifd());
    assert_eq!(
        open(&s, &mut d, multifd(2)),
        Ok(Assignment::Assigned(multifd(2)))
    );
    assert_eq!(
        open(&s, &mut d, multifd(2)),
        refused(ErrorCode::DuplicateChannel, multifd(2))
    );
    assert!(d.channels().is_attached(multifd(2)));
    assert_eq!(
        events_destination(&mut d),
        [Event::ChannelAssigned(multifd(2))]
    );
    assert_session_completes(&mut s, &mut d);
}

#[test]
fn duplicate_early_channel_is_refused_at_once() {
    let (mut s, mut d) = before_hello(four_multifd());
    assert_eq!(
        open(&s, &mut d, device_state(1)),
        Ok(Assignment::Held(device_state(1)))
    );
    assert_eq!(
        open(&s, &mut d, device_state(1)),
        refused(ErrorCode::DuplicateChannel, device_state(1))
    );
    pump(&mut s, &mut d, T0);
    assert_eq!(
        events_destination(&mut d),
        [
            Event::Negotiated { version: 1 },
            Event::ChannelAssigned(device_state(1))
        ]
    );
    assert_session_completes(&mut s, &mut d);
}

#[test]
fn preempt_channel_is_refused_when_postcopy_preempt_is_not_negotiated() {
    let (mut s, mut d) = after_welcome(four_multifd_no_preempt());
    assert!(!s.expected_channels().preempt);
    assert!(!s.channels().any(|id| id.role == Role::Preempt));
    let p = channel_preamble(preempt(), 1, NONCE);
    assert_eq!(
        d.accept_channel(T0, &p),
        refused(ErrorCode::RoleNotNegotiated, preempt())
    );
    assert_session_completes(&mut s, &mut d);
    assert_eq!(
        d.channels().expected(),
        Some(ChannelsReady {
            preempt: false,
            ..SET
        })
    );
}

#[test]
fn early_preempt_channel_is_refused_at_welcome_when_postcopy_preempt_is_not_negotiated() {
    let (mut s, mut d) = before_hello(four_multifd_no_preempt());
    // Before Welcome the source still plans the preempt channel it offered.
    assert_eq!(open(&s, &mut d, preempt()), Ok(Assignment::Held(preempt())));
    pump(&mut s, &mut d, T0);
    assert_eq!(
        events_destination(&mut d),
        [
            Event::Negotiated { version: 1 },
            Event::ChannelRefused {
                channel: preempt(),
                code: ErrorCode::RoleNotNegotiated
            }
        ]
    );
    assert_session_completes(&mut s, &mut d);
}

#[test]
fn more_early_channels_than_capacity_are_refused_with_too_many_early_channels() {
    let n = MAX_EARLY_CHANNELS as u16 + 1;
    if n > 64 {
        // Hosted capacities (libaccord.a: 256 early channels) hold QEMU's
        // whole channel set early, more multifd channels than this test's
        // default destination takes; docs/BAD_INPUTS.md's C06 test checks
        // the refusal one past them.
        return;
    }
    let mut s = source_with(&[(MULTIFD, OPT, n)], &[]);
    s.start(T0).unwrap();
    let mut d = destination_with(&[]);
    for i in 0..n - 1 {
        assert_eq!(
            open(&s, &mut d, multifd(i)),
            Ok(Assignment::Held(multifd(i)))
        );
    }
    let last = multifd(n - 1);
    assert_eq!(
        open(&s, &mut d, last),
        refused(ErrorCode::TooManyEarlyChannels, last)
    );
    pump(&mut s, &mut d, T0);
    assert!((0..n - 1).all(|i| d.channels().is_attached(multifd(i))));
    assert!(!d.channels().is_attached(last));
    assert!(!s.channels_ready());
    // The refused one comes again after Welcome and completes the set.
    assert_session_completes(&mut s, &mut d);
    assert_eq!(d.channels().expected().unwrap().multifd, n);
}

#[test]
fn channel_whose_total_differs_from_the_offer_is_refused_with_total_mismatch() {
    let (mut s, mut d) = after_welcome(four_multifd());
    // The total is the source's offer (8), not the agreed count (4).
    let p = channel_preamble(multifd(0), 4, NONCE);
    assert_eq!(
        d.accept_channel(T0, &p),
        refused(ErrorCode::ChannelTotalMismatch, multifd(0))
    );
    assert!(!d.channels().is_attached(multifd(0)));
    assert_session_completes(&mut s, &mut d);
}

#[test]
fn early_channel_whose_total_differs_from_the_offer_is_refused_at_welcome() {
    let (mut s, mut d) = before_hello(four_multifd());
    let p = channel_preamble(device_state(0), 3, NONCE);
    assert_eq!(
        d.accept_channel(T0, &p),
        Ok(Assignment::Held(device_state(0)))
    );
    pump(&mut s, &mut d, T0);
    assert_eq!(
        events_destination(&mut d),
        [
            Event::Negotiated { version: 1 },
            Event::ChannelRefused {
                channel: device_state(0),
                code: ErrorCode::ChannelTotalMismatch
            }
        ]
    );
    assert_session_completes(&mut s, &mut d);
}

#[test]
fn held_channels_are_assigned_at_welcome_and_channels_ready_follows_it() {
    let (mut s, mut d) = before_hello(four_multifd());
    let agreed = [
        multifd(0),
        multifd(1),
        multifd(2),
        multifd(3),
        preempt(),
        device_state(0),
        device_state(1),
    ];
    for id in agreed {
        assert_eq!(open(&s, &mut d, id), Ok(Assignment::Held(id)));
        assert!(!d.channels().is_attached(id));
    }
    assert_eq!(events_destination(&mut d), []);
    d.handle_input(T0, &tx_source(&mut s, T0)).unwrap();
    let mut want = vec![Event::Negotiated { version: 1 }];
    want.extend(agreed.iter().map(|&id| Event::ChannelAssigned(id)));
    want.push(Event::ChannelsReady);
    assert_eq!(events_destination(&mut d), want);
    // One round trip: ChannelsReady travels with the Welcome.
    let reply = tx_destination(&mut d, T0);
    let tx = parse_tx(&reply);
    assert_eq!(tx.kinds(), [FrameType::Welcome, FrameType::ChannelsReady]);
    assert_eq!(
        ChannelsReady::decode(tx.payload(FrameType::ChannelsReady)),
        Ok(SET)
    );
    assert_eq!(s.handle_input(T0, &reply), Ok(reply.len()));
    assert!(s.channels_ready());
}

#[test]
fn held_stranger_that_arrived_before_the_main_preamble_is_refused_at_welcome() {
    let (mut s, mut d) = before_hello(four_multifd());
    let stranger = channel_preamble(device_state(1), 2, OTHER_NONCE);
    assert_eq!(
        d.accept_channel(T0, &stranger),
        Ok(Assignment::Held(device_state(1))),
        "no nonce to compare with yet"
    );
    pump(&mut s, &mut d, T0);
    assert_eq!(
        events_destination(&mut d),
        [
            Event::Negotiated { version: 1 },
            Event::ChannelRefused {
                channel: device_state(1),
                code: ErrorCode::WrongNonce
            }
        ]
    );
    assert!(!d.channels().is_attached(device_state(1)));
    assert_session_completes(&mut s, &mut d);
}

#[test]
fn held_stranger_does_not_block_the_genuine_channel_of_the_same_name() {
    let (mut s, mut d) = before_hello(four_multifd());
    let stranger = channel_preamble(multifd(0), 8, OTHER_NONCE);
    assert_eq!(
        d.accept_channel(T0, &stranger),
        Ok(Assignment::Held(multifd(0)))
    );
    assert_eq!(
        open(&s, &mut d, multifd(0)),
        Ok(Assignment::Held(multifd(0)))
    );
    // The same holds once the main preamble told the nonce, before Welcome.
    let hello = tx_source(&mut s, T0);
    assert_eq!(d.handle_input(T0, &hello[..28]), Ok(28));
    let stranger = channel_preamble(multifd(1), 8, OTHER_NONCE);
    assert_eq!(
        d.accept_channel(T0, &stranger),
        refused(ErrorCode::WrongNonce, multifd(1))
    );
    assert_eq!(
        open(&s, &mut d, multifd(1)),
        Ok(Assignment::Held(multifd(1)))
    );
    d.handle_input(T0, &hello[28..]).unwrap();
    assert_eq!(
        events_destination(&mut d),
        [
            Event::Negotiated { version: 1 },
            Event::ChannelRefused {
                channel: multifd(0),
                code: ErrorCode::WrongNonce
            },
            Event::ChannelAssigned(multifd(0)),
            Event::ChannelAssigned(multifd(1)),
        ]
    );
    assert_session_completes(&mut s, &mut d);
}

#[test]
fn lost_channel_reattached_with_the_same_nonce_sends_channels_ready_again() {
    let (mut s, mut d) = after_welcome(four_multifd());
    assert_session_completes(&mut s, &mut d);
    events_destination(&mut d);

    assert_eq!(d.channel_lost(at(5), multifd(2)), Ok(()));
    assert!(d.channels().is_lost(multifd(2)));
    assert!(!d.channels().is_complete());
    assert_eq!(
        d.poll_timeout(),
        Some(at(5).after(d.config().channels_timeout))
    );
    let p = s.channel_lost(at(5), multifd(2)).unwrap();
    assert_eq!(p.flags, FLAG_REATTACH);
    assert!(!s.channels_ready());

    assert_eq!(
        d.accept_channel(at(6), &over_the_wire(&p)),
        Ok(Assignment::Reattached(multifd(2)))
    );
    assert_eq!(
        events_destination(&mut d),
        [Event::ChannelReattached(multifd(2)), Event::ChannelsReady]
    );
    assert!(d.channels().is_complete());
    assert_eq!(
        d.poll_timeout(),
        Some(T0.after(d.config().switchover_timeout))
    );
    let reply = tx_destination(&mut d, at(6));
    let tx = parse_tx(&reply);
    assert_eq!(tx.kinds(), [FrameType::ChannelsReady]);
    assert_eq!(
        ChannelsReady::decode(tx.payload(FrameType::ChannelsReady)),
        Ok(SET)
    );
    assert_eq!(s.handle_input(at(6), &reply), Ok(reply.len()));
    assert_eq!(events_source(&mut s), [Event::ChannelsReady]);
    assert!(s.channels_ready());
}

#[test]
fn reattach_with_another_nonce_is_refused_with_wrong_nonce() {
    let (mut s, mut d) = after_welcome(four_multifd());
    assert_session_completes(&mut s, &mut d);
    d.channel_lost(at(5), preempt()).unwrap();
    events_destination(&mut d);
    let mut stranger = channel_preamble(preempt(), 1, OTHER_NONCE);
    stranger.flags = FLAG_REATTACH;
    assert_eq!(
        d.accept_channel(at(6), &stranger),
        refused(ErrorCode::WrongNonce, preempt())
    );
    assert!(d.channels().is_lost(preempt()));
    assert_eq!(events_destination(&mut d), []);
    assert!(tx_destination(&mut d, at(6)).is_empty());
    // The genuine one still gets in.
    let p = s.channel_lost(at(6), preempt()).unwrap();
    assert_eq!(
        d.accept_channel(at(7), &over_the_wire(&p)),
        Ok(Assignment::Reattached(preempt()))
    );
    pump(&mut s, &mut d, at(7));
    assert!(s.channels_ready());
}

#[test]
fn reattach_of_a_channel_never_attached_is_refused_with_bad_reattach() {
    let (mut s, mut d) = before_hello(four_multifd());
    let mut p = s.channel_preamble(multifd(1)).unwrap();
    p.flags = FLAG_REATTACH;
    // Before Welcome there is nothing to re-attach to...
    assert_eq!(
        d.accept_channel(T0, &p),
        refused(ErrorCode::BadReattach, multifd(1))
    );
    pump(&mut s, &mut d, T0);
    // ...and after it, only channels that were attached.
    assert_eq!(
        d.accept_channel(T0, &p),
        refused(ErrorCode::BadReattach, multifd(1))
    );
    assert!(!d.channels().is_attached(multifd(1)));
    assert_session_completes(&mut s, &mut d);
}

#[test]
fn channel_lost_of_a_channel_never_attached_is_refused() {
    let (mut s, mut d) = after_welcome(four_multifd());
    let deadline = d.poll_timeout();
    assert_eq!(
        d.channel_lost(at(5), multifd(3)),
        Err(Error::with(
            ErrorCode::InvalidArgument,
            chan(Role::Multifd, 3)
        ))
    );
    assert_eq!(d.poll_timeout(), deadline);
    assert_session_completes(&mut s, &mut d);
}

#[test]
fn channels_deadline_names_the_first_missing_channel_and_the_count() {
    let (mut s, mut d) = after_welcome(four_multifd());
    for id in [multifd(0), multifd(2), preempt(), device_state(0)] {
        assert_eq!(open(&s, &mut d, id), Ok(Assignment::Assigned(id)));
    }
    let deadline = T0.after(d.config().channels_timeout);
    assert_eq!(d.poll_timeout(), Some(deadline));
    d.handle_timeout(before(deadline));
    assert_eq!(d.state(), DestinationState::Precopy);
    d.handle_timeout(deadline);
    let want = Error::with(
        ErrorCode::ChannelsTimeout,
        Detail::MissingChannels {
            role: Role::Multifd,
            index: 1,
            missing: 3,
        },
    );
    assert_eq!(d.state(), DestinationState::Failed);
    assert_eq!(d.error(), Some(&want));
    let abort = tx_destination(&mut d, deadline);
    assert_eq!(only_abort(&abort), want);
    // The source reaches the same verdict, from the peer, before its own
    // (later) channels deadline.
    assert!(deadline < T0.after(s.config().channels_timeout));
    assert_eq!(s.handle_input(deadline, &abort), Err(want.clone()));
    assert_eq!(verdicts(&s, &d), (Some(want.clone()), Some(want)));
    assert!(events_source(&mut s).contains(&Event::Failed {
        code: ErrorCode::ChannelsTimeout,
        by_peer: true
    }));
}

#[test]
fn main_role_offered_as_a_secondary_channel_is_refused_as_duplicate() {
    let (mut s, mut d) = after_welcome(four_multifd());
    let p = Preamble::main(accord_core::version::SUPPORTED, NONCE);
    assert_eq!(
        d.accept_channel(T0, &p),
        Err(Error::with(
            ErrorCode::DuplicateChannel,
            chan(Role::Main, 0)
        ))
    );
    assert_session_completes(&mut s, &mut d);
}

#[test]
fn channel_speaking_other_versions_than_the_main_channel_is_refused() {
    let (mut s, mut d) = after_welcome(four_multifd());
    let mut p = s.channel_preamble(multifd(0)).unwrap();
    p.versions = VersionRange::new(1, 2);
    assert_eq!(
        d.accept_channel(T0, &p),
        refused(ErrorCode::BadVersionRange, multifd(0))
    );
    assert_session_completes(&mut s, &mut d);
}

#[test]
fn reattach_before_channels_ready_left_queues_it_only_once() {
    let (mut s, mut d) = after_welcome(four_multifd());
    let ids: Vec<ChannelId> = s.channels().collect();
    for id in ids {
        assert_eq!(open(&s, &mut d, id), Ok(Assignment::Assigned(id)));
    }
    // A reattach also replaces a connection the destination has not seen break.
    let mut p = s.channel_preamble(multifd(0)).unwrap();
    p.flags = FLAG_REATTACH;
    assert_eq!(
        d.accept_channel(T0, &p),
        Ok(Assignment::Reattached(multifd(0)))
    );
    let bytes = tx_destination(&mut d, T0);
    assert_eq!(parse_tx(&bytes).kinds(), [FrameType::ChannelsReady]);
    assert_eq!(s.handle_input(T0, &bytes), Ok(bytes.len()));
    assert_eq!(events_source(&mut s), [Event::ChannelsReady]);
    assert!(s.channels_ready());
}

mod held_before_the_main_preamble {
    use super::*;

    /// A channel held before the main preamble arrived is judged at Welcome
    /// exactly as it would be after Welcome, version range included.
    #[test]
    fn a_held_channel_with_another_version_range_is_refused_at_welcome() {
        let mut s = source_with(&[(MULTIFD, REQ, 2)], &[]);
        let mut d = destination_with(&[]);
        s.start(T0).unwrap();
        let mut odd = s
            .channel_preamble(ChannelId {
                role: Role::Multifd,
                index: 0,
            })
            .unwrap();
        odd.versions = VersionRange::new(1, 2);
        assert!(matches!(
            d.accept_channel(T0, &odd).unwrap(),
            channels::Assignment::Held(_)
        ));
        let good = s
            .channel_preamble(ChannelId {
                role: Role::Multifd,
                index: 1,
            })
            .unwrap();
        d.accept_channel(T0, &good).unwrap();
        let hello = tx_source(&mut s, T0);
        d.handle_input(T0, &hello).unwrap();
        let ev = events_destination(&mut d);
        let id0 = ChannelId {
            role: Role::Multifd,
            index: 0,
        };
        assert!(ev.contains(&Event::ChannelRefused {
            channel: id0,
            code: ErrorCode::BadVersionRange
        }));
        assert!(ev.contains(&Event::ChannelAssigned(ChannelId {
            role: Role::Multifd,
            index: 1
        })));
        assert!(!d.channels().is_attached(id0));
    }
}
