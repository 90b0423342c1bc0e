//! The decoders as a library: every prefix of every checked-in capture and
//! pseudo-random noise, under every stream kind, end in an `End` without a
//! panic; truncation reports where; the walks that go beyond the core's
//! formats (accord frames handing over to QEMU's stream, a received bitmap
//! on the return path) do what they say.

use std::fs;
use std::path::Path;

use accord_core::legacy::VfioTag;
use accord_inspect::{inspect, End, StreamKind};

fn captures() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/fixtures");
    let mut v = Vec::new();
    for dir in fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in fs::read_dir(&dir).unwrap() {
            let f = f.unwrap().path();
            if f.extension().is_some_and(|e| e == "bin") {
                v.push((f.display().to_string(), fs::read(&f).unwrap()));
            }
        }
    }
    v.sort();
    assert!(v.len() >= 10, "fixtures present");
    v
}

#[test]
fn every_prefix_of_every_capture_ends_cleanly_under_every_kind() {
    for (name, b) in captures() {
        // Every prefix of the first 600 bytes (headers, commands, the
        // return path), then a sample of the rest.
        let cuts = (0..b.len().min(600)).chain((600..b.len()).step_by(331));
        for n in cuts.chain([b.len()]) {
            for kind in StreamKind::ALL {
                let r = inspect(&b[..n], Some(kind));
                assert_eq!(r.bytes, n);
                let mut last = 0;
                for it in &r.items {
                    assert!(it.offset + it.len <= n, "{name}[..{n}] as {kind:?}: {it:?}");
                    assert!(it.offset >= last || it.depth > 0 || it.kind == "package");
                    last = it.offset;
                }
                if let End::Truncated { offset, .. } | End::Undecoded { offset, .. } = r.end {
                    assert!(offset <= n, "{name}[..{n}] as {kind:?}: {:?}", r.end);
                }
            }
        }
        // The whole capture, detected, never reads as malformed: the
        // preempt channel included, recognised by its first page record.
        let r = inspect(&b, None);
        assert!(
            !matches!(r.end, End::Malformed { .. }),
            "{name}: {:?}",
            r.end
        );
        if name.contains("preempt-s2d") && !b.is_empty() {
            assert_eq!(r.stream, StreamKind::Preempt, "{name}");
        }
    }
}

#[test]
fn detection_tells_a_page_stream_from_a_return_path_by_its_first_bytes() {
    let hex = |s: &str| -> Vec<u8> {
        let d: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
        d.chunks(2)
            .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
            .collect()
    };
    let cases = [
        // a PAGE naming pc.bios, as the 10.0 preempt capture opens
        ("0000 0000 0003 f008 07 70632e62696f73", StreamKind::Preempt),
        // ZERO and XBZRLE name their block too
        ("0000 0000 0020 0002 06 70632e72616d", StreamKind::Preempt),
        ("0000 0000 0020 0040 06 70632e72616d", StreamKind::Preempt),
        // the bare EOS of a preempt channel shut down unused
        ("0000 0000 0000 0010", StreamKind::Preempt),
        // the name may be cut short by the capture
        ("0000 0000 0003 f008 07 7063", StreamKind::Preempt),
        // a return path: SWITCHOVER_ACK, PONG 1
        ("0007 0000 0002 0004 00000001", StreamKind::ReturnPath),
        // CONTINUE cannot open a stream; no name; unprintable name; MEM_SIZE
        ("0000 0000 0003 f028 00", StreamKind::ReturnPath),
        ("0000 0000 0003 f008 00", StreamKind::ReturnPath),
        ("0000 0000 0003 f008 02 0001", StreamKind::ReturnPath),
        (
            "0000 0000 0800 0004 06 70632e72616d",
            StreamKind::ReturnPath,
        ),
        // too short to tell
        ("0000 0000 0003 f0", StreamKind::ReturnPath),
        ("", StreamKind::ReturnPath),
    ];
    for (h, want) in cases {
        assert_eq!(accord_inspect::detect(&hex(h)), want, "{h}");
    }
}

#[test]
fn noise_never_panics() {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for round in 0..400 {
        let len = (next() % 700) as usize;
        let mut b: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        // Give the detectors something to bite on now and then.
        match round % 5 {
            0 if len >= 4 => b[..4].copy_from_slice(b"QEVM"),
            1 if len >= 4 => b[..4].copy_from_slice(b"ACRD"),
            2 if len >= 4 => b[..4].copy_from_slice(&[0x11, 0x22, 0x33, 0x44]),
            _ => {}
        }
        for kind in StreamKind::ALL.into_iter().map(Some).chain([None]) {
            let r = inspect(&b, kind);
            let _ = r.to_text("noise");
            let _ = r.to_json_lines("noise");
        }
    }
}

