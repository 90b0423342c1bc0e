//! QEMU's RAM stream: the body of the `ram` section on the main channel,
//! and the bare page stream of the postcopy-preempt channel.
//!
//! Every record opens with a be64 that holds a page address with flags in
//! its low bits (`migration/ram.h`, checked against QEMU 10.0):
//!
//! | flag | name          | what follows                                        |
//! |------|---------------|-----------------------------------------------------|
//! | 0x02 | ZERO          | idstr unless CONTINUE, then one fill byte (0)       |
//! | 0x04 | MEM_SIZE      | (address = total bytes) blocks: u8 len, idstr, be64 length |
//! | 0x08 | PAGE          | idstr unless CONTINUE, then one target page         |
//! | 0x10 | EOS           | nothing: end of the section body                    |
//! | 0x20 | CONTINUE      | (modifier) same RAMBlock as the previous page       |
//! | 0x40 | XBZRLE        | idstr unless CONTINUE, u8 encoding, be16 len, data  |
//! | 0x200| MULTIFD_FLUSH | nothing: the multifd channels sync here             |
//!
//! 0x01 (FULL, obsolete since 2009), 0x80 (RDMA hook) and 0x100 (compressed
//! page, removed in QEMU 9.1) are not decoded. MEM_SIZE can carry extra
//! per-block fields (a page size when postcopy is advised and the block's
//! page size differs from the host's, an address with `x-ignore-shared`);
//! the walk assumes they are absent and stops if the sizes do not add up.
//!
//! Runs of pages of one kind in one RAMBlock become one item.

use serde_json::json;

use crate::report::{text_of, End, Item, Rd};

const FLAG_ZERO: u64 = 0x02;
const FLAG_MEM_SIZE: u64 = 0x04;
const FLAG_PAGE: u64 = 0x08;
const FLAG_EOS: u64 = 0x10;
const FLAG_CONTINUE: u64 = 0x20;
const FLAG_XBZRLE: u64 = 0x40;
const FLAG_MULTIFD_FLUSH: u64 = 0x200;

/// What the RAM walk needs to know about the stream so far.
#[derive(Clone, Debug)]
pub struct RamCtx {
    /// Target page size (4 KiB unless the configuration says otherwise).
    pub page_size: u64,
    /// The RAMBlock named last (for CONTINUE records).
    pub block: Option<String>,
}

impl Default for RamCtx {
    fn default() -> Self {
        RamCtx {
            page_size: 4096,
            block: None,
        }
    }
}

/// A run of consecutive pages of one kind in one block.
struct Run {
    offset: usize,
    end: usize,
    flag: &'static str,
    block: String,
    count: u64,
    first: u64,
    last: u64,
}

impl Run {
    fn item(&self, depth: usize, page_size: u64) -> Item {
        let span = if self.count == 1 {
            format!("{:#x}", self.first)
        } else {
            format!("{:#x}..{:#x}", self.first, self.last + page_size)
        };
        Item::new(self.offset, self.end - self.offset, "ram", self.flag)
            .depth(depth)
            .text(format!("x{} \"{}\" {span}", self.count, self.block))
            .field("count", self.count)
            .field("block", self.block.clone())
            .field("first", self.first)
            .field("last", self.last)
    }
}

/// Whether `b` opens like a postcopy-preempt page stream, which has no
/// magic: its first record is either a page that names its RAMBlock (be64
/// page offset with exactly one of ZERO, PAGE or XBZRLE in the low bits and
/// no CONTINUE, then a u8 name length of at least 1 and a printable name;
/// as many name bytes as `b` holds are checked), or the bare EOS QEMU
/// writes when it shuts an unused preempt channel down
/// (`postcopy_preempt_shutdown_file`). A return path cannot look like
/// this: its first two bytes are a message type 1..7, while a page offset
/// below 2^48 puts two zero bytes there.
pub fn starts_like_page_stream(b: &[u8]) -> bool {
    let Some(word) = b
        .get(..8)
        .and_then(|w| w.try_into().ok())
        .map(u64::from_be_bytes)
    else {
        return false;
    };
    if word == FLAG_EOS {
        return true;
    }
    // The smallest target page is 1 KiB: flags live in the low 10 bits.
    if !matches!(word & 0x3ff, FLAG_ZERO | FLAG_PAGE | FLAG_XBZRLE) {
        return false;
    }
    let Some(&len) = b.get(8) else {
        return false;
    };
    let name = &b[9..b.len().min(9 + usize::from(len))];
    len > 0 && name.iter().all(|c| c.is_ascii_graphic())
}

/// How a RAM walk stopped without an error.
pub enum Stop {
    /// An EOS record ended the body; the offset just after it.
    Eos(usize),
    /// The input ended exactly after a record (bare page streams only).
    EndOfInput,
}

