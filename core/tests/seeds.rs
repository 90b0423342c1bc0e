//! The scenarios of the two mailing-list threads that started accord
//! (shared/seeds), run through the real state machines. In QEMU each of these
//! either hangs or depends on management setting both sides alike; here each
//! ends at once, on both sides, with the same named verdict.
mod common;
use accord_core::*;
use common::*;

fn cap(id: CapabilityId) -> Detail {
    Detail::Capability(id)
}

fn dev(name: &str, instance: u32) -> Detail {
    Detail::Device(DeviceName {
        name: accord_core::name(name).unwrap(),
        instance,
    })
}

/// Drive setup: start, open channels, exchange until quiet.
fn setup(s: &mut Source, d: &mut Destination) -> usize {
    s.start(T0).unwrap();
    open_channels(s, d, T0);
    pump(s, d, T0)
}

/// Both sides failed with exactly `code` and `detail`.
fn assert_same_verdict(s: &Source, d: &Destination, code: ErrorCode, detail: Detail) {
    assert_eq!(s.state(), SourceState::Failed);
    assert_eq!(d.state(), DestinationState::Failed);
    let want = Error::with(code, detail);
    assert_eq!(verdicts(s, d), (Some(want.clone()), Some(want)));
}

mod capability_on_one_side_only {
    use super::*;

    #[test]
    fn source_requires_switchover_ack_destination_lacks_it_fails_naming_it_in_one_round_trip() {
        let mut s = source_with(&[(RP, REQ, 0), (ACK, REQ, 0)], &[("vfio", true)]);
        let mut cfg = DestinationConfig::default();
        cfg.capabilities.remove(ACK);
        let mut d = destination_cfg(cfg, &[("vfio", true)]);
        let trips = setup(&mut s, &mut d);
        assert_eq!(trips, 1);
        assert_same_verdict(&s, &d, ErrorCode::CapabilityMissingOnDestination, cap(ACK));
        assert_eq!(s.poll_timeout(), None, "nothing is left waiting");
        assert_eq!(d.poll_timeout(), None);
    }

    #[test]
    fn source_offers_switchover_ack_optionally_destination_lacks_it_runs_without_waiting_for_an_ack(
    ) {
        let mut s = source_with(&[(RP, REQ, 0), (ACK, OPT, 0)], &[("vfio", true)]);
        let mut cfg = DestinationConfig::default();
        cfg.capabilities.remove(ACK);
        let mut d = destination_cfg(cfg, &[("vfio", true)]);
        setup(&mut s, &mut d);
        assert!(!s.agreed().is_on(ACK));
        assert!(
            s.can_switchover(),
            "no ack is awaited when the capability is off"
        );
        let vfio = d.devices().find("vfio", 0).unwrap();
        assert!(!d.participates(vfio));
    }

    #[test]
    fn destination_requires_switchover_ack_source_does_not_offer_it_fails_naming_it() {
        let mut s = source_with(&[(RP, REQ, 0)], &[("vfio", true)]);
        let mut cfg = DestinationConfig::default();
        cfg.capabilities.set(ACK, REQ, 0).unwrap();
        let mut d = destination_cfg(cfg, &[("vfio", true)]);
        setup(&mut s, &mut d);
        assert_same_verdict(&s, &d, ErrorCode::CapabilityMissingOnSource, cap(ACK));
    }

    #[test]
    fn destination_supports_switchover_ack_source_does_not_offer_it_no_ack_is_counted() {
        let mut s = source_with(&[(RP, REQ, 0)], &[("vfio", true)]);
        let mut d = destination_with(&[("vfio", true)]);
        setup(&mut s, &mut d);
        assert!(!d.agreed().is_on(ACK));
        assert_eq!(d.pending(), 0);
        assert!(s.can_switchover());
    }
}

mod mixed_versions_x_and_y {
    use super::*;

    /// Seed 000: the source supports the ack for X but not Y; the destination
    /// supports both. QEMU counts 2 pending and never reaches 0.
    fn x_and_y() -> (Source, Destination) {
        let mut s = source_with(&[(RP, REQ, 0), (ACK, REQ, 0)], &[("x", true), ("y", false)]);
        let mut d = destination_with(&[("x", true), ("y", true)]);
        setup(&mut s, &mut d);
        assert_eq!(s.state(), SourceState::Precopy);
        (s, d)
    }

