//! docs/BAD_INPUTS.md, the catalogue of malformed and hostile inputs: one
//! test per row. Each test builds its input, feeds it to the real code, and
//! compares the exact error and the state afterwards with the row's cells,
//! read from the document itself. `every_row_has_a_test` checks that no row
//! is without one. `ACCORD_PRINT_ROWS=1` prints the rows as computed.
use accord_core::version::SUPPORTED;
use accord_core::wire::frame::{self, FrameType};
use accord_core::wire::msg::{self, SwitchoverAck, SwitchoverRevoke, SwitchoverStart};
use accord_core::wire::preamble;
use accord_core::*;

const DOC: &str = include_str!("../../docs/BAD_INPUTS.md");
const THIS: &str = include_str!("bad_inputs.rs");

const NONCE: [u8; 16] = *b"bad-inputs-nonce";
/// Transmit buffers: every frame of these tests fits in 4 KiB (a whole
/// MAX_FRAME buffer per call is slow under Miri and proves nothing more).
const TX_BUF: usize = 4096;
const T0: Instant = Instant(1_000);

// ---------------------------------------------------------------------------
// Rendering, and the comparison with the document.
// ---------------------------------------------------------------------------

/// The error cell: `` `Name` code `` and the detail as the error displays it.
fn render_error(e: Option<&Error>) -> String {
    match e {
        None => "none".into(),
        Some(e) => match e.detail {
            Detail::None => format!("`{:?}` {}", e.code, e.code.as_u16()),
            ref d => format!("`{:?}` {}: {}", e.code, e.code.as_u16(), d),
        },
    }
}

/// The frames in a transmission: "preamble", then frame names (with the code of a Reject or Abort).
fn frames(mut b: &[u8]) -> String {
    if b.is_empty() {
        return "nothing".into();
    }
    let mut out = Vec::new();
    if b.starts_with(&preamble::MAGIC) {
        out.push("preamble".to_string());
        b = &b[preamble::LEN..];
    }
    while let Some(f) = frame::split(b).unwrap() {
        out.push(match f.kind {
            FrameType::Reject | FrameType::Abort => {
                let e = msg::decode_failure(f.payload).unwrap();
                format!("{:?}({})", f.kind, e.code.as_u16())
            }
            k => format!("{k:?}"),
        });
        b = &b[f.len..];
    }
    assert!(b.is_empty());
    out.join(" + ")
}

fn sent_by_destination(d: &mut Destination) -> String {
    let mut buf = vec![0u8; TX_BUF];
    let n = d.poll_transmit(T0, &mut buf).unwrap();
    frames(&buf[..n])
}

fn sent_by_source(s: &mut Source) -> String {
    let mut buf = vec![0u8; TX_BUF];
    let n = s.poll_transmit(T0, &mut buf).unwrap();
    frames(&buf[..n])
}

/// "destination Failed; sends preamble + Abort(106)".
fn destination_after(d: &mut Destination) -> String {
    let st = d.state();
    format!("destination {st:?}; sends {}", sent_by_destination(d))
}

fn source_after(s: &mut Source) -> String {
    let st = s.state();
    format!("source {st:?}; sends {}", sent_by_source(s))
}

/// For a refused call or connection: the machine's state, and that nothing changed.
fn unchanged<T: std::fmt::Debug>(
    who: &str,
    state: impl std::fmt::Debug,
    before: &str,
    after: &T,
) -> String {
    if !cfg!(miri) {
        assert_eq!(
            before,
            snapshot(after),
            "{who}: a refusal changed the machine"
        );
    }
    format!("{who} {state:?}, unchanged")
}

/// The whole machine as text, to compare before and after a refusal.
/// Empty under Miri, where formatting a machine takes a second and there is
/// no undefined behaviour to find in it.
fn snapshot<T: std::fmt::Debug>(x: &T) -> String {
    if cfg!(miri) {
        String::new()
    } else {
        format!("{x:?}")
    }
}

/// The cells of row `id` in the document: (error, state afterwards).
fn row(id: &str) -> (String, String) {
    let tag = format!("| `{id}` |");
    let line = DOC
        .lines()
        .find(|l| l.starts_with(&tag))
        .unwrap_or_else(|| panic!("docs/BAD_INPUTS.md has no row {id}"));
    let cells: Vec<&str> = line.trim_matches('|').split(" | ").map(str::trim).collect();
    assert_eq!(
        cells.len(),
        4,
        "row {id} has 4 cells: id, input, error, state"
    );
    (cells[2].to_string(), cells[3].to_string())
}

/// Compare a test's outcome with its row.
fn check(id: &str, error: Option<&Error>, state: String) {
    let got = (render_error(error), state);
    if cfg!(miri) {
        // Searching the document byte by byte takes most of a second in the
        // interpreter; the comparison is checked by the ordinary run.
        return;
    }
    if std::env::var_os("ACCORD_PRINT_ROWS").is_some() {
        println!("ROW {id} | {} | {}", got.0, got.1);
    }
    assert_eq!(got, row(id), "{id}: code and document differ");
}

#[test]
#[cfg_attr(
    miri,
    ignore = "text search only; nothing for Miri to find, slow to interpret"
)]
fn every_row_has_a_test() {
    let ids: Vec<&str> = DOC
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .filter(|id| id.len() == 3 && id.as_bytes()[1].is_ascii_digit())
        .collect();
    assert!(ids.len() >= 30, "the catalogue has {} rows", ids.len());
    // Compared without whitespace, so rustfmt's line breaks do not matter.
    let code: String = THIS.split_whitespace().collect();
    for id in &ids {
        let f = format!("fn{}_", id.to_lowercase());
        assert!(
            code.contains(&f),
            "row {id} has no test fn {}_",
            id.to_lowercase()
        );
        assert!(
            code.contains(&format!("check(\"{id}\"")),
            "test of {id} does not check its row"
        );
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "row ids are unique");
    println!("{} rows", ids.len());
}

