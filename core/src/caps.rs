//! The capability catalog and the negotiation rule.
//!
//! Each side offers capabilities as optional or required, some with a
//! parameter (a channel count). [`negotiate`] is a pure function of the two
//! offers: the destination runs it to build Welcome or Reject, the source runs
//! it again on the Welcome to check the destination did the same.

use core::fmt;

use heapless::Vec;
use serde::{Deserialize, Serialize};

use crate::capacity::MAX_CAPABILITIES;
use crate::error::{Detail, Error, ErrorCode, Result};

/// A capability's stable numeric id. Ids 1..=8 are the catalog below, the rest
/// of 1..=0x7fff is reserved for future catalog entries, and 0x8000..=0xffff is
/// for vendor extensions. Id 0 is invalid.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CapabilityId(pub u16);

impl CapabilityId {
    /// `return-path`: the destination may send messages back on the main channel.
    pub const RETURN_PATH: Self = Self(1);
    /// `multifd`: RAM travels on parallel channels; parameter = channel count 1..=255.
    pub const MULTIFD: Self = Self(2);
    /// `postcopy-ram`: the destination may run the VM before all RAM arrived.
    pub const POSTCOPY_RAM: Self = Self(3);
    /// `postcopy-preempt`: a separate channel for urgent postcopy page requests.
    pub const POSTCOPY_PREEMPT: Self = Self(4);
    /// `switchover-ack`: the source switches over only after the destination acks.
    pub const SWITCHOVER_ACK: Self = Self(5);
    /// `zero-copy-send`: multifd sends pages without copying them.
    pub const ZERO_COPY_SEND: Self = Self(6);
    /// `mapped-ram`: RAM pages at fixed offsets (file migration).
    pub const MAPPED_RAM: Self = Self(7);
    /// `device-state`: separate channels for device state; parameter = channel count 1..=255.
    pub const DEVICE_STATE: Self = Self(8);
    /// First id of the vendor extension range.
    pub const VENDOR_FIRST: u16 = 0x8000;

    /// Catalog entries, in id order.
    pub const CATALOG: &'static [CapabilityId] = &[
        Self::RETURN_PATH,
        Self::MULTIFD,
        Self::POSTCOPY_RAM,
        Self::POSTCOPY_PREEMPT,
        Self::SWITCHOVER_ACK,
        Self::ZERO_COPY_SEND,
        Self::MAPPED_RAM,
        Self::DEVICE_STATE,
    ];

    /// QEMU's name for a catalog capability.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1 => "return-path",
            2 => "multifd",
            3 => "postcopy-ram",
            4 => "postcopy-preempt",
            5 => "switchover-ack",
            6 => "zero-copy-send",
            7 => "mapped-ram",
            8 => "device-state",
            _ => return None,
        })
    }

    /// The catalog entry with this QEMU name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::CATALOG
            .iter()
            .copied()
            .find(|c| c.name() == Some(name))
    }

    /// Whether this id is in the catalog.
    pub const fn is_catalog(self) -> bool {
        self.0 >= 1 && self.0 <= 8
    }

    /// Whether this id is in the vendor range.
    pub const fn is_vendor(self) -> bool {
        self.0 >= Self::VENDOR_FIRST
    }

    /// Whether the capability carries a channel count as its parameter.
    pub const fn has_count(self) -> bool {
        self.0 == Self::MULTIFD.0 || self.0 == Self::DEVICE_STATE.0
    }

    /// The capability this one needs, per QEMU's rules.
    pub const fn needs(self) -> Option<CapabilityId> {
        match self.0 {
            5 => Some(Self::RETURN_PATH),
            4 => Some(Self::POSTCOPY_RAM),
            6 => Some(Self::MULTIFD),
            _ => None,
        }
    }
}

impl fmt::Display for CapabilityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "{n}"),
            None if self.is_vendor() => write!(f, "vendor-0x{:04x}", self.0),
            None => write!(f, "unknown-{}", self.0),
        }
    }
}

