//! What a decoder produces: a list of [`Item`]s, each at an offset of the
//! input, and how the walk ended ([`End`]). Rendering to text or JSON lines
//! lives here too, so every stream kind prints the same way.

use std::fmt::Write as _;

use accord_core::Error;
use serde_json::{Map, Value};

/// The kinds of stream the tool decodes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum StreamKind {
    /// An accord channel: preamble, then frames on the main channel.
    Accord,
    /// QEMU's main migration stream, source to destination.
    QemuMain,
    /// A QEMU multifd channel: `MultiFDInit_t`, then packets.
    Multifd,
    /// QEMU's return path: the destination-to-source side of the main
    /// channel.
    ReturnPath,
    /// QEMU's postcopy-preempt channel: bare RAM pages, no header.
    Preempt,
}

impl StreamKind {
    /// Every kind, in the order `--kind` lists them.
    pub const ALL: [StreamKind; 5] = [
        StreamKind::Accord,
        StreamKind::QemuMain,
        StreamKind::Multifd,
        StreamKind::ReturnPath,
        StreamKind::Preempt,
    ];

    /// The name used by `--kind` and in the output.
    pub const fn name(self) -> &'static str {
        match self {
            StreamKind::Accord => "accord",
            StreamKind::QemuMain => "qemu-main",
            StreamKind::Multifd => "multifd",
            StreamKind::ReturnPath => "return-path",
            StreamKind::Preempt => "preempt",
        }
    }

    /// The kind called `name`.
    pub fn from_name(name: &str) -> Option<StreamKind> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// One decoded thing at an offset of the input.
#[derive(Clone, Debug, PartialEq)]
pub struct Item {
    /// Offset of its first byte in the input.
    pub offset: usize,
    /// Bytes it spans.
    pub len: usize,
    /// Nesting level (inside a PACKAGED blob, a section body).
    pub depth: usize,
    /// What sort of thing: `preamble`, `frame`, `header`, `section`,
    /// `command`, `ram`, `multifd-init`, `multifd-packet`, `rp`, ...
    pub kind: &'static str,
    /// Its name within the kind (`PING`, `Hello`, `SWITCHOVER_ACK`, ...).
    pub name: String,
    /// The human-readable rest of the line.
    pub text: String,
    /// The decoded fields, for `--json`.
    pub fields: Map<String, Value>,
}

impl Item {
    /// An item with no text and no fields yet.
    pub fn new(offset: usize, len: usize, kind: &'static str, name: impl Into<String>) -> Item {
        Item {
            offset,
            len,
            depth: 0,
            kind,
            name: name.into(),
            text: String::new(),
            fields: Map::new(),
        }
    }

    /// Set the human-readable text.
    pub fn text(mut self, text: impl Into<String>) -> Item {
        self.text = text.into();
        self
    }

    /// Add a JSON field.
    pub fn field(mut self, key: &str, value: impl Into<Value>) -> Item {
        self.fields.insert(key.to_string(), value.into());
        self
    }

    /// Set the nesting level.
    pub fn depth(mut self, depth: usize) -> Item {
        self.depth = depth;
        self
    }

    /// The item as one JSON object: offset, len, depth, kind, name, then
    /// its fields.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("offset".into(), self.offset.into());
        m.insert("len".into(), self.len.into());
        m.insert("depth".into(), self.depth.into());
        m.insert("kind".into(), self.kind.into());
        m.insert("name".into(), self.name.clone().into());
        for (k, v) in &self.fields {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }
}

/// How a walk over the input ended.
#[derive(Clone, Debug, PartialEq)]
pub enum End {
    /// Every byte was decoded.
    Complete,
    /// The input stops inside `what`, which starts at `offset`; `missing`
    /// is how many more bytes it needs at least, when known.
    Truncated {
        /// Where the incomplete item starts.
        offset: usize,
        /// Bytes still needed, at least (`None`: unknown).
        missing: Option<usize>,
        /// What is incomplete.
        what: String,
    },
    /// The bytes from `offset` on were not decoded: the format there is
    /// beyond what the tool can walk (device state without a footer, RAM
    /// flags it does not know, hypervisor data after an accord preamble).
    Undecoded {
        /// First byte not decoded.
        offset: usize,
        /// Why.
        reason: String,
    },
    /// accord's decoder refused the bytes at `offset`.
    Malformed {
        /// Where the refused item starts.
        offset: usize,
        /// accord's error: code and detail.
        error: Box<Error>,
        /// What was being decoded.
        what: String,
    },
}

impl End {
    /// The process exit code for this ending: 1 when malformed, else 0.
    pub fn exit_code(&self) -> i32 {
        match self {
            End::Malformed { .. } => 1,
            _ => 0,
        }
    }

    /// `complete`, `truncated`, `undecoded` or `malformed`.
    pub fn status(&self) -> &'static str {
        match self {
            End::Complete => "complete",
            End::Truncated { .. } => "truncated",
            End::Undecoded { .. } => "undecoded",
            End::Malformed { .. } => "malformed",
        }
    }
}

/// Everything the tool learnt about one input.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// The stream kind it was decoded as.
    pub stream: StreamKind,
    /// Whether the kind was detected (`auto`) rather than given.
    pub detected: bool,
    /// Input size in bytes.
    pub bytes: usize,
    /// What was decoded, in input order.
    pub items: Vec<Item>,
    /// How it ended.
    pub end: End,
}

