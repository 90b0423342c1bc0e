//! Frame payloads. Lists are written and read one element at a time (see
//! [`Reader`]), so a Hello with many devices never sits whole on the stack;
//! the bytes are exactly postcard's encoding of the structs in the spec (§5).

use serde::{Deserialize, Serialize};

use crate::capacity::{MAX_CAPABILITIES, MAX_DEVICES, MAX_NAME_LEN};
use crate::caps::{Agreed, CapOffer, Enabled, Offer};
use crate::channel::Role;
use crate::error::{Detail, DeviceName, Error, ErrorCode, PeerName, Result, MAX_PEER_NAME_LEN};
use crate::version::VersionRange;
use crate::wire::frame::{self, FrameType};
use crate::wire::{malformed, too_small, Reader, Writer};
use crate::{CapabilityId, Name};

/// One device as the source lists it in Hello.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct DeviceOffer<'a> {
    /// The idstr (QEMU's section name), at most `MAX_NAME_LEN` bytes.
    pub name: &'a str,
    /// The instance id.
    pub instance: u32,
    /// Whether the source wants switchover-ack for this device.
    pub wants_ack: bool,
}

/// A list read lazily from a payload: its length and a reader at its first element.
#[derive(Copy, Clone, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct List<'a> {
    len: usize,
    reader: Reader<'a>,
}

impl<'a> List<'a> {
    /// Number of elements.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Whether the list is empty.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Walk a Hello's device list. Decoding was checked when the payload was
    /// parsed, so an error here means the caller built the `List` some other
    /// way. The names were checked as UTF-8 once, for the whole list, when
    /// the payload was decoded, so they are only sliced here.
    pub fn devices(&self) -> impl Iterator<Item = Result<DeviceOffer<'a>>> + 'a {
        let mut r = self.reader;
        let text = if self.len > 0 { r.rest_as_text() } else { None };
        (0..self.len).map(move |_| read_device(&mut r, text).ok_or(malformed()))
    }

    /// Walk a Welcome's verdict list (errors: see [`List::devices`]).
    pub fn bools(&self) -> impl Iterator<Item = Result<bool>> + 'a {
        let mut r = self.reader;
        (0..self.len).map(move |_| r.bool().ok_or(malformed()))
    }
}

// Into the caller's offer: a `Result<Offer>` would be one more large
// temporary on the decoder's stack.
fn read_offer(r: &mut Reader<'_>, offer: &mut Offer) -> Result<()> {
    let n = r.len(MAX_CAPABILITIES)?;
    for _ in 0..n {
        offer.push_wire(read_cap(r).ok_or(malformed())?)?;
    }
    Ok(())
}

fn write_offer(w: &mut Writer<'_>, offer: &Offer) -> Option<()> {
    w.varint(offer.entries().len() as u32)?;
    offer.entries().iter().try_for_each(|e| write_cap(w, e))
}

/// A [`CapOffer`], byte for byte as postcard writes it.
#[inline]
fn write_cap(w: &mut Writer<'_>, e: &CapOffer) -> Option<()> {
    w.varint(e.id.0.into())?;
    w.byte(e.required.into())?;
    w.varint(e.param.into())
}

/// A [`CapOffer`], accepting and refusing what postcard does.
#[inline]
fn read_cap(r: &mut Reader<'_>) -> Option<CapOffer> {
    let id = CapabilityId(r.u16()?);
    let required = r.bool()?;
    let param = r.u16()?;
    Some(CapOffer {
        id,
        required,
        param,
    })
}

/// An [`Enabled`], accepting and refusing what postcard does.
#[inline]
fn read_enabled(r: &mut Reader<'_>) -> Option<Enabled> {
    let id = CapabilityId(r.u16()?);
    let param = r.u16()?;
    Some(Enabled { id, param })
}

/// A [`DeviceOffer`], accepting and refusing what postcard does. A failed
/// read leaves the reader where it was.
///
/// `text`: see [`Reader::str`].
#[inline]
fn read_device<'a>(r: &mut Reader<'a>, text: Option<&'a str>) -> Option<DeviceOffer<'a>> {
    let mut t = *r;
    let name = t.str(text)?;
    let instance = u32::try_from(t.varint(u32::BITS)?).ok()?;
    let wants_ack = t.bool()?;
    *r = t;
    Some(DeviceOffer {
        name,
        instance,
        wants_ack,
    })
}

/// Bytes of `v` as a postcard varint (1 to 5).
const fn varint_len(v: u32) -> usize {
    let bits = 32 - v.leading_zeros();
    if bits == 0 {
        1
    } else {
        bits.div_ceil(7) as usize
    }
}

/// Bytes [`write_device`] writes for `d` (saturating: never overflows).
fn device_len(d: &DeviceOffer<'_>) -> usize {
    let name = u32::try_from(d.name.len()).unwrap_or(u32::MAX);
    varint_len(name)
        .saturating_add(d.name.len())
        .saturating_add(varint_len(d.instance))
        .saturating_add(1)
}

/// A [`DeviceOffer`], byte for byte as postcard writes it.
#[inline]
fn write_device(w: &mut Writer<'_>, d: &DeviceOffer<'_>) -> Option<()> {
    w.str(d.name)?;
    w.varint(d.instance)?;
    w.byte(d.wants_ack.into())
}

/// Hello: the source's capability offer and device list.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Hello<'a> {
    /// The source's offer.
    pub offer: Offer,
    /// The source's devices, as [`DeviceOffer`]s.
    pub devices: List<'a>,
}

