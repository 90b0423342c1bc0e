//! Exhaustive negotiation check.
//!
//! Every combination below runs through the real `Source` and `Destination`
//! (bytes on a faithful in-memory link, channels pipelined before Welcome,
//! approvals, the ack and SwitchoverStart), and must end on both sides with
//! the same verdict within a bounded number of steps. That verdict must equal
//! [`oracle`], a reference written here from the rules of docs/PROTOCOL.md
//! (§2 versions, §6.1 catalog and local validation, §6.2 capabilities, §6.3
//! devices, §6.4 order, §7.3 channel set) without calling
//! `accord_core::caps::negotiate` or any other part of the core's logic.
//!
//! The sets:
//! 1. capabilities: the six catalog entries 1..=6 (which carry every
//!    dependency edge of §6.1), each absent, optional or required on each
//!    side: 3^12 = 531441 pairs of offers, with a fixed pair of devices;
//! 2. devices: three devices, each absent / present without ack / present
//!    wanting the ack on the source and absent / present without support /
//!    present with support on the destination: 9^3 = 729 combinations, with
//!    the destination registering them in the same and in reverse order,
//!    under six capability configurations;
//! 3. versions: overlapping and disjoint ranges, each pair with every device
//!    combination under two capability configurations.
//!
//! Under Miri the sets are sampled (every 29989th capability pair, every
//! 2999th device combination, every 5999th version case: 27 handshakes,
//! about 40 s): the point there is undefined behaviour, not coverage, and the
//! full sets would take days in the interpreter.
use accord_core::wire::preamble;
use accord_core::*;

const NONCE: [u8; 16] = *b"exhaustive-nonce";
const T0: Instant = Instant(1_000);
/// Bound on the driver's rounds: a faithful handshake needs about 6.
const MAX_STEPS: usize = 24;

// ---------------------------------------------------------------------------
// The reference oracle, from docs/PROTOCOL.md alone.
// ---------------------------------------------------------------------------

/// A side's attitude to one capability.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum L {
    Absent,
    Optional,
    Required,
}
const LEVELS: [L; 3] = [L::Absent, L::Optional, L::Required];

/// The six capabilities under test: §6.1 ids 1..=6.
const IDS: [u16; 6] = [1, 2, 3, 4, 5, 6];
const RETURN_PATH: usize = 0;
const MULTIFD: usize = 1;
const POSTCOPY_PREEMPT: usize = 3;
const SWITCHOVER_ACK: usize = 4;

/// §6.1 "needs" column, as (index of the capability, index of what it needs).
fn needs(k: usize) -> Option<usize> {
    match IDS[k] {
        4 => Some(2), // postcopy-preempt needs postcopy-ram
        5 => Some(0), // switchover-ack needs return-path
        6 => Some(1), // zero-copy-send needs multifd
        _ => None,
    }
}

/// Channel counts offered for multifd: the source more than the destination,
/// so the agreed count (the smaller) refuses one pipelined channel.
const SRC_MULTIFD: u16 = 3;
const DST_MULTIFD: u16 = 2;

fn param(k: usize, source: bool) -> u16 {
    match (k, source) {
        (MULTIFD, true) => SRC_MULTIFD,
        (MULTIFD, false) => DST_MULTIFD,
        _ => 0,
    }
}

