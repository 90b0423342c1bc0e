//! QEMU's return path: what the destination sends back on the main
//! channel. Every message goes through accord-core's [`RpMessage::decode`].
//!
//! A RECV_BITMAP message (postcopy recovery) is followed, outside the
//! message, by the block's received bitmap (`migration/ram.c`,
//! `ramblock_recv_bitmap_send`): be64 size, the bitmap (little-endian
//! longs), be64 end mark `0x0123456789abcdef`.
//!
//! SWITCHOVER_ACK may come more than once (QEMU 11.1's re-usable ack: a
//! device asks again and the destination acks again); each one is an item
//! with its running count in `ack`.

use accord_core::legacy::{Parsed, RpMessage};

use crate::report::{ping_text, text_of, End, Item, Rd};

/// The end mark after a received bitmap.
pub const RECV_BITMAP_ENDING: u64 = 0x0123_4567_89ab_cdef;

/// Decode return-path messages from the start of `b` to its end.
pub fn walk(b: &[u8], items: &mut Vec<Item>) -> End {
    let mut off = 0;
    let mut n = 0usize;
    let mut acks = 0u32;
    while off < b.len() {
        let (m, used) = match RpMessage::decode(&b[off..]) {
            Err(error) => {
                return End::Malformed {
                    offset: off,
                    error: Box::new(error),
                    what: format!("return-path message #{n}"),
                }
            }
            Ok(Parsed::Incomplete(missing)) => {
                return End::Truncated {
                    offset: off,
                    missing: Some(missing),
                    what: format!("return-path message #{n}"),
                }
            }
            Ok(Parsed::Done(m, used)) => (m, used),
        };
        let t = m.rp_type();
        let it = Item::new(off, used, "rp", t.name())
            .field("type", t.as_u16())
            .field("index", n);
        let it = match m {
            RpMessage::Shut(v) => it
                .text(format!(
                    "{v}{}",
                    if v == 0 {
                        " (clean end)"
                    } else {
                        " (destination failed)"
                    }
                ))
                .field("value", v),
            RpMessage::Pong(v) => it.text(ping_text(v)).field("value", v),
            RpMessage::ResumeAck(v) => it.text(v.to_string()).field("value", v),
            RpMessage::ReqPagesId { start, len, idstr } => it
                .text(format!("\"{}\" {start:#x} +{len:#x}", text_of(idstr)))
                .field("start", start)
                .field("length", len)
                .field("idstr", text_of(idstr)),
            RpMessage::ReqPages { start, len } => it
                .text(format!("{start:#x} +{len:#x}"))
                .field("start", start)
                .field("length", len),
            RpMessage::RecvBitmap { idstr } => it
                .text(format!("\"{}\"", text_of(idstr)))
                .field("idstr", text_of(idstr)),
            RpMessage::SwitchoverAck => {
                // Several per migration since QEMU 11.1 (re-usable ack).
                acks += 1;
                let it = it.field("ack", acks);
                if acks > 1 {
                    it.text(format!("#{acks}: acked again"))
                } else {
                    it
                }
            }
        };
        items.push(it);
        off += used;
        n += 1;
        if let RpMessage::RecvBitmap { idstr } = m {
            let mut rd = Rd::new(b, off);
            let bitmap = rd.be64().and_then(|size| {
                let s = usize::try_from(size).unwrap_or(usize::MAX);
                rd.bytes(s).and_then(|_| rd.be64()).map(|mark| (size, mark))
            });
            match bitmap {
                Err(m) => {
                    return End::Truncated {
                        offset: off,
                        missing: Some(m),
                        what: format!("received bitmap of \"{}\"", text_of(idstr)),
                    }
                }
                Ok((_, mark)) if mark != RECV_BITMAP_ENDING => {
                    return End::Undecoded {
                        offset: off,
                        reason: format!(
                            "received bitmap of \"{}\" ends with {mark:#x}, not the end mark \
                             {RECV_BITMAP_ENDING:#x}",
                            text_of(idstr)
                        ),
                    }
                }
                Ok((size, _)) => {
                    items.push(
                        Item::new(off, rd.pos - off, "bitmap", "RECV_BITMAP data")
                            .depth(1)
                            .text(format!("{size} bytes, end mark ok"))
                            .field("size", size),
                    );
                    off = rd.pos;
                }
            }
        }
    }
    End::Complete
}
