//! Decoder targets: each takes arbitrary bytes, must not panic, and checks
//! that what decodes re-encodes to something that decodes to the same value
//! (the wire has one meaning per byte string).

use accord_core::caps::negotiate;
use accord_core::wire::frame::{self, FrameType, HEADER_LEN, MAX_FRAME, MAX_PAYLOAD};
use accord_core::wire::msg::{
    self, ChannelsReady, DeviceOffer, Hello, SwitchoverAck, SwitchoverRevoke, SwitchoverStart,
    Welcome,
};
use accord_core::wire::preamble::{self, MAGIC};
use accord_core::*;

/// `Preamble::decode`: the 28-byte preamble of every channel.
pub fn preamble(data: &[u8]) {
    match Preamble::decode(data) {
        Ok(Some(p)) => {
            assert!(data.len() >= preamble::LEN);
            // One encoding per preamble: it re-encodes to the same bytes.
            assert_eq!(&p.to_bytes()[..], &data[..preamble::LEN]);
            assert!(p.versions.is_valid());
            assert!(p.index < p.total);
            if matches!(p.role, Role::Main | Role::Preempt) {
                assert_eq!(p.total, 1);
            }
            assert_eq!(p.flags & !preamble::FLAG_REATTACH, 0);
            // Every proper prefix of a good preamble is just incomplete.
            for n in 0..preamble::LEN {
                assert_eq!(Preamble::decode(&data[..n]), Ok(None), "prefix {n}");
            }
        }
        Ok(None) => {
            assert!(data.len() < preamble::LEN);
            let n = data.len().min(4);
            assert_eq!(&data[..n], &MAGIC[..n]);
        }
        Err(e) => {
            let n = data.len().min(4);
            if data[..n] != MAGIC[..n] {
                // A wrong magic is refused at its first differing byte.
                assert_eq!(e.code, ErrorCode::BadMagic);
            } else {
                // Everything else is judged on the whole preamble.
                assert!(data.len() >= preamble::LEN, "{e:?} before 28 bytes");
                assert!(
                    matches!(
                        e.code,
                        ErrorCode::BadVersionRange
                            | ErrorCode::UnknownRole
                            | ErrorCode::ReservedFlags
                            | ErrorCode::BadChannelIndex
                    ),
                    "{e:?}"
                );
            }
        }
    }
}

/// `frame::split` on arbitrary bytes, then the payload decoder of the frame's type.
pub fn frame(data: &[u8]) {
    match frame::split(data) {
        Ok(Some(f)) => {
            assert_eq!(f.len, HEADER_LEN + f.payload.len());
            assert!(f.payload.len() <= MAX_PAYLOAD && f.len <= MAX_FRAME);
            assert_eq!(data[0], f.kind as u8);
            assert_eq!(
                usize::from(u16::from_be_bytes([data[1], data[2]])),
                f.payload.len()
            );
            payload(f.kind, f.payload);
        }
        Ok(None) => {
            if let Some(&t) = data.first() {
                assert!(FrameType::from_u8(t).is_some());
            }
            if data.len() >= HEADER_LEN {
                let n = usize::from(u16::from_be_bytes([data[1], data[2]]));
                assert!(n <= MAX_PAYLOAD && data.len() < HEADER_LEN + n);
            }
        }
        Err(e) => match e.code {
            ErrorCode::UnknownFrameType => assert!(FrameType::from_u8(data[0]).is_none()),
            ErrorCode::FrameTooLarge => {
                assert!(usize::from(u16::from_be_bytes([data[1], data[2]])) > MAX_PAYLOAD)
            }
            _ => panic!("split: {e:?}"),
        },
    }
}

/// postcard's verdict on a whole payload: one value and no trailing bytes.
fn oracle<'a, T: serde::Deserialize<'a>>(p: &'a [u8]) -> Option<T> {
    match postcard::take_from_bytes::<T>(p) {
        Ok((v, [])) => Some(v),
        _ => None,
    }
}

/// Decode a fixed payload with accord's codec, which must agree with
/// postcard (the definition of the format); if it decodes, it re-encodes to
/// postcard's bytes, which decode to the same value.
macro_rules! exact {
    ($t:ty, $p:expr) => {{
        let v = <$t>::decode($p).ok();
        assert_eq!(v, oracle::<$t>($p), "{:02x?}", $p);
        if let Some(v) = v {
            let mut buf = [0u8; 64];
            let n = v.encode(&mut buf).unwrap();
            let mut want = [0u8; 64];
            assert_eq!(&buf[..n], postcard::to_slice(&v, &mut want).unwrap());
            assert_eq!(<$t>::decode(&buf[..n]).unwrap(), v);
        }
    }};
}