/// (name, instance, wants_ack or supports_ack), in Hello or registration order.
type Devices = Vec<(&'static str, u32, bool)>;

#[derive(Clone, Debug)]
struct Scenario {
    src_caps: [L; 6],
    dst_caps: [L; 6],
    /// The range the source's preamble carries.
    src_versions: VersionRange,
    dst_versions: VersionRange,
    /// Hello order: (name, instance, wants_ack).
    src_devs: Devices,
    /// Registration order: (name, instance, supports_ack).
    dst_devs: Devices,
}

/// What a combination must end in.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Verdict {
    /// A configuration refused by `new` before anything is sent (§6.1, last paragraph).
    LocalRefused {
        source: Option<Error>,
        destination: Option<Error>,
    },
    /// Both sides failed with this error.
    Failed(Error),
    /// Both sides switched over with this agreement.
    Agreed {
        version: u8,
        /// (id, parameter) of every capability that is on, ids ascending.
        enabled: Vec<(u16, u16)>,
        /// Per Hello device: takes part in switchover-ack.
        participating: Vec<bool>,
        /// The negotiated channel set (multifd count, preempt).
        channels: (u16, bool),
        /// Pipelined channels refused at Welcome, with the code.
        refused: Vec<(ChannelId, ErrorCode)>,
    },
}

fn cap(k: usize) -> CapabilityId {
    CapabilityId(IDS[k])
}

fn device(name: &str, instance: u32) -> Detail {
    Detail::Device(DeviceName {
        name: accord_core::name(name).unwrap(),
        instance,
    })
}

/// §6.1: a side that requires a capability without offering what it needs
/// is refused before anything is sent; the first such capability is named.
fn local_check(levels: &[L; 6]) -> Option<Error> {
    (0..6).find_map(|k| {
        let n = needs(k)?;
        (levels[k] == L::Required && levels[n] == L::Absent).then(|| {
            Error::with(
                ErrorCode::InvalidOffer,
                Detail::Dependency {
                    capability: cap(k),
                    needs: cap(n),
                },
            )
        })
    })
}

fn oracle(sc: &Scenario) -> Verdict {
    let (ls, ld) = (local_check(&sc.src_caps), local_check(&sc.dst_caps));
    if ls.is_some() || ld.is_some() {
        return Verdict::LocalRefused {
            source: ls,
            destination: ld,
        };
    }
    let fail = |code, detail| Verdict::Failed(Error::with(code, detail));
    // §2: the highest version in both ranges.
    let (s, d) = (sc.src_versions, sc.dst_versions);
    let lo = s.min.max(d.min);
    let hi = s.max.min(d.max);
    if lo > hi {
        return fail(
            ErrorCode::NoCommonVersion,
            Detail::Versions {
                source: s,
                destination: d,
            },
        );
    }
    // §6.2 step 1: ascending ids; both offer: on; required on one side only: fail.
    let mut on = [false; 6];
    for (k, on_k) in on.iter_mut().enumerate() {
        match (sc.src_caps[k], sc.dst_caps[k]) {
            (L::Required, L::Absent) => {
                return fail(
                    ErrorCode::CapabilityMissingOnDestination,
                    Detail::Capability(cap(k)),
                )
            }
            (L::Absent, L::Required) => {
                return fail(
                    ErrorCode::CapabilityMissingOnSource,
                    Detail::Capability(cap(k)),
                )
            }
            (L::Absent, _) | (_, L::Absent) => {}
            _ => *on_k = true,
        }
    }
    // §6.2 step 2: a capability on whose dependency is off fails if either
    // side required it, and is switched off otherwise; repeat.
    while let Some(k) = (0..6).find(|&k| on[k] && needs(k).is_some_and(|n| !on[n])) {
        if sc.src_caps[k] == L::Required || sc.dst_caps[k] == L::Required {
            return fail(
                ErrorCode::CapabilityDependency,
                Detail::Dependency {
                    capability: cap(k),
                    needs: cap(needs(k).unwrap()),
                },
            );
        }
        on[k] = false;
    }
    // §6.3, in Hello order: missing on the destination, then unsupported.
    let ack_on = on[SWITCHOVER_ACK];
    for &(name, inst, wants) in &sc.src_devs {
        let Some(&(_, _, supports)) = sc
            .dst_devs
            .iter()
            .find(|&&(n, i, _)| n == name && i == inst)
        else {
            return fail(ErrorCode::DeviceMissingOnDestination, device(name, inst));
        };
        if ack_on && wants && !supports {
            return fail(ErrorCode::DeviceUnsupported, device(name, inst));
        }
    }
    // Then, in registration order, devices the source did not list.
    for &(name, inst, _) in &sc.dst_devs {
        if !sc.src_devs.iter().any(|&(n, i, _)| n == name && i == inst) {
            return fail(ErrorCode::DeviceMissingOnSource, device(name, inst));
        }
    }
    let participating = sc
        .src_devs
        .iter()
        .map(|&(name, inst, wants)| {
            let supports = sc
                .dst_devs
                .iter()
                .any(|&(n, i, s)| n == name && i == inst && s);
            ack_on && wants && supports
        })
        .collect();
    let enabled = (0..6)
        .filter(|&k| on[k])
        .map(|k| (IDS[k], param(k, true).min(param(k, false))))
        .collect();
    // §7.3: the set is multifd 0..agreed and preempt 0 when on. Channels the
    // source opened before Welcome (its offered count) are checked then:
    // role not negotiated, or index beyond the agreed count.
    let multifd = if on[MULTIFD] {
        SRC_MULTIFD.min(DST_MULTIFD)
    } else {
        0
    };
    let preempt = on[POSTCOPY_PREEMPT];
    let mut refused = Vec::new();
    if sc.src_caps[MULTIFD] != L::Absent {
        for index in 0..SRC_MULTIFD {
            let id = ChannelId {
                role: Role::Multifd,
                index,
            };
            if !on[MULTIFD] {
                refused.push((id, ErrorCode::RoleNotNegotiated));
            } else if index >= multifd {
                refused.push((id, ErrorCode::ChannelIndexOutOfRange));
            }
        }
    }
    if sc.src_caps[POSTCOPY_PREEMPT] != L::Absent && !preempt {
        let id = ChannelId {
            role: Role::Preempt,
            index: 0,
        };
        refused.push((id, ErrorCode::RoleNotNegotiated));
    }
    Verdict::Agreed {
        version: hi,
        enabled,
        participating,
        channels: (multifd, preempt),
        refused,
    }
}