/// Walk RAM records from `start`. With `until_eos` (a section body) the
/// walk stops after EOS, and running out of input is truncation; without
/// (the preempt channel) it goes on to the end of the input.
pub fn walk(
    b: &[u8],
    start: usize,
    ctx: &mut RamCtx,
    depth: usize,
    items: &mut Vec<Item>,
    until_eos: bool,
) -> Result<Stop, End> {
    let mut off = start;
    let mut run: Option<Run> = None;
    let flush = |run: &mut Option<Run>, items: &mut Vec<Item>, ps: u64| {
        if let Some(r) = run.take() {
            items.push(r.item(depth, ps));
        }
    };
    loop {
        if off == b.len() {
            flush(&mut run, items, ctx.page_size);
            return if until_eos {
                Err(End::Truncated {
                    offset: off,
                    missing: Some(8),
                    what: "RAM section body (next record or EOS)".into(),
                })
            } else {
                Ok(Stop::EndOfInput)
            };
        }
        let mut rd = Rd::new(b, off);
        let word = match rd.be64() {
            Ok(w) => w,
            Err(m) => {
                flush(&mut run, items, ctx.page_size);
                return Err(End::Truncated {
                    offset: off,
                    missing: Some(m),
                    what: "RAM record header".into(),
                });
            }
        };
        let mask = ctx.page_size.saturating_sub(1).max(0x3ff);
        let flags = word & mask;
        let addr = word & !mask;
        let kind = flags & !FLAG_CONTINUE;
        match kind {
            FLAG_ZERO | FLAG_PAGE | FLAG_XBZRLE => {
                let name = match kind {
                    FLAG_ZERO => "ZERO",
                    FLAG_PAGE => "PAGE",
                    _ => "XBZRLE",
                };
                let block = if flags & FLAG_CONTINUE == 0 {
                    match rd.str8() {
                        Ok(id) => text_of(id),
                        Err(m) => {
                            flush(&mut run, items, ctx.page_size);
                            return Err(End::Truncated {
                                offset: off,
                                missing: Some(m),
                                what: format!("RAM {name} {addr:#x}: RAMBlock name"),
                            });
                        }
                    }
                } else {
                    ctx.block.clone().unwrap_or_else(|| "(previous)".into())
                };
                let data = match kind {
                    FLAG_ZERO => rd.u8().map(|_| ()),
                    FLAG_PAGE => rd.bytes(ctx.page_size as usize).map(|_| ()),
                    _ => rd
                        .u8()
                        .and_then(|_| rd.be16())
                        .and_then(|n| rd.bytes(usize::from(n)).map(|_| ())),
                };
                if let Err(m) = data {
                    flush(&mut run, items, ctx.page_size);
                    return Err(End::Truncated {
                        offset: off,
                        missing: Some(m),
                        what: format!("RAM {name} {addr:#x} of \"{block}\""),
                    });
                }
                ctx.block = Some(block.clone());
                match &mut run {
                    Some(r) if r.flag == name && r.block == block => {
                        r.count += 1;
                        r.last = addr;
                        r.end = rd.pos;
                    }
                    _ => {
                        flush(&mut run, items, ctx.page_size);
                        run = Some(Run {
                            offset: off,
                            end: rd.pos,
                            flag: name,
                            block,
                            count: 1,
                            first: addr,
                            last: addr,
                        });
                    }
                }
                off = rd.pos;
            }
            FLAG_MEM_SIZE => {
                flush(&mut run, items, ctx.page_size);
                let total = addr;
                let mut sum = 0u64;
                let mut blocks = Vec::new();
                let mut text = Vec::new();
                while sum < total {
                    let rec = rd.str8().and_then(|id| rd.be64().map(|len| (id, len)));
                    match rec {
                        Ok((id, len)) => {
                            sum = sum.saturating_add(len);
                            text.push(format!("\"{}\" {len:#x}", text_of(id)));
                            blocks.push(json!({ "idstr": text_of(id), "length": len }));
                        }
                        Err(m) => {
                            return Err(End::Truncated {
                                offset: off,
                                missing: Some(m),
                                what: "RAM MEM_SIZE block list".into(),
                            })
                        }
                    }
                }
                if sum != total {
                    return Err(End::Undecoded {
                        offset: off,
                        reason: format!(
                            "RAM MEM_SIZE: block lengths add up to {sum:#x}, not {total:#x} \
                             (extra per-block fields?)"
                        ),
                    });
                }
                items.push(
                    Item::new(off, rd.pos - off, "ram", "MEM_SIZE")
                        .depth(depth)
                        .text(format!(
                            "{total:#x} in {} blocks: {}",
                            blocks.len(),
                            text.join(", ")
                        ))
                        .field("total", total)
                        .field("blocks", blocks),
                );
                off = rd.pos;
            }
            FLAG_MULTIFD_FLUSH => {
                flush(&mut run, items, ctx.page_size);
                items.push(Item::new(off, 8, "ram", "MULTIFD_FLUSH").depth(depth));
                off = rd.pos;
            }
            FLAG_EOS => {
                flush(&mut run, items, ctx.page_size);
                items.push(Item::new(off, 8, "ram", "EOS").depth(depth));
                off = rd.pos;
                if until_eos {
                    return Ok(Stop::Eos(off));
                }
            }
            _ => {
                flush(&mut run, items, ctx.page_size);
                return Err(End::Undecoded {
                    offset: off,
                    reason: format!(
                        "RAM record with flags {flags:#x} (address {addr:#x}): not a flag \
                         QEMU 10 sends on this channel (obsolete, RDMA, or not RAM data)"
                    ),
                });
            }
        }
    }
}
