//! Every arrival order a real QEMU source can produce, in every legacy
//! family, ends with every channel named right and the preempt channel never
//! read.
//!
//! The model: a main channel has sent its stream header (`QEVM`, version 3
//! and more), a multifd channel its 64-byte `MultiFDInit_t`, and the preempt
//! channel nothing at all, since it stays silent until postcopy runs. A
//! connection is first classified as soon as it is accepted, with no bytes;
//! a main or multifd connection that asks for bytes ([`Decision::NeedMore`])
//! gets all of its bytes, which is what waiting for them yields. A
//! connection answered [`Decision::MaybeSilent`] is parked and retried, with
//! whatever it has sent, after every later decision. The preempt channel
//! must never be answered `NeedMore` (that would block on it): it is decided
//! either unread when `bytes_needed()` is 0 at its arrival, or, parked, once
//! `bytes_needed()` has dropped to 0.
//!
//! Which orders real sources produce:
//!
//! - The source connects multifd and preempt channels only once its main
//!   connection is up, so by arrival order main is first. Families that peek
//!   are also run on multifd channels before main, which peeking handles.
//! - Since QEMU 8.0 the source connects preempt only after the first PONG,
//!   which the destination sends only once main and every multifd channel
//!   are in, so preempt is last. With `x-preempt-pre-7-2` (machine types up
//!   to 7.2, and 7.1/7.2 binaries) it connects preempt during setup, so it
//!   may come anywhere after main.
//! - 7.2 refuses nothing but cannot run multifd with preempt (it reads the
//!   preempt channel as multifd); 8.1 to 10.0 refuse multifd with postcopy.
//!   So 7.2 and 8.0-10.0 run the largest sets they allow: main + 4 multifd,
//!   and main + preempt.

use accord_core::legacy::multifd::MultifdInit;
use accord_core::legacy::{Classifier, Decision, Family, LegacyConfig};

const MULTIFD: u8 = 4;

#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Chan {
    Main,
    Multifd(u8),
    Preempt,
}

impl Chan {
    /// What the peer has sent on this connection by the time it is read.
    fn bytes(self) -> Vec<u8> {
        match self {
            Chan::Main => {
                let mut b = vec![0x51, 0x45, 0x56, 0x4d, 0, 0, 0, 3];
                // the stream goes on: a configuration section and more
                b.extend_from_slice(&[0x07; 120]);
                b
            }
            Chan::Multifd(id) => {
                let mut b = [0u8; 64];
                MultifdInit { uuid: [0; 16], id }.encode(&mut b).unwrap();
                b.to_vec()
            }
            Chan::Preempt => Vec::new(),
        }
    }

    fn is(self, d: Decision) -> bool {
        matches!(
            (self, d),
            (Chan::Main, Decision::Main) | (Chan::Preempt, Decision::Preempt)
        ) || matches!((self, d), (Chan::Multifd(a), Decision::Multifd { id }) if a == id)
    }
}