// ---------------------------------------------------------------------------
// The real state machines.
// ---------------------------------------------------------------------------

fn offer(levels: &[L; 6], source: bool) -> Offer {
    let mut o = Offer::new();
    for (k, &l) in levels.iter().enumerate() {
        let level = match l {
            L::Absent => continue,
            L::Optional => Level::Optional,
            L::Required => Level::Required,
        };
        o.set(cap(k), level, param(k, source)).unwrap();
    }
    o
}

fn terminal_s(s: &Source) -> bool {
    matches!(s.state(), SourceState::SwitchedOver | SourceState::Failed)
}

fn terminal_d(d: &Destination) -> bool {
    matches!(
        d.state(),
        DestinationState::SwitchedOver | DestinationState::Failed
    )
}

/// Drive one combination to its end and read the verdict off both sides.
fn run(sc: &Scenario) -> Verdict {
    // A range without version 1 cannot be configured in this build (it speaks
    // only 1); it stands for a future source and is put on the wire instead.
    let speaks_1 = sc.src_versions.min == 1;
    let scfg = SourceConfig {
        versions: if speaks_1 {
            sc.src_versions
        } else {
            VersionRange::new(1, 1)
        },
        capabilities: offer(&sc.src_caps, true),
        ..SourceConfig::default()
    };
    let dcfg = DestinationConfig {
        versions: sc.dst_versions,
        capabilities: offer(&sc.dst_caps, false),
        ..DestinationConfig::default()
    };
    let (s, d) = (Source::new(scfg, NONCE), Destination::new(dcfg, T0));
    let (mut s, mut d) = match (s, d) {
        (Ok(s), Ok(d)) => (s, d),
        (s, d) => {
            return Verdict::LocalRefused {
                source: s.err(),
                destination: d.err(),
            }
        }
    };
    for &(name, inst, wants) in &sc.src_devs {
        s.add_device(name, inst, wants).unwrap();
    }
    for &(name, inst, supports) in &sc.dst_devs {
        d.register_device(name, inst, supports).unwrap();
    }
    s.start(T0).unwrap();
    // Pipelining: every planned channel opens before Welcome and is held.
    let early: Vec<ChannelId> = s.channels().collect();
    for &id in &early {
        let bytes = s.channel_preamble(id).unwrap().to_bytes();
        let p = Preamble::decode(&bytes).unwrap().unwrap();
        let a = d.accept_channel(T0, &p).unwrap();
        assert_eq!(a, channels::Assignment::Held(id));
    }
    let mut buf = [0u8; 2048];
    let mut first = true;
    let mut approved = false;
    let mut refused = Vec::new();
    let mut assigned = Vec::new();
    let mut steps = 0;
    loop {
        steps += 1;
        assert!(steps <= MAX_STEPS, "no end after {MAX_STEPS} steps: {sc:?}");
        let now = T0;
        let n = s.poll_transmit(now, &mut buf).unwrap();
        if n > 0 {
            if first && !speaks_1 {
                buf[4] = sc.src_versions.min;
                buf[5] = sc.src_versions.max;
            }
            first = false;
            if d.state() != DestinationState::Failed {
                match d.handle_input(now, &buf[..n]) {
                    // Refused at the preamble (no common version): the Hello
                    // after it is not read, maybe not readable.
                    Ok(used) if d.rejected() => assert!(used <= n),
                    Ok(used) => {
                        assert_eq!(used, n, "the destination leaves whole frames: {sc:?}")
                    }
                    Err(_) => {}
                }
            }
        }
        let m = d.poll_transmit(now, &mut buf).unwrap();
        if m > 0 && s.state() != SourceState::Failed {
            if let Ok(used) = s.handle_input(now, &buf[..m]) {
                assert_eq!(used, m, "the source leaves whole frames: {sc:?}");
            }
        }
        while let Some(e) = d.poll_event() {
            match e {
                Event::ChannelAssigned(id) => assigned.push(id),
                Event::ChannelRefused { channel, code } => refused.push((channel, code)),
                _ => {}
            }
        }
        while s.poll_event().is_some() {}
        if d.state() == DestinationState::Precopy && !approved {
            approved = true;
            for i in 0..d.devices().len() {
                let id = DeviceId(i as u16);
                if d.participates(id) {
                    d.approve(now, id).unwrap();
                }
            }
        }
        if s.can_switchover() {
            s.start_switchover(now).unwrap();
            continue;
        }
        if n == 0 && m == 0 {
            if terminal_s(&s) && terminal_d(&d) {
                break;
            }
            panic!(
                "stuck: source {:?}, destination {:?}: {sc:?}",
                s.state(),
                d.state()
            );
        }
    }
    match (s.state(), d.state()) {
        (SourceState::SwitchedOver, DestinationState::SwitchedOver) => {
            assert_eq!(s.version(), d.version());
            assert_eq!(s.agreed(), d.agreed());
            let participating: Vec<bool> = (0..s.devices().len())
                .map(|i| {
                    let id = DeviceId(i as u16);
                    let dev = &s.devices().get(id).unwrap().name;
                    let did = d.devices().find(&dev.name, dev.instance).unwrap();
                    assert_eq!(s.participates(id), d.participates(did), "{sc:?}");
                    s.participates(id)
                })
                .collect();
            let set = d.channels().expected().unwrap();
            assert_eq!(set, s.expected_channels());
            assert!(d.channels().is_complete());
            let mut want: Vec<ChannelId> = d.channels().iter_expected().collect();
            assigned.sort();
            want.sort();
            assert_eq!(assigned, want, "{sc:?}");
            Verdict::Agreed {
                version: s.version(),
                enabled: s
                    .agreed()
                    .entries()
                    .iter()
                    .map(|e| (e.id.0, e.param))
                    .collect(),
                participating,
                channels: (set.multifd, set.preempt),
                refused,
            }
        }
        (SourceState::Failed, DestinationState::Failed) => {
            let e = s.error().cloned().unwrap();
            assert_eq!(Some(&e), d.error(), "both sides, same verdict: {sc:?}");
            Verdict::Failed(e)
        }
        (a, b) => panic!("sides disagree: source {a:?}, destination {b:?}: {sc:?}"),
    }
}

