//! docs/PROTOCOL.md's hex examples are the test vectors: every block marked
//! `<!-- example: NAME -->` must equal what the encoder produces for the
//! value named here, and must decode back to that value.
use accord_core::caps::{negotiate, CapabilityId as C};
use accord_core::wire::frame::{self, FrameType};
use accord_core::wire::msg::{
    self, ChannelsReady, DeviceOffer, Hello, SwitchoverAck, SwitchoverRevoke, SwitchoverStart,
    Welcome,
};
use accord_core::*;

#[path = "common/spec_example.rs"]
mod spec_example;
use spec_example::{example, SPEC};

const NONCE: [u8; 16] = [
    0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
];

fn hex(b: &[u8]) -> String {
    b.iter()
        .map(|x| format!("{x:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn frame_bytes(kind: FrameType, body: impl FnOnce(&mut [u8]) -> Result<usize>) -> Vec<u8> {
    let mut buf = vec![0u8; 512];
    let n = frame::write(&mut buf, kind, body).unwrap();
    buf.truncate(n);
    buf
}

fn check(name: &str, produced: &[u8]) {
    let doc = example(name);
    assert_eq!(
        hex(produced),
        hex(&doc),
        "example {name}: encoder and spec differ"
    );
}

fn source_offer() -> Offer {
    let mut o = Offer::new();
    o.set(C::RETURN_PATH, Level::Required, 0).unwrap();
    o.set(C::MULTIFD, Level::Required, 4).unwrap();
    o.set(C::SWITCHOVER_ACK, Level::Required, 0).unwrap();
    o
}

fn destination_offer() -> Offer {
    let mut o = Offer::new();
    o.set(C::RETURN_PATH, Level::Optional, 0).unwrap();
    o.set(C::MULTIFD, Level::Optional, 8).unwrap();
    o.set(C::SWITCHOVER_ACK, Level::Optional, 0).unwrap();
    o
}

const DEVICES: [DeviceOffer<'static>; 2] = [
    DeviceOffer {
        name: "ram",
        instance: 0,
        wants_ack: false,
    },
    DeviceOffer {
        name: "0000:00:02.0/vfio",
        instance: 0,
        wants_ack: true,
    },
];

#[test]
fn main_preamble() {
    let p = Preamble::main(VersionRange::new(1, 1), NONCE);
    check("main-preamble", &p.to_bytes());
    assert_eq!(
        Preamble::decode(&example("main-preamble")).unwrap(),
        Some(p)
    );
}

#[test]
fn multifd_preamble() {
    let p = Preamble {
        versions: VersionRange::new(1, 1),
        role: Role::Multifd,
        flags: 0,
        index: 2,
        total: 4,
        nonce: NONCE,
    };
    check("multifd-preamble", &p.to_bytes());
    assert_eq!(
        Preamble::decode(&example("multifd-preamble")).unwrap(),
        Some(p)
    );
}

#[test]
fn hello() {
    let b = frame_bytes(FrameType::Hello, |o| {
        Hello::encode(o, &source_offer(), DEVICES.into_iter())
    });
    check("hello", &b);
    let f = frame::split(&b).unwrap().unwrap();
    let h = Hello::decode(f.payload).unwrap();
    assert_eq!(h.offer, source_offer());
    let devs: Vec<DeviceOffer> = h.devices.devices().map(|d| d.unwrap()).collect();
    assert_eq!(devs, DEVICES);
}

#[test]
fn welcome() {
    let agreed = negotiate(&source_offer(), &destination_offer()).unwrap();
    let b = frame_bytes(FrameType::Welcome, |o| {
        Welcome::encode(
            o,
            1,
            &destination_offer(),
            &agreed,
            [false, true].into_iter(),
        )
    });
    check("welcome", &b);
    let w = Welcome::decode(frame::split(&b).unwrap().unwrap().payload).unwrap();
    assert_eq!(
        (w.version, &w.offer, &w.agreed),
        (1, &destination_offer(), &agreed)
    );
    assert_eq!(
        w.verdicts.bools().map(|v| v.unwrap()).collect::<Vec<_>>(),
        [false, true]
    );
}

fn failure(name: &str, kind: FrameType, err: Error) {
    let b = frame_bytes(kind, |o| msg::encode_failure(o, &err));
    check(name, &b);
    let f = frame::split(&b).unwrap().unwrap();
    assert_eq!(f.kind, kind);
    assert_eq!(msg::decode_failure(f.payload).unwrap(), err);
}

#[test]
fn reject_capability() {
    failure(
        "reject-capability",
        FrameType::Reject,
        Error::with(
            ErrorCode::CapabilityMissingOnDestination,
            Detail::Capability(C::SWITCHOVER_ACK),
        ),
    );
}

#[test]
fn reject_versions() {
    let detail = Detail::Versions {
        source: VersionRange::new(1, 1),
        destination: VersionRange::new(2, 3),
    };
    failure(
        "reject-versions",
        FrameType::Reject,
        Error::with(ErrorCode::NoCommonVersion, detail),
    );
}

#[test]
fn abort_device() {
    let d = DeviceName {
        name: accord_core::name("nic").unwrap(),
        instance: 1,
    };
    failure(
        "abort-device",
        FrameType::Abort,
        Error::with(ErrorCode::DeviceUnsupported, Detail::Device(d)),
    );
}

#[test]
fn channels_ready() {
    let v = ChannelsReady {
        multifd: 4,
        preempt: true,
        device_state: 0,
    };
    let b = frame_bytes(FrameType::ChannelsReady, |o| v.encode(o));
    check("channels-ready", &b);
    let mut f = [0u8; 16];
    let n = v.encode_frame(&mut f).unwrap();
    assert_eq!(f[..n], b[..]);
    assert_eq!(
        ChannelsReady::decode(frame::split(&b).unwrap().unwrap().payload).unwrap(),
        v
    );
}

#[test]
fn switchover_frames() {
    let ack = frame_bytes(FrameType::SwitchoverAck, |o| {
        SwitchoverAck { epoch: 1 }.encode(o)
    });
    check("switchover-ack", &ack);
    let rv = frame_bytes(FrameType::SwitchoverRevoke, |o| {
        SwitchoverRevoke {
            epoch: 1,
            device: 1,
        }
        .encode(o)
    });
    check("switchover-revoke", &rv);
    let st = frame_bytes(FrameType::SwitchoverStart, |o| {
        SwitchoverStart {
            epoch: 300,
            waived: false,
        }
        .encode(o)
    });
    check("switchover-start", &st);
    // Each payload's own frame writer gives the same frames.
    let mut b = [0u8; 16];
    let n = SwitchoverAck { epoch: 1 }.encode_frame(&mut b).unwrap();
    assert_eq!(b[..n], ack[..]);
    let n = SwitchoverRevoke {
        epoch: 1,
        device: 1,
    }
    .encode_frame(&mut b)
    .unwrap();
    assert_eq!(b[..n], rv[..]);
    let n = SwitchoverStart {
        epoch: 300,
        waived: false,
    }
    .encode_frame(&mut b)
    .unwrap();
    assert_eq!(b[..n], st[..]);
    let v = SwitchoverStart::decode(frame::split(&st).unwrap().unwrap().payload).unwrap();
    assert_eq!(
        v,
        SwitchoverStart {
            epoch: 300,
            waived: false
        }
    );
}

/// Every error code in the code is in the spec's table, with its number.
#[test]
#[cfg_attr(
    miri,
    ignore = "text search in PROTOCOL.md: nothing for Miri to find, 90 s to interpret"
)]
fn error_table_lists_every_code() {
    for &c in ErrorCode::ALL {
        let row = format!("| {} | `{:?}` |", c.as_u16(), c);
        assert!(
            SPEC.contains(&row),
            "docs/PROTOCOL.md lacks the row starting {row}"
        );
    }
}

