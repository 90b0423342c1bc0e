//! The error codes are one list in core/src/error.rs (`error_codes!`). Two
//! copies are written from it: the `ACCORD_E_*` constants of ffi/src/error.rs
//! (plain `pub const` items, so that cbindgen puts them in include/accord.h)
//! and the table of docs/PROTOCOL.md §9. This test regenerates both blocks
//! in memory and fails if a checked-in copy differs.
//!
//! Regenerate: `bash scripts/gen-header.sh` (runs this test with
//! `ACCORD_REGEN_HEADER=1`, which writes the files instead of comparing).
use std::fs;
use std::path::PathBuf;

use accord_core::error::{CodeEntry, ErrorCode};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `BadMagic` -> `BAD_MAGIC`.
fn screaming_snake(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// The `ACCORD_E_*` constants, one doc line and one item per code.
fn c_constants(table: &[CodeEntry]) -> String {
    table
        .iter()
        .map(|e| {
            let n = e.code.as_u16();
            format!(
                "/// {n}: {}\npub const ACCORD_E_{}: accord_result = {n};\n",
                e.doc.trim(),
                screaming_snake(e.name)
            )
        })
        .collect()
}

/// The rows of docs/PROTOCOL.md §9's table, with its head.
fn spec_table(table: &[CodeEntry]) -> String {
    let mut out = String::from("| code | name | meaning | detail |\n|---|---|---|---|\n");
    for e in table {
        let detail = if e.detail.is_empty() {
            " ".to_string()
        } else {
            format!(" {} ", e.detail)
        };
        out += &format!(
            "| {} | `{}` | {} |{detail}|\n",
            e.code.as_u16(),
            e.name,
            e.meaning
        );
    }
    out
}

/// `text` with the lines between the lines starting `begin` and `end`
/// replaced by `body`.
fn replace_block(text: &str, begin: &str, end: &str, body: &str) -> String {
    let start = text.find(begin).expect("begin marker missing");
    let body_start = start + text[start..].find('\n').expect("begin marker line") + 1;
    let body_end = body_start + text[body_start..].find(end).expect("end marker missing");
    format!("{}{body}{}", &text[..body_start], &text[body_end..])
}

/// Check (or, with `ACCORD_REGEN_HEADER=1`, write) one generated block.
fn check(path: &str, begin: &str, end: &str, body: &str) {
    let file = root().join(path);
    let old = fs::read_to_string(&file).unwrap();
    let new = replace_block(&old, begin, end, body);
    if std::env::var_os("ACCORD_REGEN_HEADER").is_some_and(|v| !v.is_empty() && v != "0") {
        if new != old {
            fs::write(&file, &new).unwrap();
        }
        return;
    }
    assert!(
        new == old,
        "{path}'s error codes differ from core/src/error.rs's list: run `bash scripts/gen-header.sh`"
    );
}

#[test]
#[cfg_attr(miri, ignore = "file I/O only, nothing for Miri to find")]
fn c_constants_are_up_to_date() {
    check(
        "ffi/src/error.rs",
        "// BEGIN error codes",
        "// END error codes",
        &c_constants(ErrorCode::TABLE),
    );
}

#[test]
#[cfg_attr(miri, ignore = "file I/O only, nothing for Miri to find")]
fn protocol_md_table_is_up_to_date() {
    check(
        "docs/PROTOCOL.md",
        "<!-- BEGIN error codes",
        "<!-- END error codes",
        &spec_table(ErrorCode::TABLE),
    );
}

/// The list is the codes: the table has every code once, in numeric order,
/// under its own Rust name.
#[test]
fn table_is_every_code_in_order() {
    let codes: Vec<ErrorCode> = ErrorCode::TABLE.iter().map(|e| e.code).collect();
    assert_eq!(codes, ErrorCode::ALL);
    assert!(codes.windows(2).all(|w| w[0] < w[1]));
    for e in ErrorCode::TABLE {
        assert_eq!(format!("{:?}", e.code), e.name);
        assert!(
            !e.doc.trim().is_empty() && !e.meaning.is_empty(),
            "{}",
            e.name
        );
    }
}
