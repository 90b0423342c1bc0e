//! Protocol version ranges and the version rule: highest common version.

use core::fmt;

/// The versions this build of accord speaks.
pub const SUPPORTED: VersionRange = VersionRange { min: 1, max: 1 };

/// An inclusive range of protocol versions. Valid ranges satisfy
/// `1 <= min <= max <= 254`; 0 and 255 are reserved.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct VersionRange {
    /// Lowest version spoken.
    pub min: u8,
    /// Highest version spoken.
    pub max: u8,
}

impl VersionRange {
    /// A range, not yet validated.
    pub const fn new(min: u8, max: u8) -> Self {
        VersionRange { min, max }
    }

    /// Whether the range is one a peer may send.
    pub const fn is_valid(self) -> bool {
        self.min >= 1 && self.min <= self.max && self.max <= 254
    }

    /// The highest version in both ranges, if any.
    pub fn highest_common(self, other: VersionRange) -> Option<u8> {
        let hi = if self.max < other.max {
            self.max
        } else {
            other.max
        };
        let lo = if self.min > other.min {
            self.min
        } else {
            other.min
        };
        (lo <= hi).then_some(hi)
    }
}

impl fmt::Display for VersionRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..={}", self.min, self.max)
    }
}
