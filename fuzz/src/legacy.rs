//! Targets for QEMU's legacy formats (`accord_core::legacy`): the main
//! stream header and `QEMU_VM_COMMAND`s, return-path messages,
//! `MultiFDInit_t`, and the channel classifier of each version family.
//!
//! Every decoder is checked for: no panic; a decoded item re-encodes to the
//! bytes it came from; and its "need more" promise: a prefix reported as
//! `Incomplete(n)` must really need `n` more bytes, so a caller that waits
//! for them never waits for bytes a complete item does not have.

use accord_core::legacy::multifd::{MULTIFD_INIT_LEN, MULTIFD_MAGIC};
use accord_core::legacy::stream::{COMMAND_HEADER_LEN, STREAM_HEADER_LEN};
use accord_core::legacy::{
    Classifier, Command, Decision, Family, LegacyConfig, MultifdInit, Parsed, RpMessage,
    StreamHeader,
};
use accord_core::*;

/// The promise of `Incomplete`: for every proper prefix of a complete item
/// that the decoder calls incomplete, the item is at least as long as the
/// prefix plus what was asked (a caller waiting for that many bytes never
/// waits past the item's end). An error may show before an item would end
/// (a bad first byte is refused at once), but a prefix's error is the whole
/// input's error. Returns the whole input's result.
fn check_prefixes<'a, T>(
    data: &'a [u8],
    decode: impl Fn(&'a [u8]) -> Result<Parsed<T>>,
) -> Result<Parsed<T>> {
    let whole = decode(data);
    let end = match &whole {
        Ok(Parsed::Done(_, n)) => *n,
        Ok(Parsed::Incomplete(_)) => return whole,
        Err(_) => data.len(),
    };
    if let Ok(Parsed::Done(_, n)) = &whole {
        assert!(*n <= data.len() && *n > 0);
    }
    for k in 0..end.min(data.len()) {
        match decode(&data[..k]) {
            Ok(Parsed::Incomplete(more)) => {
                assert!(more > 0, "incomplete, asking for nothing");
                if whole.is_ok() {
                    assert!(
                        k + more <= end,
                        "prefix {k} asks for {more}, the item ends at {end}"
                    );
                }
            }
            // A header-level error may show before the payload is complete,
            // and must then be the whole input's error.
            Err(e) => assert_eq!(Some(&e), whole.as_ref().err(), "prefix {k}: another error"),
            Ok(Parsed::Done(..)) => panic!("a proper prefix of an item decodes"),
        }
    }
    whole
}

/// Main stream: the 8-byte header, then `QEMU_VM_COMMAND`s one after the
/// other until the input ends or something else is found.
pub fn stream(data: &[u8]) {
    let Ok(Parsed::Done(StreamHeader, n)) = check_prefixes(data, StreamHeader::decode) else {
        // Not a header: the same bytes as commands instead.
        commands(data);
        return;
    };
    assert_eq!(n, STREAM_HEADER_LEN);
    let mut buf = [0u8; 8];
    StreamHeader.encode(&mut buf).unwrap();
    assert_eq!(&buf[..], &data[..8]);
    commands(&data[n..]);
}

fn commands(mut data: &[u8]) {
    let mut buf = vec![0u8; 70_000];
    while let Ok(Parsed::Done(c, n)) = check_prefixes(data, Command::decode) {
        assert!(n >= COMMAND_HEADER_LEN);
        let m = c.encode(&mut buf).unwrap();
        assert_eq!(&buf[..m], &data[..n], "{c:?} re-encodes to other bytes");
        data = &data[n..];
    }
}

/// Return path: messages one after the other.
pub fn return_path(mut data: &[u8]) {
    let mut buf = [0u8; 600];
    while let Ok(Parsed::Done(m, n)) = check_prefixes(data, RpMessage::decode) {
        let k = m.encode(&mut buf).unwrap();
        assert_eq!(&buf[..k], &data[..n], "{m:?} re-encodes to other bytes");
        data = &data[n..];
    }
}