/// The decoder of a frame type, with its round trip.
pub fn payload(kind: FrameType, p: &[u8]) {
    match kind {
        FrameType::Hello => hello_roundtrip(p),
        FrameType::Welcome => welcome_roundtrip(p),
        FrameType::Reject | FrameType::Abort => failure_roundtrip(p),
        FrameType::ChannelsReady => exact!(ChannelsReady, p),
        FrameType::SwitchoverAck => exact!(SwitchoverAck, p),
        FrameType::SwitchoverRevoke => exact!(SwitchoverRevoke, p),
        FrameType::SwitchoverStart => exact!(SwitchoverStart, p),
    }
}

fn hello_roundtrip(p: &[u8]) {
    let Ok(h) = Hello::decode(p) else { return };
    let devices: Vec<DeviceOffer<'_>> = h.devices.devices().map(|d| d.unwrap()).collect();
    for d in &devices {
        assert!(!d.name.is_empty() && d.name.len() <= capacity::MAX_NAME_LEN);
    }
    let ids: Vec<u16> = h.offer.entries().iter().map(|e| e.id.0).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]) && !ids.contains(&0));
    let mut buf = vec![0u8; MAX_PAYLOAD];
    let n = Hello::encode(&mut buf, &h.offer, devices.iter().copied()).unwrap();
    let h2 = Hello::decode(&buf[..n]).unwrap();
    assert_eq!(h2.offer, h.offer);
    let again: Vec<DeviceOffer<'_>> = h2.devices.devices().map(|d| d.unwrap()).collect();
    assert_eq!(again, devices);
}

fn welcome_roundtrip(p: &[u8]) {
    let Ok(w) = Welcome::decode(p) else { return };
    let verdicts: Vec<bool> = w.verdicts.bools().map(|v| v.unwrap()).collect();
    let mut buf = vec![0u8; MAX_PAYLOAD];
    let n = Welcome::encode(
        &mut buf,
        w.version,
        &w.offer,
        &w.agreed,
        verdicts.iter().copied(),
    )
    .unwrap();
    let w2 = Welcome::decode(&buf[..n]).unwrap();
    assert_eq!(
        (w2.version, &w2.offer, &w2.agreed),
        (w.version, &w.offer, &w.agreed)
    );
    let again: Vec<bool> = w2.verdicts.bools().map(|v| v.unwrap()).collect();
    assert_eq!(again, verdicts);
}

fn failure_roundtrip(p: &[u8]) {
    let Ok(e) = msg::decode_failure(p) else {
        return;
    };
    let mut buf = vec![0u8; 512];
    let n = msg::encode_failure(&mut buf, &e).unwrap();
    assert_eq!(msg::decode_failure(&buf[..n]).unwrap(), e);
}

const NONCE: [u8; 16] = *b"fuzz-nonce-bytes";

fn main_preamble() -> [u8; preamble::LEN] {
    Preamble::main(version::SUPPORTED, NONCE).to_bytes()
}

fn framed(kind: FrameType, payload: &[u8]) -> Option<Vec<u8>> {
    let n = u16::try_from(payload.len()).ok()?;
    let mut v = vec![kind as u8];
    v.extend_from_slice(&n.to_be_bytes());
    v.extend_from_slice(payload);
    Some(v)
}

/// Hello payloads: decode and round trip, then the whole Destination on it.
pub fn hello(data: &[u8]) {
    hello_roundtrip(data);
    let Some(f) = framed(FrameType::Hello, data) else {
        return;
    };
    let mut d = Destination::new(DestinationConfig::default(), Instant(0)).unwrap();
    d.register_device("ram", 0, false).unwrap();
    d.register_device("0000:00:02.0/vfio", 0, true).unwrap();
    let mut input = main_preamble().to_vec();
    input.extend_from_slice(&f);
    let r = d.handle_input(Instant(1), &input);
    let mut out = vec![0u8; 4 * MAX_FRAME];
    let n = d.poll_transmit(Instant(1), &mut out).unwrap();
    match d.state() {
        DestinationState::Precopy => {
            assert_eq!(r, Ok(input.len()));
            let h = Hello::decode(data).unwrap();
            // The Welcome it wrote decodes, agrees with the rule and has one verdict per device.
            let f = frame::split(&out[preamble::LEN..n]).unwrap().unwrap();
            assert_eq!(f.kind, FrameType::Welcome);
            let w = Welcome::decode(f.payload).unwrap();
            assert_eq!(w.verdicts.len(), h.devices.len());
            assert_eq!(negotiate(&h.offer, &w.offer).unwrap(), w.agreed);
        }
        DestinationState::Failed => {
            let e = d.error().unwrap().clone();
            // A refused Hello is not an error of the call: it is consumed and
            // the Reject queued. A Hello that does not decode is an error.
            if d.rejected() {
                assert_eq!(r, Ok(input.len()));
            } else {
                assert_eq!(r, Err(e.clone()));
            }
            // A Hello that decodes is answered by Reject, one that does not by Abort.
            let f = frame::split(&out[preamble::LEN..n]).unwrap().unwrap();
            assert!(matches!(f.kind, FrameType::Reject | FrameType::Abort));
            assert_eq!(msg::decode_failure(f.payload).unwrap(), e);
        }
        s => panic!("destination left in {s:?}"),
    }
}

