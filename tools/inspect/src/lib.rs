//! accord-inspect: decode captured migration bytes, the way QEMU's
//! `analyze-migration.py` decodes a saved stream, for debugging a capture.
//!
//! It knows accord's own channels (preamble, then frames) and QEMU's legacy
//! streams (the main stream with its sections and commands, multifd
//! channels, the return path, the postcopy-preempt page stream). Every
//! accord and QEMU message it reports went through accord-core's decoders;
//! this crate only walks the bytes between them (QEMU sections, RAM
//! records, multifd packets) and formats the result.
//!
//! ```
//! use accord_inspect::{inspect, StreamKind};
//!
//! let rp = [0, 7, 0, 0, 0, 2, 0, 4, 0, 0, 0, 1, 0, 1, 0, 4, 0, 0, 0, 0];
//! let r = inspect(&rp, None);
//! assert_eq!(r.stream, StreamKind::ReturnPath);
//! let names: Vec<&str> = r.items.iter().map(|i| i.name.as_str()).collect();
//! assert_eq!(names, ["SWITCHOVER_ACK", "PONG", "SHUT"]);
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod accord;
pub mod multifd;
pub mod qemu_main;
pub mod ram;
pub mod report;
pub mod return_path;

pub use report::{End, Item, Report, StreamKind};

/// Guess the stream kind from the first bytes: `ACRD` is accord, `QEVM`
/// QEMU's main stream, `11 22 33 44` a multifd channel; a first record that
/// is a RAM page naming its RAMBlock, or a bare EOS, is the
/// postcopy-preempt page stream (it has no magic, see
/// [`ram::starts_like_page_stream`]); anything else (including nothing) the
/// return path. An input shorter than four bytes that is a prefix of one of
/// the magics is taken for that kind.
pub fn detect(b: &[u8]) -> StreamKind {
    detect_magic(b).unwrap_or(if ram::starts_like_page_stream(b) {
        StreamKind::Preempt
    } else {
        StreamKind::ReturnPath
    })
}

fn detect_magic(b: &[u8]) -> Option<StreamKind> {
    let magics: [(&[u8; 4], StreamKind); 3] = [
        (b"ACRD", StreamKind::Accord),
        (b"QEVM", StreamKind::QemuMain),
        (&[0x11, 0x22, 0x33, 0x44], StreamKind::Multifd),
    ];
    let n = b.len().min(4);
    if n == 0 {
        return None;
    }
    magics
        .iter()
        .find(|(m, _)| m[..n] == b[..n])
        .map(|(_, k)| *k)
}

/// Decode `b` as `kind`, or as the detected kind when `kind` is `None`.
/// Never panics; truncated or malformed input ends the walk with an
/// [`End`] that says where and why.
pub fn inspect(b: &[u8], kind: Option<StreamKind>) -> Report {
    let (stream, detected) = match kind {
        Some(k) => (k, false),
        None => (detect(b), true),
    };
    let mut items = Vec::new();
    let end = match stream {
        StreamKind::Accord => accord::walk(b, &mut items),
        StreamKind::QemuMain => qemu_main::walk(b, 0, &mut items),
        StreamKind::Multifd => multifd::walk(b, &mut items),
        StreamKind::ReturnPath => return_path::walk(b, &mut items),
        StreamKind::Preempt => {
            let mut ctx = ram::RamCtx::default();
            match ram::walk(b, 0, &mut ctx, 0, &mut items, false) {
                Ok(_) => End::Complete,
                Err(e) => e,
            }
        }
    };
    Report {
        stream,
        detected,
        bytes: b.len(),
        items,
        end,
    }
}
