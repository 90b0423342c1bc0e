//! The two roles' main loops, over one [`Port`].

use accord_core::wire::preamble;
use accord_core::{
    CapabilityId, Destination, DestinationConfig, DestinationState, Detail, DeviceId, Duration,
    Error, Event, Instant, Level, Result, Source, SourceConfig, SourceState,
};
use accord_link::Event as LinkEvent;

use crate::port::{Clock, Port, Serial};
use crate::{host, set_now, stack};

/// The three devices both boards know; each wants switchover-ack. The
/// destination approves each when its "initial data" has loaded: this many
/// ms after Welcome.
pub const DEVICES: [(&str, u64); 3] = [("vfio-nic", 200), ("vfio-gpu", 700), ("vfio-nvme", 400)];

/// What the source asks for.
#[derive(Copy, Clone, PartialEq, Eq, defmt::Format)]
pub enum Scenario {
    /// return-path, switchover-ack required; postcopy-ram optional.
    Migrate,
    /// As `Migrate`, but postcopy-ram required: this destination board has
    /// no postcopy, so it refuses.
    Mismatch,
}

impl Scenario {
    /// From the semihosting command line: `mismatch` anywhere in it.
    pub fn from_cmdline(args: &[u8]) -> Scenario {
        if args.windows(8).any(|w| w == b"mismatch") {
            Scenario::Mismatch
        } else {
            Scenario::Migrate
        }
    }
}

/// After its verdict a board serves the link until its last frame is
/// acknowledged and the line has been quiet this long ...
const QUIET_MS: u64 = 300;
/// ... or at most this long.
const LINGER_MS: u64 = 8_000;
/// The state machines' transmit buffer (the largest Hello of these
/// capacities, 353 bytes, fits).
const SCRATCH: usize = 384;

/// What the main loop needs of either state machine.
trait Machine {
    fn input(&mut self, now: Instant, data: &[u8]) -> Result<usize>;
    fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> Result<usize>;
    fn event(&mut self) -> Option<Event>;
    fn timeout(&self) -> Option<Instant>;
    fn on_timeout(&mut self, now: Instant);
    fn error(&self) -> Option<&Error>;
    fn done(&self) -> bool;
}

/// Both machines have the same sans-IO surface; only the terminal states
/// differ in name.
macro_rules! machine {
    ($ty:ident, $state:ident) => {
        impl Machine for $ty {
            fn input(&mut self, now: Instant, data: &[u8]) -> Result<usize> {
                self.handle_input(now, data)
            }
            fn transmit(&mut self, now: Instant, buf: &mut [u8]) -> Result<usize> {
                self.poll_transmit(now, buf)
            }
            fn event(&mut self) -> Option<Event> {
                self.poll_event()
            }
            fn timeout(&self) -> Option<Instant> {
                self.poll_timeout()
            }
            fn on_timeout(&mut self, now: Instant) {
                self.handle_timeout(now);
            }
            fn error(&self) -> Option<&Error> {
                $ty::error(self)
            }
            fn done(&self) -> bool {
                matches!(self.state(), $state::SwitchedOver | $state::Failed)
            }
        }
    };
}

machine!(Source, SourceState);
machine!(Destination, DestinationState);

/// One turn of the loop both roles share: UART, link events, input,
/// deadlines, events, output. Returns the link's restart event, if any.
fn turn<S: Serial, M: Machine>(
    role: &str,
    port: &mut Port<S>,
    m: &mut M,
    now: u64,
    scratch: &mut [u8; SCRATCH],
) -> bool {
    let t = Instant(now);
    port.service(now);
    let mut restarted = false;
    while let Some(e) = port.link.poll_event() {
        match e {
            LinkEvent::Opened => defmt::info!("{=str}: link open", role),
            LinkEvent::PeerRestarted => {
                defmt::warn!("{=str}: link: the peer restarted", role);
                restarted = true;
            }
        }
    }
    loop {
        let data = port.link.received();
        if data.is_empty() {
            break;
        }
        let len = data.len();
        match m.input(t, data) {
            Ok(0) => break,
            Ok(n) => port.link.consume(n),
            Err(_) => {
                // Failed (or already failed): nothing more to read.
                port.link.consume(len);
                break;
            }
        }
    }
    if m.timeout().is_some_and(|d| d <= t) {
        m.on_timeout(t);
    }
    while let Some(e) = m.event() {
        defmt::info!("{=str}: {}", role, e);
    }
    if port.link.tx_free() >= SCRATCH {
        if let Ok(n) = m.transmit(t, scratch) {
            let out = scratch.get(..n).unwrap_or(&[]);
            if n > 0 {
                port.link.write(out);
            }
        }
    }
    restarted
}