/// Classify one arrival order; panics with the order on any failure.
fn run(cfg: LegacyConfig, order: &[Chan]) {
    let mut c = Classifier::new(cfg).unwrap();
    let mut parked: Vec<Chan> = Vec::new();
    let mut decided: Vec<Chan> = Vec::new();
    let ctx = |what: &str| format!("{what}: {:?} order {order:?}", cfg);

    // Try a connection: returns true when decided, false when parked.
    let attempt = |c: &mut Classifier, ch: Chan, decided: &mut Vec<Chan>| -> bool {
        let zero_before = c.bytes_needed() == 0;
        let mut d = c
            .classify(&[])
            .unwrap_or_else(|e| panic!("{} ({e})", ctx("error on arrival")));
        if let Decision::NeedMore(_) = d {
            assert_ne!(
                ch,
                Chan::Preempt,
                "{}",
                ctx("would block reading the preempt channel")
            );
            d = c
                .classify(&ch.bytes())
                .unwrap_or_else(|e| panic!("{} ({e})", ctx("error with bytes")));
        } else if let Decision::MaybeSilent(_) = d {
            d = c
                .classify(&ch.bytes())
                .unwrap_or_else(|e| panic!("{} ({e})", ctx("error parked")));
        }
        match d {
            Decision::MaybeSilent(_) => {
                assert_eq!(
                    ch,
                    Chan::Preempt,
                    "{}",
                    ctx("a talking channel stayed undecided")
                );
                false
            }
            Decision::NeedMore(_) => panic!("{}", ctx("bytes were not enough")),
            d => {
                assert!(ch.is(d), "{}: {ch:?} decided as {d:?}", ctx("misassigned"));
                if ch == Chan::Preempt {
                    assert!(
                        zero_before,
                        "{}",
                        ctx("preempt decided while bytes were needed")
                    );
                }
                decided.push(ch);
                true
            }
        }
    };

    for &ch in order {
        if !attempt(&mut c, ch, &mut decided) {
            parked.push(ch);
            continue;
        }
        // every decision may settle a parked connection
        let mut progress = true;
        while progress {
            progress = false;
            let mut still = Vec::new();
            for p in parked.drain(..) {
                if attempt(&mut c, p, &mut decided) {
                    progress = true;
                } else {
                    still.push(p);
                }
            }
            parked = still;
        }
    }
    assert!(
        parked.is_empty(),
        "{}: left parked {parked:?}",
        ctx("undecided")
    );
    assert!(c.is_complete(), "{}", ctx("incomplete"));
    assert_eq!(decided.len(), order.len());
    let multifd = decided
        .iter()
        .filter(|d| matches!(d, Chan::Multifd(_)))
        .count();
    assert_eq!(multifd, usize::from(cfg.multifd_channels));
    // one more connection is always refused, unread
    assert_eq!(c.bytes_needed(), 0, "{}", ctx("complete set still reads"));
    assert!(c.classify(&[]).is_err());
}

/// Every permutation of `items`, in a fixed order. Under Miri, which
/// interprets every step, a few orders per level: the classifier is safe code
/// whose every order runs natively (and under the fuzzer).
fn permutations(items: &[Chan]) -> Vec<Vec<Chan>> {
    let mut all = all_permutations(items);
    if cfg!(miri) {
        all.truncate(3);
    }
    all
}

fn all_permutations(items: &[Chan]) -> Vec<Vec<Chan>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..items.len() {
        let mut rest = items.to_vec();
        let first = rest.remove(i);
        for mut p in all_permutations(&rest) {
            p.insert(0, first);
            out.push(p);
        }
    }
    out
}

fn multifd_channels() -> Vec<Chan> {
    (0..MULTIFD).map(Chan::Multifd).collect()
}

fn prefixed(first: Chan, rest: &[Chan]) -> Vec<Vec<Chan>> {
    permutations(rest)
        .into_iter()
        .map(|mut p| {
            p.insert(0, first);
            p
        })
        .collect()
}

fn with_multifd(family: Family, peekable: bool) -> LegacyConfig {
    LegacyConfig {
        multifd_channels: MULTIFD,
        peekable,
        ..LegacyConfig::new(family)
    }
}

fn with_preempt(family: Family, peekable: bool, pre_7_2: bool, multifd: u8) -> LegacyConfig {
    LegacyConfig {
        multifd_channels: multifd,
        postcopy_ram: true,
        postcopy_preempt: true,
        preempt_pre_7_2: pre_7_2,
        peekable,
        ..LegacyConfig::new(family)
    }
}

mod qemu_7_2 {
    use super::*;
    const F: Family = Family::Qemu7_2;

    #[test]
    fn main_then_four_multifd_in_every_order() {
        let orders = prefixed(Chan::Main, &multifd_channels());
        assert!(cfg!(miri) || orders.len() == 24, "{} orders", orders.len());
        for o in &orders {
            run(with_multifd(F, true), o);
            run(with_multifd(F, false), o);
            run(
                LegacyConfig {
                    postcopy_ram: true,
                    ..with_multifd(F, true)
                },
                o,
            );
        }
    }

    #[test]
    fn main_then_preempt() {
        for pre_7_2 in [false, true] {
            run(
                with_preempt(F, true, pre_7_2, 0),
                &[Chan::Main, Chan::Preempt],
            );
        }
    }
}

mod qemu_8_0_to_10_0 {
    use super::*;
    const F: Family = Family::Qemu8_0To10_0;

