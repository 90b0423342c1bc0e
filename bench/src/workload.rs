//! The measured workloads, built once per size: the same Hello and Welcome
//! information in accord's form, the C baseline's structs and the JSON
//! baseline's structs, plus the codec routines each benchmark calls.

use accord_core::caps::negotiate;
use accord_core::wire::frame::{self, FrameType};
use accord_core::wire::msg::{DeviceOffer, Hello, Welcome};
use accord_core::{Agreed, CapabilityId, DestinationConfig, Level, Offer};

use crate::cbase::{self, QsCap, QsDevice, QsEnabled, QsHello, QsWelcome};
use crate::json::{CapJson, DeviceJson, EnabledJson, HelloJson, WelcomeJson};

/// Multifd channels of the measured migration.
pub const MULTIFD: u16 = 16;

/// A realistic device idstr of QEMU's shape for device `i`: a PCI address
/// and the device's vmstate name, 24 bytes ("0000:00:1f.2/vfio-pci-00").
pub fn device_name(i: usize) -> String {
    format!("0000:{:02x}:1f.2/vfio-pci-{:02}", i % 256, i % 100)
}

/// The source's offer: return-path, multifd (16), postcopy-ram,
/// postcopy-preempt, switchover-ack, all required.
pub fn source_offer() -> Offer {
    let mut o = Offer::new();
    for (id, param) in [
        (CapabilityId::RETURN_PATH, 0),
        (CapabilityId::MULTIFD, MULTIFD),
        (CapabilityId::POSTCOPY_RAM, 0),
        (CapabilityId::POSTCOPY_PREEMPT, 0),
        (CapabilityId::SWITCHOVER_ACK, 0),
    ] {
        o.set(id, Level::Required, param)
            .expect("catalog capability with a valid parameter");
    }
    o
}

/// One device as the workloads list it: every device wants switchover-ack.
#[derive(Clone, Debug)]
pub struct Dev {
    /// idstr.
    pub name: String,
    /// Instance id.
    pub instance: u32,
    /// Wants switchover-ack.
    pub wants_ack: bool,
}

/// `n` realistic devices, all wanting switchover-ack.
pub fn devices(n: usize) -> Vec<Dev> {
    (0..n)
        .map(|i| Dev {
            name: device_name(i),
            instance: 0,
            wants_ack: true,
        })
        .collect()
}

/// The Hello and Welcome information for `n` devices, in every form.
pub struct Codec {
    /// Number of devices.
    pub n: usize,
    /// The source's offer.
    pub offer: Offer,
    /// The devices.
    pub devices: Vec<Dev>,
    /// The destination's offer (its default policy).
    pub dst_offer: Offer,
    /// The agreement.
    pub agreed: Agreed,
    /// One verdict per device.
    pub verdicts: Vec<bool>,
    /// C baseline input.
    pub c_hello: Box<QsHello>,
    /// C baseline input.
    pub c_welcome: Box<QsWelcome>,
    /// accord's encoded Hello frame (for the memcpy floor and decode checks).
    pub hello_bytes: Vec<u8>,
    /// accord's encoded Welcome frame.
    pub welcome_bytes: Vec<u8>,
}

fn qs_caps(o: &Offer) -> ([QsCap; cbase::MAX_CAPS], u8) {
    let mut caps = [QsCap::default(); cbase::MAX_CAPS];
    for (c, e) in caps.iter_mut().zip(o.entries()) {
        *c = QsCap {
            id: e.id.0,
            required: u8::from(e.required),
            param: e.param,
        };
    }
    (caps, o.entries().len() as u8)
}

impl Codec {
    /// The workload for `n` devices.
    pub fn new(n: usize) -> Self {
        let offer = source_offer();
        let devices = devices(n);
        let dst_offer = DestinationConfig::default().capabilities;
        let agreed = negotiate(&offer, &dst_offer).expect("the offers agree");
        let verdicts = vec![true; n];
        let mut c_hello = Box::<QsHello>::default();
        (c_hello.caps, c_hello.ncaps) = qs_caps(&offer);
        c_hello.ndevices = n as u32;
        for (c, d) in c_hello.devices.iter_mut().zip(&devices) {
            *c = QsDevice::new(&d.name, d.instance, d.wants_ack).expect("name fits");
        }
        let mut c_welcome = Box::<QsWelcome>::default();
        c_welcome.version = 1;
        (c_welcome.caps, c_welcome.ncaps) = qs_caps(&dst_offer);
        c_welcome.nenabled = agreed.entries().len() as u8;
        for (c, e) in c_welcome.enabled.iter_mut().zip(agreed.entries()) {
            *c = QsEnabled {
                id: e.id.0,
                param: e.param,
            };
        }
        c_welcome.nverdicts = n as u32;
        for (c, v) in c_welcome.verdicts.iter_mut().zip(&verdicts) {
            *c = u8::from(*v);
        }
        let mut w = Codec {
            n,
            offer,
            devices,
            dst_offer,
            agreed,
            verdicts,
            c_hello,
            c_welcome,
            hello_bytes: Vec::new(),
            welcome_bytes: Vec::new(),
        };
        let mut buf = vec![0u8; 4096];
        let len = w.accord_hello_encode(&mut buf);
        w.hello_bytes = buf[..len].to_vec();
        let len = w.accord_welcome_encode(&mut buf);
        w.welcome_bytes = buf[..len].to_vec();
        w
    }

