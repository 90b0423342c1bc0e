//! The skeleton Source and Destination share: the agreement, the deadlines,
//! the failure and the events, and the checks both sides make the same way.

use crate::caps::Agreed;
use crate::channel::Role;
use crate::error::{Detail, Error, ErrorCode, PeerName, Result};
use crate::event::{Event, Events};
use crate::time::Instant;
use crate::version::{VersionRange, SUPPORTED};
use crate::wire::msg;
use crate::wire::preamble::Preamble;

/// What a machine waits for. Each side gives them its own meaning and
/// error code; the order is the order in which expired deadlines are judged.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) enum Timer {
    /// Source: Welcome (or Reject). Destination: Hello.
    Agreement = 0,
    /// Both: the complete channel set.
    Channels = 1,
    /// Source: the switchover-ack. Destination: the switchover decision.
    Switchover = 2,
}

impl Timer {
    const ALL: [Timer; 3] = [Timer::Agreement, Timer::Channels, Timer::Switchover];
}

/// One deadline per [`Timer`]; `None` when nothing is awaited.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct TimerTable([Option<Instant>; 3]);

impl TimerTable {
    /// Arm `t` to fire at `at`.
    pub(crate) fn set(&mut self, t: Timer, at: Instant) {
        if let Some(d) = self.0.get_mut(t as usize) {
            *d = Some(at);
        }
    }

    /// Disarm `t`.
    pub(crate) fn stop(&mut self, t: Timer) {
        if let Some(d) = self.0.get_mut(t as usize) {
            *d = None;
        }
    }

    /// Disarm every timer (a terminal state waits for nothing).
    pub(crate) fn stop_all(&mut self) {
        self.0 = [None; 3];
    }

    /// The earliest armed deadline.
    pub(crate) fn earliest(&self) -> Option<Instant> {
        let mut first: Option<Instant> = None;
        for d in self.0.iter().filter_map(real) {
            if first.is_none_or(|f| d < f) {
                first = Some(d);
            }
        }
        first
    }

    /// The first timer, in [`Timer`] order, whose deadline passed at `now`:
    /// a deadline fires at `now == deadline` already.
    pub(crate) fn expired(&self, now: Instant) -> Option<Timer> {
        Timer::ALL
            .into_iter()
            .zip(self.0.iter())
            .find(|(_, d)| real(d).is_some_and(|d| now >= d))
            .map(|(t, _)| t)
    }
}

/// A deadline at the end of time (a timeout that saturated to `u64::MAX`
/// ms, such as a `u64::MAX` timeout) is no deadline: it never fires.
fn real(d: &Option<Instant>) -> Option<Instant> {
    d.filter(|d| d.0 != u64::MAX)
}

/// The state both machines keep beside their own.
#[derive(Clone, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub(crate) struct Machine {
    /// The chosen protocol version, once agreed.
    pub(crate) version: Option<u8>,
    /// The agreed capabilities (empty before the agreement).
    pub(crate) agreed: Agreed,
    pub(crate) timers: TimerTable,
    /// Why the migration failed, once it has.
    pub(crate) error: Option<Error>,
    /// The device name of a peer's Reject or Abort, whole (see `error_device_name`).
    pub(crate) peer_name: PeerName,
    pub(crate) events: Events,
}

impl Machine {
    /// A machine's configured versions must be valid and overlap this
    /// build's. `source` says which side `ours` belongs to in the detail.
    pub(crate) fn check_versions(ours: VersionRange, source: bool) -> Result<()> {
        if ours.is_valid() && ours.highest_common(SUPPORTED).is_some() {
            return Ok(());
        }
        let (source, destination) = if source {
            (ours, SUPPORTED)
        } else {
            (SUPPORTED, ours)
        };
        Err(Error::with(
            ErrorCode::BadVersionRange,
            Detail::Versions {
                source,
                destination,
            },
        ))
    }

    /// The peer's preamble on the main channel must name the main channel.
    pub(crate) fn check_main(p: &Preamble) -> Result<()> {
        if p.role == Role::Main {
            return Ok(());
        }
        Err(Error::with(
            ErrorCode::UnexpectedFrame,
            Detail::Channel {
                role: p.role,
                index: p.index,
            },
        ))
    }

    /// The chosen protocol version (0 before the agreement).
    pub(crate) fn version(&self) -> u8 {
        self.version.unwrap_or(0)
    }

    /// See `Source::error_device_name`.
    pub(crate) fn error_device_name(&self) -> Option<&str> {
        match self.error.as_ref().map(|e| &e.detail) {
            Some(Detail::Device(d)) if self.peer_name.is_empty() => Some(d.name.as_str()),
            Some(Detail::Device(_)) => Some(self.peer_name.as_str()),
            _ => None,
        }
    }

    /// Record the failure: the Failed event, the error, no more deadlines.
    /// The caller changes its state and queues what the peer must hear.
    pub(crate) fn fail(&mut self, err: Error, by_peer: bool) {
        self.events.push(Event::Failed {
            code: err.code,
            by_peer,
        });
        self.error = Some(err);
        self.timers.stop_all();
    }

    /// A Reject or Abort arrived: record the error it carries (its device
    /// name kept whole) as [`Machine::fail`] does; the caller then enters
    /// its failed state. Out of line: its error temporaries stay off the
    /// stack of `on_frame`, which every frame passes through.
    #[inline(never)]
    pub(crate) fn fail_by_peer(&mut self, payload: &[u8]) -> Result<()> {
        let e = msg::decode_failure(payload)?;
        msg::failure_device_name(payload, &mut self.peer_name);
        self.fail(e, true);
        Ok(())
    }
}
