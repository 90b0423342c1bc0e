//! accord's benchmarks: workloads, the hand-written C baseline (FFI), the
//! JSON baseline, the full in-memory handshake, the round-trip simulation and
//! the loopback relay. `benches/accord.rs` times them with criterion,
//! `src/bin/handshake_once.rs` is what callgrind counts, and
//! `src/bin/report.rs` writes bench/RESULTS.md (`bash scripts/bench.sh`).
#![deny(missing_docs)]

pub mod cbase;
pub mod handshake;
pub mod json;
pub mod loopback;
pub mod rtt;
pub mod workload;