/// Print the verdict line and log it.
fn verdict(role: &str, err: Option<&Error>) {
    match err {
        None => {
            defmt::info!("{=str}: VERDICT ok: switched over", role);
            host::text("VERDICT=ok\n");
        }
        Some(e) => {
            defmt::error!("{=str}: VERDICT {}", role, e);
            host::text("VERDICT=fail ");
            host::number(usize::from(e.code.as_u16()));
            match &e.detail {
                Detail::Capability(c) => {
                    host::text(" capability ");
                    host::number(usize::from(c.0));
                }
                Detail::Device(d) => {
                    host::text(" device ");
                    host::text(d.name.as_str());
                }
                Detail::Frame(f) => {
                    host::text(" frame ");
                    host::number(usize::from(*f));
                }
                Detail::Value { expected, got } => {
                    host::text(" value ");
                    host::number(*expected as usize);
                    host::text("/");
                    host::number(*got as usize);
                }
                _ => {}
            }
            host::text("\n");
        }
    }
}

/// After the verdict: keep the link served until quiet, then report and
/// exit.
fn finish<S: Serial, C: Clock, M: Machine>(
    role: &str,
    port: &mut Port<S>,
    clock: &mut C,
    m: &mut M,
    scratch: &mut [u8; SCRATCH],
) -> ! {
    let done_at = clock.now_ms();
    verdict(role, m.error());
    loop {
        let now = clock.now_ms();
        set_now(now);
        turn(role, port, m, now, scratch);
        let quiet = now.saturating_sub(port.last_rx.max(done_at)) >= QUIET_MS;
        if (port.idle() && quiet) || now.saturating_sub(done_at) >= LINGER_MS {
            break;
        }
    }
    let s = port.link.stats();
    defmt::info!(
        "{=str}: link: {=u32} good packets, {=u32} bad, {=u32} retransmitted, {=u32} duplicates",
        role,
        s.good,
        s.bad,
        s.retransmits,
        s.duplicates
    );
    host::line("LINK_GOOD", s.good as usize);
    host::line("LINK_BAD", s.bad as usize);
    host::line("LINK_RETRANSMITS", s.retransmits as usize);
    host::line("SIZE_MACHINE_BYTES", core::mem::size_of::<M>());
    host::line("SIZE_PORT_BYTES", core::mem::size_of::<Port<S>>());
    host::line("STACK_MAX_BYTES", stack::stack_high_water());
    host::line("STACK_SIZE_BYTES", stack::stack_size());
    crate::exit(m.error().is_none())
}

fn source_config(scenario: Scenario) -> SourceConfig {
    let mut cfg = SourceConfig::default();
    let postcopy = match scenario {
        Scenario::Migrate => Level::Optional,
        Scenario::Mismatch => Level::Required,
    };
    let _ = cfg
        .capabilities
        .set(CapabilityId::RETURN_PATH, Level::Required, 0);
    let _ = cfg
        .capabilities
        .set(CapabilityId::SWITCHOVER_ACK, Level::Required, 0);
    let _ = cfg
        .capabilities
        .set(CapabilityId::POSTCOPY_RAM, postcopy, 0);
    cfg.welcome_timeout = Duration::from_secs(5);
    cfg.ack_timeout = Duration::from_secs(4);
    cfg
}