    #[test]
    fn only_x_participates_so_the_pending_count_is_one() {
        let (s, d) = x_and_y();
        assert_eq!(d.pending(), 1);
        assert!(d.participates(DeviceId(0)));
        assert!(!d.participates(DeviceId(1)));
        assert!(s.participates(DeviceId(0)));
        assert!(!s.participates(DeviceId(1)));
    }

    #[test]
    fn the_ack_follows_the_approval_of_x() {
        let (mut s, mut d) = x_and_y();
        assert!(!s.can_switchover());
        d.approve(at(5), DeviceId(0)).unwrap();
        pump(&mut s, &mut d, at(5));
        assert!(s.can_switchover());
        assert!(events_source(&mut s).contains(&Event::SwitchoverAcked { epoch: 1 }));
    }

    #[test]
    fn y_cannot_approve_because_it_does_not_take_part() {
        let (_, mut d) = x_and_y();
        let e = d.approve(at(5), DeviceId(1)).unwrap_err();
        assert_eq!(
            e,
            Error::with(ErrorCode::DeviceNotParticipating, dev("y", 1))
        );
        assert_eq!(d.pending(), 1);
    }
}

mod device_support {
    use super::*;

    #[test]
    fn source_wants_the_ack_for_a_device_the_destination_cannot_serve_fails_naming_the_device() {
        let mut s = source_with(
            &[(RP, REQ, 0), (ACK, REQ, 0)],
            &[("ram", false), ("nic", true)],
        );
        let mut d = destination_with(&[("ram", false), ("nic", false)]);
        setup(&mut s, &mut d);
        assert_same_verdict(&s, &d, ErrorCode::DeviceUnsupported, dev("nic", 1));
    }

    #[test]
    fn a_device_only_the_source_has_fails_naming_it() {
        let mut s = source_with(&[(RP, REQ, 0)], &[("ram", false), ("gpu", false)]);
        let mut d = destination_with(&[("ram", false)]);
        setup(&mut s, &mut d);
        assert_same_verdict(&s, &d, ErrorCode::DeviceMissingOnDestination, dev("gpu", 1));
    }

    #[test]
    fn a_device_only_the_destination_has_fails_naming_it() {
        let mut s = source_with(&[(RP, REQ, 0)], &[("ram", false)]);
        let mut d = destination_with(&[("ram", false), ("tpm", false)]);
        setup(&mut s, &mut d);
        assert_same_verdict(&s, &d, ErrorCode::DeviceMissingOnSource, dev("tpm", 1));
    }

    #[test]
    fn zero_participating_devices_ack_right_after_welcome_in_the_same_flight() {
        let mut s = source_with(&[(RP, REQ, 0), (ACK, REQ, 0)], &[("ram", false)]);
        let mut d = destination_with(&[("ram", false)]);
        s.start(T0).unwrap();
        let hello = tx_source(&mut s, T0);
        d.handle_input(T0, &hello).unwrap();
        let answer = tx_destination(&mut d, T0);
        s.handle_input(T0, &answer).unwrap();
        assert_eq!(d.pending(), 0);
        assert!(
            s.can_switchover(),
            "Welcome, ChannelsReady and the ack came in one flight"
        );
        let ev = events_source(&mut s);
        assert_eq!(
            ev,
            [
                Event::Negotiated { version: 1 },
                Event::ChannelsReady,
                Event::SwitchoverAcked { epoch: 1 }
            ]
        );
    }
}

mod revoke {
    use super::*;

    fn acked() -> (Source, Destination) {
        let mut s = source_with(&[(RP, REQ, 0), (ACK, REQ, 0)], &[("vfio", true)]);
        let mut d = destination_with(&[("vfio", true)]);
        setup(&mut s, &mut d);
        d.approve(at(1), DeviceId(0)).unwrap();
        pump(&mut s, &mut d, at(1));
        assert!(s.can_switchover());
        events_source(&mut s);
        (s, d)
    }

    #[test]
    fn revoke_before_switchover_start_closes_the_gate_until_the_next_ack() {
        let (mut s, mut d) = acked();
        d.revoke(at(2), DeviceId(0)).unwrap();
        pump(&mut s, &mut d, at(2));
        assert!(!s.can_switchover());
        assert_eq!(
            events_source(&mut s),
            [Event::SwitchoverRevoked {
                device: DeviceId(0),
                epoch: 1
            }]
        );
        assert_eq!(
            s.start_switchover(at(3)).unwrap_err().code,
            ErrorCode::SwitchoverNotAllowed
        );
        d.approve(at(4), DeviceId(0)).unwrap();
        pump(&mut s, &mut d, at(4));
        assert!(s.can_switchover());
        assert_eq!(events_source(&mut s), [Event::SwitchoverAcked { epoch: 2 }]);
    }