fn check(sc: &Scenario) -> Verdict {
    let want = oracle(sc);
    let got = run(sc);
    assert_eq!(got, want, "{sc:?}");
    got
}

/// Under Miri, only every `n`th combination (see the module doc).
fn sampled(i: usize, n: usize) -> bool {
    !cfg!(miri) || i.is_multiple_of(n)
}

/// Tallies per verdict kind, printed so the test log shows the coverage.
#[derive(Default, Debug)]
struct Tally {
    combinations: usize,
    local_refused: usize,
    failed: std::collections::BTreeMap<u16, usize>,
    agreed: usize,
}

impl Tally {
    fn add(&mut self, v: &Verdict) {
        self.combinations += 1;
        match v {
            Verdict::LocalRefused { .. } => self.local_refused += 1,
            Verdict::Failed(e) => *self.failed.entry(e.code.as_u16()).or_default() += 1,
            Verdict::Agreed { .. } => self.agreed += 1,
        }
    }
}

/// Print a tally and leave it where scripts/test.sh shows it after the run
/// (target/tmp; not under Miri, whose isolation forbids the file).
fn report(name: &str, text: &str) {
    println!("{text}");
    if !cfg!(miri) {
        let path = format!("{}/accord-{name}.txt", env!("CARGO_TARGET_TMPDIR"));
        let _ = std::fs::write(path, format!("{text}\n"));
    }
}