    /// accord: write the Hello frame into `out`.
    #[inline]
    pub fn accord_hello_encode(&self, out: &mut [u8]) -> usize {
        let devices = self.devices.iter().map(|d| DeviceOffer {
            name: &d.name,
            instance: d.instance,
            wants_ack: d.wants_ack,
        });
        frame::write(out, FrameType::Hello, |o| {
            Hello::encode(o, &self.offer, devices)
        })
        .expect("Hello fits")
    }

    /// accord: split and decode a Hello frame, then read every field of every
    /// device (accord decodes the device list lazily, so reading it is part
    /// of decoding). Returns a checksum of what was read.
    #[inline]
    pub fn accord_hello_decode(buf: &[u8]) -> usize {
        let f = frame::split(buf).expect("valid").expect("complete");
        let h = Hello::decode(f.payload).expect("valid Hello");
        let mut sum = h.offer.entries().len();
        for d in h.devices.devices() {
            let d = d.expect("checked by decode");
            sum += d.name.len() + d.instance as usize + usize::from(d.wants_ack);
        }
        sum
    }

    /// accord: write the Welcome frame into `out`.
    #[inline]
    pub fn accord_welcome_encode(&self, out: &mut [u8]) -> usize {
        frame::write(out, FrameType::Welcome, |o| {
            Welcome::encode(
                o,
                1,
                &self.dst_offer,
                &self.agreed,
                self.verdicts.iter().copied(),
            )
        })
        .expect("Welcome fits")
    }

    /// accord: split and decode a Welcome frame and read every verdict.
    #[inline]
    pub fn accord_welcome_decode(buf: &[u8]) -> usize {
        let f = frame::split(buf).expect("valid").expect("complete");
        let w = Welcome::decode(f.payload).expect("valid Welcome");
        let mut sum = usize::from(w.version) + w.offer.entries().len() + w.agreed.entries().len();
        for v in w.verdicts.bools() {
            sum += usize::from(v.expect("checked by decode"));
        }
        sum
    }

    /// C: encode the Hello command, decode it into `out` and read every
    /// field of every device, as the accord routine does.
    #[inline]
    pub fn c_hello_round(&self, buf: &mut [u8], out: &mut QsHello) -> usize {
        let len = cbase::hello_encode(&self.c_hello, buf).expect("fits");
        let buf = core::hint::black_box(&buf[..len]);
        cbase::hello_decode(buf, out).expect("valid");
        let mut sum = usize::from(out.ncaps);
        for d in out.devices.iter().take(out.ndevices as usize) {
            sum += usize::from(d.name_len) + d.instance as usize + usize::from(d.wants_ack);
        }
        sum
    }

    /// C: encode the Welcome command, decode it and read every verdict.
    #[inline]
    pub fn c_welcome_round(&self, buf: &mut [u8], out: &mut QsWelcome) -> usize {
        let len = cbase::welcome_encode(&self.c_welcome, buf).expect("fits");
        let buf = core::hint::black_box(&buf[..len]);
        cbase::welcome_decode(buf, out).expect("valid");
        let mut sum = usize::from(out.version) + usize::from(out.ncaps) + usize::from(out.nenabled);
        for v in out.verdicts.iter().take(out.nverdicts as usize) {
            sum += usize::from(*v);
        }
        sum
    }

    /// The JSON baseline's Hello (borrowing the names: the kindest form for JSON).
    pub fn json_hello(&self) -> HelloJson<'_> {
        HelloJson {
            caps: self
                .offer
                .entries()
                .iter()
                .map(|e| CapJson {
                    id: e.id.0,
                    required: e.required,
                    param: e.param,
                })
                .collect(),
            devices: self
                .devices
                .iter()
                .map(|d| DeviceJson {
                    name: &d.name,
                    instance: d.instance,
                    wants_ack: d.wants_ack,
                })
                .collect(),
        }
    }

    /// The JSON baseline's Welcome.
    pub fn json_welcome(&self) -> WelcomeJson {
        WelcomeJson {
            version: 1,
            caps: self
                .dst_offer
                .entries()
                .iter()
                .map(|e| CapJson {
                    id: e.id.0,
                    required: e.required,
                    param: e.param,
                })
                .collect(),
            enabled: self
                .agreed
                .entries()
                .iter()
                .map(|e| EnabledJson {
                    id: e.id.0,
                    param: e.param,
                })
                .collect(),
            verdicts: self.verdicts.clone(),
        }
    }
}

