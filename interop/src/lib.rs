//! Interop machinery for accord: run two real QEMU processes, migrate
//! between them over loopback TCP through a recording relay, and keep
//! what passed on every connection.
//!
//! - [`qmp`]: a small blocking QMP client (JSON over a UNIX socket).
//! - [`qemu`]: starting QEMU, with a guard that kills it on every path.
//! - [`relay`]: the recording TCP relay, with a pluggable per-connection
//!   identification hook that may peek the source's first bytes.
//! - [`legacy`]: the identification hook backed by accord's legacy
//!   classifier.
//! - [`wire`]: just enough of QEMU's legacy formats to check captures,
//!   written independently of accord-core (the tests' ground truth).
//! - [`scenario`]: one migration, end to end, within deadlines.
//! - [`live`]: two QEMUs of any binaries and settings, step by step, and
//!   their accord trace lines (tests of QEMU with accord).
//!
//! Needs `qemu-system-x86_64` 10.x: `sudo bash scripts/install-qemu.sh`.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod legacy;
pub mod live;
pub mod qemu;
pub mod qmp;
pub mod relay;
pub mod scenario;
pub mod wire;
