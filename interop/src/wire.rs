//! Just enough of QEMU's legacy wire formats to check the captures,
//! written independently of accord-core: the ground truth the tests hold
//! accord's classifier and decoders to.
//!
//! All multi-byte fields are big-endian.

/// `QEVM`: the main migration stream's first four bytes.
pub const QEVM_MAGIC: u32 = 0x5145_564d;
/// The main stream's version word after the magic.
pub const QEVM_VERSION: u32 = 3;
/// `MultiFDInit_t.magic`.
pub const MULTIFD_MAGIC: u32 = 0x1122_3344;
/// `MultiFDInit_t.version`.
pub const MULTIFD_VERSION: u32 = 1;
/// Size of `MultiFDInit_t` on the wire.
pub const MULTIFD_INIT_LEN: usize = 64;

/// The first big-endian word of `b`, if it has four bytes.
pub fn be32_at(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4)
        .map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// The header a multifd channel opens with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultifdInit {
    /// Must be [`MULTIFD_MAGIC`].
    pub magic: u32,
    /// Must be [`MULTIFD_VERSION`].
    pub version: u32,
    /// The source VM's UUID (zero when none was set).
    pub uuid: [u8; 16],
    /// The channel id.
    pub id: u8,
}

/// Parse a `MultiFDInit_t` from the start of `b`.
pub fn parse_multifd_init(b: &[u8]) -> Option<MultifdInit> {
    if b.len() < MULTIFD_INIT_LEN {
        return None;
    }
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&b[8..24]);
    Some(MultifdInit {
        magic: be32_at(b, 0)?,
        version: be32_at(b, 4)?,
        uuid,
        id: b[24],
    })
}

/// Return-path message types (destination to source).
pub fn rp_type_name(t: u16) -> &'static str {
    match t {
        1 => "SHUT",
        2 => "PONG",
        3 => "REQ_PAGES_ID",
        4 => "REQ_PAGES",
        5 => "RECV_BITMAP",
        6 => "RESUME_ACK",
        7 => "SWITCHOVER_ACK",
        _ => "INVALID",
    }
}

/// One return-path message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RpMessage {
    /// Offset of the message's first byte in the decoded stream.
    pub offset: usize,
    /// be16 type.
    pub kind: u16,
    /// The payload (be16 length on the wire).
    pub payload: Vec<u8>,
}

/// Split a destination-to-source main-channel stream into return-path
/// messages (be16 type, be16 length, payload). Err names the offset of the
/// first thing that does not parse; a truncated tail is an error too.
pub fn decode_return_path(mut b: &[u8]) -> Result<Vec<RpMessage>, String> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while !b.is_empty() {
        if b.len() < 4 {
            return Err(format!("truncated header at offset {off}"));
        }
        let kind = u16::from_be_bytes([b[0], b[1]]);
        let len = u16::from_be_bytes([b[2], b[3]]) as usize;
        if kind == 0 || kind > 7 {
            return Err(format!("invalid type {kind} at offset {off}"));
        }
        if len > 512 {
            return Err(format!("length {len} > 512 at offset {off}"));
        }
        if b.len() < 4 + len {
            return Err(format!("truncated payload at offset {off}"));
        }
        out.push(RpMessage {
            offset: off,
            kind,
            payload: b[4..4 + len].to_vec(),
        });
        b = &b[4 + len..];
        off += 4 + len;
    }
    Ok(out)
}

/// A compact listing such as `PONG(1) x3, SWITCHOVER_ACK`: consecutive
/// runs of one type are merged; a PONG shows its echoed value.
pub fn summarize_return_path(msgs: &[RpMessage]) -> String {
    let mut parts: Vec<(String, usize)> = Vec::new();
    for m in msgs {
        let mut s = rp_type_name(m.kind).to_string();
        if m.kind == 2 {
            if let Some(v) = be32_at(&m.payload, 0) {
                s = format!("PONG({v})");
            }
        }
        match parts.last_mut() {
            Some((last, n)) if *last == s => *n += 1,
            _ => parts.push((s, 1)),
        }
    }
    parts
        .into_iter()
        .map(|(s, n)| if n > 1 { format!("{s} x{n}") } else { s })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_path_round() {
        let b = [0, 2, 0, 4, 0, 0, 0, 1, 0, 7, 0, 0];
        let m = decode_return_path(&b).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].kind, 2);
        assert_eq!(m[1].kind, 7);
        assert_eq!(summarize_return_path(&m), "PONG(1), SWITCHOVER_ACK");
        assert!(decode_return_path(&[0, 2, 0, 4, 0]).is_err());
        assert!(decode_return_path(&[0, 9, 0, 0]).is_err());
    }

    #[test]
    fn multifd_header() {
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(&MULTIFD_MAGIC.to_be_bytes());
        b[4..8].copy_from_slice(&1u32.to_be_bytes());
        b[24] = 3;
        let h = parse_multifd_init(&b).unwrap();
        assert_eq!((h.magic, h.version, h.id), (MULTIFD_MAGIC, 1, 3));
        assert!(parse_multifd_init(&b[..63]).is_none());
    }
}