#[test]
#[ignore = "prints the examples; run with --ignored --nocapture when the format changes"]
fn print_examples() {
    let p = Preamble::main(VersionRange::new(1, 1), NONCE);
    println!("main-preamble {}", hex(&p.to_bytes()));
    let p = Preamble {
        versions: VersionRange::new(1, 1),
        role: Role::Multifd,
        flags: 0,
        index: 2,
        total: 4,
        nonce: NONCE,
    };
    println!("multifd-preamble {}", hex(&p.to_bytes()));
    println!(
        "hello {}",
        hex(&frame_bytes(FrameType::Hello, |o| Hello::encode(
            o,
            &source_offer(),
            DEVICES.into_iter()
        )))
    );
    let agreed = negotiate(&source_offer(), &destination_offer()).unwrap();
    println!(
        "welcome {}",
        hex(&frame_bytes(FrameType::Welcome, |o| Welcome::encode(
            o,
            1,
            &destination_offer(),
            &agreed,
            [false, true].into_iter()
        )))
    );
    let e = Error::with(
        ErrorCode::CapabilityMissingOnDestination,
        Detail::Capability(C::SWITCHOVER_ACK),
    );
    println!(
        "reject-capability {}",
        hex(&frame_bytes(FrameType::Reject, |o| msg::encode_failure(
            o, &e
        )))
    );
    let e = Error::with(
        ErrorCode::NoCommonVersion,
        Detail::Versions {
            source: VersionRange::new(1, 1),
            destination: VersionRange::new(2, 3),
        },
    );
    println!(
        "reject-versions {}",
        hex(&frame_bytes(FrameType::Reject, |o| msg::encode_failure(
            o, &e
        )))
    );
    let e = Error::with(
        ErrorCode::DeviceUnsupported,
        Detail::Device(DeviceName {
            name: accord_core::name("nic").unwrap(),
            instance: 1,
        }),
    );
    println!(
        "abort-device {}",
        hex(&frame_bytes(FrameType::Abort, |o| msg::encode_failure(
            o, &e
        )))
    );
    let v = ChannelsReady {
        multifd: 4,
        preempt: true,
        device_state: 0,
    };
    println!(
        "channels-ready {}",
        hex(&frame_bytes(FrameType::ChannelsReady, |o| { v.encode(o) }))
    );
    println!(
        "switchover-ack {}",
        hex(&frame_bytes(FrameType::SwitchoverAck, |o| {
            SwitchoverAck { epoch: 1 }.encode(o)
        }))
    );
    println!(
        "switchover-revoke {}",
        hex(&frame_bytes(FrameType::SwitchoverRevoke, |o| {
            SwitchoverRevoke {
                epoch: 1,
                device: 1,
            }
            .encode(o)
        }))
    );
    println!(
        "switchover-start {}",
        hex(&frame_bytes(FrameType::SwitchoverStart, |o| {
            SwitchoverStart {
                epoch: 300,
                waived: false,
            }
            .encode(o)
        }))
    );
}
