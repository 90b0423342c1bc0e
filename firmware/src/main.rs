//! accord on a microcontroller: a Cortex-M4 firmware, run under
//! `qemu-system-arm -M mps2-an386` with semihosting, that drives accord-core
//! and proves three things.
//!
//! 1. **No heap.** There is no global allocator and no `alloc` crate; the
//!    scripts also check the image for allocator symbols.
//! 2. **No panic path.** In release builds the panic handler calls a
//!    function that is defined nowhere. If any panic survives LLVM's dead
//!    code elimination (fat LTO, one codegen unit), the link fails with
//!    `undefined symbol: accord_panic_path_survived_optimisation`.
//! 3. **Bounded, measured stack.** The stack is painted at reset (cortex-m-rt
//!    `paint-stack`) and again before each call into accord-core, so every
//!    handshake step's own stack use is measured (src/stack.rs).
//!
//! The workload (src/workload.rs) is a complete handshake between a real
//! `Source` and a real `Destination`, plus a rejected one. Output on the
//! host's stdout, one `KEY=VALUE` line each: `SIZE_*=` (bytes of the state
//! types), `STACK_SETUP=`/`STACK_STEP=<call> BYTES=<n>`, `STACK_*_MAX_BYTES=`,
//! then `RESULT=ok` or `RESULT=fail <why>`. The exit status is 0 only on
//! success.
#![no_std]
#![no_main]
// The measurement builds leave parts of the test workload unused.
#![cfg_attr(any(feature = "baseline", feature = "lean"), allow(dead_code))]

#[cfg(feature = "defmt")]
mod format_check;
mod host;
#[cfg(all(feature = "lean", not(feature = "baseline")))]
mod lean;
#[cfg(feature = "defmt")]
mod logger;
#[cfg(not(feature = "baseline"))]
mod rig;
mod stack;
#[cfg(not(any(feature = "baseline", feature = "lean")))]
mod workload;

use core::mem::size_of;

// Linked for its `critical-section-single-core` implementation and the
// `interrupt::free` the output module uses.
use cortex_m as _;
use cortex_m_rt::{entry, exception, ExceptionFrame};

#[cfg(all(feature = "lean", not(feature = "baseline")))]
pub use lean::run_handshake;
pub use stack::stack_high_water;
#[cfg(not(any(feature = "baseline", feature = "lean")))]
pub use workload::run_handshake;

/// The `baseline` measurement build: the same firmware without accord-core's
/// workload, so the size report can subtract it.
#[cfg(feature = "baseline")]
pub fn run_handshake() -> Result<(), &'static str> {
    stack::step("baseline", || core::hint::black_box(0u32));
    Ok(())
}

#[entry]
fn main() -> ! {
    host::text("accord-firmware: accord-core ");
    host::text(accord_core::VERSION);
    host::text(" on Cortex-M\n");
    report_sizes();

    let result = run_handshake();

    let max = stack_high_water();
    host::line("STACK_SETUP_MAX_BYTES", stack::setup_max());
    host::line("STACK_STEP_MAX_BYTES", stack::step_max());
    host::line("STACK_MAX_BYTES", max);
    host::line("STACK_SIZE_BYTES", stack::stack_size());
    let result = match result {
        Ok(()) if stack::stack_exhausted() => Err("stack exhausted its region"),
        other => other,
    };
    match result {
        Ok(()) => {
            host::text("RESULT=ok\n");
            host::exit(true)
        }
        Err(why) => {
            host::text("RESULT=fail ");
            host::text(why);
            host::text("\n");
            host::exit(false)
        }
    }
}

/// `SIZE_<TYPE>=<bytes>` for the types a firmware keeps in RAM.
fn report_sizes() {
    host::line("SIZE_OFFER", size_of::<accord_core::Offer>());
    host::line("SIZE_AGREED", size_of::<accord_core::Agreed>());
    host::line("SIZE_ERROR", size_of::<accord_core::Error>());
    host::line("SIZE_EVENT", size_of::<accord_core::Event>());
    host::line("SIZE_PREAMBLE", size_of::<accord_core::Preamble>());
    host::line("SIZE_SOURCE", size_of::<accord_core::Source>());
    host::line("SIZE_DESTINATION", size_of::<accord_core::Destination>());
    #[cfg(not(feature = "baseline"))]
    {
        host::line("BUF_SRC_TX_BYTES", rig::SRC_TX_LEN);
        host::line("BUF_DST_TX_BYTES", rig::DST_TX_LEN);
        host::line("WORKLOAD_STATIC_BYTES", rig::STATIC_BYTES);
    }
}

// cortex-m-rt requires these two handlers to be `unsafe fn`; their bodies
// are safe code. A fault ends the run with a failure instead of the default
// endless loop, so a faulting firmware fails fast instead of timing out.
#[exception]
unsafe fn HardFault(_frame: &ExceptionFrame) -> ! {
    host::text("RESULT=fail hard fault\n");
    host::exit(false)
}

#[exception]
unsafe fn DefaultHandler(_irqn: i16) {
    host::text("RESULT=fail unexpected exception\n");
    host::exit(false)
}

/// Release builds: the no-panic proof (unless the measurement-only
/// `allow-panic` feature is on). This handler references a symbol
/// that exists nowhere, so the image links only if every call to it was
/// optimised away, that is, if no panic path survived.
#[cfg(not(any(debug_assertions, feature = "allow-panic")))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    extern "C" {
        fn accord_panic_path_survived_optimisation() -> !;
    }
    // SAFETY: never executed. The symbol is deliberately undefined: a
    // successful link proves no call to this handler remains in the image.
    unsafe { accord_panic_path_survived_optimisation() }
}

/// Debug builds keep their panics (overflow checks, debug assertions), so
/// they get a real handler that reports and fails the run; so do
/// `allow-panic` measurement builds.
#[cfg(any(debug_assertions, feature = "allow-panic"))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    host::text("RESULT=fail panic\n");
    host::exit(false)
}
