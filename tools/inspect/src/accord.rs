//! accord channels: the 28-byte preamble, then (main channel only) frames.
//!
//! Every byte goes through accord-core's decoders: [`Preamble::decode`],
//! [`frame::split`], and the payload decoders of `wire::msg`. After Welcome
//! the main channel belongs to the hypervisor's stream; if that stream is
//! QEMU's (it starts with `QEVM`), the walk goes on with the QEMU main-stream
//! decoder.

use accord_core::wire::frame::{self, FrameType, HEADER_LEN};
use accord_core::wire::msg::{
    decode_failure, ChannelsReady, Hello, SwitchoverAck, SwitchoverRevoke, SwitchoverStart, Welcome,
};
use accord_core::wire::preamble::{self, Preamble};
use accord_core::{Detail, Error, Offer, Role};
use serde_json::{json, Value};

use crate::report::{hex, End, Item};

/// Decode an accord channel from the start of `b`.
pub fn walk(b: &[u8], items: &mut Vec<Item>) -> End {
    let p = match Preamble::decode(b) {
        Err(error) => {
            // A wrong magic is refused at its first differing byte.
            let at = b
                .iter()
                .zip(preamble::MAGIC.iter())
                .position(|(x, y)| x != y)
                .unwrap_or(0);
            return End::Malformed {
                offset: if error.code == accord_core::ErrorCode::BadMagic {
                    at
                } else {
                    0
                },
                error: Box::new(error),
                what: "accord preamble".into(),
            };
        }
        Ok(None) => {
            return End::Truncated {
                offset: 0,
                missing: Some(preamble::LEN - b.len()),
                what: "accord preamble".into(),
            }
        }
        Ok(Some(p)) => p,
    };
    items.push(preamble_item(&p));
    let mut off = preamble::LEN;
    if p.role != Role::Main {
        return if off == b.len() {
            End::Complete
        } else {
            End::Undecoded {
                offset: off,
                reason: format!(
                    "{} channel data after the preamble belongs to the hypervisor",
                    p.channel()
                ),
            }
        };
    }
    loop {
        let rest = &b[off..];
        if rest.is_empty() {
            return End::Complete;
        }
        if rest.starts_with(b"QEVM") {
            items.push(
                Item::new(off, 0, "handoff", "QEVM")
                    .text("QEMU's main stream follows the accord frames")
                    .field("stream", "qemu-main"),
            );
            return crate::qemu_main::walk(b, off, items);
        }
        match frame::split(rest) {
            Err(error) => {
                return End::Malformed {
                    offset: off,
                    error: Box::new(error),
                    what: "accord frame header".into(),
                }
            }
            Ok(None) => {
                let missing = match rest.len() {
                    n if n < HEADER_LEN => HEADER_LEN - n,
                    n => HEADER_LEN + usize::from(u16::from_be_bytes([rest[1], rest[2]])) - n,
                };
                return End::Truncated {
                    offset: off,
                    missing: Some(missing),
                    what: format!("accord frame {}", frame_name_byte(rest[0])),
                };
            }
            Ok(Some(f)) => {
                match frame_item(off, f.kind, f.payload, f.len) {
                    Ok(it) => items.push(it),
                    Err(error) => {
                        return End::Malformed {
                            offset: off,
                            error: Box::new(error),
                            what: format!("{} payload", frame_name(f.kind)),
                        }
                    }
                }
                off += f.len;
            }
        }
    }
}

/// The name of a frame type.
pub fn frame_name(t: FrameType) -> &'static str {
    match t {
        FrameType::Hello => "Hello",
        FrameType::Welcome => "Welcome",
        FrameType::Reject => "Reject",
        FrameType::ChannelsReady => "ChannelsReady",
        FrameType::SwitchoverAck => "SwitchoverAck",
        FrameType::SwitchoverRevoke => "SwitchoverRevoke",
        FrameType::SwitchoverStart => "SwitchoverStart",
        FrameType::Abort => "Abort",
    }
}

fn frame_name_byte(t: u8) -> String {
    FrameType::from_u8(t)
        .map(|t| frame_name(t).to_string())
        .unwrap_or_else(|| format!("type 0x{t:02x}"))
}

fn preamble_item(p: &Preamble) -> Item {
    let mut text = format!(
        "{} {}/{} versions {} nonce {}",
        p.role,
        p.index,
        p.total,
        p.versions,
        hex(&p.nonce)
    );
    if p.is_reattach() {
        text.push_str(" REATTACH");
    }
    Item::new(0, preamble::LEN, "preamble", "ACRD")
        .text(text)
        .field("role", p.role.as_str())
        .field("index", p.index)
        .field("total", p.total)
        .field("min_version", p.versions.min)
        .field("max_version", p.versions.max)
        .field("flags", p.flags)
        .field("reattach", p.is_reattach())
        .field("nonce", hex(&p.nonce))
}