/// Copy `src` into `mid` and back into `out`: the bytes moved by an encode
/// and a decode that do nothing else. `black_box` keeps both copies.
#[inline]
pub fn memcpy_round(src: &[u8], mid: &mut [u8], out: &mut [u8]) -> usize {
    let n = src.len();
    mid[..n].copy_from_slice(src);
    let mid = core::hint::black_box(&mid[..n]);
    out[..n].copy_from_slice(mid);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every baseline carries the same information as accord: encode each,
    /// decode it, and compare with the source data.
    #[test]
    fn baselines_carry_the_same_information() {
        for n in [1, 8, 32] {
            let w = Codec::new(n);
            assert_eq!(device_name(31).len(), 24);
            // accord round trip.
            let sum = Codec::accord_hello_decode(&w.hello_bytes);
            let want: usize = w.offer.entries().len()
                + w.devices
                    .iter()
                    .map(|d| d.name.len() + d.instance as usize + 1)
                    .sum::<usize>();
            assert_eq!(sum, want);
            assert_eq!(
                Codec::accord_welcome_decode(&w.welcome_bytes),
                1 + w.dst_offer.entries().len() + w.agreed.entries().len() + n
            );
            // C round trip.
            let mut buf = [0u8; 4096];
            let mut hb = QsHello::default();
            assert_eq!(w.c_hello_round(&mut buf, &mut hb), want);
            let mut wb = QsWelcome::default();
            assert_eq!(
                w.c_welcome_round(&mut buf, &mut wb),
                Codec::accord_welcome_decode(&w.welcome_bytes)
            );
            let len = cbase::hello_encode(&w.c_hello, &mut buf).unwrap();
            let mut back = QsHello::default();
            assert_eq!(cbase::hello_decode(&buf[..len], &mut back), Some(len));
            assert_eq!(back.ndevices as usize, n);
            for (b, d) in back.devices.iter().zip(&w.devices) {
                assert_eq!(b.name(), d.name.as_bytes());
                assert_eq!(b.name[usize::from(b.name_len)], 0);
            }
            assert_eq!(back.caps[..5], w.c_hello.caps[..5]);
            let len = cbase::welcome_encode(&w.c_welcome, &mut buf).unwrap();
            let mut wb = QsWelcome::default();
            assert_eq!(cbase::welcome_decode(&buf[..len], &mut wb), Some(len));
            assert_eq!(wb, *w.c_welcome);
            // The C decoder refuses what accord refuses: truncation, trailing
            // bytes, a bad boolean, an out-of-order capability.
            let len = cbase::hello_encode(&w.c_hello, &mut buf).unwrap();
            assert_eq!(cbase::hello_decode(&buf[..len - 1], &mut back), None);
            let mut bad = buf;
            bad[4] += 1; // payload length one more than present
            assert_eq!(cbase::hello_decode(&bad[..len + 1], &mut back), None);
            let mut bad = buf;
            bad[5 + 1 + 2] = 2; // first capability's "required" byte
            assert_eq!(cbase::hello_decode(&bad[..len], &mut back), None);
            let mut bad = buf;
            bad[5 + 1 + 1] = 9; // first id 0x0009, above the second (0x0002)
            assert_eq!(cbase::hello_decode(&bad[..len], &mut back), None);
            // JSON round trip.
            let j = serde_json::to_vec(&w.json_hello()).unwrap();
            let back: HelloJson<'_> = serde_json::from_slice(&j).unwrap();
            assert_eq!(back, w.json_hello());
            let j = serde_json::to_vec(&w.json_welcome()).unwrap();
            let back: WelcomeJson = serde_json::from_slice(&j).unwrap();
            assert_eq!(back, w.json_welcome());
        }
    }

    /// The C layout is QEMU's style: command header, big-endian fields,
    /// u8-length-prefixed idstr.
    #[test]
    fn c_layout_is_qemu_style() {
        let w = Codec::new(1);
        let mut buf = [0u8; 256];
        let len = cbase::hello_encode(&w.c_hello, &mut buf).unwrap();
        assert_eq!(buf[0], 0x08);
        assert_eq!(&buf[1..3], &[0x01, 0x00]);
        assert_eq!(usize::from(u16::from_be_bytes([buf[3], buf[4]])), len - 5);
        assert_eq!(buf[5], 5); // five offers
        assert_eq!(&buf[6..11], &[0x00, 0x01, 0x01, 0x00, 0x00]); // return-path, required
        assert_eq!(&buf[11..16], &[0x00, 0x02, 0x01, 0x00, 0x10]); // multifd 16
        let devs = 6 + 5 * 5;
        assert_eq!(&buf[devs..devs + 4], &[0, 0, 0, 1]); // be32 device count
        assert_eq!(buf[devs + 4], 24); // idstr length
        assert_eq!(&buf[devs + 5..devs + 29], b"0000:00:1f.2/vfio-pci-00");
        assert_eq!(&buf[devs + 29..devs + 34], &[0, 0, 0, 0, 1]); // instance, wants_ack
        assert_eq!(len, devs + 34);
    }
}

