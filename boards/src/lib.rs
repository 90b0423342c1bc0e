//! Two boards, one role each, over one UART (docs/PROTOCOL.md §12).
//!
//! - `src/bin/source.rs`: the Source on a Cortex-M0, the nRF51822 of QEMU's
//!   `-M microbit` (UART0, TIMER0).
//! - `src/bin/destination.rs`: the Destination on a Cortex-M4, QEMU's
//!   `-M mps2-an386` (CMSDK UART0, CMSDK TIMER0).
//!
//! Each image links one role only. accord's main channel runs over
//! accord-link on the UART; defmt frames (timestamped with the board's
//! clock in ms) go to the host's stderr by semihosting, and the verdict to
//! its stdout (`VERDICT=ok` or `VERDICT=fail <code> <detail>`), then the
//! board exits through semihosting with status 0 (switched over) or 1.
#![no_std]

#[path = "../../firmware/src/host.rs"]
pub mod host;
#[path = "../../firmware/src/logger.rs"]
mod logger;
mod mmio;
pub mod mps2;
pub mod nrf51;
pub mod port;
pub mod role;
#[path = "../../firmware/src/stack.rs"]
#[allow(dead_code)]
pub mod stack;

use core::sync::atomic::{AtomicU32, Ordering};

use cortex_m_rt::{exception, ExceptionFrame};

/// The board's time in ms, as last read by the main loop: defmt's timestamp.
static NOW_MS: AtomicU32 = AtomicU32::new(0);

defmt::timestamp!("{=u32:ms}", NOW_MS.load(Ordering::Relaxed));

/// Record the time for log timestamps.
pub fn set_now(ms: u64) {
    NOW_MS.store(ms as u32, Ordering::Relaxed);
}

pub use host::exit;

// cortex-m-rt requires these handlers to be `unsafe fn`; their bodies are
// safe. A fault ends the run with a verdict of its own instead of a hang.
#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    host::text("VERDICT=fault hard fault\n");
    exit(false)
}

#[exception]
unsafe fn DefaultHandler(_irqn: i16) {
    host::text("VERDICT=fault unexpected exception\n");
    exit(false)
}

/// The no-panic proof, as in firmware/: the image links only if no call to
/// this handler survived optimisation.
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    extern "C" {
        fn accord_panic_path_survived_optimisation() -> !;
    }
    // SAFETY: never executed. The symbol is deliberately undefined: a
    // successful link proves no call to this handler remains in the image.
    unsafe { accord_panic_path_survived_optimisation() }
}

/// A counter kept across warm resets in `.uninit` (cortex-m-rt leaves it
/// alone at reset, and QEMU's `system_reset` keeps RAM), mixed with timer
/// jitter: this boot's link boot id (docs/PROTOCOL.md §12.2).
pub fn boot_id(jitter: u32) -> u32 {
    const MAGIC: u32 = 0xB007_1D5A;
    #[link_section = ".uninit.accord_boots"]
    static mut BOOTS: [u32; 2] = [0; 2];
    let p: *mut [u32; 2] = &raw mut BOOTS;
    // SAFETY: called once, from main, before any other code touches BOOTS
    // (nothing else does); single core, no interrupt handler reads it. The
    // pointer comes from a static, so it is valid and aligned; the words
    // may hold any bit pattern, which is a valid u32.
    let n = unsafe {
        let w = core::ptr::read_volatile(p);
        let n = if w[0] == MAGIC {
            w[1].wrapping_add(1)
        } else {
            1
        };
        core::ptr::write_volatile(p, [MAGIC, n]);
        n
    };
    (n << 16) ^ (jitter & 0xFFFF)
}

/// The arguments QEMU passes by `-semihosting-config ...,arg=A,arg=B`
/// (SYS_GET_CMDLINE), into `buf`; empty if the host has none.
pub fn cmdline(buf: &mut [u8; 96]) -> &[u8] {
    let mut block: [usize; 2] = [buf.as_mut_ptr() as usize, buf.len()];
    // SAFETY: SYS_GET_CMDLINE writes at most `block[1]` bytes to the buffer
    // `block[0]` points to (ours, alive for the call) and the length it
    // wrote into `block[1]`; both are exclusively borrowed here.
    let r = unsafe {
        cortex_m_semihosting::syscall1(
            cortex_m_semihosting::nr::GET_CMDLINE,
            &raw mut block as usize,
        )
    };
    let len = core::hint::black_box(block)[1];
    if r != 0 {
        return &[];
    }
    buf.get(..len).unwrap_or(&[])
}