/// How much a side cares about a capability it offers.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Level {
    /// Use it if the peer offers it too; drop it silently otherwise.
    Optional,
    /// Fail the migration if the peer does not offer it.
    Required,
}

/// One capability as offered on the wire (§5.2 of the spec).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CapOffer {
    /// The capability.
    pub id: CapabilityId,
    /// Required (true) or optional (false).
    pub required: bool,
    /// Channel count for counted capabilities; 0 for the others in the catalog.
    pub param: u16,
}

impl CapOffer {
    /// The offer's level.
    pub const fn level(&self) -> Level {
        if self.required {
            Level::Required
        } else {
            Level::Optional
        }
    }
}

/// A capability that negotiation switched on, with its agreed parameter.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Enabled {
    /// The capability.
    pub id: CapabilityId,
    /// The agreed parameter: the smaller of the two offers.
    pub param: u16,
}

/// A side's capability offer: ids strictly ascending, at most
/// [`MAX_CAPABILITIES`] entries.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Offer {
    entries: Vec<CapOffer, MAX_CAPABILITIES>,
}

impl Offer {
    /// An empty offer.
    pub const fn new() -> Self {
        Offer {
            entries: Vec::new(),
        }
    }

    /// Every catalog capability as optional, counts at 255: the destination's
    /// default, which accepts whatever the source asks for.
    pub fn all_optional() -> Self {
        Self::all_optional_counted(255)
    }

    /// Every catalog capability as optional, counted ones at `count`
    /// (`1..=255`). Built in id order without [`Offer::set`], so an image
    /// whose only offer is this one (a destination's default) links no
    /// offer editing.
    pub(crate) fn all_optional_counted(count: u16) -> Self {
        let mut o = Offer::new();
        for &id in CapabilityId::CATALOG {
            let param = if id.has_count() { count } else { 0 };
            // The catalog is shorter than the minimum capacity (8), so this cannot fail.
            let _ = o.entries.push(CapOffer {
                id,
                required: false,
                param,
            });
        }
        o
    }

    /// Offer `id` at `level` with `param`, replacing an earlier offer of it.
    /// Counted capabilities need `1..=255`; other catalog entries need 0;
    /// reserved ids are refused because this side cannot support them.
    pub fn set(&mut self, id: CapabilityId, level: Level, param: u16) -> Result<()> {
        if !(id.is_catalog() || id.is_vendor()) {
            return Err(Error::with(ErrorCode::InvalidOffer, Detail::Capability(id)));
        }
        check_param(id, param)?;
        let entry = CapOffer {
            id,
            required: level == Level::Required,
            param,
        };
        // The first entry at or past `id`: `id` itself, or where it goes.
        let i = self
            .entries
            .iter()
            .position(|e| e.id >= id)
            .unwrap_or(self.entries.len());
        if let Some(e) = self.entries.get_mut(i).filter(|e| e.id == id) {
            *e = entry;
            return Ok(());
        }
        // Insert at `i` by carrying the new entry through the tail and
        // pushing the last one, rather than `Vec::insert`: its `ptr::copy`
        // links compiler-builtins' memmove (1.5 KiB of flash on Cortex-M,
        // used nowhere else in accord).
        if self.entries.is_full() {
            return Err(Error::with(
                ErrorCode::CapacityExceeded,
                Detail::Capability(id),
            ));
        }
        let mut carry = entry;
        for e in self.entries.iter_mut().skip(i) {
            core::mem::swap(e, &mut carry);
        }
        self.entries
            .push(carry)
            .map_err(|_| Error::with(ErrorCode::CapacityExceeded, Detail::Capability(id)))
    }

    /// Stop offering `id`.
    pub fn remove(&mut self, id: CapabilityId) {
        // retain, not Vec::remove(index): the latter keeps a bounds-check
        // panic at opt-level s, which the firmware's no-panic link refuses.
        self.entries.retain(|e| e.id != id);
    }

