//! docs/PROTOCOL.md §5.1: varints longer than needed are accepted within
//! their type's byte count, longer ones are malformed, and encoders write
//! the shortest form. Checked through the public decoders the machines use.
use accord_core::wire::msg::{decode_failure, ChannelsReady, Hello, SwitchoverAck, Welcome};
use accord_core::{Detail, DeviceName, Error, ErrorCode, Offer};

fn malformed() -> Error {
    Error::new(ErrorCode::MalformedPayload)
}

/// ChannelsReady { multifd: u16, preempt: bool, device_state: u16 } with
/// `multifd` written as `u16`.
fn ready(u16: &[u8]) -> accord_core::Result<ChannelsReady> {
    let mut p = u16.to_vec();
    p.extend([0x00, 0x00]);
    ChannelsReady::decode(&p)
}

#[test]
fn a_longer_u16_is_accepted_up_to_three_bytes() {
    let zero = ChannelsReady::default();
    assert_eq!(ready(&[0x00]), Ok(zero));
    assert_eq!(ready(&[0x80, 0x00]), Ok(zero));
    assert_eq!(ready(&[0x80, 0x80, 0x00]), Ok(zero));
    assert_eq!(ready(&[0x85, 0x80, 0x00]).unwrap().multifd, 5);
    assert_eq!(ready(&[0xff, 0xff, 0x03]).unwrap().multifd, u16::MAX);
    // Four bytes, or a third byte with bits beyond 16: malformed.
    assert_eq!(ready(&[0x80, 0x80, 0x80, 0x00]), Err(malformed()));
    assert_eq!(ready(&[0x80, 0x80, 0x04]), Err(malformed()));
    assert_eq!(ready(&[0xff, 0xff, 0x04]), Err(malformed()));
}

#[test]
fn a_longer_u32_is_accepted_up_to_five_bytes() {
    let ack = |b: &[u8]| SwitchoverAck::decode(b).map(|a| a.epoch);
    assert_eq!(ack(&[0x80, 0x00]), Ok(0));
    assert_eq!(ack(&[0x81, 0x80, 0x80, 0x80, 0x00]), Ok(1));
    assert_eq!(ack(&[0xff, 0xff, 0xff, 0xff, 0x0f]), Ok(u32::MAX));
    assert_eq!(ack(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), Err(malformed()));
    assert_eq!(ack(&[0x80, 0x80, 0x80, 0x80, 0x10]), Err(malformed()));
    // An error code is a u16 too.
    assert_eq!(
        decode_failure(&[0xca, 0x81, 0x00, 0x00]).unwrap().code,
        ErrorCode::CapabilityMissingOnDestination
    );
}

#[test]
fn a_longer_length_is_accepted_up_to_five_bytes() {
    // Hello with no offers and no devices, each count written `80 00`.
    let h = Hello::decode(&[0x80, 0x00, 0x80, 0x00]).unwrap();
    assert!(h.offer.entries().is_empty() && h.devices.is_empty());
    let h = Hello::decode(&[0x00, 0x80, 0x80, 0x80, 0x80, 0x00]).unwrap();
    assert!(h.devices.is_empty());
    assert_eq!(
        Hello::decode(&[0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]).unwrap_err(),
        malformed()
    );
    // A device name's length `83 00`: "ram".
    let h = Hello::decode(&[0x00, 0x01, 0x83, 0x00, b'r', b'a', b'm', 0x00, 0x00]).unwrap();
    let d = h.devices.devices().next().unwrap().unwrap();
    assert_eq!((d.name, d.instance, d.wants_ack), ("ram", 0, false));
    // Five bytes at most on every platform, also for a str.
    let mut p = vec![0x00, 0x01, 0x80, 0x80, 0x80, 0x80, 0x80, 0x03];
    p.extend(b"ram\x00\x00");
    assert_eq!(Hello::decode(&p).unwrap_err(), malformed());
    let e = decode_failure(&[0xce, 0x01, 0x03, 0x83, 0x80, 0x00, b'n', b'i', b'c', 0x01]).unwrap();
    assert_eq!(
        e.detail,
        Detail::Device(DeviceName {
            name: accord_core::name("nic").unwrap(),
            instance: 1
        })
    );
    // A Welcome's verdict count.
    let w = Welcome::decode(&[0x01, 0x00, 0x00, 0x81, 0x00, 0x01]).unwrap();
    assert_eq!(w.verdicts.bools().collect::<Vec<_>>(), [Ok(true)]);
}

/// The shortest LEB128 form of `v`.
fn shortest(mut v: u32) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let low = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(low);
            return out;
        }
        out.push(low | 0x80);
    }
}

#[test]
fn encoders_write_the_shortest_form() {
    let samples = [
        0u32,
        1,
        0x7f,
        0x80,
        300,
        0x3fff,
        0x4000,
        0xffff,
        1 << 21,
        u32::MAX,
    ];
    for v in samples {
        let mut b = [0u8; 8];
        let n = SwitchoverAck { epoch: v }.encode(&mut b).unwrap();
        assert_eq!(b[..n], shortest(v)[..], "{v}");
        let set = ChannelsReady {
            multifd: v as u16,
            preempt: false,
            device_state: 0,
        };
        let n = set.encode(&mut b).unwrap();
        assert_eq!(b[..n - 2], shortest(u32::from(v as u16))[..], "{v}");
    }
    // A length: the verdict count of a Welcome with 128 verdicts is `80 01`.
    let mut b = [0u8; 256];
    let n = Welcome::encode(
        &mut b,
        1,
        &Offer::new(),
        &accord_core::Agreed::new(),
        [true; 128].into_iter(),
    )
    .unwrap();
    assert_eq!(b[..5], [0x01, 0x00, 0x00, 0x80, 0x01]);
    assert_eq!(n, 5 + 128);
}
