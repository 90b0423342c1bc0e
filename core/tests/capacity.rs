//! Compile-time capacities (docs/PROTOCOL.md §10): the spec's table matches
//! core/build.rs, and every limit holds at whatever values this build has.
//! Two sets of defaults: accord-core's own and the `hosted` feature's.
use accord_core::capacity::*;
use accord_core::*;

/// (variable, default, hosted default, min, max) from the §10 table.
fn spec_table() -> Vec<(String, usize, usize, usize, usize)> {
    let spec = include_str!("../../docs/PROTOCOL.md");
    let section = spec.split("## 10. Capacities").nth(1).expect("§10 exists");
    section
        .lines()
        .filter(|l| l.starts_with("| `ACCORD_"))
        .map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let (lo, hi) = cells[4].split_once("..=").expect("bounds lo..=hi");
            (
                cells[1].trim_matches('`').to_string(),
                cells[2].parse().unwrap(),
                cells[3].parse().unwrap(),
                lo.parse().unwrap(),
                hi.parse().unwrap(),
            )
        })
        .collect()
}

/// (variable, default, hosted default, min, max) from core/build.rs's knob table.
fn build_rs_knobs() -> Vec<(String, usize, usize, usize, usize)> {
    let src = include_str!("../build.rs");
    let field = |block: &str, name: &str| -> String {
        let at = block.find(&format!("{name}:")).unwrap() + name.len() + 1;
        block[at..].split(',').next().unwrap().trim().to_string()
    };
    src.split("Knob {")
        .skip(2) // the struct definition, then one block per knob
        .map(|b| {
            (
                field(b, "env").trim_matches('"').to_string(),
                field(b, "default").parse().unwrap(),
                field(b, "hosted").parse().unwrap(),
                field(b, "min").parse().unwrap(),
                field(b, "max").parse().unwrap(),
            )
        })
        .collect()
}

#[test]
fn the_spec_table_matches_build_rs() {
    let spec = spec_table();
    assert_eq!(spec.len(), 6);
    assert_eq!(spec, build_rs_knobs());
}

#[test]
fn a_default_build_has_the_documented_defaults() {
    let values = [
        (
            "ACCORD_MAX_DEVICES",
            option_env!("ACCORD_MAX_DEVICES"),
            MAX_DEVICES,
        ),
        (
            "ACCORD_MAX_CHANNELS",
            option_env!("ACCORD_MAX_CHANNELS"),
            MAX_CHANNELS,
        ),
        (
            "ACCORD_MAX_EARLY_CHANNELS",
            option_env!("ACCORD_MAX_EARLY_CHANNELS"),
            MAX_EARLY_CHANNELS,
        ),
        (
            "ACCORD_MAX_NAME_LEN",
            option_env!("ACCORD_MAX_NAME_LEN"),
            MAX_NAME_LEN,
        ),
        (
            "ACCORD_MAX_CAPABILITIES",
            option_env!("ACCORD_MAX_CAPABILITIES"),
            MAX_CAPABILITIES,
        ),
        (
            "ACCORD_EVENT_QUEUE",
            option_env!("ACCORD_EVENT_QUEUE"),
            EVENT_QUEUE,
        ),
    ];
    for (var, set, value) in values {
        let (_, default, hosted, lo, hi) = spec_table().into_iter().find(|k| k.0 == var).unwrap();
        assert!((lo..=hi).contains(&value), "{var}={value}");
        if set.is_none() {
            let want = if cfg!(feature = "hosted") {
                hosted
            } else {
                default
            };
            assert_eq!(value, want, "{var} default");
        }
    }
}

/// libaccord.a's defaults hold QEMU's largest channel set (255 multifd
/// channels + preempt, all before the Hello) and 256 devices; firmware's
/// stay small.
#[test]
fn hosted_defaults_are_qemu_scale_and_firmware_defaults_small() {
    for (var, default, hosted, _, _) in spec_table() {
        match var.as_str() {
            "ACCORD_MAX_CHANNELS" => assert!(hosted >= 255 && default <= 64, "{var}"),
            "ACCORD_MAX_EARLY_CHANNELS" => assert!(hosted >= 256 && default <= 16, "{var}"),
            "ACCORD_MAX_DEVICES" => assert!(hosted >= 256 && default <= 32, "{var}"),
            _ => assert!(hosted >= default, "{var}"),
        }
    }
}

