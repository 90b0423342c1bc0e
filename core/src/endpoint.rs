//! What Source and Destination share: reading the peer's preamble, then whole
//! frames, from the bytes the caller hands over.

use crate::error::{Error, Result};
use crate::time::Instant;
use crate::wire::frame::{self, RawFrame};
use crate::wire::preamble::{self, Preamble};

/// One side of the main channel, as the input driver sees it.
pub(crate) trait Endpoint {
    /// The peer's preamble has not arrived yet.
    fn awaiting_preamble(&self) -> bool;
    /// The peer's preamble arrived.
    fn on_preamble(&mut self, p: Preamble) -> Result<()>;
    /// A whole frame arrived.
    fn on_frame(&mut self, now: Instant, f: RawFrame<'_>) -> Result<()>;
    /// The machine is in its terminal failed state.
    fn failed(&self) -> bool;
    /// Fail on this side's own finding (the peer gets an Abort).
    fn fail_local(&mut self, e: Error);
    /// The failure, once there is one.
    fn failure(&self) -> Option<&Error>;
}

/// Consume the preamble and every whole frame at the start of `data`.
/// Returns the bytes used; the rest belongs to an incomplete frame. Work is
/// linear in `data.len()`: every step consumes at least a frame header.
#[inline(never)]
pub(crate) fn feed(m: &mut dyn Endpoint, now: Instant, data: &[u8]) -> Result<usize> {
    let mut used = 0usize;
    while !m.failed() {
        let rest = data.get(used..).unwrap_or(&[]);
        let step = if m.awaiting_preamble() {
            match preamble_step(m, rest) {
                Ok(None) => break,
                Ok(Some(n)) => Ok(n),
                Err(e) => Err(e),
            }
        } else {
            match frame::split(rest) {
                Ok(None) => break,
                Ok(Some(f)) => m.on_frame(now, f).map(|_| f.len),
                Err(e) => Err(e),
            }
        };
        match step {
            Ok(n) => used = used.saturating_add(n),
            Err(e) => {
                m.fail_local(e.clone());
                return Err(e);
            }
        }
    }
    match m.failure() {
        Some(e) if m.failed() => Err(e.clone()),
        _ => Ok(used),
    }
}

// Out of line: the preamble's temporaries stay off the stack while frames
// (Hello, the deepest step) are handled.
#[inline(never)]
fn preamble_step(m: &mut dyn Endpoint, rest: &[u8]) -> Result<Option<usize>> {
    match Preamble::decode(rest)? {
        None => Ok(None),
        Some(p) => m.on_preamble(p).map(|_| Some(preamble::LEN)),
    }
}
