//! One encode-plus-decode round of one codec, for callgrind: the exact,
//! load-independent companion of the criterion timings.
//!
//! `codec_once IMPL MSG N` with IMPL in accord, c, json, memcpy; MSG in
//! hello, welcome; N devices. The round runs once to warm up (buffers
//! grown, code paged in), then once inside `measured`, which
//! `valgrind --tool=callgrind --toggle-collect='codec_once::measured*'`
//! counts alone.
use std::hint::black_box;

use accord_bench::cbase::{QsHello, QsWelcome};
use accord_bench::json::{HelloJson, WelcomeJson};
use accord_bench::workload::{memcpy_round, Codec};

struct State {
    w: &'static Codec,
    jh: HelloJson<'static>,
    jw: WelcomeJson,
    imp: String,
    hello: bool,
    buf: Vec<u8>,
    mid: Vec<u8>,
    text: Vec<u8>,
    ch: Box<QsHello>,
    cw: Box<QsWelcome>,
}

fn round(s: &mut State) -> usize {
    let w = s.w;
    match (s.imp.as_str(), s.hello) {
        ("accord", true) => {
            let len = w.accord_hello_encode(&mut s.buf);
            Codec::accord_hello_decode(black_box(&s.buf[..len]))
        }
        ("accord", false) => {
            let len = w.accord_welcome_encode(&mut s.buf);
            Codec::accord_welcome_decode(black_box(&s.buf[..len]))
        }
        ("c", true) => w.c_hello_round(&mut s.buf, &mut s.ch),
        ("c", false) => w.c_welcome_round(&mut s.buf, &mut s.cw),
        ("json", true) => {
            s.text.clear();
            serde_json::to_writer(&mut s.text, &s.jh).expect("serialises");
            let back: HelloJson<'_> = serde_json::from_slice(black_box(&s.text)).expect("parses");
            back.devices.len()
        }
        ("json", false) => {
            s.text.clear();
            serde_json::to_writer(&mut s.text, &s.jw).expect("serialises");
            let back: WelcomeJson = serde_json::from_slice(black_box(&s.text)).expect("parses");
            back.verdicts.len()
        }
        ("memcpy", true) => memcpy_round(&w.hello_bytes, &mut s.mid, &mut s.buf),
        ("memcpy", false) => memcpy_round(&w.welcome_bytes, &mut s.mid, &mut s.buf),
        _ => usize::MAX,
    }
}

#[inline(never)]
fn measured(s: &mut State) -> usize {
    round(s)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [imp, msg, n] = args.as_slice() else {
        eprintln!("usage: codec_once accord|c|json|memcpy hello|welcome N");
        std::process::exit(2);
    };
    let n: usize = n.parse().unwrap_or(0);
    // Leaked so the JSON structures can borrow the names, as in the bench.
    let w: &'static Codec = Box::leak(Box::new(Codec::new(n)));
    let mut s = State {
        w,
        jh: w.json_hello(),
        jw: w.json_welcome(),
        imp: imp.clone(),
        hello: msg == "hello",
        buf: vec![0u8; 4096],
        mid: vec![0u8; 4096],
        text: Vec::with_capacity(4096),
        ch: Box::default(),
        cw: Box::default(),
    };
    if round(&mut s) == usize::MAX {
        eprintln!("unknown implementation {imp}");
        std::process::exit(2);
    }
    black_box(measured(black_box(&mut s)));
}