impl<'a> Hello<'a> {
    /// Decode and check a Hello payload: offer rules, names within
    /// `MAX_NAME_LEN`, at most `MAX_DEVICES` devices, no trailing bytes.
    #[inline(never)]
    pub fn decode(payload: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        let mut offer = Offer::new();
        read_offer(&mut r, &mut offer)?;
        // One walk both checks that every device decodes and its name length;
        // a bad name is reported after the trailing-bytes check.
        let len = r.len(MAX_DEVICES)?;
        let start = r;
        let text = if len > 0 { r.rest_as_text() } else { None };
        let mut bad_name = None;
        for _ in 0..len {
            let d = read_device(&mut r, text).ok_or(malformed())?;
            if bad_name.is_none() && (d.name.is_empty() || d.name.len() > MAX_NAME_LEN) {
                bad_name = Some(d.name.len());
            }
        }
        r.finish()?;
        if let Some(got) = bad_name {
            return Err(Error::with(
                ErrorCode::InvalidArgument,
                Detail::Value {
                    expected: MAX_NAME_LEN as u32,
                    got: got as u32,
                },
            ));
        }
        let devices = List { len, reader: start };
        Ok(Hello { offer, devices })
    }

    /// Encode a Hello payload from an offer and a device iterator.
    pub fn encode<'d>(
        out: &mut [u8],
        offer: &Offer,
        devices: impl ExactSizeIterator<Item = DeviceOffer<'d>>,
    ) -> Result<usize> {
        u32::try_from(devices.len()).map_err(|_| Error::new(ErrorCode::FrameTooLarge))?;
        write_exact(out, |w| Self::write(w, offer, devices))
    }

    /// The length of the payload [`Hello::write`] writes, exactly
    /// (saturating at `usize::MAX`), without writing it: a source checks
    /// with it that its Hello still fits in a frame.
    pub fn payload_len<'d>(
        offer: &Offer,
        devices: impl ExactSizeIterator<Item = DeviceOffer<'d>>,
    ) -> usize {
        let caps = offer.entries().iter().fold(
            varint_len(u32::try_from(offer.entries().len()).unwrap_or(u32::MAX)),
            |n, e| {
                n.saturating_add(varint_len(e.id.0.into()))
                    .saturating_add(1)
                    .saturating_add(varint_len(e.param.into()))
            },
        );
        let count = varint_len(u32::try_from(devices.len()).unwrap_or(u32::MAX));
        devices.fold(caps.saturating_add(count), |n, d| {
            n.saturating_add(device_len(&d))
        })
    }

    /// The payload, for a frame writer (`None`: the buffer is full).
    pub(crate) fn write<'d>(
        w: &mut Writer<'_>,
        offer: &Offer,
        devices: impl ExactSizeIterator<Item = DeviceOffer<'d>>,
    ) -> Option<()> {
        write_offer(w, offer)?;
        w.varint(u32::try_from(devices.len()).ok()?)?;
        for d in devices {
            write_device(w, &d)?;
        }
        Some(())
    }
}

/// Welcome: the agreement, with the destination's own offer so the source can
/// recompute it, and one verdict per source device (true = participates).
#[derive(Clone, Debug)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Welcome<'a> {
    /// The chosen protocol version.
    pub version: u8,
    /// The destination's offer.
    pub offer: Offer,
    /// The capabilities switched on.
    pub agreed: Agreed,
    /// Per source device, in Hello order: takes part in switchover-ack.
    pub verdicts: List<'a>,
}

impl<'a> Welcome<'a> {
    /// Decode and check a Welcome payload.
    #[inline(never)]
    pub fn decode(payload: &'a [u8]) -> Result<Self> {
        let mut r = Reader::new(payload);
        let version = r.u8().ok_or(malformed())?;
        let mut offer = Offer::new();
        read_offer(&mut r, &mut offer)?;
        let n = r.len(MAX_CAPABILITIES)?;
        let mut agreed = Agreed::new();
        for _ in 0..n {
            agreed.push(read_enabled(&mut r).ok_or(malformed())?)?;
        }
        let len = r.len(MAX_DEVICES)?;
        let start = r;
        for _ in 0..len {
            r.bool().ok_or(malformed())?;
        }
        let verdicts = List { len, reader: start };
        r.finish()?;
        Ok(Welcome {
            version,
            offer,
            agreed,
            verdicts,
        })
    }

    /// Encode a Welcome payload.
    pub fn encode(
        out: &mut [u8],
        version: u8,
        offer: &Offer,
        agreed: &Agreed,
        verdicts: impl ExactSizeIterator<Item = bool>,
    ) -> Result<usize> {
        u32::try_from(verdicts.len()).map_err(|_| Error::new(ErrorCode::FrameTooLarge))?;
        write_exact(out, |w| Self::write(w, version, offer, agreed, verdicts))
    }

    /// The payload, for a frame writer (`None`: the buffer is full).
    pub(crate) fn write(
        w: &mut Writer<'_>,
        version: u8,
        offer: &Offer,
        agreed: &Agreed,
        verdicts: impl ExactSizeIterator<Item = bool>,
    ) -> Option<()> {
        w.byte(version)?;
        write_offer(w, offer)?;
        w.varint(agreed.entries().len() as u32)?;
        agreed.entries().iter().try_for_each(|e| {
            w.varint(e.id.0.into())?;
            w.varint(e.param.into())
        })?;
        w.varint(u32::try_from(verdicts.len()).ok()?)?;
        for v in verdicts {
            w.byte(v.into())?;
        }
        Some(())
    }
}

/// A peer's device name longer than our capacity is shortened (at a character
/// boundary) rather than refused: it only decorates an error.
fn truncated(s: &str) -> Name {
    let mut n = Name::new();
    let _ = n.push_str(cut(s, MAX_NAME_LEN));
    n
}

/// The longest start of `s` of at most `max` bytes that ends on a
/// character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    s.get(..end).unwrap_or_default()
}

/// Encode a Reject or Abort payload.
pub fn encode_failure(out: &mut [u8], err: &Error) -> Result<usize> {
    let mut w = Writer::new(out);
    write_failure(&mut w, err).ok_or(too_small())?;
    Ok(w.position())
}