/// `MultiFDInit_t`: byte 0 is the channel count, byte 1 bit 0 says whether
/// bytes 2..18 are the uuid to expect; the rest is the header.
pub fn multifd(data: &[u8]) {
    let [channels, flags, rest @ ..] = data else {
        return;
    };
    let (uuid, header) = if flags & 1 == 1 && rest.len() >= 16 {
        let (u, h) = rest.split_at(16);
        (Some(<[u8; 16]>::try_from(u).unwrap()), h)
    } else {
        (None, rest)
    };
    let decoded = check_prefixes(header, MultifdInit::decode);
    let parsed = check_prefixes(header, |b| MultifdInit::parse(b, uuid.as_ref(), *channels));
    match (&decoded, &parsed) {
        (Ok(Parsed::Done(h, n)), _) => {
            assert_eq!(*n, MULTIFD_INIT_LEN);
            let mut buf = [0u8; 64];
            h.encode(&mut buf).unwrap();
            // Reserved bytes are not checked (as in QEMU): the rest must match.
            assert_eq!(&buf[..25], &header[..25]);
            // parse = decode, then the uuid, then id < channels, in that order.
            match &parsed {
                Ok(Parsed::Done(p, _)) => {
                    assert_eq!(p, h);
                    assert!(h.id < *channels);
                    assert!(uuid.is_none_or(|u| u == h.uuid));
                }
                Err(e) if uuid.is_some_and(|u| u != h.uuid) => {
                    assert_eq!(e.code, ErrorCode::LegacyMultifdUuid)
                }
                Err(e) => {
                    assert_eq!(e.code, ErrorCode::LegacyMultifdId);
                    assert!(h.id >= *channels);
                }
                Ok(Parsed::Incomplete(_)) => panic!("parse incomplete where decode is done"),
            }
        }
        (Err(e), _) => {
            assert_eq!(parsed.as_ref().err(), Some(e));
            let magic = u32::from_be_bytes(header[..4].try_into().unwrap());
            if magic != MULTIFD_MAGIC {
                assert_eq!(e.code, ErrorCode::LegacyUnknownMagic);
            } else {
                assert_eq!(e.code, ErrorCode::LegacyMultifdVersion);
            }
        }
        (Ok(Parsed::Incomplete(n)), _) => {
            assert_eq!(header.len() + n, MULTIFD_INIT_LEN);
            assert_eq!(parsed, decoded);
        }
    }
}

/// The classifier: three bytes of configuration, then connections, each a
/// length byte and that many bytes of its start (a length of 255 means
/// "postcopy paused": begin recovery).
pub fn classifier(data: &[u8]) {
    let [family, channels, flags, rest @ ..] = data else {
        return;
    };
    let cfg = LegacyConfig {
        family: match family % 3 {
            0 => Family::Qemu7_2,
            1 => Family::Qemu8_0To10_0,
            _ => Family::Qemu10_1Plus,
        },
        multifd_channels: channels % 9,
        postcopy_ram: flags & 1 != 0,
        postcopy_preempt: flags & 2 != 0,
        preempt_pre_7_2: flags & 4 != 0,
        peekable: flags & 8 == 0,
        uuid: (flags & 16 != 0).then_some([0xa5; 16]),
    };
    let Ok(mut c) = Classifier::new(cfg) else {
        assert!(
            (cfg.postcopy_preempt && !cfg.postcopy_ram)
                || (cfg.multifd_channels > 0
                    && ((cfg.family == Family::Qemu7_2 && cfg.postcopy_preempt)
                        || (cfg.family == Family::Qemu8_0To10_0 && cfg.postcopy_ram)))
        );
        return;
    };
    let mut rest = rest;
    let mut steps = 0;
    while let Some((&len, tail)) = rest.split_first() {
        steps += 1;
        if steps > 64 {
            break;
        }
        if len == 255 {
            let before = c;
            if c.begin_recovery().is_err() {
                assert_eq!(c, before, "a refused recovery changes nothing");
            } else {
                assert!(!c.main_present() && !c.preempt_present() && c.recovering());
            }
            rest = tail;
            continue;
        }
        let n = usize::from(len).min(tail.len());
        let (peeked, tail) = tail.split_at(n);
        rest = tail;
        let before = c;
        let needed = c.bytes_needed();
        assert!(needed <= MULTIFD_INIT_LEN);
        match c.classify(peeked) {
            Ok(Decision::NeedMore(k) | Decision::MaybeSilent(k)) => {
                assert_eq!(c, before, "an undecided connection changes nothing");
                assert!(
                    k > peeked.len() && k <= MULTIFD_INIT_LEN,
                    "asks for {k} with {}",
                    peeked.len()
                );
            }
            Ok(d) => {
                assert!(peeked.len() >= needed.min(4) || needed == 0);
                match d {
                    Decision::Main => assert!(c.main_present() && !before.main_present()),
                    Decision::Preempt => assert!(c.preempt_present() && !before.preempt_present()),
                    Decision::Multifd { id } => {
                        assert!(
                            id < cfg.multifd_channels,
                            "multifd id {id} of {}",
                            cfg.multifd_channels
                        );
                        assert!(c.multifd_present(id) && !before.multifd_present(id));
                        assert_eq!(c.multifd_count(), before.multifd_count() + 1);
                    }
                    _ => unreachable!(),
                }
            }
            Err(_) => assert_eq!(c, before, "an error records nothing"),
        }
        // With 64 bytes of a connection, the classifier always decides:
        // nothing waits for bytes a QEMU never sends.
        if peeked.len() >= MULTIFD_INIT_LEN {
            let mut probe = before;
            assert!(!matches!(
                probe.classify(peeked),
                Ok(Decision::NeedMore(_) | Decision::MaybeSilent(_))
            ));
        }
        assert!(c.multifd_count() <= u16::from(cfg.multifd_channels));
        if c.is_complete() {
            assert!(c.ready_to_load());
        }
    }
}
