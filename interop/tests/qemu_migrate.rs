//! Two real QEMU 10.x processes migrate through the recording relay, whose
//! identification hook is accord's legacy classifier
//! ([`accord_core::legacy::Classifier`], rules of QEMU 10.1+).
//!
//! Each scenario checks, against ground truth taken independently from the
//! captures after the run:
//!
//! - every connection was named correctly, in whatever order it arrived
//!   (main by its `QEVM` magic, multifd by the id in its own 64-byte
//!   header, preempt as the connection that arrived after the first PONG
//!   and sent no magic), reading exactly the bytes the classifier asked for,
//!   and none from the preempt channel;
//! - the whole destination-to-source stream of the main channel decodes
//!   with accord's `RpMessage::decode`, and re-encoding every message gives
//!   back the captured bytes;
//! - the source-to-destination main stream decodes (stream header and
//!   every command reachable, through accord-inspect);
//! - both sides report `completed`.
//!
//! Needs `qemu-system-x86_64` 10.x (`sudo bash scripts/install-qemu.sh`);
//! without it these tests FAIL, they are never skipped. Captures go to
//! `target/tmp/qemu-migrate/<scenario>/` and a summary is printed (run with
//! `--nocapture` to see it). With `ACCORD_INTEROP_UPDATE_FIXTURES=1` the
//! captures also replace `interop/fixtures/<scenario>/`.

mod support;

use accord_core::legacy::RpMessage;
use accord_inspect::End;
use interop::scenario::{uuid_bytes, Scenario, VM_UUID};
use interop::wire::decode_return_path;
use support::*;

#[test]
fn multifd_switchover_ack() {
    let sc = Scenario::multifd();
    let (out, steps) = migrate(&sc);
    let order = check_identification(&sc, &out, &steps);
    assert_eq!(order[0], "main", "the source connects main first");

    let msgs = check_return_path(&out);
    assert_eq!(
        msgs,
        [
            RpMessage::SwitchoverAck,
            RpMessage::Pong(1),
            RpMessage::Shut(0)
        ],
        "no device needs the ack: it comes with OPEN_RETURN_PATH, before PONG 1"
    );

    let (cmds, end, whole, _) = main_stream(&out);
    assert_eq!(
        names_depths(&cmds),
        [
            ("OPEN_RETURN_PATH", 0),
            ("PING", 0),
            ("SWITCHOVER_START", 0)
        ]
    );
    assert_eq!(ping_values(&cmds), pongs(&msgs));
    assert!(whole, "a precopy stream of the tiny guest is kept whole");
    assert_eq!(
        end,
        End::Complete,
        "every section of the main stream walked"
    );
    check_completed(&out);
    println!(
        "multifd: arrival order {}; return path {} bytes, {} messages ({}); main stream {} bytes, commands {:?}",
        order.join(" "),
        out.records[0].d2s.total,
        msgs.len(),
        rp_counts(&msgs),
        out.records[0].s2d.total,
        names_depths(&cmds)
    );
}

#[test]
fn postcopy_preempt_switchover_ack() {
    let sc = Scenario::postcopy_preempt();
    let (out, steps) = migrate(&sc);
    assert!(
        out.saw("postcopy-active"),
        "the migration never entered postcopy: {:?}",
        out.statuses
    );
    let order = check_identification(&sc, &out, &steps);
    assert_eq!(order, ["main", "preempt"]);

    let msgs = check_return_path(&out);
    assert_eq!(msgs[0], RpMessage::SwitchoverAck, "SWITCHOVER_ACK first");
    assert_eq!(msgs.last(), Some(&RpMessage::Shut(0)), "SHUT(0) last");
    let mut p = pongs(&msgs);
    p.sort();
    assert_eq!(p, [1, 2, 3, 4]);
    assert!(msgs
        .iter()
        .any(|m| matches!(m, RpMessage::ReqPagesId { .. })));
    assert!(msgs.iter().any(|m| matches!(m, RpMessage::ReqPages { .. })));
    for m in &msgs {
        if let RpMessage::ReqPagesId { len, .. } | RpMessage::ReqPages { len, .. } = m {
            assert_eq!(*len, 4096, "one target page per request");
        }
    }

    let (cmds, end, _, pages) = main_stream(&out);
    let flat: Vec<(&str, usize)> = names_depths(&cmds)
        .into_iter()
        .filter(|(n, _)| *n != "POSTCOPY_RAM_DISCARD")
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
    let advise = cmds.iter().find(|c| c.name == "POSTCOPY_ADVISE").unwrap();
    assert_eq!(advise.fields["target_page_size"], 4096);
    let mut pings = ping_values(&cmds);
    pings.sort();
    assert_eq!(pings, p, "every PING answered by its PONG");
    assert!(
        matches!(end, End::Truncated { .. }),
        "the kept prefix of a 128 MiB stream ends inside it: {end:?}"
    );
    assert!(pages > 10, "whole RAM pages walked after PING 4: {pages}");

    // The preempt channel connected after the first PONG had passed.
    let main = &out.records[0];
    let pre = &out.records[1];
    let rp = decode_return_path(main.d2s.full.as_deref().unwrap()).unwrap();
    let pong = rp.iter().find(|m| m.kind == 2).expect("a PONG");
    let pong_at = main.d2s.time_of(pong.offset).expect("PONG time");
    assert!(pre.arrived_after >= pong_at);
    check_completed(&out);
    println!(
        "postcopy-preempt: arrival order {}; first PONG passed at {:.1} ms, preempt connected at {:.1} ms; \
         return path {} bytes, {} messages ({}); commands {:?}",
        order.join(" "),
        pong_at.as_secs_f64() * 1e3,
        pre.arrived_after.as_secs_f64() * 1e3,
        main.d2s.total,
        msgs.len(),
        rp_counts(&msgs),
        flat
    );
}

#[test]
fn uuid_text_round_trips() {
    let u = uuid_bytes(VM_UUID).unwrap();
    assert_eq!(u[0], 0xac);
    assert_eq!(u[15], 0xde);
    assert!(uuid_bytes("not-a-uuid").is_none());
}