// The detail's fields, variant by variant (§5.4: frozen), as field kinds:
// the codec walks this table instead of spelling out nine readers and nine
// writers (a third of the flash on a microcontroller).
const END: u8 = 0;
const U16: u8 = 1;
const U32: u8 = 2;
const U8: u8 = 3;
const ROLE: u8 = 4;
const STR: u8 = 5;
const SHAPES: [[u8; 4]; 9] = [
    [END; 4],              // None
    [U16, END, END, END],  // Capability(u16)
    [U16, U16, END, END],  // Dependency { capability, needs }
    [STR, U32, END, END],  // Device { name, instance }
    [U8, U8, U8, U8],      // Versions { source_min, .., destination_max }
    [ROLE, U16, END, END], // Channel { role, index }
    [ROLE, U16, U16, END], // MissingChannels { role, index, missing }
    [U8, END, END, END],   // Frame(u8)
    [U32, U32, END, END],  // Value { expected, got }
];

/// Write a Reject or Abort payload for `err`, or for `LocalAbort` without
/// detail if there is none (without copying the error).
pub(crate) fn write_abort(w: &mut Writer<'_>, err: Option<&Error>) -> Option<()> {
    match err {
        Some(e) => write_failure(w, e),
        None => write_failure(w, &Error::new(ErrorCode::LocalAbort)),
    }
}

/// A Reject or Abort payload, byte for byte as postcard writes the serde
/// form (`code: u16`, then the detail as an enum: its variant index, then
/// its fields in the order of [`SHAPES`]).
pub(crate) fn write_failure(w: &mut Writer<'_>, err: &Error) -> Option<()> {
    w.varint(err.code.as_u16().into())?;
    let (tag, v, name): (u8, [u32; 4], &str) = match &err.detail {
        Detail::None => (0, [0; 4], ""),
        Detail::Capability(c) => (1, [c.0.into(), 0, 0, 0], ""),
        Detail::Dependency { capability, needs } => {
            (2, [capability.0.into(), needs.0.into(), 0, 0], "")
        }
        Detail::Device(d) => (3, [0, d.instance, 0, 0], d.name.as_str()),
        Detail::Versions {
            source,
            destination,
        } => (
            4,
            [
                source.min.into(),
                source.max.into(),
                destination.min.into(),
                destination.max.into(),
            ],
            "",
        ),
        Detail::Channel { role, index } => (5, [*role as u32, (*index).into(), 0, 0], ""),
        Detail::MissingChannels {
            role,
            index,
            missing,
        } => (6, [*role as u32, (*index).into(), (*missing).into(), 0], ""),
        Detail::Frame(t) => (7, [(*t).into(), 0, 0, 0], ""),
        Detail::Value { expected, got } => (8, [*expected, *got, 0, 0], ""),
    };
    // Every variant index is below 0x80: one varint byte.
    w.byte(tag)?;
    let shape = SHAPES.get(usize::from(tag))?;
    for (&kind, &x) in shape.iter().zip(&v) {
        match kind {
            END => break,
            // A u8, and a role's variant index (below 0x80): one byte.
            U8 | ROLE => w.byte(x as u8)?,
            STR => w.str(name)?,
            _ => w.varint(x)?,
        }
    }
    Some(())
}

/// A Reject or Abort payload's detail, accepting and refusing what postcard
/// does for the serde form (see [`write_failure`]): the fields are read by
/// the [`SHAPES`] table, then placed.
fn read_detail(r: &mut Reader<'_>) -> Option<Detail> {
    let tag = r.u32()?;
    let shape = SHAPES.get(usize::try_from(tag).ok()?)?;
    let mut v = [0u32; 4];
    let mut name = "";
    let mut role = Role::Main;
    for (&kind, x) in shape.iter().zip(&mut v) {
        *x = match kind {
            END => break,
            U16 => r.u16()?.into(),
            U8 => r.u8()?.into(),
            ROLE => {
                role = r.role()?;
                0
            }
            STR => {
                name = r.str(None)?;
                0
            }
            _ => r.u32()?,
        };
    }
    // Each value came from a reader of its field's width: the casts are exact.
    let [a, b, c, d] = v;
    Some(match tag {
        0 => Detail::None,
        1 => Detail::Capability(CapabilityId(a as u16)),
        2 => Detail::Dependency {
            capability: CapabilityId(a as u16),
            needs: CapabilityId(b as u16),
        },
        3 => Detail::Device(DeviceName {
            name: truncated(name),
            instance: b,
        }),
        4 => Detail::Versions {
            source: VersionRange::new(a as u8, b as u8),
            destination: VersionRange::new(c as u8, d as u8),
        },
        5 => Detail::Channel {
            role,
            index: b as u16,
        },
        6 => Detail::MissingChannels {
            role,
            index: b as u16,
            missing: c as u16,
        },
        7 => Detail::Frame(a as u8),
        _ => Detail::Value {
            expected: a,
            got: b,
        },
    })
}

/// Decode a Reject or Abort payload. A code this version does not know
/// becomes `UnknownPeerError` with the number in its detail.
pub fn decode_failure(payload: &[u8]) -> Result<Error> {
    let mut r = Reader::new(payload);
    let code = r.u16().ok_or(malformed())?;
    let detail = read_detail(&mut r).ok_or(malformed())?;
    r.finish()?;
    Ok(match ErrorCode::from_u16(code) {
        Some(code) => Error::with(code, detail),
        None => Error::with(
            ErrorCode::UnknownPeerError,
            Detail::Value {
                expected: 0,
                got: code as u32,
            },
        ),
    })
}