/// The Source board: migrate its three devices to the board at the other
/// end of the UART, then exit with the verdict.
pub fn run_source<S: Serial, C: Clock>(
    mut port: Port<S>,
    mut clock: C,
    scenario: Scenario,
    nonce: [u8; 16],
) -> ! {
    let role = "source";
    let mut scratch = [0u8; SCRATCH];
    let start = clock.now_ms();
    set_now(start);
    defmt::info!(
        "source: nRF51 (Cortex-M0), scenario {}, boot id {=u32:#x}",
        scenario,
        port.link.boot_id()
    );
    let mut src = match Source::new(source_config(scenario), nonce) {
        Ok(s) => s,
        Err(e) => {
            verdict(role, Some(&e));
            crate::exit(false)
        }
    };
    for (name, _) in DEVICES {
        let _ = src.add_device(name, 0, true);
    }
    // Hello goes into the link at once; the link sends it when open. The
    // Welcome deadline runs from here, whatever the line does.
    let _ = src.start(Instant(start));
    // The main preamble, kept to announce an abort to a restarted peer.
    let mut main_preamble = [0u8; preamble::LEN];
    if let Ok(n) = src.poll_transmit(Instant(start), &mut scratch) {
        for (d, s) in main_preamble.iter_mut().zip(scratch.iter()) {
            *d = *s;
        }
        port.link.write(scratch.get(..n).unwrap_or(&[]));
        defmt::info!("source: Hello queued ({=usize} bytes with the preamble)", n);
    }
    loop {
        let now = clock.now_ms();
        set_now(now);
        if turn(role, &mut port, &mut src, now, &mut scratch) && !src.done() {
            // The destination restarted: this session is over. Tell the new
            // one, which needs a preamble before it reads anything.
            src.abort(Instant(now));
            port.link.write(&main_preamble);
            turn(role, &mut port, &mut src, now, &mut scratch);
        }
        if src.can_switchover() {
            defmt::info!(
                "source: switchover allowed after {=u64} ms: SwitchoverStart",
                now.saturating_sub(start)
            );
            let _ = src.start_switchover(Instant(now));
            turn(role, &mut port, &mut src, now, &mut scratch);
        }
        if src.done() {
            finish(role, &mut port, &mut clock, &mut src, &mut scratch)
        }
    }
}

fn destination_config() -> DestinationConfig {
    let mut cfg = DestinationConfig::default();
    // This board has no postcopy.
    cfg.capabilities.remove(CapabilityId::POSTCOPY_PREEMPT);
    cfg.capabilities.remove(CapabilityId::POSTCOPY_RAM);
    cfg.hello_timeout = Duration::from_secs(5);
    cfg.switchover_timeout = Duration::from_secs(12);
    cfg
}

/// The Destination board: receive the three devices, approve each when its
/// initial data has loaded (a timer), then exit with the verdict.
pub fn run_destination<S: Serial, C: Clock>(mut port: Port<S>, mut clock: C) -> ! {
    let role = "destination";
    let mut scratch = [0u8; SCRATCH];
    let start = clock.now_ms();
    set_now(start);
    defmt::info!(
        "destination: MPS2 AN386 (Cortex-M4), boot id {=u32:#x}",
        port.link.boot_id()
    );
    let mut dst = match Destination::new(destination_config(), Instant(start)) {
        Ok(d) => d,
        Err(e) => {
            verdict(role, Some(&e));
            crate::exit(false)
        }
    };
    let mut ids = [DeviceId(0); 3];
    for ((name, _), id) in DEVICES.iter().zip(ids.iter_mut()) {
        if let Ok(d) = dst.register_device(name, 0, true) {
            *id = d;
        }
    }
    let mut welcome_at: Option<u64> = None;
    let mut approved = [false; 3];
    loop {
        let now = clock.now_ms();
        set_now(now);
        if turn(role, &mut port, &mut dst, now, &mut scratch) && !dst.done() {
            dst.abort(Instant(now));
        }
        if welcome_at.is_none() && dst.state() == DestinationState::Precopy {
            welcome_at = Some(now);
            defmt::info!("destination: Welcome sent; devices loading initial data");
        }
        if let Some(w) = welcome_at {
            for (((name, after), id), done) in DEVICES.iter().zip(ids).zip(approved.iter_mut()) {
                if !*done && dst.state() == DestinationState::Precopy && now >= w + after {
                    *done = true;
                    defmt::info!("destination: {=str}: initial data loaded, approve", name);
                    let _ = dst.approve(Instant(now), id);
                }
            }
        }
        if dst.done() {
            finish(role, &mut port, &mut clock, &mut dst, &mut scratch)
        }
    }
}