impl Report {
    /// The items of one kind.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Item> + 'a {
        self.items.iter().filter(move |i| i.kind == kind)
    }

    /// Human-readable text, one line per item, framed by a title line and
    /// an ending line, all lines starting with the offset column.
    pub fn to_text(&self, source: &str) -> String {
        let mut s = String::new();
        let how = if self.detected { "detected" } else { "given" };
        let _ = writeln!(
            s,
            "{source}: {} stream ({how}), {} bytes",
            self.stream.name(),
            self.bytes
        );
        for it in &self.items {
            let pad = "  ".repeat(it.depth);
            let mut line = format!("{:>8}  {:<14} {pad}{}", it.offset, it.kind, it.name);
            if !it.text.is_empty() {
                line.push(' ');
                line.push_str(&it.text);
            }
            let _ = writeln!(s, "{}", line.trim_end());
        }
        let _ = writeln!(s, "{}", self.end_line());
        s
    }

    /// The closing line of the human output.
    pub fn end_line(&self) -> String {
        let n = match self.items.len() {
            1 => "1 item".to_string(),
            k => format!("{k} items"),
        };
        match &self.end {
            End::Complete => format!(
                "{:>8}  end            complete: {n}, all {} bytes decoded",
                self.bytes, self.bytes
            ),
            End::Truncated {
                offset,
                missing,
                what,
            } => {
                let need = match missing {
                    Some(m) => format!("needs at least {m} more bytes"),
                    None => "continues past the end of the input".to_string(),
                };
                format!(
                    "{:>8}  end            truncated: {what} (from offset {offset}) {need}; {n} decoded",
                    self.bytes
                )
            }
            End::Undecoded { offset, reason } => format!(
                "{offset:>8}  end            undecoded from offset {offset} ({} bytes): {reason}; {n} decoded",
                self.bytes.saturating_sub(*offset)
            ),
            End::Malformed {
                offset,
                error,
                what,
            } => format!("{offset:>8}  end            malformed at offset {offset}: {error} ({what})"),
        }
    }

    /// JSON lines: a `stream` object, one object per item, an `end` object.
    pub fn to_json_lines(&self, source: &str) -> Vec<Value> {
        let mut v = Vec::with_capacity(self.items.len() + 2);
        let mut head = Map::new();
        head.insert("kind".into(), "stream".into());
        head.insert("source".into(), source.into());
        head.insert("stream".into(), self.stream.name().into());
        head.insert("detected".into(), self.detected.into());
        head.insert("bytes".into(), self.bytes.into());
        v.push(Value::Object(head));
        v.extend(self.items.iter().map(Item::to_json));
        let mut end = Map::new();
        end.insert("kind".into(), "end".into());
        end.insert("status".into(), self.end.status().into());
        end.insert("items".into(), self.items.len().into());
        match &self.end {
            End::Complete => {
                end.insert("offset".into(), self.bytes.into());
            }
            End::Truncated {
                offset,
                missing,
                what,
            } => {
                end.insert("offset".into(), (*offset).into());
                end.insert("missing".into(), (*missing).into());
                end.insert("what".into(), what.clone().into());
            }
            End::Undecoded { offset, reason } => {
                end.insert("offset".into(), (*offset).into());
                end.insert("reason".into(), reason.clone().into());
            }
            End::Malformed {
                offset,
                error,
                what,
            } => {
                end.insert("offset".into(), (*offset).into());
                end.insert("code".into(), error.code.as_u16().into());
                end.insert("error".into(), format!("E{}", error.code.as_u16()).into());
                end.insert("message".into(), error.to_string().into());
                end.insert("what".into(), what.clone().into());
            }
        }
        v.push(Value::Object(end));
        v
    }
}

/// Lowercase hex of `b`, no separators.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A PING or PONG value as text; QEMU 10.2's package-loaded ping is named.
pub fn ping_text(v: u32) -> String {
    if v == accord_core::legacy::stream::PING_PACKAGED_LOADED {
        format!("{v} (0x42 PACKAGED_LOADED: the package's device state is loaded)")
    } else {
        v.to_string()
    }
}

/// A byte string as text: UTF-8 when it is, else escaped.
pub fn text_of(b: &[u8]) -> String {
    match std::str::from_utf8(b) {
        Ok(s) => s.to_string(),
        Err(_) => b.escape_ascii().to_string(),
    }
}

/// A uuid in its usual 8-4-4-4-12 form.
pub fn uuid(u: &[u8; 16]) -> String {
    let h = hex(u);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Big-endian reads that say how many bytes are missing instead of
/// failing: `Err(n)` means the input ends `n` bytes too early.
#[derive(Copy, Clone, Debug)]
pub struct Rd<'a> {
    b: &'a [u8],
    /// Current offset in the whole input.
    pub pos: usize,
}

impl<'a> Rd<'a> {
    /// A reader over `b` at offset `pos`.
    pub fn new(b: &'a [u8], pos: usize) -> Rd<'a> {
        Rd { b, pos }
    }

    /// The next `n` bytes.
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], usize> {
        let end = self.pos.saturating_add(n);
        match self.b.get(self.pos..end) {
            Some(s) => {
                self.pos = end;
                Ok(s)
            }
            None => Err(end.saturating_sub(self.b.len())),
        }
    }

    /// One byte.
    pub fn u8(&mut self) -> Result<u8, usize> {
        Ok(self.bytes(1)?[0])
    }

    /// A big-endian u16.
    pub fn be16(&mut self) -> Result<u16, usize> {
        let s = self.bytes(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }

    /// A big-endian u32.
    pub fn be32(&mut self) -> Result<u32, usize> {
        let s = self.bytes(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }

    /// A big-endian u64.
    pub fn be64(&mut self) -> Result<u64, usize> {
        let s = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(s);
        Ok(u64::from_be_bytes(a))
    }

    /// A u8-counted string.
    pub fn str8(&mut self) -> Result<&'a [u8], usize> {
        let n = self.u8()?;
        self.bytes(usize::from(n))
    }
}