fn offer_json(o: &Offer) -> (Value, String) {
    let list: Vec<Value> = o
        .entries()
        .iter()
        .map(|e| {
            json!({
                "id": e.id.0,
                "name": e.id.to_string(),
                "required": e.required,
                "param": e.param,
            })
        })
        .collect();
    let text: Vec<String> = o
        .entries()
        .iter()
        .map(|e| {
            let lvl = if e.required { "required" } else { "optional" };
            if e.param != 0 {
                format!("{}={} {lvl}", e.id, e.param)
            } else {
                format!("{} {lvl}", e.id)
            }
        })
        .collect();
    (Value::Array(list), text.join(", "))
}

fn detail_json(d: &Detail) -> Value {
    match d {
        Detail::None => json!({ "type": "none" }),
        Detail::Capability(c) => json!({ "type": "capability", "id": c.0, "name": c.to_string() }),
        Detail::Dependency { capability, needs } => json!({
            "type": "dependency",
            "capability": capability.to_string(),
            "needs": needs.to_string(),
        }),
        Detail::Device(dev) => json!({
            "type": "device",
            "name": dev.name.as_str(),
            "instance": dev.instance,
        }),
        Detail::Versions {
            source,
            destination,
        } => json!({
            "type": "versions",
            "source": [source.min, source.max],
            "destination": [destination.min, destination.max],
        }),
        Detail::Channel { role, index } => json!({
            "type": "channel",
            "role": role.as_str(),
            "index": index,
        }),
        Detail::MissingChannels {
            role,
            index,
            missing,
        } => json!({
            "type": "missing-channels",
            "role": role.as_str(),
            "index": index,
            "missing": missing,
        }),
        Detail::Frame(t) => json!({ "type": "frame", "frame": t }),
        Detail::Value { expected, got } => json!({
            "type": "value",
            "expected": expected,
            "got": got,
        }),
    }
}

fn failure_item(it: Item, e: &Error) -> Item {
    it.text(e.to_string())
        .field("code", e.code.as_u16())
        .field("error", format!("E{}", e.code.as_u16()))
        .field("message", e.code.text())
        .field("detail", detail_json(&e.detail))
}

fn frame_item(off: usize, kind: FrameType, p: &[u8], len: usize) -> Result<Item, Error> {
    let it = Item::new(off, len, "frame", frame_name(kind)).field("payload_len", p.len());
    Ok(match kind {
        FrameType::Hello => {
            let h = Hello::decode(p)?;
            let (offers, offers_text) = offer_json(&h.offer);
            let mut devs = Vec::new();
            let mut devs_text = Vec::new();
            for d in h.devices.devices() {
                let d = d?;
                devs.push(json!({
                    "name": d.name,
                    "instance": d.instance,
                    "wants_ack": d.wants_ack,
                }));
                devs_text.push(format!(
                    "\"{}\"/{}{}",
                    d.name,
                    d.instance,
                    if d.wants_ack { " wants-ack" } else { "" }
                ));
            }
            it.text(format!(
                "offers [{offers_text}] devices [{}]",
                devs_text.join(", ")
            ))
            .field("offers", offers)
            .field("devices", devs)
        }
        FrameType::Welcome => {
            let w = Welcome::decode(p)?;
            let (offers, offers_text) = offer_json(&w.offer);
            let enabled: Vec<Value> = w
                .agreed
                .entries()
                .iter()
                .map(|e| json!({ "id": e.id.0, "name": e.id.to_string(), "param": e.param }))
                .collect();
            let enabled_text: Vec<String> = w
                .agreed
                .entries()
                .iter()
                .map(|e| {
                    if e.param != 0 {
                        format!("{}={}", e.id, e.param)
                    } else {
                        e.id.to_string()
                    }
                })
                .collect();
            let verdicts = w.verdicts.bools().collect::<Result<Vec<bool>, Error>>()?;
            it.text(format!(
                "version {} enabled [{}] destination offers [{offers_text}] verdicts {:?}",
                w.version,
                enabled_text.join(", "),
                verdicts
            ))
            .field("version", w.version)
            .field("enabled", enabled)
            .field("offers", offers)
            .field("verdicts", verdicts)
        }
        FrameType::Reject | FrameType::Abort => failure_item(it, &decode_failure(p)?),
        FrameType::ChannelsReady => {
            let c = ChannelsReady::decode(p)?;
            it.text(format!(
                "multifd {} preempt {} device-state {}",
                c.multifd, c.preempt, c.device_state
            ))
            .field("multifd", c.multifd)
            .field("preempt", c.preempt)
            .field("device_state", c.device_state)
        }
        FrameType::SwitchoverAck => {
            let a = SwitchoverAck::decode(p)?;
            it.text(format!("epoch {}", a.epoch))
                .field("epoch", a.epoch)
        }
        FrameType::SwitchoverRevoke => {
            let r = SwitchoverRevoke::decode(p)?;
            it.text(format!("epoch {} device {}", r.epoch, r.device))
                .field("epoch", r.epoch)
                .field("device", r.device)
        }
        FrameType::SwitchoverStart => {
            let s = SwitchoverStart::decode(p)?;
            it.text(format!(
                "epoch {}{}",
                s.epoch,
                if s.waived { " waived" } else { "" }
            ))
            .field("epoch", s.epoch)
            .field("waived", s.waived)
        }
    })
}