/// Write the device name of a Reject or Abort payload's detail into `out`,
/// whole up to [`MAX_PEER_NAME_LEN`] bytes (cut at a character boundary
/// beyond), where [`decode_failure`] keeps only this build's `MAX_NAME_LEN`.
/// `out` is left empty when the detail names no device. In place, so that
/// the 255-byte buffer never sits on the stack (the firmware measures it).
pub fn failure_device_name(payload: &[u8], out: &mut PeerName) {
    out.clear();
    let mut r = Reader::new(payload);
    let name = r
        .u16()
        .and_then(|_| r.u32())
        .filter(|&tag| tag == 3)
        .and_then(|_| r.str(None))
        .unwrap_or_default();
    let _ = out.push_str(cut(name, MAX_PEER_NAME_LEN));
}

/// ChannelsReady: the counts of the attached set, which equals the negotiated set.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ChannelsReady {
    /// Multifd channels 0..multifd attached.
    pub multifd: u16,
    /// The preempt channel attached.
    pub preempt: bool,
    /// Device-state channels 0..device_state attached.
    pub device_state: u16,
}

/// SwitchoverAck: every participating device approved, for arming `epoch`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SwitchoverAck {
    /// Arming number, 1 for the first ack, one more after each revoke.
    pub epoch: u32,
}

/// SwitchoverRevoke: `device` withdrew its approval, and with it ack `epoch`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SwitchoverRevoke {
    /// The ack this revokes.
    pub epoch: u32,
    /// The device's position in the source's Hello list.
    pub device: u16,
}

/// SwitchoverStart: the source's final decision to switch over.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SwitchoverStart {
    /// The ack the decision rests on; 0 when switchover-ack is off.
    pub epoch: u32,
    /// The ack deadline passed and the source's policy let it proceed.
    pub waived: bool,
}

/// Read a fixed-shape payload with `f`; refuse it if `f` fails or bytes are left.
#[inline]
fn read_exact<'a, T>(payload: &'a [u8], f: impl FnOnce(&mut Reader<'a>) -> Option<T>) -> Result<T> {
    let mut r = Reader::new(payload);
    match f(&mut r) {
        Some(v) if r.is_empty() => Ok(v),
        _ => Err(malformed()),
    }
}

/// Write a payload with `f`; returns the bytes written.
#[inline]
fn write_exact(out: &mut [u8], f: impl FnOnce(&mut Writer<'_>) -> Option<()>) -> Result<usize> {
    let mut w = Writer::new(out);
    f(&mut w).ok_or(too_small())?;
    Ok(w.position())
}

/// A fixed-shape payload (§5.5, §5.6): its fields one after another. Its
/// one reader and one writer serve the machines (`write` inside their frame
/// writer) and everybody else (`decode`, `encode`, `encode_frame`).
pub(crate) trait Payload: Sized {
    /// The frame type that carries it.
    const KIND: FrameType;
    /// Read the fields (`None`: malformed).
    fn read(r: &mut Reader<'_>) -> Option<Self>;
    /// Write the fields (`None`: the buffer is full).
    fn write(&self, w: &mut Writer<'_>) -> Option<()>;
}

/// The public face of a [`Payload`]: the same three functions for each.
macro_rules! payload_api {
    ($($t:ident),*) => {$(
        impl $t {
            /// Decode this payload: malformed or trailing bytes are `MalformedPayload`.
            pub fn decode(payload: &[u8]) -> Result<Self> {
                read_exact(payload, Self::read)
            }

            /// Encode this payload at the start of `out`; returns its length.
            pub fn encode(&self, out: &mut [u8]) -> Result<usize> {
                write_exact(out, |w| self.write(w))
            }

            /// Encode this payload as a whole frame (header and payload) at
            /// the start of `out`; returns the frame's length.
            pub fn encode_frame(&self, out: &mut [u8]) -> Result<usize> {
                frame::write_with(out, Self::KIND, |w| self.write(w))
            }
        }
    )*};
}

payload_api!(
    ChannelsReady,
    SwitchoverAck,
    SwitchoverRevoke,
    SwitchoverStart
);

impl Payload for ChannelsReady {
    const KIND: FrameType = FrameType::ChannelsReady;
    #[inline]
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        let multifd = r.u16()?;
        let preempt = r.bool()?;
        let device_state = r.u16()?;
        Some(ChannelsReady {
            multifd,
            preempt,
            device_state,
        })
    }
    fn write(&self, w: &mut Writer<'_>) -> Option<()> {
        w.varint(self.multifd.into())?;
        w.byte(self.preempt.into())?;
        w.varint(self.device_state.into())
    }
}

impl Payload for SwitchoverAck {
    const KIND: FrameType = FrameType::SwitchoverAck;
    #[inline]
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        Some(SwitchoverAck { epoch: r.u32()? })
    }
    fn write(&self, w: &mut Writer<'_>) -> Option<()> {
        w.varint(self.epoch)
    }
}

impl Payload for SwitchoverRevoke {
    const KIND: FrameType = FrameType::SwitchoverRevoke;
    #[inline]
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        let epoch = r.u32()?;
        let device = r.u16()?;
        Some(SwitchoverRevoke { epoch, device })
    }
    fn write(&self, w: &mut Writer<'_>) -> Option<()> {
        w.varint(self.epoch)?;
        w.varint(self.device.into())
    }
}

