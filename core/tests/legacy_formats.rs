//! Properties of the legacy decoders over many inputs, short of a fuzzer:
//! no input panics, a decoder never claims more bytes than it was given,
//! whatever it accepts re-encodes to exactly the bytes it consumed, and a
//! truncated copy of an accepted input asks for exactly the missing bytes.

use accord_core::legacy::multifd::{MULTIFD_INIT_LEN, MULTIFD_MAGIC};
use accord_core::legacy::{
    Classifier, Command, Decision, Family, LegacyConfig, MultifdInit, Parsed, RpMessage,
    StreamHeader,
};

/// xorshift64*: deterministic, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Random bytes shaped like a command: right section byte, a known or
/// nearby cmd, a length that often matches the payload.
fn command_like(r: &mut Rng) -> Vec<u8> {
    let cmd = r.below(14) as u16;
    let len = match r.below(4) {
        0 => r.below(24) as u16,
        1 => 4,
        2 => 0,
        _ => r.below(300) as u16,
    };
    let mut b = vec![if r.below(16) == 0 {
        r.next() as u8
    } else {
        0x08
    }];
    b.extend_from_slice(&cmd.to_be_bytes());
    b.extend_from_slice(&len.to_be_bytes());
    let mut payload = r.bytes(usize::from(len));
    // make idlen bytes plausible
    if let Some(first) = payload.first_mut() {
        if cmd == 10 && r.below(2) == 0 {
            *first = len.saturating_sub(1) as u8;
        }
    }
    if cmd == 6 && payload.len() > 1 && r.below(2) == 0 {
        payload[1] = r.below(8) as u8;
    }
    b.extend(payload);
    b
}

/// Random bytes shaped like a return-path message.
fn rp_like(r: &mut Rng) -> Vec<u8> {
    let ty = r.below(10) as u16;
    let len = match r.below(4) {
        0 => r.below(20) as u16,
        1 => 4,
        2 => 12,
        _ => r.below(600) as u16,
    };
    let mut b = ty.to_be_bytes().to_vec();
    b.extend_from_slice(&len.to_be_bytes());
    let mut payload = r.bytes(usize::from(len));
    if ty == 3 && payload.len() > 12 && r.below(2) == 0 {
        payload[12] = (payload.len() - 13) as u8;
    }
    if ty == 5 && !payload.is_empty() && r.below(2) == 0 {
        payload[0] = (payload.len() - 1) as u8;
    }
    b.extend(payload);
    b
}

/// Random inputs per test; scripts/miri.sh runs a sample (the interpreter
/// would take many minutes over the full count).
const ROUNDS: usize = if cfg!(miri) { 60 } else { 60_000 };
/// Accepted inputs a full run must reach (the generator's quality check).
const MIN_ACCEPTED: usize = if cfg!(miri) { 0 } else { 1000 };

#[test]
fn commands_accepted_are_canonical_and_prefixes_ask_for_the_rest() {
    let mut r = Rng(0x1234_5678_9abc_def1);
    let mut accepted = 0;
    for _ in 0..ROUNDS {
        let b = command_like(&mut r);
        match Command::decode(&b) {
            Ok(Parsed::Done(c, n)) => {
                accepted += 1;
                assert!(n <= b.len());
                let mut out = vec![0u8; n];
                assert_eq!(c.encode(&mut out), Ok(n), "{c:?}");
                assert_eq!(out, b[..n], "{c:?}");
                let cut = r.below(n as u64) as usize;
                let want = if cut < 5 { 5 - cut } else { n - cut };
                assert_eq!(Command::decode(&b[..cut]), Ok(Parsed::Incomplete(want)));
            }
            Ok(Parsed::Incomplete(k)) => assert!(k > 0),
            Err(_) => {}
        }
    }
    assert!(
        accepted > MIN_ACCEPTED,
        "only {accepted} accepted: the generator is too far off"
    );
}

#[test]
fn return_path_messages_accepted_are_canonical() {
    let mut r = Rng(0x0fed_cba9_8765_4321);
    let mut accepted = 0;
    for _ in 0..ROUNDS {
        let b = rp_like(&mut r);
        match RpMessage::decode(&b) {
            Ok(Parsed::Done(m, n)) => {
                accepted += 1;
                assert!(n <= b.len() && n - 4 <= 512);
                let mut out = vec![0u8; n];
                assert_eq!(m.encode(&mut out), Ok(n), "{m:?}");
                assert_eq!(out, b[..n], "{m:?}");
                let cut = r.below(n as u64) as usize;
                let want = if cut < 4 { 4 - cut } else { n - cut };
                assert_eq!(RpMessage::decode(&b[..cut]), Ok(Parsed::Incomplete(want)));
            }
            Ok(Parsed::Incomplete(k)) => assert!(k > 0),
            Err(_) => {}
        }
    }
    assert!(accepted > MIN_ACCEPTED, "only {accepted} accepted");
}

#[test]
fn every_two_byte_input_and_random_noise_are_handled_without_panic() {
    let cfgs = [
        LegacyConfig {
            multifd_channels: 4,
            ..LegacyConfig::new(Family::Qemu8_0To10_0)
        },
        LegacyConfig {
            multifd_channels: 4,
            postcopy_ram: true,
            postcopy_preempt: true,
            preempt_pre_7_2: true,
            ..LegacyConfig::new(Family::Qemu10_1Plus)
        },
    ];
    for v in (0..=u16::MAX).step_by(if cfg!(miri) { 1021 } else { 1 }) {
        let b = v.to_be_bytes();
        let _ = StreamHeader::decode(&b);
        let _ = Command::decode(&b);
        let _ = RpMessage::decode(&b);
        let _ = MultifdInit::decode(&b);
    }
    let mut r = Rng(42);
    for _ in 0..ROUNDS / 3 {
        let n = r.below(80) as usize;
        let mut b = r.bytes(n);
        if n >= 4 && r.below(2) == 0 {
            b[..4].copy_from_slice(&MULTIFD_MAGIC.to_be_bytes());
        }
        let _ = StreamHeader::decode(&b);
        if let Ok(Parsed::Done(_, used)) = MultifdInit::decode(&b) {
            assert_eq!(used, MULTIFD_INIT_LEN);
        }
        for cfg in cfgs {
            let mut c = Classifier::new(cfg).unwrap();
            c.classify(&[0x51, 0x45, 0x56, 0x4d]).unwrap();
            let before = c;
            match c.classify(&b) {
                Ok(Decision::NeedMore(_)) | Ok(Decision::MaybeSilent(_)) | Err(_) => {
                    assert_eq!(c, before)
                }
                Ok(_) => assert_ne!(c, before),
            }
        }
    }
}
