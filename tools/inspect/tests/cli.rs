//! The `accord-inspect` binary on the real QEMU 10.0 captures checked in
//! under `interop/fixtures/`, and on accord handshakes produced by the core:
//! key lines of the human output, every `--json` line parsed and its fields
//! checked, exit codes.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use accord_core::legacy::{RpMessage, StreamHeader};
use accord_core::wire::frame::MAX_FRAME;
use accord_core::*;
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_accord-inspect"))
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../interop/fixtures")
}

fn fixture(scenario: &str, name: &str) -> PathBuf {
    let p = fixtures().join(scenario).join(name);
    assert!(p.is_file(), "missing fixture {}", p.display());
    p
}

/// Fixture files of a scenario whose name contains `part`, sorted.
fn fixture_files(scenario: &str, part: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(fixtures().join(scenario))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(part))
        .collect();
    v.sort();
    v
}

fn run(args: &[&str], path: &Path) -> Output {
    bin()
        .args(args)
        .arg(path)
        .output()
        .expect("run accord-inspect")
}

fn text(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).expect("utf-8 output")
}

/// Run with `--json`, parse every line, split off the stream and end lines.
fn json(args: &[&str], path: &Path) -> (Value, Vec<Value>, Value, i32) {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let o = run(&a, path);
    let lines: Vec<Value> = text(&o)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l:?}: {e}")))
        .collect();
    assert!(lines.len() >= 2, "stream and end lines");
    let head = lines[0].clone();
    let end = lines[lines.len() - 1].clone();
    assert_eq!(head["kind"], "stream");
    assert_eq!(end["kind"], "end");
    let items = lines[1..lines.len() - 1].to_vec();
    for it in &items {
        for key in ["offset", "len", "depth", "kind", "name"] {
            assert!(it.get(key).is_some(), "{key} missing in {it}");
        }
    }
    assert_eq!(end["items"], items.len());
    (head, items, end, o.status.code().unwrap())
}

fn of_kind<'a>(items: &'a [Value], kind: &str) -> Vec<&'a Value> {
    items.iter().filter(|i| i["kind"] == kind).collect()
}

fn names(items: &[&Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["name"].as_str().unwrap().to_string())
        .collect()
}

// ---------------------------------------------------------------------------
// return path