impl Payload for SwitchoverStart {
    const KIND: FrameType = FrameType::SwitchoverStart;
    #[inline]
    fn read(r: &mut Reader<'_>) -> Option<Self> {
        let epoch = r.u32()?;
        let waived = r.bool()?;
        Some(SwitchoverStart { epoch, waived })
    }
    fn write(&self, w: &mut Writer<'_>) -> Option<()> {
        w.varint(self.epoch)?;
        w.byte(self.waived.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::CapOffer;
    use crate::channel::Role;

    // The serde forms the Reject/Abort codec must match byte for byte
    // (postcard encodes and decodes them: the definition of §5.4).
    /// The wire form of [`Detail`]. Its variants and their order are frozen: the
    /// Reject and Abort payloads must decode in every version.
    #[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    enum DetailWire<'a> {
        None,
        Capability(u16),
        Dependency {
            capability: u16,
            needs: u16,
        },
        Device {
            name: &'a str,
            instance: u32,
        },
        Versions {
            source_min: u8,
            source_max: u8,
            destination_min: u8,
            destination_max: u8,
        },
        Channel {
            role: Role,
            index: u16,
        },
        MissingChannels {
            role: Role,
            index: u16,
            missing: u16,
        },
        Frame(u8),
        Value {
            expected: u32,
            got: u32,
        },
    }

    impl<'a> DetailWire<'a> {
        fn from_detail(d: &'a Detail) -> Self {
            match d {
                Detail::None => DetailWire::None,
                Detail::Capability(c) => DetailWire::Capability(c.0),
                Detail::Dependency { capability, needs } => DetailWire::Dependency {
                    capability: capability.0,
                    needs: needs.0,
                },
                Detail::Device(d) => DetailWire::Device {
                    name: d.name.as_str(),
                    instance: d.instance,
                },
                Detail::Versions {
                    source,
                    destination,
                } => DetailWire::Versions {
                    source_min: source.min,
                    source_max: source.max,
                    destination_min: destination.min,
                    destination_max: destination.max,
                },
                Detail::Channel { role, index } => DetailWire::Channel {
                    role: *role,
                    index: *index,
                },
                Detail::MissingChannels {
                    role,
                    index,
                    missing,
                } => DetailWire::MissingChannels {
                    role: *role,
                    index: *index,
                    missing: *missing,
                },
                Detail::Frame(t) => DetailWire::Frame(*t),
                Detail::Value { expected, got } => DetailWire::Value {
                    expected: *expected,
                    got: *got,
                },
            }
        }

        fn into_detail(self) -> Detail {
            match self {
                DetailWire::None => Detail::None,
                DetailWire::Capability(c) => Detail::Capability(CapabilityId(c)),
                DetailWire::Dependency { capability, needs } => Detail::Dependency {
                    capability: CapabilityId(capability),
                    needs: CapabilityId(needs),
                },
                DetailWire::Device { name, instance } => Detail::Device(DeviceName {
                    name: truncated(name),
                    instance,
                }),
                DetailWire::Versions {
                    source_min,
                    source_max,
                    destination_min,
                    destination_max,
                } => Detail::Versions {
                    source: VersionRange::new(source_min, source_max),
                    destination: VersionRange::new(destination_min, destination_max),
                },
                DetailWire::Channel { role, index } => Detail::Channel { role, index },
                DetailWire::MissingChannels {
                    role,
                    index,
                    missing,
                } => Detail::MissingChannels {
                    role,
                    index,
                    missing,
                },
                DetailWire::Frame(t) => Detail::Frame(t),
                DetailWire::Value { expected, got } => Detail::Value { expected, got },
            }
        }
    }

    /// Reject and Abort payload: an error code and its detail.
    #[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    struct FailureWire<'a> {
        code: u16,
        #[serde(borrow)]
        detail: DetailWire<'a>,
    }

    /// postcard's verdict on the next value of `r` (the oracle), moving `r`
    /// past it on success.
    fn take<'a, T: Deserialize<'a>>(r: &mut Reader<'a>) -> Result<T> {
        let (v, rest) = postcard::take_from_bytes::<T>(r.buf).map_err(|_| malformed())?;
        r.buf = rest;
        Ok(v)
    }

    /// postcard's verdict on a whole payload: one value, no trailing bytes.
    fn oracle_exact<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T> {
        let mut r = Reader::new(payload);
        let v = take(&mut r)?;
        r.finish()?;
        Ok(v)
    }

    /// postcard's walk over a list of `len` values.
    fn oracle_list<'a, T: Deserialize<'a>>(list: &List<'a>) -> heapless::Vec<Result<T>, 8> {
        let mut r = list.reader;
        (0..list.len).map(|_| take::<T>(&mut r)).collect()
    }

    fn postcard<T: Serialize>(v: &T) -> heapless::Vec<u8, 128> {
        let mut buf = [0u8; 128];
        let used = postcard::to_slice(v, &mut buf).unwrap();
        heapless::Vec::from_slice(used).unwrap()
    }

    /// The hand-written writers produce exactly postcard's bytes.
    #[test]
    fn fast_writers_equal_postcard() {
        let names = ["a", "0000:00:1f.2/vfio-pci-07", "ä€𝄞", &"x".repeat(64)];
        let numbers = [
            0u32,
            1,
            127,
            128,
            300,
            16383,
            16384,
            65535,
            1 << 21,
            u32::MAX,
        ];
        for name in names {
            for &instance in &numbers {
                for wants_ack in [false, true] {
                    let d = DeviceOffer {
                        name,
                        instance,
                        wants_ack,
                    };
                    let mut buf = [0u8; 128];
                    let mut w = Writer::new(&mut buf);
                    write_device(&mut w, &d).unwrap();
                    let n = w.position();
                    assert_eq!(&buf[..n], &postcard(&d)[..], "{d:?}");
                }
            }
        }
        for &v in &numbers {
            let (id, param) = (v as u16, (v >> 16) as u16);
            let c = CapOffer {
                id: CapabilityId(id),
                required: v % 2 == 0,
                param,
            };
            let mut buf = [0u8; 16];
            let mut w = Writer::new(&mut buf);
            write_cap(&mut w, &c).unwrap();
            let n = w.position();
            assert_eq!(&buf[..n], &postcard(&c)[..]);
            let mut w = Writer::new(&mut buf);
            w.len(v as usize).unwrap();
            let n = w.position();
            assert_eq!(&buf[..n], &postcard(&v)[..]);
        }
        // The fast reader decodes what it wrote, like postcard.
        let d = DeviceOffer {
            name: "0000:00:1f.2/vfio-pci-07",
            instance: 300,
            wants_ack: true,
        };
        let bytes = postcard(&d);
        let mut r = Reader::new(&bytes);
        assert_eq!(read_device(&mut r, None).unwrap(), d);
        r.finish().unwrap();
        // A full buffer is BufferTooSmall, as with postcard.
        let mut buf = [0u8; 4];
        let mut w = Writer::new(&mut buf);
        assert!(w.str("hello").is_none());
        let e = Hello::encode(&mut buf, &Offer::new(), [d].into_iter()).unwrap_err();
        assert_eq!(e.code, ErrorCode::BufferTooSmall);
    }