fn levels(mut i: usize) -> [L; 6] {
    let mut out = [L::Absent; 6];
    for o in out.iter_mut() {
        *o = LEVELS[i % 3];
        i /= 3;
    }
    out
}

const V1: VersionRange = VersionRange { min: 1, max: 1 };

fn two_devices() -> (Devices, Devices) {
    (
        vec![("ram", 0, false), ("0000:00:02.0/vfio", 0, true)],
        vec![("ram", 0, false), ("0000:00:02.0/vfio", 0, true)],
    )
}

#[test]
#[cfg_attr(
    miri,
    ignore = "531441 handshakes; sampled_capability_product runs under Miri"
)]
fn every_capability_level_pair_for_six_capabilities() {
    let t = capability_product(false);
    assert_eq!(t.combinations, 531_441);
}

#[test]
#[cfg_attr(not(miri), ignore = "the full product runs outside Miri")]
fn sampled_capability_product() {
    capability_product(true);
}

fn capability_product(sample: bool) -> Tally {
    let (src_devs, dst_devs) = two_devices();
    let mut t = Tally::default();
    // Under Miri, step over the product: even an empty loop over 531441
    // combinations takes minutes in the interpreter.
    for i in (0..729 * 729usize).step_by(if sample { 29989 } else { 1 }) {
        let sc = Scenario {
            src_caps: levels(i % 729),
            dst_caps: levels(i / 729),
            src_versions: V1,
            dst_versions: V1,
            src_devs: src_devs.clone(),
            dst_devs: dst_devs.clone(),
        };
        t.add(&check(&sc));
    }
    if !sample {
        report(
            "exhaustive-capabilities",
            &format!("exhaustive, capability levels x 2 sides (3^12): {t:?}"),
        );
    }
    // Every outcome of §6 occurs in the product.
    assert!(t.agreed > 0 && t.local_refused > 0);
    if !sample {
        for code in [202, 203, 204] {
            assert!(
                t.failed.contains_key(&code),
                "no combination ends in {code}"
            );
        }
    }
    t
}

