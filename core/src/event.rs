//! What a state machine reports to its caller through `poll_event`.

use crate::capacity::{EVENT_QUEUE, MAX_EARLY_CHANNELS};
use crate::channel::ChannelId;
use crate::device::DeviceId;
use crate::error::ErrorCode;

/// Something the caller should know. Details (the agreement, the error) are
/// read from the state machine; events stay small and `Copy`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event {
    /// Negotiation succeeded: Welcome sent (destination) or accepted (source).
    Negotiated {
        /// The chosen protocol version.
        version: u8,
    },
    /// Destination: a secondary channel got its name.
    ChannelAssigned(ChannelId),
    /// Destination: a channel held before Welcome was refused once the agreement was known.
    ChannelRefused {
        /// The channel as its preamble named it.
        channel: ChannelId,
        /// Why.
        code: ErrorCode,
    },
    /// Destination: a lost channel came back.
    ChannelReattached(ChannelId),
    /// Every negotiated channel is attached (destination: ChannelsReady queued;
    /// source: ChannelsReady received).
    ChannelsReady,
    /// Destination: a device approved; `pending` are still to approve.
    DeviceApproved {
        /// The device (destination registry id).
        device: DeviceId,
        /// Participating devices still pending.
        pending: u16,
    },
    /// Destination: a device withdrew its approval.
    DeviceRevoked {
        /// The device (destination registry id).
        device: DeviceId,
        /// Participating devices now pending.
        pending: u16,
    },
    /// The switchover-ack was queued (destination) or received (source).
    SwitchoverAcked {
        /// Arming number.
        epoch: u32,
    },
    /// Source: the destination revoked the ack because `device` withdrew.
    SwitchoverRevoked {
        /// The device (source table id).
        device: DeviceId,
        /// The ack that no longer holds.
        epoch: u32,
    },
    /// Source: the ack deadline passed and the policy lets the migration proceed.
    AckWaived,
    /// The switchover decision was sent (source) or received (destination).
    SwitchoverStarted {
        /// The ack it rests on (0 without switchover-ack).
        epoch: u32,
        /// It rests on a waived ack.
        waived: bool,
    },
    /// The migration failed; `error()` has the detail.
    Failed {
        /// The error code.
        code: ErrorCode,
        /// The peer reported it (Reject or Abort) rather than this side finding it.
        by_peer: bool,
    },
}

/// The most events a destination queues for one Hello: Negotiated, the
/// outcome of every held channel (`MAX_EARLY_CHANNELS`), ChannelsReady,
/// SwitchoverAcked, and a Failed should queuing a frame fail.
pub const HELLO_EVENTS: usize = MAX_EARLY_CHANNELS + 4;

/// The most events one call queues when the queue was empty before it:
/// a Hello's ([`HELLO_EVENTS`]), then a SwitchoverStart's and a Failed in
/// the same input. Every other call queues at most 2 (an assignment and
/// ChannelsReady; an approval and SwitchoverAcked); the source's
/// `handle_input` stops before this call's events would exceed [`QUEUE_LEN`].
pub const EVENTS_PER_CALL: usize = HELLO_EVENTS + 2;

/// Events the queue holds: `ACCORD_EVENT_QUEUE`, raised to
/// [`EVENTS_PER_CALL`] if it is smaller, so that a caller that polls events
/// after every call never loses one, at any capacity.
pub const QUEUE_LEN: usize = if EVENT_QUEUE > EVENTS_PER_CALL {
    EVENT_QUEUE
} else {
    EVENTS_PER_CALL
};

/// A bounded event queue. If the caller never polls, the oldest events are
/// dropped and counted: state and error stay readable from the machine.
#[derive(Clone, Debug, Default)]
pub(crate) struct Events {
    queue: heapless::Deque<Event, QUEUE_LEN>,
    dropped: u32,
    /// Events ever queued (wrapping): `feed` bounds one call's events with it.
    pushed: u32,
}

// By hand: heapless's Deque has no defmt::Format.
#[cfg(feature = "defmt")]
impl defmt::Format for Events {
    fn format(&self, f: defmt::Formatter<'_>) {
        let (a, b) = self.queue.as_slices();
        defmt::write!(
            f,
            "Events {{ queued: {=[?]} {=[?]}, dropped: {=u32}, pushed: {=u32} }}",
            a,
            b,
            self.dropped,
            self.pushed
        )
    }
}

impl Events {
    pub(crate) fn push(&mut self, e: Event) {
        if self.queue.is_full() {
            self.queue.pop_front();
            self.dropped = self.dropped.saturating_add(1);
        }
        let _ = self.queue.push_back(e);
        self.pushed = self.pushed.wrapping_add(1);
    }

    pub(crate) fn pushed(&self) -> u32 {
        self.pushed
    }

    pub(crate) fn pop(&mut self) -> Option<Event> {
        self.queue.pop_front()
    }

    pub(crate) fn dropped(&self) -> u32 {
        self.dropped
    }
}
