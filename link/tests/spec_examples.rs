//! docs/PROTOCOL.md §12's hex examples are test vectors: each block marked
//! `<!-- example: NAME -->` must equal what the link puts on the line.
use accord_link::{Kind, Link, Packet, MAX_WIRE};

#[path = "../../core/tests/common/spec_example.rs"]
mod spec_example;
use spec_example::example;

fn wire(kind: Kind, seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = [0u8; MAX_WIRE];
    let n = Packet { kind, seq, payload }.encode(&mut out).unwrap();
    out[..n].to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x} ")).collect()
}

#[test]
fn open_example_is_what_the_link_sends_first() {
    let mut link: Link<64, 64> = Link::new(0x0000_0102, 100);
    link.open();
    let mut out = [0u8; MAX_WIRE];
    let n = link.poll_transmit(0, &mut out);
    assert_eq!(hex(&out[..n]), hex(&example("link-open")));
}

#[test]
fn open_ack_example_echoes_the_boot_id() {
    assert_eq!(
        hex(&wire(Kind::OpenAck, 0, &0x0000_0102u32.to_be_bytes())),
        hex(&example("link-open-ack"))
    );
}

#[test]
fn data_example_carries_the_start_of_the_main_preamble() {
    let payload = [0x41, 0x43, 0x52, 0x44, 0x01, 0x01, 0x00, 0x00];
    assert_eq!(
        hex(&wire(Kind::Data, 0, &payload)),
        hex(&example("link-data"))
    );
}

#[test]
fn ack_example_acknowledges_seq_0() {
    assert_eq!(hex(&wire(Kind::Ack, 0, &[])), hex(&example("link-ack")));
}

#[test]
fn the_examples_are_received_as_what_they_say() {
    let mut b: Link<64, 64> = Link::new(9, 100);
    b.input(&example("link-open"));
    b.input(&example("link-data"));
    assert_eq!(
        b.received(),
        &[0x41, 0x43, 0x52, 0x44, 0x01, 0x01, 0x00, 0x00]
    );
    assert_eq!(b.stats().good, 2);
}

#[test]
fn print_examples() {
    // Shown with --nocapture when the spec's examples need regenerating.
    println!(
        "open    {}",
        hex(&wire(Kind::Open, 0, &0x0102u32.to_be_bytes()))
    );
    println!(
        "openack {}",
        hex(&wire(Kind::OpenAck, 0, &0x0102u32.to_be_bytes()))
    );
    println!(
        "data    {}",
        hex(&wire(
            Kind::Data,
            0,
            &[0x41, 0x43, 0x52, 0x44, 0x01, 0x01, 0x00, 0x00]
        ))
    );
    println!("ack     {}", hex(&wire(Kind::Ack, 0, &[])));
}
