//! Channel roles and names: what a preamble calls a connection.

use core::fmt;

use serde::{Deserialize, Serialize};

/// What a connection is for. The number is the preamble's role byte.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[repr(u8)]
pub enum Role {
    /// The main channel: handshake, then the migration stream.
    Main = 0,
    /// A multifd RAM channel, index 0..count-1.
    Multifd = 1,
    /// The postcopy-preempt channel (index 0 of 1).
    Preempt = 2,
    /// A device-state channel, index 0..count-1.
    DeviceState = 3,
}

impl Role {
    /// Every role, in wire order.
    pub const ALL: [Role; 4] = [Role::Main, Role::Multifd, Role::Preempt, Role::DeviceState];

    /// The role with this wire number.
    pub const fn from_u8(v: u8) -> Option<Role> {
        match v {
            0 => Some(Role::Main),
            1 => Some(Role::Multifd),
            2 => Some(Role::Preempt),
            3 => Some(Role::DeviceState),
            _ => None,
        }
    }

    /// Short lowercase name used in logs, errors and the demo.
    pub const fn as_str(self) -> &'static str {
        match self {
            Role::Main => "main",
            Role::Multifd => "multifd",
            Role::Preempt => "preempt",
            Role::DeviceState => "device-state",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A channel's name: its role and its index within the role.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChannelId {
    /// The role.
    pub role: Role,
    /// Index within the role.
    pub index: u16,
}

impl fmt::Display for ChannelId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.role, self.index)
    }
}
