//! Device tables: the source's list (with "wants switchover-ack") and the
//! destination's registry (with "supports switchover-ack").

use heapless::Vec;

use crate::capacity::{MAX_DEVICES, MAX_NAME_LEN};
use crate::error::{Detail, DeviceName, Error, ErrorCode, Result};
use crate::names::Name;

/// Build a [`Name`] from a string, refusing one that is too long.
pub fn name(s: &str) -> Result<Name> {
    let mut n = Name::new();
    n.push_str(s).map_err(|_| too_long(s))?;
    Ok(n)
}

/// The error for a name longer than [`MAX_NAME_LEN`].
fn too_long(s: &str) -> Error {
    Error::with(
        ErrorCode::InvalidArgument,
        Detail::Value {
            expected: MAX_NAME_LEN as u32,
            got: s.len() as u32,
        },
    )
}

/// A device's position in the local table of the side that registered it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeviceId(pub u16);

/// One device of a local table.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Device {
    /// idstr and instance id.
    pub name: DeviceName,
    /// Source: wants switchover-ack. Destination: supports it.
    pub ack: bool,
}

/// A fixed-capacity table of devices, unique by (idstr, instance).
#[derive(Clone, Debug, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeviceTable {
    devices: Vec<Device, MAX_DEVICES>,
}

impl DeviceTable {
    /// An empty table.
    pub const fn new() -> Self {
        DeviceTable {
            devices: Vec::new(),
        }
    }

    /// Add a device. Refuses an empty or too-long name, a duplicate, a full table.
    pub fn add(&mut self, name: &str, instance: u32, ack: bool) -> Result<DeviceId> {
        if name.is_empty() {
            return Err(Error::with(
                ErrorCode::InvalidArgument,
                Detail::Value {
                    expected: 1,
                    got: 0,
                },
            ));
        }
        if name.len() > MAX_NAME_LEN {
            return Err(too_long(name));
        }
        if self.find(name, instance).is_some() {
            let mut n = Name::new();
            let _ = n.push_str(name);
            return Err(Error::with(
                ErrorCode::DuplicateDevice,
                Detail::Device(DeviceName { name: n, instance }),
            ));
        }
        let id = DeviceId(self.devices.len() as u16);
        let empty = Device {
            name: DeviceName {
                name: Name::new(),
                instance,
            },
            ack,
        };
        if self.devices.push(empty).is_err() {
            return Err(Error::with(
                ErrorCode::CapacityExceeded,
                Detail::Value {
                    expected: MAX_DEVICES as u32,
                    got: MAX_DEVICES as u32 + 1,
                },
            ));
        }
        // The name is written in place, not built and moved (it fits: checked above).
        if let Some(d) = self.devices.last_mut() {
            let _ = d.name.name.push_str(name);
        }
        Ok(id)
    }

    /// Take back the device added last (a source whose Hello it would
    /// overflow refuses it).
    pub(crate) fn remove_last(&mut self) {
        let _ = self.devices.pop();
    }

    /// The device with this (idstr, instance).
    pub fn find(&self, name: &str, instance: u32) -> Option<DeviceId> {
        self.devices
            .iter()
            .position(|d| d.name.instance == instance && d.name.name.as_str() == name)
            .map(|i| DeviceId(i as u16))
    }

    /// As [`DeviceTable::find`], trying position `pos` first: both sides
    /// usually list devices in the same order.
    pub(crate) fn find_from(&self, pos: usize, name: &str, instance: u32) -> Option<DeviceId> {
        let same = DeviceId(pos as u16);
        match self.get(same) {
            Some(d) if d.name.instance == instance && d.name.name.as_str() == name => Some(same),
            _ => self.find(name, instance),
        }
    }

    /// The device with this id.
    pub fn get(&self, id: DeviceId) -> Option<&Device> {
        self.devices.get(id.0 as usize)
    }

    /// All devices, in registration order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Device> {
        self.devices.iter()
    }

    /// Number of devices.
    pub fn len(&self) -> usize {
        self.devices.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
    }

    /// The error detail naming device `id`.
    pub fn detail(&self, id: DeviceId) -> Detail {
        self.get(id)
            .map_or(Detail::None, |d| Detail::Device(d.name.clone()))
    }
}
