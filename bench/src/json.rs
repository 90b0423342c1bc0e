//! The JSON baseline: the same Hello and Welcome as serde structs, the text
//! form a management layer passes around. Names are borrowed from the input
//! when decoding (no allocation per name): the kindest setting for JSON.

use serde::{Deserialize, Serialize};

/// One capability offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapJson {
    /// Capability id.
    pub id: u16,
    /// Required or optional.
    pub required: bool,
    /// Parameter.
    pub param: u16,
}

/// One device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceJson<'a> {
    /// idstr.
    pub name: &'a str,
    /// Instance id.
    pub instance: u32,
    /// Wants switchover-ack.
    pub wants_ack: bool,
}

/// Hello.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloJson<'a> {
    /// Capability offers.
    pub caps: Vec<CapJson>,
    /// Devices.
    #[serde(borrow)]
    pub devices: Vec<DeviceJson<'a>>,
}

/// One enabled capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnabledJson {
    /// Capability id.
    pub id: u16,
    /// Agreed parameter.
    pub param: u16,
}

/// Welcome.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WelcomeJson {
    /// Chosen version.
    pub version: u8,
    /// The destination's offer.
    pub caps: Vec<CapJson>,
    /// Enabled capabilities.
    pub enabled: Vec<EnabledJson>,
    /// One verdict per device.
    pub verdicts: Vec<bool>,
}
