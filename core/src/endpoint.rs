//! What Source and Destination share: reading the peer's preamble, then whole
//! frames, from the bytes the caller hands over.

use crate::error::{Error, Result};
use crate::event::{HELLO_EVENTS, QUEUE_LEN};
use crate::machine::Machine;
use crate::time::Instant;
use crate::wire::frame::{self, FrameType, RawFrame};
use crate::wire::preamble::{self, Preamble};

/// One side of the main channel, as the input driver sees it.
pub(crate) trait Endpoint {
    /// The skeleton both machines share.
    fn machine(&self) -> &Machine;
    /// The peer's preamble has not arrived yet.
    fn awaiting_preamble(&self) -> bool;
    /// The peer's preamble arrived.
    fn on_preamble(&mut self, p: Preamble) -> Result<()>;
    /// A whole frame arrived.
    fn on_frame(&mut self, now: Instant, f: RawFrame<'_>) -> Result<()>;
    /// The machine is in its terminal failed state.
    fn failed(&self) -> bool;
    /// The machine still reads frames from the main channel (not failed, and
    /// for the destination, not past SwitchoverStart: what follows it on the
    /// main channel is the migration stream, not accord's).
    fn reading(&self) -> bool {
        !self.failed()
    }
    /// Fail on this side's own finding (the peer gets an Abort).
    fn fail_local(&mut self, e: Error);
    /// The failure, once there is one.
    fn failure(&self) -> Option<&Error> {
        self.machine().error.as_ref()
    }
    /// Events queued so far (a wrapping count, see `Events::pushed`).
    fn events_pushed(&self) -> u32 {
        self.machine().events.pushed()
    }
}

/// Consume the preamble and every whole frame at the start of `data`.
/// Returns the bytes used; the rest belongs to an incomplete frame. Work is
/// linear in `data.len()`: every step consumes at least a frame header.
#[inline(never)]
pub(crate) fn feed(m: &mut dyn Endpoint, now: Instant, data: &[u8]) -> Result<usize> {
    let (used, failed) = feed_counted(m, now, data);
    match m.failure() {
        Some(e) if failed => Err(e.clone()),
        _ => Ok(used),
    }
}

/// As [`feed`], but returns the bytes used and whether the machine is now
/// failed (its error says why), also when it failed. No error is returned
/// by value: the firmware measures this path's stack, and the machine holds
/// the error already.
///
/// No event is lost to a caller that polls events after every call: a step
/// is taken only while the events this call has queued, plus the most that
/// step can queue, fit in the queue ([`QUEUE_LEN`]). The first step always
/// fits (a Hello's [`HELLO_EVENTS`] is at most `QUEUE_LEN`), so every call
/// makes progress; the destination never stops early (its whole handshake
/// queues at most [`crate::event::EVENTS_PER_CALL`]), the source only when more frames
/// that queue an event arrived at once than the queue holds.
#[inline(never)]
pub(crate) fn feed_counted(m: &mut dyn Endpoint, now: Instant, data: &[u8]) -> (usize, bool) {
    let mut used = 0usize;
    let start = m.events_pushed();
    while m.reading() {
        let rest = data.get(used..).unwrap_or(&[]);
        let queued = m.events_pushed().wrapping_sub(start) as usize;
        // A failure queues one event (Failed) in place of the step's own.
        let fits = |most: usize| queued.saturating_add(most) <= QUEUE_LEN;
        let step = if m.awaiting_preamble() {
            if !fits(1) {
                break;
            }
            match preamble_step(m, rest) {
                Ok(None) => break,
                Ok(Some(n)) => Ok(n),
                Err(e) => Err(e),
            }
        } else {
            match frame::split(rest) {
                Ok(None) => break,
                Ok(Some(f)) => {
                    let most = if f.kind == FrameType::Hello {
                        HELLO_EVENTS
                    } else {
                        1
                    };
                    if !fits(most) {
                        break;
                    }
                    m.on_frame(now, f).map(|_| f.len)
                }
                Err(e) if fits(1) => Err(e),
                Err(_) => break,
            }
        };
        match step {
            Ok(n) => used = used.saturating_add(n),
            Err(e) => {
                // The machine reads only while not failed, so it records `e`.
                m.fail_local(e);
                return (used, true);
            }
        }
    }
    (used, m.failed())
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
