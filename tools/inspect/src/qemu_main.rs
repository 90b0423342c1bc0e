//! QEMU's main migration stream, source to destination.
//!
//! The stream header and every `QEMU_VM_COMMAND` go through accord-core's
//! decoders ([`StreamHeader::decode`], [`Command::decode`]); the sections
//! around them are walked here, far enough to reach the commands. Section
//! types, from QEMU's `migration/savevm.h`:
//!
//! | byte | name          | layout                                                       |
//! |------|---------------|--------------------------------------------------------------|
//! | 0x00 | EOF           | nothing; the device state is complete                        |
//! | 0x01 | SECTION_START | be32 section id, u8 len, idstr, be32 instance, be32 version, body, footer |
//! | 0x02 | SECTION_PART  | be32 section id, body, footer                                |
//! | 0x03 | SECTION_END   | be32 section id, body, footer                                |
//! | 0x04 | SECTION_FULL  | as START                                                     |
//! | 0x05 | SUBSECTION    | inside a body: u8 len, name, be32 version, fields            |
//! | 0x06 | VMDESCRIPTION | be32 len, JSON describing the device sections                |
//! | 0x07 | CONFIGURATION | be32 len, machine type, then subsections                     |
//! | 0x08 | COMMAND       | accord-core's [`Command`]                                    |
//! | 0x7e | SECTION_FOOTER| be32 section id, after each section body                     |
//!
//! The `ram` section's body is decoded record by record ([`crate::ram`]).
//! Other bodies are device state whose layout only the device knows (QEMU's
//! own analyze-migration script reads it from the VMDESCRIPTION at the very
//! end); the walk skips such a body up to its footer: the first `7e` + the
//! section id that is followed by a section type byte or the end of the
//! input. Without a footer (old machine types) the walk stops there and
//! says so. A PACKAGED command's blob is walked in place, one level deeper.

use std::collections::HashMap;

use accord_core::legacy::vfio::{is_vfio_idstr, VfioTag};
use accord_core::legacy::{Command, Parsed, RamDiscard, StreamHeader};
use serde_json::{json, Value};

use crate::ram::{self, RamCtx, Stop};
use crate::report::{ping_text, text_of, uuid, End, Item, Rd};

const EOF: u8 = 0x00;
const SECTION_START: u8 = 0x01;
const SECTION_PART: u8 = 0x02;
const SECTION_END: u8 = 0x03;
const SECTION_FULL: u8 = 0x04;
const SUBSECTION: u8 = 0x05;
const VMDESCRIPTION: u8 = 0x06;
const CONFIGURATION: u8 = 0x07;
const COMMAND: u8 = 0x08;
const FOOTER: u8 = 0x7e;

/// The name of a section type byte.
pub fn section_name(t: u8) -> &'static str {
    match t {
        EOF => "EOF",
        SECTION_START => "START",
        SECTION_PART => "PART",
        SECTION_END => "END",
        SECTION_FULL => "FULL",
        SUBSECTION => "SUBSECTION",
        VMDESCRIPTION => "VMDESCRIPTION",
        CONFIGURATION => "CONFIGURATION",
        COMMAND => "COMMAND",
        FOOTER => "FOOTER",
        _ => "unknown",
    }
}

struct SectionInfo {
    idstr: String,
    instance: u32,
    version: u32,
}

struct Walker<'a> {
    b: &'a [u8],
    items: &'a mut Vec<Item>,
    sections: HashMap<u32, SectionInfo>,
    ram: RamCtx,
    /// Ends of the PACKAGED blobs we are inside, innermost last.
    packages: Vec<usize>,
}

/// Walk a main stream that starts at `start` of `b` (0 for a capture of
/// the main channel, later when accord frames came first).
pub fn walk(b: &[u8], start: usize, items: &mut Vec<Item>) -> End {
    let mut w = Walker {
        b,
        items,
        sections: HashMap::new(),
        ram: RamCtx::default(),
        packages: Vec::new(),
    };
    w.run(start)
}

fn truncated(offset: usize, missing: usize, what: impl Into<String>) -> End {
    End::Truncated {
        offset,
        missing: Some(missing),
        what: what.into(),
    }
}

