//! The be64 tags that structure a VFIO device's section body in QEMU's main
//! stream (`hw/vfio/vfio-migration-internal.h`, `VFIO_MIG_FLAG_*`).
//!
//! A VFIO section body is a series of tagged parts: `DEV_SETUP_STATE`,
//! `DEV_DATA_STATE` (then a be64 size and that many bytes of device data),
//! `DEV_CONFIG_STATE` (then the device's config space as vmstate), each
//! closed by `END_OF_STATE`. Two tags end a body on their own instead of
//! `END_OF_STATE`: `DEV_INIT_DATA_SENT`, on which the destination approves
//! the switchover for this device (the source's switchover-ack), and
//! `DEV_CONFIG_LOAD_READY` (QEMU 10.1+), which replaces the config space in
//! the non-iterable state when the device state goes over multifd and
//! `x-migration-load-config-after-iter` is on: the destination loads the
//! config only once every iterable part is in.
//!
//! accord does not load device state; these names serve tools that read a
//! capture (`accord-inspect`) and tests that check what a real QEMU sent.

/// One `VFIO_MIG_FLAG_*` tag.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u64)]
pub enum VfioTag {
    /// Closes a setup, data or config part.
    EndOfState = 0xffff_ffff_ef10_0001,
    /// The device's config space follows (vmstate), then `EndOfState`.
    DevConfigState = 0xffff_ffff_ef10_0002,
    /// Setup part (no data), then `EndOfState`.
    DevSetupState = 0xffff_ffff_ef10_0003,
    /// A be64 size and that many bytes of device data follow.
    DevDataState = 0xffff_ffff_ef10_0004,
    /// The device's initial precopy data is all sent: the destination
    /// approves the switchover for it. Ends the body.
    DevInitDataSent = 0xffff_ffff_ef10_0005,
    /// QEMU 10.1+: the config space went over multifd; load it after the
    /// iterables. Ends the body.
    DevConfigLoadReady = 0xffff_ffff_ef10_0006,
}

impl VfioTag {
    /// Every tag, in numeric order.
    pub const ALL: [VfioTag; 6] = [
        Self::EndOfState,
        Self::DevConfigState,
        Self::DevSetupState,
        Self::DevDataState,
        Self::DevInitDataSent,
        Self::DevConfigLoadReady,
    ];

    /// The tag with this value, if known.
    pub const fn from_u64(v: u64) -> Option<Self> {
        Some(match v {
            0xffff_ffff_ef10_0001 => Self::EndOfState,
            0xffff_ffff_ef10_0002 => Self::DevConfigState,
            0xffff_ffff_ef10_0003 => Self::DevSetupState,
            0xffff_ffff_ef10_0004 => Self::DevDataState,
            0xffff_ffff_ef10_0005 => Self::DevInitDataSent,
            0xffff_ffff_ef10_0006 => Self::DevConfigLoadReady,
            _ => return None,
        })
    }

    /// The tag's value on the wire (big-endian).
    pub const fn as_u64(self) -> u64 {
        self as u64
    }

    /// QEMU's name, without the `VFIO_MIG_FLAG_` prefix.
    pub const fn name(self) -> &'static str {
        match self {
            Self::EndOfState => "END_OF_STATE",
            Self::DevConfigState => "DEV_CONFIG_STATE",
            Self::DevSetupState => "DEV_SETUP_STATE",
            Self::DevDataState => "DEV_DATA_STATE",
            Self::DevInitDataSent => "DEV_INIT_DATA_SENT",
            Self::DevConfigLoadReady => "DEV_CONFIG_LOAD_READY",
        }
    }

    /// Whether the tag ends a section body by itself (QEMU's loader returns
    /// on it without waiting for `END_OF_STATE`).
    pub const fn ends_body(self) -> bool {
        matches!(
            self,
            Self::EndOfState | Self::DevInitDataSent | Self::DevConfigLoadReady
        )
    }
}

/// Whether a section idstr is a VFIO device's: QEMU registers it as
/// `<device id>/vfio`, or `vfio` when the device has no id.
pub fn is_vfio_idstr(idstr: &[u8]) -> bool {
    idstr == b"vfio" || idstr.ends_with(b"/vfio")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::legacy::test_util::hex;

    #[test]
    fn tags_are_qemus_values_and_round_trip() {
        for (i, t) in VfioTag::ALL.iter().enumerate() {
            assert_eq!(t.as_u64(), 0xffff_ffff_ef10_0001 + i as u64);
            assert_eq!(VfioTag::from_u64(t.as_u64()), Some(*t));
        }
        assert_eq!(VfioTag::from_u64(0xffff_ffff_ef10_0000), None);
        assert_eq!(VfioTag::from_u64(0xffff_ffff_ef10_0007), None);
    }

    #[test]
    fn config_load_ready_is_0xffffffffef100006_on_the_wire() {
        let b = hex("ff ff ff ff ef 10 00 06");
        let v = u64::from_be_bytes(b.as_slice().try_into().unwrap());
        assert_eq!(VfioTag::from_u64(v), Some(VfioTag::DevConfigLoadReady));
        assert_eq!(VfioTag::DevConfigLoadReady.name(), "DEV_CONFIG_LOAD_READY");
        assert!(VfioTag::DevConfigLoadReady.ends_body());
    }

    #[test]
    fn only_end_init_data_sent_and_config_load_ready_end_a_body() {
        let enders: [VfioTag; 3] = [
            VfioTag::EndOfState,
            VfioTag::DevInitDataSent,
            VfioTag::DevConfigLoadReady,
        ];
        for t in VfioTag::ALL {
            assert_eq!(t.ends_body(), enders.contains(&t), "{t:?}");
        }
    }

    #[test]
    fn vfio_sections_are_named_by_their_idstr() {
        assert!(is_vfio_idstr(b"0000:00:02.0/vfio"));
        assert!(is_vfio_idstr(b"vfio"));
        assert!(!is_vfio_idstr(b"ram"));
        assert!(!is_vfio_idstr(b"vfiox"));
    }
}