#[test]
fn accord_frames_hand_over_to_a_qemu_stream() {
    // A main preamble, then straight into QEVM (as when the hypervisor's
    // stream follows the handshake on the same connection).
    let mut b = accord_core::Preamble::main(accord_core::VersionRange::new(1, 1), [7; 16])
        .to_bytes()
        .to_vec();
    b.extend_from_slice(b"QEVM\0\0\0\x03");
    b.extend_from_slice(&[0x08, 0, 1, 0, 0]); // OPEN_RETURN_PATH
    b.extend_from_slice(&[0x08, 0, 2, 0, 4, 0, 0, 0, 9]); // PING 9
    let r = inspect(&b, None);
    assert_eq!(r.stream, StreamKind::Accord);
    assert_eq!(r.end, End::Complete);
    let names: Vec<&str> = r.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["ACRD", "QEVM", "QEVM", "OPEN_RETURN_PATH", "PING"]);
    assert_eq!(r.items[1].kind, "handoff");
    assert_eq!(r.items[4].offset, 28 + 8 + 5);
}

#[test]
fn a_bad_command_in_the_main_stream_is_accords_error() {
    let mut b = b"QEVM\0\0\0\x03".to_vec();
    b.extend_from_slice(&[0x08, 0, 2, 0, 5, 0, 0, 0, 0, 0]); // PING with len 5
    let r = inspect(&b, None);
    match &r.end {
        End::Malformed { offset, error, .. } => {
            assert_eq!(*offset, 8);
            assert_eq!(error.code, accord_core::ErrorCode::LegacyBadLength);
        }
        other => panic!("{other:?}"),
    }
    // An unknown section type is what the core's command decoder says of it.
    let mut b = b"QEVM\0\0\0\x03".to_vec();
    b.push(0x42);
    match inspect(&b, None).end {
        End::Malformed { offset, error, .. } => {
            assert_eq!(offset, 8);
            assert_eq!(error.code, accord_core::ErrorCode::LegacyNotACommand);
            assert_eq!(error.detail, accord_core::Detail::Frame(0x42));
        }
        other => panic!("{other:?}"),
    }
    // A wrong stream version.
    match inspect(b"QEVM\0\0\0\x02", None).end {
        End::Malformed { error, .. } => {
            assert_eq!(error.code, accord_core::ErrorCode::LegacyStreamVersion)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_device_section_without_footer_stops_the_walk_and_says_why() {
    let mut b = b"QEVM\0\0\0\x03".to_vec();
    // FULL section #5 "dev" instance 0 version 1, 3 bytes of state, no footer
    b.extend_from_slice(&[
        0x04, 0, 0, 0, 5, 3, b'd', b'e', b'v', 0, 0, 0, 0, 0, 0, 0, 1,
    ]);
    b.extend_from_slice(&[1, 2, 3]);
    let r = inspect(&b, None);
    match &r.end {
        End::Truncated {
            offset,
            missing,
            what,
        } => {
            assert_eq!(*offset, 8 + 17);
            assert_eq!(*missing, None);
            assert!(what.contains("\"dev\""), "{what}");
        }
        other => panic!("{other:?}"),
    }
    // With its footer (and EOF after it), the walk goes on.
    b.extend_from_slice(&[0x7e, 0, 0, 0, 5, 0x00]);
    let r = inspect(&b, None);
    assert_eq!(r.end, End::Complete);
    let sec = r.items.iter().find(|i| i.name == "FULL").unwrap();
    assert_eq!(sec.fields["body_len"], 3);
    assert_eq!(sec.fields["idstr"], "dev");
    assert_eq!(r.items.last().unwrap().name, "EOF");
}

#[test]
fn unknown_ram_flags_are_undecoded_not_malformed() {
    let mut b = b"QEVM\0\0\0\x03".to_vec();
    b.extend_from_slice(&[
        0x01, 0, 0, 0, 1, 3, b'r', b'a', b'm', 0, 0, 0, 0, 0, 0, 0, 4,
    ]);
    b.extend_from_slice(&0x100u64.to_be_bytes()); // COMPRESS_PAGE, gone since 9.1
    match inspect(&b, None).end {
        End::Undecoded { offset, reason } => {
            assert_eq!(offset, 8 + 17);
            assert!(reason.contains("0x100"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_received_bitmap_follows_its_return_path_message() {
    let mut b = vec![0, 5, 0, 7, 6];
    b.extend_from_slice(b"pc.ram");
    b.extend_from_slice(&16u64.to_be_bytes());
    b.extend_from_slice(&[0xff; 16]);
    b.extend_from_slice(&0x0123_4567_89ab_cdefu64.to_be_bytes());
    b.extend_from_slice(&[0, 6, 0, 4, 0, 0, 0, 1]); // RESUME_ACK 1
    let r = inspect(&b, None);
    assert_eq!(r.end, End::Complete);
    let names: Vec<&str> = r.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["RECV_BITMAP", "RECV_BITMAP data", "RESUME_ACK"]);
    assert_eq!(r.items[1].fields["size"], 16);
    // A wrong end mark stops the walk there.
    let n = b.len();
    b[n - 9] ^= 1;
    assert!(matches!(
        inspect(&b, None).end,
        End::Undecoded { offset: 11, .. }
    ));
}

/// A FULL section `id` named `idstr`, instance 0 version 1, with `body` and
/// its footer.
fn full_section(id: u32, idstr: &[u8], body: &[u8]) -> Vec<u8> {
    let mut b = vec![0x04];
    b.extend_from_slice(&id.to_be_bytes());
    b.push(idstr.len() as u8);
    b.extend_from_slice(idstr);
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
    b.extend_from_slice(body);
    b.push(0x7e);
    b.extend_from_slice(&id.to_be_bytes());
    b
}

#[test]
fn qemu_10_2_package_ends_with_ping_0x42_before_postcopy_run() {
    // The package of a 10.2 postcopy with the return path running:
    // POSTCOPY_LISTEN, a device section, PING 3, PING 0x42, POSTCOPY_RUN.
    let mut pkg = vec![0x08, 0, 4, 0, 0];
    pkg.extend(full_section(9, b"dev", &[1, 2, 3]));
    pkg.extend_from_slice(&[0x08, 0, 2, 0, 4, 0, 0, 0, 3]);
    pkg.extend_from_slice(&[0x08, 0, 2, 0, 4, 0, 0, 0, 0x42]);
    pkg.extend_from_slice(&[0x08, 0, 5, 0, 0]);
    let mut b = b"QEVM\0\0\0\x03".to_vec();
    b.extend_from_slice(&[0x08, 0, 7, 0, 4]);
    b.extend_from_slice(&(pkg.len() as u32).to_be_bytes());
    b.extend(pkg);
    let r = inspect(&b, None);
    assert_eq!(r.end, End::Complete, "{:?}", r.end);
    let cmds: Vec<(String, u64)> = r
        .items
        .iter()
        .filter(|i| i.kind == "command")
        .map(|i| {
            let v = i.fields.get("value").and_then(|v| v.as_u64()).unwrap_or(0);
            (i.name.clone(), v)
        })
        .collect();
    let names: Vec<&str> = cmds.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "PACKAGED",
            "POSTCOPY_LISTEN",
            "PING",
            "PING",
            "POSTCOPY_RUN"
        ]
    );
    assert_eq!((cmds[2].1, cmds[3].1), (3, 0x42));
    let ping = r
        .items
        .iter()
        .find(|i| i.fields.get("value") == Some(&0x42.into()));
    assert!(ping.unwrap().text.contains("PACKAGED_LOADED"));
}

#[test]
fn return_path_with_pong_0x42_and_several_switchover_acks() {
    // 10.2: PONG 0x42 for the package; 11.1: the ack may come again.
    let b = [
        0, 7, 0, 0, // SWITCHOVER_ACK
        0, 2, 0, 4, 0, 0, 0, 1, // PONG 1
        0, 7, 0, 0, // SWITCHOVER_ACK again
        0, 2, 0, 4, 0, 0, 0, 0x42, // PONG 0x42
        0, 1, 0, 4, 0, 0, 0, 0, // SHUT 0
    ];
    let r = inspect(&b, None);
    assert_eq!(r.stream, StreamKind::ReturnPath);
    assert_eq!(r.end, End::Complete);
    let acks: Vec<u64> = r
        .items
        .iter()
        .filter(|i| i.name == "SWITCHOVER_ACK")
        .map(|i| i.fields["ack"].as_u64().unwrap())
        .collect();
    assert_eq!(acks, [1, 2]);
    assert!(r.items[3].text.contains("PACKAGED_LOADED"));
}

#[test]
fn vfio_sections_name_their_first_and_last_tag() {
    let tag = |t: VfioTag| t.as_u64().to_be_bytes();
    let mut b = b"QEVM\0\0\0\x03".to_vec();
    // 10.1+ with the config loaded after the iterables: the whole body.
    b.extend(full_section(
        3,
        b"0000:00:02.0/vfio",
        &tag(VfioTag::DevConfigLoadReady),
    ));
    // a data part ending with INIT_DATA_SENT (the switchover-ack trigger)
    let mut body = tag(VfioTag::DevDataState).to_vec();
    body.extend_from_slice(&2u64.to_be_bytes());
    body.extend_from_slice(&[0xaa, 0xbb]);
    body.extend_from_slice(&tag(VfioTag::DevInitDataSent));
    b.extend(full_section(4, b"vfio", &body));
    b.push(0x00); // EOF
    let r = inspect(&b, None);
    assert_eq!(r.end, End::Complete, "{:?}", r.end);
    let secs: Vec<_> = r.items.iter().filter(|i| i.kind == "section").collect();
    assert_eq!(secs[0].fields["vfio_first"], "DEV_CONFIG_LOAD_READY");
    assert_eq!(secs[0].fields["vfio_last"], "DEV_CONFIG_LOAD_READY");
    assert_eq!(secs[1].fields["vfio_first"], "DEV_DATA_STATE");
    assert_eq!(secs[1].fields["vfio_last"], "DEV_INIT_DATA_SENT");
    assert!(secs[1].text.contains("VFIO state"), "{}", secs[1].text);
}
