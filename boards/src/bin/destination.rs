//! The Destination board: an MPS2 AN386 (Cortex-M4) under `qemu-system-arm
//! -M mps2-an386`, its CMSDK UART0 joined to the Source board's UART. Links
//! the Destination role only.
#![no_std]
#![no_main]

use accord_boards::mps2::{Timer, Uart};
use accord_boards::port::Port;
use accord_boards::role::run_destination;
use accord_boards::{boot_id, host};
use cortex_m_rt::entry;

#[entry]
fn main() -> ! {
    let clock = Timer::new();
    let uart = Uart::new();
    // Timer jitter after a host call (the banner) varies between boots.
    host::text("destination board: accord-core ");
    host::text(accord_core::VERSION);
    host::text("\n");
    let boot = boot_id(clock.ticks32());
    run_destination(Port::new(uart, boot), clock)
}