/// The 9^3 device combinations: per device (source, destination), each of
/// source {absent, present, present wanting the ack} × destination {absent,
/// present, present supporting the ack}.
fn device_combo(mut i: usize, reverse: bool) -> (Devices, Devices) {
    const NAMES: [&str; 3] = ["ram", "0000:00:02.0/vfio", "virtio-net"];
    let (mut src, mut dst) = (Vec::new(), Vec::new());
    for (k, name) in NAMES.iter().enumerate() {
        let (a, b) = (i % 3, (i / 3) % 3);
        i /= 9;
        let inst = k as u32;
        if a > 0 {
            src.push((*name, inst, a == 2));
        }
        if b > 0 {
            dst.push((*name, inst, b == 2));
        }
    }
    if reverse {
        dst.reverse();
    }
    (src, dst)
}

/// Six capability configurations for the device product: switchover-ack
/// required by the source, optional on both, missing on the destination,
/// not offered by the source, dropped for a missing dependency, and
/// required by the destination only.
fn device_cap_configs() -> Vec<([L; 6], [L; 6])> {
    use L::*;
    let all_opt = [Optional; 6];
    vec![
        (
            [Required, Absent, Absent, Absent, Required, Absent],
            all_opt,
        ),
        (
            [Optional, Absent, Absent, Absent, Optional, Absent],
            all_opt,
        ),
        (
            [Required, Absent, Absent, Absent, Optional, Absent],
            [Optional, Optional, Optional, Optional, Absent, Optional],
        ),
        (
            [Required, Required, Absent, Absent, Absent, Absent],
            all_opt,
        ),
        (
            [Absent, Absent, Absent, Absent, Optional, Absent],
            [Absent, Optional, Optional, Optional, Optional, Optional],
        ),
        (
            [Optional, Absent, Absent, Absent, Optional, Absent],
            [Required, Optional, Optional, Optional, Required, Optional],
        ),
    ]
}

#[test]
fn every_device_support_combination_for_three_devices() {
    let mut t = Tally::default();
    let mut i = 0;
    for (src_caps, dst_caps) in device_cap_configs() {
        for combo in 0..729 {
            for reverse in [false, true] {
                i += 1;
                if !sampled(i, 2999) {
                    continue;
                }
                let (src_devs, dst_devs) = device_combo(combo, reverse);
                let sc = Scenario {
                    src_caps,
                    dst_caps,
                    src_versions: V1,
                    dst_versions: V1,
                    src_devs,
                    dst_devs,
                };
                t.add(&check(&sc));
            }
        }
    }
    report(
        "exhaustive-devices",
        &format!("exhaustive, 3 devices x 9 support pairs x 2 orders x 6 configs: {t:?}"),
    );
    if !cfg!(miri) {
        assert_eq!(t.combinations, 6 * 729 * 2);
        for code in [206, 207, 208] {
            assert!(
                t.failed.contains_key(&code),
                "no combination ends in {code}"
            );
        }
    }
}

/// Source ranges: those containing 1 are configured; the others stand for a
/// future source and go on the wire only (this build cannot be configured
/// without version 1), so they are paired only with destinations they do
/// not overlap: an overlapping pair would need a source that speaks them.
const SRC_RANGES: [(u8, u8); 8] = [
    (1, 1),
    (1, 2),
    (1, 254),
    (2, 2),
    (2, 3),
    (3, 254),
    (254, 254),
    (100, 200),
];
const DST_RANGES: [(u8, u8); 4] = [(1, 1), (1, 2), (1, 3), (1, 254)];