impl Walker<'_> {
    fn depth(&self) -> usize {
        self.packages.len()
    }

    fn push(&mut self, it: Item) {
        let d = self.depth();
        self.items.push(it.depth(d));
    }

    fn run(&mut self, start: usize) -> End {
        let b = self.b;
        let mut off = start;
        match StreamHeader::decode(&b[off..]) {
            Err(error) => {
                return End::Malformed {
                    offset: off,
                    error: Box::new(error),
                    what: "QEMU main stream header".into(),
                }
            }
            Ok(Parsed::Incomplete(n)) => return truncated(off, n, "QEMU main stream header"),
            Ok(Parsed::Done(_, n)) => {
                self.push(
                    Item::new(off, n, "header", "QEVM")
                        .text("version 3")
                        .field("magic", "5145564d")
                        .field("version", 3),
                );
                off += n;
            }
        }
        loop {
            while let Some(&end) = self.packages.last() {
                if off < end {
                    break;
                }
                self.packages.pop();
                self.push(
                    Item::new(end, 0, "package", "end")
                        .text("of the PACKAGED blob")
                        .field("end", end),
                );
            }
            if off == b.len() {
                return match self.packages.last() {
                    Some(&end) => truncated(off, end - off, "PACKAGED blob"),
                    None => End::Complete,
                };
            }
            let r = match b[off] {
                COMMAND => self.command(off),
                CONFIGURATION => self.configuration(off),
                SECTION_START | SECTION_FULL | SECTION_PART | SECTION_END => self.section(off),
                EOF => {
                    self.push(Item::new(off, 1, "section", "EOF").text("end of device state"));
                    Ok(off + 1)
                }
                VMDESCRIPTION => self.vmdesc(off),
                // Nothing else may start a section: accord's command decoder
                // names the byte (LegacyNotACommand).
                _ => self.command(off),
            };
            match r {
                Ok(next) => off = next,
                Err(end) => return end,
            }
        }
    }

    fn command(&mut self, off: usize) -> Result<usize, End> {
        let c = match Command::decode(&self.b[off..]) {
            Err(error) => {
                return Err(End::Malformed {
                    offset: off,
                    error: Box::new(error),
                    what: format!(
                        "QEMU_VM_COMMAND (section type 0x{:02x} {})",
                        self.b[off],
                        section_name(self.b[off])
                    ),
                })
            }
            Ok(Parsed::Incomplete(n)) => return Err(truncated(off, n, "QEMU_VM_COMMAND")),
            Ok(Parsed::Done(c, n)) => (c, n),
        };
        let (cmd, n) = c;
        let t = cmd.command_type();
        let mut it = Item::new(off, n, "command", t.name())
            .field("cmd", t.as_u16())
            .field("payload_len", n - 5);
        let mut package = None;
        match cmd {
            Command::Ping(v) => it = it.text(ping_text(v)).field("value", v),
            Command::PostcopyAdvise(Some(p)) => {
                it = it
                    .text(format!(
                        "page-size summary {:#x}, target page size {}",
                        p.page_size_summary, p.target_page_size
                    ))
                    .field("page_size_summary", p.page_size_summary)
                    .field("target_page_size", p.target_page_size);
                if p.target_page_size.is_power_of_two() {
                    self.ram.page_size = p.target_page_size;
                }
            }
            Command::PostcopyAdvise(None) => it = it.text("(no RAM postcopy)"),
            Command::Packaged(len) => {
                let end = off + n + len as usize;
                it = it
                    .text(format!("{len} bytes, blob {}..{end}", off + n))
                    .field("length", len)
                    .field("blob_start", off + n)
                    .field("blob_end", end);
                package = Some(end);
            }
            Command::PostcopyRamDiscard(p) => {
                if let Some(d) = RamDiscard::parse(p) {
                    let ranges: Vec<Value> = d
                        .ranges
                        .map(|(s, l)| json!({ "start": s, "length": l }))
                        .collect();
                    it = it
                        .text(format!(
                            "\"{}\" {} ranges (version {})",
                            text_of(d.idstr),
                            ranges.len(),
                            d.version
                        ))
                        .field("idstr", text_of(d.idstr))
                        .field("version", d.version)
                        .field("ranges", ranges);
                }
            }
            Command::RecvBitmap(id) => {
                it = it
                    .text(format!("\"{}\"", text_of(id)))
                    .field("idstr", text_of(id))
            }
            _ => {}
        }
        self.push(it);
        if let Some(end) = package {
            self.packages.push(end);
        }
        Ok(off + n)
    }

    fn configuration(&mut self, off: usize) -> Result<usize, End> {
        let b = self.b;
        let mut rd = Rd::new(b, off + 1);
        let name = rd
            .be32()
            .and_then(|n| rd.bytes(n as usize))
            .map_err(|m| truncated(off, m, "CONFIGURATION section"))?;
        let mut it = Item::new(off, 0, "section", "CONFIGURATION").field("machine", text_of(name));
        let mut text = format!("machine \"{}\"", text_of(name));
        let mut subs = Vec::new();
        while b.get(rd.pos) == Some(&SUBSECTION) {
            let at = rd.pos;
            rd.pos += 1;
            let (sname, version) = rd
                .str8()
                .and_then(|s| rd.be32().map(|v| (s, v)))
                .map_err(|m| truncated(at, m, "configuration subsection"))?;
            let sname = text_of(sname);
            let mut sub = json!({ "name": sname, "version": version });
            match sname.as_str() {
                "configuration/target-page-bits" => {
                    let bits = rd
                        .be32()
                        .map_err(|m| truncated(at, m, "target-page-bits"))?;
                    if (9..=20).contains(&bits) {
                        self.ram.page_size = 1u64 << bits;
                    }
                    sub["target_page_bits"] = bits.into();
                    text.push_str(&format!(", target-page-bits {bits}"));
                }
                "configuration/capabilities" => {
                    let n = rd
                        .be32()
                        .map_err(|m| truncated(at, m, "capabilities count"))?;
                    let mut caps = Vec::new();
                    for _ in 0..n {
                        let c = rd.str8().map_err(|m| truncated(at, m, "capability name"))?;
                        caps.push(text_of(c));
                    }
                    text.push_str(&format!(", capabilities [{}]", caps.join(", ")));
                    sub["capabilities"] = caps.into();
                }
                "configuration/uuid" => {
                    let u = rd.bytes(16).map_err(|m| truncated(at, m, "uuid"))?;
                    let mut a = [0u8; 16];
                    a.copy_from_slice(u);
                    text.push_str(&format!(", uuid {}", uuid(&a)));
                    sub["uuid"] = uuid(&a).into();
                }
                other => {
                    return Err(End::Undecoded {
                        offset: at,
                        reason: format!("configuration subsection \"{other}\" is not known"),
                    })
                }
            }
            subs.push(sub);
        }
        it.len = rd.pos - off;
        it = it.text(text).field("subsections", subs);
        self.push(it);
        Ok(rd.pos)
    }

    fn section(&mut self, off: usize) -> Result<usize, End> {
        let b = self.b;
        let t = b[off];
        let tname = section_name(t);
        let mut rd = Rd::new(b, off + 1);
        let id = rd
            .be32()
            .map_err(|m| truncated(off, m, format!("section {tname} header")))?;
        if t == SECTION_START || t == SECTION_FULL {
            let (idstr, instance, version) = rd
                .str8()
                .and_then(|s| rd.be32().and_then(|i| rd.be32().map(|v| (s, i, v))))
                .map_err(|m| truncated(off, m, format!("section {tname} header")))?;
            self.sections.insert(
                id,
                SectionInfo {
                    idstr: text_of(idstr),
                    instance,
                    version,
                },
            );
        }
        let (idstr, instance, version) = match self.sections.get(&id) {
            Some(s) => (s.idstr.clone(), s.instance, s.version),
            None => (String::new(), 0, 0),
        };
        let body = rd.pos;
        let slot = self.items.len();
        let mut it = Item::new(off, 0, "section", tname)
            .field("section_id", id)
            .field("idstr", idstr.clone())
            .field("instance", instance)
            .field("version", version)
            .field("body", body);
        let head = format!("#{id} \"{idstr}\" instance {instance} version {version}");
        let d = self.depth();
        // Placeholder, completed once the body is walked.
        self.push(it.clone());
        let (body_end, how) = if idstr == "ram" {
            match ram::walk(b, body, &mut self.ram, d + 1, self.items, true) {
                Ok(Stop::Eos(end)) => (end, "RAM records".to_string()),
                Ok(Stop::EndOfInput) => (b.len(), "RAM records".to_string()),
                Err(e) => {
                    self.items[slot].text = format!("{head}, RAM records");
                    return Err(e);
                }
            }
        } else {
            match find_footer(b, body, id) {
                Some(end) if is_vfio_idstr(idstr.as_bytes()) => {
                    let (first, last) = vfio_tags(&b[body..end]);
                    if let Some(t) = first {
                        it = it.field("vfio_first", t.name());
                    }
                    if let Some(t) = last {
                        it = it.field("vfio_last", t.name());
                    }
                    let name = |t: Option<VfioTag>| t.map_or("?", VfioTag::name);
                    (
                        end,
                        format!("VFIO state, {} .. {}", name(first), name(last)),
                    )
                }
                Some(end) => (end, "device state, not decoded".to_string()),
                None => {
                    self.items[slot].text = format!("{head}, device state");
                    return Err(End::Truncated {
                        offset: body,
                        missing: None,
                        what: format!(
                            "device state of \"{idstr}\" (section #{id}): its footer is not in \
                             the input (truncated capture, or a machine type without footers)"
                        ),
                    });
                }
            }
        };
        let mut rd = Rd::new(b, body_end);
        let footer = match b.get(body_end) {
            Some(&FOOTER) => {
                let fid = rd
                    .bytes(1)
                    .and_then(|_| rd.be32())
                    .map_err(|m| truncated(body_end, m, "section footer"))?;
                if fid != id {
                    return Err(End::Undecoded {
                        offset: body_end,
                        reason: format!("section footer names #{fid}, the section is #{id}"),
                    });
                }
                Some(body_end)
            }
            _ => None,
        };
        let end = rd.pos;
        it.len = end - off;
        it = it
            .text(format!(
                "{head}, {} B of {how}{}",
                body_end - body,
                if footer.is_some() {
                    ", footer ok"
                } else {
                    ", no footer"
                }
            ))
            .field("body_len", body_end - body)
            .field("footer", footer);
        self.items[slot] = it.depth(d);
        Ok(end)
    }

    fn vmdesc(&mut self, off: usize) -> Result<usize, End> {
        let mut rd = Rd::new(self.b, off + 1);
        let json = rd
            .be32()
            .and_then(|n| rd.bytes(n as usize))
            .map_err(|m| truncated(off, m, "VMDESCRIPTION"))?;
        let mut it =
            Item::new(off, rd.pos - off, "section", "VMDESCRIPTION").field("json_len", json.len());
        let mut text = format!("{} bytes of JSON", json.len());
        if let Ok(v) = serde_json::from_slice::<Value>(json) {
            if let Some(devs) = v.get("devices").and_then(Value::as_array) {
                text.push_str(&format!(", {} devices", devs.len()));
                it = it.field("devices", devs.len());
            }
            if let Some(ps) = v.get("page_size").and_then(Value::as_u64) {
                text.push_str(&format!(", page size {ps}"));
                it = it.field("page_size", ps);
            }
        }
        self.push(it.text(text));
        Ok(rd.pos)
    }
}

