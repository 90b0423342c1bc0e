//! Exactly one full handshake, for callgrind: both roles, main + 16 multifd +
//! preempt, 32 devices, every approval, the ack, the switchover decision.
//!
//! Measure with `valgrind --tool=callgrind --toggle-collect='*handshake*run*'`:
//! only instructions executed inside `accord_bench::handshake::run` (and what
//! it calls) are counted; the setup (`Handshake::new`: configurations, device
//! tables, buffers) and process start-up are not. `setup-only` as the first
//! argument skips the handshake, so a plain run of each gives the same figure
//! by subtraction.
use std::hint::black_box;

use accord_bench::handshake::{run, setup};

fn main() {
    let setup_only = std::env::args().nth(1).as_deref() == Some("setup-only");
    let mut h = black_box(setup());
    if setup_only {
        black_box(&mut h);
        return;
    }
    match run(black_box(&mut h)) {
        Ok(o) => {
            black_box(o);
        }
        Err(e) => {
            eprintln!("handshake failed: {e:?}");
            std::process::exit(1);
        }
    }
}