    #[test]
    fn revoke_after_switchover_start_is_an_error_and_changes_nothing() {
        let (mut s, mut d) = acked();
        s.start_switchover(at(2)).unwrap();
        pump(&mut s, &mut d, at(2));
        assert_eq!(d.state(), DestinationState::SwitchedOver);
        let e = d.revoke(at(3), DeviceId(0)).unwrap_err();
        assert_eq!(
            e,
            Error::with(ErrorCode::RevokeAfterSwitchoverStart, dev("vfio", 0))
        );
        assert!(d.approved(DeviceId(0)));
        assert_eq!(d.pending(), 0);
        assert_eq!(s.state(), SourceState::SwitchedOver);
    }

    #[test]
    fn a_revoke_that_crosses_switchover_start_on_the_wire_leaves_the_decision_standing() {
        let (mut s, mut d) = acked();
        d.revoke(at(2), DeviceId(0)).unwrap();
        let revoke = tx_destination(&mut d, at(2));
        s.start_switchover(at(2)).unwrap();
        let start = tx_source(&mut s, at(2));
        s.handle_input(at(3), &revoke).unwrap();
        d.handle_input(at(3), &start).unwrap();
        assert_eq!(s.state(), SourceState::SwitchedOver);
        assert_eq!(d.state(), DestinationState::SwitchedOver);
    }
}

mod deadlines {
    use super::*;

    #[test]
    fn welcome_deadline_fails_the_source_and_tells_the_destination() {
        let mut s = source_with(&[(RP, REQ, 0)], &[]);
        let mut d = destination_with(&[]);
        s.start(T0).unwrap();
        let hello = tx_source(&mut s, T0);
        let deadline = s.poll_timeout().unwrap();
        assert_eq!(deadline, T0.after(s.config().welcome_timeout));
        s.handle_timeout(deadline);
        assert_eq!(s.error().unwrap().code, ErrorCode::WelcomeTimeout);
        // The destination was slow; it reads the Hello and the Abort together.
        let abort = tx_source(&mut s, deadline);
        let mut all = hello.clone();
        all.extend_from_slice(&abort);
        let _ = d.handle_input(deadline, &all);
        assert_eq!(verdicts(&s, &d).1.unwrap().code, ErrorCode::WelcomeTimeout);
    }

    #[test]
    fn hello_deadline_fails_the_destination() {
        let mut d = destination_with(&[]);
        let deadline = d.poll_timeout().unwrap();
        assert_eq!(deadline, T0.after(d.config().hello_timeout));
        d.handle_timeout(Instant(deadline.0 - 1));
        assert_eq!(d.state(), DestinationState::AwaitHello);
        d.handle_timeout(deadline);
        assert_eq!(d.error().unwrap().code, ErrorCode::HelloTimeout);
    }

    #[test]
    fn channels_deadline_names_the_missing_channels_on_both_sides() {
        let mut s = source_with(&[(MULTIFD, REQ, 4)], &[]);
        let mut d = destination_with(&[]);
        s.start(T0).unwrap();
        for i in [0u16, 1, 3] {
            let p = s
                .channel_preamble(ChannelId {
                    role: Role::Multifd,
                    index: i,
                })
                .unwrap();
            d.accept_channel(T0, &p).unwrap();
        }
        pump(&mut s, &mut d, T0);
        let deadline = d.poll_timeout().unwrap();
        assert_eq!(deadline, T0.after(d.config().channels_timeout));
        d.handle_timeout(deadline);
        pump(&mut s, &mut d, deadline);
        let detail = Detail::MissingChannels {
            role: Role::Multifd,
            index: 2,
            missing: 1,
        };
        assert_same_verdict(&s, &d, ErrorCode::ChannelsTimeout, detail);
    }

    #[test]
    fn ack_deadline_with_fail_policy_fails_both_sides() {
        let mut s = source_with(&[(RP, REQ, 0), (ACK, REQ, 0)], &[("vfio", true)]);
        let mut d = destination_with(&[("vfio", true)]);
        setup(&mut s, &mut d);
        let deadline = s.poll_timeout().unwrap();
        assert_eq!(deadline, T0.after(s.config().ack_timeout));
        s.handle_timeout(deadline);
        pump(&mut s, &mut d, deadline);
        assert_same_verdict(&s, &d, ErrorCode::AckTimeout, Detail::None);
    }

