//! Checks on the saved QEMU 10.0 captures in `interop/fixtures/` (see its
//! README). These need no QEMU: they pin what the captures show, so that
//! decoders written against them test against real bytes.

use std::fs;
use std::path::{Path, PathBuf};

use interop::wire::{
    be32_at, decode_return_path, parse_multifd_init, MULTIFD_INIT_LEN, MULTIFD_MAGIC,
    MULTIFD_VERSION, QEVM_MAGIC, QEVM_VERSION,
};

fn dir(scenario: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(scenario)
}

fn read(scenario: &str, name: &str) -> Vec<u8> {
    let p = dir(scenario).join(name);
    fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Files of one scenario whose name contains `part`, sorted.
fn files(scenario: &str, part: &str) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir(scenario))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(part))
        .collect();
    v.sort();
    v
}

/// Offsets of main-stream commands (0x08, be16 cmd, be16 len) with the
/// expected length, found by scanning: good enough for the first bytes,
/// where no RAM page data can imitate them before the first section.
fn find_command(stream: &[u8], cmd: u16, len: u16) -> Vec<usize> {
    let pat = [
        0x08,
        (cmd >> 8) as u8,
        cmd as u8,
        (len >> 8) as u8,
        len as u8,
    ];
    stream
        .windows(pat.len())
        .enumerate()
        .filter(|(_, w)| *w == pat)
        .map(|(i, _)| i)
        .collect()
}

fn check_main_start(main: &[u8]) {
    assert_eq!(be32_at(main, 0), Some(QEVM_MAGIC));
    assert_eq!(be32_at(main, 4), Some(QEVM_VERSION));
    // Configuration section (0x07), be32 length, machine type.
    assert_eq!(main[8], 0x07);
    let n = be32_at(main, 9).unwrap() as usize;
    assert_eq!(&main[13..13 + n], b"pc-q35-10.0");
    // Then OPEN_RETURN_PATH and PING(1), the first commands.
    let at = 13 + n;
    assert_eq!(&main[at..at + 5], &[0x08, 0, 1, 0, 0]);
    assert_eq!(&main[at + 5..at + 14], &[0x08, 0, 2, 0, 4, 0, 0, 0, 1]);
}

#[test]
fn multifd_fixture() {
    let main = read("multifd", "conn00-main-s2d-40k.bin");
    check_main_start(&main);
    assert_eq!(find_command(&main, 11, 0).len(), 1, "one SWITCHOVER_START");
    assert!(find_command(&main, 3, 16).is_empty(), "no POSTCOPY_ADVISE");
    let head = read("multifd", "conn00-main-s2d.bin");
    assert_eq!(&main[..head.len()], &head[..]);

    let rp = decode_return_path(&read("multifd", "conn00-main-d2s-full.bin")).unwrap();
    let kinds: Vec<u16> = rp.iter().map(|m| m.kind).collect();
    assert_eq!(kinds, vec![7, 2, 1], "SWITCHOVER_ACK, PONG, SHUT");
    assert_eq!(rp[1].payload, 1u32.to_be_bytes());
    assert_eq!(rp[2].payload, 0u32.to_be_bytes());

    let chans = files("multifd", "-s2d.bin");
    let chans: Vec<&String> = chans.iter().filter(|n| n.contains("multifd")).collect();
    assert_eq!(chans.len(), 4);
    let mut ids = Vec::new();
    for name in chans {
        let b = read("multifd", name);
        let h = parse_multifd_init(&b).expect("MultiFDInit_t");
        assert_eq!((h.magic, h.version), (MULTIFD_MAGIC, MULTIFD_VERSION));
        assert!(
            name.contains(&format!("multifd{}-", h.id)),
            "{name} has id {}",
            h.id
        );
        // The first packet after the init header reuses the magic.
        assert_eq!(be32_at(&b, MULTIFD_INIT_LEN), Some(MULTIFD_MAGIC));
        ids.push(h.id);
        let d2s = name.replace("-s2d.bin", "-d2s.bin");
        assert!(read("multifd", &d2s).is_empty());
    }
    ids.sort();
    assert_eq!(ids, vec![0, 1, 2, 3]);
}

#[test]
fn postcopy_preempt_fixture() {
    let main = read("postcopy-preempt", "conn00-main-s2d-40k.bin");
    check_main_start(&main);
    assert_eq!(find_command(&main, 3, 16).len(), 1, "POSTCOPY_ADVISE");
    let sw = find_command(&main, 11, 0);
    let pkg = find_command(&main, 7, 4);
    let listen = find_command(&main, 4, 0);
    let run = find_command(&main, 5, 0);
    assert_eq!((sw.len(), pkg.len(), listen.len(), run.len()), (1, 1, 1, 1));
    // SWITCHOVER_START, then PACKAGED whose blob starts with LISTEN and
    // ends with RUN.
    assert!(sw[0] < pkg[0]);
    assert_eq!(listen[0], pkg[0] + 9);
    let blob_end = pkg[0] + 9 + be32_at(&main, pkg[0] + 5).unwrap() as usize;
    assert_eq!(run[0] + 5, blob_end);

    let rp = decode_return_path(&read("postcopy-preempt", "conn00-main-d2s-full.bin")).unwrap();
    assert_eq!(rp[0].kind, 7, "SWITCHOVER_ACK first");
    let mut pongs: Vec<u32> = rp
        .iter()
        .filter(|m| m.kind == 2)
        .map(|m| be32_at(&m.payload, 0).unwrap())
        .collect();
    pongs.sort();
    assert_eq!(pongs, vec![1, 2, 3, 4]);
    assert!(rp.iter().any(|m| m.kind == 3), "REQ_PAGES_ID");
    assert!(rp.iter().any(|m| m.kind == 4), "REQ_PAGES");
    assert_eq!(rp.last().unwrap().kind, 1, "SHUT last");
    for m in &rp {
        match m.kind {
            3 => {
                let n = m.payload[12] as usize;
                assert_eq!(m.payload.len(), 13 + n);
            }
            4 => assert_eq!(m.payload.len(), 12),
            _ => {}
        }
    }

    // The preempt channel: no magic, straight into a RAM page header
    // (be64 offset | flags, with RAM_SAVE_FLAG_PAGE = 0x08).
    let pre = read("postcopy-preempt", "conn01-preempt-s2d.bin");
    let first = be32_at(&pre, 0);
    assert_ne!(first, Some(QEVM_MAGIC));
    assert_ne!(first, Some(MULTIFD_MAGIC));
    assert_eq!(pre[7] & 0x08, 0x08);
    assert!(read("postcopy-preempt", "conn01-preempt-d2s.bin").is_empty());
    assert_eq!(files("postcopy-preempt", "-s2d.bin").len(), 2);
}
