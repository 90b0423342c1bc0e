//! A QEMU multifd channel: the 64-byte `MultiFDInit_t`, decoded by
//! accord-core's [`MultifdInit::decode`], then packets.
//!
//! Packets (`migration/multifd.h`, QEMU 10.0) open with the same magic,
//! be32 version 1 and be32 flags. Flags: 0x01 SYNC; bits 1..5 the
//! compression method (0 none, 0x02 zlib, 0x04 zstd, 0x08 qpl, 0x10 uadk,
//! 0x20 qatzip); 0x40 DEVICE_STATE.
//!
//! - RAM packet: be32 pages_alloc at 12, be32 normal_pages at 16, be32
//!   next_packet_size at 20, be64 packet_num at 24, be32 zero_pages at 32,
//!   reserved to 64, ramblock name (256 bytes, NUL padded) at 64, then one
//!   be64 offset per page of a 512 KiB packet (128 for 4 KiB pages); the
//!   normal pages' data follows the header (next_packet_size bytes when
//!   compressed). A sync packet has pages_alloc 0 and the same header size.
//! - Device-state packet (flag 0x40): idstr (256 bytes) at 12, be32
//!   instance at 268, be32 next_packet_size at 272, then that many bytes.
//!
//! The page count of a header is taken from the first packet that states
//! it, else assumed to be 128 (4 KiB target pages); if the next packet then
//! does not open with the magic, the walk stops and says so.

use accord_core::legacy::multifd::{MULTIFD_INIT_LEN, MULTIFD_MAGIC};
use accord_core::legacy::{MultifdInit, Parsed};

use crate::report::{text_of, uuid, End, Item, Rd};

/// Bytes of RAM one multifd packet carries at most (`MULTIFD_PACKET_SIZE`).
pub const PACKET_BYTES: u32 = 512 * 1024;
/// Bytes of a RAM packet header before its offset array.
pub const RAM_HEADER_FIXED: usize = 320;
/// Bytes of a device-state packet header.
pub const DEVICE_STATE_HEADER: usize = 276;
/// The flag bit of a sync packet.
pub const FLAG_SYNC: u32 = 0x01;
/// The compression bits.
pub const FLAG_COMPRESSION_MASK: u32 = 0x1f << 1;
/// The flag bit of a device-state packet.
pub const FLAG_DEVICE_STATE: u32 = 0x40;

fn compression(flags: u32) -> &'static str {
    match flags & FLAG_COMPRESSION_MASK {
        0 => "none",
        0x02 => "zlib",
        0x04 => "zstd",
        0x08 => "qpl",
        0x10 => "uadk",
        0x20 => "qatzip",
        _ => "unknown",
    }
}

fn cstr(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    text_of(&b[..end])
}