    /// The offer for `id`, if any.
    pub fn get(&self, id: CapabilityId) -> Option<&CapOffer> {
        // A linear walk: ids are unique, and at most MAX_CAPABILITIES
        // entries make a binary search's code not worth its flash.
        self.entries.iter().find(|e| e.id == id)
    }

    /// The entries in id order.
    pub fn entries(&self) -> &[CapOffer] {
        &self.entries
    }

    /// Append an entry decoded from the wire. Checks order and parameters.
    pub(crate) fn push_wire(&mut self, e: CapOffer) -> Result<()> {
        check_wire_entry(self.entries.last(), &e)?;
        self.entries
            .push(e)
            .map_err(|_| Error::with(ErrorCode::CapacityExceeded, Detail::Capability(e.id)))
    }

    /// A required capability whose dependency is not offered at all can never
    /// be satisfied: refuse such a configuration before anything is sent.
    pub fn validate_local(&self) -> Result<()> {
        for e in self.entries.iter().filter(|e| e.required) {
            if let Some(needs) = e.id.needs() {
                if self.get(needs).is_none() {
                    return Err(Error::with(
                        ErrorCode::InvalidOffer,
                        Detail::Dependency {
                            capability: e.id,
                            needs,
                        },
                    ));
                }
            }
        }
        Ok(())
    }
}

fn check_param(id: CapabilityId, param: u16) -> Result<()> {
    if param_ok(id, param) {
        Ok(())
    } else {
        Err(Error::with(ErrorCode::InvalidOffer, Detail::Capability(id)))
    }
}

fn param_ok(id: CapabilityId, param: u16) -> bool {
    if id.has_count() {
        (1..=255).contains(&param)
    } else if id.is_catalog() {
        param == 0
    } else {
        true
    }
}

/// Rules for one entry of a peer's offer list: ids strictly ascending, never 0,
/// catalog parameters in range. Unknown ids are fine: a newer peer may know more.
pub(crate) fn check_wire_entry(prev: Option<&CapOffer>, e: &CapOffer) -> Result<()> {
    // One error for every rule: it names the entry.
    if e.id.0 != 0 && prev.is_none_or(|p| p.id < e.id) && param_ok(e.id, e.param) {
        return Ok(());
    }
    Err(Error::with(
        ErrorCode::InvalidOffer,
        Detail::Capability(e.id),
    ))
}

/// The capabilities negotiation switched on, in id order.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Agreed {
    on: Vec<Enabled, MAX_CAPABILITIES>,
}

impl Agreed {
    /// Nothing switched on.
    pub const fn new() -> Self {
        Agreed { on: Vec::new() }
    }

    /// Whether `id` is on.
    pub fn is_on(&self, id: CapabilityId) -> bool {
        self.get(id).is_some()
    }

    /// The agreed entry for `id`.
    pub fn get(&self, id: CapabilityId) -> Option<&Enabled> {
        self.on.iter().find(|e| e.id == id)
    }

    /// Agreed parameter of `id`, 0 when off.
    pub fn param(&self, id: CapabilityId) -> u16 {
        self.get(id).map_or(0, |e| e.param)
    }

    /// The enabled capabilities in id order.
    pub fn entries(&self) -> &[Enabled] {
        &self.on
    }

    /// Append an entry decoded from the wire (order checked by the caller).
    pub(crate) fn push(&mut self, e: Enabled) -> Result<()> {
        if self.on.last().is_some_and(|p| p.id >= e.id) {
            return Err(Error::with(
                ErrorCode::MalformedPayload,
                Detail::Capability(e.id),
            ));
        }
        self.on
            .push(e)
            .map_err(|_| Error::with(ErrorCode::CapacityExceeded, Detail::Capability(e.id)))
    }

    /// Switch everything off.
    pub(crate) fn clear(&mut self) {
        self.on.clear();
    }

    fn remove(&mut self, id: CapabilityId) {
        self.on.retain(|e| e.id != id);
    }
}

