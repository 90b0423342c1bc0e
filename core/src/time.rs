//! Time as the caller passes it. accord never reads a clock: every call that
//! can start or check a wait takes the current [`Instant`].

use core::fmt;

/// A point on the caller's monotonic clock, in milliseconds from any origin.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant(pub u64);

/// A span of time in milliseconds.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Duration(pub u64);

impl Instant {
    /// Milliseconds since the caller's origin.
    pub const fn millis(self) -> u64 {
        self.0
    }

    /// `self + d`, saturating: a deadline past the end of time is "never" in
    /// practice but still a number, so no wait is unbounded in the type.
    pub const fn after(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.0))
    }

    /// Time from `earlier` to `self`, zero if the clock went backwards.
    pub const fn since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl Duration {
    /// From milliseconds.
    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms)
    }
    /// From seconds.
    pub const fn from_secs(s: u64) -> Self {
        Duration(s.saturating_mul(1000))
    }
    /// In milliseconds.
    pub const fn millis(self) -> u64 {
        self.0
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}ms", self.0)
    }
}
