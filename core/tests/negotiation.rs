//! The negotiation rule (docs/PROTOCOL.md §6) as a pure function of two offers.
mod common;
use accord_core::caps::negotiate;
use accord_core::*;
use common::*;

fn offer(entries: &[(CapabilityId, Level, u16)]) -> Offer {
    let mut o = Offer::new();
    for &(id, level, param) in entries {
        o.set(id, level, param).unwrap();
    }
    o
}

fn on(a: &Agreed) -> Vec<(u16, u16)> {
    a.entries().iter().map(|e| (e.id.0, e.param)).collect()
}

mod both_offer {
    use super::*;

    #[test]
    fn a_capability_both_sides_offer_is_on_whatever_the_levels() {
        for (l1, l2) in [(OPT, OPT), (OPT, REQ), (REQ, OPT), (REQ, REQ)] {
            let a = negotiate(&offer(&[(RP, l1, 0)]), &offer(&[(RP, l2, 0)])).unwrap();
            assert_eq!(on(&a), [(1, 0)]);
        }
    }

    #[test]
    fn the_agreed_channel_count_is_the_smaller_offer() {
        let a = negotiate(&offer(&[(MULTIFD, REQ, 8)]), &offer(&[(MULTIFD, OPT, 4)])).unwrap();
        assert_eq!(a.param(MULTIFD), 4);
        let a = negotiate(&offer(&[(MULTIFD, REQ, 2)]), &offer(&[(MULTIFD, OPT, 255)])).unwrap();
        assert_eq!(a.param(MULTIFD), 2);
    }

    #[test]
    fn the_default_destination_policy_accepts_every_catalog_capability() {
        let all: Vec<_> = CapabilityId::CATALOG
            .iter()
            .map(|&id| (id, REQ, if id.has_count() { 16 } else { 0 }))
            .collect();
        let a = negotiate(&offer(&all), &DestinationConfig::default().capabilities).unwrap();
        assert_eq!(a.entries().len(), CapabilityId::CATALOG.len());
    }
}

mod one_side_only {
    use super::*;

    #[test]
    fn required_by_the_source_and_missing_on_the_destination_fails_naming_it() {
        let e = negotiate(
            &offer(&[(RP, REQ, 0), (PC, REQ, 0)]),
            &offer(&[(RP, OPT, 0)]),
        )
        .unwrap_err();
        assert_eq!(
            e,
            Error::with(
                ErrorCode::CapabilityMissingOnDestination,
                Detail::Capability(PC)
            )
        );
    }

    #[test]
    fn required_by_the_destination_and_missing_on_the_source_fails_naming_it() {
        let e = negotiate(
            &offer(&[(RP, OPT, 0)]),
            &offer(&[(RP, OPT, 0), (MULTIFD, REQ, 4)]),
        )
        .unwrap_err();
        assert_eq!(
            e,
            Error::with(
                ErrorCode::CapabilityMissingOnSource,
                Detail::Capability(MULTIFD)
            )
        );
    }

    #[test]
    fn optional_on_one_side_only_drops_silently() {
        let a = negotiate(
            &offer(&[(RP, OPT, 0), (PC, OPT, 0)]),
            &offer(&[(RP, OPT, 0), (MULTIFD, OPT, 4)]),
        )
        .unwrap();
        assert_eq!(on(&a), [(1, 0)]);
    }

    #[test]
    fn the_lowest_failing_id_is_named_when_several_fail() {
        let e = negotiate(&offer(&[(PC, REQ, 0)]), &offer(&[(MULTIFD, REQ, 4)])).unwrap_err();
        assert_eq!(
            e,
            Error::with(
                ErrorCode::CapabilityMissingOnSource,
                Detail::Capability(MULTIFD)
            )
        );
    }

    #[test]
    fn a_vendor_capability_negotiates_like_any_other() {
        let v = CapabilityId(0x8001);
        let a = negotiate(&offer(&[(v, REQ, 7)]), &offer(&[(v, OPT, 9)])).unwrap();
        assert_eq!(on(&a), [(0x8001, 7)]);
        let e = negotiate(&offer(&[(v, REQ, 7)]), &offer(&[])).unwrap_err();
        assert_eq!(
            e,
            Error::with(
                ErrorCode::CapabilityMissingOnDestination,
                Detail::Capability(v)
            )
        );
    }
}

mod dependencies {
    use super::*;

    #[test]
    fn required_switchover_ack_without_return_path_fails_naming_both() {
        let e = negotiate(
            &offer(&[(RP, OPT, 0), (ACK, REQ, 0)]),
            &offer(&[(ACK, OPT, 0)]),
        )
        .unwrap_err();
        assert_eq!(
            e,
            Error::with(
                ErrorCode::CapabilityDependency,
                Detail::Dependency {
                    capability: ACK,
                    needs: RP
                }
            )
        );
    }

    #[test]
    fn optional_switchover_ack_without_return_path_drops_silently() {
        let a = negotiate(
            &offer(&[(RP, OPT, 0), (ACK, OPT, 0)]),
            &offer(&[(ACK, OPT, 0)]),
        )
        .unwrap();
        assert!(on(&a).is_empty());
    }

    #[test]
    fn postcopy_preempt_needs_postcopy_ram() {
        let e = negotiate(
            &offer(&[(PC, OPT, 0), (PREEMPT, REQ, 0)]),
            &offer(&[(PREEMPT, OPT, 0)]),
        )
        .unwrap_err();
        assert_eq!(
            e,
            Error::with(
                ErrorCode::CapabilityDependency,
                Detail::Dependency {
                    capability: PREEMPT,
                    needs: PC
                }
            )
        );
    }

