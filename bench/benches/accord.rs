//! accord against its baselines, in one run on one machine (criterion).
//!
//! - `hello_N`, `welcome_N` (N = 1, 8, 32 devices): encode plus decode, by
//!   accord, the hand-written QEMU-style C baseline, serde_json, and memcpy.
//! - `classify_preamble`: accord's 28-byte preamble, accord vs the C baseline.
//! - `classify_legacy`: a QEMU 10.1+ destination identifies a main channel
//!   (QEVM) and a multifd channel (MultiFDInit_t), accord vs QEMU-style C.
//! - `handshake_full`: both roles in memory, main + 16 multifd + preempt,
//!   32 devices, every approval, the ack and the switchover decision.
//!
//! `bash scripts/bench.sh` runs this and writes bench/RESULTS.md.
use std::hint::black_box;
use std::time::Duration;

use accord_bench::cbase::{self, QsHello, QsPreamble, QsWelcome};
use accord_bench::handshake::{run, Handshake};
use accord_bench::json::{HelloJson, WelcomeJson};
use accord_bench::workload::{memcpy_round, Codec, LegacyIds};
use accord_core::{ChannelId, Preamble, Role, VersionRange};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};

const SIZES: [usize; 3] = [1, 8, 32];

fn hello(c: &mut Criterion) {
    for n in SIZES {
        let w = Codec::new(n);
        let mut g = c.benchmark_group(format!("hello_{n}"));
        let mut buf = vec![0u8; 4096];
        g.bench_function("accord", |b| {
            b.iter(|| {
                let len = black_box(&w).accord_hello_encode(&mut buf);
                Codec::accord_hello_decode(black_box(&buf[..len]))
            })
        });
        let mut out = Box::<QsHello>::default();
        g.bench_function("c", |b| {
            b.iter(|| black_box(&w).c_hello_round(&mut buf, &mut out))
        });
        let j = w.json_hello();
        let mut text = Vec::with_capacity(4096);
        g.bench_function("json", |b| {
            b.iter(|| {
                text.clear();
                serde_json::to_writer(&mut text, black_box(&j)).expect("serialises");
                let back: HelloJson<'_> = serde_json::from_slice(black_box(&text)).expect("parses");
                back.devices.len()
            })
        });
        let (mut mid, mut dst) = (vec![0u8; 4096], vec![0u8; 4096]);
        g.bench_function("memcpy", |b| {
            b.iter(|| memcpy_round(black_box(&w.hello_bytes), &mut mid, &mut dst))
        });
        g.finish();
    }
}

fn welcome(c: &mut Criterion) {
    for n in SIZES {
        let w = Codec::new(n);
        let mut g = c.benchmark_group(format!("welcome_{n}"));
        let mut buf = vec![0u8; 4096];
        g.bench_function("accord", |b| {
            b.iter(|| {
                let len = black_box(&w).accord_welcome_encode(&mut buf);
                Codec::accord_welcome_decode(black_box(&buf[..len]))
            })
        });
        let mut out = Box::<QsWelcome>::default();
        g.bench_function("c", |b| {
            b.iter(|| black_box(&w).c_welcome_round(&mut buf, &mut out))
        });
        let j = w.json_welcome();
        let mut text = Vec::with_capacity(4096);
        g.bench_function("json", |b| {
            b.iter(|| {
                text.clear();
                serde_json::to_writer(&mut text, black_box(&j)).expect("serialises");
                let back: WelcomeJson = serde_json::from_slice(black_box(&text)).expect("parses");
                back.verdicts.len()
            })
        });
        let (mut mid, mut dst) = (vec![0u8; 4096], vec![0u8; 4096]);
        g.bench_function("memcpy", |b| {
            b.iter(|| memcpy_round(black_box(&w.welcome_bytes), &mut mid, &mut dst))
        });
        g.finish();
    }
}

/// The preamble of multifd channel 5 of 16.
pub fn multifd_preamble() -> [u8; 28] {
    let mut p = Preamble::main(VersionRange::new(1, 1), *b"bench-nonce-0001");
    let id = ChannelId {
        role: Role::Multifd,
        index: 5,
    };
    p.role = id.role;
    p.index = id.index;
    p.total = 16;
    p.to_bytes()
}

fn classify(c: &mut Criterion) {
    let bytes = multifd_preamble();
    let mut g = c.benchmark_group("classify_preamble");
    g.bench_function("accord", |b| {
        b.iter(|| {
            Preamble::decode(black_box(&bytes))
                .expect("valid")
                .expect("complete")
                .channel()
        })
    });
    let mut p = QsPreamble::default();
    g.bench_function("c", |b| {
        b.iter(|| {
            let role = cbase::preamble_decode(black_box(&bytes), &mut p).expect("valid");
            black_box(&p);
            role
        })
    });
    let (mut mid, mut dst) = ([0u8; 28], [0u8; 28]);
    g.bench_function("memcpy", |b| {
        b.iter(|| memcpy_round(black_box(&bytes), &mut mid, &mut dst))
    });
    g.finish();
}

fn classify_legacy(c: &mut Criterion) {
    let l = LegacyIds::new();
    let mut g = c.benchmark_group("classify_legacy");
    g.bench_function("accord", |b| b.iter(|| black_box(&l).accord()));
    g.bench_function("c", |b| b.iter(|| black_box(&l).c()));
    let (mut mid, mut dst) = ([0u8; 72], [0u8; 72]);
    let mut both = [0u8; 72];
    both[..8].copy_from_slice(&l.main);
    both[8..].copy_from_slice(&l.multifd);
    g.bench_function("memcpy", |b| {
        b.iter(|| memcpy_round(black_box(&both), &mut mid, &mut dst))
    });
    g.finish();
}

fn handshake(c: &mut Criterion) {
    let mut g = c.benchmark_group("handshake_full");
    g.bench_function("accord", |b| {
        b.iter_batched(
            Handshake::new,
            |mut h| {
                let o = run(&mut h).expect("completes");
                (h, o) // dropped outside the timed section
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(60)
        .configure_from_args()
}

criterion_group! {
    name = benches;
    config = config();
    targets = hello, welcome, classify, classify_legacy, handshake
}
criterion_main!(benches);