#[test]
fn overlapping_and_disjoint_version_ranges_with_every_device_combination() {
    use L::*;
    let cap_configs = [
        (
            [Required, Absent, Absent, Absent, Required, Absent],
            [Optional; 6],
        ),
        (
            [Optional, Required, Absent, Absent, Absent, Absent],
            [Optional; 6],
        ),
    ];
    let mut t = Tally::default();
    let (mut overlapping, mut disjoint) = (0, 0);
    let mut i = 0;
    for (smin, smax) in SRC_RANGES {
        for (dmin, dmax) in DST_RANGES {
            let (s, d) = (VersionRange::new(smin, smax), VersionRange::new(dmin, dmax));
            let overlaps = s.min.max(d.min) <= s.max.min(d.max);
            if smin != 1 && overlaps {
                continue;
            }
            if overlaps {
                overlapping += 1;
            } else {
                disjoint += 1;
            }
            for (src_caps, dst_caps) in cap_configs {
                for combo in 0..729 {
                    i += 1;
                    if !sampled(i, 5999) {
                        continue;
                    }
                    let (src_devs, dst_devs) = device_combo(combo, false);
                    let sc = Scenario {
                        src_caps,
                        dst_caps,
                        src_versions: s,
                        dst_versions: d,
                        src_devs,
                        dst_devs,
                    };
                    let v = check(&sc);
                    if let Verdict::Agreed { version, .. } = v {
                        assert_eq!(version, smax.min(dmax));
                    }
                    t.add(&v);
                }
            }
        }
    }
    report(
        "exhaustive-versions",
        &format!(
            "exhaustive, {overlapping} overlapping + {disjoint} disjoint version pairs x 729 devices x 2 configs: {t:?}"
        ),
    );
    assert!(overlapping >= 10 && disjoint >= 10);
    assert!(t.failed.contains_key(&201));
}

/// The oracle itself, on the spec's own examples, so a wrong oracle cannot
/// agree with a wrong implementation unnoticed.
#[test]
fn the_oracle_reproduces_the_specs_examples() {
    use L::*;
    let (src_devs, dst_devs) = two_devices();
    let base = Scenario {
        src_caps: [Required, Required, Absent, Absent, Required, Absent],
        dst_caps: [Optional; 6],
        src_versions: V1,
        dst_versions: V1,
        src_devs,
        dst_devs,
    };
    // §5.3: return-path, multifd (the smaller count), switchover-ack; vfio takes part.
    match oracle(&base) {
        Verdict::Agreed {
            enabled,
            participating,
            ..
        } => {
            assert_eq!(enabled, [(1, 0), (2, DST_MULTIFD), (5, 0)]);
            assert_eq!(participating, [false, true]);
        }
        v => panic!("{v:?}"),
    }
    // §5.4: switchover-ack required by the source, missing on the destination.
    let mut sc = base.clone();
    sc.dst_caps[SWITCHOVER_ACK] = Absent;
    assert_eq!(
        oracle(&sc),
        Verdict::Failed(Error::with(
            ErrorCode::CapabilityMissingOnDestination,
            Detail::Capability(CapabilityId(5))
        ))
    );
    // §5.4: no common version, source 1..=1, destination 2..=3.
    let mut sc = base.clone();
    sc.dst_versions = VersionRange::new(2, 3);
    assert!(matches!(oracle(&sc), Verdict::Failed(e) if e.code == ErrorCode::NoCommonVersion));
    // §6.1: required switchover-ack without return-path is refused locally.
    let mut sc = base.clone();
    sc.src_caps[RETURN_PATH] = Absent;
    assert!(matches!(
        oracle(&sc),
        Verdict::LocalRefused {
            source: Some(_),
            destination: None
        }
    ));
    // Seed 000: the destination supports the ack for a device the source does not want it for.
    let mut sc = base.clone();
    sc.src_devs[1].2 = false;
    assert!(
        matches!(oracle(&sc), Verdict::Agreed { participating, .. } if participating == [false, false])
    );
    // The preamble is 28 bytes (§3), which the wire injection above relies on.
    assert_eq!(preamble::LEN, 28);
}