    #[test]
    fn zero_copy_send_needs_multifd() {
        let z = CapabilityId::ZERO_COPY_SEND;
        let a = negotiate(
            &offer(&[(MULTIFD, OPT, 2), (z, OPT, 0)]),
            &offer(&[(z, OPT, 0)]),
        )
        .unwrap();
        assert!(!a.is_on(z));
    }

    #[test]
    fn a_local_offer_requiring_a_capability_without_its_dependency_is_refused_before_sending() {
        let e = offer(&[(ACK, REQ, 0)]).validate_local().unwrap_err();
        assert_eq!(
            e,
            Error::with(
                ErrorCode::InvalidOffer,
                Detail::Dependency {
                    capability: ACK,
                    needs: RP
                }
            )
        );
        let cfg = SourceConfig {
            capabilities: offer(&[(ACK, REQ, 0)]),
            ..SourceConfig::default()
        };
        assert_eq!(
            Source::new(cfg, NONCE).unwrap_err().code,
            ErrorCode::InvalidOffer
        );
    }
}

mod offers {
    use super::*;

    #[test]
    fn counted_capabilities_take_1_to_255_channels() {
        let mut o = Offer::new();
        assert_eq!(
            o.set(MULTIFD, REQ, 0).unwrap_err().code,
            ErrorCode::InvalidOffer
        );
        assert_eq!(
            o.set(MULTIFD, REQ, 256).unwrap_err().code,
            ErrorCode::InvalidOffer
        );
        o.set(MULTIFD, REQ, 255).unwrap();
        assert_eq!(
            o.set(RP, REQ, 1).unwrap_err().code,
            ErrorCode::InvalidOffer,
            "no parameter on return-path"
        );
    }

    #[test]
    fn reserved_ids_cannot_be_offered_locally() {
        let mut o = Offer::new();
        for id in [0u16, 9, 0x7fff] {
            assert_eq!(
                o.set(CapabilityId(id), OPT, 0).unwrap_err().code,
                ErrorCode::InvalidOffer
            );
        }
    }

    #[test]
    fn setting_a_capability_twice_replaces_it_and_keeps_ids_sorted() {
        let o = offer(&[(ACK, OPT, 0), (RP, OPT, 0), (ACK, REQ, 0)]);
        let ids: Vec<_> = o.entries().iter().map(|e| (e.id.0, e.required)).collect();
        assert_eq!(ids, [(1, false), (5, true)]);
    }

    #[test]
    fn catalog_names_are_qemus() {
        let names: Vec<_> = CapabilityId::CATALOG
            .iter()
            .map(|c| c.name().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "return-path",
                "multifd",
                "postcopy-ram",
                "postcopy-preempt",
                "switchover-ack",
                "zero-copy-send",
                "mapped-ram",
                "device-state"
            ]
        );
        assert_eq!(CapabilityId::from_name("switchover-ack"), Some(ACK));
    }
}

mod versions {
    use super::*;

    #[test]
    fn the_highest_common_version_is_chosen() {
        assert_eq!(
            VersionRange::new(1, 3).highest_common(VersionRange::new(2, 5)),
            Some(3)
        );
        assert_eq!(
            VersionRange::new(1, 1).highest_common(VersionRange::new(1, 4)),
            Some(1)
        );
    }

    #[test]
    fn disjoint_ranges_have_no_common_version() {
        assert_eq!(
            VersionRange::new(1, 2).highest_common(VersionRange::new(3, 4)),
            None
        );
    }

    #[test]
    fn zero_and_255_are_reserved() {
        assert!(!VersionRange::new(0, 1).is_valid());
        assert!(!VersionRange::new(1, 255).is_valid());
        assert!(!VersionRange::new(2, 1).is_valid());
        assert!(VersionRange::new(1, 254).is_valid());
    }
}

mod offer_building {
    use super::*;
    use accord_core::capacity::MAX_CAPABILITIES;

    #[test]
    fn set_keeps_ids_ascending_in_any_insertion_order_and_replaces_in_place() {
        let mut o = Offer::new();
        for id in [8u16, 2, 5, 0x8001, 1, 4, 3, 0x8000, 7, 6] {
            let param = if CapabilityId(id).has_count() { 3 } else { 0 };
            o.set(CapabilityId(id), OPT, param).unwrap();
        }
        let ids: Vec<u16> = o.entries().iter().map(|e| e.id.0).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5, 6, 7, 8, 0x8000, 0x8001]);
        o.set(MULTIFD, REQ, 9).unwrap();
        assert_eq!(o.entries().len(), 10);
        assert_eq!(
            o.get(MULTIFD),
            Some(&CapOffer {
                id: MULTIFD,
                required: true,
                param: 9
            })
        );
        o.remove(CapabilityId(5));
        let ids: Vec<u16> = o.entries().iter().map(|e| e.id.0).collect();
        assert_eq!(ids, [1, 2, 3, 4, 6, 7, 8, 0x8000, 0x8001]);
    }

    #[test]
    fn a_full_offer_refuses_a_new_id_and_stays_unchanged() {
        let mut o = Offer::new();
        // Vendor ids from the top down, so every insertion goes to the front.
        for k in 0..MAX_CAPABILITIES as u16 {
            o.set(CapabilityId(0xffff - k), OPT, k).unwrap();
        }
        let before = o.clone();
        let e = o.set(CapabilityId(0x8000), OPT, 0).unwrap_err();
        assert_eq!(e.code, ErrorCode::CapacityExceeded);
        assert_eq!(o, before);
        // Replacing an existing id still works when full.
        o.set(CapabilityId(0xffff), REQ, 1).unwrap();
        assert_eq!(o.entries().len(), MAX_CAPABILITIES);
        assert!(o.entries().windows(2).all(|w| w[0].id < w[1].id));
    }
}
