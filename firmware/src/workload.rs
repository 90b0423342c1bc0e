//! The workload the firmware proves: what accord-core does on the target.
//!
//! PLACEHOLDER until accord-core has its `Source` and `Destination` state
//! machines. Today it exercises the pure API that exists (capability offers,
//! the negotiation rule, the version rule). When the handshake lands,
//! replace the body of [`run_handshake`] with the full drive: a `Source`
//! and a `Destination` wired back to back through `poll_transmit` /
//! `handle_input` buffers, every wait's deadline driven by `handle_timeout`,
//! until the Destination has sent SwitchoverAck and the Source has seen it.
//! Call [`stack::checkpoint`] after each step (Hello, Welcome, channels,
//! approvals, ack) so the report shows the stack each one needs.
//!
//! Inputs pass through `black_box` so LLVM cannot fold the whole run into
//! constants at compile time: the code, its stack and its panic paths are
//! those of a run on data only known at run time.

use core::hint::black_box;

use accord_core::caps::negotiate;
use accord_core::version::SUPPORTED;
use accord_core::{CapabilityId, ErrorCode, Level, Offer, VersionRange};

use crate::stack;

/// Drive accord-core once; `Err` names the first check that failed.
pub fn run_handshake() -> Result<(), &'static str> {
    // Step 1: the source's offer, as a QEMU source with switchover-ack
    // and 8 multifd channels would make it; the destination's default.
    let mut source = Offer::new();
    source
        .set(black_box(CapabilityId::RETURN_PATH), Level::Required, 0)
        .map_err(|_| "source offer: return-path")?;
    source
        .set(black_box(CapabilityId::SWITCHOVER_ACK), Level::Required, 0)
        .map_err(|_| "source offer: switchover-ack")?;
    source
        .set(
            black_box(CapabilityId::MULTIFD),
            Level::Optional,
            black_box(8),
        )
        .map_err(|_| "source offer: multifd")?;
    source
        .validate_local()
        .map_err(|_| "source offer does not validate")?;
    let destination = black_box(Offer::all_optional());
    destination
        .validate_local()
        .map_err(|_| "destination offer does not validate")?;
    stack::checkpoint("offers");

    // Step 2: the destination's verdict, then the source's re-check.
    let agreed = negotiate(&source, &destination).map_err(|_| "negotiation failed")?;
    if agreed.entries().len() != 3
        || !agreed.is_on(CapabilityId::RETURN_PATH)
        || !agreed.is_on(CapabilityId::SWITCHOVER_ACK)
        || agreed.param(CapabilityId::MULTIFD) != 8
    {
        return Err("negotiation agreed the wrong set");
    }
    let again =
        negotiate(black_box(&source), black_box(&destination)).map_err(|_| "re-check failed")?;
    if again != agreed {
        return Err("source and destination derived different verdicts");
    }
    #[cfg(feature = "defmt")]
    defmt::info!("agreed {}", agreed);
    stack::checkpoint("negotiate");

    // Step 3: a destination without switchover-ack must fail at once,
    // with the code that names the side missing it.
    let mut old = destination.clone();
    old.remove(black_box(CapabilityId::SWITCHOVER_ACK));
    match negotiate(&source, &old) {
        Err(e) if e.code == ErrorCode::CapabilityMissingOnDestination => {}
        Err(_) => return Err("reject carried the wrong code"),
        Ok(_) => return Err("missing required capability was accepted"),
    }
    stack::checkpoint("reject");

    // Step 4: the version rule.
    let peer = black_box(VersionRange::new(1, 3));
    if SUPPORTED.highest_common(peer) != Some(SUPPORTED.max) {
        return Err("version rule");
    }
    if SUPPORTED
        .highest_common(black_box(VersionRange::new(200, 254)))
        .is_some()
    {
        return Err("disjoint version ranges agreed");
    }
    stack::checkpoint("version");
    Ok(())
}