fn source_awaiting_welcome() -> Source {
    let mut cfg = SourceConfig::default();
    cfg.capabilities
        .set(CapabilityId::RETURN_PATH, Level::Required, 0)
        .unwrap();
    cfg.capabilities
        .set(CapabilityId::MULTIFD, Level::Optional, 4)
        .unwrap();
    cfg.capabilities
        .set(CapabilityId::SWITCHOVER_ACK, Level::Optional, 0)
        .unwrap();
    let mut s = Source::new(cfg, NONCE).unwrap();
    s.add_device("ram", 0, false).unwrap();
    s.add_device("0000:00:02.0/vfio", 0, true).unwrap();
    s.start(Instant(0)).unwrap();
    let mut out = vec![0u8; MAX_FRAME];
    s.poll_transmit(Instant(0), &mut out).unwrap();
    s
}

/// Welcome payloads: decode and round trip, then a Source awaiting Welcome on it.
pub fn welcome(data: &[u8]) {
    welcome_roundtrip(data);
    let Some(f) = framed(FrameType::Welcome, data) else {
        return;
    };
    let mut s = source_awaiting_welcome();
    let mut input = main_preamble().to_vec();
    input.extend_from_slice(&f);
    let r = s.handle_input(Instant(1), &input);
    match s.state() {
        SourceState::Precopy => {
            assert_eq!(r, Ok(input.len()));
            let w = Welcome::decode(data).unwrap();
            assert_eq!(s.agreed(), &w.agreed);
            assert_eq!(
                negotiate(&s.config().capabilities, &w.offer).unwrap(),
                w.agreed
            );
            assert!(
                s.poll_timeout().is_some(),
                "waits for channels with a deadline"
            );
        }
        SourceState::Failed => {
            assert_eq!(r, Err(s.error().unwrap().clone()));
            let mut out = vec![0u8; MAX_FRAME];
            let n = s.poll_transmit(Instant(1), &mut out).unwrap();
            let f = frame::split(&out[..n]).unwrap().unwrap();
            assert_eq!(
                f.kind,
                FrameType::Abort,
                "a refused Welcome is answered by Abort"
            );
        }
        st => panic!("source left in {st:?}"),
    }
}

/// Reject/Abort payloads (frozen layout): decode and round trip; a source
/// awaiting Welcome adopts a Reject exactly and a destination an Abort.
pub fn failure(data: &[u8]) {
    failure_roundtrip(data);
    let Some(f) = framed(FrameType::Reject, data) else {
        return;
    };
    let mut s = source_awaiting_welcome();
    let mut input = main_preamble().to_vec();
    input.extend_from_slice(&f);
    let _ = s.handle_input(Instant(1), &input);
    assert_eq!(s.state(), SourceState::Failed);
    let mut out = vec![0u8; MAX_FRAME];
    let sent = s.poll_transmit(Instant(1), &mut out).unwrap();
    match msg::decode_failure(data) {
        Ok(e) => {
            assert_eq!(s.error(), Some(&e), "the source adopts the verdict");
            assert_eq!(sent, 0, "and answers nothing");
        }
        Err(e) => {
            assert_eq!(s.error(), Some(&e));
            assert!(sent > 0, "a malformed Reject is answered by Abort");
        }
    }
    let Some(f) = framed(FrameType::Abort, data) else {
        return;
    };
    let mut d = Destination::new(DestinationConfig::default(), Instant(0)).unwrap();
    let mut input = main_preamble().to_vec();
    input.extend_from_slice(&f);
    let _ = d.handle_input(Instant(1), &input);
    assert_eq!(d.state(), DestinationState::Failed);
    if let Ok(e) = msg::decode_failure(data) {
        assert_eq!(d.error(), Some(&e));
    }
}

/// The four fixed payloads; the first byte picks which.
pub fn payloads(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let kind = match which % 4 {
        0 => FrameType::ChannelsReady,
        1 => FrameType::SwitchoverAck,
        2 => FrameType::SwitchoverRevoke,
        _ => FrameType::SwitchoverStart,
    };
    payload(kind, rest);
}