/// The negotiation rule (§6 of the spec), a pure function of the two offers.
///
/// 1. A capability both sides offer is on, with the smaller parameter.
/// 2. Walking ids upwards, the first capability one side requires and the
///    other does not offer fails: `CapabilityMissingOnDestination` or
///    `CapabilityMissingOnSource`. Optional ones drop silently.
/// 3. A capability that is on while the one it needs is off is dropped if
///    both sides offered it as optional; otherwise `CapabilityDependency`.
pub fn negotiate(source: &Offer, destination: &Offer) -> Result<Agreed> {
    let mut agreed = Agreed::new();
    negotiate_into(source, destination, &mut agreed).map_err(Refusal::error)?;
    Ok(agreed)
}

/// Why [`negotiate_into`] refused: the code and the capability concerned,
/// with the one it needs for `CapabilityDependency`. Small and `Copy`, so
/// the negotiation's error path moves a few bytes, not an [`Error`].
#[derive(Copy, Clone, Debug)]
pub(crate) struct Refusal {
    pub(crate) code: ErrorCode,
    capability: CapabilityId,
    needs: Option<CapabilityId>,
}

impl Refusal {
    /// The detail [`negotiate`] reports.
    pub(crate) fn detail(self) -> Detail {
        match self.needs {
            Some(needs) => Detail::Dependency {
                capability: self.capability,
                needs,
            },
            None => Detail::Capability(self.capability),
        }
    }

    /// The error [`negotiate`] reports.
    pub(crate) fn error(self) -> Error {
        Error::with(self.code, self.detail())
    }
}

/// [`negotiate`], writing the agreement into `agreed` (empty on entry) so
/// that its 70-odd bytes are not moved through a `Result`. On a refusal,
/// `agreed` holds what was agreed so far.
pub(crate) fn negotiate_into(
    source: &Offer,
    destination: &Offer,
    agreed: &mut Agreed,
) -> core::result::Result<(), Refusal> {
    let refuse = |code, capability| Refusal {
        code,
        capability,
        needs: None,
    };
    let (s, d) = (source.entries(), destination.entries());
    let (mut i, mut j) = (0usize, 0usize);
    // A merge walk over two sorted lists: at most s.len() + d.len() steps.
    loop {
        let (a, b) = (s.get(i), d.get(j));
        match (a, b) {
            (None, None) => break,
            (Some(a), Some(b)) if a.id == b.id => {
                let param = if a.param < b.param { a.param } else { b.param };
                // Both offers ascend strictly, so the agreement does too.
                agreed
                    .on
                    .push(Enabled { id: a.id, param })
                    .map_err(|_| refuse(ErrorCode::CapacityExceeded, a.id))?;
                i += 1;
                j += 1;
            }
            (Some(a), b) if b.is_none_or(|b| a.id < b.id) => {
                if a.required {
                    return Err(refuse(ErrorCode::CapabilityMissingOnDestination, a.id));
                }
                i += 1;
            }
            (_, Some(b)) => {
                if b.required {
                    return Err(refuse(ErrorCode::CapabilityMissingOnSource, b.id));
                }
                j += 1;
            }
            // Unreachable by the guards above; ending the walk is the safe answer.
            (Some(_), None) => break,
        }
    }
    // Dependencies form chains of length one in the catalog, but a fixpoint
    // keeps the rule right if the catalog grows. Walking the agreement in
    // id order visits the catalog's entries in catalog order; every pass
    // but the last removes an entry, so the walk ends.
    loop {
        let mut changed = false;
        let mut k = 0;
        while let Some(&Enabled { id: cap, .. }) = agreed.on.get(k) {
            match cap.needs() {
                Some(needs) if !agreed.is_on(needs) => {
                    let required = source.get(cap).is_some_and(|o| o.required)
                        || destination.get(cap).is_some_and(|o| o.required);
                    if required {
                        return Err(Refusal {
                            code: ErrorCode::CapabilityDependency,
                            capability: cap,
                            needs: Some(needs),
                        });
                    }
                    agreed.remove(cap);
                    changed = true;
                }
                _ => k += 1,
            }
        }
        if !changed {
            break;
        }
    }
    Ok(())
}