/// The tags that open and close a VFIO section body: its first and last
/// be64 (`DEV_CONFIG_LOAD_READY` or `DEV_INIT_DATA_SENT` alone make up a
/// whole body). Either is `None` when it is not a known tag.
fn vfio_tags(body: &[u8]) -> (Option<VfioTag>, Option<VfioTag>) {
    let tag = |w: Option<&[u8]>| {
        w.and_then(|w| w.try_into().ok())
            .map(u64::from_be_bytes)
            .and_then(VfioTag::from_u64)
    };
    let last = body.len().checked_sub(8).map(|at| &body[at..]);
    (tag(body.get(..8)), tag(last))
}

/// The offset of the footer closing section `id`'s body, searching from
/// `from`: `7e`, the be32 id, then a section type byte or the end.
fn find_footer(b: &[u8], from: usize, id: u32) -> Option<usize> {
    let pat = {
        let mut p = [FOOTER, 0, 0, 0, 0];
        p[1..].copy_from_slice(&id.to_be_bytes());
        p
    };
    let next_ok = |at: usize| match b.get(at) {
        None => true,
        Some(&t) => matches!(
            t,
            EOF | SECTION_START
                | SECTION_PART
                | SECTION_END
                | SECTION_FULL
                | VMDESCRIPTION
                | CONFIGURATION
                | COMMAND
        ),
    };
    b.get(from..)?
        .windows(pat.len())
        .enumerate()
        .find(|(i, w)| *w == pat && next_ok(from + i + pat.len()))
        .map(|(i, _)| from + i)
}