    #[test]
    fn ack_deadline_with_proceed_policy_waives_the_ack_and_both_sides_switch_over() {
        let mut cfg = SourceConfig::default();
        cfg.capabilities.set(RP, REQ, 0).unwrap();
        cfg.capabilities.set(ACK, REQ, 0).unwrap();
        cfg.ack_policy = AckPolicy::Proceed;
        let mut s = Source::new(cfg, NONCE).unwrap();
        s.add_device("vfio", 0, true).unwrap();
        let mut d = destination_with(&[("vfio", true)]);
        setup(&mut s, &mut d);
        let deadline = s.poll_timeout().unwrap();
        s.handle_timeout(deadline);
        assert!(events_source(&mut s).contains(&Event::AckWaived));
        assert!(s.can_switchover());
        s.start_switchover(deadline).unwrap();
        pump(&mut s, &mut d, deadline);
        assert_eq!(d.state(), DestinationState::SwitchedOver);
        assert!(
            events_destination(&mut d).contains(&Event::SwitchoverStarted {
                epoch: 0,
                waived: true
            })
        );
    }

    #[test]
    fn switchover_deadline_fails_a_destination_left_waiting_and_the_source_learns_it() {
        let mut s = source_with(&[(RP, REQ, 0)], &[]);
        let mut d = destination_with(&[]);
        setup(&mut s, &mut d);
        let deadline = d.poll_timeout().unwrap();
        assert_eq!(deadline, T0.after(d.config().switchover_timeout));
        d.handle_timeout(deadline);
        pump(&mut s, &mut d, deadline);
        assert_same_verdict(&s, &d, ErrorCode::SwitchoverTimeout, Detail::None);
    }

    #[test]
    fn no_state_waits_without_a_deadline() {
        let mut s = source_with(
            &[(RP, REQ, 0), (ACK, REQ, 0), (MULTIFD, REQ, 2)],
            &[("vfio", true)],
        );
        let mut d = destination_with(&[("vfio", true)]);
        assert!(d.poll_timeout().is_some(), "destination waiting for Hello");
        s.start(T0).unwrap();
        assert!(s.poll_timeout().is_some(), "source waiting for Welcome");
        pump(&mut s, &mut d, T0);
        assert!(
            s.poll_timeout().is_some(),
            "source waiting for channels and ack"
        );
        assert!(
            d.poll_timeout().is_some(),
            "destination waiting for channels"
        );
        open_channels(&s, &mut d, T0);
        d.approve(T0, DeviceId(0)).unwrap();
        pump(&mut s, &mut d, T0);
        assert!(s.can_switchover());
        assert!(
            d.poll_timeout().is_some(),
            "destination waiting for the decision"
        );
    }
}

mod versions {
    use super::*;
    use accord_core::wire::frame;
    use accord_core::wire::msg;

    /// A source from the future (versions 2..=3) meets this destination
    /// (1..=1): the destination rejects at the preamble, before reading a
    /// Hello it might not understand, and names both ranges.
    #[test]
    fn disjoint_version_ranges_are_rejected_at_the_preamble_naming_both_ranges() {
        let mut d = destination_with(&[]);
        let future = Preamble::main(VersionRange::new(2, 3), NONCE);
        let mut bytes = future.to_bytes().to_vec();
        bytes.extend_from_slice(&[0x01, 0x00, 0x02, 0xff, 0xff]); // a Hello we cannot parse
                                                                  // A refusal is no error of the call: only the preamble is read, the
                                                                  // Reject waits for poll_transmit, the verdict is the machine's.
        assert_eq!(d.handle_input(T0, &bytes), Ok(28));
        assert!(d.rejected());
        let e = d.error().cloned().unwrap();
        let want = Error::with(
            ErrorCode::NoCommonVersion,
            Detail::Versions {
                source: VersionRange::new(2, 3),
                destination: VersionRange::new(1, 1),
            },
        );
        assert_eq!(e, want);
        let out = tx_destination(&mut d, T0);
        let p = Preamble::decode(&out).unwrap().unwrap();
        assert_eq!((p.versions, p.nonce), (VersionRange::new(1, 1), NONCE));
        let f = frame::split(&out[28..]).unwrap().unwrap();
        assert_eq!(f.kind, frame::FrameType::Reject);
        assert_eq!(msg::decode_failure(f.payload).unwrap(), want);
    }
}