// ---------------------------------------------------------------------------
// Fixtures.
// ---------------------------------------------------------------------------

fn main_preamble() -> Vec<u8> {
    Preamble::main(SUPPORTED, NONCE).to_bytes().to_vec()
}

fn with_bytes(mut p: Vec<u8>, at: usize, bytes: &[u8]) -> Vec<u8> {
    p[at..at + bytes.len()].copy_from_slice(bytes);
    p
}

fn framed(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = vec![kind];
    v.extend((payload.len() as u16).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

fn destination() -> Destination {
    let mut d = Destination::new(DestinationConfig::default(), T0).unwrap();
    d.register_device("ram", 0, false).unwrap();
    d.register_device("vfio", 0, true).unwrap();
    d
}

fn source_cfg(caps: &[(CapabilityId, Level, u16)]) -> SourceConfig {
    let mut cfg = SourceConfig::default();
    for &(id, l, p) in caps {
        cfg.capabilities.set(id, l, p).unwrap();
    }
    cfg
}

const RP: CapabilityId = CapabilityId::RETURN_PATH;
const ACK: CapabilityId = CapabilityId::SWITCHOVER_ACK;
const MULTIFD: CapabilityId = CapabilityId::MULTIFD;
const REQ: Level = Level::Required;
const OPT: Level = Level::Optional;

/// The usual source: return-path, switchover-ack, multifd 4, all required;
/// devices ram (no ack) and vfio (wants the ack).
fn source() -> Source {
    let mut s = Source::new(
        source_cfg(&[(RP, REQ, 0), (ACK, REQ, 0), (MULTIFD, REQ, 4)]),
        NONCE,
    )
    .unwrap();
    s.add_device("ram", 0, false).unwrap();
    s.add_device("vfio", 0, true).unwrap();
    s
}

fn tx_s(s: &mut Source) -> Vec<u8> {
    let mut b = vec![0u8; TX_BUF];
    let n = s.poll_transmit(T0, &mut b).unwrap();
    b.truncate(n);
    b
}

fn tx_d(d: &mut Destination) -> Vec<u8> {
    let mut b = vec![0u8; TX_BUF];
    let n = d.poll_transmit(T0, &mut b).unwrap();
    b.truncate(n);
    b
}

/// The source's first flight (preamble + Hello).
fn hello_flight() -> Vec<u8> {
    let mut s = source();
    s.start(T0).unwrap();
    tx_s(&mut s)
}

/// A Hello frame carrying `payload`, behind the main preamble.
fn hello_with(payload: &[u8]) -> Vec<u8> {
    cat(&[&main_preamble(), &framed(1, payload)])
}

/// Feed a fresh destination; the outcome as (error, state).
fn feed_destination(bytes: &[u8]) -> (Option<Error>, String) {
    let mut d = destination();
    // A refused Hello is no error of the call: the verdict is the machine's.
    let e = match d.handle_input(T0, bytes) {
        Ok(_) => d.error().cloned(),
        Err(e) => {
            assert!(!d.rejected(), "a Reject is queued with Ok, not Err");
            Some(e)
        }
    };
    let st = destination_after(&mut d);
    (e, st)
}

/// A source that sent its Hello, and the destination's real answer to it.
fn source_and_answer() -> (Source, Destination, Vec<u8>) {
    let mut s = source();
    s.start(T0).unwrap();
    let mut d = destination();
    d.handle_input(T0, &tx_s(&mut s)).unwrap();
    let answer = tx_d(&mut d);
    (s, d, answer)
}

/// The answer's parts: preamble, then each frame.
fn parts(answer: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![answer[..preamble::LEN].to_vec()];
    let mut b = &answer[preamble::LEN..];
    while let Some(f) = frame::split(b).unwrap() {
        out.push(b[..f.len].to_vec());
        b = &b[f.len..];
    }
    out
}

/// A session in Precopy on both sides, channels attached, nothing approved.
fn precopy() -> (Source, Destination) {
    let (mut s, mut d, answer) = source_and_answer();
    for id in s.channels().collect::<Vec<_>>() {
        d.accept_channel(T0, &s.channel_preamble(id).unwrap())
            .unwrap();
    }
    s.handle_input(T0, &answer).unwrap();
    s.handle_input(T0, &tx_d(&mut d)).unwrap();
    assert!(s.channels_ready());
    while s.poll_event().is_some() {}
    while d.poll_event().is_some() {}
    (s, d)
}

fn vfio(d: &Destination) -> DeviceId {
    d.devices().find("vfio", 0).unwrap()
}

/// Feed the source; the outcome as (error, state).
fn feed_source(s: &mut Source, bytes: &[u8]) -> (Option<Error>, String) {
    let e = s.handle_input(T0, bytes).err();
    (e, source_after(s))
}

fn ack(epoch: u32) -> Vec<u8> {
    let mut b = [0u8; 16];
    let n = SwitchoverAck { epoch }.encode(&mut b).unwrap();
    framed(5, &b[..n])
}

fn revoke(epoch: u32, device: u16) -> Vec<u8> {
    let mut b = [0u8; 16];
    let n = SwitchoverRevoke { epoch, device }.encode(&mut b).unwrap();
    framed(6, &b[..n])
}

fn start(epoch: u32, waived: bool) -> Vec<u8> {
    let mut b = [0u8; 16];
    let n = SwitchoverStart { epoch, waived }.encode(&mut b).unwrap();
    framed(7, &b[..n])
}

fn channel(role: Role, index: u16, total: u16) -> Preamble {
    Preamble {
        versions: SUPPORTED,
        role,
        flags: 0,
        index,
        total,
        nonce: NONCE,
    }
}

/// Offer a channel to the destination; the outcome as (error, state).
fn offer_channel(d: &mut Destination, p: &Preamble) -> (Option<Error>, String) {
    let before = snapshot(&d);
    match d.accept_channel(T0, p) {
        Ok(a) => (None, format!("destination {:?}; {a:?}", d.state())),
        Err(e) => {
            let st = d.state();
            (Some(e), unchanged("destination", st, &before, d))
        }
    }
}

// ---------------------------------------------------------------------------
// Preambles.
// ---------------------------------------------------------------------------

#[test]
fn p01_truncated_preamble_then_silence() {
    let mut d = destination();
    let p = main_preamble();
    assert_eq!(
        d.handle_input(T0, &p[..20]),
        Ok(0),
        "incomplete: kept, not an error"
    );
    let deadline = d.poll_timeout().unwrap();
    d.handle_timeout(deadline);
    let st = destination_after(&mut d);
    check("P01", d.error(), st);
}

#[test]
fn p02_wrong_magic_qevm() {
    let (e, st) = feed_destination(&with_bytes(main_preamble(), 0, b"QEVM"));
    check("P02", e.as_ref(), st);
}

#[test]
fn p03_wrong_magic_detected_at_the_first_byte() {
    let mut d = destination();
    let e = d.handle_input(T0, &[0x16]).err();
    let st = destination_after(&mut d);
    check("P03", e.as_ref(), st);
}

#[test]
fn p04_version_0() {
    let (e, st) = feed_destination(&with_bytes(main_preamble(), 4, &[0, 1]));
    check("P04", e.as_ref(), st);
}

#[test]
fn p05_version_255() {
    let (e, st) = feed_destination(&with_bytes(main_preamble(), 4, &[1, 255]));
    check("P05", e.as_ref(), st);
}

#[test]
fn p06_empty_version_range() {
    let (e, st) = feed_destination(&with_bytes(main_preamble(), 4, &[3, 2]));
    check("P06", e.as_ref(), st);
}

#[test]
fn p07_unknown_role() {
    let (e, st) = feed_destination(&with_bytes(main_preamble(), 6, &[4]));
    check("P07", e.as_ref(), st);
}

#[test]
fn p08_reserved_flag_bits() {
    let (e, st) = feed_destination(&with_bytes(main_preamble(), 7, &[0x02]));
    check("P08", e.as_ref(), st);
}

#[test]
fn p09_main_preamble_with_total_2() {
    let (e, st) = feed_destination(&with_bytes(main_preamble(), 8, &[0, 1, 0, 2]));
    check("P09", e.as_ref(), st);
}

#[test]
fn p10_multifd_index_equal_to_total() {
    let p = channel(Role::Multifd, 4, 4).to_bytes();
    let e = Preamble::decode(&p).err();
    check(
        "P10",
        e.as_ref(),
        "connection refused before the session sees it".into(),
    );
}

#[test]
fn p11_secondary_channel_preamble_on_the_main_channel() {
    let (e, st) = feed_destination(&channel(Role::Multifd, 0, 4).to_bytes());
    check("P11", e.as_ref(), st);
}

#[test]
fn p12_destination_echoes_another_nonce() {
    let (mut s, _, answer) = source_and_answer();
    let forged = with_bytes(answer, 12, b"some-other-nonce");
    let (e, st) = feed_source(&mut s, &forged);
    check("P12", e.as_ref(), st);
}

// ---------------------------------------------------------------------------
// Frames.
// ---------------------------------------------------------------------------

#[test]
fn f01_unknown_frame_type() {
    let (e, st) = feed_destination(&cat(&[&main_preamble(), &[0x09]]));
    check("F01", e.as_ref(), st);
}

#[test]
fn f02_frame_type_0() {
    let (e, st) = feed_destination(&cat(&[&main_preamble(), &[0x00, 0x00, 0x00]]));
    check("F02", e.as_ref(), st);
}

#[test]
fn f03_oversized_length() {
    let (e, st) = feed_destination(&cat(&[&main_preamble(), &[0x01, 0x40, 0x01]]));
    check("F03", e.as_ref(), st);
}

#[test]
fn f04_truncated_frame_then_silence() {
    let mut d = destination();
    let flight = hello_flight();
    let used = d.handle_input(T0, &flight[..flight.len() - 1]).unwrap();
    assert_eq!(used, preamble::LEN, "the incomplete Hello is kept");
    let deadline = d.poll_timeout().unwrap();
    d.handle_timeout(deadline);
    let st = destination_after(&mut d);
    check("F04", d.error(), st);
}

#[test]
fn f05_garbage_hello_payload() {
    let (e, st) = feed_destination(&hello_with(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff]));
    check("F05", e.as_ref(), st);
}

#[test]
fn f06_hello_with_a_trailing_byte() {
    // 0 offers, 0 devices, then one byte too many.
    let (e, st) = feed_destination(&hello_with(&[0x00, 0x00, 0x00]));
    check("F06", e.as_ref(), st);
}

#[test]
fn f07_bool_byte_2() {
    // One offer: return-path, required = 2.
    let (e, st) = feed_destination(&hello_with(&[0x01, 0x01, 0x02, 0x00, 0x00]));
    check("F07", e.as_ref(), st);
}

#[test]
fn f08_varint_overflowing_u16() {
    // One offer whose id is the varint ff ff 7f (2097151).
    let (e, st) = feed_destination(&hello_with(&[0x01, 0xff, 0xff, 0x7f, 0x00, 0x00, 0x00]));
    check("F08", e.as_ref(), st);
}

#[test]
fn f09_hello_with_17_capability_offers() {
    let mut p = vec![17];
    for id in 1..=17u8 {
        p.extend([id + 0x60, 0x00, 0x00]);
    }
    p.push(0);
    let (e, st) = feed_destination(&hello_with(&p));
    check("F09", e.as_ref(), st);
}

#[test]
fn f10_device_name_65_bytes() {
    let mut p = vec![0x00, 0x01, 65];
    p.extend([b'x'; 65]);
    p.extend([0x00, 0x00]);
    let (e, st) = feed_destination(&hello_with(&p));
    check("F10", e.as_ref(), st);
}

#[test]
fn f11_device_name_empty() {
    let (e, st) = feed_destination(&hello_with(&[0x00, 0x01, 0x00, 0x00, 0x00]));
    check("F11", e.as_ref(), st);
}

#[test]
fn f12_device_name_not_utf8() {
    let (e, st) = feed_destination(&hello_with(&[0x00, 0x01, 0x02, 0xc3, 0x28, 0x00, 0x00]));
    check("F12", e.as_ref(), st);
}

#[test]
fn f13_second_hello_after_welcome() {
    let flight = hello_flight();
    let hello = &flight[preamble::LEN..];
    let (e, st) = feed_destination(&cat(&[&flight, hello]));
    check("F13", e.as_ref(), st);
}

#[test]
fn f14_destination_frame_sent_to_the_destination() {
    let (e, st) = feed_destination(&cat(&[&main_preamble(), &ack(1)]));
    check("F14", e.as_ref(), st);
}

#[test]
fn f15_abort_with_a_malformed_payload() {
    let (e, st) = feed_destination(&cat(&[&main_preamble(), &framed(8, &[0xc9, 0x01, 0x09])]));
    check("F15", e.as_ref(), st);
}

#[test]
fn f16_reject_with_an_unknown_code() {
    let (mut s, _, answer) = source_and_answer();
    // Code 999 (e7 07), Detail::None.
    let reject = framed(3, &[0xe7, 0x07, 0x00]);
    let (e, st) = feed_source(&mut s, &cat(&[&answer[..preamble::LEN], &reject]));
    check("F16", e.as_ref(), st);
}

// ---------------------------------------------------------------------------
// Negotiation (the Hello's content).
// ---------------------------------------------------------------------------

#[test]
fn n01_capability_ids_unordered() {
    // Offers 2 then 1.
    let (e, st) = feed_destination(&hello_with(&[
        0x02, 0x02, 0x00, 0x04, 0x01, 0x00, 0x00, 0x00,
    ]));
    check("N01", e.as_ref(), st);
}

#[test]
fn n02_capability_id_0() {
    let (e, st) = feed_destination(&hello_with(&[0x01, 0x00, 0x00, 0x00, 0x00]));
    check("N02", e.as_ref(), st);
}

#[test]
fn n03_multifd_with_0_channels() {
    let (e, st) = feed_destination(&hello_with(&[0x01, 0x02, 0x01, 0x00, 0x00]));
    check("N03", e.as_ref(), st);
}

#[test]
fn n04_unknown_capability_id_required() {
    // Reserved id 9, required.
    let (e, st) = feed_destination(&hello_with(&[0x01, 0x09, 0x01, 0x00, 0x00]));
    check("N04", e.as_ref(), st);
}

#[test]
fn n05_unknown_capability_id_optional() {
    // Vendor id 0x8001 (81 80 02), optional, parameter 7; no devices on either side.
    let mut d = Destination::new(DestinationConfig::default(), T0).unwrap();
    let e = d
        .handle_input(T0, &hello_with(&[0x01, 0x81, 0x80, 0x02, 0x00, 0x07, 0x00]))
        .err();
    assert!(d.agreed().entries().is_empty());
    let st = destination_after(&mut d);
    check("N05", e.as_ref(), st);
}

#[test]
fn n06_broken_dependency_on_the_wire() {
    // The source requires switchover-ack; the destination lacks return-path.
    let mut s = Source::new(source_cfg(&[(RP, OPT, 0), (ACK, REQ, 0)]), NONCE).unwrap();
    s.start(T0).unwrap();
    let mut cfg = DestinationConfig::default();
    cfg.capabilities.remove(RP);
    let mut d = Destination::new(cfg, T0).unwrap();
    // Refused: no error of the call; the Reject waits for poll_transmit.
    d.handle_input(T0, &tx_s(&mut s)).unwrap();
    let e = d.error().cloned();
    let st = destination_after(&mut d);
    check("N06", e.as_ref(), st);
}

#[test]
fn n07_broken_dependency_in_the_local_configuration() {
    let e = Source::new(source_cfg(&[(ACK, REQ, 0)]), NONCE).err();
    check(
        "N07",
        e.as_ref(),
        "no Source is created; nothing is sent".into(),
    );
}

#[test]
fn n08_no_common_version() {
    let flight = with_bytes(hello_flight(), 4, &[2, 3]);
    let (e, st) = feed_destination(&flight);
    check("N08", e.as_ref(), st);
}

#[test]
fn n09_device_missing_on_destination() {
    // ram, vfio, and "gpu" instance 0, none wanting the ack.
    let p = [
        &[0x00, 0x03][..],
        &[3, b'r', b'a', b'm', 0, 0],
        &[4, b'v', b'f', b'i', b'o', 0, 0],
        &[3, b'g', b'p', b'u', 0, 0],
    ]
    .concat();
    let (e, st) = feed_destination(&hello_with(&p));
    check("N09", e.as_ref(), st);
}

#[test]
fn n10_device_listed_twice() {
    let p = [
        &[0x00, 0x03][..],
        &[3, b'r', b'a', b'm', 0, 0],
        &[4, b'v', b'f', b'i', b'o', 0, 0],
        &[3, b'r', b'a', b'm', 0, 0],
    ]
    .concat();
    let (e, st) = feed_destination(&hello_with(&p));
    check("N10", e.as_ref(), st);
}

#[test]
fn n11_device_missing_on_source() {
    let p = [&[0x00, 0x01][..], &[3, b'r', b'a', b'm', 0, 0]].concat();
    let (e, st) = feed_destination(&hello_with(&p));
    check("N11", e.as_ref(), st);
}

#[test]
fn n12_ack_wanted_for_a_device_the_destination_cannot_serve() {
    // return-path and switchover-ack required; ram wants the ack.
    let p = [
        &[0x02, 0x01, 0x01, 0x00, 0x05, 0x01, 0x00, 0x02][..],
        &[3, b'r', b'a', b'm', 0, 1],
        &[4, b'v', b'f', b'i', b'o', 0, 0],
    ]
    .concat();
    let (e, st) = feed_destination(&hello_with(&p));
    check("N12", e.as_ref(), st);
}

#[test]
fn n13_welcome_with_an_altered_agreement() {
    let (mut s, _, answer) = source_and_answer();
    let mut p = parts(&answer);
    // Welcome payload: version, the destination's offer (8 entries), then
    // the enabled list; its multifd count (4) becomes 3.
    let w = &mut p[1];
    let at = w.windows(3).rposition(|x| x == [0x02, 0x04, 0x05]).unwrap();
    w[at + 1] = 0x03;
    let (e, st) = feed_source(&mut s, &p.concat());
    check("N13", e.as_ref(), st);
}

#[test]
fn n14_welcome_with_another_version() {
    let (mut s, _, answer) = source_and_answer();
    let mut p = parts(&answer);
    p[1][3] = 2;
    let (e, st) = feed_source(&mut s, &p.concat());
    check("N14", e.as_ref(), st);
}

#[test]
fn n15_welcome_with_one_verdict_missing() {
    let (mut s, _, answer) = source_and_answer();
    let mut p = parts(&answer);
    let w = &mut p[1];
    let n = w.len();
    assert_eq!(
        &w[n - 3..],
        &[0x02, 0x00, 0x01],
        "two verdicts: ram no, vfio yes"
    );
    w.truncate(n - 1);
    w[n - 3] = 0x01;
    let len = (w.len() - 3) as u16;
    w[1..3].copy_from_slice(&len.to_be_bytes());
    let (e, st) = feed_source(&mut s, &p.concat());
    check("N15", e.as_ref(), st);
}

#[test]
fn n16_welcome_with_a_wrong_verdict() {
    let (mut s, _, answer) = source_and_answer();
    let mut p = parts(&answer);
    let w = &mut p[1];
    let n = w.len();
    w[n - 2] = 0x01;
    let (e, st) = feed_source(&mut s, &p.concat());
    check("N16", e.as_ref(), st);
}

// ---------------------------------------------------------------------------
// Channels (accept_channel): a refusal concerns only that connection.
// ---------------------------------------------------------------------------

/// A destination after Welcome for the usual source (multifd 4).
fn after_welcome() -> Destination {
    let mut d = destination();
    d.handle_input(T0, &hello_flight()).unwrap();
    tx_d(&mut d);
    d
}

#[test]
fn c01_wrong_nonce() {
    let mut d = after_welcome();
    let mut p = channel(Role::Multifd, 0, 4);
    p.nonce = *b"some-other-nonce";
    let (e, st) = offer_channel(&mut d, &p);
    check("C01", e.as_ref(), st);
}

#[test]
fn c02_duplicate_channel() {
    let mut d = after_welcome();
    d.accept_channel(T0, &channel(Role::Multifd, 1, 4)).unwrap();
    let (e, st) = offer_channel(&mut d, &channel(Role::Multifd, 1, 4));
    check("C02", e.as_ref(), st);
}

#[test]
fn c03_index_beyond_the_agreed_count() {
    // The source offers 4, the destination 2: channels 2 and 3 are refused.
    let mut cfg = DestinationConfig::default();
    cfg.capabilities.set(MULTIFD, OPT, 2).unwrap();
    let mut d = Destination::new(cfg, T0).unwrap();
    d.register_device("ram", 0, false).unwrap();
    d.register_device("vfio", 0, true).unwrap();
    d.handle_input(T0, &hello_flight()).unwrap();
    let (e, st) = offer_channel(&mut d, &channel(Role::Multifd, 2, 4));
    check("C03", e.as_ref(), st);
}

#[test]
fn c04_total_differs_from_the_offer() {
    let mut d = after_welcome();
    let (e, st) = offer_channel(&mut d, &channel(Role::Multifd, 0, 8));
    check("C04", e.as_ref(), st);
}

#[test]
fn c05_role_not_negotiated() {
    let mut d = after_welcome();
    let (e, st) = offer_channel(&mut d, &channel(Role::Preempt, 0, 1));
    check("C05", e.as_ref(), st);
}

#[test]
fn c06_seventeenth_channel_before_welcome() {
    use accord_core::capacity::MAX_EARLY_CHANNELS;
    // The row is written for the firmware defaults (16 early channels). A
    // build with other capacities (libaccord.a's hosted 256: QEMU's 255
    // multifd channels + preempt) fills its own and checks the same refusal.
    let mut d = destination();
    let multifd = MAX_EARLY_CHANNELS.min(255) as u16;
    let total = multifd.clamp(64, 255);
    for i in 0..multifd {
        d.accept_channel(T0, &channel(Role::Multifd, i, total))
            .unwrap();
    }
    let over = if MAX_EARLY_CHANNELS < 255 {
        channel(Role::Multifd, multifd, total)
    } else {
        d.accept_channel(T0, &channel(Role::Preempt, 0, 1)).unwrap();
        channel(Role::DeviceState, 0, 1)
    };
    let (e, st) = offer_channel(&mut d, &over);
    if MAX_EARLY_CHANNELS == 16 {
        check("C06", e.as_ref(), st);
    } else if MAX_EARLY_CHANNELS <= 256 {
        assert_eq!(e.map(|e| e.code), Some(ErrorCode::TooManyEarlyChannels));
        assert!(st.starts_with("destination AwaitHello"), "{st}");
    }
}

#[test]
fn c07_duplicate_among_channels_held_before_welcome() {
    let mut d = destination();
    d.accept_channel(T0, &channel(Role::Multifd, 0, 4)).unwrap();
    let (e, st) = offer_channel(&mut d, &channel(Role::Multifd, 0, 4));
    check("C07", e.as_ref(), st);
}

#[test]
fn c08_reattach_of_a_channel_never_attached() {
    let mut d = after_welcome();
    let mut p = channel(Role::Multifd, 3, 4);
    p.flags = preamble::FLAG_REATTACH;
    let (e, st) = offer_channel(&mut d, &p);
    check("C08", e.as_ref(), st);
}

#[test]
fn c09_channel_versions_differ_from_main() {
    let mut d = after_welcome();
    let mut p = channel(Role::Multifd, 0, 4);
    p.versions = VersionRange::new(1, 2);
    let (e, st) = offer_channel(&mut d, &p);
    check("C09", e.as_ref(), st);
}

#[test]
fn c10_a_second_main_channel() {
    let mut d = after_welcome();
    let (e, st) = offer_channel(&mut d, &channel(Role::Main, 0, 1));
    check("C10", e.as_ref(), st);
}

#[test]
fn c11_held_channel_of_another_migration_refused_at_welcome() {
    let mut d = destination();
    let mut p = channel(Role::Multifd, 0, 4);
    p.nonce = *b"some-other-nonce";
    assert!(matches!(
        d.accept_channel(T0, &p),
        Ok(channels::Assignment::Held(_))
    ));
    d.handle_input(T0, &hello_flight()).unwrap();
    let refused = std::iter::from_fn(|| d.poll_event()).find_map(|e| match e {
        Event::ChannelRefused { code, channel } => Some(Error::with(
            code,
            Detail::Channel {
                role: channel.role,
                index: channel.index,
            },
        )),
        _ => None,
    });
    let st = format!("destination {:?}; event ChannelRefused", d.state());
    check("C11", refused.as_ref(), st);
}

// ---------------------------------------------------------------------------
// Switchover: acks, revokes, approvals.
// ---------------------------------------------------------------------------

#[test]
fn s01_ack_before_welcome() {
    let mut s = source();
    s.start(T0).unwrap();
    tx_s(&mut s);
    let (e, st) = feed_source(
        &mut s,
        &cat(&[&Preamble::main(SUPPORTED, NONCE).to_bytes(), &ack(1)]),
    );
    check("S01", e.as_ref(), st);
}

#[test]
fn s02_second_ack_for_one_arming() {
    let (mut s, mut d) = precopy();
    d.approve(T0, vfio(&d)).unwrap();
    s.handle_input(T0, &tx_d(&mut d)).unwrap();
    let (e, st) = feed_source(&mut s, &ack(2));
    check("S02", e.as_ref(), st);
}

#[test]
fn s03_ack_epoch_not_above_the_last() {
    let (mut s, mut d) = precopy();
    d.approve(T0, vfio(&d)).unwrap();
    d.revoke(T0, vfio(&d)).unwrap();
    d.approve(T0, vfio(&d)).unwrap();
    // Ack 1 was withdrawn before it left; ack 2 arrives, is revoked, then a stale ack 1.
    s.handle_input(T0, &tx_d(&mut d)).unwrap();
    s.handle_input(T0, &revoke(2, 1)).unwrap();
    let (e, st) = feed_source(&mut s, &ack(1));
    check("S03", e.as_ref(), st);
}

#[test]
fn s04_revoke_of_an_ack_never_received() {
    let (mut s, _) = precopy();
    let (e, st) = feed_source(&mut s, &revoke(1, 1));
    check("S04", e.as_ref(), st);
}

#[test]
fn s05_revoke_naming_a_device_that_does_not_take_part() {
    let (mut s, mut d) = precopy();
    d.approve(T0, vfio(&d)).unwrap();
    s.handle_input(T0, &tx_d(&mut d)).unwrap();
    let (e, st) = feed_source(&mut s, &revoke(1, 0));
    check("S05", e.as_ref(), st);
}

#[test]
fn s06_channels_ready_with_another_set() {
    let (mut s, _, answer) = source_and_answer();
    let p = parts(&answer);
    // Welcome, then ChannelsReady claiming 3 multifd channels instead of 4.
    let (e, st) = feed_source(&mut s, &cat(&[&p[0], &p[1], &framed(4, &[3, 0, 0])]));
    check("S06", e.as_ref(), st);
}

#[test]
fn s07_double_approve() {
    let (_, mut d) = precopy();
    d.approve(T0, vfio(&d)).unwrap();
    let before = snapshot(&d);
    let e = d.approve(T0, vfio(&d)).err();
    let st = unchanged("destination", d.state(), &before, &d);
    check("S07", e.as_ref(), st);
}

#[test]
fn s08_approve_an_unknown_device() {
    let (_, mut d) = precopy();
    let before = snapshot(&d);
    let e = d.approve(T0, DeviceId(7)).err();
    let st = unchanged("destination", d.state(), &before, &d);
    check("S08", e.as_ref(), st);
}

#[test]
fn s09_approve_a_device_that_does_not_take_part() {
    let (_, mut d) = precopy();
    let ram = d.devices().find("ram", 0).unwrap();
    let before = snapshot(&d);
    let e = d.approve(T0, ram).err();
    let st = unchanged("destination", d.state(), &before, &d);
    check("S09", e.as_ref(), st);
}

#[test]
fn s10_revoke_a_device_that_has_not_approved() {
    let (_, mut d) = precopy();
    let before = snapshot(&d);
    let e = d.revoke(T0, vfio(&d)).err();
    let st = unchanged("destination", d.state(), &before, &d);
    check("S10", e.as_ref(), st);
}

#[test]
fn s11_revoke_after_switchover_start() {
    let (mut s, mut d) = precopy();
    d.approve(T0, vfio(&d)).unwrap();
    s.handle_input(T0, &tx_d(&mut d)).unwrap();
    s.start_switchover(T0).unwrap();
    d.handle_input(T0, &tx_s(&mut s)).unwrap();
    let before = snapshot(&d);
    let e = d.revoke(T0, vfio(&d)).err();
    let st = unchanged("destination", d.state(), &before, &d);
    check("S11", e.as_ref(), st);
}

#[test]
fn s12_start_switchover_before_the_ack() {
    let (mut s, _) = precopy();
    let before = snapshot(&s);
    let e = s.start_switchover(T0).err();
    let st = unchanged("source", s.state(), &before, &s);
    check("S12", e.as_ref(), st);
}

#[test]
fn s13_switchover_start_on_an_ack_never_sent() {
    let (_, mut d) = precopy();
    let e = d.handle_input(T0, &start(1, false)).err();
    let st = destination_after(&mut d);
    check("S13", e.as_ref(), st);
}

#[test]
fn s14_switchover_start_with_epoch_0_while_the_ack_is_on() {
    let (_, mut d) = precopy();
    d.approve(T0, vfio(&d)).unwrap();
    tx_d(&mut d);
    let e = d.handle_input(T0, &start(0, false)).err();
    let st = destination_after(&mut d);
    check("S14", e.as_ref(), st);
}

#[test]
fn s15_switchover_start_with_an_epoch_while_the_ack_is_off() {
    let mut s = Source::new(source_cfg(&[(RP, REQ, 0)]), NONCE).unwrap();
    s.start(T0).unwrap();
    let mut d = Destination::new(DestinationConfig::default(), T0).unwrap();
    d.handle_input(T0, &tx_s(&mut s)).unwrap();
    tx_d(&mut d);
    let e = d.handle_input(T0, &start(1, false)).err();
    let st = destination_after(&mut d);
    check("S15", e.as_ref(), st);
}

#[test]
fn s16_second_switchover_start() {
    let (mut s, mut d) = precopy();
    d.approve(T0, vfio(&d)).unwrap();
    s.handle_input(T0, &tx_d(&mut d)).unwrap();
    s.start_switchover(T0).unwrap();
    let st = tx_s(&mut s);
    // Reading stops at the first: what follows is the migration stream.
    let used = d.handle_input(T0, &cat(&[&st, &st])).unwrap();
    assert_eq!(used, st.len());
    let e = d.handle_input(T0, &st).err();
    let st = destination_after(&mut d);
    check("S16", e.as_ref(), st);
}

// ---------------------------------------------------------------------------
// QEMU's legacy formats (docs/LEGACY.md): pure decoders and the classifier.
// ---------------------------------------------------------------------------

use accord_core::legacy::{
    Classifier, Command, Decision, Family, LegacyConfig, MultifdInit, Parsed, RpMessage,
    StreamHeader,
};

/// A pure decoder's outcome: it holds no state, so "afterwards" is what it returned.
fn decoded<T: std::fmt::Debug>(r: Result<Parsed<T>>) -> (Option<Error>, String) {
    match r {
        Ok(p) => (None, format!("decoder returns {p:?}")),
        Err(e) => (
            Some(e),
            "decoder returns the error; nothing consumed".into(),
        ),
    }
}

fn multifd_header(version: u32, uuid: [u8; 16], id: u8) -> Vec<u8> {
    let mut b = vec![0u8; 64];
    MultifdInit { uuid, id }.encode(&mut b).unwrap();
    b[4..8].copy_from_slice(&version.to_be_bytes());
    b
}

const VM_UUID: [u8; 16] = *b"vm-uuid-16-bytes";

/// A 10.1+ classifier with 4 multifd channels, the uuid checked.
fn classifier() -> Classifier {
    Classifier::new(LegacyConfig {
        multifd_channels: 4,
        uuid: Some(VM_UUID),
        ..LegacyConfig::new(Family::Qemu10_1Plus)
    })
    .unwrap()
}

const QEVM: [u8; 8] = [0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3];

/// Offer a connection's first bytes to the classifier; an error must record nothing.
fn classified(c: &mut Classifier, peeked: &[u8]) -> (Option<Error>, String) {
    let before = *c;
    match c.classify(peeked) {
        Ok(d) => (None, format!("classifier: {d:?}")),
        Err(e) => {
            assert_eq!(*c, before, "an error records nothing");
            (Some(e), "classifier unchanged (connection refused)".into())
        }
    }
}

#[test]
fn l01_stream_header_with_the_accord_magic() {
    let (e, st) = decoded(StreamHeader::decode(&[0x41, 0x43, 0x52, 0x44, 0, 0, 0, 3]));
    check("L01", e.as_ref(), st);
}

#[test]
fn l02_stream_version_2() {
    let (e, st) = decoded(StreamHeader::decode(&[0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 2]));
    check("L02", e.as_ref(), st);
}

#[test]
fn l03_section_byte_not_a_command() {
    let (e, st) = decoded(Command::decode(&[0x07, 0x00, 0x01, 0x00, 0x00]));
    check("L03", e.as_ref(), st);
}

#[test]
fn l04_command_type_0() {
    let (e, st) = decoded(Command::decode(&[0x08, 0x00, 0x00, 0x00, 0x00]));
    check("L04", e.as_ref(), st);
}

#[test]
fn l05_command_type_12() {
    let (e, st) = decoded(Command::decode(&[0x08, 0x00, 0x0c, 0x00, 0x00]));
    check("L05", e.as_ref(), st);
}

#[test]
fn l06_ping_with_length_2() {
    let (e, st) = decoded(Command::decode(&[0x08, 0x00, 0x02, 0x00, 0x02, 0xab, 0xcd]));
    check("L06", e.as_ref(), st);
}

#[test]
fn l07_open_return_path_with_a_payload_byte() {
    let (e, st) = decoded(Command::decode(&[0x08, 0x00, 0x01, 0x00, 0x01, 0x00]));
    check("L07", e.as_ref(), st);
}

#[test]
fn l08_packaged_of_the_largest_be32_length_is_accepted() {
    let (e, st) = decoded(Command::decode(&[
        0x08, 0x00, 0x07, 0x00, 0x04, 0xff, 0xff, 0xff, 0xff,
    ]));
    check("L08", e.as_ref(), st);
}

#[test]
fn l09_recv_bitmap_idlen_disagrees_with_the_length() {
    // len 4: idlen 5, but only 3 idstr bytes.
    let (e, st) = decoded(Command::decode(&[
        0x08, 0x00, 0x0a, 0x00, 0x04, 0x05, b'r', b'a', b'm',
    ]));
    check("L09", e.as_ref(), st);
}

#[test]
fn l10_postcopy_ram_discard_shorter_than_20_bytes() {
    let (e, st) = decoded(Command::decode(&[
        0x08, 0x00, 0x06, 0x00, 0x03, 0x00, 0x00, 0x00,
    ]));
    check("L10", e.as_ref(), st);
}

#[test]
fn l11_return_path_pong_with_length_2() {
    let (e, st) = decoded(RpMessage::decode(&[0x00, 0x02, 0x00, 0x02, 0x00, 0x01]));
    check("L11", e.as_ref(), st);
}

#[test]
fn l12_return_path_switchover_ack_with_a_payload() {
    let (e, st) = decoded(RpMessage::decode(&[0x00, 0x07, 0x00, 0x04, 0, 0, 0, 1]));
    check("L12", e.as_ref(), st);
}

#[test]
fn l13_return_path_type_8() {
    let (e, st) = decoded(RpMessage::decode(&[0x00, 0x08, 0x00, 0x00]));
    check("L13", e.as_ref(), st);
}

#[test]
fn l14_return_path_type_0() {
    let (e, st) = decoded(RpMessage::decode(&[0x00, 0x00, 0x00, 0x00]));
    check("L14", e.as_ref(), st);
}

#[test]
fn l15_return_path_payload_of_513_bytes() {
    let (e, st) = decoded(RpMessage::decode(&[0x00, 0x03, 0x02, 0x01]));
    check("L15", e.as_ref(), st);
}

#[test]
fn l16_return_path_req_pages_id_idlen_disagrees_with_the_length() {
    // len 16: start, len, idlen 7, but 3 idstr bytes.
    let mut m = vec![0x00, 0x03, 0x00, 0x10];
    m.extend([0; 8]);
    m.extend([0, 0, 0x10, 0]);
    m.extend([7, b'r', b'a', b'm']);
    let (e, st) = decoded(RpMessage::decode(&m));
    check("L16", e.as_ref(), st);
}

#[test]
fn l17_multifd_header_with_the_wrong_magic() {
    let mut h = multifd_header(1, VM_UUID, 0);
    h[..4].copy_from_slice(&QEVM[..4]);
    let (e, st) = decoded(MultifdInit::parse(&h, Some(&VM_UUID), 4));
    check("L17", e.as_ref(), st);
}

#[test]
fn l18_multifd_header_with_version_2() {
    let (e, st) = decoded(MultifdInit::parse(
        &multifd_header(2, VM_UUID, 0),
        Some(&VM_UUID),
        4,
    ));
    check("L18", e.as_ref(), st);
}

#[test]
fn l19_multifd_header_with_the_wrong_uuid() {
    let h = multifd_header(1, *b"another-vm-uuid!", 1);
    let (e, st) = decoded(MultifdInit::parse(&h, Some(&VM_UUID), 4));
    check("L19", e.as_ref(), st);
}

#[test]
fn l20_multifd_id_equal_to_the_channel_count() {
    let (e, st) = decoded(MultifdInit::parse(
        &multifd_header(1, VM_UUID, 4),
        Some(&VM_UUID),
        4,
    ));
    check("L20", e.as_ref(), st);
}

#[test]
fn l21_classifier_sees_neither_magic() {
    let mut c = classifier();
    let (e, st) = classified(&mut c, &Preamble::main(SUPPORTED, NONCE).to_bytes());
    check("L21", e.as_ref(), st);
}

#[test]
fn l22_classifier_second_main_channel() {
    let mut c = classifier();
    c.classify(&QEVM).unwrap();
    let (e, st) = classified(&mut c, &QEVM);
    check("L22", e.as_ref(), st);
}

#[test]
fn l23_classifier_duplicate_multifd_id() {
    let mut c = classifier();
    c.classify(&multifd_header(1, VM_UUID, 2)).unwrap();
    let (e, st) = classified(&mut c, &multifd_header(1, VM_UUID, 2));
    check("L23", e.as_ref(), st);
}

#[test]
fn l24_classifier_multifd_id_equal_to_the_channel_count() {
    let mut c = classifier();
    let (e, st) = classified(&mut c, &multifd_header(1, VM_UUID, 4));
    check("L24", e.as_ref(), st);
}

#[test]
fn l25_classifier_connection_after_the_set_is_complete() {
    let mut c = classifier();
    c.classify(&QEVM).unwrap();
    for id in 0..4 {
        assert_eq!(
            c.classify(&multifd_header(1, VM_UUID, id)),
            Ok(Decision::Multifd { id })
        );
    }
    assert!(c.is_complete());
    let (e, st) = classified(&mut c, &[]);
    check("L25", e.as_ref(), st);
}

#[test]
fn l26_classifier_multifd_header_while_multifd_is_off() {
    let mut c = Classifier::new(LegacyConfig::new(Family::Qemu10_1Plus)).unwrap();
    let (e, st) = classified(&mut c, &multifd_header(1, [0; 16], 0));
    check("L26", e.as_ref(), st);
}

#[test]
fn l27_classifier_configured_with_preempt_but_not_postcopy() {
    let e = Classifier::new(LegacyConfig {
        postcopy_preempt: true,
        ..LegacyConfig::new(Family::Qemu10_1Plus)
    })
    .err();
    check("L27", e.as_ref(), "no Classifier is created".into());
}