    /// A walk over a list whose names are sliced from one UTF-8 check of the
    /// whole list gives postcard's devices, also when bytes outside the names
    /// are non-ASCII (a 3-byte varint `c3 81 01` reads as "Á\x01").
    #[test]
    fn list_walk_slices_names_like_postcard() {
        let devices = [
            ("ram", 0u32, false),
            (
                "0000:00:1f.2/vfio-pci-07",
                0x43 | (1 << 7) | (1 << 14),
                true,
            ),
            ("ä€𝄞", 7, true),
            ("x", 300, false),
        ];
        for skip in 0..devices.len() {
            let mut buf = [0u8; 256];
            let mut w = Writer::new(&mut buf);
            for &(name, instance, wants_ack) in &devices[skip..] {
                let d = DeviceOffer {
                    name,
                    instance,
                    wants_ack,
                };
                write_device(&mut w, &d).unwrap();
            }
            let n = w.position();
            let bytes = &buf[..n];
            let list = List {
                len: devices.len() - skip,
                reader: Reader::new(bytes),
            };
            let fast: heapless::Vec<_, 8> = list.devices().collect();
            let slow = oracle_list::<DeviceOffer<'_>>(&list);
            assert_eq!(fast, slow);
            assert!(fast.iter().all(|d| d.is_ok()));
        }
    }

