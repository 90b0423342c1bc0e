//! The harnesses behind accord's fuzz targets (fuzz_targets/*.rs are one line
//! each), kept in a library so that tests/replay.rs can run every checked-in
//! seed and every past crash through them with a plain `cargo test`.
#![allow(clippy::missing_panics_doc)]

pub mod decoders;
pub mod legacy;
pub mod machines;
pub mod seeds;
pub mod session;

/// A harness: one fuzz input in, a panic if an invariant breaks.
pub type Harness = fn(&[u8]);

/// Every target: its name (the directory under corpus/ and regressions/)
/// and its harness.
pub const TARGETS: &[(&str, Harness)] = &[
    ("preamble", decoders::preamble),
    ("frame", decoders::frame),
    ("hello", decoders::hello),
    ("welcome", decoders::welcome),
    ("failure", decoders::failure),
    ("payloads", decoders::payloads),
    ("machine_input", machines::machine_input),
    ("channels", machines::channels),
    ("session", session::run),
    ("legacy_stream", legacy::stream),
    ("legacy_return_path", legacy::return_path),
    ("legacy_multifd", legacy::multifd),
    ("legacy_classifier", legacy::classifier),
];