#[test]
fn the_device_and_name_limits_hold_at_this_builds_values() {
    let mut s = Source::new(SourceConfig::default(), [7; 16]).unwrap();
    for i in 0..MAX_DEVICES as u32 {
        s.add_device("dev", i, false).unwrap();
    }
    let e = s.add_device("dev", MAX_DEVICES as u32, false).unwrap_err();
    assert_eq!(e.code, ErrorCode::CapacityExceeded);

    let longest = "n".repeat(MAX_NAME_LEN);
    assert!(accord_core::name(&longest).is_ok());
    let e = accord_core::name(&format!("{longest}n")).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidArgument);
}

/// `Hello::payload_len` is exactly what `Hello::encode` writes, for short
/// and long names, small and large instance ids, with and without capabilities.
#[test]
fn the_hello_length_is_known_before_encoding() {
    use accord_core::wire::msg::{DeviceOffer, Hello};
    let long = "d".repeat(MAX_NAME_LEN);
    let names = ["a", "0000:00:02.0/virtio-blk", long.as_str()];
    let instances = [0, 127, 128, 16_383, 16_384, u32::MAX];
    for offer in [Offer::new(), Offer::all_optional()] {
        for n in [0, 1, 5, MAX_DEVICES.min(40)] {
            let devices: Vec<DeviceOffer> = (0..n)
                .map(|i| DeviceOffer {
                    name: names[i % names.len()],
                    instance: instances[i % instances.len()],
                    wants_ack: i % 2 == 0,
                })
                .collect();
            let mut buf = vec![0u8; 65536];
            let written = Hello::encode(&mut buf, &offer, devices.iter().copied()).unwrap();
            assert_eq!(Hello::payload_len(&offer, devices.iter().copied()), written);
        }
    }
}

/// A source refuses the device that would make its Hello overflow one frame
/// (CapacityExceeded, naming the limit and the length), and keeps the rest:
/// at the hosted capacities 256 devices of 64-byte names would not fit.
#[test]
fn a_device_that_would_overflow_the_hello_is_refused_and_not_kept() {
    use accord_core::wire::frame::MAX_PAYLOAD;
    let long = "x".repeat(MAX_NAME_LEN);
    let mut s = Source::new(SourceConfig::default(), [7; 16]).unwrap();
    let mut added = 0u32;
    let refused = loop {
        match s.add_device(&long, added, false) {
            Ok(_) => added += 1,
            Err(e) => break e,
        }
    };
    if MAX_DEVICES >= 256 && MAX_NAME_LEN >= 64 {
        // The hosted capacities: the Hello fills first.
        assert!((added as usize) < MAX_DEVICES);
    }
    if added as usize == MAX_DEVICES {
        // This build's table fills before the Hello does.
        assert_eq!(refused.code, ErrorCode::CapacityExceeded);
        return;
    }
    assert_eq!(refused.code, ErrorCode::CapacityExceeded);
    match refused.detail {
        Detail::Value { expected, got } => {
            assert_eq!(expected as usize, MAX_PAYLOAD);
            assert!(got as usize > MAX_PAYLOAD);
        }
        other => panic!("detail {other:?}"),
    }
    // The refused device was not kept: a short name still fits, and the
    // Hello that goes out is one whole frame.
    s.add_device("short", 0, false).unwrap();
    s.start(Instant(0)).unwrap();
    let mut buf = vec![0u8; 20_000];
    let n = s.poll_transmit(Instant(0), &mut buf).unwrap();
    assert!(n > MAX_PAYLOAD - 100 && n <= 28 + 3 + MAX_PAYLOAD, "{n}");
}