/// Decode a multifd channel from the start of `b`.
pub fn walk(b: &[u8], items: &mut Vec<Item>) -> End {
    match MultifdInit::decode(b) {
        Err(error) => {
            return End::Malformed {
                offset: 0,
                error: Box::new(error),
                what: "MultiFDInit_t".into(),
            }
        }
        Ok(Parsed::Incomplete(n)) => {
            return End::Truncated {
                offset: 0,
                missing: Some(n),
                what: "MultiFDInit_t".into(),
            }
        }
        Ok(Parsed::Done(h, n)) => items.push(
            Item::new(0, n, "multifd-init", "MultiFDInit_t")
                .text(format!("id {} uuid {} version 1", h.id, uuid(&h.uuid)))
                .field("id", h.id)
                .field("uuid", uuid(&h.uuid))
                .field("version", 1),
        ),
    }
    let mut off = MULTIFD_INIT_LEN;
    let mut page_count: Option<u32> = None;
    while off < b.len() {
        let mut rd = Rd::new(b, off);
        let head = rd
            .be32()
            .and_then(|m| rd.be32().and_then(|v| rd.be32().map(|f| (m, v, f))));
        let (magic, version, flags) = match head {
            Ok(h) => h,
            Err(m) => {
                return End::Truncated {
                    offset: off,
                    missing: Some(m),
                    what: "multifd packet header".into(),
                }
            }
        };
        if magic != MULTIFD_MAGIC || version != 1 {
            return End::Undecoded {
                offset: off,
                reason: format!(
                    "no multifd packet here (magic {magic:#010x}, version {version}); \
                     the previous header size or data length was assumed wrong"
                ),
            };
        }
        if flags & FLAG_DEVICE_STATE != 0 {
            let fields = rd
                .bytes(256)
                .and_then(|id| rd.be32().and_then(|i| rd.be32().map(|n| (id, i, n))));
            let (idstr, instance, size) = match fields {
                Ok(f) => f,
                Err(m) => {
                    return End::Truncated {
                        offset: off,
                        missing: Some(m),
                        what: "multifd device-state packet header".into(),
                    }
                }
            };
            if let Err(m) = rd.bytes(size as usize) {
                return End::Truncated {
                    offset: off,
                    missing: Some(m),
                    what: format!("multifd device-state packet of \"{}\"", cstr(idstr)),
                };
            }
            items.push(
                Item::new(off, rd.pos - off, "multifd-packet", "DEVICE_STATE")
                    .text(format!(
                        "\"{}\" instance {instance}, {size} bytes",
                        cstr(idstr)
                    ))
                    .field("flags", flags)
                    .field("idstr", cstr(idstr))
                    .field("instance", instance)
                    .field("size", size),
            );
            off = rd.pos;
            continue;
        }
        let fields = rd.be32().and_then(|alloc| {
            rd.be32().and_then(|normal| {
                rd.be32().and_then(|next| {
                    rd.be64()
                        .and_then(|num| rd.be32().map(|zero| (alloc, normal, next, num, zero)))
                })
            })
        });
        let (alloc, normal, next, num, zero) = match fields {
            Ok(f) => f,
            Err(m) => {
                return End::Truncated {
                    offset: off,
                    missing: Some(m),
                    what: "multifd packet header".into(),
                }
            }
        };
        if alloc > 0 && page_count.is_none() {
            page_count = Some(alloc);
        }
        let pages = page_count.unwrap_or(PACKET_BYTES / 4096).max(1);
        let page_size = u64::from(PACKET_BYTES / pages);
        let header = RAM_HEADER_FIXED + 8 * pages as usize;
        let block = match b.get(off + 64..off + RAM_HEADER_FIXED) {
            Some(n) => cstr(n),
            None => String::new(),
        };
        let data = if flags & FLAG_COMPRESSION_MASK == 0 {
            u64::from(normal) * page_size
        } else {
            u64::from(next)
        };
        let name = if flags & FLAG_SYNC != 0 {
            "SYNC"
        } else {
            "RAM"
        };
        let it = Item::new(off, 0, "multifd-packet", name)
            .field("flags", flags)
            .field("packet_num", num)
            .field("pages_alloc", alloc)
            .field("normal_pages", normal)
            .field("zero_pages", zero)
            .field("next_packet_size", next)
            .field("compression", compression(flags))
            .field("block", block.clone())
            .field("header_len", header)
            .field("data_len", data);
        let text = format!(
            "#{num} normal {normal} zero {zero}{}{}, header {header} B + data {data} B",
            if block.is_empty() {
                String::new()
            } else {
                format!(" \"{block}\"")
            },
            if flags & FLAG_COMPRESSION_MASK != 0 {
                format!(" compression {}", compression(flags))
            } else {
                String::new()
            }
        );
        let end = off as u64 + header as u64 + data;
        if end > b.len() as u64 {
            let mut it = it.text(text);
            it.len = b.len() - off;
            items.push(it);
            return End::Truncated {
                offset: off,
                missing: Some((end - b.len() as u64) as usize),
                what: format!("multifd packet #{num}"),
            };
        }
        let mut it = it.text(text);
        it.len = end as usize - off;
        items.push(it);
        off = end as usize;
    }
    End::Complete
}