/// Legacy QEMU channel identification: a QEMU 10.1+ destination with 16
/// multifd channels and postcopy-preempt sees the main channel (`QEVM`
/// header) and a multifd channel (its 64-byte `MultiFDInit_t`).
pub struct LegacyIds {
    /// accord's classifier before any connection (it is `Copy`).
    pub classifier: accord_core::legacy::Classifier,
    /// The first bytes of the main channel: QEVM, version 3.
    pub main: [u8; 8],
    /// The first bytes of multifd channel 5.
    pub multifd: [u8; 64],
    /// The VM's uuid.
    pub uuid: [u8; 16],
}

impl LegacyIds {
    /// The workload.
    pub fn new() -> Self {
        use accord_core::legacy::{Classifier, Family, LegacyConfig, MultifdInit, StreamHeader};
        let uuid = *b"uuid-of-the-vm-1";
        let mut cfg = LegacyConfig::new(Family::Qemu10_1Plus);
        cfg.multifd_channels = MULTIFD as u8;
        cfg.postcopy_ram = true;
        cfg.postcopy_preempt = true;
        cfg.uuid = Some(uuid);
        let classifier = Classifier::new(cfg).expect("QEMU accepts this configuration");
        let mut main = [0u8; 8];
        StreamHeader.encode(&mut main).expect("8 bytes");
        let mut multifd = [0u8; 64];
        MultifdInit { uuid, id: 5 }
            .encode(&mut multifd)
            .expect("64 bytes");
        LegacyIds {
            classifier,
            main,
            multifd,
            uuid,
        }
    }

    /// accord: a fresh classifier identifies the main channel, then
    /// multifd channel 5. Returns the multifd id.
    #[inline]
    pub fn accord(&self) -> u8 {
        use accord_core::legacy::Decision;
        let mut c = self.classifier;
        let main = c.classify(core::hint::black_box(&self.main));
        let mf = c.classify(core::hint::black_box(&self.multifd));
        match (main, mf) {
            (Ok(Decision::Main), Ok(Decision::Multifd { id })) => id,
            other => panic!("unexpected {other:?}"),
        }
    }

    /// C: the same two identifications, QEMU's way.
    #[inline]
    pub fn c(&self) -> u8 {
        use crate::cbase::{legacy_classify, Legacy, QsLegacyState};
        let mut st = QsLegacyState::default();
        let ch = MULTIFD as u8;
        let main = legacy_classify(&mut st, core::hint::black_box(&self.main), &self.uuid, ch);
        let mf = legacy_classify(
            &mut st,
            core::hint::black_box(&self.multifd),
            &self.uuid,
            ch,
        );
        match (main, mf) {
            (Some(Legacy::Main), Some(Legacy::Multifd(id))) => id,
            other => panic!("unexpected {other:?}"),
        }
    }
}

impl Default for LegacyIds {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod legacy_tests {
    use super::*;
    use crate::cbase::{legacy_classify, QsLegacyState};

    /// The C baseline refuses what accord's classifier refuses.
    #[test]
    fn legacy_classifiers_agree() {
        let l = LegacyIds::new();
        assert_eq!(l.accord(), 5);
        assert_eq!(l.c(), 5);
        let ch = MULTIFD as u8;
        let mut bad = l.multifd;
        for (at, v) in [(0, 0x12), (7, 2), (8, b'x'), (24, 16)] {
            bad[at] = v;
            let mut st = QsLegacyState::default();
            assert_eq!(
                legacy_classify(&mut st, &bad, &l.uuid, ch),
                None,
                "byte {at}"
            );
            let mut c = l.classifier;
            assert!(c.classify(&bad).is_err(), "byte {at}");
            bad = l.multifd;
        }
        // Twice the same channel, or a second main: refused by both.
        let mut st = QsLegacyState::default();
        let mut c = l.classifier;
        for b in [&l.main[..], &l.multifd[..]] {
            assert!(legacy_classify(&mut st, b, &l.uuid, ch).is_some());
            assert!(c.classify(b).is_ok());
            assert_eq!(legacy_classify(&mut st, b, &l.uuid, ch), None);
            assert!(c.classify(b).is_err());
        }
    }
}