#[test]
fn multifd_return_path_is_switchover_ack_pong_1_shut_0() {
    let p = fixture("multifd", "conn00-main-d2s-full.bin");
    let o = run(&[], &p);
    assert_eq!(o.status.code(), Some(0));
    let t = text(&o);
    assert!(t.contains("return-path stream (detected), 20 bytes"), "{t}");
    assert!(
        t.contains("       0  rp             SWITCHOVER_ACK\n"),
        "{t}"
    );
    assert!(t.contains("       4  rp             PONG 1\n"), "{t}");
    assert!(
        t.contains("      12  rp             SHUT 0 (clean end)\n"),
        "{t}"
    );
    assert!(t.contains("complete: 3 items, all 20 bytes decoded"), "{t}");

    let (head, items, end, code) = json(&[], &p);
    assert_eq!(code, 0);
    assert_eq!(head["stream"], "return-path");
    assert_eq!(head["detected"], true);
    assert_eq!(head["bytes"], 20);
    let rp = of_kind(&items, "rp");
    assert_eq!(names(&rp), ["SWITCHOVER_ACK", "PONG", "SHUT"]);
    assert_eq!(
        rp.iter()
            .map(|i| i["offset"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        [0, 4, 12]
    );
    assert_eq!(rp[0]["type"], 7);
    assert_eq!(rp[0]["len"], 4);
    assert_eq!(rp[1]["type"], 2);
    assert_eq!(rp[1]["value"], 1);
    assert_eq!(rp[2]["type"], 1);
    assert_eq!(rp[2]["value"], 0);
    assert_eq!(end["status"], "complete");
    assert_eq!(end["offset"], 20);
}

#[test]
fn postcopy_return_path_has_every_message_with_offsets() {
    let p = fixture("postcopy-preempt", "conn00-main-d2s-full.bin");
    let bytes = fs::read(&p).unwrap();
    let (_, items, end, code) = json(&[], &p);
    assert_eq!(code, 0);
    assert_eq!(end["status"], "complete");
    let rp = of_kind(&items, "rp");
    assert_eq!(rp.len(), items.len());
    assert_eq!(rp[0]["name"], "SWITCHOVER_ACK");
    assert_eq!(rp.last().unwrap()["name"], "SHUT");
    let mut pongs: Vec<u64> = rp
        .iter()
        .filter(|i| i["name"] == "PONG")
        .map(|i| i["value"].as_u64().unwrap())
        .collect();
    pongs.sort();
    assert_eq!(pongs, [1, 2, 3, 4]);
    assert!(rp
        .iter()
        .any(|i| i["name"] == "REQ_PAGES_ID" && i["idstr"].is_string()));
    assert!(rp.iter().any(|i| i["name"] == "REQ_PAGES"));
    // The items tile the input, and each one is what accord's decoder
    // reads at that offset.
    let mut at = 0;
    for it in &rp {
        let off = it["offset"].as_u64().unwrap() as usize;
        let len = it["len"].as_u64().unwrap() as usize;
        assert_eq!(off, at);
        let (m, used) = match RpMessage::decode(&bytes[off..]).unwrap() {
            accord_core::legacy::Parsed::Done(m, n) => (m, n),
            other => panic!("{other:?}"),
        };
        assert_eq!(used, len);
        assert_eq!(it["type"], m.rp_type().as_u16());
        at += len;
    }
    assert_eq!(at, bytes.len());
}

#[test]
fn a_bad_return_path_length_is_malformed_with_offset_and_code() {
    let dir = tmp("malformed");
    let p = dir.join("rp-bad.bin");
    // SWITCHOVER_ACK, then a PONG claiming 8 bytes
    fs::write(&p, [0, 7, 0, 0, 0, 2, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0]).unwrap();
    let o = run(&[], &p);
    assert_eq!(o.status.code(), Some(1));
    let t = text(&o);
    assert!(t.contains("SWITCHOVER_ACK"), "{t}");
    assert!(
        t.contains(
            "malformed at offset 4: legacy: message length rejected (E806): expected 4, got 8 (return-path message #1)"
        ),
        "{t}"
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("malformed at offset 4: legacy: message length rejected (E806)"),
        "{err}"
    );
    let (_, items, end, code) = json(&[], &p);
    assert_eq!(code, 1);
    assert_eq!(items.len(), 1);
    assert_eq!(end["status"], "malformed");
    assert_eq!(end["offset"], 4);
    assert_eq!(end["code"], 806);
    assert_eq!(end["error"], "E806");
}

#[test]
fn a_truncated_return_path_says_what_is_missing() {
    let bytes = fs::read(fixture("multifd", "conn00-main-d2s-full.bin")).unwrap();
    let dir = tmp("truncated");
    let p = dir.join("rp-10.bin");
    fs::write(&p, &bytes[..10]).unwrap();
    let o = run(&[], &p);
    assert_eq!(o.status.code(), Some(0));
    let t = text(&o);
    assert!(
        t.contains("truncated: return-path message #1 (from offset 4) needs at least 2 more bytes"),
        "{t}"
    );
    let (_, items, end, _) = json(&[], &p);
    assert_eq!(items.len(), 1);
    assert_eq!(end["status"], "truncated");
    assert_eq!(end["offset"], 4);
    assert_eq!(end["missing"], 2);
}

// ---------------------------------------------------------------------------
// main stream

/// Commands as (offset, name, depth), from the JSON output.
fn commands(items: &[Value]) -> Vec<(u64, String, u64)> {
    of_kind(items, "command")
        .iter()
        .map(|i| {
            (
                i["offset"].as_u64().unwrap(),
                i["name"].as_str().unwrap().to_string(),
                i["depth"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn multifd_main_stream_decodes_to_its_end() {
    let p = fixture("multifd", "conn00-main-s2d-full.bin");
    let o = run(&[], &p);
    assert_eq!(o.status.code(), Some(0));
    let t = text(&o);
    assert!(t.contains("qemu-main stream (detected)"), "{t}");
    assert!(
        t.contains("       0  header         QEVM version 3\n"),
        "{t}"
    );
    assert!(t.contains("CONFIGURATION machine \"pc-q35-10.0\""), "{t}");
    assert!(
        t.contains("      24  command        OPEN_RETURN_PATH\n"),
        "{t}"
    );
    assert!(t.contains("      29  command        PING 1\n"), "{t}");
    assert!(t.contains("command        SWITCHOVER_START\n"), "{t}");
    assert!(t.contains("MULTIFD_FLUSH"), "{t}");

    let (head, items, end, code) = json(&[], &p);
    assert_eq!(code, 0);
    assert_eq!(head["stream"], "qemu-main");
    let cmds = commands(&items);
    let cmd_names: Vec<&str> = cmds.iter().map(|c| c.1.as_str()).collect();
    assert_eq!(cmd_names, ["OPEN_RETURN_PATH", "PING", "SWITCHOVER_START"]);
    assert_eq!((cmds[0].0, cmds[1].0), (24, 29));
    let ping = of_kind(&items, "command")[1];
    assert_eq!(ping["value"], 1);
    assert_eq!(ping["cmd"], 2);
    // The RAM section (START, PART, END) and the device sections up to EOF.
    let sections = of_kind(&items, "section");
    assert_eq!(sections[0]["name"], "CONFIGURATION");
    assert_eq!(sections[0]["machine"], "pc-q35-10.0");
    let ram: Vec<&&Value> = sections.iter().filter(|s| s["idstr"] == "ram").collect();
    assert_eq!(
        names(&ram.iter().map(|v| **v).collect::<Vec<_>>()),
        ["START", "PART", "END"]
    );
    assert!(ram.iter().all(|s| s["footer"].is_u64()));
    assert!(sections
        .iter()
        .any(|s| s["idstr"] == "cpu" && s["name"] == "FULL"));
    assert!(sections.iter().any(|s| s["name"] == "EOF"));
    let mem = of_kind(&items, "ram");
    assert_eq!(mem[0]["name"], "MEM_SIZE");
    assert_eq!(mem[0]["blocks"][0]["idstr"], "pc.ram");
    assert_eq!(mem[0]["blocks"][0]["length"], 128u64 << 20);
    // The whole stream: every section, EOF, then the VMDESCRIPTION, whose
    // device list matches the device sections walked.
    assert_eq!(end["status"], "complete");
    assert_eq!(end["offset"], fs::metadata(&p).unwrap().len());
    let desc = sections.last().unwrap();
    assert_eq!(desc["name"], "VMDESCRIPTION");
    assert_eq!(desc["page_size"], 4096);
    let full = sections.iter().filter(|s| s["name"] == "FULL").count();
    assert_eq!(desc["devices"], full);
    assert!(t.contains("complete: "), "{t}");
    // The commands are where accord's own decoder finds them.
    let bytes = fs::read(&p).unwrap();
    assert!(StreamHeader::decode(&bytes).is_ok());
    for (off, name, _) in &cmds {
        let c = accord_core::legacy::Command::decode(&bytes[*off as usize..])
            .unwrap()
            .done()
            .unwrap();
        assert_eq!(c.command_type().name(), name);
    }
}

#[test]
fn postcopy_main_stream_walks_into_the_packaged_blob() {
    let p = fixture("postcopy-preempt", "conn00-main-s2d-40k.bin");
    let (_, items, end, code) = json(&[], &p);
    assert_eq!(code, 0);
    let cmds = commands(&items);
    let flat: Vec<(&str, u64)> = cmds
        .iter()
        .filter(|c| c.1 != "POSTCOPY_RAM_DISCARD")
        .map(|c| (c.1.as_str(), c.2))
        .collect();
    assert_eq!(
        flat,
        [
            ("OPEN_RETURN_PATH", 0),
            ("PING", 0),
            ("POSTCOPY_ADVISE", 0),
            ("SWITCHOVER_START", 0),
            ("PING", 0),
            ("PACKAGED", 0),
            ("POSTCOPY_LISTEN", 1),
            ("PING", 1),
            ("POSTCOPY_RUN", 1),
            ("PING", 0),
        ]
    );
    let c = of_kind(&items, "command");
    let pings: Vec<u64> = c
        .iter()
        .filter(|i| i["name"] == "PING")
        .map(|i| i["value"].as_u64().unwrap())
        .collect();
    assert_eq!(pings, [1, 2, 3, 4]);
    let advise = c.iter().find(|i| i["name"] == "POSTCOPY_ADVISE").unwrap();
    assert_eq!(advise["target_page_size"], 4096);
    let pkg = c.iter().find(|i| i["name"] == "PACKAGED").unwrap();
    let blob_end = pkg["blob_end"].as_u64().unwrap();
    let run = c.iter().find(|i| i["name"] == "POSTCOPY_RUN").unwrap();
    assert_eq!(run["offset"].as_u64().unwrap() + 5, blob_end);
    let pkg_end = of_kind(&items, "package");
    assert_eq!(pkg_end.len(), 1);
    assert_eq!(pkg_end[0]["offset"].as_u64().unwrap(), blob_end);
    // Device state inside the blob, one level deeper.
    assert!(of_kind(&items, "section")
        .iter()
        .any(|s| s["idstr"] == "cpu" && s["depth"] == 1));
    // Then RAM pages, cut by the end of the capture.
    assert!(of_kind(&items, "ram").iter().any(|r| r["name"] == "PAGE"));
    assert_eq!(end["status"], "truncated");
    assert!(end["what"].as_str().unwrap().contains("PAGE"));
}

// ---------------------------------------------------------------------------
// multifd and preempt channels

#[test]
fn multifd_channels_name_their_id_and_packets() {
    let files: Vec<PathBuf> = fixture_files("multifd", "-s2d.bin")
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .contains("-multifd")
        })
        .collect();
    assert_eq!(files.len(), 4);
    let mut ids = Vec::new();
    for p in files {
        let stem = p.file_name().unwrap().to_string_lossy().into_owned();
        let o = run(&[], &p);
        assert_eq!(o.status.code(), Some(0), "{stem}");
        let t = text(&o);
        assert!(t.contains("multifd stream (detected)"), "{t}");
        let (_, items, end, _) = json(&[], &p);
        let init = of_kind(&items, "multifd-init");
        assert_eq!(init.len(), 1);
        let id = init[0]["id"].as_u64().unwrap();
        assert!(stem.contains(&format!("-multifd{id}-")), "{stem}: id {id}");
        assert_eq!(init[0]["offset"], 0);
        assert_eq!(init[0]["len"], 64);
        let uuid = init[0]["uuid"].as_str().unwrap();
        assert_eq!(uuid.len(), 36);
        let packets = of_kind(&items, "multifd-packet");
        assert!(!packets.is_empty());
        assert_eq!(packets[0]["offset"], 64);
        assert_eq!(packets[0]["name"], "SYNC");
        assert!(packets.iter().all(|p| p["compression"] == "none"));
        assert!(packets.iter().skip(1).any(|p| p["block"] == "pc.ram"));
        assert_eq!(
            end["status"], "truncated",
            "8 KiB heads end inside a packet"
        );
        ids.push(id);
    }
    ids.sort();
    assert_eq!(ids, [0, 1, 2, 3]);
}

#[test]
fn the_preempt_channel_is_bare_ram_pages() {
    let p = fixture_files("postcopy-preempt", "preempt-s2d.bin")
        .pop()
        .expect("preempt capture");
    let (head, items, end, code) = json(&["--kind", "preempt"], &p);
    assert_eq!(code, 0);
    assert_eq!(head["stream"], "preempt");
    assert_eq!(head["detected"], false);
    let ram = of_kind(&items, "ram");
    assert!(!ram.is_empty());
    assert_eq!(ram[0]["name"], "PAGE");
    assert_eq!(ram[0]["offset"], 0);
    assert!(ram[0]["block"].is_string());
    assert!(matches!(
        end["status"].as_str(),
        Some("truncated" | "complete")
    ));
}

#[test]
fn a_preempt_capture_is_detected_as_a_page_stream_not_a_return_path() {
    let p = fixture_files("postcopy-preempt", "preempt-s2d.bin")
        .pop()
        .expect("preempt capture");
    let (head, items, end, code) = json(&[], &p);
    assert_eq!(head["stream"], "preempt");
    assert_eq!(head["detected"], true);
    assert_eq!(code, 0, "{end}");
    assert_ne!(end["status"], "malformed");
    let ram = of_kind(&items, "ram");
    assert_eq!(ram[0]["name"], "PAGE");
    assert_eq!(ram[0]["offset"], 0);
    assert_eq!(ram[0]["block"], "pc.bios");
}

#[test]
fn empty_captures_are_an_empty_return_path() {
    for p in fixture_files("multifd", "-d2s.bin")
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .contains("-multifd")
        })
    {
        let (head, items, end, code) = json(&[], &p);
        assert_eq!((code, head["bytes"].as_u64()), (0, Some(0)));
        assert!(items.is_empty());
        assert_eq!(end["status"], "complete");
    }
}

// ---------------------------------------------------------------------------
// accord channels, produced by the core

fn tmp(name: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("accord-inspect")
        .join(name);
    fs::create_dir_all(&d).unwrap();
    d
}

const NONCE: [u8; 16] = *b"inspect-nonce-16";

struct Transcript {
    s2d: Vec<u8>,
    d2s: Vec<u8>,
    channels: Vec<(ChannelId, Vec<u8>)>,
}

/// A whole handshake between the core's Source and Destination: Hello,
/// Welcome, the two multifd channels, ChannelsReady, an approval, the ack
/// and the source's SwitchoverStart.
fn handshake() -> Transcript {
    let now = Instant(0);
    let mut cfg = SourceConfig::default();
    cfg.capabilities
        .set(CapabilityId::RETURN_PATH, Level::Required, 0)
        .unwrap();
    cfg.capabilities
        .set(CapabilityId::MULTIFD, Level::Required, 2)
        .unwrap();
    cfg.capabilities
        .set(CapabilityId::SWITCHOVER_ACK, Level::Optional, 0)
        .unwrap();
    let mut s = Source::new(cfg, NONCE).unwrap();
    s.add_device("ram", 0, false).unwrap();
    s.add_device("0000:00:02.0/vfio", 0, true).unwrap();
    let mut d = Destination::new(DestinationConfig::default(), now).unwrap();
    d.register_device("ram", 0, false).unwrap();
    let vfio = d.register_device("0000:00:02.0/vfio", 0, true).unwrap();
    s.start(now).unwrap();
    let mut t = Transcript {
        s2d: Vec::new(),
        d2s: Vec::new(),
        channels: Vec::new(),
    };
    let mut buf = vec![0u8; 4 * MAX_FRAME];
    let mut shuttle = |s: &mut Source, d: &mut Destination, t: &mut Transcript| {
        for _ in 0..8 {
            let n = s.poll_transmit(now, &mut buf).unwrap();
            if n > 0 {
                t.s2d.extend_from_slice(&buf[..n]);
                assert_eq!(d.handle_input(now, &buf[..n]).unwrap(), n);
            }
            let m = d.poll_transmit(now, &mut buf).unwrap();
            if m > 0 {
                t.d2s.extend_from_slice(&buf[..m]);
                assert_eq!(s.handle_input(now, &buf[..m]).unwrap(), m);
            }
            if n == 0 && m == 0 {
                break;
            }
        }
    };
    shuttle(&mut s, &mut d, &mut t);
    for id in s.channels().collect::<Vec<_>>() {
        let bytes = s.channel_preamble(id).unwrap().to_bytes().to_vec();
        let p = Preamble::decode(&bytes).unwrap().unwrap();
        d.accept_channel(now, &p).unwrap();
        t.channels.push((id, bytes));
    }
    shuttle(&mut s, &mut d, &mut t);
    d.approve(now, vfio).unwrap();
    shuttle(&mut s, &mut d, &mut t);
    assert!(s.can_switchover(), "{:?}", s.error());
    s.start_switchover(now).unwrap();
    shuttle(&mut s, &mut d, &mut t);
    t
}

#[test]
fn an_accord_handshake_decodes_frame_by_frame() {
    let t = handshake();
    let dir = tmp("handshake");
    let s2d = dir.join("main-s2d.bin");
    let d2s = dir.join("main-d2s.bin");
    fs::write(&s2d, &t.s2d).unwrap();
    fs::write(&d2s, &t.d2s).unwrap();

    let o = run(&[], &s2d);
    assert_eq!(o.status.code(), Some(0));
    let txt = text(&o);
    assert!(txt.contains("accord stream (detected)"), "{txt}");
    assert!(
        txt.contains(&format!(
            "       0  preamble       ACRD main 0/1 versions 1..=1 nonce {}",
            hex(&NONCE)
        )),
        "{txt}"
    );
    assert!(
        txt.contains(
            "      28  frame          Hello offers [return-path required, multifd=2 required, \
             switchover-ack optional] devices [\"ram\"/0, \"0000:00:02.0/vfio\"/0 wants-ack]"
        ),
        "{txt}"
    );
    assert!(
        txt.contains("frame          SwitchoverStart epoch 1\n"),
        "{txt}"
    );

    let (head, items, end, code) = json(&[], &s2d);
    assert_eq!((code, head["stream"].as_str()), (0, Some("accord")));
    assert_eq!(end["status"], "complete");
    assert_eq!(
        names(&items.iter().collect::<Vec<_>>()),
        ["ACRD", "Hello", "SwitchoverStart"]
    );
    assert_eq!(items[0]["role"], "main");
    assert_eq!(items[0]["nonce"], hex(&NONCE));
    let hello = &items[1];
    assert_eq!(hello["offset"], 28);
    assert_eq!(hello["offers"][1]["name"], "multifd");
    assert_eq!(hello["offers"][1]["param"], 2);
    assert_eq!(hello["offers"][2]["required"], false);
    assert_eq!(hello["devices"][1]["name"], "0000:00:02.0/vfio");
    assert_eq!(hello["devices"][1]["wants_ack"], true);
    assert_eq!(items[2]["epoch"], 1);
    assert_eq!(items[2]["waived"], false);

    let (_, items, end, code) = json(&[], &d2s);
    assert_eq!((code, end["status"].as_str()), (0, Some("complete")));
    assert_eq!(
        names(&items.iter().collect::<Vec<_>>()),
        ["ACRD", "Welcome", "ChannelsReady", "SwitchoverAck"]
    );
    let w = &items[1];
    assert_eq!(w["version"], 1);
    let enabled: Vec<&str> = w["enabled"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(enabled, ["return-path", "multifd", "switchover-ack"]);
    assert_eq!(w["enabled"][1]["param"], 2);
    assert_eq!(w["verdicts"], serde_json::json!([false, true]));
    assert_eq!(items[2]["multifd"], 2);
    assert_eq!(items[2]["preempt"], false);
    assert_eq!(items[3]["epoch"], 1);

    // Secondary channels: the preamble, nothing else.
    for (id, bytes) in &t.channels {
        let p = dir.join(format!("multifd{}.bin", id.index));
        fs::write(&p, bytes).unwrap();
        let (_, items, end, code) = json(&[], &p);
        assert_eq!((code, end["status"].as_str()), (0, Some("complete")));
        assert_eq!(items.len(), 1);
        assert_eq!(items[0]["role"], "multifd");
        assert_eq!(items[0]["index"], id.index);
        assert_eq!(items[0]["total"], 2);
    }
}

#[test]
fn a_reject_names_its_code_and_detail() {
    // A source that requires postcopy-preempt, from a destination that
    // does not offer it.
    let now = Instant(0);
    let mut cfg = SourceConfig::default();
    cfg.capabilities
        .set(CapabilityId::POSTCOPY_RAM, Level::Required, 0)
        .unwrap();
    cfg.capabilities
        .set(CapabilityId::POSTCOPY_PREEMPT, Level::Required, 0)
        .unwrap();
    let mut s = Source::new(cfg, NONCE).unwrap();
    let mut dcfg = DestinationConfig::default();
    dcfg.capabilities.remove(CapabilityId::POSTCOPY_PREEMPT);
    let mut d = Destination::new(dcfg, now).unwrap();
    s.start(now).unwrap();
    let mut buf = vec![0u8; 4 * MAX_FRAME];
    let n = s.poll_transmit(now, &mut buf).unwrap();
    let _ = d.handle_input(now, &buf[..n]);
    let m = d.poll_transmit(now, &mut buf).unwrap();
    let dir = tmp("reject");
    let p = dir.join("reject-d2s.bin");
    fs::write(&p, &buf[..m]).unwrap();

    let o = run(&[], &p);
    assert_eq!(o.status.code(), Some(0), "a Reject is a valid frame");
    let t = text(&o);
    assert!(
        t.contains("frame          Reject capability required by source, missing on destination (E202): capability postcopy-preempt"),
        "{t}"
    );
    let (_, items, _, _) = json(&[], &p);
    let r = &items[1];
    assert_eq!(r["name"], "Reject");
    assert_eq!(r["code"], 202);
    assert_eq!(r["error"], "E202");
    assert_eq!(r["detail"]["type"], "capability");
    assert_eq!(r["detail"]["name"], "postcopy-preempt");
}

#[test]
fn a_bad_accord_frame_is_malformed_and_a_short_one_truncated() {
    let t = handshake();
    let dir = tmp("bad-frames");
    // Unknown frame type 0x09 right after the preamble.
    let mut bad = t.s2d[..28].to_vec();
    bad.extend_from_slice(&[0x09, 0x00, 0x00]);
    let p = dir.join("unknown-frame.bin");
    fs::write(&p, &bad).unwrap();
    let (_, _, end, code) = json(&[], &p);
    assert_eq!(code, 1);
    assert_eq!(end["offset"], 28);
    assert_eq!(end["code"], 106);
    // A Hello cut in the middle.
    let p = dir.join("short-hello.bin");
    fs::write(&p, &t.s2d[..40]).unwrap();
    let (_, items, end, code) = json(&[], &p);
    assert_eq!(code, 0);
    assert_eq!(items.len(), 1);
    assert_eq!(end["status"], "truncated");
    assert_eq!(end["offset"], 28);
    let hello_len = 3 + u16::from_be_bytes([t.s2d[29], t.s2d[30]]) as u64;
    assert_eq!(end["missing"], 28 + hello_len - 40);
    // A bad magic is refused at its first wrong byte.
    let p = dir.join("bad-magic.bin");
    fs::write(&p, b"ACRX\x01\x01").unwrap();
    let (head, _, end, code) = json(&["--kind", "accord"], &p);
    assert_eq!(head["detected"], false);
    assert_eq!((code, end["offset"].as_u64()), (1, Some(3)));
    assert_eq!(end["code"], 101);
}

// ---------------------------------------------------------------------------
// command line

#[test]
fn usage_errors_exit_2_and_help_exits_0() {
    let p = fixture("multifd", "conn00-main-d2s-full.bin");
    for args in [&["--bogus"][..], &["--kind", "nope"], &["--kind"]] {
        let o = run(args, &p);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains("usage:"));
    }
    let o = bin().arg("/nonexistent/capture.bin").output().unwrap();
    assert_eq!(o.status.code(), Some(2));
    let o = bin().arg("--help").output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    assert!(text(&o).contains("--kind KIND"));
}

#[test]
fn reads_standard_input_and_several_files() {
    let bytes = fs::read(fixture("multifd", "conn00-main-d2s-full.bin")).unwrap();
    let mut child = bin()
        .args(["--json", "--kind=return-path", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bytes).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let first: Value = serde_json::from_str(text(&o).lines().next().unwrap()).unwrap();
    assert_eq!(first["source"], "<stdin>");
    assert_eq!(first["detected"], false);

    let a = fixture("multifd", "conn00-main-d2s-full.bin");
    let b = fixture("postcopy-preempt", "conn00-main-d2s-full.bin");
    let o = bin().arg("--json").arg(&a).arg(&b).output().unwrap();
    assert_eq!(o.status.code(), Some(0));
    let streams = text(&o)
        .lines()
        .filter(|l| l.contains("\"kind\":\"stream\""))
        .count();
    assert_eq!(streams, 2);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

// ---------------------------------------------------------------------------
// QEMU 10.2.2 captures

#[test]
fn qemu_10_2_captures_decode_with_ping_0x42_and_a_detected_preempt_stream() {
    for scenario in [
        "qemu10.2-multifd-postcopy-preempt",
        "qemu10.2-postcopy-preempt",
    ] {
        let main = fixture_files(scenario, "main-s2d-40k.bin")
            .pop()
            .expect("main stream head");
        let (head, items, end, _) = json(&[], &main);
        assert_eq!(head["stream"], "qemu-main", "{scenario}");
        assert_ne!(end["status"], "malformed", "{scenario}: {end}");
        let cmds = of_kind(&items, "command");
        let ping42 = cmds
            .iter()
            .find(|c| c["name"] == "PING" && c["value"] == 0x42)
            .unwrap_or_else(|| panic!("{scenario}: no PING 0x42"));
        assert_eq!(ping42["depth"], 1, "{scenario}: inside the package");

        let rp = fixture(scenario, "conn00-main-d2s-full.bin");
        let (head, items, end, code) = json(&[], &rp);
        assert_eq!(head["stream"], "return-path");
        assert_eq!((end["status"].as_str(), code), (Some("complete"), 0));
        assert!(items
            .iter()
            .any(|i| i["name"] == "PONG" && i["value"] == 0x42));

        let pre = fixture_files(scenario, "preempt-s2d.bin")
            .pop()
            .expect("preempt capture");
        let (head, _, end, code) = json(&[], &pre);
        assert_eq!(head["stream"], "preempt", "{scenario}");
        assert_eq!(code, 0, "{scenario}: {end}");
    }
}
