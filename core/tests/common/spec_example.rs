//! The hex block that follows `<!-- example: NAME -->` in docs/PROTOCOL.md:
//! the spec's byte examples as test vectors. Shared by core's and the
//! link's spec tests and the fuzz seeds (`#[path]`), so all read the
//! document the same way.

/// docs/PROTOCOL.md.
pub const SPEC: &str = include_str!("../../../docs/PROTOCOL.md");

/// The bytes of the example `name`; `#` starts a comment on a line.
pub fn example(name: &str) -> Vec<u8> {
    let marker = format!("<!-- example: {name} -->");
    let at = SPEC
        .find(&marker)
        .unwrap_or_else(|| panic!("spec has no example {name}"));
    let rest = &SPEC[at + marker.len()..];
    let start = rest.find("```hex\n").expect("hex block") + 7;
    let end = rest[start..].find("```").expect("end of block");
    rest[start..start + end]
        .lines()
        .map(|l| l.split('#').next().unwrap())
        .flat_map(|l| l.split_whitespace())
        .map(|b| u8::from_str_radix(b, 16).unwrap_or_else(|_| panic!("bad hex {b:?} in {name}")))
        .collect()
}