    /// The fast readers accept and refuse exactly what postcard does, on
    /// every prefix of valid devices and on every 1- and 2-byte mutation.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "byte-level conformance sweep over safe code; minutes under Miri, run natively"
    )]
    fn fast_readers_equal_postcard() {
        fn same(bytes: &[u8]) {
            let mut fast = Reader::new(bytes);
            let mut slow = Reader::new(bytes);
            let a = read_device(&mut fast, None).ok_or(malformed());
            let b = take::<DeviceOffer<'_>>(&mut slow);
            // A name length of more than 5 bytes is refused on every
            // platform (§5.1), where postcard reads a `usize` (10 bytes on
            // a 64-bit host).
            let b = if bytes.len() >= 5 && bytes[..5].iter().all(|&x| x & 0x80 != 0) {
                assert_eq!(a, Err(malformed()), "{bytes:02x?}");
                assert_eq!(fast.buf, bytes, "{bytes:02x?}");
                slow = fast;
                a.clone()
            } else {
                b
            };
            assert_eq!(a, b, "{bytes:02x?}");
            assert_eq!(fast.buf, slow.buf, "{bytes:02x?}");
            // The same, slicing names from the payload checked as a whole.
            let mut fast = Reader::new(bytes);
            let text = fast.rest_as_text();
            assert_eq!(
                read_device(&mut fast, text).ok_or(malformed()),
                b,
                "{bytes:02x?}"
            );
            assert_eq!(fast.buf, slow.buf, "{bytes:02x?}");
            let mut fast = Reader::new(bytes);
            let mut slow = Reader::new(bytes);
            let a = fast.varint(u16::BITS).map(|v| v as u16).ok_or(malformed());
            let b = take::<u16>(&mut slow);
            assert_eq!(a, b, "{bytes:02x?}");
            assert_eq!(fast.buf, slow.buf, "{bytes:02x?}");
            let mut fast = Reader::new(bytes);
            let mut slow = Reader::new(bytes);
            let a = fast.varint(u32::BITS).map(|v| v as u32).ok_or(malformed());
            let b = take::<u32>(&mut slow);
            assert_eq!(a, b, "{bytes:02x?}");
            assert_eq!(fast.buf, slow.buf, "{bytes:02x?}");
        }
        let mut seeds: heapless::Vec<heapless::Vec<u8, 128>, 16> = heapless::Vec::new();
        for (name, instance) in [("a", 0u32), ("ä€", 127), ("vfio", u32::MAX), ("x", 1 << 28)] {
            let d = DeviceOffer {
                name,
                instance,
                wants_ack: true,
            };
            seeds.push(postcard(&d)).unwrap();
        }
        // Overlong and over-wide varints, non-UTF-8 names, bad bools.
        for raw in [
            &[0x01, b'a', 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00][..],
            &[0x01, b'a', 0xff, 0xff, 0xff, 0xff, 0x10, 0x00],
            &[0x01, b'a', 0x80, 0x80, 0x80, 0x80, 0x80, 0x00],
            &[0x80, 0x00, 0x00, 0x00],
            &[0x81, 0x00, b'a', 0x00, 0x01],
            &[0x01, 0xc3, 0x00, 0x01],
            &[0x01, b'a', 0x00, 0x02],
            &[0xff, 0xff, 0x03],
            &[0xff, 0xff, 0x04],
            &[0x80, 0x80, 0x80, 0x80, 0x00, 0x00, 0x00],
            &[0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x00, 0x00],
        ] {
            seeds.push(heapless::Vec::from_slice(raw).unwrap()).unwrap();
        }
        for seed in &seeds {
            for n in 0..=seed.len() {
                same(&seed[..n]);
            }
            let mut m = seed.clone();
            // Mutations run natively only: under Miri the prefixes suffice
            // to exercise every read path, and the sweep would take minutes.
            for i in (0..m.len()).filter(|_| !cfg!(miri)) {
                for v in [0x00, 0x01, 0x02, 0x7f, 0x80, 0xc3, 0xff] {
                    let old = m[i];
                    m[i] = v;
                    same(&m);
                    for j in i + 1..m.len() {
                        let o2 = m[j];
                        m[j] = 0x80;
                        same(&m);
                        m[j] = o2;
                    }
                    m[i] = old;
                }
            }
        }
    }

    fn every_detail() -> [Detail; 9] {
        [
            Detail::None,
            Detail::Capability(CapabilityId(0x8001)),
            Detail::Dependency {
                capability: CapabilityId::SWITCHOVER_ACK,
                needs: CapabilityId::RETURN_PATH,
            },
            Detail::Device(DeviceName {
                name: crate::name("0000:00:02.0/vfio-nic").unwrap(),
                instance: 300,
            }),
            Detail::Versions {
                source: VersionRange::new(1, 2),
                destination: VersionRange::new(3, 254),
            },
            Detail::Channel {
                role: Role::Preempt,
                index: 0,
            },
            Detail::MissingChannels {
                role: Role::DeviceState,
                index: 200,
                missing: 3,
            },
            Detail::Frame(0x42),
            Detail::Value {
                expected: 1,
                got: u32::MAX,
            },
        ]
    }

    #[test]
    fn every_failure_detail_round_trips_and_short_or_long_payloads_are_refused() {
        for (tag, detail) in every_detail().into_iter().enumerate() {
            let err = Error::with(ErrorCode::ChannelsTimeout, detail);
            let mut buf = [0u8; 128];
            let n = encode_failure(&mut buf, &err).unwrap();
            // code 503 (varint f7 03), then the variant number (§5.4).
            assert_eq!(buf[..3], [0xf7, 0x03, tag as u8]);
            assert_eq!(decode_failure(&buf[..n]).unwrap(), err);
            for short in 0..n {
                assert!(decode_failure(&buf[..short]).is_err());
                let mut scratch = [0u8; 128];
                assert!(encode_failure(&mut scratch[..short], &err).is_err());
            }
            buf[n] = 0;
            assert_eq!(
                decode_failure(&buf[..n + 1]).unwrap_err().code,
                ErrorCode::MalformedPayload
            );
        }
    }

    #[test]
    fn failure_with_unknown_variant_or_code() {
        assert_eq!(
            decode_failure(&[0xca, 0x01, 0x09]).unwrap_err().code,
            ErrorCode::MalformedPayload
        );
        let e = decode_failure(&[0xff, 0x7f, 0x00]).unwrap();
        assert_eq!(e.code, ErrorCode::UnknownPeerError);
        assert_eq!(
            e.detail,
            Detail::Value {
                expected: 0,
                got: 0x3fff
            }
        );
    }

    /// Every prefix of `seed`, and `seed` with one byte (or one byte and a
    /// later one) replaced by an interesting value.
    fn mutations(seed: &[u8], mut f: impl FnMut(&[u8])) {
        for n in 0..=seed.len() {
            f(&seed[..n]);
        }
        let mut m: heapless::Vec<u8, 128> = heapless::Vec::from_slice(seed).unwrap();
        m.push(0).unwrap();
        f(&m);
        m.pop();
        // Mutations run natively only (see above).
        for i in (0..m.len()).filter(|_| !cfg!(miri)) {
            for v in [
                0x00, 0x01, 0x02, 0x03, 0x04, 0x08, 0x09, 0x7f, 0x80, 0xc3, 0xff,
            ] {
                let old = m[i];
                m[i] = v;
                f(&m);
                for j in i + 1..m.len() {
                    let o2 = m[j];
                    m[j] = 0x80;
                    f(&m);
                    m[j] = o2;
                }
                m[i] = old;
            }
        }
    }

    fn serde_failure(err: &Error) -> FailureWire<'_> {
        FailureWire {
            code: err.code.as_u16(),
            detail: DetailWire::from_detail(&err.detail),
        }
    }

    /// The hand-written Reject/Abort codec writes postcard's bytes for the
    /// serde form, and accepts and refuses exactly what postcard does.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "byte-level conformance sweep over safe code; minutes under Miri, run natively"
    )]
    fn failure_codec_equals_postcard() {
        let long = "y".repeat(MAX_NAME_LEN);
        let mut details: heapless::Vec<Detail, 16> = every_detail().into_iter().collect();
        details
            .push(Detail::Device(DeviceName {
                name: crate::name(&long).unwrap(),
                instance: u32::MAX,
            }))
            .unwrap();
        details
            .push(Detail::Device(DeviceName {
                name: crate::name("ä€𝄞").unwrap(),
                instance: 0,
            }))
            .unwrap();
        for detail in details {
            for code in [ErrorCode::BadMagic, ErrorCode::LegacyNotACommand] {
                let err = Error::with(code, detail.clone());
                let mut buf = [0u8; 128];
                let n = encode_failure(&mut buf, &err).unwrap();
                let bytes = postcard(&serde_failure(&err));
                assert_eq!(&buf[..n], &bytes[..], "{err:?}");
                mutations(&bytes, |b| {
                    let fast = decode_failure(b);
                    let slow =
                        oracle_exact::<FailureWire<'_>>(b).map(|f| {
                            match ErrorCode::from_u16(f.code) {
                                Some(code) => Error::with(code, f.detail.into_detail()),
                                None => Error::with(
                                    ErrorCode::UnknownPeerError,
                                    Detail::Value {
                                        expected: 0,
                                        got: f.code as u32,
                                    },
                                ),
                            }
                        });
                    assert_eq!(fast, slow, "{b:02x?}");
                });
            }
        }
        // A device name longer than ours is shortened.
        let long = "z".repeat(MAX_NAME_LEN + 3);
        let f = FailureWire {
            code: ErrorCode::DeviceUnsupported.as_u16(),
            detail: DetailWire::Device {
                name: &long,
                instance: 9,
            },
        };
        let bytes = postcard(&f);
        let e = decode_failure(&bytes).unwrap();
        assert_eq!(e.detail, f.detail.into_detail());
    }

    /// The fixed-shape payloads: postcard's bytes, postcard's verdicts.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "byte-level conformance sweep over safe code; minutes under Miri, run natively"
    )]
    fn fixed_shapes_equal_postcard() {
        let numbers = [
            0u32,
            1,
            127,
            128,
            300,
            16383,
            16384,
            65535,
            1 << 21,
            u32::MAX,
        ];
        // Under Miri a sample: one- to five-byte varints still all appear.
        let numbers: &[u32] = if cfg!(miri) {
            &[0, 300, 65535, u32::MAX]
        } else {
            &numbers
        };
        fn check<T>(
            v: T,
            encode: impl Fn(&T, &mut [u8]) -> Result<usize>,
            decode: impl Fn(&[u8]) -> Result<T>,
        ) where
            T: Serialize + for<'a> Deserialize<'a> + PartialEq + core::fmt::Debug,
        {
            let bytes = postcard(&v);
            let mut buf = [0u8; 16];
            let n = encode(&v, &mut buf).unwrap();
            assert_eq!(&buf[..n], &bytes[..], "{v:?}");
            for short in 0..n {
                assert_eq!(
                    encode(&v, &mut buf[..short]).unwrap_err().code,
                    ErrorCode::BufferTooSmall
                );
            }
            mutations(&bytes, |b| {
                assert_eq!(decode(b), oracle_exact::<T>(b), "{b:02x?}");
            });
        }
        for &a in numbers {
            for &b in numbers {
                let (x, y) = (a as u16, b as u16);
                for flag in [false, true] {
                    check(
                        ChannelsReady {
                            multifd: x,
                            preempt: flag,
                            device_state: y,
                        },
                        ChannelsReady::encode,
                        ChannelsReady::decode,
                    );
                    check(
                        SwitchoverStart {
                            epoch: a,
                            waived: flag,
                        },
                        SwitchoverStart::encode,
                        SwitchoverStart::decode,
                    );
                }
                check(
                    SwitchoverRevoke {
                        epoch: a,
                        device: y,
                    },
                    SwitchoverRevoke::encode,
                    SwitchoverRevoke::decode,
                );
            }
            check(
                SwitchoverAck { epoch: a },
                SwitchoverAck::encode,
                SwitchoverAck::decode,
            );
        }
    }

    /// The capability and verdict readers accept and refuse what postcard does.
    #[test]
    #[cfg_attr(
        miri,
        ignore = "byte-level conformance sweep over safe code; minutes under Miri, run natively"
    )]
    fn cap_and_verdict_readers_equal_postcard() {
        fn same(b: &[u8]) {
            let mut fast = Reader::new(b);
            let mut slow = Reader::new(b);
            let a = read_cap(&mut fast).ok_or(malformed());
            assert_eq!(a, take::<CapOffer>(&mut slow), "{b:02x?}");
            // A failed read refuses the whole payload: where it stopped is moot.
            if a.is_ok() {
                assert_eq!(fast.buf, slow.buf, "{b:02x?}");
            }
            let mut fast = Reader::new(b);
            let mut slow = Reader::new(b);
            assert_eq!(
                read_enabled(&mut fast).ok_or(malformed()),
                take::<Enabled>(&mut slow),
                "{b:02x?}"
            );
            let mut fast = Reader::new(b);
            let mut slow = Reader::new(b);
            assert_eq!(
                fast.bool().ok_or(malformed()),
                take::<bool>(&mut slow),
                "{b:02x?}"
            );
            assert_eq!(
                fast.u8().ok_or(malformed()),
                take::<u8>(&mut slow),
                "{b:02x?}"
            );
            let mut fast = Reader::new(b);
            let mut slow = Reader::new(b);
            assert_eq!(
                fast.role().ok_or(malformed()),
                take::<Role>(&mut slow),
                "{b:02x?}"
            );
            assert_eq!(fast.buf, slow.buf, "{b:02x?}");
        }
        for (id, required, param) in [
            (0u16, false, 0u16),
            (0x7f, true, 0x80),
            (0xffff, true, 0x3fff),
        ] {
            let c = CapOffer {
                id: CapabilityId(id),
                required,
                param,
            };
            mutations(&postcard(&c), same);
            let e = Enabled {
                id: CapabilityId(id),
                param,
            };
            mutations(&postcard(&e), same);
        }
        for role in Role::ALL {
            mutations(&postcard(&role), same);
        }
        // A Welcome's verdicts walk as postcard reads them.
        let list = List {
            len: 3,
            reader: Reader::new(&[1, 0, 1]),
        };
        assert!(list.bools().eq(oracle_list::<bool>(&list)));
    }

    /// A long peer name is cut at the last character boundary that fits, as
    /// pushing characters one by one would.
    #[test]
    fn truncated_cuts_at_a_character_boundary() {
        fn by_chars(s: &str) -> Name {
            let mut n = Name::new();
            for c in s.chars() {
                if n.push(c).is_err() {
                    break;
                }
            }
            n
        }
        for pad in 0..4 {
            for tail in ["ä", "€", "𝄞", "a", "ä€𝄞ä€𝄞"] {
                let mut s: heapless::String<256> = heapless::String::new();
                for _ in 0..MAX_NAME_LEN - 4 + pad {
                    s.push('x').unwrap();
                }
                for _ in 0..3 {
                    s.push_str(tail).unwrap();
                }
                assert_eq!(truncated(&s), by_chars(&s), "{s}");
                assert_eq!(truncated(tail), by_chars(tail));
            }
        }
        assert_eq!(truncated(""), Name::new());
    }
}
