//! What the source and destination calls share: capability offers read
//! from C, the agreement and device records written to C.

use accord_core::{Agreed, CapabilityId, ErrorCode, Level, Offer};

use crate::error::*;
use crate::handle;
use crate::types::*;

/// Apply `caps` to `offer` (argument `position` of the call).
pub(crate) fn apply_caps(
    offer: &mut Offer,
    caps: *const accord_cap_offer,
    n: usize,
    position: u16,
) -> Result<(), Fail> {
    for c in handle::in_slice(caps, n, position)? {
        let id = CapabilityId(c.id);
        match c.level {
            ACCORD_LEVEL_NONE => offer.remove(id),
            ACCORD_LEVEL_OPTIONAL => offer.set(id, Level::Optional, c.param)?,
            ACCORD_LEVEL_REQUIRED => offer.set(id, Level::Required, c.param)?,
            other => {
                return Err(Fail::arg_value(
                    ACCORD_ERR_BAD_ENUM,
                    position,
                    u32::from(ACCORD_LEVEL_REQUIRED),
                    u32::from(other),
                ))
            }
        }
    }
    Ok(())
}

/// Write an agreement to C: the version to `*version` (argument 2, may be
/// NULL), the enabled capabilities to `caps` (3, `cap` entries), their
/// count to `*count` (5).
pub(crate) fn agreement(
    v: u8,
    agreed: &Agreed,
    version: *mut u8,
    caps: *mut accord_enabled,
    cap: usize,
    count: *mut usize,
) -> Result<(), Fail> {
    let n = handle::out_ref(count, 5)?;
    handle::opt_out(version, 2, v)?;
    let dst = handle::out_slice(caps, cap, 3)?;
    for (d, e) in dst.iter_mut().zip(agreed.entries()) {
        *d = accord_enabled {
            id: e.id.0,
            param: e.param,
        };
    }
    *n = agreed.entries().len();
    if *n > cap {
        return Err(Fail::code(ErrorCode::BufferTooSmall));
    }
    Ok(())
}

/// The C view of a device.
pub(crate) fn device_info(
    d: &accord_core::device::Device,
    participates: bool,
    approved: bool,
) -> accord_device_info {
    let mut i = accord_device_info {
        name: [0; ACCORD_DEVICE_NAME_SIZE],
        instance: d.name.instance,
        ack: u8::from(d.ack),
        participates: u8::from(participates),
        approved: u8::from(approved),
        reserved: 0,
    };
    copy_cstr(&mut i.name, d.name.name.as_str());
    i
}