    #[test]
    fn main_and_four_multifd_in_every_order_when_peeking() {
        let mut all = multifd_channels();
        all.push(Chan::Main);
        let orders = permutations(&all);
        assert!(cfg!(miri) || orders.len() == 120, "{} orders", orders.len());
        for o in &orders {
            run(with_multifd(F, true), o);
        }
    }

    #[test]
    fn tls_main_first_then_four_multifd_in_every_order() {
        for o in &prefixed(Chan::Main, &multifd_channels()) {
            run(with_multifd(F, false), o);
        }
    }

    #[test]
    fn main_then_preempt_with_or_without_tls_and_pre_7_2() {
        for peekable in [true, false] {
            for pre_7_2 in [false, true] {
                run(
                    with_preempt(F, peekable, pre_7_2, 0),
                    &[Chan::Main, Chan::Preempt],
                );
            }
        }
    }
}

mod qemu_10_1_plus {
    use super::*;
    const F: Family = Family::Qemu10_1Plus;

    fn everything() -> Vec<Chan> {
        let mut all = multifd_channels();
        all.push(Chan::Main);
        all.push(Chan::Preempt);
        all
    }

    fn position(o: &[Chan], ch: Chan) -> usize {
        o.iter().position(|&c| c == ch).unwrap()
    }

    #[test]
    fn main_and_four_multifd_in_every_order_then_preempt() {
        let orders: Vec<_> = permutations(&everything())
            .into_iter()
            .filter(|o| o.last() == Some(&Chan::Preempt))
            .collect();
        assert!(cfg!(miri) || orders.len() == 120, "{} orders", orders.len());
        for o in &orders {
            run(with_preempt(F, true, false, MULTIFD), o);
            // pre-7-2 sources may also connect preempt last
            run(with_preempt(F, true, true, MULTIFD), o);
        }
    }

    #[test]
    fn pre_7_2_preempt_anywhere_after_main_is_parked_never_read() {
        let orders: Vec<_> = permutations(&everything())
            .into_iter()
            .filter(|o| position(o, Chan::Main) < position(o, Chan::Preempt))
            .collect();
        assert!(cfg!(miri) || orders.len() == 360, "{} orders", orders.len());
        for o in &orders {
            run(with_preempt(F, true, true, MULTIFD), o);
        }
    }

    #[test]
    fn tls_main_first_then_multifd_then_preempt() {
        let mut rest = multifd_channels();
        let orders: Vec<_> = prefixed(Chan::Main, &rest)
            .into_iter()
            .map(|mut o| {
                o.push(Chan::Preempt);
                o
            })
            .collect();
        assert!(cfg!(miri) || orders.len() == 24, "{} orders", orders.len());
        for o in &orders {
            run(with_preempt(F, false, false, MULTIFD), o);
        }
        // pre-7-2 over TLS: preempt anywhere after main
        rest.push(Chan::Preempt);
        let orders = prefixed(Chan::Main, &rest);
        assert!(cfg!(miri) || orders.len() == 120, "{} orders", orders.len());
        for o in &orders {
            run(with_preempt(F, false, true, MULTIFD), o);
        }
    }

    #[test]
    fn main_and_multifd_without_preempt_in_every_order() {
        let mut all = multifd_channels();
        all.push(Chan::Main);
        for o in &permutations(&all) {
            run(with_multifd(F, true), o);
        }
    }

    #[test]
    fn postcopy_recovery_reconnects_main_then_preempt() {
        for peekable in [true, false] {
            let cfg = with_preempt(F, peekable, false, MULTIFD);
            let mut c = Classifier::new(cfg).unwrap();
            let mut order = vec![Chan::Main];
            order.extend(multifd_channels());
            for ch in order {
                let d = c.classify(&ch.bytes()).unwrap();
                assert!(ch.is(d));
            }
            assert_eq!(c.classify(&[]).unwrap(), Decision::Preempt);
            c.begin_recovery().unwrap();
            // a resumed main starts with RECV_BITMAP commands, not QEVM
            assert_eq!(
                c.classify(&[0x08, 0x00, 0x0a, 0x00, 0x07, 0x06, b'p', b'c'])
                    .unwrap(),
                Decision::Main
            );
            assert_eq!(c.bytes_needed(), 0);
            assert_eq!(c.classify(&[]).unwrap(), Decision::Preempt);
            assert!(c.is_complete());
        }
    }
}
